# Writes OUT: a C++ file defining the shell completions (completions/*) as string constants,
# so `aigw completions bash|zsh|fish` prints the files that ship with this build.
file(READ ${DIR}/aigw.bash BASH)
file(READ ${DIR}/_aigw ZSH)
file(READ ${DIR}/aigw.fish FISH)
file(WRITE ${OUT} "// Generated from completions/ by cli/embed_completions.cmake.\n"
  "#include <string_view>\n"
  "namespace aigw::cli {\n"
  "extern const std::string_view k_completion_bash = R\"aigw_completion(${BASH})aigw_completion\";\n"
  "extern const std::string_view k_completion_zsh = R\"aigw_completion(${ZSH})aigw_completion\";\n"
  "extern const std::string_view k_completion_fish = R\"aigw_completion(${FISH})aigw_completion\";\n"
  "}  // namespace aigw::cli\n")

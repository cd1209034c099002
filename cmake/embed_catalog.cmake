# Writes the catalog JSON into a C++ source as a raw string (split to stay under
# compilers' string-literal limits).
file(READ ${IN} _json)
string(LENGTH "${_json}" _len)
set(_out "// Generated from shared/config/catalog.json; do not edit.\n#include <string_view>\nnamespace aigw::config {\nextern const std::string_view k_builtin_catalog_json;\nstatic const char k_catalog_chars[] = \n")
set(_pos 0)
while(_pos LESS _len)
  string(SUBSTRING "${_json}" ${_pos} 8000 _piece)
  string(APPEND _out "R\"aigwcat(${_piece})aigwcat\"\n")
  math(EXPR _pos "${_pos} + 8000")
endwhile()
string(APPEND _out ";\nconst std::string_view k_builtin_catalog_json{k_catalog_chars, sizeof(k_catalog_chars) - 1};\n}\n")
file(WRITE ${OUT} "${_out}")

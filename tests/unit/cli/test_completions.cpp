// The shell completions must know every subcommand and long option the CLI defines.

#include "cli/app.hpp"

#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>

namespace {

std::string read_completion(const std::string& name)
{
    const auto root = std::filesystem::path(AIGW_FIXTURES_DIR).parent_path().parent_path();
    std::ifstream in(root / "completions" / name);
    REQUIRE_MESSAGE(in.good(), "missing completions/" << name);
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
}

struct Defined {
    std::vector<std::string> subcommands;   ///< "daemon start" -> "start"
    std::vector<std::string> long_options;  ///< without dashes
};

void collect(const CLI::App& app, Defined& out)
{
    for (const CLI::Option* opt : app.get_options()) {
        for (const auto& l : opt->get_lnames()) {
            if (l != "help") {
                out.long_options.push_back(l);
            }
        }
    }
    for (const CLI::App* sub : app.get_subcommands({})) {
        out.subcommands.push_back(sub->get_name());
        collect(*sub, out);
    }
}

bool has_word(const std::string& text, const std::string& word)
{
    const std::regex re("(^|[^A-Za-z0-9_-])" + word + "($|[^A-Za-z0-9_-])");
    return std::regex_search(text, re);
}

}  // namespace

TEST_CASE("every subcommand and long option appears in the bash, zsh and fish completions")
{
    CLI::App app;
    aigw::cli::Context ctx;
    aigw::cli::build_app(app, ctx);
    Defined defined;
    collect(app, defined);
    REQUIRE(defined.subcommands.size() >= 13);  // 6 groups + daemon's 4 + keys' 3
    REQUIRE(!defined.long_options.empty());

    for (const std::string file : {"aigw.bash", "_aigw", "aigw.fish"}) {
        const std::string text = read_completion(file);
        const bool fish = file == "aigw.fish";
        for (const auto& sub : defined.subcommands) {
            CHECK_MESSAGE(has_word(text, sub), file << " lacks subcommand " << sub);
        }
        for (const auto& opt : defined.long_options) {
            const std::string spelled = fish ? "-l " + opt : "--" + opt;
            CHECK_MESSAGE(text.find(spelled) != std::string::npos, file << " lacks option " << spelled);
        }
    }
}

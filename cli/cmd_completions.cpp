// aigw completions bash|zsh|fish: print the shell completion script.

#include "cli/app.hpp"

#include <iostream>

namespace aigw::cli {

// Defined in the generated completions_data.cpp (cli/embed_completions.cmake).
extern const std::string_view k_completion_bash;
extern const std::string_view k_completion_zsh;
extern const std::string_view k_completion_fish;

void add_completions_command(CLI::App& app, Context& ctx)
{
    auto shell = std::make_shared<std::string>();
    auto* cmd = app.add_subcommand("completions", "Print the completion script: aigw completions bash|zsh|fish");
    cmd->add_option("shell", *shell, "bash, zsh or fish")->required()->check(CLI::IsMember({"bash", "zsh", "fish"}));
    cmd->footer(
        "\nInstall:\n  bash: aigw completions bash > ~/.local/share/bash-completion/completions/aigw\n"
        "  zsh:  aigw completions zsh > ~/.zfunc/_aigw  (with fpath+=~/.zfunc before compinit)\n"
        "  fish: aigw completions fish > ~/.config/fish/completions/aigw.fish");
    cmd->callback([&ctx, shell] {
        ctx.config_optional = true;
        ctx.action = [shell] {
            const std::string_view text =
                *shell == "bash" ? k_completion_bash : (*shell == "zsh" ? k_completion_zsh : k_completion_fish);
            std::cout << text;
            return 0;
        };
    });
}

}  // namespace aigw::cli

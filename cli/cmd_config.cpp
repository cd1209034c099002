// aigw config path|show|check|edit: see the effective config, find every problem, fix it.

#include "cli/app.hpp"
#include "cli/config_view.hpp"
#include "cli/term.hpp"

#include <nlohmann/json.hpp>

#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <iostream>
#include <sstream>

namespace aigw::cli {

namespace {

namespace fs = std::filesystem;

struct ConfigOptions {
    bool json = false;
    bool csv = false;
};

std::string file_text(const fs::path& path)
{
    std::ifstream in(path);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

int run_path(Context& ctx)
{
    const auto& cfg = ctx.config();
    std::cout << cfg.config_path.string() << '\n';
    std::error_code ec;
    if (is_tty(2) && !fs::exists(cfg.config_path, ec)) {
        std::cerr << "(the file does not exist yet; 'aigw config edit' creates it)\n";
    }
    return 0;
}

int run_show(Context& ctx, const ConfigOptions& o)
{
    const auto& cfg = ctx.config();
    const auto values = effective_config(cfg, file_text(cfg.config_path), ctx.env, !ctx.data_dir_option.empty());
    if (o.json) {
        nlohmann::json out = {{"config_path", cfg.config_path.string()},
                              {"errors", ctx.config_errors()},
                              {"warnings", cfg.warnings},
                              {"values", nlohmann::json::array()}};
        for (const auto& v : values) {
            out["values"].push_back({{"key", v.key}, {"value", v.value}, {"source", v.source}});
        }
        std::cout << out.dump(2) << '\n';
        return 0;
    }
    const bool colour = colour_enabled(1) && !o.csv;
    Table t({"KEY", "VALUE", "SOURCE"});
    for (const auto& v : values) {
        t.add_row({v.key, v.value, v.source == "default" ? paint(v.source, Colour::dim, colour) : v.source});
    }
    if (o.csv) {
        t.print_csv(std::cout);
    } else {
        std::cout << "# " << cfg.config_path.string() << '\n';
        t.print(std::cout, colour);
    }
    for (const auto& e : ctx.config_errors()) {
        std::cerr << "aigw: error: " << e << '\n';
    }
    for (const auto& w : cfg.warnings) {
        std::cerr << "aigw: warning: " << w << '\n';
    }
    return 0;
}

/// Prints every problem; returns 1 when the daemon could not load the file.
int report_check(Context& ctx, const ConfigOptions& o)
{
    const auto& cfg = ctx.config();
    // What aigwd refuses at start beyond the file's own errors: listening beyond loopback
    // without TLS and required virtual keys.
    std::vector<std::string> errors = ctx.config_errors();
    if (auto refusal = config::listen_refusal(cfg); refusal && errors.empty()) {
        errors.push_back(std::move(*refusal));
    }
    if (o.json) {
        nlohmann::json out = {{"config_path", cfg.config_path.string()},
                              {"ok", errors.empty()},
                              {"errors", errors},
                              {"warnings", cfg.warnings}};
        std::cout << out.dump(2) << '\n';
        return errors.empty() ? 0 : k_exit_error;
    }
    const bool colour = colour_enabled(1);
    for (const auto& e : errors) {
        std::cout << paint("error: ", Colour::red, colour) << e << '\n';
    }
    for (const auto& w : cfg.warnings) {
        std::cout << paint("warning: ", Colour::yellow, colour) << w << '\n';
    }
    std::error_code ec;
    if (!fs::exists(cfg.config_path, ec)) {
        std::cout << cfg.config_path.string() << ": no file; the defaults apply\n";
        return 0;
    }
    if (!errors.empty()) {
        std::cout << cfg.config_path.string() << ": " << errors.size() << (errors.size() == 1 ? " error" : " errors")
                  << "; aigwd will not start with it. Fix it with 'aigw config edit'\n";
        return k_exit_error;
    }
    std::cout << cfg.config_path.string() << ": OK";
    if (!cfg.warnings.empty()) {
        std::cout << " (" << cfg.warnings.size() << (cfg.warnings.size() == 1 ? " warning" : " warnings") << ")";
    }
    std::cout << '\n';
    return 0;
}

constexpr std::string_view k_template =
    R"(# aigw configuration. Every key is optional; 'aigw config show' lists them with their defaults.
#
# [server]
# port = 4141
#
# [aliases]
# fast = "groq/llama-3.3-70b-versatile"
#
# [routing]
# retries = 2
)";

/// Runs $VISUAL, else $EDITOR, else vi on `path` through the shell (editors may have arguments).
int run_editor(const config::Env& env, const fs::path& path)
{
    std::string editor = "vi";
    for (const char* name : {"VISUAL", "EDITOR"}) {
        if (auto v = env(name); v && !v->empty()) {
            editor = *v;
            break;
        }
    }
    const pid_t pid = fork();
    if (pid < 0) {
        return -1;
    }
    if (pid == 0) {
        const std::string cmd = editor + " \"$1\"";
        execl("/bin/sh", "sh", "-c", cmd.c_str(), "sh", path.c_str(), static_cast<char*>(nullptr));
        _exit(127);
    }
    int status = 0;
    while (waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR) {
            return -1;
        }
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

int run_edit(Context& ctx, const ConfigOptions& o)
{
    const fs::path path = ctx.config().config_path;
    std::error_code ec;
    if (!fs::exists(path, ec)) {
        fs::create_directories(path.parent_path(), ec);
        std::ofstream(path) << k_template;
        ::chmod(path.c_str(), 0600);
    }
    const int rc = run_editor(ctx.env, path);
    if (rc != 0) {
        return fail("the editor exited with " + std::to_string(rc) + "; set $EDITOR to the editor you use");
    }
    Context fresh;
    fresh.env = ctx.env;
    fresh.data_dir_option = ctx.data_dir_option;
    fresh.config_optional = true;
    const int checked = report_check(fresh, o);
    if (checked == 0 && is_tty(2)) {
        std::cerr << "apply it to a running aigwd with 'aigw daemon reload'\n";
    }
    return checked;
}

}  // namespace

void add_config_command(CLI::App& app, Context& ctx)
{
    auto o = std::make_shared<ConfigOptions>();
    auto* cmd = app.add_subcommand("config", "See, check and edit the config file");
    cmd->require_subcommand(1);
    auto optional = [&ctx](std::function<int()> action) {
        return [&ctx, action = std::move(action)] {
            ctx.config_optional = true;
            ctx.action = action;
        };
    };
    cmd->add_subcommand("path", "Print where the config file is")->callback(optional([&ctx] { return run_path(ctx); }));
    auto* show = cmd->add_subcommand("show", "The effective config: defaults, file and env, secrets masked");
    auto* show_json = show->add_flag("--json", o->json, "Print JSON");
    show->add_flag("--csv", o->csv, "Print CSV (key,value,source)")->excludes(show_json);
    show->callback(optional([&ctx, o] { return run_show(ctx, *o); }));
    auto* check = cmd->add_subcommand("check", "Report every problem of the config file (exit 1 on errors)");
    check->add_flag("--json", o->json, "Print JSON");
    check->callback(optional([&ctx, o] { return report_check(ctx, *o); }));
    auto* edit = cmd->add_subcommand("edit", "Open the config file in $EDITOR, then check it");
    edit->callback(optional([&ctx, o] { return run_edit(ctx, *o); }));
}

}  // namespace aigw::cli

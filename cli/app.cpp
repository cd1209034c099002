#include "cli/app.hpp"

#include "cli/suggest.hpp"

#include <csignal>
#include <cstdio>
#include <iostream>
#include <regex>

namespace aigw::cli {

const std::vector<std::string>& Context::config_errors()
{
    if (!m_check) {
        m_check = config::check_config(env, data_dir_option);
    }
    return m_check->errors;
}

const config::Config& Context::config()
{
    const auto& errors = config_errors();
    if (!errors.empty() && !config_optional) {
        std::string msg = "the config file " + m_check->config.config_path.string() + " cannot be loaded:";
        for (const auto& e : errors) {
            msg += "\n  " + e;
        }
        msg += "\n  run 'aigw config check' to see every problem and 'aigw config edit' to fix it";
        throw std::runtime_error(msg);
    }
    return m_check->config;
}

std::filesystem::path Context::data_dir()
{
    if (!data_dir_option.empty()) {
        return data_dir_option;
    }
    return config().data_dir;
}

client::ConnectOptions Context::connect_options()
{
    client::ConnectOptions o;
    o.data_dir = data_dir();
    o.allow_spawn = !no_spawn;
    o.port = config().port;
    o.env = env;
    return o;
}

std::expected<client::DaemonClient*, client::ClientError> Context::client()
{
    if (!m_client) {
        auto c = client::connect(connect_options());
        if (!c) {
            return std::unexpected(c.error());
        }
        m_client.emplace(std::move(*c));
    }
    return &*m_client;
}

int fail(std::string_view message)
{
    std::cerr << "aigw: " << message << '\n';
    return k_exit_error;
}

int fail(const client::ClientError& e)
{
    return fail(client::describe(e));
}

namespace {

int print_version(Context& ctx)
{
    ctx.config_optional = true;
    std::cout << "aigw " << client::client_version() << '\n';
    client::ConnectOptions o = ctx.connect_options();
    o.allow_spawn = false;
    auto found = client::locate_daemon(o);
    if (!found) {
        std::cout << "aigwd not running\n";
        return 0;
    }
    std::cout << "aigwd " << found->health.version << " (pid " << found->health.pid << ", " << found->endpoint.url
              << ")\n";
    if (found->health.version != client::client_version()) {
        std::cerr << "aigw: warning: the daemon (" << found->health.version << ") and the CLI ("
                  << client::client_version() << ") differ; restart the daemon with 'aigw daemon restart'\n";
    }
    return 0;
}

std::vector<std::string> subcommand_names(const CLI::App& app)
{
    std::vector<std::string> names;
    for (const auto* sub : app.get_subcommands([](const CLI::App*) { return true; })) {
        names.push_back(sub->get_name());
    }
    return names;
}

/// "aigw daemon stop" for the daemon stop subcommand.
std::string command_path(const CLI::App* app)
{
    std::string path;
    for (; app != nullptr; app = app->get_parent()) {
        path = path.empty() ? app->get_name() : app->get_name() + " " + path;
    }
    return path;
}

/// Long and short names of the options `app` accepts, its parents' included (fallthrough).
std::vector<std::string> option_names(const CLI::App* app)
{
    std::vector<std::string> names;
    for (; app != nullptr; app = app->get_parent()) {
        for (const auto* opt : app->get_options()) {
            for (const auto& l : opt->get_lnames()) {
                names.push_back("--" + l);
            }
            for (const auto& s : opt->get_snames()) {
                names.push_back("-" + s);
            }
        }
    }
    return names;
}

std::string with_suggestion(std::string msg, std::string_view typed, const std::vector<std::string>& candidates)
{
    if (auto s = suggest(typed, candidates)) {
        msg += "; did you mean '" + *s + "'?";
    }
    return msg;
}

/// Prints usage trouble in aigw's voice; returns k_exit_usage.
int usage_error(const std::string& msg, const std::string& help_for)
{
    const std::string help = help_for.empty() ? "aigw help" : "aigw help " + help_for;
    std::cerr << (msg.starts_with("aigw") ? "" : "aigw: ") << msg << "\n  see '" << help << "'\n";
    return k_exit_usage;
}

/// `aigw help [COMMAND...]`: the help of that command, or of aigw.
int run_help(CLI::App& root, const std::vector<std::string>& words)
{
    CLI::App* app = &root;
    for (const auto& w : words) {
        CLI::App* sub = nullptr;
        try {
            sub = app->get_subcommand(w);
        } catch (const CLI::OptionNotFound&) {
            sub = nullptr;
        }
        if (sub == nullptr) {
            const std::string where = app == &root ? "" : " for '" + command_path(app) + "'";
            return usage_error(with_suggestion("unknown command '" + w + "'" + where, w, subcommand_names(*app)), "");
        }
        app = sub;
    }
    std::cout << app->help();
    return 0;
}

}  // namespace

int report_parse_error(CLI::App& app, const CLI::ParseError& e)
{
    if (dynamic_cast<const CLI::CallForHelp*>(&e) != nullptr ||
        dynamic_cast<const CLI::CallForAllHelp*>(&e) != nullptr ||
        dynamic_cast<const CLI::CallForVersion*>(&e) != nullptr || e.get_exit_code() == 0) {
        return app.exit(e);
    }
    CLI::App* deepest = &app;
    for (auto subs = deepest->get_subcommands(); !subs.empty(); subs = deepest->get_subcommands()) {
        deepest = subs.front();
    }
    const std::string path = command_path(deepest);
    const std::string help_for = deepest == &app ? "" : path.substr(app.get_name().size() + 1);
    auto rest = deepest->remaining();
    if (rest.empty()) {
        rest = app.remaining();
    }
    const std::string word = rest.empty() ? "" : rest.front();
    const bool has_subcommands = !deepest->get_subcommands([](const CLI::App*) { return true; }).empty();
    // A word nobody took explains the failure better than what CLI11 noticed next (a
    // required subcommand, say).
    if (!word.empty()) {
        if (word.starts_with("-")) {
            const std::string name = word.substr(0, word.find('='));
            return usage_error(
                with_suggestion("unknown option '" + name + "' for '" + path + "'", name, option_names(deepest)),
                help_for);
        }
        if (has_subcommands) {
            const std::string where = deepest == &app ? "" : " for '" + path + "'";
            return usage_error(
                with_suggestion("unknown command '" + word + "'" + where, word, subcommand_names(*deepest)), help_for);
        }
        return usage_error("unexpected argument '" + word + "' for '" + path + "'", help_for);
    }
    if (has_subcommands && dynamic_cast<const CLI::RequiredError*>(&e) != nullptr) {
        std::string names;
        for (const auto& n : subcommand_names(*deepest)) {
            names += (names.empty() ? "" : ", ") + n;
        }
        return usage_error("'" + path + "' needs a command: " + names, help_for);
    }
    std::string what = e.what();
    if (dynamic_cast<const CLI::RequiredError*>(&e) != nullptr && what.ends_with(" is required")) {
        what = "missing " + what.substr(0, what.size() - std::string_view(" is required").size());
    }
    // CLI11's range text for a positive number ("not in range 0.000000 to 1797...") helps nobody.
    static const std::regex k_positive(R"(Value (.*) not in range 0\.0+ to [0-9.]{30,})");
    what = std::regex_replace(what, k_positive, "'$1' is not a positive number");
    return usage_error(path + ": " + what, help_for);
}

void build_app(CLI::App& app, Context& ctx)
{
    app.description("aigw: one key, every model. Talks to the local aigwd gateway daemon.");
    app.name("aigw");
    // Global flags (--no-spawn, --data-dir) are accepted after the subcommand too.
    app.fallthrough(true);
    app.add_option("--data-dir", ctx.data_dir_option, "Data dir of the daemon (default: $XDG_DATA_HOME/aigw)");
    app.add_flag("--no-spawn", ctx.no_spawn, "Do not start aigwd when it is not running");
    app.add_flag("-V,--version", ctx.version, "Print the CLI and daemon versions");
    app.require_subcommand(0, 1);
    add_run_command(app, ctx);
    add_chat_command(app, ctx);
    add_models_command(app, ctx);
    add_cost_command(app, ctx);
    add_daemon_command(app, ctx);
    add_keys_command(app, ctx);
    add_bench_command(app, ctx);
    add_eval_command(app, ctx);
    add_logs_command(app, ctx);
    add_cache_command(app, ctx);
    add_ledger_command(app, ctx);
    add_config_command(app, ctx);
    add_completions_command(app, ctx);
    add_agent_commands(app, ctx);

    auto* help = app.add_subcommand("help", "Show the help of aigw or of a command: aigw help [COMMAND...]");
    auto words = std::make_shared<std::vector<std::string>>();
    help->add_option("command", *words, "The command, e.g. 'daemon stop'");
    help->callback([&app, &ctx, words] {
        ctx.config_optional = true;
        ctx.action = [&app, words] { return run_help(app, *words); };
    });
}

int cli_main(int argc, char** argv)
{
    std::signal(SIGPIPE, SIG_IGN);
    CLI::App app;
    Context ctx;
    build_app(app, ctx);
    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        return report_parse_error(app, e);
    }
    try {
        if (ctx.version) {
            return print_version(ctx);
        }
        if (!ctx.action) {
            std::cerr << app.help();
            return k_exit_usage;
        }
        return ctx.action();
    } catch (const std::exception& ex) {
        return fail(ex.what());
    }
}

}  // namespace aigw::cli

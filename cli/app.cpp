#include "cli/app.hpp"

#include "cli/suggest.hpp"
#include "cli/term.hpp"

#include <algorithm>
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
        client::ConnectOptions o = connect_options();
        if (is_tty(2)) {
            o.on_spawn = [&o] {
                std::cerr << paint("aigw: starting aigwd (port " + std::to_string(o.port) + ", data dir " +
                                       o.data_dir.string() +
                                       "); it keeps running in the background until 'aigw daemon stop'",
                                   Colour::dim, colour_enabled(2))
                          << '\n';
            };
        }
        auto c = client::connect(o);
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
    // Not app->help(): that prints the help of the subcommand parsed last, which for a bare
    // 'aigw help' is 'help' itself.
    std::cout << app->get_formatter()->make_help(app, command_path(app), CLI::AppFormatMode::Normal);
    return 0;
}

/// How the user spelled `opt` on the command line ("-m" or "--model"); its name when absent.
std::string typed_name(const CLI::Option& opt, const std::vector<std::string>& args)
{
    for (auto it = args.rbegin(); it != args.rend(); ++it) {
        const std::string& a = *it;
        for (const auto& l : opt.get_lnames()) {
            if (a == "--" + l || a.starts_with("--" + l + "=")) {
                return "--" + l;
            }
        }
        for (const auto& sn : opt.get_snames()) {
            if (a.size() >= 2 && a[0] == '-' && a[1] != '-' && a.substr(1, sn.size()) == sn) {
                return "-" + sn;
            }
        }
    }
    if (!opt.get_lnames().empty()) {
        return "--" + opt.get_lnames().front();
    }
    if (!opt.get_snames().empty()) {
        return "-" + opt.get_snames().front();
    }
    return opt.get_name();
}

/// The option of `app` (or a parent) whose name starts CLI11's message `what` ("--lines: ...").
const CLI::Option* option_named_in(const CLI::App* app, const std::string& what)
{
    for (; app != nullptr; app = app->get_parent()) {
        for (const CLI::Option* opt : app->get_options()) {
            const std::string name = opt->get_name();
            if (!name.empty() && what.starts_with(name) &&
                (what.size() == name.size() || what[name.size()] == ':' || what[name.size()] == ' ')) {
                return opt;
            }
        }
    }
    return nullptr;
}

/// "2.000000" -> "2", "0.500000" -> "0.5", "10" -> "10".
std::string trim_decimals(std::string n)
{
    if (n.find('.') == std::string::npos) {
        return n;
    }
    while (n.ends_with("0")) {
        n.pop_back();
    }
    if (n.ends_with(".")) {
        n.pop_back();
    }
    return n;
}

}  // namespace

int report_parse_error(CLI::App& app, const CLI::ParseError& e, const std::vector<std::string>& args)
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
    const std::string prefix = path + ": ";
    // Two options that exclude each other, named as typed ("-c and --cid ...").
    if (dynamic_cast<const CLI::ExcludesError*>(&e) != nullptr) {
        for (const CLI::App* a = deepest; a != nullptr; a = a->get_parent()) {
            for (const CLI::Option* opt : a->get_options()) {
                if (opt->count() == 0) {
                    continue;
                }
                for (const CLI::Option* other : opt->get_excludes()) {
                    if (other->count() > 0) {
                        return usage_error(prefix + typed_name(*opt, args) + " and " + typed_name(*other, args) +
                                               " cannot be used together",
                                           help_for);
                    }
                }
            }
        }
    }
    std::string what = e.what();
    // CLI11 starts an option's error with its name: use the spelling the user typed.
    const CLI::Option* opt = option_named_in(deepest, what);
    if (opt != nullptr) {
        const std::string name = opt->get_name();
        std::string detail = what.substr(name.size());
        if (detail.starts_with(": ")) {
            detail = detail.substr(2);
        }
        const std::string typed = typed_name(*opt, args);
        static const std::regex k_missing(R"(^\d+ required (.+) missing$)");
        static const std::regex k_range(R"(^Value (.*) not in range (\S+) to (\S+)$)");
        static const std::regex k_member(R"(^(.*) not in \{(.*)\}$)");
        std::smatch m;
        if (std::regex_match(detail, m, k_missing)) {
            std::string msg = prefix + typed + " needs a value";
            const std::string type = m[1];
            if (auto brace = type.find(":{"); brace != std::string::npos && type.ends_with("}")) {
                std::string choices = type.substr(brace + 2, type.size() - brace - 3);
                std::replace(choices.begin(), choices.end(), ',', ' ');
                msg += ": one of " + choices;
            }
            return usage_error(msg, help_for);
        }
        if (std::regex_match(detail, m, k_range)) {
            const std::string hi = m[3];
            // A positive number's range ends at the largest double: "0.000000 to 1797...".
            if (hi.size() > 30) {
                return usage_error(prefix + typed + ": '" + m[1].str() + "' is not a positive number", help_for);
            }
            return usage_error(prefix + typed + ": '" + m[1].str() + "' is not a number from " + trim_decimals(m[2]) +
                                   " to " + trim_decimals(hi),
                               help_for);
        }
        if (std::regex_match(detail, m, k_member)) {
            std::vector<std::string> choices;
            std::string list = m[2];
            for (std::size_t at = 0; at <= list.size();) {
                const std::size_t comma = std::min(list.find(',', at), list.size());
                choices.push_back(list.substr(at, comma - at));
                at = comma + 1;
            }
            std::string joined;
            for (const auto& c : choices) {
                joined += (joined.empty() ? "" : ", ") + c;
            }
            return usage_error(
                with_suggestion(prefix + typed + ": '" + m[1].str() + "' is not one of " + joined, m[1].str(), choices),
                help_for);
        }
        if (detail.starts_with("File does not exist: ")) {
            return usage_error(prefix + typed + ": no such file '" + detail.substr(21) + "'", help_for);
        }
        what = typed + ": " + detail;
    }
    if (dynamic_cast<const CLI::RequiredError*>(&e) != nullptr && what.ends_with(" is required")) {
        what = "missing " + what.substr(0, what.size() - std::string_view(" is required").size());
    }
    return usage_error(prefix + what, help_for);
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

std::vector<std::string> hoist_output_flags(std::vector<std::string> args)
{
    std::vector<std::string> hoisted;
    std::size_t i = 1;
    while (i < args.size()) {
        const std::string& a = args[i];
        if (a == "--json" || a == "--csv") {
            hoisted.push_back(a);
            args.erase(args.begin() + static_cast<std::ptrdiff_t>(i));
            continue;
        }
        if (a == "--" || !a.starts_with("-")) {
            break;  // the command
        }
        i += a == "--data-dir" ? 2 : 1;
    }
    if (hoisted.empty() || i >= args.size() || args[i] == "--") {
        return args;
    }
    // Before an agent's own arguments ('aigw claude -- ...'), else at the end.
    auto at = std::find(args.begin() + static_cast<std::ptrdiff_t>(i), args.end(), std::string("--"));
    args.insert(at, hoisted.begin(), hoisted.end());
    return args;
}

int cli_main(int argc, char** argv)
{
    std::signal(SIGPIPE, SIG_IGN);
    CLI::App app;
    Context ctx;
    build_app(app, ctx);
    std::vector<std::string> args = hoist_output_flags(std::vector<std::string>(argv, argv + argc));
    std::vector<char*> arg_ptrs;
    for (auto& a : args) {
        arg_ptrs.push_back(a.data());
    }
    try {
        app.parse(static_cast<int>(arg_ptrs.size()), arg_ptrs.data());
    } catch (const CLI::ParseError& e) {
        return report_parse_error(app, e, args);
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

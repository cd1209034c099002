#include "cli/app.hpp"

#include <csignal>
#include <cstdio>
#include <iostream>

namespace aigw::cli {

const config::Config& Context::config() {
    if (!m_config) {
        auto cfg = config::load_config(env, data_dir_option);
        if (!cfg) {
            throw std::runtime_error(cfg.error() + "\n  fix the config file, or point AIGW_CONFIG at another one");
        }
        m_config = std::move(*cfg);
    }
    return *m_config;
}

std::filesystem::path Context::data_dir() {
    if (!data_dir_option.empty()) {
        return data_dir_option;
    }
    return config().data_dir;
}

client::ConnectOptions Context::connect_options() {
    client::ConnectOptions o;
    o.data_dir = data_dir();
    o.allow_spawn = !no_spawn;
    o.port = config().port;
    o.env = env;
    return o;
}

std::expected<client::DaemonClient*, client::ClientError> Context::client() {
    if (!m_client) {
        auto c = client::connect(connect_options());
        if (!c) {
            return std::unexpected(c.error());
        }
        m_client.emplace(std::move(*c));
    }
    return &*m_client;
}

int fail(std::string_view message) {
    std::cerr << "aigw: " << message << '\n';
    return k_exit_error;
}

int fail(const client::ClientError& e) { return fail(client::describe(e)); }

namespace {

int print_version(Context& ctx) {
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
                  << client::client_version()
                  << ") differ; restart the daemon with 'aigw daemon stop && aigw daemon start'\n";
    }
    return 0;
}

}  // namespace

void build_app(CLI::App& app, Context& ctx) {
    app.description("aigw: one key, every model. Talks to the local aigwd gateway daemon.");
    app.name("aigw");
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
}

int cli_main(int argc, char** argv) {
    std::signal(SIGPIPE, SIG_IGN);
    CLI::App app;
    Context ctx;
    build_app(app, ctx);
    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        return app.exit(e);
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

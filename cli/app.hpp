#pragma once
// The aigw command line: global options, the shared context every command uses to reach the
// daemon, and the registration function of each command group (one file each).

#include "shared/client/discovery.hpp"
#include "shared/config/config.hpp"

#include <CLI/CLI.hpp>

#include <functional>
#include <memory>
#include <optional>
#include <string>

namespace aigw::cli {

/// Exit codes: 0 ok, 1 error, 2 usage, 3 daemon not running (daemon status).
inline constexpr int k_exit_error = 1;
inline constexpr int k_exit_usage = 2;
inline constexpr int k_exit_not_running = 3;

/// Global options and lazily loaded config / daemon connection.
class Context {
public:
    std::string data_dir_option;  ///< --data-dir
    bool no_spawn = false;        ///< --no-spawn
    bool version = false;         ///< --version
    config::Env env = config::process_env();

    /// The command to run after parsing (set by the chosen subcommand's callback).
    std::function<int()> action;

    /// Config (file + env), with --data-dir applied. Throws std::runtime_error on a bad file.
    const config::Config& config();
    std::filesystem::path data_dir();
    client::ConnectOptions connect_options();
    /// The daemon client, starting the daemon unless --no-spawn.
    std::expected<client::DaemonClient*, client::ClientError> client();

private:
    std::optional<config::Config> m_config;
    std::optional<client::DaemonClient> m_client;
};

/// Prints "aigw: <message>" (and the hint on its own line) on stderr; returns k_exit_error.
int fail(std::string_view message);
int fail(const client::ClientError& e);

/// Builds the whole command tree into `app`; `ctx` must outlive it.
void build_app(CLI::App& app, Context& ctx);

void add_run_command(CLI::App& app, Context& ctx);
void add_chat_command(CLI::App& app, Context& ctx);
void add_models_command(CLI::App& app, Context& ctx);
void add_cost_command(CLI::App& app, Context& ctx);
void add_daemon_command(CLI::App& app, Context& ctx);
void add_keys_command(CLI::App& app, Context& ctx);
void add_bench_command(CLI::App& app, Context& ctx);
void add_eval_command(CLI::App& app, Context& ctx);
void add_logs_command(CLI::App& app, Context& ctx);
void add_cache_command(CLI::App& app, Context& ctx);

/// Entry point of the aigw executable.
int cli_main(int argc, char** argv);

}  // namespace aigw::cli

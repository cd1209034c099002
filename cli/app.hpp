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
#include <vector>

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
    /// Set by commands that must work with a config the daemon cannot load (daemon stop,
    /// status, logs, --version, config): they get every value that could be read instead.
    bool config_optional = false;
    config::Env env = config::process_env();

    /// The command to run after parsing (set by the chosen subcommand's callback).
    std::function<int()> action;

    /// Config (file + env), with --data-dir applied. Throws std::runtime_error naming every
    /// problem (file:line) and how to fix it on a bad file, unless `config_optional`.
    const config::Config& config();
    /// Every problem of the config file ("file:line: ..."); empty when it loads.
    const std::vector<std::string>& config_errors();
    std::filesystem::path data_dir();
    client::ConnectOptions connect_options();
    /// The daemon client, starting the daemon unless --no-spawn.
    std::expected<client::DaemonClient*, client::ClientError> client();

private:
    std::optional<config::ConfigCheck> m_check;
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
void add_ledger_command(CLI::App& app, Context& ctx);
void add_config_command(CLI::App& app, Context& ctx);
void add_completions_command(CLI::App& app, Context& ctx);
/// aigw claude, codex, gemini and opencode (cmd_agents.cpp).
void add_agent_commands(CLI::App& app, Context& ctx);

/// The message and exit code of a command-line parse failure, in aigw's voice:
/// "aigw: unknown command 'rn'; did you mean 'run'?" with k_exit_usage; help and version
/// requests print as CLI11 does and return 0. `args` (argv) lets an option be named the way
/// the user typed it ("-m needs a value", not "--model: 1 required TEXT missing").
int report_parse_error(CLI::App& app, const CLI::ParseError& e, const std::vector<std::string>& args = {});

/// `args` (argv, program name first) with --json and --csv given before the command moved
/// after it (before a '--'), so 'aigw --json cost' means 'aigw cost --json'.
std::vector<std::string> hoist_output_flags(std::vector<std::string> args);

/// Entry point of the aigw executable.
int cli_main(int argc, char** argv);

}  // namespace aigw::cli

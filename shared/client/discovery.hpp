#pragma once
// Finding the daemon (AIGW_HOST or the state file in the data dir) and starting it when
// nothing runs, the way watchman's client does.

#include "shared/client/daemon_client.hpp"
#include "shared/config/paths.hpp"

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>

namespace aigw::client {

/// The daemon's state file, DIR/aigwd.json.
struct DaemonState {
    std::int64_t pid = 0;
    std::string host = "127.0.0.1";
    int port = 0;
    std::string version;
    std::int64_t started_ms = 0;
    bool tls = false;  ///< the daemon speaks HTTPS ([server] tls_cert)

    Endpoint endpoint() const;
};

/// Parses the state file's text; nullopt when it is not the expected shape.
std::optional<DaemonState> parse_state(std::string_view text);
/// Reads config::state_file(data_dir); nullopt when absent or unreadable.
std::optional<DaemonState> read_state(const std::filesystem::path& data_dir);
/// kill(pid, 0) succeeds (or fails only with EPERM) and the process is not a zombie.
bool pid_alive(std::int64_t pid);

struct ConnectOptions {
    std::filesystem::path data_dir;
    bool allow_spawn = true;
    int port = 4141;  ///< port to start the daemon on (from the config)
    config::Env env = config::process_env();
    std::chrono::milliseconds spawn_timeout{5000};
    bool warn_version_mismatch = true;
    /// Called by ensure_daemon just before it starts aigwd (the CLI says so on a terminal).
    std::function<void()> on_spawn;
};

/// A daemon that answered /health.
struct Located {
    Endpoint endpoint;
    Health health;
    std::optional<DaemonState> state;  ///< nullopt when found through AIGW_HOST
    bool from_env = false;
    bool spawned = false;
};

/// Finds a running daemon without starting one: AIGW_HOST wins, else the state file with a
/// live pid and a /health answer. Error kind not_running (or connect for AIGW_HOST).
std::expected<Located, ClientError> locate_daemon(const ConnectOptions& opts);

/// locate_daemon, else (when allowed) starts aigwd and waits for it.
std::expected<Located, ClientError> ensure_daemon(const ConnectOptions& opts);

/// Starts `aigwd --port P --data-dir D` detached (setsid, stdin /dev/null, output appended
/// to the daemon log) and waits until its state file and /health answer.
std::expected<Located, ClientError> spawn_daemon(const ConnectOptions& opts);

/// aigwd next to the running executable (or ../daemon/aigwd in a build tree), else on PATH;
/// $AIGWD_PATH wins when set. Empty when not found.
std::filesystem::path find_aigwd(const config::Env& env);

/// The gateway key: $AIGW_API_KEY, else the key file in the data dir (trimmed); empty if none.
std::string gateway_key(const config::Env& env, const std::filesystem::path& data_dir);

/// ensure_daemon + a DaemonClient with the gateway key; prints a warning on stderr once when
/// the daemon's version differs from ours.
std::expected<DaemonClient, ClientError> connect(const ConnectOptions& opts);

/// Our version (AIGW_VERSION).
std::string_view client_version();

}  // namespace aigw::client

#pragma once
// An asynchronous Redis client on the daemon's event loops (C++20 coroutines): nothing
// here blocks a loop. Each command takes an idle connection from a pool (or opens one),
// writes, reads its reply within a deadline, and gives the connection back; a connection
// that failed is dropped. Enough for the cluster's atomic scripts (one round trip each);
// pipelining is not needed for them.
//
// Pools are per executor: a command uses connections opened on the executor it runs on
// (a request's event loop, or the cluster thread for background work), so its socket's
// reads and writes complete on that loop without a hop to another thread. Measured before
// this (one pool on the cluster thread): context switches were a fifth of a busy
// instance's CPU.

#include "daemon/cluster/resp.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <expected>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace aigw::daemon::cluster {

struct RedisOptions {
    std::string host = "127.0.0.1";
    int port = 6379;
    std::string username;  ///< ACL user ("" = default)
    std::string password;  ///< secret: never in messages
    int db = 0;
    std::chrono::milliseconds connect_timeout{1000};
    std::chrono::milliseconds command_timeout{500};
    /// Idle connections kept per executor. Connections are opened only when every idle one
    /// is busy, so this bounds nothing under load; a small value makes a busy instance
    /// reconnect for most commands (measured: 16 cost one new connection per request at 32
    /// clients).
    std::size_t max_idle = 256;
};

/// redis://[[user]:password@]host[:port][/db]. Errors name the problem without the password.
std::expected<RedisOptions, std::string> parse_redis_url(std::string_view url);

class RedisClient {
public:
    /// `ex`: kept for the client's owner; commands use the executor they run on.
    RedisClient(boost::asio::any_io_executor ex, RedisOptions options);
    ~RedisClient();
    RedisClient(const RedisClient&) = delete;
    RedisClient& operator=(const RedisClient&) = delete;

    /// Sends one command; its reply (a Redis error reply is a value, is_error()) or why
    /// there is none: unreachable, timed out, closed, a protocol error.
    boost::asio::awaitable<std::expected<RespValue, std::string>> command(std::vector<std::string> args);

    const RedisOptions& options() const { return m_options; }

    /// Closes every idle connection. Call it before the event loops whose connections the
    /// pools hold are destroyed (a socket must not outlive its io_context).
    void close_idle();

private:
    struct Connection;
    struct Pool {
        boost::asio::any_io_executor ex;
        std::vector<std::unique_ptr<Connection>> idle;
    };
    boost::asio::awaitable<std::expected<std::unique_ptr<Connection>, std::string>> connect(
        boost::asio::any_io_executor ex);
    std::unique_ptr<Connection> take_idle(const boost::asio::any_io_executor& ex);
    void give_back(const boost::asio::any_io_executor& ex, std::unique_ptr<Connection> c);

    boost::asio::any_io_executor m_ex;
    RedisOptions m_options;
    std::mutex m_mu;
    std::vector<Pool> m_pools;  ///< one per executor that ran a command (a few: the loops)
};

/// Whether Redis answers, as one feature on the request path sees it (the shared limits,
/// the shared cache): up until a command fails; during an outage only the one caller per
/// probe interval that wins the race tries Redis again, and the others do not wait for it.
/// Logs once when an outage starts and once when it ends. Thread-safe.
class RedisHealth {
public:
    /// Lines logged: "aigwd: cluster: REDIS UNREACHABLE at WHERE (why); DOWN" and
    /// "aigwd: cluster: redis reachable again at WHERE; BACK".
    RedisHealth(std::chrono::milliseconds probe_interval, std::function<void(const std::string&)> log,
                std::string where, std::string back, std::string down);

    /// Whether this call should try Redis: always while it is up; during an outage only
    /// the one call per probe interval that wins the race.
    bool should_try();
    void note_success();
    /// Counts an error, starts (or extends) an outage.
    void note_failure(const std::string& why);
    /// Counts an error that is not an outage (a reply of the wrong shape).
    void count_error() { m_errors.fetch_add(1, std::memory_order_relaxed); }
    bool up() const { return m_up.load(std::memory_order_relaxed); }
    std::uint64_t errors() const { return m_errors.load(std::memory_order_relaxed); }

private:
    std::chrono::milliseconds m_probe_interval;
    std::function<void(const std::string&)> m_log;
    std::string m_where;
    std::string m_back;
    std::string m_down;
    std::atomic<bool> m_up{true};
    std::atomic<std::int64_t> m_next_probe_ms{0};  ///< steady ms; during an outage
    std::atomic<std::uint64_t> m_errors{0};
};

/// The SHA1 of a Lua script's text, in hex (its EVALSHA name).
std::string sha1_hex(const char* text);

/// EVALSHA `args` (args[0] "EVALSHA", args[1] the script's SHA1); EVAL once with the
/// script's text when Redis does not have it yet (first use, or after a restart). A Redis
/// error reply is an error.
boost::asio::awaitable<std::expected<RespValue, std::string>> run_script(RedisClient& redis, const char* script,
                                                                         std::vector<std::string> args);

}  // namespace aigw::daemon::cluster

#pragma once
// An asynchronous Redis client on the daemon's event loops (C++20 coroutines): nothing
// here blocks a loop. Each command takes an idle connection from a small pool (or opens
// one), writes, reads its reply within a deadline, and gives the connection back; a
// connection that failed is dropped. Enough for the cluster's atomic scripts (one round
// trip each); pipelining is not needed for them.

#include "daemon/cluster/resp.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include <chrono>
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
    std::size_t max_idle = 16;  ///< idle connections kept
};

/// redis://[[user]:password@]host[:port][/db]. Errors name the problem without the password.
std::expected<RedisOptions, std::string> parse_redis_url(std::string_view url);

class RedisClient {
public:
    RedisClient(boost::asio::any_io_executor ex, RedisOptions options);
    ~RedisClient();
    RedisClient(const RedisClient&) = delete;
    RedisClient& operator=(const RedisClient&) = delete;

    /// Sends one command; its reply (a Redis error reply is a value, is_error()) or why
    /// there is none: unreachable, timed out, closed, a protocol error.
    boost::asio::awaitable<std::expected<RespValue, std::string>> command(std::vector<std::string> args);

    const RedisOptions& options() const { return m_options; }

private:
    struct Connection;
    boost::asio::awaitable<std::expected<std::unique_ptr<Connection>, std::string>> connect();
    std::unique_ptr<Connection> take_idle();
    void give_back(std::unique_ptr<Connection> c);

    boost::asio::any_io_executor m_ex;
    RedisOptions m_options;
    std::mutex m_mu;
    std::vector<std::unique_ptr<Connection>> m_idle;
};

/// The SHA1 of a Lua script's text, in hex (its EVALSHA name).
std::string sha1_hex(const char* text);

/// EVALSHA `args` (args[0] "EVALSHA", args[1] the script's SHA1); EVAL once with the
/// script's text when Redis does not have it yet (first use, or after a restart). A Redis
/// error reply is an error.
boost::asio::awaitable<std::expected<RespValue, std::string>> run_script(RedisClient& redis, const char* script,
                                                                         std::vector<std::string> args);

}  // namespace aigw::daemon::cluster

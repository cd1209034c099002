#include "daemon/cluster/redis_client.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/tcp_stream.hpp>

#include <openssl/sha.h>

#include <array>
#include <charconv>
#include <span>

namespace aigw::daemon::cluster {

namespace asio = boost::asio;
namespace beast = boost::beast;
using tcp = asio::ip::tcp;

namespace {
constexpr auto k_tuple = asio::as_tuple(asio::use_awaitable);
}

std::expected<RedisOptions, std::string> parse_redis_url(std::string_view url)
{
    RedisOptions o;
    constexpr std::string_view k_scheme = "redis://";
    if (!url.starts_with(k_scheme)) {
        return std::unexpected("a Redis URL starts with redis:// (rediss:// with TLS is not supported yet)");
    }
    std::string_view rest = url.substr(k_scheme.size());
    if (const auto at = rest.rfind('@'); at != std::string_view::npos) {
        const std::string_view auth = rest.substr(0, at);
        rest = rest.substr(at + 1);
        const auto colon = auth.find(':');
        if (colon == std::string_view::npos) {
            o.password = std::string(auth);
        } else {
            o.username = std::string(auth.substr(0, colon));
            o.password = std::string(auth.substr(colon + 1));
        }
    }
    if (const auto slash = rest.find('/'); slash != std::string_view::npos) {
        const std::string_view db = rest.substr(slash + 1);
        rest = rest.substr(0, slash);
        if (!db.empty()) {
            const auto [ptr, ec] = std::from_chars(db.data(), db.data() + db.size(), o.db);
            if (ec != std::errc() || ptr != db.data() + db.size() || o.db < 0) {
                return std::unexpected("the Redis database after '/' must be a number, not '" + std::string(db) + "'");
            }
        }
    }
    std::string_view host = rest;
    if (const auto colon = rest.rfind(':');
        colon != std::string_view::npos && rest.find(']') == std::string_view::npos) {
        host = rest.substr(0, colon);
        const std::string_view port = rest.substr(colon + 1);
        const auto [ptr, ec] = std::from_chars(port.data(), port.data() + port.size(), o.port);
        if (ec != std::errc() || ptr != port.data() + port.size() || o.port <= 0 || o.port > 65535) {
            return std::unexpected("the Redis port must be 1-65535, not '" + std::string(port) + "'");
        }
    }
    if (host.empty()) {
        return std::unexpected("the Redis URL names no host");
    }
    o.host = std::string(host);
    return o;
}

struct RedisClient::Connection {
    explicit Connection(asio::any_io_executor ex) : stream(ex) {}
    beast::tcp_stream stream;
    std::string buf;                      ///< bytes read and not yet parsed
    std::array<char, 16 * 1024> chunk{};  ///< what one read fills, reused
};

RedisClient::RedisClient(asio::any_io_executor ex, RedisOptions options)
    : m_ex(std::move(ex)), m_options(std::move(options))
{}

RedisClient::~RedisClient() = default;

std::unique_ptr<RedisClient::Connection> RedisClient::take_idle(const asio::any_io_executor& ex)
{
    std::lock_guard lock(m_mu);
    for (auto& pool : m_pools) {
        if (pool.ex == ex) {
            if (pool.idle.empty()) {
                return nullptr;
            }
            auto c = std::move(pool.idle.back());
            pool.idle.pop_back();
            return c;
        }
    }
    return nullptr;
}

void RedisClient::give_back(const asio::any_io_executor& ex, std::unique_ptr<Connection> c)
{
    std::lock_guard lock(m_mu);
    for (auto& pool : m_pools) {
        if (pool.ex == ex) {
            if (pool.idle.size() < m_options.max_idle) {
                pool.idle.push_back(std::move(c));
            }
            return;
        }
    }
    m_pools.push_back(Pool{ex, {}});
    m_pools.back().idle.push_back(std::move(c));
}

void RedisClient::close_idle()
{
    std::vector<Pool> pools;
    {
        std::lock_guard lock(m_mu);
        pools.swap(m_pools);
    }
}

namespace {

/// Writes `wire` and reads one reply on `stream` before `deadline`.
asio::awaitable<std::expected<RespValue, std::string>> round_trip(beast::tcp_stream& stream, std::string& buf,
                                                                  std::span<char> chunk, const std::string& wire,
                                                                  std::chrono::steady_clock::time_point deadline)
{
    stream.expires_at(deadline);
    auto [wec, written] = co_await asio::async_write(stream, asio::buffer(wire), k_tuple);
    (void)written;
    if (wec) {
        co_return std::unexpected(wec == beast::error::timeout ? std::string("Redis did not take the command in time")
                                                               : "writing to Redis failed: " + wec.message());
    }
    for (;;) {
        std::size_t consumed = 0;
        auto parsed = parse_reply(buf, consumed);
        if (!parsed) {
            co_return std::unexpected(parsed.error());
        }
        if (*parsed) {
            buf.erase(0, consumed);
            co_return std::move(**parsed);
        }
        auto [rec, n] = co_await stream.async_read_some(asio::buffer(chunk.data(), chunk.size()), k_tuple);
        if (rec) {
            co_return std::unexpected(rec == beast::error::timeout ? std::string("Redis did not answer in time")
                                                                   : "reading from Redis failed: " + rec.message());
        }
        buf.append(chunk.data(), n);
    }
}

}  // namespace

asio::awaitable<std::expected<std::unique_ptr<RedisClient::Connection>, std::string>> RedisClient::connect(
    asio::any_io_executor ex)
{
    auto c = std::make_unique<Connection>(ex);
    tcp::resolver resolver(ex);
    auto [rec, endpoints] = co_await resolver.async_resolve(m_options.host, std::to_string(m_options.port), k_tuple);
    if (rec) {
        co_return std::unexpected("cannot resolve the Redis host " + m_options.host + ": " + rec.message());
    }
    c->stream.expires_after(m_options.connect_timeout);
    auto [cec, ep] = co_await c->stream.async_connect(endpoints, k_tuple);
    (void)ep;
    if (cec) {
        co_return std::unexpected("cannot connect to Redis at " + m_options.host + ":" +
                                  std::to_string(m_options.port) + ": " +
                                  (cec == beast::error::timeout ? std::string("timed out") : cec.message()));
    }
    c->stream.socket().set_option(tcp::no_delay(true));
    const auto deadline = std::chrono::steady_clock::now() + m_options.connect_timeout;
    if (!m_options.password.empty()) {
        // (GCC 12: no braced lists or string literals inside a co_await expression.)
        std::vector<std::string> auth;
        auth.emplace_back("AUTH");
        if (!m_options.username.empty()) {
            auth.push_back(m_options.username);
        }
        auth.push_back(m_options.password);
        const std::string wire = encode_command(auth);
        auto r = co_await round_trip(c->stream, c->buf, c->chunk, wire, deadline);
        if (!r) {
            co_return std::unexpected(r.error());
        }
        if (r->is_error()) {
            co_return std::unexpected("Redis refused the credentials in the URL: " + r->text);
        }
    }
    if (m_options.db != 0) {
        std::vector<std::string> select;
        select.emplace_back("SELECT");
        select.push_back(std::to_string(m_options.db));
        const std::string wire = encode_command(select);
        auto r = co_await round_trip(c->stream, c->buf, c->chunk, wire, deadline);
        if (!r) {
            co_return std::unexpected(r.error());
        }
        if (r->is_error()) {
            co_return std::unexpected("Redis refused database " + std::to_string(m_options.db) + ": " + r->text);
        }
    }
    c->stream.expires_never();
    co_return c;
}

asio::awaitable<std::expected<RespValue, std::string>> RedisClient::command(std::vector<std::string> args)
{
    const std::string wire = encode_command(args);
    const asio::any_io_executor ex = co_await asio::this_coro::executor;
    // An idle connection may have been closed by Redis (timeout, restart): one retry on a
    // fresh connection, only when the reused one failed before any reply.
    for (int attempt = 0; attempt < 2; ++attempt) {
        std::unique_ptr<Connection> c = attempt == 0 ? take_idle(ex) : nullptr;
        const bool reused = c != nullptr;
        if (!c) {
            auto opened = co_await connect(ex);
            if (!opened) {
                co_return std::unexpected(opened.error());
            }
            c = std::move(*opened);
        }
        auto r = co_await round_trip(c->stream, c->buf, c->chunk, wire,
                                     std::chrono::steady_clock::now() + m_options.command_timeout);
        if (r) {
            c->stream.expires_never();
            give_back(ex, std::move(c));
            co_return r;
        }
        if (!reused) {
            co_return r;
        }
    }
    co_return std::unexpected(std::string("Redis is unreachable"));
}

RedisHealth::RedisHealth(std::chrono::milliseconds probe_interval, std::function<void(const std::string&)> log,
                         std::string where, std::string back, std::string down)
    : m_probe_interval(probe_interval),
      m_log(std::move(log)),
      m_where(std::move(where)),
      m_back(std::move(back)),
      m_down(std::move(down))
{}

namespace {

std::int64_t steady_ms()
{
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now().time_since_epoch())
        .count();
}

}  // namespace

bool RedisHealth::should_try()
{
    if (m_up.load(std::memory_order_relaxed)) {
        return true;
    }
    const std::int64_t now = steady_ms();
    std::int64_t due = m_next_probe_ms.load(std::memory_order_relaxed);
    if (now < due) {
        return false;
    }
    return m_next_probe_ms.compare_exchange_strong(due, now + m_probe_interval.count());
}

void RedisHealth::note_success()
{
    if (!m_up.exchange(true)) {
        m_log("aigwd: cluster: redis reachable again at " + m_where + "; " + m_back);
    }
}

void RedisHealth::note_failure(const std::string& why)
{
    m_errors.fetch_add(1, std::memory_order_relaxed);
    m_next_probe_ms.store(steady_ms() + m_probe_interval.count(), std::memory_order_relaxed);
    if (m_up.exchange(false)) {
        m_log("aigwd: cluster: REDIS UNREACHABLE at " + m_where + " (" + why + "); " + m_down);
    }
}

std::string sha1_hex(const char* text)
{
    unsigned char digest[SHA_DIGEST_LENGTH];
    SHA1(reinterpret_cast<const unsigned char*>(text), std::char_traits<char>::length(text), digest);
    static constexpr char k_hex[] = "0123456789abcdef";
    std::string out;
    for (const unsigned char b : digest) {
        out += k_hex[b >> 4];
        out += k_hex[b & 0xf];
    }
    return out;
}

boost::asio::awaitable<std::expected<RespValue, std::string>> run_script(RedisClient& redis, const char* script,
                                                                         std::vector<std::string> args)
{
    auto r = co_await redis.command(args);
    if (r && r->is_error() && r->text.starts_with("NOSCRIPT")) {
        args[0] = "EVAL";
        args[1] = script;
        r = co_await redis.command(args);
    }
    if (r && r->is_error()) {
        co_return std::unexpected("Redis refused a script: " + r->text);
    }
    co_return r;
}

}  // namespace aigw::daemon::cluster

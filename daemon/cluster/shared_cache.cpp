#include "daemon/cluster/shared_cache.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>

#include <iostream>

namespace aigw::daemon::cluster {

namespace asio = boost::asio;

SharedCache::SharedCache(RedisClient& redis, asio::any_io_executor io, SharedCacheOptions options)
    : m_redis(redis),
      m_io(std::move(io)),
      m_options(std::move(options)),
      m_health(
          m_options.probe_interval, [this](const std::string& line) { m_options.log(line); },
          m_redis.options().host + ":" + std::to_string(m_redis.options().port),
          "the response cache is shared across instances again",
          "the response cache is this instance's own until it is back. Start Redis or check [cluster] "
          "redis_url.")
{
    if (!m_options.log) {
        m_options.log = [](const std::string& line) { std::cerr << line << "\n"; };
    }
}

asio::awaitable<std::expected<std::optional<std::string>, std::string>> SharedCache::get(std::string key)
{
    if (!m_health.should_try()) {
        m_health.count_error();
        co_return std::unexpected("Redis is unreachable");
    }
    std::vector<std::string> args;
    args.emplace_back("GET");
    args.push_back(m_options.key_prefix + key);
    auto r = co_await m_redis.command(std::move(args));
    if (!r) {
        m_health.note_failure(r.error());
        co_return std::unexpected(r.error());
    }
    m_health.note_success();
    if (r->is_nil()) {
        co_return std::optional<std::string>{};
    }
    if (r->type != RespValue::Type::bulk) {
        m_health.count_error();
        co_return std::unexpected(r->is_error() ? "Redis answered GET with an error: " + r->text
                                                : std::string("Redis answered GET with a non-string"));
    }
    co_return std::optional<std::string>(std::move(r->text));
}

void SharedCache::put(std::string key, std::string value, std::int64_t ttl_ms)
{
    if (ttl_ms <= 0 || value.empty()) {
        return;
    }
    if (value.size() > m_options.max_value_bytes) {
        m_too_large.fetch_add(1, std::memory_order_relaxed);
        return;
    }
    if (!m_health.up()) {
        return;  // during an outage stores are dropped; lookups probe for its end
    }
    std::vector<std::string> args;
    args.reserve(5);
    args.emplace_back("SET");
    args.push_back(m_options.key_prefix + key);
    args.push_back(std::move(value));
    args.emplace_back("PX");
    args.push_back(std::to_string(ttl_ms));
    asio::co_spawn(
        m_io,
        [this, args = std::move(args)]() mutable -> asio::awaitable<void> {
            auto r = co_await m_redis.command(std::move(args));
            if (!r) {
                m_health.note_failure(r.error());
            } else if (r->is_error()) {
                m_health.count_error();
            } else {
                m_stores.fetch_add(1, std::memory_order_relaxed);
            }
        },
        asio::detached);
}

SharedCacheStats SharedCache::stats() const
{
    SharedCacheStats s;
    s.hits = m_hits.load(std::memory_order_relaxed);
    s.misses = m_misses.load(std::memory_order_relaxed);
    s.errors = m_health.errors();
    s.stores = m_stores.load(std::memory_order_relaxed);
    s.too_large = m_too_large.load(std::memory_order_relaxed);
    return s;
}

}  // namespace aigw::daemon::cluster

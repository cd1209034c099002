#pragma once
// The response cache several aigwd share through Redis ([cluster] redis_url): each exact
// entry an instance stores is also SET in Redis with its TTL (PX), and a request that
// misses the local cache asks Redis once (GET) before going upstream, so an answer cached
// by one instance is a hit on every other. Values are opaque text here (the cache's own
// encode_cached_answer). The semantic index stays per instance.
//
// The Redis connection and thread are the shared rate limits' (one client per instance);
// a request awaits its GET from its own event loop and never blocks it. When Redis cannot
// be reached a lookup is a miss (counted as an error) and a store is dropped; the outage is
// logged once when it starts and once when it ends, and while it lasts one lookup a second
// probes Redis and the others do not wait for it.

#include "daemon/cluster/redis_client.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <expected>
#include <functional>
#include <optional>
#include <string>

namespace aigw::daemon::cluster {

struct SharedCacheOptions {
    std::string key_prefix = "aigw:cache:";
    std::size_t max_value_bytes = 1u << 20;  ///< larger entries stay local
    std::chrono::milliseconds probe_interval{1000};
    std::function<void(const std::string&)> log;  ///< default: stderr
};

struct SharedCacheStats {
    std::uint64_t hits = 0;       ///< lookups answered from Redis
    std::uint64_t misses = 0;     ///< lookups Redis had nothing (live) for
    std::uint64_t errors = 0;     ///< lookups or stores that failed (unreachable, timed out, a bad entry)
    std::uint64_t stores = 0;     ///< entries written to Redis
    std::uint64_t too_large = 0;  ///< entries over max_value_bytes, kept local only
};

class SharedCache {
public:
    /// `redis` and the executor `io` it runs on (the cluster's Redis thread) outlive this.
    SharedCache(RedisClient& redis, boost::asio::any_io_executor io, SharedCacheOptions options = {});
    SharedCache(const SharedCache&) = delete;
    SharedCache& operator=(const SharedCache&) = delete;

    /// GET of `key` (without the prefix): the value, nullopt when Redis has none, or why
    /// there is no answer (counted as an error). Never throws.
    boost::asio::awaitable<std::expected<std::optional<std::string>, std::string>> get(std::string key);
    /// SET `key` `value` PX `ttl_ms` in the background on the Redis thread: the caller does
    /// not wait; a failure is counted and logged once per outage. Values over the cap and
    /// non-positive TTLs are not written.
    void put(std::string key, std::string value, std::int64_t ttl_ms);

    void count_hit() { m_hits.fetch_add(1, std::memory_order_relaxed); }
    void count_miss() { m_misses.fetch_add(1, std::memory_order_relaxed); }
    /// A value Redis returned that is not a usable entry.
    void count_bad_entry() { m_health.count_error(); }

    SharedCacheStats stats() const;
    bool redis_up() const { return m_health.up(); }

private:
    RedisClient& m_redis;
    boost::asio::any_io_executor m_io;
    SharedCacheOptions m_options;
    RedisHealth m_health;
    std::atomic<std::uint64_t> m_hits{0};
    std::atomic<std::uint64_t> m_misses{0};
    std::atomic<std::uint64_t> m_stores{0};
    std::atomic<std::uint64_t> m_too_large{0};
};

}  // namespace aigw::daemon::cluster

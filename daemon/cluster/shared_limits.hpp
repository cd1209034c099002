#pragma once
// The rate limits several aigwd share through Redis ([cluster] redis_url): the buckets
// live in Redis and are taken by one atomic script per request, so a limit holds exactly
// across instances. Redis I/O runs on a thread of its own (its own io_context); a request
// awaits the script from its event loop and never blocks it.
//
// When Redis cannot be reached (connect refused, no answer within the short deadline) the
// outcome says so and the caller applies [cluster] redis_down: local limits or a 503. The
// outage is logged once when it starts and once when Redis answers again; while it lasts,
// one request a second probes Redis and the others do not wait for it.

#include "daemon/cluster/rate_limit.hpp"
#include "daemon/cluster/redis_client.hpp"
#include "daemon/cluster/shared_budget.hpp"

#include <boost/asio/awaitable.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

namespace aigw::daemon::cluster {

struct SharedLimitsOptions {
    RedisOptions redis;  ///< connect and command deadlines should be short (250 ms)
    std::string key_prefix = "aigw:rl:";
    std::string budget_prefix = "aigw:budget:";
    std::chrono::milliseconds probe_interval{1000};  ///< during an outage: how often Redis is tried again
    bool refuse_when_down = false;                   ///< only for the log line's wording
    std::function<void(const std::string&)> log;     ///< default: stderr
};

/// redis://user:***@host:port/db: the URL without its password, for logs and `aigw status`.
std::string redact_redis_url(std::string_view url);

class SharedLimits {
public:
    explicit SharedLimits(SharedLimitsOptions options);
    /// Stops the Redis thread; corrections not yet sent are dropped.
    ~SharedLimits();
    SharedLimits(const SharedLimits&) = delete;
    SharedLimits& operator=(const SharedLimits&) = delete;

    enum class Verdict { allowed, refused, unreachable };
    struct Outcome {
        Verdict verdict = Verdict::unreachable;
        std::size_t blocked = 0;          ///< refused: the index in `needs` that waits longest
        std::int64_t retry_after_ms = 0;  ///< refused: until that bucket has the tokens
        std::string error;                ///< unreachable: why (no secret in it)
    };

    /// Takes from every bucket of `needs` (keys without the prefix) or from none, refilled
    /// per minute. Never throws; an unreachable Redis is an outcome, not an error.
    boost::asio::awaitable<Outcome> take(std::vector<BucketNeed> needs);

    /// Gives `amount` tokens back to `bucket` (negative: takes more), in the background on
    /// the Redis thread: the caller does not wait, and a failure is only counted.
    void give(std::string bucket, double capacity, double amount);

    struct BudgetOutcome {
        Verdict verdict = Verdict::unreachable;
        std::size_t blocked = 0;   ///< refused: the index in `holds` that does not fit
        double committed_usd = 0;  ///< refused: its spent + held
        std::string hold_id;       ///< allowed: what settle_budgets() is given
        std::string error;         ///< unreachable: why (no secret in it)
    };
    /// Holds `estimate_usd` in every budget of `holds` (keys without the prefix) or in none
    /// (see cluster::hold_budgets); a hold lapses after `hold_ttl_ms` if never settled.
    /// Never throws; an unreachable Redis is an outcome.
    boost::asio::awaitable<BudgetOutcome> hold(std::vector<BudgetHold> holds, double estimate_usd,
                                               std::int64_t hold_ttl_ms);
    /// Replaces the hold `hold_id` in the budgets `keys` (without the prefix) by `cost_usd`
    /// (0: the request ended without a cost), in the background on the Redis thread; then
    /// calls `done` there with each budget's spend after it (-1: unknown), unless it failed.
    void settle(std::vector<std::string> keys, std::string hold_id, double cost_usd,
                std::function<void(const std::vector<double>&)> done = {});

    struct Ping {
        bool ok = false;
        double latency_ms = 0;
        std::string error;
    };
    /// PING, timed. For `aigw status`.
    boost::asio::awaitable<Ping> ping();
    /// ping() run on the Redis thread, waited for (at most the command deadline): only
    /// from a thread made for blocking work, never from an event loop or the Redis thread.
    Ping ping_blocking();

    bool redis_up() const { return m_health.up(); }
    std::uint64_t errors() const { return m_health.errors(); }
    const RedisOptions& redis_options() const { return m_client->options(); }
    /// The Redis client and the thread's executor, for the cluster's other Redis users
    /// (the shared response cache): one connection pool and one thread per instance.
    RedisClient& redis() { return *m_client; }
    boost::asio::any_io_executor executor() { return m_io.get_executor(); }

private:
    SharedLimitsOptions m_options;
    RedisHealth m_health;
    boost::asio::io_context m_io;
    boost::asio::executor_work_guard<boost::asio::io_context::executor_type> m_work;
    std::unique_ptr<RedisClient> m_client;
    std::thread m_thread;
    std::string m_hold_prefix;  ///< unique per instance run: hold ids never collide across instances
    std::atomic<std::uint64_t> m_next_hold{0};
};

}  // namespace aigw::daemon::cluster

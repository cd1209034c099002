#include "daemon/cluster/shared_limits.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/use_future.hpp>

#include <cstdio>
#include <iostream>
#include <random>

namespace aigw::daemon::cluster {

namespace asio = boost::asio;

namespace {

constexpr std::int64_t k_minute_ms = 60'000;

std::string where(const RedisOptions& o)
{
    return o.host + ":" + std::to_string(o.port);
}

}  // namespace

std::string redact_redis_url(std::string_view url)
{
    const auto scheme = url.find("://");
    const auto at = url.rfind('@');
    if (scheme == std::string_view::npos || at == std::string_view::npos || at < scheme) {
        return std::string(url);
    }
    const std::string_view auth = url.substr(scheme + 3, at - scheme - 3);
    const auto colon = auth.find(':');
    const std::string user = colon == std::string_view::npos ? std::string() : std::string(auth.substr(0, colon));
    return std::string(url.substr(0, scheme + 3)) + user + ":***" + std::string(url.substr(at));
}

SharedLimits::SharedLimits(SharedLimitsOptions options)
    : m_options(std::move(options)),
      m_health(
          m_options.probe_interval, [this](const std::string& line) { m_options.log(line); }, where(m_options.redis),
          "rate limits are shared across instances again",
          std::string(m_options.refuse_when_down
                          ? "requests under a rate limit are refused with 503 until it is back ([cluster] "
                            "redis_down = \"refuse\")"
                          : "rate limits are now per instance, not shared, until it is back ([cluster] "
                            "redis_down = \"local\")") +
              ". Start Redis or check [cluster] redis_url."),
      m_work(asio::make_work_guard(m_io))
{
    if (!m_options.log) {
        m_options.log = [](const std::string& line) { std::cerr << line << "\n"; };
    }
    m_client = std::make_unique<RedisClient>(m_io.get_executor(), m_options.redis);
    std::random_device rd;
    char tag[32];
    std::snprintf(tag, sizeof tag, "%08x%08x:", rd(), rd());
    m_hold_prefix = tag;
    m_thread = std::thread([this] { m_io.run(); });
    // Say at start-up whether Redis answers, instead of at the first limited request.
    asio::co_spawn(
        m_io,
        [this]() -> asio::awaitable<void> {
            const Ping p = co_await ping();
            if (p.ok) {
                m_options.log("aigwd: cluster: rate limits are shared through Redis at " + where(m_client->options()) +
                              " (PING " + std::to_string(p.latency_ms) + " ms)");
            }
        },
        asio::detached);
}

SharedLimits::~SharedLimits()
{
    m_work.reset();
    m_io.stop();
    if (m_thread.joinable()) {
        m_thread.join();
    }
}

asio::awaitable<SharedLimits::Outcome> SharedLimits::take(std::vector<BucketNeed> needs)
{
    Outcome out;
    if (!m_health.should_try()) {
        out.error = "Redis at " + where(m_client->options()) + " is unreachable";
        co_return out;
    }
    for (auto& n : needs) {
        n.key.insert(0, m_options.key_prefix);
    }
    auto r = co_await take_all(*m_client, needs, k_minute_ms);
    if (!r) {
        m_health.note_failure(r.error());
        out.error = r.error();
        co_return out;
    }
    m_health.note_success();
    out.verdict = r->allowed ? Verdict::allowed : Verdict::refused;
    out.blocked = r->blocked;
    out.retry_after_ms = r->retry_after_ms;
    co_return out;
}

void SharedLimits::give(std::string bucket, double capacity, double amount)
{
    if (amount == 0 || !m_health.up()) {
        return;  // during an outage the correction is lost: the bucket refills within a minute anyway
    }
    bucket.insert(0, m_options.key_prefix);
    asio::co_spawn(
        m_io,
        [this, bucket = std::move(bucket), capacity, amount]() -> asio::awaitable<void> {
            auto r = co_await give_tokens(*m_client, bucket, capacity, k_minute_ms, amount);
            if (!r) {
                m_health.note_failure(r.error());
            }
        },
        asio::detached);
}

asio::awaitable<SharedLimits::BudgetOutcome> SharedLimits::hold(std::vector<BudgetHold> holds, double estimate_usd,
                                                                std::int64_t hold_ttl_ms)
{
    BudgetOutcome out;
    if (!m_health.should_try()) {
        out.error = "Redis at " + where(m_client->options()) + " is unreachable";
        co_return out;
    }
    for (auto& h : holds) {
        h.key.insert(0, m_options.budget_prefix);
    }
    std::string id = m_hold_prefix + std::to_string(m_next_hold.fetch_add(1, std::memory_order_relaxed));
    auto r = co_await hold_budgets(*m_client, holds, id, estimate_usd, hold_ttl_ms);
    if (!r) {
        m_health.note_failure(r.error());
        out.error = r.error();
        co_return out;
    }
    m_health.note_success();
    out.verdict = r->allowed ? Verdict::allowed : Verdict::refused;
    out.blocked = r->blocked;
    out.committed_usd = r->committed_usd;
    if (r->allowed) {
        out.hold_id = std::move(id);
    }
    co_return out;
}

void SharedLimits::settle(std::vector<std::string> keys, std::string hold_id, double cost_usd,
                          std::function<void(const std::vector<double>&)> done)
{
    if (keys.empty() || hold_id.empty()) {
        return;
    }
    for (auto& k : keys) {
        k.insert(0, m_options.budget_prefix);
    }
    // Sent even during an outage: a settle lost while Redis is down leaves a hold that
    // lapses on its own, and a spend the next seeding of the period does not see.
    asio::co_spawn(
        m_io,
        [this, keys = std::move(keys), hold_id = std::move(hold_id), cost_usd,
         done = std::move(done)]() -> asio::awaitable<void> {
            auto r = co_await settle_budgets(*m_client, keys, hold_id, cost_usd);
            if (!r) {
                m_health.note_failure(r.error());
                co_return;
            }
            if (done) {
                done(*r);
            }
        },
        asio::detached);
}

SharedLimits::Ping SharedLimits::ping_blocking()
{
    return asio::co_spawn(m_io, ping(), asio::use_future).get();
}

asio::awaitable<SharedLimits::Ping> SharedLimits::ping()
{
    Ping p;
    std::vector<std::string> args;
    args.emplace_back("PING");
    const auto start = std::chrono::steady_clock::now();
    auto r = co_await m_client->command(std::move(args));
    p.latency_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
    if (!r) {
        m_health.note_failure(r.error());
        p.error = r.error();
        co_return p;
    }
    if (r->is_error()) {
        p.error = "Redis answered PING with an error: " + r->text;
        co_return p;
    }
    m_health.note_success();
    p.ok = true;
    co_return p;
}

}  // namespace aigw::daemon::cluster

// ClusterView against a real redis-server: breakers published and read back by another
// instance, heartbeats listed and removed on a clean stop, and an unreachable Redis.
#include "daemon/cluster/cluster_view.hpp"
#include "tests/unit/cluster/redis_server.hpp"

#include <doctest/doctest.h>

#include <condition_variable>
#include <mutex>
#include <thread>

using namespace aigw::daemon::cluster;
using namespace std::chrono_literals;

namespace {

/// What one ClusterView's poll handed over, waited for from the test thread.
struct Seen {
    std::mutex mu;
    std::condition_variable cv;
    std::map<std::string, std::chrono::milliseconds, std::less<>> open;
    int polls = 0;

    template <typename Pred>
    bool wait(Pred pred, std::chrono::milliseconds deadline = 3000ms)
    {
        std::unique_lock lock(mu);
        return cv.wait_for(lock, deadline, [&] { return pred(open); });
    }
};

ClusterViewOptions options(int port, const std::string& id, Seen& seen, std::vector<std::string>* log = nullptr)
{
    ClusterViewOptions o;
    o.redis.port = port;
    o.redis.connect_timeout = 250ms;
    o.redis.command_timeout = 250ms;
    o.prefix = "t:";
    o.instance_id = id;
    o.poll = 50ms;
    o.self = [id] { return nlohmann::json{{"port", 1000}, {"name", id}}; };
    o.on_open = [&seen](const std::map<std::string, std::chrono::milliseconds, std::less<>>& open) {
        std::lock_guard lock(seen.mu);
        seen.open = open;
        ++seen.polls;
        seen.cv.notify_all();
    };
    static std::mutex log_mu;
    o.log = [log](const std::string& line) {
        std::lock_guard lock(log_mu);
        if (log != nullptr) {
            log->push_back(line);
        }
    };
    return o;
}

}  // namespace

TEST_CASE("key rest targets round-trip and anything else is refused")
{
    const auto t = key_rest_target("ollama", 2, "llama3:8b");
    CHECK(t == "key:ollama:2:llama3:8b");
    auto r = parse_key_rest_target(t);
    REQUIRE(r);
    CHECK(r->provider == "ollama");
    CHECK(r->index == 2);
    CHECK(r->model == "llama3:8b");
    CHECK_FALSE(parse_key_rest_target("dep:openai/gpt-4o"));
    CHECK_FALSE(parse_key_rest_target("key:openai:x:gpt-4o"));
    CHECK_FALSE(parse_key_rest_target("key:openai:-1:gpt-4o"));
    CHECK_FALSE(parse_key_rest_target("key:openai:1:"));
    CHECK_FALSE(parse_key_rest_target("key::1:m"));
    CHECK(breaker_key("aigw:", "dep:a/b") == "aigw:cb:dep:a/b");
}

TEST_CASE("a breaker published by one view reaches another with its time left, and a close removes it")
{
    const int port = aigw::test::free_port();
    aigw::test::RedisServer redis(port);
    Seen seen_a;
    Seen seen_b;
    ClusterView a(options(port, "aaaa", seen_a));
    ClusterView b(options(port, "bbbb", seen_b));

    a.publish("dep:openai/gpt-4o", 2000ms);
    REQUIRE(seen_b.wait([](const auto& open) { return open.contains("dep:openai/gpt-4o"); }));
    {
        std::lock_guard lock(seen_b.mu);
        const auto left = seen_b.open.at("dep:openai/gpt-4o");
        CHECK(left > 1000ms);
        CHECK(left <= 2000ms);
    }
    a.publish("dep:openai/gpt-4o", 0ms);
    CHECK(seen_b.wait([](const auto& open) { return !open.contains("dep:openai/gpt-4o"); }));

    // An entry expires by itself: a short open period ends without a close.
    b.publish("key:openai:0:gpt-4o", 200ms);
    REQUIRE(seen_a.wait([](const auto& open) { return open.contains("key:openai:0:gpt-4o"); }));
    CHECK(seen_a.wait([](const auto& open) { return open.empty(); }));

    // Both heartbeats are listed by both.
    for (int i = 0; i < 100 && (a.instances().size() < 2 || b.instances().size() < 2); ++i) {
        std::this_thread::sleep_for(20ms);
    }
    const auto listed = b.instances();
    REQUIRE(listed.size() == 2);
    CHECK(listed[0].id == "aaaa");
    CHECK(listed[0].info["port"] == 1000);
    CHECK(listed[0].info["id"] == "aaaa");
    CHECK(listed[0].info["last_seen"].get<std::int64_t>() > 0);
    CHECK(listed[1].id == "bbbb");
    CHECK(a.reachable());
}

TEST_CASE("a view that stops takes its heartbeat with it")
{
    const int port = aigw::test::free_port();
    aigw::test::RedisServer redis(port);
    Seen seen_a;
    Seen seen_b;
    ClusterView a(options(port, "aaaa", seen_a));
    {
        ClusterView b(options(port, "bbbb", seen_b));
        for (int i = 0; i < 100 && a.instances().size() < 2; ++i) {
            std::this_thread::sleep_for(20ms);
        }
        REQUIRE(a.instances().size() == 2);
    }
    for (int i = 0; i < 100 && a.instances().size() != 1; ++i) {
        std::this_thread::sleep_for(20ms);
    }
    REQUIRE(a.instances().size() == 1);
    CHECK(a.instances()[0].id == "aaaa");
}

TEST_CASE("with Redis unreachable a view says so once and a publish is kept for when it answers")
{
    const int port = aigw::test::free_port();
    std::vector<std::string> log;
    Seen seen;
    {
        ClusterView v(options(port, "aaaa", seen, &log));
        v.publish("dep:a/b", 60'000ms);
        std::this_thread::sleep_for(400ms);
        CHECK_FALSE(v.reachable());
        CHECK(v.polls() == 0);
        {
            aigw::test::RedisServer redis(port);
            Seen other;
            ClusterView w(options(port, "bbbb", other));
            // The failed write is retried at a poll: the other view sees it.
            CHECK(other.wait([](const auto& open) { return open.contains("dep:a/b"); }, 3000ms));
            // v retries the write first in a poll and says it is back at that poll's end, so
            // the other view can see the write a moment before v is reachable again.
            bool back = v.reachable();
            for (int i = 0; i < 150 && !back; ++i) {
                std::this_thread::sleep_for(20ms);
                back = v.reachable();
            }
            CHECK(back);
        }
    }
    REQUIRE(log.size() >= 2);
    CHECK(log[0].find("no answer from Redis at 127.0.0.1:" + std::to_string(port)) != std::string::npos);
    CHECK(log[1].find("is back") != std::string::npos);
}

TEST_CASE("a poll reads the breaker and heartbeat indexes, never the keyspace: 20,000 other keys, no SCAN")
{
    const int port = aigw::test::free_port();
    aigw::test::RedisServer redis(port);
    RedisOptions ro;
    ro.port = port;
    // The rest of a busy cluster's keyspace: cache entries, buckets.
    auto filled = aigw::test::run([&](boost::asio::any_io_executor ex) -> boost::asio::awaitable<bool> {
        RedisClient client(ex, ro);
        std::vector<std::string> args = {
            "EVAL", "for i = 1, 20000 do redis.call('SET', 'aigw:cache:' .. i, 'x') end return 1", "0"};
        auto r = co_await client.command(std::move(args));
        std::vector<std::string> reset = {"CONFIG", "RESETSTAT"};
        auto z = co_await client.command(std::move(reset));
        co_return r && !r->is_error() && z && !z->is_error();
    });
    REQUIRE(filled);

    Seen seen_a;
    Seen seen_b;
    ClusterView a(options(port, "aaaa", seen_a));
    ClusterView b(options(port, "bbbb", seen_b));
    a.publish("dep:openai/gpt-4o", 2000ms);
    REQUIRE(seen_b.wait([](const auto& open) { return open.contains("dep:openai/gpt-4o"); }));
    for (int i = 0; i < 100 && b.instances().size() < 2; ++i) {
        std::this_thread::sleep_for(20ms);
    }
    CHECK(b.instances().size() == 2);
    // A closed breaker leaves its index (and an expired one on the next poll).
    a.publish("dep:openai/gpt-4o", 0ms);
    REQUIRE(seen_b.wait([](const auto& open) { return open.empty(); }));

    auto stats = aigw::test::run([&](boost::asio::any_io_executor ex) -> boost::asio::awaitable<std::string> {
        RedisClient client(ex, ro);
        std::vector<std::string> args = {"INFO", "commandstats"};
        auto r = co_await client.command(std::move(args));
        std::vector<std::string> card = {"ZCARD", "t:cb-index"};
        auto c = co_await client.command(std::move(card));
        co_return (r ? r->text : std::string("no answer")) + "\ncb-index " +
            (c && c->type == RespValue::Type::integer ? std::to_string(c->integer) : std::string("?"));
    });
    INFO(stats);
    CHECK(stats.find("cmdstat_evalsha") != std::string::npos);  // the polls ran
    CHECK(stats.find("cmdstat_scan") == std::string::npos);
    CHECK(stats.find("cmdstat_keys") == std::string::npos);
    CHECK(stats.find("cb-index 0") != std::string::npos);
}

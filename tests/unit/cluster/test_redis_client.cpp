// The asynchronous Redis client against a real redis-server (Debian's) on a free loopback
// port: commands, Lua scripts, AUTH, a server that goes away and comes back, a deadline.

#include "daemon/cluster/rate_limit.hpp"
#include "daemon/cluster/redis_client.hpp"
#include "tests/unit/cluster/redis_server.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>
#include <doctest/doctest.h>

#include <atomic>
#include <thread>

namespace asio = boost::asio;
using namespace aigw::daemon::cluster;
using aigw::test::free_port;
using aigw::test::RedisServer;
using aigw::test::run;

TEST_CASE("redis URLs: host, port, db, credentials; errors never show the password")
{
    auto o = parse_redis_url("redis://user:s3cret@redis.internal:6380/2");
    REQUIRE(o.has_value());
    CHECK(o->host == "redis.internal");
    CHECK(o->port == 6380);
    CHECK(o->db == 2);
    CHECK(o->username == "user");
    CHECK(o->password == "s3cret");
    auto bare = parse_redis_url("redis://127.0.0.1");
    REQUIRE(bare.has_value());
    CHECK(bare->port == 6379);
    CHECK(bare->password.empty());
    auto bad = parse_redis_url("redis://:s3cret@host:99999");
    REQUIRE_FALSE(bad.has_value());
    CHECK(bad.error().find("s3cret") == std::string::npos);
    CHECK_FALSE(parse_redis_url("http://host").has_value());
    CHECK_FALSE(parse_redis_url("redis://host/x").has_value());
}

TEST_CASE("commands and a Lua script round-trip through a real redis-server")
{
    const int port = free_port();
    RedisServer server(port);
    RedisOptions o;
    o.port = port;
    const auto results = run([&](asio::any_io_executor ex) -> asio::awaitable<std::vector<RespValue>> {
        RedisClient c(ex, o);
        // (GCC 12: no braced lists or string literals inside a co_await expression.)
        const std::vector<std::vector<std::string>> commands{
            {"SET", "k", std::string("v\r\n\0", 4)},
            {"GET", "k"},
            {"INCRBY", "n", "5"},
            {"EVAL", "return redis.call('INCRBY', KEYS[1], ARGV[1])", "1", "n", "2"},
            {"NOSUCHCOMMAND"},
            {"GET", "missing"}};
        std::vector<RespValue> out;
        for (const auto& cmd : commands) {
            auto r = co_await c.command(cmd);
            out.push_back(r.value());
        }
        co_return out;
    });
    REQUIRE(results.size() == 6);
    CHECK(results[0].text == "OK");
    CHECK(results[1].text == std::string("v\r\n\0", 4));
    CHECK(results[2].integer == 5);
    CHECK(results[3].integer == 7);
    CHECK(results[4].is_error());
    CHECK(results[5].is_nil());
}

TEST_CASE("AUTH from the URL; a wrong password is an error without the password in it")
{
    const int port = free_port();
    RedisServer server(port, "right-password");
    auto ping = [&](const std::string& password) {
        RedisOptions o;
        o.port = port;
        o.password = password;
        return run([&](asio::any_io_executor ex) -> asio::awaitable<std::expected<RespValue, std::string>> {
            RedisClient c(ex, o);
            std::vector<std::string> ping_cmd(1, "PING");
            co_return co_await c.command(std::move(ping_cmd));
        });
    };
    auto ok = ping("right-password");
    REQUIRE(ok.has_value());
    CHECK(ok->text == "PONG");
    auto wrong = ping("wrong-password");
    REQUIRE_FALSE(wrong.has_value());
    CHECK(wrong.error().find("wrong-password") == std::string::npos);
    CHECK(wrong.error().find("credentials") != std::string::npos);
}

TEST_CASE("a Redis that is down is an error within the connect timeout; when it is back, commands work again")
{
    const int port = free_port();
    RedisOptions o;
    o.port = port;
    o.connect_timeout = std::chrono::milliseconds(300);
    asio::io_context io;
    RedisClient c(io.get_executor(), o);
    auto ping = [&] {
        std::vector<std::string> ping_cmd(1, "PING");
        auto fut = asio::co_spawn(io, c.command(std::move(ping_cmd)), asio::use_future);
        io.restart();
        io.run();
        return fut.get();
    };
    auto down = ping();
    REQUIRE_FALSE(down.has_value());
    CHECK(down.error().find("cannot connect to Redis") != std::string::npos);
    {
        RedisServer server(port);
        auto up = ping();
        REQUIRE(up.has_value());
        CHECK(up->text == "PONG");
    }
    // Stopped with an idle connection in the pool: the reuse fails, the fresh connect too.
    auto gone = ping();
    CHECK_FALSE(gone.has_value());
    RedisServer again(port);
    auto back = ping();  // the dead idle connection is dropped and a new one made
    REQUIRE(back.has_value());
    CHECK(back->text == "PONG");
}

TEST_CASE("a shared bucket of 30 per minute lets exactly 30 of 100 concurrent takes through, from three instances")
{
    const int port = free_port();
    RedisServer server(port);
    RedisOptions o;
    o.port = port;
    std::atomic<int> allowed{0};
    std::atomic<int> refused_with_retry{0};
    std::atomic<int> errors{0};
    std::vector<std::thread> instances;
    for (int instance = 0; instance < 3; ++instance) {
        const int takes = instance == 0 ? 34 : 33;
        instances.emplace_back([&, takes] {
            // An instance: its own event loop and its own client, as in a separate aigwd.
            asio::io_context io;
            RedisClient c(io.get_executor(), o);
            for (int i = 0; i < takes; ++i) {
                asio::co_spawn(
                    io,
                    [&]() -> asio::awaitable<void> {
                        auto r = co_await take_tokens(c, "aigw:rl:vk_test:rpm", 30, 60'000);
                        if (!r) {
                            ++errors;
                        } else if (r->allowed) {
                            ++allowed;
                        } else if (r->retry_after_ms > 0) {
                            ++refused_with_retry;
                        }
                    },
                    asio::detached);
            }
            io.run();
        });
    }
    for (auto& t : instances) {
        t.join();
    }
    CHECK(errors.load() == 0);
    CHECK(allowed.load() == 30);
    CHECK(refused_with_retry.load() == 70);
}

TEST_CASE("the bucket refills at its rate, by the Redis server's clock")
{
    const int port = free_port();
    RedisServer server(port);
    RedisOptions o;
    o.port = port;
    const auto counts = run([&](asio::any_io_executor ex) -> asio::awaitable<std::pair<int, int>> {
        RedisClient c(ex, o);
        int first = 0;
        for (int i = 0; i < 12; ++i) {
            first += (co_await take_tokens(c, "aigw:rl:refill", 10, 1000)).value().allowed ? 1 : 0;
        }
        asio::steady_timer t(ex, std::chrono::milliseconds(350));  // 3.5 tokens come back
        co_await t.async_wait(asio::use_awaitable);
        int second = 0;
        for (int i = 0; i < 10; ++i) {
            second += (co_await take_tokens(c, "aigw:rl:refill", 10, 1000)).value().allowed ? 1 : 0;
        }
        co_return std::pair{first, second};
    });
    CHECK(counts.first == 10);
    CHECK(counts.second >= 3);
    CHECK(counts.second <= 4);
}

TEST_CASE("take_all takes from every bucket or from none, and a refusal leaves the buckets as they were")
{
    const int port = free_port();
    RedisServer server(port);
    RedisOptions o;
    o.port = port;
    auto result = run([&](asio::any_io_executor ex) -> asio::awaitable<std::vector<std::string>> {
        RedisClient redis(ex, o);
        std::vector<std::string> log;
        // Two buckets: a roomy one (100) and a tight one (2).
        std::vector<BucketNeed> both{{"t:roomy", 100, 1}, {"t:tight", 2, 1}};
        for (int i = 0; i < 3; ++i) {
            auto r = co_await take_all(redis, both, 60'000);
            log.push_back(
                !r ? "error: " + r.error()
                   : (r->allowed ? std::string("allowed")
                                 : "refused " + std::to_string(r->blocked) + " " + std::to_string(r->retry_after_ms)));
        }
        std::vector<std::string> hget{"HGET", "t:roomy", "tokens"};
        auto roomy = co_await redis.command(hget);
        log.push_back(roomy ? roomy->text : roomy.error());
        co_return log;
    });
    REQUIRE(result.size() == 4);
    CHECK(result[0] == "allowed");
    CHECK(result[1] == "allowed");
    // The third waits for the tight bucket (index 1): one token in 30 s at 2 a minute.
    CHECK(result[2].starts_with("refused 1 "));
    const auto wait = std::stoll(result[2].substr(std::string("refused 1 ").size()));
    CHECK(wait > 29'000);
    CHECK(wait <= 30'000);
    // Two takes from the roomy bucket, not three: the refused one took nothing (a little
    // refill may show in the decimals).
    CHECK(std::stod(result[3]) >= 98.0);
    CHECK(std::stod(result[3]) < 98.1);
}

TEST_CASE("a take larger than the whole bucket waits for a full bucket, then leaves it in debt; give_tokens repays")
{
    const int port = free_port();
    RedisServer server(port);
    RedisOptions o;
    o.port = port;
    auto result = run([&](asio::any_io_executor ex) -> asio::awaitable<std::vector<std::string>> {
        RedisClient redis(ex, o);
        std::vector<std::string> log;
        std::vector<BucketNeed> big{{"t:tpm", 1000, 5000}};
        auto first = co_await take_all(redis, big, 60'000);
        log.push_back(first && first->allowed ? "allowed" : "refused");
        std::vector<BucketNeed> small{{"t:tpm", 1000, 1}};
        auto second = co_await take_all(redis, small, 60'000);
        log.push_back(second && second->allowed ? "allowed" : "refused");
        // The request used 100 tokens of the 5000 it reserved: 4900 come back.
        auto gave = co_await give_tokens(redis, "t:tpm", 1000, 60'000, 4900);
        log.push_back(gave ? "gave" : gave.error());
        auto third = co_await take_all(redis, small, 60'000);
        log.push_back(third && third->allowed ? "allowed" : "refused");
        co_return log;
    });
    REQUIRE(result.size() == 4);
    CHECK(result[0] == "allowed");  // a full bucket lets a request larger than itself through
    CHECK(result[1] == "refused");  // which leaves it 4000 in debt
    CHECK(result[2] == "gave");
    CHECK(result[3] == "allowed");  // 900 left after the correction
}

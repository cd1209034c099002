// The shared budget scripts against a real redis-server (Debian's) on a free loopback port:
// a hold is all or none over every budget, concurrent holds from three instances never
// pass a budget, settling turns a hold into the real cost, the first hold seeds a period
// and later ones do not add their own, and a hold never settled lapses.

#include "daemon/cluster/shared_budget.hpp"
#include "tests/unit/cluster/redis_server.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>
#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <thread>

namespace asio = boost::asio;
using namespace aigw::daemon::cluster;
using aigw::test::free_port;
using aigw::test::RedisServer;
using aigw::test::run;

namespace {

std::int64_t in_a_day_ms()
{
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               (std::chrono::system_clock::now() + std::chrono::hours(24)).time_since_epoch())
        .count();
}

BudgetHold budget(std::string key, double limit, double seed = 0)
{
    return BudgetHold{.key = std::move(key), .limit_usd = limit, .seed_usd = seed, .expire_at_ms = in_a_day_ms()};
}

/// GET `key` as a number (-1 when it is missing).
double number_at(RedisOptions o, const std::string& key)
{
    return run([&](asio::any_io_executor ex) -> asio::awaitable<double> {
        RedisClient c(ex, o);
        std::vector<std::string> args{"GET", key};  // not a braced temporary in co_await (GCC 12)
        auto r = co_await c.command(std::move(args));
        co_return r && r->type == RespValue::Type::bulk ? std::stod(r->text) : -1.0;
    });
}

std::int64_t holds_in(RedisOptions o, const std::string& key)
{
    return run([&](asio::any_io_executor ex) -> asio::awaitable<std::int64_t> {
        RedisClient c(ex, o);
        std::vector<std::string> args{"ZCARD", key + ":held"};
        auto r = co_await c.command(std::move(args));
        co_return r ? r->integer : -1;
    });
}

}  // namespace

TEST_CASE("a budget hold is all or none: one budget that does not fit leaves the others untouched")
{
    const int port = free_port();
    RedisServer server(port);
    RedisOptions o;
    o.port = port;
    auto hold = [&](std::vector<BudgetHold> holds, std::string id, double est) {
        return run([&](asio::any_io_executor ex) -> asio::awaitable<std::expected<BudgetVerdict, std::string>> {
            RedisClient c(ex, o);
            co_return co_await hold_budgets(c, holds, id, est, 60'000);
        });
    };
    auto first = hold({budget("key", 1.0), budget("total", 0.5)}, "r1", 0.4);
    REQUIRE(first);
    CHECK(first->allowed);
    auto second = hold({budget("key", 1.0), budget("total", 0.5)}, "r2", 0.2);
    REQUIRE(second);
    CHECK_FALSE(second->allowed);
    CHECK(second->blocked == 1);  // the total: 0.4 held + 0.2 > 0.5
    CHECK(second->committed_usd == doctest::Approx(0.4));
    CHECK(holds_in(o, "key") == 1);  // r2 was not held in "key" either
    CHECK(holds_in(o, "total") == 1);

    // Settled to its real cost: the hold goes, the spend grows by what it cost.
    auto spent = run([&](asio::any_io_executor ex) -> asio::awaitable<std::expected<std::vector<double>, std::string>> {
        RedisClient c(ex, o);
        const std::vector<std::string> keys{"key", "total"};
        co_return co_await settle_budgets(c, keys, "r1", 0.25);
    });
    REQUIRE(spent);
    REQUIRE(spent->size() == 2);
    CHECK((*spent)[0] == doctest::Approx(0.25));
    CHECK(holds_in(o, "key") == 0);
    CHECK(number_at(o, "total") == doctest::Approx(0.25));
    auto third = hold({budget("key", 1.0), budget("total", 0.5)}, "r3", 0.2);
    REQUIRE(third);
    CHECK(third->allowed);  // 0.25 + 0.2 fits 0.5 now
    // A release (cost 0) only drops the hold.
    run([&](asio::any_io_executor ex) -> asio::awaitable<std::expected<std::vector<double>, std::string>> {
        RedisClient c(ex, o);
        const std::vector<std::string> keys{"key", "total"};
        co_return co_await settle_budgets(c, keys, "r3", 0);
    });
    CHECK(holds_in(o, "total") == 0);
    CHECK(number_at(o, "total") == doctest::Approx(0.25));
}

TEST_CASE("concurrent holds from three instances never pass a budget: exactly as many as fit are held")
{
    const int port = free_port();
    RedisServer server(port);
    RedisOptions o;
    o.port = port;
    std::atomic<int> allowed{0};
    std::atomic<int> refused{0};
    std::atomic<int> errors{0};
    std::vector<std::thread> instances;
    for (int instance = 0; instance < 3; ++instance) {
        instances.emplace_back([&, instance] {
            asio::io_context io;
            RedisClient c(io.get_executor(), o);
            for (int i = 0; i < 20; ++i) {
                asio::co_spawn(
                    io,
                    [&, instance, i]() -> asio::awaitable<void> {
                        const std::vector<BudgetHold> holds = {budget("vk:day", 1.0)};
                        auto r = co_await hold_budgets(c, holds, std::to_string(instance) + "-" + std::to_string(i),
                                                       0.125, 60'000);
                        if (!r) {
                            ++errors;
                        } else if (r->allowed) {
                            ++allowed;
                        } else {
                            ++refused;
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
    CHECK(allowed.load() == 8);  // 8 x $0.125 = the $1 budget
    CHECK(refused.load() == 52);
    CHECK(holds_in(o, "vk:day") == 8);
}

TEST_CASE("the first hold of a period seeds its spend; later instances do not add theirs")
{
    const int port = free_port();
    RedisServer server(port);
    RedisOptions o;
    o.port = port;
    auto hold = [&](double seed, std::string id) {
        return run([&](asio::any_io_executor ex) -> asio::awaitable<std::expected<BudgetVerdict, std::string>> {
            RedisClient c(ex, o);
            const std::vector<BudgetHold> holds{budget("seeded", 1.0, seed)};
            co_return co_await hold_budgets(c, holds, id, 0.1, 60'000);
        });
    };
    REQUIRE(hold(0.7, "a")->allowed);
    CHECK(number_at(o, "seeded") == doctest::Approx(0.7));
    REQUIRE(hold(0.5, "b")->allowed);                       // 0.7 + 0.1 + 0.1 fits
    CHECK(number_at(o, "seeded") == doctest::Approx(0.7));  // not 1.2
    auto third = hold(0.0, "c");
    REQUIRE(third);
    CHECK(third->allowed);
    auto fourth = hold(0.0, "d");
    REQUIRE(fourth);
    CHECK_FALSE(fourth->allowed);  // 0.7 + 3 x 0.1 held: a fourth passes $1
}

TEST_CASE("a hold never settled lapses after its lifetime and frees the budget")
{
    const int port = free_port();
    RedisServer server(port);
    RedisOptions o;
    o.port = port;
    auto hold = [&](std::string id, std::int64_t ttl_ms) {
        return run([&](asio::any_io_executor ex) -> asio::awaitable<std::expected<BudgetVerdict, std::string>> {
            RedisClient c(ex, o);
            const std::vector<BudgetHold> holds{budget("lapsing", 1.0)};
            co_return co_await hold_budgets(c, holds, id, 0.8, ttl_ms);
        });
    };
    REQUIRE(hold("dead-instance", 200)->allowed);
    CHECK_FALSE(hold("too-soon", 60'000)->allowed);
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    CHECK(hold("after", 60'000)->allowed);
}

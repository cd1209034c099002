// Budgets shared through Redis ([cluster] redis_url): three aigwd on one real redis-server
// hold a virtual key's budget across instances, each request's estimated cost held in Redis
// at admission and settled to its real cost when it is recorded; Redis going away is
// survived as [cluster] redis_down says (the local tracker, or 503).

#include "tests/integration/cluster_harness.hpp"

#include <doctest/doctest.h>

#include <cmath>

using aigw::test::ClusterRedis;
using aigw::test::Daemon;
using aigw::test::DaemonOptions;
using aigw::test::FakeUpstream;
using aigw::test::long_body;
using aigw::test::run_command;
using nlohmann::json;

namespace {

DaemonOptions clustered(const ClusterRedis& redis, const std::string& redis_down = "local")
{
    DaemonOptions o;
    o.config_toml = "[cluster]\nredis_url = \"" + redis.url() + "\"\nredis_down = \"" + redis_down + "\"\n";
    return o;
}

constexpr double k_estimate_usd = 2500 * 0.15e-6 + 10 * 0.60e-6;

/// Polls `fn` until it is true or `ms` pass.
bool eventually(const std::function<bool()>& fn, int ms = 3000)
{
    for (int waited = 0; waited <= ms; waited += 50) {
        if (fn()) {
            return true;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return false;
}

}  // namespace

TEST_CASE("three instances on one Redis: a key's budget is not overshot by 50 concurrent requests spread over them")
{
    ClusterRedis redis;
    FakeUpstream up;
    Daemon a(&up, clustered(redis));
    Daemon b(&up, clustered(redis));
    Daemon c(&up, clustered(redis));
    const std::vector<const Daemon*> all = {&a, &b, &c};
    // About 10 requests' estimates; each instance alone would let 10 through (30 together).
    const double budget = 0.004;
    const auto key = create_key(a, {"--name", "team", "--budget", "0.004/day", "--models", "openai/gpt-4o-mini"});
    // Known everywhere once a model outside its allow-list gets 403 (not 401) on all three:
    // that costs nothing and takes nothing from the budget.
    REQUIRE(aigw::test::until_known(all, key.secret, "mock/echo", 403));

    const json body = long_body();
    auto results = aigw::test::fire_concurrently(50, [&](int i) {
        return all[static_cast<std::size_t>(i) % 3]->post("/v1/chat/completions", body, key.secret);
    });

    int ok = 0;
    int refused = 0;
    double spent = 0;
    int per_instance_ok[3] = {0, 0, 0};
    for (std::size_t i = 0; i < results.size(); ++i) {
        const auto& r = results[i];
        REQUIRE(r.answered);
        if (r.status == 200) {
            ++ok;
            ++per_instance_ok[i % 3];
            const double cost = std::stod(r.cost_usd);
            CHECK(cost > 0);
            CHECK(cost <= k_estimate_usd);
            spent += cost;
            continue;
        }
        CHECK(r.status == 402);
        const json parsed = json::parse(r.body);
        const json err = parsed["error"];
        CHECK(err["code"] == "budget_exceeded");
        CHECK(err["message"].get<std::string>().find("'team'") != std::string::npos);
        ++refused;
    }
    INFO("ok " << ok << " (A " << per_instance_ok[0] << ", B " << per_instance_ok[1] << ", C " << per_instance_ok[2]
               << "), spent $" << spent);
    CHECK(ok + refused == 50);
    // The documented bound: spend may pass the budget only by what requests in flight cost
    // beyond their estimates. Every request here costs less than its estimate: bound 0.
    CHECK(spent <= budget + 1e-12);
    // At least as many as fit on their estimates all at once; no more than fit on real costs.
    CHECK(ok >= static_cast<int>(std::floor(budget / k_estimate_usd)));
    CHECK(ok <= static_cast<int>(std::floor(budget / 0.000300)));

    // Every hold was settled to its real cost: Redis's spend is the sum of the answers' costs.
    const std::string spend_key = "aigw:budget:key:" + key.id + ":day:" +
                                  std::to_string(std::chrono::duration_cast<std::chrono::hours>(
                                                     std::chrono::system_clock::now().time_since_epoch())
                                                     .count() /
                                                 24);
    CHECK(eventually([&] { return redis.cli({"ZCARD", spend_key + ":held"}).find('0') == 0; }));
    const std::string in_redis = redis.cli({"GET", spend_key});
    REQUIRE_MESSAGE(!in_redis.empty(), "no spend counter " << spend_key);
    CHECK(std::stod(in_redis) == doctest::Approx(spent).epsilon(1e-6));
    const std::string ttl = redis.cli({"PTTL", spend_key});
    CHECK(std::stoll(ttl) > 0);  // forgotten after its period (plus a day)

    // Each instance's own ledger has its rows (written in the background): aigw cost on
    // the three adds up to the spend.
    double ledgers = 0;
    CHECK(eventually([&] {
        ledgers = 0;
        for (const Daemon* d : all) {
            auto report = run_command({AIGW_PATH, "cost", "--json"}, aigw::test::cli_env(*d));
            const json j = json::parse(report.out, nullptr, false);
            if (report.exit_code != 0 || !j.is_object()) {
                return false;
            }
            ledgers += j["total"].value("cost_usd", 0.0);
        }
        return std::fabs(ledgers - spent) < 1e-9;
    }));
    INFO("ledgers $" << ledgers);
}

TEST_CASE("a shared budget with Redis down: redis_down = local uses the instance's own tracker, refuse answers 503")
{
    ClusterRedis redis;
    FakeUpstream up;
    Daemon local(&up, clustered(redis, "local"));
    Daemon strict(&up, clustered(redis, "refuse"));
    const auto lk = create_key(local, {"--name", "loose", "--budget", "0.0005/day"});
    const auto sk = create_key(strict, {"--name", "strict", "--budget", "0.0005/day"});
    REQUIRE(aigw::test::until_known({&local}, lk.secret, "mock/echo", 200));
    REQUIRE(aigw::test::until_known({&strict}, sk.secret, "mock/echo", 200));
    redis.kill();

    // Local: the first fits this instance's own tracker, the second does not (402, not 503).
    auto first = local.post("/v1/chat/completions", long_body(), lk.secret);
    REQUIRE(first);
    CHECK(first->status == 200);
    auto second = local.post("/v1/chat/completions", long_body(), lk.secret);
    REQUIRE(second);
    CHECK(second->status == 402);
    CHECK(
        eventually([&] { return aigw::test::slurp(local.log_file()).find("REDIS UNREACHABLE") != std::string::npos; }));

    auto refused = strict.post("/v1/chat/completions", long_body(), sk.secret);
    REQUIRE(refused);
    CHECK(refused->status == 503);
    const json err = json::parse(refused->body)["error"];
    CHECK(err["code"] == "budget_store_unavailable");
    CHECK(err["message"].get<std::string>().find("redis_down") != std::string::npos);
    // The gateway key is under no budget: it does not need Redis.
    auto admin = strict.post("/v1/chat/completions", long_body());
    REQUIRE(admin);
    CHECK(admin->status == 200);
}

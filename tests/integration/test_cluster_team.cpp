// A whole team setup: three aigwd on loopback sharing one real redis-server and one real
// PostgreSQL ([cluster] redis_url and postgres_url together), as the README's "Running aigw
// for a team" configures them. Each engine is tested alone in test_cluster_*.cpp; this checks
// that together they give the team what the issue asks: a key made on one works on all and
// is stored in PostgreSQL, its rpm holds across the three, a cached answer is shared, a
// revocation reaches all, and aigw cost and aigw logs on any instance count every request.

#include "tests/integration/cluster_harness.hpp"
#include "tests/integration/harness.hpp"
#include "tests/integration/pg_server.hpp"

#include <SQLiteCpp/SQLiteCpp.h>
#include <doctest/doctest.h>

#include <cmath>
#include <thread>

using aigw::test::cli_env;
using aigw::test::ClusterRedis;
using aigw::test::Daemon;
using aigw::test::DaemonOptions;
using aigw::test::FakeUpstream;
using aigw::test::PgServer;
using aigw::test::run_command;
using nlohmann::json;
using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

namespace {

json chat_body(const std::string& model, const std::string& text = "hello team")
{
    return {{"model", model}, {"messages", json::array({{{"role", "user"}, {"content", text}}})}};
}

/// Final-attempt rows in an instance's own SQLite ledger.
long long local_requests(const Daemon& d)
{
    SQLite::Database db((d.data_dir() / "ledger.db").string(), SQLite::OPEN_READONLY);
    return db.execAndGet("SELECT count(*) FROM requests WHERE final_attempt = 1").getInt64();
}

}  // namespace

TEST_CASE("a team on one Redis and one PostgreSQL: keys, rpm, cache, revocation, cost and logs hold across three")
{
    if (auto why = PgServer::unavailable()) {
        FAIL("no PostgreSQL to test against: " << *why
                                               << "; run packaging/install-deps.sh --test (Debian's postgresql)");
    }
    ClusterRedis redis;
    PgServer pg;
    FakeUpstream up;
    const std::string toml = "[cluster]\nredis_url = \"" + redis.url() + "\"\npostgres_url = \"" + pg.url() + "\"\n";
    Daemon a(&up, DaemonOptions{.config_toml = toml});
    Daemon b(&up, DaemonOptions{.config_toml = toml});
    Daemon c(&up, DaemonOptions{.config_toml = toml});
    const Daemon* all[] = {&a, &b, &c};

    // A key made through A, stored in PostgreSQL, known to B and C (a model outside its
    // allow-list gets 403 there instead of 401; that takes nothing from its rpm).
    auto made = run_command({AIGW_PATH, "--data-dir", a.data_dir().string(), "keys", "create", "--json", "--name",
                             "team", "--rpm", "30", "--models", "mock/echo"},
                            cli_env(a));
    REQUIRE_MESSAGE(made.exit_code == 0, made.err);
    const json key = json::parse(made.out);
    const std::string secret = key["key"].get<std::string>();
    CHECK(pg.query("SELECT count(*) FROM aigw_keys WHERE id = '" + key["id"].get<std::string>() + "'") == "1");
    CHECK(pg.query("SELECT count(*) FROM aigw_keys WHERE record LIKE '%" + secret + "%'") == "0");  // hash only
    bool known = false;
    for (const auto start = Clock::now(); !known && Clock::now() - start < 5s;) {
        known = true;
        for (const Daemon* d : all) {
            auto r = d->post("/v1/chat/completions", chat_body("mock/other"), secret);
            known = known && r && r->status == 403;
        }
        if (!known) {
            std::this_thread::sleep_for(50ms);
        }
    }
    REQUIRE_MESSAGE(known, "the key made through A did not reach B and C within 5 s");

    // Its rpm is the cluster's: 30 of 100 concurrent requests spread over the three.
    const auto started = Clock::now();
    const auto answers = aigw::test::fire_concurrently(
        100, [&](int i) { return all[i % 3]->post("/v1/chat/completions", chat_body("mock/echo"), secret); });
    const double elapsed_s = std::chrono::duration<double>(Clock::now() - started).count();
    int ok = 0;
    int limited = 0;
    for (const auto& x : answers) {
        ok += x.status == 200;
        limited += x.status == 429;
    }
    INFO("elapsed " << elapsed_s << " s");
    CHECK(ok >= 30);
    CHECK(ok <= 30 + static_cast<int>(std::floor(elapsed_s / 2.0)));  // one refill every 2 s
    CHECK(ok + limited == 100);

    // An answer cached through B is a HIT on C (asked for per request: the cache is off).
    auto cached = [&](const Daemon& d) {
        auto cli = d.client();
        return cli.Post("/v1/chat/completions", {{"x-aigw-cache", "on"}},
                        chat_body("openai/gpt-4o-mini", "one answer for the team").dump(), "application/json");
    };
    auto miss = cached(b);
    REQUIRE(miss);
    REQUIRE(miss->status == 200);
    CHECK(miss->get_header_value("x-aigw-cache") == "MISS");
    std::string hit_state;
    for (const auto start = Clock::now(); hit_state != "HIT" && Clock::now() - start < 3s;) {
        auto r = cached(c);
        REQUIRE(r);
        hit_state = r->get_header_value("x-aigw-cache");
        if (hit_state != "HIT") {
            std::this_thread::sleep_for(50ms);
        }
    }
    CHECK(hit_state == "HIT");

    // Revoked through C: refused by every instance within about a second.
    auto revoked = run_command({AIGW_PATH, "--data-dir", c.data_dir().string(), "keys", "revoke", "team"}, cli_env(c));
    REQUIRE_MESSAGE(revoked.exit_code == 0, revoked.err);
    bool refused = false;
    for (const auto start = Clock::now(); !refused && Clock::now() - start < 1500ms;) {
        refused = true;
        for (const Daemon* d : all) {
            auto r = d->post("/v1/chat/completions", chat_body("mock/echo"), secret);
            refused = refused && r && r->status == 401;
        }
        if (!refused) {
            std::this_thread::sleep_for(50ms);
        }
    }
    CHECK(refused);

    // aigw cost and aigw logs on any instance count every request any of them recorded.
    long long recorded = 0;
    for (const Daemon* d : all) {
        recorded += local_requests(*d);
    }
    REQUIRE(recorded >= 100);
    for (const Daemon* d : all) {
        long long counted = -1;
        for (const auto start = Clock::now(); counted != recorded && Clock::now() - start < 10s;) {
            auto r = run_command({AIGW_PATH, "cost", "--json"}, cli_env(*d));
            REQUIRE_MESSAGE(r.exit_code == 0, r.err);
            counted = json::parse(r.out)["total"]["requests"].get<long long>();
            if (counted != recorded) {
                std::this_thread::sleep_for(100ms);
            }
        }
        CHECK(counted == recorded);
        auto logs = run_command({AIGW_PATH, "logs", "--json", "-n", "10000"}, cli_env(*d));
        REQUIRE_MESSAGE(logs.exit_code == 0, logs.err);
        CHECK(static_cast<long long>(json::parse(logs.out).size()) == recorded);
    }

    // aigw status: the three instances, Redis and PostgreSQL reachable, keys in PostgreSQL.
    auto st = run_command({AIGW_PATH, "status", "--json"}, cli_env(a));
    REQUIRE_MESSAGE(st.exit_code == 0, st.err);
    const json cl = json::parse(st.out)["cluster"];
    CHECK(cl["instances"].size() == 3);
    CHECK(cl["redis"]["reachable"] == true);
    CHECK(cl["postgres"]["reachable"] == true);
    CHECK(cl["keys"]["shared_through"].get<std::string>().find("PostgreSQL") != std::string::npos);
}

// Circuit breakers and resting provider keys shared by three aigwd through one real
// redis-server ([cluster] redis_url), and the cluster in `aigw status`: a circuit opened on
// one instance is skipped by the others (nothing sent upstream) within a second and called
// again after its open period; a key rested after a 429 on one rests on all; status lists
// every live instance and the health of Redis and PostgreSQL.

#include "tests/integration/cluster_harness.hpp"
#include "tests/integration/pg_server.hpp"

#include <doctest/doctest.h>

#include <set>
#include <thread>

using aigw::test::cli_env;
using aigw::test::Daemon;
using aigw::test::DaemonOptions;
using aigw::test::FakeUpstream;
using aigw::test::run_command;
using nlohmann::json;
using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

namespace {

constexpr int k_cooldown_ms = 2000;

std::string cluster_toml(int redis_port, const std::string& extra = {})
{
    return "[cluster]\nredis_url = \"redis://127.0.0.1:" + std::to_string(redis_port) + "\"\n" + extra +
           "[routing]\nretries = 0\ncircuit_failures = 2\ncircuit_cooldown_ms = " + std::to_string(k_cooldown_ms) +
           "\n";
}

json chat(const std::string& model)
{
    return {{"model", model}, {"messages", json::array({{{"role", "user"}, {"content", "hello"}}})}};
}

httplib::Result post(const Daemon& d, const std::string& model, const httplib::Headers& headers = {})
{
    auto c = d.client();
    c.set_read_timeout(30, 0);
    httplib::Headers h = headers;
    h.emplace("Authorization", "Bearer test-gateway-key");
    return c.Post("/v1/chat/completions", h, chat(model).dump(), "application/json");
}

int upstream_hits(FakeUpstream& up, const std::string& needle)
{
    int n = 0;
    for (const auto& r : up.requests()) {
        n += r.value("body", "").find(needle) != std::string::npos ? 1 : 0;
    }
    return n;
}

json status_of(const Daemon& d)
{
    auto r = d.get("/aigw/v1/status");
    REQUIRE(r);
    REQUIRE(r->status == 200);
    return json::parse(r->body);
}

json deployment(const json& status, const std::string& id)
{
    for (const auto& dep : status["deployments"]) {
        if (dep["id"] == id) {
            return dep;
        }
    }
    return json::object();
}

/// Polls `d`'s status until `pred` holds for it; how long that took, or nullopt at `deadline`.
template <typename Pred>
std::optional<std::chrono::milliseconds> until(const Daemon& d, Pred pred, std::chrono::milliseconds deadline)
{
    const auto start = Clock::now();
    while (Clock::now() - start < deadline) {
        if (pred(status_of(d))) {
            return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start);
        }
        std::this_thread::sleep_for(20ms);
    }
    return std::nullopt;
}

}  // namespace

TEST_CASE("a circuit opened on one instance is skipped by the others within a second, and called again after it")
{
    const int redis_port = aigw::test::free_port();
    aigw::test::ClusterRedis redis(redis_port);
    FakeUpstream up;
    Daemon a(&up, DaemonOptions{.config_toml = cluster_toml(redis_port)});
    Daemon b(&up, DaemonOptions{.config_toml = cluster_toml(redis_port)});
    Daemon c(&up, DaemonOptions{.config_toml = cluster_toml(redis_port)});

    // Two 500s through A open A's breaker for gpt-4.1 (circuit_failures = 2).
    up.add_fault({{"kind", "500"}, {"count", 2}, {"model_contains", "gpt-4.1"}});
    CHECK(post(a, "openai/gpt-4.1")->status == 500);
    CHECK(post(a, "openai/gpt-4.1")->status == 500);
    const auto opened = Clock::now();
    REQUIRE(deployment(status_of(a), "openai/gpt-4.1")["state"] == "open");
    CHECK(redis.cli({"EXISTS", "aigw:cb:dep:openai/gpt-4.1"}).find('1') != std::string::npos);

    // B and C learn it from Redis, without a request of theirs failing first.
    for (const Daemon* d : {&b, &c}) {
        auto took = until(
            *d,
            [](const json& st) {
                const json dep = deployment(st, "openai/gpt-4.1");
                return dep.value("state", "") == "open" && dep.value("opened_elsewhere", false);
            },
            1000ms);
        CHECK_MESSAGE(took.has_value(), "the circuit opened on A was not open on an instance within 1 s");
        if (took) {
            MESSAGE("circuit seen open elsewhere after " << took->count() << " ms");
        }
    }
    // They fail fast as an open circuit does, without calling the upstream...
    for (const Daemon* d : {&b, &c}) {
        auto r = post(*d, "openai/gpt-4.1");
        REQUIRE(r);
        CHECK(r->status == 503);
        CHECK(json::parse(r->body)["error"]["code"] == "circuit_open");
    }
    // ...and with a fallback they serve from it.
    auto served = post(b, "openai/gpt-4.1", {{"x-aigw-fallback", "openai/gpt-4o-mini"}});
    REQUIRE(served);
    CHECK(served->status == 200);
    CHECK(served->get_header_value("x-aigw-fallback-reason").find("gpt-4.1") != std::string::npos);
    CHECK(upstream_hits(up, "gpt-4.1") == 2);  // only A's two failures reached the upstream

    // After the open period the others call it again (the fault is used up: it answers).
    std::this_thread::sleep_until(opened + std::chrono::milliseconds(k_cooldown_ms) + 500ms);
    auto again = post(c, "openai/gpt-4.1");
    REQUIRE(again);
    CHECK(again->status == 200);
    CHECK(upstream_hits(up, "gpt-4.1") == 3);
    // A's own trial closes its breaker (the shared entry expired with the open period).
    auto trial = post(a, "openai/gpt-4.1");
    REQUIRE(trial);
    CHECK(trial->status == 200);
    CHECK(until(
              a, [](const json& st) { return deployment(st, "openai/gpt-4.1").value("state", "") == "closed"; }, 1000ms)
              .has_value());
    CHECK(redis.cli({"EXISTS", "aigw:cb:dep:openai/gpt-4.1"}).find('0') != std::string::npos);
}

TEST_CASE("a provider key rested after a 429 on one instance rests on the others")
{
    const int redis_port = aigw::test::free_port();
    aigw::test::ClusterRedis redis(redis_port);
    FakeUpstream up;
    const std::map<std::string, std::string> keys = {{"OPENAI_API_KEY", "sk-first-key,sk-second-key"}};
    Daemon a(&up, DaemonOptions{.env = keys, .config_toml = cluster_toml(redis_port)});
    Daemon b(&up, DaemonOptions{.env = keys, .config_toml = cluster_toml(redis_port)});

    up.add_fault({{"kind", "429"}, {"count", 1}, {"key_contains", "sk-first-key"}, {"retry_after", 30}});
    auto r = post(a, "openai/gpt-4o-mini");  // key 1: 429, rested; key 2 answers
    REQUIRE(r);
    CHECK(r->status == 200);

    auto rested = until(
        b,
        [](const json& st) {
            for (const auto& k : st["keys"]) {
                if (k["provider"] == "openai" && k["key"] == 1 && k["state"] == "cooling") {
                    return true;
                }
            }
            return false;
        },
        1000ms);
    REQUIRE_MESSAGE(rested.has_value(), "the key rested on A did not rest on B within 1 s");
    up.clear_requests();
    for (int i = 0; i < 4; ++i) {
        auto rb = post(b, "openai/gpt-4o-mini");
        REQUIRE(rb);
        CHECK(rb->status == 200);
    }
    int first = 0;
    int second = 0;
    for (const auto& req : up.requests()) {
        const std::string auth = req["headers"].value("authorization", "");
        first += auth.find("sk-first-key") != std::string::npos ? 1 : 0;
        second += auth.find("sk-second-key") != std::string::npos ? 1 : 0;
    }
    CHECK(first == 0);  // without sharing, B's round-robin would have sent two with key 1
    CHECK(second == 4);
}

TEST_CASE("aigw status on any instance lists every live instance and the health of Redis and PostgreSQL")
{
    const int redis_port = aigw::test::free_port();
    aigw::test::ClusterRedis redis(redis_port);
    std::unique_ptr<aigw::test::PgServer> pg;
    std::string extra;
    if (!aigw::test::PgServer::unavailable()) {
        pg = std::make_unique<aigw::test::PgServer>();
        extra = "postgres_url = \"" + pg->url() + "\"\n";
    } else {
        MESSAGE("PostgreSQL is not available here: checking the 'not configured' shape only");
    }
    FakeUpstream up;
    Daemon a(&up, DaemonOptions{.config_toml = cluster_toml(redis_port, extra)});
    Daemon b(&up, DaemonOptions{.config_toml = cluster_toml(redis_port, extra)});
    Daemon c(&up, DaemonOptions{.config_toml = cluster_toml(redis_port, extra)});
    REQUIRE(post(a, "openai/gpt-4o-mini")->status == 200);

    const std::vector<std::string> json_argv = {AIGW_PATH, "status", "--json"};
    for (const Daemon* d : {&a, &b, &c}) {
        // Each instance writes its first heartbeat at start; the poll reads them within 300 ms.
        json cl;
        const auto start = Clock::now();
        do {
            auto st = run_command(json_argv, cli_env(*d));
            REQUIRE_MESSAGE(st.exit_code == 0, st.err);
            cl = json::parse(st.out)["cluster"];
            if (cl["instances"].size() == 3) {
                break;
            }
            std::this_thread::sleep_for(100ms);
        } while (Clock::now() - start < 3s);
        REQUIRE(cl["instances"].size() == 3);
        CHECK(cl["enabled"] == true);
        CHECK(cl["redis"]["reachable"] == true);
        std::set<int> ports;
        int selves = 0;
        for (const auto& i : cl["instances"]) {
            ports.insert(i["port"].get<int>());
            CHECK(i["pid"].get<long long>() > 0);
            CHECK_FALSE(i["version"].get<std::string>().empty());
            CHECK(i["last_seen"].get<long long>() >= i["started"].get<long long>());
            if (i["self"] == true) {
                ++selves;
                CHECK(i["port"] == d->port());
                CHECK(i["id"] == cl["instance_id"]);
            }
        }
        CHECK(ports == std::set<int>{a.port(), b.port(), c.port()});
        CHECK(selves == 1);
        if (pg) {
            CHECK(cl["postgres"]["configured"] == true);
            CHECK(cl["postgres"]["url"].get<std::string>().find("127.0.0.1") != std::string::npos);
            const auto pg_start = Clock::now();
            while (cl["postgres"]["reachable"] != true && Clock::now() - pg_start < 10s) {
                std::this_thread::sleep_for(100ms);
                cl = json::parse(run_command(json_argv, cli_env(*d)).out)["cluster"];
            }
            CHECK(cl["postgres"]["reachable"] == true);
            CHECK(cl["postgres"]["rows_replicated"].is_number_integer());
        } else {
            CHECK(cl["postgres"]["configured"] == false);
        }
    }
    // The table says the same for people.
    auto text = run_command({AIGW_PATH, "status"}, cli_env(b));
    REQUIRE_MESSAGE(text.exit_code == 0, text.err);
    CHECK(text.out.find("cluster instances") != std::string::npos);
    CHECK(text.out.find("3 live") != std::string::npos);
    CHECK(text.out.find("(this)") != std::string::npos);
    for (const Daemon* d : {&a, &b, &c}) {
        CHECK(text.out.find(std::to_string(d->port())) != std::string::npos);
    }
    if (pg) {
        CHECK(text.out.find("cluster postgres") != std::string::npos);
    }

    // A stopped instance takes itself off the list; a killed one drops out when its
    // heartbeat expires (10 s).
    REQUIRE(c.stop() == 0);
    std::size_t live = 3;
    const auto stop_start = Clock::now();
    while (live != 2 && Clock::now() - stop_start < 2s) {
        std::this_thread::sleep_for(100ms);
        live = json::parse(run_command(json_argv, cli_env(a)).out)["cluster"]["instances"].size();
    }
    CHECK(live == 2);
    b.process().kill_now();
    const auto kill_start = Clock::now();
    while (live != 1 && Clock::now() - kill_start < 13s) {
        std::this_thread::sleep_for(250ms);
        live = json::parse(run_command(json_argv, cli_env(a)).out)["cluster"]["instances"].size();
    }
    CHECK(live == 1);
    const auto expired_after = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - kill_start);
    CHECK(expired_after >= 5s);  // its last heartbeat lives 10 s: a killed instance is not dropped early
}

TEST_CASE("without [cluster] aigw status lists no instances and says PostgreSQL is not configured")
{
    FakeUpstream up;
    Daemon d(&up);
    auto st = run_command({AIGW_PATH, "status", "--json"}, cli_env(d));
    REQUIRE_MESSAGE(st.exit_code == 0, st.err);
    const json cl = json::parse(st.out)["cluster"];
    CHECK(cl["enabled"] == false);
    CHECK(cl["instances"].empty());
    CHECK(cl["postgres"]["configured"] == false);
}

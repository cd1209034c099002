// Rate limits shared through Redis ([cluster] redis_url): three aigwd on one real
// redis-server (loopback, a temp dir, stopped by PID) hold a model's rpm exactly across
// instances; Redis going away is survived as [cluster] redis_down says (local limits,
// logged, or 503), and its return is noticed.
// A virtual key created through one instance (shared through Redis) is held to its rpm
// across all three.

#include "tests/integration/cluster_harness.hpp"
#include "tests/integration/harness.hpp"

#include <doctest/doctest.h>

#include <cmath>
#include <thread>

using aigw::test::Daemon;
using aigw::test::DaemonOptions;
using aigw::test::Process;
using aigw::test::run_command;
using nlohmann::json;

namespace {

using Redis = aigw::test::ClusterRedis;

DaemonOptions cluster_options(const Redis& redis, const std::string& redis_down, const std::string& extra = {})
{
    DaemonOptions o;
    o.config_toml = "[cluster]\nredis_url = \"" + redis.url() + "\"\nredis_down = \"" + redis_down + "\"\n" + extra;
    return o;
}

json chat_body(const std::string& model)
{
    return {{"model", model}, {"messages", json::array({{{"role", "user"}, {"content", "hello cluster"}}})}};
}

struct Tally {
    int ok = 0;
    int limited = 0;
    int unavailable = 0;
    int other = 0;
    std::vector<std::string> retry_after;  ///< of each 429
    std::vector<std::string> bodies;       ///< of each non-200
};

/// `n` requests at once, each on its own connection, request i to `send(i)`, counted.
Tally fire(int n, const std::function<httplib::Result(int)>& send)
{
    Tally out;
    for (const auto& a : aigw::test::fire_concurrently(n, send)) {
        if (!a.answered) {
            ++out.other;
            continue;
        }
        if (a.status == 200) {
            ++out.ok;
            continue;
        }
        out.bodies.push_back(a.body);
        if (a.status == 429) {
            ++out.limited;
            out.retry_after.push_back(a.retry_after);
        } else if (a.status == 503) {
            ++out.unavailable;
        } else {
            ++out.other;
        }
    }
    return out;
}

bool log_has(const Daemon& d, std::string_view needle, int timeout_ms = 3000)
{
    for (int waited = 0; waited <= timeout_ms; waited += 50) {
        if (aigw::test::slurp(d.log_file()).find(needle) != std::string::npos) {
            return true;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return false;
}

}  // namespace

TEST_CASE("three instances on one Redis: a model with rpm 30 gets exactly 30 of 100 concurrent requests")
{
    Redis redis;
    const std::string limit = "[models.\"mock/echo\"]\nrpm = 30\n";
    Daemon a(nullptr, cluster_options(redis, "local", limit));
    Daemon b(nullptr, cluster_options(redis, "local", limit));
    Daemon c(nullptr, cluster_options(redis, "local", limit));
    const Daemon* all[] = {&a, &b, &c};
    const json body = chat_body("mock/echo");

    const auto started = std::chrono::steady_clock::now();
    auto out = fire(100, [&](int i) { return all[i % 3]->post("/v1/chat/completions", body); });
    const double elapsed_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();

    // The bucket refills one request every 2 s: a slow run may fairly admit one more per 2 s.
    const int refilled = static_cast<int>(std::floor(elapsed_s / 2.0));
    INFO("elapsed " << elapsed_s << " s");
    CHECK(out.ok >= 30);
    CHECK(out.ok <= 30 + refilled);
    CHECK(out.ok + out.limited == 100);
    CHECK(out.other == 0);
    for (const auto& ra : out.retry_after) {
        CHECK(std::stoi(ra) >= 1);
        CHECK(std::stoi(ra) <= 2);
    }
    for (const auto& text : out.bodies) {
        auto err = json::parse(text)["error"];
        CHECK(err["code"] == "rate_limit_exceeded");
        CHECK(err["message"].get<std::string>().find("mock/echo allows 30 requests per minute") != std::string::npos);
    }
    // Each instance alone would have let 30 through: the limit is the cluster's.
    CHECK(redis.cli({"EXISTS", "aigw:rl:model:mock/echo:rpm"}).find('1') != std::string::npos);
}

TEST_CASE("three instances on one Redis: a virtual key with --rpm 30 gets exactly 30 of 100 concurrent requests")
{
    Redis redis;
    Daemon a(nullptr, cluster_options(redis, "local"));
    Daemon b(nullptr, cluster_options(redis, "local"));
    Daemon c(nullptr, cluster_options(redis, "local"));
    const Daemon* all[] = {&a, &b, &c};
    std::vector<std::string> argv = {
        AIGW_PATH,  "--data-dir", a.data_dir().string(), "keys", "create", "--json", "--name", "team", "--rpm", "30",
        "--models", "mock/echo"};
    auto made = run_command(argv, aigw::test::cli_env(a));
    REQUIRE_MESSAGE(made.exit_code == 0, made.err);
    const json key = json::parse(made.out);
    const std::string secret = key["key"].get<std::string>();
    // Known to B and C once a model outside its allow-list gets 403 there instead of 401:
    // a refusal by the allow-list takes nothing from the rpm bucket.
    const json other = chat_body("mock/other");
    bool known = false;
    for (int waited = 0; waited <= 5000 && !known; waited += 50) {
        known = true;
        for (const Daemon* d : all) {
            auto r = d->post("/v1/chat/completions", other, secret);
            known = known && r && r->status == 403;
        }
        if (!known) {
            std::this_thread::sleep_for(std::chrono::milliseconds(50));
        }
    }
    REQUIRE_MESSAGE(known, "the key created through A did not reach B and C within 5 s");

    const json body = chat_body("mock/echo");
    const auto started = std::chrono::steady_clock::now();
    auto out = fire(100, [&](int i) { return all[i % 3]->post("/v1/chat/completions", body, secret); });
    const double elapsed_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    // The bucket refills one request every 2 s: a slow run may fairly admit one more per 2 s.
    const int refilled = static_cast<int>(std::floor(elapsed_s / 2.0));
    INFO("elapsed " << elapsed_s << " s");
    CHECK(out.ok >= 30);
    CHECK(out.ok <= 30 + refilled);
    CHECK(out.ok + out.limited == 100);
    CHECK(out.other == 0);
    for (const auto& text : out.bodies) {
        auto err = json::parse(text)["error"];
        CHECK(err["code"] == "rate_limit_exceeded");
        CHECK(err["message"].get<std::string>().find("'team'") != std::string::npos);
    }
    CHECK(redis.cli({"EXISTS", "aigw:rl:key:" + key["id"].get<std::string>() + ":rpm"}).find('1') != std::string::npos);
}

TEST_CASE("a virtual key's rpm is taken from its bucket in Redis")
{
    Redis redis;
    Daemon d(nullptr, cluster_options(redis, "local"));
    std::vector<std::string> argv = {
        AIGW_PATH, "--data-dir", d.data_dir().string(), "keys", "create", "--json", "--name", "shared", "--rpm", "5"};
    auto made = run_command(argv, aigw::test::cli_env(d));
    REQUIRE_MESSAGE(made.exit_code == 0, made.err);
    const json key = json::parse(made.out);
    const std::string secret = key["key"].get<std::string>();
    const json body = chat_body("mock/echo");
    auto out = fire(12, [&](int) { return d.post("/v1/chat/completions", body, secret); });
    CHECK(out.ok == 5);
    CHECK(out.limited == 7);
    const std::string bucket = "aigw:rl:key:" + key["id"].get<std::string>() + ":rpm";
    CHECK(redis.cli({"EXISTS", bucket}).find('1') != std::string::npos);
    // The bucket is Redis's: emptied there, it refuses here too.
    redis.cli({"DEL", bucket});
    auto again = fire(6, [&](int) { return d.post("/v1/chat/completions", body, secret); });
    CHECK(again.ok == 5);
    CHECK(again.limited == 1);
}

TEST_CASE("Redis killed with redis_down = local: instances keep serving on local limits, say so, and notice its return")
{
    auto redis = std::make_unique<Redis>();
    const std::string limit = "[models.\"mock/echo\"]\nrpm = 1000\n";
    Daemon a(nullptr, cluster_options(*redis, "local", limit));
    Daemon b(nullptr, cluster_options(*redis, "local", limit));
    const json body = chat_body("mock/echo");
    REQUIRE(a.post("/v1/chat/completions", body)->status == 200);
    REQUIRE(b.post("/v1/chat/completions", body)->status == 200);

    redis->kill();
    for (const Daemon* d : {&a, &b}) {
        for (int i = 0; i < 3; ++i) {
            auto r = d->post("/v1/chat/completions", body);
            REQUIRE(r);
            CHECK(r->status == 200);
        }
        CHECK(log_has(*d, "REDIS UNREACHABLE"));
        auto metrics = d->get("/metrics");
        REQUIRE(metrics);
        CHECK(metrics->body.find("aigw_cluster_redis_up 0") != std::string::npos);
        CHECK(metrics->body.find("aigw_cluster_fallbacks_total 0") == std::string::npos);
    }
    // Logged once per outage, not once per request.
    const std::string log = aigw::test::slurp(a.log_file());
    CHECK(log.find("REDIS UNREACHABLE") == log.rfind("REDIS UNREACHABLE"));

    redis->start();
    std::this_thread::sleep_for(std::chrono::milliseconds(1100));  // one probe a second during an outage
    REQUIRE(a.post("/v1/chat/completions", body)->status == 200);
    CHECK(log_has(a, "redis reachable again"));
    auto metrics = a.get("/metrics");
    REQUIRE(metrics);
    CHECK(metrics->body.find("aigw_cluster_redis_up 1") != std::string::npos);
}

TEST_CASE("Redis killed with redis_down = refuse: limited requests get a 503 that says Redis is down")
{
    Redis redis;
    Daemon d(nullptr, cluster_options(redis, "refuse", "[models.\"mock/echo\"]\nrpm = 1000\n"));
    const json limited = chat_body("mock/echo");
    REQUIRE(d.post("/v1/chat/completions", limited)->status == 200);
    redis.kill();
    auto r = d.post("/v1/chat/completions", limited);
    REQUIRE(r);
    CHECK(r->status == 503);
    CHECK_FALSE(r->get_header_value("Retry-After").empty());
    const std::string message = json::parse(r->body)["error"]["message"].get<std::string>();
    CHECK(message.find("Redis") != std::string::npos);
    CHECK(message.find("redis_down") != std::string::npos);
    // The Anthropic surface answers in its own shape.
    httplib::Client c("127.0.0.1", d.port());
    json messages = limited;
    messages["max_tokens"] = 10;
    auto ar = c.Post("/v1/messages", {{"x-api-key", "test-gateway-key"}, {"anthropic-version", "2023-06-01"}},
                     messages.dump(), "application/json");
    REQUIRE(ar);
    CHECK(ar->status == 503);
    CHECK(json::parse(ar->body)["type"] == "error");
    // A model under no rate limit does not need Redis.
    auto free_model = d.post("/v1/chat/completions", chat_body("mock/other"));
    REQUIRE(free_model);
    CHECK(free_model->status == 200);
    auto metrics = d.get("/metrics");
    REQUIRE(metrics);
    CHECK(metrics->body.find("aigw_cluster_refusals_total 0") == std::string::npos);
}

TEST_CASE("aigw status shows the cluster's Redis without its password, reachable with a PING time, then unreachable")
{
    const std::string password = "s3cret-redis-pass";
    Redis redis(aigw::test::free_port(), password);
    Daemon d(nullptr, cluster_options(redis, "local", "[models.\"mock/echo\"]\nrpm = 100\n"));
    REQUIRE(d.post("/v1/chat/completions", chat_body("mock/echo"))->status == 200);  // AUTH works
    const std::vector<std::string> json_argv = {AIGW_PATH, "status", "--json"};
    auto st = run_command(json_argv, aigw::test::cli_env(d));
    REQUIRE_MESSAGE(st.exit_code == 0, st.err);
    CHECK(st.out.find(password) == std::string::npos);
    const json j = json::parse(st.out);
    const json& cl = j["cluster"];
    CHECK(cl["enabled"] == true);
    CHECK(cl["redis_down"] == "local");
    CHECK(cl["redis"]["reachable"] == true);
    CHECK(cl["redis"]["ping_ms"].get<double>() >= 0);
    CHECK(cl["redis"]["url"].get<std::string>().find(":***@127.0.0.1") != std::string::npos);

    const std::vector<std::string> text_argv = {AIGW_PATH, "status"};
    auto text = run_command(text_argv, aigw::test::cli_env(d));
    REQUIRE_MESSAGE(text.exit_code == 0, text.err);
    CHECK(text.out.find("cluster redis") != std::string::npos);
    CHECK(text.out.find("reachable (PING") != std::string::npos);
    CHECK(text.out.find(password) == std::string::npos);

    redis.kill();
    auto down = run_command(json_argv, aigw::test::cli_env(d));
    REQUIRE_MESSAGE(down.exit_code == 0, down.err);
    const json dj = json::parse(down.out);
    CHECK(dj["cluster"]["redis"]["reachable"] == false);
    CHECK_FALSE(dj["cluster"]["redis"]["error"].get<std::string>().empty());
    CHECK(down.out.find(password) == std::string::npos);
    CHECK(log_has(d, "REDIS UNREACHABLE"));
    CHECK(aigw::test::slurp(d.log_file()).find(password) == std::string::npos);
}

TEST_CASE("without [cluster] redis_url aigw status says the cluster is off")
{
    Daemon d(nullptr);
    const std::vector<std::string> argv = {AIGW_PATH, "status", "--json"};
    auto st = run_command(argv, aigw::test::cli_env(d));
    REQUIRE_MESSAGE(st.exit_code == 0, st.err);
    CHECK(json::parse(st.out)["cluster"]["enabled"] == false);
}

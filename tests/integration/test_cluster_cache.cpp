// The response cache shared through one real redis-server ([cluster] redis_url), all on
// loopback: an answer cached by one aigwd is a HIT on another (plain and streamed), the
// fake upstream sees the question once, the entry's TTL holds in Redis too, and Redis
// killed leaves every instance serving from the upstream (a miss), logged, never a crash.

#include "tests/integration/cluster_harness.hpp"
#include "tests/integration/harness.hpp"

#include <SQLiteCpp/SQLiteCpp.h>
#include <doctest/doctest.h>

#include <thread>

using aigw::test::Daemon;
using aigw::test::DaemonOptions;
using aigw::test::FakeUpstream;
using aigw::test::metric;
using aigw::test::Process;
using aigw::test::run_command;
using aigw::test::sse_data_lines;
using nlohmann::json;

namespace {

using Redis = aigw::test::ClusterRedis;

DaemonOptions cache_cluster(const Redis& redis)
{
    DaemonOptions o;
    o.config_toml = "[cache]\nenabled = true\n[cluster]\nredis_url = \"" + redis.url() + "\"\nredis_down = \"local\"\n";
    return o;
}

json chat(const std::string& prompt, bool stream = false)
{
    json body = {{"model", "openai/gpt-4o-mini"}, {"messages", json::array({{{"role", "user"}, {"content", prompt}}})}};
    if (stream) {
        body["stream"] = true;
        body["stream_options"] = {{"include_usage", true}};
    }
    return body;
}

httplib::Result post(const Daemon& d, const json& body, httplib::Headers extra = {})
{
    auto c = d.client();
    return c.Post("/v1/chat/completions", extra, body.dump(), "application/json");
}

int upstream_chats(FakeUpstream& up)
{
    int n = 0;
    const json all = up.requests();
    for (const auto& r : all) {
        if (r["path"].get<std::string>().find("/chat/completions") != std::string::npos) {
            ++n;
        }
    }
    return n;
}

/// The streamed answer's text and whether it ended with [DONE].
std::pair<std::string, bool> stream_text(const std::string& body)
{
    std::string text;
    bool done = false;
    for (const auto& line : sse_data_lines(body)) {
        if (line == "[DONE]") {
            done = true;
            continue;
        }
        const json chunk = json::parse(line, nullptr, false);
        REQUIRE_MESSAGE(!chunk.is_discarded(), "bad chunk: " << line);
        const json choices = chunk.value("choices", json::array());
        for (const auto& choice : choices) {
            const json delta = choice.value("delta", json::object());
            if (delta.contains("content") && delta["content"].is_string()) {
                text += delta["content"].get<std::string>();
            }
        }
    }
    return {text, done};
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

/// The cache entries' keys in Redis.
std::vector<std::string> redis_entries(const Redis& redis)
{
    std::vector<std::string> keys;
    for (const auto& line : aigw::test::lines_of(redis.cli({"--scan", "--pattern", "aigw:cache:*"}))) {
        if (!line.empty()) {
            keys.push_back(line);
        }
    }
    return keys;
}

/// Waits until Redis holds `n` cache entries (stores are written in the background).
bool redis_has_entries(const Redis& redis, std::size_t n, int timeout_ms = 3000)
{
    for (int waited = 0; waited <= timeout_ms; waited += 20) {
        if (redis_entries(redis).size() >= n) {
            return true;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return false;
}

}  // namespace

TEST_CASE("an answer cached by one instance is a HIT on the others, and the upstream sees it once")
{
    Redis redis(aigw::test::free_port());
    FakeUpstream up;
    Daemon a(&up, cache_cluster(redis));
    Daemon b(&up, cache_cluster(redis));
    Daemon c(&up, cache_cluster(redis));
    const json req = chat("one answer for the whole team");

    auto first = post(a, req);
    REQUIRE(first);
    REQUIRE(first->status == 200);
    CHECK(first->get_header_value("x-aigw-cache") == "MISS");
    const double cost = std::stod(first->get_header_value("x-aigw-cost-usd"));
    CHECK(cost > 0);
    REQUIRE(redis_has_entries(redis, 1));

    for (const Daemon* d : {&b, &c}) {
        auto hit = post(*d, req);
        REQUIRE(hit);
        REQUIRE(hit->status == 200);
        CHECK(hit->get_header_value("x-aigw-cache") == "HIT");
        CHECK(hit->get_header_value("x-aigw-cost-usd") == "0");
        CHECK(std::stod(hit->get_header_value("x-aigw-cache-saved-usd")) == doctest::Approx(cost));
        CHECK(hit->get_header_value("x-aigw-cache-key").size() == 16);
        CHECK(hit->get_header_value("x-aigw-provider") == "openai");
        CHECK(hit->get_header_value("x-aigw-model") == "openai/gpt-4o-mini");
        CHECK(hit->body == first->body);
    }
    CHECK(upstream_chats(up) == 1);
    CHECK(metric(b, "aigw_cluster_cache_hits_total") == 1);
    CHECK(metric(a, "aigw_cluster_cache_misses_total") == 1);
    CHECK(metric(a, "aigw_cluster_cache_stores_total") == 1);
    CHECK(metric(b, "aigw_cluster_cache_stores_total") == 0);  // a hit is not written back
    CHECK(metric(b, "aigw_cluster_cache_errors_total") == 0);

    // B took the entry in: a second ask is a local hit (Redis is not asked again).
    auto again = post(b, req);
    CHECK(again->get_header_value("x-aigw-cache") == "HIT");
    CHECK(metric(b, "aigw_cluster_cache_hits_total") == 1);

    // The entry in Redis carries the cache's TTL (default 3600 s) as its expiry.
    const std::vector<std::string> keys = redis_entries(redis);
    REQUIRE(keys.size() == 1);
    const std::string& key = keys.front();
    const long long pttl = std::stoll(redis.cli({"PTTL", key}));
    CHECK(pttl > 3'500'000);
    CHECK(pttl <= 3'600'000);
    CHECK(redis.cli({"GET", key}).find("test-gateway-key") == std::string::npos);

    // No-cache on C fetches afresh and replaces the shared entry; A then serves the new one.
    auto fresh = post(c, req, {{"Cache-Control", "no-cache"}});
    CHECK(fresh->get_header_value("x-aigw-cache") == "MISS");
    CHECK(upstream_chats(up) == 2);
    const std::string fresh_id = json::parse(fresh->body)["id"].get<std::string>();
    REQUIRE(fresh_id != json::parse(first->body)["id"].get<std::string>());
    for (int i = 0; i < 150 && redis.cli({"GET", key}).find(fresh_id) == std::string::npos; ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(20));  // the SET is written in the background
    }
    Daemon d(&up, cache_cluster(redis));
    auto refreshed = post(d, req);
    CHECK(refreshed->get_header_value("x-aigw-cache") == "HIT");
    CHECK(json::parse(refreshed->body)["id"] == fresh_id);
    CHECK(upstream_chats(up) == 2);

    // The ledger of B records its hit as a hit, at no cost, with what it saved.
    REQUIRE(b.stop() == 0);
    SQLite::Database db((b.data_dir() / "ledger.db").string(), SQLite::OPEN_READONLY);
    CHECK(db.execAndGet("SELECT COUNT(*) FROM requests").getInt() == 2);
    SQLite::Statement row(db, "SELECT cost_usd, saved_usd, status FROM requests WHERE cache_hit = 1");
    int hits = 0;
    while (row.executeStep()) {
        ++hits;
        CHECK(row.getColumn(0).getDouble() == 0.0);
        CHECK(row.getColumn(1).getDouble() == doctest::Approx(cost));
        CHECK(row.getColumn(2).getInt() == 200);
    }
    CHECK(hits == 2);
}

TEST_CASE("a streamed answer cached by one instance is replayed as a stream by another")
{
    Redis redis(aigw::test::free_port());
    FakeUpstream up;
    Daemon a(&up, cache_cluster(redis));
    Daemon b(&up, cache_cluster(redis));
    const json req = chat("stream it once for everyone", true);

    auto first = post(a, req);
    REQUIRE(first);
    REQUIRE(first->status == 200);
    CHECK(first->get_header_value("x-aigw-cache") == "MISS");
    auto [first_text, first_done] = stream_text(first->body);
    CHECK(first_done);
    CHECK(first_text == "Echo: stream it once for everyone");
    REQUIRE(redis_has_entries(redis, 1));

    auto second = post(b, req);
    REQUIRE(second);
    REQUIRE(second->status == 200);
    CHECK(second->get_header_value("x-aigw-cache") == "HIT");
    CHECK(second->get_header_value("Content-Type").starts_with("text/event-stream"));
    auto [second_text, second_done] = stream_text(second->body);
    CHECK(second_done);
    CHECK(second_text == first_text);

    // The same entry answers a plain request on a third instance.
    Daemon c(&up, cache_cluster(redis));
    json plain = req;
    plain.erase("stream");
    plain.erase("stream_options");
    auto third = post(c, plain);
    REQUIRE(third->status == 200);
    CHECK(third->get_header_value("x-aigw-cache") == "HIT");
    CHECK(json::parse(third->body)["choices"][0]["message"]["content"] == first_text);
    CHECK(upstream_chats(up) == 1);
}

TEST_CASE("a shared entry expires with its TTL: after it, another instance misses and asks the upstream")
{
    Redis redis(aigw::test::free_port());
    FakeUpstream up;
    Daemon a(&up, cache_cluster(redis));
    Daemon b(&up, cache_cluster(redis));
    const json req = chat("short lived");
    const httplib::Headers one_second = {{"x-aigw-cache-ttl", "1"}};

    REQUIRE(post(a, req, one_second)->get_header_value("x-aigw-cache") == "MISS");
    REQUIRE(redis_has_entries(redis, 1));
    CHECK(post(b, req, one_second)->get_header_value("x-aigw-cache") == "HIT");
    CHECK(upstream_chats(up) == 1);

    std::this_thread::sleep_for(std::chrono::milliseconds(1200));
    CHECK(redis_entries(redis).empty());  // Redis dropped it (PX)
    Daemon c(&up, cache_cluster(redis));  // nothing local: only Redis could answer
    CHECK(post(c, req)->get_header_value("x-aigw-cache") == "MISS");
    CHECK(upstream_chats(up) == 2);
    CHECK(metric(c, "aigw_cluster_cache_misses_total") == 1);
    CHECK(metric(c, "aigw_cluster_cache_hits_total") == 0);
}

TEST_CASE("Redis killed: instances keep answering from the upstream as misses, say so once, and count the errors")
{
    auto redis = std::make_unique<Redis>(aigw::test::free_port());
    FakeUpstream up;
    Daemon a(&up, cache_cluster(*redis));
    Daemon b(&up, cache_cluster(*redis));
    const json req = chat("redis goes away");
    REQUIRE(post(a, req)->get_header_value("x-aigw-cache") == "MISS");
    REQUIRE(redis_has_entries(*redis, 1));

    redis->kill();
    for (int i = 0; i < 3; ++i) {
        auto r = post(b, req);
        REQUIRE(r);
        CHECK(r->status == 200);
        CHECK(r->get_header_value("x-aigw-cache") == (i == 0 ? "MISS" : "HIT"));  // then B's own copy
    }
    CHECK(upstream_chats(up) == 2);
    // A new question is stored locally while Redis is away, and A still serves its own entries.
    auto other = post(a, chat("while redis is down"));
    REQUIRE(other);
    CHECK(other->status == 200);
    CHECK(post(a, req)->get_header_value("x-aigw-cache") == "HIT");
    CHECK(log_has(b, "REDIS UNREACHABLE"));
    CHECK(log_has(b, "the response cache is this instance's own"));
    const std::string log = aigw::test::slurp(b.log_file());
    CHECK(log.find("the response cache is this instance's own") ==
          log.rfind("the response cache is this instance's own"));  // once per outage
    CHECK(metric(b, "aigw_cluster_cache_errors_total") >= 1);
    CHECK(b.process().alive());
    CHECK(a.process().alive());
    CHECK(b.stop() == 0);
    CHECK(a.stop() == 0);
}

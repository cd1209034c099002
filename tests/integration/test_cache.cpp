// The response cache end to end: aigwd against the fake upstream, whose request log shows
// whether a request reached the provider.

#include "tests/integration/harness.hpp"

#include <SQLiteCpp/SQLiteCpp.h>
#include <doctest/doctest.h>

#include <thread>

using aigw::test::Daemon;
using aigw::test::DaemonOptions;
using aigw::test::FakeUpstream;
using aigw::test::run_command;
using aigw::test::sse_data_lines;
using nlohmann::json;

namespace {

constexpr const char* k_cache_on = "[cache]\nenabled = true\n";
constexpr const char* k_semantic = "[cache]\nenabled = true\nembedding_model = \"mock/embed\"\n";

json chat(const std::string& model, const std::string& prompt, bool stream = false)
{
    json body = {{"model", model}, {"messages", json::array({{{"role", "user"}, {"content", prompt}}})}};
    if (stream) {
        body["stream"] = true;
        body["stream_options"] = {{"include_usage", true}};
    }
    return body;
}

httplib::Result post(const Daemon& d, const std::string& path, const json& body, httplib::Headers extra = {})
{
    auto c = d.client();
    return c.Post(path, extra, body.dump(), "application/json");
}

/// How many chat requests the fake upstream has received.
int upstream_chats(FakeUpstream& up)
{
    int n = 0;
    for (const auto& r : up.requests()) {
        if (r["path"].get<std::string>().find("/chat/completions") != std::string::npos) {
            ++n;
        }
    }
    return n;
}

/// The text of a streamed OpenAI answer, and whether it ended with [DONE].
std::pair<std::string, bool> stream_text(const std::string& body)
{
    std::string text;
    bool done = false;
    for (const auto& line : sse_data_lines(body)) {
        if (line == "[DONE]") {
            done = true;
            continue;
        }
        auto chunk = json::parse(line, nullptr, false);
        REQUIRE_MESSAGE(!chunk.is_discarded(), "bad chunk: " << line);
        for (const auto& choice : chunk.value("choices", json::array())) {
            const auto& delta = choice.value("delta", json::object());
            if (delta.contains("content") && delta["content"].is_string()) {
                text += delta["content"].get<std::string>();
            }
        }
    }
    return {text, done};
}

SQLite::Database ledger(const Daemon& d)
{
    return SQLite::Database((d.data_dir() / "ledger.db").string(), SQLite::OPEN_READONLY);
}

}  // namespace

TEST_CASE("with the cache on, a repeated request is answered from the cache and never reaches the upstream")
{
    FakeUpstream up;
    Daemon d(&up, DaemonOptions{{}, k_cache_on});
    const json req = chat("openai/gpt-4o-mini", "cache me if you can");

    auto first = post(d, "/v1/chat/completions", req);
    REQUIRE(first);
    REQUIRE(first->status == 200);
    CHECK(first->get_header_value("x-aigw-cache") == "MISS");
    const double first_cost = std::stod(first->get_header_value("x-aigw-cost-usd"));
    CHECK(first_cost > 0);

    // Another key order and a user field: the same question.
    json reordered =
        json::parse(R"({"user": "someone", "messages": [{"content": "cache me if you can", "role": "user"}],
                                     "model": "openai/gpt-4o-mini"})");
    auto second = post(d, "/v1/chat/completions", reordered);
    REQUIRE(second);
    REQUIRE(second->status == 200);
    CHECK(second->get_header_value("x-aigw-cache") == "HIT");
    CHECK(second->get_header_value("x-aigw-cache-age") == "0");
    CHECK(second->get_header_value("x-aigw-cost-usd") == "0");
    CHECK(second->get_header_value("x-aigw-cache-key").size() == 16);
    CHECK(std::stod(second->get_header_value("x-aigw-cache-saved-usd")) == doctest::Approx(first_cost));
    CHECK(second->get_header_value("x-aigw-provider") == "openai");
    CHECK(second->get_header_value("x-aigw-model") == "openai/gpt-4o-mini");
    CHECK(second->get_header_value("x-request-id") != first->get_header_value("x-request-id"));
    CHECK(second->body == first->body);
    CHECK(upstream_chats(up) == 1);

    // Another temperature is another question.
    json warmer = req;
    warmer["temperature"] = 0.7;
    auto third = post(d, "/v1/chat/completions", warmer);
    CHECK(third->get_header_value("x-aigw-cache") == "MISS");
    CHECK(upstream_chats(up) == 2);

    REQUIRE(d.stop() == 0);
    auto db = ledger(d);
    CHECK(db.execAndGet("SELECT COUNT(*) FROM requests").getInt() == 3);
    SQLite::Statement hit(db, "SELECT cost_usd, input_tokens, output_tokens, status FROM requests WHERE cache_hit = 1");
    REQUIRE(hit.executeStep());
    CHECK(hit.getColumn(0).getDouble() == 0.0);
    CHECK(hit.getColumn(1).getInt() == 0);
    CHECK(hit.getColumn(2).getInt() == 0);
    CHECK(hit.getColumn(3).getInt() == 200);
    CHECK_FALSE(hit.executeStep());
    CHECK(db.execAndGet("SELECT COUNT(*) FROM requests WHERE cache_hit = 0 AND cost_usd > 0").getInt() == 2);
}

TEST_CASE("the cache is off by default: identical requests reach the upstream unless x-aigw-cache: on")
{
    FakeUpstream up;
    Daemon d(&up);
    const json req = chat("openai/gpt-4o-mini", "no cache by default");
    for (int i = 0; i < 2; ++i) {
        auto r = post(d, "/v1/chat/completions", req);
        REQUIRE(r);
        CHECK(r->status == 200);
        CHECK(r->get_header_value("x-aigw-cache") == "MISS");
    }
    CHECK(upstream_chats(up) == 2);
    auto opt_in = post(d, "/v1/chat/completions", req, {{"x-aigw-cache", "on"}});
    CHECK(opt_in->get_header_value("x-aigw-cache") == "MISS");
    auto again = post(d, "/v1/chat/completions", req, {{"x-aigw-cache", "on"}});
    CHECK(again->get_header_value("x-aigw-cache") == "HIT");
    auto without = post(d, "/v1/chat/completions", req);
    CHECK(without->get_header_value("x-aigw-cache") == "MISS");
    CHECK(upstream_chats(up) == 4);
}

TEST_CASE("a streamed answer is stored once complete and replayed as a stream, and serves non-stream requests too")
{
    FakeUpstream up;
    Daemon d(&up, DaemonOptions{{}, k_cache_on});
    const json req = chat("openai/gpt-4o-mini", "stream this answer please", true);

    auto first = post(d, "/v1/chat/completions", req);
    REQUIRE(first);
    REQUIRE(first->status == 200);
    CHECK(first->get_header_value("x-aigw-cache") == "MISS");
    auto [first_text, first_done] = stream_text(first->body);
    CHECK(first_done);
    CHECK(first_text == "Echo: stream this answer please");

    auto second = post(d, "/v1/chat/completions", req);
    REQUIRE(second);
    REQUIRE(second->status == 200);
    CHECK(second->get_header_value("x-aigw-cache") == "HIT");
    CHECK(second->get_header_value("Content-Type").starts_with("text/event-stream"));
    auto [second_text, second_done] = stream_text(second->body);
    CHECK(second_done);
    CHECK(second_text == first_text);
    bool usage_chunk = false;
    for (const auto& line : sse_data_lines(second->body)) {
        if (line != "[DONE]" && json::parse(line).contains("usage") && json::parse(line)["usage"].is_object()) {
            usage_chunk = true;
            CHECK(json::parse(line)["usage"]["completion_tokens"] == 5);
        }
    }
    CHECK(usage_chunk);

    // Without stream_options.include_usage the replay has no usage chunk, as OpenAI would send.
    json no_usage = req;
    no_usage.erase("stream_options");
    auto third = post(d, "/v1/chat/completions", no_usage);
    CHECK(third->get_header_value("x-aigw-cache") == "HIT");
    CHECK(third->body.find("\"usage\"") == std::string::npos);

    json plain = req;
    plain.erase("stream");
    plain.erase("stream_options");
    auto fourth = post(d, "/v1/chat/completions", plain);
    REQUIRE(fourth->status == 200);
    CHECK(fourth->get_header_value("x-aigw-cache") == "HIT");
    CHECK(json::parse(fourth->body)["choices"][0]["message"]["content"] == first_text);
    CHECK(json::parse(fourth->body)["object"] == "chat.completion");
    CHECK(upstream_chats(up) == 1);

    REQUIRE(d.stop() == 0);
    auto db = ledger(d);
    CHECK(db.execAndGet("SELECT COUNT(*) FROM requests WHERE cache_hit = 1 AND cost_usd = 0").getInt() == 3);
}

TEST_CASE("x-aigw-cache: off, Cache-Control: no-cache and no-store bypass the cache and reach the upstream")
{
    FakeUpstream up;
    Daemon d(&up, DaemonOptions{{}, k_cache_on});
    const json req = chat("openai/gpt-4o-mini", "bypass me");
    REQUIRE(post(d, "/v1/chat/completions", req)->get_header_value("x-aigw-cache") == "MISS");
    REQUIRE(post(d, "/v1/chat/completions", req)->get_header_value("x-aigw-cache") == "HIT");
    CHECK(upstream_chats(up) == 1);

    auto off = post(d, "/v1/chat/completions", req, {{"x-aigw-cache", "off"}});
    CHECK(off->status == 200);
    CHECK(off->get_header_value("x-aigw-cache") == "MISS");
    CHECK(upstream_chats(up) == 2);

    auto no_cache = post(d, "/v1/chat/completions", req, {{"Cache-Control", "no-cache"}});
    CHECK(no_cache->get_header_value("x-aigw-cache") == "MISS");
    CHECK(upstream_chats(up) == 3);
    // no-cache fetched a fresh answer and stored it: the fake's ids count up, so it is the new one.
    auto after = post(d, "/v1/chat/completions", req);
    CHECK(after->get_header_value("x-aigw-cache") == "HIT");
    CHECK(json::parse(after->body)["id"] == json::parse(no_cache->body)["id"]);
    CHECK(json::parse(after->body)["id"] != json::parse(off->body)["id"]);

    auto no_store = post(d, "/v1/chat/completions", req, {{"Cache-Control", "no-store"}});
    CHECK(no_store->get_header_value("x-aigw-cache") == "MISS");
    CHECK(upstream_chats(up) == 4);

    auto bad = post(d, "/v1/chat/completions", req, {{"x-aigw-cache", "maybe"}});
    REQUIRE(bad);
    CHECK(bad->status == 400);
    auto err = json::parse(bad->body)["error"];
    CHECK(err["param"] == "x-aigw-cache");
    CHECK(err["message"].get<std::string>().find("on, exact, semantic, refresh or off") != std::string::npos);
    CHECK(upstream_chats(up) == 4);
}

TEST_CASE("x-aigw-cache-ttl: an entry older than the request's TTL is not served, and a short-lived entry expires")
{
    FakeUpstream up;
    Daemon d(&up, DaemonOptions{{}, k_cache_on});
    const json req = chat("openai/gpt-4o-mini", "time to live");
    REQUIRE(post(d, "/v1/chat/completions", req)->get_header_value("x-aigw-cache") == "MISS");
    std::this_thread::sleep_for(std::chrono::milliseconds(1100));
    auto aged = post(d, "/v1/chat/completions", req);
    CHECK(aged->get_header_value("x-aigw-cache") == "HIT");
    CHECK(aged->get_header_value("x-aigw-cache-age") == "1");

    // At most 1 s old: the 1.1 s old entry is refused, and the fresh answer lives 1 s.
    auto strict = post(d, "/v1/chat/completions", req, {{"x-aigw-cache-ttl", "1"}});
    CHECK(strict->get_header_value("x-aigw-cache") == "MISS");
    CHECK(upstream_chats(up) == 2);
    CHECK(post(d, "/v1/chat/completions", req)->get_header_value("x-aigw-cache") == "HIT");
    std::this_thread::sleep_for(std::chrono::milliseconds(1100));
    CHECK(post(d, "/v1/chat/completions", req)->get_header_value("x-aigw-cache") == "MISS");
    CHECK(upstream_chats(up) == 3);

    auto bad = post(d, "/v1/chat/completions", req, {{"x-aigw-cache-ttl", "soon"}});
    CHECK(bad->status == 400);
    CHECK(json::parse(bad->body)["error"]["param"] == "x-aigw-cache-ttl");
}

TEST_CASE("a cut stream, a failed request and an answer over the entry cap are never cached")
{
    FakeUpstream up;
    // No retries: each failed request reaches the upstream exactly once.
    Daemon d(&up, DaemonOptions{{}, "[cache]\nenabled = true\nmax_entry_kb = 1\n\n[routing]\nretries = 0\n"});

    const json cut = chat("openai/gpt-4o-fault-cut", "this stream will be cut", true);
    for (int i = 0; i < 2; ++i) {
        auto r = post(d, "/v1/chat/completions", cut);
        REQUIRE(r);
        CHECK(r->get_header_value("x-aigw-cache") == "MISS");
        auto [text, done] = stream_text(r->body);
        CHECK_FALSE(done);
        CHECK(r->body.find("\"error\"") != std::string::npos);
    }
    CHECK(upstream_chats(up) == 2);

    const json failing = chat("openai/gpt-4o-fault-500", "this one fails");
    for (int i = 0; i < 2; ++i) {
        auto r = post(d, "/v1/chat/completions", failing);
        CHECK(r->status == 500);
    }
    CHECK(upstream_chats(up) == 4);

    // 200 words of answer: over 1 KB.
    const json long_answer = chat("openai/gpt-4o-long", "a long answer");
    for (int i = 0; i < 2; ++i) {
        auto r = post(d, "/v1/chat/completions", long_answer);
        CHECK(r->status == 200);
        CHECK(r->get_header_value("x-aigw-cache") == "MISS");
    }
    CHECK(upstream_chats(up) == 6);
    auto stats = json::parse(d.get("/aigw/v1/cache")->body);
    CHECK(stats["entries"] == 0);
    CHECK(stats["too_large"] == 2);
}

TEST_CASE("semantic cache: a reworded question matches with its similarity, an unrelated one does not")
{
    FakeUpstream up;
    Daemon d(&up, DaemonOptions{{}, k_semantic});
    const httplib::Headers semantic = {{"x-aigw-cache", "semantic"}};

    auto first =
        post(d, "/v1/chat/completions", chat("openai/gpt-4o-mini", "What is the capital of France?"), semantic);
    REQUIRE(first->status == 200);
    CHECK(first->get_header_value("x-aigw-cache") == "MISS");
    const std::string id = first->get_header_value("x-request-id");

    auto reworded =
        post(d, "/v1/chat/completions", chat("openai/gpt-4o-mini", "what's the capital of france"), semantic);
    REQUIRE(reworded->status == 200);
    CHECK(reworded->get_header_value("x-aigw-cache") == "HIT");
    const std::string match = reworded->get_header_value("x-aigw-cache-match");
    CHECK(match.starts_with(reworded->get_header_value("x-aigw-cache-key") + "; similarity="));
    CHECK(std::stod(match.substr(match.find('=') + 1)) >= 0.92);
    CHECK(json::parse(reworded->body)["choices"][0]["message"]["content"] == "Echo: What is the capital of France?");

    auto other =
        post(d, "/v1/chat/completions", chat("openai/gpt-4o-mini", "What is the capital of Germany?"), semantic);
    CHECK(other->get_header_value("x-aigw-cache") == "MISS");
    CHECK(other->get_header_value("x-aigw-cache-match").empty());

    // Same words, another model: another partition.
    auto other_model = post(d, "/v1/chat/completions", chat("openai/gpt-4o", "what's the capital of france"), semantic);
    CHECK(other_model->get_header_value("x-aigw-cache") == "MISS");

    // Without asking for semantic matching only the exact key counts.
    auto exact_only = post(d, "/v1/chat/completions", chat("openai/gpt-4o-mini", "What's the capital of France"));
    CHECK(exact_only->get_header_value("x-aigw-cache") == "MISS");
    CHECK(upstream_chats(up) == 4);

    auto stats = json::parse(d.get("/aigw/v1/cache")->body);
    CHECK(stats["semantic_hits"] == 1);
    CHECK(stats["semantic_entries"] == 3);

    REQUIRE(d.stop() == 0);
    auto db = ledger(d);
    // Each semantic request embedded its prompt through the gateway, recorded under its request id.
    CHECK(db.execAndGet("SELECT COUNT(*) FROM requests WHERE surface = 'cache.embeddings' AND status = 200").getInt() ==
          4);
    SQLite::Statement q(db, "SELECT served_model FROM requests WHERE surface = 'cache.embeddings' AND request_id = ?");
    q.bind(1, id);
    REQUIRE(q.executeStep());
    CHECK(q.getColumn(0).getString() == "mock/embed");
}

TEST_CASE("a model's config turns on semantic matching without a request header")
{
    FakeUpstream up;
    Daemon d(&up, DaemonOptions{{}, std::string(k_semantic) + "\n[models.\"openai/gpt-4o-mini\"]\nsemantic = true\n"});
    REQUIRE(post(d, "/v1/chat/completions", chat("openai/gpt-4o-mini", "How do I reverse a list in Python?"))
                ->get_header_value("x-aigw-cache") == "MISS");
    auto r = post(d, "/v1/chat/completions", chat("openai/gpt-4o-mini", "how do i reverse a list in python"));
    CHECK(r->get_header_value("x-aigw-cache") == "HIT");
    CHECK_FALSE(r->get_header_value("x-aigw-cache-match").empty());
    CHECK(upstream_chats(up) == 1);
}

TEST_CASE("the Anthropic surface's translated path shares entries and replays in Anthropic's format")
{
    FakeUpstream up;
    Daemon d(&up, DaemonOptions{{}, k_cache_on});
    const json msg = {{"model", "openai/gpt-4o-mini"},
                      {"max_tokens", 100},
                      {"messages", json::array({{{"role", "user"}, {"content", "anthropic cached"}}})}};
    auto first = post(d, "/v1/messages", msg, {{"anthropic-version", "2023-06-01"}});
    REQUIRE(first->status == 200);
    CHECK(first->get_header_value("x-aigw-cache") == "MISS");
    auto second = post(d, "/v1/messages", msg, {{"anthropic-version", "2023-06-01"}});
    REQUIRE(second->status == 200);
    CHECK(second->get_header_value("x-aigw-cache") == "HIT");
    auto body = json::parse(second->body);
    CHECK(body["type"] == "message");
    CHECK(body["content"][0]["text"] == "Echo: anthropic cached");

    json streamed = msg;
    streamed["stream"] = true;
    auto third = post(d, "/v1/messages", streamed, {{"anthropic-version", "2023-06-01"}});
    REQUIRE(third->status == 200);
    CHECK(third->get_header_value("x-aigw-cache") == "HIT");
    CHECK(third->body.find("event: message_start") != std::string::npos);
    CHECK(third->body.find("Echo: anthropic cached") != std::string::npos);
    CHECK(third->body.find("event: message_stop") != std::string::npos);
    CHECK(upstream_chats(up) == 1);

    // A bad cache header is an error in Anthropic's shape.
    auto bad = post(d, "/v1/messages", msg, {{"anthropic-version", "2023-06-01"}, {"x-aigw-cache-ttl", "x"}});
    CHECK(bad->status == 400);
    CHECK(json::parse(bad->body)["type"] == "error");
}

TEST_CASE("no key leaks into cache.db, a hit's headers or its body")
{
    FakeUpstream up;
    Daemon d(&up, DaemonOptions{{}, k_semantic});
    const httplib::Headers semantic = {{"x-aigw-cache", "semantic"}};
    post(d, "/v1/chat/completions", chat("openai/gpt-4o-mini", "keep my keys secret"), semantic);
    post(d, "/v1/chat/completions", chat("openai/gpt-4o-mini", "keep my keys secret", true), semantic);
    auto hit = post(d, "/v1/chat/completions", chat("openai/gpt-4o-mini", "keep my keys secret"), semantic);
    REQUIRE(hit->get_header_value("x-aigw-cache") == "HIT");
    REQUIRE(d.stop() == 0);

    std::string everything = aigw::test::slurp(d.data_dir() / "cache.db");
    for (const char* suffix : {"-wal", "-shm"}) {
        everything += aigw::test::slurp(d.data_dir() / (std::string("cache.db") + suffix));
    }
    REQUIRE(everything.find("Echo: keep my keys secret") != std::string::npos);  // we read the right file
    std::string seen = hit->body;
    for (const auto& [k, v] : hit->headers) {
        seen += k + ": " + v + "\n";
    }
    for (const auto& secret : {d.env().at("OPENAI_API_KEY"), d.env().at("ANTHROPIC_API_KEY"),
                               d.env().at("AIGW_API_KEY"), std::string("SECRET")}) {
        CHECK_MESSAGE(everything.find(secret) == std::string::npos, "cache.db holds " << secret);
        CHECK_MESSAGE(seen.find(secret) == std::string::npos, "the hit shows " << secret);
    }
}

TEST_CASE("entries survive a daemon restart")
{
    FakeUpstream up;
    Daemon d(&up, DaemonOptions{{}, k_cache_on});
    const json req = chat("openai/gpt-4o-mini", "remember me across restarts");
    auto first = post(d, "/v1/chat/completions", req);
    REQUIRE(first->get_header_value("x-aigw-cache") == "MISS");
    REQUIRE(d.stop() == 0);

    // A second aigwd on the same data dir.
    aigw::test::Process again({AIGWD_PATH, "--port", "0", "--data-dir", d.data_dir().string()}, d.env(),
                              d.data_dir() / "second.stderr", false);
    int port = 0;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (port == 0 && std::chrono::steady_clock::now() < deadline) {
        auto state = json::parse(aigw::test::slurp(d.data_dir() / "aigwd.json"), nullptr, false);
        if (state.is_object() && state.value("pid", 0) == again.pid()) {
            port = state.value("port", 0);
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    REQUIRE_MESSAGE(port > 0, aigw::test::slurp(d.data_dir() / "second.stderr"));
    httplib::Client c("127.0.0.1", port);
    c.set_default_headers({{"Authorization", "Bearer test-gateway-key"}});
    auto hit = c.Post("/v1/chat/completions", req.dump(), "application/json");
    REQUIRE(hit);
    CHECK(hit->get_header_value("x-aigw-cache") == "HIT");
    CHECK(hit->body == first->body);
    CHECK(upstream_chats(up) == 1);
    CHECK(again.terminate() == 0);
}

TEST_CASE("aigw cache stats and clear, as a table and as JSON")
{
    FakeUpstream up;
    Daemon d(&up, DaemonOptions{{}, k_cache_on});
    auto env = d.env();
    env["AIGW_HOST"] = "http://127.0.0.1:" + std::to_string(d.port());
    env["NO_COLOR"] = "1";
    const json req = chat("openai/gpt-4o-mini", "count me");
    post(d, "/v1/chat/completions", req);
    post(d, "/v1/chat/completions", req);
    post(d, "/v1/chat/completions", req);

    auto stats = run_command({AIGW_PATH, "cache", "stats", "--json"}, env);
    REQUIRE_MESSAGE(stats.exit_code == 0, stats.err);
    auto j = json::parse(stats.out);
    CHECK(j["entries"] == 1);
    CHECK(j["hits"] == 2);
    CHECK(j["misses"] == 1);
    CHECK(j["hit_rate"].get<double>() == doctest::Approx(2.0 / 3.0));
    CHECK(j["saved_usd"].get<double>() > 0);
    CHECK(j["enabled"] == true);

    auto table = run_command({AIGW_PATH, "cache", "stats"}, env);
    REQUIRE(table.exit_code == 0);
    CHECK(table.out.find("hit rate   66.7%") != std::string::npos);
    CHECK(table.out.find("entries    1") != std::string::npos);

    auto clear = run_command({AIGW_PATH, "cache", "clear"}, env);
    REQUIRE_MESSAGE(clear.exit_code == 0, clear.err);
    CHECK(clear.out == "cleared 1 entry\n");
    CHECK(post(d, "/v1/chat/completions", req)->get_header_value("x-aigw-cache") == "MISS");
    auto del = d.client().Delete("/aigw/v1/cache");
    REQUIRE(del);
    CHECK(json::parse(del->body)["cleared"] == 1);
    CHECK(upstream_chats(up) == 2);

    auto unauthorised = d.get("/aigw/v1/cache", "wrong-key");
    CHECK(unauthorised->status == 401);
}

// Reliability routing end to end: retries, fallbacks, key rotation, circuit breakers,
// timeouts, load balancing, A/B splits and streams that fail cleanly -- aigwd against the
// fake upstream's fault injection.
#include "tests/integration/harness.hpp"

#include <SQLiteCpp/SQLiteCpp.h>
#include <doctest/doctest.h>

#include <atomic>
#include <functional>
#include <set>
#include <thread>

using aigw::test::Daemon;
using aigw::test::FakeUpstream;
using aigw::test::metric;
using nlohmann::json;

namespace {

using Clock = std::chrono::steady_clock;

json chat(const std::string& model, const std::string& prompt = "hello", bool stream = false)
{
    json body = {{"model", model}, {"messages", json::array({{{"role", "user"}, {"content", prompt}}})}};
    if (stream) {
        body["stream"] = true;
    }
    return body;
}

httplib::Result post(const Daemon& d, const json& body, const httplib::Headers& headers = {})
{
    auto c = d.client();
    c.set_read_timeout(std::chrono::seconds(30));
    return c.Post("/v1/chat/completions", headers, body.dump(), "application/json");
}

/// Provider requests the fake saw whose model (body or path) contains `needle`.
int upstream_hits(FakeUpstream& up, const std::string& needle)
{
    int n = 0;
    for (const auto& r : up.requests()) {
        const std::string body = r.value("body", "");
        if (body.find(needle) != std::string::npos || r.value("path", "").find(needle) != std::string::npos) {
            ++n;
        }
    }
    return n;
}

struct Row {
    std::string served_model;
    int status;
    int attempt;
    int attempts;
    bool final_attempt;
    std::string fallback_reason;
    std::int64_t output_tokens;
    std::string variant;
};

/// Ledger rows of one request, in attempt order (after the daemon stopped or flushed).
std::vector<Row> rows_of(const Daemon& d, const std::string& request_id)
{
    SQLite::Database db((d.data_dir() / "ledger.db").string(), SQLite::OPEN_READONLY);
    SQLite::Statement q(db,
                        "SELECT served_model, status, attempt, attempts, final_attempt, fallback_reason, "
                        "output_tokens, variant FROM requests WHERE request_id = ? ORDER BY attempt");
    q.bind(1, request_id);
    std::vector<Row> out;
    while (q.executeStep()) {
        out.push_back(Row{q.getColumn(0).getString(), q.getColumn(1).getInt(), q.getColumn(2).getInt(),
                          q.getColumn(3).getInt(), q.getColumn(4).getInt() != 0, q.getColumn(5).getString(),
                          q.getColumn(6).getInt64(), q.getColumn(7).getString()});
    }
    return out;
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
    return json();
}

json upstream_stats(FakeUpstream& up)
{
    httplib::Client c("127.0.0.1", up.port());
    auto r = c.Get("/_control/stats");
    REQUIRE(r);
    return json::parse(r->body);
}

}  // namespace

TEST_CASE("429 with Retry-After waits that long, retries, then falls back; every attempt is a ledger row")
{
    FakeUpstream up;
    Daemon d(&up, {.config_toml = "[routing]\nretries = 1\n"});
    const auto t0 = Clock::now();
    auto r = post(d, chat("openai/gpt-4o-fault-429"), {{"x-aigw-fallback", "anthropic/claude-haiku-4-5"}});
    const auto waited = Clock::now() - t0;
    REQUIRE(r);
    CHECK(r->status == 200);
    CHECK(r->get_header_value("x-aigw-provider") == "anthropic");
    CHECK(r->get_header_value("x-aigw-model") == "anthropic/claude-haiku-4-5");
    CHECK(r->get_header_value("x-aigw-attempts") == "3");
    CHECK(r->get_header_value("x-aigw-fallback-reason").find("429") != std::string::npos);
    // The fake's Retry-After is 1 s: the retry of the same model waited for it.
    CHECK(waited >= std::chrono::milliseconds(950));
    CHECK(upstream_hits(up, "gpt-4o-fault-429") == 2);
    CHECK(json::parse(r->body)["choices"][0]["message"]["content"] == "Echo: hello");

    const std::string id = r->get_header_value("x-request-id");
    REQUIRE(d.stop() == 0);
    auto rows = rows_of(d, id);
    REQUIRE(rows.size() == 3);
    CHECK(rows[0].status == 429);
    CHECK(rows[0].fallback_reason.empty());
    CHECK_FALSE(rows[0].final_attempt);
    CHECK(rows[1].status == 429);
    CHECK(rows[1].fallback_reason.find("retry") != std::string::npos);
    CHECK(rows[2].status == 200);
    CHECK(rows[2].final_attempt);
    CHECK(rows[2].served_model == "anthropic/claude-haiku-4-5");
    CHECK(rows[2].fallback_reason.find("fallback") != std::string::npos);
    for (const auto& row : rows) {
        CHECK(row.attempts == 3);
    }
}

TEST_CASE("500s are retried with backoff until the upstream recovers")
{
    FakeUpstream up;
    Daemon d(&up);
    up.add_fault({{"kind", "500"}, {"count", 2}, {"model_contains", "gpt-4o-mini"}});
    auto r = post(d, chat("openai/gpt-4o-mini"));
    REQUIRE(r);
    CHECK(r->status == 200);
    CHECK(r->get_header_value("x-aigw-attempts") == "3");
    CHECK(r->get_header_value("x-aigw-model") == "openai/gpt-4o-mini");
    CHECK(upstream_hits(up, "gpt-4o-mini") == 3);
}

TEST_CASE("a 4xx that is the caller's fault is never retried nor sent to a fallback")
{
    FakeUpstream up;
    Daemon d(&up);
    auto r = post(d, chat("openai/gpt-4o-fault-400"), {{"x-aigw-fallback", "anthropic/claude-haiku-4-5"}});
    REQUIRE(r);
    CHECK(r->status == 400);
    CHECK(r->get_header_value("x-aigw-attempts").empty());
    CHECK(upstream_hits(up, "gpt-4o-fault-400") == 1);
    CHECK(upstream_hits(up, "claude-haiku") == 0);
}

TEST_CASE("fallbacks from the config serve a failing model, in the caller's format")
{
    FakeUpstream up;
    Daemon d(&up, {.config_toml = "[routing]\nretries = 0\n\n[models.\"openai/gpt-4o-fault-503\"]\n"
                                  "fallback = [\"gemini/gemini-2.5-flash\"]\n"});
    auto r = post(d, chat("openai/gpt-4o-fault-503", "from the config"));
    REQUIRE(r);
    CHECK(r->status == 200);
    CHECK(r->get_header_value("x-aigw-model") == "gemini/gemini-2.5-flash");
    CHECK(r->get_header_value("x-aigw-attempts") == "2");
    auto body = json::parse(r->body);
    CHECK(body["object"] == "chat.completion");
    CHECK(body["choices"][0]["message"]["content"] == "Echo: from the config");

    // x-aigw-fallback: none turns the configured list off for one request.
    auto off = post(d, chat("openai/gpt-4o-fault-503"), {{"x-aigw-fallback", "none"}});
    REQUIRE(off);
    CHECK(off->status == 503);
}

TEST_CASE("a stream whose upstream fails before its first content falls back without the client noticing")
{
    FakeUpstream up;
    Daemon d(&up, {.config_toml = "[routing]\nretries = 0\n"});
    for (const std::string fault : {"fault-stream-error", "fault-500", "fault-malformed"}) {
        CAPTURE(fault);
        auto r = post(d, chat("openai/gpt-4o-" + fault, "still streams", true),
                      {{"x-aigw-fallback", "anthropic/claude-haiku-4-5"}});
        REQUIRE(r);
        CHECK(r->status == 200);
        CHECK(r->get_header_value("x-aigw-model") == "anthropic/claude-haiku-4-5");
        auto lines = aigw::test::sse_data_lines(r->body);
        REQUIRE_FALSE(lines.empty());
        CHECK(lines.back() == "[DONE]");
        std::string text;
        for (const auto& l : lines) {
            if (l != "[DONE]") {
                auto c = json::parse(l);
                REQUIRE_FALSE(c.contains("error"));
                if (!c["choices"].empty() && c["choices"][0]["delta"].contains("content")) {
                    text += c["choices"][0]["delta"]["content"].get<std::string>();
                }
            }
        }
        CHECK(text == "Echo: still streams");
    }
}

TEST_CASE("a stream cut after its first content ends with an error event, and the ledger keeps the delivered tokens")
{
    FakeUpstream up;
    Daemon d(&up);
    auto r = post(d, chat("openai/gpt-4o-long-fault-cut", "one two three", true),
                  {{"x-aigw-fallback", "anthropic/claude-haiku-4-5"}});
    REQUIRE(r);
    CHECK(r->status == 200);
    auto lines = aigw::test::sse_data_lines(r->body);
    REQUIRE(lines.size() >= 2);
    CHECK(lines.back() != "[DONE]");
    CHECK(json::parse(lines.back()).contains("error"));
    CHECK(upstream_hits(up, "claude-haiku") == 0);  // after the first byte there is no going back
    const std::string id = r->get_header_value("x-request-id");
    REQUIRE(d.stop() == 0);
    auto rows = rows_of(d, id);
    REQUIRE(rows.size() == 1);
    CHECK(rows[0].status == 502);
    CHECK(rows[0].output_tokens > 0);
}

TEST_CASE("timeouts: first byte falls back, idle gap mid-stream ends the stream, a bad header is a 400")
{
    FakeUpstream up;
    Daemon d(&up, {.config_toml = "[routing]\nretries = 0\n"});

    auto slow = post(d, chat("openai/gpt-4o-fault-slow"),
                     {{"x-aigw-timeout-ms", "first_byte=300"}, {"x-aigw-fallback", "anthropic/claude-haiku-4-5"}});
    REQUIRE(slow);
    CHECK(slow->status == 200);
    CHECK(slow->get_header_value("x-aigw-model") == "anthropic/claude-haiku-4-5");
    CHECK(slow->get_header_value("x-aigw-fallback-reason").find("504") != std::string::npos);

    auto alone = post(d, chat("openai/gpt-4o-fault-slow", "x", true), {{"x-aigw-timeout-ms", "first_byte=300"}});
    REQUIRE(alone);
    CHECK(alone->status == 504);

    // 600 ms between frames, 250 ms allowed: the stream starts, then ends with an error event.
    up.add_fault({{"kind", "drip"}, {"delay_ms", 600}, {"model_contains", "gpt-4o-drip"}});
    auto idle = post(d, chat("openai/gpt-4o-drip", "a b c d", true), {{"x-aigw-timeout-ms", "idle=250"}});
    REQUIRE(idle);
    CHECK(idle->status == 200);
    auto lines = aigw::test::sse_data_lines(idle->body);
    REQUIRE_FALSE(lines.empty());
    auto last = json::parse(lines.back());
    REQUIRE(last.contains("error"));
    CHECK(last["error"]["message"].get<std::string>().find("idle") != std::string::npos);

    auto bad = post(d, chat("mock/echo"), {{"x-aigw-timeout-ms", "soon"}});
    REQUIRE(bad);
    CHECK(bad->status == 400);
    CHECK(json::parse(bad->body)["error"]["param"] == "x-aigw-timeout-ms");
}

TEST_CASE("a circuit opens after repeated failures, fails fast, and closes after a successful trial")
{
    FakeUpstream up;
    Daemon d(&up, {.config_toml = "[routing]\nretries = 0\ncircuit_failures = 2\ncircuit_cooldown_ms = 700\n"});
    up.add_fault({{"kind", "500"}, {"count", 2}, {"model_contains", "gpt-4.1"}});
    CHECK(post(d, chat("openai/gpt-4.1"))->status == 500);
    CHECK(post(d, chat("openai/gpt-4.1"))->status == 500);
    CHECK(deployment(status_of(d), "openai/gpt-4.1")["state"] == "open");

    auto fast = post(d, chat("openai/gpt-4.1"));
    REQUIRE(fast);
    CHECK(fast->status == 503);
    CHECK(json::parse(fast->body)["error"]["code"] == "circuit_open");
    CHECK(upstream_hits(up, "gpt-4.1") == 2);  // the open circuit sent nothing upstream

    // With a fallback the open circuit is skipped: the client is served.
    auto served = post(d, chat("openai/gpt-4.1"), {{"x-aigw-fallback", "openai/gpt-4o-mini"}});
    REQUIRE(served);
    CHECK(served->status == 200);
    CHECK(served->get_header_value("x-aigw-fallback-reason").find("gpt-4.1") != std::string::npos);

    std::this_thread::sleep_for(std::chrono::milliseconds(800));
    auto trial = post(d, chat("openai/gpt-4.1"));
    REQUIRE(trial);
    CHECK(trial->status == 200);
    auto dep = deployment(status_of(d), "openai/gpt-4.1");
    CHECK(dep["state"] == "closed");
    CHECK(dep["errors"] == 2);
    CHECK(dep["requests"] == 3);

    // `aigw status` shows it.
    auto env = d.env();
    env["AIGW_DATA_DIR"] = d.data_dir().string();
    auto cli = aigw::test::run_command({AIGW_PATH, "status"}, env);
    CHECK(cli.exit_code == 0);
    CHECK(cli.out.find("openai/gpt-4.1") != std::string::npos);
    CHECK(cli.out.find("closed") != std::string::npos);
}

TEST_CASE("a 429 on one provider key rotates to the next key, and the first key rests across requests")
{
    FakeUpstream up;
    Daemon d(&up, {.env = {{"OPENAI_API_KEY", "sk-first-key,sk-second-key"}}});
    up.add_fault({{"kind", "429"}, {"count", 5}, {"key_contains", "sk-first-key"}, {"retry_after", 30}});
    for (int i = 0; i < 4; ++i) {
        auto r = post(d, chat("openai/gpt-4o-mini"));
        REQUIRE(r);
        CHECK(r->status == 200);
    }
    int first = 0;
    int second = 0;
    for (const auto& req : up.requests()) {
        const std::string auth = req["headers"].value("authorization", "");
        first += auth.find("sk-first-key") != std::string::npos;
        second += auth.find("sk-second-key") != std::string::npos;
    }
    CHECK(first == 1);  // one 429, then the key rested for its Retry-After
    CHECK(second == 4);
    bool cooling = false;
    const json status = status_of(d);
    for (const auto& k : status["keys"]) {
        if (k["provider"] == "openai" && k["key"] == 1) {
            cooling = k["state"] == "cooling";
        }
    }
    CHECK(cooling);
}

TEST_CASE("a 401 marks that provider key bad, visible in status, and the next key serves without backoff")
{
    FakeUpstream up;
    Daemon d(&up, {.env = {{"OPENAI_API_KEY", "sk-revoked-key,sk-good-key"}}});
    up.add_fault({{"kind", "401"}, {"count", 100}, {"key_contains", "sk-revoked-key"}});
    for (int i = 0; i < 3; ++i) {
        auto r = post(d, chat("openai/gpt-4o-mini"));
        REQUIRE(r);
        CHECK(r->status == 200);
    }
    int revoked = 0;
    for (const auto& req : up.requests()) {
        revoked += req["headers"].value("authorization", "").find("sk-revoked-key") != std::string::npos;
    }
    CHECK(revoked == 1);
    std::string state;
    const json status = status_of(d);
    for (const auto& k : status["keys"]) {
        if (k["provider"] == "openai" && k["key"] == 1) {
            state = k["state"];
        }
    }
    CHECK(state == "bad");
    // The status never shows a key.
    CHECK(d.get("/aigw/v1/status")->body.find("sk-") == std::string::npos);
}

TEST_CASE("a logical model balances over weighted deployments, and A/B splits stick to the user")
{
    FakeUpstream up;
    Daemon d(&up, {.config_toml = "[models.pool]\n"
                                  "deployments = [{ model = \"openai/gpt-4o-mini\", weight = 3 }, "
                                  "{ model = \"anthropic/claude-haiku-4-5\", weight = 1 }]\n\n"
                                  "[models.experiment]\n"
                                  "split = { \"openai/gpt-4o\" = 50, \"gemini/gemini-2.5-flash\" = 50 }\n"});
    int openai = 0;
    int anthropic = 0;
    for (int i = 0; i < 40; ++i) {
        auto r = post(d, chat("pool"));
        REQUIRE(r);
        REQUIRE(r->status == 200);
        openai += r->get_header_value("x-aigw-provider") == "openai";
        anthropic += r->get_header_value("x-aigw-provider") == "anthropic";
    }
    CHECK(openai + anthropic == 40);
    CHECK(anthropic > 0);
    CHECK(openai > anthropic);

    std::set<std::string> variants_seen;
    for (const std::string user : {"alice", "bob", "carol", "dave", "erin", "frank"}) {
        json body = chat("experiment");
        body["user"] = user;
        std::string first;
        for (int i = 0; i < 3; ++i) {
            auto r = post(d, body);
            REQUIRE(r);
            REQUIRE(r->status == 200);
            const auto v = r->get_header_value("x-aigw-variant");
            CHECK(v == r->get_header_value("x-aigw-model"));
            if (i == 0) {
                first = v;
            }
            CHECK(v == first);  // sticky per user
        }
        variants_seen.insert(first);
    }
    CHECK(variants_seen.size() >= 1);
    auto r = post(d, chat("experiment"));
    const std::string id = r->get_header_value("x-request-id");
    const std::string variant = r->get_header_value("x-aigw-variant");
    REQUIRE(d.stop() == 0);
    auto rows = rows_of(d, id);
    REQUIRE(rows.size() == 1);
    CHECK(rows[0].variant == variant);
}

TEST_CASE("automatic fallback picks a capable model with a key when asked for")
{
    FakeUpstream up;
    Daemon d(&up, {.config_toml = "[routing]\nretries = 0\n"});
    json body = chat("openai/gpt-4o-fault-503", "what is the weather in Paris");
    body["tools"] = json::array({{{"type", "function"},
                                  {"function",
                                   {{"name", "get_weather"},
                                    {"parameters",
                                     {{"type", "object"},
                                      {"properties", {{"location", {{"type", "string"}}}}},
                                      {"required", {"location"}}}}}}}});
    auto none = post(d, body);
    REQUIRE(none);
    CHECK(none->status == 503);
    auto r = post(d, body, {{"x-aigw-fallback", "auto"}});
    REQUIRE(r);
    CHECK(r->status == 200);
    CHECK(r->get_header_value("x-aigw-model") != "openai/gpt-4o-fault-503");
    CHECK(json::parse(r->body)["choices"][0]["finish_reason"] == "tool_calls");
}

TEST_CASE("a client that disconnects mid-stream closes the upstream connection within a second; the row says 499")
{
    FakeUpstream up;
    Daemon d(&up);
    up.add_fault({{"kind", "drip"}, {"delay_ms", 100}, {"model_contains", "gpt-4o-long"}});
    std::string id;
    {
        auto c = d.client();
        int chunks = 0;
        httplib::Request req;
        req.method = "POST";
        req.path = "/v1/chat/completions";
        req.headers = {{"Authorization", "Bearer test-gateway-key"}};
        req.body = chat("openai/gpt-4o-long", "go on", true).dump();
        req.headers.emplace("Content-Type", "application/json");
        int open_while_reading = -1;
        req.content_receiver = [&](const char*, size_t, uint64_t, uint64_t) {
            if (++chunks == 1) {
                open_while_reading = upstream_stats(up)["open_streams"].get<int>();
            }
            return chunks < 3;
        };
        httplib::Response res;
        httplib::Error err;
        c.send(req, res, err);  // returns once the receiver says stop: the connection closes
        CHECK(chunks == 3);
        CHECK(open_while_reading == 1);  // 200 words at 100 ms would drip for 20 s
        id = res.get_header_value("x-request-id");
    }
    const auto deadline = Clock::now() + std::chrono::seconds(1);
    while (upstream_stats(up)["open_streams"] != 0 && Clock::now() < deadline) {
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    CHECK(upstream_stats(up)["open_streams"] == 0);
    REQUIRE_FALSE(id.empty());
    REQUIRE(d.stop() == 0);
    auto rows = rows_of(d, id);
    REQUIRE(rows.size() == 1);
    CHECK(rows[0].status == 499);      // the client left before the end
    CHECK(rows[0].output_tokens > 0);  // what reached it
}

TEST_CASE("an open stream holds no copy of its request: a 1 MB prompt is let go once the stream is relayed")
{
    FakeUpstream up;
    Daemon d(&up);
    // Every stream (warm-up included: a fault's count defaults to one request, which the
    // warm-up used, and the test then passed with the requests kept) sends its first event
    // at once and the next 5 s later, so all are open when the heap is read.
    up.add_fault({{"kind", "drip"}, {"delay_ms", 2000}, {"count", 100}, {"model_contains", "gpt-4o-long"}});
    std::string prompt;
    while (prompt.size() < (1U << 20)) {
        prompt += "lorem ipsum dolor sit amet ";
    }
    struct Surface {
        std::string path;
        httplib::Headers headers;
        json body;
    };
    // OpenAI's chat as is, and Anthropic's messages translated to OpenAI's (the request is
    // then held three ways: as read, parsed, and in the canonical form).
    const std::vector<Surface> surfaces = {
        {"/v1/chat/completions", {{"Authorization", "Bearer test-gateway-key"}}, chat("openai/gpt-4o-long", "", true)},
        {"/v1/messages",
         {{"x-api-key", "test-gateway-key"}, {"anthropic-version", "2023-06-01"}},
         {{"model", "openai/gpt-4o-long"},
          {"max_tokens", 100},
          {"stream", true},
          {"messages", json::array({{{"role", "user"}, {"content", ""}}})}}},
    };
    for (const auto& s : surfaces) {
        CAPTURE(s.path);
        // Opens `n` streams of `text` and holds them until `hold` returns (each read its
        // first bytes); returns how many streams began.
        auto streams = [&](int n, const std::string& text, const std::function<void()>& hold) {
            json body = s.body;
            body["messages"][0]["content"] = text;
            const std::string payload = body.dump();
            std::atomic<int> started{0};
            std::atomic<int> not_streams{0};  // answers that began but were no 200 event stream
            std::atomic<bool> release{false};
            std::vector<std::thread> clients;
            for (int i = 0; i < n; ++i) {
                clients.emplace_back([&] {
                    auto c = d.client();
                    c.set_read_timeout(std::chrono::seconds(30));
                    httplib::Request req;
                    req.method = "POST";
                    req.path = s.path;
                    req.headers = s.headers;
                    req.headers.emplace("Content-Type", "application/json");
                    req.body = payload;
                    bool first = true;
                    req.response_handler = [&](const httplib::Response& head) {
                        if (head.status != 200 ||
                            head.get_header_value("Content-Type").find("text/event-stream") == std::string::npos) {
                            ++not_streams;
                        }
                        return true;
                    };
                    req.content_receiver = [&](const char*, size_t, uint64_t, uint64_t) {
                        if (std::exchange(first, false)) {
                            ++started;
                            const auto until = Clock::now() + std::chrono::seconds(30);
                            while (!release && Clock::now() < until) {
                                std::this_thread::sleep_for(std::chrono::milliseconds(10));
                            }
                        }
                        return false;  // close: the daemon cancels the upstream
                    };
                    httplib::Response res;
                    httplib::Error err;
                    c.send(req, res, err);
                });
            }
            const auto deadline = Clock::now() + std::chrono::seconds(30);
            while (started < n && Clock::now() < deadline) {
                std::this_thread::sleep_for(std::chrono::milliseconds(20));
            }
            const int began = started;
            hold();
            release = true;
            for (auto& t : clients) {
                t.join();
            }
            CHECK(not_streams == 0);
            return began;
        };
        // One small stream first: what the daemon makes once (pools, tables) is not counted.
        REQUIRE(streams(1, "warm up", [] {}) == 1);
        const double before = metric(d, "aigw_heap_allocated_bytes");
        REQUIRE(before > 0);
        constexpr int k_streams = 6;
        double during = 0;
        REQUIRE(streams(k_streams, prompt, [&] { during = metric(d, "aigw_heap_allocated_bytes"); }) == k_streams);
        MESSAGE(s.path << ": heap " << before / 1e6 << " MB before, " << during / 1e6 << " MB with " << k_streams
                       << " streams of a " << prompt.size() / 1e6 << " MB prompt open");
        // Each stream used to keep its request (as read, parsed, and for Anthropic's also
        // translated) until it ended; now only what a stream needs (a few KB) remains.
        CHECK(during - before < k_streams * static_cast<double>(prompt.size()) / 4);
    }
    CHECK(d.post("/v1/chat/completions", chat("mock/echo"))->status == 200);
}

TEST_CASE("a fallback that cannot be routed (unknown provider, no key) is skipped for the next one")
{
    FakeUpstream up;
    Daemon d(&up, {.config_toml = "[routing]\nretries = 0\n"});
    auto r = post(d, chat("openai/gpt-4o-fault-503"),
                  {{"x-aigw-fallback", "nosuch/model, mistral/mistral-small-latest, anthropic/claude-haiku-4-5"}});
    REQUIRE(r);
    CHECK(r->status == 200);
    CHECK(r->get_header_value("x-aigw-model") == "anthropic/claude-haiku-4-5");
    CHECK(r->get_header_value("x-aigw-attempts") == "2");  // only attempts that were sent count
}

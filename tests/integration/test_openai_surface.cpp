// The OpenAI surface end to end over real HTTP: aigwd against the fake upstream.

#include "tests/integration/harness.hpp"

#include <SQLiteCpp/SQLiteCpp.h>
#include <doctest/doctest.h>

#include <thread>

using aigw::test::Daemon;
using aigw::test::FakeUpstream;
using nlohmann::json;

namespace {

json chat(const std::string& model, const std::string& prompt, bool stream = false)
{
    json body = {{"model", model}, {"messages", json::array({{{"role", "user"}, {"content", prompt}}})}};
    if (stream) {
        body["stream"] = true;
    }
    return body;
}

json error_of(const httplib::Result& r)
{
    REQUIRE(r);
    auto doc = json::parse(r->body, nullptr, false);
    REQUIRE_MESSAGE(!doc.is_discarded(), "error body is not JSON: " << r->body);
    REQUIRE(doc.contains("error"));
    CHECK(doc["error"].contains("message"));
    CHECK(doc["error"].contains("type"));
    CHECK(doc["error"].contains("param"));
    CHECK(doc["error"].contains("code"));
    return doc["error"];
}

/// The last request the fake upstream received on `path`.
json last_upstream_request(FakeUpstream& up, const std::string& path_contains)
{
    auto reqs = up.requests();
    for (auto it = reqs.rbegin(); it != reqs.rend(); ++it) {
        if ((*it)["path"].get<std::string>().find(path_contains) != std::string::npos) {
            return *it;
        }
    }
    FAIL("the upstream saw no request to " << path_contains);
    return {};
}

std::int64_t ledger_count(const Daemon& d, const std::string& where = "1=1")
{
    SQLite::Database db((d.data_dir() / "ledger.db").string(), SQLite::OPEN_READONLY);
    return db.execAndGet("SELECT COUNT(*) FROM requests WHERE " + where).getInt64();
}

}  // namespace

TEST_CASE("mock answers deterministically without any provider key, and the ledger records it")
{
    Daemon d(nullptr);
    auto r = d.post("/v1/chat/completions", chat("mock/echo", "hello there"));
    REQUIRE(r);
    REQUIRE(r->status == 200);
    auto body = json::parse(r->body);
    CHECK(body["object"] == "chat.completion");
    CHECK(body["choices"][0]["message"]["content"] == "Mock answer from mock/echo: hello there");
    CHECK(body["usage"]["prompt_tokens"].get<int>() > 0);
    CHECK(r->get_header_value("x-aigw-provider") == "mock");
    CHECK(r->get_header_value("x-aigw-model") == "mock/echo");
    CHECK(r->get_header_value("x-aigw-cost-usd") == "0");
    CHECK(r->get_header_value("x-request-id").starts_with("req_"));
    CHECK(r->get_header_value_count("x-request-id") == 1);

    auto again = d.post("/v1/chat/completions", chat("mock/echo", "hello there"));
    CHECK(json::parse(again->body)["choices"][0]["message"]["content"] == body["choices"][0]["message"]["content"]);
    REQUIRE(d.stop() == 0);
    CHECK(ledger_count(d, "served_model = 'mock/echo' AND status = 200") == 2);
}

TEST_CASE("wrong or missing gateway key is 401 in OpenAI's shape, and /health needs none")
{
    Daemon d(nullptr);
    auto wrong = d.post("/v1/chat/completions", chat("mock/echo", "x"), "not-the-key");
    REQUIRE(wrong);
    CHECK(wrong->status == 401);
    CHECK(error_of(wrong)["type"] == "authentication_error");
    auto none = d.post("/v1/chat/completions", chat("mock/echo", "x"), "");
    CHECK(none->status == 401);
    auto models = d.get("/v1/models", "wrong");
    CHECK(models->status == 401);
    auto health = d.get("/health", "");
    REQUIRE(health);
    CHECK(health->status == 200);
    CHECK(json::parse(health->body)["status"] == "ok");
}

TEST_CASE("a generated gateway key is stored 0600 in the data dir and accepted")
{
    Daemon d(nullptr, {.env = {{"AIGW_API_KEY", ""}}});
    const auto key_file = d.data_dir() / "gateway.key";
    REQUIRE(std::filesystem::exists(key_file));
    auto perms = std::filesystem::status(key_file).permissions();
    CHECK((perms & std::filesystem::perms::group_all) == std::filesystem::perms::none);
    CHECK((perms & std::filesystem::perms::others_all) == std::filesystem::perms::none);
    std::string key = aigw::test::slurp(key_file);
    while (!key.empty() && key.back() == '\n') {
        key.pop_back();
    }
    CHECK(key.starts_with("aigw-"));
    auto r = d.post("/v1/chat/completions", chat("mock/echo", "x"), key);
    CHECK(r->status == 200);
}

TEST_CASE("bad input gets a clear 4xx in OpenAI's shape and the daemon keeps serving")
{
    Daemon d(nullptr);
    auto c = d.client();
    auto malformed = c.Post("/v1/chat/completions", "{not json", "application/json");
    CHECK(malformed->status == 400);
    CHECK(error_of(malformed)["type"] == "invalid_request_error");

    auto no_model = d.post("/v1/chat/completions", {{"messages", json::array({{{"role", "user"}, {"content", "x"}}})}});
    CHECK(no_model->status == 400);
    CHECK(error_of(no_model)["param"] == "model");

    auto no_messages = d.post("/v1/chat/completions", {{"model", "mock/echo"}});
    CHECK(no_messages->status == 400);
    CHECK(error_of(no_messages)["param"] == "messages");

    auto array_body = c.Post("/v1/chat/completions", "[1,2]", "application/json");
    CHECK(array_body->status == 400);

    auto unknown_provider = d.post("/v1/chat/completions", chat("nosuchprovider/model-x", "x"));
    CHECK(unknown_provider->status == 404);
    CHECK(error_of(unknown_provider)["code"] == "model_not_found");

    auto unknown_bare = d.post("/v1/chat/completions", chat("no-such-model-anywhere", "x"));
    CHECK(unknown_bare->status == 404);
    CHECK(error_of(unknown_bare)["code"] == "model_not_found");

    auto unknown_route = d.get("/v1/nothing-here");
    CHECK(unknown_route->status == 404);
    error_of(unknown_route);

    auto ok = d.post("/v1/chat/completions", chat("mock/echo", "still alive?"));
    CHECK(ok->status == 200);
}

TEST_CASE("a provider without a key is refused with what to do, naming the variable")
{
    Daemon d(nullptr);
    auto r = d.post("/v1/chat/completions", chat("openai/gpt-4o-mini", "x"));
    REQUIRE(r);
    CHECK(r->status == 401);
    auto err = error_of(r);
    CHECK(err["message"].get<std::string>().find("OPENAI_API_KEY") != std::string::npos);
    CHECK(err["message"].get<std::string>().find("aigw keys set openai") != std::string::npos);
}

TEST_CASE("openai/gpt-4o-mini reaches the upstream as OpenAI documents it and comes back priced")
{
    FakeUpstream up;
    Daemon d(&up);
    auto r = d.post("/v1/chat/completions", chat("openai/gpt-4o-mini", "what is two plus two"));
    REQUIRE(r);
    REQUIRE_MESSAGE(r->status == 200, r->body);
    auto body = json::parse(r->body);
    CHECK(body["choices"][0]["message"]["content"].get<std::string>().find("what is two plus two") !=
          std::string::npos);
    CHECK(r->get_header_value("x-aigw-provider") == "openai");
    CHECK(r->get_header_value("x-aigw-model") == "openai/gpt-4o-mini");
    CHECK(std::stod(r->get_header_value("x-aigw-cost-usd")) > 0.0);

    auto sent = last_upstream_request(up, "/chat/completions");
    CHECK(sent["path"] == "/v1/chat/completions");
    CHECK(sent["headers"]["authorization"] == "Bearer sk-test-openai-SECRET-1234");
    auto sent_body = json::parse(sent["body"].get<std::string>());
    CHECK(sent_body["model"] == "gpt-4o-mini");  // no provider prefix upstream
    CHECK_FALSE(sent_body.contains("stream"));
}

TEST_CASE("a bare catalog model name resolves to its provider")
{
    FakeUpstream up;
    Daemon d(&up);
    auto r = d.post("/v1/chat/completions", chat("gpt-4o-mini", "bare name"));
    REQUIRE(r);
    CHECK(r->status == 200);
    CHECK(r->get_header_value("x-aigw-model") == "openai/gpt-4o-mini");
}

TEST_CASE("an unknown model of a known provider is forwarded, unpriced")
{
    FakeUpstream up;
    Daemon d(&up);
    auto r = d.post("/v1/chat/completions", chat("openai/brand-new-model-2027", "hi"));
    REQUIRE(r);
    CHECK(r->status == 200);
    CHECK(r->get_header_value("x-aigw-cost-usd") == "0");
    auto sent = json::parse(last_upstream_request(up, "/chat/completions")["body"].get<std::string>());
    CHECK(sent["model"] == "brand-new-model-2027");
    REQUIRE(d.stop() == 0);
    CHECK(ledger_count(d, "served_model = 'openai/brand-new-model-2027' AND priced = 0") == 1);
}

TEST_CASE("streaming always asks the upstream for usage but passes the usage chunk only when asked")
{
    FakeUpstream up;
    Daemon d(&up);
    auto c = d.client();

    auto plain =
        c.Post("/v1/chat/completions", chat("openai/gpt-4o-mini", "stream me please", true).dump(), "application/json");
    REQUIRE(plain);
    REQUIRE(plain->status == 200);
    CHECK(plain->get_header_value("Content-Type").starts_with("text/event-stream"));
    auto lines = aigw::test::sse_data_lines(plain->body);
    REQUIRE(lines.size() >= 3);
    CHECK(lines.back() == "[DONE]");
    std::string text;
    for (std::size_t i = 0; i + 1 < lines.size(); ++i) {
        auto chunk = json::parse(lines[i]);
        CHECK(chunk["object"] == "chat.completion.chunk");
        const bool has_usage = chunk.contains("usage") && chunk["usage"].is_object();
        CHECK_FALSE(has_usage);
        for (const auto& ch : chunk["choices"]) {
            if (ch["delta"].contains("content") && ch["delta"]["content"].is_string()) {
                text += ch["delta"]["content"].get<std::string>();
            }
        }
    }
    CHECK(text.find("stream me please") != std::string::npos);
    auto sent = json::parse(last_upstream_request(up, "/chat/completions")["body"].get<std::string>());
    CHECK(sent["stream"] == true);
    CHECK(sent["stream_options"]["include_usage"] == true);

    auto with_usage_req = chat("openai/gpt-4o-mini", "count my tokens", true);
    with_usage_req["stream_options"] = {{"include_usage", true}};
    auto with_usage = c.Post("/v1/chat/completions", with_usage_req.dump(), "application/json");
    auto wl = aigw::test::sse_data_lines(with_usage->body);
    REQUIRE(wl.size() >= 2);
    auto usage_chunk = json::parse(wl[wl.size() - 2]);
    CHECK(usage_chunk["choices"].empty());
    CHECK(usage_chunk["usage"]["prompt_tokens"].get<int>() > 0);
    CHECK(usage_chunk["usage"]["completion_tokens"].get<int>() > 0);

    REQUIRE(d.stop() == 0);
    // Both streams were priced from the upstream's usage, even the one whose client did not ask.
    CHECK(ledger_count(
              d, "served_model = 'openai/gpt-4o-mini' AND stream = 1 AND cost_usd > 0 AND output_tokens > 0") == 2);
}

namespace {

/// An OpenAI upstream that streams `frames` as written (key order, spacing), for checking
/// what reaches the client byte for byte.
class ScriptedStream {
public:
    explicit ScriptedStream(std::string frames) : m_frames(std::move(frames))
    {
        m_server.Post("/v1/chat/completions", [this](const httplib::Request&, httplib::Response& res) {
            res.set_content(m_frames, "text/event-stream");
        });
        m_port = m_server.bind_to_any_port("127.0.0.1");
        m_thread = std::thread([this] { m_server.listen_after_bind(); });
        for (int i = 0; i < 1000 && !m_server.is_running(); ++i) {
            std::this_thread::sleep_for(std::chrono::milliseconds(1));
        }
    }
    ~ScriptedStream()
    {
        m_server.stop();
        m_thread.join();
    }
    std::string base_url() const { return "http://127.0.0.1:" + std::to_string(m_port) + "/v1"; }

private:
    std::string m_frames;
    httplib::Server m_server;
    int m_port = 0;
    std::thread m_thread;
};

}  // namespace

TEST_CASE("an OpenAI stream reaches an OpenAI client as the upstream wrote its chunks; usage only when asked")
{
    // Not the order or spacing nlohmann would write: a chunk rebuilt on the way would differ.
    const std::string role =
        R"({"id":"chatcmpl-9","object":"chat.completion.chunk","created":7,"model":"gpt-4o-mini-2024-07-18","choices":[{"index":0,"delta":{"role":"assistant","content":""},"logprobs":null,"finish_reason":null}],"usage":null})";
    const std::string text1 =
        R"({"id":"chatcmpl-9","object":"chat.completion.chunk","created":7,"model":"gpt-4o-mini-2024-07-18", "choices":[{"index":0,"delta":{"content":"Hel\u006co"},"logprobs":null,"finish_reason":null}],"usage":null})";
    const std::string text2 =
        R"({"id":"chatcmpl-9","object":"chat.completion.chunk","created":7,"model":"gpt-4o-mini-2024-07-18","choices":[{"index":0,"delta":{"content":" world"},"logprobs":null,"finish_reason":null}],"usage":null})";
    const std::string last =
        R"({"id":"chatcmpl-9","object":"chat.completion.chunk","created":7,"model":"gpt-4o-mini-2024-07-18","choices":[{"index":0,"delta":{},"logprobs":null,"finish_reason":"stop"}],"usage":null})";
    const std::string usage =
        R"({"id":"chatcmpl-9","object":"chat.completion.chunk","created":7,"model":"gpt-4o-mini-2024-07-18","choices":[],"usage":{"prompt_tokens":11,"completion_tokens":2,"total_tokens":13}})";
    std::string frames;
    for (const auto* c : {&role, &text1, &text2, &last, &usage}) {
        frames += "data: " + *c + "\n\n";
    }
    frames += "data: [DONE]\n\n";
    ScriptedStream up(frames);
    Daemon d(nullptr, {.env = {{"OPENAI_API_KEY", "sk-test"}, {"AIGW_OPENAI_BASE_URL", up.base_url()}}});

    auto plain = d.post("/v1/chat/completions", chat("openai/gpt-4o-mini", "hi", true));
    REQUIRE(plain);
    REQUIRE(plain->status == 200);
    auto lines = aigw::test::sse_data_lines(plain->body);
    CHECK(lines == std::vector<std::string>{role, text1, text2, last, "[DONE]"});

    auto asked = chat("openai/gpt-4o-mini", "hi", true);
    asked["stream_options"] = {{"include_usage", true}};
    auto with_usage = d.post("/v1/chat/completions", asked);
    REQUIRE(with_usage);
    auto wl = aigw::test::sse_data_lines(with_usage->body);
    REQUIRE(wl.size() == 6);
    CHECK(std::vector<std::string>(wl.begin(), wl.begin() + 4) == std::vector<std::string>{role, text1, text2, last});
    CHECK(json::parse(wl[4]) == json::parse(usage));
    CHECK(wl[5] == "[DONE]");

    REQUIRE(d.stop() == 0);
    // Both priced from the upstream's usage chunk, also the one whose client did not see it.
    CHECK(ledger_count(d, "stream = 1 AND input_tokens = 11 AND output_tokens = 2 AND cost_usd > 0") == 2);
}

TEST_CASE("mock streams word by word and ends with [DONE]")
{
    Daemon d(nullptr);
    auto c = d.client();
    auto r = c.Post("/v1/chat/completions", chat("mock/echo", "one two three", true).dump(), "application/json");
    REQUIRE(r);
    auto lines = aigw::test::sse_data_lines(r->body);
    CHECK(lines.back() == "[DONE]");
    int content_chunks = 0;
    for (std::size_t i = 0; i + 1 < lines.size(); ++i) {
        auto chunk = json::parse(lines[i]);
        if (!chunk["choices"].empty() && chunk["choices"][0]["delta"].contains("content") &&
            !chunk["choices"][0]["delta"]["content"].get<std::string>().empty()) {
            ++content_chunks;
        }
    }
    CHECK(content_chunks == 7);  // "Mock answer from mock/echo: one two three"
}

TEST_CASE("upstream 429 comes back with its status, message and Retry-After")
{
    FakeUpstream up;
    Daemon d(&up);
    auto r = d.post("/v1/chat/completions", chat("openai/fault-429", "x"));
    REQUIRE(r);
    CHECK(r->status == 429);
    CHECK(r->get_header_value("Retry-After") == "1");
    auto err = error_of(r);
    CHECK(err["code"] == "rate_limit_exceeded");  // OpenAI's own body passes through
    CHECK_FALSE(err["message"].get<std::string>().empty());
}

TEST_CASE("upstream 500 comes back as 500 in OpenAI's shape, also for a stream request")
{
    FakeUpstream up;
    Daemon d(&up);
    auto r = d.post("/v1/chat/completions", chat("openai/fault-500", "x"));
    REQUIRE(r);
    CHECK(r->status == 500);
    error_of(r);
    // Another model: the first one's circuit may have opened after its retries.
    auto s = d.post("/v1/chat/completions", chat("openai/gpt-4o-fault-500", "x", true));
    REQUIRE(s);
    CHECK(s->status == 500);
    error_of(s);
}

TEST_CASE("a malformed upstream body is a 502, not a crash")
{
    FakeUpstream up;
    Daemon d(&up);
    auto r = d.post("/v1/chat/completions", chat("openai/fault-malformed", "x"));
    REQUIRE(r);
    CHECK(r->status == 502);
    CHECK(error_of(r)["message"].get<std::string>().find("malformed") != std::string::npos);
    CHECK(d.post("/v1/chat/completions", chat("openai/gpt-4o-mini", "x"))->status == 200);
}

TEST_CASE("an unreachable upstream is a 502 that names the address")
{
    Daemon d(nullptr, {.env = {{"OPENAI_API_KEY", "sk-x"}, {"AIGW_OPENAI_BASE_URL", "http://127.0.0.1:1/v1"}}});
    auto r = d.post("/v1/chat/completions", chat("openai/gpt-4o-mini", "x"));
    REQUIRE(r);
    CHECK(r->status == 502);
    CHECK(error_of(r)["message"].get<std::string>().find("127.0.0.1:1") != std::string::npos);
    auto s = d.post("/v1/chat/completions", chat("openai/gpt-4o", "x", true));
    REQUIRE(s);
    CHECK(s->status == 502);
}

TEST_CASE("a slow first byte still completes")
{
    FakeUpstream up;
    Daemon d(&up);
    auto r = d.post("/v1/chat/completions", chat("openai/fault-slow", "patience"));
    REQUIRE(r);
    CHECK(r->status == 200);
}

TEST_CASE("a stream cut mid-way ends with an error event and no [DONE]")
{
    FakeUpstream up;
    Daemon d(&up);
    auto c = d.client();
    auto r = c.Post("/v1/chat/completions", chat("openai/fault-cut", "cut me", true).dump(), "application/json");
    REQUIRE(r);
    CHECK(r->status == 200);
    auto lines = aigw::test::sse_data_lines(r->body);
    REQUIRE_FALSE(lines.empty());
    CHECK(lines.back() != "[DONE]");
    auto last = json::parse(lines.back());
    REQUIRE(last.contains("error"));
    CHECK(last["error"]["message"].get<std::string>().find("incomplete") != std::string::npos);
    REQUIRE(d.stop() == 0);
    CHECK(ledger_count(d, "served_model = 'openai/fault-cut' AND status >= 500") == 1);
}

TEST_CASE("an error event inside a 200 stream, before any content, is an error answer in OpenAI's shape")
{
    // The stream is held back until its first content, so nothing was committed yet: the
    // client gets a plain error with a status (or a fallback's answer, see test_reliability).
    FakeUpstream up;
    Daemon d(&up);
    auto c = d.client();
    auto r = c.Post("/v1/chat/completions", chat("openai/fault-stream-error", "x", true).dump(), "application/json");
    REQUIRE(r);
    CHECK(r->status >= 500);
    CHECK(error_of(r)["message"].get<std::string>().size() > 0);
}

TEST_CASE("GET /v1/models lists mock and what the configured keys reach, in OpenAI's shape")
{
    FakeUpstream up;
    Daemon d(&up);
    auto r = d.get("/v1/models");
    REQUIRE(r);
    auto body = json::parse(r->body);
    CHECK(body["object"] == "list");
    bool mock = false;
    bool openai = false;
    bool mistral = false;
    for (const auto& m : body["data"]) {
        CHECK(m["object"] == "model");
        const auto id = m["id"].get<std::string>();
        mock |= id == "mock/echo";
        openai |= id == "openai/gpt-4o-mini";
        mistral |= id.starts_with("mistral/");
    }
    CHECK(mock);
    CHECK(openai);
    CHECK_FALSE(mistral);  // no MISTRAL_API_KEY here
}

TEST_CASE("every request served is in the ledger even when the daemon is stopped right after")
{
    Daemon d(nullptr);
    auto c = d.client();
    const int n = 200;
    for (int i = 0; i < n; ++i) {
        auto r =
            c.Post("/v1/chat/completions", chat("mock/echo", "row " + std::to_string(i)).dump(), "application/json");
        REQUIRE(r);
        REQUIRE(r->status == 200);
    }
    REQUIRE(d.stop() == 0);
    CHECK(ledger_count(d) == n);
    CHECK_FALSE(std::filesystem::exists(d.data_dir() / "aigwd.json"));  // state file removed on clean exit
}

TEST_CASE("provider keys appear in no response, log line or ledger row")
{
    FakeUpstream up;
    Daemon d(&up, {.config_toml = "[ledger]\nlog_bodies = true\n"});
    std::string all_responses;
    for (const char* model : {"openai/gpt-4o-mini", "openai/fault-401", "openai/fault-500", "openai/fault-429"}) {
        auto r = d.post("/v1/chat/completions", chat(model, "leak check"));
        REQUIRE(r);
        all_responses += r->body;
        for (const auto& [k, v] : r->headers) {
            all_responses += k + ": " + v + "\n";
        }
    }
    for (const char* path : {"/aigw/v1/status", "/aigw/v1/logs", "/aigw/v1/models"}) {
        all_responses += d.get(path)->body;
    }
    REQUIRE(d.stop() == 0);
    std::string ledger_bytes =
        aigw::test::slurp(d.data_dir() / "ledger.db") + aigw::test::slurp(d.data_dir() / "ledger.db-wal");
    std::string log = aigw::test::slurp(d.log_file());
    for (const char* secret : {"SECRET-1234", "SECRET-5678", "SECRET-9012"}) {
        CHECK_MESSAGE(all_responses.find(secret) == std::string::npos, "key in a response");
        CHECK_MESSAGE(ledger_bytes.find(secret) == std::string::npos, "key in the ledger");
        CHECK_MESSAGE(log.find(secret) == std::string::npos, "key in the log");
    }
}

TEST_CASE("the daemon binds to loopback only by default")
{
    Daemon d(nullptr);
    auto state = json::parse(aigw::test::slurp(d.data_dir() / "aigwd.json"));
    CHECK(state["host"] == "127.0.0.1");
    CHECK(state["pid"].get<int>() == d.process().pid());
}

TEST_CASE("with log_bodies on, a chat answer's body is in its ledger row and an embeddings answer's is not")
{
    Daemon d(nullptr, {.config_toml = "[ledger]\nlog_bodies = true\n"});
    auto c = d.post("/v1/chat/completions", chat("mock/echo", "keep this answer"));
    REQUIRE(c);
    REQUIRE(c->status == 200);
    CHECK(c->get_header_value("x-aigw-cost-usd") == "0");
    auto e = d.post("/v1/embeddings", json{{"model", "mock/embed"}, {"input", "a vector, not kept"}});
    REQUIRE(e);
    REQUIRE(e->status == 200);
    CHECK(e->has_header("x-aigw-cost-usd"));
    REQUIRE(d.stop() == 0);
    SQLite::Database db((d.data_dir() / "ledger.db").string(), SQLite::OPEN_READONLY);
    auto response_body_of = [&](const std::string& surface) {
        return db
            .execAndGet(
                "SELECT COALESCE((SELECT b.response_body FROM request_bodies b WHERE b.request_row_id = r.id), "
                "'') FROM requests r WHERE r.surface = '" +
                surface + "'")
            .getString();
    };
    CHECK(response_body_of("openai.chat") == c->body);
    CHECK(response_body_of("openai.embeddings").empty());
}

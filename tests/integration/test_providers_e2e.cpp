// Native providers through both surfaces over real HTTP: what reaches each upstream is what
// that provider documents, native Anthropic passthrough loses nothing, and cost accounting
// prices cache reads without double counting.

#include "tests/integration/harness.hpp"

#include <SQLiteCpp/SQLiteCpp.h>
#include <doctest/doctest.h>

#include <cstring>

using aigw::test::Daemon;
using aigw::test::FakeUpstream;
using nlohmann::json;

namespace {

json last_request(FakeUpstream& up, const std::string& path_contains)
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

httplib::Result post_anthropic(const Daemon& d, const json& body, const std::string& key = "test-gateway-key",
                               const std::string& beta = "")
{
    httplib::Client c("127.0.0.1", d.port());
    c.set_read_timeout(30, 0);
    httplib::Headers h = {{"x-api-key", key}, {"anthropic-version", "2023-06-01"}};
    if (!beta.empty()) {
        h.emplace("anthropic-beta", beta);
    }
    return c.Post("/v1/messages", h, body.dump(), "application/json");
}

std::vector<std::pair<std::string, json>> sse_events(const std::string& body)
{
    std::vector<std::pair<std::string, json>> out;
    std::string event;
    std::istringstream in(body);
    std::string line;
    while (std::getline(in, line)) {
        if (line.starts_with("event: ")) {
            event = line.substr(7);
        } else if (line.starts_with("data: ")) {
            out.emplace_back(event, json::parse(line.substr(6), nullptr, false));
            event.clear();
        }
    }
    return out;
}

const json k_user_hello = json::array({{{"role", "user"}, {"content", "hello upstream"}}});

}  // namespace

TEST_CASE("OpenAI surface to anthropic: system at top level, max_tokens set, x-api-key, bare model name")
{
    FakeUpstream up;
    Daemon d(&up);
    json req = {{"model", "anthropic/claude-haiku-4-5"},
                {"messages", json::array({{{"role", "system"}, {"content", "be terse"}},
                                          {{"role", "user"}, {"content", "hello claude"}}})}};
    auto r = d.post("/v1/chat/completions", req);
    REQUIRE(r);
    REQUIRE_MESSAGE(r->status == 200, r->body);
    auto body = json::parse(r->body);
    CHECK(body["choices"][0]["message"]["content"].get<std::string>().find("hello claude") != std::string::npos);
    CHECK(body["choices"][0]["finish_reason"] == "stop");
    CHECK(std::stod(r->get_header_value("x-aigw-cost-usd")) > 0);

    auto sent = last_request(up, "/messages");
    CHECK(sent["path"] == "/v1/messages");
    CHECK(sent["headers"]["x-api-key"] == "sk-ant-test-SECRET-5678");
    CHECK_FALSE(sent["headers"]["anthropic-version"].get<std::string>().empty());
    auto sb = json::parse(sent["body"].get<std::string>());
    CHECK(sb["model"] == "claude-haiku-4-5");
    CHECK(sb["max_tokens"].get<int>() > 0);
    CHECK(sb["system"].dump().find("be terse") != std::string::npos);
    for (const auto& m : sb["messages"]) {
        CHECK(m["role"] != "system");
    }
}

TEST_CASE("OpenAI surface to gemini: systemInstruction, x-goog-api-key, model in the path, CRLF stream with usage")
{
    FakeUpstream up;
    Daemon d(&up);
    json req = {{"model", "gemini/gemini-2.5-flash"},
                {"stream", true},
                {"stream_options", {{"include_usage", true}}},
                {"messages", json::array({{{"role", "system"}, {"content", "sys text"}},
                                          {{"role", "user"}, {"content", "hello gemini stream"}}})}};
    auto c = d.client();
    auto r = c.Post("/v1/chat/completions", req.dump(), "application/json");
    REQUIRE(r);
    REQUIRE(r->status == 200);
    auto lines = aigw::test::sse_data_lines(r->body);
    REQUIRE(lines.size() >= 3);
    CHECK(lines.back() == "[DONE]");
    std::string text;
    json usage;
    for (std::size_t i = 0; i + 1 < lines.size(); ++i) {
        auto chunk = json::parse(lines[i]);
        if (chunk.contains("usage") && chunk["usage"].is_object()) {
            usage = chunk["usage"];
        }
        for (const auto& ch : chunk["choices"]) {
            if (ch["delta"].contains("content") && ch["delta"]["content"].is_string()) {
                text += ch["delta"]["content"].get<std::string>();
            }
        }
    }
    CHECK(text.find("hello gemini stream") != std::string::npos);
    REQUIRE(usage.is_object());
    CHECK(usage["prompt_tokens"].get<int>() > 0);

    auto sent = last_request(up, "streamGenerateContent");
    CHECK(sent["path"] == "/v1beta/models/gemini-2.5-flash:streamGenerateContent");
    CHECK(sent["headers"]["x-goog-api-key"] == "gm-test-SECRET-9012");
    CHECK(sent["query"].get<std::string>().find("alt=sse") != std::string::npos);
    auto sb = json::parse(sent["body"].get<std::string>());
    CHECK(sb["systemInstruction"].dump().find("sys text") != std::string::npos);
    for (const auto& content : sb["contents"]) {
        CHECK(content["role"] != "system");
    }
}

TEST_CASE("native Anthropic passthrough keeps every field, cache_control and betas included")
{
    FakeUpstream up;
    Daemon d(&up);
    json req = {
        {"model", "anthropic/claude-sonnet-4-5"},
        {"max_tokens", 321},
        {"system",
         json::array({{{"type", "text"}, {"text", "long cached prefix"}, {"cache_control", {{"type", "ephemeral"}}}}})},
        {"metadata", {{"user_id", "u-42"}}},
        {"some_future_field", {{"nested", true}}},
        {"messages", k_user_hello}};
    auto r = post_anthropic(d, req, "test-gateway-key", "prompt-caching-2024-07-31");
    REQUIRE(r);
    REQUIRE_MESSAGE(r->status == 200, r->body);
    auto body = json::parse(r->body);
    CHECK(body["type"] == "message");
    CHECK(body["content"][0]["text"].get<std::string>().find("hello upstream") != std::string::npos);
    CHECK(r->get_header_value("x-aigw-provider") == "anthropic");

    auto sent = last_request(up, "/messages");
    CHECK(sent["headers"]["x-api-key"] == "sk-ant-test-SECRET-5678");  // the provider key, not ours
    CHECK(sent["headers"]["anthropic-beta"] == "prompt-caching-2024-07-31");
    auto sb = json::parse(sent["body"].get<std::string>());
    json expected = req;
    expected["model"] = "claude-sonnet-4-5";
    CHECK(sb == expected);
}

TEST_CASE("native Anthropic stream comes back event for event and ends with message_stop")
{
    FakeUpstream up;
    Daemon d(&up);
    json req = {
        {"model", "anthropic/claude-haiku-4-5"}, {"max_tokens", 50}, {"stream", true}, {"messages", k_user_hello}};
    auto r = post_anthropic(d, req);
    REQUIRE(r);
    REQUIRE(r->status == 200);
    auto events = sse_events(r->body);
    REQUIRE(events.size() >= 5);
    CHECK(events.front().first == "message_start");
    CHECK(events.back().first == "message_stop");
    std::string text;
    for (const auto& [name, data] : events) {
        if (name == "content_block_delta" && data["delta"]["type"] == "text_delta") {
            text += data["delta"]["text"].get<std::string>();
        }
    }
    CHECK(text.find("hello upstream") != std::string::npos);
    REQUIRE(d.stop() == 0);
    SQLite::Database db((d.data_dir() / "ledger.db").string(), SQLite::OPEN_READONLY);
    CHECK(db.execAndGet("SELECT COUNT(*) FROM requests WHERE surface = 'anthropic.messages' AND stream = 1 AND "
                        "output_tokens > 0 AND cost_usd > 0")
              .getInt() == 1);
}

TEST_CASE("a cut native Anthropic stream ends with an error event, not a silent stop")
{
    FakeUpstream up;
    Daemon d(&up);
    json req = {{"model", "anthropic/fault-cut"}, {"max_tokens", 50}, {"stream", true}, {"messages", k_user_hello}};
    auto r = post_anthropic(d, req);
    REQUIRE(r);
    auto events = sse_events(r->body);
    REQUIRE_FALSE(events.empty());
    CHECK(events.back().first == "error");
    CHECK(events.back().second["type"] == "error");
    for (const auto& e : events) {
        CHECK(e.first != "message_stop");
    }
}

TEST_CASE("the Anthropic surface translates to other providers, streaming included")
{
    FakeUpstream up;
    Daemon d(&up);
    json req = {{"model", "openai/gpt-4o-mini"}, {"max_tokens", 50}, {"system", "be kind"}, {"messages", k_user_hello}};
    auto r = post_anthropic(d, req);
    REQUIRE(r);
    REQUIRE_MESSAGE(r->status == 200, r->body);
    auto body = json::parse(r->body);
    CHECK(body["type"] == "message");
    CHECK(body["role"] == "assistant");
    CHECK(body["content"][0]["type"] == "text");
    CHECK(body["stop_reason"] == "end_turn");
    CHECK(body["usage"]["input_tokens"].get<int>() > 0);
    auto sent = json::parse(last_request(up, "/chat/completions")["body"].get<std::string>());
    CHECK(sent["messages"][0]["role"] == "system");

    req["stream"] = true;
    auto s = post_anthropic(d, req);
    REQUIRE(s);
    auto events = sse_events(s->body);
    REQUIRE(events.size() >= 5);
    CHECK(events.front().first == "message_start");
    CHECK(events.back().first == "message_stop");
    bool saw_delta_with_stop = false;
    for (const auto& [name, data] : events) {
        if (name == "message_delta") {
            saw_delta_with_stop = data["delta"]["stop_reason"] == "end_turn";
        }
    }
    CHECK(saw_delta_with_stop);
}

TEST_CASE("Anthropic surface errors are in Anthropic's shape with the right status")
{
    FakeUpstream up;
    Daemon d(&up);
    auto wrong = post_anthropic(d, {{"model", "mock/echo"}, {"max_tokens", 5}, {"messages", k_user_hello}}, "nope");
    REQUIRE(wrong);
    CHECK(wrong->status == 401);
    auto wb = json::parse(wrong->body);
    CHECK(wb["type"] == "error");
    CHECK(wb["error"]["type"] == "authentication_error");

    auto unknown = post_anthropic(d, {{"model", "nosuch/model"}, {"max_tokens", 5}, {"messages", k_user_hello}});
    CHECK(unknown->status == 404);
    CHECK(json::parse(unknown->body)["error"]["type"] == "not_found_error");

    auto overloaded =
        post_anthropic(d, {{"model", "anthropic/fault-529"}, {"max_tokens", 5}, {"messages", k_user_hello}});
    CHECK(overloaded->status == 529);
    CHECK(json::parse(overloaded->body)["error"]["type"] == "overloaded_error");

    httplib::Client c("127.0.0.1", d.port());
    auto bad = c.Post("/v1/messages", {{"x-api-key", "test-gateway-key"}}, "{oops", "application/json");
    CHECK(bad->status == 400);
    CHECK(json::parse(bad->body)["error"]["type"] == "invalid_request_error");
}

TEST_CASE("cache reads are priced at the cached rate and not counted twice")
{
    FakeUpstream up;
    Daemon d(&up, {.config_toml = R"([models."openai/gpt-cached-test"]
input = 10.0
cached_input = 1.0
output = 20.0
context_window = 128000
)"});
    std::string long_prompt;
    for (int i = 0; i < 100; ++i) {
        long_prompt += "word ";
    }
    auto r =
        d.post("/v1/chat/completions", {{"model", "openai/gpt-cached-test"},
                                        {"messages", json::array({{{"role", "user"}, {"content", long_prompt}}})}});
    REQUIRE(r);
    REQUIRE_MESSAGE(r->status == 200, r->body);
    auto usage = json::parse(r->body)["usage"];
    const double prompt = usage["prompt_tokens"].get<double>();
    const double cached = usage["prompt_tokens_details"]["cached_tokens"].get<double>();
    const double output = usage["completion_tokens"].get<double>();
    REQUIRE(cached > 0);
    const double expected = ((prompt - cached) * 10.0 + cached * 1.0 + output * 20.0) / 1e6;
    CHECK(std::stod(r->get_header_value("x-aigw-cost-usd")) == doctest::Approx(expected).epsilon(1e-6));
}

TEST_CASE("the Anthropic SDK's models.list shape is served when anthropic-version is sent")
{
    FakeUpstream up;
    Daemon d(&up);
    httplib::Client c("127.0.0.1", d.port());
    auto r = c.Get("/v1/models", {{"x-api-key", "test-gateway-key"}, {"anthropic-version", "2023-06-01"}});
    REQUIRE(r);
    auto body = json::parse(r->body);
    CHECK(body["has_more"] == false);
    CHECK(body["data"][0]["type"] == "model");
}

namespace {
std::vector<float> decode_float32_base64(const std::string& b64)
{
    static const std::string k_alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    std::string bytes;
    unsigned buf = 0;
    int bits = 0;
    for (char c : b64) {
        auto pos = k_alphabet.find(c);
        if (pos == std::string::npos) {
            continue;  // '=' padding
        }
        buf = (buf << 6) | static_cast<unsigned>(pos);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            bytes.push_back(static_cast<char>((buf >> bits) & 0xff));
        }
    }
    std::vector<float> out(bytes.size() / 4);
    std::memcpy(out.data(), bytes.data(), out.size() * 4);
    return out;
}
}  // namespace

TEST_CASE("embeddings answer in base64 when asked, whatever the provider returns")
{
    FakeUpstream up;
    Daemon d(&up);
    for (const char* model : {"gemini/text-embedding-004", "mock/embed"}) {
        CAPTURE(model);
        auto as_floats = d.post("/v1/embeddings", {{"model", model}, {"input", "the same text"}});
        auto as_base64 =
            d.post("/v1/embeddings", {{"model", model}, {"input", "the same text"}, {"encoding_format", "base64"}});
        REQUIRE(as_floats);
        REQUIRE(as_base64);
        REQUIRE_MESSAGE(as_floats->status == 200, as_floats->body);
        REQUIRE(as_base64->status == 200);
        auto floats = json::parse(as_floats->body)["data"][0]["embedding"];
        auto encoded = json::parse(as_base64->body)["data"][0]["embedding"];
        REQUIRE(floats.is_array());
        REQUIRE(encoded.is_string());
        auto decoded = decode_float32_base64(encoded.get<std::string>());
        REQUIRE(decoded.size() == floats.size());
        for (std::size_t i = 0; i < decoded.size(); ++i) {
            CHECK(decoded[i] == doctest::Approx(floats[i].get<double>()).epsilon(1e-6));
        }
    }
}

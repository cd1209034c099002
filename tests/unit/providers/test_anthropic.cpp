// Anthropic adapter: canonical (OpenAI chat) <-> Messages API, against fixtures taken from
// Anthropic's documentation (tests/fixtures/anthropic).

#include "daemon/providers/adapter.hpp"
#include "shared/wire/sse.hpp"

#include "tests/unit/providers/support.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <fstream>
#include <sstream>

using nlohmann::json;
namespace p = aigw::daemon::providers;
namespace wire = aigw::wire;

namespace {

std::string fixture(const std::string& name)
{
    return aigw::test::read_fixture("anthropic", name);
}

p::Target target(std::string model = "claude-sonnet-4-5", std::int64_t default_max_tokens = 0)
{
    p::Target t;
    t.model = std::move(model);
    t.api_key = "sk-ant-test";
    t.base_url = "https://api.anthropic.com/v1";
    t.default_max_tokens = default_max_tokens;
    return t;
}

json request_body(const json& canonical, const p::Target& t = target(), bool stream = false)
{
    auto req = p::anthropic_adapter().chat_request(canonical, t, stream);
    REQUIRE(req.has_value());
    return json::parse(req->body);
}

using aigw::test::StreamRun;

StreamRun run_stream(const std::string& name)
{
    auto translator = p::anthropic_adapter().chat_stream(target());
    const std::string bytes = fixture(name);
    return aigw::test::run_sse(*translator, bytes, bytes.size() + 1);
}

json user(const std::string& text)
{
    return {{"role", "user"}, {"content", text}};
}

}  // namespace

TEST_CASE("the request goes to /messages with x-api-key and anthropic-version 2023-06-01")
{
    auto req = p::anthropic_adapter().chat_request(
        {{"model", "anthropic/claude-sonnet-4-5"}, {"messages", {user("hi")}}}, target(), true);
    REQUIRE(req.has_value());
    CHECK(req->method == "POST");
    CHECK(req->path == "/messages");
    CHECK(p::header_value(req->headers, "x-api-key") == "sk-ant-test");
    CHECK(p::header_value(req->headers, "anthropic-version") == "2023-06-01");
    CHECK(p::header_value(req->headers, "content-type") == "application/json");
    CHECK(p::header_value(req->headers, "authorization").empty());
    json body = json::parse(req->body);
    CHECK(body["model"] == "claude-sonnet-4-5");
    CHECK(body["stream"] == true);
    CHECK(body["messages"] == json::parse(R"([{"role":"user","content":[{"type":"text","text":"hi"}]}])"));
}

TEST_CASE("system messages move to the top-level system field")
{
    json body = request_body({{"messages",
                               {{{"role", "system"}, {"content", "You are terse."}},
                                {{"role", "developer"}, {"content", "Answer in French."}},
                                user("hello")}}});
    CHECK(body["system"] == "You are terse.\n\nAnswer in French.");
    REQUIRE(body["messages"].size() == 1);
    CHECK(body["messages"][0]["role"] == "user");
}

TEST_CASE("system parts with cache_control stay blocks")
{
    json sys = json::parse(R"({"role":"system","content":[
        {"type":"text","text":"Long reference text","cache_control":{"type":"ephemeral","ttl":"1h"}}]})");
    json body = request_body({{"messages", {sys, user("q")}}});
    REQUIRE(body["system"].is_array());
    CHECK(body["system"][0]["cache_control"]["ttl"] == "1h");
    CHECK(body["system"][0]["text"] == "Long reference text");
}

TEST_CASE("max_tokens defaults from the catalog when absent")
{
    CHECK(request_body({{"messages", {user("x")}}}, target("claude-sonnet-4-5", 64000))["max_tokens"] == 64000);
    CHECK(request_body({{"messages", {user("x")}}})["max_tokens"] == 4096);
    CHECK(request_body({{"messages", {user("x")}}, {"max_tokens", 100}})["max_tokens"] == 100);
    CHECK(request_body(
              {{"messages", {user("x")}}, {"max_tokens", 100}, {"max_completion_tokens", 200}})["max_tokens"] == 200);
}

TEST_CASE("stop, metadata.user and sampling parameters are translated")
{
    json body = request_body({{"messages", {user("x")}}, {"stop", "END"}, {"temperature", 1.7}, {"user", "user-42"}},
                             target("claude-3-5-sonnet-20241022"));
    CHECK(body["stop_sequences"] == json::array({"END"}));
    CHECK(body["temperature"] == 1.0);  // OpenAI's 0..2 clamped to Anthropic's 0..1
    CHECK(body["metadata"]["user_id"] == "user-42");

    body = request_body({{"messages", {user("x")}}, {"stop", {"a", "b"}}, {"temperature", 0.2}, {"top_p", 0.9}},
                        target("claude-3-5-sonnet-20241022"));
    CHECK(body["stop_sequences"] == json::array({"a", "b"}));
    CHECK(body["top_p"] == 0.9);
    CHECK(body["temperature"] == 0.2);
}

TEST_CASE("4.5 models get temperature or top_p, not both")
{
    json body = request_body({{"messages", {user("x")}}, {"temperature", 0.2}, {"top_p", 0.9}},
                             target("claude-sonnet-4-5-20250929"));
    CHECK(body["temperature"] == 0.2);
    CHECK_FALSE(body.contains("top_p"));
}

TEST_CASE("models from Opus 4.7 on get no sampling parameters and adaptive thinking")
{
    json canonical = {{"messages", {user("x")}}, {"temperature", 0.2}, {"top_p", 0.9}, {"reasoning_effort", "high"}};
    for (const char* model : {"claude-opus-4-7", "claude-opus-5", "claude-sonnet-5-5"}) {
        CAPTURE(model);
        json body = request_body(canonical, target(model));
        CHECK_FALSE(body.contains("temperature"));
        CHECK_FALSE(body.contains("top_p"));
        CHECK(body["thinking"] == json{{"type", "adaptive"}});
        CHECK(body["output_config"]["effort"] == "high");
    }
    // Older names with a date suffix keep budget thinking.
    json body = request_body(canonical, target("claude-opus-4-20250514"));
    CHECK(body["thinking"]["type"] == "enabled");
}

TEST_CASE("reasoning_effort becomes a thinking budget below max_tokens")
{
    json body = request_body(
        {{"messages", {user("x")}}, {"reasoning_effort", "medium"}, {"max_tokens", 1000}, {"temperature", 0.3}});
    CHECK(body["thinking"] == json{{"type", "enabled"}, {"budget_tokens", 4096}});
    CHECK(body["max_tokens"].get<int>() > 4096);
    CHECK_FALSE(body.contains("temperature"));  // thinking allows no temperature change

    CHECK(request_body({{"messages", {user("x")}}, {"reasoning_effort", "low"}})["thinking"]["budget_tokens"] == 1024);
    CHECK(request_body({{"messages", {user("x")}}, {"reasoning_effort", "high"}})["thinking"]["budget_tokens"] ==
          16384);
    CHECK(request_body({{"messages", {user("x")}}, {"reasoning_effort", "high"}})["max_tokens"].get<int>() > 16384);
}

TEST_CASE("function tools and tool_choice become Anthropic tools")
{
    json tools = json::parse(R"([{"type":"function","function":{"name":"get_weather","description":"Weather now",
        "parameters":{"type":"object","properties":{"location":{"type":"string"}},"required":["location"]}}}])");
    json body = request_body(
        {{"messages", {user("x")}}, {"tools", tools}, {"tool_choice", "required"}, {"parallel_tool_calls", false}});
    REQUIRE(body["tools"].size() == 1);
    CHECK(body["tools"][0]["name"] == "get_weather");
    CHECK(body["tools"][0]["description"] == "Weather now");
    CHECK(body["tools"][0]["input_schema"]["required"] == json::array({"location"}));
    CHECK(body["tool_choice"] == json{{"type", "any"}, {"disable_parallel_tool_use", true}});

    CHECK(request_body({{"messages", {user("x")}}, {"tools", tools}, {"tool_choice", "auto"}})["tool_choice"] ==
          json{{"type", "auto"}});
    CHECK(request_body({{"messages", {user("x")}}, {"tools", tools}, {"tool_choice", "none"}})["tool_choice"] ==
          json{{"type", "none"}});
    json named = {{"type", "function"}, {"function", {{"name", "get_weather"}}}};
    CHECK(request_body({{"messages", {user("x")}}, {"tools", tools}, {"tool_choice", named}})["tool_choice"] ==
          json{{"type", "tool"}, {"name", "get_weather"}});
}

TEST_CASE("tool calls become tool_use blocks and consecutive tool results share one user message")
{
    json messages = json::parse(R"([
      {"role":"user","content":"Weather in Paris and Rome?"},
      {"role":"assistant","content":null,"tool_calls":[
        {"id":"toolu_1","type":"function","function":{"name":"get_weather","arguments":"{\"location\":\"Paris\"}"}},
        {"id":"toolu_2","type":"function","function":{"name":"get_weather","arguments":"{\"location\":\"Rome\"}"}}]},
      {"role":"tool","tool_call_id":"toolu_1","content":"18C"},
      {"role":"tool","tool_call_id":"toolu_2","content":"24C"},
      {"role":"user","content":"Which is warmer?"}
    ])");
    json body = request_body({{"messages", messages}});
    REQUIRE(body["messages"].size() == 3);
    const json& assistant = body["messages"][1];
    CHECK(assistant["role"] == "assistant");
    REQUIRE(assistant["content"].size() == 2);
    CHECK(assistant["content"][0] ==
          json::parse(R"({"type":"tool_use","id":"toolu_1","name":"get_weather","input":{"location":"Paris"}})"));
    const json& results = body["messages"][2];
    CHECK(results["role"] == "user");
    REQUIRE(results["content"].size() == 3);
    CHECK(results["content"][0] == json::parse(R"({"type":"tool_result","tool_use_id":"toolu_1","content":"18C"})"));
    CHECK(results["content"][1]["tool_use_id"] == "toolu_2");
    CHECK(results["content"][2] == json::parse(R"({"type":"text","text":"Which is warmer?"})"));
}

TEST_CASE("tool call arguments that are not JSON are a clear 400")
{
    json messages = json::parse(R"([{"role":"user","content":"x"},
      {"role":"assistant","tool_calls":[{"id":"t1","type":"function","function":{"name":"f","arguments":"{oops"}}]}])");
    auto req = p::anthropic_adapter().chat_request({{"messages", messages}}, target(), false);
    REQUIRE_FALSE(req.has_value());
    CHECK(req.error().kind == wire::FailureKind::bad_request);
    CHECK(req.error().message.find("t1") != std::string::npos);
}

TEST_CASE("image parts become base64 or url image blocks")
{
    json content = json::parse(R"([
      {"type":"text","text":"What is in these?"},
      {"type":"image_url","image_url":{"url":"data:image/png;base64,iVBORw0KGgo="}},
      {"type":"image_url","image_url":{"url":"https://upload.wikimedia.org/ant.jpg","detail":"high"}}])");
    json body = request_body({{"messages", {{{"role", "user"}, {"content", content}}}}});
    const json& blocks = body["messages"][0]["content"];
    REQUIRE(blocks.size() == 3);
    CHECK(blocks[1] ==
          json::parse(R"({"type":"image","source":{"type":"base64","media_type":"image/png","data":"iVBORw0KGgo="}})"));
    CHECK(blocks[2] ==
          json::parse(R"({"type":"image","source":{"type":"url","url":"https://upload.wikimedia.org/ant.jpg"}})"));
}

TEST_CASE("JSON mode forces the json_response tool and maps its input back to content")
{
    json rf = json::parse(R"({"type":"json_schema","json_schema":{"name":"person","schema":
        {"type":"object","properties":{"name":{"type":"string"}},"required":["name"]}}})");
    json body = request_body({{"messages", {user("Who wrote Hamlet?")}}, {"response_format", rf}});
    REQUIRE(body["tools"].size() == 1);
    CHECK(body["tools"][0]["name"] == "json_response");
    CHECK(body["tools"][0]["input_schema"]["required"] == json::array({"name"}));
    CHECK(body["tool_choice"] == json{{"type", "tool"}, {"name", "json_response"}});

    std::string answer = R"({"id":"msg_1","type":"message","role":"assistant","model":"claude-sonnet-4-5",
        "content":[{"type":"tool_use","id":"toolu_9","name":"json_response","input":{"name":"Shakespeare"}}],
        "stop_reason":"tool_use","usage":{"input_tokens":10,"output_tokens":5}})";
    auto res = p::anthropic_adapter().chat_response(answer, target());
    REQUIRE(res.has_value());
    const json& choice = res->body["choices"][0];
    CHECK(json::parse(choice["message"]["content"].get<std::string>()) == json{{"name", "Shakespeare"}});
    CHECK_FALSE(choice["message"].contains("tool_calls"));
    CHECK(choice["finish_reason"] == "stop");
}

TEST_CASE("a text response becomes a chat.completion")
{
    auto res = p::anthropic_adapter().chat_response(fixture("response_text.json"), target());
    REQUIRE(res.has_value());
    const json& b = res->body;
    CHECK(b["object"] == "chat.completion");
    CHECK(b["id"] == "msg_013Zva2CMHLNnXjNJJKqJ2EF");
    CHECK(b["model"] == "claude-opus-4-6");
    CHECK(b["choices"][0]["message"]["role"] == "assistant");
    CHECK(b["choices"][0]["message"]["content"] == "Hi! My name is Claude.");
    CHECK(b["choices"][0]["finish_reason"] == "stop");
    CHECK(b["usage"]["prompt_tokens"] == 2095);
    CHECK(b["usage"]["completion_tokens"] == 503);
    CHECK(res->usage.reported);
}

TEST_CASE("tool_use blocks become tool_calls with JSON-string arguments")
{
    auto res = p::anthropic_adapter().chat_response(fixture("response_tool_use.json"), target());
    REQUIRE(res.has_value());
    const json& msg = res->body["choices"][0]["message"];
    CHECK(msg["content"] == "I'll check the current weather in San Francisco for you.");
    REQUIRE(msg["tool_calls"].size() == 1);
    CHECK(msg["tool_calls"][0]["id"] == "toolu_01A09q90qw90lq917835lq9");
    CHECK(msg["tool_calls"][0]["type"] == "function");
    CHECK(msg["tool_calls"][0]["function"]["name"] == "get_weather");
    CHECK(json::parse(msg["tool_calls"][0]["function"]["arguments"].get<std::string>()) ==
          json::parse(R"({"location":"San Francisco, CA","unit":"celsius"})"));
    CHECK(res->body["choices"][0]["finish_reason"] == "tool_calls");
}

TEST_CASE("thinking blocks become reasoning_content and can be replayed")
{
    auto res = p::anthropic_adapter().chat_response(fixture("response_thinking.json"), target());
    REQUIRE(res.has_value());
    json msg = res->body["choices"][0]["message"];
    CHECK(msg["reasoning_content"] == "Let me analyze this step by step...");
    CHECK(msg["content"] == "Based on my analysis...");
    REQUIRE(msg["thinking_blocks"].size() == 2);

    // The assistant message sent back keeps its thinking blocks (with signatures) first.
    json body = request_body({{"messages", {user("q"), msg, user("and then?")}}});
    const json& blocks = body["messages"][1]["content"];
    CHECK(blocks[0]["type"] == "thinking");
    CHECK(blocks[0]["signature"].get<std::string>().starts_with("WaUjzkyp"));
    CHECK(blocks[1]["type"] == "redacted_thinking");
    CHECK(blocks[2]["type"] == "text");
}

TEST_CASE("cache reads are not counted twice")
{
    auto res = p::anthropic_adapter().chat_response(fixture("response_cache_usage.json"), target());
    REQUIRE(res.has_value());
    const wire::Usage& u = res->usage;
    CHECK(u.input_tokens == 50 + 100000 + 248);
    CHECK(u.cached_tokens == 100000);
    CHECK(u.cache_write_tokens == 148);
    CHECK(u.cache_write_1h_tokens == 100);
    CHECK(u.output_tokens == 503);
    CHECK(res->body["usage"]["prompt_tokens"] == 100298);
    CHECK(res->body["usage"]["prompt_tokens_details"]["cached_tokens"] == 100000);
    CHECK(res->body["choices"][0]["finish_reason"] == "length");
}

TEST_CASE("stop reasons map to OpenAI finish reasons")
{
    auto finish = [](const char* stop) {
        json m = json::parse(fixture("response_text.json"));
        m["stop_reason"] = stop;
        auto res = p::anthropic_adapter().chat_response(m.dump(), target());
        REQUIRE(res.has_value());
        return res->body["choices"][0]["finish_reason"].get<std::string>();
    };
    CHECK(finish("end_turn") == "stop");
    CHECK(finish("stop_sequence") == "stop");
    CHECK(finish("max_tokens") == "length");
    CHECK(finish("tool_use") == "tool_calls");
    CHECK(finish("refusal") == "content_filter");
}

TEST_CASE("a malformed response body is an upstream failure")
{
    auto res = p::anthropic_adapter().chat_response("<html>bad gateway</html>", target());
    REQUIRE_FALSE(res.has_value());
    CHECK(res.error().kind == wire::FailureKind::upstream);
}

TEST_CASE("a text stream translates to OpenAI chunks with usage")
{
    StreamRun run = run_stream("stream_text.sse");
    REQUIRE_FALSE(run.failure);
    CHECK(run.finished);
    REQUIRE(run.chunks.size() == 5);  // role, "Hello", "!", finish, usage
    CHECK(run.chunks[0]["object"] == "chat.completion.chunk");
    CHECK(run.chunks[0]["id"] == "msg_1nZdL29xx5MUA1yADyHTEsnR8uuvGzszyY");
    CHECK(run.chunks[0]["choices"][0]["delta"]["role"] == "assistant");
    CHECK(run.chunks[1]["choices"][0]["delta"]["content"] == "Hello");
    CHECK(run.chunks[2]["choices"][0]["delta"]["content"] == "!");
    CHECK(run.chunks[3]["choices"][0]["finish_reason"] == "stop");
    CHECK(run.chunks[4]["choices"].empty());
    CHECK(run.chunks[4]["usage"]["prompt_tokens"] == 25);
    CHECK(run.chunks[4]["usage"]["completion_tokens"] == 15);
    CHECK(run.usage.input_tokens == 25);
    CHECK(run.usage.output_tokens == 15);
}

TEST_CASE("a tool_use stream becomes tool_calls deltas whose arguments join into the input")
{
    StreamRun run = run_stream("stream_tool_use.sse");
    REQUIRE_FALSE(run.failure);
    CHECK(run.finished);
    std::string text;
    std::string args;
    std::string finish;
    int headers = 0;
    for (const auto& c : run.chunks) {
        if (c["choices"].empty()) {
            continue;
        }
        const json& d = c["choices"][0]["delta"];
        if (d.contains("content")) {
            text += d["content"].get<std::string>();
        }
        if (d.contains("tool_calls")) {
            const json& tc = d["tool_calls"][0];
            CHECK(tc["index"] == 0);
            if (tc.contains("id")) {
                ++headers;
                CHECK(tc["id"] == "toolu_01T1x1fJ34qAmk2tNTrN7Up6");
                CHECK(tc["type"] == "function");
                CHECK(tc["function"]["name"] == "get_weather");
            }
            args += tc["function"]["arguments"].get<std::string>();
        }
        if (!c["choices"][0]["finish_reason"].is_null()) {
            finish = c["choices"][0]["finish_reason"];
        }
    }
    CHECK(headers == 1);
    CHECK(text == "Okay, let's check the weather for San Francisco, CA:");
    CHECK(json::parse(args) == json::parse(R"({"location":"San Francisco, CA","unit":"fahrenheit"})"));
    CHECK(finish == "tool_calls");
}

TEST_CASE("a thinking stream carries reasoning_content and cached usage")
{
    StreamRun run = run_stream("stream_thinking.sse");
    REQUIRE_FALSE(run.failure);
    std::string reasoning;
    std::string text;
    for (const auto& c : run.chunks) {
        if (c["choices"].empty()) {
            continue;
        }
        const json& d = c["choices"][0]["delta"];
        if (d.contains("reasoning_content")) {
            reasoning += d["reasoning_content"].get<std::string>();
        }
        if (d.contains("content")) {
            text += d["content"].get<std::string>();
        }
    }
    CHECK(reasoning.find("GCD(1071, 462) = 21") != std::string::npos);
    CHECK(text == "The greatest common divisor of 1071 and 462 is **21**.");
    CHECK(run.usage.input_tokens == 12 + 2048);
    CHECK(run.usage.cached_tokens == 2048);
    CHECK(run.usage.output_tokens == 120);
}

TEST_CASE("a stream without message_stop is not finished")
{
    StreamRun run = run_stream("stream_truncated.sse");
    REQUIRE_FALSE(run.failure);
    CHECK_FALSE(run.finished);
    CHECK(run.usage.input_tokens == 25);
}

TEST_CASE("an overloaded error event fails the stream as a retryable 529")
{
    StreamRun run = run_stream("stream_overloaded.sse");
    REQUIRE(run.failure);
    CHECK(run.failure->kind == wire::FailureKind::upstream);
    CHECK(run.failure->status == 529);
    CHECK(run.failure->message.find("Overloaded") != std::string::npos);
    CHECK_FALSE(run.finished);
}

TEST_CASE("a rate_limit_error event fails the stream as rate_limited")
{
    auto translator = p::anthropic_adapter().chat_stream(target());
    std::vector<json> out;
    auto r = translator->on_event(
        {"error", R"({"type":"error","error":{"type":"rate_limit_error","message":"slow down"}})", ""}, out);
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().kind == wire::FailureKind::rate_limited);
}

TEST_CASE("Anthropic error bodies are classified: 529 overloaded, 429 with Retry-After, 401 auth")
{
    const auto& a = p::anthropic_adapter();
    wire::Failure f = a.classify_error(529, fixture("error_overloaded.json"), {});
    CHECK(f.kind == wire::FailureKind::upstream);
    CHECK(f.status == 529);
    CHECK(wire::anthropic_error_type(f) == "overloaded_error");

    f = a.classify_error(429, fixture("error_rate_limit.json"), {{"retry-after", "12"}});
    CHECK(f.kind == wire::FailureKind::rate_limited);
    CHECK(f.status == 429);
    REQUIRE(f.retry_after_s.has_value());
    CHECK(*f.retry_after_s == doctest::Approx(12));
    CHECK(f.message.find("50 input tokens per minute") != std::string::npos);

    f = a.classify_error(
        401, R"({"type":"error","error":{"type":"authentication_error","message":"invalid x-api-key"}})", {});
    CHECK(f.kind == wire::FailureKind::auth);
    CHECK(f.message.find("ANTHROPIC_API_KEY") != std::string::npos);

    f = a.classify_error(
        400, R"({"type":"error","error":{"type":"invalid_request_error","message":"max_tokens: required"}})", {});
    CHECK(f.kind == wire::FailureKind::bad_request);
    CHECK(f.status == 400);

    f = a.classify_error(502, "<html>Bad Gateway</html>", {});
    CHECK(f.kind == wire::FailureKind::upstream);
}

TEST_CASE("a final assistant prefill loses its trailing whitespace")
{
    json body = request_body({{"messages", {user("Say hi"), {{"role", "assistant"}, {"content", "Hi \n"}}}}});
    CHECK(body["messages"][1]["content"][0]["text"] == "Hi");
    body = request_body({{"messages", {user("Say hi"), {{"role", "assistant"}, {"content", "  "}}}}});
    CHECK(body["messages"].size() == 1);
}

TEST_CASE("the passthrough tap reads what the translator reads, event by event, and builds no chunks")
{
    std::vector<std::string> streams;
    for (const char* name : {"stream_text.sse", "stream_tool_use.sse", "stream_thinking.sse", "stream_truncated.sse",
                             "stream_overloaded.sse"}) {
        streams.push_back(fixture(name));
    }
    // An empty delta before the first text, a ping, usage in message_delta, an error event
    // without a type, and data that is not JSON.
    streams.push_back(
        "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"usage\":{\"input_tokens\":3}}}\n\n"
        "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,"
        "\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n"
        "event: ping\ndata: {\"type\": \"ping\"}\n\n"
        "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,"
        "\"delta\":{\"type\":\"text_delta\",\"text\":\"\"}}\n\n"
        "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,"
        "\"delta\":{\"type\":\"text_delta\",\"text\":\"hi\"}}\n\n"
        "event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"max_tokens\"},"
        "\"usage\":{\"output_tokens\":7}}\n\n"
        "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n");
    streams.push_back("event: error\ndata: {\"error\":{\"message\":\"no type\"}}\n\n");
    // An empty stop reason names no finish reason.
    streams.push_back("event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"\"}}\n\n");
    streams.push_back("event: message_start\ndata: {\"type\":\"message_start\"\n\n");
    for (const auto& bytes : streams) {
        CAPTURE(bytes.substr(0, 120));
        auto translator = p::anthropic_adapter().chat_stream(target());
        auto tap = p::anthropic_passthrough_tap();
        // At most the marker and the finish reason: nothing per event.
        aigw::test::check_tap_reads_as_translator(*translator, *tap, aigw::test::sse_events(bytes), 2);
    }
}

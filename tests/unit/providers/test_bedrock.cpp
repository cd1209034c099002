// Bedrock adapter: canonical (OpenAI chat) <-> Converse / ConverseStream, SigV4-signed
// requests with a fixed clock, usage without double counting, event-stream translation.

#include "daemon/providers/adapter.hpp"
#include "daemon/providers/json_access.hpp"
#include "daemon/providers/bedrock/aws_eventstream.hpp"
#include "daemon/providers/bedrock/sigv4.hpp"

#include "tests/unit/providers/support.hpp"

#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

namespace aigw::daemon::providers {
std::string bedrock_base_url(const Target& target);  // defined in bedrock.cpp
}

using nlohmann::json;
namespace p = aigw::daemon::providers;
namespace es = aigw::daemon::providers::aws_eventstream;
namespace sigv4 = aigw::daemon::providers::sigv4;
namespace wire = aigw::wire;

namespace {

constexpr std::time_t k_fixed_time = 1700000000;  // 2023-11-14T22:13:20Z
constexpr const char* k_model = "anthropic.claude-3-haiku-20240307-v1:0";

std::string fixture(const std::string& name)
{
    return aigw::test::read_fixture("bedrock", name);
}

/// Pins sigv4's clock for the lifetime of the object.
struct FixedClock {
    std::function<std::time_t()> saved = sigv4::clock();
    FixedClock()
    {
        sigv4::clock() = [] { return k_fixed_time; };
    }
    ~FixedClock() { sigv4::clock() = saved; }
    FixedClock(const FixedClock&) = delete;
    FixedClock& operator=(const FixedClock&) = delete;
};

p::Target target(std::string model = k_model)
{
    p::Target t;
    t.model = std::move(model);
    t.aws = {"AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "", "us-east-1"};
    return t;
}

json user(const std::string& text)
{
    return {{"role", "user"}, {"content", text}};
}

p::UpstreamRequest request(const json& canonical, const p::Target& t = target(), bool stream = false)
{
    auto req = p::bedrock_adapter().chat_request(canonical, t, stream);
    REQUIRE_MESSAGE(req.has_value(), (req ? std::string() : req.error().message));
    return *req;
}

json request_body(const json& canonical, const p::Target& t = target())
{
    return json::parse(request(canonical, t).body);
}

std::string event(const std::string& type, const json& payload)
{
    return es::encode({{":event-type", type}, {":content-type", "application/json"}, {":message-type", "event"}},
                      payload.dump());
}

std::string exception(const std::string& type, const std::string& message)
{
    return es::encode(
        {{":exception-type", type}, {":content-type", "application/json"}, {":message-type", "exception"}},
        json{{"message", message}}.dump());
}

using aigw::test::StreamRun;

/// Feeds `bytes` through the adapter's own stream decoder in pieces of `step` bytes.
StreamRun run_stream(const std::string& bytes, std::size_t step)
{
    auto decoder = p::bedrock_adapter().stream_decoder();
    auto translator = p::bedrock_adapter().chat_stream(target());
    StreamRun run;
    for (std::size_t i = 0; i < bytes.size() && !run.failure; i += step) {
        std::vector<wire::SseEvent> events;
        auto fed = decoder->feed(std::string_view(bytes).substr(i, step), events);
        if (!fed) {
            run.failure = fed.error();
            break;
        }
        for (const auto& ev : events) {
            auto r = translator->on_event(ev, run.chunks);
            if (!r) {
                run.failure = r.error();
                break;
            }
        }
    }
    run.finished = translator->finished();
    run.usage = translator->usage();
    return run;
}

std::string tool_stream()
{
    return event("messageStart", {{"role", "assistant"}, {"p", "abcdefgh"}}) +
           event("contentBlockDelta", {{"contentBlockIndex", 0}, {"delta", {{"text", "Let me check"}}}}) +
           event("contentBlockDelta", {{"contentBlockIndex", 0}, {"delta", {{"text", " the weather."}}}}) +
           event("contentBlockStop", {{"contentBlockIndex", 0}}) +
           event("contentBlockStart",
                 {{"contentBlockIndex", 1},
                  {"start", {{"toolUse", {{"toolUseId", "tooluse_abc123"}, {"name", "get_weather"}}}}}}) +
           event("contentBlockDelta", {{"contentBlockIndex", 1}, {"delta", {{"toolUse", {{"input", "{\"city\":"}}}}}}) +
           event("contentBlockDelta", {{"contentBlockIndex", 1}, {"delta", {{"toolUse", {{"input", "\"Paris\"}"}}}}}}) +
           event("contentBlockStop", {{"contentBlockIndex", 1}}) + event("messageStop", {{"stopReason", "tool_use"}}) +
           event("metadata", {{"usage",
                               {{"inputTokens", 30},
                                {"outputTokens", 25},
                                {"totalTokens", 1079},
                                {"cacheReadInputTokens", 1000},
                                {"cacheWriteInputTokens", 24}}},
                              {"metrics", {{"latencyMs", 812}}}});
}

}  // namespace

// ---- the HTTP request ------------------------------------------------------------------

TEST_CASE("bedrock: converse goes to /model/{id}/converse with ':' percent-encoded, signed for bedrock in the region")
{
    FixedClock clock;
    auto req = request({{"messages", json::array({user("Hi")})}});
    CHECK(req.method == "POST");
    CHECK(req.path == "/model/anthropic.claude-3-haiku-20240307-v1%3A0/converse");
    CHECK(p::header_value(req.headers, "host") == "bedrock-runtime.us-east-1.amazonaws.com");
    CHECK(p::header_value(req.headers, "content-type") == "application/json");
    CHECK(p::header_value(req.headers, "X-Amz-Date") == "20231114T221320Z");
    CHECK(p::header_value(req.headers, "X-Amz-Security-Token").empty());
    std::string auth = p::header_value(req.headers, "Authorization");
    CHECK(
        auth.starts_with("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20231114/us-east-1/bedrock/aws4_request, "
                         "SignedHeaders=accept;content-type;host;x-amz-date, Signature="));

    // The same signature as signing the wire request by hand; AWS checks %253A in the canonical URI.
    sigv4::Request sreq;
    sreq.host = "bedrock-runtime.us-east-1.amazonaws.com";
    sreq.path = req.path;
    sreq.headers = {{"host", sreq.host}, {"content-type", "application/json"}, {"accept", "application/json"}};
    sreq.payload = req.body;
    auto expected = sigv4::sign(sreq, target().aws, "us-east-1", "bedrock", k_fixed_time);
    CHECK(auth == expected.authorization);
    CHECK(
        expected.canonical_request.starts_with("POST\n/model/anthropic.claude-3-haiku-20240307-v1%253A0/converse\n\n"));

    // Deterministic for a fixed clock.
    auto again = request({{"messages", json::array({user("Hi")})}});
    CHECK(p::header_value(again.headers, "Authorization") == auth);
}

TEST_CASE("bedrock: a session token is sent and listed in the signed headers")
{
    FixedClock clock;
    auto t = target();
    t.aws.session_token = "FwoGZXIvYXdzEXAMPLETOKEN";
    auto req = request({{"messages", json::array({user("Hi")})}}, t);
    CHECK(p::header_value(req.headers, "X-Amz-Security-Token") == "FwoGZXIvYXdzEXAMPLETOKEN");
    CHECK(p::header_value(req.headers, "Authorization")
              .find("SignedHeaders=accept;content-type;host;x-amz-date;x-amz-security-token,") != std::string::npos);
}

TEST_CASE("bedrock: streaming goes to /converse-stream and asks for the event stream")
{
    FixedClock clock;
    auto req = request({{"messages", json::array({user("Hi")})}}, target(), true);
    CHECK(req.path == "/model/anthropic.claude-3-haiku-20240307-v1%3A0/converse-stream");
    CHECK(p::header_value(req.headers, "accept") == "application/vnd.amazon.eventstream");
    CHECK_FALSE(json::parse(req.body).contains("stream"));
}

TEST_CASE("bedrock: the base URL is the regional endpoint unless overridden")
{
    CHECK(p::bedrock_base_url(target()) == "https://bedrock-runtime.us-east-1.amazonaws.com");
    auto t = target();
    t.base_url = "http://127.0.0.1:9000";
    CHECK(p::bedrock_base_url(t) == "http://127.0.0.1:9000");
}

TEST_CASE("bedrock: a base URL override is the host that is signed, its path prefix included")
{
    FixedClock clock;
    auto t = target();
    t.base_url = "http://127.0.0.1:9000/bedrock";
    auto req = request({{"messages", json::array({user("Hi")})}}, t);
    CHECK(p::header_value(req.headers, "host") == "127.0.0.1:9000");
    sigv4::Request sreq;
    sreq.host = "127.0.0.1:9000";
    sreq.path = "/bedrock" + req.path;
    sreq.headers = {{"host", sreq.host}, {"content-type", "application/json"}, {"accept", "application/json"}};
    sreq.payload = req.body;
    CHECK(p::header_value(req.headers, "Authorization") ==
          sigv4::sign(sreq, t.aws, "us-east-1", "bedrock", k_fixed_time).authorization);
}

TEST_CASE("bedrock: an inference-profile ARN is one encoded path segment")
{
    FixedClock clock;
    auto req = request({{"messages", json::array({user("Hi")})}},
                       target("arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.anthropic.claude-3-haiku"));
    CHECK(req.path ==
          "/model/arn%3Aaws%3Abedrock%3Aus-east-1%3A123456789012%3Ainference-profile%2Fus.anthropic.claude-3-haiku/"
          "converse");
}

TEST_CASE("bedrock: missing AWS credentials are a 401 that names the variables to set")
{
    auto t = target();
    t.aws.access_key_id.clear();
    auto req = p::bedrock_adapter().chat_request({{"messages", json::array({user("Hi")})}}, t, false);
    REQUIRE_FALSE(req.has_value());
    CHECK(req.error().kind == wire::FailureKind::auth);
    CHECK(req.error().status == 401);
    CHECK(req.error().message.find("AWS_ACCESS_KEY_ID") != std::string::npos);
    CHECK(req.error().message.find("AWS_SECRET_ACCESS_KEY") != std::string::npos);

    auto no_region = target();
    no_region.aws.region.clear();
    auto r2 = p::bedrock_adapter().chat_request({{"messages", json::array({user("Hi")})}}, no_region, false);
    REQUIRE_FALSE(r2.has_value());
    CHECK(r2.error().message.find("AWS_REGION") != std::string::npos);
}

// ---- request mapping -------------------------------------------------------------------

TEST_CASE("bedrock: system, messages and inferenceConfig map to Converse")
{
    json body = request_body({{"messages", json::array({{{"role", "system"}, {"content", "Be brief."}},
                                                        {{"role", "developer"}, {"content", "Answer in French."}},
                                                        user("Hello"),
                                                        {{"role", "assistant"}, {"content", "Bonjour"}},
                                                        user("Weather?")})},
                              {"max_tokens", 256},
                              {"temperature", 1.5},
                              {"top_p", 0.9},
                              {"stop", json::array({"END", ""})}});
    CHECK(body["system"] == json::array({{{"text", "Be brief."}}, {{"text", "Answer in French."}}}));
    REQUIRE(body["messages"].size() == 3);
    CHECK(body["messages"][0] == json{{"role", "user"}, {"content", json::array({{{"text", "Hello"}}})}});
    CHECK(body["messages"][1]["role"] == "assistant");
    CHECK(body["messages"][1]["content"][0]["text"] == "Bonjour");
    CHECK(body["inferenceConfig"]["maxTokens"] == 256);
    CHECK(body["inferenceConfig"]["temperature"] == 1.0);  // clamped to Bedrock's 0..1
    CHECK(body["inferenceConfig"]["topP"] == 0.9);
    CHECK(body["inferenceConfig"]["stopSequences"] == json::array({"END"}));
    CHECK_FALSE(body.contains("toolConfig"));
    CHECK_FALSE(body.contains("model"));  // the model is in the path
}

TEST_CASE("bedrock: tools, tool_choice, tool calls and tool results map to toolConfig, toolUse and toolResult")
{
    json tools = json::parse(R"([{"type": "function", "function": {"name": "get_weather",
        "description": "Weather for a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}}])");
    json messages =
        json::array({user("Weather in Paris and Rome?"),
                     {{"role", "assistant"},
                      {"content", nullptr},
                      {"tool_calls",
                       json::array({{{"id", "call_1"},
                                     {"type", "function"},
                                     {"function", {{"name", "get_weather"}, {"arguments", "{\"city\":\"Paris\"}"}}}},
                                    {{"id", "call_2"},
                                     {"type", "function"},
                                     {"function", {{"name", "get_weather"}, {"arguments", "{\"city\":\"Rome\"}"}}}}})}},
                     {{"role", "tool"}, {"tool_call_id", "call_1"}, {"content", "{\"temp\":21}"}},
                     {{"role", "tool"}, {"tool_call_id", "call_2"}, {"content", "sunny"}},
                     user("Thanks, which is warmer?")});
    json body = request_body({{"messages", messages}, {"tools", tools}, {"tool_choice", "required"}});

    REQUIRE(body["toolConfig"]["tools"].size() == 1);
    const json& spec = body["toolConfig"]["tools"][0]["toolSpec"];
    CHECK(spec["name"] == "get_weather");
    CHECK(spec["description"] == "Weather for a city");
    CHECK(spec["inputSchema"]["json"]["properties"]["city"]["type"] == "string");
    CHECK(body["toolConfig"]["toolChoice"] == json{{"any", json::object()}});

    REQUIRE(body["messages"].size() == 3);
    const json& assistant = body["messages"][1];
    CHECK(assistant["role"] == "assistant");
    REQUIRE(assistant["content"].size() == 2);
    CHECK(assistant["content"][0]["toolUse"] ==
          json{{"toolUseId", "call_1"}, {"name", "get_weather"}, {"input", {{"city", "Paris"}}}});
    // Both tool results and the next user text share one user turn, results first.
    const json& results = body["messages"][2];
    CHECK(results["role"] == "user");
    REQUIRE(results["content"].size() == 3);
    CHECK(results["content"][0]["toolResult"] ==
          json{{"toolUseId", "call_1"}, {"content", json::array({{{"json", {{"temp", 21}}}}})}});
    CHECK(results["content"][1]["toolResult"]["content"] == json::array({{{"text", "sunny"}}}));
    CHECK(results["content"][2]["text"] == "Thanks, which is warmer?");

    json named = request_body({{"messages", json::array({user("x")})},
                               {"tools", tools},
                               {"tool_choice", {{"type", "function"}, {"function", {{"name", "get_weather"}}}}}});
    CHECK(named["toolConfig"]["toolChoice"] == json{{"tool", {{"name", "get_weather"}}}});
    json none = request_body({{"messages", json::array({user("x")})}, {"tools", tools}, {"tool_choice", "none"}});
    CHECK_FALSE(none.contains("toolConfig"));
}

TEST_CASE("bedrock: data-URL images become image blocks with bytes; http image URLs are a clear 400")
{
    json parts = json::array({{{"type", "text"}, {"text", "What is this?"}},
                              {{"type", "image_url"}, {"image_url", {{"url", "data:image/jpeg;base64,/9j/4AAQ"}}}}});
    json body = request_body({{"messages", json::array({{{"role", "user"}, {"content", parts}}})}});
    CHECK(body["messages"][0]["content"][1] ==
          json{{"image", {{"format", "jpeg"}, {"source", {{"bytes", "/9j/4AAQ"}}}}}});

    json http_parts = json::array({{{"type", "image_url"}, {"image_url", {{"url", "https://example.com/cat.png"}}}}});
    auto req = p::bedrock_adapter().chat_request(
        {{"messages", json::array({{{"role", "user"}, {"content", http_parts}}})}}, target(), false);
    REQUIRE_FALSE(req.has_value());
    CHECK(req.error().status == 400);
    CHECK(req.error().message.find("base64 data URL") != std::string::npos);
}

TEST_CASE("bedrock: reasoning_effort turns on thinking for Claude models through additionalModelRequestFields")
{
    json body = request_body({{"messages", json::array({user("Think")})},
                              {"reasoning_effort", "medium"},
                              {"max_tokens", 1000},
                              {"temperature", 0.3}});
    CHECK(body["additionalModelRequestFields"]["thinking"] == json{{"type", "enabled"}, {"budget_tokens", 4096}});
    CHECK(body["inferenceConfig"]["maxTokens"].get<int>() > 4096);
    CHECK_FALSE(body["inferenceConfig"].contains("temperature"));

    json other = request_body({{"messages", json::array({user("Think")})}, {"reasoning_effort", "high"}},
                              target("amazon.nova-pro-v1:0"));
    CHECK_FALSE(other.contains("additionalModelRequestFields"));
}

TEST_CASE("bedrock: response_format json_schema forces the json_response tool and comes back as content")
{
    json schema = {{"type", "object"}, {"properties", {{"answer", {{"type", "string"}}}}}};
    json body = request_body(
        {{"messages", json::array({user("x")})},
         {"response_format", {{"type", "json_schema"}, {"json_schema", {{"name", "a"}, {"schema", schema}}}}}});
    CHECK(body["toolConfig"]["tools"][0]["toolSpec"]["name"] == "json_response");
    CHECK(body["toolConfig"]["tools"][0]["toolSpec"]["inputSchema"]["json"] == schema);
    CHECK(body["toolConfig"]["toolChoice"] == json{{"tool", {{"name", "json_response"}}}});

    json answer = {
        {"output",
         {{"message",
           {{"role", "assistant"},
            {"content",
             json::array(
                 {{{"toolUse", {{"toolUseId", "t1"}, {"name", "json_response"}, {"input", {{"answer", "42"}}}}}}})}}}}},
        {"stopReason", "tool_use"},
        {"usage", {{"inputTokens", 5}, {"outputTokens", 6}, {"totalTokens", 11}}}};
    auto r = p::bedrock_adapter().chat_response(answer.dump(), target());
    REQUIRE(r.has_value());
    CHECK(json::parse(r->body["choices"][0]["message"]["content"].get<std::string>()) == json{{"answer", "42"}});
    CHECK(r->body["choices"][0]["finish_reason"] == "stop");
}

// ---- response mapping ------------------------------------------------------------------

TEST_CASE("bedrock: a text answer becomes a chat.completion with usage")
{
    auto r = p::bedrock_adapter().chat_response(fixture("converse_response_text.json"), target());
    REQUIRE(r.has_value());
    CHECK(r->body["object"] == "chat.completion");
    CHECK(r->body["model"] == k_model);
    CHECK(r->body["choices"][0]["message"]["content"] == "Here is a short poem about the sea.");
    CHECK(r->body["choices"][0]["finish_reason"] == "stop");
    CHECK(r->usage.input_tokens == 125);
    CHECK(r->usage.output_tokens == 60);
    CHECK(r->body["usage"]["total_tokens"] == 185);
}

TEST_CASE("bedrock: toolUse blocks become tool_calls with finish_reason tool_calls")
{
    auto r = p::bedrock_adapter().chat_response(fixture("converse_response_tool_use.json"), target());
    REQUIRE(r.has_value());
    const json& msg = r->body["choices"][0]["message"];
    CHECK(msg["content"] == "I'll look up the most popular song on WZPZ.");
    REQUIRE(msg["tool_calls"].size() == 1);
    CHECK(msg["tool_calls"][0]["id"] == "tooluse_kZJMlvQmRJ6eAyJE5GIl7Q");
    CHECK(msg["tool_calls"][0]["function"]["name"] == "top_song");
    CHECK(json::parse(msg["tool_calls"][0]["function"]["arguments"].get<std::string>()) == json{{"sign", "WZPZ"}});
    CHECK(r->body["choices"][0]["finish_reason"] == "tool_calls");
}

TEST_CASE("bedrock: cache reads and writes are added to input tokens once, not double counted")
{
    auto r = p::bedrock_adapter().chat_response(fixture("converse_response_cached.json"), target());
    REQUIRE(r.has_value());
    CHECK(r->usage.input_tokens == 12 + 4096 + 204);
    CHECK(r->usage.cached_tokens == 4096);
    CHECK(r->usage.cache_write_tokens == 204);
    CHECK(r->usage.output_tokens == 100);
    // OpenAI's total equals Bedrock's totalTokens.
    CHECK(r->body["usage"]["total_tokens"] == 4412);
    CHECK(r->body["usage"]["prompt_tokens"] == 4312);
    CHECK(r->body["usage"]["prompt_tokens_details"]["cached_tokens"] == 4096);
    CHECK(r->body["choices"][0]["finish_reason"] == "length");
    CHECK(r->body["choices"][0]["message"]["reasoning_content"] == "The user wants a summary.");
    CHECK(r->body["choices"][0]["message"]["content"] == "The document describes three phases.");
}

TEST_CASE("bedrock: a guardrail intervention is finish_reason content_filter")
{
    auto r = p::bedrock_adapter().chat_response(fixture("converse_response_guardrail.json"), target());
    REQUIRE(r.has_value());
    CHECK(r->body["choices"][0]["finish_reason"] == "content_filter");
}

TEST_CASE("bedrock: a body that is not a Converse answer is an upstream failure")
{
    auto r = p::bedrock_adapter().chat_response("<html>", target());
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().kind == wire::FailureKind::upstream);
}

// ---- errors ----------------------------------------------------------------------------

TEST_CASE("bedrock: errors are classified from the status and x-amzn-ErrorType")
{
    const auto& a = p::bedrock_adapter();
    auto throttled = a.classify_error(
        429, fixture("error_throttling.json"),
        {{"x-amzn-ErrorType", "ThrottlingException:http://internal.amazon.com/coral/com.amazon.bedrock/"},
         {"Retry-After", "3"}});
    CHECK(throttled.kind == wire::FailureKind::rate_limited);
    CHECK(throttled.status == 429);
    CHECK(throttled.type == "ThrottlingException");
    CHECK(throttled.message.find("Too many requests") != std::string::npos);
    REQUIRE(throttled.retry_after_s.has_value());
    CHECK(*throttled.retry_after_s == 3.0);

    auto denied = a.classify_error(403, fixture("error_access_denied.json"),
                                   {{"x-amzn-ErrorType", "AccessDeniedException:http://internal.amazon.com/"}});
    CHECK(denied.kind == wire::FailureKind::auth);
    CHECK(denied.status == 403);

    auto bad_key = a.classify_error(403, fixture("error_unrecognized_client.json"),
                                    {{"x-amzn-ErrorType", "UnrecognizedClientException:http://internal.amazon.com/"}});
    CHECK(bad_key.kind == wire::FailureKind::auth);
    CHECK(bad_key.message.find("AWS_ACCESS_KEY_ID") != std::string::npos);

    auto invalid = a.classify_error(400, fixture("error_validation.json"),
                                    {{"x-amzn-ErrorType", "ValidationException:http://internal.amazon.com/"}});
    CHECK(invalid.kind == wire::FailureKind::bad_request);
    CHECK(invalid.status == 400);
    CHECK(invalid.message.find("roles must alternate") != std::string::npos);

    auto unavailable = a.classify_error(503, fixture("error_service_unavailable.json"), {});
    CHECK(unavailable.kind == wire::FailureKind::upstream);
    CHECK(unavailable.status == 503);

    auto quota_without_header = a.classify_error(429, "{\"message\":\"slow down\"}", {});
    CHECK(quota_without_header.kind == wire::FailureKind::rate_limited);
}

// ---- streams ---------------------------------------------------------------------------

TEST_CASE("bedrock: a ConverseStream becomes OpenAI chunks with tool-call deltas and a final usage chunk")
{
    for (std::size_t step : {std::size_t{1}, std::size_t{13}, std::size_t{100000}}) {
        CAPTURE(step);
        auto run = run_stream(tool_stream(), step);
        REQUIRE_FALSE(run.failure.has_value());
        CHECK(run.finished);
        REQUIRE(run.chunks.size() == 8);
        for (const auto& c : run.chunks) {
            CHECK(c["object"] == "chat.completion.chunk");
            CHECK(c["id"] == run.chunks[0]["id"]);
        }
        CHECK(run.chunks[0]["choices"][0]["delta"] == json{{"role", "assistant"}, {"content", ""}});
        CHECK(run.chunks[1]["choices"][0]["delta"]["content"] == "Let me check");
        CHECK(run.chunks[2]["choices"][0]["delta"]["content"] == " the weather.");
        const json& start = run.chunks[3]["choices"][0]["delta"]["tool_calls"][0];
        CHECK(start["index"] == 0);
        CHECK(start["id"] == "tooluse_abc123");
        CHECK(start["function"]["name"] == "get_weather");
        CHECK(start["function"]["arguments"] == "");
        CHECK(run.chunks[4]["choices"][0]["delta"]["tool_calls"][0] ==
              json{{"index", 0}, {"function", {{"arguments", "{\"city\":"}}}});
        CHECK(run.chunks[5]["choices"][0]["delta"]["tool_calls"][0]["function"]["arguments"] == "\"Paris\"}");
        CHECK(run.chunks[6]["choices"][0]["finish_reason"] == "tool_calls");
        const json& usage_chunk = run.chunks[7];
        CHECK(usage_chunk["choices"].empty());
        CHECK(usage_chunk["usage"]["prompt_tokens"] == 30 + 1000 + 24);
        CHECK(usage_chunk["usage"]["completion_tokens"] == 25);
        CHECK(usage_chunk["usage"]["total_tokens"] == 1079);
        CHECK(usage_chunk["usage"]["prompt_tokens_details"]["cached_tokens"] == 1000);
        CHECK(run.usage.input_tokens == 1054);
        CHECK(run.usage.cached_tokens == 1000);
        CHECK(run.usage.cache_write_tokens == 24);
    }
}

TEST_CASE("bedrock: reasoning deltas become reasoning_content")
{
    std::string bytes =
        event("messageStart", {{"role", "assistant"}}) +
        event("contentBlockDelta", {{"contentBlockIndex", 0}, {"delta", {{"reasoningContent", {{"text", "Hmm."}}}}}}) +
        event("contentBlockDelta",
              {{"contentBlockIndex", 0}, {"delta", {{"reasoningContent", {{"signature", "sig=="}}}}}}) +
        event("contentBlockDelta", {{"contentBlockIndex", 1}, {"delta", {{"text", "42"}}}}) +
        event("messageStop", {{"stopReason", "end_turn"}}) +
        event("metadata", {{"usage", {{"inputTokens", 3}, {"outputTokens", 4}, {"totalTokens", 7}}}});
    auto run = run_stream(bytes, 5);
    REQUIRE_FALSE(run.failure.has_value());
    REQUIRE(run.chunks.size() == 5);
    CHECK(run.chunks[1]["choices"][0]["delta"]["reasoning_content"] == "Hmm.");
    CHECK(run.chunks[2]["choices"][0]["delta"]["content"] == "42");
    CHECK(run.chunks[3]["choices"][0]["finish_reason"] == "stop");
    CHECK(run.finished);
}

TEST_CASE("bedrock: a stream without messageStop or without metadata is not finished")
{
    std::string head = event("messageStart", {{"role", "assistant"}}) +
                       event("contentBlockDelta", {{"contentBlockIndex", 0}, {"delta", {{"text", "Hi"}}}});
    std::string stop = event("messageStop", {{"stopReason", "end_turn"}});
    std::string meta = event("metadata", {{"usage", {{"inputTokens", 1}, {"outputTokens", 1}, {"totalTokens", 2}}}});

    auto cut = run_stream(head, 1);
    CHECK_FALSE(cut.failure.has_value());
    CHECK_FALSE(cut.finished);

    auto no_metadata = run_stream(head + stop, 1);
    CHECK_FALSE(no_metadata.finished);
    CHECK(no_metadata.chunks.back()["choices"][0]["finish_reason"] == "stop");  // no usage chunk yet

    auto no_stop = run_stream(head + meta, 1);
    CHECK_FALSE(no_stop.finished);
    CHECK(no_stop.usage.reported);

    auto whole = run_stream(head + stop + meta, 1);
    CHECK(whole.finished);
    CHECK(whole.chunks.back().contains("usage"));

    // A frame cut in the middle never becomes an event.
    std::string partial = head + stop + meta.substr(0, meta.size() - 3);
    auto truncated = run_stream(partial, 4);
    CHECK_FALSE(truncated.finished);
}

TEST_CASE("bedrock: stream exceptions are Failures classified by their type")
{
    std::string head = event("messageStart", {{"role", "assistant"}});
    struct Case {
        const char* type;
        wire::FailureKind kind;
        int status;
    };
    for (const auto& c : {Case{"throttlingException", wire::FailureKind::rate_limited, 429},
                          Case{"validationException", wire::FailureKind::bad_request, 400},
                          Case{"modelStreamErrorException", wire::FailureKind::upstream, 502},
                          Case{"internalServerException", wire::FailureKind::upstream, 500},
                          Case{"serviceUnavailableException", wire::FailureKind::upstream, 503}}) {
        CAPTURE(c.type);
        auto run = run_stream(head + exception(c.type, "it went wrong"), 3);
        REQUIRE(run.failure.has_value());
        CHECK(run.failure->kind == c.kind);
        CHECK(run.failure->status == c.status);
        CHECK(run.failure->message.find("it went wrong") != std::string::npos);
        CHECK_FALSE(run.finished);
    }
}

TEST_CASE("bedrock: a corrupted frame in the stream is a Failure")
{
    std::string bytes = tool_stream();
    bytes[bytes.size() / 2] = static_cast<char>(bytes[bytes.size() / 2] ^ 0x5a);
    auto run = run_stream(bytes, 64);
    REQUIRE(run.failure.has_value());
    CHECK(run.failure->kind == wire::FailureKind::upstream);
}

// ---- embeddings ------------------------------------------------------------------------

TEST_CASE("bedrock: Titan embeddings go through InvokeModel, one input per request")
{
    FixedClock clock;
    auto t = target("amazon.titan-embed-text-v2:0");
    auto req = p::bedrock_adapter().embeddings_request({{"input", "hello world"}, {"dimensions", 256}}, t);
    REQUIRE(req.has_value());
    CHECK(req->path == "/model/amazon.titan-embed-text-v2%3A0/invoke");
    CHECK(json::parse(req->body) == json{{"inputText", "hello world"}, {"dimensions", 256}});
    CHECK(p::header_value(req->headers, "Authorization").find("/bedrock/aws4_request") != std::string::npos);

    auto resp = p::bedrock_adapter().embeddings_response(fixture("titan_embeddings_response.json"), t);
    REQUIRE(resp.has_value());
    CHECK(resp->body["object"] == "list");
    CHECK(resp->body["data"][0]["embedding"] == json::array({0.125, -0.5, 0.75, 0.0}));
    CHECK(resp->body["usage"]["prompt_tokens"] == 7);
    CHECK(resp->usage.input_tokens == 7);

    auto many = p::bedrock_adapter().embeddings_request({{"input", json::array({"a", "b"})}}, t);
    REQUIRE_FALSE(many.has_value());
    CHECK(many.error().status == 400);
    CHECK(many.error().message.find("one input per request") != std::string::npos);
}

TEST_CASE("base64 embeddings are little-endian float32")
{
    CHECK(p::float32_base64(json::array({1.0})) == "AACAPw==");  // 1.0f = 00 00 80 3f
    CHECK(p::float32_base64(json::array({0.5, -1.0})) == "AAAAPwAAgL8=");
    CHECK(p::float32_base64(json::array()) == "");
}

TEST_CASE("bedrock: Cohere embed models on Bedrock take a batch")
{
    auto t = target("cohere.embed-english-v3");
    auto req = p::bedrock_adapter().embeddings_request({{"input", json::array({"hello", "world"})}}, t);
    REQUIRE(req.has_value());
    CHECK(json::parse(req->body) ==
          json{{"texts", json::array({"hello", "world"})}, {"input_type", "search_document"}});
    auto resp = p::bedrock_adapter().embeddings_response(fixture("cohere_embeddings_response.json"), t);
    REQUIRE(resp.has_value());
    REQUIRE(resp->body["data"].size() == 2);
    CHECK(resp->body["data"][1]["index"] == 1);
    CHECK(resp->body["data"][1]["embedding"] == json::array({0.3, 0.4}));
}

TEST_CASE("bedrock: the adapter is the one for WireFormat::bedrock and decodes event streams")
{
    CHECK(p::adapter_for(aigw::config::WireFormat::bedrock) == &p::bedrock_adapter());
    auto dec = p::bedrock_adapter().stream_decoder();
    std::vector<wire::SseEvent> out;
    REQUIRE(dec->feed(event("messageStop", {{"stopReason", "end_turn"}}), out).has_value());
    REQUIRE(out.size() == 1);
    CHECK(out[0].event == "messageStop");
}

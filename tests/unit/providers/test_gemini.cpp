// Gemini adapter: canonical (OpenAI chat) <-> generateContent / streamGenerateContent, against
// fixtures shaped like the examples in Google's Gemini API documentation (tests/fixtures/gemini).

#include "daemon/providers/adapter.hpp"
#include "shared/wire/sse.hpp"

#include "tests/unit/providers/support.hpp"

#include <doctest/doctest.h>

#include <cstring>
#include <fstream>
#include <sstream>

using nlohmann::json;
namespace p = aigw::daemon::providers;
namespace wire = aigw::wire;

namespace {

std::string fixture(const std::string& name)
{
    return aigw::test::read_fixture("gemini", name);
}

p::Target target(std::string model = "gemini-2.5-flash")
{
    p::Target t;
    t.model = std::move(model);
    t.api_key = "AIza-test";
    t.base_url = "https://generativelanguage.googleapis.com/v1beta";
    return t;
}

json request_body(const json& canonical, bool stream = false)
{
    auto req = p::gemini_adapter().chat_request(canonical, target(), stream);
    REQUIRE(req.has_value());
    return json::parse(req->body);
}

json user(const std::string& text)
{
    return {{"role", "user"}, {"content", text}};
}

using aigw::test::StreamRun;

/// Feeds the fixture in pieces of `step` bytes, so CRLF pairs and events split anywhere.
StreamRun run_stream(const std::string& name, std::size_t step)
{
    auto translator = p::gemini_adapter().chat_stream(target());
    return aigw::test::run_sse(*translator, fixture(name), step);
}

}  // namespace

TEST_CASE("Gemini requests go to generateContent or streamGenerateContent with x-goog-api-key")
{
    auto req = p::gemini_adapter().chat_request({{"messages", {user("hi")}}}, target(), false);
    REQUIRE(req.has_value());
    CHECK(req->path == "/models/gemini-2.5-flash:generateContent");
    CHECK(p::header_value(req->headers, "x-goog-api-key") == "AIza-test");
    CHECK(req->path.find("key=") == std::string::npos);

    req = p::gemini_adapter().chat_request({{"messages", {user("hi")}}}, target(), true);
    REQUIRE(req.has_value());
    CHECK(req->path == "/models/gemini-2.5-flash:streamGenerateContent?alt=sse");
    CHECK(json::parse(req->body)["contents"] == json::parse(R"([{"role":"user","parts":[{"text":"hi"}]}])"));
}

TEST_CASE("Gemini: system messages become systemInstruction and assistant turns are model turns")
{
    json body = request_body({{"messages",
                               {{{"role", "system"}, {"content", "Be brief."}},
                                user("Hello"),
                                {{"role", "assistant"}, {"content", "Hi!"}},
                                user("How are you?"),
                                user("And the weather?")}}});
    CHECK(body["systemInstruction"] == json::parse(R"({"parts":[{"text":"Be brief."}]})"));
    REQUIRE(body["contents"].size() == 3);
    CHECK(body["contents"][1]["role"] == "model");
    CHECK(body["contents"][2]["parts"].size() == 2);  // consecutive user turns merged
}

TEST_CASE("Gemini: tools become functionDeclarations with a schema Gemini accepts")
{
    json tools = json::parse(R"([{"type":"function","function":{"name":"get_weather","description":"Weather now",
        "strict":true,"parameters":{"$schema":"http://json-schema.org/draft-07/schema#","type":"object",
        "additionalProperties":false,"properties":{"location":{"type":"string"},
        "unit":{"type":["string","null"],"enum":["c","f"]}},"required":["location"]}}},
        {"type":"function","function":{"name":"now","parameters":{"type":"object","properties":{}}}}])");
    json body = request_body({{"messages", {user("x")}}, {"tools", tools}, {"tool_choice", "required"}});
    const json& decls = body["tools"][0]["functionDeclarations"];
    REQUIRE(decls.size() == 2);
    CHECK(decls[0]["name"] == "get_weather");
    const json& params = decls[0]["parameters"];
    CHECK_FALSE(params.contains("additionalProperties"));
    CHECK_FALSE(params.contains("$schema"));
    CHECK(params["required"] == json::array({"location"}));
    CHECK(params["properties"]["unit"]["type"] == "string");
    CHECK(params["properties"]["unit"]["nullable"] == true);
    CHECK_FALSE(decls[1].contains("parameters"));  // Gemini rejects an object schema without properties
    CHECK(body["toolConfig"]["functionCallingConfig"]["mode"] == "ANY");

    CHECK(request_body({{"messages", {user("x")}}, {"tools", tools}, {"tool_choice", "none"}})["toolConfig"] ==
          json::parse(R"({"functionCallingConfig":{"mode":"NONE"}})"));
    json named = {{"type", "function"}, {"function", {{"name", "now"}}}};
    CHECK(request_body({{"messages", {user("x")}}, {"tools", tools}, {"tool_choice", named}})["toolConfig"] ==
          json::parse(R"({"functionCallingConfig":{"mode":"ANY","allowedFunctionNames":["now"]}})"));
}

TEST_CASE("Gemini: tool calls and results become functionCall and functionResponse parts")
{
    json messages = json::parse(R"([
      {"role":"user","content":"Weather in Paris?"},
      {"role":"assistant","content":null,"tool_calls":[
        {"id":"call_0__thought__c2lnbmF0dXJl","type":"function","function":{"name":"get_weather","arguments":"{\"location\":\"Paris\"}"}},
        {"id":"call_1","type":"function","function":{"name":"get_time","arguments":""}}]},
      {"role":"tool","tool_call_id":"call_0__thought__c2lnbmF0dXJl","content":"{\"temp_c\":18}"},
      {"role":"tool","tool_call_id":"call_1","content":"10:00"}
    ])");
    json body = request_body({{"messages", messages}});
    REQUIRE(body["contents"].size() == 3);
    const json& model = body["contents"][1];
    CHECK(model["role"] == "model");
    CHECK(model["parts"][0] == json::parse(R"({"functionCall":{"name":"get_weather","args":{"location":"Paris"}},
                                              "thoughtSignature":"c2lnbmF0dXJl"})"));
    CHECK_FALSE(model["parts"][1].contains("thoughtSignature"));
    const json& results = body["contents"][2];
    CHECK(results["role"] == "user");
    REQUIRE(results["parts"].size() == 2);
    CHECK(results["parts"][0] ==
          json::parse(R"({"functionResponse":{"name":"get_weather","response":{"temp_c":18}}})"));
    CHECK(results["parts"][1] ==
          json::parse(R"({"functionResponse":{"name":"get_time","response":{"result":"10:00"}}})"));
}

TEST_CASE("Gemini: images become inlineData or fileData")
{
    json content = json::parse(R"([{"type":"text","text":"Describe"},
      {"type":"image_url","image_url":{"url":"data:image/webp;base64,UklGRg=="}},
      {"type":"image_url","image_url":{"url":"https://example.com/cat.PNG?size=large"}}])");
    json body = request_body({{"messages", {{{"role", "user"}, {"content", content}}}}});
    const json& parts = body["contents"][0]["parts"];
    CHECK(parts[1] == json::parse(R"({"inlineData":{"mimeType":"image/webp","data":"UklGRg=="}})"));
    CHECK(parts[2] ==
          json::parse(R"({"fileData":{"mimeType":"image/png","fileUri":"https://example.com/cat.PNG?size=large"}})"));
}

TEST_CASE("Gemini: sampling, stop, n, JSON schema and reasoning go to generationConfig")
{
    json rf = json::parse(R"({"type":"json_schema","json_schema":{"name":"r","strict":true,"schema":
        {"type":"object","additionalProperties":false,"properties":{"n":{"type":"integer"}},"required":["n"]}}})");
    json body = request_body({{"messages", {user("x")}},
                              {"temperature", 0.5},
                              {"top_p", 0.8},
                              {"max_completion_tokens", 256},
                              {"stop", "END"},
                              {"n", 2},
                              {"response_format", rf},
                              {"reasoning_effort", "low"}});
    const json& g = body["generationConfig"];
    CHECK(g["temperature"] == 0.5);
    CHECK(g["topP"] == 0.8);
    CHECK(g["maxOutputTokens"] == 256);
    CHECK(g["stopSequences"] == json::array({"END"}));
    CHECK(g["candidateCount"] == 2);
    CHECK(g["responseMimeType"] == "application/json");
    CHECK(g["responseSchema"] ==
          json::parse(R"({"type":"object","properties":{"n":{"type":"integer"}},"required":["n"]})"));
    CHECK(g["thinkingConfig"] == json::parse(R"({"thinkingBudget":1024,"includeThoughts":true})"));
}

TEST_CASE("Gemini: a text response becomes a chat.completion; cached tokens are not counted twice")
{
    auto res = p::gemini_adapter().chat_response(fixture("response_text.json"), target());
    REQUIRE(res.has_value());
    const json& b = res->body;
    CHECK(b["object"] == "chat.completion");
    CHECK(b["model"] == "gemini-2.5-flash");
    CHECK(b["choices"][0]["message"]["content"] == "AI learns patterns from data to make predictions.");
    CHECK(b["choices"][0]["finish_reason"] == "stop");
    CHECK(res->usage.input_tokens == 8);  // promptTokenCount already includes the 4 cached tokens
    CHECK(res->usage.cached_tokens == 4);
    CHECK(res->usage.output_tokens == 1210);  // candidates + thoughts
    CHECK(res->usage.reasoning_tokens == 1200);
    CHECK(b["usage"]["completion_tokens_details"]["reasoning_tokens"] == 1200);
}

TEST_CASE("Gemini: function calls become tool_calls with generated ids")
{
    auto res = p::gemini_adapter().chat_response(fixture("response_function_call.json"), target());
    REQUIRE(res.has_value());
    const json& msg = res->body["choices"][0]["message"];
    CHECK(msg["content"].is_null());
    REQUIRE(msg["tool_calls"].size() == 2);
    CHECK(msg["tool_calls"][0]["id"] == "call_0");
    CHECK(msg["tool_calls"][1]["id"] == "call_1");
    CHECK(msg["tool_calls"][0]["function"]["name"] == "schedule_meeting");
    CHECK(json::parse(msg["tool_calls"][0]["function"]["arguments"].get<std::string>())["attendees"] ==
          json::array({"Bob", "Alice"}));
    CHECK(res->body["choices"][0]["finish_reason"] == "tool_calls");
}

TEST_CASE("Gemini: thought parts become reasoning_content")
{
    auto res = p::gemini_adapter().chat_response(fixture("response_thinking.json"), target());
    REQUIRE(res.has_value());
    const json& msg = res->body["choices"][0]["message"];
    CHECK(msg["content"] == "2 + 2 = 4.");
    CHECK(msg["reasoning_content"].get<std::string>().starts_with("**Working out the sum**"));
    CHECK(res->usage.output_tokens == 58);
}

TEST_CASE("safety block becomes a clear 400")
{
    auto res = p::gemini_adapter().chat_response(fixture("response_blocked.json"), target());
    REQUIRE_FALSE(res.has_value());
    CHECK(res.error().kind == wire::FailureKind::bad_request);
    CHECK(res.error().status == 400);
    CHECK(res.error().message.find("blocked the prompt for safety") != std::string::npos);
    CHECK(res.error().message.find("SAFETY") != std::string::npos);
}

TEST_CASE("Gemini: a SAFETY finish becomes content_filter")
{
    auto res = p::gemini_adapter().chat_response(fixture("response_safety_finish.json"), target());
    REQUIRE(res.has_value());
    CHECK(res->body["choices"][0]["finish_reason"] == "content_filter");
    CHECK(res->body["choices"][0]["message"]["content"] == "");
}

TEST_CASE("Gemini CRLF SSE stream translates to OpenAI chunks with usage")
{
    for (std::size_t step : {std::size_t{1}, std::size_t{7}, std::size_t{4096}}) {
        CAPTURE(step);
        StreamRun run = run_stream("stream_text.sse", step);
        REQUIRE_FALSE(run.failure);
        CHECK(run.finished);
        REQUIRE(run.chunks.size() == 5);  // role, two texts, finish, usage
        CHECK(run.chunks[0]["choices"][0]["delta"]["role"] == "assistant");
        CHECK(run.chunks[0]["object"] == "chat.completion.chunk");
        CHECK(run.chunks[1]["choices"][0]["delta"]["content"] == "Once upon a time");
        CHECK(run.chunks[2]["choices"][0]["delta"]["content"] == ", in a land far away, lived a magic backpack.");
        CHECK(run.chunks[3]["choices"][0]["finish_reason"] == "stop");
        CHECK(run.chunks[4]["choices"].empty());
        CHECK(run.chunks[4]["usage"]["prompt_tokens"] == 9);
        CHECK(run.chunks[4]["usage"]["completion_tokens"] == 1218);
        CHECK(run.chunks[4]["usage"]["prompt_tokens_details"]["cached_tokens"] == 4);
        CHECK(run.usage.reasoning_tokens == 1200);
    }
}

TEST_CASE("Gemini: a streamed function call keeps its thought signature in the tool call id")
{
    StreamRun run = run_stream("stream_function_call.sse", 4096);
    REQUIRE_FALSE(run.failure);
    CHECK(run.finished);
    CHECK(run.chunks[1]["choices"][0]["delta"]["reasoning_content"] == "Checking the thermostat.");
    const json& tc = run.chunks[2]["choices"][0]["delta"]["tool_calls"][0];
    CHECK(tc["index"] == 0);
    CHECK(tc["id"] == "call_0__thought__CiQBcsjafD3+sig==");
    CHECK(tc["function"]["name"] == "set_light_values");
    CHECK(json::parse(tc["function"]["arguments"].get<std::string>())["brightness"] == 25);
    CHECK(run.chunks[3]["choices"][0]["finish_reason"] == "tool_calls");

    // Sent back, the signature returns to the functionCall part.
    json assistant = {{"role", "assistant"}, {"content", nullptr}, {"tool_calls", json::array({tc})}};
    assistant["tool_calls"][0].erase("index");
    json body = request_body({{"messages", {user("dim the lights"), assistant}}});
    CHECK(body["contents"][1]["parts"][0]["thoughtSignature"] == "CiQBcsjafD3+sig==");
}

TEST_CASE("Gemini: a stream without a finishReason is not finished")
{
    StreamRun run = run_stream("stream_truncated.sse", 4096);
    REQUIRE_FALSE(run.failure);
    CHECK_FALSE(run.finished);
}

TEST_CASE("Gemini: a blocked prompt in a stream fails it with a 400")
{
    auto translator = p::gemini_adapter().chat_stream(target());
    std::vector<json> out;
    auto r = translator->on_event({"", fixture("response_blocked.json"), ""}, out);
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().status == 400);
}

TEST_CASE("Gemini error bodies are classified")
{
    const auto& g = p::gemini_adapter();
    wire::Failure f = g.classify_error(429, fixture("error_resource_exhausted.json"), {});
    CHECK(f.kind == wire::FailureKind::rate_limited);
    REQUIRE(f.retry_after_s.has_value());
    CHECK(*f.retry_after_s == doctest::Approx(32));
    CHECK(f.message.find("exceeded your current quota") != std::string::npos);

    f = g.classify_error(400, fixture("error_api_key_invalid.json"), {});
    CHECK(f.kind == wire::FailureKind::auth);
    CHECK(f.message.find("GEMINI_API_KEY") != std::string::npos);

    f = g.classify_error(400, fixture("error_invalid_argument.json"), {});
    CHECK(f.kind == wire::FailureKind::bad_request);
    CHECK(f.status == 400);

    f = g.classify_error(403, R"({"error":{"code":403,"message":"denied","status":"PERMISSION_DENIED"}})", {});
    CHECK(f.kind == wire::FailureKind::auth);
    f = g.classify_error(503, R"({"error":{"code":503,"message":"The model is overloaded.","status":"UNAVAILABLE"}})",
                         {});
    CHECK(f.kind == wire::FailureKind::upstream);
    CHECK(f.status == 503);
}

TEST_CASE("Gemini embeddings use batchEmbedContents and return floats")
{
    const auto& g = p::gemini_adapter();
    auto req = g.embeddings_request({{"model", "gemini/text-embedding-004"}, {"input", {"a", "b"}}, {"dimensions", 3}},
                                    target("text-embedding-004"));
    REQUIRE(req.has_value());
    CHECK(req->path == "/models/text-embedding-004:batchEmbedContents");
    json body = json::parse(req->body);
    REQUIRE(body["requests"].size() == 2);
    CHECK(body["requests"][1] == json::parse(R"({"model":"models/text-embedding-004",
        "content":{"parts":[{"text":"b"}]},"outputDimensionality":3})"));

    auto res = g.embeddings_response(fixture("embeddings_response.json"), target("text-embedding-004"));
    REQUIRE(res.has_value());
    CHECK(res->body["object"] == "list");
    CHECK(res->body["data"][1]["index"] == 1);
    CHECK(res->body["data"][0]["embedding"] == json::array({0.5, -1.0, 0.25}));

    // Floats whatever the client asked: the surface encodes base64 for every provider.
    req = g.embeddings_request({{"input", "a"}, {"encoding_format", "base64"}}, target("text-embedding-004"));
    REQUIRE(req.has_value());
    res = g.embeddings_response(fixture("embeddings_response.json"), target("text-embedding-004"));
    REQUIRE(res.has_value());
    CHECK(res->body["data"][0]["embedding"] == json::array({0.5, -1.0, 0.25}));

    auto bad = g.embeddings_request({{"input", {{1, 2, 3}}}}, target("text-embedding-004"));
    CHECK_FALSE(bad.has_value());
}

TEST_CASE("the passthrough tap reads what the translator reads, event by event, and builds no chunks")
{
    std::vector<std::string> streams;
    for (const char* name : {"stream_text.sse", "stream_function_call.sse", "stream_truncated.sse"}) {
        streams.push_back(fixture(name));
    }
    // Two candidates (the end waits for both), a response without candidates, an empty text
    // part, a blocked prompt, an error object, a response in an array, and data that is not JSON.
    streams.push_back(
        "data: {\"candidates\":[{\"index\":0,\"content\":{\"parts\":[{\"text\":\"\"}]}},"
        "{\"index\":1,\"content\":{\"parts\":[{\"text\":\"b\"}]}}]}\r\n\r\n"
        "data: {\"usageMetadata\":{\"promptTokenCount\":5,\"candidatesTokenCount\":2}}\r\n\r\n"
        "data: "
        "{\"candidates\":[{\"index\":0,\"content\":{\"parts\":[{\"text\":\"a\"}]},\"finishReason\":\"STOP\"}]}\r\n\r\n"
        "data: {\"candidates\":[{\"index\":1,\"finishReason\":\"MAX_TOKENS\"}],"
        "\"usageMetadata\":{\"promptTokenCount\":5,\"candidatesTokenCount\":4}}\r\n\r\n"
        "data: {\"candidates\":[{\"index\":0,\"content\":{\"parts\":[{\"text\":\"after the end\"}]}}]}\r\n\r\n");
    streams.push_back("data: {\"promptFeedback\":{\"blockReason\":\"SAFETY\"}}\n\n");
    streams.push_back("data: {\"error\":{\"code\":429,\"message\":\"quota\",\"status\":\"RESOURCE_EXHAUSTED\"}}\n\n");
    streams.push_back(
        "data: [{\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"x\"}]},\"finishReason\":\"STOP\"}]}]\n\n");
    streams.push_back("data: {\"candidates\":[\n\n");
    for (const auto& bytes : streams) {
        CAPTURE(bytes.substr(0, 120));
        auto translator = p::gemini_adapter().chat_stream(target());
        auto tap = p::gemini_passthrough_tap();
        // The marker and a finish reason for each of at most two candidates.
        aigw::test::check_tap_reads_as_translator(*translator, *tap, aigw::test::sse_events(bytes), 3);
    }
}

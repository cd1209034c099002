// The inbound Gemini surface's translators: GenerateContentRequest -> canonical, canonical
// answer and chunks -> GenerateContentResponse, the JSON-array stream framing, embeddings.

#include "daemon/surfaces/gemini/translate.hpp"
#include "shared/wire/sse.hpp"

#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

using nlohmann::json;
namespace g = aigw::daemon::surfaces::gemini;
namespace wire = aigw::wire;

namespace {

json fixture_json(const std::string& name)
{
    std::ifstream in(std::filesystem::path(AIGW_FIXTURES_DIR) / "gemini" / name);
    REQUIRE_MESSAGE(in.good(), "missing fixture gemini/" << name);
    std::stringstream ss;
    ss << in.rdbuf();
    return json::parse(ss.str());
}

json chunk(json delta, json finish = nullptr, int index = 0)
{
    return {{"id", "chatcmpl-9"},
            {"object", "chat.completion.chunk"},
            {"choices",
             json::array({{{"index", index}, {"delta", std::move(delta)}, {"finish_reason", std::move(finish)}}})}};
}

json usage_chunk()
{
    return {{"id", "chatcmpl-9"},
            {"object", "chat.completion.chunk"},
            {"choices", json::array()},
            {"usage",
             {{"prompt_tokens", 20},
              {"completion_tokens", 15},
              {"total_tokens", 35},
              {"prompt_tokens_details", {{"cached_tokens", 8}}},
              {"completion_tokens_details", {{"reasoning_tokens", 5}}}}}};
}

}  // namespace

TEST_CASE("a Gemini CLI request with tools, thoughts and a function response becomes a canonical request")
{
    auto canonical = g::request_to_canonical(fixture_json("surface_request_tools.json"));
    REQUIRE(canonical.has_value());
    const json& c = *canonical;
    CHECK_FALSE(c.contains("model"));
    const json& m = c["messages"];
    REQUIRE(m.size() == 5);
    CHECK(m[0] == json{{"role", "system"}, {"content", "You are a helpful agent.\nBe brief."}});
    CHECK(m[1]["role"] == "user");
    CHECK(m[1]["content"] == json::array({{{"type", "text"}, {"text", "This is the Gemini CLI."}},
                                          {{"type", "text"}, {"text", "What's the weather in Paris?"}}}));
    // The thought is dropped; the call gets an id the tool result then answers.
    CHECK(m[2]["role"] == "assistant");
    CHECK(m[2]["content"].is_null());
    REQUIRE(m[2]["tool_calls"].size() == 1);
    CHECK(m[2]["tool_calls"][0]["id"] == "call_0");
    CHECK(m[2]["tool_calls"][0]["function"]["name"] == "get_weather");
    CHECK(json::parse(m[2]["tool_calls"][0]["function"]["arguments"].get<std::string>()) == json{{"city", "Paris"}});
    CHECK(m[3] == json{{"role", "tool"},
                       {"tool_call_id", "call_0"},
                       {"name", "get_weather"},
                       {"content", R"({"output":"18C and sunny"})"}});
    CHECK(m[4]["content"][1] ==
          json{{"type", "image_url"}, {"image_url", {{"url", "data:image/png;base64,iVBORw0KGgo="}}}});

    REQUIRE(c["tools"].size() == 2);
    const json& weather = c["tools"][0]["function"];
    CHECK(weather["name"] == "get_weather");
    CHECK(weather["parameters"]["type"] == "object");
    CHECK(weather["parameters"]["properties"]["city"] == json{{"type", "string"}, {"description", "City name"}});
    CHECK(weather["parameters"]["properties"]["unit"]["type"] == json::array({"string", "null"}));
    CHECK_FALSE(weather["parameters"].contains("propertyOrdering"));
    // parametersJsonSchema is JSON Schema already and goes as is.
    CHECK(c["tools"][1]["function"]["parameters"]["additionalProperties"] == false);
    CHECK(c["tool_choice"] == json{{"type", "function"}, {"function", {{"name", "get_weather"}}}});

    CHECK(c["temperature"] == 0.2);
    CHECK(c["top_p"] == 0.9);
    CHECK(c["top_k"] == 40);
    CHECK(c["max_tokens"] == 512);
    CHECK(c["stop"] == json::array({"END"}));
    CHECK(c["reasoning_effort"] == "medium");
    CHECK_FALSE(c.contains("safetySettings"));
}

TEST_CASE("function responses with ids answer those calls; snake_case fields are read too")
{
    json req = {
        {"contents",
         json::array(
             {{{"role", "user"}, {"parts", json::array({{{"text", "go"}}})}},
              {{"role", "model"},
               {"parts", json::array({{{"function_call", {{"id", "a1"}, {"name", "ls"}, {"args", json::object()}}}},
                                      {{"functionCall", {{"id", "a2"}, {"name", "ls"}, {"args", {{"dir", "x"}}}}}}})}},
              {{"role", "user"},
               {"parts",
                json::array(
                    {{{"functionResponse", {{"id", "a2"}, {"name", "ls"}, {"response", {{"files", 2}}}}}},
                     {{"function_response", {{"id", "a1"}, {"name", "ls"}, {"response", {{"files", 1}}}}}}})}}})},
        {"system_instruction", "plain string system"},
        {"generation_config", {{"max_output_tokens", 10}, {"response_mime_type", "application/json"}}}};
    auto c = g::request_to_canonical(req);
    REQUIRE(c.has_value());
    const json& m = (*c)["messages"];
    CHECK(m[0]["content"] == "plain string system");
    CHECK(m[2]["tool_calls"][0]["id"] == "a1");
    CHECK(m[2]["tool_calls"][1]["id"] == "a2");
    CHECK(m[3]["tool_call_id"] == "a2");
    CHECK(m[4]["tool_call_id"] == "a1");
    CHECK((*c)["max_tokens"] == 10);
    CHECK((*c)["response_format"] == json{{"type", "json_object"}});
}

TEST_CASE("responseSchema and responseJsonSchema become a json_schema response format")
{
    json base = {{"contents", json::array({{{"role", "user"}, {"parts", json::array({{{"text", "hi"}}})}}})}};
    json a = base;
    a["generationConfig"] = {
        {"responseMimeType", "application/json"},
        {"responseSchema", {{"type", "ARRAY"}, {"items", {{"type", "INTEGER"}}}, {"minItems", "1"}}}};
    auto ca = g::request_to_canonical(a);
    REQUIRE(ca.has_value());
    CHECK((*ca)["response_format"]["type"] == "json_schema");
    CHECK((*ca)["response_format"]["json_schema"]["schema"] ==
          json{{"type", "array"}, {"items", {{"type", "integer"}}}, {"minItems", 1}});

    json b = base;
    json schema = {{"type", "object"}, {"properties", {{"x", {{"type", "number"}}}}}, {"required", {"x"}}};
    b["generationConfig"] = {{"responseMimeType", "application/json"}, {"responseJsonSchema", schema}};
    auto cb = g::request_to_canonical(b);
    REQUIRE(cb.has_value());
    CHECK((*cb)["response_format"]["json_schema"]["schema"] == schema);
}

TEST_CASE("Gemini-only features are a 400 that names the field")
{
    json base = {{"contents", json::array({{{"role", "user"}, {"parts", json::array({{{"text", "hi"}}})}}})}};
    json search = base;
    search["tools"] = json::array({{{"googleSearch", json::object()}}});
    auto r = g::request_to_canonical(search);
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().status == 400);
    CHECK(r.error().param == "tools[0].googleSearch");

    json audio = base;
    audio["generationConfig"] = {{"responseModalities", json::array({"AUDIO"})}};
    CHECK_FALSE(g::request_to_canonical(audio).has_value());

    json cached = base;
    cached["cachedContent"] = "cachedContents/abc";
    CHECK_FALSE(g::request_to_canonical(cached).has_value());

    json code = {{"contents",
                  json::array({{{"role", "model"}, {"parts", json::array({{{"executableCode", {{"code", "1"}}}}})}}})}};
    CHECK_FALSE(g::request_to_canonical(code).has_value());

    CHECK_FALSE(g::request_to_canonical(json{{"contents", json::array()}}).has_value());
    CHECK(g::request_to_canonical(json::array()).error().status == 400);
}

TEST_CASE("toolConfig modes map to tool_choice; several allowed names narrow the tools")
{
    json req = {
        {"contents", json::array({{{"role", "user"}, {"parts", json::array({{{"text", "hi"}}})}}})},
        {"tools",
         json::array({{{"functionDeclarations", json::array({{{"name", "a"}}, {{"name", "b"}}, {{"name", "c"}}})}}})}};
    req["toolConfig"] = {{"functionCallingConfig", {{"mode", "NONE"}}}};
    CHECK((*g::request_to_canonical(req))["tool_choice"] == "none");
    req["toolConfig"] = {{"functionCallingConfig", {{"mode", "AUTO"}}}};
    CHECK((*g::request_to_canonical(req))["tool_choice"] == "auto");
    req["toolConfig"] = {{"functionCallingConfig", {{"mode", "ANY"}, {"allowedFunctionNames", {"a", "c"}}}}};
    auto c = g::request_to_canonical(req);
    CHECK((*c)["tool_choice"] == "required");
    REQUIRE((*c)["tools"].size() == 2);
    CHECK((*c)["tools"][1]["function"]["name"] == "c");
    CHECK((*c)["tools"][0]["function"]["parameters"] == json{{"type", "object"}, {"properties", json::object()}});
}

TEST_CASE("a canonical answer with reasoning and a tool call becomes a GenerateContentResponse")
{
    json completion = {
        {"id", "chatcmpl-1"},
        {"object", "chat.completion"},
        {"choices",
         json::array(
             {{{"index", 0},
               {"message",
                {{"role", "assistant"},
                 {"content", "Checking."},
                 {"reasoning_content", "The user wants weather."},
                 {"tool_calls",
                  json::array({{{"id", "call_abc"},
                                {"type", "function"},
                                {"function", {{"name", "get_weather"}, {"arguments", R"({"city":"Paris"})"}}}}})}}},
               {"finish_reason", "tool_calls"}}})},
        {"usage",
         {{"prompt_tokens", 100},
          {"completion_tokens", 30},
          {"total_tokens", 130},
          {"prompt_tokens_details", {{"cached_tokens", 40}}},
          {"completion_tokens_details", {{"reasoning_tokens", 10}}}}}};
    json r = g::response_from_canonical(completion, "openai/gpt-4o-mini");
    CHECK(r["modelVersion"] == "openai/gpt-4o-mini");
    CHECK(r["responseId"] == "chatcmpl-1");
    const json& cand = r["candidates"][0];
    CHECK(cand["finishReason"] == "STOP");
    CHECK(cand["index"] == 0);
    CHECK(cand["content"]["role"] == "model");
    const json& parts = cand["content"]["parts"];
    REQUIRE(parts.size() == 3);
    CHECK(parts[0] == json{{"text", "The user wants weather."}, {"thought", true}});
    CHECK(parts[1] == json{{"text", "Checking."}});
    CHECK(parts[2] ==
          json{{"functionCall", {{"name", "get_weather"}, {"args", {{"city", "Paris"}}}, {"id", "call_abc"}}}});
    CHECK(r["usageMetadata"] == json{{"promptTokenCount", 100},
                                     {"candidatesTokenCount", 20},
                                     {"totalTokenCount", 130},
                                     {"thoughtsTokenCount", 10},
                                     {"cachedContentTokenCount", 40}});
}

TEST_CASE("finish reasons map to Gemini's")
{
    CHECK(g::finish_reason_to_gemini("stop") == "STOP");
    CHECK(g::finish_reason_to_gemini("length") == "MAX_TOKENS");
    CHECK(g::finish_reason_to_gemini("content_filter") == "SAFETY");
    CHECK(g::finish_reason_to_gemini("tool_calls") == "STOP");
}

TEST_CASE("a canonical text stream becomes Gemini events whose last carries finishReason and usage")
{
    g::StreamWriter w("anthropic/claude-haiku-4-5");
    std::vector<json> events;
    auto take = [&](std::vector<json> more) {
        for (auto& e : more) {
            events.push_back(std::move(e));
        }
    };
    take(w.on_chunk(chunk({{"role", "assistant"}, {"content", ""}})));
    CHECK(events.empty());  // a role-only chunk carries nothing
    take(w.on_chunk(chunk({{"reasoning_content", "hmm"}})));
    take(w.on_chunk(chunk({{"content", "Hel"}})));
    take(w.on_chunk(chunk({{"content", "lo"}})));
    take(w.on_chunk(chunk(json::object(), "stop")));
    CHECK(events.size() == 3);  // the finish waits for the usage chunk
    take(w.on_chunk(usage_chunk()));
    take(w.finish(wire::Usage{}));
    REQUIRE(events.size() == 4);
    CHECK(events[0]["candidates"][0]["content"]["parts"][0] == json{{"text", "hmm"}, {"thought", true}});
    CHECK(events[1]["candidates"][0]["content"]["parts"][0] == json{{"text", "Hel"}});
    CHECK(events[1]["modelVersion"] == "anthropic/claude-haiku-4-5");
    CHECK(events[1]["responseId"] == "chatcmpl-9");
    const json& last = events[3];
    CHECK(last["candidates"][0]["finishReason"] == "STOP");
    CHECK(last["usageMetadata"]["promptTokenCount"] == 20);
    CHECK(last["usageMetadata"]["candidatesTokenCount"] == 10);
    CHECK(last["usageMetadata"]["thoughtsTokenCount"] == 5);
    CHECK(last["usageMetadata"]["cachedContentTokenCount"] == 8);
    CHECK(last["usageMetadata"]["totalTokenCount"] == 35);
}

TEST_CASE("streamed tool call pieces are sent as one functionCall with the finish")
{
    g::StreamWriter w("openai/gpt-4o-mini");
    std::vector<json> events;
    auto take = [&](std::vector<json> more) {
        for (auto& e : more) {
            events.push_back(std::move(e));
        }
    };
    take(w.on_chunk(
        chunk({{"tool_calls", json::array({{{"index", 0},
                                            {"id", "call_1"},
                                            {"type", "function"},
                                            {"function", {{"name", "get_weather"}, {"arguments", ""}}}}})}})));
    take(w.on_chunk(chunk({{"tool_calls", json::array({{{"index", 0}, {"function", {{"arguments", R"({"ci)"}}}}})}})));
    take(w.on_chunk(
        chunk({{"tool_calls", json::array({{{"index", 0}, {"function", {{"arguments", R"(ty":"Oslo"})"}}}}})}})));
    take(w.on_chunk(chunk(json::object(), "tool_calls")));
    CHECK(events.empty());
    // No usage chunk: finish() sends the final event with the usage the pipeline knows.
    wire::Usage u;
    u.reported = true;
    u.input_tokens = 7;
    u.output_tokens = 3;
    take(w.finish(u));
    REQUIRE(events.size() == 1);
    const json& cand = events[0]["candidates"][0];
    CHECK(cand["finishReason"] == "STOP");
    CHECK(cand["content"]["parts"][0] ==
          json{{"functionCall", {{"name", "get_weather"}, {"args", {{"city", "Oslo"}}}, {"id", "call_1"}}}});
    CHECK(events[0]["usageMetadata"]["totalTokenCount"] == 10);
    CHECK(w.finish(u).empty());
}

TEST_CASE("events are framed as SSE or as elements of one JSON array")
{
    json e = {{"candidates", json::array()}};
    CHECK(g::frame_event(e, true, true) == "data: {\"candidates\":[]}\r\n\r\n");
    CHECK(g::frame_event(e, false, true) == "[{\"candidates\":[]}");
    CHECK(g::frame_event(e, false, false) == ",\r\n{\"candidates\":[]}");
}

TEST_CASE("the JSON array stream decoder yields one event per element, split anywhere")
{
    const std::string body =
        "[{\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"a ]}\\\" b\"}]}}]}\r\n,\r\n"
        "{\"usageMetadata\":{\"promptTokenCount\":3}}\r\n]";
    for (std::size_t step : {1u, 3u, 7u, 1000u}) {
        auto closed = std::make_shared<bool>(false);
        g::JsonArrayStreamDecoder d(closed);
        std::vector<wire::SseEvent> events;
        for (std::size_t i = 0; i < body.size(); i += step) {
            REQUIRE(d.feed(std::string_view(body).substr(i, step), events).has_value());
        }
        d.finish(events);
        REQUIRE(events.size() == 2);
        CHECK(json::parse(events[0].data)["candidates"][0]["content"]["parts"][0]["text"] == "a ]}\" b");
        CHECK(json::parse(events[1].data)["usageMetadata"]["promptTokenCount"] == 3);
        CHECK(*closed);
    }
}

TEST_CASE("embedContent and batchEmbedContents translate both ways")
{
    json one = {{"model", "models/text-embedding-004"},
                {"content", {{"parts", json::array({{{"text", "hello"}}, {{"text", "world"}}})}}},
                {"outputDimensionality", 4},
                {"taskType", "RETRIEVAL_QUERY"}};
    auto c = g::embed_request_to_canonical(one, false);
    REQUIRE(c.has_value());
    CHECK(*c == json{{"input", "hello\nworld"}, {"dimensions", 4}});

    json batch = {{"requests", json::array({{{"content", {{"parts", json::array({{{"text", "a"}}})}}}},
                                            {{"content", {{"parts", json::array({{{"text", "b"}}})}}}}})}};
    auto cb = g::embed_request_to_canonical(batch, true);
    REQUIRE(cb.has_value());
    CHECK((*cb)["input"] == json::array({"a", "b"}));
    CHECK_FALSE(g::embed_request_to_canonical(json{{"requests", json::array()}}, true).has_value());
    CHECK_FALSE(g::embed_request_to_canonical(json::object(), false).has_value());

    json list = {{"object", "list"},
                 {"data", json::array({{{"object", "embedding"}, {"index", 0}, {"embedding", {0.5, 0.25}}},
                                       {{"object", "embedding"}, {"index", 1}, {"embedding", {1.0, 0.0}}}})}};
    CHECK(g::embed_response_from_canonical(list, false) == json{{"embedding", {{"values", {0.5, 0.25}}}}});
    CHECK(g::embed_response_from_canonical(list, true)["embeddings"][1]["values"] == json::array({1.0, 0.0}));
}

TEST_CASE("model paths split at the last colon; token estimates count contents, system and tools")
{
    auto call = g::parse_model_call("openai/gpt-4o-mini:streamGenerateContent");
    REQUIRE(call.has_value());
    CHECK(call->model == "openai/gpt-4o-mini");
    CHECK(call->method == "streamGenerateContent");
    CHECK_FALSE(g::parse_model_call("gemini-2.5-flash").has_value());
    CHECK_FALSE(g::parse_model_call(":generateContent").has_value());

    json contents = json::array({{{"role", "user"}, {"parts", json::array({{{"text", std::string(400, 'x')}}})}}});
    const auto bare = g::estimate_tokens(json{{"contents", contents}});
    CHECK(bare > 100);
    CHECK(g::estimate_tokens(
              json{{"generateContentRequest",
                    {{"contents", contents}, {"systemInstruction", {{"parts", {{{"text", "sys"}}}}}}}}}) > bare);
}

TEST_CASE("errors and stream errors come in Gemini's shape with Google's status names")
{
    wire::Failure f = wire::bad_request("bad thing");
    CHECK(wire::to_gemini_error(f) ==
          json{{"error", {{"code", 400}, {"message", "bad thing"}, {"status", "INVALID_ARGUMENT"}}}});
    CHECK(wire::gemini_status_name(401) == "UNAUTHENTICATED");
    CHECK(wire::gemini_status_name(403) == "PERMISSION_DENIED");
    CHECK(wire::gemini_status_name(404) == "NOT_FOUND");
    CHECK(wire::gemini_status_name(429) == "RESOURCE_EXHAUSTED");
    CHECK(wire::gemini_status_name(503) == "UNAVAILABLE");
    CHECK(wire::gemini_status_name(504) == "DEADLINE_EXCEEDED");
    CHECK(wire::gemini_status_name(500) == "INTERNAL");
    CHECK(g::error_event(wire::gateway_timeout("late"))["error"]["status"] == "DEADLINE_EXCEEDED");
}

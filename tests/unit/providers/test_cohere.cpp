// Cohere v2 adapter: canonical (OpenAI chat) <-> /v2/chat and /v2/embed, against fixtures
// shaped like the examples in Cohere's API v2 documentation (tests/fixtures/cohere).

#include "daemon/providers/adapter.hpp"
#include "shared/wire/sse.hpp"

#include "tests/unit/providers/support.hpp"

#include <doctest/doctest.h>

#include <fstream>
#include <sstream>

using nlohmann::json;
namespace p = aigw::daemon::providers;
namespace wire = aigw::wire;

namespace {

std::string fixture(const std::string& name)
{
    return aigw::test::read_fixture("cohere", name);
}

p::Target target(std::string model = "command-a-03-2025")
{
    p::Target t;
    t.model = std::move(model);
    t.api_key = "co-test-key";
    t.base_url = "https://api.cohere.com/v2";
    return t;
}

json request_body(const json& canonical, bool stream = false)
{
    auto req = p::cohere_adapter().chat_request(canonical, target(), stream);
    REQUIRE_MESSAGE(req.has_value(), (req ? "" : req.error().message));
    return json::parse(req->body);
}

json weather_tool()
{
    return {{"type", "function"},
            {"function",
             {{"name", "get_weather"},
              {"description", "Current weather for a city"},
              {"parameters",
               {{"type", "object"},
                {"properties", {{"location", {{"type", "string"}}}}},
                {"required", json::array({"location"})}}}}}};
}

using aigw::test::StreamRun;

/// Feeds the fixture in pieces of `step` bytes, so events split anywhere.
StreamRun run_stream(const std::string& name, std::size_t step = 5)
{
    auto translator = p::cohere_adapter().chat_stream(target());
    REQUIRE(translator != nullptr);
    return aigw::test::run_sse(*translator, fixture(name), step);
}

}  // namespace

TEST_CASE("cohere chat posts to /chat with a bearer key and the messages mapped 1:1")
{
    json canonical = {
        {"model", "cohere/command-a-03-2025"},
        {"messages",
         json::array({{{"role", "system"}, {"content", "Be brief."}},
                      {{"role", "developer"}, {"content", json::array({{{"type", "text"}, {"text", "No emoji."}}})}},
                      {{"role", "user"}, {"content", "What is an LLM?"}},
                      {{"role", "assistant"}, {"content", "A model."}},
                      {{"role", "user"},
                       {"content", json::array({{{"type", "text"}, {"text", "And this?"}},
                                                {{"type", "image_url"},
                                                 {"image_url", {{"url", "data:image/png;base64,iVBORw0KGgo="}}}}})}}})},
        {"max_tokens", 300},
        {"temperature", 0.3},
        {"top_p", 0.9},
        {"seed", 7},
        {"frequency_penalty", 0.1},
        {"stop", "END"},
        {"user", "u-1"}};
    auto req = p::cohere_adapter().chat_request(canonical, target(), false);
    REQUIRE(req.has_value());
    CHECK(req->path == "/chat");
    CHECK(p::header_value(req->headers, "Authorization") == "Bearer co-test-key");
    json body = json::parse(req->body);
    CHECK(body["model"] == "command-a-03-2025");
    CHECK_FALSE(body.contains("stream"));
    REQUIRE(body["messages"].size() == 5);
    CHECK(body["messages"][0] == json{{"role", "system"}, {"content", "Be brief."}});
    CHECK(body["messages"][1] == json{{"role", "system"}, {"content", "No emoji."}});
    CHECK(body["messages"][2] == json{{"role", "user"}, {"content", "What is an LLM?"}});
    CHECK(body["messages"][3] == json{{"role", "assistant"}, {"content", "A model."}});
    CHECK(body["messages"][4]["content"][1]["type"] == "image_url");
    CHECK(body["messages"][4]["content"][1]["image_url"]["url"] == "data:image/png;base64,iVBORw0KGgo=");
    CHECK(body["max_tokens"] == 300);
    CHECK(body["temperature"] == 0.3);
    CHECK(body["p"] == 0.9);
    CHECK(body["seed"] == 7);
    CHECK(body["frequency_penalty"] == 0.1);
    CHECK(body["stop_sequences"] == json::array({"END"}));
    CHECK_FALSE(body.contains("top_p"));
    CHECK_FALSE(body.contains("user"));

    CHECK(request_body(canonical, true)["stream"] == true);
}

TEST_CASE("cohere tools, tool calls and tool results keep OpenAI's shape, with content as tool_plan")
{
    json canonical = {
        {"messages",
         json::array(
             {{{"role", "user"}, {"content", "Weather in Toronto?"}},
              {{"role", "assistant"},
               {"content", "I will check the weather."},
               {"tool_calls",
                json::array({{{"id", "get_weather_1byjy32y4hvq"},
                              {"type", "function"},
                              {"function", {{"name", "get_weather"}, {"arguments", "{\"location\":\"Toronto\"}"}}}}})}},
              {{"role", "tool"}, {"tool_call_id", "get_weather_1byjy32y4hvq"}, {"content", "{\"temp\":20}"}}})},
        {"tools", json::array({weather_tool()})},
        {"tool_choice", "required"}};
    json body = request_body(canonical);
    REQUIRE(body["messages"].size() == 3);
    const json& assistant = body["messages"][1];
    CHECK(assistant["role"] == "assistant");
    CHECK(assistant["tool_plan"] == "I will check the weather.");
    CHECK_FALSE(assistant.contains("content"));
    CHECK(assistant["tool_calls"][0]["id"] == "get_weather_1byjy32y4hvq");
    CHECK(assistant["tool_calls"][0]["function"]["arguments"] == "{\"location\":\"Toronto\"}");
    CHECK(body["messages"][2] ==
          json{{"role", "tool"}, {"tool_call_id", "get_weather_1byjy32y4hvq"}, {"content", "{\"temp\":20}"}});
    REQUIRE(body["tools"].size() == 1);
    CHECK(body["tools"][0]["type"] == "function");
    CHECK(body["tools"][0]["function"]["name"] == "get_weather");
    CHECK(body["tools"][0]["function"]["parameters"]["required"] == json::array({"location"}));
    CHECK(body["tool_choice"] == "REQUIRED");

    canonical["tool_choice"] = "none";
    CHECK(request_body(canonical)["tool_choice"] == "NONE");
    canonical["tool_choice"] = "auto";
    CHECK_FALSE(request_body(canonical).contains("tool_choice"));
}

TEST_CASE("cohere tool_choice naming a function keeps only that tool and requires it")
{
    json other = weather_tool();
    other["function"]["name"] = "get_time";
    json canonical = {{"messages", json::array({{{"role", "user"}, {"content", "hi"}}})},
                      {"tools", json::array({weather_tool(), other})},
                      {"tool_choice", {{"type", "function"}, {"function", {{"name", "get_time"}}}}}};
    json body = request_body(canonical);
    REQUIRE(body["tools"].size() == 1);
    CHECK(body["tools"][0]["function"]["name"] == "get_time");
    CHECK(body["tool_choice"] == "REQUIRED");

    canonical["tool_choice"]["function"]["name"] = "nope";
    auto req = p::cohere_adapter().chat_request(canonical, target(), false);
    REQUIRE_FALSE(req.has_value());
    CHECK(req.error().param == "tool_choice");
}

TEST_CASE("cohere json mode: json_object and json_schema become response_format json_object")
{
    json canonical = {{"messages", json::array({{{"role", "user"}, {"content", "Give JSON"}}})},
                      {"response_format", {{"type", "json_object"}}}};
    CHECK(request_body(canonical)["response_format"] == json{{"type", "json_object"}});

    json schema = {
        {"type", "object"}, {"properties", {{"name", {{"type", "string"}}}}}, {"required", json::array({"name"})}};
    canonical["response_format"] = {{"type", "json_schema"},
                                    {"json_schema", {{"name", "person"}, {"strict", true}, {"schema", schema}}}};
    json body = request_body(canonical);
    CHECK(body["response_format"]["type"] == "json_object");
    CHECK(body["response_format"]["json_schema"] == schema);

    canonical["response_format"] = {{"type", "text"}};
    CHECK_FALSE(request_body(canonical).contains("response_format"));
}

TEST_CASE("cohere rejects what it cannot express with a clear 400")
{
    auto bad = [](const json& canonical) {
        auto req = p::cohere_adapter().chat_request(canonical, target(), false);
        REQUIRE_FALSE(req.has_value());
        CHECK(req.error().status == 400);
        return req.error().message;
    };
    CHECK(bad({{"model", "x"}}).find("messages") != std::string::npos);
    CHECK(bad({{"messages", json::array({{{"role", "user"}, {"content", "x"}}})}, {"n", 2}}).find("n to 1") !=
          std::string::npos);
    CHECK(bad({{"messages", json::array({{{"role", "function"}, {"content", "x"}}})}}).find("function") !=
          std::string::npos);
    CHECK(
        bad({{"messages",
              json::array({{{"role", "user"},
                            {"content", json::array({{{"type", "input_audio"}, {"input_audio", json::object()}}})}}})}})
            .find("input_audio") != std::string::npos);
}

TEST_CASE("a cohere text answer joins its text parts, maps COMPLETE to stop and bills billed_units")
{
    auto r = p::cohere_adapter().chat_response(fixture("response_text.json"), target());
    REQUIRE(r.has_value());
    const json& b = r->body;
    CHECK(b["object"] == "chat.completion");
    CHECK(b["id"] == "c14c80c3-18eb-4519-9460-6c92edd8cfb4");
    CHECK(b["model"] == "command-a-03-2025");
    CHECK(b["choices"][0]["message"]["role"] == "assistant");
    CHECK(b["choices"][0]["message"]["content"] ==
          "LLMs are neural networks trained on large amounts of text. They predict the next token.");
    CHECK(b["choices"][0]["finish_reason"] == "stop");
    // billed_units (what Cohere charges), not tokens (which include Cohere's own unbilled ones).
    CHECK(r->usage.reported);
    CHECK(r->usage.input_tokens == 17);
    CHECK(r->usage.output_tokens == 21);
    CHECK(b["usage"]["prompt_tokens"] == 17);
    CHECK(b["usage"]["completion_tokens"] == 21);
}

TEST_CASE("a cohere tool call answer has OpenAI tool_calls, the tool plan as content, finish tool_calls")
{
    auto r = p::cohere_adapter().chat_response(fixture("response_tool_call.json"), target());
    REQUIRE(r.has_value());
    const json& msg = r->body["choices"][0]["message"];
    CHECK(msg["content"] == "I will search for the weather in Toronto.");
    REQUIRE(msg["tool_calls"].size() == 1);
    CHECK(msg["tool_calls"][0]["id"] == "get_weather_1byjy32y4hvq");
    CHECK(msg["tool_calls"][0]["type"] == "function");
    CHECK(msg["tool_calls"][0]["function"]["name"] == "get_weather");
    CHECK(msg["tool_calls"][0]["function"]["arguments"] == "{\"location\":\"Toronto\"}");
    CHECK(r->body["choices"][0]["finish_reason"] == "tool_calls");
    CHECK(r->usage.input_tokens == 37);
    CHECK(r->usage.output_tokens == 28);
}

TEST_CASE("cohere MAX_TOKENS is length; usage falls back to tokens without billed_units")
{
    auto r = p::cohere_adapter().chat_response(fixture("response_max_tokens.json"), target());
    REQUIRE(r.has_value());
    CHECK(r->body["choices"][0]["finish_reason"] == "length");
    CHECK(r->usage.input_tokens == 12);
    CHECK(r->usage.output_tokens == 3);
}

TEST_CASE("cohere finish_reason ERROR is a retryable upstream failure; a malformed body too")
{
    auto r = p::cohere_adapter().chat_response(fixture("response_error_finish.json"), target());
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().kind == wire::FailureKind::upstream);
    CHECK(wire::is_retryable(r.error().kind));
    CHECK(r.error().message.find("ERROR") != std::string::npos);

    CHECK(p::cohere_adapter().chat_response("not json", target()).error().kind == wire::FailureKind::upstream);
    CHECK(p::cohere_adapter().chat_response("{\"id\":\"x\"}", target()).error().kind == wire::FailureKind::upstream);
}

TEST_CASE("a cohere text stream becomes OpenAI chunks, then finish and usage after message-end")
{
    for (std::size_t step : {1, 5, 4096}) {
        CAPTURE(step);
        auto run = run_stream("stream_text.sse", step);
        REQUIRE_FALSE(run.failure.has_value());
        CHECK(run.finished);
        REQUIRE(run.chunks.size() == 6);  // role, 3 deltas, finish, usage
        CHECK(run.chunks[0]["choices"][0]["delta"]["role"] == "assistant");
        CHECK(run.chunks[0]["id"] == "29f14a5a-11de-4cae-9800-25e4747408ea");
        std::string text;
        for (const auto& c : run.chunks) {
            CHECK(c["object"] == "chat.completion.chunk");
            CHECK(c["model"] == "command-a-03-2025");
            if (!c["choices"].empty() && c["choices"][0]["delta"].contains("content")) {
                text += c["choices"][0]["delta"]["content"].get<std::string>();
            }
        }
        CHECK(text == "A large language model predicts text.");
        CHECK(run.chunks[4]["choices"][0]["finish_reason"] == "stop");
        CHECK(run.chunks[5]["choices"].empty());
        CHECK(run.chunks[5]["usage"]["prompt_tokens"] == 9);
        CHECK(run.chunks[5]["usage"]["completion_tokens"] == 6);
        CHECK(run.usage.input_tokens == 9);
        CHECK(run.usage.output_tokens == 6);
    }
}

TEST_CASE("a cohere tool call stream gives indexed tool call deltas whose arguments join up")
{
    auto run = run_stream("stream_tool_call.sse");
    REQUIRE_FALSE(run.failure.has_value());
    CHECK(run.finished);
    std::string plan;
    std::map<int, json> calls;
    std::string finish;
    for (const auto& c : run.chunks) {
        if (c["choices"].empty()) {
            continue;
        }
        const json& choice = c["choices"][0];
        const json& delta = choice["delta"];
        if (delta.contains("content")) {
            plan += delta["content"].get<std::string>();
        }
        if (delta.contains("tool_calls")) {
            for (const auto& tc : delta["tool_calls"]) {
                json& call = calls[tc["index"].get<int>()];
                if (tc.contains("id")) {
                    call["id"] = tc["id"];
                    call["name"] = tc["function"]["name"];
                    CHECK(tc["type"] == "function");
                }
                call["arguments"] =
                    call.value("arguments", std::string()) + tc["function"]["arguments"].get<std::string>();
            }
        }
        if (!choice["finish_reason"].is_null()) {
            finish = choice["finish_reason"].get<std::string>();
        }
    }
    CHECK(plan == "I will look up the weather in Toronto and Paris.");
    REQUIRE(calls.size() == 2);
    CHECK(calls[0]["id"] == "get_weather_nsz5zm3w56q3");
    CHECK(calls[0]["name"] == "get_weather");
    CHECK(json::parse(calls[0]["arguments"].get<std::string>()) == json{{"location", "Toronto"}});
    CHECK(calls[1]["id"] == "get_weather_0bqpg6g9b9yx");
    CHECK(json::parse(calls[1]["arguments"].get<std::string>()) == json{{"location", "Paris"}});
    CHECK(finish == "tool_calls");
    REQUIRE_FALSE(run.chunks.empty());
    CHECK(run.chunks.back()["choices"].empty());
    CHECK(run.chunks.back()["usage"]["prompt_tokens"] == 37);
    CHECK(run.usage.output_tokens == 28);
}

TEST_CASE("a cohere stream without message-end is not finished and has no usage")
{
    auto run = run_stream("stream_truncated.sse");
    REQUIRE_FALSE(run.failure.has_value());
    CHECK_FALSE(run.finished);
    CHECK_FALSE(run.usage.reported);
    for (const auto& c : run.chunks) {
        CHECK_FALSE(c.contains("usage"));
        CHECK(c["choices"][0]["finish_reason"].is_null());
    }
}

TEST_CASE("a cohere stream ending in finish_reason ERROR is a failure")
{
    auto translator = p::cohere_adapter().chat_stream(target());
    std::vector<json> chunks;
    wire::SseEvent ev{"message-end", R"({"type":"message-end","delta":{"finish_reason":"ERROR"}})", ""};
    auto r = translator->on_event(ev, chunks);
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().kind == wire::FailureKind::upstream);
    CHECK(chunks.empty());

    wire::SseEvent junk{"content-delta", "{not json", ""};
    CHECK_FALSE(p::cohere_adapter().chat_stream(target())->on_event(junk, chunks).has_value());
}

TEST_CASE("cohere embeddings post texts to /embed and come back as an OpenAI list")
{
    auto t = target("embed-v4.0");
    auto req = p::cohere_adapter().embeddings_request(
        {{"model", "cohere/embed-v4.0"}, {"input", json::array({"hello", "goodbye"})}}, t);
    REQUIRE(req.has_value());
    CHECK(req->path == "/embed");
    CHECK(p::header_value(req->headers, "Authorization") == "Bearer co-test-key");
    json body = json::parse(req->body);
    CHECK(body["model"] == "embed-v4.0");
    CHECK(body["texts"] == json::array({"hello", "goodbye"}));
    CHECK(body["input_type"] == "search_document");
    CHECK(body["embedding_types"] == json::array({"float"}));

    auto one = p::cohere_adapter().embeddings_request(
        {{"input", "query text"}, {"input_type", "search_query"}, {"dimensions", 256}}, t);
    REQUIRE(one.has_value());
    json b1 = json::parse(one->body);
    CHECK(b1["texts"] == json::array({"query text"}));
    CHECK(b1["input_type"] == "search_query");
    CHECK(b1["output_dimension"] == 256);

    auto tokens = p::cohere_adapter().embeddings_request({{"input", json::array({json::array({1, 2, 3})})}}, t);
    REQUIRE_FALSE(tokens.has_value());
    CHECK(tokens.error().status == 400);

    auto r = p::cohere_adapter().embeddings_response(fixture("embed_response.json"), t);
    REQUIRE(r.has_value());
    CHECK(r->body["object"] == "list");
    CHECK(r->body["model"] == "embed-v4.0");
    REQUIRE(r->body["data"].size() == 2);
    CHECK(r->body["data"][1]["object"] == "embedding");
    CHECK(r->body["data"][1]["index"] == 1);
    CHECK(r->body["data"][1]["embedding"][0] == doctest::Approx(0.02722168));
    CHECK(r->body["usage"]["prompt_tokens"] == 2);
    CHECK(r->usage.input_tokens == 2);
    CHECK_FALSE(p::cohere_adapter().embeddings_response("{}", t).has_value());
}

TEST_CASE("cohere errors: 401 and 498 are auth, 429 is rate limited, 400 is the caller's")
{
    auto auth = p::cohere_adapter().classify_error(401, fixture("error_invalid_token.json"), {});
    CHECK(auth.kind == wire::FailureKind::auth);
    CHECK(auth.message.find("invalid api token") != std::string::npos);
    CHECK(auth.message.find("COHERE_API_KEY") != std::string::npos);

    auto token = p::cohere_adapter().classify_error(498, fixture("error_invalid_token.json"), {});
    CHECK(token.kind == wire::FailureKind::auth);
    CHECK(token.status == 401);

    auto rl = p::cohere_adapter().classify_error(429, fixture("error_rate_limit.json"), {{"Retry-After", "3"}});
    CHECK(rl.kind == wire::FailureKind::rate_limited);
    CHECK(rl.message.find("per minute request limit") != std::string::npos);
    REQUIRE(rl.retry_after_s.has_value());
    CHECK(*rl.retry_after_s == doctest::Approx(3.0));

    auto bad = p::cohere_adapter().classify_error(400, fixture("error_bad_request.json"), {});
    CHECK(bad.kind == wire::FailureKind::bad_request);
    CHECK(bad.message == "invalid request: message must not be empty in a turn");

    CHECK(p::cohere_adapter().classify_error(503, "{}", {}).kind == wire::FailureKind::upstream);
}

TEST_CASE("the cohere wire format has its adapter")
{
    CHECK(p::adapter_for(aigw::config::WireFormat::cohere) == &p::cohere_adapter());
}

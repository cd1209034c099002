// What a hostile or broken upstream can send: impossible usage, chunks of the wrong shape,
// deep nesting, absurd Retry-After. Each is a clean Failure or skipped, never an exception.

#include "daemon/providers/adapter.hpp"
#include "daemon/providers/anthropic/anthropic_surface.hpp"
#include "daemon/providers/mock/mock.hpp"
#include "shared/wire/utf8.hpp"

#include "tests/unit/providers/support.hpp"

#include <doctest/doctest.h>

using nlohmann::json;
namespace p = aigw::daemon::providers;

namespace {

p::Target target()
{
    p::Target t;
    t.model = "m";
    t.api_key = "k";
    t.base_url = "http://127.0.0.1:1";
    t.aws = {"AKIDEXAMPLE", "secret", "", "us-east-1"};
    return t;
}

}  // namespace

TEST_CASE("impossible usage from any provider is a 502, not a stored count")
{
    struct Body {
        const p::Adapter* adapter;
        const char* body;
    };
    const Body bodies[] = {
        {&p::openai_adapter(),
         R"({"choices":[{"message":{"role":"assistant","content":"x"}}],"usage":{"prompt_tokens":1e300}})"},
        {&p::openai_adapter(),
         R"({"choices":[{"message":{"role":"assistant","content":"x"}}],"usage":{"prompt_tokens":-5}})"},
        {&p::anthropic_adapter(),
         R"({"id":"m","type":"message","content":[{"type":"text","text":"x"}],"usage":{"input_tokens":"x","output_tokens":1}})"},
        {&p::gemini_adapter(),
         R"({"candidates":[{"content":{"parts":[{"text":"x"}]},"finishReason":"STOP"}],"usageMetadata":{"promptTokenCount":-5}})"},
        {&p::bedrock_adapter(),
         R"({"output":{"message":{"role":"assistant","content":[{"text":"x"}]}},"stopReason":"end_turn","usage":{"inputTokens":1e300,"outputTokens":1}})"},
        {&p::cohere_adapter(),
         R"({"id":"c","finish_reason":"COMPLETE","message":{"role":"assistant","content":[{"type":"text","text":"x"}]},"usage":{"billed_units":{"input_tokens":-1,"output_tokens":2}}})"},
    };
    for (const auto& b : bodies) {
        CAPTURE(b.body);
        auto r = b.adapter->chat_response(b.body, target());
        REQUIRE_FALSE(r.has_value());
        CHECK(r.error().status == 502);
        CHECK(r.error().message.find("impossible token count") != std::string::npos);
    }
}

TEST_CASE("a streamed impossible usage ends the OpenAI-compatible stream with a 502")
{
    auto tr = p::openai_adapter().chat_stream(target());
    auto run = aigw::test::run_sse(*tr,
                                   "data: {\"choices\":[{\"delta\":{\"content\":\"ok\"}}]}\n\n"
                                   "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":1e300}}\n\n",
                                   7);
    REQUIRE(run.failure.has_value());
    CHECK(run.failure->status == 502);
}

TEST_CASE("hostile chunks {choices:[5]} and tool_calls:[5] do not throw in the Anthropic stream writer")
{
    p::AnthropicStreamWriter w("m");
    std::vector<std::string> events;
    auto take = [&](const json& chunk) {
        for (auto& e : w.on_chunk(chunk)) {
            events.push_back(std::move(e));
        }
    };
    CHECK_NOTHROW(take(json::parse(R"({"id":"c","choices":[{"delta":{"content":"hi"}}]})")));
    CHECK_NOTHROW(take(json::parse(R"({"choices":[5]})")));
    CHECK_NOTHROW(take(json::parse(R"({"choices":[{"delta":{"tool_calls":[5]}}]})")));
    CHECK_NOTHROW(take(json::parse(R"({"choices":[{"delta":5,"finish_reason":7}]})")));
    CHECK_NOTHROW(take(json::parse(R"({"choices":[{"delta":{"tool_calls":[{"index":1e300,"function":5}]}}]})")));
    CHECK_NOTHROW(take(json::parse(R"({"choices":[],"usage":{"prompt_tokens":"x"}})")));
    for (auto& e : w.finish()) {
        events.push_back(std::move(e));
    }
    CHECK(events.back().find("message_stop") != std::string::npos);
    CHECK_NOTHROW((void)p::canonical_response_to_anthropic(json::parse(R"({"choices":[5]})"), "m"));
    CHECK_NOTHROW((void)p::canonical_response_to_anthropic(json(5), "m"));
    CHECK_NOTHROW((void)p::canonical_response_to_anthropic(
        json::parse(R"({"choices":[{"message":{"tool_calls":[5,{"function":5}]}}]})"), "m"));
}

TEST_CASE("every provider's stream translator skips or refuses wrong-shaped events without throwing")
{
    const char* datas[] = {R"({"choices":[5]})",
                           R"({"choices":[{"delta":{"tool_calls":[5]}}]})",
                           "5",
                           "[]",
                           R"({"candidates":[5]})",
                           R"({"type":"content_block_delta","index":"x","delta":5})",
                           R"({"type":"message_start","message":5})",
                           R"({"delta":{"usage":5}})"};
    for (const p::Adapter* a : {&p::openai_adapter(), &p::anthropic_adapter(), &p::gemini_adapter(),
                                &p::bedrock_adapter(), &p::cohere_adapter(), &p::azure_adapter()}) {
        for (const char* d : datas) {
            CAPTURE(d);
            auto tr = a->chat_stream(target());
            std::vector<json> out;
            for (const char* event : {"", "message_start", "content-delta", "contentBlockDelta", "metadata"}) {
                CHECK_NOTHROW((void)tr->on_event(aigw::wire::SseEvent{event, d, ""}, out));
            }
        }
    }
}

TEST_CASE("an upstream body nested too deep is a malformed answer, not a stack overflow")
{
    std::string deep = "{\"choices\":" + std::string(50000, '[') + std::string(50000, ']') + "}";
    for (const p::Adapter* a : {&p::openai_adapter(), &p::anthropic_adapter(), &p::gemini_adapter(),
                                &p::bedrock_adapter(), &p::cohere_adapter()}) {
        auto r = a->chat_response(deep, target());
        REQUIRE_FALSE(r.has_value());
        CHECK(r.error().status >= 500);
    }
}

TEST_CASE("Retry-After that is negative, NaN, inf or decades away is clamped to a day at most")
{
    CHECK(p::retry_after_seconds({{"retry-after", "-5"}}) == std::nullopt);  // not a valid delay
    CHECK(p::retry_after_seconds({{"retry-after", "inf"}}) == aigw::wire::k_max_retry_after_s);
    CHECK(p::retry_after_seconds({{"retry-after", "2270000000"}}) == aigw::wire::k_max_retry_after_s);
    CHECK(p::retry_after_seconds({{"retry-after-ms", "1e300"}}) == aigw::wire::k_max_retry_after_s);
    CHECK(p::retry_after_seconds({{"retry-after", "7"}}) == 7.0);
    auto wait = p::rate_limit_wait_seconds({{"retry-after", "Fri, 01 Jan 2100 00:00:00 GMT"}});
    REQUIRE(wait.has_value());
    CHECK(*wait == aigw::wire::k_max_retry_after_s);
}

TEST_CASE("the mock never cuts a UTF-8 character, in tool arguments or at max_tokens")
{
    json tools = {
        {{"type", "function"}, {"function", {{"name", "get_weather"}, {"parameters", {{"type", "object"}}}}}}};
    json req = {{"model", "mock/echo"},
                {"messages", {{{"role", "user"}, {"content", "abcdeé get_weather"}}}},
                {"tools", tools}};
    std::string args;
    p::AnthropicStreamWriter w("mock/echo");
    for (const auto& chunk : p::mock::stream_chunks(req, "echo", "r", 0)) {
        CHECK_NOTHROW((void)chunk.dump());
        for (const auto& tc : chunk["choices"].empty()
                                  ? json::array()
                                  : chunk["choices"][0]["delta"].value("tool_calls", json::array())) {
            std::string piece = tc["function"].value("arguments", "");
            CHECK(aigw::wire::is_valid_utf8(piece));
            args += piece;
        }
        CHECK_NOTHROW((void)w.on_chunk(chunk));
    }
    CHECK(json::parse(args)["query"] == "abcdeé get_weather");

    for (int cap = 1; cap <= 12; ++cap) {
        CAPTURE(cap);
        json capped = {{"model", "mock/echo"},
                       {"messages", {{{"role", "user"}, {"content", "ééééééééééééééééééééé"}}}},
                       {"max_tokens", cap}};
        auto r = p::mock::complete(capped, "echo", "r", 0);
        CHECK_NOTHROW((void)r.body.dump());
        for (const auto& chunk : p::mock::stream_chunks(capped, "echo", "r", 0)) {
            CHECK_NOTHROW((void)chunk.dump());
        }
    }
}

TEST_CASE("an SSE line longer than 16 MiB fails the stream instead of growing a buffer without end")
{
    auto decoder = aigw::daemon::providers::make_sse_decoder();
    std::vector<aigw::wire::SseEvent> events;
    const std::string piece(1 << 20, 'x');
    bool failed = false;
    for (int i = 0; i < 20 && !failed; ++i) {
        auto r = decoder->feed(i == 0 ? "data: " + piece : piece, events);
        failed = !r.has_value();
        if (failed) {
            CHECK(r.error().status == 502);
        }
    }
    CHECK(failed);
    CHECK(events.empty());
}

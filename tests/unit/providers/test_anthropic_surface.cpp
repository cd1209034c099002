// The inbound Anthropic surface's translators: Anthropic request -> canonical, canonical
// answer and chunks -> Anthropic message and SSE events.

#include "daemon/providers/anthropic/anthropic_surface.hpp"
#include "shared/wire/sse.hpp"

#include "tests/unit/providers/support.hpp"

#include <doctest/doctest.h>

#include <fstream>
#include <sstream>

using nlohmann::json;
namespace p = aigw::daemon::providers;
namespace wire = aigw::wire;

namespace {

json fixture_json(const std::string& name)
{
    return json::parse(aigw::test::read_fixture("anthropic", name));
}

/// Parses the writer's output back into (event name, data) pairs.
std::vector<std::pair<std::string, json>> parse_events(const std::vector<std::string>& frames)
{
    wire::SseReader reader;
    std::vector<wire::SseEvent> events;
    for (const auto& f : frames) {
        reader.feed(f, events);
    }
    std::vector<std::pair<std::string, json>> out;
    for (const auto& e : events) {
        json data = json::parse(e.data);
        CHECK(data["type"] == e.event);  // Anthropic repeats the event name in data.type
        out.emplace_back(e.event, std::move(data));
    }
    return out;
}

json chunk(json delta, json finish = nullptr)
{
    return {
        {"id", "chatcmpl-1"},
        {"object", "chat.completion.chunk"},
        {"choices", json::array({{{"index", 0}, {"delta", std::move(delta)}, {"finish_reason", std::move(finish)}}})}};
}

}  // namespace

TEST_CASE("an Anthropic Messages request becomes a canonical chat request")
{
    auto canonical = p::anthropic_request_to_canonical(fixture_json("request_messages.json"));
    REQUIRE(canonical.has_value());
    const json& c = *canonical;
    CHECK(c["model"] == "claude-opus-4-6");
    CHECK(c["max_tokens"] == 1024);
    CHECK(c["temperature"] == 0.5);
    CHECK(c["stop"] == json::array({"\n\nHuman:"}));
    CHECK(c["stream"] == true);
    CHECK(c["stream_options"]["include_usage"] == true);
    CHECK(c["user"] == "13803d75-b4b5-4c3e-b2a2-6f21399b021b");
    CHECK(c["tool_choice"] == "required");
    CHECK(c["parallel_tool_calls"] == false);
    CHECK(c["tools"][0]["function"]["name"] == "get_weather");
    CHECK(c["tools"][0]["function"]["parameters"]["required"] == json::array({"location"}));

    const json& m = c["messages"];
    REQUIRE(m.size() == 5);  // system, user, assistant, tool, user
    CHECK(m[0] == json{{"role", "system"}, {"content", "You are a weather assistant."}});
    CHECK(m[1]["content"][0]["image_url"]["url"] == "data:image/jpeg;base64,/9j/4AAQSkZJRg==");
    CHECK(m[2]["content"] == "I'll check the current weather in San Francisco for you.");
    CHECK(m[2]["tool_calls"][0]["id"] == "toolu_01A09q90qw90lq917835lq9");
    CHECK(json::parse(m[2]["tool_calls"][0]["function"]["arguments"].get<std::string>())["unit"] == "celsius");
    CHECK(m[3] == json{{"role", "tool"}, {"tool_call_id", "toolu_01A09q90qw90lq917835lq9"}, {"content", "15 degrees"}});
    CHECK(m[4] == json{{"role", "user"}, {"content", "Thanks! Should I bring a jacket?"}});
}

TEST_CASE("an Anthropic request without messages is a 400")
{
    auto canonical = p::anthropic_request_to_canonical(json{{"model", "x"}});
    REQUIRE_FALSE(canonical.has_value());
    CHECK(canonical.error().status == 400);
}

TEST_CASE("a canonical answer becomes an Anthropic message with cache-exclusive input tokens")
{
    json cc = json::parse(R"({"id":"chatcmpl-abc","object":"chat.completion","model":"gpt-4o",
      "choices":[{"index":0,"finish_reason":"tool_calls","message":{"role":"assistant","content":"Let me look.",
        "tool_calls":[{"id":"call_1","type":"function","function":{"name":"get_weather","arguments":"{\"location\":\"Paris\"}"}}]}}],
      "usage":{"prompt_tokens":1200,"completion_tokens":30,"prompt_tokens_details":{"cached_tokens":1000}}})");
    json msg = p::canonical_response_to_anthropic(cc, "openai/gpt-4o");
    CHECK(msg["type"] == "message");
    CHECK(msg["id"] == "msg_chatcmpl-abc");
    CHECK(msg["model"] == "openai/gpt-4o");
    CHECK(msg["stop_reason"] == "tool_use");
    REQUIRE(msg["content"].size() == 2);
    CHECK(msg["content"][0] == json{{"type", "text"}, {"text", "Let me look."}});
    CHECK(msg["content"][1]["input"] == json{{"location", "Paris"}});
    CHECK(msg["usage"]["input_tokens"] == 200);
    CHECK(msg["usage"]["cache_read_input_tokens"] == 1000);
    CHECK(msg["usage"]["output_tokens"] == 30);
}

TEST_CASE("canonical chunks become Anthropic's exact event sequence")
{
    p::AnthropicStreamWriter writer("openai/gpt-4o");
    std::vector<std::string> frames;
    auto feed = [&](const json& c) {
        for (auto& f : writer.on_chunk(c)) {
            frames.push_back(std::move(f));
        }
    };
    feed(chunk({{"role", "assistant"}, {"content", ""}}));
    feed(chunk({{"reasoning_content", "Think."}}));
    feed(chunk({{"content", "Hel"}}));
    feed(chunk({{"content", "lo"}}));
    feed(chunk({{"tool_calls", json::parse(R"([{"index":0,"id":"call_1","type":"function",
                                                "function":{"name":"f","arguments":""}}])")}}));
    feed(chunk({{"tool_calls", json::parse(R"([{"index":0,"function":{"arguments":"{\"a\":"}}])")}}));
    feed(chunk({{"tool_calls", json::parse(R"([{"index":0,"function":{"arguments":"1}"}}])")}}));
    feed(chunk(json::object(), "tool_calls"));
    feed(json::parse(R"({"id":"chatcmpl-1","object":"chat.completion.chunk","choices":[],
                         "usage":{"prompt_tokens":10,"completion_tokens":7}})"));
    for (auto& f : writer.finish()) {
        frames.push_back(std::move(f));
    }
    for (const auto& f : frames) {
        CHECK(f.ends_with("\n\n"));
        CHECK(f.starts_with("event: "));
    }

    auto events = parse_events(frames);
    std::vector<std::string> names;
    for (const auto& [name, data] : events) {
        names.push_back(name);
    }
    CHECK(names ==
          std::vector<std::string>{
              "message_start", "content_block_start", "content_block_delta", "content_block_stop",        // thinking
              "content_block_start", "content_block_delta", "content_block_delta", "content_block_stop",  // text
              "content_block_start", "content_block_delta", "content_block_delta", "content_block_stop",  // tool
              "message_delta", "message_stop"});
    CHECK(events[0].second["message"]["id"] == "msg_chatcmpl-1");
    CHECK(events[0].second["message"]["model"] == "openai/gpt-4o");
    CHECK(events[1].second["content_block"]["type"] == "thinking");
    CHECK(events[2].second["delta"] == json{{"type", "thinking_delta"}, {"thinking", "Think."}});
    CHECK(events[4].second["index"] == 1);
    CHECK(events[5].second["delta"] == json{{"type", "text_delta"}, {"text", "Hel"}});
    CHECK(events[8].second["content_block"] ==
          json{{"type", "tool_use"}, {"id", "call_1"}, {"name", "f"}, {"input", json::object()}});
    CHECK(events[9].second["delta"] == json{{"type", "input_json_delta"}, {"partial_json", "{\"a\":"}});
    CHECK(events[11].second["index"] == 2);
    CHECK(events[12].second["delta"]["stop_reason"] == "tool_use");
    CHECK(events[12].second["usage"]["output_tokens"] == 7);
    CHECK(events[12].second["usage"]["input_tokens"] == 10);
    CHECK(writer.finish().empty());  // idempotent
}

TEST_CASE("an empty canonical stream still yields a well-formed Anthropic message")
{
    p::AnthropicStreamWriter writer("m");
    auto events = parse_events(writer.finish());
    REQUIRE(events.size() == 3);
    CHECK(events[0].first == "message_start");
    CHECK(events[1].second["delta"]["stop_reason"] == "end_turn");
    CHECK(events[2].first == "message_stop");
}

TEST_CASE("a failure mid-stream becomes an Anthropic error event")
{
    wire::Failure f;
    f.kind = wire::FailureKind::upstream;
    f.status = 529;
    f.message = "Overloaded";
    auto events = parse_events({p::AnthropicStreamWriter::error_event(f)});
    REQUIRE(events.size() == 1);
    CHECK(events[0].second["error"]["type"] == "overloaded_error");
    CHECK(events[0].second["error"]["message"] == "Overloaded");
}

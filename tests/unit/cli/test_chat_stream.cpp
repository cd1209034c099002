// Decoding the daemon's streamed chat answers, fed canned bytes in arbitrary pieces.

#include "shared/client/chat_stream.hpp"
#include "shared/client/daemon_client.hpp"
#include "shared/client/discovery.hpp"

#include <doctest/doctest.h>

using aigw::client::ChatStreamDecoder;
using aigw::client::ClientErrorKind;

namespace {

std::string chunk(const std::string& content)
{
    nlohmann::json c = {{"id", "c1"},
                        {"object", "chat.completion.chunk"},
                        {"model", "openai/gpt-4o-mini"},
                        {"choices", {{{"index", 0}, {"delta", {{"content", content}}}, {"finish_reason", nullptr}}}}};
    return "data: " + c.dump() + "\n\n";
}

// Feeds `bytes` in pieces of `step` bytes until the decoder says stop.
void feed_in_pieces(ChatStreamDecoder& d, const std::string& bytes, std::size_t step)
{
    for (std::size_t i = 0; i < bytes.size(); i += step) {
        if (!d.feed(std::string_view(bytes).substr(i, step))) {
            break;
        }
    }
}

}  // namespace

TEST_CASE("a complete stream yields every delta in order and ends at [DONE]")
{
    const std::string bytes = chunk("Hel") + chunk("lo") +
                              "data: {\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}],"
                              "\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":2}}\n\n"
                              "data: [DONE]\n\n";
    for (std::size_t step : {1U, 3U, 7U, 1000U}) {
        int chunks = 0;
        ChatStreamDecoder d([&](const nlohmann::json&) {
            ++chunks;
            return true;
        });
        feed_in_pieces(d, bytes, step);
        CHECK(d.finish().has_value());
        CHECK(d.done());
        CHECK(chunks == 3);
        CHECK(d.content() == "Hello");
        CHECK(d.finish_reason() == "stop");
        CHECK(d.usage()["completion_tokens"] == 2);
        CHECK(d.model() == "openai/gpt-4o-mini");
    }
}

TEST_CASE("CRLF line endings and comments are handled")
{
    ChatStreamDecoder d(nullptr);
    std::string bytes = ": keep-alive\r\n\r\n" + chunk("x") + "data: [DONE]\r\n\r\n";
    d.feed(bytes);
    CHECK(d.finish().has_value());
    CHECK(d.content() == "x");
}

TEST_CASE("an error event mid-stream is an error carrying the daemon's message")
{
    ChatStreamDecoder d(nullptr);
    const std::string bytes = chunk("partial") +
                              "data: {\"error\":{\"message\":\"Rate limit reached\",\"type\":\"rate_limit_error\","
                              "\"param\":null,\"code\":\"rate_limited\"}}\n\n";
    feed_in_pieces(d, bytes, 5);
    auto r = d.finish();
    REQUIRE(!r.has_value());
    CHECK(r.error().kind == ClientErrorKind::stream);
    CHECK(r.error().message == "Rate limit reached");
    CHECK(r.error().code == "rate_limited");
    CHECK(d.content() == "partial");
    const std::string text = aigw::client::describe(r.error());
    CHECK(text.find("Rate limit reached") != std::string::npos);
    CHECK(text.find("openai/gpt-4o-mini") != std::string::npos);
}

TEST_CASE("a stream that ends without [DONE] is reported as incomplete")
{
    ChatStreamDecoder d(nullptr);
    d.feed(chunk("cut") + "data: {\"choices\":[{\"delta\":{\"content\":\" off");
    auto r = d.finish();
    REQUIRE(!r.has_value());
    CHECK(r.error().kind == ClientErrorKind::stream);
    CHECK(r.error().message.find("[DONE]") != std::string::npos);
    CHECK(d.content() == "cut");
}

TEST_CASE("the callback returning false stops the stream without an error")
{
    int seen = 0;
    ChatStreamDecoder d([&](const nlohmann::json&) { return ++seen < 2; });
    const bool more = d.feed(chunk("a") + chunk("b") + chunk("c") + "data: [DONE]\n\n");
    CHECK_FALSE(more);
    CHECK(d.stopped());
    CHECK(seen == 2);
    CHECK(d.finish().has_value());
    CHECK(d.content() == "ab");
}

TEST_CASE("a non-JSON event is a protocol error")
{
    ChatStreamDecoder d(nullptr);
    d.feed("data: not json\n\n");
    auto r = d.finish();
    REQUIRE(!r.has_value());
    CHECK(r.error().kind == ClientErrorKind::protocol);
}

TEST_CASE("an OpenAI error body becomes a ClientError with message, code and a hint")
{
    auto e = aigw::client::error_from_response(
        404,
        R"({"error":{"message":"model 'x/y' not found","type":"invalid_request_error","param":"model","code":"model_not_found"}})");
    CHECK(e.status == 404);
    CHECK(e.message == "model 'x/y' not found");
    CHECK(e.code == "model_not_found");
    CHECK(e.hint.find("aigw models") != std::string::npos);

    auto bare = aigw::client::error_from_response(502, "Bad Gateway");
    CHECK(bare.message == "Bad Gateway");
    e.model = "openai/gpt-4o";
    CHECK(aigw::client::describe(e).rfind("error 404 for openai/gpt-4o: ", 0) == 0);
    e.provider = "openai";
    e.status = 429;
    e.request_id = "req-1";
    e.message = "Rate limit";
    e.hint.clear();
    CHECK(aigw::client::describe(e) == "upstream error 429 from openai/gpt-4o: Rate limit (x-request-id req-1)");
}

TEST_CASE("AIGW_HOST forms are parsed into an endpoint URL")
{
    using aigw::client::parse_endpoint;
    CHECK(parse_endpoint("http://127.0.0.1:4141")->url == "http://127.0.0.1:4141");
    CHECK(parse_endpoint("http://127.0.0.1:4141/")->url == "http://127.0.0.1:4141");
    CHECK(parse_endpoint("127.0.0.1:9000")->url == "http://127.0.0.1:9000");
    CHECK(parse_endpoint("localhost")->url == "http://localhost:4141");
    CHECK(parse_endpoint("[::1]:5000")->url == "http://[::1]:5000");
    CHECK(parse_endpoint("https://gw.example:443")->url == "https://gw.example:443");
    CHECK_FALSE(parse_endpoint("").has_value());
    CHECK_FALSE(parse_endpoint("ftp://x:1").has_value());
    CHECK_FALSE(parse_endpoint("host:port").has_value());
    CHECK_FALSE(parse_endpoint("http://h:1/v1").has_value());
}

TEST_CASE("the state file is parsed, and a broken one is ignored")
{
    auto s =
        aigw::client::parse_state(R"({"pid":123,"host":"127.0.0.1","port":4141,"version":"0.1.0","started_ms":1})");
    REQUIRE(s.has_value());
    CHECK(s->pid == 123);
    CHECK(s->endpoint().url == "http://127.0.0.1:4141");
    CHECK_FALSE(aigw::client::parse_state("{}").has_value());
    CHECK_FALSE(aigw::client::parse_state("garbage").has_value());
    CHECK_FALSE(aigw::client::parse_state(R"({"pid":"x","port":1})").has_value());
}

TEST_CASE("admin API answers parse into typed rows")
{
    auto models = aigw::client::parse_models(nlohmann::json::parse(R"({"models":[
        {"id":"openai/gpt-4o-mini","provider":"openai","mode":"chat","context_window":128000,
         "max_output_tokens":16384,"tools":true,"vision":true,"json":true,"reasoning":false,
         "price":{"input":0.15,"cached_input":0.075,"output":0.6},"key_present":true},
        {"id":"ollama/llama3.2","provider":"ollama","mode":"chat","price":null,"key_present":true}]})"));
    REQUIRE(models.has_value());
    REQUIRE(models->size() == 2);
    CHECK((*models)[0].price->cached_input == doctest::Approx(0.075));
    CHECK_FALSE((*models)[1].price.has_value());

    auto cost = aigw::client::parse_cost(nlohmann::json::parse(R"({"groups":[{"key":"openai/gpt-4o-mini",
        "requests":3,"errors":1,"input_tokens":10,"cached_tokens":0,"output_tokens":5,"cost_usd":0.0012,
        "cache_hits":0,"avg_latency_ms":123.4}],"total":{"key":"total","requests":3,"cost_usd":0.0012}})"));
    REQUIRE(cost.has_value());
    CHECK(cost->groups[0].errors == 1);
    CHECK(cost->total.requests == 3);

    CHECK_FALSE(aigw::client::parse_cost(nlohmann::json::parse(R"({"groups":5})")).has_value());
    auto bad_type = aigw::client::parse_models(nlohmann::json::parse(R"({"models":[{"id":5}]})"));
    REQUIRE_FALSE(bad_type.has_value());
    CHECK(bad_type.error().kind == ClientErrorKind::protocol);
}

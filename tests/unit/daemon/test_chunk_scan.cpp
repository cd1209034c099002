#include "daemon/pipeline/chunk_scan.hpp"
#include "daemon/pipeline/stream_writer.hpp"

#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include <cstdio>
#include <string>

using aigw::daemon::pipeline::content_chars;
using aigw::daemon::pipeline::has_content;
using aigw::daemon::pipeline::scan_chunk;

TEST_CASE("a plain content chunk is read without building it, with the same facts as the parsed one")
{
    const std::string text =
        R"({"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"gpt-4o-mini","system_fingerprint":null,)"
        R"("choices":[{"index":0,"delta":{"content":"h\u00e9llo \"w\""},"logprobs":null,"finish_reason":null}],"usage":null})";
    auto facts = scan_chunk(text);
    REQUIRE(facts);
    const auto parsed = nlohmann::json::parse(text);
    CHECK(facts->content_chars == content_chars(parsed));
    CHECK(facts->content_chars == 10);  // the decoded text, escapes resolved
    CHECK(facts->has_content == has_content(parsed));
    CHECK(facts->has_content);
    CHECK(facts->finish_reasons.empty());
}

TEST_CASE("role-only, empty and finishing chunks have no content; the finish reason is read")
{
    auto role = scan_chunk(R"({"choices":[{"index":0,"delta":{"role":"assistant","content":""}}]})");
    REQUIRE(role);
    CHECK_FALSE(role->has_content);
    CHECK(role->content_chars == 0);

    auto last = scan_chunk(R"({"choices":[{"index":0,"delta":{},"finish_reason":"stop"},)"
                           R"({"index":1,"delta":{},"finish_reason":"length"}]})");
    REQUIRE(last);
    CHECK_FALSE(last->has_content);
    CHECK(last->finish_reasons == std::vector<std::string>{"stop", "length"});

    // Keys named like the ones followed, elsewhere, do not count.
    auto elsewhere = scan_chunk(R"({"content":"x","delta":{"content":"y"},"choices":[{"content":"z",)"
                                R"("delta":{"extra":{"content":"w"}},"x":{"finish_reason":"stop"}}]})");
    REQUIRE(elsewhere);
    CHECK_FALSE(elsewhere->has_content);
    CHECK(elsewhere->content_chars == 0);
    CHECK(elsewhere->finish_reasons.empty());
}

TEST_CASE("reasoning, refusals and tool calls are content, as has_content says")
{
    for (const char* text : {
             R"({"choices":[{"delta":{"reasoning_content":"think"}}]})",
             R"({"choices":[{"delta":{"refusal":"no"}}]})",
             R"({"choices":[{"delta":{"tool_calls":[{"index":0,"function":{"arguments":"{\"a\""}}]}}]})",
             R"({"choices":[{"delta":{"tool_calls":null}}]})",
         }) {
        CAPTURE(text);
        auto facts = scan_chunk(text);
        REQUIRE(facts);
        CHECK(facts->has_content);
        CHECK(facts->has_content == has_content(nlohmann::json::parse(text)));
        CHECK(facts->content_chars == 0);
    }
}

TEST_CASE("a chunk the translator must see is not vouched for")
{
    for (const char* text : {
             R"({"choices":[],"usage":{"prompt_tokens":1,"completion_tokens":2,"total_tokens":3}})",  // usage
             R"({"usage":0,"choices":[]})",
             R"({"error":{"message":"overloaded","type":"server_error"}})",  // error
             R"({"error":"boom"})",
             R"([{"choices":[]}])",  // not an object
             R"("text")",
             "null",
             R"({"choices":[{"delta":{"content":"cut)",  // not JSON
             R"({"choices":[]} trailing)",
             "{\"choices\":[{\"delta\":{\"content\":\"\xff\"}}]}",  // bad UTF-8
             "{\"choices\":\n[]}",                                  // two lines
             "{\"choices\":[]}\r",
             "",
         }) {
        CAPTURE(text);
        CHECK_FALSE(scan_chunk(text));
    }
    // usage and error may be null: OpenAI sends `"usage":null` on every chunk but the last.
    CHECK(scan_chunk(R"({"error":null,"usage":null,"choices":[]})"));
}

TEST_CASE("nesting past 64 levels is left to the translator's guarded parse")
{
    std::string deep = R"({"choices":[{"delta":{"x":)";
    for (int i = 0; i < 70; ++i) {
        deep += "[";
    }
    for (int i = 0; i < 70; ++i) {
        deep += "]";
    }
    deep += "}}]}";
    CHECK_FALSE(scan_chunk(deep));
    std::string shallow = R"({"choices":[{"delta":{"x":[[[[]]]]}}]})";
    CHECK(scan_chunk(shallow));
}

TEST_CASE("the cost header carries ten decimals at most, rounded as printf rounds, without trailing zeros")
{
    using aigw::daemon::pipeline::format_cost;
    CHECK(format_cost(0.0) == "0");
    CHECK(format_cost(1.0) == "1");
    CHECK(format_cost(0.000123) == "0.000123");
    CHECK(format_cost(12.5) == "12.5");
    CHECK(format_cost(0.00000000004) == "0");             // below a tenth of a nano-dollar
    CHECK(format_cost(0.00000000006) == "0.0000000001");  // rounds up to the tenth decimal
    CHECK(format_cost(1234567.0000000001) == "1234567");
    // Every value printf's "%.10f" would write the same way.
    for (double usd : {0.0000075, 0.00015, 0.0123456789012, 3.14159265358979, 99999.99999999999, 1e300}) {
        char buf[400];
        std::snprintf(buf, sizeof buf, "%.10f", usd);
        std::string expected(buf);
        while (expected.back() == '0') {
            expected.pop_back();
        }
        if (expected.back() == '.') {
            expected.pop_back();
        }
        CHECK(format_cost(usd) == expected);
    }
}

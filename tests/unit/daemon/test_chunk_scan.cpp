#include "daemon/pipeline/chunk_scan.hpp"
#include "daemon/pipeline/stream_writer.hpp"
#include "daemon/providers/adapter.hpp"
#include "shared/wire/json_text.hpp"
#include "shared/wire/usage.hpp"

#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include <cstdio>
#include <random>
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
             R"({"usage":0,"choices":[]})",                                  // a usage that is not an object
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

namespace {

namespace detail = aigw::daemon::pipeline::detail;
using aigw::daemon::pipeline::ChunkFacts;

/// The one-pass reader says what nlohmann's SAX reader says whenever it is sure.
void check_agrees(std::string_view text)
{
    ChunkFacts fast;
    const auto verdict = detail::scan_chunk_fast(text, fast);
    if (verdict == detail::Scan::unsure) {
        return;
    }
    const auto sax = detail::scan_chunk_sax(text);
    CAPTURE(text);
    REQUIRE(sax.has_value() == (verdict == detail::Scan::facts));
    if (sax) {
        CHECK(fast.content_chars == sax->content_chars);
        CHECK(fast.has_content == sax->has_content);
        CHECK(fast.finish_reasons == sax->finish_reasons);
        CHECK(fast.usage.dump() == sax->usage.dump());
        CHECK(fast.usage_only == sax->usage_only);
        // Both read what a built chunk holds.
        const auto doc = nlohmann::json::parse(text);
        const auto u = doc.find("usage");
        CHECK(sax->usage.dump() == (u != doc.end() ? *u : nlohmann::json()).dump());
        CHECK(sax->usage_only == aigw::daemon::pipeline::is_usage_only(doc));
    }
}

/// `text` with one to three bytes that matter to JSON and UTF-8 put in, changed or taken out.
std::string mutant(std::string text, const std::string& alphabet, std::mt19937& rng)
{
    const int edits = 1 + static_cast<int>(rng() % 3);
    for (int e = 0; e < edits && !text.empty(); ++e) {
        const std::size_t at = rng() % text.size();
        const char c = alphabet[rng() % alphabet.size()];
        switch (rng() % 4) {
            case 0:
                text[at] = c;
                break;
            case 1:
                text.insert(text.begin() + static_cast<std::ptrdiff_t>(at), c);
                break;
            case 2:
                text.erase(at, 1 + rng() % 3);
                break;
            default:
                text.insert(at, text.substr(at, 1 + rng() % 8));
                break;
        }
    }
    return text;
}

// Chunks as OpenAI-compatible upstreams send them.
const char* const k_chunks[] = {
    R"({"id":"chatcmpl-B9MBs8CjcvOU2jLn4n570S5qMJKcT","object":"chat.completion.chunk","created":1741569952,"model":"gpt-4o-2024-08-06","service_tier":"default","system_fingerprint":"fp_eb9dce56a8","choices":[{"index":0,"delta":{"role":"assistant","content":"","refusal":null},"logprobs":null,"finish_reason":null}],"usage":null,"obfuscation":"x1"})",
    R"({"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"content":"Hello, \"w\u00f6rld\" \ud83d\ude00 \\ \/ \b\f\n\r\t"},"logprobs":null,"finish_reason":null}]})",
    "{\"choices\":[{\"index\":0,\"delta\":{\"content\":\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80 \xe4\xb8\xad\"}}]}",
    R"({"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"call_1","type":"function","function":{"name":"get_weather","arguments":""}}]},"finish_reason":null}]})",
    R"({"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"{\"city\":"}}]}}]})",
    R"({"choices":[{"index":0,"delta":{},"logprobs":null,"finish_reason":"stop"}],"usage":null})",
    R"({"choices":[{"index":0,"delta":{"reasoning_content":"think"},"finish_reason":null},{"index":1,"delta":{"content":"b"},"finish_reason":"length"}]})",
    R"({"choices":[],"usage":{"prompt_tokens":10,"completion_tokens":20,"total_tokens":30,"prompt_tokens_details":{"cached_tokens":0}}})",
    R"({"id":"gen-1","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}],"usage":{"prompt_tokens":8,"completion_tokens":2,"total_tokens":10,"cost":0.0000025,"is_byok":false,"cost_details":{"upstream_inference_cost":null},"completion_tokens_details":{"reasoning_tokens":-0}}})",
    R"({"error":{"message":"overloaded","type":"server_error","code":null}})",
    R"( { "choices" : [ { "delta" : { "content" : "x" } , "finish_reason" : null , "n" : -0.5 , "m" : [ true , false , null , 12 , 0 ] } ] } )",
    R"({"choices":[{"delta":{"content":"a"},"logprobs":{"content":[{"token":"a","logprob":-0.0001,"bytes":[97],"top_logprobs":[]}]}}]})",
};

}  // namespace

TEST_CASE("the one-pass chunk reader vouches for the chunks upstreams send, reads usage, and refuses errors")
{
    for (const char* text : k_chunks) {
        CAPTURE(text);
        ChunkFacts facts;
        const auto verdict = detail::scan_chunk_fast(text, facts);
        const bool translator_must_see = std::string_view(text).find(R"("error":{)") != std::string_view::npos;
        CHECK(verdict == (translator_must_see ? detail::Scan::refused : detail::Scan::facts));
        check_agrees(text);
    }
    ChunkFacts usage;
    REQUIRE(detail::scan_chunk_fast(k_chunks[7], usage) == detail::Scan::facts);
    CHECK(usage.usage_only);
    CHECK(usage.usage.at("prompt_tokens") == 10);
    CHECK(usage.usage.at("prompt_tokens_details").at("cached_tokens") == 0);
    // Usage on a chunk with content is read, and that chunk is not the usage-only one.
    auto with_text = scan_chunk(R"({"choices":[{"delta":{"content":"x"}}],"usage":{"prompt_tokens":1}})");
    REQUIRE(with_text);
    CHECK_FALSE(with_text->usage_only);
    CHECK(with_text->usage.at("prompt_tokens") == 1);
    // A usage that is not an object goes to the translator, from either reader.
    for (const char* text : {R"({"choices":[],"usage":7})", R"({"choices":[],"usage":[1]})"}) {
        CAPTURE(text);
        CHECK_FALSE(scan_chunk(text));
        check_agrees(text);
    }
    // An array or an escape inside usage: the SAX reader reads it.
    for (const char* text :
         {R"({"choices":[],"usage":{"x":[1,{"y":2}]}})", R"({"choices":[],"usage":{"n":"\u0041"}})"}) {
        CAPTURE(text);
        ChunkFacts unsure;
        CHECK(detail::scan_chunk_fast(text, unsure) == detail::Scan::unsure);
        REQUIRE(scan_chunk(text));
        CHECK(scan_chunk(text)->usage == nlohmann::json::parse(text).at("usage"));
    }
    ChunkFacts facts;
    REQUIRE(detail::scan_chunk_fast(k_chunks[1], facts) == detail::Scan::facts);
    CHECK(facts.content_chars == std::string("Hello, \"w\xc3\xb6rld\" \xf0\x9f\x98\x80 \\ / \b\f\n\r\t").size());
    // Left to the SAX reader: a key spelled with escapes, an escaped finish reason, an exponent.
    for (const char* text :
         {R"({"ch\u006fices":[]})", R"({"choices":[{"finish_reason":"st\u006fp"}]})", R"({"choices":[],"x":1e999})"}) {
        CAPTURE(text);
        ChunkFacts unused;
        CHECK(detail::scan_chunk_fast(text, unused) == detail::Scan::unsure);
        check_agrees(text);
    }
    CHECK(scan_chunk(R"({"choices":[{"finish_reason":"st\u006fp"}]})")->finish_reasons ==
          std::vector<std::string>{"stop"});
    CHECK_FALSE(scan_chunk(R"({"choices":[],"x":1e999})"));  // nlohmann refuses the overflow
}

TEST_CASE("the one-pass chunk reader checks UTF-8 as nlohmann does, at every boundary")
{
    // Well-formed and ill-formed sequences around each limit of RFC 3629's table.
    for (const char* bytes : {
             "\x7f",
             "\xc2\x80",
             "\xdf\xbf",
             "\xe0\xa0\x80",
             "\xed\x9f\xbf",
             "\xee\x80\x80",
             "\xef\xbf\xbf",
             "\xf0\x90\x80\x80",
             "\xf4\x8f\xbf\xbf",
             "\xc0\x80",
             "\xc1\xbf",
             "\xe0\x9f\xbf",
             "\xed\xa0\x80",
             "\xed\xbf\xbf",
             "\xf0\x8f\xbf\xbf",
             "\xf4\x90\x80\x80",
             "\xf5\x80\x80\x80",
             "\x80",
             "\xbf",
             "\xc2",
             "\xe1\x80",
             "\xf1\x80\x80",
             "\xc2\xc0",
             "\xe1\x80\xc0",
             "\xff",
         }) {
        for (const std::string& text : {std::string(R"({"choices":[{"delta":{"content":")") + bytes + R"("}}]})",
                                        std::string(R"({")") + bytes + R"(":1})"}) {
            check_agrees(text);
        }
    }
    // Escapes: surrogate pairs whole and broken, every short escape, bad hex.
    for (const char* esc : {R"(\ud83d\ude00)", R"(\ud83d)", R"(\ude00)", R"(\ud83d\u0041)", R"(\ud83dx)",
                            R"(\u00e9)",       R"(\u0800)", R"(\u07ff)", R"(\u0000)",       R"(\uFFFF)",
                            R"(\u12G4)",       R"(\u12)",   R"(\x)",     R"(\")",           R"(\\)",
                            R"(\/)",           R"(\b)",     R"(\f)",     R"(\n)",           R"(\r)",
                            R"(\t)",           R"(\')"}) {
        check_agrees(std::string(R"({"choices":[{"delta":{"content":")") + esc + R"("}}]})");
    }
}

TEST_CASE("the one-pass chunk reader finds a string's end, escapes, controls and UTF-8 at every offset")
{
    // Plain bytes are read eight at a time: put each kind of byte that stops a run at each
    // lane of the first three words and near the end of the text, in a value and in a key.
    const std::vector<std::string> specials{"\"", "\\n",      "\\u00e9",      "\x01", "\x1f", "\x7f",
                                            " ",  "\xc3\xa9", "\xe2\x82\xac", "\xff", "\x80", std::string(1, '\0')};
    for (const std::string& special : specials) {
        for (std::size_t at = 0; at < 26; ++at) {
            const std::string body = std::string(at, 'a') + special + std::string(at % 9, 'b');
            check_agrees(R"({"choices":[{"delta":{"content":")" + body + R"("}}]})");
            check_agrees(R"({")" + body + R"(":1,"choices":[]})");
            // The string runs to the end of the text (no closing quote).
            check_agrees(R"({"choices":[{"delta":{"content":")" + body);
        }
    }
    // The count of decoded bytes, which the relay adds up, over runs of every length.
    for (std::size_t n = 0; n < 40; ++n) {
        ChunkFacts facts;
        const std::string text = R"({"choices":[{"delta":{"content":")" + std::string(n, 'x') + "\xc3\xa9" +
                                 std::string(n % 8, 'y') + R"("}}]})";
        REQUIRE(detail::scan_chunk_fast(text, facts) == detail::Scan::facts);
        CHECK(facts.content_chars == n + 2 + n % 8);
    }
}

TEST_CASE("the one-pass chunk reader and the SAX reader agree on mutated chunks")
{
    // Deterministic mutations of real chunks: bytes that matter to JSON and UTF-8 put in,
    // changed and taken out. Any input the fast reader is sure of must read the same in both.
    const std::string alphabet = std::string("{}[]\",:\\/ \tu0123456789abcdefABCDEF.eE+-ntrl") +
                                 std::string("\x00\x1f\x7f\x80\xbf\xc0\xc3\xe0\xed\xf0\xf4\xf5\xff", 13);
    std::mt19937 rng(20261206);
    std::size_t sure = 0;
    std::size_t total = 0;
    for (const char* base : k_chunks) {
        for (int i = 0; i < 3000; ++i) {
            const std::string text = mutant(base, alphabet, rng);
            ChunkFacts unused;
            sure += detail::scan_chunk_fast(text, unused) != detail::Scan::unsure ? 1 : 0;
            ++total;
            check_agrees(text);
        }
    }
    // Most mutants are broken JSON the fast reader leaves to the SAX reader; enough are not.
    CHECK(sure > total / 10);
}

namespace {

using aigw::daemon::pipeline::scan_completion;

/// What scan_completion() vouches for, OpenAI's chat_response() reads the same: the same
/// usage (or the same refusal of an impossible one), the finish reasons of the built answer,
/// and the counts usage_from_openai() reads from the `usage` value nlohmann builds.
void check_completion_agrees(std::string_view body)
{
    const auto fast = scan_completion(body);
    if (!fast) {
        return;
    }
    CAPTURE(body);
    const auto doc = aigw::wire::parse_json_lenient(body);
    REQUIRE(doc.is_object());
    const auto u = doc.find("usage");
    const nlohmann::json usage = u != doc.end() ? *u : nlohmann::json();
    CHECK(fast->usage == aigw::wire::usage_from_openai(usage));
    std::vector<std::string> reasons;
    for (const auto& choice : doc.at("choices")) {
        if (auto r = choice.is_object() ? choice.find("finish_reason") : choice.end();
            choice.is_object() && r != choice.end() && r->is_string() && !r->get<std::string>().empty()) {
            reasons.push_back(r->get<std::string>());
        }
    }
    CHECK(fast->finish_reasons == reasons);
    const auto slow = aigw::daemon::providers::openai_adapter().chat_response(body, {});
    const auto fast_usage = fast->usage;
    if (slow) {
        CHECK(slow->usage == fast_usage);
        CHECK_FALSE(aigw::wire::check_usage(fast_usage));
    } else {
        CHECK(aigw::wire::check_usage(fast_usage));  // the one refusal chat_response() has for it
    }
}

// Answers as OpenAI-compatible upstreams send them: OpenAI's own (indented), a tool call,
// OpenRouter's usage with a cost, DeepSeek's cache counts, no usage, several choices.
const char* const k_completions[] = {
    "{\n  \"id\": \"chatcmpl-B9MHDbslfkBeAs8l4bebGdFOJ6PeG\",\n  \"object\": \"chat.completion\",\n  \"created\": "
    "1741570283,\n"
    "  \"model\": \"gpt-4o-2024-08-06\",\n  \"choices\": [\n    {\n      \"index\": 0,\n      \"message\": {\n"
    "        \"role\": \"assistant\",\n        \"content\": \"The image shows a wooden boardwalk.\",\n"
    "        \"refusal\": null,\n        \"annotations\": []\n      },\n      \"logprobs\": null,\n"
    "      \"finish_reason\": \"stop\"\n    }\n  ],\n  \"usage\": {\n    \"prompt_tokens\": 1117,\n"
    "    \"completion_tokens\": 46,\n    \"total_tokens\": 1163,\n    \"prompt_tokens_details\": {\n"
    "      \"cached_tokens\": 0,\n      \"audio_tokens\": 0\n    },\n    \"completion_tokens_details\": {\n"
    "      \"reasoning_tokens\": 0,\n      \"audio_tokens\": 0,\n      \"accepted_prediction_tokens\": 0,\n"
    "      \"rejected_prediction_tokens\": 0\n    }\n  },\n  \"service_tier\": \"default\",\n"
    "  \"system_fingerprint\": \"fp_fc9f1d7035\"\n}\n",
    R"({"id":"c","object":"chat.completion","created":1,"model":"m","choices":[{"index":0,"message":{"role":"assistant","content":null,"tool_calls":[{"id":"call_1","type":"function","function":{"name":"get_weather","arguments":"{\"city\":\"Paris\"}"}}]},"finish_reason":"tool_calls"}],"usage":{"prompt_tokens":82,"completion_tokens":17,"total_tokens":99}})",
    R"({"id":"gen-1","provider":"OpenAI","model":"openai/gpt-4o-mini","object":"chat.completion","created":1,"choices":[{"logprobs":null,"finish_reason":"stop","native_finish_reason":"stop","index":0,"message":{"role":"assistant","content":"Hi","refusal":null,"reasoning":null}}],"usage":{"prompt_tokens":8,"completion_tokens":2,"total_tokens":10,"cost":0.00000255,"is_byok":false,"prompt_tokens_details":{"cached_tokens":0},"cost_details":{"upstream_inference_cost":null},"completion_tokens_details":{"reasoning_tokens":0,"image_tokens":-0}}})",
    R"({"id":"d","object":"chat.completion","model":"deepseek-chat","choices":[{"index":0,"message":{"role":"assistant","content":"ok"},"finish_reason":"stop"}],"usage":{"prompt_tokens":30,"completion_tokens":1,"total_tokens":31,"prompt_cache_hit_tokens":24,"prompt_cache_miss_tokens":6}})",
    R"({"choices":[{"index":0,"message":{"content":"a"},"finish_reason":"length"},{"index":1,"message":{"content":"b"},"finish_reason":""},{"index":2,"finish_reason":null}],"usage":null,"error":{"message":"ignored"}})",
    R"({"choices":[],"usage":{"prompt_tokens":1.0,"completion_tokens":2.5,"total_tokens":-3,"note":"cafe"}})",
    R"({"choices":[{"message":{"content":"x"}}]})",
};

}  // namespace

TEST_CASE("an OpenAI answer is read without building it: its usage as nlohmann reads it, its finish reasons")
{
    for (const char* body : k_completions) {
        check_completion_agrees(body);
    }
    auto openai = scan_completion(k_completions[0]);
    REQUIRE(openai);
    CHECK(openai->finish_reasons == std::vector<std::string>{"stop"});
    const auto usage = openai->usage;
    CHECK(usage.input_tokens == 1117);
    CHECK(usage.output_tokens == 46);
    CHECK(usage.reported);
    auto openrouter = scan_completion(k_completions[2]);
    REQUIRE(openrouter);
    CHECK(openrouter->usage.input_tokens == 8);
    CHECK(openrouter->usage.output_tokens == 2);
    auto deepseek = scan_completion(k_completions[3]);
    REQUIRE(deepseek);
    CHECK(deepseek->usage.cached_tokens == 24);
    auto none = scan_completion(k_completions[6]);
    REQUIRE(none);
    CHECK_FALSE(none->usage.reported);
    // An impossible count is read, and refused as chat_response() refuses it.
    auto impossible = scan_completion(k_completions[5]);
    REQUIRE(impossible);
    CHECK(aigw::wire::check_usage(impossible->usage));
}

TEST_CASE("an answer's usage counts are read as usage_from_openai() reads the built object")
{
    // Every count and details object in turn: absent, null, a whole number, a whole double,
    // a fraction, negative, past the bound, a string, a bool, an object; the details as
    // objects or not; a cached count and DeepSeek's both given.
    const char* const values[] = {"null", "0", "7", "7.0", "7.5", "-1", "1000000000001", "\"7\"", "true", "{}"};
    const char* const details[] = {"null", "5", "{}", R"({"other":1})"};
    std::vector<std::string> usages;
    for (const char* v : values) {
        for (const char* key : {"prompt_tokens", "completion_tokens", "prompt_cache_hit_tokens"}) {
            usages.push_back(std::string(R"({")") + key + R"(":)" + v + R"(,"total_tokens":3})");
        }
        usages.push_back(std::string(R"({"prompt_tokens":10,"prompt_tokens_details":{"cached_tokens":)") + v +
                         R"(,"cache_creation_tokens":2},"prompt_cache_hit_tokens":4})");
        usages.push_back(std::string(R"({"prompt_tokens_details":{"cache_creation_tokens":)") + v + "}}");
        usages.push_back(std::string(R"({"completion_tokens_details":{"reasoning_tokens":)") + v +
                         R"(,"audio_tokens":0},"completion_tokens":9})");
    }
    for (const char* d : details) {
        usages.push_back(std::string(R"({"prompt_tokens_details":)") + d + R"(,"prompt_cache_hit_tokens":6})");
        usages.push_back(std::string(R"({"completion_tokens_details":)") + d + "}");
    }
    usages.push_back(R"({"cost_details":{"upstream_inference_cost":null,"x":{"y":[]}},"prompt_tokens":1})");
    for (const auto& usage : usages) {
        const std::string body = R"({"choices":[],"usage":)" + usage + "}";
        CAPTURE(body);
        const auto fast = scan_completion(body);
        if (usage.find("[]") != std::string::npos) {
            CHECK_FALSE(fast);  // an array inside usage: left to chat_response()
            continue;
        }
        REQUIRE(fast);
        CHECK(fast->usage == aigw::wire::usage_from_openai(nlohmann::json::parse(usage)));
        check_completion_agrees(body);
    }
    // A count or a details object named twice is left to chat_response().
    CHECK_FALSE(scan_completion(R"({"choices":[],"usage":{"prompt_tokens":1,"prompt_tokens":2}})"));
    CHECK_FALSE(scan_completion(
        R"({"choices":[],"usage":{"prompt_tokens_details":{},"prompt_tokens_details":{"cached_tokens":1}}})"));
    CHECK_FALSE(
        scan_completion(R"({"choices":[],"usage":{"prompt_tokens_details":{"cached_tokens":1,"cached_tokens":2}}})"));
}

TEST_CASE("what the one-pass answer reader is not sure of is left to chat_response()")
{
    for (const char* body : {
             R"({"object":"chat.completion"})",                                   // no choices
             R"({"choices":{}})",                                                 // choices not an array
             R"({"choices":null})",                                               // ditto
             R"([{"choices":[]}])",                                               // not an object
             R"({"choices":[],"choices":[]})",                                    // a key named twice
             R"({"choices":[],"usage":null,"usage":{"prompt_tokens":1}})",        // ditto
             R"({"choices":[],"usage":{"prompt_tokens":[1]}})",                   // an array in usage
             R"({"choices":[],"usage":"none"})",                                  // usage not an object
             R"({"choices":[],"usage":{"prompt_tokens":1e3}})",                   // an exponent
             R"({"choices":[],"usage":{"prompt_tokens":18446744073709551616}})",  // past 64 bits
             R"({"choices":[],"usage":{"note":"\u0041"}})",                       // an escape in usage
             R"({"choices":[{"finish_reason":"st\u006fp"}]})",                    // an escaped finish reason
             R"({"choices":[]} x)",                                               // trailing bytes
             "\xef\xbb\xbf{\"choices\":[]}",                                      // a byte order mark
         }) {
        CAPTURE(body);
        CHECK_FALSE(scan_completion(body));
    }
    CHECK(scan_completion(R"({"choices":[],"usage":{"prompt_tokens":18446744073709551615}})"));
    CHECK(scan_completion("\r\n {\"choices\" :\t[ ] }\r\n"));
}

TEST_CASE("the one-pass answer reader and chat_response() agree on mutated answers")
{
    const std::string alphabet = std::string("{}[]\",:\\/ \t\n\ru0123456789abcdefABCDEF.eE+-ntrl") +
                                 std::string("\x00\x1f\x7f\x80\xbf\xc0\xc3\xe0\xed\xf0\xf4\xf5\xff", 13);
    std::mt19937 rng(20261207);
    std::size_t sure = 0;
    std::size_t total = 0;
    for (const char* base : k_completions) {
        for (int i = 0; i < 2000; ++i) {
            const std::string text = mutant(base, alphabet, rng);
            sure += scan_completion(text) ? 1 : 0;
            ++total;
            check_completion_agrees(text);
        }
    }
    CHECK(sure > total / 10);
}

TEST_CASE("a usage-only chunk relayed as text reaches an OpenAI client only when it asked for usage")
{
    using aigw::daemon::pipeline::OpenAiStreamWriter;
    const std::string usage = R"({"choices":[],"usage":{"prompt_tokens":1}})";
    const std::string content = R"({"choices":[{"delta":{"content":"x"}}],"usage":{"prompt_tokens":1}})";
    for (const bool asked : {false, true}) {
        OpenAiStreamWriter writer(asked);
        std::string out;
        writer.verbatim(usage, true, out);
        CHECK(out == (asked ? "data: " + usage + "\n\n" : std::string()));
        out.clear();
        writer.verbatim(content, false, out);
        CHECK(out == "data: " + content + "\n\n");
        // The built chunk is written the same way.
        out.clear();
        writer.chunk(nlohmann::json::parse(usage), out);
        CHECK(out == (asked ? "data: " + usage + "\n\n" : std::string()));
    }
}

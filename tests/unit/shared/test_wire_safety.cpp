// Foreign text in, valid text out: UTF-8 repair and safe cuts, the JSON depth guard and
// exception-free parsing, secret scrubbing, checked token counts, clamped waits.

#include "shared/wire/error.hpp"
#include "shared/wire/json_text.hpp"
#include "shared/wire/secrets.hpp"
#include "shared/wire/usage.hpp"
#include "shared/wire/utf8.hpp"

#include <doctest/doctest.h>

#include <cmath>
#include <limits>
#include <string>

using namespace aigw::wire;

TEST_CASE("valid UTF-8 passes unchanged and ill-formed sequences become U+FFFD")
{
    CHECK(is_valid_utf8("plain é ✓ 😀"));
    CHECK(valid_utf8("plain é ✓ 😀") == "plain é ✓ 😀");
    CHECK_FALSE(is_valid_utf8("\xff"));
    CHECK(valid_utf8("a\xff"
                     "b") ==
          "a\xEF\xBF\xBD"
          "b");
    CHECK(valid_utf8("cut \xC3") == "cut \xEF\xBF\xBD");  // truncated 2-byte
    CHECK(valid_utf8("\xE2\x82"
                     "x") ==
          "\xEF\xBF\xBD"
          "x");                                      // one FFFD for the maximal subpart
    CHECK_FALSE(is_valid_utf8("\xC0\xAF"));          // overlong '/'
    CHECK_FALSE(is_valid_utf8("\xED\xA0\x80"));      // a surrogate
    CHECK_FALSE(is_valid_utf8("\xF4\x90\x80\x80"));  // above U+10FFFF
    CHECK(is_valid_utf8(valid_utf8("\xF4\x90\x80\x80\xC3\xA9\xff")));
}

TEST_CASE("utf8_char_length measures one well-formed character and refuses the rest")
{
    CHECK(utf8_char_length("a", 0) == 1);
    CHECK(utf8_char_length("x\xc3\xa9", 1) == 2);
    CHECK(utf8_char_length("\xe2\x82\xac", 0) == 3);
    CHECK(utf8_char_length("\xf0\x9f\x98\x80", 0) == 4);
    CHECK(utf8_char_length("\xc0\x80", 0) == 0);          // overlong
    CHECK(utf8_char_length("\xed\xa0\x80", 0) == 0);      // a surrogate
    CHECK(utf8_char_length("\xf4\x90\x80\x80", 0) == 0);  // past U+10FFFF
    CHECK(utf8_char_length("\xe2\x82", 0) == 0);          // cut short
    CHECK(utf8_char_length("\x80", 0) == 0);              // a continuation byte first
}

TEST_CASE("json_escape_at knows JSON's escapes and what they decode to")
{
    for (const char* short_escape : {R"(\")", R"(\\)", R"(\/)", R"(\b)", R"(\f)", R"(\n)", R"(\r)", R"(\t)"}) {
        const auto e = json_escape_at(short_escape, 0);
        CHECK(e.length == 2);
        CHECK(e.decoded == 1);
    }
    CHECK(json_escape_at(R"(\u0041)", 0).decoded == 1);
    CHECK(json_escape_at(R"(\u07FF)", 0).decoded == 2);
    CHECK(json_escape_at(R"(\u0800)", 0).decoded == 3);
    const auto pair = json_escape_at(R"(ab\ud83d\ude00)", 2);
    CHECK(pair.length == 12);
    CHECK(pair.decoded == 4);
    for (const char* bad : {R"(\x)", R"(\u12G4)", R"(\u12)", R"(\ud83d)", R"(\ud83d\u0041)", R"(\ude00)", "\\", "x"}) {
        CAPTURE(bad);
        CHECK(json_escape_at(bad, 0).length == 0);
    }
}

TEST_CASE("utf8_safe_cut never splits a character")
{
    const std::string s =
        "ab\xC3\xA9"
        "cd";  // a b é c d
    CHECK(utf8_safe_cut(s, 100) == s.size());
    CHECK(utf8_safe_cut(s, 2) == 2);
    CHECK(utf8_safe_cut(s, 3) == 2);  // inside é: back to its start
    CHECK(utf8_safe_cut(s, 4) == 4);
    const std::string emoji = "x\xF0\x9F\x98\x80";
    for (std::size_t max = 1; max < 5; ++max) {
        CHECK(utf8_safe_cut(emoji, max) == 1);
    }
    CHECK(utf8_safe_cut(emoji, 5) == 5);
}

TEST_CASE("header_safe drops control characters and repairs UTF-8")
{
    CHECK(header_safe("openai/gpt-4o\r\nx-evil: 1") == "openai/gpt-4ox-evil: 1");
    CHECK(header_safe("tag\xff") == "tag\xEF\xBF\xBD");
    CHECK(header_safe(std::string(300, 'a')).size() == 256);
    // Printable ASCII within the limit goes out as it is, up to the limit exactly.
    CHECK(header_safe("openai/gpt-4o-mini ~ x") == "openai/gpt-4o-mini ~ x");
    CHECK(header_safe(std::string(256, 'b')) == std::string(256, 'b'));
    CHECK(header_safe(std::string(257, 'b')) == std::string(256, 'b'));
    CHECK(header_safe("del\x7F") == "del");
    CHECK(header_safe("caf\xC3\xA9") == "caf\xC3\xA9");
}

TEST_CASE("dump_json replaces invalid UTF-8 instead of throwing")
{
    nlohmann::json j = {{"path", "/\xff"}};
    CHECK_THROWS(j.dump());
    std::string out;
    CHECK_NOTHROW(out = dump_json(j));
    CHECK(is_valid_utf8(out));
    CHECK(out.find("\xEF\xBF\xBD") != std::string::npos);
}

TEST_CASE("error bodies of a failure with invalid UTF-8 serialise")
{
    Failure f = bad_request("no route for /\xff\xC3", "\xfe");
    CHECK_NOTHROW((void)to_openai_error(f).dump());
    CHECK_NOTHROW((void)to_anthropic_error(f).dump());
}

TEST_CASE("a body nested 100,000 levels deep is a 400 before the parser recurses")
{
    std::string deep = std::string(100000, '[') + std::string(100000, ']');
    CHECK_FALSE(json_depth_ok(deep));
    auto r = parse_json_body(deep);
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().status == 400);
    CHECK(r.error().message.find("nesting deeper than 128 levels") != std::string::npos);
    CHECK(parse_json_lenient(deep).is_discarded());
}

TEST_CASE("the depth guard counts only structure, not brackets inside strings")
{
    std::string in_string = "{\"a\":\"" + std::string(500, '[') + "\\\"\"}";
    CHECK(json_depth_ok(in_string));
    CHECK(parse_json_body(in_string).has_value());
    std::string at_limit = std::string(128, '[') + std::string(128, ']');
    CHECK(json_depth_ok(at_limit));
    CHECK_FALSE(json_depth_ok("[" + at_limit + "]"));
}

TEST_CASE("parse_json_body names the parser's reason and never throws")
{
    auto r = parse_json_body("{\"a\": \xff}");
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().kind == FailureKind::bad_request);
    CHECK(r.error().message.find("could not parse JSON") != std::string::npos);
    CHECK(is_valid_utf8(r.error().message));
    auto up = parse_upstream_json("not json", "the upstream's answer");
    REQUIRE_FALSE(up.has_value());
    CHECK(up.error().status == 502);
}

TEST_CASE("scrub_secrets redacts the gateway's own secrets and common key shapes")
{
    std::vector<std::string> secrets = {"my-provider-key-123", "short"};
    std::string text =
        "Invalid key my-provider-key-123 (short) sent as Bearer abcdefghijkl.mnop and "
        "sk-proj-ABCDEFGHIJKLMNOPQRSTUV, sk-ant-api03-ABCDEFGHIJKLMNOPQRST, "
        "AIzaSyABCDEFGHIJKLMNOPQRSTUVWXYZ0123456, AKIAIOSFODNN7EXAMPLE; sk-learn stays";
    std::string out = scrub_secrets(text, secrets);
    CHECK(out.find("my-provider-key-123") == std::string::npos);
    CHECK(out.find("(short)") != std::string::npos);  // under 8 bytes: not treated as a secret
    CHECK(out.find("abcdefghijkl") == std::string::npos);
    CHECK(out.find("Bearer [redacted]") != std::string::npos);
    CHECK(out.find("ABCDEFGHIJKLMNOPQRSTUV") == std::string::npos);
    CHECK(out.find("api03") == std::string::npos);
    CHECK(out.find("AIzaSy") == std::string::npos);
    CHECK(out.find("AKIAIOSFODNN7EXAMPLE") == std::string::npos);
    CHECK(out.find("sk-learn stays") != std::string::npos);
}

TEST_CASE("token counts must be finite non-negative whole numbers up to 10^12")
{
    CHECK(token_count(nlohmann::json(12)) == 12);
    CHECK(token_count(nlohmann::json(12.0)) == 12);
    CHECK_FALSE(token_count(nlohmann::json(1e300)).has_value());
    CHECK_FALSE(token_count(nlohmann::json(-5)).has_value());
    CHECK_FALSE(token_count(nlohmann::json(2.5)).has_value());
    CHECK_FALSE(token_count(nlohmann::json("x")).has_value());
    CHECK_FALSE(token_count(nlohmann::json(18446744073709551615ull)).has_value());
    CHECK(token_count(nlohmann::json(k_max_token_count)) == k_max_token_count);
}

TEST_CASE("an impossible OpenAI usage is flagged and check_usage answers 502")
{
    for (const char* bad : {R"({"prompt_tokens": 1e300, "completion_tokens": 1})", R"({"prompt_tokens": -5})",
                            R"({"completion_tokens": "x"})", R"({"prompt_tokens_details": {"cached_tokens": -1}})"}) {
        Usage u = usage_from_openai(nlohmann::json::parse(bad));
        CHECK(u.impossible);
        auto f = check_usage(u);
        REQUIRE(f.has_value());
        CHECK(f->status == 502);
        CHECK(f->kind == FailureKind::upstream);
        CHECK(f->message.find("impossible token count") != std::string::npos);
    }
    Usage ok = usage_from_openai(nlohmann::json::parse(R"({"prompt_tokens": 10, "completion_tokens": 2})"));
    CHECK_FALSE(check_usage(ok).has_value());
}

TEST_CASE("retry waits are clamped: NaN and negative to 0, inf and far future to the maximum")
{
    CHECK(clamp_retry_after(std::numeric_limits<double>::quiet_NaN()) == 0);
    CHECK(clamp_retry_after(-3) == 0);
    CHECK(clamp_retry_after(std::numeric_limits<double>::infinity()) == k_max_retry_after_s);
    CHECK(clamp_retry_after(72.0 * 365 * 86400) == k_max_retry_after_s);
    CHECK(clamp_retry_after(30, 10) == 10);
    CHECK(clamp_retry_after(1.5) == 1.5);
}

TEST_CASE("utf8_prefix quotes foreign bytes without cutting a character")
{
    std::string s = std::string(199, 'a') + "\xC3\xA9" + "tail";
    CHECK(utf8_prefix(s, 200) == std::string(199, 'a'));
    CHECK(utf8_prefix(s, 201) == std::string(199, 'a') + "\xC3\xA9");
    CHECK(utf8_prefix("\xff\xfe", 10) == "\xEF\xBF\xBD\xEF\xBF\xBD");
}

// The one-pass JSON reader and the run-at-a-time writer against nlohmann, whose parse and
// dump they stand in for: the same values (types and the bits of every double), the same
// refusals, the same text.

#include "shared/wire/json_bytes.hpp"
#include "shared/wire/json_text.hpp"
#include "tests/json_same.hpp"

#include <doctest/doctest.h>

#include <cmath>
#include <limits>
#include <random>
#include <string>
#include <vector>

using namespace aigw::wire;
using nlohmann::json;

namespace {

/// nlohmann's verdict on `text`: its value, or nothing when it refuses it.
std::optional<json> nlohmann_parse(std::string_view text)
{
    json v = json::parse(text, nullptr, false);
    if (v.is_discarded()) {
        return std::nullopt;
    }
    return v;
}

/// True when `v` holds a double that is zero or subnormal: what an underflowing number reads as.
bool has_tiny_double(const json& v)
{
    if (v.is_number_float()) {
        const double d = v.get<double>();
        return d == 0 || std::fpclassify(d) == FP_SUBNORMAL;
    }
    if (v.is_structured()) {
        for (const auto& item : v) {
            if (has_tiny_double(item)) {
                return true;
            }
        }
    }
    return false;
}

std::string nlohmann_dump(const json& v)
{
    return v.dump(-1, ' ', false, json::error_handler_t::replace);
}

/// read_json() vouches for `text` exactly when nlohmann takes it, with the same value.
void check_read(std::string_view text)
{
    CAPTURE(text);
    const auto expected = nlohmann_parse(text);
    const auto got = read_json(text);
    REQUIRE(got.has_value() == expected.has_value());
    if (got) {
        CHECK(aigw::test::same_json(*got, *expected));
    }
}

const std::vector<std::string> k_valid = {
    "null",
    "true",
    "false",
    "0",
    "-0",
    "7",
    "-7",
    " \t\r\n[ 1 , 2 ]\n ",
    "{}",
    "[]",
    "{ }",
    "[ ]",
    "\"\"",
    "{\"\":0}",
    "[[[[]]],{},[{}]]",
    R"({"model":"gpt-4o","messages":[{"role":"user","content":"hi"}],"stream":true,"temperature":0.2})",
    // Numbers at every edge of nlohmann's three kinds.
    "9223372036854775807",
    "-9223372036854775808",
    "-9223372036854775809",
    "18446744073709551615",
    "18446744073709551616",
    "123456789012345678901234567890",
    "1.5",
    "-1.5",
    "0.1",
    "1e2",
    "1E2",
    "1e+2",
    "1e-2",
    "-0.0",
    "0e0",
    "1.0",
    "1.7976931348623157e308",
    "2.2250738585072014e-308",
    "4.9406564584124654e-324",
    "0.30000000000000004",
    "123.456e-7",
    // Strings: every escape, surrogate pairs, NUL, raw UTF-8 of each length, DEL.
    R"("\" \\ \/ \b \f \n \r \t")",
    R"("\u0000 \u001f \u0041 \u00e9 \u20ac \uffff \uD83D\uDE00 \udbff\udfff")",
    "\"é ✓ 😀 \x7f \xF4\x8F\xBF\xBF\"",
    R"({"a":1,"a":[2],"b":{"c":3},"b":null})",  // a repeated name keeps its last value
    R"({"nested":{"deep":[1,{"x":"y"}]},"k\"ey":"v\u00e9"})",
};

const std::vector<std::string> k_invalid = {
    "",
    " ",
    "nul",
    "truex",
    "True",
    "[1,]",
    "{\"a\":1,}",
    "[,]",
    "{,}",
    "01",
    "-01",
    "1.",
    ".5",
    "+1",
    "-",
    "1e",
    "1e+",
    "0x10",
    "NaN",
    "Infinity",
    "[1] x",
    "[1] [2]",
    "{\"a\" 1}",
    "{a:1}",
    "{'a':1}",
    "\"unterminated",
    "\"raw\ttab\"",
    "\"raw\nnewline\"",
    R"("\x41")",
    R"("\u12")",
    R"("\uDE00")",        // a low surrogate alone
    R"("\uD83D")",        // a high surrogate alone
    R"("\uD83D\u0041")",  // a high surrogate with no low one after it
    "\"\xC0\x80\"",       // overlong
    "\"\xED\xA0\x80\"",   // a surrogate in UTF-8
    "\"\xF5\x80\x80\x80\"",
    "\"\xE2\x82\"",  // cut short
    "\"\x80\"",
    "[1 /* comment */]",
};

}  // namespace

TEST_CASE("read_json reads what nlohmann reads, as nlohmann reads it")
{
    for (const auto& text : k_valid) {
        CAPTURE(text);
        REQUIRE(read_json(text).has_value());
        check_read(text);
    }
    // A repeated name keeps its last value; a positive integer is unsigned, a negative signed.
    const auto doc = read_json(R"({"a":1,"a":[2],"n":-3,"u":3})");
    REQUIRE(doc.has_value());
    CHECK((*doc)["a"] == json::array({2}));
    CHECK((*doc)["n"].is_number_integer());
    CHECK((*doc)["u"].is_number_unsigned());
    CHECK(read_json("-0")->is_number_integer());
    CHECK(std::signbit(read_json("-0.0")->get<double>()));
    CHECK((*read_json(R"("\uD83D\uDE00")")) == "\xF0\x9F\x98\x80");
    CHECK(read_json(R"("a\u0000b")")->get_ref<const std::string&>() == std::string("a\0b", 3));
}

TEST_CASE("checked_string_member vouches only for objects read_json reads, and reads the member as they hold it")
{
    // Every valid and invalid text, alone and as the value of "type" and of another member.
    std::vector<std::string> texts;
    for (const auto* list : {&k_valid, &k_invalid}) {
        for (const auto& t : *list) {
            texts.push_back(t);
            texts.push_back(R"({"type":)" + t + "}");
            texts.push_back(R"({"x":)" + t + R"(,"type":"content_block_delta"})");
            texts.push_back(R"({"type":"ping","index":)" + t + "}");
        }
    }
    for (const auto& text : texts) {
        CAPTURE(text);
        const auto checked = checked_string_member(text, "type");
        const auto parsed = read_json(text);
        if (checked) {
            REQUIRE(parsed.has_value());
            REQUIRE(parsed->is_object());
            const auto it = parsed->find("type");
            const bool is_string = it != parsed->end() && it->is_string();
            CHECK(checked->is_string == is_string);
            if (is_string) {
                CHECK(checked->value == it->get_ref<const std::string&>());
            }
        } else if (parsed && parsed->is_object() && text.find('\\') == std::string::npos) {
            FAIL("an object without escapes that read_json reads was not vouched for");
        }
    }
    // Anthropic's events as they come.
    auto delta = checked_string_member(
        R"({"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hi \"there\" \u00e9"}})",
        "type");
    REQUIRE(delta.has_value());
    CHECK(delta->is_string);
    CHECK(delta->value == "content_block_delta");
    // The last of a repeated name counts; one that is not a string is not a string.
    CHECK(checked_string_member(R"({"type":"ping","type":"error"})", "type")->value == "error");
    CHECK_FALSE(checked_string_member(R"({"type":"ping","type":5})", "type")->is_string);
    CHECK_FALSE(checked_string_member(R"({"other":"x"})", "type")->is_string);
    // What only decoding could tell: an escaped name at the top, an escaped value.
    CHECK_FALSE(checked_string_member(R"({"typ\u0065":"error","type":"ping"})", "type").has_value());
    CHECK_FALSE(checked_string_member(R"({"type":"p\u0069ng"})", "type").has_value());
    // Not objects, or not whole.
    CHECK_FALSE(checked_string_member(R"(["type"])", "type").has_value());
    CHECK_FALSE(checked_string_member(R"({"type":"ping"} x)", "type").has_value());
    CHECK_FALSE(checked_string_member(R"({"type":"ping")", "type").has_value());
    CHECK_FALSE(checked_string_member("{\"type\":\"\xFF\"}", "type").has_value());
    // The depth limit, as read_json keeps it.
    const std::string deep = R"({"a":)" + std::string(k_max_json_depth, '[') + std::string(k_max_json_depth, ']') + "}";
    CHECK_FALSE(checked_string_member(deep, "type").has_value());
    CHECK_FALSE(read_json(deep).has_value());
}

TEST_CASE("read_json refuses what nlohmann refuses")
{
    for (const auto& text : k_invalid) {
        CAPTURE(text);
        CHECK_FALSE(nlohmann_parse(text).has_value());
        CHECK_FALSE(read_json(text).has_value());
    }
}

TEST_CASE("read_json keeps to the depth limit and leaves rare forms to nlohmann")
{
    const std::string at_limit = std::string(k_max_json_depth, '[') + std::string(k_max_json_depth, ']');
    CHECK(read_json(at_limit).has_value());
    CHECK_FALSE(read_json("[" + at_limit + "]").has_value());
    CHECK_FALSE(read_json(at_limit, 10).has_value());
    std::string objects_at_limit = "0";
    for (int i = 0; i < k_max_json_depth; ++i) {
        objects_at_limit = (i % 2 ? "[" : "{\"k\":") + objects_at_limit + (i % 2 ? "]" : "}");  // innermost: an object
    }
    CHECK(read_json(objects_at_limit).has_value());
    CHECK_FALSE(read_json("{\"k\":" + objects_at_limit + "}").has_value());
    CHECK_FALSE(read_json("[" + objects_at_limit + "]").has_value());
    // Text far deeper than any caller allows is refused without recursing through it.
    const std::string very_deep = std::string(100000, '[') + std::string(100000, ']');
    CHECK_FALSE(read_json(very_deep, 1000000).has_value());

    // A byte order mark, a double's overflow and underflow, a NUL after the value (where
    // nlohmann stops reading): read_json passes, the parse_* functions still give nlohmann's
    // answer.
    for (const std::string& text : {std::string("\xEF\xBB\xBF{\"a\":1}"), std::string("1e400"), std::string("[1e-400]"),
                                    std::string("[1]\0x", 5)}) {
        CAPTURE(text);
        CHECK_FALSE(read_json(text).has_value());
        const auto expected = nlohmann_parse(text);
        const auto got = parse_json_body(text);
        REQUIRE(got.has_value() == expected.has_value());
        if (got) {
            CHECK(aigw::test::same_json(*got, *expected));
        }
    }
    CHECK(parse_json_body("\xEF\xBB\xBF{\"a\":1}").has_value());
    CHECK_FALSE(parse_json_body("1e400").has_value());
}

TEST_CASE("the bulk skips stop at the first byte that needs attention, at every offset and length")
{
    auto plain_reference = [](const char* p, const char* end) {
        while (p != end && json_plain_byte(static_cast<unsigned char>(*p))) {
            ++p;
        }
        return p;
    };
    auto quote_reference = [](const char* p, const char* end) {
        while (p != end && *p != '"' && *p != '\\') {
            ++p;
        }
        return p;
    };
    for (std::size_t length = 0; length <= 40; ++length) {
        const std::string run(length, 'a');
        CHECK(skip_json_plain(run.data(), run.data() + length) == run.data() + length);
        CHECK(skip_to_quote_or_escape(run.data(), run.data() + length) == run.data() + length);
        for (std::size_t at = 0; at < length; ++at) {
            for (int c = 0; c < 256; ++c) {
                std::string text = run;
                text[at] = static_cast<char>(c);
                text += "\"tail\\";  // bytes past `end` are not read as the run's
                const char* end = text.data() + length;
                if (skip_json_plain(text.data(), end) != plain_reference(text.data(), end) ||
                    skip_to_quote_or_escape(text.data(), end) != quote_reference(text.data(), end)) {
                    FAIL("length " << length << ", byte " << c << " at " << at);
                }
            }
        }
    }
}

TEST_CASE("read_json decodes every escape and stop byte at every offset of an eight-byte run")
{
    const std::vector<std::string> stops = {
        R"(\")", R"(\\)", R"(\/)", R"(\n)", R"(\u00e9)", R"(\uD83D\uDE00)", "é", "\xE2\x9C\x93", "\xF0\x9F\x98\x80",
        "\x7f"};
    for (const auto& stop : stops) {
        for (std::size_t before = 0; before < 36; ++before) {
            for (std::size_t after : {0, 1, 7, 8, 9, 15, 16, 17}) {
                const std::string text = "\"" + std::string(before, 'a') + stop + std::string(after, 'b') + "\"";
                check_read(text);
                REQUIRE(read_json(text).has_value());
                // The same byte spoiled: a control byte, a stray continuation byte, a cut.
                for (const std::string bad : {"\x01", "\x80", "\xC3"}) {
                    check_read("\"" + std::string(before, 'a') + bad + std::string(after, 'b') + "\"");
                }
            }
        }
    }
}

TEST_CASE("read_json agrees with nlohmann on mutated requests")
{
    const std::string base =
        R"({"model":"openai/gpt-4o","messages":[{"role":"system","content":"Be \"terse\".\nÉtat: ✓"},)"
        R"({"role":"user","content":[{"type":"text","text":"tab\there \ud83d\ude00"}]}],"max_tokens":64,)"
        R"("temperature":0.7,"top_p":1e-1,"n":-2,"stop":null,"stream":false,"tools":[]})";
    REQUIRE(read_json(base).has_value());
    const std::string alphabet = std::string("{}[]\":,\\ -+.eE0123456789tfnu\x01\x7f\x80\xC3\xE2\xF0", 31);
    std::mt19937 rng(20261207);
    int vouched = 0;
    for (int round = 0; round < 20000; ++round) {
        std::string text = base;
        const int edits = 1 + static_cast<int>(rng() % 3);
        for (int e = 0; e < edits; ++e) {
            const std::size_t at = rng() % text.size();
            switch (rng() % 3) {
                case 0:
                    text[at] = alphabet[rng() % alphabet.size()];
                    break;
                case 1:
                    text.erase(at, 1 + rng() % 3);
                    break;
                default:
                    text.insert(at, 1, alphabet[rng() % alphabet.size()]);
                    break;
            }
        }
        const auto expected = nlohmann_parse(text);
        const auto got = read_json(text);
        if (got) {
            ++vouched;
            REQUIRE(expected.has_value());
            REQUIRE(aigw::test::same_json(*got, *expected));
        } else if (expected) {
            // Only the form left to nlohmann on purpose may be passed over here: a number
            // that underflows a double (a mutation cannot make a byte order mark).
            CAPTURE(text);
            CHECK(has_tiny_double(*expected));
        }
    }
    CHECK(vouched > 1000);  // the mutations leave plenty of valid JSON to compare
}

TEST_CASE("append_json writes what nlohmann's dump writes")
{
    std::vector<json> values;
    for (const auto& text : k_valid) {
        values.push_back(json::parse(text));
    }
    std::string every_byte;
    for (int c = 0; c < 0x80; ++c) {
        every_byte += static_cast<char>(c);
    }
    values.emplace_back(every_byte);
    values.emplace_back("ill-formed \xff here, cut \xE2\x82");
    values.emplace_back(json::object({{"k\xC3", "v"}, {"ok", "\xED\xA0\x80"}}));
    values.emplace_back(json::array({0.1, 1.0, -0.0, 1e300, 5e-324, std::numeric_limits<double>::quiet_NaN(),
                                     std::numeric_limits<double>::infinity(), -1e-7}));
    values.emplace_back(
        json::array({std::numeric_limits<std::int64_t>::min(), std::numeric_limits<std::uint64_t>::max(), 0, -1}));
    values.emplace_back(json(json::value_t::discarded));
    for (const auto& v : values) {
        const std::string expected = nlohmann_dump(v);
        CAPTURE(expected);
        CHECK(dump_json(v) == expected);
        CHECK(json_text_size(v) == expected.size());
        std::string out = "prefix:";
        append_json(out, v);
        CHECK(out == "prefix:" + expected);
    }
    for (std::size_t before = 0; before < 12; ++before) {
        for (const std::string stop : {"\"", "\\", "\n", "\x1f", "\x7f", "é", "\xF0\x9F\x98\x80", "\xff"}) {
            const std::string text = std::string(before, 'a') + stop + "bcdefghij";
            std::string out = "[";
            append_json_string(out, text);
            CHECK(out == "[" + nlohmann_dump(json(text)));
            CHECK(json_text_size(json(text)) == out.size() - 1);
        }
    }
}

TEST_CASE("edit_members_text changes, adds and leaves out members and keeps the others' bytes")
{
    const std::string text =
        " {\"a\": [1, {\"model\": \"inner\"}, \"]}\\\"\"],\n \"model\" :\t\"claude-x\" ,"
        "\"n\":-1.50e2,\"s\":\"\\u00e9 \\\"q\\\" é\",\"stream\":false,\"z\":{}} \n";
    const auto out = edit_members_text(text, {{"model", R"("anthropic-y")"}});
    REQUIRE(out.has_value());
    CHECK(*out ==
          " {\"a\": [1, {\"model\": \"inner\"}, \"]}\\\"\"],\"model\" :\t\"anthropic-y\","
          "\"n\":-1.50e2,\"s\":\"\\u00e9 \\\"q\\\" é\",\"stream\":false,\"z\":{}} \n");
    // Changed, left out (the first, a middle one, the last) and added, as the parsed value
    // edited would be.
    const auto edited = edit_members_text(
        text, {{"model", "7"}, {"a", std::nullopt}, {"stream", std::nullopt}, {"z", std::nullopt}, {"new", "[true]"}});
    REQUIRE(edited.has_value());
    json expected = json::parse(text);
    expected["model"] = 7;
    expected.erase("a");
    expected.erase("stream");
    expected.erase("z");
    expected["new"] = json::array({true});
    CHECK(json::parse(*edited) == expected);
    CHECK(edit_members_text(R"({"model":12.5e3})", {{"model", "null"}}) == R"({"model":null})");
    CHECK(edit_members_text(R"({"x":1,"model":{"a":[{}]}})", {{"model", "2"}, {"gone", std::nullopt}}) ==
          R"({"x":1,"model":2})");
    CHECK(edit_members_text(R"({"model":1})", {{"model", std::nullopt}}) == "{}");
    // What it will not vouch for: the caller writes the parsed value instead.
    for (const char* refused : {
             R"({"m\u006fdel":"escaped"})",      // an escaped name
             R"({"model":"a","model":"b"})",     // named twice
             R"({"model":"a","x":1,"x":2})",     // another named twice
             R"(["model"])",                     // not an object
             "\xEF\xBB\xBF{\"model\":\"bom\"}",  // a byte order mark
             R"({})",                            // no members
         }) {
        CAPTURE(refused);
        CHECK_FALSE(edit_members_text(refused, {{"model", R"("y")"}}).has_value());
    }
    // Every prefix of a valid body is refused, never read past its end.
    const std::string body = R"({"model":"m","messages":[{"role":"user","content":"a\"b\\"}],"max_tokens":5})";
    for (std::size_t n = 0; n < body.size(); ++n) {
        CHECK_FALSE(edit_members_text(body.substr(0, n), {{"model", "1"}}).has_value());
    }
    CHECK(edit_members_text(body, {{"model", "1"}}).has_value());
}

TEST_CASE("dump_json_with writes the object as if the member were set first, without copying it")
{
    const json request = json::parse(R"({"max_tokens":5,"messages":[{"role":"user","content":"h\u00e9\n"}],)"
                                     R"("model":"alias","stream":true,"z":{"model":"inner"}})");
    const json model("claude-sonnet-4-5 \"x\" é");
    // Replaced in place, added in its sorted place (first, middle, last), or the only member.
    for (const std::string key : {"model", "a", "n", "zz", "stream", ""}) {
        json set = request;
        set[key] = model;
        CAPTURE(key);
        CHECK(dump_json_with(request, key, model) == nlohmann_dump(set));
    }
    json one;
    one["model"] = model;
    CHECK(dump_json_with(json::object(), "model", model) == nlohmann_dump(one));
    CHECK(dump_json_with(json::object({{"\xff", 1}}), "\xC3", nullptr) ==
          nlohmann_dump(json::object({{"\xff", 1}, {"\xC3", nullptr}})));
    // Not an object: written as it is.
    CHECK(dump_json_with(json::array({1}), "model", model) == "[1]");
}

TEST_CASE("text written by append_json reads back the same")
{
    std::mt19937 rng(7);
    const std::string pieces[] = {"a", "é", "\n", "\"", "\\", "\x01", "\xF0\x9F\x98\x80", " ", "0", "\x7f"};
    for (int round = 0; round < 200; ++round) {
        json doc = json::object();
        for (int m = 0; m < 8; ++m) {
            std::string s;
            const int len = static_cast<int>(rng() % 40);
            for (int k = 0; k < len; ++k) {
                s += pieces[rng() % std::size(pieces)];
            }
            doc[s] = json::array({s, static_cast<std::int64_t>(rng()) - (1LL << 31), rng() % 1000 / 7.0});
        }
        std::string text;
        append_json(text, doc);
        const auto back = read_json(text);
        REQUIRE(back.has_value());
        CHECK(aigw::test::same_json(*back, json::parse(text)));
        CHECK(*back == doc);
    }
}

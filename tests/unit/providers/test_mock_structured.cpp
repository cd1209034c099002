// The mock provider answers what structured-output clients rely on: JSON that validates
// against a json_schema, a forced tool_choice, tool arguments that fit the tool's schema,
// an llm-rubric verdict, and streamed text that never splits a UTF-8 character.

#include "daemon/providers/anthropic/anthropic_surface.hpp"
#include "daemon/providers/mock/mock.hpp"
#include "daemon/providers/mock/schema_value.hpp"
#include "shared/wire/utf8.hpp"

#include <doctest/doctest.h>

#include <cmath>
#include <regex>
#include <set>
#include <string>

using nlohmann::json;
namespace p = aigw::daemon::providers;

namespace {

/// A small JSON Schema validator, independent of the generator: the keywords
/// value_for_schema claims to honour. Returns "" when `v` validates, else where and why not.
class Validator {
public:
    explicit Validator(const json& root) : m_root(root) {}

    std::string check(const json& v, const json& s, const std::string& at = "$", int depth = 0) const
    {
        if (depth > 64) {
            return at + ": schema too deep";
        }
        if (s.is_boolean()) {
            return s.get<bool>() ? "" : at + ": schema false";
        }
        if (!s.is_object()) {
            return "";
        }
        if (auto r = s.find("$ref"); r != s.end()) {
            const json& target = m_root.at(json::json_pointer(r->get<std::string>().substr(1)));
            if (auto e = check(v, target, at, depth + 1); !e.empty()) {
                return e;
            }
        }
        if (auto t = s.find("type"); t != s.end()) {
            bool ok = false;
            for (const auto& name : t->is_array() ? *t : json::array({*t})) {
                ok = ok || is_type(v, name.get<std::string>());
            }
            if (!ok) {
                return at + ": " + v.dump() + " is not of type " + t->dump();
            }
        }
        if (v.is_null() && s.value("nullable", false)) {
            return "";
        }
        if (auto c = s.find("const"); c != s.end() && *c != v) {
            return at + ": not the const " + c->dump();
        }
        if (auto e = s.find("enum"); e != s.end() && std::find(e->begin(), e->end(), v) == e->end()) {
            return at + ": " + v.dump() + " not in enum";
        }
        if (auto all = s.find("allOf"); all != s.end()) {
            for (const auto& b : *all) {
                if (auto e = check(v, b, at, depth + 1); !e.empty()) {
                    return e;
                }
            }
        }
        if (auto any = s.find("anyOf"); any != s.end()) {
            int n = 0;
            for (const auto& b : *any) {
                n += check(v, b, at, depth + 1).empty() ? 1 : 0;
            }
            if (n == 0) {
                return at + ": no anyOf branch matches";
            }
        }
        if (auto one = s.find("oneOf"); one != s.end()) {
            int n = 0;
            for (const auto& b : *one) {
                n += check(v, b, at, depth + 1).empty() ? 1 : 0;
            }
            if (n != 1) {
                return at + ": " + std::to_string(n) + " oneOf branches match";
            }
        }
        if (v.is_object()) {
            return check_object(v, s, at, depth);
        }
        if (v.is_array()) {
            return check_array(v, s, at, depth);
        }
        if (v.is_string()) {
            return check_string(v.get<std::string>(), s, at);
        }
        if (v.is_number()) {
            return check_number(v.get<double>(), s, at);
        }
        return "";
    }

private:
    static bool is_type(const json& v, const std::string& t)
    {
        if (t == "integer") {
            return v.is_number_integer() || (v.is_number_float() && std::floor(v.get<double>()) == v.get<double>());
        }
        return (t == "object" && v.is_object()) || (t == "array" && v.is_array()) || (t == "string" && v.is_string()) ||
               (t == "number" && v.is_number()) || (t == "boolean" && v.is_boolean()) || (t == "null" && v.is_null());
    }

    std::string check_object(const json& v, const json& s, const std::string& at, int depth) const
    {
        for (const auto& r : s.value("required", json::array())) {
            if (!v.contains(r.get<std::string>())) {
                return at + ": missing required " + r.get<std::string>();
            }
        }
        const json props = s.value("properties", json::object());
        for (const auto& [k, x] : v.items()) {
            if (props.contains(k)) {
                if (auto e = check(x, props[k], at + "." + k, depth + 1); !e.empty()) {
                    return e;
                }
            } else if (auto ap = s.find("additionalProperties"); ap != s.end()) {
                if (auto e = check(x, *ap, at + "." + k, depth + 1); !e.empty()) {
                    return e;
                }
            }
        }
        if (s.contains("minProperties") && v.size() < s["minProperties"].get<std::size_t>()) {
            return at + ": fewer than minProperties";
        }
        if (s.contains("maxProperties") && v.size() > s["maxProperties"].get<std::size_t>()) {
            return at + ": more than maxProperties";
        }
        return "";
    }

    std::string check_array(const json& v, const json& s, const std::string& at, int depth) const
    {
        if (s.contains("minItems") && v.size() < s["minItems"].get<std::size_t>()) {
            return at + ": fewer than minItems";
        }
        if (s.contains("maxItems") && v.size() > s["maxItems"].get<std::size_t>()) {
            return at + ": more than maxItems";
        }
        const json prefix = s.value("prefixItems", json::array());
        for (std::size_t i = 0; i < v.size(); ++i) {
            const json& item_schema = i < prefix.size() ? prefix[i] : s.value("items", json::object());
            if (auto e = check(v[i], item_schema, at + "[" + std::to_string(i) + "]", depth + 1); !e.empty()) {
                return e;
            }
        }
        if (s.value("uniqueItems", false)) {
            std::set<std::string> seen;
            for (const auto& x : v) {
                if (!seen.insert(x.dump()).second) {
                    return at + ": items not unique";
                }
            }
        }
        return "";
    }

    static std::string check_string(const std::string& v, const json& s, const std::string& at)
    {
        std::size_t len = 0;
        for (unsigned char c : v) {
            len += (c & 0xC0) != 0x80 ? 1 : 0;
        }
        if (s.contains("minLength") && len < s["minLength"].get<std::size_t>()) {
            return at + ": shorter than minLength";
        }
        if (s.contains("maxLength") && len > s["maxLength"].get<std::size_t>()) {
            return at + ": longer than maxLength";
        }
        if (auto pat = s.find("pattern");
            pat != s.end() && !std::regex_search(v, std::regex(pat->get<std::string>()))) {
            return at + ": " + v + " does not match " + pat->get<std::string>();
        }
        static const std::pair<const char*, const char*> k_formats[] = {
            {"date-time", R"(^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$)"},
            {"date", R"(^\d{4}-\d\d-\d\d$)"},
            {"email", R"(^[^@\s]+@[^@\s]+\.[^@\s]+$)"},
            {"uri", R"(^[a-zA-Z][a-zA-Z0-9+.-]*:\S+$)"},
            {"uuid", R"(^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$)"},
            {"ipv4", R"(^(\d{1,3}\.){3}\d{1,3}$)"},
        };
        for (const auto& [name, re] : k_formats) {
            if (s.value("format", "") == name && !std::regex_search(v, std::regex(re))) {
                return at + ": " + v + " is not a " + name;
            }
        }
        return "";
    }

    static std::string check_number(double v, const json& s, const std::string& at)
    {
        auto num = [&](const char* k) { return s.contains(k) && s[k].is_number(); };
        if (num("minimum") && v < s["minimum"].get<double>()) {
            return at + ": below minimum";
        }
        if (num("maximum") && v > s["maximum"].get<double>()) {
            return at + ": above maximum";
        }
        if (num("exclusiveMinimum") && v <= s["exclusiveMinimum"].get<double>()) {
            return at + ": not above exclusiveMinimum";
        }
        if (num("exclusiveMaximum") && v >= s["exclusiveMaximum"].get<double>()) {
            return at + ": not below exclusiveMaximum";
        }
        if (s.value("exclusiveMinimum", json(false)) == true && v <= s["minimum"].get<double>()) {
            return at + ": not above the exclusive minimum (draft 4)";
        }
        if (num("multipleOf")) {
            const double q = v / s["multipleOf"].get<double>();
            if (std::abs(q - std::round(q)) > 1e-9) {
                return at + ": not a multiple of " + s["multipleOf"].dump();
            }
        }
        return "";
    }

    const json& m_root;
};

std::string violation(const json& value, const json& schema)
{
    return Validator(schema).check(value, schema);
}

json chat(json messages, json extra = json::object())
{
    json req = {{"model", "mock/echo"}, {"messages", std::move(messages)}};
    req.update(extra);
    return req;
}

json user(std::string text)
{
    return json::array({{{"role", "user"}, {"content", std::move(text)}}});
}

const json& message_of(const json& body)
{
    return body["choices"][0]["message"];
}

}  // namespace

TEST_CASE("value_for_schema makes a value that validates, for every keyword structured outputs use")
{
    const json schemas = json::array({
        json::parse(R"({"type":"object","properties":{"name":{"type":"string"},"age":{"type":"integer","minimum":18,
            "maximum":99},"email":{"type":"string","format":"email"}},"required":["name","age"],
            "additionalProperties":false})"),
        json::parse(R"({"type":"array","items":{"type":"string","enum":["red","green","blue"]},"minItems":3,
            "uniqueItems":true})"),
        json::parse(R"({"type":"object","properties":{"when":{"type":"string","format":"date-time"},
            "day":{"type":"string","format":"date"},"id":{"type":"string","format":"uuid"},
            "site":{"type":"string","format":"uri"},"ip":{"type":"string","format":"ipv4"}},
            "required":["when","day","id","site","ip"]})"),
        json::parse(R"({"type":"object","properties":{"price":{"type":"number","exclusiveMinimum":0,
            "exclusiveMaximum":1},"count":{"type":"integer","exclusiveMinimum":5,"multipleOf":4},
            "neg":{"type":"integer","maximum":-3},"legacy":{"type":"number","minimum":2,"exclusiveMinimum":true},
            "step":{"type":"number","minimum":0.3,"multipleOf":0.25}},
            "required":["price","count","neg","legacy","step"]})"),
        json::parse(R"({"type":"object","properties":{"kind":{"const":"circle"},"r":{"type":["number","null"]},
            "note":{"type":"string","nullable":true},"tag":{"anyOf":[{"type":"null"},{"type":"string",
            "minLength":12}]},"pick":{"oneOf":[{"type":"integer"},{"type":"string"}]}},
            "required":["kind","r","note","tag","pick"]})"),
        json::parse(R"({"$defs":{"step":{"type":"object","properties":{"title":{"type":"string","maxLength":3},
            "sub":{"type":"array","items":{"$ref":"#/$defs/step"}}},"required":["title","sub"]}},
            "type":"object","properties":{"steps":{"type":"array","items":{"$ref":"#/$defs/step"},"minItems":2}},
            "required":["steps"]})"),
        json::parse(R"({"definitions":{"pt":{"type":"object","properties":{"x":{"type":"number"},
            "y":{"type":"number"}},"required":["x","y"]}},"type":"object","properties":{"a":{"$ref":"#/definitions/pt"},
            "both":{"allOf":[{"$ref":"#/definitions/pt"},{"properties":{"z":{"type":"boolean"}},"required":["z"]}]}},
            "required":["a","both"]})"),
        json::parse(R"({"type":"object","properties":{"code":{"type":"string","pattern":"^[A-Z]{3}$"},
            "digits":{"type":"string","pattern":"^[0-9]+$"},"long":{"type":"string","minLength":40},
            "pair":{"type":"array","prefixItems":[{"type":"string"},{"type":"integer"}],"minItems":2,"maxItems":2}},
            "required":["code","digits","long","pair"]})"),
        json::parse(R"({"type":"object","minProperties":3,"additionalProperties":{"type":"integer"}})"),
        json::parse(R"({"type":"object","properties":{"a":{"type":"string"},"b":{"type":"string"},
            "c":{"type":"string"}},"required":["c"],"maxProperties":2})"),
        json::parse(R"({"type":"string","enum":["only"]})"),
        json::parse(R"({"type":["null","boolean"]})"),
    });
    for (const auto& schema : schemas) {
        CAPTURE(schema.dump());
        const json v = p::mock::value_for_schema(schema);
        CAPTURE(v.dump());
        CHECK(violation(v, schema) == "");
        CHECK(p::mock::value_for_schema(schema) == v);  // deterministic
    }
    // The values themselves are the plain ones a reader expects.
    CHECK(p::mock::value_for_schema(schemas[0])["age"] == 18);
    CHECK(p::mock::value_for_schema(schemas[1]) == json({"red", "green", "blue"}));
    CHECK(p::mock::value_for_schema(schemas[4])["kind"] == "circle");
    CHECK(p::mock::value_for_schema(schemas[7])["code"] == "ABC");
}

TEST_CASE("value_for_schema puts the prompt in the first free-form string, within maxLength")
{
    const json schema = json::parse(R"({"type":"object","properties":{"unit":{"type":"string","enum":["c","f"]},
        "city":{"type":"string","maxLength":5}},"required":["unit","city"]})");
    const json v = p::mock::value_for_schema(schema, "Zürich is nice");
    CHECK(v["city"] == "Züric");
    CHECK(v["unit"] == "c");
    CHECK(violation(v, schema) == "");
}

TEST_CASE("a json_schema response_format gets JSON that validates, whole and streamed")
{
    const json schema = json::parse(R"({"type":"object","properties":{"title":{"type":"string"},
        "tags":{"type":"array","items":{"type":"string"},"minItems":2},"rating":{"type":"integer","minimum":1,
        "maximum":5}},"required":["title","tags","rating"],"additionalProperties":false})");
    const json req =
        chat(user("Describe a film"),
             {{"response_format", {{"type", "json_schema"}, {"json_schema", {{"name", "film"}, {"schema", schema}}}}}});
    const json body = p::mock::complete(req, "echo", "r", 0).body;
    const json answer = json::parse(message_of(body)["content"].get<std::string>());
    CHECK(violation(answer, schema) == "");
    CHECK(answer["title"] == "Mock answer from mock/echo: Describe a film");
    std::string streamed;
    for (const auto& c : p::mock::stream_chunks(req, "echo", "r", 0)) {
        if (!c["choices"].empty()) {
            streamed += c["choices"][0]["delta"].value("content", "");
        }
    }
    CHECK(streamed == message_of(body)["content"]);
    CHECK(p::mock::complete(req, "echo", "r", 0).body == body);

    // json_object, and a schema that allows any object, keep the {"answer": ...} shape.
    const json obj =
        p::mock::complete(chat(user("hi"), {{"response_format", {{"type", "json_object"}}}}), "echo", "r", 0).body;
    CHECK(json::parse(message_of(obj)["content"].get<std::string>()) ==
          json({{"answer", "Mock answer from mock/echo: hi"}}));
}

TEST_CASE("Anthropic structured output (output_config.format, output_format) reaches the mock as response_format")
{
    const json schema = json::parse(R"({"type":"object","properties":{"ok":{"type":"boolean"}},"required":["ok"]})");
    for (const json& req : {json({{"model", "mock/echo"},
                                  {"max_tokens", 64},
                                  {"messages", user("x")},
                                  {"output_config", {{"format", {{"type", "json_schema"}, {"schema", schema}}}}}}),
                            json({{"model", "mock/echo"},
                                  {"max_tokens", 64},
                                  {"messages", user("x")},
                                  {"output_format", {{"type", "json_schema"}, {"schema", schema}}}})}) {
        auto canonical = p::anthropic_request_to_canonical(req);
        REQUIRE(canonical.has_value());
        CHECK((*canonical)["response_format"]["json_schema"]["schema"] == schema);
        const json body = p::mock::complete(*canonical, "echo", "r", 0).body;
        CHECK(json::parse(message_of(body)["content"].get<std::string>()) == json({{"ok", true}}));
    }
}

TEST_CASE("a forced tool_choice is obeyed and the arguments validate against the tool's parameters")
{
    const json weather = json::parse(R"({"type":"object","properties":{"city":{"type":"string"},
        "unit":{"type":"string","enum":["celsius","fahrenheit"]},"days":{"type":"integer","minimum":1,"maximum":7}},
        "required":["city","unit"],"additionalProperties":false})");
    const json search = json::parse(R"({"type":"object","properties":{"q":{"type":"string","minLength":1}},
        "required":["q"]})");
    const json tools = {{{"type", "function"}, {"function", {{"name", "search"}, {"parameters", search}}}},
                        {{"type", "function"}, {"function", {{"name", "get_weather"}, {"parameters", weather}}}}};
    auto call_of = [](const json& req) {
        const json body = p::mock::complete(req, "echo", "r", 0).body;
        CHECK(body["choices"][0]["finish_reason"] == "tool_calls");
        return message_of(body)["tool_calls"][0]["function"];
    };

    SUBCASE("a named function")
    {
        const json req =
            chat(user("How warm is Oslo?"),
                 {{"tools", tools}, {"tool_choice", {{"type", "function"}, {"function", {{"name", "get_weather"}}}}}});
        const json fn = call_of(req);
        CHECK(fn["name"] == "get_weather");
        const json args = json::parse(fn["arguments"].get<std::string>());
        CHECK(violation(args, weather) == "");
        CHECK(args["city"] == "How warm is Oslo?");
        CHECK(args["unit"] == "celsius");
        // Streamed, the same call in pieces that are each valid UTF-8.
        std::string streamed;
        for (const auto& c : p::mock::stream_chunks(req, "echo", "r", 0)) {
            if (!c["choices"].empty() && c["choices"][0]["delta"].contains("tool_calls")) {
                std::string piece = c["choices"][0]["delta"]["tool_calls"][0]["function"].value("arguments", "");
                CHECK(aigw::wire::is_valid_utf8(piece));
                streamed += piece;
            }
        }
        CHECK(json::parse(streamed) == args);
    }
    SUBCASE("required: the first tool when the prompt names none, the named one when it does")
    {
        const json first = call_of(chat(user("anything"), {{"tools", tools}, {"tool_choice", "required"}}));
        CHECK(first["name"] == "search");
        CHECK(violation(json::parse(first["arguments"].get<std::string>()), search) == "");
        CHECK(call_of(chat(user("use get_weather"), {{"tools", tools}, {"tool_choice", "required"}}))["name"] ==
              "get_weather");
    }
    SUBCASE("none and auto")
    {
        const json none = p::mock::complete(chat(user("use get_weather"), {{"tools", tools}, {"tool_choice", "none"}}),
                                            "echo", "r", 0)
                              .body;
        CHECK(message_of(none)["content"] == "Mock answer from mock/echo: use get_weather");
        const json plain = p::mock::complete(chat(user("hello"), {{"tools", tools}}), "echo", "r", 0).body;
        CHECK(plain["choices"][0]["finish_reason"] == "stop");
        // After the tool's result, auto answers in text instead of calling again.
        json convo = user("use get_weather");
        convo.push_back({{"role", "assistant"},
                         {"content", nullptr},
                         {"tool_calls",
                          {{{"id", "call_mock_0"},
                            {"type", "function"},
                            {"function", {{"name", "get_weather"}, {"arguments", "{}"}}}}}}});
        convo.push_back({{"role", "tool"}, {"tool_call_id", "call_mock_0"}, {"content", "sunny"}});
        const json done = p::mock::complete(chat(convo, {{"tools", tools}}), "echo", "r", 0).body;
        CHECK(done["choices"][0]["finish_reason"] == "stop");
    }
    SUBCASE("a tool without declared properties still gets {query}")
    {
        const json loose = {
            {{"type", "function"}, {"function", {{"name", "lookup"}, {"parameters", {{"type", "object"}}}}}}};
        const json fn = call_of(chat(user("call lookup"), {{"tools", loose}}));
        CHECK(json::parse(fn["arguments"].get<std::string>()) == json({{"query", "call lookup"}}));
    }
}

TEST_CASE("an Anthropic forced tool reaches the mock as a forced tool_choice")
{
    const json req = json::parse(R"({"model":"mock/echo","max_tokens":64,"messages":[{"role":"user","content":"hi"}],
        "tools":[{"name":"a","input_schema":{"type":"object"}},{"name":"b","input_schema":{"type":"object",
        "properties":{"n":{"type":"integer","minimum":3}},"required":["n"]}}],"tool_choice":{"type":"tool","name":"b"}})");
    auto canonical = p::anthropic_request_to_canonical(req);
    REQUIRE(canonical.has_value());
    const json fn = message_of(p::mock::complete(*canonical, "echo", "r", 0).body)["tool_calls"][0]["function"];
    CHECK(fn["name"] == "b");
    CHECK(json::parse(fn["arguments"].get<std::string>()) == json({{"n", 3}}));
}

TEST_CASE("an llm-rubric judge prompt gets a {reason, pass, score} verdict")
{
    // promptfoo 0.120's DEFAULT_GRADING_PROMPT, as its llm-rubric grader sends it.
    const std::string system =
        "You are grading output according to a user-specified rubric. If the statement in the rubric is true, then "
        "the output passes the test. You respond with a JSON object with this structure: {reason: string, pass: "
        "boolean, score: number}\n\nExamples:\n\n<Output>Hello world</Output>\n<Rubric>Content contains a "
        "greeting</Rubric>\n{\"reason\": \"the content contains the word 'Hello'\", \"pass\": true, \"score\": 1.0}";
    auto judge = [&](const std::string& output) {
        json msgs = {
            {{"role", "system"}, {"content", system}},
            {{"role", "user"}, {"content", "<Output>\n" + output + "\n</Output>\n<Rubric>\nIs polite\n</Rubric>"}}};
        const json body = p::mock::complete(chat(msgs), "judge", "r", 0).body;
        return json::parse(message_of(body)["content"].get<std::string>());
    };
    const json ok = judge("Mock answer from mock/a: thank you kindly");
    CHECK(ok["pass"] == true);
    CHECK(ok["score"] == 1.0);
    CHECK(ok["reason"].get<std::string>().find("Is polite") != std::string::npos);
    const json bad = judge("Mock answer from mock/a: FAIL please");
    CHECK(bad["pass"] == false);
    CHECK(bad["score"] == 0.0);
    CHECK(bad["reason"].get<std::string>().find("FAIL") != std::string::npos);
    CHECK(judge("  ")["pass"] == false);
    CHECK(judge("FAILURE is a word, not the verdict")["pass"] == true);
    // Deterministic, and a plain prompt that mentions a rubric is not a judge prompt.
    CHECK(judge("fine") == judge("fine"));
    CHECK_FALSE(p::mock::judge_verdict(chat(user("what is a rubric?"))).has_value());
}

TEST_CASE("streamed mock text never splits a UTF-8 character and adds up to the whole answer")
{
    for (const std::string text : {"日本語のテキストはスペースなしで長く続きますがストリームでも壊れません",
                                   "emoji 😀😀😀😀😀😀😀😀😀😀😀😀 and é à ü ß in words",
                                   "ééééééééééééééééééééééééééééééééééééééééééé", "plain words stay one per chunk"}) {
        CAPTURE(text);
        const json req = chat(user(text));
        const std::string whole = message_of(p::mock::complete(req, "echo", "r", 0).body)["content"];
        std::string joined;
        std::size_t pieces = 0;
        for (const auto& c : p::mock::stream_chunks(req, "echo", "r", 0)) {
            if (c["choices"].empty()) {
                continue;
            }
            const std::string piece = c["choices"][0]["delta"].value("content", "");
            CHECK(aigw::wire::is_valid_utf8(piece));
            CHECK(piece.size() <= 24);
            pieces += piece.empty() ? 0 : 1;
            joined += piece;
        }
        CHECK(joined == whole);
        CHECK(pieces > 4);
    }
}

TEST_CASE("the validator these tests use rejects values that do not fit")
{
    const json schema = json::parse(R"({"type":"object","properties":{"n":{"type":"integer","exclusiveMinimum":1},
        "e":{"type":"string","format":"email"},"a":{"type":"array","minItems":2,"uniqueItems":true},
        "r":{"$ref":"#/$defs/s"}},"required":["n"],"$defs":{"s":{"type":"string","maxLength":2}}})");
    CHECK(violation(json::parse(R"({"n":2})"), schema) == "");
    CHECK(violation(json::parse(R"({})"), schema) != "");
    CHECK(violation(json::parse(R"({"n":1})"), schema) != "");
    CHECK(violation(json::parse(R"({"n":1.5})"), schema) != "");
    CHECK(violation(json::parse(R"({"n":2,"e":"nope"})"), schema) != "");
    CHECK(violation(json::parse(R"({"n":2,"a":[1,1]})"), schema) != "");
    CHECK(violation(json::parse(R"({"n":2,"r":"abc"})"), schema) != "");
}

TEST_CASE("a hostile schema gets a bounded value, not gigabytes or a crash")
{
    const json nested = json::parse(R"({"type":"array","minItems":1000000,"items":{"type":"array","minItems":1000000,
        "items":{"type":"string","minLength":1000000}}})");
    const json v = p::mock::value_for_schema(nested);
    CHECK(v.dump().size() < 16'000'000);
    // Every property a $ref to the same wide object: exponential if nothing stopped it.
    json wide = {{"$defs", {{"w", {{"type", "object"}, {"properties", json::object()}}}}}, {"$ref", "#/$defs/w"}};
    for (const char* name : {"a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k", "l"}) {
        wide["$defs"]["w"]["properties"][name] = {{"$ref", "#/$defs/w"}};
    }
    CHECK(p::mock::value_for_schema(wide).dump().size() < 16'000'000);
    CHECK(p::mock::value_for_schema(json::parse(R"({"$ref":"#/nowhere"})")).is_string());
    CHECK(p::mock::value_for_schema(json::parse(R"({"type":"string","pattern":"(a*)*b"})")).is_string());
}

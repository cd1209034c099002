#include "cli/eval_assert.hpp"
#include "cli/term.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <regex>

namespace aigw::cli {

namespace {

std::string text_of(const nlohmann::json& v, const nlohmann::json& vars)
{
    if (v.is_string()) {
        return render_template(v.get<std::string>(), vars);
    }
    return v.is_null() ? "" : v.dump();
}

/// A list value: an array, or a comma-separated string (promptfoo's shorthand).
std::vector<std::string> list_of(const nlohmann::json& v, const nlohmann::json& vars)
{
    std::vector<std::string> out;
    if (v.is_array()) {
        for (const auto& x : v) {
            out.push_back(text_of(x, vars));
        }
        return out;
    }
    const std::string s = text_of(v, vars);
    std::size_t start = 0;
    while (start <= s.size()) {
        const auto comma = s.find(',', start);
        std::string item = s.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
        const auto b = item.find_first_not_of(" \t");
        const auto e = item.find_last_not_of(" \t");
        if (b != std::string::npos) {
            out.push_back(item.substr(b, e - b + 1));
        }
        if (comma == std::string::npos) {
            break;
        }
        start = comma + 1;
    }
    return out;
}

std::string fmt(double v, int decimals)
{
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
    return buf;
}

AssertResult result(bool pass, std::string reason)
{
    return {pass, pass ? 1.0 : 0.0, std::move(reason)};
}

// Position of the end of the JSON value starting at text[start] ('{' or '['), by bracket
// counting outside strings; npos when unbalanced.
std::size_t balanced_end(std::string_view text, std::size_t start)
{
    int depth = 0;
    bool in_string = false;
    for (std::size_t i = start; i < text.size(); ++i) {
        const char c = text[i];
        if (in_string) {
            if (c == '\\') {
                ++i;
            } else if (c == '"') {
                in_string = false;
            }
            continue;
        }
        if (c == '"') {
            in_string = true;
        } else if (c == '{' || c == '[') {
            ++depth;
        } else if (c == '}' || c == ']') {
            if (--depth == 0) {
                return i;
            }
        }
    }
    return std::string_view::npos;
}

AssertResult check_tools_call(const std::string& output, const nlohmann::json& tools)
{
    nlohmann::json calls = nlohmann::json::parse(output, nullptr, false);
    if (calls.is_object() && calls.contains("tool_calls")) {
        calls = calls["tool_calls"];
    }
    if (calls.is_discarded() || !calls.is_array() || calls.empty()) {
        return result(false, "the output is not a list of tool calls");
    }
    for (const auto& call : calls) {
        const auto& fn = call.value("function", nlohmann::json());
        if (!call.is_object() || call.value("type", "function") != "function" || !fn.is_object() ||
            !fn.contains("name") || !fn["name"].is_string()) {
            return result(false, "a tool call without type function and a function name: " + call.dump());
        }
        const std::string name = fn["name"].get<std::string>();
        const std::string args_text = fn.value("arguments", std::string("{}"));
        const nlohmann::json args = nlohmann::json::parse(args_text, nullptr, false);
        if (args.is_discarded() || !args.is_object()) {
            return result(false, "the arguments of " + name + " are not a JSON object: " + args_text);
        }
        if (tools.is_array()) {
            const nlohmann::json* spec = nullptr;
            for (const auto& t : tools) {
                if (t.contains("function") && t["function"].value("name", "") == name) {
                    spec = &t["function"];
                }
            }
            if (spec == nullptr) {
                return result(false, "the model called " + name + ", which is not among the tools offered");
            }
            if (spec->contains("parameters")) {
                if (auto why = schema_violation(args, (*spec)["parameters"]); !why.empty()) {
                    return result(false, "the arguments of " + name + " do not match its parameters: " + why);
                }
            }
        }
    }
    return result(true, "valid tool calls");
}

bool type_matches(const nlohmann::json& v, const std::string& type)
{
    if (type == "object") {
        return v.is_object();
    }
    if (type == "array") {
        return v.is_array();
    }
    if (type == "string") {
        return v.is_string();
    }
    if (type == "integer") {
        return v.is_number_integer() || (v.is_number_float() && std::floor(v.get<double>()) == v.get<double>());
    }
    if (type == "number") {
        return v.is_number();
    }
    if (type == "boolean") {
        return v.is_boolean();
    }
    if (type == "null") {
        return v.is_null();
    }
    return true;
}

}  // namespace

std::vector<nlohmann::json> json_values_in(std::string_view text)
{
    std::vector<nlohmann::json> out;
    std::size_t i = 0;
    while (i < text.size()) {
        const auto start = text.find_first_of("{[", i);
        if (start == std::string_view::npos) {
            break;
        }
        const auto end = balanced_end(text, start);
        if (end != std::string_view::npos) {
            auto j = nlohmann::json::parse(text.substr(start, end - start + 1), nullptr, false);
            if (!j.is_discarded()) {
                out.push_back(std::move(j));
                i = end + 1;
                continue;
            }
        }
        i = start + 1;
    }
    return out;
}

std::string schema_violation(const nlohmann::json& value, const nlohmann::json& schema, const std::string& path)
{
    if (!schema.is_object()) {
        return "";
    }
    if (auto t = schema.find("type"); t != schema.end()) {
        bool ok = false;
        if (t->is_string()) {
            ok = type_matches(value, t->get<std::string>());
        } else if (t->is_array()) {
            ok = std::any_of(t->begin(), t->end(), [&](const nlohmann::json& x) {
                return x.is_string() && type_matches(value, x.get<std::string>());
            });
        } else {
            ok = true;
        }
        if (!ok) {
            return path + " should be " + t->dump();
        }
    }
    if (auto e = schema.find("enum"); e != schema.end() && e->is_array()) {
        if (std::find(e->begin(), e->end(), value) == e->end()) {
            return path + " should be one of " + e->dump();
        }
    }
    if (auto c = schema.find("const"); c != schema.end() && *c != value) {
        return path + " should be " + c->dump();
    }
    if (value.is_number()) {
        if (auto m = schema.find("minimum");
            m != schema.end() && m->is_number() && value.get<double>() < m->get<double>()) {
            return path + " should be >= " + m->dump();
        }
        if (auto m = schema.find("maximum");
            m != schema.end() && m->is_number() && value.get<double>() > m->get<double>()) {
            return path + " should be <= " + m->dump();
        }
    }
    if (value.is_string()) {
        const auto n = value.get_ref<const std::string&>().size();
        if (auto m = schema.find("minLength"); m != schema.end() && m->is_number() && n < m->get<std::size_t>()) {
            return path + " is shorter than " + m->dump();
        }
        if (auto m = schema.find("maxLength"); m != schema.end() && m->is_number() && n > m->get<std::size_t>()) {
            return path + " is longer than " + m->dump();
        }
    }
    if (value.is_object()) {
        if (auto r = schema.find("required"); r != schema.end() && r->is_array()) {
            for (const auto& key : *r) {
                if (key.is_string() && !value.contains(key.get<std::string>())) {
                    return path + " lacks required property " + key.get<std::string>();
                }
            }
        }
        const auto props = schema.find("properties");
        for (const auto& [k, v] : value.items()) {
            if (props != schema.end() && props->is_object() && props->contains(k)) {
                if (auto why = schema_violation(v, (*props)[k], path + "." + k); !why.empty()) {
                    return why;
                }
            } else if (auto ap = schema.find("additionalProperties"); ap != schema.end()) {
                if (ap->is_boolean() && !ap->get<bool>()) {
                    return path + " has unexpected property " + k;
                }
                if (auto why = schema_violation(v, *ap, path + "." + k); !why.empty()) {
                    return why;
                }
            }
        }
    }
    if (value.is_array()) {
        if (auto m = schema.find("minItems");
            m != schema.end() && m->is_number() && value.size() < m->get<std::size_t>()) {
            return path + " has fewer than " + m->dump() + " items";
        }
        if (auto m = schema.find("maxItems");
            m != schema.end() && m->is_number() && value.size() > m->get<std::size_t>()) {
            return path + " has more than " + m->dump() + " items";
        }
        if (auto items = schema.find("items"); items != schema.end()) {
            for (std::size_t i = 0; i < value.size(); ++i) {
                if (auto why = schema_violation(value[i], *items, path + "[" + std::to_string(i) + "]"); !why.empty()) {
                    return why;
                }
            }
        }
    }
    return "";
}

double cosine_similarity(const std::vector<double>& a, const std::vector<double>& b)
{
    if (a.empty() || a.size() != b.size()) {
        return 0;
    }
    double dot = 0;
    double na = 0;
    double nb = 0;
    for (std::size_t i = 0; i < a.size(); ++i) {
        dot += a[i] * b[i];
        na += a[i] * a[i];
        nb += b[i] * b[i];
    }
    return na > 0 && nb > 0 ? dot / (std::sqrt(na) * std::sqrt(nb)) : 0;
}

std::size_t levenshtein(std::string_view a, std::string_view b)
{
    std::vector<std::size_t> prev(b.size() + 1);
    std::vector<std::size_t> cur(b.size() + 1);
    for (std::size_t j = 0; j <= b.size(); ++j) {
        prev[j] = j;
    }
    for (std::size_t i = 1; i <= a.size(); ++i) {
        cur[0] = i;
        for (std::size_t j = 1; j <= b.size(); ++j) {
            cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1)});
        }
        std::swap(prev, cur);
    }
    return prev[b.size()];
}

nlohmann::json rubric_messages(const std::string& rubric, const std::string& output)
{
    const std::string system =
        "You grade an output against a rubric. The output passes when the rubric's statement is true of it. "
        "Reply with only a JSON object, no other text: {\"reason\": \"<one sentence>\", \"pass\": true or false, "
        "\"score\": <number from 0.0 to 1.0>}.";
    // The output comes first in the user message: a judge that echoes is still gradable.
    const std::string user = "<Output>\n" + output + "\n</Output>\n<Rubric>\n" + rubric + "\n</Rubric>";
    return nlohmann::json::array({{{"role", "system"}, {"content", system}}, {{"role", "user"}, {"content", user}}});
}

std::expected<Verdict, std::string> parse_verdict(std::string_view answer)
{
    for (const auto& j : json_values_in(answer)) {
        if (!j.is_object() || (!j.contains("pass") && !j.contains("score"))) {
            continue;
        }
        Verdict v;
        std::optional<bool> pass;
        if (auto p = j.find("pass"); p != j.end()) {
            if (p->is_boolean()) {
                pass = p->get<bool>();
            } else if (p->is_string()) {
                const std::string s = ascii_lower(p->get<std::string>());
                if (s == "true" || s == "pass" || s == "yes") {
                    pass = true;
                } else if (s == "false" || s == "fail" || s == "no") {
                    pass = false;
                }
            }
        }
        std::optional<double> score;
        if (auto s = j.find("score"); s != j.end() && s->is_number()) {
            score = std::clamp(s->get<double>(), 0.0, 1.0);
        }
        if (!pass && !score) {
            continue;
        }
        v.pass = pass ? *pass : *score >= 0.5;
        v.score = score ? *score : (v.pass ? 1.0 : 0.0);
        if (auto r = j.find("reason"); r != j.end() && r->is_string()) {
            v.reason = r->get<std::string>();
        }
        return v;
    }
    static const std::regex k_word(R"(\b(PASS|FAIL)\b)");
    std::optional<bool> last;
    const std::string text(answer);
    for (auto it = std::sregex_iterator(text.begin(), text.end(), k_word); it != std::sregex_iterator(); ++it) {
        last = (*it)[1].str() == "PASS";
    }
    if (last) {
        return Verdict{*last, *last ? 1.0 : 0.0, "the judge answered " + std::string(*last ? "PASS" : "FAIL")};
    }
    return std::unexpected("the judge's answer has no verdict (neither {\"pass\": ...} nor PASS/FAIL): " +
                           std::string(answer.substr(0, 200)));
}

AssertResult evaluate_assertion(const EvalAssertion& a, const AssertInput& in, const GradingServices& services)
{
    AssertResult r;
    const std::string& out = in.output;
    const std::string& t = a.type;
    if (t == "equals") {
        if (a.value.is_object() || a.value.is_array()) {
            const auto parsed = nlohmann::json::parse(out, nullptr, false);
            r = result(!parsed.is_discarded() && parsed == a.value, "expected JSON equal to " + a.value.dump());
        } else {
            const std::string want = text_of(a.value, in.vars);
            r = result(out == want, "expected exactly \"" + want + "\"");
        }
    } else if (t == "contains" || t == "icontains") {
        const std::string want = text_of(a.value, in.vars);
        const bool found = t == "contains" ? out.find(want) != std::string::npos
                                           : ascii_lower(out).find(ascii_lower(want)) != std::string::npos;
        r = result(found, "expected the output to contain \"" + want + "\"");
    } else if (t == "contains-any" || t == "icontains-any" || t == "contains-all" || t == "icontains-all") {
        const bool ci = t.starts_with("i");
        const bool all = t.ends_with("all");
        const std::string hay = ci ? ascii_lower(out) : out;
        std::vector<std::string> missing;
        std::size_t found = 0;
        const auto items = list_of(a.value, in.vars);
        for (const auto& item : items) {
            if (hay.find(ci ? ascii_lower(item) : item) != std::string::npos) {
                ++found;
            } else {
                missing.push_back(item);
            }
        }
        const bool pass = all ? missing.empty() : found > 0;
        nlohmann::json listed = all ? nlohmann::json(missing) : nlohmann::json(items);
        r = result(pass, all ? "missing " + listed.dump() : "expected one of " + listed.dump());
    } else if (t == "regex") {
        const std::string pattern = text_of(a.value, in.vars);
        try {
            r = result(std::regex_search(out, std::regex(pattern)), "expected a match of /" + pattern + "/");
        } catch (const std::regex_error& e) {
            return {false, 0, "invalid regex /" + pattern + "/: " + e.what()};
        }
    } else if (t == "starts-with") {
        const std::string want = text_of(a.value, in.vars);
        r = result(out.starts_with(want), "expected the output to start with \"" + want + "\"");
    } else if (t == "is-json" || t == "contains-json") {
        std::vector<nlohmann::json> candidates;
        if (t == "is-json") {
            auto j = nlohmann::json::parse(out, nullptr, false);
            if (!j.is_discarded()) {
                candidates.push_back(std::move(j));
            }
        } else {
            candidates = json_values_in(out);
        }
        if (candidates.empty()) {
            r = result(false, t == "is-json" ? "the output is not JSON" : "the output contains no JSON");
        } else if (a.value.is_object()) {
            std::string why;
            bool ok = false;
            for (const auto& c : candidates) {
                why = schema_violation(c, a.value);
                if (why.empty()) {
                    ok = true;
                    break;
                }
            }
            r = result(ok, ok ? "JSON matches the schema" : "JSON does not match the schema: " + why);
        } else {
            r = result(true, "valid JSON");
        }
    } else if (t == "is-valid-openai-tools-call") {
        r = check_tools_call(out, in.tools);
    } else if (t == "cost") {
        if (!a.threshold) {
            return {false, 0, "a cost assertion needs a threshold (USD)"};
        }
        r = result(in.cost_usd <= *a.threshold,
                   "cost " + fmt(in.cost_usd, 6) + " USD, threshold " + fmt(*a.threshold, 6));
    } else if (t == "latency") {
        if (!a.threshold) {
            return {false, 0, "a latency assertion needs a threshold (ms)"};
        }
        r = result(in.latency_ms <= *a.threshold, "latency " + std::to_string(static_cast<long long>(in.latency_ms)) +
                                                      " ms, threshold " +
                                                      std::to_string(static_cast<long long>(*a.threshold)));
    } else if (t == "levenshtein") {
        const std::string want = text_of(a.value, in.vars);
        const double limit = a.threshold.value_or(5);
        const auto d = static_cast<double>(levenshtein(out, want));
        r = result(d <= limit, "edit distance " + std::to_string(static_cast<long long>(d)) + ", at most " +
                                   std::to_string(static_cast<long long>(limit)));
    } else if (t == "similar") {
        const std::string model = !a.provider.empty() ? a.provider : in.embedder;
        const double threshold = a.threshold.value_or(0.75);
        if (!services.embed) {
            return {false, 0, "no embedding service"};
        }
        auto got = services.embed(model, out);
        if (!got) {
            return {false, 0, "embedding the output with " + model + " failed: " + got.error()};
        }
        double best = -1;
        for (const auto& want : list_of(a.value.is_array() ? a.value : nlohmann::json::array({a.value}), in.vars)) {
            auto ref = services.embed(model, want);
            if (!ref) {
                return {false, 0, "embedding the expected text with " + model + " failed: " + ref.error()};
            }
            best = std::max(best, cosine_similarity(*got, *ref));
        }
        r = {best >= threshold, std::max(best, 0.0), "similarity " + fmt(best, 3) + ", threshold " + fmt(threshold, 3)};
    } else if (t == "llm-rubric") {
        const std::string model = !a.provider.empty() ? a.provider : in.judge;
        if (!services.complete) {
            return {false, 0, "no judge service"};
        }
        auto answer = services.complete(model, rubric_messages(text_of(a.value, in.vars), out));
        if (!answer) {
            return {false, 0, "the judge " + model + " failed: " + answer.error()};
        }
        auto verdict = parse_verdict(*answer);
        if (!verdict) {
            return {false, 0, verdict.error()};
        }
        const bool pass = verdict->pass && (!a.threshold || verdict->score >= *a.threshold);
        r = {pass, verdict->score, (verdict->reason.empty() ? std::string("judged by ") + model : verdict->reason)};
    } else {
        return {false, 0, "assertion type '" + t + "' is not supported"};
    }
    if (a.negate) {
        r.pass = !r.pass;
        r.score = 1 - r.score;
        r.reason = "not: " + r.reason;
    }
    return r;
}

bool test_passes(const std::vector<EvalAssertion>& asserts, const std::vector<AssertResult>& results,
                 std::optional<double> threshold, double* score_out)
{
    double weighted = 0;
    double weights = 0;
    bool all = true;
    for (std::size_t i = 0; i < results.size() && i < asserts.size(); ++i) {
        weighted += results[i].score * asserts[i].weight;
        weights += asserts[i].weight;
        // A weight of 0 makes an assertion informational: it is reported, not required.
        if (!results[i].pass && asserts[i].weight > 0) {
            all = false;
        }
    }
    const double score = weights > 0 ? weighted / weights : 1.0;
    if (score_out != nullptr) {
        *score_out = score;
    }
    return threshold ? score >= *threshold : all;
}

}  // namespace aigw::cli

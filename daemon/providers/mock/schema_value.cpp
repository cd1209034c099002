#include "daemon/providers/mock/schema_value.hpp"

#include "daemon/providers/json_access.hpp"

#include <cmath>
#include <cstdint>
#include <limits>
#include <optional>
#include <regex>
#include <string>

namespace aigw::daemon::providers::mock {

namespace {

using nlohmann::json;

constexpr int k_max_depth = 24;
/// Past this depth only what is required is made: a recursive schema (a tree of steps) ends.
constexpr int k_lean_depth = 8;
/// Work allowed for one value (a unit per value made, one per byte of string): a hostile
/// schema (nested minItems, properties that $ref each other) cannot make the daemon build
/// gigabytes. Past it, the smallest value of each type.
constexpr std::int64_t k_budget = 1'000'000;
/// A pattern is tried only when it and the candidates are short: std::regex recurses.
constexpr std::size_t k_max_pattern = 256;

std::size_t code_points(std::string_view s)
{
    std::size_t n = 0;
    for (unsigned char c : s) {
        n += (c & 0xC0) != 0x80 ? 1 : 0;
    }
    return n;
}

/// The first `n` code points of `s`.
std::string first_code_points(std::string_view s, std::size_t n)
{
    std::size_t seen = 0;
    for (std::size_t i = 0; i < s.size(); ++i) {
        if ((static_cast<unsigned char>(s[i]) & 0xC0) != 0x80) {
            if (seen == n) {
                return std::string(s.substr(0, i));
            }
            ++seen;
        }
    }
    return std::string(s);
}

std::optional<double> number_at(const json& s, const char* key)
{
    const json& v = field_at(s, key);
    return v.is_number() ? std::optional<double>(v.get<double>()) : std::nullopt;
}

std::optional<std::size_t> count_at(const json& s, const char* key)
{
    const json& v = field_at(s, key);
    if (!v.is_number() || v.get<double>() < 0) {
        return std::nullopt;
    }
    return static_cast<std::size_t>(std::min(v.get<double>(), 1e5));
}

/// The type a schema asks for: its `type` (the first that is not "null" in a list), else
/// what its keywords imply, else "" (anything goes).
std::string type_of(const json& s)
{
    const json& t = field_at(s, "type");
    if (t.is_string()) {
        return t.get<std::string>();
    }
    if (t.is_array()) {
        for (const auto& x : t) {
            if (x.is_string() && x != "null") {
                return x.get<std::string>();
            }
        }
        return t.empty() ? std::string() : std::string("null");
    }
    for (const char* k : {"properties", "required", "additionalProperties", "minProperties", "maxProperties"}) {
        if (s.contains(k)) {
            return "object";
        }
    }
    for (const char* k : {"items", "prefixItems", "minItems", "maxItems", "uniqueItems"}) {
        if (s.contains(k)) {
            return "array";
        }
    }
    for (const char* k : {"minLength", "maxLength", "pattern", "format"}) {
        if (s.contains(k)) {
            return "string";
        }
    }
    for (const char* k : {"minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf"}) {
        if (s.contains(k)) {
            return "number";
        }
    }
    return {};
}

bool only_null(const json& s)
{
    const json& t = field_at(s, "type");
    return (t.is_string() && t == "null") || (t.is_array() && t.size() == 1 && t[0] == "null") ||
           (s.contains("const") && s["const"].is_null());
}

/// A string for a `format`, or "" for a format we do not know.
std::string format_value(std::string_view format)
{
    static const std::pair<std::string_view, std::string_view> k_formats[] = {
        {"date-time", "2024-01-01T00:00:00Z"},
        {"date", "2024-01-01"},
        {"time", "00:00:00Z"},
        {"email", "mock@example.com"},
        {"idn-email", "mock@example.com"},
        {"uri", "https://example.com/mock"},
        {"url", "https://example.com/mock"},
        {"iri", "https://example.com/mock"},
        {"uri-reference", "https://example.com/mock"},
        {"iri-reference", "https://example.com/mock"},
        {"uuid", "00000000-0000-4000-8000-000000000000"},
        {"hostname", "example.com"},
        {"idn-hostname", "example.com"},
        {"ipv4", "192.0.2.1"},
        {"ipv6", "2001:db8::1"},
        {"duration", "P1D"},
        {"regex", ".*"},
        {"json-pointer", "/mock"},
        {"byte", "bW9jaw=="},
    };
    for (const auto& [name, value] : k_formats) {
        if (name == format) {
            return std::string(value);
        }
    }
    return {};
}

bool matches(const std::string& pattern, const std::string& value)
{
    if (pattern.size() > k_max_pattern || value.size() > k_max_pattern) {
        return true;  // not tried: see k_max_pattern
    }
    try {
        return std::regex_search(value, std::regex(pattern, std::regex::ECMAScript));
    } catch (const std::exception&) {
        return true;  // a pattern std::regex cannot read: we cannot do better than the value we have
    }
}

class Generator {
public:
    Generator(const json& root, std::string_view fill) : m_root(root), m_fill(fill), m_fill_left(!fill.empty()) {}

    json value(const json& schema, const std::string& hint, std::size_t variant, int depth)
    {
        if (schema.is_boolean() || !schema.is_object()) {
            return "mock";  // `true` or `{}`-like: anything validates
        }
        if (depth > k_max_depth || --m_budget < 0) {
            return shallow(deref(schema));
        }
        if (const json& ref = field_at(schema, "$ref"); ref.is_string()) {
            if (const json* target = resolve(ref.get<std::string>())) {
                json merged = *target;
                for (const auto& [k, v] : schema.items()) {
                    if (k != "$ref") {
                        merged[k] = v;
                    }
                }
                if (merged.contains("$ref") && merged["$ref"] == ref) {
                    merged.erase("$ref");
                }
                return value(merged, hint, variant, depth + 1);
            }
        }
        if (const json& all = field_at(schema, "allOf"); all.is_array() && !all.empty()) {
            json merged = schema;
            merged.erase("allOf");
            for (const auto& branch : all) {
                merge_into(merged, deref(branch));
            }
            return value(merged, hint, variant, depth + 1);
        }
        if (schema.contains("const")) {
            return schema["const"];
        }
        if (const json& e = field_at(schema, "enum"); e.is_array() && !e.empty()) {
            return e[variant % e.size()];
        }
        for (const char* key : {"anyOf", "oneOf"}) {
            if (const json& branches = field_at(schema, key); branches.is_array() && !branches.empty()) {
                const json* pick = &branches[0];
                for (const auto& b : branches) {
                    if (!only_null(deref(b))) {
                        pick = &b;
                        break;
                    }
                }
                // Keywords beside anyOf (properties, a type) still apply to the branch.
                json merged = schema;
                merged.erase(key);
                merge_into(merged, deref(*pick));
                return value(merged, hint, variant, depth + 1);
            }
        }
        const std::string type = type_of(schema);
        if (type == "object") {
            return object(schema, variant, depth);
        }
        if (type == "array") {
            return array(schema, hint, depth);
        }
        if (type == "string") {
            json s = string(schema, hint, variant);
            m_budget -= static_cast<std::int64_t>(s.get_ref<const std::string&>().size());
            return s;
        }
        if (type == "integer" || type == "number") {
            return number(schema, type == "integer", variant);
        }
        if (type == "boolean") {
            return variant % 2 == 0;
        }
        if (type == "null") {
            return nullptr;
        }
        return hint.empty() ? std::string("mock") : "mock " + hint;
    }

private:
    /// The schema a "$ref" names, or null when it is not a local pointer that resolves.
    const json* resolve(const std::string& ref) const
    {
        if (ref.empty() || ref[0] != '#') {
            return nullptr;
        }
        try {
            const json::json_pointer ptr(ref.substr(1));
            return m_root.contains(ptr) ? &m_root.at(ptr) : nullptr;
        } catch (const std::exception&) {
            return nullptr;
        }
    }

    const json& deref(const json& s, int hops = 0) const
    {
        if (hops < 8 && field_at(s, "$ref").is_string()) {
            if (const json* t = resolve(s["$ref"].get<std::string>())) {
                return deref(*t, hops + 1);
            }
        }
        return s;
    }

    /// allOf: properties and required add up, other keywords of later branches win.
    static void merge_into(json& into, const json& branch)
    {
        if (!branch.is_object()) {
            return;
        }
        for (const auto& [k, v] : branch.items()) {
            if (k == "properties" && v.is_object() && field_at(into, "properties").is_object()) {
                into["properties"].update(v);
            } else if (k == "required" && v.is_array() && field_at(into, "required").is_array()) {
                for (const auto& r : v) {
                    into["required"].push_back(r);
                }
            } else {
                into[k] = v;
            }
        }
    }

    /// The smallest value of a schema's type, where recursion has to stop.
    json shallow(const json& s) const
    {
        const std::string type = type_of(s);
        const json& t = field_at(s, "type");
        if (t.is_array()) {
            for (const auto& x : t) {
                if (x == "null") {
                    return nullptr;
                }
            }
        }
        if (type == "object") {
            return json::object();
        }
        if (type == "array") {
            return json::array();
        }
        if (type == "integer" || type == "number") {
            return 0;
        }
        if (type == "boolean") {
            return false;
        }
        if (type == "string") {
            return "";
        }
        return nullptr;
    }

    bool free_form_string(const json& s) const
    {
        const json& d = deref(s);
        if (!d.is_object() || type_of(d) != "string") {
            return false;
        }
        for (const char* k : {"format", "pattern", "enum", "const", "anyOf", "oneOf", "allOf"}) {
            if (d.contains(k)) {
                return false;
            }
        }
        return true;
    }

    json object(const json& s, std::size_t variant, int depth)
    {
        const json& props = object_at(s, "properties");
        const json& extra = field_at(s, "additionalProperties");
        const json& extra_schema = extra.is_object() ? extra : json::object();
        const std::size_t max_props = count_at(s, "maxProperties").value_or(std::numeric_limits<std::size_t>::max());
        const bool top = !m_seen_object;
        m_seen_object = true;
        json out = json::object();
        auto add = [&](const std::string& name) {
            if (out.contains(name)) {
                return;
            }
            const auto p = props.find(name);
            const json& schema = p != props.end() ? *p : extra_schema;
            if (top && m_fill_left && free_form_string(schema)) {
                m_fill_left = false;
                out[name] = fit_length(deref(schema), m_fill);
                m_budget -= static_cast<std::int64_t>(m_fill.size());
                return;
            }
            out[name] = value(schema, name, variant, depth + 1);
        };
        for (const auto& r : array_at(s, "required")) {
            if (r.is_string()) {
                add(r.get<std::string>());
            }
        }
        for (const auto& [name, schema] : props.items()) {
            if (out.size() >= max_props || depth > k_lean_depth) {
                break;
            }
            add(name);
        }
        const std::size_t min_props = count_at(s, "minProperties").value_or(0);
        for (std::size_t i = 1; out.size() < min_props && !(extra.is_boolean() && !extra.get<bool>()) && i < 1000;
             ++i) {
            add("extra_" + std::to_string(i));
        }
        return out;
    }

    json array(const json& s, const std::string& hint, int depth)
    {
        const json& prefix = s.contains("prefixItems") ? array_at(s, "prefixItems") : array_at(s, "items");
        const json& items = field_at(s, "items").is_object()             ? s["items"]
                            : field_at(s, "additionalItems").is_object() ? s["additionalItems"]
                                                                         : json::object();
        std::size_t n = std::max<std::size_t>(
            {count_at(s, "minItems").value_or(0), prefix.size(), depth > k_lean_depth ? std::size_t{0} : 1});
        n = std::min(n, count_at(s, "maxItems").value_or(n));
        json out = json::array();
        for (std::size_t i = 0; i < n; ++i) {
            out.push_back(value(i < prefix.size() ? prefix[i] : items, hint, i, depth + 1));
        }
        return out;
    }

    /// `text` padded or cut to the schema's length bounds (in code points).
    static std::string fit_length(const json& s, std::string text)
    {
        const std::size_t min_len = count_at(s, "minLength").value_or(0);
        const std::size_t max_len = count_at(s, "maxLength").value_or(std::numeric_limits<std::size_t>::max());
        if (code_points(text) > max_len) {
            text = first_code_points(text, max_len);
        }
        const std::size_t have = code_points(text);
        if (have < min_len) {
            text.append(min_len - have, 'x');
        }
        return text;
    }

    static json string(const json& s, const std::string& hint, std::size_t variant)
    {
        std::string suffix;  // built in steps: g++ 12 warns falsely about " " + to_string() at -O3
        if (variant > 0) {
            suffix = " ";
            suffix += std::to_string(variant + 1);
        }
        if (std::string f = format_value(string_at(s, "format")); !f.empty()) {
            if (variant == 0) {
                return f;
            }
            // Items of a uniqueItems array differ, and still have their format.
            if (string_at(s, "format") == "email") {
                return "mock" + std::to_string(variant + 1) + "@example.com";
            }
            if (string_at(s, "format") == "uuid") {
                std::string n = std::to_string(variant);
                return f.substr(0, f.size() - n.size()) + n;
            }
            return f;
        }
        std::string base = fit_length(s, (hint.empty() ? std::string("mock") : "mock " + hint) + suffix);
        const std::string pattern = string_at(s, "pattern");
        if (pattern.empty() || matches(pattern, base)) {
            return base;
        }
        for (const char* candidate : {"mock", "a", "A", "0", "1", "abc", "ABC", "a1", "mock@example.com", "2024-01-01",
                                      "https://example.com/mock", "+10000000000", "x_y-z"}) {
            std::string c = fit_length(s, candidate);
            if (matches(pattern, c)) {
                return c;
            }
        }
        return base;
    }

    static json number(const json& s, bool integer, std::size_t variant)
    {
        std::optional<double> lo = number_at(s, "minimum");
        std::optional<double> hi = number_at(s, "maximum");
        // exclusiveMinimum is a number since draft 6, a flag on minimum in draft 4.
        std::optional<double> ex_lo = number_at(s, "exclusiveMinimum");
        std::optional<double> ex_hi = number_at(s, "exclusiveMaximum");
        if (bool_at(s, "exclusiveMinimum") && lo) {
            ex_lo = lo;
        }
        if (bool_at(s, "exclusiveMaximum") && hi) {
            ex_hi = hi;
        }
        if (ex_lo && (!lo || *ex_lo >= *lo)) {
            lo = integer ? std::floor(*ex_lo) + 1 : *ex_lo + 1;
            if (!integer && ((hi && *lo > *hi) || (ex_hi && *lo >= *ex_hi))) {
                lo = (*ex_lo + (hi ? *hi : *ex_hi)) / 2;
            }
        }
        if (ex_hi && (!hi || *ex_hi <= *hi)) {
            hi = integer ? std::ceil(*ex_hi) - 1 : *ex_hi - 1;
            if (!integer && lo && *hi < *lo) {
                hi = (*ex_hi + *lo) / 2;
            }
        }
        if (integer) {
            lo = lo ? std::optional<double>(std::ceil(*lo)) : std::nullopt;
            hi = hi ? std::optional<double>(std::floor(*hi)) : std::nullopt;
        }
        auto clamp = [&](double v) {
            if (lo && v < *lo) {
                v = *lo;
            }
            if (hi && v > *hi) {
                v = *hi;
            }
            return v;
        };
        double v = clamp(0);
        const double m = number_at(s, "multipleOf").value_or(0);
        if (m > 0) {
            v = std::ceil(v / m) * m;
            if (hi && v > *hi) {
                v = std::floor(*hi / m) * m;
            }
        }
        const double next = v + static_cast<double>(variant) * (m > 0 ? m : 1.0);
        if (variant > 0 && (!hi || next <= *hi)) {
            v = next;
        }
        if (integer && std::abs(v) < 9e15) {
            return static_cast<std::int64_t>(std::llround(v));
        }
        return v;
    }

    const json& m_root;
    std::string m_fill;
    bool m_fill_left;
    bool m_seen_object = false;
    std::int64_t m_budget = k_budget;
};

}  // namespace

nlohmann::json value_for_schema(const nlohmann::json& schema, std::string_view fill)
{
    try {
        Generator g(schema, fill);
        return g.value(schema, "", 0, 0);
    } catch (const std::exception&) {
        return json::object();  // nlohmann threw on something unforeseen: an empty object is a fair guess
    }
}

}  // namespace aigw::daemon::providers::mock

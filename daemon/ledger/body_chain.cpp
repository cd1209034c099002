#include "daemon/ledger/body_chain.hpp"

#include "shared/wire/json_text.hpp"
#include "shared/wire/utf8.hpp"

#include <nlohmann/json.hpp>
#include <openssl/evp.h>

#include <algorithm>
#include <array>
#include <optional>

namespace aigw::daemon::ledger {

namespace {

using ordered = nlohmann::ordered_json;

/// The conversation arrays a surface's body may hold, each with the keys whose value is
/// its system prompt (tried in order).
struct ConversationShape {
    std::string_view array_key;
    std::array<std::string_view, 2> system_keys;
};
constexpr std::array<ConversationShape, 3> k_shapes{{
    {"messages", {"system", ""}},                               // OpenAI chat, Anthropic messages
    {"contents", {"systemInstruction", "system_instruction"}},  // Gemini
    {"input", {"instructions", ""}},                            // OpenAI Responses
}};

/// Keys whose values are identifiers, roles, kinds or inline data, not words.
constexpr std::array<std::string_view, 20> k_unsearched_keys{
    "role",          "type",          "id",          "call_id",           "tool_call_id", "model",    "object",
    "signature",     "data",          "url",         "image_url",         "mime_type",    "mimeType", "media_type",
    "cache_control", "finish_reason", "stop_reason", "encrypted_content", "index",        "file_id"};

std::string dump(const ordered& j)
{
    // Strict: a string that is not UTF-8 throws, and the body is then stored whole.
    return j.dump();
}

bool is_conversation(const ordered& v)
{
    return v.is_array() && !v.empty() &&
           std::all_of(v.begin(), v.end(), [](const ordered& e) { return e.is_object(); });
}

void collect_text(const nlohmann::json& j, std::string& out)
{
    if (j.is_string()) {
        const auto& s = j.get_ref<const std::string&>();
        if (!s.empty() && !s.starts_with("data:")) {
            if (!out.empty()) {
                out.push_back('\n');
            }
            out += s;
        }
    } else if (j.is_array()) {
        for (const auto& e : j) {
            collect_text(e, out);
        }
    } else if (j.is_object()) {
        for (const auto& [k, v] : j.items()) {
            if (std::find(k_unsearched_keys.begin(), k_unsearched_keys.end(), k) == k_unsearched_keys.end()) {
                collect_text(v, out);
            }
        }
    }
}

/// A JSON scanner over the body's own bytes: it checks that a value is well-formed JSON
/// (strings valid UTF-8 without raw control characters, escapes and surrogate pairs well
/// formed, as nlohmann's parser requires) and says where it ends, without building or
/// re-serialising anything. Iterative, so no input can exhaust the stack.
class RawScanner {
public:
    explicit RawScanner(std::string_view text) : m_text(text) {}

    std::size_t size() const { return m_text.size(); }
    char at(std::size_t i) const { return i < m_text.size() ? m_text[i] : '\0'; }

    std::size_t skip_ws(std::size_t i) const
    {
        while (i < m_text.size() && (m_text[i] == ' ' || m_text[i] == '\n' || m_text[i] == '\r' || m_text[i] == '\t')) {
            ++i;
        }
        return i;
    }

    /// The end of the string starting at `i` (its opening quote), or npos when malformed;
    /// `escaped` is set when it holds a backslash escape.
    std::size_t skip_string(std::size_t i, bool& escaped) const
    {
        escaped = false;
        if (at(i) != '"') {
            return npos;
        }
        ++i;
        while (i < m_text.size()) {
            // Most of a body is plain ASCII text inside strings: one table look-up a byte.
            while (i < m_text.size() && k_plain[static_cast<unsigned char>(m_text[i])]) {
                ++i;
            }
            if (i >= m_text.size()) {
                break;
            }
            const auto c = static_cast<unsigned char>(m_text[i]);
            if (c == '"') {
                return i + 1;
            }
            if (c < 0x20) {
                return npos;
            }
            if (c == '\\') {
                escaped = true;
                i = skip_escape(i + 1);
                if (i == npos) {
                    return npos;
                }
                continue;
            }
            if (c < 0x80) {
                ++i;
                continue;
            }
            i = skip_utf8(i);
            if (i == npos) {
                return npos;
            }
        }
        return npos;
    }

    /// The end of the value starting at `i` (not whitespace), or npos when malformed.
    std::size_t skip_value(std::size_t i) const
    {
        std::vector<char> open;  // the containers we are in: '{' or '['
        for (;;) {
            // A value at i.
            const char c = at(i);
            if (c == '{' || c == '[') {
                open.push_back(c);
                i = skip_ws(i + 1);
                if (at(i) == (c == '{' ? '}' : ']')) {
                    open.pop_back();
                    ++i;
                } else {
                    if (c == '{') {
                        i = key_colon(i);
                        if (i == npos) {
                            return npos;
                        }
                    }
                    continue;  // the first member's value
                }
            } else if (c == '"') {
                bool escaped = false;
                i = skip_string(i, escaped);
            } else if (c == 't') {
                i = literal(i, "true");
            } else if (c == 'f') {
                i = literal(i, "false");
            } else if (c == 'n') {
                i = literal(i, "null");
            } else {
                i = skip_number(i);
            }
            if (i == npos) {
                return npos;
            }
            // After a value: the next member, or the ends of containers.
            for (;;) {
                if (open.empty()) {
                    return i;
                }
                i = skip_ws(i);
                const char close = open.back() == '{' ? '}' : ']';
                if (at(i) == close) {
                    open.pop_back();
                    ++i;
                    continue;
                }
                if (at(i) != ',') {
                    return npos;
                }
                i = skip_ws(i + 1);
                if (open.back() == '{') {
                    i = key_colon(i);
                    if (i == npos) {
                        return npos;
                    }
                }
                break;
            }
        }
    }

    /// After an object's key string at `i` and its colon: the start of its value, or npos.
    std::size_t key_colon(std::size_t i) const
    {
        bool escaped = false;
        i = skip_string(i, escaped);
        if (i == npos) {
            return npos;
        }
        i = skip_ws(i);
        if (at(i) != ':') {
            return npos;
        }
        return skip_ws(i + 1);
    }

    static constexpr std::size_t npos = std::string_view::npos;

private:
    /// Bytes a string holds as they are: printable ASCII but the quote and the backslash.
    static constexpr std::array<bool, 256> k_plain = [] {
        std::array<bool, 256> t{};
        for (int c = 0x20; c < 0x80; ++c) {
            t[static_cast<std::size_t>(c)] = c != '"' && c != '\\';
        }
        return t;
    }();

    std::size_t literal(std::size_t i, std::string_view word) const
    {
        return m_text.substr(i, word.size()) == word ? i + word.size() : npos;
    }

    static bool digit(char c) { return c >= '0' && c <= '9'; }

    std::size_t skip_number(std::size_t i) const
    {
        if (at(i) == '-') {
            ++i;
        }
        if (at(i) == '0') {
            ++i;
        } else if (digit(at(i))) {
            while (digit(at(i))) {
                ++i;
            }
        } else {
            return npos;
        }
        if (at(i) == '.') {
            ++i;
            if (!digit(at(i))) {
                return npos;
            }
            while (digit(at(i))) {
                ++i;
            }
        }
        if (at(i) == 'e' || at(i) == 'E') {
            ++i;
            if (at(i) == '+' || at(i) == '-') {
                ++i;
            }
            if (!digit(at(i))) {
                return npos;
            }
            while (digit(at(i))) {
                ++i;
            }
        }
        return i;
    }

    /// After the backslash at i - 1: the end of the escape, or npos.
    std::size_t skip_escape(std::size_t i) const
    {
        const auto e = wire::json_escape_at(m_text, i - 1);
        return e.length == 0 ? npos : i - 1 + e.length;
    }

    /// The end of the well-formed UTF-8 sequence at i, or npos.
    std::size_t skip_utf8(std::size_t i) const
    {
        const std::size_t n = wire::utf8_char_length(m_text, i);
        return n == 0 ? npos : i + n;
    }

    std::string_view m_text;
};

/// A top-level member of the body: its key (raw, between the quotes), its value's bytes
/// and, for an array under a conversation key, its elements' bytes.
struct RawMember {
    std::string_view key;
    std::size_t value_begin = 0;
    std::size_t value_end = 0;
    bool objects = false;  ///< a non-empty array of objects (conversation keys only)
    std::vector<std::pair<std::size_t, std::size_t>> elements;
};

bool is_conversation_key(std::string_view key)
{
    return std::any_of(k_shapes.begin(), k_shapes.end(),
                       [&](const ConversationShape& shape) { return shape.array_key == key; });
}

/// split_body() on the body's own bytes: items are the conversation's elements as the client
/// wrote them (hashed and stored without parsing or re-serialising anything), the rest is the
/// body with those values replaced by 0. One pass over the bytes checks the whole body and
/// finds the elements. nullopt when a DOM is needed to decide what a parser would make of
/// the body: a top-level key with an escape in it, or a key given twice.
std::optional<SplitBody> split_raw(std::string_view body)
{
    const RawScanner scan(body);
    constexpr std::size_t npos = RawScanner::npos;
    std::size_t i = scan.skip_ws(0);
    if (scan.at(i) != '{') {
        return SplitBody{};  // not an object (or not JSON): stored whole
    }
    std::vector<RawMember> members;
    bool needs_dom = false;
    i = scan.skip_ws(i + 1);
    if (scan.at(i) == '}') {
        ++i;
    } else {
        for (;;) {
            bool escaped = false;
            const std::size_t key_end = scan.skip_string(i, escaped);
            if (key_end == npos) {
                return SplitBody{};
            }
            RawMember m;
            m.key = body.substr(i + 1, key_end - i - 2);
            needs_dom = needs_dom || escaped;
            i = scan.skip_ws(key_end);
            if (scan.at(i) != ':') {
                return SplitBody{};
            }
            m.value_begin = scan.skip_ws(i + 1);
            if (scan.at(m.value_begin) == '[' && is_conversation_key(m.key)) {
                // The elements, checked one by one and kept.
                std::size_t k = scan.skip_ws(m.value_begin + 1);
                m.objects = scan.at(k) != ']';
                while (scan.at(k) != ']') {
                    m.objects = m.objects && scan.at(k) == '{';
                    const std::size_t e = scan.skip_value(k);
                    if (e == npos) {
                        return SplitBody{};
                    }
                    m.elements.emplace_back(k, e);
                    k = scan.skip_ws(e);
                    if (scan.at(k) == ',') {
                        k = scan.skip_ws(k + 1);
                        if (scan.at(k) == ']') {
                            return SplitBody{};  // a trailing comma
                        }
                    } else if (scan.at(k) != ']') {
                        return SplitBody{};
                    }
                }
                m.value_end = k + 1;
            } else {
                m.value_end = scan.skip_value(m.value_begin);
                if (m.value_end == npos) {
                    return SplitBody{};
                }
            }
            for (const auto& other : members) {
                needs_dom = needs_dom || other.key == m.key;
            }
            members.push_back(std::move(m));
            i = scan.skip_ws(members.back().value_end);
            if (scan.at(i) == ',') {
                i = scan.skip_ws(i + 1);
                continue;
            }
            if (scan.at(i) != '}') {
                return SplitBody{};
            }
            ++i;
            break;
        }
    }
    if (scan.skip_ws(i) != body.size()) {
        return SplitBody{};  // something after the object
    }
    if (needs_dom) {
        return std::nullopt;
    }
    auto find = [&](std::string_view key) -> const RawMember* {
        for (const auto& m : members) {
            if (m.key == key) {
                return &m;
            }
        }
        return nullptr;
    };
    for (const auto& shape : k_shapes) {
        const RawMember* array = find(shape.array_key);
        if (array == nullptr || !array->objects) {
            continue;
        }
        const auto& elements = array->elements;
        SplitBody out;
        const RawMember* system = nullptr;
        for (const auto key : shape.system_keys) {
            if (key.empty()) {
                continue;
            }
            const RawMember* m = find(key);
            if (m != nullptr && body.substr(m->value_begin, m->value_end - m->value_begin) != "null") {
                system = m;
                out.layout = std::string(key) + "+";
                break;
            }
        }
        out.layout += shape.array_key;
        out.items.reserve(elements.size() + (system != nullptr ? 1 : 0));
        if (system != nullptr) {
            out.items.emplace_back(body.substr(system->value_begin, system->value_end - system->value_begin));
        }
        for (const auto& [b, e] : elements) {
            out.items.emplace_back(body.substr(b, e - b));
        }
        // The rest: the body with the system prompt's value and the array replaced by 0.
        std::vector<std::pair<std::size_t, std::size_t>> cut{{array->value_begin, array->value_end}};
        if (system != nullptr) {
            cut.emplace_back(system->value_begin, system->value_end);
        }
        std::sort(cut.begin(), cut.end());
        std::size_t from = 0;
        for (const auto& [b, e] : cut) {
            out.rest.append(body.substr(from, b - from));
            out.rest.push_back('0');
            from = e;
        }
        out.rest.append(body.substr(from));
        return out;
    }
    return SplitBody{};
}

}  // namespace

SplitBody split_body(std::string_view body)
{
    if (auto raw = split_raw(body)) {
        return std::move(*raw);
    }
    SplitBody out;
    try {
        ordered j = ordered::parse(body);
        if (!j.is_object()) {
            return out;
        }
        for (const auto& shape : k_shapes) {
            auto it = j.find(std::string(shape.array_key));
            if (it == j.end() || !is_conversation(*it)) {
                continue;
            }
            std::vector<std::string> items;
            std::string layout;
            for (const auto key : shape.system_keys) {
                if (key.empty()) {
                    continue;
                }
                auto sys = j.find(std::string(key));
                if (sys != j.end() && !sys->is_null()) {
                    items.push_back(dump(*sys));
                    *sys = 0;
                    layout = std::string(key) + "+";
                    break;
                }
            }
            layout += shape.array_key;
            for (const auto& item : *it) {
                items.push_back(dump(item));
            }
            *it = 0;
            out.rest = dump(j);
            out.items = std::move(items);
            out.layout = std::move(layout);
            return out;
        }
    } catch (const std::exception&) {
        // Not JSON, or not UTF-8: stored whole.
    }
    return SplitBody{};
}

std::expected<std::string, std::string> join_body(std::string_view rest, std::string_view layout,
                                                  const std::vector<std::string>& items)
{
    try {
        ordered j = ordered::parse(rest);
        if (!j.is_object()) {
            return std::unexpected("the stored body is not a JSON object");
        }
        std::string_view array_key = layout;
        std::size_t first = 0;
        if (const auto plus = layout.find('+'); plus != std::string_view::npos) {
            const std::string system_key(layout.substr(0, plus));
            array_key = layout.substr(plus + 1);
            if (items.empty() || !j.contains(system_key)) {
                return std::unexpected("the stored body has no place for its " + system_key);
            }
            j[system_key] = ordered::parse(items[0]);
            first = 1;
        }
        const std::string key(array_key);
        if (!j.contains(key)) {
            return std::unexpected("the stored body has no place for its " + key);
        }
        ordered arr = ordered::array();
        for (std::size_t i = first; i < items.size(); ++i) {
            arr.push_back(ordered::parse(items[i]));
        }
        j[key] = std::move(arr);
        return j.dump();
    } catch (const std::exception& e) {
        return std::unexpected(std::string("the stored body cannot be rebuilt: ") + e.what());
    }
}

NodeHash node_hash(const NodeHash& parent, std::string_view item)
{
    NodeHash out{};
    EVP_MD_CTX* ctx = EVP_MD_CTX_new();
    unsigned int len = 0;
    EVP_DigestInit_ex(ctx, EVP_sha256(), nullptr);
    EVP_DigestUpdate(ctx, parent.data(), parent.size());
    EVP_DigestUpdate(ctx, item.data(), item.size());
    EVP_DigestFinal_ex(ctx, out.data(), &len);
    EVP_MD_CTX_free(ctx);
    return out;
}

std::string searchable_text(std::string_view json_or_text)
{
    auto j = nlohmann::json::parse(json_or_text, nullptr, false);
    if (j.is_discarded()) {
        return std::string(json_or_text);
    }
    std::string out;
    collect_text(j, out);
    return out;
}

}  // namespace aigw::daemon::ledger

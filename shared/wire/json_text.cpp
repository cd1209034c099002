#include "shared/wire/json_text.hpp"

#include "shared/wire/json_bytes.hpp"
#include "shared/wire/utf8.hpp"

#include <algorithm>
#include <charconv>
#include <cstdint>
#include <utility>
#include <vector>

namespace aigw::wire {

namespace {

using Json = nlohmann::json;

/// What nlohmann's serializer writes for `value`, appended to `out`: invalid UTF-8 replaced.
void append_as_nlohmann(std::string& out, const Json& value)
{
    nlohmann::detail::serializer<Json> text(nlohmann::detail::output_adapter<char>(out), ' ',
                                            Json::error_handler_t::replace);
    text.dump(value, false, false, 0);
}

template <class Integer>
void append_integer(std::string& out, Integer value)
{
    char digits[24];
    const auto [end, ec] = std::to_chars(digits, digits + sizeof digits, value);
    out.append(digits, end);
}

}  // namespace

void append_json_string(std::string& out, std::string_view text)
{
    const std::size_t start = out.size();
    const char* p = text.data();
    const char* const end = p + text.size();
    const char* written = p;  // the bytes from here to p go out as they are
    out += '"';
    for (;;) {
        p = skip_json_plain(p, end);
        if (p == end) {
            break;
        }
        const auto c = static_cast<unsigned char>(*p);
        if (c >= 0x80) {
            const std::size_t n = utf8_char_length(std::string_view(p, static_cast<std::size_t>(end - p)), 0);
            if (n == 0) {
                // Ill-formed UTF-8: nlohmann's replacement rules, for this string only.
                out.resize(start);
                append_as_nlohmann(out, Json(text));
                return;
            }
            p += n;
            continue;
        }
        out.append(written, static_cast<std::size_t>(p - written));
        char escape[] = {'\\', static_cast<char>(c), '0', '0', '0', '0'};  // \" and \\ as they are
        std::size_t length = 2;
        switch (c) {
            case '"':
            case '\\':
                break;
            case '\b':
                escape[1] = 'b';
                break;
            case '\t':
                escape[1] = 't';
                break;
            case '\n':
                escape[1] = 'n';
                break;
            case '\f':
                escape[1] = 'f';
                break;
            case '\r':
                escape[1] = 'r';
                break;
            default: {
                constexpr std::string_view hex = "0123456789abcdef";  // nlohmann writes \u%04x
                escape[1] = 'u';
                escape[4] = hex[c >> 4];
                escape[5] = hex[c & 0xF];
                length = sizeof escape;
                break;
            }
        }
        out.append(escape, length);
        written = ++p;
    }
    out.append(written, static_cast<std::size_t>(end - written));
    out += '"';
}

void append_json(std::string& out, const Json& value)
{
    switch (value.type()) {
        case Json::value_t::object: {
            out += '{';
            bool first = true;
            for (const auto& [key, member] : value.get_ref<const Json::object_t&>()) {
                if (!first) {
                    out += ',';
                }
                first = false;
                append_json_string(out, key);
                out += ':';
                append_json(out, member);
            }
            out += '}';
            return;
        }
        case Json::value_t::array: {
            out += '[';
            bool first = true;
            for (const auto& item : value.get_ref<const Json::array_t&>()) {
                if (!first) {
                    out += ',';
                }
                first = false;
                append_json(out, item);
            }
            out += ']';
            return;
        }
        case Json::value_t::string:
            append_json_string(out, value.get_ref<const Json::string_t&>());
            return;
        case Json::value_t::boolean:
            out += value.get<bool>() ? "true" : "false";
            return;
        case Json::value_t::null:
            out += "null";
            return;
        case Json::value_t::number_integer:
            append_integer(out, value.get<std::int64_t>());
            return;
        case Json::value_t::number_unsigned:
            append_integer(out, value.get<std::uint64_t>());
            return;
        default:
            append_as_nlohmann(out, value);  // a double in nlohmann's shortest form; binary; discarded
            return;
    }
}

std::string dump_json(const Json& value)
{
    std::string out;
    append_json(out, value);
    return out;
}

std::string dump_json_with(const Json& object, std::string_view key, const Json& value)
{
    if (!object.is_object()) {
        return dump_json(object);
    }
    std::string out;
    out += '{';
    auto member = [&](std::string_view name, const Json& member_value) {
        if (out.size() > 1) {
            out += ',';
        }
        append_json_string(out, name);
        out += ':';
        append_json(out, member_value);
    };
    // The members are in their map's order (std::less, byte by byte), so `key` goes where
    // setting it would have put it: in place of its namesake, or before the first greater.
    bool placed = false;
    for (const auto& [name, member_value] : object.get_ref<const Json::object_t&>()) {
        if (!placed && std::string_view(name) >= key) {
            placed = true;
            member(key, value);
            if (name == key) {
                continue;
            }
        }
        member(name, member_value);
    }
    if (!placed) {
        member(key, value);
    }
    out += '}';
    return out;
}

namespace {

/// Where a reader of JSON text stands (MemberScan, Reader, Checker), and the grammar they
/// pass over alike.
class TextCursor {
protected:
    /// The recursion's bound for Reader and Checker whatever depth a caller allows; deeper
    /// text goes to nlohmann.
    static constexpr int k_max_recursion = 512;

    explicit TextCursor(std::string_view text) : m_p(text.data()), m_end(text.data() + text.size()) {}

    /// Passes `c` when it is the next byte.
    bool take(char c)
    {
        if (m_p == m_end || *m_p != c) {
            return false;
        }
        ++m_p;
        return true;
    }

    /// Passes `text` when it comes next.
    bool pass(std::string_view text)
    {
        if (static_cast<std::size_t>(m_end - m_p) < text.size() || std::memcmp(m_p, text.data(), text.size()) != 0) {
            return false;
        }
        m_p += text.size();
        return true;
    }

    /// One or more decimal digits.
    bool digits()
    {
        const char* const first = m_p;
        while (m_p != m_end && *m_p >= '0' && *m_p <= '9') {
            ++m_p;
        }
        return m_p != first;
    }

    /// A number's text as JSON writes it, passed over: it began at `start`. `integral`: it
    /// has no fraction and no exponent.
    bool number_text(const char*& start, bool& negative, bool& integral)
    {
        start = m_p;
        negative = *m_p == '-';
        if (negative) {
            ++m_p;
        }
        if (m_p != m_end && *m_p == '0') {
            ++m_p;
        } else if (!digits()) {
            return false;
        }
        integral = true;
        if (m_p != m_end && *m_p == '.') {
            integral = false;
            ++m_p;
            if (!digits()) {
                return false;
            }
        }
        if (m_p != m_end && (*m_p == 'e' || *m_p == 'E')) {
            integral = false;
            ++m_p;
            if (m_p != m_end && (*m_p == '+' || *m_p == '-')) {
                ++m_p;
            }
            if (!digits()) {
                return false;
            }
        }
        return true;
    }

    static bool is_ws(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }
    void skip_ws()
    {
        while (m_p != m_end && is_ws(*m_p)) {
            ++m_p;
        }
    }

    /// Inside a string: passes its text up to the closing quote or an escape's backslash
    /// (left for the caller), checked as nlohmann checks it: no control bytes, well-formed
    /// UTF-8. False at the end of the input or at a byte a string cannot hold.
    bool pass_string_text()
    {
        for (;;) {
            m_p = skip_json_plain(m_p, m_end);
            if (m_p == m_end) {
                return false;
            }
            const auto c = static_cast<unsigned char>(*m_p);
            if (c == '"' || c == '\\') {
                return true;
            }
            if (c < 0x20) {
                return false;
            }
            const std::size_t n = utf8_char_length(std::string_view(m_p, static_cast<std::size_t>(m_end - m_p)), 0);
            if (n == 0) {
                return false;
            }
            m_p += n;
        }
    }

    const char* m_p;
    const char* m_end;
};

/// Scans JSON text a parser has taken, top-level members only: where each member's name and
/// value start and end. Any irregularity ends the scan (the caller then does without it).
class MemberScan : TextCursor {
public:
    explicit MemberScan(std::string_view text) : TextCursor(text) {}

    struct Member {
        std::string_view name;  ///< as written, without the quotes
        const char* begin;      ///< its name's opening quote
        const char* value_begin;
        const char* value_end;
    };

    /// The members in order, or nullopt.
    std::optional<std::vector<Member>> members()
    {
        std::vector<Member> out;
        skip_ws();
        if (!take('{')) {
            return std::nullopt;
        }
        skip_ws();
        if (take('}')) {
            return at_end() ? std::optional(std::move(out)) : std::nullopt;
        }
        for (;;) {
            const char* name_begin = m_p + 1;
            if (m_p == m_end || *m_p != '"' || !skip_string()) {
                return std::nullopt;
            }
            const std::string_view name(name_begin, static_cast<std::size_t>(m_p - 1 - name_begin));
            skip_ws();
            if (!take(':')) {
                return std::nullopt;
            }
            skip_ws();
            const char* value_begin = m_p;
            if (!skip_value()) {
                return std::nullopt;
            }
            out.push_back(Member{name, name_begin - 1, value_begin, m_p});
            skip_ws();
            if (take('}')) {
                return at_end() ? std::optional(std::move(out)) : std::nullopt;
            }
            if (!take(',')) {
                return std::nullopt;
            }
            skip_ws();
        }
    }

private:
    bool at_end()
    {
        skip_ws();
        return m_p == m_end;
    }
    /// At '"': past the closing quote.
    bool skip_string()
    {
        ++m_p;
        for (;;) {
            m_p = skip_to_quote_or_escape(m_p, m_end);
            if (m_p == m_end) {
                return false;
            }
            if (*m_p == '"') {
                ++m_p;
                return true;
            }
            if (m_end - m_p < 2) {
                return false;
            }
            m_p += 2;  // an escape; the rest of a \uXXXX holds neither byte
        }
    }
    bool skip_value()
    {
        if (m_p == m_end) {
            return false;
        }
        if (*m_p == '"') {
            return skip_string();
        }
        if (*m_p != '{' && *m_p != '[') {
            // A number or a literal: through the byte before the next separator.
            const char* begin = m_p;
            while (m_p != m_end && !is_ws(*m_p) && *m_p != ',' && *m_p != '}' && *m_p != ']') {
                ++m_p;
            }
            return m_p != begin;
        }
        std::size_t depth = 0;
        while (m_p != m_end) {
            switch (*m_p) {
                case '"':
                    if (!skip_string()) {
                        return false;
                    }
                    continue;
                case '{':
                case '[':
                    ++depth;
                    break;
                case '}':
                case ']':
                    if (--depth == 0) {
                        ++m_p;
                        return true;
                    }
                    break;
                default:
                    break;
            }
            ++m_p;
        }
        return false;
    }
};

}  // namespace

std::optional<std::string> edit_members_text(std::string_view text, std::initializer_list<MemberEdit> edits)
{
    auto members = MemberScan(text).members();
    if (!members || members->empty()) {
        return std::nullopt;
    }
    for (std::size_t i = 0; i < members->size(); ++i) {
        const std::string_view name = (*members)[i].name;
        if (name.find('\\') != std::string_view::npos) {
            return std::nullopt;  // an escaped name may spell an edit's key, or another's
        }
        for (std::size_t j = 0; j < i; ++j) {
            if ((*members)[j].name == name) {
                return std::nullopt;  // which one counts is the reader's call
            }
        }
    }
    auto edit_of = [&](std::string_view name) -> const MemberEdit* {
        for (const MemberEdit& e : edits) {
            if (e.key == name) {
                return &e;
            }
        }
        return nullptr;
    };
    std::string out;
    out.reserve(text.size() + 64);
    out.append(text.data(), members->front().begin);  // the brace and what precedes the first name
    bool first = true;
    auto separate = [&] {
        if (!std::exchange(first, false)) {
            out += ',';
        }
    };
    for (const auto& m : *members) {
        const MemberEdit* e = edit_of(m.name);
        if (e == nullptr) {
            separate();
            out.append(m.begin, m.value_end);
        } else if (e->value) {
            separate();
            out.append(m.begin, m.value_begin);
            out.append(*e->value);
        }
    }
    for (const MemberEdit& e : edits) {
        const bool named =
            std::any_of(members->begin(), members->end(), [&](const auto& m) { return m.name == e.key; });
        if (!named && e.value) {
            separate();
            append_json_string(out, e.key);
            out += ':';
            out.append(*e.value);
        }
    }
    out.append(members->back().value_end, text.data() + text.size());  // the closing brace
    return out;
}

namespace {

/// append_json_string()'s length for `text`: the quotes, the bytes, and what each escape adds.
std::size_t json_string_size(std::string_view text)
{
    std::size_t size = text.size() + 2;
    const char* p = text.data();
    const char* const end = p + text.size();
    for (;;) {
        p = skip_json_plain(p, end);
        if (p == end) {
            return size;
        }
        const auto c = static_cast<unsigned char>(*p);
        if (c >= 0x80) {
            const std::size_t n = utf8_char_length(std::string_view(p, static_cast<std::size_t>(end - p)), 0);
            if (n == 0) {
                std::string replaced;  // ill-formed UTF-8: as rare as it is irregular, so written
                append_json_string(replaced, text);
                return replaced.size();
            }
            p += n;
            continue;
        }
        const bool short_escape =
            c == '"' || c == '\\' || c == '\b' || c == '\t' || c == '\n' || c == '\f' || c == '\r';
        size += short_escape ? 1 : 5;  // \n, or \u001f
        ++p;
    }
}

template <class Integer>
std::size_t integer_size(Integer value)
{
    char digits[24];
    const auto [end, ec] = std::to_chars(digits, digits + sizeof digits, value);
    return static_cast<std::size_t>(end - digits);
}

}  // namespace

std::size_t json_text_size(const Json& value)
{
    switch (value.type()) {
        case Json::value_t::object: {
            const auto& members = value.get_ref<const Json::object_t&>();
            std::size_t size = 2 + (members.empty() ? 0 : members.size() - 1);  // braces, commas
            for (const auto& [key, member] : members) {
                size += json_string_size(key) + 1 + json_text_size(member);
            }
            return size;
        }
        case Json::value_t::array: {
            const auto& items = value.get_ref<const Json::array_t&>();
            std::size_t size = 2 + (items.empty() ? 0 : items.size() - 1);
            for (const auto& item : items) {
                size += json_text_size(item);
            }
            return size;
        }
        case Json::value_t::string:
            return json_string_size(value.get_ref<const Json::string_t&>());
        case Json::value_t::boolean:
            return value.get<bool>() ? 4 : 5;
        case Json::value_t::null:
            return 4;
        case Json::value_t::number_integer:
            return integer_size(value.get<std::int64_t>());
        case Json::value_t::number_unsigned:
            return integer_size(value.get<std::uint64_t>());
        default: {
            std::string text;
            append_as_nlohmann(text, value);
            return text.size();
        }
    }
}

namespace {

/// Four hex digits at `text[pos]` as a number, or -1.
int hex4(std::string_view text, std::size_t pos)
{
    if (pos + 4 > text.size()) {
        return -1;
    }
    int v = 0;
    for (std::size_t k = pos; k < pos + 4; ++k) {
        const char c = text[k];
        v <<= 4;
        if (c >= '0' && c <= '9') {
            v |= c - '0';
        } else if (c >= 'a' && c <= 'f') {
            v |= c - 'a' + 10;
        } else if (c >= 'A' && c <= 'F') {
            v |= c - 'A' + 10;
        } else {
            return -1;
        }
    }
    return v;
}

}  // namespace

JsonEscape json_escape_at(std::string_view text, std::size_t pos)
{
    if (pos + 1 >= text.size() || text[pos] != '\\') {
        return {};
    }
    switch (text[pos + 1]) {
        case '"':
        case '\\':
        case '/':
        case 'b':
        case 'f':
        case 'n':
        case 'r':
        case 't':
            return {2, 1};
        case 'u':
            break;
        default:
            return {};
    }
    const int cp = hex4(text, pos + 2);
    if (cp < 0 || (cp >= 0xDC00 && cp <= 0xDFFF)) {
        return {};  // not hex, or a low surrogate with no high one before it
    }
    if (cp >= 0xD800 && cp <= 0xDBFF) {
        // A high surrogate must be followed by \u and a low one: four UTF-8 bytes together.
        const bool pair = pos + 7 < text.size() && text[pos + 6] == '\\' && text[pos + 7] == 'u';
        const int low = pair ? hex4(text, pos + 8) : -1;
        return low >= 0xDC00 && low <= 0xDFFF ? JsonEscape{12, 4} : JsonEscape{};
    }
    return {6, cp < 0x80 ? 1U : cp < 0x800 ? 2U : 3U};
}

bool json_depth_ok(std::string_view text, int max_depth)
{
    int depth = 0;
    bool in_string = false;
    bool escaped = false;
    for (char c : text) {
        if (in_string) {
            if (escaped) {
                escaped = false;
            } else if (c == '\\') {
                escaped = true;
            } else if (c == '"') {
                in_string = false;
            }
            continue;
        }
        switch (c) {
            case '"':
                in_string = true;
                break;
            case '[':
            case '{':
                if (++depth > max_depth) {
                    return false;
                }
                break;
            case ']':
            case '}':
                if (depth > 0) {
                    --depth;
                }
                break;
            default:
                break;
        }
    }
    return true;
}

namespace {

void append_utf8(std::string& out, std::uint32_t cp)
{
    if (cp < 0x80) {
        out += static_cast<char>(cp);
    } else if (cp < 0x800) {
        const char bytes[] = {static_cast<char>(0xC0 | (cp >> 6)), static_cast<char>(0x80 | (cp & 0x3F))};
        out.append(bytes, sizeof bytes);
    } else if (cp < 0x10000) {
        const char bytes[] = {static_cast<char>(0xE0 | (cp >> 12)), static_cast<char>(0x80 | ((cp >> 6) & 0x3F)),
                              static_cast<char>(0x80 | (cp & 0x3F))};
        out.append(bytes, sizeof bytes);
    } else {
        const char bytes[] = {static_cast<char>(0xF0 | (cp >> 18)), static_cast<char>(0x80 | ((cp >> 12) & 0x3F)),
                              static_cast<char>(0x80 | ((cp >> 6) & 0x3F)), static_cast<char>(0x80 | (cp & 0x3F))};
        out.append(bytes, sizeof bytes);
    }
}

/// read_json(): recursive descent that builds the value in place. Each function starts at
/// its first byte (no white space before it) and returns false for anything nlohmann would
/// refuse, and for the few forms it leaves to nlohmann.
class Reader : TextCursor {
public:
    Reader(std::string_view text, int max_depth) : TextCursor(text), m_max_depth(std::min(max_depth, k_max_recursion))
    {}

    bool document(Json& out)
    {
        skip_ws();
        if (!value(out, 0)) {
            return false;
        }
        skip_ws();
        return m_p == m_end;
    }

private:
    bool value(Json& out, int depth)
    {
        if (m_p == m_end) {
            return false;
        }
        switch (*m_p) {
            case '{':
                return object(out, depth + 1);
            case '[':
                return array(out, depth + 1);
            case '"':
                ++m_p;
                out = Json(Json::value_t::string);
                return string(out.get_ref<Json::string_t&>());
            case 't':
                return word("true", out, Json(true));
            case 'f':
                return word("false", out, Json(false));
            case 'n':
                return word("null", out, Json(nullptr));
            default:
                return number(out);
        }
    }

    bool object(Json& out, int depth)
    {
        if (depth > m_max_depth) {
            return false;
        }
        ++m_p;
        out = Json(Json::value_t::object);
        auto& members = out.get_ref<Json::object_t&>();
        skip_ws();
        if (take('}')) {
            return true;
        }
        std::string key;
        for (;;) {
            key.clear();
            if (!take('"') || !string(key)) {
                return false;
            }
            skip_ws();
            if (!take(':')) {
                return false;
            }
            skip_ws();
            // A repeated name keeps its last value, as nlohmann's parser does.
            if (!value(members[key], depth)) {
                return false;
            }
            skip_ws();
            if (!take(',')) {
                return take('}');
            }
            skip_ws();
        }
    }

    bool array(Json& out, int depth)
    {
        if (depth > m_max_depth) {
            return false;
        }
        ++m_p;
        out = Json(Json::value_t::array);
        auto& items = out.get_ref<Json::array_t&>();
        skip_ws();
        if (take(']')) {
            return true;
        }
        for (;;) {
            if (!value(items.emplace_back(), depth)) {
                return false;
            }
            skip_ws();
            if (!take(',')) {
                return take(']');
            }
            skip_ws();
        }
    }

    bool word(std::string_view text, Json& out, Json value)
    {
        if (!pass(text)) {
            return false;
        }
        out = std::move(value);
        return true;
    }

    /// As nlohmann reads a number: an integer that fits is unsigned when it has no sign and
    /// signed when it has one; anything else is a double.
    bool number(Json& out)
    {
        const char* start = nullptr;
        bool negative = false;
        bool integral = false;
        if (!number_text(start, negative, integral)) {
            return false;
        }
        if (integral && negative) {
            std::int64_t v = 0;
            if (std::from_chars(start, m_p, v).ec == std::errc()) {
                out = v;
                return true;
            }
        } else if (integral) {
            std::uint64_t v = 0;
            if (std::from_chars(start, m_p, v).ec == std::errc()) {
                out = v;
                return true;
            }
        }
        // Out of range for a double (nlohmann: an error), or so small it underflows: nlohmann.
        double v = 0;
        if (std::from_chars(start, m_p, v).ec != std::errc()) {
            return false;
        }
        out = v;
        return true;
    }

    /// After the opening quote: through the closing one, appending the decoded text.
    bool string(std::string& out)
    {
        const char* taken = m_p;  // the bytes from here to m_p are text as it is
        for (;;) {
            if (!pass_string_text()) {
                return false;
            }
            out.append(taken, static_cast<std::size_t>(m_p - taken));
            if (*m_p == '"') {
                ++m_p;
                return true;
            }
            const std::string_view rest(m_p, static_cast<std::size_t>(m_end - m_p));  // at a backslash
            if (rest.size() >= 2 && rest[1] != 'u') {
                const char decoded = short_escape(rest[1]);
                if (decoded == 0) {
                    return false;
                }
                out += decoded;
                m_p += 2;
                taken = m_p;
                continue;
            }
            const JsonEscape e = json_escape_at(rest, 0);
            if (e.length == 0) {
                return false;
            }
            auto cp = static_cast<std::uint32_t>(hex4(rest, 2));
            if (e.length == 12) {
                cp = 0x10000 + ((cp - 0xD800) << 10) + (static_cast<std::uint32_t>(hex4(rest, 8)) - 0xDC00);
            }
            append_utf8(out, cp);
            m_p += e.length;
            taken = m_p;
        }
    }

    /// What a two-byte escape stands for (`\\` and the letter after it), or 0 when JSON has no
    /// such escape.
    static char short_escape(char letter)
    {
        switch (letter) {
            case '"':
            case '\\':
            case '/':
                return letter;
            case 'b':
                return '\b';
            case 'f':
                return '\f';
            case 'n':
                return '\n';
            case 'r':
                return '\r';
            case 't':
                return '\t';
            default:
                return 0;
        }
    }

    int m_max_depth;
};

}  // namespace

std::optional<Json> read_json(std::string_view text, int max_depth)
{
    Json out;
    if (!Reader(text, max_depth).document(out)) {
        return std::nullopt;
    }
    return out;
}

namespace {

/// checked_string_member(): the grammar of Reader, checked without building anything. It
/// accepts only what Reader reads, and gives up (false) on what it cannot tell without
/// decoding: a top-level name with an escape, an escaped value of the member it looks for.
class Checker : TextCursor {
public:
    Checker(std::string_view text, std::string_view name, int max_depth)
        : TextCursor(text), m_name(name), m_max_depth(std::min(max_depth, k_max_recursion))
    {}

    std::optional<CheckedMember> run()
    {
        skip_ws();
        if (m_p == m_end || *m_p != '{' || !object(1, true)) {
            return std::nullopt;
        }
        skip_ws();
        if (m_p != m_end) {
            return std::nullopt;
        }
        return m_found;
    }

private:
    bool value(int depth)
    {
        if (m_p == m_end) {
            return false;
        }
        switch (*m_p) {
            case '{':
                return object(depth + 1, false);
            case '[':
                return array(depth + 1);
            case '"': {
                ++m_p;
                bool escaped = false;
                return string(escaped);
            }
            case 't':
                return pass("true");
            case 'f':
                return pass("false");
            case 'n':
                return pass("null");
            default:
                return number();
        }
    }

    /// At '{'. `top`: its members are the document's, where `m_name` is looked for.
    bool object(int depth, bool top)
    {
        if (depth > m_max_depth) {
            return false;
        }
        ++m_p;
        skip_ws();
        if (take('}')) {
            return true;
        }
        for (;;) {
            const char* key_start = m_p + 1;
            bool escaped = false;
            if (!take('"') || !string(escaped)) {
                return false;
            }
            const std::string_view key(key_start, static_cast<std::size_t>(m_p - 1 - key_start));
            if (top && escaped) {
                return false;  // it may decode to m_name: only a parse can tell
            }
            skip_ws();
            if (!take(':')) {
                return false;
            }
            skip_ws();
            if (top && key == m_name) {
                // The last one named counts, as in the parsed object.
                m_found = CheckedMember{};
                if (m_p != m_end && *m_p == '"') {
                    const char* start = ++m_p;
                    bool value_escaped = false;
                    if (!string(value_escaped) || value_escaped) {
                        return false;
                    }
                    m_found.value = std::string_view(start, static_cast<std::size_t>(m_p - 1 - start));
                    m_found.is_string = true;
                } else if (!value(depth)) {
                    return false;
                }
            } else if (!value(depth)) {
                return false;
            }
            skip_ws();
            if (!take(',')) {
                return take('}');
            }
            skip_ws();
        }
    }

    bool array(int depth)
    {
        if (depth > m_max_depth) {
            return false;
        }
        ++m_p;
        skip_ws();
        if (take(']')) {
            return true;
        }
        for (;;) {
            if (!value(depth)) {
                return false;
            }
            skip_ws();
            if (!take(',')) {
                return take(']');
            }
            skip_ws();
        }
    }

    /// As Reader::number(), which reads an integer that fits without a double and leaves a
    /// double out of range to nlohmann.
    bool number()
    {
        const char* start = nullptr;
        bool negative = false;
        bool integral = false;
        if (!number_text(start, negative, integral)) {
            return false;
        }
        if (integral && m_p - start <= 18) {
            return true;  // eighteen characters at most: fits an int64 or a uint64 either way
        }
        if (integral && negative) {
            std::int64_t v = 0;
            if (std::from_chars(start, m_p, v).ec == std::errc()) {
                return true;
            }
        } else if (integral) {
            std::uint64_t v = 0;
            if (std::from_chars(start, m_p, v).ec == std::errc()) {
                return true;
            }
        }
        double v = 0;
        return std::from_chars(start, m_p, v).ec == std::errc();
    }

    /// After the opening quote: through the closing one, checked as Reader::string() reads
    /// it. `escaped`: it held an escape.
    bool string(bool& escaped)
    {
        for (;;) {
            if (!pass_string_text()) {
                return false;
            }
            if (*m_p == '"') {
                ++m_p;
                return true;
            }
            escaped = true;
            const JsonEscape e = json_escape_at(std::string_view(m_p, static_cast<std::size_t>(m_end - m_p)), 0);
            if (e.length == 0) {
                return false;
            }
            m_p += e.length;
        }
    }

    std::string_view m_name;
    int m_max_depth;
    CheckedMember m_found;
};

}  // namespace

std::optional<CheckedMember> checked_string_member(std::string_view text, std::string_view name, int max_depth)
{
    return Checker(text, name, max_depth).run();
}

nlohmann::json parse_json_lenient(std::string_view text, int max_depth)
{
    if (auto fast = read_json(text, max_depth)) {
        return std::move(*fast);
    }
    if (!json_depth_ok(text, max_depth)) {
        return nlohmann::json(nlohmann::json::value_t::discarded);
    }
    return nlohmann::json::parse(text, nullptr, false);
}

namespace {

std::expected<nlohmann::json, std::string> parse_guarded(std::string_view text, int max_depth)
{
    if (auto fast = read_json(text, max_depth)) {
        return std::move(*fast);
    }
    if (!json_depth_ok(text, max_depth)) {
        return std::unexpected("nesting deeper than " + std::to_string(max_depth) + " levels");
    }
    try {
        return nlohmann::json::parse(text);
    } catch (const nlohmann::json::exception& e) {
        // The parser quotes the bytes it last read, which may be cut inside a character.
        std::string why = valid_utf8(e.what());
        if (auto pos = why.find("] "); why.starts_with("[json.exception") && pos != std::string::npos) {
            why.erase(0, pos + 2);
        }
        why.resize(utf8_safe_cut(why, 300));
        return std::unexpected("could not parse JSON: " + why);
    }
}

}  // namespace

std::expected<nlohmann::json, Failure> parse_json_body(std::string_view text, int max_depth)
{
    auto parsed = parse_guarded(text, max_depth);
    if (!parsed) {
        return std::unexpected(bad_request("The request body is not valid JSON: " + parsed.error() + "."));
    }
    return std::move(*parsed);
}

std::expected<nlohmann::json, Failure> parse_upstream_json(std::string_view text, std::string_view what, int max_depth)
{
    auto parsed = parse_guarded(text, max_depth);
    if (!parsed) {
        Failure f;
        f.kind = FailureKind::upstream;
        f.status = 502;
        f.message = std::string(what) + " is not valid JSON: " + parsed.error();
        return std::unexpected(std::move(f));
    }
    return std::move(*parsed);
}

}  // namespace aigw::wire

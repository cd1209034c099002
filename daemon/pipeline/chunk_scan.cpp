#include "daemon/pipeline/chunk_scan.hpp"

#include "shared/wire/json_bytes.hpp"
#include "shared/wire/json_text.hpp"
#include "shared/wire/usage.hpp"
#include "shared/wire/utf8.hpp"

#include <nlohmann/json.hpp>

#include <array>
#include <charconv>
#include <cstdint>
#include <cstring>
#include <optional>
#include <utility>

namespace aigw::daemon::pipeline {

namespace {

/// A SAX handler that follows choices[].delta and choices[].finish_reason, reads a top-level
/// `usage` object into facts.usage as nlohmann's parser would build it, and gives up (returns
/// false) on anything the translator must see: an `error`, a `usage` that is not an object.
class Scanner {
public:
    using json = nlohmann::json;

    ChunkFacts facts;

    bool null()
    {
        if (capturing()) {
            return put(nullptr);
        }
        element();
        if (m_key == Key::usage) {
            facts.usage = nullptr;  // a repeated key: the last counts, as in a built chunk
        }
        // `usage: null` is on every chunk of a stream that asked for usage.
        m_last = m_key = Key::other;
        return m_depth > 0;
    }
    bool boolean(bool v) { return capturing() ? put(v) : scalar(); }
    bool number_integer(json::number_integer_t v) { return capturing() ? put(v) : scalar(); }
    bool number_unsigned(json::number_unsigned_t v) { return capturing() ? put(v) : scalar(); }
    bool number_float(json::number_float_t v, const json::string_t&) { return capturing() ? put(v) : scalar(); }
    bool binary(json::binary_t&) { return false; }

    bool string(json::string_t& s)
    {
        if (capturing()) {
            return put(std::move(s));
        }
        if (!scalar()) {
            return false;
        }
        const Kind in = m_stack[m_depth - 1];
        if (in == Kind::delta) {
            if (m_last == Key::content) {
                facts.content_chars += s.size();
            }
            if ((m_last == Key::content || m_last == Key::text_like) && !s.empty()) {
                facts.has_content = true;
            }
        } else if (in == Kind::choice && m_last == Key::finish_reason && !s.empty()) {
            facts.finish_reasons.push_back(s);
        }
        return true;
    }

    bool key(json::string_t& k)
    {
        if (capturing()) {
            m_capture_key = std::move(k);
            return true;
        }
        switch (m_stack[m_depth - 1]) {
            case Kind::root:
                if (k == "choices") {
                    m_saw_choices = false;  // a repeated key: the last counts
                }
                m_key = k == "choices" ? Key::choices
                        : k == "usage" ? Key::usage
                        : k == "error" ? Key::not_null
                                       : Key::other;
                break;
            case Kind::choice:
                m_key = k == "delta" ? Key::delta : k == "finish_reason" ? Key::finish_reason : Key::other;
                break;
            case Kind::delta:
                if (k == "tool_calls") {
                    facts.has_content = true;
                }
                m_key = k == "content"                                 ? Key::content
                        : (k == "reasoning_content" || k == "refusal") ? Key::text_like
                                                                       : Key::other;
                break;
            default:
                m_key = Key::other;
        }
        return true;
    }

    bool start_object(std::size_t)
    {
        if (capturing()) {
            return open(Kind::other) && push(json::object());
        }
        element();
        if (m_key == Key::usage) {
            m_key = Key::other;
            facts.usage = json::object();
            m_capture.push_back(&facts.usage);
            return open(Kind::other);
        }
        Kind kind = Kind::other;
        if (m_depth == 0) {
            kind = Kind::root;
        } else if (m_stack[m_depth - 1] == Kind::choices) {
            kind = Kind::choice;
        } else if (m_key == Key::delta) {
            kind = Kind::delta;
        }
        return open(kind);
    }
    bool start_array(std::size_t)
    {
        if (capturing()) {
            return open(Kind::other) && push(json::array());
        }
        if (m_depth == 0 || m_key == Key::usage) {
            return false;  // a chunk is an object; a usage that is not one goes to the translator
        }
        element();
        if (m_key == Key::choices) {
            m_saw_choices = true;
            m_choices_empty = true;
        }
        return open(m_key == Key::choices ? Kind::choices : Kind::other);
    }
    bool end_object() { return close(); }
    bool end_array() { return close(); }

    bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception&) { return false; }

    /// After a successful parse: whether the chunk is the usage-only one.
    void finish() { facts.usage_only = facts.usage.is_object() && m_saw_choices && m_choices_empty; }

private:
    enum class Kind : std::uint8_t { root, choices, choice, delta, other };
    /// What the key just read names, for the value that follows it.
    enum class Key : std::uint8_t { other, choices, not_null, usage, delta, finish_reason, content, text_like };

    bool capturing() const { return !m_capture.empty(); }
    /// A value inside the usage being read.
    bool put(json v)
    {
        json& in = *m_capture.back();
        if (in.is_object()) {
            in[m_capture_key] = std::move(v);
        } else {
            in.push_back(std::move(v));
        }
        return true;
    }
    /// An object or array inside the usage being read; what follows goes into it.
    bool push(json v)
    {
        json& in = *m_capture.back();
        m_capture.push_back(in.is_object() ? &(in[m_capture_key] = std::move(v)) : &in.emplace_back(std::move(v)));
        return true;
    }
    /// Any value: one inside `choices` makes it not empty.
    void element()
    {
        if (m_depth > 0 && m_stack[m_depth - 1] == Kind::choices) {
            m_choices_empty = false;
        }
    }
    /// A value that is not an object or array: its key is used up.
    bool scalar()
    {
        element();
        m_last = m_key;
        const bool allowed = m_depth > 0 && m_key != Key::not_null && m_key != Key::usage;
        m_key = Key::other;
        return allowed;
    }
    bool open(Kind kind)
    {
        if (m_key == Key::not_null || m_depth == m_stack.size()) {
            return false;
        }
        m_stack[m_depth++] = kind;
        m_key = Key::other;
        return true;
    }
    bool close()
    {
        if (capturing()) {
            m_capture.pop_back();
        }
        --m_depth;
        m_key = Key::other;
        return true;
    }

    std::array<Kind, 64> m_stack{};
    std::size_t m_depth = 0;
    Key m_key = Key::other;
    Key m_last = Key::other;
    std::vector<json*> m_capture;  ///< the usage being read, innermost value last
    std::string m_capture_key;
    bool m_saw_choices = false;
    bool m_choices_empty = false;
};

/// The relay's common case, read in one pass without nlohmann's lexer: it builds no strings
/// and calls out only for an escape or a non-ASCII character. It knows the facts only of
/// input it has checked as strictly as nlohmann's parser would; anything it does not handle
/// (an escaped key or finish reason, a number with an exponent, a top level that is not an
/// object, trailing bytes, nesting past 64, malformed JSON) is `unsure`, and the Scanner above
/// decides. A differential test and a fuzz harness hold the two equal.
///
/// It also reads a whole chat.completion answer (Shape::completion): there only `choices` (an
/// array), its finish reasons and `usage` matter, `usage` is read into a value as nlohmann
/// would read it, and newlines are whitespace (OpenAI indents its answers).
class FastScanner {
public:
    using Verdict = detail::Scan;
    enum class Shape : std::uint8_t { chunk, completion };

    FastScanner(std::string_view text, Shape shape) : m_p(text.data()), m_end(text.data() + text.size()), m_shape(shape)
    {}

    /// After run() of an answer: what usage_from_openai() makes of its `usage`.
    const wire::Usage& usage_read() const { return m_usage_read; }

    Verdict run(ChunkFacts& facts)
    {
        m_facts = &facts;
        skip_ws();
        if (m_p == m_end || *m_p != '{') {
            return Verdict::unsure;  // not an object (or a byte order mark first)
        }
        if (!object(Kind::root, 1)) {
            return m_verdict;
        }
        skip_ws();
        if (m_shape == Shape::completion && !m_saw_choices) {
            return Verdict::unsure;  // chat_response() says what is wrong with it
        }
        facts.usage_only = facts.usage.is_object() && m_saw_choices && m_choices_empty;
        return m_p == m_end ? Verdict::facts : Verdict::unsure;
    }

private:
    enum class Kind : std::uint8_t { root, choices, choice, delta, other };
    /// `twice`: a key an answer names twice, left to nlohmann (which keeps the last).
    enum class Key : std::uint8_t { other, choices, not_null, usage, twice, delta, finish_reason, content, text_like };
    static constexpr int k_max_depth = 64;  // as the SAX Scanner's stack

    bool fail(Verdict v)
    {
        m_verdict = v;
        return false;
    }
    void skip_ws()
    {
        // Most calls stand on the next token already: any byte above a space is one.
        if (m_p != m_end && static_cast<unsigned char>(*m_p) > ' ') {
            return;
        }
        // A chunk's caller refused CR and LF; an answer may be indented.
        while (m_p != m_end &&
               (*m_p == ' ' || *m_p == '\t' || (m_shape == Shape::completion && (*m_p == '\n' || *m_p == '\r')))) {
            ++m_p;
        }
    }
    bool eat(char c)
    {
        skip_ws();
        if (m_p == m_end || *m_p != c) {
            return false;
        }
        ++m_p;
        return true;
    }

    /// At '{'; `depth` counts it.
    bool object(Kind kind, int depth)
    {
        if (depth > k_max_depth) {
            return fail(Verdict::unsure);
        }
        return members([&](std::string_view name) { return value(kind, key_of(kind, name), depth); });
    }

    /// At '{': through the matching '}', each member's value read by `on_member(name)`.
    template <class OnMember>
    bool members(OnMember&& on_member)
    {
        ++m_p;
        skip_ws();
        if (m_p != m_end && *m_p == '}') {
            ++m_p;
            return true;
        }
        for (;;) {
            skip_ws();
            std::string_view name;
            if (m_p == m_end || *m_p != '"' || !plain_string(name) || !eat(':')) {
                return fail(Verdict::unsure);
            }
            if (!on_member(name)) {
                return false;
            }
            skip_ws();
            if (m_p == m_end) {
                return fail(Verdict::unsure);
            }
            if (*m_p == '}') {
                ++m_p;
                return true;
            }
            if (*m_p++ != ',') {
                return fail(Verdict::unsure);
            }
        }
    }

    bool array(Kind kind, int depth)
    {
        if (depth > k_max_depth) {
            return fail(Verdict::unsure);
        }
        ++m_p;
        skip_ws();
        if (m_p != m_end && *m_p == ']') {
            ++m_p;
            return true;
        }
        for (;;) {
            if (!value(kind, Key::other, depth)) {
                return false;
            }
            skip_ws();
            if (m_p == m_end) {
                return fail(Verdict::unsure);
            }
            if (*m_p == ']') {
                ++m_p;
                return true;
            }
            if (*m_p++ != ',') {
                return fail(Verdict::unsure);
            }
        }
    }

    Key key_of(Kind kind, std::string_view k)
    {
        if (m_shape == Shape::completion) {
            // A `choices` that was not an array ended the scan, so one seen is one named.
            if (kind == Kind::root && k == "choices") {
                return m_saw_choices ? Key::twice : Key::choices;
            }
            if (kind == Kind::root && k == "usage") {
                return std::exchange(m_named_usage, true) ? Key::twice : Key::usage;
            }
            return kind == Kind::choice && k == "finish_reason" ? Key::finish_reason : Key::other;
        }
        switch (kind) {
            case Kind::root:
                if (k == "choices") {
                    m_saw_choices = false;  // a repeated key: the last counts
                    return Key::choices;
                }
                return k == "usage" ? Key::usage : k == "error" ? Key::not_null : Key::other;
            case Kind::choice:
                return k == "delta" ? Key::delta : k == "finish_reason" ? Key::finish_reason : Key::other;
            case Kind::delta:
                if (k == "tool_calls") {
                    m_facts->has_content = true;
                }
                return k == "content"                                 ? Key::content
                       : (k == "reasoning_content" || k == "refusal") ? Key::text_like
                                                                      : Key::other;
            default:
                return Key::other;
        }
    }

    /// A value inside a container of kind `in`, named by `key` (Key::other in an array).
    bool value(Kind in, Key key, int depth)
    {
        skip_ws();
        if (m_p == m_end) {
            return fail(Verdict::unsure);
        }
        // Most members (ids, names, indexes) are none of the keys below: one test passes them.
        if (key != Key::other || in == Kind::choices) {
            if (key == Key::twice) {
                return fail(Verdict::unsure);
            }
            if (key == Key::not_null) {
                // A usage or error the translator must see; nlohmann's scanner refuses it too.
                if (literal("null")) {
                    return true;
                }
                return fail(Verdict::refused);
            }
            if (in == Kind::choices) {
                m_choices_empty = false;
            }
            if (key == Key::usage) {
                if (literal("null")) {
                    m_facts->usage = nullptr;  // a repeated key: the last counts
                    return true;
                }
                if (*m_p == '{') {
                    // An answer's usage is read into its counts; a chunk's is kept for the
                    // translator (StreamTranslator::take_usage).
                    return m_shape == Shape::completion ? usage_counts(depth + 1)
                                                        : usage_value(m_facts->usage, depth + 1);
                }
                // Not an object: the translator decides (an answer: chat_response()).
                return fail(m_shape == Shape::chunk ? Verdict::refused : Verdict::unsure);
            }
            if (key == Key::choices) {
                if (*m_p == '[') {
                    m_saw_choices = true;
                    m_choices_empty = true;
                } else if (m_shape == Shape::completion) {
                    return fail(Verdict::unsure);
                }
            }
        }
        switch (*m_p) {
            case '{':
                return object(in == Kind::choices ? Kind::choice
                              : key == Key::delta ? Kind::delta
                                                  : Kind::other,
                              depth + 1);
            case '[':
                return array(key == Key::choices ? Kind::choices : Kind::other, depth + 1);
            case '"':
                return string_value(in, key);
            case 't':
                return literal("true") || fail(Verdict::unsure);
            case 'f':
                return literal("false") || fail(Verdict::unsure);
            case 'n':
                return literal("null") || fail(Verdict::unsure);
            default:
                return number() || fail(Verdict::unsure);
        }
    }

    /// A value inside `usage`, read into `out` as nlohmann's parser reads it. Objects, strings
    /// without escapes, numbers without an exponent that fit their type, true, false and null;
    /// anything else (an array, say) is unsure.
    bool usage_value(nlohmann::json& out, int depth)
    {
        skip_ws();
        if (m_p == m_end) {
            return fail(Verdict::unsure);
        }
        switch (*m_p) {
            case '{': {
                if (depth > k_max_depth) {
                    return fail(Verdict::unsure);
                }
                out = nlohmann::json::object();
                // A repeated key: the last counts, as nlohmann keeps it.
                return members([&](std::string_view name) { return usage_value(out[std::string(name)], depth + 1); });
            }
            case '"': {
                std::string_view text;
                if (!plain_string(text)) {
                    return fail(Verdict::unsure);
                }
                out = std::string(text);
                return true;
            }
            case 't':
                out = true;
                return literal("true") || fail(Verdict::unsure);
            case 'f':
                out = false;
                return literal("false") || fail(Verdict::unsure);
            case 'n':
                out = nullptr;
                return literal("null") || fail(Verdict::unsure);
            default:
                return number_value(out) || fail(Verdict::unsure);
        }
    }

    /// An answer's `usage` object, read straight into what wire::usage_from_openai() makes
    /// of the value nlohmann builds (usage_read()). The counts it reads are read as
    /// usage_value() reads them; the other members are checked as it checks them, without
    /// building them. A count or a details object named twice is unsure.
    bool usage_counts(int depth)
    {
        if (depth > k_max_depth) {
            return fail(Verdict::unsure);
        }
        std::optional<nlohmann::json> prompt, completion, cache_hit, cached, cache_creation, reasoning;
        enum class Details : std::uint8_t { absent, object, other };
        Details prompt_details = Details::absent;
        Details completion_details = Details::absent;
        auto take = [&](std::optional<nlohmann::json>& slot, int d) {
            if (slot) {
                return fail(Verdict::unsure);
            }
            return usage_value(slot.emplace(), d);
        };
        const bool read = members([&](std::string_view name) {
            if (name == "prompt_tokens") {
                return take(prompt, depth + 1);
            }
            if (name == "completion_tokens") {
                return take(completion, depth + 1);
            }
            if (name == "prompt_cache_hit_tokens") {
                return take(cache_hit, depth + 1);
            }
            const bool of_prompt = name == "prompt_tokens_details";
            if (!of_prompt && name != "completion_tokens_details") {
                return usage_skip(depth + 1);
            }
            Details& details = of_prompt ? prompt_details : completion_details;
            if (details != Details::absent) {
                return fail(Verdict::unsure);
            }
            skip_ws();
            if (m_p == m_end || *m_p != '{') {
                details = Details::other;
                return usage_skip(depth + 1);
            }
            details = Details::object;
            if (depth + 1 > k_max_depth) {
                return fail(Verdict::unsure);
            }
            return members([&](std::string_view inner) {
                if (of_prompt && inner == "cached_tokens") {
                    return take(cached, depth + 2);
                }
                if (of_prompt && inner == "cache_creation_tokens") {
                    return take(cache_creation, depth + 2);
                }
                if (!of_prompt && inner == "reasoning_tokens") {
                    return take(reasoning, depth + 2);
                }
                return usage_skip(depth + 2);
            });
        });
        if (!read) {
            return false;
        }
        // As usage_from_openai() reads the built object.
        wire::Usage u;
        u.reported = true;
        auto count = [&u](const std::optional<nlohmann::json>& v) {
            return wire::token_count_of(v ? &*v : nullptr, u);
        };
        u.input_tokens = count(prompt);
        u.output_tokens = count(completion);
        if (prompt_details == Details::object) {
            u.cached_tokens = count(cached);
            u.cache_write_tokens = count(cache_creation);
        }
        if (completion_details == Details::object) {
            u.reasoning_tokens = count(reasoning);
        }
        if (u.cached_tokens == 0) {
            u.cached_tokens = count(cache_hit);
        }
        m_usage_read = u;
        return true;
    }

    /// A value inside `usage` that usage_value() would read, checked without building it.
    bool usage_skip(int depth)
    {
        skip_ws();
        if (m_p == m_end) {
            return fail(Verdict::unsure);
        }
        switch (*m_p) {
            case '{':
                if (depth > k_max_depth) {
                    return fail(Verdict::unsure);
                }
                return members([&](std::string_view) { return usage_skip(depth + 1); });
            case '"': {
                std::string_view text;
                return plain_string(text) || fail(Verdict::unsure);
            }
            case 't':
                return literal("true") || fail(Verdict::unsure);
            case 'f':
                return literal("false") || fail(Verdict::unsure);
            case 'n':
                return literal("null") || fail(Verdict::unsure);
            default: {
                nlohmann::json number;  // a number holds no allocation
                return number_value(number) || fail(Verdict::unsure);
            }
        }
    }

    /// A number as nlohmann stores it: unsigned without a sign, signed with one, a double
    /// with a fraction (both parse it correctly rounded). An integer too big for its type,
    /// which nlohmann would make a double, is refused.
    bool number_value(nlohmann::json& out)
    {
        const char* start = m_p;
        if (!number()) {
            return false;
        }
        if (std::memchr(start, '.', static_cast<std::size_t>(m_p - start)) != nullptr) {
            double d = 0;
            const auto r = std::from_chars(start, m_p, d);
            out = d;
            return r.ec == std::errc() && r.ptr == m_p;
        }
        if (*start == '-') {
            std::int64_t v = 0;
            const auto r = std::from_chars(start, m_p, v);
            out = v;
            return r.ec == std::errc() && r.ptr == m_p;
        }
        std::uint64_t v = 0;
        const auto r = std::from_chars(start, m_p, v);
        out = v;
        return r.ec == std::errc() && r.ptr == m_p;
    }

    bool literal(std::string_view word)
    {
        if (static_cast<std::size_t>(m_end - m_p) < word.size() || std::string_view(m_p, word.size()) != word) {
            return false;
        }
        m_p += word.size();
        return true;
    }

    /// The JSON number grammar; an exponent (which may overflow a double, refused by
    /// nlohmann) or more than 300 digits is left unsure.
    bool number()
    {
        const char* start = m_p;
        if (*m_p == '-') {
            ++m_p;
        }
        auto digits = [&] {
            const char* d = m_p;
            while (m_p != m_end && *m_p >= '0' && *m_p <= '9') {
                ++m_p;
            }
            return m_p - d;
        };
        if (m_p == m_end || *m_p < '0' || *m_p > '9') {
            return false;
        }
        if (*m_p == '0') {
            ++m_p;
        } else {
            digits();
        }
        if (m_p != m_end && *m_p == '.') {
            ++m_p;
            if (digits() == 0) {
                return false;
            }
        }
        if (m_p != m_end && (*m_p == 'e' || *m_p == 'E')) {
            return false;
        }
        return m_p - start <= 300;
    }

    /// At '"': a string without escapes (a key, a finish reason): its bytes, checked.
    bool plain_string(std::string_view& out)
    {
        const char* start = ++m_p;
        std::size_t decoded = 0;
        bool escaped = false;
        if (!string_body(decoded, escaped) || escaped) {
            return false;
        }
        out = std::string_view(start, static_cast<std::size_t>(m_p - 1 - start));
        return true;
    }

    bool string_value(Kind in, Key key)
    {
        if (in == Kind::choice && key == Key::finish_reason) {
            std::string_view reason;
            if (!plain_string(reason)) {
                return fail(Verdict::unsure);
            }
            if (!reason.empty()) {
                m_facts->finish_reasons.emplace_back(reason);
            }
            return true;
        }
        ++m_p;
        std::size_t decoded = 0;
        bool escaped = false;
        if (!string_body(decoded, escaped)) {
            return fail(Verdict::unsure);
        }
        if (in == Kind::delta) {
            if (key == Key::content) {
                m_facts->content_chars += decoded;
            }
            if ((key == Key::content || key == Key::text_like) && decoded > 0) {
                m_facts->has_content = true;
            }
        }
        return true;
    }

    /// After the opening quote: through the closing one, counting the decoded UTF-8 bytes
    /// and checking what nlohmann checks (no control bytes, valid escapes, well-formed UTF-8).
    /// A run of plain ASCII, most of a chunk, passes eight bytes at a time (skip_json_plain).
    [[gnu::always_inline]] bool string_body(std::size_t& decoded, bool& escaped)
    {
        // Most strings of a chunk (keys, ids, a token's text) are plain ASCII to the quote:
        // that case is inlined where the scanner reads a string, the rest is a call.
        const char* run = wire::skip_json_plain(m_p, m_end);
        if (run != m_end && *run == '"') [[likely]] {
            decoded += static_cast<std::size_t>(run - m_p);
            m_p = run + 1;
            return true;
        }
        return string_body_rest(decoded, escaped);
    }
    /// string_body() past its first plain run: escapes, UTF-8, the end of the input.
    [[gnu::noinline]] bool string_body_rest(std::size_t& decoded, bool& escaped)
    {
        for (;;) {
            const char* run = wire::skip_json_plain(m_p, m_end);
            decoded += static_cast<std::size_t>(run - m_p);
            m_p = run;
            if (m_p == m_end) {
                return false;
            }
            const std::string_view rest(m_p, static_cast<std::size_t>(m_end - m_p));
            switch (k_byte_class[static_cast<unsigned char>(*m_p)]) {
                case Byte::quote:
                    ++m_p;
                    return true;
                case Byte::escape: {
                    escaped = true;
                    const auto e = wire::json_escape_at(rest, 0);
                    if (e.length == 0) {
                        return false;
                    }
                    m_p += e.length;
                    decoded += e.decoded;
                    break;
                }
                case Byte::multibyte: {
                    const std::size_t n = wire::utf8_char_length(rest, 0);
                    if (n == 0) {
                        return false;
                    }
                    m_p += n;
                    decoded += n;
                    break;
                }
                case Byte::control:
                case Byte::plain:  // not here: the run above took it
                    return false;
            }
        }
    }

    /// What a byte inside a string is to string_body().
    enum class Byte : std::uint8_t { plain, quote, escape, control, multibyte };
    static constexpr std::array<Byte, 256> k_byte_class = [] {
        std::array<Byte, 256> t{};
        for (std::size_t c = 0; c < t.size(); ++c) {
            t[c] = c < 0x20    ? Byte::control
                   : c == '"'  ? Byte::quote
                   : c == '\\' ? Byte::escape
                   : c >= 0x80 ? Byte::multibyte
                               : Byte::plain;
        }
        return t;
    }();

    const char* m_p;
    const char* m_end;
    Shape m_shape;
    ChunkFacts* m_facts = nullptr;
    bool m_named_usage = false;
    bool m_saw_choices = false;
    bool m_choices_empty = false;
    Verdict m_verdict = Verdict::unsure;
    wire::Usage m_usage_read;  ///< an answer's usage (Shape::completion), as usage_from_openai() reads it
};

bool one_line(std::string_view data)
{
    // The relay writes a chunk after a single `data: ` (a JSON object the upstream spread
    // over several data lines goes through the translator instead).
    return !data.empty() && std::memchr(data.data(), '\n', data.size()) == nullptr &&
           std::memchr(data.data(), '\r', data.size()) == nullptr;
}

}  // namespace

std::optional<ChunkFacts> scan_chunk(std::string_view data)
{
    ChunkFacts facts;
    switch (detail::scan_chunk_fast(data, facts)) {
        case detail::Scan::facts:
            return facts;
        case detail::Scan::refused:
            return std::nullopt;
        case detail::Scan::unsure:
            break;
    }
    return detail::scan_chunk_sax(data);
}

std::optional<CompletionFacts> scan_completion(std::string_view body)
{
    ChunkFacts facts;
    FastScanner scanner(body, FastScanner::Shape::completion);
    if (scanner.run(facts) != detail::Scan::facts) {
        return std::nullopt;
    }
    return CompletionFacts{std::move(facts.finish_reasons), scanner.usage_read()};
}

namespace detail {

Scan scan_chunk_fast(std::string_view data, ChunkFacts& facts)
{
    if (!one_line(data)) {
        return Scan::refused;
    }
    return FastScanner(data, FastScanner::Shape::chunk).run(facts);
}

std::optional<ChunkFacts> scan_chunk_sax(std::string_view data)
{
    if (!one_line(data)) {
        return std::nullopt;
    }
    Scanner s;
    try {
        if (!nlohmann::json::sax_parse(data.begin(), data.end(), &s, nlohmann::json::input_format_t::json, true)) {
            return std::nullopt;
        }
        s.finish();
    } catch (const nlohmann::json::exception&) {
        return std::nullopt;
    }
    return std::move(s.facts);
}

}  // namespace detail

}  // namespace aigw::daemon::pipeline

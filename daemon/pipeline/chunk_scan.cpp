#include "daemon/pipeline/chunk_scan.hpp"

#include <nlohmann/json.hpp>

#include <array>
#include <cstdint>
#include <cstring>

namespace aigw::daemon::pipeline {

namespace {

/// A SAX handler that follows choices[].delta and choices[].finish_reason and gives up (returns
/// false) on anything the translator must see. Nothing is allocated but finish reasons.
class Scanner {
public:
    using json = nlohmann::json;

    ChunkFacts facts;

    bool null()
    {
        // `usage: null` is on every chunk of a stream that asked for usage.
        m_last = m_key = Key::other;
        return m_depth > 0;
    }
    bool boolean(bool) { return scalar(); }
    bool number_integer(json::number_integer_t) { return scalar(); }
    bool number_unsigned(json::number_unsigned_t) { return scalar(); }
    bool number_float(json::number_float_t, const json::string_t&) { return scalar(); }
    bool binary(json::binary_t&) { return false; }

    bool string(json::string_t& s)
    {
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
        switch (m_stack[m_depth - 1]) {
            case Kind::root:
                m_key = k == "choices" ? Key::choices : (k == "usage" || k == "error") ? Key::not_null : Key::other;
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
        if (m_depth == 0) {
            return false;  // a chunk is an object
        }
        return open(m_key == Key::choices ? Kind::choices : Kind::other);
    }
    bool end_object() { return close(); }
    bool end_array() { return close(); }

    bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception&) { return false; }

private:
    enum class Kind : std::uint8_t { root, choices, choice, delta, other };
    /// What the key just read names, for the value that follows it.
    enum class Key : std::uint8_t { other, choices, not_null, delta, finish_reason, content, text_like };

    /// A value that is not an object or array: its key is used up.
    bool scalar()
    {
        m_last = m_key;
        const bool allowed = m_depth > 0 && m_key != Key::not_null;
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
        --m_depth;
        m_key = Key::other;
        return true;
    }

    std::array<Kind, 64> m_stack{};
    std::size_t m_depth = 0;
    Key m_key = Key::other;
    Key m_last = Key::other;
};

}  // namespace

std::optional<ChunkFacts> scan_chunk(std::string_view data)
{
    // One line only: the relay writes it after a single `data: ` (a JSON object the upstream
    // spread over several data lines goes through the translator instead).
    if (data.empty() || std::memchr(data.data(), '\n', data.size()) != nullptr ||
        std::memchr(data.data(), '\r', data.size()) != nullptr) {
        return std::nullopt;
    }
    Scanner s;
    try {
        if (!nlohmann::json::sax_parse(data.begin(), data.end(), &s, nlohmann::json::input_format_t::json, true)) {
            return std::nullopt;
        }
    } catch (const nlohmann::json::exception&) {
        return std::nullopt;
    }
    return std::move(s.facts);
}

}  // namespace aigw::daemon::pipeline

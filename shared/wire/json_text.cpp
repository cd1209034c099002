#include "shared/wire/json_text.hpp"

#include "shared/wire/utf8.hpp"

namespace aigw::wire {

std::string dump_json(const nlohmann::json& value)
{
    return value.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
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

nlohmann::json parse_json_lenient(std::string_view text, int max_depth)
{
    if (!json_depth_ok(text, max_depth)) {
        return nlohmann::json(nlohmann::json::value_t::discarded);
    }
    return nlohmann::json::parse(text, nullptr, false);
}

namespace {

std::expected<nlohmann::json, std::string> parse_guarded(std::string_view text, int max_depth)
{
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

#include "daemon/cluster/resp.hpp"

#include <charconv>

namespace aigw::daemon::cluster {

std::string encode_command(const std::vector<std::string>& args)
{
    std::string out = "*" + std::to_string(args.size()) + "\r\n";
    for (const auto& a : args) {
        out += "$";
        out += std::to_string(a.size());
        out += "\r\n";
        out += a;
        out += "\r\n";
    }
    return out;
}

namespace {

using Result = std::expected<std::optional<RespValue>, std::string>;

/// The line at `pos` up to CRLF; nullopt when the CRLF has not arrived yet.
std::optional<std::string_view> line_at(std::string_view buf, std::size_t pos, std::size_t& next)
{
    const auto end = buf.find("\r\n", pos);
    if (end == std::string_view::npos) {
        return std::nullopt;
    }
    next = end + 2;
    return buf.substr(pos, end - pos);
}

std::optional<std::int64_t> integer_of(std::string_view s)
{
    std::int64_t v = 0;
    const auto* first = s.data();
    const auto* last = s.data() + s.size();
    const auto [ptr, ec] = std::from_chars(first, last, v);
    if (ec != std::errc() || ptr != last || s.empty()) {
        return std::nullopt;
    }
    return v;
}

Result parse_at(std::string_view buf, std::size_t& pos, int depth)
{
    if (depth > k_max_depth) {
        return std::unexpected("RESP reply nested deeper than " + std::to_string(k_max_depth));
    }
    if (pos >= buf.size()) {
        return std::optional<RespValue>{};
    }
    const char kind = buf[pos];
    std::size_t next = 0;
    const auto line = line_at(buf, pos + 1, next);
    if (!line) {
        if (buf.size() - pos > 64 * 1024) {
            return std::unexpected("RESP line longer than 64 KiB");
        }
        return std::optional<RespValue>{};
    }
    RespValue v;
    switch (kind) {
        case '+':
            v.type = RespValue::Type::simple;
            v.text = std::string(*line);
            pos = next;
            return v;
        case '-':
            v.type = RespValue::Type::error;
            v.text = std::string(*line);
            pos = next;
            return v;
        case ':': {
            const auto n = integer_of(*line);
            if (!n) {
                return std::unexpected("RESP integer is not a number: '" + std::string(line->substr(0, 40)) + "'");
            }
            v.type = RespValue::Type::integer;
            v.integer = *n;
            pos = next;
            return v;
        }
        case '$': {
            const auto n = integer_of(*line);
            if (!n || *n < -1) {
                return std::unexpected("RESP bulk length is not valid: '" + std::string(line->substr(0, 40)) + "'");
            }
            if (*n == -1) {
                pos = next;
                return v;  // nil
            }
            if (static_cast<std::uint64_t>(*n) > k_max_bulk_bytes) {
                return std::unexpected("RESP bulk string of " + std::to_string(*n) + " bytes is over the limit");
            }
            const auto len = static_cast<std::size_t>(*n);
            if (buf.size() < next + len + 2) {
                return std::optional<RespValue>{};
            }
            if (buf.substr(next + len, 2) != "\r\n") {
                return std::unexpected("RESP bulk string does not end in CRLF");
            }
            v.type = RespValue::Type::bulk;
            v.text = std::string(buf.substr(next, len));
            pos = next + len + 2;
            return v;
        }
        case '*': {
            const auto n = integer_of(*line);
            if (!n || *n < -1 || *n > k_max_array_items) {
                return std::unexpected("RESP array length is not valid: '" + std::string(line->substr(0, 40)) + "'");
            }
            if (*n == -1) {
                pos = next;
                return v;  // nil array
            }
            v.type = RespValue::Type::array;
            std::size_t at = next;
            for (std::int64_t i = 0; i < *n; ++i) {
                auto item = parse_at(buf, at, depth + 1);
                if (!item) {
                    return std::unexpected(std::move(item.error()));
                }
                if (!*item) {
                    return std::optional<RespValue>{};  // the rest has not arrived
                }
                v.items.push_back(std::move(**item));
            }
            pos = at;
            return v;
        }
        default:
            return std::unexpected(std::string("RESP reply starts with an unknown type byte 0x") +
                                   "0123456789abcdef"[(static_cast<unsigned char>(kind) >> 4) & 0xf] +
                                   "0123456789abcdef"[static_cast<unsigned char>(kind) & 0xf]);
    }
}

}  // namespace

std::expected<std::optional<RespValue>, std::string> parse_reply(std::string_view buf, std::size_t& consumed)
{
    std::size_t pos = 0;
    auto r = parse_at(buf, pos, 0);
    if (r && *r) {
        consumed = pos;
    }
    return r;
}

}  // namespace aigw::daemon::cluster

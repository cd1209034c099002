#include "daemon/providers/bedrock/aws_eventstream.hpp"

#include "shared/wire/json_text.hpp"

#include <array>

namespace aigw::daemon::providers::aws_eventstream {
namespace {

// Bounds a frame may have: 16 MiB total and 128 KiB of headers are the service's limits.
constexpr std::uint32_t k_prelude = 12;
constexpr std::uint32_t k_min_message = 16;
constexpr std::uint32_t k_max_message = 16 * 1024 * 1024;
constexpr std::uint32_t k_max_headers = 128 * 1024;

constexpr std::array<std::uint32_t, 256> make_crc_table()
{
    std::array<std::uint32_t, 256> table{};
    for (std::uint32_t i = 0; i < 256; ++i) {
        std::uint32_t c = i;
        for (int k = 0; k < 8; ++k) {
            c = (c & 1U) ? 0xEDB88320U ^ (c >> 1) : c >> 1;
        }
        table[i] = c;
    }
    return table;
}
constexpr auto k_crc_table = make_crc_table();

std::uint32_t read_u32(std::string_view s, std::size_t at)
{
    auto b = [&](std::size_t i) { return static_cast<std::uint32_t>(static_cast<unsigned char>(s[at + i])); };
    return (b(0) << 24) | (b(1) << 16) | (b(2) << 8) | b(3);
}

std::uint16_t read_u16(std::string_view s, std::size_t at)
{
    auto b = [&](std::size_t i) { return static_cast<std::uint16_t>(static_cast<unsigned char>(s[at + i])); };
    return static_cast<std::uint16_t>((b(0) << 8) | b(1));
}

void put_u32(std::string& out, std::uint32_t v)
{
    out += static_cast<char>((v >> 24) & 0xff);
    out += static_cast<char>((v >> 16) & 0xff);
    out += static_cast<char>((v >> 8) & 0xff);
    out += static_cast<char>(v & 0xff);
}

wire::Failure framing_failure(std::string what)
{
    wire::Failure f;
    f.kind = wire::FailureKind::upstream;
    f.status = 502;
    f.message = "Bedrock sent a malformed event stream (" + what + ").";
    return f;
}

/// Parses the headers block; only string headers are kept, the others are skipped.
std::expected<std::map<std::string, std::string>, wire::Failure> parse_headers(std::string_view h)
{
    std::map<std::string, std::string> out;
    std::size_t i = 0;
    while (i < h.size()) {
        std::size_t name_len = static_cast<unsigned char>(h[i]);
        if (i + 1 + name_len + 1 > h.size()) {
            return std::unexpected(framing_failure("header name runs past the headers"));
        }
        std::string name(h.substr(i + 1, name_len));
        i += 1 + name_len;
        auto type = static_cast<unsigned char>(h[i]);
        i += 1;
        std::size_t fixed = 0;
        switch (type) {
            case 0:
            case 1:
                fixed = 0;
                break;
            case 2:
                fixed = 1;
                break;
            case 3:
                fixed = 2;
                break;
            case 4:
                fixed = 4;
                break;
            case 5:
            case 8:
                fixed = 8;
                break;
            case 9:
                fixed = 16;
                break;
            case 6:
            case 7: {
                if (i + 2 > h.size()) {
                    return std::unexpected(framing_failure("header value length runs past the headers"));
                }
                std::size_t len = read_u16(h, i);
                i += 2;
                if (i + len > h.size()) {
                    return std::unexpected(framing_failure("header value runs past the headers"));
                }
                if (type == 7) {
                    out[name] = std::string(h.substr(i, len));
                }
                i += len;
                continue;
            }
            default:
                return std::unexpected(framing_failure("unknown header type " + std::to_string(type)));
        }
        if (i + fixed > h.size()) {
            return std::unexpected(framing_failure("header value runs past the headers"));
        }
        i += fixed;
    }
    return out;
}

class EventStreamDecoder final : public StreamDecoder {
public:
    std::expected<void, wire::Failure> feed(std::string_view bytes, std::vector<wire::SseEvent>& out) override
    {
        std::vector<Message> messages;
        auto ok = m_decoder.feed(bytes, messages);
        for (const auto& m : messages) {
            out.push_back(to_event(m));
        }
        return ok;
    }
    void finish(std::vector<wire::SseEvent>&) override {}  // a partial frame is dropped: no event

private:
    Decoder m_decoder;
};

}  // namespace

std::uint32_t crc32(std::string_view data, std::uint32_t crc)
{
    crc = ~crc;
    for (char ch : data) {
        crc = k_crc_table[(crc ^ static_cast<unsigned char>(ch)) & 0xffU] ^ (crc >> 8);
    }
    return ~crc;
}

std::string encode(const std::map<std::string, std::string>& headers, std::string_view payload)
{
    std::string h;
    for (const auto& [name, value] : headers) {
        h += static_cast<char>(name.size());
        h += name;
        h += static_cast<char>(7);
        h += static_cast<char>((value.size() >> 8) & 0xff);
        h += static_cast<char>(value.size() & 0xff);
        h += value;
    }
    std::string out;
    put_u32(out, static_cast<std::uint32_t>(k_min_message + h.size() + payload.size()));
    put_u32(out, static_cast<std::uint32_t>(h.size()));
    put_u32(out, crc32(out));
    out += h;
    out += payload;
    put_u32(out, crc32(out));
    return out;
}

std::expected<void, wire::Failure> Decoder::feed(std::string_view bytes, std::vector<Message>& out)
{
    if (m_failed) {
        return std::unexpected(framing_failure("input after a framing error"));
    }
    m_buffer.append(bytes);
    while (m_buffer.size() - m_offset >= k_prelude) {
        std::string_view rest(m_buffer.data() + m_offset, m_buffer.size() - m_offset);
        std::uint32_t total = read_u32(rest, 0);
        std::uint32_t headers_len = read_u32(rest, 4);
        if (crc32(rest.substr(0, 8)) != read_u32(rest, 8)) {
            m_failed = true;
            return std::unexpected(framing_failure("prelude CRC mismatch"));
        }
        if (total < k_min_message || total > k_max_message || headers_len > k_max_headers ||
            headers_len > total - k_min_message) {
            m_failed = true;
            return std::unexpected(framing_failure("impossible message length " + std::to_string(total)));
        }
        if (rest.size() < total) {
            break;  // wait for the rest of the message
        }
        std::string_view msg = rest.substr(0, total);
        if (crc32(msg.substr(0, total - 4)) != read_u32(msg, total - 4)) {
            m_failed = true;
            return std::unexpected(framing_failure("message CRC mismatch"));
        }
        auto headers = parse_headers(msg.substr(k_prelude, headers_len));
        if (!headers) {
            m_failed = true;
            return std::unexpected(headers.error());
        }
        Message m;
        m.headers = std::move(*headers);
        m.payload = std::string(msg.substr(k_prelude + headers_len, total - k_min_message - headers_len));
        out.push_back(std::move(m));
        m_offset += total;
    }
    // Drop consumed bytes once they dominate the buffer, so feeding stays linear.
    if (m_offset > 0 && m_offset * 2 >= m_buffer.size()) {
        m_buffer.erase(0, m_offset);
        m_offset = 0;
    }
    return {};
}

wire::SseEvent to_event(const Message& message)
{
    auto header = [&](const char* name) -> std::string {
        auto it = message.headers.find(name);
        return it == message.headers.end() ? std::string() : it->second;
    };
    wire::SseEvent ev;
    std::string type = header(":message-type");
    if (type == "exception") {
        ev.event = "error";
        auto doc = wire::parse_json_lenient(message.payload);
        if (doc.is_discarded() || !doc.is_object()) {
            doc = {{"message", message.payload}};
        }
        doc["__type"] = header(":exception-type");
        ev.data = wire::dump_json(doc);
    } else if (type == "error") {
        ev.event = "error";
        ev.data =
            wire::dump_json(nlohmann::json{{"__type", header(":error-code")}, {"message", header(":error-message")}});
    } else {
        ev.event = header(":event-type");
        ev.data = message.payload;
    }
    return ev;
}

std::unique_ptr<StreamDecoder> make_decoder()
{
    return std::make_unique<EventStreamDecoder>();
}

}  // namespace aigw::daemon::providers::aws_eventstream

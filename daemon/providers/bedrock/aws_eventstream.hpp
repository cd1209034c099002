#pragma once
// The AWS event-stream binary framing (content type application/vnd.amazon.eventstream),
// used by Bedrock's ConverseStream and InvokeModelWithResponseStream.
//
// A message: total length (u32 BE), headers length (u32 BE), CRC32 of those 8 bytes,
// headers, payload, CRC32 of everything before it. A header: name length (u8), name,
// value type (u8), value. Types: 0 true, 1 false (no value), 2 byte, 3 short, 4 int,
// 5 long, 6 byte array (u16 length), 7 string (u16 length), 8 timestamp (8), 9 uuid (16).

#include "daemon/providers/adapter.hpp"

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>

namespace aigw::daemon::providers::aws_eventstream {

/// CRC-32 (IEEE 802.3, the one zlib computes), continuing from `crc`.
std::uint32_t crc32(std::string_view data, std::uint32_t crc = 0);

/// One decoded message: its string headers (other header types are skipped) and payload.
struct Message {
    std::map<std::string, std::string> headers;
    std::string payload;
};

/// Encodes a message with string headers (what the tests and a fake upstream need).
std::string encode(const std::map<std::string, std::string>& headers, std::string_view payload);

/// Incremental decoder: feed bytes as they arrive, split anywhere.
class Decoder {
public:
    /// Appends every message completed by `bytes`. A bad CRC or an impossible length is a
    /// Failure (upstream); the decoder then refuses further input.
    std::expected<void, wire::Failure> feed(std::string_view bytes, std::vector<Message>& out);
    /// Bytes received that do not yet form a whole message.
    std::size_t pending() const { return m_buffer.size() - m_offset; }

private:
    std::string m_buffer;
    std::size_t m_offset = 0;
    bool m_failed = false;
};

/// The message as an SseEvent: event = :event-type; for :message-type "exception" the event
/// is "error" and the data is the payload with "__type" set to :exception-type; for
/// :message-type "error" the event is "error" and the data is
/// {"__type": :error-code, "message": :error-message}.
wire::SseEvent to_event(const Message& message);

/// A StreamDecoder over the event-stream framing (Bedrock's Adapter::stream_decoder()).
std::unique_ptr<StreamDecoder> make_decoder();

}  // namespace aigw::daemon::providers::aws_eventstream

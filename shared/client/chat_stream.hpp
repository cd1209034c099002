#pragma once
// Decoding of the daemon's streamed chat answer (OpenAI SSE), apart from any socket so it
// can be fed canned bytes in tests.

#include "shared/client/types.hpp"
#include "shared/wire/sse.hpp"

#include <nlohmann/json.hpp>

#include <functional>
#include <string_view>

namespace aigw::client {

/// Called for every chunk; return false to stop the stream (the answer so far is kept).
using ChunkCallback = std::function<bool(const nlohmann::json& chunk)>;

/// Feeds SSE bytes, hands each `data: {chunk}` to the callback and accumulates the text.
class ChatStreamDecoder {
public:
    explicit ChatStreamDecoder(ChunkCallback on_chunk) : m_on_chunk(std::move(on_chunk)) {}

    /// Returns true to keep reading, false once the stream is over ([DONE], an error
    /// event, or the callback asked to stop). Check error() / done() / stopped() after.
    bool feed(std::string_view bytes);
    /// Call when the connection ends: a stream without [DONE] and without an error is
    /// reported as truncated. Returns the accumulated answer or the error.
    std::expected<void, ClientError> finish();

    bool done() const { return m_done; }
    bool stopped() const { return m_stopped; }
    const std::optional<ClientError>& error() const { return m_error; }

    const std::string& content() const { return m_content; }
    const std::string& finish_reason() const { return m_finish_reason; }
    const nlohmann::json& usage() const { return m_usage; }
    /// The model named in the chunks (the daemon's served model).
    const std::string& model() const { return m_model; }

private:
    bool handle_event(const wire::SseEvent& ev);

    ChunkCallback m_on_chunk;
    wire::SseReader m_reader;
    std::vector<wire::SseEvent> m_events;
    std::string m_content;
    std::string m_finish_reason;
    std::string m_model;
    nlohmann::json m_usage;
    std::optional<ClientError> m_error;
    bool m_done = false;
    bool m_stopped = false;
};

}  // namespace aigw::client

#pragma once
// The inbound Anthropic surface's pure translators: an Anthropic Messages request in, the
// canonical (OpenAI chat) request out; the canonical answer or chunks back to Anthropic's
// shapes, so the official Anthropic SDKs can talk to any model behind aigw. When the target
// itself speaks Anthropic, the server forwards the body as is instead (native passthrough).

#include "shared/wire/error.hpp"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <expected>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace aigw::daemon::providers {

/// An Anthropic Messages request -> an OpenAI chat-completions request. Returns a
/// bad_request Failure when the request is not a Messages request (no messages array,
/// a block type that has no canonical form).
std::expected<nlohmann::json, wire::Failure> anthropic_request_to_canonical(const nlohmann::json& messages_request);

/// An OpenAI chat.completion -> an Anthropic Message (first choice), reporting `model`.
nlohmann::json canonical_response_to_anthropic(const nlohmann::json& chat_completion, std::string_view model);

/// Turns OpenAI chat.completion.chunk objects into Anthropic's SSE event sequence:
/// message_start, content_block_start/delta/stop per text, thinking or tool_use block,
/// message_delta (stop_reason, usage), message_stop. Each string is one complete
/// "event: X\ndata: {...}\n\n".
class AnthropicStreamWriter {
public:
    /// `input_tokens`: what message_start reports when the first chunk carries no usage
    /// (most upstreams count the prompt only at the end; clients such as Claude Code show
    /// cost from message_start). message_delta carries the real counts.
    explicit AnthropicStreamWriter(std::string model, std::int64_t input_tokens = 0);

    /// Events for one canonical chunk (the usage-only chunk included).
    std::vector<std::string> on_chunk(const nlohmann::json& chunk);
    /// Closes the open block and ends the message; call once when the upstream finished.
    std::vector<std::string> finish();
    /// An `event: error` for a failure in the middle of the stream.
    static std::string error_event(const wire::Failure& failure);

private:
    enum class Block { none, text, thinking, tool_use };

    void start_message(const nlohmann::json& chunk, std::vector<std::string>& out);
    void open_block(Block type, nlohmann::json content_block, std::vector<std::string>& out);
    void close_block(std::vector<std::string>& out);

    std::string m_model;
    std::int64_t m_input_tokens = 0;
    std::string m_id;
    bool m_started = false;
    bool m_finished = false;
    Block m_block = Block::none;
    int m_block_index = -1;
    std::map<int, int> m_tool_blocks;  ///< OpenAI tool_calls index -> content block index
    std::string m_stop_reason = "end_turn";
    nlohmann::json m_usage;  ///< last OpenAI usage object seen
};

}  // namespace aigw::daemon::providers

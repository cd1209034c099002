#pragma once
// A cached answer is stored once, as an OpenAI chat.completion, whatever surface or mode
// produced it. These two pure functions convert between that and a chunk stream: a
// streamed answer is assembled before it is stored, and a hit is replayed as chunks to a
// client that asked for a stream.

#include <nlohmann/json.hpp>

#include <expected>
#include <string>
#include <vector>

namespace aigw::daemon::cache {

/// A chat.completion as OpenAI chat.completion.chunk objects, per choice: a role chunk,
/// reasoning, content (with the choice's logprobs), refusal, one chunk per tool call
/// (index, id, type, function name and whole arguments), a finish_reason chunk; then one
/// usage-only chunk (`choices: []`) when the completion has usage. id, created, model and
/// system_fingerprint are the completion's.
std::vector<nlohmann::json> replay_chunks(const nlohmann::json& completion);

/// The chat.completion a complete chunk stream adds up to (texts concatenated, tool calls
/// merged by index, usage from the usage chunk). An error when a choice has no
/// finish_reason (the stream was not complete) or there is no choice at all.
std::expected<nlohmann::json, std::string> assemble_completion(const std::vector<nlohmann::json>& chunks);

}  // namespace aigw::daemon::cache

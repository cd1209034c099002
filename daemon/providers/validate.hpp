#pragma once
// Type checks for inbound request bodies, run before any translator reads them: a field of
// the wrong type is the client's mistake (400 naming the field), never a type_error thrown
// from deep inside a translator (500). Only shapes are checked; values a provider may
// refuse (an unknown model, a too-large max_tokens) are left to the provider.

#include "shared/wire/error.hpp"

#include <nlohmann/json.hpp>

#include <optional>

namespace aigw::daemon::providers {

/// Largest integer accepted for counts such as max_tokens and n.
inline constexpr std::int64_t k_max_request_integer = 2147483647;

/// An OpenAI chat-completions body (also the canonical request). Returns nullopt when the
/// shape is right, else a 400 bad_request whose message and `param` name the field, e.g.
/// "max_tokens: must be an integer >= 1 (got a string)." Checks: body is an object; model a
/// non-empty string; messages a non-empty array of objects with a string role and content
/// string | array of objects with a string `type` | null (tool_calls an array of objects);
/// stream, logprobs, parallel_tool_calls booleans; max_tokens, max_completion_tokens, n
/// integers >= 1; seed, top_logprobs integers; temperature, top_p, presence_penalty,
/// frequency_penalty numbers; stop a string or array of strings; tools an array of
/// objects with a string `type`; tool_choice a string or object; response_format,
/// stream_options, metadata objects; user, reasoning_effort strings. null is accepted
/// wherever a field is optional.
std::optional<wire::Failure> validate_chat_request(const nlohmann::json& body);

/// validate_chat_request without the model check: what every provider's chat_request runs
/// on the canonical request (whose model the router has already replaced by the target's).
std::optional<wire::Failure> validate_chat_fields(const nlohmann::json& body);

/// An Anthropic Messages body: model a non-empty string; messages an array of objects with
/// role "user" | "assistant" and content a string or array of objects with a string `type`;
/// system a string or array of objects; max_tokens an integer >= 1; top_k an integer;
/// temperature, top_p numbers; stream a boolean; stop_sequences an array of strings; tools
/// an array of objects; tool_choice, metadata, thinking objects (thinking.budget_tokens an
/// integer). Returns nullopt or a 400 naming the field.
std::optional<wire::Failure> validate_messages_request(const nlohmann::json& body);

/// validate_messages_request without the model check: what anthropic_request_to_canonical
/// runs itself (the server may have set or replaced the model already).
std::optional<wire::Failure> validate_messages_fields(const nlohmann::json& body);

/// An OpenAI embeddings body: model a non-empty string; input a non-empty string, array of
/// strings, array of integers (tokens) or array of arrays of integers; dimensions an integer
/// >= 1; encoding_format "float" or "base64"; user a string. Returns nullopt or a 400.
std::optional<wire::Failure> validate_embeddings_request(const nlohmann::json& body);

}  // namespace aigw::daemon::providers

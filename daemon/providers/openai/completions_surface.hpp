#pragma once
// The legacy OpenAI completions API (POST /v1/completions: a prompt in, text out; `suffix`
// for fill-in-the-middle, which editors' autocomplete uses) as pure translations. Providers
// that serve it get the body natively (Adapter::completions_request); every other model is
// asked through the canonical chat form, and its answer comes back as a text_completion.

#include "daemon/providers/adapter.hpp"

#include <nlohmann/json.hpp>

#include <expected>
#include <string>
#include <string_view>

namespace aigw::daemon::providers {

/// Checks a completions body: model, prompt (a string, or an array of one string),
/// suffix, max_tokens, stream. Whatever a chat model cannot do (echo, logprobs, best_of > 1,
/// n > 1, token-id prompts, several prompts) is refused here only when `translated`.
std::optional<wire::Failure> validate_completions_request(const nlohmann::json& body, bool translated);

/// What an endpoint that answers one prompt with one text cannot do (token ids or several
/// prompts, echo, logprobs, n or best_of > 1): a 400 naming the parameter, its message the
/// parameter + `why` (" is not supported by ..."); nullopt when the body asks for none of it.
std::optional<wire::Failure> refuse_beyond_one_text(const nlohmann::json& body, std::string_view why);

/// A completions body -> a canonical chat request. Without `suffix` the prompt is the user
/// message; with it, a fill-in-the-middle instruction frames prefix and suffix.
std::expected<nlohmann::json, wire::Failure> completions_to_canonical(const nlohmann::json& body);

/// A canonical chat.completion -> a text_completion answer named `model`.
nlohmann::json canonical_to_completion(const nlohmann::json& chat, std::string_view model);

/// One canonical chat.completion.chunk -> a text_completion chunk; nullopt for chunks that
/// carry nothing a completions client reads (a role-only first chunk).
std::optional<nlohmann::json> canonical_chunk_to_completion(const nlohmann::json& chunk, std::string_view model);

/// The key under which CompletionsStreamTap keeps the upstream's own chunk.
inline constexpr const char* k_native_chunk = "aigw_native_chunk";

/// Taps a native text_completion stream for the relay: each chunk becomes a canonical one
/// (so the dispatcher sees content and counts text) that carries the upstream's chunk
/// under k_native_chunk; usage is read from the usage chunk, `[DONE]` finishes it, an
/// error event fails it.
class CompletionsStreamTap final : public StreamTranslator {
public:
    std::expected<void, wire::Failure> on_event(const wire::SseEvent& ev, std::vector<nlohmann::json>& out) override;
    bool finished() const override { return m_finished; }
    wire::Usage usage() const override { return m_usage; }

private:
    bool m_finished = false;
    wire::Usage m_usage;
};

}  // namespace aigw::daemon::providers

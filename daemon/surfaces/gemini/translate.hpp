#pragma once
// The inbound Gemini surface's pure translators: a GenerateContentRequest in, the canonical
// (OpenAI chat) request out; the canonical answer or chunks back to GenerateContentResponse,
// so Gemini CLI and the @google/genai SDK can talk to any model behind aigw. When the target
// itself speaks Gemini, the server forwards the body as is instead (native passthrough).
//
// Tool call ids: Gemini's functionCall / functionResponse parts carry an optional `id`. A
// translated answer puts the canonical tool call id there; a request whose parts have no id
// gets "call_<n>" numbered over the conversation, and each functionResponse answers the
// earliest open call of its name.

#include "daemon/providers/adapter.hpp"
#include "shared/wire/error.hpp"
#include "shared/wire/usage.hpp"

#include <nlohmann/json.hpp>

#include <expected>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace aigw::daemon::surfaces::gemini {

/// The parts of a Gemini model path after "models/": "gemini-2.5-flash:generateContent" ->
/// {"gemini-2.5-flash", "generateContent"}. The model may contain '/' (openai/gpt-4o-mini);
/// the method is what follows the last ':'. nullopt when there is no ':' or either part is empty.
struct ModelCall {
    std::string model;
    std::string method;
};
std::optional<ModelCall> parse_model_call(std::string_view rest);

/// A GenerateContentRequest (camelCase or snake_case fields) -> an OpenAI chat-completions
/// request without `model`. Returns a 400 for what has no canonical form (code execution,
/// Google Search grounding, cachedContent, audio output, ...), naming the field.
std::expected<nlohmann::json, wire::Failure> request_to_canonical(const nlohmann::json& request);

/// Gemini's OpenAPI-subset Schema (upper-case types, `nullable`) -> JSON Schema.
nlohmann::json json_schema_from_gemini(const nlohmann::json& schema);

/// Canonical finish_reason -> Gemini's finishReason ("stop" -> STOP, "length" -> MAX_TOKENS,
/// "content_filter" -> SAFETY, tool calls -> STOP).
std::string finish_reason_to_gemini(std::string_view finish_reason);

/// An OpenAI `usage` object -> usageMetadata (promptTokenCount includes cached tokens,
/// candidatesTokenCount excludes thoughts, as Gemini reports them).
nlohmann::json usage_metadata(const nlohmann::json& openai_usage);
nlohmann::json usage_metadata(const wire::Usage& usage);

/// An OpenAI chat.completion -> a GenerateContentResponse (every choice a candidate),
/// reporting `model` as modelVersion.
nlohmann::json response_from_canonical(const nlohmann::json& chat_completion, std::string_view model);

/// Turns OpenAI chat.completion.chunk objects into GenerateContentResponse stream events.
/// Text and thoughts go out as they arrive; a tool call is sent whole (Gemini never splits
/// one) together with the finishReason, and the usage-only chunk's counts ride on that
/// final event, so the last event carries finishReason and usageMetadata, as Gemini's does.
class StreamWriter {
public:
    explicit StreamWriter(std::string model) : m_model(std::move(model)) {}

    /// Events for one canonical chunk (the usage-only chunk included); each a whole
    /// GenerateContentResponse object.
    std::vector<nlohmann::json> on_chunk(const nlohmann::json& chunk);
    /// Whatever is still held (a finish without a usage chunk); call once at the end.
    std::vector<nlohmann::json> finish(const wire::Usage& usage);

private:
    struct PendingCall {
        std::string id;
        std::string name;
        std::string arguments;
    };
    struct Candidate {
        std::map<int, PendingCall> calls;  ///< by OpenAI tool_calls index
        std::string finish;                ///< set once the choice finished
        bool sent_final = false;
    };

    nlohmann::json event(nlohmann::json candidates) const;
    nlohmann::json final_candidate(int index, Candidate& c) const;
    std::vector<nlohmann::json> flush_finished(const nlohmann::json* usage);

    std::string m_model;
    std::string m_id;
    std::map<int, Candidate> m_candidates;
    bool m_done = false;
};

/// Frames one GenerateContentResponse for the client: `data: {...}\r\n\r\n` for ?alt=sse,
/// else an element of the JSON array Gemini streams without it ("[" before the first,
/// ",\r\n" before the others; the caller closes it with "]").
std::string frame_event(const nlohmann::json& event, bool sse, bool first);

/// Gemini's streaming answer without ?alt=sse is one JSON array sent element by element.
/// This decoder splits it into one SseEvent per element (data = the element's JSON text),
/// so the provider's stream translator can tap a passthrough stream in either framing.
/// `closed`, when given, is set once the array's closing ']' went by.
class JsonArrayStreamDecoder final : public providers::StreamDecoder {
public:
    explicit JsonArrayStreamDecoder(std::shared_ptr<bool> closed = nullptr) : m_closed(std::move(closed)) {}
    std::expected<void, wire::Failure> feed(std::string_view bytes, std::vector<wire::SseEvent>& out) override;
    void finish(std::vector<wire::SseEvent>& out) override;

private:
    std::shared_ptr<bool> m_closed;
    std::string m_element;
    int m_depth = 0;
    bool m_in_string = false;
    bool m_escape = false;
};

/// An embedContent request (`content`, `outputDimensionality`) -> canonical embeddings
/// input. For batchEmbedContents pass the body: every `requests[].content` becomes one input.
std::expected<nlohmann::json, wire::Failure> embed_request_to_canonical(const nlohmann::json& request, bool batch);
/// An OpenAI embeddings list -> {"embedding":{"values"}} or {"embeddings":[{"values"}...]}.
nlohmann::json embed_response_from_canonical(const nlohmann::json& list, bool batch);

/// A rough token count (4 characters a token) of a countTokens body ({contents, ...} or
/// {generateContentRequest: {...}}): contents, systemInstruction and tools all count.
std::int64_t estimate_tokens(const nlohmann::json& count_tokens_request);

/// A failure in the middle of a stream: `{"error":{...}}` as Gemini sends it.
nlohmann::json error_event(const wire::Failure& failure);

}  // namespace aigw::daemon::surfaces::gemini

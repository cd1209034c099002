#pragma once
// One adapter per upstream wire format. Adapters are pure: canonical (OpenAI chat shape)
// JSON in, upstream HTTP request out; upstream body or SSE events in, canonical JSON out.
// No sockets, no retries, no fallbacks: the router decides those from Failure::kind.

#include "shared/config/providers.hpp"
#include "shared/wire/error.hpp"
#include "shared/wire/sse.hpp"
#include "shared/wire/usage.hpp"

#include <nlohmann/json.hpp>

#include <expected>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace aigw::daemon::providers {

using HeaderList = std::vector<std::pair<std::string, std::string>>;

/// AWS credentials for SigV4 (Bedrock), from AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,
/// AWS_SESSION_TOKEN and AWS_REGION / AWS_DEFAULT_REGION. Never logged.
struct AwsCredentials {
    std::string access_key_id;
    std::string secret_access_key;
    std::string session_token;  ///< empty unless temporary credentials
    std::string region;
};

/// Where one attempt goes.
struct Target {
    const config::ProviderSpec* provider = nullptr;
    std::string model;                    ///< upstream model name (no provider prefix); Azure: the deployment
    std::string api_key;                  ///< never logged
    std::string base_url;                 ///< e.g. "https://api.openai.com/v1"
    std::int64_t default_max_tokens = 0;  ///< from the catalog, for providers that require it
    AwsCredentials aws;                   ///< Bedrock only
};

/// Splits an upstream byte stream into events: SSE for most providers, AWS event-stream
/// binary frames for Bedrock (each frame becomes an SseEvent: `event` = :event-type,
/// `data` = the JSON payload; an :exception frame becomes event "error").
class StreamDecoder {
public:
    virtual ~StreamDecoder() = default;
    /// Appends the events completed by `bytes`. A framing error (bad CRC) is a Failure.
    virtual std::expected<void, wire::Failure> feed(std::string_view bytes, std::vector<wire::SseEvent>& out) = 0;
    /// End of stream: dispatches what is left, if anything complete.
    virtual void finish(std::vector<wire::SseEvent>& out) = 0;
};

/// The SSE decoder (the default).
std::unique_ptr<StreamDecoder> make_sse_decoder();

/// An HTTP request relative to Target::base_url.
struct UpstreamRequest {
    std::string method = "POST";
    std::string path;    ///< appended to the base URL's path, e.g. "/chat/completions"
    HeaderList headers;  ///< includes auth; content-type
    std::string body;
    /// When set, replaces Target::base_url for this request: an endpoint that lives beside
    /// the provider's usual base (DeepSeek's FIM under /beta, next to its /v1).
    std::string base_url;
};

/// A complete, successful answer in canonical form.
struct ChatResult {
    nlohmann::json body;  ///< OpenAI chat.completion object
    wire::Usage usage;
    /// When set, exactly `body` as the upstream sent it: an OpenAI-surface client gets these
    /// bytes without a second serialisation (OpenAI-compatible providers only).
    std::string raw;
};

/// Turns an upstream SSE stream into OpenAI chat.completion.chunk objects.
class StreamTranslator {
public:
    virtual ~StreamTranslator() = default;
    /// Feeds one upstream event; appends zero or more chunks to `out`. The final usage
    /// chunk (empty choices, `usage` set) is emitted like any other; the surface drops it
    /// when the client did not ask for usage. Returns a Failure for an error event.
    virtual std::expected<void, wire::Failure> on_event(const wire::SseEvent& ev, std::vector<nlohmann::json>& out) = 0;
    /// True once the upstream's terminal event arrived ([DONE], message_stop, final finishReason).
    virtual bool finished() const = 0;
    /// Usage as reported so far.
    virtual wire::Usage usage() const = 0;
    /// True when on_event turns an event whose data is a JSON object with no non-null
    /// top-level `error` into exactly that object and nothing else, and reads no more of it
    /// than a top-level `usage` object, as take_usage() does: the relay may then send such an
    /// event's bytes to an OpenAI client without calling on_event, calling take_usage() for
    /// its usage.
    virtual bool passes_chunks_through() const { return false; }
    /// Records a chunk's top-level `usage` object as on_event would have; the Failure on_event
    /// would have returned for it. Only for a translator that passes chunks through.
    virtual std::expected<void, wire::Failure> take_usage(const nlohmann::json&) { return {}; }
};

class Adapter {
public:
    virtual ~Adapter() = default;

    /// The upstream request for a canonical chat request. `stream` asks for SSE (and usage in it).
    virtual std::expected<UpstreamRequest, wire::Failure> chat_request(const nlohmann::json& canonical,
                                                                       const Target& target, bool stream) const = 0;
    /// chat_request() for a `canonical` read from the client's `text` and not changed since:
    /// an adapter whose upstream takes the canonical form may send `text` with a few members
    /// edited rather than write `canonical` anew (an agent's request is often hundreds of KB).
    /// The upstream must read the same request either way. Default: chat_request().
    virtual std::expected<UpstreamRequest, wire::Failure> chat_request_from_text(const nlohmann::json& canonical,
                                                                                 std::string_view /*text*/,
                                                                                 const Target& target,
                                                                                 bool stream) const
    {
        return chat_request(canonical, target, stream);
    }
    /// A 2xx upstream body -> canonical response. A malformed body is FailureKind::upstream.
    virtual std::expected<ChatResult, wire::Failure> chat_response(std::string_view body,
                                                                   const Target& target) const = 0;
    /// Whether chat_response() is OpenAI's: it takes the body as it came (a chat.completion
    /// whose `choices` is an array), keeps those bytes in ChatResult::raw, and reads nothing
    /// but `usage` (wire::usage_from_openai, wire::check_usage). The dispatcher may then read
    /// such an answer by scan, without building it, for a caller that sends the bytes on.
    virtual bool chat_response_is_openai() const { return false; }
    virtual std::unique_ptr<StreamTranslator> chat_stream(const Target& target) const = 0;
    /// How this provider frames its stream. Default: SSE.
    virtual std::unique_ptr<StreamDecoder> stream_decoder() const { return make_sse_decoder(); }

    /// Classifies a non-2xx upstream answer: kind, the status to return, the upstream's
    /// own message, Retry-After. The default reads OpenAI/Anthropic-style error bodies.
    virtual wire::Failure classify_error(int status, std::string_view body, const HeaderList& headers) const;

    /// Embeddings (OpenAI /v1/embeddings shape in and out). Default: unsupported (400).
    virtual std::expected<UpstreamRequest, wire::Failure> embeddings_request(const nlohmann::json& canonical,
                                                                             const Target& target) const;
    virtual std::expected<ChatResult, wire::Failure> embeddings_response(std::string_view body,
                                                                         const Target& target) const;

    /// Whether `target`'s provider serves the OpenAI Responses API itself for `operation`
    /// ("" for POST /responses, "/compact", "/input_tokens"), so a /v1/responses body can
    /// pass through natively. Default: no (the surface translates through the chat form).
    virtual bool serves_responses(const Target& target, std::string_view operation) const;
    /// The native Responses request for `operation`: `body` unchanged but for `model`
    /// (set to Target::model), the provider's path and auth. Only called when
    /// serves_responses() said yes; a Failure for a target that lacks what it needs.
    virtual std::expected<UpstreamRequest, wire::Failure> responses_request(const nlohmann::json& body,
                                                                            const Target& target,
                                                                            std::string_view operation) const;

    /// Whether `target`'s provider serves the legacy POST /completions itself, so a
    /// /v1/completions body (fill-in-the-middle `suffix` included) passes through natively.
    /// Default: no (the surface asks the model through the chat form).
    virtual bool serves_completions(const Target& target) const;
    /// The native completions request: `body` unchanged but for `model`, the path and auth
    /// (for a FIM endpoint with its own schema, the body in that schema; a Failure for what
    /// it cannot take).
    virtual std::expected<UpstreamRequest, wire::Failure> completions_request(nlohmann::json body,
                                                                              const Target& target) const;
    /// Whether that native endpoint answers in the chat shape (chat.completion, and
    /// chat.completion.chunk when streamed: Mistral's FIM) rather than as a text_completion;
    /// the surface then reads it with chat_response / chat_stream and converts it. Default: no.
    virtual bool completions_answer_is_chat(const Target& target) const;
};

/// Each format's adapter, defined in its own file (openai_compat.cpp, anthropic.cpp, gemini.cpp, ...).
const Adapter& openai_adapter();
const Adapter& anthropic_adapter();
const Adapter& gemini_adapter();
const Adapter& azure_adapter();
const Adapter& bedrock_adapter();
const Adapter& cohere_adapter();

/// What the relay reads of an Anthropic stream it passes to an Anthropic client byte for
/// byte: usage, the stop reason, the end, errors, and when the answer begins (a marker
/// chunk), without translating the events into OpenAI chunks.
std::unique_ptr<StreamTranslator> anthropic_passthrough_tap();
/// The same for a Gemini stream passed to a Gemini client (streamGenerateContent).
std::unique_ptr<StreamTranslator> gemini_passthrough_tap();
/// The offline mock provider: OpenAI's format over the in-process mock transport.
const Adapter& mock_adapter();

/// Bedrock's endpoint: Target::base_url when set, else https://bedrock-runtime.{region}.amazonaws.com.
std::string bedrock_base_url(const Target& target);

/// The adapter for a wire format (a static instance; null only for a format this build
/// does not speak).
const Adapter* adapter_for(config::WireFormat wire);

/// Helpers shared by adapters.
std::string header_value(const HeaderList& headers, std::string_view name);  ///< case-insensitive, "" if absent
/// Retry-After (seconds or HTTP date), retry-after-ms; clamped with wire::clamp_retry_after
/// (NaN/negative -> 0, at most one day). The caller clamps further to its configured maximum.
std::optional<double> retry_after_seconds(const HeaderList& headers);
/// For a 429: Retry-After, else when the exhausted limit resets (OpenAI/Groq
/// `x-ratelimit-reset-requests|tokens` durations, Anthropic `anthropic-ratelimit-*-reset` times),
/// clamped like retry_after_seconds.
std::optional<double> rate_limit_wait_seconds(const HeaderList& headers);

}  // namespace aigw::daemon::providers

#pragma once
// The inbound OpenAI Responses surface (/v1/responses)'s pure translators, for models that
// are not OpenAI's: a Responses request in, the canonical (OpenAI chat) request out; the
// canonical answer or chunks back to a Responses `response` object or its SSE event
// sequence. OpenAI and Azure get the client's body natively; for them there are only the
// passthrough helpers at the end (usage, the stream tap, the items to store).
//
// Opaque reasoning. A provider that needs its reasoning back on the next turn (Anthropic's
// signed thinking blocks) has it in the canonical assistant message's `thinking_blocks`
// (anthropic.cpp's field). On the way out we pack those fields into the reasoning item's
// `encrypted_content` as "aigw:v1:" + base64(JSON object of canonical assistant-message
// fields); when a client sends that reasoning item back, the fields are restored onto the
// canonical assistant message of that turn. Only `thinking_blocks` and `reasoning_opaque`
// (reserved for a provider's own opaque reasoning string) are restored. An
// `encrypted_content` that aigw did not make (OpenAI's own) cannot be read by another model
// and is left out. Gemini's thought signatures already travel inside tool call ids.

#include "daemon/providers/adapter.hpp"
#include "shared/wire/error.hpp"
#include "shared/wire/sse.hpp"
#include "shared/wire/usage.hpp"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <expected>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace aigw::daemon::providers {

/// Resolves an `item_reference` input item (a stored item by id); nullopt when unknown.
using ResponsesItemLookup = std::function<std::optional<nlohmann::json>(std::string_view id)>;

/// A Responses request -> a canonical chat request. `previous_items` (the stored conversation
/// of previous_response_id, as Responses items) come before the request's input;
/// `lookup` resolves item_reference items. Returns a bad_request Failure naming the field
/// for a wrong type, a built-in tool (web_search, file_search, ...), a file_id, or a field
/// that cannot be honoured off OpenAI (background, conversation, prompt, truncation "auto",
/// ...). Never throws.
std::expected<nlohmann::json, wire::Failure> responses_request_to_canonical(
    const nlohmann::json& body, const std::vector<nlohmann::json>& previous_items = {},
    const ResponsesItemLookup& lookup = {});

/// A failure of responses_request_to_canonical as sent to the client when the route's
/// `provider` has no Responses API of its own: the message names the provider (so a
/// built-in tool reads "provider 'anthropic' ... tool type 'web_search' is not supported
/// ..."). Status, type, param and code are kept.
wire::Failure translation_failure_for(wire::Failure failure, std::string_view provider);

/// What the answer needs from its request: the ids, and the request itself for the fields
/// a `response` object echoes (instructions, tools, tool_choice, temperature, ...) and to
/// know which tools were custom (their calls go back as custom_tool_call items).
struct ResponsesContext {
    std::string response_id;  ///< "resp_..."; item ids are derived from it
    std::int64_t created_at = 0;
    std::string model;                                  ///< the model reported in the response
    nlohmann::json request = nlohmann::json::object();  ///< the client's Responses request
};

/// A canonical chat.completion -> a Responses `response` object (status completed, or
/// incomplete for finish_reason length / content_filter), with usage.
nlohmann::json canonical_response_to_responses(const nlohmann::json& completion, const ResponsesContext& ctx);

/// The "aigw:v1:..." encrypted_content for canonical reasoning fields (an object such as
/// {"thinking_blocks":[...]}); "" when there is nothing to carry. The gateway's own
/// /v1/responses/compact can pack {"compaction_summary": text} the same way into a
/// `compaction` item, which the request translator turns back into a user message.
std::string encode_reasoning_opaque(const nlohmann::json& fields);
/// The canonical fields packed by encode_reasoning_opaque; nullopt when `encrypted` is not ours.
std::optional<nlohmann::json> decode_reasoning_opaque(std::string_view encrypted);

/// Turns canonical chat.completion.chunk objects into the Responses SSE event sequence:
/// response.created, response.in_progress, per output item output_item.added ... done (with
/// content_part / output_text, reasoning_summary_*, function_call_arguments or
/// custom_tool_call_input events), then response.completed or response.incomplete carrying
/// the whole response. `sequence_number` counts every event from 0. Each string is one
/// complete "event: X\ndata: {...}\n\n".
class ResponsesStreamWriter {
public:
    explicit ResponsesStreamWriter(ResponsesContext ctx);

    /// Events for one canonical chunk (the usage-only chunk included). The first call also
    /// emits response.created and response.in_progress.
    std::vector<std::string> on_chunk(const nlohmann::json& chunk);
    /// Closes the open items and ends with response.completed / response.incomplete; call
    /// once when the upstream finished. Nothing after error().
    std::vector<std::string> finish();
    /// Ends the stream with response.failed (status failed, error {code, message}) for a
    /// failure after the first byte; nothing more is emitted afterwards.
    std::vector<std::string> error(const wire::Failure& failure);
    /// The response object as it stands (the final one after finish() or error()).
    const nlohmann::json& response() const { return m_response; }

    /// A standalone `event: error` ({type:"error", code, message, param, sequence_number}).
    static std::string error_event(const wire::Failure& failure, std::int64_t sequence_number);

private:
    enum class Kind { reasoning, message, function_call, custom_tool_call };
    struct Item {
        Kind kind = Kind::message;
        int output_index = 0;
        std::string id;
        std::string text;  ///< output text, reasoning summary, arguments or custom input
        std::string call_id;
        std::string name;
        nlohmann::json thinking_blocks = nlohmann::json::array();
        std::size_t signed_upto = 0;  ///< reasoning text already covered by a signed block
        bool has_part = false;        ///< a reasoning summary part was opened
        bool open = true;
    };

    void start(std::vector<std::string>& out);
    std::string emit(const char* type, nlohmann::json data);
    Item& open_item(Kind kind);
    void close_item(Item& item, std::vector<std::string>& out);
    void close_current(std::vector<std::string>& out);
    nlohmann::json item_json(const Item& item, bool done) const;
    nlohmann::json build_response(const char* status) const;

    ResponsesContext m_ctx;
    nlohmann::json m_response;
    std::int64_t m_sequence = 0;
    bool m_started = false;
    bool m_ended = false;
    std::vector<Item> m_items;
    int m_current = -1;                       ///< index in m_items of the open reasoning/message item
    std::map<int, int> m_tool_items;          ///< canonical tool_calls index -> index in m_items
    std::vector<std::string> m_custom_tools;  ///< names of the request's custom tools
    std::vector<std::string> m_namespaces;    ///< names of the request's namespace tools
    std::string m_finish_reason;
    nlohmann::json m_usage;  ///< last canonical usage seen
};

/// Usage of a native Responses `response` object (usage.input_tokens, ...); `reported`
/// false when it has none. A Failure when `response` is not a response object.
std::expected<wire::Usage, wire::Failure> responses_usage(const nlohmann::json& response);

/// The output items of a `response` object, to store for a later previous_response_id.
std::vector<nlohmann::json> responses_output_items(const nlohmann::json& response);

/// Whether a `response` object may go to the response cache: a whole answer (status
/// completed, or incomplete: it stopped at max_output_tokens or a filter, as a chat answer
/// with finish_reason length is cached), never failed, cancelled, queued or in progress.
bool responses_cacheable(const nlohmann::json& response);

/// A cached `response` object made into this request's own answer: `response_id` and
/// `created_at`; item ids that were derived from the old response id (the gateway's own,
/// "msg_<id>_0") derived from the new one, the provider's own item ids kept; and the
/// fields that only echo how the request was delivered (metadata, user, store,
/// previous_response_id, safety_identifier, prompt_cache_key), which the cache key leaves
/// out, taken from `request`.
nlohmann::json responses_from_cache(nlohmann::json cached, const std::string& response_id, std::int64_t created_at,
                                    const nlohmann::json& request);

/// The documented event sequence of a finished `response` object, for a cached answer a
/// client asked to stream: response.created and response.in_progress (status in_progress,
/// no output), per output item output_item.added, its content events in one delta each
/// (content_part / output_text or refusal, reasoning_summary_part / _text,
/// function_call_arguments, custom_tool_call_input), output_item.done; then
/// response.completed or response.incomplete with the whole response. `sequence_number`
/// counts from 0. Each string is one complete "event: X\ndata: {...}\n\n".
std::vector<std::string> responses_replay_events(const nlohmann::json& response);

/// Watches a native Responses SSE stream (OpenAI, Azure) that is relayed byte for byte:
/// appends one marker chunk (a content delta) when the first output item starts, so the
/// relay knows the answer began; finished on response.completed / response.incomplete, with
/// usage from the response they carry; response.failed and `error` events are Failures.
class ResponsesStreamTap final : public StreamTranslator {
public:
    std::expected<void, wire::Failure> on_event(const wire::SseEvent& ev, std::vector<nlohmann::json>& out) override;
    bool finished() const override { return m_finished; }
    wire::Usage usage() const override { return m_usage; }
    /// The response object of the terminal event (null before it).
    const nlohmann::json& final_response() const { return m_response; }
    /// The sequence_number an event the gateway appends must carry: one past the last
    /// upstream event's (0 before any event had one).
    std::int64_t next_sequence_number() const { return m_last_sequence + 1; }

private:
    std::int64_t m_last_sequence = -1;
    bool m_finished = false;
    wire::Usage m_usage;
    nlohmann::json m_response;
};

}  // namespace aigw::daemon::providers

// Anthropic Messages API <-> canonical (OpenAI chat-completions) translation.
//
// API version: we send `anthropic-version: 2023-06-01` with `x-api-key`. Version 2026-10-21
// (sent by the SDK majors released that day) takes the key as `Authorization: Bearer` and
// rejects temperature/top_p/top_k on every model, even at default values; its response and
// stream shapes are otherwise what we read here. 2023-06-01 is still served (older SDKs pin
// it) and accepts x-api-key, so OpenAI-shaped requests that carry a temperature keep working
// on the models that still take one. When 2023-06-01 is retired, change k_api_version and
// drop sampling parameters unconditionally (see sampling_rules_for).
//
// Sampling parameters are also a property of the model: from Claude Opus 4.7 on, models
// reject temperature/top_p/top_k and manual thinking budgets whatever the API version; 4.5
// and 4.6 models take temperature or top_p, not both. We read the generation from the model
// name and drop what that generation would reject (a gateway should not fail a request over
// a knob the model no longer has), rather than passing it on to get a 400.
//
// JSON mode: the classic Messages API has no response_format, and its native structured
// output (output_config.format) is limited to some models. We force a tool named
// "json_response" whose input_schema is the requested schema and turn that tool call back
// into message content (a JSON string), which works on every Claude model with tools.

#include "daemon/providers/adapter.hpp"
#include "daemon/providers/json_access.hpp"
#include "shared/wire/json_text.hpp"
#include "shared/wire/utf8.hpp"
#include "daemon/providers/validate.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <ctime>
#include <map>

namespace aigw::daemon::providers {
namespace {

using nlohmann::json;

constexpr const char* k_api_version = "2023-06-01";
constexpr const char* k_json_tool = "json_response";
constexpr std::int64_t k_default_max_tokens = 4096;

/// What a Claude generation accepts.
struct SamplingRules {
    bool sampling = true;            ///< temperature/top_p/top_k at all
    bool one_of_temp_top_p = false;  ///< 4.5/4.6: temperature or top_p, not both
    bool budget_thinking = true;     ///< thinking {type: enabled, budget_tokens}; else adaptive + effort
};

/// Reads "claude-3-5-sonnet-20241022", "claude-sonnet-4-5-20250929", "claude-opus-4-7",
/// "claude-fable-5" as (major, minor). Names that are not Claude's keep everything.
SamplingRules sampling_rules_for(std::string_view model)
{
    SamplingRules rules;
    auto pos = model.find("claude-");
    if (pos == std::string_view::npos) {
        return rules;
    }
    std::string_view rest = model.substr(pos + 7);
    std::vector<int> numbers;
    std::size_t i = 0;
    while (i < rest.size() && numbers.size() < 2) {
        if (std::isdigit(static_cast<unsigned char>(rest[i]))) {
            std::size_t j = i;
            while (j < rest.size() && std::isdigit(static_cast<unsigned char>(rest[j]))) {
                ++j;
            }
            if (j - i >= 6) {
                break;  // a date suffix (claude-opus-4-20250514): no minor version
            }
            int v = 0;
            std::from_chars(rest.data() + i, rest.data() + j, v);
            numbers.push_back(v);
            i = j;
        } else if (!numbers.empty() && rest[i] != '-' && rest[i] != '.') {
            break;  // "claude-3-5-sonnet": the version ends at the family name
        } else {
            ++i;
        }
    }
    if (numbers.empty()) {
        return rules;
    }
    int major = numbers[0];
    int minor = numbers.size() > 1 ? numbers[1] : 0;
    int version = major * 100 + minor;
    if (version >= 407) {
        rules.sampling = false;
        rules.budget_thinking = false;
    } else if (version >= 405) {
        rules.one_of_temp_top_p = true;
    }
    return rules;
}

/// An OpenAI image_url part -> an Anthropic image block.
std::expected<json, wire::Failure> image_block(const json& part)
{
    const json& iu = part.contains("image_url") ? part["image_url"] : json();
    std::string url = iu.is_string() ? iu.get<std::string>() : string_at(iu, "url");
    if (url.empty()) {
        return std::unexpected(wire::bad_request("An image_url content part has no url.", "messages"));
    }
    if (auto d = parse_data_url(url)) {
        return json{{"type", "image"},
                    {"source", {{"type", "base64"}, {"media_type", d->media_type}, {"data", d->data}}}};
    }
    if (url.starts_with("http://") || url.starts_with("https://")) {
        return json{{"type", "image"}, {"source", {{"type", "url"}, {"url", url}}}};
    }
    return std::unexpected(wire::bad_request(
        "Anthropic takes images as base64 data URLs (data:image/png;base64,...) or http(s) URLs.", "messages"));
}

/// An OpenAI file part ({file: {file_data: "data:application/pdf;base64,..."}}) -> a document block.
std::expected<json, wire::Failure> document_block(const json& part)
{
    const json& file = part.contains("file") ? part["file"] : json();
    auto d = parse_data_url(string_at(file, "file_data"));
    if (!d) {
        return std::unexpected(
            wire::bad_request("Anthropic takes files inline only: send file.file_data as a base64 data URL "
                              "(file_id references are not supported).",
                              "messages"));
    }
    json block = {{"type", "document"},
                  {"source", {{"type", "base64"}, {"media_type", d->media_type}, {"data", d->data}}}};
    if (auto name = string_at(file, "filename"); !name.empty()) {
        block["title"] = name;
    }
    return block;
}

/// Canonical message content (string, parts array or null) -> Anthropic content blocks.
std::expected<json, wire::Failure> content_blocks(const json& content)
{
    json blocks = json::array();
    if (content.is_null()) {
        return blocks;
    }
    if (content.is_string()) {
        if (!content.get_ref<const std::string&>().empty()) {
            blocks.push_back({{"type", "text"}, {"text", content}});
        }
        return blocks;
    }
    if (!content.is_array()) {
        return std::unexpected(wire::bad_request("Message content must be a string or an array of parts.", "messages"));
    }
    for (const auto& part : content) {
        std::string type = string_at(part, "type");
        std::expected<json, wire::Failure> block;
        if (type == "text" || type == "refusal") {
            std::string text = string_at(part, type == "text" ? "text" : "refusal");
            if (text.empty()) {
                continue;  // Anthropic rejects empty text blocks
            }
            block = json{{"type", "text"}, {"text", text}};
        } else if (type == "image_url") {
            block = image_block(part);
        } else if (type == "file") {
            block = document_block(part);
        } else if (type == "input_audio") {
            return std::unexpected(wire::bad_request("Anthropic models do not take audio input.", "messages"));
        } else {
            block = part;  // Anthropic-native blocks (document, image with source, ...) pass as they are
        }
        if (!block) {
            return std::unexpected(block.error());
        }
        if (part.is_object() && part.contains("cache_control")) {
            (*block)["cache_control"] = part["cache_control"];
        }
        blocks.push_back(std::move(*block));
    }
    return blocks;
}

/// Appends blocks to the last message when it has the same role (Anthropic wants turns to
/// alternate), else starts a new message. Tool results go before other content.
void append_turn(json& messages, const std::string& role, json blocks)
{
    if (blocks.empty()) {
        return;
    }
    if (!messages.empty() && messages.back()["role"] == role) {
        json& existing = messages.back()["content"];
        for (auto& b : blocks) {
            if (string_at(b, "type") == "tool_result") {
                auto it = std::find_if(existing.begin(), existing.end(),
                                       [](const json& e) { return string_at(e, "type") != "tool_result"; });
                existing.insert(it, std::move(b));
            } else {
                existing.push_back(std::move(b));
            }
        }
        return;
    }
    messages.push_back({{"role", role}, {"content", std::move(blocks)}});
}

std::expected<json, wire::Failure> tool_use_blocks(const json& tool_calls)
{
    json blocks = json::array();
    for (const auto& tc : tool_calls) {
        const json& fn = tc.contains("function") ? tc["function"] : json::object();
        std::string name = string_at(fn, "name");
        std::string args = string_at(fn, "arguments");
        json input = json::object();
        if (!args.empty()) {
            input = wire::parse_json_lenient(args);
            if (input.is_discarded() || !input.is_object()) {
                return std::unexpected(
                    wire::bad_request("The arguments of tool call '" + string_at(tc, "id") + "' (" + name +
                                          ") are not a JSON object; Anthropic needs tool input as an object.",
                                      "messages"));
            }
        }
        blocks.push_back({{"type", "tool_use"}, {"id", string_at(tc, "id")}, {"name", name}, {"input", input}});
    }
    return blocks;
}

std::int64_t thinking_budget(std::string_view effort)
{
    if (effort == "minimal" || effort == "low") {
        return 1024;
    }
    if (effort == "medium") {
        return 4096;
    }
    if (effort == "high") {
        return 16384;
    }
    return 32768;  // xhigh, max
}

std::string finish_reason_for(std::string_view stop_reason)
{
    if (stop_reason == "max_tokens" || stop_reason == "model_context_window_exceeded") {
        return "length";
    }
    if (stop_reason == "tool_use") {
        return "tool_calls";
    }
    if (stop_reason == "refusal") {
        return "content_filter";
    }
    return "stop";  // end_turn, stop_sequence, pause_turn
}

/// Anthropic's usage -> canonical. Anthropic's input_tokens excludes cache reads and writes.
void read_usage(const json& usage, wire::Usage& u)
{
    if (!usage.is_object()) {
        return;
    }
    u.reported = true;
    if (usage.contains("input_tokens") || usage.contains("cache_read_input_tokens") ||
        usage.contains("cache_creation_input_tokens")) {
        std::int64_t read = wire::token_count_at(usage, "cache_read_input_tokens", u);
        std::int64_t written = wire::token_count_at(usage, "cache_creation_input_tokens", u);
        u.input_tokens = wire::token_count_at(usage, "input_tokens", u) + read + written;
        u.cached_tokens = read;
        u.cache_write_tokens = written;
        u.cache_write_1h_tokens = 0;
        if (auto it = usage.find("cache_creation");
            it != usage.end() && it->is_object() && it->contains("ephemeral_1h_input_tokens")) {
            u.cache_write_1h_tokens = wire::token_count_at(*it, "ephemeral_1h_input_tokens", u);
            u.cache_write_tokens = wire::token_count_at(*it, "ephemeral_5m_input_tokens", u);
        }
    }
    if (usage.contains("output_tokens")) {
        u.output_tokens = wire::token_count_at(usage, "output_tokens", u);
    }
}

wire::Failure failure_from_error_object(const json& err, int status_hint)
{
    std::string type = string_at(err, "type");
    std::string message = string_at(err, "message");
    wire::Failure f;
    f.status = status_hint;
    if (type == "overloaded_error" || status_hint == 529) {
        f.kind = wire::FailureKind::upstream;
        f.status = 529;
    } else if (type == "rate_limit_error" || status_hint == 429) {
        f.kind = wire::FailureKind::rate_limited;
        f.status = 429;
    } else if (type == "authentication_error" || status_hint == 401) {
        f.kind = wire::FailureKind::auth;
        f.status = 401;
    } else if (type == "permission_error" || status_hint == 403) {
        f.kind = wire::FailureKind::auth;
        f.status = 403;
    } else if (type == "not_found_error" || status_hint == 404) {
        f.kind = wire::FailureKind::not_found;
        f.status = 404;
    } else if (type == "request_too_large" || status_hint == 413) {
        f.kind = wire::FailureKind::bad_request;
        f.status = 413;
    } else if (type == "invalid_request_error" || (status_hint >= 400 && status_hint < 500 && status_hint != 408)) {
        f.kind = wire::FailureKind::bad_request;
        f.status = status_hint >= 400 && status_hint < 500 ? status_hint : 400;
    } else if (type == "timeout_error" || status_hint == 408 || status_hint == 504) {
        f.kind = wire::FailureKind::timeout;
        f.status = 504;
    } else {
        f.kind = wire::FailureKind::upstream;
        f.status = status_hint >= 500 ? status_hint : 502;
    }
    if (message.empty()) {
        message = type.empty() ? "no error message" : type;
    }
    std::string what = "Anthropic returned " + std::to_string(status_hint);
    if (!type.empty()) {
        what += " (" + type + ")";
    }
    what += ": " + message;
    if (f.kind == wire::FailureKind::auth) {
        what += " - check ANTHROPIC_API_KEY or run 'aigw keys set anthropic'.";
    } else if (f.status == 529) {
        what += " - Anthropic is overloaded; retry later or add a fallback model.";
    }
    f.message = std::move(what);
    return f;
}

json delta_chunk(const json& base, json delta, json finish_reason = nullptr)
{
    json c = base;
    c["choices"] = json::array({{{"index", 0},
                                 {"delta", std::move(delta)},
                                 {"logprobs", nullptr},
                                 {"finish_reason", std::move(finish_reason)}}});
    return c;
}

class AnthropicStream final : public StreamTranslator {
public:
    explicit AnthropicStream(std::string model) : m_model(std::move(model)), m_created(std::time(nullptr)) {}

    std::expected<void, wire::Failure> on_event(const wire::SseEvent& ev, std::vector<json>& out) override
    {
        if (ev.data.empty()) {
            return {};
        }
        json data = wire::parse_json_lenient(ev.data);
        if (data.is_discarded() || !data.is_object()) {
            return std::unexpected(
                upstream_failure("Anthropic sent a stream event that is not JSON: " + wire::utf8_prefix(ev.data, 200)));
        }
        std::string type = string_at(data, "type");
        if (type.empty()) {
            type = ev.event;
        }
        json base = chunk_base(m_id, m_model, m_created);
        if (type == "message_start") {
            const json& msg = data.contains("message") ? data["message"] : json::object();
            if (auto id = string_at(msg, "id"); !id.empty()) {
                m_id = id;
            }
            if (auto model = string_at(msg, "model"); !model.empty()) {
                m_model = model;
            }
            if (msg.contains("usage")) {
                read_usage(msg["usage"], m_usage);
                if (auto bad = wire::check_usage(m_usage)) {
                    return std::unexpected(std::move(*bad));
                }
            }
            out.push_back(delta_chunk(chunk_base(m_id, m_model, m_created), {{"role", "assistant"}, {"content", ""}}));
        } else if (type == "content_block_start") {
            on_block_start(data, base, out);
        } else if (type == "content_block_delta") {
            on_block_delta(data, base, out);
        } else if (type == "message_delta") {
            const json& delta = data.contains("delta") ? data["delta"] : json::object();
            if (auto stop = string_at(delta, "stop_reason"); !stop.empty()) {
                std::string reason = finish_reason_for(stop);
                if (reason == "tool_calls" && m_next_tool == 0 && !m_json_blocks.empty()) {
                    reason = "stop";  // only our JSON-mode tool was called
                }
                out.push_back(delta_chunk(base, json::object(), reason));
            }
            if (data.contains("usage")) {
                read_usage(data["usage"], m_usage);
                if (auto bad = wire::check_usage(m_usage)) {
                    return std::unexpected(std::move(*bad));
                }
            }
        } else if (type == "message_stop") {
            m_finished = true;
            json c = base;
            c["choices"] = json::array();
            c["usage"] = wire::usage_to_openai(m_usage);
            out.push_back(std::move(c));
        } else if (type == "error") {
            const json& err = data.contains("error") ? data["error"] : json::object();
            std::string etype = string_at(err, "type");
            int status = etype == "overloaded_error" ? 529 : etype == "rate_limit_error" ? 429 : 500;
            return std::unexpected(failure_from_error_object(err, status));
        }
        // ping, content_block_stop and event types added later need no chunk.
        return {};
    }

    bool finished() const override { return m_finished; }
    wire::Usage usage() const override { return m_usage; }

private:
    void on_block_start(const json& data, const json& base, std::vector<json>& out)
    {
        int index = static_cast<int>(int_at(data, "index"));
        const json& block = data.contains("content_block") ? data["content_block"] : json::object();
        std::string type = string_at(block, "type");
        if (type == "text") {
            if (auto text = string_at(block, "text"); !text.empty()) {
                out.push_back(delta_chunk(base, {{"content", text}}));
            }
        } else if (type == "thinking") {
            if (auto text = string_at(block, "thinking"); !text.empty()) {
                out.push_back(delta_chunk(base, {{"reasoning_content", text}}));
            }
        } else if (type == "tool_use") {
            std::string name = string_at(block, "name");
            if (name == k_json_tool) {
                m_json_blocks.push_back(index);
                return;
            }
            int tool_index = m_next_tool++;
            m_tool_index[index] = tool_index;
            json call = {{"index", tool_index},
                         {"id", string_at(block, "id")},
                         {"type", "function"},
                         {"function", {{"name", name}, {"arguments", ""}}}};
            out.push_back(delta_chunk(base, {{"tool_calls", json::array({call})}}));
        }
    }

    void on_block_delta(const json& data, const json& base, std::vector<json>& out)
    {
        int index = static_cast<int>(int_at(data, "index"));
        const json& delta = data.contains("delta") ? data["delta"] : json::object();
        std::string type = string_at(delta, "type");
        if (type == "text_delta") {
            out.push_back(delta_chunk(base, {{"content", string_at(delta, "text")}}));
        } else if (type == "thinking_delta") {
            out.push_back(delta_chunk(base, {{"reasoning_content", string_at(delta, "thinking")}}));
        } else if (type == "signature_delta") {
            // Kept so a client that replays thinking blocks (LiteLLM's convention) can do so.
            json tb = {{"type", "thinking"}, {"thinking", ""}, {"signature", string_at(delta, "signature")}};
            out.push_back(delta_chunk(base, {{"thinking_blocks", json::array({tb})}}));
        } else if (type == "input_json_delta") {
            std::string fragment = string_at(delta, "partial_json");
            if (std::find(m_json_blocks.begin(), m_json_blocks.end(), index) != m_json_blocks.end()) {
                if (!fragment.empty()) {
                    out.push_back(delta_chunk(base, {{"content", fragment}}));
                }
                return;
            }
            auto it = m_tool_index.find(index);
            if (it == m_tool_index.end() || fragment.empty()) {
                return;
            }
            json call = {{"index", it->second}, {"function", {{"arguments", fragment}}}};
            out.push_back(delta_chunk(base, {{"tool_calls", json::array({call})}}));
        }
    }

    std::string m_id = "msg";
    std::string m_model;
    std::int64_t m_created;
    wire::Usage m_usage;
    bool m_finished = false;
    int m_next_tool = 0;
    std::map<int, int> m_tool_index;  ///< content block index -> tool_calls index
    std::vector<int> m_json_blocks;   ///< content blocks of the JSON-mode tool
};

/// The tap of a native stream relayed byte for byte: it reads each event for what the relay
/// and the ledger need (usage, the stop reason, the end, an error, when the answer begins)
/// and builds none of the OpenAI chunks AnthropicStream would, which the relay would drop.
/// It appends one marker chunk (a content delta) when the first content arrives, and one
/// with the finish reason when message_delta names it.
class AnthropicStreamTap final : public StreamTranslator {
public:
    std::expected<void, wire::Failure> on_event(const wire::SseEvent& ev, std::vector<json>& out) override
    {
        if (ev.data.empty()) {
            return {};
        }
        // Most events of an answer (its text's deltas once it began, pings, block stops)
        // ask nothing of the tap but that they are JSON: checked without building the tree.
        if (const auto checked = wire::checked_string_member(ev.data, "type")) {
            const std::string_view type = checked->is_string ? checked->value : std::string_view(ev.event);
            if ((type == "content_block_delta" && m_began) || type == "ping" || type == "content_block_stop") {
                return {};
            }
            if (type == "message_stop") {
                m_finished = true;
                return {};
            }
        }
        const json data = wire::parse_json_lenient(ev.data);
        if (data.is_discarded() || !data.is_object()) {
            return std::unexpected(
                upstream_failure("Anthropic sent a stream event that is not JSON: " + wire::utf8_prefix(ev.data, 200)));
        }
        const json* type_value = find_string(data, "type");
        const std::string_view type = type_value != nullptr
                                          ? std::string_view(type_value->get_ref<const std::string&>())
                                          : std::string_view(ev.event);
        if (type == "content_block_delta") {
            if (!m_began) {
                const json* delta = find_object(data, "delta");
                if (delta != nullptr &&
                    (non_empty(*delta, "text") || non_empty(*delta, "thinking") || non_empty(*delta, "partial_json"))) {
                    began(out);
                }
            }
        } else if (type == "content_block_start") {
            if (!m_began) {
                const json* block = find_object(data, "content_block");
                const json* block_type = block != nullptr ? find_string(*block, "type") : nullptr;
                if (block_type != nullptr &&
                    (*block_type == "tool_use" || non_empty(*block, "text") || non_empty(*block, "thinking"))) {
                    began(out);
                }
            }
        } else if (type == "message_start") {
            if (const json* msg = find_object(data, "message")) {
                if (auto u = msg->find("usage"); u != msg->end()) {
                    read_usage(*u, m_usage);
                    if (auto bad = wire::check_usage(m_usage)) {
                        return std::unexpected(std::move(*bad));
                    }
                }
            }
        } else if (type == "message_delta") {
            if (const json* delta = find_object(data, "delta")) {
                if (const json* stop = find_string(*delta, "stop_reason");
                    stop != nullptr && !stop->get_ref<const std::string&>().empty()) {
                    const std::string reason = finish_reason_for(stop->get_ref<const std::string&>());
                    out.push_back(
                        {{"choices",
                          json::array({{{"index", 0}, {"delta", json::object()}, {"finish_reason", reason}}})}});
                }
            }
            if (auto u = data.find("usage"); u != data.end()) {
                read_usage(*u, m_usage);
                if (auto bad = wire::check_usage(m_usage)) {
                    return std::unexpected(std::move(*bad));
                }
            }
        } else if (type == "message_stop") {
            m_finished = true;
        } else if (type == "error") {
            const json none = json::object();
            auto err = data.find("error");
            const json& e = err != data.end() ? *err : none;
            const json* etype = e.is_object() ? find_string(e, "type") : nullptr;
            const int status = etype == nullptr               ? 500
                               : *etype == "overloaded_error" ? 529
                               : *etype == "rate_limit_error" ? 429
                                                              : 500;
            return std::unexpected(failure_from_error_object(e, status));
        }
        return {};  // ping, content_block_stop, and event types added later
    }

    bool finished() const override { return m_finished; }
    wire::Usage usage() const override { return m_usage; }

private:
    static const json* find_string(const json& obj, const char* key)
    {
        auto it = obj.find(key);
        return it != obj.end() && it->is_string() ? &*it : nullptr;
    }
    static const json* find_object(const json& obj, const char* key)
    {
        auto it = obj.find(key);
        return it != obj.end() && it->is_object() ? &*it : nullptr;
    }
    static bool non_empty(const json& obj, const char* key)
    {
        const json* s = find_string(obj, key);
        return s != nullptr && !s->get_ref<const std::string&>().empty();
    }
    void began(std::vector<json>& out)
    {
        m_began = true;
        out.push_back({{"choices", json::array({{{"index", 0}, {"delta", {{"content", " "}}}}})}});
    }

    bool m_began = false;
    bool m_finished = false;
    wire::Usage m_usage;
};

class AnthropicAdapter final : public Adapter {
public:
    std::expected<UpstreamRequest, wire::Failure> chat_request(const json& canonical, const Target& target,
                                                               bool stream) const override;
    std::expected<ChatResult, wire::Failure> chat_response(std::string_view body, const Target& target) const override;
    std::unique_ptr<StreamTranslator> chat_stream(const Target& target) const override
    {
        return std::make_unique<AnthropicStream>(target.model);
    }
    wire::Failure classify_error(int status, std::string_view body, const HeaderList& headers) const override;
};

std::expected<UpstreamRequest, wire::Failure> AnthropicAdapter::chat_request(const json& canonical,
                                                                             const Target& target, bool stream) const
{
    if (!canonical.is_object() || !canonical.contains("messages") || !canonical["messages"].is_array()) {
        return std::unexpected(wire::bad_request("The request needs a 'messages' array.", "messages"));
    }
    if (auto bad = validate_chat_fields(canonical)) {
        return std::unexpected(std::move(*bad));
    }
    if (canonical.contains("n") && canonical["n"].is_number() && json_to_int64(canonical["n"]) > 1) {
        return std::unexpected(wire::bad_request("Anthropic models return one choice per request; set n to 1.", "n"));
    }
    const SamplingRules rules = sampling_rules_for(target.model);
    json out = {{"model", target.model}};

    // System and developer messages become the top-level system field.
    json system_blocks = json::array();
    bool system_cached = false;
    json messages = json::array();
    for (const auto& m : canonical["messages"]) {
        std::string role = string_at(m, "role");
        const json content = m.contains("content") ? m["content"] : json();
        if (role == "system" || role == "developer") {
            auto blocks = content_blocks(content);
            if (!blocks) {
                return std::unexpected(blocks.error());
            }
            for (auto& b : *blocks) {
                system_cached = system_cached || b.contains("cache_control");
                system_blocks.push_back(std::move(b));
            }
        } else if (role == "user") {
            auto blocks = content_blocks(content);
            if (!blocks) {
                return std::unexpected(blocks.error());
            }
            append_turn(messages, "user", std::move(*blocks));
        } else if (role == "assistant") {
            json blocks = json::array();
            if (m.contains("thinking_blocks") && m["thinking_blocks"].is_array()) {
                for (const auto& tb : m["thinking_blocks"]) {
                    blocks.push_back(tb);
                }
            }
            auto text = content_blocks(content);
            if (!text) {
                return std::unexpected(text.error());
            }
            for (auto& b : *text) {
                blocks.push_back(std::move(b));
            }
            if (m.contains("tool_calls") && m["tool_calls"].is_array()) {
                auto calls = tool_use_blocks(m["tool_calls"]);
                if (!calls) {
                    return std::unexpected(calls.error());
                }
                for (auto& b : *calls) {
                    blocks.push_back(std::move(b));
                }
            }
            append_turn(messages, "assistant", std::move(blocks));
        } else if (role == "tool") {
            json result = {{"type", "tool_result"}, {"tool_use_id", string_at(m, "tool_call_id")}};
            if (content.is_string()) {
                result["content"] = content;
            } else {
                auto blocks = content_blocks(content);
                if (!blocks) {
                    return std::unexpected(blocks.error());
                }
                result["content"] = std::move(*blocks);
            }
            append_turn(messages, "user", json::array({std::move(result)}));
        } else {
            return std::unexpected(wire::bad_request(
                "Message role '" + role + "' is not supported; use system, developer, user, assistant or tool.",
                "messages"));
        }
    }
    // A final assistant turn is a prefill, which Anthropic rejects with trailing whitespace.
    if (!messages.empty() && messages.back()["role"] == "assistant") {
        json& last = messages.back()["content"].back();
        if (string_at(last, "type") == "text") {
            std::string text = last["text"];
            while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back()))) {
                text.pop_back();
            }
            if (text.empty()) {
                messages.back()["content"].erase(messages.back()["content"].size() - 1);
                if (messages.back()["content"].empty()) {
                    messages.erase(messages.size() - 1);
                }
            } else {
                last["text"] = text;
            }
        }
    }
    out["messages"] = std::move(messages);

    // max_tokens is required by Anthropic.
    std::int64_t max_tokens = 0;
    if (canonical.contains("max_completion_tokens") && canonical["max_completion_tokens"].is_number()) {
        max_tokens = json_to_int64(canonical["max_completion_tokens"]);
    } else if (canonical.contains("max_tokens") && canonical["max_tokens"].is_number()) {
        max_tokens = json_to_int64(canonical["max_tokens"]);
    }
    if (max_tokens <= 0) {
        max_tokens = target.default_max_tokens > 0 ? target.default_max_tokens : k_default_max_tokens;
    }

    // Reasoning: an explicit Anthropic `thinking` object wins over reasoning_effort.
    bool thinking = false;
    if (canonical.contains("thinking") && canonical["thinking"].is_object()) {
        out["thinking"] = canonical["thinking"];
        thinking = string_at(canonical["thinking"], "type") != "disabled";
        std::int64_t budget = int_at(canonical["thinking"], "budget_tokens");
        if (budget > 0 && max_tokens <= budget) {
            max_tokens += budget;
        }
    } else if (auto effort = string_at(canonical, "reasoning_effort"); !effort.empty() && effort != "none") {
        thinking = true;
        if (rules.budget_thinking) {
            std::int64_t budget = thinking_budget(effort);
            out["thinking"] = {{"type", "enabled"}, {"budget_tokens", budget}};
            if (max_tokens <= budget) {
                max_tokens += budget;  // the budget is part of max_tokens; keep room for the answer
            }
        } else {
            out["thinking"] = {{"type", "adaptive"}};
            out["output_config"] = {{"effort", effort == "minimal" ? "low" : effort}};
        }
    }
    out["max_tokens"] = max_tokens;

    // Sampling: thinking allows no temperature/top_k changes; newer models take none at all.
    if (rules.sampling && !thinking) {
        if (canonical.contains("temperature") && canonical["temperature"].is_number()) {
            // OpenAI's range is 0..2, Anthropic's 0..1.
            out["temperature"] = std::clamp(canonical["temperature"].get<double>(), 0.0, 1.0);
        }
        if (canonical.contains("top_p") && canonical["top_p"].is_number() &&
            !(rules.one_of_temp_top_p && out.contains("temperature"))) {
            out["top_p"] = canonical["top_p"];
        }
        if (canonical.contains("top_k") && canonical["top_k"].is_number()) {
            out["top_k"] = canonical["top_k"];
        }
    }

    if (canonical.contains("stop")) {
        const json& stop = canonical["stop"];
        json seqs = json::array();
        if (stop.is_string()) {
            seqs.push_back(stop);
        } else if (stop.is_array()) {
            for (const auto& s : stop) {
                if (s.is_string() && !s.get_ref<const std::string&>().empty()) {
                    seqs.push_back(s);
                }
            }
        }
        if (!seqs.empty()) {
            out["stop_sequences"] = std::move(seqs);
        }
    }

    // Tools.
    json tools = json::array();
    if (canonical.contains("tools") && canonical["tools"].is_array()) {
        for (const auto& t : canonical["tools"]) {
            if (string_at(t, "type") != "function") {
                tools.push_back(t);  // Anthropic-native tools (web_search_..., bash_...) pass through
                continue;
            }
            const json& fn = t.contains("function") ? t["function"] : json::object();
            json tool = {{"name", string_at(fn, "name")}};
            if (auto d = string_at(fn, "description"); !d.empty()) {
                tool["description"] = d;
            }
            tool["input_schema"] = fn.contains("parameters") && fn["parameters"].is_object()
                                       ? fn["parameters"]
                                       : json{{"type", "object"}, {"properties", json::object()}};
            if (t.contains("cache_control")) {
                tool["cache_control"] = t["cache_control"];
            }
            tools.push_back(std::move(tool));
        }
    }
    bool user_tools = !tools.empty();
    json tool_choice;
    if (user_tools && canonical.contains("tool_choice")) {
        const json& tc = canonical["tool_choice"];
        if (tc.is_string()) {
            std::string s = tc.get<std::string>();
            tool_choice = {{"type", s == "required" ? "any" : s == "none" ? "none" : "auto"}};
        } else if (tc.is_object() && tc.contains("function")) {
            tool_choice = {{"type", "tool"}, {"name", string_at(tc["function"], "name")}};
        } else if (tc.is_object() && tc.contains("type") && tc["type"] != "function") {
            tool_choice = tc;  // already Anthropic-shaped
        }
    }

    // JSON mode through a forced tool (see the top of this file).
    if (canonical.contains("response_format") && canonical["response_format"].is_object()) {
        const json& rf = canonical["response_format"];
        std::string type = string_at(rf, "type");
        if (type == "json_object" || type == "json_schema") {
            json tool = {{"name", k_json_tool}};
            json schema = {{"type", "object"}};
            std::string description = "Give your final answer by calling this tool with a JSON object.";
            if (type == "json_schema" && rf.contains("json_schema")) {
                const json& js = rf["json_schema"];
                if (js.contains("schema") && js["schema"].is_object()) {
                    schema = js["schema"];
                }
                if (auto d = string_at(js, "description"); !d.empty()) {
                    description += " " + d;
                }
            }
            tool["description"] = description;
            tool["input_schema"] = std::move(schema);
            tools.push_back(std::move(tool));
            if (thinking) {
                // Forced tool use is not allowed with thinking; ask for it instead.
                tool_choice = {{"type", "auto"}};
                system_blocks.push_back(
                    {{"type", "text"}, {"text", "Always give your final answer by calling the json_response tool."}});
            } else if (user_tools) {
                tool_choice = {{"type", "any"}};  // a user tool or the JSON answer
            } else {
                tool_choice = {{"type", "tool"}, {"name", k_json_tool}};
            }
        }
    }
    if (!tools.empty()) {
        out["tools"] = std::move(tools);
        if (canonical.contains("parallel_tool_calls") && canonical["parallel_tool_calls"] == false) {
            if (tool_choice.is_null()) {
                tool_choice = {{"type", "auto"}};
            }
            if (tool_choice["type"] != "none") {
                tool_choice["disable_parallel_tool_use"] = true;
            }
        }
        if (!tool_choice.is_null()) {
            out["tool_choice"] = std::move(tool_choice);
        }
    }

    if (!system_blocks.empty()) {
        if (system_cached) {
            out["system"] = std::move(system_blocks);
        } else {
            std::string text;
            for (const auto& b : system_blocks) {
                if (string_at(b, "type") != "text") {
                    continue;
                }
                if (!text.empty()) {
                    text += "\n\n";
                }
                text += string_at(b, "text");
            }
            out["system"] = text;
        }
    }

    std::string user = string_at(canonical, "user");
    if (canonical.contains("metadata") && canonical["metadata"].is_object()) {
        if (auto u = string_at(canonical["metadata"], "user_id"); !u.empty()) {
            user = u;
        } else if (auto u2 = string_at(canonical["metadata"], "user"); !u2.empty()) {
            user = u2;
        }
    }
    if (!user.empty()) {
        out["metadata"] = {{"user_id", user}};
    }
    if (stream) {
        out["stream"] = true;
    }

    UpstreamRequest req;
    req.path = "/messages";
    if (!target.api_key.empty()) {
        req.headers.emplace_back("x-api-key", target.api_key);
    }
    req.headers.emplace_back("anthropic-version", k_api_version);
    req.headers.emplace_back("content-type", "application/json");
    req.body = wire::dump_json(out);
    return req;
}

std::expected<ChatResult, wire::Failure> AnthropicAdapter::chat_response(std::string_view body,
                                                                         const Target& target) const
{
    json msg = wire::parse_json_lenient(body);
    if (msg.is_discarded() || !msg.is_object()) {
        return std::unexpected(upstream_failure("Anthropic sent a response that is not JSON."));
    }
    if (string_at(msg, "type") == "error") {
        return std::unexpected(failure_from_error_object(msg["error"], 502));
    }
    if (!msg.contains("content") || !msg["content"].is_array()) {
        return std::unexpected(upstream_failure("Anthropic sent a response without a content array."));
    }
    std::string text;
    std::string reasoning;
    json thinking_blocks = json::array();
    json tool_calls = json::array();
    bool json_answer = false;
    for (const auto& block : msg["content"]) {
        std::string type = string_at(block, "type");
        if (type == "text") {
            text += string_at(block, "text");
        } else if (type == "thinking") {
            reasoning += string_at(block, "thinking");
            thinking_blocks.push_back(block);
        } else if (type == "redacted_thinking") {
            thinking_blocks.push_back(block);
        } else if (type == "tool_use") {
            const json input = block.contains("input") ? block["input"] : json::object();
            if (string_at(block, "name") == k_json_tool) {
                text = wire::dump_json(input);  // the JSON answer replaces any preamble
                json_answer = true;
                continue;
            }
            tool_calls.push_back(
                {{"id", string_at(block, "id")},
                 {"type", "function"},
                 {"function", {{"name", string_at(block, "name")}, {"arguments", wire::dump_json(input)}}}});
        }
    }
    json message = {{"role", "assistant"}};
    message["content"] = (text.empty() && !tool_calls.empty()) ? json(nullptr) : json(text);
    if (!tool_calls.empty()) {
        message["tool_calls"] = std::move(tool_calls);
    }
    if (!reasoning.empty()) {
        message["reasoning_content"] = reasoning;
    }
    if (!thinking_blocks.empty()) {
        message["thinking_blocks"] = std::move(thinking_blocks);
    }
    std::string finish = finish_reason_for(string_at(msg, "stop_reason"));
    if (finish == "tool_calls" && json_answer && !message.contains("tool_calls")) {
        finish = "stop";
    }

    ChatResult result;
    read_usage(msg.contains("usage") ? msg["usage"] : json(), result.usage);
    if (auto bad = wire::check_usage(result.usage)) {
        return std::unexpected(std::move(*bad));
    }
    std::string model = string_at(msg, "model");
    result.body = {
        {"id", string_at(msg, "id")},
        {"object", "chat.completion"},
        {"created", static_cast<std::int64_t>(std::time(nullptr))},
        {"model", model.empty() ? target.model : model},
        {"choices",
         json::array(
             {{{"index", 0}, {"message", std::move(message)}, {"logprobs", nullptr}, {"finish_reason", finish}}})},
        {"usage", wire::usage_to_openai(result.usage)},
    };
    return result;
}

wire::Failure AnthropicAdapter::classify_error(int status, std::string_view body, const HeaderList& headers) const
{
    json doc = wire::parse_json_lenient(body);
    json err = json::object();
    if (!doc.is_discarded() && doc.is_object() && doc.contains("error") && doc["error"].is_object()) {
        err = doc["error"];
    } else {
        std::string text = wire::utf8_prefix(body, 300);
        err = {{"message", text.empty() ? "empty body" : text}};
    }
    wire::Failure f = failure_from_error_object(err, status);
    f.status = status == 529 ? 529 : (status >= 400 ? status : f.status);
    if (f.kind == wire::FailureKind::rate_limited) {
        f.retry_after_s = rate_limit_wait_seconds(headers);
    } else if (f.kind == wire::FailureKind::upstream) {
        f.retry_after_s = retry_after_seconds(headers);
    }
    return f;
}

}  // namespace

std::unique_ptr<StreamTranslator> anthropic_passthrough_tap()
{
    return std::make_unique<AnthropicStreamTap>();
}

const Adapter& anthropic_adapter()
{
    static const AnthropicAdapter adapter;
    return adapter;
}

}  // namespace aigw::daemon::providers

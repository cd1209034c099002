// Cohere API v2 (https://api.cohere.com/v2) <-> canonical (OpenAI chat) translation.
//
// Chat: POST /chat with `Authorization: Bearer`. v2 messages are close to OpenAI's: system,
// user, assistant (tool_calls in OpenAI's shape, plus a `tool_plan`) and tool (tool_call_id)
// roles; tools use OpenAI's function shape. top_p is `p`, top_k `k`, stop `stop_sequences`.
// Streams are SSE with an `event:` name and a `type` in each JSON payload: message-start,
// content-start/-delta/-end, tool-plan-delta, tool-call-start/-delta/-end, citation-*,
// message-end (finish_reason and usage). There is no [DONE]: message-end is the end.
//
// tool_plan: the text the model writes before calling tools ("I will look up ..."). It
// becomes the assistant's `content` (so clients show it), and an assistant message that
// has tool_calls sends its content back as tool_plan, so the turn round-trips.
//
// Usage: Cohere reports `billed_units` (what the key is charged for) and `tokens` (all
// tokens the model processed, including ones Cohere adds itself and does not bill). Cost
// must be exact, so billed_units is used when present, `tokens` otherwise.
//
// Embeddings: POST /embed {model, texts, input_type, embedding_types: ["float"]}; the
// input_type defaults to "search_document" and a request may set its own `input_type`.

#include "daemon/providers/adapter.hpp"
#include "daemon/providers/json_access.hpp"
#include "shared/wire/utf8.hpp"
#include "daemon/providers/validate.hpp"
#include "shared/wire/json_text.hpp"

#include <algorithm>
#include <cstdint>
#include <ctime>
#include <map>

namespace aigw::daemon::providers {
namespace {

using nlohmann::json;

/// obj[a][b]... or a null json when any step is missing.
const json& path_at(const json& obj, std::initializer_list<const char*> keys)
{
    static const json k_null;
    const json* cur = &obj;
    for (const char* k : keys) {
        if (!cur->is_object()) {
            return k_null;
        }
        auto it = cur->find(k);
        if (it == cur->end()) {
            return k_null;
        }
        cur = &*it;
    }
    return *cur;
}

/// A tool call in OpenAI's shape, from one in OpenAI's or Cohere's: only id, type, name and
/// the arguments, which are text (an object is written out as JSON).
json openai_tool_call(const json& tc)
{
    const json& fn = path_at(tc, {"function"});
    const json& args = path_at(fn, {"arguments"});
    return {{"id", string_at(tc, "id")},
            {"type", "function"},
            {"function",
             {{"name", string_at(fn, "name")},
              {"arguments", args.is_string() ? args.get<std::string>() : wire::dump_json(args)}}}};
}

/// Cohere's usage object -> canonical Usage (billed_units first, see the file comment).
wire::Usage usage_from_cohere(const json& usage)
{
    wire::Usage u;
    if (!usage.is_object()) {
        return u;
    }
    const json& billed = path_at(usage, {"billed_units"});
    const json& tokens = path_at(usage, {"tokens"});
    const json& src = billed.is_object() ? billed : tokens;
    if (!src.is_object()) {
        return u;
    }
    u.reported = true;
    u.input_tokens = wire::token_count_at(src, "input_tokens", u);
    u.output_tokens = wire::token_count_at(src, "output_tokens", u);
    u.cached_tokens = wire::token_count_at(usage, "cached_tokens", u);
    return u;
}

/// Cohere finish_reason -> OpenAI's. ERROR and TIMEOUT are failures, handled by callers.
std::string finish_reason_for(std::string_view reason)
{
    if (reason == "MAX_TOKENS") {
        return "length";
    }
    if (reason == "TOOL_CALL") {
        return "tool_calls";
    }
    return "stop";  // COMPLETE, STOP_SEQUENCE, and any reason added later
}

/// A failure for finish_reason ERROR / TIMEOUT, nullopt for the others.
std::optional<wire::Failure> failure_for_finish(std::string_view reason)
{
    if (reason == "ERROR") {
        return upstream_failure("Cohere stopped generating with finish_reason ERROR; retry the request");
    }
    if (reason == "TIMEOUT") {
        wire::Failure f = upstream_failure(
            "Cohere stopped generating with finish_reason TIMEOUT; retry the request "
            "or lower max_tokens");
        f.kind = wire::FailureKind::timeout;
        f.status = 504;
        return f;
    }
    return std::nullopt;
}

/// Text of an OpenAI content value: a string, or the text parts of an array joined.
std::expected<std::string, wire::Failure> text_of(const json& content, std::string_view role)
{
    if (content.is_null()) {
        return std::string();
    }
    if (content.is_string()) {
        return content.get<std::string>();
    }
    if (!content.is_array()) {
        return std::unexpected(wire::bad_request(
            "The content of a " + std::string(role) + " message must be a string or an array of parts.", "messages"));
    }
    std::string text;
    for (const auto& part : content) {
        std::string type = string_at(part, "type");
        if (type != "text") {
            return std::unexpected(wire::bad_request(
                "Cohere accepts only text parts in " + std::string(role) + " messages, not '" + type + "'.",
                "messages"));
        }
        text += string_at(part, "text");
    }
    return text;
}

/// A user message's content: a string, or text and image_url parts.
std::expected<json, wire::Failure> user_content(const json& content)
{
    if (content.is_string()) {
        return content;
    }
    if (!content.is_array()) {
        return std::unexpected(
            wire::bad_request("The content of a user message must be a string or an array of parts.", "messages"));
    }
    json parts = json::array();
    for (const auto& part : content) {
        std::string type = string_at(part, "type");
        if (type == "text") {
            parts.push_back({{"type", "text"}, {"text", string_at(part, "text")}});
        } else if (type == "image_url") {
            const json& iu = path_at(part, {"image_url"});
            json image = {{"url", iu.is_string() ? iu.get<std::string>() : string_at(iu, "url")}};
            if (auto detail = string_at(iu, "detail"); !detail.empty()) {
                image["detail"] = detail;
            }
            parts.push_back({{"type", "image_url"}, {"image_url", std::move(image)}});
        } else {
            return std::unexpected(wire::bad_request(
                "Cohere does not accept '" + type + "' content parts; send text or image_url parts.", "messages"));
        }
    }
    return parts;
}

std::expected<json, wire::Failure> cohere_messages(const json& messages)
{
    json out = json::array();
    for (const auto& m : messages) {
        std::string role = string_at(m, "role");
        const json content = m.contains("content") ? m["content"] : json();
        if (role == "system" || role == "developer") {
            auto text = text_of(content, role);
            if (!text) {
                return std::unexpected(text.error());
            }
            out.push_back({{"role", "system"}, {"content", *text}});
        } else if (role == "user") {
            auto c = user_content(content);
            if (!c) {
                return std::unexpected(c.error());
            }
            out.push_back({{"role", "user"}, {"content", std::move(*c)}});
        } else if (role == "assistant") {
            auto text = text_of(content, role);
            if (!text) {
                return std::unexpected(text.error());
            }
            json msg = {{"role", "assistant"}};
            const json& calls = path_at(m, {"tool_calls"});
            if (calls.is_array() && !calls.empty()) {
                json tool_calls = json::array();
                for (const auto& tc : calls) {
                    tool_calls.push_back(openai_tool_call(tc));
                }
                msg["tool_calls"] = std::move(tool_calls);
                if (!text->empty()) {
                    msg["tool_plan"] = *text;
                }
            } else {
                msg["content"] = *text;
            }
            out.push_back(std::move(msg));
        } else if (role == "tool") {
            auto text = text_of(content, role);
            if (!text) {
                return std::unexpected(text.error());
            }
            out.push_back({{"role", "tool"}, {"tool_call_id", string_at(m, "tool_call_id")}, {"content", *text}});
        } else {
            return std::unexpected(wire::bad_request(
                "Cohere does not accept messages with role '" + role +
                    "'; use system, user, assistant or tool (function messages are the old form of tool).",
                "messages"));
        }
    }
    return out;
}

/// OpenAI tool_choice -> Cohere's ("REQUIRED" / "NONE"); a named function keeps only that
/// tool and requires it, which is what naming one means.
std::expected<void, wire::Failure> apply_tool_choice(const json& choice, json& out)
{
    if (choice.is_null()) {
        return {};
    }
    if (choice.is_string()) {
        std::string c = choice.get<std::string>();
        if (c == "required") {
            out["tool_choice"] = "REQUIRED";
        } else if (c == "none") {
            out["tool_choice"] = "NONE";
        }
        return {};
    }
    std::string name = string_at(path_at(choice, {"function"}), "name");
    if (name.empty()) {
        return {};
    }
    json kept = json::array();
    if (out.contains("tools")) {
        for (const auto& t : out["tools"]) {
            if (string_at(path_at(t, {"function"}), "name") == name) {
                kept.push_back(t);
            }
        }
    }
    if (kept.empty()) {
        return std::unexpected(
            wire::bad_request("tool_choice names '" + name + "', which is not in tools.", "tool_choice"));
    }
    out["tools"] = std::move(kept);
    out["tool_choice"] = "REQUIRED";
    return {};
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

class CohereStream final : public StreamTranslator {
public:
    explicit CohereStream(std::string model) : m_model(std::move(model)), m_created(std::time(nullptr)) {}

    std::expected<void, wire::Failure> on_event(const wire::SseEvent& ev, std::vector<json>& out) override
    {
        if (ev.data.empty() || ev.data == "[DONE]") {
            return {};
        }
        json data = wire::parse_json_lenient(ev.data);
        if (data.is_discarded() || !data.is_object()) {
            return std::unexpected(
                upstream_failure("Cohere sent a stream event that is not JSON: " + wire::utf8_prefix(ev.data, 200)));
        }
        std::string type = string_at(data, "type");
        if (type.empty()) {
            type = ev.event;
        }
        const json& message = path_at(data, {"delta", "message"});
        const json base = chunk_base(m_id, m_model, m_created);
        if (type == "message-start") {
            if (auto id = string_at(data, "id"); !id.empty()) {
                m_id = id;
            }
            out.push_back(delta_chunk(chunk_base(m_id, m_model, m_created), {{"role", "assistant"}, {"content", ""}}));
        } else if (type == "content-start" || type == "content-delta") {
            const json& content = path_at(message, {"content"});
            if (auto text = string_at(content, "text"); !text.empty()) {
                out.push_back(delta_chunk(base, {{"content", text}}));
            }
            if (auto thinking = string_at(content, "thinking"); !thinking.empty()) {
                out.push_back(delta_chunk(base, {{"reasoning_content", thinking}}));
            }
        } else if (type == "tool-plan-delta") {
            if (auto plan = string_at(message, "tool_plan"); !plan.empty()) {
                out.push_back(delta_chunk(base, {{"content", plan}}));
            }
        } else if (type == "tool-call-start") {
            const json& call = path_at(message, {"tool_calls"});
            const json& fn = path_at(call, {"function"});
            const int index = m_next_tool++;
            m_tool_index[int_at(data, "index")] = index;
            json tc = {{"index", index},
                       {"id", string_at(call, "id")},
                       {"type", "function"},
                       {"function", {{"name", string_at(fn, "name")}, {"arguments", string_at(fn, "arguments")}}}};
            out.push_back(delta_chunk(base, {{"tool_calls", json::array({std::move(tc)})}}));
        } else if (type == "tool-call-delta") {
            std::string fragment = string_at(path_at(message, {"tool_calls", "function"}), "arguments");
            auto it = m_tool_index.find(int_at(data, "index"));
            if (fragment.empty() || m_next_tool == 0) {
                return {};
            }
            const int index = it != m_tool_index.end() ? it->second : m_next_tool - 1;
            json tc = {{"index", index}, {"function", {{"arguments", fragment}}}};
            out.push_back(delta_chunk(base, {{"tool_calls", json::array({std::move(tc)})}}));
        } else if (type == "message-end") {
            const json& delta = path_at(data, {"delta"});
            m_usage = usage_from_cohere(path_at(delta, {"usage"}));
            if (auto bad = wire::check_usage(m_usage)) {
                return std::unexpected(std::move(*bad));
            }
            std::string reason = string_at(delta, "finish_reason");
            m_finished = true;
            if (auto f = failure_for_finish(reason)) {
                return std::unexpected(std::move(*f));
            }
            out.push_back(delta_chunk(base, json::object(), finish_reason_for(reason)));
            json usage_chunk = base;
            usage_chunk["choices"] = json::array();
            usage_chunk["usage"] = wire::usage_to_openai(m_usage);
            out.push_back(std::move(usage_chunk));
        } else if (type == "error" || (!data.contains("type") && data.contains("message"))) {
            return std::unexpected(
                upstream_failure("Cohere reported an error mid-stream: " + string_at(data, "message")));
        }
        // content-end, tool-call-end, citation-start/-end, debug and later types need no chunk.
        return {};
    }

    bool finished() const override { return m_finished; }
    wire::Usage usage() const override { return m_usage; }

private:
    std::string m_id = "cohere";
    std::string m_model;
    std::int64_t m_created;
    wire::Usage m_usage;
    bool m_finished = false;
    int m_next_tool = 0;
    std::map<std::int64_t, int> m_tool_index;  ///< Cohere's event index -> tool_calls index
};

class CohereAdapter final : public Adapter {
public:
    std::expected<UpstreamRequest, wire::Failure> chat_request(const json& canonical, const Target& target,
                                                               bool stream) const override;
    std::expected<ChatResult, wire::Failure> chat_response(std::string_view body, const Target& target) const override;
    std::unique_ptr<StreamTranslator> chat_stream(const Target& target) const override
    {
        return std::make_unique<CohereStream>(target.model);
    }
    wire::Failure classify_error(int status, std::string_view body, const HeaderList& headers) const override;
    std::expected<UpstreamRequest, wire::Failure> embeddings_request(const json& canonical,
                                                                     const Target& target) const override;
    std::expected<ChatResult, wire::Failure> embeddings_response(std::string_view body,
                                                                 const Target& target) const override;

private:
    static void headers(HeaderList& h, const Target& target)
    {
        h.emplace_back("Content-Type", "application/json");
        if (!target.api_key.empty()) {
            h.emplace_back("Authorization", "Bearer " + target.api_key);
        }
    }
};

std::expected<UpstreamRequest, wire::Failure> CohereAdapter::chat_request(const json& canonical, const Target& target,
                                                                          bool stream) const
{
    if (!canonical.is_object() || !canonical.contains("messages") || !canonical["messages"].is_array()) {
        return std::unexpected(wire::bad_request("The request needs a 'messages' array.", "messages"));
    }
    if (auto bad = validate_chat_fields(canonical)) {
        return std::unexpected(std::move(*bad));
    }
    if (canonical.contains("n") && canonical["n"].is_number() && json_to_int64(canonical["n"]) > 1) {
        return std::unexpected(wire::bad_request("Cohere models return one choice per request; set n to 1.", "n"));
    }
    auto messages = cohere_messages(canonical["messages"]);
    if (!messages) {
        return std::unexpected(messages.error());
    }
    json out = {{"model", target.model}, {"messages", std::move(*messages)}};
    if (stream) {
        out["stream"] = true;
    }
    auto copy = [&](const char* from, const char* to) {
        if (auto it = canonical.find(from); it != canonical.end() && !it->is_null()) {
            out[to] = *it;
        }
    };
    copy("max_completion_tokens", "max_tokens");
    copy("max_tokens", "max_tokens");
    copy("temperature", "temperature");
    copy("top_p", "p");
    copy("top_k", "k");
    copy("seed", "seed");
    copy("frequency_penalty", "frequency_penalty");
    copy("presence_penalty", "presence_penalty");
    // Cohere's own fields, for clients that know they talk to Cohere.
    for (const char* native : {"k", "p", "documents", "citation_options", "safety_mode", "thinking", "strict_tools"}) {
        copy(native, native);
    }
    if (auto it = canonical.find("stop"); it != canonical.end() && !it->is_null()) {
        out["stop_sequences"] = it->is_array() ? *it : json::array({*it});
    }
    if (auto it = canonical.find("tools"); it != canonical.end() && it->is_array() && !it->empty()) {
        json tools = json::array();
        for (const auto& t : *it) {
            const json& fn = path_at(t, {"function"});
            if (string_at(t, "type") != "function" || !fn.is_object()) {
                return std::unexpected(wire::bad_request("Cohere accepts only function tools.", "tools"));
            }
            if (bool_at(fn, "strict")) {
                out["strict_tools"] = true;
            }
            json f = {{"name", string_at(fn, "name")}};
            if (auto d = string_at(fn, "description"); !d.empty()) {
                f["description"] = d;
            }
            f["parameters"] =
                fn.contains("parameters") ? fn["parameters"] : json{{"type", "object"}, {"properties", json::object()}};
            tools.push_back({{"type", "function"}, {"function", std::move(f)}});
        }
        out["tools"] = std::move(tools);
    }
    if (auto it = canonical.find("tool_choice"); it != canonical.end()) {
        if (auto r = apply_tool_choice(*it, out); !r) {
            return std::unexpected(r.error());
        }
    }
    if (auto it = canonical.find("response_format"); it != canonical.end() && it->is_object()) {
        std::string type = string_at(*it, "type");
        if (type == "json_object") {
            out["response_format"] = {{"type", "json_object"}};
        } else if (type == "json_schema") {
            json rf = {{"type", "json_object"}};
            const json& schema = path_at(*it, {"json_schema", "schema"});
            if (schema.is_object()) {
                rf["json_schema"] = schema;
            }
            out["response_format"] = std::move(rf);
        }
    }
    UpstreamRequest req;
    req.path = "/chat";
    req.body = wire::dump_json(out);
    headers(req.headers, target);
    return req;
}

std::expected<ChatResult, wire::Failure> CohereAdapter::chat_response(std::string_view body, const Target& target) const
{
    auto doc = wire::parse_json_lenient(body);
    if (doc.is_discarded() || !doc.is_object()) {
        return std::unexpected(upstream_failure("Cohere sent an answer that is not JSON"));
    }
    const json& msg = path_at(doc, {"message"});
    if (!msg.is_object()) {
        return std::unexpected(upstream_failure("Cohere's answer has no message"));
    }
    const std::string reason = string_at(doc, "finish_reason");
    if (auto f = failure_for_finish(reason)) {
        return std::unexpected(std::move(*f));
    }
    std::string text;
    std::string thinking;
    if (const json& content = path_at(msg, {"content"}); content.is_array()) {
        for (const auto& part : content) {
            std::string type = string_at(part, "type");
            if (type == "text") {
                text += string_at(part, "text");
            } else if (type == "thinking") {
                thinking += string_at(part, "thinking");
            }
        }
    } else if (content.is_string()) {
        text = content.get<std::string>();
    }
    json message = {{"role", "assistant"}};
    json tool_calls = json::array();
    if (const json& calls = path_at(msg, {"tool_calls"}); calls.is_array()) {
        for (const auto& tc : calls) {
            tool_calls.push_back(openai_tool_call(tc));
        }
    }
    if (text.empty() && !tool_calls.empty()) {
        text = string_at(msg, "tool_plan");
    }
    message["content"] = text.empty() && !tool_calls.empty() ? json() : json(text);
    if (!tool_calls.empty()) {
        message["tool_calls"] = std::move(tool_calls);
    }
    if (!thinking.empty()) {
        message["reasoning_content"] = thinking;
    }
    ChatResult r;
    r.usage = usage_from_cohere(path_at(doc, {"usage"}));
    if (auto bad = wire::check_usage(r.usage)) {
        return std::unexpected(std::move(*bad));
    }
    r.body = {{"id", string_at(doc, "id")},
              {"object", "chat.completion"},
              {"created", static_cast<std::int64_t>(std::time(nullptr))},
              {"model", target.model},
              {"choices", json::array({{{"index", 0},
                                        {"message", std::move(message)},
                                        {"logprobs", nullptr},
                                        {"finish_reason", finish_reason_for(reason)}}})},
              {"usage", wire::usage_to_openai(r.usage)}};
    return r;
}

wire::Failure CohereAdapter::classify_error(int status, std::string_view body, const HeaderList& h) const
{
    wire::Failure f = Adapter::classify_error(status, body, h);
    if (status == 498 || status == 401) {
        // 498 is Cohere's "invalid token"; clients know 401.
        f.kind = wire::FailureKind::auth;
        f.status = 401;
        f.message =
            "Cohere rejected the API key (" + f.message + "): check COHERE_API_KEY or run 'aigw keys set cohere'";
    } else if (status == 402) {
        f.kind = wire::FailureKind::auth;
        f.message = "Cohere refused the request for billing reasons (" + f.message +
                    "): check the account's billing at dashboard.cohere.com";
    } else if (status == 499) {
        // Cohere's "request cancelled": the call did not complete, another attempt may.
        f.kind = wire::FailureKind::upstream;
        f.status = 502;
    }
    return f;
}

std::expected<UpstreamRequest, wire::Failure> CohereAdapter::embeddings_request(const json& canonical,
                                                                                const Target& target) const
{
    const json input = canonical.is_object() && canonical.contains("input") ? canonical["input"] : json();
    json texts = json::array();
    if (input.is_string()) {
        texts.push_back(input);
    } else if (input.is_array() && !input.empty() &&
               std::all_of(input.begin(), input.end(), [](const json& v) { return v.is_string(); })) {
        texts = input;
    } else {
        return std::unexpected(wire::bad_request(
            "Cohere embeds text: 'input' must be a string or an array of strings (not token ids).", "input"));
    }
    json out = {{"model", target.model},
                {"texts", std::move(texts)},
                {"input_type", "search_document"},
                {"embedding_types", json::array({"float"})}};
    if (auto t = string_at(canonical, "input_type"); !t.empty()) {
        out["input_type"] = t;
    }
    if (auto it = canonical.find("dimensions"); it != canonical.end() && it->is_number_integer()) {
        out["output_dimension"] = *it;
    }
    if (auto t = string_at(canonical, "truncate"); !t.empty()) {
        out["truncate"] = t;
    }
    UpstreamRequest req;
    req.path = "/embed";
    req.body = wire::dump_json(out);
    headers(req.headers, target);
    return req;
}

std::expected<ChatResult, wire::Failure> CohereAdapter::embeddings_response(std::string_view body,
                                                                            const Target& target) const
{
    auto doc = wire::parse_json_lenient(body);
    const json& floats = path_at(doc, {"embeddings", "float"});
    if (doc.is_discarded() || !floats.is_array()) {
        return std::unexpected(upstream_failure("Cohere's embed answer has no embeddings.float"));
    }
    json data = json::array();
    int index = 0;
    for (const auto& e : floats) {
        data.push_back({{"object", "embedding"}, {"index", index++}, {"embedding", e}});
    }
    ChatResult r;
    if (const json& billed = path_at(doc, {"meta", "billed_units"}); billed.is_object()) {
        r.usage.reported = true;
        r.usage.input_tokens = int_at(billed, "input_tokens");
    }
    r.body = embeddings_list(std::move(data), target.model, r.usage.input_tokens);
    return r;
}

}  // namespace

const Adapter& cohere_adapter()
{
    static const CohereAdapter k_adapter;
    return k_adapter;
}

}  // namespace aigw::daemon::providers

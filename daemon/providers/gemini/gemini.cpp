// Gemini API (generativelanguage.googleapis.com/v1beta) <-> canonical (OpenAI chat) translation.
//
// Requests go to /models/{model}:generateContent, or :streamGenerateContent?alt=sse for
// streams, with the key in x-goog-api-key (never in the URL, so no key-bearing URL exists
// to leak into a log). Streams are SSE framed with CRLF and end without [DONE]: the event
// that carries a finishReason is the last one.
//
// Tool call ids: Gemini's functionCall parts have no ids we can rely on, so we number them
// "call_<n>" within one response. Gemini 3 models also return a thoughtSignature on
// function-call parts and reject the next turn (400) unless it comes back unchanged; an
// OpenAI client only hands back the tool call id, so we carry the signature inside it:
// "call_<n>__thought__<signature>".

#include "daemon/providers/adapter.hpp"
#include "daemon/providers/json_access.hpp"
#include "shared/wire/utf8.hpp"
#include "daemon/providers/validate.hpp"
#include "shared/wire/ascii.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstring>
#include <ctime>
#include <map>
#include <set>
#include <utility>

namespace aigw::daemon::providers {
namespace {

using nlohmann::json;

constexpr std::string_view k_signature_separator = "__thought__";

std::string tool_call_id(int n, const std::string& signature)
{
    std::string id = "call_" + std::to_string(n);
    if (!signature.empty()) {
        id.append(k_signature_separator);
        id += signature;
    }
    return id;
}

/// The thoughtSignature carried in a tool call id, or "".
std::string signature_of(std::string_view id)
{
    auto pos = id.find(k_signature_separator);
    return pos == std::string_view::npos ? std::string{} : std::string(id.substr(pos + k_signature_separator.size()));
}

/// The MIME type for an http(s) URL, guessed from its extension.
std::string mime_from_url(std::string_view url)
{
    auto q = url.find_first_of("?#");
    const std::string path = wire::ascii_lower(url.substr(0, q));
    static const std::pair<const char*, const char*> k_types[] = {
        {".png", "image/png"}, {".jpg", "image/jpeg"},  {".jpeg", "image/jpeg"}, {".webp", "image/webp"},
        {".gif", "image/gif"}, {".heic", "image/heic"}, {".heif", "image/heif"}, {".pdf", "application/pdf"},
        {".mp3", "audio/mp3"}, {".wav", "audio/wav"},   {".mp4", "video/mp4"},   {".txt", "text/plain"},
    };
    for (const auto& [ext, type] : k_types) {
        if (path.ends_with(ext)) {
            return type;
        }
    }
    return "image/jpeg";  // image_url parts are images; JPEG is the usual case
}

/// An OpenAI image_url/file/input_audio part -> an inlineData or fileData part.
std::expected<json, wire::Failure> media_part(const std::string& url, const std::string& fallback_mime)
{
    if (url.starts_with("data:")) {
        auto comma = url.find(',');
        std::string_view meta = std::string_view(url).substr(5, comma == std::string::npos ? 0 : comma - 5);
        if (comma == std::string::npos || !meta.ends_with(";base64")) {
            return std::unexpected(wire::bad_request("Data URLs must be base64 (data:<type>;base64,...).", "messages"));
        }
        meta.remove_suffix(7);
        return json{
            {"inlineData",
             {{"mimeType", meta.empty() ? fallback_mime : std::string(meta)}, {"data", url.substr(comma + 1)}}}};
    }
    if (url.starts_with("http://") || url.starts_with("https://") || url.starts_with("gs://")) {
        return json{{"fileData", {{"mimeType", mime_from_url(url)}, {"fileUri", url}}}};
    }
    return std::unexpected(wire::bad_request(
        "Gemini takes media as base64 data URLs or http(s) URLs; got '" + wire::utf8_prefix(url, 40) + "'.",
        "messages"));
}

/// Canonical content (string, parts or null) -> Gemini parts.
std::expected<json, wire::Failure> parts_of(const json& content)
{
    json parts = json::array();
    if (content.is_null()) {
        return parts;
    }
    if (content.is_string()) {
        if (!content.get_ref<const std::string&>().empty()) {
            parts.push_back({{"text", content}});
        }
        return parts;
    }
    if (!content.is_array()) {
        return std::unexpected(wire::bad_request("Message content must be a string or an array of parts.", "messages"));
    }
    for (const auto& p : content) {
        std::string type = string_at(p, "type");
        if (type == "text" || type == "refusal") {
            std::string text = string_at(p, type.c_str());
            if (!text.empty()) {
                parts.push_back({{"text", text}});
            }
        } else if (type == "image_url") {
            const json& iu = p.contains("image_url") ? p["image_url"] : json();
            auto part = media_part(iu.is_string() ? iu.get<std::string>() : string_at(iu, "url"), "image/jpeg");
            if (!part) {
                return std::unexpected(part.error());
            }
            parts.push_back(std::move(*part));
        } else if (type == "input_audio") {
            const json& a = p.contains("input_audio") ? p["input_audio"] : json::object();
            std::string format = string_at(a, "format");
            parts.push_back({{"inlineData",
                              {{"mimeType", "audio/" + (format.empty() ? std::string("wav") : format)},
                               {"data", string_at(a, "data")}}}});
        } else if (type == "file") {
            const json& f = p.contains("file") ? p["file"] : json::object();
            auto part = media_part(string_at(f, "file_data"), "application/pdf");
            if (!part) {
                return std::unexpected(part.error());
            }
            parts.push_back(std::move(*part));
        } else {
            return std::unexpected(
                wire::bad_request("Content part type '" + type + "' is not supported for Gemini models.", "messages"));
        }
    }
    return parts;
}

/// JSON Schema -> the OpenAPI subset Gemini's Schema accepts. Unknown keywords
/// (additionalProperties, $schema, strict, ...) are dropped; ["string","null"] becomes
/// type string + nullable.
json gemini_schema(const json& schema)
{
    if (!schema.is_object()) {
        return schema;
    }
    static const std::set<std::string> k_keep = {
        "type",     "format",           "title",         "description",   "nullable",  "enum",      "maxItems",
        "minItems", "required",         "minProperties", "maxProperties", "minLength", "maxLength", "pattern",
        "example",  "propertyOrdering", "default",       "minimum",       "maximum",
    };
    json out = json::object();
    for (auto it = schema.begin(); it != schema.end(); ++it) {
        const std::string& key = it.key();
        if (key == "properties" && it->is_object()) {
            json props = json::object();
            for (auto p = it->begin(); p != it->end(); ++p) {
                props[p.key()] = gemini_schema(*p);
            }
            out["properties"] = std::move(props);
        } else if (key == "items") {
            out["items"] = gemini_schema(*it);
        } else if ((key == "anyOf" || key == "oneOf") && it->is_array()) {
            json alts = json::array();
            for (const auto& a : *it) {
                alts.push_back(gemini_schema(a));
            }
            out["anyOf"] = std::move(alts);
        } else if (key == "type" && it->is_array()) {
            for (const auto& t : *it) {
                if (t == "null") {
                    out["nullable"] = true;
                } else if (!out.contains("type")) {
                    out["type"] = t;
                }
            }
        } else if (key == "const") {
            out["enum"] = json::array({*it});
        } else if (k_keep.contains(key)) {
            out[key] = *it;
        }
    }
    return out;
}

/// Appends parts to the last content when it has the same role, else starts a new one.
void append_content(json& contents, const char* role, json parts)
{
    if (parts.empty()) {
        return;
    }
    if (!contents.empty() && contents.back()["role"] == role) {
        for (auto& p : parts) {
            contents.back()["parts"].push_back(std::move(p));
        }
        return;
    }
    contents.push_back({{"role", role}, {"parts", std::move(parts)}});
}

std::int64_t thinking_budget(std::string_view effort)
{
    if (effort == "none") {
        return 0;
    }
    if (effort == "minimal" || effort == "low") {
        return 1024;
    }
    if (effort == "medium") {
        return 8192;
    }
    return 24576;  // high and above: Gemini 2.5 Flash's maximum
}

std::string finish_reason_for(std::string_view reason)
{
    if (reason == "MAX_TOKENS") {
        return "length";
    }
    if (reason == "SAFETY" || reason == "RECITATION" || reason == "BLOCKLIST" || reason == "PROHIBITED_CONTENT" ||
        reason == "SPII" || reason == "IMAGE_SAFETY" || reason == "LANGUAGE") {
        return "content_filter";
    }
    return "stop";  // STOP, OTHER, MALFORMED_FUNCTION_CALL, FINISH_REASON_UNSPECIFIED
}

/// usageMetadata -> canonical. promptTokenCount already includes cachedContentTokenCount.
void read_usage(const json& meta, wire::Usage& u)
{
    if (!meta.is_object()) {
        return;
    }
    u.reported = true;
    u.input_tokens =
        wire::token_count_at(meta, "promptTokenCount", u) + wire::token_count_at(meta, "toolUsePromptTokenCount", u);
    u.cached_tokens = wire::token_count_at(meta, "cachedContentTokenCount", u);
    u.reasoning_tokens = wire::token_count_at(meta, "thoughtsTokenCount", u);
    u.output_tokens = wire::token_count_at(meta, "candidatesTokenCount", u) + u.reasoning_tokens;
}

/// A response with promptFeedback.blockReason and no candidates: the prompt was refused.
std::optional<wire::Failure> blocked_prompt(const json& resp)
{
    bool has_candidates = resp.contains("candidates") && resp["candidates"].is_array() && !resp["candidates"].empty();
    if (has_candidates || !resp.contains("promptFeedback")) {
        return std::nullopt;
    }
    std::string reason = string_at(resp["promptFeedback"], "blockReason");
    if (reason.empty()) {
        return std::nullopt;
    }
    wire::Failure f = wire::bad_request("Gemini blocked the prompt for safety reasons (blockReason " + reason +
                                        "); rephrase the request or use another model.");
    f.code = "content_filter";
    return f;
}

wire::Failure failure_from_google_error(int status, const json& err, std::optional<double> retry_after)
{
    std::string gstatus = string_at(err, "status");
    std::string message = string_at(err, "message");
    if (status == 0) {
        status = static_cast<int>(int_at(err, "code"));
    }
    bool key_invalid = message.find("API key not valid") != std::string::npos;
    if (err.contains("details") && err["details"].is_array()) {
        for (const auto& d : err["details"]) {
            key_invalid = key_invalid || string_at(d, "reason") == "API_KEY_INVALID";
            if (std::string delay = string_at(d, "retryDelay"); !delay.empty()) {
                double v = 0;
                auto [p, ec] = std::from_chars(delay.data(), delay.data() + delay.size(), v);
                if (ec == std::errc{}) {
                    retry_after = wire::clamp_retry_after(v);  // "32s", "1.5s"
                }
            }
        }
    }
    wire::Failure f;
    f.status = status > 0 ? status : 502;
    if (key_invalid || gstatus == "UNAUTHENTICATED" || status == 401) {
        f.kind = wire::FailureKind::auth;
        f.status = 401;
    } else if (gstatus == "PERMISSION_DENIED" || status == 403) {
        f.kind = wire::FailureKind::auth;
        f.status = 403;
    } else if (gstatus == "RESOURCE_EXHAUSTED" || status == 429) {
        f.kind = wire::FailureKind::rate_limited;
        f.status = 429;
        f.retry_after_s = retry_after;
    } else if (gstatus == "NOT_FOUND" || status == 404) {
        f.kind = wire::FailureKind::not_found;
        f.status = 404;
    } else if (gstatus == "DEADLINE_EXCEEDED" || status == 504 || status == 408) {
        f.kind = wire::FailureKind::timeout;
        f.status = 504;
    } else if (status >= 500 || gstatus == "UNAVAILABLE" || gstatus == "INTERNAL") {
        f.kind = wire::FailureKind::upstream;
        f.status = status >= 500 ? status : 503;
        f.retry_after_s = retry_after;
    } else {
        f.kind = wire::FailureKind::bad_request;  // INVALID_ARGUMENT, FAILED_PRECONDITION, OUT_OF_RANGE
        f.status = status >= 400 && status < 500 ? status : 400;
    }
    std::string what = "Gemini returned " + std::to_string(status);
    if (!gstatus.empty()) {
        what += " (" + gstatus + ")";
    }
    what += ": " + (message.empty() ? std::string("no error message") : message);
    if (f.kind == wire::FailureKind::auth) {
        what += " - check GEMINI_API_KEY or run 'aigw keys set gemini'.";
    }
    f.message = std::move(what);
    return f;
}

json delta_chunk(const json& base, int index, json delta, json finish_reason = nullptr)
{
    json c = base;
    c["choices"] = json::array({{{"index", index},
                                 {"delta", std::move(delta)},
                                 {"logprobs", nullptr},
                                 {"finish_reason", std::move(finish_reason)}}});
    return c;
}

class GeminiStream final : public StreamTranslator {
public:
    explicit GeminiStream(std::string model) : m_model(std::move(model)), m_created(std::time(nullptr)) {}

    std::expected<void, wire::Failure> on_event(const wire::SseEvent& ev, std::vector<json>& out) override
    {
        if (ev.data.empty() || m_finished) {
            return {};
        }
        json resp = wire::parse_json_lenient(ev.data);
        if (resp.is_array() && !resp.empty()) {
            resp = resp[0];
        }
        if (resp.is_discarded() || !resp.is_object()) {
            return std::unexpected(
                upstream_failure("Gemini sent a stream event that is not JSON: " + wire::utf8_prefix(ev.data, 200)));
        }
        if (resp.contains("error") && resp["error"].is_object()) {
            return std::unexpected(failure_from_google_error(0, resp["error"], std::nullopt));
        }
        if (auto blocked = blocked_prompt(resp)) {
            return std::unexpected(*blocked);
        }
        if (auto id = string_at(resp, "responseId"); !id.empty() && m_id.empty()) {
            m_id = "chatcmpl-" + id;
        }
        if (m_id.empty()) {
            m_id = "chatcmpl-gemini";
        }
        if (auto mv = string_at(resp, "modelVersion"); !mv.empty()) {
            m_model = mv;
        }
        if (resp.contains("usageMetadata")) {
            read_usage(resp["usageMetadata"], m_usage);
            if (auto bad = wire::check_usage(m_usage)) {
                return std::unexpected(std::move(*bad));
            }
        }
        json base = chunk_base(m_id, m_model, m_created);
        if (!resp.contains("candidates") || !resp["candidates"].is_array()) {
            return {};
        }
        for (const auto& cand : resp["candidates"]) {
            int index = static_cast<int>(int_at(cand, "index"));
            if (m_started.insert(index).second) {
                out.push_back(delta_chunk(base, index, {{"role", "assistant"}, {"content", ""}}));
            }
            const json& content = cand.contains("content") ? cand["content"] : json::object();
            if (content.contains("parts") && content["parts"].is_array()) {
                for (const auto& part : content["parts"]) {
                    emit_part(part, base, index, out);
                }
            }
            if (auto reason = string_at(cand, "finishReason"); !reason.empty()) {
                std::string finish = finish_reason_for(reason);
                if (finish == "stop" && m_tool_calls[index] > 0) {
                    finish = "tool_calls";
                }
                out.push_back(delta_chunk(base, index, json::object(), finish));
                m_done.insert(index);
            }
        }
        if (!m_done.empty() && m_done.size() == m_started.size()) {
            m_finished = true;
            json c = base;
            c["choices"] = json::array();
            c["usage"] = wire::usage_to_openai(m_usage);
            out.push_back(std::move(c));
        }
        return {};
    }

    bool finished() const override { return m_finished; }
    wire::Usage usage() const override { return m_usage; }

private:
    void emit_part(const json& part, const json& base, int index, std::vector<json>& out)
    {
        if (part.contains("functionCall")) {
            const json& fc = part["functionCall"];
            int n = m_tool_calls[index]++;
            json args = fc.contains("args") ? fc["args"] : json::object();
            json call = {{"index", n},
                         {"id", tool_call_id(n, string_at(part, "thoughtSignature"))},
                         {"type", "function"},
                         {"function", {{"name", string_at(fc, "name")}, {"arguments", wire::dump_json(args)}}}};
            out.push_back(delta_chunk(base, index, {{"tool_calls", json::array({call})}}));
            return;
        }
        std::string text = string_at(part, "text");
        if (text.empty()) {
            return;
        }
        bool thought = part.contains("thought") && part["thought"] == true;
        out.push_back(delta_chunk(base, index, {{thought ? "reasoning_content" : "content", text}}));
    }

    std::string m_id;
    std::string m_model;
    std::int64_t m_created;
    wire::Usage m_usage;
    bool m_finished = false;
    std::set<int> m_started;  ///< candidates whose role chunk was sent
    std::set<int> m_done;     ///< candidates that sent a finishReason
    std::map<int, int> m_tool_calls;
};

/// The tap of a native stream relayed byte for byte (a Gemini client's streamGenerateContent):
/// it reads each response for what the relay and the ledger need (usage, finish reasons, the
/// end, an error or a blocked prompt, when the answer begins) and builds none of the OpenAI
/// chunks GeminiStream would, which the relay would drop. It appends a marker chunk (a
/// content delta) when the first content arrives, and one per candidate's finish reason; it
/// ends as GeminiStream does, once every candidate that began has a finish reason.
class GeminiStreamTap final : public StreamTranslator {
public:
    std::expected<void, wire::Failure> on_event(const wire::SseEvent& ev, std::vector<json>& out) override
    {
        if (ev.data.empty() || m_finished) {
            return {};
        }
        json resp = wire::parse_json_lenient(ev.data);
        if (resp.is_array() && !resp.empty()) {
            resp = std::move(resp[0]);
        }
        if (resp.is_discarded() || !resp.is_object()) {
            return std::unexpected(
                upstream_failure("Gemini sent a stream event that is not JSON: " + wire::utf8_prefix(ev.data, 200)));
        }
        if (auto err = resp.find("error"); err != resp.end() && err->is_object()) {
            return std::unexpected(failure_from_google_error(0, *err, std::nullopt));
        }
        if (auto blocked = blocked_prompt(resp)) {
            return std::unexpected(*blocked);
        }
        if (auto u = resp.find("usageMetadata"); u != resp.end()) {
            read_usage(*u, m_usage);
            if (auto bad = wire::check_usage(m_usage)) {
                return std::unexpected(std::move(*bad));
            }
        }
        auto candidates = resp.find("candidates");
        if (candidates == resp.end() || !candidates->is_array()) {
            return {};
        }
        for (const auto& cand : *candidates) {
            const int index = static_cast<int>(int_at(cand, "index"));
            m_started.insert(index);
            auto content = cand.is_object() ? cand.find("content") : cand.end();
            if (cand.is_object() && content != cand.end() && content->is_object()) {
                if (auto parts = content->find("parts"); parts != content->end() && parts->is_array()) {
                    for (const auto& part : *parts) {
                        if (part.contains("functionCall")) {
                            ++m_tool_calls[index];
                            began(out);
                        } else if (!string_at(part, "text").empty()) {
                            began(out);
                        }
                    }
                }
            }
            if (auto reason = string_at(cand, "finishReason"); !reason.empty()) {
                std::string finish = finish_reason_for(reason);
                if (finish == "stop" && m_tool_calls[index] > 0) {
                    finish = "tool_calls";
                }
                out.push_back({{"choices", json::array({{{"index", index},
                                                         {"delta", json::object()},
                                                         {"finish_reason", std::move(finish)}}})}});
                m_done.insert(index);
            }
        }
        if (!m_done.empty() && m_done.size() == m_started.size()) {
            m_finished = true;
        }
        return {};
    }

    bool finished() const override { return m_finished; }
    wire::Usage usage() const override { return m_usage; }

private:
    void began(std::vector<json>& out)
    {
        if (!std::exchange(m_began, true)) {
            out.push_back({{"choices", json::array({{{"index", 0}, {"delta", {{"content", " "}}}}})}});
        }
    }

    bool m_began = false;
    bool m_finished = false;
    wire::Usage m_usage;
    std::set<int> m_started;  ///< candidates seen
    std::set<int> m_done;     ///< candidates that sent a finishReason
    std::map<int, int> m_tool_calls;
};

class GeminiAdapter final : public Adapter {
public:
    std::expected<UpstreamRequest, wire::Failure> chat_request(const json& canonical, const Target& target,
                                                               bool stream) const override;
    std::expected<ChatResult, wire::Failure> chat_response(std::string_view body, const Target& target) const override;
    std::unique_ptr<StreamTranslator> chat_stream(const Target& target) const override
    {
        return std::make_unique<GeminiStream>(target.model);
    }
    wire::Failure classify_error(int status, std::string_view body, const HeaderList& headers) const override;
    std::expected<UpstreamRequest, wire::Failure> embeddings_request(const json& canonical,
                                                                     const Target& target) const override;
    std::expected<ChatResult, wire::Failure> embeddings_response(std::string_view body,
                                                                 const Target& target) const override;

private:
    static UpstreamRequest base_request(const Target& target, std::string path, const json& body)
    {
        UpstreamRequest req;
        req.path = std::move(path);
        if (!target.api_key.empty()) {
            req.headers.emplace_back("x-goog-api-key", target.api_key);
        }
        req.headers.emplace_back("content-type", "application/json");
        req.body = wire::dump_json(body);
        return req;
    }
};

std::expected<UpstreamRequest, wire::Failure> GeminiAdapter::chat_request(const json& canonical, const Target& target,
                                                                          bool stream) const
{
    if (!canonical.is_object() || !canonical.contains("messages") || !canonical["messages"].is_array()) {
        return std::unexpected(wire::bad_request("The request needs a 'messages' array.", "messages"));
    }
    if (auto bad = validate_chat_fields(canonical)) {
        return std::unexpected(std::move(*bad));
    }
    json out = json::object();
    json system_parts = json::array();
    json contents = json::array();
    std::map<std::string, std::string> tool_names;  // tool call id -> function name
    for (const auto& m : canonical["messages"]) {
        std::string role = string_at(m, "role");
        const json content = m.contains("content") ? m["content"] : json();
        if (role == "system" || role == "developer") {
            auto parts = parts_of(content);
            if (!parts) {
                return std::unexpected(parts.error());
            }
            for (auto& p : *parts) {
                system_parts.push_back(std::move(p));
            }
        } else if (role == "user") {
            auto parts = parts_of(content);
            if (!parts) {
                return std::unexpected(parts.error());
            }
            append_content(contents, "user", std::move(*parts));
        } else if (role == "assistant") {
            auto parts = parts_of(content);
            if (!parts) {
                return std::unexpected(parts.error());
            }
            if (m.contains("tool_calls") && m["tool_calls"].is_array()) {
                for (const auto& tc : m["tool_calls"]) {
                    const json& fn = tc.contains("function") ? tc["function"] : json::object();
                    std::string id = string_at(tc, "id");
                    std::string name = string_at(fn, "name");
                    tool_names[id] = name;
                    std::string args = string_at(fn, "arguments");
                    json parsed = args.empty() ? json::object() : wire::parse_json_lenient(args);
                    if (parsed.is_discarded() || !parsed.is_object()) {
                        return std::unexpected(wire::bad_request(
                            "The arguments of tool call '" + id + "' (" + name + ") are not a JSON object.",
                            "messages"));
                    }
                    json part = {{"functionCall", {{"name", name}, {"args", std::move(parsed)}}}};
                    if (auto sig = signature_of(id); !sig.empty()) {
                        part["thoughtSignature"] = sig;
                    }
                    parts->push_back(std::move(part));
                }
            }
            append_content(contents, "model", std::move(*parts));
        } else if (role == "tool") {
            std::string id = string_at(m, "tool_call_id");
            std::string name = tool_names.contains(id) ? tool_names[id] : string_at(m, "name");
            if (name.empty()) {
                return std::unexpected(wire::bad_request(
                    "Tool result '" + id + "' answers no earlier tool call; Gemini needs the function name.",
                    "messages"));
            }
            std::string text;
            if (content.is_string()) {
                text = content.get<std::string>();
            } else if (content.is_array()) {
                for (const auto& p : content) {
                    text += string_at(p, "text");
                }
            }
            // Gemini's response must be an object: a JSON object result goes as it is.
            json parsed = wire::parse_json_lenient(text);
            json response = (!parsed.is_discarded() && parsed.is_object()) ? parsed : json{{"result", text}};
            append_content(contents, "user",
                           json::array({{{"functionResponse", {{"name", name}, {"response", std::move(response)}}}}}));
        } else {
            return std::unexpected(wire::bad_request(
                "Message role '" + role + "' is not supported; use system, developer, user, assistant or tool.",
                "messages"));
        }
    }
    out["contents"] = std::move(contents);
    if (!system_parts.empty()) {
        out["systemInstruction"] = {{"parts", std::move(system_parts)}};
    }

    // Tools.
    if (canonical.contains("tools") && canonical["tools"].is_array() && !canonical["tools"].empty()) {
        json decls = json::array();
        json native = json::array();
        for (const auto& t : canonical["tools"]) {
            if (string_at(t, "type") != "function") {
                native.push_back(t);  // Gemini-native tools ({googleSearch: {}}, {codeExecution: {}}) pass through
                continue;
            }
            const json& fn = t.contains("function") ? t["function"] : json::object();
            json decl = {{"name", string_at(fn, "name")}};
            if (auto d = string_at(fn, "description"); !d.empty()) {
                decl["description"] = d;
            }
            if (fn.contains("parameters") && fn["parameters"].is_object() &&
                !fn["parameters"].value("properties", json::object()).empty()) {
                decl["parameters"] = gemini_schema(fn["parameters"]);
            }
            decls.push_back(std::move(decl));
        }
        json tools = json::array();
        if (!decls.empty()) {
            tools.push_back({{"functionDeclarations", std::move(decls)}});
        }
        for (auto& n : native) {
            n.erase("type");
            tools.push_back(std::move(n));
        }
        out["tools"] = std::move(tools);
        if (canonical.contains("tool_choice")) {
            const json& tc = canonical["tool_choice"];
            json config;
            if (tc.is_string()) {
                std::string s = tc.get<std::string>();
                config = {{"mode", s == "required" ? "ANY" : s == "none" ? "NONE" : "AUTO"}};
            } else if (tc.is_object() && tc.contains("function")) {
                config = {{"mode", "ANY"}, {"allowedFunctionNames", json::array({string_at(tc["function"], "name")})}};
            }
            if (!config.is_null()) {
                out["toolConfig"] = {{"functionCallingConfig", std::move(config)}};
            }
        }
    }

    // generationConfig.
    json gen = json::object();
    if (canonical.contains("temperature") && canonical["temperature"].is_number()) {
        gen["temperature"] = canonical["temperature"];
    }
    if (canonical.contains("top_p") && canonical["top_p"].is_number()) {
        gen["topP"] = canonical["top_p"];
    }
    if (canonical.contains("top_k") && canonical["top_k"].is_number()) {
        gen["topK"] = canonical["top_k"];
    }
    for (const char* key : {"max_completion_tokens", "max_tokens"}) {
        if (canonical.contains(key) && canonical[key].is_number()) {
            gen["maxOutputTokens"] = canonical[key];
            break;
        }
    }
    if (canonical.contains("stop")) {
        const json& stop = canonical["stop"];
        if (stop.is_string()) {
            gen["stopSequences"] = json::array({stop});
        } else if (stop.is_array() && !stop.empty()) {
            gen["stopSequences"] = stop;
        }
    }
    if (canonical.contains("n") && canonical["n"].is_number() && json_to_int64(canonical["n"]) > 1) {
        gen["candidateCount"] = canonical["n"];
    }
    if (canonical.contains("presence_penalty") && canonical["presence_penalty"].is_number()) {
        gen["presencePenalty"] = canonical["presence_penalty"];
    }
    if (canonical.contains("frequency_penalty") && canonical["frequency_penalty"].is_number()) {
        gen["frequencyPenalty"] = canonical["frequency_penalty"];
    }
    if (canonical.contains("seed") && canonical["seed"].is_number()) {
        gen["seed"] = canonical["seed"];
    }
    if (canonical.contains("response_format") && canonical["response_format"].is_object()) {
        const json& rf = canonical["response_format"];
        std::string type = string_at(rf, "type");
        if (type == "json_object" || type == "json_schema") {
            gen["responseMimeType"] = "application/json";
            if (type == "json_schema" && rf.contains("json_schema") && rf["json_schema"].contains("schema")) {
                gen["responseSchema"] = gemini_schema(rf["json_schema"]["schema"]);
            }
        }
    }
    if (auto effort = string_at(canonical, "reasoning_effort"); !effort.empty()) {
        std::int64_t budget = thinking_budget(effort);
        gen["thinkingConfig"] = {{"thinkingBudget", budget}, {"includeThoughts", budget > 0}};
    }
    if (!gen.empty()) {
        out["generationConfig"] = std::move(gen);
    }

    std::string path = "/models/" + target.model + (stream ? ":streamGenerateContent?alt=sse" : ":generateContent");
    return base_request(target, std::move(path), out);
}

std::expected<ChatResult, wire::Failure> GeminiAdapter::chat_response(std::string_view body, const Target& target) const
{
    json resp = wire::parse_json_lenient(body);
    if (resp.is_discarded() || !resp.is_object()) {
        return std::unexpected(upstream_failure("Gemini sent a response that is not JSON."));
    }
    if (auto blocked = blocked_prompt(resp)) {
        return std::unexpected(*blocked);
    }
    if (!resp.contains("candidates") || !resp["candidates"].is_array() || resp["candidates"].empty()) {
        return std::unexpected(upstream_failure("Gemini sent a response without candidates."));
    }
    json choices = json::array();
    int next_call = 0;
    for (const auto& cand : resp["candidates"]) {
        std::string text;
        std::string reasoning;
        json tool_calls = json::array();
        const json& content = cand.contains("content") ? cand["content"] : json::object();
        if (content.contains("parts") && content["parts"].is_array()) {
            for (const auto& part : content["parts"]) {
                if (part.contains("functionCall")) {
                    const json& fc = part["functionCall"];
                    json args = fc.contains("args") ? fc["args"] : json::object();
                    tool_calls.push_back(
                        {{"id", tool_call_id(next_call++, string_at(part, "thoughtSignature"))},
                         {"type", "function"},
                         {"function", {{"name", string_at(fc, "name")}, {"arguments", wire::dump_json(args)}}}});
                } else if (part.contains("thought") && part["thought"] == true) {
                    reasoning += string_at(part, "text");
                } else {
                    text += string_at(part, "text");
                }
            }
        }
        json message = {{"role", "assistant"}};
        message["content"] = (text.empty() && !tool_calls.empty()) ? json(nullptr) : json(text);
        if (!reasoning.empty()) {
            message["reasoning_content"] = reasoning;
        }
        std::string finish = finish_reason_for(string_at(cand, "finishReason"));
        if (!tool_calls.empty()) {
            message["tool_calls"] = std::move(tool_calls);
            if (finish == "stop") {
                finish = "tool_calls";
            }
        }
        choices.push_back({{"index", int_at(cand, "index")},
                           {"message", std::move(message)},
                           {"logprobs", nullptr},
                           {"finish_reason", finish}});
    }
    ChatResult result;
    read_usage(resp.contains("usageMetadata") ? resp["usageMetadata"] : json(), result.usage);
    if (auto bad = wire::check_usage(result.usage)) {
        return std::unexpected(std::move(*bad));
    }
    std::string id = string_at(resp, "responseId");
    std::string model = string_at(resp, "modelVersion");
    result.body = {
        {"id", id.empty() ? std::string("chatcmpl-gemini") : "chatcmpl-" + id},
        {"object", "chat.completion"},
        {"created", static_cast<std::int64_t>(std::time(nullptr))},
        {"model", model.empty() ? target.model : model},
        {"choices", std::move(choices)},
        {"usage", wire::usage_to_openai(result.usage)},
    };
    return result;
}

wire::Failure GeminiAdapter::classify_error(int status, std::string_view body, const HeaderList& headers) const
{
    json doc = wire::parse_json_lenient(body);
    if (doc.is_array() && !doc.empty()) {
        doc = doc[0];  // streaming endpoints wrap the error in an array
    }
    json err = json::object();
    if (!doc.is_discarded() && doc.is_object() && doc.contains("error") && doc["error"].is_object()) {
        err = doc["error"];
    } else {
        std::string text = wire::utf8_prefix(body, 300);
        err = {{"message", text.empty() ? "empty body" : text}};
    }
    return failure_from_google_error(status, err, retry_after_seconds(headers));
}

std::expected<UpstreamRequest, wire::Failure> GeminiAdapter::embeddings_request(const json& canonical,
                                                                                const Target& target) const
{
    const json input = canonical.is_object() && canonical.contains("input") ? canonical["input"] : json();
    json texts = json::array();
    if (input.is_string()) {
        texts.push_back(input);
    } else if (input.is_array()) {
        for (const auto& item : input) {
            if (!item.is_string()) {
                return std::unexpected(
                    wire::bad_request("Gemini embeddings take text input only (strings, not token arrays).", "input"));
            }
            texts.push_back(item);
        }
    }
    if (texts.empty()) {
        return std::unexpected(wire::bad_request("The embeddings request needs a non-empty 'input'.", "input"));
    }
    json requests = json::array();
    for (auto& text : texts) {
        json r = {{"model", "models/" + target.model}, {"content", {{"parts", json::array({{{"text", text}}})}}}};
        if (canonical.contains("dimensions") && canonical["dimensions"].is_number()) {
            r["outputDimensionality"] = canonical["dimensions"];
        }
        requests.push_back(std::move(r));
    }
    return base_request(target, "/models/" + target.model + ":batchEmbedContents", json{{"requests", requests}});
}

std::expected<ChatResult, wire::Failure> GeminiAdapter::embeddings_response(std::string_view body,
                                                                            const Target& target) const
{
    json resp = wire::parse_json_lenient(body);
    if (resp.is_discarded() || !resp.is_object() || !resp.contains("embeddings") || !resp["embeddings"].is_array()) {
        return std::unexpected(upstream_failure("Gemini sent an embeddings response without 'embeddings'."));
    }
    json data = json::array();
    int index = 0;
    for (const auto& e : resp["embeddings"]) {
        const json values = e.contains("values") ? e["values"] : json::array();
        data.push_back({{"object", "embedding"}, {"index", index++}, {"embedding", values}});
    }
    ChatResult result;
    // batchEmbedContents reports no token counts.
    if (resp.contains("usageMetadata")) {
        result.usage.reported = true;
        result.usage.input_tokens = int_at(resp["usageMetadata"], "promptTokenCount");
    }
    result.body = embeddings_list(std::move(data), target.model, result.usage.input_tokens);
    return result;
}

}  // namespace

std::unique_ptr<StreamTranslator> gemini_passthrough_tap()
{
    return std::make_unique<GeminiStreamTap>();
}

const Adapter& gemini_adapter()
{
    static const GeminiAdapter adapter;
    return adapter;
}

}  // namespace aigw::daemon::providers

// Amazon Bedrock Runtime <-> canonical (OpenAI chat-completions) translation.
//
// Chat goes through the Converse API (POST /model/{modelId}/converse) and ConverseStream
// (/converse-stream, answered in the binary AWS event-stream framing: see
// aws_eventstream.hpp), which give one request shape for every model family on Bedrock.
// Requests are signed with SigV4 (service "bedrock", region Target::aws.region) at
// sigv4::now(), which tests replace with a fixed clock.
//
// Base URL: Target::base_url when set (a proxy, a VPC endpoint, a test server), else
// https://bedrock-runtime.{region}.amazonaws.com (bedrock_base_url below; the router must
// send to the same base, since UpstreamRequest::path is relative to it).
//
// Model ids carry ':' ("anthropic.claude-3-haiku-20240307-v1:0") and inference-profile
// ARNs carry ':' and '/': the id is percent-encoded as one path segment on the wire, and
// SigV4 encodes the canonical URI once more ("%3A" -> "%253A"), as AWS verifies it.
//
// Usage: Bedrock's inputTokens excludes cache reads and writes (reported apart as
// cacheReadInputTokens / cacheWriteInputTokens, all three summing into totalTokens with
// outputTokens); canonical input_tokens is their sum.
//
// JSON mode: Converse has no response_format; as for Anthropic, we force a tool named
// "json_response" whose input schema is the requested one and turn its input back into
// message content.
//
// Embeddings: Titan text embeddings (InvokeModel, {inputText}) take one text per request,
// so an array of more than one input is a 400 that says so; Cohere Embed models on
// Bedrock ({texts: [...]}) take a batch.

#include "daemon/providers/adapter.hpp"
#include "daemon/providers/json_access.hpp"
#include "shared/wire/utf8.hpp"
#include "daemon/providers/validate.hpp"
#include "daemon/providers/bedrock/aws_eventstream.hpp"
#include "daemon/providers/bedrock/sigv4.hpp"

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cstring>
#include <ctime>
#include <map>

namespace aigw::daemon::providers {

/// The base URL a Bedrock request goes to: Target::base_url when set, else the regional
/// endpoint. Not declared in adapter.hpp yet: the router must send to the same base
/// (declare `std::string bedrock_base_url(const Target&);` where it is needed).
std::string bedrock_base_url(const Target& target)
{
    if (!target.base_url.empty()) {
        return target.base_url;
    }
    return "https://bedrock-runtime." + target.aws.region + ".amazonaws.com";
}

namespace {

using nlohmann::json;

constexpr const char* k_json_tool = "json_response";
constexpr const char* k_service = "bedrock";

std::string new_id()
{
    static std::atomic<std::uint64_t> counter{0};
    return "chatcmpl-bedrock-" + std::to_string(std::time(nullptr)) + "-" + std::to_string(++counter);
}

// ---- base URL, path, signing -------------------------------------------------------------

/// Checks credentials and region before anything is built.
std::expected<void, wire::Failure> check_credentials(const Target& target)
{
    if (target.aws.access_key_id.empty() || target.aws.secret_access_key.empty()) {
        return std::unexpected(
            wire::unauthorized("No AWS credentials for Bedrock: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (and "
                               "AWS_SESSION_TOKEN for temporary credentials) in the daemon's environment."));
    }
    if (target.aws.region.empty()) {
        wire::Failure f =
            wire::unauthorized("No AWS region for Bedrock: set AWS_REGION (or AWS_DEFAULT_REGION), e.g. us-east-1.");
        f.code = "missing_region";
        return std::unexpected(f);
    }
    return {};
}

/// A POST of `body` to base + `path`, signed. `accept` is the answer's content type.
UpstreamRequest signed_post(const Target& target, std::string path, std::string body, std::string_view accept)
{
    UpstreamRequest req;
    req.method = "POST";
    req.path = std::move(path);
    req.body = std::move(body);

    const std::string base = bedrock_base_url(target);
    // Host and the base URL's own path prefix, both part of what AWS verifies.
    std::string_view rest = base;
    std::string scheme = "https";
    if (auto p = rest.find("://"); p != std::string_view::npos) {
        scheme = std::string(rest.substr(0, p));
        rest.remove_prefix(p + 3);
    }
    auto slash = rest.find('/');
    std::string host(rest.substr(0, slash));
    std::string prefix = slash == std::string_view::npos ? std::string() : std::string(rest.substr(slash));
    while (!prefix.empty() && prefix.back() == '/') {
        prefix.pop_back();
    }
    if ((scheme == "https" && host.ends_with(":443")) || (scheme == "http" && host.ends_with(":80"))) {
        host.erase(host.rfind(':'));
    }

    req.headers.emplace_back("host", host);
    req.headers.emplace_back("content-type", "application/json");
    req.headers.emplace_back("accept", std::string(accept));

    sigv4::Request sreq;
    sreq.method = req.method;
    sreq.host = host;
    sreq.path = prefix + req.path;
    sreq.headers = req.headers;
    sreq.payload = req.body;
    auto signed_req = sigv4::sign(sreq, target.aws, target.aws.region, k_service, sigv4::now());
    for (auto& h : signed_req.headers) {
        req.headers.push_back(std::move(h));
    }
    return req;
}

std::string model_path(const Target& target, std::string_view action)
{
    return "/model/" + sigv4::uri_encode(target.model, false) + "/" + std::string(action);
}

// ---- request mapping ---------------------------------------------------------------------

std::expected<json, wire::Failure> image_block(const json& part)
{
    const json& iu = part.contains("image_url") ? part["image_url"] : json();
    std::string url = iu.is_string() ? iu.get<std::string>() : string_at(iu, "url");
    auto d = parse_data_url(url);
    if (!d) {
        return std::unexpected(
            wire::bad_request("Bedrock takes images as bytes only: send the image as a base64 data URL "
                              "(data:image/png;base64,...), not as an http(s) URL.",
                              "messages"));
    }
    std::string format = d->media_type.starts_with("image/") ? d->media_type.substr(6) : std::string();
    if (format == "jpg") {
        format = "jpeg";
    }
    if (format != "png" && format != "jpeg" && format != "gif" && format != "webp") {
        return std::unexpected(wire::bad_request(
            "Bedrock takes png, jpeg, gif and webp images; this one is '" + d->media_type + "'.", "messages"));
    }
    return json{{"image", {{"format", format}, {"source", {{"bytes", d->data}}}}}};
}

/// An OpenAI file part with inline data -> a Bedrock document block.
std::expected<json, wire::Failure> document_block(const json& part, int& counter)
{
    const json& file = object_at(part, "file");
    auto d = parse_data_url(string_at(file, "file_data"));
    if (!d) {
        return std::unexpected(wire::bad_request(
            "Bedrock takes files inline only: send file.file_data as a base64 data URL.", "messages"));
    }
    static const std::map<std::string, std::string> k_formats = {
        {"application/pdf", "pdf"},
        {"text/csv", "csv"},
        {"application/msword", "doc"},
        {"application/vnd.openxmlformats-officedocument.wordprocessingml.document", "docx"},
        {"application/vnd.ms-excel", "xls"},
        {"application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", "xlsx"},
        {"text/html", "html"},
        {"text/plain", "txt"},
        {"text/markdown", "md"}};
    auto it = k_formats.find(d->media_type);
    if (it == k_formats.end()) {
        return std::unexpected(
            wire::bad_request("Bedrock does not take documents of type '" + d->media_type + "'.", "messages"));
    }
    // Bedrock's document names allow letters, digits, spaces, hyphens, parentheses, brackets.
    std::string name;
    for (char c : string_at(file, "filename")) {
        if (std::isalnum(static_cast<unsigned char>(c)) || c == ' ' || c == '-' || c == '(' || c == ')' || c == '[' ||
            c == ']') {
            name += c;
        }
    }
    if (name.empty()) {
        name = "document " + std::to_string(++counter);
    }
    return json{{"document", {{"format", it->second}, {"name", name}, {"source", {{"bytes", d->data}}}}}};
}

/// Canonical content (string, parts, null) -> Converse content blocks. A part with
/// cache_control is followed by a cachePoint block.
std::expected<json, wire::Failure> content_blocks(const json& content, int& doc_counter)
{
    json blocks = json::array();
    if (content.is_null()) {
        return blocks;
    }
    if (content.is_string()) {
        if (!content.get_ref<const std::string&>().empty()) {
            blocks.push_back({{"text", content}});
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
                continue;  // Bedrock rejects blank text blocks
            }
            block = json{{"text", text}};
        } else if (type == "image_url") {
            block = image_block(part);
        } else if (type == "file") {
            block = document_block(part, doc_counter);
        } else if (type == "input_audio") {
            return std::unexpected(wire::bad_request("Bedrock's Converse API does not take audio input.", "messages"));
        } else if (part.is_object() && type.empty() && !part.empty()) {
            block = part;  // already a Converse block ({text}, {image}, {cachePoint}, ...)
        } else {
            return std::unexpected(
                wire::bad_request("Content part type '" + type + "' is not supported on Bedrock.", "messages"));
        }
        if (!block) {
            return std::unexpected(block.error());
        }
        blocks.push_back(std::move(*block));
        if (part.is_object() && part.contains("cache_control")) {
            blocks.push_back({{"cachePoint", {{"type", "default"}}}});
        }
    }
    return blocks;
}

/// Appends to the last message when it has the same role (Converse wants turns to
/// alternate), else starts a new one. Tool results go before other content of the turn.
void append_turn(json& messages, const std::string& role, json blocks)
{
    if (blocks.empty()) {
        return;
    }
    if (!messages.empty() && messages.back()["role"] == role) {
        json& existing = messages.back()["content"];
        for (auto& b : blocks) {
            if (b.contains("toolResult")) {
                auto it = std::find_if(existing.begin(), existing.end(),
                                       [](const json& e) { return !e.contains("toolResult"); });
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
        const json& fn = object_at(tc, "function");
        std::string name = string_at(fn, "name");
        std::string args = string_at(fn, "arguments");
        json input = json::object();
        if (!args.empty()) {
            input = wire::parse_json_lenient(args);
            if (input.is_discarded() || !input.is_object()) {
                return std::unexpected(
                    wire::bad_request("The arguments of tool call '" + string_at(tc, "id") + "' (" + name +
                                          ") are not a JSON object; Bedrock needs tool input as an object.",
                                      "messages"));
            }
        }
        blocks.push_back({{"toolUse", {{"toolUseId", string_at(tc, "id")}, {"name", name}, {"input", input}}}});
    }
    return blocks;
}

/// A tool message -> a toolResult block. JSON-object content goes as {json}, else {text}.
std::expected<json, wire::Failure> tool_result_block(const json& m, int& doc_counter)
{
    const json content = m.contains("content") ? m["content"] : json();
    json parts = json::array();
    auto add_text = [&](const std::string& text) {
        json parsed = wire::parse_json_lenient(text);
        if (!parsed.is_discarded() && parsed.is_object()) {
            parts.push_back({{"json", parsed}});
        } else {
            parts.push_back({{"text", text}});
        }
    };
    if (content.is_string()) {
        add_text(content.get<std::string>());
    } else {
        auto blocks = content_blocks(content, doc_counter);
        if (!blocks) {
            return std::unexpected(blocks.error());
        }
        for (auto& b : *blocks) {
            if (b.contains("text")) {
                add_text(b["text"].get<std::string>());
            } else if (!b.contains("cachePoint")) {
                parts.push_back(std::move(b));
            }
        }
    }
    if (parts.empty()) {
        parts.push_back({{"text", " "}});  // Bedrock wants at least one content block
    }
    return json{{"toolResult", {{"toolUseId", string_at(m, "tool_call_id")}, {"content", std::move(parts)}}}};
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
    return 32768;
}

bool is_anthropic_model(std::string_view model)
{
    return model.find("anthropic.") != std::string_view::npos;
}

// ---- response mapping --------------------------------------------------------------------

std::string finish_reason_for(std::string_view stop_reason)
{
    if (stop_reason == "max_tokens" || stop_reason == "model_context_window_exceeded") {
        return "length";
    }
    if (stop_reason == "tool_use") {
        return "tool_calls";
    }
    if (stop_reason == "guardrail_intervened" || stop_reason == "content_filtered") {
        return "content_filter";
    }
    return "stop";  // end_turn, stop_sequence, and anything added later
}

/// Bedrock's usage -> canonical. inputTokens excludes cache reads and writes.
void read_usage(const json& usage, wire::Usage& u)
{
    if (!usage.is_object()) {
        return;
    }
    u.reported = true;
    std::int64_t read = wire::token_count_at(usage, "cacheReadInputTokens", u);
    std::int64_t written = wire::token_count_at(usage, "cacheWriteInputTokens", u);
    u.input_tokens = wire::token_count_at(usage, "inputTokens", u) + read + written;
    u.cached_tokens = read;
    u.cache_write_tokens = written;
    u.output_tokens = wire::token_count_at(usage, "outputTokens", u);
}

/// A Bedrock exception name ("ThrottlingException", "throttlingException",
/// "ThrottlingException:http://internal...") and message -> Failure.
wire::Failure failure_for(std::string type, int status, const std::string& message)
{
    if (auto colon = type.find(':'); colon != std::string::npos) {
        type.erase(colon);
    }
    std::string key = type;
    if (!key.empty()) {
        key[0] = static_cast<char>(std::tolower(static_cast<unsigned char>(key[0])));
    }
    wire::Failure f;
    if (key == "throttlingException" || key == "serviceQuotaExceededException" || status == 429) {
        f.kind = wire::FailureKind::rate_limited;
        f.status = 429;
    } else if (key == "unrecognizedClientException" || key == "invalidSignatureException" ||
               key == "expiredTokenException" || key == "incompleteSignatureException" ||
               key == "missingAuthenticationTokenException" || status == 401) {
        f.kind = wire::FailureKind::auth;
        f.status = status == 403 || status == 400 || status == 0 ? 403 : status;
    } else if (key == "accessDeniedException" || status == 403) {
        f.kind = wire::FailureKind::auth;
        f.status = 403;
    } else if (key == "resourceNotFoundException" || status == 404) {
        f.kind = wire::FailureKind::not_found;
        f.status = 404;
    } else if (key == "modelTimeoutException" || status == 408 || status == 504) {
        f.kind = wire::FailureKind::timeout;
        f.status = 504;
    } else if (key == "validationException" || (status >= 400 && status < 500 && status != 424)) {
        f.kind = wire::FailureKind::bad_request;
        f.status = status >= 400 && status < 500 ? status : 400;
    } else {
        // internalServerException, serviceUnavailableException, modelStreamErrorException,
        // modelErrorException (424), modelNotReadyException, 5xx.
        f.kind = wire::FailureKind::upstream;
        f.status = status >= 500 ? status : (key == "serviceUnavailableException" ? 503 : 502);
        if (key == "internalServerException" && status < 500) {
            f.status = 500;
        }
    }
    std::string what = "Bedrock returned ";
    what += status > 0 ? std::to_string(status) : std::string("an error in the stream");
    if (!type.empty()) {
        what += " (" + type + ")";
    }
    f.message = what + ": " + (message.empty() ? std::string("no error message") : message);
    if (f.kind == wire::FailureKind::auth) {
        f.message +=
            " Check AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY / AWS_SESSION_TOKEN and that this "
            "model is enabled for the account in the Bedrock console for this region.";
    }
    f.type = type;
    return f;
}

std::string message_of(const json& doc)
{
    std::string m = string_at(doc, "message");
    return m.empty() ? string_at(doc, "Message") : m;
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

class BedrockStream final : public StreamTranslator {
public:
    explicit BedrockStream(std::string model) : m_id(new_id()), m_model(std::move(model)), m_created(std::time(nullptr))
    {}

    std::expected<void, wire::Failure> on_event(const wire::SseEvent& ev, std::vector<json>& out) override
    {
        json data = ev.data.empty() ? json::object() : wire::parse_json_lenient(ev.data);
        if (data.is_discarded() || !data.is_object()) {
            return std::unexpected(
                upstream_failure("Bedrock sent a stream event that is not JSON: " + wire::utf8_prefix(ev.data, 200)));
        }
        const json base = {
            {"id", m_id}, {"object", "chat.completion.chunk"}, {"created", m_created}, {"model", m_model}};
        const std::string& type = ev.event;
        if (type == "messageStart") {
            out.push_back(delta_chunk(base, {{"role", "assistant"}, {"content", ""}}));
        } else if (type == "contentBlockStart") {
            const json& tool = object_at(object_at(data, "start"), "toolUse");
            if (!tool.empty()) {
                int block = static_cast<int>(int_at(data, "contentBlockIndex"));
                std::string name = string_at(tool, "name");
                if (name == k_json_tool) {
                    m_json_blocks.push_back(block);
                } else {
                    int index = m_next_tool++;
                    m_tool_index[block] = index;
                    json call = {{"index", index},
                                 {"id", string_at(tool, "toolUseId")},
                                 {"type", "function"},
                                 {"function", {{"name", name}, {"arguments", ""}}}};
                    out.push_back(delta_chunk(base, {{"tool_calls", json::array({call})}}));
                }
            }
        } else if (type == "contentBlockDelta") {
            on_delta(data, base, out);
        } else if (type == "messageStop") {
            std::string reason = finish_reason_for(string_at(data, "stopReason"));
            if (reason == "tool_calls" && m_next_tool == 0 && !m_json_blocks.empty()) {
                reason = "stop";  // only our JSON-mode tool was called
            }
            out.push_back(delta_chunk(base, json::object(), reason));
            m_stopped = true;
            emit_usage_if_done(base, out);
        } else if (type == "metadata") {
            read_usage(data.contains("usage") ? data["usage"] : json(), m_usage);
            if (auto bad = wire::check_usage(m_usage)) {
                return std::unexpected(std::move(*bad));
            }
            m_metadata = true;
            emit_usage_if_done(base, out);
        } else if (type == "error") {
            return std::unexpected(failure_for(string_at(data, "__type"), 0, message_of(data)));
        }
        // contentBlockStop and event types added later need no chunk.
        return {};
    }

    /// Done only when both messageStop and metadata (the usage) arrived.
    bool finished() const override { return m_stopped && m_metadata; }
    wire::Usage usage() const override { return m_usage; }

private:
    void on_delta(const json& data, const json& base, std::vector<json>& out)
    {
        int block = static_cast<int>(int_at(data, "contentBlockIndex"));
        const json& delta = object_at(data, "delta");
        if (auto it = delta.find("text"); it != delta.end() && it->is_string()) {
            out.push_back(delta_chunk(base, {{"content", *it}}));
        } else if (delta.contains("toolUse")) {
            std::string fragment = string_at(delta["toolUse"], "input");
            if (fragment.empty()) {
                return;
            }
            if (std::find(m_json_blocks.begin(), m_json_blocks.end(), block) != m_json_blocks.end()) {
                out.push_back(delta_chunk(base, {{"content", fragment}}));
                return;
            }
            auto it2 = m_tool_index.find(block);
            if (it2 == m_tool_index.end()) {
                return;
            }
            json call = {{"index", it2->second}, {"function", {{"arguments", fragment}}}};
            out.push_back(delta_chunk(base, {{"tool_calls", json::array({call})}}));
        } else if (delta.contains("reasoningContent")) {
            std::string text = string_at(delta["reasoningContent"], "text");
            if (!text.empty()) {
                out.push_back(delta_chunk(base, {{"reasoning_content", text}}));
            }
        }
    }

    void emit_usage_if_done(const json& base, std::vector<json>& out)
    {
        if (!finished() || m_usage_sent) {
            return;
        }
        m_usage_sent = true;
        json c = base;
        c["choices"] = json::array();
        c["usage"] = wire::usage_to_openai(m_usage);
        out.push_back(std::move(c));
    }

    std::string m_id;
    std::string m_model;
    std::int64_t m_created;
    wire::Usage m_usage;
    bool m_stopped = false;
    bool m_metadata = false;
    bool m_usage_sent = false;
    int m_next_tool = 0;
    std::map<int, int> m_tool_index;  ///< contentBlockIndex -> tool_calls index
    std::vector<int> m_json_blocks;   ///< content blocks of the JSON-mode tool
};

// ---- embeddings helpers ------------------------------------------------------------------

bool is_cohere_embed(std::string_view model)
{
    return model.find("cohere.embed") != std::string_view::npos;
}

// ---- the adapter -------------------------------------------------------------------------

class BedrockAdapter final : public Adapter {
public:
    std::expected<UpstreamRequest, wire::Failure> chat_request(const json& canonical, const Target& target,
                                                               bool stream) const override;
    std::expected<ChatResult, wire::Failure> chat_response(std::string_view body, const Target& target) const override;
    std::unique_ptr<StreamTranslator> chat_stream(const Target& target) const override
    {
        return std::make_unique<BedrockStream>(target.model);
    }
    std::unique_ptr<StreamDecoder> stream_decoder() const override { return aws_eventstream::make_decoder(); }
    wire::Failure classify_error(int status, std::string_view body, const HeaderList& headers) const override;
    std::expected<UpstreamRequest, wire::Failure> embeddings_request(const json& canonical,
                                                                     const Target& target) const override;
    std::expected<ChatResult, wire::Failure> embeddings_response(std::string_view body,
                                                                 const Target& target) const override;
};

std::expected<UpstreamRequest, wire::Failure> BedrockAdapter::chat_request(const json& canonical, const Target& target,
                                                                           bool stream) const
{
    if (!canonical.is_object() || !canonical.contains("messages") || !canonical["messages"].is_array()) {
        return std::unexpected(wire::bad_request("The request needs a 'messages' array.", "messages"));
    }
    if (auto bad = validate_chat_fields(canonical)) {
        return std::unexpected(std::move(*bad));
    }
    if (canonical.contains("n") && canonical["n"].is_number() && json_to_int64(canonical["n"]) > 1) {
        return std::unexpected(wire::bad_request("Bedrock returns one choice per request; set n to 1.", "n"));
    }
    if (auto ok = check_credentials(target); !ok) {
        return std::unexpected(ok.error());
    }

    json out = json::object();
    json system = json::array();
    json messages = json::array();
    bool tool_history = false;
    int doc_counter = 0;
    for (const auto& m : canonical["messages"]) {
        std::string role = string_at(m, "role");
        const json content = m.contains("content") ? m["content"] : json();
        if (role == "system" || role == "developer") {
            auto blocks = content_blocks(content, doc_counter);
            if (!blocks) {
                return std::unexpected(blocks.error());
            }
            for (auto& b : *blocks) {
                if (b.contains("text") || b.contains("cachePoint")) {
                    system.push_back(std::move(b));
                }
            }
        } else if (role == "user") {
            auto blocks = content_blocks(content, doc_counter);
            if (!blocks) {
                return std::unexpected(blocks.error());
            }
            append_turn(messages, "user", std::move(*blocks));
        } else if (role == "assistant") {
            auto blocks = content_blocks(content, doc_counter);
            if (!blocks) {
                return std::unexpected(blocks.error());
            }
            if (m.contains("tool_calls") && m["tool_calls"].is_array() && !m["tool_calls"].empty()) {
                auto calls = tool_use_blocks(m["tool_calls"]);
                if (!calls) {
                    return std::unexpected(calls.error());
                }
                for (auto& b : *calls) {
                    blocks->push_back(std::move(b));
                }
                tool_history = true;
            }
            append_turn(messages, "assistant", std::move(*blocks));
        } else if (role == "tool") {
            auto block = tool_result_block(m, doc_counter);
            if (!block) {
                return std::unexpected(block.error());
            }
            append_turn(messages, "user", json::array({std::move(*block)}));
            tool_history = true;
        } else {
            return std::unexpected(wire::bad_request(
                "Message role '" + role + "' is not supported; use system, developer, user, assistant or tool.",
                "messages"));
        }
    }
    if (messages.empty()) {
        return std::unexpected(wire::bad_request("Bedrock needs at least one user message.", "messages"));
    }
    out["messages"] = std::move(messages);

    // inferenceConfig.
    json inference = json::object();
    std::int64_t max_tokens = 0;
    if (canonical.contains("max_completion_tokens") && canonical["max_completion_tokens"].is_number()) {
        max_tokens = json_to_int64(canonical["max_completion_tokens"]);
    } else if (canonical.contains("max_tokens") && canonical["max_tokens"].is_number()) {
        max_tokens = json_to_int64(canonical["max_tokens"]);
    }
    if (max_tokens <= 0 && target.default_max_tokens > 0) {
        max_tokens = target.default_max_tokens;
    }

    // Reasoning: Claude models on Bedrock take Anthropic's thinking object through
    // additionalModelRequestFields; other families get nothing (they reason or not by model).
    bool thinking = false;
    if (auto effort = string_at(canonical, "reasoning_effort");
        !effort.empty() && effort != "none" && is_anthropic_model(target.model)) {
        std::int64_t budget = thinking_budget(effort);
        out["additionalModelRequestFields"] = {{"thinking", {{"type", "enabled"}, {"budget_tokens", budget}}}};
        if (max_tokens <= budget) {
            max_tokens = budget + (max_tokens > 0 ? max_tokens : 4096);  // room for the answer
        }
        thinking = true;
    }
    if (max_tokens > 0) {
        inference["maxTokens"] = max_tokens;
    }
    if (!thinking) {  // thinking takes no temperature / top_p changes
        if (canonical.contains("temperature") && canonical["temperature"].is_number()) {
            double t = canonical["temperature"].get<double>();
            // OpenAI's range is 0..2; most Bedrock families take 0..1.
            inference["temperature"] = std::clamp(t, 0.0, 1.0);
        }
        if (canonical.contains("top_p") && canonical["top_p"].is_number()) {
            inference["topP"] = canonical["top_p"];
        }
    }
    if (canonical.contains("stop")) {
        const json& stop = canonical["stop"];
        json seqs = json::array();
        if (stop.is_string() && !stop.get_ref<const std::string&>().empty()) {
            seqs.push_back(stop);
        } else if (stop.is_array()) {
            for (const auto& s : stop) {
                if (s.is_string() && !s.get_ref<const std::string&>().empty()) {
                    seqs.push_back(s);
                }
            }
        }
        if (!seqs.empty()) {
            inference["stopSequences"] = std::move(seqs);
        }
    }
    if (!inference.empty()) {
        out["inferenceConfig"] = std::move(inference);
    }
    if (!system.empty()) {
        out["system"] = std::move(system);
    }

    // toolConfig.
    json tools = json::array();
    if (canonical.contains("tools") && canonical["tools"].is_array()) {
        for (const auto& t : canonical["tools"]) {
            if (string_at(t, "type") != "function") {
                if (t.is_object() && t.contains("toolSpec")) {
                    tools.push_back(t);  // already Converse-shaped
                    continue;
                }
                return std::unexpected(wire::bad_request(
                    "Bedrock takes function tools only; tool type '" + string_at(t, "type") + "' is not supported.",
                    "tools"));
            }
            const json& fn = object_at(t, "function");
            json spec = {{"name", string_at(fn, "name")}};
            if (auto d = string_at(fn, "description"); !d.empty()) {
                spec["description"] = d;
            }
            json schema = fn.contains("parameters") && fn["parameters"].is_object()
                              ? fn["parameters"]
                              : json{{"type", "object"}, {"properties", json::object()}};
            spec["inputSchema"] = {{"json", std::move(schema)}};
            tools.push_back({{"toolSpec", std::move(spec)}});
        }
    }
    bool user_tools = !tools.empty();
    json tool_choice;
    bool choice_none = false;
    if (user_tools && canonical.contains("tool_choice")) {
        const json& tc = canonical["tool_choice"];
        if (tc.is_string()) {
            std::string s = tc.get<std::string>();
            if (s == "required") {
                tool_choice = {{"any", json::object()}};
            } else if (s == "none") {
                choice_none = true;
            } else {
                tool_choice = {{"auto", json::object()}};
            }
        } else if (tc.is_object() && tc.contains("function")) {
            tool_choice = {{"tool", {{"name", string_at(tc["function"], "name")}}}};
        }
    }
    if (choice_none) {
        // Converse has no "none": drop the tools, unless the history uses them (then Bedrock
        // requires toolConfig), in which case the model is left to choose.
        if (!tool_history) {
            tools = json::array();
        }
        tool_choice = nullptr;
    }
    if (canonical.contains("response_format") && canonical["response_format"].is_object()) {
        const json& rf = canonical["response_format"];
        std::string type = string_at(rf, "type");
        if (type == "json_object" || type == "json_schema") {
            json schema = {{"type", "object"}};
            std::string description = "Give your final answer by calling this tool with a JSON object.";
            if (type == "json_schema") {
                const json& js = object_at(rf, "json_schema");
                if (js.contains("schema") && js["schema"].is_object()) {
                    schema = js["schema"];
                }
                if (auto d = string_at(js, "description"); !d.empty()) {
                    description += " " + d;
                }
            }
            tools.push_back(
                {{"toolSpec",
                  {{"name", k_json_tool}, {"description", description}, {"inputSchema", {{"json", schema}}}}}});
            if (thinking) {
                // Forcing a tool is not allowed with thinking; ask for it instead.
                tool_choice = {{"auto", json::object()}};
                out["system"].push_back({{"text", "Always give your final answer by calling the json_response tool."}});
            } else if (user_tools) {
                tool_choice = {{"any", json::object()}};  // a user tool or the JSON answer
            } else {
                tool_choice = {{"tool", {{"name", k_json_tool}}}};
            }
        }
    }
    if (!tools.empty()) {
        json config = {{"tools", std::move(tools)}};
        if (!tool_choice.is_null()) {
            config["toolChoice"] = std::move(tool_choice);
        }
        out["toolConfig"] = std::move(config);
    }

    // Pass-through of Converse-native fields a client may send.
    for (const char* key : {"guardrailConfig", "additionalModelResponseFieldPaths", "performanceConfig",
                            "promptVariables", "requestMetadata"}) {
        if (canonical.contains(key)) {
            out[key] = canonical[key];
        }
    }
    if (canonical.contains("additionalModelRequestFields") && canonical["additionalModelRequestFields"].is_object()) {
        if (!out.contains("additionalModelRequestFields")) {
            out["additionalModelRequestFields"] = json::object();
        }
        out["additionalModelRequestFields"].update(canonical["additionalModelRequestFields"]);
    }

    return signed_post(target, model_path(target, stream ? "converse-stream" : "converse"), wire::dump_json(out),
                       stream ? "application/vnd.amazon.eventstream" : "application/json");
}

std::expected<ChatResult, wire::Failure> BedrockAdapter::chat_response(std::string_view body,
                                                                       const Target& target) const
{
    json doc = wire::parse_json_lenient(body);
    if (doc.is_discarded() || !doc.is_object()) {
        return std::unexpected(upstream_failure("Bedrock sent a response that is not JSON."));
    }
    const json& msg = object_at(object_at(doc, "output"), "message");
    if (!msg.contains("content") || !msg["content"].is_array()) {
        if (auto m = message_of(doc); !m.empty()) {
            return std::unexpected(failure_for(string_at(doc, "__type"), 502, m));
        }
        return std::unexpected(upstream_failure("Bedrock sent a response without output.message.content."));
    }
    std::string text;
    std::string reasoning;
    json tool_calls = json::array();
    bool json_answer = false;
    for (const auto& block : msg["content"]) {
        if (auto it = block.find("text"); it != block.end() && it->is_string()) {
            text += it->get<std::string>();
        } else if (block.contains("toolUse")) {
            const json& tu = block["toolUse"];
            json input = tu.contains("input") ? tu["input"] : json::object();
            if (string_at(tu, "name") == k_json_tool) {
                text = wire::dump_json(input);  // the JSON answer replaces any preamble
                json_answer = true;
                continue;
            }
            tool_calls.push_back(
                {{"id", string_at(tu, "toolUseId")},
                 {"type", "function"},
                 {"function", {{"name", string_at(tu, "name")}, {"arguments", wire::dump_json(input)}}}});
        } else if (block.contains("reasoningContent")) {
            reasoning += string_at(object_at(block["reasoningContent"], "reasoningText"), "text");
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
    std::string finish = finish_reason_for(string_at(doc, "stopReason"));
    if (finish == "tool_calls" && json_answer && !message.contains("tool_calls")) {
        finish = "stop";
    }

    ChatResult result;
    read_usage(doc.contains("usage") ? doc["usage"] : json(), result.usage);
    if (auto bad = wire::check_usage(result.usage)) {
        return std::unexpected(std::move(*bad));
    }
    result.body = {
        {"id", new_id()},
        {"object", "chat.completion"},
        {"created", static_cast<std::int64_t>(std::time(nullptr))},
        {"model", target.model},
        {"choices",
         json::array(
             {{{"index", 0}, {"message", std::move(message)}, {"logprobs", nullptr}, {"finish_reason", finish}}})},
        {"usage", wire::usage_to_openai(result.usage)},
    };
    return result;
}

wire::Failure BedrockAdapter::classify_error(int status, std::string_view body, const HeaderList& headers) const
{
    json doc = wire::parse_json_lenient(body);
    std::string message;
    std::string type = header_value(headers, "x-amzn-ErrorType");
    if (!doc.is_discarded() && doc.is_object()) {
        message = message_of(doc);
        if (type.empty()) {
            type = string_at(doc, "__type");
            if (auto hash = type.rfind('#'); hash != std::string::npos) {
                type.erase(0, hash + 1);  // "com.amazon.coral.service#ThrottlingException"
            }
        }
    } else {
        message = wire::utf8_prefix(body, 300);
    }
    wire::Failure f = failure_for(type, status, message);
    if (status >= 400 && f.kind != wire::FailureKind::timeout) {
        f.status = status;
    }
    if (f.kind == wire::FailureKind::rate_limited || f.kind == wire::FailureKind::upstream) {
        f.retry_after_s = retry_after_seconds(headers);
    }
    return f;
}

std::expected<UpstreamRequest, wire::Failure> BedrockAdapter::embeddings_request(const json& canonical,
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
                    wire::bad_request("Bedrock embeddings take text input only (strings, not token arrays).", "input"));
            }
            texts.push_back(item);
        }
    }
    if (texts.empty()) {
        return std::unexpected(wire::bad_request("The embeddings request needs a non-empty 'input'.", "input"));
    }
    if (auto ok = check_credentials(target); !ok) {
        return std::unexpected(ok.error());
    }
    json body;
    if (is_cohere_embed(target.model)) {
        std::string input_type = string_at(canonical, "input_type");
        body = {{"texts", texts}, {"input_type", input_type.empty() ? "search_document" : input_type}};
    } else {
        if (texts.size() > 1) {
            return std::unexpected(wire::bad_request(
                "Bedrock's Titan embedding models take one input per request; send " + std::to_string(texts.size()) +
                    " requests with one string each (or use a cohere.embed-* model, which takes a batch).",
                "input"));
        }
        body = {{"inputText", texts[0]}};
        if (canonical.contains("dimensions") && canonical["dimensions"].is_number()) {
            body["dimensions"] = canonical["dimensions"];  // Titan Text Embeddings V2: 256, 512 or 1024
        }
    }
    return signed_post(target, model_path(target, "invoke"), wire::dump_json(body), "application/json");
}

std::expected<ChatResult, wire::Failure> BedrockAdapter::embeddings_response(std::string_view body,
                                                                             const Target& target) const
{
    json doc = wire::parse_json_lenient(body);
    if (doc.is_discarded() || !doc.is_object()) {
        return std::unexpected(upstream_failure("Bedrock sent an embeddings response that is not JSON."));
    }
    json vectors = json::array();
    if (doc.contains("embedding") && doc["embedding"].is_array()) {
        vectors.push_back(doc["embedding"]);  // Titan
    } else if (doc.contains("embeddings")) {
        const json& e = doc["embeddings"];  // Cohere: [[...]] or {"float": [[...]]}
        const json& list = e.is_object() && e.contains("float") ? e["float"] : e;
        if (list.is_array()) {
            vectors = list;
        }
    }
    if (vectors.empty()) {
        return std::unexpected(upstream_failure("Bedrock sent an embeddings response without embeddings."));
    }
    json data = json::array();
    for (std::size_t i = 0; i < vectors.size(); ++i) {
        json item = {{"object", "embedding"}, {"index", i}};
        item["embedding"] = vectors[i];
        data.push_back(std::move(item));
    }
    ChatResult result;
    if (doc.contains("inputTextTokenCount")) {
        result.usage.reported = true;
        result.usage.input_tokens = int_at(doc, "inputTextTokenCount");
    }
    result.body = embeddings_list(std::move(data), target.model, result.usage.input_tokens);
    return result;
}

}  // namespace

const Adapter& bedrock_adapter()
{
    static const BedrockAdapter adapter;
    return adapter;
}

}  // namespace aigw::daemon::providers

// Amazon Bedrock Runtime's wire format: the Converse API.
//   POST /model/{modelId}/converse         JSON answer
//   POST /model/{modelId}/converse-stream  application/vnd.amazon.eventstream (binary frames)
//   POST /model/{modelId}/invoke           embeddings only: Titan ({inputText}) and Cohere
//                                          Embed ({texts, input_type}) bodies
// Base URL http://127.0.0.1:PORT (AIGW_BEDROCK_BASE_URL). The model id comes percent-encoded in
// the path (":" as %3A); httplib decodes it. Auth: an `Authorization: AWS4-HMAC-SHA256
// Credential=.../bedrock/aws4_request, SignedHeaders=..., Signature=...` header and
// `x-amz-date` are required; the signature itself is not verified.

#include <array>
#include <cstdint>

#include "tests/fake_upstream/faults.hpp"

namespace aigw::fake {

namespace {

std::uint32_t crc32(std::string_view data, std::uint32_t crc = 0)
{
    static const std::array<std::uint32_t, 256> table = [] {
        std::array<std::uint32_t, 256> t{};
        for (std::uint32_t i = 0; i < 256; ++i) {
            std::uint32_t c = i;
            for (int k = 0; k < 8; ++k) {
                c = (c & 1U) != 0 ? 0xEDB88320U ^ (c >> 1) : c >> 1;
            }
            t[i] = c;
        }
        return t;
    }();
    crc = ~crc;
    for (char ch : data) {
        crc = table[(crc ^ static_cast<unsigned char>(ch)) & 0xFFU] ^ (crc >> 8);
    }
    return ~crc;
}

void put_u32(std::string& out, std::uint32_t v)
{
    for (int shift = 24; shift >= 0; shift -= 8) {
        out += static_cast<char>((v >> shift) & 0xFFU);
    }
}

/// One AWS event-stream message: prelude (total length, headers length, prelude CRC),
/// string headers (name-len u8, name, type 7, value-len u16, value), payload, message CRC.
std::string eventstream_frame(const std::vector<std::pair<std::string, std::string>>& headers, std::string_view payload)
{
    std::string hdrs;
    for (const auto& [name, value] : headers) {
        hdrs += static_cast<char>(name.size());
        hdrs += name;
        hdrs += static_cast<char>(7);
        hdrs += static_cast<char>((value.size() >> 8) & 0xFFU);
        hdrs += static_cast<char>(value.size() & 0xFFU);
        hdrs += value;
    }
    std::string out;
    auto total = static_cast<std::uint32_t>(12 + hdrs.size() + payload.size() + 4);
    put_u32(out, total);
    put_u32(out, static_cast<std::uint32_t>(hdrs.size()));
    put_u32(out, crc32(out));
    out += hdrs;
    out += payload;
    put_u32(out, crc32(out));
    return out;
}

std::string event_frame(const std::string& type, const json& payload)
{
    return eventstream_frame({{":event-type", type}, {":content-type", "application/json"}, {":message-type", "event"}},
                             payload.dump());
}

/// Bedrock pads stream events with a "p" field of varying length (against traffic analysis).
json padded(json payload)
{
    static const std::string k_pad = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0";
    payload["p"] = k_pad.substr(0, 1 + next_id() % k_pad.size());
    return payload;
}

const char* exception_for(int status)
{
    switch (status) {
        case 400:
            return "ValidationException";
        case 401:
            return "UnrecognizedClientException";
        case 403:
            return "AccessDeniedException";
        case 404:
            return "ResourceNotFoundException";
        case 408:
            return "ModelTimeoutException";
        case 424:
            return "ModelErrorException";
        case 429:
            return "ThrottlingException";
        case 503:
        case 529:
            return "ServiceUnavailableException";
        default:
            return status >= 500 ? "InternalServerException" : "ValidationException";
    }
}

/// Bedrock's errors: body {"message": "..."}, the exception's name in `x-amzn-ErrorType`.
class BedrockDialect final : public Dialect {
public:
    std::string error_body(int status, std::string_view message) const override
    {
        std::string text(message);
        if (text.empty()) {
            switch (status) {
                case 401:
                    text = "The security token included in the request is invalid.";
                    break;
                case 403:
                    text = "You don't have access to the model with the specified model ID.";
                    break;
                case 404:
                    text = "The provided model identifier is invalid or not found. (fake-upstream)";
                    break;
                case 429:
                    text = "Too many requests, please wait before trying again.";
                    break;
                case 503:
                case 529:
                    text = "Bedrock is unable to process your request.";
                    break;
                default:
                    text = status >= 500 ? "The system encountered an unexpected error during processing. Try your "
                                           "request again."
                                         : "Invalid request (fake-upstream fault " + std::to_string(status) + ").";
                    break;
            }
        }
        return json{{"message", text}}.dump();
    }
    void error_headers(httplib::Response& res, int status) const override
    {
        res.set_header("x-amzn-ErrorType",
                       std::string(exception_for(status)) + ":http://internal.amazon.com/coral/com.amazon.bedrock/");
        res.set_header("x-amzn-RequestId", "fake-" + std::to_string(next_id()));
    }
    /// An exception message in the stream (:message-type exception).
    std::string stream_error_frame() const override
    {
        return eventstream_frame({{":exception-type", "internalServerException"},
                                  {":content-type", "application/json"},
                                  {":message-type", "exception"}},
                                 error_body(500, {}));
    }
    std::string malformed_body() const override { return R"({"output": {)"; }
    /// A well-framed event whose JSON payload is cut short.
    std::string malformed_frame() const override
    {
        return eventstream_frame(
            {{":event-type", "contentBlockDelta"}, {":content-type", "application/json"}, {":message-type", "event"}},
            R"({"contentBlockIndex":0,"delta":{)");
    }
    std::size_t frames_before_cut() const override { return 4; }  // messageStart + 3 deltas
};

const BedrockDialect k_dialect;

void validation_error(httplib::Response& res, const std::string& message)
{
    send_error(res, k_dialect, 400, message);
}

/// Checks the SigV4 Authorization header's shape (not the signature); answers when it fails.
bool authorized(const httplib::Request& req, httplib::Response& res)
{
    std::string auth = req.get_header_value("Authorization");
    auto fail = [&](const char* type, const std::string& message) {
        res.set_header("x-amzn-ErrorType", type);
        send_json(res, 403, json{{"message", message}}.dump());
        return false;
    };
    if (auth.empty()) {
        return fail("MissingAuthenticationTokenException", "Missing Authentication Token");
    }
    static constexpr std::string_view k_prefix = "AWS4-HMAC-SHA256 Credential=";
    if (auth.rfind(k_prefix, 0) != 0) {
        return fail("IncompleteSignatureException",
                    "Authorization header requires 'Credential' parameter. Authorization header requires "
                    "'Signature' parameter. Authorization header requires 'SignedHeaders' parameter. (Hashed "
                    "with SHA-256 and encoded with Base64) Authorization=" +
                        auth.substr(0, 20));
    }
    if (!req.has_header("x-amz-date") && !req.has_header("date")) {
        return fail("IncompleteSignatureException",
                    "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.");
    }
    std::string credential = auth.substr(k_prefix.size(), auth.find(',') - k_prefix.size());
    if (credential.find("/bedrock/aws4_request") == std::string::npos) {
        return fail("InvalidSignatureException", "Credential should be scoped to correct service: 'bedrock'.");
    }
    if (auth.find("SignedHeaders=") == std::string::npos || auth.find("Signature=") == std::string::npos) {
        return fail("IncompleteSignatureException",
                    "Authorization header requires 'Signature' and 'SignedHeaders' parameters.");
    }
    return true;
}

std::string block_text(const json& block)
{
    if (!block.is_object()) {
        return {};
    }
    if (auto t = block.find("text"); t != block.end() && t->is_string()) {
        return t->get<std::string>();
    }
    if (auto j = block.find("json"); j != block.end()) {
        return j->dump();
    }
    return {};
}

std::string blocks_text(const json& blocks)
{
    std::string out;
    if (!blocks.is_array()) {
        return out;
    }
    for (const auto& b : blocks) {
        std::string t = block_text(b);
        if (!t.empty()) {
            if (!out.empty()) {
                out += ' ';
            }
            out += t;
        }
    }
    return out;
}

/// Parses and validates a Converse request as Bedrock does; returns an error message or "".
std::string parse_converse(const json& body, const std::string& model, Exchange& ex)
{
    ex.model = model;
    auto msgs = body.find("messages");
    if (msgs == body.end() || !msgs->is_array() || msgs->empty()) {
        return "The messages field is required and must contain at least one message.";
    }
    bool uses_tools = false;
    std::string previous_role;
    for (std::size_t i = 0; i < msgs->size(); ++i) {
        const json& m = (*msgs)[i];
        std::string where = "messages." + std::to_string(i);
        if (!m.is_object()) {
            return "Malformed input request: " + where +
                   " must be an object, please reformat your input and try again.";
        }
        std::string role = m.value("role", "");
        if (role != "user" && role != "assistant") {
            return "Malformed input request: " + where + ".role: " + role +
                   " is not a valid enum value, please reformat your input and try again.";
        }
        if (i == 0 && role != "user") {
            return "A conversation must start with a user message. Try again with a conversation that starts "
                   "with a user message.";
        }
        if (role == previous_role) {
            return "A conversation must alternate between user and assistant roles. Make sure the conversation "
                   "alternates between user and assistant roles and try again.";
        }
        previous_role = role;
        const json& content = m.contains("content") ? m["content"] : json();
        if (!content.is_array() || content.empty()) {
            return "Malformed input request: " + where + ".content must be a non-empty array.";
        }
        std::string text;
        bool tool_result = false;
        for (std::size_t k = 0; k < content.size(); ++k) {
            const json& b = content[k];
            std::string at = where + ".content." + std::to_string(k);
            if (!b.is_object() || b.size() != 1) {
                return "Malformed input request: " + at +
                       " must have exactly one member (text, image, "
                       "document, toolUse, toolResult, reasoningContent, ...).";
            }
            if (b.contains("text")) {
                if (!b["text"].is_string() ||
                    b["text"].get<std::string>().find_first_not_of(" \t\n\r") == std::string::npos) {
                    return "The text field in the ContentBlock object at " + at +
                           " is blank. Add text to the text field, and try again.";
                }
                text += (text.empty() ? "" : " ") + b["text"].get<std::string>();
            } else if (b.contains("image")) {
                const json& img = b["image"];
                if (!img.is_object() || !img.contains("format") || !img.contains("source") ||
                    !img["source"].is_object() || !img["source"].contains("bytes")) {
                    return "Malformed input request: " + at + ".image needs format and source.bytes.";
                }
            } else if (b.contains("toolUse")) {
                uses_tools = true;
            } else if (b.contains("toolResult")) {
                uses_tools = true;
                tool_result = true;
                const json& tr = b["toolResult"];
                std::string t = tr.is_object() ? blocks_text(tr.value("content", json())) : std::string();
                text += (text.empty() ? "" : " ") + t;
            }
        }
        ex.prompt_words += count_words(text);
        if (role == "user") {
            ex.last_user_text = text;
            ex.last_is_tool_result = tool_result;
        }
    }
    if (auto sys = body.find("system"); sys != body.end()) {
        if (!sys->is_array()) {
            return "Malformed input request: system must be an array of content blocks.";
        }
        ex.prompt_words += count_words(blocks_text(*sys));
    }
    const json& tc = body.contains("toolConfig") ? body["toolConfig"] : json();
    if (uses_tools && !tc.is_object()) {
        return "The toolConfig field must be defined when using toolUse and toolResult content blocks.";
    }
    if (tc.is_object()) {
        if (auto tools = tc.find("tools"); tools != tc.end() && tools->is_array()) {
            for (const auto& t : *tools) {
                const json& spec = t.is_object() && t.contains("toolSpec") ? t["toolSpec"] : json();
                if (!spec.is_object() || !spec.contains("name") || !spec.contains("inputSchema")) {
                    return "Malformed input request: toolConfig.tools entries need toolSpec.name and "
                           "toolSpec.inputSchema.";
                }
                ex.tools.push_back({spec.value("name", ""), spec["inputSchema"].value("json", json())});
            }
        }
        if (auto choice = tc.find("toolChoice"); choice != tc.end() && choice->is_object()) {
            if (choice->contains("any")) {
                ex.tool_required = true;
            } else if (choice->contains("tool") && (*choice)["tool"].is_object()) {
                ex.forced_tool = (*choice)["tool"].value("name", "");
            }
        }
    }
    if (auto ic = body.find("inferenceConfig"); ic != body.end() && ic->is_object()) {
        if (auto mt = ic->find("maxTokens"); mt != ic->end() && mt->is_number()) {
            ex.max_output_tokens = mt->get<long>();
        }
    }
    if (auto extra = body.find("additionalModelRequestFields"); extra != body.end() && extra->is_object()) {
        if (auto th = extra->find("thinking"); th != extra->end() && th->is_object()) {
            ex.reasoning = th->value("type", "") == "enabled";
        }
    }
    return {};
}

const char* stop_reason(Finish f)
{
    switch (f) {
        case Finish::length:
            return "max_tokens";
        case Finish::tool:
            return "tool_use";
        case Finish::stop:
            break;
    }
    return "end_turn";
}

/// inputTokens excludes cache reads, which come apart as cacheReadInputTokens.
json usage_json(const Answer& a)
{
    long input = a.prompt_tokens - a.cached_tokens;
    long output = a.completion_tokens + a.reasoning_tokens;
    json u = {{"inputTokens", input}, {"outputTokens", output}, {"totalTokens", a.prompt_tokens + output}};
    if (a.cached_tokens > 0) {
        u["cacheReadInputTokens"] = a.cached_tokens;
        u["cacheWriteInputTokens"] = 0;
    }
    return u;
}

std::string converse_body(const Answer& a)
{
    json content = json::array();
    if (!a.thinking.empty()) {
        content.push_back(
            {{"reasoningContent", {{"reasoningText", {{"text", a.thinking}, {"signature", "fake-signature"}}}}}});
    }
    if (a.tool_call) {
        content.push_back({{"toolUse",
                            {{"toolUseId", a.tool_call->id},
                             {"name", a.tool_call->name},
                             {"input", json::parse(a.tool_call->arguments)}}}});
    } else {
        content.push_back({{"text", a.text}});
    }
    return json{{"metrics", {{"latencyMs", 42}}},
                {"output", {{"message", {{"content", std::move(content)}, {"role", "assistant"}}}}},
                {"stopReason", stop_reason(a.finish)},
                {"usage", usage_json(a)}}
        .dump();
}

std::vector<std::string> converse_frames(const Answer& a)
{
    std::vector<std::string> frames;
    frames.push_back(event_frame("messageStart", padded({{"role", "assistant"}})));
    int index = 0;
    if (!a.thinking.empty()) {
        for (auto& piece : word_pieces(a.thinking)) {
            frames.push_back(event_frame(
                "contentBlockDelta",
                padded({{"contentBlockIndex", index}, {"delta", {{"reasoningContent", {{"text", piece}}}}}})));
        }
        frames.push_back(event_frame("contentBlockDelta",
                                     padded({{"contentBlockIndex", index},
                                             {"delta", {{"reasoningContent", {{"signature", "fake-signature"}}}}}})));
        frames.push_back(event_frame("contentBlockStop", padded({{"contentBlockIndex", index}})));
        ++index;
    }
    if (a.tool_call) {
        frames.push_back(event_frame(
            "contentBlockStart",
            padded({{"contentBlockIndex", index},
                    {"start", {{"toolUse", {{"toolUseId", a.tool_call->id}, {"name", a.tool_call->name}}}}}})));
        for (auto& piece : split_even(a.tool_call->arguments, 4)) {
            frames.push_back(event_frame("contentBlockDelta", padded({{"contentBlockIndex", index},
                                                                      {"delta", {{"toolUse", {{"input", piece}}}}}})));
        }
    } else {
        for (auto& piece : word_pieces(a.text)) {
            frames.push_back(
                event_frame("contentBlockDelta", padded({{"contentBlockIndex", index}, {"delta", {{"text", piece}}}})));
        }
    }
    frames.push_back(event_frame("contentBlockStop", padded({{"contentBlockIndex", index}})));
    frames.push_back(event_frame("messageStop", padded({{"stopReason", stop_reason(a.finish)}})));
    frames.push_back(event_frame("metadata", padded({{"metrics", {{"latencyMs", 42}}}, {"usage", usage_json(a)}})));
    return frames;
}

void converse(FakeState& state, const httplib::Request& req, httplib::Response& res, bool stream)
{
    if (!authorized(req, res)) {
        return;
    }
    std::string model = req.matches[1].str();
    json body = json::parse(req.body, nullptr, false);
    if (body.is_discarded() || !body.is_object()) {
        validation_error(res, "Malformed input request, please reformat your input and try again.");
        return;
    }
    Exchange ex;
    ex.stream = stream;
    std::string problem;
    try {
        problem = parse_converse(body, model, ex);
    } catch (const json::exception& e) {
        problem = std::string("Malformed input request: ") + e.what();
    }
    if (!problem.empty()) {
        validation_error(res, problem);
        return;
    }
    Fault fault = state.faults->pick(req.path, ex.model);
    if (apply_fault_before_answer(res, k_dialect, fault, stream)) {
        return;
    }
    Answer a = make_answer(ex, "tooluse_fake");
    res.set_header("x-amzn-RequestId", "fake-" + std::to_string(next_id()));
    if (stream) {
        send_answer_stream(res, k_dialect, fault, converse_frames(a), "application/vnd.amazon.eventstream");
    } else {
        send_answer_body(res, k_dialect, fault, converse_body(a));
    }
}

void converse_plain(FakeState& state, const httplib::Request& req, httplib::Response& res)
{
    converse(state, req, res, false);
}

void converse_stream(FakeState& state, const httplib::Request& req, httplib::Response& res)
{
    converse(state, req, res, true);
}

/// InvokeModel for embedding models: Titan {inputText, dimensions?} -> {embedding,
/// inputTextTokenCount}; Cohere Embed {texts, input_type} -> {embeddings, id, texts, ...}.
void invoke(FakeState& state, const httplib::Request& req, httplib::Response& res)
{
    if (!authorized(req, res)) {
        return;
    }
    std::string model = req.matches[1].str();
    json body = json::parse(req.body, nullptr, false);
    if (body.is_discarded() || !body.is_object()) {
        validation_error(res, "Malformed input request, please reformat your input and try again.");
        return;
    }
    bool titan = body.contains("inputText");
    if (!titan && !body.contains("texts")) {
        validation_error(res,
                         "Malformed input request: fake-upstream's InvokeModel only knows Titan "
                         "({inputText}) and Cohere Embed ({texts}) bodies.");
        return;
    }
    if (titan && !body["inputText"].is_string()) {
        validation_error(res, "Malformed input request: #/inputText: expected type: String");
        return;
    }
    if (!titan && (!body["texts"].is_array() || !body.contains("input_type"))) {
        validation_error(res, "Malformed input request: #: required key [input_type] not found");
        return;
    }
    Fault fault = state.faults->pick(req.path, model);
    if (apply_fault_before_answer(res, k_dialect, fault, false)) {
        return;
    }
    res.set_header("x-amzn-RequestId", "fake-" + std::to_string(next_id()));
    if (titan) {
        std::size_t dims = 8;
        if (auto d = body.find("dimensions"); d != body.end() && d->is_number_integer() && d->get<long>() > 0) {
            dims = d->get<std::size_t>();
        }
        std::string text = body["inputText"].get<std::string>();
        res.set_header("X-Amzn-Bedrock-Input-Token-Count", std::to_string(std::max<long>(1, count_words(text))));
        json out = {{"embedding", embedding_for(text, dims)},
                    {"inputTextTokenCount", std::max<long>(1, count_words(text))}};
        send_answer_body(res, k_dialect, fault, out.dump());
        return;
    }
    json embeddings = json::array();
    long tokens = 0;
    for (const auto& t : body["texts"]) {
        std::string text = t.is_string() ? t.get<std::string>() : t.dump();
        tokens += count_words(text);
        embeddings.push_back(embedding_for(text, 8));
    }
    res.set_header("X-Amzn-Bedrock-Input-Token-Count", std::to_string(std::max<long>(1, tokens)));
    json out = {{"embeddings", std::move(embeddings)},
                {"id", "fake-" + std::to_string(next_id())},
                {"response_type", "embeddings_floats"},
                {"texts", body["texts"]}};
    send_answer_body(res, k_dialect, fault, out.dump());
}

}  // namespace

void register_bedrock(httplib::Server& svr, FakeState& state)
{
    svr.Post(R"(/model/(.+)/converse-stream)", recorded(state, converse_stream));
    svr.Post(R"(/model/(.+)/converse)", recorded(state, converse_plain));
    svr.Post(R"(/model/(.+)/invoke)", recorded(state, invoke));
}

}  // namespace aigw::fake

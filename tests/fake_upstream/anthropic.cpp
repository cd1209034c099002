// Anthropic's wire format: /v1/messages (plain and streamed), /v1/messages/count_tokens, and
// /v1/models when the request carries anthropic-version.

#include "tests/fake_upstream/faults.hpp"

namespace aigw::fake {

namespace {

constexpr const char* k_signature = "ZmFrZS11cHN0cmVhbS10aGlua2luZy1zaWduYXR1cmU=";

class AnthropicDialect final : public Dialect {
public:
    std::string error_body(int status, std::string_view message) const override
    {
        std::string type;
        std::string text(message);
        switch (status) {
            case 400:
                type = "invalid_request_error";
                break;
            case 401:
                type = "authentication_error";
                if (text.empty()) {
                    text = "invalid x-api-key";
                }
                break;
            case 403:
                type = "permission_error";
                break;
            case 404:
                type = "not_found_error";
                break;
            case 413:
                type = "request_too_large";
                break;
            case 429:
                type = "rate_limit_error";
                if (text.empty()) {
                    text = "Number of requests has exceeded your per-minute rate limit (fake-upstream).";
                }
                break;
            case 529:
                type = "overloaded_error";
                if (text.empty()) {
                    text = "Overloaded";
                }
                break;
            default:
                type = status >= 500 ? "api_error" : "invalid_request_error";
                break;
        }
        if (text.empty()) {
            text = status >= 500 ? "Internal server error" : "fake-upstream fault " + std::to_string(status);
        }
        return json{{"type", "error"}, {"error", {{"type", type}, {"message", text}}}}.dump();
    }
    std::string stream_error_frame() const override { return "event: error\ndata: " + error_body(529, {}) + "\n\n"; }
    std::string malformed_body() const override { return R"({"content": [)"; }
    std::string malformed_frame() const override
    {
        return "event: content_block_delta\ndata: {\"type\": \"content_block_delta\", \"index\": 0, \"delta\": {\n\n";
    }
    // message_start, content_block_start, ping and 3 deltas.
    std::size_t frames_before_cut() const override { return 6; }
};

const AnthropicDialect k_dialect;

bool authorized(const httplib::Request& req)
{
    if (!req.get_header_value("x-api-key").empty()) {
        return true;
    }
    std::string auth = req.get_header_value("Authorization");
    return auth.size() > 7 && lower(auth.substr(0, 7)) == "bearer " &&
           auth.find_first_not_of(' ', 7) != std::string::npos;
}

/// Text of a content value: a string, or blocks (text, and tool_result with its content).
std::string content_text(const json& content, bool* has_tool_result = nullptr)
{
    if (content.is_string()) {
        return content.get<std::string>();
    }
    std::string out;
    if (!content.is_array()) {
        return out;
    }
    for (const auto& block : content) {
        if (!block.is_object()) {
            continue;
        }
        std::string piece;
        std::string type = block.value("type", "");
        if (type == "text" && block.contains("text") && block["text"].is_string()) {
            piece = block["text"].get<std::string>();
        } else if (type == "tool_result") {
            if (has_tool_result) {
                *has_tool_result = true;
            }
            piece = block.contains("content") ? content_text(block["content"]) : std::string();
        }
        if (!piece.empty()) {
            if (!out.empty()) {
                out += ' ';
            }
            out += piece;
        }
    }
    return out;
}

Exchange parse_messages(const json& body)
{
    Exchange ex;
    ex.model = body.value("model", "");
    ex.stream = body.value("stream", false);
    if (body.contains("system")) {
        ex.prompt_words += count_words(content_text(body["system"]));
    }
    for (const auto& m : body["messages"]) {
        if (!m.is_object() || !m.contains("content")) {
            continue;
        }
        bool tool_result = false;
        std::string text = content_text(m["content"], &tool_result);
        ex.prompt_words += count_words(text);
        if (m.value("role", "") == "user") {
            ex.last_user_text = text;
            ex.last_is_tool_result = tool_result;
        }
    }
    if (auto t = body.find("tools"); t != body.end() && t->is_array()) {
        for (const auto& tool : *t) {
            if (tool.is_object() && tool.contains("name")) {
                ex.tools.push_back({tool.value("name", ""), tool.value("input_schema", json())});
            }
        }
    }
    if (auto tc = body.find("tool_choice"); tc != body.end() && tc->is_object()) {
        std::string type = tc->value("type", "auto");
        ex.tools_disabled = type == "none";
        ex.tool_required = type == "any";
        if (type == "tool") {
            ex.forced_tool = tc->value("name", "");
        }
    }
    ex.max_output_tokens = body.value("max_tokens", 0L);
    if (auto th = body.find("thinking"); th != body.end() && th->is_object()) {
        std::string type = th->value("type", "");
        ex.reasoning = type == "enabled" || type == "adaptive";
    }
    return ex;
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

json usage_json(const Answer& a, long output_tokens)
{
    return {{"input_tokens", a.prompt_tokens - a.cached_tokens},
            {"cache_creation_input_tokens", 0},
            {"cache_read_input_tokens", a.cached_tokens},
            {"output_tokens", output_tokens}};
}

std::string message_body(const Exchange& ex, const Answer& a, const std::string& id)
{
    json content = json::array();
    if (!a.thinking.empty()) {
        content.push_back({{"type", "thinking"}, {"thinking", a.thinking}, {"signature", k_signature}});
    }
    if (a.tool_call) {
        content.push_back({{"type", "tool_use"},
                           {"id", a.tool_call->id},
                           {"name", a.tool_call->name},
                           {"input", json::parse(a.tool_call->arguments)}});
    } else {
        content.push_back({{"type", "text"}, {"text", a.text}});
    }
    json out = {{"id", id},
                {"type", "message"},
                {"role", "assistant"},
                {"model", ex.model},
                {"content", std::move(content)},
                {"stop_reason", stop_reason(a.finish)},
                {"stop_sequence", nullptr},
                {"usage", usage_json(a, a.completion_tokens + a.reasoning_tokens)}};
    return out.dump();
}

std::vector<std::string> message_frames(const Exchange& ex, const Answer& a, const std::string& id)
{
    std::vector<std::string> frames;
    auto event = [&frames](const char* name, const json& data) {
        frames.push_back(std::string("event: ") + name + "\ndata: " + data.dump() + "\n\n");
    };
    event("message_start", {{"type", "message_start"},
                            {"message",
                             {{"id", id},
                              {"type", "message"},
                              {"role", "assistant"},
                              {"model", ex.model},
                              {"content", json::array()},
                              {"stop_reason", nullptr},
                              {"stop_sequence", nullptr},
                              {"usage", usage_json(a, 1)}}}});
    int index = 0;
    bool pinged = false;
    auto start_block = [&](json block) {
        event("content_block_start", {{"type", "content_block_start"}, {"index", index}, {"content_block", block}});
        if (!pinged) {
            frames.emplace_back("event: ping\ndata: {\"type\": \"ping\"}\n\n");
            pinged = true;
        }
    };
    auto delta = [&](json d) {
        event("content_block_delta", {{"type", "content_block_delta"}, {"index", index}, {"delta", std::move(d)}});
    };
    auto stop_block = [&]() {
        event("content_block_stop", {{"type", "content_block_stop"}, {"index", index}});
        ++index;
    };
    if (!a.thinking.empty()) {
        start_block({{"type", "thinking"}, {"thinking", ""}, {"signature", ""}});
        for (auto& piece : word_pieces(a.thinking)) {
            delta({{"type", "thinking_delta"}, {"thinking", piece}});
        }
        delta({{"type", "signature_delta"}, {"signature", k_signature}});
        stop_block();
    }
    if (a.tool_call) {
        start_block(
            {{"type", "tool_use"}, {"id", a.tool_call->id}, {"name", a.tool_call->name}, {"input", json::object()}});
        delta({{"type", "input_json_delta"}, {"partial_json", ""}});
        for (auto& piece : split_even(a.tool_call->arguments, 4)) {
            delta({{"type", "input_json_delta"}, {"partial_json", piece}});
        }
    } else {
        start_block({{"type", "text"}, {"text", ""}});
        for (auto& piece : word_pieces(a.text)) {
            delta({{"type", "text_delta"}, {"text", piece}});
        }
    }
    stop_block();
    event("message_delta", {{"type", "message_delta"},
                            {"delta", {{"stop_reason", stop_reason(a.finish)}, {"stop_sequence", nullptr}}},
                            {"usage", {{"output_tokens", a.completion_tokens + a.reasoning_tokens}}}});
    event("message_stop", {{"type", "message_stop"}});
    return frames;
}

/// Checks auth, anthropic-version and the JSON body; sends the error and returns false on failure.
bool admit(const httplib::Request& req, httplib::Response& res, json& body)
{
    if (!authorized(req)) {
        send_error(res, k_dialect, 401, "x-api-key header is required");
        return false;
    }
    if (req.get_header_value("anthropic-version").empty()) {
        send_error(res, k_dialect, 400, "anthropic-version: header is required");
        return false;
    }
    body = json::parse(req.body, nullptr, false);
    if (body.is_discarded() || !body.is_object()) {
        send_error(res, k_dialect, 400, "There was an issue with your request body: it is not valid JSON.");
        return false;
    }
    if (!body.contains("model") || !body["model"].is_string()) {
        send_error(res, k_dialect, 400, "model: Field required");
        return false;
    }
    if (!body.contains("messages") || !body["messages"].is_array()) {
        send_error(res, k_dialect, 400, "messages: Field required");
        return false;
    }
    return true;
}

void messages(FakeState& state, const httplib::Request& req, httplib::Response& res)
{
    json body;
    if (!admit(req, res, body)) {
        return;
    }
    if (!body.contains("max_tokens") || !body["max_tokens"].is_number_integer()) {
        send_error(res, k_dialect, 400, "max_tokens: Field required");
        return;
    }
    Exchange ex;
    try {
        ex = parse_messages(body);
    } catch (const json::exception& e) {
        send_error(res, k_dialect, 400, std::string("Invalid request body: ") + e.what());
        return;
    }
    Fault fault = state.faults->pick(req.path, ex.model, request_key(req));
    if (apply_fault_before_answer(res, k_dialect, fault, ex.stream)) {
        return;
    }
    Answer a = make_answer(ex, "toolu_fake");
    std::string id = "msg_fake" + std::to_string(next_id());
    res.set_header("request-id", "req_fake" + std::to_string(next_id()));
    if (ex.stream) {
        send_answer_stream(res, k_dialect, fault, message_frames(ex, a, id));
    } else {
        send_answer_body(res, k_dialect, fault, message_body(ex, a, id));
    }
}

void count_tokens(FakeState& state, const httplib::Request& req, httplib::Response& res)
{
    json body;
    if (!admit(req, res, body)) {
        return;
    }
    Exchange ex = parse_messages(body);
    Fault fault = state.faults->pick(req.path, ex.model, request_key(req));
    if (apply_fault_before_answer(res, k_dialect, fault, false)) {
        return;
    }
    send_json(res, 200, json{{"input_tokens", std::max<long>(1, ex.prompt_words + 3)}}.dump());
}

}  // namespace

void anthropic_list_models(FakeState& state, const httplib::Request& req, httplib::Response& res)
{
    if (!authorized(req)) {
        send_error(res, k_dialect, 401, "x-api-key header is required");
        return;
    }
    if (apply_fault_before_answer(res, k_dialect, state.faults->pick(req.path, ""), false)) {
        return;
    }
    static const std::pair<const char*, const char*> k_models[] = {{"claude-sonnet-4-5", "Claude Sonnet 4.5"},
                                                                   {"claude-haiku-4-5", "Claude Haiku 4.5"},
                                                                   {"claude-opus-4-1", "Claude Opus 4.1"}};
    json data = json::array();
    for (const auto& [id, name] : k_models) {
        data.push_back({{"type", "model"}, {"id", id}, {"display_name", name}, {"created_at", "2025-09-29T00:00:00Z"}});
    }
    json out = {{"data", data}, {"has_more", false}, {"first_id", data.front()["id"]}, {"last_id", data.back()["id"]}};
    send_json(res, 200, out.dump());
}

void register_anthropic(httplib::Server& svr, FakeState& state)
{
    svr.Post(R"((?:/v1)?/messages)", recorded(state, messages));
    svr.Post(R"((?:/v1)?/messages/count_tokens)", recorded(state, count_tokens));
}

}  // namespace aigw::fake

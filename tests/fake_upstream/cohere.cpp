// Cohere's v2 wire format: POST /v2/chat (plain and SSE-streamed) and POST /v2/embed.
// Base URL http://127.0.0.1:PORT/v2. Auth `Authorization: Bearer <key>`.

#include <ctime>

#include "tests/fake_upstream/faults.hpp"

namespace aigw::fake {

namespace {

/// Cohere's errors: {"id": "...", "message": "..."}.
class CohereDialect final : public Dialect {
public:
    std::string error_body(int status, std::string_view message) const override
    {
        std::string text(message);
        if (text.empty()) {
            switch (status) {
                case 400:
                    text = "invalid request (fake-upstream fault 400)";
                    break;
                case 401:
                    text = "invalid api token";
                    break;
                case 403:
                    text = "Forbidden (fake-upstream fault 403)";
                    break;
                case 404:
                    text =
                        "model not found, make sure the correct model ID was used and that you have access to "
                        "the model.";
                    break;
                case 429:
                    text =
                        "You are past the per minute request limit, please wait and try again later. "
                        "(fake-upstream)";
                    break;
                case 503:
                    text = "service unavailable";
                    break;
                default:
                    text = status >= 500 ? "internal server error, this has been reported to our developers"
                                         : "invalid request (fake-upstream fault " + std::to_string(status) + ")";
                    break;
            }
        }
        return json{{"id", "fake-" + std::to_string(next_id())}, {"message", text}}.dump();
    }
    /// Cohere reports an error inside a stream as a message-end with finish_reason ERROR.
    std::string stream_error_frame() const override
    {
        json ev = {{"type", "message-end"},
                   {"delta",
                    {{"error", "internal server error, this has been reported to our developers"},
                     {"finish_reason", "ERROR"}}}};
        return "event: message-end\ndata: " + ev.dump() + "\n\n";
    }
    std::string malformed_body() const override { return R"({"message": {)"; }
    std::string malformed_frame() const override
    {
        return "event: content-delta\ndata: {\"type\": \"content-delta\", \"delta\": {\n\n";
    }
    std::size_t frames_before_cut() const override { return 5; }  // message-start, content-start, 3 deltas
};

const CohereDialect k_dialect;

bool authorized(const httplib::Request& req)
{
    std::string auth = req.get_header_value("Authorization");
    return auth.size() > 7 && lower(auth.substr(0, 7)) == "bearer " &&
           auth.find_first_not_of(' ', 7) != std::string::npos;
}

/// Text of a v2 message content: a string, or an array of {type:"text", text} (tool results
/// may also hold {type:"document", document:{data}}). Images are not text.
std::string content_text(const json& content)
{
    if (content.is_string()) {
        return content.get<std::string>();
    }
    std::string out;
    auto add = [&](const std::string& t) {
        if (!out.empty()) {
            out += ' ';
        }
        out += t;
    };
    if (content.is_array()) {
        for (const auto& part : content) {
            if (!part.is_object()) {
                continue;
            }
            if (part.contains("text") && part["text"].is_string()) {
                add(part["text"].get<std::string>());
            } else if (part.contains("document") && part["document"].is_object()) {
                const json& d = part["document"]["data"];
                add(d.is_string() ? d.get<std::string>() : d.dump());
            }
        }
    }
    return out;
}

Exchange parse_chat(const json& body)
{
    Exchange ex;
    ex.model = body.value("model", "");
    ex.stream = body.value("stream", false);
    for (const auto& m : body["messages"]) {
        if (!m.is_object()) {
            continue;
        }
        std::string role = m.value("role", "");
        std::string text = m.contains("content") ? content_text(m["content"]) : std::string();
        ex.prompt_words += count_words(text);
        if (role == "user") {
            ex.last_user_text = text;
            ex.last_is_tool_result = false;
        } else if (role == "tool") {
            ex.last_user_text = text;
            ex.last_is_tool_result = true;
        }
    }
    if (auto t = body.find("tools"); t != body.end() && t->is_array()) {
        for (const auto& tool : *t) {
            if (tool.is_object() && tool.contains("function") && tool["function"].is_object()) {
                const json& f = tool["function"];
                ex.tools.push_back({f.value("name", ""), f.value("parameters", json())});
            }
        }
    }
    if (auto tc = body.find("tool_choice"); tc != body.end() && tc->is_string()) {
        std::string choice = lower(tc->get<std::string>());
        ex.tools_disabled = choice == "none";
        ex.tool_required = choice == "required";
    }
    if (auto mt = body.find("max_tokens"); mt != body.end() && mt->is_number()) {
        ex.max_output_tokens = mt->get<long>();
    }
    if (auto rf = body.find("response_format"); rf != body.end() && rf->is_object()) {
        if (rf->value("type", "") == "json_object") {
            ex.json_mode = true;
            ex.json_schema = rf->value("json_schema", json());
        }
    }
    if (auto th = body.find("thinking"); th != body.end() && th->is_object()) {
        ex.reasoning = th->value("type", "") == "enabled";
    }
    return ex;
}

const char* finish_reason(Finish f)
{
    switch (f) {
        case Finish::length:
            return "MAX_TOKENS";
        case Finish::tool:
            return "TOOL_CALL";
        case Finish::stop:
            break;
    }
    return "COMPLETE";
}

/// billed_units is what the key pays for; `tokens` also counts the 5 tokens of Cohere's own
/// prompt scaffolding, which is not billed.
json usage_json(const Answer& a)
{
    long output = a.completion_tokens + a.reasoning_tokens;
    return {{"billed_units", {{"input_tokens", a.prompt_tokens}, {"output_tokens", output}}},
            {"tokens", {{"input_tokens", a.prompt_tokens + 5}, {"output_tokens", output}}}};
}

std::string tool_plan(const ToolCall& call)
{
    return "I will use the " + call.name + " tool.";
}

std::string chat_body(const Answer& a, const std::string& id)
{
    json message = {{"role", "assistant"}};
    if (a.tool_call) {
        message["tool_plan"] = tool_plan(*a.tool_call);
        message["tool_calls"] =
            json::array({{{"id", a.tool_call->id},
                          {"type", "function"},
                          {"function", {{"name", a.tool_call->name}, {"arguments", a.tool_call->arguments}}}}});
    } else {
        json content = json::array();
        if (!a.thinking.empty()) {
            content.push_back({{"type", "thinking"}, {"thinking", a.thinking}});
        }
        content.push_back({{"type", "text"}, {"text", a.text}});
        message["content"] = std::move(content);
    }
    return json{{"id", id},
                {"message", std::move(message)},
                {"finish_reason", finish_reason(a.finish)},
                {"usage", usage_json(a)}}
        .dump();
}

std::string event(const json& payload)
{
    return "event: " + payload["type"].get<std::string>() + "\ndata: " + payload.dump() + "\n\n";
}

std::vector<std::string> chat_frames(const Answer& a, const std::string& id)
{
    std::vector<std::string> frames;
    frames.push_back(event({{"id", id},
                            {"type", "message-start"},
                            {"delta",
                             {{"message",
                               {{"role", "assistant"},
                                {"content", json::array()},
                                {"tool_plan", ""},
                                {"tool_calls", json::array()},
                                {"citations", json::array()}}}}}}));
    if (a.tool_call) {
        for (auto& piece : word_pieces(tool_plan(*a.tool_call))) {
            frames.push_back(event({{"type", "tool-plan-delta"}, {"delta", {{"message", {{"tool_plan", piece}}}}}}));
        }
        frames.push_back(event({{"type", "tool-call-start"},
                                {"index", 0},
                                {"delta",
                                 {{"message",
                                   {{"tool_calls",
                                     {{"id", a.tool_call->id},
                                      {"type", "function"},
                                      {"function", {{"name", a.tool_call->name}, {"arguments", ""}}}}}}}}}}));
        for (auto& piece : split_even(a.tool_call->arguments, 4)) {
            frames.push_back(
                event({{"type", "tool-call-delta"},
                       {"index", 0},
                       {"delta", {{"message", {{"tool_calls", {{"function", {{"arguments", piece}}}}}}}}}}));
        }
        frames.push_back(event({{"type", "tool-call-end"}, {"index", 0}}));
    } else {
        int index = 0;
        if (!a.thinking.empty()) {
            frames.push_back(
                event({{"type", "content-start"},
                       {"index", index},
                       {"delta", {{"message", {{"content", {{"type", "thinking"}, {"thinking", ""}}}}}}}}));
            for (auto& piece : word_pieces(a.thinking)) {
                frames.push_back(event({{"type", "content-delta"},
                                        {"index", index},
                                        {"delta", {{"message", {{"content", {{"thinking", piece}}}}}}}}));
            }
            frames.push_back(event({{"type", "content-end"}, {"index", index}}));
            ++index;
        }
        frames.push_back(event({{"type", "content-start"},
                                {"index", index},
                                {"delta", {{"message", {{"content", {{"type", "text"}, {"text", ""}}}}}}}}));
        for (auto& piece : word_pieces(a.text)) {
            frames.push_back(event({{"type", "content-delta"},
                                    {"index", index},
                                    {"delta", {{"message", {{"content", {{"text", piece}}}}}}}}));
        }
        frames.push_back(event({{"type", "content-end"}, {"index", index}}));
    }
    frames.push_back(event(
        {{"type", "message-end"}, {"delta", {{"finish_reason", finish_reason(a.finish)}, {"usage", usage_json(a)}}}}));
    return frames;
}

void chat(FakeState& state, const httplib::Request& req, httplib::Response& res)
{
    if (!authorized(req)) {
        send_error(res, k_dialect, 401, "no api key supplied");
        return;
    }
    json body = json::parse(req.body, nullptr, false);
    if (body.is_discarded() || !body.is_object()) {
        send_error(res, k_dialect, 400, "invalid request: could not parse the JSON body");
        return;
    }
    if (!body.contains("model") || !body["model"].is_string() || body["model"].get<std::string>().empty()) {
        send_error(res, k_dialect, 400, "invalid request: model must be specified");
        return;
    }
    if (!body.contains("messages") || !body["messages"].is_array() || body["messages"].empty()) {
        send_error(res, k_dialect, 400, "invalid request: messages must not be empty");
        return;
    }
    Exchange ex;
    try {
        ex = parse_chat(body);
    } catch (const json::exception& e) {
        send_error(res, k_dialect, 400, std::string("invalid request: ") + e.what());
        return;
    }
    Fault fault = state.faults->pick(req.path, ex.model);
    if (apply_fault_before_answer(res, k_dialect, fault, ex.stream)) {
        return;
    }
    Answer a = make_answer(ex, "tool_call_fake");
    std::string id = "fake-" + std::to_string(next_id());
    res.set_header("x-trace-id", "fake-trace-" + std::to_string(next_id()));
    if (ex.stream) {
        send_answer_stream(res, k_dialect, fault, chat_frames(a, id));
    } else {
        send_answer_body(res, k_dialect, fault, chat_body(a, id));
    }
}

void embed(FakeState& state, const httplib::Request& req, httplib::Response& res)
{
    if (!authorized(req)) {
        send_error(res, k_dialect, 401, "no api key supplied");
        return;
    }
    json body = json::parse(req.body, nullptr, false);
    if (body.is_discarded() || !body.is_object()) {
        send_error(res, k_dialect, 400, "invalid request: could not parse the JSON body");
        return;
    }
    std::string model = body.value("model", "");
    if (model.empty()) {
        send_error(res, k_dialect, 400, "invalid request: model must be specified");
        return;
    }
    if (!body.contains("input_type") || !body["input_type"].is_string()) {
        send_error(res, k_dialect, 400, "invalid request: valid input_type must be provided with the provided model");
        return;
    }
    std::vector<std::string> texts;
    if (auto t = body.find("texts"); t != body.end() && t->is_array()) {
        for (const auto& item : *t) {
            if (!item.is_string()) {
                send_error(res, k_dialect, 400, "invalid request: texts must be an array of strings");
                return;
            }
            texts.push_back(item.get<std::string>());
        }
    }
    if (texts.empty()) {
        send_error(res, k_dialect, 400, "invalid request: one of texts, images or inputs must be specified");
        return;
    }
    json types = body.value("embedding_types", json::array({"float"}));
    if (!types.is_array() || types.empty()) {
        types = json::array({"float"});
    }
    Fault fault = state.faults->pick(req.path, model);
    if (apply_fault_before_answer(res, k_dialect, fault, false)) {
        return;
    }
    std::size_t dims = 8;
    if (auto d = body.find("output_dimension"); d != body.end() && d->is_number_integer() && d->get<long>() > 0) {
        dims = d->get<std::size_t>();
    }
    json embeddings = json::object();
    long tokens = 0;
    for (const auto& text : texts) {
        tokens += count_words(text);
    }
    for (const auto& type : types) {
        std::string name = type.is_string() ? type.get<std::string>() : std::string();
        json list = json::array();
        for (const auto& text : texts) {
            auto vec = embedding_for(text, dims);
            if (name == "float") {
                list.push_back(vec);
            } else if (name == "base64") {
                list.push_back(base64_of_floats(vec));
            } else if (name == "int8") {
                json ints = json::array();
                for (float f : vec) {
                    ints.push_back(static_cast<int>(f * 127.0f));
                }
                list.push_back(std::move(ints));
            } else {
                send_error(res, k_dialect, 400,
                           "invalid request: embedding_types must be float, int8 or base64 (fake-upstream)");
                return;
            }
        }
        embeddings[name] = std::move(list);
    }
    tokens = std::max<long>(tokens, 1);
    json out = {{"id", "fake-" + std::to_string(next_id())},
                {"embeddings", std::move(embeddings)},
                {"texts", texts},
                {"meta", {{"api_version", {{"version", "2"}}}, {"billed_units", {{"input_tokens", tokens}}}}},
                {"response_type", "embeddings_by_type"}};
    send_answer_body(res, k_dialect, fault, out.dump());
}

}  // namespace

void register_cohere(httplib::Server& svr, FakeState& state)
{
    svr.Post(R"(/v2/chat)", recorded(state, chat));
    svr.Post(R"(/v2/embed)", recorded(state, embed));
}

}  // namespace aigw::fake

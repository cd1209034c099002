// OpenAI's wire format: /v1/chat/completions (plain and streamed), /v1/models, /v1/embeddings,
// and the legacy /v1/completions (text_completion, with `suffix` for fill-in-the-middle),
// also served at /beta/completions as DeepSeek's FIM endpoint.

#include <ctime>

#include "tests/fake_upstream/faults.hpp"

namespace aigw::fake {

namespace {

class OpenAiDialect final : public Dialect {
public:
    std::string error_body(int status, std::string_view message) const override
    {
        std::string type = "invalid_request_error";
        json code = nullptr;
        std::string text(message);
        switch (status) {
            case 401:
                code = "invalid_api_key";
                if (text.empty()) {
                    text =
                        "Incorrect API key provided. You can find your API key at "
                        "https://platform.openai.com/account/api-keys.";
                }
                break;
            case 404:
                code = "model_not_found";
                if (text.empty()) {
                    text = "The model does not exist or you do not have access to it.";
                }
                break;
            case 429:
                type = "requests";
                code = "rate_limit_exceeded";
                if (text.empty()) {
                    text = "Rate limit reached for requests (fake-upstream). Please try again in 1s.";
                }
                break;
            default:
                if (status >= 500) {
                    type = "server_error";
                    if (text.empty()) {
                        text = status == 503 ? "The server is overloaded or not ready yet."
                                             : "The server had an error while processing your request. "
                                               "Sorry about that!";
                    }
                } else if (text.empty()) {
                    text = "Invalid request (fake-upstream fault " + std::to_string(status) + ").";
                }
                break;
        }
        return json{{"error", {{"message", text}, {"type", type}, {"param", nullptr}, {"code", code}}}}.dump();
    }
    std::string stream_error_frame() const override { return "data: " + error_body(500, {}) + "\n\n"; }
    std::string malformed_body() const override { return R"({"choices": [)"; }
    std::string malformed_frame() const override { return "data: {\"choices\": [\n\n"; }
    std::size_t frames_before_cut() const override { return 4; }  // role + 3 content chunks
};

const OpenAiDialect k_dialect;

bool authorized(const httplib::Request& req)
{
    std::string auth = req.get_header_value("Authorization");
    if (auth.size() < 7 || lower(auth.substr(0, 7)) != "bearer ") {
        return false;
    }
    return auth.find_first_not_of(' ', 7) != std::string::npos;
}

/// Text of an OpenAI message content: a string or an array of parts.
std::string content_text(const json& content)
{
    if (content.is_string()) {
        return content.get<std::string>();
    }
    std::string out;
    if (content.is_array()) {
        for (const auto& part : content) {
            if (part.is_object() && part.contains("text") && part["text"].is_string()) {
                if (!out.empty()) {
                    out += ' ';
                }
                out += part["text"].get<std::string>();
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
        } else if (role == "tool" || role == "function") {
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
    if (auto tc = body.find("tool_choice"); tc != body.end()) {
        if (tc->is_string()) {
            ex.tools_disabled = *tc == "none";
            ex.tool_required = *tc == "required";
        } else if (tc->is_object() && tc->contains("function")) {
            ex.forced_tool = (*tc)["function"].value("name", "");
        }
    }
    if (auto mt = body.find("max_completion_tokens"); mt != body.end() && mt->is_number()) {
        ex.max_output_tokens = mt->get<long>();
    } else if (auto mt2 = body.find("max_tokens"); mt2 != body.end() && mt2->is_number()) {
        ex.max_output_tokens = mt2->get<long>();
    }
    if (auto rf = body.find("response_format"); rf != body.end() && rf->is_object()) {
        std::string type = rf->value("type", "");
        if (type == "json_object" || type == "json_schema") {
            ex.json_mode = true;
            ex.json_schema = rf->value("json_schema", json());
        }
    }
    if (auto re = body.find("reasoning_effort"); re != body.end() && re->is_string()) {
        ex.reasoning = *re != "none";
    }
    return ex;
}

const char* finish_reason(Finish f)
{
    switch (f) {
        case Finish::length:
            return "length";
        case Finish::tool:
            return "tool_calls";
        case Finish::stop:
            break;
    }
    return "stop";
}

json usage_json(const Answer& a)
{
    long completion = a.completion_tokens + a.reasoning_tokens;
    return {{"prompt_tokens", a.prompt_tokens},
            {"completion_tokens", completion},
            {"total_tokens", a.prompt_tokens + completion},
            {"prompt_tokens_details", {{"cached_tokens", a.cached_tokens}, {"audio_tokens", 0}}},
            {"completion_tokens_details",
             {{"reasoning_tokens", a.reasoning_tokens},
              {"audio_tokens", 0},
              {"accepted_prediction_tokens", 0},
              {"rejected_prediction_tokens", 0}}}};
}

json chunk_base(const std::string& id, std::time_t created, const std::string& model)
{
    return {{"id", id},       {"object", "chat.completion.chunk"}, {"created", created},
            {"model", model}, {"service_tier", "default"},         {"system_fingerprint", "fp_fake"}};
}

/// Azure's content-filter annotations (all categories "safe").
json azure_filter_results()
{
    json r = json::object();
    for (const char* cat : {"hate", "self_harm", "sexual", "violence"}) {
        r[cat] = {{"filtered", false}, {"severity", "safe"}};
    }
    return r;
}

std::string completion_body(const Exchange& ex, const Answer& a, const std::string& id, bool azure)
{
    json message = {{"role", "assistant"}, {"refusal", nullptr}, {"annotations", json::array()}};
    if (a.tool_call) {
        message["content"] = nullptr;
        message["tool_calls"] =
            json::array({{{"id", a.tool_call->id},
                          {"type", "function"},
                          {"function", {{"name", a.tool_call->name}, {"arguments", a.tool_call->arguments}}}}});
    } else {
        message["content"] = a.text;
    }
    json choice = {{"index", 0},
                   {"message", std::move(message)},
                   {"logprobs", nullptr},
                   {"finish_reason", finish_reason(a.finish)}};
    json out = {{"id", id}, {"object", "chat.completion"}, {"created", std::time(nullptr)}, {"model", ex.model}};
    if (azure) {
        // Azure adds content-filter results and leaves out service_tier.
        choice["content_filter_results"] = azure_filter_results();
        out["prompt_filter_results"] =
            json::array({{{"prompt_index", 0}, {"content_filter_results", azure_filter_results()}}});
    }
    out["choices"] = json::array({std::move(choice)});
    out["usage"] = usage_json(a);
    if (!azure) {
        out["service_tier"] = "default";
    }
    out["system_fingerprint"] = "fp_fake";
    return out.dump();
}

std::vector<std::string> completion_frames(const Exchange& ex, const Answer& a, const std::string& id,
                                           bool include_usage, bool azure)
{
    std::vector<std::string> frames;
    json base = chunk_base(id, std::time(nullptr), ex.model);
    if (azure) {
        base.erase("service_tier");
        // Azure opens every stream with a chunk that has no choices, only the prompt's
        // content-filter results (and empty id/model/object).
        json first = {{"choices", json::array()},
                      {"created", 0},
                      {"id", ""},
                      {"model", ""},
                      {"object", ""},
                      {"prompt_filter_results",
                       json::array({{{"prompt_index", 0}, {"content_filter_results", azure_filter_results()}}})}};
        frames.push_back("data: " + first.dump() + "\n\n");
    }
    if (include_usage) {
        base["usage"] = nullptr;
    }
    auto frame = [&](json delta, json finish) {
        json c = base;
        json choice = {{"index", 0}, {"delta", std::move(delta)}, {"logprobs", nullptr}, {"finish_reason", finish}};
        if (azure) {
            choice["content_filter_results"] = finish.is_null() ? azure_filter_results() : json::object();
        }
        c["choices"] = json::array({std::move(choice)});
        frames.push_back("data: " + c.dump() + "\n\n");
    };
    if (a.tool_call) {
        frame({{"role", "assistant"},
               {"content", nullptr},
               {"refusal", nullptr},
               {"tool_calls", json::array({{{"index", 0},
                                            {"id", a.tool_call->id},
                                            {"type", "function"},
                                            {"function", {{"name", a.tool_call->name}, {"arguments", ""}}}}})}},
              nullptr);
        for (auto& piece : split_even(a.tool_call->arguments, 4)) {
            frame({{"tool_calls", json::array({{{"index", 0}, {"function", {{"arguments", piece}}}}})}}, nullptr);
        }
    } else {
        frame({{"role", "assistant"}, {"content", ""}, {"refusal", nullptr}}, nullptr);
        for (auto& piece : word_pieces(a.text)) {
            frame({{"content", piece}}, nullptr);
        }
    }
    frame(json::object(), finish_reason(a.finish));
    if (include_usage) {
        json c = base;
        c["choices"] = json::array();
        c["usage"] = usage_json(a);
        frames.push_back("data: " + c.dump() + "\n\n");
    }
    frames.emplace_back("data: [DONE]\n\n");
    return frames;
}

}  // namespace

void serve_openai_chat(FakeState& state, const httplib::Request& req, httplib::Response& res, const Dialect& dialect,
                       std::string_view deployment)
{
    bool azure = !deployment.empty();
    json body = json::parse(req.body, nullptr, false);
    if (body.is_discarded() || !body.is_object()) {
        send_error(res, dialect, 400, "We could not parse the JSON body of your request.");
        return;
    }
    if (!azure && (!body.contains("model") || !body["model"].is_string() || body["model"].get<std::string>().empty())) {
        send_error(res, dialect, 400, "you must provide a model parameter");
        return;
    }
    if (!body.contains("messages") || !body["messages"].is_array()) {
        send_error(res, dialect, 400, "Missing required parameter: 'messages'.");
        return;
    }
    Exchange ex;
    try {
        ex = parse_chat(body);
    } catch (const json::exception& e) {
        send_error(res, dialect, 400, std::string("Invalid request body: ") + e.what());
        return;
    }
    if (azure) {
        ex.model = std::string(deployment);  // Azure answers with the deployment's model
    }
    Fault fault = state.faults->pick(req.path, ex.model, request_key(req));
    if (apply_fault_before_answer(res, dialect, fault, ex.stream)) {
        return;
    }
    Answer a = make_answer(ex, "call_fake");
    std::string id = "chatcmpl-fake" + std::to_string(next_id());
    res.set_header(azure ? "apim-request-id" : "x-request-id", "req_fake" + std::to_string(next_id()));
    if (ex.stream) {
        bool include_usage = body.contains("stream_options") && body["stream_options"].is_object() &&
                             body["stream_options"].value("include_usage", false);
        send_answer_stream(res, dialect, fault, completion_frames(ex, a, id, include_usage, azure));
    } else {
        send_answer_body(res, dialect, fault, completion_body(ex, a, id, azure));
    }
}

const Dialect& openai_dialect()
{
    return k_dialect;
}

namespace {

void chat_completions(FakeState& state, const httplib::Request& req, httplib::Response& res)
{
    if (!authorized(req)) {
        send_error(res, k_dialect, 401,
                   "You didn't provide an API key. You need to provide your API key in an Authorization "
                   "header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).");
        return;
    }
    serve_openai_chat(state, req, res, k_dialect, {});
}

const char* const k_models[] = {"gpt-4o",
                                "gpt-4o-mini",
                                "gpt-4.1",
                                "gpt-4.1-mini",
                                "o3-mini",
                                "gpt-5-mini",
                                "text-embedding-3-small",
                                "text-embedding-3-large"};

json model_json(std::string_view id)
{
    return {{"id", id}, {"object", "model"}, {"created", 1715367049}, {"owned_by", "openai"}};
}

void list_models(FakeState& state, const httplib::Request& req, httplib::Response& res)
{
    if (req.has_header("anthropic-version")) {
        anthropic_list_models(state, req, res);
        return;
    }
    if (!authorized(req)) {
        send_error(res, k_dialect, 401);
        return;
    }
    if (apply_fault_before_answer(res, k_dialect, state.faults->pick(req.path, ""), false)) {
        return;
    }
    json data = json::array();
    for (const char* m : k_models) {
        data.push_back(model_json(m));
    }
    send_json(res, 200, json{{"object", "list"}, {"data", std::move(data)}}.dump());
}

void get_model(FakeState&, const httplib::Request& req, httplib::Response& res)
{
    if (!authorized(req) && !req.has_header("x-api-key")) {
        send_error(res, k_dialect, 401);
        return;
    }
    send_json(res, 200, model_json(req.matches[1].str()).dump());
}

}  // namespace

void serve_openai_embeddings(FakeState& state, const httplib::Request& req, httplib::Response& res,
                             const Dialect& dialect, std::string_view deployment)
{
    json body = json::parse(req.body, nullptr, false);
    if (body.is_discarded() || !body.is_object()) {
        send_error(res, dialect, 400, "We could not parse the JSON body of your request.");
        return;
    }
    std::string model = deployment.empty() ? body.value("model", "") : std::string(deployment);
    if (model.empty()) {
        send_error(res, dialect, 400, "you must provide a model parameter");
        return;
    }
    // input: a string, an array of strings, an array of token ids, or an array of those arrays.
    std::vector<std::pair<std::string, long>> inputs;  // text to hash, tokens
    const json& input = body.contains("input") ? body["input"] : json();
    auto add_tokens = [&](const json& arr) { inputs.emplace_back(arr.dump(), static_cast<long>(arr.size())); };
    if (input.is_string()) {
        inputs.emplace_back(input.get<std::string>(), count_words(input.get<std::string>()));
    } else if (input.is_array() && !input.empty() && input[0].is_number()) {
        add_tokens(input);
    } else if (input.is_array() && !input.empty()) {
        for (const auto& item : input) {
            if (item.is_string()) {
                inputs.emplace_back(item.get<std::string>(), count_words(item.get<std::string>()));
            } else if (item.is_array()) {
                add_tokens(item);
            } else {
                send_error(res, dialect, 400, "'input' must be a string, an array of strings or of tokens.");
                return;
            }
        }
    } else {
        send_error(res, dialect, 400, "'input' is a required property and must not be empty.");
        return;
    }
    Fault fault = state.faults->pick(req.path, model);
    if (apply_fault_before_answer(res, dialect, fault, false)) {
        return;
    }
    std::size_t dims = 8;
    if (auto d = body.find("dimensions"); d != body.end() && d->is_number_integer() && d->get<long>() > 0) {
        dims = d->get<std::size_t>();
    }
    bool base64 = body.value("encoding_format", "float") == "base64";
    json data = json::array();
    long tokens = 0;
    for (std::size_t i = 0; i < inputs.size(); ++i) {
        auto vec = embedding_for(inputs[i].first, dims);
        tokens += inputs[i].second;
        json emb = base64 ? json(base64_of_floats(vec)) : json(vec);
        data.push_back({{"object", "embedding"}, {"index", i}, {"embedding", std::move(emb)}});
    }
    tokens = std::max<long>(tokens, 1);
    json out = {{"object", "list"},
                {"data", std::move(data)},
                {"model", model},
                {"usage", {{"prompt_tokens", tokens}, {"total_tokens", tokens}}}};
    send_answer_body(res, dialect, fault, out.dump());
}

namespace {

void embeddings(FakeState& state, const httplib::Request& req, httplib::Response& res)
{
    if (!authorized(req)) {
        send_error(res, k_dialect, 401);
        return;
    }
    serve_openai_embeddings(state, req, res, k_dialect, {});
}

}  // namespace

CompletionText completion_text(const json& body)
{
    const json& p = body["prompt"];
    std::string prompt = p.is_string()                                    ? p.get<std::string>()
                         : p.is_array() && !p.empty() && p[0].is_string() ? p[0].get<std::string>()
                                                                          : p.dump();
    auto last_line = [](std::string_view t) {
        while (!t.empty() && t.back() == '\n') {
            t.remove_suffix(1);
        }
        auto nl = t.rfind('\n');
        return std::string(nl == std::string_view::npos ? t : t.substr(nl + 1));
    };
    std::string text = "Echo: " + last_line(prompt);
    if (auto sfx = body.find("suffix"); sfx != body.end() && sfx->is_string()) {
        std::string_view s = sfx->get_ref<const std::string&>();
        text = "FIM[" + last_line(prompt) + "|" + std::string(s.substr(0, s.find('\n'))) + "]";
    }
    return {std::move(prompt), std::move(text)};
}

namespace {

/// POST /v1/completions (and DeepSeek's FIM, POST /beta/completions, in the same format): the
/// answer is completion_text(); streamed as text_completion chunks, a word each, the usage
/// chunk when stream_options.include_usage asks for it, then [DONE].
void legacy_completions(FakeState& state, const httplib::Request& req, httplib::Response& res)
{
    if (!authorized(req)) {
        send_error(res, k_dialect, 401);
        return;
    }
    json body = json::parse(req.body, nullptr, false);
    if (body.is_discarded() || !body.is_object() || !body.contains("prompt")) {
        send_error(res, k_dialect, 400, "'prompt' is a required property");
        return;
    }
    const std::string model = body.value("model", "");
    auto [prompt, text] = completion_text(body);
    Fault fault = state.faults->pick(req.path, model, request_key(req));
    const bool stream = body.value("stream", false);
    if (apply_fault_before_answer(res, k_dialect, fault, stream)) {
        return;
    }
    const long prompt_tokens = std::max<long>(1, count_words(prompt));
    const long completion_tokens = std::max<long>(1, count_words(text));
    const json usage = {{"prompt_tokens", prompt_tokens},
                        {"completion_tokens", completion_tokens},
                        {"total_tokens", prompt_tokens + completion_tokens}};
    const std::string id = "cmpl-fake" + std::to_string(next_id());
    json base = {{"id", id}, {"object", "text_completion"}, {"created", std::time(nullptr)}, {"model", model}};
    if (!stream) {
        json out = base;
        out["choices"] =
            json::array({{{"text", text}, {"index", 0}, {"logprobs", nullptr}, {"finish_reason", "stop"}}});
        out["usage"] = usage;
        send_answer_body(res, k_dialect, fault, out.dump());
        return;
    }
    std::vector<std::string> frames;
    std::size_t start = 0;
    while (start < text.size()) {
        std::size_t end = text.find(' ', start);
        end = end == std::string::npos ? text.size() : end + 1;
        json c = base;
        c["choices"] = json::array({{{"text", text.substr(start, end - start)},
                                     {"index", 0},
                                     {"logprobs", nullptr},
                                     {"finish_reason", nullptr}}});
        frames.push_back("data: " + c.dump() + "\n\n");
        start = end;
    }
    json last = base;
    last["choices"] = json::array({{{"text", ""}, {"index", 0}, {"logprobs", nullptr}, {"finish_reason", "stop"}}});
    frames.push_back("data: " + last.dump() + "\n\n");
    if (body.contains("stream_options") && body["stream_options"].is_object() &&
        body["stream_options"].value("include_usage", false)) {
        json u = base;
        u["choices"] = json::array();
        u["usage"] = usage;
        frames.push_back("data: " + u.dump() + "\n\n");
    }
    frames.push_back("data: [DONE]\n\n");
    send_answer_stream(res, k_dialect, fault, std::move(frames));
}

}  // namespace

void register_openai(httplib::Server& svr, FakeState& state)
{
    svr.Post(R"((?:/v1)?/completions)", recorded(state, legacy_completions));
    svr.Post("/beta/completions", recorded(state, legacy_completions));  // DeepSeek's FIM (beta)
    svr.Post(R"((?:/v1)?/chat/completions)", recorded(state, chat_completions));
    svr.Post(R"((?:/v1)?/embeddings)", recorded(state, embeddings));
    // Anthropic lists its models on the same path; its requests carry anthropic-version.
    svr.Get(R"((?:/v1)?/models)", recorded(state, list_models));
    svr.Get(R"((?:/v1)?/models/([^/:]+))", recorded(state, get_model));
}

}  // namespace aigw::fake

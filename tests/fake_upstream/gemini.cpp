// Gemini's wire format: /v1beta/models/{model}:generateContent, :streamGenerateContent
// (?alt=sse, or a JSON array without it), :countTokens, :embedContent, :batchEmbedContents,
// and the model list.

#include "tests/fake_upstream/faults.hpp"

namespace aigw::fake {

namespace {

const char* status_name(int status)
{
    switch (status) {
        case 400:
            return "INVALID_ARGUMENT";
        case 401:
            return "UNAUTHENTICATED";
        case 403:
            return "PERMISSION_DENIED";
        case 404:
            return "NOT_FOUND";
        case 429:
            return "RESOURCE_EXHAUSTED";
        case 501:
            return "UNIMPLEMENTED";
        case 503:
        case 529:
            return "UNAVAILABLE";
        case 504:
            return "DEADLINE_EXCEEDED";
        default:
            return status >= 500 ? "INTERNAL" : "FAILED_PRECONDITION";
    }
}

class GeminiDialect final : public Dialect {
public:
    std::string error_body(int status, std::string_view message) const override
    {
        std::string text(message);
        if (text.empty()) {
            switch (status) {
                case 401:
                    text = "Request had invalid authentication credentials.";
                    break;
                case 429:
                    text = "Resource has been exhausted (e.g. check quota).";
                    break;
                case 500:
                    text =
                        "An internal error has occurred. Please retry or report in "
                        "https://developers.generativeai.google/guide/troubleshooting";
                    break;
                case 503:
                case 529:
                    text = "The model is overloaded. Please try again later.";
                    break;
                default:
                    text = "fake-upstream fault " + std::to_string(status);
                    break;
            }
        }
        json err = {{"code", status}, {"message", text}, {"status", status_name(status)}};
        if (status == 429) {
            err["details"] =
                json::array({{{"@type", "type.googleapis.com/google.rpc.RetryInfo"}, {"retryDelay", "1s"}}});
        }
        return json{{"error", std::move(err)}}.dump();
    }
    std::string stream_error_frame() const override { return "data: " + error_body(500, {}) + "\r\n\r\n"; }
    std::string malformed_body() const override { return R"({"candidates": [)"; }
    std::string malformed_frame() const override { return "data: {\"candidates\": [\r\n\r\n"; }
    std::size_t frames_before_cut() const override { return 3; }
};

const GeminiDialect k_dialect;

/// Google's answers: no key at all is 403, an empty key is 400 API_KEY_INVALID.
bool admit_key(const httplib::Request& req, httplib::Response& res)
{
    bool has = req.has_header("x-goog-api-key") || req.has_param("key");
    std::string key =
        req.has_header("x-goog-api-key") ? req.get_header_value("x-goog-api-key") : req.get_param_value("key");
    if (!has) {
        send_error(res, k_dialect, 403,
                   "Method doesn't allow unregistered callers (callers without established identity). "
                   "Please use API Key or other form of API consumer identity to call this API.");
        return false;
    }
    if (key.find_first_not_of(' ') == std::string::npos) {
        json err = {{"error",
                     {{"code", 400},
                      {"message", "API key not valid. Please pass a valid API key."},
                      {"status", "INVALID_ARGUMENT"},
                      {"details", json::array({{{"@type", "type.googleapis.com/google.rpc.ErrorInfo"},
                                                {"reason", "API_KEY_INVALID"},
                                                {"domain", "googleapis.com"}}})}}}};
        send_json(res, 400, err.dump());
        return false;
    }
    return true;
}

const json* field(const json& obj, const char* camel, const char* snake)
{
    if (!obj.is_object()) {
        return nullptr;
    }
    if (auto it = obj.find(camel); it != obj.end()) {
        return &*it;
    }
    if (auto it = obj.find(snake); it != obj.end()) {
        return &*it;
    }
    return nullptr;
}

/// Text of a Content's parts; sets *function_response when a part is a functionResponse.
std::string parts_text(const json& content, bool* function_response = nullptr)
{
    std::string out;
    const json* parts = field(content, "parts", "parts");
    if (!parts || !parts->is_array()) {
        return out;
    }
    for (const auto& part : *parts) {
        std::string piece;
        if (part.contains("text") && part["text"].is_string()) {
            piece = part["text"].get<std::string>();
        } else if (const json* fr = field(part, "functionResponse", "function_response")) {
            if (function_response) {
                *function_response = true;
            }
            piece = fr->contains("response") ? (*fr)["response"].dump() : std::string();
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

struct GeminiRequest {
    Exchange ex;
    bool include_thoughts = false;
};

GeminiRequest parse_generate(const json& body, const std::string& model, bool stream)
{
    GeminiRequest g;
    Exchange& ex = g.ex;
    ex.model = model;
    ex.stream = stream;
    if (const json* sys = field(body, "systemInstruction", "system_instruction")) {
        ex.prompt_words += count_words(parts_text(*sys));
    }
    if (const json* contents = field(body, "contents", "contents"); contents && contents->is_array()) {
        for (const auto& c : *contents) {
            bool fr = false;
            std::string text = parts_text(c, &fr);
            ex.prompt_words += count_words(text);
            std::string role = c.is_object() ? c.value("role", "user") : "user";
            if (role == "user" || role == "function") {
                ex.last_user_text = text;
                ex.last_is_tool_result = fr;
            }
        }
    }
    if (const json* tools = field(body, "tools", "tools"); tools && tools->is_array()) {
        for (const auto& tool : *tools) {
            const json* decls = field(tool, "functionDeclarations", "function_declarations");
            if (!decls || !decls->is_array()) {
                continue;
            }
            for (const auto& d : *decls) {
                const json* params = field(d, "parameters", "parametersJsonSchema");
                if (!params) {
                    params = field(d, "parametersJsonSchema", "parameters_json_schema");
                }
                ex.tools.push_back({d.value("name", ""), params ? *params : json()});
            }
        }
    }
    if (const json* tc = field(body, "toolConfig", "tool_config")) {
        if (const json* fcc = field(*tc, "functionCallingConfig", "function_calling_config")) {
            std::string mode = fcc->value("mode", "AUTO");
            ex.tools_disabled = mode == "NONE";
            ex.tool_required = mode == "ANY";
            const json* allowed = field(*fcc, "allowedFunctionNames", "allowed_function_names");
            if (ex.tool_required && allowed && allowed->is_array() && !allowed->empty()) {
                ex.forced_tool = (*allowed)[0].get<std::string>();
            }
        }
    }
    if (const json* gc = field(body, "generationConfig", "generation_config")) {
        if (const json* mo = field(*gc, "maxOutputTokens", "max_output_tokens"); mo && mo->is_number()) {
            ex.max_output_tokens = mo->get<long>();
        }
        if (const json* mime = field(*gc, "responseMimeType", "response_mime_type");
            mime && *mime == "application/json") {
            ex.json_mode = true;
            if (const json* s = field(*gc, "responseSchema", "response_schema")) {
                ex.json_schema = *s;
            } else if (const json* s2 = field(*gc, "responseJsonSchema", "response_json_schema")) {
                ex.json_schema = *s2;
            }
        }
        if (const json* tc = field(*gc, "thinkingConfig", "thinking_config"); tc && tc->is_object()) {
            const json* budget = field(*tc, "thinkingBudget", "thinking_budget");
            ex.reasoning = !(budget && budget->is_number() && budget->get<long>() == 0);
            const json* inc = field(*tc, "includeThoughts", "include_thoughts");
            g.include_thoughts = ex.reasoning && inc && inc->is_boolean() && inc->get<bool>();
        }
    }
    return g;
}

json usage_json(const Answer& a, bool final)
{
    json u = {{"promptTokenCount", a.prompt_tokens}};
    if (final) {
        u["candidatesTokenCount"] = a.completion_tokens;
        u["totalTokenCount"] = a.prompt_tokens + a.completion_tokens + a.reasoning_tokens;
        if (a.reasoning_tokens > 0) {
            u["thoughtsTokenCount"] = a.reasoning_tokens;
        }
    } else {
        u["totalTokenCount"] = a.prompt_tokens;
    }
    if (a.cached_tokens > 0) {
        u["cachedContentTokenCount"] = a.cached_tokens;
    }
    return u;
}

const char* finish_reason(Finish f)
{
    return f == Finish::length ? "MAX_TOKENS" : "STOP";
}

json response_json(const Exchange& ex, const Answer& a, const std::string& id, json parts, bool final)
{
    json candidate = {{"content", {{"role", "model"}, {"parts", std::move(parts)}}}, {"index", 0}};
    if (final) {
        candidate["finishReason"] = finish_reason(a.finish);
    }
    return {{"candidates", json::array({std::move(candidate)})},
            {"usageMetadata", usage_json(a, final)},
            {"modelVersion", ex.model},
            {"responseId", id}};
}

json answer_parts(const Answer& a)
{
    json parts = json::array();
    if (a.tool_call) {
        parts.push_back(
            {{"functionCall", {{"name", a.tool_call->name}, {"args", json::parse(a.tool_call->arguments)}}}});
    } else {
        parts.push_back({{"text", a.text}});
    }
    return parts;
}

/// The stream as GenerateContentResponse JSON texts, one per chunk.
std::vector<std::string> stream_chunks(const GeminiRequest& g, const Answer& a, const std::string& id)
{
    std::vector<std::string> chunks;
    if (g.include_thoughts) {
        chunks.push_back(
            response_json(g.ex, a, id, json::array({{{"text", a.thinking}, {"thought", true}}}), false).dump());
    }
    if (a.tool_call) {
        chunks.push_back(response_json(g.ex, a, id, answer_parts(a), true).dump());
        return chunks;
    }
    auto pieces = word_pieces(a.text);
    if (pieces.empty()) {
        pieces.emplace_back();
    }
    for (std::size_t i = 0; i < pieces.size(); ++i) {
        bool last = i + 1 == pieces.size();
        chunks.push_back(response_json(g.ex, a, id, json::array({{{"text", pieces[i]}}}), last).dump());
    }
    return chunks;
}

void generate(FakeState& state, const httplib::Request& req, httplib::Response& res, const std::string& model,
              bool stream)
{
    json body = json::parse(req.body, nullptr, false);
    if (body.is_discarded() || !body.is_object()) {
        send_error(res, k_dialect, 400, "Invalid JSON payload received.");
        return;
    }
    const json* contents = field(body, "contents", "contents");
    if (!contents || !contents->is_array() || contents->empty()) {
        send_error(res, k_dialect, 400, "* GenerateContentRequest.contents: contents is not specified");
        return;
    }
    GeminiRequest g;
    try {
        g = parse_generate(body, model, stream);
    } catch (const json::exception& e) {
        send_error(res, k_dialect, 400, std::string("Invalid JSON payload received. ") + e.what());
        return;
    }
    Fault fault = state.faults->pick(req.path, model);
    if (apply_fault_before_answer(res, k_dialect, fault, stream)) {
        return;
    }
    Answer a = make_answer(g.ex, "call_fake");
    std::string id = "fake" + std::to_string(next_id());
    if (!stream) {
        json parts = answer_parts(a);
        if (g.include_thoughts) {
            parts.insert(parts.begin(), json{{"text", a.thinking}, {"thought", true}});
        }
        send_answer_body(res, k_dialect, fault, response_json(g.ex, a, id, std::move(parts), true).dump());
        return;
    }
    std::vector<std::string> frames = stream_chunks(g, a, id);
    if (req.get_param_value("alt") == "sse") {
        for (auto& f : frames) {
            f = "data: " + f + "\r\n\r\n";
        }
        send_answer_stream(res, k_dialect, fault, std::move(frames));
        return;
    }
    // Without alt=sse Gemini streams one JSON array, element by element.
    for (std::size_t i = 0; i < frames.size(); ++i) {
        frames[i].insert(0, i == 0 ? "[" : ",\r\n");
    }
    frames.emplace_back("]");
    send_answer_stream(res, k_dialect, fault, std::move(frames), "application/json");
}

std::size_t dims_of(const json& request)
{
    const json* d = field(request, "outputDimensionality", "output_dimensionality");
    return d && d->is_number_integer() && d->get<long>() > 0 ? d->get<std::size_t>() : 8;
}

void embed(FakeState& state, const httplib::Request& req, httplib::Response& res, const std::string& model, bool batch)
{
    json body = json::parse(req.body, nullptr, false);
    if (body.is_discarded() || !body.is_object()) {
        send_error(res, k_dialect, 400, "Invalid JSON payload received.");
        return;
    }
    std::vector<json> requests;
    if (batch) {
        if (!body.contains("requests") || !body["requests"].is_array()) {
            send_error(res, k_dialect, 400, "* BatchEmbedContentsRequest.requests: requests is not specified");
            return;
        }
        for (const auto& r : body["requests"]) {
            requests.push_back(r);
        }
    } else {
        requests.push_back(body);
    }
    for (const auto& r : requests) {
        if (!r.is_object() || !r.contains("content")) {
            send_error(res, k_dialect, 400, "* EmbedContentRequest.content: content is not specified");
            return;
        }
    }
    Fault fault = state.faults->pick(req.path, model);
    if (apply_fault_before_answer(res, k_dialect, fault, false)) {
        return;
    }
    json embeddings = json::array();
    for (const auto& r : requests) {
        embeddings.push_back({{"values", embedding_for(parts_text(r["content"]), dims_of(r))}});
    }
    json out = batch ? json{{"embeddings", std::move(embeddings)}} : json{{"embedding", embeddings[0]}};
    send_answer_body(res, k_dialect, fault, out.dump());
}

void count_tokens(FakeState& state, const httplib::Request& req, httplib::Response& res, const std::string& model)
{
    json body = json::parse(req.body, nullptr, false);
    if (body.is_discarded() || !body.is_object()) {
        send_error(res, k_dialect, 400, "Invalid JSON payload received.");
        return;
    }
    const json* inner = field(body, "generateContentRequest", "generate_content_request");
    GeminiRequest g = parse_generate(inner ? *inner : body, model, false);
    if (apply_fault_before_answer(res, k_dialect, state.faults->pick(req.path, model), false)) {
        return;
    }
    send_json(res, 200, json{{"totalTokens", std::max<long>(1, g.ex.prompt_words + 3)}}.dump());
}

const char* const k_models[] = {"gemini-2.5-flash", "gemini-2.5-pro", "gemini-2.5-flash-lite", "gemini-embedding-001",
                                "text-embedding-004"};

json model_json(const std::string& id)
{
    bool embedding = id.find("embedding") != std::string::npos;
    return {{"name", "models/" + id},
            {"version", "001"},
            {"displayName", id},
            {"inputTokenLimit", embedding ? 2048 : 1048576},
            {"outputTokenLimit", embedding ? 1 : 65536},
            {"supportedGenerationMethods", embedding ? json::array({"embedContent", "batchEmbedContents"})
                                                     : json::array({"generateContent", "countTokens"})}};
}

void model_method(FakeState& state, const httplib::Request& req, httplib::Response& res)
{
    if (!admit_key(req, res)) {
        return;
    }
    std::string model = req.matches[1].str();
    std::string method = req.matches[2].str();
    if (method == "generateContent") {
        generate(state, req, res, model, false);
    } else if (method == "streamGenerateContent") {
        generate(state, req, res, model, true);
    } else if (method == "embedContent") {
        embed(state, req, res, model, false);
    } else if (method == "batchEmbedContents") {
        embed(state, req, res, model, true);
    } else if (method == "countTokens") {
        count_tokens(state, req, res, model);
    } else {
        send_error(res, k_dialect, 404, "Method not found: " + method);
    }
}

void list_models(FakeState& state, const httplib::Request& req, httplib::Response& res)
{
    if (!admit_key(req, res)) {
        return;
    }
    if (apply_fault_before_answer(res, k_dialect, state.faults->pick(req.path, ""), false)) {
        return;
    }
    json models = json::array();
    for (const char* m : k_models) {
        models.push_back(model_json(m));
    }
    send_json(res, 200, json{{"models", std::move(models)}}.dump());
}

void get_model(FakeState&, const httplib::Request& req, httplib::Response& res)
{
    if (!admit_key(req, res)) {
        return;
    }
    send_json(res, 200, model_json(req.matches[1].str()).dump());
}

}  // namespace

void register_gemini(httplib::Server& svr, FakeState& state)
{
    svr.Post(R"(/v1(?:beta)?/models/([^/:]+):([A-Za-z]+))", recorded(state, model_method));
    // GET /v1/models belongs to OpenAI (and Anthropic); Gemini lists under /v1beta only.
    svr.Get(R"(/v1beta/models)", recorded(state, list_models));
    svr.Get(R"(/v1beta/models/([^/:]+))", recorded(state, get_model));
}

}  // namespace aigw::fake

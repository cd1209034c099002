#include "daemon/surfaces/gemini/translate.hpp"

#include "daemon/providers/json_access.hpp"
#include "shared/wire/json_text.hpp"
#include "shared/wire/ascii.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <ctime>
#include <deque>

namespace aigw::daemon::surfaces::gemini {

using nlohmann::json;
using providers::string_at;

namespace {

/// The REST API takes both spellings of every field (proto3 JSON): camelCase, then snake_case.
const json* field(const json& obj, const char* camel, const char* snake = nullptr)
{
    if (!obj.is_object()) {
        return nullptr;
    }
    if (auto it = obj.find(camel); it != obj.end() && !it->is_null()) {
        return &*it;
    }
    if (snake != nullptr) {
        if (auto it = obj.find(snake); it != obj.end() && !it->is_null()) {
            return &*it;
        }
    }
    return nullptr;
}

wire::Failure unsupported(std::string what, std::string param)
{
    return wire::bad_request(what + " has no equivalent outside Gemini models; use a gemini/ model or leave it out.",
                             std::move(param));
}

/// The text of a Content (or a bare string) as one string, parts joined by newlines.
std::string text_of(const json& content)
{
    if (content.is_string()) {
        return content.get<std::string>();
    }
    std::string out;
    const json* parts = field(content, "parts");
    if (parts == nullptr || !parts->is_array()) {
        return out;
    }
    for (const auto& p : *parts) {
        if (const json* t = field(p, "text"); t != nullptr && t->is_string()) {
            if (!out.empty()) {
                out += "\n";
            }
            out += t->get<std::string>();
        }
    }
    return out;
}

/// An inlineData / fileData part -> an OpenAI content part.
std::expected<json, wire::Failure> media_part(const json& part, const std::string& param)
{
    if (const json* inline_data = field(part, "inlineData", "inline_data")) {
        std::string mime = wire::ascii_lower(string_at(*inline_data, "mimeType"));
        if (mime.empty()) {
            mime = wire::ascii_lower(string_at(*inline_data, "mime_type"));
        }
        std::string data = string_at(*inline_data, "data");
        if (mime.starts_with("image/")) {
            return json{{"type", "image_url"}, {"image_url", {{"url", "data:" + mime + ";base64," + data}}}};
        }
        if (mime == "audio/wav" || mime == "audio/x-wav" || mime == "audio/mp3" || mime == "audio/mpeg") {
            return json{
                {"type", "input_audio"},
                {"input_audio", {{"data", data}, {"format", mime.find("wav") != std::string::npos ? "wav" : "mp3"}}}};
        }
        return json{{"type", "file"}, {"file", {{"file_data", "data:" + mime + ";base64," + data}}}};
    }
    const json* file_data = field(part, "fileData", "file_data");
    std::string mime = wire::ascii_lower(string_at(*file_data, "mimeType"));
    std::string uri = string_at(*file_data, "fileUri");
    if (uri.empty()) {
        uri = string_at(*file_data, "file_uri");
    }
    if ((uri.starts_with("http://") || uri.starts_with("https://")) && (mime.empty() || mime.starts_with("image/"))) {
        return json{{"type", "image_url"}, {"image_url", {{"url", uri}}}};
    }
    return std::unexpected(unsupported("A fileData part other than an http(s) image URL", param));
}

/// Numbers tool calls that came without an id and pairs each functionResponse with its call.
class CallIds {
public:
    std::string call(const json& fc)
    {
        std::string id = string_at(fc, "id");
        if (id.empty()) {
            id = "call_" + std::to_string(m_next++);
        }
        m_open[string_at(fc, "name")].push_back(id);
        return id;
    }
    std::string response(const json& fr)
    {
        std::string name = string_at(fr, "name");
        auto& open = m_open[name];
        std::string id = string_at(fr, "id");
        if (!id.empty()) {
            std::erase(open, id);
            return id;
        }
        if (open.empty()) {
            return "call_" + std::to_string(m_next++);  // answers no call we saw; the provider decides
        }
        id = open.front();
        open.pop_front();
        return id;
    }

private:
    int m_next = 0;
    std::map<std::string, std::deque<std::string>> m_open;
};

/// One Content -> canonical messages appended to `messages`.
std::expected<void, wire::Failure> add_content(const json& content, std::size_t i, CallIds& ids, json& messages)
{
    const std::string param = "contents[" + std::to_string(i) + "]";
    if (!content.is_object()) {
        return std::unexpected(wire::bad_request(param + " must be an object with role and parts.", param));
    }
    std::string role = string_at(content, "role");
    if (role.empty()) {
        role = "user";
    }
    const json* parts = field(content, "parts");
    if (parts == nullptr || !parts->is_array()) {
        return std::unexpected(wire::bad_request(param + ".parts must be an array.", param + ".parts"));
    }
    const bool model = role == "model" || role == "assistant";
    if (!model && role != "user" && role != "function" && role != "tool") {
        return std::unexpected(
            wire::bad_request(param + ".role must be 'user' or 'model' (got '" + role + "').", param + ".role"));
    }
    json user_parts = json::array();
    json tool_messages = json::array();
    std::string text;
    json tool_calls = json::array();
    for (std::size_t k = 0; k < parts->size(); ++k) {
        const json& part = (*parts)[k];
        const std::string pparam = param + ".parts[" + std::to_string(k) + "]";
        if (!part.is_object()) {
            return std::unexpected(wire::bad_request(pparam + " must be an object.", pparam));
        }
        if (const json* t = field(part, "text"); t != nullptr && t->is_string()) {
            if (providers::bool_at(part, "thought")) {
                continue;  // the model's earlier thoughts: no canonical slot, and not needed to go on
            }
            if (model) {
                text += t->get<std::string>();
            } else {
                user_parts.push_back({{"type", "text"}, {"text", *t}});
            }
        } else if (const json* fc = field(part, "functionCall", "function_call")) {
            if (!model) {
                return std::unexpected(
                    wire::bad_request(pparam + ": functionCall parts belong in 'model' turns.", pparam));
            }
            const json* args = field(*fc, "args");
            tool_calls.push_back({{"id", ids.call(*fc)},
                                  {"type", "function"},
                                  {"function",
                                   {{"name", string_at(*fc, "name")},
                                    {"arguments", wire::dump_json(args != nullptr ? *args : json::object())}}}});
        } else if (const json* fr = field(part, "functionResponse", "function_response")) {
            const json* response = field(*fr, "response");
            tool_messages.push_back({{"role", "tool"},
                                     {"tool_call_id", ids.response(*fr)},
                                     {"name", string_at(*fr, "name")},
                                     {"content", wire::dump_json(response != nullptr ? *response : json::object())}});
        } else if (field(part, "inlineData", "inline_data") != nullptr ||
                   field(part, "fileData", "file_data") != nullptr) {
            if (model) {
                return std::unexpected(unsupported("Media in a 'model' turn", pparam));
            }
            auto m = media_part(part, pparam);
            if (!m) {
                return std::unexpected(std::move(m.error()));
            }
            user_parts.push_back(std::move(*m));
        } else if (field(part, "executableCode", "executable_code") != nullptr ||
                   field(part, "codeExecutionResult", "code_execution_result") != nullptr) {
            return std::unexpected(unsupported("Code execution", pparam));
        } else if (field(part, "thoughtSignature", "thought_signature") == nullptr) {
            return std::unexpected(wire::bad_request(
                pparam + " has no text, inlineData, fileData, functionCall or functionResponse.", pparam));
        }
    }
    if (model) {
        if (text.empty() && tool_calls.empty()) {
            return {};  // only thoughts
        }
        json msg = {{"role", "assistant"}, {"content", text.empty() && !tool_calls.empty() ? json() : json(text)}};
        if (!tool_calls.empty()) {
            msg["tool_calls"] = std::move(tool_calls);
        }
        messages.push_back(std::move(msg));
        return {};
    }
    // Tool results first: they must follow the assistant turn that made the calls.
    for (auto& t : tool_messages) {
        messages.push_back(std::move(t));
    }
    if (user_parts.size() == 1 && user_parts[0]["type"] == "text") {
        messages.push_back({{"role", "user"}, {"content", user_parts[0]["text"]}});
    } else if (!user_parts.empty()) {
        messages.push_back({{"role", "user"}, {"content", std::move(user_parts)}});
    }
    return {};
}

std::expected<void, wire::Failure> add_tools(const json& tools, json& out)
{
    if (!tools.is_array()) {
        return std::unexpected(wire::bad_request("tools must be an array.", "tools"));
    }
    json canonical = json::array();
    for (std::size_t i = 0; i < tools.size(); ++i) {
        const json& tool = tools[i];
        const std::string param = "tools[" + std::to_string(i) + "]";
        if (!tool.is_object()) {
            return std::unexpected(wire::bad_request(param + " must be an object.", param));
        }
        for (auto it = tool.begin(); it != tool.end(); ++it) {
            if (it.key() != "functionDeclarations" && it.key() != "function_declarations") {
                return std::unexpected(unsupported("The tool '" + it.key() + "'", param + "." + it.key()));
            }
        }
        const json* decls = field(tool, "functionDeclarations", "function_declarations");
        if (decls == nullptr) {
            continue;
        }
        if (!decls->is_array()) {
            return std::unexpected(wire::bad_request(param + ".functionDeclarations must be an array.", param));
        }
        for (const auto& d : *decls) {
            json fn = {{"name", string_at(d, "name")}};
            if (auto desc = string_at(d, "description"); !desc.empty()) {
                fn["description"] = desc;
            }
            if (const json* schema = field(d, "parametersJsonSchema", "parameters_json_schema")) {
                fn["parameters"] = *schema;
            } else if (const json* params = field(d, "parameters")) {
                fn["parameters"] = json_schema_from_gemini(*params);
            } else {
                fn["parameters"] = {{"type", "object"}, {"properties", json::object()}};
            }
            canonical.push_back({{"type", "function"}, {"function", std::move(fn)}});
        }
    }
    if (!canonical.empty()) {
        out["tools"] = std::move(canonical);
    }
    return {};
}

void add_tool_config(const json& tool_config, json& out)
{
    const json* fcc = field(tool_config, "functionCallingConfig", "function_calling_config");
    if (fcc == nullptr || !out.contains("tools")) {
        return;
    }
    const std::string mode = string_at(*fcc, "mode");
    const json* allowed = field(*fcc, "allowedFunctionNames", "allowed_function_names");
    if (mode == "NONE") {
        out["tool_choice"] = "none";
    } else if (mode == "ANY" || mode == "VALIDATED") {
        if (allowed != nullptr && allowed->is_array() && allowed->size() == 1 && (*allowed)[0].is_string()) {
            out["tool_choice"] = {{"type", "function"}, {"function", {{"name", (*allowed)[0]}}}};
        } else {
            out["tool_choice"] = "required";
        }
    } else if (mode == "AUTO") {
        out["tool_choice"] = "auto";
    }
    // Several allowed names: the canonical form cannot name a subset, so offer only those tools.
    if (allowed != nullptr && allowed->is_array() && allowed->size() > 1) {
        json kept = json::array();
        for (const auto& t : out["tools"]) {
            if (std::find(allowed->begin(), allowed->end(), t["function"]["name"]) != allowed->end()) {
                kept.push_back(t);
            }
        }
        out["tools"] = std::move(kept);
    }
}

std::expected<void, wire::Failure> add_generation_config(const json& gc, json& out)
{
    if (!gc.is_object()) {
        return std::unexpected(wire::bad_request("generationConfig must be an object.", "generationConfig"));
    }
    auto copy_number = [&](const char* camel, const char* snake, const char* to) {
        if (const json* v = field(gc, camel, snake); v != nullptr && v->is_number()) {
            out[to] = *v;
        }
    };
    copy_number("temperature", nullptr, "temperature");
    copy_number("topP", "top_p", "top_p");
    copy_number("topK", "top_k", "top_k");
    copy_number("maxOutputTokens", "max_output_tokens", "max_tokens");
    copy_number("presencePenalty", "presence_penalty", "presence_penalty");
    copy_number("frequencyPenalty", "frequency_penalty", "frequency_penalty");
    copy_number("seed", nullptr, "seed");
    if (const json* n = field(gc, "candidateCount", "candidate_count"); n != nullptr && n->is_number_integer()) {
        if (n->get<std::int64_t>() > 1) {
            out["n"] = *n;
        }
    }
    if (const json* stop = field(gc, "stopSequences", "stop_sequences"); stop != nullptr && stop->is_array()) {
        if (!stop->empty()) {
            out["stop"] = *stop;
        }
    }
    if (const json* lp = field(gc, "responseLogprobs", "response_logprobs"); lp != nullptr && lp->is_boolean()) {
        out["logprobs"] = *lp;
        if (const json* top = field(gc, "logprobs"); top != nullptr && top->is_number_integer()) {
            out["top_logprobs"] = *top;
        }
    }
    if (const json* modalities = field(gc, "responseModalities", "response_modalities"); modalities != nullptr) {
        if (modalities->is_array()) {
            for (const auto& m : *modalities) {
                if (!m.is_string() || wire::ascii_lower(m.get<std::string>()) != "text") {
                    return std::unexpected(
                        unsupported("responseModalities other than TEXT", "generationConfig.responseModalities"));
                }
            }
        }
    }
    if (field(gc, "speechConfig", "speech_config") != nullptr) {
        return std::unexpected(unsupported("speechConfig (audio output)", "generationConfig.speechConfig"));
    }
    const std::string mime = [&] {
        const json* m = field(gc, "responseMimeType", "response_mime_type");
        return m != nullptr && m->is_string() ? m->get<std::string>() : std::string();
    }();
    const json* json_schema = field(gc, "responseJsonSchema", "response_json_schema");
    if (json_schema == nullptr) {
        json_schema = field(gc, "_responseJsonSchema");
    }
    const json* schema = field(gc, "responseSchema", "response_schema");
    if (mime == "application/json" || json_schema != nullptr || schema != nullptr) {
        if (json_schema != nullptr) {
            out["response_format"] = {{"type", "json_schema"},
                                      {"json_schema", {{"name", "response"}, {"schema", *json_schema}}}};
        } else if (schema != nullptr) {
            out["response_format"] = {
                {"type", "json_schema"},
                {"json_schema", {{"name", "response"}, {"schema", json_schema_from_gemini(*schema)}}}};
        } else {
            out["response_format"] = {{"type", "json_object"}};
        }
    } else if (!mime.empty() && mime != "text/plain") {
        return std::unexpected(unsupported("responseMimeType '" + mime + "'", "generationConfig.responseMimeType"));
    }
    if (const json* tc = field(gc, "thinkingConfig", "thinking_config"); tc != nullptr && tc->is_object()) {
        // A budget of 0 (no thinking) is left out: most models that do not think reject any
        // reasoning setting at all. A dynamic budget (-1) is a medium effort.
        if (auto level = wire::ascii_lower(string_at(*tc, "thinkingLevel")); !level.empty()) {
            out["reasoning_effort"] = level;
        } else if (const json* b = field(*tc, "thinkingBudget", "thinking_budget"); b != nullptr && b->is_number()) {
            const auto budget = b->get<std::int64_t>();
            if (budget < 0) {
                out["reasoning_effort"] = "medium";
            } else if (budget > 0) {
                out["reasoning_effort"] = budget <= 2048 ? "low" : budget <= 8192 ? "medium" : "high";
            }
        }
    }
    return {};
}

json parts_json(const json& message)
{
    json parts = json::array();
    for (const char* key : {"reasoning_content", "reasoning"}) {
        if (auto r = string_at(message, key); !r.empty()) {
            parts.push_back({{"text", r}, {"thought", true}});
            break;
        }
    }
    if (auto t = string_at(message, "content"); !t.empty()) {
        parts.push_back({{"text", t}});
    } else if (auto refusal = string_at(message, "refusal"); !refusal.empty()) {
        parts.push_back({{"text", refusal}});
    }
    if (const json& calls = providers::array_at(message, "tool_calls"); !calls.empty()) {
        for (const auto& tc : calls) {
            const json& fn = providers::object_at(tc, "function");
            std::string args = string_at(fn, "arguments");
            json parsed = args.empty() ? json::object() : wire::parse_json_lenient(args);
            if (parsed.is_discarded() || !parsed.is_object()) {
                parsed = {{"arguments", args}};  // not an object: Gemini's args must be one
            }
            json call = {{"name", string_at(fn, "name")}, {"args", std::move(parsed)}};
            if (auto id = string_at(tc, "id"); !id.empty()) {
                call["id"] = id;
            }
            parts.push_back({{"functionCall", std::move(call)}});
        }
    }
    return parts;
}

}  // namespace

std::optional<ModelCall> parse_model_call(std::string_view rest)
{
    const auto colon = rest.rfind(':');
    if (colon == std::string_view::npos || colon == 0 || colon + 1 == rest.size()) {
        return std::nullopt;
    }
    return ModelCall{std::string(rest.substr(0, colon)), std::string(rest.substr(colon + 1))};
}

json json_schema_from_gemini(const json& schema)
{
    if (!schema.is_object()) {
        return schema;
    }
    json out = json::object();
    bool nullable = false;
    for (auto it = schema.begin(); it != schema.end(); ++it) {
        const std::string& key = it.key();
        if (key == "type" && it->is_string()) {
            std::string t = wire::ascii_lower(it->get<std::string>());
            if (t != "type_unspecified") {
                out["type"] = t;
            }
        } else if (key == "nullable") {
            nullable = it->is_boolean() && it->get<bool>();
        } else if (key == "properties" && it->is_object()) {
            json props = json::object();
            for (auto p = it->begin(); p != it->end(); ++p) {
                props[p.key()] = json_schema_from_gemini(*p);
            }
            out["properties"] = std::move(props);
        } else if (key == "items") {
            out["items"] = json_schema_from_gemini(*it);
        } else if (key == "anyOf" && it->is_array()) {
            json alts = json::array();
            for (const auto& a : *it) {
                alts.push_back(json_schema_from_gemini(a));
            }
            out["anyOf"] = std::move(alts);
        } else if (key == "propertyOrdering" || key == "example") {
            continue;  // Gemini-only hints
        } else if ((key == "minItems" || key == "maxItems" || key == "minLength" || key == "maxLength" ||
                    key == "minProperties" || key == "maxProperties") &&
                   it->is_string()) {
            // int64 fields come as strings in proto JSON: "1" -> 1.
            const std::string& text = it->get_ref<const std::string&>();
            std::int64_t v = 0;
            auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
            out[key] = ec == std::errc{} && p == text.data() + text.size() ? json(v) : *it;
        } else {
            out[key] = *it;
        }
    }
    if (nullable && out.contains("type") && out["type"].is_string()) {
        out["type"] = json::array({out["type"], "null"});
    }
    return out;
}

std::expected<json, wire::Failure> request_to_canonical(const json& request)
{
    if (!request.is_object()) {
        return std::unexpected(wire::bad_request("The request body must be a JSON object.", "contents"));
    }
    if (field(request, "cachedContent", "cached_content") != nullptr) {
        return std::unexpected(unsupported("cachedContent", "cachedContent"));
    }
    json out = {{"messages", json::array()}};
    json& messages = out["messages"];
    if (const json* sys = field(request, "systemInstruction", "system_instruction")) {
        if (std::string text = text_of(*sys); !text.empty()) {
            messages.push_back({{"role", "system"}, {"content", std::move(text)}});
        }
    }
    const json* contents = field(request, "contents");
    if (contents == nullptr || !contents->is_array() || contents->empty()) {
        return std::unexpected(
            wire::bad_request("* GenerateContentRequest.contents: contents is not specified", "contents"));
    }
    CallIds ids;
    for (std::size_t i = 0; i < contents->size(); ++i) {
        if (auto ok = add_content((*contents)[i], i, ids, messages); !ok) {
            return std::unexpected(std::move(ok.error()));
        }
    }
    if (const json* tools = field(request, "tools")) {
        if (auto ok = add_tools(*tools, out); !ok) {
            return std::unexpected(std::move(ok.error()));
        }
    }
    if (const json* tc = field(request, "toolConfig", "tool_config")) {
        add_tool_config(*tc, out);
    }
    if (const json* gc = field(request, "generationConfig", "generation_config")) {
        if (auto ok = add_generation_config(*gc, out); !ok) {
            return std::unexpected(std::move(ok.error()));
        }
    }
    // safetySettings and labels have no canonical form; they only ever make an answer
    // stricter on Gemini itself, so they are dropped rather than refused.
    return out;
}

std::string finish_reason_to_gemini(std::string_view finish_reason)
{
    if (finish_reason == "length") {
        return "MAX_TOKENS";
    }
    if (finish_reason == "content_filter") {
        return "SAFETY";
    }
    return "STOP";  // stop, tool_calls, function_call
}

json usage_metadata(const wire::Usage& u)
{
    json m = {{"promptTokenCount", u.input_tokens},
              {"candidatesTokenCount", std::max<std::int64_t>(0, u.output_tokens - u.reasoning_tokens)},
              {"totalTokenCount", u.input_tokens + u.output_tokens}};
    if (u.reasoning_tokens > 0) {
        m["thoughtsTokenCount"] = u.reasoning_tokens;
    }
    if (u.cached_tokens > 0) {
        m["cachedContentTokenCount"] = u.cached_tokens;
    }
    return m;
}

json usage_metadata(const json& openai_usage)
{
    return usage_metadata(wire::usage_from_openai(openai_usage));
}

json response_from_canonical(const json& completion, std::string_view model)
{
    json candidates = json::array();
    for (const auto& choice : providers::array_at(completion, "choices")) {
        json parts = parts_json(providers::object_at(choice, "message"));
        if (parts.empty()) {
            parts.push_back({{"text", ""}});
        }
        candidates.push_back({{"content", {{"role", "model"}, {"parts", std::move(parts)}}},
                              {"finishReason", finish_reason_to_gemini(string_at(choice, "finish_reason"))},
                              {"index", providers::int_at(choice, "index")}});
    }
    json out = {{"candidates", std::move(candidates)}, {"modelVersion", model}};
    if (const json* usage = field(completion, "usage"); usage != nullptr && usage->is_object()) {
        out["usageMetadata"] = usage_metadata(*usage);
    }
    if (auto id = string_at(completion, "id"); !id.empty()) {
        out["responseId"] = id;
    }
    return out;
}

json StreamWriter::event(json candidates) const
{
    json e = json::object();
    if (!candidates.is_null()) {
        e["candidates"] = std::move(candidates);
    }
    e["modelVersion"] = m_model;
    if (!m_id.empty()) {
        e["responseId"] = m_id;
    }
    return e;
}

json StreamWriter::final_candidate(int index, Candidate& c) const
{
    json parts = json::array();
    for (const auto& [n, call] : c.calls) {
        json args = call.arguments.empty() ? json::object() : wire::parse_json_lenient(call.arguments);
        if (args.is_discarded() || !args.is_object()) {
            args = {{"arguments", call.arguments}};
        }
        json fc = {{"name", call.name}, {"args", std::move(args)}};
        if (!call.id.empty()) {
            fc["id"] = call.id;
        }
        parts.push_back({{"functionCall", std::move(fc)}});
    }
    if (parts.empty()) {
        parts.push_back({{"text", ""}});
    }
    c.sent_final = true;
    return {{"content", {{"role", "model"}, {"parts", std::move(parts)}}},
            {"finishReason", finish_reason_to_gemini(c.finish)},
            {"index", index}};
}

std::vector<json> StreamWriter::flush_finished(const json* usage)
{
    std::vector<json> out;
    json candidates = json::array();
    for (auto& [index, c] : m_candidates) {
        if (!c.finish.empty() && !c.sent_final) {
            candidates.push_back(final_candidate(index, c));
        }
    }
    if (candidates.empty() && usage == nullptr) {
        return out;
    }
    json e = event(candidates.empty() ? json() : std::move(candidates));
    if (usage != nullptr) {
        e["usageMetadata"] = *usage;
    }
    out.push_back(std::move(e));
    return out;
}

std::vector<json> StreamWriter::on_chunk(const json& chunk)
{
    std::vector<json> out;
    if (m_done) {
        return out;
    }
    if (m_id.empty()) {
        m_id = string_at(chunk, "id");
    }
    json candidates = json::array();
    for (const auto& choice : providers::array_at(chunk, "choices")) {
        const int index = static_cast<int>(providers::int_at(choice, "index"));
        Candidate& c = m_candidates[index];
        const json& delta = providers::object_at(choice, "delta");
        json parts = json::array();
        for (const char* key : {"reasoning_content", "reasoning"}) {
            if (auto r = string_at(delta, key); !r.empty()) {
                parts.push_back({{"text", r}, {"thought", true}});
                break;
            }
        }
        if (auto t = string_at(delta, "content"); !t.empty()) {
            parts.push_back({{"text", t}});
        }
        for (const auto& tc : providers::array_at(delta, "tool_calls")) {
            PendingCall& call = c.calls[static_cast<int>(providers::int_at(tc, "index"))];
            if (auto id = string_at(tc, "id"); !id.empty()) {
                call.id = id;
            }
            const json& fn = providers::object_at(tc, "function");
            if (auto name = string_at(fn, "name"); !name.empty()) {
                call.name = name;
            }
            call.arguments += string_at(fn, "arguments");
        }
        if (!parts.empty()) {
            candidates.push_back({{"content", {{"role", "model"}, {"parts", std::move(parts)}}}, {"index", index}});
        }
        if (auto finish = string_at(choice, "finish_reason"); !finish.empty()) {
            c.finish = finish;
        }
    }
    if (!candidates.empty()) {
        out.push_back(event(std::move(candidates)));
    }
    // The usage-only chunk comes after every finish_reason: the final event goes out with it.
    if (const json* usage = field(chunk, "usage"); usage != nullptr && usage->is_object()) {
        json meta = usage_metadata(*usage);
        for (auto& e : flush_finished(&meta)) {
            out.push_back(std::move(e));
        }
        m_done = true;
    }
    return out;
}

std::vector<json> StreamWriter::finish(const wire::Usage& usage)
{
    if (m_done) {
        return {};
    }
    m_done = true;
    json meta = usage_metadata(usage);
    return flush_finished(usage.reported ? &meta : nullptr);
}

std::string frame_event(const json& event, bool sse, bool first)
{
    if (sse) {
        return "data: " + wire::dump_json(event) + "\r\n\r\n";
    }
    return (first ? "[" : ",\r\n") + wire::dump_json(event);
}

json error_event(const wire::Failure& failure)
{
    return wire::to_gemini_error(failure);
}

std::expected<void, wire::Failure> JsonArrayStreamDecoder::feed(std::string_view bytes,
                                                                std::vector<wire::SseEvent>& out)
{
    for (char ch : bytes) {
        if (m_depth >= 2) {
            m_element += ch;
            if (m_in_string) {
                if (m_escape) {
                    m_escape = false;
                } else if (ch == '\\') {
                    m_escape = true;
                } else if (ch == '"') {
                    m_in_string = false;
                }
                continue;
            }
            if (ch == '"') {
                m_in_string = true;
            } else if (ch == '{' || ch == '[') {
                ++m_depth;
            } else if (ch == '}' || ch == ']') {
                if (--m_depth == 1) {
                    wire::SseEvent ev;
                    ev.data = std::move(m_element);
                    m_element.clear();
                    out.push_back(std::move(ev));
                }
            }
            continue;
        }
        if (ch == '[' && m_depth == 0) {
            m_depth = 1;
        } else if (ch == ']' && m_depth == 1) {
            m_depth = 0;
            if (m_closed) {
                *m_closed = true;
            }
        } else if ((ch == '{' || ch == '[') && m_depth == 1) {
            m_depth = 2;
            m_element = ch;
        } else if (ch == '{' && m_depth == 0) {
            // An error answered as a bare object instead of an array element.
            m_depth = 2;
            m_element = ch;
        }
        // Whitespace and the commas between elements are skipped.
    }
    return {};
}

void JsonArrayStreamDecoder::finish(std::vector<wire::SseEvent>&)
{}

std::expected<json, wire::Failure> embed_request_to_canonical(const json& request, bool batch)
{
    auto text_input = [](const json& r, const std::string& param) -> std::expected<std::string, wire::Failure> {
        const json* content = field(r, "content");
        if (content == nullptr || !content->is_object()) {
            return std::unexpected(
                wire::bad_request("* EmbedContentRequest.content: content is not specified", param + "content"));
        }
        for (const auto& p : providers::array_at(*content, "parts")) {
            if (field(p, "text") == nullptr) {
                return std::unexpected(unsupported("Embedding a part that is not text", param + "content.parts"));
            }
        }
        return text_of(*content);
    };
    json out = json::object();
    const json* dims = nullptr;
    if (batch) {
        const json* requests = field(request, "requests");
        if (requests == nullptr || !requests->is_array() || requests->empty()) {
            return std::unexpected(
                wire::bad_request("* BatchEmbedContentsRequest.requests: requests is not specified", "requests"));
        }
        json input = json::array();
        for (std::size_t i = 0; i < requests->size(); ++i) {
            auto text = text_input((*requests)[i], "requests[" + std::to_string(i) + "].");
            if (!text) {
                return std::unexpected(std::move(text.error()));
            }
            input.push_back(std::move(*text));
        }
        out["input"] = std::move(input);
        dims = field((*requests)[0], "outputDimensionality", "output_dimensionality");
    } else {
        auto text = text_input(request, "");
        if (!text) {
            return std::unexpected(std::move(text.error()));
        }
        out["input"] = std::move(*text);
        dims = field(request, "outputDimensionality", "output_dimensionality");
    }
    if (dims != nullptr && dims->is_number_integer()) {
        out["dimensions"] = *dims;
    }
    return out;
}

json embed_response_from_canonical(const json& list, bool batch)
{
    json embeddings = json::array();
    for (const auto& item : providers::array_at(list, "data")) {
        embeddings.push_back({{"values", providers::array_at(item, "embedding")}});
    }
    if (batch) {
        return {{"embeddings", std::move(embeddings)}};
    }
    return {{"embedding", embeddings.empty() ? json{{"values", json::array()}} : embeddings[0]}};
}

std::int64_t estimate_tokens(const json& request)
{
    const json* inner = field(request, "generateContentRequest", "generate_content_request");
    const json& r = inner != nullptr ? *inner : request;
    std::size_t chars = 0;
    for (const char* key : {"contents", "systemInstruction", "system_instruction", "tools"}) {
        if (const json* f = field(r, key)) {
            chars += wire::json_text_size(*f);
        }
    }
    return static_cast<std::int64_t>((chars + 3) / 4);
}

}  // namespace aigw::daemon::surfaces::gemini

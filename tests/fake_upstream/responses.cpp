// OpenAI's Responses API: POST /v1/responses (plain and streamed), GET/DELETE
// /v1/responses/{id}, GET /v1/responses/{id}/input_items, POST /v1/responses/input_tokens,
// POST /v1/responses/compact. Answers come from make_answer() like every other format;
// errors are OpenAI's, faults are the shared ones.
//
// Azure OpenAI serves the same API on its v1 surface (base URL http://127.0.0.1:PORT/openai):
// POST /openai/v1/responses, GET/DELETE /openai/v1/responses/{id}, the deployment in the
// body's `model`, `api-key` (or Bearer) auth, no api-version (only "preview" is accepted, as
// a dated version is refused on /openai/v1 paths).

#include <ctime>
#include <deque>
#include <map>
#include <mutex>

#include "tests/fake_upstream/faults.hpp"

namespace aigw::fake {

namespace {

/// Errors in OpenAI's shape; stream frames as Responses events.
class ResponsesDialect final : public Dialect {
public:
    std::string error_body(int status, std::string_view message) const override
    {
        return openai_dialect().error_body(status, message);
    }
    /// What OpenAI sends when a response fails after it started: created, in_progress, an
    /// `error` event, then response.failed (one "frame" holding the four events).
    std::string stream_error_frame() const override
    {
        const char* message = "The server had an error while processing your request. Sorry about that!";
        json response = {{"id", "resp_fake_error"}, {"object", "response"}, {"created_at", 0},
                         {"status", "in_progress"}, {"error", nullptr},     {"model", ""},
                         {"output", json::array()}, {"usage", nullptr}};
        json failed = response;
        failed["status"] = "failed";
        failed["error"] = {{"code", "server_error"}, {"message", message}};
        auto frame = [](const char* type, long seq, json data) {
            json d = {{"type", type}, {"sequence_number", seq}};
            d.update(data);
            return std::string("event: ") + type + "\ndata: " + d.dump() + "\n\n";
        };
        return frame("response.created", 0, {{"response", response}}) +
               frame("response.in_progress", 1, {{"response", response}}) +
               frame("error", 2, {{"code", "server_error"}, {"message", message}, {"param", nullptr}}) +
               frame("response.failed", 3, {{"response", failed}});
    }
    std::string malformed_body() const override { return R"({"output": [)"; }
    std::string malformed_frame() const override
    {
        return "event: response.output_text.delta\ndata: {\"type\":\"response.output_text.delta\",\"delta\":\n\n";
    }
    // created, in_progress, output_item.added, content_part.added, one delta
    std::size_t frames_before_cut() const override { return 5; }
};

const ResponsesDialect k_dialect;

/// body[key] when it is a boolean, else `fallback` (null counts as absent).
bool bool_at(const json& body, const char* key, bool fallback)
{
    auto it = body.find(key);
    return it != body.end() && it->is_boolean() ? it->get<bool>() : fallback;
}

bool is_azure(const httplib::Request& req)
{
    return req.path.starts_with("/openai/");
}

bool authorized(const httplib::Request& req)
{
    if (is_azure(req) && req.get_header_value("api-key").find_first_not_of(' ') != std::string::npos) {
        return true;
    }
    std::string auth = req.get_header_value("Authorization");
    return auth.size() > 7 && lower(auth.substr(0, 7)) == "bearer " &&
           auth.find_first_not_of(' ', 7) != std::string::npos;
}

/// Stored responses (store != false), for previous_response_id, GET and DELETE.
struct Stored {
    json response;
    json input_items;  // the request's input as items, ids added
};

class ResponseStore {
public:
    static constexpr std::size_t k_capacity = 1000;

    void put(const std::string& id, Stored s)
    {
        std::lock_guard lock(m_mutex);
        if (m_by_id.size() >= k_capacity && !m_order.empty()) {
            m_by_id.erase(m_order.front());
            m_order.pop_front();
        }
        m_by_id[id] = std::move(s);
        m_order.push_back(id);
    }
    std::optional<Stored> get(const std::string& id) const
    {
        std::lock_guard lock(m_mutex);
        auto it = m_by_id.find(id);
        return it == m_by_id.end() ? std::nullopt : std::optional<Stored>(it->second);
    }
    bool erase(const std::string& id)
    {
        std::lock_guard lock(m_mutex);
        return m_by_id.erase(id) > 0;
    }

private:
    mutable std::mutex m_mutex;
    std::map<std::string, Stored> m_by_id;
    std::deque<std::string> m_order;
};

ResponseStore& store()
{
    static ResponseStore s;
    return s;
}

/// Text of a content value: a string or parts with `text` (input_text, output_text, ...).
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

/// The request's input as a list of items (a string input is one user message).
json input_items(const json& body)
{
    json items = json::array();
    const json input = body.contains("input") ? body["input"] : json();
    if (input.is_string()) {
        items.push_back({{"type", "message"},
                         {"role", "user"},
                         {"content", json::array({{{"type", "input_text"}, {"text", input}}})}});
    } else if (input.is_array()) {
        items = input;
    }
    return items;
}

void read_items(const json& items, Exchange& ex)
{
    for (const auto& item : items) {
        if (!item.is_object()) {
            continue;
        }
        std::string type = item.value("type", item.contains("role") ? "message" : "");
        if (type == "message") {
            std::string text = item.contains("content") ? content_text(item["content"]) : std::string();
            ex.prompt_words += count_words(text);
            if (item.value("role", "") == "user") {
                ex.last_user_text = text;
                ex.last_is_tool_result = false;
            }
        } else if (type == "function_call_output" || type == "custom_tool_call_output") {
            std::string text = item.contains("output") ? content_text(item["output"]) : std::string();
            ex.prompt_words += count_words(text);
            ex.last_user_text = text;
            ex.last_is_tool_result = true;
        }
    }
}

json custom_schema()
{
    return {
        {"type", "object"}, {"properties", {{"input", {{"type", "string"}}}}}, {"required", json::array({"input"})}};
}

/// The provider-neutral view of a Responses request (previous items included).
Exchange parse_responses(const json& body, const json& previous_items)
{
    Exchange ex;
    ex.model = body.value("model", "");
    ex.stream = bool_at(body, "stream", false);
    if (auto it = body.find("instructions"); it != body.end() && it->is_string()) {
        ex.prompt_words += count_words(it->get<std::string>());
    }
    read_items(previous_items, ex);
    read_items(input_items(body), ex);
    if (auto t = body.find("tools"); t != body.end() && t->is_array()) {
        for (const auto& tool : *t) {
            std::string type = tool.is_object() ? tool.value("type", "") : "";
            if (type == "function") {
                ex.tools.push_back({tool.value("name", ""), tool.value("parameters", json())});
            } else if (type == "custom") {
                ex.tools.push_back({tool.value("name", ""), custom_schema()});
            }
        }
    }
    if (auto tc = body.find("tool_choice"); tc != body.end()) {
        if (tc->is_string()) {
            ex.tools_disabled = *tc == "none";
            ex.tool_required = *tc == "required";
        } else if (tc->is_object()) {
            ex.forced_tool = tc->value("name", "");
        }
    }
    if (auto mt = body.find("max_output_tokens"); mt != body.end() && mt->is_number()) {
        ex.max_output_tokens = mt->get<long>();
    }
    if (auto text = body.find("text"); text != body.end() && text->is_object() && text->contains("format")) {
        const json& format = (*text)["format"];
        std::string type = format.is_object() ? format.value("type", "") : "";
        if (type == "json_schema" || type == "json_object") {
            ex.json_mode = true;
            ex.json_schema = type == "json_schema" ? format : json();
        }
    }
    if (auto r = body.find("reasoning"); r != body.end() && r->is_object()) {
        auto effort = r->find("effort");
        ex.reasoning = effort != r->end() && effort->is_string() && *effort != "none";
    }
    return ex;
}

bool is_custom_tool(const json& body, const std::string& name)
{
    if (auto t = body.find("tools"); t != body.end() && t->is_array()) {
        for (const auto& tool : *t) {
            if (tool.is_object() && tool.value("type", "") == "custom" && tool.value("name", "") == name) {
                return true;
            }
        }
    }
    return false;
}

bool includes(const json& body, std::string_view what)
{
    if (auto inc = body.find("include"); inc != body.end() && inc->is_array()) {
        for (const auto& v : *inc) {
            if (v.is_string() && v.get<std::string>() == what) {
                return true;
            }
        }
    }
    return false;
}

json usage_json(const Answer& a)
{
    long output = a.completion_tokens + a.reasoning_tokens;
    return {{"input_tokens", a.prompt_tokens},
            {"input_tokens_details", {{"cached_tokens", a.cached_tokens}}},
            {"output_tokens", output},
            {"output_tokens_details", {{"reasoning_tokens", a.reasoning_tokens}}},
            {"total_tokens", a.prompt_tokens + output}};
}

json echo(const json& body, const char* key, json fallback)
{
    auto it = body.find(key);
    return it != body.end() && !it->is_null() ? *it : fallback;
}

/// The response object, echoing the request the way OpenAI does.
json response_json(const json& body, const std::string& id, std::time_t created, const std::string& status, json output,
                   json usage)
{
    json reasoning = {{"effort", nullptr}, {"summary", nullptr}};
    if (auto r = body.find("reasoning"); r != body.end() && r->is_object()) {
        reasoning = {{"effort", echo(*r, "effort", nullptr)}, {"summary", echo(*r, "summary", nullptr)}};
    }
    return {{"id", id},
            {"object", "response"},
            {"created_at", created},
            {"status", status},
            {"background", false},
            {"error", nullptr},
            {"incomplete_details", nullptr},
            {"instructions", echo(body, "instructions", nullptr)},
            {"max_output_tokens", echo(body, "max_output_tokens", nullptr)},
            {"max_tool_calls", nullptr},
            {"model", body.value("model", "")},
            {"output", std::move(output)},
            {"parallel_tool_calls", echo(body, "parallel_tool_calls", true)},
            {"previous_response_id", echo(body, "previous_response_id", nullptr)},
            {"prompt_cache_key", echo(body, "prompt_cache_key", nullptr)},
            {"reasoning", std::move(reasoning)},
            {"safety_identifier", echo(body, "safety_identifier", nullptr)},
            {"service_tier", "default"},
            {"store", echo(body, "store", true)},
            {"temperature", echo(body, "temperature", 1.0)},
            {"text", echo(body, "text", json{{"format", {{"type", "text"}}}})},
            {"tool_choice", echo(body, "tool_choice", "auto")},
            {"tools", echo(body, "tools", json::array())},
            {"top_logprobs", 0},
            {"top_p", echo(body, "top_p", 1.0)},
            {"truncation", echo(body, "truncation", "disabled")},
            {"usage", std::move(usage)},
            {"user", echo(body, "user", nullptr)},
            {"metadata", echo(body, "metadata", json::object())}};
}

json text_part(const std::string& text)
{
    return {{"type", "output_text"}, {"annotations", json::array()}, {"logprobs", json::array()}, {"text", text}};
}

/// The output items of an answer: reasoning (when thinking), then a message or one tool call.
json output_items(const json& body, const Answer& a, const std::string& suffix)
{
    json output = json::array();
    if (!a.thinking.empty()) {
        json item = {{"id", "rs_" + suffix}, {"type", "reasoning"}, {"summary", json::array()}};
        if (auto r = body.find("reasoning");
            r != body.end() && r->is_object() && r->contains("summary") && (*r)["summary"].is_string()) {
            item["summary"].push_back({{"type", "summary_text"}, {"text", a.thinking}});
        }
        if (includes(body, "reasoning.encrypted_content")) {
            item["encrypted_content"] = "fake-encrypted:" + std::to_string(a.reasoning_tokens);
        }
        output.push_back(std::move(item));
    }
    if (a.tool_call) {
        if (is_custom_tool(body, a.tool_call->name)) {
            json args = json::parse(a.tool_call->arguments, nullptr, false);
            std::string input = args.is_object() && args.contains("input") && args["input"].is_string()
                                    ? args["input"].get<std::string>()
                                    : a.tool_call->arguments;
            output.push_back({{"id", "ctc_" + suffix},
                              {"type", "custom_tool_call"},
                              {"status", "completed"},
                              {"call_id", a.tool_call->id},
                              {"name", a.tool_call->name},
                              {"input", input}});
        } else {
            output.push_back({{"id", "fc_" + suffix},
                              {"type", "function_call"},
                              {"status", "completed"},
                              {"arguments", a.tool_call->arguments},
                              {"call_id", a.tool_call->id},
                              {"name", a.tool_call->name}});
        }
    } else {
        output.push_back({{"id", "msg_" + suffix},
                          {"type", "message"},
                          {"status", a.finish == Finish::length ? "incomplete" : "completed"},
                          {"role", "assistant"},
                          {"content", json::array({text_part(a.text)})}});
    }
    return output;
}

/// The documented event sequence for a finished response object.
std::vector<std::string> event_frames(const json& final_response)
{
    std::vector<std::string> frames;
    long seq = 0;
    auto emit = [&](const char* type, json data) {
        json d = {{"type", type}, {"sequence_number", seq++}};
        d.update(data);
        frames.push_back(std::string("event: ") + type + "\ndata: " + d.dump() + "\n\n");
    };
    json start = final_response;
    start["status"] = "in_progress";
    start["output"] = json::array();
    start["usage"] = nullptr;
    start["incomplete_details"] = nullptr;
    emit("response.created", {{"response", start}});
    emit("response.in_progress", {{"response", start}});
    int index = 0;
    for (const auto& item : final_response["output"]) {
        std::string type = item["type"];
        std::string id = item["id"];
        json where = {{"item_id", id}, {"output_index", index}};
        auto at = [&](json extra) {
            json d = where;
            d.update(extra);
            return d;
        };
        json added = item;
        if (type == "reasoning") {
            added["summary"] = json::array();
            added.erase("encrypted_content");
        } else if (type == "message") {
            added["content"] = json::array();
            added["status"] = "in_progress";
        } else if (type == "function_call") {
            added["arguments"] = "";
            added["status"] = "in_progress";
        } else if (type == "custom_tool_call") {
            added["input"] = "";
        }
        emit("response.output_item.added", {{"output_index", index}, {"item", added}});
        if (type == "reasoning") {
            for (const auto& part : item["summary"]) {
                std::string text = part["text"];
                emit("response.reasoning_summary_part.added",
                     at({{"summary_index", 0}, {"part", {{"type", "summary_text"}, {"text", ""}}}}));
                for (const auto& piece : word_pieces(text)) {
                    emit("response.reasoning_summary_text.delta", at({{"summary_index", 0}, {"delta", piece}}));
                }
                emit("response.reasoning_summary_text.done", at({{"summary_index", 0}, {"text", text}}));
                emit("response.reasoning_summary_part.done", at({{"summary_index", 0}, {"part", part}}));
            }
        } else if (type == "message") {
            std::string text = item["content"][0]["text"];
            emit("response.content_part.added", at({{"content_index", 0}, {"part", text_part("")}}));
            for (const auto& piece : word_pieces(text)) {
                emit("response.output_text.delta",
                     at({{"content_index", 0}, {"delta", piece}, {"logprobs", json::array()}}));
            }
            emit("response.output_text.done", at({{"content_index", 0}, {"text", text}, {"logprobs", json::array()}}));
            emit("response.content_part.done", at({{"content_index", 0}, {"part", item["content"][0]}}));
        } else if (type == "function_call") {
            std::string args = item["arguments"];
            for (const auto& piece : split_even(args, 4)) {
                emit("response.function_call_arguments.delta", at({{"delta", piece}}));
            }
            emit("response.function_call_arguments.done", at({{"arguments", args}, {"name", item["name"]}}));
        } else if (type == "custom_tool_call") {
            std::string input = item["input"];
            for (const auto& piece : split_even(input, 4)) {
                emit("response.custom_tool_call_input.delta", at({{"delta", piece}}));
            }
            emit("response.custom_tool_call_input.done", at({{"input", input}}));
        }
        emit("response.output_item.done", {{"output_index", index}, {"item", item}});
        ++index;
    }
    bool incomplete = final_response["status"] == "incomplete";
    emit(incomplete ? "response.incomplete" : "response.completed", {{"response", final_response}});
    return frames;
}

/// Parses and validates a Responses body; sends a 400 and returns nullopt when it is not one.
std::optional<json> parse_body(const httplib::Request& req, httplib::Response& res, bool need_input)
{
    json body = json::parse(req.body, nullptr, false);
    if (body.is_discarded() || !body.is_object()) {
        send_error(res, k_dialect, 400, "We could not parse the JSON body of your request.");
        return std::nullopt;
    }
    if (!body.contains("model") || !body["model"].is_string() || body["model"].get<std::string>().empty()) {
        send_error(res, k_dialect, 400, "you must provide a model parameter");
        return std::nullopt;
    }
    if (need_input && (!body.contains("input") || !(body["input"].is_string() || body["input"].is_array()))) {
        send_error(res, k_dialect, 400, "Missing required parameter: 'input'.");
        return std::nullopt;
    }
    return body;
}

/// Stored input + output items of previous_response_id (and what it chained to), oldest first.
std::optional<json> previous_items(const json& body, httplib::Response& res)
{
    json items = json::array();
    auto it = body.find("previous_response_id");
    if (it == body.end() || it->is_null()) {
        return items;
    }
    std::string id = it->is_string() ? it->get<std::string>() : std::string();
    std::vector<Stored> chain;
    for (int depth = 0; !id.empty() && depth < 100; ++depth) {
        auto s = store().get(id);
        if (!s) {
            send_json(res, 400,
                      json{{"error",
                            {{"message", "Previous response with id '" + id + "' not found."},
                             {"type", "invalid_request_error"},
                             {"param", "previous_response_id"},
                             {"code", "previous_response_not_found"}}}}
                          .dump());
            return std::nullopt;
        }
        json prev = s->response.value("previous_response_id", json());
        chain.push_back(std::move(*s));
        id = prev.is_string() ? prev.get<std::string>() : std::string();
    }
    for (auto c = chain.rbegin(); c != chain.rend(); ++c) {
        for (const auto& item : c->input_items) {
            items.push_back(item);
        }
        for (const auto& item : c->response["output"]) {
            items.push_back(item);
        }
    }
    return items;
}

bool require_auth(const httplib::Request& req, httplib::Response& res)
{
    if (is_azure(req)) {
        if (!authorized(req)) {
            send_json(res, 401,
                      json{{"error",
                            {{"code", "401"},
                             {"message",
                              "Access denied due to invalid subscription key or wrong API endpoint. Make "
                              "sure to provide a valid key for an active subscription and use a correct "
                              "regional API endpoint for your resource."}}}}
                          .dump());
            return false;
        }
        if (std::string v = req.get_param_value("api-version"); !v.empty() && v != "preview") {
            send_json(res, 400,
                      json{{"error",
                            {{"code", "BadRequest"},
                             {"message", "api-version query parameter is not allowed when using /v1 path"}}}}
                          .dump());
            return false;
        }
        return true;
    }
    if (authorized(req)) {
        return true;
    }
    send_error(res, k_dialect, 401,
               "You didn't provide an API key. You need to provide your API key in an Authorization header "
               "using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).");
    return false;
}

void create_response(FakeState& state, const httplib::Request& req, httplib::Response& res)
{
    if (!require_auth(req, res)) {
        return;
    }
    auto body = parse_body(req, res, true);
    if (!body) {
        return;
    }
    auto previous = previous_items(*body, res);
    if (!previous) {
        return;
    }
    Exchange ex;
    try {
        ex = parse_responses(*body, *previous);
    } catch (const json::exception& e) {
        send_error(res, k_dialect, 400, std::string("Invalid request body: ") + e.what());
        return;
    }
    Fault fault = state.faults->pick(req.path, ex.model, request_key(req));
    if (apply_fault_before_answer(res, k_dialect, fault, ex.stream)) {
        return;
    }
    Answer a = make_answer(ex, "call_fake");
    std::string suffix = "fake" + std::to_string(next_id());
    std::string id = "resp_" + suffix;
    json response =
        response_json(*body, id, std::time(nullptr), a.finish == Finish::length ? "incomplete" : "completed",
                      output_items(*body, a, suffix), usage_json(a));
    if (a.finish == Finish::length) {
        response["incomplete_details"] = {{"reason", "max_output_tokens"}};
    }
    if (bool_at(*body, "store", true)) {
        json items = input_items(*body);
        for (std::size_t i = 0; i < items.size(); ++i) {
            if (items[i].is_object() && !items[i].contains("id")) {
                items[i]["id"] = "item_" + suffix + "_" + std::to_string(i);
            }
        }
        store().put(id, {response, std::move(items)});
    }
    res.set_header("x-request-id", "req_fake" + std::to_string(next_id()));
    if (ex.stream) {
        send_answer_stream(res, k_dialect, fault, event_frames(response));
    } else {
        send_answer_body(res, k_dialect, fault, response.dump());
    }
}

void send_not_found(httplib::Response& res, const std::string& id)
{
    send_json(res, 404,
              json{{"error",
                    {{"message", "No response found with id '" + id + "'."},
                     {"type", "invalid_request_error"},
                     {"param", nullptr},
                     {"code", nullptr}}}}
                  .dump());
}

/// GET/DELETE on a stored response: auth, path faults, then the lookup.
std::optional<Stored> stored_for(FakeState& state, const httplib::Request& req, httplib::Response& res)
{
    if (!require_auth(req, res)) {
        return std::nullopt;
    }
    if (apply_fault_before_answer(res, k_dialect, state.faults->pick(req.path, "", request_key(req)), false)) {
        return std::nullopt;
    }
    auto s = store().get(req.matches[1].str());
    if (!s) {
        send_not_found(res, req.matches[1].str());
    }
    return s;
}

void get_response(FakeState& state, const httplib::Request& req, httplib::Response& res)
{
    if (auto s = stored_for(state, req, res)) {
        send_json(res, 200, s->response.dump());
    }
}

void get_input_items(FakeState& state, const httplib::Request& req, httplib::Response& res)
{
    if (auto s = stored_for(state, req, res)) {
        const json& items = s->input_items;
        json out = {{"object", "list"},
                    {"data", items},
                    {"first_id", items.empty() ? json(nullptr) : items.front().value("id", json())},
                    {"last_id", items.empty() ? json(nullptr) : items.back().value("id", json())},
                    {"has_more", false}};
        send_json(res, 200, out.dump());
    }
}

void delete_response(FakeState& state, const httplib::Request& req, httplib::Response& res)
{
    if (auto s = stored_for(state, req, res)) {
        store().erase(req.matches[1].str());
        send_json(res, 200,
                  json{{"id", req.matches[1].str()}, {"object", "response.deleted"}, {"deleted", true}}.dump());
    }
}

void input_tokens(FakeState& state, const httplib::Request& req, httplib::Response& res)
{
    if (!require_auth(req, res)) {
        return;
    }
    auto body = parse_body(req, res, false);
    if (!body) {
        return;
    }
    auto previous = previous_items(*body, res);
    if (!previous) {
        return;
    }
    Exchange ex;
    try {
        ex = parse_responses(*body, *previous);
    } catch (const json::exception& e) {
        send_error(res, k_dialect, 400, std::string("Invalid request body: ") + e.what());
        return;
    }
    Fault fault = state.faults->pick(req.path, ex.model, request_key(req));
    if (apply_fault_before_answer(res, k_dialect, fault, false)) {
        return;
    }
    long tokens = std::max<long>(1, ex.prompt_words + 3);  // as make_answer counts the prompt
    send_answer_body(res, k_dialect, fault, json{{"object", "response.input_tokens"}, {"input_tokens", tokens}}.dump());
}

/// Compaction: every user message of the conversation, then one compaction item.
void compact(FakeState& state, const httplib::Request& req, httplib::Response& res)
{
    if (!require_auth(req, res)) {
        return;
    }
    auto body = parse_body(req, res, false);
    if (!body) {
        return;
    }
    auto previous = previous_items(*body, res);
    if (!previous) {
        return;
    }
    Exchange ex;
    try {
        ex = parse_responses(*body, *previous);
    } catch (const json::exception& e) {
        send_error(res, k_dialect, 400, std::string("Invalid request body: ") + e.what());
        return;
    }
    Fault fault = state.faults->pick(req.path, ex.model, request_key(req));
    if (apply_fault_before_answer(res, k_dialect, fault, false)) {
        return;
    }
    std::string suffix = "fake" + std::to_string(next_id());
    json output = json::array();
    long summarised = 0;
    json all = *previous;
    for (const auto& item : input_items(*body)) {
        all.push_back(item);
    }
    for (const auto& item : all) {
        if (!item.is_object()) {
            continue;
        }
        std::string type = item.value("type", item.contains("role") ? "message" : "");
        if (type == "message" && item.value("role", "") == "user") {
            std::string text = item.contains("content") ? content_text(item["content"]) : std::string();
            output.push_back({{"type", "message"},
                              {"role", "user"},
                              {"content", json::array({{{"type", "input_text"}, {"text", text}}})}});
        } else if (item.contains("content") || item.contains("output") || item.contains("arguments")) {
            ++summarised;
        }
    }
    output.push_back({{"id", "cmp_" + suffix},
                      {"type", "compaction"},
                      {"encrypted_content", "fake-compaction:" + std::to_string(summarised) + "-items"}});
    long prompt = std::max<long>(1, ex.prompt_words + 3);
    json out = {{"id", "resp_" + suffix},
                {"object", "response.compaction"},
                {"created_at", std::time(nullptr)},
                {"output", std::move(output)},
                {"usage",
                 {{"input_tokens", prompt},
                  {"input_tokens_details", {{"cached_tokens", 0}}},
                  {"output_tokens", 1},
                  {"output_tokens_details", {{"reasoning_tokens", 0}}},
                  {"total_tokens", prompt + 1}}}};
    send_answer_body(res, k_dialect, fault, out.dump());
}

}  // namespace

void register_responses(httplib::Server& svr, FakeState& state)
{
    svr.Post(R"((?:/v1)?/responses)", recorded(state, create_response));
    svr.Post(R"((?:/v1)?/responses/input_tokens)", recorded(state, input_tokens));
    svr.Post(R"((?:/v1)?/responses/compact)", recorded(state, compact));
    svr.Get(R"((?:/v1)?/responses/([^/]+)/input_items)", recorded(state, get_input_items));
    svr.Get(R"((?:/v1)?/responses/([^/]+))", recorded(state, get_response));
    svr.Delete(R"((?:/v1)?/responses/([^/]+))", recorded(state, delete_response));
    // Azure OpenAI's v1 surface (create, retrieve, input items, delete).
    svr.Post(R"(/openai/v1/responses)", recorded(state, create_response));
    svr.Get(R"(/openai/v1/responses/([^/]+)/input_items)", recorded(state, get_input_items));
    svr.Get(R"(/openai/v1/responses/([^/]+))", recorded(state, get_response));
    svr.Delete(R"(/openai/v1/responses/([^/]+))", recorded(state, delete_response));
}

}  // namespace aigw::fake

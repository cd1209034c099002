#include "daemon/providers/openai/completions_surface.hpp"

#include "daemon/providers/json_access.hpp"
#include "shared/wire/json_text.hpp"

#include <ctime>

namespace aigw::daemon::providers {

using json = nlohmann::json;

namespace {

/// The prompt as one string; nullopt for token ids or several prompts.
std::optional<std::string> single_prompt(const json& prompt)
{
    if (prompt.is_string()) {
        return prompt.get<std::string>();
    }
    if (prompt.is_array() && prompt.size() == 1 && prompt[0].is_string()) {
        return prompt[0].get<std::string>();
    }
    return std::nullopt;
}

std::string completion_id(std::string_view chat_id)
{
    if (chat_id.starts_with("chatcmpl-")) {
        chat_id.remove_prefix(9);
    }
    return "cmpl-" + std::string(chat_id.empty() ? "aigw" : chat_id);
}

/// chat finish_reason -> completions finish_reason ("stop" | "length" | "content_filter").
json finish_of(const json& finish)
{
    if (!finish.is_string()) {
        return nullptr;
    }
    const auto& f = finish.get_ref<const std::string&>();
    return f == "length" || f == "content_filter" ? json(f) : json("stop");
}

}  // namespace

std::optional<wire::Failure> validate_completions_request(const json& body, bool translated)
{
    if (!body.is_object()) {
        return wire::bad_request("The request body must be a JSON object.");
    }
    auto model = body.find("model");
    if (model == body.end() || !model->is_string() || model->get_ref<const std::string&>().empty()) {
        return wire::bad_request("you must provide a model parameter", "model");
    }
    auto prompt = body.find("prompt");
    if (prompt == body.end() || !(prompt->is_string() || prompt->is_array())) {
        return wire::bad_request("prompt: must be a string or an array of strings.", "prompt");
    }
    if (auto s = body.find("suffix"); s != body.end() && !s->is_null() && !s->is_string()) {
        return wire::bad_request("suffix: must be a string.", "suffix");
    }
    if (auto s = body.find("stream"); s != body.end() && !s->is_null() && !s->is_boolean()) {
        return wire::bad_request("stream: must be true or false.", "stream");
    }
    if (auto m = body.find("max_tokens");
        m != body.end() && !m->is_null() && (!m->is_number_integer() || m->get<std::int64_t>() < 0)) {
        return wire::bad_request("max_tokens: must be a non-negative integer.", "max_tokens");
    }
    if (!translated) {
        return std::nullopt;
    }
    return refuse_beyond_one_text(
        body, " is not supported when the model is reached through chat (it has no completions endpoint)");
}

std::optional<wire::Failure> refuse_beyond_one_text(const json& body, std::string_view why_text)
{
    // One prompt in, one text out; say so rather than drop what was asked.
    const std::string why(why_text);
    if (!single_prompt(field_at(body, "prompt"))) {
        return wire::bad_request("prompt: token ids and several prompts" + why + "; send one string.", "prompt");
    }
    if (bool_at(body, "echo")) {
        return wire::bad_request("echo" + why + ".", "echo");
    }
    if (auto l = body.find("logprobs");
        l != body.end() && !l->is_null() && !(l->is_number() && l->get<double>() == 0)) {
        return wire::bad_request("logprobs" + why + ".", "logprobs");
    }
    for (const char* count : {"n", "best_of"}) {
        if (auto c = body.find(count); c != body.end() && c->is_number() && c->get<double>() > 1) {
            return wire::bad_request(std::string(count) + " > 1" + why + ".", count);
        }
    }
    return std::nullopt;
}

std::expected<json, wire::Failure> completions_to_canonical(const json& body)
{
    if (auto bad = validate_completions_request(body, true)) {
        return std::unexpected(std::move(*bad));
    }
    const std::string prompt = *single_prompt(body["prompt"]);
    json messages = json::array();
    const std::string suffix = string_at(body, "suffix");
    if (!suffix.empty()) {
        // Fill-in-the-middle through a chat model: the instruction keeps the answer to the
        // missing text alone, which is what an editor inserts.
        messages.push_back({{"role", "system"},
                            {"content",
                             "You complete code and text. Reply with only the text that belongs between <prefix> and "
                             "<suffix>: no explanation, no code fences, nothing repeated from either side."}});
        messages.push_back(
            {{"role", "user"}, {"content", "<prefix>" + prompt + "</prefix><suffix>" + suffix + "</suffix>"}});
    } else {
        messages.push_back({{"role", "user"}, {"content", prompt}});
    }
    json out = {{"model", body["model"]}, {"messages", std::move(messages)}};
    for (const char* key : {"max_tokens", "temperature", "top_p", "stop", "presence_penalty", "frequency_penalty",
                            "seed", "user", "logit_bias"}) {
        if (auto v = body.find(key); v != body.end() && !v->is_null()) {
            out[key] = *v;
        }
    }
    if (bool_at(body, "stream")) {
        out["stream"] = true;
        out["stream_options"] = {{"include_usage", true}};
    }
    return out;
}

json canonical_to_completion(const json& chat, std::string_view model)
{
    json choices = json::array();
    for (const auto& c : array_at(chat, "choices")) {
        const json& msg = object_at(c, "message");
        choices.push_back({{"text", string_at(msg, "content")},
                           {"index", int_at(c, "index")},
                           {"logprobs", nullptr},
                           {"finish_reason", finish_of(field_at(c, "finish_reason"))}});
    }
    json out = {{"id", completion_id(string_at(chat, "id"))},
                {"object", "text_completion"},
                {"created", chat.contains("created") ? chat["created"] : json(std::time(nullptr))},
                {"model", std::string(model)},
                {"choices", std::move(choices)}};
    if (auto u = chat.find("usage"); u != chat.end() && u->is_object()) {
        out["usage"] = *u;
    }
    return out;
}

std::optional<json> canonical_chunk_to_completion(const json& chunk, std::string_view model)
{
    json base = {{"id", completion_id(string_at(chunk, "id"))},
                 {"object", "text_completion"},
                 {"created", chunk.contains("created") ? chunk["created"] : json(std::time(nullptr))},
                 {"model", std::string(model)}};
    const json& choices = array_at(chunk, "choices");
    if (choices.empty()) {
        if (auto u = chunk.find("usage"); u != chunk.end() && u->is_object()) {
            base["choices"] = json::array();
            base["usage"] = *u;
            return base;
        }
        return std::nullopt;
    }
    json out = json::array();
    for (const auto& c : choices) {
        const json& delta = object_at(c, "delta");
        const std::string text = string_at(delta, "content");
        const json& finish = field_at(c, "finish_reason");
        if (text.empty() && !finish.is_string()) {
            continue;
        }
        out.push_back({{"text", text},
                       {"index", int_at(c, "index")},
                       {"logprobs", nullptr},
                       {"finish_reason", finish_of(finish)}});
    }
    if (out.empty()) {
        return std::nullopt;
    }
    base["choices"] = std::move(out);
    if (auto u = chunk.find("usage"); u != chunk.end() && u->is_object()) {
        base["usage"] = *u;  // on the last chunk, as Mistral sends it, as the chat surface passes it on
    }
    return base;
}

std::expected<void, wire::Failure> CompletionsStreamTap::on_event(const wire::SseEvent& ev, std::vector<json>& out)
{
    if (ev.data == "[DONE]") {
        m_finished = true;
        return {};
    }
    auto chunk = wire::parse_json_lenient(ev.data);
    if (chunk.is_discarded() || !chunk.is_object()) {
        return std::unexpected(upstream_failure("a completions stream event is not JSON"));
    }
    if (auto err = chunk.find("error"); err != chunk.end() && !err->is_null()) {
        return std::unexpected(openai_adapter().classify_error(500, ev.data, {}));
    }
    if (auto u = chunk.find("usage"); u != chunk.end() && u->is_object()) {
        m_usage = wire::usage_from_openai(*u);
        if (auto bad = wire::check_usage(m_usage)) {
            return std::unexpected(std::move(*bad));
        }
    }
    // The relay reads the canonical form (content seen, text delivered); the surface's
    // writer sends the upstream's own chunk.
    json choices = json::array();
    for (const auto& c : array_at(chunk, "choices")) {
        choices.push_back({{"index", int_at(c, "index")},
                           {"delta", {{"content", string_at(c, "text")}}},
                           {"finish_reason", field_at(c, "finish_reason")}});
    }
    out.push_back({{"choices", std::move(choices)}, {k_native_chunk, std::move(chunk)}});
    return {};
}

}  // namespace aigw::daemon::providers

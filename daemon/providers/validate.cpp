#include "daemon/providers/validate.hpp"

#include <array>
#include <cmath>
#include <span>
#include <string>

namespace aigw::daemon::providers {
namespace {

using nlohmann::json;

std::string type_name(const json& v)
{
    switch (v.type()) {
        case json::value_t::null:
            return "null";
        case json::value_t::boolean:
            return "a boolean";
        case json::value_t::string:
            return "a string";
        case json::value_t::array:
            return "an array";
        case json::value_t::object:
            return "an object";
        case json::value_t::number_float:
            return "a number with a fraction";
        case json::value_t::number_integer:
        case json::value_t::number_unsigned:
            return "an integer";
        default:
            return "something else";
    }
}

wire::Failure wrong(const std::string& field, const std::string& expected, const json& got)
{
    return wire::bad_request(field + ": must be " + expected + " (got " + type_name(got) + ").", field);
}

bool is_integer(const json& v, std::int64_t min)
{
    if (v.is_number_unsigned()) {
        return v.get<std::uint64_t>() <= static_cast<std::uint64_t>(k_max_request_integer) &&
               static_cast<std::int64_t>(v.get<std::uint64_t>()) >= min;
    }
    if (v.is_number_integer()) {
        auto n = v.get<std::int64_t>();
        return n >= min && n <= k_max_request_integer;
    }
    if (v.is_number_float()) {
        double d = v.get<double>();
        return std::isfinite(d) && std::trunc(d) == d && d >= static_cast<double>(min) &&
               d <= static_cast<double>(k_max_request_integer);
    }
    return false;
}

/// Checks body[key] when present and not null, with `ok`; nullopt when fine.
template <typename Check>
std::optional<wire::Failure> optional_field(const json& body, const char* key, const std::string& expected, Check ok)
{
    auto it = body.find(key);
    if (it == body.end() || it->is_null() || ok(*it)) {
        return std::nullopt;
    }
    return wrong(key, expected, *it);
}

std::optional<wire::Failure> check_integer(const json& body, const char* key, std::int64_t min)
{
    auto it = body.find(key);
    if (it == body.end() || it->is_null() || is_integer(*it, min)) {
        return std::nullopt;
    }
    std::string expected = min == 1 ? "an integer >= 1" : min == 0 ? "an integer >= 0" : "an integer";
    return wrong(key, expected, *it);
}

bool is_number(const json& v)
{
    return v.is_number() && std::isfinite(v.get<double>());
}

bool is_string_array(const json& v)
{
    if (!v.is_array()) {
        return false;
    }
    for (const auto& s : v) {
        if (!s.is_string()) {
            return false;
        }
    }
    return true;
}

/// An array of objects each with a string `type` (content parts, tools); returns the
/// failure for the first element that is not one.
/// `field()` names the array, for a failure.
template <class FieldName>
std::optional<wire::Failure> check_typed_objects(const json& arr, FieldName field, bool type_required)
{
    for (std::size_t i = 0; i < arr.size(); ++i) {
        const json& item = arr[i];
        const auto name = [&] { return field() + "[" + std::to_string(i) + "]"; };
        if (!item.is_object()) {
            return wrong(name(), "an object", item);
        }
        auto t = item.find("type");
        if (t == item.end() ? type_required : !t->is_string()) {
            return wire::bad_request(name() + ".type: must be a string.", name() + ".type");
        }
    }
    return std::nullopt;
}

std::optional<wire::Failure> check_model(const json& body)
{
    auto it = body.find("model");
    if (it == body.end() || it->is_null()) {
        return wire::bad_request("model: Field required (e.g. \"openai/gpt-4o-mini\" or \"mock/echo\").", "model");
    }
    if (!it->is_string()) {
        return wrong("model", "a string such as \"openai/gpt-4o-mini\"", *it);
    }
    if (it->get_ref<const std::string&>().empty()) {
        return wire::bad_request("model: must not be empty (e.g. \"openai/gpt-4o-mini\").", "model");
    }
    return std::nullopt;
}

std::optional<wire::Failure> first_of(std::initializer_list<std::optional<wire::Failure>> checks)
{
    for (const auto& c : checks) {
        if (c) {
            return c;
        }
    }
    return std::nullopt;
}

auto string = [](const json& v) { return v.is_string(); };

std::optional<wire::Failure> check_chat_message(const json& m, std::size_t i)
{
    // The field's name only for a failure: an agent's request holds hundreds of messages.
    const auto name = [i] { return "messages[" + std::to_string(i) + "]"; };
    if (!m.is_object()) {
        return wrong(name(), "an object", m);
    }
    auto role = m.find("role");
    if (role == m.end() || !role->is_string()) {
        return wire::bad_request(name() + ".role: must be a string such as \"user\".", name() + ".role");
    }
    if (auto c = m.find("content"); c != m.end() && !c->is_null()) {
        if (c->is_array()) {
            if (auto f = check_typed_objects(
                    *c, [&] { return name() + ".content"; }, true)) {
                return f;
            }
        } else if (!c->is_string()) {
            return wrong(name() + ".content", "a string, an array of content parts or null", *c);
        }
    }
    if (auto tc = m.find("tool_calls"); tc != m.end() && !tc->is_null()) {
        if (!tc->is_array()) {
            return wrong(name() + ".tool_calls", "an array", *tc);
        }
        for (std::size_t k = 0; k < tc->size(); ++k) {
            const json& call = (*tc)[k];
            const auto cname = [&] { return name() + ".tool_calls[" + std::to_string(k) + "]"; };
            if (!call.is_object()) {
                return wrong(cname(), "an object", call);
            }
            if (auto fn = call.find("function"); fn != call.end() && !fn->is_object()) {
                return wrong(cname() + ".function", "an object", *fn);
            }
        }
    }
    for (const char* key : {"name", "tool_call_id"}) {
        if (auto v = m.find(key); v != m.end() && !v->is_null() && !v->is_string()) {
            return wrong(name() + "." + key, "a string", *v);
        }
    }
    return std::nullopt;
}

/// A top-level field of a chat request that, when present and not null, must pass `ok`.
struct FieldRule {
    std::string_view key;
    const char* expected;
    bool (*ok)(const json&);
};

bool integer_from_1(const json& v)
{
    return is_integer(v, 1);
}
bool integer_from_0(const json& v)
{
    return is_integer(v, 0);
}

/// In the order their failures are reported: the first rule a request breaks is named.
constexpr std::array k_chat_fields{
    FieldRule{"stream", "a boolean", [](const json& v) { return v.is_boolean(); }},
    FieldRule{"logprobs", "a boolean", [](const json& v) { return v.is_boolean(); }},
    FieldRule{"parallel_tool_calls", "a boolean", [](const json& v) { return v.is_boolean(); }},
    FieldRule{"max_tokens", "an integer >= 1", integer_from_1},
    FieldRule{"max_completion_tokens", "an integer >= 1", integer_from_1},
    FieldRule{"n", "an integer >= 1", integer_from_1},
    FieldRule{"top_logprobs", "an integer >= 0", integer_from_0},
    FieldRule{"seed", "an integer", [](const json& v) { return v.is_number_integer() || v.is_number_unsigned(); }},
    FieldRule{"temperature", "a number", is_number},
    FieldRule{"top_p", "a number", is_number},
    FieldRule{"presence_penalty", "a number", is_number},
    FieldRule{"frequency_penalty", "a number", is_number},
    FieldRule{"stop", "a string or an array of strings",
              [](const json& v) { return v.is_string() || is_string_array(v); }},
    FieldRule{"tools", "an array of tool objects", [](const json& v) { return v.is_array(); }},
    FieldRule{"tool_choice", "a string or an object", [](const json& v) { return v.is_string() || v.is_object(); }},
    FieldRule{"response_format", "an object", [](const json& v) { return v.is_object(); }},
    FieldRule{"stream_options", "an object", [](const json& v) { return v.is_object(); }},
    FieldRule{"metadata", "an object", [](const json& v) { return v.is_object(); }},
    FieldRule{"user", "a string", [](const json& v) { return v.is_string(); }},
    FieldRule{"reasoning_effort", "a string", [](const json& v) { return v.is_string(); }},
};

/// As k_chat_fields, for Anthropic's Messages.
constexpr std::array k_messages_fields{
    FieldRule{"max_tokens", "an integer >= 1", integer_from_1},
    FieldRule{"top_k", "an integer >= 0", integer_from_0},
    FieldRule{"temperature", "a number", is_number},
    FieldRule{"top_p", "a number", is_number},
    FieldRule{"stream", "a boolean", [](const json& v) { return v.is_boolean(); }},
    FieldRule{"stop_sequences", "an array of strings", is_string_array},
    FieldRule{"tools", "an array of tool objects", [](const json& v) { return v.is_array(); }},
    FieldRule{"tool_choice", "an object", [](const json& v) { return v.is_object(); }},
    FieldRule{"metadata", "an object", [](const json& v) { return v.is_object(); }},
    FieldRule{"thinking", "an object", [](const json& v) { return v.is_object(); }},
    FieldRule{"output_config", "an object", [](const json& v) { return v.is_object(); }},
};

/// The failure of the first of `rules` that the object `body` breaks. It walks the body's
/// members (a request names a few) rather than looking up every rule's key.
std::optional<wire::Failure> check_fields(const json& body, std::span<const FieldRule> rules)
{
    std::size_t broken = rules.size();
    const json* value = nullptr;
    for (const auto& [key, v] : body.get_ref<const json::object_t&>()) {
        if (v.is_null()) {
            continue;
        }
        for (std::size_t r = 0; r < broken; ++r) {
            if (rules[r].key == key) {
                if (!rules[r].ok(v)) {
                    broken = r;
                    value = &v;
                }
                break;
            }
        }
    }
    if (value == nullptr) {
        return std::nullopt;
    }
    return wrong(std::string(rules[broken].key), rules[broken].expected, *value);
}

}  // namespace

std::optional<wire::Failure> validate_chat_request(const json& body)
{
    if (!body.is_object()) {
        return wire::bad_request("The request body must be a JSON object.");
    }
    if (auto f = check_model(body)) {
        return f;
    }
    return validate_chat_fields(body);
}

std::optional<wire::Failure> validate_chat_fields(const json& body)
{
    if (!body.is_object()) {
        return wire::bad_request("The request body must be a JSON object.");
    }
    auto messages = body.find("messages");
    if (messages == body.end() || !messages->is_array()) {
        return wire::bad_request("messages: must be an array of message objects.", "messages");
    }
    if (messages->empty()) {
        return wire::bad_request("messages: must contain at least one message.", "messages");
    }
    for (std::size_t i = 0; i < messages->size(); ++i) {
        if (auto f = check_chat_message((*messages)[i], i)) {
            return f;
        }
    }
    if (auto f = check_fields(body, k_chat_fields)) {
        return f;
    }
    if (auto tools = body.find("tools"); tools != body.end() && tools->is_array()) {
        if (auto f = check_typed_objects(
                *tools, [] { return std::string("tools"); }, true)) {
            return f;
        }
    }
    return std::nullopt;
}

std::optional<wire::Failure> validate_messages_request(const json& body)
{
    if (!body.is_object()) {
        return wire::bad_request("The request body must be a JSON object.");
    }
    if (auto f = check_model(body)) {
        return f;
    }
    return validate_messages_fields(body);
}

std::optional<wire::Failure> validate_messages_fields(const json& body)
{
    if (!body.is_object()) {
        return wire::bad_request("The request body must be a JSON object.");
    }
    auto messages = body.find("messages");
    if (messages == body.end() || !messages->is_array()) {
        return wire::bad_request("messages: Field required (an array of messages).", "messages");
    }
    for (std::size_t i = 0; i < messages->size(); ++i) {
        const json& m = (*messages)[i];
        const auto name = [i] { return "messages[" + std::to_string(i) + "]"; };  // for a failure
        if (!m.is_object()) {
            return wrong(name(), "an object", m);
        }
        auto role = m.find("role");
        if (role == m.end() || !role->is_string()) {
            return wire::bad_request(name() + ".role: Field required (\"user\" or \"assistant\").", name() + ".role");
        }
        // "system" mid-conversation is Claude Code's (beta mid-conversation-system); the
        // wording for anything else is Anthropic's own, which clients match on.
        const std::string& r = role->get_ref<const std::string&>();
        if (r != "user" && r != "assistant" && r != "system") {
            return wire::bad_request(
                "messages: Unexpected role \"" + r + "\". Allowed roles are \"user\" or \"assistant\".",
                name() + ".role");
        }
        auto content = m.find("content");
        if (content == m.end() || (!content->is_string() && !content->is_array())) {
            return wire::bad_request(name() + ".content: must be a string or an array of content blocks.",
                                     name() + ".content");
        }
        if (content->is_array()) {
            if (auto f = check_typed_objects(
                    *content, [&] { return name() + ".content"; }, true)) {
                return f;
            }
        }
    }
    if (auto sys = body.find("system"); sys != body.end() && !sys->is_null()) {
        if (sys->is_array()) {
            if (auto f = check_typed_objects(
                    *sys, [] { return std::string("system"); }, true)) {
                return f;
            }
        } else if (!sys->is_string()) {
            return wrong("system", "a string or an array of text blocks", *sys);
        }
    }
    if (auto f = check_fields(body, k_messages_fields)) {
        return f;
    }
    if (auto tools = body.find("tools"); tools != body.end() && tools->is_array()) {
        if (auto f = check_typed_objects(
                *tools, [] { return std::string("tools"); }, false)) {
            return f;
        }
        for (std::size_t i = 0; i < tools->size(); ++i) {
            const json& t = (*tools)[i];
            const auto name = [i] { return "tools[" + std::to_string(i) + "]"; };
            if (auto n = t.find("name"); n != t.end() && !n->is_string()) {
                return wrong(name() + ".name", "a string", *n);
            }
            if (auto s = t.find("input_schema"); s != t.end() && !s->is_object()) {
                return wrong(name() + ".input_schema", "an object", *s);
            }
        }
    }
    if (auto th = body.find("thinking"); th != body.end() && th->is_object()) {
        if (auto f = check_integer(*th, "budget_tokens", 0)) {
            f->message = "thinking." + f->message;
            f->param = "thinking.budget_tokens";
            return f;
        }
    }
    if (auto md = body.find("metadata"); md != body.end() && md->is_object()) {
        if (auto f = optional_field(*md, "user_id", "a string", string)) {
            f->message = "metadata." + f->message;
            f->param = "metadata.user_id";
            return f;
        }
    }
    return std::nullopt;
}

std::optional<wire::Failure> validate_embeddings_request(const json& body)
{
    if (!body.is_object()) {
        return wire::bad_request("The request body must be a JSON object.");
    }
    if (auto f = check_model(body)) {
        return f;
    }
    auto input = body.find("input");
    if (input == body.end() || input->is_null()) {
        return wire::bad_request("input: Field required (a string or an array of strings).", "input");
    }
    auto token_array = [](const json& v) {
        if (!v.is_array() || v.empty()) {
            return false;
        }
        for (const auto& t : v) {
            if (!is_integer(t, 0)) {
                return false;
            }
        }
        return true;
    };
    bool ok = input->is_string() || (input->is_array() && !input->empty());
    if (ok && input->is_array()) {
        bool strings = is_string_array(*input);
        bool tokens = token_array(*input);
        bool token_lists = true;
        for (const auto& item : *input) {
            token_lists = token_lists && token_array(item);
        }
        ok = strings || tokens || token_lists;
    }
    if (!ok) {
        return wrong("input", "a string, a non-empty array of strings or an array of token arrays", *input);
    }
    if (auto f = first_of({
            check_integer(body, "dimensions", 1),
            optional_field(body, "encoding_format", "\"float\" or \"base64\"",
                           [](const json& v) { return v == "float" || v == "base64"; }),
            optional_field(body, "user", "a string", string),
        })) {
        return f;
    }
    return std::nullopt;
}

}  // namespace aigw::daemon::providers

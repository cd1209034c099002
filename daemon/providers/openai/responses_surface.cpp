#include "daemon/providers/openai/responses_surface.hpp"
#include "daemon/providers/json_access.hpp"
#include "shared/wire/json_text.hpp"

#include <openssl/evp.h>

#include <algorithm>
#include <array>

namespace aigw::daemon::providers {
namespace {

/// Joins a namespace tool's name and one of its tools' names into one function name.
constexpr const char* k_namespace_separator = "__";

using nlohmann::json;

constexpr std::string_view k_opaque_prefix = "aigw:v1:";

/// Canonical assistant-message fields an opaque reasoning value may restore.
constexpr std::array<const char*, 2> k_opaque_fields = {"thinking_blocks", "reasoning_opaque"};

/// Request fields that only OpenAI can honour: present (and not null/false/0) -> 400.
constexpr std::array<const char*, 6> k_openai_only = {"background",     "conversation",       "prompt",
                                                      "max_tool_calls", "context_management", "top_logprobs"};

/// Request fields read by the translation or safe to ignore off OpenAI.
constexpr std::array<const char*, 25> k_known = {"model",
                                                 "input",
                                                 "instructions",
                                                 "tools",
                                                 "tool_choice",
                                                 "parallel_tool_calls",
                                                 "text",
                                                 "reasoning",
                                                 "max_output_tokens",
                                                 "temperature",
                                                 "top_p",
                                                 "metadata",
                                                 "user",
                                                 "safety_identifier",
                                                 "stream",
                                                 "stream_options",
                                                 "store",
                                                 "prompt_cache_key",
                                                 "prompt_cache_retention",
                                                 "include",
                                                 "truncation",
                                                 "service_tier",
                                                 "previous_response_id",
                                                 "client_metadata",
                                                 "prompt_cache_options"};

std::string not_supported(const std::string& what)
{
    return what + " is not supported by aigw for non-OpenAI models.";
}

wire::Failure field_error(const std::string& param, const std::string& message)
{
    return wire::bad_request(param + ": " + message, param);
}

/// True when `v` is a value a client sends for "not set".
bool unset(const json& v)
{
    return v.is_null() || (v.is_boolean() && !v.get<bool>()) || (v.is_number() && v.get<double>() == 0.0);
}

std::string base64_encode(std::string_view bytes)
{
    std::string out(4 * ((bytes.size() + 2) / 3) + 1, '\0');
    int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                            reinterpret_cast<const unsigned char*>(bytes.data()), static_cast<int>(bytes.size()));
    out.resize(static_cast<std::size_t>(std::max(n, 0)));
    return out;
}

std::optional<std::string> base64_decode(std::string_view text)
{
    if (text.size() % 4 != 0) {
        return std::nullopt;
    }
    std::string out(3 * (text.size() / 4) + 1, '\0');
    int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                            reinterpret_cast<const unsigned char*>(text.data()), static_cast<int>(text.size()));
    if (n < 0) {
        return std::nullopt;
    }
    // EVP_DecodeBlock counts the padding as zero bytes.
    std::size_t size = static_cast<std::size_t>(n);
    for (std::size_t i = text.size(); i > 0 && text[i - 1] == '=' && size > 0; --i) {
        --size;
    }
    out.resize(size);
    return out;
}

// ---------------------------------------------------------------------------------------
// Request: Responses -> canonical

/// Responses content parts -> canonical content parts.
std::expected<json, wire::Failure> parts_of(const json& content, const std::string& where)
{
    json parts = json::array();
    for (std::size_t i = 0; i < content.size(); ++i) {
        const json& p = content[i];
        std::string at = where + "[" + std::to_string(i) + "]";
        if (!p.is_object()) {
            return std::unexpected(field_error(at, "must be an object."));
        }
        std::string type = string_at(p, "type");
        if (type == "input_text" || type == "output_text" || type == "text" || type == "summary_text") {
            if (!p.contains("text") || !p["text"].is_string()) {
                return std::unexpected(field_error(at + ".text", "must be a string."));
            }
            parts.push_back({{"type", "text"}, {"text", p["text"]}});
        } else if (type == "refusal") {
            parts.push_back({{"type", "text"}, {"text", string_at(p, "refusal")}});
        } else if (type == "input_image") {
            if (!string_at(p, "file_id").empty()) {
                return std::unexpected(
                    field_error(at + ".file_id",
                                "an OpenAI file id cannot be read by other providers; send image_url (a URL or a "
                                "data: URL) instead."));
            }
            std::string url = string_at(p, "image_url");
            if (url.empty()) {
                return std::unexpected(field_error(at + ".image_url", "must be a URL or a data: URL."));
            }
            json image = {{"url", url}};
            if (auto detail = string_at(p, "detail"); !detail.empty()) {
                image["detail"] = detail;
            }
            parts.push_back({{"type", "image_url"}, {"image_url", std::move(image)}});
        } else if (type == "input_file") {
            if (!string_at(p, "file_id").empty()) {
                return std::unexpected(field_error(
                    at + ".file_id", "an OpenAI file id cannot be read by other providers; send file_data instead."));
            }
            std::string data = string_at(p, "file_data");
            if (data.empty()) {
                std::string field = p.contains("file_url") ? ".file_url" : ".file_data";
                return std::unexpected(field_error(
                    at + field, "only inline file_data (a base64 data: URL) can be sent to non-OpenAI models."));
            }
            json file = {{"file_data", data}};
            if (auto name = string_at(p, "filename"); !name.empty()) {
                file["filename"] = name;
            }
            parts.push_back({{"type", "file"}, {"file", std::move(file)}});
        } else {
            return std::unexpected(field_error(at + ".type", not_supported("content part type '" + type + "'")));
        }
    }
    return parts;
}

/// A string, or parts that are all text joined into one string; otherwise the parts.
std::expected<json, wire::Failure> content_of(const json& content, const std::string& where)
{
    if (content.is_string()) {
        return content;
    }
    if (!content.is_array()) {
        return std::unexpected(field_error(where, "must be a string or an array of content parts."));
    }
    auto parts = parts_of(content, where);
    if (!parts) {
        return std::unexpected(parts.error());
    }
    std::string text;
    for (const auto& p : *parts) {
        if (string_at(p, "type") != "text") {
            return parts;
        }
        text += string_at(p, "text");
    }
    return json(text);
}

std::string text_of(const json& content)
{
    if (content.is_string()) {
        return content.get<std::string>();
    }
    return content.is_array() && !content.empty() ? string_at(content[0], "text") : std::string{};
}

/// Folds the items of a conversation into canonical messages. Consecutive assistant-side
/// items (reasoning, assistant message, function and custom tool calls) make one assistant
/// message, as a chat completion has them.
class MessageBuilder {
public:
    explicit MessageBuilder(const ResponsesItemLookup& lookup, const std::vector<json>& previous)
        : m_lookup(lookup), m_previous(previous)
    {}

    std::expected<void, wire::Failure> add(const json& item, const std::string& at, bool resolved = false)
    {
        if (!item.is_object()) {
            return std::unexpected(field_error(at, "must be an object (an input item)."));
        }
        std::string type = string_at(item, "type");
        if (type.empty() && item.contains("role")) {
            type = "message";
        }
        if (type == "item_reference" && !resolved) {
            return add_reference(item, at);
        }
        if (type == "message") {
            return add_message(item, at);
        }
        if (type == "function_call" || type == "custom_tool_call") {
            std::string call_id = string_at(item, "call_id");
            std::string name = string_at(item, "name");
            if (auto ns = string_at(item, "namespace"); !ns.empty() && !name.empty()) {
                name = ns + k_namespace_separator + name;
            }
            if (call_id.empty()) {
                return std::unexpected(field_error(at + ".call_id", "must be a non-empty string."));
            }
            if (name.empty()) {
                return std::unexpected(field_error(at + ".name", "must be a non-empty string."));
            }
            std::string arguments;
            if (type == "function_call") {
                if (!item.contains("arguments") || !item["arguments"].is_string()) {
                    return std::unexpected(field_error(at + ".arguments", "must be a string (JSON text)."));
                }
                arguments = item["arguments"].get<std::string>();
            } else {
                if (!item.contains("input") || !item["input"].is_string()) {
                    return std::unexpected(field_error(at + ".input", "must be a string."));
                }
                arguments = wire::dump_json(json{{"input", item["input"]}});
            }
            assistant()["tool_calls"].push_back(
                {{"id", call_id}, {"type", "function"}, {"function", {{"name", name}, {"arguments", arguments}}}});
            return {};
        }
        if (type == "function_call_output" || type == "custom_tool_call_output") {
            std::string call_id = string_at(item, "call_id");
            if (call_id.empty()) {
                return std::unexpected(field_error(at + ".call_id", "must be a non-empty string."));
            }
            auto content = content_of(item.contains("output") ? item["output"] : json(), at + ".output");
            if (!content) {
                return std::unexpected(content.error());
            }
            flush();
            m_messages.push_back({{"role", "tool"}, {"tool_call_id", call_id}, {"content", std::move(*content)}});
            return {};
        }
        if (type == "reasoning") {
            return add_reasoning(item, at);
        }
        if (type == "compaction") {
            auto fields = decode_reasoning_opaque(string_at(item, "encrypted_content"));
            if (!fields || string_at(*fields, "compaction_summary").empty()) {
                return std::unexpected(field_error(
                    at,
                    "a compaction item made by OpenAI can only be read by OpenAI models; compact this conversation "
                    "again with the model you are using now."));
            }
            flush();
            m_messages.push_back({{"role", "user"}, {"content", string_at(*fields, "compaction_summary")}});
            return {};
        }
        return std::unexpected(field_error(at + ".type", not_supported("input item type '" + type + "'")));
    }

    json finish()
    {
        flush();
        return std::move(m_messages);
    }

    void push_system(std::string text) { m_messages.push_back({{"role", "system"}, {"content", std::move(text)}}); }

private:
    std::expected<void, wire::Failure> add_reference(const json& item, const std::string& at)
    {
        std::string id = string_at(item, "id");
        for (const auto& p : m_previous) {
            if (string_at(p, "id") == id && !id.empty()) {
                return add(p, at, true);
            }
        }
        if (m_lookup) {
            if (auto found = m_lookup(id)) {
                return add(*found, at, true);
            }
        }
        return std::unexpected(field_error(at + ".id", "no stored item '" + id + "' (item_reference)."));
    }

    std::expected<void, wire::Failure> add_message(const json& item, const std::string& at)
    {
        std::string role = string_at(item, "role");
        if (!item.contains("content")) {
            return std::unexpected(field_error(at + ".content", "is required."));
        }
        auto content = content_of(item["content"], at + ".content");
        if (!content) {
            return std::unexpected(content.error());
        }
        if (role == "assistant") {
            json& msg = assistant();
            std::string text = msg["content"].is_string() ? msg["content"].get<std::string>() : std::string{};
            text += content->is_string() ? content->get<std::string>() : text_of(*content);
            msg["content"] = text;
            return {};
        }
        if (role != "user" && role != "system" && role != "developer") {
            return std::unexpected(
                field_error(at + ".role", "must be one of 'user', 'assistant', 'system' or 'developer'."));
        }
        flush();
        // "developer" is OpenAI's newer name for system; most other servers know only "system".
        m_messages.push_back({{"role", role == "user" ? "user" : "system"}, {"content", std::move(*content)}});
        return {};
    }

    std::expected<void, wire::Failure> add_reasoning(const json& item, const std::string& at)
    {
        std::string text;
        for (const char* key : {"summary", "content"}) {
            if (!item.contains(key) || item[key].is_null()) {
                continue;
            }
            if (!item[key].is_array()) {
                return std::unexpected(field_error(at + "." + key, "must be an array."));
            }
            for (const auto& part : item[key]) {
                if (auto t = string_at(part, "text"); !t.empty()) {
                    text += text.empty() ? t : "\n\n" + t;
                }
            }
            if (!text.empty()) {
                break;  // the summary, or the full reasoning text when there is no summary
            }
        }
        json& msg = assistant();
        if (!text.empty()) {
            std::string before = string_at(msg, "reasoning_content");
            msg["reasoning_content"] = before.empty() ? text : before + "\n\n" + text;
        }
        if (auto fields = decode_reasoning_opaque(string_at(item, "encrypted_content"))) {
            if (fields->contains("thinking_blocks") && (*fields)["thinking_blocks"].is_array()) {
                if (!msg.contains("thinking_blocks")) {
                    msg["thinking_blocks"] = json::array();
                }
                for (const auto& b : (*fields)["thinking_blocks"]) {
                    msg["thinking_blocks"].push_back(b);
                }
            }
            if (auto opaque = string_at(*fields, "reasoning_opaque"); !opaque.empty()) {
                msg["reasoning_opaque"] = opaque;
            }
        }
        return {};
    }

    json& assistant()
    {
        if (m_assistant.is_null()) {
            m_assistant = {{"role", "assistant"}, {"content", nullptr}};
        }
        if (!m_assistant.contains("tool_calls")) {
            m_assistant["tool_calls"] = json::array();
        }
        return m_assistant;
    }

    void flush()
    {
        if (m_assistant.is_null()) {
            return;
        }
        if (m_assistant["tool_calls"].empty()) {
            m_assistant.erase("tool_calls");
            if (m_assistant["content"].is_null()) {
                m_assistant["content"] = "";
            }
        }
        m_messages.push_back(std::move(m_assistant));
        m_assistant = nullptr;
    }

    const ResponsesItemLookup& m_lookup;
    const std::vector<json>& m_previous;
    json m_messages = json::array();
    json m_assistant;  ///< the assistant turn being assembled, or null
};

/// A custom (free-form) tool as a function with one string argument, `input`.
json custom_tool_function(const json& tool)
{
    std::string description = string_at(tool, "description");
    const json& format = object_at(tool, "format");
    if (string_at(format, "type") == "grammar") {
        std::string syntax = string_at(format, "syntax");
        description += (description.empty() ? "" : "\n\n");
        description += "The input must follow this " + (syntax.empty() ? std::string("grammar") : syntax + " grammar") +
                       ":\n" + string_at(format, "definition");
    }
    json fn = {{"name", string_at(tool, "name")},
               {"parameters",
                {{"type", "object"},
                 {"properties", {{"input", {{"type", "string"}, {"description", "The raw input of the tool."}}}}},
                 {"required", json::array({"input"})},
                 {"additionalProperties", false}}}};
    if (!description.empty()) {
        fn["description"] = description;
    }
    return fn;
}

std::expected<json, wire::Failure> tools_of(const json& tools)
{
    if (!tools.is_array()) {
        return std::unexpected(field_error("tools", "must be an array."));
    }
    json out = json::array();
    for (std::size_t i = 0; i < tools.size(); ++i) {
        const json& t = tools[i];
        std::string at = "tools[" + std::to_string(i) + "]";
        if (!t.is_object()) {
            return std::unexpected(field_error(at, "must be an object."));
        }
        std::string type = string_at(t, "type");
        if (string_at(t, "name").empty() && (type == "function" || type == "custom")) {
            return std::unexpected(field_error(at + ".name", "must be a non-empty string."));
        }
        if (type == "function") {
            json fn = {{"name", t["name"]}};
            if (auto d = string_at(t, "description"); !d.empty()) {
                fn["description"] = d;
            }
            const json params = t.value("parameters", json());
            if (!params.is_null() && !params.is_object()) {
                return std::unexpected(field_error(at + ".parameters", "must be a JSON schema object."));
            }
            fn["parameters"] = params.is_object() ? params : json{{"type", "object"}, {"properties", json::object()}};
            if (t.contains("strict") && t["strict"].is_boolean()) {
                fn["strict"] = t["strict"];
            }
            out.push_back({{"type", "function"}, {"function", std::move(fn)}});
        } else if (type == "custom") {
            out.push_back({{"type", "function"}, {"function", custom_tool_function(t)}});
        } else if (type == "namespace") {
            // A group of function/custom tools (Codex's agents, an MCP server): each becomes a
            // function named "<namespace>__<name>"; calls are split back on the way out.
            const std::string ns = string_at(t, "name");
            if (ns.empty() || !t.contains("tools") || !t["tools"].is_array()) {
                return std::unexpected(field_error(at, "a namespace tool needs a name and a tools array."));
            }
            json inner = json::array();
            for (const auto& nt : t["tools"]) {
                if (!nt.is_object()) {
                    return std::unexpected(field_error(at + ".tools", "must be an array of objects."));
                }
                json flat = nt;
                flat["name"] = ns + k_namespace_separator + string_at(nt, "name");
                if (auto d = string_at(t, "description"); !d.empty()) {
                    flat["description"] = "(" + ns + ": " + d + ") " + string_at(nt, "description");
                }
                inner.push_back(std::move(flat));
            }
            auto converted = tools_of(inner);
            if (!converted) {
                wire::Failure f = converted.error();
                f.param = at + ".tools";
                return std::unexpected(std::move(f));
            }
            for (auto& c : *converted) {
                out.push_back(std::move(c));
            }
        } else {
            return std::unexpected(
                wire::bad_request("tool type '" + type +
                                      "' is not supported by aigw for non-OpenAI models (only function and custom "
                                      "tools are); use an OpenAI or Azure model for OpenAI's built-in tools.",
                                  "tools"));
        }
    }
    return out;
}

std::expected<json, wire::Failure> tool_choice_of(const json& tc)
{
    if (tc.is_string()) {
        std::string s = tc.get<std::string>();
        if (s == "auto" || s == "none" || s == "required") {
            return tc;
        }
        return std::unexpected(field_error("tool_choice", "must be 'auto', 'none', 'required' or an object."));
    }
    if (!tc.is_object()) {
        return std::unexpected(field_error("tool_choice", "must be a string or an object."));
    }
    std::string type = string_at(tc, "type");
    if (type == "function" || type == "custom") {
        std::string name = string_at(tc, "name");
        if (name.empty()) {
            return std::unexpected(field_error("tool_choice.name", "must be a non-empty string."));
        }
        return json{{"type", "function"}, {"function", {{"name", name}}}};
    }
    return std::unexpected(field_error("tool_choice", not_supported("tool_choice type '" + type + "'")));
}

std::expected<void, wire::Failure> text_of_request(const json& text, json& out)
{
    if (!text.is_object()) {
        return std::unexpected(field_error("text", "must be an object."));
    }
    if (text.contains("format") && !text["format"].is_null()) {
        const json& f = text["format"];
        std::string type = string_at(f, "type");
        if (type == "json_schema") {
            if (!f.contains("schema") || !f["schema"].is_object()) {
                return std::unexpected(field_error("text.format.schema", "must be a JSON schema object."));
            }
            json schema = {{"name", string_at(f, "name").empty() ? std::string("response") : string_at(f, "name")},
                           {"schema", f["schema"]}};
            if (f.contains("strict") && f["strict"].is_boolean()) {
                schema["strict"] = f["strict"];
            }
            if (auto d = string_at(f, "description"); !d.empty()) {
                schema["description"] = d;
            }
            out["response_format"] = {{"type", "json_schema"}, {"json_schema", std::move(schema)}};
        } else if (type == "json_object") {
            out["response_format"] = {{"type", "json_object"}};
        } else if (type != "text") {
            return std::unexpected(field_error("text.format.type", "must be 'text', 'json_schema' or 'json_object'."));
        }
    }
    if (text.contains("verbosity") && !text["verbosity"].is_null()) {
        if (!text["verbosity"].is_string()) {
            return std::unexpected(field_error("text.verbosity", "must be a string."));
        }
        out["verbosity"] = text["verbosity"];
    }
    return {};
}

/// The request's namespace tool names.
std::vector<std::string> namespace_names(const json& request)
{
    std::vector<std::string> names;
    if (request.is_object() && request.contains("tools") && request["tools"].is_array()) {
        for (const auto& t : request["tools"]) {
            if (string_at(t, "type") == "namespace" && !string_at(t, "name").empty()) {
                names.push_back(string_at(t, "name"));
            }
        }
    }
    return names;
}

/// A flattened "<namespace>__<name>" call name split back into {namespace, name}; the
/// namespace is empty when `flat` is not one of the request's namespaced tools.
std::pair<std::string, std::string> split_namespaced(const std::vector<std::string>& namespaces,
                                                     const std::string& flat)
{
    for (const auto& ns : namespaces) {
        const std::string prefix = ns + k_namespace_separator;
        if (flat.size() > prefix.size() && flat.starts_with(prefix)) {
            return {ns, flat.substr(prefix.size())};
        }
    }
    return {{}, flat};
}

/// Sets a call item's name (and `namespace`, for a namespaced tool) from the flat name.
void set_call_name(json& item, const std::vector<std::string>& namespaces, const std::string& flat)
{
    auto [ns, name] = split_namespaced(namespaces, flat);
    item["name"] = name;
    if (!ns.empty()) {
        item["namespace"] = ns;
    }
}

std::vector<std::string> custom_tool_names(const json& request)
{
    std::vector<std::string> names;
    if (request.is_object() && request.contains("tools") && request["tools"].is_array()) {
        for (const auto& t : request["tools"]) {
            if (string_at(t, "type") == "custom") {
                names.push_back(string_at(t, "name"));
            } else if (string_at(t, "type") == "namespace" && t.contains("tools") && t["tools"].is_array()) {
                for (const auto& nt : t["tools"]) {
                    if (string_at(nt, "type") == "custom") {
                        names.push_back(string_at(t, "name") + k_namespace_separator + string_at(nt, "name"));
                    }
                }
            }
        }
    }
    return names;
}

// ---------------------------------------------------------------------------------------
// Answer: canonical -> Responses

std::string id_base(const ResponsesContext& ctx)
{
    std::string_view id = ctx.response_id;
    if (id.starts_with("resp_")) {
        id.remove_prefix(5);
    }
    return id.empty() ? std::string("aigw") : std::string(id);
}

std::string item_id(const ResponsesContext& ctx, const char* prefix, int output_index)
{
    return std::string(prefix) + "_" + id_base(ctx) + "_" + std::to_string(output_index);
}

/// The text a custom tool call carries: `input` of the function arguments, else the raw text.
std::string custom_input_of(const std::string& arguments)
{
    json args = json::parse(arguments, nullptr, false);
    if (!args.is_discarded() && args.is_object() && args.contains("input") && args["input"].is_string()) {
        return args["input"].get<std::string>();
    }
    return arguments;
}

json reasoning_item(std::string id, const std::string& summary, const json& thinking_blocks, const std::string& opaque)
{
    json item = {{"id", std::move(id)}, {"type", "reasoning"}, {"summary", json::array()}};
    if (!summary.empty()) {
        item["summary"].push_back({{"type", "summary_text"}, {"text", summary}});
    }
    json fields = json::object();
    if (thinking_blocks.is_array() && !thinking_blocks.empty()) {
        fields["thinking_blocks"] = thinking_blocks;
    }
    if (!opaque.empty()) {
        fields["reasoning_opaque"] = opaque;
    }
    if (auto encrypted = encode_reasoning_opaque(fields); !encrypted.empty()) {
        item["encrypted_content"] = encrypted;
    }
    return item;
}

json output_text_part(const std::string& text)
{
    return {{"type", "output_text"}, {"annotations", json::array()}, {"logprobs", json::array()}, {"text", text}};
}

json message_item(std::string id, const std::string& text, const char* status)
{
    return {{"id", std::move(id)},
            {"type", "message"},
            {"status", status},
            {"role", "assistant"},
            {"content", json::array({output_text_part(text)})}};
}

json function_call_item(std::string id, const std::string& call_id, const std::string& name,
                        const std::string& arguments, const char* status)
{
    return {{"id", std::move(id)},    {"type", "function_call"}, {"status", status},
            {"arguments", arguments}, {"call_id", call_id},      {"name", name}};
}

json custom_tool_call_item(std::string id, const std::string& call_id, const std::string& name,
                           const std::string& input)
{
    return {{"id", std::move(id)},   {"type", "custom_tool_call"},
            {"status", "completed"}, {"call_id", call_id},
            {"name", name},          {"input", input}};
}

json responses_usage_json(const json& canonical_usage)
{
    if (!canonical_usage.is_object()) {
        return nullptr;
    }
    wire::Usage u = wire::usage_from_openai(canonical_usage);
    return {{"input_tokens", u.input_tokens},
            {"input_tokens_details", {{"cached_tokens", u.cached_tokens}}},
            {"output_tokens", u.output_tokens},
            {"output_tokens_details", {{"reasoning_tokens", u.reasoning_tokens}}},
            {"total_tokens", u.input_tokens + u.output_tokens}};
}

json echo(const json& req, const char* key, json fallback)
{
    if (req.is_object() && req.contains(key) && !req[key].is_null()) {
        return req[key];
    }
    return fallback;
}

/// The `response` object around `output`, echoing the request as OpenAI does.
json response_object(const ResponsesContext& ctx, const char* status, json output, json usage)
{
    const json& req = ctx.request;
    const json reasoning = object_at(req, "reasoning");
    return {{"id", ctx.response_id},
            {"object", "response"},
            {"created_at", ctx.created_at},
            {"status", status},
            {"background", false},
            {"error", nullptr},
            {"incomplete_details", nullptr},
            {"instructions", echo(req, "instructions", nullptr)},
            {"max_output_tokens", echo(req, "max_output_tokens", nullptr)},
            {"max_tool_calls", nullptr},
            {"model", ctx.model},
            {"output", std::move(output)},
            {"parallel_tool_calls", echo(req, "parallel_tool_calls", true)},
            {"previous_response_id", echo(req, "previous_response_id", nullptr)},
            {"prompt_cache_key", echo(req, "prompt_cache_key", nullptr)},
            {"reasoning",
             {{"effort", echo(reasoning, "effort", nullptr)}, {"summary", echo(reasoning, "summary", nullptr)}}},
            {"safety_identifier", echo(req, "safety_identifier", nullptr)},
            {"service_tier", "default"},
            {"store", echo(req, "store", true)},
            {"temperature", echo(req, "temperature", 1.0)},
            {"text", echo(req, "text", json{{"format", {{"type", "text"}}}})},
            {"tool_choice", echo(req, "tool_choice", "auto")},
            {"tools", echo(req, "tools", json::array())},
            {"top_logprobs", 0},
            {"top_p", echo(req, "top_p", 1.0)},
            {"truncation", echo(req, "truncation", "disabled")},
            {"usage", std::move(usage)},
            {"user", echo(req, "user", nullptr)},
            {"metadata", echo(req, "metadata", json::object())}};
}

/// Sets status incomplete and incomplete_details for a finish reason that ended early.
void apply_finish(json& response, const std::string& finish)
{
    if (finish == "length") {
        response["status"] = "incomplete";
        response["incomplete_details"] = {{"reason", "max_output_tokens"}};
    } else if (finish == "content_filter") {
        response["status"] = "incomplete";
        response["incomplete_details"] = {{"reason", "content_filter"}};
    }
}

std::string error_code_for(const wire::Failure& f)
{
    if (!f.code.empty()) {
        return f.code;
    }
    switch (f.kind) {
        case wire::FailureKind::rate_limited:
            return "rate_limit_exceeded";
        case wire::FailureKind::bad_request:
            return "invalid_prompt";
        default:
            return "server_error";
    }
}

bool is_custom(const std::vector<std::string>& names, const std::string& name)
{
    return std::find(names.begin(), names.end(), name) != names.end();
}

}  // namespace

// -------------------------------------------------------------------------------------------

std::string encode_reasoning_opaque(const json& fields)
{
    if (!fields.is_object() || fields.empty()) {
        return {};
    }
    return std::string(k_opaque_prefix) + base64_encode(wire::dump_json(fields));
}

std::optional<json> decode_reasoning_opaque(std::string_view encrypted)
{
    if (!encrypted.starts_with(k_opaque_prefix)) {
        return std::nullopt;
    }
    auto bytes = base64_decode(encrypted.substr(k_opaque_prefix.size()));
    if (!bytes) {
        return std::nullopt;
    }
    json doc = json::parse(*bytes, nullptr, false);
    if (doc.is_discarded() || !doc.is_object()) {
        return std::nullopt;
    }
    json fields = json::object();
    for (const char* key : k_opaque_fields) {
        if (doc.contains(key)) {
            fields[key] = doc[key];
        }
    }
    if (doc.contains("compaction_summary") && doc["compaction_summary"].is_string()) {
        fields["compaction_summary"] = doc["compaction_summary"];
    }
    return fields;
}

std::expected<json, wire::Failure> responses_request_to_canonical(const json& body,
                                                                  const std::vector<json>& previous_items,
                                                                  const ResponsesItemLookup& lookup)
{
    if (!body.is_object()) {
        return std::unexpected(wire::bad_request("The request body must be a JSON object."));
    }
    for (const auto& [key, value] : body.items()) {
        if (std::find_if(k_openai_only.begin(), k_openai_only.end(), [&](const char* k) { return key == k; }) !=
            k_openai_only.end()) {
            if (!unset(value)) {
                return std::unexpected(wire::bad_request(not_supported("'" + key + "'"), key));
            }
            continue;
        }
        if (std::find_if(k_known.begin(), k_known.end(), [&](const char* k) { return key == k; }) == k_known.end() &&
            !value.is_null()) {
            return std::unexpected(wire::bad_request("Unrecognized request argument supplied: " + key, key));
        }
    }

    json out = json::object();
    if (body.contains("model")) {
        if (!body["model"].is_string()) {
            return std::unexpected(field_error("model", "must be a string."));
        }
        out["model"] = body["model"];
    }

    MessageBuilder builder(lookup, previous_items);
    if (body.contains("instructions") && !body["instructions"].is_null()) {
        if (!body["instructions"].is_string()) {
            return std::unexpected(field_error("instructions", "must be a string."));
        }
        if (auto text = body["instructions"].get<std::string>(); !text.empty()) {
            builder.push_system(std::move(text));
        }
    }
    for (std::size_t i = 0; i < previous_items.size(); ++i) {
        if (auto r = builder.add(previous_items[i], "previous_response_id.items[" + std::to_string(i) + "]"); !r) {
            return std::unexpected(r.error());
        }
    }
    const json input = body.value("input", json());
    if (input.is_string()) {
        if (auto r = builder.add({{"role", "user"}, {"content", input}}, "input"); !r) {
            return std::unexpected(r.error());
        }
    } else if (input.is_array()) {
        for (std::size_t i = 0; i < input.size(); ++i) {
            if (auto r = builder.add(input[i], "input[" + std::to_string(i) + "]"); !r) {
                return std::unexpected(r.error());
            }
        }
    } else if (!input.is_null()) {
        return std::unexpected(field_error("input", "must be a string or an array of input items."));
    }
    out["messages"] = builder.finish();
    if (out["messages"].empty()) {
        return std::unexpected(field_error("input", "is required (a string or an array of input items)."));
    }

    if (body.contains("tools") && !body["tools"].is_null()) {
        auto tools = tools_of(body["tools"]);
        if (!tools) {
            return std::unexpected(tools.error());
        }
        if (!tools->empty()) {
            out["tools"] = std::move(*tools);
        }
    }
    if (body.contains("tool_choice") && !body["tool_choice"].is_null()) {
        auto tc = tool_choice_of(body["tool_choice"]);
        if (!tc) {
            return std::unexpected(tc.error());
        }
        if (out.contains("tools")) {
            out["tool_choice"] = std::move(*tc);
        }
    }
    auto typed = [&](const char* key, auto check, const char* what) -> std::expected<bool, wire::Failure> {
        if (!body.contains(key) || body[key].is_null()) {
            return false;
        }
        if (!check(body[key])) {
            return std::unexpected(field_error(key, std::string("must be ") + what + "."));
        }
        return true;
    };
    auto is_bool = [](const json& v) { return v.is_boolean(); };
    auto is_number = [](const json& v) { return v.is_number(); };
    auto is_count = [](const json& v) { return v.is_number_integer() && v.get<std::int64_t>() > 0; };
    auto is_string = [](const json& v) { return v.is_string(); };
    auto is_object = [](const json& v) { return v.is_object(); };

    auto parallel = typed("parallel_tool_calls", is_bool, "a boolean");
    if (!parallel) {
        return std::unexpected(parallel.error());
    }
    if (*parallel && out.contains("tools")) {
        out["parallel_tool_calls"] = body["parallel_tool_calls"];
    }
    for (const char* key : {"temperature", "top_p"}) {
        auto r = typed(key, is_number, "a number");
        if (!r) {
            return std::unexpected(r.error());
        }
        if (*r) {
            out[key] = body[key];
        }
    }
    auto max_tokens = typed("max_output_tokens", is_count, "a positive integer");
    if (!max_tokens) {
        return std::unexpected(max_tokens.error());
    }
    if (*max_tokens) {
        out["max_completion_tokens"] = body["max_output_tokens"];
    }
    for (const char* key : {"store", "stream"}) {
        if (auto r = typed(key, is_bool, "a boolean"); !r) {
            return std::unexpected(r.error());
        }
    }
    if (body.value("stream", json(false)) == true) {
        out["stream"] = true;
        out["stream_options"] = {{"include_usage", true}};
    }
    for (const char* key : {"user", "safety_identifier", "prompt_cache_key", "previous_response_id", "service_tier"}) {
        if (auto r = typed(key, is_string, "a string"); !r) {
            return std::unexpected(r.error());
        }
    }
    if (auto user = string_at(body, "user"); !user.empty()) {
        out["user"] = user;
    } else if (auto sid = string_at(body, "safety_identifier"); !sid.empty()) {
        out["user"] = sid;
    }
    for (const char* key : {"metadata", "stream_options", "reasoning", "text"}) {
        if (auto r = typed(key, is_object, "an object"); !r) {
            return std::unexpected(r.error());
        }
    }
    if (body.contains("include") && !body["include"].is_null()) {
        const json& inc = body["include"];
        if (!inc.is_array() || !std::all_of(inc.begin(), inc.end(), [](const json& v) { return v.is_string(); })) {
            return std::unexpected(field_error("include", "must be an array of strings."));
        }
    }
    if (body.contains("truncation") && !body["truncation"].is_null() && body["truncation"] != "disabled") {
        if (body["truncation"] == "auto") {
            return std::unexpected(wire::bad_request(
                not_supported("truncation 'auto'") + " Leave it out or set it to 'disabled'.", "truncation"));
        }
        return std::unexpected(field_error("truncation", "must be 'auto' or 'disabled'."));
    }
    if (body.contains("reasoning") && body["reasoning"].is_object()) {
        const json& r = body["reasoning"];
        if (r.contains("effort") && !r["effort"].is_null()) {
            if (!r["effort"].is_string()) {
                return std::unexpected(field_error("reasoning.effort", "must be a string."));
            }
            out["reasoning_effort"] = r["effort"];
        }
        for (const char* key : {"summary", "generate_summary"}) {
            if (r.contains(key) && !r[key].is_null() && !r[key].is_string()) {
                return std::unexpected(field_error(std::string("reasoning.") + key, "must be a string."));
            }
        }
    }
    if (body.contains("text") && body["text"].is_object()) {
        if (auto r = text_of_request(body["text"], out); !r) {
            return std::unexpected(r.error());
        }
    }
    return out;
}

json canonical_response_to_responses(const json& cc, const ResponsesContext& ctx)
{
    std::vector<std::string> custom = custom_tool_names(ctx.request);
    const std::vector<std::string> namespaces = namespace_names(ctx.request);
    json output = json::array();
    std::string finish = "stop";
    if (cc.contains("choices") && cc["choices"].is_array() && !cc["choices"].empty()) {
        const json& choice = cc["choices"][0];
        finish = string_at(choice, "finish_reason");
        const json& msg = object_at(choice, "message");
        bool incomplete = finish == "length" || finish == "content_filter";
        std::string reasoning = string_at(msg, "reasoning_content");
        const json blocks = msg.contains("thinking_blocks") ? msg["thinking_blocks"] : json::array();
        std::string opaque = string_at(msg, "reasoning_opaque");
        if (!reasoning.empty() || (blocks.is_array() && !blocks.empty()) || !opaque.empty()) {
            output.push_back(reasoning_item(item_id(ctx, "rs", 0), reasoning, blocks, opaque));
        }
        std::string text = text_of(msg.contains("content") ? msg["content"] : json());
        if (msg.contains("content") && msg["content"].is_array()) {
            text.clear();
            for (const auto& p : msg["content"]) {
                text += string_at(p, "text");
            }
        }
        if (text.empty()) {
            text = string_at(msg, "refusal");
        }
        if (!text.empty()) {
            int index = static_cast<int>(output.size());
            output.push_back(message_item(item_id(ctx, "msg", index), text, incomplete ? "incomplete" : "completed"));
        }
        if (msg.contains("tool_calls") && msg["tool_calls"].is_array()) {
            for (const auto& tc : msg["tool_calls"]) {
                const json& fn = object_at(tc, "function");
                int index = static_cast<int>(output.size());
                std::string name = string_at(fn, "name");
                if (is_custom(custom, name)) {
                    output.push_back(custom_tool_call_item(item_id(ctx, "ctc", index), string_at(tc, "id"), name,
                                                           custom_input_of(string_at(fn, "arguments"))));
                } else {
                    output.push_back(function_call_item(item_id(ctx, "fc", index), string_at(tc, "id"), name,
                                                        string_at(fn, "arguments"), "completed"));
                }
                set_call_name(output.back(), namespaces, name);
            }
        }
    }
    json response =
        response_object(ctx, "completed", std::move(output), responses_usage_json(cc.value("usage", json())));
    apply_finish(response, finish);
    return response;
}

// -------------------------------------------------------------------------------------------

ResponsesStreamWriter::ResponsesStreamWriter(ResponsesContext ctx)
    : m_ctx(std::move(ctx)),
      m_custom_tools(custom_tool_names(m_ctx.request)),
      m_namespaces(namespace_names(m_ctx.request))
{
    m_response = response_object(m_ctx, "in_progress", json::array(), nullptr);
}

std::string ResponsesStreamWriter::emit(const char* type, json data)
{
    data["type"] = type;
    data["sequence_number"] = m_sequence++;
    return wire::sse_event(type, wire::dump_json(data));
}

void ResponsesStreamWriter::start(std::vector<std::string>& out)
{
    if (m_started) {
        return;
    }
    m_started = true;
    out.push_back(emit("response.created", {{"response", m_response}}));
    out.push_back(emit("response.in_progress", {{"response", m_response}}));
}

ResponsesStreamWriter::Item& ResponsesStreamWriter::open_item(Kind kind)
{
    Item item;
    item.kind = kind;
    item.output_index = static_cast<int>(m_items.size());
    const char* prefix = kind == Kind::reasoning       ? "rs"
                         : kind == Kind::message       ? "msg"
                         : kind == Kind::function_call ? "fc"
                                                       : "ctc";
    item.id = item_id(m_ctx, prefix, item.output_index);
    m_items.push_back(std::move(item));
    return m_items.back();
}

json ResponsesStreamWriter::item_json(const Item& item, bool done) const
{
    const char* status = done ? "completed" : "in_progress";
    switch (item.kind) {
        case Kind::reasoning: {
            if (!done) {
                return {{"id", item.id}, {"type", "reasoning"}, {"summary", json::array()}};
            }
            return reasoning_item(item.id, item.text, item.thinking_blocks, {});
        }
        case Kind::message: {
            if (!done) {
                return {{"id", item.id},
                        {"type", "message"},
                        {"status", status},
                        {"role", "assistant"},
                        {"content", json::array()}};
            }
            bool incomplete = m_finish_reason == "length" || m_finish_reason == "content_filter";
            return message_item(item.id, item.text, incomplete ? "incomplete" : "completed");
        }
        case Kind::function_call: {
            json j = function_call_item(item.id, item.call_id, item.name, done ? item.text : std::string{}, status);
            set_call_name(j, m_namespaces, item.name);
            return j;
        }
        case Kind::custom_tool_call: {
            json j = custom_tool_call_item(item.id, item.call_id, item.name, done ? item.text : std::string{});
            j["status"] = status;
            set_call_name(j, m_namespaces, item.name);
            return j;
        }
    }
    return json::object();
}

void ResponsesStreamWriter::close_item(Item& item, std::vector<std::string>& out)
{
    if (!item.open) {
        return;
    }
    item.open = false;
    json where = {{"item_id", item.id}, {"output_index", item.output_index}};
    auto with = [&](json extra) {
        json d = where;
        d.update(extra);
        return d;
    };
    switch (item.kind) {
        case Kind::reasoning:
            if (item.has_part) {
                out.push_back(
                    emit("response.reasoning_summary_text.done", with({{"summary_index", 0}, {"text", item.text}})));
                out.push_back(
                    emit("response.reasoning_summary_part.done",
                         with({{"summary_index", 0}, {"part", {{"type", "summary_text"}, {"text", item.text}}}})));
            }
            break;
        case Kind::message:
            out.push_back(emit("response.output_text.done",
                               with({{"content_index", 0}, {"text", item.text}, {"logprobs", json::array()}})));
            out.push_back(emit("response.content_part.done",
                               with({{"content_index", 0}, {"part", output_text_part(item.text)}})));
            break;
        case Kind::function_call:
            out.push_back(
                emit("response.function_call_arguments.done",
                     with({{"arguments", item.text}, {"name", split_namespaced(m_namespaces, item.name).second}})));
            break;
        case Kind::custom_tool_call:
            // The input arrives as JSON text of {"input": "..."}: it is decoded once it is complete.
            item.text = custom_input_of(item.text);
            if (!item.text.empty()) {
                out.push_back(emit("response.custom_tool_call_input.delta", with({{"delta", item.text}})));
            }
            out.push_back(emit("response.custom_tool_call_input.done", with({{"input", item.text}})));
            break;
    }
    out.push_back(
        emit("response.output_item.done", {{"output_index", item.output_index}, {"item", item_json(item, true)}}));
}

void ResponsesStreamWriter::close_current(std::vector<std::string>& out)
{
    if (m_current >= 0) {
        close_item(m_items[static_cast<std::size_t>(m_current)], out);
        m_current = -1;
    }
}

std::vector<std::string> ResponsesStreamWriter::on_chunk(const json& chunk)
{
    std::vector<std::string> out;
    if (m_ended || !chunk.is_object()) {
        return out;
    }
    start(out);
    if (chunk.contains("usage") && chunk["usage"].is_object()) {
        m_usage = chunk["usage"];
    }
    if (!chunk.contains("choices") || !chunk["choices"].is_array() || chunk["choices"].empty()) {
        return out;
    }
    const json& choice = chunk["choices"][0];
    const json& delta = object_at(choice, "delta");
    auto current_is = [&](Kind kind) {
        return m_current >= 0 && m_items[static_cast<std::size_t>(m_current)].kind == kind;
    };
    auto open_current = [&](Kind kind) -> Item& {
        close_current(out);
        Item& item = open_item(kind);
        m_current = static_cast<int>(m_items.size()) - 1;
        out.push_back(emit("response.output_item.added",
                           {{"output_index", item.output_index}, {"item", item_json(item, false)}}));
        return item;
    };

    if (auto reasoning = string_at(delta, "reasoning_content"); !reasoning.empty()) {
        Item* item = current_is(Kind::reasoning) ? &m_items[static_cast<std::size_t>(m_current)]
                                                 : &open_current(Kind::reasoning);
        if (!item->has_part) {
            item->has_part = true;
            out.push_back(
                emit("response.reasoning_summary_part.added", {{"item_id", item->id},
                                                               {"output_index", item->output_index},
                                                               {"summary_index", 0},
                                                               {"part", {{"type", "summary_text"}, {"text", ""}}}}));
        }
        item->text += reasoning;
        out.push_back(emit(
            "response.reasoning_summary_text.delta",
            {{"item_id", item->id}, {"output_index", item->output_index}, {"summary_index", 0}, {"delta", reasoning}}));
    }
    if (delta.contains("thinking_blocks") && delta["thinking_blocks"].is_array()) {
        Item* item = current_is(Kind::reasoning) ? &m_items[static_cast<std::size_t>(m_current)]
                                                 : &open_current(Kind::reasoning);
        for (auto block : delta["thinking_blocks"]) {
            // Anthropic streams the thinking text apart from its signature: the signed block
            // covers the text since the previous one.
            if (string_at(block, "type") == "thinking" && string_at(block, "thinking").empty()) {
                block["thinking"] = item->text.substr(std::min(item->signed_upto, item->text.size()));
            }
            item->signed_upto = item->text.size();
            item->thinking_blocks.push_back(std::move(block));
        }
    }
    std::string text = string_at(delta, "content");
    if (text.empty()) {
        text = string_at(delta, "refusal");
    }
    if (!text.empty()) {
        Item* item =
            current_is(Kind::message) ? &m_items[static_cast<std::size_t>(m_current)] : &open_current(Kind::message);
        if (item->text.empty()) {
            out.push_back(emit("response.content_part.added", {{"item_id", item->id},
                                                               {"output_index", item->output_index},
                                                               {"content_index", 0},
                                                               {"part", output_text_part("")}}));
        }
        item->text += text;
        out.push_back(emit("response.output_text.delta", {{"item_id", item->id},
                                                          {"output_index", item->output_index},
                                                          {"content_index", 0},
                                                          {"delta", text},
                                                          {"logprobs", json::array()}}));
    }
    if (delta.contains("tool_calls") && delta["tool_calls"].is_array()) {
        for (const auto& tc : delta["tool_calls"]) {
            int index = static_cast<int>(int_at(tc, "index"));
            const json& fn = object_at(tc, "function");
            auto found = m_tool_items.find(index);
            if (found == m_tool_items.end()) {
                close_current(out);
                std::string name = string_at(fn, "name");
                Item& item = open_item(is_custom(m_custom_tools, name) ? Kind::custom_tool_call : Kind::function_call);
                item.name = name;
                item.call_id = string_at(tc, "id");
                if (item.call_id.empty()) {
                    item.call_id = "call_" + id_base(m_ctx) + "_" + std::to_string(item.output_index);
                }
                out.push_back(emit("response.output_item.added",
                                   {{"output_index", item.output_index}, {"item", item_json(item, false)}}));
                found = m_tool_items.emplace(index, static_cast<int>(m_items.size()) - 1).first;
            }
            Item& item = m_items[static_cast<std::size_t>(found->second)];
            if (auto args = string_at(fn, "arguments"); !args.empty() && item.open) {
                item.text += args;
                if (item.kind == Kind::function_call) {
                    out.push_back(emit("response.function_call_arguments.delta",
                                       {{"item_id", item.id}, {"output_index", item.output_index}, {"delta", args}}));
                }
            }
        }
    }
    if (auto finish = string_at(choice, "finish_reason"); !finish.empty()) {
        m_finish_reason = finish;
    }
    return out;
}

json ResponsesStreamWriter::build_response(const char* status) const
{
    json output = json::array();
    for (const auto& item : m_items) {
        output.push_back(item_json(item, true));
    }
    return response_object(m_ctx, status, std::move(output), responses_usage_json(m_usage));
}

std::vector<std::string> ResponsesStreamWriter::finish()
{
    std::vector<std::string> out;
    if (m_ended) {
        return out;
    }
    start(out);
    close_current(out);
    for (auto& item : m_items) {
        close_item(item, out);
    }
    m_ended = true;
    m_response = build_response("completed");
    apply_finish(m_response, m_finish_reason);
    bool incomplete = m_response["status"] == "incomplete";
    out.push_back(emit(incomplete ? "response.incomplete" : "response.completed", {{"response", m_response}}));
    return out;
}

std::vector<std::string> ResponsesStreamWriter::error(const wire::Failure& failure)
{
    std::vector<std::string> out;
    if (m_ended) {
        return out;
    }
    start(out);
    m_ended = true;
    // Items still open are reported as they stand (status incomplete), without .done events.
    m_response = build_response("failed");
    for (std::size_t i = 0; i < m_items.size(); ++i) {
        json& item = m_response["output"][i];
        if (m_items[i].open && item.contains("status")) {
            item["status"] = "incomplete";
        }
    }
    m_response["error"] = {{"code", error_code_for(failure)}, {"message", failure.message}};
    out.push_back(emit("response.failed", {{"response", m_response}}));
    return out;
}

std::string ResponsesStreamWriter::error_event(const wire::Failure& failure, std::int64_t sequence_number)
{
    json data = {{"type", "error"},
                 {"code", error_code_for(failure)},
                 {"message", failure.message},
                 {"param", failure.param.empty() ? json(nullptr) : json(failure.param)},
                 {"sequence_number", sequence_number}};
    return wire::sse_event("error", wire::dump_json(data));
}

// -------------------------------------------------------------------------------------------

wire::Failure translation_failure_for(wire::Failure failure, std::string_view provider)
{
    failure.message = "provider '" + std::string(provider) +
                      "' has no Responses API of its own, so aigw translates the request for it, and " +
                      failure.message;
    return failure;
}

bool responses_cacheable(const json& response)
{
    if (!response.is_object() || string_at(response, "object") != "response" || !response.contains("output") ||
        !response["output"].is_array()) {
        return false;
    }
    const std::string status = string_at(response, "status");
    return status == "completed" || status == "incomplete";
}

json responses_from_cache(json cached, const std::string& response_id, std::int64_t created_at, const json& request)
{
    if (!cached.is_object()) {
        return cached;
    }
    auto base_of = [](std::string_view id) {
        if (id.starts_with("resp_")) {
            id.remove_prefix(5);
        }
        return std::string(id);
    };
    const std::string old_base = base_of(string_at(cached, "id"));
    const std::string new_base = base_of(response_id);
    cached["id"] = response_id;
    cached["created_at"] = created_at;
    if (auto out = cached.find("output"); out != cached.end() && out->is_array() && !old_base.empty()) {
        for (auto& item : *out) {
            if (!item.is_object() || !item.contains("id") || !item["id"].is_string()) {
                continue;
            }
            std::string id = item["id"].get<std::string>();
            if (auto at = id.find("_" + old_base + "_"); at != std::string::npos) {
                id.replace(at + 1, old_base.size(), new_base);
                item["id"] = std::move(id);
            }
        }
    }
    for (const char* key :
         {"metadata", "user", "store", "previous_response_id", "safety_identifier", "prompt_cache_key"}) {
        if (!cached.contains(key)) {
            continue;
        }
        auto r = request.is_object() ? request.find(key) : request.end();
        if (r != request.end() && !r->is_null()) {
            cached[key] = *r;
        } else if (std::string_view(key) == "store") {
            cached[key] = true;
        } else if (std::string_view(key) == "metadata") {
            cached[key] = json::object();
        } else {
            cached[key] = nullptr;
        }
    }
    return cached;
}

std::vector<std::string> responses_replay_events(const json& response)
{
    std::vector<std::string> out;
    std::int64_t seq = 0;
    auto emit = [&](const char* type, json data) {
        data["type"] = type;
        data["sequence_number"] = seq++;
        out.push_back(wire::sse_event(type, wire::dump_json(data)));
    };
    json start = response;
    start["status"] = "in_progress";
    start["output"] = json::array();
    start["usage"] = nullptr;
    start["incomplete_details"] = nullptr;
    emit("response.created", {{"response", start}});
    emit("response.in_progress", {{"response", start}});
    const json& output =
        response.contains("output") && response["output"].is_array() ? response["output"] : json::array();
    for (std::size_t i = 0; i < output.size(); ++i) {
        const json& item = output[i];
        if (!item.is_object()) {
            continue;
        }
        const std::string type = string_at(item, "type");
        const json id = item.contains("id") ? item["id"] : json(nullptr);
        auto at = [&](json extra) {
            extra["item_id"] = id;
            extra["output_index"] = i;
            return extra;
        };
        json added = item;
        if (added.contains("status")) {
            added["status"] = "in_progress";
        }
        if (type == "message") {
            added["content"] = json::array();
        } else if (type == "reasoning") {
            added["summary"] = json::array();
            added.erase("encrypted_content");
        } else if (type == "function_call") {
            added["arguments"] = "";
        } else if (type == "custom_tool_call") {
            added["input"] = "";
        }
        emit("response.output_item.added", {{"output_index", i}, {"item", std::move(added)}});
        if (type == "message" && item.contains("content") && item["content"].is_array()) {
            const json& parts = item["content"];
            for (std::size_t c = 0; c < parts.size(); ++c) {
                const json& part = parts[c];
                const std::string part_type = string_at(part, "type");
                json empty = part;
                if (part_type == "output_text") {
                    empty["text"] = "";
                    if (empty.contains("annotations")) {
                        empty["annotations"] = json::array();
                    }
                } else if (part_type == "refusal") {
                    empty["refusal"] = "";
                }
                emit("response.content_part.added", at({{"content_index", c}, {"part", std::move(empty)}}));
                if (part_type == "output_text") {
                    const std::string text = string_at(part, "text");
                    emit("response.output_text.delta",
                         at({{"content_index", c}, {"delta", text}, {"logprobs", json::array()}}));
                    emit("response.output_text.done",
                         at({{"content_index", c}, {"text", text}, {"logprobs", json::array()}}));
                } else if (part_type == "refusal") {
                    const std::string text = string_at(part, "refusal");
                    emit("response.refusal.delta", at({{"content_index", c}, {"delta", text}}));
                    emit("response.refusal.done", at({{"content_index", c}, {"refusal", text}}));
                }
                emit("response.content_part.done", at({{"content_index", c}, {"part", part}}));
            }
        } else if (type == "reasoning" && item.contains("summary") && item["summary"].is_array()) {
            const json& parts = item["summary"];
            for (std::size_t k = 0; k < parts.size(); ++k) {
                const std::string text = string_at(parts[k], "text");
                emit("response.reasoning_summary_part.added",
                     at({{"summary_index", k}, {"part", {{"type", "summary_text"}, {"text", ""}}}}));
                emit("response.reasoning_summary_text.delta", at({{"summary_index", k}, {"delta", text}}));
                emit("response.reasoning_summary_text.done", at({{"summary_index", k}, {"text", text}}));
                emit("response.reasoning_summary_part.done", at({{"summary_index", k}, {"part", parts[k]}}));
            }
        } else if (type == "function_call") {
            const std::string args = string_at(item, "arguments");
            emit("response.function_call_arguments.delta", at({{"delta", args}}));
            emit("response.function_call_arguments.done",
                 at({{"arguments", args}, {"name", item.value("name", json())}}));
        } else if (type == "custom_tool_call") {
            const std::string input = string_at(item, "input");
            emit("response.custom_tool_call_input.delta", at({{"delta", input}}));
            emit("response.custom_tool_call_input.done", at({{"input", input}}));
        }
        emit("response.output_item.done", {{"output_index", i}, {"item", item}});
    }
    const bool incomplete = string_at(response, "status") == "incomplete";
    emit(incomplete ? "response.incomplete" : "response.completed", {{"response", response}});
    return out;
}

std::expected<wire::Usage, wire::Failure> responses_usage(const json& response)
{
    if (!response.is_object() || string_at(response, "object") != "response") {
        return std::unexpected(upstream_failure("upstream sent a malformed answer: not a Responses response object"));
    }
    wire::Usage u;
    const json& usage = object_at(response, "usage");
    if (usage.empty()) {
        return u;
    }
    u.reported = true;
    u.input_tokens = int_at(usage, "input_tokens");
    u.cached_tokens = int_at(object_at(usage, "input_tokens_details"), "cached_tokens");
    u.output_tokens = int_at(usage, "output_tokens");
    u.reasoning_tokens = int_at(object_at(usage, "output_tokens_details"), "reasoning_tokens");
    return u;
}

std::vector<json> responses_output_items(const json& response)
{
    std::vector<json> items;
    if (response.is_object() && response.contains("output") && response["output"].is_array()) {
        for (const auto& item : response["output"]) {
            items.push_back(item);
        }
    }
    return items;
}

std::expected<void, wire::Failure> ResponsesStreamTap::on_event(const wire::SseEvent& ev, std::vector<json>& out)
{
    if (ev.data.empty() || ev.data == "[DONE]") {
        return {};
    }
    json data = json::parse(ev.data, nullptr, false);
    if (data.is_discarded() || !data.is_object()) {
        return std::unexpected(upstream_failure("upstream sent a malformed answer: a stream event is not JSON"));
    }
    if (auto seq = data.find("sequence_number"); seq != data.end() && seq->is_number_integer()) {
        m_last_sequence = std::max(m_last_sequence, seq->get<std::int64_t>());
    }
    std::string type = string_at(data, "type");
    if (type.empty()) {
        type = ev.event;
    }
    auto failure_from = [](const json& err) {
        wire::Failure f = upstream_failure(string_at(err, "message"));
        f.code = string_at(err, "code");
        if (f.message.empty()) {
            f.message =
                "the upstream's Responses stream failed" + (f.code.empty() ? std::string() : " (" + f.code + ")");
        }
        if (f.code == "rate_limit_exceeded") {
            f.kind = wire::FailureKind::rate_limited;
            f.status = 429;
        }
        return f;
    };
    if (type == "response.completed" || type == "response.incomplete" || type == "response.failed") {
        m_finished = true;
        m_response = object_at(data, "response");
        if (auto u = responses_usage(m_response)) {
            m_usage = *u;
        }
        if (type == "response.failed") {
            return std::unexpected(failure_from(object_at(m_response, "error")));
        }
    } else if (type == "error") {
        return std::unexpected(failure_from(data.contains("error") ? object_at(data, "error") : data));
    } else if (type == "response.output_item.added") {
        // The answer has started: one marker chunk, so the relay stops holding the stream
        // back (a failure before this point can still be retried or fall back). The relay
        // writes the upstream's bytes, never this chunk.
        out.push_back({{"object", "chat.completion.chunk"},
                       {"choices", json::array({{{"index", 0}, {"delta", {{"content", " "}}}}})}});
    }
    return {};
}

}  // namespace aigw::daemon::providers

#include "daemon/providers/anthropic/anthropic_surface.hpp"
#include "daemon/providers/json_access.hpp"
#include "daemon/providers/validate.hpp"

#include "shared/wire/json_text.hpp"
#include "shared/wire/sse.hpp"

#include <algorithm>

namespace aigw::daemon::providers {
namespace {

using nlohmann::json;

/// An Anthropic image/document source -> a data URL or plain URL.
std::string source_url(const json& source)
{
    if (string_at(source, "type") == "url") {
        return string_at(source, "url");
    }
    if (string_at(source, "type") == "text") {
        return {};
    }
    return "data:" + string_at(source, "media_type") + ";base64," + string_at(source, "data");
}

/// Anthropic content blocks (no tool blocks) -> OpenAI content parts.
std::expected<json, wire::Failure> parts_of(const json& blocks)
{
    json parts = json::array();
    for (const auto& b : blocks) {
        std::string type = string_at(b, "type");
        json part;
        if (type == "text") {
            part = {{"type", "text"}, {"text", string_at(b, "text")}};
        } else if (type == "image") {
            part = {{"type", "image_url"}, {"image_url", {{"url", source_url(object_at(b, "source"))}}}};
        } else if (type == "document") {
            const json& src = object_at(b, "source");
            if (string_at(src, "type") == "text") {
                part = {{"type", "text"}, {"text", string_at(src, "data")}};
            } else {
                json file = {{"file_data", source_url(src)}};
                if (auto title = string_at(b, "title"); !title.empty()) {
                    file["filename"] = title;
                }
                part = {{"type", "file"}, {"file", std::move(file)}};
            }
        } else {
            return std::unexpected(wire::bad_request(
                "Content block type '" + type + "' cannot be sent to a non-Anthropic model.", "messages"));
        }
        if (b.contains("cache_control")) {
            part["cache_control"] = b["cache_control"];
        }
        parts.push_back(std::move(part));
    }
    return parts;
}

/// Parts that are all plain text collapse to a string (what most OpenAI-compatible servers expect).
json collapse(json parts)
{
    std::string text;
    for (const auto& p : parts) {
        if (string_at(p, "type") != "text" || p.contains("cache_control")) {
            return parts;
        }
        text += string_at(p, "text");
    }
    return text;
}

std::string stop_reason_for(std::string_view finish)
{
    if (finish == "length") {
        return "max_tokens";
    }
    if (finish == "tool_calls" || finish == "function_call") {
        return "tool_use";
    }
    if (finish == "content_filter") {
        return "refusal";
    }
    return "end_turn";
}

/// OpenAI usage -> Anthropic usage, whose input_tokens exclude cache reads and writes.
json anthropic_usage(const json& usage)
{
    std::int64_t prompt = int_at(usage, "prompt_tokens");
    const json& details = object_at(usage, "prompt_tokens_details");
    std::int64_t read = int_at(details, "cached_tokens");
    std::int64_t written = int_at(details, "cache_creation_tokens");
    return {{"input_tokens", std::max<std::int64_t>(0, prompt - read - written)},
            {"cache_creation_input_tokens", written},
            {"cache_read_input_tokens", read},
            {"output_tokens", int_at(usage, "completion_tokens")}};
}

/// A tool_use block's input as the canonical arguments string ("{}" when absent).
std::string tool_input_text(const json& input)
{
    return input.is_null() ? std::string("{}") : wire::dump_json(input);
}

json parse_arguments(const std::string& args)
{
    json input = args.empty() ? json::object() : wire::parse_json_lenient(args);
    return (input.is_discarded() || !input.is_object()) ? json::object() : input;
}

std::string message_id(const std::string& id)
{
    if (id.starts_with("msg_")) {
        return id;
    }
    return "msg_" + (id.empty() ? std::string("aigw") : id);
}

}  // namespace

std::expected<json, wire::Failure> anthropic_request_to_canonical(const json& req)
{
    if (!req.is_object() || !req.contains("messages") || !req["messages"].is_array()) {
        return std::unexpected(wire::bad_request("messages: Field required (an array of messages).", "messages"));
    }
    if (auto bad = validate_messages_fields(req)) {
        return std::unexpected(std::move(*bad));
    }
    json out = {{"model", req.value("model", json(""))}};
    json messages = json::array();

    if (req.contains("system")) {
        const json& sys = req["system"];
        if (sys.is_string()) {
            messages.push_back({{"role", "system"}, {"content", sys}});
        } else if (sys.is_array()) {
            auto parts = parts_of(sys);
            if (!parts) {
                return std::unexpected(parts.error());
            }
            messages.push_back({{"role", "system"}, {"content", collapse(std::move(*parts))}});
        }
    }

    for (const auto& m : req["messages"]) {
        std::string role = string_at(m, "role");
        const json& content = field_at(m, "content");
        if (role == "system") {
            // A mid-conversation system message: the canonical form keeps it in place; each
            // adapter folds it into its target's system prompt.
            if (content.is_string()) {
                messages.push_back({{"role", "system"}, {"content", content}});
            } else {
                auto parts = parts_of(content);
                if (!parts) {
                    return std::unexpected(parts.error());
                }
                messages.push_back({{"role", "system"}, {"content", collapse(std::move(*parts))}});
            }
            continue;
        }
        if (role != "user" && role != "assistant") {
            return std::unexpected(wire::bad_request(
                "messages: Unexpected role \"" + role + "\". Allowed roles are \"user\" or \"assistant\".",
                "messages"));
        }
        if (content.is_string()) {
            messages.push_back({{"role", role}, {"content", content}});
            continue;
        }
        if (!content.is_array()) {
            return std::unexpected(wire::bad_request("messages: content must be a string or an array.", "messages"));
        }
        if (role == "user") {
            // Tool results become role "tool" messages, placed before the rest of the turn.
            json rest = json::array();
            for (const auto& b : content) {
                if (string_at(b, "type") != "tool_result") {
                    rest.push_back(b);
                    continue;
                }
                const json& rc = field_at(b, "content");
                std::string text;
                if (rc.is_string()) {
                    text = rc.get<std::string>();
                } else if (rc.is_array()) {
                    for (const auto& c : rc) {
                        text += string_at(c, "text");
                    }
                }
                if (bool_at(b, "is_error")) {
                    text = "Error: " + text;
                }
                messages.push_back(
                    {{"role", "tool"}, {"tool_call_id", string_at(b, "tool_use_id")}, {"content", text}});
            }
            if (!rest.empty()) {
                auto parts = parts_of(rest);
                if (!parts) {
                    return std::unexpected(parts.error());
                }
                messages.push_back({{"role", "user"}, {"content", collapse(std::move(*parts))}});
            }
        } else {
            std::string text;
            json tool_calls = json::array();
            json thinking_blocks = json::array();
            for (const auto& b : content) {
                std::string type = string_at(b, "type");
                if (type == "text") {
                    text += string_at(b, "text");
                } else if (type == "tool_use") {
                    tool_calls.push_back(
                        {{"id", string_at(b, "id")},
                         {"type", "function"},
                         {"function",
                          {{"name", string_at(b, "name")}, {"arguments", tool_input_text(field_at(b, "input"))}}}});
                } else if (type == "thinking" || type == "redacted_thinking") {
                    thinking_blocks.push_back(b);
                }
            }
            json msg = {{"role", "assistant"},
                        {"content", text.empty() && !tool_calls.empty() ? json(nullptr) : json(text)}};
            if (!tool_calls.empty()) {
                msg["tool_calls"] = std::move(tool_calls);
            }
            if (!thinking_blocks.empty()) {
                msg["thinking_blocks"] = std::move(thinking_blocks);
            }
            messages.push_back(std::move(msg));
        }
    }
    out["messages"] = std::move(messages);

    if (req.contains("max_tokens")) {
        out["max_tokens"] = req["max_tokens"];
    }
    for (const char* key : {"temperature", "top_p", "top_k"}) {
        if (req.contains(key)) {
            out[key] = req[key];
        }
    }
    if (req.contains("stop_sequences") && req["stop_sequences"].is_array() && !req["stop_sequences"].empty()) {
        out["stop"] = req["stop_sequences"];
    }
    if (bool_at(req, "stream")) {
        out["stream"] = true;
        out["stream_options"] = {{"include_usage", true}};
    }
    if (auto user = string_at(object_at(req, "metadata"), "user_id"); !user.empty()) {
        out["user"] = user;
    }
    if (req.contains("thinking") && string_at(req["thinking"], "type") == "enabled") {
        std::int64_t budget = int_at(req["thinking"], "budget_tokens");
        out["reasoning_effort"] = budget <= 2048 ? "low" : budget <= 8192 ? "medium" : "high";
    } else if (req.contains("output_config") && !string_at(req["output_config"], "effort").empty()) {
        out["reasoning_effort"] = string_at(req["output_config"], "effort");
    }

    // Structured outputs: `output_config.format` (and the beta's `output_format`) is a JSON
    // schema the answer must follow, which is what response_format says in canonical form.
    const json& format = object_at(req, "output_config").contains("format") ? object_at(req, "output_config")["format"]
                                                                            : field_at(req, "output_format");
    if (string_at(format, "type") == "json_schema" && field_at(format, "schema").is_object()) {
        out["response_format"] = {
            {"type", "json_schema"},
            {"json_schema", {{"name", "response"}, {"schema", format["schema"]}, {"strict", true}}}};
    }

    if (req.contains("tools") && req["tools"].is_array()) {
        json tools = json::array();
        for (const auto& t : req["tools"]) {
            std::string type = string_at(t, "type");
            if (!type.empty() && type != "custom") {
                return std::unexpected(wire::bad_request(
                    "Tool type '" + type + "' is an Anthropic server tool and needs an Anthropic model.", "tools"));
            }
            json fn = {{"name", string_at(t, "name")},
                       {"parameters", field_at(t, "input_schema").is_object()
                                          ? field_at(t, "input_schema")
                                          : json{{"type", "object"}, {"properties", json::object()}}}};
            if (auto d = string_at(t, "description"); !d.empty()) {
                fn["description"] = d;
            }
            tools.push_back({{"type", "function"}, {"function", std::move(fn)}});
        }
        if (!tools.empty()) {
            out["tools"] = std::move(tools);
        }
    }
    if (req.contains("tool_choice") && req["tool_choice"].is_object() && out.contains("tools")) {
        const json& tc = req["tool_choice"];
        std::string type = string_at(tc, "type");
        if (type == "any") {
            out["tool_choice"] = "required";
        } else if (type == "tool") {
            out["tool_choice"] = {{"type", "function"}, {"function", {{"name", string_at(tc, "name")}}}};
        } else if (type == "none") {
            out["tool_choice"] = "none";
        } else {
            out["tool_choice"] = "auto";
        }
        if (bool_at(tc, "disable_parallel_tool_use")) {
            out["parallel_tool_calls"] = false;
        }
    }
    return out;
}

json canonical_response_to_anthropic(const json& cc, std::string_view model)
{
    json content = json::array();
    std::string finish = "stop";
    if (cc.contains("choices") && cc["choices"].is_array() && !cc["choices"].empty()) {
        const json& choice = cc["choices"][0];
        finish = string_at(choice, "finish_reason");
        const json& msg = object_at(choice, "message");
        if (auto reasoning = string_at(msg, "reasoning_content"); !reasoning.empty()) {
            content.push_back({{"type", "thinking"}, {"thinking", reasoning}, {"signature", ""}});
        }
        if (auto text = string_at(msg, "content"); !text.empty()) {
            content.push_back({{"type", "text"}, {"text", text}});
        } else if (auto refusal = string_at(msg, "refusal"); !refusal.empty()) {
            content.push_back({{"type", "text"}, {"text", refusal}});
        }
        if (msg.contains("tool_calls") && msg["tool_calls"].is_array()) {
            for (const auto& tc : msg["tool_calls"]) {
                const json& fn = object_at(tc, "function");
                content.push_back({{"type", "tool_use"},
                                   {"id", string_at(tc, "id")},
                                   {"name", string_at(fn, "name")},
                                   {"input", parse_arguments(string_at(fn, "arguments"))}});
            }
        }
    }
    return {{"id", message_id(string_at(cc, "id"))},
            {"type", "message"},
            {"role", "assistant"},
            {"model", std::string(model)},
            {"content", std::move(content)},
            {"stop_reason", stop_reason_for(finish)},
            {"stop_sequence", nullptr},
            {"usage", anthropic_usage(object_at(cc, "usage"))}};
}

AnthropicStreamWriter::AnthropicStreamWriter(std::string model, std::int64_t input_tokens)
    : m_model(std::move(model)), m_input_tokens(input_tokens)
{}

void AnthropicStreamWriter::start_message(const json& chunk, std::vector<std::string>& out)
{
    if (m_started) {
        return;
    }
    m_started = true;
    m_id = message_id(string_at(chunk, "id"));
    json message = {{"id", m_id},
                    {"type", "message"},
                    {"role", "assistant"},
                    {"model", m_model},
                    {"content", json::array()},
                    {"stop_reason", nullptr},
                    {"stop_sequence", nullptr},
                    {"usage", {{"input_tokens", m_input_tokens}, {"output_tokens", 0}}}};
    if (auto u = chunk.find("usage"); u != chunk.end() && u->is_object() && int_at(*u, "prompt_tokens") > 0) {
        json usage = anthropic_usage(*u);
        usage["output_tokens"] = 0;
        message["usage"] = std::move(usage);
    }
    out.push_back(
        wire::sse_event("message_start", wire::dump_json(json{{"type", "message_start"}, {"message", message}})));
}

void AnthropicStreamWriter::open_block(Block type, json content_block, std::vector<std::string>& out)
{
    close_block(out);
    m_block = type;
    ++m_block_index;
    out.push_back(wire::sse_event(
        "content_block_start",
        wire::dump_json(json{
            {"type", "content_block_start"}, {"index", m_block_index}, {"content_block", std::move(content_block)}})));
}

void AnthropicStreamWriter::close_block(std::vector<std::string>& out)
{
    if (m_block == Block::none) {
        return;
    }
    out.push_back(wire::sse_event("content_block_stop",
                                  wire::dump_json(json{{"type", "content_block_stop"}, {"index", m_block_index}})));
    m_block = Block::none;
}

std::vector<std::string> AnthropicStreamWriter::on_chunk(const json& chunk)
{
    std::vector<std::string> out;
    if (m_finished || !chunk.is_object()) {
        return out;
    }
    start_message(chunk, out);
    if (chunk.contains("usage") && chunk["usage"].is_object()) {
        m_usage = chunk["usage"];
    }
    if (!chunk.contains("choices") || !chunk["choices"].is_array() || chunk["choices"].empty()) {
        return out;
    }
    const json& choice = chunk["choices"][0];
    const json& delta = object_at(choice, "delta");
    auto emit_delta = [&](int index, json d) {
        out.push_back(wire::sse_event(
            "content_block_delta",
            wire::dump_json(json{{"type", "content_block_delta"}, {"index", index}, {"delta", std::move(d)}})));
    };
    if (auto reasoning = string_at(delta, "reasoning_content"); !reasoning.empty()) {
        if (m_block != Block::thinking) {
            open_block(Block::thinking, {{"type", "thinking"}, {"thinking", ""}, {"signature", ""}}, out);
        }
        emit_delta(m_block_index, {{"type", "thinking_delta"}, {"thinking", reasoning}});
    }
    if (auto text = string_at(delta, "content"); !text.empty()) {
        if (m_block != Block::text) {
            open_block(Block::text, {{"type", "text"}, {"text", ""}}, out);
        }
        emit_delta(m_block_index, {{"type", "text_delta"}, {"text", text}});
    }
    if (delta.contains("tool_calls") && delta["tool_calls"].is_array()) {
        for (const auto& tc : delta["tool_calls"]) {
            int index = static_cast<int>(int_at(tc, "index"));
            const json& fn = object_at(tc, "function");
            if (!m_tool_blocks.contains(index)) {
                open_block(Block::tool_use,
                           {{"type", "tool_use"},
                            {"id", string_at(tc, "id")},
                            {"name", string_at(fn, "name")},
                            {"input", json::object()}},
                           out);
                m_tool_blocks[index] = m_block_index;
            }
            if (auto args = string_at(fn, "arguments"); !args.empty()) {
                emit_delta(m_tool_blocks[index], {{"type", "input_json_delta"}, {"partial_json", args}});
            }
        }
    }
    if (auto finish = string_at(choice, "finish_reason"); !finish.empty()) {
        m_stop_reason = stop_reason_for(finish);
    }
    return out;
}

std::vector<std::string> AnthropicStreamWriter::finish()
{
    std::vector<std::string> out;
    if (m_finished) {
        return out;
    }
    start_message(json::object(), out);
    close_block(out);
    m_finished = true;
    json delta = {{"type", "message_delta"},
                  {"delta", {{"stop_reason", m_stop_reason}, {"stop_sequence", nullptr}}},
                  {"usage", anthropic_usage(m_usage)}};
    out.push_back(wire::sse_event("message_delta", wire::dump_json(delta)));
    out.push_back(wire::sse_event("message_stop", wire::dump_json(json{{"type", "message_stop"}})));
    return out;
}

std::string AnthropicStreamWriter::error_event(const wire::Failure& failure)
{
    return wire::sse_event("error", wire::dump_json(wire::to_anthropic_error(failure)));
}

}  // namespace aigw::daemon::providers

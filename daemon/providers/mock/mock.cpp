#include "daemon/providers/mock/mock.hpp"

#include "daemon/providers/json_access.hpp"
#include "daemon/providers/mock/schema_value.hpp"
#include "shared/wire/utf8.hpp"

#include <algorithm>

#include <cctype>
#include <cmath>
#include <cstdint>
#include <optional>

namespace aigw::daemon::providers::mock {

namespace {

std::int64_t token_estimate(std::string_view text)
{
    return static_cast<std::int64_t>((text.size() + 3) / 4);
}

/// The text of a message's content: a string, or the text parts of an array.
std::string content_text(const nlohmann::json& content)
{
    if (content.is_string()) {
        return content.get<std::string>();
    }
    std::string out;
    if (content.is_array()) {
        for (const auto& part : content) {
            if (string_at(part, "type") == "text" && part.contains("text") && part["text"].is_string()) {
                if (!out.empty()) {
                    out += ' ';
                }
                out += part["text"].get<std::string>();
            }
        }
    }
    return out;
}

struct Answer {
    std::string content;
    nlohmann::json tool_calls;  // null or array
    std::string finish_reason = "stop";
    wire::Usage usage;
};

/// What the answer is made from: the conversation's texts.
struct Prompt {
    std::string last_user;
    std::string system;       // every system/developer message, joined
    bool after_tool = false;  // the last message is a tool result
    std::int64_t tokens = 0;
};

Prompt read_prompt(const nlohmann::json& req)
{
    Prompt p;
    for (const auto& m : array_at(req, "messages")) {
        if (!m.is_object()) {
            continue;
        }
        std::string text = m.contains("content") ? content_text(m["content"]) : std::string();
        p.tokens += token_estimate(text) + 3;
        const std::string role = string_at(m, "role");
        p.after_tool = role == "tool";
        if (role == "user") {
            p.last_user = std::move(text);
        } else if (role == "system" || role == "developer") {
            p.system += p.system.empty() ? text : "\n" + text;
        }
    }
    return p;
}

struct ToolPick {
    std::string name;
    nlohmann::json parameters;
};

/// The tool to call, as a model that follows instructions would pick it: the one a forced
/// tool_choice names; for "required", the tool the prompt names, else the first; for "auto",
/// the tool the prompt names unless the last message is already a tool's result; none for "none".
std::optional<ToolPick> pick_tool(const nlohmann::json& req, const Prompt& prompt)
{
    const nlohmann::json& tools = array_at(req, "tools");
    const nlohmann::json& choice = field_at(req, "tool_choice");
    if (tools.empty() || choice == "none") {
        return std::nullopt;
    }
    auto pick = [](const nlohmann::json& t) {
        const nlohmann::json& fn = object_at(t, "function");
        return ToolPick{string_at(fn, "name"), field_at(fn, "parameters")};
    };
    if (choice.is_object()) {
        // {"type":"function","function":{"name":X}}, or the Responses shape {"type":"function","name":X}.
        std::string forced = string_at(object_at(choice, "function"), "name");
        if (forced.empty()) {
            forced = string_at(choice, "name");
        }
        if (!forced.empty()) {
            for (const auto& t : tools) {
                if (string_at(object_at(t, "function"), "name") == forced) {
                    return pick(t);
                }
            }
            return ToolPick{forced, nlohmann::json::object()};
        }
    }
    const bool required = choice == "required" || (choice.is_object() && string_at(choice, "type") == "required");
    if (required || !prompt.after_tool) {
        for (const auto& t : tools) {
            std::string name = string_at(object_at(t, "function"), "name");
            if (!name.empty() && prompt.last_user.find(name) != std::string::npos) {
                return pick(t);
            }
        }
    }
    if (required) {
        return pick(tools[0]);
    }
    return std::nullopt;
}

/// True when a parameters schema says nothing about its properties: such a tool gets
/// {"query": <prompt>}, as before schemas were read.
bool free_form_object(const nlohmann::json& schema)
{
    if (!schema.is_object()) {
        return true;
    }
    for (const char* k : {"properties", "required", "$ref", "anyOf", "oneOf", "allOf", "const", "enum",
                          "additionalProperties", "minProperties", "patternProperties"}) {
        if (schema.contains(k)) {
            return false;
        }
    }
    const std::string type = string_at(schema, "type");
    return type.empty() || type == "object";
}

/// Text between `open` and `close` in `text`, or nullopt when the tags are missing.
std::optional<std::string> between(const std::string& text, std::string_view open, std::string_view close)
{
    const auto a = text.find(open);
    if (a == std::string::npos) {
        return std::nullopt;
    }
    const auto b = text.find(close, a + open.size());
    if (b == std::string::npos) {
        return std::nullopt;
    }
    return text.substr(a + open.size(), b - a - open.size());
}

bool has_word(std::string_view text, std::string_view word)
{
    for (auto pos = text.find(word); pos != std::string_view::npos; pos = text.find(word, pos + 1)) {
        const bool start = pos == 0 || std::isalnum(static_cast<unsigned char>(text[pos - 1])) == 0;
        const auto end = pos + word.size();
        const bool stop = end == text.size() || std::isalnum(static_cast<unsigned char>(text[end])) == 0;
        if (start && stop) {
            return true;
        }
    }
    return false;
}

std::string trimmed(std::string_view s)
{
    const auto a = s.find_first_not_of(" \t\r\n");
    if (a == std::string_view::npos) {
        return {};
    }
    return std::string(s.substr(a, s.find_last_not_of(" \t\r\n") - a + 1));
}

}  // namespace

std::optional<nlohmann::json> judge_verdict(const nlohmann::json& canonical)
{
    const Prompt p = read_prompt(canonical);
    // promptfoo's llm-rubric and aigw eval both put <Output> and <Rubric> in the user message
    // and ask (in the system message) for {reason, pass, score}.
    auto output = between(p.last_user, "<Output>", "</Output>");
    auto rubric = between(p.last_user, "<Rubric>", "</Rubric>");
    const bool asks_verdict =
        p.system.find("rubric") != std::string::npos && p.system.find("pass") != std::string::npos;
    if (!output || (!rubric && !asks_verdict)) {
        return std::nullopt;
    }
    const std::string out = trimmed(*output);
    const std::string rub = rubric ? trimmed(*rubric) : std::string();
    nlohmann::json v;
    if (out.empty()) {
        v = {{"reason", "The output is empty, so it cannot meet the rubric (mock judge)."}};
        v["pass"] = false;
    } else if (has_word(out, "FAIL")) {
        v = {{"reason", "The output says FAIL, so the mock judge fails it."}};
        v["pass"] = false;
    } else {
        v = {{"reason", "The mock judge passes every non-empty output without the word FAIL; rubric: " +
                            wire::utf8_prefix(rub, 200)}};
        v["pass"] = true;
    }
    v["score"] = v["pass"].get<bool>() ? 1.0 : 0.0;
    return v;
}

namespace {

Answer answer_for(const nlohmann::json& req, std::string_view model_name)
{
    Answer a;
    const Prompt prompt = read_prompt(req);
    a.usage.reported = true;
    a.usage.input_tokens = std::max<std::int64_t>(prompt.tokens, 1);

    if (auto tool = pick_tool(req, prompt)) {
        nlohmann::json args = free_form_object(tool->parameters) ? nlohmann::json({{"query", prompt.last_user}})
                                                                 : value_for_schema(tool->parameters, prompt.last_user);
        a.tool_calls = nlohmann::json::array({{
            {"id", "call_mock_0"},
            {"type", "function"},
            {"function", {{"name", tool->name}, {"arguments", wire::dump_json(args)}}},
        }});
        a.finish_reason = "tool_calls";
        a.usage.output_tokens = token_estimate(wire::dump_json(a.tool_calls));
        return a;
    }

    std::string echo = "Mock answer from mock/";
    echo.append(model_name);
    echo += ": ";
    echo += prompt.last_user.empty() ? std::string("(no user message)") : prompt.last_user;
    const nlohmann::json& rf = field_at(req, "response_format");
    const std::string rf_type = string_at(rf, "type");
    const nlohmann::json& schema = field_at(object_at(rf, "json_schema"), "schema");
    if (auto verdict = judge_verdict(req)) {
        a.content = wire::dump_json(*verdict);
    } else if (rf_type == "json_schema" && schema.is_object() && !free_form_object(schema)) {
        a.content = wire::dump_json(value_for_schema(schema, echo));
    } else if (rf_type == "json_object" || rf_type == "json_schema") {
        a.content = wire::dump_json(nlohmann::json({{"answer", echo}}));
    } else {
        a.content = std::move(echo);
    }
    const nlohmann::json& mct = field_at(req, "max_completion_tokens");
    std::int64_t cap = json_to_int64(mct.is_number() ? mct : field_at(req, "max_tokens"));
    if (cap > 0 && token_estimate(a.content) > cap) {
        // Never inside a character: a cut "é" would be invalid UTF-8 on the wire.
        a.content.resize(wire::utf8_safe_cut(a.content, static_cast<std::size_t>(cap) * 4));
        a.finish_reason = "length";
    }
    a.usage.output_tokens = token_estimate(a.content);
    return a;
}

constexpr std::size_t k_embedding_dims = 64;
/// The longest streamed content piece, in bytes.
constexpr std::size_t k_max_piece = 24;

std::uint64_t fnv1a(std::string_view prefix, std::string_view text)
{
    std::uint64_t h = 1469598103934665603ull;
    for (std::string_view part : {prefix, text}) {
        for (unsigned char c : part) {
            h = (h ^ c) * 1099511628211ull;
        }
    }
    return h;
}

/// Words too common to say what a prompt is about (contraction tails included).
bool is_stop_word(std::string_view w)
{
    static constexpr std::string_view k_stop[] = {"a",  "an", "the", "is",  "are", "was",  "were", "be",    "of",
                                                  "to", "in", "on",  "for", "and", "or",   "s",    "t",     "d",
                                                  "ll", "re", "ve",  "m",   "it",  "this", "that", "please"};
    for (auto s : k_stop) {
        if (s == w) {
            return true;
        }
    }
    return false;
}

}  // namespace

std::vector<double> text_vector(std::string_view text)
{
    // Lower-cased alphanumeric words without stop words (all words if nothing else is left).
    std::vector<std::string> words;
    std::string cur;
    for (char ch : text) {
        const auto c = static_cast<unsigned char>(ch);
        if (std::isalnum(c) != 0 || c >= 0x80) {
            cur.push_back(static_cast<char>(std::tolower(c)));
        } else if (!cur.empty()) {
            words.push_back(std::move(cur));
            cur.clear();
        }
    }
    if (!cur.empty()) {
        words.push_back(std::move(cur));
    }
    std::vector<std::string> kept;
    for (const auto& w : words) {
        if (!is_stop_word(w)) {
            kept.push_back(w);
        }
    }
    if (kept.empty()) {
        kept = std::move(words);
    }
    // Signed feature hashing of each word (weight 1) and its character trigrams (0.5), so
    // shared words and near-spellings point the same way and unrelated texts are near 0.
    std::vector<double> v(k_embedding_dims, 0.0);
    auto add = [&](std::string_view prefix, std::string_view feature, double weight) {
        const std::uint64_t h = fnv1a(prefix, feature);
        v[h % k_embedding_dims] += ((h >> 32) & 1) != 0 ? weight : -weight;
    };
    for (const auto& w : kept) {
        add("w:", w, 1.0);
        const std::string padded = " " + w + " ";
        for (std::size_t i = 0; i + 3 <= padded.size(); ++i) {
            add("g:", std::string_view(padded).substr(i, 3), 0.5);
        }
    }
    double norm = 0;
    for (double x : v) {
        norm += x * x;
    }
    if (norm == 0) {
        v[0] = 1.0;  // empty text: still a unit vector
        return v;
    }
    norm = std::sqrt(norm);
    for (auto& x : v) {
        x /= norm;
    }
    return v;
}

ChatResult complete(const nlohmann::json& canonical, std::string_view model_name, std::string_view request_id,
                    std::int64_t created)
{
    Answer a = answer_for(canonical, model_name);
    nlohmann::json message = {{"role", "assistant"}, {"content", nullptr}, {"refusal", nullptr}};
    if (a.tool_calls.is_array()) {
        message["tool_calls"] = a.tool_calls;
    } else {
        message["content"] = a.content;
    }
    ChatResult r;
    r.usage = a.usage;
    r.body = {
        {"id", std::string("chatcmpl-") + std::string(request_id)},
        {"object", "chat.completion"},
        {"created", created},
        {"model", std::string("mock/") + std::string(model_name)},
        {"choices", nlohmann::json::array({{{"index", 0},
                                            {"message", std::move(message)},
                                            {"logprobs", nullptr},
                                            {"finish_reason", a.finish_reason}}})},
        {"usage", wire::usage_to_openai(a.usage)},
    };
    return r;
}

std::vector<nlohmann::json> stream_chunks(const nlohmann::json& canonical, std::string_view model_name,
                                          std::string_view request_id, std::int64_t created)
{
    Answer a = answer_for(canonical, model_name);
    const std::string id = std::string("chatcmpl-") + std::string(request_id);
    const std::string model = std::string("mock/") + std::string(model_name);
    std::vector<nlohmann::json> out;

    auto delta_chunk = [&](nlohmann::json delta) {
        auto c = chunk_base(id, model, created);
        c["choices"] = nlohmann::json::array(
            {{{"index", 0}, {"delta", std::move(delta)}, {"logprobs", nullptr}, {"finish_reason", nullptr}}});
        return c;
    };
    out.push_back(delta_chunk({{"role", "assistant"}, {"content", ""}, {"refusal", nullptr}}));
    if (a.tool_calls.is_array()) {
        const auto& call = a.tool_calls[0];
        out.push_back(delta_chunk(
            {{"tool_calls",
              nlohmann::json::array({{{"index", 0},
                                      {"id", call["id"]},
                                      {"type", "function"},
                                      {"function", {{"name", call["function"]["name"]}, {"arguments", ""}}}}})}}));
        const std::string args = call["function"]["arguments"].get<std::string>();
        // Pieces of about 16 bytes, each ending on a character boundary.
        for (std::size_t i = 0; i < args.size();) {
            std::size_t len = wire::utf8_safe_cut(std::string_view(args).substr(i), 16);
            if (len == 0) {
                len = std::min<std::size_t>(4, args.size() - i);  // a character longer than the piece
            }
            out.push_back(delta_chunk(
                {{"tool_calls",
                  nlohmann::json::array({{{"index", 0}, {"function", {{"arguments", args.substr(i, len)}}}}})}}));
            i += len;
        }
    } else {
        // Word by word, each word carrying the space before it; a long word (CJK text has no
        // spaces) in pieces that never end inside a character.
        const std::string_view text = a.content;
        std::size_t pos = 0;
        while (pos < text.size()) {
            std::size_t next = text.find(' ', pos + 1);
            if (next == std::string_view::npos) {
                next = text.size();
            }
            std::size_t len = wire::utf8_safe_cut(text.substr(pos, next - pos), k_max_piece);
            if (len == 0) {
                len = std::min(next - pos, k_max_piece);  // not UTF-8 after all: cut anywhere
            }
            out.push_back(delta_chunk({{"content", std::string(text.substr(pos, len))}}));
            pos += len;
        }
    }
    auto fin = chunk_base(id, model, created);
    fin["choices"] = nlohmann::json::array({{{"index", 0},
                                             {"delta", nlohmann::json::object()},
                                             {"logprobs", nullptr},
                                             {"finish_reason", a.finish_reason}}});
    out.push_back(std::move(fin));
    auto usage = chunk_base(id, model, created);
    usage["choices"] = nlohmann::json::array();
    usage["usage"] = wire::usage_to_openai(a.usage);
    out.push_back(std::move(usage));
    return out;
}

std::chrono::milliseconds chunk_delay(std::string_view model_name)
{
    return model_name.find("slow") != std::string_view::npos ? std::chrono::milliseconds(25)
                                                             : std::chrono::milliseconds(0);
}

ChatResult embeddings(const nlohmann::json& canonical, std::string_view model_name)
{
    std::vector<std::string> inputs;
    if (auto in = canonical.find("input"); in != canonical.end()) {
        if (in->is_string()) {
            inputs.push_back(in->get<std::string>());
        } else if (in->is_array()) {
            for (const auto& s : *in) {
                inputs.push_back(s.is_string() ? s.get<std::string>() : wire::dump_json(s));
            }
        }
    }
    ChatResult r;
    r.usage.reported = true;
    nlohmann::json data = nlohmann::json::array();
    for (std::size_t i = 0; i < inputs.size(); ++i) {
        data.push_back({{"object", "embedding"}, {"index", i}, {"embedding", text_vector(inputs[i])}});
        r.usage.input_tokens += token_estimate(inputs[i]);
    }
    r.body = embeddings_list(std::move(data), std::string("mock/") + std::string(model_name), r.usage.input_tokens);
    return r;
}

}  // namespace aigw::daemon::providers::mock

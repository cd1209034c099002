// The deterministic answers shared by all three wire formats, and small helpers.

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <memory>
#include <thread>

#include "tests/fake_upstream/fake_upstream.hpp"

namespace aigw::fake {

std::atomic<bool> g_stopping{false};

namespace {

constexpr std::size_t k_echo_words = 40;
constexpr std::size_t k_long_answer_words = 200;
constexpr const char* k_filler[] = {"lorem",      "ipsum", "dolor", "sit", "amet",    "consectetur",
                                    "adipiscing", "elit",  "sed",   "do",  "eiusmod", "tempor"};

bool is_space(char c)
{
    return c == ' ' || c == '\n' || c == '\t' || c == '\r' || c == '\f' || c == '\v';
}

std::string join(const std::vector<std::string>& words, std::size_t from, std::size_t to)
{
    std::string out;
    for (std::size_t i = from; i < to && i < words.size(); ++i) {
        if (!out.empty()) {
            out += ' ';
        }
        out += words[i];
    }
    return out;
}

/// The first type named by a JSON schema, lower-cased ("STRING" in Gemini's schemas).
std::string schema_type(const json& schema)
{
    if (!schema.is_object()) {
        return {};
    }
    auto it = schema.find("type");
    if (it == schema.end()) {
        if (schema.contains("properties")) {
            return "object";
        }
        return {};
    }
    if (it->is_string()) {
        return lower(it->get<std::string>());
    }
    if (it->is_array()) {
        for (const auto& t : *it) {
            if (t.is_string() && t.get<std::string>() != "null") {
                return lower(t.get<std::string>());
            }
        }
    }
    return {};
}

/// A value that satisfies `schema`, filling strings with `text` (and places with "Paris").
json example_for(const json& schema, std::string_view name, const std::string& text, int depth)
{
    if (schema.is_object()) {
        auto e = schema.find("enum");
        if (e != schema.end() && e->is_array() && !e->empty()) {
            return (*e)[0];
        }
        auto c = schema.find("const");
        if (c != schema.end()) {
            return *c;
        }
    }
    std::string type = schema_type(schema);
    if (type == "object" || (type.empty() && depth == 0)) {
        json out = json::object();
        if (depth > 8 || !schema.is_object()) {
            return out;
        }
        auto props = schema.find("properties");
        if (props == schema.end() || !props->is_object()) {
            return out;
        }
        auto required = schema.find("required");
        bool only_required = required != schema.end() && required->is_array() && !required->empty();
        for (const auto& [key, sub] : props->items()) {
            if (only_required && std::find(required->begin(), required->end(), json(key)) == required->end()) {
                continue;
            }
            out[key] = example_for(sub, key, text, depth + 1);
        }
        return out;
    }
    if (type == "array") {
        json items = schema.is_object() && schema.contains("items") ? schema["items"] : json();
        return json::array({example_for(items, name, text, depth + 1)});
    }
    if (type == "integer") {
        return 1;
    }
    if (type == "number") {
        return 1.5;
    }
    if (type == "boolean") {
        return true;
    }
    if (type == "null") {
        return nullptr;
    }
    std::string n = lower(name);
    if (n == "location" || n == "city" || n == "place") {
        return "Paris";
    }
    return text;
}

/// A shell command the user asked for in backticks ("run `echo hi`"), or "" (also after a
/// tool result: the command ran, the model answers). The last backticked span: agents put
/// their own context, backticks and all, before the user's words (Claude Code's
/// <system-reminder> text in the same message).
std::string requested_command(const Exchange& ex)
{
    if (ex.last_is_tool_result) {
        return {};
    }
    const auto b = ex.last_user_text.rfind('`');
    const auto a = b == std::string::npos || b == 0 ? std::string::npos : ex.last_user_text.rfind('`', b - 1);
    return a == std::string::npos ? std::string() : ex.last_user_text.substr(a + 1, b - a - 1);
}

/// An agent's tool that runs a command: Codex's `shell`/`exec_command`, opencode's `bash`.
bool is_shell_tool(const ToolDecl& t)
{
    return contains_ci(t.name, "shell") || contains_ci(t.name, "exec") || contains_ci(t.name, "bash");
}

const ToolDecl* chosen_tool(const Exchange& ex)
{
    if (ex.tools.empty() || ex.tools_disabled) {
        return nullptr;
    }
    if (ex.forced_tool.empty() && !requested_command(ex).empty()) {
        for (const auto& t : ex.tools) {
            if (is_shell_tool(t)) {
                return &t;  // an agent's shell tool, for the command the user asked for
            }
        }
    }
    if (!ex.forced_tool.empty()) {
        for (const auto& t : ex.tools) {
            if (t.name == ex.forced_tool) {
                return &t;
            }
        }
        return &ex.tools.front();
    }
    bool wanted = ex.tool_required || (!ex.last_is_tool_result && contains_ci(ex.last_user_text, "weather"));
    if (!wanted) {
        return nullptr;
    }
    for (const auto& t : ex.tools) {
        if (contains_ci(t.name, "weather")) {
            return &t;
        }
    }
    return &ex.tools.front();
}

}  // namespace

bool interruptible_sleep(long ms)
{
    auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(ms);
    while (!g_stopping.load(std::memory_order_relaxed)) {
        auto now = std::chrono::steady_clock::now();
        if (now >= until) {
            return true;
        }
        std::this_thread::sleep_for(
            std::min<std::chrono::steady_clock::duration>(until - now, std::chrono::milliseconds(50)));
    }
    return false;
}

std::vector<std::string> split_words(std::string_view text)
{
    std::vector<std::string> out;
    std::size_t i = 0;
    while (i < text.size()) {
        while (i < text.size() && is_space(text[i])) {
            ++i;
        }
        std::size_t start = i;
        while (i < text.size() && !is_space(text[i])) {
            ++i;
        }
        if (i > start) {
            out.emplace_back(text.substr(start, i - start));
        }
    }
    return out;
}

long count_words(std::string_view text)
{
    long n = 0;
    bool in_word = false;
    for (char c : text) {
        if (is_space(c)) {
            in_word = false;
        } else if (!in_word) {
            in_word = true;
            ++n;
        }
    }
    return n;
}

std::vector<std::string> word_pieces(std::string_view text)
{
    std::vector<std::string> pieces = split_words(text);
    for (std::size_t i = 1; i < pieces.size(); ++i) {
        pieces[i].insert(0, 1, ' ');
    }
    return pieces;
}

std::vector<std::string> split_even(std::string_view text, std::size_t parts)
{
    std::vector<std::string> out;
    if (parts == 0) {
        parts = 1;
    }
    std::size_t step = std::max<std::size_t>(1, (text.size() + parts - 1) / parts);
    for (std::size_t i = 0; i < text.size(); i += step) {
        out.emplace_back(text.substr(i, step));
    }
    if (out.empty()) {
        out.emplace_back();
    }
    return out;
}

bool contains_ci(std::string_view haystack, std::string_view needle)
{
    auto it = std::search(haystack.begin(), haystack.end(), needle.begin(), needle.end(), [](char a, char b) {
        return std::tolower(static_cast<unsigned char>(a)) == std::tolower(static_cast<unsigned char>(b));
    });
    return it != haystack.end() || needle.empty();
}

std::string lower(std::string_view s)
{
    std::string out(s);
    for (char& c : out) {
        c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    }
    return out;
}

std::uint64_t next_id()
{
    static std::atomic<std::uint64_t> counter{0};
    return ++counter;
}

void send_json(httplib::Response& res, int status, std::string body)
{
    res.status = status;
    auto shared = std::make_shared<std::string>(std::move(body));
    res.set_content_provider(shared->size(), "application/json",
                             [shared](std::size_t offset, std::size_t length, httplib::DataSink& sink) {
                                 return sink.write(shared->data() + offset, length);
                             });
}

Answer make_answer(const Exchange& ex, std::string_view tool_id_prefix)
{
    Answer a;
    a.prompt_tokens = std::max<long>(1, ex.prompt_words + 3);
    if (contains_ci(ex.model, "cached")) {
        a.cached_tokens = a.prompt_tokens / 2;
    }
    std::vector<std::string> user_words = split_words(ex.last_user_text);
    if (ex.reasoning) {
        a.thinking =
            "Let me think. The user wrote " + std::to_string(user_words.size()) + " words, so I will echo them back.";
        a.reasoning_tokens = count_words(a.thinking);
    }
    std::string echo = "Echo:";
    if (!user_words.empty()) {
        echo += ' ' + join(user_words, 0, k_echo_words);
    }

    if (const ToolDecl* tool = chosen_tool(ex)) {
        json args = example_for(tool->parameters, "", echo, 0);
        if (!args.is_object()) {
            args = json::object();
        }
        if (const std::string command = requested_command(ex); !command.empty() && is_shell_tool(*tool)) {
            for (const char* key : {"command", "cmd"}) {
                if (args.contains(key)) {
                    args[key] = args[key].is_array() ? json::array({"bash", "-lc", command}) : json(command);
                }
            }
        }
        a.tool_call = ToolCall{std::string(tool_id_prefix) + std::to_string(next_id()), tool->name, args.dump()};
        a.finish = Finish::tool;
        a.completion_tokens = 1 + count_words(a.tool_call->arguments);
        return a;
    }

    if (ex.json_mode) {
        json schema = ex.json_schema;
        // OpenAI's json_schema wraps the schema: {"name":..., "schema": {...}}.
        if (schema.is_object() && schema.contains("schema") && !schema.contains("properties")) {
            schema = schema["schema"];
        }
        json value = schema.is_object() && !schema.empty() ? example_for(schema, "", echo, 0) : json();
        if (!value.is_object() || value.empty()) {
            value = json{{"answer", echo}};
        }
        a.text = value.dump();
    } else if (contains_ci(ex.model, "long")) {
        std::vector<std::string> words = split_words(echo);
        for (std::size_t i = 0; words.size() < k_long_answer_words; ++i) {
            words.emplace_back(k_filler[i % std::size(k_filler)]);
        }
        a.text = join(words, 0, k_long_answer_words);
    } else {
        a.text = echo;
    }

    if (ex.max_output_tokens > 0 && count_words(a.text) > ex.max_output_tokens) {
        a.text = join(split_words(a.text), 0, static_cast<std::size_t>(ex.max_output_tokens));
        a.finish = Finish::length;
    }
    a.completion_tokens = count_words(a.text);
    return a;
}

std::vector<float> embedding_for(std::string_view text, std::size_t dims)
{
    // FNV-1a seeds a small LCG; the vector is normalised so cosine similarity is meaningful.
    std::uint64_t h = 1469598103934665603ULL;
    for (char c : text) {
        h ^= static_cast<unsigned char>(c);
        h *= 1099511628211ULL;
    }
    std::vector<float> v(dims);
    double norm = 0;
    for (auto& x : v) {
        h = h * 6364136223846793005ULL + 1442695040888963407ULL;
        x = static_cast<float>(static_cast<double>(h >> 11) / static_cast<double>(1ULL << 53) * 2.0 - 1.0);
        norm += static_cast<double>(x) * x;
    }
    norm = std::sqrt(norm);
    if (norm > 0) {
        for (auto& x : v) {
            x = static_cast<float>(x / norm);
        }
    }
    return v;
}

std::string base64_of_floats(const std::vector<float>& values)
{
    static const char* k_alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    std::string bytes;
    bytes.reserve(values.size() * 4);
    for (float f : values) {
        std::uint32_t u = 0;
        std::memcpy(&u, &f, 4);
        for (int i = 0; i < 4; ++i) {  // little-endian regardless of the host
            bytes += static_cast<char>((u >> (8 * i)) & 0xff);
        }
    }
    std::string out;
    out.reserve((bytes.size() + 2) / 3 * 4);
    std::size_t i = 0;
    for (; i + 2 < bytes.size(); i += 3) {
        std::uint32_t n = (static_cast<unsigned char>(bytes[i]) << 16) |
                          (static_cast<unsigned char>(bytes[i + 1]) << 8) | static_cast<unsigned char>(bytes[i + 2]);
        out += k_alphabet[(n >> 18) & 63];
        out += k_alphabet[(n >> 12) & 63];
        out += k_alphabet[(n >> 6) & 63];
        out += k_alphabet[n & 63];
    }
    if (i < bytes.size()) {
        std::uint32_t n = static_cast<unsigned char>(bytes[i]) << 16;
        if (i + 1 < bytes.size()) {
            n |= static_cast<unsigned char>(bytes[i + 1]) << 8;
        }
        out += k_alphabet[(n >> 18) & 63];
        out += k_alphabet[(n >> 12) & 63];
        out += i + 1 < bytes.size() ? k_alphabet[(n >> 6) & 63] : '=';
        out += '=';
    }
    return out;
}

}  // namespace aigw::fake

#pragma once

// fake-upstream: a standalone HTTP server that speaks OpenAI's, Anthropic's, Gemini's,
// Azure OpenAI's, Cohere's (v2) and Amazon Bedrock's (Converse) documented wire formats with deterministic answers and injectable faults. See README.md.
//
// Shape: each provider file (openai.cpp, anthropic.cpp, gemini.cpp, azure.cpp, cohere.cpp,
// bedrock.cpp) turns its request into a
// provider-neutral `Exchange`, gets an `Answer` from make_answer(), and renders it in its own
// format. Everything about faults (which request gets one, and how a status, a cut connection
// or a malformed stream is produced) lives in faults.cpp; a provider only supplies a `Dialect`
// that spells its errors and stream frames.

#include <atomic>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <httplib.h>
#include <nlohmann/json.hpp>

namespace aigw::fake {

using json = nlohmann::ordered_json;

/// Set when the process is asked to stop; sleeping handlers (slow, hang, drip) watch it.
extern std::atomic<bool> g_stopping;

/// Sleeps up to `ms` milliseconds; returns early (false) when the server is stopping.
bool interruptible_sleep(long ms);

/// The key a request presented (Authorization, x-api-key or api-key), for key-matched faults.
inline std::string request_key(const httplib::Request& req)
{
    for (const char* h : {"Authorization", "x-api-key", "api-key"}) {
        if (req.has_header(h)) {
            return req.get_header_value(h);
        }
    }
    return {};
}

/// A provider-neutral view of one generation request.
struct ToolDecl {
    std::string name;
    json parameters;  // JSON schema of the arguments (may be null)
};

struct Exchange {
    std::string model;
    std::string last_user_text;        // text of the last user turn (or of the tool result)
    bool last_is_tool_result = false;  // the conversation ends with a tool result
    long prompt_words = 0;             // whitespace words over all messages and the system prompt
    std::vector<ToolDecl> tools;
    std::string forced_tool;      // tool_choice names a function
    bool tool_required = false;   // tool_choice "required"/"any"/mode ANY
    bool tools_disabled = false;  // tool_choice "none"
    long max_output_tokens = 0;   // 0 = no limit
    bool json_mode = false;
    json json_schema;        // schema for structured output, null if none
    bool reasoning = false;  // reasoning_effort / thinking / thinkingConfig given
    bool stream = false;
};

enum class Finish { stop, length, tool };

struct ToolCall {
    std::string id;
    std::string name;
    std::string arguments;  // JSON text
};

/// The deterministic answer to an Exchange. Token counts are whitespace word counts.
struct Answer {
    std::string text;  // visible text; empty for a tool call
    std::optional<ToolCall> tool_call;
    std::string thinking;  // reasoning text; empty unless Exchange::reasoning
    Finish finish = Finish::stop;
    long prompt_tokens = 0;      // prompt_words + 3
    long completion_tokens = 0;  // visible text / tool call, without reasoning
    long reasoning_tokens = 0;   // words of `thinking`
    long cached_tokens = 0;      // half the prompt when the model name contains "cached"
};

/// Builds the answer: a tool call when tools are offered and asked for (the last user turn
/// mentions "weather" or tool_choice forces one), a JSON object in JSON mode, 200 words for
/// a model whose name contains "long", otherwise "Echo: " + the first 40 words of the turn.
Answer make_answer(const Exchange& ex, std::string_view tool_id_prefix);

/// Whitespace-separated words of `text`, and how many there are.
long count_words(std::string_view text);
std::vector<std::string> split_words(std::string_view text);

/// `text` split into stream pieces: the first word, then " word" for each following word,
/// so that concatenating the pieces gives `text` back (runs of whitespace become one space).
std::vector<std::string> word_pieces(std::string_view text);

/// `text` split into about `parts` pieces of similar size (at least one piece).
std::vector<std::string> split_even(std::string_view text, std::size_t parts);

/// A deterministic unit-length vector for `text`.
std::vector<float> embedding_for(std::string_view text, std::size_t dims);
std::string base64_of_floats(const std::vector<float>& values);

/// A process-unique number for ids ("chatcmpl-fake12").
std::uint64_t next_id();

bool contains_ci(std::string_view haystack, std::string_view needle);
std::string lower(std::string_view s);

/// Sends `body` as application/json with `status`. Uses a fixed-length content provider so
/// that httplib never gzip/brotli-compresses it: the fake stays cheap for benchmarks.
void send_json(httplib::Response& res, int status, std::string body);

class FaultBook;
class RequestLog;
class Dialect;

/// Shared state of the server.
struct FakeState {
    FaultBook* faults = nullptr;
    RequestLog* log = nullptr;
};

using ProviderHandler = void (*)(FakeState&, const httplib::Request&, httplib::Response&);

/// A route handler that records the request in the log (/_control/requests), then runs
/// `handler`. Every provider route goes through it; control routes do not.
httplib::Server::Handler recorded(FakeState& state, ProviderHandler handler);

void register_control(httplib::Server& svr, FakeState& state);
void register_openai(httplib::Server& svr, FakeState& state);
void register_anthropic(httplib::Server& svr, FakeState& state);
void register_gemini(httplib::Server& svr, FakeState& state);
void register_azure(httplib::Server& svr, FakeState& state);
void register_cohere(httplib::Server& svr, FakeState& state);
void register_bedrock(httplib::Server& svr, FakeState& state);
/// OpenAI's Responses API (/v1/responses and its stored-response routes), in responses.cpp.
void register_responses(httplib::Server& svr, FakeState& state);

/// OpenAI's error spelling (openai.cpp), shared by the Responses routes.
const Dialect& openai_dialect();

/// OpenAI's chat completions / embeddings after auth, errors spelled by `dialect`. A non-empty
/// `deployment` is Azure's: the model comes from the path (the body's `model` is optional) and
/// answers carry Azure's content-filter results (streams open with a choice-less chunk).
void serve_openai_chat(FakeState& state, const httplib::Request& req, httplib::Response& res, const Dialect& dialect,
                       std::string_view deployment);
void serve_openai_embeddings(FakeState& state, const httplib::Request& req, httplib::Response& res,
                             const Dialect& dialect, std::string_view deployment);

/// A legacy or FIM completion's prompt (a string, or the first of an array) and answer:
/// "Echo: " + the prompt's last line; with `suffix`, "FIM[<last line of the prompt>|<first
/// line of the suffix>]", so a test sees both reached the upstream.
struct CompletionText {
    std::string prompt;
    std::string text;
};
CompletionText completion_text(const json& body);

/// Mistral's FIM endpoint, POST /v1/fim/completions (mistral.cpp).
void register_mistral(httplib::Server& svr, FakeState& state);

/// GET /v1/models in Anthropic's shape (the OpenAI route hands over when anthropic-version is set).
void anthropic_list_models(FakeState& state, const httplib::Request& req, httplib::Response& res);

}  // namespace aigw::fake

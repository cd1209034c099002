// Mistral's FIM endpoint: POST /v1/fim/completions (Codestral's fill-in-the-middle), plain and
// SSE-streamed. Base URL http://127.0.0.1:PORT/v1, auth `Authorization: Bearer <key>`. Mistral's
// chat is OpenAI's format (openai.cpp); its FIM takes a schema of its own and answers in the
// chat shape (chat.completion, chat.completion.chunk with delta.content).

#include <algorithm>
#include <ctime>

#include "tests/fake_upstream/faults.hpp"

namespace aigw::fake {

namespace {

/// Mistral's errors: {"object":"error","message","type","param","code"}.
class MistralDialect final : public Dialect {
public:
    std::string error_body(int status, std::string_view message) const override
    {
        std::string text(message);
        std::string type = "invalid_request_error";
        if (status == 401) {
            type = "authentication_error";
            text = text.empty() ? "Unauthorized" : text;
        } else if (status == 429) {
            type = "rate_limited";
            text = text.empty() ? "Requests rate limit exceeded" : text;
        } else if (status >= 500) {
            type = "internal_server_error";
            text = text.empty() ? "Internal server error" : text;
        } else if (text.empty()) {
            text = "Invalid request (fake-upstream fault " + std::to_string(status) + ")";
        }
        return json{{"object", "error"}, {"message", text}, {"type", type}, {"param", nullptr}, {"code", nullptr}}
            .dump();
    }
    std::string stream_error_frame() const override { return "data: " + error_body(500, {}) + "\n\n"; }
    std::string malformed_body() const override { return R"({"choices": [)"; }
    std::string malformed_frame() const override { return "data: {\"choices\": [\n\n"; }
    std::size_t frames_before_cut() const override { return 4; }  // role + 3 content chunks
};

const MistralDialect k_dialect;

/// The fields of Mistral's FIMCompletionRequest; anything else is a 422, as Mistral answers it.
constexpr const char* k_fim_fields[] = {"model", "prompt", "suffix", "max_tokens",  "min_tokens", "temperature",
                                        "top_p", "stop",   "stream", "random_seed", "metadata"};

void fim_completions(FakeState& state, const httplib::Request& req, httplib::Response& res)
{
    std::string auth = req.get_header_value("Authorization");
    if (auth.size() < 8 || lower(auth.substr(0, 7)) != "bearer ") {
        send_error(res, k_dialect, 401);
        return;
    }
    json body = json::parse(req.body, nullptr, false);
    if (body.is_discarded() || !body.is_object()) {
        send_error(res, k_dialect, 400, "Invalid JSON body");
        return;
    }
    for (const auto& [key, value] : body.items()) {
        if (std::find_if(std::begin(k_fim_fields), std::end(k_fim_fields), [&](const char* f) { return key == f; }) ==
            std::end(k_fim_fields)) {
            json detail = {{"type", "extra_forbidden"},
                           {"loc", json::array({"body", key})},
                           {"msg", "Extra inputs are not permitted"},
                           {"input", value}};
            send_json(res, 422,
                      json{{"object", "error"},
                           {"message", {{"detail", json::array({detail})}}},
                           {"type", "invalid_request_error"},
                           {"param", nullptr},
                           {"code", nullptr}}
                          .dump());
            return;
        }
    }
    if (!body.contains("prompt") || !body["prompt"].is_string()) {
        send_error(res, k_dialect, 422, "prompt: Input should be a valid string");
        return;
    }
    const std::string model = body.value("model", "");
    if (model.find("codestral") == std::string::npos) {
        send_error(res, k_dialect, 400, "Invalid model: " + model + " does not support FIM");
        return;
    }
    auto [prompt, text] = completion_text(body);
    Fault fault = state.faults->pick(req.path, model, request_key(req));
    const bool stream = body.value("stream", false);
    if (apply_fault_before_answer(res, k_dialect, fault, stream)) {
        return;
    }
    const long prompt_tokens = std::max<long>(1, count_words(prompt) + count_words(body.value("suffix", "")));
    const long completion_tokens = std::max<long>(1, count_words(text));
    const json usage = {{"prompt_tokens", prompt_tokens},
                        {"total_tokens", prompt_tokens + completion_tokens},
                        {"completion_tokens", completion_tokens}};
    const std::string id = "fakefim" + std::to_string(next_id());
    if (!stream) {
        json out = {
            {"id", id},
            {"object", "chat.completion"},
            {"model", model},
            {"usage", usage},
            {"created", std::time(nullptr)},
            {"choices", json::array({{{"index", 0},
                                      {"message", {{"role", "assistant"}, {"content", text}, {"tool_calls", nullptr}}},
                                      {"finish_reason", "stop"}}})}};
        send_answer_body(res, k_dialect, fault, out.dump());
        return;
    }
    // Mistral's stream: a role chunk, content chunks, a last chunk with finish_reason and
    // usage, then [DONE] (no separate usage chunk, nothing to ask for).
    std::vector<std::string> frames;
    auto frame = [&](json delta, json finish, const json* u) {
        json c = {{"id", id}, {"object", "chat.completion.chunk"}, {"created", std::time(nullptr)}, {"model", model}};
        c["choices"] = json::array({{{"index", 0}, {"delta", std::move(delta)}, {"finish_reason", std::move(finish)}}});
        if (u != nullptr) {
            c["usage"] = *u;
        }
        frames.push_back("data: " + c.dump() + "\n\n");
    };
    frame({{"role", "assistant"}, {"content", ""}}, nullptr, nullptr);
    for (auto& piece : word_pieces(text)) {
        frame({{"content", piece}}, nullptr, nullptr);
    }
    frame({{"content", ""}}, "stop", &usage);
    frames.emplace_back("data: [DONE]\n\n");
    send_answer_stream(res, k_dialect, fault, std::move(frames));
}

}  // namespace

void register_mistral(httplib::Server& svr, FakeState& state)
{
    svr.Post(R"((?:/v1)?/fim/completions)", recorded(state, fim_completions));
}

}  // namespace aigw::fake

// The legacy completions surface's translators: completions body -> canonical chat request,
// chat answer and chunks -> text_completion, and the tap on a native completions stream.

#include "daemon/providers/openai/completions_surface.hpp"
#include "shared/wire/sse.hpp"
#include "shared/config/providers.hpp"

#include <map>
#include <utility>

#include <doctest/doctest.h>

using nlohmann::json;
namespace p = aigw::daemon::providers;
namespace wire = aigw::wire;

TEST_CASE("completions -> canonical: the prompt is the user turn; options carry over")
{
    auto c = p::completions_to_canonical(json{{"model", "anthropic/claude-haiku-4-5"},
                                              {"prompt", "once upon"},
                                              {"max_tokens", 12},
                                              {"temperature", 0.2},
                                              {"stop", json::array({"\n"})},
                                              {"stream", true}});
    REQUIRE(c.has_value());
    CHECK((*c)["messages"] == json::array({{{"role", "user"}, {"content", "once upon"}}}));
    CHECK((*c)["max_tokens"] == 12);
    CHECK((*c)["temperature"] == 0.2);
    CHECK((*c)["stop"] == json::array({"\n"}));
    CHECK((*c)["stream"] == true);
    CHECK((*c)["stream_options"]["include_usage"] == true);
}

TEST_CASE("completions -> canonical: a suffix frames prefix and suffix (fill-in-the-middle)")
{
    auto c =
        p::completions_to_canonical(json{{"model", "m"}, {"prompt", json::array({"a = "})}, {"suffix", "\nprint(a)"}});
    REQUIRE(c.has_value());
    REQUIRE((*c)["messages"].size() == 2);
    CHECK((*c)["messages"][0]["role"] == "system");
    CHECK((*c)["messages"][1]["content"] == "<prefix>a = </prefix><suffix>\nprint(a)</suffix>");
}

TEST_CASE("completions -> canonical: what a chat model cannot do is a 400 naming the parameter")
{
    auto param_of = [](json body) {
        body["model"] = "m";
        if (!body.contains("prompt")) {
            body["prompt"] = "x";
        }
        auto c = p::completions_to_canonical(body);
        REQUIRE_FALSE(c.has_value());
        CHECK(c.error().status == 400);
        return c.error().param;
    };
    CHECK(param_of({{"echo", true}}) == "echo");
    CHECK(param_of({{"logprobs", 5}}) == "logprobs");
    CHECK(param_of({{"n", 2}}) == "n");
    CHECK(param_of({{"best_of", 3}}) == "best_of");
    CHECK(param_of({{"prompt", json::array({1, 2, 3})}}) == "prompt");
    CHECK(param_of({{"prompt", json::array({"a", "b"})}}) == "prompt");
    CHECK(param_of({{"suffix", 3}}) == "suffix");
    // A native route takes token ids and several prompts.
    CHECK_FALSE(p::validate_completions_request(json{{"model", "m"}, {"prompt", json::array({1, 2})}}, false));
    CHECK(p::validate_completions_request(json{{"model", "m"}}, false)->param == "prompt");
}

TEST_CASE("a chat answer becomes a text_completion with the requested model and the usage")
{
    json chat = {{"id", "chatcmpl-abc"},
                 {"created", 1700000000},
                 {"choices", json::array({{{"index", 0},
                                           {"message", {{"role", "assistant"}, {"content", "hello"}}},
                                           {"finish_reason", "length"}}})},
                 {"usage", {{"prompt_tokens", 3}, {"completion_tokens", 1}, {"total_tokens", 4}}}};
    json c = p::canonical_to_completion(chat, "anthropic/claude-haiku-4-5");
    CHECK(c["id"] == "cmpl-abc");
    CHECK(c["object"] == "text_completion");
    CHECK(c["model"] == "anthropic/claude-haiku-4-5");
    CHECK(c["choices"][0]["text"] == "hello");
    CHECK(c["choices"][0]["finish_reason"] == "length");
    CHECK(c["usage"]["total_tokens"] == 4);
    chat["choices"][0]["finish_reason"] = "tool_calls";
    CHECK(p::canonical_to_completion(chat, "m")["choices"][0]["finish_reason"] == "stop");
}

TEST_CASE("chat chunks become text_completion chunks; a role-only chunk is dropped")
{
    json role = {{"id", "chatcmpl-1"}, {"choices", json::array({{{"index", 0}, {"delta", {{"role", "assistant"}}}}})}};
    CHECK_FALSE(p::canonical_chunk_to_completion(role, "m").has_value());
    json text = {
        {"id", "chatcmpl-1"},
        {"choices", json::array({{{"index", 0}, {"delta", {{"content", "hi"}}}, {"finish_reason", nullptr}}})}};
    auto t = p::canonical_chunk_to_completion(text, "m");
    REQUIRE(t.has_value());
    CHECK((*t)["choices"][0]["text"] == "hi");
    CHECK((*t)["choices"][0]["finish_reason"].is_null());
    json usage = {{"id", "chatcmpl-1"}, {"choices", json::array()}, {"usage", {{"prompt_tokens", 2}}}};
    auto u = p::canonical_chunk_to_completion(usage, "m");
    REQUIRE(u.has_value());
    CHECK((*u)["choices"].empty());
    CHECK((*u)["usage"]["prompt_tokens"] == 2);
}

TEST_CASE("the native stream tap: canonical chunks carrying the upstream's, usage, [DONE], errors")
{
    p::CompletionsStreamTap tap;
    std::vector<json> out;
    wire::SseEvent ev;
    ev.data =
        R"({"id":"cmpl-1","object":"text_completion","choices":[{"text":"ab","index":0,"logprobs":null,"finish_reason":null}]})";
    REQUIRE(tap.on_event(ev, out).has_value());
    REQUIRE(out.size() == 1);
    CHECK(out[0]["choices"][0]["delta"]["content"] == "ab");
    CHECK(out[0][p::k_native_chunk]["object"] == "text_completion");
    ev.data = R"({"id":"cmpl-1","choices":[],"usage":{"prompt_tokens":5,"completion_tokens":2,"total_tokens":7}})";
    REQUIRE(tap.on_event(ev, out).has_value());
    CHECK(tap.usage().input_tokens == 5);
    CHECK(tap.usage().output_tokens == 2);
    CHECK_FALSE(tap.finished());
    ev.data = "[DONE]";
    REQUIRE(tap.on_event(ev, out).has_value());
    CHECK(tap.finished());

    p::CompletionsStreamTap failing;
    ev.data = R"({"error":{"message":"overloaded","type":"server_error"}})";
    auto r = failing.on_event(ev, out);
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().message.find("overloaded") != std::string::npos);
    ev.data = "not json";
    CHECK_FALSE(failing.on_event(ev, out).has_value());
}

namespace {

/// A target on a copy of the built-in provider `name`, with `options` set.
struct FimTarget {
    aigw::config::ProviderSpec spec;
    p::Target target;
    FimTarget(const std::string& name, const std::string& model, std::map<std::string, std::string> options = {})
    {
        for (const auto& b : aigw::config::builtin_providers()) {
            if (b.name == name) {
                spec = b;
            }
        }
        for (auto& [k, v] : options) {
            spec.options[k] = v;
        }
        target.provider = &spec;
        target.model = model;
        target.api_key = "sk-test";
        target.base_url = spec.base_url;
    }
};

}  // namespace

TEST_CASE("deepseek and mistral FIM: which models go native, and completions = native|chat decides for all")
{
    const auto& a = p::openai_adapter();
    CHECK(a.serves_completions(FimTarget("deepseek", "deepseek-chat").target));
    CHECK_FALSE(a.serves_completions(FimTarget("deepseek", "deepseek-reasoner").target));  // no FIM there
    CHECK(a.serves_completions(FimTarget("mistral", "codestral-latest").target));
    CHECK(a.serves_completions(FimTarget("mistral", "codestral-2501").target));
    CHECK_FALSE(a.serves_completions(FimTarget("mistral", "mistral-small-latest").target));
    CHECK_FALSE(a.serves_completions(FimTarget("mistral", "devstral-small-latest").target));
    CHECK_FALSE(a.serves_completions(FimTarget("mistral", "codestral-latest", {{"completions", "chat"}}).target));
    CHECK(a.serves_completions(FimTarget("mistral", "mistral-small-latest", {{"completions", "native"}}).target));
    CHECK_FALSE(a.serves_completions(FimTarget("deepseek", "deepseek-chat", {{"completions", "chat"}}).target));
    CHECK(a.serves_completions(FimTarget("deepseek", "deepseek-reasoner", {{"completions", "native"}}).target));
    CHECK_FALSE(a.serves_completions(FimTarget("groq", "llama-3.3-70b-versatile").target));
    CHECK(a.completions_answer_is_chat(FimTarget("mistral", "codestral-latest").target));
    CHECK_FALSE(a.completions_answer_is_chat(FimTarget("deepseek", "deepseek-chat").target));
    CHECK_FALSE(a.completions_answer_is_chat(FimTarget("openai", "gpt-3.5-turbo-instruct").target));
}

TEST_CASE("deepseek FIM: the body as sent at {origin}/beta/completions, whatever its chat base looks like")
{
    const auto& a = p::openai_adapter();
    json body = {{"model", "deepseek/deepseek-chat"}, {"prompt", "def f():"}, {"suffix", "\nf()"}, {"stream", true}};
    for (auto [base, beta] : {std::pair{"https://api.deepseek.com/v1", "https://api.deepseek.com/beta"},
                              std::pair{"https://api.deepseek.com", "https://api.deepseek.com/beta"},
                              std::pair{"https://api.deepseek.com/beta", "https://api.deepseek.com/beta"},
                              std::pair{"http://127.0.0.1:9000/proxy/v1", "http://127.0.0.1:9000/proxy/beta"}}) {
        FimTarget t("deepseek", "deepseek-chat");
        t.target.base_url = base;
        auto req = a.completions_request(body, t.target);
        REQUIRE(req.has_value());
        CHECK(req->base_url == beta);
        CHECK(req->path == "/completions");
        auto sent = json::parse(req->body);
        CHECK(sent["model"] == "deepseek-chat");
        CHECK(sent["suffix"] == "\nf()");
        CHECK(sent["stream_options"]["include_usage"] == true);
    }
    // Other providers keep their base.
    auto openai = a.completions_request(body, FimTarget("openai", "gpt-3.5-turbo-instruct").target);
    REQUIRE(openai.has_value());
    CHECK(openai->base_url.empty());
}

TEST_CASE("mistral FIM: the body in its schema, seed as random_seed, neutral extras left out, the rest refused")
{
    const auto& a = p::openai_adapter();
    FimTarget t("mistral", "codestral-latest");
    json body = {{"model", "mistral/codestral-latest"},
                 {"prompt", json::array({"a = "})},
                 {"suffix", "\nprint(a)"},
                 {"max_tokens", 16},
                 {"min_tokens", 1},
                 {"temperature", 0},
                 {"top_p", 1},
                 {"stop", "\n\n"},
                 {"seed", 3},
                 {"stream", true},
                 {"stream_options", {{"include_usage", true}}},
                 {"presence_penalty", 0},
                 {"frequency_penalty", 0},
                 {"logit_bias", json::object()},
                 {"user", "u1"},
                 {"n", 1},
                 {"echo", false}};
    auto req = a.completions_request(body, t.target);
    REQUIRE(req.has_value());
    CHECK(req->path == "/fim/completions");
    CHECK(req->base_url.empty());
    CHECK(json::parse(req->body) == json{{"model", "codestral-latest"},
                                         {"prompt", "a = "},
                                         {"suffix", "\nprint(a)"},
                                         {"max_tokens", 16},
                                         {"min_tokens", 1},
                                         {"temperature", 0},
                                         {"top_p", 1},
                                         {"stop", "\n\n"},
                                         {"random_seed", 3},
                                         {"stream", true}});
    bool auth = false;
    for (const auto& [k, v] : req->headers) {
        auth |= k == "Authorization" && v == "Bearer sk-test";
    }
    CHECK(auth);

    auto refused = [&](json extra) {
        json b = {{"model", "m"}, {"prompt", "x"}};
        b.update(extra);
        auto r = a.completions_request(b, t.target);
        REQUIRE_FALSE(r.has_value());
        CHECK(r.error().status == 400);
        CHECK(r.error().message.find("Mistral's FIM") != std::string::npos);
        return r.error().param;
    };
    CHECK(refused({{"presence_penalty", 0.5}}) == "presence_penalty");
    CHECK(refused({{"logit_bias", {{"50256", -100}}}}) == "logit_bias");
    CHECK(refused({{"echo", true}}) == "echo");
    CHECK(refused({{"n", 2}}) == "n");
    CHECK(refused({{"prompt", json::array({"a", "b"})}}) == "prompt");
}

TEST_CASE("a chat chunk's usage rides along on its text_completion chunk (Mistral's last chunk)")
{
    json last = {{"id", "x"},
                 {"choices", json::array({{{"index", 0}, {"delta", {{"content", ""}}}, {"finish_reason", "stop"}}})},
                 {"usage", {{"prompt_tokens", 4}, {"completion_tokens", 2}}}};
    auto c = p::canonical_chunk_to_completion(last, "mistral/codestral-latest");
    REQUIRE(c.has_value());
    CHECK((*c)["choices"][0]["finish_reason"] == "stop");
    CHECK((*c)["usage"]["completion_tokens"] == 2);
}

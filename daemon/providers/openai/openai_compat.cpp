// OpenAI and every OpenAI-compatible server (groq, together, fireworks, deepseek, mistral,
// xai, openrouter, cerebras, moonshot, perplexity, ollama, vllm, ...). The canonical format
// is OpenAI's, so requests pass through with the model renamed and usage asked for.

#include "daemon/providers/adapter.hpp"
#include "daemon/providers/json_access.hpp"
#include "daemon/providers/openai/completions_surface.hpp"
#include "shared/wire/json_text.hpp"

namespace aigw::daemon::providers {

namespace {

wire::Failure malformed(std::string_view what)
{
    return upstream_failure("upstream sent a malformed answer: " + std::string(what));
}

class OpenAiStream final : public StreamTranslator {
public:
    std::expected<void, wire::Failure> on_event(const wire::SseEvent& ev, std::vector<nlohmann::json>& out) override
    {
        if (ev.data == "[DONE]") {
            m_finished = true;
            return {};
        }
        auto chunk = wire::parse_json_lenient(ev.data);
        if (chunk.is_discarded() || !chunk.is_object()) {
            return std::unexpected(malformed("a stream event is not JSON"));
        }
        if (auto err = chunk.find("error"); err != chunk.end() && !err->is_null()) {
            wire::Failure f = openai_adapter().classify_error(500, ev.data, {});
            // An error inside a 200 stream: classify by its type when it names one.
            if (f.type == "rate_limit_error" || f.code == "rate_limit_exceeded") {
                f.kind = wire::FailureKind::rate_limited;
                f.status = 429;
            }
            return std::unexpected(std::move(f));
        }
        if (auto u = chunk.find("usage"); u != chunk.end() && u->is_object()) {
            if (auto taken = take_usage(*u); !taken) {
                return taken;
            }
        }
        out.push_back(std::move(chunk));
        return {};
    }

    bool finished() const override { return m_finished; }
    wire::Usage usage() const override { return m_usage; }
    bool passes_chunks_through() const override { return true; }
    std::expected<void, wire::Failure> take_usage(const nlohmann::json& usage) override
    {
        m_usage = wire::usage_from_openai(usage);
        if (auto bad = wire::check_usage(m_usage)) {
            return std::unexpected(std::move(*bad));
        }
        return {};
    }

private:
    bool m_finished = false;
    wire::Usage m_usage;
};

/// The stream options sent upstream: the client's, with usage asked for.
nlohmann::json stream_options_of(const nlohmann::json& canonical)
{
    // Always ask for usage so cost is exact; the surface drops the usage chunk when the
    // client did not ask for it. The client's other stream options are kept.
    auto so = canonical.find("stream_options");
    nlohmann::json options =
        so != canonical.end() && so->is_object() ? *so : nlohmann::json(nlohmann::json::value_t::object);
    options["include_usage"] = true;
    return options;
}

/// The text of `canonical` with `model` set and the stream fields as `stream` wants them,
/// written without copying the request first (an agent's request is often hundreds of KB).
std::string chat_body(const nlohmann::json& canonical, const std::string& model, bool stream)
{
    std::string out;
    auto member = [&](std::string_view key, const nlohmann::json& value) {
        out += out.empty() ? '{' : ',';
        wire::append_json_string(out, key);
        out += ':';
        wire::append_json(out, value);
    };
    for (const auto& [key, value] : canonical.items()) {
        if (key != "model" && key != "stream" && key != "stream_options") {
            member(key, value);
        }
    }
    member("model", nlohmann::json(model));
    if (stream) {
        member("stream", nlohmann::json(true));
        member("stream_options", stream_options_of(canonical));
    }
    out += '}';
    return out;
}

class OpenAiAdapter final : public Adapter {
public:
    std::expected<UpstreamRequest, wire::Failure> chat_request(const nlohmann::json& canonical, const Target& target,
                                                               bool stream) const override
    {
        UpstreamRequest req;
        req.path = "/chat/completions";
        req.body = chat_body(canonical, target.model, stream);
        auth_headers(req.headers, target);
        return req;
    }

    /// chat_body()'s edits made to the client's own bytes: the same request, in the
    /// client's member order and spelling.
    std::expected<UpstreamRequest, wire::Failure> chat_request_from_text(const nlohmann::json& canonical,
                                                                         std::string_view text, const Target& target,
                                                                         bool stream) const override
    {
        const std::string model = wire::dump_json(nlohmann::json(target.model));
        const std::string options = stream ? wire::dump_json(stream_options_of(canonical)) : std::string();
        auto body =
            stream ? wire::edit_members_text(text, {{"model", model}, {"stream", "true"}, {"stream_options", options}})
                   : wire::edit_members_text(
                         text, {{"model", model}, {"stream", std::nullopt}, {"stream_options", std::nullopt}});
        if (!body) {
            return chat_request(canonical, target, stream);
        }
        UpstreamRequest req;
        req.path = "/chat/completions";
        req.body = std::move(*body);
        auth_headers(req.headers, target);
        return req;
    }

    std::expected<ChatResult, wire::Failure> chat_response(std::string_view body, const Target&) const override
    {
        auto doc = wire::parse_json_lenient(body);
        if (doc.is_discarded() || !doc.is_object()) {
            return std::unexpected(malformed("the body is not JSON"));
        }
        auto choices = doc.find("choices");
        if (choices == doc.end() || !choices->is_array()) {
            return std::unexpected(malformed("no choices in the response"));
        }
        ChatResult r;
        if (auto u = doc.find("usage"); u != doc.end()) {
            r.usage = wire::usage_from_openai(*u);
            if (auto bad = wire::check_usage(r.usage)) {
                return std::unexpected(std::move(*bad));
            }
        }
        r.body = std::move(doc);
        r.raw.assign(body);
        return r;
    }

    bool chat_response_is_openai() const override { return true; }

    std::unique_ptr<StreamTranslator> chat_stream(const Target&) const override
    {
        return std::make_unique<OpenAiStream>();
    }

    std::expected<UpstreamRequest, wire::Failure> embeddings_request(const nlohmann::json& canonical,
                                                                     const Target& target) const override
    {
        UpstreamRequest req;
        req.path = "/embeddings";
        req.body = wire::dump_json_with(canonical, "model", nlohmann::json(target.model));
        auth_headers(req.headers, target);
        return req;
    }

    std::expected<ChatResult, wire::Failure> embeddings_response(std::string_view body, const Target&) const override
    {
        auto doc = wire::parse_json_lenient(body);
        if (doc.is_discarded() || !doc.is_object() || !doc.contains("data")) {
            return std::unexpected(malformed("no data in the embeddings response"));
        }
        ChatResult r;
        if (auto u = doc.find("usage"); u != doc.end()) {
            r.usage = wire::usage_from_openai(*u);
            if (auto bad = wire::check_usage(r.usage)) {
                return std::unexpected(std::move(*bad));
            }
        }
        r.body = std::move(doc);
        return r;
    }

    /// OpenAI itself, and an OpenAI-compatible server configured with `responses = "native"`
    /// under [providers.NAME] (one that serves /responses, e.g. vLLM or a proxy in front of OpenAI).
    bool serves_responses(const Target& target, std::string_view) const override
    {
        if (target.provider == nullptr) {
            return false;
        }
        if (target.provider->name == "openai") {
            return true;
        }
        auto opt = target.provider->options.find("responses");
        return opt != target.provider->options.end() && opt->second == "native";
    }

    std::expected<UpstreamRequest, wire::Failure> responses_request(const nlohmann::json& body, const Target& target,
                                                                    std::string_view operation) const override
    {
        UpstreamRequest req;
        req.path = "/responses" + std::string(operation);
        req.body = wire::dump_json_with(body, "model", nlohmann::json(target.model));
        auth_headers(req.headers, target);
        return req;
    }

    /// OpenAI (its instruct models), local servers (ollama, vLLM, llama.cpp, LM Studio: any
    /// provider defined in the config), the hosts known to serve /completions, and the FIM
    /// endpoints of deepseek (every model but deepseek-reasoner, which has no FIM) and mistral
    /// (codestral-* only); the others (groq, xai, ...) go through chat. `completions =
    /// "native"` or `"chat"` under [providers.NAME] decides for every model of any provider.
    bool serves_completions(const Target& target) const override
    {
        if (target.provider == nullptr) {
            return false;
        }
        if (auto opt = target.provider->options.find("completions"); opt != target.provider->options.end()) {
            return opt->second == "native";
        }
        if (target.provider->name == "deepseek") {
            return !target.model.contains("reasoner");
        }
        if (target.provider->name == "mistral") {
            return target.model.starts_with("codestral");
        }
        static constexpr std::array<std::string_view, 5> k_native = {"openai", "ollama", "together", "fireworks",
                                                                     "openrouter"};
        const auto& builtin = config::builtin_providers();
        const bool is_builtin =
            std::any_of(builtin.begin(), builtin.end(), [&](const auto& p) { return p.name == target.provider->name; });
        return !is_builtin || std::find(k_native.begin(), k_native.end(), target.provider->name) != k_native.end();
    }

    /// Mistral: its FIM schema at /fim/completions. DeepSeek: the body as is, at its beta
    /// base. Everyone else: the body as is at /completions.
    std::expected<UpstreamRequest, wire::Failure> completions_request(nlohmann::json body,
                                                                      const Target& target) const override
    {
        UpstreamRequest req;
        if (is_provider(target, "mistral")) {
            auto fim = mistral_fim_body(body, target.model);
            if (!fim) {
                return std::unexpected(std::move(fim.error()));
            }
            req.path = "/fim/completions";
            req.body = wire::dump_json(*fim);
            auth_headers(req.headers, target);
            return req;
        }
        body["model"] = target.model;
        if (body.value("stream", false)) {
            body["stream_options"]["include_usage"] = true;  // exact cost; the surface drops it if unasked
        }
        req.path = "/completions";
        if (is_provider(target, "deepseek")) {
            req.base_url = deepseek_beta_base_url(target.base_url);
        }
        req.body = wire::dump_json(body);
        auth_headers(req.headers, target);
        return req;
    }

    /// Mistral's FIM answers as chat.completion (chunks).
    bool completions_answer_is_chat(const Target& target) const override { return is_provider(target, "mistral"); }

private:
    static bool is_provider(const Target& target, std::string_view name)
    {
        return target.provider != nullptr && target.provider->name == name;
    }

    /// DeepSeek serves FIM at {origin}/beta/completions, beside its chat base
    /// (https://api.deepseek.com, or .../v1 as configured here): a trailing /v1 gives way to
    /// /beta; a base that already ends in /beta is kept.
    static std::string deepseek_beta_base_url(std::string_view base)
    {
        if (base.ends_with("/beta")) {
            return std::string(base);
        }
        if (base.ends_with("/v1")) {
            base.remove_suffix(3);
        }
        return std::string(base) + "/beta";
    }

    /// A completions body in Mistral's FIM schema (model, prompt, suffix, max_tokens,
    /// min_tokens, temperature, top_p, stop, stream, random_seed), which refuses any other
    /// field, so the body is built rather than passed on. What it cannot do is a 400 naming
    /// the parameter; fields that change nothing at their neutral value are left out.
    static std::expected<nlohmann::json, wire::Failure> mistral_fim_body(const nlohmann::json& body,
                                                                         const std::string& model)
    {
        if (auto bad = refuse_beyond_one_text(body, " is not supported by Mistral's FIM endpoint")) {
            return std::unexpected(std::move(*bad));
        }
        const std::string why =
            " is not supported by Mistral's FIM endpoint; set completions = \"chat\" under "
            "[providers.mistral] to have these models answer completions through chat";
        for (const char* penalty : {"presence_penalty", "frequency_penalty"}) {
            if (auto v = body.find(penalty); v != body.end() && v->is_number() && v->get<double>() != 0) {
                return std::unexpected(wire::bad_request(std::string(penalty) + why + ".", penalty));
            }
        }
        if (auto lb = body.find("logit_bias"); lb != body.end() && lb->is_object() && !lb->empty()) {
            return std::unexpected(wire::bad_request("logit_bias" + why + ".", "logit_bias"));
        }
        const nlohmann::json& prompt = body["prompt"];
        nlohmann::json out = {{"model", model}, {"prompt", prompt.is_array() ? prompt[0] : prompt}};
        for (const char* key : {"suffix", "max_tokens", "min_tokens", "temperature", "top_p", "stop", "random_seed"}) {
            if (auto v = body.find(key); v != body.end() && !v->is_null()) {
                out[key] = *v;
            }
        }
        if (auto seed = body.find("seed");
            seed != body.end() && seed->is_number_integer() && !out.contains("random_seed")) {
            out["random_seed"] = *seed;
        }
        if (bool_at(body, "stream")) {
            out["stream"] = true;  // Mistral's stream reports usage in its last chunk unasked
        }
        return out;
    }

    static void auth_headers(HeaderList& headers, const Target& target)
    {
        headers.emplace_back("Content-Type", "application/json");
        if (!target.api_key.empty()) {
            headers.emplace_back("Authorization", "Bearer " + target.api_key);
        }
        if (target.provider != nullptr && target.provider->name == "openrouter") {
            // OpenRouter attributes traffic by these; harmless elsewhere but only sent there.
            headers.emplace_back("HTTP-Referer", "https://github.com/aigw/aigw");
            headers.emplace_back("X-Title", "aigw");
        }
    }
};

}  // namespace

const Adapter& openai_adapter()
{
    static const OpenAiAdapter k_adapter;
    return k_adapter;
}

}  // namespace aigw::daemon::providers

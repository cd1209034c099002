// Azure OpenAI: OpenAI's chat-completions format behind Azure's URLs and `api-key` auth.
// Bodies, responses and streams are OpenAI's, so this adapter delegates the translation to
// openai_adapter() and only changes the path, the headers and a few Azure-specific answers.
//
// Base URL: `https://RESOURCE.openai.azure.com/openai` (AZURE_OPENAI_ENDPOINT + "/openai";
// config applies that). A base URL with no path at all gets "/openai" added here, so the
// bare resource URL from the Azure portal works too. The model part of `azure/NAME` is the
// *deployment* name.
//
// API versions ([providers.azure] api_version = "..."):
//   a dated version (default k_default_api_version, the latest GA):
//     POST {base}/deployments/{deployment}/chat/completions?api-version={v}
//   "v1" (the version-less v1 API): POST {base}/v1/chat/completions, deployment in "model"
//   "preview": as v1, with ?api-version=preview
//
// The Responses API (/v1/responses passes through natively) exists only on the v1 API,
// whatever api_version says: POST {base}/v1/responses with the deployment in "model", no
// api-version (Microsoft's "API version lifecycle": the v1 API needs none), `api-key` auth;
// "preview" still adds ?api-version=preview.

#include "daemon/providers/adapter.hpp"
#include "daemon/providers/json_access.hpp"
#include "shared/wire/json_text.hpp"

#include <cctype>

namespace aigw::daemon::providers {

namespace {

using json = nlohmann::json;

constexpr std::string_view k_default_api_version = "2024-10-21";

std::string option(const Target& t, std::string_view key)
{
    if (t.provider == nullptr) {
        return {};
    }
    auto it = t.provider->options.find(key);
    return it == t.provider->options.end() ? std::string() : it->second;
}

std::string provider_name(const Target& t)
{
    return t.provider != nullptr ? t.provider->name : std::string("azure");
}

/// Deployment names are letters, digits, '-', '_' and '.'; anything else is escaped so
/// it cannot change the path.
std::string percent_encode(std::string_view s)
{
    static constexpr char k_hex[] = "0123456789ABCDEF";
    std::string out;
    for (char c : s) {
        auto u = static_cast<unsigned char>(c);
        if (std::isalnum(u) || c == '-' || c == '_' || c == '.' || c == '~') {
            out += c;
        } else {
            out += '%';
            out += k_hex[u >> 4];
            out += k_hex[u & 0xF];
        }
    }
    return out;
}

/// The path part of a URL ("" for "https://host" or "https://host/").
std::string_view url_path(std::string_view url)
{
    auto scheme = url.find("://");
    auto start = url.find('/', scheme == std::string_view::npos ? 0 : scheme + 3);
    if (start == std::string_view::npos) {
        return {};
    }
    auto path = url.substr(start);
    while (!path.empty() && path.back() == '/') {
        path.remove_suffix(1);
    }
    return path;
}

/// Why `t` cannot be called: no endpoint, or no deployment name; nullopt when it can.
std::optional<wire::Failure> target_problem(const Target& t)
{
    if (t.base_url.empty()) {
        const std::string name = provider_name(t);
        wire::Failure f =
            wire::bad_request("provider '" + name +
                                  "' has no Azure OpenAI endpoint configured: set AZURE_OPENAI_ENDPOINT=https://"
                                  "RESOURCE.openai.azure.com in the daemon's environment, or base_url = "
                                  "\"https://RESOURCE.openai.azure.com/openai\" under [providers." +
                                  name +
                                  "] in config.toml, "
                                  "then restart the daemon",
                              "model");
        f.code = "azure_endpoint_missing";
        return f;
    }
    if (t.model.empty()) {
        return wire::bad_request(
            "the Azure deployment name is missing: use model \"" + provider_name(t) + "/DEPLOYMENT\"", "model");
    }
    return std::nullopt;
}

/// The path (relative to Target::base_url) of an operation ("chat/completions", "embeddings").
std::expected<std::string, wire::Failure> azure_path(const Target& t, std::string_view operation)
{
    if (auto problem = target_problem(t)) {
        return std::unexpected(std::move(*problem));
    }
    const std::string_view base_path = url_path(t.base_url);
    // The bare resource URL: Azure serves the inference API under /openai.
    std::string prefix = base_path.empty() ? "/openai" : "";
    std::string version = option(t, "api_version");
    if (version.empty()) {
        version = k_default_api_version;
    }
    if (version == "v1" || version == "preview") {
        if (!base_path.ends_with("/v1")) {
            prefix += "/v1";
        }
        std::string path = prefix + "/" + std::string(operation);
        if (version == "preview") {
            path += "?api-version=preview";
        }
        return path;
    }
    return prefix + "/deployments/" + percent_encode(t.model) + "/" + std::string(operation) +
           "?api-version=" + percent_encode(version);
}

/// The v1 API's path of a Responses operation ("/responses" + suffix), relative to Target::base_url.
std::expected<std::string, wire::Failure> azure_responses_path(const Target& t, std::string_view operation)
{
    if (auto problem = target_problem(t)) {
        return std::unexpected(std::move(*problem));
    }
    const std::string_view base_path = url_path(t.base_url);
    std::string path = base_path.empty() ? "/openai" : "";
    if (!base_path.ends_with("/v1")) {
        path += "/v1";
    }
    path += "/responses" + std::string(operation);
    if (option(t, "api_version") == "preview") {
        path += "?api-version=preview";
    }
    return path;
}

/// Azure authenticates with `api-key`, not `Authorization: Bearer`.
void azure_headers(HeaderList& headers, const Target& t)
{
    headers.clear();
    headers.emplace_back("Content-Type", "application/json");
    if (!t.api_key.empty()) {
        headers.emplace_back("api-key", t.api_key);
    }
}

/// Drops the chunks Azure adds for its content filter before the first token: empty
/// `choices`, `prompt_filter_results`, no usage, and empty id/model/object. Forwarded, a
/// client would take them for the final usage chunk (or choke on `"object": ""`).
class AzureStream final : public StreamTranslator {
public:
    explicit AzureStream(std::unique_ptr<StreamTranslator> inner) : m_inner(std::move(inner)) {}

    std::expected<void, wire::Failure> on_event(const wire::SseEvent& ev, std::vector<json>& out) override
    {
        const std::size_t first = out.size();
        if (auto r = m_inner->on_event(ev, out); !r) {
            return r;
        }
        for (std::size_t i = first; i < out.size();) {
            const json& c = out[i];
            auto choices = c.find("choices");
            const bool no_choices = choices == c.end() || (choices->is_array() && choices->empty());
            auto usage = c.find("usage");
            const bool no_usage = usage == c.end() || usage->is_null();
            if (no_choices && no_usage) {
                out.erase(out.begin() + static_cast<std::ptrdiff_t>(i));
            } else {
                ++i;
            }
        }
        return {};
    }
    bool finished() const override { return m_inner->finished(); }
    wire::Usage usage() const override { return m_inner->usage(); }

private:
    std::unique_ptr<StreamTranslator> m_inner;
};

/// The categories Azure's content filter flagged, e.g. "violence, hate" ("" if none named).
std::string filtered_categories(const json& results)
{
    std::string out;
    if (!results.is_object()) {
        return out;
    }
    for (const auto& [category, verdict] : results.items()) {
        const bool filtered = bool_at(verdict, "filtered");
        const bool detected = bool_at(verdict, "detected");
        if (filtered || detected) {
            out += out.empty() ? "" : ", ";
            out += category;
        }
    }
    return out;
}

class AzureAdapter final : public Adapter {
public:
    std::expected<UpstreamRequest, wire::Failure> chat_request(const json& canonical, const Target& target,
                                                               bool stream) const override
    {
        auto path = azure_path(target, "chat/completions");
        if (!path) {
            return std::unexpected(std::move(path.error()));
        }
        auto req = openai_adapter().chat_request(canonical, target, stream);
        if (!req) {
            return req;
        }
        req->path = std::move(*path);
        azure_headers(req->headers, target);
        return req;
    }

    std::expected<ChatResult, wire::Failure> chat_response(std::string_view body, const Target& target) const override
    {
        // finish_reason "content_filter" and the *_filter_results fields pass through.
        return openai_adapter().chat_response(body, target);
    }
    bool chat_response_is_openai() const override { return true; }

    std::unique_ptr<StreamTranslator> chat_stream(const Target& target) const override
    {
        return std::make_unique<AzureStream>(openai_adapter().chat_stream(target));
    }

    wire::Failure classify_error(int status, std::string_view body, const HeaderList& headers) const override
    {
        wire::Failure f = Adapter::classify_error(status, body, headers);
        auto doc = wire::parse_json_lenient(body);
        const json* err = nullptr;
        if (doc.is_object() && doc.contains("error") && doc["error"].is_object()) {
            err = &doc["error"];
        }
        const json* inner = (err != nullptr && err->contains("innererror") && (*err)["innererror"].is_object())
                                ? &(*err)["innererror"]
                                : nullptr;
        const std::string inner_code = inner != nullptr ? inner->value("code", std::string()) : std::string();
        if (f.code == "content_filter" || inner_code == "ResponsibleAIPolicyViolation") {
            // The caller's prompt tripped the deployment's filter: retrying or falling back
            // to the same deployment cannot help.
            f.kind = wire::FailureKind::bad_request;
            f.status = 400;
            f.code = "content_filter";
            std::string categories;
            if (inner != nullptr && inner->contains("content_filter_result")) {
                categories = filtered_categories((*inner)["content_filter_result"]);
            }
            std::string msg = "Azure OpenAI's content filter blocked this request";
            if (!categories.empty()) {
                msg += " (flagged: " + categories + ")";
            }
            msg += ". Rephrase the prompt, or change the deployment's content filter in Azure AI Foundry.";
            if (!f.message.empty()) {
                msg += " Azure said: " + f.message;
            }
            f.message = std::move(msg);
        } else if (f.code == "DeploymentNotFound") {
            f.kind = wire::FailureKind::not_found;
            f.message +=
                " (the model in \"azure/NAME\" is your deployment's name, as listed under "
                "Deployments in Azure AI Foundry)";
        } else if (status == 401 && f.message.empty()) {
            f.message = "Azure OpenAI rejected the API key: check AZURE_OPENAI_API_KEY";
        }
        return f;
    }

    std::expected<UpstreamRequest, wire::Failure> embeddings_request(const json& canonical,
                                                                     const Target& target) const override
    {
        auto path = azure_path(target, "embeddings");
        if (!path) {
            return std::unexpected(std::move(path.error()));
        }
        auto req = openai_adapter().embeddings_request(canonical, target);
        if (!req) {
            return req;
        }
        req->path = std::move(*path);
        azure_headers(req->headers, target);
        return req;
    }

    std::expected<ChatResult, wire::Failure> embeddings_response(std::string_view body,
                                                                 const Target& target) const override
    {
        return openai_adapter().embeddings_response(body, target);
    }

    /// POST /responses only: compact and input_tokens are OpenAI's own (the gateway answers
    /// them for Azure as for any translated provider).
    bool serves_responses(const Target&, std::string_view operation) const override { return operation.empty(); }

    std::expected<UpstreamRequest, wire::Failure> responses_request(const json& body, const Target& target,
                                                                    std::string_view operation) const override
    {
        auto path = azure_responses_path(target, operation);
        if (!path) {
            return std::unexpected(std::move(path.error()));
        }
        UpstreamRequest req;
        req.path = std::move(*path);
        req.body = wire::dump_json_with(body, "model", json(target.model));
        azure_headers(req.headers, target);
        return req;
    }
};

}  // namespace

const Adapter& azure_adapter()
{
    static const AzureAdapter k_adapter;
    return k_adapter;
}

}  // namespace aigw::daemon::providers

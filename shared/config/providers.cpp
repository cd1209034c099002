#include "shared/config/providers.hpp"

#include <cctype>

namespace aigw::config {

std::string_view to_string(WireFormat w)
{
    switch (w) {
        case WireFormat::openai:
            return "openai";
        case WireFormat::anthropic:
            return "anthropic";
        case WireFormat::gemini:
            return "gemini";
        case WireFormat::azure:
            return "azure";
        case WireFormat::bedrock:
            return "bedrock";
        case WireFormat::cohere:
            return "cohere";
        case WireFormat::mock:
            return "mock";
    }
    return "openai";
}

std::optional<WireFormat> wire_format_from_string(std::string_view s)
{
    for (auto w : {WireFormat::openai, WireFormat::anthropic, WireFormat::gemini, WireFormat::azure,
                   WireFormat::bedrock, WireFormat::cohere, WireFormat::mock}) {
        if (to_string(w) == s) {
            return w;
        }
    }
    return std::nullopt;
}

namespace {

ProviderSpec preset(std::string name, WireFormat wire, std::string base_url, std::string key_env, bool key_required,
                    std::string display_name)
{
    ProviderSpec p;
    p.name = std::move(name);
    p.wire = wire;
    p.base_url = std::move(base_url);
    p.key_env = std::move(key_env);
    p.key_required = key_required;
    p.display_name = std::move(display_name);
    return p;
}

ProviderSpec openai_compatible(std::string name, std::string base_url, std::string key_env, std::string display_name)
{
    return preset(std::move(name), WireFormat::openai, std::move(base_url), std::move(key_env), true,
                  std::move(display_name));
}

std::vector<ProviderSpec> make_builtin_providers()
{
    std::vector<ProviderSpec> v;
    // OpenAI-compatible chat-completions endpoints.
    v.push_back(openai_compatible("openai", "https://api.openai.com/v1", "OPENAI_API_KEY", "OpenAI"));
    v.push_back(openai_compatible("groq", "https://api.groq.com/openai/v1", "GROQ_API_KEY", "Groq"));
    v.push_back(openai_compatible("together", "https://api.together.xyz/v1", "TOGETHER_API_KEY", "Together AI"));
    v.push_back(
        openai_compatible("fireworks", "https://api.fireworks.ai/inference/v1", "FIREWORKS_API_KEY", "Fireworks AI"));
    v.push_back(openai_compatible("deepseek", "https://api.deepseek.com/v1", "DEEPSEEK_API_KEY", "DeepSeek"));
    v.push_back(openai_compatible("mistral", "https://api.mistral.ai/v1", "MISTRAL_API_KEY", "Mistral AI"));
    v.push_back(openai_compatible("xai", "https://api.x.ai/v1", "XAI_API_KEY", "xAI"));
    v.push_back(openai_compatible("openrouter", "https://openrouter.ai/api/v1", "OPENROUTER_API_KEY", "OpenRouter"));
    v.push_back(openai_compatible("cerebras", "https://api.cerebras.ai/v1", "CEREBRAS_API_KEY", "Cerebras"));
    v.push_back(openai_compatible("moonshot", "https://api.moonshot.ai/v1", "MOONSHOT_API_KEY", "Moonshot AI"));
    // Perplexity serves chat completions at the root, without a /v1 segment.
    v.push_back(openai_compatible("perplexity", "https://api.perplexity.ai", "PERPLEXITY_API_KEY", "Perplexity"));
    // Local ollama: no key.
    v.push_back(preset("ollama", WireFormat::openai, "http://127.0.0.1:11434/v1", "", false, "Ollama"));
    // Native wire formats.
    v.push_back(preset("anthropic", WireFormat::anthropic, "https://api.anthropic.com/v1", "ANTHROPIC_API_KEY", true,
                       "Anthropic"));
    v.push_back(preset("gemini", WireFormat::gemini, "https://generativelanguage.googleapis.com/v1beta",
                       "GEMINI_API_KEY", true, "Google Gemini"));
    // Azure OpenAI: no default endpoint, it is per resource. config sets it from
    // AIGW_AZURE_BASE_URL, [providers.azure] base_url, or AZURE_OPENAI_ENDPOINT + "/openai".
    // Options: api_version (default: the adapter's latest GA version; "v1" for the v1 API).
    v.push_back(preset("azure", WireFormat::azure, "", "AZURE_OPENAI_API_KEY", true, "Azure OpenAI"));
    // Amazon Bedrock: an empty base_url means https://bedrock-runtime.{region}.amazonaws.com,
    // computed by the adapter from the request's AWS region. The key variable only tells
    // whether credentials are present; the adapter signs with SigV4.
    v.push_back(preset("bedrock", WireFormat::bedrock, "", "AWS_ACCESS_KEY_ID", true, "Amazon Bedrock"));
    v.push_back(preset("cohere", WireFormat::cohere, "https://api.cohere.com/v2", "COHERE_API_KEY", true, "Cohere"));
    // In-process fake used by tests and demos; never leaves the machine.
    v.push_back(preset("mock", WireFormat::mock, "", "", false, "Mock"));
    return v;
}

}  // namespace

const std::vector<ProviderSpec>& builtin_providers()
{
    static const std::vector<ProviderSpec> k_providers = make_builtin_providers();
    return k_providers;
}

std::string base_url_env_name(std::string_view provider)
{
    std::string out = "AIGW_";
    for (char c : provider) {
        auto u = static_cast<unsigned char>(c);
        out += std::isalnum(u) ? static_cast<char>(std::toupper(u)) : '_';
    }
    out += "_BASE_URL";
    return out;
}

}  // namespace aigw::config

#pragma once
// Providers aigw knows out of the box, and the wire format each one speaks.

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace aigw::config {

enum class WireFormat { openai, anthropic, gemini, azure, bedrock, cohere, mock };

std::string_view to_string(WireFormat w);
std::optional<WireFormat> wire_format_from_string(std::string_view s);

struct ProviderSpec {
    std::string name;  ///< prefix in model strings: "openai", "groq", ...
    WireFormat wire = WireFormat::openai;
    std::string base_url;      ///< e.g. "https://api.openai.com/v1" (no trailing slash)
    std::string key_env;       ///< e.g. "OPENAI_API_KEY"; empty when no key is used
    bool key_required = true;  ///< false for ollama, vllm, mock
    std::string display_name;
    /// Wire-specific settings from [providers.NAME]: Azure "api_version", Bedrock "region".
    std::map<std::string, std::string, std::less<>> options;
};

/// The presets: openai, groq, together, fireworks, deepseek, mistral, xai, openrouter,
/// cerebras, moonshot, perplexity, ollama, anthropic, gemini, azure, bedrock, cohere, mock.
const std::vector<ProviderSpec>& builtin_providers();

/// `AIGW_<PROVIDER>_BASE_URL` for a provider name ("open-router" -> AIGW_OPEN_ROUTER_BASE_URL).
std::string base_url_env_name(std::string_view provider);

}  // namespace aigw::config

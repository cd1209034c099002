#include "shared/wire/usage.hpp"

namespace aigw::wire {

namespace {
std::int64_t int_at(const nlohmann::json& obj, const char* key)
{
    if (!obj.is_object()) {
        return 0;
    }
    auto it = obj.find(key);
    if (it == obj.end() || !it->is_number()) {
        return 0;
    }
    return it->get<std::int64_t>();
}
}  // namespace

Usage usage_from_openai(const nlohmann::json& usage)
{
    Usage u;
    if (!usage.is_object()) {
        return u;
    }
    u.reported = true;
    u.input_tokens = int_at(usage, "prompt_tokens");
    u.output_tokens = int_at(usage, "completion_tokens");
    if (auto it = usage.find("prompt_tokens_details"); it != usage.end()) {
        u.cached_tokens = int_at(*it, "cached_tokens");
        // Some OpenAI-compatible servers (and our own Anthropic bridge) report cache writes here.
        u.cache_write_tokens = int_at(*it, "cache_creation_tokens");
    }
    if (auto it = usage.find("completion_tokens_details"); it != usage.end()) {
        u.reasoning_tokens = int_at(*it, "reasoning_tokens");
    }
    return u;
}

nlohmann::json usage_to_openai(const Usage& u)
{
    nlohmann::json prompt_details = {{"cached_tokens", u.cached_tokens}};
    if (u.cache_write_tokens + u.cache_write_1h_tokens > 0) {
        prompt_details["cache_creation_tokens"] = u.cache_write_tokens + u.cache_write_1h_tokens;
    }
    return {
        {"prompt_tokens", u.input_tokens},
        {"completion_tokens", u.output_tokens},
        {"total_tokens", u.input_tokens + u.output_tokens},
        {"prompt_tokens_details", std::move(prompt_details)},
        {"completion_tokens_details", {{"reasoning_tokens", u.reasoning_tokens}}},
    };
}

}  // namespace aigw::wire

#include "shared/wire/usage.hpp"

#include <cmath>

namespace aigw::wire {

std::optional<std::int64_t> token_count(const nlohmann::json& value)
{
    if (value.is_number_unsigned()) {
        auto n = value.get<std::uint64_t>();
        return n <= static_cast<std::uint64_t>(k_max_token_count)
                   ? std::optional<std::int64_t>(static_cast<std::int64_t>(n))
                   : std::nullopt;
    }
    if (value.is_number_integer()) {
        auto n = value.get<std::int64_t>();
        return n >= 0 && n <= k_max_token_count ? std::optional<std::int64_t>(n) : std::nullopt;
    }
    if (value.is_number_float()) {
        double d = value.get<double>();
        // NaN fails both comparisons; the bound is checked before the cast (no UB).
        if (!(d >= 0 && d <= static_cast<double>(k_max_token_count)) || std::trunc(d) != d) {
            return std::nullopt;
        }
        return static_cast<std::int64_t>(d);
    }
    return std::nullopt;
}

std::int64_t token_count_of(const nlohmann::json* value, Usage& usage)
{
    if (value == nullptr || value->is_null()) {
        return 0;
    }
    if (auto n = token_count(*value)) {
        return *n;
    }
    usage.impossible = true;
    return 0;
}

std::int64_t token_count_at(const nlohmann::json& obj, const char* key, Usage& usage)
{
    if (!obj.is_object()) {
        return 0;
    }
    auto it = obj.find(key);
    return token_count_of(it != obj.end() ? &*it : nullptr, usage);
}

Failure impossible_usage_failure()
{
    Failure f;
    f.kind = FailureKind::upstream;
    f.status = 502;
    f.message =
        "The upstream reported an impossible token count (not a whole number between 0 and 10^12); "
        "the answer was treated as malformed and nothing was charged.";
    return f;
}

std::optional<Failure> check_usage(const Usage& u)
{
    auto ok = [](std::int64_t n) { return n >= 0 && n <= k_max_token_count; };
    if (u.impossible || !ok(u.input_tokens) || !ok(u.cached_tokens) || !ok(u.cache_write_tokens) ||
        !ok(u.cache_write_1h_tokens) || !ok(u.output_tokens) || !ok(u.reasoning_tokens)) {
        return impossible_usage_failure();
    }
    return std::nullopt;
}

Usage usage_from_openai(const nlohmann::json& usage)
{
    Usage u;
    if (!usage.is_object()) {
        return u;
    }
    u.reported = true;
    u.input_tokens = token_count_at(usage, "prompt_tokens", u);
    u.output_tokens = token_count_at(usage, "completion_tokens", u);
    if (auto it = usage.find("prompt_tokens_details"); it != usage.end()) {
        u.cached_tokens = token_count_at(*it, "cached_tokens", u);
        // Some OpenAI-compatible servers (and our own Anthropic bridge) report cache writes here.
        u.cache_write_tokens = token_count_at(*it, "cache_creation_tokens", u);
    }
    if (auto it = usage.find("completion_tokens_details"); it != usage.end()) {
        u.reasoning_tokens = token_count_at(*it, "reasoning_tokens", u);
    }
    if (u.cached_tokens == 0) {
        // DeepSeek counts its cache hits (part of prompt_tokens) here instead; they cost a
        // tenth, and an editor's FIM prompts share long prefixes.
        u.cached_tokens = token_count_at(usage, "prompt_cache_hit_tokens", u);
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

#pragma once
// Token usage in one canonical form, whatever the provider reported.

#include <nlohmann/json.hpp>

#include <cstdint>

namespace aigw::wire {

/// Canonical token counts. `input_tokens` is the whole prompt, *including* cache reads and
/// cache writes (OpenAI's convention); the cache fields are subsets of it. `output_tokens`
/// includes reasoning tokens; `reasoning_tokens` is a subset of it.
struct Usage {
    std::int64_t input_tokens = 0;
    std::int64_t cached_tokens = 0;          ///< read from the provider's prompt cache
    std::int64_t cache_write_tokens = 0;     ///< written to the prompt cache (5-minute TTL)
    std::int64_t cache_write_1h_tokens = 0;  ///< written to the prompt cache (1-hour TTL)
    std::int64_t output_tokens = 0;
    std::int64_t reasoning_tokens = 0;
    bool reported = false;  ///< false when the upstream said nothing about usage

    bool operator==(const Usage&) const = default;
};

/// Reads an OpenAI `usage` object (prompt_tokens, completion_tokens, *_details).
Usage usage_from_openai(const nlohmann::json& usage);
/// Writes the OpenAI `usage` object for a canonical Usage.
nlohmann::json usage_to_openai(const Usage& u);

}  // namespace aigw::wire

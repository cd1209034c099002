#pragma once
// Token usage in one canonical form, whatever the provider reported.

#include "shared/wire/error.hpp"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <optional>

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
    /// True when some count the upstream sent was not a plausible token count (see
    /// token_count); the counts read as 0 and check_usage turns the answer into a 502.
    bool impossible = false;

    bool operator==(const Usage&) const = default;
};

/// More tokens than any single request can plausibly use; a bound on what the ledger stores.
inline constexpr std::int64_t k_max_token_count = 1'000'000'000'000;

/// A JSON value as a token count: a finite, non-negative integral number no larger than
/// k_max_token_count (2.0 counts, 2.5 does not). Returns nullopt for anything else.
std::optional<std::int64_t> token_count(const nlohmann::json& value);

/// A member's value as a token count: 0 when it is absent (null pointer) or null; when it is
/// not a plausible count, 0 and `usage.impossible` is set.
std::int64_t token_count_of(const nlohmann::json* value, Usage& usage);

/// obj[key] as a token count (token_count_of()); 0 when obj is not an object.
std::int64_t token_count_at(const nlohmann::json& obj, const char* key, Usage& usage);

/// The upstream reported counts no request can have: 502, FailureKind::upstream.
Failure impossible_usage_failure();

/// Every translator calls this on the usage it built: nullopt when the counts are
/// plausible (each in [0, k_max_token_count], not flagged impossible), else the failure.
std::optional<Failure> check_usage(const Usage& usage);

/// Reads an OpenAI `usage` object (prompt_tokens, completion_tokens, *_details).
Usage usage_from_openai(const nlohmann::json& usage);
/// Writes the OpenAI `usage` object for a canonical Usage.
nlohmann::json usage_to_openai(const Usage& u);

}  // namespace aigw::wire

#pragma once
// What follows a failed attempt: the same deployment again after a backoff, the next key
// of the provider at once, the next candidate of the plan, or nothing (the caller's own
// mistake). Pure: time is an input, so the rules are tested in virtual time.

#include "shared/config/config.hpp"
#include "shared/wire/error.hpp"

#include <chrono>
#include <optional>
#include <string>

namespace aigw::daemon::routing {

struct AttemptPolicySettings {
    int max_retries = 2;
    std::chrono::milliseconds backoff_initial{250};
    std::chrono::milliseconds backoff_max{8'000};
    std::chrono::milliseconds max_retry_wait{30'000};  ///< a longer Retry-After moves on instead of waiting
    std::chrono::milliseconds key_cooldown{30'000};    ///< a 429'd key rests this long without Retry-After

    static AttemptPolicySettings from(const config::RoutingSettings& rs, int max_retries);
};

/// Where one candidate's attempts stand when an attempt failed.
struct AttemptState {
    int key_index = -1;   ///< the key the failed attempt used (-1: none)
    int key_count = 0;    ///< keys the provider has
    int keys_failed = 0;  ///< keys of this candidate already given up on, the failed one included
    int retries = 0;      ///< retries of this candidate so far
    bool more_candidates = false;
    std::chrono::milliseconds time_left{0};  ///< until the request's total deadline
};

enum class Step {
    next_key,        ///< another key of the same provider, at once
    retry,           ///< the same candidate again after `delay`
    next_candidate,  ///< give up on this candidate
    stop,            ///< give up on the request: the caller's mistake, another model would fail the same way
};

struct Decision {
    Step step = Step::next_candidate;
    std::chrono::milliseconds delay{0};                 ///< retry: wait this long first
    bool mark_key_bad = false;                          ///< the provider refused the key (401/403)
    std::optional<std::chrono::milliseconds> rest_key;  ///< 429: the key rests this long for this model
    bool reset_failed_keys = false;                     ///< every key rested: a retry may use any again
};

/// Decides what follows `f`. `jitter` in [0, 1) scales the exponential backoff (full jitter).
Decision decide_after_failure(const AttemptPolicySettings& s, const wire::Failure& f, const AttemptState& st,
                              double jitter);

/// Delay before retry number `retry` (1-based): the upstream's Retry-After when it gave one
/// (clamped to [0, 1 day]), else exponential backoff with full jitter.
std::chrono::milliseconds backoff_delay(const AttemptPolicySettings& s, int retry, const wire::Failure& f,
                                        double jitter);

}  // namespace aigw::daemon::routing

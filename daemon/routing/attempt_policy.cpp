#include "daemon/routing/attempt_policy.hpp"

#include <algorithm>
#include <cmath>

namespace aigw::daemon::routing {

namespace {

constexpr double k_max_wait_s = 86'400;  ///< a Retry-After beyond a day is nonsense: treated as a day

std::chrono::milliseconds seconds_to_ms(double s)
{
    if (!std::isfinite(s) || s < 0) {
        s = std::isnan(s) || s < 0 ? 0 : k_max_wait_s;
    }
    s = std::min(s, k_max_wait_s);
    return std::chrono::milliseconds(static_cast<std::int64_t>(s * 1000.0));
}

}  // namespace

AttemptPolicySettings AttemptPolicySettings::from(const config::RoutingSettings& rs, int max_retries)
{
    AttemptPolicySettings s;
    s.max_retries = max_retries;
    s.backoff_initial = std::chrono::milliseconds(rs.backoff_initial_ms);
    s.backoff_max = std::chrono::milliseconds(rs.backoff_max_ms);
    s.max_retry_wait = std::chrono::milliseconds(rs.max_retry_wait_ms);
    s.key_cooldown = std::chrono::milliseconds(rs.key_cooldown_ms);
    return s;
}

std::chrono::milliseconds backoff_delay(const AttemptPolicySettings& s, int retry, const wire::Failure& f,
                                        double jitter)
{
    if (f.retry_after_s) {
        return seconds_to_ms(*f.retry_after_s);
    }
    const double cap = std::min(static_cast<double>(s.backoff_max.count()),
                                static_cast<double>(s.backoff_initial.count()) * std::pow(2.0, retry - 1));
    return std::chrono::milliseconds(static_cast<std::int64_t>(std::clamp(jitter, 0.0, 1.0) * cap));
}

Decision decide_after_failure(const AttemptPolicySettings& s, const wire::Failure& f, const AttemptState& st,
                              double jitter)
{
    Decision d;
    if (f.kind == wire::FailureKind::auth && st.key_index >= 0 && (f.status == 401 || f.status == 403)) {
        // The provider refused this key: the next key goes at once, no backoff.
        d.mark_key_bad = true;
        d.step = st.key_count > st.keys_failed ? Step::next_key : Step::next_candidate;
        return d;
    }
    if (f.kind == wire::FailureKind::rate_limited && st.key_index >= 0 && (st.key_count > 1 || f.retry_after_s)) {
        // Rest this key for this model; another key of the provider may go at once.
        d.rest_key = f.retry_after_s ? seconds_to_ms(*f.retry_after_s) : s.key_cooldown;
        if (st.key_count > 1) {
            if (st.keys_failed < st.key_count) {
                d.step = Step::next_key;
                return d;
            }
            d.reset_failed_keys = true;  // all rested: a retry waits for the first to come back
        }
    }
    if (f.kind == wire::FailureKind::bad_request || f.kind == wire::FailureKind::internal) {
        d.step = Step::stop;
        return d;
    }
    if (wire::is_retryable(f.kind) && st.retries < s.max_retries) {
        const auto delay = backoff_delay(s, st.retries + 1, f, jitter);
        const bool too_long = delay > s.max_retry_wait;
        if (!(too_long && st.more_candidates) && delay < st.time_left) {
            d.step = Step::retry;
            // A key rested for exactly Retry-After is usable again a moment after it.
            d.delay = delay + (f.retry_after_s ? std::chrono::milliseconds(5) : std::chrono::milliseconds(0));
            return d;
        }
    }
    d.step = Step::next_candidate;
    return d;
}

}  // namespace aigw::daemon::routing

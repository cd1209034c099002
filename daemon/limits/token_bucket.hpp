#pragma once
// A token bucket for "N per minute" limits: it holds at most N tokens and refills evenly,
// N per 60 s. Not thread-safe: the Limiter holds one lock over all its buckets so that a
// request takes from every bucket that applies to it, or from none.

#include <cstdint>

namespace aigw::daemon::limits {

class TokenBucket {
public:
    /// A full bucket of `per_minute` (> 0) tokens at `now_ms`.
    TokenBucket(std::int64_t per_minute, std::int64_t now_ms);

    /// Milliseconds until `n` tokens can be taken; 0 when they can be now. A request larger
    /// than the whole bucket can be taken once the bucket is full (and leaves it in debt),
    /// so a big prompt is slowed down, not refused forever.
    std::int64_t wait_ms(double n, std::int64_t now_ms);
    /// Takes `n` tokens; the level may go below zero (debt repaid by the refill).
    void take(double n, std::int64_t now_ms);
    /// Returns `n` tokens (a reservation larger than the real use); never above the capacity.
    /// A negative `n` takes more (the real use was larger than the reservation).
    void give(double n, std::int64_t now_ms);
    /// Tokens there now (may be negative).
    double level(std::int64_t now_ms);
    std::int64_t per_minute() const { return m_per_minute; }

private:
    void refill(std::int64_t now_ms);

    std::int64_t m_per_minute;
    double m_tokens;
    std::int64_t m_last_ms;
};

}  // namespace aigw::daemon::limits

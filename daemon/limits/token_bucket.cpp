#include "daemon/limits/token_bucket.hpp"

#include <algorithm>
#include <cmath>

namespace aigw::daemon::limits {

namespace {

constexpr double k_ms_per_minute = 60'000.0;

}  // namespace

TokenBucket::TokenBucket(std::int64_t per_minute, std::int64_t now_ms)
    : m_per_minute(std::max<std::int64_t>(per_minute, 1)),
      m_tokens(static_cast<double>(m_per_minute)),
      m_last_ms(now_ms)
{}

void TokenBucket::refill(std::int64_t now_ms)
{
    if (now_ms <= m_last_ms) {
        return;  // the clock went backwards (or did not move): no refill, and no negative one
    }
    const double capacity = static_cast<double>(m_per_minute);
    m_tokens = std::min(capacity, m_tokens + static_cast<double>(now_ms - m_last_ms) * capacity / k_ms_per_minute);
    m_last_ms = now_ms;
}

std::int64_t TokenBucket::wait_ms(double n, std::int64_t now_ms)
{
    refill(now_ms);
    const double capacity = static_cast<double>(m_per_minute);
    const double need = std::min(n, capacity);
    if (m_tokens >= need) {
        return 0;
    }
    const double ms = (need - m_tokens) * k_ms_per_minute / capacity;
    return std::max<std::int64_t>(1, static_cast<std::int64_t>(std::ceil(ms)));
}

void TokenBucket::take(double n, std::int64_t now_ms)
{
    refill(now_ms);
    m_tokens -= n;
}

void TokenBucket::give(double n, std::int64_t now_ms)
{
    refill(now_ms);
    m_tokens = std::min(static_cast<double>(m_per_minute), m_tokens + n);
}

double TokenBucket::level(std::int64_t now_ms)
{
    refill(now_ms);
    return m_tokens;
}

}  // namespace aigw::daemon::limits

#pragma once
// The time source of limits and budgets, injected so tests move time by hand.

#include <atomic>
#include <chrono>
#include <cstdint>

namespace aigw::daemon::limits {

/// Wall-clock milliseconds since the Unix epoch. Buckets tolerate it going backwards
/// (no refill), budgets use it to tell UTC days and months apart.
class Clock {
public:
    virtual ~Clock() = default;
    virtual std::int64_t now_ms() const = 0;
};

class SystemClock final : public Clock {
public:
    std::int64_t now_ms() const override
    {
        return std::chrono::duration_cast<std::chrono::milliseconds>(
                   std::chrono::system_clock::now().time_since_epoch())
            .count();
    }
};

/// A clock that moves only when told to (tests).
class ManualClock final : public Clock {
public:
    explicit ManualClock(std::int64_t start_ms = 1'700'000'000'000) : m_ms(start_ms) {}
    std::int64_t now_ms() const override { return m_ms.load(); }
    void set(std::int64_t ms) { m_ms.store(ms); }
    void advance(std::chrono::milliseconds d) { m_ms.fetch_add(d.count()); }

private:
    std::atomic<std::int64_t> m_ms;
};

}  // namespace aigw::daemon::limits

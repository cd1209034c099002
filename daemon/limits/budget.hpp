#pragma once
// Running spend per key and overall, per UTC day and UTC month. Seeded from the ledger at
// start-up and kept in memory after that (the ledger is written asynchronously, so reading
// it back per request would both lag and cost a query). Not thread-safe: the Limiter locks.

#include <cstdint>
#include <map>
#include <string>
#include <string_view>

namespace aigw::daemon::limits {

enum class Period { day, month };

std::string_view to_string(Period p);  ///< "day" | "month"
/// "day" / "daily" -> day, "month" / "monthly" -> month.
bool parse_period(std::string_view text, Period& out);

/// The UTC day (days since the epoch) or UTC month (year * 12 + month - 1) holding `unix_ms`.
std::int64_t period_index(Period p, std::int64_t unix_ms);
/// Unix ms at which period `index` starts.
std::int64_t period_start_ms(Period p, std::int64_t index);

/// What one key (or everything) spent in the current day and month.
struct Spend {
    std::int64_t day = -1;  ///< period_index(day) the day total belongs to
    double day_usd = 0;
    std::int64_t month = -1;  ///< period_index(month) the month total belongs to
    double month_usd = 0;
};

class BudgetTracker {
public:
    /// Sets what `key_id` has spent so far this day and month (from the ledger at start-up).
    /// Also adds it to the overall total.
    void seed(std::string_view key_id, double day_usd, double month_usd, std::int64_t now_ms);
    /// Adds a recorded cost to `key_id` and to the overall total.
    void add(std::string_view key_id, double usd, std::int64_t now_ms);
    /// Spent by `key_id` in the period holding `now_ms` (0 after a rollover).
    double spent(std::string_view key_id, Period p, std::int64_t now_ms) const;
    /// Spent by every key together.
    double spent_total(Period p, std::int64_t now_ms) const;

private:
    static void roll(Spend& s, std::int64_t now_ms);
    static double current(const Spend& s, Period p, std::int64_t now_ms);

    std::map<std::string, Spend, std::less<>> m_by_key;
    Spend m_total;
};

}  // namespace aigw::daemon::limits

#include "daemon/limits/budget.hpp"

#include <chrono>

namespace aigw::daemon::limits {

namespace {

constexpr std::int64_t k_ms_per_day = 86'400'000;

/// Floor division, so instants before 1970 fall into the right day too.
std::int64_t floor_div(std::int64_t a, std::int64_t b)
{
    return a / b - ((a % b != 0) && ((a < 0) != (b < 0)) ? 1 : 0);
}

}  // namespace

std::string_view to_string(Period p)
{
    return p == Period::day ? "day" : "month";
}

bool parse_period(std::string_view text, Period& out)
{
    if (text == "day" || text == "daily" || text == "d") {
        out = Period::day;
        return true;
    }
    if (text == "month" || text == "monthly" || text == "mo") {
        out = Period::month;
        return true;
    }
    return false;
}

std::int64_t period_index(Period p, std::int64_t unix_ms)
{
    const std::int64_t day = floor_div(unix_ms, k_ms_per_day);
    if (p == Period::day) {
        return day;
    }
    const std::chrono::year_month_day ymd{std::chrono::sys_days{std::chrono::days{day}}};
    return static_cast<std::int64_t>(static_cast<int>(ymd.year())) * 12 +
           static_cast<std::int64_t>(static_cast<unsigned>(ymd.month())) - 1;
}

std::int64_t period_start_ms(Period p, std::int64_t index)
{
    if (p == Period::day) {
        return index * k_ms_per_day;
    }
    const std::chrono::year_month_day first{
        std::chrono::year{static_cast<int>(floor_div(index, 12))},
        std::chrono::month{static_cast<unsigned>(index - floor_div(index, 12) * 12 + 1)}, std::chrono::day{1}};
    return static_cast<std::int64_t>(std::chrono::sys_days{first}.time_since_epoch().count()) * k_ms_per_day;
}

void BudgetTracker::roll(Spend& s, std::int64_t now_ms)
{
    const auto day = period_index(Period::day, now_ms);
    if (s.day != day) {
        s.day = day;
        s.day_usd = 0;
    }
    const auto month = period_index(Period::month, now_ms);
    if (s.month != month) {
        s.month = month;
        s.month_usd = 0;
    }
}

double BudgetTracker::current(const Spend& s, Period p, std::int64_t now_ms)
{
    if (p == Period::day) {
        return s.day == period_index(Period::day, now_ms) ? s.day_usd : 0.0;
    }
    return s.month == period_index(Period::month, now_ms) ? s.month_usd : 0.0;
}

void BudgetTracker::seed(std::string_view key_id, double day_usd, double month_usd, std::int64_t now_ms)
{
    auto it = m_by_key.find(key_id);
    if (it == m_by_key.end()) {
        it = m_by_key.emplace(std::string(key_id), Spend{}).first;
    }
    roll(it->second, now_ms);
    roll(m_total, now_ms);
    it->second.day_usd += day_usd;
    it->second.month_usd += month_usd;
    m_total.day_usd += day_usd;
    m_total.month_usd += month_usd;
}

void BudgetTracker::add(std::string_view key_id, double usd, std::int64_t now_ms)
{
    seed(key_id, usd, usd, now_ms);
}

double BudgetTracker::spent(std::string_view key_id, Period p, std::int64_t now_ms) const
{
    auto it = m_by_key.find(key_id);
    return it == m_by_key.end() ? 0.0 : current(it->second, p, now_ms);
}

double BudgetTracker::spent_total(Period p, std::int64_t now_ms) const
{
    return current(m_total, p, now_ms);
}

}  // namespace aigw::daemon::limits

// Running spend per key and overall, rolling over at UTC midnight and at the first of the month.

#include "daemon/limits/budget.hpp"

#include <doctest/doctest.h>

using namespace aigw::daemon::limits;

namespace {

constexpr std::int64_t k_day = 86'400'000;
// 2025-01-31 00:00:00 UTC
constexpr std::int64_t k_jan31 = 1'738'281'600'000;

}  // namespace

TEST_CASE("UTC days and months: indexes and their starts")
{
    CHECK(period_start_ms(Period::day, period_index(Period::day, k_jan31 + 5 * 3'600'000)) == k_jan31);
    CHECK(period_index(Period::month, k_jan31) == 2025 * 12 + 0);
    CHECK(period_index(Period::month, k_jan31 + k_day) == 2025 * 12 + 1);  // Feb 1
    CHECK(period_start_ms(Period::month, 2025 * 12 + 1) == k_jan31 + k_day);
    CHECK(period_start_ms(Period::month, 2025 * 12 + 0) == k_jan31 - 30 * k_day);   // Jan 1
    CHECK(period_start_ms(Period::month, 2024 * 12 + 11) == k_jan31 - 61 * k_day);  // Dec 1, 2024
}

TEST_CASE("spend adds up per key and overall, and a new UTC day starts the daily total at zero")
{
    BudgetTracker t;
    const std::int64_t noon = k_jan31 - k_day + k_day / 2;  // Jan 30, 12:00
    t.add("vk_a", 1.5, noon);
    t.add("vk_a", 0.5, noon + 1000);
    t.add("vk_b", 2.0, noon);
    CHECK(t.spent("vk_a", Period::day, noon) == doctest::Approx(2.0));
    CHECK(t.spent("vk_b", Period::day, noon) == doctest::Approx(2.0));
    CHECK(t.spent("vk_none", Period::day, noon) == 0);
    CHECK(t.spent_total(Period::day, noon) == doctest::Approx(4.0));

    // Jan 31: a new day, the same month.
    CHECK(t.spent("vk_a", Period::day, k_jan31) == 0);
    CHECK(t.spent("vk_a", Period::month, k_jan31) == doctest::Approx(2.0));
    t.add("vk_a", 1.0, k_jan31);
    CHECK(t.spent("vk_a", Period::day, k_jan31) == doctest::Approx(1.0));
    CHECK(t.spent("vk_a", Period::month, k_jan31) == doctest::Approx(3.0));
    CHECK(t.spent_total(Period::month, k_jan31) == doctest::Approx(5.0));

    // Feb 1: a new month.
    CHECK(t.spent("vk_a", Period::month, k_jan31 + k_day) == 0);
    CHECK(t.spent_total(Period::month, k_jan31 + k_day) == 0);
}

TEST_CASE("seeding sets today's and this month's totals separately")
{
    BudgetTracker t;
    t.seed("vk_a", 1.0, 7.0, k_jan31);
    t.seed("default", 0.25, 0.25, k_jan31);
    CHECK(t.spent("vk_a", Period::day, k_jan31) == doctest::Approx(1.0));
    CHECK(t.spent("vk_a", Period::month, k_jan31) == doctest::Approx(7.0));
    CHECK(t.spent_total(Period::day, k_jan31) == doctest::Approx(1.25));
    CHECK(t.spent_total(Period::month, k_jan31) == doctest::Approx(7.25));
}

TEST_CASE("budget periods are spelled day/daily and month/monthly")
{
    Period p = Period::month;
    CHECK(parse_period("daily", p));
    CHECK(p == Period::day);
    CHECK(parse_period("month", p));
    CHECK(p == Period::month);
    CHECK_FALSE(parse_period("week", p));
}

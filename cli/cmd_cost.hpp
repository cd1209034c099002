#pragma once
// Pieces of `aigw cost` that are pure enough to test.

#include "cli/term.hpp"
#include "shared/client/types.hpp"

#include <chrono>
#include <cstdint>
#include <expected>
#include <string>
#include <string_view>
#include <vector>

namespace aigw::cli {

enum class TimeEdge { since, until };

/// `--since` / `--until` values in epoch ms, in local time:
/// "today", "yesterday" (local midnight), "Nd" / "Nh" (now minus N days / hours), "now",
/// "YYYY-MM-DD" (local midnight; as --until it means the end of that day), or epoch ms digits.
/// Error text says which forms are accepted.
std::expected<std::int64_t, std::string> parse_time_spec(std::string_view spec, TimeEdge edge,
                                                         std::chrono::system_clock::time_point now);

/// Local midnight at the start of the day containing `t`, in epoch ms.
std::int64_t local_midnight_ms(std::chrono::system_clock::time_point t);

/// The report as CSV: a header line, one line per group and a "total" line.
std::string cost_csv(const client::CostReport& r, std::string_view by);

/// Day groups ("YYYY-MM-DD") in date order with the days between them that had no
/// requests filled in as empty groups, so a chart shows the gaps.
std::vector<client::CostGroup> fill_days(std::vector<client::CostGroup> days);

/// `days` with empty groups added for the first and last UTC day of [since_ms, until_ms)
/// when missing, so fill_days shows every day of the range, quiet ones included.
std::vector<client::CostGroup> with_range_days(std::vector<client::CostGroup> days, std::int64_t since_ms,
                                               std::int64_t until_ms);

/// `--by variant`: each A/B variant's requests, error rate, average and p95 latency, cost
/// and cost per request; the best value of each column is marked '*'.
Table variant_table(const client::CostReport& r, bool colour);

/// `--by day`: the table with a bar of each day's spend.
Table day_table(const client::CostReport& r, bool colour, std::size_t bar_width);

}  // namespace aigw::cli

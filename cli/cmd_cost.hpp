#pragma once
// Pieces of `aigw cost` that are pure enough to test.

#include "shared/client/types.hpp"

#include <chrono>
#include <cstdint>
#include <expected>
#include <string>
#include <string_view>

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

}  // namespace aigw::cli

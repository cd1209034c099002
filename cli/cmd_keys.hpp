#pragma once
// Pieces of `aigw keys` that are pure enough to test.

#include <chrono>
#include <cstdint>
#include <expected>
#include <string>
#include <string_view>

namespace aigw::cli {

/// A key for display: its prefix up to the first '-' (when short, like "sk-"), "...", and
/// the last 4 characters: "sk-proj-abcdef1234" -> "sk-...1234". Keys under 12 characters
/// show no characters at all ("****").
std::string mask_key(std::string_view key);

struct BudgetSpec {
    double usd = 0;
    std::string period;  ///< "day" | "month"
};
/// `--budget` values: "5/day", "50/month", "$2.5/d", "10/mo", "5/daily". Error text says
/// which forms are accepted.
std::expected<BudgetSpec, std::string> parse_budget(std::string_view text);

/// `--expires` values in epoch ms: "YYYY-MM-DD" (the key works through that local day),
/// "Nd" / "Nh" (N days / hours from `now`), or epoch milliseconds.
std::expected<std::int64_t, std::string> parse_expiry(std::string_view text, std::chrono::system_clock::time_point now);

}  // namespace aigw::cli

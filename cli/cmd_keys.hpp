#pragma once
// Pieces of `aigw keys` that are pure enough to test.

#include <string>
#include <string_view>

namespace aigw::cli {

/// A key for display: its prefix up to the first '-' (when short, like "sk-"), "...", and
/// the last 4 characters: "sk-proj-abcdef1234" -> "sk-...1234". Keys under 12 characters
/// show no characters at all ("****").
std::string mask_key(std::string_view key);

}  // namespace aigw::cli

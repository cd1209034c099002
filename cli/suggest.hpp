#pragma once
// "Did you mean ...?" for mistyped commands, options and names.

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace aigw::cli {

/// Levenshtein distance (insert, delete, substitute; each costs 1), by bytes.
std::size_t edit_distance(std::string_view a, std::string_view b);

/// The candidate closest to `typed` when it is close enough to be a typo (at most 2 edits,
/// and fewer edits than the word has letters), else nullopt. Ties go to the first listed.
std::optional<std::string> suggest(std::string_view typed, const std::vector<std::string>& candidates);

}  // namespace aigw::cli

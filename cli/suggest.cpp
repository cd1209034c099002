#include "cli/suggest.hpp"

#include <algorithm>
#include <numeric>

namespace aigw::cli {

std::size_t edit_distance(std::string_view a, std::string_view b)
{
    // One row of the dynamic-programming table at a time.
    std::vector<std::size_t> row(b.size() + 1);
    std::iota(row.begin(), row.end(), std::size_t{0});
    for (std::size_t i = 1; i <= a.size(); ++i) {
        std::size_t diagonal = row[0];
        row[0] = i;
        for (std::size_t j = 1; j <= b.size(); ++j) {
            const std::size_t above = row[j];
            const std::size_t substitute = diagonal + (a[i - 1] == b[j - 1] ? 0 : 1);
            row[j] = std::min({above + 1, row[j - 1] + 1, substitute});
            diagonal = above;
        }
    }
    return row[b.size()];
}

std::optional<std::string> suggest(std::string_view typed, const std::vector<std::string>& candidates)
{
    std::optional<std::string> best;
    std::size_t best_distance = 3;
    for (const auto& c : candidates) {
        const std::size_t d = edit_distance(typed, c);
        if (d < best_distance && d < typed.size()) {
            best = c;
            best_distance = d;
        }
    }
    return best;
}

}  // namespace aigw::cli

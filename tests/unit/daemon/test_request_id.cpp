// Request ids: unique, and sorted by time so the ledger's request_id index stays append-only.
#include "daemon/pipeline/dispatcher.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <set>
#include <string>
#include <vector>

using aigw::daemon::pipeline::request_id_at;

TEST_CASE("request ids are req_ and 24 hex digits, the first 12 the time in ms")
{
    const std::string id = request_id_at(0x0123456789ab);
    REQUIRE(id.size() == 28);
    CHECK(id.starts_with("req_0123456789ab"));
    CHECK(
        std::all_of(id.begin() + 4, id.end(), [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); }));
}

TEST_CASE("request ids sort by time and do not repeat within one millisecond")
{
    std::vector<std::string> ids;
    std::set<std::string> seen;
    const std::int64_t t0 = 1796425382924;  // 2026-12-04
    for (std::int64_t ms = 0; ms < 50; ++ms) {
        for (int i = 0; i < 100; ++i) {
            ids.push_back(request_id_at(t0 + ms));
            seen.insert(ids.back());
        }
    }
    CHECK(seen.size() == ids.size());
    for (std::size_t i = 100; i < ids.size(); i += 100) {
        CHECK(ids[i - 1] < ids[i]);  // every id of one ms sorts before every id of the next
        CHECK(*std::max_element(ids.begin() + static_cast<std::ptrdiff_t>(i - 100),
                                ids.begin() + static_cast<std::ptrdiff_t>(i)) <
              *std::min_element(ids.begin() + static_cast<std::ptrdiff_t>(i),
                                ids.begin() + static_cast<std::ptrdiff_t>(i + 100)));
    }
}

// GET /ready's answer for a load balancer: 503 with reasons while stopping or when the ledger
// writer is so far behind that requests would wait for room in its queue.

#include "daemon/app/gateway.hpp"

#include <doctest/doctest.h>

using aigw::daemon::app::not_ready_reasons;

TEST_CASE("ready unless stopping or the ledger queue is 90% full")
{
    CHECK(not_ready_reasons(false, 0, 1000).empty());
    CHECK(not_ready_reasons(false, 899, 1000).empty());
    const auto behind = not_ready_reasons(false, 900, 1000);
    REQUIRE(behind.size() == 1);
    CHECK(behind[0] == "the ledger writer is behind: 900 of 1000 rows queued");
    const auto stopping = not_ready_reasons(true, 0, 1000);
    REQUIRE(stopping.size() == 1);
    CHECK(stopping[0] == "shutting down");
    CHECK(not_ready_reasons(true, 1000, 1000).size() == 2);
}

#pragma once
// Budgets shared by every aigwd of a cluster, exact under concurrency: per budget and
// period, Redis holds what was spent (a float counter) and the costs held by requests in
// flight (a sorted set: one member per request, scored by when its hold lapses). Admission
// is one atomic script over every budget that applies: spent + held + this estimate must
// fit each, and then the estimate is held in all of them, or in none. Settling is a second
// script that drops the request's hold and adds its real cost.
//
// Seeding: a period's spend counter is created by the first hold that finds it missing,
// with the spend that instance's own ledger has for the period (SETNX inside the script).
// Instances that come later never add theirs, so spend is not counted twice; what other
// instances spent before the cluster existed (or before Redis lost its data) is not seen.

#include "daemon/cluster/redis_client.hpp"

#include <boost/asio/awaitable.hpp>

#include <cstdint>
#include <expected>
#include <string>
#include <vector>

namespace aigw::daemon::cluster {

/// One budget a request is held against.
struct BudgetHold {
    std::string key;                ///< Redis key of the period's spend; its holds are under key + ":held"
    double limit_usd = 0;           ///< the budget
    double seed_usd = 0;            ///< this instance's spend in the period, used only when Redis has none
    std::int64_t expire_at_ms = 0;  ///< unix ms after the period ends: both keys go then
};

struct BudgetVerdict {
    bool allowed = false;
    std::size_t blocked = 0;   ///< refused: index of the first budget that does not fit
    double committed_usd = 0;  ///< refused: its spent + held before this request
};

/// The scripts (exposed for tests).
extern const char* const k_budget_hold_script;
extern const char* const k_budget_settle_script;

/// Holds `estimate_usd` under the member `hold_id` in every budget of `holds`, or in none
/// when spent + held + estimate would pass one of them (an estimate of 0: when spent +
/// held already reaches it). Holds older than their lifetime (`hold_ttl_ms`, on the Redis
/// server's clock) are dropped first: a request whose instance died does not hold forever.
/// Errors: Redis unreachable or refusing.
boost::asio::awaitable<std::expected<BudgetVerdict, std::string>> hold_budgets(RedisClient& redis,
                                                                               const std::vector<BudgetHold>& holds,
                                                                               const std::string& hold_id,
                                                                               double estimate_usd,
                                                                               std::int64_t hold_ttl_ms);

/// Drops the hold `hold_id` from every budget of `keys` and adds `cost_usd` to their spend
/// (0: the request ends without a cost). A period whose counter is gone (Redis lost it) is
/// left for the next hold to seed. Returns each budget's spend after it.
boost::asio::awaitable<std::expected<std::vector<double>, std::string>> settle_budgets(
    RedisClient& redis, const std::vector<std::string>& keys, const std::string& hold_id, double cost_usd);

}  // namespace aigw::daemon::cluster

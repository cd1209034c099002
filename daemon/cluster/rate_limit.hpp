#pragma once
// Rate limits shared by every aigwd of a cluster, exact under concurrency: one token
// bucket per key in Redis, taken from by a Lua script that runs atomically on the server
// and reads the server's clock (instances' clocks may differ). One round trip per check.

#include "daemon/cluster/redis_client.hpp"

#include <boost/asio/awaitable.hpp>

#include <cstdint>
#include <expected>
#include <string>
#include <vector>

namespace aigw::daemon::cluster {

struct BucketTake {
    bool allowed = false;
    std::int64_t retry_after_ms = 0;  ///< when refused: until `cost` tokens are back
    double remaining = 0;             ///< tokens left after this take
};

/// The script (exposed for its SHA1 and for tests).
extern const char* const k_take_script;

/// Takes `cost` tokens from the bucket `key` holding at most `capacity`, refilled at
/// `capacity` per `period_ms`; all or nothing. The bucket expires when it would be full
/// again, so idle keys cost Redis nothing. Errors: Redis unreachable or refusing.
boost::asio::awaitable<std::expected<BucketTake, std::string>> take_tokens(RedisClient& redis, std::string key,
                                                                           double capacity, std::int64_t period_ms,
                                                                           double cost = 1);

/// One bucket a request takes from in take_all().
struct BucketNeed {
    std::string key;      ///< the Redis key of the bucket
    double capacity = 0;  ///< tokens it holds at most (refilled at this rate per period)
    double amount = 0;    ///< tokens to take
};

struct MultiTake {
    bool allowed = false;
    std::size_t blocked = 0;          ///< when refused: index of the bucket that waits longest
    std::int64_t retry_after_ms = 0;  ///< when refused: until that bucket has the tokens
};

/// The script of take_all (exposed for tests).
extern const char* const k_take_all_script;
/// The script of give_tokens (exposed for tests).
extern const char* const k_give_script;

/// Takes from every bucket of `needs` or from none, in one atomic script on the server's
/// clock. The buckets behave as limits::TokenBucket: a take is allowed when the bucket
/// holds min(amount, capacity) tokens, and may leave it below zero (a request larger than
/// the whole bucket waits for a full bucket instead of being refused forever); the level
/// is refilled at capacity per `period_ms`. Errors: Redis unreachable or refusing.
boost::asio::awaitable<std::expected<MultiTake, std::string>> take_all(RedisClient& redis,
                                                                       const std::vector<BucketNeed>& needs,
                                                                       std::int64_t period_ms);

/// Gives `amount` tokens back to the bucket `key` (never above `capacity`); a negative
/// amount takes more (a request used more than it reserved). Errors as take_all.
boost::asio::awaitable<std::expected<void, std::string>> give_tokens(RedisClient& redis, std::string key,
                                                                     double capacity, std::int64_t period_ms,
                                                                     double amount);

/// `v` in full precision, for a script's argument.
std::string number_text(double v);

}  // namespace aigw::daemon::cluster

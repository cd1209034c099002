#pragma once
// Rate limits shared by every aigwd of a cluster, exact under concurrency: one token
// bucket per key in Redis, taken from by a Lua script that runs atomically on the server
// and reads the server's clock (instances' clocks may differ). One round trip per check.

#include "daemon/cluster/redis_client.hpp"

#include <boost/asio/awaitable.hpp>

#include <cstdint>
#include <expected>
#include <string>

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

}  // namespace aigw::daemon::cluster

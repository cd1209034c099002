// Pure parts of the shared rate limits: what `aigw status` and the logs show of a Redis URL.

#include "daemon/cluster/shared_limits.hpp"

#include <doctest/doctest.h>

using aigw::daemon::cluster::redact_redis_url;

TEST_CASE("a Redis URL is shown without its password, user and host kept")
{
    CHECK(redact_redis_url("redis://:s3cret@10.0.0.5:6379/2") == "redis://:***@10.0.0.5:6379/2");
    CHECK(redact_redis_url("redis://app:s3cret@redis.internal") == "redis://app:***@redis.internal");
    CHECK(redact_redis_url("redis://s3cret@redis.internal") == "redis://:***@redis.internal");
    CHECK(redact_redis_url("redis://127.0.0.1:6379") == "redis://127.0.0.1:6379");
    // An '@' in the password: everything up to the last '@' is the credentials.
    CHECK(redact_redis_url("redis://u:p@ss@host:1") == "redis://u:***@host:1");
}

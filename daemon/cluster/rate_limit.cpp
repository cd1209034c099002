#include "daemon/cluster/rate_limit.hpp"

#include <openssl/sha.h>

#include <cmath>

namespace aigw::daemon::cluster {

// KEYS[1] bucket; ARGV: capacity, period_ms, cost. The bucket is a hash {tokens, ts_us}.
// Returns {allowed, retry_after_ms, remaining * 1000} (integers: Lua numbers would be
// truncated by the protocol).
const char* const k_take_script = R"lua(
local capacity = tonumber(ARGV[1])
local period_ms = tonumber(ARGV[2])
local cost = tonumber(ARGV[3])
local t = redis.call('TIME')
local now_us = tonumber(t[1]) * 1000000 + tonumber(t[2])
local rate_per_us = capacity / (period_ms * 1000)
local state = redis.call('HMGET', KEYS[1], 'tokens', 'ts_us')
local tokens = tonumber(state[1])
local ts_us = tonumber(state[2])
if tokens == nil or ts_us == nil then
  tokens = capacity
  ts_us = now_us
end
if now_us > ts_us then
  tokens = math.min(capacity, tokens + (now_us - ts_us) * rate_per_us)
end
local allowed = 0
local retry_ms = 0
if tokens >= cost then
  tokens = tokens - cost
  allowed = 1
else
  retry_ms = math.ceil((cost - tokens) / rate_per_us / 1000)
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'ts_us', tostring(now_us))
local full_in_ms = math.ceil((capacity - tokens) / rate_per_us / 1000) + 1000
redis.call('PEXPIRE', KEYS[1], full_in_ms)
return {allowed, retry_ms, math.floor(tokens * 1000)}
)lua";

namespace {

std::string sha1_hex(const char* text)
{
    unsigned char digest[SHA_DIGEST_LENGTH];
    SHA1(reinterpret_cast<const unsigned char*>(text), std::char_traits<char>::length(text), digest);
    static constexpr char k_hex[] = "0123456789abcdef";
    std::string out;
    for (const unsigned char b : digest) {
        out += k_hex[b >> 4];
        out += k_hex[b & 0xf];
    }
    return out;
}

std::string number_text(double v)
{
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.17g", v);
    return buf;
}

}  // namespace

boost::asio::awaitable<std::expected<BucketTake, std::string>> take_tokens(RedisClient& redis, std::string key,
                                                                           double capacity, std::int64_t period_ms,
                                                                           double cost)
{
    static const std::string sha = sha1_hex(k_take_script);
    std::vector<std::string> args;
    args.emplace_back("EVALSHA");
    args.push_back(sha);
    args.emplace_back("1");
    args.push_back(std::move(key));
    args.push_back(number_text(capacity));
    args.push_back(std::to_string(period_ms));
    args.push_back(number_text(cost));
    auto r = co_await redis.command(args);
    if (r && r->is_error() && r->text.starts_with("NOSCRIPT")) {
        // First use on this Redis (or after a restart): send the script itself once.
        args[0] = "EVAL";
        args[1] = k_take_script;
        r = co_await redis.command(args);
    }
    if (!r) {
        co_return std::unexpected(r.error());
    }
    if (r->is_error()) {
        co_return std::unexpected("Redis refused the rate-limit script: " + r->text);
    }
    if (r->type != RespValue::Type::array || r->items.size() != 3) {
        co_return std::unexpected(std::string("the rate-limit script answered an unexpected shape"));
    }
    BucketTake out;
    out.allowed = r->items[0].integer == 1;
    out.retry_after_ms = r->items[1].integer;
    out.remaining = static_cast<double>(r->items[2].integer) / 1000.0;
    co_return out;
}

}  // namespace aigw::daemon::cluster

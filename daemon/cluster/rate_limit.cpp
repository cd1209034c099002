#include "daemon/cluster/rate_limit.hpp"

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

// KEYS: the buckets; ARGV[1] period_ms, then capacity and amount per bucket. Each bucket is
// the hash {tokens, ts_us} of take_tokens. Returns {allowed, blocked index (1-based; 0
// when allowed), retry_ms}. Nothing is written when the request is refused, so a refusal
// costs the buckets nothing.
const char* const k_take_all_script = R"lua(
local period_us = tonumber(ARGV[1]) * 1000
local t = redis.call('TIME')
local now_us = tonumber(t[1]) * 1000000 + tonumber(t[2])
local n = #KEYS
local level = {}
local worst_i = 0
local worst_ms = 0
for i = 1, n do
  local capacity = tonumber(ARGV[2 * i])
  local amount = tonumber(ARGV[2 * i + 1])
  local state = redis.call('HMGET', KEYS[i], 'tokens', 'ts_us')
  local tokens = tonumber(state[1])
  local ts_us = tonumber(state[2])
  if tokens == nil or ts_us == nil then
    tokens = capacity
  elseif now_us > ts_us then
    tokens = math.min(capacity, tokens + (now_us - ts_us) * capacity / period_us)
  end
  level[i] = tokens
  local need = math.min(amount, capacity)
  if tokens < need then
    local ms = math.max(1, math.ceil((need - tokens) * period_us / capacity / 1000))
    if ms > worst_ms then
      worst_ms = ms
      worst_i = i
    end
  end
end
if worst_i > 0 then
  return {0, worst_i, worst_ms}
end
for i = 1, n do
  local capacity = tonumber(ARGV[2 * i])
  local tokens = level[i] - tonumber(ARGV[2 * i + 1])
  redis.call('HSET', KEYS[i], 'tokens', tostring(tokens), 'ts_us', tostring(now_us))
  redis.call('PEXPIRE', KEYS[i], math.ceil((capacity - tokens) * period_us / capacity / 1000) + 1000)
end
return {1, 0, 0}
)lua";

// KEYS[1] bucket; ARGV: capacity, period_ms, amount (negative: take). A bucket that is gone
// was full.
const char* const k_give_script = R"lua(
local capacity = tonumber(ARGV[1])
local period_us = tonumber(ARGV[2]) * 1000
local amount = tonumber(ARGV[3])
local t = redis.call('TIME')
local now_us = tonumber(t[1]) * 1000000 + tonumber(t[2])
local state = redis.call('HMGET', KEYS[1], 'tokens', 'ts_us')
local tokens = tonumber(state[1])
local ts_us = tonumber(state[2])
if tokens == nil or ts_us == nil then
  tokens = capacity
elseif now_us > ts_us then
  tokens = math.min(capacity, tokens + (now_us - ts_us) * capacity / period_us)
end
tokens = math.min(capacity, tokens + amount)
if tokens >= capacity then
  redis.call('DEL', KEYS[1])
  return 1
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'ts_us', tostring(now_us))
redis.call('PEXPIRE', KEYS[1], math.ceil((capacity - tokens) * period_us / capacity / 1000) + 1000)
return 1
)lua";

std::string number_text(double v)
{
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.17g", v);
    return buf;
}

boost::asio::awaitable<std::expected<MultiTake, std::string>> take_all(RedisClient& redis,
                                                                       const std::vector<BucketNeed>& needs,
                                                                       std::int64_t period_ms)
{
    static const std::string sha = sha1_hex(k_take_all_script);
    std::vector<std::string> args;
    args.reserve(4 + 3 * needs.size());
    args.emplace_back("EVALSHA");
    args.push_back(sha);
    args.push_back(std::to_string(needs.size()));
    for (const auto& n : needs) {
        args.push_back(n.key);
    }
    args.push_back(std::to_string(period_ms));
    for (const auto& n : needs) {
        args.push_back(number_text(n.capacity));
        args.push_back(number_text(n.amount));
    }
    auto r = co_await run_script(redis, k_take_all_script, std::move(args));
    if (!r) {
        co_return std::unexpected(r.error());
    }
    if (r->type != RespValue::Type::array || r->items.size() != 3) {
        co_return std::unexpected(std::string("the rate-limit script answered an unexpected shape"));
    }
    MultiTake out;
    out.allowed = r->items[0].integer == 1;
    const std::int64_t index = r->items[1].integer;
    out.blocked = index > 0 ? static_cast<std::size_t>(index - 1) : 0;
    if (!out.allowed && (index < 1 || static_cast<std::size_t>(index) > needs.size())) {
        co_return std::unexpected(std::string("the rate-limit script named a bucket that does not exist"));
    }
    out.retry_after_ms = r->items[2].integer;
    co_return out;
}

boost::asio::awaitable<std::expected<void, std::string>> give_tokens(RedisClient& redis, std::string key,
                                                                     double capacity, std::int64_t period_ms,
                                                                     double amount)
{
    static const std::string sha = sha1_hex(k_give_script);
    std::vector<std::string> args;
    args.emplace_back("EVALSHA");
    args.push_back(sha);
    args.emplace_back("1");
    args.push_back(std::move(key));
    args.push_back(number_text(capacity));
    args.push_back(std::to_string(period_ms));
    args.push_back(number_text(amount));
    auto r = co_await run_script(redis, k_give_script, std::move(args));
    if (!r) {
        co_return std::unexpected(r.error());
    }
    co_return std::expected<void, std::string>{};
}

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
    auto r = co_await run_script(redis, k_take_script, std::move(args));
    if (!r) {
        co_return std::unexpected(r.error());
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

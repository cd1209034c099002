#include "daemon/cluster/shared_budget.hpp"

#include "daemon/cluster/rate_limit.hpp"

namespace aigw::daemon::cluster {

// KEYS: per budget its spend counter then its holds (a sorted set). ARGV[1] hold id,
// ARGV[2] estimate, ARGV[3] hold lifetime ms, then limit, seed and expire-at ms per budget.
// A hold member is "<hold id>|<amount>", scored by the server time (ms) it lapses at.
// Returns {1} or {0, 1-based index of the budget that does not fit, its spent + held as text}.
const char* const k_budget_hold_script = R"lua(
local id = ARGV[1]
local est = tonumber(ARGV[2])
local t = redis.call('TIME')
local now_ms = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local n = #KEYS / 2
for i = 1, n do
  local limit = tonumber(ARGV[1 + 3 * i])
  local seed = tonumber(ARGV[2 + 3 * i])
  local spent = tonumber(redis.call('GET', KEYS[2 * i - 1]))
  if spent == nil then
    spent = seed
  end
  redis.call('ZREMRANGEBYSCORE', KEYS[2 * i], '-inf', now_ms)
  local held = 0
  for _, m in ipairs(redis.call('ZRANGE', KEYS[2 * i], 0, -1)) do
    local bar = string.find(m, '|', 1, true)
    held = held + (tonumber(string.sub(m, bar + 1)) or 0)
  end
  local committed = spent + held
  local over
  if est > 0 then
    over = committed + est > limit
  else
    over = committed >= limit
  end
  if over then
    return {0, i, tostring(committed)}
  end
end
local member = id .. '|' .. ARGV[2]
local lapse = now_ms + tonumber(ARGV[3])
for i = 1, n do
  local expire_at = tonumber(ARGV[3 + 3 * i])
  redis.call('SET', KEYS[2 * i - 1], ARGV[2 + 3 * i], 'NX')
  redis.call('PEXPIREAT', KEYS[2 * i - 1], expire_at)
  if est > 0 then
    redis.call('ZADD', KEYS[2 * i], lapse, member)
    redis.call('PEXPIREAT', KEYS[2 * i], expire_at)
  end
end
return {1}
)lua";

// KEYS: per budget its spend counter then its holds. ARGV[1] hold id, ARGV[2] real cost.
// Returns each budget's spend after it, as text (-1: its counter is gone).
const char* const k_budget_settle_script = R"lua(
local prefix = ARGV[1] .. '|'
local cost = tonumber(ARGV[2])
local out = {}
for i = 1, #KEYS / 2 do
  for _, m in ipairs(redis.call('ZRANGE', KEYS[2 * i], 0, -1)) do
    if string.sub(m, 1, #prefix) == prefix then
      redis.call('ZREM', KEYS[2 * i], m)
    end
  end
  if redis.call('EXISTS', KEYS[2 * i - 1]) == 1 then
    if cost > 0 then
      out[i] = redis.call('INCRBYFLOAT', KEYS[2 * i - 1], ARGV[2])
    else
      out[i] = redis.call('GET', KEYS[2 * i - 1])
    end
  else
    out[i] = '-1'
  end
end
return out
)lua";

boost::asio::awaitable<std::expected<BudgetVerdict, std::string>> hold_budgets(RedisClient& redis,
                                                                               const std::vector<BudgetHold>& holds,
                                                                               const std::string& hold_id,
                                                                               double estimate_usd,
                                                                               std::int64_t hold_ttl_ms)
{
    static const std::string sha = sha1_hex(k_budget_hold_script);
    std::vector<std::string> args;
    args.reserve(6 + 5 * holds.size());
    args.emplace_back("EVALSHA");
    args.push_back(sha);
    args.push_back(std::to_string(2 * holds.size()));
    for (const auto& h : holds) {
        args.push_back(h.key);
        args.push_back(h.key + ":held");
    }
    args.push_back(hold_id);
    args.push_back(number_text(estimate_usd));
    args.push_back(std::to_string(hold_ttl_ms));
    for (const auto& h : holds) {
        args.push_back(number_text(h.limit_usd));
        args.push_back(number_text(h.seed_usd));
        args.push_back(std::to_string(h.expire_at_ms));
    }
    auto r = co_await run_script(redis, k_budget_hold_script, std::move(args));
    if (!r) {
        co_return std::unexpected(r.error());
    }
    if (r->type != RespValue::Type::array || r->items.empty()) {
        co_return std::unexpected(std::string("the budget script answered an unexpected shape"));
    }
    BudgetVerdict out;
    out.allowed = r->items[0].integer == 1;
    if (out.allowed) {
        co_return out;
    }
    if (r->items.size() != 3 || r->items[1].integer < 1 ||
        static_cast<std::size_t>(r->items[1].integer) > holds.size()) {
        co_return std::unexpected(std::string("the budget script named a budget that does not exist"));
    }
    out.blocked = static_cast<std::size_t>(r->items[1].integer - 1);
    try {
        out.committed_usd = std::stod(r->items[2].text);
    } catch (const std::exception&) {
        out.committed_usd = 0;
    }
    co_return out;
}

boost::asio::awaitable<std::expected<std::vector<double>, std::string>> settle_budgets(
    RedisClient& redis, const std::vector<std::string>& keys, const std::string& hold_id, double cost_usd)
{
    static const std::string sha = sha1_hex(k_budget_settle_script);
    std::vector<std::string> args;
    args.reserve(5 + 2 * keys.size());
    args.emplace_back("EVALSHA");
    args.push_back(sha);
    args.push_back(std::to_string(2 * keys.size()));
    for (const auto& k : keys) {
        args.push_back(k);
        args.push_back(k + ":held");
    }
    args.push_back(hold_id);
    args.push_back(number_text(cost_usd));
    auto r = co_await run_script(redis, k_budget_settle_script, std::move(args));
    if (!r) {
        co_return std::unexpected(r.error());
    }
    std::vector<double> spent;
    if (r->type == RespValue::Type::array) {
        for (const auto& item : r->items) {
            try {
                spent.push_back(std::stod(item.text));
            } catch (const std::exception&) {
                spent.push_back(-1);
            }
        }
    }
    co_return spent;
}

}  // namespace aigw::daemon::cluster

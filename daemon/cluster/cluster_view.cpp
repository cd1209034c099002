#include "daemon/cluster/cluster_view.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/use_future.hpp>

#include <algorithm>
#include <charconv>
#include <exception>
#include <iostream>

namespace aigw::daemon::cluster {

namespace asio = boost::asio;

namespace {

constexpr auto k_tuple = asio::as_tuple(asio::use_awaitable);

// Breakers and heartbeats are each indexed in a sorted set (member: the key, score: when it
// expires in Redis's clock), so a poll reads what is there instead of scanning the
// keyspace: a SCAN inside a script blocks Redis for the whole keyspace (every cache entry
// too), every poll of every instance.

// KEYS[1] the key, KEYS[2] its index; ARGV[1] the value, ARGV[2] its time to live in ms.
// Scripts read Redis's clock (TIME) before writing: Redis 7 replicates their effects.
const char* const k_set_indexed_script = R"lua(
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
redis.call('ZADD', KEYS[2], now + tonumber(ARGV[2]), KEYS[1])
return 1
)lua";

// KEYS[1] the key, KEYS[2] its index.
const char* const k_del_indexed_script = R"lua(
redis.call('ZREM', KEYS[2], KEYS[1])
return redis.call('DEL', KEYS[1])
)lua";

// KEYS[1] the breakers' index, KEYS[2] the heartbeats'. Returns two flat arrays: {key, pttl,
// ...} of the open breakers and {key, value, ...} of the live heartbeats. Expired members
// (and members whose key is gone) leave their index on the way.
const char* const k_read_script = R"lua(
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local cb = {}
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
for _, k in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  local t = redis.call('PTTL', k)
  if t > 0 then cb[#cb + 1] = k; cb[#cb + 1] = t else redis.call('ZREM', KEYS[1], k) end
end
local inst = {}
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
for _, k in ipairs(redis.call('ZRANGE', KEYS[2], 0, -1)) do
  local v = redis.call('GET', k)
  if v then inst[#inst + 1] = k; inst[#inst + 1] = v else redis.call('ZREM', KEYS[2], k) end
end
return {cb, inst}
)lua";

std::int64_t unix_ms()
{
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
        .count();
}

}  // namespace

std::string breaker_key(std::string_view prefix, std::string_view target)
{
    return std::string(prefix) + "cb:" + std::string(target);
}

std::string key_rest_target(std::string_view provider, int index, std::string_view model)
{
    return "key:" + std::string(provider) + ":" + std::to_string(index) + ":" + std::string(model);
}

std::optional<KeyRest> parse_key_rest_target(std::string_view target)
{
    if (!target.starts_with("key:")) {
        return std::nullopt;
    }
    target.remove_prefix(4);
    const auto a = target.find(':');
    if (a == std::string_view::npos || a == 0) {
        return std::nullopt;
    }
    const auto b = target.find(':', a + 1);
    if (b == std::string_view::npos || b + 1 >= target.size()) {
        return std::nullopt;
    }
    KeyRest r;
    r.provider = std::string(target.substr(0, a));
    const auto digits = target.substr(a + 1, b - a - 1);
    const auto [ptr, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), r.index);
    if (ec != std::errc() || ptr != digits.data() + digits.size() || r.index < 0) {
        return std::nullopt;
    }
    r.model = std::string(target.substr(b + 1));
    return r;
}

ClusterView::ClusterView(ClusterViewOptions options)
    : m_options(std::move(options)), m_work(m_io.get_executor()), m_timer(m_io)
{
    if (!m_options.log) {
        m_options.log = [](const std::string& line) { std::cerr << "aigwd: warning: cluster: " << line << "\n"; };
    }
    m_client = std::make_unique<RedisClient>(m_io.get_executor(), m_options.redis);
    asio::co_spawn(m_io, loop(), asio::detached);
    m_thread = std::thread([this] { m_io.run(); });
}

ClusterView::~ClusterView()
{
    // A clean stop takes this instance off the list at once (bounded; a killed one drops
    // out when its heartbeat expires). Not on an event loop: the gateway's shutdown.
    try {
        auto gone = asio::co_spawn(
            m_io,
            [this]() -> asio::awaitable<void> {
                std::vector<std::string> args = {"EVALSHA", sha1_hex(k_del_indexed_script), "2",
                                                 m_options.prefix + "instances:" + m_options.instance_id,
                                                 instance_index()};
                auto r = co_await run_script(*m_client, k_del_indexed_script, std::move(args));
                (void)r;
            },
            asio::use_future);
        (void)gone.wait_for(m_options.redis.command_timeout + std::chrono::milliseconds(100));
    } catch (const std::exception&) {
        // Leaving: the heartbeat expires on its own.
    }
    m_stopping = true;
    asio::post(m_io, [this] { m_timer.cancel(); });
    m_work.reset();
    m_io.stop();
    if (m_thread.joinable()) {
        m_thread.join();
    }
    m_client.reset();
}

void ClusterView::publish(std::string target, std::chrono::milliseconds open_for)
{
    Pending p;
    p.target = std::move(target);
    p.del = open_for.count() <= 0;
    p.until = p.del ? std::chrono::steady_clock::time_point{} : std::chrono::steady_clock::now() + open_for;
    asio::co_spawn(m_io, write_now(std::move(p)), asio::detached);
}

std::vector<ClusterInstance> ClusterView::instances() const
{
    std::lock_guard lock(m_mu);
    return m_instances;
}

void ClusterView::note(bool ok, const std::string& error)
{
    m_reachable = ok;
    if (ok == m_was_reachable) {
        return;
    }
    m_was_reachable = ok;
    const std::string where = "Redis at " + m_options.redis.host + ":" + std::to_string(m_options.redis.port);
    if (ok) {
        m_options.log("breakers: " + where + " is back: circuit breakers and resting keys are shared again");
    } else {
        m_options.log("breakers: no answer from " + where + " (" + error +
                      "): circuit breakers and resting keys are this instance's own until it answers");
    }
}

asio::awaitable<bool> ClusterView::write(Pending p)
{
    const std::string key = breaker_key(m_options.prefix, p.target);
    const char* script = p.del ? k_del_indexed_script : k_set_indexed_script;
    std::vector<std::string> args = {"EVALSHA", sha1_hex(script), "2", key, breaker_index()};
    if (!p.del) {
        const auto left =
            std::chrono::duration_cast<std::chrono::milliseconds>(p.until - std::chrono::steady_clock::now());
        if (left.count() <= 0) {
            co_return true;  // expired meanwhile: nothing to tell
        }
        args.push_back(std::to_string(unix_ms() + left.count()));
        args.push_back(std::to_string(left.count()));
    }
    auto r = co_await run_script(*m_client, script, std::move(args));
    if (!r || r->is_error()) {
        note(false, r ? r->text : r.error());
        co_return false;
    }
    co_return true;
}

asio::awaitable<void> ClusterView::write_now(Pending p)
{
    try {
        // A later close replaces an earlier open of the same target not yet written, and the reverse.
        std::erase_if(m_retry, [&](const Pending& q) { return q.target == p.target; });
        Pending copy = p;
        if (!co_await write(std::move(copy))) {
            m_retry.push_back(std::move(p));
        }
    } catch (const std::exception& e) {
        m_options.log(std::string("publishing a breaker failed: ") + e.what());
    }
}

asio::awaitable<std::optional<bool>> ClusterView::heartbeat()
{
    nlohmann::json info = m_options.self ? m_options.self() : nlohmann::json::object();
    if (info.is_null()) {
        co_return false;  // not ready to say who it is (no port yet): at the next poll
    }
    info["id"] = m_options.instance_id;
    info["last_seen"] = unix_ms();
    std::vector<std::string> args = {"EVALSHA",
                                     sha1_hex(k_set_indexed_script),
                                     "2",
                                     m_options.prefix + "instances:" + m_options.instance_id,
                                     instance_index(),
                                     info.dump(),
                                     std::to_string(m_options.heartbeat_ttl.count())};
    auto r = co_await run_script(*m_client, k_set_indexed_script, std::move(args));
    if (!r || r->is_error()) {
        note(false, r ? r->text : r.error());
        co_return std::nullopt;
    }
    co_return true;
}

asio::awaitable<bool> ClusterView::poll_once()
{
    // Writes that failed earlier first, while they still matter.
    std::vector<Pending> retry = std::move(m_retry);
    m_retry.clear();
    for (auto& p : retry) {
        Pending copy = p;
        if (!co_await write(std::move(copy))) {
            m_retry.push_back(std::move(p));
        }
    }
    const auto now = std::chrono::steady_clock::now();
    if (now >= m_next_heartbeat) {
        auto beat = co_await heartbeat();
        if (!beat) {
            co_return false;
        }
        if (*beat) {
            m_next_heartbeat = now + m_options.heartbeat;
        }
    }
    std::vector<std::string> args = {"EVALSHA", sha1_hex(k_read_script), "2", breaker_index(), instance_index()};
    auto r = co_await run_script(*m_client, k_read_script, std::move(args));
    if (!r || r->is_error()) {
        note(false, r ? r->text : r.error());
        co_return false;
    }
    if (r->type != RespValue::Type::array || r->items.size() != 2 || r->items[0].type != RespValue::Type::array ||
        r->items[1].type != RespValue::Type::array) {
        note(false, "the breaker script answered an unexpected shape");
        co_return false;
    }
    const std::string cb_prefix = m_options.prefix + "cb:";
    std::map<std::string, std::chrono::milliseconds, std::less<>> open;
    const auto& cb = r->items[0].items;
    for (std::size_t i = 0; i + 1 < cb.size(); i += 2) {
        if (cb[i].text.starts_with(cb_prefix) && cb[i + 1].type == RespValue::Type::integer) {
            open.emplace(cb[i].text.substr(cb_prefix.size()), std::chrono::milliseconds(cb[i + 1].integer));
        }
    }
    const std::string inst_prefix = m_options.prefix + "instances:";
    std::vector<ClusterInstance> instances;
    const auto& inst = r->items[1].items;
    for (std::size_t i = 0; i + 1 < inst.size(); i += 2) {
        ClusterInstance ci;
        ci.id = inst[i].text.substr(std::min(inst_prefix.size(), inst[i].text.size()));
        ci.info = nlohmann::json::parse(inst[i + 1].text, nullptr, false);
        if (ci.info.is_discarded() || !ci.info.is_object()) {
            ci.info = nlohmann::json{{"error", "the heartbeat in Redis is not a JSON object"}};
        }
        instances.push_back(std::move(ci));
    }
    std::sort(instances.begin(), instances.end(),
              [](const ClusterInstance& a, const ClusterInstance& b) { return a.id < b.id; });
    {
        std::lock_guard lock(m_mu);
        m_instances = std::move(instances);
    }
    if (m_options.on_open) {
        m_options.on_open(open);
    }
    note(true, {});
    ++m_polls;
    co_return true;
}

asio::awaitable<void> ClusterView::loop()
{
    while (!m_stopping) {
        try {
            co_await poll_once();
        } catch (const std::exception& e) {
            note(false, e.what());
        }
        if (m_stopping) {
            break;
        }
        m_timer.expires_after(m_options.poll);
        auto [ec] = co_await m_timer.async_wait(k_tuple);
        (void)ec;
    }
}

}  // namespace aigw::daemon::cluster

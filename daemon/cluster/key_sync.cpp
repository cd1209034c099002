#include "daemon/cluster/key_sync.hpp"

#include "daemon/cluster/redis_client.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <charconv>
#include <exception>
#include <unordered_map>

namespace aigw::daemon::cluster {

namespace asio = boost::asio;

// KEYS[1] the hash of records, KEYS[2] the version counter; ARGV[1] id, ARGV[2] record.
// A record is written when the hash lacks it, or when it is revoked and the stored one is
// not, or was revoked later; a stored record that is not JSON is replaced. Returns 1 when
// it wrote (and INCRed the version), else 0.
const char* const k_put_key_script = R"lua(
local cur = redis.call('HGET', KEYS[1], ARGV[1])
if cur == ARGV[2] then
  return 0
end
if cur then
  local ok, c = pcall(cjson.decode, cur)
  if ok and type(c) == 'table' then
    local n = cjson.decode(ARGV[2])
    local cr = tonumber(c['revoked_ms']) or 0
    local nr = tonumber(n['revoked_ms']) or 0
    if not (nr > 0 and (cr == 0 or nr < cr)) then
      return 0
    end
  end
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('INCR', KEYS[2])
return 1
)lua";

namespace {

constexpr auto k_tuple = asio::as_tuple(asio::use_awaitable);

}  // namespace

RedisKeyStore::RedisKeyStore(RedisClient& redis, std::string prefix)
    : m_redis(redis), m_hash(prefix), m_version(prefix + ":version")
{}

std::string RedisKeyStore::where() const
{
    return "Redis at " + m_redis.options().host + ":" + std::to_string(m_redis.options().port);
}

asio::awaitable<std::expected<std::int64_t, std::string>> RedisKeyStore::version()
{
    std::vector<std::string> args;
    args.emplace_back("GET");
    args.push_back(m_version);
    auto r = co_await m_redis.command(args);
    if (!r) {
        co_return std::unexpected(r.error());
    }
    if (r->is_error()) {
        co_return std::unexpected("Redis refused GET " + m_version + ": " + r->text);
    }
    if (r->is_nil()) {
        co_return 0;
    }
    std::int64_t v = 0;
    const auto [ptr, ec] = std::from_chars(r->text.data(), r->text.data() + r->text.size(), v);
    if (ec != std::errc() || ptr != r->text.data() + r->text.size()) {
        co_return std::unexpected(m_version + " in Redis is not a number; delete it and it is made again");
    }
    co_return v;
}

asio::awaitable<std::expected<std::vector<SharedKey>, std::string>> RedisKeyStore::all()
{
    std::vector<std::string> args;
    args.emplace_back("HGETALL");
    args.push_back(m_hash);
    auto r = co_await m_redis.command(args);
    if (!r) {
        co_return std::unexpected(r.error());
    }
    if (r->is_error()) {
        co_return std::unexpected("Redis refused HGETALL " + m_hash + ": " + r->text);
    }
    if (r->type != RespValue::Type::array || r->items.size() % 2 != 0) {
        co_return std::unexpected("HGETALL " + m_hash + " answered an unexpected shape; is it a hash?");
    }
    std::vector<SharedKey> out;
    out.reserve(r->items.size() / 2);
    for (std::size_t i = 0; i < r->items.size(); i += 2) {
        out.push_back(SharedKey{std::move(r->items[i].text), std::move(r->items[i + 1].text)});
    }
    co_return out;
}

asio::awaitable<std::expected<bool, std::string>> RedisKeyStore::put(SharedKey key)
{
    static const std::string sha = sha1_hex(k_put_key_script);
    std::vector<std::string> args;
    args.emplace_back("EVALSHA");
    args.push_back(sha);
    args.emplace_back("2");
    args.push_back(m_hash);
    args.push_back(m_version);
    args.push_back(std::move(key.id));
    args.push_back(std::move(key.record));
    auto r = co_await run_script(m_redis, k_put_key_script, std::move(args));
    if (!r) {
        co_return std::unexpected(r.error());
    }
    if (r->type != RespValue::Type::integer) {
        co_return std::unexpected(std::string("the key script answered an unexpected shape"));
    }
    co_return r->integer == 1;
}

KeySync::KeySync(asio::any_io_executor ex, SharedKeyStore& store, LocalKeys& local, KeySyncOptions options)
    : m_ex(ex), m_store(store), m_local(local), m_options(std::move(options)), m_timer(ex)
{}

KeySync::~KeySync() = default;

void KeySync::start()
{
    asio::co_spawn(m_ex, loop(), asio::detached);
}

void KeySync::stop()
{
    m_stopping = true;
    asio::post(m_ex, [this] { m_timer.cancel(); });
}

void KeySync::local_changed(std::string id)
{
    asio::co_spawn(m_ex, push(std::move(id)), asio::detached);
}

void KeySync::on_first_round(std::function<void()> done)
{
    asio::post(m_ex, [this, done = std::move(done)] {
        if (m_first_done) {
            done();
        } else {
            m_first_round.push_back(done);
        }
    });
}

KeySyncStatus KeySync::status() const
{
    std::lock_guard lock(m_mu);
    return m_status;
}

void KeySync::reachable(bool ok, const std::string& error)
{
    {
        std::lock_guard lock(m_mu);
        m_status.reachable = ok;
        if (!ok) {
            m_status.last_error = error;
        }
    }
    if (ok == m_was_reachable) {
        return;
    }
    m_was_reachable = ok;
    if (!m_options.log) {
        return;
    }
    if (ok) {
        m_options.log(m_store.where() + " answers again: virtual keys are shared again");
    } else {
        m_options.log("cannot reach " + m_store.where() + " (" + error + "): serving the " +
                      std::to_string(m_local.records().size()) +
                      " virtual keys known here; keys created or revoked meanwhile are shared once it answers");
    }
}

asio::awaitable<bool> KeySync::step()
{
    if (!m_version) {
        co_return co_await full_round();
    }
    auto v = co_await m_store.version();
    if (!v) {
        reachable(false, v.error());
        m_version.reset();
        co_return false;
    }
    reachable(true, {});
    if (*v != *m_version) {
        co_return co_await full_round();
    }
    co_return true;
}

asio::awaitable<bool> KeySync::full_round()
{
    // The version first: a write after it shows up as a new version at the next step.
    auto v = co_await m_store.version();
    if (!v) {
        reachable(false, v.error());
        co_return false;
    }
    auto remote = co_await m_store.all();
    if (!remote) {
        reachable(false, remote.error());
        co_return false;
    }
    std::unordered_map<std::string, std::string> remote_by_id;
    std::uint64_t pulled = 0;
    std::uint64_t pushed = 0;
    for (auto& r : *remote) {
        const auto mine = m_local.record(r.id);
        if (!mine || *mine != r.record) {
            if (!m_refused.contains(r.record)) {
                auto applied = co_await m_local.apply(r.record);
                if (applied) {
                    ++pulled;
                } else {
                    m_refused.insert(r.record);
                    if (m_options.log) {
                        m_options.log("a virtual key in " + m_store.where() + " was not taken: " + applied.error());
                    }
                }
            }
        }
        remote_by_id.emplace(std::move(r.id), std::move(r.record));
    }
    // What the store lacks or has older (not revoked here): it decides atomically.
    // (GCC 12: a range-for over a temporary does not keep it across a co_await.)
    std::vector<SharedKey> local = m_local.records();
    for (auto& mine : local) {
        auto it = remote_by_id.find(mine.id);
        if (it != remote_by_id.end() && it->second == mine.record) {
            continue;
        }
        auto wrote = co_await m_store.put(std::move(mine));
        if (!wrote) {
            reachable(false, wrote.error());
            co_return false;
        }
        pushed += *wrote ? 1 : 0;
    }
    m_version = *v;
    reachable(true, {});
    std::lock_guard lock(m_mu);
    ++m_status.rounds;
    m_status.pulled += pulled;
    m_status.pushed += pushed;
    co_return true;
}

asio::awaitable<void> KeySync::push(std::string id)
{
    try {
        auto record = m_local.record(id);
        if (!record) {
            co_return;
        }
        SharedKey key{std::move(id), std::move(*record)};  // (GCC 12: no braced temporary in co_await)
        auto wrote = co_await m_store.put(std::move(key));
        if (!wrote) {
            // The next step does a full round, which pushes it.
            reachable(false, wrote.error());
            m_version.reset();
            co_return;
        }
        if (*wrote) {
            std::lock_guard lock(m_mu);
            ++m_status.pushed;
        }
    } catch (const std::exception& e) {
        m_version.reset();
        if (m_options.log) {
            m_options.log(std::string("sharing a virtual key failed: ") + e.what());
        }
    }
}

asio::awaitable<void> KeySync::loop()
{
    while (!m_stopping) {
        bool ok = false;
        try {
            ok = co_await step();
        } catch (const std::exception& e) {
            m_version.reset();
            reachable(false, e.what());
        }
        if (!m_first_done) {
            m_first_done = true;
            for (auto& done : m_first_round) {
                done();
            }
            m_first_round.clear();
        }
        if (m_stopping) {
            break;
        }
        m_timer.expires_after(ok ? m_options.poll : m_options.retry);
        auto [ec] = co_await m_timer.async_wait(k_tuple);
        (void)ec;
    }
}

}  // namespace aigw::daemon::cluster

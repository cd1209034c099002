#include "daemon/app/key_sharing.hpp"

#include "daemon/cluster/pg_key_store.hpp"
#include "daemon/cluster/redis_client.hpp"
#include "daemon/http/server.hpp"
#include "daemon/limits/key_store.hpp"

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>

#include <future>
#include <iostream>
#include <thread>

namespace aigw::daemon::app {

namespace asio = boost::asio;

namespace {

/// The key store as key sync sees it: records encoded on the way out, decoded and merged
/// (on the blocking pool: SQLite) on the way in.
class KeyStoreRecords final : public cluster::LocalKeys {
public:
    explicit KeyStoreRecords(limits::KeyStore& keys) : m_keys(keys) {}

    std::vector<cluster::SharedKey> records() const override
    {
        std::vector<cluster::SharedKey> out;
        for (const auto& k : m_keys.stored()) {
            out.push_back(cluster::SharedKey{k.key.id, limits::encode_key_record(k)});
        }
        return out;
    }

    std::optional<std::string> record(std::string_view id) const override
    {
        auto k = m_keys.stored(id);
        if (!k) {
            return std::nullopt;
        }
        return limits::encode_key_record(*k);
    }

    asio::awaitable<std::expected<void, std::string>> apply(std::string record) override
    {
        auto decoded = limits::decode_key_record(record);
        if (!decoded) {
            co_return std::unexpected(decoded.error());
        }
        limits::KeyStore& keys = m_keys;
        const limits::StoredKey incoming = std::move(*decoded);
        auto merged = co_await http::run_blocking([&keys, &incoming] { return keys.merge(incoming); });
        if (!merged) {
            co_return std::unexpected(merged.error());
        }
        co_return std::expected<void, std::string>{};
    }

private:
    limits::KeyStore& m_keys;
};

void log_line(const std::string& line)
{
    std::cerr << "aigwd: warning: virtual keys: " << line << "\n";
}

}  // namespace

struct KeySharing::Impl {
    explicit Impl(limits::KeyStore& k) : keys(k), local(k) {}
    // Declared in the order they are made; the destructor tears down explicitly.
    limits::KeyStore& keys;
    asio::io_context io{1};
    asio::executor_work_guard<asio::io_context::executor_type> work{io.get_executor()};
    std::unique_ptr<cluster::RedisClient> redis;  ///< Redis only
    std::unique_ptr<cluster::SharedKeyStore> store;
    KeyStoreRecords local;
    std::unique_ptr<cluster::KeySync> sync;
    std::thread thread;
};

std::optional<SharedKeysAt> SharedKeysAt::choose(const std::string& redis_url, const std::string& postgres_url)
{
    if (!postgres_url.empty()) {
        return SharedKeysAt{Engine::postgres, postgres_url};
    }
    if (!redis_url.empty()) {
        return SharedKeysAt{Engine::redis, redis_url};
    }
    return std::nullopt;
}

std::expected<std::unique_ptr<KeySharing>, std::string> KeySharing::start(const SharedKeysAt& at,
                                                                          limits::KeyStore& keys,
                                                                          std::chrono::milliseconds wait)
{
    std::unique_ptr<KeySharing> out(new KeySharing());
    out->m_impl = std::make_unique<Impl>(keys);
    Impl& s = *out->m_impl;
    if (at.engine == SharedKeysAt::Engine::postgres) {
        s.store = std::make_unique<cluster::PgKeyStore>(at.url);
    } else {
        auto options = cluster::parse_redis_url(at.url);
        if (!options) {
            return std::unexpected("[cluster] redis_url: " + options.error());
        }
        s.redis = std::make_unique<cluster::RedisClient>(s.io.get_executor(), std::move(*options));
        s.store = std::make_unique<cluster::RedisKeyStore>(*s.redis);
    }
    cluster::KeySyncOptions o;
    o.log = log_line;
    s.sync = std::make_unique<cluster::KeySync>(s.io.get_executor(), *s.store, s.local, std::move(o));
    cluster::KeySync* sync = s.sync.get();
    keys.on_change([sync](const std::string& id) { sync->local_changed(id); });

    auto first = std::make_shared<std::promise<void>>();
    auto first_done = first->get_future();
    s.sync->on_first_round([first] { first->set_value(); });
    s.sync->start();
    s.thread = std::thread([&io = s.io] { io.run(); });
    if (first_done.wait_for(wait) != std::future_status::ready) {
        log_line(s.store->where() + " did not answer within " + std::to_string(wait.count()) +
                 " ms; serving the keys known here while it is tried again");
    } else if (const auto st = s.sync->status(); st.reachable) {
        std::cerr << "aigwd: virtual keys shared through " << s.store->where() << " (" << keys.list().size()
                  << " keys; " << st.pulled << " taken in, " << st.pushed << " shared from here)\n";
    }
    return out;
}

KeySharing::~KeySharing()
{
    if (!m_impl) {
        return;
    }
    Impl& s = *m_impl;
    s.keys.on_change(nullptr);
    s.sync->stop();
    s.work.reset();
    s.io.stop();
    if (s.thread.joinable()) {
        s.thread.join();
    }
    // The loop no longer runs: its objects go before the io_context, which then drops the
    // coroutines still suspended on it.
    s.sync.reset();
    s.store.reset();
    s.redis.reset();
}

cluster::KeySyncStatus KeySharing::status() const
{
    return m_impl->sync->status();
}

std::string KeySharing::where() const
{
    return m_impl->store->where();
}

}  // namespace aigw::daemon::app

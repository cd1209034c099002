#pragma once
// Start-up wiring of shared virtual keys ([cluster] postgres_url, else redis_url): a thread
// with its own event loop for the key sync (daemon/cluster/key_sync.hpp) between the
// instance's key store and the cluster's copy, in PostgreSQL (the team's store of record,
// its libpq calls on the store's own worker thread) or in Redis. The request loops are not
// involved: requests keep checking keys in memory.

#include "daemon/cluster/key_sync.hpp"

#include <chrono>
#include <expected>
#include <memory>
#include <optional>
#include <string>

namespace aigw::daemon::limits {
class KeyStore;
}

namespace aigw::daemon::app {

/// Where the cluster's copy of the virtual keys lives.
struct SharedKeysAt {
    enum class Engine { redis, postgres };
    Engine engine = Engine::redis;
    std::string url;  ///< a secret: never logged as is

    /// PostgreSQL when `postgres_url` is set (whether or not Redis is), else Redis when
    /// `redis_url` is; nullopt when neither is (keys stay local).
    static std::optional<SharedKeysAt> choose(const std::string& redis_url, const std::string& postgres_url);
};

class KeySharing {
public:
    /// Shares `keys` through the store `at` until destroyed. Waits up to `wait` for the
    /// first round, so an instance knows the cluster's keys before it serves; when the
    /// store does not answer it starts anyway with the keys it has (logged). Errors: a bad URL.
    static std::expected<std::unique_ptr<KeySharing>, std::string> start(
        const SharedKeysAt& at, limits::KeyStore& keys,
        std::chrono::milliseconds wait = std::chrono::milliseconds(2000));
    /// Stops the loop and joins its thread; the key store is no longer watched.
    ~KeySharing();
    KeySharing(const KeySharing&) = delete;
    KeySharing& operator=(const KeySharing&) = delete;

    cluster::KeySyncStatus status() const;
    /// "PostgreSQL at postgresql://aigw:***@host/db" or "Redis at host:port".
    std::string where() const;

private:
    KeySharing() = default;
    struct Impl;
    std::unique_ptr<Impl> m_impl;
};

}  // namespace aigw::daemon::app

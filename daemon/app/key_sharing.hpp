#pragma once
// Start-up wiring of shared virtual keys ([cluster] redis_url): a thread with its own event
// loop for the cluster's background work, the Redis client, and the key sync between the
// instance's key store and Redis (daemon/cluster/key_sync.hpp). The request loops are not
// involved: requests keep checking keys in memory.

#include "daemon/cluster/key_sync.hpp"

#include <chrono>
#include <expected>
#include <memory>
#include <string>

namespace aigw::daemon::limits {
class KeyStore;
}

namespace aigw::daemon::app {

class KeySharing {
public:
    /// Shares `keys` through the Redis at `redis_url` until destroyed. Waits up to `wait`
    /// for the first round, so an instance knows the cluster's keys before it serves; when
    /// Redis does not answer it starts anyway with the keys it has (logged). Errors: a bad URL.
    static std::expected<std::unique_ptr<KeySharing>, std::string> start(
        const std::string& redis_url, limits::KeyStore& keys,
        std::chrono::milliseconds wait = std::chrono::milliseconds(2000));
    /// Stops the loop and joins its thread; the key store is no longer watched.
    ~KeySharing();
    KeySharing(const KeySharing&) = delete;
    KeySharing& operator=(const KeySharing&) = delete;

    cluster::KeySyncStatus status() const;

private:
    KeySharing() = default;
    struct Impl;
    std::unique_ptr<Impl> m_impl;
};

}  // namespace aigw::daemon::app

#pragma once
// The daemon's config over its lifetime: start-up, then each `aigw daemon reload`.

#include "shared/config/config.hpp"

#include <atomic>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

namespace aigw::config {

/// Holds every generation of the config a daemon has loaded; readers see the newest.
/// Generations are never freed: a reload is a rare, manual event, and this way a reference
/// taken by a request in flight (a route's ProviderSpec, say) stays valid however long the
/// request runs, without a lock or a reference count on the request path.
class LiveConfig {
public:
    explicit LiveConfig(Config first);
    LiveConfig(const LiveConfig&) = delete;
    LiveConfig& operator=(const LiveConfig&) = delete;

    /// The newest generation. Safe from any thread.
    const Config& current() const noexcept { return *m_current.load(std::memory_order_acquire); }
    /// Makes `next` the current generation and returns it. Safe from any thread.
    const Config& publish(Config next);
    /// How many generations were published (1 before any reload).
    std::size_t generations() const;

private:
    mutable std::mutex m_mu;
    std::deque<std::unique_ptr<const Config>> m_all;
    std::atomic<const Config*> m_current;
};

/// The dotted keys ("providers.openai.base_url", "server.port") whose value differs between
/// two versions of a config file's text: changed and added keys sorted, then removed ones.
/// An array or inline table counts as one value. Text that does not parse counts as empty.
std::vector<std::string> changed_keys(std::string_view old_text, std::string_view new_text);

/// Whether a running daemon can apply a change of `key` (from changed_keys) only by
/// restarting: the listening socket and its threads ([server]), the data dir, sizes and
/// retention fixed when the databases were opened, circuit breaker settings and per-model
/// rate limits (their buckets are built at start-up).
bool needs_restart(std::string_view key);

}  // namespace aigw::config

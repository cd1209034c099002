#pragma once
// What one aigwd tells the others of its cluster through Redis, and what it sees of them:
// open circuit breakers, resting provider keys, and which instances are alive.
//
// - A breaker that opens here (or a key rested after a 429) is published at once as
//   SET aigw:cb:<target> <until unix ms> PX <open for>; a breaker closed by a successful
//   trial here is DELeted. Targets: "dep:<provider/model>" and "key:<provider>:<index>:<model>".
// - Every `poll` (300 ms) one script reads every open aigw:cb:* with its PTTL and every
//   aigw:instances:* (one round trip) and hands the open targets to `on_open` (the local
//   router's mirror): requests never wait for Redis; a breaker opened on one instance is
//   avoided by the others within about two polls. Both kinds of key are listed in a sorted
//   set each (aigw:cb-index, aigw:instances-index; score: expiry by Redis's clock), written
//   with the key in one script, so a poll never scans the keyspace.
// - Every `heartbeat` (2.5 s) SET aigw:instances:<instance id> <JSON> PX 10000.
//
// All Redis I/O runs on a thread of its own. While Redis does not answer, the instance
// goes on with its own breakers (logged once, and once when it is back).

#include "daemon/cluster/redis_client.hpp"

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <nlohmann/json.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace aigw::daemon::cluster {

struct ClusterViewOptions {
    RedisOptions redis;
    std::string prefix = "aigw:";
    std::string instance_id;  ///< load_or_create_instance_id
    std::chrono::milliseconds poll{300};
    std::chrono::milliseconds heartbeat{2500};
    std::chrono::milliseconds heartbeat_ttl{10'000};
    /// This instance as the heartbeat describes it ({host, port, pid, version, started}), or
    /// null while it cannot say yet (no heartbeat then); called on the cluster thread, must
    /// be thread-safe. instance id and last_seen are added.
    std::function<nlohmann::json()> self;
    /// Open targets and the time each stays open, after every successful poll (on the
    /// cluster thread; must not block).
    std::function<void(const std::map<std::string, std::chrono::milliseconds, std::less<>>&)> on_open;
    std::function<void(const std::string&)> log;  ///< default: stderr
};

/// One live instance, from its heartbeat.
struct ClusterInstance {
    std::string id;
    nlohmann::json info;  ///< host, port, pid, version, started, last_seen (as it wrote them)
};

/// The Redis key of a breaker target ("dep:openai/gpt-4o") under `prefix`.
std::string breaker_key(std::string_view prefix, std::string_view target);
/// The target of a resting key: "key:<provider>:<index>:<model>".
std::string key_rest_target(std::string_view provider, int index, std::string_view model);
struct KeyRest {
    std::string provider;
    int index = 0;
    std::string model;
};
/// Parses key_rest_target(); nullopt for anything else.
std::optional<KeyRest> parse_key_rest_target(std::string_view target);

class ClusterView {
public:
    /// Starts the thread and the poll. Never fails: an unreachable Redis is retried.
    explicit ClusterView(ClusterViewOptions options);
    /// Stops the poll and joins the thread (the heartbeat then expires on its own).
    ~ClusterView();
    ClusterView(const ClusterView&) = delete;
    ClusterView& operator=(const ClusterView&) = delete;

    /// Publishes that `target` is open for `open_for` (0: closed, the entry is deleted).
    /// Thread-safe; never blocks: the write happens on the cluster thread. A write that
    /// fails is retried at the next poll while it still matters.
    void publish(std::string target, std::chrono::milliseconds open_for);

    /// Instances whose heartbeat is live, this one included once it wrote one. Thread-safe.
    std::vector<ClusterInstance> instances() const;
    /// Whether the last poll reached Redis.
    bool reachable() const { return m_reachable.load(); }
    const std::string& instance_id() const { return m_options.instance_id; }
    std::uint64_t polls() const { return m_polls.load(); }

private:
    struct Pending {
        std::string target;
        std::chrono::steady_clock::time_point until;  ///< open until; == time_point{} for a DEL
        bool del = false;
    };
    boost::asio::awaitable<void> loop();
    std::string breaker_index() const { return m_options.prefix + "cb-index"; }
    std::string instance_index() const { return m_options.prefix + "instances-index"; }
    boost::asio::awaitable<bool> poll_once();
    /// Whether it wrote one (false: self() not ready yet); nullopt when Redis did not answer.
    boost::asio::awaitable<std::optional<bool>> heartbeat();
    boost::asio::awaitable<bool> write(Pending p);
    boost::asio::awaitable<void> write_now(Pending p);
    void note(bool ok, const std::string& error);

    ClusterViewOptions m_options;
    boost::asio::io_context m_io{1};
    boost::asio::executor_work_guard<boost::asio::io_context::executor_type> m_work;
    std::unique_ptr<RedisClient> m_client;
    boost::asio::steady_timer m_timer;
    std::thread m_thread;
    // Loop state (cluster thread only).
    std::vector<Pending> m_retry;
    std::chrono::steady_clock::time_point m_next_heartbeat{};
    bool m_was_reachable = true;
    // Shared.
    std::atomic<bool> m_stopping{false};
    std::atomic<bool> m_reachable{false};
    std::atomic<std::uint64_t> m_polls{0};
    mutable std::mutex m_mu;
    std::vector<ClusterInstance> m_instances;
};

}  // namespace aigw::daemon::cluster

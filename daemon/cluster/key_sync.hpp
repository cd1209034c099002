#pragma once
// Virtual keys shared by every aigwd of a cluster. Each instance keeps its own copy (the
// key store, SQLite and memory), so a request is checked without a round trip; the cluster
// keeps one shared copy (PostgreSQL or Redis: SharedKeyStore is the seam). A
// key created or revoked through any instance is written to the shared copy at once, and
// every instance polls the shared copy's version (every 250 ms) and takes in what changed:
// a revocation reaches every instance within about a quarter of a second.
//
// Polling a version rather than subscribing to a channel: a poll cannot miss a message
// while a connection is down, and needs no connection of its own. When the shared copy
// cannot be reached, instances go on with the keys they know (logged once) and catch up
// when it is back; an emptied store (a Redis restarted without persistence) is filled
// again from the instances' copies.
//
// Records are opaque text here (JSON made by limits::encode_key_record: the secret's hash,
// never the secret); instances compare them as text. Two rules make every copy converge:
// a revocation is never undone, and of two revocations the earlier one counts.

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <expected>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace aigw::daemon::cluster {

class RedisClient;

/// One key as the cluster shares it.
struct SharedKey {
    std::string id;
    std::string record;  ///< limits::encode_key_record
};

/// The cluster's copy of the virtual keys.
class SharedKeyStore {
public:
    virtual ~SharedKeyStore() = default;
    /// A number that changes whenever a key is written (it may start again from 0 when the
    /// store was emptied). Errors: unreachable.
    virtual boost::asio::awaitable<std::expected<std::int64_t, std::string>> version() = 0;
    /// Every key in the store.
    virtual boost::asio::awaitable<std::expected<std::vector<SharedKey>, std::string>> all() = 0;
    /// Writes `key` when the store lacks it, or when it is revoked and the stored one is not
    /// or was revoked later; anything else keeps the stored record (atomically on the
    /// server). Returns whether it wrote (and so changed the version).
    virtual boost::asio::awaitable<std::expected<bool, std::string>> put(SharedKey key) = 0;
    /// "Redis at host:port", for log lines (never a password).
    virtual std::string where() const = 0;
};

/// Keys in one Redis hash (`prefix`: id -> record) and a counter `prefix:version` INCRed
/// by every write.
class RedisKeyStore final : public SharedKeyStore {
public:
    explicit RedisKeyStore(RedisClient& redis, std::string prefix = "aigw:keys");
    boost::asio::awaitable<std::expected<std::int64_t, std::string>> version() override;
    boost::asio::awaitable<std::expected<std::vector<SharedKey>, std::string>> all() override;
    boost::asio::awaitable<std::expected<bool, std::string>> put(SharedKey key) override;
    std::string where() const override;

private:
    RedisClient& m_redis;
    std::string m_hash;
    std::string m_version;
};

/// The script of RedisKeyStore::put (exposed for tests).
extern const char* const k_put_key_script;

/// This instance's copy, as key sync sees it.
class LocalKeys {
public:
    virtual ~LocalKeys() = default;
    /// Every local key's record; in memory, does not block.
    virtual std::vector<SharedKey> records() const = 0;
    /// One key's record by id; nullopt when unknown here.
    virtual std::optional<std::string> record(std::string_view id) const = 0;
    /// Takes in a record from the shared store (see limits::KeyStore::merge); resumes on the
    /// caller's executor and never blocks it. Errors: a record that does not decode, a
    /// conflict, storage.
    virtual boost::asio::awaitable<std::expected<void, std::string>> apply(std::string record) = 0;
};

struct KeySyncOptions {
    std::chrono::milliseconds poll{250};    ///< version checks while the store answers
    std::chrono::milliseconds retry{1000};  ///< while it does not
    /// Receives the log lines (store down, back, a record refused); may be empty.
    std::function<void(const std::string&)> log;
};

struct KeySyncStatus {
    bool reachable = false;    ///< the last exchange with the store worked
    std::uint64_t rounds = 0;  ///< full comparisons done
    std::uint64_t pulled = 0;  ///< records taken in from the store
    std::uint64_t pushed = 0;  ///< records written to the store
    std::string last_error;
};

/// The background loop on one executor (one thread: it keeps its state unlocked).
class KeySync {
public:
    KeySync(boost::asio::any_io_executor ex, SharedKeyStore& store, LocalKeys& local, KeySyncOptions options = {});
    ~KeySync();
    KeySync(const KeySync&) = delete;
    KeySync& operator=(const KeySync&) = delete;

    /// Starts the loop; the first round compares everything (seeds the store, pulls the rest).
    void start();
    /// Asks the loop to end at its next wait. Thread-safe.
    void stop();
    /// A key created or revoked here: written to the store at once (or at the next round,
    /// when the store is down). Thread-safe, does not block.
    void local_changed(std::string id);
    /// Calls `done` (on the loop) when the first round ended, in sync or not.
    void on_first_round(std::function<void()> done);
    /// Thread-safe snapshot.
    KeySyncStatus status() const;

    /// One step of the loop (for tests): a full round when one is due, else a version check.
    /// Returns false when the store could not be reached.
    boost::asio::awaitable<bool> step();

private:
    boost::asio::awaitable<void> loop();
    boost::asio::awaitable<bool> full_round();
    boost::asio::awaitable<void> push(std::string id);
    void reachable(bool ok, const std::string& error);

    boost::asio::any_io_executor m_ex;
    SharedKeyStore& m_store;
    LocalKeys& m_local;
    KeySyncOptions m_options;
    boost::asio::steady_timer m_timer;
    // Loop state, touched on the executor only.
    std::optional<std::int64_t> m_version;  ///< of the last full round; nullopt: a round is due
    bool m_was_reachable = true;
    std::set<std::string> m_refused;  ///< records already logged as refused
    std::vector<std::function<void()>> m_first_round;
    bool m_first_done = false;
    // Shared with other threads.
    mutable std::mutex m_mu;
    KeySyncStatus m_status;
    std::atomic<bool> m_stopping{false};
};

}  // namespace aigw::daemon::cluster

#pragma once
// Virtual keys: gateway keys with their own name, limits, budget, allowed models and
// expiry, handed out by the admin. Only the SHA-256 of a key's secret is stored (keys.db in
// the data dir, 0600); the secret is shown once, when the key is created. The request path
// checks keys in memory, without touching the disk. With [cluster] redis_url the keys are
// shared by every instance (daemon/cluster/key_sync.hpp); this store stays each instance's
// copy, and merge() takes in what other instances wrote.

#include "daemon/limits/budget.hpp"
#include "daemon/limits/clock.hpp"

#include <cstdint>
#include <expected>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace SQLite {
class Database;
}

namespace aigw::daemon::limits {

/// Every virtual key's secret starts with this, so the gateway can tell them from the admin key.
inline constexpr std::string_view k_virtual_key_prefix = "aigw-vk-";

struct KeyBudget {
    double usd = 0;
    Period period = Period::day;
};

/// What the admin asks for when creating a key.
struct KeySpec {
    std::string name;                 ///< unique among keys not revoked; [A-Za-z0-9._-], 1..64
    std::int64_t rpm = 0;             ///< requests per minute; 0 = no limit
    std::int64_t tpm = 0;             ///< tokens per minute; 0 = no limit
    std::optional<KeyBudget> budget;  ///< USD per UTC day or month
    std::vector<std::string> models;  ///< glob patterns ("openai/*"); empty = every model
    std::int64_t expires_ms = 0;      ///< unix ms; 0 = never
};

/// A stored key. It deliberately has no field for the secret or its hash, so nothing that
/// serialises a VirtualKey can leak them.
struct VirtualKey : KeySpec {
    std::string id;  ///< "vk_" + 16 hex: what the ledger and reports show
    std::int64_t created_ms = 0;
    std::int64_t revoked_ms = 0;  ///< 0 = active

    bool revoked() const { return revoked_ms != 0; }
    bool expired(std::int64_t now_ms) const { return expires_ms != 0 && now_ms >= expires_ms; }
    /// True when `model` (or the name the caller used, e.g. an alias) matches a pattern.
    bool allows(std::string_view resolved_model, std::string_view requested_model) const;
};

/// Glob match: '*' any run of characters ('/' included), '?' one character.
bool glob_match(std::string_view pattern, std::string_view text);

/// SHA-256 of `secret`, lowercase hex.
std::string key_hash(std::string_view secret);

/// Hex of `n` bytes from OpenSSL's CSPRNG (secrets and ids that must not be guessed).
std::string random_hex(std::size_t n);

/// A key as stored: the record plus its secret's hash. What the instances of a cluster share;
/// the secret itself is in no record.
struct StoredKey {
    VirtualKey key;
    std::string hash;  ///< key_hash(secret): 64 lowercase hex
};

/// The shared form of a stored key: JSON with sorted fields, so the same key is the same
/// bytes on every instance (instances compare records as text).
std::string encode_key_record(const StoredKey& k);
/// Reads a record made by encode_key_record, checking every field as create() would (the
/// expiry may be past); errors name the field that is wrong.
std::expected<StoredKey, std::string> decode_key_record(std::string_view text);

struct KeyError {
    int status = 400;  ///< 400 bad spec, 404 unknown key, 409 name taken, 500 storage
    std::string message;
};

class KeyStore {
public:
    /// Opens (creating, 0600) the key database and loads every key into memory.
    static std::expected<std::unique_ptr<KeyStore>, std::string> open(const std::filesystem::path& file,
                                                                      const Clock& clock);
    ~KeyStore();
    KeyStore(const KeyStore&) = delete;
    KeyStore& operator=(const KeyStore&) = delete;

    struct Created {
        VirtualKey key;
        std::string secret;  ///< shown to the admin once; never stored
    };
    /// Validates `spec`, makes a secret, stores its hash. Errors say which field is wrong.
    std::expected<Created, KeyError> create(KeySpec spec);
    /// Marks the key revoked (it stays listed). Revoking a revoked key is not an error.
    std::expected<VirtualKey, KeyError> revoke(std::string_view id_or_name);

    /// Every key, oldest first.
    std::vector<VirtualKey> list() const;
    /// By id, else by name (the key not revoked, else the newest revoked one).
    std::optional<VirtualKey> find(std::string_view id_or_name) const;
    /// By id only (the request path: ledger rows carry ids).
    std::shared_ptr<const VirtualKey> by_id(std::string_view id) const;

    enum class Verdict { ok, unknown, revoked, expired };
    struct Authenticated {
        Verdict verdict = Verdict::unknown;
        std::shared_ptr<const VirtualKey> key;  ///< set unless unknown
    };
    /// Looks the presented secret up by its hash; in memory only.
    Authenticated authenticate(std::string_view secret) const;

    /// Every key with its hash, oldest first; in memory only.
    std::vector<StoredKey> stored() const;
    /// One key with its hash, by id; in memory only.
    std::optional<StoredKey> stored(std::string_view id) const;
    /// Takes in a key another instance wrote: an unknown key is added; a known one takes the
    /// other's fields, except that a revocation is never undone and the earlier of two
    /// revocations counts (so every instance ends with the same record). Returns whether
    /// anything changed. Errors: the id is known here with another hash, or the hash
    /// belongs to another key; storage. Writes SQLite: never call it on an event loop.
    std::expected<bool, std::string> merge(const StoredKey& incoming);
    /// `fn(id)` runs after each create() and revoke() (not after merge()), on the caller's
    /// thread; it must not block. Empty: nobody is told.
    void on_change(std::function<void(const std::string& id)> fn);

private:
    explicit KeyStore(const Clock& clock);
    std::expected<void, std::string> load();
    void changed(const std::string& id);
    /// Puts `key` in the maps (replacing the one with its id); m_mu held exclusively.
    void index(std::shared_ptr<const VirtualKey> key, const std::string& hash);

    const Clock& m_clock;
    std::unique_ptr<SQLite::Database> m_db;  ///< used under m_write_mu only (admin calls)
    std::mutex m_write_mu;
    mutable std::shared_mutex m_mu;  ///< guards the maps below
    std::unordered_map<std::string, std::shared_ptr<const VirtualKey>> m_by_hash;
    std::unordered_map<std::string, std::shared_ptr<const VirtualKey>> m_by_id;
    std::unordered_map<std::string, std::string> m_hash_by_id;
    std::vector<std::string> m_order;  ///< ids, oldest first
    std::mutex m_listener_mu;
    std::function<void(const std::string&)> m_listener;
};

}  // namespace aigw::daemon::limits

#pragma once
// Virtual keys: gateway keys with their own name, limits, budget, allowed models and
// expiry, handed out by the admin. Only the SHA-256 of a key's secret is stored (keys.db in
// the data dir, 0600); the secret is shown once, when the key is created. The request path
// checks keys in memory, without touching the disk.

#include "daemon/limits/budget.hpp"
#include "daemon/limits/clock.hpp"

#include <cstdint>
#include <expected>
#include <filesystem>
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

private:
    explicit KeyStore(const Clock& clock);
    std::expected<void, std::string> load();

    const Clock& m_clock;
    std::unique_ptr<SQLite::Database> m_db;  ///< used under m_write_mu only (admin calls)
    std::mutex m_write_mu;
    mutable std::shared_mutex m_mu;  ///< guards the maps below
    std::unordered_map<std::string, std::shared_ptr<const VirtualKey>> m_by_hash;
    std::unordered_map<std::string, std::shared_ptr<const VirtualKey>> m_by_id;
    std::vector<std::string> m_order;  ///< ids, oldest first
};

}  // namespace aigw::daemon::limits

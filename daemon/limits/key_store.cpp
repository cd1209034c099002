#include "daemon/limits/key_store.hpp"

#include "daemon/ledger/migrations.hpp"

#include <SQLiteCpp/SQLiteCpp.h>
#include <nlohmann/json.hpp>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include <array>
#include <cmath>
#include <stdexcept>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace aigw::daemon::limits {

namespace {

constexpr int k_busy_timeout_ms = 5000;
constexpr std::size_t k_max_name = 64;
constexpr std::size_t k_max_patterns = 64;

// The key store's own numbered migrations, recorded in its own schema_migrations.
constexpr std::array k_key_migrations{
    ledger::Migration{1, "create virtual_keys",
                      R"sql(
CREATE TABLE virtual_keys (
    id             TEXT    PRIMARY KEY,
    name           TEXT    NOT NULL,
    key_hash       TEXT    NOT NULL UNIQUE,
    rpm            INTEGER NOT NULL DEFAULT 0,
    tpm            INTEGER NOT NULL DEFAULT 0,
    budget_usd     REAL    NOT NULL DEFAULT 0,
    budget_period  TEXT    NOT NULL DEFAULT '',
    models         TEXT    NOT NULL DEFAULT '[]',
    expires_ms     INTEGER NOT NULL DEFAULT 0,
    revoked_ms     INTEGER NOT NULL DEFAULT 0,
    created_ms     INTEGER NOT NULL
);
)sql"},
};

std::string to_hex(const unsigned char* bytes, std::size_t n)
{
    static constexpr char k_hex[] = "0123456789abcdef";
    std::string out;
    out.reserve(n * 2);
    for (std::size_t i = 0; i < n; ++i) {
        out.push_back(k_hex[bytes[i] >> 4]);
        out.push_back(k_hex[bytes[i] & 0xf]);
    }
    return out;
}

bool valid_name(std::string_view name)
{
    if (name.empty() || name.size() > k_max_name) {
        return false;
    }
    for (char c : name) {
        const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
                        c == '_' || c == '.';
        if (!ok) {
            return false;
        }
    }
    return true;
}

std::expected<void, KeyError> validate(const KeySpec& spec, std::int64_t now_ms)
{
    if (!valid_name(spec.name)) {
        return std::unexpected(
            KeyError{400, "the key name must be 1 to 64 letters, digits, '.', '_' or '-' (got '" + spec.name + "')"});
    }
    if (spec.name.starts_with("vk_")) {
        return std::unexpected(KeyError{400, "the key name must not start with 'vk_' (key ids do)"});
    }
    if (spec.rpm < 0 || spec.tpm < 0) {
        return std::unexpected(KeyError{400, "rpm and tpm must be 0 (no limit) or more"});
    }
    if (spec.budget && (!std::isfinite(spec.budget->usd) || spec.budget->usd <= 0)) {
        return std::unexpected(KeyError{400, "the budget must be a positive amount of USD, e.g. 5/day"});
    }
    if (spec.models.size() > k_max_patterns) {
        return std::unexpected(KeyError{400, "at most 64 model patterns per key"});
    }
    for (const auto& p : spec.models) {
        if (p.empty() || p.size() > 200) {
            return std::unexpected(KeyError{400, "model patterns must be 1 to 200 characters, e.g. \"openai/*\""});
        }
    }
    if (spec.expires_ms != 0 && spec.expires_ms <= now_ms) {
        return std::unexpected(KeyError{400, "the expiry is in the past; give a future date"});
    }
    return {};
}

VirtualKey key_from(SQLite::Statement& q)
{
    VirtualKey k;
    k.id = q.getColumn(0).getString();
    k.name = q.getColumn(1).getString();
    k.rpm = q.getColumn(2).getInt64();
    k.tpm = q.getColumn(3).getInt64();
    const double budget = q.getColumn(4).getDouble();
    Period period = Period::day;
    if (budget > 0 && parse_period(q.getColumn(5).getString(), period)) {
        k.budget = KeyBudget{budget, period};
    }
    auto models = nlohmann::json::parse(q.getColumn(6).getString(), nullptr, false);
    if (models.is_array()) {
        for (const auto& m : models) {
            if (m.is_string()) {
                k.models.push_back(m.get<std::string>());
            }
        }
    }
    k.expires_ms = q.getColumn(7).getInt64();
    k.revoked_ms = q.getColumn(8).getInt64();
    k.created_ms = q.getColumn(9).getInt64();
    return k;
}

}  // namespace

std::string random_hex(std::size_t n)
{
    std::vector<unsigned char> bytes(n);
    if (RAND_bytes(bytes.data(), static_cast<int>(n)) != 1) {
        throw std::runtime_error("the system random generator failed");
    }
    return to_hex(bytes.data(), n);
}

bool glob_match(std::string_view pattern, std::string_view text)
{
    // Iterative matcher with one backtrack point for the last '*': linear in practice.
    std::size_t p = 0;
    std::size_t t = 0;
    std::size_t star = std::string_view::npos;
    std::size_t mark = 0;
    while (t < text.size()) {
        if (p < pattern.size() && (pattern[p] == '?' || pattern[p] == text[t])) {
            ++p;
            ++t;
        } else if (p < pattern.size() && pattern[p] == '*') {
            star = p++;
            mark = t;
        } else if (star != std::string_view::npos) {
            p = star + 1;
            t = ++mark;
        } else {
            return false;
        }
    }
    while (p < pattern.size() && pattern[p] == '*') {
        ++p;
    }
    return p == pattern.size();
}

bool VirtualKey::allows(std::string_view resolved_model, std::string_view requested_model) const
{
    if (models.empty()) {
        return true;
    }
    for (const auto& pattern : models) {
        if (glob_match(pattern, resolved_model) || (!requested_model.empty() && glob_match(pattern, requested_model))) {
            return true;
        }
    }
    return false;
}

std::string key_hash(std::string_view secret)
{
    std::array<unsigned char, SHA256_DIGEST_LENGTH> digest{};
    SHA256(reinterpret_cast<const unsigned char*>(secret.data()), secret.size(), digest.data());
    return to_hex(digest.data(), digest.size());
}

std::expected<std::unique_ptr<KeyStore>, std::string> KeyStore::open(const std::filesystem::path& file,
                                                                     const Clock& clock)
{
    std::unique_ptr<KeyStore> store(new KeyStore(clock));
    try {
        // Created 0600 up front: SQLite would use the umask, and the file holds key hashes.
        if (!std::filesystem::exists(file)) {
            const int fd = ::open(file.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
            if (fd >= 0) {
                ::close(fd);
            }
        }
        ::chmod(file.c_str(), 0600);
        store->m_db =
            std::make_unique<SQLite::Database>(file, SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE, k_busy_timeout_ms);
    } catch (const std::exception& e) {
        return std::unexpected("cannot open the key store " + file.string() + ": " + e.what() +
                               "; check that the data dir is writable");
    }
    auto version = ledger::apply_migrations(*store->m_db, k_key_migrations, "the key store");
    if (!version) {
        return std::unexpected(file.string() + ": " + version.error());
    }
    if (auto loaded = store->load(); !loaded) {
        return std::unexpected(file.string() + ": " + loaded.error());
    }
    return store;
}

KeyStore::KeyStore(const Clock& clock) : m_clock(clock)
{}

KeyStore::~KeyStore() = default;

std::expected<void, std::string> KeyStore::load()
{
    try {
        SQLite::Statement q(*m_db,
                            "SELECT id, name, rpm, tpm, budget_usd, budget_period, models, expires_ms, revoked_ms, "
                            "created_ms, key_hash FROM virtual_keys ORDER BY created_ms, rowid");
        std::unique_lock lock(m_mu);
        while (q.executeStep()) {
            auto key = std::make_shared<const VirtualKey>(key_from(q));
            m_by_hash[q.getColumn(10).getString()] = key;
            m_by_id[key->id] = key;
            m_order.push_back(key->id);
        }
    } catch (const std::exception& e) {
        return std::unexpected(std::string("cannot read the virtual keys: ") + e.what());
    }
    return {};
}

std::expected<KeyStore::Created, KeyError> KeyStore::create(KeySpec spec)
{
    const std::int64_t now = m_clock.now_ms();
    if (auto ok = validate(spec, now); !ok) {
        return std::unexpected(ok.error());
    }
    std::lock_guard write_lock(m_write_mu);
    if (auto same = find(spec.name); same && !same->revoked()) {
        return std::unexpected(KeyError{409, "a key named '" + spec.name + "' exists already (" + same->id +
                                                 "); revoke it first or pick another name"});
    }
    Created out;
    try {
        out.secret = std::string(k_virtual_key_prefix) + random_hex(24);
        static_cast<KeySpec&>(out.key) = std::move(spec);
        out.key.id = "vk_" + random_hex(8);
        out.key.created_ms = now;
    } catch (const std::exception& e) {
        return std::unexpected(KeyError{500, std::string("cannot make a key: ") + e.what()});
    }
    const std::string hash = key_hash(out.secret);
    try {
        SQLite::Statement insert(
            *m_db,
            "INSERT INTO virtual_keys(id, name, key_hash, rpm, tpm, budget_usd, budget_period, "
            "models, expires_ms, revoked_ms, created_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 0, ?)");
        insert.bind(1, out.key.id);
        insert.bind(2, out.key.name);
        insert.bind(3, hash);
        insert.bind(4, out.key.rpm);
        insert.bind(5, out.key.tpm);
        insert.bind(6, out.key.budget ? out.key.budget->usd : 0.0);
        insert.bind(7, out.key.budget ? std::string(to_string(out.key.budget->period)) : std::string());
        insert.bind(8, nlohmann::json(out.key.models).dump());
        insert.bind(9, out.key.expires_ms);
        insert.bind(10, out.key.created_ms);
        insert.exec();
    } catch (const std::exception& e) {
        return std::unexpected(KeyError{500, std::string("cannot store the key: ") + e.what()});
    }
    auto shared = std::make_shared<const VirtualKey>(out.key);
    std::unique_lock lock(m_mu);
    m_by_hash[hash] = shared;
    m_by_id[shared->id] = shared;
    m_order.push_back(shared->id);
    return out;
}

std::expected<VirtualKey, KeyError> KeyStore::revoke(std::string_view id_or_name)
{
    std::lock_guard write_lock(m_write_mu);
    auto key = find(id_or_name);
    if (!key) {
        return std::unexpected(
            KeyError{404, "no virtual key with id or name '" + std::string(id_or_name) + "'; see 'aigw keys list'"});
    }
    if (key->revoked()) {
        return *key;
    }
    key->revoked_ms = m_clock.now_ms();
    try {
        SQLite::Statement update(*m_db, "UPDATE virtual_keys SET revoked_ms = ? WHERE id = ?");
        update.bind(1, key->revoked_ms);
        update.bind(2, key->id);
        update.exec();
    } catch (const std::exception& e) {
        return std::unexpected(KeyError{500, std::string("cannot store the revocation: ") + e.what()});
    }
    auto shared = std::make_shared<const VirtualKey>(*key);
    std::unique_lock lock(m_mu);
    for (auto& [hash, k] : m_by_hash) {
        if (k->id == shared->id) {
            k = shared;
        }
    }
    m_by_id[shared->id] = shared;
    return *key;
}

std::vector<VirtualKey> KeyStore::list() const
{
    std::shared_lock lock(m_mu);
    std::vector<VirtualKey> out;
    out.reserve(m_order.size());
    for (const auto& id : m_order) {
        out.push_back(*m_by_id.at(id));
    }
    return out;
}

std::optional<VirtualKey> KeyStore::find(std::string_view id_or_name) const
{
    std::shared_lock lock(m_mu);
    if (auto it = m_by_id.find(std::string(id_or_name)); it != m_by_id.end()) {
        return *it->second;
    }
    std::shared_ptr<const VirtualKey> best;
    for (const auto& id : m_order) {
        const auto& k = m_by_id.at(id);
        if (k->name != id_or_name) {
            continue;
        }
        if (!k->revoked()) {
            return *k;
        }
        best = k;  // the newest revoked one, unless an active one turns up
    }
    if (best) {
        return *best;
    }
    return std::nullopt;
}

std::shared_ptr<const VirtualKey> KeyStore::by_id(std::string_view id) const
{
    std::shared_lock lock(m_mu);
    auto it = m_by_id.find(std::string(id));
    return it == m_by_id.end() ? nullptr : it->second;
}

KeyStore::Authenticated KeyStore::authenticate(std::string_view secret) const
{
    const std::string hash = key_hash(secret);
    std::shared_ptr<const VirtualKey> key;
    {
        std::shared_lock lock(m_mu);
        auto it = m_by_hash.find(hash);
        if (it == m_by_hash.end()) {
            return {};
        }
        key = it->second;
    }
    if (key->revoked()) {
        return {Verdict::revoked, key};
    }
    if (key->expired(m_clock.now_ms())) {
        return {Verdict::expired, key};
    }
    return {Verdict::ok, key};
}

}  // namespace aigw::daemon::limits

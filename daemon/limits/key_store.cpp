#include "daemon/limits/key_store.hpp"

#include "daemon/ledger/migrations.hpp"
#include "shared/wire/json_text.hpp"

#include <SQLiteCpp/SQLiteCpp.h>
#include <nlohmann/json.hpp>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include <algorithm>
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

/// Checks a spec as create() takes it; `now_ms` 0 skips the expiry check (a shared record
/// of a key that has expired since is still a record).
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
    if (now_ms != 0 && spec.expires_ms != 0 && spec.expires_ms <= now_ms) {
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

std::string encode_key_record(const StoredKey& k)
{
    // nlohmann's objects keep their fields sorted, and its numbers print the shortest text
    // that reads back the same: one key, one text.
    const nlohmann::json j = {
        {"v", 1},
        {"id", k.key.id},
        {"name", k.key.name},
        {"key_hash", k.hash},
        {"rpm", k.key.rpm},
        {"tpm", k.key.tpm},
        {"budget_usd", k.key.budget ? k.key.budget->usd : 0.0},
        {"budget_period", k.key.budget ? std::string(to_string(k.key.budget->period)) : std::string()},
        {"models", k.key.models},
        {"expires_ms", k.key.expires_ms},
        {"created_ms", k.key.created_ms},
        {"revoked_ms", k.key.revoked_ms},
    };
    return wire::dump_json(j);
}

std::expected<StoredKey, std::string> decode_key_record(std::string_view text)
{
    const auto j = nlohmann::json::parse(text, nullptr, false);
    if (!j.is_object()) {
        return std::unexpected(std::string("a key record must be a JSON object"));
    }
    if (j.value("v", 0) != 1) {
        return std::unexpected(std::string("a key record of an unknown version (\"v\" is not 1); upgrade this aigwd"));
    }
    auto string_field = [&](const char* name, std::string& out) -> std::expected<void, std::string> {
        auto it = j.find(name);
        if (it == j.end() || !it->is_string()) {
            return std::unexpected(std::string("the key record's \"") + name + "\" must be a string");
        }
        out = it->get<std::string>();
        return {};
    };
    auto int_field = [&](const char* name, std::int64_t& out) -> std::expected<void, std::string> {
        auto it = j.find(name);
        if (it == j.end() || !it->is_number_integer() || it->get<std::int64_t>() < 0) {
            return std::unexpected(std::string("the key record's \"") + name + "\" must be a whole number, 0 or more");
        }
        out = it->get<std::int64_t>();
        return {};
    };
    StoredKey out;
    VirtualKey& k = out.key;
    std::string period;
    for (auto r : {string_field("id", k.id), string_field("name", k.name), string_field("key_hash", out.hash),
                   string_field("budget_period", period), int_field("rpm", k.rpm), int_field("tpm", k.tpm),
                   int_field("expires_ms", k.expires_ms), int_field("created_ms", k.created_ms),
                   int_field("revoked_ms", k.revoked_ms)}) {
        if (!r) {
            return std::unexpected(r.error());
        }
    }
    const bool id_ok = k.id.size() > 3 && k.id.size() <= 67 && k.id.starts_with("vk_") &&
                       k.id.find_first_not_of("0123456789abcdef", 3) == std::string::npos;
    if (!id_ok) {
        return std::unexpected("the key record's id must be vk_ and hex digits, not '" + k.id.substr(0, 80) + "'");
    }
    if (out.hash.size() != 64 || out.hash.find_first_not_of("0123456789abcdef") != std::string::npos) {
        return std::unexpected("the key record of " + k.id + " has no SHA-256 hash (64 lowercase hex)");
    }
    auto budget = j.find("budget_usd");
    if (budget == j.end() || !budget->is_number()) {
        return std::unexpected("the key record of " + k.id + ": \"budget_usd\" must be a number");
    }
    if (const double usd = budget->get<double>(); usd != 0) {
        KeyBudget b{usd, Period::day};
        if (!parse_period(period, b.period)) {
            return std::unexpected("the key record of " + k.id + ": \"budget_period\" must be \"day\" or \"month\"");
        }
        k.budget = b;
    }
    auto models = j.find("models");
    if (models == j.end() || !models->is_array()) {
        return std::unexpected("the key record of " + k.id + ": \"models\" must be an array of patterns");
    }
    for (const auto& m : *models) {
        if (!m.is_string()) {
            return std::unexpected("the key record of " + k.id + ": \"models\" must be an array of patterns");
        }
        k.models.push_back(m.get<std::string>());
    }
    if (auto ok = validate(k, 0); !ok) {
        return std::unexpected("the key record of " + k.id + ": " + ok.error().message);
    }
    return out;
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
            index(std::make_shared<const VirtualKey>(key_from(q)), q.getColumn(10).getString());
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
    {
        std::unique_lock lock(m_mu);
        index(std::make_shared<const VirtualKey>(out.key), hash);
    }
    changed(out.key.id);
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
    {
        std::unique_lock lock(m_mu);
        const std::string hash = m_hash_by_id.at(key->id);
        index(std::make_shared<const VirtualKey>(*key), hash);
    }
    changed(key->id);
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

void KeyStore::index(std::shared_ptr<const VirtualKey> key, const std::string& hash)
{
    auto known = m_by_id.find(key->id);
    if (known == m_by_id.end()) {
        // Oldest first, also for keys that arrive from other instances out of order.
        const auto pos = std::upper_bound(
            m_order.begin(), m_order.end(), key->created_ms,
            [this](std::int64_t ms, const std::string& id) { return ms < m_by_id.at(id)->created_ms; });
        m_order.insert(pos, key->id);
    }
    m_by_hash[hash] = key;
    m_hash_by_id[key->id] = hash;
    m_by_id[key->id] = std::move(key);
}

void KeyStore::changed(const std::string& id)
{
    std::function<void(const std::string&)> fn;
    {
        std::lock_guard lock(m_listener_mu);
        fn = m_listener;
    }
    if (fn) {
        fn(id);
    }
}

void KeyStore::on_change(std::function<void(const std::string& id)> fn)
{
    std::lock_guard lock(m_listener_mu);
    m_listener = std::move(fn);
}

std::vector<StoredKey> KeyStore::stored() const
{
    std::shared_lock lock(m_mu);
    std::vector<StoredKey> out;
    out.reserve(m_order.size());
    for (const auto& id : m_order) {
        out.push_back(StoredKey{*m_by_id.at(id), m_hash_by_id.at(id)});
    }
    return out;
}

std::optional<StoredKey> KeyStore::stored(std::string_view id) const
{
    std::shared_lock lock(m_mu);
    auto it = m_by_id.find(std::string(id));
    if (it == m_by_id.end()) {
        return std::nullopt;
    }
    return StoredKey{*it->second, m_hash_by_id.at(it->first)};
}

std::expected<bool, std::string> KeyStore::merge(const StoredKey& incoming)
{
    std::lock_guard write_lock(m_write_mu);
    std::optional<StoredKey> mine = stored(incoming.key.id);
    {
        std::shared_lock lock(m_mu);
        auto owner = m_by_hash.find(incoming.hash);
        if (owner != m_by_hash.end() && owner->second->id != incoming.key.id) {
            return std::unexpected("the shared key " + incoming.key.id + " has the hash of the local key " +
                                   owner->second->id + "; kept the local one");
        }
    }
    VirtualKey next = incoming.key;
    if (mine) {
        if (mine->hash != incoming.hash) {
            return std::unexpected("the shared key " + incoming.key.id +
                                   " has another secret hash than the local one; kept the local one");
        }
        const std::int64_t a = mine->key.revoked_ms;
        const std::int64_t b = incoming.key.revoked_ms;
        next.revoked_ms = (a == 0 || b == 0) ? std::max(a, b) : std::min(a, b);
        if (encode_key_record(StoredKey{next, incoming.hash}) == encode_key_record(*mine)) {
            return false;
        }
    }
    try {
        SQLite::Statement upsert(
            *m_db,
            "INSERT INTO virtual_keys(id, name, key_hash, rpm, tpm, budget_usd, budget_period, models, expires_ms, "
            "revoked_ms, created_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(id) DO UPDATE SET "
            "name = excluded.name, rpm = excluded.rpm, tpm = excluded.tpm, budget_usd = excluded.budget_usd, "
            "budget_period = excluded.budget_period, models = excluded.models, expires_ms = excluded.expires_ms, "
            "revoked_ms = excluded.revoked_ms, created_ms = excluded.created_ms");
        upsert.bind(1, next.id);
        upsert.bind(2, next.name);
        upsert.bind(3, incoming.hash);
        upsert.bind(4, next.rpm);
        upsert.bind(5, next.tpm);
        upsert.bind(6, next.budget ? next.budget->usd : 0.0);
        upsert.bind(7, next.budget ? std::string(to_string(next.budget->period)) : std::string());
        upsert.bind(8, nlohmann::json(next.models).dump());
        upsert.bind(9, next.expires_ms);
        upsert.bind(10, next.revoked_ms);
        upsert.bind(11, next.created_ms);
        upsert.exec();
    } catch (const std::exception& e) {
        return std::unexpected("cannot store the shared key " + next.id + ": " + e.what());
    }
    std::unique_lock lock(m_mu);
    if (mine && mine->key.created_ms != next.created_ms) {
        // Re-placed in the order by its (other) creation time.
        std::erase(m_order, next.id);
        m_by_id.erase(next.id);
    }
    index(std::make_shared<const VirtualKey>(std::move(next)), incoming.hash);
    return true;
}

}  // namespace aigw::daemon::limits

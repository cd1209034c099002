#include "daemon/cache/response_cache.hpp"

#include "shared/wire/json_text.hpp"

#include <SQLiteCpp/SQLiteCpp.h>

#include <sys/stat.h>

#include <chrono>
#include <cstring>
#include <iostream>

namespace aigw::daemon::cache {

namespace {

constexpr int k_busy_timeout_ms = 5000;
/// Per-entry bookkeeping counted against max_bytes besides the body (index, LRU node).
constexpr std::int64_t k_entry_overhead = 160;
/// Queued puts beyond this are dropped (the entry still serves from memory; it is just
/// not persisted): the request path never waits for the disk.
constexpr std::size_t k_max_queued_ops = 4096;
/// How often the writer persists last-used times and sweeps expired entries.
constexpr std::chrono::seconds k_touch_interval{1};
constexpr std::chrono::seconds k_sweep_interval{60};

/// Numbered schema migrations, recorded in PRAGMA user_version.
constexpr const char* k_migrations[] = {
    R"sql(
CREATE TABLE entries (
    key          TEXT    PRIMARY KEY,
    body         TEXT    NOT NULL,
    usage        TEXT    NOT NULL DEFAULT '{}',
    cost_usd     REAL    NOT NULL DEFAULT 0,
    served_model TEXT    NOT NULL DEFAULT '',
    created_ms   INTEGER NOT NULL,
    expires_ms   INTEGER NOT NULL,
    last_used_ms INTEGER NOT NULL
);
CREATE INDEX entries_expires ON entries(expires_ms);
CREATE TABLE semantic (
    key          TEXT    PRIMARY KEY,
    partition    TEXT    NOT NULL,
    vector       BLOB    NOT NULL
);
)sql",
};

std::int64_t system_now_ms()
{
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
        .count();
}

nlohmann::json usage_json(const wire::Usage& u)
{
    return {{"input", u.input_tokens},
            {"cached", u.cached_tokens},
            {"cache_write", u.cache_write_tokens},
            {"cache_write_1h", u.cache_write_1h_tokens},
            {"output", u.output_tokens},
            {"reasoning", u.reasoning_tokens},
            {"reported", u.reported}};
}

std::string usage_text(const wire::Usage& u)
{
    return usage_json(u).dump();
}

wire::Usage usage_from_text(const std::string& text)
{
    wire::Usage u;
    auto j = nlohmann::json::parse(text, nullptr, false);
    if (!j.is_object()) {
        return u;
    }
    u.input_tokens = j.value("input", std::int64_t{0});
    u.cached_tokens = j.value("cached", std::int64_t{0});
    u.cache_write_tokens = j.value("cache_write", std::int64_t{0});
    u.cache_write_1h_tokens = j.value("cache_write_1h", std::int64_t{0});
    u.output_tokens = j.value("output", std::int64_t{0});
    u.reasoning_tokens = j.value("reasoning", std::int64_t{0});
    u.reported = j.value("reported", false);
    return u;
}

}  // namespace

std::string encode_cached_answer(const CachedAnswer& a)
{
    return wire::dump_json(nlohmann::json({{"v", 1},
                                           {"key", a.key},
                                           {"body", a.body},
                                           {"usage", usage_json(a.usage)},
                                           {"cost_usd", a.cost_usd},
                                           {"served_model", a.served_model},
                                           {"created_ms", a.created_ms},
                                           {"expires_ms", a.expires_ms}}));
}

std::expected<CachedAnswer, std::string> decode_cached_answer(std::string_view text)
{
    auto j = nlohmann::json::parse(text, nullptr, false);
    if (!j.is_object()) {
        return std::unexpected("a cache entry must be a JSON object");
    }
    if (auto v = j.find("v"); v == j.end() || !v->is_number_integer() || v->get<std::int64_t>() != 1) {
        return std::unexpected("a cache entry of an unknown version");
    }
    const auto str = [&](const char* name) -> const std::string* {
        auto it = j.find(name);
        return it != j.end() && it->is_string() ? &it->get_ref<const std::string&>() : nullptr;
    };
    const auto num = [&](const char* name) -> const nlohmann::json* {
        auto it = j.find(name);
        return it != j.end() && it->is_number() ? &*it : nullptr;
    };
    const std::string* key = str("key");
    const std::string* body = str("body");
    const std::string* served = str("served_model");
    const nlohmann::json* cost = num("cost_usd");
    const nlohmann::json* created = num("created_ms");
    const nlohmann::json* expires = num("expires_ms");
    auto usage = j.find("usage");
    if (key == nullptr || key->empty() || body == nullptr || body->empty() || served == nullptr || cost == nullptr ||
        created == nullptr || expires == nullptr || !created->is_number_integer() || !expires->is_number_integer() ||
        usage == j.end() || !usage->is_object()) {
        return std::unexpected(
            "a cache entry needs key, body, usage, cost_usd, served_model, created_ms and expires_ms");
    }
    CachedAnswer a;
    a.key = *key;
    a.body = *body;
    for (const auto& [name, count] : usage->items()) {
        if (name == "reported" ? !count.is_boolean() : !count.is_number_integer()) {
            return std::unexpected("a cache entry's usage has a " + name + " that is not a count");
        }
    }
    a.usage = usage_from_text(usage->dump());
    a.cost_usd = cost->get<double>();
    a.served_model = *served;
    a.created_ms = created->get<std::int64_t>();
    a.expires_ms = expires->get<std::int64_t>();
    if (!(a.cost_usd >= 0) || a.expires_ms < a.created_ms) {
        return std::unexpected("a cache entry with a negative cost or an expiry before its creation");
    }
    return a;
}

namespace {

std::int64_t entry_bytes(const CachedAnswer& a)
{
    return static_cast<std::int64_t>(a.body.size() + a.key.size() + a.served_model.size()) + k_entry_overhead;
}

void migrate(SQLite::Database& db)
{
    const int version = db.execAndGet("PRAGMA user_version").getInt();
    const int latest = static_cast<int>(std::size(k_migrations));
    if (version > latest) {
        throw std::runtime_error("it has schema version " + std::to_string(version) +
                                 " but this aigw knows only up to " + std::to_string(latest) +
                                 " (written by a newer aigw): upgrade aigw, or run 'aigw cache clear' "
                                 "after deleting the file");
    }
    for (int v = version; v < latest; ++v) {
        SQLite::Transaction t(db, SQLite::TransactionBehavior::IMMEDIATE);
        db.exec(k_migrations[v]);
        db.exec("PRAGMA user_version = " + std::to_string(v + 1));
        t.commit();
    }
}

}  // namespace

ResponseCache::ResponseCache(CacheOptions options) : m_opts(std::move(options)), m_semantic(m_opts.max_semantic_entries)
{
    if (!m_opts.now_ms) {
        m_opts.now_ms = system_now_ms;
    }
    m_stats.max_bytes = m_opts.max_bytes;
}

std::expected<std::unique_ptr<ResponseCache>, std::string> ResponseCache::open(const std::filesystem::path& path,
                                                                               CacheOptions options)
{
    std::unique_ptr<ResponseCache> c(new ResponseCache(std::move(options)));
    if (path.empty()) {
        return c;
    }
    try {
        c->m_db =
            std::make_unique<SQLite::Database>(path, SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE, k_busy_timeout_ms);
        // Answers are private: the file is the user's alone, as the data dir is.
        ::chmod(path.c_str(), 0600);
        const std::string mode = c->m_db->execAndGet("PRAGMA journal_mode=WAL").getString();
        if (mode != "wal") {
            return std::unexpected("cannot put the cache database " + path.string() + " in WAL mode (got '" + mode +
                                   "'); put the data dir on a local filesystem");
        }
        c->m_db->exec("PRAGMA synchronous=NORMAL");
        migrate(*c->m_db);
        c->load(c->now_ms());
    } catch (const std::exception& e) {
        return std::unexpected("cannot open the cache database " + path.string() + ": " + e.what());
    }
    c->m_writer = std::thread([p = c.get()] { p->writer_loop(); });
    return c;
}

ResponseCache::~ResponseCache()
{
    close();
}

void ResponseCache::load(std::int64_t now)
{
    auto& db = *m_db;
    std::vector<std::string> dropped;
    {
        SQLite::Statement q(db,
                            "SELECT key, body, usage, cost_usd, served_model, created_ms, expires_ms FROM entries "
                            "ORDER BY last_used_ms DESC");
        std::int64_t bytes = 0;
        while (q.executeStep()) {
            auto a = std::make_shared<CachedAnswer>();
            a->key = q.getColumn(0).getString();
            a->body = q.getColumn(1).getString();
            a->usage = usage_from_text(q.getColumn(2).getString());
            a->cost_usd = q.getColumn(3).getDouble();
            a->served_model = q.getColumn(4).getString();
            a->created_ms = q.getColumn(5).getInt64();
            a->expires_ms = q.getColumn(6).getInt64();
            const std::int64_t size = entry_bytes(*a);
            if (a->expires_ms <= now || bytes + size > m_opts.max_bytes ||
                static_cast<std::int64_t>(a->body.size()) > m_opts.max_entry_bytes) {
                dropped.push_back(a->key);
                continue;
            }
            bytes += size;
            m_lru.push_back(a->key);
            std::string key = a->key;
            m_slots.emplace(std::move(key), Slot{std::move(a), size, std::prev(m_lru.end())});
        }
        m_stats.bytes = bytes;
    }
    {
        SQLite::Statement q(db, "SELECT key, partition, vector FROM semantic ORDER BY rowid");
        while (q.executeStep()) {
            std::string key = q.getColumn(0).getString();
            if (!m_slots.contains(key)) {
                continue;
            }
            const auto blob = q.getColumn(2);
            std::vector<float> v(static_cast<std::size_t>(blob.getBytes()) / sizeof(float));
            std::memcpy(v.data(), blob.getBlob(), v.size() * sizeof(float));
            m_semantic.add(q.getColumn(1).getString(), key, std::move(v));
        }
    }
    if (!dropped.empty()) {
        SQLite::Transaction t(db);
        SQLite::Statement del(db, "DELETE FROM entries WHERE key = ?");
        SQLite::Statement del_vec(db, "DELETE FROM semantic WHERE key = ?");
        for (const auto& k : dropped) {
            del.bind(1, k);
            del.exec();
            del.reset();
            del_vec.bind(1, k);
            del_vec.exec();
            del_vec.reset();
        }
        db.exec("DELETE FROM semantic WHERE key NOT IN (SELECT key FROM entries)");
        t.commit();
    }
    m_stats.entries = static_cast<std::int64_t>(m_slots.size());
    m_stats.semantic_entries = static_cast<std::int64_t>(m_semantic.size());
}

void ResponseCache::enqueue_locked(Op op)
{
    if (!m_db || m_stopping) {
        return;
    }
    if (op.kind == Op::Kind::put && m_queue.size() >= k_max_queued_ops) {
        return;
    }
    m_queue.push_back(std::move(op));
    ++m_enqueued;
    m_cv_work.notify_one();
}

void ResponseCache::drop_locked(std::unordered_map<std::string, Slot>::iterator it)
{
    m_stats.bytes -= it->second.bytes;
    m_lru.erase(it->second.lru);
    m_semantic.remove(it->first);
    m_touched.erase(it->first);
    Op op;
    op.kind = Op::Kind::erase;
    op.key = it->first;
    m_slots.erase(it);
    enqueue_locked(std::move(op));
    m_stats.entries = static_cast<std::int64_t>(m_slots.size());
    m_stats.semantic_entries = static_cast<std::int64_t>(m_semantic.size());
}

std::optional<CacheHit> ResponseCache::hit_locked(const std::string& key, std::optional<std::int64_t> max_age_s,
                                                  std::optional<double> similarity)
{
    auto it = m_slots.find(key);
    if (it == m_slots.end()) {
        return std::nullopt;
    }
    const std::int64_t now = now_ms();
    const auto& answer = it->second.answer;
    if (answer->expires_ms <= now) {
        ++m_stats.expirations;
        drop_locked(it);
        return std::nullopt;
    }
    const std::int64_t age_ms = std::max<std::int64_t>(now - answer->created_ms, 0);
    if (max_age_s && age_ms > *max_age_s * 1000) {
        return std::nullopt;
    }
    m_lru.splice(m_lru.begin(), m_lru, it->second.lru);
    if (m_db) {
        m_touched[key] = now;
    }
    ++m_stats.hits;
    if (similarity) {
        ++m_stats.semantic_hits;
    }
    m_stats.saved_usd += answer->cost_usd;
    return CacheHit{answer, age_ms / 1000, answer->cost_usd, similarity};
}

std::optional<CacheHit> ResponseCache::lookup(const std::string& key, std::optional<std::int64_t> max_age_s)
{
    std::lock_guard lock(m_mu);
    return hit_locked(key, max_age_s, std::nullopt);
}

std::optional<CacheHit> ResponseCache::lookup_semantic(const std::string& partition, std::span<const float> vector,
                                                       double threshold, std::optional<std::int64_t> max_age_s)
{
    std::lock_guard lock(m_mu);
    auto match = m_semantic.best_match(partition, vector, threshold);
    if (!match) {
        return std::nullopt;
    }
    return hit_locked(match->key, max_age_s, match->similarity);
}

std::optional<CacheHit> ResponseCache::adopt(CachedAnswer answer, std::optional<std::int64_t> max_age_s)
{
    if (answer.key.empty() || answer.body.empty()) {
        return std::nullopt;
    }
    std::lock_guard lock(m_mu);
    const std::int64_t now = now_ms();
    if (answer.expires_ms <= now) {
        return std::nullopt;
    }
    const std::int64_t age_ms = std::max<std::int64_t>(now - answer.created_ms, 0);
    if (max_age_s && age_ms > *max_age_s * 1000) {
        return std::nullopt;
    }
    const std::string key = answer.key;
    auto kept = std::make_shared<const CachedAnswer>(answer);
    if (insert_locked(std::move(answer), std::nullopt) == StoreResult::stored) {
        return hit_locked(key, max_age_s, std::nullopt);
    }
    // Too large to keep here: served once all the same.
    ++m_stats.hits;
    m_stats.saved_usd += kept->cost_usd;
    return CacheHit{kept, age_ms / 1000, kept->cost_usd, std::nullopt};
}

std::shared_ptr<const CachedAnswer> ResponseCache::entry(const std::string& key) const
{
    std::lock_guard lock(m_mu);
    auto it = m_slots.find(key);
    if (it == m_slots.end() || it->second.answer->expires_ms <= now_ms()) {
        return nullptr;
    }
    return it->second.answer;
}

void ResponseCache::count_miss()
{
    std::lock_guard lock(m_mu);
    ++m_stats.misses;
}

StoreResult ResponseCache::store(CachedAnswer answer, std::optional<std::int64_t> ttl_s,
                                 std::optional<SemanticVector> semantic)
{
    const std::int64_t ttl = ttl_s.value_or(m_opts.default_ttl_s);
    if (ttl <= 0 || answer.key.empty() || answer.body.empty()) {
        return StoreResult::not_cacheable;
    }
    std::lock_guard lock(m_mu);
    answer.created_ms = now_ms();
    answer.expires_ms = answer.created_ms + ttl * 1000;
    return insert_locked(std::move(answer), std::move(semantic));
}

StoreResult ResponseCache::insert_locked(CachedAnswer answer, std::optional<SemanticVector> semantic)
{
    if (static_cast<std::int64_t>(answer.body.size()) > m_opts.max_entry_bytes) {
        ++m_stats.too_large;
        return StoreResult::too_large;
    }
    const std::int64_t size = entry_bytes(answer);
    if (size > m_opts.max_bytes) {
        ++m_stats.too_large;
        return StoreResult::too_large;
    }
    if (auto old = m_slots.find(answer.key); old != m_slots.end()) {
        drop_locked(old);
    }
    while (m_stats.bytes + size > m_opts.max_bytes && !m_lru.empty()) {
        ++m_stats.evictions;
        drop_locked(m_slots.find(m_lru.back()));
    }
    auto shared = std::make_shared<const CachedAnswer>(std::move(answer));
    m_lru.push_front(shared->key);
    m_slots.emplace(shared->key, Slot{shared, size, m_lru.begin()});
    m_stats.bytes += size;
    ++m_stats.stores;
    Op op;
    op.kind = Op::Kind::put;
    op.answer = shared;
    if (semantic) {
        std::vector<std::string> dropped;  // vectors dropped for room keep their entries
        if (m_semantic.add(semantic->partition, shared->key, semantic->vector, &dropped)) {
            op.semantic = std::move(semantic);
        }
    }
    m_stats.entries = static_cast<std::int64_t>(m_slots.size());
    m_stats.semantic_entries = static_cast<std::int64_t>(m_semantic.size());
    enqueue_locked(std::move(op));
    return StoreResult::stored;
}

std::int64_t ResponseCache::clear()
{
    std::lock_guard lock(m_mu);
    const auto n = static_cast<std::int64_t>(m_slots.size());
    m_slots.clear();
    m_lru.clear();
    m_semantic.clear();
    m_touched.clear();
    m_stats.bytes = 0;
    m_stats.entries = 0;
    m_stats.semantic_entries = 0;
    Op op;
    op.kind = Op::Kind::clear;
    enqueue_locked(std::move(op));
    return n;
}

void ResponseCache::purge_expired()
{
    std::lock_guard lock(m_mu);
    const std::int64_t now = now_ms();
    for (auto it = m_slots.begin(); it != m_slots.end();) {
        auto next = std::next(it);
        if (it->second.answer->expires_ms <= now) {
            ++m_stats.expirations;
            drop_locked(it);
        }
        it = next;
    }
}

CacheStats ResponseCache::stats() const
{
    std::lock_guard lock(m_mu);
    return m_stats;
}

void ResponseCache::flush()
{
    std::unique_lock lock(m_mu);
    if (!m_db || !m_writer.joinable()) {
        return;
    }
    const std::uint64_t target = m_enqueued;
    m_cv_work.notify_one();
    m_cv_flushed.wait(lock, [&] { return m_written >= target || m_stopping; });
}

void ResponseCache::close()
{
    std::lock_guard close_lock(m_close_mu);
    {
        std::lock_guard lock(m_mu);
        if (m_stopping) {
            return;
        }
        m_stopping = true;
    }
    m_cv_work.notify_all();
    if (m_writer.joinable()) {
        m_writer.join();
    }
    m_cv_flushed.notify_all();
}

void ResponseCache::writer_loop()
{
    auto& db = *m_db;
    SQLite::Statement put(db,
                          "INSERT OR REPLACE INTO entries(key, body, usage, cost_usd, served_model, created_ms, "
                          "expires_ms, last_used_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?)");
    SQLite::Statement put_vec(db, "INSERT OR REPLACE INTO semantic(key, partition, vector) VALUES (?, ?, ?)");
    SQLite::Statement del(db, "DELETE FROM entries WHERE key = ?");
    SQLite::Statement del_vec(db, "DELETE FROM semantic WHERE key = ?");
    SQLite::Statement touch(db, "UPDATE entries SET last_used_ms = ? WHERE key = ?");
    auto run = [](SQLite::Statement& s) {
        s.exec();
        s.reset();
    };

    auto last_sweep = std::chrono::steady_clock::now();
    std::deque<Op> batch;
    std::unordered_map<std::string, std::int64_t> touched;
    for (;;) {
        std::uint64_t target = 0;
        bool stopping = false;
        {
            std::unique_lock lock(m_mu);
            m_cv_work.wait_for(lock, k_touch_interval, [&] { return m_stopping || !m_queue.empty(); });
            batch.swap(m_queue);
            touched.swap(m_touched);
            target = m_enqueued;
            stopping = m_stopping;
        }
        if (!batch.empty() || !touched.empty()) {
            try {
                SQLite::Transaction t(db);
                for (const Op& op : batch) {
                    if (op.kind == Op::Kind::put) {
                        const CachedAnswer& a = *op.answer;
                        put.bind(1, a.key);
                        put.bind(2, a.body);
                        put.bind(3, usage_text(a.usage));
                        put.bind(4, a.cost_usd);
                        put.bind(5, a.served_model);
                        put.bind(6, a.created_ms);
                        put.bind(7, a.expires_ms);
                        put.bind(8, a.created_ms);
                        run(put);
                        del_vec.bind(1, a.key);
                        run(del_vec);
                        if (op.semantic) {
                            put_vec.bind(1, a.key);
                            put_vec.bind(2, op.semantic->partition);
                            put_vec.bind(3, op.semantic->vector.data(),
                                         static_cast<int>(op.semantic->vector.size() * sizeof(float)));
                            run(put_vec);
                        }
                    } else if (op.kind == Op::Kind::erase) {
                        del.bind(1, op.key);
                        run(del);
                        del_vec.bind(1, op.key);
                        run(del_vec);
                    } else {
                        db.exec("DELETE FROM entries");
                        db.exec("DELETE FROM semantic");
                    }
                }
                for (const auto& [key, when] : touched) {
                    touch.bind(1, when);
                    touch.bind(2, key);
                    run(touch);
                }
                t.commit();
            } catch (const std::exception& e) {
                // The entries still serve from memory; only their copy on disk is missing.
                std::cerr << "aigwd: cache: cannot write " << batch.size() << " change(s) to cache.db: " << e.what()
                          << "\n";
            }
            batch.clear();
            touched.clear();
        }
        {
            std::lock_guard lock(m_mu);
            m_written = target;
        }
        m_cv_flushed.notify_all();
        if (stopping) {
            std::lock_guard lock(m_mu);
            if (m_queue.empty()) {
                break;
            }
            continue;
        }
        if (std::chrono::steady_clock::now() - last_sweep >= k_sweep_interval) {
            last_sweep = std::chrono::steady_clock::now();
            purge_expired();
        }
    }
}

}  // namespace aigw::daemon::cache

#pragma once
// The response cache: complete, successful chat answers keyed by cache_key(), kept in
// memory (an index with LRU order and the bodies, within a byte limit) and persisted to
// SQLite (cache.db in the data dir, WAL) by one writer thread, so a lookup never touches
// the disk and a hit is a map lookup and a string copy. Entries expire after their TTL;
// the least recently used go first when the byte limit is reached; an answer over the
// entry cap is not stored. The semantic index (vectors of cached prompts) lives here too,
// so a vector never outlives its entry.

#include "daemon/cache/semantic_index.hpp"
#include "shared/wire/usage.hpp"

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <expected>
#include <filesystem>
#include <functional>
#include <list>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

namespace SQLite {
class Database;
}

namespace aigw::daemon::cache {

struct CacheOptions {
    std::int64_t default_ttl_s = 3600;
    std::int64_t max_bytes = 256ll << 20;       ///< memory and disk, bodies included
    std::int64_t max_entry_bytes = 1ll << 20;   ///< larger answers are not stored
    std::size_t max_semantic_entries = 10'000;  ///< vectors kept for the semantic cache
    /// Unix ms; tests inject their own clock.
    std::function<std::int64_t()> now_ms;
};

/// One cached answer. Immutable once stored; hits share it.
struct CachedAnswer {
    std::string key;           ///< cache_key() of the request
    std::string body;          ///< the chat.completion (OpenAI shape) as JSON text
    wire::Usage usage;         ///< what the original call used
    double cost_usd = 0;       ///< what the original call cost: what each hit saves
    std::string served_model;  ///< "provider/model" that produced it
    std::int64_t created_ms = 0;
    std::int64_t expires_ms = 0;

    /// The first 16 hex digits of the key: the id headers and `aigw cache` show.
    std::string id() const { return key.substr(0, 16); }
};

struct CacheHit {
    std::shared_ptr<const CachedAnswer> answer;
    std::int64_t age_s = 0;
    double saved_usd = 0;              ///< the original cost; the ledger's saved_usd for this hit
    std::optional<double> similarity;  ///< set for a semantic match
};

struct CacheStats {
    std::int64_t entries = 0;
    std::int64_t bytes = 0;
    std::int64_t max_bytes = 0;
    std::int64_t semantic_entries = 0;
    // Since the daemon started:
    std::int64_t hits = 0;
    std::int64_t semantic_hits = 0;  ///< included in hits
    std::int64_t misses = 0;
    std::int64_t stores = 0;
    std::int64_t evictions = 0;    ///< dropped for room (LRU)
    std::int64_t expirations = 0;  ///< dropped after their TTL
    std::int64_t too_large = 0;    ///< answers over the entry cap, not stored
    double saved_usd = 0;          ///< sum of what the hits saved
    double hit_rate() const
    {
        return hits + misses > 0 ? static_cast<double>(hits) / static_cast<double>(hits + misses) : 0;
    }
};

/// A vector to index with a stored answer (semantic cache).
struct SemanticVector {
    std::string partition;
    std::vector<float> vector;
};

enum class StoreResult { stored, too_large, not_cacheable };

/// An entry as one JSON text (key, body, usage, cost, served model, created and expiry
/// times): what instances of a cluster share through Redis.
std::string encode_cached_answer(const CachedAnswer& answer);
/// The entry encode_cached_answer() wrote, or why the text is not one.
std::expected<CachedAnswer, std::string> decode_cached_answer(std::string_view text);

class ResponseCache {
public:
    /// Opens (creating, mode 0600) the database at `path` and loads the live entries into
    /// memory, most recently used first, up to max_bytes; drops expired ones. An empty
    /// `path` keeps the cache in memory only (tests). Errors name the file.
    static std::expected<std::unique_ptr<ResponseCache>, std::string> open(const std::filesystem::path& path,
                                                                           CacheOptions options);
    ~ResponseCache();
    ResponseCache(const ResponseCache&) = delete;
    ResponseCache& operator=(const ResponseCache&) = delete;

    /// The live entry for `key`, or nullopt. An entry older than `max_age_s` (when given)
    /// is not served. A hit moves the entry to the front of the LRU order and is counted.
    std::optional<CacheHit> lookup(const std::string& key, std::optional<std::int64_t> max_age_s = std::nullopt);
    /// The live entry whose prompt vector in `partition` is most similar to `vector`, at
    /// least `threshold`; counted as a (semantic) hit.
    std::optional<CacheHit> lookup_semantic(const std::string& partition, std::span<const float> vector,
                                            double threshold, std::optional<std::int64_t> max_age_s = std::nullopt);
    /// Takes in an entry another instance stored (decode_cached_answer), keeping its
    /// creation and expiry times, and serves it: the hit, counted like a lookup() hit, or
    /// nullopt when it has expired or is older than `max_age_s`. Kept when it fits.
    std::optional<CacheHit> adopt(CachedAnswer answer, std::optional<std::int64_t> max_age_s = std::nullopt);
    /// The live entry for `key` without touching its LRU position or the counters.
    std::shared_ptr<const CachedAnswer> entry(const std::string& key) const;
    /// Counts a request that found nothing and went upstream.
    void count_miss();

    /// Stores `answer` (key, body, usage, cost_usd, served_model; the times are set here)
    /// for `ttl_s` seconds (the default when nullopt), with its prompt vector when given.
    /// Replaces an entry with the same key; evicts least recently used entries for room.
    /// Never waits for the disk.
    StoreResult store(CachedAnswer answer, std::optional<std::int64_t> ttl_s = std::nullopt,
                      std::optional<SemanticVector> semantic = std::nullopt);

    /// Removes every entry (memory and disk). Returns how many there were.
    std::int64_t clear();
    /// Drops expired entries now (the writer also does it every minute).
    void purge_expired();
    CacheStats stats() const;
    const CacheOptions& options() const { return m_opts; }

    /// Blocks until every change queued so far is on disk.
    void flush();
    /// Writes what is queued and stops the writer. Idempotent.
    void close();

private:
    struct Slot {
        std::shared_ptr<const CachedAnswer> answer;
        std::int64_t bytes = 0;
        std::list<std::string>::iterator lru;  ///< position in m_lru (front = most recent)
    };
    struct Op {
        enum class Kind { put, erase, clear } kind = Kind::put;
        std::shared_ptr<const CachedAnswer> answer;  ///< put
        std::optional<SemanticVector> semantic;      ///< put
        std::string key;                             ///< erase
    };

    explicit ResponseCache(CacheOptions options);
    std::int64_t now_ms() const { return m_opts.now_ms(); }
    /// Removes `it` from memory and queues its deletion. Caller holds m_mu.
    void drop_locked(std::unordered_map<std::string, Slot>::iterator it);
    void enqueue_locked(Op op);
    std::optional<CacheHit> hit_locked(const std::string& key, std::optional<std::int64_t> max_age_s,
                                       std::optional<double> similarity);
    /// Puts `answer` (times set) in memory and queues its write. Caller holds m_mu.
    StoreResult insert_locked(CachedAnswer answer, std::optional<SemanticVector> semantic);
    void load(std::int64_t now);
    void writer_loop();

    CacheOptions m_opts;
    mutable std::mutex m_mu;
    std::unordered_map<std::string, Slot> m_slots;
    std::list<std::string> m_lru;
    SemanticIndex m_semantic;
    CacheStats m_stats;

    // The writer: queued ops and coalesced last-used times, written in one transaction.
    std::unique_ptr<SQLite::Database> m_db;
    std::deque<Op> m_queue;
    std::unordered_map<std::string, std::int64_t> m_touched;
    std::condition_variable m_cv_work;
    std::condition_variable m_cv_flushed;
    std::uint64_t m_enqueued = 0;
    std::uint64_t m_written = 0;
    bool m_stopping = false;
    std::thread m_writer;
    std::mutex m_close_mu;
};

}  // namespace aigw::daemon::cache

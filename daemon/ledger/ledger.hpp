#pragma once
// The usage ledger: one row per request (and per attempt), in SQLite (WAL), written by one
// writer thread from a bounded queue in batched transactions. Nothing on the request path
// waits for the disk; shutdown drains the queue.

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <expected>
#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace SQLite { class Database; }

namespace aigw::daemon::ledger {

struct LedgerRow {
    std::int64_t ts_ms = 0;          ///< unix ms when the request arrived
    std::string request_id;
    std::string key_id;              ///< gateway key id ("default" for the main key)
    std::string surface;             ///< "openai.chat", "anthropic.messages", "openai.embeddings"
    std::string requested_model;
    std::string served_model;        ///< "provider/model" that answered (or was tried)
    std::string provider;
    int status = 0;                  ///< HTTP status returned (or of this attempt)
    int attempt = 1;                 ///< 1-based attempt number within the request
    int attempts = 1;                ///< total attempts of the request
    bool final_attempt = true;       ///< the row that represents the request's outcome
    std::string fallback_reason;     ///< why this attempt happened ("" for the first)
    std::string error;               ///< short error text, never a key
    std::int64_t input_tokens = 0;
    std::int64_t cached_tokens = 0;
    std::int64_t cache_write_tokens = 0;
    std::int64_t output_tokens = 0;
    std::int64_t reasoning_tokens = 0;
    double cost_usd = 0;
    bool priced = true;              ///< false: model not in the catalog, cost is 0
    std::int64_t latency_ms = 0;
    std::int64_t ttft_ms = -1;       ///< -1 when not streamed
    bool stream = false;
    bool cache_hit = false;
    std::string tag;                 ///< e.g. a bench run id
    std::string variant;             ///< A/B variant
    std::string request_body;        ///< only when body logging is on
    std::string response_body;       ///< only when body logging is on
    double saved_usd = 0;            ///< cache hit: what the answer would have cost upstream
};

/// One group of a cost report.
struct CostGroup {
    std::string key;                 ///< model, provider, key id, day (YYYY-MM-DD), ...
    std::int64_t requests = 0;
    std::int64_t errors = 0;
    std::int64_t input_tokens = 0;
    std::int64_t cached_tokens = 0;
    std::int64_t output_tokens = 0;
    double cost_usd = 0;
    std::int64_t cache_hits = 0;
    double avg_latency_ms = 0;
    double saved_usd = 0;            ///< sum of saved_usd (cache hits)
    std::int64_t p95_latency_ms = 0;  ///< nearest-rank p95 of final attempts' latency
};

struct CostQuery {
    std::int64_t since_ms = 0;       ///< inclusive
    std::int64_t until_ms = 0;       ///< exclusive; 0 = now
    std::string group_by = "model";  ///< model | provider | key | day | variant | tag | surface
};

/// A row with its position in the table: row ids grow in commit order, so they are the
/// cursor for following new rows.
struct LedgerEntry {
    std::int64_t row_id = 0;
    LedgerRow row;
};

/// Which rows entries() returns. Empty strings do not filter.
struct EntryFilter {
    std::optional<std::int64_t> after_row_id;  ///< set: rows committed after this one, oldest first
    int limit = 50;                 ///< <= 0: no limit
    bool all_attempts = false;      ///< false: final attempts only
    std::string request_id;         ///< every attempt of one request
    std::string tag;                ///< every row of one run (bench/eval)
};

class Ledger {
public:
    /// Opens (creating) the database at `path`, applies migrations, prunes rows older
    /// than `retention_days` (0 keeps everything), starts the writer thread.
    static std::expected<std::unique_ptr<Ledger>, std::string> open(const std::filesystem::path& path,
                                                                    int retention_days,
                                                                    std::size_t queue_capacity = 65536);
    ~Ledger();
    Ledger(const Ledger&) = delete;
    Ledger& operator=(const Ledger&) = delete;

    /// Queues a row; never blocks on disk. When the queue is full it waits for room
    /// (bounded), so no row is dropped.
    void record(LedgerRow row);
    /// Blocks until every row queued so far is committed.
    void flush();
    /// Drains the queue, commits and stops the writer. Idempotent. Rows recorded after
    /// close() are ignored (the daemon stops its surfaces before closing the ledger).
    void close();
    /// Deletes rows (and their bodies) with ts_ms older than `retention_days` before
    /// `now_ms`; a no-op when retention is 0. Uses its own connection, so the daemon can
    /// call it daily from any thread while the writer runs. Failures go to stderr.
    void prune(std::int64_t now_ms);

    /// Reads a report (on its own read connection; safe from any thread).
    std::expected<std::vector<CostGroup>, std::string> cost(const CostQuery& q) const;
    /// Most recent rows first (final attempts only unless `all_attempts`), with their
    /// bodies when stored. `limit` <= 0 returns every row.
    std::expected<std::vector<LedgerRow>, std::string> recent(int limit, bool all_attempts = false) const;
    /// Rows matching `f`, oldest first: with a cursor, the first `limit` rows after it;
    /// without one, the newest `limit` rows. Bodies are included when stored.
    std::expected<std::vector<LedgerEntry>, std::string> entries(const EntryFilter& f) const;
    /// Schema version after migrations.
    int schema_version() const;

    /// Number of migrations this build knows.
    static int latest_schema_version();

private:
    Ledger() = default;
    void writer_loop();

    std::filesystem::path m_path;
    std::unique_ptr<SQLite::Database> m_db;  ///< writer connection, used only by the writer thread
    mutable std::mutex m_mu;
    std::condition_variable m_cv_has_rows;
    std::condition_variable m_cv_room;
    std::condition_variable m_cv_flushed;
    std::deque<LedgerRow> m_queue;
    std::size_t m_capacity = 0;
    std::uint64_t m_enqueued = 0;
    std::uint64_t m_committed = 0;
    std::size_t m_waiting_recorders = 0;  ///< record() calls blocked on a full queue
    bool m_stopping = false;
    bool m_writer_idle = false;  ///< the writer waits for rows and must be notified
    std::mutex m_close_mu;                ///< serialises close() so the writer is joined once
    std::thread m_writer;
    int m_schema_version = 0;
    int m_retention_days = 0;
};

}  // namespace aigw::daemon::ledger

#pragma once
// The usage ledger: one row per request (and per attempt), in SQLite (WAL), written by one
// writer thread from a bounded queue in batched transactions. Nothing on the request path
// waits for the disk; shutdown drains the queue.
//
// Durability: the writer commits at least every 100 ms and at most 1,000 rows per
// transaction (k_max_commit_delay, k_max_batch_rows): a row recorded while the queue is not
// backlogged is committed within 100 ms, so a SIGKILL loses at most the rows of the last
// 100 ms. With synchronous=NORMAL in WAL a committed row survives a crash of the process;
// a power loss can lose the last commits (not the file). When the writer is behind (its
// queue is deeper than it commits in 100 ms) the bound grows with the queue: depth / rate.
//
// Reports: the writer maintains hourly and daily rollups (table `rollups`) in the same
// transaction as the rows, so reports read committed data that agrees with the rows; they
// never wait for the queue. cost() reads whole days and whole hours from the rollups and the
// partial hours at the range's edges from the rows.
//
// Retention runs in the writer thread, between write batches, 1,000 rows per transaction,
// every 5 minutes (never at open): rows and rollups before the start of the UTC day that is
// `retention_days` old are deleted, then the freed pages are returned to the filesystem with
// incremental vacuum (new ledgers are created with auto_vacuum=INCREMENTAL; an older file
// switches on `vacuum()`).
//
// Files: ledger.db, -wal and -shm are created 0600 and put back to 0600 at every open and
// after vacuum().

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <expected>
#include <filesystem>
#include <iosfwd>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace SQLite {
class Database;
}

namespace aigw::daemon::ledger {

struct LedgerRow {
    std::int64_t ts_ms = 0;  ///< unix ms when the request arrived
    std::string request_id;
    std::string key_id;   ///< gateway key id ("default" for the main key)
    std::string surface;  ///< "openai.chat", "anthropic.messages", "openai.embeddings"
    std::string requested_model;
    std::string served_model;  ///< "provider/model" that answered (or was tried)
    std::string provider;
    int status = 0;               ///< HTTP status returned (or of this attempt)
    int attempt = 1;              ///< 1-based attempt number within the request
    int attempts = 1;             ///< total attempts of the request
    bool final_attempt = true;    ///< the row that represents the request's outcome
    std::string fallback_reason;  ///< why this attempt happened ("" for the first)
    std::string error;            ///< short error text, never a key
    std::int64_t input_tokens = 0;
    std::int64_t cached_tokens = 0;
    std::int64_t cache_write_tokens = 0;
    std::int64_t output_tokens = 0;
    std::int64_t reasoning_tokens = 0;
    double cost_usd = 0;
    bool priced = true;  ///< false: model not in the catalog, cost is 0
    std::int64_t latency_ms = 0;
    std::int64_t ttft_ms = -1;  ///< -1 when not streamed
    bool stream = false;
    bool cache_hit = false;
    std::string tag;            ///< e.g. a bench run id
    std::string variant;        ///< A/B variant
    std::string request_body;   ///< only when body logging is on
    std::string response_body;  ///< only when body logging is on
    double saved_usd = 0;       ///< cache hit: what the answer would have cost upstream
    std::string session;        ///< the agent session (x-aigw-session, an agent's session id)
};

/// One group of a cost report.
struct CostGroup {
    std::string key;  ///< model, provider, key id, day (YYYY-MM-DD), ...
    std::int64_t requests = 0;
    std::int64_t errors = 0;
    std::int64_t input_tokens = 0;
    std::int64_t cached_tokens = 0;
    std::int64_t output_tokens = 0;
    double cost_usd = 0;
    std::int64_t cache_hits = 0;
    double avg_latency_ms = 0;
    double saved_usd = 0;             ///< sum of saved_usd (cache hits)
    std::int64_t p95_latency_ms = 0;  ///< nearest-rank p95 of final attempts' latency
    /// The group's latency histogram (latency_hist.hpp's blob), so groups' histograms add
    /// up to the p95 of a total.
    std::string latency_hist;
};

struct CostQuery {
    std::int64_t since_ms = 0;       ///< inclusive
    std::int64_t until_ms = 0;       ///< exclusive; 0 = now (every committed row)
    std::string group_by = "model";  ///< model | provider | key | day | variant | tag | surface | session
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
    int limit = 50;                            ///< <= 0: no limit
    bool all_attempts = false;                 ///< false: final attempts only
    std::string request_id;                    ///< every attempt of one request
    std::string tag;                           ///< every row of one run (bench/eval)
    std::string key_id;                        ///< one key's rows (index requests_key)
    std::string session;                       ///< one agent session's rows (index requests_session)
    std::string model;                         ///< served model (index requests_model)
    int status = 0;                            ///< one HTTP status; 0: any
    int status_class = 0;                      ///< 1..5: status in [100 x class, 100 x class + 100)
    bool errors_only = false;                  ///< status >= 400 (index requests_errors)
    std::int64_t since_ms = 0;                 ///< > 0: ts_ms >= since_ms
    std::int64_t until_ms = 0;                 ///< > 0: ts_ms < until_ms
};

/// One request that full-text search found, with the matching words in context.
struct SearchHit {
    LedgerEntry entry;
    std::string snippet;  ///< "... the [refund] [policy] says ...": matched words in brackets
};

/// Why search() failed: a query the FTS5 syntax does not accept (the caller's mistake), or
/// the database.
struct SearchError {
    bool bad_query = false;
    std::string message;
};

/// What `aigw ledger stats` shows.
struct LedgerStats {
    std::int64_t rows = 0;          ///< rows in `requests` (every attempt)
    std::int64_t oldest_ts_ms = 0;  ///< 0 when empty
    std::int64_t newest_ts_ms = 0;
    std::int64_t rollup_rows = 0;
    std::int64_t file_bytes = 0;  ///< ledger.db
    std::int64_t wal_bytes = 0;   ///< ledger.db-wal
    std::int64_t page_size = 0;
    std::int64_t page_count = 0;
    std::int64_t free_pages = 0;  ///< pages incremental vacuum can return
    std::string auto_vacuum;      ///< "none", "full" or "incremental"
    int schema_version = 0;
    int retention_days = 0;
    std::size_t queue_depth = 0;  ///< rows recorded, not yet committed
    std::size_t queue_capacity = 0;
};

/// Spend since a time, from the rollups: what budgets are seeded from.
struct Spend {
    double total_usd = 0;
    std::vector<std::pair<std::string, double>> by_key;  ///< key id, usd; sorted by key id
};

enum class ExportFormat { jsonl, csv };

/// Options of Ledger::open beyond the path.
struct LedgerOptions {
    int retention_days = 0;                ///< 0 keeps everything
    std::size_t queue_capacity = 262'144;  ///< rows; record() waits when it is full
    /// Retention runs this long after open, then every `retention_interval`.
    std::chrono::milliseconds first_retention_delay{10'000};
    std::chrono::milliseconds retention_interval{300'000};
};

/// Sets a SQLite database's main file, -wal, -shm and -journal to 0600 (the ones that
/// exist), creating the main file 0600 when it does not exist, so that SQLite, which gives
/// -wal and -shm the main file's mode, never creates them readable by others.
void make_private(const std::filesystem::path& path);

/// Lets SQLite keep a statement journal in memory up to 4 MiB; past its default of 64 KiB
/// it spills to a temporary file. Each of the writer's batch inserts needs one, and spilled
/// they were 70% of the writer's pwrite calls (a file created and unlinked in /var/tmp per
/// batch). Process-wide: call before any database is opened. Returns false when SQLite was
/// already in use, and then nothing changed.
bool keep_statement_journals_in_memory();

/// Turns off SQLite's count of the memory it holds (sqlite3_memory_used(), which aigw does
/// not read): kept, it takes a process-wide mutex around each of SQLite's allocations, a few
/// dozen for every row the writer inserts. Process-wide: call before any database is
/// opened. Returns false when SQLite was already in use, and then nothing changed.
bool skip_sqlite_memory_statistics();

class Ledger {
public:
    /// At most this many rows are committed in one transaction.
    static constexpr std::size_t k_max_batch_rows = 1000;
    /// A recorded row is committed within this delay unless the queue is backlogged.
    static constexpr std::chrono::milliseconds k_max_commit_delay{100};
    /// Rows deleted per retention/prune transaction, between write batches.
    static constexpr int k_prune_batch_rows = 1000;

    /// Opens (creating, 0600) the database at `path`, applies migrations and starts the
    /// writer thread. Retention (`retention_days`, 0 keeps everything) runs later in the
    /// writer thread, never here. Returns an error naming the file when it cannot be opened
    /// or migrated.
    static std::expected<std::unique_ptr<Ledger>, std::string> open(const std::filesystem::path& path,
                                                                    int retention_days,
                                                                    std::size_t queue_capacity = 262'144);
    static std::expected<std::unique_ptr<Ledger>, std::string> open(const std::filesystem::path& path,
                                                                    const LedgerOptions& options);
    ~Ledger();
    Ledger(const Ledger&) = delete;
    Ledger& operator=(const Ledger&) = delete;

    /// Queues a row; never blocks on disk and never drops a row: when the queue is full
    /// (queue_capacity rows, the writer far behind) it waits for room, that is until the
    /// writer takes its next batch. The daemon's dispatcher calls this on its event loop, so
    /// a full queue stalls that loop (README, "The ledger"); try_record() never waits.
    void record(LedgerRow row);
    /// Queues a row and returns true; or returns false, leaving `row` untouched, when the
    /// queue is full (or the ledger is closed). Never blocks.
    bool try_record(LedgerRow&& row);
    /// Rows recorded and not yet committed.
    std::size_t queue_depth() const;
    /// Rows the queue holds before record() waits.
    std::size_t queue_capacity() const { return m_capacity; }
    /// How long the oldest row not yet committed has waited since it was recorded (zero
    /// when every row is committed): the writer's lag behind the request path.
    std::chrono::milliseconds lag() const;
    /// Blocks until every row queued so far is committed.
    void flush();
    /// Drains the queue, commits and stops the writer. Idempotent. Rows recorded after
    /// close() are ignored (the daemon stops its surfaces before closing the ledger).
    void close();
    /// Applies retention now: deletes rows older than `retention_days` before `now_ms`
    /// (see prune_before); a no-op when retention is 0. Blocks until done; failures go to
    /// stderr. The writer also does this by itself every 5 minutes.
    void prune(std::int64_t now_ms);
    /// Deletes rows, their bodies and rollups before the start of the UTC day containing
    /// `before_ms` (whole days, so rollups and rows stay in agreement), in the writer thread,
    /// 1,000 rows per transaction between write batches, then runs incremental vacuum.
    /// Blocks until done; returns the number of rows deleted, or an error.
    std::expected<std::int64_t, std::string> prune_before(std::int64_t before_ms);
    /// Switches the file to auto_vacuum=INCREMENTAL if it is not, and rebuilds it (VACUUM)
    /// so it shrinks to its data. Runs in the writer thread: rows recorded meanwhile wait in
    /// the queue (a large file takes seconds to minutes). Returns the file size after, or an
    /// error.
    std::expected<std::int64_t, std::string> vacuum();
    /// Counts and sizes (its own read connection; safe from any thread).
    std::expected<LedgerStats, std::string> stats() const;
    /// Writes every row with since_ms <= ts_ms < until_ms (until 0: now), oldest first, as
    /// JSON lines or CSV (with a header line) to `out`. Returns the number of rows written,
    /// or an error (a failed stream included).
    std::expected<std::int64_t, std::string> export_rows(std::int64_t since_ms, std::int64_t until_ms,
                                                         ExportFormat format, std::ostream& out) const;
    /// Spend per key and in total since `since_ms` (until now), from the rollups plus the
    /// rows of the current partial hour: what the limiter's budgets are seeded from.
    std::expected<Spend, std::string> spend_since(std::int64_t since_ms) const;

    /// Reads a report (on its own read connection; safe from any thread). Whole days and
    /// hours come from the rollups, partial hours at the edges from the rows; p95 from the
    /// rollups' latency buckets (within 4.5% + 0.5 ms of the exact nearest-rank value).
    std::expected<std::vector<CostGroup>, std::string> cost(const CostQuery& q) const;
    /// Most recent rows first (final attempts only unless `all_attempts`), with their
    /// bodies when stored. `limit` <= 0 returns every row.
    std::expected<std::vector<LedgerRow>, std::string> recent(int limit, bool all_attempts = false) const;
    /// Rows matching `f`, oldest first: with a cursor, the first `limit` rows after it;
    /// without one, the newest `limit` rows. Bodies are included when stored.
    std::expected<std::vector<LedgerEntry>, std::string> entries(const EntryFilter& f) const;
    /// Requests whose stored bodies match the FTS5 query `query` (words, "a phrase",
    /// prefix*, AND/OR/NOT, NEAR), newest first, filtered by `f` (its cursor is ignored;
    /// `limit` <= 0: every match). A word in a conversation's history matches the earliest
    /// request that holds that message, not every later turn that repeats it; an answer
    /// matches the request that got it (and the turn that first sends it back as history).
    /// Bodies are included. Errors: bad_query for a query FTS5 rejects.
    std::expected<std::vector<SearchHit>, SearchError> search(const std::string& query, const EntryFilter& f) const;
    /// Schema version after migrations.
    int schema_version() const;

    /// Number of migrations this build knows.
    static int latest_schema_version();

private:
    struct Job;
    Ledger() = default;
    void writer_loop();
    /// One bounded step of pending maintenance (a prune batch, a vacuum step); true when
    /// there is more to do.
    bool maintenance_step();
    std::expected<std::int64_t, std::string> run_job(int kind, std::int64_t before_ms);

    std::filesystem::path m_path;
    std::unique_ptr<SQLite::Database> m_db;  ///< writer connection, used only by the writer thread
    mutable std::mutex m_mu;
    std::condition_variable m_cv_has_rows;
    std::condition_variable m_cv_room;
    std::condition_variable m_cv_flushed;
    std::deque<LedgerRow> m_queue;
    std::deque<std::chrono::steady_clock::time_point> m_queued_at;           ///< when each row of m_queue was recorded
    std::optional<std::chrono::steady_clock::time_point> m_batch_queued_at;  ///< the batch being written: its oldest
    std::deque<std::shared_ptr<Job>> m_jobs;                                 ///< prune/vacuum requests for the writer
    std::shared_ptr<Job> m_retention_job;  ///< the writer's own retention run, if one is going
    std::size_t m_capacity = 0;
    std::uint64_t m_enqueued = 0;
    std::uint64_t m_committed = 0;
    std::size_t m_waiting_recorders = 0;  ///< record() calls blocked on a full queue
    bool m_stopping = false;
    bool m_writer_idle = false;  ///< the writer waits for rows and must be notified
    std::mutex m_close_mu;       ///< serialises close() so the writer is joined once
    std::thread m_writer;
    int m_schema_version = 0;
    LedgerOptions m_options;
};

}  // namespace aigw::daemon::ledger

#pragma once
// The shared team ledger in PostgreSQL ([cluster] postgres_url).
//
// Every instance keeps writing its own SQLite ledger exactly as without a cluster: that file
// is the spool. A replicator thread (libpq is used on no other thread but the report
// readers of the admin API's blocking pool) copies committed `requests` rows from it to
// PostgreSQL in batches of up to 1,000 rows, one multi-row INSERT per batch with
// ON CONFLICT (instance_id, local_id) DO NOTHING: a retry after a crash or a lost COMMIT
// answer never duplicates a row. The high-water mark is not stored locally: it is
// max(local_id) of this instance's rows in PostgreSQL, read at every (re)connect, so the
// replicator writes nothing into the SQLite file another thread owns.
//
// Instance id: 32 random hex digits generated once into `instance_id` (0600) in the data
// dir, so a restart on the same data dir (after a SIGKILL too) resumes where PostgreSQL
// stopped, and two data dirs on one host are two instances. It is renewed when the local
// row ids start again below the high-water mark (a new ledger.db under an old id).
//
// When PostgreSQL is unreachable the replicator retries with backoff (100 ms doubling to
// 2 s), logs once when it goes down and once when it has caught up again with how many
// rows it copied meanwhile; the rows wait in SQLite. stop() makes one last attempt, bounded
// by its timeout, to push the tail.
//
// Bodies (request/response) are not replicated: they stay in each instance's SQLite.

#include "daemon/cluster/pg.hpp"
#include "daemon/ledger/ledger.hpp"
#include "daemon/ledger/ledger_query.hpp"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <expected>
#include <filesystem>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace aigw::daemon::cluster {

/// One multi-row INSERT: its SQL with $n placeholders and the parameters in text form.
struct PgInsert {
    std::string sql;
    std::vector<std::string> params;
};

/// The INSERT ... ON CONFLICT (instance_id, local_id) DO NOTHING of `rows` (empty rows: an
/// empty sql). Numbers are written so that they read back exactly (shortest round-trip
/// form for doubles).
PgInsert encode_insert(std::string_view instance_id, const std::vector<ledger::LedgerEntry>& rows);

/// Reads the instance id from `data_dir`/instance_id, creating it (32 random hex digits,
/// 0600) on first use. Errors name the file.
std::expected<std::string, std::string> load_or_create_instance_id(const std::filesystem::path& data_dir);
/// Replaces `data_dir`/instance_id with a new random id and returns it.
std::expected<std::string, std::string> renew_instance_id(const std::filesystem::path& data_dir);

struct PgLedgerOptions {
    std::string url;                    ///< postgresql://... (a secret: never logged as is)
    std::filesystem::path ledger_path;  ///< the local SQLite ledger (ledger.db)
    /// This data dir's id (load_or_create_instance_id). When the local ledger's row ids
    /// start again below what PostgreSQL holds for it (ledger.db deleted, or retention
    /// pruned every row), the replicator renews the id in `data_dir`, so the new rows are
    /// not taken for rows already copied.
    std::string instance_id;
    std::filesystem::path data_dir;
    std::chrono::milliseconds poll{200};          ///< how often the local ledger is checked for new rows
    std::chrono::milliseconds max_backoff{2000};  ///< retry delay cap while PostgreSQL is down
    std::size_t batch_rows = 1000;
    /// > 0: rows older than the start of the UTC day `retention_days` ago are deleted from
    /// PostgreSQL (hourly, 10,000 rows per statement), as the local ledger's retention does.
    /// Instances with different settings: the shortest wins.
    int retention_days = 0;
    std::chrono::milliseconds retention_interval{3'600'000};
};

/// The replicator, and the team ledger's answers to `aigw cost` and `aigw logs`
/// (ledger_query.hpp: the same SQL and the same finishing as the SQLite ledger's). Each
/// answer opens its own connection and blocks: call it on a thread made for that (the
/// admin API's blocking pool), never an event loop. Errors name the redacted URL and say
/// what to do.
class PgLedger final : public ledger::LedgerReader {
public:
    /// Starts the replicator thread. Never fails: an unreachable server is retried.
    explicit PgLedger(PgLedgerOptions options);
    ~PgLedger();
    PgLedger(const PgLedger&) = delete;
    PgLedger& operator=(const PgLedger&) = delete;

    /// Blocks until every row committed to the local ledger before the call is in
    /// PostgreSQL, or `timeout` passed. Returns whether it got there. Never call it on an
    /// event loop.
    bool sync(std::chrono::milliseconds timeout);
    /// Stops the replicator after one last attempt to push the tail, bounded by `timeout`.
    /// Idempotent.
    void stop(std::chrono::milliseconds timeout);

    /// Every instance's rows. p95 comes from the same latency buckets as the local ledger's.
    std::expected<ledger::CostReport, std::string> cost_report(const ledger::CostQuery& q) const override;
    /// Every instance's rows; LedgerEntry::row_id is the team ledger's cursor (`seq`: the
    /// order rows reached PostgreSQL), not an instance's row id. Bodies stay in each
    /// instance's SQLite ledger and are not included.
    std::expected<std::vector<ledger::LedgerEntry>, std::string> entries(const ledger::EntryFilter& f) const override;
    /// Deletes rows before the start of the UTC day containing `before_ms`. Returns how many.
    std::expected<std::int64_t, std::string> prune_before(std::int64_t before_ms) const;

    /// Whether the last attempt to reach PostgreSQL succeeded.
    bool up() const { return m_up.load(); }
    /// Rows this process copied to PostgreSQL (not counting rows already there).
    std::int64_t replicated_rows() const { return m_replicated.load(); }

private:
    void run();
    std::expected<PgConn, std::string> connect_for_reading() const;

    PgLedgerOptions m_options;
    std::string m_redacted_url;
    mutable std::mutex m_mu;
    std::condition_variable m_cv;         ///< wakes the replicator (sync request, stop)
    std::condition_variable m_cv_synced;  ///< wakes sync() waiters
    std::uint64_t m_sync_requested = 0;   ///< generation asked for by sync()
    std::uint64_t m_sync_done = 0;        ///< generation the replicator caught up to
    bool m_stopping = false;
    std::chrono::steady_clock::time_point m_stop_deadline;
    std::atomic<bool> m_up{false};
    std::atomic<std::int64_t> m_replicated{0};
    std::mutex m_stop_mu;
    std::thread m_thread;
};

}  // namespace aigw::daemon::cluster

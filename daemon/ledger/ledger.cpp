#include "daemon/ledger/ledger.hpp"

#include "daemon/ledger/migrations.hpp"

#include <SQLiteCpp/SQLiteCpp.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <iostream>
#include <optional>
#include <string_view>
#include <utility>

namespace aigw::daemon::ledger {

namespace {

constexpr int k_busy_timeout_ms = 5000;
/// Most rows one transaction commits; the writer takes everything queued up to this.
constexpr std::size_t k_max_batch_rows = 1024;
/// How long the writer waits for more rows before committing a small batch.
constexpr std::chrono::milliseconds k_linger{2};
/// A batch that fails (e.g. the disk is briefly locked by another process) is retried this
/// many times before its rows are reported as lost on stderr.
constexpr int k_write_tries = 3;
constexpr std::int64_t k_ms_per_day = 86'400'000;

constexpr const char* k_insert_request_sql =
    "INSERT INTO requests(ts_ms, request_id, key_id, surface, requested_model, served_model, "
    "provider, status, attempt, attempts, final_attempt, fallback_reason, error, input_tokens, "
    "cached_tokens, cache_write_tokens, output_tokens, reasoning_tokens, cost_usd, priced, "
    "latency_ms, ttft_ms, stream, cache_hit, tag, variant, saved_usd) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)";

constexpr const char* k_insert_body_sql =
    "INSERT INTO request_bodies(request_row_id, request_body, response_body) VALUES (?, ?, ?)";

/// Columns read back into a LedgerRow, in the order row_from() expects them.
constexpr const char* k_select_row_sql =
    "SELECT r.ts_ms, r.request_id, r.key_id, r.surface, r.requested_model, r.served_model, "
    "r.provider, r.status, r.attempt, r.attempts, r.final_attempt, r.fallback_reason, r.error, "
    "r.input_tokens, r.cached_tokens, r.cache_write_tokens, r.output_tokens, r.reasoning_tokens, "
    "r.cost_usd, r.priced, r.latency_ms, r.ttft_ms, r.stream, r.cache_hit, r.tag, r.variant, "
    "COALESCE(b.request_body, ''), COALESCE(b.response_body, ''), r.saved_usd "
    "FROM requests r LEFT JOIN request_bodies b ON b.request_row_id = r.id ";

/// group_by names and the SQL expression each one groups on (a fixed list: never
/// interpolate user text into SQL).
constexpr std::array<std::pair<std::string_view, std::string_view>, 7> k_group_columns{{
    {"model", "served_model"},
    {"provider", "provider"},
    {"key", "key_id"},
    {"day", "date(ts_ms / 1000, 'unixepoch')"},
    {"variant", "variant"},
    {"tag", "tag"},
    {"surface", "surface"},
}};

std::int64_t now_ms() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

/// Deletes rows older than `cutoff_ms` and their bodies, in one transaction.
void delete_rows_before(SQLite::Database& db, std::int64_t cutoff_ms) {
    SQLite::Transaction transaction(db, SQLite::TransactionBehavior::IMMEDIATE);
    SQLite::Statement bodies(db,
                             "DELETE FROM request_bodies WHERE request_row_id IN "
                             "(SELECT id FROM requests WHERE ts_ms < ?)");
    bodies.bind(1, cutoff_ms);
    bodies.exec();
    SQLite::Statement rows(db, "DELETE FROM requests WHERE ts_ms < ?");
    rows.bind(1, cutoff_ms);
    rows.exec();
    transaction.commit();
}

SQLite::Database open_reader(const std::filesystem::path& path) {
    return SQLite::Database(path, SQLite::OPEN_READONLY, k_busy_timeout_ms);
}

LedgerRow row_from(SQLite::Statement& query, int first_column = 0) {
    LedgerRow row;
    int column = first_column;
    auto next = [&] { return query.getColumn(column++); };
    row.ts_ms = next().getInt64();
    row.request_id = next().getString();
    row.key_id = next().getString();
    row.surface = next().getString();
    row.requested_model = next().getString();
    row.served_model = next().getString();
    row.provider = next().getString();
    row.status = next().getInt();
    row.attempt = next().getInt();
    row.attempts = next().getInt();
    row.final_attempt = next().getInt() != 0;
    row.fallback_reason = next().getString();
    row.error = next().getString();
    row.input_tokens = next().getInt64();
    row.cached_tokens = next().getInt64();
    row.cache_write_tokens = next().getInt64();
    row.output_tokens = next().getInt64();
    row.reasoning_tokens = next().getInt64();
    row.cost_usd = next().getDouble();
    row.priced = next().getInt() != 0;
    row.latency_ms = next().getInt64();
    row.ttft_ms = next().getInt64();
    row.stream = next().getInt() != 0;
    row.cache_hit = next().getInt() != 0;
    row.tag = next().getString();
    row.variant = next().getString();
    row.request_body = next().getString();
    row.response_body = next().getString();
    row.saved_usd = next().getDouble();
    return row;
}

/// Writes one batch in one transaction with the writer's cached statements.
void write_batch(SQLite::Database& db, SQLite::Statement& insert_request, SQLite::Statement& insert_body,
                 const std::vector<LedgerRow>& batch) {
    SQLite::Transaction transaction(db);
    for (const LedgerRow& row : batch) {
        int i = 1;
        // The rows outlive each exec(), so strings are bound without copying.
        insert_request.bind(i++, row.ts_ms);
        insert_request.bindNoCopy(i++, row.request_id);
        insert_request.bindNoCopy(i++, row.key_id);
        insert_request.bindNoCopy(i++, row.surface);
        insert_request.bindNoCopy(i++, row.requested_model);
        insert_request.bindNoCopy(i++, row.served_model);
        insert_request.bindNoCopy(i++, row.provider);
        insert_request.bind(i++, row.status);
        insert_request.bind(i++, row.attempt);
        insert_request.bind(i++, row.attempts);
        insert_request.bind(i++, static_cast<int>(row.final_attempt));
        insert_request.bindNoCopy(i++, row.fallback_reason);
        insert_request.bindNoCopy(i++, row.error);
        insert_request.bind(i++, row.input_tokens);
        insert_request.bind(i++, row.cached_tokens);
        insert_request.bind(i++, row.cache_write_tokens);
        insert_request.bind(i++, row.output_tokens);
        insert_request.bind(i++, row.reasoning_tokens);
        insert_request.bind(i++, row.cost_usd);
        insert_request.bind(i++, static_cast<int>(row.priced));
        insert_request.bind(i++, row.latency_ms);
        insert_request.bind(i++, row.ttft_ms);
        insert_request.bind(i++, static_cast<int>(row.stream));
        insert_request.bind(i++, static_cast<int>(row.cache_hit));
        insert_request.bindNoCopy(i++, row.tag);
        insert_request.bindNoCopy(i++, row.variant);
        insert_request.bind(i++, row.saved_usd);
        insert_request.exec();
        insert_request.reset();
        if (!row.request_body.empty() || !row.response_body.empty()) {
            insert_body.bind(1, db.getLastInsertRowid());
            insert_body.bindNoCopy(2, row.request_body);
            insert_body.bindNoCopy(3, row.response_body);
            insert_body.exec();
            insert_body.reset();
        }
    }
    transaction.commit();
}

}  // namespace

std::expected<std::unique_ptr<Ledger>, std::string> Ledger::open(const std::filesystem::path& path,
                                                                 int retention_days,
                                                                 std::size_t queue_capacity) {
    std::unique_ptr<Ledger> ledger(new Ledger());
    ledger->m_path = path;
    ledger->m_capacity = std::max<std::size_t>(queue_capacity, 1);
    ledger->m_retention_days = std::max(retention_days, 0);
    try {
        if (path.has_parent_path()) {
            std::error_code ignored;  // the open below reports a missing directory
            std::filesystem::create_directories(path.parent_path(), ignored);
        }
        ledger->m_db = std::make_unique<SQLite::Database>(
            path, SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE, k_busy_timeout_ms);
        const std::string mode = ledger->m_db->execAndGet("PRAGMA journal_mode=WAL").getString();
        if (mode != "wal") {
            return std::unexpected("cannot put the ledger database " + path.string() +
                                   " in WAL mode (got '" + mode +
                                   "'); put the data dir on a local filesystem");
        }
        ledger->m_db->exec("PRAGMA synchronous=NORMAL");
    } catch (const std::exception& e) {
        return std::unexpected("cannot open the ledger database " + path.string() + ": " + e.what() +
                               "; check that the data dir exists and is writable");
    }

    auto version = apply_migrations(*ledger->m_db);
    if (!version) {
        return std::unexpected(path.string() + ": " + version.error());
    }
    ledger->m_schema_version = *version;

    if (ledger->m_retention_days > 0) {
        try {
            delete_rows_before(*ledger->m_db, now_ms() - ledger->m_retention_days * k_ms_per_day);
        } catch (const std::exception& e) {
            return std::unexpected("cannot prune old rows from the ledger " + path.string() + ": " +
                                   e.what());
        }
    }

    ledger->m_writer = std::thread([raw = ledger.get()] { raw->writer_loop(); });
    return ledger;
}

Ledger::~Ledger() { close(); }

void Ledger::record(LedgerRow row) {
    std::unique_lock lock(m_mu);
    if (m_stopping) {
        return;
    }
    if (m_queue.size() >= m_capacity) {
        // Counted so that close() keeps the writer alive until this row is queued too.
        ++m_waiting_recorders;
        m_cv_room.wait(lock, [&] { return m_queue.size() < m_capacity; });
        --m_waiting_recorders;
    }
    m_queue.push_back(std::move(row));
    ++m_enqueued;
    // Notified under the lock: once the writer can see this row, close() may finish and
    // destroy the ledger, so this thread must not touch it after unlocking. Only an idle
    // writer needs waking; a busy or lingering one takes this row with its batch.
    if (m_writer_idle) {
        m_cv_has_rows.notify_one();
    }
}

void Ledger::flush() {
    std::unique_lock lock(m_mu);
    const std::uint64_t target = m_enqueued;
    m_cv_flushed.wait(lock, [&] { return m_committed >= target; });
}

void Ledger::close() {
    std::lock_guard close_lock(m_close_mu);
    {
        std::lock_guard lock(m_mu);
        m_stopping = true;
    }
    m_cv_has_rows.notify_all();
    if (m_writer.joinable()) {
        m_writer.join();
    }
    // Closing the last connection checkpoints the WAL into the main file.
    m_db.reset();
}

void Ledger::prune(std::int64_t now_ms) {
    if (m_retention_days <= 0) {
        return;
    }
    try {
        SQLite::Database db(m_path, SQLite::OPEN_READWRITE, k_busy_timeout_ms);
        delete_rows_before(db, now_ms - m_retention_days * k_ms_per_day);
    } catch (const std::exception& e) {
        std::cerr << "aigw ledger: pruning " << m_path.string() << " failed: " << e.what()
                  << "; it will be retried at the next prune\n";
    }
}

void Ledger::writer_loop() {
    // Prepared once and reused for every row: preparing per row costs more than the insert.
    std::optional<SQLite::Statement> insert_request;
    std::optional<SQLite::Statement> insert_body;
    std::vector<LedgerRow> batch;
    batch.reserve(k_max_batch_rows);
    for (;;) {
        {
            std::unique_lock lock(m_mu);
            m_writer_idle = true;
            m_cv_has_rows.wait(lock, [&] {
                return !m_queue.empty() || (m_stopping && m_waiting_recorders == 0);
            });
            m_writer_idle = false;
            if (m_queue.empty()) {
                return;  // stopping, and every row has been committed
            }
            if (!m_stopping && m_queue.size() < k_max_batch_rows) {
                // Linger briefly so rows arriving together share one transaction: under
                // load that is one commit per few ms instead of one per request.
                lock.unlock();
                std::this_thread::sleep_for(k_linger);
                lock.lock();
            }
            const std::size_t n = std::min(m_queue.size(), k_max_batch_rows);
            const auto end = m_queue.begin() + static_cast<std::ptrdiff_t>(n);
            std::move(m_queue.begin(), end, std::back_inserter(batch));
            m_queue.erase(m_queue.begin(), end);
            m_cv_room.notify_all();
        }

        for (int attempt = 1; attempt <= k_write_tries; ++attempt) {
            try {
                if (!insert_request) {
                    insert_request.emplace(*m_db, k_insert_request_sql);
                    insert_body.emplace(*m_db, k_insert_body_sql);
                }
                write_batch(*m_db, *insert_request, *insert_body, batch);
                break;
            } catch (const std::exception& e) {
                if (insert_request) {
                    insert_request->tryReset();
                    insert_body->tryReset();
                }
                if (attempt == k_write_tries) {
                    std::cerr << "aigw ledger: lost " << batch.size() << " rows, writing "
                              << m_path.string() << " failed " << k_write_tries
                              << " times: " << e.what() << "\n";
                } else {
                    std::this_thread::sleep_for(std::chrono::milliseconds(100 * attempt));
                }
            }
        }

        {
            std::lock_guard lock(m_mu);
            m_committed += batch.size();
            m_cv_flushed.notify_all();
        }
        batch.clear();
    }
}

std::expected<std::vector<CostGroup>, std::string> Ledger::cost(const CostQuery& q) const {
    const auto column = std::find_if(k_group_columns.begin(), k_group_columns.end(),
                                     [&](const auto& entry) { return entry.first == q.group_by; });
    if (column == k_group_columns.end()) {
        return std::unexpected("unknown group_by '" + q.group_by +
                               "'; use one of: model, provider, key, day, variant, tag, surface");
    }
    // Money and tokens count every attempt (a stream cut mid-way was billed); requests,
    // errors, cache hits and latency describe outcomes, so only final attempts count.
    const std::string sql =
        "SELECT " + std::string(column->second) +
        " AS group_key, "
        "SUM(final_attempt), "
        "SUM(CASE WHEN final_attempt = 1 AND status >= 400 THEN 1 ELSE 0 END), "
        "SUM(input_tokens), SUM(cached_tokens), SUM(output_tokens), SUM(cost_usd), "
        "SUM(CASE WHEN final_attempt = 1 AND cache_hit = 1 THEN 1 ELSE 0 END), "
        "COALESCE(AVG(CASE WHEN final_attempt = 1 THEN latency_ms END), 0), "
        "SUM(saved_usd) "
        "FROM requests WHERE ts_ms >= ? AND ts_ms < ? "
        "GROUP BY group_key ORDER BY SUM(cost_usd) DESC, group_key ASC";
    try {
        SQLite::Database db = open_reader(m_path);
        SQLite::Statement query(db, sql);
        query.bind(1, q.since_ms);
        query.bind(2, q.until_ms == 0 ? now_ms() : q.until_ms);
        std::vector<CostGroup> groups;
        while (query.executeStep()) {
            CostGroup group;
            group.key = query.getColumn(0).getString();
            group.requests = query.getColumn(1).getInt64();
            group.errors = query.getColumn(2).getInt64();
            group.input_tokens = query.getColumn(3).getInt64();
            group.cached_tokens = query.getColumn(4).getInt64();
            group.output_tokens = query.getColumn(5).getInt64();
            group.cost_usd = query.getColumn(6).getDouble();
            group.cache_hits = query.getColumn(7).getInt64();
            group.avg_latency_ms = query.getColumn(8).getDouble();
            group.saved_usd = query.getColumn(9).getDouble();
            groups.push_back(std::move(group));
        }
        // Nearest-rank p95 of the final attempts' latency per group: the smallest latency
        // whose rank within its group reaches 95% of the group's count.
        const std::string p95_sql =
            "SELECT group_key, MIN(latency_ms) FROM (SELECT " + std::string(column->second) +
            " AS group_key, latency_ms, "
            "ROW_NUMBER() OVER (PARTITION BY " + std::string(column->second) + " ORDER BY latency_ms) AS rn, "
            "COUNT(*) OVER (PARTITION BY " + std::string(column->second) + ") AS n "
            "FROM requests WHERE final_attempt = 1 AND ts_ms >= ? AND ts_ms < ?) "
            "WHERE rn * 100 >= n * 95 GROUP BY group_key";
        SQLite::Statement p95(db, p95_sql);
        p95.bind(1, q.since_ms);
        p95.bind(2, q.until_ms == 0 ? now_ms() : q.until_ms);
        while (p95.executeStep()) {
            const std::string key = p95.getColumn(0).getString();
            for (auto& group : groups) {
                if (group.key == key) {
                    group.p95_latency_ms = p95.getColumn(1).getInt64();
                }
            }
        }
        return groups;
    } catch (const std::exception& e) {
        return std::unexpected("cannot read the ledger " + m_path.string() + ": " + e.what());
    }
}

std::expected<std::vector<LedgerRow>, std::string> Ledger::recent(int limit, bool all_attempts) const {
    // ORDER BY ts_ms, id walks the ts_ms index backwards (it holds the rowid) and stops at
    // the limit; the final_attempt filter is applied on the way.
    std::string sql = k_select_row_sql;
    if (!all_attempts) {
        sql += "WHERE r.final_attempt = 1 ";
    }
    sql += "ORDER BY r.ts_ms DESC, r.id DESC LIMIT ?";
    try {
        SQLite::Database db = open_reader(m_path);
        SQLite::Statement query(db, sql);
        query.bind(1, limit > 0 ? limit : -1);  // SQLite: a negative LIMIT means none
        std::vector<LedgerRow> rows;
        while (query.executeStep()) {
            rows.push_back(row_from(query));
        }
        return rows;
    } catch (const std::exception& e) {
        return std::unexpected("cannot read the ledger " + m_path.string() + ": " + e.what());
    }
}

std::expected<std::vector<LedgerEntry>, std::string> Ledger::entries(const EntryFilter& f) const {
    // k_select_row_sql with the row id in front: "SELECT r.id, r.ts_ms, ...".
    std::string sql = "SELECT r.id, " + std::string(k_select_row_sql).substr(std::string_view("SELECT ").size());
    std::vector<std::string> where;
    if (!f.all_attempts && f.request_id.empty()) {
        where.emplace_back("r.final_attempt = 1");
    }
    if (f.after_row_id) {
        where.emplace_back("r.id > :after");
    }
    if (!f.request_id.empty()) {
        where.emplace_back("r.request_id = :request_id");
    }
    if (!f.tag.empty()) {
        where.emplace_back("r.tag = :tag");
    }
    for (std::size_t i = 0; i < where.size(); ++i) {
        sql += (i == 0 ? "WHERE " : "AND ") + where[i] + " ";
    }
    // Without a cursor the newest rows are wanted: take them newest first, then reverse.
    const bool newest = !f.after_row_id;
    sql += newest ? "ORDER BY r.id DESC LIMIT :limit" : "ORDER BY r.id ASC LIMIT :limit";
    try {
        SQLite::Database db = open_reader(m_path);
        SQLite::Statement query(db, sql);
        if (f.after_row_id) {
            query.bind(":after", *f.after_row_id);
        }
        if (!f.request_id.empty()) {
            query.bind(":request_id", f.request_id);
        }
        if (!f.tag.empty()) {
            query.bind(":tag", f.tag);
        }
        query.bind(":limit", f.limit > 0 ? f.limit : -1);
        std::vector<LedgerEntry> out;
        while (query.executeStep()) {
            LedgerEntry entry;
            entry.row_id = query.getColumn(0).getInt64();
            entry.row = row_from(query, 1);
            out.push_back(std::move(entry));
        }
        if (newest) {
            std::reverse(out.begin(), out.end());
        }
        return out;
    } catch (const std::exception& e) {
        return std::unexpected("cannot read the ledger " + m_path.string() + ": " + e.what());
    }
}

int Ledger::schema_version() const { return m_schema_version; }

int Ledger::latest_schema_version() { return static_cast<int>(ledger_migrations().size()); }

}  // namespace aigw::daemon::ledger

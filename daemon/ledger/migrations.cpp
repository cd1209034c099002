#include "daemon/ledger/migrations.hpp"

#include <SQLiteCpp/SQLiteCpp.h>

#include <array>

namespace aigw::daemon::ledger {

namespace {

// Indexes, by the query that needs them:
//   ts_ms                 cost() range scans, recent() newest-first, retention pruning
//   served_model, ts_ms   per-model reports over a time range
//   key_id, ts_ms         per-key reports and budgets
//   request_id            `aigw logs <request id>` (all attempts of one request)
//   tag                   bench/eval runs, which tag their rows
constexpr std::array k_migrations{
    Migration{1, "create requests and request_bodies",
              R"sql(
CREATE TABLE requests (
    id                 INTEGER PRIMARY KEY,
    ts_ms              INTEGER NOT NULL,
    request_id         TEXT    NOT NULL,
    key_id             TEXT    NOT NULL DEFAULT '',
    surface            TEXT    NOT NULL DEFAULT '',
    requested_model    TEXT    NOT NULL DEFAULT '',
    served_model       TEXT    NOT NULL DEFAULT '',
    provider           TEXT    NOT NULL DEFAULT '',
    status             INTEGER NOT NULL DEFAULT 0,
    attempt            INTEGER NOT NULL DEFAULT 1,
    attempts           INTEGER NOT NULL DEFAULT 1,
    final_attempt      INTEGER NOT NULL DEFAULT 1,
    fallback_reason    TEXT    NOT NULL DEFAULT '',
    error              TEXT    NOT NULL DEFAULT '',
    input_tokens       INTEGER NOT NULL DEFAULT 0,
    cached_tokens      INTEGER NOT NULL DEFAULT 0,
    cache_write_tokens INTEGER NOT NULL DEFAULT 0,
    output_tokens      INTEGER NOT NULL DEFAULT 0,
    reasoning_tokens   INTEGER NOT NULL DEFAULT 0,
    cost_usd           REAL    NOT NULL DEFAULT 0,
    priced             INTEGER NOT NULL DEFAULT 1,
    latency_ms         INTEGER NOT NULL DEFAULT 0,
    ttft_ms            INTEGER NOT NULL DEFAULT -1,
    stream             INTEGER NOT NULL DEFAULT 0,
    cache_hit          INTEGER NOT NULL DEFAULT 0,
    tag                TEXT    NOT NULL DEFAULT '',
    variant            TEXT    NOT NULL DEFAULT ''
);
CREATE TABLE request_bodies (
    request_row_id     INTEGER PRIMARY KEY REFERENCES requests(id),
    request_body       TEXT    NOT NULL DEFAULT '',
    response_body      TEXT    NOT NULL DEFAULT ''
);
)sql"},
    Migration{2, "indexes for reports and retention",
              R"sql(
CREATE INDEX requests_ts ON requests(ts_ms);
CREATE INDEX requests_model_ts ON requests(served_model, ts_ms);
CREATE INDEX requests_key_ts ON requests(key_id, ts_ms);
CREATE INDEX requests_request_id ON requests(request_id);
CREATE INDEX requests_tag ON requests(tag);
)sql"},
    // What a cache hit saved: the cost the request would have had upstream (0 otherwise).
    Migration{3, "saved_usd for cache savings",
              R"sql(
ALTER TABLE requests ADD COLUMN saved_usd REAL NOT NULL DEFAULT 0;
)sql"},
};

int current_version(SQLite::Database& db) {
    SQLite::Statement query(db, "SELECT COALESCE(MAX(version), 0) FROM schema_migrations");
    query.executeStep();
    return query.getColumn(0).getInt();
}

}  // namespace

std::span<const Migration> ledger_migrations() { return k_migrations; }

std::expected<int, std::string> apply_migrations(SQLite::Database& db) {
    return apply_migrations(db, k_migrations, "the ledger");
}

std::expected<int, std::string> apply_migrations(SQLite::Database& db, std::span<const Migration> migrations,
                                                 std::string_view what) {
    const int latest = static_cast<int>(migrations.size());
    const std::string subject(what);
    int version = 0;
    try {
        db.exec("CREATE TABLE IF NOT EXISTS schema_migrations ("
                "version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)");
        version = current_version(db);
    } catch (const std::exception& e) {
        return std::unexpected("cannot read " + subject + "'s schema version: " + e.what());
    }
    if (version > latest) {
        return std::unexpected(subject + " database has schema version " + std::to_string(version) +
                               " but this aigw knows only up to version " + std::to_string(latest) +
                               "; it was written by a newer aigw: upgrade aigw, or point --data-dir "
                               "at another directory");
    }
    for (const Migration& migration : migrations) {
        if (migration.version <= version) {
            continue;
        }
        try {
            // IMMEDIATE takes the write lock up front, so two daemons opening the same new
            // database cannot both apply the same migration.
            SQLite::Transaction transaction(db, SQLite::TransactionBehavior::IMMEDIATE);
            if (current_version(db) >= migration.version) {
                continue;  // applied meanwhile by another process
            }
            db.exec(std::string(migration.sql));
            SQLite::Statement insert(db,
                                     "INSERT INTO schema_migrations(version, name, applied_at) "
                                     "VALUES (?, ?, strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))");
            insert.bind(1, migration.version);
            insert.bind(2, std::string(migration.name));
            insert.exec();
            transaction.commit();
        } catch (const std::exception& e) {
            return std::unexpected(subject + " migration " + std::to_string(migration.version) + " (" +
                                   std::string(migration.name) + ") failed: " + e.what());
        }
    }
    try {
        return current_version(db);
    } catch (const std::exception& e) {
        return std::unexpected("cannot read " + subject + "'s schema version: " + e.what());
    }
}

}  // namespace aigw::daemon::ledger

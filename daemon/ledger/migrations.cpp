#include "daemon/ledger/migrations.hpp"

#include <SQLiteCpp/SQLiteCpp.h>

#include <array>

namespace aigw::daemon::ledger {

namespace {

// Indexes, by the query that needs them (as of migration 7):
//   ts_ms                 the raw edges of cost() ranges, recent() newest-first, export,
//                         retention pruning (oldest first)
//   request_id            `aigw logs <request id>` (all attempts of one request); request
//                         ids begin with their time, so new rows land at the index's end
//   tag <> ''             bench/eval runs, which tag their rows; `aigw logs --tag`: a
//                         partial index, tagged rows only (the query repeats tag <> '')
//   key_id                `aigw logs --key`: walks the key's rows in row-id order
//   served_model          `aigw logs --model`, the same way
//   status >= 400         `aigw logs --status 5xx/--errors`: a partial index, errors only
//   session <> ''         `aigw logs --session`: one agent session's rows, partial like tag
//   body_nodes.hash       the writer's prefix lookup when bodies are logged (UNIQUE)
// Reports (cost, budgets) read the rollups table by its primary key (dim, span, start hour).
// Migration 4's SQL calls aigw_latency_hist() and aigw_hist_merge(): Ledger::open registers
// them on its connection before applying migrations.
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
    // Reports read these rollups instead of sorting every row in range: one row per period
    // (an hour, span_hours = 1, or a UTC day, span_hours = 24), per dimension a report
    // groups on (dim: all, model, provider, key, tag, variant, surface, status) and value of
    // it. Per dimension rather than the cross product of all of them: with real traffic
    // the cross product holds about one rollup row per three rows at hour granularity (500
    // a day in the benchmark's ledger), so it neither makes reports fast nor spares the
    // writer; per dimension a 90-day report reads 90 x (its values) rows. The writer updates
    // them in the transaction that inserts the rows, so they always agree with the committed
    // rows. latency_hist counts final attempts' latencies in log-spaced buckets
    // (latency_hist.hpp), for p95.
    // requests_model_ts and requests_key_ts served no query plan (reports read rollups; the
    // logs filters below walk an index in row-id order); logs filter on key, model and
    // errors, which the new narrow indexes serve.
    // The backfill scans the rows once (into a temporary table grouped by hour and every
    // dimension) and derives the rest from that.
    Migration{4, "hourly and daily rollups per dimension; indexes for logs filters",
              R"sql(
CREATE TABLE rollups (
    dim                TEXT    NOT NULL,
    span_hours         INTEGER NOT NULL,
    start_hour         INTEGER NOT NULL,
    value              TEXT    NOT NULL,
    rows               INTEGER NOT NULL DEFAULT 0,
    requests           INTEGER NOT NULL DEFAULT 0,
    errors             INTEGER NOT NULL DEFAULT 0,
    cache_hits         INTEGER NOT NULL DEFAULT 0,
    input_tokens       INTEGER NOT NULL DEFAULT 0,
    cached_tokens      INTEGER NOT NULL DEFAULT 0,
    output_tokens      INTEGER NOT NULL DEFAULT 0,
    reasoning_tokens   INTEGER NOT NULL DEFAULT 0,
    cost_usd           REAL    NOT NULL DEFAULT 0,
    saved_usd          REAL    NOT NULL DEFAULT 0,
    latency_sum_ms     INTEGER NOT NULL DEFAULT 0,
    latency_hist       BLOB,
    PRIMARY KEY (dim, span_hours, start_hour, value)
) WITHOUT ROWID;
CREATE TEMP TABLE rollup_backfill AS
SELECT ts_ms / 3600000 AS h, served_model, provider, key_id, tag, variant, surface,
       CAST(status / 100 AS TEXT) || 'xx' AS status_class,
       COUNT(*) AS r, SUM(final_attempt) AS n,
       SUM(CASE WHEN final_attempt = 1 AND status >= 400 THEN 1 ELSE 0 END) AS e,
       SUM(CASE WHEN final_attempt = 1 AND cache_hit = 1 THEN 1 ELSE 0 END) AS ch,
       SUM(input_tokens) AS i, SUM(cached_tokens) AS c, SUM(output_tokens) AS o,
       SUM(reasoning_tokens) AS rt, SUM(cost_usd) AS usd, SUM(saved_usd) AS s,
       SUM(CASE WHEN final_attempt = 1 THEN latency_ms ELSE 0 END) AS l,
       aigw_latency_hist(CASE WHEN final_attempt = 1 THEN latency_ms END) AS hist
FROM requests
GROUP BY 1, 2, 3, 4, 5, 6, 7, 8;
INSERT INTO rollups SELECT 'all', 1, h, '', SUM(r), SUM(n), SUM(e), SUM(ch), SUM(i), SUM(c), SUM(o), SUM(rt), SUM(usd), SUM(s), SUM(l), aigw_hist_merge(hist) FROM rollup_backfill GROUP BY h;
INSERT INTO rollups SELECT 'model', 1, h, served_model, SUM(r), SUM(n), SUM(e), SUM(ch), SUM(i), SUM(c), SUM(o), SUM(rt), SUM(usd), SUM(s), SUM(l), aigw_hist_merge(hist) FROM rollup_backfill GROUP BY h, served_model;
INSERT INTO rollups SELECT 'provider', 1, h, provider, SUM(r), SUM(n), SUM(e), SUM(ch), SUM(i), SUM(c), SUM(o), SUM(rt), SUM(usd), SUM(s), SUM(l), aigw_hist_merge(hist) FROM rollup_backfill GROUP BY h, provider;
INSERT INTO rollups SELECT 'key', 1, h, key_id, SUM(r), SUM(n), SUM(e), SUM(ch), SUM(i), SUM(c), SUM(o), SUM(rt), SUM(usd), SUM(s), SUM(l), aigw_hist_merge(hist) FROM rollup_backfill GROUP BY h, key_id;
INSERT INTO rollups SELECT 'tag', 1, h, tag, SUM(r), SUM(n), SUM(e), SUM(ch), SUM(i), SUM(c), SUM(o), SUM(rt), SUM(usd), SUM(s), SUM(l), aigw_hist_merge(hist) FROM rollup_backfill GROUP BY h, tag;
INSERT INTO rollups SELECT 'variant', 1, h, variant, SUM(r), SUM(n), SUM(e), SUM(ch), SUM(i), SUM(c), SUM(o), SUM(rt), SUM(usd), SUM(s), SUM(l), aigw_hist_merge(hist) FROM rollup_backfill GROUP BY h, variant;
INSERT INTO rollups SELECT 'surface', 1, h, surface, SUM(r), SUM(n), SUM(e), SUM(ch), SUM(i), SUM(c), SUM(o), SUM(rt), SUM(usd), SUM(s), SUM(l), aigw_hist_merge(hist) FROM rollup_backfill GROUP BY h, surface;
INSERT INTO rollups SELECT 'status', 1, h, status_class, SUM(r), SUM(n), SUM(e), SUM(ch), SUM(i), SUM(c), SUM(o), SUM(rt), SUM(usd), SUM(s), SUM(l), aigw_hist_merge(hist) FROM rollup_backfill GROUP BY h, status_class;
DROP TABLE rollup_backfill;
INSERT INTO rollups
SELECT dim, 24, start_hour / 24 * 24, value, SUM(rows), SUM(requests), SUM(errors), SUM(cache_hits),
       SUM(input_tokens), SUM(cached_tokens), SUM(output_tokens), SUM(reasoning_tokens), SUM(cost_usd),
       SUM(saved_usd), SUM(latency_sum_ms), aigw_hist_merge(latency_hist)
FROM rollups WHERE span_hours = 1
GROUP BY dim, start_hour / 24 * 24, value;
DROP INDEX IF EXISTS requests_model_ts;
DROP INDEX IF EXISTS requests_key_ts;
CREATE INDEX requests_key ON requests(key_id);
CREATE INDEX requests_model ON requests(served_model);
CREATE INDEX requests_errors ON requests(status) WHERE status >= 400;
)sql"},
    // The agent session a request belongs to (x-aigw-session, an agent's own session header
    // or the /s/{session}/ path prefix), for `aigw cost --by session` and `aigw logs
    // --session`. Every existing row has session '', so its rollups are the 'all' rows under
    // another name: copied, not recomputed from the rows.
    Migration{5, "session column, index and rollups",
              R"sql(
ALTER TABLE requests ADD COLUMN session TEXT NOT NULL DEFAULT '';
CREATE INDEX requests_session ON requests(session);
INSERT INTO rollups
SELECT 'session', span_hours, start_hour, '', rows, requests, errors, cache_hits, input_tokens, cached_tokens,
       output_tokens, reasoning_tokens, cost_usd, saved_usd, latency_sum_ms, latency_hist
FROM rollups WHERE dim = 'all';
)sql"},
    // Bodies once per distinct prompt prefix (body_chain.hpp): a request's conversation is
    // a chain of content-addressed nodes, and its request_bodies row keeps the rest of the
    // body with chain_node pointing at the chain's last node (0: the body is stored whole,
    // as every row before this migration is). Full-text search: node_fts indexes each
    // node's words once (rowid = node id); row_fts each request row's own words (its answer,
    // and its body when stored whole; rowid = request row id). first_row_id is the earliest
    // request whose conversation holds the node: a match in history maps to it.
    // The backfill indexes existing bodies' strings with json_tree (their keys filtered like
    // searchable_text()).
    Migration{6, "body chain nodes and full-text search",
              R"sql(
CREATE TABLE body_nodes (
    id                 INTEGER PRIMARY KEY,
    hash               BLOB    NOT NULL UNIQUE,
    parent_id          INTEGER NOT NULL DEFAULT 0,
    first_row_id       INTEGER NOT NULL DEFAULT 0,
    item               TEXT    NOT NULL
);
ALTER TABLE request_bodies ADD COLUMN chain_node INTEGER NOT NULL DEFAULT 0;
ALTER TABLE request_bodies ADD COLUMN chain_layout TEXT NOT NULL DEFAULT '';
CREATE VIRTUAL TABLE node_fts USING fts5(text);
CREATE VIRTUAL TABLE row_fts USING fts5(text);
INSERT INTO row_fts(rowid, text)
SELECT request_row_id,
       CASE WHEN json_valid(request_body) THEN
           COALESCE((SELECT group_concat(value, char(10)) FROM json_tree(request_body)
                     WHERE type = 'text' AND value NOT LIKE 'data:%' AND key NOT IN
                     ('role', 'type', 'id', 'call_id', 'tool_call_id', 'model', 'object', 'signature', 'data',
                      'url', 'mime_type', 'mimeType', 'media_type', 'finish_reason', 'stop_reason',
                      'encrypted_content', 'file_id')), '')
       ELSE request_body END || char(10) ||
       CASE WHEN json_valid(response_body) THEN
           COALESCE((SELECT group_concat(value, char(10)) FROM json_tree(response_body)
                     WHERE type = 'text' AND key NOT IN ('role', 'type', 'id', 'model', 'object')), '')
       ELSE response_body END
FROM request_bodies;
)sql"},
    // Every row paid an entry in requests_tag and requests_session, though most rows have
    // neither (tag '' and session '' are four rows in five in the benchmark's traffic, nearly
    // all of a user's without bench runs or agents), and no query looks rows up by an empty
    // tag or session: EntryFilter treats "" as no filter. Partial indexes hold only the rows
    // a `logs --tag/--session` can ask for.
    Migration{7, "tag and session indexes hold only tagged rows and session rows",
              R"sql(
DROP INDEX IF EXISTS requests_tag;
DROP INDEX IF EXISTS requests_session;
CREATE INDEX requests_tag ON requests(tag) WHERE tag <> '';
CREATE INDEX requests_session ON requests(session) WHERE session <> '';
)sql"},
};

int current_version(SQLite::Database& db)
{
    SQLite::Statement query(db, "SELECT COALESCE(MAX(version), 0) FROM schema_migrations");
    query.executeStep();
    return query.getColumn(0).getInt();
}

}  // namespace

std::span<const Migration> ledger_migrations()
{
    return k_migrations;
}

std::expected<int, std::string> apply_migrations(SQLite::Database& db)
{
    return apply_migrations(db, k_migrations, "the ledger");
}

std::expected<int, std::string> apply_migrations(SQLite::Database& db, std::span<const Migration> migrations,
                                                 std::string_view what)
{
    const int latest = static_cast<int>(migrations.size());
    const std::string subject(what);
    int version = 0;
    try {
        db.exec(
            "CREATE TABLE IF NOT EXISTS schema_migrations ("
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

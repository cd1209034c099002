#include "daemon/ledger/ledger.hpp"

#include "daemon/ledger/ledger_query.hpp"

#include "daemon/ledger/body_chain.hpp"
#include "daemon/ledger/latency_hist.hpp"
#include "daemon/ledger/migrations.hpp"

#include <SQLiteCpp/SQLiteCpp.h>
#include <sqlite3.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdio>
#include <deque>
#include <future>
#include <iostream>
#include <map>
#include <optional>
#include <ostream>
#include <string_view>
#include <tuple>
#include <utility>

namespace aigw::daemon::ledger {

namespace {

constexpr int k_busy_timeout_ms = 5000;
/// Most rows one transaction commits; the writer takes everything queued up to this.
constexpr std::size_t k_max_batch_rows = Ledger::k_max_batch_rows;
/// How long the writer waits for more rows before committing a batch (well below
/// k_max_commit_delay, 100 ms). Each commit rewrites the last page of the table and of each
/// index, so fewer, larger commits are most of what the ledger costs under load: at 17,000
/// requests/s a 2 ms linger meant 1.5 page writes per row.
constexpr std::chrono::milliseconds k_linger{20};
constexpr std::chrono::milliseconds k_linger_step{2};
/// Rows per multi-row INSERT; a batch is written as such statements plus single-row ones
/// for the remainder and for rows with bodies (which need their own row id).
constexpr int k_rows_per_insert = 32;
constexpr int k_columns_per_row = 28;
/// Pages returned to the filesystem per incremental-vacuum step (4 KiB pages: 8 MiB).
constexpr int k_vacuum_pages_per_step = 2048;
constexpr std::int64_t k_ms_per_hour = 3'600'000;
/// A batch that fails (e.g. the disk is briefly locked by another process) is retried this
/// many times before its rows are reported as lost on stderr.
constexpr int k_write_tries = 3;
constexpr std::int64_t k_ms_per_day = 86'400'000;

constexpr const char* k_insert_request_head =
    "INSERT INTO requests(ts_ms, request_id, key_id, surface, requested_model, served_model, "
    "provider, status, attempt, attempts, final_attempt, fallback_reason, error, input_tokens, "
    "cached_tokens, cache_write_tokens, output_tokens, reasoning_tokens, cost_usd, priced, "
    "latency_ms, ttft_ms, stream, cache_hit, tag, variant, saved_usd, session) VALUES ";

std::string insert_request_sql(int rows)
{
    std::string tuple = "(";
    for (int c = 0; c < k_columns_per_row; ++c) {
        tuple += c == 0 ? "?" : ",?";
    }
    tuple += ")";
    std::string sql = k_insert_request_head;
    for (int r = 0; r < rows; ++r) {
        sql += r == 0 ? tuple : "," + tuple;
    }
    return sql;
}

constexpr const char* k_upsert_rollup_sql =
    "INSERT INTO rollups(dim, span_hours, start_hour, value, rows, requests, errors, cache_hits, "
    "input_tokens, cached_tokens, output_tokens, reasoning_tokens, cost_usd, saved_usd, latency_sum_ms, "
    "latency_hist) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
    "ON CONFLICT DO UPDATE SET rows = rows + excluded.rows, requests = requests + excluded.requests, "
    "errors = errors + excluded.errors, cache_hits = cache_hits + excluded.cache_hits, "
    "input_tokens = input_tokens + excluded.input_tokens, "
    "cached_tokens = cached_tokens + excluded.cached_tokens, "
    "output_tokens = output_tokens + excluded.output_tokens, "
    "reasoning_tokens = reasoning_tokens + excluded.reasoning_tokens, "
    "cost_usd = cost_usd + excluded.cost_usd, saved_usd = saved_usd + excluded.saved_usd, "
    "latency_sum_ms = latency_sum_ms + excluded.latency_sum_ms, "
    "latency_hist = aigw_hist_add(latency_hist, excluded.latency_hist)";

constexpr const char* k_insert_body_sql =
    "INSERT INTO request_bodies(request_row_id, request_body, response_body, chain_node, chain_layout) "
    "VALUES (?, ?, ?, ?, ?)";
constexpr const char* k_find_node_sql = "SELECT id FROM body_nodes WHERE hash = ?";
constexpr const char* k_insert_node_sql =
    "INSERT INTO body_nodes(hash, parent_id, first_row_id, item) VALUES (?, ?, ?, ?)";
constexpr const char* k_insert_node_fts_sql = "INSERT INTO node_fts(rowid, text) VALUES (?, ?)";
constexpr const char* k_insert_row_fts_sql = "INSERT INTO row_fts(rowid, text) VALUES (?, ?)";
/// A chain's items, oldest first, from its last node.
constexpr const char* k_chain_sql =
    "WITH RECURSIVE c(id, parent, item, depth) AS (SELECT id, parent_id, item, 0 FROM body_nodes WHERE id = ? "
    "UNION ALL SELECT n.id, n.parent_id, n.item, c.depth + 1 FROM body_nodes n JOIN c ON n.id = c.parent) "
    "SELECT item FROM c ORDER BY depth DESC";

/// Columns read back into a LedgerRow, in the order row_from() expects them.
constexpr const char* k_select_row_sql =
    "SELECT r.ts_ms, r.request_id, r.key_id, r.surface, r.requested_model, r.served_model, "
    "r.provider, r.status, r.attempt, r.attempts, r.final_attempt, r.fallback_reason, r.error, "
    "r.input_tokens, r.cached_tokens, r.cache_write_tokens, r.output_tokens, r.reasoning_tokens, "
    "r.cost_usd, r.priced, r.latency_ms, r.ttft_ms, r.stream, r.cache_hit, r.tag, r.variant, "
    "COALESCE(b.request_body, ''), COALESCE(b.response_body, ''), r.saved_usd, r.session, "
    "COALESCE(b.chain_node, 0), COALESCE(b.chain_layout, '') "
    "FROM requests r LEFT JOIN request_bodies b ON b.request_row_id = r.id ";
/// Columns of k_select_row_sql: the row's 30, then the chain's last node and layout.
constexpr int k_select_row_columns = 32;

/// group_by names, the rollups' dimension each one reads (and the expression on its
/// rows) and the expression on the requests table (a fixed list: never interpolate user
/// text into SQL).
struct GroupColumn {
    std::string_view name;
    std::string_view dim;
    std::string_view rollup_expr;
    std::string_view row_expr;
};
constexpr std::array<GroupColumn, 8> k_group_columns{{
    {"model", "model", "value", "served_model"},
    {"provider", "provider", "value", "provider"},
    {"key", "key", "value", "key_id"},
    {"day", "all", "date(start_hour * 3600, 'unixepoch')", "date(ts_ms / 1000, 'unixepoch')"},
    {"variant", "variant", "value", "variant"},
    {"tag", "tag", "value", "tag"},
    {"surface", "surface", "value", "surface"},
    {"session", "session", "value", "session"},
}};

/// Every dimension the writer rolls up, and the value a row has in it.
constexpr std::array<std::string_view, 9> k_dims{"all",     "model",   "provider", "key",    "tag",
                                                 "variant", "surface", "status",   "session"};

/// The value `row` has in the rollups of `dim`: a view of the row's own field, or of its
/// status class ("2xx", as migration 4 writes it), kept in `classes` unless it is a usual one.
std::string_view rollup_value(std::string_view dim, const LedgerRow& row, std::deque<std::string>& classes)
{
    if (dim == "model")
        return row.served_model;
    if (dim == "provider")
        return row.provider;
    if (dim == "key")
        return row.key_id;
    if (dim == "tag")
        return row.tag;
    if (dim == "variant")
        return row.variant;
    if (dim == "surface")
        return row.surface;
    if (dim == "status") {
        static constexpr std::array<std::string_view, 10> k_classes{"0xx", "1xx", "2xx", "3xx", "4xx",
                                                                    "5xx", "6xx", "7xx", "8xx", "9xx"};
        const int cls = row.status / 100;
        if (cls >= 0 && cls < static_cast<int>(k_classes.size())) {
            return k_classes[static_cast<std::size_t>(cls)];
        }
        return classes.emplace_back(std::to_string(cls) + "xx");
    }
    if (dim == "session")
        return row.session;
    return "";  // "all": one row for everything
}

std::int64_t now_ms()
{
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
        .count();
}

/// Deletes up to `limit` of the oldest rows before `cutoff_ms` and their bodies, and, when
/// none are left, the rollups before it; one transaction. Returns the rows deleted.
std::int64_t prune_batch(SQLite::Database& db, std::int64_t cutoff_ms, int limit)
{
    SQLite::Transaction transaction(db, SQLite::TransactionBehavior::IMMEDIATE);
    // Both statements pick the same rows: the first `limit` in (ts_ms, id) order.
    SQLite::Statement bodies(db,
                             "DELETE FROM request_bodies WHERE request_row_id IN "
                             "(SELECT id FROM requests WHERE ts_ms < ?1 ORDER BY ts_ms, id LIMIT ?2)");
    bodies.bind(1, cutoff_ms);
    bodies.bind(2, limit);
    bodies.exec();
    SQLite::Statement words(db,
                            "DELETE FROM row_fts WHERE rowid IN "
                            "(SELECT id FROM requests WHERE ts_ms < ?1 ORDER BY ts_ms, id LIMIT ?2)");
    words.bind(1, cutoff_ms);
    words.bind(2, limit);
    words.exec();
    SQLite::Statement rows(db,
                           "DELETE FROM requests WHERE id IN "
                           "(SELECT id FROM requests WHERE ts_ms < ?1 ORDER BY ts_ms, id LIMIT ?2)");
    rows.bind(1, cutoff_ms);
    rows.bind(2, limit);
    const std::int64_t deleted = rows.exec();
    if (deleted < limit) {
        // A range of the primary key per dimension and span.
        SQLite::Statement rollups(db, "DELETE FROM rollups WHERE dim = ? AND span_hours = ? AND start_hour < ?");
        for (const std::string_view dim : k_dims) {
            for (const int span : {1, 24}) {
                rollups.bind(1, std::string(dim));
                rollups.bind(2, span);
                rollups.bind(3, cutoff_ms / k_ms_per_hour);
                rollups.exec();
                rollups.reset();
            }
        }
    }
    transaction.commit();
    return deleted;
}

/// Deletes the body nodes no kept request's conversation reaches (and their words), and
/// points each kept node's first_row_id at the earliest kept request that holds it; one
/// transaction. Walks every kept chain (as many steps as the kept requests hold items in
/// total), so it runs once per prune, after the rows are gone. Returns the nodes deleted.
std::int64_t sweep_nodes(SQLite::Database& db)
{
    if (db.execAndGet("SELECT EXISTS (SELECT 1 FROM body_nodes)").getInt() == 0) {
        return 0;
    }
    SQLite::Transaction transaction(db, SQLite::TransactionBehavior::IMMEDIATE);
    db.exec("CREATE TEMP TABLE IF NOT EXISTS live_nodes(id INTEGER PRIMARY KEY, first_row INTEGER NOT NULL)");
    db.exec("DELETE FROM live_nodes");
    db.exec(
        "WITH RECURSIVE walk(id, row) AS (SELECT chain_node, request_row_id FROM request_bodies WHERE chain_node > 0 "
        "UNION ALL SELECT n.parent_id, w.row FROM body_nodes n JOIN walk w ON n.id = w.id WHERE n.parent_id > 0) "
        "INSERT INTO live_nodes(id, first_row) SELECT id, MIN(row) FROM walk GROUP BY id");
    db.exec(
        "DELETE FROM node_fts WHERE rowid IN (SELECT id FROM body_nodes WHERE id NOT IN (SELECT id FROM live_nodes))");
    const std::int64_t deleted = db.exec("DELETE FROM body_nodes WHERE id NOT IN (SELECT id FROM live_nodes)");
    db.exec(
        "UPDATE body_nodes SET first_row_id = l.first_row FROM live_nodes l "
        "WHERE l.id = body_nodes.id AND body_nodes.first_row_id <> l.first_row");
    db.exec("DELETE FROM live_nodes");
    transaction.commit();
    return deleted;
}

std::int64_t day_start(std::int64_t ts_ms)
{
    return ts_ms / k_ms_per_day * k_ms_per_day;
}

SQLite::Database open_reader(const std::filesystem::path& path)
{
    SQLite::Database db(path, SQLite::OPEN_READONLY, k_busy_timeout_ms);
    register_hist_functions(db);
    return db;
}

/// The request body of a row read with k_select_row_sql: stored whole, or rebuilt from its
/// chain. A chain that cannot be rebuilt (a damaged file) gives a note saying so, not an error.
std::string stored_request_body(SQLite::Database& db, std::string rest, std::int64_t chain_node,
                                const std::string& layout)
{
    if (chain_node <= 0) {
        return rest;
    }
    SQLite::Statement chain(db, k_chain_sql);
    chain.bind(1, chain_node);
    std::vector<std::string> items;
    while (chain.executeStep()) {
        items.push_back(chain.getColumn(0).getString());
    }
    auto body = join_body(rest, layout, items);
    return body ? std::move(*body) : "(" + body.error() + ")";
}

LedgerRow row_from(SQLite::Database& db, SQLite::Statement& query, int first_column = 0)
{
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
    row.session = next().getString();
    const std::int64_t chain_node = next().getInt64();
    const std::string layout = next().getString();
    row.request_body = stored_request_body(db, std::move(row.request_body), chain_node, layout);
    return row;
}

/// Binds `row` to the 28 parameters of one VALUES tuple starting at `first`. The rows
/// outlive each exec(), so strings are bound without copying.
void bind_row(SQLite::Statement& insert, int first, const LedgerRow& row)
{
    int i = first;
    insert.bind(i++, row.ts_ms);
    insert.bindNoCopy(i++, row.request_id);
    insert.bindNoCopy(i++, row.key_id);
    insert.bindNoCopy(i++, row.surface);
    insert.bindNoCopy(i++, row.requested_model);
    insert.bindNoCopy(i++, row.served_model);
    insert.bindNoCopy(i++, row.provider);
    insert.bind(i++, row.status);
    insert.bind(i++, row.attempt);
    insert.bind(i++, row.attempts);
    insert.bind(i++, static_cast<int>(row.final_attempt));
    insert.bindNoCopy(i++, row.fallback_reason);
    insert.bindNoCopy(i++, row.error);
    insert.bind(i++, row.input_tokens);
    insert.bind(i++, row.cached_tokens);
    insert.bind(i++, row.cache_write_tokens);
    insert.bind(i++, row.output_tokens);
    insert.bind(i++, row.reasoning_tokens);
    insert.bind(i++, row.cost_usd);
    insert.bind(i++, static_cast<int>(row.priced));
    insert.bind(i++, row.latency_ms);
    insert.bind(i++, row.ttft_ms);
    insert.bind(i++, static_cast<int>(row.stream));
    insert.bind(i++, static_cast<int>(row.cache_hit));
    insert.bindNoCopy(i++, row.tag);
    insert.bindNoCopy(i++, row.variant);
    insert.bind(i++, row.saved_usd);
    insert.bindNoCopy(i++, row.session);
}

/// A rollup row's identity (the rollups' primary key).
struct RollupKey {
    std::string_view dim;
    int span_hours = 1;
    std::int64_t start_hour = 0;
    std::string_view value;  ///< into the batch's rows, or a status class (rollup_value())

    bool operator<(const RollupKey& other) const
    {
        return std::tie(dim, span_hours, start_hour, value) <
               std::tie(other.dim, other.span_hours, other.start_hour, other.value);
    }
};

/// What one batch adds to one rollup row.
struct RollupDelta {
    std::int64_t rows = 0, requests = 0, errors = 0, cache_hits = 0;
    std::int64_t input_tokens = 0, cached_tokens = 0, output_tokens = 0, reasoning_tokens = 0;
    double cost_usd = 0, saved_usd = 0;
    std::int64_t latency_sum_ms = 0;
    /// bucket -> count (final attempts): the few buckets one batch's rows fall in.
    std::vector<std::pair<int, std::uint64_t>> latency;

    /// `bucket`: latency_bucket() of the row's latency, worked out once for all its rollups.
    void add(const LedgerRow& row, int bucket)
    {
        ++rows;
        input_tokens += row.input_tokens;
        cached_tokens += row.cached_tokens;
        output_tokens += row.output_tokens;
        reasoning_tokens += row.reasoning_tokens;
        cost_usd += row.cost_usd;
        saved_usd += row.saved_usd;
        if (row.final_attempt) {
            ++requests;
            errors += row.status >= 400 ? 1 : 0;
            cache_hits += row.cache_hit ? 1 : 0;
            latency_sum_ms += row.latency_ms;
            auto it = std::find_if(latency.begin(), latency.end(), [&](const auto& b) { return b.first == bucket; });
            if (it == latency.end()) {
                latency.emplace_back(bucket, 1);
            } else {
                ++it->second;
            }
        }
    }
};

/// The writer's prepared statements, made once per connection.
struct WriterStatements {
    SQLite::Statement insert_one;
    SQLite::Statement insert_many;
    SQLite::Statement insert_body;
    SQLite::Statement upsert_rollup;
    SQLite::Statement find_node;
    SQLite::Statement insert_node;
    SQLite::Statement insert_node_fts;
    SQLite::Statement insert_row_fts;

    explicit WriterStatements(SQLite::Database& db)
        : insert_one(db, insert_request_sql(1)),
          insert_many(db, insert_request_sql(k_rows_per_insert)),
          insert_body(db, k_insert_body_sql),
          upsert_rollup(db, k_upsert_rollup_sql),
          find_node(db, k_find_node_sql),
          insert_node(db, k_insert_node_sql),
          insert_node_fts(db, k_insert_node_fts_sql),
          insert_row_fts(db, k_insert_row_fts_sql)
    {}

    void reset()
    {
        insert_one.tryReset();
        insert_many.tryReset();
        insert_body.tryReset();
        upsert_rollup.tryReset();
        find_node.tryReset();
        insert_node.tryReset();
        insert_node_fts.tryReset();
        insert_row_fts.tryReset();
    }
};

/// Stores the bodies of the request row `row_id`: a conversation as the nodes its prefix
/// does not share with one stored before (found from the last item backwards: turn N of a
/// conversation finds turn N-1's chain after one or two lookups), the rest of the body
/// and the answer in request_bodies; the new nodes' words and the row's own in the
/// full-text tables.
void write_bodies(SQLite::Database& db, WriterStatements& st, std::int64_t row_id, const LedgerRow& row)
{
    SplitBody split = row.request_body.empty() ? SplitBody{} : split_body(row.request_body);
    std::int64_t head = 0;
    std::string words = searchable_text(row.response_body);
    if (split.layout.empty()) {
        const std::string request_words = searchable_text(row.request_body);
        if (!request_words.empty()) {
            words = request_words + (words.empty() ? "" : "\n" + words);
        }
    } else {
        std::vector<NodeHash> hashes(split.items.size());
        NodeHash parent{};
        for (std::size_t k = 0; k < split.items.size(); ++k) {
            hashes[k] = node_hash(parent, split.items[k]);
            parent = hashes[k];
        }
        // The longest stored prefix: items [0, stored) have nodes, the last one `head`.
        std::size_t stored = split.items.size();
        for (; stored > 0; --stored) {
            const NodeHash& h = hashes[stored - 1];
            st.find_node.bindNoCopy(1, static_cast<const void*>(h.data()), static_cast<int>(h.size()));
            const bool found = st.find_node.executeStep();
            head = found ? st.find_node.getColumn(0).getInt64() : 0;
            st.find_node.reset();
            if (found) {
                break;
            }
        }
        for (std::size_t k = stored; k < split.items.size(); ++k) {
            const NodeHash& h = hashes[k];
            st.insert_node.bindNoCopy(1, static_cast<const void*>(h.data()), static_cast<int>(h.size()));
            st.insert_node.bind(2, head);
            st.insert_node.bind(3, row_id);
            st.insert_node.bindNoCopy(4, split.items[k]);
            st.insert_node.exec();
            st.insert_node.reset();
            head = db.getLastInsertRowid();
            const std::string text = searchable_text(split.items[k]);
            if (!text.empty()) {
                st.insert_node_fts.bind(1, head);
                st.insert_node_fts.bindNoCopy(2, text);
                st.insert_node_fts.exec();
                st.insert_node_fts.reset();
            }
        }
    }
    st.insert_body.bind(1, row_id);
    st.insert_body.bindNoCopy(2, split.layout.empty() ? row.request_body : split.rest);
    st.insert_body.bindNoCopy(3, row.response_body);
    st.insert_body.bind(4, head);
    st.insert_body.bindNoCopy(5, split.layout);
    st.insert_body.exec();
    st.insert_body.reset();
    if (!words.empty()) {
        st.insert_row_fts.bind(1, row_id);
        st.insert_row_fts.bindNoCopy(2, words);
        st.insert_row_fts.exec();
        st.insert_row_fts.reset();
    }
}

/// Writes one batch and its rollups in one transaction.
void write_batch(SQLite::Database& db, WriterStatements& st, const std::vector<LedgerRow>& batch)
{
    SQLite::Transaction transaction(db);
    std::size_t i = 0;
    while (i < batch.size()) {
        // Runs of rows without bodies go k_rows_per_insert at a time; row order (and so row
        // id order) stays the batch's order.
        const std::size_t run_end = std::min(batch.size(), i + k_rows_per_insert);
        const bool plain_run =
            run_end - i == static_cast<std::size_t>(k_rows_per_insert) &&
            std::all_of(batch.begin() + static_cast<std::ptrdiff_t>(i),
                        batch.begin() + static_cast<std::ptrdiff_t>(run_end),
                        [](const LedgerRow& r) { return r.request_body.empty() && r.response_body.empty(); });
        if (plain_run) {
            for (int r = 0; r < k_rows_per_insert; ++r) {
                bind_row(st.insert_many, 1 + r * k_columns_per_row, batch[i + static_cast<std::size_t>(r)]);
            }
            st.insert_many.exec();
            st.insert_many.reset();
            i = run_end;
            continue;
        }
        const LedgerRow& row = batch[i++];
        bind_row(st.insert_one, 1, row);
        st.insert_one.exec();
        st.insert_one.reset();
        if (!row.request_body.empty() || !row.response_body.empty()) {
            write_bodies(db, st, db.getLastInsertRowid(), row);
        }
    }

    // Eighteen rollup rows per ledger row: their keys point into the rows (which outlive
    // `deltas`) rather than copy each value, and the latency's bucket is found once.
    std::deque<std::string> status_classes;  // stable addresses for the keys
    std::map<RollupKey, RollupDelta> deltas;
    for (const LedgerRow& row : batch) {
        const std::int64_t hour = row.ts_ms / k_ms_per_hour;
        const int bucket = row.final_attempt ? latency_bucket(row.latency_ms) : 0;
        for (const std::string_view dim : k_dims) {
            const std::string_view value = rollup_value(dim, row, status_classes);
            deltas[RollupKey{dim, 1, hour, value}].add(row, bucket);
            deltas[RollupKey{dim, 24, hour / 24 * 24, value}].add(row, bucket);
        }
    }
    for (const auto& [key, d] : deltas) {
        LatencyCounts counts{};
        for (const auto& [bucket, n] : d.latency) {
            counts[static_cast<std::size_t>(bucket)] = n;
        }
        const std::string hist = encode(counts);
        auto& up = st.upsert_rollup;
        int c = 1;
        up.bind(c++, std::string(key.dim));  // as text: a pointer and a size would bind a BLOB
        up.bind(c++, key.span_hours);
        up.bind(c++, key.start_hour);
        up.bind(c++, std::string(key.value));  // a copy per rollup row of the batch, not per ledger row
        up.bind(c++, d.rows);
        up.bind(c++, d.requests);
        up.bind(c++, d.errors);
        up.bind(c++, d.cache_hits);
        up.bind(c++, d.input_tokens);
        up.bind(c++, d.cached_tokens);
        up.bind(c++, d.output_tokens);
        up.bind(c++, d.reasoning_tokens);
        up.bind(c++, d.cost_usd);
        up.bind(c++, d.saved_usd);
        up.bind(c++, d.latency_sum_ms);
        if (hist.empty()) {
            up.bind(c++);
        } else {
            up.bindNoCopy(c++, static_cast<const void*>(hist.data()), static_cast<int>(hist.size()));
        }
        up.exec();
        up.reset();
    }
    transaction.commit();
}

/// A report range split into what the rollups answer (whole UTC days, whole hours) and
/// what the rows answer (the partial hours at the edges).
struct RangePlan {
    std::int64_t day_from = 0, day_to = 0;        ///< start hours of whole days [from, to)
    std::int64_t hour_from_a = 0, hour_to_a = 0;  ///< whole hours before the days
    std::int64_t hour_from_b = 0, hour_to_b = 0;  ///< whole hours after the days
    std::int64_t raw_from_a = 0, raw_to_a = 0;    ///< ms
    std::int64_t raw_from_b = 0, raw_to_b = 0;
};

std::int64_t floor_div(std::int64_t a, std::int64_t b)
{
    return a >= 0 ? a / b : -((-a + b - 1) / b);
}
std::int64_t ceil_div(std::int64_t a, std::int64_t b)
{
    return -floor_div(-a, b);
}

RangePlan plan_range(std::int64_t since_ms, std::int64_t until_ms)
{
    RangePlan p;
    const std::int64_t h0 = std::max<std::int64_t>(0, ceil_div(since_ms, k_ms_per_hour));
    const std::int64_t h1 = floor_div(until_ms, k_ms_per_hour);
    if (h0 >= h1) {
        p.raw_from_a = since_ms;
        p.raw_to_a = until_ms;
        return p;
    }
    p.raw_from_a = since_ms;
    p.raw_to_a = h0 * k_ms_per_hour;
    p.raw_from_b = h1 * k_ms_per_hour;
    p.raw_to_b = until_ms;
    const std::int64_t d0 = ceil_div(h0, 24) * 24;
    const std::int64_t d1 = floor_div(h1, 24) * 24;
    if (d0 < d1) {
        p.day_from = d0;
        p.day_to = d1;
        p.hour_from_a = h0;
        p.hour_to_a = d0;
        p.hour_from_b = d1;
        p.hour_to_b = h1;
    } else {
        p.hour_from_a = h0;
        p.hour_to_a = h1;
    }
    return p;
}

/// The report's SQL: one row per group with requests, errors, input, cached, output, cost,
/// cache hits, latency sum, saved and the merged latency histogram, most cost first.
std::string cost_sql(const GroupColumn& column, const RangePlan& p)
{
    const std::string rollup_cols =
        " AS g, requests AS n, errors AS e, input_tokens AS i, cached_tokens AS c, output_tokens AS o, "
        "cost_usd AS usd, cache_hits AS h, latency_sum_ms AS l, saved_usd AS s, latency_hist AS hist FROM rollups ";
    std::vector<std::string> parts;
    auto rollup_part = [&](int span, std::int64_t from, std::int64_t to) {
        if (from < to) {
            parts.push_back("SELECT " + std::string(column.rollup_expr) + rollup_cols + "WHERE dim = '" +
                            std::string(column.dim) + "' AND span_hours = " + std::to_string(span) +
                            " AND start_hour >= " + std::to_string(from) + " AND start_hour < " + std::to_string(to));
        }
    };
    auto row_part = [&](std::int64_t from, std::int64_t to) {
        if (from < to) {
            parts.push_back(
                "SELECT " + std::string(column.row_expr) +
                " AS g, SUM(final_attempt) AS n, "
                "SUM(CASE WHEN final_attempt = 1 AND status >= 400 THEN 1 ELSE 0 END) AS e, "
                "SUM(input_tokens) AS i, SUM(cached_tokens) AS c, SUM(output_tokens) AS o, SUM(cost_usd) AS usd, "
                "SUM(CASE WHEN final_attempt = 1 AND cache_hit = 1 THEN 1 ELSE 0 END) AS h, "
                "SUM(CASE WHEN final_attempt = 1 THEN latency_ms ELSE 0 END) AS l, SUM(saved_usd) AS s, "
                "aigw_latency_hist(CASE WHEN final_attempt = 1 THEN latency_ms END) AS hist "
                "FROM requests WHERE ts_ms >= " +
                std::to_string(from) + " AND ts_ms < " + std::to_string(to) + " GROUP BY g");
        }
    };
    rollup_part(24, p.day_from, p.day_to);
    rollup_part(1, p.hour_from_a, p.hour_to_a);
    rollup_part(1, p.hour_from_b, p.hour_to_b);
    row_part(p.raw_from_a, p.raw_to_a);
    row_part(p.raw_from_b, p.raw_to_b);
    if (parts.empty()) {
        return {};
    }
    std::string inner;
    for (const auto& part : parts) {
        inner += inner.empty() ? part : " UNION ALL " + part;
    }
    return "SELECT g, SUM(n), SUM(e), SUM(i), SUM(c), SUM(o), SUM(usd), SUM(h), SUM(l), SUM(s), "
           "aigw_hist_merge(hist) FROM (" +
           inner + ") GROUP BY g ORDER BY 7 DESC, 1 ASC";
}

/// Appends `text` as a JSON string: escaped, invalid UTF-8 replaced by U+FFFD.
void append_json_string(std::string& out, std::string_view text)
{
    out.push_back('"');
    std::size_t i = 0;
    while (i < text.size()) {
        const auto c = static_cast<unsigned char>(text[i]);
        if (c < 0x80) {
            switch (c) {
                case '"':
                    out += "\\\"";
                    break;
                case '\\':
                    out += "\\\\";
                    break;
                case '\n':
                    out += "\\n";
                    break;
                case '\r':
                    out += "\\r";
                    break;
                case '\t':
                    out += "\\t";
                    break;
                default:
                    if (c < 0x20) {
                        char buf[8];
                        std::snprintf(buf, sizeof buf, "\\u%04x", c);
                        out += buf;
                    } else {
                        out.push_back(static_cast<char>(c));
                    }
            }
            ++i;
            continue;
        }
        // A well-formed multi-byte sequence (no overlongs, no surrogates) is copied as is.
        int len = 0;
        std::uint32_t cp = 0;
        if (c >= 0xc2 && c <= 0xdf) {
            len = 2;
            cp = c & 0x1f;
        } else if (c >= 0xe0 && c <= 0xef) {
            len = 3;
            cp = c & 0x0f;
        } else if (c >= 0xf0 && c <= 0xf4) {
            len = 4;
            cp = c & 0x07;
        }
        bool ok = len > 0 && i + static_cast<std::size_t>(len) <= text.size();
        for (int k = 1; ok && k < len; ++k) {
            const auto cc = static_cast<unsigned char>(text[i + static_cast<std::size_t>(k)]);
            ok = (cc & 0xc0) == 0x80;
            cp = (cp << 6) | (cc & 0x3f);
        }
        if (ok) {
            ok = !(len == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) &&
                 !(len == 4 && (cp < 0x10000 || cp > 0x10ffff));
        }
        if (ok) {
            out.append(text.substr(i, static_cast<std::size_t>(len)));
            i += static_cast<std::size_t>(len);
        } else {
            out += "\xef\xbf\xbd";
            ++i;
        }
    }
    out.push_back('"');
}

void append_csv_field(std::string& out, std::string_view text)
{
    if (text.find_first_of(",\"\r\n") == std::string_view::npos) {
        out.append(text);
        return;
    }
    out.push_back('"');
    for (const char c : text) {
        if (c == '"') {
            out.push_back('"');
        }
        out.push_back(c);
    }
    out.push_back('"');
}

std::string number(double v)
{
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.17g", v);
    return buf;
}

}  // namespace

void make_private(const std::filesystem::path& path)
{
    const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd >= 0) {
        ::close(fd);
    }
    for (const char* suffix : {"", "-wal", "-shm", "-journal"}) {
        const std::string file = path.string() + suffix;
        struct stat st {};
        if (::stat(file.c_str(), &st) == 0 && (st.st_mode & 0777) != 0600) {
            ::chmod(file.c_str(), 0600);
        }
    }
}

/// A prune or vacuum the writer runs between write batches; whoever asked waits on `done`.
struct Ledger::Job {
    enum Kind { prune = 0, vacuum = 1 };
    int kind = prune;
    std::int64_t cutoff_ms = 0;  ///< prune: a UTC day's start
    std::int64_t deleted = 0;
    bool rows_done = false;  ///< prune: rows and rollups deleted, vacuum steps left
    std::promise<std::expected<std::int64_t, std::string>> done;
};

bool keep_statement_journals_in_memory()
{
    return sqlite3_config(SQLITE_CONFIG_STMTJRNL_SPILL, 4 << 20) == SQLITE_OK;
}

bool skip_sqlite_memory_statistics()
{
    return sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0) == SQLITE_OK;
}

std::expected<std::unique_ptr<Ledger>, std::string> Ledger::open(const std::filesystem::path& path, int retention_days,
                                                                 std::size_t queue_capacity)
{
    LedgerOptions options;
    options.retention_days = retention_days;
    options.queue_capacity = queue_capacity;
    return open(path, options);
}

std::expected<std::unique_ptr<Ledger>, std::string> Ledger::open(const std::filesystem::path& path,
                                                                 const LedgerOptions& options)
{
    std::unique_ptr<Ledger> ledger(new Ledger());
    ledger->m_path = path;
    ledger->m_options = options;
    ledger->m_capacity = std::max<std::size_t>(options.queue_capacity, 1);
    ledger->m_options.retention_days = std::max(options.retention_days, 0);
    try {
        if (path.has_parent_path()) {
            std::error_code ignored;  // the open below reports a missing directory
            std::filesystem::create_directories(path.parent_path(), ignored);
        }
        make_private(path);
        // One thread at a time uses this connection (here, then the writer, then close()
        // after joining it): no mutex around each of SQLite's calls, about a tenth of the
        // writer's instructions a row.
        ledger->m_db = std::make_unique<SQLite::Database>(
            path, SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE | SQLite::OPEN_NOMUTEX, k_busy_timeout_ms);
        register_hist_functions(*ledger->m_db);
        // auto_vacuum can only be chosen before the first table exists; an older file
        // switches on vacuum().
        if (ledger->m_db->execAndGet("PRAGMA page_count").getInt64() == 0) {
            ledger->m_db->exec("PRAGMA auto_vacuum=INCREMENTAL");
        }
        const std::string mode = ledger->m_db->execAndGet("PRAGMA journal_mode=WAL").getString();
        if (mode != "wal") {
            return std::unexpected("cannot put the ledger database " + path.string() + " in WAL mode (got '" + mode +
                                   "'); put the data dir on a local filesystem");
        }
        ledger->m_db->exec("PRAGMA synchronous=NORMAL");
        // The writer's index pages stay in memory (32 MiB at most): inserts into the
        // request_id index land on random pages.
        ledger->m_db->exec("PRAGMA cache_size=-32768");
    } catch (const std::exception& e) {
        return std::unexpected("cannot open the ledger database " + path.string() + ": " + e.what() +
                               "; check that the data dir exists and is writable");
    }

    auto version = apply_migrations(*ledger->m_db);
    if (!version) {
        return std::unexpected(path.string() + ": " + version.error());
    }
    ledger->m_schema_version = *version;
    make_private(path);  // -wal and -shm exist now

    ledger->m_writer = std::thread([raw = ledger.get()] { raw->writer_loop(); });
    return ledger;
}

Ledger::~Ledger()
{
    close();
}

void Ledger::record(LedgerRow row)
{
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
    m_queued_at.push_back(std::chrono::steady_clock::now());
    ++m_enqueued;
    // Notified under the lock: once the writer can see this row, close() may finish and
    // destroy the ledger, so this thread must not touch it after unlocking. Only an idle
    // writer needs waking; a busy or lingering one takes this row with its batch.
    if (m_writer_idle) {
        m_cv_has_rows.notify_one();
    }
}

bool Ledger::try_record(LedgerRow&& row)
{
    std::unique_lock lock(m_mu);
    if (m_stopping || m_queue.size() >= m_capacity) {
        return false;
    }
    m_queue.push_back(std::move(row));
    m_queued_at.push_back(std::chrono::steady_clock::now());
    ++m_enqueued;
    if (m_writer_idle) {
        m_cv_has_rows.notify_one();
    }
    return true;
}

std::size_t Ledger::queue_depth() const
{
    std::lock_guard lock(m_mu);
    return static_cast<std::size_t>(m_enqueued - m_committed);
}

std::chrono::milliseconds Ledger::lag() const
{
    std::lock_guard lock(m_mu);
    std::optional<std::chrono::steady_clock::time_point> oldest = m_batch_queued_at;
    if (!oldest && !m_queued_at.empty()) {
        oldest = m_queued_at.front();
    }
    if (!oldest) {
        return std::chrono::milliseconds{0};
    }
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - *oldest);
}

void Ledger::flush()
{
    std::unique_lock lock(m_mu);
    const std::uint64_t target = m_enqueued;
    m_cv_flushed.wait(lock, [&] { return m_committed >= target; });
}

void Ledger::close()
{
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

void Ledger::prune(std::int64_t now_ms)
{
    if (m_options.retention_days <= 0) {
        return;
    }
    auto pruned = prune_before(now_ms - m_options.retention_days * k_ms_per_day);
    if (!pruned) {
        std::cerr << "aigw ledger: pruning " << m_path.string() << " failed: " << pruned.error()
                  << "; it will be retried at the next prune\n";
    }
}

std::expected<std::int64_t, std::string> Ledger::run_job(int kind, std::int64_t before_ms)
{
    auto job = std::make_shared<Job>();
    job->kind = kind;
    job->cutoff_ms = day_start(before_ms);
    auto done = job->done.get_future();
    {
        std::lock_guard lock(m_mu);
        if (m_stopping) {
            return std::unexpected("the ledger is closed");
        }
        m_jobs.push_back(job);
    }
    m_cv_has_rows.notify_all();
    return done.get();
}

std::expected<std::int64_t, std::string> Ledger::prune_before(std::int64_t before_ms)
{
    return run_job(Job::prune, before_ms);
}

std::expected<std::int64_t, std::string> Ledger::vacuum()
{
    return run_job(Job::vacuum, 0);
}

bool Ledger::maintenance_step()
{
    std::shared_ptr<Job> job;
    bool retention = false;
    {
        std::lock_guard lock(m_mu);
        if (!m_jobs.empty()) {
            job = m_jobs.front();
        }
    }
    if (!job) {
        job = m_retention_job;
        retention = true;
    }
    if (!job) {
        return false;
    }
    auto finish = [&](std::expected<std::int64_t, std::string> result) {
        if (retention) {
            if (!result) {
                std::cerr << "aigw ledger: retention on " << m_path.string() << " failed: " << result.error()
                          << "; it will be retried at the next run\n";
            }
            m_retention_job.reset();
            return;
        }
        job->done.set_value(std::move(result));
        std::lock_guard lock(m_mu);
        m_jobs.pop_front();
    };
    try {
        if (job->kind == Job::vacuum) {
            m_db->exec("PRAGMA auto_vacuum=INCREMENTAL");
            m_db->exec("VACUUM");
            m_db->exec("PRAGMA wal_checkpoint(TRUNCATE)");
            make_private(m_path);
            std::error_code ec;
            const auto size = std::filesystem::file_size(m_path, ec);
            finish(ec ? 0 : static_cast<std::int64_t>(size));
            return true;
        }
        if (!job->rows_done) {
            const std::int64_t deleted = prune_batch(*m_db, job->cutoff_ms, k_prune_batch_rows);
            job->deleted += deleted;
            job->rows_done = deleted < k_prune_batch_rows;
            if (job->rows_done && job->deleted > 0) {
                sweep_nodes(*m_db);
            }
            return true;
        }
        // The freed pages go back to the filesystem a few MiB per step (a no-op unless the
        // file is in incremental auto_vacuum mode).
        if (m_db->execAndGet("PRAGMA freelist_count").getInt64() > 0 &&
            m_db->execAndGet("PRAGMA auto_vacuum").getInt() == 2) {
            m_db->exec("PRAGMA incremental_vacuum(" + std::to_string(k_vacuum_pages_per_step) + ")");
            return true;
        }
        // A reader may hold the WAL; then it is truncated at a later checkpoint.
        m_db->exec("PRAGMA wal_checkpoint(TRUNCATE)");
        finish(job->deleted);
    } catch (const std::exception& e) {
        finish(std::unexpected(std::string(e.what())));
    }
    return true;
}

void Ledger::writer_loop()
{
    std::optional<WriterStatements> statements;
    std::vector<LedgerRow> batch;
    batch.reserve(k_max_batch_rows);
    const bool retention = m_options.retention_days > 0;
    auto next_retention = std::chrono::steady_clock::now() + m_options.first_retention_delay;
    for (;;) {
        {
            std::unique_lock lock(m_mu);
            auto ready = [&] {
                return !m_queue.empty() || !m_jobs.empty() || (m_stopping && m_waiting_recorders == 0);
            };
            // With maintenance going, the writer only checks for rows between its steps.
            if (!m_retention_job && m_jobs.empty()) {
                m_writer_idle = true;
                if (retention) {
                    m_cv_has_rows.wait_until(lock, next_retention, ready);
                } else {
                    m_cv_has_rows.wait(lock, ready);
                }
                m_writer_idle = false;
            }
            if (m_queue.empty() && m_stopping && m_waiting_recorders == 0) {
                // Every row is committed; maintenance asked for now will not run.
                for (auto& job : m_jobs) {
                    job->done.set_value(std::unexpected("the ledger was closed before it ran"));
                }
                m_jobs.clear();
                return;
            }
            // Linger so rows arriving together share one transaction: under load that is
            // one commit per k_linger instead of one per request. It ends early when a batch
            // is full or a recorder waits for room (a small queue is not held back).
            const auto linger_until = std::chrono::steady_clock::now() + k_linger;
            while (!m_queue.empty() && !m_stopping && m_waiting_recorders == 0 &&
                   m_queue.size() < std::min(k_max_batch_rows, m_capacity) &&
                   std::chrono::steady_clock::now() < linger_until) {
                lock.unlock();
                std::this_thread::sleep_for(k_linger_step);
                lock.lock();
            }
            const std::size_t n = std::min(m_queue.size(), k_max_batch_rows);
            const auto end = m_queue.begin() + static_cast<std::ptrdiff_t>(n);
            std::move(m_queue.begin(), end, std::back_inserter(batch));
            m_queue.erase(m_queue.begin(), end);
            if (n > 0) {
                m_batch_queued_at = m_queued_at.front();
                m_queued_at.erase(m_queued_at.begin(), m_queued_at.begin() + static_cast<std::ptrdiff_t>(n));
            }
            if (n > 0) {
                m_cv_room.notify_all();
            }
        }

        if (!batch.empty()) {
            for (int attempt = 1; attempt <= k_write_tries; ++attempt) {
                try {
                    if (!statements) {
                        statements.emplace(*m_db);
                    }
                    write_batch(*m_db, *statements, batch);
                    break;
                } catch (const std::exception& e) {
                    if (statements) {
                        statements->reset();
                    }
                    if (attempt == k_write_tries) {
                        std::cerr << "aigw ledger: lost " << batch.size() << " rows, writing " << m_path.string()
                                  << " failed " << k_write_tries << " times: " << e.what() << "\n";
                    } else {
                        std::this_thread::sleep_for(std::chrono::milliseconds(100 * attempt));
                    }
                }
            }
            {
                std::lock_guard lock(m_mu);
                m_committed += batch.size();
                m_batch_queued_at.reset();
                m_cv_flushed.notify_all();
            }
            batch.clear();
        }

        if (retention && !m_retention_job && std::chrono::steady_clock::now() >= next_retention) {
            next_retention = std::chrono::steady_clock::now() + m_options.retention_interval;
            const auto now = std::chrono::duration_cast<std::chrono::milliseconds>(
                                 std::chrono::system_clock::now().time_since_epoch())
                                 .count();
            m_retention_job = std::make_shared<Job>();
            m_retention_job->cutoff_ms = day_start(now - m_options.retention_days * k_ms_per_day);
        }
        // One bounded step (a few ms to a few tens of ms), then back to the queue.
        maintenance_step();
    }
}

std::expected<std::vector<CostGroup>, std::string> Ledger::cost(const CostQuery& q) const
{
    const auto column = std::find_if(k_group_columns.begin(), k_group_columns.end(),
                                     [&](const GroupColumn& entry) { return entry.name == q.group_by; });
    if (column == k_group_columns.end()) {
        return std::unexpected("unknown group_by '" + q.group_by +
                               "'; use one of: model, provider, key, day, variant, tag, surface, session");
    }
    // Money and tokens count every attempt (a stream cut mid-way was billed); requests,
    // errors, cache hits and latency describe outcomes, so only final attempts count (the
    // rollups keep both).
    // Until now: to the end of the current hour, which the hourly rollup answers (no row is
    // newer than now), instead of reading the current hour's rows, which can be many.
    const std::int64_t until = q.until_ms == 0 ? (now_ms() / k_ms_per_hour + 1) * k_ms_per_hour : q.until_ms;
    const std::string sql = cost_sql(*column, plan_range(q.since_ms, until));
    std::vector<CostGroup> groups;
    if (sql.empty()) {
        return groups;
    }
    try {
        SQLite::Database db = open_reader(m_path);
        SQLite::Statement query(db, sql);
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
            const auto latency_sum = query.getColumn(8).getInt64();
            group.avg_latency_ms =
                group.requests > 0 ? static_cast<double>(latency_sum) / static_cast<double>(group.requests) : 0;
            group.saved_usd = query.getColumn(9).getDouble();
            const SQLite::Column hist = query.getColumn(10);
            if (hist.isBlob()) {
                group.latency_hist.assign(static_cast<const char*>(hist.getBlob()),
                                          static_cast<std::size_t>(hist.getBytes()));
                LatencyCounts counts{};
                add_encoded(counts, group.latency_hist);
                group.p95_latency_ms = percentile_ms(counts, 95);
            }
            groups.push_back(std::move(group));
        }
        return groups;
    } catch (const std::exception& e) {
        return std::unexpected("cannot read the ledger " + m_path.string() + ": " + e.what());
    }
}

std::expected<Spend, std::string> Ledger::spend_since(std::int64_t since_ms) const
{
    CostQuery q;
    q.since_ms = since_ms;
    q.group_by = "key";
    auto groups = cost(q);
    if (!groups) {
        return std::unexpected(groups.error());
    }
    Spend spend;
    for (const auto& g : *groups) {
        spend.total_usd += g.cost_usd;
        spend.by_key.emplace_back(g.key, g.cost_usd);
    }
    std::sort(spend.by_key.begin(), spend.by_key.end());
    return spend;
}

std::expected<LedgerStats, std::string> Ledger::stats() const
{
    LedgerStats st;
    st.schema_version = m_schema_version;
    st.retention_days = m_options.retention_days;
    st.queue_depth = queue_depth();
    st.queue_capacity = m_capacity;
    try {
        SQLite::Database db = open_reader(m_path);
        st.rows = db.execAndGet("SELECT COUNT(*) FROM requests").getInt64();
        st.oldest_ts_ms = db.execAndGet("SELECT COALESCE(MIN(ts_ms), 0) FROM requests").getInt64();
        st.newest_ts_ms = db.execAndGet("SELECT COALESCE(MAX(ts_ms), 0) FROM requests").getInt64();
        st.rollup_rows = db.execAndGet("SELECT COUNT(*) FROM rollups").getInt64();
        st.page_size = db.execAndGet("PRAGMA page_size").getInt64();
        st.page_count = db.execAndGet("PRAGMA page_count").getInt64();
        st.free_pages = db.execAndGet("PRAGMA freelist_count").getInt64();
        const int mode = db.execAndGet("PRAGMA auto_vacuum").getInt();
        st.auto_vacuum = mode == 2 ? "incremental" : (mode == 1 ? "full" : "none");
    } catch (const std::exception& e) {
        return std::unexpected("cannot read the ledger " + m_path.string() + ": " + e.what());
    }
    std::error_code ec;
    const auto size = std::filesystem::file_size(m_path, ec);
    st.file_bytes = ec ? 0 : static_cast<std::int64_t>(size);
    const auto wal = std::filesystem::file_size(m_path.string() + "-wal", ec);
    st.wal_bytes = ec ? 0 : static_cast<std::int64_t>(wal);
    return st;
}

std::expected<std::int64_t, std::string> Ledger::export_rows(std::int64_t since_ms, std::int64_t until_ms,
                                                             ExportFormat format, std::ostream& out) const
{
    static constexpr std::array<std::string_view, 30> k_names{"ts_ms",
                                                              "request_id",
                                                              "key_id",
                                                              "surface",
                                                              "requested_model",
                                                              "served_model",
                                                              "provider",
                                                              "status",
                                                              "attempt",
                                                              "attempts",
                                                              "final_attempt",
                                                              "fallback_reason",
                                                              "error",
                                                              "input_tokens",
                                                              "cached_tokens",
                                                              "cache_write_tokens",
                                                              "output_tokens",
                                                              "reasoning_tokens",
                                                              "cost_usd",
                                                              "priced",
                                                              "latency_ms",
                                                              "ttft_ms",
                                                              "stream",
                                                              "cache_hit",
                                                              "tag",
                                                              "variant",
                                                              "request_body",
                                                              "response_body",
                                                              "saved_usd",
                                                              "session"};
    const std::string sql = std::string(k_select_row_sql) + "WHERE r.ts_ms >= ? AND r.ts_ms < ? ORDER BY r.ts_ms, r.id";
    std::int64_t written = 0;
    try {
        SQLite::Database db = open_reader(m_path);
        SQLite::Statement query(db, sql);
        query.bind(1, since_ms);
        query.bind(2, until_ms == 0 ? now_ms() + 1 : until_ms);
        std::string line;
        if (format == ExportFormat::csv) {
            for (std::size_t c = 0; c < k_names.size(); ++c) {
                line += (c == 0 ? "" : ",") + std::string(k_names[c]);
            }
            out << line << '\n';
        }
        while (query.executeStep()) {
            line.clear();
            if (format == ExportFormat::jsonl) {
                line.push_back('{');
            }
            for (int c = 0; c < static_cast<int>(k_names.size()); ++c) {
                const SQLite::Column col = query.getColumn(c);
                const std::string_view name = k_names[static_cast<std::size_t>(c)];
                if (name == "request_body" && query.getColumn(k_select_row_columns - 2).getInt64() > 0) {
                    const std::string body =
                        stored_request_body(db, col.getString(), query.getColumn(k_select_row_columns - 2).getInt64(),
                                            query.getColumn(k_select_row_columns - 1).getString());
                    if (c > 0) {
                        line.push_back(',');
                    }
                    if (format == ExportFormat::jsonl) {
                        append_json_string(line, name);
                        line.push_back(':');
                        append_json_string(line, body);
                    } else {
                        append_csv_field(line, body);
                    }
                    continue;
                }
                if (format == ExportFormat::jsonl) {
                    if (c > 0) {
                        line.push_back(',');
                    }
                    append_json_string(line, name);
                    line.push_back(':');
                    if (col.isInteger()) {
                        line += std::to_string(col.getInt64());
                    } else if (col.isFloat()) {
                        line += number(col.getDouble());
                    } else {
                        append_json_string(line, col.getString());
                    }
                } else {
                    if (c > 0) {
                        line.push_back(',');
                    }
                    if (col.isFloat()) {
                        line += number(col.getDouble());
                    } else {
                        append_csv_field(line, col.getString());
                    }
                }
            }
            if (format == ExportFormat::jsonl) {
                line.push_back('}');
            }
            line.push_back('\n');
            out << line;
            if (!out) {
                return std::unexpected("writing the export failed after " + std::to_string(written) + " rows");
            }
            ++written;
        }
        out.flush();
        if (!out) {
            return std::unexpected("writing the export failed after " + std::to_string(written) + " rows");
        }
        return written;
    } catch (const std::exception& e) {
        return std::unexpected("cannot read the ledger " + m_path.string() + ": " + e.what());
    }
}

std::expected<std::vector<LedgerRow>, std::string> Ledger::recent(int limit, bool all_attempts) const
{
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
            rows.push_back(row_from(db, query));
        }
        return rows;
    } catch (const std::exception& e) {
        return std::unexpected("cannot read the ledger " + m_path.string() + ": " + e.what());
    }
}

namespace {

/// Binds what entries_where() built (its :p1, :p2, ... placeholders).
void bind_where(SQLite::Statement& query, const SqlWhere& where)
{
    for (std::size_t i = 0; i < where.params.size(); ++i) {
        const std::string name = ":p" + std::to_string(i + 1);
        if (const auto* n = std::get_if<std::int64_t>(&where.params[i])) {
            query.bind(name, *n);
        } else {
            query.bind(name, std::get<std::string>(where.params[i]));
        }
    }
}

}  // namespace

std::expected<std::vector<LedgerEntry>, std::string> Ledger::entries(const EntryFilter& f) const
{
    // k_select_row_sql with the row id in front: "SELECT r.id, r.ts_ms, ...".
    std::string sql = "SELECT r.id, " + std::string(k_select_row_sql).substr(std::string_view("SELECT ").size());
    const SqlWhere where = entries_where(f, SqlDialect::sqlite, "r.id");
    sql += where.sql + entries_order(f, "r.id");
    const bool newest = newest_first(f);
    try {
        SQLite::Database db = open_reader(m_path);
        SQLite::Statement query(db, sql);
        bind_where(query, where);
        std::vector<LedgerEntry> out;
        while (query.executeStep()) {
            LedgerEntry entry;
            entry.row_id = query.getColumn(0).getInt64();
            entry.row = row_from(db, query, 1);
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

std::expected<std::vector<SearchHit>, SearchError> Ledger::search(const std::string& text, const EntryFilter& f) const
{
    // Matches in nodes map to the node's first request; matches in a row's own words to
    // that row. One hit per request: the best-ranked match gives the snippet (SQLite takes
    // a bare column from the row that has the MIN()).
    std::string sql =
        "WITH hits(row_id, snip, score) AS ("
        "SELECT n.first_row_id, snippet(node_fts, 0, '[', ']', '...', 12), node_fts.rank "
        "FROM node_fts JOIN body_nodes n ON n.id = node_fts.rowid WHERE node_fts MATCH :q "
        "UNION ALL "
        "SELECT row_fts.rowid, snippet(row_fts, 0, '[', ']', '...', 12), row_fts.rank "
        "FROM row_fts WHERE row_fts MATCH :q), "
        "best(row_id, snip, score) AS (SELECT row_id, snip, MIN(score) FROM hits GROUP BY row_id) "
        "SELECT r.id, best.snip, " +
        std::string(k_select_row_sql).substr(std::string_view("SELECT ").size());
    const std::string_view from_clause = "FROM requests r ";
    sql.replace(sql.find(from_clause), from_clause.size(), "FROM best JOIN requests r ON r.id = best.row_id ");
    EntryFilter filter = f;
    filter.after_row_id.reset();
    filter.all_attempts = true;  // bodies are on final attempts; a request_id filter means every attempt
    const SqlWhere where = entries_where(filter, SqlDialect::sqlite, "r.id");
    sql += where.sql + "ORDER BY r.id DESC";
    if (filter.limit > 0) {
        sql += " LIMIT " + std::to_string(filter.limit);
    }
    try {
        SQLite::Database db = open_reader(m_path);
        SQLite::Statement query(db, sql);
        query.bind(":q", text);
        bind_where(query, where);
        std::vector<SearchHit> out;
        try {
            while (query.executeStep()) {
                SearchHit hit;
                hit.entry.row_id = query.getColumn(0).getInt64();
                hit.snippet = query.getColumn(1).getString();
                hit.entry.row = row_from(db, query, 2);
                out.push_back(std::move(hit));
            }
        } catch (const SQLite::Exception& e) {
            // FTS5 reports a query it cannot parse as "fts5: syntax error near ...", an
            // unknown column filter ("body: words") as "no such column", an unknown
            // special query as "unknown special query".
            const std::string what = e.what();
            if (what.starts_with("fts5:") || what.find("no such column") != std::string::npos ||
                what.find("unknown special query") != std::string::npos ||
                what.find("unterminated string") != std::string::npos) {
                return std::unexpected(SearchError{
                    true, "not a valid search query '" + text + "' (" + what +
                              "); use words, \"a phrase\", prefix*, AND, OR, NOT, and put a word with - or : in "
                              "double quotes"});
            }
            throw;
        }
        return out;
    } catch (const std::exception& e) {
        return std::unexpected(SearchError{false, "cannot read the ledger " + m_path.string() + ": " + e.what()});
    }
}

int Ledger::schema_version() const
{
    return m_schema_version;
}

int Ledger::latest_schema_version()
{
    return static_cast<int>(ledger_migrations().size());
}

}  // namespace aigw::daemon::ledger

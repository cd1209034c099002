#include "daemon/cluster/pg_ledger.hpp"

#include "daemon/ledger/latency_hist.hpp"

#include <SQLiteCpp/SQLiteCpp.h>
#include <openssl/rand.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <fstream>
#include <iostream>
#include <map>
#include <optional>
#include <variant>
#include <sys/stat.h>

namespace aigw::daemon::cluster {

namespace {

/// The columns replicated, in the order of encode_insert's parameters.
constexpr std::array<std::string_view, 30> k_columns{
    "instance_id",     "local_id",         "ts_ms",    "request_id",   "key_id",        "surface",
    "requested_model", "served_model",     "provider", "status",       "attempt",       "attempts",
    "final_attempt",   "fallback_reason",  "error",    "input_tokens", "cached_tokens", "cache_write_tokens",
    "output_tokens",   "reasoning_tokens", "cost_usd", "priced",       "latency_ms",    "ttft_ms",
    "stream",          "cache_hit",        "tag",      "variant",      "saved_usd",     "session"};

std::string number(double v)
{
    std::array<char, 64> buf{};
    auto [p, ec] = std::to_chars(buf.data(), buf.data() + buf.size(), v);
    return ec == std::errc{} ? std::string(buf.data(), p) : std::string("0");
}

constexpr const char* k_read_rows_sql =
    "SELECT id, ts_ms, request_id, key_id, surface, requested_model, served_model, provider, status, attempt, "
    "attempts, final_attempt, fallback_reason, error, input_tokens, cached_tokens, cache_write_tokens, "
    "output_tokens, reasoning_tokens, cost_usd, priced, latency_ms, ttft_ms, stream, cache_hit, tag, variant, "
    "saved_usd, session FROM requests WHERE id > ? ORDER BY id LIMIT ?";

std::vector<ledger::LedgerEntry> read_rows(SQLite::Database& db, std::int64_t after, std::size_t limit)
{
    SQLite::Statement q(db, k_read_rows_sql);
    q.bind(1, static_cast<std::int64_t>(after));
    q.bind(2, static_cast<std::int64_t>(limit));
    std::vector<ledger::LedgerEntry> out;
    while (q.executeStep()) {
        ledger::LedgerEntry e;
        auto& r = e.row;
        e.row_id = q.getColumn(0).getInt64();
        r.ts_ms = q.getColumn(1).getInt64();
        r.request_id = q.getColumn(2).getString();
        r.key_id = q.getColumn(3).getString();
        r.surface = q.getColumn(4).getString();
        r.requested_model = q.getColumn(5).getString();
        r.served_model = q.getColumn(6).getString();
        r.provider = q.getColumn(7).getString();
        r.status = q.getColumn(8).getInt();
        r.attempt = q.getColumn(9).getInt();
        r.attempts = q.getColumn(10).getInt();
        r.final_attempt = q.getColumn(11).getInt() != 0;
        r.fallback_reason = q.getColumn(12).getString();
        r.error = q.getColumn(13).getString();
        r.input_tokens = q.getColumn(14).getInt64();
        r.cached_tokens = q.getColumn(15).getInt64();
        r.cache_write_tokens = q.getColumn(16).getInt64();
        r.output_tokens = q.getColumn(17).getInt64();
        r.reasoning_tokens = q.getColumn(18).getInt64();
        r.cost_usd = q.getColumn(19).getDouble();
        r.priced = q.getColumn(20).getInt() != 0;
        r.latency_ms = q.getColumn(21).getInt64();
        r.ttft_ms = q.getColumn(22).getInt64();
        r.stream = q.getColumn(23).getInt() != 0;
        r.cache_hit = q.getColumn(24).getInt() != 0;
        r.tag = q.getColumn(25).getString();
        r.variant = q.getColumn(26).getString();
        r.saved_usd = q.getColumn(27).getDouble();
        r.session = q.getColumn(28).getString();
        out.push_back(std::move(e));
    }
    return out;
}

}  // namespace

PgInsert encode_insert(std::string_view instance_id, const std::vector<ledger::LedgerEntry>& rows)
{
    PgInsert ins;
    if (rows.empty()) {
        return ins;
    }
    ins.sql = "INSERT INTO aigw_ledger_requests (";
    for (std::size_t c = 0; c < k_columns.size(); ++c) {
        if (c > 0) {
            ins.sql += ", ";
        }
        ins.sql += k_columns[c];
    }
    ins.sql += ") VALUES ";
    ins.params.reserve(rows.size() * k_columns.size());
    std::size_t n = 0;
    for (std::size_t i = 0; i < rows.size(); ++i) {
        ins.sql += i ? ", (" : "(";
        for (std::size_t c = 0; c < k_columns.size(); ++c) {
            ins.sql += c > 0 ? ", $" : "$";
            ins.sql += std::to_string(++n);
        }
        ins.sql += ")";
        const auto& r = rows[i].row;
        auto b = [](bool v) { return std::string(v ? "1" : "0"); };
        std::array<std::string, 30> values{pg_text(instance_id),
                                           std::to_string(rows[i].row_id),
                                           std::to_string(r.ts_ms),
                                           pg_text(r.request_id),
                                           pg_text(r.key_id),
                                           pg_text(r.surface),
                                           pg_text(r.requested_model),
                                           pg_text(r.served_model),
                                           pg_text(r.provider),
                                           std::to_string(r.status),
                                           std::to_string(r.attempt),
                                           std::to_string(r.attempts),
                                           b(r.final_attempt),
                                           pg_text(r.fallback_reason),
                                           pg_text(r.error),
                                           std::to_string(r.input_tokens),
                                           std::to_string(r.cached_tokens),
                                           std::to_string(r.cache_write_tokens),
                                           std::to_string(r.output_tokens),
                                           std::to_string(r.reasoning_tokens),
                                           number(r.cost_usd),
                                           b(r.priced),
                                           std::to_string(r.latency_ms),
                                           std::to_string(r.ttft_ms),
                                           b(r.stream),
                                           b(r.cache_hit),
                                           pg_text(r.tag),
                                           pg_text(r.variant),
                                           number(r.saved_usd),
                                           pg_text(r.session)};
        for (auto& v : values) {
            ins.params.push_back(std::move(v));
        }
    }
    ins.sql += " ON CONFLICT (instance_id, local_id) DO NOTHING";
    return ins;
}

std::expected<std::string, std::string> renew_instance_id(const std::filesystem::path& data_dir)
{
    std::error_code ec;
    std::filesystem::remove(data_dir / "instance_id", ec);
    if (ec) {
        return std::unexpected("cannot remove " + (data_dir / "instance_id").string() + ": " + ec.message());
    }
    return load_or_create_instance_id(data_dir);
}

std::expected<std::string, std::string> load_or_create_instance_id(const std::filesystem::path& data_dir)
{
    const auto path = data_dir / "instance_id";
    auto valid = [](const std::string& id) {
        return id.size() == 32 && std::all_of(id.begin(), id.end(),
                                              [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
    };
    if (std::ifstream in(path); in) {
        std::string id;
        std::getline(in, id);
        if (valid(id)) {
            return id;
        }
        return std::unexpected(path.string() +
                               " does not hold an instance id (32 hex digits); remove it and restart aigwd to make a "
                               "new one (this instance's rows then replicate to the shared ledger again under it)");
    }
    std::array<unsigned char, 16> raw{};
    if (RAND_bytes(raw.data(), static_cast<int>(raw.size())) != 1) {
        return std::unexpected("cannot make an instance id: no random bytes from OpenSSL");
    }
    static constexpr char k_hex[] = "0123456789abcdef";
    std::string id;
    for (unsigned char c : raw) {
        id.push_back(k_hex[c >> 4]);
        id.push_back(k_hex[c & 15]);
    }
    const auto tmp = data_dir / "instance_id.tmp";
    {
        std::ofstream out(tmp, std::ios::trunc);
        out << id << "\n";
        if (!out.flush()) {
            return std::unexpected("cannot write " + tmp.string());
        }
    }
    ::chmod(tmp.c_str(), 0600);
    std::error_code ec;
    std::filesystem::rename(tmp, path, ec);
    if (ec) {
        return std::unexpected("cannot write " + path.string() + ": " + ec.message());
    }
    return id;
}

PgLedger::PgLedger(PgLedgerOptions options)
    : m_options(std::move(options)), m_redacted_url(redact_postgres_url(m_options.url))
{
    m_thread = std::thread([this] { run(); });
}

PgLedger::~PgLedger()
{
    stop(std::chrono::milliseconds(0));
}

bool PgLedger::sync(std::chrono::milliseconds timeout)
{
    std::unique_lock lock(m_mu);
    if (m_stopping) {
        return false;
    }
    const auto gen = ++m_sync_requested;
    m_cv.notify_all();
    return m_cv_synced.wait_for(lock, timeout, [&] { return m_sync_done >= gen || m_stopping; }) && m_sync_done >= gen;
}

void PgLedger::stop(std::chrono::milliseconds timeout)
{
    std::lock_guard stop_lock(m_stop_mu);
    {
        std::lock_guard lock(m_mu);
        if (!m_stopping) {
            m_stopping = true;
            m_stop_deadline = std::chrono::steady_clock::now() + timeout;
        }
        m_cv.notify_all();
        m_cv_synced.notify_all();
    }
    if (m_thread.joinable()) {
        m_thread.join();
    }
}

void PgLedger::run()
{
    using clock = std::chrono::steady_clock;
    PgConn conn;
    std::optional<SQLite::Database> local;
    std::int64_t high_water = 0;
    std::chrono::milliseconds backoff{0};
    bool down = false;           // logged as down; the next catch-up is logged
    std::int64_t caught_up = 0;  // rows copied since it came back
    std::string last_error;
    auto next_retention = clock::now();

    // One pass: connect when needed, then copy batches until the local ledger has no newer
    // row (true) or `deadline` passes (false). An error closes the connection, so the next
    // pass reads the high-water mark again: a batch whose COMMIT answer was lost is then
    // not sent twice, and if it was, ON CONFLICT drops it.
    auto pass = [&](clock::time_point deadline) -> std::expected<bool, std::string> {
        if (!conn) {
            auto c = pg_connect(m_options.url);
            if (!c) {
                return std::unexpected(c.error());
            }
            conn = std::move(*c);
            if (auto m = pg_migrate(conn.get()); !m) {
                conn.reset();
                return std::unexpected(m.error());
            }
            auto hw = pg_exec(conn.get(),
                              "SELECT COALESCE(MAX(local_id), 0) FROM aigw_ledger_requests WHERE instance_id = $1",
                              {m_options.instance_id});
            if (!hw) {
                conn.reset();
                return std::unexpected(hw.error());
            }
            high_water = pg_int_at(hw->get(), 0, 0);
        }
        for (;;) {
            std::vector<ledger::LedgerEntry> rows;
            try {
                if (!local) {
                    local.emplace(m_options.ledger_path.string(), SQLite::OPEN_READONLY);
                    local->exec("PRAGMA busy_timeout = 5000");
                }
                rows = read_rows(*local, high_water, m_options.batch_rows);
            } catch (const std::exception& e) {
                local.reset();
                return std::unexpected("reading the local ledger " + m_options.ledger_path.string() + ": " + e.what());
            }
            if (rows.empty()) {
                // Row ids below the high-water mark only: the local ledger was started
                // anew under this id. Its rows would be skipped, or dropped as duplicates
                // of the old rows with the same ids: they go under a new id instead.
                std::int64_t local_max = 0;
                try {
                    local_max = local->execAndGet("SELECT COALESCE(MAX(id), 0) FROM requests").getInt64();
                } catch (const std::exception& e) {
                    local.reset();
                    return std::unexpected("reading the local ledger " + m_options.ledger_path.string() + ": " +
                                           e.what());
                }
                if (local_max == 0 || local_max >= high_water || m_options.data_dir.empty()) {
                    return true;
                }
                auto renewed = renew_instance_id(m_options.data_dir);
                if (!renewed) {
                    return std::unexpected(renewed.error());
                }
                std::cerr << "aigwd: shared ledger: the local ledger's row ids start again (" << local_max << " < "
                          << high_water << " already copied as instance " << m_options.instance_id
                          << "): a new ledger.db; its rows are copied as instance " << *renewed << "\n";
                m_options.instance_id = *renewed;
                high_water = 0;
                continue;
            }
            const auto ins = encode_insert(m_options.instance_id, rows);
            if (auto r = pg_exec(conn.get(), ins.sql, ins.params); !r) {
                conn.reset();
                return std::unexpected(r.error());
            }
            high_water = rows.back().row_id;
            m_replicated += static_cast<std::int64_t>(rows.size());
            if (down) {
                caught_up += static_cast<std::int64_t>(rows.size());
            }
            if (rows.size() < m_options.batch_rows || clock::now() >= deadline) {
                return rows.size() < m_options.batch_rows;
            }
        }
    };

    for (;;) {
        std::uint64_t gen = 0;
        bool stopping = false;
        clock::time_point deadline = clock::time_point::max();
        {
            std::lock_guard lock(m_mu);
            gen = m_sync_requested;
            stopping = m_stopping;
            if (stopping) {
                deadline = m_stop_deadline;
            }
        }
        auto result = pass(stopping ? deadline : clock::now() + std::chrono::seconds(1));
        if (result && !stopping && m_options.retention_days > 0 && clock::now() >= next_retention) {
            next_retention = clock::now() + m_options.retention_interval;
            const auto now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                                    std::chrono::system_clock::now().time_since_epoch())
                                    .count();
            if (auto pruned = prune_before(now_ms - std::int64_t{m_options.retention_days} * 86'400'000); !pruned) {
                std::cerr << "aigwd: shared ledger: retention: " << pruned.error() << "\n";
            }
        }
        if (result) {
            m_up = true;
            backoff = std::chrono::milliseconds(0);
            if (*result) {
                if (down) {
                    std::cerr << "aigwd: shared ledger: PostgreSQL at " << m_redacted_url
                              << " is reachable again; copied " << caught_up
                              << " rows that waited in the local ledger\n";
                    down = false;
                    caught_up = 0;
                }
                std::lock_guard lock(m_mu);
                m_sync_done = std::max(m_sync_done, gen);
                m_cv_synced.notify_all();
            }
        } else {
            m_up = false;
            if (!down) {
                std::cerr << "aigwd: shared ledger: cannot copy rows to PostgreSQL at " << m_redacted_url << ": "
                          << result.error()
                          << "; new rows wait in the local ledger and are copied when it is back (retrying)\n";
                down = true;
                caught_up = 0;
            }
            last_error = result.error();
            backoff =
                std::min(m_options.max_backoff, backoff.count() == 0 ? std::chrono::milliseconds(100) : backoff * 2);
        }
        if (stopping) {
            const bool done = result && *result;
            if (done || clock::now() + std::chrono::milliseconds(100) >= deadline) {
                if (!done) {
                    std::cerr << "aigwd: shared ledger: stopping with rows not yet copied to PostgreSQL ("
                              << (result ? std::string("out of time") : last_error)
                              << "); they stay in the local ledger and are copied at the next start\n";
                }
                return;
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(100));
            continue;
        }
        if (result && !*result) {
            continue;  // a backlog: the next batch at once
        }
        std::unique_lock lock(m_mu);
        m_cv.wait_for(lock, result ? m_options.poll : backoff,
                      [&] { return m_stopping || (result && m_sync_requested > gen); });
    }
}

std::expected<PgConn, std::string> PgLedger::connect_for_reading() const
{
    auto conn = pg_connect(m_options.url);
    if (!conn) {
        return std::unexpected("cannot reach the shared ledger in PostgreSQL at " + m_redacted_url + ": " +
                               conn.error() +
                               "; every instance's rows are kept in its local ledger until it is back: start "
                               "PostgreSQL or fix [cluster] postgres_url, then ask again");
    }
    return conn;
}

std::expected<ledger::CostReport, std::string> PgLedger::cost_report(const ledger::CostQuery& q) const
{
    const auto expr = ledger::group_expression(q.group_by, ledger::SqlDialect::postgres);
    if (!expr) {
        return std::unexpected(*ledger::check_group_by(q.group_by));
    }
    auto conn = connect_for_reading();
    if (!conn) {
        return std::unexpected(conn.error());
    }
    // Money and tokens count every attempt; requests, errors, cache hits and latency only
    // final attempts (as Ledger::cost). The second query gives each group's latencies,
    // which become the same buckets the local ledger's p95 is read from.
    const std::string range =
        " FROM aigw_ledger_requests WHERE ts_ms >= $1::bigint AND ($2::bigint = 0 OR ts_ms < $2::bigint)";
    const std::string totals_sql =
        "SELECT " + std::string(*expr) +
        " AS g, SUM(final_attempt), SUM(CASE WHEN final_attempt = 1 AND status >= 400 THEN 1 ELSE 0 END), "
        "SUM(input_tokens), SUM(cached_tokens), SUM(output_tokens), SUM(cost_usd), "
        "SUM(CASE WHEN final_attempt = 1 AND cache_hit = 1 THEN 1 ELSE 0 END), "
        "SUM(CASE WHEN final_attempt = 1 THEN latency_ms ELSE 0 END), SUM(saved_usd)" +
        range + " GROUP BY g";
    const std::string latency_sql =
        "SELECT " + std::string(*expr) + " AS g, latency_ms, COUNT(*)" + range + " AND final_attempt = 1 GROUP BY g, 2";
    const std::vector<std::string> params{std::to_string(q.since_ms), std::to_string(q.until_ms)};
    // One snapshot for both queries, so rows arriving between them cannot skew the p95.
    if (auto r = pg_exec(conn->get(), "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"); !r) {
        return std::unexpected("reading the shared ledger in PostgreSQL at " + m_redacted_url + ": " + r.error());
    }
    auto totals = pg_exec(conn->get(), totals_sql, params);
    if (!totals) {
        return std::unexpected("reading the shared ledger in PostgreSQL at " + m_redacted_url + ": " + totals.error());
    }
    auto latencies = pg_exec(conn->get(), latency_sql, params);
    if (!latencies) {
        return std::unexpected("reading the shared ledger in PostgreSQL at " + m_redacted_url + ": " +
                               latencies.error());
    }
    std::vector<ledger::CostGroup> groups;
    std::map<std::string, ledger::LatencyCounts> hist;
    PGresult* r = totals->get();
    for (int i = 0; i < libpq().ntuples(r); ++i) {
        ledger::CostGroup g;
        g.key = pg_text_at(r, i, 0);
        g.requests = pg_int_at(r, i, 1);
        g.errors = pg_int_at(r, i, 2);
        g.input_tokens = pg_int_at(r, i, 3);
        g.cached_tokens = pg_int_at(r, i, 4);
        g.output_tokens = pg_int_at(r, i, 5);
        g.cost_usd = pg_double_at(r, i, 6);
        g.cache_hits = pg_int_at(r, i, 7);
        const auto latency_sum = pg_int_at(r, i, 8);
        g.avg_latency_ms = g.requests > 0 ? static_cast<double>(latency_sum) / static_cast<double>(g.requests) : 0;
        g.saved_usd = pg_double_at(r, i, 9);
        groups.push_back(std::move(g));
    }
    PGresult* l = latencies->get();
    for (int i = 0; i < libpq().ntuples(l); ++i) {
        auto& counts = hist.try_emplace(pg_text_at(l, i, 0), ledger::LatencyCounts{}).first->second;
        counts[static_cast<std::size_t>(ledger::latency_bucket(pg_int_at(l, i, 1)))] +=
            static_cast<std::uint64_t>(pg_int_at(l, i, 2));
    }
    for (auto& g : groups) {
        if (const auto it = hist.find(g.key); it != hist.end()) {
            g.latency_hist = ledger::encode(it->second);
            g.p95_latency_ms = ledger::percentile_ms(it->second, 95);
        }
    }
    return ledger::make_report(std::move(groups));
}

std::expected<std::vector<ledger::LedgerEntry>, std::string> PgLedger::entries(const ledger::EntryFilter& f) const
{
    auto conn = connect_for_reading();
    if (!conn) {
        return std::unexpected(conn.error());
    }
    const auto where = ledger::entries_where(f, ledger::SqlDialect::postgres, "r.seq");
    std::string sql = "SELECT r.seq";
    for (std::size_t c = 2; c < k_columns.size(); ++c) {  // every column but instance_id and local_id
        sql += ", r.";
        sql += k_columns[c];
    }
    sql += " FROM aigw_ledger_requests r " + where.sql + ledger::entries_order(f, "r.seq");
    std::vector<std::string> params;
    for (const auto& p : where.params) {
        params.push_back(std::holds_alternative<std::int64_t>(p) ? std::to_string(std::get<std::int64_t>(p))
                                                                 : pg_text(std::get<std::string>(p)));
    }
    auto res = pg_exec(conn->get(), sql, params);
    if (!res) {
        return std::unexpected("reading the shared ledger in PostgreSQL at " + m_redacted_url + ": " + res.error());
    }
    PGresult* r = res->get();
    std::vector<ledger::LedgerEntry> out;
    out.reserve(static_cast<std::size_t>(libpq().ntuples(r)));
    for (int i = 0; i < libpq().ntuples(r); ++i) {
        ledger::LedgerEntry e;
        e.row_id = pg_int_at(r, i, 0);
        auto& row = e.row;
        row.ts_ms = pg_int_at(r, i, 1);
        row.request_id = pg_text_at(r, i, 2);
        row.key_id = pg_text_at(r, i, 3);
        row.surface = pg_text_at(r, i, 4);
        row.requested_model = pg_text_at(r, i, 5);
        row.served_model = pg_text_at(r, i, 6);
        row.provider = pg_text_at(r, i, 7);
        row.status = static_cast<int>(pg_int_at(r, i, 8));
        row.attempt = static_cast<int>(pg_int_at(r, i, 9));
        row.attempts = static_cast<int>(pg_int_at(r, i, 10));
        row.final_attempt = pg_int_at(r, i, 11) != 0;
        row.fallback_reason = pg_text_at(r, i, 12);
        row.error = pg_text_at(r, i, 13);
        row.input_tokens = pg_int_at(r, i, 14);
        row.cached_tokens = pg_int_at(r, i, 15);
        row.cache_write_tokens = pg_int_at(r, i, 16);
        row.output_tokens = pg_int_at(r, i, 17);
        row.reasoning_tokens = pg_int_at(r, i, 18);
        row.cost_usd = pg_double_at(r, i, 19);
        row.priced = pg_int_at(r, i, 20) != 0;
        row.latency_ms = pg_int_at(r, i, 21);
        row.ttft_ms = pg_int_at(r, i, 22);
        row.stream = pg_int_at(r, i, 23) != 0;
        row.cache_hit = pg_int_at(r, i, 24) != 0;
        row.tag = pg_text_at(r, i, 25);
        row.variant = pg_text_at(r, i, 26);
        row.saved_usd = pg_double_at(r, i, 27);
        row.session = pg_text_at(r, i, 28);
        out.push_back(std::move(e));
    }
    if (ledger::newest_first(f)) {
        std::reverse(out.begin(), out.end());
    }
    return out;
}

std::expected<std::int64_t, std::string> PgLedger::prune_before(std::int64_t before_ms) const
{
    constexpr std::int64_t k_ms_per_day = 86'400'000;
    const std::int64_t cutoff = before_ms - ((before_ms % k_ms_per_day) + k_ms_per_day) % k_ms_per_day;
    auto conn = connect_for_reading();
    if (!conn) {
        return std::unexpected(conn.error());
    }
    std::int64_t deleted = 0;
    for (;;) {
        // Bounded statements: a first prune of a large table does not hold one long lock.
        auto r = pg_exec(conn->get(),
                         "DELETE FROM aigw_ledger_requests WHERE ctid IN (SELECT ctid FROM aigw_ledger_requests "
                         "WHERE ts_ms < $1::bigint LIMIT 10000)",
                         {std::to_string(cutoff)});
        if (!r) {
            return std::unexpected("pruning the shared ledger in PostgreSQL at " + m_redacted_url + ": " + r.error());
        }
        const char* n = libpq().cmdTuples(r->get());
        const std::int64_t batch = n && *n ? std::stoll(n) : 0;
        deleted += batch;
        if (batch < 10000) {
            return deleted;
        }
    }
}

}  // namespace aigw::daemon::cluster

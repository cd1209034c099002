#include "daemon/cluster/pg_ledger.hpp"

#include <SQLiteCpp/SQLiteCpp.h>
#include <libpq-fe.h>
#include <openssl/rand.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <fstream>
#include <iostream>
#include <optional>
#include <sys/stat.h>

namespace aigw::daemon::cluster {

namespace {

struct ConnCloser {
    void operator()(PGconn* c) const { PQfinish(c); }
};
using PgConn = std::unique_ptr<PGconn, ConnCloser>;
struct ResultClearer {
    void operator()(PGresult* r) const { PQclear(r); }
};
using PgResult = std::unique_ptr<PGresult, ResultClearer>;

/// Any key that takes pg_advisory_xact_lock for the ledger's migrations: "aigwlgr1".
constexpr long long k_migration_lock = 0x6169677700000001LL;

constexpr std::array k_migrations{
    PgMigration{1, "create aigw_ledger_requests",
                R"sql(
CREATE TABLE aigw_ledger_requests (
    instance_id        TEXT             NOT NULL,
    local_id           BIGINT           NOT NULL,
    ts_ms              BIGINT           NOT NULL,
    request_id         TEXT             NOT NULL,
    key_id             TEXT             NOT NULL DEFAULT '',
    surface            TEXT             NOT NULL DEFAULT '',
    requested_model    TEXT             NOT NULL DEFAULT '',
    served_model       TEXT             NOT NULL DEFAULT '',
    provider           TEXT             NOT NULL DEFAULT '',
    status             INTEGER          NOT NULL DEFAULT 0,
    attempt            INTEGER          NOT NULL DEFAULT 1,
    attempts           INTEGER          NOT NULL DEFAULT 1,
    final_attempt      INTEGER          NOT NULL DEFAULT 1,
    fallback_reason    TEXT             NOT NULL DEFAULT '',
    error              TEXT             NOT NULL DEFAULT '',
    input_tokens       BIGINT           NOT NULL DEFAULT 0,
    cached_tokens      BIGINT           NOT NULL DEFAULT 0,
    cache_write_tokens BIGINT           NOT NULL DEFAULT 0,
    output_tokens      BIGINT           NOT NULL DEFAULT 0,
    reasoning_tokens   BIGINT           NOT NULL DEFAULT 0,
    cost_usd           DOUBLE PRECISION NOT NULL DEFAULT 0,
    priced             INTEGER          NOT NULL DEFAULT 1,
    latency_ms         BIGINT           NOT NULL DEFAULT 0,
    ttft_ms            BIGINT           NOT NULL DEFAULT -1,
    stream             INTEGER          NOT NULL DEFAULT 0,
    cache_hit          INTEGER          NOT NULL DEFAULT 0,
    tag                TEXT             NOT NULL DEFAULT '',
    variant            TEXT             NOT NULL DEFAULT '',
    saved_usd          DOUBLE PRECISION NOT NULL DEFAULT 0,
    session            TEXT             NOT NULL DEFAULT '',
    PRIMARY KEY (instance_id, local_id)
);
-- cost reports' ranges and logs newest-first
CREATE INDEX aigw_ledger_requests_ts ON aigw_ledger_requests (ts_ms);
-- one request's attempts
CREATE INDEX aigw_ledger_requests_request_id ON aigw_ledger_requests (request_id);
)sql"},
};

/// The columns replicated, in the order of encode_insert's parameters.
constexpr std::array<std::string_view, 30> k_columns{
    "instance_id",     "local_id",         "ts_ms",    "request_id",   "key_id",        "surface",
    "requested_model", "served_model",     "provider", "status",       "attempt",       "attempts",
    "final_attempt",   "fallback_reason",  "error",    "input_tokens", "cached_tokens", "cache_write_tokens",
    "output_tokens",   "reasoning_tokens", "cost_usd", "priced",       "latency_ms",    "ttft_ms",
    "stream",          "cache_hit",        "tag",      "variant",      "saved_usd",     "session"};

/// Text PostgreSQL accepts: valid UTF-8 (invalid bytes become U+FFFD) without NUL bytes.
std::string pg_text(std::string_view s)
{
    std::string out;
    out.reserve(s.size());
    std::size_t i = 0;
    while (i < s.size()) {
        const auto c = static_cast<unsigned char>(s[i]);
        if (c == 0) {
            ++i;
            continue;
        }
        if (c < 0x80) {
            out.push_back(static_cast<char>(c));
            ++i;
            continue;
        }
        std::size_t len = 0;
        std::uint32_t cp = 0;
        if ((c & 0xE0) == 0xC0) {
            len = 2;
            cp = c & 0x1F;
        } else if ((c & 0xF0) == 0xE0) {
            len = 3;
            cp = c & 0x0F;
        } else if ((c & 0xF8) == 0xF0) {
            len = 4;
            cp = c & 0x07;
        }
        bool ok = len > 0 && i + len <= s.size();
        for (std::size_t k = 1; ok && k < len; ++k) {
            const auto cc = static_cast<unsigned char>(s[i + k]);
            ok = (cc & 0xC0) == 0x80;
            cp = (cp << 6) | (cc & 0x3F);
        }
        // Overlong forms, surrogates and code points past U+10FFFF are invalid too.
        ok = ok && !(len == 2 && cp < 0x80) && !(len == 3 && cp < 0x800) && !(len == 4 && cp < 0x10000) &&
             !(cp >= 0xD800 && cp <= 0xDFFF) && cp <= 0x10FFFF;
        if (ok) {
            out.append(s.substr(i, len));
            i += len;
        } else {
            out += "\xEF\xBF\xBD";
            ++i;
        }
    }
    return out;
}

std::string number(double v)
{
    std::array<char, 64> buf{};
    auto [p, ec] = std::to_chars(buf.data(), buf.data() + buf.size(), v);
    return ec == std::errc{} ? std::string(buf.data(), p) : std::string("0");
}

std::string pg_error(PGconn* conn)
{
    std::string e = conn ? PQerrorMessage(conn) : "out of memory";
    while (!e.empty() && (e.back() == '\n' || e.back() == ' ')) {
        e.pop_back();
    }
    std::replace(e.begin(), e.end(), '\n', ' ');
    return e;
}

/// Connects with a 2 s connect timeout; never prints NOTICEs.
std::expected<PgConn, std::string> pg_connect(const std::string& url)
{
    const char* keys[] = {"dbname", "connect_timeout", "application_name", nullptr};
    const char* values[] = {url.c_str(), "2", "aigwd", nullptr};
    PgConn conn(PQconnectdbParams(keys, values, 1));
    if (!conn || PQstatus(conn.get()) != CONNECTION_OK) {
        return std::unexpected(pg_error(conn.get()));
    }
    PQsetNoticeProcessor(
        conn.get(), [](void*, const char*) {}, nullptr);
    return conn;
}

/// Runs `sql` with text parameters; returns the result when it succeeded.
std::expected<PgResult, std::string> pg_exec(PGconn* conn, const std::string& sql,
                                             const std::vector<std::string>& params = {})
{
    std::vector<const char*> values;
    values.reserve(params.size());
    for (const auto& p : params) {
        values.push_back(p.c_str());
    }
    // Without parameters, the simple protocol: a migration is several statements.
    PgResult res(values.empty() ? PQexec(conn, sql.c_str())
                                : PQexecParams(conn, sql.c_str(), static_cast<int>(values.size()), nullptr,
                                               values.data(), nullptr, nullptr, 0));
    const auto status = res ? PQresultStatus(res.get()) : PGRES_FATAL_ERROR;
    if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) {
        std::string e = res ? PQresultErrorMessage(res.get()) : pg_error(conn);
        while (!e.empty() && e.back() == '\n') {
            e.pop_back();
        }
        return std::unexpected(e.empty() ? pg_error(conn) : e);
    }
    return res;
}

std::int64_t int_at(PGresult* r, int row, int col)
{
    if (PQgetisnull(r, row, col)) {
        return 0;
    }
    const char* text = PQgetvalue(r, row, col);
    std::string_view s(text);
    // SUM() of integers is numeric: "123" (no fraction), parsed as an integer.
    std::int64_t v = 0;
    std::from_chars(s.data(), s.data() + s.size(), v);
    return v;
}

double double_at(PGresult* r, int row, int col)
{
    if (PQgetisnull(r, row, col)) {
        return 0;
    }
    const char* text = PQgetvalue(r, row, col);
    double v = 0;
    std::from_chars(text, text + std::char_traits<char>::length(text), v);
    return v;
}

/// Applies the migrations not yet applied, in one transaction under an advisory lock, so
/// instances starting together apply each migration once.
std::expected<void, std::string> migrate(PGconn* conn)
{
    const auto migrations = pg_ledger_migrations();
    const int latest = migrations.empty() ? 0 : migrations.back().version;
    auto fail = [&](const std::string& what) -> std::expected<void, std::string> {
        PgResult(PQexec(conn, "ROLLBACK"));
        return std::unexpected("migrating the shared ledger's schema: " + what);
    };
    if (auto r = pg_exec(conn, "BEGIN"); !r) {
        return std::unexpected("migrating the shared ledger's schema: " + r.error());
    }
    if (auto r = pg_exec(conn, "SELECT pg_advisory_xact_lock(" + std::to_string(k_migration_lock) + ")"); !r) {
        return fail(r.error());
    }
    if (auto r = pg_exec(conn,
                         "CREATE TABLE IF NOT EXISTS aigw_ledger_migrations (version INTEGER PRIMARY KEY, "
                         "name TEXT NOT NULL, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())");
        !r) {
        return fail(r.error());
    }
    auto current = pg_exec(conn, "SELECT COALESCE(MAX(version), 0) FROM aigw_ledger_migrations");
    if (!current) {
        return fail(current.error());
    }
    const auto version = int_at(current->get(), 0, 0);
    if (version > latest) {
        return fail("the database has schema version " + std::to_string(version) + " but this aigw knows only up to " +
                    std::to_string(latest) + "; it was written by a newer aigw: upgrade aigw on this machine");
    }
    for (const auto& m : migrations) {
        if (m.version <= version) {
            continue;
        }
        if (auto r = pg_exec(conn, std::string(m.sql)); !r) {
            return fail("migration " + std::to_string(m.version) + " (" + std::string(m.name) + "): " + r.error());
        }
        if (auto r = pg_exec(conn, "INSERT INTO aigw_ledger_migrations (version, name) VALUES ($1, $2)",
                             {std::to_string(m.version), std::string(m.name)});
            !r) {
            return fail(r.error());
        }
    }
    if (auto r = pg_exec(conn, "COMMIT"); !r) {
        return fail(r.error());
    }
    return {};
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

/// The SQL expression of each group_by on aigw_ledger_requests (a fixed list: user text is
/// never put into SQL).
std::optional<std::string_view> group_expr(std::string_view group_by)
{
    static constexpr std::array<std::pair<std::string_view, std::string_view>, 8> k_groups{{
        {"model", "served_model"},
        {"provider", "provider"},
        {"key", "key_id"},
        {"day", "to_char(to_timestamp(ts_ms / 1000) AT TIME ZONE 'UTC', 'YYYY-MM-DD')"},
        {"variant", "variant"},
        {"tag", "tag"},
        {"surface", "surface"},
        {"session", "session"},
    }};
    for (const auto& [name, expr] : k_groups) {
        if (name == group_by) {
            return expr;
        }
    }
    return std::nullopt;
}

}  // namespace

std::string redact_postgres_url(std::string_view url)
{
    std::string out(url);
    // postgresql://user:password@host/...: the password is between the first ':' after the
    // scheme and the last '@' of the authority.
    if (const auto scheme = out.find("://"); scheme != std::string::npos) {
        const auto auth_start = scheme + 3;
        auto auth_end = out.find_first_of("/?", auth_start);
        if (auth_end == std::string::npos) {
            auth_end = out.size();
        }
        const auto at = out.rfind('@', auth_end);
        if (at != std::string::npos && at >= auth_start) {
            const auto colon = out.find(':', auth_start);
            if (colon != std::string::npos && colon < at) {
                out.replace(colon + 1, at - colon - 1, "***");
            }
        }
    }
    // ...?password=secret&... (or a key=value connection string's password=...)
    for (std::size_t pos = 0; (pos = out.find("password=", pos)) != std::string::npos;) {
        const bool at_start = pos == 0 || out[pos - 1] == '?' || out[pos - 1] == '&' || out[pos - 1] == ' ';
        pos += 9;
        if (!at_start) {
            continue;
        }
        auto end = out.find_first_of("& ", pos);
        if (end == std::string::npos) {
            end = out.size();
        }
        out.replace(pos, end - pos, "***");
        pos += 3;
    }
    return out;
}

bool known_group_by(std::string_view group_by)
{
    return group_expr(group_by).has_value();
}

std::vector<PgMigration> pg_ledger_migrations()
{
    return {k_migrations.begin(), k_migrations.end()};
}

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
            if (auto m = migrate(conn.get()); !m) {
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
            high_water = int_at(hw->get(), 0, 0);
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

std::expected<PgCostReport, std::string> PgLedger::cost(const ledger::CostQuery& q) const
{
    const auto expr = group_expr(q.group_by);
    if (!expr) {
        return std::unexpected("unknown group_by '" + q.group_by +
                               "'; use one of: model, provider, key, day, variant, tag, surface, session");
    }
    auto conn = pg_connect(m_options.url);
    if (!conn) {
        return std::unexpected("cannot reach the shared ledger in PostgreSQL at " + m_redacted_url + ": " +
                               conn.error() +
                               "; every instance's rows are kept in its local ledger until it is back: start "
                               "PostgreSQL or fix [cluster] postgres_url, then ask again");
    }
    // Money and tokens count every attempt; requests, errors, cache hits and latency only
    // final attempts (as Ledger::cost). ROLLUP adds the total as the last row.
    const std::string sql =
        "SELECT g, SUM(final_attempt), SUM(CASE WHEN final_attempt = 1 AND status >= 400 THEN 1 ELSE 0 END), "
        "SUM(input_tokens), SUM(cached_tokens), SUM(output_tokens), SUM(cost_usd), "
        "SUM(CASE WHEN final_attempt = 1 AND cache_hit = 1 THEN 1 ELSE 0 END), "
        "SUM(CASE WHEN final_attempt = 1 THEN latency_ms ELSE 0 END), SUM(saved_usd), "
        "percentile_disc(0.95) WITHIN GROUP (ORDER BY latency_ms) FILTER (WHERE final_attempt = 1), "
        "GROUPING(g) FROM (SELECT " +
        std::string(*expr) +
        " AS g, * FROM aigw_ledger_requests WHERE ts_ms >= $1::bigint AND ($2::bigint = 0 OR ts_ms < $2::bigint)) r "
        "GROUP BY ROLLUP (g) ORDER BY GROUPING(g), 7 DESC, 1 ASC";
    auto res = pg_exec(conn->get(), sql, {std::to_string(q.since_ms), std::to_string(q.until_ms)});
    if (!res) {
        return std::unexpected("reading the shared ledger in PostgreSQL at " + m_redacted_url + ": " + res.error());
    }
    PgCostReport report;
    PGresult* r = res->get();
    for (int i = 0; i < PQntuples(r); ++i) {
        ledger::CostGroup g;
        g.key = PQgetisnull(r, i, 0) ? "" : PQgetvalue(r, i, 0);
        g.requests = int_at(r, i, 1);
        g.errors = int_at(r, i, 2);
        g.input_tokens = int_at(r, i, 3);
        g.cached_tokens = int_at(r, i, 4);
        g.output_tokens = int_at(r, i, 5);
        g.cost_usd = double_at(r, i, 6);
        g.cache_hits = int_at(r, i, 7);
        const auto latency_sum = int_at(r, i, 8);
        g.avg_latency_ms = g.requests > 0 ? static_cast<double>(latency_sum) / static_cast<double>(g.requests) : 0;
        g.saved_usd = double_at(r, i, 9);
        g.p95_latency_ms = int_at(r, i, 10);
        if (int_at(r, i, 11) == 1) {
            g.key = "total";
            report.total = std::move(g);
        } else {
            report.groups.push_back(std::move(g));
        }
    }
    return report;
}

}  // namespace aigw::daemon::cluster

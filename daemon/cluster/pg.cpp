#include "daemon/cluster/pg.hpp"

#include <algorithm>
#include <array>
#include <charconv>
#include <stdexcept>
#include <type_traits>

#include <dlfcn.h>

namespace aigw::daemon::cluster {

namespace {

/// Any key that takes pg_advisory_xact_lock for the schema's migrations: "aigwlgr1".
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
    PgMigration{2, "aigw_ledger_requests: a cursor for logs, indexes for its filters",
                R"sql(
-- The order rows reached PostgreSQL (every instance's): `aigw logs -f`'s cursor.
ALTER TABLE aigw_ledger_requests ADD COLUMN seq BIGSERIAL;
CREATE UNIQUE INDEX aigw_ledger_requests_seq ON aigw_ledger_requests (seq);
CREATE INDEX aigw_ledger_requests_key ON aigw_ledger_requests (key_id, ts_ms);
CREATE INDEX aigw_ledger_requests_model ON aigw_ledger_requests (served_model, ts_ms);
CREATE INDEX aigw_ledger_requests_errors ON aigw_ledger_requests (ts_ms) WHERE status >= 400;
CREATE INDEX aigw_ledger_requests_tag ON aigw_ledger_requests (tag) WHERE tag <> '';
CREATE INDEX aigw_ledger_requests_session ON aigw_ledger_requests (session) WHERE session <> '';
)sql"},
    PgMigration{3, "create aigw_keys",
                R"sql(
-- The team's virtual keys: id -> record (limits::encode_key_record: the secret's hash, never
-- the secret); revoked_ms repeats the record's, so a put can compare revocations in SQL.
CREATE TABLE aigw_keys (
    id         TEXT   PRIMARY KEY,
    record     TEXT   NOT NULL,
    revoked_ms BIGINT NOT NULL DEFAULT 0
);
-- One row: bumped by every write to aigw_keys, polled by every instance.
CREATE TABLE aigw_keys_version (
    one     INTEGER PRIMARY KEY CHECK (one = 1),
    version BIGINT  NOT NULL
);
INSERT INTO aigw_keys_version (one, version) VALUES (1, 0);
)sql"},
};

std::string pg_error(PGconn* conn)
{
    std::string e = conn ? libpq().errorMessage(conn) : "out of memory";
    while (!e.empty() && (e.back() == '\n' || e.back() == ' ')) {
        e.pop_back();
    }
    std::replace(e.begin(), e.end(), '\n', ' ');
    return e;
}

}  // namespace

std::expected<void, std::string> pg_migrate(PGconn* conn)
{
    const auto migrations = pg_migrations();
    const int latest = migrations.empty() ? 0 : migrations.back().version;
    auto fail = [&](const std::string& what) -> std::expected<void, std::string> {
        PgResult(libpq().exec(conn, "ROLLBACK"));
        return std::unexpected("migrating the team database's schema: " + what);
    };
    if (auto r = pg_exec(conn, "BEGIN"); !r) {
        return std::unexpected("migrating the team database's schema: " + r.error());
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
    const auto version = pg_int_at(current->get(), 0, 0);
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

std::expected<const LibPq*, std::string> load_libpq()
{
    static const std::expected<LibPq, std::string> loaded = []() -> std::expected<LibPq, std::string> {
        // The soname, as the libpq5 package installs it (libpq-dev adds only the unversioned link).
        void* handle = dlopen("libpq.so.5", RTLD_NOW | RTLD_LOCAL);
        if (handle == nullptr) {
            const char* why = dlerror();
            return std::unexpected(std::string("the team database needs libpq (apt-get install libpq5): ") +
                                   (why != nullptr ? why : "libpq.so.5 could not be loaded"));
        }
        LibPq lib{};
        std::string missing;
        auto load = [&](auto& fn, const char* name) {
            fn = reinterpret_cast<std::remove_reference_t<decltype(fn)>>(dlsym(handle, name));
            if (fn == nullptr && missing.empty()) {
                missing = name;
            }
        };
        load(lib.connectdbParams, "PQconnectdbParams");
        load(lib.status, "PQstatus");
        load(lib.errorMessage, "PQerrorMessage");
        load(lib.setNoticeProcessor, "PQsetNoticeProcessor");
        load(lib.exec, "PQexec");
        load(lib.execParams, "PQexecParams");
        load(lib.resultStatus, "PQresultStatus");
        load(lib.resultErrorMessage, "PQresultErrorMessage");
        load(lib.getisnull, "PQgetisnull");
        load(lib.getvalue, "PQgetvalue");
        load(lib.getlength, "PQgetlength");
        load(lib.conninfoParse, "PQconninfoParse");
        load(lib.freemem, "PQfreemem");
        load(lib.conninfoFree, "PQconninfoFree");
        load(lib.ntuples, "PQntuples");
        load(lib.cmdTuples, "PQcmdTuples");
        load(lib.finish, "PQfinish");
        load(lib.clear, "PQclear");
        if (!missing.empty()) {
            return std::unexpected("the libpq.so.5 found has no " + missing + "; install Debian's libpq5");
        }
        return lib;  // the handle stays open for the life of the process
    }();
    if (!loaded) {
        return std::unexpected(loaded.error());
    }
    return &*loaded;
}

const LibPq& libpq()
{
    auto lib = load_libpq();
    if (!lib) {
        throw std::runtime_error(lib.error());  // a caller skipped load_libpq(): a bug, not a setup problem
    }
    return **lib;
}

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

std::expected<PgConn, std::string> pg_connect(const std::string& url)
{
    // TCP keepalives and tcp_user_timeout bound libpq's blocking reads and writes on a peer
    // that vanished without closing (a partition, a host powered off) to about 10 s, instead
    // of the kernel's retransmission timeout: the replicator, key sync, report readers and
    // shutdown do not hang on it. Keys before dbname yield to the URL's own settings; the
    // 2 s connect timeout after it does not.
    const char* keys[] = {"keepalives",       "keepalives_idle",  "keepalives_interval",
                          "keepalives_count", "tcp_user_timeout", "dbname",
                          "connect_timeout",  "application_name", nullptr};
    const char* values[] = {"1", "5", "2", "2", "10000", url.c_str(), "2", "aigwd", nullptr};
    auto lib = load_libpq();
    if (!lib) {
        return std::unexpected(lib.error());
    }
    const LibPq& pq = **lib;
    PgConn conn(pq.connectdbParams(keys, values, 1));
    if (!conn || pq.status(conn.get()) != CONNECTION_OK) {
        return std::unexpected(pg_error(conn.get()));
    }
    pq.setNoticeProcessor(
        conn.get(), [](void*, const char*) {}, nullptr);
    return conn;
}

std::expected<PgResult, std::string> pg_exec(PGconn* conn, const std::string& sql,
                                             const std::vector<std::string>& params)
{
    std::vector<const char*> values;
    values.reserve(params.size());
    for (const auto& p : params) {
        values.push_back(p.c_str());
    }
    // Without parameters, the simple protocol: a migration is several statements.
    PgResult res(values.empty() ? libpq().exec(conn, sql.c_str())
                                : libpq().execParams(conn, sql.c_str(), static_cast<int>(values.size()), nullptr,
                                                     values.data(), nullptr, nullptr, 0));
    const auto status = res ? libpq().resultStatus(res.get()) : PGRES_FATAL_ERROR;
    if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) {
        std::string e = res ? libpq().resultErrorMessage(res.get()) : pg_error(conn);
        while (!e.empty() && e.back() == '\n') {
            e.pop_back();
        }
        return std::unexpected(e.empty() ? pg_error(conn) : e);
    }
    return res;
}

std::string pg_text_at(PGresult* r, int row, int col)
{
    return libpq().getisnull(r, row, col) ? std::string()
                                          : std::string(libpq().getvalue(r, row, col), libpq().getlength(r, row, col));
}

std::int64_t pg_int_at(PGresult* r, int row, int col)
{
    if (libpq().getisnull(r, row, col)) {
        return 0;
    }
    const char* text = libpq().getvalue(r, row, col);
    std::string_view s(text);
    // SUM() of integers is numeric: "123" (no fraction), parsed as an integer.
    std::int64_t v = 0;
    std::from_chars(s.data(), s.data() + s.size(), v);
    return v;
}

double pg_double_at(PGresult* r, int row, int col)
{
    if (libpq().getisnull(r, row, col)) {
        return 0;
    }
    const char* text = libpq().getvalue(r, row, col);
    double v = 0;
    std::from_chars(text, text + std::char_traits<char>::length(text), v);
    return v;
}

std::vector<PgMigration> pg_migrations()
{
    return {k_migrations.begin(), k_migrations.end()};
}

}  // namespace aigw::daemon::cluster

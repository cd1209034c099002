#pragma once
// libpq, as the cluster's PostgreSQL users (the shared ledger, the shared virtual keys)
// need it: blocking calls, so only on threads made for them (never an event loop), and the
// one numbered schema of every aigw table in the team database.

#include <libpq-fe.h>

#include <cstdint>
#include <expected>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace aigw::daemon::cluster {

/// libpq, opened with dlopen on first use rather than linked: a daemon without a team database
/// then never loads it and the twenty libraries it pulls in (GnuTLS, Kerberos, LDAP: 3.3 MB
/// resident from start, GnuTLS alone 1.1 MB).
struct LibPq {
    decltype(&::PQconnectdbParams) connectdbParams;
    decltype(&::PQstatus) status;
    decltype(&::PQerrorMessage) errorMessage;
    decltype(&::PQsetNoticeProcessor) setNoticeProcessor;
    decltype(&::PQexec) exec;
    decltype(&::PQexecParams) execParams;
    decltype(&::PQresultStatus) resultStatus;
    decltype(&::PQresultErrorMessage) resultErrorMessage;
    decltype(&::PQgetisnull) getisnull;
    decltype(&::PQgetvalue) getvalue;
    decltype(&::PQgetlength) getlength;
    decltype(&::PQconninfoParse) conninfoParse;
    decltype(&::PQfreemem) freemem;
    decltype(&::PQconninfoFree) conninfoFree;
    decltype(&::PQntuples) ntuples;
    decltype(&::PQcmdTuples) cmdTuples;
    decltype(&::PQfinish) finish;
    decltype(&::PQclear) clear;
};

/// libpq.so.5, loaded once; the error says what to install when it is missing.
std::expected<const LibPq*, std::string> load_libpq();
/// The loaded libpq. Only where load_libpq() has succeeded (there is a PGconn or a PGresult).
const LibPq& libpq();

struct PgConnCloser {
    void operator()(PGconn* c) const { libpq().finish(c); }
};
using PgConn = std::unique_ptr<PGconn, PgConnCloser>;
struct PgResultClearer {
    void operator()(PGresult* r) const { libpq().clear(r); }
};
using PgResult = std::unique_ptr<PGresult, PgResultClearer>;

/// `url` with its password (userinfo after ':' or a password=... parameter) replaced by
/// "***": the form that may appear in logs and errors.
std::string redact_postgres_url(std::string_view url);

/// Connects with a 2 s connect timeout and TCP keepalives (a vanished peer fails a call in
/// about 10 s); NOTICEs are not printed. Errors: libpq's message on one line.
std::expected<PgConn, std::string> pg_connect(const std::string& url);

/// Runs `sql` with text parameters ($1, $2, ...); without parameters, by the simple
/// protocol (several statements may run). Returns the result when it succeeded.
std::expected<PgResult, std::string> pg_exec(PGconn* conn, const std::string& sql,
                                             const std::vector<std::string>& params = {});

/// A value as an integer (SUM() of integers is numeric: "123") or a double; NULL is 0.
std::int64_t pg_int_at(PGresult* r, int row, int col);
double pg_double_at(PGresult* r, int row, int col);
/// A value as text; NULL is "".
std::string pg_text_at(PGresult* r, int row, int col);

/// Text PostgreSQL accepts: valid UTF-8 (invalid bytes become U+FFFD), without NUL bytes.
std::string pg_text(std::string_view s);

/// One numbered migration of the team database.
struct PgMigration {
    int version;
    std::string_view name;
    std::string_view sql;
};
/// Every migration, versions 1, 2, ... in order.
std::vector<PgMigration> pg_migrations();

/// Applies the migrations not yet applied, in one transaction under an advisory lock, so
/// instances starting together apply each one once. Errors: a database written by a newer
/// aigw, or a statement that failed.
std::expected<void, std::string> pg_migrate(PGconn* conn);

}  // namespace aigw::daemon::cluster

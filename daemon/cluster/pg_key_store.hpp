#pragma once
// The cluster's copy of the virtual keys in PostgreSQL ([cluster] postgres_url): the team's
// store of record. Table aigw_keys (id -> record, and the record's revoked_ms repeated so a
// put compares revocations in SQL) and the one-row aigw_keys_version, bumped by every write
// in the same statement (migration 3 in pg.cpp).
//
// libpq blocks, so every call runs on this store's own worker thread, which owns the one
// connection (made on first use, again after it broke; pg_migrate at every connect), and
// the awaiting coroutine resumes on its own executor. Calls are serialised on that thread.

#include "daemon/cluster/key_sync.hpp"
#include "daemon/cluster/pg.hpp"

#include <boost/asio/thread_pool.hpp>

#include <atomic>
#include <cstdint>
#include <expected>
#include <functional>
#include <string>
#include <vector>

namespace aigw::daemon::cluster {

class PgKeyStore final : public SharedKeyStore {
public:
    /// `url`: postgresql://... (a secret: only its redacted form is shown). Connects lazily,
    /// on the first call.
    explicit PgKeyStore(std::string url);
    /// Waits for the call running on the worker (bounded by libpq's 2 s connect timeout, the
    /// 5 s statement timeout and TCP keepalives); calls still queued answer "stopping" at
    /// once. Closes the connection.
    ~PgKeyStore() override;
    PgKeyStore(const PgKeyStore&) = delete;
    PgKeyStore& operator=(const PgKeyStore&) = delete;

    /// aigw_keys_version's version (0 when the row is missing). Errors: unreachable.
    boost::asio::awaitable<std::expected<std::int64_t, std::string>> version() override;
    /// Every row of aigw_keys.
    boost::asio::awaitable<std::expected<std::vector<SharedKey>, std::string>> all() override;
    /// RedisKeyStore::put's rule in one statement (see k_put_key_sql). Errors: a record that
    /// is not a JSON object, unreachable.
    boost::asio::awaitable<std::expected<bool, std::string>> put(SharedKey key) override;
    /// "PostgreSQL at postgresql://user:***@host/db".
    std::string where() const override;

private:
    /// Runs `fn(conn)` on the worker with a live connection; when the connection turns out
    /// broken (the server restarted), connects again and runs it once more.
    template <class T>
    boost::asio::awaitable<std::expected<T, std::string>> on_worker(
        std::function<std::expected<T, std::string>(PGconn*)> fn);
    /// Worker only: the connection, made (and migrated) when there is none.
    std::expected<PGconn*, std::string> connection();
    /// `error` with the URL's password (if libpq ever echoed it) replaced by "***".
    std::string scrub(std::string error) const;

    std::string m_url;
    std::string m_redacted;
    std::string m_password;              ///< to scrub from errors; "" when the URL has none
    PgConn m_conn;                       ///< worker only
    std::atomic<bool> m_closing{false};  ///< set by the destructor: queued calls answer at once
    boost::asio::thread_pool m_worker{1};
};

/// The statement of PgKeyStore::put: $1 id, $2 record, $3 the record's revoked_ms. Returns
/// one row (the new version) when it wrote, none otherwise (exposed for tests).
extern const char* const k_put_key_sql;

/// A record's revoked_ms as put compares it: 0 when absent or not a number. Errors: the
/// record is not a JSON object.
std::expected<std::int64_t, std::string> record_revoked_ms(const std::string& record);

}  // namespace aigw::daemon::cluster

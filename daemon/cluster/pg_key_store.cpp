#include "daemon/cluster/pg_key_store.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <charconv>
#include <limits>
#include <utility>

namespace aigw::daemon::cluster {

namespace asio = boost::asio;

// The row is written when it is new, or when the new record is revoked and the stored one
// is not or was revoked later (and is not the same text); ON CONFLICT DO UPDATE re-checks
// its WHERE against the newest committed row under the row's lock, so concurrent puts of one
// id write at most once per real change. The version row is bumped in the same statement,
// only when `up` returned a row (and made again should someone have deleted it).
const char* const k_put_key_sql = R"sql(
WITH up AS (
    INSERT INTO aigw_keys AS k (id, record, revoked_ms) VALUES ($1, $2, $3::bigint)
    ON CONFLICT (id) DO UPDATE SET record = excluded.record, revoked_ms = excluded.revoked_ms
    WHERE k.record <> excluded.record AND excluded.revoked_ms > 0
      AND (k.revoked_ms = 0 OR excluded.revoked_ms < k.revoked_ms)
    RETURNING 1
)
INSERT INTO aigw_keys_version AS v (one, version) SELECT 1, 1 FROM up
ON CONFLICT (one) DO UPDATE SET version = v.version + 1
RETURNING version
)sql";

std::expected<std::int64_t, std::string> record_revoked_ms(const std::string& record)
{
    const auto j = nlohmann::json::parse(record, nullptr, false);
    if (!j.is_object()) {
        return std::unexpected(std::string("a key record must be a JSON object"));
    }
    const auto it = j.find("revoked_ms");
    if (it == j.end()) {
        return 0;
    }
    if (it->is_number_unsigned()) {
        return it->get<std::uint64_t>() > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())
                   ? std::numeric_limits<std::int64_t>::max()
                   : static_cast<std::int64_t>(it->get<std::uint64_t>());
    }
    if (it->is_number_integer()) {
        return it->get<std::int64_t>();
    }
    if (it->is_number_float()) {
        // Out of range (or NaN) counts as not revoked rather than as an undefined cast.
        const double d = it->get<double>();
        return d >= 1 && d < 9.2e18 ? static_cast<std::int64_t>(d) : 0;
    }
    if (it->is_string()) {
        // As Lua's tonumber in RedisKeyStore's script: a number written as text counts.
        const auto& s = it->get_ref<const std::string&>();
        std::int64_t v = 0;
        const auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
        return ec == std::errc() && ptr == s.data() + s.size() ? v : 0;
    }
    return 0;
}

namespace {

/// The password libpq would use from `url` ("" when none or when the URL does not parse).
std::string password_of(const std::string& url)
{
    auto lib = load_libpq();
    if (!lib) {
        return {};  // pg_connect says why
    }
    const LibPq& pq = **lib;
    char* error = nullptr;
    PQconninfoOption* options = pq.conninfoParse(url.c_str(), &error);
    if (error != nullptr) {
        pq.freemem(error);
    }
    std::string out;
    for (PQconninfoOption* o = options; o != nullptr && o->keyword != nullptr; ++o) {
        if (std::string_view(o->keyword) == "password" && o->val != nullptr) {
            out = o->val;
        }
    }
    if (options != nullptr) {
        pq.conninfoFree(options);
    }
    return out;
}

void replace_all(std::string& text, const std::string& what, const std::string& with)
{
    if (what.empty()) {
        return;
    }
    for (auto at = text.find(what); at != std::string::npos; at = text.find(what, at + with.size())) {
        text.replace(at, what.size(), with);
    }
}

/// Runs `fn` on the executor this is co_spawned on (the worker).
template <class T>
asio::awaitable<std::expected<T, std::string>> run_job(std::function<std::expected<T, std::string>()> fn)
{
    co_return fn();
}

}  // namespace

PgKeyStore::PgKeyStore(std::string url)
    : m_url(std::move(url)), m_redacted(redact_postgres_url(m_url)), m_password(password_of(m_url))
{}

PgKeyStore::~PgKeyStore()
{
    // Without stop(): the calls already queued run, so no awaiting coroutine is left without
    // an answer while this store is still whole; they answer at once (only the one running
    // may still wait, bounded by the timeouts).
    m_closing = true;
    m_worker.join();
}

std::string PgKeyStore::where() const
{
    return "PostgreSQL at " + m_redacted;
}

std::string PgKeyStore::scrub(std::string error) const
{
    replace_all(error, m_url, m_redacted);
    replace_all(error, m_password, "***");
    return error;
}

std::expected<PGconn*, std::string> PgKeyStore::connection()
{
    if (m_conn && libpq().status(m_conn.get()) == CONNECTION_OK) {
        return m_conn.get();
    }
    m_conn.reset();
    auto conn = pg_connect(m_url);
    if (!conn) {
        return std::unexpected(conn.error());
    }
    if (auto migrated = pg_migrate(conn->get()); !migrated) {
        return std::unexpected(migrated.error());
    }
    // A server that hangs must not hold the worker (and so key sync) for ever.
    if (auto set = pg_exec(conn->get(), "SET statement_timeout = 5000"); !set) {
        return std::unexpected(set.error());
    }
    m_conn = std::move(*conn);
    return m_conn.get();
}

template <class T>
asio::awaitable<std::expected<T, std::string>> PgKeyStore::on_worker(
    std::function<std::expected<T, std::string>(PGconn*)> fn)
{
    std::function<std::expected<T, std::string>()> job = [this, fn = std::move(fn)]() -> std::expected<T, std::string> {
        for (int attempt = 0;; ++attempt) {
            if (m_closing) {
                return std::unexpected(std::string("aigwd is stopping"));
            }
            auto conn = connection();
            if (!conn) {
                return std::unexpected(scrub(conn.error()));
            }
            auto r = fn(*conn);
            if (r) {
                return r;
            }
            if (libpq().status(*conn) == CONNECTION_OK) {
                return std::unexpected(scrub(r.error()));
            }
            m_conn.reset();
            if (attempt == 1) {
                return std::unexpected(scrub(r.error()));
            }
            // A connection that broke since the last call (the server restarted): once more
            // on a new one. Every call here may be repeated (put writes a record once).
        }
    };
    // The awaiting coroutine resumes on its own executor (co_spawn's completion goes there).
    co_return co_await asio::co_spawn(m_worker, run_job<T>(std::move(job)), asio::use_awaitable);
}

asio::awaitable<std::expected<std::int64_t, std::string>> PgKeyStore::version()
{
    std::function<std::expected<std::int64_t, std::string>(PGconn*)> fn =
        [](PGconn* c) -> std::expected<std::int64_t, std::string> {
        auto r = pg_exec(c, "SELECT version FROM aigw_keys_version WHERE one = 1");
        if (!r) {
            return std::unexpected(r.error());
        }
        return libpq().ntuples(r->get()) == 0 ? 0 : pg_int_at(r->get(), 0, 0);
    };
    co_return co_await on_worker<std::int64_t>(std::move(fn));
}

asio::awaitable<std::expected<std::vector<SharedKey>, std::string>> PgKeyStore::all()
{
    std::function<std::expected<std::vector<SharedKey>, std::string>(PGconn*)> fn =
        [](PGconn* c) -> std::expected<std::vector<SharedKey>, std::string> {
        auto r = pg_exec(c, "SELECT id, record FROM aigw_keys");
        if (!r) {
            return std::unexpected(r.error());
        }
        const int rows = libpq().ntuples(r->get());
        std::vector<SharedKey> out;
        out.reserve(static_cast<std::size_t>(rows));
        for (int i = 0; i < rows; ++i) {
            out.push_back(SharedKey{pg_text_at(r->get(), i, 0), pg_text_at(r->get(), i, 1)});
        }
        return out;
    };
    co_return co_await on_worker<std::vector<SharedKey>>(std::move(fn));
}

asio::awaitable<std::expected<bool, std::string>> PgKeyStore::put(SharedKey key)
{
    const auto revoked = record_revoked_ms(key.record);
    if (!revoked) {
        co_return std::unexpected("the virtual key " + key.id + " was not shared: " + revoked.error());
    }
    std::vector<std::string> params{pg_text(key.id), pg_text(key.record), std::to_string(*revoked)};
    std::function<std::expected<bool, std::string>(PGconn*)> fn =
        [params = std::move(params)](PGconn* c) -> std::expected<bool, std::string> {
        auto r = pg_exec(c, k_put_key_sql, params);
        if (!r) {
            return std::unexpected(r.error());
        }
        return libpq().ntuples(r->get()) == 1;
    };
    co_return co_await on_worker<bool>(std::move(fn));
}

}  // namespace aigw::daemon::cluster

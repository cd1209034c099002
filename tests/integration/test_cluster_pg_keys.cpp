// Virtual keys in PostgreSQL ([cluster] postgres_url), against a real server on loopback
// (tests/integration/pg_server): PgKeyStore's write rule and its version, concurrent puts
// from several connections, a server that stops and comes back, and three aigwd sharing
// keys through PostgreSQL alone (no Redis).

#include "daemon/cluster/pg_key_store.hpp"
#include "tests/integration/cluster_harness.hpp"
#include "tests/integration/harness.hpp"
#include "tests/integration/pg_server.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/use_future.hpp>
#include <doctest/doctest.h>

#include <atomic>
#include <latch>
#include <map>
#include <thread>

namespace asio = boost::asio;
using aigw::daemon::cluster::PgKeyStore;
using aigw::daemon::cluster::SharedKey;
using namespace aigw::test;
using json = nlohmann::json;
using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

namespace {

/// These tests need a PostgreSQL: without one they fail (they are the only test of the
/// keys' PostgreSQL store) and say how to get it.
void require_postgres()
{
    const auto why = PgServer::unavailable();
    REQUIRE_MESSAGE(!why.has_value(), "no PostgreSQL to test the shared virtual keys against: "
                                          << why.value_or("") << "; install it: sudo apt-get install postgresql");
}

std::string record(const std::string& id, std::int64_t revoked_ms, const std::string& extra = "x")
{
    return "{\"id\":\"" + id + "\",\"revoked_ms\":" + std::to_string(revoked_ms) + ",\"extra\":\"" + extra + "\"}";
}

/// Runs `a` on `io` to its end.
template <class T>
T run_on(asio::io_context& io, asio::awaitable<T> a)
{
    auto fut = asio::co_spawn(io, std::move(a), asio::use_future);
    io.restart();
    io.run();
    return fut.get();
}

/// One caller of a PgKeyStore: its own event loop, as key sync has.
struct Caller {
    explicit Caller(const std::string& url) : store(url) {}
    asio::io_context io;
    PgKeyStore store;

    bool put(const std::string& id, const std::string& r)
    {
        auto wrote = run_on(io, store.put(SharedKey{id, r}));
        REQUIRE_MESSAGE(wrote.has_value(), wrote.error());
        return *wrote;
    }
    std::int64_t version()
    {
        auto v = run_on(io, store.version());
        REQUIRE_MESSAGE(v.has_value(), v.error());
        return *v;
    }
    std::map<std::string, std::string> all()
    {
        auto a = run_on(io, store.all());
        REQUIRE_MESSAGE(a.has_value(), a.error());
        std::map<std::string, std::string> out;
        for (auto& k : *a) {
            out[k.id] = k.record;
        }
        return out;
    }
};

DaemonOptions pg_only(const PgServer& pg)
{
    DaemonOptions o;
    o.config_toml = "[cluster]\npostgres_url = \"" + pg.url() + "\"\n";
    return o;
}

}  // namespace

TEST_CASE("a record's revoked_ms as put compares it: a number (or a number in text), else 0; not JSON is an error")
{
    using aigw::daemon::cluster::record_revoked_ms;
    CHECK(record_revoked_ms(record("vk", 1234)).value() == 1234);
    CHECK(record_revoked_ms("{\"revoked_ms\":\"77\"}").value() == 77);
    CHECK(record_revoked_ms("{\"revoked_ms\":12.5}").value() == 12);
    CHECK(record_revoked_ms("{\"revoked_ms\":1e300}").value() == 0);
    CHECK(record_revoked_ms("{\"revoked_ms\":18446744073709551615}").value() == INT64_MAX);
    CHECK(record_revoked_ms("{\"revoked_ms\":null}").value() == 0);
    CHECK(record_revoked_ms("{\"id\":\"vk\"}").value() == 0);
    CHECK_FALSE(record_revoked_ms("[1]").has_value());
    CHECK_FALSE(record_revoked_ms("not json").has_value());
}

TEST_CASE("PgKeyStore: a new key is written, an active one is not replaced, a revocation is, the earlier one wins")
{
    require_postgres();
    PgServer pg;
    Caller c(pg.url());
    CHECK(c.store.where() == "PostgreSQL at " + pg.url());

    CHECK(c.version() == 0);  // the first call connects and migrates
    CHECK(pg.query("SELECT count(*) FROM aigw_ledger_migrations") ==
          std::to_string(aigw::daemon::cluster::pg_migrations().size()));
    CHECK(c.put("vk_a", record("vk_a", 0)));
    CHECK(c.version() == 1);
    CHECK_FALSE(c.put("vk_a", record("vk_a", 0)));  // the same: no write, no new version
    CHECK_FALSE(c.put("vk_a", record("vk_a", 0, "other")));
    CHECK(c.all()["vk_a"] == record("vk_a", 0));
    CHECK(c.version() == 1);
    CHECK(c.put("vk_a", record("vk_a", 2000)));
    CHECK(c.version() == 2);
    CHECK_FALSE(c.put("vk_a", record("vk_a", 2000)));  // the same revocation again
    CHECK_FALSE(c.put("vk_a", record("vk_a", 2000, "other")));
    CHECK(c.put("vk_a", record("vk_a", 1000)));        // earlier
    CHECK_FALSE(c.put("vk_a", record("vk_a", 3000)));  // later
    CHECK_FALSE(c.put("vk_a", record("vk_a", 0)));     // never undone
    CHECK(c.all()["vk_a"] == record("vk_a", 1000));
    CHECK(c.version() == 3);
    // The column the rule compares follows the record.
    CHECK(pg.query("SELECT revoked_ms FROM aigw_keys WHERE id = 'vk_a'") == "1000");
    // A second key is its own row; the version counts every write.
    CHECK(c.put("vk_b", record("vk_b", 0)));
    CHECK(c.version() == 4);
    CHECK(c.all().size() == 2);

    // A record that is not a JSON object is refused with a reason, and nothing is written.
    auto bad = run_on(c.io, c.store.put(SharedKey{"vk_c", "not json"}));
    REQUIRE_FALSE(bad.has_value());
    CHECK(bad.error().find("vk_c") != std::string::npos);
    CHECK(bad.error().find("JSON object") != std::string::npos);
    CHECK(c.version() == 4);
    CHECK(c.all().count("vk_c") == 0);
}

TEST_CASE("PgKeyStore: concurrent puts of one key from several connections bump the version once per real write")
{
    require_postgres();
    PgServer pg;
    constexpr int n = 8;
    std::vector<std::unique_ptr<Caller>> callers;
    for (int i = 0; i < n; ++i) {
        callers.push_back(std::make_unique<Caller>(pg.url()));
        REQUIRE(callers.back()->version() == 0);  // each connected (and migrated) before the race
    }
    // No doctest assertions in the threads: results are gathered and checked after.
    auto race = [&](const std::string& id, const std::function<std::string(int)>& record_of) {
        std::latch go(n);
        std::atomic<int> wrote{0};
        std::atomic<int> failed{0};
        std::vector<std::thread> threads;
        for (int i = 0; i < n; ++i) {
            threads.emplace_back([&, i] {
                go.arrive_and_wait();
                Caller& c = *callers[static_cast<std::size_t>(i)];
                auto r = run_on(c.io, c.store.put(SharedKey{id, record_of(i)}));
                if (!r) {
                    ++failed;
                } else if (*r) {
                    ++wrote;
                }
            });
        }
        for (auto& t : threads) {
            t.join();
        }
        CHECK(failed.load() == 0);
        return wrote.load();
    };

    // Rounds, so that many interleavings are tried. In each: the same new record from
    // everyone is written once; then revocations at different times from everyone: however
    // they interleave, the earliest ends up stored, and the version moved exactly once per
    // write that happened.
    constexpr int rounds = 20;
    std::int64_t expected = 0;
    int revocations = 0;
    for (int round = 0; round < rounds; ++round) {
        const std::string id = "vk_race_" + std::to_string(round);
        CHECK(race(id, [&id](int) { return record(id, 0); }) == 1);
        ++expected;
        CHECK(callers[0]->version() == expected);
        const int wrote = race(id, [&id, round](int i) { return record(id, 5000 - ((i * 3 + round) % n) * 100); });
        CHECK(wrote >= 1);
        CHECK(wrote <= n);
        expected += wrote;
        revocations += wrote;
        CHECK(callers[0]->version() == expected);
        CHECK(callers[0]->all()[id] == record(id, 5000 - (n - 1) * 100));
    }
    MESSAGE(revocations << " of " << rounds * n << " concurrent revocations were writes");
    // Different keys at once: one write each.
    std::latch go(n);
    std::atomic<int> wrote{0};
    std::vector<std::thread> threads;
    for (int i = 0; i < n; ++i) {
        threads.emplace_back([&, i] {
            go.arrive_and_wait();
            Caller& c = *callers[static_cast<std::size_t>(i)];
            const std::string id = "vk_" + std::to_string(i);
            auto r = run_on(c.io, c.store.put(SharedKey{id, record(id, 0)}));
            if (r && *r) {
                ++wrote;
            }
        });
    }
    for (auto& t : threads) {
        t.join();
    }
    CHECK(wrote.load() == n);
    CHECK(callers[0]->version() == expected + n);
    CHECK(callers[0]->all().size() == static_cast<std::size_t>(rounds + n));
}

TEST_CASE("PgKeyStore: a stopped server is an error without the password; it reconnects once the server is back")
{
    require_postgres();
    PgServer pg;
    // Trust authentication ignores the password, so the store connects with it.
    const std::string secret = "s3cret-pg-pass";
    const std::string url = "postgresql://aigw:" + secret + "@127.0.0.1:" + std::to_string(pg.port()) + "/aigw";
    Caller c(url);
    CHECK(c.store.where() == "PostgreSQL at postgresql://aigw:***@127.0.0.1:" + std::to_string(pg.port()) + "/aigw");
    CHECK(c.put("vk_a", record("vk_a", 0)));

    pg.stop();
    auto down = run_on(c.io, c.store.version());
    REQUIRE_FALSE(down.has_value());
    CHECK_FALSE(down.error().empty());
    CHECK(down.error().find(secret) == std::string::npos);
    auto put_down = run_on(c.io, c.store.put(SharedKey{"vk_b", record("vk_b", 0)}));
    REQUIRE_FALSE(put_down.has_value());
    CHECK(put_down.error().find(secret) == std::string::npos);

    pg.start();
    // The first call after the restart already answers (a broken connection is made again).
    CHECK(c.version() == 1);
    CHECK(c.put("vk_b", record("vk_b", 0)));
    CHECK(c.all().size() == 2);
}

TEST_CASE("PgKeyStore: a call runs on the store's worker, not on the caller's loop, and resumes on the caller's")
{
    require_postgres();
    PgServer pg;
    Caller c(pg.url());
    REQUIRE(c.version() == 0);
    // While one call waits on the server, the caller's loop keeps running its other work.
    const std::thread::id loop_thread = std::this_thread::get_id();
    std::atomic<int> ticks{0};
    std::thread::id resumed_on;
    bool wrote_slow = false;
    auto slow = [&]() -> asio::awaitable<void> {
        // The worker blocks in libpq meanwhile (the version row is held, below).
        SharedKey key{"vk_slow", record("vk_slow", 0)};  // (GCC 12: no braced temporary in co_await)
        auto wrote = co_await c.store.put(std::move(key));
        wrote_slow = wrote.has_value() && *wrote;
        resumed_on = std::this_thread::get_id();
    };
    auto ticker = [&]() -> asio::awaitable<void> {
        asio::steady_timer t(co_await asio::this_coro::executor);
        for (int i = 0; i < 50 && resumed_on == std::thread::id(); ++i) {
            t.expires_after(5ms);
            co_await t.async_wait(asio::use_awaitable);
            ++ticks;
        }
    };
    // Hold aigw_keys_version's row from another connection, so the put waits for the lock.
    PGconn* holder =
        PQconnectdb(("host=127.0.0.1 port=" + std::to_string(pg.port()) + " user=aigw dbname=aigw").c_str());
    REQUIRE(PQstatus(holder) == CONNECTION_OK);
    PQclear(PQexec(holder, "BEGIN"));
    PQclear(PQexec(holder, "UPDATE aigw_keys_version SET version = version WHERE one = 1"));
    std::thread release([holder] {
        std::this_thread::sleep_for(300ms);
        PQclear(PQexec(holder, "COMMIT"));
    });
    asio::co_spawn(c.io, slow(), asio::detached);
    asio::co_spawn(c.io, ticker(), asio::detached);
    c.io.restart();
    c.io.run();
    release.join();
    PQfinish(holder);
    CHECK(wrote_slow);
    CHECK(resumed_on == loop_thread);
    CHECK(ticks.load() >= 10);  // the loop ran timers while the put waited ~300 ms
    CHECK(c.version() == 1);
}

TEST_CASE(
    "three instances with only postgres_url share virtual keys: made on one works on all, revoked through one is "
    "refused by all within a second")
{
    require_postgres();
    PgServer pg;
    Daemon a(nullptr, pg_only(pg));
    Daemon b(nullptr, pg_only(pg));
    Daemon c(nullptr, pg_only(pg));

    auto key = create_key(a, {"--name", "pg-bot"});
    CHECK(chat_with_key(a, key.secret).first == 200);
    auto reached = until_all({&b, &c}, key.secret, 200, 3000ms);
    REQUIRE_MESSAGE(reached.has_value(), "the key made on A did not work on B and C within 3 s");
    MESSAGE("created on A, usable on B and C after " << reached->count() << " ms");
    CHECK(*reached <= 1500ms);
    // PostgreSQL holds the record with the secret's hash, never the secret.
    const std::string stored = pg.query("SELECT record FROM aigw_keys WHERE id = '" + key.id + "'");
    CHECK(stored.find(key.id) != std::string::npos);
    CHECK(stored.find(key.secret) == std::string::npos);
    CHECK(stored.find(key.secret.substr(8)) == std::string::npos);

    revoke_key(b, "pg-bot");
    auto refused = until_all({&a, &c}, key.secret, 401, 3000ms);
    REQUIRE_MESSAGE(refused.has_value(), "A and C still took the key revoked through B after 3 s");
    MESSAGE("revoked through B, refused by A and C after " << refused->count() << " ms");
    CHECK(*refused <= 1500ms);  // as for Redis: the 250 ms poll, with room for a loaded CI machine
    CHECK(pg.query("SELECT revoked_ms > 0 FROM aigw_keys WHERE id = '" + key.id + "'") == "t");

    // Where keys are shared is said at start and in `aigw status`.
    for (const Daemon* d : {&a, &b, &c}) {
        CHECK(slurp(d->log_file()).find("virtual keys shared through PostgreSQL at " + pg.url()) != std::string::npos);
    }
    auto st = run_command({AIGW_PATH, "status", "--json"}, cli_env(a));
    REQUIRE_MESSAGE(st.exit_code == 0, st.err);
    const json status = json::parse(st.out, nullptr, false);
    REQUIRE(status.is_object());
    CHECK(status["cluster"]["keys"]["shared_through"] == "PostgreSQL at " + pg.url());
    CHECK(status["cluster"]["keys"]["reachable"] == true);

    // PostgreSQL stopped: every instance keeps serving the keys it knows, and says so once.
    auto kept = create_key(c, {"--name", "kept-bot"});
    REQUIRE(until_all({&a, &b}, kept.secret, 200, 3000ms).has_value());
    auto doomed = create_key(a, {"--name", "doomed-bot"});
    REQUIRE(until_all({&b, &c}, doomed.secret, 200, 3000ms).has_value());
    pg.stop();
    std::this_thread::sleep_for(1500ms);
    for (const Daemon* d : {&a, &b, &c}) {
        CHECK(chat_with_key(*d, kept.secret).first == 200);
        CHECK(chat_with_key(*d, doomed.secret).first == 200);
    }
    revoke_key(a, "doomed-bot");  // while PostgreSQL is down: refused here at once, elsewhere later
    CHECK(chat_with_key(a, doomed.secret).first == 401);
    std::this_thread::sleep_for(1500ms);
    CHECK(chat_with_key(b, doomed.secret).first == 200);
    for (const Daemon* d : {&a, &b, &c}) {
        const std::string log = slurp(d->log_file());
        CHECK(count_of(log, "cannot reach PostgreSQL at " + pg.url()) == 1);
        CHECK(chat_with_key(*d, kept.secret).first == 200);
    }

    // Back: the revocation made meanwhile reaches the others.
    pg.start();
    auto caught_up = until_all({&b, &c}, doomed.secret, 401, 5000ms);
    REQUIRE_MESSAGE(caught_up.has_value(), "the key revoked on A while PostgreSQL was down was still taken by B or C");
    MESSAGE("revoked while PostgreSQL was down, refused by B and C " << caught_up->count() << " ms after it was back");
    CHECK(chat_with_key(b, kept.secret).first == 200);
    for (const Daemon* d : {&a, &b, &c}) {
        const std::string log = slurp(d->log_file());
        CHECK(log.find("PostgreSQL at " + pg.url() + " answers again") != std::string::npos);
        CHECK(log.find(key.secret) == std::string::npos);
        CHECK(log.find(doomed.secret) == std::string::npos);
    }
    for (Daemon* d : {&a, &b, &c}) {
        CHECK(d->stop() == 0);
    }
}

TEST_CASE("with both redis_url and postgres_url, virtual keys live in PostgreSQL and not in Redis")
{
    require_postgres();
    PgServer pg;
    ClusterRedis redis;
    DaemonOptions o;
    o.config_toml = "[cluster]\nredis_url = \"redis://127.0.0.1:" + std::to_string(redis.port()) +
                    "\"\npostgres_url = \"" + pg.url() + "\"\n";
    Daemon a(nullptr, o);
    Daemon b(nullptr, o);
    auto key = create_key(a, {"--name", "both-bot"});
    REQUIRE(until_all({&b}, key.secret, 200, 3000ms).has_value());
    CHECK(pg.query("SELECT count(*) FROM aigw_keys WHERE id = '" + key.id + "'") == "1");
    CHECK(redis.cli({"EXISTS", "aigw:keys"}).find('0') != std::string::npos);
    auto st = run_command({AIGW_PATH, "status"}, cli_env(a));
    REQUIRE_MESSAGE(st.exit_code == 0, st.err);
    CHECK(st.out.find("virtual keys") != std::string::npos);
    CHECK(st.out.find("shared through PostgreSQL at " + pg.url()) != std::string::npos);
    CHECK(st.out.find("rate limits, circuit breakers; when Redis is down") != std::string::npos);
}

TEST_CASE(
    "with PostgreSQL unreachable at start an instance serves its own keys, says where it tried, and stops promptly")
{
    const int port = free_port();  // nothing listens there
    DaemonOptions o;
    const std::string url = "postgresql://aigw:hunter2-pg@127.0.0.1:" + std::to_string(port) + "/aigw";
    o.config_toml = "[cluster]\npostgres_url = \"" + url + "\"\n";
    Daemon a(nullptr, o);
    auto key = create_key(a, {"--name", "local-bot"});
    CHECK(chat_with_key(a, key.secret).first == 200);
    const std::string log = slurp(a.log_file());
    CHECK(count_of(log, "cannot reach PostgreSQL at postgresql://aigw:***@127.0.0.1:" + std::to_string(port)) == 1);
    CHECK(log.find("hunter2-pg") == std::string::npos);
    auto st = run_command({AIGW_PATH, "status", "--json"}, cli_env(a));
    REQUIRE_MESSAGE(st.exit_code == 0, st.err);
    const json status = json::parse(st.out, nullptr, false);
    REQUIRE(status.is_object());
    CHECK(status["cluster"]["keys"]["reachable"] == false);
    CHECK(st.out.find("hunter2-pg") == std::string::npos);
    const auto t0 = Clock::now();
    CHECK(a.stop() == 0);
    CHECK(Clock::now() - t0 < 5s);
}

// The shared team ledger: several aigwd with one [cluster] postgres_url, against a real
// PostgreSQL on loopback (tests/integration/pg_server). Each instance's SQLite ledger is
// the spool its replicator copies from; these tests count what arrives in PostgreSQL.

#include "tests/integration/harness.hpp"
#include "tests/integration/pg_server.hpp"

#include <SQLiteCpp/SQLiteCpp.h>
#include <doctest/doctest.h>

#include <atomic>
#include <mutex>
#include <set>
#include <thread>

using namespace aigw::test;
using json = nlohmann::json;

namespace {

std::string cluster_config(const PgServer& pg)
{
    return "[cluster]\npostgres_url = \"" + pg.url() + "\"\n";
}

/// One chat request through `d`; returns its x-request-id (REQUIREs a 200).
std::string serve_one(const Daemon& d, const std::string& model, int i)
{
    auto r = d.post("/v1/chat/completions",
                    {{"model", model},
                     {"messages", json::array({{{"role", "user"}, {"content", "count me " + std::to_string(i)}}})}});
    REQUIRE(r);
    REQUIRE_MESSAGE(r->status == 200, r->body);
    REQUIRE(r->has_header("x-request-id"));
    return r->get_header_value("x-request-id");
}

long long count_of(const PgServer& pg, const std::string& sql)
{
    const std::string v = pg.query(sql);
    if (v.empty() || v.starts_with("error")) {
        return -1;
    }
    return std::stoll(v);
}

/// Waits (at most 20 s) until the shared ledger holds `n` rows; returns the last count.
long long wait_for_rows(const PgServer& pg, long long n)
{
    long long seen = -1;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (std::chrono::steady_clock::now() < deadline) {
        seen = count_of(pg, "SELECT count(*) FROM aigw_ledger_requests");
        if (seen >= n) {
            return seen;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return seen;
}

/// True when PgServer can run here; otherwise the test fails, saying why: the test
/// command installs PostgreSQL (packaging/install-deps.sh --test).
bool have_postgres()
{
    if (auto why = PgServer::unavailable()) {
        FAIL_CHECK("no PostgreSQL to test against: " << *why
                                                     << "; run packaging/install-deps.sh --test (Debian's postgresql)");
        return false;
    }
    return true;
}

/// Rows in an instance's own SQLite ledger (every attempt).
long long local_rows(const Daemon& d)
{
    SQLite::Database db((d.data_dir() / "ledger.db").string(), SQLite::OPEN_READONLY);
    return db.execAndGet("SELECT count(*) FROM requests").getInt64();
}

/// Waits (at most 10 s) until `d`'s own ledger holds `n` rows; returns the last count.
long long wait_for_local_rows(const Daemon& d, long long n)
{
    long long seen = -1;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (std::chrono::steady_clock::now() < deadline) {
        seen = local_rows(d);
        if (seen >= n) {
            return seen;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return seen;
}

}  // namespace

TEST_CASE("three instances sharing one PostgreSQL: every request is in it once and aigw cost on each counts all")
{
    if (!have_postgres()) {
        return;
    }
    PgServer pg;
    FakeUpstream up;
    DaemonOptions o;
    o.config_toml = cluster_config(pg);
    Daemon a(&up, o);
    Daemon b(&up, o);
    Daemon c(&up, o);
    const Daemon* instances[] = {&a, &b, &c};
    constexpr int n = 30;
    std::set<std::string> ids;
    int paid = 0;
    for (int i = 0; i < n; ++i) {
        const bool priced = i % 3 != 0;
        paid += priced ? 1 : 0;
        ids.insert(serve_one(*instances[i % 3], priced ? "openai/gpt-4o-mini" : "mock/echo", i));
    }
    REQUIRE(ids.size() == static_cast<std::size_t>(n));

    CHECK(wait_for_rows(pg, n) == n);
    std::this_thread::sleep_for(std::chrono::milliseconds(500));  // nothing more arrives
    CHECK(count_of(pg, "SELECT count(*) FROM aigw_ledger_requests") == n);
    CHECK(count_of(pg, "SELECT count(DISTINCT request_id) FROM aigw_ledger_requests") == n);
    CHECK(count_of(pg, "SELECT count(DISTINCT instance_id) FROM aigw_ledger_requests") == 3);
    // Each migration applied once, though three instances started together.
    CHECK(count_of(pg, "SELECT count(*) FROM aigw_ledger_migrations") == 3);
    CHECK(count_of(pg, "SELECT count(DISTINCT version) FROM aigw_ledger_migrations") == 3);
    // Each instance's id is the one in its data dir.
    for (const Daemon* d : instances) {
        const std::string id = slurp(d->data_dir() / "instance_id").substr(0, 32);
        CHECK(count_of(pg, "SELECT count(*) FROM aigw_ledger_requests WHERE instance_id = '" + id + "'") == n / 3);
    }

    for (const Daemon* d : instances) {
        auto r = run_command({AIGW_PATH, "cost", "--json"}, cli_env(*d));
        REQUIRE_MESSAGE(r.exit_code == 0, r.err);
        const json doc = json::parse(r.out);
        CHECK(doc["total"]["requests"].get<int>() == n);
        int openai = 0;
        for (const auto& g : doc["groups"]) {
            if (g["key"] == "openai/gpt-4o-mini") {
                openai = g["requests"].get<int>();
                CHECK(g["cost_usd"].get<double>() > 0);
            }
        }
        CHECK(openai == paid);

        auto by_key = run_command({AIGW_PATH, "cost", "--json", "--by", "key"}, cli_env(*d));
        REQUIRE_MESSAGE(by_key.exit_code == 0, by_key.err);
        const json keys = json::parse(by_key.out);
        REQUIRE(keys["groups"].size() == 1);
        CHECK(keys["groups"][0]["key"] == "default");
        CHECK(keys["groups"][0]["name"] == "gateway key");
        CHECK(keys["groups"][0]["requests"].get<int>() == n);

        auto by_day = run_command({AIGW_PATH, "cost", "--json", "--by", "day"}, cli_env(*d));
        REQUIRE_MESSAGE(by_day.exit_code == 0, by_day.err);
        const json days = json::parse(by_day.out);
        CHECK(days["total"]["requests"].get<int>() == n);
    }
    // The instances' own ledgers still hold only their own rows.
    for (const Daemon* d : instances) {
        CHECK(local_rows(*d) == n / 3);
    }
    // The URL is not logged with a password (there is none here), but it is redacted form.
    CHECK(slurp(a.log_file()).find("shared ledger: copying") != std::string::npos);
}

TEST_CASE("PostgreSQL stopped mid-load and restarted: every served request reaches it exactly once")
{
    if (!have_postgres()) {
        return;
    }
    PgServer pg;
    FakeUpstream up;
    DaemonOptions o;
    o.config_toml = cluster_config(pg);
    Daemon a(&up, o);
    Daemon b(&up, o);
    std::set<std::string> ids;
    int i = 0;
    for (; i < 10; ++i) {
        ids.insert(serve_one(i % 2 ? a : b, "openai/gpt-4o-mini", i));
    }
    REQUIRE(wait_for_rows(pg, 10) == 10);

    // Load goes on in two threads while PostgreSQL goes away and comes back.
    std::mutex mu;
    std::atomic<bool> go{true};
    std::atomic<int> served{0};
    std::atomic<int> failed{0};
    // No doctest assertions in these threads: failures are counted and checked after.
    auto load = [&](const Daemon& d, int base) {
        for (int k = 0; go.load(); ++k) {
            auto r = d.post(
                "/v1/chat/completions",
                {{"model", "openai/gpt-4o-mini"},
                 {"messages", json::array({{{"role", "user"}, {"content", "load " + std::to_string(base + k)}}})}});
            if (!r || r->status != 200 || !r->has_header("x-request-id")) {
                ++failed;
                continue;
            }
            {
                std::lock_guard lock(mu);
                ids.insert(r->get_header_value("x-request-id"));
            }
            ++served;
            std::this_thread::sleep_for(std::chrono::milliseconds(5));
        }
    };
    std::thread ta([&] { load(a, 1000); });
    std::thread tb([&] { load(b, 2000); });
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    pg.stop();
    const int served_before_down = served.load();
    std::this_thread::sleep_for(std::chrono::milliseconds(1500));
    CHECK(served.load() > served_before_down);  // instances keep serving without PostgreSQL

    // A report needs PostgreSQL: while it is down, a clear 503, not a local-only answer.
    auto down = a.get("/aigw/v1/cost");
    REQUIRE(down);
    CHECK(down->status == 503);
    CHECK(down->body.find("cannot reach the shared ledger in PostgreSQL") != std::string::npos);

    pg.start();
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    go = false;
    ta.join();
    tb.join();
    CHECK(failed.load() == 0);
    const long long total = static_cast<long long>(ids.size());
    REQUIRE(total == 10 + served.load());

    CHECK(wait_for_rows(pg, total) == total);
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    CHECK(count_of(pg, "SELECT count(*) FROM aigw_ledger_requests") == total);
    CHECK(count_of(pg, "SELECT count(DISTINCT request_id) FROM aigw_ledger_requests") == total);
    // The two instances' ledgers together are the shared one.
    std::string expected;
    for (const auto& id : ids) {  // std::set: sorted, as ORDER BY request_id (C collation)
        expected += expected.empty() ? id : "," + id;
    }
    CHECK(pg.query("SELECT string_agg(request_id, ',' ORDER BY request_id) FROM aigw_ledger_requests") == expected);
    // Down once, back once, each said in the log.
    const std::string log = slurp(a.log_file());
    CHECK(log.find("shared ledger: cannot copy rows to PostgreSQL") != std::string::npos);
    CHECK(log.find("is reachable again; copied") != std::string::npos);

    auto r = run_command({AIGW_PATH, "cost", "--json"}, cli_env(b));
    REQUIRE_MESSAGE(r.exit_code == 0, r.err);
    CHECK(json::parse(r.out)["total"]["requests"].get<long long>() == total);
}

TEST_CASE("an instance killed with SIGKILL: its rows reach PostgreSQL when it restarts on the same data dir")
{
    if (!have_postgres()) {
        return;
    }
    PgServer pg;
    FakeUpstream up;
    DaemonOptions o;
    o.config_toml = cluster_config(pg);
    Daemon first(&up, o);
    for (int i = 0; i < 5; ++i) {
        serve_one(first, "openai/gpt-4o-mini", i);
    }
    REQUIRE(wait_for_rows(pg, 5) == 5);
    // With PostgreSQL away, rows can only be in the local ledger when the daemon dies.
    pg.stop();
    for (int i = 5; i < 12; ++i) {
        serve_one(first, "openai/gpt-4o-mini", i);
    }
    REQUIRE(wait_for_local_rows(first, 12) == 12);
    first.process().kill_now();
    pg.start();
    CHECK(count_of(pg, "SELECT count(*) FROM aigw_ledger_requests") == 5);

    DaemonOptions again = o;
    again.data_dir = first.data_dir();
    Daemon second(&up, again);
    CHECK(wait_for_rows(pg, 12) == 12);
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    CHECK(count_of(pg, "SELECT count(*) FROM aigw_ledger_requests") == 12);
    CHECK(count_of(pg, "SELECT count(DISTINCT request_id) FROM aigw_ledger_requests") == 12);
    CHECK(count_of(pg, "SELECT count(DISTINCT instance_id) FROM aigw_ledger_requests") == 1);
}

TEST_CASE("a new ledger.db under an old instance id is copied under a new id, not dropped as duplicates")
{
    if (!have_postgres()) {
        return;
    }
    PgServer pg;
    FakeUpstream up;
    DaemonOptions o;
    o.config_toml = cluster_config(pg);
    Daemon first(&up, o);
    for (int i = 0; i < 4; ++i) {
        serve_one(first, "openai/gpt-4o-mini", i);
    }
    REQUIRE(wait_for_rows(pg, 4) == 4);
    REQUIRE(first.stop() == 0);
    const std::string old_id = slurp(first.data_dir() / "instance_id").substr(0, 32);
    for (const char* f : {"ledger.db", "ledger.db-wal", "ledger.db-shm"}) {
        std::filesystem::remove(first.data_dir() / f);
    }

    DaemonOptions again = o;
    again.data_dir = first.data_dir();
    Daemon second(&up, again);
    for (int i = 0; i < 2; ++i) {
        serve_one(second, "openai/gpt-4o-mini", 100 + i);  // local row ids 1 and 2 again
    }
    CHECK(wait_for_rows(pg, 6) == 6);
    CHECK(count_of(pg, "SELECT count(DISTINCT request_id) FROM aigw_ledger_requests") == 6);
    CHECK(count_of(pg, "SELECT count(DISTINCT instance_id) FROM aigw_ledger_requests") == 2);
    const std::string new_id = slurp(first.data_dir() / "instance_id").substr(0, 32);
    CHECK(new_id.size() == 32);
    CHECK(new_id != old_id);
    CHECK(slurp(second.log_file()).find("row ids start again") != std::string::npos);
}

TEST_CASE("aigw logs on any instance lists every instance's rows, follows them, and shows another's request")
{
    if (!have_postgres()) {
        return;
    }
    PgServer pg;
    FakeUpstream up;
    DaemonOptions o;
    o.config_toml = cluster_config(pg);
    Daemon a(&up, o);
    Daemon b(&up, o);
    std::vector<std::string> ids;
    for (int i = 0; i < 6; ++i) {
        ids.push_back(serve_one(i % 2 == 0 ? a : b, "openai/gpt-4o-mini", i));
    }
    // From either instance: all six, whichever served them (each pushes its own tail first,
    // and b's rows reach PostgreSQL on its own within its poll).
    REQUIRE(wait_for_rows(pg, 6) == 6);
    for (const Daemon* d : {&a, &b}) {
        auto r = run_command({AIGW_PATH, "logs", "--json", "-n", "50"}, cli_env(*d));
        REQUIRE_MESSAGE(r.exit_code == 0, r.err);
        const json listed_rows = json::parse(r.out);
        std::set<std::string> listed;
        for (const auto& row : listed_rows) {
            listed.insert(row["request_id"].get<std::string>());
        }
        CHECK(listed == std::set<std::string>(ids.begin(), ids.end()));
    }
    // Filters are answered by PostgreSQL too.
    auto errors = a.get("/aigw/v1/logs?errors=1");
    REQUIRE(errors);
    REQUIRE_MESSAGE(errors->status == 200, errors->body);
    CHECK(json::parse(errors->body)["rows"].empty());
    // The cursor (what `logs -f` polls with) moves over every instance's rows: a request
    // served by b after the cursor is read through a.
    auto page = a.get("/aigw/v1/logs?with_ids=1&limit=50");
    REQUIRE(page);
    const json rows = json::parse(page->body)["rows"];
    REQUIRE(rows.size() == 6);
    const auto cursor = rows.back()["row_id"].get<long long>();
    const std::string later = serve_one(b, "openai/gpt-4o-mini", 6);
    REQUIRE(wait_for_rows(pg, 7) == 7);
    auto next = a.get("/aigw/v1/logs?after_row_id=" + std::to_string(cursor));
    REQUIRE(next);
    const json after = json::parse(next->body)["rows"];
    REQUIRE(after.size() == 1);
    CHECK(after[0]["request_id"] == later);
    // `logs show` of a request another instance served.
    auto show = run_command({AIGW_PATH, "logs", "show", ids[1], "--json"}, cli_env(a));
    REQUIRE_MESSAGE(show.exit_code == 0, show.err);
    CHECK(json::parse(show.out)["request_id"] == ids[1]);
    // PostgreSQL down: logs says so (503 with what to do), and the daemon keeps serving.
    pg.stop();
    auto down = a.get("/aigw/v1/logs?limit=5");
    REQUIRE(down);
    CHECK(down->status == 503);
    CHECK(down->body.find("postgres_url") != std::string::npos);
    auto cli = run_command({AIGW_PATH, "logs", "-n", "5"}, cli_env(a));
    CHECK(cli.exit_code != 0);
    CHECK(cli.err.find("PostgreSQL") != std::string::npos);
    serve_one(a, "openai/gpt-4o-mini", 7);
}

TEST_CASE("libpq is loaded only by an instance with a team database")
{
    if (!have_postgres()) {
        return;
    }
    // A daemon that never talks to PostgreSQL should not carry libpq and the libraries it
    // pulls in (GnuTLS, Kerberos, LDAP: about 3 MB resident), so it opens libpq on demand.
    auto maps_of = [](Daemon& d) { return slurp("/proc/" + std::to_string(d.process().pid()) + "/maps"); };
    FakeUpstream up;
    {
        Daemon solo(&up);
        serve_one(solo, "mock/echo", 0);
        CHECK(maps_of(solo).find("libpq.so") == std::string::npos);
    }
    PgServer pg;
    DaemonOptions o;
    o.config_toml = cluster_config(pg);
    Daemon team(&up, o);
    serve_one(team, "mock/echo", 1);
    CHECK(wait_for_rows(pg, 1) == 1);  // through the dlopened libpq
    CHECK(maps_of(team).find("libpq.so") != std::string::npos);
}

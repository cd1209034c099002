// The ledger at scale: rollups that agree with the rows, retention and vacuum, private files,
// the durability bound under SIGKILL, and the migration that adds the rollups.

#include "daemon/ledger/latency_hist.hpp"
#include "daemon/ledger/ledger.hpp"
#include "daemon/ledger/migrations.hpp"

#include <SQLiteCpp/SQLiteCpp.h>
#include <doctest/doctest.h>

#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <map>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace fs = std::filesystem;
using aigw::daemon::ledger::CostGroup;
using aigw::daemon::ledger::CostQuery;
using aigw::daemon::ledger::EntryFilter;
using aigw::daemon::ledger::ExportFormat;
using aigw::daemon::ledger::Ledger;
using aigw::daemon::ledger::LedgerOptions;
using aigw::daemon::ledger::LedgerRow;

namespace {

constexpr std::int64_t k_hour_ms = 3'600'000;
constexpr std::int64_t k_day_ms = 86'400'000;
constexpr std::int64_t k_base_ms = 1'735'689'600'000;  // 2025-01-01T00:00:00Z

struct ScaleDir {
    ScaleDir()
    {
        std::string pattern = (fs::temp_directory_path() / "aigw-ledger-s-XXXXXX").string();
        REQUIRE(::mkdtemp(pattern.data()) != nullptr);
        path = pattern;
    }
    ~ScaleDir()
    {
        std::error_code ignored;
        fs::remove_all(path, ignored);
    }
    fs::path db() const { return path / "ledger.db"; }
    fs::path path;
};

std::unique_ptr<Ledger> open_at(const fs::path& db, int retention_days = 0)
{
    auto l = Ledger::open(db, retention_days);
    REQUIRE_MESSAGE(l.has_value(), (l ? std::string() : l.error()));
    return std::move(*l);
}

std::int64_t wall_ms()
{
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
        .count();
}

std::int64_t query_int(const fs::path& db, const std::string& sql)
{
    SQLite::Database c(db, SQLite::OPEN_READONLY);
    return c.execAndGet(sql).getInt64();
}

int mode_of(const fs::path& p)
{
    struct stat st {};
    REQUIRE(::stat(p.c_str(), &st) == 0);
    return static_cast<int>(st.st_mode & 0777);
}

/// Random rows over `hours` hours from `start_ms`: several models, keys, tags, variants,
/// statuses, retries (non-final attempts) and latencies.
std::vector<LedgerRow> random_rows(int n, std::int64_t start_ms, int hours, unsigned seed)
{
    std::mt19937 rng(seed);
    auto pick = [&](int k) { return static_cast<int>(rng() % static_cast<unsigned>(k)); };
    std::vector<LedgerRow> rows;
    for (int i = 0; i < n; ++i) {
        LedgerRow r;
        r.ts_ms = start_ms + static_cast<std::int64_t>(rng() % static_cast<unsigned>(hours * k_hour_ms));
        r.request_id = "req_" + std::to_string(seed) + "_" + std::to_string(i);
        const int m = pick(4);
        r.served_model = "p" + std::to_string(m % 2) + "/m" + std::to_string(m);
        r.requested_model = r.served_model;
        r.provider = "p" + std::to_string(m % 2);
        r.key_id = pick(3) == 0 ? "default" : "vk_" + std::to_string(pick(3));
        r.surface = pick(2) == 0 ? "openai.chat" : "anthropic.messages";
        r.tag = pick(3) == 0 ? "run-" + std::to_string(pick(2)) : "";
        r.variant = pick(4) == 0 ? "A" : "";
        r.session = pick(3) == 0 ? "claude-" + std::to_string(pick(3)) : "";
        const int s = pick(10);
        r.status = s == 0 ? 500 : (s == 1 ? 429 : 200);
        r.final_attempt = pick(8) != 0;
        r.input_tokens = pick(5000);
        r.cached_tokens = pick(100);
        r.output_tokens = pick(900);
        r.reasoning_tokens = pick(50);
        r.cost_usd = static_cast<double>(pick(100000)) / 1e6;
        r.saved_usd = pick(5) == 0 ? 0.001 : 0;
        r.cache_hit = r.saved_usd > 0;
        r.latency_ms = 1 + pick(5000);
        rows.push_back(std::move(r));
    }
    return rows;
}

const char* row_expr(const std::string& by)
{
    if (by == "model")
        return "served_model";
    if (by == "key")
        return "key_id";
    if (by == "day")
        return "date(ts_ms / 1000, 'unixepoch')";
    if (by == "session")
        return "session";
    return by == "provider" ? "provider" : (by == "variant" ? "variant" : (by == "tag" ? "tag" : "surface"));
}

/// What a report must say, computed from the rows table directly (no rollups).
std::map<std::string, CostGroup> raw_report(const fs::path& db, const std::string& by, std::int64_t since,
                                            std::int64_t until)
{
    SQLite::Database c(db, SQLite::OPEN_READONLY);
    SQLite::Statement q(
        c, std::string("SELECT ") + row_expr(by) +
               ", SUM(final_attempt), SUM(final_attempt = 1 AND status >= 400), SUM(input_tokens), "
               "SUM(cached_tokens), SUM(output_tokens), SUM(cost_usd), SUM(final_attempt = 1 AND cache_hit = 1), "
               "SUM(saved_usd) FROM requests WHERE ts_ms >= ? AND ts_ms < ? GROUP BY 1");
    q.bind(1, since);
    q.bind(2, until);
    std::map<std::string, CostGroup> out;
    while (q.executeStep()) {
        CostGroup g;
        g.key = q.getColumn(0).getString();
        g.requests = q.getColumn(1).getInt64();
        g.errors = q.getColumn(2).getInt64();
        g.input_tokens = q.getColumn(3).getInt64();
        g.cached_tokens = q.getColumn(4).getInt64();
        g.output_tokens = q.getColumn(5).getInt64();
        g.cost_usd = q.getColumn(6).getDouble();
        g.cache_hits = q.getColumn(7).getInt64();
        g.saved_usd = q.getColumn(8).getDouble();
        // Exact nearest-rank p95 of final attempts.
        SQLite::Statement lat(
            c,
            std::string("SELECT latency_ms FROM requests WHERE final_attempt = 1 AND ts_ms >= ? AND ts_ms < ? AND ") +
                row_expr(by) + " = ? ORDER BY latency_ms");
        lat.bind(1, since);
        lat.bind(2, until);
        lat.bind(3, g.key);
        std::vector<std::int64_t> l;
        while (lat.executeStep()) {
            l.push_back(lat.getColumn(0).getInt64());
        }
        if (!l.empty()) {
            const auto rank = static_cast<std::size_t>(std::ceil(0.95 * static_cast<double>(l.size())));
            g.p95_latency_ms = l[std::max<std::size_t>(rank, 1) - 1];
        }
        out[g.key] = g;
    }
    return out;
}

void check_report_matches_rows(const Ledger& ledger, const fs::path& db, const std::string& by, std::int64_t since,
                               std::int64_t until)
{
    CAPTURE(by);
    CAPTURE(since);
    CAPTURE(until);
    CostQuery q;
    q.group_by = by;
    q.since_ms = since;
    q.until_ms = until;
    auto report = ledger.cost(q);
    REQUIRE_MESSAGE(report.has_value(), (report ? std::string() : report.error()));
    const auto expected = raw_report(db, by, since, until);
    REQUIRE(report->size() == expected.size());
    for (const auto& g : *report) {
        CAPTURE(g.key);
        const auto it = expected.find(g.key);
        REQUIRE(it != expected.end());
        const CostGroup& e = it->second;
        CHECK(g.requests == e.requests);
        CHECK(g.errors == e.errors);
        CHECK(g.input_tokens == e.input_tokens);
        CHECK(g.cached_tokens == e.cached_tokens);
        CHECK(g.output_tokens == e.output_tokens);
        CHECK(g.cache_hits == e.cache_hits);
        CHECK(g.cost_usd == doctest::Approx(e.cost_usd).epsilon(1e-9));
        CHECK(g.saved_usd == doctest::Approx(e.saved_usd).epsilon(1e-9));
        // The documented bound of the bucketed p95: 4.5% + 0.5 ms.
        CHECK(std::abs(static_cast<double>(g.p95_latency_ms - e.p95_latency_ms)) <=
              0.0443 * static_cast<double>(e.p95_latency_ms) + 0.5);
    }
}

}  // namespace

TEST_CASE("reports from the rollups agree with aggregates of the raw rows, for every group and range")
{
    ScaleDir dir;
    auto ledger = open_at(dir.db());
    // Two batches of random rows over three days, recorded out of time order.
    for (unsigned seed : {1U, 2U}) {
        for (auto& r : random_rows(1500, k_base_ms, 72, seed)) {
            ledger->record(std::move(r));
        }
        ledger->flush();
    }
    const std::vector<std::pair<std::int64_t, std::int64_t>> ranges{
        {0, k_base_ms + 3 * k_day_ms},                                          // everything: whole days
        {k_base_ms + 5 * k_hour_ms + 1234, k_base_ms + 50 * k_hour_ms + 99},    // partial hours, days, hours
        {k_base_ms + 7 * k_hour_ms, k_base_ms + 9 * k_hour_ms},                 // whole hours only
        {k_base_ms + 7 * k_hour_ms + 10, k_base_ms + 7 * k_hour_ms + 900'000},  // inside one hour
        {k_base_ms + 24 * k_hour_ms, k_base_ms + 48 * k_hour_ms},               // exactly one day
    };
    for (const char* by : {"model", "provider", "key", "day", "variant", "tag", "surface", "session"}) {
        for (const auto& [since, until] : ranges) {
            check_report_matches_rows(*ledger, dir.db(), by, since, until);
        }
    }
    auto spend = ledger->spend_since(0);
    REQUIRE(spend.has_value());
    CHECK(
        spend->total_usd ==
        doctest::Approx(
            static_cast<double>(query_int(dir.db(), "SELECT CAST(SUM(cost_usd) * 1e6 AS INTEGER) FROM requests")) / 1e6)
            .epsilon(1e-6));
    CHECK(spend->by_key.size() == 4);
}

TEST_CASE("the rollups are maintained in the rows' own transaction: committed counts always agree")
{
    ScaleDir dir;
    auto ledger = open_at(dir.db());
    std::atomic<bool> done{false};
    std::thread writer([&] {
        for (auto& r : random_rows(4000, k_base_ms, 5, 7)) {
            r.final_attempt = true;
            ledger->record(std::move(r));
        }
        done = true;
    });
    // An outside reader sees either both a row and its rollup contribution or neither.
    int checks = 0;
    while (!done || checks < 3) {
        SQLite::Database c(dir.db(), SQLite::OPEN_READONLY);
        SQLite::Transaction snapshot(c);  // one read snapshot for both counts
        const auto rows = c.execAndGet("SELECT COUNT(*) FROM requests").getInt64();
        const auto rolled =
            c.execAndGet("SELECT COALESCE(SUM(rows), 0) FROM rollups WHERE dim = 'all' AND span_hours = 1").getInt64();
        CHECK(rows == rolled);
        ++checks;
    }
    writer.join();
}

TEST_CASE("prune removes rows, bodies and rollups before the window's UTC day; reports inside it are unchanged")
{
    ScaleDir dir;
    auto ledger = open_at(dir.db());
    auto rows = random_rows(3000, k_base_ms, 24 * 6, 3);
    rows[0].request_body = "an old prompt";
    rows[0].ts_ms = k_base_ms + 1000;
    for (auto& r : rows) {
        ledger->record(std::move(r));
    }
    ledger->flush();
    const std::int64_t cutoff = k_base_ms + 3 * k_day_ms;
    const std::int64_t end = k_base_ms + 6 * k_day_ms;
    const auto before_in_window = raw_report(dir.db(), "model", cutoff, end);
    const auto older = query_int(dir.db(), "SELECT COUNT(*) FROM requests WHERE ts_ms < " + std::to_string(cutoff));
    REQUIRE(older > 0);

    // Mid-day: the cut is the start of that day, so rows and rollups stay in agreement.
    auto deleted = ledger->prune_before(cutoff + 5 * k_hour_ms);
    REQUIRE_MESSAGE(deleted.has_value(), (deleted ? std::string() : deleted.error()));
    CHECK(*deleted == older);
    CHECK(query_int(dir.db(), "SELECT COUNT(*) FROM requests WHERE ts_ms < " + std::to_string(cutoff)) == 0);
    CHECK(query_int(dir.db(), "SELECT COUNT(*) FROM requests WHERE ts_ms >= " + std::to_string(cutoff)) > 0);
    CHECK(query_int(dir.db(), "SELECT COUNT(*) FROM request_bodies") == 0);
    CHECK(query_int(dir.db(),
                    "SELECT COUNT(*) FROM rollups WHERE start_hour < " + std::to_string(cutoff / k_hour_ms)) == 0);
    CHECK(raw_report(dir.db(), "model", cutoff, end).size() == before_in_window.size());
    for (const char* by : {"model", "key", "day"}) {
        check_report_matches_rows(*ledger, dir.db(), by, cutoff, end);
        check_report_matches_rows(*ledger, dir.db(), by, 0, end);
    }
}

TEST_CASE("the writer applies retention by itself while it runs, not at open")
{
    ScaleDir dir;
    const std::int64_t now = wall_ms();
    {
        auto ledger = open_at(dir.db());
        LedgerRow old_row = random_rows(1, now - 40 * k_day_ms, 1, 9)[0];
        LedgerRow new_row = random_rows(1, now - k_hour_ms, 1, 10)[0];
        ledger->record(old_row);
        ledger->record(new_row);
    }
    LedgerOptions options;
    options.retention_days = 30;
    options.first_retention_delay = std::chrono::milliseconds(50);
    auto ledger = Ledger::open(dir.db(), options);
    REQUIRE(ledger.has_value());
    // Wait for the writer's first retention run (bounded; no timing is asserted).
    for (int i = 0; i < 200 && query_int(dir.db(), "SELECT COUNT(*) FROM requests") != 1; ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    CHECK(query_int(dir.db(), "SELECT COUNT(*) FROM requests") == 1);
    CHECK(query_int(dir.db(), "SELECT COUNT(*) FROM rollups WHERE start_hour < " +
                                  std::to_string((now - 30 * k_day_ms) / k_hour_ms - 24)) == 0);
}

TEST_CASE("the file shrinks after prune and incremental vacuum")
{
    ScaleDir dir;
    auto ledger = open_at(dir.db());
    auto stats = ledger->stats();
    REQUIRE(stats.has_value());
    CHECK(stats->auto_vacuum == "incremental");  // new ledgers are created in this mode
    const std::string body(2000, 'x');
    for (int i = 0; i < 4000; ++i) {
        LedgerRow r = random_rows(1, k_base_ms + (i < 3600 ? 0 : 5 * k_day_ms), 1, static_cast<unsigned>(100 + i))[0];
        r.request_body = body;
        ledger->record(std::move(r));
    }
    ledger->flush();
    SQLite::Database(dir.db(), SQLite::OPEN_READWRITE).exec("PRAGMA wal_checkpoint(TRUNCATE)");
    const auto big = fs::file_size(dir.db());
    auto deleted = ledger->prune_before(k_base_ms + 2 * k_day_ms);
    REQUIRE(deleted.has_value());
    CHECK(*deleted == 3600);
    const auto small = fs::file_size(dir.db());
    CHECK(small < big / 2);
    auto after = ledger->stats();
    REQUIRE(after.has_value());
    CHECK(after->free_pages == 0);
    CHECK(after->rows == 400);
}

TEST_CASE("vacuum switches an older file to incremental auto-vacuum and shrinks it")
{
    ScaleDir dir;
    {
        SQLite::Database old_file(dir.db(), SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE);
        old_file.exec("PRAGMA journal_mode=WAL");  // as the previous aigw created it: auto_vacuum none
    }
    auto ledger = open_at(dir.db());
    REQUIRE(ledger->stats()->auto_vacuum == "none");
    for (int i = 0; i < 2000; ++i) {
        LedgerRow r = random_rows(1, k_base_ms, 1, static_cast<unsigned>(i))[0];
        r.response_body = std::string(2000, 'y');
        ledger->record(std::move(r));
    }
    ledger->flush();
    REQUIRE(ledger->prune_before(k_base_ms + k_day_ms).has_value());
    CHECK(ledger->stats()->free_pages > 0);  // not returned: the file was not incremental
    auto size = ledger->vacuum();
    REQUIRE_MESSAGE(size.has_value(), (size ? std::string() : size.error()));
    auto stats = ledger->stats();
    CHECK(stats->auto_vacuum == "incremental");
    CHECK(stats->free_pages == 0);
    CHECK(*size < 1'000'000);
    CHECK(mode_of(dir.db()) == 0600);
}

TEST_CASE("ledger.db, -wal and -shm are 0600, whatever the umask, and an older 0644 file is made private")
{
    ScaleDir dir;
    const mode_t old_umask = ::umask(022);
    SUBCASE("a new ledger")
    {
        auto ledger = open_at(dir.db());
        ledger->record(random_rows(1, k_base_ms, 1, 1)[0]);
        ledger->flush();
        for (const char* suffix : {"", "-wal", "-shm"}) {
            CAPTURE(suffix);
            CHECK(mode_of(dir.db().string() + suffix) == 0600);
        }
    }
    SUBCASE("an existing ledger written by an older aigw")
    {
        {
            SQLite::Database old_file(dir.db(), SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE);
            old_file.exec("PRAGMA journal_mode=WAL; CREATE TABLE t(x)");
        }
        ::chmod(dir.db().c_str(), 0644);
        auto ledger = open_at(dir.db());
        ledger->record(random_rows(1, k_base_ms, 1, 1)[0]);
        ledger->flush();
        for (const char* suffix : {"", "-wal", "-shm"}) {
            CAPTURE(suffix);
            CHECK(mode_of(dir.db().string() + suffix) == 0600);
        }
    }
    ::umask(old_umask);
}

/// Polls `sql` on its own connection until it returns `want` or 10 s pass; returns the
/// last value and how long it took. The 100 ms bound is the contract, but it is not
/// asserted: on a shared machine under sanitizers the writer thread itself can be held off
/// the CPU longer than that; what is asserted is that rows reach the disk without a flush
/// or a close, and stay there through SIGKILL.
static std::pair<std::int64_t, std::int64_t> wait_for_count(const fs::path& db, const std::string& sql,
                                                            std::int64_t want)
{
    const auto start = std::chrono::steady_clock::now();
    std::int64_t got = -1;
    for (int i = 0; i < 2000; ++i) {
        got = query_int(db, sql);
        if (got == want) {
            break;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    const auto waited = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start);
    return {got, waited.count()};
}

TEST_CASE("rows reach the disk by themselves, without flush or close, and survive a SIGKILL intact")
{
    ScaleDir dir;
    SUBCASE("seen by another connection while the writer runs")
    {
        auto ledger = open_at(dir.db());
        for (int i = 0; i < 500; ++i) {
            ledger->record(random_rows(1, k_base_ms, 1, static_cast<unsigned>(i))[0]);
        }
        const auto [count, waited_ms] = wait_for_count(dir.db(), "SELECT COUNT(*) FROM requests", 500);
        CHECK(count == 500);
        MESSAGE("500 rows committed within " << waited_ms << " ms of being recorded (bound: "
                                             << Ledger::k_max_commit_delay.count() << " ms when not backlogged)");
    }
    SUBCASE("a daemon killed with SIGKILL while it keeps recording")
    {
        int ready[2];
        REQUIRE(::pipe(ready) == 0);
        const pid_t child = ::fork();
        REQUIRE(child >= 0);
        if (child == 0) {
            ::close(ready[0]);
            auto ledger = Ledger::open(dir.db(), 0);
            if (!ledger) {
                ::_exit(1);
            }
            for (int i = 0; i < 300; ++i) {
                LedgerRow r = random_rows(1, k_base_ms, 1, static_cast<unsigned>(i))[0];
                r.request_id = "early_" + std::to_string(i);
                (*ledger)->record(std::move(r));
            }
            const char byte = 'x';
            if (::write(ready[1], &byte, 1) != 1) {
                ::_exit(1);
            }
            for (int i = 0;; ++i) {  // keeps the writer busy until killed
                LedgerRow r = random_rows(1, k_base_ms, 1, static_cast<unsigned>(1000 + i))[0];
                r.request_id = "late_" + std::to_string(i);
                (*ledger)->record(std::move(r));
                std::this_thread::sleep_for(std::chrono::microseconds(200));
            }
        }
        ::close(ready[1]);
        char byte = 0;
        const auto got = ::read(ready[0], &byte, 1);
        ::close(ready[0]);
        REQUIRE(got == 1);
        // The early rows reach the disk while the child goes on recording; then it dies.
        const auto [early, waited_ms] =
            wait_for_count(dir.db(), "SELECT COUNT(*) FROM requests WHERE request_id LIKE 'early_%'", 300);
        CHECK(early == 300);
        MESSAGE("early rows committed within " << waited_ms << " ms");
        ::kill(child, SIGKILL);
        int status = 0;
        ::waitpid(child, &status, 0);
        CHECK(WIFSIGNALED(status));
        {
            SQLite::Database c(dir.db(), SQLite::OPEN_READWRITE);
            CHECK(c.execAndGet("PRAGMA integrity_check").getString() == "ok");
            CHECK(c.execAndGet("SELECT COUNT(*) FROM requests WHERE request_id LIKE 'early_%'").getInt64() == 300);
            CHECK(c.execAndGet("SELECT COUNT(*) FROM requests").getInt64() ==
                  c.execAndGet("SELECT SUM(rows) FROM rollups WHERE dim = 'all' AND span_hours = 1").getInt64());
        }
        auto reopened = open_at(dir.db());  // and it opens again
        CHECK(reopened->stats()->rows >= 300);
    }
}

TEST_CASE("a ledger of the previous schema is migrated: rollups backfilled, unused indexes dropped")
{
    ScaleDir dir;
    const auto rows = random_rows(2000, k_base_ms, 48, 11);
    {
        // The schema as the previous aigw left it: migrations 1 to 3, rows inserted by SQL.
        SQLite::Database old_db(dir.db(), SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE);
        old_db.exec("PRAGMA journal_mode=WAL");
        old_db.exec(
            "CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT "
            "NULL)");
        for (const auto& m : aigw::daemon::ledger::ledger_migrations()) {
            if (m.version > 3) {
                break;
            }
            old_db.exec(std::string(m.sql));
            old_db.exec("INSERT INTO schema_migrations VALUES (" + std::to_string(m.version) + ", 'old', 'then')");
        }
        SQLite::Statement insert(
            old_db,
            "INSERT INTO requests(ts_ms, request_id, key_id, surface, served_model, provider, status, "
            "final_attempt, input_tokens, cached_tokens, output_tokens, cost_usd, cache_hit, saved_usd, "
            "latency_ms, tag, variant) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)");
        for (const auto& r : rows) {
            int i = 1;
            insert.bind(i++, r.ts_ms);
            insert.bind(i++, r.request_id);
            insert.bind(i++, r.key_id);
            insert.bind(i++, r.surface);
            insert.bind(i++, r.served_model);
            insert.bind(i++, r.provider);
            insert.bind(i++, r.status);
            insert.bind(i++, static_cast<int>(r.final_attempt));
            insert.bind(i++, r.input_tokens);
            insert.bind(i++, r.cached_tokens);
            insert.bind(i++, r.output_tokens);
            insert.bind(i++, r.cost_usd);
            insert.bind(i++, static_cast<int>(r.cache_hit));
            insert.bind(i++, r.saved_usd);
            insert.bind(i++, r.latency_ms);
            insert.bind(i++, r.tag);
            insert.bind(i++, r.variant);
            insert.exec();
            insert.reset();
        }
    }
    auto ledger = open_at(dir.db());
    CHECK(ledger->schema_version() == Ledger::latest_schema_version());
    CHECK(query_int(dir.db(), "SELECT SUM(rows) FROM rollups WHERE dim = 'all' AND span_hours = 1") == 2000);
    CHECK(query_int(dir.db(), "SELECT SUM(rows) FROM rollups WHERE dim = 'all' AND span_hours = 24") == 2000);
    CHECK(query_int(dir.db(),
                    "SELECT COUNT(*) FROM sqlite_master WHERE name IN ('requests_model_ts', 'requests_key_ts')") == 0);
    for (const char* by : {"model", "key", "tag", "day", "session"}) {
        check_report_matches_rows(*ledger, dir.db(), by, 0, k_base_ms + 2 * k_day_ms);
        check_report_matches_rows(*ledger, dir.db(), by, k_base_ms + 3 * k_hour_ms + 5, k_base_ms + 30 * k_hour_ms);
    }
    // New rows go on adding to the backfilled rollups.
    for (auto& r : random_rows(100, k_base_ms, 48, 12)) {
        ledger->record(std::move(r));
    }
    ledger->flush();
    check_report_matches_rows(*ledger, dir.db(), "model", 0, k_base_ms + 2 * k_day_ms);
}

TEST_CASE("query plans: reports read the rollups; logs filters use their indexes")
{
    ScaleDir dir;
    auto ledger = open_at(dir.db());
    ledger->record(random_rows(1, k_base_ms, 1, 1)[0]);
    ledger->flush();
    SQLite::Database c(dir.db(), SQLite::OPEN_READONLY);
    auto plan = [&](const std::string& sql) {
        SQLite::Statement q(c, "EXPLAIN QUERY PLAN " + sql);
        std::string out;
        while (q.executeStep()) {
            out += q.getColumn(3).getString() + "\n";
        }
        return out;
    };
    CHECK(plan("SELECT value, cost_usd FROM rollups WHERE dim = 'model' AND span_hours = 24 AND start_hour >= 10 AND "
               "start_hour < 99")
              .find("SEARCH rollups USING PRIMARY KEY") != std::string::npos);
    CHECK(plan("SELECT * FROM requests WHERE final_attempt = 1 AND key_id = 'k' ORDER BY id DESC LIMIT 50")
              .find("USING INDEX requests_key") != std::string::npos);
    CHECK(plan("SELECT * FROM requests WHERE final_attempt = 1 AND served_model = 'm' ORDER BY id DESC LIMIT 50")
              .find("USING INDEX requests_model") != std::string::npos);
    CHECK(plan("SELECT * FROM requests WHERE status = 500 AND status >= 400 ORDER BY id DESC LIMIT 50")
              .find("USING INDEX requests_errors") != std::string::npos);
    // The partial indexes (migration 7) serve a query that repeats their condition, as
    // entries() writes it.
    CHECK(plan("SELECT * FROM requests WHERE final_attempt = 1 AND session = 's' AND session <> '' ORDER BY id DESC "
               "LIMIT 50")
              .find("USING INDEX requests_session") != std::string::npos);
    CHECK(plan("SELECT * FROM requests WHERE final_attempt = 1 AND tag = 't' AND tag <> '' ORDER BY id DESC LIMIT 50")
              .find("USING INDEX requests_tag") != std::string::npos);
    CHECK(plan("SELECT * FROM requests WHERE request_id = 'req_1'").find("USING INDEX requests_request_id") !=
          std::string::npos);
    CHECK(plan("SELECT * FROM requests ORDER BY ts_ms DESC, id DESC LIMIT 50").find("USING INDEX requests_ts") !=
          std::string::npos);
    // Untagged rows and rows outside a session are not in those indexes at all.
    CHECK(query_int(dir.db(), "SELECT sql LIKE '%WHERE tag <> ''''%' FROM sqlite_master WHERE name = 'requests_tag'") ==
          1);
    CHECK(query_int(dir.db(),
                    "SELECT sql LIKE '%WHERE session <> ''''%' FROM sqlite_master WHERE name = 'requests_session'") ==
          1);
}

TEST_CASE("a ledger of schema 4 gains sessions: every old row is in session '', its rollups copied from 'all'")
{
    ScaleDir dir;
    const auto old_rows = random_rows(1500, k_base_ms, 60, 21);
    {
        // Schema 4 as the previous aigw left it, rows inserted by SQL and rolled up by migration 4.
        SQLite::Database old_db(dir.db(), SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE);
        old_db.exec("PRAGMA journal_mode=WAL");
        aigw::daemon::ledger::register_hist_functions(old_db);
        const auto all = aigw::daemon::ledger::ledger_migrations();
        REQUIRE(aigw::daemon::ledger::apply_migrations(old_db, all.subspan(0, 3), "the ledger") == 3);
        SQLite::Statement insert(old_db,
                                 "INSERT INTO requests(ts_ms, request_id, key_id, served_model, provider, status, "
                                 "final_attempt, input_tokens, output_tokens, cost_usd, latency_ms, tag) "
                                 "VALUES (?,?,?,?,?,?,?,?,?,?,?,?)");
        for (const auto& r : old_rows) {
            int i = 1;
            insert.bind(i++, r.ts_ms);
            insert.bind(i++, r.request_id);
            insert.bind(i++, r.key_id);
            insert.bind(i++, r.served_model);
            insert.bind(i++, r.provider);
            insert.bind(i++, r.status);
            insert.bind(i++, static_cast<int>(r.final_attempt));
            insert.bind(i++, r.input_tokens);
            insert.bind(i++, r.output_tokens);
            insert.bind(i++, r.cost_usd);
            insert.bind(i++, r.latency_ms);
            insert.bind(i++, r.tag);
            insert.exec();
            insert.reset();
        }
        REQUIRE(aigw::daemon::ledger::apply_migrations(old_db, all.subspan(0, 4), "the ledger") == 4);
    }
    auto ledger = open_at(dir.db());
    CHECK(ledger->schema_version() == Ledger::latest_schema_version());
    CHECK(query_int(dir.db(), "SELECT COUNT(*) FROM requests WHERE session <> ''") == 0);
    CHECK(query_int(dir.db(), "SELECT COUNT(*) FROM rollups WHERE dim = 'session'") ==
          query_int(dir.db(), "SELECT COUNT(*) FROM rollups WHERE dim = 'all'"));
    CHECK(query_int(dir.db(), "SELECT SUM(rows) FROM rollups WHERE dim = 'session' AND span_hours = 24") == 1500);
    for (const auto& [since, until] : std::vector<std::pair<std::int64_t, std::int64_t>>{
             {0, k_base_ms + 3 * k_day_ms}, {k_base_ms + 3 * k_hour_ms + 5, k_base_ms + 40 * k_hour_ms}}) {
        check_report_matches_rows(*ledger, dir.db(), "session", since, until);
    }
    // New rows, some in sessions, add to the copied rollups.
    for (auto& r : random_rows(300, k_base_ms, 60, 22)) {
        ledger->record(std::move(r));
    }
    ledger->flush();
    check_report_matches_rows(*ledger, dir.db(), "session", 0, k_base_ms + 3 * k_day_ms);
    CostQuery q;
    q.group_by = "session";
    q.until_ms = k_base_ms + 3 * k_day_ms;
    auto report = ledger->cost(q);
    REQUIRE(report.has_value());
    CHECK(report->size() == 4);  // '' and claude-0..2
}

TEST_CASE("entries filter by key, model, status, errors, tag, session and time")
{
    ScaleDir dir;
    auto ledger = open_at(dir.db());
    auto rows = random_rows(600, k_base_ms, 10, 5);
    for (auto& r : rows) {
        ledger->record(r);
    }
    ledger->flush();
    auto count = [&](const EntryFilter& f) {
        auto e = ledger->entries(f);
        REQUIRE(e.has_value());
        return static_cast<std::int64_t>(e->size());
    };
    EntryFilter f;
    f.limit = 0;
    f.all_attempts = true;
    f.key_id = "default";
    CHECK(count(f) == query_int(dir.db(), "SELECT COUNT(*) FROM requests WHERE key_id = 'default'"));
    f.key_id.clear();
    f.model = "p1/m3";
    CHECK(count(f) == query_int(dir.db(), "SELECT COUNT(*) FROM requests WHERE served_model = 'p1/m3'"));
    f.model.clear();
    f.status = 429;
    CHECK(count(f) == query_int(dir.db(), "SELECT COUNT(*) FROM requests WHERE status = 429"));
    f.status = 0;
    f.errors_only = true;
    CHECK(count(f) == query_int(dir.db(), "SELECT COUNT(*) FROM requests WHERE status >= 400"));
    f.errors_only = false;
    f.session = "claude-1";
    CHECK(count(f) > 0);
    CHECK(count(f) == query_int(dir.db(), "SELECT COUNT(*) FROM requests WHERE session = 'claude-1'"));
    f.session.clear();
    f.tag = "run-1";
    CHECK(count(f) > 0);
    CHECK(count(f) == query_int(dir.db(), "SELECT COUNT(*) FROM requests WHERE tag = 'run-1'"));
    f.tag.clear();
    f.since_ms = k_base_ms + 2 * k_hour_ms;
    f.until_ms = k_base_ms + 3 * k_hour_ms;
    CHECK(count(f) == query_int(dir.db(), "SELECT COUNT(*) FROM requests WHERE ts_ms >= " + std::to_string(f.since_ms) +
                                              " AND ts_ms < " + std::to_string(f.until_ms)));
}

TEST_CASE("export writes every row in range as JSON lines or CSV, invalid UTF-8 replaced")
{
    ScaleDir dir;
    auto ledger = open_at(dir.db());
    LedgerRow odd = random_rows(1, k_base_ms, 1, 1)[0];
    odd.tag =
        "bad\xff"
        "byte, \"quoted\"\nline";
    ledger->record(odd);
    for (auto& r : random_rows(9, k_base_ms, 1, 2)) {
        ledger->record(std::move(r));
    }
    ledger->record(random_rows(1, k_base_ms + k_day_ms, 1, 3)[0]);  // outside the range
    ledger->flush();
    std::ostringstream jsonl;
    auto n = ledger->export_rows(k_base_ms, k_base_ms + k_hour_ms, ExportFormat::jsonl, jsonl);
    REQUIRE(n.has_value());
    CHECK(*n == 10);
    const std::string j = jsonl.str();
    CHECK(std::count(j.begin(), j.end(), '\n') == 10);
    CHECK(j.find("bad\xef\xbf\xbd"
                 "byte, \\\"quoted\\\"\\nline") != std::string::npos);
    CHECK(j.find('\xff') == std::string::npos);
    std::ostringstream csv;
    n = ledger->export_rows(k_base_ms, k_base_ms + k_hour_ms, ExportFormat::csv, csv);
    REQUIRE(n.has_value());
    CHECK(*n == 10);
    CHECK(csv.str().rfind("ts_ms,request_id,", 0) == 0);
    CHECK(csv.str().find("\"bad\xff"
                         "byte, \"\"quoted\"\"\nline\"") != std::string::npos);
}

TEST_CASE("try_record refuses a row when the queue is full and leaves it intact; record never drops")
{
    ScaleDir dir;
    LedgerOptions options;
    options.queue_capacity = 1;
    auto opened = Ledger::open(dir.db(), options);
    REQUIRE(opened.has_value());
    auto& ledger = *opened;
    int accepted = 0;
    int refused = 0;
    for (int i = 0; i < 2000; ++i) {
        LedgerRow r = random_rows(1, k_base_ms, 1, static_cast<unsigned>(i))[0];
        const std::string id = r.request_id;
        if (ledger->try_record(std::move(r))) {
            ++accepted;
        } else {
            ++refused;
            CHECK(r.request_id == id);  // NOLINT(bugprone-use-after-move): untouched on refusal
            ledger->record(std::move(r));
        }
    }
    ledger->flush();
    CHECK(accepted + refused == 2000);
    CHECK(ledger->stats()->rows == 2000);
    CHECK(ledger->queue_depth() == 0);
    CHECK(ledger->lag() == std::chrono::milliseconds{0});  // nothing waits: no lag, not the last batch's
}

TEST_CASE("a report until now includes every row of the current hour, and agrees with the rows")
{
    ScaleDir dir;
    auto ledger = open_at(dir.db());
    const std::int64_t now = wall_ms();
    for (auto& r : random_rows(500, now - 3 * k_hour_ms, 3, 21)) {
        r.ts_ms = std::min(r.ts_ms, now);
        ledger->record(std::move(r));
    }
    ledger->flush();
    CostQuery q;
    q.group_by = "key";
    q.since_ms = now - 2 * k_hour_ms - 1234;
    auto report = ledger->cost(q);
    REQUIRE(report.has_value());
    const auto expected = raw_report(dir.db(), "key", q.since_ms, now + 1);
    REQUIRE(report->size() == expected.size());
    for (const auto& g : *report) {
        CHECK(g.requests == expected.at(g.key).requests);
        CHECK(g.cost_usd == doctest::Approx(expected.at(g.key).cost_usd).epsilon(1e-9));
    }
}

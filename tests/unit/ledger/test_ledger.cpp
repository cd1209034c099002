// Ledger behaviour against a real SQLite file in a temp dir per test (kept when it fails).

#include "daemon/ledger/ledger.hpp"
#include "daemon/ledger/response_store.hpp"

#include <SQLiteCpp/SQLiteCpp.h>
#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <sys/stat.h>

namespace fs = std::filesystem;
using aigw::daemon::ledger::CostGroup;
using aigw::daemon::ledger::CostQuery;
using aigw::daemon::ledger::Ledger;
using aigw::daemon::ledger::LedgerRow;

namespace {

constexpr std::int64_t k_day_ms = 86'400'000;
constexpr std::int64_t k_jan_1_2025_ms = 1'735'689'600'000;  // 2025-01-01T00:00:00Z

/// Set when an assertion of the running test case fails, so its temp dir is kept.
std::atomic<bool> g_test_failed{false};

struct FailureListener : doctest::IReporter {
    explicit FailureListener(const doctest::ContextOptions&) {}
    void report_query(const doctest::QueryData&) override {}
    void test_run_start() override {}
    void test_run_end(const doctest::TestRunStats&) override {}
    void test_case_start(const doctest::TestCaseData&) override { g_test_failed = false; }
    void test_case_reenter(const doctest::TestCaseData&) override {}
    void test_case_end(const doctest::CurrentTestCaseStats&) override {}
    void test_case_exception(const doctest::TestCaseException&) override { g_test_failed = true; }
    void subcase_start(const doctest::SubcaseSignature&) override {}
    void subcase_end() override {}
    void log_assert(const doctest::AssertData& data) override
    {
        if (data.m_failed) {
            g_test_failed = true;
        }
    }
    void log_message(const doctest::MessageData&) override {}
    void test_case_skipped(const doctest::TestCaseData&) override {}
};
REGISTER_LISTENER("ledger_failure_listener", 1, FailureListener);

/// A fresh directory, removed at the end of a passing test and kept (and named) otherwise.
class TempDir {
public:
    TempDir()
    {
        std::string pattern = (fs::temp_directory_path() / "aigw-ledger-XXXXXX").string();
        REQUIRE(::mkdtemp(pattern.data()) != nullptr);
        m_path = pattern;
    }
    ~TempDir()
    {
        if (g_test_failed || std::uncaught_exceptions() > 0) {
            MESSAGE("kept test dir " << m_path.string());
            return;
        }
        std::error_code ignored;
        fs::remove_all(m_path, ignored);
    }
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;

    fs::path db() const { return m_path / "ledger.db"; }

private:
    fs::path m_path;
};

std::unique_ptr<Ledger> open_ledger(const fs::path& path, int retention_days = 0, std::size_t capacity = 65536)
{
    auto ledger = Ledger::open(path, retention_days, capacity);
    if (!ledger) {
        FAIL("Ledger::open failed: " << ledger.error());
    }
    return std::move(*ledger);
}

LedgerRow make_row(std::int64_t ts_ms, std::string request_id, std::string served_model = "openai/gpt-4o-mini",
                   double cost_usd = 0.001)
{
    LedgerRow row;
    row.ts_ms = ts_ms;
    row.request_id = std::move(request_id);
    row.key_id = "default";
    row.surface = "openai.chat";
    row.requested_model = served_model;
    row.provider = served_model.substr(0, served_model.find('/'));
    row.served_model = std::move(served_model);
    row.status = 200;
    row.input_tokens = 100;
    row.cached_tokens = 10;
    row.output_tokens = 50;
    row.cost_usd = cost_usd;
    row.latency_ms = 200;
    return row;
}

/// Runs a one-value query on a separate connection, as an outside reader would.
std::int64_t query_int(const fs::path& db_path, const std::string& sql)
{
    SQLite::Database db(db_path, SQLite::OPEN_READONLY);
    return db.execAndGet(sql).getInt64();
}

std::int64_t row_count(const fs::path& db_path)
{
    return query_int(db_path, "SELECT COUNT(*) FROM requests");
}

std::int64_t now_ms()
{
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
        .count();
}

}  // namespace

/// "r<i>", built by appending: g++ 12 misreports `"r" + std::to_string(i)` in Release builds.
std::string numbered_id(int i)
{
    std::string id = "r";
    id += std::to_string(i);
    return id;
}

TEST_CASE("migrations are recorded and re-opening applies none twice")
{
    TempDir dir;
    std::string first_applied_at;
    {
        auto ledger = open_ledger(dir.db());
        CHECK(ledger->schema_version() == Ledger::latest_schema_version());
        CHECK(Ledger::latest_schema_version() >= 1);
    }
    const auto latest = Ledger::latest_schema_version();
    CHECK(query_int(dir.db(), "SELECT COUNT(*) FROM schema_migrations") == latest);
    CHECK(query_int(dir.db(), "SELECT MIN(version) FROM schema_migrations") == 1);
    CHECK(query_int(dir.db(), "SELECT MAX(version) FROM schema_migrations") == latest);
    CHECK(query_int(dir.db(), "SELECT COUNT(*) FROM schema_migrations WHERE name = '' OR applied_at = ''") == 0);
    {
        SQLite::Database db(dir.db(), SQLite::OPEN_READONLY);
        first_applied_at = db.execAndGet("SELECT applied_at FROM schema_migrations WHERE version = 1").getString();
    }

    auto again = open_ledger(dir.db());
    CHECK(again->schema_version() == latest);
    CHECK(query_int(dir.db(), "SELECT COUNT(*) FROM schema_migrations") == latest);
    SQLite::Database db(dir.db(), SQLite::OPEN_READONLY);
    CHECK(db.execAndGet("SELECT applied_at FROM schema_migrations WHERE version = 1").getString() == first_applied_at);
}

TEST_CASE("a database written by a newer aigw is refused")
{
    TempDir dir;
    open_ledger(dir.db())->close();
    {
        SQLite::Database db(dir.db(), SQLite::OPEN_READWRITE);
        SQLite::Statement insert(db, "INSERT INTO schema_migrations VALUES (?, 'from the future', '2099-01-01')");
        insert.bind(1, Ledger::latest_schema_version() + 1);
        insert.exec();
    }
    auto ledger = Ledger::open(dir.db(), 0);
    REQUIRE_FALSE(ledger.has_value());
    CHECK(ledger.error().find("newer") != std::string::npos);
    CHECK(ledger.error().find(std::to_string(Ledger::latest_schema_version() + 1)) != std::string::npos);
}

TEST_CASE("the database is in WAL mode")
{
    TempDir dir;
    auto ledger = open_ledger(dir.db());
    SQLite::Database db(dir.db(), SQLite::OPEN_READONLY);
    CHECK(db.execAndGet("PRAGMA journal_mode").getString() == "wal");
}

TEST_CASE("flushed rows show in cost grouped by model, provider, key and day")
{
    TempDir dir;
    auto ledger = open_ledger(dir.db());
    const std::int64_t day1 = k_jan_1_2025_ms + 3'600'000;
    const std::int64_t day2 = day1 + k_day_ms;
    ledger->record(make_row(day1, "r1", "openai/gpt-4o-mini", 0.001));
    ledger->record(make_row(day1, "r2", "openai/gpt-4o-mini", 0.002));
    ledger->record(make_row(day2, "r3", "anthropic/claude-sonnet-4-5", 0.010));
    LedgerRow other_key = make_row(day2, "r4", "openai/gpt-4o", 0.004);
    other_key.key_id = "team-a";
    other_key.cache_hit = true;
    other_key.latency_ms = 2;
    ledger->record(other_key);
    ledger->flush();

    const CostQuery whole{k_jan_1_2025_ms, k_jan_1_2025_ms + 10 * k_day_ms, "model"};

    SUBCASE("model")
    {
        auto groups = ledger->cost(whole);
        REQUIRE(groups.has_value());
        REQUIRE(groups->size() == 3);
        CHECK((*groups)[0].key == "anthropic/claude-sonnet-4-5");  // most expensive first
        CHECK((*groups)[1].key == "openai/gpt-4o");
        CHECK((*groups)[2].key == "openai/gpt-4o-mini");
        const CostGroup& mini = (*groups)[2];
        CHECK(mini.requests == 2);
        CHECK(mini.errors == 0);
        CHECK(mini.input_tokens == 200);
        CHECK(mini.cached_tokens == 20);
        CHECK(mini.output_tokens == 100);
        CHECK(mini.cost_usd == doctest::Approx(0.003));
        CHECK(mini.avg_latency_ms == doctest::Approx(200));
        CHECK((*groups)[1].cache_hits == 1);
        CHECK((*groups)[1].avg_latency_ms == doctest::Approx(2));
    }
    SUBCASE("provider")
    {
        CostQuery q = whole;
        q.group_by = "provider";
        auto groups = ledger->cost(q);
        REQUIRE(groups.has_value());
        REQUIRE(groups->size() == 2);
        CHECK((*groups)[0].key == "anthropic");
        CHECK((*groups)[1].key == "openai");
        CHECK((*groups)[1].requests == 3);
        CHECK((*groups)[1].cost_usd == doctest::Approx(0.007));
    }
    SUBCASE("key")
    {
        CostQuery q = whole;
        q.group_by = "key";
        auto groups = ledger->cost(q);
        REQUIRE(groups.has_value());
        REQUIRE(groups->size() == 2);
        CHECK((*groups)[0].key == "default");
        CHECK((*groups)[0].requests == 3);
        CHECK((*groups)[1].key == "team-a");
        CHECK((*groups)[1].cost_usd == doctest::Approx(0.004));
    }
    SUBCASE("day, in UTC")
    {
        CostQuery q = whole;
        q.group_by = "day";
        auto groups = ledger->cost(q);
        REQUIRE(groups.has_value());
        REQUIRE(groups->size() == 2);
        CHECK((*groups)[0].key == "2025-01-02");
        CHECK((*groups)[0].requests == 2);
        CHECK((*groups)[0].cost_usd == doctest::Approx(0.014));
        CHECK((*groups)[1].key == "2025-01-01");
        CHECK((*groups)[1].cost_usd == doctest::Approx(0.003));
    }
    SUBCASE("the range is since inclusive, until exclusive")
    {
        auto groups = ledger->cost(CostQuery{day1, day2, "model"});
        REQUIRE(groups.has_value());
        REQUIRE(groups->size() == 1);
        CHECK((*groups)[0].key == "openai/gpt-4o-mini");
    }
    SUBCASE("until 0 means now")
    {
        auto groups = ledger->cost(CostQuery{k_jan_1_2025_ms, 0, "surface"});
        REQUIRE(groups.has_value());
        REQUIRE(groups->size() == 1);
        CHECK((*groups)[0].key == "openai.chat");
        CHECK((*groups)[0].requests == 4);
    }
    SUBCASE("an unknown group_by is an error naming the valid ones")
    {
        auto groups = ledger->cost(CostQuery{0, 0, "colour"});
        REQUIRE_FALSE(groups.has_value());
        CHECK(groups.error().find("colour") != std::string::npos);
        CHECK(groups.error().find("provider") != std::string::npos);
    }
}

TEST_CASE("cost counts money on every attempt but requests and errors on final attempts only")
{
    TempDir dir;
    auto ledger = open_ledger(dir.db());
    const std::int64_t ts = k_jan_1_2025_ms;

    // One request, three attempts: rate limited, a stream cut mid-way (billed), then success.
    LedgerRow limited = make_row(ts, "req-1", "openai/gpt-4o", 0);
    limited.status = 429;
    limited.attempt = 1;
    limited.attempts = 3;
    limited.final_attempt = false;
    limited.input_tokens = 0;
    limited.cached_tokens = 0;
    limited.output_tokens = 0;
    limited.latency_ms = 5000;
    LedgerRow cut = make_row(ts + 1, "req-1", "openai/gpt-4o", 0.010);
    cut.status = 502;
    cut.attempt = 2;
    cut.attempts = 3;
    cut.final_attempt = false;
    cut.fallback_reason = "rate_limited";
    cut.latency_ms = 5000;
    LedgerRow ok = make_row(ts + 2, "req-1", "openai/gpt-4o", 0.020);
    ok.attempt = 3;
    ok.attempts = 3;
    ok.fallback_reason = "upstream";
    ok.latency_ms = 300;
    // A second request that failed for good.
    LedgerRow failed = make_row(ts + 3, "req-2", "openai/gpt-4o", 0);
    failed.status = 500;
    failed.input_tokens = 0;
    failed.cached_tokens = 0;
    failed.output_tokens = 0;
    failed.latency_ms = 100;
    for (const LedgerRow& row : {limited, cut, ok, failed}) {
        ledger->record(row);
    }
    ledger->flush();

    auto groups = ledger->cost(CostQuery{ts, ts + k_day_ms, "model"});
    REQUIRE(groups.has_value());
    REQUIRE(groups->size() == 1);
    const CostGroup& group = (*groups)[0];
    CHECK(group.requests == 2);
    CHECK(group.errors == 1);
    CHECK(group.cost_usd == doctest::Approx(0.030));
    CHECK(group.input_tokens == 200);
    CHECK(group.output_tokens == 100);
    CHECK(group.avg_latency_ms == doctest::Approx(200));

    auto finals = ledger->recent(10);
    REQUIRE(finals.has_value());
    REQUIRE(finals->size() == 2);
    CHECK((*finals)[0].request_id == "req-2");
    CHECK((*finals)[1].request_id == "req-1");
    CHECK((*finals)[1].attempt == 3);

    auto all = ledger->recent(10, true);
    REQUIRE(all.has_value());
    REQUIRE(all->size() == 4);
    CHECK((*all)[1].attempt == 3);
    CHECK((*all)[2].attempt == 2);
    CHECK((*all)[2].fallback_reason == "rate_limited");
    CHECK_FALSE((*all)[2].final_attempt);
    CHECK((*all)[3].status == 429);
}

TEST_CASE("recent returns every field, newest first, up to the limit")
{
    TempDir dir;
    auto ledger = open_ledger(dir.db());
    LedgerRow full = make_row(k_jan_1_2025_ms + 10, "full", "gemini/gemini-2.5-flash", 0.5);
    full.key_id = "k1";
    full.surface = "anthropic.messages";
    full.requested_model = "fast";
    full.status = 201;
    full.error = "none";
    full.cache_write_tokens = 7;
    full.reasoning_tokens = 9;
    full.priced = false;
    full.ttft_ms = 42;
    full.stream = true;
    full.cache_hit = true;
    full.tag = "bench-1";
    full.variant = "B";
    full.session = "claude-1800000000-ab12";
    for (int i = 0; i < 5; ++i) {
        ledger->record(make_row(k_jan_1_2025_ms + i, "old-" + std::to_string(i)));
    }
    ledger->record(full);
    ledger->flush();

    auto rows = ledger->recent(3);
    REQUIRE(rows.has_value());
    REQUIRE(rows->size() == 3);
    CHECK((*rows)[1].request_id == "old-4");
    CHECK((*rows)[2].request_id == "old-3");
    const LedgerRow& got = (*rows)[0];
    CHECK(got.ts_ms == full.ts_ms);
    CHECK(got.request_id == "full");
    CHECK(got.key_id == "k1");
    CHECK(got.surface == "anthropic.messages");
    CHECK(got.requested_model == "fast");
    CHECK(got.served_model == "gemini/gemini-2.5-flash");
    CHECK(got.provider == "gemini");
    CHECK(got.status == 201);
    CHECK(got.error == "none");
    CHECK(got.input_tokens == 100);
    CHECK(got.cached_tokens == 10);
    CHECK(got.cache_write_tokens == 7);
    CHECK(got.output_tokens == 50);
    CHECK(got.reasoning_tokens == 9);
    CHECK(got.cost_usd == doctest::Approx(0.5));
    CHECK_FALSE(got.priced);
    CHECK(got.latency_ms == 200);
    CHECK(got.ttft_ms == 42);
    CHECK(got.stream);
    CHECK(got.cache_hit);
    CHECK(got.tag == "bench-1");
    CHECK(got.variant == "B");
    CHECK(got.session == "claude-1800000000-ab12");

    auto everything = ledger->recent(0);
    REQUIRE(everything.has_value());
    CHECK(everything->size() == 6);
}

TEST_CASE("bodies are stored only when given")
{
    TempDir dir;
    auto ledger = open_ledger(dir.db());
    ledger->record(make_row(k_jan_1_2025_ms, "no-body"));
    LedgerRow with_body = make_row(k_jan_1_2025_ms + 1, "with-body");
    with_body.request_body = R"({"messages":[{"role":"user","content":"hi"}]})";
    with_body.response_body = R"({"choices":[]})";
    ledger->record(with_body);
    LedgerRow request_only = make_row(k_jan_1_2025_ms + 2, "request-only");
    request_only.request_body = "{}";
    ledger->record(request_only);
    ledger->flush();

    CHECK(query_int(dir.db(), "SELECT COUNT(*) FROM request_bodies") == 2);
    auto rows = ledger->recent(10);
    REQUIRE(rows.has_value());
    REQUIRE(rows->size() == 3);
    CHECK((*rows)[0].request_body == "{}");
    CHECK((*rows)[0].response_body.empty());
    CHECK((*rows)[1].request_body == with_body.request_body);
    CHECK((*rows)[1].response_body == with_body.response_body);
    CHECK((*rows)[2].request_body.empty());
}

TEST_CASE("retention prunes old rows and their bodies")
{
    TempDir dir;
    const std::int64_t now = now_ms();
    {
        auto ledger = open_ledger(dir.db(), 30);
        LedgerRow old_row = make_row(now - 40 * k_day_ms, "old");
        old_row.request_body = "old prompt";
        ledger->record(old_row);
        LedgerRow recent_row = make_row(now - 1 * k_day_ms, "recent");
        recent_row.request_body = "recent prompt";
        ledger->record(recent_row);
    }
    CHECK(row_count(dir.db()) == 2);

    SUBCASE("not at open, but when asked (and by the writer itself, later)")
    {
        auto ledger = open_ledger(dir.db(), 30);
        CHECK(row_count(dir.db()) == 2);  // open never prunes: the daemon must listen first
        ledger->prune(now);
        CHECK(row_count(dir.db()) == 1);
        CHECK(query_int(dir.db(), "SELECT COUNT(*) FROM request_bodies") == 1);
        auto rows = ledger->recent(10);
        REQUIRE(rows.has_value());
        REQUIRE(rows->size() == 1);
        CHECK((*rows)[0].request_id == "recent");
        CHECK((*rows)[0].request_body == "recent prompt");

        ledger->prune(now + 30 * k_day_ms);
        CHECK(row_count(dir.db()) == 0);
        CHECK(query_int(dir.db(), "SELECT COUNT(*) FROM request_bodies") == 0);
    }
    SUBCASE("retention 0 keeps everything")
    {
        auto ledger = open_ledger(dir.db(), 0);
        ledger->prune(now + 1000 * k_day_ms);
        CHECK(row_count(dir.db()) == 2);
    }
}

TEST_CASE("flush waits for every row queued before it")
{
    TempDir dir;
    auto ledger = open_ledger(dir.db());
    for (int i = 0; i < 3000; ++i) {
        ledger->record(make_row(k_jan_1_2025_ms + i, numbered_id(i)));
    }
    ledger->flush();
    CHECK(row_count(dir.db()) == 3000);
}

TEST_CASE("rows queued before close are all committed")
{
    TempDir dir;
    constexpr int k_rows = 50'000;
    {
        auto ledger = open_ledger(dir.db());
        for (int i = 0; i < k_rows; ++i) {
            ledger->record(make_row(k_jan_1_2025_ms + i, numbered_id(i)));
        }
        ledger->close();
        ledger->close();  // idempotent; the destructor closes a third time
        ledger->record(make_row(k_jan_1_2025_ms, "after-close"));
        ledger->flush();  // returns at once after close
    }
    CHECK(row_count(dir.db()) == k_rows);
    CHECK(query_int(dir.db(), "SELECT COUNT(DISTINCT request_id) FROM requests") == k_rows);
}

TEST_CASE("the destructor drains the queue")
{
    TempDir dir;
    {
        auto ledger = open_ledger(dir.db());
        for (int i = 0; i < 5000; ++i) {
            ledger->record(make_row(k_jan_1_2025_ms + i, numbered_id(i)));
        }
    }
    CHECK(row_count(dir.db()) == 5000);
}

TEST_CASE("many threads recording concurrently lose nothing")
{
    TempDir dir;
    constexpr int k_threads = 8;
    constexpr int k_rows_per_thread = 5000;
    {
        auto ledger = open_ledger(dir.db());
        std::vector<std::thread> threads;
        for (int t = 0; t < k_threads; ++t) {
            threads.emplace_back([&ledger, t] {
                for (int i = 0; i < k_rows_per_thread; ++i) {
                    ledger->record(make_row(k_jan_1_2025_ms + i, std::to_string(t) + "-" + std::to_string(i)));
                    if (i % 1000 == 0) {
                        ledger->flush();
                    }
                }
            });
        }
        for (std::thread& thread : threads) {
            thread.join();
        }
    }
    CHECK(row_count(dir.db()) == k_threads * k_rows_per_thread);
    CHECK(query_int(dir.db(), "SELECT COUNT(DISTINCT request_id) FROM requests") == k_threads * k_rows_per_thread);
}

TEST_CASE("a small queue blocks recorders instead of dropping rows")
{
    TempDir dir;
    constexpr int k_threads = 4;
    constexpr int k_rows_per_thread = 5000;
    {
        auto ledger = open_ledger(dir.db(), 0, 16);
        std::vector<std::thread> threads;
        for (int t = 0; t < k_threads; ++t) {
            threads.emplace_back([&ledger, t] {
                for (int i = 0; i < k_rows_per_thread; ++i) {
                    ledger->record(make_row(k_jan_1_2025_ms + i, std::to_string(t) + "-" + std::to_string(i)));
                }
            });
        }
        for (std::thread& thread : threads) {
            thread.join();
        }
        ledger->close();
    }
    CHECK(row_count(dir.db()) == k_threads * k_rows_per_thread);
}

TEST_CASE("close while recorders wait on a full queue still commits their rows")
{
    TempDir dir;
    constexpr int k_threads = 4;
    constexpr int k_rows_per_thread = 2000;
    std::atomic<int> recorded{0};
    {
        auto ledger = open_ledger(dir.db(), 0, 4);
        std::vector<std::thread> threads;
        for (int t = 0; t < k_threads; ++t) {
            threads.emplace_back([&ledger, &recorded, t] {
                for (int i = 0; i < k_rows_per_thread; ++i) {
                    ledger->record(make_row(k_jan_1_2025_ms + i, std::to_string(t) + "-" + std::to_string(i)));
                    ++recorded;
                }
            });
        }
        while (recorded < 100) {
            std::this_thread::yield();
        }
        const int returned_before_close = recorded;
        ledger->close();  // races the recorders: every row record() accepted must be committed
        for (std::thread& thread : threads) {
            thread.join();
        }
        // Rows recorded after close are ignored, so the count is between what had been
        // recorded when close began and everything.
        CHECK(row_count(dir.db()) >= returned_before_close);
        CHECK(row_count(dir.db()) <= k_threads * k_rows_per_thread);
        auto rows = ledger->recent(0);
        REQUIRE(rows.has_value());
        CHECK(static_cast<std::int64_t>(rows->size()) == row_count(dir.db()));
    }
}

TEST_CASE("saved_usd is stored, read back, and summed per key in cost reports")
{
    TempDir dir;
    auto ledger = open_ledger(dir.db());
    const auto now = now_ms();
    LedgerRow hit = make_row(now - 1000, "r1", "openai/gpt-4o-mini", 0.0);
    hit.key_id = "vk_team";
    hit.cache_hit = true;
    hit.saved_usd = 0.25;
    LedgerRow miss = make_row(now - 900, "r2", "openai/gpt-4o-mini", 0.25);
    miss.key_id = "vk_team";
    LedgerRow other = make_row(now - 800, "r3", "openai/gpt-4o-mini", 0.1);
    other.cache_hit = true;
    other.saved_usd = 0.5;
    ledger->record(hit);
    ledger->record(miss);
    ledger->record(other);
    ledger->flush();

    CostQuery q;
    q.group_by = "key";
    auto groups = ledger->cost(q);
    REQUIRE(groups.has_value());
    REQUIRE(groups->size() == 2);
    for (const CostGroup& g : *groups) {
        if (g.key == "vk_team") {
            CHECK(g.saved_usd == doctest::Approx(0.25));
            CHECK(g.cache_hits == 1);
            CHECK(g.cost_usd == doctest::Approx(0.25));
        } else {
            CHECK(g.key == "default");
            CHECK(g.saved_usd == doctest::Approx(0.5));
        }
    }
    auto rows = ledger->recent(10);
    REQUIRE(rows.has_value());
    CHECK(rows->back().saved_usd == doctest::Approx(0.25));  // oldest last: the hit
}

// ---- the response store (stored /v1/responses answers) ----

TEST_CASE("response store: put, get by the owning key, remove; other keys see nothing")
{
    using aigw::daemon::ledger::ResponseStore;
    using aigw::daemon::ledger::StoredResponse;
    TempDir dir;
    const auto path = dir.db().parent_path() / "responses.db";
    auto store = ResponseStore::open(path, 0);
    REQUIRE(store.has_value());

    StoredResponse r;
    r.id = "resp_1";
    r.key_id = "vk_a";
    r.created_ms = k_jan_1_2025_ms;
    r.response = {{"id", "resp_1"}, {"object", "response"}, {"output_text", "caf\xC3\xA9"}};
    r.input_items = {{{"role", "user"}, {"content", "hi"}}};
    r.conversation = {{{"role", "user"}, {"content", "hi"}}, {{"type", "message"}, {"role", "assistant"}}};
    REQUIRE((*store)->put(r).has_value());

    auto got = (*store)->get("resp_1", "vk_a", false);
    REQUIRE(got.has_value());
    CHECK(got->response == r.response);
    CHECK(got->input_items == r.input_items);
    CHECK(got->conversation == r.conversation);
    CHECK_FALSE((*store)->get("resp_1", "vk_b", false).has_value());
    CHECK((*store)->get("resp_1", "default", true).has_value());
    r.response["output"] = nlohmann::json::array(
        {{{"id", "fc_1"}, {"type", "function_call"}, {"name", "get_weather"}, {"call_id", "c1"}, {"arguments", "{}"}}});
    REQUIRE((*store)->put(r).has_value());
    auto item = (*store)->find_item("fc_1", "vk_a", false);
    REQUIRE(item.has_value());
    CHECK((*item)["name"] == "get_weather");
    CHECK_FALSE((*store)->find_item("fc_1", "vk_b", false).has_value());
    CHECK_FALSE((*store)->remove("resp_1", "vk_b", false));
    CHECK((*store)->remove("resp_1", "vk_a", false));
    CHECK_FALSE((*store)->get("resp_1", "vk_a", false).has_value());
    CHECK_FALSE((*store)->find_item("fc_1", "vk_a", false).has_value());  // its items went with it

    // The files hold prompts and answers: owner-only.
    struct stat st {};
    REQUIRE(::stat(path.c_str(), &st) == 0);
    CHECK((st.st_mode & 0777) == 0600);
}

TEST_CASE("response store: what is older than the retention window is pruned, and survives a reopen otherwise")
{
    using aigw::daemon::ledger::ResponseStore;
    using aigw::daemon::ledger::StoredResponse;
    TempDir dir;
    const auto path = dir.db().parent_path() / "responses.db";
    const auto now_ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
            .count();
    {
        auto store = ResponseStore::open(path, 0);
        REQUIRE(store.has_value());
        for (auto [id, age_days] : {std::pair{"resp_old", 40}, std::pair{"resp_new", 1}}) {
            StoredResponse r;
            r.id = id;
            r.key_id = "default";
            r.created_ms = now_ms - age_days * k_day_ms;
            r.response = {{"id", id}};
            REQUIRE((*store)->put(r).has_value());
        }
    }
    auto store = ResponseStore::open(path, 30);  // opening prunes
    REQUIRE(store.has_value());
    CHECK_FALSE((*store)->get("resp_old", "default", true).has_value());
    CHECK((*store)->get("resp_new", "default", true).has_value());
}

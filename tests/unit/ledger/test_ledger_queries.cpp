// Ledger queries behind `aigw logs` (cursor, one request's attempts, one run's rows) and the
// p95 latency of `aigw cost --by variant`.

#include "daemon/ledger/ledger.hpp"

#include <doctest/doctest.h>

#include <filesystem>
#include <string>

namespace fs = std::filesystem;
using aigw::daemon::ledger::CostQuery;
using aigw::daemon::ledger::EntryFilter;
using aigw::daemon::ledger::Ledger;
using aigw::daemon::ledger::LedgerRow;

namespace {

constexpr std::int64_t k_base_ms = 1'735'689'600'000;  // 2025-01-01T00:00:00Z

struct QueryDir {
    QueryDir()
    {
        std::string pattern = (fs::temp_directory_path() / "aigw-ledger-q-XXXXXX").string();
        REQUIRE(::mkdtemp(pattern.data()) != nullptr);
        path = pattern;
    }
    ~QueryDir()
    {
        std::error_code ignored;
        fs::remove_all(path, ignored);
    }
    fs::path path;
};

LedgerRow row_of(std::string request_id, std::int64_t ts_ms, std::int64_t latency_ms)
{
    LedgerRow r;
    r.ts_ms = ts_ms;
    r.request_id = std::move(request_id);
    r.served_model = "openai/gpt-4o-mini";
    r.provider = "openai";
    r.status = 200;
    r.latency_ms = latency_ms;
    return r;
}

std::unique_ptr<Ledger> open_in(const QueryDir& dir)
{
    auto l = Ledger::open(dir.path / "ledger.db", 0);
    REQUIRE(l.has_value());
    return std::move(*l);
}

}  // namespace

TEST_CASE("entries without a cursor are the newest rows, oldest first; a cursor returns only later rows")
{
    QueryDir dir;
    auto ledger = open_in(dir);
    for (int i = 0; i < 5; ++i) {
        ledger->record(row_of(std::string("q") + std::to_string(i), k_base_ms + i, 10));
    }
    ledger->flush();
    EntryFilter f;
    f.limit = 3;
    auto newest = ledger->entries(f);
    REQUIRE(newest.has_value());
    REQUIRE(newest->size() == 3);
    CHECK((*newest)[0].row.request_id == "q2");
    CHECK((*newest)[2].row.request_id == "q4");
    CHECK((*newest)[0].row_id < (*newest)[2].row_id);

    ledger->record(row_of("q5", k_base_ms + 5, 10));
    ledger->flush();
    EntryFilter after;
    after.after_row_id = newest->back().row_id;
    auto later = ledger->entries(after);
    REQUIRE(later.has_value());
    REQUIRE(later->size() == 1);
    CHECK((*later)[0].row.request_id == "q5");
}

TEST_CASE("entries by request id return every attempt; by tag only the run's rows")
{
    QueryDir dir;
    auto ledger = open_in(dir);
    LedgerRow first = row_of("req_a", k_base_ms, 30);
    first.attempt = 1;
    first.attempts = 2;
    first.final_attempt = false;
    first.status = 429;
    first.tag = "bench-1";
    LedgerRow second = row_of("req_a", k_base_ms, 40);
    second.attempt = 2;
    second.attempts = 2;
    second.fallback_reason = "rate_limited";
    second.tag = "bench-1";
    ledger->record(first);
    ledger->record(second);
    ledger->record(row_of("req_b", k_base_ms + 1, 10));
    ledger->flush();

    EntryFilter by_id;
    by_id.request_id = "req_a";
    auto attempts = ledger->entries(by_id);
    REQUIRE(attempts.has_value());
    REQUIRE(attempts->size() == 2);
    CHECK((*attempts)[0].row.attempt == 1);
    CHECK((*attempts)[0].row.status == 429);
    CHECK((*attempts)[1].row.fallback_reason == "rate_limited");

    EntryFilter by_tag;
    by_tag.tag = "bench-1";
    by_tag.limit = 0;
    auto tagged = ledger->entries(by_tag);
    REQUIRE(tagged.has_value());
    REQUIRE(tagged->size() == 1);  // final attempts only
    CHECK((*tagged)[0].row.request_id == "req_a");
}

TEST_CASE("cost groups carry the p95 latency of final attempts, within the buckets' error bound")
{
    QueryDir dir;
    auto ledger = open_in(dir);
    for (int i = 1; i <= 20; ++i) {
        LedgerRow r = row_of(std::string("v") + std::to_string(i), k_base_ms + i, i * 10);  // 10..200 ms
        r.variant = "openai/gpt-4o-mini";
        ledger->record(r);
    }
    LedgerRow other = row_of("w", k_base_ms, 7);
    other.variant = "anthropic/claude-haiku-4-5";
    ledger->record(other);
    ledger->flush();
    CostQuery q;
    q.since_ms = k_base_ms - 1;
    q.until_ms = k_base_ms + 1000;
    q.group_by = "variant";
    auto groups = ledger->cost(q);
    REQUIRE_MESSAGE(groups.has_value(), groups.error());
    REQUIRE(groups->size() == 2);
    for (const auto& g : *groups) {
        if (g.key == "openai/gpt-4o-mini") {
            // Rank 19 of 20 is 190 ms; read from the latency buckets, within 4.5% + 0.5 ms.
            CHECK(static_cast<double>(g.p95_latency_ms) == doctest::Approx(190).epsilon(0.045));
            CHECK(g.avg_latency_ms == doctest::Approx(105));
        } else {
            CHECK(g.p95_latency_ms == 7);
        }
    }
}

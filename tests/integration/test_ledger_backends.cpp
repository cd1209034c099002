// One query layer, two backends: the same rows in an instance's SQLite ledger and in the
// team's PostgreSQL ledger (copied by the replicator, as in a cluster) must give the same
// answers to every question `aigw cost` and `aigw logs` ask (ledger_query.hpp). Runs against
// a real PostgreSQL on loopback (tests/integration/pg_server).

#include "daemon/cluster/pg_ledger.hpp"
#include "daemon/ledger/ledger.hpp"
#include "daemon/ledger/ledger_query.hpp"
#include "tests/integration/harness.hpp"
#include "tests/integration/pg_server.hpp"

#include <doctest/doctest.h>

#include <chrono>
#include <random>

using namespace aigw::daemon;
using aigw::test::PgServer;

namespace {

constexpr std::int64_t k_hour = 3'600'000;
constexpr std::int64_t k_day = 24 * k_hour;

std::int64_t now_ms()
{
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
        .count();
}

/// Rows over the last three days with every field the questions look at varied. Costs are
/// multiples of 2^-20 dollars, so sums are exact in any order and the orders of groups
/// cannot differ by a rounding.
std::vector<ledger::LedgerRow> varied_rows(std::int64_t end_ms, int requests)
{
    std::mt19937 rng(1234);
    auto pick = [&](int n) { return static_cast<int>(rng() % static_cast<unsigned>(n)); };
    const char* models[] = {"openai/gpt-4o-mini", "anthropic/claude-haiku-4-5", "gemini/gemini-2.5-flash", "mock/echo"};
    const char* providers[] = {"openai", "anthropic", "gemini", "mock"};
    const char* keys[] = {"default", "vk_alice", "vk_bob"};
    const char* surfaces[] = {"openai.chat", "anthropic.messages", "gemini.generate", "openai.responses"};
    std::vector<ledger::LedgerRow> rows;
    for (int i = 0; i < requests; ++i) {
        const int attempts = pick(6) == 0 ? 2 : 1;
        const std::int64_t ts = end_ms - 3 * k_day + (3 * k_day * i) / requests + pick(1000);
        const std::string id = "req-" + std::to_string(i);
        for (int a = 1; a <= attempts; ++a) {
            ledger::LedgerRow r;
            const int m = pick(4);
            r.ts_ms = ts;
            r.request_id = id;
            r.key_id = keys[pick(3)];
            r.surface = surfaces[pick(4)];
            r.requested_model = models[m];
            r.served_model = models[m];
            r.provider = providers[m];
            r.attempt = a;
            r.attempts = attempts;
            r.final_attempt = a == attempts;
            const int s = pick(10);
            r.status = a < attempts ? 500 : (s == 0 ? 429 : (s == 1 ? 502 : 200));
            r.fallback_reason = a > 1 ? "upstream 500" : "";
            r.error = r.status >= 400 ? "upstream said no" : "";
            r.input_tokens = pick(5000);
            r.cached_tokens = pick(100);
            r.output_tokens = pick(2000);
            r.cost_usd = static_cast<double>(pick(4096)) / 1048576.0;
            r.priced = m != 3;
            r.latency_ms = pick(3) == 0 ? pick(12) : pick(20000);
            r.stream = pick(2) == 0;
            r.ttft_ms = r.stream ? pick(500) : -1;
            r.cache_hit = r.final_attempt && pick(8) == 0;
            r.saved_usd = r.cache_hit ? static_cast<double>(pick(512)) / 1048576.0 : 0;
            r.tag = pick(4) == 0 ? "run-" + std::to_string(pick(3)) : "";
            r.variant = pick(3) == 0 ? (pick(2) ? "A" : "B") : "";
            r.session = pick(5) == 0 ? "sess-" + std::to_string(pick(4)) : "";
            rows.push_back(std::move(r));
        }
    }
    return rows;
}

void check_same_group(const ledger::CostGroup& s, const ledger::CostGroup& p)
{
    CHECK(s.key == p.key);
    CHECK(s.requests == p.requests);
    CHECK(s.errors == p.errors);
    CHECK(s.input_tokens == p.input_tokens);
    CHECK(s.cached_tokens == p.cached_tokens);
    CHECK(s.output_tokens == p.output_tokens);
    CHECK(s.cost_usd == p.cost_usd);
    CHECK(s.cache_hits == p.cache_hits);
    CHECK(s.avg_latency_ms == doctest::Approx(p.avg_latency_ms).epsilon(1e-12));
    CHECK(s.saved_usd == p.saved_usd);
    CHECK(s.p95_latency_ms == p.p95_latency_ms);
}

void check_same_rows(const std::vector<ledger::LedgerEntry>& s, const std::vector<ledger::LedgerEntry>& p)
{
    REQUIRE(s.size() == p.size());
    for (std::size_t i = 0; i < s.size(); ++i) {
        const auto& a = s[i].row;
        const auto& b = p[i].row;
        INFO("row " << i << " " << a.request_id << "/" << a.attempt);
        CHECK(a.request_id == b.request_id);
        CHECK(a.attempt == b.attempt);
        CHECK(a.ts_ms == b.ts_ms);
        CHECK(a.key_id == b.key_id);
        CHECK(a.surface == b.surface);
        CHECK(a.served_model == b.served_model);
        CHECK(a.provider == b.provider);
        CHECK(a.status == b.status);
        CHECK(a.attempts == b.attempts);
        CHECK(a.final_attempt == b.final_attempt);
        CHECK(a.fallback_reason == b.fallback_reason);
        CHECK(a.error == b.error);
        CHECK(a.input_tokens == b.input_tokens);
        CHECK(a.output_tokens == b.output_tokens);
        CHECK(a.cost_usd == b.cost_usd);
        CHECK(a.priced == b.priced);
        CHECK(a.latency_ms == b.latency_ms);
        CHECK(a.ttft_ms == b.ttft_ms);
        CHECK(a.stream == b.stream);
        CHECK(a.cache_hit == b.cache_hit);
        CHECK(a.tag == b.tag);
        CHECK(a.variant == b.variant);
        CHECK(a.saved_usd == b.saved_usd);
        CHECK(a.session == b.session);
    }
}

}  // namespace

TEST_CASE("the SQLite and PostgreSQL ledgers give the same answers to aigw cost and aigw logs")
{
    if (auto why = PgServer::unavailable()) {
        FAIL("no PostgreSQL to test against: " << *why
                                               << "; run packaging/install-deps.sh --test (Debian's postgresql)");
    }
    const auto dir = aigw::test::make_temp_dir("backends");
    auto opened = ledger::Ledger::open(dir / "ledger.db", 0);
    REQUIRE(opened);
    auto& sqlite = **opened;
    const std::int64_t end = now_ms() - 1000;
    for (auto& r : varied_rows(end, 1500)) {
        sqlite.record(std::move(r));
    }
    sqlite.flush();

    PgServer pg;
    cluster::PgLedgerOptions o;
    o.url = pg.url();
    o.ledger_path = dir / "ledger.db";
    o.instance_id = "0123456789abcdef0123456789abcdef";
    cluster::PgLedger team(o);
    REQUIRE(team.sync(std::chrono::milliseconds(20'000)));
    const ledger::SqliteLedgerReader local(sqlite);
    const ledger::LedgerReader& readers_pg = team;

    SUBCASE("every grouping over every kind of range")
    {
        // Whole days and hours (the SQLite side reads its rollups), ranges cut mid-hour at
        // both ends (rollups and rows), one hour, and an empty range.
        const std::vector<std::pair<std::int64_t, std::int64_t>> ranges{
            {0, 0},
            {end - 2 * k_day - (end % k_day), end - (end % k_day)},
            {end - 50 * k_hour + 1234567, end - 3 * k_hour - 7654321},
            {end - 5 * k_hour - (end % k_hour), end - 4 * k_hour - (end % k_hour)},
            {end - 3 * k_hour + 17, 0},
            {end + k_day, end + 2 * k_day},
        };
        for (const auto& group_by : ledger::group_by_names()) {
            for (const auto& [since, until] : ranges) {
                INFO("--by " << group_by << " since " << since << " until " << until);
                ledger::CostQuery q;
                q.group_by = std::string(group_by);
                q.since_ms = since;
                q.until_ms = until;
                auto s = local.cost_report(q);
                auto p = readers_pg.cost_report(q);
                REQUIRE_MESSAGE(s, (s ? "" : s.error()));
                REQUIRE_MESSAGE(p, (p ? "" : p.error()));
                REQUIRE(s->groups.size() == p->groups.size());
                for (std::size_t i = 0; i < s->groups.size(); ++i) {
                    check_same_group(s->groups[i], p->groups[i]);
                }
                check_same_group(s->total, p->total);
                if (since == 0 && until == 0) {
                    CHECK(s->total.requests == 1500);  // the answers are not both empty
                }
            }
        }
        ledger::CostQuery bad;
        bad.group_by = "model; DROP TABLE aigw_ledger_requests";
        CHECK_FALSE(readers_pg.cost_report(bad).has_value());
        CHECK(ledger::check_group_by(bad.group_by).has_value());
    }

    SUBCASE("every filter of aigw logs, newest rows and pages after a cursor")
    {
        std::vector<ledger::EntryFilter> filters;
        auto add = [&](auto set) {
            ledger::EntryFilter f;
            f.limit = 40;
            set(f);
            filters.push_back(f);
        };
        add([](ledger::EntryFilter&) {});
        add([](ledger::EntryFilter& f) { f.all_attempts = true; });
        add([](ledger::EntryFilter& f) { f.limit = 0; });
        add([](ledger::EntryFilter& f) { f.model = "anthropic/claude-haiku-4-5"; });
        add([](ledger::EntryFilter& f) { f.key_id = "vk_bob"; });
        add([](ledger::EntryFilter& f) { f.status = 429; });
        add([](ledger::EntryFilter& f) { f.status_class = 5; });
        add([](ledger::EntryFilter& f) {
            f.status_class = 5;
            f.all_attempts = true;
        });
        add([](ledger::EntryFilter& f) { f.errors_only = true; });
        add([](ledger::EntryFilter& f) { f.tag = "run-1"; });
        add([](ledger::EntryFilter& f) { f.session = "sess-2"; });
        add([](ledger::EntryFilter& f) { f.request_id = "req-42"; });
        add([&](ledger::EntryFilter& f) {
            f.since_ms = end - 30 * k_hour;
            f.until_ms = end - 20 * k_hour;
            f.limit = 0;
        });
        add([](ledger::EntryFilter& f) { f.model = "nobody/none"; });
        for (const auto& f : filters) {
            INFO("filter model=" << f.model << " key=" << f.key_id << " status=" << f.status << "/" << f.status_class
                                 << " tag=" << f.tag << " session=" << f.session << " id=" << f.request_id
                                 << " limit=" << f.limit << " all=" << f.all_attempts);
            auto s = local.entries(f);
            auto p = readers_pg.entries(f);
            REQUIRE(s);
            REQUIRE_MESSAGE(p, (p ? "" : p.error()));
            check_same_rows(*s, *p);
        }
        // Both backends found rows for most filters: the comparisons were not of nothing.
        ledger::EntryFilter some;
        some.status = 429;
        some.limit = 0;
        CHECK(local.entries(some)->size() > 10);

        // Pages after a cursor: each backend's own cursor, the same rows after it.
        ledger::EntryFilter first;
        first.limit = 0;
        first.all_attempts = true;
        auto s_all = local.entries(first);
        auto p_all = readers_pg.entries(first);
        REQUIRE(s_all);
        REQUIRE(p_all);
        REQUIRE(s_all->size() == p_all->size());
        ledger::EntryFilter s_page;
        s_page.after_row_id = (*s_all)[700].row_id;
        s_page.limit = 25;
        ledger::EntryFilter p_page = s_page;
        p_page.after_row_id = (*p_all)[700].row_id;
        auto s_next = local.entries(s_page);
        auto p_next = readers_pg.entries(p_page);
        REQUIRE(s_next);
        REQUIRE(p_next);
        CHECK(s_next->size() == 25);
        check_same_rows(*s_next, *p_next);
        CHECK((*s_next)[0].row.request_id == (*s_all)[701].row.request_id);
    }

    SUBCASE("retention deletes whole days from PostgreSQL, as from SQLite")
    {
        ledger::EntryFilter all;
        all.limit = 0;
        all.all_attempts = true;
        auto before = readers_pg.entries(all);
        REQUIRE(before);
        auto pruned = team.prune_before(end - k_day);
        REQUIRE(pruned);
        CHECK(*pruned > 0);
        auto left = readers_pg.entries(all);
        REQUIRE(left);
        CHECK(static_cast<std::int64_t>(left->size()) + *pruned == static_cast<std::int64_t>(before->size()));
        // The start of the UTC day of the cut: what the local ledger's retention keeps too.
        const std::int64_t cutoff = (end - k_day) - ((end - k_day) % k_day);
        ledger::EntryFilter kept = all;
        kept.since_ms = cutoff;
        auto s_kept = local.entries(kept);
        REQUIRE(s_kept);
        check_same_rows(*s_kept, *left);
    }
    team.stop(std::chrono::milliseconds(1000));
    sqlite.close();
}

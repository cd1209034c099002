// bench-ledger: builds a large ledger through the Ledger's own schema and writer (Ledger::open
// runs the migrations, rows go through record()), then times what the daemon and the CLI ask
// of it. A benchmark, not a test: it prints numbers and asserts nothing.
//
//   bench-ledger --db PATH [--rows N] [--days D] [--skip-build] [--writer-only] [--prune-days N]
//                [--random-ids]
//   bench-ledger --db PATH --bodies N
//
// --bodies N writes N conversations of 20 turns with body logging on (each turn's request
// carries the whole conversation so far, as chat clients send it) and prints the writer's
// rows/s and the file's bytes per row, then a search when the ledger has one.
//
// The rows are shaped like real traffic rather than uniform noise: 20 keys, each with a
// surface and three favourite models out of 30 (70/20/10), 6 providers, a tag on one row in
// five, an A/B variant on one in ten, and a retry (a 429 attempt row, then the final row) on
// three requests in a hundred. It uses only functions the ledger had before the rollups
// (open, record, flush, cost, recent, entries), plus the newer ones when they exist, so the
// same file measures the code before and after.

#include "daemon/ledger/ledger.hpp"

#include <chrono>
#include <ctime>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <iostream>
#include <random>
#include <string>
#include <string_view>

namespace {

using aigw::daemon::ledger::CostQuery;
using aigw::daemon::ledger::EntryFilter;
using aigw::daemon::ledger::Ledger;
using aigw::daemon::ledger::LedgerRow;
using Clock = std::chrono::steady_clock;

constexpr std::int64_t k_day_ms = 86'400'000;
constexpr int k_models = 30;
constexpr int k_keys = 20;

std::int64_t wall_ms()
{
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
        .count();
}

/// CPU time of the whole process: on a shared machine rows per CPU-second compare builds
/// better than rows per wall-second (the generator's share is the same in both).
double cpu_ms()
{
    timespec ts{};
    ::clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return static_cast<double>(ts.tv_sec) * 1000 + static_cast<double>(ts.tv_nsec) / 1e6;
}

double since_ms(Clock::time_point start)
{
    return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
}

struct Generator {
    std::mt19937_64 rng{42};
    std::uint64_t next_id = 0;
    bool random_ids = false;

    std::string model(int m) const { return "p" + std::to_string(m % 6) + "/model-" + std::to_string(m); }

    /// One request's rows (one, or two with a retry) at `ts`.
    template <typename Sink>
    void request(std::int64_t ts, Sink&& sink)
    {
        std::uniform_int_distribution<int> key_d(0, k_keys - 1);
        std::uniform_real_distribution<double> u(0, 1);
        std::lognormal_distribution<double> latency_d(6.5, 0.8);
        const int key = key_d(rng);
        const double pick = u(rng);
        const int favourite = pick < 0.7 ? 0 : (pick < 0.9 ? 1 : 2);
        const int m = (key * 7 + favourite * 11) % k_models;
        LedgerRow row;
        row.ts_ms = ts;
        // As aigwd makes them (pipeline::request_id_at): 12 hex digits of the time in ms, then
        // 12 random ones, so the request_id index grows at its end. --random-ids gives the
        // ids before 65d25fc (12 random digits), which insert into random index pages.
        char id[40];
        if (random_ids) {
            std::snprintf(id, sizeof id, "req_%012llx", static_cast<unsigned long long>(rng() & 0xffffffffffffULL));
        } else {
            std::snprintf(id, sizeof id, "req_%012llx%012llx", static_cast<unsigned long long>(ts) & 0xffffffffffffULL,
                          static_cast<unsigned long long>(rng() & 0xffffffffffffULL));
        }
        row.request_id = id;
        ++next_id;
        row.key_id = key == 0 ? "default" : "vk_" + std::to_string(key);
        row.surface = key % 3 == 0 ? "anthropic.messages" : "openai.chat";
        row.requested_model = model(m);
        row.served_model = model(m);
        row.provider = "p" + std::to_string(m % 6);
        row.input_tokens = static_cast<std::int64_t>(200 + u(rng) * 4000);
        row.cached_tokens = u(rng) < 0.3 ? row.input_tokens / 2 : 0;
        row.output_tokens = static_cast<std::int64_t>(20 + u(rng) * 800);
        row.reasoning_tokens = m % 5 == 0 ? row.output_tokens / 3 : 0;
        row.cost_usd = (static_cast<double>(row.input_tokens) * (0.15 + m * 0.1) +
                        static_cast<double>(row.output_tokens) * (0.6 + m * 0.4)) /
                       1e6;
        row.latency_ms = static_cast<std::int64_t>(latency_d(rng));
        row.ttft_ms = row.latency_ms / 4;
        row.stream = u(rng) < 0.5;
        row.cache_hit = u(rng) < 0.05;
        if (u(rng) < 0.2) {
            row.tag = "run-" + std::to_string(key % 10);
        }
        if (u(rng) < 0.1) {
            row.variant = u(rng) < 0.5 ? "A" : "B";
        }
        const double outcome = u(rng);
        row.status = outcome < 0.01 ? 500 : (outcome < 0.02 ? 400 : 200);
        if (outcome > 0.97) {
            LedgerRow first = row;
            first.status = 429;
            first.attempt = 1;
            first.attempts = 2;
            first.final_attempt = false;
            first.output_tokens = 0;
            first.cost_usd = 0;
            first.error = "rate limited";
            sink(std::move(first));
            row.attempt = 2;
            row.attempts = 2;
            row.fallback_reason = "rate_limited";
        }
        sink(std::move(row));
    }
};

void report(std::string_view name, double ms, std::string_view extra = "")
{
    std::printf("%-34s %10.1f ms %s\n", std::string(name).c_str(), ms, std::string(extra).c_str());
    std::fflush(stdout);
}

template <typename F>
void time_it(std::string_view name, F&& f)
{
    const auto start = Clock::now();
    std::string extra = f();
    report(name, since_ms(start), extra);
}

std::unique_ptr<Ledger> open_or_die(const std::string& path)
{
    auto ledger = Ledger::open(path, 0);
    if (!ledger) {
        std::cerr << "bench-ledger: " << ledger.error() << "\n";
        std::exit(1);
    }
    return std::move(*ledger);
}

/// Filters and functions that only the newer ledger has; a template so that the same file
/// still compiles against the older one (the discarded branches are not instantiated).
template <typename L, typename F>
void newer_benches(L& ledger, std::int64_t now, std::int64_t month_start)
{
    if constexpr (requires(F f) {
                      f.key_id = "x";
                      f.model = "x";
                      f.status = 1;
                  }) {
        time_it("logs --key vk_7", [&] {
            F f;
            f.key_id = "vk_7";
            auto r = ledger.entries(f);
            return r ? std::to_string(r->size()) + " rows" : r.error();
        });
        time_it("logs --model p3/model-9", [&] {
            F f;
            f.model = "p3/model-9";
            auto r = ledger.entries(f);
            return r ? std::to_string(r->size()) + " rows" : r.error();
        });
        time_it("logs --status 500", [&] {
            F f;
            f.status = 500;
            auto r = ledger.entries(f);
            return r ? std::to_string(r->size()) + " rows" : r.error();
        });
        time_it("logs --key vk_7 --since 1d", [&] {
            F f;
            f.key_id = "vk_7";
            f.since_ms = now - k_day_ms;
            auto r = ledger.entries(f);
            return r ? std::to_string(r->size()) + " rows" : r.error();
        });
    }
    if constexpr (requires(const L& l) { l.spend_since(std::int64_t{0}); }) {
        time_it("spend_since(month start)", [&] {
            auto s = ledger.spend_since(month_start);
            return s ? std::to_string(s->by_key.size()) + " keys" : s.error();
        });
    }
}

/// Retention as the writer runs it, when the ledger has prune_before (a template for the
/// same reason as newer_benches).
template <typename L>
void prune_bench(L& ledger, std::int64_t now, int prune_days)
{
    if constexpr (requires(L & l) { l.prune_before(std::int64_t{0}); }) {
        if (prune_days > 0) {
            // Retention as the writer runs it: 5,000 rows per transaction, then incremental vacuum.
            time_it("prune --older-than " + std::to_string(prune_days) + "d (+ incremental vacuum)", [&] {
                auto n = ledger.prune_before(now - prune_days * k_day_ms);
                return n ? std::to_string(*n) + " rows, " +
                               std::to_string((*n + L::k_prune_batch_rows - 1) / L::k_prune_batch_rows) +
                               " transactions"
                         : n.error();
            });
        }
    }
}

/// A sentence of `words` words from a small vocabulary (deterministic per rng).
std::string sentence(std::mt19937_64& rng, int words)
{
    static constexpr std::string_view k_vocabulary[] = {
        "the",     "refund", "policy", "order",   "shipping", "customer", "account", "invoice", "please",
        "thanks",  "could",  "you",    "explain", "why",      "delivery", "arrived", "late",    "and",
        "billing", "charge", "twice",  "support", "ticket",   "number",   "status",  "update",  "when"};
    std::uniform_int_distribution<std::size_t> pick(0, std::size(k_vocabulary) - 1);
    std::string out;
    for (int w = 0; w < words; ++w) {
        out += (w == 0 ? "" : " ") + std::string(k_vocabulary[pick(rng)]);
    }
    return out;
}

/// Body logging: `conversations` chats of 20 turns; turn t's request holds a system prompt
/// and t user messages with t-1 assistant answers (about 60 words each), its response the
/// t-th answer. A template so that the same file compiles against a ledger without search.
template <typename L>
void bodies_bench(const std::string& db, int conversations)
{
    constexpr int k_turns = 20;
    std::mt19937_64 rng(7);
    std::int64_t recorded = 0;
    std::int64_t body_bytes = 0;
    {
        auto ledger = open_or_die(db);
        const std::int64_t now = wall_ms();
        const auto start = Clock::now();
        const double cpu_start = cpu_ms();
        for (int c = 0; c < conversations; ++c) {
            std::string messages =
                R"({"role":"system","content":"You are the support agent of shop )" + std::to_string(c) + R"(."})";
            for (int t = 1; t <= k_turns; ++t) {
                messages += R"(,{"role":"user","content":")" + sentence(rng, 40) + R"("})";
                LedgerRow row;
                row.ts_ms = now - (conversations - c) * 60'000 + t;
                row.request_id = "req_" + std::to_string(c) + "_" + std::to_string(t);
                row.key_id = "default";
                row.surface = "openai.chat";
                row.requested_model = row.served_model = "openai/gpt-4o-mini";
                row.provider = "openai";
                row.status = 200;
                row.request_body = R"({"model":"gpt-4o-mini","messages":[)" + messages + R"(],"temperature":0.2})";
                const std::string answer = sentence(rng, 60);
                row.response_body = answer;
                body_bytes += static_cast<std::int64_t>(row.request_body.size() + row.response_body.size());
                messages += R"(,{"role":"assistant","content":")" + answer + R"("})";
                ledger->record(std::move(row));
                ++recorded;
            }
        }
        ledger->flush();
        const double ms = since_ms(start);
        report(
            "bodies: build (record+flush)", ms,
            std::to_string(recorded) + " rows, " +
                std::to_string(static_cast<long long>(static_cast<double>(recorded) * 1000 / ms)) + " rows/s, " +
                std::to_string(static_cast<long long>(static_cast<double>(recorded) * 1000 / (cpu_ms() - cpu_start))) +
                " rows per CPU-second, " + std::to_string(body_bytes / recorded) + " body bytes per row sent");
        L& l = *ledger;
        if constexpr (requires { l.search(std::string(), EntryFilter{}); }) {
            time_it("bodies: search \"refund policy\"", [&] {
                EntryFilter f;
                f.limit = 20;
                auto hits = l.search("\"refund policy\"", f);
                return hits ? std::to_string(hits->size()) + " hits" : hits.error().message;
            });
        }
        time_it("bodies: logs (recent 50, rebuilt)", [&] {
            auto r = ledger->recent(50);
            return r ? std::to_string(r->size()) + " rows" : r.error();
        });
    }
    std::error_code ec;
    const auto size = std::filesystem::file_size(db, ec);
    std::printf("bodies: file %lld bytes, %lld bytes per row\n", static_cast<long long>(size),
                static_cast<long long>(size) / std::max<std::int64_t>(recorded, 1));
}

}  // namespace

int main(int argc, char** argv)
{
    aigw::daemon::ledger::keep_statement_journals_in_memory();  // as aigwd does
    std::string db;
    std::int64_t rows = 1'000'000;
    int days = 90;
    bool skip_build = false;
    bool writer_only = false;
    bool random_ids = false;
    int prune_days = 0;
    int bodies = 0;
    for (int i = 1; i < argc; ++i) {
        const std::string_view a = argv[i];
        if (a == "--db" && i + 1 < argc) {
            db = argv[++i];
        } else if (a == "--rows" && i + 1 < argc) {
            rows = std::atoll(argv[++i]);
        } else if (a == "--days" && i + 1 < argc) {
            days = std::atoi(argv[++i]);
        } else if (a == "--skip-build") {
            skip_build = true;
        } else if (a == "--prune-days" && i + 1 < argc) {
            prune_days = std::atoi(argv[++i]);
        } else if (a == "--writer-only") {
            writer_only = true;
        } else if (a == "--random-ids") {
            random_ids = true;
        } else if (a == "--bodies" && i + 1 < argc) {
            bodies = std::atoi(argv[++i]);
        } else {
            std::cerr << "usage: bench-ledger --db PATH [--rows N] [--days D] [--skip-build] [--writer-only] "
                         "[--prune-days N] [--bodies N] [--random-ids]\n";
            return 2;
        }
    }
    if (db.empty()) {
        std::cerr << "bench-ledger: --db PATH is required\n";
        return 2;
    }
    if (bodies > 0) {
        bodies_bench<Ledger>(db, bodies);
        return 0;
    }
    Generator gen;
    gen.random_ids = random_ids;
    const std::int64_t now = wall_ms();
    if (!skip_build) {
        auto ledger = open_or_die(db);
        const std::int64_t span = static_cast<std::int64_t>(days) * k_day_ms;
        // About 1.03 rows per request (retries add attempt rows): aim at `rows` rows.
        const std::int64_t requests = rows * 100 / 103;
        std::int64_t recorded = 0;
        const auto start = Clock::now();
        const double cpu_start = cpu_ms();
        auto last = start;
        for (std::int64_t i = 0; i < requests; ++i) {
            const std::int64_t ts = now - span + span * i / requests;
            gen.request(ts, [&](LedgerRow&& r) {
                ledger->record(std::move(r));
                ++recorded;
            });
            if (since_ms(last) > 10'000) {
                last = Clock::now();
                std::fprintf(stderr, "  %lld rows queued, %.0f rows/s\n", static_cast<long long>(recorded),
                             static_cast<double>(recorded) * 1000 / since_ms(start));
            }
        }
        ledger->flush();
        const double ms = since_ms(start);
        report(
            "build (record+flush)", ms,
            std::to_string(recorded) + " rows, " +
                std::to_string(static_cast<long long>(static_cast<double>(recorded) * 1000 / ms)) + " rows/s, " +
                std::to_string(static_cast<long long>(static_cast<double>(recorded) * 1000 / (cpu_ms() - cpu_start))) +
                " rows per CPU-second");
    }

    // Start-up: open (migrations, and whatever the old code did at open) and budget seeding,
    // which is what Limiter::seed asks: spend per key since the month's and the day's start.
    std::unique_ptr<Ledger> ledger;
    time_it("open", [&] {
        ledger = open_or_die(db);
        return std::string();
    });
    const std::int64_t day_start = now / k_day_ms * k_day_ms;
    const std::int64_t month_start = now - 30 * k_day_ms;  // a month's worth, the worst case
    time_it("budget seeding (cost by key x2)", [&] {
        CostQuery q;
        q.group_by = "key";
        q.since_ms = month_start;
        auto month = ledger->cost(q);
        q.since_ms = day_start;
        auto day = ledger->cost(q);
        return std::to_string(month ? month->size() : 0) + " keys";
    });

    for (const char* by : {"model", "provider", "key", "day", "variant", "tag", "surface"}) {
        if (writer_only) {
            break;
        }
        for (int window : {90, 30}) {
            time_it(std::string("cost --by ") + by + " --since " + std::to_string(window) + "d", [&] {
                CostQuery q;
                q.group_by = by;
                q.since_ms = now - window * k_day_ms;
                auto groups = ledger->cost(q);
                return groups ? std::to_string(groups->size()) + " groups" : "error: " + groups.error();
            });
        }
    }
    time_it("logs (recent 50)", [&] {
        auto r = ledger->recent(50);
        return r ? std::to_string(r->size()) + " rows" : r.error();
    });
    time_it("logs --tag run-3", [&] {
        EntryFilter f;
        f.tag = "run-3";
        auto r = ledger->entries(f);
        return r ? std::to_string(r->size()) + " rows" : r.error();
    });
    time_it("logs show <request id>", [&] {
        EntryFilter f;
        f.request_id = "req_000000000001";
        auto r = ledger->entries(f);
        return r ? std::to_string(r->size()) + " rows" : r.error();
    });
    if (!writer_only) {
        newer_benches<Ledger, EntryFilter>(*ledger, now, month_start);
    }

    // The writer's sustained rate at this size: 200,000 rows of current traffic, queued as
    // fast as the generator makes them, timed until committed.
    {
        constexpr std::int64_t k_write_rows = 200'000;
        std::int64_t recorded = 0;
        const auto start = Clock::now();
        const double cpu_start = cpu_ms();
        while (recorded < k_write_rows) {
            gen.request(wall_ms(), [&](LedgerRow&& r) {
                ledger->record(std::move(r));
                ++recorded;
            });
        }
        ledger->flush();
        const double ms = since_ms(start);
        report(
            "writer, 200k rows at full size", ms,
            std::to_string(static_cast<long long>(static_cast<double>(recorded) * 1000 / ms)) + " rows/s, " +
                std::to_string(static_cast<long long>(static_cast<double>(recorded) * 1000 / (cpu_ms() - cpu_start))) +
                " rows per CPU-second");
    }
    prune_bench<Ledger>(*ledger, now, prune_days);
    time_it("close", [&] {
        ledger.reset();
        return std::string();
    });
    return 0;
}

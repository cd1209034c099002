// aigw cost: spend and tokens from the daemon's ledger, grouped by model, provider, day, ...

#include "cli/cmd_cost.hpp"

#include "cli/app.hpp"
#include "cli/bench.hpp"
#include "cli/term.hpp"

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <ctime>
#include <iostream>
#include <memory>

namespace aigw::cli {
namespace {

std::int64_t to_ms(std::chrono::system_clock::time_point t)
{
    return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
}

std::int64_t mktime_ms(std::tm tm)
{
    tm.tm_hour = 0;
    tm.tm_min = 0;
    tm.tm_sec = 0;
    tm.tm_isdst = -1;
    return static_cast<std::int64_t>(std::mktime(&tm)) * 1000;
}

std::optional<std::int64_t> parse_int(std::string_view s)
{
    std::int64_t v = 0;
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec != std::errc() || p != s.data() + s.size()) {
        return std::nullopt;
    }
    return v;
}

}  // namespace

std::int64_t local_midnight_ms(std::chrono::system_clock::time_point t)
{
    const std::time_t tt = std::chrono::system_clock::to_time_t(t);
    std::tm tm{};
    localtime_r(&tt, &tm);
    return mktime_ms(tm);
}

std::expected<std::int64_t, std::string> parse_time_spec(std::string_view spec, TimeEdge edge,
                                                         std::chrono::system_clock::time_point now)
{
    using namespace std::chrono;
    const std::string bad = "'" + std::string(spec) +
                            "' is not a time; use today, yesterday, now, 7d, 12h, YYYY-MM-DD or epoch milliseconds";
    if (spec == "now") {
        return to_ms(now);
    }
    if (spec == "today") {
        return local_midnight_ms(now);
    }
    if (spec == "yesterday") {
        std::time_t tt = system_clock::to_time_t(now);
        std::tm tm{};
        localtime_r(&tt, &tm);
        tm.tm_mday -= 1;
        return mktime_ms(tm);
    }
    if (spec.size() >= 2 && (spec.back() == 'd' || spec.back() == 'h')) {
        auto n = parse_int(spec.substr(0, spec.size() - 1));
        if (!n || *n < 0) {
            return std::unexpected(bad);
        }
        const auto span = spec.back() == 'd' ? hours(24 * *n) : hours(*n);
        return to_ms(now - span);
    }
    if (spec.size() == 10 && spec[4] == '-' && spec[7] == '-') {
        auto y = parse_int(spec.substr(0, 4));
        auto m = parse_int(spec.substr(5, 2));
        auto d = parse_int(spec.substr(8, 2));
        if (!y || !m || !d || *m < 1 || *m > 12 || *d < 1 || *d > 31) {
            return std::unexpected(bad);
        }
        std::tm tm{};
        tm.tm_year = static_cast<int>(*y - 1900);
        tm.tm_mon = static_cast<int>(*m - 1);
        tm.tm_mday = static_cast<int>(*d + (edge == TimeEdge::until ? 1 : 0));
        return mktime_ms(tm);
    }
    if (auto ms = parse_int(spec); ms && *ms >= 0) {
        return *ms;
    }
    return std::unexpected(bad);
}

std::string cost_csv(const client::CostReport& r, std::string_view by)
{
    std::string out = std::string(by) +
                      ",requests,errors,input_tokens,cached_tokens,output_tokens,cost_usd,cache_hits,avg_latency_ms,"
                      "p95_latency_ms\n";
    auto line = [&](const client::CostGroup& g) {
        out += csv_escape(g.key) + "," + std::to_string(g.requests) + "," + std::to_string(g.errors) + "," +
               std::to_string(g.input_tokens) + "," + std::to_string(g.cached_tokens) + "," +
               std::to_string(g.output_tokens) + "," + format_fixed(g.cost_usd, 6) + "," +
               std::to_string(g.cache_hits) + "," + format_fixed(g.avg_latency_ms, 1) + "," +
               format_fixed(g.p95_latency_ms, 0) + "\n";
    };
    for (const auto& g : r.groups) {
        line(g);
    }
    line(r.total);
    return out;
}

std::vector<client::CostGroup> with_range_days(std::vector<client::CostGroup> days, std::int64_t since_ms,
                                               std::int64_t until_ms)
{
    auto utc_day = [](std::int64_t ms) {
        const std::time_t t = static_cast<std::time_t>(ms / 1000);
        std::tm tm{};
        gmtime_r(&t, &tm);
        char buf[16];
        std::strftime(buf, sizeof buf, "%Y-%m-%d", &tm);
        return std::string(buf);
    };
    if (until_ms <= since_ms) {
        return days;
    }
    for (const std::string& day : {utc_day(since_ms), utc_day(until_ms - 1)}) {
        if (std::none_of(days.begin(), days.end(), [&](const client::CostGroup& g) { return g.key == day; })) {
            client::CostGroup empty;
            empty.key = day;
            days.push_back(std::move(empty));
        }
    }
    return days;
}

std::vector<client::CostGroup> fill_days(std::vector<client::CostGroup> days)
{
    std::sort(days.begin(), days.end(), [](const auto& a, const auto& b) { return a.key < b.key; });
    auto parse_day = [](const std::string& key) -> std::optional<std::time_t> {
        std::tm tm{};
        if (key.size() != 10 || std::sscanf(key.c_str(), "%d-%d-%d", &tm.tm_year, &tm.tm_mon, &tm.tm_mday) != 3) {
            return std::nullopt;
        }
        tm.tm_year -= 1900;
        tm.tm_mon -= 1;
        return timegm(&tm);  // the ledger's days are UTC dates
    };
    std::vector<client::CostGroup> out;
    for (auto& g : days) {
        if (!out.empty()) {
            const auto prev = parse_day(out.back().key);
            const auto cur = parse_day(g.key);
            if (prev && cur) {
                for (std::time_t t = *prev + 86400; t < *cur && out.size() < 100000; t += 86400) {
                    std::tm tm{};
                    gmtime_r(&t, &tm);
                    char buf[16];
                    std::strftime(buf, sizeof buf, "%Y-%m-%d", &tm);
                    client::CostGroup empty;
                    empty.key = buf;
                    out.push_back(std::move(empty));
                }
            }
        }
        out.push_back(std::move(g));
    }
    return out;
}

namespace {

std::string p95_cell(const client::CostGroup& g)
{
    return g.requests > 0 ? format_fixed(g.p95_latency_ms, 0) : std::string("-");
}

}  // namespace

Table variant_table(const client::CostReport& r, bool colour)
{
    Table t({"VARIANT", "REQUESTS", "ERRORS", "ERROR %", "AVG ms", "P95 ms", "COST USD", "USD/REQ"},
            {Align::left, Align::right, Align::right, Align::right, Align::right, Align::right, Align::right,
             Align::right});
    // Winners are compared among variants only: requests outside any split are context.
    std::vector<std::optional<double>> err, avg, p95, per_req;
    for (const auto& g : r.groups) {
        const bool variant = !g.key.empty() && g.requests > 0;
        err.push_back(variant ? std::optional<double>(static_cast<double>(g.errors) / static_cast<double>(g.requests))
                              : std::nullopt);
        avg.push_back(variant ? std::optional<double>(g.avg_latency_ms) : std::nullopt);
        p95.push_back(variant ? std::optional<double>(g.p95_latency_ms) : std::nullopt);
        per_req.push_back(variant ? std::optional<double>(g.cost_usd / static_cast<double>(g.requests)) : std::nullopt);
    }
    const auto w_err = winners(err, Better::lower);
    const auto w_avg = winners(avg, Better::lower);
    const auto w_p95 = winners(p95, Better::lower);
    const auto w_req = winners(per_req, Better::lower);
    auto mark = [&](std::string cell, bool win) { return win ? paint(cell + "*", Colour::green, colour) : cell + " "; };
    for (std::size_t i = 0; i < r.groups.size(); ++i) {
        const auto& g = r.groups[i];
        const double rate =
            g.requests > 0 ? 100.0 * static_cast<double>(g.errors) / static_cast<double>(g.requests) : 0;
        t.add_row({g.key.empty() ? std::string("(no split)") : g.key, group_thousands(g.requests),
                   std::to_string(g.errors), mark(format_fixed(rate, 1), w_err[i]),
                   mark(format_fixed(g.avg_latency_ms, 0), w_avg[i]), mark(format_fixed(g.p95_latency_ms, 0), w_p95[i]),
                   format_usd(g.cost_usd),
                   mark(g.requests > 0 ? format_usd(g.cost_usd / static_cast<double>(g.requests)) : "-", w_req[i])});
    }
    return t;
}

Table day_table(const client::CostReport& r, bool colour, std::size_t bar_width)
{
    const auto days = fill_days(r.groups);
    double max = 0;
    for (const auto& g : days) {
        max = std::max(max, g.cost_usd);
    }
    Table t(
        {"DAY", "REQUESTS", "ERRORS", "IN TOK", "OUT TOK", "P95 ms", "COST USD", "SPEND"},
        {Align::left, Align::right, Align::right, Align::right, Align::right, Align::right, Align::right, Align::left});
    for (const auto& g : days) {
        t.add_row({g.key, group_thousands(g.requests), std::to_string(g.errors), group_thousands(g.input_tokens),
                   group_thousands(g.output_tokens), p95_cell(g), format_usd(g.cost_usd),
                   paint(bar(g.cost_usd, max, bar_width), Colour::blue, colour)});
    }
    return t;
}

namespace {

struct CostOptions {
    std::string since = "today";
    std::string until;
    std::string by = "model";
    bool json = false;
    bool csv = false;
};

std::string upper(std::string s)
{
    for (auto& c : s) {
        c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    }
    return s;
}

int run_cost(Context& ctx, const CostOptions& o)
{
    const auto now = std::chrono::system_clock::now();
    client::CostQuery q;
    q.by = o.by;
    auto since = parse_time_spec(o.since, TimeEdge::since, now);
    if (!since) {
        std::cerr << "aigw cost: --since " << since.error() << '\n';
        return k_exit_usage;
    }
    q.since_ms = *since;
    if (!o.until.empty()) {
        auto until = parse_time_spec(o.until, TimeEdge::until, now);
        if (!until) {
            std::cerr << "aigw cost: --until " << until.error() << '\n';
            return k_exit_usage;
        }
        q.until_ms = *until;
        if (*until <= *since) {
            std::cerr << "aigw cost: the range is empty: --until " << o.until << " ("
                      << format_local_time(*until, "%Y-%m-%d %H:%M") << ") is not after --since " << o.since << " ("
                      << format_local_time(*since, "%Y-%m-%d %H:%M") << "); swap them\n";
            return k_exit_usage;
        }
    }
    auto client = ctx.client();
    if (!client) {
        return fail(client.error());
    }
    auto report = (*client)->cost(q);
    if (!report) {
        return fail(report.error());
    }
    if (o.json) {
        // The range the report covers, so a saved report says what it is about.
        nlohmann::json out = report->raw;
        if (out.is_object()) {
            const std::int64_t until_ms =
                q.until_ms ? *q.until_ms
                           : std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count();
            out["range"] = {{"since_ms", *q.since_ms},
                            {"until_ms", until_ms},
                            {"since", format_local_time(*q.since_ms, "%Y-%m-%dT%H:%M:%S%z")},
                            {"until", format_local_time(until_ms, "%Y-%m-%dT%H:%M:%S%z")}};
        }
        std::cout << out.dump(2) << '\n';
        return 0;
    }
    if (o.csv) {
        std::cout << cost_csv(*report, o.by);
        return 0;
    }
    const bool colour = colour_enabled(1);
    if (o.by == "day") {
        const std::int64_t until_ms =
            q.until_ms ? *q.until_ms
                       : std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count();
        report->groups = with_range_days(std::move(report->groups), *q.since_ms, until_ms);
    }
    if (o.by == "variant" || o.by == "day") {
        if (report->groups.empty()) {
            std::cerr << "no requests in this period\n";
            return 0;
        }
        Table special =
            o.by == "variant"
                ? variant_table(*report, colour)
                : day_table(*report, colour, is_tty(1) ? std::min<std::size_t>(terminal_width(1) / 3, 40) : 30);
        special.add_rule();
        const auto& tot = report->total;
        if (o.by == "variant") {
            const double rate =
                tot.requests > 0 ? 100.0 * static_cast<double>(tot.errors) / static_cast<double>(tot.requests) : 0;
            special.add_row({"TOTAL", group_thousands(tot.requests), std::to_string(tot.errors),
                             format_fixed(rate, 1) + " ", format_fixed(tot.avg_latency_ms, 0) + " ",
                             p95_cell(tot) + " ", format_usd(tot.cost_usd),
                             tot.requests > 0 ? format_usd(tot.cost_usd / static_cast<double>(tot.requests)) + " "
                                              : std::string("- ")});
        } else {
            special.add_row({"TOTAL", group_thousands(tot.requests), std::to_string(tot.errors),
                             group_thousands(tot.input_tokens), group_thousands(tot.output_tokens), p95_cell(tot),
                             format_usd(tot.cost_usd), ""});
        }
        special.print(std::cout, colour);
        if (o.by == "variant") {
            std::cout << paint("* best among the variants; variants come from [models.\"NAME\"] split in the config",
                               Colour::dim, colour)
                      << '\n';
        }
        return 0;
    }
    // By key, the report also names the key and shows cache hits and what they saved.
    const bool by_key = o.by == "key";
    std::vector<std::string> headers = {upper(o.by), "REQUESTS", "ERRORS", "IN TOK", "OUT TOK", "P95 ms", "COST USD"};
    std::vector<Align> align = {Align::left,  Align::right, Align::right, Align::right,
                                Align::right, Align::right, Align::right};
    if (by_key) {
        headers.insert(headers.begin() + 1, "NAME");
        align.insert(align.begin() + 1, Align::left);
        headers.insert(headers.end(), {"HITS", "SAVED USD"});
        align.insert(align.end(), {Align::right, Align::right});
    }
    Table t(headers, align);
    auto row = [&](const client::CostGroup& g, std::string key) {
        std::string errors = std::to_string(g.errors);
        if (g.errors > 0) {
            errors = paint(errors, Colour::red, colour);
        }
        std::vector<std::string> cells = {std::move(key),
                                          group_thousands(g.requests),
                                          errors,
                                          group_thousands(g.input_tokens),
                                          group_thousands(g.output_tokens),
                                          p95_cell(g),
                                          format_usd(g.cost_usd)};
        if (by_key) {
            cells.insert(cells.begin() + 1, g.name.empty() ? std::string("-") : g.name);
            cells.insert(cells.end(), {group_thousands(g.cache_hits), format_usd(g.saved_usd)});
        }
        t.add_row(std::move(cells));
    };
    for (const auto& g : report->groups) {
        row(g, g.key.empty() ? std::string("(none)") : g.key);
    }
    if (report->groups.empty() && is_tty(2)) {
        std::cerr << paint("no requests in this period", Colour::dim, colour_enabled(2)) << '\n';
    }
    t.add_rule();
    row(report->total, "TOTAL");
    t.print(std::cout, colour);
    return 0;
}

}  // namespace

void add_cost_command(CLI::App& app, Context& ctx)
{
    auto o = std::make_shared<CostOptions>();
    auto* cmd = app.add_subcommand("cost", "Spend, requests and tokens from the ledger");
    cmd->add_option("--since", o->since, "Start: today, yesterday, 7d, 30d, 12h, YYYY-MM-DD (default today)");
    cmd->add_option("--until", o->until, "End (exclusive; a date means the end of that day; default now)");
    cmd->add_option("--by", o->by, "Group by")
        ->check(CLI::IsMember({"model", "provider", "key", "day", "variant", "tag", "surface", "session"}));
    auto* json = cmd->add_flag("--json", o->json, "Print the report JSON");
    cmd->add_flag("--csv", o->csv, "Print CSV")->excludes(json);
    cmd->callback([&ctx, o] { ctx.action = [&ctx, o] { return run_cost(ctx, *o); }; });
}

}  // namespace aigw::cli

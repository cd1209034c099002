// aigw cost: spend and tokens from the daemon's ledger, grouped by model, provider, day, ...

#include "cli/cmd_cost.hpp"

#include "cli/app.hpp"
#include "cli/term.hpp"

#include <charconv>
#include <ctime>
#include <iostream>
#include <memory>

namespace aigw::cli {
namespace {

std::int64_t to_ms(std::chrono::system_clock::time_point t) {
    return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
}

std::int64_t mktime_ms(std::tm tm) {
    tm.tm_hour = 0;
    tm.tm_min = 0;
    tm.tm_sec = 0;
    tm.tm_isdst = -1;
    return static_cast<std::int64_t>(std::mktime(&tm)) * 1000;
}

std::optional<std::int64_t> parse_int(std::string_view s) {
    std::int64_t v = 0;
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec != std::errc() || p != s.data() + s.size()) {
        return std::nullopt;
    }
    return v;
}

}  // namespace

std::int64_t local_midnight_ms(std::chrono::system_clock::time_point t) {
    const std::time_t tt = std::chrono::system_clock::to_time_t(t);
    std::tm tm{};
    localtime_r(&tt, &tm);
    return mktime_ms(tm);
}

std::expected<std::int64_t, std::string> parse_time_spec(std::string_view spec, TimeEdge edge,
                                                         std::chrono::system_clock::time_point now) {
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

std::string cost_csv(const client::CostReport& r, std::string_view by) {
    std::string out = std::string(by) +
                      ",requests,errors,input_tokens,cached_tokens,output_tokens,cost_usd,cache_hits,avg_latency_ms\n";
    auto line = [&](const client::CostGroup& g) {
        out += csv_escape(g.key) + "," + std::to_string(g.requests) + "," + std::to_string(g.errors) + "," +
               std::to_string(g.input_tokens) + "," + std::to_string(g.cached_tokens) + "," +
               std::to_string(g.output_tokens) + "," + format_fixed(g.cost_usd, 6) + "," +
               std::to_string(g.cache_hits) + "," + format_fixed(g.avg_latency_ms, 1) + "\n";
    };
    for (const auto& g : r.groups) {
        line(g);
    }
    line(r.total);
    return out;
}

namespace {

struct CostOptions {
    std::string since = "today";
    std::string until;
    std::string by = "model";
    bool json = false;
    bool csv = false;
};

std::string upper(std::string s) {
    for (auto& c : s) {
        c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    }
    return s;
}

int run_cost(Context& ctx, const CostOptions& o) {
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
        std::cout << report->raw.dump(2) << '\n';
        return 0;
    }
    if (o.csv) {
        std::cout << cost_csv(*report, o.by);
        return 0;
    }
    const bool colour = colour_enabled(1);
    // By key, the report also names the key and shows cache hits and what they saved.
    const bool by_key = o.by == "key";
    std::vector<std::string> headers = {upper(o.by), "REQUESTS", "ERRORS", "IN TOK", "OUT TOK", "COST USD"};
    std::vector<Align> align = {Align::left, Align::right, Align::right, Align::right, Align::right, Align::right};
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
        std::vector<std::string> cells = {std::move(key), group_thousands(g.requests), errors,
                                          group_thousands(g.input_tokens), group_thousands(g.output_tokens),
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

void add_cost_command(CLI::App& app, Context& ctx) {
    auto o = std::make_shared<CostOptions>();
    auto* cmd = app.add_subcommand("cost", "Spend, requests and tokens from the ledger");
    cmd->add_option("--since", o->since, "Start: today, yesterday, 7d, 30d, 12h, YYYY-MM-DD (default today)");
    cmd->add_option("--until", o->until, "End (exclusive; a date means the end of that day; default now)");
    cmd->add_option("--by", o->by, "Group by")
        ->check(CLI::IsMember({"model", "provider", "key", "day", "variant", "tag", "surface"}));
    auto* json = cmd->add_flag("--json", o->json, "Print the report JSON");
    cmd->add_flag("--csv", o->csv, "Print CSV")->excludes(json);
    cmd->callback([&ctx, o] { ctx.action = [&ctx, o] { return run_cost(ctx, *o); }; });
}

}  // namespace aigw::cli

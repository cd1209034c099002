// aigw ledger stats|prune|vacuum|export: the ledger's size and upkeep, and its rows as JSON
// lines or CSV. Calls /aigw/v1/ledger/{stats,prune,vacuum,export} on the daemon, whose writer
// thread owns the file.

#include "cli/app.hpp"
#include "cli/cmd_cost.hpp"
#include "cli/term.hpp"

#include <ctime>
#include <iostream>
#include <memory>
#include <sstream>

namespace aigw::cli {
namespace {

struct LedgerOptions {
    bool json = false;
    std::string older_than = "30d";
    std::string format = "jsonl";
    std::string since;
    std::string until;
};

/// Epoch ms as "YYYY-MM-DD HH:MM UTC"; "-" for 0.
std::string utc_time(std::int64_t ms)
{
    if (ms <= 0) {
        return "-";
    }
    const std::time_t t = static_cast<std::time_t>(ms / 1000);
    std::tm tm{};
    ::gmtime_r(&t, &tm);
    char buf[32];
    std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M UTC", &tm);
    return buf;
}

std::int64_t int_of(const nlohmann::json& j, const char* name)
{
    const auto it = j.find(name);
    return it != j.end() && it->is_number() ? it->get<std::int64_t>() : 0;
}

int run_stats(Context& ctx, const LedgerOptions& o)
{
    auto client = ctx.client();
    if (!client) {
        return fail(client.error());
    }
    auto s = (*client)->get_json("/aigw/v1/ledger/stats");
    if (!s) {
        return fail(s.error());
    }
    if (o.json) {
        std::cout << s->dump(2) << '\n';
        return 0;
    }
    const std::int64_t page_size = int_of(*s, "page_size");
    Table t({"", ""});
    t.add_row({"rows", group_thousands(int_of(*s, "rows"))});
    t.add_row({"oldest", utc_time(int_of(*s, "oldest_ts_ms"))});
    t.add_row({"newest", utc_time(int_of(*s, "newest_ts_ms"))});
    t.add_row({"rollup rows", group_thousands(int_of(*s, "rollup_rows"))});
    t.add_row(
        {"file", human_bytes(int_of(*s, "file_bytes")) + " (+ " + human_bytes(int_of(*s, "wal_bytes")) + " WAL)"});
    t.add_row({"free", human_bytes(int_of(*s, "free_pages") * page_size) + " in " +
                           group_thousands(int_of(*s, "free_pages")) + " pages"});
    const std::string vacuum_mode = s->value("auto_vacuum", std::string("?"));
    t.add_row({"auto vacuum",
               vacuum_mode == "incremental" ? vacuum_mode : vacuum_mode + " ('aigw ledger vacuum' switches it)"});
    const std::int64_t retention = int_of(*s, "retention_days");
    t.add_row({"retention", retention > 0 ? std::to_string(retention) + " days" : std::string("keep everything")});
    t.add_row(
        {"queue", group_thousands(int_of(*s, "queue_depth")) + " of " + group_thousands(int_of(*s, "queue_capacity"))});
    t.add_row({"schema", std::to_string(int_of(*s, "schema_version"))});
    std::ostringstream os;
    t.print(os, false);
    const std::string text = os.str();
    std::cout << text.substr(text.find('\n') + 1);
    return 0;
}

int run_prune(Context& ctx, const LedgerOptions& o)
{
    const auto before = parse_time_spec(o.older_than, TimeEdge::since, std::chrono::system_clock::now());
    if (!before) {
        std::cerr << "aigw ledger prune: --older-than " << before.error() << '\n';
        return k_exit_usage;
    }
    auto client = ctx.client();
    if (!client) {
        return fail(client.error());
    }
    auto r = (*client)->post_json("/aigw/v1/ledger/prune", {{"before_ms", *before}});
    if (!r) {
        return fail(r.error());
    }
    if (o.json) {
        std::cout << r->dump(2) << '\n';
    } else {
        std::cout << "pruned " << group_thousands(int_of(*r, "deleted")) << " rows before "
                  << utc_time(*before / 86'400'000 * 86'400'000) << " (whole UTC days)\n";
    }
    return 0;
}

int run_vacuum(Context& ctx, const LedgerOptions& o)
{
    auto client = ctx.client();
    if (!client) {
        return fail(client.error());
    }
    std::cerr << "vacuuming the ledger; rows recorded meanwhile wait in the daemon's queue\n";
    auto r = (*client)->post_json("/aigw/v1/ledger/vacuum", nlohmann::json::object());
    if (!r) {
        return fail(r.error());
    }
    if (o.json) {
        std::cout << r->dump(2) << '\n';
    } else {
        std::cout << "ledger file now " << human_bytes(int_of(*r, "file_bytes")) << '\n';
    }
    return 0;
}

int run_export(Context& ctx, const LedgerOptions& o)
{
    if (o.format != "jsonl" && o.format != "csv") {
        std::cerr << "aigw ledger export: --format must be jsonl or csv\n";
        return k_exit_usage;
    }
    const auto now = std::chrono::system_clock::now();
    std::string path = "/aigw/v1/ledger/export?format=" + o.format;
    if (!o.since.empty()) {
        const auto since = parse_time_spec(o.since, TimeEdge::since, now);
        if (!since) {
            std::cerr << "aigw ledger export: --since " << since.error() << '\n';
            return k_exit_usage;
        }
        path += "&since_ms=" + std::to_string(*since);
    }
    if (!o.until.empty()) {
        const auto until = parse_time_spec(o.until, TimeEdge::until, now);
        if (!until) {
            std::cerr << "aigw ledger export: --until " << until.error() << '\n';
            return k_exit_usage;
        }
        path += "&until_ms=" + std::to_string(*until);
    }
    auto client = ctx.client();
    if (!client) {
        return fail(client.error());
    }
    auto r = (*client)->get_stream(path, [](std::string_view piece) {
        std::cout.write(piece.data(), static_cast<std::streamsize>(piece.size()));
        return static_cast<bool>(std::cout);  // stop when stdout is closed (| head)
    });
    std::cout.flush();
    if (!r) {
        return fail(r.error());
    }
    return 0;
}

}  // namespace

void add_ledger_command(CLI::App& app, Context& ctx)
{
    auto o = std::make_shared<LedgerOptions>();
    auto* cmd = app.add_subcommand("ledger", "The usage ledger's size and upkeep: stats, prune, vacuum, export");
    cmd->require_subcommand(1);
    auto* stats = cmd->add_subcommand("stats", "Rows, time span, file size, free pages, rollups, queue");
    stats->add_flag("--json", o->json, "Print JSON");
    stats->callback([&ctx, o] { ctx.action = [&ctx, o] { return run_stats(ctx, *o); }; });
    auto* prune = cmd->add_subcommand("prune", "Delete rows older than a time (whole UTC days) and shrink the file");
    prune->add_option("--older-than", o->older_than, "30d, 12h, YYYY-MM-DD or epoch ms (default 30d)");
    prune->add_flag("--json", o->json, "Print JSON");
    prune->callback([&ctx, o] { ctx.action = [&ctx, o] { return run_prune(ctx, *o); }; });
    auto* vacuum = cmd->add_subcommand("vacuum", "Rebuild the file to its data and turn on incremental vacuum");
    vacuum->add_flag("--json", o->json, "Print JSON");
    vacuum->callback([&ctx, o] { ctx.action = [&ctx, o] { return run_vacuum(ctx, *o); }; });
    auto* exp = cmd->add_subcommand("export", "Every row in a time range, oldest first, to stdout");
    exp->add_option("--format", o->format, "jsonl (default) or csv")->check(CLI::IsMember({"jsonl", "csv"}));
    exp->add_option("--since", o->since, "Start: today, 7d, 12h, YYYY-MM-DD (default: the first row)");
    exp->add_option("--until", o->until, "End, exclusive: now, YYYY-MM-DD (default now)");
    exp->callback([&ctx, o] { ctx.action = [&ctx, o] { return run_export(ctx, *o); }; });
}

}  // namespace aigw::cli

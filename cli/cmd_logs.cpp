// aigw logs: recent requests from the ledger (-f follows new ones), and `aigw logs show ID`
// for one request's attempts, timing, cost and, when body logging is on, its bodies.
// `aigw logs -q WORDS` searches the stored bodies (full-text, newest first).

#include "cli/app.hpp"
#include "cli/cmd_cost.hpp"
#include "cli/logs_format.hpp"
#include "cli/term.hpp"

#include <csignal>
#include <iostream>
#include <thread>

namespace aigw::cli {
namespace {

struct LogsOptions {
    int lines = 20;
    bool follow = false;
    bool json = false;
    bool csv = false;
    bool all_attempts = false;
    std::string tag;
    std::string session;
    std::string show_id;
    std::string query;
    std::string model;
    std::string key;
    std::string status;
    std::string since;
};

/// `aigw logs -q`: the matching requests, newest first, with the words that matched.
int run_search(client::DaemonClient& client, const client::LogQuery& q, const LogsOptions& o)
{
    auto rows = client.logs(q);
    if (!rows) {
        if (rows.error().kind == client::ClientErrorKind::http && rows.error().status == 400) {
            std::cerr << "aigw logs: -q: " << rows.error().message << '\n';
            return k_exit_usage;
        }
        return fail(rows.error());
    }
    if (o.json) {
        nlohmann::json arr = nlohmann::json::array();
        for (const auto& r : *rows) {
            nlohmann::json j = log_row_json(r);
            j["snippet"] = r.snippet;
            arr.push_back(std::move(j));
        }
        std::cout << arr.dump(2) << '\n';
        return 0;
    }
    if (o.csv) {
        std::cout << search_csv(*rows);
        return 0;
    }
    if (rows->empty()) {
        std::cerr << "no stored bodies match '" << o.query
                  << "' (bodies are stored only with [ledger] log_bodies = true in the config)\n";
        return 0;
    }
    const bool colour = colour_enabled(1);
    search_table(*rows, colour).print(std::cout, colour);
    return 0;
}

int run_list(Context& ctx, const LogsOptions& o)
{
    client::LogQuery q;
    q.limit = o.lines;
    q.tag = o.tag;
    q.session = o.session;
    q.all_attempts = o.all_attempts;
    q.query = o.query;
    q.model = o.model;
    q.key = o.key;
    if (!o.status.empty()) {
        if (auto ok = parse_status_filter(o.status, q); !ok) {
            std::cerr << "aigw logs: --status " << ok.error() << '\n';
            return k_exit_usage;
        }
    }
    if (!o.since.empty()) {
        auto since = parse_time_spec(o.since, TimeEdge::since, std::chrono::system_clock::now());
        if (!since) {
            std::cerr << "aigw logs: --since " << since.error() << '\n';
            return k_exit_usage;
        }
        q.since_ms = *since;
    }
    if (o.query.find_first_not_of(" \t") == std::string::npos && !o.query.empty()) {
        std::cerr << "aigw logs: -q needs words to look for, e.g. -q \"refund policy\"\n";
        return k_exit_usage;
    }
    auto client = ctx.client();
    if (!client) {
        return fail(client.error());
    }
    if (!q.query.empty()) {
        return run_search(**client, q, o);
    }
    auto rows = (*client)->logs(q);
    if (!rows) {
        return fail(rows.error());
    }
    const bool colour = colour_enabled(1);
    if (!o.follow) {
        if (o.json) {
            nlohmann::json arr = nlohmann::json::array();
            for (const auto& r : *rows) {
                arr.push_back(log_row_json(r));
            }
            std::cout << arr.dump(2) << '\n';
            return 0;
        }
        if (o.csv) {
            std::cout << log_csv(*rows);
            return 0;
        }
        if (rows->empty()) {
            if (!o.session.empty()) {
                std::cerr << "no requests in session '" << o.session
                          << "'; 'aigw cost --by session' lists the sessions\n";
            } else if (o.tag.empty()) {
                std::cerr << "no requests in the ledger yet\n";
            } else {
                std::cerr << "no requests tagged '" << o.tag << "'; 'aigw cost --by tag' lists the tags\n";
            }
            return 0;
        }
        log_table(*rows, colour).print(std::cout, colour);
        return 0;
    }
    // Follow: fixed-width lines so rows printed later still line up with the header; on a
    // terminal each line is cut to its width (a wrapped row would break the columns).
    auto fit = [](const std::string& line) { return is_tty(1) ? truncate_to_width(line, terminal_width(1)) : line; };
    auto print = [&](const client::LogRow& r) {
        if (o.json) {
            std::cout << log_row_json(r).dump() << '\n';
        } else if (o.csv) {
            const std::string csv = log_csv({r});
            std::cout << csv.substr(csv.find('\n') + 1);
        } else {
            std::cout << fit(log_line(r, colour)) << '\n';
        }
        return static_cast<bool>(std::cout.flush());
    };
    if (o.csv) {
        const std::string header = log_csv({});
        std::cout << header;
    } else if (!o.json) {
        std::cout << fit(log_line_header(colour)) << '\n';
    }
    std::int64_t cursor = 0;
    for (const auto& r : *rows) {
        if (!print(r)) {
            return 0;
        }
        cursor = std::max(cursor, r.row_id);
    }
    for (;;) {
        std::this_thread::sleep_for(std::chrono::milliseconds(500));
        client::LogQuery next = q;
        next.after_row_id = cursor;
        next.limit = 1000;
        auto more = (*client)->logs(next);
        if (!more) {
            std::cerr << "aigw logs: " << client::describe(more.error()) << "; still trying\n";
            continue;
        }
        for (const auto& r : *more) {
            if (!print(r)) {
                return 0;  // stdout closed (| head)
            }
            cursor = std::max(cursor, r.row_id);
        }
    }
}

int run_show(Context& ctx, const LogsOptions& o)
{
    auto client = ctx.client();
    if (!client) {
        return fail(client.error());
    }
    auto attempts = (*client)->log_attempts(o.show_id);
    if (!attempts) {
        if (attempts.error().kind == client::ClientErrorKind::http && attempts.error().status == 404) {
            return fail(
                "no request " + o.show_id +
                " in the ledger; 'aigw logs' lists recent request ids (older rows are pruned after the retention)");
        }
        return fail(attempts.error());
    }
    if (o.json) {
        nlohmann::json arr = nlohmann::json::array();
        for (const auto& r : *attempts) {
            arr.push_back(log_row_json(r));
        }
        std::cout << nlohmann::json({{"request_id", o.show_id}, {"attempts", std::move(arr)}}).dump(2) << '\n';
        return 0;
    }
    std::cout << request_details(*attempts, colour_enabled(1));
    return 0;
}

}  // namespace

void add_logs_command(CLI::App& app, Context& ctx)
{
    auto o = std::make_shared<LogsOptions>();
    auto* cmd = app.add_subcommand("logs", "Recent requests from the ledger ('logs show ID' for one request)");
    cmd->add_option("-n,--lines,--limit", o->lines, "How many recent requests (default 20)")
        ->check(CLI::Range(1, 10000));
    auto* follow = cmd->add_flag("-f,--follow", o->follow, "Keep printing new requests as they are recorded");
    cmd->add_option("-q,--query", o->query,
                    "Search the stored bodies (words, \"a phrase\", prefix*, AND/OR/NOT); newest first")
        ->excludes(follow);
    cmd->add_option("--model", o->model, "Only requests served by this model (provider/model)");
    cmd->add_option("--key", o->key, "Only requests made with this key id (see 'aigw keys list')");
    cmd->add_option("--status", o->status, "Only requests with this status: 200, 429, a class like 4xx, or error");
    cmd->add_option("--since", o->since, "Only requests since: 7d, 12h, today, yesterday, 2026-12-01");
    auto* json = cmd->add_flag("--json", o->json, "Print JSON (one object per line with -f)");
    cmd->add_flag("--csv", o->csv, "Print CSV")->excludes(json);
    cmd->add_flag("--all-attempts", o->all_attempts, "One row per attempt, not per request");
    cmd->add_option("--tag", o->tag, "Only requests with this x-aigw-tag (a bench or eval run)");
    cmd->add_option("--session", o->session,
                    "Only requests of this agent session (see 'aigw cost --by session'; 'aigw claude' etc. start one)");
    auto* show = cmd->add_subcommand("show", "One request: every attempt, timing, tokens, cost and bodies");
    show->add_option("request_id", o->show_id, "The request id (x-request-id; see 'aigw logs')")->required();
    show->add_flag("--json", o->json, "Print JSON");
    show->callback([&ctx, o] { ctx.action = [&ctx, o] { return run_show(ctx, *o); }; });
    cmd->callback([&ctx, o, show] {
        if (!show->parsed()) {
            ctx.action = [&ctx, o] { return run_list(ctx, *o); };
        }
    });
}

}  // namespace aigw::cli

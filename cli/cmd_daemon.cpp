// aigw daemon start|stop|status|logs: manage the background aigwd.

#include "cli/app.hpp"
#include "cli/daemon_log_view.hpp"
#include "cli/term.hpp"

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <iostream>
#include <memory>
#include <thread>
#include <unistd.h>

namespace aigw::cli {
namespace {

using std::chrono::milliseconds;
using std::chrono::steady_clock;

struct DaemonOptions {
    bool json = false;
    bool follow = false;
    int lines = 50;
};

bool wait_for_exit(std::int64_t pid, milliseconds timeout)
{
    const auto deadline = steady_clock::now() + timeout;
    while (steady_clock::now() < deadline) {
        if (!client::pid_alive(pid)) {
            return true;
        }
        std::this_thread::sleep_for(milliseconds(10));
    }
    return !client::pid_alive(pid);
}

std::string format_uptime(double s)
{
    auto secs = static_cast<std::int64_t>(s);
    const std::int64_t d = secs / 86400;
    const std::int64_t h = secs % 86400 / 3600;
    const std::int64_t m = secs % 3600 / 60;
    secs %= 60;
    if (d > 0) {
        return std::to_string(d) + "d " + std::to_string(h) + "h";
    }
    if (h > 0) {
        return std::to_string(h) + "h " + std::to_string(m) + "m";
    }
    if (m > 0) {
        return std::to_string(m) + "m " + std::to_string(secs) + "s";
    }
    return std::to_string(secs) + "s";
}

int run_start(Context& ctx)
{
    client::ConnectOptions o = ctx.connect_options();
    o.allow_spawn = false;
    if (auto found = client::locate_daemon(o)) {
        std::cout << "aigwd is already running (pid " << found->health.pid << ", " << found->endpoint.url << ")\n";
        return 0;
    } else if (found.error().kind != client::ClientErrorKind::not_running) {
        // AIGW_HOST points somewhere that does not answer: we cannot start a daemon there.
        return fail(found.error());
    }
    auto started = client::spawn_daemon(o);
    if (!started) {
        return fail(started.error());
    }
    std::cout << "aigwd started (pid " << started->health.pid << ", " << started->endpoint.url << ")\n";
    // What the daemon warned about at start-up (unknown config keys, a cache it could not
    // open) belongs on the terminal of the one who started it, not only in its log.
    client::DaemonClient c(started->endpoint, client::gateway_key(ctx.env, o.data_dir));
    if (auto st = c.status()) {
        for (const auto& w : st->warnings) {
            std::cerr << paint("aigwd: warning: ", Colour::yellow, colour_enabled(2)) << w << '\n';
        }
    }
    if (is_tty(2)) {
        std::cerr << paint("logs: " + config::daemon_log_file(o.data_dir).string(), Colour::dim, colour_enabled(2))
                  << '\n';
    }
    return 0;
}

int run_stop(Context& ctx)
{
    client::ConnectOptions o = ctx.connect_options();
    o.allow_spawn = false;
    auto found = client::locate_daemon(o);
    if (!found) {
        // A live pid that does not answer still deserves a SIGTERM.
        auto st = client::read_state(o.data_dir);
        if (found.error().kind == client::ClientErrorKind::not_running && st && client::pid_alive(st->pid)) {
            std::cerr << "aigw: aigwd (pid " << st->pid << ") does not answer; sending SIGTERM\n";
            ::kill(static_cast<pid_t>(st->pid), SIGTERM);
            if (wait_for_exit(st->pid, milliseconds(5000))) {
                std::cout << "aigwd stopped\n";
                return 0;
            }
            return fail("aigwd (pid " + std::to_string(st->pid) + ") did not exit; kill it with 'kill -9 " +
                        std::to_string(st->pid) + "'");
        }
        if (found.error().kind == client::ClientErrorKind::not_running) {
            std::cout << "aigwd is not running\n";
            return 0;
        }
        return fail(found.error());
    }
    const std::int64_t pid = found->health.pid;
    client::DaemonClient c(found->endpoint, client::gateway_key(ctx.env, o.data_dir));
    auto r = c.shutdown();
    if (!r) {
        std::cerr << "aigw: shutdown request failed: " << client::describe(r.error()) << '\n';
    }
    if (found->from_env) {
        // A daemon at AIGW_HOST may be on another machine: all we can watch is /health.
        const auto deadline = steady_clock::now() + milliseconds(5000);
        while (steady_clock::now() < deadline && c.health()) {
            std::this_thread::sleep_for(milliseconds(50));
        }
        if (c.health()) {
            return fail("aigwd at " + found->endpoint.url + " still answers after the shutdown request");
        }
        std::cout << "aigwd stopped\n";
        return 0;
    }
    if (!wait_for_exit(pid, milliseconds(5000))) {
        std::cerr << "aigw: aigwd (pid " << pid << ") is still running after 5 s; sending SIGTERM\n";
        ::kill(static_cast<pid_t>(pid), SIGTERM);
        if (!wait_for_exit(pid, milliseconds(5000))) {
            return fail("aigwd (pid " + std::to_string(pid) + ") did not exit; kill it with 'kill -9 " +
                        std::to_string(pid) + "'");
        }
    }
    std::cout << "aigwd stopped\n";
    return 0;
}

int run_reload(Context& ctx, const DaemonOptions& opts)
{
    client::ConnectOptions o = ctx.connect_options();
    o.allow_spawn = false;
    auto found = client::locate_daemon(o);
    if (!found) {
        if (found.error().kind == client::ClientErrorKind::not_running) {
            std::cerr << "aigw: aigwd is not running; 'aigw daemon start' starts it with the config as it is\n";
            return k_exit_not_running;
        }
        return fail(found.error());
    }
    client::DaemonClient c(found->endpoint, client::gateway_key(ctx.env, o.data_dir));
    auto r = c.reload();
    if (!r) {
        return fail(r.error());
    }
    if (opts.json) {
        std::cout << nlohmann::json{{"applied", r->applied},
                                    {"needs_restart", r->needs_restart},
                                    {"warnings", r->warnings}}
                         .dump(2)
                  << '\n';
        return 0;
    }
    auto list = [](const std::vector<std::string>& keys) {
        std::string out;
        for (const auto& k : keys) {
            out += (out.empty() ? "" : ", ") + k;
        }
        return out;
    };
    const bool colour = colour_enabled(2);
    std::cout << "aigwd reloaded " << ctx.config().config_path.string() << '\n';
    if (!r->applied.empty()) {
        std::cout << "applied: " << list(r->applied) << '\n';
    }
    if (!r->needs_restart.empty()) {
        std::cout << "needs a restart ('aigw daemon restart'): " << list(r->needs_restart) << '\n';
    }
    if (r->applied.empty() && r->needs_restart.empty()) {
        std::cout << "no setting changed; provider keys re-read\n";
    }
    for (const auto& w : r->warnings) {
        std::cerr << paint("aigwd: warning: ", Colour::yellow, colour) << w << '\n';
    }
    return 0;
}

int run_restart(Context& ctx)
{
    // Check before stopping: a config the new daemon could not load must not leave the
    // user with no daemon at all.
    if (const auto& errors = ctx.config_errors(); !errors.empty()) {
        std::string msg = "not restarting: the config file " + ctx.config().config_path.string() + " has errors:";
        for (const auto& e : errors) {
            msg += "\n  " + e;
        }
        msg += "\n  aigwd keeps running as it was; fix the file with 'aigw config edit'";
        return fail(msg);
    }
    if (const int rc = run_stop(ctx); rc != 0) {
        return rc;
    }
    return run_start(ctx);
}

/// Deployments the daemon has tried (circuit state, score, window numbers) and provider
/// keys that are resting or were rejected.
void print_health(const client::Status& st, bool colour)
{
    if (!st.deployments.empty()) {
        std::cout << "\ndeployments (rolling window)\n";
        const auto r = Align::right;
        Table t({"deployment", "state", "score", "requests", "errors", "429s", "timeouts", "p95 ms", "in flight"},
                {Align::left, Align::left, r, r, r, r, r, r, r});
        for (const auto& d : st.deployments) {
            std::string state = d.state;
            if (d.state == "open") {
                state += d.opened_elsewhere
                             ? " (by another instance, for " + std::to_string((d.retry_in_ms + 999) / 1000) + " s)"
                             : " (trial in " + std::to_string((d.retry_in_ms + 999) / 1000) + " s)";
            }
            const Colour c = d.state == "closed" ? Colour::green : d.state == "open" ? Colour::red : Colour::yellow;
            t.add_row({d.id, paint(state, c, colour), std::to_string(static_cast<int>(d.score)),
                       std::to_string(d.requests), std::to_string(d.errors), std::to_string(d.rate_limited),
                       std::to_string(d.timeouts), d.p95_ms < 0 ? "-" : std::to_string(d.p95_ms) + " ms",
                       std::to_string(d.inflight)});
        }
        t.print(std::cout, colour);
    }
    bool notable = false;
    for (const auto& k : st.keys) {
        notable = notable || k.state != "ok";
    }
    if (notable) {
        std::cout << "\nprovider keys\n";
        Table t({"provider", "key", "state", "detail"});
        for (const auto& k : st.keys) {
            std::string detail = k.reason;
            if (k.state == "cooling") {
                detail = "rate-limited";
                for (std::size_t i = 0; i < k.cooling_models.size(); ++i) {
                    detail += (i == 0 ? " for " : ", ") + k.cooling_models[i];
                }
                detail += "; usable again within " + std::to_string((k.cooldown_ms + 999) / 1000) + " s";
            }
            const Colour c = k.state == "ok" ? Colour::green : k.state == "bad" ? Colour::red : Colour::yellow;
            t.add_row({k.provider, std::to_string(k.key), paint(k.state, c, colour), detail});
        }
        t.print(std::cout, colour);
    }
}

/// The cluster's live instances (from their heartbeats), one row each.
void print_instances(const client::ClusterStatus& cl, bool colour)
{
    if (cl.instances.empty()) {
        return;
    }
    const auto now_ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
            .count();
    std::cout << "\ncluster instances\n";
    Table t({"instance", "host", "port", "pid", "version", "up", "last heartbeat"},
            {Align::left, Align::left, Align::right, Align::right, Align::left, Align::right, Align::right});
    for (const auto& i : cl.instances) {
        const std::string id = i.id.substr(0, 12) + (i.self ? " (this)" : "");
        const double up_s = i.started_ms > 0 ? static_cast<double>(now_ms - i.started_ms) / 1000.0 : 0;
        const std::int64_t seen_ms = i.last_seen_ms > 0 ? std::max<std::int64_t>(0, now_ms - i.last_seen_ms) : 0;
        t.add_row({i.self ? paint(id, Colour::green, colour) : id, i.host, std::to_string(i.port),
                   std::to_string(i.pid), i.version, format_uptime(up_s), std::to_string(seen_ms / 1000) + " s ago"});
    }
    t.print(std::cout, colour);
}

int run_status(Context& ctx, const DaemonOptions& opts)
{
    client::ConnectOptions o = ctx.connect_options();
    o.allow_spawn = false;
    auto found = client::locate_daemon(o);
    if (!found) {
        if (opts.json) {
            std::cout << nlohmann::json{{"running", false}, {"reason", found.error().message}}.dump(2) << '\n';
        } else {
            std::cout << "not running\n";
            if (is_tty(2)) {
                std::cerr << paint(client::describe(found.error()), Colour::dim, colour_enabled(2)) << '\n';
            }
        }
        return k_exit_not_running;
    }
    client::DaemonClient c(found->endpoint, client::gateway_key(ctx.env, o.data_dir));
    auto st = c.status();
    if (!st) {
        return fail(st.error());
    }
    if (opts.json) {
        nlohmann::json j = st->raw;
        j["running"] = true;
        j["url"] = found->endpoint.url;
        std::cout << j.dump(2) << '\n';
        return 0;
    }
    const bool colour = colour_enabled(1);
    Table t({"", ""});
    t.add_row({"status", paint("running", Colour::green, colour)});
    t.add_row({"pid", std::to_string(st->pid)});
    t.add_row({"url", found->endpoint.url});
    t.add_row({"version", st->version});
    t.add_row({"uptime", format_uptime(st->uptime_s)});
    t.add_row({"requests", group_thousands(st->requests_served)});
    if (st->unknown_routes > 0) {
        // A tool calling a route aigwd does not serve fails in ways its user cannot see.
        t.add_row({"unknown routes", group_thousands(st->unknown_routes) + ", last: " + st->last_unknown_route});
    }
    if (!found->from_env) {
        t.add_row({"data dir", o.data_dir.string()});
    }
    std::string with_key;
    for (const auto& p : st->providers) {
        // A local server (ollama) needs no key; it counts when something answers there.
        const bool usable = p.key_present && (p.key_required || p.wire == "mock" ||
                                              client::server_answers(p.base_url, milliseconds(1000)));
        if (usable) {
            with_key += (with_key.empty() ? "" : ", ") + p.name;
        }
    }
    t.add_row({"providers", with_key.empty() ? "(none with a key)" : with_key});
    if (st->cluster.enabled) {
        // Shared rate limits: where, whether Redis answers, and what happens when it does not.
        std::string redis = st->cluster.redis_url + "  ";
        if (st->cluster.reachable) {
            char ms[32];
            std::snprintf(ms, sizeof ms, "%.2f", st->cluster.ping_ms);
            redis += paint("reachable", Colour::green, colour) + " (PING " + ms + " ms)";
        } else {
            redis += paint("unreachable", Colour::red, colour) + ": " + st->cluster.error;
        }
        t.add_row({"cluster redis", redis});
        const bool keys_in_redis = st->cluster.keys_shared_through.starts_with("Redis");
        t.add_row({"shared", std::string(keys_in_redis ? "rate limits, virtual keys, circuit breakers"
                                                       : "rate limits, circuit breakers") +
                                 "; when Redis is down: " +
                                 std::string(st->cluster.redis_down == "refuse" ? "refuse (503)" : "local limits")});
        t.add_row({"instances", std::to_string(st->cluster.instances.size()) + " live (heartbeats in Redis)"});
    }
    if (st->cluster.postgres_configured) {
        t.add_row({"cluster postgres",
                   st->cluster.postgres_url + "  " +
                       (st->cluster.postgres_reachable
                            ? paint("reachable", Colour::green, colour) + " (" +
                                  group_thousands(st->cluster.rows_replicated) + " rows copied by this instance)"
                            : paint("unreachable", Colour::red, colour) + ": ledger rows wait in the local ledger")});
    }
    if (!st->cluster.keys_shared_through.empty()) {
        t.add_row({"virtual keys", "shared through " + st->cluster.keys_shared_through + "  " +
                                       (st->cluster.keys_reachable ? paint("reachable", Colour::green, colour)
                                                                   : paint("unreachable", Colour::red, colour) +
                                                                         ": serving the keys known here")});
    }
    // No header line for a key/value listing.
    std::ostringstream os;
    t.print(os, false);
    const std::string text = os.str();
    std::cout << text.substr(text.find('\n') + 1);
    print_health(*st, colour);
    print_instances(st->cluster, colour);
    for (const auto& w : st->warnings) {
        std::cerr << paint("aigwd: warning: ", Colour::yellow, colour_enabled(2)) << w << '\n';
    }
    if (st->version != client::client_version()) {
        std::cerr << "aigw: warning: aigwd is " << st->version << ", aigw is " << client::client_version()
                  << "; restart it with 'aigw daemon restart'\n";
    }
    return 0;
}

/// The last `n` lines of `text`.
std::string last_lines(const std::string& text, int n)
{
    if (n <= 0) {
        return {};
    }
    std::size_t pos = text.size();
    if (pos > 0 && text[pos - 1] == '\n') {
        --pos;
    }
    int seen = 0;
    while (pos > 0) {
        if (text[pos - 1] == '\n' && ++seen == n) {
            break;
        }
        --pos;
    }
    return text.substr(pos);
}

/// Prints whole lines of the daemon log: as they are for scripts (--json, or stdout not a
/// terminal), JSON lines rendered as aligned columns for a person.
class LogPrinter {
public:
    LogPrinter(bool render, bool colour) : m_render(render), m_colour(colour) {}

    /// Prints every complete line of `bytes` (after what an earlier call left over); a
    /// partial last line waits for the rest. False when stdout is gone.
    bool feed(std::string_view bytes)
    {
        m_pending.append(bytes);
        std::size_t start = 0;
        for (std::size_t nl = m_pending.find('\n'); nl != std::string::npos; nl = m_pending.find('\n', start)) {
            line(std::string_view(m_pending).substr(start, nl - start));
            start = nl + 1;
        }
        m_pending.erase(0, start);
        std::cout << std::flush;
        return static_cast<bool>(std::cout);
    }
    /// Prints a partial last line too (the end of a log read without -f).
    void flush()
    {
        if (!m_pending.empty()) {
            line(m_pending);
            m_pending.clear();
        }
        std::cout << std::flush;
    }

private:
    void line(std::string_view text)
    {
        if (!m_render) {
            std::cout << text << '\n';
            return;
        }
        if (auto shown = render_daemon_log_line(text, m_colour)) {
            if (!m_header_shown) {
                std::cout << daemon_log_header(m_colour) << '\n';
                m_header_shown = true;
            }
            std::cout << *shown << '\n';
        } else {
            std::cout << text << '\n';
        }
    }

    bool m_render;
    bool m_colour;
    bool m_header_shown = false;
    std::string m_pending;
};

int run_logs(Context& ctx, const DaemonOptions& opts)
{
    const auto path = config::daemon_log_file(ctx.data_dir());
    std::ifstream in(path, std::ios::binary);
    if (!in && !opts.follow) {
        return fail("no daemon log at " + path.string() +
                    " (it is written when aigwd runs in the background: run 'aigw daemon start')");
    }
    LogPrinter out(!opts.json && is_tty(STDOUT_FILENO), colour_enabled(STDOUT_FILENO));
    std::uintmax_t offset = 0;
    if (in) {
        std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
        offset = text.size();
        // Without -f a partial last line is shown as it is; with -f it waits for its end.
        const std::string shown = last_lines(text, opts.lines);
        out.feed(shown);
        if (!opts.follow) {
            out.flush();
        }
    }
    if (!opts.follow) {
        return 0;
    }
    for (;;) {
        std::this_thread::sleep_for(milliseconds(200));
        std::error_code ec;
        const auto size = std::filesystem::file_size(path, ec);
        if (ec) {
            continue;
        }
        if (size < offset) {
            offset = 0;  // truncated or replaced: start over
        }
        if (size == offset) {
            continue;
        }
        std::ifstream f(path, std::ios::binary);
        f.seekg(static_cast<std::streamoff>(offset));
        std::string chunk(static_cast<std::size_t>(size - offset), '\0');
        f.read(chunk.data(), static_cast<std::streamsize>(chunk.size()));
        chunk.resize(static_cast<std::size_t>(f.gcount()));
        offset += chunk.size();
        if (!out.feed(chunk)) {
            return 0;
        }
    }
}

}  // namespace

void add_daemon_command(CLI::App& app, Context& ctx)
{
    auto o = std::make_shared<DaemonOptions>();
    auto* cmd = app.add_subcommand("daemon", "Start, stop and inspect the background aigwd");
    cmd->require_subcommand(1);
    auto* start = cmd->add_subcommand("start", "Start aigwd in the background (no-op when it runs)");
    start->callback([&ctx] { ctx.action = [&ctx] { return run_start(ctx); }; });
    auto* stop = cmd->add_subcommand("stop", "Stop aigwd (drains the ledger first)");
    stop->callback([&ctx] {
        ctx.config_optional = true;
        ctx.action = [&ctx] { return run_stop(ctx); };
    });
    auto* restart = cmd->add_subcommand("restart", "Stop aigwd and start it again (checks the config first)");
    restart->callback([&ctx] {
        ctx.config_optional = true;
        ctx.action = [&ctx] { return run_restart(ctx); };
    });
    auto* reload =
        cmd->add_subcommand("reload", "Apply the config file to the running aigwd; say what needs a restart");
    reload->add_flag("--json", o->json, "Print JSON");
    reload->callback([&ctx, o] {
        ctx.config_optional = true;
        ctx.action = [&ctx, o] { return run_reload(ctx, *o); };
    });
    auto* status = cmd->add_subcommand("status", "Show pid, port, version, uptime and requests (exit 3 if stopped)");
    status->add_flag("--json", o->json, "Print JSON");
    status->callback([&ctx, o] {
        ctx.config_optional = true;
        ctx.action = [&ctx, o] { return run_status(ctx, *o); };
    });
    // `aigw status`: the same report at the top level, where users look for it.
    auto* top = app.add_subcommand("status", "Show the daemon, each deployment's health and provider key states");
    top->add_flag("--json", o->json, "Print JSON");
    top->callback([&ctx, o] {
        ctx.config_optional = true;
        ctx.action = [&ctx, o] { return run_status(ctx, *o); };
    });
    auto* logs = cmd->add_subcommand("logs", "Print the end of the daemon log");
    logs->add_flag("-f,--follow", o->follow, "Keep printing new lines");
    logs->add_option("-n,--lines", o->lines, "How many lines (default 50)")->check(CLI::NonNegativeNumber);
    logs->add_flag("--json", o->json, "Print the log's lines as they are (the default when stdout is not a terminal)");
    logs->callback([&ctx, o] {
        ctx.config_optional = true;
        ctx.action = [&ctx, o] { return run_logs(ctx, *o); };
    });
}

}  // namespace aigw::cli

// The daemon's structured log: [log] format = "json" gives one JSON object per line, with
// one access line per request (served, unknown route, refused, failed upstream), and no
// key anywhere; `aigw daemon logs` prints it raw for scripts and aligned on a terminal.

#include "tests/integration/harness.hpp"

#include <doctest/doctest.h>

#include <chrono>
#include <fstream>
#include <sstream>
#include <thread>

using aigw::test::Daemon;
using aigw::test::DaemonOptions;
using aigw::test::FakeUpstream;
using aigw::test::lines_of;
using aigw::test::Process;
using aigw::test::PtySession;
using aigw::test::raw_request;
using aigw::test::run_command;
using aigw::test::status_of;
using nlohmann::json;

namespace {

json chat_body(const std::string& model)
{
    return {{"model", model}, {"messages", json::array({{{"role", "user"}, {"content", "hello log"}}})}};
}

/// The access lines ("msg": "request") of the daemon's log whose request_id or route matches.
std::vector<json> access_lines(const std::vector<json>& log, const std::string& key, const std::string& value)
{
    std::vector<json> out;
    for (const auto& doc : log) {
        if (doc.value("msg", "") == "request" && doc.value(key, "") == value) {
            out.push_back(doc);
        }
    }
    return out;
}

/// Every line of the log parsed; a line that is not a JSON object fails the test.
std::vector<json> parse_log(const std::string& text)
{
    std::vector<json> out;
    for (const auto& line : lines_of(text)) {
        if (line.empty()) {
            continue;
        }
        auto doc = json::parse(line, nullptr, false);
        CHECK_MESSAGE((!doc.is_discarded() && doc.is_object()), "not a JSON line: " << line);
        if (!doc.is_discarded() && doc.is_object()) {
            CHECK(doc.contains("ts"));
            CHECK(doc.contains("level"));
            CHECK(doc.contains("msg"));
            out.push_back(std::move(doc));
        }
    }
    return out;
}

}  // namespace

TEST_CASE("json log: served, unknown, refused and failed requests each leave one access line, and no key")
{
    FakeUpstream up;
    Daemon d(&up, {.config_toml = "[log]\nformat = \"json\"\n[routing]\nretries = 1\nbackoff_initial_ms = 10\n"});

    auto served = d.post("/v1/chat/completions", chat_body("openai/gpt-4o-mini"));
    REQUIRE(served);
    REQUIRE(served->status == 200);
    const std::string served_id = served->get_header_value("x-request-id");

    auto cli = d.client();
    auto unknown = cli.Get("/v1/no-such-thing?key=query-is-not-logged");
    REQUIRE(unknown);
    CHECK(unknown->status == 404);
    const std::string unknown_id = unknown->get_header_value("x-request-id");
    CHECK(unknown_id.starts_with("req_"));

    auto refused = d.post("/v1/chat/completions", chat_body("openai/gpt-4o-mini"), "wrong-gateway-key");
    REQUIRE(refused);
    CHECK(refused->status == 401);
    const std::string refused_id = refused->get_header_value("x-request-id");

    up.add_fault({{"kind", "500"}, {"count", 5}, {"model_contains", "gpt-4.1-nano"}});
    auto failed = d.post("/v1/chat/completions", chat_body("openai/gpt-4.1-nano"));
    REQUIRE(failed);
    CHECK(failed->status == 500);
    const std::string failed_id = failed->get_header_value("x-request-id");
    REQUIRE_FALSE(failed_id.empty());

    CHECK(d.stop() == 0);
    const std::string text = aigw::test::slurp(d.log_file());
    INFO(text);
    const auto log = parse_log(text);
    REQUIRE(log.size() >= 6);  // start-up, four requests, shutdown
    CHECK(log.front()["msg"].get<std::string>().find("listening on") != std::string::npos);
    CHECK(log.front()["port"] == d.port());

    const auto s = access_lines(log, "request_id", served_id);
    REQUIRE(s.size() == 1);
    CHECK(s[0]["level"] == "info");
    CHECK(s[0]["method"] == "POST");
    CHECK(s[0]["route"] == "/v1/chat/completions");
    CHECK(s[0]["status"] == 200);
    CHECK(s[0]["surface"] == "openai.chat");
    CHECK(s[0]["key_id"] == "default");
    CHECK(s[0]["requested_model"] == "openai/gpt-4o-mini");
    CHECK(s[0]["model"] == "openai/gpt-4o-mini");
    CHECK(s[0]["provider"] == "openai");
    CHECK(s[0]["attempts"] == 1);
    CHECK(s[0]["cache"] == "miss");
    CHECK(s[0]["tokens_in"].get<int>() > 0);
    CHECK(s[0]["tokens_out"].get<int>() > 0);
    CHECK(s[0]["cost_usd"].get<double>() > 0);
    CHECK(s[0]["latency_ms"].get<int>() >= 0);
    CHECK_FALSE(s[0].contains("error"));

    const auto u = access_lines(log, "request_id", unknown_id);
    REQUIRE(u.size() == 1);
    CHECK(u[0]["status"] == 404);
    CHECK(u[0]["method"] == "GET");
    CHECK(u[0]["route"] == "/v1/no-such-thing");  // the path without its query
    CHECK(u[0]["level"] == "warn");
    CHECK(u[0]["error"].get<std::string>().find("Unknown route") != std::string::npos);
    CHECK(u[0].value("user_agent", "").starts_with("cpp-httplib"));  // which tool called it
    // One entry for it: no plain "unknown route" line besides the access entry.
    std::size_t unknown_lines = 0;
    for (const auto& doc : log) {
        unknown_lines += doc.dump().find("no-such-thing") != std::string::npos ? 1 : 0;
    }
    CHECK(unknown_lines == 1);

    const auto r = access_lines(log, "request_id", refused_id);
    REQUIRE(r.size() == 1);
    CHECK(r[0]["status"] == 401);
    CHECK(r[0]["error_type"] == "authentication_error");
    CHECK_FALSE(r[0].contains("key_id"));  // nobody was authenticated
    CHECK_FALSE(r[0].contains("model"));

    const auto f = access_lines(log, "request_id", failed_id);
    REQUIRE(f.size() == 1);
    CHECK(f[0]["status"] == 500);
    CHECK(f[0]["level"] == "error");
    CHECK(f[0]["requested_model"] == "openai/gpt-4.1-nano");
    CHECK(f[0]["attempts"] == 2);
    CHECK(f[0]["error"].get<std::string>() != "");

    // One access line per request: four requests, four lines.
    CHECK(access_lines(log, "route", "/v1/chat/completions").size() == 3);
    std::size_t requests = 0;
    for (const auto& doc : log) {
        requests += doc.value("msg", "") == "request" ? 1 : 0;
    }
    CHECK(requests == 4);

    // No key in any line: neither the gateway key (nor the wrong one a client sent) nor a provider's.
    for (const auto* secret : {"test-gateway-key", "wrong-gateway-key", "SECRET", "query-is-not-logged"}) {
        CHECK_MESSAGE(text.find(secret) == std::string::npos, "the log holds " << secret);
    }
}

TEST_CASE(
    "json log: requests refused by the server itself (Host, 413) are logged; requests = false turns access lines off")
{
    {
        Daemon d(nullptr, {.config_toml = "[log]\nformat = \"json\"\n"});
        httplib::Client c("127.0.0.1", d.port());
        auto host = c.Get("/health", {{"Host", "evil.example"}});
        REQUIRE(host);
        CHECK(host->status == 403);
        // A body over the limit, announced by its Content-Length: refused before it is read.
        CHECK(status_of(raw_request(d.port(),
                                    "POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                                    "Content-Type: application/json\r\nContent-Length: 99999999999\r\n\r\n{")) == 413);
        CHECK(d.stop() == 0);
        const auto log = parse_log(aigw::test::slurp(d.log_file()));
        const auto hosts = access_lines(log, "route", "/health");
        REQUIRE(hosts.size() == 1);
        CHECK(hosts[0]["status"] == 403);
        CHECK(hosts[0]["request_id"].get<std::string>().starts_with("req_"));
        const auto bigs = access_lines(log, "route", "/v1/chat/completions");
        REQUIRE(bigs.size() == 1);
        CHECK(bigs[0]["status"] == 413);
    }
    {
        Daemon d(nullptr, {.config_toml = "[log]\nformat = \"json\"\nrequests = false\n"});
        CHECK(d.get("/health")->status == 200);
        CHECK(d.stop() == 0);
        const auto log = parse_log(aigw::test::slurp(d.log_file()));
        CHECK(access_lines(log, "route", "/health").empty());
        CHECK(log.size() >= 2);  // start-up and shutdown are still there
    }
}

TEST_CASE("text log: with requests = true a person sees one access line per request; by default none")
{
    auto count = [](const std::string& text, std::string_view what) {
        std::size_t n = 0;
        for (const auto& line : lines_of(text)) {
            n += line.find(what) != std::string::npos ? 1 : 0;
        }
        return n;
    };
    {
        Daemon quiet(nullptr);
        REQUIRE(quiet.get("/health"));
        REQUIRE(quiet.get("/v1/nowhere")->status == 404);
        CHECK(quiet.stop() == 0);
        const std::string text = aigw::test::slurp(quiet.log_file());
        INFO(text);
        CHECK(text.find("listening on") != std::string::npos);
        CHECK(text.find("GET /health") == std::string::npos);
        // Without access lines an unknown route still gets its own line (a tool that fails shows why).
        CHECK(count(text, "unknown route GET /v1/nowhere (user agent 'cpp-httplib") == 1);
    }
    Daemon d(nullptr, {.config_toml = "[log]\nrequests = true\n"});
    auto ok = d.get("/health");
    REQUIRE(ok);
    REQUIRE(d.get("/v1/nowhere")->status == 404);
    CHECK(d.stop() == 0);
    const std::string text = aigw::test::slurp(d.log_file());
    INFO(text);
    CHECK(text.find("aigwd: 200 GET /health ") != std::string::npos);
    // With them, its access line is the only one, with the user agent.
    CHECK(count(text, "/v1/nowhere") == 1);
    CHECK(count(text, "aigwd: 404 GET /v1/nowhere ") == 1);
    CHECK(count(text, "agent=\"cpp-httplib") == 1);
    CHECK(text.find("listening on") != std::string::npos);
    for (const auto& line : lines_of(text)) {
        CHECK_FALSE(line.starts_with("{"));
    }
}

TEST_CASE(
    "aigw daemon logs: --json and pipes get the file's lines, a terminal gets aligned columns, -f waits for whole "
    "lines")
{
    FakeUpstream up;
    Daemon d(&up, {.config_toml = "[log]\nformat = \"json\"\n"});
    REQUIRE(d.post("/v1/chat/completions", chat_body("openai/gpt-4o-mini"))->status == 200);
    REQUIRE(d.client().Get("/v1/unknown")->status == 404);
    CHECK(d.stop() == 0);
    const std::string text = aigw::test::slurp(d.log_file());
    const auto all = lines_of(text);
    REQUIRE(all.size() >= 4);

    // What `aigw daemon start` would have written: the daemon log in the data dir.
    const auto data = aigw::test::make_temp_dir("jsonlog-cli");
    std::ofstream(data / "aigwd.log") << text;
    auto env = aigw::test::cli_env(d);
    env["AIGW_DATA_DIR"] = data.string();
    env["TZ"] = "UTC";

    auto raw = run_command({AIGW_PATH, "daemon", "logs", "--json", "-n", "3"}, env);
    REQUIRE_MESSAGE(raw.exit_code == 0, raw.err);
    const std::vector<std::string> last3(all.end() - 3, all.end());
    CHECK(lines_of(raw.out) == last3);
    auto piped = run_command({AIGW_PATH, "daemon", "logs", "-n", "5"}, env);
    CHECK(lines_of(piped.out) == std::vector<std::string>(all.end() - 5, all.end()));

    {
        PtySession t({AIGW_PATH, "daemon", "logs", "-n", "5"}, env, 200);
        CHECK(t.finish() == 0);
        const auto shown = lines_of(t.screen());
        INFO(t.screen());
        REQUIRE(shown.size() == 6);  // the header and five lines
        const auto& header = shown[0];
        CHECK(header.starts_with("TIME"));
        const auto route_at = header.find("ROUTE");
        const auto request_at = header.find("REQUEST");
        int access = 0;
        for (std::size_t i = 1; i < shown.size(); ++i) {
            CHECK_FALSE(shown[i].starts_with("{"));  // rendered, not raw JSON
            if (shown[i].find("req_") != std::string::npos) {
                ++access;
                CHECK(shown[i].find("/v1/") == route_at);
                CHECK(shown[i].find("req_") == request_at);
            }
        }
        CHECK(access == 2);
        CHECK(t.screen().find("openai/gpt-4o-mini") != std::string::npos);
        CHECK(t.screen().find(" 404 ") != std::string::npos);
    }

    // -f: lines appended later come out whole, even when written in two pieces.
    Process follow({AIGW_PATH, "daemon", "logs", "-f", "--json", "-n", "1"}, env, data / "follow.stderr");
    CHECK(follow.read_line(5000) == all.back());
    const std::string added = R"({"ts":"2026-12-05T07:00:00.000Z","level":"info","msg":"appended later"})";
    {
        std::ofstream out(data / "aigwd.log", std::ios::app);
        out << added.substr(0, 20) << std::flush;
    }
    CHECK(follow.read_line(700) == "");  // half a line is not printed
    {
        std::ofstream out(data / "aigwd.log", std::ios::app);
        out << added.substr(20) << "\n" << std::flush;
    }
    CHECK(follow.read_line(5000) == added);
    follow.kill_now();

    // On a terminal too: half a JSON line is neither rendered nor printed raw.
    PtySession t({AIGW_PATH, "daemon", "logs", "-f", "-n", "1"}, env, 200);
    CHECK(t.wait_for("appended later"));
    const std::string second = R"({"ts":"2026-12-05T07:00:01.000Z","level":"warn","msg":"written in two pieces"})";
    {
        std::ofstream out(data / "aigwd.log", std::ios::app);
        out << second.substr(0, 30) << std::flush;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(600));
    {
        std::ofstream out(data / "aigwd.log", std::ios::app);
        out << second.substr(30) << "\n" << std::flush;
    }
    CHECK(t.wait_for("written in two pieces"));
    INFO(t.screen());
    CHECK(t.screen().find("{\"ts\"") == std::string::npos);
    CHECK(t.screen().find("warn") != std::string::npos);
}

// `aigw logs -q`: bodies stored once per prompt prefix and searched, end to end: a daemon
// with body logging on, conversations through its chat and messages surfaces, then the CLI.

#include "tests/integration/harness.hpp"

#include <SQLiteCpp/SQLiteCpp.h>
#include <doctest/doctest.h>

#include <string>
#include <vector>

using aigw::test::cli_env;
using aigw::test::Daemon;
using aigw::test::DaemonOptions;
using aigw::test::run_command;
using nlohmann::json;

namespace {

/// POSTs `body` to `path` and returns the request id the gateway gave it.
std::string send(const Daemon& d, const std::string& path, const json& body)
{
    auto r = d.post(path, body);
    REQUIRE(r);
    REQUIRE_MESSAGE(r->status == 200, r->body);
    const std::string id = r->get_header_value("x-request-id");
    REQUIRE(!id.empty());
    return id;
}

json run_json(const Daemon& d, const std::vector<std::string>& args)
{
    std::vector<std::string> argv{AIGW_PATH};
    argv.insert(argv.end(), args.begin(), args.end());
    auto r = run_command(argv, cli_env(d));
    REQUIRE_MESSAGE(r.exit_code == 0, r.err);
    auto doc = json::parse(r.out, nullptr, false);
    REQUIRE_MESSAGE(!doc.is_discarded(), "not JSON: " << r.out);
    return doc;
}

std::vector<std::string> ids_of(const json& rows)
{
    std::vector<std::string> ids;
    for (const auto& r : rows) {
        ids.push_back(r["request_id"].get<std::string>());
    }
    return ids;
}

}  // namespace

TEST_CASE("aigw logs -q finds the conversation that mentioned the words, with filters, JSON, CSV and usage errors")
{
    DaemonOptions opts;
    opts.config_toml = "[ledger]\nlog_bodies = true\n";
    Daemon d(nullptr, opts);

    // Conversation A over the OpenAI chat surface: three turns, the refund question first.
    json a = {{"model", "mock/echo"},
              {"messages", json::array({{{"role", "system"}, {"content", "You are the shop's support agent."}},
                                        {{"role", "user"}, {"content", "What is your refund policy?"}}})}};
    const std::string a1 = send(d, "/v1/chat/completions", a);
    a["messages"].push_back({{"role", "assistant"}, {"content", "Thirty days."}});
    a["messages"].push_back({{"role", "user"}, {"content", "And for gift cards?"}});
    const std::string a2 = send(d, "/v1/chat/completions", a);
    a["messages"].push_back({{"role", "assistant"}, {"content", "Not refundable."}});
    a["messages"].push_back({{"role", "user"}, {"content", "Thanks, bye"}});
    const std::string a3 = send(d, "/v1/chat/completions", a);
    // Conversation B over the Anthropic messages surface, about something else.
    json b = {{"model", "mock/echo"},
              {"max_tokens", 64},
              {"system", "You are a weather bot."},
              {"messages", json::array({{{"role", "user"}, {"content", "Will it rain in Lisbon tomorrow?"}}})}};
    const std::string b1 = send(d, "/v1/messages", b);
    b["messages"].push_back({{"role", "assistant"}, {"content", "Probably."}});
    b["messages"].push_back({{"role", "user"}, {"content", "And in Porto?"}});
    const std::string b2 = send(d, "/v1/messages", b);

    // The match is in A's first turn's history: listed once, at the request that sent it.
    const json hits = run_json(d, {"logs", "-q", "refund policy", "--json"});
    REQUIRE(hits.is_array());
    CHECK(ids_of(hits) == std::vector<std::string>{a1});
    CHECK(hits[0]["snippet"].get<std::string>().find("[refund]") != std::string::npos);
    CHECK(ids_of(run_json(d, {"logs", "-q", "gift", "--json"})) == std::vector<std::string>{a2});
    CHECK(ids_of(run_json(d, {"logs", "-q", "Lisbon OR Porto", "--json"})) == std::vector<std::string>{b2, b1});
    CHECK(run_json(d, {"logs", "-q", "\"weather bot\"", "--json"})[0]["surface"] == "anthropic.messages");
    CHECK(run_json(d, {"logs", "-q", "volcano", "--json"}).empty());

    // Filters combine with the search.
    CHECK(ids_of(run_json(d, {"logs", "-q", "refund OR Lisbon", "--model", "mock/echo", "--status", "200", "--since",
                              "1d", "--key", "default", "--json"})) == std::vector<std::string>{b1, a1});
    CHECK(run_json(d, {"logs", "-q", "refund OR Lisbon", "--status", "4xx", "--json"}).empty());
    CHECK(run_json(d, {"logs", "-q", "refund OR Lisbon", "--model", "openai/gpt-4o", "--json"}).empty());
    CHECK(run_json(d, {"logs", "-q", "refund OR Lisbon", "--key", "someone-else", "--json"}).empty());
    CHECK(ids_of(run_json(d, {"logs", "-q", "refund OR Lisbon", "--limit", "1", "--json"})) ==
          std::vector<std::string>{b1});

    // The stored bodies come back as sent: turn 3 is rebuilt from the shared nodes.
    const json show = run_json(d, {"logs", "show", a3, "--json"});
    REQUIRE(show["attempts"].size() == 1);
    CHECK(json::parse(show["attempts"][0]["request_body"].get<std::string>()) == a);
    const json show_b = run_json(d, {"logs", "show", b2, "--json"});
    CHECK(json::parse(show_b["attempts"][0]["request_body"].get<std::string>()) == b);

    // The table and the CSV.
    auto table = run_command({AIGW_PATH, "logs", "-q", "refund"}, cli_env(d));
    REQUIRE(table.exit_code == 0);
    CHECK(table.out.find("MATCH") != std::string::npos);
    CHECK(table.out.find(a1) != std::string::npos);
    CHECK(table.out.find("[refund]") != std::string::npos);
    auto csv = run_command({AIGW_PATH, "logs", "-q", "refund", "--csv"}, cli_env(d));
    REQUIRE(csv.exit_code == 0);
    CHECK(csv.out.substr(0, csv.out.find('\n')).ends_with(",snippet"));
    CHECK(csv.out.find(a1) != std::string::npos);

    // Usage errors exit 2 and say what to do; the daemon keeps serving.
    auto bad = run_command({AIGW_PATH, "logs", "-q", "\"unterminated"}, cli_env(d));
    CHECK(bad.exit_code == 2);
    CHECK(bad.err.find("not a valid search query") != std::string::npos);
    auto hyphen = run_command({AIGW_PATH, "logs", "-q", "gift-card"}, cli_env(d));
    CHECK(hyphen.exit_code == 2);
    CHECK(hyphen.err.find("double quotes") != std::string::npos);
    auto status = run_command({AIGW_PATH, "logs", "-q", "refund", "--status", "teapot"}, cli_env(d));
    CHECK(status.exit_code == 2);
    CHECK(status.err.find("4xx") != std::string::npos);
    auto since = run_command({AIGW_PATH, "logs", "--since", "last tuesday"}, cli_env(d));
    CHECK(since.exit_code == 2);
    CHECK(d.get("/aigw/v1/logs?limit=1")->status == 200);

    // The filters work without -q too.
    CHECK(ids_of(run_json(d, {"logs", "--status", "200", "--since", "1d", "--json", "-n", "2"})) ==
          std::vector<std::string>{b1, b2});

    // Each message was stored once: A has 1 system + 3 user + 2 assistant messages; B has
    // 1 system + 2 user + 1 assistant.
    d.stop();
    SQLite::Database db(d.data_dir() / "ledger.db", SQLite::OPEN_READONLY);
    CHECK(db.execAndGet("SELECT COUNT(*) FROM body_nodes").getInt() == 6 + 4);
}

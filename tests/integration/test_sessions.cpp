// Agent sessions end to end: a session from the /s/{session}/ path, x-aigw-session or an
// agent's own header reaches the ledger, `aigw cost --by session` and `aigw logs --session`;
// `aigw claude|codex` run the agent found on PATH pointed at the daemon in a new session.

#include "tests/integration/harness.hpp"

#include <doctest/doctest.h>

#include <sys/stat.h>

#include <fstream>
#include <regex>
#include <sstream>

using aigw::test::cli_env;
using aigw::test::Daemon;
using aigw::test::FakeUpstream;
using aigw::test::lines_of;
using aigw::test::run_command;
using nlohmann::json;

namespace {

json chat_body(const std::string& text)
{
    return {{"model", "mock/echo"}, {"messages", json::array({{{"role", "user"}, {"content", text}}})}};
}

/// POST a chat with extra headers; returns the status.
int post_chat(const Daemon& d, const std::string& path, const httplib::Headers& headers)
{
    auto c = d.client();
    httplib::Headers h = headers;
    h.emplace("Authorization", "Bearer test-gateway-key");
    auto r = c.Post(path, h, chat_body("hello").dump(), "application/json");
    REQUIRE(r);
    return r->status;
}

/// requests per session from `aigw cost --by session --json`.
std::map<std::string, std::int64_t> requests_by_session(const Daemon& d)
{
    auto r = run_command({AIGW_PATH, "cost", "--by", "session", "--json"}, cli_env(d));
    REQUIRE_MESSAGE(r.exit_code == 0, r.err);
    const json doc = json::parse(r.out);
    std::map<std::string, std::int64_t> out;
    for (const auto& g : doc["groups"]) {
        out[g["key"].get<std::string>()] = g["requests"].get<std::int64_t>();
    }
    return out;
}

/// A fake agent: a shell script that records its arguments and environment in `out_dir`.
void write_fake_agent(const std::filesystem::path& bin_dir, const std::string& name,
                      const std::filesystem::path& out_dir)
{
    std::filesystem::create_directories(bin_dir);
    const auto path = bin_dir / name;
    std::ofstream(path) << "#!/bin/sh\n"
                        << "for a in \"$@\"; do printf '%s\\n' \"$a\"; done > '" << (out_dir / "args").string() << "'\n"
                        << "env > '" << (out_dir / "env").string() << "'\n"
                        << "exit 7\n";
    ::chmod(path.c_str(), 0755);
}

std::map<std::string, std::string> env_file(const std::filesystem::path& p)
{
    std::map<std::string, std::string> out;
    for (const auto& line : lines_of(aigw::test::slurp(p))) {
        const auto eq = line.find('=');
        if (eq != std::string::npos) {
            out[line.substr(0, eq)] = line.substr(eq + 1);
        }
    }
    return out;
}

}  // namespace

TEST_CASE("a session from the path, x-aigw-session or an agent's header is recorded and reported")
{
    FakeUpstream up;
    Daemon d(&up);
    CHECK(post_chat(d, "/s/path-session/v1/chat/completions", {}) == 200);
    CHECK(post_chat(d, "/s/path-session/v1/chat/completions", {}) == 200);
    CHECK(post_chat(d, "/v1/chat/completions",
                    {{"x-claude-code-session-id", "d6caeff6-37d9-4b7b-b863-e46e24adebbb"}}) == 200);
    CHECK(post_chat(d, "/v1/chat/completions", {{"session-id", "01a243ef-3064-7102-87c0-ac6c69c61ce3"}}) == 200);
    CHECK(post_chat(d, "/v1/chat/completions", {{"X-Session-Id", "ses_abc"}}) == 200);
    // x-aigw-session wins over an agent's header; an agent's header that is no id is ignored.
    CHECK(post_chat(d, "/v1/chat/completions", {{"x-aigw-session", "mine"}, {"x-claude-code-session-id", "theirs"}}) ==
          200);
    CHECK(post_chat(d, "/v1/chat/completions", {{"x-claude-code-session-id", "not an id"}}) == 200);
    CHECK(post_chat(d, "/v1/chat/completions", {}) == 200);
    // The Anthropic surface under the prefix too.
    {
        auto c = d.client();
        const json body = {{"model", "mock/echo"},
                           {"max_tokens", 50},
                           {"messages", json::array({{{"role", "user"}, {"content", "hi"}}})}};
        auto r = c.Post("/s/anthropic-session/v1/messages",
                        httplib::Headers{{"x-api-key", "test-gateway-key"}, {"anthropic-version", "2023-06-01"}},
                        body.dump(), "application/json");
        REQUIRE(r);
        CHECK(r->status == 200);
    }
    // A session that is not an id is refused, saying what an id is.
    {
        auto c = d.client();
        auto r = c.Post("/v1/chat/completions",
                        httplib::Headers{{"Authorization", "Bearer test-gateway-key"}, {"x-aigw-session", "a b"}},
                        chat_body("x").dump(), "application/json");
        REQUIRE(r);
        CHECK(r->status == 400);
        CHECK(r->body.find("x-aigw-session") != std::string::npos);
        r = c.Post("/s/a%20b/v1/chat/completions", httplib::Headers{{"Authorization", "Bearer test-gateway-key"}},
                   chat_body("x").dump(), "application/json");
        REQUIRE(r);
        CHECK(r->status == 400);
        CHECK(r->body.find("A-Z, a-z, 0-9") != std::string::npos);
    }

    const auto by_session = requests_by_session(d);
    CHECK(by_session.at("path-session") == 2);
    CHECK(by_session.at("d6caeff6-37d9-4b7b-b863-e46e24adebbb") == 1);
    CHECK(by_session.at("01a243ef-3064-7102-87c0-ac6c69c61ce3") == 1);
    CHECK(by_session.at("ses_abc") == 1);
    CHECK(by_session.at("mine") == 1);
    CHECK(by_session.count("theirs") == 0);
    CHECK(by_session.at("anthropic-session") == 1);
    CHECK(by_session.at("") >= 2);

    auto logs = run_command({AIGW_PATH, "logs", "--session", "path-session", "--json"}, cli_env(d));
    REQUIRE_MESSAGE(logs.exit_code == 0, logs.err);
    const auto rows = json::parse(logs.out);
    REQUIRE(rows.size() == 2);
    for (const auto& row : rows) {
        CHECK(row["session"] == "path-session");
        CHECK(row["surface"] == "openai.chat");
    }
    auto none = run_command({AIGW_PATH, "logs", "--session", "nobody"}, cli_env(d));
    CHECK(none.exit_code == 0);
    CHECK(none.err.find("aigw cost --by session") != std::string::npos);

    auto table = run_command({AIGW_PATH, "cost", "--by", "session"}, cli_env(d));
    REQUIRE(table.exit_code == 0);
    CHECK(table.out.find("SESSION") != std::string::npos);
    CHECK(table.out.find("path-session") != std::string::npos);
    CHECK(table.out.find("(none)") != std::string::npos);
}

TEST_CASE("aigw claude runs Claude Code from PATH at the daemon in a new session, the key only in its environment")
{
    FakeUpstream up;
    Daemon d(&up);
    const auto dir = aigw::test::make_temp_dir("agents");
    write_fake_agent(dir / "bin", "claude", dir);
    auto env = cli_env(d);
    env["PATH"] = (dir / "bin").string() + ":/usr/bin:/bin";
    auto r = run_command({AIGW_PATH, "claude", "-m", "mock/echo", "--", "-p", "hello there"}, env);
    CHECK_MESSAGE(r.exit_code == 7, r.err);  // the agent's own exit code: aigw exec'd it
    CHECK(lines_of(aigw::test::slurp(dir / "args")) == std::vector<std::string>{"-p", "hello there"});
    auto agent_env = env_file(dir / "env");
    const std::string base = agent_env["ANTHROPIC_BASE_URL"];
    std::smatch m;
    REQUIRE_MESSAGE(std::regex_match(base, m,
                                     std::regex("http://127\\.0\\.0\\.1:" + std::to_string(d.port()) +
                                                "/s/(claude-[0-9]+-[0-9a-f]{6})")),
                    base);
    const std::string session = m[1];
    CHECK(agent_env["ANTHROPIC_AUTH_TOKEN"] == "test-gateway-key");
    CHECK(agent_env.count("ANTHROPIC_API_KEY") == 0);  // the user's provider key stays out
    CHECK(agent_env["ANTHROPIC_MODEL"] == "mock/echo");
    CHECK(aigw::test::slurp(dir / "args").find("test-gateway-key") == std::string::npos);
    CHECK(r.err.empty());  // not a terminal: nothing said

    // What the agent sends to that base URL is the session's.
    auto c = d.client();
    auto sent = c.Post("/s/" + session + "/v1/messages",
                       httplib::Headers{{"Authorization", "Bearer " + agent_env["ANTHROPIC_AUTH_TOKEN"]},
                                        {"anthropic-version", "2023-06-01"}},
                       json({{"model", "mock/echo"},
                             {"max_tokens", 20},
                             {"messages", json::array({{{"role", "user"}, {"content", "hi"}}})}})
                           .dump(),
                       "application/json");
    REQUIRE(sent);
    CHECK(sent->status == 200);
    CHECK(requests_by_session(d).at(session) == 1);
}

TEST_CASE("aigw codex passes a provider at the daemon by -c overrides and the key by the variable it names")
{
    FakeUpstream up;
    Daemon d(&up);
    const auto dir = aigw::test::make_temp_dir("agents");
    write_fake_agent(dir / "bin", "codex", dir);
    auto env = cli_env(d);
    env["PATH"] = (dir / "bin").string() + ":/usr/bin:/bin";
    auto r = run_command({AIGW_PATH, "codex", "--", "exec", "hi"}, env);
    CHECK_MESSAGE(r.exit_code == 7, r.err);
    const auto args = lines_of(aigw::test::slurp(dir / "args"));
    REQUIRE(args.size() >= 2);
    CHECK(args[args.size() - 2] == "exec");
    CHECK(args.back() == "hi");
    const std::string joined = aigw::test::slurp(dir / "args");
    CHECK(std::regex_search(joined, std::regex("model_providers\\.aigw\\.base_url=\"http://127\\.0\\.0\\.1:" +
                                               std::to_string(d.port()) + "/s/codex-[0-9]+-[0-9a-f]{6}/v1\"")));
    CHECK(joined.find("model_providers.aigw.env_key=\"AIGW_API_KEY\"") != std::string::npos);
    CHECK(joined.find("test-gateway-key") == std::string::npos);
    CHECK(env_file(dir / "env")["AIGW_API_KEY"] == "test-gateway-key");
}

TEST_CASE("a missing agent: a message naming its npm package, exit 127, and no daemon needed")
{
    const auto dir = aigw::test::make_temp_dir("agents");
    std::filesystem::create_directories(dir / "empty");
    std::map<std::string, std::string> env{{"PATH", (dir / "empty").string()},
                                           {"AIGW_HOST", "http://127.0.0.1:1"},
                                           {"XDG_DATA_HOME", (dir / "data").string()},
                                           {"XDG_CONFIG_HOME", (dir / "config").string()}};
    for (const auto& [agent, package] :
         std::vector<std::pair<std::string, std::string>>{{"claude", "@anthropic-ai/claude-code"},
                                                          {"codex", "@openai/codex"},
                                                          {"gemini", "@google/gemini-cli"},
                                                          {"opencode", "opencode-ai"}}) {
        CAPTURE(agent);
        auto r = run_command({AIGW_PATH, agent}, env);
        CHECK(r.exit_code == 127);
        CHECK(r.err.find("npm install -g " + package) != std::string::npos);
    }
}

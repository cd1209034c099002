// The aigw CLI against a real aigwd: what a user types, what they see, and exit codes.

#include "tests/integration/harness.hpp"

#include <SQLiteCpp/SQLiteCpp.h>
#include <doctest/doctest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fstream>
#include <sstream>
#include <thread>

using aigw::test::Daemon;
using aigw::test::FakeUpstream;
using aigw::test::run_command;
using nlohmann::json;

namespace {

/// Environment for the CLI to reach `d` through AIGW_HOST, never spawning another daemon.
std::map<std::string, std::string> cli_env(const Daemon& d)
{
    auto env = d.env();
    env["AIGW_HOST"] = "http://127.0.0.1:" + std::to_string(d.port());
    env["NO_COLOR"] = "1";
    return env;
}

/// A port nobody listens on right now (bound to 0, read back, closed).
int free_port()
{
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    REQUIRE(fd >= 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
    socklen_t len = sizeof addr;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
    ::close(fd);
    return ntohs(addr.sin_port);
}

}  // namespace

TEST_CASE("aigw run prints only the streamed answer on stdout")
{
    Daemon d(nullptr);
    auto r = run_command({AIGW_PATH, "run", "-m", "mock/echo", "hello", "cli"}, cli_env(d));
    CHECK(r.exit_code == 0);
    CHECK(r.out == "Mock answer from mock/echo: hello cli\n");
}

TEST_CASE("aigw run reads a piped prompt and appends it to the argument prompt")
{
    Daemon d(nullptr);
    auto only_stdin = run_command({AIGW_PATH, "run", "-m", "mock/echo"}, cli_env(d), "from a pipe\n");
    CHECK(only_stdin.exit_code == 0);
    CHECK(only_stdin.out.find("from a pipe") != std::string::npos);

    auto both = run_command({AIGW_PATH, "run", "-m", "mock/echo", "summarise:"}, cli_env(d), "piped text");
    CHECK(both.exit_code == 0);
    CHECK(both.out.find("summarise:") != std::string::npos);
    CHECK(both.out.find("piped text") != std::string::npos);
    CHECK(both.out.find("summarise:") < both.out.find("piped text"));
}

TEST_CASE("aigw run --json prints the full response as JSON")
{
    Daemon d(nullptr);
    auto r = run_command({AIGW_PATH, "run", "--json", "-m", "mock/echo", "json please"}, cli_env(d));
    CHECK(r.exit_code == 0);
    auto doc = json::parse(r.out, nullptr, false);
    REQUIRE_FALSE(doc.is_discarded());
    CHECK(doc["object"] == "chat.completion");
    CHECK(doc["choices"][0]["message"]["content"] == "Mock answer from mock/echo: json please");
}

TEST_CASE("aigw run exits non-zero with a clear message on errors, and stdout stays empty")
{
    FakeUpstream up;
    Daemon d(&up);
    auto unknown = run_command({AIGW_PATH, "run", "-m", "nosuch/model", "x"}, cli_env(d));
    CHECK(unknown.exit_code != 0);
    CHECK(unknown.out.empty());
    CHECK(unknown.err.find("nosuch/model") != std::string::npos);

    auto limited = run_command({AIGW_PATH, "run", "-m", "openai/fault-429", "x"}, cli_env(d));
    CHECK(limited.exit_code != 0);
    CHECK(limited.out.empty());
    CHECK(limited.err.find("429") != std::string::npos);

    auto cut = run_command({AIGW_PATH, "run", "-m", "openai/fault-cut", "x"}, cli_env(d));
    CHECK(cut.exit_code != 0);
}

TEST_CASE("aigw models --json lists mock and priced catalog models with key status")
{
    FakeUpstream up;
    Daemon d(&up);
    auto r = run_command({AIGW_PATH, "models", "--json"}, cli_env(d));
    REQUIRE(r.exit_code == 0);
    auto doc = json::parse(r.out, nullptr, false);
    REQUIRE_FALSE(doc.is_discarded());
    bool openai_with_key = false;
    bool mock = false;
    const json& list = doc.is_array() ? doc : doc["models"];
    for (const auto& m : list) {
        if (m["id"] == "openai/gpt-4o-mini") {
            openai_with_key = m["key_present"] == true && m["price"]["input"].get<double>() > 0;
        }
        mock |= m["id"] == "mock/echo";
    }
    CHECK(openai_with_key);
    CHECK(mock);
}

TEST_CASE("aigw cost reports what the ledger holds, as JSON and as an aligned table")
{
    FakeUpstream up;
    Daemon d(&up);
    for (int i = 0; i < 3; ++i) {
        REQUIRE(d.post("/v1/chat/completions", {{"model", "openai/gpt-4o-mini"},
                                                {"messages", json::array({{{"role", "user"}, {"content", "cost me"}}})}})
                    ->status == 200);
    }
    REQUIRE(d.post("/v1/chat/completions", {{"model", "mock/echo"}, {"messages", json::array({{{"role", "user"}, {"content", "free"}}})}})
                ->status == 200);
    auto r = run_command({AIGW_PATH, "cost", "--json"}, cli_env(d));
    REQUIRE(r.exit_code == 0);
    auto doc = json::parse(r.out);
    std::int64_t openai_requests = 0;
    double openai_cost = 0;
    for (const auto& g : doc["groups"]) {
        if (g["key"] == "openai/gpt-4o-mini") {
            openai_requests = g["requests"].get<std::int64_t>();
            openai_cost = g["cost_usd"].get<double>();
        }
    }
    CHECK(openai_requests == 3);
    CHECK(openai_cost > 0);
    CHECK(doc["total"]["requests"].get<int>() == 4);

    auto table = run_command({AIGW_PATH, "cost"}, cli_env(d));
    REQUIRE(table.exit_code == 0);
    // Every line of the table is as wide as the header: columns line up.
    std::istringstream in(table.out);
    std::string line;
    std::vector<std::string> lines;
    while (std::getline(in, line)) {
        if (!line.empty()) {
            lines.push_back(line);
        }
    }
    REQUIRE(lines.size() >= 3);
    CHECK(lines[0].find("openai/gpt-4o-mini") == std::string::npos);  // header first
    bool found = false;
    for (const auto& l : lines) {
        found |= l.find("openai/gpt-4o-mini") != std::string::npos;
    }
    CHECK(found);
}

TEST_CASE("any aigw command starts the daemon when none runs, and daemon stop drains and stops it")
{
    const auto dir = aigw::test::make_temp_dir("spawn");
    std::map<std::string, std::string> env = {{"AIGW_API_KEY", "spawn-key"},
                                              {"XDG_CONFIG_HOME", (dir / "cfg").string()},
                                              {"AIGWD_PATH", AIGWD_PATH},
                                              {"NO_COLOR", "1"}};
    // A free port for the spawned daemon, through its config file.
    std::filesystem::create_directories(dir / "cfg" / "aigw");
    std::ofstream(dir / "cfg" / "aigw" / "config.toml") << "[server]\nport = " << free_port() << "\n";
    const std::string data = (dir / "data").string();
    auto no_spawn = run_command({AIGW_PATH, "--data-dir", data, "--no-spawn", "run", "-m", "mock/echo", "x"}, env);
    CHECK(no_spawn.exit_code != 0);

    auto first = run_command({AIGW_PATH, "--data-dir", data, "run", "-m", "mock/echo", "spawned"}, env);
    CHECK_MESSAGE(first.exit_code == 0, first.err);
    CHECK(first.out == "Mock answer from mock/echo: spawned\n");
    REQUIRE(std::filesystem::exists(std::filesystem::path(data) / "aigwd.json"));

    auto status = run_command({AIGW_PATH, "--data-dir", data, "daemon", "status"}, env);
    CHECK(status.exit_code == 0);

    auto stop = run_command({AIGW_PATH, "--data-dir", data, "daemon", "stop"}, env);
    CHECK(stop.exit_code == 0);
    CHECK_FALSE(std::filesystem::exists(std::filesystem::path(data) / "aigwd.json"));
    auto after = run_command({AIGW_PATH, "--data-dir", data, "daemon", "status"}, env);
    CHECK(after.exit_code == 3);
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
}

TEST_CASE("aigw keys set reads the key from stdin, stores it 0600, and never echoes it")
{
    Daemon d(nullptr);
    auto env = cli_env(d);
    auto set = run_command({AIGW_PATH, "--data-dir", d.data_dir().string(), "keys", "set", "groq"}, env, "gsk-PIPED-SECRET-0000\n");
    CHECK(set.exit_code == 0);
    CHECK(set.out.find("PIPED-SECRET") == std::string::npos);
    CHECK(set.err.find("PIPED-SECRET") == std::string::npos);
    const auto file = d.data_dir() / "provider-keys.json";
    REQUIRE(std::filesystem::exists(file));
    CHECK((std::filesystem::status(file).permissions() & (std::filesystem::perms::group_all | std::filesystem::perms::others_all)) ==
          std::filesystem::perms::none);
    auto list = run_command({AIGW_PATH, "--data-dir", d.data_dir().string(), "keys", "list"}, env);
    CHECK(list.exit_code == 0);
    CHECK(list.out.find("groq") != std::string::npos);
    CHECK(list.out.find("PIPED-SECRET") == std::string::npos);
    // The daemon reloaded its keys: groq now routes (and fails upstream, not on the key).
    auto r = d.post("/v1/chat/completions", {{"model", "groq/llama-3.3-70b-versatile"}, {"messages", json::array({{{"role", "user"}, {"content", "x"}}})}});
    CHECK(r->status != 401);
}

TEST_CASE("aigw chat keeps the conversation, switches model with /model, and leaves on /exit")
{
    Daemon d(nullptr);
    auto r = run_command({AIGW_PATH, "chat", "-m", "mock/first"}, cli_env(d),
                         "hello one\n/model mock/second\nhello two\n/exit\nnot sent\n");
    CHECK(r.exit_code == 0);
    CHECK(r.out.find("Mock answer from mock/first: hello one") != std::string::npos);
    CHECK(r.out.find("Mock answer from mock/second: hello two") != std::string::npos);
    CHECK(r.out.find("not sent") == std::string::npos);
    REQUIRE(d.stop() == 0);
    // The second turn carried the first question and answer: its prompt is larger.
    SQLite::Database db((d.data_dir() / "ledger.db").string(), SQLite::OPEN_READONLY);
    const auto first = db.execAndGet("SELECT input_tokens FROM requests WHERE served_model = 'mock/first'").getInt64();
    const auto second = db.execAndGet("SELECT input_tokens FROM requests WHERE served_model = 'mock/second'").getInt64();
    CHECK(second > first + 10);
    CHECK(db.execAndGet("SELECT COUNT(*) FROM requests").getInt() == 2);
}

TEST_CASE("Ctrl-C in aigw chat stops the current answer without leaving the chat")
{
    Daemon d(nullptr);
    const auto dir = aigw::test::make_temp_dir("chat-sigint");
    // A FIFO keeps chat's stdin open while we interrupt it; mock/slow streams a word per 25 ms.
    const std::string script =
        "set -e; cd '" + dir.string() + "'; mkfifo in; \"$AIGW\" chat -m mock/slow < in > out 2> err & pid=$!; "
        "exec 3> in; echo 'w1 w2 w3 w4 w5 w6 w7 w8 w9 w10 w11 w12 w13 w14 w15 w16 w17 w18 w19 w20' >&3; "
        "for i in $(seq 400); do grep -q w2 out 2>/dev/null && break; sleep 0.025; done; kill -INT $pid; sleep 0.3; "
        "echo 'after the interrupt' >&3; echo /exit >&3; exec 3>&-; "
        "wait $pid; echo \"rc=$?\"; cat out";
    auto env = cli_env(d);
    env["AIGW"] = AIGW_PATH;
    auto r = run_command({"/bin/bash", "-c", script}, env, {}, 30000);
    INFO(r.out << r.err << aigw::test::slurp(dir / "err"));
    CHECK(r.out.find("rc=0") != std::string::npos);
    CHECK(r.out.find("Mock answer from mock/slow: w1") != std::string::npos);
    CHECK(r.out.find("w20") == std::string::npos);  // the first answer was cut short
    CHECK(r.out.find("Mock answer from mock/slow: after the interrupt") != std::string::npos);
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
}

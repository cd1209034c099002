// The aigw CLI against a real aigwd: what a user types, what they see, and exit codes.

#include "tests/integration/harness.hpp"

#include <SQLiteCpp/SQLiteCpp.h>
#include <doctest/doctest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pty.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <fstream>
#include <sstream>
#include <thread>

using aigw::test::cli_env;
using aigw::test::Daemon;
using aigw::test::FakeUpstream;
using aigw::test::free_port;
using aigw::test::PtySession;
using aigw::test::run_command;
using nlohmann::json;

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
        REQUIRE(
            d.post("/v1/chat/completions", {{"model", "openai/gpt-4o-mini"},
                                            {"messages", json::array({{{"role", "user"}, {"content", "cost me"}}})}})
                ->status == 200);
    }
    REQUIRE(d.post("/v1/chat/completions",
                   {{"model", "mock/echo"}, {"messages", json::array({{{"role", "user"}, {"content", "free"}}})}})
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
    auto set = run_command({AIGW_PATH, "--data-dir", d.data_dir().string(), "keys", "set", "groq"}, env,
                           "gsk-PIPED-SECRET-0000\n");
    CHECK(set.exit_code == 0);
    CHECK(set.out.find("PIPED-SECRET") == std::string::npos);
    CHECK(set.err.find("PIPED-SECRET") == std::string::npos);
    const auto file = d.data_dir() / "provider-keys.json";
    REQUIRE(std::filesystem::exists(file));
    CHECK((std::filesystem::status(file).permissions() &
           (std::filesystem::perms::group_all | std::filesystem::perms::others_all)) == std::filesystem::perms::none);
    auto list = run_command({AIGW_PATH, "--data-dir", d.data_dir().string(), "keys", "list"}, env);
    CHECK(list.exit_code == 0);
    CHECK(list.out.find("groq") != std::string::npos);
    CHECK(list.out.find("PIPED-SECRET") == std::string::npos);
    // The daemon reloaded its keys: groq now routes (and fails upstream, not on the key).
    auto r = d.post("/v1/chat/completions", {{"model", "groq/llama-3.3-70b-versatile"},
                                             {"messages", json::array({{{"role", "user"}, {"content", "x"}}})}});
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
    const auto second =
        db.execAndGet("SELECT input_tokens FROM requests WHERE served_model = 'mock/second'").getInt64();
    CHECK(second > first + 10);
    CHECK(db.execAndGet("SELECT COUNT(*) FROM requests").getInt() == 2);
}

TEST_CASE("Ctrl-C in aigw chat stops the current answer without leaving the chat")
{
    Daemon d(nullptr);
    const auto dir = aigw::test::make_temp_dir("chat-sigint");
    // A FIFO keeps chat's stdin open while we interrupt it; mock/slow streams a word per 25 ms.
    const std::string script =
        "set -e; cd '" + dir.string() +
        "'; mkfifo in; \"$AIGW\" chat -m mock/slow < in > out 2> err & pid=$!; "
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

// ---- issue 14: a CLI that never locks the user out and speaks in its own voice ----

namespace {

/// Environment for the CLI alone (no daemon): its own config and data dirs under `dir`.
std::map<std::string, std::string> lone_env(const std::filesystem::path& dir)
{
    return {{"AIGW_CONFIG", (dir / "config.toml").string()},
            {"XDG_CONFIG_HOME", (dir / "xdg-config").string()},
            {"XDG_DATA_HOME", (dir / "xdg-data").string()},
            {"AIGW_DATA_DIR", (dir / "data").string()},
            {"NO_COLOR", "1"}};
}

}  // namespace

TEST_CASE("aigw cli: a config the daemon cannot load still lets --version and daemon status, logs and stop work")
{
    // A daemon aigw itself started (not the harness's child, which would linger as a zombie).
    const auto dir = aigw::test::make_temp_dir("cli-broken-config");
    std::map<std::string, std::string> env = {{"AIGW_API_KEY", "broken-key"},
                                              {"AIGW_CONFIG", (dir / "config.toml").string()},
                                              {"XDG_CONFIG_HOME", (dir / "cfg").string()},
                                              {"AIGWD_PATH", AIGWD_PATH},
                                              {"NO_COLOR", "1"}};
    std::ofstream(dir / "config.toml") << "[server]\nport = " << free_port() << "\n";
    const std::string data = (dir / "data").string();
    auto start = run_command({AIGW_PATH, "--data-dir", data, "daemon", "start"}, env);
    REQUIRE_MESSAGE(start.exit_code == 0, start.err);

    std::ofstream(dir / "config.toml") << "[routing]\nretries = \"one\"\n";
    auto version = run_command({AIGW_PATH, "--data-dir", data, "--version"}, env);
    CHECK_MESSAGE(version.exit_code == 0, version.err);
    CHECK(version.out.find("aigwd ") != std::string::npos);
    auto status = run_command({AIGW_PATH, "--data-dir", data, "daemon", "status"}, env);
    CHECK_MESSAGE(status.exit_code == 0, status.err);
    auto logs = run_command({AIGW_PATH, "--data-dir", data, "daemon", "logs", "-n", "5"}, env);
    CHECK_MESSAGE(logs.exit_code == 0, logs.err);

    // The rest say what is wrong, where, and how to fix it.
    auto cost = run_command({AIGW_PATH, "--data-dir", data, "cost"}, env);
    CHECK(cost.exit_code == 1);
    CHECK(cost.err.find((dir / "config.toml").string() + ":2: [routing] retries must be an integer") !=
          std::string::npos);
    CHECK(cost.err.find("aigw config check") != std::string::npos);
    CHECK(cost.err.find("aigw config edit") != std::string::npos);

    auto stop = run_command({AIGW_PATH, "--data-dir", data, "daemon", "stop"}, env);
    CHECK_MESSAGE(stop.exit_code == 0, stop.err);
    auto after = run_command({AIGW_PATH, "--data-dir", data, "daemon", "status"}, env);
    CHECK(after.exit_code == 3);
}

TEST_CASE("aigw cli: config check reports every problem with file:line, unknown keys included, and exits 1")
{
    const auto dir = aigw::test::make_temp_dir("cli-config-check");
    const auto env = lone_env(dir);
    const std::string file = (dir / "config.toml").string();
    std::ofstream(file) << "[server]\nprot = 4000\n\n[routing]\nretries = \"one\"\nstrategy = \"fastest\"\n";
    auto check = run_command({AIGW_PATH, "config", "check"}, env);
    INFO(check.out << check.err);
    CHECK(check.exit_code == 1);
    CHECK(check.out.find(file + ":5: [routing] retries must be an integer") != std::string::npos);
    CHECK(check.out.find(file + ":6: [routing] strategy must be") != std::string::npos);
    CHECK(check.out.find(file + ":2: unknown key 'prot' in [server]") != std::string::npos);

    auto json_check = run_command({AIGW_PATH, "config", "check", "--json"}, env);
    CHECK(json_check.exit_code == 1);
    const auto doc = json::parse(json_check.out);
    CHECK(doc["errors"].size() == 2);
    CHECK(doc["warnings"].size() == 1);

    // `config show` works on the broken file too, and says where values came from.
    auto show = run_command({AIGW_PATH, "config", "show", "--json"}, env);
    CHECK(show.exit_code == 0);
    bool saw_data_dir = false;
    const json shown = json::parse(show.out);
    for (const auto& v : shown["values"]) {
        if (v["key"] == "data_dir") {
            saw_data_dir = true;
            CHECK(v["source"] == "env (AIGW_DATA_DIR)");
        }
    }
    CHECK(saw_data_dir);

    auto path = run_command({AIGW_PATH, "config", "path"}, env);
    CHECK(path.out == file + "\n");

    std::ofstream(file) << "[routing]\nretries = 1\n";
    auto fixed = run_command({AIGW_PATH, "config", "check"}, env);
    CHECK_MESSAGE(fixed.exit_code == 0, fixed.out);
    CHECK(fixed.out.find(": OK") != std::string::npos);

    // `config edit` runs $EDITOR on the file, then checks it.
    std::ofstream(dir / "editor.sh") << "#!/bin/sh\nprintf '[routing]\\nretries = \"two\"\\n' > \"$1\"\n";
    std::filesystem::permissions(dir / "editor.sh", std::filesystem::perms::owner_all);
    auto edit_env = env;
    edit_env["EDITOR"] = (dir / "editor.sh").string();
    auto edit = run_command({AIGW_PATH, "config", "edit"}, edit_env);
    CHECK(edit.exit_code == 1);
    CHECK(edit.out.find(file + ":2: [routing] retries must be an integer") != std::string::npos);
}

TEST_CASE("aigw cli: usage errors exit 2 in aigw's voice, with a suggestion")
{
    const auto dir = aigw::test::make_temp_dir("cli-usage");
    const auto env = lone_env(dir);
    auto rn = run_command({AIGW_PATH, "rn", "hello"}, env);
    CHECK(rn.exit_code == 2);
    CHECK(rn.out.empty());
    CHECK(rn.err.starts_with("aigw: unknown command 'rn'; did you mean 'run'?\n"));

    auto opt = run_command({AIGW_PATH, "run", "--modle", "mock/echo", "hi"}, env);
    CHECK(opt.exit_code == 2);
    CHECK(opt.err.find("unknown option '--modle' for 'aigw run'; did you mean '--model'?") != std::string::npos);

    auto sub = run_command({AIGW_PATH, "daemon", "stpo"}, env);
    CHECK(sub.exit_code == 2);
    CHECK(sub.err.find("did you mean 'stop'?") != std::string::npos);

    auto missing = run_command({AIGW_PATH, "completions"}, env);
    CHECK(missing.exit_code == 2);
    CHECK(missing.err.find("shell") != std::string::npos);

    auto help = run_command({AIGW_PATH, "help", "daemon"}, env);
    CHECK(help.exit_code == 0);
    CHECK(help.out.find("stop") != std::string::npos);
    auto bad_help = run_command({AIGW_PATH, "help", "modles"}, env);
    CHECK(bad_help.exit_code == 2);
    CHECK(bad_help.err.find("did you mean 'models'?") != std::string::npos);

    // Global flags after the subcommand.
    auto late_flag = run_command({AIGW_PATH, "run", "-m", "mock/echo", "--no-spawn", "hi"}, env);
    CHECK(late_flag.exit_code == 1);  // parsed; nothing runs, and --no-spawn kept it from starting one
    CHECK(late_flag.err.find("unknown option") == std::string::npos);

    auto completions = run_command({AIGW_PATH, "completions", "bash"}, env);
    CHECK(completions.exit_code == 0);
    CHECK(completions.out.find("complete -F _aigw aigw") != std::string::npos);
}

TEST_CASE("aigw cli: eval with a typo'd assertion type exits 2 and names its line")
{
    const auto dir = aigw::test::make_temp_dir("cli-eval-typo");
    const auto env = lone_env(dir);
    std::ofstream(dir / "eval.yaml") << "providers: [mock/echo]\nprompts: ['say {{x}}']\ntests:\n  - vars: {x: hi}\n"
                                        "    assert:\n      - type: contians\n        value: hi\n";
    auto typo = run_command({AIGW_PATH, "--no-spawn", "eval", (dir / "eval.yaml").string()}, env);
    CHECK(typo.exit_code == 2);
    CHECK(typo.err.find("eval.yaml:6: unknown assertion type 'contians'; did you mean 'contains'?") !=
          std::string::npos);

    std::ofstream(dir / "js.yaml") << "providers: [mock/echo]\nprompts: ['hi']\ntests:\n  - assert:\n"
                                      "      - type: javascript\n        value: output.length > 0\n";
    auto js = run_command({AIGW_PATH, "--no-spawn", "eval", (dir / "js.yaml").string()}, env);
    CHECK(js.exit_code == 2);
    CHECK(js.err.find("--skip-unsupported") != std::string::npos);
}

TEST_CASE("aigw cli: bench exits non-zero when a model failed every call, errors grouped without request ids")
{
    Daemon d(nullptr);
    auto env = cli_env(d);
    auto ok = run_command({AIGW_PATH, "bench", "mock/echo", "-p", "hi", "-n", "2"}, env);
    CHECK_MESSAGE(ok.exit_code == 0, ok.err);

    auto bad = run_command({AIGW_PATH, "bench", "mock/echo", "nosuch/model", "-p", "hi", "-n", "3"}, env);
    INFO(bad.err);
    CHECK(bad.exit_code == 1);
    CHECK(bad.err.find("nosuch/model: 3x ") != std::string::npos);
    CHECK(bad.err.find("x-request-id") == std::string::npos);
    CHECK(bad.err.find("a model failed every call") != std::string::npos);
}

TEST_CASE("aigw cli: chat on a terminal edits lines, never sends escape codes, and keeps history across runs")
{
    Daemon d(nullptr);
    auto env = cli_env(d);
    const auto data = d.data_dir().string();
    {
        PtySession chat({AIGW_PATH, "--data-dir", data, "chat", "-m", "mock/echo"}, env);
        REQUIRE_MESSAGE(chat.wait_for("you> "), chat.screen());
        // "helo", left, Home, End, left, then fix the typo: "hello".
        chat.type("helo\x1b[D\x1b[H\x1b[F\x1b[Dl\r");
        CHECK_MESSAGE(chat.wait_for("Mock answer from mock/echo: hello\r\n"), chat.screen());
        REQUIRE_MESSAGE(chat.wait_for("you> "), chat.screen());
        chat.type("/model nosuch-model-x\r");
        CHECK_MESSAGE(chat.wait_for("unknown model 'nosuch-model-x'"), chat.screen());
        REQUIRE(chat.wait_for("you> "));
        chat.type("\x04");
        // Ctrl-D at an empty line leaves the chat. (Whether the process is reaped promptly
        // under a pty varies; the history was written with the line, so it is not waited for.)
        CHECK_MESSAGE(chat.wait_for("^D"), chat.screen());
    }
    const auto history = d.data_dir() / "chat_history";
    REQUIRE(std::filesystem::exists(history));
    CHECK((std::filesystem::status(history).permissions() &
           (std::filesystem::perms::group_all | std::filesystem::perms::others_all)) == std::filesystem::perms::none);
    const std::string saved = aigw::test::slurp(history);
    CHECK(saved.find('\x1b') == std::string::npos);
    {
        // The line from the last run comes back with the up arrow.
        PtySession chat({AIGW_PATH, "--data-dir", data, "chat", "-m", "mock/echo"}, env);
        REQUIRE_MESSAGE(chat.wait_for("you> "), chat.screen());
        chat.type("\x1b[A\x1b[A\r");
        CHECK_MESSAGE(chat.wait_for("Mock answer from mock/echo: hello\r\n"), chat.screen());
        REQUIRE(chat.wait_for("you> "));
        chat.type("\x04");
        // Ctrl-D at an empty line leaves the chat. (Whether the process is reaped promptly
        // under a pty varies; the history was written with the line, so it is not waited for.)
        CHECK_MESSAGE(chat.wait_for("^D"), chat.screen());
    }
    REQUIRE(d.stop() == 0);
    // What reached the model: the edited text, twice, and never an escape byte.
    SQLite::Database db((d.data_dir() / "ledger.db").string(), SQLite::OPEN_READONLY);
    CHECK(db.execAndGet("SELECT COUNT(*) FROM requests WHERE served_model = 'mock/echo'").getInt() == 2);
}

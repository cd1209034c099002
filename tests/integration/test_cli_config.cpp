// Issue 14, config and chat: what a user sees when the config changes under a running
// daemon, when it has typos, what `aigw models` says about defaults, which files are
// private, and aigw chat at a real terminal.

#include "tests/integration/harness.hpp"

#include <doctest/doctest.h>

#include <csignal>
#include <sys/stat.h>

#include <fstream>
#include <thread>

using aigw::test::cli_env;
using aigw::test::Daemon;
using aigw::test::DaemonOptions;
using aigw::test::FakeUpstream;
using aigw::test::free_port;
using aigw::test::PtySession;
using aigw::test::run_command;
using nlohmann::json;

namespace {

namespace fs = std::filesystem;

json chat_body(const std::string& model)
{
    return {{"model", model}, {"messages", json::array({{{"role", "user"}, {"content", "hi"}}})}};
}

std::size_t chat_requests(FakeUpstream& up)
{
    std::size_t n = 0;
    for (const auto& r : up.requests()) {
        n += r.value("path", "").find("/chat/completions") != std::string::npos ? 1 : 0;
    }
    return n;
}

/// The line of `text` that starts with `prefix` ("" when none).
std::string line_starting(const std::string& text, const std::string& prefix)
{
    std::size_t pos = 0;
    while (pos < text.size()) {
        const auto end = text.find('\n', pos);
        const std::string line = text.substr(pos, end == std::string::npos ? std::string::npos : end - pos);
        if (line.starts_with(prefix)) {
            return line;
        }
        if (end == std::string::npos) {
            break;
        }
        pos = end + 1;
    }
    return {};
}

/// A daemon that aigw itself starts and stops (`aigw daemon start`), with its config at
/// <dir>/config.toml on a free port.
struct SpawnedSetup {
    fs::path dir = aigw::test::make_temp_dir("cli-config-spawn");
    int port = free_port();
    std::string data = (dir / "data").string();
    std::map<std::string, std::string> env = {{"AIGW_API_KEY", "spawn-key"},
                                              {"AIGW_CONFIG", (dir / "config.toml").string()},
                                              {"XDG_CONFIG_HOME", (dir / "cfg").string()},
                                              {"AIGWD_PATH", AIGWD_PATH},
                                              {"NO_COLOR", "1"}};

    void write_config(const std::string& rest) const
    {
        std::ofstream(dir / "config.toml") << "[server]\nport = " << port << "\n" << rest;
    }
    aigw::test::CommandResult aigw(std::vector<std::string> args) const
    {
        args.insert(args.begin(), {AIGW_PATH, "--data-dir", data});
        return run_command(args, env);
    }
    ~SpawnedSetup() { run_command({AIGW_PATH, "--data-dir", data, "daemon", "stop"}, env); }
};

std::int64_t status_pid(const SpawnedSetup& s)
{
    auto st = s.aigw({"daemon", "status", "--json"});
    auto doc = json::parse(st.out, nullptr, false);
    return doc.is_object() ? doc.value("pid", std::int64_t{0}) : 0;
}

}  // namespace

TEST_CASE("aigw config check names a typo'd provider key as unknown, next to a bad value, with file:line")
{
    const auto dir = aigw::test::make_temp_dir("cli-config-typo");
    const std::string file = (dir / "config.toml").string();
    std::ofstream(file) << "[routing]\nretries = \"one\"\n\n[providers.openai]\nbase_urll = \"x\"\n";
    const std::map<std::string, std::string> env = {{"AIGW_CONFIG", file},
                                                    {"XDG_CONFIG_HOME", (dir / "cfg").string()},
                                                    {"AIGW_DATA_DIR", (dir / "data").string()},
                                                    {"NO_COLOR", "1"}};
    auto check = run_command({AIGW_PATH, "config", "check"}, env);
    INFO(check.out << check.err);
    CHECK(check.exit_code == 1);
    CHECK(check.out.find(file + ":2: [routing] retries must be an integer") != std::string::npos);
    CHECK(check.out.find(file + ":5: unknown key 'base_urll' in [providers.openai]") != std::string::npos);

    // Provider options an adapter reads are not unknown.
    std::ofstream(file)
        << "[providers.azure]\napi_version = \"2024-10-21\"\n[providers.openai]\nresponses = \"native\"\n";
    auto ok = run_command({AIGW_PATH, "config", "check", "--json"}, env);
    CHECK_MESSAGE(ok.exit_code == 0, ok.out);
    CHECK(json::parse(ok.out)["warnings"].empty());
}

TEST_CASE("aigw config check reports what aigwd would refuse: listening beyond loopback without TLS and virtual keys")
{
    const auto dir = aigw::test::make_temp_dir("cli-config-listen");
    const std::string file = (dir / "config.toml").string();
    std::ofstream(file) << "[server]\nlisten = \"0.0.0.0:4141\"\n";
    const std::map<std::string, std::string> env = {{"AIGW_CONFIG", file},
                                                    {"XDG_CONFIG_HOME", (dir / "cfg").string()},
                                                    {"AIGW_DATA_DIR", (dir / "data").string()},
                                                    {"NO_COLOR", "1"}};
    auto check = run_command({AIGW_PATH, "config", "check"}, env);
    INFO(check.out << check.err);
    CHECK(check.exit_code == 1);
    CHECK(check.out.find("refusing to listen on 0.0.0.0") != std::string::npos);
    CHECK(check.out.find("tls_cert") != std::string::npos);
    CHECK(check.out.find("require_virtual_keys = true") != std::string::npos);
    auto as_json = run_command({AIGW_PATH, "config", "check", "--json"}, env);
    CHECK(as_json.exit_code == 1);
    CHECK_FALSE(json::parse(as_json.out)["ok"].get<bool>());
    // On loopback the same file is fine.
    std::ofstream(file) << "[server]\nlisten = \"127.0.0.1:4141\"\n";
    CHECK(run_command({AIGW_PATH, "config", "check"}, env).exit_code == 0);
}

TEST_CASE("aigw daemon reload sends requests to a changed base_url and names what waits for a restart")
{
    FakeUpstream first;
    FakeUpstream second;
    DaemonOptions o;
    o.env = {{"OPENAI_API_KEY", "sk-test-reload"}};
    o.config_toml = "[providers.openai]\nbase_url = \"" + first.base() + "/v1\"\n";
    Daemon d(nullptr, o);
    const auto env = cli_env(d);
    const fs::path file = d.env().at("AIGW_CONFIG");

    auto before = d.post("/v1/chat/completions", chat_body("openai/gpt-4o-mini"));
    REQUIRE(before);
    CHECK(before->status == 200);
    CHECK(chat_requests(first) == 1);

    std::ofstream(file) << "[server]\nport = " << free_port() << "\n[aliases]\nfast = \"openai/gpt-4o-mini\"\n"
                        << "[providers.openai]\nbase_url = \"" << second.base() << "/v1\"\n";
    auto reload = run_command({AIGW_PATH, "daemon", "reload"}, env);
    INFO(reload.out << reload.err);
    REQUIRE(reload.exit_code == 0);
    const std::string applied = line_starting(reload.out, "applied:");
    CHECK(applied.find("providers.openai.base_url") != std::string::npos);
    CHECK(applied.find("aliases.fast") != std::string::npos);
    CHECK(line_starting(reload.out, "needs a restart").find("server.port") != std::string::npos);

    auto after = d.post("/v1/chat/completions", chat_body("fast"));
    REQUIRE(after);
    CHECK(after->status == 200);
    CHECK(chat_requests(second) == 1);
    CHECK(chat_requests(first) == 1);

    // A broken file changes nothing: the error names file:line, and requests keep going
    // where the last good config sent them.
    std::ofstream(file) << "[routing]\nretries = \"one\"\n[providers.openai]\nbase_url = \"" << first.base()
                        << "/v1\"\n";
    auto broken = run_command({AIGW_PATH, "daemon", "reload"}, env);
    CHECK(broken.exit_code == 1);
    CHECK(broken.err.find(file.string() + ":2: [routing] retries must be an integer") != std::string::npos);
    auto still = d.post("/v1/chat/completions", chat_body("fast"));
    REQUIRE(still);
    CHECK(still->status == 200);
    CHECK(chat_requests(second) == 2);
    CHECK(chat_requests(first) == 1);

    std::ofstream(file) << "[providers.openai]\nbase_url = \"" << first.base() << "/v1\"\n";
    auto as_json = run_command({AIGW_PATH, "daemon", "reload", "--json"}, env);
    REQUIRE(as_json.exit_code == 0);
    const auto doc = json::parse(as_json.out);
    // Against the last file loaded (the second one): the alias and the port are gone.
    CHECK(doc["applied"].size() == 2);
    CHECK(doc["needs_restart"] == json::array({"server.port"}));
}

TEST_CASE("SIGHUP reloads the config as aigw daemon reload does (systemctl reload); a broken file changes nothing")
{
    FakeUpstream first;
    FakeUpstream second;
    DaemonOptions o;
    o.env = {{"OPENAI_API_KEY", "sk-test-sighup"}};
    o.config_toml = "[providers.openai]\nbase_url = \"" + first.base() + "/v1\"\n";
    Daemon d(nullptr, o);
    const fs::path file = d.env().at("AIGW_CONFIG");
    auto wait_for_requests = [&](FakeUpstream& up, std::size_t n) {
        // The signal is handled on the daemon's signal thread: poll until it took effect.
        for (int i = 0; i < 100; ++i) {
            auto r = d.post("/v1/chat/completions", chat_body("openai/gpt-4o-mini"));
            REQUIRE(r);
            REQUIRE(r->status == 200);
            if (chat_requests(up) >= n) {
                return true;
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(20));
        }
        return false;
    };
    REQUIRE(wait_for_requests(first, 1));

    std::ofstream(file) << "[providers.openai]\nbase_url = \"" << second.base() << "/v1\"\n";
    REQUIRE(::kill(d.process().pid(), SIGHUP) == 0);
    CHECK(wait_for_requests(second, 1));
    const std::size_t first_count = chat_requests(first);

    // A broken file: the daemon keeps serving with the config it had.
    std::ofstream(file) << "[routing]\nretries = \"one\"\n[providers.openai]\nbase_url = \"" << first.base()
                        << "/v1\"\n";
    REQUIRE(::kill(d.process().pid(), SIGHUP) == 0);
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    auto r = d.post("/v1/chat/completions", chat_body("openai/gpt-4o-mini"));
    REQUIRE(r);
    CHECK(r->status == 200);
    CHECK(chat_requests(first) == first_count);
    CHECK(d.process().alive());
}

TEST_CASE("aigw daemon start shows start-up warnings; restart checks the config before stopping anything")
{
    SpawnedSetup s;
    s.write_config("[cache]\ncolour = true\n");
    auto start = s.aigw({"daemon", "start"});
    INFO(start.out << start.err);
    REQUIRE(start.exit_code == 0);
    CHECK(start.err.find((s.dir / "config.toml").string() + ":4: unknown key 'colour' in [cache]") !=
          std::string::npos);
    const auto pid = status_pid(s);
    REQUIRE(pid > 0);

    s.write_config("[routing]\nretries = \"one\"\n");
    auto refused = s.aigw({"daemon", "restart"});
    CHECK(refused.exit_code == 1);
    CHECK(refused.err.find("not restarting") != std::string::npos);
    CHECK(refused.err.find(":4: [routing] retries must be an integer") != std::string::npos);
    CHECK(status_pid(s) == pid);  // the old daemon still serves

    s.write_config("");
    auto restart = s.aigw({"daemon", "restart"});
    CHECK_MESSAGE(restart.exit_code == 0, restart.err);
    CHECK(restart.out.find("aigwd stopped") != std::string::npos);
    CHECK(restart.out.find("aigwd started") != std::string::npos);
    const auto new_pid = status_pid(s);
    CHECK(new_pid > 0);
    CHECK(new_pid != pid);
    auto stop = s.aigw({"daemon", "stop"});
    CHECK(stop.exit_code == 0);
    CHECK(s.aigw({"daemon", "status"}).exit_code == 3);
}

TEST_CASE("aigw models shows the default model, aliases and logical models; ollama without a server has no key")
{
    FakeUpstream up;
    DaemonOptions o;
    o.env = {{"AIGW_OLLAMA_BASE_URL", "http://127.0.0.1:" + std::to_string(free_port()) + "/v1"}};
    o.config_toml =
        "[aliases]\nfast = \"openai/gpt-4o-mini\"\n"
        "[models.smart]\ndeployments = [\"openai/gpt-4o\", \"fast\"]\nfallback = [\"mock/echo\"]\n";
    Daemon d(&up, o);
    auto r = run_command({AIGW_PATH, "models", "--all", "--json"}, cli_env(d));
    INFO(r.out << r.err);
    REQUIRE(r.exit_code == 0);
    const auto doc = json::parse(r.out);
    CHECK(doc["default"]["model"] == "openai/gpt-4o-mini");
    CHECK(doc["default"]["reason"] == "the openai key is set");
    CHECK(doc["aliases"] ==
          json::array({{{"name", "fast"}, {"target", "openai/gpt-4o-mini"}, {"resolves_to", "openai/gpt-4o-mini"}}}));
    REQUIRE(doc["logical_models"].size() == 1);
    CHECK(doc["logical_models"][0]["name"] == "smart");
    CHECK(doc["logical_models"][0]["deployments"].size() == 2);
    CHECK(doc["logical_models"][0]["fallback"] == json::array({"mock/echo"}));
    int defaults = 0;
    int ollama = 0;
    for (const auto& m : doc["models"]) {
        defaults += m.value("default", false) ? 1 : 0;
        if (m["provider"] == "ollama") {
            ++ollama;
            CHECK(m["key_present"] == false);
        }
    }
    CHECK(defaults == 1);
    CHECK(ollama > 0);

    auto table = run_command({AIGW_PATH, "models"}, cli_env(d));
    CHECK(table.out.find("openai/gpt-4o-mini (default)") != std::string::npos);
    CHECK(table.out.find("ollama/") == std::string::npos);  // hidden: not usable
    CHECK(table.out.find("fast") != std::string::npos);
    CHECK(table.out.find("smart") != std::string::npos);

    // With something answering at its base URL, ollama's models are usable.
    DaemonOptions with_server = o;
    with_server.env["AIGW_OLLAMA_BASE_URL"] = up.base() + "/v1";
    Daemon d2(&up, with_server);
    auto served = run_command({AIGW_PATH, "models", "--all", "--json"}, cli_env(d2));
    INFO(served.err);
    REQUIRE(served.exit_code == 0);
    bool ollama_usable = false;
    const auto served_doc = json::parse(served.out);
    for (const auto& m : served_doc["models"]) {
        ollama_usable = ollama_usable || (m["provider"] == "ollama" && m["key_present"] == true);
    }
    CHECK(ollama_usable);
}

TEST_CASE("every file aigwd and aigw write with keys, prompts or answers is 0600, SQLite's side files included")
{
    const mode_t old_mask = ::umask(022);  // a usual umask: files would be 0644 by default
    DaemonOptions o;
    o.config_toml = "[ledger]\nlog_bodies = true\n[cache]\nenabled = true\n";
    Daemon d(nullptr, o);
    auto env = cli_env(d);
    const std::string data = d.data_dir().string();
    auto run = run_command({AIGW_PATH, "--data-dir", data, "run", "-m", "mock/echo", "a private prompt"}, env);
    CHECK_MESSAGE(run.exit_code == 0, run.err);
    auto stored = d.post("/v1/responses", {{"model", "mock/echo"}, {"input", "stored"}, {"store", true}});
    REQUIRE(stored);
    CHECK(stored->status == 200);
    ::umask(old_mask);

    // While the daemon runs, with the WAL side files present.
    int checked = 0;
    bool saw_wal = false;
    for (const auto& e : fs::recursive_directory_iterator(d.data_dir())) {
        const std::string name = e.path().filename().string();
        // Written by the test harness, not by aigw.
        if (!e.is_regular_file() || name == "aigwd.stderr" || name == "config.toml") {
            continue;
        }
        ++checked;
        saw_wal = saw_wal || name.ends_with("-wal");
        CHECK_MESSAGE((e.status().permissions() & (fs::perms::group_all | fs::perms::others_all)) == fs::perms::none,
                      e.path().string());
    }
    CHECK(saw_wal);
    CHECK(checked >= 8);  // ledger, responses, cache, keys with -wal/-shm, gateway key, conversation
}

namespace {

/// An OpenAI-compatible server whose model answers with terminal escape sequences.
class HostileModel {
public:
    HostileModel()
    {
        m_server.Post("/v1/chat/completions", [](const httplib::Request&, httplib::Response& res) {
            const std::string content = "safe \x1b]0;pwned\x07\x1b[2J text";
            std::string body;
            body += "data: " +
                    json({{"id", "x"},
                          {"object", "chat.completion.chunk"},
                          {"model", "m"},
                          {"choices", json::array({{{"index", 0}, {"delta", {{"content", content}}}}})}})
                        .dump() +
                    "\n\n";
            body +=
                "data: " +
                json({{"id", "x"},
                      {"object", "chat.completion.chunk"},
                      {"model", "m"},
                      {"choices", json::array({{{"index", 0}, {"delta", json::object()}, {"finish_reason", "stop"}}})}})
                    .dump() +
                "\n\n";
            body += "data: [DONE]\n\n";
            res.set_content(body, "text/event-stream");
        });
        m_port = m_server.bind_to_any_port("127.0.0.1");
        m_thread = std::thread([this] { m_server.listen_after_bind(); });
        while (!m_server.is_running()) {
            std::this_thread::sleep_for(std::chrono::milliseconds(5));
        }
    }
    ~HostileModel()
    {
        m_server.stop();
        m_thread.join();
    }
    HostileModel(const HostileModel&) = delete;
    HostileModel& operator=(const HostileModel&) = delete;
    std::string base() const { return "http://127.0.0.1:" + std::to_string(m_port); }

private:
    httplib::Server m_server;
    std::thread m_thread;
    int m_port = 0;
};

}  // namespace

TEST_CASE("aigw chat on a terminal: header and /model show the resolved model, Ctrl-R finds history, output is inert")
{
    HostileModel hostile;
    DaemonOptions o;
    o.config_toml = "[aliases]\nquick = \"mock/echo\"\n[providers.evil]\ntype = \"openai\"\nbase_url = \"" +
                    hostile.base() + "/v1\"\n";
    Daemon d(nullptr, o);
    auto env = cli_env(d);
    const std::string data = d.data_dir().string();
    {
        PtySession chat({AIGW_PATH, "--data-dir", data, "chat", "-m", "quick"}, env);
        CHECK_MESSAGE(chat.wait_for("chatting with quick (mock/echo)"), chat.screen());
        REQUIRE_MESSAGE(chat.wait_for("you> "), chat.screen());
        chat.type("first question\r");
        REQUIRE_MESSAGE(chat.wait_for("Mock answer from mock/echo: first question\r\n"), chat.screen());
        REQUIRE(chat.wait_for("you> "));
        chat.type("second one\r");
        REQUIRE_MESSAGE(chat.wait_for("Mock answer from mock/echo: second one\r\n"), chat.screen());
        REQUIRE(chat.wait_for("you> "));
        // Ctrl-R, a part of an older line, Enter: that line is sent again.
        chat.type(
            "\x12"
            "first");
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
        chat.type("\r");
        CHECK_MESSAGE(chat.wait_for("Mock answer from mock/echo: first question\r\n"), chat.screen());
        REQUIRE(chat.wait_for("you> "));

        chat.type("/model quick\r");
        CHECK_MESSAGE(chat.wait_for("(model: quick (mock/echo))"), chat.screen());
        REQUIRE(chat.wait_for("you> "));
        chat.type("/model evil/m\r");
        REQUIRE_MESSAGE(chat.wait_for("(model: evil/m)"), chat.screen());
        REQUIRE(chat.wait_for("you> "));
        chat.type("say it\r");
        REQUIRE_MESSAGE(chat.wait_for(" text"), chat.screen());
        // The escape sequences arrive as visible text, never as bytes the terminal obeys.
        CHECK(chat.screen().find("\x1b]0;pwned") == std::string::npos);
        CHECK(chat.screen().find("\x1b[2J") == std::string::npos);
        CHECK(chat.screen().find("^[]0;pwned^G^[[2J") != std::string::npos);
        REQUIRE(chat.wait_for("you> "));
        chat.type("\x04");
        CHECK_MESSAGE(chat.wait_for("^D"), chat.screen());
    }
    const std::string history = aigw::test::slurp(d.data_dir() / "chat_history");
    CHECK(history.find("first") != std::string::npos);  // libedit writes spaces as \040
    CHECK(history.find('\x12') == std::string::npos);
}

// What the aigw CLI prints and how it exits, as a user at a terminal or a script sees it:
// usage errors, help, tables on a narrow terminal, one money format, cost ranges, logs,
// notes on stderr, and shell completions.

#include "daemon/ledger/ledger.hpp"
#include "tests/integration/harness.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <fstream>
#include <sstream>

using aigw::test::Daemon;
using aigw::test::DaemonOptions;
using aigw::test::FakeUpstream;
using aigw::test::lines_of;
using aigw::test::PtySession;
using aigw::test::run_command;
using nlohmann::json;

namespace {

/// The CLI reaching `d` through AIGW_HOST (never spawning another daemon), in UTC.
std::map<std::string, std::string> out_env(const Daemon& d)
{
    auto env = aigw::test::cli_env(d);
    env["TZ"] = "UTC";
    return env;
}

/// A CLI with no daemon and its own dirs.
std::map<std::string, std::string> alone_env(const std::filesystem::path& dir)
{
    return {{"AIGW_CONFIG", (dir / "config.toml").string()},
            {"XDG_CONFIG_HOME", (dir / "xdg-config").string()},
            {"XDG_DATA_HOME", (dir / "xdg-data").string()},
            {"AIGW_DATA_DIR", (dir / "data").string()},
            {"HOME", dir.string()},
            {"NO_COLOR", "1"},
            {"TZ", "UTC"}};
}

/// Columns a line takes on a terminal (UTF-8 characters; no escape codes with NO_COLOR).
std::size_t columns(const std::string& line)
{
    std::size_t n = 0;
    for (const char ch : line) {
        if ((static_cast<unsigned char>(ch) & 0xC0) != 0x80) {
            ++n;
        }
    }
    return n;
}

json chat_body(const std::string& model, const std::string& text)
{
    return {{"model", model}, {"messages", json::array({{{"role", "user"}, {"content", text}}})}};
}

}  // namespace

TEST_CASE("aigw cli output: 'aigw help' prints aigw's own help and 'aigw help daemon stop' that command's")
{
    const auto dir = aigw::test::make_temp_dir("out-help");
    const auto env = alone_env(dir);
    auto top = run_command({AIGW_PATH, "help"}, env);
    CHECK(top.exit_code == 0);
    CHECK(top.out.find("Usage: aigw [OPTIONS] [SUBCOMMAND]") != std::string::npos);
    CHECK(top.out.find("bench") != std::string::npos);
    CHECK(top.out.find("Usage: aigw help") == std::string::npos);

    auto stop = run_command({AIGW_PATH, "help", "daemon", "stop"}, env);
    CHECK(stop.exit_code == 0);
    CHECK(stop.out.find("Usage: aigw daemon stop") != std::string::npos);
}

TEST_CASE("aigw cli output: usage errors name options as they were typed, suggest, and exit 2")
{
    const auto dir = aigw::test::make_temp_dir("out-usage");
    const auto env = alone_env(dir);
    auto expect = [&](std::vector<std::string> args, const std::string& text) {
        args.insert(args.begin(), {AIGW_PATH, "--no-spawn"});
        auto r = run_command(args, env);
        INFO(r.err);
        CHECK(r.exit_code == 2);
        CHECK(r.out.empty());
        CHECK(r.err.find(text) != std::string::npos);
    };
    expect({"run", "-m"}, "aigw run: -m needs a value");
    expect({"run", "hi", "--model"}, "aigw run: --model needs a value");
    expect({"cost", "--by"}, "aigw cost: --by needs a value: one of model provider");
    expect({"cost", "--by", "modle"}, "aigw cost: --by: 'modle' is not one of model, provider");
    expect({"cost", "--by", "modle"}, "did you mean 'model'?");
    expect({"logs", "-n", "0"}, "aigw logs: -n: '0' is not a number from 1 to 10000");
    expect({"run", "--temperature", "5", "hi"}, "'5' is not a number from 0 to 2");
    expect({"bench", "mock/echo", "-p", "hi", "-c", "0"}, "aigw bench: -c: '0' is not a positive number");
    expect({"run", "-c", "--cid", "x", "hi"}, "aigw run: -c and --cid cannot be used together");
    expect({"cost", "--json", "--csv"}, "aigw cost: --json and --csv cannot be used together");
    expect({"bench", "mock/echo", "-f", "nosuch.txt"}, "aigw bench: -f: no such file 'nosuch.txt'");
    expect({"keys", "show"}, "aigw keys show: missing key");
    expect({"rn", "hi"}, "aigw: unknown command 'rn'; did you mean 'run'?");
}

TEST_CASE("aigw cli output: --json before the command means what it means after it")
{
    Daemon d(nullptr);
    const auto env = out_env(d);
    REQUIRE(d.post("/v1/chat/completions", chat_body("mock/echo", "hi"))->status == 200);
    auto before = run_command({AIGW_PATH, "--json", "cost"}, env);
    REQUIRE(before.exit_code == 0);
    const json doc = json::parse(before.out);
    CHECK(doc["total"]["requests"] == 1);
    CHECK(doc.contains("range"));
    auto logs = run_command({AIGW_PATH, "--json", "logs", "-n", "1"}, env);
    REQUIRE(logs.exit_code == 0);
    CHECK(json::parse(logs.out).size() == 1);
    // A command without --json says so in aigw's voice.
    auto stop = run_command({AIGW_PATH, "--no-spawn", "--json", "daemon", "stop"}, env);
    CHECK(stop.exit_code == 2);
    CHECK(stop.err.find("unknown option '--json'") != std::string::npos);
}

TEST_CASE("aigw cli output: money has one format, $0.000000 on an empty ledger's TOTAL row too")
{
    Daemon d(nullptr);
    auto r = run_command({AIGW_PATH, "cost"}, out_env(d));
    REQUIRE(r.exit_code == 0);
    const auto lines = lines_of(r.out);
    REQUIRE_FALSE(lines.empty());
    CHECK(lines.front().find("P95 ms") != std::string::npos);
    CHECK(lines.back().starts_with("TOTAL"));
    CHECK(lines.back().ends_with("$0.000000"));
    CHECK(r.out.find("$0.00\n") == std::string::npos);
}

TEST_CASE("aigw cli output: cost totals carry their p95, --by day shows the quiet days of the range, --json the range")
{
    Daemon d(nullptr);
    REQUIRE(d.get("/aigw/v1/cost")->status == 200);  // the ledger exists before a second writer opens it
    const std::int64_t now =
        std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
            .count();
    {
        auto ledger = aigw::daemon::ledger::Ledger::open(d.data_dir() / "ledger.db", 0);
        REQUIRE(ledger);
        auto add = [&](int i, const std::string& model, int latency) {
            aigw::daemon::ledger::LedgerRow row;
            row.ts_ms = now - 1000 - i;
            row.request_id = "req_p95_" + std::to_string(i);
            row.requested_model = model;
            row.served_model = model;
            row.provider = "openai";
            row.status = 200;
            row.cost_usd = 0.00001;
            row.latency_ms = latency;
            (*ledger)->record(std::move(row));
        };
        for (int i = 0; i < 19; ++i) {
            add(i, "openai/fast", 10);
        }
        add(19, "openai/slow", 1000);  // the total's p95 is read from both groups' histograms
        add(20, "openai/slow", 1000);
        (*ledger)->close();
    }
    const auto env = out_env(d);
    auto r = run_command({AIGW_PATH, "cost", "--since", "1d", "--json"}, env);
    INFO(r.err);
    REQUIRE(r.exit_code == 0);
    const json doc = json::parse(r.out);
    // 21 requests: 19 at 10 ms (all of openai/fast), 2 at 1000 ms; the 20th is slow.
    CHECK(doc["total"]["requests"] == 21);
    CHECK(doc["total"]["p95_latency_ms"].get<double>() == doctest::Approx(1000).epsilon(0.05));
    REQUIRE(doc["range"].is_object());
    CHECK(doc["range"]["until_ms"].get<std::int64_t>() - doc["range"]["since_ms"].get<std::int64_t>() ==
          doctest::Approx(86'400'000).epsilon(0.001));
    CHECK(doc["range"]["since"].get<std::string>().ends_with("+0000"));

    auto table = run_command({AIGW_PATH, "cost", "--since", "1d"}, env);
    REQUIRE(table.exit_code == 0);
    const auto total = lines_of(table.out).back();
    CHECK(total.starts_with("TOTAL"));
    const auto p95 = doc["total"]["p95_latency_ms"].get<std::int64_t>();
    CHECK(total.find(" " + std::to_string(p95) + " ") != std::string::npos);
    CHECK(total.find("$0.000210") != std::string::npos);

    auto days = run_command({AIGW_PATH, "cost", "--by", "day", "--since", "3d"}, env);
    REQUIRE(days.exit_code == 0);
    int day_rows = 0;
    int quiet = 0;
    for (const auto& line : lines_of(days.out)) {
        if (line.size() > 10 && std::isdigit(static_cast<unsigned char>(line[0])) != 0 && line[4] == '-' &&
            line[7] == '-') {
            ++day_rows;
            quiet += line.find(" 0 ") != std::string::npos && line.find("$0.000000") != std::string::npos;
        }
    }
    CHECK(day_rows == 4);  // three days ago .. today
    CHECK(quiet == 3);

    auto inverted = run_command({AIGW_PATH, "cost", "--since", "today", "--until", "yesterday"}, env);
    CHECK(inverted.exit_code == 2);
    CHECK(inverted.out.empty());
    CHECK(inverted.err.find("is not after --since") != std::string::npos);
}

TEST_CASE("aigw cli output: logs and logs -f print the same columns; --csv; a tag with no rows says so")
{
    Daemon d(nullptr);
    const auto env = out_env(d);
    REQUIRE(run_command({AIGW_PATH, "run", "-m", "mock/echo", "one", "--no-save"}, env).exit_code == 0);
    auto table = run_command({AIGW_PATH, "logs"}, env);
    REQUIRE(table.exit_code == 0);
    const std::string header = lines_of(table.out).front();
    CHECK(header.find("IN TOK") != std::string::npos);
    CHECK(header.find("COST USD") != std::string::npos);
    CHECK(header.find("LAT ms") != std::string::npos);

    auto follow_env = env;
    follow_env["AIGW"] = AIGW_PATH;
    const auto dir = aigw::test::make_temp_dir("out-follow");
    const std::string script = "cd '" + dir.string() +
                               "'; \"$AIGW\" logs -f -n 1 > out 2> err & pid=$!; sleep 1; kill $pid; wait $pid; "
                               "head -1 out";
    auto follow = run_command({"/bin/bash", "-c", script}, follow_env, {}, 30000);
    // The same column names in the same order.
    auto names = [](const std::string& h) {
        std::vector<std::string> out;
        std::istringstream in(h);
        for (std::string w; in >> w;) {
            out.push_back(w);
        }
        return out;
    };
    CHECK(names(lines_of(follow.out).front()) == names(header));

    auto csv = run_command({AIGW_PATH, "logs", "--csv"}, env);
    REQUIRE(csv.exit_code == 0);
    const auto rows = lines_of(csv.out);
    REQUIRE(rows.size() == 2);
    CHECK(rows[0].starts_with("time,request_id,requested_model,served_model,provider,status,"));
    CHECK(rows[1].find(",mock/echo,mock/echo,mock,200,1,") != std::string::npos);

    auto tag = run_command({AIGW_PATH, "logs", "--tag", "nosuch-run"}, env);
    CHECK(tag.exit_code == 0);
    CHECK(tag.out.empty());
    CHECK(tag.err.find("no requests tagged 'nosuch-run'") != std::string::npos);
    CHECK(tag.err.find("in the ledger yet") == std::string::npos);
}

TEST_CASE("aigw cli output: on an 80-column terminal no row of logs or cost is wider than the terminal")
{
    Daemon d(nullptr);
    auto env = out_env(d);
    for (const char* model : {"mock/a-model-with-a-rather-long-name-for-a-table", "mock/echo"}) {
        REQUIRE(run_command({AIGW_PATH, "run", "-m", model, "hi", "--no-save"}, env).exit_code == 0);
    }
    REQUIRE(run_command({AIGW_PATH, "run", "-m", "nosuch/model", "hi", "--no-save"}, env).exit_code == 1);
    for (const auto& args : std::vector<std::vector<std::string>>{{AIGW_PATH, "logs"}, {AIGW_PATH, "cost"}}) {
        PtySession t(args, env, 80);
        CHECK(t.finish() == 0);
        INFO(t.screen());
        const auto lines = lines_of(t.screen());
        REQUIRE(lines.size() >= 3);
        for (const auto& line : lines) {
            CHECK(columns(line) <= 80);
        }
        CHECK(t.screen().find("…") != std::string::npos);  // the long name was cut, not wrapped
    }
    // Piped, the same table keeps whole cells.
    auto piped = run_command({AIGW_PATH, "logs"}, env);
    CHECK(piped.out.find("mock/a-model-with-a-rather-long-name-for-a-table") != std::string::npos);
}

TEST_CASE("aigw cli output: bench on a terminal announces '2 models × 1 prompt'; --fail-on-errors and Ctrl-C exit 1")
{
    FakeUpstream up;
    Daemon d(&up, DaemonOptions{{}, "[routing]\nretries = 0\n"});
    auto env = out_env(d);
    {
        PtySession t({AIGW_PATH, "bench", "mock/echo", "mock/two", "-p", "hi"}, env);
        CHECK(t.finish() == 0);
        CHECK(t.screen().find("2 calls (2 models \u00d7 1 prompt)") != std::string::npos);
    }
    // One failed call of three: exit 0 by default, 1 with --fail-on-errors.
    up.add_fault({{"kind", "500"}, {"count", 1}, {"model_contains", "gpt-4o-mini"}});
    auto lenient = run_command({AIGW_PATH, "bench", "openai/gpt-4o-mini", "-p", "hi", "-n", "3"}, env);
    CHECK_MESSAGE(lenient.exit_code == 0, lenient.err);
    up.add_fault({{"kind", "500"}, {"count", 1}, {"model_contains", "gpt-4o-mini"}});
    auto strict =
        run_command({AIGW_PATH, "bench", "openai/gpt-4o-mini", "-p", "hi", "-n", "3", "--fail-on-errors"}, env);
    INFO(strict.err);
    CHECK(strict.exit_code == 1);
    CHECK(strict.err.find("1x upstream error 500") != std::string::npos);
    CHECK(strict.err.find("--fail-on-errors") != std::string::npos);

    // Interrupted: the report covers what finished, and the exit code says it is partial.
    PtySession t({AIGW_PATH, "bench", "mock/slow", "-p", "a b c d e f g h", "-n", "400"}, env);
    REQUIRE(t.wait_for("/400"));
    t.send("\x03");
    CHECK(t.finish() == 1);
    CHECK(t.screen().find("interrupted") != std::string::npos);
}

TEST_CASE("aigw cli output: aigw run on a terminal says when a retry or the cache answered; piped it stays quiet")
{
    FakeUpstream up;
    Daemon d(&up, DaemonOptions{{}, "[cache]\nenabled = true\n\n[routing]\nretries = 1\nbackoff_initial_ms = 1\n"});
    auto env = out_env(d);
    up.add_fault({{"kind", "500"}, {"count", 1}, {"model_contains", "gpt-4o-mini"}});
    {
        PtySession t({AIGW_PATH, "run", "-m", "openai/gpt-4o-mini", "--no-save", "first question"}, env);
        CHECK(t.finish() == 0);
        CHECK(t.screen().find("aigw: answered by openai/gpt-4o-mini after 2 attempts: retry 1 after") !=
              std::string::npos);
    }
    {
        PtySession t({AIGW_PATH, "run", "-m", "openai/gpt-4o-mini", "--no-save", "first question"}, env);
        CHECK(t.finish() == 0);
        CHECK(t.screen().find("aigw: answered from the cache") != std::string::npos);
    }
    auto piped = run_command({AIGW_PATH, "run", "-m", "openai/gpt-4o-mini", "--no-save", "first question"}, env);
    CHECK(piped.exit_code == 0);
    CHECK(piped.err.empty());
}

TEST_CASE("aigw cli output: aigw run warns before sending a prompt larger than the model's context window")
{
    FakeUpstream up;
    Daemon d(&up);
    const auto env = out_env(d);
    const std::string huge(600'000, 'a');  // about 150k tokens; gpt-4o-mini takes 128k
    auto r = run_command({AIGW_PATH, "run", "-m", "openai/gpt-4o-mini", "--no-save"}, env, huge + " end");
    CHECK(r.err.find("warning: the prompt is about 150,001 tokens, more than the 128k-token context window of "
                     "openai/gpt-4o-mini") != std::string::npos);
    auto small = run_command({AIGW_PATH, "run", "-m", "openai/gpt-4o-mini", "--no-save", "hi"}, env);
    CHECK(small.exit_code == 0);
    CHECK(small.err.find("context window") == std::string::npos);
}

TEST_CASE("aigw cli output: the daemon starting on first use says so on a terminal")
{
    const auto dir = aigw::test::make_temp_dir("out-spawn");
    auto env = alone_env(dir);
    env["AIGWD_PATH"] = AIGWD_PATH;
    const int port = aigw::test::free_port();
    std::ofstream(dir / "config.toml") << "[server]\nport = " << port << "\n";
    {
        PtySession t({AIGW_PATH, "run", "-m", "mock/echo", "--no-save", "hello"}, env);
        CHECK(t.finish() == 0);
        CHECK(t.screen().find("aigw: starting aigwd (port " + std::to_string(port)) != std::string::npos);
    }
    // Running now: nothing to say.
    {
        PtySession t({AIGW_PATH, "run", "-m", "mock/echo", "--no-save", "again"}, env);
        CHECK(t.finish() == 0);
        CHECK(t.screen().find("starting aigwd") == std::string::npos);
    }
    CHECK(run_command({AIGW_PATH, "daemon", "stop"}, env).exit_code == 0);
}

TEST_CASE("aigw cli output: eval --csv prints one line per case")
{
    Daemon d(nullptr);
    const auto dir = aigw::test::make_temp_dir("out-eval-csv");
    std::ofstream(dir / "eval.yaml") << "providers: [mock/echo]\nprompts: ['say {{x}}']\ntests:\n"
                                        "  - vars: {x: hi}\n    assert:\n      - type: contains\n        value: hi\n"
                                        "  - vars: {x: yo}\n    assert:\n      - type: contains\n        value: nope\n";
    auto r = run_command({AIGW_PATH, "eval", (dir / "eval.yaml").string(), "--csv"}, out_env(d));
    CHECK(r.exit_code == 1);  // one case failed
    const auto rows = lines_of(r.out);
    REQUIRE(rows.size() == 3);
    CHECK(rows[0].starts_with("test,description,prompt,provider,model,repeat,result,"));
    CHECK(rows[1].starts_with("1,,say {{x}},mock/echo,mock/echo,1,pass,"));
    CHECK(rows[2].starts_with("2,,say {{x}},mock/echo,mock/echo,1,fail,"));
    CHECK(rows[2].find("contains:") != std::string::npos);
}

TEST_CASE("aigw cli output: a 404 for a virtual key hints at keys list, not at the models")
{
    Daemon d(nullptr);
    auto r = run_command({AIGW_PATH, "keys", "show", "nosuch"}, out_env(d));
    CHECK(r.exit_code == 1);
    CHECK(r.err.find("aigw keys list") != std::string::npos);
    CHECK(r.err.find("models --all") == std::string::npos);
}

TEST_CASE("aigw cli output: bash completes model names without a daemon and every provider for keys set")
{
    const auto dir = aigw::test::make_temp_dir("out-completion");
    auto env = alone_env(dir);
    // A provider of the user's own takes a key too.
    std::ofstream(dir / "config.toml") << "[providers.mylab]\ntype = \"openai\"\n"
                                          "base_url = \"http://127.0.0.1:9/v1\"\napi_key_env = \"MYLAB_API_KEY\"\n";
    const std::string bin_dir = std::filesystem::path(AIGW_PATH).parent_path().string();
    env["PATH"] = bin_dir + ":/usr/bin:/bin";
    auto complete = [&](const std::string& words, int cword) {
        const std::string script = "source <(aigw completions bash) && COMP_WORDS=(" + words +
                                   ") && COMP_CWORD=" + std::to_string(cword) +
                                   " && { _aigw; printf '%s\\n' \"${COMPREPLY[@]}\"; }";
        auto r = run_command({"/bin/bash", "-c", script}, env);
        INFO(r.err);
        CHECK(r.exit_code == 0);
        return r.out;
    };
    // No daemon runs (and none is started): the catalog's names.
    const std::string models = complete("aigw run -m ''", 3);
    CHECK(models.find("openai/gpt-4o-mini\n") != std::string::npos);
    CHECK(models.find("anthropic/") != std::string::npos);
    CHECK_FALSE(std::filesystem::exists(dir / "data" / "aigwd.json"));
    CHECK(complete("aigw bench mock/echo -m gemini/", 4).find("gemini/gemini-2.5-flash\n") != std::string::npos);

    // Every provider that takes a key, as `keys list` knows them.
    auto list = run_command({AIGW_PATH, "--no-spawn", "keys", "list", "--json"}, env);
    const json doc = json::parse(list.out);
    const json& providers = doc["keys"];
    REQUIRE(providers.is_array());
    REQUIRE(providers.size() >= 10);
    const std::string offered = complete("aigw keys set ''", 3);
    for (const auto& p : providers) {
        const std::string name = p["provider"];
        CHECK_MESSAGE(offered.find(name + "\n") != std::string::npos, name);
    }
    CHECK(offered.find("mylab\n") != std::string::npos);
    CHECK(offered.find("mock\n") == std::string::npos);  // nothing to set for mock

    CHECK(complete("aigw logs --c", 2).find("--csv") != std::string::npos);
    CHECK(complete("aigw rn", 1).find_first_not_of("\n") == std::string::npos);
}

TEST_CASE("aigw cli output: zsh and fish complete model names, providers for keys set, and the new flags")
{
    const auto dir = aigw::test::make_temp_dir("out-completion-shells");
    auto env = alone_env(dir);
    std::ofstream(dir / "config.toml") << "[providers.mylab]\ntype = \"openai\"\n"
                                          "base_url = \"http://127.0.0.1:9/v1\"\napi_key_env = \"MYLAB_API_KEY\"\n";
    const std::string bin_dir = std::filesystem::path(AIGW_PATH).parent_path().string();
    env["PATH"] = bin_dir + ":/usr/bin:/bin";
    for (const char* shell : {"/usr/bin/zsh", "/usr/bin/fish"}) {
        REQUIRE_MESSAGE(std::filesystem::exists(shell), shell << " is missing: bash packaging/install-deps.sh --test");
    }
    // zsh: the file parses, and its model and provider functions offer what aigw knows. The
    // completion system's builtins are stubbed: _describe prints the array it was given.
    const std::string file = (dir / "_aigw").string();
    auto zsh = run_command({"/usr/bin/zsh", "-f", "-c",
                            "aigw completions zsh > " + file + " && zsh -n " + file +
                                " && _arguments() { :; } && _describe() { print -rl -- ${(P)2}; } && source " + file +
                                " && print -r -- '== models' && _aigw_models && print -r -- '== providers' && "
                                "_aigw_providers"},
                           env);
    INFO(zsh.err);
    REQUIRE(zsh.exit_code == 0);
    const auto models_at = zsh.out.find("== models\n");
    const auto providers_at = zsh.out.find("== providers\n");
    REQUIRE(models_at != std::string::npos);
    REQUIRE(providers_at != std::string::npos);
    const std::string zsh_models = zsh.out.substr(models_at, providers_at - models_at);
    const std::string zsh_providers = zsh.out.substr(providers_at);
    CHECK(zsh_models.find("\nopenai/gpt-4o-mini\n") != std::string::npos);
    CHECK(zsh_providers.find("\nmylab\n") != std::string::npos);
    CHECK(zsh_providers.find("\nanthropic\n") != std::string::npos);
    CHECK(zsh_providers.find("\nmock\n") == std::string::npos);

    // fish: `complete -C` asks the real completion engine.
    auto fish = [&](const std::string& line) {
        auto r = run_command(
            {"/usr/bin/fish", "--no-config", "-c", "aigw completions fish | source; and complete -C '" + line + "'"},
            env);
        INFO(r.err);
        CHECK(r.exit_code == 0);
        return r.out;
    };
    CHECK(fish("aigw run -m gemini/").find("gemini/gemini-2.5-flash\t") != std::string::npos);
    const std::string providers = fish("aigw keys set ");
    CHECK(providers.find("mylab") != std::string::npos);
    CHECK(providers.find("openai") != std::string::npos);
    CHECK(fish("aigw keys list --").find("--csv") != std::string::npos);
    CHECK(fish("aigw config show --").find("--csv") != std::string::npos);
    CHECK_FALSE(std::filesystem::exists(dir / "data" / "aigwd.json"));  // no daemon was started
}

TEST_CASE("aigw cli output: models --csv has the table's rows, numbers as numbers and the default marked once")
{
    Daemon d(nullptr);
    const auto env = out_env(d);
    auto as_json = run_command({AIGW_PATH, "models", "--json"}, env);
    REQUIRE(as_json.exit_code == 0);
    const json doc = json::parse(as_json.out);
    auto csv = run_command({AIGW_PATH, "models", "--csv"}, env);
    REQUIRE(csv.exit_code == 0);
    const auto lines = lines_of(csv.out);
    REQUIRE(lines.size() == doc["models"].size() + 1);
    CHECK(lines[0] ==
          "model,provider,context_window,input_usd_per_1m,output_usd_per_1m,cached_input_usd_per_1m,key,default");
    int defaults = 0;
    for (std::size_t i = 1; i < lines.size(); ++i) {
        INFO(lines[i]);
        CHECK(std::count(lines[i].begin(), lines[i].end(), ',') == 7);
        CHECK(lines[i].find('$') == std::string::npos);
        defaults += lines[i].ends_with(",true") ? 1 : 0;
        CHECK(lines[i].starts_with(doc["models"][i - 1]["id"].get<std::string>() + ","));
    }
    CHECK(defaults == 1);
    CHECK(run_command({AIGW_PATH, "models", "--csv", "--json"}, env).exit_code == 2);
}

TEST_CASE("aigw cli output: on an 80-column terminal bench and models leave out columns instead of cutting numbers")
{
    Daemon d(nullptr);
    auto env = out_env(d);
    {
        PtySession t({AIGW_PATH, "bench", "mock/echo", "mock/a-model-with-a-long-name", "-p", "hi"}, env, 80);
        CHECK(t.finish() == 0);
        INFO(t.screen());
        const std::string screen = t.screen();
        // Every row fits (the progress bar redraws its line with \r), the model names are
        // whole, and the note says what was left out.
        for (auto line : lines_of(screen)) {
            line = line.substr(line.rfind('\r') == std::string::npos ? 0 : line.rfind('\r') + 1);
            CHECK(columns(line) <= 80);
        }
        CHECK(screen.find("mock/a-model-with-a-long-name ") != std::string::npos);
        CHECK(screen.find("…") == std::string::npos);
        CHECK(screen.find("hidden to fit 80 columns: IN/CALL, OUT/CALL") != std::string::npos);
        CHECK(screen.find("USD/CALL") != std::string::npos);
    }
    {
        // At 160 columns nothing is left out.
        PtySession t({AIGW_PATH, "bench", "mock/echo", "mock/a-model-with-a-long-name", "-p", "hi"}, env, 160);
        CHECK(t.finish() == 0);
        CHECK(t.screen().find("hidden to fit") == std::string::npos);
        CHECK(t.screen().find("IN/CALL") != std::string::npos);
    }
    {
        PtySession t({AIGW_PATH, "models", "--all"}, env, 80);
        CHECK(t.finish() == 0);
        INFO(t.screen());
        const auto lines = lines_of(t.screen());
        const auto blank = std::find(lines.begin(), lines.end(), "");  // the table ends there
        for (auto it = lines.begin(); it != blank; ++it) {
            CHECK(columns(*it) <= 80);
        }
        // Dated snapshots differ only at the end of their ids: they are whole.
        CHECK(t.screen().find("anthropic/claude-3-5-haiku-20241022 ") != std::string::npos);
        CHECK(t.screen().find("hidden to fit 80 columns: PROVIDER") != std::string::npos);
    }
}

TEST_CASE("aigw cli output: keys list --csv holds both kinds of key, config show --csv every value")
{
    Daemon d(nullptr);
    auto env = out_env(d);
    REQUIRE(run_command({AIGW_PATH, "keys", "create", "--name", "ci-bot", "--rpm", "30", "--budget", "2/day"}, env)
                .exit_code == 0);
    env["OPENAI_API_KEY"] = "sk-test-csv-0123456789abcdef";
    auto csv = run_command({AIGW_PATH, "keys", "list", "--csv"}, env);
    REQUIRE_MESSAGE(csv.exit_code == 0, csv.err);
    const auto lines = lines_of(csv.out);
    REQUIRE(lines.size() >= 3);
    CHECK(lines[0] == "kind,name,id,status,source,key,rpm,tpm,budget_usd,budget_period,spent_usd,models,expires");
    bool openai = false;
    bool bot = false;
    for (std::size_t i = 1; i < lines.size(); ++i) {
        INFO(lines[i]);
        CHECK(std::count(lines[i].begin(), lines[i].end(), ',') == 12);
        CHECK(lines[i].find("0123456789abcdef") == std::string::npos);  // masked, as in the table
        if (lines[i].starts_with("provider,openai,,set,env OPENAI_API_KEY,")) {
            openai = true;
        }
        if (lines[i].starts_with("virtual,ci-bot,vk_")) {
            bot = true;
            CHECK(lines[i].find(",active,,,30,,2.000000,day,0.000000,*,") != std::string::npos);
        }
    }
    CHECK(openai);
    CHECK(bot);
    CHECK(run_command({AIGW_PATH, "keys", "list", "--csv", "--json"}, env).exit_code == 2);

    auto config = run_command({AIGW_PATH, "config", "show", "--csv"}, env);
    REQUIRE_MESSAGE(config.exit_code == 0, config.err);
    const auto config_lines = lines_of(config.out);
    REQUIRE(config_lines.size() > 10);
    CHECK(config_lines[0] == "key,value,source");
    CHECK(std::any_of(config_lines.begin(), config_lines.end(),
                      [](const std::string& l) { return l.starts_with("server.port,"); }));
    CHECK(std::find(config_lines.begin(), config_lines.end(), "routing.retries,2,default") != config_lines.end());
}

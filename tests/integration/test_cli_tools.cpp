// aigw bench, eval, cost, logs and run continuity against a real aigwd, the offline mock
// provider and the fake upstream (faults included); report numbers checked against the
// rows in the ledger.

#include "tests/integration/harness.hpp"

#include "daemon/ledger/ledger.hpp"

#include <SQLiteCpp/SQLiteCpp.h>
#include <doctest/doctest.h>

#include <chrono>
#include <fstream>

using aigw::test::Daemon;
using aigw::test::DaemonOptions;
using aigw::test::FakeUpstream;
using aigw::test::run_command;
using nlohmann::json;

namespace {

std::map<std::string, std::string> tool_env(const Daemon& d)
{
    auto env = d.env();
    env["AIGW_HOST"] = "http://127.0.0.1:" + std::to_string(d.port());
    env["NO_COLOR"] = "1";
    return env;
}

json parse_out(const aigw::test::CommandResult& r)
{
    auto doc = json::parse(r.out, nullptr, false);
    REQUIRE_MESSAGE(!doc.is_discarded(), "not JSON: " << r.out << "\nstderr: " << r.err);
    return doc;
}

/// Commits the daemon's queued ledger rows (the admin API flushes before reading).
void flush_ledger(const Daemon& d)
{
    REQUIRE(d.get("/aigw/v1/cost")->status == 200);
}

SQLite::Database ledger_of(const Daemon& d)
{
    return SQLite::Database((d.data_dir() / "ledger.db").string(), SQLite::OPEN_READONLY);
}

const json* find_by(const json& list, const char* key, const std::string& value)
{
    for (const auto& x : list) {
        if (x.value(key, "") == value) {
            return &x;
        }
    }
    return nullptr;
}

std::string fixture(const std::string& rel)
{
    return (std::filesystem::path(AIGW_TEST_SOURCE_DIR) / "tests/fixtures/promptfoo" / rel).string();
}

std::int64_t now_ms()
{
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
        .count();
}

}  // namespace

TEST_CASE("aigw bench compares models, counts upstream faults as errors, and its numbers are the ledger's")
{
    FakeUpstream up;
    Daemon d(&up);
    const std::string tag = "bench-it-1";
    auto r = run_command({AIGW_PATH, "bench", "mock/a", "openai/gpt-4o-mini", "openai/gpt-4o-mini-fault-500",
                          "openai/gpt-4o-mini-fault-cut", "-p", "hello there", "-p", "second prompt", "-n", "2", "-c",
                          "3", "--json", "--tag", tag},
                         tool_env(d), {}, 60000);
    // Two models failed every call: the run reports them and exits 1 (a CI gate must notice).
    REQUIRE_MESSAGE(r.exit_code == 1, r.err);
    CHECK(r.err.find("a model failed every call") != std::string::npos);
    const json doc = parse_out(r);
    CHECK(doc["tag"] == tag);
    const json* mock = find_by(doc["models"], "model", "mock/a");
    const json* mini = find_by(doc["models"], "model", "openai/gpt-4o-mini");
    const json* f500 = find_by(doc["models"], "model", "openai/gpt-4o-mini-fault-500");
    const json* cut = find_by(doc["models"], "model", "openai/gpt-4o-mini-fault-cut");
    REQUIRE((mock && mini && f500 && cut));
    CHECK((*mock)["calls"] == 4);
    CHECK((*mock)["errors"] == 0);
    CHECK((*mock)["ttft_p50_ms"].is_number());
    CHECK((*f500)["errors"] == 4);
    CHECK((*f500)["error_rate"] == 1.0);
    CHECK((*f500)["error_messages"][0]["message"].get<std::string>().find("500") != std::string::npos);
    CHECK((*cut)["errors"] == 4);  // a stream cut before [DONE] is an error, not a crash
    CHECK(doc["samples"].size() == 16);
    CHECK(r.err.find("run tagged " + tag) != std::string::npos);

    // Tokens and cost are the ledger's rows of this run.
    flush_ledger(d);
    auto db = ledger_of(d);
    SQLite::Statement q(db,
                        "SELECT COUNT(*), SUM(cost_usd), SUM(input_tokens), SUM(output_tokens) FROM requests "
                        "WHERE tag = ? AND served_model = 'openai/gpt-4o-mini'");
    q.bind(1, tag);
    REQUIRE(q.executeStep());
    CHECK(q.getColumn(0).getInt() == 4);
    CHECK(q.getColumn(1).getDouble() > 0);
    CHECK((*mini)["cost_total_usd"].get<double>() == doctest::Approx(q.getColumn(1).getDouble()));
    CHECK((*mini)["input_tokens"].get<std::int64_t>() == q.getColumn(2).getInt64());
    CHECK((*mini)["output_tokens"].get<std::int64_t>() == q.getColumn(3).getInt64());
    CHECK(db.execAndGet("SELECT COUNT(*) FROM requests WHERE tag = '" + tag + "' AND status = 200").getInt() == 8);

    // The same run as a table and CSV; aigw cost --by tag shows the run.
    auto table = run_command({AIGW_PATH, "bench", "mock/fast", "mock/slow-one", "-p", "a b c d", "-n", "2"},
                             tool_env(d), {}, 60000);
    REQUIRE(table.exit_code == 0);
    CHECK(table.out.find("MODEL") == 0);
    CHECK(table.out.find('*') != std::string::npos);  // mock/fast wins on latency
    auto csv = run_command({AIGW_PATH, "bench", "mock/a", "-p", "x", "--csv"}, tool_env(d));
    REQUIRE(csv.exit_code == 0);
    CHECK(csv.out.starts_with("model,calls,errors"));
    CHECK(csv.out.find("\nmock/a,1,0,") != std::string::npos);
    auto by_tag = run_command({AIGW_PATH, "cost", "--by", "tag", "--json", "--since", "1d"}, tool_env(d));
    REQUIRE(by_tag.exit_code == 0);
    const json by_tag_doc = parse_out(by_tag);
    const json* run = find_by(by_tag_doc["groups"], "key", tag);
    REQUIRE(run != nullptr);
    CHECK((*run)["requests"] == 16);
    CHECK((*run)["errors"] == 8);
}

TEST_CASE("aigw bench reads prompts from a JSONL file and refuses a run without prompts")
{
    Daemon d(nullptr);
    const auto dir = aigw::test::make_temp_dir("bench-file");
    std::ofstream(dir / "p.jsonl") << R"({"messages":[{"role":"user","content":"from the file"}]})"
                                   << "\n"
                                   << R"({"prompt":"second line"})"
                                   << "\n";
    auto r = run_command({AIGW_PATH, "bench", "mock/a", "-f", (dir / "p.jsonl").string(), "--json", "--show-outputs"},
                         tool_env(d));
    REQUIRE_MESSAGE(r.exit_code == 0, r.err);
    const json doc = parse_out(r);
    REQUIRE(doc["samples"].size() == 2);
    CHECK(doc["samples"][0]["output"] == "Mock answer from mock/a: from the file");
    auto none = run_command({AIGW_PATH, "bench", "mock/a"}, tool_env(d));
    CHECK(none.exit_code == 2);
    CHECK(none.err.find("no prompt") != std::string::npos);
}

TEST_CASE("aigw eval runs promptfoo's getting-started example as is, and fails in CI when assertions fail")
{
    FakeUpstream up;
    Daemon d(&up);
    auto r = run_command(
        {AIGW_PATH, "eval", fixture("getting-started/promptfooconfig.yaml"), "--json", "--tag", "eval-it-1"},
        tool_env(d), {}, 60000);
    CHECK(r.exit_code == 1);  // the fake echoes, so no translation is right
    const json doc = parse_out(r);
    CHECK(doc["description"] == "Getting started");
    REQUIRE(doc["results"].size() == 8);  // 2 tests x 2 prompts x 2 providers
    for (const auto& res : doc["results"]) {
        CHECK(res["ran"] == true);
        CHECK(res["error"] == "");
        CHECK(res["pass"] == false);
    }
    const json* first = &doc["results"][0];
    CHECK((*first)["output"].get<std::string>().find("Convert this English to French: Hello world") !=
          std::string::npos);
    flush_ledger(d);
    auto db = ledger_of(d);
    for (const std::string model : {"openai/gpt-4.1", "openai/o4-mini"}) {
        const json* p = find_by(doc["providers"], "model", model);
        REQUIRE(p != nullptr);
        CHECK((*p)["cases"] == 4);
        CHECK((*p)["pass_rate"] == 0.0);
        SQLite::Statement q(
            db,
            "SELECT COUNT(*), COALESCE(SUM(cost_usd), 0) FROM requests WHERE tag = 'eval-it-1' AND served_model = ?");
        q.bind(1, model);
        REQUIRE(q.executeStep());
        CHECK(q.getColumn(0).getInt() == 4);
        CHECK((*p)["cost_usd"].get<double>() == doctest::Approx(q.getColumn(1).getDouble()));
    }
    const auto gpt41 = *find_by(doc["providers"], "model", "openai/gpt-4.1");
    CHECK(gpt41["cost_usd"].get<double>() > 0);  // priced in the catalog

    // The matrix on a terminal-less stdout: a row per test and prompt, a column per model.
    auto table =
        run_command({AIGW_PATH, "eval", fixture("getting-started/promptfooconfig.yaml")}, tool_env(d), {}, 60000);
    CHECK(table.exit_code == 1);
    CHECK(table.out.find("openai:gpt-4.1") != std::string::npos);
    CHECK(table.out.find("FAIL") != std::string::npos);
    CHECK(table.out.find("PASS RATE") != std::string::npos);
    CHECK(table.out.find("Bonjour le monde") != std::string::npos);  // why it failed
}

TEST_CASE(
    "aigw eval runs the configuration guide's example: file prompts, vertex provider, similar via the gateway, "
    "warnings with lines")
{
    FakeUpstream up;
    Daemon d(&up);
    // javascript is promptfoo's, not ours: the config fails unless it is skipped on purpose.
    auto strict = run_command({AIGW_PATH, "eval", fixture("translation-guide/promptfooconfig.yaml"), "--json"},
                              tool_env(d), {}, 60000);
    CHECK(strict.exit_code == 2);
    CHECK(strict.err.find("promptfooconfig.yaml:13: assertion type 'javascript' is not supported") !=
          std::string::npos);
    auto r = run_command(
        {AIGW_PATH, "eval", fixture("translation-guide/promptfooconfig.yaml"), "--json", "--skip-unsupported"},
        tool_env(d), {}, 60000);
    CHECK(r.exit_code == 1);
    CHECK(r.err.find("promptfooconfig.yaml:13: assertion type 'javascript' is not supported by aigw eval; skipped") !=
          std::string::npos);
    const json doc = parse_out(r);
    REQUIRE(doc["results"].size() == 8);
    CHECK(find_by(doc["providers"], "model", "gemini/gemini-pro") != nullptr);
    bool similar_ran = false;
    for (const auto& res : doc["results"]) {
        CHECK(res["error"] == "");
        for (const auto& a : res["assertions"]) {
            if (a["type"] == "similar") {
                similar_ran = true;
                CHECK(a["reason"].get<std::string>().find("similarity") != std::string::npos);
            }
        }
    }
    CHECK(similar_ran);
    bool embedded = false;
    for (const auto& req : up.requests()) {
        embedded |= req["path"].get<std::string>().find("/embeddings") != std::string::npos;
    }
    CHECK(embedded);  // similar's embeddings went through the gateway to the provider
}

TEST_CASE("aigw eval exits 0 when everything passes, 1 when one assertion fails, and grades with mock offline")
{
    Daemon d(nullptr);
    const auto dir = aigw::test::make_temp_dir("eval-mock");
    const std::string passing = R"(description: offline
providers:
  - mock/a
  - id: mock/tools
    config:
      tools:
        - type: function
          function:
            name: get_weather
            parameters: {type: object, properties: {location: {type: string}}}
prompts: ['{{q}}']
tests:
  - description: rubric passes
    vars: {q: 'PASS please'}
    assert:
      - type: llm-rubric
        value: is fine
  - description: deterministic checks
    vars: {q: hello}
    assert:
      - type: similar
        value: 'Mock answer from mock/a: hello'
        threshold: 0.99
      - type: starts-with
        value: Mock answer
      - type: latency
        threshold: 10000
      - type: cost
        threshold: 0
      - type: not-contains
        value: error
)";
    std::ofstream(dir / "pass.yaml") << passing;
    std::ofstream(dir / "fail.yaml") << passing << R"(  - description: rubric fails
    vars: {q: 'FAIL please'}
    assert:
      - type: llm-rubric
        value: is fine
)";
    auto ok = run_command({AIGW_PATH, "eval", (dir / "pass.yaml").string(), "-m", "mock/a", "--json"}, tool_env(d), {},
                          60000);
    CHECK_MESSAGE(ok.exit_code == 0, ok.out << ok.err);
    auto bad = run_command({AIGW_PATH, "eval", (dir / "fail.yaml").string(), "-m", "mock/a", "--json"}, tool_env(d), {},
                           60000);
    CHECK(bad.exit_code == 1);
    const json doc = parse_out(bad);
    int failed = 0;
    for (const auto& res : doc["results"]) {
        if (res["pass"] == false) {
            ++failed;
            CHECK(res["description"] == "rubric fails");
            CHECK(res["assertions"][0]["reason"].get<std::string>().find("FAIL") != std::string::npos);
        }
    }
    CHECK(failed == 1);
    // The judge and the embedder were mock models, through the gateway.
    flush_ledger(d);
    auto db = ledger_of(d);
    CHECK(db.execAndGet("SELECT COUNT(*) FROM requests WHERE served_model = 'mock/judge'").getInt() >= 2);
    CHECK(db.execAndGet("SELECT COUNT(*) FROM requests WHERE served_model = 'mock/embed'").getInt() >= 1);

    // With the config's own providers, the tool-calling model passes is-valid-openai-tools-call.
    std::ofstream(dir / "tools.yaml") << R"(providers:
  - id: mock/tools
    config:
      tools:
        - type: function
          function:
            name: get_weather
            parameters: {type: object, properties: {location: {type: string}}}
prompts: ['Call get_weather for Paris']
tests:
  - assert:
      - type: is-valid-openai-tools-call
)";
    auto tools = run_command({AIGW_PATH, "eval", (dir / "tools.yaml").string(), "--json"}, tool_env(d), {}, 60000);
    CHECK_MESSAGE(tools.exit_code == 0, tools.out);
}

TEST_CASE(
    "aigw eval --pick-cheapest names the cheapest model that meets --min-pass, graded by a judge via the fake upstream")
{
    FakeUpstream up;
    Daemon d(&up);
    const auto dir = aigw::test::make_temp_dir("eval-pick");
    std::ofstream(dir / "pick.yaml") << R"(providers: [openai:gpt-4o, openai:gpt-4o-mini, openai:gpt-4o-mini-fault-500]
prompts: ['Say {{word}}']
tests:
  - vars: {word: hello}
    assert:
      - type: icontains
        value: 'say hello'
)";
    auto r = run_command({AIGW_PATH, "eval", (dir / "pick.yaml").string(), "--pick-cheapest", "--min-pass", "100%"},
                         tool_env(d), {}, 60000);
    CHECK(r.exit_code == 0);
    CHECK(r.out.find("cheapest with a pass rate of at least 100%: openai:gpt-4o-mini") != std::string::npos);
    CHECK(r.out.find("ERROR") != std::string::npos);  // the faulty model's cell
    auto none = run_command(
        {AIGW_PATH, "eval", (dir / "pick.yaml").string(), "-m", "openai/gpt-4o-mini-fault-500", "--pick-cheapest"},
        tool_env(d), {}, 60000);
    CHECK(none.exit_code == 1);
    CHECK(none.out.find("no model reaches") != std::string::npos);

    // A judge model on the fake upstream echoes the output it grades: a planted verdict decides.
    std::ofstream(dir / "judge.yaml") << R"(providers: [mock/a]
prompts: ['{{v}}']
defaultTest:
  options:
    provider: openai:gpt-4o-mini
tests:
  - vars: {v: '{"pass": false, "score": 0.1, "reason": "planted"}'}
    assert:
      - type: llm-rubric
        value: is correct
)";
    auto judged = run_command({AIGW_PATH, "eval", (dir / "judge.yaml").string(), "--json"}, tool_env(d), {}, 60000);
    CHECK(judged.exit_code == 1);
    const json doc = parse_out(judged);
    CHECK(doc["results"][0]["assertions"][0]["reason"] == "planted");
    CHECK(doc["results"][0]["assertions"][0]["score"] == doctest::Approx(0.1));
    bool rubric_seen = false;
    for (const auto& req : up.requests()) {
        rubric_seen |= req["body"].dump().find("<Rubric>") != std::string::npos;
    }
    CHECK(rubric_seen);
    CHECK(doc["grading_cost_usd"].get<double>() > 0);
}

TEST_CASE("aigw cost --by variant, --by tag and --by day report exactly the ledger's rows")
{
    Daemon d(nullptr);
    flush_ledger(d);
    const std::int64_t now = now_ms();
    {
        // Rows go in through the ledger's own writer (as the daemon's would), so the rollups
        // the reports read are kept with them. SQLite lets the two writers take turns.
        auto ledger = aigw::daemon::ledger::Ledger::open(d.data_dir() / "ledger.db", 0);
        REQUIRE(ledger);
        auto add = [&](int i, const std::string& model, int status, double cost, int latency) {
            aigw::daemon::ledger::LedgerRow row;
            row.ts_ms = now - 1000 - i;
            row.request_id = std::string("req_t") + std::to_string(i);
            row.requested_model = "smart";
            row.served_model = model;
            row.provider = model.substr(0, model.find('/'));
            row.status = status;
            row.cost_usd = cost;
            row.latency_ms = latency;
            row.input_tokens = 10;
            row.output_tokens = 5;
            row.tag = "ab-1";
            row.variant = model;
            (*ledger)->record(std::move(row));
        };
        for (int i = 0; i < 20; ++i) {  // 20 requests, 2 errors, latency 100..290
            add(i, "openai/gpt-4o-mini", i < 2 ? 500 : 200, 0.001, 100 + 10 * i);
        }
        for (int i = 20; i < 30; ++i) {  // 10 requests, no errors, latency 50..95, dearer
            add(i, "anthropic/claude-haiku-4-5", 200, 0.004, 50 + 5 * (i - 20));
        }
        (*ledger)->close();
    }
    auto r = run_command({AIGW_PATH, "cost", "--by", "variant", "--since", "1d", "--json"}, tool_env(d));
    REQUIRE(r.exit_code == 0);
    const json doc = parse_out(r);
    const json* mini = find_by(doc["groups"], "key", "openai/gpt-4o-mini");
    const json* haiku = find_by(doc["groups"], "key", "anthropic/claude-haiku-4-5");
    REQUIRE((mini && haiku));
    CHECK((*mini)["requests"] == 20);
    CHECK((*mini)["errors"] == 2);
    CHECK((*mini)["cost_usd"].get<double>() == doctest::Approx(0.02));
    CHECK((*mini)["avg_latency_ms"].get<double>() == doctest::Approx(195));
    CHECK((*mini)["p95_latency_ms"].get<double>() ==
          doctest::Approx(280).epsilon(0.05));  // rank 19 of 20 (log-spaced buckets)
    CHECK((*haiku)["requests"] == 10);
    CHECK((*haiku)["cost_usd"].get<double>() == doctest::Approx(0.04));
    CHECK((*haiku)["p95_latency_ms"].get<double>() == doctest::Approx(95).epsilon(0.05));

    auto table = run_command({AIGW_PATH, "cost", "--by", "variant", "--since", "1d"}, tool_env(d));
    REQUIRE(table.exit_code == 0);
    CHECK(table.out.find("ERROR %") != std::string::npos);
    CHECK(table.out.find("10.0 ") != std::string::npos);  // 2 of 20
    CHECK(table.out.find("0.0*") != std::string::npos);   // haiku: no errors, the best

    auto csv = run_command({AIGW_PATH, "cost", "--by", "tag", "--since", "1d", "--csv"}, tool_env(d));
    REQUIRE(csv.exit_code == 0);
    CHECK(csv.out.find("\nab-1,30,2,300,0,150,0.060000,0,") != std::string::npos);

    auto days = run_command({AIGW_PATH, "cost", "--by", "day", "--since", "1d"}, tool_env(d));
    REQUIRE(days.exit_code == 0);
    CHECK(days.out.find("SPEND") != std::string::npos);
    CHECK(days.out.find("\u2588") != std::string::npos);  // the day's spend as a bar
}

TEST_CASE("aigw logs lists requests, follows new ones, and logs show prints a request's attempts and bodies")
{
    DaemonOptions opts;
    opts.config_toml = "[ledger]\nlog_bodies = true\n";
    Daemon d(nullptr, opts);
    REQUIRE(run_command({AIGW_PATH, "run", "-m", "mock/one", "first", "--no-save"}, tool_env(d)).exit_code == 0);
    REQUIRE(run_command({AIGW_PATH, "run", "-m", "mock/two", "second", "--no-save"}, tool_env(d)).exit_code == 0);
    auto list = run_command({AIGW_PATH, "logs", "--json", "-n", "5"}, tool_env(d));
    REQUIRE(list.exit_code == 0);
    const json rows = parse_out(list);
    REQUIRE(rows.size() == 2);
    CHECK(rows[0]["served_model"] == "mock/one");  // oldest first
    CHECK(rows[1]["served_model"] == "mock/two");
    const std::string id = rows[1]["request_id"];

    auto table = run_command({AIGW_PATH, "logs"}, tool_env(d));
    REQUIRE(table.exit_code == 0);
    CHECK(table.out.find(id) != std::string::npos);

    auto show = run_command({AIGW_PATH, "logs", "show", id}, tool_env(d));
    REQUIRE(show.exit_code == 0);
    CHECK(show.out.find("attempt 1 (final)") != std::string::npos);
    CHECK(show.out.find("mock/two (mock)") != std::string::npos);
    CHECK(show.out.find("request body") != std::string::npos);
    CHECK(show.out.find("second") != std::string::npos);
    auto show_json = run_command({AIGW_PATH, "logs", "show", id, "--json"}, tool_env(d));
    REQUIRE(show_json.exit_code == 0);
    CHECK(parse_out(show_json)["attempts"].size() == 1);
    auto missing = run_command({AIGW_PATH, "logs", "show", "req_nope"}, tool_env(d));
    CHECK(missing.exit_code == 1);
    CHECK(missing.err.find("no request req_nope") != std::string::npos);

    // -f prints what is recorded after it started.
    auto env = tool_env(d);
    env["AIGW"] = AIGW_PATH;
    const auto dir = aigw::test::make_temp_dir("logs-follow");
    const std::string script =
        "cd '" + dir.string() +
        "'; \"$AIGW\" logs -f -n 1 > out 2> err & pid=$!; sleep 0.8; "
        "\"$AIGW\" run -m mock/followed late --no-save > /dev/null; sleep 1.2; kill $pid; wait $pid; cat out";
    auto follow = run_command({"/bin/bash", "-c", script}, env, {}, 30000);
    CHECK(follow.out.find("TIME") != std::string::npos);
    CHECK(follow.out.find("mock/two") != std::string::npos);
    CHECK(follow.out.find("mock/followed") != std::string::npos);
    CHECK(follow.out.find("mock/one") == std::string::npos);  // only the last one before following
}

TEST_CASE("aigw run -c continues the last conversation, --cid a named one, and -t applies a saved template")
{
    FakeUpstream up;
    Daemon d(&up);
    auto env = tool_env(d);
    auto last_messages = [&]() {
        const json reqs = up.requests();
        REQUIRE(!reqs.empty());
        return json::parse(reqs.back()["body"].get<std::string>())["messages"];
    };
    REQUIRE(run_command({AIGW_PATH, "run", "-m", "openai/gpt-4o-mini", "first question"}, env).exit_code == 0);
    auto second = run_command({AIGW_PATH, "run", "-c", "second question"}, env);
    REQUIRE_MESSAGE(second.exit_code == 0, second.err);
    json msgs = last_messages();
    REQUIRE(msgs.size() == 3);  // the model came from the conversation too
    CHECK(msgs[0]["content"] == "first question");
    CHECK(msgs[1]["content"] == "Echo: first question");
    CHECK(msgs[2]["content"] == "second question");

    REQUIRE(run_command({AIGW_PATH, "run", "--cid", "proj", "-m", "openai/gpt-4o-mini", "-s", "Be brief", "alpha"}, env)
                .exit_code == 0);
    REQUIRE(run_command({AIGW_PATH, "run", "-m", "openai/gpt-4o-mini", "unrelated"}, env).exit_code == 0);
    REQUIRE(run_command({AIGW_PATH, "run", "--cid", "proj", "beta"}, env).exit_code == 0);
    msgs = last_messages();
    REQUIRE(msgs.size() == 4);
    CHECK(msgs[0] == json{{"role", "system"}, {"content", "Be brief"}});
    CHECK(msgs[1]["content"] == "alpha");
    CHECK(msgs[3]["content"] == "beta");
    auto bad_id = run_command({AIGW_PATH, "run", "--cid", "../x", "hi"}, env);
    CHECK(bad_id.exit_code == 2);

    auto saved = run_command({AIGW_PATH, "run", "--save-template", "terse", "-m", "openai/gpt-4o-mini", "-s",
                              "Answer in one word", "--max-tokens", "20", "Q: {{input}}"},
                             env);
    REQUIRE_MESSAGE(saved.exit_code == 0, saved.err);
    auto templated = run_command({AIGW_PATH, "run", "-t", "terse", "--no-save"}, env, "why is the sky blue\n");
    REQUIRE_MESSAGE(templated.exit_code == 0, templated.err);
    const json body = json::parse(up.requests().back()["body"].get<std::string>());
    CHECK(body["model"] == "gpt-4o-mini");
    CHECK(body["messages"][0]["content"] == "Answer in one word");
    CHECK(body["messages"][1]["content"] == "Q: why is the sky blue");
    CHECK(body["max_tokens"] == 20);
    auto unknown = run_command({AIGW_PATH, "run", "-t", "nope", "x"}, env);
    CHECK(unknown.exit_code == 2);
    CHECK(unknown.err.find("--save-template nope") != std::string::npos);
}

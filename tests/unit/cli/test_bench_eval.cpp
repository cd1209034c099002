// Pure pieces of aigw bench, eval, cost, logs and run continuity: statistics, winners, CSV,
// promptfoo config parsing, templating, assertions, judge verdicts, conversations.

#include "cli/bench.hpp"
#include "cli/cmd_cost.hpp"
#include "cli/cmd_run.hpp"
#include "cli/conversation.hpp"
#include "cli/eval_assert.hpp"
#include "cli/eval_config.hpp"
#include "cli/logs_format.hpp"
#include "cli/term.hpp"

#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

using namespace aigw::cli;
using nlohmann::json;

namespace {

std::vector<std::string> lines_in(const std::string& text)
{
    std::vector<std::string> out;
    std::istringstream in(text);
    for (std::string l; std::getline(in, l);) {
        out.push_back(l);
    }
    return out;
}

BenchSample ok_sample(std::size_t model, double latency, std::optional<double> ttft, std::int64_t out_tokens,
                      double cost)
{
    BenchSample s;
    s.model = model;
    s.ok = true;
    s.latency_ms = latency;
    s.ttft_ms = ttft;
    s.input_tokens = 10;
    s.output_tokens = out_tokens;
    s.cost_usd = cost;
    return s;
}

struct ScratchDir {
    ScratchDir()
    {
        std::string pattern = (std::filesystem::temp_directory_path() / "aigw-cli-unit-XXXXXX").string();
        REQUIRE(::mkdtemp(pattern.data()) != nullptr);
        path = pattern;
    }
    ~ScratchDir()
    {
        std::error_code ec;
        std::filesystem::remove_all(path, ec);
    }
    void write(const std::string& name, const std::string& text) const { std::ofstream(path / name) << text; }
    std::filesystem::path path;
};

EvalConfig parse_ok(const std::string& yaml, const std::filesystem::path& base = ".")
{
    auto cfg = parse_eval_config(yaml, "cfg.yaml", base);
    REQUIRE_MESSAGE(cfg.has_value(), (cfg ? "" : cfg.error()));
    return *cfg;
}

bool has_warning(const EvalConfig& cfg, const std::string& needle)
{
    for (const auto& w : cfg.warnings) {
        if (w.find(needle) != std::string::npos) {
            return true;
        }
    }
    return false;
}

AssertResult check(const std::string& type, const json& value, const std::string& output,
                   std::optional<double> threshold = std::nullopt, const GradingServices& services = {})
{
    EvalAssertion a;
    a.type = type;
    if (type.starts_with("not-")) {
        a.type = type.substr(4);
        a.negate = true;
    }
    a.value = value;
    a.threshold = threshold;
    AssertInput in;
    in.output = output;
    in.vars = {{"name", "Ada"}};
    in.judge = "mock/judge";
    in.embedder = "mock/embed";
    return evaluate_assertion(a, in, services);
}

}  // namespace

// ---- bench ----

TEST_CASE("percentile is nearest-rank and empty input has none")
{
    CHECK_FALSE(percentile({}, 50).has_value());
    CHECK(*percentile({5}, 95) == 5);
    CHECK(*percentile({4, 1, 3, 2}, 50) == 2);
    std::vector<double> hundred;
    for (int i = 1; i <= 100; ++i) {
        hundred.push_back(i);
    }
    CHECK(*percentile(hundred, 95) == 95);
    CHECK(*percentile(hundred, 100) == 100);
}

TEST_CASE("summarize counts errors, leaves cancelled calls out, and measures tokens per second of generation")
{
    std::vector<BenchSample> samples{ok_sample(0, 1100, 100, 100, 0.002), ok_sample(0, 2100, 100, 200, 0.004)};
    BenchSample err;
    err.model = 0;
    err.error = "error 429";
    err.cost_usd = 0.001;  // a failed attempt may still be billed
    samples.push_back(err);
    samples.push_back(err);
    BenchSample cancelled;
    cancelled.model = 0;
    cancelled.cancelled = true;
    samples.push_back(cancelled);
    samples.push_back(ok_sample(1, 10, 5, 1, 0));  // another model

    const BenchStats s = summarize("m", 0, samples);
    CHECK(s.calls == 4);
    CHECK(s.errors == 2);
    CHECK(s.error_rate == doctest::Approx(0.5));
    CHECK(*s.latency_p50 == 1100);
    CHECK(*s.latency_p95 == 2100);
    CHECK(*s.ttft_p50 == 100);
    // 300 output tokens over (1000 + 2000) ms of generation.
    CHECK(*s.tokens_per_s == doctest::Approx(100));
    CHECK(s.output_tokens == 300);
    CHECK(s.cost_total == doctest::Approx(0.008));
    CHECK(*s.cost_per_call == doctest::Approx(0.003));
    REQUIRE(s.error_counts.size() == 1);
    CHECK(s.error_counts[0] == std::pair<std::string, int>{"error 429", 2});
}

TEST_CASE("tokens per second falls back to the whole latency when generation is too fast to time")
{
    std::vector<BenchSample> samples{ok_sample(0, 500, 500, 50, 0), ok_sample(0, 500, std::nullopt, 50, 0)};
    CHECK(*summarize("m", 0, samples).tokens_per_s == doctest::Approx(100));
}

TEST_CASE("winners mark the best values, share ties, and mark nothing without a contest")
{
    using V = std::vector<std::optional<double>>;
    CHECK(winners(V{3.0, 1.0, 2.0}, Better::lower) == std::vector<bool>{false, true, false});
    CHECK(winners(V{3.0, 1.0, 3.0}, Better::higher) == std::vector<bool>{true, false, true});
    CHECK(winners(V{0.0, 0.0}, Better::lower) == std::vector<bool>{false, false});
    CHECK(winners(V{1.0, std::nullopt}, Better::lower) == std::vector<bool>{false, false});
    CHECK(winners(V{std::nullopt, 2.0, 1.0}, Better::lower) == std::vector<bool>{false, false, true});
}

TEST_CASE("the bench table marks the winner of each column and aligns every row")
{
    BenchStats fast;
    fast.model = "mock/fast";
    fast.calls = 2;
    fast.latency_p50 = 10;
    fast.latency_p95 = 12;
    fast.cost_per_call = 0.01;
    fast.cost_total = 0.02;
    BenchStats slow = fast;
    slow.model = "mock/slow";
    slow.latency_p50 = 200;
    slow.latency_p95 = 250;
    slow.cost_per_call = 0.001;
    slow.cost_total = 0.002;
    std::ostringstream out;
    bench_table({fast, slow}, false).print(out);
    const auto lines = lines_in(out.str());
    REQUIRE(lines.size() == 3);
    CHECK(lines[1].find("10.0*") != std::string::npos);
    CHECK(lines[2].find("200 ") != std::string::npos);
    CHECK(lines[2].find("$0.001000*") != std::string::npos);
    CHECK(lines[1].find("$0.010000 ") != std::string::npos);
    CHECK(display_width(lines[1]) == display_width(lines[2]));
}

TEST_CASE("bench CSV quotes fields and leaves unknown numbers empty")
{
    BenchStats s;
    s.model = "weird,\"name\"";
    s.calls = 1;
    s.errors = 1;
    s.error_rate = 1;
    const auto lines = lines_in(bench_csv({s}));
    REQUIRE(lines.size() == 2);
    CHECK(lines[0].starts_with("model,calls,errors,error_rate,ttft_p50_ms"));
    CHECK(lines[1].starts_with("\"weird,\"\"name\"\"\",1,1,1.0000,,,,,,0,0,,"));
}

TEST_CASE("prompt files are JSONL with messages or prompt, or one plain-text prompt")
{
    auto jsonl = parse_prompt_file(
        "{\"messages\":[{\"role\":\"system\",\"content\":\"s\"},{\"role\":\"user\",\"content\":\"q1\"}],\"max_tokens\":"
        "5,\"model\":\"x\"}\n"
        "\n{\"prompt\":\"q2\"}\n\"q3\"\n",
        "p.jsonl");
    REQUIRE(jsonl.has_value());
    REQUIRE(jsonl->size() == 3);
    CHECK((*jsonl)[0].label == "q1");
    CHECK((*jsonl)[0].messages.size() == 2);
    CHECK((*jsonl)[0].extra == json{{"max_tokens", 5}});  // model comes from the command line
    CHECK((*jsonl)[1].messages[0]["content"] == "q2");
    CHECK((*jsonl)[2].label == "q3");

    auto plain = parse_prompt_file("Write a haiku\nabout C++\n", "p.txt");
    REQUIRE(plain.has_value());
    REQUIRE(plain->size() == 1);
    CHECK(plain->front().label == "Write a haiku\nabout C++");

    auto broken = parse_prompt_file("{\"prompt\":\"ok\"}\nnot json\n", "p.jsonl");
    REQUIRE_FALSE(broken.has_value());
    CHECK(broken.error().find("p.jsonl:2") != std::string::npos);
    CHECK_FALSE(parse_prompt_file("{\"messages\": []}", "p.jsonl").has_value());
}

TEST_CASE("answers side by side wrap within their columns")
{
    const std::string out = side_by_side({"a/model", "b/model"}, {"one two three four five six", "short"}, 30);
    const auto lines = lines_in(out);
    REQUIRE(lines.size() >= 3);
    CHECK(lines[0].starts_with("a/model"));
    CHECK(lines[0].find("b/model") == 16);  // (30 - 3) / 2 = 13 columns + 3 spaces
    for (const auto& l : lines) {
        CHECK(display_width(l) <= 30);
    }
    CHECK(out.find("short") != std::string::npos);
    CHECK(wrap_text("abcdefghij", 4) == std::vector<std::string>{"abcd", "efgh", "ij"});
    CHECK(wrap_text("a\n\nb", 10) == std::vector<std::string>{"a", "", "b"});
}

TEST_CASE("run tags name their kind, a timestamp and a random suffix")
{
    const std::string tag = make_run_tag("bench");
    CHECK(tag.starts_with("bench-"));
    CHECK(tag.size() == std::string("bench-20250101-120000-abcd").size());
    CHECK(make_run_tag("bench") != make_run_tag("bench"));
}

// ---- eval config ----

TEST_CASE("promptfoo provider ids map to gateway models")
{
    CHECK(map_provider_id("openai:gpt-4o-mini") == "openai/gpt-4o-mini");
    CHECK(map_provider_id("openai:chat:gpt-4o-mini") == "openai/gpt-4o-mini");
    CHECK(map_provider_id("anthropic:messages:claude-haiku-4-5") == "anthropic/claude-haiku-4-5");
    CHECK(map_provider_id("vertex:gemini-pro") == "gemini/gemini-pro");
    CHECK(map_provider_id("google:gemini-2.5-flash") == "gemini/gemini-2.5-flash");
    CHECK(map_provider_id("openai:embedding:text-embedding-3-small") == "openai/text-embedding-3-small");
    CHECK(map_provider_id("bedrock:anthropic.claude-3-haiku-20240307-v1:0") ==
          "bedrock/anthropic.claude-3-haiku-20240307-v1:0");
    CHECK(map_provider_id("ollama:chat:llama3.2") == "ollama/llama3.2");
    CHECK(map_provider_id("echo") == "mock/echo");
    CHECK(map_provider_id("mock/echo") == "mock/echo");
    CHECK(map_provider_id("fast") == "fast");
    CHECK_FALSE(map_provider_id("file://provider.py").has_value());
    CHECK_FALSE(map_provider_id("exec:./run.sh").has_value());
}

TEST_CASE("templates substitute vars, dotted paths and filters; unknown names render empty")
{
    const json vars = {{"name", "Ada"}, {"user", {{"city", "Paris"}}}, {"n", 3}, {"list", {"a", "b"}}};
    CHECK(render_template("Hi {{name}} from {{ user.city }}!", vars) == "Hi Ada from Paris!");
    CHECK(render_template("{{n}} {{list.1}} {{ list | dump }}", vars) == "3 b [\"a\",\"b\"]");
    CHECK(render_template("{{ name | upper }}{{missing}}.", vars) == "ADA.");
    CHECK(render_template("{% if x %}keep{% endif %} {{ unclosed", vars) == "{% if x %}keep{% endif %} {{ unclosed");
}

TEST_CASE("chat prompts render inside their strings, so vars with quotes keep the JSON valid")
{
    EvalPrompt chat{"chat", R"([{"role":"system","content":"Be {{tone}}"},{"role":"user","content":"{{q}}"}])"};
    const json msgs = render_messages(chat, {{"tone", "brief"}, {"q", "say \"hi\""}});
    REQUIRE(msgs.size() == 2);
    CHECK(msgs[0]["content"] == "Be brief");
    CHECK(msgs[1]["content"] == "say \"hi\"");
    const json plain = render_messages({"p", "Tell me about {{topic}}"}, {{"topic", "SSE"}});
    CHECK(plain == json::array({{{"role", "user"}, {"content", "Tell me about SSE"}}}));
}

TEST_CASE("a promptfoo config parses providers in every form, merges defaultTest and expands var arrays")
{
    const auto cfg = parse_ok(R"(description: demo
providers:
  - openai:chat:gpt-4o-mini
  - id: anthropic:messages:claude-haiku-4-5
    label: haiku
    config:
      temperature: 0
      max_tokens: 64
      apiKey: sk-nope
  - mock/echo: {}
prompts:
  - 'Translate to {{language}}: {{input}}'
  - raw: 'Say {{input}}'
    label: say
defaultTest:
  vars:
    input: hello
  assert:
    - type: cost
      threshold: 0.01
  options:
    provider: openai:gpt-4o
tests:
  - description: two languages
    vars:
      language: [French, German]
    assert:
      - type: not-icontains
        value: error
  - vars:
      language: Spanish
      input: adios
    threshold: 0.5
)");
    REQUIRE(cfg.providers.size() == 3);
    CHECK(cfg.providers[0].model == "openai/gpt-4o-mini");
    CHECK(cfg.providers[1].model == "anthropic/claude-haiku-4-5");
    CHECK(cfg.providers[1].label == "haiku");
    CHECK(cfg.providers[1].params == json{{"temperature", 0}, {"max_tokens", 64}});
    CHECK(cfg.providers[2].model == "mock/echo");
    CHECK(has_warning(cfg, "cfg.yaml:9: provider config 'apiKey' ignored"));
    REQUIRE(cfg.prompts.size() == 2);
    CHECK(cfg.prompts[1].label == "say");
    REQUIRE(cfg.tests.size() == 3);  // French, German, Spanish
    CHECK(cfg.tests[0].vars == json{{"input", "hello"}, {"language", "French"}});
    CHECK(cfg.tests[1].vars["language"] == "German");
    CHECK(cfg.tests[2].vars["input"] == "adios");
    REQUIRE(cfg.tests[0].asserts.size() == 2);
    CHECK(cfg.tests[0].asserts[0].type == "cost");  // defaultTest's first
    CHECK(cfg.tests[0].asserts[1].type == "icontains");
    CHECK(cfg.tests[0].asserts[1].negate);
    CHECK(cfg.tests[0].judge == "openai/gpt-4o");
    CHECK(cfg.tests[2].threshold == 0.5);
}

TEST_CASE("unknown keys are warnings and assertion types aigw cannot run are listed, with their line")
{
    const auto cfg = parse_ok(R"(providers: [mock/a]
prompts: ['hi']
colour: blue
tests:
  - vars: {x: 1}
    frobnicate: yes
    assert:
      - type: javascript
        value: output.length > 3
      - type: contains
        value: hi
        colour: red
outputPath: out.json
)");
    CHECK(has_warning(cfg, "cfg.yaml:3: unknown key 'colour'"));
    CHECK(has_warning(cfg, "cfg.yaml:6: unknown test key 'frobnicate'"));
    REQUIRE(cfg.unsupported.size() == 1);
    CHECK(cfg.unsupported[0] == "cfg.yaml:8: assertion type 'javascript' is not supported by aigw eval");
    CHECK(cfg.errors.empty());
    CHECK(has_warning(cfg, "cfg.yaml:12: unknown assertion key 'colour'"));
    CHECK(has_warning(cfg, "cfg.yaml:13: outputPath"));
    REQUIRE(cfg.tests.size() == 1);
    REQUIRE(cfg.tests[0].asserts.size() == 1);
    CHECK(cfg.tests[0].asserts[0].type == "contains");
}

TEST_CASE("a typo'd assertion type is an error with its line and a suggestion, not a skipped check")
{
    const auto cfg = parse_ok(R"(providers: [mock/a]
prompts: ['hi']
tests:
  - assert:
      - type: contians
        value: hi
      - type: not-icontans
        value: x
      - type: zzzzzz
)");
    REQUIRE(cfg.errors.size() == 3);
    CHECK(cfg.errors[0] == "cfg.yaml:5: unknown assertion type 'contians'; did you mean 'contains'?");
    CHECK(cfg.errors[1] == "cfg.yaml:7: unknown assertion type 'not-icontans'; did you mean 'not-icontains'?");
    CHECK(cfg.errors[2] == "cfg.yaml:9: unknown assertion type 'zzzzzz'");
    CHECK(cfg.unsupported.empty());
}

TEST_CASE("bad configs are errors that name the file and line")
{
    auto not_yaml = parse_eval_config("providers: [a\nprompts: x", "bad.yaml", ".");
    REQUIRE_FALSE(not_yaml.has_value());
    CHECK(not_yaml.error().starts_with("bad.yaml:"));
    auto no_providers = parse_eval_config("prompts: [hi]\n", "p.yaml", ".");
    REQUIRE_FALSE(no_providers.has_value());
    CHECK(no_providers.error().find("no providers") != std::string::npos);
    auto code = parse_eval_config("providers: ['file://p.py']\nprompts: [hi]\n", "c.yaml", ".");
    REQUIRE_FALSE(code.has_value());
    CHECK(code.error().find("c.yaml:1") != std::string::npos);
    auto missing = parse_eval_config("providers: [mock/a]\nprompts: ['file://nope.txt']\n", "m.yaml", "/nonexistent");
    REQUIRE_FALSE(missing.has_value());
    CHECK(missing.error().find("nope.txt") != std::string::npos);
}

TEST_CASE("file references load prompts (split on ---), chat JSON, var files and CSV tests")
{
    ScratchDir dir;
    dir.write("prompts.txt", "First {{x}}\n---\nSecond {{x}}\n");
    dir.write("chat.json", R"([{"role":"user","content":"Chat {{x}}"}])");
    dir.write("long.txt", "a long var");
    dir.write("tests.csv",
              "x,__expected,__expected2,__description\n"
              "one,contains: First,\"icontains-any: alpha, beta\",first row\n"
              "\"two, quoted\",is-json,,\n");
    const auto cfg = parse_ok(R"(providers: [mock/a]
prompts:
  - file://prompts.txt
  - file://chat.json
tests:
  - vars: {x: file://long.txt}
  - file://tests.csv
)",
                              dir.path);
    REQUIRE(cfg.prompts.size() == 3);
    CHECK(cfg.prompts[0].raw == "First {{x}}");
    CHECK(cfg.prompts[1].label == "prompts.txt:2");
    CHECK(render_messages(cfg.prompts[2], {{"x", "1"}})[0]["content"] == "Chat 1");
    REQUIRE(cfg.tests.size() == 3);
    CHECK(cfg.tests[0].vars["x"] == "a long var");
    CHECK(cfg.tests[1].description == "first row");
    REQUIRE(cfg.tests[1].asserts.size() == 2);
    CHECK(cfg.tests[1].asserts[0].type == "contains");
    CHECK(cfg.tests[1].asserts[0].value == "First");
    CHECK(cfg.tests[1].asserts[1].value == json::array({"alpha", "beta"}));
    CHECK(cfg.tests[2].vars["x"] == "two, quoted");
    CHECK(cfg.tests[2].asserts[0].type == "is-json");
}

TEST_CASE("CSV assertion strings follow promptfoo's syntax")
{
    auto sim = assertion_from_string("similar(0.8): hello world");
    CHECK(sim.type == "similar");
    CHECK(sim.threshold == 0.8);
    CHECK(sim.value == "hello world");
    auto neg = assertion_from_string("not-contains: oops");
    CHECK(neg.type == "contains");
    CHECK(neg.negate);
    CHECK(assertion_from_string("grade: is polite").type == "llm-rubric");
    auto plain = assertion_from_string("Just this text");
    CHECK(plain.type == "equals");
    CHECK(plain.value == "Just this text");
}

// ---- assertions ----

TEST_CASE("text assertions: equals, contains, icontains, any/all, regex, starts-with, levenshtein, not-")
{
    CHECK(check("equals", "Hello Ada", "Hello Ada").pass);
    CHECK(check("equals", "Hello {{name}}", "Hello Ada").pass);  // values are templates too
    CHECK_FALSE(check("equals", "Hello", "Hello Ada").pass);
    CHECK(check("equals", json{{"a", 1}}, R"({"a": 1})").pass);
    CHECK(check("contains", "Ada", "Hello Ada").pass);
    CHECK_FALSE(check("contains", "ada", "Hello Ada").pass);
    CHECK(check("icontains", "ADA", "Hello Ada").pass);
    CHECK(check("contains-any", json::array({"x", "Ada"}), "Hello Ada").pass);
    CHECK(check("contains-any", "x, Hello", "Hello Ada").pass);  // comma-separated shorthand
    CHECK_FALSE(check("contains-all", json::array({"Hello", "Bob"}), "Hello Ada").pass);
    CHECK(check("icontains-all", json::array({"hello", "ada"}), "Hello Ada").pass);
    CHECK(check("regex", "^H.*a$", "Hello Ada").pass);
    CHECK_FALSE(check("regex", "(", "x").pass);
    CHECK(check("starts-with", "Hell", "Hello").pass);
    CHECK(check("levenshtein", "kitten", "sitting", 3.0).pass);
    CHECK_FALSE(check("levenshtein", "kitten", "sitting", 2.0).pass);
    const auto negated = check("not-contains", "error", "all good");
    CHECK(negated.pass);
    CHECK(negated.score == 1);
    CHECK_FALSE(check("not-contains", "good", "all good").pass);
}

TEST_CASE("JSON assertions: is-json, contains-json, schemas, and OpenAI tool calls")
{
    CHECK(check("is-json", nullptr, R"({"a":1})").pass);
    CHECK_FALSE(check("is-json", nullptr, "Sure! {\"a\":1}").pass);
    CHECK(check("contains-json", nullptr, "Sure! ```json\n{\"a\": [1, \"}\"]}\n```").pass);
    CHECK_FALSE(check("contains-json", nullptr, "no json {here").pass);
    const json schema = {
        {"type", "object"},
        {"required", {"city"}},
        {"properties", {{"city", {{"type", "string"}}}, {"n", {{"type", "integer"}, {"minimum", 1}}}}}};
    CHECK(check("is-json", schema, R"({"city":"Paris","n":2})").pass);
    const auto bad = check("is-json", schema, R"({"n":0})");
    CHECK_FALSE(bad.pass);
    CHECK(bad.reason.find("city") != std::string::npos);

    const json tools = json::array({{{"type", "function"},
                                     {"function",
                                      {{"name", "get_weather"},
                                       {"parameters",
                                        {{"type", "object"},
                                         {"required", {"location"}},
                                         {"properties", {{"location", {{"type", "string"}}}}}}}}}}});
    EvalAssertion a;
    a.type = "is-valid-openai-tools-call";
    AssertInput in;
    in.tools = tools;
    in.output =
        R"([{"id":"c1","type":"function","function":{"name":"get_weather","arguments":"{\"location\":\"Paris\"}"}}])";
    CHECK(evaluate_assertion(a, in, {}).pass);
    in.output = R"([{"type":"function","function":{"name":"get_weather","arguments":"{}"}}])";
    CHECK_FALSE(evaluate_assertion(a, in, {}).pass);
    in.output = R"([{"type":"function","function":{"name":"launch","arguments":"{}"}}])";
    CHECK_FALSE(evaluate_assertion(a, in, {}).pass);
    in.output = "plain text";
    CHECK_FALSE(evaluate_assertion(a, in, {}).pass);
}

TEST_CASE("cost and latency compare against their thresholds")
{
    EvalAssertion cost;
    cost.type = "cost";
    cost.threshold = 0.001;
    AssertInput in;
    in.cost_usd = 0.0005;
    in.latency_ms = 900;
    CHECK(evaluate_assertion(cost, in, {}).pass);
    in.cost_usd = 0.002;
    CHECK_FALSE(evaluate_assertion(cost, in, {}).pass);
    EvalAssertion latency;
    latency.type = "latency";
    latency.threshold = 1000;
    CHECK(evaluate_assertion(latency, in, {}).pass);
    latency.threshold = 500;
    CHECK_FALSE(evaluate_assertion(latency, in, {}).pass);
    latency.threshold.reset();
    CHECK_FALSE(evaluate_assertion(latency, in, {}).pass);
}

TEST_CASE("similar embeds through the service with the chosen model and compares by cosine")
{
    std::vector<std::string> models;
    GradingServices svc;
    svc.embed = [&](const std::string& model,
                    const std::string& text) -> std::expected<std::vector<double>, std::string> {
        models.push_back(model);
        if (text == "boom") {
            return std::unexpected("upstream 500");
        }
        return text.find("cat") != std::string::npos ? std::vector<double>{1, 0} : std::vector<double>{0.6, 0.8};
    };
    const auto same = check("similar", "a cat", "the cat sat", 0.9, svc);
    CHECK(same.pass);
    CHECK(same.score == doctest::Approx(1));
    const auto far = check("similar", "a dog", "the cat sat", 0.9, svc);
    CHECK_FALSE(far.pass);
    CHECK(far.score == doctest::Approx(0.6));
    CHECK(check("similar", json::array({"a dog", "a cat"}), "cat", 0.9, svc).pass);  // any of them
    CHECK(models.front() == "mock/embed");
    const auto failed = check("similar", "x", "boom", 0.5, svc);
    CHECK_FALSE(failed.pass);
    CHECK(failed.reason.find("upstream 500") != std::string::npos);
}

TEST_CASE("judge verdicts come from a JSON object or a PASS/FAIL word")
{
    auto j = parse_verdict("Sure.\n```json\n{\"reason\": \"polite\", \"pass\": true, \"score\": 0.9}\n```");
    REQUIRE(j.has_value());
    CHECK(j->pass);
    CHECK(j->score == doctest::Approx(0.9));
    CHECK(j->reason == "polite");
    auto score_only = parse_verdict("{\"score\": 0.2}");
    REQUIRE(score_only.has_value());
    CHECK_FALSE(score_only->pass);
    auto string_pass = parse_verdict("{\"pass\": \"FAIL\", \"reason\": \"rude\"}");
    REQUIRE(string_pass.has_value());
    CHECK_FALSE(string_pass->pass);
    // A JSON-looking template without a verdict is skipped; the last PASS/FAIL word decides.
    auto words = parse_verdict("{\"reason\": string} The output FAILS nothing... Verdict: PASS");
    REQUIRE(words.has_value());
    CHECK(words->pass);
    CHECK_FALSE(parse_verdict("I think it is fine").has_value());
}

TEST_CASE("llm-rubric sends the output and rubric to the judge and applies the threshold to the score")
{
    json seen;
    std::string judge_model;
    std::string answer = R"({"reason":"ok","pass":true,"score":0.7})";
    GradingServices svc;
    svc.complete = [&](const std::string& model, const json& messages) -> std::expected<std::string, std::string> {
        judge_model = model;
        seen = messages;
        return answer;
    };
    CHECK(check("llm-rubric", "is about {{name}}", "Ada wrote programs", std::nullopt, svc).pass);
    CHECK(judge_model == "mock/judge");
    REQUIRE(seen.size() == 2);
    const std::string user = seen[1]["content"];
    CHECK(user.starts_with("<Output>\nAda wrote programs\n</Output>"));
    CHECK(user.find("is about Ada") != std::string::npos);
    CHECK_FALSE(check("llm-rubric", "x", "y", 0.8, svc).pass);  // score 0.7 < 0.8
    answer = "no idea";
    const auto unreadable = check("llm-rubric", "x", "y", std::nullopt, svc);
    CHECK_FALSE(unreadable.pass);
    CHECK(unreadable.reason.find("no verdict") != std::string::npos);
}

TEST_CASE("a test passes when all weighted assertions pass, or when its score reaches its threshold")
{
    std::vector<EvalAssertion> as(2);
    as[1].weight = 3;
    std::vector<AssertResult> rs{{true, 1, ""}, {false, 0.5, ""}};
    double score = 0;
    CHECK_FALSE(test_passes(as, rs, std::nullopt, &score));
    CHECK(score == doctest::Approx((1 + 1.5) / 4));
    CHECK(test_passes(as, rs, 0.6));
    CHECK_FALSE(test_passes(as, rs, 0.7));
    as[1].weight = 0;  // informational
    CHECK(test_passes(as, rs, std::nullopt));
    CHECK(test_passes({}, {}, std::nullopt));
}

TEST_CASE("--min-pass accepts a percentage or a fraction")
{
    CHECK(parse_pass_rate("90") == 0.9);
    CHECK(parse_pass_rate("90%") == 0.9);
    CHECK(parse_pass_rate("0.9") == 0.9);
    CHECK(parse_pass_rate("1") == 1.0);
    CHECK(parse_pass_rate("100") == 1.0);
    CHECK_FALSE(parse_pass_rate("150").has_value());
    CHECK_FALSE(parse_pass_rate("abc").has_value());
    CHECK_FALSE(parse_pass_rate("-1").has_value());
}

// ---- cost, logs, terminal ----

TEST_CASE("day reports are in date order with empty days filled in")
{
    aigw::client::CostGroup a;
    a.key = "2025-03-03";
    a.cost_usd = 2;
    aigw::client::CostGroup b;
    b.key = "2025-02-27";
    b.cost_usd = 1;
    const auto days = fill_days({a, b});
    REQUIRE(days.size() == 5);
    CHECK(days[0].key == "2025-02-27");
    CHECK(days[1].key == "2025-02-28");
    CHECK(days[2].key == "2025-03-01");
    CHECK(days[2].requests == 0);
    CHECK(days[4].key == "2025-03-03");
}

TEST_CASE("the variant table compares error rate, latency and cost per request, marking the best")
{
    aigw::client::CostReport r;
    aigw::client::CostGroup a;
    a.key = "openai/gpt-4o-mini";
    a.requests = 70;
    a.errors = 7;
    a.avg_latency_ms = 300;
    a.p95_latency_ms = 900;
    a.cost_usd = 0.07;
    aigw::client::CostGroup b;
    b.key = "anthropic/claude-haiku-4-5";
    b.requests = 30;
    b.errors = 0;
    b.avg_latency_ms = 400;
    b.p95_latency_ms = 800;
    b.cost_usd = 0.06;
    aigw::client::CostGroup none;
    none.requests = 5;  // traffic outside any split takes no part in the contest
    r.groups = {a, b, none};
    std::ostringstream out;
    variant_table(r, false).print(out);
    const auto lines = lines_in(out.str());
    REQUIRE(lines.size() == 4);
    CHECK(lines[1].find("10.0 ") != std::string::npos);  // 7/70 errors
    CHECK(lines[1].find("300*") != std::string::npos);
    CHECK(lines[1].find("0.001000*") != std::string::npos);
    CHECK(lines[2].find("0.0*") != std::string::npos);
    CHECK(lines[2].find("800*") != std::string::npos);
    CHECK(lines[3].starts_with("(no split)"));
    CHECK(lines[3].find('*') == std::string::npos);
}

TEST_CASE("day tables draw a bar per day scaled to the biggest spend")
{
    aigw::client::CostReport r;
    aigw::client::CostGroup a;
    a.key = "2025-01-01";
    a.cost_usd = 1;
    aigw::client::CostGroup b;
    b.key = "2025-01-02";
    b.cost_usd = 0.5;
    r.groups = {a, b};
    std::ostringstream out;
    day_table(r, false, 10).print(out);
    const auto lines = lines_in(out.str());
    REQUIRE(lines.size() == 3);
    CHECK(lines[1].ends_with(bar(1, 1, 10)));
    CHECK(lines[2].ends_with(bar(0.5, 1, 10)));
    CHECK(display_width(bar(1, 1, 10)) == 10);
    CHECK(display_width(bar(0.5, 1, 10)) == 5);
    CHECK(bar(0, 1, 10).empty());
    CHECK(display_width(bar(0.0001, 1, 10)) == 1);  // any spend is visible
}

TEST_CASE("the progress line shows done, total, errors and time within its width")
{
    const std::string line = render_progress(5, 10, 2, 1.3, 100);
    CHECK(line.find("5/10") != std::string::npos);
    CHECK(line.find("2 errors") != std::string::npos);
    CHECK(line.find("1.3s") != std::string::npos);
    CHECK(render_progress(5, 10, 2, 1.25, 40).size() <= 40);
    CHECK(line.starts_with("[" + std::string(20, '#') + std::string(20, '.') + "]"));
}

TEST_CASE("log lines keep fixed columns and show why a request is notable")
{
    aigw::client::LogRow r;
    r.ts_ms = 1'735'689'600'000;
    r.request_id = "req_0123456789abcdef01234567";
    r.served_model = "openai/gpt-4o-mini";
    r.status = 429;
    r.attempts = 2;
    r.tag = "bench-1";
    r.error = "rate limited";
    aigw::client::LogRow ok = r;
    ok.status = 200;
    ok.error.clear();
    ok.served_model = "mock/echo";
    const std::string header = log_line_header(false);
    CHECK(log_line(r, false).find("429") == header.find("STATUS") + 3);
    CHECK(log_line(ok, false).find("200") == header.find("STATUS") + 3);
    CHECK(log_line(r, false).find("attempts=2 tag=bench-1 rate limited") != std::string::npos);
}

TEST_CASE("request details list every attempt with its fallback reason, and bodies when stored")
{
    aigw::client::LogRow first;
    first.request_id = "req_x";
    first.attempt = 1;
    first.attempts = 2;
    first.final_attempt = false;
    first.served_model = "openai/gpt-4o";
    first.provider = "openai";
    first.status = 429;
    first.error = "rate limited";
    first.cost_usd = 0;
    aigw::client::LogRow second = first;
    second.attempt = 2;
    second.final_attempt = true;
    second.served_model = "anthropic/claude-haiku-4-5";
    second.provider = "anthropic";
    second.status = 200;
    second.error.clear();
    second.fallback_reason = "rate_limited";
    second.cost_usd = 0.0012;
    second.request_body = R"({"model":"x"})";
    const std::string text = request_details({first, second}, false);
    CHECK(text.find("attempt 1\n") != std::string::npos);
    CHECK(text.find("attempt 2 (final)") != std::string::npos);
    CHECK(text.find("rate_limited") != std::string::npos);
    CHECK(text.find("served          anthropic/claude-haiku-4-5 (anthropic)") != std::string::npos);
    CHECK(text.find("\"model\": \"x\"") != std::string::npos);  // pretty-printed body
    CHECK(text.find("$0.001200") != std::string::npos);
}

// ---- run continuity ----

TEST_CASE("conversations are saved 0600, the last one is remembered, and bad ids are refused")
{
    ScratchDir dir;
    const ConversationStore store(dir.path / "conversations");
    CHECK_FALSE(store.last_id().has_value());
    auto none = store.load("nothing-yet");
    REQUIRE(none.has_value());
    CHECK_FALSE(none->has_value());
    Conversation c;
    c.id = "proj-1";
    c.model = "mock/echo";
    c.system = "Be brief";
    c.messages = json::array({{{"role", "user"}, {"content", "q"}}, {{"role", "assistant"}, {"content", "a"}}});
    REQUIRE(store.save(c).has_value());
    CHECK(store.last_id() == "proj-1");
    auto back = store.load("proj-1");
    REQUIRE(back.has_value());
    REQUIRE(back->has_value());
    CHECK((*back)->system == "Be brief");
    CHECK((*back)->messages == c.messages);
    const auto perms = std::filesystem::status(dir.path / "conversations" / "proj-1.json").permissions();
    CHECK((perms & (std::filesystem::perms::group_all | std::filesystem::perms::others_all)) ==
          std::filesystem::perms::none);
    CHECK_FALSE(store.load("../etc/passwd").has_value());
    CHECK_FALSE(valid_conversation_id(".hidden"));
    CHECK(valid_conversation_id(new_conversation_id()));
}

TEST_CASE("a conversation request puts the history between the system prompt and the new prompt")
{
    const json history =
        json::array({{{"role", "user"}, {"content", "q1"}}, {{"role", "assistant"}, {"content", "a1"}}});
    const json req = build_conversation_request("mock/echo", "sys", history, "q2", 0.5, std::nullopt);
    REQUIRE(req["messages"].size() == 4);
    CHECK(req["messages"][0]["role"] == "system");
    CHECK(req["messages"][1]["content"] == "q1");
    CHECK(req["messages"][3]["content"] == "q2");
    CHECK(req["temperature"] == 0.5);
    CHECK(build_conversation_request("m", "", history, "q2", std::nullopt, std::nullopt)["messages"][0]["content"] ==
          "q1");
}

TEST_CASE("templates round-trip through TOML and place the input at {{input}}")
{
    ScratchDir dir;
    RunTemplate t;
    t.model = "mock/echo";
    t.system = "Write \"commit\" messages";
    t.prompt = "Message for:\n{{input}}";
    t.temperature = 1;
    t.max_tokens = 100;
    REQUIRE(save_template(dir.path, "commit", t).has_value());
    auto back = load_template(dir.path, "commit");
    REQUIRE_MESSAGE(back.has_value(), (back ? "" : back.error()));
    CHECK(back->model == "mock/echo");
    CHECK(back->system == t.system);
    CHECK(back->temperature == 1.0);
    CHECK(back->max_tokens == 100);
    CHECK(apply_template_prompt(*back, "diff") == "Message for:\ndiff");
    CHECK(apply_template_prompt(RunTemplate{}, "as is") == "as is");
    RunTemplate no_marker;
    no_marker.prompt = "Summarise";
    CHECK(apply_template_prompt(no_marker, "text") == "Summarise\n\ntext");
    auto missing = load_template(dir.path, "nope");
    REQUIRE_FALSE(missing.has_value());
    CHECK(missing.error().find("--save-template nope") != std::string::npos);
    auto bad = parse_template("model = 'x'\ncolour = 1\n", "t.toml");
    REQUIRE_FALSE(bad.has_value());
    CHECK(bad.error().find("t.toml:2") != std::string::npos);
}

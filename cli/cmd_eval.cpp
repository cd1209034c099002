// aigw eval: a promptfoo-compatible config run through the gateway — every prompt x test x
// model, checked by its assertions — printed as a matrix, pass rates, cost and latency per
// model, and cost per passing answer. Exit 0 when every test passed, 1 when any failed
// (with --pick-cheapest: 0 when some model qualifies), 2 for a bad config or usage.

#include "cli/app.hpp"
#include "cli/bench.hpp"
#include "cli/eval_assert.hpp"
#include "cli/eval_config.hpp"
#include "cli/term.hpp"

#include <atomic>
#include <csignal>
#include <iostream>
#include <map>
#include <mutex>
#include <thread>

namespace aigw::cli {

namespace {

struct EvalOptions {
    std::string file = "promptfooconfig.yaml";
    std::vector<std::string> models;
    int concurrency = 0;
    std::string judge;
    std::string embedder;
    bool pick_cheapest = false;
    std::string min_pass = "100";
    std::string tag;
    bool json = false;
    bool show_outputs = false;
    bool skip_unsupported = false;
    bool csv = false;
};

std::atomic<bool> g_eval_interrupted{false};
extern "C" void on_eval_sigint(int)
{
    g_eval_interrupted.store(true);
}

struct CaseResult {
    std::size_t test = 0;
    std::size_t prompt = 0;
    std::size_t provider = 0;
    int repeat = 0;
    bool ran = false;   ///< false when interrupted before it started
    std::string error;  ///< the call failed
    std::string output;
    std::string request_id;
    double cost_usd = 0;
    double latency_ms = 0;
    bool pass = false;
    double score = 0;
    std::vector<AssertResult> asserts;
};

struct ProviderSummary {
    std::string label;
    std::string model;
    int cases = 0;
    int passed = 0;
    int errors = 0;
    double cost = 0;
    double avg_latency = 0;
    std::optional<double> p95_latency;
    double pass_rate = 0;
    std::optional<double> cost_per_pass;
};

std::string test_label(const EvalTest& t, std::size_t index)
{
    if (!t.description.empty()) {
        return t.description;
    }
    std::string s;
    for (const auto& [k, v] : t.vars.items()) {
        if (!s.empty()) {
            s += ", ";
        }
        s += k + "=" + (v.is_string() ? v.get<std::string>() : v.dump());
    }
    if (s.empty()) {
        s = "test " + std::to_string(index + 1);
    }
    std::replace(s.begin(), s.end(), '\n', ' ');
    return display_width(s) > 48 ? s.substr(0, 45) + "..." : s;
}

std::string one_line(std::string s, std::size_t max)
{
    std::replace(s.begin(), s.end(), '\n', ' ');
    return s.size() > max ? s.substr(0, max - 3) + "..." : s;
}

std::vector<ProviderSummary> summarize_eval(const EvalConfig& cfg, const std::vector<CaseResult>& results)
{
    std::vector<ProviderSummary> out;
    for (std::size_t p = 0; p < cfg.providers.size(); ++p) {
        ProviderSummary s;
        s.label = cfg.providers[p].label;
        s.model = cfg.providers[p].model;
        std::vector<double> latencies;
        for (const auto& r : results) {
            if (r.provider != p || !r.ran) {
                continue;
            }
            ++s.cases;
            s.passed += r.pass ? 1 : 0;
            s.errors += r.error.empty() ? 0 : 1;
            s.cost += r.cost_usd;
            if (r.error.empty()) {
                latencies.push_back(r.latency_ms);
            }
        }
        double sum = 0;
        for (double l : latencies) {
            sum += l;
        }
        s.avg_latency = latencies.empty() ? 0 : sum / static_cast<double>(latencies.size());
        s.p95_latency = percentile(latencies, 95);
        s.pass_rate = s.cases > 0 ? static_cast<double>(s.passed) / static_cast<double>(s.cases) : 0;
        if (s.passed > 0) {
            s.cost_per_pass = s.cost / s.passed;
        }
        out.push_back(std::move(s));
    }
    return out;
}

/// The cheapest model whose pass rate reaches `min_pass` (ties: the faster one).
std::optional<std::size_t> pick_cheapest(const std::vector<ProviderSummary>& s, double min_pass)
{
    std::optional<std::size_t> best;
    for (std::size_t i = 0; i < s.size(); ++i) {
        if (s[i].cases == 0 || s[i].pass_rate + 1e-9 < min_pass) {
            continue;
        }
        if (!best || s[i].cost < s[*best].cost ||
            (s[i].cost == s[*best].cost && s[i].avg_latency < s[*best].avg_latency)) {
            best = i;
        }
    }
    return best;
}

int run_eval(Context& ctx, const EvalOptions& o)
{
    auto loaded = load_eval_config(o.file);
    if (!loaded) {
        std::cerr << "aigw eval: " << loaded.error() << '\n';
        return k_exit_usage;
    }
    EvalConfig cfg = std::move(*loaded);
    const bool colour_err = colour_enabled(2);
    for (const auto& w : cfg.warnings) {
        std::cerr << paint("aigw eval: warning: " + w, Colour::yellow, colour_err) << '\n';
    }
    // A typo'd assertion must not turn a CI gate green: it stops the run, as in promptfoo.
    for (const auto& e : cfg.errors) {
        std::cerr << "aigw eval: " << e << '\n';
    }
    if (!cfg.errors.empty()) {
        return k_exit_usage;
    }
    for (const auto& u : cfg.unsupported) {
        if (o.skip_unsupported) {
            std::cerr << paint("aigw eval: warning: " + u + "; skipped (--skip-unsupported)", Colour::yellow,
                               colour_err)
                      << '\n';
        } else {
            std::cerr << "aigw eval: " << u << '\n';
        }
    }
    if (!cfg.unsupported.empty() && !o.skip_unsupported) {
        std::cerr << "  remove those assertions, or pass --skip-unsupported to run the rest without them\n";
        return k_exit_usage;
    }
    if (!o.models.empty()) {
        cfg.providers.clear();
        for (const auto& m : o.models) {
            cfg.providers.push_back({m, map_provider_id(m).value_or(m), m, nlohmann::json::object()});
        }
    }
    const auto min_pass = parse_pass_rate(o.min_pass);
    if (!min_pass) {
        std::cerr << "aigw eval: --min-pass " << o.min_pass << " is not a pass rate; use e.g. 90, 90% or 0.9\n";
        return k_exit_usage;
    }
    // An all-offline eval stays offline: mock models are graded by mock models.
    const bool all_mock = std::all_of(cfg.providers.begin(), cfg.providers.end(),
                                      [](const EvalProvider& p) { return p.model.starts_with("mock/"); });
    const std::string default_judge = !o.judge.empty() ? map_provider_id(o.judge).value_or(o.judge)
                                      : all_mock       ? "mock/judge"
                                                       : "openai/gpt-4o-mini";
    const std::string default_embedder = !o.embedder.empty() ? map_provider_id(o.embedder).value_or(o.embedder)
                                         : all_mock          ? "mock/embed"
                                                             : "openai/text-embedding-3-small";

    auto connected = ctx.client();
    if (!connected) {
        return fail(connected.error());
    }
    client::DaemonClient client = **connected;
    const std::string tag = o.tag.empty() ? make_run_tag("eval") : o.tag;
    client.set_header("x-aigw-tag", tag);

    std::mutex grading_mu;
    double grading_cost = 0;
    std::map<std::pair<std::string, std::string>, std::vector<double>> embedding_cache;
    GradingServices services;
    services.complete = [&](const std::string& model,
                            const nlohmann::json& messages) -> std::expected<std::string, std::string> {
        auto r = client.chat({{"model", model}, {"messages", messages}, {"temperature", 0}});
        if (!r) {
            return std::unexpected(client::describe(r.error()));
        }
        std::lock_guard lock(grading_mu);
        grading_cost += r->meta.cost_usd.value_or(0);
        return r->content;
    };
    services.embed = [&](const std::string& model,
                         const std::string& text) -> std::expected<std::vector<double>, std::string> {
        {
            std::lock_guard lock(grading_mu);
            if (auto it = embedding_cache.find({model, text}); it != embedding_cache.end()) {
                return it->second;
            }
        }
        auto r = client.embeddings({{"model", model}, {"input", text}});
        if (!r) {
            return std::unexpected(client::describe(r.error()));
        }
        try {
            auto v = (*r)["data"].at(0)["embedding"].get<std::vector<double>>();
            std::lock_guard lock(grading_mu);
            embedding_cache[{model, text}] = v;
            return v;
        } catch (const nlohmann::json::exception&) {
            return std::unexpected("the embeddings answer has no float vector (data[0].embedding)");
        }
    };

    std::vector<CaseResult> results;
    for (int rep = 0; rep < cfg.repeat; ++rep) {
        for (std::size_t t = 0; t < cfg.tests.size(); ++t) {
            for (std::size_t p = 0; p < cfg.prompts.size(); ++p) {
                for (std::size_t m = 0; m < cfg.providers.size(); ++m) {
                    CaseResult c;
                    c.test = t;
                    c.prompt = p;
                    c.provider = m;
                    c.repeat = rep;
                    results.push_back(std::move(c));
                }
            }
        }
    }

    auto run_case = [&](CaseResult& c) {
        const EvalTest& test = cfg.tests[c.test];
        const EvalProvider& prov = cfg.providers[c.provider];
        nlohmann::json req = prov.params;
        req["model"] = prov.model;
        req["messages"] = render_messages(cfg.prompts[c.prompt], test.vars);
        c.ran = true;
        auto res = client.chat(req);
        if (!res) {
            c.error = client::describe(res.error());
            c.request_id = res.error().request_id;
            c.output = "[error] " + c.error;
            return;
        }
        c.request_id = res->meta.request_id;
        c.cost_usd = res->meta.cost_usd.value_or(0);
        c.latency_ms = res->latency_ms;
        c.output = res->content.empty() && res->tool_calls.is_array() ? res->tool_calls.dump() : res->content;
        AssertInput in;
        in.output = c.output;
        in.cost_usd = c.cost_usd;
        in.latency_ms = c.latency_ms;
        in.vars = test.vars;
        in.tools = prov.params.value("tools", nlohmann::json());
        in.judge = !test.judge.empty() ? test.judge : default_judge;
        in.embedder = !test.embedder.empty() ? test.embedder : default_embedder;
        for (const auto& a : test.asserts) {
            c.asserts.push_back(evaluate_assertion(a, in, services));
        }
        c.pass = test_passes(test.asserts, c.asserts, test.threshold, &c.score);
    };

    const int concurrency = o.concurrency > 0 ? o.concurrency : cfg.max_concurrency > 0 ? cfg.max_concurrency : 4;
    if (is_tty(2)) {
        auto count = [](std::size_t n, const char* what) {
            return std::to_string(n) + " " + what + (n == 1 ? "" : "s");
        };
        std::string plan = "eval " + tag + ": " + count(results.size(), "case") + " (" +
                           count(cfg.tests.size(), "test") + " \u00d7 " + count(cfg.providers.size(), "model") +
                           " \u00d7 " + count(cfg.prompts.size(), "prompt");
        if (cfg.repeat > 1) {
            plan += " \u00d7 " + count(static_cast<std::size_t>(cfg.repeat), "repeat");
        }
        plan += "), concurrency " + std::to_string(concurrency);
        std::cerr << paint(plan, Colour::dim, colour_enabled(2)) << '\n';
    }
    g_eval_interrupted = false;
    auto previous = std::signal(SIGINT, on_eval_sigint);
    ProgressBar progress(results.size(), is_tty(2));
    std::atomic<std::size_t> next{0};
    auto worker = [&] {
        for (;;) {
            const std::size_t i = next.fetch_add(1);
            if (i >= results.size() || g_eval_interrupted) {
                return;
            }
            try {
                run_case(results[i]);
            } catch (const std::exception& e) {  // one bad case never ends the run
                results[i].error = std::string("internal error: ") + e.what();
            }
            progress.tick(!results[i].error.empty());
        }
    };
    std::vector<std::thread> threads;
    for (int i = 0; i < std::min<int>(concurrency, static_cast<int>(results.size())); ++i) {
        threads.emplace_back(worker);
    }
    for (auto& t : threads) {
        t.join();
    }
    progress.finish();
    std::signal(SIGINT, previous);
    if (g_eval_interrupted) {
        std::cerr << "aigw eval: interrupted; the report covers the cases that finished\n";
    }

    const auto summary = summarize_eval(cfg, results);
    // An index, not an optional: g++ 12 misreports an optional built by ?: as uninitialised.
    std::size_t pick = summary.size();
    if (o.pick_cheapest) {
        if (auto p = pick_cheapest(summary, *min_pass)) {
            pick = *p;
        }
    }
    const bool picked = pick < summary.size();
    const bool all_passed =
        std::all_of(results.begin(), results.end(), [](const CaseResult& c) { return c.ran && c.pass; });

    if (o.json) {
        nlohmann::json rs = nlohmann::json::array();
        for (const auto& c : results) {
            nlohmann::json as = nlohmann::json::array();
            const auto& test = cfg.tests[c.test];
            for (std::size_t i = 0; i < c.asserts.size(); ++i) {
                as.push_back({{"type", std::string(test.asserts[i].negate ? "not-" : "") + test.asserts[i].type},
                              {"pass", c.asserts[i].pass},
                              {"score", c.asserts[i].score},
                              {"reason", c.asserts[i].reason}});
            }
            rs.push_back({{"test", c.test},
                          {"description", test.description},
                          {"vars", test.vars},
                          {"prompt", cfg.prompts[c.prompt].label},
                          {"provider", cfg.providers[c.provider].label},
                          {"model", cfg.providers[c.provider].model},
                          {"repeat", c.repeat},
                          {"ran", c.ran},
                          {"pass", c.pass},
                          {"score", c.score},
                          {"error", c.error},
                          {"output", c.output},
                          {"request_id", c.request_id},
                          {"cost_usd", c.cost_usd},
                          {"latency_ms", c.latency_ms},
                          {"assertions", std::move(as)}});
        }
        nlohmann::json ps = nlohmann::json::array();
        for (const auto& s : summary) {
            ps.push_back(
                {{"provider", s.label},
                 {"model", s.model},
                 {"cases", s.cases},
                 {"passed", s.passed},
                 {"errors", s.errors},
                 {"pass_rate", s.pass_rate},
                 {"cost_usd", s.cost},
                 {"avg_latency_ms", s.avg_latency},
                 {"p95_latency_ms", s.p95_latency ? nlohmann::json(*s.p95_latency) : nlohmann::json()},
                 {"cost_per_pass_usd", s.cost_per_pass ? nlohmann::json(*s.cost_per_pass) : nlohmann::json()}});
        }
        nlohmann::json doc = {{"description", cfg.description},
                              {"tag", tag},
                              {"providers", std::move(ps)},
                              {"results", std::move(rs)},
                              {"grading_cost_usd", grading_cost},
                              {"warnings", cfg.warnings},
                              {"passed", all_passed}};
        if (o.pick_cheapest) {
            doc["cheapest"] = picked ? nlohmann::json(summary[pick].model) : nlohmann::json();
            doc["min_pass"] = *min_pass;
        }
        std::cout << doc.dump(2) << '\n';
    } else if (o.csv) {
        std::cout << "test,description,prompt,provider,model,repeat,result,score,cost_usd,latency_ms,request_id,"
                     "reason,output\n";
        for (const auto& c : results) {
            const auto& test = cfg.tests[c.test];
            std::string reason = c.error;
            for (std::size_t i = 0; i < c.asserts.size() && reason.empty(); ++i) {
                if (!c.asserts[i].pass) {
                    reason = test.asserts[i].type + ": " + c.asserts[i].reason;
                }
            }
            const std::string result = !c.ran ? "skipped" : !c.error.empty() ? "error" : c.pass ? "pass" : "fail";
            std::cout << c.test + 1 << ',' << csv_escape(test.description) << ','
                      << csv_escape(cfg.prompts[c.prompt].label) << ',' << csv_escape(cfg.providers[c.provider].label)
                      << ',' << csv_escape(cfg.providers[c.provider].model) << ',' << c.repeat + 1 << ',' << result
                      << ',' << format_fixed(c.score, 2) << ',' << format_fixed(c.cost_usd, 6) << ','
                      << format_fixed(c.latency_ms, 0) << ',' << csv_escape(c.request_id) << ',' << csv_escape(reason)
                      << ',' << csv_escape(c.output) << '\n';
        }
    } else {
        const bool colour = colour_enabled(1);
        if (!cfg.description.empty()) {
            std::cout << paint(cfg.description, Colour::bold, colour) << "\n\n";
        }
        // The matrix: one row per test (and prompt), one column per model.
        const bool many_prompts = cfg.prompts.size() > 1;
        std::vector<std::string> headers{"TEST"};
        if (many_prompts) {
            headers.push_back("PROMPT");
        }
        for (const auto& p : cfg.providers) {
            headers.push_back(p.label);
        }
        Table matrix(headers);
        std::map<std::tuple<std::size_t, std::size_t, int>, std::vector<const CaseResult*>> rows;
        for (const auto& c : results) {
            rows[{c.test, c.prompt, c.repeat}].push_back(&c);
        }
        for (const auto& [key, cells] : rows) {
            const auto& [t, p, rep] = key;
            std::vector<std::string> row{test_label(cfg.tests[t], t) +
                                         (cfg.repeat > 1 ? " #" + std::to_string(rep + 1) : "")};
            if (many_prompts) {
                row.push_back("P" + std::to_string(p + 1));
            }
            for (const CaseResult* c : cells) {
                std::string cell = !c->ran             ? paint("-", Colour::dim, colour)
                                   : !c->error.empty() ? paint("ERROR", Colour::red, colour)
                                   : c->pass           ? paint("PASS", Colour::green, colour)
                                                       : paint("FAIL", Colour::red, colour);
                if (o.show_outputs && c->ran) {
                    cell += " " + one_line(c->output, 40);
                }
                row.push_back(std::move(cell));
            }
            matrix.add_row(std::move(row));
        }
        matrix.print(std::cout, colour);
        if (many_prompts) {
            for (std::size_t p = 0; p < cfg.prompts.size(); ++p) {
                std::cout << paint("P" + std::to_string(p + 1) + ": " + one_line(cfg.prompts[p].label, 100),
                                   Colour::dim, colour)
                          << '\n';
            }
        }
        // Why cases failed.
        std::size_t shown = 0;
        std::size_t failures = 0;
        std::string details;
        for (const auto& c : results) {
            if (!c.ran || c.pass) {
                continue;
            }
            ++failures;
            if (shown >= 20) {
                continue;
            }
            ++shown;
            std::string why = c.error;
            if (why.empty()) {
                for (std::size_t i = 0; i < c.asserts.size(); ++i) {
                    if (!c.asserts[i].pass) {
                        const auto& a = cfg.tests[c.test].asserts[i];
                        why += (why.empty() ? "" : "; ") + (a.negate ? std::string("not-") : std::string()) + a.type +
                               ": " + c.asserts[i].reason;
                    }
                }
                if (why.empty()) {
                    why = "score " + format_fixed(c.score, 2) + " below the test's threshold";
                }
            }
            details += "  " + cfg.providers[c.provider].label + " / " + test_label(cfg.tests[c.test], c.test) +
                       (many_prompts ? " / P" + std::to_string(c.prompt + 1) : "") + ": " + one_line(why, 160) + "\n";
        }
        if (failures > 0) {
            std::cout << "\n" << paint("failures", Colour::bold, colour) << "\n" << details;
            if (failures > shown) {
                std::cout << "  ... and " << failures - shown << " more (--json has all)\n";
            }
        }
        std::cout << '\n';
        Table t({"MODEL", "PASSED", "PASS RATE", "ERRORS", "COST USD", "AVG ms", "P95 ms", "USD/PASS"},
                {Align::left, Align::right, Align::right, Align::right, Align::right, Align::right, Align::right,
                 Align::right});
        for (const auto& s : summary) {
            std::string rate = format_fixed(s.pass_rate * 100, 0) + "%";
            rate = paint(rate,
                         s.pass_rate >= 1           ? Colour::green
                         : s.pass_rate >= *min_pass ? Colour::yellow
                                                    : Colour::red,
                         colour);
            t.add_row({s.label, std::to_string(s.passed) + "/" + std::to_string(s.cases), rate,
                       std::to_string(s.errors), format_usd(s.cost), format_fixed(s.avg_latency, 0),
                       s.p95_latency ? format_fixed(*s.p95_latency, 0) : "-",
                       s.cost_per_pass ? format_usd(*s.cost_per_pass) : "-"});
        }
        t.print(std::cout, colour);
        if (grading_cost > 0) {
            std::cout << "grading (judge and embeddings): " << format_usd(grading_cost) << "\n";
        }
        if (o.pick_cheapest) {
            const std::string bar = format_fixed(*min_pass * 100, 0) + "%";
            if (picked) {
                std::cout << "cheapest with a pass rate of at least " << bar << ": "
                          << paint(summary[pick].label, Colour::bold, colour) << " (" << format_usd(summary[pick].cost)
                          << " for the eval)\n";
            } else {
                std::cout << "no model reaches a pass rate of " << bar << "\n";
            }
        }
    }
    std::cerr << "run tagged " << tag << " in the ledger: aigw cost --by tag\n";
    if (o.pick_cheapest) {
        return picked ? 0 : k_exit_error;
    }
    return all_passed ? 0 : k_exit_error;
}

}  // namespace

std::optional<double> parse_pass_rate(std::string_view text)
{
    std::string s(text);
    bool percent = false;
    if (!s.empty() && s.back() == '%') {
        percent = true;
        s.pop_back();
    }
    try {
        std::size_t used = 0;
        double v = std::stod(s, &used);
        if (used != s.size() || v < 0) {
            return std::nullopt;
        }
        if (percent || v > 1) {
            v /= 100;
        }
        if (v > 1) {
            return std::nullopt;
        }
        return v;
    } catch (const std::exception&) {
        return std::nullopt;
    }
}

void add_eval_command(CLI::App& app, Context& ctx)
{
    auto o = std::make_shared<EvalOptions>();
    auto* cmd = app.add_subcommand("eval", "Run a promptfoo-compatible eval config through the gateway");
    cmd->add_option("config", o->file, "The config (YAML; default promptfooconfig.yaml)");
    cmd->add_option("-m,--model", o->models, "Evaluate these models instead of the config's providers (repeatable)");
    cmd->add_option("-c,--concurrency", o->concurrency,
                    "Cases in flight at once (default: evaluateOptions.maxConcurrency or 4)")
        ->check(CLI::PositiveNumber);
    // The old spelling, kept working but out of the help.
    cmd->add_option("-j", o->concurrency, "Same as --concurrency")->check(CLI::PositiveNumber)->group("");
    cmd->add_flag("--skip-unsupported", o->skip_unsupported,
                  "Skip assertion types aigw cannot run (javascript, python, ...) instead of failing");
    cmd->add_option("--judge", o->judge,
                    "Model that grades llm-rubric (default openai/gpt-4o-mini; mock/judge when all models are mock)");
    cmd->add_option(
        "--embedding-model", o->embedder,
        "Model that embeds for similar (default openai/text-embedding-3-small; mock/embed when all models are mock)");
    cmd->add_flag("--pick-cheapest", o->pick_cheapest, "Name the cheapest model whose pass rate reaches --min-pass");
    cmd->add_option("--min-pass", o->min_pass, "Pass rate for --pick-cheapest: 90, 90% or 0.9 (default 100%)");
    cmd->add_option("--tag", o->tag, "Ledger tag of the run (default eval-<time>-<random>)");
    cmd->add_flag("--show-outputs", o->show_outputs, "Show the start of each answer in the matrix");
    auto* json = cmd->add_flag("--json", o->json, "Print every result as JSON");
    cmd->add_flag("--csv", o->csv, "Print one CSV line per case (test, prompt, model)")->excludes(json);
    cmd->callback([&ctx, o] { ctx.action = [&ctx, o] { return run_eval(ctx, *o); }; });
}

}  // namespace aigw::cli

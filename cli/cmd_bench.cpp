// aigw bench: the same prompts sent to several models through the daemon, measured and
// compared in one table. Every call carries the run's x-aigw-tag, so the run's rows are in
// the ledger and `aigw cost --by tag` shows it.

#include "cli/app.hpp"
#include "cli/bench.hpp"
#include "cli/term.hpp"

#include <atomic>
#include <csignal>
#include <fstream>
#include <iostream>
#include <iterator>
#include <map>
#include <mutex>
#include <random>
#include <sstream>
#include <thread>

namespace aigw::cli {
namespace {

struct BenchOptions {
    std::vector<std::string> models;
    std::vector<std::string> prompts;
    std::vector<std::string> files;
    int repeats = 1;
    int concurrency = 1;
    std::string system;
    std::optional<int> max_tokens;
    std::optional<double> temperature;
    std::string tag;
    bool no_stream = false;
    bool show_outputs = false;
    bool json = false;
    bool csv = false;
    bool fail_on_errors = false;
};

std::atomic<bool> g_bench_interrupted{false};

extern "C" void on_bench_sigint(int)
{
    g_bench_interrupted.store(true);
}

std::expected<std::vector<BenchPrompt>, std::string> collect_prompts(const BenchOptions& o)
{
    std::vector<BenchPrompt> out;
    for (const auto& p : o.prompts) {
        out.push_back(prompt_from_text(p));
    }
    for (const auto& f : o.files) {
        std::ifstream in(f, std::ios::binary);
        if (!in) {
            return std::unexpected("cannot read prompt file " + f);
        }
        std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
        auto ps = parse_prompt_file(text, f);
        if (!ps) {
            return std::unexpected(ps.error());
        }
        out.insert(out.end(), ps->begin(), ps->end());
    }
    if (out.empty() && !is_tty(0)) {
        std::string piped((std::istreambuf_iterator<char>(std::cin)), std::istreambuf_iterator<char>());
        while (!piped.empty() && (piped.back() == '\n' || piped.back() == '\r')) {
            piped.pop_back();
        }
        if (!piped.empty()) {
            out.push_back(prompt_from_text(piped));
        }
    }
    if (out.empty()) {
        return std::unexpected("no prompt; give -p TEXT, -f FILE (text or JSONL with messages), or pipe one on stdin");
    }
    if (!o.system.empty()) {
        for (auto& p : out) {
            if (p.messages.empty() || p.messages[0].value("role", "") != "system") {
                p.messages.insert(p.messages.begin(), {{"role", "system"}, {"content", o.system}});
            }
        }
    }
    return out;
}

BenchSample run_one(const client::DaemonClient& client, const BenchOptions& o, const std::string& model,
                    const BenchPrompt& prompt)
{
    nlohmann::json req = prompt.extra;
    req["model"] = model;
    req["messages"] = prompt.messages;
    if (o.max_tokens) {
        req["max_tokens"] = *o.max_tokens;
    }
    if (o.temperature) {
        req["temperature"] = *o.temperature;
    }
    BenchSample s;
    std::expected<client::ChatResult, client::ClientError> res;
    if (o.no_stream) {
        res = client.chat(req);
    } else {
        req["stream_options"] = {{"include_usage", true}};
        res = client.chat_stream(req, nullptr, &g_bench_interrupted);
    }
    if (!res) {
        s.error = client::describe(res.error());
        s.request_id = res.error().request_id;
        return s;
    }
    s.request_id = res->meta.request_id;
    if (res->cancelled) {
        s.cancelled = true;
        return s;
    }
    s.ok = true;
    s.latency_ms = res->latency_ms;
    s.ttft_ms = res->ttft_ms;
    s.output = !res->content.empty() || res->tool_calls.is_null() ? res->content : res->tool_calls.dump();
    s.cost_usd = res->meta.cost_usd.value_or(0);
    if (res->usage.is_object()) {
        s.input_tokens = res->usage.value("prompt_tokens", std::int64_t{0});
        s.output_tokens = res->usage.value("completion_tokens", std::int64_t{0});
    }
    return s;
}

/// Replaces tokens and cost with the ledger's rows of this run: the ledger is what the
/// daemon billed (streamed answers carry no cost header). Returns how many samples matched.
std::size_t fill_from_ledger(const client::DaemonClient& client, const std::string& tag,
                             std::vector<BenchSample>& samples)
{
    // Every attempt of a request was billed: sum them.
    std::map<std::string, std::tuple<std::int64_t, std::int64_t, double>> by_id;
    client::LogQuery q;
    q.tag = tag;
    q.limit = 10'000;
    q.all_attempts = true;
    q.after_row_id = 0;
    for (;;) {
        auto rows = client.logs(q);
        if (!rows) {
            std::cerr << "aigw: could not read the run's ledger rows (" << client::describe(rows.error())
                      << "); tokens and cost are the client's view\n";
            return 0;
        }
        for (const auto& r : *rows) {
            auto& [in, out, cost] = by_id[r.request_id];
            in += r.input_tokens;
            out += r.output_tokens;
            cost += r.cost_usd;
            q.after_row_id = r.row_id;
        }
        if (static_cast<int>(rows->size()) < q.limit) {
            break;
        }
    }
    std::size_t matched = 0;
    for (auto& s : samples) {
        auto it = by_id.find(s.request_id);
        if (s.request_id.empty() || it == by_id.end()) {
            continue;
        }
        ++matched;
        const auto& [in, out, cost] = it->second;
        s.cost_usd = cost;
        if (s.ok) {
            s.input_tokens = in;
            s.output_tokens = out;
        }
    }
    return matched;
}

int run_bench(Context& ctx, const BenchOptions& o)
{
    if (o.json && o.csv) {
        std::cerr << "aigw bench: --json and --csv exclude each other\n";
        return k_exit_usage;
    }
    auto prompts = collect_prompts(o);
    if (!prompts) {
        std::cerr << "aigw bench: " << prompts.error() << '\n';
        return k_exit_usage;
    }
    auto connected = ctx.client();
    if (!connected) {
        return fail(connected.error());
    }
    client::DaemonClient client = **connected;  // a copy carrying the run tag
    const std::string tag = o.tag.empty() ? make_run_tag("bench") : o.tag;
    client.set_header("x-aigw-tag", tag);

    // Interleaved (repeat, prompt, model) so that every model sees the same conditions.
    struct Job {
        std::size_t model, prompt;
        int repeat;
    };
    std::vector<Job> jobs;
    for (int r = 0; r < o.repeats; ++r) {
        for (std::size_t p = 0; p < prompts->size(); ++p) {
            for (std::size_t m = 0; m < o.models.size(); ++m) {
                jobs.push_back({m, p, r});
            }
        }
    }
    const bool err_tty = is_tty(2);
    if (err_tty) {
        auto count = [](std::size_t n, const char* what) {
            return std::to_string(n) + " " + what + (n == 1 ? "" : "s");
        };
        std::string plan = "bench " + tag + ": " + count(jobs.size(), "call") + " (" + count(o.models.size(), "model") +
                           " \u00d7 " + count(prompts->size(), "prompt");
        if (o.repeats > 1) {
            plan += " \u00d7 " + count(static_cast<std::size_t>(o.repeats), "repeat");
        }
        plan += "), concurrency " + std::to_string(o.concurrency);
        std::cerr << paint(plan, Colour::dim, colour_enabled(2)) << '\n';
    }

    g_bench_interrupted = false;
    auto previous = std::signal(SIGINT, on_bench_sigint);
    std::vector<BenchSample> samples(jobs.size());
    std::atomic<std::size_t> next{0};
    ProgressBar progress(jobs.size(), err_tty);
    auto worker = [&] {
        for (;;) {
            const std::size_t i = next.fetch_add(1);
            if (i >= jobs.size()) {
                return;
            }
            const Job& j = jobs[i];
            if (g_bench_interrupted) {
                samples[i].cancelled = true;
            } else {
                samples[i] = run_one(client, o, o.models[j.model], (*prompts)[j.prompt]);
            }
            samples[i].model = j.model;
            samples[i].prompt = j.prompt;
            samples[i].repeat = j.repeat;
            progress.tick(!samples[i].ok && !samples[i].cancelled);
        }
    };
    std::vector<std::thread> threads;
    const auto n_threads = static_cast<std::size_t>(std::max(1, o.concurrency));
    for (std::size_t t = 0; t < std::min(n_threads, jobs.size()); ++t) {
        threads.emplace_back(worker);
    }
    for (auto& t : threads) {
        t.join();
    }
    progress.finish();
    std::signal(SIGINT, previous);
    if (g_bench_interrupted) {
        std::cerr << "aigw bench: interrupted; the report covers the calls that finished\n";
    }

    fill_from_ledger(client, tag, samples);
    std::vector<BenchStats> stats;
    for (std::size_t m = 0; m < o.models.size(); ++m) {
        stats.push_back(summarize(o.models[m], m, samples));
    }

    if (o.json) {
        std::cout << bench_json(tag, stats, samples, o.models).dump(2) << '\n';
    } else if (o.csv) {
        std::cout << bench_csv(stats);
    } else {
        const bool colour = colour_enabled(1);
        if (o.show_outputs) {
            for (std::size_t p = 0; p < prompts->size(); ++p) {
                std::cout << paint("prompt " + std::to_string(p + 1) + ": " + (*prompts)[p].label, Colour::bold, colour)
                          << "\n";
                std::vector<std::string> texts(o.models.size());
                for (const auto& s : samples) {
                    if (s.prompt == p && s.repeat == 0) {
                        texts[s.model] = s.ok ? s.output : "[error] " + s.error;
                    }
                }
                std::cout << side_by_side(o.models, texts, is_tty(1) ? terminal_width(1) : 120) << "\n";
            }
        }
        bench_table(stats, colour).print(std::cout, colour);
        if (o.models.size() > 1) {
            std::cout << paint("* best in its column", Colour::dim, colour) << "\n";
        }
    }
    // Why calls failed, once per distinct message.
    for (const auto& s : stats) {
        for (std::size_t i = 0; i < s.error_counts.size() && i < 3; ++i) {
            std::cerr << "aigw bench: " << s.model << ": " << s.error_counts[i].second << "x "
                      << s.error_counts[i].first << '\n';
        }
    }
    std::cerr << "run tagged " << tag << " in the ledger: aigw cost --by tag\n";
    const int rc = bench_exit_code(stats, g_bench_interrupted, o.fail_on_errors);
    if (rc != 0 && !g_bench_interrupted) {
        std::cerr << "aigw bench: "
                  << (o.fail_on_errors ? "calls failed (--fail-on-errors)" : "a model failed every call") << '\n';
    }
    return rc;
}

}  // namespace

void add_bench_command(CLI::App& app, Context& ctx)
{
    auto o = std::make_shared<BenchOptions>();
    auto* cmd =
        app.add_subcommand("bench", "Send the same prompts to several models and compare speed, cost and errors");
    cmd->add_option("models", o->models, "Models to compare (provider/model or aliases)")->required();
    cmd->add_option("-p,--prompt", o->prompts, "A prompt (repeatable)");
    cmd->add_option("-f,--file", o->files,
                    "Prompt file: plain text, or JSONL with {\"messages\":[...]} per line (repeatable)")
        ->check(CLI::ExistingFile);
    cmd->add_option("-n,--repeat", o->repeats, "Calls per prompt and model (default 1)")->check(CLI::PositiveNumber);
    cmd->add_option("-c,--concurrency", o->concurrency, "Calls in flight at once (default 1)")
        ->check(CLI::PositiveNumber);
    cmd->add_option("-s,--system", o->system, "System prompt for every prompt");
    cmd->add_option("--max-tokens", o->max_tokens, "Maximum tokens per answer")->check(CLI::PositiveNumber);
    cmd->add_option("--temperature", o->temperature, "Sampling temperature")->check(CLI::Range(0.0, 2.0));
    cmd->add_option("--tag", o->tag, "Ledger tag of the run (default bench-<time>-<random>)");
    cmd->add_flag("--no-stream", o->no_stream, "Measure non-streamed calls (no time to first token)");
    cmd->add_flag("--show-outputs", o->show_outputs, "Print the answers side by side before the table");
    auto* json = cmd->add_flag("--json", o->json, "Print the statistics and every sample as JSON");
    cmd->add_flag("--csv", o->csv, "Print the statistics as CSV")->excludes(json);
    cmd->add_flag("--fail-on-errors", o->fail_on_errors,
                  "Exit 1 when any call failed (default: only when a model failed every call)");
    cmd->callback([&ctx, o] { ctx.action = [&ctx, o] { return run_bench(ctx, *o); }; });
}

}  // namespace aigw::cli

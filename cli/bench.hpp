#pragma once
// The pure half of `aigw bench`: prompts from files, per-model statistics, winners per
// column, and the report as a table, CSV and JSON. No sockets here.

#include "cli/term.hpp"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <expected>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace aigw::cli {

/// One prompt of a run: the chat messages and any extra request fields (max_tokens, ...).
struct BenchPrompt {
    std::string label;        ///< short text for --show-outputs
    nlohmann::json messages;  ///< OpenAI messages array
    nlohmann::json extra = nlohmann::json::object();
};

/// A plain prompt as one user message.
BenchPrompt prompt_from_text(const std::string& text);

/// Prompts from a file: JSONL, one per line — {"messages":[...]} (other keys are request
/// fields), {"prompt":"..."} or a JSON string; blank lines are skipped. A file with no JSON
/// line at all is one plain-text prompt. An error names the file and line.
std::expected<std::vector<BenchPrompt>, std::string> parse_prompt_file(std::string_view text, std::string_view name);

/// What one call measured.
struct BenchSample {
    std::size_t model = 0;
    std::size_t prompt = 0;
    int repeat = 0;
    bool ok = false;
    bool cancelled = false;  ///< stopped by Ctrl-C: left out of the statistics
    std::string error;
    std::string request_id;
    double latency_ms = 0;
    std::optional<double> ttft_ms;
    std::int64_t input_tokens = 0;
    std::int64_t output_tokens = 0;
    double cost_usd = 0;
    std::string output;
};

/// A ledger tag for one run: "<kind>-YYYYmmdd-HHMMSS-<4 hex>" (local time).
std::string make_run_tag(std::string_view kind);

/// Nearest-rank percentile (p in 0..100) of `values`; nullopt when empty.
std::optional<double> percentile(std::vector<double> values, double p);

struct BenchStats {
    std::string model;
    int calls = 0;  ///< finished calls (ok + errors), cancelled ones excluded
    int errors = 0;
    std::optional<double> ttft_p50, ttft_p95;
    std::optional<double> latency_p50, latency_p95;
    std::optional<double> tokens_per_s;  ///< output tokens per second of generation
    std::int64_t input_tokens = 0;       ///< totals over successful calls
    std::int64_t output_tokens = 0;
    double cost_total = 0;                                  ///< every call, failed ones included (they may be billed)
    std::optional<double> cost_per_call;                    ///< mean over successful calls
    double error_rate = 0;                                  ///< errors / calls
    std::vector<std::pair<std::string, int>> error_counts;  ///< distinct messages, most frequent first
};

/// Statistics of the samples of `model_index` (latencies and tokens of successful calls only).
/// Output tokens/s = output tokens / (latency - ttft) summed over calls, or over the whole
/// latency when the generation time is too short to measure (non-streamed, instant mocks).
/// An error message without what differs between calls (request ids, hints on the next
/// line), so equal failures group: "error 404 ... (x-request-id abc)" -> "error 404 ...".
std::string error_group_key(std::string_view message);

/// The exit code of a bench run: 1 when the run was interrupted, when some model failed
/// every call, or when `fail_on_errors` and any call failed; else 0.
int bench_exit_code(const std::vector<BenchStats>& stats, bool interrupted, bool fail_on_errors);

BenchStats summarize(const std::string& model, std::size_t model_index, const std::vector<BenchSample>& samples);

enum class Better { lower, higher };
/// Marks the best value(s) of a column. Nothing is marked when fewer than two values are
/// present or all present values are equal (no winner). Ties share the mark.
std::vector<bool> winners(const std::vector<std::optional<double>>& values, Better better);

/// The aligned comparison table; winners get a trailing '*' (green on a terminal).
Table bench_table(const std::vector<BenchStats>& stats, bool colour);
/// One CSV line per model, with a header; numbers unformatted, empty when unknown.
std::string bench_csv(const std::vector<BenchStats>& stats);
/// {"tag", "models":[stats...], "samples":[...]} for scripts.
nlohmann::json bench_json(const std::string& tag, const std::vector<BenchStats>& stats,
                          const std::vector<BenchSample>& samples, const std::vector<std::string>& models);

/// Texts side by side in columns of equal width under their headers, word-wrapped to fit
/// `width` columns in total (3 columns between texts). Newlines in texts are kept.
std::string side_by_side(const std::vector<std::string>& headers, const std::vector<std::string>& texts,
                         std::size_t width);

/// Wraps `text` to lines of at most `width` display columns (long words are cut).
std::vector<std::string> wrap_text(std::string_view text, std::size_t width);

}  // namespace aigw::cli

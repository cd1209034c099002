#pragma once
// Assertions of `aigw eval`, promptfoo's semantics: each gives pass, a score in 0..1 and a
// reason. Model-graded ones (similar, llm-rubric) call the gateway through GradingServices,
// which tests replace with fakes.

#include "cli/eval_config.hpp"

#include <nlohmann/json.hpp>

#include <expected>
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace aigw::cli {

struct AssertResult {
    bool pass = false;
    double score = 0;
    std::string reason;
};

/// The gateway calls that grading needs. Each returns an error text on failure.
struct GradingServices {
    /// Embedding of `text` with `model`.
    std::function<std::expected<std::vector<double>, std::string>(const std::string& model, const std::string& text)>
        embed;
    /// The answer text of `model` to `messages`.
    std::function<std::expected<std::string, std::string>(const std::string& model, const nlohmann::json& messages)>
        complete;
};

/// What an assertion looks at.
struct AssertInput {
    std::string output;  ///< the answer text, or the tool_calls JSON when the model called tools
    double cost_usd = 0;
    double latency_ms = 0;
    nlohmann::json vars = nlohmann::json::object();
    nlohmann::json tools;  ///< the tools offered to the model (for is-valid-openai-tools-call)
    std::string judge;     ///< llm-rubric model unless the assertion names one
    std::string embedder;  ///< similar's embedding model unless the assertion names one
};

AssertResult evaluate_assertion(const EvalAssertion& a, const AssertInput& in, const GradingServices& services);

/// A judge's verdict: the first JSON object with "pass" or "score" in the answer, else the
/// last standalone PASS or FAIL; an error when neither is there.
struct Verdict {
    bool pass = false;
    double score = 0;
    std::string reason;
};
std::expected<Verdict, std::string> parse_verdict(std::string_view answer);

/// The messages sent to the judge for an llm-rubric assertion.
nlohmann::json rubric_messages(const std::string& rubric, const std::string& output);

/// Every JSON object or array embedded in `text`, in order (for contains-json and verdicts).
std::vector<nlohmann::json> json_values_in(std::string_view text);

/// A JSON Schema subset: type, properties, required, additionalProperties, items, enum,
/// const, minimum, maximum, minItems, maxItems, minLength, maxLength. Returns the first
/// violation, or "" when `value` conforms.
std::string schema_violation(const nlohmann::json& value, const nlohmann::json& schema, const std::string& path = "$");

double cosine_similarity(const std::vector<double>& a, const std::vector<double>& b);
std::size_t levenshtein(std::string_view a, std::string_view b);

/// A test's outcome from its assertion results: with a threshold, the weighted mean score
/// must reach it; without, every assertion must pass. No assertions: pass.
bool test_passes(const std::vector<EvalAssertion>& asserts, const std::vector<AssertResult>& results,
                 std::optional<double> threshold, double* score_out = nullptr);

/// --min-pass: "90", "90%" or "0.9" -> 0.9; nullopt when not a rate in 0..100%.
std::optional<double> parse_pass_rate(std::string_view text);

}  // namespace aigw::cli

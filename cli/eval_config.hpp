#pragma once
// `aigw eval` configs: promptfoo's YAML format (providers, prompts with {{vars}}, tests with
// vars and assert, defaultTest), read with yaml-cpp into plain structs. Unknown keys and
// features aigw does not run are warnings with their line, never errors.
//
// Provider ids map to gateway models: "openai:gpt-4o-mini", "openai:chat:gpt-4o-mini" ->
// "openai/gpt-4o-mini"; "anthropic:messages:claude-x" -> "anthropic/claude-x";
// "vertex:"/"google:" -> "gemini/"; "echo" -> "mock/echo"; ids already in gateway form
// ("mock/echo", "fast") stay as they are.

#include <nlohmann/json.hpp>

#include <expected>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace aigw::cli {

struct EvalProvider {
    std::string id;                                    ///< as written in the config
    std::string model;                                 ///< gateway model the id maps to
    std::string label;                                 ///< shown in reports (label, else id)
    nlohmann::json params = nlohmann::json::object();  ///< request fields from `config`
};

struct EvalPrompt {
    std::string label;
    std::string raw;  ///< template text; a JSON array of {role, content} is a chat prompt
};

struct EvalAssertion {
    std::string type;  ///< without the "not-" prefix
    bool negate = false;
    nlohmann::json value;  ///< null when absent
    std::optional<double> threshold;
    double weight = 1;
    std::string provider;  ///< judge / embedding model for this assertion ("" = default)
    int line = 0;
};

struct EvalTest {
    std::string description;
    nlohmann::json vars = nlohmann::json::object();
    std::vector<EvalAssertion> asserts;
    std::optional<double> threshold;  ///< pass when the weighted score reaches it
    std::string judge;                ///< options.provider (text), "" = default
    std::string embedder;             ///< options.provider.embedding, "" = default
    int line = 0;
};

struct EvalConfig {
    std::string description;
    std::vector<EvalProvider> providers;
    std::vector<EvalPrompt> prompts;
    std::vector<EvalTest> tests;        ///< defaultTest already merged in; var arrays expanded
    int max_concurrency = 0;            ///< evaluateOptions.maxConcurrency, 0 = not set
    int repeat = 1;                     ///< evaluateOptions.repeat
    std::vector<std::string> warnings;  ///< "file:12: unknown key 'foo' in a test; ignored"
    /// Assertion types nobody knows ("file:12: unknown assertion type 'contians'; did you
    /// mean 'contains'?"): the config is wrong, the run must not start.
    std::vector<std::string> errors;
    /// promptfoo assertion types aigw cannot run (javascript, python, webhook, ...), one
    /// "file:line: ..." each; they fail the run unless skipped on purpose (--skip-unsupported).
    std::vector<std::string> unsupported;
};

/// promptfoo provider id -> gateway model; nullopt for providers that run code or call
/// something other than a model (exec:, python:, file://, http:, webhook:).
std::optional<std::string> map_provider_id(std::string_view id);

/// Nunjucks-style substitution: {{ name }}, {{ a.b }}, filters | dump | upper | lower | trim.
/// Strings are inserted as is, other values as JSON; unknown names render as "" (as
/// nunjucks does). Anything else ({% ... %}) is left untouched.
std::string render_template(std::string_view tmpl, const nlohmann::json& vars);

/// The chat messages of `prompt` with `vars`: a JSON array of messages has each string
/// rendered; any other text becomes one user message.
nlohmann::json render_messages(const EvalPrompt& prompt, const nlohmann::json& vars);

/// Parses a promptfoo config. `base_dir` resolves file:// references. Errors (not YAML, no
/// providers, no prompts, a missing file) name the file and line.
std::expected<EvalConfig, std::string> parse_eval_config(std::string_view yaml_text, std::string_view name,
                                                         const std::filesystem::path& base_dir);

/// Reads and parses the config at `path`.
std::expected<EvalConfig, std::string> load_eval_config(const std::filesystem::path& path);

/// One assertion from promptfoo's CSV `__expected` syntax: "contains: foo", "is-json",
/// "similar(0.8): text", "not-icontains: x", "llm-rubric: ...", "grade: ..." (= llm-rubric);
/// anything else is `equals`.
EvalAssertion assertion_from_string(std::string_view text);

/// Tests from CSV text: the header names the vars; __expected[N] columns are assertions,
/// __description the description. Quoted fields with commas, quotes and newlines work.
std::expected<std::vector<EvalTest>, std::string> tests_from_csv(std::string_view text, std::string_view name);

}  // namespace aigw::cli

#include "cli/eval_config.hpp"

#include "cli/suggest.hpp"
#include "cli/term.hpp"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <array>
#include <fstream>
#include <iterator>
#include <regex>
#include <set>

namespace aigw::cli {

namespace {

// ---- helpers over yaml-cpp ----

int line_of(const YAML::Node& n)
{
    const int line = n.Mark().line;
    return line >= 0 ? line + 1 : 0;
}

/// A YAML node as JSON: plain scalars become booleans, null and numbers where they look it.
nlohmann::json to_json(const YAML::Node& n)
{
    if (!n.IsDefined() || n.IsNull()) {
        return nullptr;
    }
    if (n.IsSequence()) {
        nlohmann::json a = nlohmann::json::array();
        for (const auto& item : n) {
            a.push_back(to_json(item));
        }
        return a;
    }
    if (n.IsMap()) {
        nlohmann::json o = nlohmann::json::object();
        for (const auto& kv : n) {
            o[kv.first.as<std::string>()] = to_json(kv.second);
        }
        return o;
    }
    const std::string& s = n.Scalar();
    if (n.Tag() != "?") {
        return s;  // quoted or block scalar: always a string
    }
    static const std::regex k_int(R"([-+]?[0-9]+)");
    static const std::regex k_float(R"([-+]?([0-9]+\.[0-9]*|\.[0-9]+|[0-9]+)([eE][-+]?[0-9]+)?)");
    const std::string l = ascii_lower(s);
    if (l == "true") {
        return true;
    }
    if (l == "false") {
        return false;
    }
    if (l == "null" || s == "~") {
        return nullptr;
    }
    try {
        if (std::regex_match(s, k_int)) {
            return std::stoll(s);
        }
        if (std::regex_match(s, k_float)) {
            return std::stod(s);
        }
    } catch (const std::exception&) {
        // Too large for a number: keep the text.
    }
    return s;
}

struct Loader {
    std::string name;  ///< config file name for messages
    std::filesystem::path base;
    std::vector<std::string>* warnings;
    std::vector<std::string>* errors;       ///< EvalConfig::errors
    std::vector<std::string>* unsupported;  ///< EvalConfig::unsupported

    void warn(const YAML::Node& n, const std::string& what) const
    {
        warnings->push_back(name + ":" + std::to_string(line_of(n)) + ": " + what);
    }
    std::string where(const YAML::Node& n) const { return name + ":" + std::to_string(line_of(n)) + ": "; }

    std::filesystem::path resolve(std::string_view ref) const
    {
        std::string p(ref);
        if (p.starts_with("file://")) {
            p = p.substr(7);
        }
        const std::filesystem::path path(p);
        return path.is_absolute() ? path : base / path;
    }

    std::expected<std::string, std::string> read(const YAML::Node& at, std::string_view ref) const
    {
        const auto path = resolve(ref);
        std::ifstream in(path, std::ios::binary);
        if (!in) {
            return std::unexpected(where(at) + "cannot read " + path.string() +
                                   " (paths are relative to the config file)");
        }
        return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    }
};

std::string extension_of(std::string_view ref)
{
    return ascii_lower(std::filesystem::path(std::string(ref)).extension().string());
}

// ---- providers ----

constexpr std::array k_request_params{"temperature",
                                      "max_tokens",
                                      "max_completion_tokens",
                                      "top_p",
                                      "top_k",
                                      "stop",
                                      "seed",
                                      "presence_penalty",
                                      "frequency_penalty",
                                      "tools",
                                      "tool_choice",
                                      "response_format",
                                      "reasoning_effort",
                                      "thinking",
                                      "parallel_tool_calls",
                                      "logit_bias",
                                      "user"};
constexpr std::array k_endpoint_params{
    "apiKey",      "apiKeyEnvar",     "apiBaseUrl",   "apiHost", "baseUrl",   "organization", "headers", "region",
    "accessKeyId", "secretAccessKey", "sessionToken", "project", "projectId", "location",     "cost",    "apiVersion"};

template <std::size_t N>
bool one_of(const std::array<const char*, N>& list, std::string_view s)
{
    return std::find(list.begin(), list.end(), s) != list.end();
}

std::expected<EvalProvider, std::string> provider_from(const Loader& L, const YAML::Node& at, const std::string& id,
                                                       const YAML::Node& options)
{
    EvalProvider p;
    p.id = id;
    p.label = id;
    auto model = map_provider_id(id);
    if (!model) {
        return std::unexpected(L.where(at) + "provider '" + id +
                               "' runs code or calls a non-model endpoint; aigw eval runs models through the "
                               "gateway (use ids like openai:gpt-4o-mini or mock/echo)");
    }
    p.model = *model;
    if (!options || !options.IsMap()) {
        return p;
    }
    for (const auto& kv : options) {
        const auto key = kv.first.as<std::string>();
        if (key == "id") {
            continue;
        } else if (key == "label") {
            p.label = kv.second.as<std::string>();
        } else if (key == "config") {
            if (!kv.second.IsMap()) {
                L.warn(kv.second, "provider config must be a mapping; ignored");
                continue;
            }
            for (const auto& c : kv.second) {
                const auto ckey = c.first.as<std::string>();
                if (one_of(k_request_params, ckey)) {
                    nlohmann::json v = to_json(c.second);
                    if (v.is_string() && v.get<std::string>().starts_with("file://")) {
                        auto text = L.read(c.second, v.get<std::string>());
                        if (!text) {
                            return std::unexpected(text.error());
                        }
                        v = nlohmann::json::parse(*text, nullptr, false);
                        if (v.is_discarded()) {
                            try {
                                v = to_json(YAML::Load(*text));
                            } catch (const YAML::Exception& e) {
                                return std::unexpected(L.where(c.second) + "cannot parse " + ckey +
                                                       " file: " + e.what());
                            }
                        }
                    }
                    p.params[ckey] = std::move(v);
                } else if (one_of(k_endpoint_params, ckey)) {
                    L.warn(c.first, "provider config '" + ckey + "' ignored: the aigw daemon holds keys and endpoints");
                } else {
                    L.warn(c.first, "unknown provider config key '" + ckey + "'; ignored");
                }
            }
        } else if (key == "delay" || key == "transform" || key == "prompts" || key == "env") {
            L.warn(kv.first, "provider option '" + key + "' is not supported by aigw eval; ignored");
        } else {
            L.warn(kv.first, "unknown provider key '" + key + "'; ignored");
        }
    }
    return p;
}

std::expected<std::vector<EvalProvider>, std::string> parse_providers(const Loader& L, const YAML::Node& n)
{
    std::vector<EvalProvider> out;
    auto add = [&](const YAML::Node& at, const std::string& id,
                   const YAML::Node& options) -> std::expected<void, std::string> {
        auto p = provider_from(L, at, id, options);
        if (!p) {
            return std::unexpected(p.error());
        }
        out.push_back(std::move(*p));
        return {};
    };
    auto one = [&](const YAML::Node& item) -> std::expected<void, std::string> {
        if (item.IsScalar()) {
            return add(item, item.as<std::string>(), YAML::Node());
        }
        if (item.IsMap() && item["id"]) {
            return add(item, item["id"].as<std::string>(), item);
        }
        if (item.IsMap() && item.size() == 1) {  // - openai:gpt-4o: {config: ...}
            const auto kv = *item.begin();
            return add(item, kv.first.as<std::string>(), kv.second);
        }
        return std::unexpected(L.where(item) + "a provider is an id string or a mapping with 'id'");
    };
    if (n.IsSequence()) {
        for (const auto& item : n) {
            if (auto r = one(item); !r) {
                return std::unexpected(r.error());
            }
        }
    } else if (n.IsMap() && !n["id"]) {  // Record<id, options>
        for (const auto& kv : n) {
            if (auto r = add(kv.first, kv.first.as<std::string>(), kv.second); !r) {
                return std::unexpected(r.error());
            }
        }
    } else if (auto r = one(n); !r) {
        return std::unexpected(r.error());
    }
    return out;
}

// ---- prompts ----

std::string short_label(std::string_view raw)
{
    std::string s(raw.substr(0, 60));
    std::replace(s.begin(), s.end(), '\n', ' ');
    return raw.size() > 60 ? s + "..." : s;
}

bool looks_like_prompt_file(std::string_view s)
{
    if (s.find_first_of(" \t\n") != std::string_view::npos || s.find("{{") != std::string_view::npos) {
        return false;
    }
    const std::string ext = extension_of(s);
    return ext == ".txt" || ext == ".json" || ext == ".yaml" || ext == ".yml" || ext == ".md" || ext == ".j2";
}

std::expected<std::vector<EvalPrompt>, std::string> prompts_from_file(const Loader& L, const YAML::Node& at,
                                                                      const std::string& ref, const std::string& label)
{
    if (ref.find('*') != std::string::npos) {
        return std::unexpected(L.where(at) + "prompt globs (" + ref +
                               ") are not supported by aigw eval; list the files");
    }
    auto text = L.read(at, ref);
    if (!text) {
        return std::unexpected(text.error());
    }
    const std::string ext = extension_of(ref);
    const std::string name = label.empty() ? std::string(ref.starts_with("file://") ? ref.substr(7) : ref) : label;
    if (ext == ".json") {
        return std::vector<EvalPrompt>{{name, *text}};
    }
    if (ext == ".yaml" || ext == ".yml") {
        try {
            return std::vector<EvalPrompt>{{name, to_json(YAML::Load(*text)).dump()}};
        } catch (const YAML::Exception& e) {
            return std::unexpected(L.where(at) + "cannot parse " + ref + ": " + e.what());
        }
    }
    // Text: prompts separated by lines of "---".
    std::vector<EvalPrompt> out;
    std::string cur;
    std::size_t start = 0;
    auto flush = [&] {
        while (!cur.empty() && (cur.back() == '\n' || cur.back() == '\r')) {
            cur.pop_back();
        }
        if (cur.find_first_not_of(" \t\r\n") != std::string::npos) {
            out.push_back({name, cur});
        }
        cur.clear();
    };
    while (start <= text->size()) {
        const auto nl = text->find('\n', start);
        std::string line = text->substr(start, nl == std::string::npos ? std::string::npos : nl - start);
        if (!line.empty() && line.back() == '\r') {
            line.pop_back();
        }
        if (line == "---") {
            flush();
        } else {
            cur += line + "\n";
        }
        if (nl == std::string::npos) {
            break;
        }
        start = nl + 1;
    }
    flush();
    if (out.size() > 1) {
        for (std::size_t i = 0; i < out.size(); ++i) {
            out[i].label += ":" + std::to_string(i + 1);
        }
    }
    return out;
}

std::expected<std::vector<EvalPrompt>, std::string> prompt_from_string(const Loader& L, const YAML::Node& at,
                                                                       const std::string& s, const std::string& label)
{
    if (s.starts_with("file://") || (looks_like_prompt_file(s) && std::filesystem::exists(L.resolve(s)))) {
        return prompts_from_file(L, at, s, label);
    }
    return std::vector<EvalPrompt>{{label.empty() ? short_label(s) : label, s}};
}

std::expected<std::vector<EvalPrompt>, std::string> parse_prompts(const Loader& L, const YAML::Node& n)
{
    std::vector<EvalPrompt> out;
    auto append = [&](std::expected<std::vector<EvalPrompt>, std::string> r) -> std::expected<void, std::string> {
        if (!r) {
            return std::unexpected(r.error());
        }
        out.insert(out.end(), r->begin(), r->end());
        return {};
    };
    auto one = [&](const YAML::Node& item) -> std::expected<void, std::string> {
        if (item.IsScalar()) {
            return append(prompt_from_string(L, item, item.as<std::string>(), ""));
        }
        if (item.IsMap()) {
            const std::string label = item["label"] ? item["label"].as<std::string>() : "";
            for (const auto& kv : item) {
                const auto key = kv.first.as<std::string>();
                if (key != "raw" && key != "id" && key != "label" && key != "config") {
                    L.warn(kv.first, "unknown prompt key '" + key + "'; ignored");
                }
            }
            if (item["raw"]) {
                const auto raw = item["raw"];
                return append(std::vector<EvalPrompt>{
                    {label.empty() ? short_label(raw.IsScalar() ? raw.as<std::string>() : to_json(raw).dump()) : label,
                     raw.IsScalar() ? raw.as<std::string>() : to_json(raw).dump()}});
            }
            if (item["id"]) {
                return append(prompt_from_string(L, item, item["id"].as<std::string>(), label));
            }
            return std::unexpected(L.where(item) + "a prompt mapping needs 'raw' or 'id'");
        }
        if (item.IsSequence()) {  // an inline chat prompt
            return append(std::vector<EvalPrompt>{{short_label(to_json(item).dump()), to_json(item).dump()}});
        }
        return std::unexpected(L.where(item) + "a prompt is a string, a file:// reference or {raw, label}");
    };
    if (n.IsSequence()) {
        for (const auto& item : n) {
            if (auto r = one(item); !r) {
                return std::unexpected(r.error());
            }
        }
    } else if (n.IsMap() && !n["raw"] && !n["id"]) {  // {file://a.txt: label}
        for (const auto& kv : n) {
            if (auto r = append(prompt_from_string(L, kv.first, kv.first.as<std::string>(),
                                                   kv.second.IsScalar() ? kv.second.as<std::string>() : ""));
                !r) {
                return std::unexpected(r.error());
            }
        }
    } else if (auto r = one(n); !r) {
        return std::unexpected(r.error());
    }
    return out;
}

// ---- tests ----

const std::set<std::string, std::less<>> k_supported_asserts{
    "equals",        "contains", "icontains",   "contains-any", "contains-all",  "icontains-any",
    "icontains-all", "regex",    "starts-with", "is-json",      "contains-json", "is-valid-openai-tools-call",
    "cost",          "latency",  "similar",     "llm-rubric",   "levenshtein"};

/// promptfoo's other assertion types: known, so not a typo, but aigw eval cannot run them.
const std::set<std::string, std::less<>> k_promptfoo_only_asserts{"javascript",
                                                                  "python",
                                                                  "ruby",
                                                                  "webhook",
                                                                  "is-xml",
                                                                  "contains-xml",
                                                                  "is-sql",
                                                                  "contains-sql",
                                                                  "is-html",
                                                                  "contains-html",
                                                                  "is-refusal",
                                                                  "is-valid-openai-function-call",
                                                                  "model-graded-closedqa",
                                                                  "model-graded-factuality",
                                                                  "factuality",
                                                                  "answer-relevance",
                                                                  "context-faithfulness",
                                                                  "context-recall",
                                                                  "context-relevance",
                                                                  "classifier",
                                                                  "moderation",
                                                                  "perplexity",
                                                                  "perplexity-score",
                                                                  "rouge-n",
                                                                  "bleu",
                                                                  "gleu",
                                                                  "meteor",
                                                                  "select-best",
                                                                  "human",
                                                                  "finish-reason",
                                                                  "g-eval",
                                                                  "guardrails",
                                                                  "trace-span-count",
                                                                  "trace-span-duration",
                                                                  "trace-error-spans",
                                                                  "conversation-relevance",
                                                                  "pi",
                                                                  "word-count",
                                                                  "assert-set"};

struct JudgeChoice {
    std::string judge;
    std::string embedder;
};

/// options.provider: "openai:gpt-4o", {id}, or {text: ..., embedding: ...}.
JudgeChoice judge_from(const Loader& L, const YAML::Node& provider)
{
    JudgeChoice c;
    auto id_of = [&](const YAML::Node& n) -> std::string {
        std::string id;
        if (n.IsScalar()) {
            id = n.as<std::string>();
        } else if (n.IsMap() && n["id"]) {
            id = n["id"].as<std::string>();
        }
        if (id.empty()) {
            return "";
        }
        auto m = map_provider_id(id);
        if (!m) {
            L.warn(n, "grading provider '" + id + "' is not a model; the default judge is used");
            return "";
        }
        return *m;
    };
    if (provider.IsMap() && (provider["text"] || provider["embedding"])) {
        if (provider["text"]) {
            c.judge = id_of(provider["text"]);
        }
        if (provider["embedding"]) {
            c.embedder = id_of(provider["embedding"]);
        }
    } else {
        c.judge = id_of(provider);
    }
    return c;
}

JudgeChoice options_from(const Loader& L, const YAML::Node& options)
{
    JudgeChoice c;
    if (!options.IsMap()) {
        return c;
    }
    for (const auto& kv : options) {
        const auto key = kv.first.as<std::string>();
        if (key == "provider") {
            c = judge_from(L, kv.second);
        } else {
            L.warn(kv.first, "test option '" + key + "' is not supported by aigw eval; ignored");
        }
    }
    return c;
}

std::optional<EvalAssertion> parse_assertion(const Loader& L, const YAML::Node& n)
{
    if (!n.IsMap()) {
        L.warn(n, "an assertion is a mapping with 'type'; skipped");
        return std::nullopt;
    }
    if (!n["type"]) {
        L.warn(n, "an assertion without 'type'; skipped");
        return std::nullopt;
    }
    EvalAssertion a;
    a.line = line_of(n);
    std::string type = n["type"].as<std::string>();
    if (type.starts_with("not-")) {
        a.negate = true;
        type = type.substr(4);
    }
    if (!k_supported_asserts.contains(type)) {
        const std::string typed = n["type"].as<std::string>();
        if (k_promptfoo_only_asserts.contains(type)) {
            L.unsupported->push_back(L.where(n["type"]) + "assertion type '" + typed +
                                     "' is not supported by aigw eval");
        } else {
            std::string msg = L.where(n["type"]) + "unknown assertion type '" + typed + "'";
            const std::vector<std::string> known(k_supported_asserts.begin(), k_supported_asserts.end());
            if (auto s = suggest(type, known)) {
                msg += "; did you mean '" + std::string(a.negate ? "not-" : "") + *s + "'?";
            }
            L.errors->push_back(std::move(msg));
        }
        return std::nullopt;
    }
    a.type = type;
    for (const auto& kv : n) {
        const auto key = kv.first.as<std::string>();
        if (key == "type") {
            continue;
        } else if (key == "value") {
            a.value = to_json(kv.second);
            if (a.value.is_string() && a.value.get<std::string>().starts_with("file://")) {
                auto text = L.read(kv.second, a.value.get<std::string>());
                if (text) {
                    const std::string ext = extension_of(a.value.get<std::string>());
                    nlohmann::json parsed =
                        ext == ".json" ? nlohmann::json::parse(*text, nullptr, false) : nlohmann::json();
                    a.value = parsed.is_discarded() || parsed.is_null() ? nlohmann::json(*text) : parsed;
                } else {
                    L.warn(kv.second, text.error());
                }
            }
        } else if (key == "threshold") {
            a.threshold = kv.second.as<double>();
        } else if (key == "weight") {
            a.weight = kv.second.as<double>();
        } else if (key == "provider") {
            const JudgeChoice c = judge_from(L, kv.second);
            a.provider = !c.judge.empty() ? c.judge : c.embedder;
        } else if (key == "metric" || key == "config") {
            continue;
        } else if (key == "transform" || key == "rubricPrompt" || key == "contextTransform") {
            L.warn(kv.first, "assertion option '" + key + "' is not supported by aigw eval; ignored");
        } else {
            L.warn(kv.first, "unknown assertion key '" + key + "'; ignored");
        }
    }
    return a;
}

nlohmann::json load_var_value(const Loader& L, const YAML::Node& at, nlohmann::json v)
{
    if (!v.is_string() || !v.get<std::string>().starts_with("file://")) {
        return v;
    }
    const std::string ref = v.get<std::string>();
    auto text = L.read(at, ref);
    if (!text) {
        L.warn(at, text.error() + "; the var is left as the reference");
        return v;
    }
    const std::string ext = extension_of(ref);
    if (ext == ".json") {
        auto j = nlohmann::json::parse(*text, nullptr, false);
        return j.is_discarded() ? nlohmann::json(*text) : j;
    }
    if (ext == ".yaml" || ext == ".yml") {
        try {
            return to_json(YAML::Load(*text));
        } catch (const YAML::Exception&) {
            return *text;
        }
    }
    return *text;
}

std::expected<std::vector<EvalTest>, std::string> parse_tests(const Loader& L, const YAML::Node& n);

std::expected<EvalTest, std::string> parse_test(const Loader& L, const YAML::Node& n)
{
    EvalTest t;
    t.line = line_of(n);
    if (!n.IsMap()) {
        return std::unexpected(L.where(n) + "a test is a mapping with vars and assert");
    }
    for (const auto& kv : n) {
        const auto key = kv.first.as<std::string>();
        if (key == "description") {
            t.description = kv.second.as<std::string>();
        } else if (key == "vars") {
            if (kv.second.IsScalar()) {  // vars: file://vars.yaml
                t.vars = load_var_value(L, kv.second, to_json(kv.second));
                if (!t.vars.is_object()) {
                    return std::unexpected(L.where(kv.second) + "vars must be a mapping");
                }
            } else if (kv.second.IsMap()) {
                for (const auto& v : kv.second) {
                    t.vars[v.first.as<std::string>()] = load_var_value(L, v.second, to_json(v.second));
                }
            } else {
                return std::unexpected(L.where(kv.second) + "vars must be a mapping");
            }
        } else if (key == "assert") {
            if (!kv.second.IsSequence()) {
                return std::unexpected(L.where(kv.second) + "assert must be a list of {type, value}");
            }
            for (const auto& a : kv.second) {
                if (auto parsed = parse_assertion(L, a)) {
                    t.asserts.push_back(std::move(*parsed));
                }
            }
        } else if (key == "options") {
            const JudgeChoice c = options_from(L, kv.second);
            t.judge = c.judge;
            t.embedder = c.embedder;
        } else if (key == "threshold") {
            t.threshold = kv.second.as<double>();
        } else if (key == "metadata") {
            continue;
        } else if (key == "provider" || key == "providers" || key == "prompts" || key == "providerOutput") {
            L.warn(kv.first, "test key '" + key + "' is not supported by aigw eval; ignored");
        } else {
            L.warn(kv.first, "unknown test key '" + key + "'; ignored");
        }
    }
    return t;
}

std::expected<std::vector<EvalTest>, std::string> tests_from_file(const Loader& L, const YAML::Node& at,
                                                                  const std::string& ref)
{
    if (ref.find('*') != std::string::npos) {
        return std::unexpected(L.where(at) + "test globs (" + ref + ") are not supported by aigw eval; list the files");
    }
    auto text = L.read(at, ref);
    if (!text) {
        return std::unexpected(text.error());
    }
    const std::string ext = extension_of(ref);
    if (ext == ".csv") {
        return tests_from_csv(*text, ref);
    }
    try {
        const YAML::Node doc = YAML::Load(*text);
        Loader sub{L.resolve(ref).string(), L.resolve(ref).parent_path(), L.warnings, L.errors, L.unsupported};
        return parse_tests(sub, doc);
    } catch (const YAML::Exception& e) {
        return std::unexpected(L.where(at) + "cannot parse " + ref + ": " + e.what());
    }
}

std::expected<std::vector<EvalTest>, std::string> parse_tests(const Loader& L, const YAML::Node& n)
{
    std::vector<EvalTest> out;
    if (n.IsScalar()) {
        return tests_from_file(L, n, n.as<std::string>());
    }
    if (!n.IsSequence()) {
        return std::unexpected(L.where(n) + "tests must be a list of tests or a file:// reference");
    }
    for (const auto& item : n) {
        if (item.IsScalar()) {
            auto more = tests_from_file(L, item, item.as<std::string>());
            if (!more) {
                return std::unexpected(more.error());
            }
            out.insert(out.end(), more->begin(), more->end());
            continue;
        }
        auto t = parse_test(L, item);
        if (!t) {
            return std::unexpected(t.error());
        }
        out.push_back(std::move(*t));
    }
    return out;
}

/// promptfoo runs a test once per combination of its array-valued vars.
std::vector<EvalTest> expand_var_arrays(const EvalTest& t)
{
    std::vector<EvalTest> out{t};
    for (const auto& [name, value] : t.vars.items()) {
        if (!value.is_array() || value.empty()) {
            continue;
        }
        std::vector<EvalTest> next;
        for (const auto& base : out) {
            for (const auto& v : value) {
                EvalTest copy = base;
                copy.vars[name] = v;
                next.push_back(std::move(copy));
            }
        }
        out = std::move(next);
    }
    return out;
}

// ---- CSV ----

std::vector<std::vector<std::string>> parse_csv(std::string_view text)
{
    std::vector<std::vector<std::string>> rows;
    std::vector<std::string> row;
    std::string field;
    bool quoted = false;
    bool any = false;
    for (std::size_t i = 0; i < text.size(); ++i) {
        const char c = text[i];
        any = true;
        if (quoted) {
            if (c == '"' && i + 1 < text.size() && text[i + 1] == '"') {
                field += '"';
                ++i;
            } else if (c == '"') {
                quoted = false;
            } else {
                field += c;
            }
        } else if (c == '"') {
            quoted = true;
        } else if (c == ',') {
            row.push_back(std::move(field));
            field.clear();
        } else if (c == '\n' || c == '\r') {
            if (c == '\r' && i + 1 < text.size() && text[i + 1] == '\n') {
                ++i;
            }
            row.push_back(std::move(field));
            field.clear();
            rows.push_back(std::move(row));
            row.clear();
            any = false;
        } else {
            field += c;
        }
    }
    if (any) {
        row.push_back(std::move(field));
        rows.push_back(std::move(row));
    }
    return rows;
}

}  // namespace

std::optional<std::string> map_provider_id(std::string_view id)
{
    for (std::string_view code : {"file://", "exec:", "python:", "http:", "https:", "webhook:", "script:", "golang:",
                                  "ruby:", "javascript:", "js:"}) {
        if (id.starts_with(code)) {
            return std::nullopt;
        }
    }
    if (id == "echo") {
        return "mock/echo";
    }
    const auto colon = id.find(':');
    if (colon == std::string_view::npos) {
        return std::string(id);
    }
    std::string prefix = ascii_lower(std::string(id.substr(0, colon)));
    std::string rest(id.substr(colon + 1));
    static const std::map<std::string, std::string, std::less<>> k_prefixes{
        {"vertex", "gemini"}, {"google", "gemini"},   {"togetherai", "together"}, {"azureopenai", "azure"},
        {"azure", "azure"},   {"bedrock", "bedrock"}, {"openai", "openai"},       {"anthropic", "anthropic"}};
    if (auto it = k_prefixes.find(prefix); it != k_prefixes.end()) {
        prefix = it->second;
    }
    // "openai:chat:gpt-4o", "anthropic:messages:claude-x", "openai:embedding:text-embedding-3-small".
    static const std::set<std::string, std::less<>> k_kinds{"chat",       "completion", "messages",  "embedding",
                                                            "embeddings", "responses",  "assistant", "converse"};
    if (const auto c2 = rest.find(':'); c2 != std::string::npos && k_kinds.contains(rest.substr(0, c2))) {
        rest = rest.substr(c2 + 1);
    }
    return prefix + "/" + rest;
}

std::string render_template(std::string_view tmpl, const nlohmann::json& vars)
{
    std::string out;
    std::size_t i = 0;
    while (i < tmpl.size()) {
        const auto open = tmpl.find("{{", i);
        if (open == std::string_view::npos) {
            out.append(tmpl.substr(i));
            break;
        }
        const auto close = tmpl.find("}}", open + 2);
        if (close == std::string_view::npos) {
            out.append(tmpl.substr(i));
            break;
        }
        out.append(tmpl.substr(i, open - i));
        std::string expr(tmpl.substr(open + 2, close - open - 2));
        std::vector<std::string> parts;
        std::size_t s = 0;
        while (true) {
            const auto bar = expr.find('|', s);
            std::string piece = expr.substr(s, bar == std::string::npos ? std::string::npos : bar - s);
            const auto b = piece.find_first_not_of(" \t");
            const auto e = piece.find_last_not_of(" \t");
            parts.push_back(b == std::string::npos ? "" : piece.substr(b, e - b + 1));
            if (bar == std::string::npos) {
                break;
            }
            s = bar + 1;
        }
        // Walk a.b.c through the vars.
        const nlohmann::json* v = &vars;
        std::size_t p = 0;
        const std::string& path = parts[0];
        while (v != nullptr && p <= path.size()) {
            const auto dot = path.find('.', p);
            const std::string key = path.substr(p, dot == std::string::npos ? std::string::npos : dot - p);
            if (v->is_object() && v->contains(key)) {
                v = &(*v)[key];
            } else if (v->is_array() && !key.empty() && key.find_first_not_of("0123456789") == std::string::npos &&
                       std::stoul(key) < v->size()) {
                v = &(*v)[std::stoul(key)];
            } else {
                v = nullptr;
            }
            if (dot == std::string::npos) {
                break;
            }
            p = dot + 1;
        }
        std::string value = v == nullptr ? "" : v->is_string() ? v->get<std::string>() : v->is_null() ? "" : v->dump();
        for (std::size_t f = 1; f < parts.size(); ++f) {
            if (parts[f] == "dump") {
                value = v == nullptr ? "" : v->dump();
            } else if (parts[f] == "upper") {
                for (auto& c : value) {
                    c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
                }
            } else if (parts[f] == "lower") {
                value = ascii_lower(value);
            } else if (parts[f] == "trim") {
                const auto b = value.find_first_not_of(" \t\r\n");
                const auto e = value.find_last_not_of(" \t\r\n");
                value = b == std::string::npos ? "" : value.substr(b, e - b + 1);
            }
        }
        out += value;
        i = close + 2;
    }
    return out;
}

nlohmann::json render_messages(const EvalPrompt& prompt, const nlohmann::json& vars)
{
    auto is_chat = [](const nlohmann::json& j) {
        return j.is_array() && !j.empty() && std::all_of(j.begin(), j.end(), [](const nlohmann::json& m) {
                   return m.is_object() && m.contains("role");
               });
    };
    nlohmann::json parsed = nlohmann::json::parse(prompt.raw, nullptr, false);
    if (!parsed.is_discarded() && is_chat(parsed)) {
        // Render every string inside the messages, so vars with quotes cannot break the JSON.
        std::function<void(nlohmann::json&)> walk = [&](nlohmann::json& j) {
            if (j.is_string()) {
                j = render_template(j.get<std::string>(), vars);
            } else if (j.is_structured()) {
                for (auto& child : j) {
                    walk(child);
                }
            }
        };
        walk(parsed);
        return parsed;
    }
    const std::string text = render_template(prompt.raw, vars);
    if (auto after = nlohmann::json::parse(text, nullptr, false); !after.is_discarded() && is_chat(after)) {
        return after;
    }
    return nlohmann::json::array({{{"role", "user"}, {"content", text}}});
}

EvalAssertion assertion_from_string(std::string_view text)
{
    static const std::regex k_form(R"(^(not-)?([a-z][a-z0-9-]*)(?:\(([0-9]*\.?[0-9]+)\))?(?::\s?([\s\S]*))?$)");
    EvalAssertion a;
    std::string s(text);
    std::smatch m;
    if (std::regex_match(s, m, k_form)) {
        std::string type = m[2].str();
        if (type == "grade") {
            type = "llm-rubric";
        }
        const bool needs_no_value =
            type == "is-json" || type == "contains-json" || type == "is-valid-openai-tools-call";
        if (k_supported_asserts.contains(type) && (m[4].matched || needs_no_value)) {
            a.type = type;
            a.negate = m[1].matched;
            if (m[3].matched) {
                a.threshold = std::stod(m[3].str());
            }
            if (m[4].matched) {
                a.value = m[4].str();
            }
            if ((type == "contains-any" || type == "contains-all" || type == "icontains-any" ||
                 type == "icontains-all") &&
                a.value.is_string()) {
                nlohmann::json list = nlohmann::json::array();
                std::string item;
                for (char c : a.value.get<std::string>() + ",") {
                    if (c == ',') {
                        const auto b = item.find_first_not_of(' ');
                        list.push_back(b == std::string::npos ? "" : item.substr(b));
                        item.clear();
                    } else {
                        item += c;
                    }
                }
                a.value = list;
            }
            return a;
        }
    }
    a.type = "equals";
    a.value = s;
    return a;
}

std::expected<std::vector<EvalTest>, std::string> tests_from_csv(std::string_view text, std::string_view name)
{
    auto rows = parse_csv(text);
    if (rows.empty()) {
        return std::vector<EvalTest>{};
    }
    const auto header = rows.front();
    std::vector<EvalTest> out;
    for (std::size_t r = 1; r < rows.size(); ++r) {
        const auto& row = rows[r];
        if (row.size() == 1 && row[0].empty()) {
            continue;  // blank line
        }
        if (row.size() > header.size()) {
            return std::unexpected(std::string(name) + ": row " + std::to_string(r + 1) + " has " +
                                   std::to_string(row.size()) + " fields, the header " + std::to_string(header.size()));
        }
        EvalTest t;
        t.line = static_cast<int>(r + 1);
        for (std::size_t c = 0; c < row.size(); ++c) {
            const std::string& col = header[c];
            if (col.starts_with("__expected")) {
                if (!row[c].empty()) {
                    EvalAssertion a = assertion_from_string(row[c]);
                    a.line = t.line;
                    t.asserts.push_back(std::move(a));
                }
            } else if (col == "__description") {
                t.description = row[c];
            } else if (!col.starts_with("__")) {
                t.vars[col] = row[c];
            }
        }
        out.push_back(std::move(t));
    }
    return out;
}

std::expected<EvalConfig, std::string> parse_eval_config(std::string_view yaml_text, std::string_view name,
                                                         const std::filesystem::path& base_dir)
{
    EvalConfig cfg;
    Loader L{std::string(name), base_dir, &cfg.warnings, &cfg.errors, &cfg.unsupported};
    YAML::Node root;
    try {
        root = YAML::Load(std::string(yaml_text));
    } catch (const YAML::ParserException& e) {
        return std::unexpected(std::string(name) + ":" + std::to_string(e.mark.line + 1) +
                               ": not valid YAML: " + e.msg);
    }
    if (!root.IsMap()) {
        return std::unexpected(std::string(name) + ": the config must be a mapping with providers, prompts and tests");
    }
    YAML::Node default_test;
    try {
        for (const auto& kv : root) {
            const auto key = kv.first.as<std::string>();
            if (key == "description") {
                cfg.description = kv.second.as<std::string>();
            } else if (key == "providers" || key == "targets") {
                auto p = parse_providers(L, kv.second);
                if (!p) {
                    return std::unexpected(p.error());
                }
                cfg.providers.insert(cfg.providers.end(), p->begin(), p->end());
            } else if (key == "prompts") {
                auto p = parse_prompts(L, kv.second);
                if (!p) {
                    return std::unexpected(p.error());
                }
                cfg.prompts = std::move(*p);
            } else if (key == "tests") {
                auto t = parse_tests(L, kv.second);
                if (!t) {
                    return std::unexpected(t.error());
                }
                cfg.tests = std::move(*t);
            } else if (key == "defaultTest") {
                default_test = kv.second;
                if (default_test.IsScalar()) {
                    auto text = L.read(kv.second, default_test.as<std::string>());
                    if (!text) {
                        return std::unexpected(text.error());
                    }
                    default_test = YAML::Load(*text);
                }
            } else if (key == "evaluateOptions") {
                for (const auto& o : kv.second) {
                    const auto okey = o.first.as<std::string>();
                    if (okey == "maxConcurrency") {
                        cfg.max_concurrency = o.second.as<int>();
                    } else if (okey == "repeat") {
                        cfg.repeat = std::max(1, o.second.as<int>());
                    } else if (okey != "showProgressBar" && okey != "cache" && okey != "timeoutMs" && okey != "delay" &&
                               okey != "maxEvalTimeMs") {
                        L.warn(o.first, "unknown evaluateOptions key '" + okey + "'; ignored");
                    }
                }
            } else if (key == "outputPath") {
                L.warn(kv.first, "outputPath is not written by aigw eval; use 'aigw eval --json FILE > out.json'");
            } else if (key == "env") {
                L.warn(kv.first, "env is ignored: provider keys live in the aigw daemon ('aigw keys set PROVIDER')");
            } else if (key == "tags" || key == "metadata" || key == "sharing" || key == "writeLatestResults" ||
                       key == "commandLineOptions") {
                continue;  // no effect on results
            } else if (key == "scenarios" || key == "nunjucksFilters" || key == "derivedMetrics" ||
                       key == "extensions" || key == "redteam") {
                L.warn(kv.first, "'" + key + "' is not supported by aigw eval; ignored");
            } else {
                L.warn(kv.first, "unknown key '" + key + "'; ignored");
            }
        }
    } catch (const YAML::Exception& e) {
        return std::unexpected(std::string(name) + ":" + std::to_string(e.mark.line + 1) + ": " + e.msg);
    }
    if (cfg.providers.empty()) {
        return std::unexpected(
            std::string(name) +
            ": no providers; list the models to evaluate, e.g. providers: [openai:gpt-4o-mini, mock/echo]");
    }
    if (cfg.prompts.empty()) {
        return std::unexpected(std::string(name) + ": no prompts; add prompts: ['Answer: {{question}}']");
    }

    // defaultTest: its vars under each test's, its assertions before each test's.
    EvalTest defaults;
    if (default_test && default_test.IsMap()) {
        try {
            auto d = parse_test(L, default_test);
            if (!d) {
                return std::unexpected(d.error());
            }
            defaults = std::move(*d);
        } catch (const YAML::Exception& e) {
            return std::unexpected(std::string(name) + ":" + std::to_string(e.mark.line + 1) + ": " + e.msg);
        }
    }
    if (cfg.tests.empty()) {
        cfg.tests.push_back(EvalTest{});  // every prompt runs once, checked by defaultTest only
    }
    std::vector<EvalTest> merged;
    for (auto& t : cfg.tests) {
        nlohmann::json vars = defaults.vars;
        vars.update(t.vars);
        t.vars = std::move(vars);
        std::vector<EvalAssertion> asserts = defaults.asserts;
        asserts.insert(asserts.end(), t.asserts.begin(), t.asserts.end());
        t.asserts = std::move(asserts);
        if (!t.threshold) {
            t.threshold = defaults.threshold;
        }
        if (t.judge.empty()) {
            t.judge = defaults.judge;
        }
        if (t.embedder.empty()) {
            t.embedder = defaults.embedder;
        }
        for (auto& e : expand_var_arrays(t)) {
            merged.push_back(std::move(e));
        }
    }
    cfg.tests = std::move(merged);
    return cfg;
}

std::expected<EvalConfig, std::string> load_eval_config(const std::filesystem::path& path)
{
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        return std::unexpected("cannot read " + path.string() +
                               "; give the path of a promptfoo config (promptfooconfig.yaml)");
    }
    const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    return parse_eval_config(text, path.string(),
                             path.has_parent_path() ? path.parent_path() : std::filesystem::path("."));
}

}  // namespace aigw::cli

#include "cli/agents.hpp"
#include "cli/term.hpp"

#include <nlohmann/json.hpp>

#include <array>
#include <cstdio>

namespace aigw::cli {

namespace {

constexpr std::array<AgentSpec, 4> k_agents{{
    {"claude", "claude", "@anthropic-ai/claude-code", "Claude Code"},
    {"codex", "codex", "@openai/codex", "Codex CLI"},
    {"gemini", "gemini", "@google/gemini-cli", "Gemini CLI"},
    {"opencode", "opencode", "opencode-ai", "opencode"},
}};

/// The environment variable that carries the gateway key to agents whose config names one.
constexpr const char* k_key_env = "AIGW_API_KEY";

std::string session_base(const LaunchInput& in)
{
    return in.origin + "/s/" + in.session;
}

/// The provider part of "provider/model" ("" for a bare name).
std::string_view provider_of(std::string_view model)
{
    const auto slash = model.find('/');
    return slash == std::string_view::npos ? std::string_view() : model.substr(0, slash);
}

LaunchPlan claude_plan(const LaunchInput& in)
{
    LaunchPlan p;
    p.argv = {"claude"};
    // ANTHROPIC_AUTH_TOKEN (sent as a bearer token) rather than ANTHROPIC_API_KEY: Claude
    // Code asks before it uses an API key from the environment, and a user's own Anthropic
    // key must not go to the gateway instead.
    p.set_env = {{"ANTHROPIC_BASE_URL", session_base(in)}, {"ANTHROPIC_AUTH_TOKEN", in.gateway_key}};
    p.unset_env = {"ANTHROPIC_API_KEY"};
    if (!in.model.empty()) {
        // Every tier Claude Code picks from (main, background/haiku, the sonnet and opus
        // aliases its subagents use) runs on the chosen model, which may not be Anthropic's.
        for (const char* name : {"ANTHROPIC_MODEL", "ANTHROPIC_DEFAULT_OPUS_MODEL", "ANTHROPIC_DEFAULT_SONNET_MODEL",
                                 "ANTHROPIC_DEFAULT_HAIKU_MODEL", "ANTHROPIC_SMALL_FAST_MODEL"}) {
            p.set_env.emplace_back(name, in.model);
        }
    }
    return p;
}

LaunchPlan codex_plan(const LaunchInput& in)
{
    LaunchPlan p;
    p.argv = {"codex"};
    auto config = [&](std::string_view key, std::string_view value) {
        p.argv.emplace_back("-c");
        p.argv.push_back(std::string(key) + "=" + toml_string(value));
    };
    // A provider of its own, so the user's model_providers and OpenAI login stay as they are;
    // env_key names the variable the key is read from.
    config("model_provider", "aigw");
    config("model_providers.aigw.name", "aigw");
    config("model_providers.aigw.base_url", session_base(in) + "/v1");
    config("model_providers.aigw.env_key", k_key_env);
    config("model_providers.aigw.wire_api", "responses");
    if (!in.model.empty()) {
        config("model", in.model);
        const std::string_view provider = provider_of(in.model);
        if (!provider.empty() && provider != "openai" && provider != "azure") {
            // OpenAI's hosted web search exists only on OpenAI's models.
            config("web_search", "disabled");
        }
    }
    p.set_env = {{k_key_env, in.gateway_key}};
    return p;
}

LaunchPlan gemini_plan(const LaunchInput& in)
{
    LaunchPlan p;
    p.argv = {"gemini"};
    // The system settings select the API key as the auth type: with GOOGLE_GEMINI_BASE_URL
    // alone, Gemini CLI picks a "gateway" auth type that its non-interactive mode refuses,
    // and a user's Google login (in their own settings) would bypass the gateway.
    const auto settings = in.state_dir / "gemini-system-settings.json";
    p.files.push_back({settings, gemini_system_settings(in.gemini_system_settings)});
    p.set_env = {{"GOOGLE_GEMINI_BASE_URL", session_base(in)},
                 {"GEMINI_API_KEY", in.gateway_key},
                 {"GEMINI_CLI_SYSTEM_SETTINGS_PATH", settings.string()}};
    p.unset_env = {"GOOGLE_API_KEY", "GOOGLE_GENAI_USE_VERTEXAI", "GOOGLE_GENAI_USE_GCA"};
    if (!in.model.empty()) {
        p.set_env.emplace_back("GEMINI_MODEL", in.model);
    }
    return p;
}

LaunchPlan opencode_plan(const LaunchInput& in)
{
    LaunchPlan p;
    p.argv = {"opencode"};
    // OPENCODE_CONFIG_CONTENT is one more config layer over the user's files: opencode's own
    // OpenAI and Anthropic providers at the gateway, the key by {env:} substitution.
    const nlohmann::json options = {{"baseURL", session_base(in) + "/v1"},
                                    {"apiKey", std::string("{env:") + k_key_env + "}"}};
    nlohmann::json config = {{"$schema", "https://opencode.ai/config.json"},
                             {"provider", {{"openai", {{"options", options}}}, {"anthropic", {{"options", options}}}}}};
    if (!in.model.empty()) {
        // anthropic/* on opencode's Anthropic provider (the Messages API), everything else on
        // its OpenAI one (the Responses API), declared because opencode's model list does not
        // know aigw's names.
        const std::string_view provider = provider_of(in.model);
        const bool anthropic = provider == "anthropic";
        const std::string opencode_provider = anthropic ? "anthropic" : "openai";
        const std::string id = anthropic || provider == "openai" ? in.model.substr(provider.size() + 1) : in.model;
        config["provider"][opencode_provider]["models"][id] = {
            {"name", in.model},
            {"tool_call", true},
            {"limit", {{"context", 128000}, {"output", 8192}}},
        };
        config["model"] = opencode_provider + "/" + id;
        config["small_model"] = opencode_provider + "/" + id;
    }
    p.set_env = {{"OPENCODE_CONFIG_CONTENT", config.dump()}, {k_key_env, in.gateway_key}};
    return p;
}

}  // namespace

std::span<const AgentSpec> agent_specs()
{
    return k_agents;
}

LaunchPlan launch_plan(const AgentSpec& agent, const LaunchInput& in)
{
    LaunchPlan p;
    if (agent.command == "claude") {
        p = claude_plan(in);
    } else if (agent.command == "codex") {
        p = codex_plan(in);
    } else if (agent.command == "gemini") {
        p = gemini_plan(in);
    } else {
        p = opencode_plan(in);
    }
    p.argv.insert(p.argv.end(), in.agent_args.begin(), in.agent_args.end());
    return p;
}

std::string new_session_id(std::string_view agent, std::int64_t unix_seconds, std::uint32_t random)
{
    char tail[16];
    std::snprintf(tail, sizeof tail, "%06x", static_cast<unsigned>(random & 0xffffffU));
    return std::string(agent) + "-" + std::to_string(unix_seconds) + "-" + tail;
}

std::vector<std::string> apply_env(const std::vector<std::string>& base, const LaunchPlan& plan)
{
    auto name_of = [](const std::string& entry) { return std::string_view(entry).substr(0, entry.find('=')); };
    auto replaced = [&](std::string_view name) {
        for (const auto& [n, v] : plan.set_env) {
            if (n == name) {
                return true;
            }
        }
        for (const auto& n : plan.unset_env) {
            if (n == name) {
                return true;
            }
        }
        return false;
    };
    std::vector<std::string> out;
    for (const auto& entry : base) {
        if (!replaced(name_of(entry))) {
            out.push_back(entry);
        }
    }
    for (const auto& [n, v] : plan.set_env) {
        out.push_back(n + "=" + v);
    }
    return out;
}

std::string gemini_system_settings(const std::string& existing)
{
    nlohmann::json settings = nlohmann::json::parse(existing, nullptr, false, true);
    if (!settings.is_object()) {
        settings = nlohmann::json::object();
    }
    if (!settings["security"].is_object()) {
        settings["security"] = nlohmann::json::object();
    }
    if (!settings["security"]["auth"].is_object()) {
        settings["security"]["auth"] = nlohmann::json::object();
    }
    // An administrator's enforcedType stays: Gemini CLI then says why it refuses the key.
    settings["security"]["auth"]["selectedType"] = "gemini-api-key";
    return settings.dump(2) + "\n";
}

}  // namespace aigw::cli

// aigw claude|codex|gemini|opencode: what each agent is given to reach the daemon in a
// session, and that the gateway key goes only into its environment.

#include "cli/agents.hpp"

#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <map>
#include <regex>

using namespace aigw::cli;

namespace {

constexpr const char* k_key = "gw-secret-key";

const AgentSpec& agent(std::string_view name)
{
    for (const AgentSpec& a : agent_specs()) {
        if (a.command == name) {
            return a;
        }
    }
    FAIL("no agent " << name);
    return agent_specs().front();
}

LaunchInput input(std::string model = {}, std::vector<std::string> args = {})
{
    LaunchInput in;
    in.origin = "http://127.0.0.1:4141";
    in.session = "claude-1767225600-00ab12";
    in.model = std::move(model);
    in.gateway_key = k_key;
    in.agent_args = std::move(args);
    in.state_dir = "/home/u/.local/share/aigw/agents";
    return in;
}

std::map<std::string, std::string> env_of(const LaunchPlan& p)
{
    return {p.set_env.begin(), p.set_env.end()};
}

/// The key appears in neither argv nor a file.
void check_key_only_in_env(const LaunchPlan& p)
{
    for (const auto& a : p.argv) {
        CHECK_MESSAGE(a.find(k_key) == std::string::npos, "key in argv: " << a);
    }
    for (const auto& f : p.files) {
        CHECK_MESSAGE(f.content.find(k_key) == std::string::npos, "key in " << f.path);
    }
}

}  // namespace

TEST_CASE("four agents, each with the npm package that installs it")
{
    CHECK(agent_specs().size() == 4);
    CHECK(agent("claude").npm_package == "@anthropic-ai/claude-code");
    CHECK(agent("codex").npm_package == "@openai/codex");
    CHECK(agent("gemini").npm_package == "@google/gemini-cli");
    CHECK(agent("opencode").npm_package == "opencode-ai");
}

TEST_CASE("session ids name the agent and the time, and are valid ids")
{
    const std::string id = new_session_id("claude", 1767225600, 0xab12cdefU);
    CHECK(id == "claude-1767225600-12cdef");
    CHECK(std::regex_match(id, std::regex("[A-Za-z0-9._:-]{1,128}")));
    CHECK(new_session_id("codex", 5, 1) == "codex-5-000001");
}

TEST_CASE("Claude Code: base URL with the session, the key as a bearer token, -m on every model tier")
{
    auto p = launch_plan(agent("claude"), input({}, {"-p", "hello"}));
    auto env = env_of(p);
    CHECK(p.argv == std::vector<std::string>{"claude", "-p", "hello"});
    CHECK(env["ANTHROPIC_BASE_URL"] == "http://127.0.0.1:4141/s/claude-1767225600-00ab12");
    CHECK(env["ANTHROPIC_AUTH_TOKEN"] == k_key);
    CHECK(std::find(p.unset_env.begin(), p.unset_env.end(), "ANTHROPIC_API_KEY") != p.unset_env.end());
    CHECK(env.count("ANTHROPIC_MODEL") == 0);
    check_key_only_in_env(p);

    p = launch_plan(agent("claude"), input("openai/gpt-4o-mini"));
    env = env_of(p);
    for (const char* name : {"ANTHROPIC_MODEL", "ANTHROPIC_DEFAULT_HAIKU_MODEL", "ANTHROPIC_DEFAULT_SONNET_MODEL",
                             "ANTHROPIC_DEFAULT_OPUS_MODEL", "ANTHROPIC_SMALL_FAST_MODEL"}) {
        CAPTURE(name);
        CHECK(env[name] == "openai/gpt-4o-mini");
    }
}

TEST_CASE("Codex CLI: a provider of its own by -c overrides, the key read from the variable it names")
{
    auto p = launch_plan(agent("codex"), input("anthropic/claude-haiku-4-5", {"exec", "do it"}));
    const std::vector<std::string> want{
        "codex",
        "-c",
        "model_provider=\"aigw\"",
        "-c",
        "model_providers.aigw.name=\"aigw\"",
        "-c",
        "model_providers.aigw.base_url=\"http://127.0.0.1:4141/s/claude-1767225600-00ab12/v1\"",
        "-c",
        "model_providers.aigw.env_key=\"AIGW_API_KEY\"",
        "-c",
        "model_providers.aigw.wire_api=\"responses\"",
        "-c",
        "model=\"anthropic/claude-haiku-4-5\"",
        "-c",
        "web_search=\"disabled\"",
        "exec",
        "do it"};
    CHECK(p.argv == want);
    CHECK(env_of(p)["AIGW_API_KEY"] == k_key);
    check_key_only_in_env(p);
    // OpenAI's own models keep their hosted web search.
    p = launch_plan(agent("codex"), input("openai/gpt-4o-mini"));
    CHECK(std::find(p.argv.begin(), p.argv.end(), "web_search=\"disabled\"") == p.argv.end());
    // A quote in a value cannot end the TOML string early.
    p = launch_plan(agent("codex"), input("a\"b"));
    CHECK(std::find(p.argv.begin(), p.argv.end(), "model=\"a\\\"b\"") != p.argv.end());
}

TEST_CASE("Gemini CLI: base URL, the key as GEMINI_API_KEY, system settings that select the API key")
{
    auto p = launch_plan(agent("gemini"), input("gemini/gemini-2.5-flash"));
    auto env = env_of(p);
    CHECK(env["GOOGLE_GEMINI_BASE_URL"] == "http://127.0.0.1:4141/s/claude-1767225600-00ab12");
    CHECK(env["GEMINI_API_KEY"] == k_key);
    CHECK(env["GEMINI_MODEL"] == "gemini/gemini-2.5-flash");
    REQUIRE(p.files.size() == 1);
    CHECK(env["GEMINI_CLI_SYSTEM_SETTINGS_PATH"] == p.files[0].path.string());
    CHECK(p.files[0].path.parent_path() == "/home/u/.local/share/aigw/agents");
    const auto settings = nlohmann::json::parse(p.files[0].content);
    CHECK(settings["security"]["auth"]["selectedType"] == "gemini-api-key");
    check_key_only_in_env(p);
}

TEST_CASE("Gemini CLI's own system settings are kept, the auth type replaced")
{
    const auto merged = nlohmann::json::parse(gemini_system_settings(
        R"({"general": {"vimMode": true}, "security": {"auth": {"selectedType": "oauth-personal"}}})"));
    CHECK(merged["general"]["vimMode"] == true);
    CHECK(merged["security"]["auth"]["selectedType"] == "gemini-api-key");
    CHECK(nlohmann::json::parse(gemini_system_settings(""))["security"]["auth"]["selectedType"] == "gemini-api-key");
    CHECK(nlohmann::json::parse(gemini_system_settings("not json"))["security"]["auth"]["selectedType"] ==
          "gemini-api-key");
}

TEST_CASE("opencode: a config layer in the environment, the key by {env:} substitution")
{
    auto p = launch_plan(agent("opencode"), input({}, {"run", "hi"}));
    CHECK(p.argv == std::vector<std::string>{"opencode", "run", "hi"});
    auto env = env_of(p);
    CHECK(env["AIGW_API_KEY"] == k_key);
    auto config = nlohmann::json::parse(env["OPENCODE_CONFIG_CONTENT"]);
    for (const char* provider : {"openai", "anthropic"}) {
        CAPTURE(provider);
        CHECK(config["provider"][provider]["options"]["baseURL"] ==
              "http://127.0.0.1:4141/s/claude-1767225600-00ab12/v1");
        CHECK(config["provider"][provider]["options"]["apiKey"] == "{env:AIGW_API_KEY}");
    }
    CHECK(env["OPENCODE_CONFIG_CONTENT"].find(k_key) == std::string::npos);
    CHECK_FALSE(config.contains("model"));
    check_key_only_in_env(p);

    // anthropic/* on its Anthropic provider, openai/* and everything else on its OpenAI one.
    const std::vector<std::tuple<std::string, std::string, std::string>> cases{
        {"anthropic/claude-haiku-4-5", "anthropic", "claude-haiku-4-5"},
        {"openai/gpt-4o-mini", "openai", "gpt-4o-mini"},
        {"mock/echo", "openai", "mock/echo"},
        {"fast", "openai", "fast"},
    };
    for (const auto& [model, provider, id] : cases) {
        CAPTURE(model);
        config = nlohmann::json::parse(env_of(launch_plan(agent("opencode"), input(model)))["OPENCODE_CONFIG_CONTENT"]);
        CHECK(config["model"] == provider + "/" + id);
        CHECK(config["small_model"] == provider + "/" + id);
        CHECK(config["provider"][provider]["models"][id]["tool_call"] == true);
    }
}

TEST_CASE("the agent's environment: the plan's variables replace or remove the inherited ones")
{
    LaunchPlan p;
    p.set_env = {{"A", "new"}, {"C", "3"}};
    p.unset_env = {"B"};
    const auto env = apply_env({"A=old", "B=gone", "PATH=/bin", "AB=kept"}, p);
    CHECK(env == std::vector<std::string>{"PATH=/bin", "AB=kept", "A=new", "C=3"});
}

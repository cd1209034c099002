#pragma once
// `aigw claude|codex|gemini|opencode`: how each coding agent is pointed at the daemon for one
// session without touching the user's own config files. Pure: the command (cmd_agents.cpp)
// finds the daemon and the program, then runs what launch_plan() describes.
//
// Every agent reaches the daemon under /s/{session}/, which the daemon strips and records as
// the request's session, so `aigw cost --by session` and `aigw logs --session ID` show what
// the run cost and did. The gateway key goes only into the agent's environment (never into
// argv or a file): AIGW_API_KEY, named by the agent's config where it can name one.

#include <cstdint>
#include <filesystem>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace aigw::cli {

/// An agent aigw can launch.
struct AgentSpec {
    std::string_view command;      ///< aigw's subcommand: "claude"
    std::string_view program;      ///< the executable looked up on PATH: "claude"
    std::string_view npm_package;  ///< what installs it: "@anthropic-ai/claude-code"
    std::string_view title;        ///< "Claude Code"
};

/// Claude Code, Codex CLI, Gemini CLI and opencode.
std::span<const AgentSpec> agent_specs();

/// What a launch needs to know.
struct LaunchInput {
    std::string origin;   ///< the daemon: "http://127.0.0.1:4141"
    std::string session;  ///< a valid session id (see new_session_id)
    std::string model;    ///< -m; "" leaves the agent's own choice
    std::string gateway_key;
    std::vector<std::string> agent_args;  ///< after `--`, passed on as they are
    /// Settings aigw writes for Gemini CLI (no secret in them) go here, e.g. DATA_DIR/agents.
    std::filesystem::path state_dir;
    /// Gemini CLI's own system settings file's text, merged into ours ("" when none).
    std::string gemini_system_settings;
};

/// A file to write (0600, in a 0700 dir) before the agent starts. Never holds a secret.
struct LaunchFile {
    std::filesystem::path path;
    std::string content;
};

/// How to run the agent: argv (argv[0] is the program's name), the environment changes and
/// the files to write first.
struct LaunchPlan {
    std::vector<std::string> argv;
    std::vector<std::pair<std::string, std::string>> set_env;
    std::vector<std::string> unset_env;
    std::vector<LaunchFile> files;
};

/// The plan for `agent` (one of agent_specs()).
LaunchPlan launch_plan(const AgentSpec& agent, const LaunchInput& in);

/// "<agent>-<unix seconds>-<6 hex digits>", a valid session id.
std::string new_session_id(std::string_view agent, std::int64_t unix_seconds, std::uint32_t random);

/// The environment `base` ("NAME=value" strings) with the plan's changes applied.
std::vector<std::string> apply_env(const std::vector<std::string>& base, const LaunchPlan& plan);

/// Gemini CLI's system settings (which override the user's) with the API key as the auth
/// type, merged into `existing` (the system settings file's text, "" when there is none).
std::string gemini_system_settings(const std::string& existing);

}  // namespace aigw::cli

// aigw claude|codex|gemini|opencode [-m MODEL] [-- AGENT ARGS...]: runs the installed agent
// pointed at the daemon (started when it is not running) in a new session, so that
// `aigw cost --by session` shows what the run cost. The plan of each agent is in agents.cpp.

#include "cli/agents.hpp"
#include "cli/app.hpp"
#include "cli/term.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <fstream>
#include <iostream>
#include <random>

extern char** environ;

namespace aigw::cli {
namespace {

/// Exit code of a missing program, as a shell gives it.
constexpr int k_exit_not_found = 127;
constexpr int k_exit_cannot_run = 126;

struct AgentOptions {
    std::string model;
    std::vector<std::string> args;
};

/// `program` on PATH; empty when it is not there.
std::filesystem::path find_on_path(std::string_view program, const config::Env& env)
{
    const std::string path = env("PATH").value_or("/usr/local/bin:/usr/bin:/bin");
    std::size_t start = 0;
    while (start <= path.size()) {
        const std::size_t end = std::min(path.find(':', start), path.size());
        const std::string dir = end > start ? path.substr(start, end - start) : ".";
        const std::filesystem::path candidate = std::filesystem::path(dir) / program;
        std::error_code ec;
        if (std::filesystem::is_regular_file(candidate, ec) && ::access(candidate.c_str(), X_OK) == 0) {
            return candidate;
        }
        start = end + 1;
    }
    return {};
}

/// Writes `content` to `path` 0600 (in a 0700 directory), replacing it atomically.
std::optional<std::string> write_private(const std::filesystem::path& path, const std::string& content)
{
    std::error_code ec;
    std::filesystem::create_directories(path.parent_path(), ec);
    if (ec) {
        return "cannot create " + path.parent_path().string() + ": " + ec.message();
    }
    ::chmod(path.parent_path().c_str(), 0700);
    const std::string tmp = path.string() + ".tmp." + std::to_string(::getpid());
    const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) {
        return "cannot write " + tmp + ": " + std::strerror(errno);
    }
    const bool ok = ::write(fd, content.data(), content.size()) == static_cast<ssize_t>(content.size());
    ::close(fd);
    if (!ok || std::rename(tmp.c_str(), path.c_str()) != 0) {
        ::unlink(tmp.c_str());
        return "cannot write " + path.string() + ": " + std::strerror(errno);
    }
    return std::nullopt;
}

std::string read_text(const std::filesystem::path& path)
{
    std::ifstream in(path);
    return in ? std::string(std::istreambuf_iterator<char>(in), {}) : std::string();
}

int run_agent(Context& ctx, const AgentSpec& agent, const AgentOptions& o)
{
    const std::filesystem::path program = find_on_path(agent.program, ctx.env);
    if (program.empty()) {
        std::cerr << "aigw: " << agent.title << " ('" << agent.program << "') is not installed or not on PATH\n"
                  << "  install it with: npm install -g " << agent.npm_package << '\n';
        return k_exit_not_found;
    }
    auto client = ctx.client();
    if (!client) {
        return fail(client.error());
    }
    LaunchInput in;
    in.origin = (*client)->endpoint().url;
    while (!in.origin.empty() && in.origin.back() == '/') {
        in.origin.pop_back();
    }
    in.gateway_key = client::gateway_key(ctx.env, ctx.data_dir());
    if (in.gateway_key.empty()) {
        return fail("no gateway key: set AIGW_API_KEY, or start the daemon once so it writes gateway.key in " +
                    ctx.data_dir().string());
    }
    const auto now =
        std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
    in.session = new_session_id(agent.command, now, std::random_device{}());
    in.model = o.model;
    in.agent_args = o.args;
    in.state_dir = ctx.data_dir() / "agents";
    if (agent.command == "gemini") {
        const auto own = ctx.env("GEMINI_CLI_SYSTEM_SETTINGS_PATH");
        in.gemini_system_settings =
            read_text(own && !own->empty() ? std::filesystem::path(*own)
                                           : std::filesystem::path("/etc/gemini-cli/settings.json"));
    }
    const LaunchPlan plan = launch_plan(agent, in);
    for (const auto& f : plan.files) {
        if (auto err = write_private(f.path, f.content)) {
            return fail(*err);
        }
    }
    if (is_tty(2)) {
        const bool colour = colour_enabled(2);
        std::cerr << paint("aigw: " + std::string(agent.title) + " through " + in.origin + " in session " + in.session,
                           Colour::dim, colour)
                  << '\n'
                  << paint("  its cost afterwards: aigw cost --by session; its requests: aigw logs --session " +
                               in.session,
                           Colour::dim, colour)
                  << '\n';
    }

    std::vector<std::string> base;
    for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
        base.emplace_back(*e);
    }
    std::vector<std::string> env = apply_env(base, plan);
    std::vector<char*> argv_ptrs;
    for (const auto& a : plan.argv) {
        argv_ptrs.push_back(const_cast<char*>(a.c_str()));
    }
    argv_ptrs.push_back(nullptr);
    std::vector<char*> env_ptrs;
    for (auto& e : env) {
        env_ptrs.push_back(e.data());
    }
    env_ptrs.push_back(nullptr);
    std::cout.flush();
    std::cerr.flush();
    ::execve(program.c_str(), argv_ptrs.data(), env_ptrs.data());
    std::cerr << "aigw: cannot run " << program.string() << ": " << std::strerror(errno) << '\n';
    return k_exit_cannot_run;
}

}  // namespace

void add_agent_commands(CLI::App& app, Context& ctx)
{
    for (const AgentSpec& agent : agent_specs()) {
        auto o = std::make_shared<AgentOptions>();
        auto* cmd = app.add_subcommand(std::string(agent.command), "Run " + std::string(agent.title) +
                                                                       " through the gateway in a new session (" +
                                                                       "its cost: aigw cost --by session)");
        cmd->add_option("-m,--model", o->model, "The model it runs on, e.g. openai/gpt-4o-mini (default: its own)");
        cmd->add_option("args", o->args, "Arguments for " + std::string(agent.program) + ", after --");
        cmd->footer("Example: aigw " + std::string(agent.command) + " -m openai/gpt-4o-mini -- " +
                    (agent.command == "codex"      ? "exec \"fix the failing test\""
                     : agent.command == "opencode" ? "run \"fix the failing test\""
                                                   : "-p \"fix the failing test\"") +
                    "\nThe agent's own config files are not changed; it is found on PATH (npm install -g " +
                    std::string(agent.npm_package) + ").");
        const AgentSpec* spec = &agent;
        cmd->callback([&ctx, o, spec] { ctx.action = [&ctx, o, spec] { return run_agent(ctx, *spec, *o); }; });
    }
}

}  // namespace aigw::cli

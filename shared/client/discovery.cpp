#include "shared/client/discovery.hpp"

#include <cerrno>
#include <csignal>
#include <cstring>
#include <cstdio>
#include <fcntl.h>
#include <fstream>
#include <sys/stat.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

#ifndef AIGW_VERSION
#define AIGW_VERSION "0.0.0"
#endif

namespace aigw::client {
namespace fs = std::filesystem;

namespace {

std::string trim(std::string s)
{
    const auto b = s.find_first_not_of(" \t\r\n");
    const auto e = s.find_last_not_of(" \t\r\n");
    return b == std::string::npos ? std::string() : s.substr(b, e - b + 1);
}

bool is_executable(const fs::path& p)
{
    std::error_code ec;
    return fs::is_regular_file(p, ec) && ::access(p.c_str(), X_OK) == 0;
}

ClientError not_running(const ConnectOptions& opts, std::string why)
{
    ClientError e;
    e.kind = ClientErrorKind::not_running;
    e.message = "aigwd is not running (" + why + ")";
    e.hint = "start it with 'aigw daemon start' (data dir " + opts.data_dir.string() + ")";
    return e;
}

void warn_mismatch_once(const Health& h)
{
    static bool warned = false;
    if (warned || h.version.empty() || h.version == client_version()) {
        return;
    }
    warned = true;
    std::fprintf(stderr,
                 "aigw: warning: aigwd is version %s but aigw is %.*s; restart the daemon with "
                 "'aigw daemon stop && aigw daemon start'\n",
                 h.version.c_str(), static_cast<int>(client_version().size()), client_version().data());
}

// What the log gained after `offset` (the spawned daemon's own lines), at most max_bytes.
std::string log_since(const fs::path& p, std::uintmax_t offset, std::size_t max_bytes)
{
    auto text = config::read_file(p);
    if (!text || text->size() <= offset) {
        return {};
    }
    std::string t = text->substr(static_cast<std::size_t>(offset));
    if (t.size() > max_bytes) {
        t = t.substr(t.size() - max_bytes);
        if (auto nl = t.find('\n'); nl != std::string::npos) {
            t = t.substr(nl + 1);
        }
    }
    return trim(t);
}

}  // namespace

std::string_view client_version()
{
    return AIGW_VERSION;
}

Endpoint DaemonState::endpoint() const
{
    std::string h = host.empty() ? std::string("127.0.0.1") : host;
    if (h == "0.0.0.0") {
        h = "127.0.0.1";
    } else if (h == "::") {
        h = "[::1]";
    } else if (h.find(':') != std::string::npos && h.front() != '[') {
        h = "[" + h + "]";
    }
    // With TLS the certificate must name the host: a certificate for the gateway's DNS name
    // does not match 127.0.0.1, so such a daemon is reached through AIGW_HOST instead.
    return Endpoint{(tls ? "https://" : "http://") + h + ":" + std::to_string(port), {}};
}

std::optional<DaemonState> parse_state(std::string_view text)
{
    nlohmann::json j = nlohmann::json::parse(text, nullptr, false);
    if (!j.is_object()) {
        return std::nullopt;
    }
    try {
        DaemonState s;
        s.pid = j.value("pid", std::int64_t{0});
        s.host = j.value("host", std::string("127.0.0.1"));
        s.port = j.value("port", 0);
        s.version = j.value("version", std::string());
        s.started_ms = j.value("started_ms", std::int64_t{0});
        s.tls = j.value("tls", false);
        if (s.pid <= 0 || s.port <= 0 || s.port > 65535) {
            return std::nullopt;
        }
        return s;
    } catch (const nlohmann::json::exception&) {
        return std::nullopt;
    }
}

std::optional<DaemonState> read_state(const fs::path& data_dir)
{
    auto text = config::read_file(config::state_file(data_dir));
    if (!text) {
        return std::nullopt;
    }
    return parse_state(*text);
}

bool pid_alive(std::int64_t pid)
{
    if (pid <= 0) {
        return false;
    }
    if (::kill(static_cast<pid_t>(pid), 0) != 0 && errno != EPERM) {
        return false;
    }
    // A daemon that has exited stays a zombie until its parent (init, once the CLI that
    // spawned it is gone) reaps it; some inits (containers) take a second or more to.
    // A zombie serves nothing and holds nothing: it is not alive.
    std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
    std::string line;
    if (stat && std::getline(stat, line)) {
        const auto paren = line.rfind(')');
        if (paren != std::string::npos && paren + 2 < line.size()) {
            const char state = line[paren + 2];
            return state != 'Z' && state != 'X';
        }
    }
    return true;
}

std::string gateway_key(const config::Env& env, const fs::path& data_dir)
{
    if (auto k = env("AIGW_API_KEY"); k && !k->empty()) {
        return *k;
    }
    if (auto text = config::read_file(config::gateway_key_file(data_dir))) {
        return trim(*text);
    }
    return {};
}

fs::path find_aigwd(const config::Env& env)
{
    if (auto p = env("AIGWD_PATH"); p && !p->empty()) {
        return is_executable(*p) ? fs::path(*p) : fs::path();
    }
    std::error_code ec;
    const fs::path self = fs::read_symlink("/proc/self/exe", ec);
    if (!ec) {
        const fs::path dir = self.parent_path();
        for (const fs::path& candidate : {dir / "aigwd", dir.parent_path() / "daemon" / "aigwd"}) {
            if (is_executable(candidate)) {
                return candidate;
            }
        }
    }
    if (auto path = env("PATH")) {
        std::string_view rest = *path;
        while (!rest.empty()) {
            const auto colon = rest.find(':');
            const std::string_view dir = rest.substr(0, colon);
            rest = colon == std::string_view::npos ? std::string_view() : rest.substr(colon + 1);
            if (dir.empty()) {
                continue;
            }
            const fs::path candidate = fs::path(dir) / "aigwd";
            if (is_executable(candidate)) {
                return candidate;
            }
        }
    }
    return {};
}

std::expected<Located, ClientError> locate_daemon(const ConnectOptions& opts)
{
    if (auto host = opts.env("AIGW_HOST"); host && !host->empty()) {
        auto ep = parse_endpoint(*host);
        if (!ep) {
            ClientError e;
            e.kind = ClientErrorKind::connect;
            e.message = "AIGW_HOST=" + *host + " is not an address";
            e.hint = "set it like AIGW_HOST=http://127.0.0.1:4141, or unset it to use the local daemon";
            return std::unexpected(e);
        }
        ep->ca_cert = opts.env("AIGW_CA_CERT").value_or("");
        DaemonClient c(*ep, {});
        auto h = c.health();
        if (!h) {
            ClientError e = h.error();
            e.kind = ClientErrorKind::connect;
            e.message = "no aigwd answers at " + ep->url + " (from AIGW_HOST): " + h.error().message;
            // A TLS failure keeps its own advice (the certificate's name, AIGW_CA_CERT).
            e.hint = h.error().message.starts_with("no TLS connection")
                         ? h.error().hint
                         : "start the daemon there, or unset AIGW_HOST to use (and start) the local one";
            return std::unexpected(e);
        }
        return Located{*ep, *h, std::nullopt, true, false};
    }
    auto state = read_state(opts.data_dir);
    if (!state) {
        return std::unexpected(not_running(opts, "no state file " + config::state_file(opts.data_dir).string()));
    }
    if (!pid_alive(state->pid)) {
        return std::unexpected(not_running(opts, "pid " + std::to_string(state->pid) + " from the state file is gone"));
    }
    Endpoint ep = state->endpoint();
    ep.ca_cert = opts.env("AIGW_CA_CERT").value_or("");
    DaemonClient c(ep, {});
    auto h = c.health();
    if (!h) {
        return std::unexpected(
            not_running(opts, "pid " + std::to_string(state->pid) + " does not answer at " + ep.url));
    }
    return Located{ep, *h, state, false, false};
}

std::expected<Located, ClientError> spawn_daemon(const ConnectOptions& opts)
{
    const fs::path log_path = config::daemon_log_file(opts.data_dir);
    auto fail = [&](std::string why) {
        ClientError e;
        e.kind = ClientErrorKind::spawn;
        e.message = "could not start aigwd: " + why;
        e.hint = "see " + log_path.string();
        return std::unexpected(e);
    };

    const fs::path exe = find_aigwd(opts.env);
    if (exe.empty()) {
        ClientError e;
        e.kind = ClientErrorKind::spawn;
        e.message = "could not start aigwd: no aigwd executable next to aigw or on PATH";
        e.hint = "install aigwd, put it on PATH or set AIGWD_PATH to it";
        return std::unexpected(e);
    }
    try {
        config::ensure_private_dir(opts.data_dir);
    } catch (const std::exception& ex) {
        return fail("cannot create the data dir " + opts.data_dir.string() + ": " + ex.what());
    }

    const std::string port = std::to_string(opts.port);
    const std::string data_dir = opts.data_dir.string();
    const std::string exe_s = exe.string();
    const fs::path state_path = config::state_file(opts.data_dir);
    std::error_code ec;
    fs::remove(state_path, ec);
    const std::uintmax_t log_offset = fs::exists(log_path, ec)
                                          ? fs::file_size(log_path, ec)
                                          : 0;  // a stale file from a dead daemon must not be mistaken for ours

    const pid_t pid = ::fork();
    if (pid < 0) {
        return fail(std::string("fork failed: ") + std::strerror(errno));
    }
    if (pid == 0) {
        // Child: own session (no terminal signals), stdin /dev/null, output to the log.
        ::setsid();
        const int in = ::open("/dev/null", O_RDONLY);
        const int out = ::open(log_path.c_str(), O_WRONLY | O_APPEND | O_CREAT, 0600);
        if (in >= 0) {
            ::dup2(in, 0);
        }
        if (out >= 0) {
            ::dup2(out, 1);
            ::dup2(out, 2);
        }
        ::close_range(3, ~0U, 0);
        ::signal(SIGINT, SIG_DFL);
        ::signal(SIGPIPE, SIG_DFL);
        ::signal(SIGTERM, SIG_DFL);
        sigset_t none;
        sigemptyset(&none);
        ::sigprocmask(SIG_SETMASK, &none, nullptr);
        const char* argv[] = {exe_s.c_str(), "--port", port.c_str(), "--data-dir", data_dir.c_str(), nullptr};
        ::execv(exe_s.c_str(), const_cast<char* const*>(argv));
        std::fprintf(stderr, "aigw: cannot exec %s: %s\n", exe_s.c_str(), std::strerror(errno));
        ::_exit(127);
    }

    const auto deadline = std::chrono::steady_clock::now() + opts.spawn_timeout;
    while (std::chrono::steady_clock::now() < deadline) {
        int wstatus = 0;
        if (::waitpid(pid, &wstatus, WNOHANG) == pid) {
            // It exited: maybe another aigw started a daemon at the same moment and won the port.
            if (auto other = locate_daemon(opts)) {
                return other;
            }
            std::string how = WIFEXITED(wstatus) ? "aigwd exited with status " + std::to_string(WEXITSTATUS(wstatus))
                                                 : "aigwd was killed by signal " + std::to_string(WTERMSIG(wstatus));
            if (auto tail = log_since(log_path, log_offset, 800); !tail.empty()) {
                how += ":\n  " + tail;
            }
            return fail(how);
        }
        if (auto st = read_state(opts.data_dir); st && st->pid == pid) {
            Endpoint ep = st->endpoint();
            ep.ca_cert = opts.env("AIGW_CA_CERT").value_or("");
            DaemonClient c(ep, {});
            if (auto h = c.health()) {
                return Located{ep, *h, st, false, true};
            }
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return fail("it did not answer within " + std::to_string(opts.spawn_timeout.count()) + " ms (pid " +
                std::to_string(pid) + ")");
}

std::expected<Located, ClientError> ensure_daemon(const ConnectOptions& opts)
{
    auto found = locate_daemon(opts);
    if (found || found.error().kind != ClientErrorKind::not_running) {
        return found;
    }
    if (!opts.allow_spawn) {
        ClientError e = found.error();
        e.hint = "start it with 'aigw daemon start', or drop --no-spawn";
        return std::unexpected(e);
    }
    if (opts.on_spawn) {
        opts.on_spawn();
    }
    return spawn_daemon(opts);
}

std::expected<DaemonClient, ClientError> connect(const ConnectOptions& opts)
{
    auto found = ensure_daemon(opts);
    if (!found) {
        return std::unexpected(found.error());
    }
    if (opts.warn_version_mismatch) {
        warn_mismatch_once(found->health);
    }
    return DaemonClient(found->endpoint, gateway_key(opts.env, opts.data_dir));
}

}  // namespace aigw::client

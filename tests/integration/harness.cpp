#include "tests/integration/harness.hpp"

#include <doctest/doctest.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pty.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <termios.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <mutex>
#include <sstream>
#include <thread>

extern char** environ;

namespace aigw::test {

namespace {

std::vector<std::string> merged_env(const std::map<std::string, std::string>& extra)
{
    std::map<std::string, std::string> env;
    for (char** e = environ; *e != nullptr; ++e) {
        std::string_view kv = *e;
        auto eq = kv.find('=');
        if (eq == std::string_view::npos) {
            continue;
        }
        std::string name(kv.substr(0, eq));
        // Hermetic: no provider keys, base URLs or aigw settings leak in from the caller.
        if (name.starts_with("AIGW_") || name.ends_with("_API_KEY") || name == "XDG_CONFIG_HOME" ||
            name == "XDG_DATA_HOME") {
            continue;
        }
        env[name] = std::string(kv.substr(eq + 1));
    }
    for (const auto& [k, v] : extra) {
        env[k] = v;
    }
    std::vector<std::string> out;
    for (const auto& [k, v] : env) {
        out.push_back(k + "=" + v);
    }
    return out;
}

std::vector<char*> c_strings(std::vector<std::string>& v)
{
    std::vector<char*> out;
    for (auto& s : v) {
        out.push_back(s.data());
    }
    out.push_back(nullptr);
    return out;
}

/// Notes failed assertions of the running test, so its temp dirs are kept for reading.
bool g_current_test_failed = false;
/// Dirs made by make_temp_dir() during the running test, removed when it ends (unless it failed).
std::vector<std::filesystem::path> g_current_test_dirs;
void remove_unless_failed(const std::filesystem::path& dir);

struct FailureListener : doctest::IReporter {
    explicit FailureListener(const doctest::ContextOptions&) {}
    void report_query(const doctest::QueryData&) override {}
    void test_run_start() override {}
    void test_run_end(const doctest::TestRunStats&) override {}
    void test_case_start(const doctest::TestCaseData&) override { g_current_test_failed = false; }
    void test_case_reenter(const doctest::TestCaseData&) override {}
    void test_case_end(const doctest::CurrentTestCaseStats&) override
    {
        for (const auto& dir : g_current_test_dirs) {
            if (std::filesystem::exists(dir)) {
                remove_unless_failed(dir);
            }
        }
        g_current_test_dirs.clear();
    }
    void test_case_exception(const doctest::TestCaseException&) override { g_current_test_failed = true; }
    void subcase_start(const doctest::SubcaseSignature&) override {}
    void subcase_end() override {}
    void log_assert(const doctest::AssertData& ad) override
    {
        if (ad.m_failed) {
            g_current_test_failed = true;
        }
    }
    void log_message(const doctest::MessageData&) override {}
    void test_case_skipped(const doctest::TestCaseData&) override {}
};
REGISTER_LISTENER("aigw-temp-dirs", 1, FailureListener);

void remove_unless_failed(const std::filesystem::path& dir)
{
    if (g_current_test_failed || std::getenv("AIGW_KEEP_TEST_DIRS") != nullptr) {
        MESSAGE("kept test dir " << dir.string());
        return;
    }
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
}

}  // namespace

Process::Process(const std::vector<std::string>& argv, const std::map<std::string, std::string>& extra_env,
                 const std::filesystem::path& stderr_file, bool pipe_stdout)
{
    int out_pipe[2] = {-1, -1};
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    if (pipe_stdout) {
        REQUIRE(::pipe2(out_pipe, O_CLOEXEC) == 0);
        posix_spawn_file_actions_adddup2(&fa, out_pipe[1], 1);
    } else {
        posix_spawn_file_actions_addopen(&fa, 1, stderr_file.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
    }
    posix_spawn_file_actions_addopen(&fa, 2, stderr_file.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    std::vector<std::string> args = argv;
    auto env = merged_env(extra_env);
    auto cargs = c_strings(args);
    auto cenv = c_strings(env);
    int rc = posix_spawn(&m_pid, args[0].c_str(), &fa, nullptr, cargs.data(), cenv.data());
    posix_spawn_file_actions_destroy(&fa);
    REQUIRE_MESSAGE(rc == 0, "cannot start " << args[0] << ": " << std::strerror(rc));
    if (pipe_stdout) {
        ::close(out_pipe[1]);
        m_stdout_fd = out_pipe[0];
    }
}

Process::~Process()
{
    if (!m_reaped) {
        kill_now();
    }
    if (m_stdout_fd >= 0) {
        ::close(m_stdout_fd);
    }
}

std::string Process::read_line(int timeout_ms)
{
    auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    while (true) {
        if (auto nl = m_buf.find('\n'); nl != std::string::npos) {
            std::string line = m_buf.substr(0, nl);
            m_buf.erase(0, nl + 1);
            return line;
        }
        auto left =
            std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now()).count();
        if (left <= 0 || m_stdout_fd < 0) {
            return {};
        }
        pollfd p{m_stdout_fd, POLLIN, 0};
        if (::poll(&p, 1, static_cast<int>(left)) <= 0) {
            return {};
        }
        char buf[4096];
        auto n = ::read(m_stdout_fd, buf, sizeof buf);
        if (n <= 0) {
            return {};
        }
        m_buf.append(buf, static_cast<std::size_t>(n));
    }
}

bool Process::alive()
{
    if (m_reaped) {
        return false;
    }
    int st = 0;
    if (::waitpid(m_pid, &st, WNOHANG) == m_pid) {
        m_reaped = true;
        m_status = st;
        return false;
    }
    return true;
}

int Process::terminate(int timeout_ms)
{
    if (!m_reaped) {
        ::kill(m_pid, SIGTERM);
        auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
        while (alive() && std::chrono::steady_clock::now() < deadline) {
            std::this_thread::sleep_for(std::chrono::milliseconds(10));
        }
        if (!m_reaped) {
            kill_now();
            return -1;
        }
    }
    return WIFEXITED(m_status) ? WEXITSTATUS(m_status) : -1;
}

void Process::kill_now()
{
    if (m_reaped) {
        return;
    }
    ::kill(m_pid, SIGKILL);
    ::waitpid(m_pid, &m_status, 0);
    m_reaped = true;
}

std::filesystem::path make_temp_dir(const std::string& tag)
{
    std::string tmpl = (std::filesystem::temp_directory_path() / ("aigw-it-" + tag + "-XXXXXX")).string();
    REQUIRE(::mkdtemp(tmpl.data()) != nullptr);
    g_current_test_dirs.emplace_back(tmpl);
    return tmpl;
}

std::vector<std::string> lines_of(const std::string& text)
{
    std::vector<std::string> out;
    std::istringstream in(text);
    for (std::string line; std::getline(in, line);) {
        if (!line.empty() && line.back() == '\r') {
            line.pop_back();
        }
        out.push_back(line);
    }
    return out;
}

std::string slurp(const std::filesystem::path& p)
{
    std::ifstream in(p, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

FakeUpstream::FakeUpstream()
{
    m_dir = make_temp_dir("fake");
    m_proc = std::make_unique<Process>(std::vector<std::string>{FAKE_UPSTREAM_PATH, "--port", "0"},
                                       std::map<std::string, std::string>{}, m_dir / "fake.stderr");
    std::string line = m_proc->read_line(10000);
    REQUIRE_MESSAGE(line.starts_with("listening "),
                    "fake-upstream did not start: '" << line << "' " << slurp(m_dir / "fake.stderr"));
    m_port = std::stoi(line.substr(10));
}

nlohmann::json FakeUpstream::requests()
{
    httplib::Client c("127.0.0.1", m_port);
    auto r = c.Get("/_control/requests");
    REQUIRE(r);
    return nlohmann::json::parse(r->body);
}

void FakeUpstream::clear_requests()
{
    httplib::Client c("127.0.0.1", m_port);
    c.Delete("/_control/requests");
}

void FakeUpstream::add_fault(const nlohmann::json& fault)
{
    httplib::Client c("127.0.0.1", m_port);
    auto r = c.Post("/_control/faults", fault.dump(), "application/json");
    REQUIRE(r);
    REQUIRE(r->status < 300);
}

Daemon::Daemon(const FakeUpstream* upstream, DaemonOptions opts)
{
    if (opts.data_dir.empty()) {
        m_dir = make_temp_dir("daemon");
    } else {
        m_dir = opts.data_dir;
        std::filesystem::remove(m_dir / "aigwd.json");
    }
    m_env = {{"AIGW_API_KEY", "test-gateway-key"},
             {"XDG_CONFIG_HOME", (m_dir / "xdg-config").string()},
             {"XDG_DATA_HOME", (m_dir / "xdg-data").string()},
             {"AIGW_CONFIG", (m_dir / "config.toml").string()}};
    if (upstream != nullptr) {
        const std::string base = upstream->base();
        m_env["OPENAI_API_KEY"] = "sk-test-openai-SECRET-1234";
        m_env["ANTHROPIC_API_KEY"] = "sk-ant-test-SECRET-5678";
        m_env["GEMINI_API_KEY"] = "gm-test-SECRET-9012";
        m_env["GROQ_API_KEY"] = "gsk-test-SECRET-3456";
        m_env["AIGW_OPENAI_BASE_URL"] = base + "/v1";
        m_env["AIGW_GROQ_BASE_URL"] = base + "/v1";
        m_env["AIGW_ANTHROPIC_BASE_URL"] = base + "/v1";
        m_env["AIGW_GEMINI_BASE_URL"] = base + "/v1beta";
    }
    for (const auto& [k, v] : opts.env) {
        m_env[k] = v;
    }
    if (!opts.config_toml.empty()) {
        std::ofstream(m_dir / "config.toml") << opts.config_toml;
    }
    m_proc = std::make_unique<Process>(
        std::vector<std::string>{AIGWD_PATH, "--port", "0", "--data-dir", m_dir.string()}, m_env, log_file(), false);
    const auto state = m_dir / "aigwd.json";
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (std::chrono::steady_clock::now() < deadline) {
        if (std::filesystem::exists(state)) {
            auto doc = nlohmann::json::parse(slurp(state), nullptr, false);
            if (!doc.is_discarded() && doc.contains("port")) {
                m_port = doc["port"].get<int>();
                break;
            }
        }
        REQUIRE_MESSAGE(m_proc->alive(), "aigwd exited at start: " << slurp(log_file()));
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    REQUIRE_MESSAGE(m_port > 0, "aigwd wrote no state file: " << slurp(log_file()));
}

Daemon::~Daemon()
{
    stop();
    remove_unless_failed(m_dir);
}

FakeUpstream::~FakeUpstream()
{
    m_proc->terminate(2000);
    remove_unless_failed(m_dir);
}

int Daemon::stop()
{
    if (m_stopped) {
        return 0;
    }
    m_stopped = true;
    return m_proc->terminate();
}

httplib::Client Daemon::client(const std::string& key) const
{
    httplib::Client c("127.0.0.1", m_port);
    c.set_read_timeout(30, 0);
    if (!key.empty()) {
        c.set_default_headers({{"Authorization", "Bearer " + key}});
    }
    return c;
}

httplib::Result Daemon::post(const std::string& path, const nlohmann::json& body, const std::string& key) const
{
    auto c = client(key);
    return c.Post(path, body.dump(), "application/json");
}

httplib::Result Daemon::get(const std::string& path, const std::string& key) const
{
    auto c = client(key);
    return c.Get(path);
}

double metric(const std::string& metrics_text, const std::string& series)
{
    const std::string needle = "\n" + series + " ";
    const auto at = metrics_text.find(needle);
    return at == std::string::npos ? -1 : std::stod(metrics_text.substr(at + needle.size()));
}

double metric(const Daemon& d, const std::string& series)
{
    auto r = d.get("/metrics");
    REQUIRE(r);
    return metric(r->body, series);
}

std::vector<std::string> sse_data_lines(const std::string& body)
{
    std::vector<std::string> out;
    std::istringstream in(body);
    std::string line;
    while (std::getline(in, line)) {
        if (!line.empty() && line.back() == '\r') {
            line.pop_back();
        }
        if (line.starts_with("data: ")) {
            out.push_back(line.substr(6));
        }
    }
    return out;
}

CommandResult run_command(const std::vector<std::string>& argv, const std::map<std::string, std::string>& env,
                          const std::string& stdin_text, int timeout_ms)
{
    int in_pipe[2];
    int out_pipe[2];
    int err_pipe[2];
    REQUIRE(::pipe2(in_pipe, O_CLOEXEC) == 0);
    REQUIRE(::pipe2(out_pipe, O_CLOEXEC) == 0);
    REQUIRE(::pipe2(err_pipe, O_CLOEXEC) == 0);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, in_pipe[0], 0);
    posix_spawn_file_actions_adddup2(&fa, out_pipe[1], 1);
    posix_spawn_file_actions_adddup2(&fa, err_pipe[1], 2);
    std::vector<std::string> args = argv;
    auto envs = merged_env(env);
    auto cargs = c_strings(args);
    auto cenv = c_strings(envs);
    pid_t pid = -1;
    int rc = posix_spawn(&pid, args[0].c_str(), &fa, nullptr, cargs.data(), cenv.data());
    posix_spawn_file_actions_destroy(&fa);
    ::close(in_pipe[0]);
    ::close(out_pipe[1]);
    ::close(err_pipe[1]);
    REQUIRE(rc == 0);
    if (!stdin_text.empty()) {
        auto n = ::write(in_pipe[1], stdin_text.data(), stdin_text.size());
        (void)n;
    }
    ::close(in_pipe[1]);
    CommandResult r;
    auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    pollfd fds[2] = {{out_pipe[0], POLLIN, 0}, {err_pipe[0], POLLIN, 0}};
    int open_fds = 2;
    while (open_fds > 0 && std::chrono::steady_clock::now() < deadline) {
        if (::poll(fds, 2, 100) <= 0) {
            continue;
        }
        for (auto& f : fds) {
            if (f.fd >= 0 && (f.revents & (POLLIN | POLLHUP))) {
                char buf[4096];
                auto n = ::read(f.fd, buf, sizeof buf);
                if (n <= 0) {
                    ::close(f.fd);
                    f.fd = -1;
                    --open_fds;
                } else {
                    (f.fd == out_pipe[0] ? r.out : r.err).append(buf, static_cast<std::size_t>(n));
                }
            }
        }
    }
    for (auto& f : fds) {
        if (f.fd >= 0) {
            ::close(f.fd);
        }
    }
    int st = 0;
    if (open_fds > 0) {
        ::kill(pid, SIGKILL);
    }
    ::waitpid(pid, &st, 0);
    r.exit_code = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
    return r;
}

std::map<std::string, std::string> cli_env(const Daemon& d)
{
    auto env = d.env();
    env["AIGW_HOST"] = "http://127.0.0.1:" + std::to_string(d.port());
    env["NO_COLOR"] = "1";
    return env;
}

int free_port()
{
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    REQUIRE(fd >= 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
    socklen_t len = sizeof addr;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
    ::close(fd);
    return ntohs(addr.sin_port);
}

int connect_to(int port)
{
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    REQUIRE(fd >= 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<std::uint16_t>(port));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE_MESSAGE(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0,
                    "cannot connect to 127.0.0.1:" << port << ": " << std::strerror(errno));
    timeval tv{10, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    return fd;
}

void send_all(int fd, std::string_view data)
{
    while (!data.empty()) {
        const auto n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
        if (n <= 0) {
            return;
        }
        data.remove_prefix(static_cast<std::size_t>(n));
    }
}

std::string read_until(int fd, std::string_view until, int timeout_ms)
{
    std::string out;
    char buf[16384];
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    while (std::chrono::steady_clock::now() < deadline) {
        pollfd p{fd, POLLIN, 0};
        if (::poll(&p, 1, 100) <= 0) {
            continue;
        }
        const auto n = ::recv(fd, buf, sizeof buf, 0);
        if (n <= 0) {
            break;
        }
        out.append(buf, static_cast<std::size_t>(n));
        if (!until.empty() && out.find(until) != std::string::npos) {
            break;
        }
    }
    return out;
}

std::string raw_request(int port, const std::string& request, std::string_view until)
{
    const int fd = connect_to(port);
    send_all(fd, request);
    auto out = read_until(fd, until);
    // Read the body too when the head says how long it is.
    const auto head_end = out.find("\r\n\r\n");
    const auto cl = out.find("Content-Length: ");
    if (head_end != std::string::npos && cl != std::string::npos && cl < head_end) {
        const auto len = std::stoul(out.substr(cl + 16));
        while (out.size() < head_end + 4 + len) {
            auto more = read_until(fd, {}, 2000);
            if (more.empty()) {
                break;
            }
            out += more;
        }
    }
    ::close(fd);
    return out;
}

int status_of(const std::string& response)
{
    return response.starts_with("HTTP/1.") && response.size() >= 12 ? std::atoi(response.c_str() + 9) : 0;
}

std::string body_of(const std::string& response)
{
    const auto p = response.find("\r\n\r\n");
    return p == std::string::npos ? std::string() : response.substr(p + 4);
}

PtySession::PtySession(const std::vector<std::string>& argv, const std::map<std::string, std::string>& env, int cols)
{
    winsize ws{};
    ws.ws_row = 40;
    ws.ws_col = static_cast<unsigned short>(cols);
    m_pid = ::forkpty(&m_fd, nullptr, nullptr, &ws);
    REQUIRE(m_pid >= 0);
    if (m_pid == 0) {
        std::vector<std::string> env_strings = {"TERM=xterm", "PATH=/usr/bin:/bin"};
        for (const auto& [k, v] : env) {
            env_strings.push_back(k + "=" + v);
        }
        std::vector<char*> envp;
        for (auto& s : env_strings) {
            envp.push_back(s.data());
        }
        envp.push_back(nullptr);
        std::vector<std::string> args = argv;
        std::vector<char*> argp;
        for (auto& a : args) {
            argp.push_back(a.data());
        }
        argp.push_back(nullptr);
        ::execve(argp[0], argp.data(), envp.data());
        ::_exit(127);
    }
}

PtySession::~PtySession()
{
    if (m_pid > 0 && !m_reaped) {
        ::kill(m_pid, SIGKILL);
        ::waitpid(m_pid, nullptr, 0);
    }
    ::close(m_fd);
}

void PtySession::type(std::string_view keys)
{
    for (int i = 0; i < 500; ++i) {
        termios t{};
        // On Linux the master's attributes are the slave's.
        if (::tcgetattr(m_fd, &t) == 0 && (t.c_lflag & ICANON) == 0) {
            break;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    REQUIRE(::write(m_fd, keys.data(), keys.size()) == static_cast<ssize_t>(keys.size()));
}

void PtySession::send(std::string_view keys)
{
    REQUIRE(::write(m_fd, keys.data(), keys.size()) == static_cast<ssize_t>(keys.size()));
}

bool PtySession::read_some(std::chrono::steady_clock::time_point deadline)
{
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now()).count();
    if (left <= 0) {
        return false;
    }
    pollfd p{m_fd, POLLIN, 0};
    const int ready = ::poll(&p, 1, static_cast<int>(left));
    if (ready < 0 && errno == EINTR) {
        return true;
    }
    if (ready <= 0) {
        return false;
    }
    char buf[4096];
    const ssize_t n = ::read(m_fd, buf, sizeof buf);
    if (n <= 0) {
        return false;  // EIO: the program exited and the terminal closed
    }
    m_seen.append(buf, static_cast<std::size_t>(n));
    return true;
}

bool PtySession::wait_for(std::string_view needle, int timeout_ms)
{
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    while (m_seen.find(needle, m_mark) == std::string::npos) {
        if (!read_some(deadline)) {
            return false;
        }
    }
    m_mark = m_seen.find(needle, m_mark) + needle.size();
    return true;
}

int PtySession::finish(int timeout_ms)
{
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    while (read_some(deadline)) {
    }
    int status = 0;
    for (int i = 0; i < 500; ++i) {
        if (::waitpid(m_pid, &status, WNOHANG) == m_pid) {
            m_reaped = true;
            return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return -1;
}

}  // namespace aigw::test

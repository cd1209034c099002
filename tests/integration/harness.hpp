#pragma once
// Hermetic integration harness: each test starts a fake upstream and aigwd on free ports
// with its own temp data dir (kept when the test fails), like watchman's WatchmanInstance.

#include <httplib.h>
#include <nlohmann/json.hpp>

#include <chrono>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace aigw::test {

/// A child process with its stdout readable and its stderr sent to a file.
class Process {
public:
    Process(const std::vector<std::string>& argv, const std::map<std::string, std::string>& extra_env,
            const std::filesystem::path& stderr_file, bool pipe_stdout = true);
    ~Process();
    Process(const Process&) = delete;
    Process& operator=(const Process&) = delete;

    /// Reads one line from the child's stdout (blocking, with a deadline). "" on EOF/timeout.
    std::string read_line(int timeout_ms = 5000);
    /// Sends SIGTERM and waits; returns the exit status (or -1).
    int terminate(int timeout_ms = 10000);
    /// Sends SIGKILL and reaps.
    void kill_now();
    bool alive();
    int pid() const { return m_pid; }

private:
    int m_pid = -1;
    int m_stdout_fd = -1;
    std::string m_buf;
    bool m_reaped = false;
    int m_status = 0;
};

class FakeUpstream {
public:
    FakeUpstream();
    ~FakeUpstream();
    FakeUpstream(const FakeUpstream&) = delete;
    FakeUpstream& operator=(const FakeUpstream&) = delete;
    int port() const { return m_port; }
    std::string base() const { return "http://127.0.0.1:" + std::to_string(m_port); }
    /// Requests the fake received, oldest first.
    nlohmann::json requests();
    void clear_requests();
    /// POST /_control/faults
    void add_fault(const nlohmann::json& fault);
    Process& process() { return *m_proc; }

private:
    std::filesystem::path m_dir;
    std::unique_ptr<Process> m_proc;
    int m_port = 0;
};

struct DaemonOptions {
    std::map<std::string, std::string> env;  ///< extra environment
    std::string config_toml;                 ///< written to <dir>/config.toml when set
    /// Set: start on this data dir (a stopped or killed daemon's, to restart it) instead of
    /// a new one; its stale state file is removed first.
    std::filesystem::path data_dir;
};

/// aigwd on a free port with its own data dir, pointed at `upstream` for every provider.
class Daemon {
public:
    explicit Daemon(const FakeUpstream* upstream, DaemonOptions opts = {});
    ~Daemon();
    Daemon(const Daemon&) = delete;
    Daemon& operator=(const Daemon&) = delete;
    int port() const { return m_port; }
    const std::filesystem::path& data_dir() const { return m_dir; }
    std::filesystem::path log_file() const { return m_dir / "aigwd.stderr"; }
    httplib::Client client(const std::string& key = "test-gateway-key") const;
    /// POST JSON with the gateway key.
    httplib::Result post(const std::string& path, const nlohmann::json& body,
                         const std::string& key = "test-gateway-key") const;
    httplib::Result get(const std::string& path, const std::string& key = "test-gateway-key") const;
    int stop();  ///< SIGTERM and wait; returns exit status
    Process& process() { return *m_proc; }
    /// Environment the daemon got (for running the CLI against it).
    const std::map<std::string, std::string>& env() const { return m_env; }

private:
    std::filesystem::path m_dir;
    std::map<std::string, std::string> m_env;
    std::unique_ptr<Process> m_proc;
    int m_port = 0;
    bool m_stopped = false;
};

/// A sample's value in a /metrics text: the line `series value`, where `series` is a
/// family's name with its labels as printed (`name{label="v"}`); -1 when there is none.
double metric(const std::string& metrics_text, const std::string& series);
/// The same, from a scrape of `d`'s /metrics now (which must answer).
double metric(const Daemon& d, const std::string& series);

/// Parses an SSE body into the `data:` payloads (also returns event names when asked).
std::vector<std::string> sse_data_lines(const std::string& body);

/// Runs a command to completion with extra env and optional stdin; captures stdout/stderr.
struct CommandResult {
    int exit_code = -1;
    std::string out;
    std::string err;
};
CommandResult run_command(const std::vector<std::string>& argv, const std::map<std::string, std::string>& env,
                          const std::string& stdin_text = {}, int timeout_ms = 20000);

/// A fresh temp dir, removed when the running test ends unless it failed.
std::filesystem::path make_temp_dir(const std::string& tag);

/// Whole file as a string ("" if unreadable).
std::string slurp(const std::filesystem::path& p);
/// `text` split at '\n', each line without a trailing '\r' (a terminal's output).
std::vector<std::string> lines_of(const std::string& text);

/// Environment for the CLI to reach `d` through AIGW_HOST, never spawning another daemon.
std::map<std::string, std::string> cli_env(const Daemon& d);

/// A port nobody listens on right now (bound to 0, read back, closed).
int free_port();

// Raw HTTP over a socket, for what httplib will not send (malformed, oversized or
// half-written requests).

/// A TCP connection to 127.0.0.1:`port` with a 10 s receive timeout; fails the test when
/// nothing listens there. The caller closes it.
int connect_to(int port);
/// Sends all of `data` (stops quietly when the peer has closed).
void send_all(int fd, std::string_view data);
/// Reads until the peer closes, `until` appears or `timeout_ms` passes; returns what arrived.
std::string read_until(int fd, std::string_view until = {}, int timeout_ms = 10'000);
/// One raw request on a new connection: the answer read up to `until`, and its body too
/// when the head gives a Content-Length.
std::string raw_request(int port, const std::string& request, std::string_view until = "\r\n\r\n");
/// The status code of a raw answer ("HTTP/1.1 404 ..." -> 404), 0 when there is none.
int status_of(const std::string& response);
/// What follows the head of a raw answer ("" when the head did not end).
std::string body_of(const std::string& response);

/// aigw in a pseudo-terminal, as a person at a keyboard runs it.
class PtySession {
public:
    PtySession(const std::vector<std::string>& argv, const std::map<std::string, std::string>& env, int cols = 120);
    ~PtySession();
    PtySession(const PtySession&) = delete;
    PtySession& operator=(const PtySession&) = delete;

    /// Types once the line editor has the terminal in raw mode: keys typed before would be
    /// taken by the kernel's line discipline (arrows echoed, Ctrl-D as end of file).
    void type(std::string_view keys);
    /// Writes `keys` at once, for a program that never leaves cooked mode (Ctrl-C to bench).
    void send(std::string_view keys);
    /// Reads everything up to the end and returns the exit code (-1 on timeout).
    int finish(int timeout_ms = 30000);
    /// Reads the screen output until `needle` appears after what was already seen; false on timeout.
    bool wait_for(std::string_view needle, int timeout_ms = 10000);
    const std::string& screen() const { return m_seen; }

private:
    int m_fd = -1;
    int m_pid = -1;
    bool m_reaped = false;
    std::string m_seen;
    std::size_t m_mark = 0;

    /// Appends what the terminal shows before `deadline`; false on timeout or when it closed.
    bool read_some(std::chrono::steady_clock::time_point deadline);
};

}  // namespace aigw::test

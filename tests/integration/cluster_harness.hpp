#pragma once
// Helpers for the tests of several aigwd on one real redis-server (loopback, a temp dir,
// stopped by PID): the server, and a burst of concurrent requests.

#include "tests/integration/harness.hpp"

#include <doctest/doctest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <thread>

namespace aigw::test {

/// Whether something accepts connections on 127.0.0.1:`port`.
inline bool accepts_on(int port)
{
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<std::uint16_t>(port));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    const bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
    ::close(fd);
    return ok;
}

/// redis-server on a loopback port (a free one unless given) with its files in a temp dir,
/// no persistence; stopped by PID when it goes out of scope.
class ClusterRedis {
public:
    explicit ClusterRedis(int port = free_port(), std::string password = {})
        : m_port(port), m_password(std::move(password)), m_dir(make_temp_dir("redis"))
    {
        start();
    }
    /// Starts it (again, empty) on the same port.
    void start()
    {
        REQUIRE_MESSAGE(std::filesystem::exists("/usr/bin/redis-server"),
                        "redis-server is missing: bash packaging/install-deps.sh --test");
        std::vector<std::string> argv{
            "/usr/bin/redis-server", "--port", std::to_string(m_port), "--bind", "127.0.0.1", "--save",      "",
            "--appendonly",          "no",     "--daemonize",          "no",     "--dir",     m_dir.string()};
        if (!m_password.empty()) {
            argv.insert(argv.end(), {"--requirepass", m_password});
        }
        m_proc = std::make_unique<Process>(argv, std::map<std::string, std::string>{}, m_dir / "redis.stderr", false);
        for (int i = 0; i < 300 && !accepts_on(m_port); ++i) {
            std::this_thread::sleep_for(std::chrono::milliseconds(10));
        }
        REQUIRE_MESSAGE(accepts_on(m_port), "redis-server did not start on port " << m_port);
    }
    /// SIGKILL by PID: Redis disappears as in a crash.
    void kill() { m_proc->kill_now(); }
    /// SIGTERM by PID, waiting for it to exit.
    void stop() { m_proc->terminate(); }
    int port() const { return m_port; }
    std::string url() const
    {
        return "redis://" + (m_password.empty() ? std::string() : ":" + m_password + "@") +
               "127.0.0.1:" + std::to_string(m_port);
    }
    /// redis-cli ARGS... against this server; its stdout.
    std::string cli(std::vector<std::string> args) const
    {
        std::vector<std::string> argv = {"/usr/bin/redis-cli", "-p", std::to_string(m_port)};
        if (!m_password.empty()) {
            argv.insert(argv.end(), {"-a", m_password, "--no-auth-warning"});
        }
        argv.insert(argv.end(), args.begin(), args.end());
        return run_command(argv, {}).out;
    }

private:
    int m_port;
    std::string m_password;
    std::filesystem::path m_dir;
    std::unique_ptr<Process> m_proc;
};

/// What one request of fire_concurrently() got.
struct Answer {
    bool answered = false;  ///< false: no HTTP answer at all
    int status = 0;
    std::string body;
    std::string cost_usd;     ///< x-aigw-cost-usd
    std::string retry_after;  ///< Retry-After
};

/// `n` requests at once, each on its own thread and connection, request i by `send(i)`;
/// their answers in order.
inline std::vector<Answer> fire_concurrently(int n, const std::function<httplib::Result(int)>& send)
{
    std::vector<Answer> out(static_cast<std::size_t>(n));
    std::atomic<bool> go{false};
    std::vector<std::thread> threads;
    for (int i = 0; i < n; ++i) {
        threads.emplace_back([&, i] {
            while (!go) {
                std::this_thread::yield();
            }
            auto r = send(i);
            if (r) {
                out[static_cast<std::size_t>(i)] = Answer{.answered = true,
                                                          .status = r->status,
                                                          .body = r->body,
                                                          .cost_usd = r->get_header_value("x-aigw-cost-usd"),
                                                          .retry_after = r->get_header_value("Retry-After")};
            }
        });
    }
    go = true;
    for (auto& t : threads) {
        t.join();
    }
    return out;
}

/// Polls every daemon until a request with `secret` to `model` gets `status` on it (a
/// key created on one instance reaching the others); false after `deadline_ms`.
inline bool until_known(const std::vector<const Daemon*>& daemons, const std::string& secret, const std::string& model,
                        int status, int deadline_ms = 5000)
{
    const nlohmann::json body = {{"model", model},
                                 {"messages", nlohmann::json::array({{{"role", "user"}, {"content", "hi"}}})}};
    for (int waited = 0; waited <= deadline_ms; waited += 50) {
        bool all = true;
        for (const Daemon* d : daemons) {
            auto r = d->post("/v1/chat/completions", body, secret);
            all = all && r && r->status == status;
        }
        if (all) {
            return true;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return false;
}

/// A 2,000-word prompt with max_tokens 10 to openai/gpt-4o-mini ($0.15/$0.60 per M): the
/// budget check holds its estimate (10,000 characters / 4 = 2,500 tokens in, 10 out: about
/// $0.000381) and it really costs about $0.000306 (the fake counts 2,003 prompt words).
/// Under a $0.0005 budget the first fits and the second, on top of the first's spend, does not.
inline nlohmann::json long_body()
{
    std::string words;
    for (int i = 0; i < 2000; ++i) {
        words += "word ";
    }
    return {{"model", "openai/gpt-4o-mini"},
            {"max_tokens", 10},
            {"messages", nlohmann::json::array({{{"role", "user"}, {"content", words}}})}};
}

/// A virtual key as `aigw keys create --json` printed it.
struct NewKey {
    std::string id;
    std::string secret;
};

/// `aigw keys create --json ARGS...` through `d`'s data dir.
inline NewKey create_key(const Daemon& d, const std::vector<std::string>& args)
{
    std::vector<std::string> argv = {AIGW_PATH, "--data-dir", d.data_dir().string(), "keys", "create", "--json"};
    argv.insert(argv.end(), args.begin(), args.end());
    auto r = run_command(argv, cli_env(d));
    REQUIRE_MESSAGE(r.exit_code == 0, r.err);
    const nlohmann::json j = nlohmann::json::parse(r.out, nullptr, false);
    REQUIRE_MESSAGE(j.is_object(), r.out);
    return NewKey{j["id"].get<std::string>(), j["key"].get<std::string>()};
}

/// `aigw keys revoke NAME` through `d`'s data dir.
inline void revoke_key(const Daemon& d, const std::string& name)
{
    auto r = run_command({AIGW_PATH, "--data-dir", d.data_dir().string(), "keys", "revoke", name}, cli_env(d));
    REQUIRE_MESSAGE(r.exit_code == 0, r.err);
}

/// The status of a mock/echo chat request with `secret`, and its error message when refused.
inline std::pair<int, std::string> chat_with_key(const Daemon& d, const std::string& secret)
{
    const nlohmann::json body = {{"model", "mock/echo"},
                                 {"messages", nlohmann::json::array({{{"role", "user"}, {"content", "hi"}}})}};
    auto r = d.post("/v1/chat/completions", body, secret);
    REQUIRE(r);
    std::string message;
    if (r->status != 200) {
        const nlohmann::json j = nlohmann::json::parse(r->body, nullptr, false);
        if (j.is_object() && j.contains("error")) {
            message = j["error"].value("message", "");
        }
    }
    return {r->status, message};
}

/// Polls until every daemon answers `status` to chat_with_key(`secret`); how long that
/// took, or nullopt at `deadline`.
inline std::optional<std::chrono::milliseconds> until_all(const std::vector<const Daemon*>& daemons,
                                                          const std::string& secret, int status,
                                                          std::chrono::milliseconds deadline)
{
    const auto start = std::chrono::steady_clock::now();
    std::vector<bool> done(daemons.size(), false);
    while (std::chrono::steady_clock::now() - start < deadline) {
        bool all = true;
        for (std::size_t i = 0; i < daemons.size(); ++i) {
            if (!done[i]) {
                done[i] = chat_with_key(*daemons[i], secret).first == status;
            }
            all = all && done[i];
        }
        if (all) {
            return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start);
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return std::nullopt;
}

/// How many times `needle` occurs in `text` (a log line that must appear once).
inline std::size_t count_of(const std::string& text, const std::string& needle)
{
    std::size_t n = 0;
    for (auto at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1)) {
        ++n;
    }
    return n;
}

}  // namespace aigw::test

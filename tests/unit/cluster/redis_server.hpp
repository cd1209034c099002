#pragma once
// redis-server (Debian's) on a free loopback port, without persistence, stopped by PID:
// shared by the cluster tests.

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>
#include <doctest/doctest.h>

#include <arpa/inet.h>
#include <csignal>
#include <fcntl.h>
#include <filesystem>
#include <netinet/in.h>
#include <string>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>
#include <vector>

namespace aigw::test {

inline int free_port()
{
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
    socklen_t len = sizeof a;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
    ::close(fd);
    return ntohs(a.sin_port);
}

/// redis-server on loopback, no persistence; stopped (SIGTERM) when it goes out of scope.
class RedisServer {
public:
    explicit RedisServer(int port, const std::string& password = {}) : m_port(port)
    {
        REQUIRE_MESSAGE(std::filesystem::exists("/usr/bin/redis-server"),
                        "redis-server is missing: bash packaging/install-deps.sh --test");
        m_pid = ::fork();
        if (m_pid == 0) {
            ::prctl(PR_SET_PDEATHSIG, SIGTERM);  // a crashed test leaves no server behind
            std::vector<std::string> args{"/usr/bin/redis-server",
                                          "--port",
                                          std::to_string(port),
                                          "--bind",
                                          "127.0.0.1",
                                          "--save",
                                          "",
                                          "--appendonly",
                                          "no",
                                          "--daemonize",
                                          "no",
                                          "--loglevel",
                                          "warning",
                                          "--dir",
                                          "/tmp"};
            if (!password.empty()) {
                args.insert(args.end(), {"--requirepass", password});
            }
            std::vector<char*> argv;
            for (auto& a : args) {
                argv.push_back(a.data());
            }
            argv.push_back(nullptr);
            const int devnull = ::open("/dev/null", O_WRONLY);
            ::dup2(devnull, 1);  // its start-up banner and warnings: not the test's output
            ::execv(argv[0], argv.data());
            ::_exit(127);
        }
        // Ready when it accepts a connection.
        for (int i = 0; i < 200; ++i) {
            const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
            sockaddr_in a{};
            a.sin_family = AF_INET;
            a.sin_port = htons(static_cast<std::uint16_t>(port));
            a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
            const bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
            ::close(fd);
            if (ok) {
                return;
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(10));
        }
        FAIL("redis-server did not start on port " << port);
    }
    ~RedisServer() { stop(); }
    void stop()
    {
        if (m_pid > 0) {
            ::kill(m_pid, SIGTERM);
            int status = 0;
            ::waitpid(m_pid, &status, 0);
            m_pid = -1;
        }
    }

private:
    int m_port;
    pid_t m_pid = -1;
};

/// Runs `fn` (a coroutine taking an executor) on a fresh io_context and returns its result.
template <class Fn>
auto run(Fn fn)
{
    boost::asio::io_context io;
    auto fut = boost::asio::co_spawn(io, fn(io.get_executor()), boost::asio::use_future);
    io.run();
    return fut.get();
}

}  // namespace aigw::test

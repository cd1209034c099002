#pragma once
// Helpers of the cluster integration tests: a real redis-server on loopback, started in a
// temp dir without persistence and stopped by PID, and redis-cli against it.

#include "tests/integration/harness.hpp"

#include <doctest/doctest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <memory>
#include <string>
#include <thread>
#include <vector>

namespace aigw::test::cluster {

/// Whether something accepts TCP connections on 127.0.0.1:`port`.
inline bool port_open(int port)
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

/// redis-server on `port` without persistence, in `dir`; stopped by PID when the result goes.
inline std::unique_ptr<Process> start_redis(int port, const std::filesystem::path& dir)
{
    REQUIRE_MESSAGE(std::filesystem::exists("/usr/bin/redis-server"),
                    "redis-server is missing: bash packaging/install-deps.sh --test");
    auto p = std::make_unique<Process>(
        std::vector<std::string>{"/usr/bin/redis-server", "--port", std::to_string(port), "--bind", "127.0.0.1",
                                 "--save", "", "--appendonly", "no", "--daemonize", "no", "--dir", dir.string()},
        std::map<std::string, std::string>{}, dir / "redis.log", false);
    for (int i = 0; i < 500 && !port_open(port); ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    REQUIRE_MESSAGE(port_open(port), "redis-server did not start on port " << port);
    return p;
}

/// redis-cli -p `port` `args`...; its stdout (REQUIREs that it ran).
inline std::string redis_cli(int port, const std::vector<std::string>& args)
{
    std::vector<std::string> argv{"/usr/bin/redis-cli", "-p", std::to_string(port)};
    argv.insert(argv.end(), args.begin(), args.end());
    auto r = run_command(argv, {});
    REQUIRE_MESSAGE(r.exit_code == 0, r.err);
    return r.out;
}

}  // namespace aigw::test::cluster

#pragma once
// A real PostgreSQL 15 (Debian's) for the cluster tests: initdb in a temp dir and postgres
// on a free loopback port, both as the `postgres` system user (PostgreSQL refuses to run
// as root), with trust authentication for the superuser `aigw` and a database `aigw`.
// Stopped by the postmaster's PID (SIGINT: fast shutdown) and its dir removed at the end.

#include "tests/integration/harness.hpp"

#include <filesystem>
#include <memory>
#include <optional>
#include <string>

namespace aigw::test {

class PgServer {
public:
    /// Why a PostgreSQL cannot be started here (the binaries or the postgres user are
    /// missing: `packaging/install-deps.sh --test` installs them), or nullopt when it can.
    static std::optional<std::string> unavailable();

    /// initdb and start; REQUIREs that the server accepts connections within 30 s.
    PgServer();
    ~PgServer();
    PgServer(const PgServer&) = delete;
    PgServer& operator=(const PgServer&) = delete;

    int port() const { return m_port; }
    /// postgresql://aigw@127.0.0.1:PORT/aigw
    std::string url() const;
    /// Fast shutdown (SIGINT to the postmaster); waits until it exited.
    void stop();
    /// Starts it again on the same dir and port; REQUIREs that it accepts connections.
    void start();
    bool running() const { return m_proc != nullptr; }
    /// The first column of the first row of `sql` in the `aigw` database, or an error
    /// text starting with "error: ".
    std::string query(const std::string& sql) const;

private:
    void wait_ready(const std::string& dbname);

    std::filesystem::path m_dir;
    int m_port = 0;
    std::unique_ptr<Process> m_proc;
};

}  // namespace aigw::test

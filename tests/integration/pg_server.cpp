#include "tests/integration/pg_server.hpp"

#include <doctest/doctest.h>
#include <libpq-fe.h>

#include <csignal>
#include <fstream>
#include <pwd.h>
#include <thread>
#include <unistd.h>

namespace aigw::test {

namespace {

constexpr const char* k_bin = "/usr/lib/postgresql/15/bin";
constexpr const char* k_runuser = "/usr/sbin/runuser";

std::string conninfo(int port, const std::string& dbname)
{
    return "host=127.0.0.1 port=" + std::to_string(port) + " user=aigw dbname=" + dbname + " connect_timeout=2";
}

/// The postmaster's PID from DIR/postmaster.pid (its first line), or 0.
int postmaster_pid(const std::filesystem::path& dir)
{
    std::ifstream in(dir / "postmaster.pid");
    int pid = 0;
    in >> pid;
    return in ? pid : 0;
}

}  // namespace

std::optional<std::string> PgServer::unavailable()
{
    for (const char* tool : {"initdb", "postgres"}) {
        if (!std::filesystem::exists(std::filesystem::path(k_bin) / tool)) {
            return std::string(k_bin) + "/" + tool +
                   " is missing: install Debian's postgresql (packaging/install-deps.sh --test)";
        }
    }
    if (!std::filesystem::exists(k_runuser)) {
        return std::string(k_runuser) + " is missing (util-linux)";
    }
    if (::getpwnam("postgres") == nullptr) {
        return std::string("there is no 'postgres' system user: install Debian's postgresql");
    }
    return std::nullopt;
}

PgServer::PgServer()
{
    std::string tmpl = (std::filesystem::temp_directory_path() / "aigw-pg-XXXXXX").string();
    REQUIRE(::mkdtemp(tmpl.data()) != nullptr);
    m_dir = tmpl;
    const passwd* pw = ::getpwnam("postgres");
    REQUIRE_MESSAGE(pw != nullptr, "no postgres system user");
    REQUIRE(::chown(m_dir.c_str(), pw->pw_uid, pw->pw_gid) == 0);
    std::filesystem::permissions(m_dir, std::filesystem::perms::owner_all);
    const auto data = (m_dir / "data").string();
    auto init = run_command({k_runuser, "-u", "postgres", "--", std::string(k_bin) + "/initdb", "-D", data, "-A",
                             "trust", "-U", "aigw", "--no-sync", "-E", "UTF8", "--locale", "C"},
                            {}, {}, 60000);
    REQUIRE_MESSAGE(init.exit_code == 0, "initdb failed: " << init.out << init.err);
    m_port = free_port();
    start();
    PGconn* c = PQconnectdb(conninfo(m_port, "postgres").c_str());
    PGresult* r = PQexec(c, "CREATE DATABASE aigw");
    const bool ok = PQresultStatus(r) == PGRES_COMMAND_OK;
    const std::string err = PQerrorMessage(c);
    PQclear(r);
    PQfinish(c);
    REQUIRE_MESSAGE(ok, "CREATE DATABASE aigw failed: " << err);
}

PgServer::~PgServer()
{
    stop();
    std::error_code ec;
    std::filesystem::remove_all(m_dir, ec);
}

std::string PgServer::url() const
{
    return "postgresql://aigw@127.0.0.1:" + std::to_string(m_port) + "/aigw";
}

void PgServer::start()
{
    if (m_proc) {
        return;
    }
    const auto data = (m_dir / "data").string();
    // fsync off: a test server; the data dir is thrown away.
    m_proc = std::make_unique<Process>(
        std::vector<std::string>{k_runuser, "-u", "postgres", "--", std::string(k_bin) + "/postgres", "-D", data, "-p",
                                 std::to_string(m_port), "-k", m_dir.string(), "-c", "listen_addresses=127.0.0.1", "-c",
                                 "fsync=off"},
        std::map<std::string, std::string>{}, m_dir / "postgres.log", false);
    wait_ready("postgres");
}

void PgServer::wait_ready(const std::string& dbname)
{
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (std::chrono::steady_clock::now() < deadline) {
        if (PQping(conninfo(m_port, dbname).c_str()) == PQPING_OK) {
            return;
        }
        REQUIRE_MESSAGE(m_proc->alive(), "postgres exited at start: " << slurp(m_dir / "postgres.log"));
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    FAIL("postgres did not accept connections within 30 s: " << slurp(m_dir / "postgres.log"));
}

void PgServer::stop()
{
    if (!m_proc) {
        return;
    }
    // runuser waits for its child: signal the postmaster itself, then wait for both.
    if (const int pid = postmaster_pid(m_dir / "data"); pid > 0) {
        ::kill(pid, SIGINT);
    }
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (m_proc->alive() && std::chrono::steady_clock::now() < deadline) {
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    if (m_proc->alive()) {
        if (const int pid = postmaster_pid(m_dir / "data"); pid > 0) {
            ::kill(pid, SIGKILL);
        }
        m_proc->kill_now();
    }
    m_proc.reset();
}

std::string PgServer::query(const std::string& sql) const
{
    PGconn* c = PQconnectdb(conninfo(m_port, "aigw").c_str());
    if (PQstatus(c) != CONNECTION_OK) {
        std::string e = "error: " + std::string(PQerrorMessage(c));
        PQfinish(c);
        return e;
    }
    PGresult* r = PQexec(c, sql.c_str());
    std::string out;
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        out = "error: " + std::string(PQresultErrorMessage(r));
    } else if (PQntuples(r) > 0 && PQnfields(r) > 0) {
        out = PQgetvalue(r, 0, 0);
    }
    PQclear(r);
    PQfinish(c);
    return out;
}

}  // namespace aigw::test

// The pure parts of the shared ledger's replicator: URL redaction, the batch INSERT's
// encoding, the instance id file, the migrations' numbering. The replication itself is
// tested against a real PostgreSQL in tests/integration/test_cluster_pg.cpp.

#include "daemon/cluster/pg_ledger.hpp"

#include <doctest/doctest.h>

#include <charconv>
#include <cstdlib>
#include <fstream>
#include <sys/stat.h>

using namespace aigw::daemon;

TEST_CASE("a postgres URL's password is masked, the rest kept")
{
    CHECK(cluster::redact_postgres_url("postgresql://aigw:s3cret@db.example:5432/aigw") ==
          "postgresql://aigw:***@db.example:5432/aigw");
    CHECK(cluster::redact_postgres_url("postgresql://aigw@127.0.0.1:5432/aigw") ==
          "postgresql://aigw@127.0.0.1:5432/aigw");
    CHECK(cluster::redact_postgres_url("postgres://u:p%40ss@h/db?sslmode=require&password=other") ==
          "postgres://u:***@h/db?sslmode=require&password=***");
    CHECK(cluster::redact_postgres_url("host=h user=u password=hunter2 dbname=d") ==
          "host=h user=u password=*** dbname=d");
    // An '@' in the path is not userinfo.
    CHECK(cluster::redact_postgres_url("postgresql://h:5432/db@x") == "postgresql://h:5432/db@x");
}

TEST_CASE("a batch is one INSERT with 30 parameters a row that ignores rows already there")
{
    std::vector<ledger::LedgerEntry> rows(2);
    rows[0].row_id = 41;
    rows[0].row.request_id = "req-a";
    rows[0].row.cost_usd = 0.1 + 0.2;  // not representable in few digits
    rows[0].row.final_attempt = false;
    rows[0].row.ttft_ms = -1;
    rows[1].row_id = 42;
    rows[1].row.request_id = "req-b";
    rows[1].row.error = std::string("bad \xff byte and a \0 NUL", 22);
    rows[1].row.served_model = "caf\xc3\xa9";  // valid UTF-8 stays
    const auto ins = cluster::encode_insert("inst", rows);
    CHECK(ins.params.size() == 60);
    CHECK(ins.sql.starts_with("INSERT INTO aigw_ledger_requests (instance_id, local_id, ts_ms, request_id"));
    CHECK(ins.sql.find("($31, $32,") != std::string::npos);
    CHECK(ins.sql.find("$60)") != std::string::npos);
    CHECK(ins.sql.find("$61") == std::string::npos);
    CHECK(ins.sql.ends_with("ON CONFLICT (instance_id, local_id) DO NOTHING"));
    CHECK(ins.params[0] == "inst");
    CHECK(ins.params[1] == "41");
    CHECK(ins.params[3] == "req-a");
    CHECK(ins.params[12] == "0");   // final_attempt
    CHECK(ins.params[23] == "-1");  // ttft_ms
    double back = 0;
    std::from_chars(ins.params[20].data(), ins.params[20].data() + ins.params[20].size(), back);
    CHECK(back == rows[0].row.cost_usd);  // exactly, not to 15 digits
    CHECK(ins.params[31] == "42");
    // Text PostgreSQL would refuse (invalid UTF-8, NUL) is made valid, not a stuck batch.
    CHECK(ins.params[30 + 14] == "bad \xEF\xBF\xBD byte and a  NUL");
    CHECK(ins.params[30 + 7] == "caf\xc3\xa9");
    CHECK(cluster::encode_insert("inst", {}).sql.empty());
}

TEST_CASE("the instance id is made once per data dir, 0600, and read back the same")
{
    char tmpl[] = "/tmp/aigw-pg-unit-XXXXXX";
    REQUIRE(::mkdtemp(tmpl) != nullptr);
    const std::filesystem::path dir(tmpl);
    auto id = cluster::load_or_create_instance_id(dir);
    REQUIRE(id.has_value());
    CHECK(id->size() == 32);
    struct stat st {};
    REQUIRE(::stat((dir / "instance_id").c_str(), &st) == 0);
    CHECK((st.st_mode & 0777) == 0600);
    auto again = cluster::load_or_create_instance_id(dir);
    REQUIRE(again.has_value());
    CHECK(*again == *id);

    char other[] = "/tmp/aigw-pg-unit-XXXXXX";
    REQUIRE(::mkdtemp(other) != nullptr);
    auto second = cluster::load_or_create_instance_id(other);
    REQUIRE(second.has_value());
    CHECK(*second != *id);

    std::ofstream(dir / "instance_id") << "not an id\n";
    auto bad = cluster::load_or_create_instance_id(dir);
    REQUIRE_FALSE(bad.has_value());
    CHECK(bad.error().find("instance_id") != std::string::npos);
    std::filesystem::remove_all(dir);
    std::filesystem::remove_all(other);
}

TEST_CASE("the team database's migrations are numbered 1, 2, ...")
{
    const auto migrations = cluster::pg_migrations();
    REQUIRE_FALSE(migrations.empty());
    for (std::size_t i = 0; i < migrations.size(); ++i) {
        CHECK(migrations[i].version == static_cast<int>(i) + 1);
        CHECK_FALSE(migrations[i].sql.empty());
    }
}

// Virtual keys shared by three aigwd through one real redis-server ([cluster] redis_url),
// all on loopback: a key created on one works on the others, a key revoked through one is
// refused by all within a second, Redis holds hashes and never a secret, and keys created
// or revoked while Redis is down reach the others once it is back (even empty).

#include "tests/integration/cluster_harness.hpp"
#include "tests/integration/harness.hpp"

#include <doctest/doctest.h>

#include <thread>

using aigw::test::cli_env;
using aigw::test::Daemon;
using aigw::test::DaemonOptions;
using aigw::test::Process;
using aigw::test::run_command;
using nlohmann::json;
using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

namespace {

using aigw::test::chat_with_key;
using aigw::test::ClusterRedis;
using aigw::test::count_of;
using aigw::test::create_key;
using aigw::test::revoke_key;
using aigw::test::until_all;

DaemonOptions clustered(int redis_port)
{
    DaemonOptions o;
    o.config_toml = "[cluster]\nredis_url = \"redis://127.0.0.1:" + std::to_string(redis_port) + "\"\n";
    return o;
}

}  // namespace

TEST_CASE(
    "three instances share one Redis: a key made on one works on all, and one revoked through another is "
    "refused by all within a second")
{
    const int redis_port = aigw::test::free_port();
    auto redis = std::make_unique<ClusterRedis>(redis_port);
    Daemon a(nullptr, clustered(redis_port));
    Daemon b(nullptr, clustered(redis_port));
    Daemon c(nullptr, clustered(redis_port));

    auto key = create_key(a, {"--name", "shared-bot"});
    CHECK(chat_with_key(a, key.secret).first == 200);
    auto reached = until_all({&b, &c}, key.secret, 200, 3000ms);
    REQUIRE_MESSAGE(reached.has_value(), "the key made on A did not work on B and C within 3 s");
    MESSAGE("created on A, usable on B and C after " << reached->count() << " ms");
    CHECK(*reached <= 1500ms);

    // Redis holds the record with the secret's hash, never the secret.
    const std::string stored = redis->cli({"HGETALL", "aigw:keys"});
    CHECK(stored.find(key.id) != std::string::npos);
    CHECK(stored.find(key.secret) == std::string::npos);
    CHECK(stored.find(key.secret.substr(8)) == std::string::npos);

    // B lists it (its own copy) and revokes it.
    auto list = run_command({AIGW_PATH, "--data-dir", b.data_dir().string(), "keys", "list", "--json"}, cli_env(b));
    REQUIRE_MESSAGE(list.exit_code == 0, list.err);
    CHECK(list.out.find(key.id) != std::string::npos);
    revoke_key(b, "shared-bot");
    auto refused = until_all({&a, &c}, key.secret, 401, 3000ms);
    REQUIRE_MESSAGE(refused.has_value(), "A and C still took the key revoked through B after 3 s");
    MESSAGE("revoked through B, refused by A and C after " << refused->count() << " ms");
    CHECK(*refused <= 1500ms);
    const auto [status, message] = chat_with_key(c, key.secret);
    CHECK(status == 401);
    CHECK(message.find("revoked") != std::string::npos);
    CHECK(message.find(key.id) != std::string::npos);

    // A new instance that starts later knows the cluster's keys from its first request.
    Daemon late(nullptr, clustered(redis_port));
    CHECK(chat_with_key(late, key.secret).first == 401);
    auto second = create_key(c, {"--name", "second-bot"});
    CHECK(until_all({&a, &b, &late}, second.secret, 200, 3000ms).has_value());
    for (const Daemon* d : {&a, &b, &c, &late}) {
        const std::string log = aigw::test::slurp(d->log_file());
        CHECK(log.find(key.secret) == std::string::npos);
        CHECK(log.find(second.secret) == std::string::npos);
    }
    // The sync's thread and loop end cleanly with the daemon.
    for (Daemon* d : {&a, &b, &c, &late}) {
        CHECK(d->stop() == 0);
    }
}

TEST_CASE("with Redis down instances keep serving the keys they know; what changed meanwhile is shared once it is back")
{
    const int redis_port = aigw::test::free_port();
    auto redis = std::make_unique<ClusterRedis>(redis_port);
    Daemon a(nullptr, clustered(redis_port));
    Daemon b(nullptr, clustered(redis_port));
    auto old_key = create_key(a, {"--name", "old-bot"});
    REQUIRE(until_all({&b}, old_key.secret, 200, 3000ms).has_value());

    redis->stop();
    redis.reset();
    // Both still take the key they know; changes made now stay local for the moment.
    CHECK(chat_with_key(a, old_key.secret).first == 200);
    CHECK(chat_with_key(b, old_key.secret).first == 200);
    auto new_key = create_key(a, {"--name", "new-bot"});
    CHECK(chat_with_key(a, new_key.secret).first == 200);
    revoke_key(b, "old-bot");
    CHECK(chat_with_key(b, old_key.secret).first == 401);
    std::this_thread::sleep_for(1500ms);
    CHECK(chat_with_key(b, new_key.secret).first == 401);  // unknown on B while Redis is down
    CHECK(chat_with_key(a, old_key.secret).first == 200);  // not yet revoked on A
    for (const Daemon* d : {&a, &b}) {
        const std::string log = aigw::test::slurp(d->log_file());
        CHECK(count_of(log, "cannot reach Redis at 127.0.0.1:" + std::to_string(redis_port)) == 1);
    }

    // Back, and empty (no persistence): the instances fill it from their copies.
    redis = std::make_unique<ClusterRedis>(redis_port);
    auto shared = until_all({&b}, new_key.secret, 200, 5000ms);
    CHECK_MESSAGE(shared.has_value(), "the key made on A while Redis was down did not reach B");
    auto revoked = until_all({&a}, old_key.secret, 401, 5000ms);
    CHECK_MESSAGE(revoked.has_value(), "the key revoked on B while Redis was down was still taken by A");
    for (const Daemon* d : {&a, &b}) {
        CHECK(aigw::test::slurp(d->log_file()).find("answers again") != std::string::npos);
    }
    const std::string stored = redis->cli({"HGETALL", "aigw:keys"});
    CHECK(stored.find(old_key.id) != std::string::npos);
    CHECK(stored.find(new_key.id) != std::string::npos);
}

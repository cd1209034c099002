// Key sync against a real redis-server: the store's write rule (revocation sticks, the
// earlier revocation counts), the first instance seeding the store and the next pulling
// it, a change reaching another instance at its next step, and a Redis that goes away and
// comes back empty being filled again from the instances' copies.

#include "daemon/cluster/key_sync.hpp"
#include "daemon/cluster/redis_client.hpp"
#include "tests/unit/cluster/redis_server.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>
#include <doctest/doctest.h>

#include <map>

namespace asio = boost::asio;
using namespace aigw::daemon::cluster;
using aigw::test::free_port;
using aigw::test::RedisServer;

namespace {

std::string record(const std::string& id, std::int64_t revoked_ms, const std::string& extra = "x")
{
    return "{\"id\":\"" + id + "\",\"revoked_ms\":" + std::to_string(revoked_ms) + ",\"extra\":\"" + extra + "\"}";
}

/// An instance's copy in memory: apply() takes the record as it is (the merge rules are
/// the key store's, tested with it); a record without an id is refused.
class MemoryKeys final : public LocalKeys {
public:
    std::map<std::string, std::string> keys;
    int applied = 0;

    std::vector<SharedKey> records() const override
    {
        std::vector<SharedKey> out;
        for (const auto& [id, r] : keys) {
            out.push_back(SharedKey{id, r});
        }
        return out;
    }
    std::optional<std::string> record(std::string_view id) const override
    {
        auto it = keys.find(std::string(id));
        return it == keys.end() ? std::nullopt : std::optional<std::string>(it->second);
    }
    asio::awaitable<std::expected<void, std::string>> apply(std::string r) override
    {
        const auto at = r.find("\"id\":\"");
        if (at == std::string::npos) {
            co_return std::unexpected(std::string("no id in the record"));
        }
        const auto start = at + 6;
        keys[r.substr(start, r.find('"', start) - start)] = r;
        ++applied;
        co_return std::expected<void, std::string>{};
    }
};

/// Runs `fn` (a coroutine) on `io` to its end.
template <class T>
T run_on(asio::io_context& io, asio::awaitable<T> a)
{
    auto fut = asio::co_spawn(io, std::move(a), asio::use_future);
    io.restart();
    io.run();
    return fut.get();
}

RedisOptions options_for(int port)
{
    RedisOptions o;
    o.port = port;
    o.connect_timeout = std::chrono::milliseconds(300);
    return o;
}

}  // namespace

TEST_CASE("the key script: a new key is written, an active one is not replaced, a revocation is, the earlier one wins")
{
    const int port = free_port();
    RedisServer server(port);
    asio::io_context io;
    RedisClient redis(io.get_executor(), options_for(port));
    RedisKeyStore store(redis, "t:keys");
    auto put = [&](std::string id, std::string r) { return run_on(io, store.put(SharedKey{id, r})).value(); };
    auto version = [&] { return run_on(io, store.version()).value(); };
    auto stored = [&](const std::string& id) {
        const auto all = run_on(io, store.all()).value();
        for (const auto& k : all) {
            if (k.id == id) {
                return k.record;
            }
        }
        return std::string();
    };

    CHECK(version() == 0);
    CHECK(put("vk_a", record("vk_a", 0)));
    CHECK(version() == 1);
    CHECK_FALSE(put("vk_a", record("vk_a", 0)));  // the same: no write, no new version
    CHECK_FALSE(put("vk_a", record("vk_a", 0, "other")));
    CHECK(stored("vk_a") == record("vk_a", 0));
    CHECK(version() == 1);
    CHECK(put("vk_a", record("vk_a", 2000)));
    CHECK(put("vk_a", record("vk_a", 1000)));        // earlier
    CHECK_FALSE(put("vk_a", record("vk_a", 3000)));  // later
    CHECK_FALSE(put("vk_a", record("vk_a", 0)));     // never undone
    CHECK(stored("vk_a") == record("vk_a", 1000));
    CHECK(version() == 3);
    // A stored record that is not JSON is replaced.
    std::vector<std::string> hset{"HSET", "t:keys", "vk_b", "garbage"};
    REQUIRE(run_on(io, redis.command(hset)).has_value());
    CHECK(put("vk_b", record("vk_b", 0)));
}

TEST_CASE("the first instance seeds the store, the next pulls it, and a change reaches the other at its next step")
{
    const int port = free_port();
    RedisServer server(port);
    asio::io_context io;
    RedisClient redis_a(io.get_executor(), options_for(port));
    RedisClient redis_b(io.get_executor(), options_for(port));
    RedisKeyStore store_a(redis_a);
    RedisKeyStore store_b(redis_b);
    MemoryKeys a;
    MemoryKeys b;
    a.keys["vk_1"] = record("vk_1", 0);
    b.keys["vk_2"] = record("vk_2", 0);
    KeySync sync_a(io.get_executor(), store_a, a);
    KeySync sync_b(io.get_executor(), store_b, b);

    CHECK(run_on(io, sync_a.step()));  // seeds vk_1
    CHECK(run_on(io, sync_b.step()));  // pulls vk_1, pushes vk_2
    CHECK(b.keys.count("vk_1") == 1);
    CHECK(sync_a.status().pushed == 1);
    CHECK(sync_b.status().pulled == 1);
    CHECK(sync_b.status().pushed == 1);
    CHECK(run_on(io, sync_a.step()));  // the version moved: a full round pulls vk_2
    CHECK(a.keys == b.keys);
    const int rounds = static_cast<int>(sync_a.status().rounds);
    CHECK(run_on(io, sync_a.step()));
    CHECK(run_on(io, sync_b.step()));
    CHECK(static_cast<int>(sync_a.status().rounds) == rounds);  // nothing new: a version check only

    // Revoked on B: pushed at once, taken in by A at its next step.
    b.keys["vk_1"] = record("vk_1", 1234);
    sync_b.local_changed("vk_1");
    io.restart();
    io.run();
    CHECK(run_on(io, sync_a.step()));
    CHECK(a.keys["vk_1"] == record("vk_1", 1234));
    CHECK(sync_a.status().reachable);
}

TEST_CASE("while Redis is down a step fails and it is logged once; a Redis back empty is filled from the copies")
{
    const int port = free_port();
    std::optional<RedisServer> server(std::in_place, port);
    asio::io_context io;
    RedisClient redis(io.get_executor(), options_for(port));
    RedisKeyStore store(redis);
    MemoryKeys a;
    a.keys["vk_1"] = record("vk_1", 0);
    std::vector<std::string> lines;
    KeySyncOptions o;
    o.log = [&lines](const std::string& line) { lines.push_back(line); };
    KeySync sync(io.get_executor(), store, a, o);
    REQUIRE(run_on(io, sync.step()));
    CHECK(lines.empty());

    server.reset();
    CHECK_FALSE(run_on(io, sync.step()));
    CHECK_FALSE(run_on(io, sync.step()));
    REQUIRE(lines.size() == 1);
    CHECK(lines[0].find("cannot reach Redis at 127.0.0.1:" + std::to_string(port)) != std::string::npos);
    CHECK(lines[0].find("serving the 1 virtual keys known here") != std::string::npos);
    CHECK_FALSE(sync.status().reachable);
    // Created here while Redis is down: kept for the next round.
    a.keys["vk_2"] = record("vk_2", 0);
    sync.local_changed("vk_2");
    io.restart();
    io.run();

    server.emplace(port);  // no persistence: it comes back empty
    CHECK(run_on(io, sync.step()));
    REQUIRE(lines.size() == 2);
    CHECK(lines[1].find("answers again") != std::string::npos);
    auto all = run_on(io, store.all()).value();
    CHECK(all.size() == 2);
    CHECK(sync.status().reachable);
}

TEST_CASE("a record that an instance refuses is logged once and the others still sync")
{
    const int port = free_port();
    RedisServer server(port);
    asio::io_context io;
    RedisClient redis(io.get_executor(), options_for(port));
    RedisKeyStore store(redis);
    std::vector<std::string> hset{"HSET", "aigw:keys", "vk_bad", "{\"no\":\"id\"}", "vk_ok", record("vk_ok", 0)};
    REQUIRE(run_on(io, redis.command(hset)).has_value());
    std::vector<std::string> incr{"INCR", "aigw:keys:version"};
    REQUIRE(run_on(io, redis.command(incr)).has_value());
    MemoryKeys a;
    std::vector<std::string> lines;
    KeySyncOptions o;
    o.log = [&lines](const std::string& line) { lines.push_back(line); };
    KeySync sync(io.get_executor(), store, a, o);
    CHECK(run_on(io, sync.step()));
    CHECK(a.keys.count("vk_ok") == 1);
    REQUIRE(lines.size() == 1);
    CHECK(lines[0].find("no id in the record") != std::string::npos);
    REQUIRE(run_on(io, redis.command(incr)).has_value());
    CHECK(run_on(io, sync.step()));  // a new version, a full round: not logged again
    CHECK(lines.size() == 1);
}

// The virtual key store: secrets shown once and stored only as hashes, revocation and
// expiry that survive a restart, names and model patterns.

#include "daemon/limits/key_store.hpp"
#include "tests/unit/daemon/temp_dir.hpp"

#include <SQLiteCpp/SQLiteCpp.h>
#include <doctest/doctest.h>

#include <fstream>
#include <sstream>

using namespace aigw::daemon::limits;
using aigw::test::TempDir;
using namespace std::chrono_literals;

namespace {

std::string file_bytes(const std::filesystem::path& p)
{
    std::ifstream in(p, std::ios::binary);
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
}

std::unique_ptr<KeyStore> open_store(const TempDir& dir, const Clock& clock)
{
    auto store = KeyStore::open(dir.path() / "keys.db", clock);
    REQUIRE_MESSAGE(store.has_value(), (store ? "" : store.error()));
    return std::move(*store);
}

KeySpec named(std::string name)
{
    KeySpec spec;
    spec.name = std::move(name);
    return spec;
}

}  // namespace

TEST_CASE("a created key authenticates by its secret; the file holds its hash, never the secret")
{
    TempDir dir;
    ManualClock clock;
    std::string secret;
    std::string id;
    {
        auto store = open_store(dir, clock);
        auto created = store->create(named("ci"));
        REQUIRE(created.has_value());
        secret = created->secret;
        id = created->key.id;
        CHECK(secret.starts_with(k_virtual_key_prefix));
        CHECK(secret.size() == k_virtual_key_prefix.size() + 48);
        CHECK(id.starts_with("vk_"));
        auto found = store->authenticate(secret);
        REQUIRE(found.verdict == KeyStore::Verdict::ok);
        CHECK(found.key->id == id);
        CHECK(store->authenticate(secret + "x").verdict == KeyStore::Verdict::unknown);
        CHECK(store->authenticate("").verdict == KeyStore::Verdict::unknown);
    }
    const auto file = dir.path() / "keys.db";
    CHECK((std::filesystem::status(file).permissions() & std::filesystem::perms::group_all) ==
          std::filesystem::perms::none);
    CHECK((std::filesystem::status(file).permissions() & std::filesystem::perms::others_all) ==
          std::filesystem::perms::none);
    SQLite::Database db(file.string(), SQLite::OPEN_READONLY);
    CHECK(db.execAndGet("SELECT key_hash FROM virtual_keys WHERE id = '" + id + "'").getString() == key_hash(secret));
    std::string everything = file_bytes(file);
    for (const char* suffix : {"-wal", "-journal"}) {
        everything += file_bytes(file.string() + suffix);
    }
    CHECK(everything.find(secret) == std::string::npos);
    CHECK(everything.find(secret.substr(k_virtual_key_prefix.size())) == std::string::npos);

    // Another start loads the key from disk.
    auto again = open_store(dir, clock);
    CHECK(again->authenticate(secret).verdict == KeyStore::Verdict::ok);
}

TEST_CASE("two keys get different secrets and ids")
{
    TempDir dir;
    ManualClock clock;
    auto store = open_store(dir, clock);
    auto a = store->create(named("a"));
    auto b = store->create(named("b"));
    REQUIRE(a.has_value());
    REQUIRE(b.has_value());
    CHECK(a->secret != b->secret);
    CHECK(a->key.id != b->key.id);
    CHECK(store->list().size() == 2);
}

TEST_CASE("a revoked key is refused from then on, also after a restart, and stays listed")
{
    TempDir dir;
    ManualClock clock;
    std::string secret;
    {
        auto store = open_store(dir, clock);
        auto created = store->create(named("ci"));
        REQUIRE(created.has_value());
        secret = created->secret;
        clock.advance(5s);
        auto revoked = store->revoke("ci");
        REQUIRE(revoked.has_value());
        CHECK(revoked->revoked_ms == clock.now_ms());
        CHECK(store->authenticate(secret).verdict == KeyStore::Verdict::revoked);
        CHECK(store->revoke(created->key.id).has_value());  // again: not an error
    }
    auto store = open_store(dir, clock);
    auto found = store->authenticate(secret);
    CHECK(found.verdict == KeyStore::Verdict::revoked);
    REQUIRE(store->list().size() == 1);
    CHECK(store->list()[0].revoked());
    // The name is free again; find() prefers the key that is not revoked.
    auto second = store->create(named("ci"));
    REQUIRE(second.has_value());
    CHECK(store->find("ci")->id == second->key.id);
    CHECK(store->revoke("nope").error().status == 404);
}

TEST_CASE("a key expires at its expiry time")
{
    TempDir dir;
    ManualClock clock;
    auto store = open_store(dir, clock);
    KeySpec spec = named("temp");
    spec.expires_ms = clock.now_ms() + 60'000;
    auto created = store->create(spec);
    REQUIRE(created.has_value());
    CHECK(store->authenticate(created->secret).verdict == KeyStore::Verdict::ok);
    clock.advance(59'999ms);
    CHECK(store->authenticate(created->secret).verdict == KeyStore::Verdict::ok);
    clock.advance(1ms);
    CHECK(store->authenticate(created->secret).verdict == KeyStore::Verdict::expired);
}

TEST_CASE("bad key specs are refused with the field to fix")
{
    TempDir dir;
    ManualClock clock;
    auto store = open_store(dir, clock);
    CHECK(store->create(named("")).error().status == 400);
    CHECK(store->create(named("has space")).error().message.find("name") != std::string::npos);
    CHECK(store->create(named("vk_fake")).error().status == 400);
    KeySpec past = named("past");
    past.expires_ms = clock.now_ms() - 1;
    CHECK(store->create(past).error().message.find("past") != std::string::npos);
    KeySpec broke = named("broke");
    broke.budget = KeyBudget{0, Period::day};
    CHECK(store->create(broke).error().status == 400);
    REQUIRE(store->create(named("dup")).has_value());
    CHECK(store->create(named("dup")).error().status == 409);
    CHECK(store->list().size() == 1);
}

TEST_CASE("limits, budget and model patterns are stored and read back")
{
    TempDir dir;
    ManualClock clock;
    KeySpec spec = named("team");
    spec.rpm = 60;
    spec.tpm = 10'000;
    spec.budget = KeyBudget{12.5, Period::month};
    spec.models = {"openai/*", "mock/echo"};
    {
        auto store = open_store(dir, clock);
        REQUIRE(store->create(spec).has_value());
    }
    auto store = open_store(dir, clock);
    auto k = store->find("team");
    REQUIRE(k.has_value());
    CHECK(k->rpm == 60);
    CHECK(k->tpm == 10'000);
    REQUIRE(k->budget.has_value());
    CHECK(k->budget->usd == doctest::Approx(12.5));
    CHECK(k->budget->period == Period::month);
    CHECK(k->models == std::vector<std::string>{"openai/*", "mock/echo"});
    CHECK(store->by_id(k->id)->name == "team");
}

TEST_CASE("model patterns: globs over the resolved model, or the name the caller used")
{
    CHECK(glob_match("openai/*", "openai/gpt-4o"));
    CHECK(glob_match("openai/*", "openai/ft:gpt-4o/x"));
    CHECK_FALSE(glob_match("openai/*", "anthropic/claude"));
    CHECK(glob_match("*", "anything"));
    CHECK(glob_match("*/gpt-4o*", "azure/gpt-4o-mini"));
    CHECK(glob_match("mock/ech?", "mock/echo"));
    CHECK_FALSE(glob_match("mock/ech?", "mock/echo2"));
    CHECK_FALSE(glob_match("gpt-4o", "openai/gpt-4o"));

    VirtualKey k;
    CHECK(k.allows("anthropic/claude", "claude"));  // no patterns: every model
    k.models = {"openai/*", "fast"};
    CHECK(k.allows("openai/gpt-4o", "gpt-4o"));     // a bare name resolves to openai
    CHECK(k.allows("groq/llama-3.3-70b", "fast"));  // an alias the admin allowed
    CHECK_FALSE(k.allows("anthropic/claude-haiku-4-5", "anthropic/claude-haiku-4-5"));
}

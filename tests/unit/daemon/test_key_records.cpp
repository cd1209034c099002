// The shared form of a virtual key (what the instances of a cluster exchange through Redis)
// and how an instance takes in another's keys: the secret is never in a record, a record
// reads back as the same key and the same bytes, bad records are refused with the field
// named, and a revocation is never undone.

#include "daemon/limits/key_store.hpp"
#include "tests/unit/daemon/temp_dir.hpp"

#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

using namespace aigw::daemon::limits;
using aigw::test::TempDir;
using namespace std::chrono_literals;

namespace {

std::unique_ptr<KeyStore> open_keys(const std::filesystem::path& file, const Clock& clock)
{
    auto store = KeyStore::open(file, clock);
    REQUIRE_MESSAGE(store.has_value(), (store ? "" : store.error()));
    return std::move(*store);
}

KeySpec full_spec()
{
    KeySpec spec;
    spec.name = "ci-bot";
    spec.rpm = 60;
    spec.tpm = 100'000;
    spec.budget = KeyBudget{2.5, Period::month};
    spec.models = {"openai/*", "anthropic/claude-?-*"};
    spec.expires_ms = 1'900'000'000'000;
    return spec;
}

}  // namespace

TEST_CASE("a key record holds the secret's hash, never the secret, and reads back as the same key and bytes")
{
    TempDir dir;
    ManualClock clock;
    auto store = open_keys(dir.path() / "keys.db", clock);
    auto created = store->create(full_spec());
    REQUIRE(created.has_value());
    auto stored = store->stored(created->key.id);
    REQUIRE(stored.has_value());
    CHECK(stored->hash == key_hash(created->secret));

    const std::string text = encode_key_record(*stored);
    CHECK(text.find(created->secret) == std::string::npos);
    CHECK(text.find(created->secret.substr(k_virtual_key_prefix.size())) == std::string::npos);
    CHECK(text.find(stored->hash) != std::string::npos);

    auto back = decode_key_record(text);
    REQUIRE_MESSAGE(back.has_value(), (back ? "" : back.error()));
    CHECK(back->hash == stored->hash);
    CHECK(back->key.id == created->key.id);
    CHECK(back->key.name == "ci-bot");
    CHECK(back->key.rpm == 60);
    CHECK(back->key.tpm == 100'000);
    REQUIRE(back->key.budget.has_value());
    CHECK(back->key.budget->usd == 2.5);
    CHECK(back->key.budget->period == Period::month);
    CHECK(back->key.models == std::vector<std::string>{"openai/*", "anthropic/claude-?-*"});
    CHECK(back->key.expires_ms == 1'900'000'000'000);
    CHECK(back->key.created_ms == clock.now_ms());
    CHECK(back->key.revoked_ms == 0);
    // Instances compare records as text: the same key is the same bytes.
    CHECK(encode_key_record(*back) == text);

    StoredKey plain;
    plain.key.id = "vk_0123456789abcdef";
    plain.key.name = "plain";
    plain.key.created_ms = 5;
    plain.hash = std::string(64, 'a');
    auto plain_back = decode_key_record(encode_key_record(plain));
    REQUIRE(plain_back.has_value());
    CHECK_FALSE(plain_back->key.budget.has_value());
    CHECK(plain_back->key.models.empty());
}

TEST_CASE("a bad key record is refused with the field named")
{
    StoredKey k;
    k.key.id = "vk_0123456789abcdef";
    k.key.name = "good";
    k.key.created_ms = 1;
    k.hash = std::string(64, 'b');
    const auto good = nlohmann::json::parse(encode_key_record(k));
    auto refused = [&](const char* field, const nlohmann::json& value) {
        nlohmann::json j = good;
        if (value.is_discarded()) {
            j.erase(field);
        } else {
            j[field] = value;
        }
        auto r = decode_key_record(j.dump());
        REQUIRE_FALSE(r.has_value());
        return r.error();
    };
    CHECK(decode_key_record(good.dump()).has_value());
    CHECK(refused("key_hash", "not-a-hash").find("SHA-256") != std::string::npos);
    CHECK(refused("key_hash", nlohmann::json::value_t::discarded).find("key_hash") != std::string::npos);
    CHECK(refused("id", "key-1").find("id") != std::string::npos);
    CHECK(refused("name", "has space").find("name") != std::string::npos);
    CHECK(refused("rpm", -1).find("rpm") != std::string::npos);
    CHECK(refused("rpm", "60").find("rpm") != std::string::npos);
    CHECK(refused("revoked_ms", 1.5).find("revoked_ms") != std::string::npos);
    CHECK(refused("models", "openai/*").find("models") != std::string::npos);
    CHECK(refused("budget_usd", 3).find("budget_period") != std::string::npos);
    CHECK(refused("v", 2).find("version") != std::string::npos);
    CHECK_FALSE(decode_key_record("").has_value());
    CHECK_FALSE(decode_key_record("[1,2]").has_value());
    CHECK_FALSE(decode_key_record("{\"v\":1").has_value());
}

TEST_CASE("a key from another instance authenticates here, survives a restart, and its revocation sticks")
{
    TempDir dir;
    ManualClock clock;
    auto a = open_keys(dir.path() / "a.db", clock);
    auto created = a->create(full_spec());
    REQUIRE(created.has_value());
    const StoredKey shared = *a->stored(created->key.id);
    {
        auto b = open_keys(dir.path() / "b.db", clock);
        CHECK(b->authenticate(created->secret).verdict == KeyStore::Verdict::unknown);
        auto merged = b->merge(shared);
        REQUIRE_MESSAGE(merged.has_value(), (merged ? "" : merged.error()));
        CHECK(*merged);
        CHECK(b->authenticate(created->secret).verdict == KeyStore::Verdict::ok);
        CHECK(encode_key_record(*b->stored(created->key.id)) == encode_key_record(shared));
        CHECK_FALSE(*b->merge(shared));  // the same again: nothing changes
    }
    auto b = open_keys(dir.path() / "b.db", clock);
    CHECK(b->authenticate(created->secret).verdict == KeyStore::Verdict::ok);
    REQUIRE(b->list().size() == 1);

    // Revoked on A at t1, on B later at t2: both end with t1, whatever the order they meet in.
    const std::int64_t t1 = clock.now_ms() + 1000;
    clock.set(t1);
    REQUIRE(a->revoke(created->key.id).has_value());
    clock.set(t1 + 5000);
    REQUIRE(b->revoke(created->key.id).has_value());
    CHECK(*b->merge(*a->stored(created->key.id)));
    CHECK(b->stored(created->key.id)->key.revoked_ms == t1);
    CHECK_FALSE(*a->merge(*b->stored(created->key.id)));
    CHECK(a->stored(created->key.id)->key.revoked_ms == t1);

    // A record that is not revoked does not bring the key back.
    CHECK_FALSE(*b->merge(shared));
    CHECK(b->authenticate(created->secret).verdict == KeyStore::Verdict::revoked);
}

TEST_CASE("merging refuses a key whose hash is another's, and tells no listener; create and revoke tell it")
{
    TempDir dir;
    ManualClock clock;
    auto store = open_keys(dir.path() / "keys.db", clock);
    std::vector<std::string> told;
    store->on_change([&told](const std::string& id) { told.push_back(id); });
    auto created = store->create(full_spec());
    REQUIRE(created.has_value());
    REQUIRE(store->revoke(created->key.id).has_value());
    CHECK(told == std::vector<std::string>{created->key.id, created->key.id});

    StoredKey thief = *store->stored(created->key.id);
    thief.key.id = "vk_ffffffffffffffff";
    thief.key.revoked_ms = 0;
    auto r = store->merge(thief);
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().find(created->key.id) != std::string::npos);
    CHECK(store->authenticate(created->secret).verdict == KeyStore::Verdict::revoked);

    StoredKey other = *store->stored(created->key.id);
    other.hash = std::string(64, 'c');
    CHECK_FALSE(store->merge(other).has_value());

    StoredKey fresh;
    fresh.key.id = "vk_00000000000000aa";
    fresh.key.name = "older";
    fresh.key.created_ms = 1;  // older than the local key: listed first
    fresh.hash = key_hash("aigw-vk-from-elsewhere");
    REQUIRE(store->merge(fresh).has_value());
    CHECK(told.size() == 2);
    REQUIRE(store->list().size() == 2);
    CHECK(store->list()[0].id == fresh.key.id);
    CHECK(store->authenticate("aigw-vk-from-elsewhere").verdict == KeyStore::Verdict::ok);
}

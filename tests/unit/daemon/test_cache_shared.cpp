// What instances share through Redis: a cache entry as text (encode/decode) and taking in
// an entry another instance stored (adopt), with an injected clock.

#include "daemon/cache/response_cache.hpp"

#include <doctest/doctest.h>

#include <atomic>

using aigw::daemon::cache::CachedAnswer;
using aigw::daemon::cache::CacheOptions;
using aigw::daemon::cache::decode_cached_answer;
using aigw::daemon::cache::encode_cached_answer;
using aigw::daemon::cache::ResponseCache;
using aigw::daemon::cache::StoreResult;
using nlohmann::json;

namespace {

constexpr std::int64_t k_t0 = 1'700'000'000'000;

std::unique_ptr<ResponseCache> cache_at(std::shared_ptr<std::atomic<std::int64_t>> now,
                                        std::int64_t max_entry = 1 << 16)
{
    CacheOptions o;
    o.now_ms = [now] { return now->load(); };
    o.max_entry_bytes = max_entry;
    o.default_ttl_s = 60;
    return std::move(*ResponseCache::open({}, o));
}

CachedAnswer entry(const std::string& key, std::int64_t created_ms, std::int64_t expires_ms)
{
    CachedAnswer a;
    a.key = key;
    a.body = R"({"id":"chatcmpl-1","choices":[{"message":{"content":"caf\u00e9 \"quoted\"\n"}}]})";
    a.usage.input_tokens = 12;
    a.usage.cached_tokens = 3;
    a.usage.cache_write_tokens = 2;
    a.usage.cache_write_1h_tokens = 1;
    a.usage.output_tokens = 7;
    a.usage.reasoning_tokens = 4;
    a.usage.reported = true;
    a.cost_usd = 0.00125;
    a.served_model = "openai/gpt-4o-mini";
    a.created_ms = created_ms;
    a.expires_ms = expires_ms;
    return a;
}

}  // namespace

TEST_SUITE("shared cache entries")
{
    TEST_CASE("an entry survives encode and decode field for field, the body byte for byte")
    {
        const CachedAnswer a = entry("k1", k_t0, k_t0 + 60'000);
        auto b = decode_cached_answer(encode_cached_answer(a));
        REQUIRE_MESSAGE(b.has_value(), b.error());
        CHECK(b->key == a.key);
        CHECK(b->body == a.body);
        CHECK(b->usage == a.usage);
        CHECK(b->cost_usd == a.cost_usd);
        CHECK(b->served_model == a.served_model);
        CHECK(b->created_ms == a.created_ms);
        CHECK(b->expires_ms == a.expires_ms);
    }

    TEST_CASE("text that is not an entry is refused with why, never thrown")
    {
        const std::string good = encode_cached_answer(entry("k1", k_t0, k_t0 + 1000));
        CHECK_FALSE(decode_cached_answer("").has_value());
        CHECK_FALSE(decode_cached_answer("not json").has_value());
        CHECK_FALSE(decode_cached_answer("[1,2]").has_value());
        CHECK_FALSE(decode_cached_answer(good.substr(0, good.size() / 2)).has_value());
        for (const char* field : {"key", "body", "usage", "cost_usd", "served_model", "created_ms", "expires_ms"}) {
            json j = json::parse(good);
            j.erase(field);
            auto r = decode_cached_answer(j.dump());
            CHECK_MESSAGE(!r.has_value(), field);
        }
        json other_version = json::parse(good);
        other_version["v"] = 2;
        CHECK(decode_cached_answer(other_version.dump()).error().find("version") != std::string::npos);
        json wrong_type = json::parse(good);
        wrong_type["created_ms"] = "yesterday";
        CHECK_FALSE(decode_cached_answer(wrong_type.dump()).has_value());
        json bad_usage = json::parse(good);
        bad_usage["usage"]["input"] = "many";
        CHECK_FALSE(decode_cached_answer(bad_usage.dump()).has_value());
        json string_version = json::parse(good);
        string_version["v"] = "1";
        CHECK_FALSE(decode_cached_answer(string_version.dump()).has_value());
        json negative = json::parse(good);
        negative["cost_usd"] = -1;
        CHECK_FALSE(decode_cached_answer(negative.dump()).has_value());
        json backwards = json::parse(good);
        backwards["expires_ms"] = k_t0 - 1;
        CHECK_FALSE(decode_cached_answer(backwards.dump()).has_value());
    }

    TEST_CASE("an adopted entry keeps its age and expiry, is a counted hit, and serves later lookups")
    {
        auto now = std::make_shared<std::atomic<std::int64_t>>(k_t0 + 5'000);
        auto c = cache_at(now);
        auto hit = c->adopt(entry("k1", k_t0, k_t0 + 10'000));
        REQUIRE(hit.has_value());
        CHECK(hit->age_s == 5);
        CHECK(hit->saved_usd == doctest::Approx(0.00125));
        CHECK(c->stats().hits == 1);
        CHECK(c->stats().entries == 1);
        auto local = c->lookup("k1");
        REQUIRE(local.has_value());
        CHECK(local->age_s == 5);
        CHECK(local->answer->usage.reasoning_tokens == 4);
        REQUIRE(c->entry("k1") != nullptr);
        CHECK(c->entry("k1")->expires_ms == k_t0 + 10'000);
        *now = k_t0 + 10'000;  // its original expiry, not 60 s after it was adopted
        CHECK_FALSE(c->lookup("k1").has_value());
        CHECK(c->entry("k1") == nullptr);
    }

    TEST_CASE("an expired entry, or one older than the request accepts, is not adopted")
    {
        auto now = std::make_shared<std::atomic<std::int64_t>>(k_t0 + 20'000);
        auto c = cache_at(now);
        CHECK_FALSE(c->adopt(entry("gone", k_t0, k_t0 + 20'000)).has_value());
        CHECK_FALSE(c->adopt(entry("old", k_t0, k_t0 + 60'000), 10).has_value());
        CHECK(c->adopt(entry("old", k_t0, k_t0 + 60'000), 20).has_value());
        CHECK(c->stats().hits == 1);
        CHECK(c->stats().entries == 1);
    }

    TEST_CASE("an adopted entry over this instance's entry cap is served once but not kept")
    {
        auto now = std::make_shared<std::atomic<std::int64_t>>(k_t0);
        auto c = cache_at(now, 16);
        auto hit = c->adopt(entry("big", k_t0, k_t0 + 60'000));
        REQUIRE(hit.has_value());
        CHECK(hit->answer->body.size() > 16);
        CHECK(c->stats().entries == 0);
        CHECK(c->stats().too_large == 1);
        CHECK_FALSE(c->lookup("big").has_value());
    }

    TEST_CASE("entry() shows a stored entry with the times store() gave it, without counting a hit")
    {
        auto now = std::make_shared<std::atomic<std::int64_t>>(k_t0);
        auto c = cache_at(now);
        CachedAnswer a = entry("k", 0, 0);
        REQUIRE(c->store(a, 30) == StoreResult::stored);
        auto e = c->entry("k");
        REQUIRE(e != nullptr);
        CHECK(e->created_ms == k_t0);
        CHECK(e->expires_ms == k_t0 + 30'000);
        CHECK(c->stats().hits == 0);
        CHECK(c->entry("other") == nullptr);
    }
}

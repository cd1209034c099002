// Budgets under concurrency: each admitted request holds its estimated cost until it
// settles, so parallel requests cannot overshoot a budget together; unpriced models are
// refused under a budget unless [limits] allow_unpriced. All in virtual time.

#include "daemon/limits/limiter.hpp"
#include "tests/unit/daemon/temp_dir.hpp"

#include <doctest/doctest.h>

#include <atomic>
#include <thread>
#include <vector>

using namespace aigw::daemon::limits;
using aigw::test::TempDir;
using namespace std::chrono_literals;

namespace {

constexpr std::int64_t k_jan31 = 1'738'281'600'000;  // 2025-01-31 00:00 UTC

struct Fixture {
    TempDir dir;
    ManualClock clock{k_jan31 + 3'600'000};
    aigw::config::Config cfg;
    std::unique_ptr<KeyStore> keys;
    std::vector<std::string> log;

    Fixture()
    {
        auto store = KeyStore::open(dir.path() / "keys.db", clock);
        REQUIRE(store.has_value());
        keys = std::move(*store);
    }
    std::unique_ptr<Limiter> limiter()
    {
        return std::make_unique<Limiter>(cfg, keys.get(), clock,
                                         [this](const std::string& line) { log.push_back(line); });
    }
    std::shared_ptr<const VirtualKey> budget_key(double usd)
    {
        KeySpec s;
        s.name = "ci";
        s.budget = KeyBudget{usd, Period::day};
        auto created = keys->create(std::move(s));
        REQUIRE(created.has_value());
        return keys->by_id(created->key.id);
    }
};

const CostEstimate k_cent_fifth{.priced = true, .usd = 0.0015};

}  // namespace

TEST_CASE("50 parallel requests against a $0.01 key budget: only those whose estimates fit are admitted")
{
    Fixture f;
    auto key = f.budget_key(0.01);
    auto lim = f.limiter();
    std::atomic<int> admitted{0};
    std::atomic<int> refused_402{0};
    std::vector<Reservation> held(50);
    std::vector<std::thread> threads;
    for (int i = 0; i < 50; ++i) {
        threads.emplace_back([&, i] {
            auto r = lim->admit(key.get(), key->id, "openai/gpt-4o", "openai/gpt-4o", 0, k_cent_fifth, held[i]);
            if (!r) {
                ++admitted;
            } else if (r->status == 402) {
                ++refused_402;
            }
        });
    }
    for (auto& t : threads) {
        t.join();
    }
    CHECK(admitted.load() == 6);  // 6 x $0.0015 = $0.009; a 7th would hold $0.0105
    CHECK(refused_402.load() == 44);
}

TEST_CASE("settling replaces the held estimate by the real cost and frees the rest")
{
    Fixture f;
    auto key = f.budget_key(0.01);
    auto lim = f.limiter();
    std::vector<Reservation> held;
    for (int i = 0; i < 6; ++i) {
        Reservation r;
        REQUIRE_FALSE(lim->admit(key.get(), key->id, "openai/gpt-4o", "openai/gpt-4o", 0, k_cent_fifth, r));
        CHECK(r.cost_usd == doctest::Approx(0.0015));
        held.push_back(r);
    }
    Reservation extra;
    auto refused = lim->admit(key.get(), key->id, "openai/gpt-4o", "openai/gpt-4o", 0, k_cent_fifth, extra);
    REQUIRE(refused.has_value());
    CHECK(refused->status == 402);
    CHECK(refused->message.find("could cost up to") != std::string::npos);

    // Three requests finish having cost a tenth of their estimate: room for more.
    for (int i = 0; i < 3; ++i) {
        lim->on_recorded(key->id, held[i], 10, 0.00015);
    }
    int more = 0;
    Reservation r;
    while (!lim->admit(key.get(), key->id, "openai/gpt-4o", "openai/gpt-4o", 0, k_cent_fifth, r)) {
        ++more;
        REQUIRE(more < 100);
    }
    CHECK(more == 3);  // held 3 x 0.0015 + spent 0.00045 = 0.00495; three more reach 0.00945, a fourth 0.01095
    CHECK(lim->spend(key->id).day_usd == doctest::Approx(0.00045));
}

TEST_CASE("release gives back the hold of a request that ends without a ledger row")
{
    Fixture f;
    auto key = f.budget_key(0.002);
    auto lim = f.limiter();
    Reservation a;
    REQUIRE_FALSE(lim->admit(key.get(), key->id, "m", "m", 0, k_cent_fifth, a));
    Reservation b;
    CHECK(lim->admit(key.get(), key->id, "m", "m", 0, k_cent_fifth, b).has_value());
    lim->release(key->id, a);
    CHECK_FALSE(lim->admit(key.get(), key->id, "m", "m", 0, k_cent_fifth, b).has_value());
}

TEST_CASE("the global daily budget holds estimates across keys, including the admin key")
{
    Fixture f;
    f.cfg.budget.daily_usd = 0.01;
    auto lim = f.limiter();
    int admitted = 0;
    for (int i = 0; i < 20; ++i) {
        Reservation r;
        if (!lim->admit(nullptr, "default", "openai/gpt-4o", "openai/gpt-4o", 0, k_cent_fifth, r)) {
            ++admitted;
        }
    }
    CHECK(admitted == 6);
}

TEST_CASE("a hold from yesterday does not count against today, and releasing it later is harmless")
{
    Fixture f;
    auto key = f.budget_key(0.002);
    auto lim = f.limiter();
    Reservation yesterday;
    REQUIRE_FALSE(lim->admit(key.get(), key->id, "m", "m", 0, k_cent_fifth, yesterday));
    f.clock.advance(24h);
    Reservation today;
    REQUIRE_FALSE(lim->admit(key.get(), key->id, "m", "m", 0, k_cent_fifth, today));
    lim->on_recorded(key->id, yesterday, 0, 0);  // settles in the new day: must not free today's hold
    Reservation third;
    CHECK(lim->admit(key.get(), key->id, "m", "m", 0, k_cent_fifth, third).has_value());
}

TEST_CASE("an unpriced model under a budget is refused unless [limits] allow_unpriced")
{
    Fixture f;
    auto key = f.budget_key(1.0);
    const CostEstimate unpriced{.priced = false, .usd = 0};
    {
        auto lim = f.limiter();
        Reservation r;
        auto refused = lim->admit(key.get(), key->id, "openai/mystery", "openai/mystery", 0, unpriced, r);
        REQUIRE(refused.has_value());
        CHECK(refused->status == 402);
        CHECK(refused->code == "model_unpriced");
        CHECK(refused->message.find("[limits] allow_unpriced = true") != std::string::npos);
        // No budget applies to the admin key here: nothing to count, so it passes.
        CHECK_FALSE(lim->admit(nullptr, "default", "openai/mystery", "openai/mystery", 0, unpriced, r).has_value());
    }
    f.cfg.limits.allow_unpriced = true;
    auto lim = f.limiter();
    Reservation r;
    CHECK_FALSE(lim->admit(key.get(), key->id, "openai/mystery", "openai/mystery", 0, unpriced, r).has_value());
}

TEST_CASE("estimate_cost prices the prompt and max_tokens (or the default reserve) at the model's prices")
{
    auto cfg = aigw::config::parse_config("", "config.toml");
    REQUIRE(cfg.has_value());
    auto gpt = aigw::config::resolve_model(*cfg, "openai/gpt-4o");
    REQUIRE(gpt.has_value());
    REQUIRE(gpt->info != nullptr);
    REQUIRE(gpt->info->price.has_value());
    const auto& price = *gpt->info->price;
    nlohmann::json body = {{"messages", {{{"role", "user"}, {"content", std::string(400, 'x')}}}},
                           {"max_tokens", 1000}};
    auto e = estimate_cost(body, *gpt);
    CHECK(e.priced);
    CHECK(e.usd == doctest::Approx((100 * price.input + 1000 * price.output) / 1e6).epsilon(0.05));
    body.erase("max_tokens");
    auto d = estimate_cost(body, *gpt);
    CHECK(d.usd ==
          doctest::Approx((100 * price.input + k_default_reserved_output_tokens * price.output) / 1e6).epsilon(0.05));

    auto mock = aigw::config::resolve_model(*cfg, "mock/echo");
    REQUIRE(mock.has_value());
    CHECK(estimate_cost(body, *mock).priced);
    CHECK(estimate_cost(body, *mock).usd == 0);
    auto unknown = aigw::config::resolve_model(*cfg, "openai/not-in-catalog");
    REQUIRE(unknown.has_value());
    CHECK_FALSE(estimate_cost(body, *unknown).priced);
}

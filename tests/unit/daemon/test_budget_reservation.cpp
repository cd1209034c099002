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

TEST_CASE("with shared budgets admit_shared names every budget to hold in Redis and holds nothing here")
{
    Fixture f;
    f.cfg.budget.daily_usd = 1.0;
    auto key = f.budget_key(0.01);
    auto lim = f.limiter();
    std::vector<RateNeed> rates;
    std::vector<BudgetNeed> budgets;
    Reservation r;
    REQUIRE_FALSE(
        lim->admit_shared(key.get(), key->id, "openai/gpt-4o", "openai/gpt-4o", 0, k_cent_fifth, r, rates, &budgets));
    CHECK(r.shared_budget);
    CHECK(r.cost_usd == doctest::Approx(0.0015));
    REQUIRE(budgets.size() == 2);  // the key's day, the gateway's day (no monthly budget set)
    const auto day = period_index(Period::day, f.clock.now_ms());
    CHECK(budgets[0].key == "key:" + key->id + ":day:" + std::to_string(day));
    CHECK(budgets[0].limit_usd == doctest::Approx(0.01));
    CHECK_FALSE(budgets[0].gateway);
    CHECK(budgets[1].key == "total:day:" + std::to_string(day));
    CHECK(budgets[1].gateway);
    // Kept until the period is over, plus a day.
    CHECK(budgets[0].expire_at_ms == period_start_ms(Period::day, day + 1) + 86'400'000);

    // Nothing was held locally: a local admission still sees the whole budget.
    Reservation local;
    for (int i = 0; i < 6; ++i) {
        CHECK_FALSE(lim->admit(key.get(), key->id, "openai/gpt-4o", "openai/gpt-4o", 0, k_cent_fifth, local));
    }
    // This instance's recorded spend seeds the next request's budgets (for Redis to use once).
    lim->on_recorded(key->id, r, 0, 0.004);
    budgets.clear();
    Reservation again;
    REQUIRE_FALSE(lim->admit_shared(key.get(), key->id, "openai/gpt-4o", "openai/gpt-4o", 0, k_cent_fifth, again, rates,
                                    &budgets));
    REQUIRE(budgets.size() == 2);
    CHECK(budgets[0].seed_usd == doctest::Approx(0.004));

    // The 402 for a refusal in Redis names the budget, as a local one does.
    const auto failure = lim->shared_budget_failure(key.get(), budgets[0], 0.0095, 0.0015);
    CHECK(failure.status == 402);
    CHECK(failure.code == "budget_exceeded");
    CHECK(failure.message.find("'ci'") != std::string::npos);
    CHECK(failure.message.find("$0.0095") != std::string::npos);
    const auto gateway = lim->shared_budget_failure(key.get(), budgets[1], 1.0, 0.0015);
    CHECK(gateway.message.find("daily_usd") != std::string::npos);
}

TEST_CASE("Redis down with redis_down = local: hold_local_budgets checks and holds against this instance's tracker")
{
    Fixture f;
    auto key = f.budget_key(0.01);
    auto lim = f.limiter();
    std::vector<RateNeed> rates;
    int admitted = 0;
    for (int i = 0; i < 10; ++i) {
        std::vector<BudgetNeed> budgets;
        Reservation r;
        REQUIRE_FALSE(lim->admit_shared(key.get(), key->id, "openai/gpt-4o", "openai/gpt-4o", 0, k_cent_fifth, r, rates,
                                        &budgets));
        if (!lim->hold_local_budgets(key.get(), key->id, r)) {
            CHECK_FALSE(r.shared_budget);
            ++admitted;
        }
    }
    CHECK(admitted == 6);  // as the local budget alone: 6 x $0.0015 fit $0.01
}

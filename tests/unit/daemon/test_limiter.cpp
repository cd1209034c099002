// Admission: per-key and per-model rate limits that hold under concurrency, TPM estimates
// corrected by the real usage, budgets refused before the call, alerts once per period.

#include "daemon/ledger/ledger.hpp"
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
    std::shared_ptr<const VirtualKey> key(KeySpec spec)
    {
        auto created = keys->create(std::move(spec));
        REQUIRE(created.has_value());
        return keys->by_id(created->key.id);
    }
};

KeySpec spec(std::string name)
{
    KeySpec s;
    s.name = std::move(name);
    return s;
}

}  // namespace

TEST_CASE("N parallel requests on one key get exactly its rpm through")
{
    Fixture f;
    KeySpec s = spec("ci");
    s.rpm = 25;
    auto k = f.key(s);
    auto limiter = f.limiter();
    std::atomic<int> admitted{0};
    std::atomic<int> limited{0};
    std::atomic<bool> go{false};
    std::vector<std::thread> threads;
    for (int t = 0; t < 16; ++t) {
        threads.emplace_back([&] {
            while (!go) {
                std::this_thread::yield();
            }
            for (int i = 0; i < 10; ++i) {
                Reservation r;
                auto refused = limiter->admit(k.get(), k->id, "mock/echo", "mock/echo", 10, r);
                if (!refused) {
                    ++admitted;
                } else {
                    CHECK(refused->status == 429);
                    ++limited;
                }
            }
        });
    }
    go = true;
    for (auto& t : threads) {
        t.join();
    }
    CHECK(admitted == 25);
    CHECK(limited == 16 * 10 - 25);
}

TEST_CASE("a 429 says which limit, and Retry-After is when one request fits again")
{
    Fixture f;
    KeySpec s = spec("ci");
    s.rpm = 2;
    auto k = f.key(s);
    auto limiter = f.limiter();
    Reservation r;
    REQUIRE_FALSE(limiter->admit(k.get(), k->id, "mock/echo", "mock/echo", 1, r));
    REQUIRE_FALSE(limiter->admit(k.get(), k->id, "mock/echo", "mock/echo", 1, r));
    auto refused = limiter->admit(k.get(), k->id, "mock/echo", "mock/echo", 1, r);
    REQUIRE(refused.has_value());
    CHECK(refused->status == 429);
    CHECK(refused->kind == aigw::wire::FailureKind::rate_limited);
    CHECK(refused->retry_after_s.value() == doctest::Approx(30.0));
    CHECK(refused->message.find("'ci'") != std::string::npos);
    CHECK(refused->message.find("2 requests per minute") != std::string::npos);
    f.clock.advance(30s);
    CHECK_FALSE(limiter->admit(k.get(), k->id, "mock/echo", "mock/echo", 1, r));
}

TEST_CASE("a per-model limit holds for every caller together, the admin key included")
{
    Fixture f;
    f.cfg.model_policies["openai/gpt-4o"].rpm = 3;
    auto k = f.key(spec("ci"));
    auto limiter = f.limiter();
    Reservation r;
    REQUIRE_FALSE(limiter->admit(nullptr, "default", "openai/gpt-4o", "gpt-4o", 1, r));
    REQUIRE_FALSE(limiter->admit(k.get(), k->id, "openai/gpt-4o", "openai/gpt-4o", 1, r));
    REQUIRE_FALSE(limiter->admit(nullptr, "default", "openai/gpt-4o", "openai/gpt-4o", 1, r));
    auto refused = limiter->admit(k.get(), k->id, "openai/gpt-4o", "openai/gpt-4o", 1, r);
    REQUIRE(refused.has_value());
    CHECK(refused->message.find("the model openai/gpt-4o allows 3 requests per minute") != std::string::npos);
    // Another model is not limited.
    CHECK_FALSE(limiter->admit(nullptr, "default", "openai/gpt-4o-mini", "gpt-4o-mini", 1, r));
}

TEST_CASE("a request refused by one limit takes nothing from the others")
{
    Fixture f;
    f.cfg.model_policies["openai/gpt-4o"].rpm = 1;
    KeySpec s = spec("ci");
    s.rpm = 2;
    auto k = f.key(s);
    auto limiter = f.limiter();
    Reservation r;
    REQUIRE_FALSE(limiter->admit(k.get(), k->id, "openai/gpt-4o", "openai/gpt-4o", 1, r));
    REQUIRE(limiter->admit(k.get(), k->id, "openai/gpt-4o", "openai/gpt-4o", 1, r));  // the model is full
    // The key still has its second request, for another model.
    CHECK_FALSE(limiter->admit(k.get(), k->id, "mock/echo", "mock/echo", 1, r));
}

TEST_CASE("tokens per minute: admitted on the estimate, corrected by the recorded usage")
{
    Fixture f;
    KeySpec s = spec("ci");
    s.tpm = 1000;
    auto k = f.key(s);
    auto limiter = f.limiter();
    CHECK(limiter->counts_tokens(k.get(), "mock/echo"));
    CHECK_FALSE(limiter->counts_tokens(nullptr, "mock/echo"));

    Reservation first;
    REQUIRE_FALSE(limiter->admit(k.get(), k->id, "mock/echo", "mock/echo", 700, first));
    CHECK(first.tokens == 700);
    Reservation second;
    auto refused = limiter->admit(k.get(), k->id, "mock/echo", "mock/echo", 700, second);
    REQUIRE(refused.has_value());
    CHECK(refused->message.find("1000 tokens per minute") != std::string::npos);
    // The first request used only 100 tokens: 600 come back, and the second one fits.
    limiter->on_recorded(k->id, first, 100, 0);
    CHECK_FALSE(limiter->admit(k.get(), k->id, "mock/echo", "mock/echo", 700, second));
}

TEST_CASE("the token estimate counts prompt characters / 4 and max_tokens")
{
    const nlohmann::json chat = {
        {"model", "m"}, {"max_tokens", 50}, {"messages", {{{"role", "user"}, {"content", std::string(400, 'x')}}}}};
    CHECK(estimate_tokens(chat) == (400 + 4 + 3) / 4 + 50);  // "user" counts too
    const nlohmann::json embeddings = {{"model", "m"}, {"input", {"abcd", "efgh"}}};
    CHECK(estimate_tokens(embeddings) == 2);
    const nlohmann::json anthropic = {
        {"system", std::string(40, 's')},
        {"max_tokens", 10},
        {"messages", {{{"role", "user"}, {"content", {{{"type", "text"}, {"text", "hi"}}}}}}}};
    CHECK(estimate_tokens(anthropic) == (40 + 4 + 4 + 2 + 3) / 4 + 10);  // system, "user", "text", "hi"
}

TEST_CASE("a key's budget refuses the request that would start past it, with 402, until the next UTC day")
{
    Fixture f;
    KeySpec s = spec("ci");
    s.budget = KeyBudget{1.0, Period::day};
    auto k = f.key(s);
    auto limiter = f.limiter();
    Reservation r;
    REQUIRE_FALSE(limiter->admit(k.get(), k->id, "openai/gpt-4o", "gpt-4o", 1, r));
    limiter->on_recorded(k->id, r, 10, 0.6);
    REQUIRE_FALSE(limiter->admit(k.get(), k->id, "openai/gpt-4o", "gpt-4o", 1, r));  // 0.6 < 1.0: starts
    limiter->on_recorded(k->id, r, 10, 0.6);                                         // and ends at 1.2
    auto refused = limiter->admit(k.get(), k->id, "openai/gpt-4o", "gpt-4o", 1, r);
    REQUIRE(refused.has_value());
    CHECK(refused->status == 402);
    CHECK(refused->code == "budget_exceeded");
    CHECK(refused->message.find("'ci'") != std::string::npos);
    CHECK(refused->message.find("$1.00 daily budget") != std::string::npos);
    CHECK(refused->message.find("2025-02-01 00:00 UTC") != std::string::npos);
    CHECK(refused->retry_after_s.value() == doctest::Approx(23 * 3600.0));
    // The admin key and other keys are not held to this key's budget.
    CHECK_FALSE(limiter->admit(nullptr, "default", "openai/gpt-4o", "gpt-4o", 1, r));
    CHECK(limiter->spend(k->id).day_usd == doctest::Approx(1.2));

    f.clock.set(k_jan31 + 86'400'000);  // the next UTC day
    CHECK_FALSE(limiter->admit(k.get(), k->id, "openai/gpt-4o", "gpt-4o", 1, r));
    CHECK(limiter->spend(k->id).month_usd == 0);  // February
}

TEST_CASE("the overall budget counts every key and refuses everyone once spent")
{
    Fixture f;
    f.cfg.budget.monthly_usd = 2.0;
    auto a = f.key(spec("a"));
    auto limiter = f.limiter();
    Reservation r;
    limiter->on_recorded(a->id, r, 0, 1.5);
    limiter->on_recorded("default", r, 0, 0.5);
    auto refused = limiter->admit(nullptr, "default", "mock/echo", "mock/echo", 1, r);
    REQUIRE(refused.has_value());
    CHECK(refused->status == 402);
    CHECK(refused->message.find("monthly budget of $2.00") != std::string::npos);
    CHECK(refused->message.find("monthly_usd") != std::string::npos);
    CHECK(limiter->admit(a.get(), a->id, "mock/echo", "mock/echo", 1, r).has_value());
}

TEST_CASE("budget alerts are logged once per period at the alert fraction, and once more when reached")
{
    Fixture f;
    f.cfg.budget.daily_usd = 10.0;
    f.cfg.budget.alert_at = 0.5;
    KeySpec s = spec("ci");
    s.budget = KeyBudget{4.0, Period::day};
    auto k = f.key(s);
    auto limiter = f.limiter();
    Reservation r;
    limiter->on_recorded(k->id, r, 0, 1.0);
    CHECK(f.log.empty());
    limiter->on_recorded(k->id, r, 0, 1.0);  // key at 50%
    REQUIRE(f.log.size() == 1);
    CHECK(f.log[0].find("budget alert: key 'ci'") != std::string::npos);
    CHECK(f.log[0].find("50%") != std::string::npos);
    limiter->on_recorded(k->id, r, 0, 1.0);  // 75%: no second alert
    CHECK(f.log.size() == 1);
    limiter->on_recorded(k->id, r, 0, 1.5);  // key at 4.5 of 4: reached; overall 4.5 of 10: not yet
    REQUIRE(f.log.size() == 2);
    CHECK(f.log[1].find("budget reached: key 'ci'") != std::string::npos);
    limiter->on_recorded("default", r, 0, 1.0);  // overall 5.5 of 10: alert
    REQUIRE(f.log.size() == 3);
    CHECK(f.log[2].find("budget alert: the gateway") != std::string::npos);
    for (const auto& line : f.log) {
        CHECK(line.find("aigw-vk-") == std::string::npos);
    }
    // A new day: the alerts may come again.
    f.clock.set(k_jan31 + 86'400'000 + 1);
    limiter->on_recorded(k->id, r, 0, 2.0);
    CHECK(f.log.size() == 4);
}

TEST_CASE("a key may use only the models its patterns allow: 403 naming them")
{
    Fixture f;
    KeySpec s = spec("ci");
    s.models = {"openai/*", "mock/*"};
    auto k = f.key(s);
    auto limiter = f.limiter();
    Reservation r;
    CHECK_FALSE(limiter->admit(k.get(), k->id, "openai/gpt-4o", "gpt-4o", 1, r));
    auto refused = limiter->admit(k.get(), k->id, "anthropic/claude-haiku-4-5", "anthropic/claude-haiku-4-5", 1, r);
    REQUIRE(refused.has_value());
    CHECK(refused->status == 403);
    CHECK(refused->code == "permission_denied");
    CHECK(refused->message.find("openai/*, mock/*") != std::string::npos);
}

TEST_CASE("budgets are seeded from the ledger's rows of this UTC day and month")
{
    Fixture f;
    // Real time: the ledger's report ends at the real now.
    SystemClock real;
    const auto now = real.now_ms();
    auto ledger = aigw::daemon::ledger::Ledger::open(f.dir.path() / "ledger.db", 0);
    REQUIRE(ledger.has_value());
    auto row = [&](std::string key, double cost, std::int64_t ts) {
        aigw::daemon::ledger::LedgerRow r;
        r.ts_ms = ts;
        r.request_id = "req";
        r.key_id = std::move(key);
        r.cost_usd = cost;
        (*ledger)->record(std::move(r));
    };
    const std::int64_t day_start = period_start_ms(Period::day, period_index(Period::day, now));
    const std::int64_t month_start = period_start_ms(Period::month, period_index(Period::month, now));
    row("vk_a", 0.25, now - 1);
    row("vk_a", 0.5, month_start);      // this month (maybe today too)
    row("vk_a", 9.0, month_start - 1);  // last month
    row("default", 1.0, now - 1);
    (*ledger)->flush();

    f.cfg.budget.daily_usd = 100;
    Limiter limiter(f.cfg, f.keys.get(), real, [](const std::string&) {});
    REQUIRE(limiter.seed(**ledger).has_value());
    const double today_a = 0.25 + (month_start >= day_start ? 0.5 : 0.0);
    CHECK(limiter.spend("vk_a").day_usd == doctest::Approx(today_a));
    CHECK(limiter.spend("vk_a").month_usd == doctest::Approx(0.75));
    CHECK(limiter.spend("default").month_usd == doctest::Approx(1.0));
}

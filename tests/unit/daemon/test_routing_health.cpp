// Circuit breakers, health windows, key states and attempt plans, on an injected clock.
#include "daemon/routing/health.hpp"
#include "daemon/routing/router.hpp"

#include <doctest/doctest.h>

#include <set>

using namespace aigw::daemon::routing;
using aigw::wire::FailureKind;
using namespace std::chrono_literals;

namespace {

struct ManualClock {
    std::chrono::steady_clock::time_point now{std::chrono::steady_clock::time_point{} + 1000h};
    SteadyClock fn()
    {
        return [this] { return now; };
    }
};

Outcome failed(FailureKind k, std::chrono::milliseconds latency = 10ms)
{
    return Outcome{false, k, latency};
}

Outcome ok(std::chrono::milliseconds latency)
{
    return Outcome{true, std::nullopt, latency};
}

aigw::config::Config config_from(const std::string& toml)
{
    auto cfg = aigw::config::parse_config(toml, "config.toml");
    REQUIRE_MESSAGE(cfg, (cfg ? "" : cfg.error()));
    return std::move(*cfg);
}

}  // namespace

TEST_CASE(
    "a circuit opens after N consecutive failures, half-opens for one trial after the cooldown, closes on success")
{
    ManualClock clock;
    HealthBoard board(HealthSettings{.failures_to_open = 3, .cooldown = 30s}, clock.fn());
    for (int i = 0; i < 3; ++i) {
        REQUIRE(board.try_start("openai/gpt-4o"));
        board.finish("openai/gpt-4o", failed(FailureKind::upstream));
    }
    CHECK(board.snapshot("openai/gpt-4o").state == CircuitState::open);
    CHECK_FALSE(board.try_start("openai/gpt-4o"));
    CHECK(board.snapshot("openai/gpt-4o").retry_in_ms == 30'000);

    clock.now += 30s;
    CHECK(board.try_start("openai/gpt-4o"));        // the trial
    CHECK_FALSE(board.try_start("openai/gpt-4o"));  // only one at a time
    CHECK(board.snapshot("openai/gpt-4o").state == CircuitState::half_open);
    board.finish("openai/gpt-4o", ok(120ms));
    CHECK(board.snapshot("openai/gpt-4o").state == CircuitState::closed);
    CHECK(board.try_start("openai/gpt-4o"));
}

TEST_CASE("a failed trial opens the circuit again for a full cooldown")
{
    ManualClock clock;
    HealthBoard board(HealthSettings{.failures_to_open = 1, .cooldown = 10s}, clock.fn());
    REQUIRE(board.try_start("a/m"));
    board.finish("a/m", failed(FailureKind::timeout));
    clock.now += 10s;
    REQUIRE(board.try_start("a/m"));
    board.finish("a/m", failed(FailureKind::network));
    CHECK(board.snapshot("a/m").state == CircuitState::open);
    clock.now += 9s;
    CHECK_FALSE(board.try_start("a/m"));
}

TEST_CASE("the caller's own errors and key problems do not count against a deployment")
{
    HealthBoard board(HealthSettings{.failures_to_open = 1});
    for (auto k : {FailureKind::bad_request, FailureKind::auth, FailureKind::not_found}) {
        REQUIRE(board.try_start("a/m"));
        board.finish("a/m", failed(k));
    }
    auto h = board.snapshot("a/m");
    CHECK(h.state == CircuitState::closed);
    CHECK(h.requests == 0);
}

TEST_CASE("the rolling window gives p95, error rate and a score, and forgets old samples")
{
    ManualClock clock;
    HealthBoard board(HealthSettings{.failures_to_open = 100, .window = 60s}, clock.fn());
    for (int i = 1; i <= 20; ++i) {
        REQUIRE(board.try_start("a/m"));
        board.finish("a/m", ok(std::chrono::milliseconds(i * 10)));
    }
    for (auto k : {FailureKind::rate_limited, FailureKind::timeout, FailureKind::upstream}) {
        REQUIRE(board.try_start("a/m"));
        board.finish("a/m", failed(k));
    }
    auto h = board.snapshot("a/m");
    CHECK(h.requests == 23);
    CHECK(h.p95_ms == 190);  // nearest rank 19 of 20
    CHECK(h.rate_limited == 1);
    CHECK(h.timeouts == 1);
    CHECK(h.errors == 1);
    CHECK(h.error_rate == doctest::Approx(3.0 / 23));
    CHECK(h.score == 87);
    clock.now += 61s;
    CHECK(board.snapshot("a/m").requests == 0);
}

TEST_CASE("keys rotate round-robin, skip cooling and bad keys, and come back after the cooldown")
{
    ManualClock clock;
    KeyBoard keys(clock.fn());
    CHECK(keys.pick("openai", "gpt-4o", 3) == 0);
    CHECK(keys.pick("openai", "gpt-4o", 3) == 1);
    CHECK(keys.pick("openai", "gpt-4o", 3) == 2);
    keys.cool_down("openai", "gpt-4o", 0, 5s);
    CHECK(keys.pick("openai", "gpt-4o-mini", 3, {1, 2}) == 0);  // another model: the key is fine
    keys.mark_bad("openai", 1, "HTTP 401");
    CHECK(keys.pick("openai", "gpt-4o", 3) == 2);
    CHECK(keys.pick("openai", "gpt-4o", 3) == 2);
    // Only the bad key is left: it is used (the provider says what is wrong), never a cooling one.
    CHECK(keys.pick("openai", "gpt-4o", 3, {2}) == 1);
    CHECK_FALSE(keys.pick("openai", "gpt-4o", 3, {1, 2}));
    clock.now += 5s;
    CHECK(keys.pick("openai", "gpt-4o", 3, {2}) == 0);
    auto all = keys.all({{"openai", 3}});
    REQUIRE(all.size() == 3);
    CHECK(all[1].bad);
    keys.reset();
    CHECK_FALSE(keys.all({{"openai", 3}})[1].bad);
}

TEST_CASE("a plan lists the model, the request's fallbacks replacing the configured ones, without duplicates")
{
    auto cfg = config_from(
        "[models.\"openai/gpt-4o\"]\nfallback = [\"anthropic/claude-sonnet-4-5\", \"gemini/gemini-2.5-pro\"]\n");
    Router router(cfg, [](std::string_view) { return std::optional<std::string>(); });
    auto plan = router.plan({.requested = "openai/gpt-4o"});
    REQUIRE(plan.candidates.size() == 3);
    CHECK(plan.candidates[1].model == "anthropic/claude-sonnet-4-5");
    CHECK(plan.candidates[1].origin == "fallback");

    plan =
        router.plan({.requested = "openai/gpt-4o", .fallback_header = "groq/llama-3.3-70b-versatile, openai/gpt-4o"});
    REQUIRE(plan.candidates.size() == 2);
    CHECK(plan.candidates[1].model == "groq/llama-3.3-70b-versatile");
    CHECK(router.plan({.requested = "openai/gpt-4o", .fallback_header = "none"}).candidates.size() == 1);
}

TEST_CASE("least-busy and lowest-latency order a logical model's deployments from the health board")
{
    auto cfg = config_from(
        "[models.pool]\ndeployments = [\"openai/gpt-4o\", \"azure/gpt-4o\"]\nstrategy = \"least-busy\"\n\n"
        "[models.quick]\ndeployments = [\"openai/gpt-4o\", \"azure/gpt-4o\"]\nstrategy = \"lowest-latency\"\n");
    Router router(cfg, [](std::string_view) { return std::optional<std::string>(); });
    REQUIRE(router.health().try_start("openai/gpt-4o"));
    REQUIRE(router.health().try_start("openai/gpt-4o"));
    for (int i = 0; i < 5; ++i) {
        CHECK(router.plan({.requested = "pool"}).candidates.front().model == "azure/gpt-4o");
    }
    router.health().finish("openai/gpt-4o", ok(50ms));
    router.health().finish("openai/gpt-4o", ok(50ms));
    REQUIRE(router.health().try_start("azure/gpt-4o"));
    router.health().finish("azure/gpt-4o", ok(900ms));
    for (int i = 0; i < 5; ++i) {
        auto plan = router.plan({.requested = "quick"});
        REQUIRE(plan.candidates.size() == 2);
        CHECK(plan.candidates.front().model == "openai/gpt-4o");
    }
}

TEST_CASE("an A/B split picks the same variant for the same user, and both variants get traffic")
{
    auto cfg =
        config_from("[models.exp]\nsplit = { \"openai/gpt-4o-mini\" = 1, \"anthropic/claude-haiku-4-5\" = 1 }\n");
    Router router(cfg, [](std::string_view) { return std::optional<std::string>(); });
    const auto first = router.plan({.requested = "exp", .user = "user-42"}).variant;
    for (int i = 0; i < 10; ++i) {
        CHECK(router.plan({.requested = "exp", .user = "user-42"}).variant == first);
    }
    std::set<std::string> seen;
    for (int i = 0; i < 64; ++i) {
        seen.insert(router.plan({.requested = "exp", .user = "u" + std::to_string(i)}).variant);
    }
    CHECK(seen.size() == 2);
}

TEST_CASE("config: routing keys, logical names and their errors")
{
    auto cfg = config_from(
        "[routing]\nretries = 4\nstrategy = \"lowest-latency\"\ncircuit_cooldown_ms = 5000\n\n"
        "[upstream]\nidle_timeout_ms = 1500\n\n"
        "[models.\"openai/gpt-4o\"]\ninput = 2.5\nfallback = [\"anthropic/claude-sonnet-4-5\"]\n");
    CHECK(cfg.routing.retries == 4);
    CHECK(cfg.routing.strategy == aigw::config::BalanceStrategy::lowest_latency);
    CHECK(cfg.idle_timeout_ms == 1500);
    CHECK(cfg.model_routing.at("openai/gpt-4o").fallback.size() == 1);
    CHECK(cfg.catalog.find("openai/gpt-4o")->price->input == 2.5);

    auto bad = aigw::config::parse_config("[models.pool]\ninput = 1.0\n", "config.toml");
    REQUIRE_FALSE(bad);
    CHECK(bad.error().find("logical model") != std::string::npos);
    auto weight = aigw::config::parse_config(
        "[models.pool]\ndeployments = [{ model = \"openai/gpt-4o\", weight = 0 }]\n", "config.toml");
    REQUIRE_FALSE(weight);
    CHECK(weight.error().find("config.toml:2") == 0);
}

TEST_CASE("a circuit opened elsewhere is skipped until it expires there; one opened here keeps its own trial")
{
    ManualClock clock;
    HealthBoard board(HealthSettings{.failures_to_open = 2, .cooldown = 1000ms}, clock.fn());
    std::vector<std::pair<std::string, std::chrono::milliseconds>> published;
    board.on_transition(
        [&](const std::string& id, std::chrono::milliseconds open_for) { published.emplace_back(id, open_for); });

    // Another instance opened "a/x" for 500 ms more: skipped here without a failure of ours.
    board.set_opened_elsewhere({{"a/x", 500ms}});
    CHECK_FALSE(board.try_start("a/x"));
    auto h = board.snapshot("a/x");
    CHECK(h.state == CircuitState::open);
    CHECK(h.opened_elsewhere);
    CHECK(h.retry_in_ms == 500);
    CHECK(h.score == 0);
    REQUIRE(board.all().size() == 1);  // listed although never tried here
    CHECK(board.try_start("b/y"));     // other deployments are not affected
    board.finish("b/y", ok(5ms));
    clock.now += 501ms;
    CHECK(board.try_start("a/x"));  // expired there: called again here
    board.finish("a/x", ok(5ms));
    CHECK(published.empty());  // nothing opened or closed here

    // Opened here: published once with the cooldown, and the trial is ours even while the
    // shared entry (our own) is still listed.
    board.finish("b/y", failed(FailureKind::upstream));
    REQUIRE(board.try_start("b/y"));
    board.finish("b/y", failed(FailureKind::upstream));
    REQUIRE(board.try_start("b/y") == false);
    board.finish("b/y", failed(FailureKind::upstream));  // a late failure of an attempt in flight
    REQUIRE(published.size() == 1);
    CHECK(published[0] == std::pair<std::string, std::chrono::milliseconds>{"b/y", 1000ms});
    board.set_opened_elsewhere({{"b/y", 900ms}});
    CHECK_FALSE(board.snapshot("b/y").opened_elsewhere);
    clock.now += 1001ms;
    board.set_opened_elsewhere({{"b/y", 50ms}});
    CHECK(board.try_start("b/y"));  // our half-open trial
    board.finish("b/y", ok(5ms));
    REQUIRE(published.size() == 2);
    CHECK(published[1] == std::pair<std::string, std::chrono::milliseconds>{"b/y", 0ms});  // closed: delete it
    // An empty set clears what was opened elsewhere.
    board.set_opened_elsewhere({{"a/x", 10'000ms}});
    CHECK_FALSE(board.try_start("a/x"));
    board.set_opened_elsewhere({});
    CHECK(board.try_start("a/x"));
}

TEST_CASE("a key rest is reported to the rest hook unless it came from the cluster")
{
    ManualClock clock;
    KeyBoard keys(clock.fn());
    struct Rest {
        std::string provider;
        int index;
        std::string model;
        std::chrono::milliseconds how_long;
    };
    std::vector<Rest> rests;
    keys.on_rest([&](const std::string& provider, int index, const std::string& model, std::chrono::milliseconds d) {
        rests.push_back(Rest{provider, index, model, d});
    });
    keys.cool_down("openai", "gpt-4o", 0, 30'000ms);
    keys.cool_down("openai", "gpt-4o", 1, 5'000ms, true);
    REQUIRE(rests.size() == 1);
    CHECK(rests[0].provider == "openai");
    CHECK(rests[0].index == 0);
    CHECK(rests[0].model == "gpt-4o");
    CHECK(rests[0].how_long == 30'000ms);
    CHECK_FALSE(keys.pick("openai", "gpt-4o", 2).has_value());  // both rest, whoever said so
    clock.now += 5001ms;
    CHECK(keys.pick("openai", "gpt-4o", 2) == 1);
}

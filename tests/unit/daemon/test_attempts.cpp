// The attempt loop and its policy in virtual time: backoff, Retry-After, key rotation,
// fallback order, the total deadline and per-candidate admission, with no real sleeping.
#include "daemon/pipeline/attempts.hpp"
#include "daemon/routing/attempt_policy.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>
#include <doctest/doctest.h>

#include <deque>

using namespace aigw::daemon;
using aigw::wire::Failure;
using aigw::wire::FailureKind;
using namespace std::chrono_literals;
namespace asio = boost::asio;

namespace {

aigw::config::Config config_from(const std::string& toml)
{
    auto cfg = aigw::config::parse_config(toml, "config.toml");
    REQUIRE_MESSAGE(cfg, (cfg ? "" : cfg.error()));
    return std::move(*cfg);
}

Failure failure(FailureKind kind, int status, std::optional<double> retry_after = std::nullopt)
{
    Failure f;
    f.kind = kind;
    f.status = status;
    f.message = "scripted " + std::to_string(status);
    f.retry_after_s = retry_after;
    return f;
}

/// A virtual clock: sleeping advances it and records the wait.
struct VirtualTime {
    pipeline::Clock::time_point now{pipeline::Clock::time_point{} + 1000h};
    std::vector<std::chrono::milliseconds> sleeps;

    pipeline::AttemptEnv env()
    {
        pipeline::AttemptEnv e;
        e.now = [this] { return now; };
        e.sleep = [this](std::chrono::milliseconds d) -> asio::awaitable<void> {
            sleeps.push_back(d);
            now += d;
            co_return;
        };
        e.jitter = [] { return 0.5; };
        return e;
    }
};

/// One scripted run: each attempt pops the next outcome of its model (success when none left).
struct Script {
    std::map<std::string, std::deque<std::optional<Failure>>> outcomes;
    std::vector<std::string> calls;  ///< "model#key" per attempt
    std::chrono::milliseconds attempt_takes{10};
};

std::expected<void, Failure> run(const aigw::config::Config& cfg, routing::Router& router, pipeline::Exchange& ex,
                                 Script& script, VirtualTime& vt, pipeline::AdmitFn admit = {})
{
    asio::io_context ioc;
    const nlohmann::json canonical = {{"model", ex.requested_model}, {"messages", nlohmann::json::array()}};
    auto attempt = [&](const routing::Route& route) -> asio::awaitable<std::expected<void, Failure>> {
        script.calls.push_back(route.resolved.id + "#" + std::to_string(route.key_index));
        vt.now += script.attempt_takes;
        auto& q = script.outcomes[route.resolved.id];
        if (q.empty()) {
            co_return std::expected<void, Failure>{};
        }
        auto next = q.front();
        q.pop_front();
        if (!next) {
            co_return std::expected<void, Failure>{};
        }
        co_return std::unexpected(*next);
    };
    auto fut = asio::co_spawn(ioc, pipeline::run_attempts(router, cfg.routing, ex, canonical, attempt, admit, vt.env()),
                              asio::use_future);
    ioc.run();
    return fut.get();
}

pipeline::Exchange exchange(VirtualTime& vt, std::string model, std::chrono::milliseconds total = 900s, int retries = 2)
{
    pipeline::Exchange ex;
    ex.requested_model = std::move(model);
    ex.t0 = vt.now;
    ex.timeouts.total = total;
    ex.deadline = vt.now + total;
    ex.max_retries = retries;
    return ex;
}

routing::Router make_router(const aigw::config::Config& cfg, VirtualTime& vt, std::string openai_keys = "sk-a")
{
    return routing::Router(
        cfg,
        [openai_keys](std::string_view name) -> std::optional<std::string> {
            if (name == "OPENAI_API_KEY") {
                return openai_keys;
            }
            if (name == "ANTHROPIC_API_KEY") {
                return std::string("sk-ant-x");
            }
            return std::nullopt;
        },
        [&vt] { return vt.now; });
}

}  // namespace

TEST_CASE("a 5xx is retried with exponential backoff in virtual time, then the fallback serves")
{
    auto cfg = config_from(
        "[routing]\nbackoff_initial_ms = 1000\n[models.\"openai/gpt-4o\"]\n"
        "fallback = [\"anthropic/claude-sonnet-4-5\"]\n");
    VirtualTime vt;
    auto router = make_router(cfg, vt);
    Script script;
    script.outcomes["openai/gpt-4o"] = {failure(FailureKind::upstream, 500), failure(FailureKind::upstream, 502),
                                        failure(FailureKind::upstream, 503)};
    auto ex = exchange(vt, "openai/gpt-4o");
    auto r = run(cfg, router, ex, script, vt);
    REQUIRE(r.has_value());
    // Full jitter at 0.5: half of 1 s, then half of 2 s.
    CHECK(vt.sleeps == std::vector<std::chrono::milliseconds>{500ms, 1000ms});
    CHECK(script.calls.size() == 4);
    CHECK(script.calls.back().starts_with("anthropic/claude-sonnet-4-5"));
    CHECK(ex.route.resolved.id == "anthropic/claude-sonnet-4-5");
    CHECK(ex.failed_attempts.size() == 3);
    CHECK(ex.attempt_reason.find("fallback to anthropic/claude-sonnet-4-5") != std::string::npos);
}

TEST_CASE("a 429 with Retry-After rests the key and waits exactly that long before the retry")
{
    auto cfg = config_from("");
    VirtualTime vt;
    auto router = make_router(cfg, vt);
    Script script;
    script.outcomes["openai/gpt-4o"] = {failure(FailureKind::rate_limited, 429, 3.0)};
    auto ex = exchange(vt, "openai/gpt-4o");
    auto r = run(cfg, router, ex, script, vt);
    REQUIRE(r.has_value());
    REQUIRE(vt.sleeps.size() == 1);
    CHECK(vt.sleeps[0] == 3005ms);
    CHECK(script.calls.size() == 2);
}

TEST_CASE("a Retry-After longer than max_retry_wait moves to the fallback at once")
{
    auto cfg = config_from(
        "[routing]\nmax_retry_wait_ms = 5000\n[models.\"openai/gpt-4o\"]\n"
        "fallback = [\"anthropic/claude-sonnet-4-5\"]\n");
    VirtualTime vt;
    auto router = make_router(cfg, vt);
    Script script;
    script.outcomes["openai/gpt-4o"] = {failure(FailureKind::upstream, 503, 60.0)};
    auto ex = exchange(vt, "openai/gpt-4o");
    auto r = run(cfg, router, ex, script, vt);
    REQUIRE(r.has_value());
    CHECK(vt.sleeps.empty());
    CHECK(ex.route.resolved.id == "anthropic/claude-sonnet-4-5");
}

TEST_CASE("a nonsense Retry-After (negative, infinite) is clamped, never a years-long rest")
{
    routing::AttemptPolicySettings s;
    CHECK(routing::backoff_delay(s, 1, failure(FailureKind::upstream, 503, -5.0), 0.5) == 0ms);
    CHECK(routing::backoff_delay(s, 1, failure(FailureKind::upstream, 503, 1e300), 0.5) == 86'400'000ms);
    CHECK(routing::backoff_delay(s, 1, failure(FailureKind::upstream, 503, std::numeric_limits<double>::infinity()),
                                 0.5) == 86'400'000ms);
}

TEST_CASE("a 401 marks the key bad and the next key goes at once, without backoff")
{
    auto cfg = config_from("");
    VirtualTime vt;
    auto router = make_router(cfg, vt, "sk-a,sk-b");
    Script script;
    script.outcomes["openai/gpt-4o"] = {failure(FailureKind::auth, 401)};
    auto ex = exchange(vt, "openai/gpt-4o");
    auto r = run(cfg, router, ex, script, vt);
    REQUIRE(r.has_value());
    CHECK(vt.sleeps.empty());
    REQUIRE(script.calls.size() == 2);
    CHECK(script.calls[0] != script.calls[1]);  // another key
    CHECK(ex.attempt_reason.find("was rejected (401)") != std::string::npos);
}

TEST_CASE("the total deadline ends the request with a 504 after the waits it allowed")
{
    auto cfg = config_from("[routing]\nbackoff_initial_ms = 4000\nretries = 5\n");
    VirtualTime vt;
    auto router = make_router(cfg, vt);
    Script script;
    script.outcomes["openai/gpt-4o"] = {failure(FailureKind::upstream, 500), failure(FailureKind::upstream, 500),
                                        failure(FailureKind::upstream, 500), failure(FailureKind::upstream, 500)};
    auto ex = exchange(vt, "openai/gpt-4o", 5s, 5);
    auto r = run(cfg, router, ex, script, vt);
    REQUIRE_FALSE(r.has_value());
    // 2 s fits in 5 s, the next 4 s wait does not: two attempts, then the last failure.
    CHECK(vt.sleeps == std::vector<std::chrono::milliseconds>{2000ms});
    CHECK(script.calls.size() == 2);
    CHECK(r.error().status == 500);
}

TEST_CASE("the caller's own 400 is returned at once: no retry, no fallback")
{
    auto cfg = config_from("[models.\"openai/gpt-4o\"]\nfallback = [\"anthropic/claude-sonnet-4-5\"]\n");
    VirtualTime vt;
    auto router = make_router(cfg, vt);
    Script script;
    script.outcomes["openai/gpt-4o"] = {failure(FailureKind::bad_request, 400)};
    auto ex = exchange(vt, "openai/gpt-4o");
    auto r = run(cfg, router, ex, script, vt);
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().status == 400);
    CHECK(script.calls.size() == 1);
    CHECK(vt.sleeps.empty());
}

TEST_CASE("a candidate the caller's key may not use is skipped and named; nothing is sent to it")
{
    auto cfg = config_from("[models.\"openai/gpt-4o\"]\nfallback = [\"anthropic/claude-sonnet-4-5\", \"mock/echo\"]\n");
    VirtualTime vt;
    auto router = make_router(cfg, vt);
    Script script;
    script.outcomes["openai/gpt-4o"] = {failure(FailureKind::upstream, 500), failure(FailureKind::upstream, 500),
                                        failure(FailureKind::upstream, 500)};
    auto ex = exchange(vt, "openai/gpt-4o");
    std::vector<std::string> asked;
    auto r =
        run(cfg, router, ex, script, vt, [&](const routing::Route& route) -> asio::awaitable<std::optional<Failure>> {
            asked.push_back(route.resolved.id);
            if (route.resolved.provider->name == "anthropic") {
                co_return failure(FailureKind::auth, 403);
            }
            co_return std::nullopt;
        });
    REQUIRE(r.has_value());
    CHECK(ex.route.resolved.id == "mock/echo");
    for (const auto& c : script.calls) {
        CHECK_FALSE(c.starts_with("anthropic/"));
    }
    CHECK(asked == std::vector<std::string>{"openai/gpt-4o", "anthropic/claude-sonnet-4-5", "mock/echo"});
    CHECK(ex.attempt_reason.find("claude-sonnet-4-5") != std::string::npos);
    CHECK(ex.attempt_reason.find("refused") != std::string::npos);
}

TEST_CASE("when admission refuses the only candidate, its refusal is the answer")
{
    auto cfg = config_from("");
    VirtualTime vt;
    auto router = make_router(cfg, vt);
    Script script;
    auto ex = exchange(vt, "openai/gpt-4o");
    auto r = run(cfg, router, ex, script, vt, [](const routing::Route&) -> asio::awaitable<std::optional<Failure>> {
        co_return failure(FailureKind::rate_limited, 429, 7.0);
    });
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().status == 429);
    CHECK(script.calls.empty());
}

TEST_CASE("what the router is told about a request: tools, images, and the room it needs")
{
    pipeline::Exchange ex;
    ex.requested_model = "auto";
    const auto text_only = nlohmann::json::parse(R"({"messages":[{"role":"user","content":"12345678"},
        {"role":"user","content":[{"type":"text","text":"abcd"},{"type":"file"},7]}],"max_tokens":10})");
    auto pr = pipeline::plan_request(ex, text_only);
    CHECK(pr.requested == "auto");
    CHECK_FALSE(pr.needs_tools);
    CHECK_FALSE(pr.needs_vision);
    CHECK(pr.min_context == 12 / 4 + 10);
    // An image in any of the three surfaces' spellings needs a vision model; tools, a tool model.
    for (const char* image : {"image_url", "image", "input_image"}) {
        auto body = text_only;
        body["messages"][1]["content"].push_back({{"type", image}});
        body["tools"] = nlohmann::json::array({{{"type", "function"}}});
        CAPTURE(image);
        auto with_image = pipeline::plan_request(ex, body);
        CHECK(with_image.needs_vision);
        CHECK(with_image.needs_tools);
    }
    auto typed_oddly = text_only;
    typed_oddly["messages"][1]["content"].push_back({{"type", 1}});
    CHECK_FALSE(pipeline::plan_request(ex, typed_oddly).needs_vision);
}

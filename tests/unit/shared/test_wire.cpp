#include "shared/wire/ascii.hpp"
#include "shared/wire/error.hpp"
#include "shared/wire/usage.hpp"

#include <doctest/doctest.h>

using namespace aigw::wire;

TEST_CASE("OpenAI error shape has message, type, param and code, nulls when empty")
{
    auto body = to_openai_error(bad_request("bad json"));
    CHECK(body["error"]["message"] == "bad json");
    CHECK(body["error"]["type"] == "invalid_request_error");
    CHECK(body["error"]["param"].is_null());
    CHECK(body["error"]["code"].is_null());

    auto nf = to_openai_error(model_not_found("nope/x"));
    CHECK(nf["error"]["code"] == "model_not_found");
    CHECK(nf["error"]["param"] == "model");
}

TEST_CASE("Anthropic error shape is type error with a typed inner error")
{
    Failure f;
    f.kind = FailureKind::rate_limited;
    f.status = 429;
    f.message = "slow down";
    auto body = to_anthropic_error(f);
    CHECK(body["type"] == "error");
    CHECK(body["error"]["type"] == "rate_limit_error");
    CHECK(body["error"]["message"] == "slow down");
    Failure overloaded;
    overloaded.kind = FailureKind::upstream;
    overloaded.status = 529;
    overloaded.message = "busy";
    CHECK(to_anthropic_error(overloaded)["error"]["type"] == "overloaded_error");
}

TEST_CASE("only transient failures are retryable, never the caller's")
{
    CHECK(is_retryable(FailureKind::rate_limited));
    CHECK(is_retryable(FailureKind::upstream));
    CHECK(is_retryable(FailureKind::network));
    CHECK(is_retryable(FailureKind::timeout));
    CHECK_FALSE(is_retryable(FailureKind::bad_request));
    CHECK_FALSE(is_retryable(FailureKind::auth));
    CHECK_FALSE(is_retryable(FailureKind::not_found));
}

TEST_CASE("OpenAI usage round-trips, including cached and reasoning details")
{
    auto j = nlohmann::json::parse(R"({"prompt_tokens":100,"completion_tokens":50,"total_tokens":150,
        "prompt_tokens_details":{"cached_tokens":40},"completion_tokens_details":{"reasoning_tokens":20}})");
    Usage u = usage_from_openai(j);
    CHECK(u.reported);
    CHECK(u.input_tokens == 100);
    CHECK(u.cached_tokens == 40);
    CHECK(u.output_tokens == 50);
    CHECK(u.reasoning_tokens == 20);
    auto back = usage_to_openai(u);
    CHECK(back["total_tokens"] == 150);
    CHECK(back["prompt_tokens_details"]["cached_tokens"] == 40);
    CHECK_FALSE(usage_from_openai(nullptr).reported);
}

TEST_CASE("DeepSeek's prompt_cache_hit_tokens count as cached input when prompt_tokens_details has none")
{
    using namespace aigw::wire;
    Usage u = usage_from_openai(nlohmann::json{{"prompt_tokens", 100},
                                               {"completion_tokens", 5},
                                               {"prompt_cache_hit_tokens", 64},
                                               {"prompt_cache_miss_tokens", 36}});
    CHECK(u.input_tokens == 100);
    CHECK(u.cached_tokens == 64);
    // Both reported (the same count): read once.
    Usage both = usage_from_openai(nlohmann::json{
        {"prompt_tokens", 100}, {"prompt_tokens_details", {{"cached_tokens", 64}}}, {"prompt_cache_hit_tokens", 64}});
    CHECK(both.cached_tokens == 64);
}

TEST_CASE("a 402 (a spent budget) is Anthropic's billing_error; OpenAI gets the failure's own type")
{
    aigw::wire::Failure f;
    f.kind = aigw::wire::FailureKind::bad_request;
    f.status = 402;
    f.type = "insufficient_quota";
    f.code = "budget_exceeded";
    f.message = "Budget reached";
    CHECK(aigw::wire::to_anthropic_error(f)["error"]["type"] == "billing_error");
    CHECK(aigw::wire::to_openai_error(f)["error"]["type"] == "insufficient_quota");
    CHECK(aigw::wire::to_openai_error(f)["error"]["code"] == "budget_exceeded");
}

TEST_CASE("ascii_iequals takes A-Z and a-z as the same and no other byte")
{
    CHECK(ascii_iequals("Content-Type", "content-type"));
    CHECK(ascii_iequals("", ""));
    CHECK_FALSE(ascii_iequals("traceparent", "traceparent2"));
    CHECK_FALSE(ascii_iequals("x-a", "x_a"));
    CHECK_FALSE(ascii_iequals("@", "`"));                // 0x40 and 0x60: one bit apart, not letters
    CHECK_FALSE(ascii_iequals("\xc3\x9c", "\xc3\xbc"));  // Ü and ü stay distinct
}

// How long a 429 asks us to wait: Retry-After first, else the providers' rate-limit reset headers.
#include "daemon/providers/adapter.hpp"

#include <doctest/doctest.h>

#include <ctime>

using namespace aigw::daemon::providers;

namespace {

std::string rfc3339_in(int seconds)
{
    std::time_t t = std::time(nullptr) + seconds;
    std::tm tm{};
    gmtime_r(&t, &tm);
    char buf[32];
    std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return buf;
}

}  // namespace

TEST_CASE("a 429 without Retry-After waits for the OpenAI limit that ran out")
{
    HeaderList h = {{"x-ratelimit-remaining-requests", "10"},
                    {"x-ratelimit-reset-requests", "1s"},
                    {"x-ratelimit-remaining-tokens", "0"},
                    {"x-ratelimit-reset-tokens", "6m0s"}};
    auto f = openai_adapter().classify_error(429, R"({"error":{"message":"slow down"}})", h);
    REQUIRE(f.retry_after_s);
    CHECK(*f.retry_after_s == doctest::Approx(360));
    CHECK(rate_limit_wait_seconds({{"x-ratelimit-reset-requests", "20ms"}}) == doctest::Approx(0.02));
    CHECK(rate_limit_wait_seconds({{"x-ratelimit-reset-requests", "1h2m3.5s"}}) == doctest::Approx(3723.5));
}

TEST_CASE("Retry-After wins over reset headers, and a 5xx never waits for a rate-limit reset")
{
    HeaderList h = {{"retry-after", "2"}, {"x-ratelimit-remaining-tokens", "0"}, {"x-ratelimit-reset-tokens", "6m0s"}};
    CHECK(*rate_limit_wait_seconds(h) == doctest::Approx(2));
    auto f =
        openai_adapter().classify_error(500, R"({"error":{"message":"boom"}})",
                                        {{"x-ratelimit-remaining-tokens", "0"}, {"x-ratelimit-reset-tokens", "6m0s"}});
    CHECK_FALSE(f.retry_after_s);
}

TEST_CASE("Anthropic's RFC 3339 reset times become seconds from now")
{
    HeaderList h = {{"anthropic-ratelimit-requests-remaining", "0"},
                    {"anthropic-ratelimit-requests-reset", rfc3339_in(20)},
                    {"anthropic-ratelimit-tokens-remaining", "5000"},
                    {"anthropic-ratelimit-tokens-reset", rfc3339_in(50)}};
    auto f = anthropic_adapter().classify_error(
        429, R"({"type":"error","error":{"type":"rate_limit_error","message":"limit"}})", h);
    REQUIRE(f.retry_after_s);
    CHECK(*f.retry_after_s >= 18);
    CHECK(*f.retry_after_s <= 20);
}

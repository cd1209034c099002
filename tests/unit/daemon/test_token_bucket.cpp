// Token buckets refill evenly over a minute; time is moved by hand, never slept.

#include "daemon/limits/clock.hpp"
#include "daemon/limits/token_bucket.hpp"

#include <doctest/doctest.h>

using aigw::daemon::limits::ManualClock;
using aigw::daemon::limits::TokenBucket;
using namespace std::chrono_literals;

TEST_CASE("a bucket starts full and refuses the request past its size until it refills")
{
    ManualClock clock;
    TokenBucket b(3, clock.now_ms());
    for (int i = 0; i < 3; ++i) {
        REQUIRE(b.wait_ms(1, clock.now_ms()) == 0);
        b.take(1, clock.now_ms());
    }
    // 3 per minute: one token every 20 s.
    CHECK(b.wait_ms(1, clock.now_ms()) == 20'000);
    clock.advance(19'999ms);
    CHECK(b.wait_ms(1, clock.now_ms()) == 1);
    clock.advance(1ms);
    CHECK(b.wait_ms(1, clock.now_ms()) == 0);
}

TEST_CASE("refill never goes above the bucket's size")
{
    ManualClock clock;
    TokenBucket b(10, clock.now_ms());
    b.take(4, clock.now_ms());
    clock.advance(std::chrono::hours(5));
    CHECK(b.level(clock.now_ms()) == doctest::Approx(10));
    b.give(50, clock.now_ms());
    CHECK(b.level(clock.now_ms()) == doctest::Approx(10));
}

TEST_CASE("a request larger than the bucket waits for a full bucket, then leaves it in debt")
{
    ManualClock clock;
    TokenBucket b(1000, clock.now_ms());
    b.take(10, clock.now_ms());
    CHECK(b.wait_ms(5000, clock.now_ms()) == 600);  // the 10 missing tokens, at 1000 a minute
    clock.advance(600ms);
    REQUIRE(b.wait_ms(5000, clock.now_ms()) == 0);
    b.take(5000, clock.now_ms());
    CHECK(b.level(clock.now_ms()) == doctest::Approx(-4000));
    CHECK(b.wait_ms(1, clock.now_ms()) == 240'060);  // 4001 tokens at 1000 a minute
}

TEST_CASE("giving back a reservation and taking the excess of a larger real use")
{
    ManualClock clock;
    TokenBucket b(100, clock.now_ms());
    b.take(80, clock.now_ms());
    b.give(60, clock.now_ms());  // reserved 80, used 20
    CHECK(b.level(clock.now_ms()) == doctest::Approx(80));
    b.give(-50, clock.now_ms());  // used 50 more than reserved
    CHECK(b.level(clock.now_ms()) == doctest::Approx(30));
}

TEST_CASE("a clock going backwards neither refills nor drains")
{
    ManualClock clock;
    TokenBucket b(60, clock.now_ms());
    b.take(60, clock.now_ms());
    clock.advance(-10'000ms);
    CHECK(b.level(clock.now_ms()) == doctest::Approx(0));
    clock.advance(11'000ms);  // 1 s after the last refill: one token
    CHECK(b.level(clock.now_ms()) == doctest::Approx(1));
}

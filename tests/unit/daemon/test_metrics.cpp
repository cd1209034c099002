// /metrics' pure parts: the Prometheus text format writer, the request metrics' series and
// histograms, and the health board's attempt outcome counts.
#include "daemon/pipeline/metrics.hpp"
#include "daemon/routing/health.hpp"
#include "daemon/surfaces/admin/prometheus_text.hpp"

#include <doctest/doctest.h>

using namespace aigw::daemon;
using surfaces::PrometheusText;

TEST_CASE("label values escape backslash, double quote and newline, and nothing else")
{
    CHECK(surfaces::escape_label_value(R"(a\b)") == R"(a\\b)");
    CHECK(surfaces::escape_label_value(R"(say "hi")") == R"(say \"hi\")");
    CHECK(surfaces::escape_label_value("two\nlines") == R"(two\nlines)");
    CHECK(surfaces::escape_label_value("tab\there, é, {x=1}") == "tab\there, é, {x=1}");
}

TEST_CASE("sample values: whole numbers without a fraction, the rest exact, infinities and NaN by name")
{
    CHECK(surfaces::format_sample_value(0) == "0");
    CHECK(surfaces::format_sample_value(42) == "42");
    CHECK(surfaces::format_sample_value(0.005) == "0.005");
    CHECK(surfaces::format_sample_value(1.25e-7) == "1.25e-07");
    CHECK(surfaces::format_sample_value(std::numeric_limits<double>::infinity()) == "+Inf");
    CHECK(surfaces::format_sample_value(-std::numeric_limits<double>::infinity()) == "-Inf");
    CHECK(surfaces::format_sample_value(std::numeric_limits<double>::quiet_NaN()) == "NaN");
}

TEST_CASE("a family is HELP and TYPE once, then one line per sample with its labels in order")
{
    PrometheusText t;
    t.family("aigw_requests_total", "counter", "Requests.\nTwo lines, a \\ too.");
    t.sample("aigw_requests_total", {{"provider", "openai"}, {"key", "k\"1"}}, 3);
    t.sample("aigw_requests_total", {}, 1);
    CHECK(t.text() ==
          "# HELP aigw_requests_total Requests.\\nTwo lines, a \\\\ too.\n"
          "# TYPE aigw_requests_total counter\n"
          "aigw_requests_total{provider=\"openai\",key=\"k\\\"1\"} 3\n"
          "aigw_requests_total 1\n");
}

TEST_CASE("a histogram's buckets are cumulative, end with +Inf equal to _count, then _sum and _count")
{
    PrometheusText t;
    const std::array<double, 2> bounds = {0.1, 1};
    const std::array<std::uint64_t, 3> counts = {2, 0, 1};  // per bucket; the last is +Inf
    const PrometheusText::Label labels[] = {{"model", "m"}};
    t.histogram("x_seconds", labels, bounds, counts, 7.5);
    CHECK(t.text() ==
          "x_seconds_bucket{model=\"m\",le=\"0.1\"} 2\n"
          "x_seconds_bucket{model=\"m\",le=\"1\"} 2\n"
          "x_seconds_bucket{model=\"m\",le=\"+Inf\"} 3\n"
          "x_seconds_sum{model=\"m\"} 7.5\n"
          "x_seconds_count{model=\"m\"} 3\n");
}

TEST_CASE("a histogram observation on a bucket's bound falls in that bucket (le is inclusive)")
{
    pipeline::LatencyHistogram h;
    h.observe(0.005);
    h.observe(0.0051);
    h.observe(10'000);
    CHECK(h.buckets[0] == 1);
    CHECK(h.buckets[1] == 1);
    CHECK(h.buckets.back() == 1);
    CHECK(h.count == 3);
    CHECK(h.sum_s == doctest::Approx(10'000.0101));
}

TEST_CASE("requests add up per provider/model/key; TTFT counts only streams; refusals by key and reason")
{
    pipeline::RequestMetrics m;
    m.on_request({.provider = "openai",
                  .model = "openai/gpt-4o",
                  .key_id = "default",
                  .status = 200,
                  .input_tokens = 10,
                  .cached_tokens = 4,
                  .output_tokens = 5,
                  .reasoning_tokens = 2,
                  .cost_usd = 0.25,
                  .latency_s = 0.12,
                  .ttft_ms = 40});
    m.on_request(
        {.provider = "openai", .model = "openai/gpt-4o", .key_id = "default", .status = 502, .latency_s = 0.003});
    m.on_request({.provider = "openai", .model = "openai/gpt-4o", .key_id = "vk_a", .status = 200, .latency_s = 0.003});
    m.on_refusal("vk_a", "rate_limit_exceeded");
    m.on_refusal("vk_a", "rate_limit_exceeded");
    const auto s = m.snapshot();
    REQUIRE(s.totals.size() == 2);
    const auto& [key, t] = s.totals[0];
    CHECK(std::get<2>(key) == "default");
    CHECK(t.requests == 2);
    CHECK(t.errors == 1);
    CHECK(t.input_tokens == 10);
    CHECK(t.cached_tokens == 4);
    CHECK(t.output_tokens == 5);
    CHECK(t.reasoning_tokens == 2);
    CHECK(t.cost_usd == doctest::Approx(0.25));
    REQUIRE(s.latency.size() == 1);
    CHECK(s.latency[0].second.count == 3);
    REQUIRE(s.ttft.size() == 1);
    CHECK(s.ttft[0].second.count == 1);
    REQUIRE(s.refusals.size() == 1);
    CHECK(s.refusals[0].second == 2);
}

TEST_CASE("the health board counts every finished attempt by outcome, never forgetting them with the window")
{
    auto now = std::chrono::steady_clock::time_point{} + std::chrono::hours(1000);
    routing::HealthBoard board(routing::HealthSettings{.window = std::chrono::milliseconds(1000)}, [&] { return now; });
    for (int i = 0; i < 3; ++i) {
        REQUIRE(board.try_start("openai/gpt-4o"));
        board.finish("openai/gpt-4o", {true, std::nullopt, std::chrono::milliseconds(5)});
    }
    REQUIRE(board.try_start("openai/gpt-4o"));
    board.finish("openai/gpt-4o", {false, aigw::wire::FailureKind::rate_limited, std::chrono::milliseconds(5)});
    now += std::chrono::hours(1);  // far outside the window
    const auto h = board.snapshot("openai/gpt-4o");
    CHECK(h.requests == 0);
    std::int64_t success = 0;
    std::int64_t limited = 0;
    for (std::size_t i = 0; i < h.attempts_total.size(); ++i) {
        if (routing::attempt_outcome_name(i) == "success") {
            success = h.attempts_total[i];
        } else if (routing::attempt_outcome_name(i) == "rate_limited") {
            limited = h.attempts_total[i];
        }
    }
    CHECK(success == 3);
    CHECK(limited == 1);
}

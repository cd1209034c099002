#pragma once
// What /metrics reports about requests: per provider/model/key counters (requests, errors,
// tokens, cost), latency and time-to-first-token histograms, limiter refusals and open
// streams. Updated once per request where its ledger row is recorded (one short lock),
// never per chunk; read by the scrape as a copy.

#include <array>
#include <atomic>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

namespace aigw::daemon::pipeline {

/// Upper bounds (seconds) of the latency and TTFT histogram buckets, +Inf implied: from a
/// cache hit (ms) to a long agent turn (minutes).
inline constexpr std::array<double, 16> k_latency_buckets_s = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1,
                                                               2.5,   5,    10,    30,   60,  120,  300, 600};

/// A histogram with k_latency_buckets_s: counts per bucket (not cumulative; the last is
/// +Inf), their sum and count.
struct LatencyHistogram {
    std::array<std::uint64_t, k_latency_buckets_s.size() + 1> buckets{};
    double sum_s = 0;
    std::uint64_t count = 0;
    void observe(double seconds);
};

/// Totals of one provider/model/key since the daemon started.
struct RequestTotals {
    std::uint64_t requests = 0;
    std::uint64_t errors = 0;  ///< final status >= 400
    std::int64_t input_tokens = 0;
    std::int64_t cached_tokens = 0;
    std::int64_t output_tokens = 0;
    std::int64_t reasoning_tokens = 0;
    double cost_usd = 0;
};

/// One finished request, as its final ledger row has it.
struct RequestSample {
    std::string_view provider;  ///< "" when no provider was chosen (refused, unknown model)
    std::string_view model;     ///< "provider/model" that served, or ""
    std::string_view key_id;    ///< virtual key id, or "default" for the gateway key: never a secret
    int status = 0;
    std::int64_t input_tokens = 0;
    std::int64_t cached_tokens = 0;
    std::int64_t output_tokens = 0;
    std::int64_t reasoning_tokens = 0;
    double cost_usd = 0;
    double latency_s = 0;       ///< arrival to last byte, at the steady clock's resolution
    std::int64_t ttft_ms = -1;  ///< -1: not a stream
};

/// A copy of every series, for one scrape.
struct RequestMetricsSnapshot {
    using SeriesKey = std::tuple<std::string, std::string, std::string>;  ///< provider, model, key id
    using ModelKey = std::tuple<std::string, std::string>;                ///< provider, model
    std::vector<std::pair<SeriesKey, RequestTotals>> totals;
    std::vector<std::pair<ModelKey, LatencyHistogram>> latency;
    std::vector<std::pair<ModelKey, LatencyHistogram>> ttft;
    std::vector<std::pair<std::tuple<std::string, std::string>, std::uint64_t>> refusals;  ///< (key id, reason)
};

/// Series are bounded by the config: provider and model come from the route (never the
/// client's model string), keys from the key store.
class RequestMetrics {
public:
    /// Adds one finished request. Thread-safe; one lock, no allocation once its series exists.
    void on_request(const RequestSample& s);
    /// The limiter refused `key_id` a model; `reason` is the refusal's code
    /// ("rate_limit_exceeded", "budget_exceeded", "permission_denied", "model_unpriced").
    void on_refusal(std::string_view key_id, std::string_view reason);
    RequestMetricsSnapshot snapshot() const;

    /// Streams being relayed to clients right now.
    std::atomic<std::int64_t> open_streams{0};

private:
    struct ByModel {
        LatencyHistogram latency;
        LatencyHistogram ttft;
    };
    mutable std::mutex m_mu;
    std::map<RequestMetricsSnapshot::SeriesKey, RequestTotals, std::less<>> m_totals;
    std::map<RequestMetricsSnapshot::ModelKey, ByModel, std::less<>> m_by_model;
    std::map<std::tuple<std::string, std::string>, std::uint64_t, std::less<>> m_refusals;
};

}  // namespace aigw::daemon::pipeline

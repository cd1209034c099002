#include "daemon/pipeline/metrics.hpp"

#include <algorithm>

namespace aigw::daemon::pipeline {

namespace {

/// The map entry for `key`, made on first use; later lookups compare string views only.
template <class Map, class View>
typename Map::mapped_type& entry(Map& m, const View& key)
{
    auto it = m.find(key);
    if (it == m.end()) {
        it = m.emplace(std::apply([](auto... s) { return typename Map::key_type(std::string(s)...); }, key),
                       typename Map::mapped_type{})
                 .first;
    }
    return it->second;
}

}  // namespace

void LatencyHistogram::observe(double seconds)
{
    const auto it = std::lower_bound(k_latency_buckets_s.begin(), k_latency_buckets_s.end(), seconds);
    ++buckets[static_cast<std::size_t>(it - k_latency_buckets_s.begin())];
    sum_s += seconds;
    ++count;
}

void RequestMetrics::on_request(const RequestSample& s)
{
    std::lock_guard lock(m_mu);
    RequestTotals& t = entry(
        m_totals, std::tuple<std::string_view, std::string_view, std::string_view>(s.provider, s.model, s.key_id));
    ++t.requests;
    if (s.status >= 400) {
        ++t.errors;
    }
    t.input_tokens += s.input_tokens;
    t.cached_tokens += s.cached_tokens;
    t.output_tokens += s.output_tokens;
    t.reasoning_tokens += s.reasoning_tokens;
    t.cost_usd += s.cost_usd;
    ByModel& m = entry(m_by_model, std::tuple<std::string_view, std::string_view>(s.provider, s.model));
    m.latency.observe(s.latency_s);
    if (s.ttft_ms >= 0) {
        m.ttft.observe(static_cast<double>(s.ttft_ms) / 1000.0);
    }
}

void RequestMetrics::on_refusal(std::string_view key_id, std::string_view reason)
{
    std::lock_guard lock(m_mu);
    ++entry(m_refusals, std::tuple<std::string_view, std::string_view>(key_id, reason));
}

RequestMetricsSnapshot RequestMetrics::snapshot() const
{
    RequestMetricsSnapshot out;
    std::lock_guard lock(m_mu);
    out.totals.assign(m_totals.begin(), m_totals.end());
    for (const auto& [k, m] : m_by_model) {
        out.latency.emplace_back(k, m.latency);
        if (m.ttft.count > 0) {
            out.ttft.emplace_back(k, m.ttft);
        }
    }
    out.refusals.assign(m_refusals.begin(), m_refusals.end());
    return out;
}

}  // namespace aigw::daemon::pipeline

#pragma once
// The Prometheus text exposition format (version 0.0.4), written by hand: # HELP and # TYPE
// once per family, then `name{label="value",...} number` lines. Pure: no daemon state.

#include <cstdint>
#include <initializer_list>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace aigw::daemon::surfaces {

/// The Content-Type of a scrape answer.
inline constexpr std::string_view k_prometheus_content_type = "text/plain; version=0.0.4; charset=utf-8";

/// A label value as the text format wants it: backslash, double quote and newline escaped
/// (\\, \", \n); every other byte as is (the format is UTF-8).
std::string escape_label_value(std::string_view v);
/// A sample value: whole numbers without a fraction, others in the shortest form that
/// reads back exactly, and +Inf, -Inf, NaN.
std::string format_sample_value(double v);

class PrometheusText {
public:
    using Label = std::pair<std::string_view, std::string_view>;

    /// Starts a family: its # HELP and # TYPE lines. `type` is counter, gauge or histogram.
    void family(std::string_view name, std::string_view type, std::string_view help);
    /// One sample line. `name` is the family's name, or it with a suffix (_bucket, _sum, _count).
    void sample(std::string_view name, std::initializer_list<Label> labels, double value);
    void sample(std::string_view name, std::span<const Label> labels, double value);
    /// A whole histogram series: a cumulative _bucket line per bound and +Inf, then _sum and
    /// _count. `counts` holds per-bucket (not cumulative) counts, one more than `bounds`.
    void histogram(std::string_view name, std::span<const Label> labels, std::span<const double> bounds,
                   std::span<const std::uint64_t> counts, double sum);

    const std::string& text() const { return m_out; }
    std::string take() { return std::move(m_out); }

private:
    std::string m_out;
};

}  // namespace aigw::daemon::surfaces

#include "daemon/surfaces/admin/prometheus_text.hpp"

#include <charconv>
#include <cmath>

namespace aigw::daemon::surfaces {

std::string escape_label_value(std::string_view v)
{
    std::string out;
    out.reserve(v.size());
    for (char c : v) {
        if (c == '\\') {
            out += "\\\\";
        } else if (c == '"') {
            out += "\\\"";
        } else if (c == '\n') {
            out += "\\n";
        } else {
            out += c;
        }
    }
    return out;
}

std::string format_sample_value(double v)
{
    if (std::isnan(v)) {
        return "NaN";
    }
    if (std::isinf(v)) {
        return v > 0 ? "+Inf" : "-Inf";
    }
    char buf[64];
    std::to_chars_result r{};
    if (v == std::trunc(v) && std::fabs(v) < 1e15) {
        r = std::to_chars(buf, buf + sizeof buf, static_cast<std::int64_t>(v));
    } else {
        r = std::to_chars(buf, buf + sizeof buf, v);
    }
    return std::string(buf, r.ptr);
}

void PrometheusText::family(std::string_view name, std::string_view type, std::string_view help)
{
    m_out.append("# HELP ").append(name).append(" ");
    // HELP text escapes only backslash and newline.
    for (char c : help) {
        if (c == '\\') {
            m_out += "\\\\";
        } else if (c == '\n') {
            m_out += "\\n";
        } else {
            m_out += c;
        }
    }
    m_out.append("\n# TYPE ").append(name).append(" ").append(type).append("\n");
}

void PrometheusText::sample(std::string_view name, std::initializer_list<Label> labels, double value)
{
    sample(name, std::span<const Label>(labels.begin(), labels.size()), value);
}

void PrometheusText::sample(std::string_view name, std::span<const Label> labels, double value)
{
    m_out.append(name);
    if (!labels.empty()) {
        m_out += '{';
        bool first = true;
        for (const auto& [k, v] : labels) {
            if (!first) {
                m_out += ',';
            }
            first = false;
            m_out.append(k).append("=\"").append(escape_label_value(v)).append("\"");
        }
        m_out += '}';
    }
    m_out.append(" ").append(format_sample_value(value)).append("\n");
}

void PrometheusText::histogram(std::string_view name, std::span<const Label> labels, std::span<const double> bounds,
                               std::span<const std::uint64_t> counts, double sum)
{
    std::vector<Label> with_le(labels.begin(), labels.end());
    with_le.emplace_back("le", "");
    const std::string bucket = std::string(name) + "_bucket";
    std::uint64_t cumulative = 0;
    for (std::size_t i = 0; i <= bounds.size(); ++i) {
        cumulative += i < counts.size() ? counts[i] : 0;
        const std::string le = i < bounds.size() ? format_sample_value(bounds[i]) : std::string("+Inf");
        with_le.back().second = le;
        sample(bucket, with_le, static_cast<double>(cumulative));
    }
    sample(std::string(name) + "_sum", labels, sum);
    sample(std::string(name) + "_count", labels, static_cast<double>(cumulative));
}

}  // namespace aigw::daemon::surfaces

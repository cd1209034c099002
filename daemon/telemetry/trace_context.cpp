#include "daemon/telemetry/trace_context.hpp"

#include <random>

namespace aigw::daemon::telemetry {

namespace {

constexpr char k_hex[] = "0123456789abcdef";

int hex_value(char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    return -1;  // upper case is not allowed by the spec
}

/// `text` (2 * N lower-case hex digits) into `out`; false when a digit is bad.
template <std::size_t N>
bool read_hex(std::string_view text, std::array<std::uint8_t, N>& out)
{
    if (text.size() != 2 * N) {
        return false;
    }
    for (std::size_t i = 0; i < N; ++i) {
        const int hi = hex_value(text[2 * i]);
        const int lo = hex_value(text[2 * i + 1]);
        if (hi < 0 || lo < 0) {
            return false;
        }
        out[i] = static_cast<std::uint8_t>(hi * 16 + lo);
    }
    return true;
}

template <std::size_t N>
std::string hex_of(const std::array<std::uint8_t, N>& bytes)
{
    std::string out(2 * N, '0');
    for (std::size_t i = 0; i < N; ++i) {
        out[2 * i] = k_hex[bytes[i] >> 4];
        out[2 * i + 1] = k_hex[bytes[i] & 0xf];
    }
    return out;
}

template <std::size_t N>
bool all_zero(const std::array<std::uint8_t, N>& bytes)
{
    for (auto b : bytes) {
        if (b != 0) {
            return false;
        }
    }
    return true;
}

template <std::size_t N>
std::array<std::uint8_t, N> random_id()
{
    thread_local std::mt19937_64 rng{std::random_device{}()};
    std::array<std::uint8_t, N> out{};
    do {
        for (std::size_t i = 0; i < N; i += 8) {
            std::uint64_t r = rng();
            for (std::size_t j = i; j < N && j < i + 8; ++j) {
                out[j] = static_cast<std::uint8_t>(r & 0xff);
                r >>= 8;
            }
        }
    } while (all_zero(out));
    return out;
}

}  // namespace

std::optional<TraceParent> parse_traceparent(std::string_view h)
{
    // Optional whitespace around the value is tolerated, as HTTP allows it.
    while (!h.empty() && (h.front() == ' ' || h.front() == '\t')) {
        h.remove_prefix(1);
    }
    while (!h.empty() && (h.back() == ' ' || h.back() == '\t')) {
        h.remove_suffix(1);
    }
    if (h.size() < 55 || h[2] != '-' || h[35] != '-' || h[52] != '-') {
        return std::nullopt;
    }
    std::array<std::uint8_t, 1> version{};
    if (!read_hex(h.substr(0, 2), version) || version[0] == 0xff) {
        return std::nullopt;
    }
    if (version[0] == 0 ? h.size() != 55 : (h.size() > 55 && h[55] != '-')) {
        return std::nullopt;
    }
    TraceParent tp;
    std::array<std::uint8_t, 1> flags{};
    if (!read_hex(h.substr(3, 32), tp.trace_id) || !read_hex(h.substr(36, 16), tp.parent_id) ||
        !read_hex(h.substr(53, 2), flags)) {
        return std::nullopt;
    }
    if (all_zero(tp.trace_id) || all_zero(tp.parent_id)) {
        return std::nullopt;
    }
    tp.flags = flags[0];
    return tp;
}

std::string format_traceparent(const TraceId& trace, const SpanId& span, std::uint8_t flags)
{
    std::string out = "00-";
    out += hex_of(trace);
    out += '-';
    out += hex_of(span);
    out += '-';
    out += k_hex[flags >> 4];
    out += k_hex[flags & 0xf];
    return out;
}

std::string to_hex(const TraceId& id)
{
    return hex_of(id);
}

std::string to_hex(const SpanId& id)
{
    return hex_of(id);
}

TraceId random_trace_id()
{
    return random_id<16>();
}

SpanId random_span_id()
{
    return random_id<8>();
}

bool sampled_by_ratio(const TraceId& id, double ratio)
{
    if (ratio >= 1) {
        return true;
    }
    if (ratio <= 0) {
        return false;
    }
    std::uint64_t v = 0;
    for (std::size_t i = 8; i < 16; ++i) {
        v = (v << 8) | id[i];
    }
    // 2^64 as a double; the product is below it, so the conversion back is defined.
    const double bound = ratio * 18446744073709551616.0;
    return static_cast<double>(v) < bound;
}

}  // namespace aigw::daemon::telemetry

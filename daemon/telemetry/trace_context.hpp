#pragma once
// W3C Trace Context (https://www.w3.org/TR/trace-context/): the `traceparent` header a client
// sends and aigw passes upstream, and the random ids of new traces and spans. Pure.

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace aigw::daemon::telemetry {

using TraceId = std::array<std::uint8_t, 16>;
using SpanId = std::array<std::uint8_t, 8>;

/// A parsed `traceparent`: version 00's fields.
struct TraceParent {
    TraceId trace_id{};
    SpanId parent_id{};
    std::uint8_t flags = 0;  ///< bit 0: sampled
    bool sampled() const { return (flags & 1) != 0; }
};

/// Parses `version-traceid-parentid-flags` (lower-case hex, 2-32-16-2). Returns nullopt for
/// anything malformed: wrong lengths or separators, upper-case or non-hex digits, version
/// ff, an all-zero trace or parent id, or a version 00 header with trailing data. A later
/// version is read by its first four fields, as the spec asks.
std::optional<TraceParent> parse_traceparent(std::string_view header);
/// "00-<trace id>-<span id>-<flags>".
std::string format_traceparent(const TraceId& trace, const SpanId& span, std::uint8_t flags);

/// Lower-case hex of the bytes (32 digits for a trace id, 16 for a span id).
std::string to_hex(const TraceId& id);
std::string to_hex(const SpanId& id);

/// Random non-zero ids from a per-thread PRNG (ids need to be unique, not secret).
TraceId random_trace_id();
SpanId random_span_id();

/// Whether a new trace with this id is kept at `ratio` (0..1): the id's last 8 bytes, read
/// as a number, below ratio * 2^64 -- the same trace is kept or not wherever it is decided.
bool sampled_by_ratio(const TraceId& id, double ratio);

}  // namespace aigw::daemon::telemetry

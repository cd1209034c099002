#pragma once
// OTLP/HTTP's JSON encoding of an ExportTraceServiceRequest
// (opentelemetry-proto's trace_service.proto, JSON mapping): hex trace and span ids,
// times in Unix nanoseconds as decimal strings, int64 attribute values as strings, enum
// values as numbers. Pure.

#include "daemon/telemetry/span.hpp"

#include <span>
#include <string>

namespace aigw::daemon::telemetry {

/// One resourceSpans with one scopeSpans ("aigw") holding `spans`.
std::string encode_traces_json(const Resource& resource, std::span<const Span> spans);

}  // namespace aigw::daemon::telemetry

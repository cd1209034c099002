#pragma once
// A finished span as the exporter sends it: ids, name, kind, times, status, attributes.
// Built once when a request ends (never updated in place), so it needs no lock.

#include "daemon/telemetry/trace_context.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <variant>
#include <vector>

namespace aigw::daemon::telemetry {

/// OTLP's SpanKind values.
enum class SpanKind : int { internal = 1, server = 2, client = 3 };
/// OTLP's Status.code values.
enum class StatusCode : int { unset = 0, ok = 1, error = 2 };

struct Attribute {
    std::string key;
    std::variant<std::string, std::int64_t, double, bool, std::vector<std::string>> value;
};

struct Span {
    TraceId trace_id{};
    SpanId span_id{};
    std::optional<SpanId> parent_span_id;  ///< none: a root span
    std::string trace_state;               ///< the W3C tracestate it carried, "" when none
    std::uint8_t flags = 1;
    std::string name;
    SpanKind kind = SpanKind::internal;
    std::int64_t start_unix_ns = 0;
    std::int64_t end_unix_ns = 0;
    StatusCode status = StatusCode::unset;
    std::string status_message;
    std::vector<Attribute> attributes;

    void set(std::string key, std::string v) { attributes.push_back({std::move(key), std::move(v)}); }
    void set(std::string key, const char* v) { attributes.push_back({std::move(key), std::string(v)}); }
    void set(std::string key, std::int64_t v) { attributes.push_back({std::move(key), v}); }
    void set(std::string key, int v) { attributes.push_back({std::move(key), static_cast<std::int64_t>(v)}); }
    void set(std::string key, double v) { attributes.push_back({std::move(key), v}); }
    void set(std::string key, bool v) { attributes.push_back({std::move(key), v}); }
    void set(std::string key, std::vector<std::string> v) { attributes.push_back({std::move(key), std::move(v)}); }
};

/// What identifies the process that made the spans (the OTLP resource and scope).
struct Resource {
    std::string service_name = "aigwd";
    std::string service_version;
};

}  // namespace aigw::daemon::telemetry

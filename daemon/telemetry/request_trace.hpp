#pragma once
// The trace state one request carries through the pipeline: its trace and SERVER span ids
// (the client's trace continued when it sent a valid traceparent), and one entry per
// upstream attempt, each a CLIENT span whose id goes upstream in that attempt's traceparent.

#include "daemon/telemetry/trace_context.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace aigw::daemon::telemetry {

/// One upstream attempt, for its CLIENT span.
struct AttemptTrace {
    SpanId span_id{};
    std::int64_t start_unix_ns = 0;
    std::int64_t end_unix_ns = 0;  ///< 0: the attempt served; it ends with the request
    std::string model_id;          ///< "provider/model"
    std::string provider;
    std::string upstream_model;  ///< the model name sent upstream
    std::string base_url;
    int status = 0;       ///< of a failed attempt
    std::string outcome;  ///< "success", or the failure's kind ("rate_limited", "timeout", ...)
    std::string error;    ///< a failed attempt's message (secrets already scrubbed)
    std::string reason;   ///< why this attempt happened ("" for the first)
};

struct RequestTrace {
    bool on = false;       ///< export is configured: spans are made (if sampled) and ids sent upstream
    bool sampled = false;  ///< this request's spans are exported
    TraceId trace_id{};
    SpanId span_id{};                ///< the request's SERVER span
    std::optional<SpanId> parent;    ///< the client's span, from its traceparent
    std::uint8_t flags = 0;          ///< trace flags sent upstream
    std::string client_traceparent;  ///< a valid one from the client (forwarded as is when export is off)
    std::string tracestate;          ///< the client's, passed on with a valid traceparent
    std::int64_t start_unix_ns = 0;
    // What the request asked for (gen_ai.request.*), read from the canonical body when tracing.
    std::optional<std::int64_t> max_tokens;
    std::optional<double> temperature;
    std::optional<double> top_p;
    /// Why the model stopped, one per choice of the answer as the pipeline read it
    /// ("stop", "length", "tool_calls", ...: gen_ai.response.finish_reasons); empty when
    /// unknown (a failure, a cache hit, a passthrough the pipeline does not read).
    std::vector<std::string> finish_reasons;
    std::vector<AttemptTrace> attempts;

    /// The traceparent the current attempt sends upstream: the attempt's own span when export
    /// is on, else the client's unchanged; "" when there is none.
    std::string upstream_traceparent() const
    {
        if (on && !attempts.empty()) {
            return format_traceparent(trace_id, attempts.back().span_id, flags);
        }
        return client_traceparent;
    }
};

}  // namespace aigw::daemon::telemetry

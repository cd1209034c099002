#pragma once
// One inbound request as it moves through the pipeline: who sent it, what it asked for,
// its deadlines, which attempts it made. It ends as the request's ledger rows.

#include "daemon/http/access.hpp"
#include "daemon/limits/limiter.hpp"
#include "daemon/routing/router.hpp"
#include "daemon/telemetry/request_trace.hpp"

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace aigw::daemon::pipeline {

/// A failed attempt of a request, kept for its ledger row.
struct AttemptNote {
    std::string served_model;  ///< "provider/model"
    std::string provider;
    int status = 0;
    std::string error;
    std::string reason;  ///< why this attempt happened ("" for the first)
    std::int64_t latency_ms = 0;
};

/// Deadlines of one request: [upstream] defaults, x-aigw-timeout-ms overrides.
struct RequestTimeouts {
    std::chrono::milliseconds connect{10'000};
    std::chrono::milliseconds first_byte{300'000};  ///< answer (non-stream) or first content (stream)
    std::chrono::milliseconds idle{120'000};        ///< gap between stream chunks
    std::chrono::milliseconds total{900'000};       ///< every attempt and wait included
};

struct CacheTicket;  // daemon/pipeline/cache_glue.hpp

/// Everything one inbound request carries through the pipeline, for headers and the ledger.
struct Exchange {
    std::string request_id;
    std::int64_t ts_ms = 0;
    std::chrono::steady_clock::time_point t0;
    std::string surface;  ///< "openai.chat", "openai.embeddings", ...
    std::string key_id = "default";
    std::string requested_model;
    routing::Route route;
    bool stream = false;
    std::string tag;           ///< x-aigw-tag: groups requests in reports (bench runs, scripts)
    std::string variant;       ///< A/B variant that served the request, when split
    std::string session;       ///< the agent session (see session_of in dispatcher.hpp)
    std::string request_body;  ///< kept only when body logging is on

    // ---- routing: read from the request's headers by Dispatcher::begin() ----
    std::string fallback_header;  ///< x-aigw-fallback
    RequestTimeouts timeouts;
    std::chrono::steady_clock::time_point deadline;  ///< t0 + timeouts.total
    int max_retries = 2;                             ///< [routing] retries, or x-aigw-retries
    std::optional<wire::Failure> header_error;       ///< a routing header that could not be read
    // ---- filled by the attempts ----
    std::vector<AttemptNote> failed_attempts;  ///< before the final one
    std::string attempt_reason;                ///< why the final attempt happened ("" when it was the first)
    // ---- limits: taken by Dispatcher::admit, settled by Dispatcher::record ----
    limits::Reservation reservation;
    std::string admitted_model;  ///< the model id the caller was last admitted for
    bool cache_blocked = false;  ///< the requested model could not be admitted up front: no cache lookup
    // ---- response cache (cache_glue.hpp) ----
    bool cache_hit = false;              ///< answered from the cache: cost 0, ledger cache_hit = 1
    double saved_usd = 0;                ///< on a hit: what the original call cost (ledger saved_usd)
    std::shared_ptr<CacheTicket> cache;  ///< on a miss that may be stored: what to store it under
    // ---- the access log: the server's note on the request, filled by begin/authorize/record ----
    std::shared_ptr<http::AccessNote> access;
    // ---- tracing (daemon/telemetry): set up by Dispatcher::begin, one entry per attempt ----
    telemetry::RequestTrace trace;
};

}  // namespace aigw::daemon::pipeline

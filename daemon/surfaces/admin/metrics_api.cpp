// GET /metrics: the daemon's counters in the Prometheus text format. Everything here is
// read from counters the request path already keeps (the dispatcher's request metrics, the
// health board, the cache, the ledger queue, the server): a scrape takes a few short locks
// and touches no database, so it runs on the event loop.

#include "daemon/surfaces/admin/admin_api.hpp"

#include "daemon/cluster/shared_cache.hpp"
#include "daemon/cluster/shared_limits.hpp"
#include "daemon/surfaces/admin/prometheus_text.hpp"
#include "daemon/telemetry/exporter.hpp"
#include "daemon/telemetry/memory.hpp"

namespace aigw::daemon::surfaces {

namespace {

using Label = PrometheusText::Label;

/// "openai" of "openai/gpt-4o-mini".
std::string_view provider_of(std::string_view deployment)
{
    const auto slash = deployment.find('/');
    return slash == std::string_view::npos ? deployment : deployment.substr(0, slash);
}

void write_requests(PrometheusText& out, const pipeline::RequestMetricsSnapshot& m)
{
    out.family("aigw_requests_total", "counter",
               "Requests answered (one per final ledger row), by serving provider/model and client key id.");
    for (const auto& [k, t] : m.totals) {
        const auto& [provider, model, key] = k;
        out.sample("aigw_requests_total", {{"provider", provider}, {"model", model}, {"key", key}},
                   static_cast<double>(t.requests));
    }
    out.family("aigw_request_errors_total", "counter", "Requests answered with a status of 400 or more.");
    for (const auto& [k, t] : m.totals) {
        const auto& [provider, model, key] = k;
        out.sample("aigw_request_errors_total", {{"provider", provider}, {"model", model}, {"key", key}},
                   static_cast<double>(t.errors));
    }
    out.family("aigw_tokens_total", "counter",
               "Tokens as the provider counted them: input, cached (part of input), output, reasoning (part of "
               "output).");
    for (const auto& [k, t] : m.totals) {
        const auto& [provider, model, key] = k;
        const std::pair<std::string_view, std::int64_t> types[] = {{"input", t.input_tokens},
                                                                   {"cached", t.cached_tokens},
                                                                   {"output", t.output_tokens},
                                                                   {"reasoning", t.reasoning_tokens}};
        for (const auto& [type, n] : types) {
            out.sample("aigw_tokens_total", {{"provider", provider}, {"model", model}, {"key", key}, {"type", type}},
                       static_cast<double>(n));
        }
    }
    out.family("aigw_cost_usd_total", "counter", "Cost in USD from the catalog prices.");
    for (const auto& [k, t] : m.totals) {
        const auto& [provider, model, key] = k;
        out.sample("aigw_cost_usd_total", {{"provider", provider}, {"model", model}, {"key", key}}, t.cost_usd);
    }
    const std::pair<
        const char*,
        const std::vector<std::pair<pipeline::RequestMetricsSnapshot::ModelKey, pipeline::LatencyHistogram>>*>
        histograms[] = {{"aigw_request_duration_seconds", &m.latency}, {"aigw_time_to_first_token_seconds", &m.ttft}};
    for (const auto& [name, series] : histograms) {
        out.family(name, "histogram",
                   std::string_view(name) == "aigw_request_duration_seconds"
                       ? "Time from a request's arrival to its last byte (every attempt and wait included)."
                       : "Time from a streamed request's arrival to its first content.");
        for (const auto& [k, h] : *series) {
            const auto& [provider, model] = k;
            const Label labels[] = {{"provider", provider}, {"model", model}};
            out.histogram(name, labels, pipeline::k_latency_buckets_s, h.buckets, h.sum_s);
        }
    }
    out.family("aigw_limiter_refusals_total", "counter",
               "Admissions the limiter refused, by client key id and reason (rate_limit_exceeded, budget_exceeded, "
               "permission_denied, model_unpriced).");
    for (const auto& [k, n] : m.refusals) {
        const auto& [key, reason] = k;
        out.sample("aigw_limiter_refusals_total", {{"key", key}, {"reason", reason}}, static_cast<double>(n));
    }
}

void write_deployments(PrometheusText& out, const std::vector<routing::DeploymentHealth>& all)
{
    out.family("aigw_upstream_attempts_total", "counter",
               "Upstream attempts (retries and fallbacks each count), by deployment and outcome (success or the "
               "failure's kind).");
    for (const auto& h : all) {
        for (std::size_t i = 0; i < h.attempts_total.size(); ++i) {
            if (h.attempts_total[i] == 0) {
                continue;
            }
            out.sample(
                "aigw_upstream_attempts_total",
                {{"provider", provider_of(h.id)}, {"model", h.id}, {"outcome", routing::attempt_outcome_name(i)}},
                static_cast<double>(h.attempts_total[i]));
        }
    }
    out.family("aigw_circuit_state", "gauge",
               "Circuit breaker of each deployment tried so far: 1 for its current state, 0 for the others.");
    constexpr routing::CircuitState k_states[] = {routing::CircuitState::closed, routing::CircuitState::open,
                                                  routing::CircuitState::half_open};
    for (const auto& h : all) {
        for (auto s : k_states) {
            out.sample("aigw_circuit_state",
                       {{"provider", provider_of(h.id)}, {"model", h.id}, {"state", routing::to_string(s)}},
                       h.state == s ? 1 : 0);
        }
    }
    out.family("aigw_upstream_inflight", "gauge", "Upstream attempts in flight per deployment.");
    for (const auto& h : all) {
        out.sample("aigw_upstream_inflight", {{"provider", provider_of(h.id)}, {"model", h.id}}, h.inflight);
    }
}

void write_cache(PrometheusText& out, const cache::CacheStats& s)
{
    out.family("aigw_cache_hits_total", "counter", "Requests answered from the response cache (semantic included).");
    out.sample("aigw_cache_hits_total", {}, static_cast<double>(s.hits));
    out.family("aigw_cache_semantic_hits_total", "counter", "Cache hits found by meaning rather than exact match.");
    out.sample("aigw_cache_semantic_hits_total", {}, static_cast<double>(s.semantic_hits));
    out.family("aigw_cache_misses_total", "counter", "Cache lookups that found nothing.");
    out.sample("aigw_cache_misses_total", {}, static_cast<double>(s.misses));
    out.family("aigw_cache_savings_usd_total", "counter", "What the cache hits would have cost, in USD.");
    out.sample("aigw_cache_savings_usd_total", {}, s.saved_usd);
    out.family("aigw_cache_evictions_total", "counter", "Entries dropped to make room.");
    out.sample("aigw_cache_evictions_total", {}, static_cast<double>(s.evictions));
    out.family("aigw_cache_entries", "gauge", "Answers in the cache.");
    out.sample("aigw_cache_entries", {}, static_cast<double>(s.entries));
    out.family("aigw_cache_bytes", "gauge", "Bytes the cached answers take.");
    out.sample("aigw_cache_bytes", {}, static_cast<double>(s.bytes));
}

/// [cluster] redis_url is set: whether Redis answered last, and what its outages cost.
void write_cluster(PrometheusText& out, const cluster::SharedLimits& shared, const pipeline::Dispatcher& d)
{
    out.family("aigw_cluster_redis_up", "gauge",
               "1 when the last call to the shared rate limits' Redis succeeded, 0 during an outage.");
    out.sample("aigw_cluster_redis_up", {}, shared.redis_up() ? 1 : 0);
    out.family("aigw_cluster_redis_errors_total", "counter",
               "Calls to Redis that failed (unreachable, timed out, refused).");
    out.sample("aigw_cluster_redis_errors_total", {}, static_cast<double>(shared.errors()));
    out.family("aigw_cluster_fallbacks_total", "counter",
               "Requests admitted on this instance's own rate limits because Redis was unreachable "
               "(redis_down = \"local\").");
    out.sample("aigw_cluster_fallbacks_total", {}, static_cast<double>(d.cluster_fallbacks()));
    out.family("aigw_cluster_refusals_total", "counter",
               "Requests answered 503 because Redis was unreachable (redis_down = \"refuse\").");
    out.sample("aigw_cluster_refusals_total", {}, static_cast<double>(d.cluster_refusals()));
}

/// [cluster] redis_url is set: the response cache's Redis tier, asked after a local miss.
void write_cluster_cache(PrometheusText& out, const cluster::SharedCache& shared)
{
    const cluster::SharedCacheStats s = shared.stats();
    out.family("aigw_cluster_cache_hits_total", "counter",
               "Local cache misses answered from an entry another instance shared through Redis.");
    out.sample("aigw_cluster_cache_hits_total", {}, static_cast<double>(s.hits));
    out.family("aigw_cluster_cache_misses_total", "counter", "Local cache misses Redis had no live entry for either.");
    out.sample("aigw_cluster_cache_misses_total", {}, static_cast<double>(s.misses));
    out.family("aigw_cluster_cache_errors_total", "counter",
               "Cache lookups and stores in Redis that failed (unreachable, timed out, a bad entry); a failed "
               "lookup is a miss.");
    out.sample("aigw_cluster_cache_errors_total", {}, static_cast<double>(s.errors));
    out.family("aigw_cluster_cache_stores_total", "counter", "Cache entries written to Redis.");
    out.sample("aigw_cluster_cache_stores_total", {}, static_cast<double>(s.stores));
    out.family("aigw_cluster_cache_too_large_total", "counter",
               "Cache entries over 1 MiB encoded, kept on this instance only.");
    out.sample("aigw_cluster_cache_too_large_total", {}, static_cast<double>(s.too_large));
}

void write_traces(PrometheusText& out, const telemetry::SpanExporter& traces)
{
    const telemetry::ExporterStats s = traces.stats();
    out.family("aigw_otel_spans_exported_total", "counter", "Spans the OTLP collector accepted.");
    out.sample("aigw_otel_spans_exported_total", {}, static_cast<double>(s.exported));
    out.family("aigw_otel_spans_dropped_total", "counter",
               "Spans not exported, by reason: queue_full (the collector could not keep up), export_failed (it "
               "was down or refused them), shutdown.");
    for (std::size_t i = 0; i < telemetry::k_drop_reasons; ++i) {
        out.sample("aigw_otel_spans_dropped_total",
                   {{"reason", telemetry::to_string(static_cast<telemetry::DropReason>(i))}},
                   static_cast<double>(s.dropped[i]));
    }
    out.family("aigw_otel_export_errors_total", "counter",
               "POSTs to the OTLP collector that failed (retries included).");
    out.sample("aigw_otel_export_errors_total", {}, static_cast<double>(s.export_errors));
    out.family("aigw_otel_queue_spans", "gauge", "Spans waiting to be exported.");
    out.sample("aigw_otel_queue_spans", {}, static_cast<double>(s.queued));
}

}  // namespace

void AdminApi::install_metrics_route()
{
    m_routes->add("GET", "/metrics", [this](http::Request& req, http::Responder& out) -> asio::awaitable<void> {
        if (auto refused = m_d.authorize_metrics(req)) {
            co_await out.send(pipeline::failure_response(*refused, pipeline::Shape::openai));
            co_return;
        }
        PrometheusText text;
        text.family("aigw_build_info", "gauge", "Always 1; the version is a label.");
        text.sample("aigw_build_info", {{"version", AIGW_VERSION}}, 1);
        text.family("aigw_uptime_seconds", "gauge", "Seconds since aigwd started.");
        text.sample("aigw_uptime_seconds", {},
                    std::chrono::duration<double>(std::chrono::steady_clock::now() - m_hooks.started).count());
        write_requests(text, m_d.metrics().snapshot());
        write_deployments(text, m_router->health().all());
        write_cache(text, m_cache->stats());

        text.family("aigw_ledger_queue_depth", "gauge", "Ledger rows recorded and not yet committed to ledger.db.");
        text.sample("aigw_ledger_queue_depth", {}, static_cast<double>(m_ledger->queue_depth()));
        text.family("aigw_ledger_lag_seconds", "gauge",
                    "How long the oldest uncommitted ledger row has waited (0 when all are committed).");
        text.sample("aigw_ledger_lag_seconds", {}, static_cast<double>(m_ledger->lag().count()) / 1000.0);

        const http::ServerStats server = m_hooks.server_stats ? m_hooks.server_stats() : http::ServerStats{};
        text.family("aigw_open_connections", "gauge", "Client connections open now.");
        text.sample("aigw_open_connections", {}, static_cast<double>(server.open_connections));
        text.family("aigw_active_requests", "gauge", "Requests being handled now (this scrape included).");
        text.sample("aigw_active_requests", {}, static_cast<double>(server.active_requests));
        text.family("aigw_refused_connections_total", "counter", "Connections answered 503 at max_connections.");
        text.sample("aigw_refused_connections_total", {}, static_cast<double>(server.refused_connections));
        text.family("aigw_tls_handshake_failures_total", "counter",
                    "TLS connections closed before a request: failed handshakes and plain HTTP on the TLS port.");
        text.sample("aigw_tls_handshake_failures_total", {}, static_cast<double>(server.tls_handshake_failures));
        text.family("aigw_open_streams", "gauge", "Streamed answers being relayed to clients now.");
        text.sample("aigw_open_streams", {},
                    static_cast<double>(m_d.metrics().open_streams.load(std::memory_order_relaxed)));
        if (const auto rss = telemetry::resident_bytes()) {
            text.family("aigw_resident_memory_bytes", "gauge", "aigwd's resident memory (VmRSS), in bytes.");
            text.sample("aigw_resident_memory_bytes", {}, static_cast<double>(*rss));
        }
        if (const auto heap = telemetry::heap_allocated_bytes()) {
            text.family("aigw_heap_allocated_bytes", "gauge",
                        "Bytes held by aigwd's live allocations (freed memory the allocator keeps is not counted).");
            text.sample("aigw_heap_allocated_bytes", {}, static_cast<double>(*heap));
        }
        text.family("aigw_unknown_routes_total", "counter", "Requests for routes aigwd does not serve (404/405).");
        text.sample("aigw_unknown_routes_total", {}, static_cast<double>(m_d.unknown_routes().first));
        if (m_d.traces() != nullptr) {
            write_traces(text, *m_d.traces());
        }
        if (const cluster::SharedLimits* shared = m_d.shared_limits(); shared != nullptr) {
            write_cluster(text, *shared, m_d);
        }
        if (const cluster::SharedCache* shared = m_d.shared_cache(); shared != nullptr) {
            write_cluster_cache(text, *shared);
        }

        http::Response res;
        res.set_content(text.take(), k_prometheus_content_type);
        co_await out.send(std::move(res));
    });
}

}  // namespace aigw::daemon::surfaces

#pragma once
// The one dispatcher every surface calls: who is calling (authorize), whether each
// candidate may be used (admit), one attempt or one stream on a route (deadline, circuit
// breaker via run(), ledger row), and the relay of a stream to the client with
// backpressure. A surface turns its request into canonical JSON, calls these, and writes
// the canonical answer (or chunks) in its own format.

#include "daemon/cache/response_cache.hpp"
#include "daemon/http/message.hpp"
#include "daemon/ledger/ledger.hpp"
#include "daemon/limits/key_store.hpp"
#include "daemon/pipeline/attempts.hpp"
#include "daemon/pipeline/metrics.hpp"
#include "daemon/pipeline/stream_writer.hpp"
#include "daemon/upstream/transport.hpp"

#include <array>
#include <atomic>
#include <expected>
#include <initializer_list>
#include <mutex>
#include <string_view>

namespace aigw::daemon::cluster {
class SharedLimits;  // daemon/cluster/shared_limits.hpp
class SharedCache;   // daemon/cluster/shared_cache.hpp
}  // namespace aigw::daemon::cluster

namespace aigw::daemon::telemetry {
class SpanExporter;  // daemon/telemetry/exporter.hpp: only the dispatcher and /metrics need it whole
}

namespace aigw::daemon::pipeline {

/// The error shape of an inbound surface.
enum class Shape { openai, anthropic, gemini };

/// What the pipeline works with; owned by the composition root (app/gateway).
struct Services {
    const config::Config* cfg = nullptr;       ///< a fixed config (tests), unless `live` is set
    const config::LiveConfig* live = nullptr;  ///< the daemon's: reloads apply to new requests
    std::string gateway_key;
    routing::Router* router = nullptr;
    upstream::Transport* http = nullptr;  ///< http:// and https:// providers
    upstream::Transport* mock = nullptr;  ///< the in-process mock provider
    ledger::Ledger* ledger = nullptr;
    limits::Limiter* limiter = nullptr;
    limits::KeyStore* keys = nullptr;
    cache::ResponseCache* cache = nullptr;
    telemetry::SpanExporter* traces = nullptr;  ///< [otel]: null when no collector is configured
    /// [cluster] redis_url: the rate buckets live in Redis, shared by every instance; null:
    /// they are this instance's own (the limiter's).
    cluster::SharedLimits* shared_limits = nullptr;
    /// [cluster] redis_url: exact cache entries are shared through Redis too; null: local only.
    cluster::SharedCache* shared_cache = nullptr;
};

/// The key id a request made with the gateway key (not a virtual key) is recorded under.
inline constexpr const char* k_admin_key_id = "default";

/// A request's id: "req_" + 12 hex digits of the Unix time in ms + 12 random ones. Ids sort by
/// time, so the ledger's request_id index grows at its right edge instead of touching a
/// random page per row (at thousands of rows a second that was a large part of the
/// ledger's disk writes).
std::string request_id_at(std::int64_t unix_ms);

/// The agent session a request belongs to, recorded in the ledger's `session` column:
/// x-aigw-session (which the server also sets from a /s/{session}/ path), else the first
/// agent session header that holds a valid id (http::is_valid_session_id), in the order of
/// k_agent_session_headers; "" when there is none. An x-aigw-session that is not a valid
/// id is an error message (the request's 400); an agent's is skipped.
std::expected<std::string, std::string> session_of(const http::Request& req);

/// The session headers agents send by themselves, most specific first: Claude Code's,
/// Codex CLI's (session-id; session_id in older versions), opencode's (X-Session-Id to
/// providers other than its own, x-opencode-session to those).
inline constexpr std::array<std::string_view, 5> k_agent_session_headers{
    "x-claude-code-session-id", "session-id", "session_id", "x-session-id", "x-opencode-session"};

/// A streamed answer from one attempt, held back until its first content arrived.
struct StreamState;

class Dispatcher {
public:
    explicit Dispatcher(Services s, AttemptEnv env = real_attempt_env());

    /// The current config generation; a request should read it once and keep the reference.
    const config::Config& config() const { return m_s.live != nullptr ? m_s.live->current() : *m_s.cfg; }
    routing::Router& router() { return *m_s.router; }
    const routing::Router& router() const { return *m_s.router; }
    ledger::Ledger& ledger() { return *m_s.ledger; }
    limits::KeyStore& keys() { return *m_s.keys; }
    limits::Limiter& limiter() { return *m_s.limiter; }
    cache::ResponseCache& cache() { return *m_s.cache; }
    const RequestMetrics& metrics() const { return m_metrics; }
    /// The trace exporter, or null when traces are not exported.
    const telemetry::SpanExporter* traces() const { return m_s.traces; }

    /// A new exchange with its request id, clock, tag, routing headers and trace context (the
    /// client's traceparent continued; a malformed one is ignored and a new trace begins).
    std::shared_ptr<Exchange> begin(std::string surface, const http::Request& req) const;
    /// Model endpoints: the gateway key (key_id "default") or an active virtual key (its
    /// id) passes and sets ex.key_id; otherwise the 401 to send.
    std::optional<wire::Failure> authorize(const http::Request& req, Exchange& ex) const;
    /// Admin API: only the gateway key passes; otherwise the 401 (or 403 for a virtual key).
    std::optional<wire::Failure> authorize_admin(const http::Request& req) const;
    /// GET /metrics: the gateway key, or [server] metrics_token when one is set, as a bearer
    /// token; otherwise what authorize_admin() says.
    std::optional<wire::Failure> authorize_metrics(const http::Request& req) const;
    /// Whether the caller may use `model` now: the key's allowed models, budgets
    /// and rate limits, for the model that will really be called. nullopt admits (and
    /// reserves in ex.reservation). With shared limits ([cluster] redis_url) the rate
    /// buckets are taken in Redis (one round trip, only when a rate limit applies); when
    /// Redis cannot be reached, [cluster] redis_down says: this instance's own buckets
    /// ("local") or a 503 ("refuse"). Without them it never suspends.
    asio::awaitable<std::optional<wire::Failure>> admit(Exchange& ex, const nlohmann::json& body,
                                                        const config::ResolvedModel& model);
    /// admit() for the model the request names, before the cache is looked up (a cache hit
    /// is limited like a call). When that model cannot be routed, admission is left to the
    /// attempts and the cache is skipped (ex.cache_blocked).
    asio::awaitable<std::optional<wire::Failure>> admit_requested(Exchange& ex, const nlohmann::json& body);
    /// The shared rate limits, or null when [cluster] redis_url is not set.
    cluster::SharedLimits* shared_limits() const { return m_s.shared_limits; }
    /// The response cache's Redis tier, or null when [cluster] redis_url is not set.
    cluster::SharedCache* shared_cache() const { return m_s.shared_cache; }
    /// Requests admitted on this instance's own buckets because Redis was unreachable.
    std::uint64_t cluster_fallbacks() const { return m_cluster_fallbacks.load(std::memory_order_relaxed); }
    /// Requests refused (503) because Redis was unreachable and redis_down = "refuse".
    std::uint64_t cluster_refusals() const { return m_cluster_refusals.load(std::memory_order_relaxed); }
    /// Whether a model id shows up in /v1/models for the caller (a virtual key's patterns).
    bool model_visible(const Exchange& ex, std::string_view model_id) const;

    /// Runs `attempt` over the request's plan (run_attempts), admitting each candidate
    /// against `body` (the request as the client sent it, for token estimates).
    asio::awaitable<std::expected<void, wire::Failure>> run(Exchange& ex, const nlohmann::json& canonical,
                                                            const nlohmann::json& body, AttemptFn attempt);

    /// One non-streamed upstream call on ex.route within the attempt's deadlines.
    asio::awaitable<std::expected<upstream::HttpResponse, wire::Failure>> send(const Exchange& ex,
                                                                               const providers::UpstreamRequest& req);
    /// send() for a native passthrough: a non-2xx answer becomes the adapter's classified
    /// failure, and its body (secrets scrubbed) goes to `upstream_body` so the surface can
    /// relay the provider's own error when it is the last word.
    asio::awaitable<std::expected<upstream::HttpResponse, wire::Failure>> send_native(
        const Exchange& ex, const providers::UpstreamRequest& req, std::string& upstream_body);
    /// One non-streamed chat attempt on ex.route; its answer's finish reasons go to ex.trace.
    /// With `bytes_will_do`, for a caller that sends ChatResult::raw on and reads nothing
    /// else of the answer, an OpenAI-compatible answer may come back unbuilt: `raw` and
    /// `usage` set, `body` null. `canonical_text`, when given, is the client's text
    /// `canonical` was read from, unchanged since: the adapter may send it edited
    /// (Adapter::chat_request_from_text) instead of writing `canonical` anew.
    asio::awaitable<std::expected<providers::ChatResult, wire::Failure>> chat_once(
        Exchange& ex, const nlohmann::json& canonical, bool bytes_will_do = false,
        std::string_view canonical_text = {});
    /// One non-streamed embeddings attempt on ex.route.
    asio::awaitable<std::expected<providers::ChatResult, wire::Failure>> embeddings_once(const Exchange& ex,
                                                                                         const nlohmann::json& body);
    /// One streamed attempt on ex->route: opens the upstream stream and reads until the
    /// first content. A failure before that (status, error event in a 200 stream, a cut,
    /// no content before the first-byte deadline) comes back as a value, so the caller can
    /// fall back before any byte reached the client. `canonical_text` as for chat_once().
    asio::awaitable<std::expected<std::shared_ptr<StreamState>, wire::Failure>> open_chat_stream(
        std::shared_ptr<Exchange> ex, const nlohmann::json& canonical, std::string_view canonical_text = {});
    /// Native passthrough of a stream: the upstream's bytes go to the client unchanged
    /// while `tap` reads the events for usage and the terminal event. Held back like
    /// open_chat_stream; `upstream_body` keeps the upstream's own error body, if any.
    /// `decoder` splits the bytes into events for the tap (default: SSE). `relay_bytes`
    /// false: the relay writes the tap's chunks through the surface's writer instead of the
    /// upstream's bytes (for a native stream the surface must filter).
    asio::awaitable<std::expected<std::shared_ptr<StreamState>, wire::Failure>> open_passthrough_stream(
        std::shared_ptr<Exchange> ex, const providers::UpstreamRequest& req,
        std::unique_ptr<providers::StreamTranslator> tap, std::string* upstream_body,
        std::unique_ptr<providers::StreamDecoder> decoder = nullptr, bool relay_bytes = true);
    /// Sends `head` and then the stream (Content-Type text/event-stream unless `head` sets
    /// one): the held-back bytes first, then the rest as it
    /// arrives, each write awaited before the next read (backpressure). After the first
    /// byte a failure (cut, error event, idle or total timeout) ends the stream with
    /// `writer->error(...)`; a client that goes away cancels the upstream at once. Records
    /// the ledger row when the stream ends.
    asio::awaitable<void> relay(std::shared_ptr<StreamState> st, std::unique_ptr<StreamWriter> writer,
                                http::Responder& out, http::Response head);
    /// The ledger row of a relayed stream: 200, the stream's failure, or 499 when the client
    /// left before the end (`finished` false); the usage is what reached the client.
    void record_relayed(const StreamState& st, bool finished);

    /// Records the request's ledger rows: one per failed attempt, then the final one; the
    /// cost goes to the budgets and the request to the metrics.
    void record(const Exchange& ex, int status, const wire::Usage& usage, double cost, std::string error,
                std::int64_t ttft_ms, std::string response_body = {});
    double cost_of(const Exchange& ex, const wire::Usage& usage) const;

    /// The transport that reaches `route` (the in-process one for mock).
    upstream::Transport& transport_for(const routing::Route& route);
    /// Every credential a failure on `route` could echo: the provider key, AWS secrets, the gateway key.
    std::vector<std::string> secrets_of(const routing::Route& route) const;

    std::atomic<std::uint64_t> requests_served{0};

    /// A request for a route aigwd does not serve, kept for `aigw status` (count and the last few).
    void note_unknown_route(std::string method, std::string path, std::string user_agent);
    struct UnknownRoute {
        std::string method, path, user_agent;
    };
    std::pair<std::uint64_t, std::vector<UnknownRoute>> unknown_routes() const;

    // ---- a request's last word, the same on every surface ----
    /// Whether finish_answered() keeps the answer's body in the ledger when body logging is on.
    enum class BodyLog { when_configured, never };
    /// Ends a request that failed: records `f` (ledger row, budgets, metrics) and sends it
    /// with the headers gathered so far: the upstream's own error body `native_body` (already
    /// scrubbed of secrets) when it is JSON, else `f` in `shape` (upstream_failure_response).
    /// `native_body` is "" for a failure of the gateway's own.
    asio::awaitable<void> finish_failed(const Exchange& ex, const wire::Failure& f, std::string native_body,
                                        Shape shape, const http::Headers& so_far, http::Responder& out);
    /// Ends a request answered in one piece: sets x-aigw-cost-usd on `res`, records the 200
    /// with `usage` and `cost` (and `usage_error`, why the usage could not be read, if so),
    /// and sends `body` with `res`'s headers.
    asio::awaitable<void> finish_answered(const Exchange& ex, const wire::Usage& usage, double cost, std::string body,
                                          http::Response res, http::Responder& out,
                                          BodyLog log = BodyLog::when_configured, std::string usage_error = {});

private:
    bool is_gateway_key(std::string_view presented) const;
    /// admit()'s rate-limit step with shared limits (see admit()).
    asio::awaitable<std::optional<wire::Failure>> admit_shared(Exchange& ex, const limits::VirtualKey* key,
                                                               const std::string& model_id, std::int64_t estimate,
                                                               limits::CostEstimate cost);
    /// admit_shared()'s budget step: holds ex.reservation.cost_usd in Redis against
    /// `budgets`, or applies [cluster] redis_down when Redis is unreachable. On a refusal
    /// nothing stays held. `fell_back` is set when the local tracker was used.
    asio::awaitable<std::optional<wire::Failure>> hold_shared_budgets(Exchange& ex, const limits::VirtualKey* key,
                                                                      std::vector<limits::BudgetNeed> budgets,
                                                                      bool& fell_back);
    /// The 503 for a request under a `what` ("rate limit", "budget") shared through Redis
    /// when Redis is unreachable and [cluster] redis_down = "refuse"; `local` names what
    /// redis_down = "local" would use instead.
    wire::Failure redis_down_refusal(std::string_view code, std::string_view what, std::string_view local,
                                     const std::string& error) const;
    /// Gives back everything ex.reservation holds (local buckets and budgets, a budget
    /// hold in Redis) and clears it: for a request that ends without its final row.
    void release_reservation(Exchange& ex);
    /// Sets up ex.trace from the client's traceparent and the exporter's sampling.
    void begin_trace(Exchange& ex, const http::Request& req) const;

    Services m_s;
    AttemptEnv m_env;
    RequestMetrics m_metrics;
    mutable std::mutex m_unknown_mu;
    std::uint64_t m_unknown_count = 0;
    std::vector<UnknownRoute> m_unknown_last;  ///< the last few, newest last
    std::atomic<std::uint64_t> m_cluster_fallbacks{0};
    std::atomic<std::uint64_t> m_cluster_refusals{0};
};

/// A failure as a whole response in the surface's shape, with Retry-After when it has one.
http::Response failure_response(const wire::Failure& f, Shape shape);
/// The same, carrying over the headers a handler gathered so far (x-request-id, route,
/// cache) that the failure does not set itself.
http::Response failure_response(const wire::Failure& f, Shape shape, const http::Headers& so_far);
/// Sets x-aigw-provider, x-aigw-model and, when they apply, x-aigw-attempts,
/// x-aigw-fallback-reason and x-aigw-variant.
/// For native passthrough, where the client expects the provider's own words: the
/// upstream's error body as is (when it is JSON) with `f`'s status and Retry-After; else
/// `f` in `shape`. `native_body` must already be scrubbed of secrets.
http::Response upstream_failure_response(const wire::Failure& f, std::string native_body, Shape shape,
                                         const http::Headers& so_far);
void set_route_headers(http::Response& res, const Exchange& ex);
/// The key a request presents: `Authorization: Bearer KEY`, else `x-api-key`, else
/// `x-goog-api-key`; "" when none.
std::string presented_key(const http::Request& req);

/// Frees what the client sent (the body as read, and each of `parsed`: its parsed forms and
/// translations) before a stream is relayed. A stream can last minutes and a coding agent's
/// request is often 100 KB or more, while once the stream is open no attempt will read the
/// request again; kept, each open stream would hold two to four copies of it.
void drop_request(http::Request& req, std::initializer_list<nlohmann::json*> parsed);

}  // namespace aigw::daemon::pipeline

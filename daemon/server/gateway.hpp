#pragma once
// The daemon's HTTP server: inbound surfaces (OpenAI, later Anthropic), the admin API,
// auth, and the pieces every surface shares (request ids, headers, ledger rows).

#include "daemon/cache/response_cache.hpp"
#include "daemon/ledger/ledger.hpp"
#include "daemon/limits/limiter.hpp"
#include "daemon/routing/router.hpp"
#include "daemon/routing/upstream_client.hpp"
#include "shared/config/config.hpp"

#include <atomic>
#include <chrono>
#include <memory>

namespace httplib {
class Server;
struct Request;
struct Response;
}

namespace aigw::daemon::server {

/// A failed attempt of a request, kept for its ledger row.
struct AttemptNote {
    std::string served_model;  ///< "provider/model"
    std::string provider;
    int status = 0;
    std::string error;
    std::string reason;        ///< why this attempt happened ("" for the first)
    std::int64_t latency_ms = 0;
};

/// Deadlines of one request: [upstream] defaults, x-aigw-timeout-ms overrides.
struct RequestTimeouts {
    std::chrono::milliseconds connect{10'000};
    std::chrono::milliseconds first_byte{300'000};  ///< answer (non-stream) or first content (stream)
    std::chrono::milliseconds idle{120'000};        ///< gap between stream chunks
    std::chrono::milliseconds total{900'000};       ///< every attempt and wait included
};
struct CacheTicket;  // daemon/server/cache_glue.hpp

/// Everything one inbound request carries through the pipeline, for headers and the ledger.
struct Exchange {
    std::string request_id;
    std::int64_t ts_ms = 0;
    std::chrono::steady_clock::time_point t0;
    std::string surface;          ///< "openai.chat", "openai.embeddings", ...
    std::string key_id = "default";
    std::string requested_model;
    routing::Route route;
    bool stream = false;
    std::string tag;              ///< x-aigw-tag: groups requests in reports (bench runs, scripts)
    std::string variant;          ///< A/B variant that served the request, when split
    std::string request_body;     ///< kept only when body logging is on

    // ---- routing: read from the request's headers by begin() ----
    std::string fallback_header;  ///< x-aigw-fallback
    RequestTimeouts timeouts;
    std::chrono::steady_clock::time_point deadline;  ///< t0 + timeouts.total
    int max_retries = 2;          ///< [routing] retries, or x-aigw-retries
    std::optional<wire::Failure> header_error;  ///< a routing header that could not be read
    // ---- filled by the attempts ----
    std::vector<AttemptNote> failed_attempts;   ///< before the final one
    std::string attempt_reason;   ///< why the final attempt happened ("" when it was the first)
    // ---- limits: taken by Gateway::admit, settled by Gateway::record ----
    limits::Reservation reservation;
    // ---- response cache (cache_glue.hpp) ----
    bool cache_hit = false;       ///< answered from the cache: cost 0, ledger cache_hit = 1
    double saved_usd = 0;         ///< on a hit: what the original call cost (ledger saved_usd)
    std::shared_ptr<CacheTicket> cache;  ///< on a miss that may be stored: what to store it under
};

class Gateway {
public:
    /// Takes ownership of the loaded config; opens the ledger. Errors say what to fix.
    static std::expected<std::unique_ptr<Gateway>, std::string> create(config::Config cfg, config::Env env);
    ~Gateway();

    /// Binds host:port (port 0 = any free port). Returns the bound port or an error.
    std::expected<int, std::string> bind();
    /// Serves until stop(). Blocks; returns only after every connection thread has ended
    /// (in-flight requests finished or were cut off), so their ledger rows are queued.
    void serve();
    /// Asks serve() to return: stops accepting and ends keep-alive connections. Safe from
    /// any thread (a signal thread), idempotent. Does not wait.
    void stop();
    /// After serve() returned: waits for upstream stream workers, then drains and closes
    /// the ledger. Idempotent; the destructor calls it.
    void shutdown();

    const config::Config& config() const { return m_cfg; }
    const std::string& gateway_key() const { return m_gateway_key; }
    routing::Router& router() { return *m_router; }
    routing::UpstreamClient& upstream() { return *m_upstream; }
    ledger::Ledger& ledger() { return *m_ledger; }
    cache::ResponseCache& cache() { return *m_cache; }
    int port() const { return m_port; }

    // ---- shared by the surfaces ----
    /// A new exchange with its request id, clock and the caller's x-aigw-tag.
    std::shared_ptr<Exchange> begin(std::string surface, const httplib::Request& req) const;
    /// Admin API check: only the gateway key passes. False means the response was filled
    /// with a 401 (no or a wrong key) or a 403 (a virtual key).
    bool authorize(const httplib::Request& req, httplib::Response& res, bool anthropic_shape) const;

    // ---- limits (daemon/server/admission.cpp) ----
    /// Model endpoints: the gateway key (key_id "default") or an active virtual key (its
    /// id) passes and sets ex.key_id. False means the response was filled with a 401
    /// (missing, wrong, revoked or expired key).
    bool authorize(const httplib::Request& req, httplib::Response& res, bool anthropic_shape, Exchange& ex) const;
    /// One call per model request, once ex.requested_model is known and before routing:
    /// the key's allowed models, budgets and rate limits. nullopt admits (and reserves in
    /// ex.reservation); otherwise the failure to send (403, 402, 429 with Retry-After).
    std::optional<wire::Failure> admit(Exchange& ex, const nlohmann::json& body);
    /// Whether a model id shows up in /v1/models for the caller (a virtual key's patterns).
    bool model_visible(const Exchange& ex, std::string_view model_id) const;
    limits::KeyStore& keys() { return *m_keys; }
    limits::Limiter& limiter() { return *m_limiter; }
    // ---- end of limits ----

    /// Writes a failure in the OpenAI (or Anthropic) shape with its status.
    static void send_failure(httplib::Response& res, const wire::Failure& f, bool anthropic_shape = false);
    /// Sets x-aigw-provider, x-aigw-model and, when they apply, x-aigw-attempts,
    /// x-aigw-fallback-reason and x-aigw-variant (x-request-id is set when the request begins).
    static void set_route_headers(httplib::Response& res, const Exchange& ex);
    /// Records the request's ledger rows: one per failed attempt, then the final one.
    void record(const Exchange& ex, int status, const wire::Usage& usage, double cost, std::string error,
                std::int64_t ttft_ms, std::string response_body = {});
    double cost_of(const Exchange& ex, const wire::Usage& usage) const;

    std::atomic<std::uint64_t> requests_served{0};

private:
    Gateway() = default;
    void install_routes();
    void install_openai_routes();
    void install_anthropic_routes();
    void install_admin_routes();
    void install_keys_routes();  ///< daemon/server/keys_api.cpp
    bool is_gateway_key(std::string_view presented) const;
    void install_cache_routes();  ///< cache_admin.cpp

    config::Config m_cfg;
    config::Env m_env;
    std::string m_gateway_key;
    std::unique_ptr<routing::Router> m_router;
    std::unique_ptr<routing::UpstreamClient> m_upstream;
    std::unique_ptr<ledger::Ledger> m_ledger;
    // ---- limits ----
    limits::SystemClock m_clock;
    std::unique_ptr<limits::KeyStore> m_keys;
    std::unique_ptr<limits::Limiter> m_limiter;
    std::unique_ptr<cache::ResponseCache> m_cache;
    std::unique_ptr<httplib::Server> m_server;
    int m_port = 0;
    std::chrono::steady_clock::time_point m_started;
    std::atomic<bool> m_stopped{false};
    std::atomic<bool> m_shut_down{false};
};

/// The key a request presents: `Authorization: Bearer KEY`, else `x-api-key`; "" when none.
std::string presented_key(const httplib::Request& req);

/// "0.0000150" style: fixed point, trailing zeros trimmed.
std::string format_cost(double usd);
/// Reads the gateway key from AIGW_API_KEY or the key file, creating the file (0600) on first start.
std::expected<std::string, std::string> load_or_create_gateway_key(const std::filesystem::path& data_dir,
                                                                   const config::Env& env);

}  // namespace aigw::daemon::server

#pragma once
// The composition root of aigwd: builds the services (ledger, keys, limits, cache,
// router, transports), the dispatcher over them, the surfaces' routes and the HTTP
// server, and tears them down in order. Nothing on the request path lives here.

#include "daemon/cluster/cluster_view.hpp"
#include "daemon/cluster/pg_ledger.hpp"
#include "daemon/cluster/shared_cache.hpp"
#include "daemon/cluster/shared_limits.hpp"
#include "daemon/http/server.hpp"
#include "daemon/pipeline/dispatcher.hpp"
#include "daemon/surfaces/admin/admin_api.hpp"
#include "shared/config/config.hpp"
#include "shared/config/live_config.hpp"

#include <atomic>
#include <filesystem>
#include <memory>
#include <mutex>

namespace aigw::daemon::app {

class KeySharing;

/// Why GET /ready answers 503 (empty: ready): stopping, or the ledger queue 90% full.
nlohmann::json not_ready_reasons(bool stopping, std::size_t ledger_depth, std::size_t ledger_capacity);

class Gateway {
public:
    /// Takes ownership of the loaded config; opens the ledger. Errors say what to fix.
    static std::expected<std::unique_ptr<Gateway>, std::string> create(config::Config cfg, config::Env env);
    ~Gateway();

    /// Binds host:port (port 0 = any free port). Returns the bound port or an error.
    std::expected<int, std::string> bind();
    /// Serves until stop(); returns once in-flight requests finished or the grace period
    /// ran out, so their ledger rows are queued.
    void serve();
    /// Asks serve() to return. Safe from any thread, idempotent, does not wait.
    void stop();
    /// After serve() returned: drains and closes the cache and the ledger, and sends the
    /// queued spans (at most 2 s). Idempotent.
    void shutdown();

    /// Reads the config file again and applies it to new requests: providers, base URLs,
    /// keys, aliases, models and routing, budgets, timeouts, cache policy. The listening
    /// address, the data dir and sizes fixed at start-up keep their old values until a
    /// restart, and are listed in `needs_restart`. A file with errors changes nothing.
    struct ReloadResult {
        std::vector<std::string> applied;        ///< dotted keys now in effect
        std::vector<std::string> needs_restart;  ///< dotted keys that wait for a restart
        std::vector<std::string> warnings;       ///< of the new config ("file:line: ...")
    };
    /// Returns what changed, or every error of the file ("file:line: ...", one a line).
    std::expected<ReloadResult, std::string> reload();

    /// The current config generation.
    const config::Config& config() const { return m_live->current(); }
    /// What start-up or the last reload warned about (config problems, a cache kept in memory).
    std::vector<std::string> warnings() const;
    int port() const { return m_port; }

private:
    Gateway() = default;
    /// [cluster] redis_url: starts m_cluster_view and hooks the router's boards to it.
    static std::expected<void, std::string> start_cluster_view(Gateway& g, const std::string& url);

    std::unique_ptr<config::LiveConfig> m_live;
    std::string m_file_text;  ///< the config file as last loaded, to tell what a reload changes
    std::vector<std::string> m_runtime_warnings;
    mutable std::mutex m_reload_mu;
    config::Env m_env;
    std::unique_ptr<routing::Router> m_router;
    /// [cluster] redis_url: breakers and resting keys shared, heartbeats. After the router
    /// (whose boards it feeds), before everything that sends requests.
    std::unique_ptr<cluster::ClusterView> m_cluster_view;
    std::unique_ptr<upstream::Transport> m_http;
    std::unique_ptr<upstream::Transport> m_mock;
    std::unique_ptr<ledger::Ledger> m_ledger;
    /// [cluster] postgres_url: copies the ledger's rows to the team's PostgreSQL.
    std::unique_ptr<cluster::PgLedger> m_pg;
    std::unique_ptr<ledger::ResponseStore> m_responses;  ///< stored /v1/responses answers
    limits::SystemClock m_clock;
    std::unique_ptr<limits::KeyStore> m_keys;
    std::unique_ptr<KeySharing> m_key_sharing;  ///< [cluster] postgres_url or redis_url: keys shared by all
    std::unique_ptr<limits::Limiter> m_limiter;
    /// [cluster] redis_url: the cache's Redis tier, on m_shared_limits' client and thread;
    /// declared first so it is destroyed after them (a store in flight may still use it).
    std::unique_ptr<cluster::SharedCache> m_shared_cache;
    std::unique_ptr<cluster::SharedLimits> m_shared_limits;  ///< [cluster] redis_url; outlives the dispatcher
    std::unique_ptr<cache::ResponseCache> m_cache;
    std::unique_ptr<telemetry::SpanExporter> m_traces;  ///< [otel]; outlives the dispatcher
    std::unique_ptr<pipeline::Dispatcher> m_dispatcher;
    std::unique_ptr<surfaces::AdminApi> m_admin;
    std::unique_ptr<http::Server> m_server;
    std::atomic<int> m_port{0};  ///< read by the cluster thread's heartbeat
    std::atomic<bool> m_shut_down{false};
    std::atomic<bool> m_stopping{false};  ///< stop() was called: /ready answers 503
};

/// Reads the gateway key from AIGW_API_KEY or the key file, creating the file (0600) on first start.
std::expected<std::string, std::string> load_or_create_gateway_key(const std::filesystem::path& data_dir,
                                                                   const config::Env& env);

}  // namespace aigw::daemon::app

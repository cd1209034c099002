#pragma once
// The composition root of aigwd: builds the services (ledger, keys, limits, cache,
// router, transports), the dispatcher over them, the surfaces' routes and the HTTP
// server, and tears them down in order. Nothing on the request path lives here.

#include "daemon/http/server.hpp"
#include "daemon/pipeline/dispatcher.hpp"
#include "daemon/surfaces/admin/admin_api.hpp"
#include "shared/config/config.hpp"

#include <atomic>
#include <filesystem>
#include <memory>

namespace aigw::daemon::app {

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
    /// After serve() returned: drains and closes the cache and the ledger. Idempotent.
    void shutdown();

    const config::Config& config() const { return m_cfg; }
    int port() const { return m_port; }

private:
    Gateway() = default;

    config::Config m_cfg;
    config::Env m_env;
    std::unique_ptr<routing::Router> m_router;
    std::unique_ptr<upstream::Transport> m_http;
    std::unique_ptr<upstream::Transport> m_mock;
    std::unique_ptr<ledger::Ledger> m_ledger;
    std::unique_ptr<ledger::ResponseStore> m_responses;  ///< stored /v1/responses answers
    limits::SystemClock m_clock;
    std::unique_ptr<limits::KeyStore> m_keys;
    std::unique_ptr<limits::Limiter> m_limiter;
    std::unique_ptr<cache::ResponseCache> m_cache;
    std::unique_ptr<pipeline::Dispatcher> m_dispatcher;
    std::unique_ptr<surfaces::AdminApi> m_admin;
    std::unique_ptr<http::Server> m_server;
    int m_port = 0;
    std::atomic<bool> m_shut_down{false};
};

/// Reads the gateway key from AIGW_API_KEY or the key file, creating the file (0600) on first start.
std::expected<std::string, std::string> load_or_create_gateway_key(const std::filesystem::path& data_dir,
                                                                   const config::Env& env);

}  // namespace aigw::daemon::app

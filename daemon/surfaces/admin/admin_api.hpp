#pragma once
// The admin API under /aigw/v1 (gateway key only), used by the aigw CLI (shared/client):
// models, cost, logs, status, reload, shutdown, virtual keys, cache; and GET /metrics for
// Prometheus (the gateway key or the metrics token). Its handlers read
// and write SQLite, so each runs on the blocking pool, never on an event loop.

#include "daemon/ledger/ledger_query.hpp"
#include "daemon/http/server.hpp"
#include "daemon/ledger/response_store.hpp"
#include "daemon/pipeline/dispatcher.hpp"

namespace aigw::daemon::surfaces {

namespace asio = boost::asio;

/// What the admin API needs from the daemon around it.
struct AdminHooks {
    std::function<int()> port;
    std::chrono::steady_clock::time_point started;
    std::function<http::ServerStats()> server_stats;  ///< open connections, active requests
    /// Re-reads the config: {"ok", "applied", "needs_restart", "warnings"}, or every error
    /// of the file. Unset: a reload re-reads the provider keys only.
    std::function<std::expected<nlohmann::json, std::string>()> reload;
    /// What start-up or the last reload warned about.
    std::function<std::vector<std::string>()> warnings;
    /// Set when [cluster] postgres_url is: the team's ledger (every instance's rows, from
    /// PostgreSQL), which `aigw cost` and `aigw logs` then read, after this instance's
    /// newest rows reached it (blocking; called on the blocking pool). Unset: the local
    /// ledger.
    std::function<const ledger::LedgerReader&()> team_ledger;
    /// The cluster's members and the shared ledger's health for `aigw status`:
    /// {"instances": [...], "instance_id", "breakers_shared", "postgres": {...}}; in memory,
    /// does not wait for Redis or PostgreSQL. Unset: not part of a cluster.
    std::function<nlohmann::json()> cluster_members;
};

class AdminApi {
public:
    AdminApi(pipeline::Dispatcher& d, AdminHooks hooks);
    /// Adds every admin route to `routes`. The AdminApi must outlive the server.
    void install(http::Routes& routes);

private:
    using SyncHandler = std::function<void(const http::Request&, http::Response&)>;
    /// A route whose handler runs on the blocking pool after the gateway-key check.
    void add(std::string method, std::string pattern, SyncHandler h);
    static void fail(http::Response& res, const wire::Failure& f);
    /// A ledger that could not be read: the team's (PostgreSQL down) is a 503 the caller may
    /// retry; the local one a 500.
    static wire::Failure ledger_failure(bool team, const std::string& message);
    /// Answers {"rows": [...]} with the entries `f` selects, from the team's ledger when
    /// there is one, else this instance's.
    void send_entries(http::Response& res, const ledger::EntryFilter& f);
    void install_admin_routes();
    void install_keys_routes();   ///< keys_api.cpp
    void install_cache_routes();  ///< cache_admin.cpp
    /// GET /metrics in the Prometheus text format (metrics_api.cpp).
    void install_metrics_route();
    void install_ledger_routes();

    pipeline::Dispatcher& m_d;
    AdminHooks m_hooks;
    routing::Router* m_router;
    ledger::Ledger* m_ledger;
    limits::KeyStore* m_keys;
    cache::ResponseCache* m_cache;
    limits::Limiter* m_limiter;
    limits::SystemClock m_clock;
    http::Routes* m_routes = nullptr;
};

/// The OpenAI surface: /v1/chat/completions, /v1/embeddings, /v1/models (and the same
/// without /v1).
void install_openai_routes(http::Routes& routes, pipeline::Dispatcher& d);
/// The OpenAI Responses surface: POST /v1/responses, GET/DELETE /v1/responses/{id},
/// GET /v1/responses/{id}/input_items (and the same without /v1).
void install_responses_routes(http::Routes& routes, pipeline::Dispatcher& d, ledger::ResponseStore& store);
/// The legacy completions surface: POST /v1/completions (and /completions).
void install_completions_routes(http::Routes& routes, pipeline::Dispatcher& d);
/// The Anthropic surface: /v1/messages and /v1/messages/count_tokens.
void install_anthropic_routes(http::Routes& routes, pipeline::Dispatcher& d);
/// The Gemini API surface: /v1beta/models/{model}:generateContent and friends (also under /v1).
void install_gemini_routes(http::Routes& routes, pipeline::Dispatcher& d);

}  // namespace aigw::daemon::surfaces

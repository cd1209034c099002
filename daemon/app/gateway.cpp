#include "daemon/app/gateway.hpp"

#include "daemon/app/key_sharing.hpp"
#include "daemon/app/log.hpp"
#include "daemon/cluster/cluster_view.hpp"
#include "daemon/limits/key_store.hpp"
#include "daemon/telemetry/exporter.hpp"

#include "daemon/upstream/http_client.hpp"
#include "daemon/upstream/mock_transport.hpp"

#include <openssl/crypto.h>
#include <unistd.h>

#include <iostream>

namespace aigw::daemon::app {

namespace asio = boost::asio;

namespace {

/// cache.db in the data dir; a cache that cannot be opened is kept in memory only, so the
/// gateway still serves (with a warning saying what to do).
std::unique_ptr<cache::ResponseCache> open_response_cache(const config::Config& cfg, std::vector<std::string>& warnings)
{
    cache::CacheOptions o;
    o.default_ttl_s = cfg.cache.ttl_s;
    o.max_bytes = cfg.cache.max_mb << 20;
    o.max_entry_bytes = cfg.cache.max_entry_kb << 10;
    o.max_semantic_entries = static_cast<std::size_t>(cfg.cache.semantic_max_entries);
    const auto path = cfg.data_dir / "cache.db";
    auto opened = cache::ResponseCache::open(path, o);
    if (opened) {
        return std::move(*opened);
    }
    warnings.push_back(opened.error() +
                       "; the response cache is kept in memory only until the file is fixed or removed");
    std::cerr << "aigwd: warning: " << warnings.back() << "\n";
    return std::move(*cache::ResponseCache::open({}, o));
}

/// The error shape of the surface a path belongs to.
pipeline::Shape shape_of(std::string_view path)
{
    if (path.starts_with("/v1beta/") || (path.starts_with("/v1/models/") && path.find(':') != std::string_view::npos)) {
        return pipeline::Shape::gemini;
    }
    return path.starts_with("/v1/messages") ? pipeline::Shape::anthropic : pipeline::Shape::openai;
}

/// Unknown routes: a 404 (or 405) in the caller's shape, logged and counted (`aigw status`)
/// so a user can see why a tool fails.
asio::awaitable<void> unknown_route(pipeline::Dispatcher& d, http::Request& req, http::Responder& out)
{
    wire::Failure f;
    f.kind = wire::FailureKind::not_found;
    f.status = 404;
    f.message = "Unknown route " + req.method + " " + printable(req.path) +
                ". aigw serves /v1/chat/completions, /v1/responses, /v1/completions, /v1/embeddings, /v1/models, "
                "/v1/messages, /v1beta/models/{model}:generateContent, /metrics and the admin API under /aigw/v1.";
    const std::string agent = printable(std::string(req.header("User-Agent").substr(0, 120)));
    if (req.access) {
        // The access line says it (with the user agent): one entry per request, not two.
        req.access->user_agent = agent;
    } else {
        std::cerr << "aigwd: unknown route " << req.method << " " << printable(req.path) << " (user agent '" << agent
                  << "')\n";
    }
    d.note_unknown_route(req.method, printable(req.path.substr(0, 200)), agent);
    http::Response res = pipeline::failure_response(f, shape_of(req.path));
    if (req.access) {
        // The id of the access line, so a client's 404 can be found in the log.
        req.access->request_id = pipeline::request_id_at(
            std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
                .count());
        res.set_header("x-request-id", req.access->request_id);
    }
    co_await out.send(std::move(res));
}

/// [server] require_virtual_keys: the model endpoints refuse the gateway key (403 in the
/// surface's shape); any other key goes on to the handler, which checks it as always.
asio::awaitable<void> refuse_gateway_key(const http::Handler& inner, const std::string& gateway_key, http::Request& req,
                                         http::Responder& out)
{
    const std::string presented = pipeline::presented_key(req);
    if (presented.size() == gateway_key.size() && !presented.empty() &&
        CRYPTO_memcmp(presented.data(), gateway_key.data(), presented.size()) == 0) {
        wire::Failure f;
        f.kind = wire::FailureKind::auth;
        f.status = 403;
        f.code = "permission_denied";
        f.message =
            "This gateway requires virtual keys ([server] require_virtual_keys = true): the gateway key "
            "only opens the admin API under /aigw/v1. Ask the admin for a key ('aigw keys create --name "
            "NAME') and send it instead.";
        co_await out.send(pipeline::failure_response(f, shape_of(req.path)));
        co_return;
    }
    co_await inner(req, out);
}

/// GET / and HEAD /: what answers here, for a person or a health probe that tries the root.
asio::awaitable<void> hello(http::Request&, http::Responder& out)
{
    http::Response res;
    res.set_content(nlohmann::json({{"name", "aigw"},
                                    {"version", AIGW_VERSION},
                                    {"description",
                                     "aigw AI gateway: OpenAI (/v1/chat/completions, /v1/responses), "
                                     "Anthropic (/v1/messages) and the admin API (/aigw/v1)"}})
                        .dump());
    co_await out.send(std::move(res));
}

}  // namespace

std::expected<std::string, std::string> load_or_create_gateway_key(const std::filesystem::path& data_dir,
                                                                   const config::Env& env)
{
    if (auto k = env("AIGW_API_KEY"); k && !k->empty()) {
        return *k;
    }
    const auto path = config::gateway_key_file(data_dir);
    if (auto text = config::read_file(path)) {
        std::string key = *text;
        while (!key.empty() && (key.back() == '\n' || key.back() == '\r' || key.back() == ' ')) {
            key.pop_back();
        }
        if (!key.empty()) {
            return key;
        }
    }
    std::string key = "aigw-" + limits::random_hex(24);  // CSPRNG: the key is a secret
    try {
        config::write_private_file(path, key + "\n");
    } catch (const std::exception& e) {
        return std::unexpected("cannot write the gateway key to " + path.string() + ": " + e.what());
    }
    return key;
}

nlohmann::json not_ready_reasons(bool stopping, std::size_t ledger_depth, std::size_t ledger_capacity)
{
    nlohmann::json reasons = nlohmann::json::array();
    if (stopping) {
        reasons.push_back("shutting down");
    }
    if (ledger_capacity > 0 && ledger_depth * 10 >= ledger_capacity * 9) {
        reasons.push_back("the ledger writer is behind: " + std::to_string(ledger_depth) + " of " +
                          std::to_string(ledger_capacity) + " rows queued");
    }
    return reasons;
}

std::expected<void, std::string> Gateway::start_cluster_view(Gateway& g, const std::string& url)
{
    auto redis = cluster::parse_redis_url(url);
    if (!redis) {
        return std::unexpected("[cluster] redis_url: " + redis.error());
    }
    const config::Config& first = g.m_live->current();
    auto instance = cluster::load_or_create_instance_id(first.data_dir);
    if (!instance) {
        return std::unexpected("cannot set up the cluster: " + instance.error());
    }
    redis->connect_timeout = std::chrono::milliseconds(250);
    redis->command_timeout = std::chrono::milliseconds(250);
    cluster::ClusterViewOptions o;
    o.redis = std::move(*redis);
    o.instance_id = *instance;
    Gateway* self = &g;
    const auto started =
        std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
            .count();
    o.self = [self, started]() -> nlohmann::json {
        if (self->m_port == 0) {
            return nullptr;  // not bound yet: a heartbeat without a port would mislead
        }
        char host[256] = {};
        if (::gethostname(host, sizeof host - 1) != 0) {
            host[0] = '\0';
        }
        return nlohmann::json{{"host", host},
                              {"listen", self->m_live->current().host},
                              {"port", self->m_port.load()},
                              {"pid", ::getpid()},
                              {"version", AIGW_VERSION},
                              {"started", started}};
    };
    routing::Router* router = g.m_router.get();
    o.on_open = [router](const std::map<std::string, std::chrono::milliseconds, std::less<>>& open) {
        std::map<std::string, std::chrono::milliseconds, std::less<>> deployments;
        for (const auto& [target, left] : open) {
            if (target.starts_with("dep:")) {
                deployments.emplace(target.substr(4), left);
            } else if (auto rest = cluster::parse_key_rest_target(target)) {
                router->keys().cool_down(rest->provider, rest->model, rest->index, left, true);
            }
        }
        router->health().set_opened_elsewhere(deployments);
    };
    g.m_cluster_view = std::make_unique<cluster::ClusterView>(std::move(o));
    cluster::ClusterView* view = g.m_cluster_view.get();
    router->health().on_transition(
        [view](const std::string& id, std::chrono::milliseconds open_for) { view->publish("dep:" + id, open_for); });
    router->keys().on_rest(
        [view](const std::string& provider, int index, const std::string& model, std::chrono::milliseconds how_long) {
            view->publish(cluster::key_rest_target(provider, index, model), how_long);
        });
    std::cerr << "aigwd: circuit breakers and resting keys shared through Redis (instance " << view->instance_id()
              << ")\n";
    return {};
}

std::expected<std::unique_ptr<Gateway>, std::string> Gateway::create(config::Config cfg, config::Env env)
{
    std::unique_ptr<Gateway> g(new Gateway());
    g->m_file_text = config::read_file(cfg.config_path).value_or("");
    g->m_live = std::make_unique<config::LiveConfig>(std::move(cfg));
    g->m_env = std::move(env);
    const config::Config& first = g->m_live->current();
    try {
        config::ensure_private_dir(first.data_dir);
    } catch (const std::exception& e) {
        return std::unexpected("cannot create the data dir " + first.data_dir.string() + ": " + e.what());
    }
    auto key = load_or_create_gateway_key(first.data_dir, g->m_env);
    if (!key) {
        return std::unexpected(key.error());
    }
    auto ledger = ledger::Ledger::open(config::ledger_file(first.data_dir), first.retention_days);
    if (!ledger) {
        return std::unexpected("cannot open the ledger: " + ledger.error());
    }
    g->m_ledger = std::move(*ledger);
    // ---- the team's shared ledger: this instance's rows copied to PostgreSQL ----
    if (const std::string& url = first.cluster.postgres_url; !url.empty()) {
        auto instance = cluster::load_or_create_instance_id(first.data_dir);
        if (!instance) {
            return std::unexpected("cannot set up the shared ledger: " + instance.error());
        }
        cluster::PgLedgerOptions o;
        o.url = url;
        o.ledger_path = config::ledger_file(first.data_dir);
        o.instance_id = *instance;
        o.data_dir = first.data_dir;
        o.retention_days = first.retention_days;
        g->m_pg = std::make_unique<cluster::PgLedger>(std::move(o));
        std::cerr << "aigwd: shared ledger: copying this instance's ledger rows (instance " << *instance
                  << ") to PostgreSQL at " << cluster::redact_postgres_url(url) << "\n";
    }
    // ---- limits: virtual keys, rate limits, budgets seeded from the ledger ----
    auto keys = limits::KeyStore::open(config::keys_file(first.data_dir), g->m_clock);
    if (!keys) {
        return std::unexpected(keys.error());
    }
    g->m_keys = std::move(*keys);
    // Virtual keys: in PostgreSQL when postgres_url is set (the team's store of record),
    // else in Redis.
    if (const auto at = SharedKeysAt::choose(first.cluster.redis_url, first.cluster.postgres_url)) {
        auto sharing = KeySharing::start(*at, *g->m_keys);
        if (!sharing) {
            return std::unexpected(sharing.error());
        }
        g->m_key_sharing = std::move(*sharing);
    }
    g->m_limiter = std::make_unique<limits::Limiter>(*g->m_live, g->m_keys.get(), g->m_clock);
    if (auto seeded = g->m_limiter->seed(*g->m_ledger); !seeded) {
        return std::unexpected("cannot read this month's spend from the ledger: " + seeded.error());
    }
    if (const std::string& url = first.cluster.redis_url; !url.empty()) {
        // Rate limits shared by every instance on this Redis. Short deadlines: when Redis is
        // away, requests fall back (or are refused, [cluster] redis_down) within 250 ms.
        auto redis = cluster::parse_redis_url(url);
        if (!redis) {
            return std::unexpected("[cluster] redis_url: " + redis.error());
        }
        redis->connect_timeout = std::chrono::milliseconds(250);
        redis->command_timeout = std::chrono::milliseconds(250);
        cluster::SharedLimitsOptions o;
        o.redis = std::move(*redis);
        o.refuse_when_down = first.cluster.redis_down == config::ClusterConfig::RedisDown::refuse;
        g->m_shared_limits = std::make_unique<cluster::SharedLimits>(std::move(o));
        g->m_shared_cache =
            std::make_unique<cluster::SharedCache>(g->m_shared_limits->redis(), g->m_shared_limits->executor());
    }
    auto responses = ledger::ResponseStore::open(first.data_dir / "responses.db", first.retention_days);
    if (!responses) {
        return std::unexpected("cannot open the response store: " + responses.error());
    }
    g->m_responses = std::move(*responses);
    g->m_cache = open_response_cache(first, g->m_runtime_warnings);
    g->m_router = std::make_unique<routing::Router>(*g->m_live, g->m_env);
    if (const std::string& url = first.cluster.redis_url; !url.empty()) {
        if (auto view = start_cluster_view(*g, url); !view) {
            return std::unexpected(view.error());
        }
    }
    g->m_http = upstream::make_http_client();
    g->m_mock = upstream::make_mock_transport();
    if (const std::string url = first.otel.traces_url(); !url.empty()) {
        telemetry::ExporterOptions o;
        o.url = url;
        o.headers = first.otel.headers;
        o.resource.service_name = first.otel.service_name;
        o.resource.service_version = AIGW_VERSION;
        o.sample_ratio = first.otel.sample_ratio;
        g->m_traces = std::make_unique<telemetry::SpanExporter>(std::move(o));
        std::cerr << "aigwd: exporting traces (OTLP/HTTP JSON) to " << upstream::redact_url(url) << "\n";
    }

    pipeline::Services s;
    s.live = g->m_live.get();
    const std::string gateway_key = *key;
    s.gateway_key = std::move(*key);
    s.router = g->m_router.get();
    s.http = g->m_http.get();
    s.mock = g->m_mock.get();
    s.ledger = g->m_ledger.get();
    s.limiter = g->m_limiter.get();
    s.keys = g->m_keys.get();
    s.cache = g->m_cache.get();
    s.traces = g->m_traces.get();
    s.shared_limits = g->m_shared_limits.get();
    s.shared_cache = g->m_shared_cache.get();
    g->m_dispatcher = std::make_unique<pipeline::Dispatcher>(std::move(s));

    Gateway* self = g.get();
    http::Routes routes;
    // The model endpoints first, so require_virtual_keys can guard exactly them.
    surfaces::install_openai_routes(routes, *g->m_dispatcher);
    surfaces::install_responses_routes(routes, *g->m_dispatcher, *g->m_responses);
    surfaces::install_completions_routes(routes, *g->m_dispatcher);
    surfaces::install_anthropic_routes(routes, *g->m_dispatcher);
    surfaces::install_gemini_routes(routes, *g->m_dispatcher);
    if (first.require_virtual_keys) {
        // Fixed at start-up like the listening address: a reload cannot open a team gateway.
        routes.wrap_all([gateway_key](http::Handler inner) -> http::Handler {
            return [inner = std::move(inner), gateway_key](http::Request& req, http::Responder& out) {
                return refuse_gateway_key(inner, gateway_key, req, out);
            };
        });
    }
    routes.add("GET", "/health", [](http::Request&, http::Responder& out) -> asio::awaitable<void> {
        http::Response res;
        res.set_content(nlohmann::json({{"status", "ok"}, {"version", AIGW_VERSION}, {"pid", ::getpid()}}).dump());
        co_await out.send(std::move(res));
    });
    // For a load balancer: /health says the process answers; /ready whether to send it
    // traffic. Not ready while stopping (SIGTERM's grace period) or when the ledger writer
    // is so far behind that new requests would wait for room in its queue. A provider
    // being down is not a reason: fallbacks and other instances are no better off.
    routes.add("GET", "/ready", [self](http::Request&, http::Responder& out) -> asio::awaitable<void> {
        const nlohmann::json reasons =
            not_ready_reasons(self->m_stopping.load(), self->m_ledger->queue_depth(), self->m_ledger->queue_capacity());
        http::Response res;
        res.status = reasons.empty() ? 200 : 503;
        res.set_content(reasons.empty() ? nlohmann::json({{"status", "ready"}}).dump()
                                        : nlohmann::json({{"status", "not_ready"}, {"reasons", reasons}}).dump());
        co_await out.send(std::move(res));
    });
    routes.add("GET", "/", hello);
    routes.add("HEAD", "/", hello);
    surfaces::AdminHooks hooks{
        .port = [self] { return self->m_port.load(); },
        .started = std::chrono::steady_clock::now(),
        .server_stats = [self] { return self->m_server->stats(); },
        .reload = [self]() -> std::expected<nlohmann::json, std::string> {
            auto r = self->reload();
            if (!r) {
                return std::unexpected(r.error());
            }
            return nlohmann::json{
                {"ok", true}, {"applied", r->applied}, {"needs_restart", r->needs_restart}, {"warnings", r->warnings}};
        },
        .warnings = [self] { return self->warnings(); }};
    if (g->m_pg) {
        // Reports and logs read every instance's rows: this instance's tail is pushed first
        // (at most 2 s; on the blocking pool, like every admin handler).
        hooks.team_ledger = [self]() -> const ledger::LedgerReader& {
            self->m_pg->sync(std::chrono::milliseconds(2000));
            return *self->m_pg;
        };
    }
    // The cluster as `aigw status` shows it: live instances (from their heartbeats, read by
    // the cluster thread's poll: no Redis round trip here) and the shared ledger's health.
    hooks.cluster_members = [self] {
        nlohmann::json out = nlohmann::json::object();
        if (self->m_cluster_view) {
            nlohmann::json list = nlohmann::json::array();
            for (const auto& i : self->m_cluster_view->instances()) {
                nlohmann::json row = i.info;
                row["id"] = i.id;
                row["self"] = i.id == self->m_cluster_view->instance_id();
                list.push_back(std::move(row));
            }
            out["instance_id"] = self->m_cluster_view->instance_id();
            out["instances"] = std::move(list);
            out["breakers_shared"] = self->m_cluster_view->reachable();
        }
        if (self->m_key_sharing) {
            out["keys"] = {{"shared_through", self->m_key_sharing->where()},
                           {"reachable", self->m_key_sharing->status().reachable}};
        }
        const std::string& pg_url = self->m_live->current().cluster.postgres_url;
        if (self->m_pg) {
            out["postgres"] = {{"configured", true},
                               {"url", cluster::redact_postgres_url(pg_url)},
                               {"reachable", self->m_pg->up()},
                               {"rows_replicated", self->m_pg->replicated_rows()}};
        } else {
            out["postgres"] = {{"configured", false}};
        }
        return out;
    };
    g->m_admin = std::make_unique<surfaces::AdminApi>(*g->m_dispatcher, std::move(hooks));
    g->m_admin->install(routes);
    if (g->m_env("AIGW_TEST_HOOKS").value_or("") == "1") {
        // For the hostile-client tests: a handler that throws, to prove the guard around every handler.
        routes.add("POST", "/aigw/v1/debug/throw", [](http::Request&, http::Responder&) -> asio::awaitable<void> {
            throw std::runtime_error("debug/throw: a handler threw on purpose");
            co_return;
        });
    }

    http::ServerOptions opts;
    opts.host = first.host;
    opts.port = first.port;
    opts.threads = first.threads;
    opts.max_connections = static_cast<std::size_t>(first.max_connections);
    opts.header_timeout = std::chrono::milliseconds(first.header_timeout_ms);
    opts.body_timeout = std::chrono::milliseconds(first.body_timeout_ms);
    opts.allowed_hosts = first.allowed_hosts;
    opts.tls_cert = first.tls_cert;
    opts.tls_key = first.tls_key;
    // One access line per finished request, refused ones included ([log] requests).
    opts.access_log = [](const http::AccessEntry& e) { daemon_log().access(e); };
    opts.access_log_on = [] { return daemon_log().requests(); };
    g->m_server = std::make_unique<http::Server>(
        std::move(opts), std::move(routes),
        [self](http::Request& req, http::Responder& out) { return unknown_route(*self->m_dispatcher, req, out); },
        [](const http::Request& req, const wire::Failure& f) {
            if (f.status >= 500) {
                std::cerr << "aigwd: " << req.method << " " << printable(req.path) << ": " << printable(f.message)
                          << "\n";
            }
            return pipeline::failure_response(f, shape_of(req.path));
        });
    return g;
}

std::expected<Gateway::ReloadResult, std::string> Gateway::reload()
{
    std::lock_guard lock(m_reload_mu);
    const config::Config& old = m_live->current();
    auto check = config::check_config(m_env, old.data_dir);
    if (!check.errors.empty()) {
        // The keys file is not the config: `aigw keys set` still takes effect.
        m_router->reload_keys();
        std::string msg;
        for (const auto& e : check.errors) {
            msg += (msg.empty() ? "" : "\n") + e;
        }
        return std::unexpected(std::move(msg));
    }
    config::Config next = std::move(check.config);
    // What the running server and databases were built with stays until a restart.
    next.host = old.host;
    next.port = old.port;
    next.threads = old.threads;
    next.data_dir = old.data_dir;

    const std::string text = config::read_file(next.config_path).value_or("");
    ReloadResult out;
    for (auto& key : config::changed_keys(m_file_text, text)) {
        (config::needs_restart(key) ? out.needs_restart : out.applied).push_back(std::move(key));
    }
    out.warnings = next.warnings;
    // A renewed certificate (same files, new contents) serves the connections accepted from
    // now on; a bad one leaves the current one in use and says why.
    if (auto tls = m_server->reload_tls(); !tls) {
        out.warnings.push_back("[server] tls_cert/tls_key not reloaded, the current certificate stays in use: " +
                               tls.error());
    } else if (*tls) {
        out.applied.emplace_back("tls certificate (re-read)");
    }
    m_file_text = text;
    m_live->publish(std::move(next));
    daemon_log().configure(m_live->current().log_format, m_live->current().access_log_on());
    // Providers may have come or gone, and `aigw keys set` writes the keys file.
    m_router->reload_keys();
    std::cerr << "aigwd: config reloaded from " << m_live->current().config_path.string();
    if (!out.applied.empty()) {
        std::cerr << "; applied:";
        for (const auto& k : out.applied) {
            std::cerr << ' ' << k;
        }
    }
    if (!out.needs_restart.empty()) {
        std::cerr << "; needs a restart:";
        for (const auto& k : out.needs_restart) {
            std::cerr << ' ' << k;
        }
    }
    std::cerr << "\n";
    for (const auto& w : out.warnings) {
        std::cerr << "aigwd: warning: " << w << "\n";
    }
    return out;
}

std::vector<std::string> Gateway::warnings() const
{
    std::lock_guard lock(m_reload_mu);
    std::vector<std::string> out = m_live->current().warnings;
    out.insert(out.end(), m_runtime_warnings.begin(), m_runtime_warnings.end());
    return out;
}

Gateway::~Gateway()
{
    stop();
    shutdown();
    // The upstream client's pools hold sockets of the server's event loops: it goes first.
    // So do the Redis client's (limits, budgets, cache): its idle connections are closed.
    m_dispatcher.reset();
    m_http.reset();
    if (m_shared_limits) {
        m_shared_limits->redis().close_idle();
    }
    m_server.reset();
}

std::expected<int, std::string> Gateway::bind()
{
    auto port = m_server->bind();
    if (port) {
        m_port = *port;
    }
    return port;
}

void Gateway::serve()
{
    m_server->run();
}

void Gateway::stop()
{
    m_stopping.store(true);
    if (m_server) {
        m_server->stop();
    }
}

void Gateway::shutdown()
{
    if (m_shut_down.exchange(true)) {
        return;
    }
    m_key_sharing.reset();
    if (m_cluster_view) {
        m_router->health().on_transition(nullptr);
        m_router->keys().on_rest(nullptr);
        m_cluster_view.reset();
    }
    if (m_cache) {
        m_cache->close();
    }
    if (m_ledger) {
        m_ledger->close();
    }
    if (m_pg) {
        m_pg->stop(std::chrono::milliseconds(2000));  // one last bounded push of the tail
    }
    if (m_traces) {
        m_traces->shutdown(std::chrono::milliseconds(2000));
    }
}

}  // namespace aigw::daemon::app

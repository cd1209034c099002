#include "daemon/server/gateway.hpp"

#include <httplib.h>

#include <sys/socket.h>

#include <charconv>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <random>
#include <thread>

namespace aigw::daemon::server {

namespace {

std::int64_t unix_ms()
{
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
        .count();
}

std::string random_hex(std::size_t bytes)
{
    thread_local std::mt19937_64 rng{std::random_device{}()};
    static constexpr char k_hex[] = "0123456789abcdef";
    std::string out;
    out.reserve(bytes * 2);
    std::uint64_t word = 0;
    for (std::size_t i = 0; i < bytes; ++i) {
        if (i % 8 == 0) {
            word = rng();
        }
        auto b = static_cast<unsigned>(word & 0xff);
        word >>= 8;
        out.push_back(k_hex[b >> 4]);
        out.push_back(k_hex[b & 0xf]);
    }
    return out;
}

/// Constant-time comparison, so the key check leaks no prefix length.
bool same_secret(std::string_view a, std::string_view b)
{
    unsigned char diff = a.size() == b.size() ? 0 : 1;
    for (std::size_t i = 0; i < a.size(); ++i) {
        diff |= static_cast<unsigned char>(a[i] ^ b[i % (b.empty() ? 1 : b.size())]);
    }
    return diff == 0 && !b.empty();
}

int default_thread_count()
{
    // cpp-httplib serves one connection per pool thread for the connection's whole
    // keep-alive life, so the pool must be at least as large as the number of concurrent
    // client connections we want to serve without queueing (bench: 256).
    return 512;
}

/// cache.db in the data dir; a cache that cannot be opened is kept in memory only, so the
/// gateway still serves (with a warning saying what to do).
std::unique_ptr<cache::ResponseCache> open_response_cache(const config::Config& cfg)
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
    std::cerr << "aigwd: warning: " << opened.error() << "; the response cache is kept in memory only until "
              << "the file is fixed or removed\n";
    return std::move(*cache::ResponseCache::open({}, o));
}

}  // namespace

std::string format_cost(double usd)
{
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.10f", usd);
    std::string s(buf);
    while (s.size() > 1 && s.back() == '0') {
        s.pop_back();
    }
    if (s.back() == '.') {
        s.pop_back();
    }
    return s;
}

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
    std::string key = "aigw-" + random_hex(24);
    try {
        config::write_private_file(path, key + "\n");
    } catch (const std::exception& e) {
        return std::unexpected("cannot write the gateway key to " + path.string() + ": " + e.what());
    }
    return key;
}

std::expected<std::unique_ptr<Gateway>, std::string> Gateway::create(config::Config cfg, config::Env env)
{
    std::unique_ptr<Gateway> g(new Gateway());
    g->m_cfg = std::move(cfg);
    g->m_env = std::move(env);
    try {
        config::ensure_private_dir(g->m_cfg.data_dir);
    } catch (const std::exception& e) {
        return std::unexpected("cannot create the data dir " + g->m_cfg.data_dir.string() + ": " + e.what());
    }
    auto key = load_or_create_gateway_key(g->m_cfg.data_dir, g->m_env);
    if (!key) {
        return std::unexpected(key.error());
    }
    g->m_gateway_key = std::move(*key);
    auto ledger = ledger::Ledger::open(config::ledger_file(g->m_cfg.data_dir), g->m_cfg.retention_days);
    if (!ledger) {
        return std::unexpected("cannot open the ledger: " + ledger.error());
    }
    g->m_ledger = std::move(*ledger);
    // ---- limits: virtual keys, rate limits, budgets seeded from the ledger ----
    auto keys = limits::KeyStore::open(config::keys_file(g->m_cfg.data_dir), g->m_clock);
    if (!keys) {
        return std::unexpected(keys.error());
    }
    g->m_keys = std::move(*keys);
    g->m_limiter = std::make_unique<limits::Limiter>(g->m_cfg, g->m_keys.get(), g->m_clock);
    if (auto seeded = g->m_limiter->seed(*g->m_ledger); !seeded) {
        return std::unexpected("cannot read this month's spend from the ledger: " + seeded.error());
    }
    g->m_cache = open_response_cache(g->m_cfg);
    g->m_router = std::make_unique<routing::Router>(g->m_cfg, g->m_env);
    g->m_upstream = std::make_unique<routing::UpstreamClient>(routing::UpstreamTimeouts{
        std::chrono::milliseconds(g->m_cfg.connect_timeout_ms), std::chrono::milliseconds(g->m_cfg.read_timeout_ms)});
    g->m_server = std::make_unique<httplib::Server>();
    g->m_started = std::chrono::steady_clock::now();
    g->install_routes();
    return g;
}

Gateway::~Gateway()
{
    stop();
    shutdown();
}

std::expected<int, std::string> Gateway::bind()
{
    auto& svr = *m_server;
    const int threads = m_cfg.threads > 0 ? m_cfg.threads : default_thread_count();
    svr.new_task_queue = [threads] { return new httplib::ThreadPool(static_cast<size_t>(threads)); };
    svr.set_keep_alive_max_count(static_cast<size_t>(m_cfg.keep_alive_max));
    svr.set_keep_alive_timeout(10);
    svr.set_tcp_nodelay(true);
    svr.set_payload_max_length(64u << 20);  // images as data URLs can be large
    svr.set_read_timeout(60, 0);
    svr.set_write_timeout(60, 0);

    // Debian's cpp-httplib is built with a listen backlog of 5, which drops SYNs when
    // hundreds of clients connect at once. We see the socket here and listen() again
    // after the bind with a real backlog (Linux updates the backlog of a listening socket).
    auto listen_fd = std::make_shared<int>(-1);
    svr.set_socket_options([listen_fd](socket_t sock) {
        int yes = 1;
        ::setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
        *listen_fd = sock;
    });
    int port = 0;
    if (m_cfg.port == 0) {
        port = svr.bind_to_any_port(m_cfg.host);
    } else {
        port = svr.bind_to_port(m_cfg.host, m_cfg.port) ? m_cfg.port : -1;
    }
    if (port <= 0) {
        return std::unexpected("cannot listen on " + m_cfg.host + ":" + std::to_string(m_cfg.port) +
                               " (in use by another program? pick another with --port)");
    }
    if (*listen_fd >= 0) {
        ::listen(*listen_fd, SOMAXCONN);
    }
    m_port = port;
    return port;
}

void Gateway::serve()
{
    m_server->listen_after_bind();
}

void Gateway::stop()
{
    if (m_stopped.exchange(true)) {
        return;
    }
    if (m_server) {
        m_server->stop();
    }
}

void Gateway::shutdown()
{
    if (m_shut_down.exchange(true)) {
        return;
    }
    if (m_upstream) {
        m_upstream->shutdown();
    }
    if (m_cache) {
        m_cache->close();
    }
    if (m_ledger) {
        m_ledger->close();
    }
}

namespace {

/// "5000" (total) or "connect=500, first_byte=2000, idle=1000, total=5000" (any subset).
/// Returns what is wrong, or nullopt after updating `t`.
std::optional<std::string> parse_timeout_header(std::string_view text, RequestTimeouts& t)
{
    const std::string usage = "x-aigw-timeout-ms must be milliseconds, e.g. '5000', or "
                              "'connect=500, first_byte=2000, idle=1000, total=5000'";
    auto number = [](std::string_view s) -> std::optional<std::chrono::milliseconds> {
        while (!s.empty() && s.front() == ' ') {
            s.remove_prefix(1);
        }
        while (!s.empty() && s.back() == ' ') {
            s.remove_suffix(1);
        }
        std::int64_t v = 0;
        auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
        if (s.empty() || ec != std::errc{} || p != s.data() + s.size() || v <= 0) {
            return std::nullopt;
        }
        return std::chrono::milliseconds(v);
    };
    if (text.find('=') == std::string_view::npos) {
        auto v = number(text);
        if (!v) {
            return usage;
        }
        t.total = *v;
        t.first_byte = std::min(t.first_byte, *v);
        t.idle = std::min(t.idle, *v);
        t.connect = std::min(t.connect, *v);
        return std::nullopt;
    }
    while (!text.empty()) {
        auto comma = text.find(',');
        auto item = text.substr(0, comma);
        auto eq = item.find('=');
        if (eq == std::string_view::npos) {
            return usage;
        }
        auto name = item.substr(0, eq);
        while (!name.empty() && name.front() == ' ') {
            name.remove_prefix(1);
        }
        while (!name.empty() && name.back() == ' ') {
            name.remove_suffix(1);
        }
        auto v = number(item.substr(eq + 1));
        if (!v) {
            return usage;
        }
        if (name == "connect") {
            t.connect = *v;
        } else if (name == "first_byte") {
            t.first_byte = *v;
        } else if (name == "idle") {
            t.idle = *v;
        } else if (name == "total") {
            t.total = *v;
        } else {
            return usage;
        }
        if (comma == std::string_view::npos) {
            break;
        }
        text.remove_prefix(comma + 1);
    }
    return std::nullopt;
}

/// Header values must not carry CR/LF (an upstream's message could).
std::string header_safe(std::string s)
{
    for (char& c : s) {
        if (c == '\r' || c == '\n') {
            c = ' ';
        }
    }
    if (s.size() > 300) {
        s.resize(300);
    }
    return s;
}

}  // namespace

std::shared_ptr<Exchange> Gateway::begin(std::string surface, const httplib::Request& req) const
{
    auto ex = std::make_shared<Exchange>();
    ex->request_id = "req_" + random_hex(12);
    ex->ts_ms = unix_ms();
    ex->t0 = std::chrono::steady_clock::now();
    ex->surface = std::move(surface);
    ex->tag = req.get_header_value("x-aigw-tag");
    if (ex->tag.size() > 200) {
        ex->tag.resize(200);
    }
    ex->fallback_header = req.get_header_value("x-aigw-fallback");
    ex->max_retries = m_cfg.routing.retries;
    ex->timeouts = RequestTimeouts{std::chrono::milliseconds(m_cfg.connect_timeout_ms),
                                   std::chrono::milliseconds(m_cfg.first_byte_timeout_ms),
                                   std::chrono::milliseconds(m_cfg.idle_timeout_ms),
                                   std::chrono::milliseconds(m_cfg.total_timeout_ms)};
    if (req.has_header("x-aigw-timeout-ms")) {
        if (auto bad = parse_timeout_header(req.get_header_value("x-aigw-timeout-ms"), ex->timeouts)) {
            ex->header_error = wire::bad_request(*bad, "x-aigw-timeout-ms");
        }
    }
    if (req.has_header("x-aigw-retries")) {
        const auto& v = req.get_header_value("x-aigw-retries");
        int n = -1;
        auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
        if (ec != std::errc{} || p != v.data() + v.size() || n < 0 || n > 10) {
            ex->header_error = wire::bad_request("x-aigw-retries must be a whole number from 0 to 10", "x-aigw-retries");
        } else {
            ex->max_retries = n;
        }
    }
    ex->deadline = ex->t0 + ex->timeouts.total;
    return ex;
}

std::string presented_key(const httplib::Request& req)
{
    const auto& auth = req.get_header_value("Authorization");
    if (auth.size() > 7 && (auth.compare(0, 7, "Bearer ") == 0 || auth.compare(0, 7, "bearer ") == 0)) {
        return auth.substr(7);
    }
    if (req.has_header("x-api-key")) {
        return req.get_header_value("x-api-key");
    }
    return {};
}

bool Gateway::is_gateway_key(std::string_view presented) const
{
    return !presented.empty() && same_secret(presented, m_gateway_key);
}

bool Gateway::authorize(const httplib::Request& req, httplib::Response& res, bool anthropic_shape) const
{
    const std::string presented = presented_key(req);
    if (is_gateway_key(presented)) {
        return true;
    }
    // ---- limits: a virtual key is known but may not use the admin API ----
    if (m_keys && presented.starts_with(limits::k_virtual_key_prefix) &&
        m_keys->authenticate(presented).verdict == limits::KeyStore::Verdict::ok) {
        wire::Failure f;
        f.kind = wire::FailureKind::auth;
        f.status = 403;
        f.code = "permission_denied";
        f.message = "Virtual keys can call the model endpoints (/v1/chat/completions, /v1/embeddings, /v1/messages, "
                    "/v1/models) but not the admin API under /aigw/v1; use the gateway key for that.";
        send_failure(res, f, anthropic_shape);
        return false;
    }
    send_failure(res,
                 wire::unauthorized(presented.empty()
                                        ? "Missing gateway key. Send 'Authorization: Bearer <key>'; the key is "
                                          "AIGW_API_KEY or the file gateway.key in the aigw data dir."
                                        : "Incorrect gateway key. Use AIGW_API_KEY or the key in gateway.key in "
                                          "the aigw data dir (this is aigw's own key, not a provider key)."),
                 anthropic_shape);
    return false;
}

void Gateway::send_failure(httplib::Response& res, const wire::Failure& f, bool anthropic_shape)
{
    res.status = f.status;
    if (f.retry_after_s) {
        res.set_header("Retry-After", std::to_string(static_cast<long>(*f.retry_after_s + 0.999)));
    }
    auto body = anthropic_shape ? wire::to_anthropic_error(f) : wire::to_openai_error(f);
    res.set_content(body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace), "application/json");
}

void Gateway::set_route_headers(httplib::Response& res, const Exchange& ex)
{
    if (ex.route.resolved.provider != nullptr) {
        res.set_header("x-aigw-provider", ex.route.resolved.provider->name);
        res.set_header("x-aigw-model", ex.route.resolved.id);
    }
    if (!ex.failed_attempts.empty()) {
        res.set_header("x-aigw-attempts", std::to_string(ex.failed_attempts.size() + 1));
    }
    if (!ex.attempt_reason.empty()) {
        res.set_header("x-aigw-fallback-reason", header_safe(ex.attempt_reason));
    }
    if (!ex.variant.empty()) {
        res.set_header("x-aigw-variant", ex.variant);
    }
}

double Gateway::cost_of(const Exchange& ex, const wire::Usage& usage) const
{
    return ex.route.price ? config::cost_usd(*ex.route.price, usage) : 0.0;
}

void Gateway::record(const Exchange& ex, int status, const wire::Usage& usage, double cost, std::string error,
                     std::int64_t ttft_ms, std::string response_body)
{
    const int attempts = static_cast<int>(ex.failed_attempts.size()) + 1;
    auto row_of_request = [&](int attempt) {
        ledger::LedgerRow row;
        row.ts_ms = ex.ts_ms;
        row.request_id = ex.request_id;
        row.key_id = ex.key_id;
        row.surface = ex.surface;
        row.requested_model = ex.requested_model;
        row.stream = ex.stream;
        row.tag = ex.tag;
        row.variant = ex.variant;
        row.attempt = attempt;
        row.attempts = attempts;
        return row;
    };
    for (std::size_t i = 0; i < ex.failed_attempts.size(); ++i) {
        const AttemptNote& a = ex.failed_attempts[i];
        ledger::LedgerRow row = row_of_request(static_cast<int>(i) + 1);
        row.served_model = a.served_model;
        row.provider = a.provider;
        row.status = a.status;
        row.error = a.error;
        row.final_attempt = false;
        row.fallback_reason = a.reason;
        row.latency_ms = a.latency_ms;
        m_ledger->record(std::move(row));
    }
    ledger::LedgerRow row = row_of_request(attempts);
    row.fallback_reason = ex.attempt_reason;
    if (ex.route.resolved.provider != nullptr) {
        row.served_model = ex.route.resolved.id;
        row.provider = ex.route.resolved.provider->name;
    }
    row.status = status;
    row.error = std::move(error);
    row.input_tokens = usage.input_tokens;
    row.cached_tokens = usage.cached_tokens;
    row.cache_write_tokens = usage.cache_write_tokens + usage.cache_write_1h_tokens;
    row.output_tokens = usage.output_tokens;
    row.reasoning_tokens = usage.reasoning_tokens;
    row.cost_usd = cost;
    row.priced = ex.route.price.has_value();
    row.latency_ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - ex.t0).count();
    row.ttft_ms = ttft_ms;
    row.cache_hit = ex.cache_hit;
    row.saved_usd = ex.saved_usd;
    if (m_cfg.log_bodies) {
        row.request_body = ex.request_body;
        row.response_body = std::move(response_body);
    }
    m_ledger->record(std::move(row));
    // ---- limits: the cost goes to the budgets; the TPM reservation is corrected ----
    m_limiter->on_recorded(ex.key_id, ex.reservation, usage.input_tokens + usage.output_tokens, cost);
    requests_served.fetch_add(1, std::memory_order_relaxed);
}

void Gateway::install_routes()
{
    auto& svr = *m_server;
    svr.Get("/health", [this](const httplib::Request&, httplib::Response& res) {
        nlohmann::json body = {{"status", "ok"}, {"version", AIGW_VERSION}, {"pid", ::getpid()}};
        res.set_content(body.dump(), "application/json");
    });
    install_openai_routes();
    install_anthropic_routes();
    install_admin_routes();
    install_keys_routes();

    svr.set_error_handler([](const httplib::Request& req, httplib::Response& res) {
        if (!res.body.empty()) {
            return;
        }
        wire::Failure f;
        f.status = res.status;
        if (res.status == 404) {
            f.kind = wire::FailureKind::not_found;
            f.message = "Unknown route " + req.method + " " + req.path +
                        ". aigw serves /v1/chat/completions, /v1/embeddings, /v1/models, /v1/messages and the admin API under /aigw/v1.";
        } else if (res.status == 413) {
            f.kind = wire::FailureKind::bad_request;
            f.message = "The request body is too large (limit 64 MiB).";
        } else {
            f.kind = res.status < 500 ? wire::FailureKind::bad_request : wire::FailureKind::internal;
            f.message = "HTTP " + std::to_string(res.status);
        }
        res.set_content(wire::to_openai_error(f).dump(), "application/json");
    });
    svr.set_exception_handler([](const httplib::Request&, httplib::Response& res, std::exception_ptr ep) {
        std::string what = "unknown error";
        try {
            std::rethrow_exception(ep);
        } catch (const std::exception& e) {
            what = e.what();
        } catch (...) {
        }
        std::cerr << "aigwd: internal error while handling a request: " << what << "\n";
        send_failure(res, wire::internal_error("aigw hit an internal error: " + what + ". The daemon keeps serving."));
    });
}

}  // namespace aigw::daemon::server

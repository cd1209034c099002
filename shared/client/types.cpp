#include "shared/client/types.hpp"

namespace aigw::client {
namespace {

template <typename T>
T get_or(const nlohmann::json& j, const char* key, T fallback)
{
    auto it = j.find(key);
    if (it == j.end() || it->is_null()) {
        return fallback;
    }
    return it->get<T>();
}

ClientError protocol_error(std::string what)
{
    ClientError e;
    e.kind = ClientErrorKind::protocol;
    e.message = "unexpected answer from aigwd: " + std::move(what) +
                "; the daemon may be a different version (see 'aigw --version')";
    return e;
}

CostGroup parse_cost_group(const nlohmann::json& g)
{
    CostGroup c;
    c.key = get_or<std::string>(g, "key", "");
    c.name = get_or<std::string>(g, "name", "");
    c.requests = get_or<std::int64_t>(g, "requests", 0);
    c.errors = get_or<std::int64_t>(g, "errors", 0);
    c.input_tokens = get_or<std::int64_t>(g, "input_tokens", 0);
    c.cached_tokens = get_or<std::int64_t>(g, "cached_tokens", 0);
    c.output_tokens = get_or<std::int64_t>(g, "output_tokens", 0);
    c.cost_usd = get_or<double>(g, "cost_usd", 0);
    c.saved_usd = get_or<double>(g, "saved_usd", 0);
    c.cache_hits = get_or<std::int64_t>(g, "cache_hits", 0);
    c.avg_latency_ms = get_or<double>(g, "avg_latency_ms", 0);
    c.p95_latency_ms = get_or<double>(g, "p95_latency_ms", 0);
    return c;
}

// Runs a parser, turning json type errors into a protocol error.
template <typename F>
auto guarded(const char* what, F&& f) -> decltype(f())
{
    try {
        return f();
    } catch (const nlohmann::json::exception& ex) {
        return std::unexpected(protocol_error(std::string(what) + ": " + ex.what()));
    }
}

VirtualKeyInfo virtual_key_from(const nlohmann::json& j)
{
    VirtualKeyInfo k;
    k.id = get_or<std::string>(j, "id", "");
    k.name = get_or<std::string>(j, "name", "");
    k.status = get_or<std::string>(j, "status", "");
    k.rpm = get_or<std::int64_t>(j, "rpm", 0);
    k.tpm = get_or<std::int64_t>(j, "tpm", 0);
    if (auto b = j.find("budget_usd"); b != j.end() && b->is_number()) {
        k.budget_usd = b->get<double>();
    }
    k.budget_period = get_or<std::string>(j, "budget_period", "");
    k.models = get_or<std::vector<std::string>>(j, "models", {});
    k.expires_ms = get_or<std::int64_t>(j, "expires_ms", 0);
    k.revoked_ms = get_or<std::int64_t>(j, "revoked_ms", 0);
    k.created_ms = get_or<std::int64_t>(j, "created_ms", 0);
    k.spent_day_usd = get_or<double>(j, "spent_day_usd", 0);
    k.spent_month_usd = get_or<double>(j, "spent_month_usd", 0);
    k.raw = j;
    return k;
}

}  // namespace

std::string describe(const ClientError& e)
{
    std::string out;
    const std::string where = !e.model.empty() ? e.model : e.provider;
    switch (e.kind) {
        case ClientErrorKind::http:
            // Only a provider header means the daemon reached an upstream.
            if (!e.provider.empty()) {
                out = "upstream error " + std::to_string(e.status) + " from " + where + ": " + e.message;
            } else if (!e.model.empty()) {
                out = "error " + std::to_string(e.status) + " for " + e.model + ": " + e.message;
            } else {
                out = "error " + std::to_string(e.status) + " from aigwd: " + e.message;
            }
            break;
        case ClientErrorKind::stream:
            out = where.empty() ? "stream error: " + e.message : "stream error from " + where + ": " + e.message;
            break;
        default:
            out = e.message;
            break;
    }
    if (!e.request_id.empty()) {
        out += " (x-request-id " + e.request_id + ")";
    }
    if (!e.hint.empty()) {
        out += "\n  " + e.hint;
    }
    return out;
}

ClientError error_from_response(int status, const std::string& body)
{
    ClientError e;
    e.kind = ClientErrorKind::http;
    e.status = status;
    nlohmann::json j = nlohmann::json::parse(body, nullptr, false);
    const nlohmann::json* err = nullptr;
    if (j.is_object()) {
        if (auto it = j.find("error"); it != j.end()) {
            err = &*it;
        }
    }
    if (err != nullptr && err->is_object()) {
        auto str = [&](const char* k) {
            auto it = err->find(k);
            return (it != err->end() && it->is_string()) ? it->get<std::string>() : std::string();
        };
        e.message = str("message");
        e.type = str("type");
        e.code = str("code");
    } else if (err != nullptr && err->is_string()) {
        e.message = err->get<std::string>();
    } else {
        e.message = body.empty() ? std::string("no error body") : body.substr(0, 300);
    }
    if (e.message.empty()) {
        e.message = "no error message";
    }
    // The daemon's own messages already say what to do; add a hint only where they may not.
    // Only for a model: a 404 for a key or a request id has its own hint (keys list, logs).
    const bool about_model =
        e.code == "model_not_found" || (status == 404 && e.message.find("model") != std::string::npos);
    if (about_model && e.message.find("aigw models") == std::string::npos) {
        e.hint = "list the models with 'aigw models --all'";
    }
    return e;
}

std::expected<Health, ClientError> parse_health(const nlohmann::json& j)
{
    return guarded("/health", [&]() -> std::expected<Health, ClientError> {
        if (!j.is_object()) {
            return std::unexpected(protocol_error("/health is not an object"));
        }
        Health h;
        h.status = get_or<std::string>(j, "status", "");
        h.version = get_or<std::string>(j, "version", "");
        h.pid = get_or<std::int64_t>(j, "pid", 0);
        return h;
    });
}

std::expected<std::vector<ModelRow>, ClientError> parse_models(const nlohmann::json& j)
{
    return guarded("models", [&]() -> std::expected<std::vector<ModelRow>, ClientError> {
        if (!j.is_object() || !j.contains("models") || !j["models"].is_array()) {
            return std::unexpected(protocol_error("no \"models\" array"));
        }
        std::vector<ModelRow> rows;
        for (const auto& m : j["models"]) {
            ModelRow r;
            r.id = get_or<std::string>(m, "id", "");
            r.provider = get_or<std::string>(m, "provider", "");
            if (r.provider.empty()) {
                r.provider = r.id.substr(0, r.id.find('/'));
            }
            r.mode = get_or<std::string>(m, "mode", "chat");
            r.context_window = get_or<std::int64_t>(m, "context_window", 0);
            r.max_output_tokens = get_or<std::int64_t>(m, "max_output_tokens", 0);
            r.tools = get_or<bool>(m, "tools", false);
            r.vision = get_or<bool>(m, "vision", false);
            r.json = get_or<bool>(m, "json", false);
            r.reasoning = get_or<bool>(m, "reasoning", false);
            if (auto it = m.find("price"); it != m.end() && it->is_object()) {
                ModelPrice p;
                p.input = get_or<double>(*it, "input", 0);
                p.cached_input = get_or<double>(*it, "cached_input", 0);
                p.output = get_or<double>(*it, "output", 0);
                r.price = p;
            }
            r.key_present = get_or<bool>(m, "key_present", false);
            r.raw = m;
            rows.push_back(std::move(r));
        }
        return rows;
    });
}

std::expected<CostReport, ClientError> parse_cost(const nlohmann::json& j)
{
    return guarded("cost", [&]() -> std::expected<CostReport, ClientError> {
        if (!j.is_object() || !j.contains("groups") || !j["groups"].is_array()) {
            return std::unexpected(protocol_error("no \"groups\" array in the cost report"));
        }
        CostReport r;
        for (const auto& g : j["groups"]) {
            r.groups.push_back(parse_cost_group(g));
        }
        if (auto it = j.find("total"); it != j.end() && it->is_object()) {
            r.total = parse_cost_group(*it);
        }
        r.total.key = "total";
        r.raw = j;
        return r;
    });
}

std::expected<std::vector<LogRow>, ClientError> parse_logs(const nlohmann::json& j)
{
    return guarded("logs", [&]() -> std::expected<std::vector<LogRow>, ClientError> {
        if (!j.is_object() || !j.contains("rows") || !j["rows"].is_array()) {
            return std::unexpected(protocol_error("no \"rows\" array in the logs"));
        }
        std::vector<LogRow> rows;
        for (const auto& x : j["rows"]) {
            LogRow r;
            r.ts_ms = get_or<std::int64_t>(x, "ts_ms", 0);
            r.request_id = get_or<std::string>(x, "request_id", "");
            r.key_id = get_or<std::string>(x, "key_id", "");
            r.surface = get_or<std::string>(x, "surface", "");
            r.requested_model = get_or<std::string>(x, "requested_model", "");
            r.served_model = get_or<std::string>(x, "served_model", "");
            r.provider = get_or<std::string>(x, "provider", "");
            r.status = get_or<int>(x, "status", 0);
            r.attempts = get_or<int>(x, "attempts", 0);
            r.fallback_reason = get_or<std::string>(x, "fallback_reason", "");
            r.error = get_or<std::string>(x, "error", "");
            r.input_tokens = get_or<std::int64_t>(x, "input_tokens", 0);
            r.cached_tokens = get_or<std::int64_t>(x, "cached_tokens", 0);
            r.output_tokens = get_or<std::int64_t>(x, "output_tokens", 0);
            r.reasoning_tokens = get_or<std::int64_t>(x, "reasoning_tokens", 0);
            r.cost_usd = get_or<double>(x, "cost_usd", 0);
            r.priced = get_or<bool>(x, "priced", false);
            r.latency_ms = get_or<double>(x, "latency_ms", 0);
            r.ttft_ms = get_or<double>(x, "ttft_ms", 0);
            r.stream = get_or<bool>(x, "stream", false);
            r.cache_hit = get_or<bool>(x, "cache_hit", false);
            r.row_id = get_or<std::int64_t>(x, "row_id", 0);
            r.attempt = get_or<int>(x, "attempt", 1);
            r.final_attempt = get_or<bool>(x, "final_attempt", true);
            r.cache_write_tokens = get_or<std::int64_t>(x, "cache_write_tokens", 0);
            r.tag = get_or<std::string>(x, "tag", "");
            r.variant = get_or<std::string>(x, "variant", "");
            r.session = get_or<std::string>(x, "session", "");
            r.request_body = get_or<std::string>(x, "request_body", "");
            r.response_body = get_or<std::string>(x, "response_body", "");
            r.snippet = get_or<std::string>(x, "snippet", "");
            rows.push_back(std::move(r));
        }
        return rows;
    });
}

std::expected<std::vector<LogRow>, ClientError> parse_log_attempts(const nlohmann::json& j)
{
    if (!j.is_object() || !j.contains("attempts")) {
        return std::unexpected(protocol_error("no \"attempts\" array in the request's log"));
    }
    return parse_logs(nlohmann::json{{"rows", j["attempts"]}});
}

std::expected<Status, ClientError> parse_status(const nlohmann::json& j)
{
    return guarded("status", [&]() -> std::expected<Status, ClientError> {
        if (!j.is_object()) {
            return std::unexpected(protocol_error("status is not an object"));
        }
        Status s;
        s.version = get_or<std::string>(j, "version", "");
        s.pid = get_or<std::int64_t>(j, "pid", 0);
        s.port = get_or<int>(j, "port", 0);
        s.uptime_s = get_or<double>(j, "uptime_s", 0);
        s.requests_served = get_or<std::int64_t>(j, "requests_served", 0);
        if (auto u = j.find("unknown_routes"); u != j.end() && u->is_object()) {
            s.unknown_routes = get_or<std::int64_t>(*u, "count", 0);
            if (auto last = u->find("last"); last != u->end() && last->is_array() && !last->empty()) {
                const auto& l = last->back();
                s.last_unknown_route = get_or<std::string>(l, "method", "") + " " + get_or<std::string>(l, "path", "") +
                                       " (user agent '" + get_or<std::string>(l, "user_agent", "") + "')";
            }
        }
        if (auto c = j.find("cluster"); c != j.end() && c->is_object()) {
            s.cluster.enabled = get_or<bool>(*c, "enabled", false);
            s.cluster.redis_down = get_or<std::string>(*c, "redis_down", "");
            if (auto r = c->find("redis"); r != c->end() && r->is_object()) {
                s.cluster.redis_url = get_or<std::string>(*r, "url", "");
                s.cluster.reachable = get_or<bool>(*r, "reachable", false);
                if (auto ms = r->find("ping_ms"); ms != r->end() && ms->is_number()) {
                    s.cluster.ping_ms = ms->get<double>();
                }
                s.cluster.error = get_or<std::string>(*r, "error", "");
            }
            if (auto in = c->find("instances"); in != c->end() && in->is_array()) {
                for (const auto& i : *in) {
                    if (!i.is_object()) {
                        continue;
                    }
                    ClusterStatus::Instance x;
                    x.id = get_or<std::string>(i, "id", "");
                    x.host = get_or<std::string>(i, "host", "");
                    x.port = get_or<int>(i, "port", 0);
                    x.pid = get_or<std::int64_t>(i, "pid", 0);
                    x.version = get_or<std::string>(i, "version", "");
                    x.started_ms = get_or<std::int64_t>(i, "started", 0);
                    x.last_seen_ms = get_or<std::int64_t>(i, "last_seen", 0);
                    x.self = get_or<bool>(i, "self", false);
                    s.cluster.instances.push_back(std::move(x));
                }
            }
            if (auto pg = c->find("postgres"); pg != c->end() && pg->is_object()) {
                s.cluster.postgres_configured = get_or<bool>(*pg, "configured", false);
                s.cluster.postgres_url = get_or<std::string>(*pg, "url", "");
                s.cluster.postgres_reachable = get_or<bool>(*pg, "reachable", false);
                s.cluster.rows_replicated = get_or<std::int64_t>(*pg, "rows_replicated", 0);
            }
            if (auto k = c->find("keys"); k != c->end() && k->is_object()) {
                s.cluster.keys_shared_through = get_or<std::string>(*k, "shared_through", "");
                s.cluster.keys_reachable = get_or<bool>(*k, "reachable", false);
            }
        }
        if (auto it = j.find("warnings"); it != j.end() && it->is_array()) {
            for (const auto& w : *it) {
                if (w.is_string()) {
                    s.warnings.push_back(w.get<std::string>());
                }
            }
        }
        if (auto it = j.find("providers"); it != j.end() && it->is_array()) {
            for (const auto& p : *it) {
                ProviderStatus ps;
                ps.name = get_or<std::string>(p, "name", "");
                ps.wire = get_or<std::string>(p, "wire", "");
                ps.base_url = get_or<std::string>(p, "base_url", "");
                ps.key_present = get_or<bool>(p, "key_present", false);
                ps.key_required = get_or<bool>(p, "key_required", true);
                s.providers.push_back(std::move(ps));
            }
        }
        if (auto it = j.find("deployments"); it != j.end() && it->is_array()) {
            for (const auto& d : *it) {
                DeploymentStatus ds;
                ds.id = get_or<std::string>(d, "id", "");
                ds.state = get_or<std::string>(d, "state", "closed");
                ds.score = get_or<double>(d, "score", 100);
                ds.requests = get_or<std::int64_t>(d, "requests", 0);
                ds.errors = get_or<std::int64_t>(d, "errors", 0);
                ds.rate_limited = get_or<std::int64_t>(d, "rate_limited", 0);
                ds.timeouts = get_or<std::int64_t>(d, "timeouts", 0);
                ds.error_rate = get_or<double>(d, "error_rate", 0);
                ds.p95_ms = get_or<std::int64_t>(d, "p95_ms", -1);
                ds.inflight = get_or<int>(d, "inflight", 0);
                ds.retry_in_ms = get_or<std::int64_t>(d, "retry_in_ms", 0);
                ds.opened_elsewhere = get_or<bool>(d, "opened_elsewhere", false);
                s.deployments.push_back(std::move(ds));
            }
        }
        if (auto it = j.find("keys"); it != j.end() && it->is_array()) {
            for (const auto& k : *it) {
                KeyStatus ks;
                ks.provider = get_or<std::string>(k, "provider", "");
                ks.key = get_or<int>(k, "key", 1);
                ks.state = get_or<std::string>(k, "state", "ok");
                ks.cooldown_ms = get_or<std::int64_t>(k, "cooldown_ms", 0);
                if (auto m = k.find("cooling_models"); m != k.end() && m->is_array()) {
                    for (const auto& name : *m) {
                        if (name.is_string()) {
                            ks.cooling_models.push_back(name.get<std::string>());
                        }
                    }
                }
                ks.reason = get_or<std::string>(k, "reason", "");
                s.keys.push_back(std::move(ks));
            }
        }
        s.raw = j;
        return s;
    });
}

std::expected<VirtualKeyInfo, ClientError> parse_virtual_key(const nlohmann::json& j)
{
    return guarded("key", [&]() -> std::expected<VirtualKeyInfo, ClientError> {
        if (!j.is_object() || !j.contains("id")) {
            return std::unexpected(protocol_error("a key without \"id\""));
        }
        return virtual_key_from(j);
    });
}

std::expected<std::vector<VirtualKeyInfo>, ClientError> parse_virtual_keys(const nlohmann::json& j)
{
    return guarded("keys", [&]() -> std::expected<std::vector<VirtualKeyInfo>, ClientError> {
        if (!j.is_object() || !j.contains("keys") || !j["keys"].is_array()) {
            return std::unexpected(protocol_error("no \"keys\" array"));
        }
        std::vector<VirtualKeyInfo> keys;
        for (const auto& k : j["keys"]) {
            keys.push_back(virtual_key_from(k));
        }
        return keys;
    });
}

std::expected<CacheStats, ClientError> parse_cache_stats(const nlohmann::json& j)
{
    return guarded("cache stats", [&]() -> std::expected<CacheStats, ClientError> {
        if (!j.is_object()) {
            return std::unexpected(protocol_error("cache stats is not an object"));
        }
        CacheStats s;
        s.enabled = get_or<bool>(j, "enabled", false);
        s.ttl_s = get_or<std::int64_t>(j, "ttl_s", 0);
        s.entries = get_or<std::int64_t>(j, "entries", 0);
        s.bytes = get_or<std::int64_t>(j, "bytes", 0);
        s.max_bytes = get_or<std::int64_t>(j, "max_bytes", 0);
        s.semantic_entries = get_or<std::int64_t>(j, "semantic_entries", 0);
        s.embedding_model = get_or<std::string>(j, "embedding_model", "");
        s.semantic_threshold = get_or<double>(j, "semantic_threshold", 0);
        s.hits = get_or<std::int64_t>(j, "hits", 0);
        s.semantic_hits = get_or<std::int64_t>(j, "semantic_hits", 0);
        s.misses = get_or<std::int64_t>(j, "misses", 0);
        s.hit_rate = get_or<double>(j, "hit_rate", 0);
        s.stores = get_or<std::int64_t>(j, "stores", 0);
        s.evictions = get_or<std::int64_t>(j, "evictions", 0);
        s.expirations = get_or<std::int64_t>(j, "expirations", 0);
        s.too_large = get_or<std::int64_t>(j, "too_large", 0);
        s.saved_usd = get_or<double>(j, "saved_usd", 0);
        s.raw = j;
        return s;
    });
}

}  // namespace aigw::client

#include "cli/config_view.hpp"

#include "cli/cmd_keys.hpp"
#include "cli/term.hpp"

#include <toml++/toml.h>

#include <functional>
#include <optional>

namespace aigw::cli {

namespace {

std::optional<toml::table> parse_quietly(std::string_view text)
{
#if TOML_EXCEPTIONS
    try {
        return toml::parse(text);
    } catch (const toml::parse_error&) {
        return std::nullopt;
    }
#else
    auto parsed = toml::parse(text);
    if (!parsed) {
        return std::nullopt;
    }
    return std::move(parsed).table();
#endif
}

std::string boolean(bool b)
{
    return b ? "true" : "false";
}
std::string number(double d)
{
    std::string s = format_fixed(d, 6);
    while (s.ends_with('0') && !s.ends_with(".0")) {
        s.pop_back();
    }
    return s;
}

}  // namespace

std::vector<ConfigValue> effective_config(const config::Config& cfg, std::string_view file_text, const config::Env& env,
                                          bool data_dir_flag)
{
    const auto root = parse_quietly(file_text);
    auto in_file = [&](std::string_view path) { return root && static_cast<bool>(root->at_path(path)); };
    std::vector<ConfigValue> out;
    auto add = [&](std::string key, std::string value) {
        std::string source = in_file(key) ? "file" : "default";
        out.push_back({std::move(key), std::move(value), std::move(source)});
    };
    add("server.host", toml_string(cfg.host));
    add("server.port", std::to_string(cfg.port));
    add("server.threads", std::to_string(cfg.threads));
    add("server.keep_alive_max", std::to_string(cfg.keep_alive_max));
    add("server.metrics_token", cfg.metrics_token.empty() ? "(not set)" : mask_key(cfg.metrics_token));
    add("upstream.connect_timeout_ms", std::to_string(cfg.connect_timeout_ms));
    add("upstream.read_timeout_ms", std::to_string(cfg.read_timeout_ms));
    add("upstream.first_byte_timeout_ms", std::to_string(cfg.first_byte_timeout_ms));
    add("upstream.idle_timeout_ms", std::to_string(cfg.idle_timeout_ms));
    add("upstream.total_timeout_ms", std::to_string(cfg.total_timeout_ms));
    const auto& r = cfg.routing;
    add("routing.retries", std::to_string(r.retries));
    add("routing.backoff_initial_ms", std::to_string(r.backoff_initial_ms));
    add("routing.backoff_max_ms", std::to_string(r.backoff_max_ms));
    add("routing.max_retry_wait_ms", std::to_string(r.max_retry_wait_ms));
    add("routing.key_cooldown_ms", std::to_string(r.key_cooldown_ms));
    add("routing.auto_fallback", boolean(r.auto_fallback));
    add("routing.circuit_failures", std::to_string(r.circuit_failures));
    add("routing.circuit_cooldown_ms", std::to_string(r.circuit_cooldown_ms));
    add("routing.health_window_ms", std::to_string(r.health_window_ms));
    add("routing.strategy", toml_string(config::to_string(r.strategy)));
    add("ledger.retention_days", std::to_string(cfg.retention_days));
    add("ledger.log_bodies", boolean(cfg.log_bodies));
    add("log.format", toml_string(std::string(config::to_string(cfg.log_format))));
    if (auto v = env("AIGW_LOG_FORMAT"); v && !v->empty()) {
        out.back().source = "env (AIGW_LOG_FORMAT)";
    }
    add("log.requests", boolean(cfg.access_log_on()));
    const auto& c = cfg.cache;
    add("cache.enabled", boolean(c.enabled));
    add("cache.ttl_s", std::to_string(c.ttl_s));
    add("cache.max_mb", std::to_string(c.max_mb));
    add("cache.max_entry_kb", std::to_string(c.max_entry_kb));
    add("cache.semantic_threshold", number(c.semantic_threshold));
    add("cache.embedding_model", toml_string(c.embedding_model));
    add("cache.semantic_max_entries", std::to_string(c.semantic_max_entries));
    add("budget.daily_usd", number(cfg.budget.daily_usd));
    add("budget.monthly_usd", number(cfg.budget.monthly_usd));
    add("budget.alert_at", number(cfg.budget.alert_at));
    const auto& o = cfg.otel;
    add("otel.endpoint", toml_string(o.endpoint));
    if (o.endpoint.empty() && !o.traces_endpoint.empty()) {
        add("otel.traces_endpoint", toml_string(o.traces_endpoint));
    }
    for (const char* var : {"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT"}) {
        if (auto v = env(var); v && !v->empty() && out.back().source == "default" && !o.traces_url().empty()) {
            out.back().source = std::string("env (") + var + ")";
            break;
        }
    }
    add("otel.service_name", toml_string(o.service_name));
    add("otel.sample_ratio", number(o.sample_ratio));
    for (const auto& [name, value] : o.headers) {
        // Collector credentials: masked like provider keys.
        add("otel.headers." + name, mask_key(value));
        if (out.back().source == "default") {
            out.back().source = "env (OTEL_EXPORTER_OTLP_HEADERS)";
        }
    }
    // [cluster]: the URLs carry passwords; shown with the password masked.
    auto masked_url = [](const std::string& url) {
        const auto scheme = url.find("://");
        const auto at = url.rfind('@');
        if (scheme == std::string::npos || at == std::string::npos || at < scheme) {
            return url;
        }
        const auto colon = url.find(':', scheme + 3);
        const auto secret_from = colon != std::string::npos && colon < at ? colon + 1 : scheme + 3;
        return url.substr(0, secret_from) + "****" + url.substr(at);
    };
    add("cluster.redis_url", toml_string(masked_url(cfg.cluster.redis_url)));
    add("cluster.postgres_url", toml_string(masked_url(cfg.cluster.postgres_url)));
    add("cluster.redis_down",
        toml_string(cfg.cluster.redis_down == config::ClusterConfig::RedisDown::refuse ? "refuse" : "local"));

    add("data_dir", toml_string(cfg.data_dir.string()));
    if (data_dir_flag) {
        out.back().source = "flag (--data-dir)";
    } else if (auto v = env("AIGW_DATA_DIR"); v && !v->empty()) {
        out.back().source = "env (AIGW_DATA_DIR)";
    }

    for (const auto& [name, target] : cfg.aliases) {
        add("aliases." + name, toml_string(target));
    }
    for (const auto& [name, spec] : cfg.providers) {
        add("providers." + name + ".base_url", toml_string(spec.base_url));
        const std::string var = config::base_url_env_name(name);
        if (auto v = env(var); v && !v->empty()) {
            out.back().source = "env (" + var + ")";
        } else if (name == "azure" && out.back().source == "default") {
            if (auto e = env("AZURE_OPENAI_ENDPOINT"); e && !e->empty()) {
                out.back().source = "env (AZURE_OPENAI_ENDPOINT)";
            }
        }
        if (spec.key_env.empty() && !spec.key_required) {
            continue;
        }
        const std::string key = config::provider_key(cfg, spec, env);
        ConfigValue v{"providers." + name + ".api_key", key.empty() ? "(not set)" : mask_key(key), "-"};
        if (!key.empty()) {
            auto from_env = spec.key_env.empty() ? std::nullopt : env(spec.key_env);
            v.source = from_env && !from_env->empty() ? "env (" + spec.key_env + ")" : "keys file";
        }
        out.push_back(std::move(v));
    }
    return out;
}

}  // namespace aigw::cli

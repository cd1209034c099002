#pragma once
// Configuration: TOML file + environment, with zero config working when a key is set.

#include "shared/config/catalog.hpp"
#include "shared/config/paths.hpp"
#include "shared/config/providers.hpp"
#include "shared/wire/error.hpp"

#include <cstdint>
#include <expected>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace aigw::config {

inline constexpr int k_default_port = 4141;

/// How a logical model spreads requests over its deployments.
enum class BalanceStrategy { weighted, least_busy, lowest_latency };
std::string_view to_string(BalanceStrategy s);

/// One concrete model behind a logical name, with its share of the traffic.
struct WeightedModel {
    std::string model;  ///< "provider/model" (or an alias)
    double weight = 1;
};

/// Routing for one model name, from [models."NAME"]: where to go when it fails, which
/// deployments serve it, and A/B splits. NAME may be "provider/model" or a logical name.
struct ModelRouting {
    std::vector<std::string> fallback;        ///< tried in order once NAME's own attempts fail
    std::vector<WeightedModel> deployments;   ///< load-balanced; empty: NAME itself
    std::optional<BalanceStrategy> strategy;  ///< unset: [routing] strategy
    std::vector<WeightedModel> split;         ///< A/B variants (sticky per `user`)
};

/// [routing]: retries, backoff, circuit breakers and health.
struct RoutingSettings {
    int retries = 2;                        ///< extra tries of one deployment on retryable failures
    std::int64_t backoff_initial_ms = 250;  ///< first backoff; doubles each retry, full jitter
    std::int64_t backoff_max_ms = 8'000;
    std::int64_t max_retry_wait_ms = 30'000;  ///< a longer Retry-After moves on instead of waiting
    std::int64_t key_cooldown_ms = 30'000;    ///< a 429'd key rests this long without Retry-After
    bool auto_fallback = false;               ///< fall back to capability-matched models too
    int circuit_failures = 5;                 ///< consecutive failures that open a circuit
    std::int64_t circuit_cooldown_ms = 30'000;
    std::int64_t health_window_ms = 300'000;
    BalanceStrategy strategy = BalanceStrategy::weighted;
};

/// [models."provider/model"]: how the gateway treats one model besides its catalog entry
/// (prices and capabilities go to the catalog). Other features add their own block.
struct ModelPolicy {
    // ---- limits (daemon/limits) ----
    std::int64_t rpm = 0;  ///< requests per minute over all callers; 0 = no limit
    std::int64_t tpm = 0;  ///< tokens per minute over all callers; 0 = no limit
};

/// [budget]: spend limits over every key (the admin key included), in UTC days and months.
struct BudgetConfig {
    double daily_usd = 0;    ///< 0 = no daily budget
    double monthly_usd = 0;  ///< 0 = no monthly budget
    double alert_at = 0.8;   ///< fraction of any budget (overall or a key's) that logs an alert once per period
};

/// [limits]: how admission treats what it cannot price.
struct LimitsConfig {
    /// false: a model with no price is refused while a budget (global or the key's) applies,
    /// since its spend could not be counted. true: such requests pass and cost $0.
    bool allow_unpriced = false;
};

/// [cache]: the response cache. Off by default: an identical request reaches the provider
/// again unless the config or the request (`x-aigw-cache: on|semantic`) asks for the cache.
struct CacheConfig {
    bool enabled = false;              ///< cache every chat request unless it opts out
    std::int64_t ttl_s = 3600;         ///< default time to live of an entry
    std::int64_t max_mb = 256;         ///< memory and disk the entries may take (LRU beyond)
    std::int64_t max_entry_kb = 1024;  ///< larger answers are not stored
    double semantic_threshold = 0.92;  ///< cosine similarity a semantic match needs
    std::string embedding_model;       ///< e.g. "openai/text-embedding-3-small"; "" = no semantic cache
    std::int64_t semantic_max_entries = 10'000;
};

/// Per-model cache policy from [models."provider/model"]: cache, cache_ttl_s, semantic.
struct ModelCachePolicy {
    std::optional<bool> cache;          ///< overrides [cache] enabled for this model
    std::optional<std::int64_t> ttl_s;  ///< overrides [cache] ttl_s
    bool semantic = false;              ///< semantic matching without the request asking
};

/// How aigwd writes its log lines: human text, or one JSON object per line.
enum class LogFormat { text, json };
/// "text" or "json".
std::string_view to_string(LogFormat f);
/// "text" / "json" (any case), nullopt otherwise.
std::optional<LogFormat> log_format_from_string(std::string_view s);

/// [otel]: OpenTelemetry traces over OTLP/HTTP (JSON). Without an endpoint (here or in
/// OTEL_EXPORTER_OTLP_[TRACES_]ENDPOINT) nothing is exported. The file's values win; the
/// standard OTEL_* variables fill in what it leaves out (they are shared with other tools).
struct OtelConfig {
    std::string endpoint;         ///< collector base, e.g. "http://127.0.0.1:4318"; traces go to {endpoint}/v1/traces
    std::string traces_endpoint;  ///< the full traces URL, used as is (OTEL_EXPORTER_OTLP_TRACES_ENDPOINT)
    std::map<std::string, std::string, std::less<>> headers;  ///< sent with every export (auth): secrets
    std::string service_name = "aigwd";
    double sample_ratio = 1.0;  ///< of new traces; a client's traceparent decides for its own

    /// Where spans are POSTed: traces_endpoint, else endpoint + "/v1/traces"; "" = export off.
    std::string traces_url() const;
};

/// [cluster]: what several aigwd share (issue 16). Both empty: everything stays local.
struct ClusterConfig {
    std::string redis_url;     ///< "redis://[[user]:password@]host[:port][/db]": a secret (its password)
    std::string postgres_url;  ///< "postgresql://...": a secret (its password)
    /// When Redis cannot be reached: "local" limits per instance (logged loudly), or
    /// "refuse" requests that need a shared limit (503).
    enum class RedisDown { local, refuse } redis_down = RedisDown::local;
};

struct Config {
    // [server]
    std::string host = "127.0.0.1";
    int port = k_default_port;
    int threads = 0;                 ///< 0: chosen at start-up from the core count
    int keep_alive_max = 10000;      ///< requests per inbound keep-alive connection
    int header_timeout_ms = 30'000;  ///< a request's header must arrive within this (dribblers are cut off)
    int body_timeout_ms = 120'000;   ///< and its body within this
    int max_connections = 20000;     ///< open client connections; beyond, a 503 in the caller's shape
    /// Host header names allowed besides localhost, 127.0.0.1, [::1] and the bound address
    /// (DNS rebinding protection); "*" allows any.
    std::vector<std::string> allowed_hosts;
    /// A bearer token GET /metrics accepts besides the gateway key (for a Prometheus that
    /// should not hold the gateway key); "" accepts only the gateway key. A secret: masked
    /// by `aigw config show`.
    std::string metrics_token;
    /// TLS for inbound connections: PEM certificate (chain) and private key files, both or
    /// neither (relative paths are relative to the config file; "~/" expanded). Set: the
    /// daemon speaks only HTTPS on its port. The key file must not be world-readable.
    std::filesystem::path tls_cert;
    std::filesystem::path tls_key;
    /// Model endpoints refuse the gateway key: callers need a virtual key (`aigw keys
    /// create`); the gateway key still opens the admin API. Required to listen beyond loopback.
    bool require_virtual_keys = false;
    // [upstream]
    std::int64_t connect_timeout_ms = 10'000;
    std::int64_t read_timeout_ms = 600'000;        ///< socket read timeout (backstop)
    std::int64_t first_byte_timeout_ms = 300'000;  ///< until the answer (non-stream) or first content
    std::int64_t idle_timeout_ms = 120'000;        ///< longest gap between two stream chunks
    std::int64_t total_timeout_ms = 900'000;       ///< a whole request, every attempt included
    RoutingSettings routing;
    // [ledger]
    int retention_days = 90;
    bool log_bodies = false;
    // [log]: the daemon's own log (stderr, which `aigw daemon start` sends to daemon.log)
    LogFormat log_format = LogFormat::text;  ///< AIGW_LOG_FORMAT beats the file
    /// One access line per request; unset: on with format = "json" (logs meant for tools),
    /// off with "text" (a line per request costs ~10-20 us of CPU, and `aigw logs -f` shows
    /// the traffic to a person).
    std::optional<bool> log_requests;
    bool access_log_on() const { return log_requests.value_or(log_format == LogFormat::json); }
    // [cache], and the cache keys of [models."p/m"] (by "provider/model")
    CacheConfig cache;
    std::map<std::string, ModelCachePolicy, std::less<>> model_cache;

    std::filesystem::path data_dir;
    std::filesystem::path config_path;  ///< the file read (may not exist)

    std::map<std::string, ProviderSpec, std::less<>>
        providers;  ///< presets + [providers.*], base URLs after env overrides
    std::map<std::string, std::string, std::less<>> aliases;  ///< [aliases] fast = "groq/llama-3.3-70b-versatile"
    /// [model_families] "claude-*" = "anthropic": the provider of a bare model name the
    /// catalog does not know, by its longest matching prefix (defaults: default_model_families()).
    std::map<std::string, std::string, std::less<>> model_families;
    Catalog catalog;                                                 ///< builtin + [models."p/m"]
    std::map<std::string, ModelRouting, std::less<>> model_routing;  ///< [models."NAME"] routing keys
    std::map<std::string, ModelPolicy, std::less<>> model_policies;  ///< [models."p/m"] non-catalog keys, by id
    BudgetConfig budget;                                             ///< [budget]
    LimitsConfig limits;                                             ///< [limits]
    OtelConfig otel;
    ClusterConfig
        cluster;  ///< [cluster]                                                 ///< [otel], OTEL_* env filled in

    /// Problems that do not stop loading, e.g. "config.toml:12: unknown key 'foo' in [server]".
    /// The daemon logs them at start-up; `aigw` may print them.
    std::vector<std::string> warnings;
};

/// Loads the config file (absent is fine), applies AIGW_* env overrides, merges the catalog.
/// `data_dir_override` (from --data-dir) wins over config and env. The data dir is then
/// $AIGW_DATA_DIR, else a top-level `data_dir = "..."` in the file (relative to the file,
/// "~/" expanded), else the XDG default. AIGW_<PROVIDER>_BASE_URL beats the file.
/// Returns an error message naming the file and line when the TOML is bad.
std::expected<Config, std::string> load_config(const Env& env, const std::filesystem::path& data_dir_override = {});

/// Every problem of the config file at once, for `aigw config check` and for the commands
/// that must work with a broken file (`aigw daemon stop`).
struct ConfigCheck {
    Config config;                    ///< every value that could be read; defaults and env elsewhere
    std::vector<std::string> errors;  ///< "file:line: ..." each; the daemon would refuse to start
};

/// Like load_config, but goes on past errors and collects them all. Unknown keys stay
/// warnings (in config.warnings). A TOML syntax error leaves only defaults and env.
ConfigCheck check_config(const Env& env, const std::filesystem::path& data_dir_override = {});

/// Parses TOML text into a Config (no env, no file). Used by load_config and tests.
/// Sections: [server] host, port, listen ("host:port", instead of host and port), tls_cert,
/// tls_key, require_virtual_keys, threads, keep_alive_max, max_connections, allowed_hosts,
/// header_timeout_ms, body_timeout_ms, metrics_token; [upstream] connect_timeout_ms,
/// read_timeout_ms; [ledger] retention_days, log_bodies; [log] format (text|json), requests;
/// [cache] enabled, ttl_s, max_mb,
/// max_entry_kb, semantic_threshold, embedding_model, semantic_max_entries; [providers.NAME] type
/// (openai|anthropic|gemini|azure|bedrock|cohere|mock), base_url, api_key_env, key_required,
/// display_name, and the provider options api_version, region, responses, completions (a
/// preset name overrides the preset; any other name adds a provider and needs base_url);
/// [aliases] name = "provider/model"; [models."provider/model"] input, cached_input,
/// cache_write, cache_write_1h, output, long_context_threshold, long_input,
/// long_cached_input, long_cache_write, long_cache_write_1h, long_output (USD per 1M
/// tokens), context_window, max_output_tokens, mode, tools, vision, json, reasoning --
/// fields left out keep the built-in catalog's values -- and the routing keys fallback
/// (array of model names), deployments (array of "p/m" or {model, weight}), strategy
/// (weighted|least-busy|lowest-latency), split ({ "p/m" = weight, ... }); a NAME without a
/// provider prefix is a logical model and may only have routing keys. [upstream] also takes
/// first_byte_timeout_ms, idle_timeout_ms, total_timeout_ms; [routing] retries,
/// backoff_initial_ms, backoff_max_ms, max_retry_wait_ms, key_cooldown_ms, auto_fallback,
/// circuit_failures, circuit_cooldown_ms, health_window_ms, strategy.
/// Also rpm, tpm (ModelPolicy); [budget] daily_usd, monthly_usd, alert_at; [limits] allow_unpriced.
/// Also the cache policy cache, cache_ttl_s, semantic (into model_cache); [cache].
/// [otel] endpoint, traces_endpoint (http:// or https:// URLs), headers (a table of strings),
/// service_name, sample_ratio (0..1).
/// Other unknown keys become `warnings`.
std::expected<Config, std::string> parse_config(std::string_view toml_text, std::string_view source_name);

/// `[server] listen`: "host:port", "[v6addr]:port" or ":port" (all IPv4 addresses) -> host
/// and port; an error message saying what is wrong otherwise.
std::expected<std::pair<std::string, int>, std::string> parse_listen(std::string_view text);

/// Whether a listen host only accepts connections from this machine: "localhost", an
/// address in 127.0.0.0/8, or ::1. Any other name or address is reachable from outside.
bool is_loopback_host(std::string_view host);

/// Why aigwd must not start with this [server] section, or nullopt: beyond loopback it needs
/// TLS (tls_cert and tls_key) and require_virtual_keys = true; tls_cert without tls_key
/// (or the reverse) is always an error. The message names the settings to add.
std::optional<std::string> listen_refusal(const Config& cfg);

/// The built-in families: claude-* to anthropic, gpt-*, o1..o9*, chatgpt-*, codex-*,
/// text-embedding-3-*, davinci/babbage to openai, gemini-*, gemma-*, text-embedding-004 to
/// gemini, command-*/embed-* to cohere, mistral-*, codestral-*, ministral-*, magistral-*,
/// devstral-* to mistral, deepseek-* to deepseek, grok-* to xai, sonar* to perplexity,
/// kimi-* to moonshot. Keys are prefixes ending in '*' (or whole names).
std::map<std::string, std::string, std::less<>> default_model_families();

struct ResolvedModel {
    const ProviderSpec* provider = nullptr;
    std::string model;                ///< as sent upstream, without the provider prefix
    std::string id;                   ///< "provider/model"
    const ModelInfo* info = nullptr;  ///< nullptr: unknown model of a known provider (unpriced)
};

/// "provider/model", an alias, or a bare catalog name -> provider and upstream model.
/// Unknown provider or a bare name that resolves to none: 404 model_not_found.
/// Names are normalised: surrounding spaces trimmed, "//" collapsed, the provider part
/// matched case-insensitively; `info` comes from Catalog::find_priced (dated snapshots and
/// case variants get their family's price; a case variant also gets the catalog's `id`).
/// The model part keeps its case upstream. A name with inner spaces or control characters
/// is a 400.
std::expected<ResolvedModel, wire::Failure> resolve_model(const Config& cfg, std::string_view requested);

/// The API key for a provider: its env var, else the provider-keys file in the data dir.
/// Empty when none is set.
std::string provider_key(const Config& cfg, const ProviderSpec& p, const Env& env);

}  // namespace aigw::config

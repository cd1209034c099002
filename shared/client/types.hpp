#pragma once
// Typed answers of the daemon's HTTP API and the one error type every client call returns.

#include <nlohmann/json.hpp>

#include <cstdint>
#include <expected>
#include <optional>
#include <string>
#include <vector>

namespace aigw::client {

enum class ClientErrorKind {
    not_running,  ///< no daemon found and spawning was not allowed
    spawn,        ///< starting aigwd failed
    connect,      ///< nothing answers at the endpoint (refused, timeout)
    http,         ///< the daemon answered with an error status
    stream,       ///< an error event mid-stream, or the stream ended without [DONE]
    protocol,     ///< an answer we could not parse
    cancelled,    ///< the caller stopped the request
};

struct ClientError {
    ClientErrorKind kind = ClientErrorKind::protocol;
    std::string message;     ///< human text; for http/stream the daemon's error.message
    int status = 0;          ///< HTTP status for kind == http
    std::string type;        ///< OpenAI error.type when the daemon sent one
    std::string code;        ///< OpenAI error.code when the daemon sent one
    std::string request_id;  ///< x-request-id when known
    std::string provider;    ///< x-aigw-provider when known
    std::string model;       ///< x-aigw-model when known, else the requested model
    std::string hint;        ///< what to do next, when we can tell
};

/// One line for the user: what happened, where, and what to do, e.g.
/// "upstream error 429 from openai/gpt-4o: Rate limit reached (x-request-id abc)".
std::string describe(const ClientError& e);

/// The x-aigw-* headers of a chat answer.
struct ResponseMeta {
    std::string request_id;
    std::string provider;
    std::string model;
    std::optional<double> cost_usd;
    std::string cache;            ///< "HIT", "MISS" or empty
    std::string attempts;         ///< x-aigw-attempts when retries or fallbacks happened
    std::string fallback_reason;  ///< x-aigw-fallback-reason: why the attempt that answered was made
};

struct ChatResult {
    ResponseMeta meta;
    nlohmann::json body;  ///< non-stream: the whole response; stream: null
    std::string content;  ///< assistant text (stream: concatenated deltas)
    std::string finish_reason;
    nlohmann::json usage;           ///< the usage object when the daemon sent one, else null
    bool cancelled = false;         ///< stream stopped by the caller; content is the partial answer
    nlohmann::json tool_calls;      ///< the message's tool_calls (stream: assembled), else null
    double latency_ms = 0;          ///< request sent -> answer complete, measured by the client
    std::optional<double> ttft_ms;  ///< stream: request sent -> first content or tool-call delta
};

struct Health {
    std::string status;
    std::string version;
    std::int64_t pid = 0;
};

struct ModelPrice {
    double input = 0;
    double cached_input = 0;
    double output = 0;
};

struct ModelRow {
    std::string id;
    std::string provider;
    std::string mode;
    std::int64_t context_window = 0;
    std::int64_t max_output_tokens = 0;
    bool tools = false;
    bool vision = false;
    bool json = false;
    bool reasoning = false;
    std::optional<ModelPrice> price;  ///< nullopt: unpriced
    bool key_present = false;
    nlohmann::json raw;  ///< the row as the daemon sent it (for --json)
};

struct CostGroup {
    std::string key;
    std::int64_t requests = 0;
    std::int64_t errors = 0;
    std::int64_t input_tokens = 0;
    std::int64_t cached_tokens = 0;
    std::int64_t output_tokens = 0;
    double cost_usd = 0;
    std::int64_t cache_hits = 0;
    double avg_latency_ms = 0;
    double saved_usd = 0;  ///< what cache hits saved
    std::string name;      ///< by key: the virtual key's name ("gateway key" for "default")
    double p95_latency_ms = 0;
};

struct CostReport {
    std::vector<CostGroup> groups;
    CostGroup total;
    nlohmann::json raw;
};

struct CostQuery {
    std::optional<std::int64_t> since_ms;
    std::optional<std::int64_t> until_ms;
    std::string by = "model";
};

struct LogRow {
    std::int64_t ts_ms = 0;
    std::string request_id;
    std::string key_id;
    std::string surface;
    std::string requested_model;
    std::string served_model;
    std::string provider;
    int status = 0;
    int attempts = 0;
    std::string fallback_reason;
    std::string error;
    std::int64_t input_tokens = 0;
    std::int64_t cached_tokens = 0;
    std::int64_t output_tokens = 0;
    std::int64_t reasoning_tokens = 0;
    double cost_usd = 0;
    bool priced = false;
    double latency_ms = 0;
    double ttft_ms = 0;
    bool stream = false;
    bool cache_hit = false;
    std::int64_t row_id = 0;  ///< cursor for following new rows (when the daemon sends it)
    int attempt = 1;
    bool final_attempt = true;
    std::int64_t cache_write_tokens = 0;
    std::string tag;
    std::string variant;
    std::string session;       ///< the agent session ("" when none)
    std::string request_body;  ///< only with body logging on
    std::string response_body;
    std::string snippet;  ///< a search's matching words in context ("[refund] [policy]")
};

/// GET /aigw/v1/logs with row ids, oldest first: the newest `limit` rows, or the first
/// `limit` rows after a cursor; only one run's rows when `tag` is set, one agent session's
/// when `session` is.
struct LogQuery {
    int limit = 50;
    std::optional<std::int64_t> after_row_id;
    std::string tag;
    std::string session;
    bool all_attempts = false;
    /// Full-text search of the stored bodies (FTS5 syntax); the rows come newest first,
    /// each with a snippet. An http 400 means the daemon could not parse the query.
    std::string query;
    std::string key;                       ///< one key id's rows
    std::string model;                     ///< served model
    int status = 0;                        ///< one HTTP status
    int status_class = 0;                  ///< 2 = 2xx, 4 = 4xx, 5 = 5xx
    bool errors = false;                   ///< status >= 400
    std::optional<std::int64_t> since_ms;  ///< rows at or after
};

struct ProviderStatus {
    std::string name;
    std::string wire;
    std::string base_url;
    bool key_present = false;
    bool key_required = true;  ///< false: a local server (ollama) that is usable when it answers
};

/// One deployment's health: circuit state and rolling-window numbers.
struct DeploymentStatus {
    std::string id;
    std::string state;  ///< closed | open | half-open
    double score = 100;
    std::int64_t requests = 0;
    std::int64_t errors = 0;
    std::int64_t rate_limited = 0;
    std::int64_t timeouts = 0;
    double error_rate = 0;
    std::int64_t p95_ms = -1;
    int inflight = 0;
    std::int64_t retry_in_ms = 0;
    bool opened_elsewhere = false;  ///< open because another instance of the cluster opened it
};

/// A provider key by position (the key itself never leaves the daemon).
struct KeyStatus {
    std::string provider;
    int key = 1;        ///< 1-based position in the provider's key list
    std::string state;  ///< ok | cooling | bad
    std::int64_t cooldown_ms = 0;
    std::vector<std::string> cooling_models;  ///< rate limits are per key and model
    std::string reason;
};

/// [cluster] as `aigw status` shows it: where the shared state lives and whether it answers.
struct ClusterStatus {
    bool enabled = false;    ///< [cluster] redis_url is set
    std::string redis_url;   ///< without its password
    bool reachable = false;  ///< PING answered
    double ping_ms = 0;      ///< when reachable
    std::string error;       ///< when not
    std::string redis_down;  ///< "local" or "refuse"
    /// A live instance of the cluster, from its heartbeat in Redis.
    struct Instance {
        std::string id;
        std::string host;
        int port = 0;
        std::int64_t pid = 0;
        std::string version;
        std::int64_t started_ms = 0;    ///< unix ms
        std::int64_t last_seen_ms = 0;  ///< unix ms of its last heartbeat
        bool self = false;              ///< the instance that answered
    };
    std::vector<Instance> instances;
    bool postgres_configured = false;  ///< [cluster] postgres_url is set
    std::string postgres_url;          ///< without its password
    bool postgres_reachable = false;   ///< the replicator's last attempt worked
    std::int64_t rows_replicated = 0;  ///< by the instance that answered, since it started
    /// Where virtual keys are shared ("PostgreSQL at ...", "Redis at ..."); "" when they are not.
    std::string keys_shared_through;
    bool keys_reachable = false;  ///< the key sync's last exchange with that store worked
};

struct Status {
    std::string version;
    std::vector<DeploymentStatus> deployments;
    std::vector<KeyStatus> keys;
    std::int64_t pid = 0;
    int port = 0;
    double uptime_s = 0;
    std::int64_t requests_served = 0;
    std::int64_t unknown_routes = 0;  ///< requests for routes aigwd does not serve
    std::string last_unknown_route;   ///< "POST /v1/foo (user agent 'x')", "" when none
    std::vector<ProviderStatus> providers;
    std::vector<std::string> warnings;  ///< from start-up or the last reload ("file:line: ...")
    ClusterStatus cluster;
    nlohmann::json raw;
};

/// What POST /aigw/v1/reload applied (dotted config keys) and what waits for a restart.
struct ReloadReport {
    std::vector<std::string> applied;
    std::vector<std::string> needs_restart;
    std::vector<std::string> warnings;
};

/// A virtual key as the admin API shows it (never its secret or hash).
struct VirtualKeyInfo {
    std::string id;
    std::string name;
    std::string status;    ///< "active", "revoked", "expired"
    std::int64_t rpm = 0;  ///< 0 = no limit
    std::int64_t tpm = 0;
    std::optional<double> budget_usd;
    std::string budget_period;        ///< "day" | "month" when budget_usd is set
    std::vector<std::string> models;  ///< glob patterns; empty = every model
    std::int64_t expires_ms = 0;      ///< 0 = never
    std::int64_t revoked_ms = 0;
    std::int64_t created_ms = 0;
    double spent_day_usd = 0;    ///< this UTC day
    double spent_month_usd = 0;  ///< this UTC month
    nlohmann::json raw;
};

/// What `aigw keys create` asks for.
struct NewVirtualKey {
    std::string name;
    std::int64_t rpm = 0;
    std::int64_t tpm = 0;
    std::optional<double> budget_usd;
    std::string budget_period = "day";
    std::vector<std::string> models;
    std::int64_t expires_ms = 0;
};

struct CreatedVirtualKey {
    VirtualKeyInfo info;
    std::string secret;  ///< shown once
};

/// GET /aigw/v1/cache. Counters are since the daemon started; entries and bytes are now.
struct CacheStats {
    bool enabled = false;  ///< [cache] enabled: requests use the cache without asking
    std::int64_t ttl_s = 0;
    std::int64_t entries = 0;
    std::int64_t bytes = 0;
    std::int64_t max_bytes = 0;
    std::int64_t semantic_entries = 0;
    std::string embedding_model;
    double semantic_threshold = 0;
    std::int64_t hits = 0;
    std::int64_t semantic_hits = 0;
    std::int64_t misses = 0;
    double hit_rate = 0;
    std::int64_t stores = 0;
    std::int64_t evictions = 0;
    std::int64_t expirations = 0;
    std::int64_t too_large = 0;
    double saved_usd = 0;
    nlohmann::json raw;
};

/// Parsers for the admin API's JSON (pure; a missing field keeps its default, a wrong
/// shape is a protocol error).
std::expected<Health, ClientError> parse_health(const nlohmann::json& j);
std::expected<std::vector<ModelRow>, ClientError> parse_models(const nlohmann::json& j);
std::expected<CostReport, ClientError> parse_cost(const nlohmann::json& j);
std::expected<std::vector<LogRow>, ClientError> parse_logs(const nlohmann::json& j);
/// GET /aigw/v1/logs/{request_id}: {"request_id", "attempts": [rows]}.
std::expected<std::vector<LogRow>, ClientError> parse_log_attempts(const nlohmann::json& j);
std::expected<Status, ClientError> parse_status(const nlohmann::json& j);
std::expected<VirtualKeyInfo, ClientError> parse_virtual_key(const nlohmann::json& j);
std::expected<std::vector<VirtualKeyInfo>, ClientError> parse_virtual_keys(const nlohmann::json& j);
std::expected<CacheStats, ClientError> parse_cache_stats(const nlohmann::json& j);

/// A ClientError from an error answer: reads {"error":{message,type,code}} when present.
ClientError error_from_response(int status, const std::string& body);

}  // namespace aigw::client

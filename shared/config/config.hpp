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

/// [cache]: the response cache. Off by default: an identical request reaches the provider
/// again unless the config or the request (`x-aigw-cache: on|semantic`) asks for the cache.
struct CacheConfig {
    bool enabled = false;                ///< cache every chat request unless it opts out
    std::int64_t ttl_s = 3600;           ///< default time to live of an entry
    std::int64_t max_mb = 256;           ///< memory and disk the entries may take (LRU beyond)
    std::int64_t max_entry_kb = 1024;    ///< larger answers are not stored
    double semantic_threshold = 0.92;    ///< cosine similarity a semantic match needs
    std::string embedding_model;         ///< e.g. "openai/text-embedding-3-small"; "" = no semantic cache
    std::int64_t semantic_max_entries = 10'000;
};

/// Per-model cache policy from [models."provider/model"]: cache, cache_ttl_s, semantic.
struct ModelCachePolicy {
    std::optional<bool> cache;           ///< overrides [cache] enabled for this model
    std::optional<std::int64_t> ttl_s;   ///< overrides [cache] ttl_s
    bool semantic = false;               ///< semantic matching without the request asking
};

struct Config {
    // [server]
    std::string host = "127.0.0.1";
    int port = k_default_port;
    int threads = 0;                 ///< 0: chosen at start-up from the core count
    int keep_alive_max = 10000;      ///< requests per inbound keep-alive connection
    // [upstream]
    std::int64_t connect_timeout_ms = 10'000;
    std::int64_t read_timeout_ms = 600'000;
    // [ledger]
    int retention_days = 90;
    bool log_bodies = false;
    // [cache], and the cache keys of [models."p/m"] (by "provider/model")
    CacheConfig cache;
    std::map<std::string, ModelCachePolicy, std::less<>> model_cache;

    std::filesystem::path data_dir;
    std::filesystem::path config_path;  ///< the file read (may not exist)

    std::map<std::string, ProviderSpec, std::less<>> providers;  ///< presets + [providers.*], base URLs after env overrides
    std::map<std::string, std::string, std::less<>> aliases;     ///< [aliases] fast = "groq/llama-3.3-70b-versatile"
    Catalog catalog;                                             ///< builtin + [models."p/m"]

    /// Problems that do not stop loading, e.g. "config.toml:12: unknown key 'foo' in [server]".
    /// The daemon logs them at start-up; `aigw` may print them.
    std::vector<std::string> warnings;
};

/// Loads the config file (absent is fine), applies AIGW_* env overrides, merges the catalog.
/// `data_dir_override` (from --data-dir) wins over config and env. The data dir is then
/// $AIGW_DATA_DIR, else a top-level `data_dir = "..."` in the file (relative to the file,
/// "~/" expanded), else the XDG default. AIGW_<PROVIDER>_BASE_URL beats the file.
/// Returns an error message naming the file and line when the TOML is bad.
std::expected<Config, std::string> load_config(const Env& env,
                                               const std::filesystem::path& data_dir_override = {});

/// Parses TOML text into a Config (no env, no file). Used by load_config and tests.
/// Sections: [server] host, port, threads, keep_alive_max; [upstream] connect_timeout_ms,
/// read_timeout_ms; [ledger] retention_days, log_bodies; [cache] enabled, ttl_s, max_mb,
/// max_entry_kb, semantic_threshold, embedding_model, semantic_max_entries; [providers.NAME] type
/// (openai|anthropic|gemini|azure|bedrock|cohere|mock), base_url, api_key_env, key_required,
/// display_name, and any other string key as a provider option (api_version, region) (a
/// preset name overrides the preset; any other name adds a provider and needs base_url);
/// [aliases] name = "provider/model"; [models."provider/model"] input, cached_input,
/// cache_write, cache_write_1h, output, long_context_threshold, long_input,
/// long_cached_input, long_cache_write, long_cache_write_1h, long_output (USD per 1M
/// tokens), context_window, max_output_tokens, mode, tools, vision, json, reasoning,
/// and the cache policy cache, cache_ttl_s, semantic (into model_cache) --
/// fields left out keep the built-in catalog's values. Other unknown keys become `warnings`.
std::expected<Config, std::string> parse_config(std::string_view toml_text, std::string_view source_name);

struct ResolvedModel {
    const ProviderSpec* provider = nullptr;
    std::string model;   ///< as sent upstream, without the provider prefix
    std::string id;      ///< "provider/model"
    const ModelInfo* info = nullptr;  ///< nullptr: unknown model of a known provider (unpriced)
};

/// "provider/model", an alias, or a bare catalog name -> provider and upstream model.
/// Unknown provider or a bare name that resolves to none: 404 model_not_found.
std::expected<ResolvedModel, wire::Failure> resolve_model(const Config& cfg, std::string_view requested);

/// The API key for a provider: its env var, else the provider-keys file in the data dir.
/// Empty when none is set.
std::string provider_key(const Config& cfg, const ProviderSpec& p, const Env& env);

}  // namespace aigw::config

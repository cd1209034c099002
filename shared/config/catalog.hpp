#pragma once
// The model catalog: what each model is, what it can do, and what it costs.

#include "shared/wire/usage.hpp"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <expected>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace aigw::config {

/// USD per 1M tokens.
struct Price {
    double input = 0;
    double cached_input = 0;    ///< cache reads; 0 means "same as input" is NOT assumed: set explicitly
    double cache_write = 0;     ///< 5-minute cache writes (Anthropic); 0 -> input price
    double cache_write_1h = 0;  ///< 1-hour cache writes; 0 -> cache_write price
    double output = 0;
    /// Long-context tier: when input_tokens > threshold, these prices apply instead (0 = none).
    std::int64_t long_context_threshold = 0;
    double long_input = 0;
    double long_cached_input = 0;
    double long_output = 0;
    double long_cache_write = 0;     ///< 0 -> cache_write (then the input price of the tier)
    double long_cache_write_1h = 0;  ///< 0 -> cache_write_1h (then the tier's cache write price)

    bool operator==(const Price&) const = default;
};

struct ModelInfo {
    std::string id;  ///< "provider/model"
    std::string provider;
    std::string name;           ///< model name as the provider knows it
    std::string mode = "chat";  ///< "chat" or "embedding"
    std::int64_t context_window = 0;
    std::int64_t max_output_tokens = 0;
    bool tools = false;
    bool vision = false;
    bool json_mode = false;
    bool reasoning = false;
    std::optional<Price> price;  ///< nullopt: unpriced (cost reported as 0, flagged)
};

/// Cost in USD of `u` at `p`. Input cache reads/writes are priced separately and never
/// counted twice (u.input_tokens already includes them).
double cost_usd(const Price& p, const wire::Usage& u);

/// The catalog JSON of one model (the value under "models"), as parse() reads it.
nlohmann::json to_json(const ModelInfo& m);
/// Reads one catalog entry. `id` is "provider/model" (the model part may contain slashes).
/// Error text names the entry and the bad field.
std::expected<ModelInfo, std::string> model_from_json(std::string_view id, const nlohmann::json& entry);

/// A model id made comparable for lookups: spaces and tabs trimmed at both ends, runs of
/// '/' collapsed to one, ASCII lower-cased. "OpenAI//GPT-4o " -> "openai/gpt-4o". Only for
/// finding catalog entries and prices; the name sent upstream keeps the caller's case.
std::string normalise_model_id(std::string_view id);

/// `name` without one dated-snapshot or channel suffix, or nullopt when it has none:
/// -YYYY-MM-DD, -YYYYMMDD, @YYYYMMDD, -MMDD (a valid month and day), -NNN (three digits),
/// -preview(-MM-DD), -latest, -exp(-MMDD). "gemini-2.5-flash-preview-05-20" ->
/// "gemini-2.5-flash"; "gpt-4o-2024-08-06" -> "gpt-4o".
std::optional<std::string> strip_snapshot_suffix(std::string_view name);

class Catalog {
public:
    /// The catalog compiled into the binary (shared/config/catalog.json).
    static const Catalog& builtin();
    /// Parses a catalog document: {"models": {"provider/model": {...}}}. Error text names the bad entry.
    static std::expected<Catalog, std::string> parse(const nlohmann::json& doc);

    /// Adds or replaces models (user config); fields absent in `extra` keep their old value.
    void merge(const Catalog& extra);
    void upsert(ModelInfo m);

    const ModelInfo* find(std::string_view id) const;  ///< by "provider/model"
    /// A bare name ("gpt-4o") -> the catalog entry whose model name matches; prefers the
    /// model's first-party provider when several list it. nullptr when none.
    const ModelInfo* find_bare(std::string_view name) const;
    /// The entry that prices `id` ("provider/model"): the exact entry when the catalog lists
    /// it; else the entry whose normalise_model_id() matches; else, stripping snapshot
    /// suffixes one at a time (strip_snapshot_suffix), its family's entry, so
    /// "openai/gpt-4o-2024-08-06", "openai/GPT-4o" and "openai//gpt-4o " price as
    /// "openai/gpt-4o". nullptr when nothing matches.
    const ModelInfo* find_priced(std::string_view id) const;
    /// find_bare with the same normalisation and family fallback as find_priced.
    const ModelInfo* find_bare_priced(std::string_view name) const;
    std::vector<const ModelInfo*> all() const;  ///< sorted by id
    std::size_t size() const { return m_models.size(); }

private:
    std::map<std::string, ModelInfo, std::less<>> m_models;
    /// The JSON each parsed entry came from, so merge() can tell absent fields from defaults.
    std::map<std::string, nlohmann::json, std::less<>> m_sources;
};

}  // namespace aigw::config

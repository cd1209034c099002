#include "shared/config/config.hpp"

#include "shared/wire/ascii.hpp"

#include <toml++/toml.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <algorithm>
#include <charconv>
#include <array>
#include <cctype>
#include <limits>
#include <set>

namespace aigw::config {

namespace fs = std::filesystem;

namespace {

using Json = nlohmann::json;

/// "http://host/v1/" -> "http://host/v1": adapters append "/chat/completions" etc.
std::string strip_trailing_slashes(std::string url)
{
    while (!url.empty() && url.back() == '/') {
        url.pop_back();
    }
    return url;
}

std::string_view type_name(const toml::node& n)
{
    switch (n.type()) {
        case toml::node_type::string:
            return "a string";
        case toml::node_type::integer:
            return "an integer";
        case toml::node_type::floating_point:
            return "a float";
        case toml::node_type::boolean:
            return "a boolean";
        case toml::node_type::table:
            return "a table";
        case toml::node_type::array:
            return "an array";
        case toml::node_type::date:
            return "a date";
        case toml::node_type::time:
            return "a time";
        case toml::node_type::date_time:
            return "a date-time";
        case toml::node_type::none:
            break;
    }
    return "nothing";
}

std::optional<BalanceStrategy> parse_strategy(std::string_view name)
{
    if (name == "weighted") {
        return BalanceStrategy::weighted;
    }
    if (name == "least-busy" || name == "least_busy") {
        return BalanceStrategy::least_busy;
    }
    if (name == "lowest-latency" || name == "lowest_latency") {
        return BalanceStrategy::lowest_latency;
    }
    return std::nullopt;
}

/// The [providers.NAME] string settings an adapter reads besides the common keys: Azure's
/// api_version, Bedrock's region, and `responses` / `completions` ("native" or "chat") for
/// OpenAI-compatible servers. Any other key is reported as unknown (a typo of base_url must
/// not pass silently).
bool is_provider_option(std::string_view key)
{
    return key == "api_version" || key == "region" || key == "responses" || key == "completions";
}

/// Walks a parsed TOML document into a Config. Type errors stop the walk (returned as
/// "file:line: ..."); unknown keys only add a warning, so a newer config still loads.
class ConfigReader {
public:
    /// With `errors`, every error is recorded there and the walk goes on (aigw config check);
    /// without, the first error ends it.
    ConfigReader(std::string_view source, Config& cfg, std::vector<std::string>* errors = nullptr)
        : m_source(source), m_cfg(cfg), m_errors(errors)
    {}

    std::expected<void, std::string> read(const toml::table& root);

private:
    using Result = std::expected<void, std::string>;

    std::string at(const toml::source_region& where) const
    {
        std::string s(m_source);
        if (where.begin.line > 0) {
            s += ':';
            s += std::to_string(where.begin.line);
        }
        return s;
    }
    /// A key's own position, else its value's (keys from dotted paths may lack one).
    std::string at(const toml::key& k, const toml::node& v) const
    {
        return at(k.source().begin.line > 0 ? k.source() : v.source());
    }
    std::unexpected<std::string> error(const toml::key& k, const toml::node& v, std::string_view section,
                                       std::string_view what) const
    {
        std::string msg = at(k, v) + ": " + std::string(section) + " " + std::string(k.str()) + " " + std::string(what);
        return std::unexpected(std::move(msg));
    }
    void unknown_key(const toml::key& k, const toml::node& v, std::string_view section)
    {
        std::string msg = at(k, v) + ": unknown key '" + std::string(k.str()) + "'";
        if (!section.empty()) {
            msg += " in " + std::string(section);
        }
        m_cfg.warnings.push_back(std::move(msg));
    }

    Result integer(const toml::key& k, const toml::node& v, std::string_view section, std::int64_t lo, std::int64_t hi,
                   std::int64_t& out) const
    {
        const auto* i = v.as_integer();
        if (i == nullptr || i->get() < lo || i->get() > hi) {
            std::string what = "must be an integer";
            if (hi == std::numeric_limits<std::int64_t>::max()) {
                what += " >= " + std::to_string(lo);
            } else {
                what += " between " + std::to_string(lo) + " and " + std::to_string(hi);
            }
            if (i == nullptr) {
                what += ", not ";
                what += type_name(v);
            }
            return error(k, v, section, what);
        }
        out = i->get();
        return {};
    }
    Result integer(const toml::key& k, const toml::node& v, std::string_view section, std::int64_t lo, std::int64_t hi,
                   int& out) const
    {
        std::int64_t wide = 0;
        if (auto r = integer(k, v, section, lo, hi, wide); !r) {
            return r;
        }
        out = static_cast<int>(wide);
        return {};
    }
    Result string(const toml::key& k, const toml::node& v, std::string_view section, std::string& out) const
    {
        const auto* s = v.as_string();
        if (s == nullptr) {
            return error(k, v, section, "must be a string, not " + std::string(type_name(v)));
        }
        out = s->get();
        return {};
    }
    Result boolean(const toml::key& k, const toml::node& v, std::string_view section, bool& out) const
    {
        const auto* b = v.as_boolean();
        if (b == nullptr) {
            return error(k, v, section, "must be true or false, not " + std::string(type_name(v)));
        }
        out = b->get();
        return {};
    }
    /// Prices may be written as 10 or 10.0.
    Result number(const toml::key& k, const toml::node& v, std::string_view section, double& out,
                  std::string_view unit = "USD per 1M tokens") const
    {
        if (const auto* i = v.as_integer()) {
            out = static_cast<double>(i->get());
        } else if (const auto* f = v.as_floating_point()) {
            out = f->get();
        } else {
            return error(k, v, section,
                         "must be a number (" + std::string(unit) + "), not " + std::string(type_name(v)));
        }
        if (out < 0) {
            return error(k, v, section, "must not be negative");
        }
        return {};
    }
    /// `[section]` must be a table; points at the offending line otherwise.
    std::expected<const toml::table*, std::string> table(const toml::key& k, const toml::node& v) const
    {
        const auto* t = v.as_table();
        if (t == nullptr) {
            return std::unexpected(at(k, v) + ": '" + std::string(k.str()) + "' must be a table ([" +
                                   std::string(k.str()) + "]), not " + std::string(type_name(v)));
        }
        return t;
    }

    Result read_server(const toml::table& t);
    Result read_upstream(const toml::table& t);
    Result read_ledger(const toml::table& t);
    Result read_log(const toml::table& t);
    Result read_cluster(const toml::table& t);
    Result read_cache(const toml::table& t);
    /// The cache keys of one [models."p/m"] table; true when `field` was one of them.
    bool read_model_cache(const toml::key& k, const toml::node& v, std::string_view section, const std::string& id,
                          Result& r);
    Result read_providers(const toml::table& t);
    Result read_provider(const toml::key& name_key, const toml::table& t);
    Result read_aliases(const toml::table& t);
    Result read_model_families(const toml::table& t);
    Result read_routing(const toml::table& t);
    Result read_models(const toml::table& t);
    /// Takes the routing keys (fallback, deployments, strategy, split) out of a
    /// [models."NAME"] table. Returns whether `field` was one of them.
    std::expected<bool, std::string> read_model_routing(const toml::key& k, const toml::node& v,
                                                        std::string_view section, ModelRouting& out);
    Result read_model(const toml::key& id_key, const toml::table& t, Json& entry);
    Result read_model_policy(const toml::key& k, const toml::node& v, std::string_view section, ModelPolicy& policy,
                             bool& known);
    Result read_budget(const toml::table& t);
    Result read_limits(const toml::table& t);
    Result read_otel(const toml::table& t);

    /// Whether the walk ends at `r`: true for an error unless errors are being collected, in
    /// which case it is recorded and `r` becomes a success.
    bool stop_at(Result& r) const
    {
        if (r) {
            return false;
        }
        if (m_errors == nullptr) {
            return true;
        }
        m_errors->push_back(std::move(r.error()));
        r = {};
        return false;
    }

    std::string_view m_source;
    Config& m_cfg;
    std::vector<std::string>* m_errors = nullptr;
};

std::expected<void, std::string> ConfigReader::read(const toml::table& root)
{
    // toml++ iterates keys in sorted order; sections are read in dependency order instead
    // ([models] may name a provider defined under [providers]).
    static constexpr std::array<std::string_view, 14> k_sections = {
        "server",  "upstream", "ledger", "cache",  "providers", "aliases", "model_families",
        "routing", "models",   "budget", "limits", "log",       "otel",    "cluster"};
    for (auto&& [k, v] : root) {
        const std::string_view name = k.str();
        if (name == "data_dir") {
            std::string dir;
            if (auto r = string(k, v, "", dir); stop_at(r)) {
                return r;
            }
            m_cfg.data_dir = dir;
        } else if (std::find(k_sections.begin(), k_sections.end(), name) == k_sections.end()) {
            if (v.is_table()) {
                m_cfg.warnings.push_back(at(k, v) + ": unknown section [" + std::string(name) + "]");
            } else {
                unknown_key(k, v, "");
            }
        } else if (auto t = table(k, v); !t) {
            Result r = std::unexpected(std::move(t.error()));
            if (stop_at(r)) {
                return r;
            }
        }
    }
    for (std::string_view name : k_sections) {
        const auto* t = root[name].as_table();
        if (t == nullptr) {
            continue;
        }
        Result r;
        if (name == "server") {
            r = read_server(*t);
        } else if (name == "upstream") {
            r = read_upstream(*t);
        } else if (name == "ledger") {
            r = read_ledger(*t);
        } else if (name == "log") {
            r = read_log(*t);
        } else if (name == "cache") {
            r = read_cache(*t);
        } else if (name == "providers") {
            r = read_providers(*t);
        } else if (name == "aliases") {
            r = read_aliases(*t);
        } else if (name == "model_families") {
            r = read_model_families(*t);
        } else if (name == "routing") {
            r = read_routing(*t);
        } else if (name == "budget") {
            r = read_budget(*t);
        } else if (name == "limits") {
            r = read_limits(*t);
        } else if (name == "otel") {
            r = read_otel(*t);
        } else if (name == "cluster") {
            r = read_cluster(*t);
        } else {
            r = read_models(*t);
        }
        if (stop_at(r)) {
            return r;
        }
    }
    return {};
}

ConfigReader::Result ConfigReader::read_server(const toml::table& t)
{
    constexpr std::string_view section = "[server]";
    constexpr auto k_max = std::numeric_limits<int>::max();
    for (auto&& [k, v] : t) {
        const std::string_view name = k.str();
        Result r;
        if (name == "listen") {
            std::string text;
            r = string(k, v, section, text);
            if (r) {
                auto parsed = parse_listen(text);
                if (!parsed) {
                    r = error(k, v, section, parsed.error());
                } else if (t.contains("host") || t.contains("port")) {
                    r = error(k, v, section,
                              "and host/port both set the listening address: keep only listen = \"" + text + "\"");
                } else {
                    m_cfg.host = parsed->first;
                    m_cfg.port = parsed->second;
                }
            }
        } else if (name == "tls_cert" || name == "tls_key") {
            std::string path;
            r = string(k, v, section, path);
            if (r && path.empty()) {
                r = error(k, v, section, "must be the path of a PEM file (or leave it out for plain HTTP)");
            } else if (r) {
                (name == "tls_cert" ? m_cfg.tls_cert : m_cfg.tls_key) = path;
            }
        } else if (name == "require_virtual_keys") {
            r = boolean(k, v, section, m_cfg.require_virtual_keys);
        } else if (name == "host") {
            r = string(k, v, section, m_cfg.host);
            if (r && m_cfg.host.empty()) {
                r = error(k, v, section, "must not be empty (use \"127.0.0.1\" to listen on this machine only)");
            }
        } else if (name == "port") {
            // 0 asks the kernel for a free port.
            r = integer(k, v, section, 0, 65535, m_cfg.port);
        } else if (name == "threads") {
            r = integer(k, v, section, 0, 4096, m_cfg.threads);
        } else if (name == "keep_alive_max") {
            r = integer(k, v, section, 1, k_max, m_cfg.keep_alive_max);
        } else if (name == "header_timeout_ms") {
            r = integer(k, v, section, 100, k_max, m_cfg.header_timeout_ms);
        } else if (name == "body_timeout_ms") {
            r = integer(k, v, section, 100, k_max, m_cfg.body_timeout_ms);
        } else if (name == "max_connections") {
            r = integer(k, v, section, 1, k_max, m_cfg.max_connections);
        } else if (name == "metrics_token") {
            r = string(k, v, section, m_cfg.metrics_token);
            if (r && !m_cfg.metrics_token.empty() && m_cfg.metrics_token.size() < 16) {
                r = error(k, v, section,
                          "is too short to be a secret: use at least 16 characters (e.g. the output of "
                          "'openssl rand -hex 24'), or leave it out to accept only the gateway key");
            }
        } else if (name == "allowed_hosts") {
            const auto* arr = v.as_array();
            m_cfg.allowed_hosts.clear();
            if (arr == nullptr) {
                r = error(k, v, section, "must be a list of host names, e.g. [\"gateway.internal\"] (or [\"*\"])");
            } else {
                for (const auto& item : *arr) {
                    if (const auto* str = item.as_string()) {
                        m_cfg.allowed_hosts.push_back(str->get());
                    } else {
                        r = error(k, v, section, "must be a list of strings");
                        break;
                    }
                }
            }
        } else {
            unknown_key(k, v, section);
        }
        if (stop_at(r)) {
            return r;
        }
    }
    return {};
}

ConfigReader::Result ConfigReader::read_upstream(const toml::table& t)
{
    constexpr std::string_view section = "[upstream]";
    constexpr auto k_max = std::numeric_limits<std::int64_t>::max();
    for (auto&& [k, v] : t) {
        const std::string_view name = k.str();
        Result r;
        if (name == "connect_timeout_ms") {
            r = integer(k, v, section, 1, k_max, m_cfg.connect_timeout_ms);
        } else if (name == "read_timeout_ms") {
            r = integer(k, v, section, 1, k_max, m_cfg.read_timeout_ms);
        } else if (name == "first_byte_timeout_ms") {
            r = integer(k, v, section, 1, k_max, m_cfg.first_byte_timeout_ms);
        } else if (name == "idle_timeout_ms") {
            r = integer(k, v, section, 1, k_max, m_cfg.idle_timeout_ms);
        } else if (name == "total_timeout_ms") {
            r = integer(k, v, section, 1, k_max, m_cfg.total_timeout_ms);
        } else {
            unknown_key(k, v, section);
        }
        if (stop_at(r)) {
            return r;
        }
    }
    return {};
}

ConfigReader::Result ConfigReader::read_ledger(const toml::table& t)
{
    constexpr std::string_view section = "[ledger]";
    for (auto&& [k, v] : t) {
        const std::string_view name = k.str();
        Result r;
        if (name == "retention_days") {
            // 0 keeps rows forever.
            r = integer(k, v, section, 0, 1'000'000, m_cfg.retention_days);
        } else if (name == "log_bodies") {
            r = boolean(k, v, section, m_cfg.log_bodies);
        } else {
            unknown_key(k, v, section);
        }
        if (stop_at(r)) {
            return r;
        }
    }
    return {};
}

ConfigReader::Result ConfigReader::read_log(const toml::table& t)
{
    constexpr std::string_view section = "[log]";
    for (auto&& [k, v] : t) {
        const std::string_view name = k.str();
        Result r;
        if (name == "format") {
            std::string text;
            r = string(k, v, section, text);
            if (r) {
                if (auto f = log_format_from_string(text)) {
                    m_cfg.log_format = *f;
                } else {
                    r = error(k, v, section, "must be \"text\" or \"json\", not \"" + text + "\"");
                }
            }
        } else if (name == "requests") {
            bool on = false;
            r = boolean(k, v, section, on);
            if (r) {
                m_cfg.log_requests = on;
            }
        } else {
            unknown_key(k, v, section);
        }
        if (stop_at(r)) {
            return r;
        }
    }
    return {};
}

ConfigReader::Result ConfigReader::read_cluster(const toml::table& t)
{
    constexpr std::string_view section = "[cluster]";
    auto& c = m_cfg.cluster;
    for (auto&& [k, v] : t) {
        const std::string_view name = k.str();
        Result r;
        if (name == "redis_url") {
            r = string(k, v, section, c.redis_url);
            if (r && !c.redis_url.empty() && !c.redis_url.starts_with("redis://")) {
                r = error(k, v, section, "must be a redis:// URL, e.g. \"redis://10.0.0.5:6379/0\"");
            }
        } else if (name == "postgres_url") {
            r = string(k, v, section, c.postgres_url);
            if (r && !c.postgres_url.empty() && !c.postgres_url.starts_with("postgresql://") &&
                !c.postgres_url.starts_with("postgres://")) {
                r = error(k, v, section, "must be a postgresql:// URL, e.g. \"postgresql://aigw@10.0.0.6/aigw\"");
            }
        } else if (name == "redis_down") {
            std::string mode;
            r = string(k, v, section, mode);
            if (r && mode == "local") {
                c.redis_down = ClusterConfig::RedisDown::local;
            } else if (r && mode == "refuse") {
                c.redis_down = ClusterConfig::RedisDown::refuse;
            } else if (r) {
                r = error(k, v, section, "must be \"local\" or \"refuse\", not \"" + mode + "\"");
            }
        } else {
            unknown_key(k, v, section);
        }
        if (stop_at(r)) {
            return r;
        }
    }
    return {};
}

ConfigReader::Result ConfigReader::read_cache(const toml::table& t)
{
    constexpr std::string_view section = "[cache]";
    constexpr auto k_max = std::numeric_limits<std::int64_t>::max();
    auto& c = m_cfg.cache;
    for (auto&& [k, v] : t) {
        const std::string_view name = k.str();
        Result r;
        if (name == "enabled") {
            r = boolean(k, v, section, c.enabled);
        } else if (name == "ttl_s") {
            r = integer(k, v, section, 1, k_max, c.ttl_s);
        } else if (name == "max_mb") {
            r = integer(k, v, section, 1, 1'000'000, c.max_mb);
        } else if (name == "max_entry_kb") {
            r = integer(k, v, section, 1, 1'000'000, c.max_entry_kb);
        } else if (name == "semantic_max_entries") {
            r = integer(k, v, section, 0, 10'000'000, c.semantic_max_entries);
        } else if (name == "embedding_model") {
            r = string(k, v, section, c.embedding_model);
        } else if (name == "semantic_threshold") {
            const auto* f = v.as_floating_point();
            const auto* i = v.as_integer();
            const double d = f != nullptr ? f->get() : (i != nullptr ? static_cast<double>(i->get()) : -1.0);
            if ((f == nullptr && i == nullptr) || d <= 0 || d > 1) {
                r = error(k, v, section, "must be a number above 0 and at most 1 (a cosine similarity, e.g. 0.92)");
            } else {
                c.semantic_threshold = d;
            }
        } else {
            unknown_key(k, v, section);
        }
        if (stop_at(r)) {
            return r;
        }
    }
    return {};
}

bool ConfigReader::read_model_cache(const toml::key& k, const toml::node& v, std::string_view section,
                                    const std::string& id, Result& r)
{
    const std::string_view field = k.str();
    if (field != "cache" && field != "cache_ttl_s" && field != "semantic") {
        return false;
    }
    auto& policy = m_cfg.model_cache[id];
    if (field == "cache") {
        bool b = false;
        r = boolean(k, v, section, b);
        policy.cache = b;
    } else if (field == "cache_ttl_s") {
        std::int64_t n = 0;
        r = integer(k, v, section, 1, std::numeric_limits<std::int64_t>::max(), n);
        policy.ttl_s = n;
    } else {
        r = boolean(k, v, section, policy.semantic);
    }
    return true;
}

ConfigReader::Result ConfigReader::read_providers(const toml::table& t)
{
    for (auto&& [k, v] : t) {
        const std::string_view name = k.str();
        const bool valid_name = !name.empty() && std::all_of(name.begin(), name.end(), [](char c) {
            return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_' ||
                   c == '.';
        });
        if (!valid_name) {
            return std::unexpected(at(k, v) + ": provider name '" + std::string(name) +
                                   "' may use only letters, digits, '-', '_' and '.' (it is the prefix in "
                                   "\"provider/model\")");
        }
        const auto* pt = v.as_table();
        if (pt == nullptr) {
            return std::unexpected(at(k, v) + ": [providers." + std::string(name) + "] must be a table, not " +
                                   std::string(type_name(v)));
        }
        if (auto r = read_provider(k, *pt); stop_at(r)) {
            return r;
        }
    }
    return {};
}

ConfigReader::Result ConfigReader::read_provider(const toml::key& name_key, const toml::table& t)
{
    const std::string name(name_key.str());
    const std::string section = "[providers." + name + "]";
    auto existing = m_cfg.providers.find(name);
    const bool is_preset = existing != m_cfg.providers.end();
    ProviderSpec spec = is_preset ? existing->second : ProviderSpec{};
    spec.name = name;

    bool have_base_url = false;
    std::optional<bool> key_required;
    std::optional<std::string> key_env;
    for (auto&& [k, v] : t) {
        const std::string_view field = k.str();
        Result r;
        if (field == "type") {
            std::string type;
            r = string(k, v, section, type);
            if (r) {
                auto wire = wire_format_from_string(type);
                if (!wire) {
                    r = error(k, v, section,
                              "must be one of \"openai\", \"anthropic\", \"gemini\", \"azure\", \"bedrock\", "
                              "\"cohere\", \"mock\", not \"" +
                                  type + "\"");
                } else {
                    spec.wire = *wire;
                }
            }
        } else if (field == "base_url") {
            std::string url;
            r = string(k, v, section, url);
            if (r && !(url.starts_with("http://") || url.starts_with("https://"))) {
                r = error(k, v, section, "must start with http:// or https:// (got \"" + url + "\")");
            }
            if (r) {
                spec.base_url = strip_trailing_slashes(std::move(url));
                have_base_url = true;
            }
        } else if (field == "api_key_env") {
            std::string env_name;
            r = string(k, v, section, env_name);
            key_env = env_name;
        } else if (field == "key_required") {
            bool b = true;
            r = boolean(k, v, section, b);
            key_required = b;
        } else if (field == "display_name") {
            r = string(k, v, section, spec.display_name);
        } else if (const auto* text = v.as_string(); text != nullptr && is_provider_option(field)) {
            // Wire-specific settings (Azure api_version, Bedrock region, ...): the adapter
            // reads what it knows.
            spec.options.insert_or_assign(std::string(field), text->get());
        } else {
            unknown_key(k, v, section);
        }
        if (stop_at(r)) {
            return r;
        }
    }

    if (key_env) {
        spec.key_env = *key_env;
    }
    if (key_required) {
        spec.key_required = *key_required;
    } else if (key_env || !is_preset) {
        // A custom server needs a key only when it names where to find one.
        spec.key_required = !spec.key_env.empty();
    }
    if (!is_preset) {
        if (!have_base_url && spec.wire != WireFormat::mock) {
            return std::unexpected(at(t.source()) + ": " + section +
                                   " needs base_url, e.g. base_url = \"http://127.0.0.1:8000/v1\"");
        }
        if (spec.display_name.empty()) {
            spec.display_name = name;
        }
    }
    m_cfg.providers.insert_or_assign(name, std::move(spec));
    return {};
}

ConfigReader::Result ConfigReader::read_aliases(const toml::table& t)
{
    constexpr std::string_view section = "[aliases]";
    for (auto&& [k, v] : t) {
        std::string target;
        if (auto r = string(k, v, section, target); !r) {
            return r;
        }
        if (target.empty()) {
            return error(k, v, section, "must name a model, e.g. \"groq/llama-3.3-70b-versatile\"");
        }
        m_cfg.aliases.insert_or_assign(std::string(k.str()), std::move(target));
    }
    // An alias chain that comes back to itself would never resolve.
    for (auto&& [k, v] : t) {
        std::string chain(k.str());
        std::set<std::string, std::less<>> seen{std::string(k.str())};
        auto it = m_cfg.aliases.find(k.str());
        while (it != m_cfg.aliases.end()) {
            chain += " -> " + it->second;
            if (!seen.insert(it->second).second) {
                return std::unexpected(at(k, v) + ": alias '" + std::string(k.str()) + "' loops (" + chain + ")");
            }
            it = m_cfg.aliases.find(it->second);
        }
    }
    return {};
}

ConfigReader::Result ConfigReader::read_model_families(const toml::table& t)
{
    constexpr std::string_view section = "[model_families]";
    for (auto&& [k, v] : t) {
        std::string provider;
        if (auto r = string(k, v, section, provider); !r) {
            return r;
        }
        if (k.str().empty() || k.str() == "*") {
            return error(k, v, section, "must be a model name prefix such as \"claude-*\"");
        }
        if (provider.empty()) {
            m_cfg.model_families.erase(std::string(k.str()));  // "" turns a built-in family off
            continue;
        }
        if (!m_cfg.providers.contains(provider)) {
            return error(k, v, section,
                         "names no provider ('" + provider + "'); define it under [providers." + provider + "] first");
        }
        m_cfg.model_families.insert_or_assign(std::string(k.str()), std::move(provider));
    }
    return {};
}

ConfigReader::Result ConfigReader::read_models(const toml::table& t)
{
    Json models = Json::object();
    for (auto&& [k, v] : t) {
        const std::string id(k.str());
        const auto* mt = v.as_table();
        if (mt == nullptr) {
            return std::unexpected(at(k, v) + ": [models.\"" + id + "\"] must be a table, not " +
                                   std::string(type_name(v)));
        }
        const std::string section = "[models.\"" + id + "\"]";
        // Routing keys first; whatever is left describes the model for the catalog.
        ModelRouting routing;
        toml::table rest;
        for (auto&& [fk, fv] : *mt) {
            auto taken = read_model_routing(fk, fv, section, routing);
            if (!taken) {
                return std::unexpected(std::move(taken.error()));
            }
            if (!*taken) {
                rest.insert(fk, fv);
            }
        }
        if (!routing.fallback.empty() || !routing.deployments.empty() || routing.strategy || !routing.split.empty()) {
            m_cfg.model_routing.insert_or_assign(id, std::move(routing));
        }
        const auto slash = id.find('/');
        const bool qualified = slash != std::string::npos && slash != 0 && slash + 1 != id.size();
        if (!qualified) {
            if (!rest.empty() || !m_cfg.model_routing.contains(id)) {
                return std::unexpected(at(k, v) + ": " + section +
                                       ": a name without a provider prefix is a logical model and takes only "
                                       "fallback, deployments, strategy and split; to describe a model use "
                                       "[models.\"provider/model\"], e.g. [models.\"openai/gpt-4o\"]");
            }
            continue;
        }
        Json entry = Json::object();
        if (auto r = read_model(k, rest, entry); stop_at(r)) {
            return r;
        }
        if (entry.empty()) {
            continue;  // only policy keys (rpm, cache, ...): the catalog entry stays as it is
        }
        // Range checks (and anything else the catalog demands) come from the catalog itself.
        if (auto check = model_from_json(id, entry); !check) {
            return std::unexpected(at(k, v) + ": " + check.error());
        }
        if (!m_cfg.providers.contains(id.substr(0, slash))) {
            m_cfg.warnings.push_back(at(k, v) + ": [models.\"" + id + "\"]: no provider '" + id.substr(0, slash) +
                                     "' is configured, so this model cannot be used");
        }
        models[id] = std::move(entry);
    }
    auto extra = Catalog::parse(Json{{"models", std::move(models)}});
    if (!extra) {
        return std::unexpected(std::string(m_source) + ": " + extra.error());
    }
    m_cfg.catalog.merge(*extra);
    return {};
}

std::expected<bool, std::string> ConfigReader::read_model_routing(const toml::key& k, const toml::node& v,
                                                                  std::string_view section, ModelRouting& out)
{
    const std::string_view field = k.str();
    auto weight_of = [&](const toml::node& w, double& weight) -> Result {
        if (auto r = number(k, w, section, weight); !r) {
            return r;
        }
        if (weight <= 0) {
            return error(k, w, section, "weights must be greater than 0");
        }
        return {};
    };
    if (field == "fallback") {
        const auto* arr = v.as_array();
        if (arr == nullptr) {
            return error(k, v, section, "must be an array of model names, e.g. [\"anthropic/claude-sonnet-4-5\"]");
        }
        for (const auto& item : *arr) {
            const auto* str = item.as_string();
            if (str == nullptr || str->get().empty()) {
                return error(k, v, section, "must be an array of model names (strings)");
            }
            out.fallback.push_back(str->get());
        }
        return true;
    }
    if (field == "deployments") {
        const auto* arr = v.as_array();
        if (arr == nullptr || arr->empty()) {
            return error(k, v, section,
                         "must be a non-empty array of \"provider/model\" or { model = ..., weight = N }");
        }
        for (const auto& item : *arr) {
            WeightedModel wm;
            if (const auto* str = item.as_string()) {
                wm.model = str->get();
            } else if (const auto* tbl = item.as_table()) {
                for (auto&& [dk, dv] : *tbl) {
                    if (dk.str() == "model") {
                        if (auto r = string(dk, dv, section, wm.model); !r) {
                            return std::unexpected(std::move(r.error()));
                        }
                    } else if (dk.str() == "weight") {
                        if (auto r = weight_of(dv, wm.weight); !r) {
                            return std::unexpected(std::move(r.error()));
                        }
                    } else {
                        unknown_key(dk, dv, std::string(section) + " deployments");
                    }
                }
            }
            if (wm.model.empty()) {
                return error(k, v, section,
                             "entries need a model: \"provider/model\" or { model = \"provider/model\", weight = 2 }");
            }
            out.deployments.push_back(std::move(wm));
        }
        return true;
    }
    if (field == "strategy") {
        std::string name;
        if (auto r = string(k, v, section, name); !r) {
            return std::unexpected(std::move(r.error()));
        }
        auto s = parse_strategy(name);
        if (!s) {
            return error(k, v, section, "must be \"weighted\", \"least-busy\" or \"lowest-latency\"");
        }
        out.strategy = *s;
        return true;
    }
    if (field == "split") {
        const auto* tbl = v.as_table();
        if (tbl == nullptr || tbl->empty()) {
            return error(k, v, section,
                         "must be a table of model = weight, e.g. { \"openai/gpt-4o-mini\" = 70, "
                         "\"anthropic/claude-haiku-4-5\" = 30 }");
        }
        for (auto&& [mk, mv] : *tbl) {
            WeightedModel wm{std::string(mk.str()), 1};
            if (auto r = weight_of(mv, wm.weight); !r) {
                return std::unexpected(std::move(r.error()));
            }
            out.split.push_back(std::move(wm));
        }
        return true;
    }
    return false;
}

ConfigReader::Result ConfigReader::read_routing(const toml::table& t)
{
    constexpr std::string_view section = "[routing]";
    constexpr auto k_max = std::numeric_limits<std::int64_t>::max();
    RoutingSettings& rs = m_cfg.routing;
    for (auto&& [k, v] : t) {
        const std::string_view name = k.str();
        Result r;
        if (name == "retries") {
            r = integer(k, v, section, 0, 10, rs.retries);
        } else if (name == "backoff_initial_ms") {
            r = integer(k, v, section, 0, k_max, rs.backoff_initial_ms);
        } else if (name == "backoff_max_ms") {
            r = integer(k, v, section, 0, k_max, rs.backoff_max_ms);
        } else if (name == "max_retry_wait_ms") {
            r = integer(k, v, section, 0, k_max, rs.max_retry_wait_ms);
        } else if (name == "key_cooldown_ms") {
            r = integer(k, v, section, 0, k_max, rs.key_cooldown_ms);
        } else if (name == "auto_fallback") {
            r = boolean(k, v, section, rs.auto_fallback);
        } else if (name == "circuit_failures") {
            r = integer(k, v, section, 1, 1'000'000, rs.circuit_failures);
        } else if (name == "circuit_cooldown_ms") {
            r = integer(k, v, section, 0, k_max, rs.circuit_cooldown_ms);
        } else if (name == "health_window_ms") {
            r = integer(k, v, section, 1000, k_max, rs.health_window_ms);
        } else if (name == "strategy") {
            std::string sname;
            r = string(k, v, section, sname);
            if (r) {
                if (auto st = parse_strategy(sname)) {
                    rs.strategy = *st;
                } else {
                    r = error(k, v, section, "must be \"weighted\", \"least-busy\" or \"lowest-latency\"");
                }
            }
        } else {
            unknown_key(k, v, section);
        }
        if (stop_at(r)) {
            return r;
        }
    }
    return {};
}

/// Flat TOML keys -> one catalog entry (JSON). Only keys that are present are set, so a
/// merge keeps the catalog's values for the rest.
ConfigReader::Result ConfigReader::read_model(const toml::key& id_key, const toml::table& t, Json& entry)
{
    const std::string section = "[models.\"" + std::string(id_key.str()) + "\"]";
    // TOML key -> key inside "price" or inside "price.long_context".
    static const std::map<std::string_view, std::string_view> k_price_keys = {{"input", "input"},
                                                                              {"cached_input", "cached_input"},
                                                                              {"cache_write", "cache_write"},
                                                                              {"cache_write_1h", "cache_write_1h"},
                                                                              {"output", "output"}};
    static const std::map<std::string_view, std::string_view> k_long_keys = {{"long_input", "input"},
                                                                             {"long_cached_input", "cached_input"},
                                                                             {"long_cache_write", "cache_write"},
                                                                             {"long_cache_write_1h", "cache_write_1h"},
                                                                             {"long_output", "output"}};
    constexpr auto k_max = std::numeric_limits<std::int64_t>::max();

    for (auto&& [k, v] : t) {
        const std::string_view field = k.str();
        Result r;
        if (read_model_cache(k, v, section, std::string(id_key.str()), r)) {
            // a cache policy key, not a catalog field
        } else if (auto p = k_price_keys.find(field); p != k_price_keys.end()) {
            double d = 0;
            r = number(k, v, section, d);
            entry["price"][std::string(p->second)] = d;
        } else if (auto l = k_long_keys.find(field); l != k_long_keys.end()) {
            double d = 0;
            r = number(k, v, section, d);
            entry["price"]["long_context"][std::string(l->second)] = d;
        } else if (field == "long_context_threshold") {
            std::int64_t n = 0;
            r = integer(k, v, section, 1, k_max, n);
            entry["price"]["long_context"]["threshold"] = n;
        } else if (field == "context_window" || field == "max_output_tokens") {
            std::int64_t n = 0;
            r = integer(k, v, section, 0, k_max, n);
            entry[std::string(field)] = n;
        } else if (field == "mode") {
            std::string mode;
            r = string(k, v, section, mode);
            if (r && mode != "chat" && mode != "embedding") {
                r = error(k, v, section, "must be \"chat\" or \"embedding\"");
            }
            entry["mode"] = mode;
        } else if (field == "tools" || field == "vision" || field == "json" || field == "reasoning") {
            bool b = false;
            r = boolean(k, v, section, b);
            entry[std::string(field)] = b;
        } else {
            bool known = false;
            r = read_model_policy(k, v, section, m_cfg.model_policies[std::string(id_key.str())], known);
            if (!known) {
                unknown_key(k, v, section);
            }
        }
        if (stop_at(r)) {
            return r;
        }
    }
    return {};
}

// ---- limits: [models."p/m"] rpm / tpm and [budget] ----

/// The ModelPolicy keys of a [models."p/m"] table; `known` is false for any other key.
ConfigReader::Result ConfigReader::read_model_policy(const toml::key& k, const toml::node& v, std::string_view section,
                                                     ModelPolicy& policy, bool& known)
{
    constexpr auto k_max = std::numeric_limits<std::int64_t>::max();
    const std::string_view field = k.str();
    known = true;
    if (field == "rpm") {
        return integer(k, v, section, 0, k_max, policy.rpm);
    }
    if (field == "tpm") {
        return integer(k, v, section, 0, k_max, policy.tpm);
    }
    known = false;
    return {};
}

ConfigReader::Result ConfigReader::read_budget(const toml::table& t)
{
    constexpr std::string_view section = "[budget]";
    for (auto&& [k, v] : t) {
        const std::string_view name = k.str();
        Result r;
        if (name == "daily_usd") {
            r = number(k, v, section, m_cfg.budget.daily_usd, "USD");
        } else if (name == "monthly_usd") {
            r = number(k, v, section, m_cfg.budget.monthly_usd, "USD");
        } else if (name == "alert_at") {
            r = number(k, v, section, m_cfg.budget.alert_at, "a fraction");
            if (r && (m_cfg.budget.alert_at <= 0 || m_cfg.budget.alert_at > 1)) {
                r = error(k, v, section, "must be a fraction above 0 and at most 1, e.g. 0.8");
            }
        } else {
            unknown_key(k, v, section);
        }
        if (stop_at(r)) {
            return r;
        }
    }
    return {};
}

ConfigReader::Result ConfigReader::read_limits(const toml::table& t)
{
    constexpr std::string_view section = "[limits]";
    for (auto&& [k, v] : t) {
        Result r;
        if (k.str() == "allow_unpriced") {
            r = boolean(k, v, section, m_cfg.limits.allow_unpriced);
        } else {
            unknown_key(k, v, section);
        }
        if (!r) {
            return r;
        }
    }
    return {};
}

// ---- end of limits ----

ConfigReader::Result ConfigReader::read_otel(const toml::table& t)
{
    constexpr std::string_view section = "[otel]";
    auto& o = m_cfg.otel;
    auto url = [&](const toml::key& k, const toml::node& v, std::string& out) -> Result {
        if (auto r = string(k, v, section, out); !r) {
            return r;
        }
        if (!out.empty() && !out.starts_with("http://") && !out.starts_with("https://")) {
            return error(k, v, section,
                         "must be an http:// or https:// URL, e.g. \"http://127.0.0.1:4318\" (OTLP/HTTP)");
        }
        while (out.ends_with('/')) {
            out.pop_back();
        }
        return {};
    };
    for (auto&& [k, v] : t) {
        const std::string_view name = k.str();
        Result r;
        if (name == "endpoint") {
            r = url(k, v, o.endpoint);
        } else if (name == "traces_endpoint") {
            r = url(k, v, o.traces_endpoint);
        } else if (name == "service_name") {
            r = string(k, v, section, o.service_name);
            if (r && o.service_name.empty()) {
                r = error(k, v, section, "must not be empty");
            }
        } else if (name == "sample_ratio") {
            r = number(k, v, section, o.sample_ratio, "a fraction of new traces");
            if (r && o.sample_ratio > 1) {
                r = error(k, v, section, "must be between 0 and 1, e.g. 0.1 to keep one trace in ten");
            }
        } else if (name == "headers") {
            const auto* h = v.as_table();
            if (h == nullptr) {
                r = error(k, v, section,
                          "must be a table of strings, e.g. headers = { authorization = \"Bearer ...\" }, not " +
                              std::string(type_name(v)));
            } else {
                for (auto&& [hk, hv] : *h) {
                    std::string value;
                    r = string(hk, hv, "[otel] headers", value);
                    if (r && (hk.str().empty() || hk.str().find_first_of(" :\r\n") != std::string_view::npos ||
                              value.find_first_of("\r\n") != std::string::npos)) {
                        r = error(hk, hv, "[otel] headers", "is not a valid HTTP header name or value");
                    }
                    if (stop_at(r)) {
                        return r;
                    }
                    o.headers.insert_or_assign(std::string(hk.str()), std::move(value));
                }
            }
        } else {
            unknown_key(k, v, section);
        }
        if (stop_at(r)) {
            return r;
        }
    }
    return {};
}

std::optional<std::string> non_empty(const Env& env, std::string_view name)
{
    auto v = env(name);
    if (v && !v->empty()) {
        return v;
    }
    return std::nullopt;
}

/// "~/x" -> "$HOME/x"; a relative path is taken from the config file's directory.
fs::path expand_config_path(const fs::path& p, const fs::path& config_path, const Env& env)
{
    const std::string s = p.string();
    if (s == "~" || s.starts_with("~/")) {
        if (auto home = non_empty(env, "HOME")) {
            return fs::path(*home) / s.substr(std::min<std::size_t>(2, s.size()));
        }
    }
    if (p.is_relative()) {
        return config_path.parent_path() / p;
    }
    return p;
}

}  // namespace

namespace {

/// parse_config; with `errors`, every problem is collected there and the Config holds every
/// value that could be read (a TOML syntax error leaves the defaults).
std::expected<Config, std::string> parse_config_impl(std::string_view toml_text, std::string_view source_name,
                                                     std::vector<std::string>* errors)
{
    Config cfg;
    for (const auto& p : builtin_providers()) {
        cfg.providers.insert_or_assign(p.name, p);
    }
    cfg.catalog = Catalog::builtin();
    cfg.model_families = default_model_families();

    toml::table root;
    auto syntax_error = [&](const toml::parse_error& e) -> std::expected<Config, std::string> {
        std::string msg = std::string(source_name) + ":" + std::to_string(e.source().begin.line) + ":" +
                          std::to_string(e.source().begin.column) + ": " + std::string(e.description());
        if (errors != nullptr) {
            errors->push_back(std::move(msg));
            return cfg;
        }
        return std::unexpected(std::move(msg));
    };
#if TOML_EXCEPTIONS
    try {
        root = toml::parse(toml_text, source_name);
    } catch (const toml::parse_error& e) {
        return syntax_error(e);
    }
#else
    auto parsed = toml::parse(toml_text, source_name);
    if (!parsed) {
        return syntax_error(parsed.error());
    }
    root = std::move(parsed).table();
#endif

    ConfigReader reader(source_name, cfg, errors);
    if (auto r = reader.read(root); !r) {
        return std::unexpected(std::move(r.error()));
    }
    return cfg;
}

/// The standard OTel exporter variables fill in what [otel] leaves out, as the OTel SDKs
/// read them: OTEL_EXPORTER_OTLP_TRACES_ENDPOINT (the full URL), OTEL_EXPORTER_OTLP_ENDPOINT
/// (a base: /v1/traces is appended), OTEL_EXPORTER_OTLP_HEADERS ("k=v,k2=v2", values
/// percent-decoded), OTEL_SERVICE_NAME; OTEL_SDK_DISABLED=true turns export off. A value
/// that is not an http(s) URL is skipped with a warning.
void apply_otel_env(Config& cfg, const Env& env)
{
    auto& o = cfg.otel;
    if (auto off = non_empty(env, "OTEL_SDK_DISABLED"); off && (*off == "true" || *off == "TRUE" || *off == "1")) {
        o.endpoint.clear();
        o.traces_endpoint.clear();
        return;
    }
    auto url_from = [&](const char* name) -> std::string {
        auto v = non_empty(env, name);
        if (!v) {
            return {};
        }
        if (!v->starts_with("http://") && !v->starts_with("https://")) {
            cfg.warnings.push_back(std::string(name) + " is not an http:// or https:// URL; traces are not exported");
            return {};
        }
        return *v;
    };
    if (o.endpoint.empty() && o.traces_endpoint.empty()) {
        o.traces_endpoint = url_from("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT");
        if (o.traces_endpoint.empty()) {
            o.endpoint = strip_trailing_slashes(url_from("OTEL_EXPORTER_OTLP_ENDPOINT"));
        }
    }
    if (auto name = non_empty(env, "OTEL_SERVICE_NAME"); name && o.service_name == "aigwd") {
        o.service_name = *name;
    }
    if (auto headers = non_empty(env, "OTEL_EXPORTER_OTLP_TRACES_HEADERS").or_else([&] {
            return non_empty(env, "OTEL_EXPORTER_OTLP_HEADERS");
        })) {
        auto decode = [](std::string_view s) {
            std::string out;
            for (std::size_t i = 0; i < s.size(); ++i) {
                if (s[i] == '%' && i + 2 < s.size() && std::isxdigit(static_cast<unsigned char>(s[i + 1])) &&
                    std::isxdigit(static_cast<unsigned char>(s[i + 2]))) {
                    out += static_cast<char>(std::stoi(std::string(s.substr(i + 1, 2)), nullptr, 16));
                    i += 2;
                } else {
                    out += s[i];
                }
            }
            return out;
        };
        auto trim = [](std::string_view s) {
            while (!s.empty() && s.front() == ' ') {
                s.remove_prefix(1);
            }
            while (!s.empty() && s.back() == ' ') {
                s.remove_suffix(1);
            }
            return s;
        };
        std::string_view rest = *headers;
        while (!rest.empty()) {
            const auto comma = rest.find(',');
            const std::string_view item = rest.substr(0, comma);
            rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
            const auto eq = item.find('=');
            if (eq == std::string_view::npos) {
                continue;
            }
            std::string name = decode(trim(item.substr(0, eq)));
            std::string value = decode(trim(item.substr(eq + 1)));
            if (name.empty() || name.find_first_of(" :\r\n") != std::string::npos ||
                value.find_first_of("\r\n") != std::string::npos) {
                continue;
            }
            o.headers.try_emplace(std::move(name), std::move(value));  // the file's own headers win
        }
    }
}

std::expected<Config, std::string> load_config_impl(const Env& env, const fs::path& data_dir_override,
                                                    std::vector<std::string>* errors)
{
    const fs::path path = default_config_path(env);
    std::expected<Config, std::string> parsed;
    std::error_code ec;
    // An absent file is the zero-config case; a file we cannot read is an error. We never
    // create the file here.
    if (fs::exists(path, ec)) {
        auto text = read_file(path);
        if (!text) {
            std::string msg = "cannot read the config file '" + path.string() +
                              "': check that it is a readable file, or set AIGW_CONFIG to another path";
            if (errors == nullptr) {
                return std::unexpected(std::move(msg));
            }
            errors->push_back(std::move(msg));
            text = std::string();
        }
        parsed = parse_config_impl(*text, path.string(), errors);
    } else {
        parsed = parse_config_impl("", path.string(), errors);
    }
    if (!parsed) {
        return parsed;
    }
    Config& cfg = *parsed;
    cfg.config_path = path;

    // --data-dir, then $AIGW_DATA_DIR, then data_dir in the file, then the XDG default.
    if (!data_dir_override.empty()) {
        cfg.data_dir = data_dir_override;
    } else if (auto dir = non_empty(env, "AIGW_DATA_DIR")) {
        cfg.data_dir = *dir;
    } else if (!cfg.data_dir.empty()) {
        cfg.data_dir = expand_config_path(cfg.data_dir, path, env);
    } else {
        cfg.data_dir = default_data_dir(env);
    }

    // TLS files, like data_dir, are relative to the config file.
    for (fs::path* p : {&cfg.tls_cert, &cfg.tls_key}) {
        if (!p->empty()) {
            *p = expand_config_path(*p, path, env);
        }
    }

    if (auto format = non_empty(env, "AIGW_LOG_FORMAT")) {
        auto f = log_format_from_string(*format);
        if (!f) {
            std::string msg = "AIGW_LOG_FORMAT must be \"text\" or \"json\", not \"" + *format + "\"";
            if (errors == nullptr) {
                return std::unexpected(std::move(msg));
            }
            errors->push_back(std::move(msg));
        } else {
            cfg.log_format = *f;
        }
    }
    apply_otel_env(cfg, env);

    // AIGW_<PROVIDER>_BASE_URL beats the file, for presets and custom providers alike.
    for (auto& [name, spec] : cfg.providers) {
        if (auto url = non_empty(env, base_url_env_name(name))) {
            spec.base_url = strip_trailing_slashes(*url);
        }
    }
    // Azure's own variable names the resource ("https://NAME.openai.azure.com"); the
    // inference API lives under /openai. It only fills an endpoint nothing else set: it is
    // shared with other Azure tools, so aigw's own settings win.
    if (auto azure = cfg.providers.find("azure"); azure != cfg.providers.end() && azure->second.base_url.empty()) {
        if (auto endpoint = non_empty(env, "AZURE_OPENAI_ENDPOINT")) {
            std::string url = strip_trailing_slashes(*endpoint);
            if (!url.ends_with("/openai") && !url.ends_with("/openai/v1")) {
                url += "/openai";
            }
            azure->second.base_url = std::move(url);
        }
    }
    return parsed;
}

}  // namespace

std::string_view to_string(LogFormat f)
{
    return f == LogFormat::json ? "json" : "text";
}

std::optional<LogFormat> log_format_from_string(std::string_view s)
{
    const std::string lower = wire::ascii_lower(s);
    if (lower == "text") {
        return LogFormat::text;
    }
    if (lower == "json") {
        return LogFormat::json;
    }
    return std::nullopt;
}

std::string OtelConfig::traces_url() const
{
    if (!traces_endpoint.empty()) {
        return traces_endpoint;
    }
    return endpoint.empty() ? std::string() : endpoint + "/v1/traces";
}

std::expected<Config, std::string> parse_config(std::string_view toml_text, std::string_view source_name)
{
    return parse_config_impl(toml_text, source_name, nullptr);
}

std::expected<Config, std::string> load_config(const Env& env, const fs::path& data_dir_override)
{
    return load_config_impl(env, data_dir_override, nullptr);
}

ConfigCheck check_config(const Env& env, const fs::path& data_dir_override)
{
    ConfigCheck out;
    auto cfg = load_config_impl(env, data_dir_override, &out.errors);
    if (cfg) {
        out.config = std::move(*cfg);
    } else {
        out.errors.push_back(std::move(cfg.error()));
    }
    return out;
}

std::expected<std::pair<std::string, int>, std::string> parse_listen(std::string_view text)
{
    const std::string example = " (e.g. \"0.0.0.0:4141\", \"[::]:4141\" or \"127.0.0.1:4141\")";
    std::string host;
    std::string_view port_text;
    if (text.starts_with('[')) {
        const auto close = text.find(']');
        if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':') {
            return std::unexpected("must be \"[IPv6 address]:port\"" + example);
        }
        host = std::string(text.substr(1, close - 1));
        port_text = text.substr(close + 2);
        in6_addr a6{};
        if (inet_pton(AF_INET6, host.c_str(), &a6) != 1) {
            return std::unexpected("has '" + host + "' in brackets, which is not an IPv6 address" + example);
        }
    } else {
        const auto colon = text.rfind(':');
        if (colon == std::string_view::npos) {
            return std::unexpected("needs a port: \"host:port\"" + example);
        }
        host = std::string(text.substr(0, colon));
        port_text = text.substr(colon + 1);
        if (host.find(':') != std::string::npos) {
            return std::unexpected("has an IPv6 address without brackets: write \"[" + host +
                                   "]:" + std::string(port_text) + "\"");
        }
        if (host.empty()) {
            host = "0.0.0.0";  // ":4141", as Go and others read it: every IPv4 address
        }
    }
    int port = -1;
    const auto [end, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
    if (port_text.empty() || ec != std::errc() || end != port_text.data() + port_text.size() || port < 0 ||
        port > 65535) {
        return std::unexpected("needs a port between 0 and 65535 after the last ':', not '" + std::string(port_text) +
                               "'" + example);
    }
    return std::pair(std::move(host), port);
}

bool is_loopback_host(std::string_view host)
{
    if (host.starts_with('[') && host.ends_with(']')) {
        host = host.substr(1, host.size() - 2);
    }
    if (host == "localhost") {
        return true;
    }
    const std::string h(host);
    in_addr a4{};
    if (inet_pton(AF_INET, h.c_str(), &a4) == 1) {
        return (ntohl(a4.s_addr) >> 24) == 127;
    }
    in6_addr a6{};
    if (inet_pton(AF_INET6, h.c_str(), &a6) == 1) {
        return IN6_IS_ADDR_LOOPBACK(&a6);
    }
    return false;
}

std::optional<std::string> listen_refusal(const Config& cfg)
{
    if (cfg.tls_cert.empty() != cfg.tls_key.empty()) {
        return std::string("[server] ") +
               (cfg.tls_cert.empty() ? "tls_key is set without tls_cert" : "tls_cert is set without tls_key") +
               ": TLS needs both, the certificate (PEM, with its chain) and its private key (PEM)";
    }
    if (is_loopback_host(cfg.host)) {
        return std::nullopt;
    }
    std::string missing;
    if (cfg.tls_cert.empty()) {
        missing +=
            "\n  tls_cert = \"/etc/aigw/tls/cert.pem\"   # the certificate (PEM, with its chain)"
            "\n  tls_key = \"/etc/aigw/tls/key.pem\"     # its private key (PEM, chmod 600)";
    }
    if (!cfg.require_virtual_keys) {
        missing += "\n  require_virtual_keys = true           # callers use keys from 'aigw keys create'";
    }
    if (missing.empty()) {
        return std::nullopt;
    }
    return "refusing to listen on " + cfg.host + ", which is reachable from other machines, without " +
           std::string(cfg.tls_cert.empty() && !cfg.require_virtual_keys ? "TLS and required virtual keys"
                       : cfg.tls_cert.empty()                            ? "TLS"
                                                                         : "required virtual keys") +
           ". Add to [server] in " + cfg.config_path.string() + ":" + missing +
           "\nor listen on loopback only (listen = \"127.0.0.1:" + std::to_string(cfg.port) + "\").";
}

std::map<std::string, std::string, std::less<>> default_model_families()
{
    return {
        {"claude-*", "anthropic"},
        {"gpt-*", "openai"},
        {"chatgpt-*", "openai"},
        {"codex-*", "openai"},
        {"o1*", "openai"},
        {"o2*", "openai"},
        {"o3*", "openai"},
        {"o4*", "openai"},
        {"o5*", "openai"},
        {"o6*", "openai"},
        {"o7*", "openai"},
        {"o8*", "openai"},
        {"o9*", "openai"},
        {"text-embedding-3-*", "openai"},
        {"text-embedding-ada-*", "openai"},
        {"davinci-*", "openai"},
        {"babbage-*", "openai"},
        {"gemini-*", "gemini"},
        {"gemma-*", "gemini"},
        {"text-embedding-004", "gemini"},
        {"command-*", "cohere"},
        {"embed-*", "cohere"},
        {"mistral-*", "mistral"},
        {"codestral-*", "mistral"},
        {"ministral-*", "mistral"},
        {"magistral-*", "mistral"},
        {"devstral-*", "mistral"},
        {"deepseek-*", "deepseek"},
        {"grok-*", "xai"},
        {"sonar*", "perplexity"},
        {"kimi-*", "moonshot"},
    };
}

namespace {

/// The provider of a bare name by the longest family prefix it matches, or nullptr.
const ProviderSpec* family_provider(const Config& cfg, std::string_view name)
{
    const std::string lower = normalise_model_id(name);
    const std::string* best = nullptr;
    std::size_t best_len = 0;
    for (const auto& [pattern, provider] : cfg.model_families) {
        std::string_view p = pattern;
        const bool prefix = p.ends_with('*');
        if (prefix) {
            p.remove_suffix(1);
        }
        const std::string want = normalise_model_id(p);
        const bool hit = prefix ? std::string_view(lower).starts_with(want) : lower == want;
        if (hit && (best == nullptr || want.size() > best_len)) {
            best = &provider;
            best_len = want.size();
        }
    }
    if (best == nullptr) {
        return nullptr;
    }
    auto it = cfg.providers.find(*best);
    return it == cfg.providers.end() ? nullptr : &it->second;
}

/// Claude Code names a model with its context window in brackets ("claude-opus-4-8[1m]");
/// the window is a request option (a beta header), not part of the model's name.
std::string_view without_bracket_suffix(std::string_view name)
{
    if (name.ends_with(']')) {
        if (auto open = name.rfind('['); open != std::string_view::npos && open > 0) {
            return name.substr(0, open);
        }
    }
    return name;
}

}  // namespace

std::expected<ResolvedModel, wire::Failure> resolve_model(const Config& cfg, std::string_view requested)
{
    // Normalisation (see the contract): surrounding spaces are trimmed and "//" collapsed;
    // the provider part is matched case-insensitively and prices are found with
    // Catalog::find_priced; the model part keeps its case upstream. Anything else odd in
    // a name (control characters, inner spaces) is refused: it would reach headers and logs.
    std::string_view trimmed = requested;
    while (!trimmed.empty() && (trimmed.front() == ' ' || trimmed.front() == '\t')) {
        trimmed.remove_prefix(1);
    }
    while (!trimmed.empty() && (trimmed.back() == ' ' || trimmed.back() == '\t')) {
        trimmed.remove_suffix(1);
    }
    std::string collapsed;  // only a name with "//" is copied
    if (trimmed.find("//") != std::string_view::npos) {
        for (char c : trimmed) {
            if (!(c == '/' && !collapsed.empty() && collapsed.back() == '/')) {
                collapsed.push_back(c);
            }
        }
        trimmed = collapsed;
    }
    if (trimmed.empty()) {
        return std::unexpected(wire::bad_request("you must provide a model parameter", "model"));
    }
    for (char c : trimmed) {
        auto u = static_cast<unsigned char>(c);
        if (u < 0x20 || u == 0x7f || c == ' ') {
            return std::unexpected(wire::bad_request(
                "model: must not contain spaces or control characters (e.g. \"openai/gpt-4o-mini\").", "model"));
        }
    }
    requested = trimmed;
    const std::string_view unbracketed = without_bracket_suffix(requested);
    // Aliases first, so a user can point even a catalog name elsewhere. Chains are allowed;
    // parse_config rejects loops, the depth cap guards configs built by hand.
    std::string_view name = cfg.aliases.contains(requested) ? requested : unbracketed;
    for (int depth = 0; depth < 16; ++depth) {
        auto alias = cfg.aliases.find(name);
        if (alias == cfg.aliases.end()) {
            break;
        }
        name = alias->second;
    }

    if (const auto slash = name.find('/'); slash != std::string_view::npos) {
        auto provider = cfg.providers.find(name.substr(0, slash));
        if (provider == cfg.providers.end()) {
            provider = cfg.providers.find(normalise_model_id(name.substr(0, slash)));
        }
        if (provider != cfg.providers.end()) {
            const std::string_view rest = name.substr(slash + 1);
            if (rest.empty()) {
                return std::unexpected(wire::model_not_found(requested));
            }
            std::string id = provider->first + "/" + std::string(rest);
            // Dated snapshots and case variants price as their family; unknown models of a
            // known provider go through unpriced (info == nullptr). A mere case variant takes
            // the catalog's id, so limits keyed by model id see one model.
            const ModelInfo* info = cfg.catalog.find_priced(id);
            if (info != nullptr && info->id != id && normalise_model_id(info->id) == normalise_model_id(id)) {
                id = info->id;
            }
            return ResolvedModel{&provider->second, std::string(rest), std::move(id), info};
        }
        // Otherwise the slash may be part of a hosted model's own name: "meta-llama/llama-4-scout-...".
    }
    if (const ModelInfo* info = cfg.catalog.find_bare_priced(name)) {
        auto provider = cfg.providers.find(info->provider);
        if (provider != cfg.providers.end()) {
            if (info->name == name || normalise_model_id(info->name) == normalise_model_id(name)) {
                return ResolvedModel{&provider->second, info->name, info->id, info};
            }
            // A dated snapshot of a catalog family: call it by its own name, price it as the family.
            return ResolvedModel{&provider->second, std::string(name), info->provider + "/" + std::string(name), info};
        }
    }
    // A bare name the catalog does not know (a model newer than it, or an agent's default):
    // its family names the provider; it goes through unpriced.
    if (name.find('/') == std::string_view::npos) {
        if (const ProviderSpec* p = family_provider(cfg, name)) {
            return ResolvedModel{p, std::string(name), p->name + "/" + std::string(name), nullptr};
        }
    }
    return std::unexpected(wire::model_not_found(requested));
}

std::string provider_key(const Config& cfg, const ProviderSpec& p, const Env& env)
{
    if (!p.key_env.empty()) {
        if (auto key = non_empty(env, p.key_env)) {
            return *key;
        }
    }
    // Keys stored with `aigw keys set`: {"openai": "sk-..."}. Read on each call: it is only
    // asked for at start-up and on reload, and `keys set` may have changed it.
    auto text = read_file(provider_keys_file(cfg.data_dir));
    if (!text) {
        return {};
    }
    auto doc = nlohmann::json::parse(*text, nullptr, /*allow_exceptions=*/false);
    if (!doc.is_object()) {
        return {};
    }
    auto it = doc.find(p.name);
    if (it == doc.end() || !it->is_string()) {
        return {};
    }
    return it->get<std::string>();
}

std::string_view to_string(BalanceStrategy s)
{
    switch (s) {
        case BalanceStrategy::weighted:
            return "weighted";
        case BalanceStrategy::least_busy:
            return "least-busy";
        case BalanceStrategy::lowest_latency:
            return "lowest-latency";
    }
    return "weighted";
}

}  // namespace aigw::config

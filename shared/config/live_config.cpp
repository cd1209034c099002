#include "shared/config/live_config.hpp"

#include <toml++/toml.h>

#include <array>
#include <sstream>

namespace aigw::config {

LiveConfig::LiveConfig(Config first)
{
    m_all.push_back(std::make_unique<const Config>(std::move(first)));
    m_current.store(m_all.back().get(), std::memory_order_release);
}

const Config& LiveConfig::publish(Config next)
{
    std::lock_guard lock(m_mu);
    m_all.push_back(std::make_unique<const Config>(std::move(next)));
    m_current.store(m_all.back().get(), std::memory_order_release);
    return *m_all.back();
}

std::size_t LiveConfig::generations() const
{
    std::lock_guard lock(m_mu);
    return m_all.size();
}

namespace {

toml::table parse_or_empty(std::string_view text)
{
#if TOML_EXCEPTIONS
    try {
        return toml::parse(text);
    } catch (const toml::parse_error&) {
        return {};
    }
#else
    auto parsed = toml::parse(text);
    return parsed ? std::move(parsed).table() : toml::table{};
#endif
}

/// "models.\"openai/gpt-4o\".rpm": keys that are not bare TOML keys are quoted.
std::string join_key(const std::string& prefix, std::string_view key)
{
    const bool bare = !key.empty() && key.find_first_not_of(
                                          "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                          "0123456789_-") == std::string_view::npos;
    std::string k = bare ? std::string(key) : "\"" + std::string(key) + "\"";
    return prefix.empty() ? k : prefix + "." + k;
}

/// Leaf values of a table as key -> TOML text, tables walked, everything else whole.
void flatten(const toml::table& t, const std::string& prefix, std::vector<std::pair<std::string, std::string>>& out)
{
    for (auto&& [k, v] : t) {
        const std::string key = join_key(prefix, k.str());
        if (const auto* sub = v.as_table(); sub != nullptr && !sub->is_inline()) {
            flatten(*sub, key, out);
            continue;
        }
        std::ostringstream os;
        v.visit([&os](const auto& node) { os << toml::toml_formatter(toml::table{{"v", node}}); });
        out.emplace_back(key, os.str());
    }
}

}  // namespace

std::vector<std::string> changed_keys(std::string_view old_text, std::string_view new_text)
{
    std::vector<std::pair<std::string, std::string>> before;
    std::vector<std::pair<std::string, std::string>> after;
    flatten(parse_or_empty(old_text), "", before);
    flatten(parse_or_empty(new_text), "", after);
    std::map<std::string, std::string, std::less<>> old_values(before.begin(), before.end());
    std::vector<std::string> out;
    for (const auto& [key, value] : after) {
        auto it = old_values.find(key);
        if (it == old_values.end() || it->second != value) {
            out.push_back(key);
        }
        if (it != old_values.end()) {
            old_values.erase(it);
        }
    }
    for (const auto& [key, value] : before) {
        if (old_values.contains(key)) {
            out.push_back(key);  // removed
        }
    }
    return out;
}

bool needs_restart(std::string_view key)
{
    static constexpr std::array<std::string_view, 9> k_fixed = {"data_dir",
                                                                "ledger.retention_days",
                                                                "cache.ttl_s",
                                                                "cache.max_mb",
                                                                "cache.max_entry_kb",
                                                                "cache.semantic_max_entries",
                                                                "routing.circuit_failures",
                                                                "routing.circuit_cooldown_ms",
                                                                "routing.health_window_ms"};
    if (key == "server.metrics_token") {
        return false;  // read per scrape from the current generation
    }
    if (key.starts_with("server.") || key == "server" || key.starts_with("otel.") || key == "otel" ||
        key.starts_with("cluster.") || key == "cluster") {
        // the trace exporter and the cluster engines' connections are built at start-up
        return true;
    }
    for (auto fixed : k_fixed) {
        if (key == fixed) {
            return true;
        }
    }
    return key.starts_with("models.") && (key.ends_with(".rpm") || key.ends_with(".tpm"));
}

}  // namespace aigw::config

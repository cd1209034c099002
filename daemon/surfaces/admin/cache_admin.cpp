// The cache's admin API: GET /aigw/v1/cache (stats), DELETE /aigw/v1/cache or
// POST /aigw/v1/cache/clear (remove every entry). Used by `aigw cache stats|clear`.

#include "daemon/surfaces/admin/admin_api.hpp"

namespace aigw::daemon::surfaces {

namespace {

nlohmann::json stats_json(const cache::CacheStats& s, const config::CacheConfig& cfg)
{
    return {{"enabled", cfg.enabled},
            {"ttl_s", cfg.ttl_s},
            {"entries", s.entries},
            {"bytes", s.bytes},
            {"max_bytes", s.max_bytes},
            {"semantic_entries", s.semantic_entries},
            {"embedding_model", cfg.embedding_model},
            {"semantic_threshold", cfg.semantic_threshold},
            {"hits", s.hits},
            {"semantic_hits", s.semantic_hits},
            {"misses", s.misses},
            {"hit_rate", s.hit_rate()},
            {"stores", s.stores},
            {"evictions", s.evictions},
            {"expirations", s.expirations},
            {"too_large", s.too_large},
            {"saved_usd", s.saved_usd}};
}

}  // namespace

void AdminApi::install_cache_routes()
{
    add("GET", "/aigw/v1/cache", [this](const http::Request&, http::Response& res) {
        res.set_content(stats_json(m_cache->stats(), m_d.config().cache)
                            .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace),
                        "application/json");
    });
    auto clear = [this](const http::Request&, http::Response& res) {
        const std::int64_t removed = m_cache->clear();
        m_cache->flush();  // gone from disk too when the answer says so
        res.set_content(
            nlohmann::json({{"cleared", removed}}).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace),
            "application/json");
    };
    add("DELETE", "/aigw/v1/cache", clear);
    add("POST", "/aigw/v1/cache/clear", clear);
}

}  // namespace aigw::daemon::surfaces

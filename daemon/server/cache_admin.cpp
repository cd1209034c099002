// The cache's admin API: GET /aigw/v1/cache (stats), DELETE /aigw/v1/cache or
// POST /aigw/v1/cache/clear (remove every entry). Used by `aigw cache stats|clear`.

#include "daemon/server/gateway.hpp"

#include <httplib.h>

namespace aigw::daemon::server {

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

void Gateway::install_cache_routes()
{
    auto& svr = *m_server;
    svr.Get("/aigw/v1/cache", [this](const httplib::Request& req, httplib::Response& res) {
        if (!authorize(req, res, false)) {
            return;
        }
        res.set_content(stats_json(m_cache->stats(), m_cfg.cache).dump(), "application/json");
    });
    auto clear = [this](const httplib::Request& req, httplib::Response& res) {
        if (!authorize(req, res, false)) {
            return;
        }
        const std::int64_t removed = m_cache->clear();
        m_cache->flush();  // gone from disk too when the answer says so
        res.set_content(nlohmann::json({{"cleared", removed}}).dump(), "application/json");
    };
    svr.Delete("/aigw/v1/cache", clear);
    svr.Post("/aigw/v1/cache/clear", clear);
}

}  // namespace aigw::daemon::server

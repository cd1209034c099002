// The admin API under /aigw/v1, used by the aigw CLI (shared/client). Typed JSON only.

#include "daemon/server/gateway.hpp"

#include <httplib.h>

#include <algorithm>
#include <csignal>

namespace aigw::daemon::server {

namespace {

nlohmann::json row_json(const ledger::LedgerRow& r)
{
    return {{"ts_ms", r.ts_ms},
            {"request_id", r.request_id},
            {"key_id", r.key_id},
            {"surface", r.surface},
            {"requested_model", r.requested_model},
            {"served_model", r.served_model},
            {"provider", r.provider},
            {"status", r.status},
            {"attempts", r.attempts},
            {"fallback_reason", r.fallback_reason},
            {"error", r.error},
            {"input_tokens", r.input_tokens},
            {"cached_tokens", r.cached_tokens},
            {"output_tokens", r.output_tokens},
            {"reasoning_tokens", r.reasoning_tokens},
            {"cost_usd", r.cost_usd},
            {"saved_usd", r.saved_usd},
            {"priced", r.priced},
            {"latency_ms", r.latency_ms},
            {"ttft_ms", r.ttft_ms},
            {"stream", r.stream},
            {"cache_hit", r.cache_hit},
            {"attempt", r.attempt},
            {"final_attempt", r.final_attempt},
            {"cache_write_tokens", r.cache_write_tokens},
            {"tag", r.tag},
            {"variant", r.variant}};
}

/// A row for `aigw logs`: row_json plus its cursor id and, when stored, the bodies.
nlohmann::json entry_json(const ledger::LedgerEntry& e)
{
    nlohmann::json j = row_json(e.row);
    j["row_id"] = e.row_id;
    if (!e.row.request_body.empty() || !e.row.response_body.empty()) {
        j["request_body"] = e.row.request_body;
        j["response_body"] = e.row.response_body;
    }
    return j;
}

nlohmann::json group_json(const ledger::CostGroup& g)
{
    return {{"key", g.key},
            {"requests", g.requests},
            {"errors", g.errors},
            {"input_tokens", g.input_tokens},
            {"cached_tokens", g.cached_tokens},
            {"output_tokens", g.output_tokens},
            {"cost_usd", g.cost_usd},
            {"saved_usd", g.saved_usd},
            {"cache_hits", g.cache_hits},
            {"avg_latency_ms", g.avg_latency_ms},
            {"p95_latency_ms", g.p95_latency_ms}};
}

std::int64_t int_param(const httplib::Request& req, const char* name, std::int64_t fallback)
{
    if (!req.has_param(name)) {
        return fallback;
    }
    try {
        return std::stoll(req.get_param_value(name));
    } catch (...) {
        return fallback;
    }
}

}  // namespace

void Gateway::install_admin_routes()
{
    auto& svr = *m_server;

    svr.Get("/aigw/v1/models", [this](const httplib::Request& req, httplib::Response& res) {
        if (!authorize(req, res, false)) {
            return;
        }
        nlohmann::json models = nlohmann::json::array();
        for (const auto* m : m_cfg.catalog.all()) {
            auto p = m_cfg.providers.find(m->provider);
            nlohmann::json price = nullptr;
            if (m->price) {
                price = {{"input", m->price->input}, {"cached_input", m->price->cached_input}, {"output", m->price->output}};
            }
            models.push_back({{"id", m->id},
                              {"provider", m->provider},
                              {"mode", m->mode},
                              {"context_window", m->context_window},
                              {"max_output_tokens", m->max_output_tokens},
                              {"tools", m->tools},
                              {"vision", m->vision},
                              {"json", m->json_mode},
                              {"reasoning", m->reasoning},
                              {"price", std::move(price)},
                              {"key_present", p != m_cfg.providers.end() && m_router->key_present(p->second)}});
        }
        models.push_back({{"id", "mock/echo"}, {"provider", "mock"}, {"mode", "chat"}, {"context_window", 1000000},
                          {"max_output_tokens", 100000}, {"tools", true}, {"vision", false}, {"json", true},
                          {"reasoning", false}, {"price", {{"input", 0}, {"cached_input", 0}, {"output", 0}}},
                          {"key_present", true}});
        res.set_content(nlohmann::json({{"models", std::move(models)}}).dump(), "application/json");
    });

    svr.Get("/aigw/v1/cost", [this](const httplib::Request& req, httplib::Response& res) {
        if (!authorize(req, res, false)) {
            return;
        }
        ledger::CostQuery q;
        q.since_ms = int_param(req, "since_ms", 0);
        q.until_ms = int_param(req, "until_ms", 0);
        if (req.has_param("by")) {
            q.group_by = req.get_param_value("by");
        }
        m_ledger->flush();  // a report right after a request includes it
        auto groups = m_ledger->cost(q);
        if (!groups) {
            send_failure(res, wire::bad_request(groups.error(), "by"));
            return;
        }
        ledger::CostGroup total;
        total.key = "total";
        double latency_sum = 0;
        nlohmann::json arr = nlohmann::json::array();
        for (const auto& g : *groups) {
            total.requests += g.requests;
            total.errors += g.errors;
            total.input_tokens += g.input_tokens;
            total.cached_tokens += g.cached_tokens;
            total.output_tokens += g.output_tokens;
            total.cost_usd += g.cost_usd;
            total.saved_usd += g.saved_usd;
            total.cache_hits += g.cache_hits;
            latency_sum += g.avg_latency_ms * static_cast<double>(g.requests);
            arr.push_back(group_json(g));
            if (q.group_by == "key") {  // limits: a virtual key's name next to its id
                auto k = m_keys->by_id(g.key);
                arr.back()["name"] = k ? k->name : (g.key == "default" ? "gateway key" : "");
            }
        }
        total.avg_latency_ms = total.requests > 0 ? latency_sum / static_cast<double>(total.requests) : 0;
        res.set_content(nlohmann::json({{"groups", std::move(arr)}, {"total", group_json(total)}}).dump(), "application/json");
    });

    svr.Get("/aigw/v1/logs", [this](const httplib::Request& req, httplib::Response& res) {
        if (!authorize(req, res, false)) {
            return;
        }
        m_ledger->flush();
        // recent() reads every row for a limit <= 0; the API caps what one call returns.
        const auto limit = std::clamp<std::int64_t>(int_param(req, "limit", 50), 1, 10'000);
        // With a cursor (after_row_id, for `aigw logs -f`), a run tag or with_ids: rows with
        // their ids, oldest first (without a cursor: the newest `limit` rows).
        if (req.has_param("after_row_id") || req.has_param("tag") || req.has_param("with_ids")) {
            ledger::EntryFilter f;
            if (req.has_param("after_row_id")) {
                f.after_row_id = int_param(req, "after_row_id", 0);
            }
            f.limit = static_cast<int>(limit);
            f.all_attempts = req.has_param("all_attempts");
            f.tag = req.get_param_value("tag");
            auto entries = m_ledger->entries(f);
            if (!entries) {
                send_failure(res, wire::internal_error("cannot read the ledger: " + entries.error()));
                return;
            }
            nlohmann::json arr = nlohmann::json::array();
            for (const auto& e : *entries) {
                arr.push_back(entry_json(e));
            }
            res.set_content(nlohmann::json({{"rows", std::move(arr)}}).dump(), "application/json");
            return;
        }
        auto rows = m_ledger->recent(static_cast<int>(limit), req.has_param("all_attempts"));
        if (!rows) {
            send_failure(res, wire::internal_error("cannot read the ledger: " + rows.error()));
            return;
        }
        nlohmann::json arr = nlohmann::json::array();
        for (const auto& r : *rows) {
            arr.push_back(row_json(r));
        }
        res.set_content(nlohmann::json({{"rows", std::move(arr)}}).dump(), "application/json");
    });

    // Every attempt of one request, oldest first, with bodies when body logging is on.
    svr.Get(R"(/aigw/v1/logs/([A-Za-z0-9_.\-]+))", [this](const httplib::Request& req, httplib::Response& res) {
        if (!authorize(req, res, false)) {
            return;
        }
        m_ledger->flush();
        ledger::EntryFilter f;
        f.request_id = req.matches[1].str();
        f.limit = 0;
        auto entries = m_ledger->entries(f);
        if (!entries) {
            send_failure(res, wire::internal_error("cannot read the ledger: " + entries.error()));
            return;
        }
        if (entries->empty()) {
            wire::Failure nf;
            nf.status = 404;
            nf.kind = wire::FailureKind::not_found;
            nf.message = "No request " + f.request_id +
                         " in the ledger; 'aigw logs' lists recent request ids (rows older than the retention are pruned).";
            send_failure(res, nf);
            return;
        }
        nlohmann::json arr = nlohmann::json::array();
        for (const auto& e : *entries) {
            arr.push_back(entry_json(e));
        }
        res.set_content(nlohmann::json({{"request_id", f.request_id}, {"attempts", std::move(arr)}}).dump(),
                        "application/json");
    });

    svr.Get("/aigw/v1/status", [this](const httplib::Request& req, httplib::Response& res) {
        if (!authorize(req, res, false)) {
            return;
        }
        nlohmann::json providers = nlohmann::json::array();
        for (const auto& [name, p] : m_cfg.providers) {
            providers.push_back({{"name", name},
                                 {"wire", config::to_string(p.wire)},
                                 {"base_url", routing::redact_url(p.base_url)},
                                 {"key_present", m_router->key_present(p)}});
        }
        // Health of every deployment tried so far, and the state of each provider key (by
        // position, never the key).
        nlohmann::json deployments = nlohmann::json::array();
        for (const auto& h : m_router->health().all()) {
            deployments.push_back({{"id", h.id},
                                   {"state", routing::to_string(h.state)},
                                   {"score", h.score},
                                   {"requests", h.requests},
                                   {"errors", h.errors},
                                   {"rate_limited", h.rate_limited},
                                   {"timeouts", h.timeouts},
                                   {"error_rate", h.error_rate},
                                   {"p95_ms", h.p95_ms},
                                   {"inflight", h.inflight},
                                   {"consecutive_failures", h.consecutive_failures},
                                   {"retry_in_ms", h.retry_in_ms}});
        }
        nlohmann::json keys = nlohmann::json::array();
        for (const auto& k : m_router->keys().all(m_router->key_counts())) {
            keys.push_back({{"provider", k.provider},
                            {"key", k.index + 1},
                            {"state", k.bad ? "bad" : k.cooldown_ms > 0 ? "cooling" : "ok"},
                            {"cooldown_ms", k.cooldown_ms},
                            {"cooling_models", k.cooling_models},
                            {"reason", k.bad_reason}});
        }
        auto uptime = std::chrono::duration_cast<std::chrono::seconds>(std::chrono::steady_clock::now() - m_started).count();
        nlohmann::json body = {{"version", AIGW_VERSION},
                               {"deployments", std::move(deployments)},
                               {"keys", std::move(keys)},
                               {"pid", ::getpid()},
                               {"port", m_port},
                               {"uptime_s", uptime},
                               {"requests_served", requests_served.load()},
                               {"data_dir", m_cfg.data_dir.string()},
                               {"providers", std::move(providers)}};
        res.set_content(body.dump(), "application/json");
    });

    svr.Post("/aigw/v1/reload", [this](const httplib::Request& req, httplib::Response& res) {
        if (!authorize(req, res, false)) {
            return;
        }
        m_router->reload_keys();
        res.set_content(R"({"ok":true})", "application/json");
    });

    svr.Post("/aigw/v1/shutdown", [this](const httplib::Request& req, httplib::Response& res) {
        if (!authorize(req, res, false)) {
            return;
        }
        res.set_content(R"({"ok":true})", "application/json");
        // stop() joins the pool this handler runs on: hand it to the signal thread instead.
        ::kill(::getpid(), SIGTERM);
    });

    install_cache_routes();
}

}  // namespace aigw::daemon::server

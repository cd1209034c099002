// The admin API under /aigw/v1, used by the aigw CLI (shared/client). Typed JSON only.

#include "daemon/surfaces/admin/admin_api.hpp"

#include "daemon/cluster/shared_limits.hpp"

#include "daemon/ledger/latency_hist.hpp"
#include "daemon/upstream/http_client.hpp"

#include <algorithm>
#include <charconv>
#include <csignal>
#include <sstream>

namespace aigw::daemon::surfaces {

namespace {

/// {"count": N, "last": [{"method", "path", "user_agent"}, ...]}
nlohmann::json unknown_routes_json(const pipeline::Dispatcher& d)
{
    auto [count, last] = d.unknown_routes();
    nlohmann::json items = nlohmann::json::array();
    for (const auto& u : last) {
        items.push_back({{"method", u.method}, {"path", u.path}, {"user_agent", u.user_agent}});
    }
    return {{"count", count}, {"last", std::move(items)}};
}

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
            {"variant", r.variant},
            {"session", r.session}};
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

std::int64_t int_param(const http::Request& req, const char* name, std::int64_t fallback)
{
    const auto text = req.query_param(name);
    if (!text) {
        return fallback;
    }
    std::int64_t v = 0;
    auto [p, ec] = std::from_chars(text->data(), text->data() + text->size(), v);
    return ec == std::errc{} && p == text->data() + text->size() ? v : fallback;
}

}  // namespace

AdminApi::AdminApi(pipeline::Dispatcher& d, AdminHooks hooks)
    : m_d(d),
      m_hooks(std::move(hooks)),
      m_router(&d.router()),
      m_ledger(&d.ledger()),
      m_keys(&d.keys()),
      m_cache(&d.cache()),
      m_limiter(&d.limiter())
{}

namespace {

/// [cluster] for `aigw status`: the Redis URL without its password, and a timed PING
/// (this handler runs on the blocking pool, so it may wait for it: 250 ms at most).
nlohmann::json cluster_core_json(const pipeline::Dispatcher& d);

/// cluster_core_json() with the members and the shared ledger (AdminHooks::cluster_members).
nlohmann::json cluster_json(const pipeline::Dispatcher& d, const AdminHooks& hooks)
{
    nlohmann::json out = cluster_core_json(d);
    if (hooks.cluster_members) {
        out.update(hooks.cluster_members());
    }
    if (!out.contains("postgres")) {
        out["postgres"] = {{"configured", false}};
    }
    if (!out.contains("instances")) {
        out["instances"] = nlohmann::json::array();
    }
    return out;
}

nlohmann::json cluster_core_json(const pipeline::Dispatcher& d)
{
    const config::ClusterConfig& c = d.config().cluster;
    cluster::SharedLimits* shared = d.shared_limits();
    if (shared == nullptr) {
        return {{"enabled", false}};
    }
    const auto ping = shared->ping_blocking();
    nlohmann::json redis = {{"url", cluster::redact_redis_url(c.redis_url)},
                            {"reachable", ping.ok},
                            {"ping_ms", ping.ok ? nlohmann::json(ping.latency_ms) : nlohmann::json(nullptr)}};
    if (!ping.ok) {
        redis["error"] = ping.error;
    }
    return {{"enabled", true},
            {"redis", std::move(redis)},
            {"redis_down", c.redis_down == config::ClusterConfig::RedisDown::refuse ? "refuse" : "local"},
            {"shared", nlohmann::json::array({"rate limits (per key and per model rpm/tpm)", "virtual keys",
                                              "circuit breakers and resting provider keys"})}};
}

}  // namespace

void AdminApi::install(http::Routes& routes)
{
    m_routes = &routes;
    install_admin_routes();
    install_keys_routes();
}

void AdminApi::fail(http::Response& res, const wire::Failure& f)
{
    res = pipeline::failure_response(f, pipeline::Shape::openai);
}

wire::Failure AdminApi::ledger_failure(bool team, const std::string& message)
{
    if (!team) {
        return wire::internal_error("cannot read the ledger: " + message);
    }
    wire::Failure down;
    down.kind = wire::FailureKind::upstream;
    down.status = 503;
    down.message = message;
    return down;
}

void AdminApi::send_entries(http::Response& res, const ledger::EntryFilter& f)
{
    const ledger::SqliteLedgerReader local(*m_ledger);
    const bool team = static_cast<bool>(m_hooks.team_ledger);
    auto entries = (team ? m_hooks.team_ledger() : local).entries(f);
    if (!entries) {
        fail(res, ledger_failure(team, entries.error()));
        return;
    }
    nlohmann::json arr = nlohmann::json::array();
    for (const auto& e : *entries) {
        arr.push_back(entry_json(e));
    }
    res.set_content(
        nlohmann::json({{"rows", std::move(arr)}}).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace),
        "application/json");
}

void AdminApi::add(std::string method, std::string pattern, SyncHandler h)
{
    m_routes->add(std::move(method), std::move(pattern),
                  [this, h = std::move(h)](http::Request& req, http::Responder& out) -> asio::awaitable<void> {
                      if (auto refused = m_d.authorize_admin(req)) {
                          co_await out.send(pipeline::failure_response(*refused, pipeline::Shape::openai));
                          co_return;
                      }
                      http::Response res;
                      co_await http::run_blocking([&] { h(req, res); });
                      co_await out.send(std::move(res));
                  });
}

void AdminApi::install_admin_routes()
{
    add("GET", "/aigw/v1/models", [this](const http::Request&, http::Response& res) {
        nlohmann::json models = nlohmann::json::array();
        for (const auto* m : m_d.config().catalog.all()) {
            auto p = m_d.config().providers.find(m->provider);
            nlohmann::json price = nullptr;
            if (m->price) {
                price = {
                    {"input", m->price->input}, {"cached_input", m->price->cached_input}, {"output", m->price->output}};
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
                              {"key_present", p != m_d.config().providers.end() && m_router->key_present(p->second)}});
        }
        models.push_back({{"id", "mock/echo"},
                          {"provider", "mock"},
                          {"mode", "chat"},
                          {"context_window", 1000000},
                          {"max_output_tokens", 100000},
                          {"tools", true},
                          {"vision", false},
                          {"json", true},
                          {"reasoning", false},
                          {"price", {{"input", 0}, {"cached_input", 0}, {"output", 0}}},
                          {"key_present", true}});
        res.set_content(nlohmann::json({{"models", std::move(models)}})
                            .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace),
                        "application/json");
    });

    add("GET", "/aigw/v1/cost", [this](const http::Request& req, http::Response& res) {
        ledger::CostQuery q;
        q.since_ms = int_param(req, "since_ms", 0);
        q.until_ms = int_param(req, "until_ms", 0);
        if (req.query_param("by").has_value()) {
            q.group_by = req.query_param("by").value_or("");
        }
        if (auto bad = ledger::check_group_by(q.group_by)) {
            fail(res, wire::bad_request(*bad, "by"));
            return;
        }
        m_ledger->flush();  // a report right after a request includes it
        const ledger::SqliteLedgerReader local(*m_ledger);
        const bool team = static_cast<bool>(m_hooks.team_ledger);
        auto report = (team ? m_hooks.team_ledger() : local).cost_report(q);
        if (!report) {
            fail(res, ledger_failure(team, report.error()));
            return;
        }
        const auto& groups = report->groups;
        const auto& total = report->total;
        nlohmann::json arr = nlohmann::json::array();
        for (const auto& g : groups) {
            arr.push_back(group_json(g));
            if (q.group_by == "key") {  // limits: a virtual key's name next to its id
                auto k = m_keys->by_id(g.key);
                arr.back()["name"] = k ? k->name : (g.key == "default" ? "gateway key" : "");
            }
        }
        res.set_content(nlohmann::json({{"groups", std::move(arr)}, {"total", group_json(total)}})
                            .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace),
                        "application/json");
    });

    add("GET", "/aigw/v1/logs", [this](const http::Request& req, http::Response& res) {
        m_ledger->flush();
        // recent() reads every row for a limit <= 0; the API caps what one call returns.
        const auto limit = std::clamp<std::int64_t>(int_param(req, "limit", 50), 1, 10'000);
        // With a cursor (after_row_id, for `aigw logs -f`), a run tag or with_ids: rows with
        // their ids, oldest first (without a cursor: the newest `limit` rows).
        static constexpr const char* k_filters[] = {"after_row_id", "tag",     "with_ids", "key",
                                                    "model",        "status",  "errors",   "since_ms",
                                                    "until_ms",     "session", "q",        "status_class"};
        const bool filtered = std::any_of(std::begin(k_filters), std::end(k_filters),
                                          [&](const char* name) { return req.query_param(name).has_value(); });
        if (filtered) {
            ledger::EntryFilter f;
            if (req.query_param("after_row_id").has_value()) {
                f.after_row_id = int_param(req, "after_row_id", 0);
            }
            f.limit = static_cast<int>(limit);
            f.all_attempts = req.query_param("all_attempts").has_value();
            f.tag = req.query_param("tag").value_or("");
            f.key_id = req.query_param("key").value_or("");
            f.session = req.query_param("session").value_or("");
            f.model = req.query_param("model").value_or("");
            f.status = static_cast<int>(int_param(req, "status", 0));
            f.status_class = static_cast<int>(std::clamp<std::int64_t>(int_param(req, "status_class", 0), 0, 5));
            f.errors_only = req.query_param("errors").has_value();
            f.since_ms = int_param(req, "since_ms", 0);
            f.until_ms = int_param(req, "until_ms", 0);
            // q: full-text search of the stored bodies, newest first, each row with the
            // matching words in "snippet". A query FTS5 cannot parse is the caller's 400.
            if (const auto q = req.query_param("q"); q.has_value()) {
                if (q->empty()) {
                    fail(res, wire::bad_request("the search query is empty; give words to look for", "q"));
                    return;
                }
                auto hits = m_ledger->search(std::string(*q), f);
                if (!hits) {
                    if (hits.error().bad_query) {
                        fail(res, wire::bad_request(hits.error().message, "q"));
                    } else {
                        fail(res, wire::internal_error("cannot search the ledger: " + hits.error().message));
                    }
                    return;
                }
                nlohmann::json arr = nlohmann::json::array();
                for (const auto& h : *hits) {
                    nlohmann::json j = entry_json(h.entry);
                    j["snippet"] = h.snippet;
                    arr.push_back(std::move(j));
                }
                res.set_content(nlohmann::json({{"rows", std::move(arr)}})
                                    .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace),
                                "application/json");
                return;
            }
            send_entries(res, f);
            return;
        }
        if (m_hooks.team_ledger) {
            ledger::EntryFilter f;
            f.limit = static_cast<int>(limit);
            f.all_attempts = req.query_param("all_attempts").has_value();
            send_entries(res, f);
            return;
        }
        auto rows = m_ledger->recent(static_cast<int>(limit), req.query_param("all_attempts").has_value());
        if (!rows) {
            fail(res, wire::internal_error("cannot read the ledger: " + rows.error()));
            return;
        }
        nlohmann::json arr = nlohmann::json::array();
        for (const auto& r : *rows) {
            arr.push_back(row_json(r));
        }
        res.set_content(
            nlohmann::json({{"rows", std::move(arr)}}).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace),
            "application/json");
    });

    // Every attempt of one request, oldest first, with bodies when body logging is on.
    add("GET", "/aigw/v1/logs/*", [this](const http::Request& req, http::Response& res) {
        const std::string id = req.path.substr(std::string_view("/aigw/v1/logs/").size());
        m_ledger->flush();
        ledger::EntryFilter f;
        f.request_id = id;
        f.limit = 0;
        // This instance's ledger first: it holds the bodies of the requests it served.
        auto entries = m_ledger->entries(f);
        if (!entries) {
            fail(res, wire::internal_error("cannot read the ledger: " + entries.error()));
            return;
        }
        if (entries->empty() && m_hooks.team_ledger) {  // another instance's request
            entries = m_hooks.team_ledger().entries(f);
            if (!entries) {
                fail(res, ledger_failure(true, entries.error()));
                return;
            }
        }
        if (entries->empty()) {
            wire::Failure nf;
            nf.status = 404;
            nf.kind = wire::FailureKind::not_found;
            nf.message =
                "No request " + f.request_id +
                " in the ledger; 'aigw logs' lists recent request ids (rows older than the retention are pruned).";
            fail(res, nf);
            return;
        }
        nlohmann::json arr = nlohmann::json::array();
        for (const auto& e : *entries) {
            arr.push_back(entry_json(e));
        }
        res.set_content(nlohmann::json({{"request_id", f.request_id}, {"attempts", std::move(arr)}}).dump(),
                        "application/json");
    });

    add("GET", "/aigw/v1/status", [this](const http::Request&, http::Response& res) {
        nlohmann::json providers = nlohmann::json::array();
        for (const auto& [name, p] : m_d.config().providers) {
            providers.push_back({{"name", name},
                                 {"wire", config::to_string(p.wire)},
                                 {"base_url", upstream::redact_url(p.base_url)},
                                 {"key_present", m_router->key_present(p)},
                                 {"key_required", p.key_required}});
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
                                   {"retry_in_ms", h.retry_in_ms},
                                   {"opened_elsewhere", h.opened_elsewhere}});
        }
        nlohmann::json keys = nlohmann::json::array();
        for (const auto& k : m_router->keys().all(m_router->key_counts())) {
            keys.push_back({{"provider", k.provider},
                            {"key", k.index + 1},
                            {"state", k.bad               ? "bad"
                                      : k.cooldown_ms > 0 ? "cooling"
                                                          : "ok"},
                            {"cooldown_ms", k.cooldown_ms},
                            {"cooling_models", k.cooling_models},
                            {"reason", k.bad_reason}});
        }
        auto uptime =
            std::chrono::duration_cast<std::chrono::seconds>(std::chrono::steady_clock::now() - m_hooks.started)
                .count();
        nlohmann::json body = {{"version", AIGW_VERSION},
                               {"deployments", std::move(deployments)},
                               {"keys", std::move(keys)},
                               {"pid", ::getpid()},
                               {"port", m_hooks.port()},
                               {"uptime_s", uptime},
                               {"requests_served", m_d.requests_served.load()},
                               {"unknown_routes", unknown_routes_json(m_d)},
                               {"data_dir", m_d.config().data_dir.string()},
                               {"cluster", cluster_json(m_d, m_hooks)},
                               {"warnings", m_hooks.warnings ? m_hooks.warnings() : std::vector<std::string>()},
                               {"providers", std::move(providers)}};
        res.set_content(body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace), "application/json");
    });

    add("POST", "/aigw/v1/reload", [this](const http::Request&, http::Response& res) {
        if (!m_hooks.reload) {
            m_router->reload_keys();
            res.set_content(R"({"ok":true})", "application/json");
            return;
        }
        auto r = m_hooks.reload();
        if (!r) {
            wire::Failure f;
            f.kind = wire::FailureKind::bad_request;
            f.status = 400;
            f.code = "config_invalid";
            f.message =
                "The config file has errors; aigwd keeps the config it had. Fix them ('aigw config check', "
                "'aigw config edit') and reload again.\n" +
                r.error();
            fail(res, f);
            return;
        }
        res.set_content(r->dump(-1, ' ', false, nlohmann::json::error_handler_t::replace), "application/json");
    });

    add("POST", "/aigw/v1/shutdown", [this](const http::Request&, http::Response& res) {
        res.set_content(R"({"ok":true})", "application/json");
        // stop() joins the pool this handler runs on: hand it to the signal thread instead.
        ::kill(::getpid(), SIGTERM);
    });

    install_cache_routes();
    install_ledger_routes();
    install_metrics_route();
}

void AdminApi::install_ledger_routes()
{
    add("GET", "/aigw/v1/ledger/stats", [this](const http::Request&, http::Response& res) {
        auto st = m_ledger->stats();
        if (!st) {
            fail(res, wire::internal_error("cannot read the ledger: " + st.error()));
            return;
        }
        res.set_content(nlohmann::json({{"rows", st->rows},
                                        {"oldest_ts_ms", st->oldest_ts_ms},
                                        {"newest_ts_ms", st->newest_ts_ms},
                                        {"rollup_rows", st->rollup_rows},
                                        {"file_bytes", st->file_bytes},
                                        {"wal_bytes", st->wal_bytes},
                                        {"page_size", st->page_size},
                                        {"page_count", st->page_count},
                                        {"free_pages", st->free_pages},
                                        {"auto_vacuum", st->auto_vacuum},
                                        {"schema_version", st->schema_version},
                                        {"retention_days", st->retention_days},
                                        {"queue_depth", st->queue_depth},
                                        {"queue_capacity", st->queue_capacity}})
                            .dump());
    });
    add("POST", "/aigw/v1/ledger/prune", [this](const http::Request& req, http::Response& res) {
        auto body = nlohmann::json::parse(req.body, nullptr, false);
        auto before = body.is_object() ? body.find("before_ms") : body.end();
        if (!body.is_object() || before == body.end() || !before->is_number_integer()) {
            fail(res, wire::bad_request("the body must be {\"before_ms\": <unix ms>}", "before_ms"));
            return;
        }
        auto deleted = m_ledger->prune_before(before->get<std::int64_t>());
        if (!deleted) {
            fail(res, wire::internal_error("cannot prune the ledger: " + deleted.error()));
            return;
        }
        res.set_content(nlohmann::json({{"deleted", *deleted}}).dump());
    });
    add("POST", "/aigw/v1/ledger/vacuum", [this](const http::Request&, http::Response& res) {
        auto bytes = m_ledger->vacuum();
        if (!bytes) {
            fail(res, wire::internal_error("cannot vacuum the ledger: " + bytes.error()));
            return;
        }
        res.set_content(nlohmann::json({{"file_bytes", *bytes}}).dump());
    });
    // Export: streamed a UTC day at a time, so a year of rows never sits in memory at once.
    m_routes->add(
        "GET", "/aigw/v1/ledger/export", [this](http::Request& req, http::Responder& out) -> asio::awaitable<void> {
            if (auto refused = m_d.authorize_admin(req)) {
                co_await out.send(pipeline::failure_response(*refused, pipeline::Shape::openai));
                co_return;
            }
            const std::string format = req.query_param("format").value_or("jsonl");
            if (format != "jsonl" && format != "csv") {
                co_await out.send(pipeline::failure_response(wire::bad_request("format must be jsonl or csv", "format"),
                                                             pipeline::Shape::openai));
                co_return;
            }
            const auto fmt = format == "csv" ? ledger::ExportFormat::csv : ledger::ExportFormat::jsonl;
            const std::int64_t now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                                            std::chrono::system_clock::now().time_since_epoch())
                                            .count();
            std::int64_t since = int_param(req, "since_ms", 0);
            const std::int64_t until = int_param(req, "until_ms", 0) > 0 ? int_param(req, "until_ms", 0) : now_ms + 1;
            if (since <= 0) {
                auto st = co_await http::run_blocking([this] { return m_ledger->stats(); });
                since = st && st->oldest_ts_ms > 0 ? st->oldest_ts_ms : until;
            }
            http::Response head;
            head.set_header("Content-Type", format == "csv" ? "text/csv" : "application/x-ndjson");
            if (!co_await out.begin_stream(std::move(head))) {
                co_return;
            }
            constexpr std::int64_t k_day_ms = 86'400'000;
            bool first = true;
            for (std::int64_t from = since; from < until; from += k_day_ms) {
                const std::int64_t to = std::min(until, from + k_day_ms);
                auto piece = co_await http::run_blocking([&] {
                    std::ostringstream os;
                    auto r = m_ledger->export_rows(from, to, fmt, os);
                    return r ? std::optional<std::string>(os.str()) : std::nullopt;
                });
                if (!piece) {
                    break;  // the client sees a cut stream; the log says why
                }
                if (!first && fmt == ledger::ExportFormat::csv) {
                    const auto nl = piece->find('\n');
                    piece->erase(0, nl == std::string::npos ? piece->size() : nl + 1);  // the header once
                }
                first = false;
                if (!piece->empty() && !co_await out.write(*piece)) {
                    co_return;
                }
            }
            co_await out.end_stream({});
        });
}

}  // namespace aigw::daemon::surfaces

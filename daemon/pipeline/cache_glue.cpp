#include "daemon/pipeline/cache_glue.hpp"

#include "daemon/cache/cache_key.hpp"
#include "daemon/cache/replay.hpp"
#include "daemon/cluster/shared_cache.hpp"
#include "shared/wire/ascii.hpp"
#include "shared/wire/json_text.hpp"

#include <charconv>
#include <cstdio>

namespace aigw::daemon::pipeline {

namespace {

/// A streamed answer longer than this many chunks is not collected for the cache.
constexpr std::size_t k_max_collected_chunks = 100'000;

std::string lower_trimmed(std::string_view s)
{
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) {
        s.remove_prefix(1);
    }
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) {
        s.remove_suffix(1);
    }
    return wire::ascii_lower(s);
}

/// True when the comma-separated Cache-Control value has `directive`.
bool has_directive(std::string_view cache_control, std::string_view directive)
{
    std::size_t start = 0;
    while (start <= cache_control.size()) {
        std::size_t end = cache_control.find(',', start);
        if (end == std::string_view::npos) {
            end = cache_control.size();
        }
        if (lower_trimmed(cache_control.substr(start, end - start)) == directive) {
            return true;
        }
        start = end + 1;
    }
    return false;
}

/// Every choice ended with a finish_reason: the answer is whole.
bool is_complete(const nlohmann::json& completion)
{
    auto choices = completion.find("choices");
    if (choices == completion.end() || !choices->is_array() || choices->empty()) {
        return false;
    }
    for (const auto& c : *choices) {
        auto f = c.find("finish_reason");
        if (f == c.end() || !f->is_string() || f->get_ref<const std::string&>().empty()) {
            return false;
        }
    }
    return true;
}

std::int64_t ms_since(std::chrono::steady_clock::time_point t0)
{
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0).count();
}

std::string similarity_text(double s)
{
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.4f", s);
    return buf;
}

/// Answers from a cache entry: headers, the body (or a replayed stream), the ledger row.
void reply_hit(Dispatcher& d, Exchange& ex, const cache::CacheHit& hit, http::Response& res, StreamWriter* writer,
               const RenderCached& render, const RenderCached& render_stream = {})
{
    const auto& answer = *hit.answer;
    ex.cache_hit = true;
    ex.saved_usd = hit.saved_usd;
    res.set_header("x-aigw-cache", "HIT");
    res.set_header("x-aigw-cache-age", std::to_string(hit.age_s));
    res.set_header("x-aigw-cache-key", answer.id());
    res.set_header("x-aigw-cost-usd", "0");
    res.set_header("x-aigw-cache-saved-usd", format_cost(hit.saved_usd));
    if (hit.similarity) {
        res.set_header("x-aigw-cache-match", answer.id() + "; similarity=" + similarity_text(*hit.similarity));
    }
    std::string body;
    std::int64_t ttft_ms = -1;
    // A surface may stream another type (Gemini without ?alt=sse: one JSON array).
    const std::string stream_type =
        res.headers.has("Content-Type") ? std::string(res.headers.get("Content-Type")) : "text/event-stream";
    if (ex.stream && render_stream) {
        body = render_stream(nlohmann::json::parse(answer.body, nullptr, false));
        ttft_ms = ms_since(ex.t0);
        res.set_header("Cache-Control", "no-cache");
        res.set_content(body, stream_type);
    } else if (ex.stream && writer != nullptr) {
        const auto completion = nlohmann::json::parse(answer.body, nullptr, false);
        for (const auto& c : cache::replay_chunks(completion)) {
            writer->chunk(c, body);
        }
        writer->done(answer.usage, 0.0, body);
        ttft_ms = ms_since(ex.t0);
        res.set_header("Cache-Control", "no-cache");
        res.set_content(body, stream_type);
    } else {
        body = render ? render(nlohmann::json::parse(answer.body, nullptr, false)) : answer.body;
        res.set_content(body, "application/json");
    }
    // Nothing reached a provider: no tokens, no cost. What the hit saved is ex.saved_usd.
    d.record(ex, 200, wire::Usage{}, 0.0, {}, ttft_ms, d.config().log_bodies ? body : std::string());
}

/// After a local miss: the entry another instance shared through Redis ([cluster]
/// redis_url), taken into the local cache and served as a hit; nullopt when there is no
/// shared cache, Redis has no live entry (a miss) or cannot be asked (an error): both go on
/// upstream. One GET, awaited without blocking this loop.
asio::awaitable<std::optional<cache::CacheHit>> shared_lookup(Dispatcher& d, const std::string& key,
                                                              std::optional<std::int64_t> max_age_s)
{
    cluster::SharedCache* shared = d.shared_cache();
    if (shared == nullptr) {
        co_return std::nullopt;
    }
    auto value = co_await shared->get(key);
    if (!value) {
        co_return std::nullopt;  // counted by get(); the request goes on from this instance
    }
    if (!*value) {
        shared->count_miss();
        co_return std::nullopt;
    }
    auto answer = cache::decode_cached_answer(**value);
    if (!answer || answer->key != key) {
        shared->count_bad_entry();
        co_return std::nullopt;
    }
    auto hit = d.cache().adopt(std::move(*answer), max_age_s);
    if (!hit) {
        shared->count_miss();  // expired, or older than this request accepts
        co_return std::nullopt;
    }
    shared->count_hit();
    co_return hit;
}

/// Shares the entry just stored under `key` through Redis, with the time it has left.
void share_entry(Dispatcher& d, const std::string& key)
{
    cluster::SharedCache* shared = d.shared_cache();
    if (shared == nullptr) {
        return;
    }
    auto entry = d.cache().entry(key);
    if (!entry) {
        return;
    }
    const std::int64_t ttl_ms = entry->expires_ms - d.cache().options().now_ms();
    shared->put(key, cache::encode_cached_answer(*entry), ttl_ms);
}

/// Collects a stream's chunks and stores the assembled answer when the stream completes.
class CachingStreamWriter final : public StreamWriter {
public:
    CachingStreamWriter(Dispatcher& d, std::shared_ptr<Exchange> ex, std::unique_ptr<StreamWriter> inner)
        : m_d(d), m_ex(std::move(ex)), m_inner(std::move(inner))
    {}
    void chunk(const nlohmann::json& chunk, std::string& out) override
    {
        if (m_collecting) {
            m_chunks.push_back(chunk);
            if (m_chunks.size() > k_max_collected_chunks) {
                m_collecting = false;
                m_chunks.clear();
            }
        }
        m_inner->chunk(chunk, out);
    }
    void done(const wire::Usage& usage, double cost_usd, std::string& out) override
    {
        m_inner->done(usage, cost_usd, out);
        if (!m_collecting) {
            return;
        }
        auto completion = cache::assemble_completion(m_chunks);
        m_chunks.clear();
        if (!completion) {
            return;
        }
        if (!completion->contains("usage")) {
            (*completion)["usage"] = wire::usage_to_openai(usage);
        }
        providers::ChatResult result;
        result.body = std::move(*completion);
        result.usage = usage;
        cache_store(m_d, *m_ex, result, cost_usd);
    }
    void error(const wire::Failure& f, std::string& out) override
    {
        m_collecting = false;  // a cut or failed stream is never stored
        m_chunks.clear();
        m_inner->error(f, out);
    }

private:
    Dispatcher& m_d;
    std::shared_ptr<Exchange> m_ex;
    std::unique_ptr<StreamWriter> m_inner;
    std::vector<nlohmann::json> m_chunks;
    bool m_collecting = true;
};

}  // namespace

std::expected<CachePlan, wire::Failure> plan_cache(const config::Config& cfg, std::string_view served_model,
                                                   std::string_view x_aigw_cache, std::string_view cache_control,
                                                   std::string_view x_aigw_cache_ttl)
{
    const config::ModelCachePolicy* policy = nullptr;
    if (auto p = cfg.model_cache.find(served_model); p != cfg.model_cache.end()) {
        policy = &p->second;
    }
    const bool enabled = policy != nullptr && policy->cache ? *policy->cache : cfg.cache.enabled;
    const bool model_semantic = policy != nullptr && policy->semantic;

    CachePlan plan;
    const std::string mode = lower_trimmed(x_aigw_cache);
    if (mode.empty()) {
        plan.lookup = plan.store = enabled;
        plan.semantic = enabled && model_semantic;
    } else if (mode == "on" || mode == "exact") {
        plan.lookup = plan.store = true;
        plan.semantic = model_semantic && mode == "on";
    } else if (mode == "semantic") {
        plan.lookup = plan.store = plan.semantic = true;
    } else if (mode == "refresh") {
        plan.store = true;
        plan.semantic = model_semantic;
    } else if (mode == "off" || mode == "bypass") {
        // neither looked up nor stored
    } else {
        return std::unexpected(wire::bad_request("x-aigw-cache must be on, exact, semantic, refresh or off (got '" +
                                                     std::string(x_aigw_cache.substr(0, 40)) + "').",
                                                 "x-aigw-cache"));
    }
    if (has_directive(cache_control, "no-store")) {
        plan.lookup = plan.store = false;
    } else if (has_directive(cache_control, "no-cache")) {
        plan.lookup = false;  // a fresh answer, which then replaces the cached one
    }
    if (!x_aigw_cache_ttl.empty()) {
        const std::string t = lower_trimmed(x_aigw_cache_ttl);
        std::int64_t n = 0;
        auto [end, ec] = std::from_chars(t.data(), t.data() + t.size(), n);
        if (ec != std::errc() || end != t.data() + t.size() || n < 1) {
            return std::unexpected(
                wire::bad_request("x-aigw-cache-ttl must be a whole number of seconds, at least 1 (got '" +
                                      std::string(x_aigw_cache_ttl.substr(0, 40)) + "').",
                                  "x-aigw-cache-ttl"));
        }
        plan.ttl_s = n;
        plan.max_age_s = n;
    } else if (policy != nullptr && policy->ttl_s) {
        plan.ttl_s = policy->ttl_s;
    }
    if (cfg.cache.embedding_model.empty()) {
        plan.semantic = false;
    }
    return plan;
}

asio::awaitable<bool> serve_from_cache(Dispatcher& d, Exchange& ex, const nlohmann::json& canonical,
                                       const http::Request& req, http::Response& res, StreamWriter* writer,
                                       const RenderCached& render, Shape shape)
{
    // Entries are keyed on the model the request names, resolved (an alias shares its
    // target's entries; a logical model has its own), before any attempt picks a deployment.
    auto resolved = config::resolve_model(d.config(), ex.requested_model);
    const std::string served = resolved ? resolved->id : ex.requested_model;
    auto hit_headers = [&] {
        if (resolved) {
            ex.route.resolved = *resolved;
            set_route_headers(res, ex);
        }
    };
    auto plan = plan_cache(d.config(), served, req.header("x-aigw-cache"), req.header("Cache-Control"),
                           req.header("x-aigw-cache-ttl"));
    if (!plan) {
        res = failure_response(plan.error(), shape);
        res.set_header("x-request-id", ex.request_id);
        d.record(ex, plan.error().status, {}, 0, plan.error().message, -1);
        co_return true;
    }
    if (ex.cache_blocked) {
        plan->lookup = false;
        plan->store = false;
    }
    if (!plan->lookup && !plan->store) {
        res.set_header("x-aigw-cache", "MISS");  // every answer says; a bypass is a miss too
        co_return false;
    }
    auto& cache = d.cache();
    const std::string key = cache::cache_key(canonical, served);
    if (plan->lookup) {
        if (auto hit = cache.lookup(key, plan->max_age_s)) {
            hit_headers();
            reply_hit(d, ex, *hit, res, writer, render);
            co_return true;
        }
        if (auto hit = co_await shared_lookup(d, key, plan->max_age_s)) {
            hit_headers();
            reply_hit(d, ex, *hit, res, writer, render);
            co_return true;
        }
    }
    std::optional<cache::SemanticVector> vector;
    if (plan->semantic) {
        if (auto text = cache::semantic_text(canonical)) {
            auto v = co_await embed_text(d, ex, d.config().cache.embedding_model, *text);
            if (v) {
                std::string partition = cache::semantic_partition(canonical, served);
                if (plan->lookup) {
                    if (auto hit = cache.lookup_semantic(partition, *v, d.config().cache.semantic_threshold,
                                                         plan->max_age_s)) {
                        hit_headers();
                        reply_hit(d, ex, *hit, res, writer, render);
                        co_return true;
                    }
                }
                vector = cache::SemanticVector{std::move(partition), std::move(*v)};
            } else {
                res.set_header("x-aigw-cache-semantic", "unavailable");  // the embedding call failed; see the ledger
            }
        }
    }
    res.set_header("x-aigw-cache", "MISS");
    if (plan->lookup) {
        cache.count_miss();
    }
    if (plan->store) {
        ex.cache = std::make_shared<CacheTicket>(CacheTicket{key, plan->ttl_s, std::move(vector)});
    }
    co_return false;
}

asio::awaitable<bool> serve_from_exact_cache(Dispatcher& d, Exchange& ex, const nlohmann::json& keyed,
                                             const http::Request& req, http::Response& res, const CachedReplay& replay)
{
    auto resolved = config::resolve_model(d.config(), ex.requested_model);
    const std::string served = resolved ? resolved->id : ex.requested_model;
    auto plan = plan_cache(d.config(), served, req.header("x-aigw-cache"), req.header("Cache-Control"),
                           req.header("x-aigw-cache-ttl"));
    if (!plan) {
        res = failure_response(plan.error(), Shape::openai);
        res.set_header("x-request-id", ex.request_id);
        d.record(ex, plan.error().status, {}, 0, plan.error().message, -1);
        co_return true;
    }
    if (ex.cache_blocked) {
        plan->lookup = false;
        plan->store = false;
    }
    res.set_header("x-aigw-cache", "MISS");  // replaced on a hit
    if (!plan->lookup && !plan->store) {
        co_return false;
    }
    auto& cache = d.cache();
    const std::string key = cache::cache_key(keyed, served);
    if (plan->lookup) {
        if (auto hit = cache.lookup(key, plan->max_age_s)) {
            if (resolved) {
                ex.route.resolved = *resolved;
                set_route_headers(res, ex);
            }
            reply_hit(d, ex, *hit, res, nullptr, replay.body, replay.stream);
            co_return true;
        }
        if (auto hit = co_await shared_lookup(d, key, plan->max_age_s)) {
            if (resolved) {
                ex.route.resolved = *resolved;
                set_route_headers(res, ex);
            }
            reply_hit(d, ex, *hit, res, nullptr, replay.body, replay.stream);
            co_return true;
        }
        cache.count_miss();
    }
    if (plan->store) {
        ex.cache = std::make_shared<CacheTicket>(CacheTicket{key, plan->ttl_s, std::nullopt});
    }
    co_return false;
}

void cache_store_body(Dispatcher& d, const Exchange& ex, std::string body, const wire::Usage& usage, double cost_usd)
{
    if (!ex.cache) {
        return;
    }
    cache::CachedAnswer a;
    a.key = ex.cache->key;
    a.body = std::move(body);
    a.usage = usage;
    a.cost_usd = cost_usd;
    a.served_model = ex.route.resolved.id;
    if (d.cache().store(std::move(a), ex.cache->ttl_s, std::nullopt) == cache::StoreResult::stored) {
        share_entry(d, ex.cache->key);
    }
}

void cache_store(Dispatcher& d, const Exchange& ex, const providers::ChatResult& result, double cost_usd)
{
    if (!ex.cache || !is_complete(result.body)) {
        return;
    }
    cache::CachedAnswer a;
    a.key = ex.cache->key;
    a.body = !result.raw.empty() ? result.raw : wire::dump_json(result.body);
    a.usage = result.usage;
    a.cost_usd = cost_usd;
    a.served_model = ex.route.resolved.id;
    if (d.cache().store(std::move(a), ex.cache->ttl_s, ex.cache->semantic) == cache::StoreResult::stored) {
        share_entry(d, ex.cache->key);
    }
}

std::unique_ptr<StreamWriter> cache_stream_writer(Dispatcher& d, const std::shared_ptr<Exchange>& ex,
                                                  std::unique_ptr<StreamWriter> inner)
{
    if (!ex->cache) {
        return inner;
    }
    return std::make_unique<CachingStreamWriter>(d, ex, std::move(inner));
}

asio::awaitable<std::expected<std::vector<float>, wire::Failure>> embed_text(Dispatcher& d, const Exchange& parent,
                                                                             const std::string& model,
                                                                             const std::string& text)
{
    Exchange sub;
    sub.request_id = parent.request_id;
    sub.ts_ms = parent.ts_ms;
    sub.t0 = std::chrono::steady_clock::now();
    sub.surface = "cache.embeddings";
    sub.key_id = parent.key_id;
    sub.tag = parent.tag;
    sub.requested_model = model;
    sub.timeouts = parent.timeouts;
    sub.deadline = parent.deadline;
    sub.max_retries = 0;
    const nlohmann::json body = {{"model", model}, {"input", text}};
    // The same dispatcher as every other call: deadlines, circuit breaker, key rotation.
    std::optional<providers::ChatResult> result;
    auto served = co_await run_attempts(
        d.router(), d.config().routing, sub, body,
        [&](const routing::Route&) -> asio::awaitable<std::expected<void, wire::Failure>> {
            auto r = co_await d.embeddings_once(sub, body);
            if (!r) {
                co_return std::unexpected(std::move(r.error()));
            }
            result = std::move(*r);
            co_return std::expected<void, wire::Failure>{};
        },
        {}, real_attempt_env());
    if (!served) {
        d.record(sub, served.error().status, {}, 0, served.error().message, -1);
        co_return std::unexpected(served.error());
    }
    std::vector<float> v;
    if (auto data = result->body.find("data");
        data != result->body.end() && data->is_array() && !data->empty() && (*data)[0].is_object()) {
        if (auto e = (*data)[0].find("embedding"); e != (*data)[0].end() && e->is_array()) {
            for (const auto& x : *e) {
                if (!x.is_number()) {
                    v.clear();
                    break;
                }
                v.push_back(x.get<float>());
            }
        }
    }
    if (v.empty()) {
        wire::Failure f = wire::internal_error("the embedding model " + model + " returned no float vector");
        d.record(sub, 502, result->usage, 0, f.message, -1);
        co_return std::unexpected(f);
    }
    d.record(sub, 200, result->usage, d.cost_of(sub, result->usage), {}, -1);
    co_return v;
}

}  // namespace aigw::daemon::pipeline

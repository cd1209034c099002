#pragma once
// The response cache on the request path. A surface calls, after routing:
//
//   if (co_await serve_from_cache(d, *ex, canonical, req, res, writer_or_null, render)) send res;  // hit (or bad header)
//   ... run the request as usual, then for a complete answer:
//   cache_store(gw, *ex, result);                       // non-stream
//   writer = cache_stream_writer(gw, ex, std::move(writer));  // stream: stores on done(), never on error()
//
// Headers: x-aigw-cache HIT|MISS on every chat answer (MISS also when the cache was
// bypassed or is off); on a hit x-aigw-cache-age (s), x-aigw-cache-key (entry id),
// x-aigw-cost-usd 0 and x-aigw-cache-saved-usd; on a semantic hit x-aigw-cache-match:
// "<entry id>; similarity=0.973" (x-aigw-cache-semantic: unavailable when the embedding
// call failed and only the exact key was tried).
// Request headers: x-aigw-cache on|semantic|refresh|off, Cache-Control no-cache (= refresh:
// skip the lookup, store the fresh answer) / no-store (= off), x-aigw-cache-ttl SECONDS (the
// stored entry's TTL, and the oldest entry this request accepts).

#include "daemon/pipeline/dispatcher.hpp"

#include <functional>

namespace aigw::daemon::pipeline {

/// What a request that missed will be stored under (Exchange::cache).
struct CacheTicket {
    std::string key;
    std::optional<std::int64_t> ttl_s;
    std::optional<cache::SemanticVector> semantic;  ///< the prompt's vector, to index with the answer
};

/// How one request uses the cache, from the config, the model's policy and the headers.
struct CachePlan {
    bool lookup = false;
    bool store = false;
    bool semantic = false;
    std::optional<std::int64_t> ttl_s;      ///< x-aigw-cache-ttl, else the model's cache_ttl_s
    std::optional<std::int64_t> max_age_s;  ///< x-aigw-cache-ttl only
};

/// Pure: the plan for `served_model` ("provider/model") given the request headers
/// x-aigw-cache, Cache-Control and x-aigw-cache-ttl. A bad header value is a 400.
std::expected<CachePlan, wire::Failure> plan_cache(const config::Config& cfg, std::string_view served_model,
                                                   std::string_view x_aigw_cache, std::string_view cache_control,
                                                   std::string_view x_aigw_cache_ttl);

/// Renders a cached chat.completion as the surface's non-stream body; empty = as stored.
using RenderCached = std::function<std::string(const nlohmann::json& completion)>;

/// How a surface whose cached answers are not chat completions (/v1/responses stores its
/// `response` objects under keys of its own) answers a hit: the body for a non-stream
/// request, the whole event stream for a stream. Each is called at most once, for the hit.
struct CachedReplay {
    RenderCached body;
    RenderCached stream;
};

/// Looks the request up (exact key, then semantic when planned). Returns true when `res`
/// is final (the caller sends it): a hit (replayed through `writer` when the client asked for a stream, else the
/// body via `render`; ledger row with cost 0 and cache_hit) or a 400 for a bad cache
/// header (in the surface's error shape when `anthropic_shape`). Otherwise sets
/// x-aigw-cache: MISS and, when the answer should be stored, `ex.cache`.
/// `canonical` is the request in OpenAI shape; its model is replaced by the served model.
asio::awaitable<bool> serve_from_cache(Dispatcher& d, Exchange& ex, const nlohmann::json& canonical,
                                       const http::Request& req, http::Response& res, StreamWriter* writer,
                                       const RenderCached& render = {}, Shape shape = Shape::openai);

/// serve_from_cache for a surface with its own cached shape: `keyed` is what the exact key
/// is computed from (the surface's request minus what does not change the answer, plus a
/// marker of the surface, so its entries never meet chat's); no semantic lookup; a hit is
/// answered by `replay`. Same headers, ledger row and ex.cache ticket as serve_from_cache.
asio::awaitable<bool> serve_from_exact_cache(Dispatcher& d, Exchange& ex, const nlohmann::json& keyed,
                                             const http::Request& req, http::Response& res, const CachedReplay& replay);

/// Stores `body` (the surface's own answer, already known to be whole) when `ex.cache` says so.
void cache_store_body(Dispatcher& d, const Exchange& ex, std::string body, const wire::Usage& usage, double cost_usd);

/// Stores a complete non-stream answer when `ex.cache` says so (every choice finished):
/// result.raw when set (the upstream's own bytes), else result.body; `cost_usd` is what
/// the call cost, i.e. what each later hit saves.
void cache_store(Dispatcher& d, const Exchange& ex, const providers::ChatResult& result, double cost_usd);

/// Wraps the surface's writer so a stream that completes is assembled and stored; a cut or
/// failed stream never is. Returns `inner` unchanged when nothing is to be stored.
std::unique_ptr<StreamWriter> cache_stream_writer(Dispatcher& d, const std::shared_ptr<Exchange>& ex,
                                                  std::unique_ptr<StreamWriter> inner);

/// Embeds `text` with `model` through the gateway's own providers (the in-process mock or
/// the provider's embeddings API), recording the call in the ledger as surface
/// "cache.embeddings" under the parent request's id. Unit length not guaranteed.
asio::awaitable<std::expected<std::vector<float>, wire::Failure>> embed_text(Dispatcher& d, const Exchange& parent,
                                                                             const std::string& model,
                                                                             const std::string& text);

}  // namespace aigw::daemon::pipeline

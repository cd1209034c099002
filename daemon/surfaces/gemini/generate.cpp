// The Gemini API surface: POST /v1beta/models/{model}:generateContent,
// :streamGenerateContent (?alt=sse, or one JSON array without it), :countTokens,
// :embedContent, :batchEmbedContents; GET /v1beta/models and /v1beta/models/{model}. The
// same POSTs answer under /v1. Gemini CLI and the @google/genai SDK authenticate with
// x-goog-api-key (or ?key=) carrying the gateway key or a virtual key.
//
// To a gemini/* model it is native passthrough: the client's body goes upstream byte for
// byte with only the model (in the path) and the key changed, and the answer (or stream)
// comes back as the upstream sent it, so thought signatures and every other field survive.
// To any other model it goes through the canonical (OpenAI) form and back.
//
// Model names: `models/{model}` is resolved like every other surface's `model`; a bare name
// that neither the catalog nor an alias knows ("gemini-3-pro-preview") is tried as
// gemini/{name}, since on this surface a bare name means a Gemini model.

#include "daemon/pipeline/native_or_translated.hpp"
#include "daemon/surfaces/admin/admin_api.hpp"
#include "daemon/surfaces/gemini/translate.hpp"
#include "shared/wire/json_text.hpp"
#include "shared/wire/secrets.hpp"

namespace aigw::daemon::surfaces {

using pipeline::Dispatcher;
using pipeline::Shape;
using pipeline::StreamWriter;

namespace {

using nlohmann::json;

/// Writes canonical chunks as Gemini stream events, SSE or JSON-array framed.
class GeminiSurfaceWriter final : public StreamWriter {
public:
    GeminiSurfaceWriter(std::string model, bool sse) : m_writer(std::move(model)), m_sse(sse) {}
    void chunk(const json& chunk, std::string& out) override { emit(m_writer.on_chunk(chunk), out); }
    void done(const wire::Usage& usage, double, std::string& out) override
    {
        emit(m_writer.finish(usage), out);
        close(out);
    }
    void error(const wire::Failure& f, std::string& out) override
    {
        emit({gemini::error_event(f)}, out);
        close(out);
    }

private:
    void emit(const std::vector<json>& events, std::string& out)
    {
        for (const auto& e : events) {
            out += gemini::frame_event(e, m_sse, m_first);
            m_first = false;
        }
    }
    void close(std::string& out)
    {
        if (!m_sse) {
            out += m_first ? "[]" : "]";
            m_first = false;
        }
    }

    gemini::StreamWriter m_writer;
    bool m_sse;
    bool m_first = true;
};

/// Relays the upstream's own stream; adds only an error event when it was cut, and the
/// JSON array's closing bracket when the upstream's did not arrive with its last event.
class PassthroughWriter final : public StreamWriter {
public:
    PassthroughWriter(bool sse, std::shared_ptr<bool> closed) : m_sse(sse), m_closed(std::move(closed)) {}
    void chunk(const json&, std::string&) override {}
    void done(const wire::Usage&, double, std::string& out) override
    {
        if (!m_sse && !*m_closed) {
            out += "]";
        }
    }
    void error(const wire::Failure& f, std::string& out) override
    {
        out += gemini::frame_event(gemini::error_event(f), m_sse, false);
        if (!m_sse) {
            out += "]";
        }
    }

private:
    bool m_sse;
    std::shared_ptr<bool> m_closed;
};

/// Sends `f` in Gemini's shape with the headers gathered so far.
asio::awaitable<void> send_failure(http::Responder& out, const http::Response& so_far, const wire::Failure& f)
{
    co_await out.send(pipeline::failure_response(f, Shape::gemini, so_far.headers));
}

/// `?key=` is how Google's REST examples pass the key; it counts like x-goog-api-key.
void adopt_query_key(http::Request& req)
{
    if (pipeline::presented_key(req).empty()) {
        if (auto key = req.query_param("key"); key && !key->empty()) {
            req.headers.set("x-goog-api-key", *key);
        }
    }
}

/// The model a request names, as the router should see it (see the file comment).
std::string requested_model(const config::Config& cfg, std::string model)
{
    if (model.starts_with("models/")) {
        model.erase(0, 7);
    }
    if (!config::resolve_model(cfg, model) && model.find('/') == std::string::npos) {
        if (std::string gemini = "gemini/" + model; config::resolve_model(cfg, gemini)) {
            return gemini;
        }
    }
    return model;
}

bool is_native(const routing::Route& route)
{
    return route.resolved.provider->wire == config::WireFormat::gemini;
}

/// The upstream request for native passthrough: `body` to /models/{target model}:{method}
/// with the provider's key.
providers::UpstreamRequest passthrough_request(std::string body, const providers::Target& target,
                                               std::string_view method, std::string_view query = {})
{
    providers::UpstreamRequest up;
    up.path = "/models/" + target.model + ":" + std::string(method);
    if (!query.empty()) {
        up.path += "?" + std::string(query);
    }
    up.body = std::move(body);
    up.headers.emplace_back("Content-Type", "application/json");
    if (!target.api_key.empty()) {
        up.headers.emplace_back("x-goog-api-key", target.api_key);
    }
    return up;
}

/// The start every model call shares: the exchange, x-request-id, the key, the JSON body.
struct Start {
    std::shared_ptr<pipeline::Exchange> ex;
    http::Response res;
    json body;
};

asio::awaitable<std::optional<Start>> start(Dispatcher& d, std::string surface, http::Request& req,
                                            http::Responder& out, const std::string& model)
{
    Start s;
    s.ex = d.begin(std::move(surface), req);
    s.res.set_header("x-request-id", s.ex->request_id);
    adopt_query_key(req);
    if (auto refused = d.authorize(req, *s.ex)) {
        co_await send_failure(out, s.res, *refused);
        co_return std::nullopt;
    }
    s.ex->requested_model = requested_model(d.config(), model);
    auto body = wire::parse_json_body(req.body);
    if (body && !body->is_object()) {
        body = std::unexpected(wire::bad_request("The request body must be a JSON object."));
    }
    if (!body) {
        co_await d.finish_failed(*s.ex, body.error(), {}, Shape::gemini, s.res.headers, out);
        co_return std::nullopt;
    }
    s.body = std::move(*body);
    if (d.config().log_bodies) {
        s.ex->request_body = req.body;
    }
    co_return s;
}

asio::awaitable<void> generate(Dispatcher& d, http::Request& req, http::Responder& out, const std::string& model,
                               bool stream)
{
    auto started = co_await start(d, "gemini.generate_content", req, out, model);
    if (!started) {
        co_return;
    }
    auto& ex = started->ex;
    auto& res = started->res;
    auto& body = started->body;
    ex->stream = stream;
    const bool sse = req.query_param("alt").value_or("") == "sse";
    if (auto refused = co_await d.admit_requested(*ex, body)) {  // limits: key's models, budgets, rate limits
        co_await d.finish_failed(*ex, *refused, {}, Shape::gemini, res.headers, out);
        co_return;
    }
    if (stream && !sse) {
        res.set_header("Content-Type", "application/json");  // the stream is one JSON array
    }
    // Gemini passthrough keeps every native field (thought signatures), so only the
    // translated requests are cached.
    pipeline::SurfaceWire surface_wire{
        .native = config::WireFormat::gemini,
        .shape = Shape::gemini,
        .to_canonical = gemini::request_to_canonical,
        .stream_writer = [model = ex->requested_model, sse]() -> std::unique_ptr<StreamWriter> {
            return std::make_unique<GeminiSurfaceWriter>(model, sse);
        },
        .render =
            [model = ex->requested_model](const json& completion) {
                return wire::dump_json(gemini::response_from_canonical(completion, model));
            },
    };
    pipeline::NativeOrTranslated nt(d, ex, body, std::move(surface_wire));
    if (co_await nt.answered_from_cache(req, res, out)) {
        co_return;
    }
    auto served = co_await d.run(
        *ex, nt.run_body(), body,
        [&](const routing::Route& route) -> asio::awaitable<std::expected<void, wire::Failure>> {
            nt.native_error_body.clear();
            if (!is_native(route)) {
                co_return co_await nt.translated_attempt();
            }
            if (stream) {
                auto closed = std::make_shared<bool>(false);
                auto up = passthrough_request(req.body, route.target, "streamGenerateContent", sse ? "alt=sse" : "");
                // Named, of the parameter's exact type: g++ 12 destroys a converted temporary
                // passed to a coroutine at the end of the full expression, while the
                // coroutine's frame still refers to it (the stream then read freed memory).
                std::unique_ptr<providers::StreamDecoder> decoder;
                if (!sse) {
                    decoder = std::make_unique<gemini::JsonArrayStreamDecoder>(closed);
                }
                auto opened = co_await d.open_passthrough_stream(ex, up, providers::gemini_passthrough_tap(),
                                                                 &nt.native_error_body, std::move(decoder));
                nt.native_error_body = wire::scrub_secrets(nt.native_error_body, d.secrets_of(route));
                if (!opened) {
                    co_return std::unexpected(std::move(opened.error()));
                }
                nt.stream = std::move(*opened);
                nt.writer = std::make_unique<PassthroughWriter>(sse, closed);
                co_return std::expected<void, wire::Failure>{};
            }
            auto resp = co_await d.send_native(*ex, passthrough_request(req.body, route.target, "generateContent"),
                                               nt.native_error_body);
            if (!resp) {
                co_return std::unexpected(std::move(resp.error()));
            }
            nt.take_native_answer(std::move(resp->body), route);
            co_return std::expected<void, wire::Failure>{};
        });
    co_await nt.finish(served, req, std::move(res), out);
}

/// Token counting: passthrough for Gemini models; an estimate elsewhere.
asio::awaitable<void> count_tokens(Dispatcher& d, http::Request& req, http::Responder& out, const std::string& model)
{
    auto started = co_await start(d, "gemini.count_tokens", req, out, model);
    if (!started) {
        co_return;
    }
    auto& ex = started->ex;
    auto& res = started->res;
    auto& body = started->body;
    auto route = d.router().route(d.router().plan({.requested = ex->requested_model}).candidates.front().model);
    if (!route) {
        co_await send_failure(out, res, route.error());
        co_return;
    }
    const nlohmann::json no_body = nlohmann::json::object();
    if (auto refused = co_await d.admit(*ex, no_body, route->resolved)) {  // the key's allow-list applies here too
        co_await send_failure(out, res, *refused);
        co_return;
    }
    ex->route = std::move(*route);
    if (is_native(ex->route)) {
        auto resp = co_await d.send(*ex, passthrough_request(req.body, ex->route.target, "countTokens"));
        if (!resp) {
            co_await send_failure(out, res, resp.error());
            co_return;
        }
        res.status = resp->status;
        res.set_content(wire::scrub_secrets(resp->body, d.secrets_of(ex->route)));
        co_await out.send(std::move(res));
        co_return;
    }
    res.set_content(wire::dump_json(json{{"totalTokens", gemini::estimate_tokens(body)}}));
    co_await out.send(std::move(res));
}

asio::awaitable<void> embed(Dispatcher& d, http::Request& req, http::Responder& out, const std::string& model,
                            bool batch)
{
    auto started = co_await start(d, batch ? "gemini.batch_embed_contents" : "gemini.embed_content", req, out, model);
    if (!started) {
        co_return;
    }
    auto& ex = started->ex;
    auto& res = started->res;
    auto& body = started->body;
    auto canonical = gemini::embed_request_to_canonical(body, batch);
    if (!canonical) {
        co_await d.finish_failed(*ex, canonical.error(), {}, Shape::gemini, res.headers, out);
        co_return;
    }
    (*canonical)["model"] = ex->requested_model;
    if (auto refused = co_await d.admit_requested(*ex, *canonical)) {
        co_await d.finish_failed(*ex, *refused, {}, Shape::gemini, res.headers, out);
        co_return;
    }
    std::string native_error_body;
    std::string answer;
    wire::Usage usage;
    auto served = co_await d.run(
        *ex, *canonical, *canonical,
        [&](const routing::Route& route) -> asio::awaitable<std::expected<void, wire::Failure>> {
            native_error_body.clear();
            if (is_native(route)) {
                // Each request names its model too, and Google wants it to match the path's.
                json up_body = body;
                const std::string model_field = "models/" + route.target.model;
                if (batch) {
                    for (auto& r : up_body["requests"]) {
                        if (r.is_object()) {
                            r["model"] = model_field;
                        }
                    }
                } else if (up_body.contains("model")) {
                    up_body["model"] = model_field;
                }
                auto resp = co_await d.send_native(*ex,
                                                   passthrough_request(wire::dump_json(up_body), route.target,
                                                                       batch ? "batchEmbedContents" : "embedContent"),
                                                   native_error_body);
                if (!resp) {
                    co_return std::unexpected(std::move(resp.error()));
                }
                // Gemini's embedding answers carry no token counts; usageMetadata when they do.
                json parsed = wire::parse_json_lenient(resp->body);
                if (parsed.is_object() && parsed.contains("usageMetadata")) {
                    usage.reported = true;
                    usage.input_tokens = wire::token_count_at(parsed["usageMetadata"], "promptTokenCount", usage);
                }
                answer = std::move(resp->body);
                co_return std::expected<void, wire::Failure>{};
            }
            auto result = co_await d.embeddings_once(*ex, *canonical);
            if (!result) {
                co_return std::unexpected(std::move(result.error()));
            }
            usage = result->usage;
            answer = wire::dump_json(gemini::embed_response_from_canonical(result->body, batch));
            co_return std::expected<void, wire::Failure>{};
        });
    pipeline::set_route_headers(res, *ex);
    if (!served) {
        co_await d.finish_failed(*ex, served.error(), std::move(native_error_body), Shape::gemini, res.headers, out);
        co_return;
    }
    co_await d.finish_answered(*ex, usage, d.cost_of(*ex, usage), std::move(answer), std::move(res), out,
                               Dispatcher::BodyLog::never);
}

/// POST .../models/{model}:{method}
asio::awaitable<void> model_call(Dispatcher& d, http::Request& req, http::Responder& out, std::size_t prefix_size)
{
    auto call = gemini::parse_model_call(std::string_view(req.path).substr(prefix_size));
    const std::string method = call ? call->method : std::string();
    if (method == "generateContent" || method == "streamGenerateContent") {
        co_await generate(d, req, out, call->model, method == "streamGenerateContent");
    } else if (method == "countTokens") {
        co_await count_tokens(d, req, out, call->model);
    } else if (method == "embedContent" || method == "batchEmbedContents") {
        co_await embed(d, req, out, call->model, method == "batchEmbedContents");
    } else {
        wire::Failure f;
        f.kind = wire::FailureKind::not_found;
        f.status = 404;
        f.message =
            "aigw's Gemini surface serves models/{model}:generateContent, :streamGenerateContent, "
            ":countTokens, :embedContent and :batchEmbedContents; not '" +
            std::string(req.path) + "'.";
        http::Response res;
        co_await send_failure(out, res, f);
    }
}

/// Whether a request comes from a Gemini client (its key header, ?key= or the SDK's x-goog-api-client).
bool is_gemini_client(const http::Request& req)
{
    return req.has_header("x-goog-api-key") || req.has_header("x-goog-api-client") || req.query_param("key");
}

/// A Gemini Model resource for a model id aigw can route.
json model_resource(const std::string& name, const config::ModelInfo* info)
{
    const bool embedding = info != nullptr && info->mode == "embedding";
    json m = {{"name", "models/" + name},
              {"baseModelId", name},
              {"version", "001"},
              {"displayName", name},
              {"description", info != nullptr ? "Served through aigw by " + info->provider : "Served through aigw"}};
    if (info != nullptr && info->context_window > 0) {
        m["inputTokenLimit"] = info->context_window;
    }
    if (info != nullptr && info->max_output_tokens > 0) {
        m["outputTokenLimit"] = info->max_output_tokens;
    }
    m["supportedGenerationMethods"] = embedding
                                          ? json::array({"embedContent", "batchEmbedContents"})
                                          : json::array({"generateContent", "streamGenerateContent", "countTokens"});
    if (info != nullptr && info->reasoning) {
        m["thinking"] = true;
    }
    return m;
}

asio::awaitable<void> list_models(Dispatcher& d, http::Request& req, http::Responder& out)
{
    auto ex = d.begin("gemini.models", req);
    http::Response res;
    res.set_header("x-request-id", ex->request_id);
    adopt_query_key(req);
    if (auto refused = d.authorize(req, *ex)) {
        co_await send_failure(out, res, *refused);
        co_return;
    }
    const config::Config& cfg = d.config();
    json models = json::array();
    auto add = [&](const std::string& id, const std::string& name, const config::ModelInfo* info) {
        if (d.model_visible(*ex, id)) {
            models.push_back(model_resource(name, info));
        }
    };
    // Gemini's own models under their bare names, as Gemini clients know them; the rest as provider/model.
    for (const auto* m : cfg.catalog.all()) {
        auto p = cfg.providers.find(m->provider);
        if (p != cfg.providers.end() && d.router().key_present(p->second) &&
            p->second.wire != config::WireFormat::mock) {
            add(m->id, p->second.wire == config::WireFormat::gemini ? m->name : m->id, m);
        }
    }
    add("mock/echo", "mock/echo", nullptr);
    for (const auto& [alias, target] : cfg.aliases) {
        add(alias, alias, nullptr);
    }
    res.set_content(wire::dump_json(json{{"models", std::move(models)}}));
    co_await out.send(std::move(res));
}

asio::awaitable<void> get_model(Dispatcher& d, http::Request& req, http::Responder& out, std::size_t prefix_size)
{
    auto ex = d.begin("gemini.models", req);
    http::Response res;
    res.set_header("x-request-id", ex->request_id);
    adopt_query_key(req);
    if (auto refused = d.authorize(req, *ex)) {
        co_await send_failure(out, res, *refused);
        co_return;
    }
    const std::string name = req.path.substr(prefix_size);
    auto resolved = config::resolve_model(d.config(), requested_model(d.config(), name));
    if (!resolved || !d.model_visible(*ex, resolved->id)) {
        wire::Failure f = wire::model_not_found(name);
        co_await send_failure(out, res, f);
        co_return;
    }
    res.set_content(wire::dump_json(model_resource(name, resolved->info)));
    co_await out.send(std::move(res));
}

}  // namespace

void install_gemini_routes(http::Routes& routes, Dispatcher& d)
{
    for (const std::string prefix : {"/v1beta/models/", "/v1/models/"}) {
        const std::size_t size = prefix.size();
        routes.add("POST", prefix + "*",
                   [&d, size](http::Request& req, http::Responder& out) { return model_call(d, req, out, size); });
    }
    routes.add("GET", "/v1beta/models",
               [&d](http::Request& req, http::Responder& out) { return list_models(d, req, out); });
    routes.add("GET", "/v1beta/models/*", [&d](http::Request& req, http::Responder& out) {
        return get_model(d, req, out, std::string_view("/v1beta/models/").size());
    });
    // GET /v1/models and /v1/models/{id} belong to the OpenAI surface (installed before this
    // one), but the @google/genai SDK uses /v1 by default: a Gemini client gets Gemini's shape.
    const http::Handler* list = routes.find("GET", "/v1/models");
    routes.add("GET", "/v1/models",
               [&d, openai = list != nullptr ? *list : http::Handler()](http::Request& req, http::Responder& out) {
                   return is_gemini_client(req) || !openai ? list_models(d, req, out) : openai(req, out);
               });
    const http::Handler* get = routes.find("GET", "/v1/models/x");
    routes.add("GET", "/v1/models/*",
               [&d, openai = get != nullptr ? *get : http::Handler()](http::Request& req, http::Responder& out) {
                   return is_gemini_client(req) || !openai
                              ? get_model(d, req, out, std::string_view("/v1/models/").size())
                              : openai(req, out);
               });
}

}  // namespace aigw::daemon::surfaces

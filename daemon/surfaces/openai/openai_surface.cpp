// The OpenAI-compatible surface: /v1/chat/completions, /v1/embeddings, /v1/models.

#include "daemon/pipeline/cache_glue.hpp"
#include "daemon/providers/json_access.hpp"
#include "daemon/providers/validate.hpp"
#include "shared/wire/json_text.hpp"
#include "daemon/surfaces/admin/admin_api.hpp"

namespace aigw::daemon::surfaces {

using pipeline::Dispatcher;
using pipeline::Exchange;
using pipeline::Shape;

namespace {

/// Parses and checks the body of a chat request. The body is parsed once, here.
std::expected<nlohmann::json, wire::Failure> parse_chat_body(const std::string& text)
{
    auto body = wire::parse_json_body(text);
    if (!body) {
        return body;
    }
    if (auto bad = providers::validate_chat_request(*body)) {
        return std::unexpected(std::move(*bad));
    }
    return body;
}

/// Whatever the provider returned, answer in the encoding the client asked for.
void apply_encoding_format(const nlohmann::json& request, nlohmann::json& response)
{
    if (request.value("encoding_format", "float") != "base64") {
        return;
    }
    auto data = response.find("data");
    if (data == response.end() || !data->is_array()) {
        return;
    }
    for (auto& item : *data) {
        auto e = item.find("embedding");
        if (e != item.end() && e->is_array()) {
            *e = providers::float32_base64(*e);
        }
    }
}

/// Sends `f` in OpenAI's shape with the headers gathered so far (x-request-id, route, cache).
asio::awaitable<void> send_failure(http::Responder& out, const http::Response& so_far, const wire::Failure& f)
{
    co_await out.send(pipeline::failure_response(f, Shape::openai, so_far.headers));
}

/// What a chat request has once it is admitted and not served from the cache.
struct AdmittedChat {
    std::shared_ptr<Exchange> ex;
    http::Response res;
    nlohmann::json body;
    std::unique_ptr<pipeline::StreamWriter> writer;  ///< for a streamed answer
};

/// A failure once the request is admitted: in OpenAI's shape with the route headers,
/// recorded.
asio::awaitable<void> fail_chat(Dispatcher& d, http::Responder& out, AdmittedChat& c, const wire::Failure& f)
{
    pipeline::set_route_headers(c.res, *c.ex);
    co_await d.finish_failed(*c.ex, f, {}, Shape::openai, c.res.headers, out);
}

/// Reads, checks and admits a chat request; false when it is answered already (refused, a
/// bad body, a cache hit).
asio::awaitable<bool> admit_chat(Dispatcher& d, http::Request& req, http::Responder& out, AdmittedChat& c)
{
    c.ex = d.begin("openai.chat", req);
    Exchange& ex = *c.ex;
    http::Response& res = c.res;
    res.set_header("x-request-id", ex.request_id);
    if (auto refused = d.authorize(req, ex)) {
        co_await send_failure(out, res, *refused);
        co_return false;
    }
    auto body = parse_chat_body(req.body);
    if (!body) {
        co_await d.finish_failed(ex, body.error(), {}, Shape::openai, res.headers, out);
        co_return false;
    }
    c.body = std::move(*body);
    ex.requested_model = c.body["model"].get<std::string>();
    ex.stream = c.body.value("stream", false);
    if (d.config().log_bodies) {
        ex.request_body = req.body;
    }
    if (ex.stream) {
        bool include_usage = false;
        if (auto so = c.body.find("stream_options"); so != c.body.end() && so->is_object()) {
            if (auto iu = so->find("include_usage"); iu != so->end() && iu->is_boolean()) {
                include_usage = iu->get<bool>();
            }
        }
        c.writer = std::make_unique<pipeline::OpenAiStreamWriter>(include_usage);
    }
    if (auto refused = co_await d.admit_requested(ex, c.body)) {  // limits: key's models, budgets, rate limits
        co_await fail_chat(d, out, c, *refused);
        co_return false;
    }
    if (co_await pipeline::serve_from_cache(d, ex, c.body, req, res, c.writer.get())) {
        co_await out.send(std::move(res));  // a cache hit (or a bad cache header)
        co_return false;
    }
    co_return true;
}

/// Opens the stream through the attempts; null when it failed (and the failure is answered).
/// `request_text` is the client's body, which c.body was read from and which stays unchanged.
asio::awaitable<std::shared_ptr<pipeline::StreamState>> open_chat(Dispatcher& d, http::Responder& out, AdmittedChat& c,
                                                                  std::string_view request_text)
{
    std::shared_ptr<pipeline::StreamState> stream;
    auto served = co_await d.run(*c.ex, c.body, c.body,
                                 [&](const routing::Route&) -> asio::awaitable<std::expected<void, wire::Failure>> {
                                     auto opened = co_await d.open_chat_stream(c.ex, c.body, request_text);
                                     if (!opened) {
                                         co_return std::unexpected(std::move(opened.error()));
                                     }
                                     stream = std::move(*opened);
                                     co_return std::expected<void, wire::Failure>{};
                                 });
    if (!served) {
        co_await fail_chat(d, out, c, served.error());
        co_return nullptr;
    }
    co_return stream;
}

/// The whole answer at once; `request_text` as for open_chat().
asio::awaitable<void> answer_chat(Dispatcher& d, http::Responder& out, AdmittedChat& c, std::string_view request_text)
{
    Exchange& ex = *c.ex;
    std::optional<providers::ChatResult> result;
    auto served = co_await d.run(ex, c.body, c.body,
                                 [&](const routing::Route&) -> asio::awaitable<std::expected<void, wire::Failure>> {
                                     // Only the cache reads the answer; without it the
                                     // upstream's bytes are all the client gets.
                                     auto answer = co_await d.chat_once(ex, c.body, !ex.cache, request_text);
                                     if (!answer) {
                                         co_return std::unexpected(std::move(answer.error()));
                                     }
                                     result = std::move(*answer);
                                     co_return std::expected<void, wire::Failure>{};
                                 });
    if (!served) {
        co_await fail_chat(d, out, c, served.error());
        co_return;
    }
    pipeline::set_route_headers(c.res, ex);
    const double cost = d.cost_of(ex, result->usage);
    pipeline::cache_store(d, ex, *result, cost);
    std::string text = !result->raw.empty() ? std::move(result->raw) : wire::dump_json(result->body);
    co_await d.finish_answered(ex, result->usage, cost, std::move(text), std::move(c.res), out);
}

/// POST /v1/chat/completions. The steps are coroutines of their own: a stream keeps this
/// frame for its whole life, and GCC gives every local and temporary of a coroutine its own
/// slot in the frame, so what only admission or a whole answer needs stays out of it.
asio::awaitable<void> chat(Dispatcher& d, http::Request& req, http::Responder& out)
{
    AdmittedChat c;
    if (!co_await admit_chat(d, req, out, c)) {
        co_return;
    }
    if (!c.ex->stream) {
        co_await answer_chat(d, out, c, req.body);
        co_return;
    }
    auto stream = co_await open_chat(d, out, c, req.body);
    if (!stream) {
        co_return;
    }
    pipeline::set_route_headers(c.res, *c.ex);
    pipeline::drop_request(req, {&c.body});
    co_await d.relay(std::move(stream), pipeline::cache_stream_writer(d, c.ex, std::move(c.writer)), out,
                     std::move(c.res));
}

asio::awaitable<void> embeddings(Dispatcher& d, http::Request& req, http::Responder& out)
{
    auto ex = d.begin("openai.embeddings", req);
    http::Response res;
    res.set_header("x-request-id", ex->request_id);
    if (auto refused = d.authorize(req, *ex)) {
        co_await send_failure(out, res, *refused);
        co_return;
    }
    auto parsed = wire::parse_json_body(req.body);
    if (parsed) {
        if (auto bad = providers::validate_embeddings_request(*parsed)) {
            parsed = std::unexpected(std::move(*bad));
        }
    }
    if (!parsed) {
        co_await d.finish_failed(*ex, parsed.error(), {}, Shape::openai, res.headers, out);
        co_return;
    }
    const nlohmann::json body = std::move(*parsed);
    ex->requested_model = body["model"].get<std::string>();
    if (auto refused = co_await d.admit_requested(*ex, body)) {  // limits: key's models, budgets, rate limits
        co_await d.finish_failed(*ex, *refused, {}, Shape::openai, res.headers, out);
        co_return;
    }
    std::optional<providers::ChatResult> result;
    auto served = co_await d.run(*ex, body, body,
                                 [&](const routing::Route&) -> asio::awaitable<std::expected<void, wire::Failure>> {
                                     auto answer = co_await d.embeddings_once(*ex, body);
                                     if (!answer) {
                                         co_return std::unexpected(std::move(answer.error()));
                                     }
                                     result = std::move(*answer);
                                     co_return std::expected<void, wire::Failure>{};
                                 });
    pipeline::set_route_headers(res, *ex);
    if (!served) {
        co_await d.finish_failed(*ex, served.error(), {}, Shape::openai, res.headers, out);
        co_return;
    }
    apply_encoding_format(body, result->body);
    co_await d.finish_answered(*ex, result->usage, d.cost_of(*ex, result->usage), wire::dump_json(result->body),
                               std::move(res), out, Dispatcher::BodyLog::never);
}

/// Everything the configured keys can reach, plus mock and the user's aliases, that the
/// caller's key may see: (id, owner).
std::vector<std::pair<std::string, std::string>> visible_models(const Dispatcher& d, const pipeline::Exchange& ex)
{
    const config::Config& cfg = d.config();
    std::vector<std::pair<std::string, std::string>> ids = {{"mock/echo", "mock"}};
    for (const auto* m : cfg.catalog.all()) {
        auto p = cfg.providers.find(m->provider);
        if (p != cfg.providers.end() && d.router().key_present(p->second) &&
            p->second.wire != config::WireFormat::mock) {
            ids.emplace_back(m->id, m->provider);
        }
    }
    for (const auto& [alias, target] : cfg.aliases) {
        ids.emplace_back(alias, "alias");
    }
    std::erase_if(ids, [&](const auto& entry) { return !d.model_visible(ex, entry.first); });  // limits
    return ids;
}

/// One model in the caller's shape: the Anthropic SDK sends anthropic-version.
nlohmann::json model_object(const http::Request& req, const std::string& id, const std::string& owner)
{
    if (req.has_header("anthropic-version")) {
        return {{"type", "model"}, {"id", id}, {"display_name", id}, {"created_at", "2025-01-01T00:00:00Z"}};
    }
    return {{"id", id}, {"object", "model"}, {"created", 0}, {"owned_by", owner}};
}

asio::awaitable<void> models(Dispatcher& d, http::Request& req, http::Responder& out)
{
    auto ex = d.begin("openai.models", req);
    http::Response res;
    res.set_header("x-request-id", ex->request_id);
    if (auto refused = d.authorize(req, *ex)) {
        co_await send_failure(out, res, *refused);
        co_return;
    }
    const auto ids = visible_models(d, *ex);
    nlohmann::json data = nlohmann::json::array();
    for (const auto& [id, owner] : ids) {
        data.push_back(model_object(req, id, owner));
    }
    nlohmann::json out_body;
    if (req.has_header("anthropic-version")) {
        // The Anthropic SDK's models.list(): its own page shape.
        out_body = {{"data", std::move(data)},
                    {"has_more", false},
                    {"first_id", ids.empty() ? nlohmann::json() : nlohmann::json(ids.front().first)},
                    {"last_id", ids.empty() ? nlohmann::json() : nlohmann::json(ids.back().first)}};
    } else {
        out_body = {{"object", "list"}, {"data", std::move(data)}};
    }
    res.set_content(wire::dump_json(out_body));
    co_await out.send(std::move(res));
}

/// GET /v1/models/{id} (models.retrieve): a listed model, or any name the gateway can route
/// (a dated snapshot, a provider's model the catalog does not list); else 404.
asio::awaitable<void> model(Dispatcher& d, http::Request& req, http::Responder& out, std::string_view prefix)
{
    auto ex = d.begin("openai.models", req);
    http::Response res;
    res.set_header("x-request-id", ex->request_id);
    const Shape shape = req.has_header("anthropic-version") ? Shape::anthropic : Shape::openai;
    if (auto refused = d.authorize(req, *ex)) {
        co_await out.send(pipeline::failure_response(*refused, shape, res.headers));
        co_return;
    }
    const std::string id = req.path.substr(prefix.size());
    for (const auto& [listed, owner] : visible_models(d, *ex)) {
        if (listed == id) {
            res.set_content(wire::dump_json(model_object(req, listed, owner)));
            co_await out.send(std::move(res));
            co_return;
        }
    }
    auto resolved = config::resolve_model(d.config(), id);
    if (!resolved || !d.model_visible(*ex, resolved->id)) {
        co_await out.send(pipeline::failure_response(wire::model_not_found(id), shape, res.headers));
        co_return;
    }
    res.set_content(wire::dump_json(model_object(req, id, resolved->provider->name)));
    co_await out.send(std::move(res));
}

}  // namespace

void install_openai_routes(http::Routes& routes, Dispatcher& d)
{
    for (const char* prefix : {"/v1", ""}) {
        const std::string p = prefix;
        routes.add("POST", p + "/chat/completions",
                   [&d](http::Request& req, http::Responder& out) { return chat(d, req, out); });
        routes.add("POST", p + "/embeddings",
                   [&d](http::Request& req, http::Responder& out) { return embeddings(d, req, out); });
        routes.add("GET", p + "/models",
                   [&d](http::Request& req, http::Responder& out) { return models(d, req, out); });
        routes.add("GET", p + "/models/*", [&d, prefix = p + "/models/"](http::Request& req, http::Responder& out) {
            return model(d, req, out, prefix);
        });
    }
}

}  // namespace aigw::daemon::surfaces

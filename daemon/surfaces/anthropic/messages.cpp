// The Anthropic-compatible surface: POST /v1/messages (and count_tokens).
// To an anthropic/* model it is native passthrough: the body goes upstream as the client
// sent it with only the model and auth changed, and the answer (or stream) comes back
// byte for byte, so nothing a provider understands is lost (cache_control, thinking
// blocks, betas). To any other model it goes through the canonical (OpenAI) form and back.

#include "daemon/pipeline/native_or_translated.hpp"
#include "daemon/providers/anthropic/anthropic_surface.hpp"
#include "daemon/providers/validate.hpp"
#include "shared/wire/json_text.hpp"
#include "shared/wire/secrets.hpp"
#include "daemon/surfaces/admin/admin_api.hpp"

namespace aigw::daemon::surfaces {

using pipeline::Dispatcher;
using pipeline::Shape;
using pipeline::StreamWriter;

namespace {

constexpr const char* k_default_anthropic_version = "2023-06-01";

/// Writes canonical chunks as Anthropic's SSE event sequence.
class AnthropicSurfaceWriter final : public StreamWriter {
public:
    AnthropicSurfaceWriter(std::string model, std::int64_t input_tokens) : m_writer(std::move(model), input_tokens) {}
    void chunk(const nlohmann::json& chunk, std::string& out) override
    {
        for (auto& s : m_writer.on_chunk(chunk)) {
            out += s;
        }
    }
    void done(const wire::Usage&, double, std::string& out) override
    {
        for (auto& s : m_writer.finish()) {
            out += s;
        }
    }
    void error(const wire::Failure& f, std::string& out) override
    {
        out += providers::AnthropicStreamWriter::error_event(f);
    }

private:
    providers::AnthropicStreamWriter m_writer;
};

/// Relays an already-framed upstream stream; only adds an error event when it was cut.
class PassthroughWriter final : public StreamWriter {
public:
    void chunk(const nlohmann::json&, std::string&) override {}
    void done(const wire::Usage&, double, std::string&) override {}
    void error(const wire::Failure& f, std::string& out) override
    {
        out += providers::AnthropicStreamWriter::error_event(f);
    }
};

/// The upstream request for native passthrough: the client's body with our model name,
/// the provider key, and the client's anthropic-version / anthropic-beta headers.
providers::UpstreamRequest passthrough_request(const http::Request& req, const nlohmann::json& body,
                                               const providers::Target& target, std::string path)
{
    providers::UpstreamRequest up;
    up.path = std::move(path);
    if (req.query_param("beta") == "true") {
        up.path += "?beta=true";  // Claude Code's beta surface; Anthropic serves both
    }
    // The client's own bytes with the model changed: `body` was read from them and is not
    // changed after, and an agent's request is often hundreds of KB.
    const nlohmann::json model(target.model);
    const std::string model_text = wire::dump_json(model);
    auto spliced = wire::edit_members_text(req.body, {{"model", model_text}});
    up.body = spliced ? std::move(*spliced) : wire::dump_json_with(body, "model", model);
    up.headers.emplace_back("Content-Type", "application/json");
    up.headers.emplace_back("x-api-key", target.api_key);
    up.headers.emplace_back("anthropic-version", req.has_header("anthropic-version")
                                                     ? std::string(req.header("anthropic-version"))
                                                     : std::string(k_default_anthropic_version));
    if (req.has_header("anthropic-beta")) {
        up.headers.emplace_back("anthropic-beta", std::string(req.header("anthropic-beta")));
    }
    return up;
}

/// 404 when no model the request could be sent to resolves (the requested one and its
/// fallbacks), so a client sees "unknown model" rather than a complaint about a body that
/// the right model would have accepted.
std::optional<wire::Failure> unknown_model(const Dispatcher& d, const nlohmann::json& body)
{
    auto m = body.find("model");
    if (m == body.end() || !m->is_string()) {
        return std::nullopt;  // the validator names the missing field
    }
    std::optional<wire::Failure> first;
    for (const auto& c : d.router().plan({.requested = m->get_ref<const std::string&>()}).candidates) {
        auto r = config::resolve_model(d.config(), c.model);
        if (r || r.error().status != 404) {
            return std::nullopt;
        }
        if (!first) {
            first = std::move(r.error());
        }
    }
    return first;
}

std::expected<nlohmann::json, wire::Failure> parse_messages_body(const Dispatcher& d, const std::string& text)
{
    auto body = wire::parse_json_body(text);
    if (!body) {
        return body;
    }
    if (auto unknown = unknown_model(d, *body)) {
        return std::unexpected(std::move(*unknown));
    }
    if (auto bad = providers::validate_messages_request(*body)) {
        return std::unexpected(std::move(*bad));
    }
    return body;
}

/// A rough count (4 characters a token) for models without a counting endpoint: the
/// messages, the system prompt and the tools all count, as the length of their JSON text.
std::int64_t estimated_input_tokens(const nlohmann::json& body)
{
    std::size_t chars = 0;
    for (const char* field : {"messages", "system", "tools"}) {
        if (auto f = body.find(field); f != body.end()) {
            chars += wire::json_text_size(*f);
        }
    }
    return static_cast<std::int64_t>((chars + 3) / 4);
}

/// Sends `f` in Anthropic's shape with the headers gathered so far.
asio::awaitable<void> send_failure(http::Responder& out, const http::Response& so_far, const wire::Failure& f)
{
    co_await out.send(pipeline::failure_response(f, Shape::anthropic, so_far.headers));
}

/// What a Messages request has once it is admitted.
struct AdmittedMessages {
    std::shared_ptr<pipeline::Exchange> ex;
    http::Response res;
    nlohmann::json body;
};

/// Reads, checks and admits a Messages request; false when it is answered already (refused,
/// a bad body). Its own coroutine: messages()' frame lives as long as a stream, and GCC
/// gives every local and temporary of a coroutine its own slot in the frame.
asio::awaitable<bool> admit_messages(Dispatcher& d, http::Request& req, http::Responder& out, AdmittedMessages& m)
{
    m.ex = d.begin("anthropic.messages", req);
    pipeline::Exchange& ex = *m.ex;
    http::Response& res = m.res;
    res.set_header("x-request-id", ex.request_id);
    res.set_header("request-id", ex.request_id);  // the Anthropic SDK reads this one
    if (auto refused = d.authorize(req, ex)) {
        co_await send_failure(out, res, *refused);
        co_return false;
    }
    auto body = parse_messages_body(d, req.body);
    if (!body) {
        co_await d.finish_failed(ex, body.error(), {}, Shape::anthropic, res.headers, out);
        co_return false;
    }
    m.body = std::move(*body);
    ex.requested_model = m.body["model"].get<std::string>();
    if (auto s = m.body.find("stream"); s != m.body.end() && s->is_boolean()) {
        ex.stream = s->get<bool>();
    }
    if (d.config().log_bodies) {
        ex.request_body = req.body;
    }
    if (auto refused = co_await d.admit_requested(ex, m.body)) {  // limits: key's models, budgets, rate limits
        co_await d.finish_failed(ex, *refused, {}, Shape::anthropic, res.headers, out);
        co_return false;
    }
    co_return true;
}

asio::awaitable<void> messages(Dispatcher& d, http::Request& req, http::Responder& out)
{
    AdmittedMessages m;
    if (!co_await admit_messages(d, req, out, m)) {
        co_return;
    }
    auto& ex = m.ex;
    nlohmann::json& body = m.body;
    http::Response& res = m.res;
    // The native wire is used whenever the attempt's provider speaks it; any other model
    // goes Anthropic -> canonical -> provider -> canonical -> Anthropic. Anthropic
    // passthrough keeps every native field, so only the translated requests are cached.
    const std::int64_t prompt_tokens = ex->stream ? estimated_input_tokens(body) : 0;
    pipeline::SurfaceWire surface_wire{
        .native = config::WireFormat::anthropic,
        .shape = Shape::anthropic,
        .to_canonical = providers::anthropic_request_to_canonical,
        .stream_writer = [model = ex->requested_model, prompt_tokens]() -> std::unique_ptr<StreamWriter> {
            return std::make_unique<AnthropicSurfaceWriter>(model, prompt_tokens);
        },
        .render =
            [model = ex->requested_model](const nlohmann::json& completion) {
                return wire::dump_json(providers::canonical_response_to_anthropic(completion, model));
            },
    };
    pipeline::NativeOrTranslated nt(d, ex, body, std::move(surface_wire));
    if (co_await nt.answered_from_cache(req, res, out)) {
        co_return;
    }
    auto served =
        co_await d.run(*ex, nt.run_body(), body,
                       [&](const routing::Route& route) -> asio::awaitable<std::expected<void, wire::Failure>> {
                           nt.native_error_body.clear();
                           if (route.resolved.provider->wire != config::WireFormat::anthropic) {
                               co_return co_await nt.translated_attempt();
                           }
                           auto up = passthrough_request(req, body, route.target, "/messages");
                           if (ex->stream) {
                               auto opened = co_await d.open_passthrough_stream(
                                   ex, up, providers::anthropic_passthrough_tap(), &nt.native_error_body);
                               nt.native_error_body = wire::scrub_secrets(nt.native_error_body, d.secrets_of(route));
                               if (!opened) {
                                   co_return std::unexpected(std::move(opened.error()));
                               }
                               nt.stream = std::move(*opened);
                               nt.writer = std::make_unique<PassthroughWriter>();
                               co_return std::expected<void, wire::Failure>{};
                           }
                           auto resp = co_await d.send_native(*ex, up, nt.native_error_body);
                           if (!resp) {
                               co_return std::unexpected(std::move(resp.error()));
                           }
                           nt.take_native_answer(std::move(resp->body), route);
                           co_return std::expected<void, wire::Failure>{};
                       });
    co_await nt.finish(served, req, std::move(res), out);
}

/// Token counting: passthrough for Anthropic models; an estimate elsewhere.
asio::awaitable<void> count_tokens(Dispatcher& d, http::Request& req, http::Responder& out)
{
    auto ex = d.begin("anthropic.count_tokens", req);
    http::Response res;
    res.set_header("x-request-id", ex->request_id);
    if (auto refused = d.authorize(req, *ex)) {
        co_await send_failure(out, res, *refused);
        co_return;
    }
    auto body = parse_messages_body(d, req.body);
    if (!body) {
        co_await send_failure(out, res, body.error());
        co_return;
    }
    ex->requested_model = (*body)["model"].get<std::string>();
    auto route = d.router().route(d.router().plan({.requested = ex->requested_model}).candidates.front().model);
    if (!route) {
        co_await send_failure(out, res, route.error());
        co_return;
    }
    // The key's allow-list applies to counting too.
    const nlohmann::json no_body = nlohmann::json::object();
    if (auto refused = co_await d.admit(*ex, no_body, route->resolved)) {
        co_await send_failure(out, res, *refused);
        co_return;
    }
    ex->route = std::move(*route);
    if (ex->route.resolved.provider->wire == config::WireFormat::anthropic) {
        auto resp = co_await d.send(*ex, passthrough_request(req, *body, ex->route.target, "/messages/count_tokens"));
        if (!resp) {
            co_await send_failure(out, res, resp.error());
            co_return;
        }
        res.status = resp->status;
        res.set_content(std::move(resp->body));
        co_await out.send(std::move(res));
        co_return;
    }
    res.set_content(nlohmann::json({{"input_tokens", estimated_input_tokens(*body)}}).dump());
    co_await out.send(std::move(res));
}

}  // namespace

void install_anthropic_routes(http::Routes& routes, Dispatcher& d)
{
    routes.add("POST", "/v1/messages",
               [&d](http::Request& req, http::Responder& out) { return messages(d, req, out); });
    routes.add("POST", "/v1/messages/count_tokens",
               [&d](http::Request& req, http::Responder& out) { return count_tokens(d, req, out); });
}

}  // namespace aigw::daemon::surfaces

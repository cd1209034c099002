// The Anthropic-compatible surface: POST /v1/messages (and count_tokens).
// To an anthropic/* model it is native passthrough: the body goes upstream as the client
// sent it with only the model and auth changed, and the answer (or stream) comes back
// byte for byte, so nothing a provider understands is lost (cache_control, thinking
// blocks, betas). To any other model it goes through the canonical (OpenAI) form and back.

#include "daemon/providers/anthropic_surface.hpp"
#include "daemon/server/cache_glue.hpp"
#include "daemon/server/chat_pipeline.hpp"

#include <httplib.h>

namespace aigw::daemon::server {

namespace {

constexpr const char* k_default_anthropic_version = "2023-06-01";

/// Writes canonical chunks as Anthropic's SSE event sequence.
class AnthropicSurfaceWriter final : public StreamWriter {
public:
    explicit AnthropicSurfaceWriter(std::string model) : m_writer(std::move(model)) {}
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
providers::UpstreamRequest passthrough_request(const httplib::Request& req, nlohmann::json body,
                                               const providers::Target& target, std::string path)
{
    body["model"] = target.model;
    providers::UpstreamRequest up;
    up.path = std::move(path);
    up.body = body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    up.headers.emplace_back("Content-Type", "application/json");
    up.headers.emplace_back("x-api-key", target.api_key);
    up.headers.emplace_back("anthropic-version", req.has_header("anthropic-version")
                                                     ? req.get_header_value("anthropic-version")
                                                     : std::string(k_default_anthropic_version));
    if (req.has_header("anthropic-beta")) {
        up.headers.emplace_back("anthropic-beta", req.get_header_value("anthropic-beta"));
    }
    return up;
}

std::expected<nlohmann::json, wire::Failure> parse_messages_body(const std::string& text)
{
    auto body = nlohmann::json::parse(text, nullptr, false);
    if (body.is_discarded() || !body.is_object()) {
        return std::unexpected(wire::bad_request("The request body must be a JSON object (could not parse it)."));
    }
    auto model = body.find("model");
    if (model == body.end() || !model->is_string() || model->get_ref<const std::string&>().empty()) {
        return std::unexpected(wire::bad_request("model: Field required", "model"));
    }
    auto messages = body.find("messages");
    if (messages == body.end() || !messages->is_array()) {
        return std::unexpected(wire::bad_request("messages: Field required (an array of messages)", "messages"));
    }
    return body;
}

}  // namespace

void Gateway::install_anthropic_routes()
{
    auto& svr = *m_server;

    svr.Post("/v1/messages", [this](const httplib::Request& req, httplib::Response& res) {
        if (!authorize(req, res, true)) {
            return;
        }
        auto ex = begin("anthropic.messages", req);
        res.set_header("x-request-id", ex->request_id);
        res.set_header("request-id", ex->request_id);  // the Anthropic SDK reads this one
        auto fail = [&](const wire::Failure& f) {
            send_failure(res, f, true);
            record(*ex, f.status, {}, 0, f.message, -1);
        };
        auto body = parse_messages_body(req.body);
        if (!body) {
            fail(body.error());
            return;
        }
        ex->requested_model = (*body)["model"].get<std::string>();
        ex->stream = body->value("stream", false);
        if (m_cfg.log_bodies) {
            ex->request_body = req.body;
        }
        auto route = m_router->route(ex->requested_model);
        if (!route) {
            fail(route.error());
            return;
        }
        ex->route = std::move(*route);
        set_route_headers(res, *ex);
        const bool native = !ex->route.is_mock() && ex->route.resolved.provider->wire == config::WireFormat::anthropic;

        if (native) {
            auto up = passthrough_request(req, *body, ex->route.target, "/messages");
            if (ex->stream) {
                auto started = start_passthrough_stream(*this, ex, up, ex->route.adapter->chat_stream(ex->route.target),
                                                        std::make_unique<PassthroughWriter>(), res);
                if (!started) {
                    const auto& pf = started.error();
                    if (!pf.upstream_body.empty() && nlohmann::json::accept(pf.upstream_body)) {
                        res.status = pf.failure.status;
                        res.set_content(pf.upstream_body, "application/json");  // the upstream's own error, as is
                        record(*ex, pf.failure.status, {}, 0, pf.failure.message, -1);
                    } else {
                        fail(pf.failure);
                    }
                }
                return;
            }
            auto resp = m_upstream->send(ex->route.target.base_url, up);
            if (!resp) {
                fail(resp.error());
                return;
            }
            if (resp->status < 200 || resp->status >= 300) {
                auto f = ex->route.adapter->classify_error(resp->status, resp->body, resp->headers);
                if (nlohmann::json::accept(resp->body)) {
                    res.status = resp->status;
                    if (f.retry_after_s) {
                        res.set_header("Retry-After", std::to_string(static_cast<long>(*f.retry_after_s + 0.999)));
                    }
                    res.set_content(resp->body, "application/json");
                    record(*ex, f.status, {}, 0, f.message, -1);
                } else {
                    fail(f);
                }
                return;
            }
            // Usage for the ledger; the body itself goes back untouched.
            auto parsed = ex->route.adapter->chat_response(resp->body, ex->route.target);
            wire::Usage usage = parsed ? parsed->usage : wire::Usage{};
            const double cost = cost_of(*ex, usage);
            res.set_header("x-aigw-cost-usd", format_cost(cost));
            record(*ex, 200, usage, cost, parsed ? std::string() : parsed.error().message, -1,
                   m_cfg.log_bodies ? resp->body : std::string());
            res.set_content(std::move(resp->body), "application/json");
            return;
        }

        // Any other model: Anthropic -> canonical -> provider -> canonical -> Anthropic.
        auto canonical = providers::anthropic_request_to_canonical(*body);
        if (!canonical) {
            fail(canonical.error());
            return;
        }
        (*canonical)["model"] = ex->requested_model;
        std::unique_ptr<StreamWriter> writer;
        if (ex->stream) {
            writer = std::make_unique<AnthropicSurfaceWriter>(ex->requested_model);
        }
        auto render = [model = ex->requested_model](const nlohmann::json& completion) {
            return providers::canonical_response_to_anthropic(completion, model)
                .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
        };
        if (serve_from_cache(*this, *ex, *canonical, req, res, writer.get(), render, true)) {
            return;  // a cache hit (or a bad cache header)
        }
        if (ex->stream) {
            (*canonical)["stream"] = true;
            auto started = start_chat_stream(*this, ex, *canonical, cache_stream_writer(*this, ex, std::move(writer)), res);
            if (!started) {
                fail(started.error());
            }
            return;
        }
        auto result = run_chat(*this, *ex, *canonical);
        if (!result) {
            fail(result.error());
            return;
        }
        const double cost = cost_of(*ex, result->usage);
        res.set_header("x-aigw-cost-usd", format_cost(cost));
        cache_store(*this, *ex, *result, cost);
        auto out = providers::canonical_response_to_anthropic(result->body, ex->requested_model)
                       .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
        record(*ex, 200, result->usage, cost, {}, -1, m_cfg.log_bodies ? out : std::string());
        res.set_content(std::move(out), "application/json");
    });

    // Token counting: passthrough for Anthropic models; an estimate elsewhere.
    svr.Post("/v1/messages/count_tokens", [this](const httplib::Request& req, httplib::Response& res) {
        if (!authorize(req, res, true)) {
            return;
        }
        auto body = parse_messages_body(req.body);
        if (!body) {
            send_failure(res, body.error(), true);
            return;
        }
        auto route = m_router->route((*body)["model"].get<std::string>());
        if (!route) {
            send_failure(res, route.error(), true);
            return;
        }
        if (!route->is_mock() && route->resolved.provider->wire == config::WireFormat::anthropic) {
            auto resp = m_upstream->send(route->target.base_url,
                                         passthrough_request(req, *body, route->target, "/messages/count_tokens"));
            if (!resp) {
                send_failure(res, resp.error(), true);
                return;
            }
            res.status = resp->status;
            res.set_content(std::move(resp->body), "application/json");
            return;
        }
        // Rough count (4 characters a token) for models without a counting endpoint.
        const std::size_t chars = (*body)["messages"].dump().size() + (body->contains("system") ? (*body)["system"].dump().size() : 0);
        res.set_content(nlohmann::json({{"input_tokens", (chars + 3) / 4}}).dump(), "application/json");
    });
}

}  // namespace aigw::daemon::server

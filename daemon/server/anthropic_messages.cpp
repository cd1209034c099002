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
        auto ex = begin("anthropic.messages", req);
        if (!authorize(req, res, true, *ex)) {
            return;
        }
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
        if (auto refused = admit(*ex, *body)) {  // limits: key's models, budgets, rate limits
            fail(*refused);
            return;
        }
        // The native wire is used whenever the attempt's provider speaks it; any other model
        // goes Anthropic -> canonical -> provider -> canonical -> Anthropic.
        std::optional<nlohmann::json> canonical;
        auto to_canonical = [&]() -> std::expected<void, wire::Failure> {
            if (!canonical) {
                auto c = providers::anthropic_request_to_canonical(*body);
                if (!c) {
                    return std::unexpected(std::move(c.error()));
                }
                (*c)["model"] = ex->requested_model;
                if (ex->stream) {
                    (*c)["stream"] = true;
                }
                canonical = std::move(*c);
            }
            return {};
        };
        std::string native_error_body;  ///< the upstream's own error, relayed as is when it is the last word
        std::shared_ptr<StreamState> stream;
        std::unique_ptr<StreamWriter> writer;
        std::string answer;             ///< non-stream: the Anthropic body to return
        wire::Usage usage;
        std::string usage_error;

        // The response cache holds canonical answers: requests whose model is not served
        // natively (Anthropic passthrough keeps every native field, so it is not cached).
        auto first = config::resolve_model(m_cfg, ex->requested_model);
        if (first && first->provider->wire == config::WireFormat::anthropic) {
            res.set_header("x-aigw-cache", "MISS");
        } else {
            if (auto ok = to_canonical(); !ok) {
                fail(ok.error());
                return;
            }
            std::unique_ptr<StreamWriter> replay;
            if (ex->stream) {
                replay = std::make_unique<AnthropicSurfaceWriter>(ex->requested_model);
            }
            auto render = [model = ex->requested_model](const nlohmann::json& completion) {
                return providers::canonical_response_to_anthropic(completion, model)
                    .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
            };
            if (serve_from_cache(*this, *ex, *canonical, req, res, replay.get(), render, true)) {
                return;  // a cache hit (or a bad cache header)
            }
        }

        auto served = run_attempts(*this, *ex, *body, [&](const routing::Route& route) -> std::expected<void, wire::Failure> {
            native_error_body.clear();
            const bool native = !route.is_mock() && route.resolved.provider->wire == config::WireFormat::anthropic;
            if (native) {
                auto up = passthrough_request(req, *body, route.target, "/messages");
                if (ex->stream) {
                    auto opened = open_passthrough_stream(*this, ex, up, route.adapter->chat_stream(route.target),
                                                          &native_error_body);
                    if (!opened) {
                        return std::unexpected(std::move(opened.error()));
                    }
                    stream = std::move(*opened);
                    writer = std::make_unique<PassthroughWriter>();
                    return {};
                }
                auto resp = m_upstream->send(route.target.base_url, up, attempt_timeouts(*ex));
                if (!resp) {
                    return std::unexpected(std::move(resp.error()));
                }
                if (resp->status < 200 || resp->status >= 300) {
                    native_error_body = std::move(resp->body);
                    return std::unexpected(route.adapter->classify_error(resp->status, native_error_body, resp->headers));
                }
                // Usage for the ledger; the body itself goes back untouched.
                auto parsed = route.adapter->chat_response(resp->body, route.target);
                usage = parsed ? parsed->usage : wire::Usage{};
                usage_error = parsed ? std::string() : parsed.error().message;
                answer = std::move(resp->body);
                return {};
            }
            if (auto ok = to_canonical(); !ok) {
                return ok;
            }
            if (ex->stream) {
                auto opened = open_chat_stream(*this, ex, *canonical);
                if (!opened) {
                    return std::unexpected(std::move(opened.error()));
                }
                stream = std::move(*opened);
                writer = cache_stream_writer(*this, ex, std::make_unique<AnthropicSurfaceWriter>(ex->requested_model));
                return {};
            }
            auto result = chat_once(*this, *ex, *canonical);
            if (!result) {
                return std::unexpected(std::move(result.error()));
            }
            usage = result->usage;
            usage_error.clear();
            cache_store(*this, *ex, *result, cost_of(*ex, result->usage));
            answer = providers::canonical_response_to_anthropic(result->body, ex->requested_model)
                         .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
            return {};
        });
        set_route_headers(res, *ex);
        if (!served) {
            const auto& f = served.error();
            if (!native_error_body.empty() && nlohmann::json::accept(native_error_body)) {
                // The upstream's own error, as is.
                res.status = f.status;
                if (f.retry_after_s) {
                    res.set_header("Retry-After", std::to_string(static_cast<long>(*f.retry_after_s + 0.999)));
                }
                res.set_content(native_error_body, "application/json");
                record(*ex, f.status, {}, 0, f.message, -1);
            } else {
                fail(f);
            }
            return;
        }
        if (ex->stream) {
            install_stream_body(*this, std::move(stream), std::move(writer), res);
            return;
        }
        const double cost = cost_of(*ex, usage);
        res.set_header("x-aigw-cost-usd", format_cost(cost));
        record(*ex, 200, usage, cost, std::move(usage_error), -1, m_cfg.log_bodies ? answer : std::string());
        res.set_content(std::move(answer), "application/json");
    });

    // Token counting: passthrough for Anthropic models; an estimate elsewhere.
    svr.Post("/v1/messages/count_tokens", [this](const httplib::Request& req, httplib::Response& res) {
        Exchange ex;
        if (!authorize(req, res, true, ex)) {
            return;
        }
        auto body = parse_messages_body(req.body);
        if (!body) {
            send_failure(res, body.error(), true);
            return;
        }
        const auto model = (*body)["model"].get<std::string>();
        auto route = m_router->route(m_router->plan({.requested = model}).candidates.front().model);
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

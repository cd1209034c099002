#include "daemon/pipeline/native_or_translated.hpp"

#include "daemon/pipeline/trace_spans.hpp"

namespace aigw::daemon::pipeline {

NativeOrTranslated::NativeOrTranslated(Dispatcher& d, std::shared_ptr<Exchange> ex, nlohmann::json& body,
                                       SurfaceWire wire)
    : m_d(d), m_ex(std::move(ex)), m_body(body), m_wire(std::move(wire))
{}

std::expected<void, wire::Failure> NativeOrTranslated::make_canonical()
{
    if (m_canonical) {
        return {};
    }
    auto c = m_wire.to_canonical(m_body);
    if (!c) {
        return std::unexpected(std::move(c.error()));
    }
    (*c)["model"] = m_ex->requested_model;
    if (m_ex->stream) {
        (*c)["stream"] = true;
    }
    m_canonical = std::move(*c);
    return {};
}

asio::awaitable<bool> NativeOrTranslated::answered_from_cache(const http::Request& req, http::Response& res,
                                                              http::Responder& out)
{
    auto first = config::resolve_model(m_d.config(), m_ex->requested_model);
    if (first && first->provider->wire == m_wire.native) {
        res.set_header("x-aigw-cache", "MISS");
        co_return false;
    }
    if (auto ok = make_canonical(); !ok) {
        co_await m_d.finish_failed(*m_ex, ok.error(), {}, m_wire.shape, res.headers, out);
        co_return true;
    }
    std::unique_ptr<StreamWriter> replay;
    if (m_ex->stream) {
        replay = m_wire.stream_writer();
    }
    if (co_await serve_from_cache(m_d, *m_ex, *m_canonical, req, res, replay.get(), m_wire.render, m_wire.shape)) {
        co_await out.send(std::move(res));  // a cache hit (or a bad cache header)
        co_return true;
    }
    co_return false;
}

asio::awaitable<std::expected<void, wire::Failure>> NativeOrTranslated::translated_attempt()
{
    if (auto ok = make_canonical(); !ok) {
        co_return ok;
    }
    if (m_ex->stream) {
        auto opened = co_await m_d.open_chat_stream(m_ex, *m_canonical);
        if (!opened) {
            co_return std::unexpected(std::move(opened.error()));
        }
        stream = std::move(*opened);
        writer = cache_stream_writer(m_d, m_ex, m_wire.stream_writer());
        co_return std::expected<void, wire::Failure>{};
    }
    auto result = co_await m_d.chat_once(*m_ex, *m_canonical);
    if (!result) {
        co_return std::unexpected(std::move(result.error()));
    }
    usage = result->usage;
    usage_error.clear();
    cache_store(m_d, *m_ex, *result, m_d.cost_of(*m_ex, result->usage));
    answer = m_wire.render(result->body);
    co_return std::expected<void, wire::Failure>{};
}

void NativeOrTranslated::take_native_answer(std::string body, const routing::Route& route)
{
    auto parsed = route.adapter->chat_response(body, route.target);
    m_ex->trace.finish_reasons.clear();
    if (parsed) {
        note_finish_reasons(m_ex->trace, parsed->body);
    }
    usage = parsed ? parsed->usage : wire::Usage{};
    usage_error = parsed ? std::string() : parsed.error().message;
    answer = std::move(body);
}

asio::awaitable<void> NativeOrTranslated::finish(const std::expected<void, wire::Failure>& served, http::Request& req,
                                                 http::Response res, http::Responder& out)
{
    if (served && m_ex->stream) {
        drop_request(req, {&m_body, m_canonical ? &*m_canonical : nullptr});
    }
    set_route_headers(res, *m_ex);
    if (!served) {
        co_await m_d.finish_failed(*m_ex, served.error(), std::move(native_error_body), m_wire.shape, res.headers, out);
        co_return;
    }
    if (m_ex->stream) {
        co_await m_d.relay(std::move(stream), std::move(writer), out, std::move(res));
        co_return;
    }
    co_await m_d.finish_answered(*m_ex, usage, m_d.cost_of(*m_ex, usage), std::move(answer), std::move(res), out,
                                 Dispatcher::BodyLog::when_configured, std::move(usage_error));
}

}  // namespace aigw::daemon::pipeline

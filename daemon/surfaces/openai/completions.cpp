// POST /v1/completions, the legacy OpenAI completions API that editors' autocomplete still
// calls (Continue's tab completion, fill-in-the-middle with `suffix`). A provider that
// serves it gets the client's body natively (OpenAI's instruct models, ollama, vLLM and
// other local servers, DeepSeek's and Mistral's FIM endpoints; see
// Adapter::serves_completions); any other model is asked through the chat form and
// answers as a text_completion.

#include "daemon/pipeline/cache_glue.hpp"
#include "daemon/providers/json_access.hpp"
#include "daemon/providers/openai/completions_surface.hpp"
#include "daemon/surfaces/admin/admin_api.hpp"
#include "shared/wire/json_text.hpp"
#include "shared/wire/secrets.hpp"
#include "shared/wire/sse.hpp"

namespace aigw::daemon::surfaces {

using pipeline::Dispatcher;
using pipeline::Shape;

namespace {

/// Writes text_completion chunks: the upstream's own on a native route, converted ones
/// otherwise; the usage-only chunk only when the client asked for it.
class CompletionsStreamWriter final : public pipeline::StreamWriter {
public:
    CompletionsStreamWriter(std::string model, bool include_usage)
        : m_model(std::move(model)), m_include_usage(include_usage)
    {}

    void chunk(const nlohmann::json& chunk, std::string& out) override
    {
        std::optional<nlohmann::json> converted;
        const nlohmann::json* c = nullptr;
        if (auto native = chunk.find(providers::k_native_chunk); native != chunk.end()) {
            c = &*native;
        } else {
            converted = providers::canonical_chunk_to_completion(chunk, m_model);
            if (!converted) {
                return;
            }
            c = &*converted;
        }
        if (!m_include_usage && pipeline::is_usage_only(*c)) {
            return;
        }
        out += "data: ";
        wire::append_json(out, *c);
        out += "\n\n";
    }
    void done(const wire::Usage&, double cost_usd, std::string& out) override
    {
        out += ": x-aigw-cost-usd=";
        out += pipeline::format_cost(cost_usd);
        out += "\n\ndata: [DONE]\n\n";
    }
    void error(const wire::Failure& f, std::string& out) override
    {
        out += wire::sse_data(wire::dump_json(wire::to_openai_error(f)));
    }

private:
    std::string m_model;
    bool m_include_usage;
};

asio::awaitable<void> completions(Dispatcher& d, http::Request& req, http::Responder& out)
{
    auto ex = d.begin("openai.completions", req);
    http::Response res;
    res.set_header("x-request-id", ex->request_id);
    auto fail = [&](const wire::Failure& f, std::string native_body = {}) -> asio::awaitable<void> {
        pipeline::set_route_headers(res, *ex);
        co_await d.finish_failed(*ex, f, std::move(native_body), Shape::openai, res.headers, out);
    };
    if (auto refused = d.authorize(req, *ex)) {
        co_await out.send(pipeline::failure_response(*refused, Shape::openai, res.headers));
        co_return;
    }
    auto body = wire::parse_json_body(req.body);
    if (!body) {
        co_await fail(body.error());
        co_return;
    }
    if (auto bad = providers::validate_completions_request(*body, false)) {
        co_await fail(*bad);
        co_return;
    }
    ex->requested_model = (*body)["model"].get<std::string>();
    ex->stream = body->value("stream", false);
    if (d.config().log_bodies) {
        ex->request_body = req.body;
    }
    bool include_usage = false;
    if (auto so = body->find("stream_options"); so != body->end() && so->is_object()) {
        include_usage = so->value("include_usage", false);
    }
    if (auto refused = co_await d.admit_requested(*ex, *body)) {  // limits: key's models, budgets, rate limits
        co_await fail(*refused);
        co_return;
    }
    // The chat form, for models reached through chat; a request only a native route can
    // serve (echo, logprobs, several prompts) keeps its 400 for when one is tried.
    auto canonical = providers::completions_to_canonical(*body);

    std::shared_ptr<pipeline::StreamState> stream;
    std::string answer;
    wire::Usage usage;
    std::string native_error_body;
    auto served = co_await d.run(
        *ex, canonical ? *canonical : *body, *body,
        [&](const routing::Route& route) -> asio::awaitable<std::expected<void, wire::Failure>> {
            native_error_body.clear();
            if (route.adapter->serves_completions(route.target)) {
                auto up = route.adapter->completions_request(*body, route.target);
                if (!up) {
                    co_return std::unexpected(std::move(up.error()));
                }
                // A FIM endpoint that answers in the chat shape (Mistral's) is read as chat and
                // converted; its errors are not OpenAI's shape, so the client gets ours.
                const bool chat_shaped = route.adapter->completions_answer_is_chat(route.target);
                if (ex->stream) {
                    // Named, of the parameters' exact types: see the note in gemini/generate.cpp.
                    std::unique_ptr<providers::StreamTranslator> tap =
                        chat_shaped ? route.adapter->chat_stream(route.target)
                                    : std::make_unique<providers::CompletionsStreamTap>();
                    std::unique_ptr<providers::StreamDecoder> sse_decoder;  // null: SSE
                    auto opened = co_await d.open_passthrough_stream(ex, *up, std::move(tap), &native_error_body,
                                                                     std::move(sse_decoder), false);
                    native_error_body =
                        chat_shaped ? std::string() : wire::scrub_secrets(native_error_body, d.secrets_of(route));
                    if (!opened) {
                        co_return std::unexpected(std::move(opened.error()));
                    }
                    stream = std::move(*opened);
                    co_return std::expected<void, wire::Failure>{};
                }
                auto resp = co_await d.send_native(*ex, *up, native_error_body);
                if (chat_shaped) {
                    native_error_body.clear();
                }
                if (!resp) {
                    co_return std::unexpected(std::move(resp.error()));
                }
                if (chat_shaped) {
                    auto result = route.adapter->chat_response(resp->body, route.target);
                    if (!result) {
                        co_return std::unexpected(std::move(result.error()));
                    }
                    usage = result->usage;
                    answer = wire::dump_json(providers::canonical_to_completion(result->body, ex->requested_model));
                    co_return std::expected<void, wire::Failure>{};
                }
                auto doc = wire::parse_json_lenient(resp->body);
                if (doc.is_discarded() || !doc.is_object() || !doc.contains("choices")) {
                    co_return std::unexpected(providers::upstream_failure(
                        "the completions answer from " + route.resolved.id + " is not a text_completion"));
                }
                usage = wire::usage_from_openai(providers::object_at(doc, "usage"));
                answer = std::move(resp->body);  // the client gets the upstream's own answer
                co_return std::expected<void, wire::Failure>{};
            }
            if (!canonical) {
                co_return std::unexpected(canonical.error());
            }
            if (ex->stream) {
                auto opened = co_await d.open_chat_stream(ex, *canonical);
                if (!opened) {
                    co_return std::unexpected(std::move(opened.error()));
                }
                stream = std::move(*opened);
                co_return std::expected<void, wire::Failure>{};
            }
            auto result = co_await d.chat_once(*ex, *canonical);
            if (!result) {
                co_return std::unexpected(std::move(result.error()));
            }
            usage = result->usage;
            answer = wire::dump_json(providers::canonical_to_completion(result->body, ex->requested_model));
            co_return std::expected<void, wire::Failure>{};
        });
    if (!served) {
        co_await fail(served.error(), std::move(native_error_body));
        co_return;
    }
    pipeline::set_route_headers(res, *ex);
    if (ex->stream) {
        pipeline::drop_request(req, {&*body, canonical ? &*canonical : nullptr});
        co_await d.relay(std::move(stream),
                         std::make_unique<CompletionsStreamWriter>(ex->requested_model, include_usage), out,
                         std::move(res));
        co_return;
    }
    co_await d.finish_answered(*ex, usage, d.cost_of(*ex, usage), std::move(answer), std::move(res), out);
}

}  // namespace

void install_completions_routes(http::Routes& routes, Dispatcher& d)
{
    for (const char* path : {"/v1/completions", "/completions"}) {
        routes.add("POST", path, [&d](http::Request& req, http::Responder& out) { return completions(d, req, out); });
    }
}

}  // namespace aigw::daemon::surfaces

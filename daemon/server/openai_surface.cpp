// The OpenAI-compatible surface: /v1/chat/completions, /v1/embeddings, /v1/models.

#include "daemon/providers/json_access.hpp"
#include "daemon/providers/mock.hpp"
#include "daemon/server/cache_glue.hpp"
#include "daemon/server/chat_pipeline.hpp"

#include <httplib.h>

namespace aigw::daemon::server {

namespace {

/// Parses and checks the body of a chat request. The body is parsed once, here.
std::expected<nlohmann::json, wire::Failure> parse_chat_body(const std::string& text)
{
    auto body = nlohmann::json::parse(text, nullptr, false);
    if (body.is_discarded()) {
        return std::unexpected(wire::bad_request(
            "We could not parse the JSON body of your request. The body must be a JSON object "
            "(Content-Type: application/json)."));
    }
    if (!body.is_object()) {
        return std::unexpected(wire::bad_request("The request body must be a JSON object."));
    }
    auto model = body.find("model");
    if (model == body.end() || !model->is_string() || model->get_ref<const std::string&>().empty()) {
        return std::unexpected(wire::bad_request("You must provide a model parameter, e.g. \"openai/gpt-4o-mini\" or \"mock/echo\".", "model"));
    }
    auto messages = body.find("messages");
    if (messages == body.end() || !messages->is_array()) {
        return std::unexpected(wire::bad_request("'messages' must be an array of message objects.", "messages"));
    }
    if (messages->empty()) {
        return std::unexpected(wire::bad_request("'messages' must contain at least one message.", "messages"));
    }
    for (std::size_t i = 0; i < messages->size(); ++i) {
        const auto& m = (*messages)[i];
        if (!m.is_object() || !m.contains("role") || !m["role"].is_string()) {
            return std::unexpected(wire::bad_request("messages[" + std::to_string(i) + "] must be an object with a string 'role'.",
                                                     "messages[" + std::to_string(i) + "]"));
        }
    }
    if (auto s = body.find("stream"); s != body.end() && !s->is_boolean() && !s->is_null()) {
        return std::unexpected(wire::bad_request("'stream' must be a boolean.", "stream"));
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

}  // namespace

void Gateway::install_openai_routes()
{
    auto& svr = *m_server;

    auto chat = [this](const httplib::Request& req, httplib::Response& res) {
        auto ex = begin("openai.chat", req);
        if (!authorize(req, res, false, *ex)) {
            return;
        }
        res.set_header("x-request-id", ex->request_id);
        auto body = parse_chat_body(req.body);
        if (!body) {
            send_failure(res, body.error());
            record(*ex, body.error().status, {}, 0, body.error().message, -1);
            return;
        }
        ex->requested_model = (*body)["model"].get<std::string>();
        ex->stream = body->value("stream", false);
        if (m_cfg.log_bodies) {
            ex->request_body = req.body;
        }
        if (auto refused = admit(*ex, *body)) {  // limits: key's models, budgets, rate limits
            send_failure(res, *refused);
            record(*ex, refused->status, {}, 0, refused->message, -1);
            return;
        }
        auto fail = [&](const wire::Failure& f) {
            set_route_headers(res, *ex);
            send_failure(res, f);
            record(*ex, f.status, {}, 0, f.message, -1);
        };

        std::unique_ptr<StreamWriter> writer;
        if (ex->stream) {
            bool include_usage = false;
            if (auto so = body->find("stream_options"); so != body->end() && so->is_object()) {
                include_usage = so->value("include_usage", false);
            }
            writer = std::make_unique<OpenAiStreamWriter>(include_usage);
        }
        if (serve_from_cache(*this, *ex, *body, req, res, writer.get())) {
            return;  // a cache hit (or a bad cache header)
        }

        if (ex->stream) {
            std::shared_ptr<StreamState> stream;
            auto served = run_attempts(*this, *ex, *body, [&](const routing::Route&) -> std::expected<void, wire::Failure> {
                auto opened = open_chat_stream(*this, ex, *body);
                if (!opened) {
                    return std::unexpected(std::move(opened.error()));
                }
                stream = std::move(*opened);
                return {};
            });
            if (!served) {
                fail(served.error());
                return;
            }
            set_route_headers(res, *ex);
            install_stream_body(*this, std::move(stream), cache_stream_writer(*this, ex, std::move(writer)), res);
            return;
        }

        std::optional<providers::ChatResult> result;
        auto served = run_attempts(*this, *ex, *body, [&](const routing::Route&) -> std::expected<void, wire::Failure> {
            auto answer = chat_once(*this, *ex, *body);
            if (!answer) {
                return std::unexpected(std::move(answer.error()));
            }
            result = std::move(*answer);
            return {};
        });
        if (!served) {
            fail(served.error());
            return;
        }
        set_route_headers(res, *ex);
        const double cost = cost_of(*ex, result->usage);
        res.set_header("x-aigw-cost-usd", format_cost(cost));
        cache_store(*this, *ex, *result, cost);
        std::string out = !result->raw.empty()
                              ? std::move(result->raw)
                              : result->body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
        record(*ex, 200, result->usage, cost, {}, -1, m_cfg.log_bodies ? out : std::string());
        res.set_content(std::move(out), "application/json");
    };
    svr.Post("/v1/chat/completions", chat);
    svr.Post("/chat/completions", chat);

    auto embeddings = [this](const httplib::Request& req, httplib::Response& res) {
        auto ex = begin("openai.embeddings", req);
        if (!authorize(req, res, false, *ex)) {
            return;
        }
        res.set_header("x-request-id", ex->request_id);
        auto body = nlohmann::json::parse(req.body, nullptr, false);
        if (body.is_discarded() || !body.is_object()) {
            auto f = wire::bad_request("We could not parse the JSON body of your request; it must be a JSON object.");
            send_failure(res, f);
            record(*ex, 400, {}, 0, f.message, -1);
            return;
        }
        if (!body.contains("model") || !body["model"].is_string() || !body.contains("input")) {
            auto f = wire::bad_request("An embeddings request needs 'model' and 'input'.", body.contains("model") ? "input" : "model");
            send_failure(res, f);
            record(*ex, 400, {}, 0, f.message, -1);
            return;
        }
        ex->requested_model = body["model"].get<std::string>();
        if (auto refused = admit(*ex, body)) {  // limits: key's models, budgets, rate limits
            send_failure(res, *refused);
            record(*ex, refused->status, {}, 0, refused->message, -1);
            return;
        }
        std::optional<providers::ChatResult> result;
        auto served = run_attempts(*this, *ex, body, [&](const routing::Route&) -> std::expected<void, wire::Failure> {
            auto answer = embeddings_once(*this, *ex, body);
            if (!answer) {
                return std::unexpected(std::move(answer.error()));
            }
            result = std::move(*answer);
            return {};
        });
        set_route_headers(res, *ex);
        if (!served) {
            send_failure(res, served.error());
            record(*ex, served.error().status, {}, 0, served.error().message, -1);
            return;
        }
        apply_encoding_format(body, result->body);
        const double cost = cost_of(*ex, result->usage);
        res.set_header("x-aigw-cost-usd", format_cost(cost));
        record(*ex, 200, result->usage, cost, {}, -1);
        res.set_content(result->body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace), "application/json");
    };
    svr.Post("/v1/embeddings", embeddings);
    svr.Post("/embeddings", embeddings);

    auto models = [this](const httplib::Request& req, httplib::Response& res) {
        auto ex = begin("openai.models", req);
        if (!authorize(req, res, false, *ex)) {
            return;
        }
        // Everything the configured keys can reach, plus mock and the user's aliases.
        std::vector<std::pair<std::string, std::string>> ids = {{"mock/echo", "mock"}};
        for (const auto* m : m_cfg.catalog.all()) {
            auto p = m_cfg.providers.find(m->provider);
            if (p != m_cfg.providers.end() && m_router->key_present(p->second) &&
                p->second.wire != config::WireFormat::mock) {
                ids.emplace_back(m->id, m->provider);
            }
        }
        for (const auto& [alias, target] : m_cfg.aliases) {
            ids.emplace_back(alias, "alias");
        }
        std::erase_if(ids, [&](const auto& entry) { return !model_visible(*ex, entry.first); });  // limits
        nlohmann::json data = nlohmann::json::array();
        nlohmann::json body;
        if (req.has_header("anthropic-version")) {
            // The Anthropic SDK's models.list(): its own page shape.
            for (const auto& [id, owner] : ids) {
                data.push_back({{"type", "model"}, {"id", id}, {"display_name", id}, {"created_at", "2025-01-01T00:00:00Z"}});
            }
            body = {{"data", data},
                    {"has_more", false},
                    {"first_id", ids.empty() ? nlohmann::json() : nlohmann::json(ids.front().first)},
                    {"last_id", ids.empty() ? nlohmann::json() : nlohmann::json(ids.back().first)}};
        } else {
            for (const auto& [id, owner] : ids) {
                data.push_back({{"id", id}, {"object", "model"}, {"created", 0}, {"owned_by", owner}});
            }
            body = {{"object", "list"}, {"data", std::move(data)}};
        }
        res.set_header("x-request-id", ex->request_id);
        res.set_content(body.dump(), "application/json");
    };
    svr.Get("/v1/models", models);
    svr.Get("/models", models);
}

}  // namespace aigw::daemon::server

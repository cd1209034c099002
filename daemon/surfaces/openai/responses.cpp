// The OpenAI Responses surface: POST /v1/responses, GET and DELETE /v1/responses/{id},
// GET /v1/responses/{id}/input_items.
// To OpenAI and Azure (and an OpenAI-compatible server configured with responses = "native")
// it is native passthrough: the client's body goes upstream with only the model and auth
// changed (Adapter::responses_request), and the answer (or stream) comes back byte for byte,
// usage read from response.completed. To every other provider it goes through the canonical
// (chat) form and back (providers/openai/responses_surface.hpp), streaming included.
//
// With `store` (the default, as at OpenAI) the response, its input items and the whole
// conversation so far go to the response store (ledger/response_store.hpp), so that
// `previous_response_id` works for every provider: the stored conversation is put in front
// of the new input (for OpenAI too, which then needs no state of its own).
//
// POST /v1/responses/compact and /v1/responses/input_tokens pass through to OpenAI; for other
// providers the gateway summarises with the same model / estimates the count.

#include "daemon/ledger/response_store.hpp"
#include "daemon/pipeline/cache_glue.hpp"
#include "daemon/limits/key_store.hpp"
#include "daemon/providers/json_access.hpp"
#include "daemon/providers/openai/responses_surface.hpp"
#include "daemon/surfaces/admin/admin_api.hpp"
#include "shared/wire/json_text.hpp"
#include "shared/wire/secrets.hpp"

#include <algorithm>
#include <functional>
#include <iostream>

namespace aigw::daemon::surfaces {

using pipeline::Dispatcher;
using pipeline::Shape;
using pipeline::StreamWriter;

namespace {

using OnResponse = std::function<void(const nlohmann::json&)>;
/// A finished answer: the response object, its usage and cost.
using OnFinished = std::function<void(const nlohmann::json&, const wire::Usage&, double)>;

/// Writes canonical chunks as the Responses event sequence.
class ResponsesSurfaceWriter final : public StreamWriter {
public:
    /// `on_done` gets the final response object of a stream that completed.
    ResponsesSurfaceWriter(providers::ResponsesContext ctx, OnFinished on_done)
        : m_writer(std::move(ctx)), m_on_done(std::move(on_done))
    {}
    void chunk(const nlohmann::json& chunk, std::string& out) override
    {
        for (auto& s : m_writer.on_chunk(chunk)) {
            out += s;
        }
    }
    void done(const wire::Usage& usage, double cost_usd, std::string& out) override
    {
        for (auto& s : m_writer.finish()) {
            out += s;
        }
        if (m_on_done) {
            m_on_done(m_writer.response(), usage, cost_usd);
        }
    }
    void error(const wire::Failure& f, std::string& out) override
    {
        for (auto& s : m_writer.error(f)) {
            out += s;
        }
    }

private:
    providers::ResponsesStreamWriter m_writer;
    OnFinished m_on_done;
};

/// Relays the provider's own stream; only adds an error event when it was cut, numbered
/// after the last upstream event (`tap` outlives the writer: the stream owns it).
class PassthroughWriter final : public StreamWriter {
public:
    explicit PassthroughWriter(const providers::ResponsesStreamTap& tap) : m_tap(tap) {}
    void chunk(const nlohmann::json&, std::string&) override {}
    void done(const wire::Usage&, double, std::string&) override {}
    void error(const wire::Failure& f, std::string& out) override
    {
        out += providers::ResponsesStreamWriter::error_event(f, m_tap.next_sequence_number());
    }

private:
    const providers::ResponsesStreamTap& m_tap;
};

std::string new_response_id()
{
    return "resp_" + limits::random_hex(24);
}

/// Whether `route`'s provider has its own Responses API for `operation` ("" = POST
/// /responses): OpenAI, Azure (create only), an OpenAI-compatible server configured with
/// responses = "native".
bool serves_responses_natively(const routing::Route& route, std::string_view operation = {})
{
    return route.adapter != nullptr && route.adapter->serves_responses(route.target, operation);
}

/// The client's body for the provider's own Responses API: only model, path and auth change.
std::expected<providers::UpstreamRequest, wire::Failure> passthrough_request(const nlohmann::json& body,
                                                                             const routing::Route& route,
                                                                             std::string_view operation = {})
{
    return route.adapter->responses_request(body, route.target, operation);
}

/// The checks every request gets before routing.
std::optional<wire::Failure> check_request(const nlohmann::json& body)
{
    auto model = body.find("model");
    if (model == body.end() || !model->is_string() || model->get_ref<const std::string&>().empty()) {
        return wire::bad_request("'model' is required and must be a non-empty string", "model");
    }
    if (auto s = body.find("stream"); s != body.end() && !s->is_null() && !s->is_boolean()) {
        return wire::bad_request("'stream' must be a boolean", "stream");
    }
    if (auto prev = body.find("previous_response_id"); prev != body.end() && !prev->is_null() && !prev->is_string()) {
        return wire::bad_request("'previous_response_id' must be a string", "previous_response_id");
    }
    if (auto st = body.find("store"); st != body.end() && !st->is_null() && !st->is_boolean()) {
        return wire::bad_request("'store' must be a boolean", "store");
    }
    return std::nullopt;
}

/// The request's input as a list of items (a string is one user message).
std::vector<nlohmann::json> input_items_of(const nlohmann::json& body)
{
    std::vector<nlohmann::json> items;
    auto input = body.find("input");
    if (input == body.end() || input->is_null()) {
        return items;
    }
    if (input->is_string()) {
        items.push_back({{"type", "message"},
                         {"role", "user"},
                         {"content", nlohmann::json::array({{{"type", "input_text"}, {"text", *input}}})}});
    } else if (input->is_array()) {
        for (const auto& item : *input) {
            items.push_back(item);
        }
    }
    return items;
}

wire::Failure previous_not_found(const std::string& id)
{
    wire::Failure f = wire::bad_request("Previous response with id '" + id + "' not found.", "previous_response_id");
    f.code = "previous_response_not_found";
    return f;
}

wire::Failure response_not_found(const std::string& id)
{
    wire::Failure f;
    f.kind = wire::FailureKind::not_found;
    f.status = 404;
    f.message = "No response found with id '" + id + "'.";
    f.type = "invalid_request_error";
    f.param = "response_id";
    return f;
}

asio::awaitable<void> send_failure(http::Responder& out, const http::Response& so_far, const wire::Failure& f)
{
    co_await out.send(pipeline::failure_response(f, Shape::openai, so_far.headers));
}

/// The parsed and checked body of a Responses request, authorized; nullopt when the answer
/// (401, 400) has been sent already. Failures of a model call are recorded in the ledger
/// when `record` is set.
asio::awaitable<std::optional<nlohmann::json>> accept_request(Dispatcher& d, pipeline::Exchange& ex, http::Request& req,
                                                              http::Responder& out, const http::Response& res,
                                                              bool record)
{
    if (auto refused = d.authorize(req, ex)) {
        co_await send_failure(out, res, *refused);
        co_return std::nullopt;
    }
    auto body = wire::parse_json_body(req.body);
    if (body) {
        if (auto bad = check_request(*body)) {
            body = std::unexpected(std::move(*bad));
        }
    }
    if (!body) {
        if (record) {
            d.record(ex, body.error().status, {}, 0, body.error().message, -1);
        }
        co_await send_failure(out, res, body.error());
        co_return std::nullopt;
    }
    ex.requested_model = (*body)["model"].get<std::string>();
    co_return std::move(*body);
}

/// A request, continued from a stored response when it names one: its own input items,
/// the stored conversation, and the body for OpenAI with that conversation in front of the
/// new input (no previous_response_id left).
struct Continued {
    std::vector<nlohmann::json> input_items;  ///< input_items_of(body)
    std::vector<nlohmann::json> previous;     ///< empty without previous_response_id
    nlohmann::json native_body;
};

std::expected<Continued, wire::Failure> continue_from_store(ledger::ResponseStore& store, const nlohmann::json& body,
                                                            const std::string& key_id, bool admin)
{
    Continued c;
    c.input_items = input_items_of(body);
    c.native_body = body;
    c.native_body.erase("previous_response_id");
    auto prev = body.find("previous_response_id");
    if (prev == body.end() || !prev->is_string()) {
        return c;
    }
    auto found = store.get(prev->get<std::string>(), key_id, admin);
    if (!found) {
        return std::unexpected(previous_not_found(prev->get<std::string>()));
    }
    c.previous = std::move(found->conversation);
    nlohmann::json input = nlohmann::json(c.previous);
    for (const auto& item : c.input_items) {
        input.push_back(item);
    }
    c.native_body["input"] = std::move(input);
    return c;
}

/// continue_from_store for this request's key; nullopt when the previous response is not
/// there (the 400 has been sent and recorded).
asio::awaitable<std::optional<Continued>> continue_or_refuse(Dispatcher& d, pipeline::Exchange& ex,
                                                             ledger::ResponseStore& store, const nlohmann::json& body,
                                                             http::Responder& out, const http::Response& res)
{
    auto continued = continue_from_store(store, body, ex.key_id, ex.key_id == pipeline::k_admin_key_id);
    if (!continued) {
        co_await d.finish_failed(ex, continued.error(), {}, Shape::openai, res.headers, out);
        co_return std::nullopt;
    }
    co_return std::move(*continued);
}

asio::awaitable<void> create(Dispatcher& d, ledger::ResponseStore& store, http::Request& req, http::Responder& out)
{
    auto ex = d.begin("openai.responses", req);
    http::Response res;
    res.set_header("x-request-id", ex->request_id);
    auto body = co_await accept_request(d, *ex, req, out, res, true);
    if (!body) {
        co_return;
    }
    ex->stream = providers::bool_at(*body, "stream", false);
    if (d.config().log_bodies) {
        ex->request_body = req.body;
    }
    const bool keep = providers::bool_at(*body, "store", true);

    // previous_response_id: the stored conversation goes in front of the new input, for
    // every provider (OpenAI gets it as input too, so it needs no state of its own).
    auto continued = co_await continue_or_refuse(d, *ex, store, *body, out, res);
    if (!continued) {
        co_return;
    }
    const std::vector<nlohmann::json>& input_items = continued->input_items;
    const std::vector<nlohmann::json>& previous = continued->previous;
    const nlohmann::json& native_body = continued->native_body;

    // The canonical request, for admission's estimate and for every translated attempt. A
    // request that cannot be translated is still served natively by OpenAI.
    nlohmann::json without_previous = *body;
    without_previous.erase("previous_response_id");
    // item_reference input items name stored items (the Vercel AI SDK sends its previous
    // output that way when store is on).
    providers::ResponsesItemLookup lookup = [&store, key_id = ex->key_id,
                                             admin = ex->key_id == pipeline::k_admin_key_id](std::string_view id) {
        return store.find_item(std::string(id), key_id, admin);
    };
    auto translated = providers::responses_request_to_canonical(without_previous, previous, lookup);
    if (translated) {
        (*translated)["model"] = ex->requested_model;
        if (ex->stream) {
            (*translated)["stream"] = true;
        }
    }
    const nlohmann::json& canonical = translated ? *translated : *body;
    auto fail = [&](const wire::Failure& f) -> asio::awaitable<void> {
        pipeline::set_route_headers(res, *ex);
        co_await d.finish_failed(*ex, f, {}, Shape::openai, res.headers, out);
    };
    if (auto refused = co_await d.admit_requested(*ex, canonical)) {  // limits: key's models, budgets, rate limits
        co_await fail(*refused);
        co_return;
    }

    providers::ResponsesContext ctx;
    ctx.response_id = new_response_id();
    ctx.created_at = ex->ts_ms / 1000;
    ctx.model = ex->requested_model;
    ctx.request = *body;

    // What a completed response leaves in the store, when the request asked for it.
    OnResponse remember = [&store, input_items, previous, keep, key_id = ex->key_id,
                           now_ms = ex->ts_ms](const nlohmann::json& response) {
        if (!keep || !response.is_object() || !response.contains("id") || !response["id"].is_string() ||
            response.value("status", "") == "failed") {
            return;
        }
        ledger::StoredResponse r;
        r.id = response["id"].get<std::string>();
        r.key_id = key_id;
        r.created_ms = now_ms;  // the gateway's clock: retention counts from here
        r.response = response;
        r.input_items = input_items;
        r.conversation = previous;
        r.conversation.insert(r.conversation.end(), input_items.begin(), input_items.end());
        for (auto& item : providers::responses_output_items(response)) {
            r.conversation.push_back(std::move(item));
        }
        if (auto stored = store.put(r); !stored) {
            std::cerr << "aigwd: " << stored.error() << "\n";
        }
    };

    // The response cache (exact, as for chat): keyed on the body as it would go upstream
    // natively (previous_response_id resolved into the stored conversation in front of the
    // input) minus what only says how to deliver it, marked so that Responses entries never
    // meet chat's. A hit is a new response (new id, stored when `store` is on) so that
    // previous_response_id keeps working; replayed as the event sequence for a stream.
    // `conversation` names state kept at OpenAI, so such a request is never cached.
    const bool cacheable_request = !body->contains("conversation") || (*body)["conversation"].is_null();
    auto cache_answer = [&d, ex](const nlohmann::json& response, const wire::Usage& u, double cost) {
        if (providers::responses_cacheable(response)) {
            pipeline::cache_store_body(d, *ex, wire::dump_json(response), u, cost);
        }
    };
    if (cacheable_request) {
        nlohmann::json keyed = native_body;
        keyed["aigw_cache_surface"] = "responses";
        auto fresh = [&](const nlohmann::json& cached) {
            nlohmann::json r = providers::responses_from_cache(cached, ctx.response_id, ctx.created_at, *body);
            remember(r);
            return r;
        };
        pipeline::CachedReplay replay;
        replay.body = [&](const nlohmann::json& cached) { return wire::dump_json(fresh(cached)); };
        replay.stream = [&](const nlohmann::json& cached) {
            std::string events;
            for (const auto& e : providers::responses_replay_events(fresh(cached))) {
                events += e;
            }
            return events;
        };
        if (co_await pipeline::serve_from_exact_cache(d, *ex, keyed, req, res, replay)) {
            co_await out.send(std::move(res));  // a cache hit (or a bad cache header)
            co_return;
        }
    } else {
        res.set_header("x-aigw-cache", "MISS");
    }

    std::string native_error_body;  ///< the provider's own error, relayed as is when it is the last word
    std::shared_ptr<pipeline::StreamState> stream;
    providers::ResponsesStreamTap* native_tap = nullptr;  ///< owned by `stream` (a native stream)
    std::unique_ptr<StreamWriter> writer;
    std::string answer;
    nlohmann::json answer_json;  ///< the non-stream answer's response object
    wire::Usage usage;

    auto attempt = [&](const routing::Route& route) -> asio::awaitable<std::expected<void, wire::Failure>> {
        native_error_body.clear();
        native_tap = nullptr;
        if (serves_responses_natively(route)) {
            auto up = passthrough_request(native_body, route);
            if (!up) {
                co_return std::unexpected(std::move(up.error()));
            }
            if (ex->stream) {
                auto tap = std::make_unique<providers::ResponsesStreamTap>();
                auto* tap_ptr = tap.get();
                auto opened = co_await d.open_passthrough_stream(ex, *up, std::move(tap), &native_error_body);
                native_error_body = wire::scrub_secrets(native_error_body, d.secrets_of(route));
                if (!opened) {
                    co_return std::unexpected(std::move(opened.error()));
                }
                stream = std::move(*opened);
                native_tap = tap_ptr;
                writer = std::make_unique<PassthroughWriter>(*tap_ptr);
                co_return std::expected<void, wire::Failure>{};
            }
            auto resp = co_await d.send_native(*ex, *up, native_error_body);
            if (!resp) {
                co_return std::unexpected(std::move(resp.error()));
            }
            auto parsed = wire::parse_json_body(resp->body);
            if (!parsed) {
                wire::Failure f;
                f.kind = wire::FailureKind::upstream;
                f.status = 502;
                f.message = "the upstream's /responses answer is not JSON";
                co_return std::unexpected(std::move(f));
            }
            auto u = providers::responses_usage(*parsed);
            if (!u) {
                co_return std::unexpected(std::move(u.error()));
            }
            usage = *u;
            remember(*parsed);
            answer = std::move(resp->body);
            answer_json = std::move(*parsed);
            co_return std::expected<void, wire::Failure>{};
        }
        if (!translated) {
            // Never a silent drop: what the chat form cannot carry (a built-in tool, ...) is
            // a 400 naming the field and this provider.
            co_return std::unexpected(providers::translation_failure_for(
                translated.error(),
                route.target.provider != nullptr ? route.target.provider->name : route.resolved.id));
        }
        if (ex->stream) {
            auto opened = co_await d.open_chat_stream(ex, *translated);
            if (!opened) {
                co_return std::unexpected(std::move(opened.error()));
            }
            stream = std::move(*opened);
            writer = std::make_unique<ResponsesSurfaceWriter>(
                ctx, [remember, cache_answer](const nlohmann::json& response, const wire::Usage& u, double cost) {
                    remember(response);
                    cache_answer(response, u, cost);
                });
            co_return std::expected<void, wire::Failure>{};
        }
        auto result = co_await d.chat_once(*ex, *translated);
        if (!result) {
            co_return std::unexpected(std::move(result.error()));
        }
        usage = result->usage;
        const nlohmann::json response = providers::canonical_response_to_responses(result->body, ctx);
        remember(response);
        answer = wire::dump_json(response);
        answer_json = response;
        co_return std::expected<void, wire::Failure>{};
    };
    auto served = co_await d.run(*ex, canonical, canonical, attempt);
    pipeline::set_route_headers(res, *ex);
    if (!served) {
        co_await d.finish_failed(*ex, served.error(), std::move(native_error_body), Shape::openai, res.headers, out);
        co_return;
    }
    if (ex->stream) {
        auto keep_alive = stream;  // owns native_tap, which holds the final response
        // ctx (its copy of the request, which a response echoes) and what `remember` stores
        // stay; the request's other forms go.
        pipeline::drop_request(
            req, {&*body, &without_previous, &continued->native_body, translated ? &*translated : nullptr});
        co_await d.relay(std::move(stream), std::move(writer), out, std::move(res));
        if (native_tap != nullptr && native_tap->finished()) {
            remember(native_tap->final_response());
            cache_answer(native_tap->final_response(), native_tap->usage(), d.cost_of(*ex, native_tap->usage()));
        }
        co_return;
    }
    const double cost = d.cost_of(*ex, usage);
    cache_answer(answer_json, usage, cost);
    co_await d.finish_answered(*ex, usage, cost, std::move(answer), std::move(res), out);
}

/// Usage in the Responses shape.
nlohmann::json usage_json(const wire::Usage& u)
{
    return {{"input_tokens", u.input_tokens},
            {"input_tokens_details", {{"cached_tokens", u.cached_tokens}}},
            {"output_tokens", u.output_tokens},
            {"output_tokens_details", {{"reasoning_tokens", u.reasoning_tokens}}},
            {"total_tokens", u.input_tokens + u.output_tokens}};
}

constexpr const char* k_compact_instruction =
    "Summarize the conversation above for yourself, so that you can continue the task from the summary alone: "
    "the goal, the decisions made, what was done (files, commands, results), what is left to do, and any facts "
    "the user gave. Be complete but concise. Answer with the summary only.";

/// POST /v1/responses/compact (Codex's remote compaction). OpenAI: passthrough. Elsewhere the
/// gateway asks the same model for a summary and answers in OpenAI's shape: the input's user
/// messages followed by one `compaction` item whose encrypted_content carries the summary
/// (which the request translator turns back into a user message on the next turn).
asio::awaitable<void> compact(Dispatcher& d, ledger::ResponseStore& store, http::Request& req, http::Responder& out)
{
    auto ex = d.begin("openai.responses.compact", req);
    http::Response res;
    res.set_header("x-request-id", ex->request_id);
    auto body = co_await accept_request(d, *ex, req, out, res, true);
    if (!body) {
        co_return;
    }
    auto continued = co_await continue_or_refuse(d, *ex, store, *body, out, res);
    if (!continued) {
        co_return;
    }
    const std::vector<nlohmann::json>& items = continued->input_items;
    const std::vector<nlohmann::json>& previous = continued->previous;
    const nlohmann::json& native_body = continued->native_body;

    // The summary request: the conversation, then the instruction; no tools, so it answers in text.
    nlohmann::json summary_request = {{"model", ex->requested_model}, {"input", nlohmann::json(items)}};
    if (auto ins = body->find("instructions"); ins != body->end() && ins->is_string()) {
        summary_request["instructions"] = *ins;
    }
    if (auto tools = body->find("tools"); tools != body->end() && tools->is_array() && !tools->empty()) {
        // The history may hold tool calls, which some providers only accept with the tools
        // defined; the summary itself must be text.
        summary_request["tools"] = *tools;
        summary_request["tool_choice"] = "none";
    }
    auto canonical = providers::responses_request_to_canonical(summary_request, previous);
    if (canonical) {
        (*canonical)["messages"].push_back({{"role", "user"}, {"content", k_compact_instruction}});
    }
    const nlohmann::json& admitted = canonical ? *canonical : *body;
    if (auto refused = co_await d.admit_requested(*ex, admitted)) {
        pipeline::set_route_headers(res, *ex);
        co_await d.finish_failed(*ex, *refused, {}, Shape::openai, res.headers, out);
        co_return;
    }
    std::string answer;
    wire::Usage usage;
    std::string native_error_body;
    auto attempt = [&](const routing::Route& route) -> asio::awaitable<std::expected<void, wire::Failure>> {
        native_error_body.clear();
        if (serves_responses_natively(route, "/compact")) {
            auto up = passthrough_request(native_body, route, "/compact");
            if (!up) {
                co_return std::unexpected(std::move(up.error()));
            }
            auto resp = co_await d.send_native(*ex, *up, native_error_body);
            if (!resp) {
                co_return std::unexpected(std::move(resp.error()));
            }
            auto parsed = wire::parse_json_body(resp->body);
            if (parsed) {
                if (auto u = providers::responses_usage(*parsed)) {
                    usage = *u;
                }
            }
            answer = std::move(resp->body);
            co_return std::expected<void, wire::Failure>{};
        }
        if (!canonical) {
            co_return std::unexpected(providers::translation_failure_for(
                canonical.error(), route.target.provider != nullptr ? route.target.provider->name : route.resolved.id));
        }
        auto result = co_await d.chat_once(*ex, *canonical);
        if (!result) {
            co_return std::unexpected(std::move(result.error()));
        }
        usage = result->usage;
        std::string summary;
        const auto& choices = result->body["choices"];
        if (choices.is_array() && !choices.empty() && choices[0]["message"]["content"].is_string()) {
            summary = choices[0]["message"]["content"].get<std::string>();
        }
        nlohmann::json output = nlohmann::json::array();
        for (const auto* list : {&previous, &items}) {
            for (const auto& item : *list) {
                if (item.is_object() && item.value("role", "") == "user" &&
                    item.value("type", "message") == "message") {
                    output.push_back(item);
                }
            }
        }
        const std::string id = new_response_id();
        output.push_back(
            {{"type", "compaction"},
             {"id", "cmp_" + id.substr(5)},
             {"encrypted_content", providers::encode_reasoning_opaque({{"compaction_summary", summary}})}});
        answer = wire::dump_json({{"id", id},
                                  {"object", "response.compaction"},
                                  {"created_at", ex->ts_ms / 1000},
                                  {"model", ex->requested_model},
                                  {"output", std::move(output)},
                                  {"usage", usage_json(usage)}});
        co_return std::expected<void, wire::Failure>{};
    };
    auto served = co_await d.run(*ex, admitted, admitted, attempt);
    pipeline::set_route_headers(res, *ex);
    if (!served) {
        co_await d.finish_failed(*ex, served.error(), std::move(native_error_body), Shape::openai, res.headers, out);
        co_return;
    }
    co_await d.finish_answered(*ex, usage, d.cost_of(*ex, usage), std::move(answer), std::move(res), out,
                               Dispatcher::BodyLog::never);
}

/// POST /v1/responses/input_tokens: OpenAI counts; elsewhere an estimate (4 characters a
/// token over the input, the instructions and the tools), as /v1/messages/count_tokens does.
asio::awaitable<void> input_tokens(Dispatcher& d, http::Request& req, http::Responder& out)
{
    auto ex = d.begin("openai.responses.input_tokens", req);
    http::Response res;
    res.set_header("x-request-id", ex->request_id);
    auto body = co_await accept_request(d, *ex, req, out, res, false);
    if (!body) {
        co_return;
    }
    auto route = d.router().route(d.router().plan({.requested = ex->requested_model}).candidates.front().model);
    if (!route) {
        co_await send_failure(out, res, route.error());
        co_return;
    }
    const nlohmann::json no_body = nlohmann::json::object();
    if (auto refused = co_await d.admit(*ex, no_body, route->resolved)) {  // the key's allow-list
        co_await send_failure(out, res, *refused);
        co_return;
    }
    ex->route = std::move(*route);
    if (serves_responses_natively(ex->route, "/input_tokens")) {
        auto up = passthrough_request(*body, ex->route, "/input_tokens");
        if (!up) {
            co_await send_failure(out, res, up.error());
            co_return;
        }
        auto resp = co_await d.send(*ex, *up);
        if (!resp) {
            co_await send_failure(out, res, resp.error());
            co_return;
        }
        res.status = resp->status;
        res.set_content(wire::scrub_secrets(resp->body, d.secrets_of(ex->route)));
        co_await out.send(std::move(res));
        co_return;
    }
    std::size_t chars = 0;
    for (const char* field : {"input", "instructions", "tools"}) {
        if (auto f = body->find(field); f != body->end() && !f->is_null()) {
            chars += f->is_string() ? f->get_ref<const std::string&>().size() : wire::dump_json(*f).size();
        }
    }
    res.set_content(wire::dump_json({{"object", "response.input_tokens"}, {"input_tokens", (chars + 3) / 4}}));
    co_await out.send(std::move(res));
}

/// GET /v1/responses/{id}, GET /v1/responses/{id}/input_items, DELETE /v1/responses/{id}.
asio::awaitable<void> stored(Dispatcher& d, ledger::ResponseStore& store, std::string_view prefix, http::Request& req,
                             http::Responder& out)
{
    auto ex = d.begin("openai.responses.stored", req);
    http::Response res;
    res.set_header("x-request-id", ex->request_id);
    if (auto refused = d.authorize(req, *ex)) {
        co_await send_failure(out, res, *refused);
        co_return;
    }
    const bool admin = ex->key_id == pipeline::k_admin_key_id;
    std::string_view rest = std::string_view(req.path).substr(prefix.size());
    std::string_view query;
    if (auto q = rest.find('?'); q != std::string_view::npos) {
        query = rest.substr(q);
        rest = rest.substr(0, q);
    }
    constexpr std::string_view k_items = "/input_items";
    const bool want_items = rest.ends_with(k_items);
    if (want_items) {
        rest.remove_suffix(k_items.size());
    }
    const std::string id(rest);
    if (id.empty() || id.find('/') != std::string::npos || (want_items && req.method != "GET")) {
        co_await send_failure(out, res, response_not_found(id));
        co_return;
    }
    if (req.method == "DELETE") {
        if (!store.remove(id, ex->key_id, admin)) {
            co_await send_failure(out, res, response_not_found(id));
            co_return;
        }
        res.set_content(wire::dump_json({{"id", id}, {"object", "response"}, {"deleted", true}}));
        co_await out.send(std::move(res));
        co_return;
    }
    auto found = store.get(id, ex->key_id, admin);
    if (!found) {
        co_await send_failure(out, res, response_not_found(id));
        co_return;
    }
    if (!want_items) {
        res.set_content(wire::dump_json(found->response));
        co_await out.send(std::move(res));
        co_return;
    }
    // The request's input items as OpenAI lists them: newest first unless order=asc, each
    // with an id.
    nlohmann::json data = nlohmann::json::array();
    for (std::size_t i = 0; i < found->input_items.size(); ++i) {
        nlohmann::json item = found->input_items[i];
        if (!item.is_object()) {
            continue;
        }
        if (!item.contains("type")) {
            item["type"] = "message";
        }
        if (!item.contains("id")) {
            item["id"] = "msg_" + id.substr(std::min<std::size_t>(id.size(), 5)) + "_" + std::to_string(i);
        }
        data.push_back(std::move(item));
    }
    if (query.find("order=asc") == std::string_view::npos) {
        std::reverse(data.begin(), data.end());
    }
    nlohmann::json page = {{"object", "list"}, {"data", data}, {"has_more", false}};
    page["first_id"] = data.empty() ? nlohmann::json() : data.front()["id"];
    page["last_id"] = data.empty() ? nlohmann::json() : data.back()["id"];
    res.set_content(wire::dump_json(page));
    co_await out.send(std::move(res));
}

}  // namespace

void install_responses_routes(http::Routes& routes, Dispatcher& d, ledger::ResponseStore& store)
{
    for (const std::string prefix : {"/v1", ""}) {
        routes.add("POST", prefix + "/responses",
                   [&d, &store](http::Request& req, http::Responder& out) { return create(d, store, req, out); });
        routes.add("POST", prefix + "/responses/compact",
                   [&d, &store](http::Request& req, http::Responder& out) { return compact(d, store, req, out); });
        routes.add("POST", prefix + "/responses/input_tokens",
                   [&d](http::Request& req, http::Responder& out) { return input_tokens(d, req, out); });
        const std::string item_prefix = prefix + "/responses/";
        for (const char* method : {"GET", "DELETE"}) {
            routes.add(method, item_prefix + "*", [&d, &store, item_prefix](http::Request& req, http::Responder& out) {
                return stored(d, store, item_prefix, req, out);
            });
        }
    }
}

}  // namespace aigw::daemon::surfaces

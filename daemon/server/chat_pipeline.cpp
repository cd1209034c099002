#include "daemon/server/chat_pipeline.hpp"

#include "daemon/providers/mock.hpp"

#include <httplib.h>

#include <cmath>
#include <random>
#include <thread>

namespace aigw::daemon::server {

/// State of one streamed answer, shared by the attempt that opened it, the content
/// provider and its releaser.
struct StreamState {
    std::shared_ptr<Exchange> ex;
    std::unique_ptr<StreamWriter> writer;
    // upstream streams
    std::shared_ptr<routing::UpstreamStream> upstream;
    std::unique_ptr<providers::StreamTranslator> translator;
    std::unique_ptr<providers::StreamDecoder> decoder;
    // mock streams
    std::vector<nlohmann::json> mock_chunks;
    std::size_t mock_next = 0;
    std::chrono::milliseconds mock_delay{0};
    wire::Usage mock_usage;

    bool passthrough = false;    ///< relay upstream bytes as they are; the translator only taps
    std::string held;            ///< passthrough: bytes read while holding back

    std::int64_t ttft_ms = -1;
    bool saw_content = false;
    std::size_t delivered_chars = 0;  ///< text sent to the client, to estimate usage of a cut stream
    std::chrono::steady_clock::time_point last_data;
    bool upstream_ended = false;      ///< read() said end/failed during hold-back
    routing::UpstreamStream::ReadResult end_result = routing::UpstreamStream::ReadResult::data;
    bool finished = false;       ///< the terminal bytes were written (complete or error)
    std::optional<wire::Failure> failure;
    std::string scratch;
    std::vector<wire::SseEvent> events;
    std::vector<nlohmann::json> chunks;  ///< decoded, not yet written
};

namespace {

std::int64_t unix_s()
{
    return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

std::int64_t ms_since(std::chrono::steady_clock::time_point t0)
{
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0).count();
}

bool is_usage_only(const nlohmann::json& chunk)
{
    auto c = chunk.find("choices");
    auto u = chunk.find("usage");
    return c != chunk.end() && c->is_array() && c->empty() && u != chunk.end() && u->is_object();
}

/// A chunk that carries text, reasoning or a tool call (role-only and empty ones don't).
bool has_content(const nlohmann::json& chunk)
{
    auto c = chunk.find("choices");
    if (c == chunk.end() || !c->is_array()) {
        return false;
    }
    for (const auto& choice : *c) {
        auto d = choice.find("delta");
        if (d == choice.end() || !d->is_object()) {
            continue;
        }
        for (const char* field : {"content", "reasoning_content", "refusal"}) {
            auto f = d->find(field);
            if (f != d->end() && f->is_string() && !f->get_ref<const std::string&>().empty()) {
                return true;
            }
        }
        if (d->contains("tool_calls")) {
            return true;
        }
    }
    return false;
}

std::string ms_text(std::chrono::milliseconds ms)
{
    return std::to_string(ms.count()) + " ms";
}

wire::Failure cut_stream_failure(const Exchange& ex)
{
    wire::Failure f;
    f.kind = wire::FailureKind::upstream;
    f.status = 502;
    f.message = "the upstream stream from " + ex.route.resolved.id +
                " ended before its final event; the answer is incomplete";
    return f;
}

}  // namespace

void OpenAiStreamWriter::chunk(const nlohmann::json& chunk, std::string& out)
{
    if (!m_include_usage && is_usage_only(chunk)) {
        return;
    }
    out += "data: ";
    out += chunk.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    out += "\n\n";
}

void OpenAiStreamWriter::done(const wire::Usage&, double cost_usd, std::string& out)
{
    // The cost is not known when the headers go out; an SSE comment carries it at the end
    // for clients that want it (SDKs ignore comments).
    out += ": x-aigw-cost-usd=";
    out += format_cost(cost_usd);
    out += "\n\ndata: [DONE]\n\n";
}

void OpenAiStreamWriter::error(const wire::Failure& f, std::string& out)
{
    out += wire::sse_data(wire::to_openai_error(f).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
}


namespace {

using Clock = std::chrono::steady_clock;

/// What the router needs to know of the request itself.
routing::PlanRequest plan_request(const Exchange& ex, const nlohmann::json& canonical)
{
    routing::PlanRequest pr;
    pr.requested = ex.requested_model;
    pr.fallback_header = ex.fallback_header;
    if (auto u = canonical.find("user"); u != canonical.end() && u->is_string()) {
        pr.user = u->get_ref<const std::string&>();
    }
    if (auto t = canonical.find("tools"); t != canonical.end() && t->is_array() && !t->empty()) {
        pr.needs_tools = true;
    }
    std::size_t chars = 0;
    if (auto m = canonical.find("messages"); m != canonical.end() && m->is_array()) {
        for (const auto& msg : *m) {
            auto c = msg.find("content");
            if (c == msg.end()) {
                continue;
            }
            if (c->is_string()) {
                chars += c->get_ref<const std::string&>().size();
            } else if (c->is_array()) {
                for (const auto& part : *c) {
                    const auto type = part.value("type", std::string());
                    if (type == "image_url" || type == "image" || type == "input_image") {
                        pr.needs_vision = true;
                    } else if (auto text = part.find("text"); text != part.end() && text->is_string()) {
                        chars += text->get_ref<const std::string&>().size();
                    }
                }
            }
        }
    }
    // Roughly four characters a token; the answer needs room too.
    pr.min_context = static_cast<std::int64_t>(chars / 4);
    for (const char* k : {"max_completion_tokens", "max_tokens"}) {
        if (auto mt = canonical.find(k); mt != canonical.end() && mt->is_number_integer()) {
            pr.min_context += mt->get<std::int64_t>();
            break;
        }
    }
    return pr;
}

/// Delay before retry number `retry` (1-based): the upstream's Retry-After when it gave
/// one, else exponential backoff with full jitter.
std::chrono::milliseconds backoff_delay(const config::RoutingSettings& rs, int retry, const wire::Failure& f)
{
    if (f.retry_after_s && *f.retry_after_s >= 0) {
        return std::chrono::milliseconds(static_cast<std::int64_t>(*f.retry_after_s * 1000.0));
    }
    const double cap = std::min(static_cast<double>(rs.backoff_max_ms),
                                static_cast<double>(rs.backoff_initial_ms) * std::pow(2.0, retry - 1));
    thread_local std::mt19937_64 rng{std::random_device{}()};
    return std::chrono::milliseconds(static_cast<std::int64_t>(std::uniform_real_distribution<double>(0, cap)(rng)));
}

/// A stream's socket read timeout is only a backstop: the reader enforces the first-byte,
/// idle and total deadlines itself and cancels the request.
routing::UpstreamTimeouts stream_socket_timeouts(const Exchange& ex)
{
    const auto left = std::max(std::chrono::milliseconds(1), std::chrono::duration_cast<std::chrono::milliseconds>(
                                                                 ex.deadline - Clock::now()));
    return routing::UpstreamTimeouts{std::min(ex.timeouts.connect, left),
                                     std::max(ex.timeouts.first_byte, ex.timeouts.idle) + std::chrono::seconds(5)};
}

std::string describe(const wire::Failure& f, const std::string& where)
{
    std::string s = std::to_string(f.status) + " " + std::string(wire::to_string(f.kind));
    if (!where.empty()) {
        s += " from " + where;
    }
    return s;
}

wire::Failure circuit_open_failure(const std::string& id, std::int64_t retry_in_ms)
{
    wire::Failure f;
    f.kind = wire::FailureKind::upstream;
    f.status = 503;
    f.code = "circuit_open";
    f.message = id + " is failing and aigw stopped sending it requests for now (circuit open); it gets a trial "
                     "request in " + std::to_string((retry_in_ms + 999) / 1000) +
                " s. Add a fallback (x-aigw-fallback header or fallback = [...] in the config) to be served meanwhile.";
    f.retry_after_s = static_cast<double>(retry_in_ms) / 1000.0;
    return f;
}

}  // namespace

routing::UpstreamTimeouts attempt_timeouts(const Exchange& ex)
{
    const auto left = std::max(std::chrono::milliseconds(1), std::chrono::duration_cast<std::chrono::milliseconds>(
                                                                 ex.deadline - Clock::now()));
    return routing::UpstreamTimeouts{std::min(ex.timeouts.connect, left), std::min(ex.timeouts.first_byte, left)};
}

std::expected<void, wire::Failure> run_attempts(Gateway& gw, Exchange& ex, const nlohmann::json& canonical,
                                                const AttemptFn& attempt)
{
    if (ex.header_error) {
        return std::unexpected(*ex.header_error);
    }
    routing::Router& router = gw.router();
    const config::RoutingSettings& rs = gw.config().routing;
    const routing::Plan plan = router.plan(plan_request(ex, canonical));
    ex.variant = plan.variant;

    std::optional<wire::Failure> last;
    std::optional<AttemptNote> last_note;  ///< the latest failed attempt, not yet known to be final
    std::string reason;                    ///< why the next attempt happens
    bool caller_fault = false;             ///< an attempt failed by the caller's fault: no fallback
    auto note_failure = [&](AttemptNote note) {
        if (last_note) {
            ex.failed_attempts.push_back(std::move(*last_note));
        }
        last_note = std::move(note);
    };

    for (std::size_t ci = 0; ci < plan.candidates.size(); ++ci) {
        const routing::Candidate& cand = plan.candidates[ci];
        const bool more_candidates = ci + 1 < plan.candidates.size();
        std::vector<int> failed_keys;
        int retries = 0;
        while (true) {
            if (Clock::now() >= ex.deadline) {
                last = wire::gateway_timeout("the request ran out of time (" + ms_text(ex.timeouts.total) +
                                       ", x-aigw-timeout-ms or [upstream] total_timeout_ms) after " +
                                       std::to_string(ex.failed_attempts.size() + (last_note ? 1 : 0)) + " attempt(s)");
                goto exhausted;
            }
            std::optional<wire::Failure> f;
            std::string where = cand.model;
            auto route = router.route(cand.model, failed_keys);
            if (!route) {
                // Nothing was sent: no row, no health. Resting keys are waited for like a 429;
                // anything else (unknown model, no key) is this candidate's problem: next one.
                f = std::move(route.error());
                if (f->kind != wire::FailureKind::rate_limited) {
                    last = f;
                    break;
                }
            } else if (!route->is_mock() && !router.health().try_start(route->resolved.id)) {
                // An open circuit is skipped at once: failing fast is its whole point.
                last = circuit_open_failure(route->resolved.id, router.health().snapshot(route->resolved.id).retry_in_ms);
                break;
            } else {
                where = route->resolved.id;
                ex.route = std::move(*route);
                const auto started = Clock::now();
                auto r = attempt(ex.route);
                const auto latency = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - started);
                if (!ex.route.is_mock()) {
                    routing::Outcome o;
                    o.ok = r.has_value();
                    o.latency = latency;
                    if (!r) {
                        o.failure = r.error().kind;
                    }
                    router.health().finish(ex.route.resolved.id, o);
                }
                if (r) {
                    if (last_note) {
                        ex.failed_attempts.push_back(std::move(*last_note));
                    }
                    ex.attempt_reason = reason;
                    return {};
                }
                f = std::move(r.error());
                note_failure(AttemptNote{ex.route.resolved.id, ex.route.resolved.provider->name, f->status, f->message,
                                         reason, latency.count()});
                const int key = ex.route.key_index;
                if (f->kind == wire::FailureKind::auth && key >= 0 && (f->status == 401 || f->status == 403)) {
                    // The provider refused this key: skipped while another key is left, no backoff.
                    router.keys().mark_bad(ex.route.resolved.provider->name, key,
                                           "HTTP " + std::to_string(f->status) + ": " + f->message.substr(0, 200));
                    failed_keys.push_back(key);
                    last = f;
                    reason = "provider key " + std::to_string(key + 1) + " of " + ex.route.resolved.provider->name +
                             " was rejected (" + std::to_string(f->status) + ")";
                    if (ex.route.key_count > static_cast<int>(failed_keys.size())) {
                        continue;
                    }
                    break;
                }
                if (f->kind == wire::FailureKind::rate_limited && key >= 0 &&
                    (ex.route.key_count > 1 || f->retry_after_s)) {
                    // Rest this key; another key of the provider may go at once.
                    const auto rest = f->retry_after_s
                                          ? std::chrono::milliseconds(static_cast<std::int64_t>(*f->retry_after_s * 1000))
                                          : std::chrono::milliseconds(rs.key_cooldown_ms);
                    router.keys().cool_down(ex.route.resolved.provider->name, ex.route.resolved.model, key, rest);
                    if (ex.route.key_count > 1) {
                        failed_keys.push_back(key);
                        if (static_cast<int>(failed_keys.size()) < ex.route.key_count) {
                            last = f;
                            reason = "429 on provider key " + std::to_string(key + 1) + " of " +
                                     ex.route.resolved.provider->name + "; next key";
                            continue;
                        }
                        failed_keys.clear();  // all rested: a retry waits for the first to come back
                    }
                }
            }
            last = f;
            if (f->kind == wire::FailureKind::bad_request || f->kind == wire::FailureKind::internal) {
                caller_fault = true;  // the caller's fault (or ours): another model would fail the same way
                break;
            }
            if (wire::is_retryable(f->kind) && retries < ex.max_retries) {
                const auto delay = backoff_delay(rs, retries + 1, *f);
                const bool too_long = delay > std::chrono::milliseconds(rs.max_retry_wait_ms);
                if (!(too_long && more_candidates) && Clock::now() + delay < ex.deadline) {
                    // A key rested for exactly Retry-After is usable again a moment after it.
                    std::this_thread::sleep_for(delay + (f->retry_after_s ? std::chrono::milliseconds(5)
                                                                           : std::chrono::milliseconds(0)));
                    ++retries;
                    reason = "retry " + std::to_string(retries) + " after " + describe(*f, where);
                    continue;
                }
            }
            break;
        }
        if (caller_fault) {
            break;
        }
        if (more_candidates && last) {
            reason = "fallback to " + plan.candidates[ci + 1].model + " after " + describe(*last, cand.model);
        }
    }
exhausted:
    if (last_note) {
        ex.attempt_reason = last_note->reason;  // the final row is the last failed attempt
    }
    return std::unexpected(last ? std::move(*last) : wire::internal_error("no model to try"));
}

std::expected<providers::ChatResult, wire::Failure> chat_once(Gateway& gw, Exchange& ex, const nlohmann::json& canonical)
{
    const routing::Route& route = ex.route;
    if (route.is_mock()) {
        return providers::mock::complete(canonical, route.target.model, ex.request_id, unix_s());
    }
    auto up_req = route.adapter->chat_request(canonical, route.target, false);
    if (!up_req) {
        return std::unexpected(std::move(up_req.error()));
    }
    auto resp = gw.upstream().send(route.target.base_url, *up_req, attempt_timeouts(ex));
    if (!resp) {
        return std::unexpected(std::move(resp.error()));
    }
    if (resp->status < 200 || resp->status >= 300) {
        return std::unexpected(route.adapter->classify_error(resp->status, resp->body, resp->headers));
    }
    return route.adapter->chat_response(resp->body, route.target);
}

std::expected<providers::ChatResult, wire::Failure> embeddings_once(Gateway& gw, Exchange& ex, const nlohmann::json& body)
{
    const routing::Route& route = ex.route;
    if (route.is_mock()) {
        return providers::mock::embeddings(body, route.target.model);
    }
    auto up = route.adapter->embeddings_request(body, route.target);
    if (!up) {
        return std::unexpected(std::move(up.error()));
    }
    auto resp = gw.upstream().send(route.target.base_url, *up, attempt_timeouts(ex));
    if (!resp) {
        return std::unexpected(std::move(resp.error()));
    }
    if (resp->status < 200 || resp->status >= 300) {
        return std::unexpected(route.adapter->classify_error(resp->status, resp->body, resp->headers));
    }
    return route.adapter->embeddings_response(resp->body, route.target);
}

namespace {

/// Decodes what `bytes` completes into chunks (st.chunks). Returns false once the stream
/// failed (st.failure set).
bool decode(StreamState& st, const std::string& bytes, routing::UpstreamStream::ReadResult r)
{
    st.events.clear();
    if (!bytes.empty()) {
        if (auto fed = st.decoder->feed(bytes, st.events); !fed) {
            st.failure = std::move(fed.error());
        }
    }
    if (r != routing::UpstreamStream::ReadResult::data) {
        st.decoder->finish(st.events);
    }
    for (const auto& ev : st.events) {
        if (st.failure || st.translator->finished()) {
            break;
        }
        auto ok = st.translator->on_event(ev, st.chunks);
        if (!ok) {
            st.failure = std::move(ok.error());
        }
    }
    st.events.clear();
    for (const auto& c : st.chunks) {
        if (!st.saw_content && has_content(c)) {
            st.saw_content = true;
            st.ttft_ms = ms_since(st.ex->t0);
        }
    }
    return !st.failure;
}

/// Reads the upstream until the first content, the end, a failure or the first-byte
/// deadline, keeping what arrived (chunks, and raw bytes for passthrough) for the client.
std::expected<void, wire::Failure> hold_back(StreamState& st)
{
    const Exchange& ex = *st.ex;
    const auto deadline = std::min(Clock::now() + ex.timeouts.first_byte, ex.deadline);
    std::string bytes;
    while (!st.saw_content) {
        bytes.clear();
        const auto now = Clock::now();
        if (now >= deadline) {
            st.upstream->cancel();
            return std::unexpected(wire::gateway_timeout("no content from " + ex.route.resolved.id + " within " +
                                                   ms_text(std::min(ex.timeouts.first_byte, ex.timeouts.total)) +
                                                   " (first-byte timeout)"));
        }
        auto wait = std::min(std::chrono::duration_cast<std::chrono::milliseconds>(deadline - now),
                             std::chrono::milliseconds(250));
        auto r = st.upstream->read(bytes, std::max(wait, std::chrono::milliseconds(1)));
        if (r == routing::UpstreamStream::ReadResult::waiting) {
            continue;
        }
        if (st.passthrough) {
            st.held += bytes;
        }
        if (!decode(st, bytes, r)) {
            st.upstream->cancel();
            return std::unexpected(*st.failure);
        }
        if (st.translator->finished()) {
            break;  // a complete answer without content (empty text): nothing left to fail
        }
        if (r != routing::UpstreamStream::ReadResult::data) {
            if (r == routing::UpstreamStream::ReadResult::failed && st.upstream->failure()) {
                return std::unexpected(*st.upstream->failure());
            }
            return std::unexpected(cut_stream_failure(ex));
        }
    }
    st.last_data = Clock::now();
    return {};
}

/// Opens the upstream stream and checks its status; the error body of a non-2xx answer
/// goes to `error_body` when asked for.
std::expected<void, wire::Failure> open_upstream(Gateway& gw, StreamState& st, const providers::UpstreamRequest& req,
                                                 std::string* error_body)
{
    const Exchange& ex = *st.ex;
    st.upstream = gw.upstream().open_stream(ex.route.target.base_url, req, stream_socket_timeouts(ex));
    const auto deadline = std::min(Clock::now() + ex.timeouts.first_byte, ex.deadline);
    auto status = st.upstream->wait_status(deadline);
    if (!status) {
        return std::unexpected(std::move(status.error()));
    }
    if (*status < 200 || *status >= 300) {
        std::string body;
        st.upstream->read_all(body, deadline);
        auto f = ex.route.adapter->classify_error(*status, body, st.upstream->headers());
        if (error_body != nullptr) {
            *error_body = std::move(body);
        }
        return std::unexpected(std::move(f));
    }
    return {};
}

}  // namespace

std::expected<std::shared_ptr<StreamState>, wire::Failure> open_chat_stream(Gateway& gw, std::shared_ptr<Exchange> ex,
                                                                             const nlohmann::json& canonical)
{
    auto st = std::make_shared<StreamState>();
    st->ex = ex;
    const routing::Route& route = ex->route;
    if (route.is_mock()) {
        st->mock_chunks = providers::mock::stream_chunks(canonical, route.target.model, ex->request_id, unix_s());
        st->mock_delay = providers::mock::chunk_delay(route.target.model);
        if (!st->mock_chunks.empty() && is_usage_only(st->mock_chunks.back())) {
            st->mock_usage = wire::usage_from_openai(st->mock_chunks.back()["usage"]);
        }
        return st;
    }
    auto up_req = route.adapter->chat_request(canonical, route.target, true);
    if (!up_req) {
        return std::unexpected(std::move(up_req.error()));
    }
    if (auto opened = open_upstream(gw, *st, *up_req, nullptr); !opened) {
        return std::unexpected(std::move(opened.error()));
    }
    st->translator = route.adapter->chat_stream(route.target);
    st->decoder = route.adapter->stream_decoder();
    if (auto held = hold_back(*st); !held) {
        return std::unexpected(std::move(held.error()));
    }
    return st;
}

std::expected<std::shared_ptr<StreamState>, wire::Failure> open_passthrough_stream(
    Gateway& gw, std::shared_ptr<Exchange> ex, const providers::UpstreamRequest& upstream_request,
    std::unique_ptr<providers::StreamTranslator> tap, std::string* upstream_body)
{
    auto st = std::make_shared<StreamState>();
    st->ex = ex;
    st->passthrough = true;
    st->translator = std::move(tap);
    st->decoder = providers::make_sse_decoder();
    if (auto opened = open_upstream(gw, *st, upstream_request, upstream_body); !opened) {
        return std::unexpected(std::move(opened.error()));
    }
    if (auto held = hold_back(*st); !held) {
        return std::unexpected(std::move(held.error()));
    }
    return st;
}

namespace {

void write_chunks(StreamState& st, std::string& out)
{
    for (const auto& c : st.chunks) {
        if (auto choices = c.find("choices"); choices != c.end() && choices->is_array()) {
            for (const auto& choice : *choices) {
                auto d = choice.find("delta");
                if (d != choice.end() && d->is_object()) {
                    if (auto t = d->find("content"); t != d->end() && t->is_string()) {
                        st.delivered_chars += t->get_ref<const std::string&>().size();
                    }
                }
            }
        }
        st.writer->chunk(c, out);
    }
    st.chunks.clear();
}

/// The usage to bill for a stream that ended early: what the upstream reported, else an
/// estimate from the text delivered (about four characters a token).
wire::Usage delivered_usage(const StreamState& st, const wire::Usage& reported)
{
    wire::Usage u = reported;
    if (u.output_tokens == 0 && st.delivered_chars > 0) {
        u.output_tokens = static_cast<std::int64_t>((st.delivered_chars + 3) / 4);
    }
    return u;
}

/// Produces the next bytes of an upstream stream into `out`. Returns false when the
/// client went away.
bool pump_upstream(Gateway& gw, StreamState& st, httplib::DataSink& sink, std::string& out)
{
    const Exchange& ex = *st.ex;
    if (!st.held.empty() || !st.chunks.empty()) {
        // What the hold-back read goes out first.
        if (st.passthrough) {
            out += st.held;
            st.held.clear();
            st.chunks.clear();
        } else {
            write_chunks(st, out);
        }
        if (!st.translator->finished()) {
            return true;
        }
    }
    std::string bytes;
    auto r = routing::UpstreamStream::ReadResult::end;
    if (!st.translator->finished()) {
        r = st.upstream->read(bytes, std::chrono::milliseconds(250));
        const auto now = Clock::now();
        if (r == routing::UpstreamStream::ReadResult::waiting) {
            if (!sink.is_writable()) {
                return false;  // the client went away
            }
            if (now - st.last_data > ex.timeouts.idle || now >= ex.deadline) {
                st.upstream->cancel();
                st.failure = wire::gateway_timeout(
                    now >= ex.deadline ? "the request ran out of time (" + ms_text(ex.timeouts.total) + ") mid-stream"
                                       : "no data from " + ex.route.resolved.id + " for " + ms_text(ex.timeouts.idle) +
                                             " mid-stream (idle timeout)");
                st.writer->error(*st.failure, out);
                st.finished = true;
            }
            return true;
        }
        st.last_data = now;
        decode(st, bytes, r);
        if (st.passthrough) {
            st.chunks.clear();
            out += bytes;  // an upstream error event too goes out as the upstream sent it
        } else {
            write_chunks(st, out);
        }
    }
    if (st.failure) {
        if (!st.passthrough) {
            st.writer->error(*st.failure, out);
        }
        st.finished = true;
    } else if (st.translator->finished()) {
        auto usage = st.translator->usage();
        if (!st.passthrough) {
            st.writer->done(usage, gw.cost_of(ex, usage), out);
        }
        st.finished = true;
        st.upstream->cancel();  // whatever trails the terminal event is not needed
    } else if (r != routing::UpstreamStream::ReadResult::data) {
        st.failure = cut_stream_failure(ex);
        st.writer->error(*st.failure, out);
        st.finished = true;
    }
    return true;
}

}  // namespace

void install_stream_body(Gateway& gw, std::shared_ptr<StreamState> st, std::unique_ptr<StreamWriter> writer,
                         httplib::Response& res)
{
    st->writer = std::move(writer);
    Gateway* gwp = &gw;
    res.set_header("Cache-Control", "no-cache");
    res.set_header("X-Accel-Buffering", "no");
    res.set_chunked_content_provider(
        "text/event-stream",
        [st, gwp](size_t, httplib::DataSink& sink) -> bool {
            if (st->finished) {
                sink.done();
                return true;
            }
            std::string& out = st->scratch;
            out.clear();
            if (st->upstream == nullptr) {
                // Mock: one chunk per call, paced by the model's delay.
                if (st->mock_next > 0 && st->mock_delay.count() > 0) {
                    std::this_thread::sleep_for(st->mock_delay);
                }
                if (st->mock_next < st->mock_chunks.size()) {
                    if (st->ttft_ms < 0 && has_content(st->mock_chunks[st->mock_next])) {
                        st->ttft_ms = ms_since(st->ex->t0);
                    }
                    st->chunks.push_back(std::move(st->mock_chunks[st->mock_next++]));
                    write_chunks(*st, out);
                }
                if (st->mock_next == st->mock_chunks.size()) {
                    st->writer->done(st->mock_usage, gwp->cost_of(*st->ex, st->mock_usage), out);
                    st->finished = true;
                }
            } else if (!pump_upstream(*gwp, *st, sink, out)) {
                return false;
            }
            if (!out.empty() && !sink.write(out.data(), out.size())) {
                return false;
            }
            if (st->finished) {
                sink.done();
            }
            return true;
        },
        [st, gwp](bool) {
            if (st->upstream) {
                st->upstream->cancel();  // closes the upstream connection now if it is still open
            }
            wire::Usage usage = st->upstream ? st->translator->usage() : st->mock_usage;
            int status = 200;
            std::string error;
            if (st->failure) {
                status = st->failure->status;
                error = st->failure->message;
                usage = delivered_usage(*st, usage);
            } else if (!st->finished) {
                // The client closed the connection before the end. (`success` is false too when
                // it closed right after the terminal event: that answer was delivered whole.)
                status = 499;
                error = "client disconnected mid-stream";
                usage = delivered_usage(*st, usage);
            }
            gwp->record(*st->ex, status, usage, gwp->cost_of(*st->ex, usage), std::move(error), st->ttft_ms);
        });
}

}  // namespace aigw::daemon::server

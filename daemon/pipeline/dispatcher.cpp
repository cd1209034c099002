#include "daemon/pipeline/dispatcher.hpp"

#include "daemon/cluster/shared_limits.hpp"
#include "daemon/http/parsing.hpp"
#include "daemon/pipeline/chunk_scan.hpp"
#include "daemon/pipeline/trace_spans.hpp"
#include "daemon/telemetry/exporter.hpp"
#include "shared/wire/ascii.hpp"
#include "shared/wire/json_text.hpp"
#include "shared/wire/secrets.hpp"
#include "shared/wire/sse.hpp"
#include "shared/wire/utf8.hpp"

#include <boost/asio/this_coro.hpp>

#include <algorithm>
#include <charconv>
#include <random>

namespace aigw::daemon::pipeline {

/// A decoded chunk waiting for the client: built (`doc`), or the upstream's own JSON text of a
/// chunk the translator would have passed through unchanged (`text`), not parsed.
struct Chunk {
    nlohmann::json doc;
    std::string text;
    std::size_t content_chars = 0;  ///< text: the bytes of delta content in it
    bool usage_only = false;        ///< text: the stream's usage chunk
};

/// State of one streamed answer, shared by the attempt that opened it and the relay.
struct StreamState {
    std::shared_ptr<Exchange> ex;
    std::shared_ptr<upstream::BodyStream> upstream;
    std::unique_ptr<providers::StreamTranslator> translator;
    std::unique_ptr<providers::StreamDecoder> decoder;
    bool passthrough = false;  ///< relay upstream bytes as they are; the translator only taps
    std::string held;          ///< passthrough: bytes read while holding back
    bool ended = false;        ///< the upstream body ended cleanly (during hold-back too)
    std::int64_t ttft_ms = -1;
    bool saw_content = false;
    std::size_t delivered_chars = 0;  ///< text sent to the client, to estimate usage of a cut stream
    std::optional<wire::Failure> failure;
    std::vector<wire::SseEvent> events;
    std::vector<nlohmann::json> translated;  ///< the translator's output for one event
    std::vector<Chunk> chunks;               ///< decoded, not yet written
};

namespace {

std::int64_t unix_ms()
{
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
        .count();
}

std::int64_t unix_ns()
{
    return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now().time_since_epoch())
        .count();
}

/// Sets `name` in `headers`, replacing any value it had (names compared case-insensitively).
void set_header(providers::HeaderList& headers, std::string_view name, std::string value)
{
    std::erase_if(headers, [name](const auto& h) { return wire::ascii_iequals(h.first, name); });
    headers.emplace_back(std::string(name), std::move(value));
}

/// Adds the attempt's traceparent (and the client's tracestate) to an upstream request.
/// Returns false when the request carries no trace context.
bool add_trace_headers(const Exchange& ex, providers::HeaderList& headers)
{
    std::string tp = ex.trace.upstream_traceparent();
    if (tp.empty()) {
        return false;
    }
    set_header(headers, "traceparent", std::move(tp));
    if (!ex.trace.tracestate.empty()) {
        set_header(headers, "tracestate", ex.trace.tracestate);
    }
    return true;
}

/// `req` as it goes upstream: with the trace headers, in a copy (held in `copy`) only when
/// there are some to add and it does not carry them yet.
const providers::UpstreamRequest& traced(const Exchange& ex, const providers::UpstreamRequest& req,
                                         std::optional<providers::UpstreamRequest>& copy)
{
    const std::string tp = ex.trace.upstream_traceparent();
    if (tp.empty()) {
        return req;
    }
    for (const auto& [name, value] : req.headers) {
        if (value == tp && wire::ascii_iequals(name, "traceparent")) {
            return req;  // added where the request was built
        }
    }
    copy = req;
    add_trace_headers(ex, copy->headers);
    return *copy;
}

std::int64_t ms_since(Clock::time_point t0)
{
    return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t0).count();
}

std::string ms_text(std::chrono::milliseconds ms)
{
    return std::to_string(ms.count()) + " ms";
}

/// Constant-time comparison, so the key check leaks no prefix length.
bool same_secret(std::string_view a, std::string_view b)
{
    unsigned char diff = a.size() == b.size() ? 0 : 1;
    for (std::size_t i = 0; i < a.size(); ++i) {
        diff |= static_cast<unsigned char>(a[i] ^ b[i % (b.empty() ? 1 : b.size())]);
    }
    return diff == 0 && !b.empty();
}

std::string utc_date_time(std::int64_t unix_ms_value)
{
    const std::time_t t = static_cast<std::time_t>(unix_ms_value / 1000);
    std::tm tm{};
    gmtime_r(&t, &tm);
    char buf[32];
    std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M UTC", &tm);
    return buf;
}

/// "5000" (total) or "connect=500, first_byte=2000, idle=1000, total=5000" (any subset).
/// Returns what is wrong, or nullopt after updating `t`.
std::optional<std::string> parse_timeout_header(std::string_view text, RequestTimeouts& t)
{
    const std::string usage =
        "x-aigw-timeout-ms must be milliseconds, e.g. '5000', or "
        "'connect=500, first_byte=2000, idle=1000, total=5000'";
    auto number = [](std::string_view s) -> std::optional<std::chrono::milliseconds> {
        while (!s.empty() && s.front() == ' ') {
            s.remove_prefix(1);
        }
        while (!s.empty() && s.back() == ' ') {
            s.remove_suffix(1);
        }
        std::int64_t v = 0;
        auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
        if (s.empty() || ec != std::errc{} || p != s.data() + s.size() || v <= 0) {
            return std::nullopt;
        }
        return std::chrono::milliseconds(v);
    };
    if (text.find('=') == std::string_view::npos) {
        auto v = number(text);
        if (!v) {
            return usage;
        }
        t.total = *v;
        t.first_byte = std::min(t.first_byte, *v);
        t.idle = std::min(t.idle, *v);
        t.connect = std::min(t.connect, *v);
        return std::nullopt;
    }
    while (!text.empty()) {
        auto comma = text.find(',');
        auto item = text.substr(0, comma);
        auto eq = item.find('=');
        if (eq == std::string_view::npos) {
            return usage;
        }
        auto name = item.substr(0, eq);
        while (!name.empty() && name.front() == ' ') {
            name.remove_prefix(1);
        }
        while (!name.empty() && name.back() == ' ') {
            name.remove_suffix(1);
        }
        auto v = number(item.substr(eq + 1));
        if (!v) {
            return usage;
        }
        if (name == "connect") {
            t.connect = *v;
        } else if (name == "first_byte") {
            t.first_byte = *v;
        } else if (name == "idle") {
            t.idle = *v;
        } else if (name == "total") {
            t.total = *v;
        } else {
            return usage;
        }
        if (comma == std::string_view::npos) {
            break;
        }
        text.remove_prefix(comma + 1);
    }
    return std::nullopt;
}

wire::Failure cut_stream_failure(const Exchange& ex)
{
    wire::Failure f;
    f.kind = wire::FailureKind::upstream;
    f.status = 502;
    f.message =
        "the upstream stream from " + ex.route.resolved.id + " ended before its final event; the answer is incomplete";
    return f;
}

/// The deadlines of one attempt: connect within the connect timeout, the answer (or the
/// stream's status line) within the first-byte timeout, neither past the request's total.
upstream::Deadlines attempt_deadlines(const Exchange& ex)
{
    const auto now = Clock::now();
    return upstream::Deadlines{std::min(now + ex.timeouts.connect, ex.deadline),
                               std::min(now + ex.timeouts.first_byte, ex.deadline)};
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

/// The first content of the answer: time to first token is now.
void mark_content(StreamState& st)
{
    if (!st.saw_content) {
        st.saw_content = true;
        st.ttft_ms = ms_since(st.ex->t0);
    }
}

/// Runs one event through the translator: its chunks go to st.chunks, an error to st.failure.
void translate(StreamState& st, const wire::SseEvent& ev)
{
    st.translated.clear();
    try {
        auto ok = st.translator->on_event(ev, st.translated);
        if (!ok) {
            st.failure = std::move(ok.error());
        }
    } catch (const std::exception& e) {
        // A translator must never throw; if one does, the answer is malformed.
        wire::Failure f;
        f.kind = wire::FailureKind::upstream;
        f.status = 502;
        f.message = "the upstream stream from " + st.ex->route.resolved.id + " could not be read: " + e.what();
        st.failure = std::move(f);
    }
    for (auto& c : st.translated) {
        if (!st.saw_content && has_content(c)) {
            mark_content(st);
        }
        note_finish_reasons(st.ex->trace, c);
        st.chunks.push_back(Chunk{std::move(c), {}, 0, false});
    }
}

/// Decodes what `bytes` completes into chunks (st.chunks). `end`: the body ended. `scan`: the
/// translator passes chunks through, and a chunk it would pass unchanged is kept as its text,
/// read by scan_chunk() instead of parsed. Returns false once the stream failed (st.failure set).
bool decode(StreamState& st, std::string_view bytes, bool end, bool scan)
{
    st.events.clear();
    if (!bytes.empty()) {
        if (auto fed = st.decoder->feed(bytes, st.events); !fed) {
            st.failure = std::move(fed.error());
        }
    }
    if (end) {
        st.decoder->finish(st.events);
    }
    for (auto& ev : st.events) {
        if (st.failure || st.translator->finished()) {
            break;
        }
        auto facts = scan && ev.data != "[DONE]" ? scan_chunk(ev.data) : std::nullopt;
        if (!facts) {
            translate(st, ev);  // [DONE], usage, errors: what the translator must see
            continue;
        }
        if (facts->usage.is_object()) {
            if (auto taken = st.translator->take_usage(facts->usage); !taken) {
                st.failure = std::move(taken.error());
                break;
            }
        }
        if (facts->has_content) {
            mark_content(st);
        }
        note_finish_reasons(st.ex->trace, facts->finish_reasons);
        st.chunks.push_back(Chunk{{}, std::move(ev.data), facts->content_chars, facts->usage_only});
    }
    st.events.clear();
    return !st.failure;
}

/// Writes the decoded chunks through the surface's writer, counting delivered text. A chunk
/// kept as text goes out as it came when the writer takes it so; otherwise it is built here.
void write_chunks(StreamState& st, StreamWriter& writer, std::string& out)
{
    for (auto& c : st.chunks) {
        if (c.text.empty()) {
            st.delivered_chars += content_chars(c.doc);
            writer.chunk(c.doc, out);
            continue;
        }
        st.delivered_chars += c.content_chars;
        if (writer.writes_verbatim()) {
            writer.verbatim(c.text, c.usage_only, out);
        } else {
            writer.chunk(wire::parse_json_lenient(c.text), out);  // scan_chunk() read it: it parses
        }
    }
    st.chunks.clear();
}

/// Reads the upstream until the first content, the end, a failure or the first-byte
/// deadline, keeping what arrived (chunks, and raw bytes for passthrough) for the client.
asio::awaitable<std::expected<void, wire::Failure>> hold_back(StreamState& st)
{
    const Exchange& ex = *st.ex;
    const auto deadline = std::min(Clock::now() + ex.timeouts.first_byte, ex.deadline);
    std::string bytes;
    while (!st.saw_content) {
        bytes.clear();
        auto r = co_await st.upstream->read(bytes, deadline);
        if (!r) {
            st.upstream->cancel();
            if (r.error().kind == wire::FailureKind::timeout) {
                co_return std::unexpected(wire::gateway_timeout(
                    "no content from " + ex.route.resolved.id + " within " +
                    ms_text(std::min(ex.timeouts.first_byte, ex.timeouts.total)) + " (first-byte timeout)"));
            }
            co_return std::unexpected(std::move(r.error()));
        }
        const bool end = !*r;
        st.ended = end;
        if (st.passthrough) {
            st.held += bytes;
        }
        // A translator that passes chunks through has them scanned, not parsed: the relay
        // may send them as they came (to a client of the same format).
        if (!decode(st, bytes, end, !st.passthrough && st.translator->passes_chunks_through())) {
            st.upstream->cancel();
            co_return std::unexpected(*st.failure);
        }
        if (st.translator->finished()) {
            break;  // a complete answer without content (empty text): nothing left to fail
        }
        if (end) {
            co_return std::unexpected(cut_stream_failure(ex));
        }
    }
    co_return std::expected<void, wire::Failure>{};
}

/// A read from the upstream failed mid-stream: a timeout (`idle_first`: the idle gap, else
/// the total deadline) or a cut.
wire::Failure mid_stream_failure(const Exchange& ex, const wire::Failure& read_error, bool idle_first)
{
    if (read_error.kind == wire::FailureKind::timeout) {
        return wire::gateway_timeout(!idle_first
                                         ? "the request ran out of time (" + ms_text(ex.timeouts.total) + ") mid-stream"
                                         : "no data from " + ex.route.resolved.id + " for " +
                                               ms_text(ex.timeouts.idle) + " mid-stream (idle timeout)");
    }
    // The connection broke mid-body: the answer is incomplete, whatever the socket said.
    wire::Failure cut = cut_stream_failure(ex);
    cut.message += " (" + read_error.message + ")";
    return cut;
}

/// Whatever trails the terminal event is read briefly so a keep-alive connection can go back
/// to its pool.
asio::awaitable<void> read_trailer(StreamState& st, std::string& bytes)
{
    const auto until = Clock::now() + std::chrono::milliseconds(200);
    for (int i = 0; i < 4 && !st.ended; ++i) {
        bytes.clear();
        auto r = co_await st.upstream->read(bytes, until);
        if (!r) {
            break;
        }
        st.ended = !*r;
    }
}

}  // namespace

http::Response failure_response(const wire::Failure& f, Shape shape)
{
    http::Response res;
    res.status = f.status;
    if (f.retry_after_s && *f.retry_after_s >= 0 && *f.retry_after_s < 1e9) {
        res.set_header("Retry-After", std::to_string(static_cast<long>(*f.retry_after_s + 0.999)));
    }
    switch (shape) {
        case Shape::anthropic:
            res.set_content(wire::dump_json(wire::to_anthropic_error(f)));
            break;
        case Shape::gemini:
            res.set_content(wire::dump_json(wire::to_gemini_error(f)));
            break;
        case Shape::openai:
            res.set_content(wire::dump_json(wire::to_openai_error(f)));
            break;
    }
    return res;
}

http::Response failure_response(const wire::Failure& f, Shape shape, const http::Headers& so_far)
{
    http::Response res = failure_response(f, shape);
    for (const auto& [name, value] : so_far.items()) {
        if (!res.headers.has(name)) {
            res.headers.add(name, value);
        }
    }
    return res;
}

http::Response upstream_failure_response(const wire::Failure& f, std::string native_body, Shape shape,
                                         const http::Headers& so_far)
{
    if (native_body.empty() || !nlohmann::json::accept(native_body)) {
        return failure_response(f, shape, so_far);
    }
    http::Response res = failure_response(f, shape, so_far);  // status, Retry-After, our headers
    res.set_content(std::move(native_body));
    return res;
}

void set_route_headers(http::Response& res, const Exchange& ex)
{
    if (ex.route.resolved.provider != nullptr) {
        res.set_header("x-aigw-provider", ex.route.resolved.provider->name);
        res.set_header("x-aigw-model", wire::header_safe(ex.route.resolved.id));
    }
    if (!ex.failed_attempts.empty()) {
        res.set_header("x-aigw-attempts", std::to_string(ex.failed_attempts.size() + 1));
    }
    if (!ex.attempt_reason.empty()) {
        res.set_header("x-aigw-fallback-reason", wire::header_safe(ex.attempt_reason));
    }
    if (!ex.variant.empty()) {
        res.set_header("x-aigw-variant", wire::header_safe(ex.variant));
    }
}

std::string presented_key(const http::Request& req)
{
    const auto auth = req.header("Authorization");
    if (auth.size() > 7 && (auth.starts_with("Bearer ") || auth.starts_with("bearer "))) {
        return std::string(auth.substr(7));
    }
    if (req.has_header("x-api-key")) {
        return std::string(req.header("x-api-key"));
    }
    return std::string(req.header("x-goog-api-key"));  // the Gemini API's header
}

std::string request_id_at(std::int64_t unix_ms_now)
{
    thread_local std::mt19937_64 rng{std::random_device{}()};
    static constexpr char k_hex[] = "0123456789abcdef";
    std::string out = "req_";
    out.resize(4 + 24);
    auto t = static_cast<std::uint64_t>(unix_ms_now);
    for (int i = 11; i >= 0; --i) {
        out[4 + static_cast<std::size_t>(i)] = k_hex[t & 0xf];
        t >>= 4;
    }
    std::uint64_t r = rng();
    for (std::size_t i = 16; i < 28; ++i) {
        out[i] = k_hex[r & 0xf];
        r >>= 4;
    }
    return out;
}

std::expected<std::string, std::string> session_of(const http::Request& req)
{
    if (req.has_header("x-aigw-session")) {
        const std::string_view explicit_session = req.header("x-aigw-session");
        if (!http::is_valid_session_id(explicit_session)) {
            return std::unexpected(http::invalid_session_message("x-aigw-session"));
        }
        return std::string(explicit_session);
    }
    for (const std::string_view name : k_agent_session_headers) {
        const std::string_view value = req.header(name);
        if (http::is_valid_session_id(value)) {
            return std::string(value);
        }
    }
    return std::string();
}

Dispatcher::Dispatcher(Services s, AttemptEnv env) : m_s(std::move(s)), m_env(std::move(env))
{}

std::shared_ptr<Exchange> Dispatcher::begin(std::string surface, const http::Request& req) const
{
    const config::Config& cfg = config();
    auto ex = std::make_shared<Exchange>();
    ex->ts_ms = unix_ms();
    ex->request_id = request_id_at(ex->ts_ms);
    ex->t0 = Clock::now();
    ex->surface = std::move(surface);
    ex->tag = std::string(req.header("x-aigw-tag").substr(0, 200));
    if (auto session = session_of(req)) {
        ex->session = std::move(*session);
    } else {
        ex->header_error = wire::bad_request(session.error(), "x-aigw-session");
    }
    ex->fallback_header = std::string(req.header("x-aigw-fallback"));
    ex->max_retries = cfg.routing.retries;
    ex->timeouts = RequestTimeouts{
        std::chrono::milliseconds(cfg.connect_timeout_ms), std::chrono::milliseconds(cfg.first_byte_timeout_ms),
        std::chrono::milliseconds(cfg.idle_timeout_ms), std::chrono::milliseconds(cfg.total_timeout_ms)};
    if (req.has_header("x-aigw-timeout-ms")) {
        if (auto bad = parse_timeout_header(req.header("x-aigw-timeout-ms"), ex->timeouts)) {
            ex->header_error = wire::bad_request(*bad, "x-aigw-timeout-ms");
        }
    }
    if (req.has_header("x-aigw-retries")) {
        const auto v = req.header("x-aigw-retries");
        int n = -1;
        auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
        if (ec != std::errc{} || p != v.data() + v.size() || n < 0 || n > 10) {
            ex->header_error =
                wire::bad_request("x-aigw-retries must be a whole number from 0 to 10", "x-aigw-retries");
        } else {
            ex->max_retries = n;
        }
    }
    ex->deadline = ex->t0 + ex->timeouts.total;
    if (req.access) {
        ex->access = req.access;
        ex->access->request_id = ex->request_id;
        ex->access->surface = ex->surface;
    }
    if (m_s.traces != nullptr || req.has_header("traceparent")) {
        begin_trace(*ex, req);
    }
    return ex;
}

void Dispatcher::begin_trace(Exchange& ex, const http::Request& req) const
{
    telemetry::RequestTrace& t = ex.trace;
    const auto parent =
        req.has_header("traceparent") ? telemetry::parse_traceparent(req.header("traceparent")) : std::nullopt;
    if (parent) {
        // tracestate is only meaningful with the traceparent it came with.
        t.client_traceparent = std::string(req.header("traceparent"));
        t.tracestate = std::string(req.header("tracestate").substr(0, 512));
    }
    if (m_s.traces == nullptr) {
        return;  // nothing exported: the client's traceparent goes upstream unchanged
    }
    t.on = true;
    t.start_unix_ns = unix_ns();
    t.span_id = telemetry::random_span_id();
    if (parent) {
        t.trace_id = parent->trace_id;
        t.parent = parent->parent_id;
        t.flags = parent->flags & 1;
        t.sampled = parent->sampled();  // the caller decided for its trace
    } else {
        t.trace_id = telemetry::random_trace_id();
        t.sampled = telemetry::sampled_by_ratio(t.trace_id, m_s.traces->options().sample_ratio);
        t.flags = t.sampled ? 1 : 0;
    }
}

bool Dispatcher::is_gateway_key(std::string_view presented) const
{
    return !presented.empty() && same_secret(presented, m_s.gateway_key);
}

std::optional<wire::Failure> Dispatcher::authorize_admin(const http::Request& req) const
{
    const std::string presented = presented_key(req);
    if (is_gateway_key(presented)) {
        return std::nullopt;
    }
    if (m_s.keys != nullptr && presented.starts_with(limits::k_virtual_key_prefix) &&
        m_s.keys->authenticate(presented).verdict == limits::KeyStore::Verdict::ok) {
        wire::Failure f;
        f.kind = wire::FailureKind::auth;
        f.status = 403;
        f.code = "permission_denied";
        f.message =
            "Virtual keys can call the model endpoints (/v1/chat/completions, /v1/responses, /v1/embeddings, "
            "/v1/messages, /v1/models) but not the admin API under /aigw/v1; use the gateway key for that.";
        return f;
    }
    return wire::unauthorized(presented.empty()
                                  ? "Missing gateway key. Send 'Authorization: Bearer <key>'; the key is "
                                    "AIGW_API_KEY or the file gateway.key in the aigw data dir."
                                  : "Incorrect gateway key. Use AIGW_API_KEY or the key in gateway.key in "
                                    "the aigw data dir (this is aigw's own key, not a provider key).");
}

std::optional<wire::Failure> Dispatcher::authorize_metrics(const http::Request& req) const
{
    const std::string& token = config().metrics_token;
    if (!token.empty()) {
        const std::string presented = presented_key(req);
        if (!presented.empty() && same_secret(presented, token)) {
            return std::nullopt;
        }
    }
    return authorize_admin(req);
}

std::optional<wire::Failure> Dispatcher::authorize(const http::Request& req, Exchange& ex) const
{
    const std::string presented = presented_key(req);
    if (is_gateway_key(presented)) {
        ex.key_id = k_admin_key_id;
        if (ex.access) {
            ex.access->key_id = ex.key_id;
        }
        return std::nullopt;
    }
    if (presented.starts_with(limits::k_virtual_key_prefix)) {
        const auto found = m_s.keys->authenticate(presented);
        switch (found.verdict) {
            case limits::KeyStore::Verdict::ok:
                ex.key_id = found.key->id;
                if (ex.access) {
                    ex.access->key_id = ex.key_id;
                }
                return std::nullopt;
            case limits::KeyStore::Verdict::revoked:
                return wire::unauthorized("The key '" + found.key->name + "' (" + found.key->id + ") was revoked on " +
                                          utc_date_time(found.key->revoked_ms) +
                                          ". Ask the gateway's admin for a new key.");
            case limits::KeyStore::Verdict::expired:
                return wire::unauthorized("The key '" + found.key->name + "' (" + found.key->id + ") expired on " +
                                          utc_date_time(found.key->expires_ms) +
                                          ". Ask the gateway's admin for a new key.");
            case limits::KeyStore::Verdict::unknown:
                break;
        }
    }
    return authorize_admin(req).value_or(wire::unauthorized("Incorrect gateway key."));
}

asio::awaitable<std::optional<wire::Failure>> Dispatcher::admit(Exchange& ex, const nlohmann::json& body,
                                                                const config::ResolvedModel& model)
{
    std::shared_ptr<const limits::VirtualKey> key;
    if (ex.key_id != k_admin_key_id) {
        key = m_s.keys->by_id(ex.key_id);
    }
    const std::string& model_id = model.id;
    std::int64_t estimate = 0;
    if (m_s.limiter->counts_tokens(key.get(), model_id)) {
        estimate = limits::estimate_tokens(body);
    }
    if (ex.admitted_model == model_id) {
        co_return std::nullopt;  // admitted up front, before the cache lookup
    }
    // A fallback candidate is admitted on its own; what the previous one held goes back first.
    if (!ex.reservation.model.empty() || ex.reservation.cost_usd > 0 || ex.reservation.tokens > 0 ||
        !ex.reservation.hold_id.empty()) {
        release_reservation(ex);
    }
    std::optional<wire::Failure> refused;
    if (m_s.shared_limits == nullptr) {
        refused = m_s.limiter->admit(key.get(), ex.key_id, model_id, ex.requested_model, estimate,
                                     limits::estimate_cost(body, model), ex.reservation);
    } else {
        limits::CostEstimate cost = limits::estimate_cost(body, model);
        refused = co_await admit_shared(ex, key.get(), model_id, estimate, cost);
    }
    if (!refused) {
        ex.admitted_model = model_id;
    } else {
        m_metrics.on_refusal(ex.key_id, refused->code.empty() ? std::string_view("other") : refused->code);
    }
    co_return refused;
}

asio::awaitable<std::optional<wire::Failure>> Dispatcher::admit_shared(Exchange& ex, const limits::VirtualKey* key,
                                                                       const std::string& model_id,
                                                                       std::int64_t estimate, limits::CostEstimate cost)
{
    std::vector<limits::RateNeed> rates;
    std::vector<limits::BudgetNeed> budgets;
    auto refused = m_s.limiter->admit_shared(key, ex.key_id, model_id, ex.requested_model, estimate, cost,
                                             ex.reservation, rates, &budgets);
    if (refused) {
        co_return refused;  // allow-list, unpriced model under a budget: Redis is not asked
    }
    bool fell_back = false;
    if (!budgets.empty()) {
        if (auto f = co_await hold_shared_budgets(ex, key, std::move(budgets), fell_back)) {
            co_return f;
        }
    }
    if (rates.empty()) {
        co_return std::nullopt;  // no rate limit applies
    }
    std::vector<cluster::BucketNeed> needs;
    needs.reserve(rates.size());
    for (const auto& r : rates) {
        needs.push_back(
            cluster::BucketNeed{.key = r.bucket, .capacity = static_cast<double>(r.per_minute), .amount = r.amount});
    }
    const cluster::SharedLimits::Outcome outcome = co_await m_s.shared_limits->take(std::move(needs));
    auto give_back = [&] { release_reservation(ex); };
    switch (outcome.verdict) {
        case cluster::SharedLimits::Verdict::allowed:
            ex.reservation.shared_rates = true;
            for (auto& r : rates) {
                if (r.unit == "tokens") {
                    ex.reservation.shared_tpm.push_back(std::move(r));
                }
            }
            co_return std::nullopt;
        case cluster::SharedLimits::Verdict::refused:
            give_back();
            co_return limits::rate_limit_failure(outcome.retry_after_ms,
                                                 rates[std::min(outcome.blocked, rates.size() - 1)]);
        case cluster::SharedLimits::Verdict::unreachable:
            break;
    }
    if (config().cluster.redis_down == config::ClusterConfig::RedisDown::refuse) {
        m_cluster_refusals.fetch_add(1, std::memory_order_relaxed);
        give_back();
        co_return redis_down_refusal("rate_limit_store_unavailable", "rate limit", "limits", outcome.error);
    }
    // redis_down = "local": this instance's own buckets, for this request (logged once per outage).
    if (!fell_back) {
        m_cluster_fallbacks.fetch_add(1, std::memory_order_relaxed);
    }
    if (auto f = m_s.limiter->take_local_rates(key, ex.key_id, model_id, estimate, ex.reservation)) {
        give_back();
        co_return f;
    }
    co_return std::nullopt;
}

wire::Failure Dispatcher::redis_down_refusal(std::string_view code, std::string_view what, std::string_view local,
                                             const std::string& error) const
{
    const auto& o = m_s.shared_limits->redis_options();
    wire::Failure f;
    f.kind = wire::FailureKind::upstream;
    f.status = 503;
    f.code = std::string(code);
    f.type = "service_unavailable";
    f.retry_after_s = 1;
    f.message = "This request is under a " + std::string(what) + " shared through Redis, and Redis at " + o.host + ":" +
                std::to_string(o.port) + " cannot be reached (" + error +
                "). The gateway is set to refuse such requests then ([cluster] redis_down = \"refuse\"): "
                "start Redis or fix [cluster] redis_url, or set redis_down = \"local\" to fall back to "
                "per-instance " +
                std::string(local) + ".";
    return f;
}

asio::awaitable<std::optional<wire::Failure>> Dispatcher::hold_shared_budgets(Exchange& ex,
                                                                              const limits::VirtualKey* key,
                                                                              std::vector<limits::BudgetNeed> budgets,
                                                                              bool& fell_back)
{
    std::vector<cluster::BudgetHold> holds;
    holds.reserve(budgets.size());
    for (const auto& b : budgets) {
        holds.push_back(cluster::BudgetHold{
            .key = b.key, .limit_usd = b.limit_usd, .seed_usd = b.seed_usd, .expire_at_ms = b.expire_at_ms});
    }
    // A hold outlives the longest the request may take; one never settled (its instance
    // died) lapses then instead of holding the budget until the period ends.
    const std::int64_t hold_ttl_ms = ex.timeouts.total.count() + 60'000;
    const double estimate = ex.reservation.cost_usd;
    const cluster::SharedLimits::BudgetOutcome outcome =
        co_await m_s.shared_limits->hold(std::move(holds), estimate, hold_ttl_ms);
    switch (outcome.verdict) {
        case cluster::SharedLimits::Verdict::allowed:
            ex.reservation.shared_budgets = std::move(budgets);
            ex.reservation.hold_id = outcome.hold_id;
            co_return std::nullopt;
        case cluster::SharedLimits::Verdict::refused: {
            wire::Failure f = m_s.limiter->shared_budget_failure(
                key, budgets[std::min(outcome.blocked, budgets.size() - 1)], outcome.committed_usd, estimate);
            ex.reservation = {};
            co_return f;
        }
        case cluster::SharedLimits::Verdict::unreachable:
            break;
    }
    if (config().cluster.redis_down == config::ClusterConfig::RedisDown::refuse) {
        m_cluster_refusals.fetch_add(1, std::memory_order_relaxed);
        ex.reservation = {};
        co_return redis_down_refusal("budget_store_unavailable", "budget", "budgets", outcome.error);
    }
    // redis_down = "local": this instance's own tracker (the outage is logged once).
    m_cluster_fallbacks.fetch_add(1, std::memory_order_relaxed);
    fell_back = true;
    if (auto f = m_s.limiter->hold_local_budgets(key, ex.key_id, ex.reservation)) {
        ex.reservation = {};
        co_return f;
    }
    co_return std::nullopt;
}

void Dispatcher::release_reservation(Exchange& ex)
{
    m_s.limiter->release(ex.key_id, ex.reservation);
    if (ex.reservation.shared_budget && !ex.reservation.hold_id.empty() && m_s.shared_limits != nullptr) {
        std::vector<std::string> keys;
        for (const auto& b : ex.reservation.shared_budgets) {
            keys.push_back(b.key);
        }
        m_s.shared_limits->settle(std::move(keys), ex.reservation.hold_id, 0);
    }
    ex.reservation = {};
}

asio::awaitable<std::optional<wire::Failure>> Dispatcher::admit_requested(Exchange& ex, const nlohmann::json& body)
{
    // Resolved without routing: picking a route would advance the provider's key rotation.
    auto model = config::resolve_model(config(), ex.requested_model);
    if (!model) {
        ex.cache_blocked = true;  // the attempts will say why (or a fallback serves)
        co_return std::nullopt;
    }
    co_return co_await admit(ex, body, *model);
}

bool Dispatcher::model_visible(const Exchange& ex, std::string_view model_id) const
{
    if (ex.key_id == k_admin_key_id) {
        return true;
    }
    auto key = m_s.keys->by_id(ex.key_id);
    if (!key) {
        return true;
    }
    auto resolved = config::resolve_model(config(), model_id);
    return key->allows(resolved ? std::string_view(resolved->id) : model_id, model_id);
}

asio::awaitable<std::expected<void, wire::Failure>> Dispatcher::run(Exchange& ex, const nlohmann::json& canonical,
                                                                    const nlohmann::json& body, AttemptFn attempt)
{
    // Whatever an attempt's failure says goes to the client, the log and the ledger: scrubbed
    // of every credential the gateway holds first (some proxies echo the key they were sent).
    if (ex.trace.on) {
        note_request_parameters(ex, canonical);
    }
    auto scrubbed = [this,
                     &attempt](const routing::Route& route) -> asio::awaitable<std::expected<void, wire::Failure>> {
        auto r = co_await attempt(route);
        if (!r) {
            r.error().message = wire::scrub_secrets(r.error().message, secrets_of(route));
        }
        co_return r;
    };
    co_return co_await run_attempts(
        *m_s.router, config().routing, ex, canonical, scrubbed,
        [this, &ex, &body](const routing::Route& route) { return admit(ex, body, route.resolved); }, m_env);
}

std::vector<std::string> Dispatcher::secrets_of(const routing::Route& route) const
{
    return {route.target.api_key, route.target.aws.secret_access_key, route.target.aws.session_token, m_s.gateway_key};
}

upstream::Transport& Dispatcher::transport_for(const routing::Route& route)
{
    const bool mock = route.resolved.provider != nullptr && route.resolved.provider->wire == config::WireFormat::mock;
    return mock ? *m_s.mock : *m_s.http;
}

asio::awaitable<std::expected<upstream::HttpResponse, wire::Failure>> Dispatcher::send(
    const Exchange& ex, const providers::UpstreamRequest& req)
{
    const std::string& base_url = req.base_url.empty() ? ex.route.target.base_url : req.base_url;
    std::optional<providers::UpstreamRequest> copy;
    auto r = co_await transport_for(ex.route).send(base_url, traced(ex, req, copy), attempt_deadlines(ex));
    if (!r && r.error().kind == wire::FailureKind::timeout) {
        r.error().message = "no answer from " + ex.route.resolved.id + " within " +
                            ms_text(std::min(ex.timeouts.first_byte, ex.timeouts.total)) + " (" + r.error().message +
                            ")";
    }
    co_return r;
}

asio::awaitable<std::expected<upstream::HttpResponse, wire::Failure>> Dispatcher::send_native(
    const Exchange& ex, const providers::UpstreamRequest& req, std::string& upstream_body)
{
    auto resp = co_await send(ex, req);
    if (resp && (resp->status < 200 || resp->status >= 300)) {
        upstream_body = wire::scrub_secrets(resp->body, secrets_of(ex.route));
        co_return std::unexpected(ex.route.adapter->classify_error(resp->status, upstream_body, resp->headers));
    }
    co_return resp;
}

asio::awaitable<std::expected<providers::ChatResult, wire::Failure>> Dispatcher::chat_once(
    Exchange& ex, const nlohmann::json& canonical, bool bytes_will_do, std::string_view canonical_text)
{
    const routing::Route& route = ex.route;
    auto up_req = canonical_text.empty()
                      ? route.adapter->chat_request(canonical, route.target, false)
                      : route.adapter->chat_request_from_text(canonical, canonical_text, route.target, false);
    if (!up_req) {
        co_return std::unexpected(std::move(up_req.error()));
    }
    add_trace_headers(ex, up_req->headers);
    auto resp = co_await send(ex, *up_req);
    if (!resp) {
        co_return std::unexpected(std::move(resp.error()));
    }
    if (resp->status < 200 || resp->status >= 300) {
        co_return std::unexpected(route.adapter->classify_error(resp->status, resp->body, resp->headers));
    }
    if (bytes_will_do && route.adapter->chat_response_is_openai()) {
        // What OpenAI's chat_response() reads, read without building the answer (most of a
        // short request's cost); what the scan is not sure of goes to chat_response().
        if (auto facts = scan_completion(resp->body)) {
            providers::ChatResult result;
            result.usage = facts->usage;
            if (auto bad = wire::check_usage(result.usage)) {
                co_return std::unexpected(std::move(*bad));
            }
            ex.trace.finish_reasons.clear();
            note_finish_reasons(ex.trace, facts->finish_reasons);
            result.raw = std::move(resp->body);
            co_return result;
        }
    }
    auto result = route.adapter->chat_response(resp->body, route.target);
    if (result) {
        ex.trace.finish_reasons.clear();
        note_finish_reasons(ex.trace, result->body);
    }
    co_return result;
}

asio::awaitable<std::expected<providers::ChatResult, wire::Failure>> Dispatcher::embeddings_once(
    const Exchange& ex, const nlohmann::json& body)
{
    const routing::Route& route = ex.route;
    auto up = route.adapter->embeddings_request(body, route.target);
    if (!up) {
        co_return std::unexpected(std::move(up.error()));
    }
    add_trace_headers(ex, up->headers);
    auto resp = co_await send(ex, *up);
    if (!resp) {
        co_return std::unexpected(std::move(resp.error()));
    }
    if (resp->status < 200 || resp->status >= 300) {
        co_return std::unexpected(route.adapter->classify_error(resp->status, resp->body, resp->headers));
    }
    co_return route.adapter->embeddings_response(resp->body, route.target);
}

namespace {

/// Opens the upstream stream and checks its status; the error body of a non-2xx answer
/// goes to `error_body` when asked for.
asio::awaitable<std::expected<void, wire::Failure>> open_upstream(upstream::Transport& transport, StreamState& st,
                                                                  const providers::UpstreamRequest& req,
                                                                  std::string* error_body)
{
    st.ex->trace.finish_reasons.clear();  // this attempt's answer gives them
    const Exchange& ex = *st.ex;
    const auto deadlines = attempt_deadlines(ex);
    const std::string& base_url = req.base_url.empty() ? ex.route.target.base_url : req.base_url;
    std::optional<providers::UpstreamRequest> copy;
    auto opened = co_await transport.open(base_url, traced(ex, req, copy), deadlines);
    if (!opened) {
        if (opened.error().kind == wire::FailureKind::timeout) {
            opened.error().message = "no answer from " + ex.route.resolved.id + " within " +
                                     ms_text(std::min(ex.timeouts.first_byte, ex.timeouts.total)) + " (" +
                                     opened.error().message + ")";
        }
        co_return std::unexpected(std::move(opened.error()));
    }
    st.upstream = std::move(*opened);
    const int status = st.upstream->status();
    if (status < 200 || status >= 300) {
        std::string body;
        while (body.size() < (1u << 20)) {
            auto r = co_await st.upstream->read(body, deadlines.headers);
            if (!r || !*r) {
                break;
            }
        }
        st.upstream->cancel();
        auto f = ex.route.adapter->classify_error(status, body, st.upstream->headers());
        if (error_body != nullptr) {
            *error_body = std::move(body);
        }
        co_return std::unexpected(std::move(f));
    }
    co_return std::expected<void, wire::Failure>{};
}

}  // namespace

asio::awaitable<std::expected<std::shared_ptr<StreamState>, wire::Failure>> Dispatcher::open_chat_stream(
    std::shared_ptr<Exchange> ex, const nlohmann::json& canonical, std::string_view canonical_text)
{
    auto st = std::make_shared<StreamState>();
    st->ex = ex;
    const routing::Route& route = ex->route;
    auto up_req = canonical_text.empty()
                      ? route.adapter->chat_request(canonical, route.target, true)
                      : route.adapter->chat_request_from_text(canonical, canonical_text, route.target, true);
    if (!up_req) {
        co_return std::unexpected(std::move(up_req.error()));
    }
    add_trace_headers(*ex, up_req->headers);
    if (auto opened = co_await open_upstream(transport_for(route), *st, *up_req, nullptr); !opened) {
        co_return std::unexpected(std::move(opened.error()));
    }
    st->translator = route.adapter->chat_stream(route.target);
    st->decoder = route.adapter->stream_decoder();
    if (auto held = co_await hold_back(*st); !held) {
        co_return std::unexpected(std::move(held.error()));
    }
    co_return st;
}

asio::awaitable<std::expected<std::shared_ptr<StreamState>, wire::Failure>> Dispatcher::open_passthrough_stream(
    std::shared_ptr<Exchange> ex, const providers::UpstreamRequest& req,
    std::unique_ptr<providers::StreamTranslator> tap, std::string* upstream_body,
    std::unique_ptr<providers::StreamDecoder> decoder, bool relay_bytes)
{
    auto st = std::make_shared<StreamState>();
    st->ex = ex;
    st->passthrough = relay_bytes;
    st->translator = std::move(tap);
    st->decoder = decoder ? std::move(decoder) : providers::make_sse_decoder();
    if (auto opened = co_await open_upstream(transport_for(ex->route), *st, req, upstream_body); !opened) {
        co_return std::unexpected(std::move(opened.error()));
    }
    if (auto held = co_await hold_back(*st); !held) {
        co_return std::unexpected(std::move(held.error()));
    }
    co_return st;
}

asio::awaitable<void> Dispatcher::relay(std::shared_ptr<StreamState> st, std::unique_ptr<StreamWriter> writer,
                                        http::Responder& out, http::Response head)
{
    const Exchange& ex = *st->ex;
    // Counted while the client holds the stream: every exit below, cancellation included, ends it.
    struct OpenStream {
        std::atomic<std::int64_t>& n;
        explicit OpenStream(std::atomic<std::int64_t>& c) : n(c) { n.fetch_add(1, std::memory_order_relaxed); }
        ~OpenStream() { n.fetch_sub(1, std::memory_order_relaxed); }
        OpenStream(const OpenStream&) = delete;
        OpenStream& operator=(const OpenStream&) = delete;
    } open_stream(m_metrics.open_streams);
    if (!head.headers.has("Content-Type")) {
        head.set_header("Content-Type",
                        "text/event-stream");  // a surface may stream another type (Gemini's JSON array)
    }
    head.set_header("Cache-Control", "no-cache");
    head.set_header("X-Accel-Buffering", "no");
    out.on_client_gone([weak = std::weak_ptr<upstream::BodyStream>(st->upstream)] {
        if (auto s = weak.lock()) {
            s->cancel();  // the client left: close the upstream connection now
        }
    });
    bool client_ok = co_await out.begin_stream(std::move(head));
    bool finished = false;  ///< the terminal bytes were written (complete or error)
    std::string buf;
    auto finish_with_failure = [&](wire::Failure f) {
        writer->error(f, buf);
        st->failure = std::move(f);
        finished = true;
    };
    auto finish_complete = [&] {
        const auto usage = st->translator->usage();
        writer->done(usage, cost_of(ex, usage), buf);  // a passthrough writer may close its framing here
        finished = true;
    };
    // What the hold-back read goes out first.
    if (st->passthrough) {
        buf = std::move(st->held);
        st->chunks.clear();
    } else {
        write_chunks(*st, *writer, buf);
    }
    if (st->translator->finished()) {
        finish_complete();
    }
    if (client_ok && buf.empty() && !finished) {
        client_ok = co_await out.write({});  // the head now: the upstream may be slow to say more
    }
    // OpenAI's chunks to an OpenAI client: relayed as they came unless they need a change.
    // (Another client's chunks are built from them, so they are parsed at once.)
    const bool verbatim = !st->passthrough && st->translator->passes_chunks_through() && writer->writes_verbatim();
    std::string bytes;
    while (client_ok && !finished) {
        if (!buf.empty()) {
            client_ok = out.write_now(buf);  // the usual case: no coroutine an event
            if (!client_ok) {
                client_ok = co_await out.write(buf);
            }
            buf.clear();
            if (!client_ok) {
                break;
            }
        }
        bytes.clear();
        const auto now = Clock::now();
        const bool idle_first = now + ex.timeouts.idle < ex.deadline;
        auto r = co_await st->upstream->read(bytes, idle_first ? now + ex.timeouts.idle : ex.deadline);
        if (!r) {
            if (out.client_gone()) {
                client_ok = false;
                break;
            }
            if (r.error().kind == wire::FailureKind::timeout) {
                st->upstream->cancel();
            }
            finish_with_failure(mid_stream_failure(ex, r.error(), idle_first));
            break;
        }
        const bool end = !*r;
        st->ended = end;
        decode(*st, bytes, end, verbatim);
        if (st->passthrough) {
            st->chunks.clear();
            buf += bytes;  // an upstream error event too goes out as the upstream sent it
        } else {
            write_chunks(*st, *writer, buf);
        }
        if (st->failure) {
            if (!st->passthrough) {
                writer->error(*st->failure, buf);
            }
            finished = true;
        } else if (st->translator->finished()) {
            finish_complete();
        } else if (end) {
            finish_with_failure(cut_stream_failure(ex));
        }
    }
    if (client_ok) {
        client_ok = co_await out.end_stream(buf);  // what is left and the end, in one write
    }
    out.on_client_gone({});
    // A keep-alive upstream connection goes back to its pool; a stream that did not end
    // cleanly is closed.
    if (!st->ended && client_ok && finished && !st->failure) {
        co_await read_trailer(*st, bytes);
    }
    if (!st->ended) {
        st->upstream->cancel();
    }
    record_relayed(*st, finished);
}

void Dispatcher::record_relayed(const StreamState& st, bool finished)
{
    wire::Usage usage = st.translator->usage();
    int status = 200;
    std::string error;
    if (st.failure) {
        status = st.failure->status;
        error = st.failure->message;
        usage = delivered_usage(st, usage);
    } else if (!finished) {
        status = 499;
        error = "client disconnected mid-stream";
        usage = delivered_usage(st, usage);
    }
    record(*st.ex, status, usage, cost_of(*st.ex, usage), std::move(error), st.ttft_ms);
}

double Dispatcher::cost_of(const Exchange& ex, const wire::Usage& usage) const
{
    return ex.route.price ? config::cost_usd(*ex.route.price, usage) : 0.0;
}

void Dispatcher::record(const Exchange& ex, int status, const wire::Usage& usage, double cost, std::string error,
                        std::int64_t ttft_ms, std::string response_body)
{
    const int attempts = static_cast<int>(ex.failed_attempts.size()) + 1;
    auto row_of_request = [&](int attempt) {
        ledger::LedgerRow row;
        row.ts_ms = ex.ts_ms;
        row.request_id = ex.request_id;
        row.key_id = ex.key_id;
        row.surface = ex.surface;
        row.requested_model = ex.requested_model;
        row.stream = ex.stream;
        row.tag = ex.tag;
        row.session = ex.session;
        row.variant = ex.variant;
        row.attempt = attempt;
        row.attempts = attempts;
        return row;
    };
    for (std::size_t i = 0; i < ex.failed_attempts.size(); ++i) {
        const AttemptNote& a = ex.failed_attempts[i];
        ledger::LedgerRow row = row_of_request(static_cast<int>(i) + 1);
        row.served_model = a.served_model;
        row.provider = a.provider;
        row.status = a.status;
        row.error = a.error;
        row.final_attempt = false;
        row.fallback_reason = a.reason;
        row.latency_ms = a.latency_ms;
        m_s.ledger->record(std::move(row));
    }
    ledger::LedgerRow row = row_of_request(attempts);
    row.fallback_reason = ex.attempt_reason;
    if (ex.route.resolved.provider != nullptr) {
        row.served_model = ex.route.resolved.id;
        row.provider = ex.route.resolved.provider->name;
    }
    row.status = status;
    row.error = std::move(error);
    row.input_tokens = usage.input_tokens;
    row.cached_tokens = usage.cached_tokens;
    row.cache_write_tokens = usage.cache_write_tokens + usage.cache_write_1h_tokens;
    row.output_tokens = usage.output_tokens;
    row.reasoning_tokens = usage.reasoning_tokens;
    row.cost_usd = cost;
    row.priced = ex.route.price.has_value();
    const auto elapsed = std::chrono::steady_clock::now() - ex.t0;
    row.latency_ms = std::chrono::duration_cast<std::chrono::milliseconds>(elapsed).count();
    row.ttft_ms = ttft_ms;
    row.cache_hit = ex.cache_hit;
    row.saved_usd = ex.saved_usd;
    if (config().log_bodies) {
        row.request_body = ex.request_body;
        row.response_body = std::move(response_body);
    }
    if (m_s.traces != nullptr && ex.trace.on && ex.trace.sampled) {
        // Built here, sent by the exporter's own thread: the queue never waits for the collector.
        m_s.traces->submit(request_spans(
            ex, RequestOutcome{
                    .status = status, .usage = usage, .cost_usd = cost, .error = row.error, .end_unix_ns = unix_ns()}));
    }
    m_metrics.on_request(RequestSample{.provider = row.provider,
                                       .model = row.served_model,
                                       .key_id = row.key_id,
                                       .status = status,
                                       .input_tokens = usage.input_tokens,
                                       .cached_tokens = usage.cached_tokens,
                                       .output_tokens = usage.output_tokens,
                                       .reasoning_tokens = usage.reasoning_tokens,
                                       .cost_usd = cost,
                                       .latency_s = std::chrono::duration<double>(elapsed).count(),
                                       .ttft_ms = ttft_ms});
    if (ex.access) {
        http::AccessNote& a = *ex.access;
        a.recorded = true;
        a.key_id = row.key_id;
        a.requested_model = row.requested_model;
        a.served_model = row.served_model;
        a.provider = row.provider;
        a.stream = row.stream;
        a.attempts = attempts;
        a.ttft_ms = ttft_ms;
        a.cache_hit = row.cache_hit;
        a.input_tokens = row.input_tokens;
        a.output_tokens = row.output_tokens;
        a.cost_usd = cost;
        a.error = row.error;
    }
    m_s.ledger->record(std::move(row));
    // ---- limits: the cost goes to the budgets; the TPM reservation is corrected ----
    m_s.limiter->on_recorded(ex.key_id, ex.reservation, usage.input_tokens + usage.output_tokens, cost);
    if (ex.reservation.shared_rates && m_s.shared_limits != nullptr && ex.reservation.tokens > 0) {
        // The TPM estimate taken in Redis is corrected there too, in the background.
        const double correction =
            static_cast<double>(ex.reservation.tokens - (usage.input_tokens + usage.output_tokens));
        for (const auto& r : ex.reservation.shared_tpm) {
            m_s.shared_limits->give(r.bucket, static_cast<double>(r.per_minute), correction);
        }
    }
    if (ex.reservation.shared_budget && !ex.reservation.hold_id.empty() && m_s.shared_limits != nullptr) {
        // The hold in Redis becomes the real cost, in the background; the alerts follow the
        // cluster's spend it answers with.
        std::vector<std::string> keys;
        for (const auto& b : ex.reservation.shared_budgets) {
            keys.push_back(b.key);
        }
        m_s.shared_limits->settle(
            std::move(keys), ex.reservation.hold_id, cost,
            [limiter = m_s.limiter, key_id = ex.key_id, reservation = ex.reservation](
                const std::vector<double>& spent) { limiter->on_shared_spend(key_id, reservation, spent); });
    }
    requests_served.fetch_add(1, std::memory_order_relaxed);
}

void Dispatcher::note_unknown_route(std::string method, std::string path, std::string user_agent)
{
    constexpr std::size_t k_keep = 5;
    std::lock_guard lock(m_unknown_mu);
    ++m_unknown_count;
    if (m_unknown_last.size() == k_keep) {
        m_unknown_last.erase(m_unknown_last.begin());
    }
    m_unknown_last.push_back({std::move(method), std::move(path), std::move(user_agent)});
}

std::pair<std::uint64_t, std::vector<Dispatcher::UnknownRoute>> Dispatcher::unknown_routes() const
{
    std::lock_guard lock(m_unknown_mu);
    return {m_unknown_count, m_unknown_last};
}

asio::awaitable<void> Dispatcher::finish_failed(const Exchange& ex, const wire::Failure& f, std::string native_body,
                                                Shape shape, const http::Headers& so_far, http::Responder& out)
{
    record(ex, f.status, {}, 0, f.message, -1);
    co_await out.send(upstream_failure_response(f, std::move(native_body), shape, so_far));
}

asio::awaitable<void> Dispatcher::finish_answered(const Exchange& ex, const wire::Usage& usage, double cost,
                                                  std::string body, http::Response res, http::Responder& out,
                                                  BodyLog log, std::string usage_error)
{
    res.set_header("x-aigw-cost-usd", format_cost(cost));
    const bool keep_body = log == BodyLog::when_configured && config().log_bodies;
    record(ex, 200, usage, cost, std::move(usage_error), -1, keep_body ? body : std::string());
    res.set_content(std::move(body));
    co_await out.send(std::move(res));
}

void drop_request(http::Request& req, std::initializer_list<nlohmann::json*> parsed)
{
    std::string().swap(req.body);
    for (nlohmann::json* j : parsed) {
        if (j != nullptr) {
            *j = nlohmann::json();  // frees the tree
        }
    }
}

}  // namespace aigw::daemon::pipeline

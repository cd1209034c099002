#include "daemon/pipeline/trace_spans.hpp"

#include <array>
#include <charconv>

namespace aigw::daemon::pipeline {

namespace {

/// server.address and server.port of a base URL ("https://api.openai.com/v1" -> host, 443).
std::pair<std::string, std::int64_t> address_of(std::string_view url)
{
    std::int64_t port = url.starts_with("https://") ? 443 : 80;
    if (auto scheme = url.find("://"); scheme != std::string_view::npos) {
        url.remove_prefix(scheme + 3);
    }
    url = url.substr(0, url.find_first_of("/?#"));
    if (auto at = url.rfind('@'); at != std::string_view::npos) {
        url.remove_prefix(at + 1);  // never the userinfo
    }
    std::string_view host = url;
    if (!url.empty() && url.front() == '[') {
        const auto close = url.find(']');
        host = url.substr(1, close == std::string_view::npos ? url.size() - 1 : close - 1);
        url = close == std::string_view::npos ? std::string_view() : url.substr(close + 1);
    } else if (auto colon = url.rfind(':'); colon != std::string_view::npos) {
        host = url.substr(0, colon);
        url = url.substr(colon);
    } else {
        url = {};
    }
    if (url.starts_with(':')) {
        std::int64_t p = 0;
        auto [ptr, ec] = std::from_chars(url.data() + 1, url.data() + url.size(), p);
        if (ec == std::errc{} && p > 0 && p < 65536) {
            port = p;
        }
    }
    return {std::string(host), port};
}

void set_usage(telemetry::Span& s, const wire::Usage& u)
{
    s.set("gen_ai.usage.input_tokens", u.input_tokens);
    s.set("gen_ai.usage.output_tokens", u.output_tokens);
    if (u.cached_tokens > 0) {
        s.set("gen_ai.usage.cache_read.input_tokens", u.cached_tokens);
    }
    if (u.reasoning_tokens > 0) {
        s.set("gen_ai.usage.reasoning.output_tokens", u.reasoning_tokens);
    }
}

void set_request_parameters(telemetry::Span& s, const telemetry::RequestTrace& t)
{
    if (t.max_tokens) {
        s.set("gen_ai.request.max_tokens", *t.max_tokens);
    }
    if (t.temperature) {
        s.set("gen_ai.request.temperature", *t.temperature);
    }
    if (t.top_p) {
        s.set("gen_ai.request.top_p", *t.top_p);
    }
}

}  // namespace

std::string_view genai_operation(std::string_view surface)
{
    if (surface == "openai.embeddings" || surface.starts_with("gemini.embed") ||
        surface.starts_with("gemini.batch_embed")) {
        return "embeddings";
    }
    if (surface == "openai.completions") {
        return "text_completion";
    }
    if (surface.starts_with("gemini.")) {
        return "generate_content";
    }
    return "chat";
}

std::string_view genai_provider(std::string_view provider)
{
    static constexpr std::array<std::pair<std::string_view, std::string_view>, 8> k_names{{
        {"gemini", "gcp.gemini"},
        {"vertex", "gcp.vertex_ai"},
        {"bedrock", "aws.bedrock"},
        {"azure", "azure.ai.openai"},
        {"mistral", "mistral_ai"},
        {"xai", "x_ai"},
        {"watsonx", "ibm.watsonx.ai"},
        {"azure_inference", "azure.ai.inference"},
    }};
    for (const auto& [ours, theirs] : k_names) {
        if (provider == ours) {
            return theirs;
        }
    }
    return provider;  // openai, anthropic, cohere, deepseek, groq, perplexity: the same names
}

std::vector<telemetry::Span> request_spans(const Exchange& ex, const RequestOutcome& out)
{
    const telemetry::RequestTrace& t = ex.trace;
    const std::string_view op = genai_operation(ex.surface);
    std::vector<telemetry::Span> spans;
    spans.reserve(1 + t.attempts.size());

    telemetry::Span server;
    server.trace_id = t.trace_id;
    server.span_id = t.span_id;
    server.parent_span_id = t.parent;
    server.trace_state = t.tracestate;
    server.flags = t.flags;
    server.kind = telemetry::SpanKind::server;
    server.name = std::string(op) + (ex.requested_model.empty() ? "" : " " + ex.requested_model);
    server.start_unix_ns = t.start_unix_ns;
    server.end_unix_ns = std::max(out.end_unix_ns, t.start_unix_ns);
    server.set("gen_ai.operation.name", std::string(op));
    if (!ex.requested_model.empty()) {
        server.set("gen_ai.request.model", ex.requested_model);
    }
    const bool routed = ex.route.resolved.provider != nullptr;
    if (routed) {
        server.set("gen_ai.provider.name", std::string(genai_provider(ex.route.resolved.provider->name)));
        // The attribute's name before semantic conventions 1.37, still read by many backends.
        server.set("gen_ai.system", std::string(genai_provider(ex.route.resolved.provider->name)));
        if (out.status < 400) {
            server.set("gen_ai.response.model", ex.route.resolved.model);
        }
        server.set("aigw.served_model", ex.route.resolved.id);
    }
    set_request_parameters(server, t);
    set_usage(server, out.usage);
    if (!t.finish_reasons.empty()) {
        server.set("gen_ai.response.finish_reasons", t.finish_reasons);
    }
    server.set("http.response.status_code", out.status);
    server.set("aigw.request_id", ex.request_id);
    server.set("aigw.surface", ex.surface);
    server.set("aigw.key_id", ex.key_id);  // the id, never a key
    server.set("aigw.cost_usd", out.cost_usd);
    server.set("aigw.cache_hit", ex.cache_hit);
    server.set("aigw.stream", ex.stream);
    server.set("aigw.attempts", static_cast<std::int64_t>(t.attempts.size()));
    if (!ex.attempt_reason.empty()) {
        server.set("aigw.fallback_reason", ex.attempt_reason);
    }
    if (!ex.session.empty()) {
        server.set("aigw.session", ex.session);
    }
    if (!ex.tag.empty()) {
        server.set("aigw.tag", ex.tag);
    }
    if (out.status >= 400) {
        server.set("error.type", std::to_string(out.status));
    }
    if (out.status >= 500) {
        // As for HTTP servers: a 4xx is the client's doing, not the span's error.
        server.status = telemetry::StatusCode::error;
        server.status_message = std::string(out.error.substr(0, 500));
    }
    spans.push_back(std::move(server));

    for (std::size_t i = 0; i < t.attempts.size(); ++i) {
        const telemetry::AttemptTrace& a = t.attempts[i];
        const bool served = a.end_unix_ns == 0;  // the attempt that answered ends with the request
        telemetry::Span s;
        s.trace_id = t.trace_id;
        s.span_id = a.span_id;
        s.parent_span_id = t.span_id;
        s.trace_state = t.tracestate;
        s.flags = t.flags;
        s.kind = telemetry::SpanKind::client;
        s.name = std::string(op) + " " + a.upstream_model;
        s.start_unix_ns = a.start_unix_ns;
        s.end_unix_ns = served ? std::max(out.end_unix_ns, a.start_unix_ns) : a.end_unix_ns;
        s.set("gen_ai.operation.name", std::string(op));
        s.set("gen_ai.provider.name", std::string(genai_provider(a.provider)));
        s.set("gen_ai.system", std::string(genai_provider(a.provider)));
        s.set("gen_ai.request.model", a.upstream_model);
        set_request_parameters(s, t);
        auto [host, port] = address_of(a.base_url);
        if (!host.empty()) {
            s.set("server.address", std::move(host));
            s.set("server.port", port);
        }
        s.set("aigw.attempt", static_cast<std::int64_t>(i + 1));
        s.set("aigw.served_model", a.model_id);
        if (!a.reason.empty()) {
            s.set("aigw.attempt.reason", a.reason);
        }
        const int status = served ? out.status : a.status;
        std::string outcome = a.outcome;
        if (served && out.status >= 400) {
            outcome = "failed_after_first_byte";  // a stream that broke, or the client left
        }
        s.set("aigw.attempt.outcome", outcome);
        if (status > 0) {
            s.set("http.response.status_code", status);
        }
        if (served && out.status < 400) {
            s.set("gen_ai.response.model", a.upstream_model);
            set_usage(s, out.usage);
        } else if (served) {
            set_usage(s, out.usage);
        }
        if (served && !t.finish_reasons.empty()) {
            s.set("gen_ai.response.finish_reasons", t.finish_reasons);
        }
        if (!served || out.status >= 400) {
            s.set("error.type", served ? std::to_string(out.status) : a.outcome);
            s.status = telemetry::StatusCode::error;
            s.status_message = served ? std::string(out.error.substr(0, 500)) : a.error;
        }
        spans.push_back(std::move(s));
    }
    return spans;
}

void note_request_parameters(Exchange& ex, const nlohmann::json& canonical)
{
    if (!canonical.is_object()) {
        return;
    }
    for (const char* k : {"max_completion_tokens", "max_tokens"}) {
        if (auto v = canonical.find(k); v != canonical.end() && v->is_number_integer()) {
            ex.trace.max_tokens = v->get<std::int64_t>();
            break;
        }
    }
    if (auto v = canonical.find("temperature"); v != canonical.end() && v->is_number()) {
        ex.trace.temperature = v->get<double>();
    }
    if (auto v = canonical.find("top_p"); v != canonical.end() && v->is_number()) {
        ex.trace.top_p = v->get<double>();
    }
}

void note_finish_reasons(telemetry::RequestTrace& t, const nlohmann::json& canonical)
{
    if (!t.on || !t.sampled || !canonical.is_object()) {
        return;
    }
    const auto choices = canonical.find("choices");
    if (choices == canonical.end() || !choices->is_array()) {
        return;
    }
    for (const auto& choice : *choices) {
        if (!choice.is_object()) {
            continue;
        }
        const auto reason = choice.find("finish_reason");
        if (reason != choice.end() && reason->is_string() && !reason->get_ref<const std::string&>().empty()) {
            t.finish_reasons.push_back(reason->get<std::string>());
        }
    }
}

void note_finish_reasons(telemetry::RequestTrace& t, const std::vector<std::string>& reasons)
{
    if (!t.on || !t.sampled) {
        return;
    }
    t.finish_reasons.insert(t.finish_reasons.end(), reasons.begin(), reasons.end());
}

}  // namespace aigw::daemon::pipeline

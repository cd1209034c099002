#pragma once
// A request's spans, following the OpenTelemetry GenAI semantic conventions: one SERVER
// span for the request (a child of the client's span when it sent a traceparent) and one
// CLIENT span per upstream attempt, its child, so retries and fallbacks show as siblings.
// Span names are "{gen_ai.operation.name} {gen_ai.request.model}". Pure.

#include "daemon/pipeline/exchange.hpp"
#include "daemon/telemetry/span.hpp"
#include "shared/wire/usage.hpp"

#include <string>
#include <string_view>
#include <vector>

namespace aigw::daemon::pipeline {

/// How a request ended, as Dispatcher::record has it.
struct RequestOutcome {
    int status = 0;
    wire::Usage usage;
    double cost_usd = 0;
    std::string_view error;
    std::int64_t end_unix_ns = 0;
};

/// gen_ai.operation.name of a surface: "chat", "embeddings", "text_completion", "generate_content".
std::string_view genai_operation(std::string_view surface);
/// gen_ai.provider.name of an aigw provider: the registry's well-known names ("openai",
/// "anthropic", "gcp.gemini", "aws.bedrock", "azure.ai.openai", ...), else the name itself.
std::string_view genai_provider(std::string_view provider);

/// The spans of a finished request (SERVER first, then its attempts in order).
std::vector<telemetry::Span> request_spans(const Exchange& ex, const RequestOutcome& out);

/// Reads gen_ai.request.* (max tokens, temperature, top_p) from a canonical body into ex.trace.
void note_request_parameters(Exchange& ex, const nlohmann::json& canonical);

/// Adds the finish reasons of a canonical chat.completion, or of a chat.completion.chunk
/// (only the last chunk of each choice has one), to t.finish_reasons; a no-op unless the
/// request's spans are exported.
void note_finish_reasons(telemetry::RequestTrace& t, const nlohmann::json& canonical);
/// The same for reasons already read from a chunk.
void note_finish_reasons(telemetry::RequestTrace& t, const std::vector<std::string>& reasons);

}  // namespace aigw::daemon::pipeline

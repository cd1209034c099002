#pragma once
// Failures and the error bodies each inbound surface returns.

#include <nlohmann/json.hpp>

#include <optional>
#include <string>
#include <string_view>

namespace aigw::wire {

/// Why a call failed. The router decides retries and fallbacks from this alone.
enum class FailureKind {
    bad_request,   // the caller's fault (400/404/413/422): never retried
    auth,          // 401/403 from the upstream or our own key check
    not_found,     // unknown model or route
    rate_limited,  // 429
    timeout,       // connect, first byte, idle or total deadline passed
    upstream,      // 5xx or a malformed answer from the provider
    network,       // connection refused, reset, DNS
    internal,      // our own bug; never the caller's fault
};

struct Failure {
    FailureKind kind = FailureKind::internal;
    int status = 500;                     ///< HTTP status the client sees
    std::string message;                  ///< human text: what happened and what to do
    std::string code;                     ///< OpenAI `error.code`, e.g. "model_not_found"; may be empty
    std::string param;                    ///< OpenAI `error.param`; may be empty
    std::string type;                     ///< overrides the type derived from kind when set (upstream's own type)
    std::optional<double> retry_after_s;  ///< from Retry-After or rate-limit reset headers
};

Failure bad_request(std::string message, std::string param = {});
Failure unauthorized(std::string message);
Failure model_not_found(std::string_view model);
Failure internal_error(std::string message);
/// A deadline passed (connect, first byte, idle gap, total): 504, retryable.
Failure gateway_timeout(std::string message);

std::string_view to_string(FailureKind kind);

/// True for failures that another attempt (same or other deployment) may fix.
bool is_retryable(FailureKind kind);

/// OpenAI's error type for a failure: invalid_request_error, authentication_error, ...
std::string openai_error_type(const Failure& f);
/// Anthropic's error type: invalid_request_error, authentication_error, rate_limit_error, ...
std::string anthropic_error_type(const Failure& f);

/// Longest wait a Retry-After or rate-limit reset may ask for: one day.
inline constexpr double k_max_retry_after_s = 86400.0;

/// A wait the upstream asked for, made sane: NaN and negative -> 0, infinite or above
/// `max_s` -> `max_s` (itself capped at k_max_retry_after_s).
double clamp_retry_after(double seconds, double max_s = k_max_retry_after_s);

/// `{"error":{"message","type","param","code"}}` (param and code null when empty). Strings
/// are made valid UTF-8, so the result always serialises.
nlohmann::json to_openai_error(const Failure& f);
/// `{"type":"error","error":{"type","message"}}`, strings made valid UTF-8.
nlohmann::json to_anthropic_error(const Failure& f);

/// Google's canonical status name for an HTTP status: 400 INVALID_ARGUMENT, 401
/// UNAUTHENTICATED, 403 PERMISSION_DENIED, 404 NOT_FOUND, 429 RESOURCE_EXHAUSTED, 503
/// UNAVAILABLE, 504 DEADLINE_EXCEEDED, other 5xx INTERNAL.
std::string_view gemini_status_name(int http_status);
/// `{"error":{"code","message","status"}}` (Gemini's shape), the message made valid UTF-8.
nlohmann::json to_gemini_error(const Failure& f);

}  // namespace aigw::wire

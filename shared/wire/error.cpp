#include "shared/wire/error.hpp"

#include "shared/wire/utf8.hpp"

#include <algorithm>
#include <cmath>

namespace aigw::wire {

Failure bad_request(std::string message, std::string param)
{
    return Failure{.kind = FailureKind::bad_request,
                   .status = 400,
                   .message = std::move(message),
                   .code = {},
                   .param = std::move(param),
                   .type = {},
                   .retry_after_s = {}};
}

Failure unauthorized(std::string message)
{
    return Failure{.kind = FailureKind::auth,
                   .status = 401,
                   .message = std::move(message),
                   .code = "invalid_api_key",
                   .param = {},
                   .type = {},
                   .retry_after_s = {}};
}

Failure model_not_found(std::string_view model)
{
    std::string msg = "The model '";
    msg.append(model);
    msg +=
        "' does not exist or no provider serves it. Use provider/model (e.g. openai/gpt-4o-mini, "
        "mock/echo) or run 'aigw models' to list what is available.";
    return Failure{.kind = FailureKind::not_found,
                   .status = 404,
                   .message = std::move(msg),
                   .code = "model_not_found",
                   .param = "model",
                   .type = {},
                   .retry_after_s = {}};
}

Failure gateway_timeout(std::string message)
{
    return Failure{.kind = FailureKind::timeout,
                   .status = 504,
                   .message = std::move(message),
                   .code = {},
                   .param = {},
                   .type = {},
                   .retry_after_s = {}};
}

Failure internal_error(std::string message)
{
    return Failure{.kind = FailureKind::internal,
                   .status = 500,
                   .message = std::move(message),
                   .code = {},
                   .param = {},
                   .type = {},
                   .retry_after_s = {}};
}

double clamp_retry_after(double seconds, double max_s)
{
    double cap = std::isnan(max_s) ? k_max_retry_after_s : std::clamp(max_s, 0.0, k_max_retry_after_s);
    if (std::isnan(seconds) || seconds <= 0) {
        return 0;
    }
    return std::min(seconds, cap);
}

std::string_view to_string(FailureKind kind)
{
    switch (kind) {
        case FailureKind::bad_request:
            return "bad_request";
        case FailureKind::auth:
            return "auth";
        case FailureKind::not_found:
            return "not_found";
        case FailureKind::rate_limited:
            return "rate_limited";
        case FailureKind::timeout:
            return "timeout";
        case FailureKind::upstream:
            return "upstream";
        case FailureKind::network:
            return "network";
        case FailureKind::internal:
            return "internal";
    }
    return "internal";
}

bool is_retryable(FailureKind kind)
{
    switch (kind) {
        case FailureKind::rate_limited:
        case FailureKind::timeout:
        case FailureKind::upstream:
        case FailureKind::network:
            return true;
        default:
            return false;
    }
}

std::string openai_error_type(const Failure& f)
{
    if (!f.type.empty()) {
        return f.type;
    }
    switch (f.kind) {
        case FailureKind::bad_request:
        case FailureKind::not_found:
            return "invalid_request_error";
        case FailureKind::auth:
            return f.status == 403 ? "permission_error" : "authentication_error";
        case FailureKind::rate_limited:
            return "rate_limit_error";
        case FailureKind::timeout:
            return "timeout_error";
        case FailureKind::upstream:
        case FailureKind::network:
            return "upstream_error";
        case FailureKind::internal:
            return "api_error";
    }
    return "api_error";
}

std::string anthropic_error_type(const Failure& f)
{
    if (f.status == 402) {
        return "billing_error";  // a spent budget (ours or the upstream's)
    }
    switch (f.kind) {
        case FailureKind::bad_request:
            return "invalid_request_error";
        case FailureKind::not_found:
            return "not_found_error";
        case FailureKind::auth:
            return f.status == 403 ? "permission_error" : "authentication_error";
        case FailureKind::rate_limited:
            return "rate_limit_error";
        case FailureKind::timeout:
            return "timeout_error";
        case FailureKind::upstream:
            return f.status == 529 ? "overloaded_error" : "api_error";
        case FailureKind::network:
        case FailureKind::internal:
            return "api_error";
    }
    return "api_error";
}

nlohmann::json to_openai_error(const Failure& f)
{
    nlohmann::json err = {
        {"message", valid_utf8(f.message)},
        {"type", valid_utf8(openai_error_type(f))},
        {"param", f.param.empty() ? nlohmann::json(nullptr) : nlohmann::json(valid_utf8(f.param))},
        {"code", f.code.empty() ? nlohmann::json(nullptr) : nlohmann::json(valid_utf8(f.code))},
    };
    return {{"error", std::move(err)}};
}

nlohmann::json to_anthropic_error(const Failure& f)
{
    return {{"type", "error"}, {"error", {{"type", anthropic_error_type(f)}, {"message", valid_utf8(f.message)}}}};
}

std::string_view gemini_status_name(int http_status)
{
    switch (http_status) {
        case 400:
        case 413:
        case 422:
            return "INVALID_ARGUMENT";
        case 401:
            return "UNAUTHENTICATED";
        case 403:
            return "PERMISSION_DENIED";
        case 404:
            return "NOT_FOUND";
        case 409:
            return "ABORTED";
        case 429:
            return "RESOURCE_EXHAUSTED";
        case 499:
            return "CANCELLED";
        case 501:
            return "UNIMPLEMENTED";
        case 502:
        case 503:
            return "UNAVAILABLE";
        case 504:
            return "DEADLINE_EXCEEDED";
        default:
            return http_status >= 500 ? "INTERNAL" : "FAILED_PRECONDITION";
    }
}

nlohmann::json to_gemini_error(const Failure& f)
{
    return {
        {"error", {{"code", f.status}, {"message", valid_utf8(f.message)}, {"status", gemini_status_name(f.status)}}}};
}

}  // namespace aigw::wire

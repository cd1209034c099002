#pragma once
// A request's access log entry: what the server saw (method, path, status, latency) and
// what the pipeline learned on the way (request id, models, attempts, tokens, cost).

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace aigw::daemon::http {

/// Filled by the pipeline while a request is handled (pipeline::Dispatcher::begin,
/// authorize and record), read by the server when the exchange ends. Lives as long as
/// either side holds it; every write and the read happen on the connection's event loop.
struct AccessNote {
    std::string request_id;
    std::string surface;  ///< "openai.chat", ...
    std::string key_id;   ///< the client key's id, never the key
    std::string requested_model;
    std::string served_model;  ///< "provider/model"
    std::string provider;
    bool recorded = false;  ///< the pipeline recorded a ledger row: the fields below are set
    bool stream = false;
    int attempts = 0;
    std::int64_t ttft_ms = 0;
    bool cache_hit = false;
    std::int64_t input_tokens = 0;
    std::int64_t output_tokens = 0;
    double cost_usd = 0;
    std::string error;       ///< the recorded error, "" when the request succeeded
    std::string user_agent;  ///< set for an unknown route (which tool called it), printable
};

/// One finished exchange, handed to ServerOptions::access_log.
struct AccessEntry {
    std::string_view method;
    std::string_view path;  ///< percent-decoded, without the query; raw bytes (may be invalid UTF-8)
    int status = 0;         ///< 0: no answer went out (the client left first)
    std::int64_t latency_ms = 0;
    std::string_view error_type;       ///< from an error answer's body ("" otherwise)
    std::string_view error_message;    ///< likewise
    const AccessNote* note = nullptr;  ///< null when the request never reached a handler
};

using AccessLog = std::function<void(const AccessEntry&)>;

}  // namespace aigw::daemon::http

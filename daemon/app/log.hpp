#pragma once
// The daemon's one log sink: every line aigwd writes to stderr (which `aigw daemon start`
// sends to daemon.log) goes through it, as human text or, with [log] format = "json", as
// one JSON object per line. Lines are written whole with one write(2) under a lock, so
// lines from different threads never interleave; nothing is buffered, so nothing is lost
// on a crash, and a line costs one small write (no flush storms: there is no flush).

#include "daemon/http/access.hpp"
#include "shared/config/config.hpp"

#include <nlohmann/json.hpp>

#include <atomic>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <string_view>

namespace aigw::daemon::app {

/// Bytes from a client made printable for a message or a text log line: controls and
/// non-ASCII as \xNN, so a line stays one line.
std::string printable(std::string_view s);

/// "2026-12-05T06:50:01.123Z" (RFC 3339, UTC, milliseconds).
std::string rfc3339_utc_ms(std::int64_t unix_ms);

/// One JSON log line (with its '\n'): {"ts","level","msg", then `fields` in order}. Control
/// characters and quotes are escaped and invalid UTF-8 becomes U+FFFD, so the line is
/// always one valid JSON object on one line, whatever the message holds.
std::string json_log_line(std::int64_t unix_ms, std::string_view level, std::string_view msg,
                          const nlohmann::ordered_json& fields = nlohmann::ordered_json::object());

/// The fields of an access entry: request_id, method, route, status, latency_ms, and what
/// the pipeline learned (surface, key_id, user_agent of an unknown route, requested_model,
/// model, provider, attempts, ttft_ms when streamed, cache, tokens_in, tokens_out,
/// cost_usd), error_type and error when it failed. Fields not known for the request are left out; `fallback_id` is the
/// request_id of a request the pipeline never saw (refused by the server itself).
nlohmann::ordered_json access_fields(const http::AccessEntry& e, std::string_view fallback_id = {});

/// An access line for a person (text format, with its '\n'): "aigwd: 200 POST /v1/chat/completions
/// 123 ms model=openai/gpt-4o-mini attempts=1 cache=miss tokens=12/34 cost=$0.000123 key=default
/// req_...". Control characters and invalid UTF-8 are made printable.
std::string text_access_line(const http::AccessEntry& e, std::string_view fallback_id = {});

/// The level of a free-text line written to std::cerr: "warn" for "aigwd: warning: ...",
/// "error" for failures ("failed", "cannot", "lost", "threw"), else "info"; `msg` gets the
/// text without the "aigwd: " and "warning: " prefixes.
std::string_view level_of_text_line(std::string_view line, std::string_view& msg);

class Logger {
public:
    /// Where lines go: by default write(2) on fd 2; tests collect them instead.
    using Sink = std::function<void(std::string_view line)>;

    explicit Logger(Sink sink = {});

    void configure(config::LogFormat format, bool requests);
    config::LogFormat format() const { return m_json.load() ? config::LogFormat::json : config::LogFormat::text; }
    bool requests() const { return m_requests.load(); }

    /// One message line; `fields` only show in the JSON format (text gets "aigwd: msg").
    void log(std::string_view level, std::string_view msg,
             const nlohmann::ordered_json& fields = nlohmann::ordered_json::object());
    /// A free-text line as the daemon's code writes it to std::cerr ("aigwd: warning: ...").
    void text_line(std::string_view line);
    /// The access line of a finished exchange, when [log] requests is on.
    void access(const http::AccessEntry& e);

    /// Sends everything later written to std::cerr through text_line(), one line at a time
    /// (each thread's partial line is kept apart until its '\n'). For the daemon's main.
    void capture_stderr();

private:
    void emit(std::string_view line);

    Sink m_sink;
    std::mutex m_mu;
    std::atomic<bool> m_json{false};
    std::atomic<bool> m_requests{true};
};

/// The daemon's logger (writes to fd 2).
Logger& daemon_log();

}  // namespace aigw::daemon::app

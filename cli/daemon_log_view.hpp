#pragma once
// How `aigw daemon logs` shows the daemon's log: JSON lines ([log] format = "json") as
// aligned columns for a person at a terminal; anything else as it is. Pure, so tests feed
// it lines.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace aigw::cli {

/// "2026-12-05T06:49:36.310Z" -> Unix ms; nullopt when it is not RFC 3339 UTC.
std::optional<std::int64_t> parse_rfc3339_utc(std::string_view ts);

/// TIME, LEVEL, STATUS, LATENCY, MODEL, ROUTE, REQUEST, MESSAGE in the widths render_daemon_log_line uses.
std::string daemon_log_header(bool colour);

/// One log line (without its '\n') for a person: a JSON log object as fixed-width columns
/// (local time, level, status, latency, served or requested model, route, request id, then
/// the message, or the error of a failed request; other fields are left out), or nullopt when the
/// line is not a JSON object (then print it as it is). Control characters in values are shown as
/// spaces, so one line stays one line.
std::optional<std::string> render_daemon_log_line(std::string_view line, bool colour);

}  // namespace aigw::cli

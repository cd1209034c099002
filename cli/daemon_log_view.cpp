#include "cli/daemon_log_view.hpp"

#include "cli/term.hpp"

#include <nlohmann/json.hpp>

#include <cstdio>
#include <ctime>

namespace aigw::cli {

namespace {

constexpr std::size_t k_time_w = 23;  // "2026-12-05 07:49:36.310"
constexpr std::size_t k_level_w = 5;
constexpr std::size_t k_status_w = 6;
constexpr std::size_t k_latency_w = 9;
constexpr std::size_t k_model_w = 28;
constexpr std::size_t k_route_w = 28;
constexpr std::size_t k_request_w = 28;

std::string pad(std::string s, std::size_t width, bool left_align = true)
{
    if (display_width(s) > width) {
        s = truncate_to_width(s, width);
    }
    const std::size_t w = display_width(s);
    if (w >= width) {
        return s;
    }
    return left_align ? s + std::string(width - w, ' ') : std::string(width - w, ' ') + s;
}

/// A value as one line of text: strings as they are (controls as spaces), numbers as numbers.
std::string text_of(const nlohmann::json& doc, const char* key)
{
    const auto it = doc.find(key);
    if (it == doc.end() || it->is_null()) {
        return {};
    }
    std::string s = it->is_string() ? it->get<std::string>() : it->dump();
    for (char& c : s) {
        if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
            c = ' ';
        }
    }
    return s;
}

}  // namespace

std::optional<std::int64_t> parse_rfc3339_utc(std::string_view ts)
{
    int y = 0, mo = 0, d = 0, h = 0, mi = 0, s = 0, ms = 0;
    char z = 0;
    const std::string text(ts);
    if (std::sscanf(text.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d.%3d%c", &y, &mo, &d, &h, &mi, &s, &ms, &z) != 8 ||
        z != 'Z') {
        return std::nullopt;
    }
    std::tm tm{};
    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    tm.tm_hour = h;
    tm.tm_min = mi;
    tm.tm_sec = s;
    const std::time_t t = timegm(&tm);
    return static_cast<std::int64_t>(t) * 1000 + ms;
}

std::string daemon_log_header(bool colour)
{
    const std::string h = pad("TIME", k_time_w) + "  " + pad("LEVEL", k_level_w) + "  " +
                          pad("STATUS", k_status_w, false) + "  " + pad("LATENCY", k_latency_w, false) + "  " +
                          pad("MODEL", k_model_w) + "  " + pad("ROUTE", k_route_w) + "  " +
                          pad("REQUEST", k_request_w) + "  MESSAGE";
    return paint(h, Colour::bold, colour);
}

std::optional<std::string> render_daemon_log_line(std::string_view line, bool colour)
{
    if (line.empty() || line.front() != '{') {
        return std::nullopt;
    }
    const nlohmann::json doc = nlohmann::json::parse(line, nullptr, false);
    if (doc.is_discarded() || !doc.is_object() || !doc.contains("ts") || !doc.contains("level")) {
        return std::nullopt;
    }
    std::string time = text_of(doc, "ts");
    if (auto ms = parse_rfc3339_utc(time)) {
        char frac[8];
        std::snprintf(frac, sizeof frac, ".%03d", static_cast<int>(*ms % 1000));
        time = format_local_time(*ms) + frac;
    }
    const std::string level_text = text_of(doc, "level");
    std::string level = pad(level_text, k_level_w);
    if (level_text == "error") {
        level = paint(level, Colour::red, colour);
    } else if (level_text == "warn") {
        level = paint(level, Colour::yellow, colour);
    } else {
        level = paint(level, Colour::dim, colour);
    }
    const std::string status_text = text_of(doc, "status");
    std::string status = pad(status_text, k_status_w, false);
    const auto st = doc.find("status");
    if (st != doc.end() && st->is_number_integer() && (st->get<int>() >= 400 || st->get<int>() == 0)) {
        status = paint(status, Colour::red, colour);
    }
    const std::string latency_text = text_of(doc, "latency_ms");
    std::string model = text_of(doc, "model");
    if (model.empty()) {
        model = text_of(doc, "requested_model");
    }
    std::string msg = text_of(doc, "msg");
    if (doc.contains("route")) {
        // An access line: its message is the error, if any, and what is worth a glance.
        msg.clear();
        const auto attempts = doc.find("attempts");
        if (attempts != doc.end() && attempts->is_number_integer() && attempts->get<int>() > 1) {
            msg += "attempts=" + attempts->dump() + " ";
        }
        if (text_of(doc, "cache") == "hit") {
            msg += "cache hit ";
        }
        msg += text_of(doc, "error");
        while (!msg.empty() && msg.back() == ' ') {
            msg.pop_back();
        }
    }
    std::string out = pad(time, k_time_w) + "  " + level + "  " + status + "  " +
                      pad(latency_text.empty() ? "" : latency_text + " ms", k_latency_w, false) + "  " +
                      pad(model, k_model_w) + "  " + pad(text_of(doc, "route"), k_route_w) + "  " +
                      pad(text_of(doc, "request_id"), k_request_w) + "  " + msg;
    while (!out.empty() && out.back() == ' ') {
        out.pop_back();
    }
    return out;
}

}  // namespace aigw::cli

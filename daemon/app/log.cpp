#include "daemon/app/log.hpp"

#include "daemon/pipeline/dispatcher.hpp"

#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <iostream>
#include <streambuf>

namespace aigw::daemon::app {

namespace {

constexpr std::size_t k_max_route_bytes = 2048;
constexpr std::size_t k_max_text_line_bytes = 64 << 10;

std::int64_t now_unix_ms()
{
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
        .count();
}

std::string money(double usd)
{
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.6f", usd);
    return buf;
}

bool contains(std::string_view s, std::string_view what)
{
    return s.find(what) != std::string_view::npos;
}

/// std::cerr's buffer once capture_stderr() ran: each thread's bytes are kept apart until
/// its '\n', then the whole line goes to the logger.
class LineCapture final : public std::streambuf {
public:
    explicit LineCapture(Logger& log) : m_log(log) {}

protected:
    int_type overflow(int_type ch) override
    {
        if (traits_type::eq_int_type(ch, traits_type::eof())) {
            return traits_type::not_eof(ch);
        }
        const char c = traits_type::to_char_type(ch);
        put(std::string_view(&c, 1));
        return ch;
    }
    std::streamsize xsputn(const char* s, std::streamsize n) override
    {
        put(std::string_view(s, static_cast<std::size_t>(n)));
        return n;
    }

private:
    void put(std::string_view bytes)
    {
        thread_local std::string pending;
        while (!bytes.empty()) {
            const auto nl = bytes.find('\n');
            if (nl == std::string_view::npos) {
                pending.append(bytes);
                if (pending.size() > k_max_text_line_bytes) {
                    m_log.text_line(pending);  // an unending line is cut, not kept growing
                    pending.clear();
                }
                return;
            }
            pending.append(bytes.substr(0, nl));
            m_log.text_line(pending);
            pending.clear();
            bytes.remove_prefix(nl + 1);
        }
    }

    Logger& m_log;
};

}  // namespace

std::string printable(std::string_view s)
{
    std::string out;
    out.reserve(s.size());
    for (unsigned char c : s) {
        if (c < 0x20 || c >= 0x7f) {
            static constexpr char k_hex[] = "0123456789abcdef";
            out += "\\x";
            out += k_hex[c >> 4];
            out += k_hex[c & 0xf];
        } else {
            out += static_cast<char>(c);
        }
    }
    return out;
}

std::string rfc3339_utc_ms(std::int64_t unix_ms)
{
    std::int64_t secs = unix_ms / 1000;
    std::int64_t ms = unix_ms % 1000;
    if (ms < 0) {
        ms += 1000;
        --secs;
    }
    const std::time_t t = static_cast<std::time_t>(secs);
    std::tm tm{};
    gmtime_r(&t, &tm);
    char buf[80];
    std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                  tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>(ms));
    return buf;
}

std::string json_log_line(std::int64_t unix_ms, std::string_view level, std::string_view msg,
                          const nlohmann::ordered_json& fields)
{
    nlohmann::ordered_json line = nlohmann::ordered_json::object();
    line["ts"] = rfc3339_utc_ms(unix_ms);
    line["level"] = std::string(level);
    line["msg"] = std::string(msg);
    if (fields.is_object()) {
        for (const auto& [k, v] : fields.items()) {
            if (k != "ts" && k != "level" && k != "msg") {
                line[k] = v;
            }
        }
    }
    // replace: invalid UTF-8 becomes U+FFFD instead of an exception; dump escapes
    // quotes, backslashes and every control character, so the line has no raw newline.
    std::string out = line.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
    out += '\n';
    return out;
}

nlohmann::ordered_json access_fields(const http::AccessEntry& e, std::string_view fallback_id)
{
    nlohmann::ordered_json f = nlohmann::ordered_json::object();
    const http::AccessNote* n = e.note;
    if (n != nullptr && !n->request_id.empty()) {
        f["request_id"] = n->request_id;
    } else if (!fallback_id.empty()) {
        f["request_id"] = std::string(fallback_id);
    }
    f["method"] = std::string(e.method);
    f["route"] = std::string(e.path.substr(0, k_max_route_bytes));
    f["status"] = e.status;
    f["latency_ms"] = e.latency_ms;
    if (n != nullptr) {
        if (!n->surface.empty()) {
            f["surface"] = n->surface;
        }
        if (!n->key_id.empty()) {
            f["key_id"] = n->key_id;
        }
        if (!n->user_agent.empty()) {
            f["user_agent"] = n->user_agent;
        }
        if (n->recorded) {
            if (!n->requested_model.empty()) {
                f["requested_model"] = n->requested_model;
            }
            if (!n->served_model.empty()) {
                f["model"] = n->served_model;
                f["provider"] = n->provider;
            }
            f["attempts"] = n->attempts;
            if (n->stream) {
                f["stream"] = true;
                if (n->ttft_ms >= 0) {
                    f["ttft_ms"] = n->ttft_ms;
                }
            }
            f["cache"] = n->cache_hit ? "hit" : "miss";
            f["tokens_in"] = n->input_tokens;
            f["tokens_out"] = n->output_tokens;
            f["cost_usd"] = std::isfinite(n->cost_usd) ? n->cost_usd : 0.0;
        }
    }
    if (e.status >= 400 || e.status == 0 || (n != nullptr && !n->error.empty())) {
        if (!e.error_type.empty()) {
            f["error_type"] = std::string(e.error_type);
        }
        std::string message(e.error_message);
        if (message.empty() && n != nullptr) {
            message = n->error;
        }
        if (message.empty() && e.status == 0) {
            message = "the client went away before the answer";
        }
        if (!message.empty()) {
            f["error"] = std::move(message);
        }
    }
    return f;
}

std::string text_access_line(const http::AccessEntry& e, std::string_view fallback_id)
{
    const auto f = access_fields(e, fallback_id);
    std::string out = "aigwd: " + std::to_string(e.status) + " " + printable(e.method) + " " +
                      printable(e.path.substr(0, k_max_route_bytes)) + " " + std::to_string(e.latency_ms) + " ms";
    auto str = [&](const char* key) { return printable(f.value(key, std::string())); };
    if (f.contains("model")) {
        out += " model=" + str("model");
    } else if (f.contains("requested_model")) {
        out += " model=" + str("requested_model");
    }
    if (f.contains("attempts") && f["attempts"].get<int>() > 1) {
        out += " attempts=" + std::to_string(f["attempts"].get<int>());
    }
    if (f.contains("ttft_ms")) {
        out += " ttft=" + std::to_string(f["ttft_ms"].get<std::int64_t>()) + "ms";
    }
    if (f.contains("cache")) {
        out += " cache=" + str("cache");
        out += " tokens=" + std::to_string(f["tokens_in"].get<std::int64_t>()) + "/" +
               std::to_string(f["tokens_out"].get<std::int64_t>());
        out += " cost=$" + money(f["cost_usd"].get<double>());
    }
    if (f.contains("key_id")) {
        out += " key=" + str("key_id");
    }
    if (f.contains("request_id")) {
        out += " " + str("request_id");
    }
    if (f.contains("user_agent")) {
        out += " agent=\"" + str("user_agent") + "\"";
    }
    if (f.contains("error")) {
        out += " error=\"" + str("error") + "\"";
    }
    out += '\n';
    return out;
}

std::string_view level_of_text_line(std::string_view line, std::string_view& msg)
{
    msg = line;
    if (msg.starts_with("aigwd: ")) {
        msg.remove_prefix(7);
    }
    if (msg.starts_with("warning: ")) {
        msg.remove_prefix(9);
        return "warn";
    }
    if (contains(msg, "failed") || contains(msg, "cannot") || contains(msg, " lost ") || contains(msg, "threw")) {
        return "error";
    }
    return "info";
}

Logger::Logger(Sink sink) : m_sink(std::move(sink))
{}

void Logger::configure(config::LogFormat format, bool requests)
{
    m_json.store(format == config::LogFormat::json);
    m_requests.store(requests);
}

void Logger::emit(std::string_view line)
{
    std::lock_guard lock(m_mu);
    if (m_sink) {
        m_sink(line);
        return;
    }
    while (!line.empty()) {
        const ssize_t n = ::write(STDERR_FILENO, line.data(), line.size());
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            return;  // nowhere to log to: the daemon goes on
        }
        line.remove_prefix(static_cast<std::size_t>(n));
    }
}

void Logger::log(std::string_view level, std::string_view msg, const nlohmann::ordered_json& fields)
{
    if (m_json.load()) {
        emit(json_log_line(now_unix_ms(), level, msg, fields));
        return;
    }
    std::string line = "aigwd: ";
    if (level == "warn") {
        line += "warning: ";
    }
    line += msg;
    line += '\n';
    emit(line);
}

void Logger::text_line(std::string_view line)
{
    if (m_json.load()) {
        std::string_view msg;
        const auto level = level_of_text_line(line, msg);
        emit(json_log_line(now_unix_ms(), level, msg));
        return;
    }
    std::string out(line);
    out += '\n';
    emit(out);
}

void Logger::access(const http::AccessEntry& e)
{
    if (!m_requests.load()) {
        return;
    }
    // A request the pipeline never saw still gets an id, so a line can be named.
    std::string fallback;
    if (e.note == nullptr || e.note->request_id.empty()) {
        fallback = pipeline::request_id_at(now_unix_ms());
    }
    if (m_json.load()) {
        const char* level = e.status >= 500 || e.status == 0 ? "error" : (e.status >= 400 ? "warn" : "info");
        emit(json_log_line(now_unix_ms(), level, "request", access_fields(e, fallback)));
    } else {
        emit(text_access_line(e, fallback));
    }
}

void Logger::capture_stderr()
{
    // Never freed: std::cerr may be written to until the very end of the process.
    static auto* capture = new LineCapture(*this);
    std::cerr.rdbuf(capture);
}

Logger& daemon_log()
{
    static Logger* log = new Logger();
    return *log;
}

}  // namespace aigw::daemon::app

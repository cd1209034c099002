#include "cli/logs_format.hpp"

#include <algorithm>
#include <ctime>

namespace aigw::cli {

namespace {

std::string model_of(const client::LogRow& r)
{
    return r.served_model.empty() ? r.requested_model : r.served_model;
}

std::string note_of(const client::LogRow& r)
{
    std::string note;
    auto add = [&](const std::string& s) {
        if (!s.empty()) {
            note += (note.empty() ? "" : " ") + s;
        }
    };
    if (r.cache_hit) {
        add("cache-hit");
    }
    if (r.attempts > 1) {
        add("attempts=" + std::to_string(r.attempts));
    }
    if (!r.variant.empty()) {
        add("variant=" + r.variant);
    }
    if (!r.tag.empty()) {
        add("tag=" + r.tag);
    }
    if (!r.session.empty()) {
        add("session=" + r.session);
    }
    if (!r.error.empty()) {
        std::string e = r.error.substr(0, 60);
        for (auto& c : e) {
            if (c == '\n') {
                c = ' ';
            }
        }
        add(e);
    }
    return note;
}

std::string status_cell(int status, bool colour)
{
    const std::string s = std::to_string(status);
    return status >= 400 ? paint(s, Colour::red, colour) : s;
}

std::string pad_right(std::string s, std::size_t width)
{
    const std::size_t w = display_width(s);
    if (w < width) {
        s += std::string(width - w, ' ');
    }
    return s;
}

std::string pad_left(const std::string& s, std::size_t width)
{
    const std::size_t w = display_width(s);
    return w < width ? std::string(width - w, ' ') + s : s;
}

std::string pretty_body(const std::string& body)
{
    auto j = nlohmann::json::parse(body, nullptr, false);
    return j.is_discarded() ? body : j.dump(2);
}

}  // namespace

nlohmann::json log_row_json(const client::LogRow& r)
{
    nlohmann::json j = {{"ts_ms", r.ts_ms},
                        {"request_id", r.request_id},
                        {"key_id", r.key_id},
                        {"surface", r.surface},
                        {"requested_model", r.requested_model},
                        {"served_model", r.served_model},
                        {"provider", r.provider},
                        {"status", r.status},
                        {"attempt", r.attempt},
                        {"attempts", r.attempts},
                        {"final_attempt", r.final_attempt},
                        {"fallback_reason", r.fallback_reason},
                        {"error", r.error},
                        {"input_tokens", r.input_tokens},
                        {"cached_tokens", r.cached_tokens},
                        {"cache_write_tokens", r.cache_write_tokens},
                        {"output_tokens", r.output_tokens},
                        {"reasoning_tokens", r.reasoning_tokens},
                        {"cost_usd", r.cost_usd},
                        {"priced", r.priced},
                        {"latency_ms", r.latency_ms},
                        {"ttft_ms", r.ttft_ms},
                        {"stream", r.stream},
                        {"cache_hit", r.cache_hit},
                        {"tag", r.tag},
                        {"variant", r.variant},
                        {"session", r.session}};
    if (!r.request_body.empty() || !r.response_body.empty()) {
        j["request_body"] = r.request_body;
        j["response_body"] = r.response_body;
    }
    return j;
}

Table log_table(const std::vector<client::LogRow>& rows, bool colour)
{
    Table t({"TIME", "REQUEST", "MODEL", "STATUS", "IN TOK", "OUT TOK", "COST USD", "LAT ms", "NOTE"},
            {Align::left, Align::left, Align::left, Align::right, Align::right, Align::right, Align::right,
             Align::right, Align::left});
    t.keep_whole(0);  // a cut time says nothing
    for (const auto& r : rows) {
        t.add_row({format_local_time(r.ts_ms), r.request_id, model_of(r), status_cell(r.status, colour),
                   group_thousands(r.input_tokens), group_thousands(r.output_tokens), format_usd(r.cost_usd),
                   format_fixed(r.latency_ms, 0), note_of(r)});
    }
    return t;
}

std::string log_line_header(bool colour)
{
    const std::string h = pad_right("TIME", 19) + "  " + pad_right("REQUEST", 28) + "  " + pad_right("MODEL", 30) +
                          "  " + "STATUS" + "  " + pad_left("IN TOK", 7) + "  " + pad_left("OUT TOK", 7) + "  " +
                          pad_left("COST USD", 10) + "  " + pad_left("LAT ms", 7) + "  NOTE";
    return paint(h, Colour::bold, colour);
}

std::string log_line(const client::LogRow& r, bool colour)
{
    std::string line = format_local_time(r.ts_ms) + "  " + pad_right(r.request_id, 28) + "  " +
                       pad_right(model_of(r), 30) + "  " + pad_left(status_cell(r.status, colour), 6) + "  " +
                       pad_left(group_thousands(r.input_tokens), 7) + "  " +
                       pad_left(group_thousands(r.output_tokens), 7) + "  " + pad_left(format_usd(r.cost_usd), 10) +
                       "  " + pad_left(format_fixed(r.latency_ms, 0), 7) + "  " + note_of(r);
    while (!line.empty() && line.back() == ' ') {
        line.pop_back();
    }
    return line;
}

std::string log_csv(const std::vector<client::LogRow>& rows)
{
    std::string out =
        "time,request_id,requested_model,served_model,provider,status,attempts,input_tokens,cached_tokens,"
        "output_tokens,cost_usd,latency_ms,ttft_ms,cache_hit,tag,variant,session,error\n";
    for (const auto& r : rows) {
        out += csv_escape(format_local_time(r.ts_ms, "%Y-%m-%dT%H:%M:%S%z")) + "," + csv_escape(r.request_id) + "," +
               csv_escape(r.requested_model) + "," + csv_escape(r.served_model) + "," + csv_escape(r.provider) + "," +
               std::to_string(r.status) + "," + std::to_string(r.attempts) + "," + std::to_string(r.input_tokens) +
               "," + std::to_string(r.cached_tokens) + "," + std::to_string(r.output_tokens) + "," +
               format_fixed(r.cost_usd, 6) + "," + format_fixed(r.latency_ms, 0) + "," +
               (r.stream && r.ttft_ms >= 0 ? format_fixed(r.ttft_ms, 0) : std::string()) + "," +
               (r.cache_hit ? "1" : "0") + "," + csv_escape(r.tag) + "," + csv_escape(r.variant) + "," +
               csv_escape(r.session) + "," + csv_escape(r.error) + "\n";
    }
    return out;
}

namespace {

std::string one_line(std::string s)
{
    for (auto& c : s) {
        if (c == '\n' || c == '\r' || c == '\t') {
            c = ' ';
        }
    }
    return s;
}

}  // namespace

Table search_table(const std::vector<client::LogRow>& rows, bool colour)
{
    Table t({"TIME", "REQUEST", "MODEL", "STATUS", "COST USD", "MATCH"},
            {Align::left, Align::left, Align::left, Align::right, Align::right, Align::left});
    t.keep_whole(0);
    for (const auto& r : rows) {
        t.add_row({format_local_time(r.ts_ms), r.request_id, model_of(r), status_cell(r.status, colour),
                   format_usd(r.cost_usd), one_line(r.snippet)});
    }
    return t;
}

std::string search_csv(const std::vector<client::LogRow>& rows)
{
    const std::string header = log_csv({});
    std::string out = header.substr(0, header.size() - 1) + ",snippet\n";
    for (const auto& r : rows) {
        const std::string line = log_csv({r}).substr(header.size());
        out += line.substr(0, line.size() - 1) + "," + csv_escape(one_line(r.snippet)) + "\n";
    }
    return out;
}

std::expected<void, std::string> parse_status_filter(std::string_view text, client::LogQuery& q)
{
    if (text == "error" || text == "errors") {
        q.errors = true;
        return {};
    }
    if (text.size() == 3 && text[0] >= '1' && text[0] <= '5' && (text.substr(1) == "xx" || text.substr(1) == "XX")) {
        q.status_class = text[0] - '0';
        return {};
    }
    if (text.size() == 3 && std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; }) &&
        text[0] >= '1' && text[0] <= '5') {
        q.status = std::stoi(std::string(text));
        return {};
    }
    return std::unexpected("'" + std::string(text) +
                           "' is not a status; use one like 200 or 429, a class like 4xx, or error");
}

std::string request_details(const std::vector<client::LogRow>& attempts, bool colour)
{
    if (attempts.empty()) {
        return "";
    }
    const client::LogRow* final_row = &attempts.back();
    double total_cost = 0;
    for (const auto& a : attempts) {
        total_cost += a.cost_usd;
        if (a.final_attempt) {
            final_row = &a;
        }
    }
    const auto& f = *final_row;
    std::string out;
    auto field = [&](const std::string& name, const std::string& value) {
        if (!value.empty()) {
            out += paint(pad_right(name, 16), Colour::dim, colour) + value + "\n";
        }
    };
    field("request", f.request_id);
    field("time", format_local_time(f.ts_ms));
    field("surface", f.surface);
    field("key", f.key_id);
    field("requested", f.requested_model);
    field("served", f.served_model.empty() ? "" : f.served_model + " (" + f.provider + ")");
    field("status", status_cell(f.status, colour));
    field("attempts", std::to_string(attempts.size()));
    field("tag", f.tag);
    field("session", f.session);
    field("variant", f.variant);
    field("cost", format_usd(total_cost) + (f.priced ? "" : " (model not priced in the catalog)"));
    for (const auto& a : attempts) {
        // Appended piecewise: g++ 12 misreports "lit" + std::string&& in optimised builds.
        std::string heading = "attempt ";
        heading += std::to_string(a.attempt);
        heading += a.final_attempt ? " (final)" : "";
        out += '\n';
        out += paint(heading, Colour::bold, colour);
        out += '\n';
        field("model", a.served_model.empty() ? a.requested_model : a.served_model + " (" + a.provider + ")");
        field("status", status_cell(a.status, colour));
        field("fallback reason", a.fallback_reason);
        field("error", a.error);
        std::string timing = format_fixed(a.latency_ms, 0) + " ms";
        if (a.ttft_ms >= 0 && a.stream) {
            timing += ", first token after " + format_fixed(a.ttft_ms, 0) + " ms";
        }
        field("latency", timing + (a.stream ? " (streamed)" : ""));
        std::string tokens = group_thousands(a.input_tokens) + " in";
        if (a.cached_tokens > 0) {
            tokens += " (" + group_thousands(a.cached_tokens) + " cached)";
        }
        if (a.cache_write_tokens > 0) {
            tokens += ", " + group_thousands(a.cache_write_tokens) + " cache write";
        }
        tokens += ", " + group_thousands(a.output_tokens) + " out";
        if (a.reasoning_tokens > 0) {
            tokens += " (" + group_thousands(a.reasoning_tokens) + " reasoning)";
        }
        field("tokens", tokens);
        field("cost", format_usd(a.cost_usd));
        field("cache", a.cache_hit ? "hit" : "");
        if (!a.request_body.empty()) {
            out += paint("request body", Colour::dim, colour) + "\n" + pretty_body(a.request_body) + "\n";
        }
        if (!a.response_body.empty()) {
            out += paint("response body", Colour::dim, colour) + "\n" + pretty_body(a.response_body) + "\n";
        }
    }
    if (std::none_of(attempts.begin(), attempts.end(),
                     [](const client::LogRow& a) { return !a.request_body.empty() || !a.response_body.empty(); })) {
        out += '\n';
        out += paint("(bodies are stored only with [ledger] log_bodies = true in the config)", Colour::dim, colour);
        out += '\n';
    }
    return out;
}

}  // namespace aigw::cli

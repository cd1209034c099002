#include "cli/bench.hpp"

#include <algorithm>
#include <cmath>
#include <ctime>
#include <random>
#include <map>
#include <sstream>

namespace aigw::cli {

BenchPrompt prompt_from_text(const std::string& text)
{
    BenchPrompt p;
    p.label = text;
    p.messages = nlohmann::json::array({{{"role", "user"}, {"content", text}}});
    return p;
}

namespace {

// The text a prompt is known by: its last user message.
std::string label_of(const nlohmann::json& messages)
{
    for (auto it = messages.rbegin(); it != messages.rend(); ++it) {
        if (it->is_object() && it->value("role", "") == "user") {
            const auto& c = (*it)["content"];
            return c.is_string() ? c.get<std::string>() : c.dump();
        }
    }
    return messages.dump();
}

}  // namespace

std::expected<std::vector<BenchPrompt>, std::string> parse_prompt_file(std::string_view text, std::string_view name)
{
    std::vector<BenchPrompt> out;
    std::istringstream in{std::string(text)};
    std::string line;
    int line_no = 0;
    bool any_json = false;
    std::string first_error;
    while (std::getline(in, line)) {
        ++line_no;
        if (!line.empty() && line.back() == '\r') {
            line.pop_back();
        }
        if (line.find_first_not_of(" \t") == std::string::npos) {
            continue;
        }
        auto j = nlohmann::json::parse(line, nullptr, false);
        const std::string where = std::string(name) + ":" + std::to_string(line_no) + ": ";
        if (j.is_discarded()) {
            if (first_error.empty()) {
                first_error = where + "not a JSON line";
            }
            continue;
        }
        any_json = true;
        if (j.is_string()) {
            out.push_back(prompt_from_text(j.get<std::string>()));
        } else if (j.is_object() && j.contains("messages")) {
            if (!j["messages"].is_array() || j["messages"].empty()) {
                return std::unexpected(where + "\"messages\" must be a non-empty array of {role, content}");
            }
            BenchPrompt p;
            p.messages = j["messages"];
            p.label = label_of(p.messages);
            j.erase("messages");
            j.erase("model");   // the models come from the command line
            j.erase("stream");  // bench decides
            p.extra = std::move(j);
            out.push_back(std::move(p));
        } else if (j.is_object() && j.contains("prompt") && j["prompt"].is_string()) {
            BenchPrompt p = prompt_from_text(j["prompt"].get<std::string>());
            j.erase("prompt");
            j.erase("model");
            j.erase("stream");
            p.extra = std::move(j);
            out.push_back(std::move(p));
        } else {
            return std::unexpected(where + "expected {\"messages\": [...]}, {\"prompt\": \"...\"} or a JSON string");
        }
    }
    if (!any_json) {
        std::string whole(text);
        while (!whole.empty() && (whole.back() == '\n' || whole.back() == '\r')) {
            whole.pop_back();
        }
        if (whole.find_first_not_of(" \t\r\n") == std::string::npos) {
            return std::unexpected(std::string(name) + ": the file has no prompt");
        }
        return std::vector<BenchPrompt>{prompt_from_text(whole)};
    }
    if (!first_error.empty()) {
        return std::unexpected(first_error + " (a JSONL prompt file needs one JSON value per line)");
    }
    return out;
}

std::string make_run_tag(std::string_view kind)
{
    std::string tag(kind);
    tag += '-';
    tag += time_stamped_id();
    return tag;
}

std::optional<double> percentile(std::vector<double> values, double p)
{
    if (values.empty()) {
        return std::nullopt;
    }
    std::sort(values.begin(), values.end());
    const double rank = std::ceil(p / 100.0 * static_cast<double>(values.size()));
    const auto index = static_cast<std::size_t>(std::clamp(rank, 1.0, static_cast<double>(values.size()))) - 1;
    return values[index];
}

std::string error_group_key(std::string_view message)
{
    std::string out(message.substr(0, message.find('\n')));
    for (std::size_t at = out.find(" (x-request-id "); at != std::string::npos; at = out.find(" (x-request-id ")) {
        const std::size_t end = out.find(')', at);
        out.erase(at, end == std::string::npos ? std::string::npos : end - at + 1);
    }
    return out;
}

int bench_exit_code(const std::vector<BenchStats>& stats, bool interrupted, bool fail_on_errors)
{
    if (interrupted) {
        return 1;
    }
    for (const auto& s : stats) {
        if (s.calls > 0 && s.errors == s.calls) {
            return 1;
        }
        if (fail_on_errors && s.errors > 0) {
            return 1;
        }
    }
    return 0;
}

BenchStats summarize(const std::string& model, std::size_t model_index, const std::vector<BenchSample>& samples)
{
    BenchStats s;
    s.model = model;
    std::vector<double> ttft;
    std::vector<double> latency;
    std::vector<double> costs;
    double gen_s = 0;
    double total_s = 0;
    std::map<std::string, int> errors;
    for (const auto& x : samples) {
        if (x.model != model_index || x.cancelled) {
            continue;
        }
        ++s.calls;
        s.cost_total += x.cost_usd;
        if (!x.ok) {
            ++s.errors;
            ++errors[error_group_key(x.error)];
            continue;
        }
        latency.push_back(x.latency_ms);
        if (x.ttft_ms) {
            ttft.push_back(*x.ttft_ms);
            gen_s += std::max(0.0, x.latency_ms - *x.ttft_ms) / 1000.0;
        }
        total_s += x.latency_ms / 1000.0;
        costs.push_back(x.cost_usd);
        s.input_tokens += x.input_tokens;
        s.output_tokens += x.output_tokens;
    }
    s.ttft_p50 = percentile(ttft, 50);
    s.ttft_p95 = percentile(ttft, 95);
    s.latency_p50 = percentile(latency, 50);
    s.latency_p95 = percentile(latency, 95);
    // Below a millisecond per call the generation time is noise: use the whole latency.
    const double seconds = gen_s >= 0.001 * static_cast<double>(latency.size()) ? gen_s : total_s;
    if (seconds > 0 && !latency.empty()) {
        s.tokens_per_s = static_cast<double>(s.output_tokens) / seconds;
    }
    if (!costs.empty()) {
        double sum = 0;
        for (double c : costs) {
            sum += c;
        }
        s.cost_per_call = sum / static_cast<double>(costs.size());
    }
    s.error_rate = s.calls > 0 ? static_cast<double>(s.errors) / static_cast<double>(s.calls) : 0;
    s.error_counts.assign(errors.begin(), errors.end());
    std::stable_sort(s.error_counts.begin(), s.error_counts.end(),
                     [](const auto& a, const auto& b) { return a.second > b.second; });
    return s;
}

std::vector<bool> winners(const std::vector<std::optional<double>>& values, Better better)
{
    std::vector<bool> marks(values.size(), false);
    std::optional<double> best;
    std::optional<double> worst;
    int present = 0;
    for (const auto& v : values) {
        if (!v) {
            continue;
        }
        ++present;
        if (!best || (better == Better::lower ? *v < *best : *v > *best)) {
            best = v;
        }
        if (!worst || (better == Better::lower ? *v > *worst : *v < *worst)) {
            worst = v;
        }
    }
    if (present < 2 || *best == *worst) {
        return marks;
    }
    for (std::size_t i = 0; i < values.size(); ++i) {
        marks[i] = values[i] && *values[i] == *best;
    }
    return marks;
}

namespace {

std::string ms_cell(const std::optional<double>& v)
{
    if (!v) {
        return "-";
    }
    return *v >= 100 ? format_fixed(*v, 0) : format_fixed(*v, 1);
}

std::string opt_csv(const std::optional<double>& v, int decimals)
{
    return v ? format_fixed(*v, decimals) : "";
}

nlohmann::json opt_json(const std::optional<double>& v)
{
    return v ? nlohmann::json(*v) : nlohmann::json(nullptr);
}

}  // namespace

Table bench_table(const std::vector<BenchStats>& stats, bool colour)
{
    Table t({"MODEL", "CALLS", "TTFT P50 ms", "TTFT P95 ms", "LAT P50 ms", "LAT P95 ms", "TOK/S", "IN/CALL", "OUT/CALL",
             "USD/CALL", "USD TOTAL", "ERRORS"},
            {Align::left, Align::right, Align::right, Align::right, Align::right, Align::right, Align::right,
             Align::right, Align::right, Align::right, Align::right, Align::right});
    // On a narrow terminal these go first (the p50s, cost and errors decide most A/B runs);
    // the model's name is never cut.
    t.keep_whole(0);
    for (const std::size_t c : {7, 8, 3, 5, 6, 10}) {
        t.drop_when_narrow(c);
    }
    // One column of values per metric, to find its winner.
    auto column = [&](auto get) {
        std::vector<std::optional<double>> v;
        for (const auto& s : stats) {
            v.push_back(get(s));
        }
        return v;
    };
    const auto w_ttft50 = winners(column([](const BenchStats& s) { return s.ttft_p50; }), Better::lower);
    const auto w_ttft95 = winners(column([](const BenchStats& s) { return s.ttft_p95; }), Better::lower);
    const auto w_lat50 = winners(column([](const BenchStats& s) { return s.latency_p50; }), Better::lower);
    const auto w_lat95 = winners(column([](const BenchStats& s) { return s.latency_p95; }), Better::lower);
    const auto w_tps = winners(column([](const BenchStats& s) { return s.tokens_per_s; }), Better::higher);
    const auto w_cpc = winners(column([](const BenchStats& s) { return s.cost_per_call; }), Better::lower);
    const auto w_total = winners(column([](const BenchStats& s) -> std::optional<double> {
                                     return s.calls > s.errors ? std::optional<double>(s.cost_total) : std::nullopt;
                                 }),
                                 Better::lower);
    const auto w_err = winners(column([](const BenchStats& s) -> std::optional<double> {
                                   return s.calls > 0 ? std::optional<double>(s.error_rate) : std::nullopt;
                               }),
                               Better::lower);
    auto mark = [&](std::string cell, bool win) { return win ? paint(cell + "*", Colour::green, colour) : cell + " "; };
    for (std::size_t i = 0; i < stats.size(); ++i) {
        const auto& s = stats[i];
        const int ok = s.calls - s.errors;
        auto per_call = [&](std::int64_t n) { return ok > 0 ? group_thousands(n / ok) : std::string("-"); };
        std::string err = std::to_string(s.errors) + " (" + format_fixed(s.error_rate * 100, 0) + "%)";
        if (s.errors > 0) {
            err = paint(err, Colour::red, colour);
        }
        t.add_row({s.model, std::to_string(s.calls), mark(ms_cell(s.ttft_p50), w_ttft50[i]),
                   mark(ms_cell(s.ttft_p95), w_ttft95[i]), mark(ms_cell(s.latency_p50), w_lat50[i]),
                   mark(ms_cell(s.latency_p95), w_lat95[i]),
                   mark(s.tokens_per_s ? format_fixed(*s.tokens_per_s, *s.tokens_per_s >= 100 ? 0 : 1) : "-", w_tps[i]),
                   per_call(s.input_tokens), per_call(s.output_tokens),
                   mark(s.cost_per_call ? format_usd(*s.cost_per_call) : "-", w_cpc[i]),
                   mark(format_usd(s.cost_total), w_total[i]), mark(err, w_err[i])});
    }
    return t;
}

std::string bench_csv(const std::vector<BenchStats>& stats)
{
    std::string out =
        "model,calls,errors,error_rate,ttft_p50_ms,ttft_p95_ms,latency_p50_ms,latency_p95_ms,output_tokens_per_s,"
        "input_tokens,output_tokens,cost_per_call_usd,cost_total_usd\n";
    for (const auto& s : stats) {
        out += csv_escape(s.model) + "," + std::to_string(s.calls) + "," + std::to_string(s.errors) + "," +
               format_fixed(s.error_rate, 4) + "," + opt_csv(s.ttft_p50, 1) + "," + opt_csv(s.ttft_p95, 1) + "," +
               opt_csv(s.latency_p50, 1) + "," + opt_csv(s.latency_p95, 1) + "," + opt_csv(s.tokens_per_s, 2) + "," +
               std::to_string(s.input_tokens) + "," + std::to_string(s.output_tokens) + "," +
               opt_csv(s.cost_per_call, 8) + "," + format_fixed(s.cost_total, 8) + "\n";
    }
    return out;
}

nlohmann::json bench_json(const std::string& tag, const std::vector<BenchStats>& stats,
                          const std::vector<BenchSample>& samples, const std::vector<std::string>& models)
{
    nlohmann::json ms = nlohmann::json::array();
    for (const auto& s : stats) {
        nlohmann::json errors = nlohmann::json::array();
        for (const auto& [message, count] : s.error_counts) {
            errors.push_back({{"message", message}, {"count", count}});
        }
        ms.push_back({{"model", s.model},
                      {"calls", s.calls},
                      {"errors", s.errors},
                      {"error_rate", s.error_rate},
                      {"ttft_p50_ms", opt_json(s.ttft_p50)},
                      {"ttft_p95_ms", opt_json(s.ttft_p95)},
                      {"latency_p50_ms", opt_json(s.latency_p50)},
                      {"latency_p95_ms", opt_json(s.latency_p95)},
                      {"output_tokens_per_s", opt_json(s.tokens_per_s)},
                      {"input_tokens", s.input_tokens},
                      {"output_tokens", s.output_tokens},
                      {"cost_per_call_usd", opt_json(s.cost_per_call)},
                      {"cost_total_usd", s.cost_total},
                      {"error_messages", std::move(errors)}});
    }
    nlohmann::json xs = nlohmann::json::array();
    for (const auto& x : samples) {
        xs.push_back({{"model", x.model < models.size() ? models[x.model] : std::string()},
                      {"prompt", x.prompt},
                      {"repeat", x.repeat},
                      {"ok", x.ok},
                      {"cancelled", x.cancelled},
                      {"error", x.error},
                      {"request_id", x.request_id},
                      {"latency_ms", x.latency_ms},
                      {"ttft_ms", opt_json(x.ttft_ms)},
                      {"input_tokens", x.input_tokens},
                      {"output_tokens", x.output_tokens},
                      {"cost_usd", x.cost_usd},
                      {"output", x.output}});
    }
    return {{"tag", tag}, {"models", std::move(ms)}, {"samples", std::move(xs)}};
}

namespace {

// Length in bytes of the UTF-8 sequence starting with `b`.
std::size_t utf8_len(unsigned char b)
{
    if (b >= 0xF0) {
        return 4;
    }
    if (b >= 0xE0) {
        return 3;
    }
    if (b >= 0xC0) {
        return 2;
    }
    return 1;
}

// Splits `word` into pieces of at most `width` display columns.
std::vector<std::string> cut_word(std::string_view word, std::size_t width)
{
    std::vector<std::string> out;
    std::string cur;
    for (std::size_t i = 0; i < word.size();) {
        const std::size_t n = std::min(utf8_len(static_cast<unsigned char>(word[i])), word.size() - i);
        std::string next = cur + std::string(word.substr(i, n));
        if (display_width(next) > width && !cur.empty()) {
            out.push_back(cur);
            cur = std::string(word.substr(i, n));
        } else {
            cur = std::move(next);
        }
        i += n;
    }
    if (!cur.empty()) {
        out.push_back(cur);
    }
    return out;
}

}  // namespace

std::vector<std::string> wrap_text(std::string_view text, std::size_t width)
{
    width = std::max<std::size_t>(width, 1);
    std::vector<std::string> lines;
    std::size_t start = 0;
    while (start <= text.size()) {
        const std::size_t nl = text.find('\n', start);
        const std::string_view para =
            text.substr(start, nl == std::string_view::npos ? std::string_view::npos : nl - start);
        std::string line;
        std::size_t i = 0;
        bool any = false;
        while (i < para.size()) {
            while (i < para.size() && (para[i] == ' ' || para[i] == '\t' || para[i] == '\r')) {
                ++i;
            }
            std::size_t j = i;
            while (j < para.size() && para[j] != ' ' && para[j] != '\t' && para[j] != '\r') {
                ++j;
            }
            if (j == i) {
                break;
            }
            for (const auto& piece : cut_word(para.substr(i, j - i), width)) {
                const std::string candidate = line.empty() ? piece : line + " " + piece;
                if (display_width(candidate) <= width) {
                    line = candidate;
                } else {
                    lines.push_back(line);
                    line = piece;
                }
                any = true;
            }
            i = j;
        }
        if (any || !line.empty() || nl != std::string_view::npos || start < text.size()) {
            lines.push_back(line);
        }
        if (nl == std::string_view::npos) {
            break;
        }
        start = nl + 1;
    }
    return lines;
}

std::string side_by_side(const std::vector<std::string>& headers, const std::vector<std::string>& texts,
                         std::size_t width)
{
    const std::size_t n = std::max<std::size_t>(headers.size(), 1);
    const std::size_t gap = 3;
    const std::size_t col = std::max<std::size_t>((width > gap * (n - 1) ? width - gap * (n - 1) : n) / n, 8);
    std::vector<std::vector<std::string>> cols;
    std::size_t rows = 0;
    for (std::size_t i = 0; i < n; ++i) {
        std::vector<std::string> lines = wrap_text(i < headers.size() ? headers[i] : "", col);
        if (lines.empty()) {
            lines.emplace_back();
        }
        lines.emplace_back(std::min(col, std::max<std::size_t>(display_width(lines.front()), 1)), '-');
        for (auto& l : wrap_text(i < texts.size() ? texts[i] : "", col)) {
            lines.push_back(std::move(l));
        }
        rows = std::max(rows, lines.size());
        cols.push_back(std::move(lines));
    }
    std::string out;
    for (std::size_t r = 0; r < rows; ++r) {
        std::string line;
        for (std::size_t c = 0; c < n; ++c) {
            const std::string& cell = r < cols[c].size() ? cols[c][r] : std::string();
            line += cell;
            if (c + 1 < n) {
                line += std::string(col - std::min(col, display_width(cell)) + gap, ' ');
            }
        }
        while (!line.empty() && line.back() == ' ') {
            line.pop_back();
        }
        out += line + "\n";
    }
    return out;
}

}  // namespace aigw::cli

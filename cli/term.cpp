#include "cli/term.hpp"

#include "shared/wire/json_text.hpp"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <chrono>
#include <iostream>
#include <ctime>
#include <mutex>
#include <nlohmann/json.hpp>
#include <random>
#include <sstream>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

namespace aigw::cli {

bool is_tty(int fd)
{
    return ::isatty(fd) == 1;
}

bool colour_enabled(int fd)
{
    const char* no = std::getenv("NO_COLOR");
    if (no != nullptr && *no != '\0') {
        return false;
    }
    const char* term = std::getenv("TERM");
    if (term != nullptr && std::string_view(term) == "dumb") {
        return false;
    }
    return is_tty(fd);
}

std::string paint(std::string_view text, Colour c, bool enabled)
{
    if (!enabled || c == Colour::none) {
        return std::string(text);
    }
    const char* code = "";
    switch (c) {
        case Colour::red:
            code = "31";
            break;
        case Colour::green:
            code = "32";
            break;
        case Colour::yellow:
            code = "33";
            break;
        case Colour::blue:
            code = "34";
            break;
        case Colour::dim:
            code = "2";
            break;
        case Colour::bold:
            code = "1";
            break;
        case Colour::none:
            break;
    }
    return "\x1b[" + std::string(code) + "m" + std::string(text) + "\x1b[0m";
}

namespace {

// Decodes one UTF-8 code point at s[i]; advances i. Invalid bytes decode as themselves.
char32_t next_code_point(std::string_view s, std::size_t& i)
{
    const auto b0 = static_cast<unsigned char>(s[i]);
    int len = 1;
    char32_t cp = b0;
    if (b0 >= 0xF0 && b0 < 0xF8) {
        len = 4;
        cp = b0 & 0x07;
    } else if (b0 >= 0xE0) {
        len = 3;
        cp = b0 & 0x0F;
    } else if (b0 >= 0xC0) {
        len = 2;
        cp = b0 & 0x1F;
    }
    if (len > 1 && i + static_cast<std::size_t>(len) <= s.size()) {
        for (int k = 1; k < len; ++k) {
            const auto b = static_cast<unsigned char>(s[i + static_cast<std::size_t>(k)]);
            if ((b & 0xC0) != 0x80) {
                len = 1;
                cp = b0;
                break;
            }
            cp = (cp << 6) | (b & 0x3F);
        }
    } else {
        len = 1;
        cp = b0;
    }
    i += static_cast<std::size_t>(len);
    return cp;
}

bool is_combining(char32_t c)
{
    return (c >= 0x0300 && c <= 0x036F) || (c >= 0x1AB0 && c <= 0x1AFF) || (c >= 0x1DC0 && c <= 0x1DFF) ||
           (c >= 0x20D0 && c <= 0x20FF) || (c >= 0xFE20 && c <= 0xFE2F) || c == 0x200B || c == 0x200C || c == 0x200D ||
           (c >= 0xFE00 && c <= 0xFE0F);
}

bool is_wide(char32_t c)
{
    return (c >= 0x1100 && c <= 0x115F) || (c >= 0x2E80 && c <= 0x303E) || (c >= 0x3041 && c <= 0x33FF) ||
           (c >= 0x3400 && c <= 0x4DBF) || (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0xA000 && c <= 0xA4CF) ||
           (c >= 0xAC00 && c <= 0xD7A3) || (c >= 0xF900 && c <= 0xFAFF) || (c >= 0xFE30 && c <= 0xFE4F) ||
           (c >= 0xFF00 && c <= 0xFF60) || (c >= 0xFFE0 && c <= 0xFFE6) || (c >= 0x1F300 && c <= 0x1F64F) ||
           (c >= 0x1F900 && c <= 0x1F9FF) || (c >= 0x20000 && c <= 0x3FFFD);
}

}  // namespace

std::size_t display_width(std::string_view s)
{
    std::size_t width = 0;
    std::size_t i = 0;
    while (i < s.size()) {
        if (s[i] == '\x1b' && i + 1 < s.size() && s[i + 1] == '[') {
            // CSI sequence: ESC [ params final-byte(0x40..0x7E)
            i += 2;
            while (i < s.size() && !(s[i] >= 0x40 && s[i] <= 0x7E)) {
                ++i;
            }
            ++i;
            continue;
        }
        const char32_t cp = next_code_point(s, i);
        if (cp < 0x20 || cp == 0x7F || is_combining(cp)) {
            continue;
        }
        width += is_wide(cp) ? 2 : 1;
    }
    return width;
}

Table::Table(std::vector<std::string> headers, std::vector<Align> align)
    : m_headers(std::move(headers)), m_align(std::move(align))
{
    m_align.resize(m_headers.size(), Align::left);
    // Numbers are never cut (a cut number lies); text columns give way first.
    for (const Align a : m_align) {
        m_keep.push_back(a == Align::right);
    }
    if (is_tty(1)) {
        m_max_width = terminal_width(1);
    }
}

std::vector<std::size_t> fit_widths(std::vector<std::size_t> widths, std::size_t max_total, std::size_t gap,
                                    std::vector<std::size_t> mins)
{
    if (max_total == 0 || widths.empty()) {
        return widths;
    }
    constexpr std::size_t k_min = 3;
    std::size_t total = gap * (widths.size() - 1);
    for (auto w : widths) {
        total += w;
    }
    // First the columns that may be cut (down to their minimum), then those columns down to
    // k_min, and only then, if the row still does not fit, every column down to k_min.
    mins.resize(widths.size(), k_min);
    const std::vector<std::size_t> original = widths;
    for (const int pass : {0, 1, 2}) {
        while (total > max_total) {
            std::optional<std::size_t> widest;
            for (std::size_t c = 0; c < widths.size(); ++c) {
                const bool kept = mins[c] >= original[c];
                const std::size_t floor = pass == 0           ? std::max(mins[c], k_min)
                                          : pass == 1 && kept ? std::max(mins[c], k_min)
                                                              : k_min;
                if (widths[c] > floor && (!widest || widths[c] > widths[*widest])) {
                    widest = c;
                }
            }
            if (!widest) {
                break;
            }
            --widths[*widest];
            --total;
        }
    }
    return widths;
}

std::string strip_colour(std::string_view s)
{
    std::string plain;
    for (std::size_t i = 0; i < s.size(); ++i) {
        if (s[i] == '\x1b' && i + 1 < s.size() && s[i + 1] == '[') {
            i += 2;
            while (i < s.size() && !(s[i] >= '@' && s[i] <= '~')) {
                ++i;
            }
            continue;
        }
        plain.push_back(s[i]);
    }
    return plain;
}

std::string truncate_to_width(std::string_view s, std::size_t width)
{
    if (display_width(s) <= width) {
        return std::string(s);
    }
    // Drop ANSI escapes, then keep whole UTF-8 characters up to width - 1, then "…".
    const std::string plain = strip_colour(s);
    std::string out;
    std::size_t used = 0;
    for (std::size_t i = 0; i < plain.size();) {
        std::size_t len = 1;
        const auto lead = static_cast<unsigned char>(plain[i]);
        if (lead >= 0xF0) {
            len = 4;
        } else if (lead >= 0xE0) {
            len = 3;
        } else if (lead >= 0xC0) {
            len = 2;
        }
        const std::string_view ch = std::string_view(plain).substr(i, len);
        const std::size_t w = display_width(ch);
        if (used + w + 1 > width) {
            break;
        }
        out += ch;
        used += w;
        i += len;
    }
    return out + "…";
}

void Table::add_row(std::vector<std::string> cells)
{
    cells.resize(m_headers.size());
    m_rows.push_back(std::move(cells));
}

void Table::add_rule()
{
    m_rows.emplace_back();
}

namespace {

/// A header split at the space that makes its longer line shortest ("TTFT P50 ms" ->
/// "TTFT", "P50 ms"); a header without a space stays on one line.
std::pair<std::string, std::string> split_header(const std::string& h)
{
    std::pair<std::string, std::string> best{h, ""};
    std::size_t best_width = display_width(h);
    for (std::size_t at = h.find(' '); at != std::string::npos; at = h.find(' ', at + 1)) {
        const std::string top = h.substr(0, at);
        const std::string bottom = h.substr(at + 1);
        const std::size_t w = std::max(display_width(top), display_width(bottom));
        if (w < best_width) {
            best = {top, bottom};
            best_width = w;
        }
    }
    return best;
}

}  // namespace

void Table::print(std::ostream& out, bool colour) const
{
    std::vector<std::string> hidden;
    print_fitted(out, colour, hidden);
    if (!hidden.empty()) {
        std::string names;
        for (const auto& h : hidden) {
            names += (names.empty() ? "" : ", ") + h;
        }
        // The note wraps between words: a table that fits must not end in a line that does not.
        const std::string note =
            "hidden to fit " + std::to_string(m_max_width) + " columns: " + names + " (--csv shows all)";
        std::string line;
        std::istringstream words(note);
        for (std::string word; words >> word;) {
            if (!line.empty() && m_max_width > 0 && display_width(line) + 1 + display_width(word) > m_max_width) {
                out << paint(line, Colour::dim, colour) << '\n';
                line.clear();
            }
            line += (line.empty() ? "" : " ") + word;
        }
        out << paint(line, Colour::dim, colour) << '\n';
    }
}

void Table::print_csv(std::ostream& out) const
{
    auto name_of = [&](const std::string& h, std::size_t c) {
        if (h.empty()) {
            return std::string(c == 0 ? "field" : c == 1 ? "value" : "column" + std::to_string(c + 1));
        }
        std::string name;
        for (const char ch : h) {
            if (std::isalnum(static_cast<unsigned char>(ch)) != 0) {
                name.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(ch))));
            } else if (ch == '$') {
                name += "usd_";
            } else if (!name.empty() && name.back() != '_') {
                name.push_back('_');
            }
        }
        while (!name.empty() && name.back() == '_') {
            name.pop_back();
        }
        return name;
    };
    for (std::size_t c = 0; c < m_headers.size(); ++c) {
        out << (c > 0 ? "," : "") << csv_escape(name_of(m_headers[c], c));
    }
    out << '\n';
    for (const auto& row : m_rows) {
        if (row.empty()) {
            continue;
        }
        for (std::size_t c = 0; c < row.size(); ++c) {
            out << (c > 0 ? "," : "") << csv_escape(strip_colour(row[c]));
        }
        out << '\n';
    }
}

void Table::print_fitted(std::ostream& out, bool colour, std::vector<std::string>& hidden) const
{
    const std::size_t n = m_headers.size();
    std::vector<std::size_t> cell_widths(n, 0);
    for (const auto& row : m_rows) {
        for (std::size_t c = 0; c < row.size(); ++c) {
            cell_widths[c] = std::max(cell_widths[c], display_width(row[c]));
        }
    }
    auto widths_with = [&](const std::vector<std::string>& top, const std::vector<std::string>& bottom) {
        std::vector<std::size_t> w(n);
        for (std::size_t c = 0; c < n; ++c) {
            w[c] = std::max({cell_widths[c], display_width(top[c]), display_width(bottom[c])});
        }
        return w;
    };
    auto row_width = [](const std::vector<std::size_t>& w) {
        std::size_t total = 0;
        for (std::size_t c = 0; c < w.size(); ++c) {
            total += w[c] + (c + 1 < w.size() ? 2 : 0);
        }
        return total;
    };
    // Headers on one line when the table fits; else on two lines ("TTFT" over "P50 ms"),
    // which often saves enough not to cut any cell.
    std::vector<std::string> top = m_headers;
    std::vector<std::string> bottom(n);
    std::vector<std::size_t> widths = widths_with(top, bottom);
    if (m_max_width > 0 && row_width(widths) > m_max_width) {
        for (std::size_t c = 0; c < n; ++c) {
            std::tie(top[c], bottom[c]) = split_header(m_headers[c]);
        }
        widths = widths_with(top, bottom);
    }
    const bool two_line = std::any_of(bottom.begin(), bottom.end(), [](const std::string& b) { return !b.empty(); });
    std::vector<std::size_t> mins(n, 0);
    for (std::size_t c = 0; c < n; ++c) {
        mins[c] =
            m_keep[c] ? widths[c] : std::min(widths[c], std::max(display_width(top[c]), display_width(bottom[c])));
    }
    const std::vector<std::size_t> wanted = widths;
    widths = fit_widths(std::move(widths), m_max_width, 2, std::move(mins));
    bool number_cut = false;
    for (std::size_t c = 0; c < n; ++c) {
        number_cut = number_cut || (m_keep[c] && widths[c] < wanted[c]);
    }
    if (number_cut && !m_drop.empty() && n > 1) {
        const std::size_t gone = m_drop.front();
        Table narrower = *this;
        narrower.m_headers.erase(narrower.m_headers.begin() + static_cast<std::ptrdiff_t>(gone));
        narrower.m_align.erase(narrower.m_align.begin() + static_cast<std::ptrdiff_t>(gone));
        narrower.m_keep.erase(narrower.m_keep.begin() + static_cast<std::ptrdiff_t>(gone));
        for (auto& row : narrower.m_rows) {
            if (!row.empty()) {
                row.erase(row.begin() + static_cast<std::ptrdiff_t>(gone));
            }
        }
        narrower.m_drop.clear();
        for (std::size_t i = 1; i < m_drop.size(); ++i) {
            if (m_drop[i] != gone) {
                narrower.m_drop.push_back(m_drop[i] > gone ? m_drop[i] - 1 : m_drop[i]);
            }
        }
        hidden.push_back(m_headers[gone]);
        narrower.print_fitted(out, colour, hidden);
        return;
    }
    auto print_row = [&](const std::vector<std::string>& cells, bool header) {
        std::string line;
        for (std::size_t c = 0; c < cells.size(); ++c) {
            const std::string fitted = truncate_to_width(cells[c], widths[c]);
            const std::size_t pad = widths[c] - display_width(fitted);
            const bool last = c + 1 == cells.size();
            std::string cell = header ? paint(fitted, Colour::bold, colour) : fitted;
            if (m_align[c] == Align::right) {
                line += std::string(pad, ' ') + cell;
            } else {
                line += cell;
                if (!last) {
                    line += std::string(pad, ' ');
                }
            }
            if (!last) {
                line += "  ";
            }
        }
        while (!line.empty() && line.back() == ' ') {
            line.pop_back();
        }
        out << line << '\n';
    };
    if (two_line) {
        // The first line holds what does not fit on the second, so short headers sit on the
        // line next to the values.
        std::vector<std::string> first(n);
        std::vector<std::string> second(n);
        for (std::size_t c = 0; c < n; ++c) {
            if (bottom[c].empty()) {
                second[c] = top[c];
            } else {
                first[c] = top[c];
                second[c] = bottom[c];
            }
        }
        print_row(first, true);
        print_row(second, true);
    } else {
        print_row(top, true);
    }
    const std::size_t total = row_width(widths);
    for (const auto& row : m_rows) {
        if (row.empty()) {
            out << paint(std::string(total, '-'), Colour::dim, colour) << '\n';
        } else {
            print_row(row, false);
        }
    }
}

std::string format_fixed(double v, int decimals)
{
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
    return buf;
}

std::string human_bytes(std::int64_t n)
{
    static constexpr const char* k_units[] = {"KiB", "MiB", "GiB", "TiB"};
    if (n < 1024) {
        return std::to_string(n) + " B";
    }
    double v = static_cast<double>(n);
    int unit = -1;
    while (v >= 1024 && unit < 3) {
        v /= 1024;
        ++unit;
    }
    return format_fixed(v, v < 10 ? 1 : 0) + " " + k_units[unit];
}

std::string toml_string(std::string_view s)
{
    // A TOML basic string has JSON's escapes, and TOML alone also forbids a raw DEL.
    std::string out = wire::dump_json(nlohmann::json(std::string(s)));
    for (std::size_t at = out.find('\x7f'); at != std::string::npos; at = out.find('\x7f', at)) {
        out.replace(at, 1, "\\u007f");
    }
    return out;
}

std::string human_tokens(std::int64_t n)
{
    if (n <= 0) {
        return "-";
    }
    auto trim_num = [](double v) {
        std::string s = format_fixed(v, 1);
        if (s.size() > 2 && s.substr(s.size() - 2) == ".0") {
            s.resize(s.size() - 2);
        }
        return s;
    };
    // Round numbers are decimal (128000 -> 128k) or binary (131072 -> 128k, 1048576 -> 1M).
    auto scaled = [n](std::int64_t dec, std::int64_t bin) {
        if (n % dec != 0 && n % bin == 0) {
            return static_cast<double>(n) / static_cast<double>(bin);
        }
        return static_cast<double>(n) / static_cast<double>(dec);
    };
    if (n >= 1'000'000) {
        return trim_num(scaled(1'000'000, 1'048'576)) + "M";
    }
    if (n >= 1000) {
        return trim_num(std::round(scaled(1000, 1024) * 10) / 10) + "k";
    }
    return std::to_string(n);
}

std::string group_thousands(std::int64_t n)
{
    const std::string digits = std::to_string(n < 0 ? -n : n);
    std::string out;
    out.reserve(digits.size() + digits.size() / 3 + 1);
    if (n < 0) {
        out.push_back('-');
    }
    // Appended one character at a time: g++ 12 misreports string concatenation here
    // (-Wstringop-overflow) in optimised builds.
    for (std::size_t i = 0; i < digits.size(); ++i) {
        if (i > 0 && (digits.size() - i) % 3 == 0) {
            out.push_back(',');
        }
        out.push_back(digits[i]);
    }
    return out;
}

std::string format_usd(double usd)
{
    // One format everywhere, micro-dollars (a call often costs a few millionths), so a
    // right-aligned column lines up on the decimal point and $0 looks like the rest.
    const double a = std::fabs(usd);
    const std::string digits = format_fixed(a, 6);
    const bool negative = usd < 0 && digits != format_fixed(0, 6);
    return (negative ? "-$" : "$") + digits;
}

std::string format_price(double per_mtok)
{
    std::string s = format_fixed(per_mtok, 4);
    // Keep at least two decimals, drop trailing zeros beyond that.
    while (s.size() > 3 && s.back() == '0' && s[s.size() - 3] != '.') {
        s.pop_back();
    }
    return s;
}

std::string csv_escape(std::string_view cell)
{
    if (cell.find_first_of(",\"\n\r") == std::string_view::npos) {
        return std::string(cell);
    }
    std::string out = "\"";
    for (char ch : cell) {
        if (ch == '"') {
            out += '"';
        }
        out += ch;
    }
    return out + "\"";
}

std::optional<std::string> read_secret(std::string_view prompt)
{
    std::string line;
    if (!is_tty(0)) {
        if (!std::getline(std::cin, line)) {
            return std::nullopt;
        }
    } else {
        std::fprintf(stderr, "%.*s", static_cast<int>(prompt.size()), prompt.data());
        std::fflush(stderr);
        termios old{};
        const bool have_attrs = ::tcgetattr(0, &old) == 0;
        if (have_attrs) {
            termios quiet = old;
            quiet.c_lflag &= ~static_cast<tcflag_t>(ECHO);
            quiet.c_lflag |= ECHONL;
            ::tcsetattr(0, TCSAFLUSH, &quiet);
        }
        const bool ok = static_cast<bool>(std::getline(std::cin, line));
        if (have_attrs) {
            ::tcsetattr(0, TCSAFLUSH, &old);
        }
        if (!ok) {
            std::fputc('\n', stderr);
            return std::nullopt;
        }
    }
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ' || line.back() == '\t')) {
        line.pop_back();
    }
    const auto b = line.find_first_not_of(" \t");
    return b == std::string::npos ? std::string() : line.substr(b);
}

std::size_t terminal_width(int fd)
{
    winsize ws{};
    if (::ioctl(fd, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0) {
        return ws.ws_col;
    }
    if (const char* cols = std::getenv("COLUMNS"); cols != nullptr) {
        const long n = std::strtol(cols, nullptr, 10);
        if (n > 0) {
            return static_cast<std::size_t>(n);
        }
    }
    return 100;
}

std::string bar(double value, double max, std::size_t width)
{
    if (!(value > 0) || !(max > 0) || width == 0) {
        return "";
    }
    static constexpr const char* k_eighths[] = {"",       "\u258F", "\u258E", "\u258D",
                                                "\u258C", "\u258B", "\u258A", "\u2589"};
    const auto eighths =
        static_cast<std::size_t>(std::lround(std::min(value / max, 1.0) * static_cast<double>(width * 8)));
    std::string out;
    for (std::size_t i = 0; i < eighths / 8; ++i) {
        out += "\u2588";
    }
    out += k_eighths[eighths % 8];
    if (out.empty()) {
        out = k_eighths[1];  // a value above zero is never invisible
    }
    return out;
}

std::string render_progress(std::size_t done, std::size_t total, std::size_t errors, double elapsed_s,
                            std::size_t width)
{
    std::string tail = "  " + std::to_string(done) + "/" + std::to_string(total);
    if (errors > 0) {
        tail += "  " + std::to_string(errors) + (errors == 1 ? " error" : " errors");
    }
    tail += "  " + format_fixed(elapsed_s, 1) + "s";
    const std::size_t room = width > tail.size() + 3 ? width - tail.size() - 3 : 0;
    const std::size_t cells = std::min<std::size_t>(room, 40);
    std::string line = "[";
    const std::size_t filled = total > 0 ? cells * std::min(done, total) / total : 0;
    line += std::string(filled, '#');
    line += std::string(cells - filled, '.');
    line += "]";
    return line + tail;
}

struct ProgressBar::State {
    std::mutex mu;
    std::size_t total = 0;
    std::size_t done = 0;
    std::size_t errors = 0;
    bool enabled = false;
    bool finished = false;
    std::chrono::steady_clock::time_point start = std::chrono::steady_clock::now();
    std::chrono::steady_clock::time_point last_draw{};
};

ProgressBar::ProgressBar(std::size_t total, bool enabled) : m_state(std::make_unique<State>())
{
    m_state->total = total;
    m_state->enabled = enabled;
    std::lock_guard lock(m_state->mu);
    draw_locked(true);
}

ProgressBar::~ProgressBar()
{
    finish();
}

void ProgressBar::tick(bool error)
{
    std::lock_guard lock(m_state->mu);
    ++m_state->done;
    if (error) {
        ++m_state->errors;
    }
    draw_locked(m_state->done == m_state->total);
}

void ProgressBar::draw_locked(bool force)
{
    State& s = *m_state;
    if (!s.enabled || s.finished) {
        return;
    }
    const auto now = std::chrono::steady_clock::now();
    if (!force && now - s.last_draw < std::chrono::milliseconds(100)) {
        return;
    }
    s.last_draw = now;
    const double elapsed = std::chrono::duration<double>(now - s.start).count();
    const std::size_t width = std::min<std::size_t>(terminal_width(2), 100);
    const std::string line = render_progress(s.done, s.total, s.errors, elapsed, width - 1);
    std::fprintf(stderr, "\r%s\x1b[K", line.c_str());
    std::fflush(stderr);
}

void ProgressBar::finish()
{
    std::lock_guard lock(m_state->mu);
    if (m_state->enabled && !m_state->finished) {
        std::fprintf(stderr, "\r\x1b[K");
        std::fflush(stderr);
    }
    m_state->finished = true;
}

std::string format_local_time(std::int64_t unix_ms, const char* format)
{
    const std::time_t t = static_cast<std::time_t>(unix_ms / 1000);
    std::tm tm{};
    localtime_r(&t, &tm);
    char buf[64];
    std::strftime(buf, sizeof buf, format, &tm);
    return buf;
}

std::string time_stamped_id()
{
    const auto now_ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
            .count();
    std::random_device rd;
    char suffix[8];
    std::snprintf(suffix, sizeof suffix, "%04x", static_cast<unsigned>(rd() & 0xFFFF));
    std::string id = format_local_time(now_ms, "%Y%m%d-%H%M%S");
    id += '-';
    id += suffix;
    return id;
}

}  // namespace aigw::cli

#pragma once
// Terminal helpers: TTY detection, colour (only on a TTY and without NO_COLOR), tables
// aligned by display width, and number formatting for reports.
#include "shared/wire/ascii.hpp"

#include <cstdint>
#include <memory>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

namespace aigw::cli {

bool is_tty(int fd);
/// True when `fd` is a terminal and NO_COLOR is unset or empty.
bool colour_enabled(int fd);

enum class Colour { none, red, green, yellow, blue, dim, bold };
/// Wraps `text` in ANSI codes when `enabled`.
std::string paint(std::string_view text, Colour c, bool enabled);

/// Columns a UTF-8 string takes on a terminal: ANSI escapes count 0, combining marks 0,
/// East Asian wide characters and emoji 2, anything else 1.
std::size_t display_width(std::string_view s);

enum class Align { left, right };

/// A table printed with columns padded to the widest cell. Cells may contain colour codes.
class Table {
public:
    explicit Table(std::vector<std::string> headers, std::vector<Align> align = {});
    void add_row(std::vector<std::string> cells);
    /// A separator line before the next row (e.g. before a TOTAL line).
    void add_rule();
    /// Two spaces between columns; no trailing spaces; headers bold when `colour`. Rows
    /// never wrap: past the max width the widest column is cut with "…".
    void print(std::ostream& out, bool colour = false) const;
    /// Columns a row may take; 0 = no limit. Defaults to the terminal's width when stdout
    /// is a terminal, else no limit (pipes get whole cells).
    void set_max_width(std::size_t columns) { m_max_width = columns; }
    /// Column `c` is cut only when cutting every other column is not enough (right-aligned
    /// columns, numbers, are kept whole by default).
    void keep_whole(std::size_t c) { m_keep.at(c) = true; }
    /// Column `c` is left out (with a note under the table) when the row would otherwise
    /// have to cut a number; columns marked first go first.
    void drop_when_narrow(std::size_t c) { m_drop.push_back(c); }
    std::size_t rows() const { return m_rows.size(); }
    /// The table as CSV: a header line of snake_case names ("TTFT P50 ms" -> ttft_p50_ms,
    /// an empty header -> field/value), every row, no rules, no colour codes.
    void print_csv(std::ostream& out) const;

private:
    /// Prints the table, or, when a number would be cut and a column may be dropped, the
    /// table without it (its header added to `hidden`).
    void print_fitted(std::ostream& out, bool colour, std::vector<std::string>& hidden) const;

    std::vector<std::string> m_headers;
    std::vector<Align> m_align;
    std::vector<std::vector<std::string>> m_rows;  ///< an empty row is a rule
    std::vector<bool> m_keep;                      ///< columns cut only as a last resort
    std::vector<std::size_t> m_drop;               ///< columns left out on a narrow terminal, in order
    std::size_t m_max_width = 0;
};

/// Column widths that fit `max_total` columns with `gap` between columns: the widest column
/// above its minimum (`mins`, default 3) gives up one column at a time until the row fits;
/// when that is not enough, every column may shrink down to 3. `max_total` 0 keeps the widths.
std::vector<std::size_t> fit_widths(std::vector<std::size_t> widths, std::size_t max_total, std::size_t gap = 2,
                                    std::vector<std::size_t> mins = {});

/// `s` without its ANSI colour codes.
std::string strip_colour(std::string_view s);
/// `s` cut to `width` display columns, ending in "…" when cut; colour codes are dropped
/// from a cut cell.
std::string truncate_to_width(std::string_view s, std::size_t width);

/// 128000 -> "128k", 1048576 -> "1M", 2000000 -> "2M", 0 -> "-".
std::string human_tokens(std::int64_t n);
/// 1536 -> "1.5 KiB"; bytes below 1 KiB as they are ("512 B").
std::string human_bytes(std::int64_t n);
using wire::ascii_lower;  ///< ASCII letters lowered, other bytes as they are
/// A TOML basic string, quoted and escaped: for `aigw config show` and Codex's `-c key=value`.
std::string toml_string(std::string_view s);
/// 1234567 -> "1,234,567".
std::string group_thousands(std::int64_t n);
/// The one money format, micro-dollars: 0 -> "$0.000000", 0.00001 -> "$0.000010", 12.5 -> "$12.500000".
std::string format_usd(double usd);
/// Price per 1M tokens: 0.15 -> "0.15", 2.5 -> "2.50", 0.075 -> "0.075".
std::string format_price(double per_mtok);
/// Fixed decimals without std::format.
std::string format_fixed(double v, int decimals);

/// Reads a secret from the terminal with echo off (prompt on stderr), or a whole line from
/// stdin when it is not a terminal. nullopt on EOF / read failure.
std::optional<std::string> read_secret(std::string_view prompt);

/// Columns of the terminal on `fd`, else $COLUMNS, else 100.
std::size_t terminal_width(int fd);

/// A horizontal bar of `value / max` of `width` columns in eighth-blocks ("█▌"); empty for 0.
std::string bar(double value, double max, std::size_t width);

/// One progress line: "[#####.....] 12/40  2 errors  3.1s" fitted to `width` columns.
std::string render_progress(std::size_t done, std::size_t total, std::size_t errors, double elapsed_s,
                            std::size_t width);

/// A live progress line on stderr, redrawn at most 10 times a second; silent when stderr
/// is not a terminal. Thread-safe.
class ProgressBar {
public:
    ProgressBar(std::size_t total, bool enabled);
    ~ProgressBar();
    ProgressBar(const ProgressBar&) = delete;
    ProgressBar& operator=(const ProgressBar&) = delete;
    void tick(bool error);
    /// Erases the line (so the report starts on a clean line). Idempotent.
    void finish();

private:
    void draw_locked(bool force);
    struct State;
    std::unique_ptr<State> m_state;
};

/// Appends CSV-escaped `cell` ("a,b" -> "\"a,b\"").
std::string csv_escape(std::string_view cell);

/// A unix-ms time in local time, strftime `format`.
std::string format_local_time(std::int64_t unix_ms, const char* format = "%Y-%m-%d %H:%M:%S");

/// "20261121-140125-a54f": local time now and 16 random bits, for run tags and conversation ids.
std::string time_stamped_id();

}  // namespace aigw::cli

#pragma once
// Line editing for `aigw chat` on a terminal: arrows, Home/End, Ctrl-R and a history file,
// through libedit (BSD-licensed, Debian's libedit-dev).

#include <filesystem>
#include <string>

namespace aigw::cli {

/// One libedit session per process (libedit's readline interface is global state).
class LineEditor {
public:
    /// Loads the history from `history_file` (absent is fine); it is written back (0600)
    /// after each line, so a crash loses nothing.
    explicit LineEditor(std::filesystem::path history_file);
    ~LineEditor();
    LineEditor(const LineEditor&) = delete;
    LineEditor& operator=(const LineEditor&) = delete;

    enum class Result { line, eof };
    /// Reads one edited line after `prompt` (written to stderr). eof on Ctrl-D at an empty line.
    Result read_line(const std::string& prompt, std::string& line);

private:
    std::filesystem::path m_history_file;
};

/// Model output made safe to write to a terminal: ESC, other C0 controls, DEL and C1
/// controls are shown as visible escapes ("\x1b" -> "^[", "\r" -> "^M", U+009B -> "\u009b");
/// newline and tab stay.
std::string make_printable(std::string_view text);

}  // namespace aigw::cli

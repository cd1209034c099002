#include "cli/line_editor.hpp"

#include <sys/stat.h>

#include <cstdio>
#include <cstdlib>

#include <editline/readline.h>

namespace aigw::cli {

namespace {
constexpr int k_history_lines = 1000;
}

LineEditor::LineEditor(std::filesystem::path history_file) : m_history_file(std::move(history_file))
{
    // The prompt and the editing go to stderr: stdout carries only the answers.
    rl_outstream = stderr;
    rl_initialize();
    using_history();
    stifle_history(k_history_lines);
    std::error_code ec;
    if (std::filesystem::exists(m_history_file, ec)) {
        read_history(m_history_file.c_str());
    }
}

LineEditor::~LineEditor() = default;

LineEditor::Result LineEditor::read_line(const std::string& prompt, std::string& line)
{
    char* raw = readline(prompt.c_str());
    if (raw == nullptr) {
        return Result::eof;
    }
    line = raw;
    std::free(raw);
    if (!line.empty() && line.find_first_not_of(" \t") != std::string::npos) {
        add_history(line.c_str());
        std::error_code ec;
        std::filesystem::create_directories(m_history_file.parent_path(), ec);
        // Prompts are private: the file is created 0600 before anything is written to it.
        if (FILE* f = std::fopen(m_history_file.c_str(), "a"); f != nullptr) {
            std::fclose(f);
        }
        ::chmod(m_history_file.c_str(), 0600);
        write_history(m_history_file.c_str());
    }
    return Result::line;
}

std::string make_printable(std::string_view text)
{
    static constexpr char k_hex[] = "0123456789abcdef";
    std::string out;
    out.reserve(text.size());
    for (std::size_t i = 0; i < text.size(); ++i) {
        const auto c = static_cast<unsigned char>(text[i]);
        if (c == '\n' || c == '\t') {
            out.push_back(static_cast<char>(c));
        } else if (c < 0x20) {
            out.push_back('^');
            out.push_back(static_cast<char>(c + 0x40));
        } else if (c == 0x7f) {
            out += "^?";
        } else if (c == 0xc2 && i + 1 < text.size() && static_cast<unsigned char>(text[i + 1]) >= 0x80 &&
                   static_cast<unsigned char>(text[i + 1]) <= 0x9f) {
            // U+0080..U+009F: C1 controls (0x9b is a one-byte CSI on some terminals).
            const auto c1 = static_cast<unsigned char>(text[++i]);
            out += "\\u00";
            out.push_back(k_hex[c1 >> 4]);
            out.push_back(k_hex[c1 & 0xf]);
        } else {
            out.push_back(static_cast<char>(c));
        }
    }
    return out;
}

}  // namespace aigw::cli

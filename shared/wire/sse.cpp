#include "shared/wire/sse.hpp"

#include <cstring>

namespace aigw::wire {

void SseReader::feed(std::string_view bytes, std::vector<SseEvent>& out)
{
    // Whole lines are handled where they lie in `bytes`; only a line cut by the end of
    // `bytes` is copied (to m_line) until the rest arrives.
    const char* p = bytes.data();
    const char* const end = p + bytes.size();
    while (p != end) {
        if (m_saw_cr) {
            m_saw_cr = false;
            if (*p == '\n') {
                ++p;  // the LF of a CRLF pair: the line was already processed at CR
                continue;
            }
        }
        const auto rest = static_cast<std::size_t>(end - p);
        const char* eol = static_cast<const char*>(std::memchr(p, '\n', rest));
        const char* cr =
            static_cast<const char*>(std::memchr(p, '\r', eol != nullptr ? static_cast<std::size_t>(eol - p) : rest));
        if (cr != nullptr) {
            eol = cr;
        }
        if (eol == nullptr) {
            m_line.append(p, rest);
            return;
        }
        const std::string_view line(p, static_cast<std::size_t>(eol - p));
        if (m_line.empty()) {
            process_line(line, out);
        } else {
            m_line.append(line);
            process_line(m_line, out);
            m_line.clear();
        }
        m_saw_cr = *eol == '\r';
        p = eol + 1;
    }
}

bool SseReader::finish(std::vector<SseEvent>& out)
{
    if (!m_line.empty()) {
        process_line(m_line, out);
        m_line.clear();
    }
    if (m_has_data) {
        out.push_back(std::move(m_event));
        m_event = {};
        m_has_data = false;
        return true;
    }
    return false;
}

void SseReader::process_line(std::string_view line, std::vector<SseEvent>& out)
{
    if (line.empty()) {
        // Blank line: dispatch. An event with no data lines is dropped, as the spec says.
        if (m_has_data) {
            out.push_back(std::move(m_event));
        }
        m_event = {};
        m_has_data = false;
        return;
    }
    if (line.front() == ':') {
        return;  // comment / keep-alive
    }
    std::string_view field = line;
    std::string_view value;
    if (auto colon = line.find(':'); colon != std::string_view::npos) {
        field = line.substr(0, colon);
        value = line.substr(colon + 1);
        if (!value.empty() && value.front() == ' ') {
            value.remove_prefix(1);
        }
    }
    if (field == "data") {
        if (m_has_data) {
            m_event.data.push_back('\n');
        }
        m_event.data.append(value);
        m_has_data = true;
    } else if (field == "event") {
        m_event.event.assign(value);
    } else if (field == "id") {
        m_event.id.assign(value);
    }
    // "retry" and unknown fields are ignored.
}

namespace {
void append_data_lines(std::string& out, std::string_view data)
{
    std::size_t start = 0;
    while (true) {
        auto nl = data.find('\n', start);
        out += "data: ";
        out.append(data.substr(start, nl == std::string_view::npos ? std::string_view::npos : nl - start));
        out += '\n';
        if (nl == std::string_view::npos) {
            break;
        }
        start = nl + 1;
    }
    out += '\n';
}
}  // namespace

std::string sse_data(std::string_view data)
{
    std::string out;
    out.reserve(data.size() + 8);
    append_data_lines(out, data);
    return out;
}

std::string sse_event(std::string_view name, std::string_view data)
{
    std::string out;
    out.reserve(name.size() + data.size() + 16);
    out += "event: ";
    out.append(name);
    out += '\n';
    append_data_lines(out, data);
    return out;
}

}  // namespace aigw::wire

#pragma once
// Server-sent events as specified by WHATWG HTML §9.2: lines end in CRLF, LF or CR; an
// event ends at a blank line; `data:` lines are joined with "\n"; one leading space after
// the colon is dropped; lines starting with ':' are comments.

#include <string>
#include <string_view>
#include <vector>

namespace aigw::wire {

struct SseEvent {
    std::string event;  ///< empty means the default "message"
    std::string data;
    std::string id;
};

/// Incremental parser: feed bytes as they arrive (any split, including inside a CRLF).
class SseReader {
public:
    /// Appends every event completed by `bytes` to `out`.
    void feed(std::string_view bytes, std::vector<SseEvent>& out);
    /// Call at end of stream: dispatches a final event that lacked its blank line
    /// (returns true if one was dispatched). Per spec such an event is discarded by
    /// browsers; providers rarely do this, but we keep it to report usage.
    bool finish(std::vector<SseEvent>& out);
    /// Bytes buffered that are not yet a complete line.
    std::size_t pending() const { return m_line.size(); }

private:
    void process_line(std::string_view line, std::vector<SseEvent>& out);

    std::string m_line;
    SseEvent m_event;
    bool m_has_data = false;
    bool m_saw_cr = false;
};

/// `data: <data>\n\n` (data containing newlines becomes several data lines).
std::string sse_data(std::string_view data);
/// `event: <name>\ndata: <data>\n\n`.
std::string sse_event(std::string_view name, std::string_view data);

}  // namespace aigw::wire

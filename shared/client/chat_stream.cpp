#include "shared/client/chat_stream.hpp"

namespace aigw::client {

bool ChatStreamDecoder::feed(std::string_view bytes)
{
    if (m_done || m_stopped || m_error) {
        return false;
    }
    m_events.clear();
    m_reader.feed(bytes, m_events);
    for (const auto& ev : m_events) {
        if (!handle_event(ev)) {
            return false;
        }
    }
    return true;
}

std::expected<void, ClientError> ChatStreamDecoder::finish()
{
    if (!m_done && !m_stopped && !m_error) {
        m_events.clear();
        if (m_reader.finish(m_events)) {
            for (const auto& ev : m_events) {
                // An event cut off by the end of the connection is half a JSON document:
                // that is the truncation reported below, not a protocol error.
                if (ev.data != "[DONE]" && !nlohmann::json::accept(ev.data)) {
                    continue;
                }
                if (!handle_event(ev)) {
                    break;
                }
            }
        }
    }
    if (m_error) {
        return std::unexpected(*m_error);
    }
    if (!m_done && !m_stopped) {
        ClientError e;
        e.kind = ClientErrorKind::stream;
        e.message = "the stream ended before [DONE]; the answer is incomplete";
        e.model = m_model;
        m_error = e;
        return std::unexpected(e);
    }
    return {};
}

bool ChatStreamDecoder::handle_event(const wire::SseEvent& ev)
{
    if (ev.data.empty()) {
        return true;
    }
    if (ev.data == "[DONE]") {
        m_done = true;
        return false;
    }
    nlohmann::json chunk = nlohmann::json::parse(ev.data, nullptr, false);
    if (chunk.is_discarded() || !chunk.is_object()) {
        ClientError e;
        e.kind = ClientErrorKind::protocol;
        e.message = "the daemon sent a stream event that is not JSON: " + ev.data.substr(0, 200);
        m_error = e;
        return false;
    }
    if (chunk.contains("error")) {
        ClientError e = error_from_response(0, ev.data);
        e.kind = ClientErrorKind::stream;
        e.model = m_model;
        m_error = e;
        return false;
    }
    if (auto it = chunk.find("model"); it != chunk.end() && it->is_string() && m_model.empty()) {
        m_model = it->get<std::string>();
    }
    if (auto it = chunk.find("usage"); it != chunk.end() && it->is_object()) {
        m_usage = *it;
    }
    if (auto it = chunk.find("choices"); it != chunk.end() && it->is_array() && !it->empty()) {
        const auto& choice = (*it)[0];
        if (auto d = choice.find("delta"); d != choice.end() && d->is_object()) {
            if (auto c = d->find("content"); c != d->end() && c->is_string()) {
                m_content += c->get<std::string>();
            }
        }
        if (auto f = choice.find("finish_reason"); f != choice.end() && f->is_string()) {
            m_finish_reason = f->get<std::string>();
        }
    }
    if (m_on_chunk && !m_on_chunk(chunk)) {
        m_stopped = true;
        return false;
    }
    return true;
}

}  // namespace aigw::client

#pragma once
// The route -> adapter -> upstream -> canonical leg of a chat request, shared by every
// inbound surface. A surface turns its request into canonical JSON, calls these, and
// writes the canonical answer (or chunks) in its own format through a StreamWriter.

#include "daemon/server/gateway.hpp"

namespace aigw::daemon::server {

/// Serialises canonical chunks into one surface's stream format.
class StreamWriter {
public:
    virtual ~StreamWriter() = default;
    /// Appends the bytes for one canonical chunk (may append nothing).
    virtual void chunk(const nlohmann::json& chunk, std::string& out) = 0;
    /// Appends the terminal bytes after a complete stream.
    virtual void done(const wire::Usage& usage, double cost_usd, std::string& out) = 0;
    /// Appends an error event; the stream ends right after it.
    virtual void error(const wire::Failure& f, std::string& out) = 0;
};

/// OpenAI's chat.completion.chunk stream: `data: {...}`, `data: [DONE]`; the usage-only
/// chunk only when the client asked for it; errors as `data: {"error":{...}}`.
class OpenAiStreamWriter final : public StreamWriter {
public:
    explicit OpenAiStreamWriter(bool include_usage) : m_include_usage(include_usage) {}
    void chunk(const nlohmann::json& chunk, std::string& out) override;
    void done(const wire::Usage& usage, double cost_usd, std::string& out) override;
    void error(const wire::Failure& f, std::string& out) override;

private:
    bool m_include_usage;
};

/// A complete answer or the failure to return.
std::expected<providers::ChatResult, wire::Failure> run_chat(Gateway& gw, Exchange& ex, const nlohmann::json& canonical);

/// Starts a streamed answer. On a failure before any byte is committed (route, upstream
/// status) returns it so the surface can answer with a plain error and the right status;
/// otherwise fills `res` with the streaming body and records the ledger row when it ends.
std::expected<void, wire::Failure> start_chat_stream(Gateway& gw, std::shared_ptr<Exchange> ex,
                                                     const nlohmann::json& canonical,
                                                     std::unique_ptr<StreamWriter> writer, httplib::Response& res);

/// Native passthrough of a stream: the upstream's bytes go to the client unchanged while
/// `tap` reads the events for usage and the terminal event. A stream that ends without its
/// terminal event gets `writer->error(...)` appended. Failures before the first byte come
/// back as values (status and upstream body) so the surface can relay them.
struct PassthroughFailure {
    wire::Failure failure;
    std::string upstream_body;  ///< the upstream's own error body, when there was one
};
std::expected<void, PassthroughFailure> start_passthrough_stream(Gateway& gw, std::shared_ptr<Exchange> ex,
                                                                 const providers::UpstreamRequest& upstream_request,
                                                                 std::unique_ptr<providers::StreamTranslator> tap,
                                                                 std::unique_ptr<StreamWriter> writer,
                                                                 httplib::Response& res);

}  // namespace aigw::daemon::server

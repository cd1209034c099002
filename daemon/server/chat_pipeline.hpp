#pragma once
// The route -> adapter -> upstream -> canonical leg of a chat request, shared by every
// inbound surface. A surface turns its request into canonical JSON, calls these, and
// writes the canonical answer (or chunks) in its own format through a StreamWriter.

#include "daemon/server/gateway.hpp"

#include <functional>

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

/// One attempt on ex.route; returns its failure for the router to judge.
using AttemptFn = std::function<std::expected<void, wire::Failure>(const routing::Route&)>;

/// Runs a request over its plan (A/B variant, load-balanced deployments, fallbacks):
/// resolves each candidate to a route with a usable key, asks its circuit breaker, calls
/// `attempt`, and on failure retries with backoff (honouring Retry-After), rotates keys
/// (429: next key; 401/403: key marked bad), or moves to the next candidate. A failure
/// that is the caller's fault ends it at once. Leaves ex.route on the route that served
/// (or failed last) and notes every earlier failed attempt in `ex` for the ledger.
std::expected<void, wire::Failure> run_attempts(Gateway& gw, Exchange& ex, const nlohmann::json& canonical,
                                                const AttemptFn& attempt);

/// Socket timeouts of one non-streamed attempt: the answer must come within the
/// first-byte timeout and what is left of the request's total.
routing::UpstreamTimeouts attempt_timeouts(const Exchange& ex);

/// One non-streamed chat attempt on ex.route.
std::expected<providers::ChatResult, wire::Failure> chat_once(Gateway& gw, Exchange& ex, const nlohmann::json& canonical);

/// One non-streamed embeddings attempt on ex.route.
std::expected<providers::ChatResult, wire::Failure> embeddings_once(Gateway& gw, Exchange& ex, const nlohmann::json& body);

/// A streamed answer from one attempt, held back until its first content arrived.
struct StreamState;

/// One streamed attempt on ex->route: opens the upstream stream and reads until the first
/// content (role-only and empty chunks don't count). A failure before that -- status,
/// error event inside a 200 stream, a cut, no content before the first-byte deadline --
/// comes back as a value, so the caller can fall back before any byte reached the client.
std::expected<std::shared_ptr<StreamState>, wire::Failure> open_chat_stream(Gateway& gw, std::shared_ptr<Exchange> ex,
                                                                             const nlohmann::json& canonical);

/// Native passthrough of a stream: the upstream's bytes go to the client unchanged while
/// `tap` reads the events for usage, content and the terminal event. Held back like
/// open_chat_stream; `upstream_body` keeps the upstream's own error body, when there was one.
std::expected<std::shared_ptr<StreamState>, wire::Failure> open_passthrough_stream(
    Gateway& gw, std::shared_ptr<Exchange> ex, const providers::UpstreamRequest& upstream_request,
    std::unique_ptr<providers::StreamTranslator> tap, std::string* upstream_body);

/// Commits the response: the held-back bytes first, then the rest as it arrives, written by
/// `writer`. After the first byte a failure (cut, error event, idle or total timeout) ends
/// the stream with `writer->error(...)`; a client that goes away cancels the upstream
/// request at once. The ledger row is recorded when the stream ends.
void install_stream_body(Gateway& gw, std::shared_ptr<StreamState> st, std::unique_ptr<StreamWriter> writer,
                         httplib::Response& res);

}  // namespace aigw::daemon::server

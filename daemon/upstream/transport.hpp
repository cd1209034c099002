#pragma once
// How an attempt reaches its provider: a Transport sends an UpstreamRequest to a base URL
// and gives back the whole answer or an open body stream. The HTTP(S) client is one
// transport; the offline mock provider is another, in-process (like ninja's CommandRunner
// and its dry-run twin). Callers never see sockets.

#include "daemon/providers/adapter.hpp"

#include <boost/asio/awaitable.hpp>

#include <chrono>
#include <expected>
#include <memory>
#include <string>

namespace aigw::daemon::upstream {

namespace asio = boost::asio;
using Clock = std::chrono::steady_clock;

struct HttpResponse {
    int status = 0;
    providers::HeaderList headers;
    std::string body;
};

/// Deadlines of one upstream call.
struct Deadlines {
    Clock::time_point connect;  ///< TCP connect (and TLS handshake, proxy CONNECT) done by then
    Clock::time_point headers;  ///< send(): the whole body by then; open(): the status line and headers
};

/// A response whose status and headers arrived; the body is read piece by piece.
class BodyStream {
public:
    virtual ~BodyStream() = default;
    virtual int status() const = 0;
    virtual const providers::HeaderList& headers() const = 0;
    /// Appends the next bytes of the body (chunked framing removed) to `out`. Returns true
    /// when bytes were appended, false at the clean end of the body. A failure when the
    /// connection broke (network, 502), `deadline` passed (timeout, 504), or cancel() was
    /// called. Only one read at a time.
    virtual asio::awaitable<std::expected<bool, wire::Failure>> read(std::string& out, Clock::time_point deadline) = 0;
    /// Closes the connection now (it never returns to a pool); a pending read completes
    /// with a failure. Idempotent; call it on the executor that opened the stream.
    virtual void cancel() = 0;
};

class Transport {
public:
    virtual ~Transport() = default;
    /// Sends `req` to `base_url` + req.path and reads the whole answer. A response with any
    /// status is a value; only "no response" is a failure: network (502), timeout (504),
    /// a body over the size cap (502).
    virtual asio::awaitable<std::expected<HttpResponse, wire::Failure>> send(const std::string& base_url,
                                                                             const providers::UpstreamRequest& req,
                                                                             Deadlines deadlines) = 0;
    /// Sends `req` and returns once the status and headers arrived; the body is read from
    /// the stream. Failures as for send().
    virtual asio::awaitable<std::expected<std::shared_ptr<BodyStream>, wire::Failure>> open(
        const std::string& base_url, const providers::UpstreamRequest& req, Deadlines deadlines) = 0;
};

}  // namespace aigw::daemon::upstream

#pragma once
// The daemon's own view of an HTTP exchange: what a handler reads (Request) and writes
// (Response, Responder). Beast stays inside daemon/http; handlers see only these types.

#include "daemon/http/access.hpp"

#include <boost/asio/awaitable.hpp>

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace aigw::daemon::http {

namespace asio = boost::asio;

/// Header fields in arrival order; names compare case-insensitively.
class Headers {
public:
    using Item = std::pair<std::string, std::string>;
    void add(std::string name, std::string value);
    /// Replaces every field of that name. Values are made safe for the wire: CR, LF and
    /// other control characters become spaces, invalid UTF-8 becomes U+FFFD.
    void set(std::string name, std::string value);
    void remove(std::string_view name);
    bool has(std::string_view name) const;
    /// The first value of `name`, "" when absent.
    std::string_view get(std::string_view name) const;
    const std::vector<Item>& items() const { return m_items; }

private:
    std::vector<Item> m_items;
};

struct Request {
    std::string method;  ///< "GET", "POST", "HEAD", "DELETE", ...
    std::string target;  ///< as sent: "/v1/models?x=1"
    std::string path;    ///< percent-decoded path without the query; raw bytes (may be invalid UTF-8)
    std::string query;   ///< the raw query string after '?', "" when none
    Headers headers;
    std::string body;
    unsigned version = 11;  ///< 10 or 11
    std::string peer;       ///< "127.0.0.1:53412"
    /// What the pipeline learned, for the access log; null when the server logs no access.
    std::shared_ptr<AccessNote> access;

    std::string_view header(std::string_view name) const { return headers.get(name); }
    bool has_header(std::string_view name) const { return headers.has(name); }
    /// A percent-decoded query parameter, nullopt when absent.
    std::optional<std::string> query_param(std::string_view name) const;
};

struct Response {
    int status = 200;
    Headers headers;
    std::string body;

    void set_header(std::string name, std::string value) { headers.set(std::move(name), std::move(value)); }
    /// Sets the body and Content-Type.
    void set_content(std::string text, std::string_view content_type = "application/json");
};

/// Where a handler writes its answer: once with send(), or as a stream (begin_stream,
/// write..., end_stream). Every call runs on the connection's executor.
class Responder {
public:
    virtual ~Responder() = default;
    /// Sends a whole response (Content-Length framing; no body for HEAD).
    virtual asio::awaitable<void> send(Response res) = 0;
    /// Starts a streamed answer: chunked on HTTP/1.1, close-delimited on HTTP/1.0. The
    /// status and headers go out with the first write (write({}) sends them alone).
    /// Returns false when the client is gone.
    virtual asio::awaitable<bool> begin_stream(Response head) = 0;
    /// Writes bytes of a stream and returns once the socket took them, so a slow client
    /// slows the caller (backpressure). Returns false when the client is gone.
    virtual asio::awaitable<bool> write(std::string_view bytes) = 0;
    /// write() without a coroutine, for the usual case where the socket takes all of `bytes`
    /// at once: true when it did. False when it could not (a full socket, TLS, a client that
    /// is gone): then call write() with the same bytes, which finishes them or says why not.
    virtual bool write_now(std::string_view /*bytes*/) { return false; }
    /// Ends the stream: `last_bytes` (may be empty) and the last chunk, in one write.
    /// Idempotent. Returns false when the client is gone.
    virtual asio::awaitable<bool> end_stream(std::string_view last_bytes) = 0;
    /// True once send() or begin_stream() went out.
    virtual bool started() const = 0;
    /// True once the client closed or reset the connection (noticed during a stream even
    /// while nothing is being written).
    virtual bool client_gone() const = 0;
    /// `fn` runs once, on the connection's executor, when the client goes away before the
    /// stream ended (e.g. to cancel the upstream request at once). Replaces an earlier one.
    virtual void on_client_gone(std::function<void()> fn) = 0;
};

using Handler = std::function<asio::awaitable<void>(Request&, Responder&)>;

}  // namespace aigw::daemon::http

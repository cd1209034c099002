#pragma once
// The event-driven HTTP/1.1 server: a few threads, each running an io_context; one
// coroutine per connection; limits and deadlines so no client can starve the others.

#include "daemon/http/message.hpp"
#include "shared/wire/error.hpp"

#include <boost/asio/ssl/context.hpp>

#include <chrono>
#include <filesystem>
#include <expected>
#include <map>
#include <memory>

namespace aigw::daemon::http {

struct ServerOptions {
    std::string host = "127.0.0.1";
    int port = 0;                                           ///< 0: any free port
    int threads = 0;                                        ///< event-loop threads; 0: one per core (at least 2)
    std::size_t max_header_bytes = 64 << 10;                ///< beyond: 431
    std::size_t max_body_bytes = 64 << 20;                  ///< beyond (chunked included): 413, read no further
    std::chrono::milliseconds header_timeout{30'000};       ///< a request's header must arrive within this
    std::chrono::milliseconds body_timeout{120'000};        ///< and its body within this (dribblers are cut off)
    std::chrono::milliseconds keep_alive_timeout{120'000};  ///< an idle keep-alive connection is closed after this
    std::chrono::milliseconds write_timeout{120'000};       ///< a client that takes no bytes for this long is cut off
    std::chrono::milliseconds handshake_timeout{10'000};    ///< TLS: the handshake must be done within this
    /// PEM certificate (chain) and private key: both set, every connection speaks TLS 1.2+
    /// (loaded once, by bind()). Both empty: plain HTTP.
    std::filesystem::path tls_cert;
    std::filesystem::path tls_key;
    std::size_t max_connections = 20'000;  ///< beyond: 503 in the caller's shape, then close
    /// Host header values allowed (without port), besides localhost, 127.0.0.1, [::1] and
    /// the bound address. "*" allows any (a team gateway behind its own proxy).
    std::vector<std::string> allowed_hosts;
    std::chrono::milliseconds shutdown_grace{10'000};  ///< in-flight requests get this long after stop()
    /// Called once per finished exchange on its event loop, refused ones (400, 403 Host,
    /// 404, 408, 413, 431, 503 full) included; it must not block. Unset: no access log.
    AccessLog access_log;
    /// Whether access_log wants entries now (read once per exchange); unset: always. When it
    /// says no, nothing is gathered for the exchange: no note, no error-body parse.
    std::function<bool()> access_log_on;
};

/// Answers for failures the server finds before or around a handler (400 bad framing,
/// 403 bad Host, 408 slow client, 413, 431, 503 full, 500 handler threw), in the shape of
/// the surface the request was for. `req` has at least method and path (and the headers
/// when they were read).
using ErrorResponder = std::function<Response(const Request& req, const wire::Failure& f)>;

/// Method + path table. Patterns are exact paths, or a prefix ending in '*'
/// ("/v1/responses/*"). Exact beats prefix, longer prefix beats shorter.
class Routes {
public:
    void add(std::string method, std::string pattern, Handler h);
    /// The handler for a request; nullptr when nothing matches. `method_allowed` tells
    /// whether the path exists under another method (405 vs 404).
    const Handler* find(std::string_view method, std::string_view path, bool* path_exists = nullptr) const;
    /// Replaces every route added so far by `wrap(its handler)` (e.g. a check in front of
    /// every model endpoint); routes added later are not wrapped.
    void wrap_all(const std::function<Handler(Handler)>& wrap);

private:
    std::map<std::pair<std::string, std::string>, Handler, std::less<>> m_exact;
    std::vector<std::tuple<std::string, std::string, Handler>> m_prefix;  ///< method, prefix (no '*'), handler
};

struct ServerStats {
    std::size_t open_connections = 0;
    std::size_t active_requests = 0;
    std::uint64_t refused_connections = 0;     ///< answered 503 because max_connections was reached
    std::uint64_t tls_handshake_failures = 0;  ///< TLS connections closed before a request (plain HTTP included)
};

/// A TLS 1.2+ server context from PEM files, or what is wrong with them: missing or
/// unreadable files, a key file that every user can read (refused), a key that does not
/// match the certificate.
std::expected<asio::ssl::context, std::string> make_tls_context(const std::filesystem::path& cert,
                                                                const std::filesystem::path& key);

class Server {
public:
    /// `fallback` handles requests no route matches (the 404 / 405 answers).
    Server(ServerOptions opts, Routes routes, Handler fallback, ErrorResponder errors);
    ~Server();

    /// Raises the soft RLIMIT_NOFILE to the hard limit, binds and listens (backlog
    /// SOMAXCONN). Returns the bound port or what went wrong.
    std::expected<int, std::string> bind();
    /// Runs the event loops on `threads` threads (the caller's included) until stop() and
    /// the grace period are over; in-flight handlers finished or were cancelled.
    void run();
    /// Stops accepting, closes idle keep-alive connections at once, lets in-flight
    /// requests finish within the grace period. Safe from any thread and from a signal
    /// thread; idempotent; does not wait.
    void stop();
    ServerStats stats() const;
    /// Reads tls_cert and tls_key again (a renewed certificate) for the connections accepted
    /// from now on; open connections keep theirs. Returns false without TLS. Errors (the
    /// files' problems, as at bind()) leave the current certificate in use. Thread-safe.
    std::expected<bool, std::string> reload_tls();

private:
    struct Impl;
    std::unique_ptr<Impl> m_impl;
};

/// Runs `fn` on a thread made for blocking work (SQLite, file I/O) and resumes the caller
/// on its own executor with the result. Exceptions propagate to the caller.
template <class F>
auto run_blocking(F fn) -> asio::awaitable<decltype(fn())>;

}  // namespace aigw::daemon::http

#include "daemon/http/blocking.ipp"

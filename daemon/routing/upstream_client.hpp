#pragma once
// The upstream HTTP client: pooled keep-alive connections per base URL (so a request does
// not pay a TCP/TLS handshake), whole-body calls, and streams read on a worker thread so
// the caller can see the status before it commits its own response headers.

#include "daemon/providers/adapter.hpp"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <unordered_map>

namespace httplib { class Client; }

namespace aigw::daemon::routing {

struct HttpResponse {
    int status = 0;
    providers::HeaderList headers;
    std::string body;
};

struct UpstreamTimeouts {
    std::chrono::milliseconds connect{10'000};
    std::chrono::milliseconds read{600'000};  ///< longest wait for the next bytes
};

class HostPool;

/// A streaming upstream response, filled by a worker thread.
class UpstreamStream {
public:
    /// Waits until the status and headers arrived, the request failed, or `deadline`
    /// passed (then the request is cancelled and the failure is a timeout). Returns the
    /// failure when no HTTP response came at all (connect refused, timeout).
    std::expected<int, wire::Failure> wait_status(std::chrono::steady_clock::time_point deadline);
    const providers::HeaderList& headers() const { return m_headers; }

    enum class ReadResult { data, end, failed, waiting };
    /// Moves the bytes received so far into `out` (appending). `end` once the upstream
    /// finished cleanly and everything was read; `failed` when it broke (see failure()).
    /// Waits at most `wait` for something to happen.
    ReadResult read(std::string& out, std::chrono::milliseconds wait);
    /// Reads everything to the end (for error bodies), giving up (and cancelling) at
    /// `deadline`. Returns false on failure.
    bool read_all(std::string& out, std::chrono::steady_clock::time_point deadline);
    const std::optional<wire::Failure>& failure() const { return m_failure; }
    /// Aborts the request: the upstream connection is shut down at once (a worker blocked
    /// in a read returns) and never goes back to the pool.
    void cancel();

private:
    friend class UpstreamClient;
    std::mutex m_client_mu;
    httplib::Client* m_client = nullptr;  ///< while the worker's request runs
    std::mutex m_mu;
    std::condition_variable m_cv;
    bool m_have_status = false;
    bool m_done = false;
    int m_status = 0;
    providers::HeaderList m_headers;
    std::string m_pending;
    std::optional<wire::Failure> m_failure;
    std::atomic<bool> m_cancelled{false};
};

class UpstreamClient {
public:
    explicit UpstreamClient(UpstreamTimeouts timeouts);
    ~UpstreamClient();
    UpstreamClient(const UpstreamClient&) = delete;
    UpstreamClient& operator=(const UpstreamClient&) = delete;

    /// Sends `req` to `base_url` + req.path and reads the whole answer. A response with any
    /// status is a value; only "no response" is a Failure (network 502 / timeout 504).
    /// `timeouts` overrides the client's defaults for this call (read: the whole wait
    /// for the answer); a read that outlives it is a timeout (504).
    std::expected<HttpResponse, wire::Failure> send(const std::string& base_url, const providers::UpstreamRequest& req,
                                                    std::optional<UpstreamTimeouts> timeouts = std::nullopt);

    /// Starts `req` on a worker thread and returns at once. `timeouts.read` is the
    /// socket's backstop; the reader enforces its own first-byte and idle deadlines.
    std::shared_ptr<UpstreamStream> open_stream(const std::string& base_url, const providers::UpstreamRequest& req,
                                                std::optional<UpstreamTimeouts> timeouts = std::nullopt);

    /// Waits for stream workers to finish (they are cancelled first).
    void shutdown();

private:
    HostPool& pool_for(const std::string& base_url);

    UpstreamTimeouts m_timeouts;
    std::shared_mutex m_pools_mu;
    std::unordered_map<std::string, std::unique_ptr<HostPool>> m_pools;
    std::mutex m_workers_mu;
    std::condition_variable m_workers_cv;
    int m_workers = 0;
};

/// "https://host:port/v1" -> {"https://host:port", "/v1"}. Empty origin when unparsable.
std::pair<std::string, std::string> split_base_url(std::string_view base_url);

/// The base URL with any userinfo and query removed: safe for logs and error messages.
std::string redact_url(std::string_view url);

}  // namespace aigw::daemon::routing

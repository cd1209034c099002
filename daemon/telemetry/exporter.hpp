#pragma once
// Sends finished spans to an OTLP/HTTP collector without ever slowing a request: the
// request path hands its spans to a bounded queue (one short lock; when the queue is full
// they are dropped and counted), and a thread of the exporter's own drains it in batches
// and POSTs them. A collector that is down or slow costs dropped spans, never latency.

#include "daemon/telemetry/span.hpp"

#include <array>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <expected>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace aigw::daemon::telemetry {

struct ExporterOptions {
    std::string url;  ///< the traces URL, e.g. "http://127.0.0.1:4318/v1/traces"
    std::map<std::string, std::string, std::less<>> headers;
    Resource resource;
    double sample_ratio = 1.0;     ///< of new traces (the request path reads it)
    std::size_t max_queue = 4096;  ///< spans waiting; more are dropped (reason queue_full)
    std::size_t max_batch = 512;   ///< spans per POST
    std::chrono::milliseconds flush_interval{1000};
    /// One POST, connect included. A POST in flight when shutdown() is called may take this
    /// long past its grace period (it cannot be cut short), so it stays well below the 5 s
    /// `aigw daemon stop` waits.
    std::chrono::milliseconds timeout{3000};
    int max_tries = 2;  ///< a batch that fails this often is dropped (export_failed)
    std::chrono::milliseconds retry_delay{200};
};

/// One POST of `body` to the collector: its HTTP status, or what went wrong (no answer).
using PostFn =
    std::function<std::expected<int, std::string>(const std::string& body, std::chrono::milliseconds timeout)>;

/// Why spans were dropped.
enum class DropReason { queue_full, export_failed, shutdown };
inline constexpr std::size_t k_drop_reasons = 3;
std::string_view to_string(DropReason r);

struct ExporterStats {
    std::uint64_t exported = 0;       ///< spans the collector accepted (2xx)
    std::uint64_t export_errors = 0;  ///< POSTs that failed (no answer or not 2xx), retries included
    std::array<std::uint64_t, k_drop_reasons> dropped{};  ///< spans, by DropReason
    std::uint64_t queued = 0;                             ///< spans waiting now
};

class SpanExporter {
public:
    /// Starts the worker thread. Without `post`, POSTs go through aigw's own HTTP(S) client
    /// (TLS, HTTPS_PROXY/NO_PROXY) on an event loop of the worker's own.
    explicit SpanExporter(ExporterOptions opts, PostFn post = {});
    /// shutdown() with a grace period of 2 s.
    ~SpanExporter();
    SpanExporter(const SpanExporter&) = delete;
    SpanExporter& operator=(const SpanExporter&) = delete;

    /// Queues the spans of one request; never waits for the network. What does not fit is
    /// dropped (counted as queue_full).
    void submit(std::vector<Span> spans);
    /// Sends what is queued within `grace`, then stops the worker; what is left is dropped
    /// (counted as shutdown). Idempotent; later submits are dropped.
    void shutdown(std::chrono::milliseconds grace);

    ExporterStats stats() const;
    const ExporterOptions& options() const { return m_opts; }

private:
    void run();
    /// Sends one batch, retrying while `deadline` allows; false when it was dropped.
    bool send(const std::vector<Span>& batch, std::chrono::steady_clock::time_point deadline);
    void drop(DropReason r, std::size_t n);

    ExporterOptions m_opts;
    PostFn m_post;
    mutable std::mutex m_mu;
    std::condition_variable m_cv;
    std::deque<Span> m_queue;
    bool m_stopping = false;
    std::chrono::steady_clock::time_point m_stop_deadline;
    std::atomic<std::uint64_t> m_exported{0};
    std::atomic<std::uint64_t> m_errors{0};
    std::array<std::atomic<std::uint64_t>, k_drop_reasons> m_dropped{};
    std::thread m_worker;
    bool m_joined = false;
};

/// A PostFn over aigw's HTTP(S) client, to be called from one thread at a time (it runs
/// its own event loop for the duration of each call).
PostFn make_http_post(std::string url, std::map<std::string, std::string, std::less<>> headers);

}  // namespace aigw::daemon::telemetry

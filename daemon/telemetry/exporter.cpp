#include "daemon/telemetry/exporter.hpp"

#include "daemon/telemetry/otlp_json.hpp"
#include "daemon/upstream/http_client.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>

#include <iostream>

namespace aigw::daemon::telemetry {

namespace asio = boost::asio;
using Clock = std::chrono::steady_clock;

std::string_view to_string(DropReason r)
{
    switch (r) {
        case DropReason::queue_full:
            return "queue_full";
        case DropReason::export_failed:
            return "export_failed";
        case DropReason::shutdown:
            return "shutdown";
    }
    return "unknown";
}

SpanExporter::SpanExporter(ExporterOptions opts, PostFn post) : m_opts(std::move(opts)), m_post(std::move(post))
{
    if (!m_post) {
        m_post = make_http_post(m_opts.url, m_opts.headers);
    }
    m_worker = std::thread([this] { run(); });
}

SpanExporter::~SpanExporter()
{
    shutdown(std::chrono::milliseconds(2000));
}

void SpanExporter::drop(DropReason r, std::size_t n)
{
    m_dropped[static_cast<std::size_t>(r)].fetch_add(n, std::memory_order_relaxed);
}

void SpanExporter::submit(std::vector<Span> spans)
{
    std::size_t dropped = 0;
    bool wake = false;
    DropReason reason = DropReason::queue_full;
    {
        std::lock_guard lock(m_mu);
        if (m_stopping) {
            reason = DropReason::shutdown;
            dropped = spans.size();
        } else {
            for (auto& s : spans) {
                if (m_queue.size() >= m_opts.max_queue) {
                    ++dropped;
                    continue;
                }
                m_queue.push_back(std::move(s));
            }
            wake = m_queue.size() >= m_opts.max_batch;
        }
    }
    if (dropped > 0) {
        drop(reason, dropped);
    }
    if (wake) {
        m_cv.notify_one();
    }
}

bool SpanExporter::send(const std::vector<Span>& batch, Clock::time_point deadline)
{
    const std::string body = encode_traces_json(m_opts.resource, batch);
    for (int attempt = 1;; ++attempt) {
        {
            std::lock_guard lock(m_mu);
            if (m_stopping) {
                deadline = std::min(deadline, m_stop_deadline);  // shutdown's grace bounds retries too
            }
        }
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
        if (left.count() <= 0) {
            return false;
        }
        auto r = m_post(body, std::min(m_opts.timeout, left));
        if (r && *r >= 200 && *r < 300) {
            m_exported.fetch_add(batch.size(), std::memory_order_relaxed);
            return true;
        }
        m_errors.fetch_add(1, std::memory_order_relaxed);
        // Only what OTLP calls retryable is tried again: no answer, 429, 502, 503, 504.
        const bool retryable = !r || *r == 429 || *r == 502 || *r == 503 || *r == 504;
        if (!retryable || attempt >= m_opts.max_tries) {
            return false;
        }
        std::unique_lock lock(m_mu);
        m_cv.wait_for(lock, m_opts.retry_delay, [this] { return m_stopping; });
    }
}

void SpanExporter::run()
{
    std::unique_lock lock(m_mu);
    while (true) {
        m_cv.wait_for(lock, m_opts.flush_interval, [this] { return m_stopping || m_queue.size() >= m_opts.max_batch; });
        if (m_queue.empty()) {
            if (m_stopping) {
                break;
            }
            continue;
        }
        std::vector<Span> batch;
        const std::size_t n = std::min(m_queue.size(), m_opts.max_batch);
        batch.reserve(n);
        for (std::size_t i = 0; i < n; ++i) {
            batch.push_back(std::move(m_queue.front()));
            m_queue.pop_front();
        }
        const bool stopping = m_stopping;
        const auto deadline =
            stopping ? m_stop_deadline
                     : Clock::now() + m_opts.timeout * m_opts.max_tries + m_opts.retry_delay * m_opts.max_tries;
        if (stopping && Clock::now() >= m_stop_deadline) {
            drop(DropReason::shutdown, batch.size() + m_queue.size());
            m_queue.clear();
            break;
        }
        lock.unlock();
        if (!send(batch, deadline)) {
            drop(stopping ? DropReason::shutdown : DropReason::export_failed, batch.size());
        }
        lock.lock();
    }
}

void SpanExporter::shutdown(std::chrono::milliseconds grace)
{
    {
        std::lock_guard lock(m_mu);
        if (m_joined) {
            return;
        }
        m_joined = true;
        m_stopping = true;
        m_stop_deadline = Clock::now() + grace;
    }
    m_cv.notify_all();
    if (m_worker.joinable()) {
        m_worker.join();
    }
}

ExporterStats SpanExporter::stats() const
{
    ExporterStats s;
    s.exported = m_exported.load(std::memory_order_relaxed);
    s.export_errors = m_errors.load(std::memory_order_relaxed);
    for (std::size_t i = 0; i < k_drop_reasons; ++i) {
        s.dropped[i] = m_dropped[i].load(std::memory_order_relaxed);
    }
    std::lock_guard lock(m_mu);
    s.queued = m_queue.size();
    return s;
}

PostFn make_http_post(std::string url, std::map<std::string, std::string, std::less<>> headers)
{
    // The client's connection pools belong to this event loop, which runs only inside a call.
    struct State {
        asio::io_context ioc;
        std::unique_ptr<upstream::Transport> client = upstream::make_http_client();
    };
    auto state = std::make_shared<State>();
    providers::UpstreamRequest proto;
    proto.method = "POST";
    proto.path = "";
    proto.headers.emplace_back("Content-Type", "application/json");
    for (const auto& [name, value] : headers) {
        proto.headers.emplace_back(name, value);
    }
    return [state, url = std::move(url), proto = std::move(proto)](
               const std::string& body, std::chrono::milliseconds timeout) -> std::expected<int, std::string> {
        providers::UpstreamRequest req = proto;
        req.body = body;
        std::expected<int, std::string> result = std::unexpected(std::string("no answer"));
        const auto now = Clock::now();
        const upstream::Deadlines deadlines{now + timeout, now + timeout};
        asio::co_spawn(
            state->ioc,
            [&]() -> asio::awaitable<void> {
                auto r = co_await state->client->send(url, req, deadlines);
                if (r) {
                    result = r->status;
                } else {
                    result = std::unexpected(r.error().message);
                }
            },
            asio::detached);
        state->ioc.restart();
        state->ioc.run();
        return result;
    };
}

}  // namespace aigw::daemon::telemetry

#include "daemon/routing/upstream_client.hpp"

#include <httplib.h>

#include <thread>

namespace aigw::daemon::routing {

std::pair<std::string, std::string> split_base_url(std::string_view base_url)
{
    auto scheme_end = base_url.find("://");
    if (scheme_end == std::string_view::npos) {
        return {};
    }
    auto path_start = base_url.find('/', scheme_end + 3);
    if (path_start == std::string_view::npos) {
        return {std::string(base_url), std::string()};
    }
    std::string path(base_url.substr(path_start));
    while (!path.empty() && path.back() == '/') {
        path.pop_back();
    }
    return {std::string(base_url.substr(0, path_start)), path};
}

std::string redact_url(std::string_view url)
{
    std::string out(url.substr(0, url.find('?')));
    auto scheme_end = out.find("://");
    if (scheme_end != std::string::npos) {
        auto at = out.find('@', scheme_end + 3);
        auto slash = out.find('/', scheme_end + 3);
        if (at != std::string::npos && (slash == std::string::npos || at < slash)) {
            out.erase(scheme_end + 3, at - scheme_end - 2);
        }
    }
    return out;
}

/// Idle keep-alive clients for one origin. httplib::Client is one connection and is not
/// safe for concurrent requests, so each request takes one out and puts it back.
class HostPool {
public:
    HostPool(std::string origin, std::string path_prefix, UpstreamTimeouts timeouts)
        : m_origin(std::move(origin)), m_prefix(std::move(path_prefix)), m_timeouts(timeouts)
    {
    }

    /// A pooled client when one is idle (`reused` = true), else a new one.
    std::unique_ptr<httplib::Client> acquire(bool* reused = nullptr)
    {
        {
            std::lock_guard lock(m_mu);
            if (!m_idle.empty()) {
                auto c = std::move(m_idle.back());
                m_idle.pop_back();
                if (reused != nullptr) {
                    *reused = true;
                }
                return c;
            }
        }
        if (reused != nullptr) {
            *reused = false;
        }
        return fresh();
    }

    std::unique_ptr<httplib::Client> fresh()
    {
        auto c = std::make_unique<httplib::Client>(m_origin);
        c->set_keep_alive(true);
        c->set_tcp_nodelay(true);
        c->set_decompress(false);  // ask for identity: compressed SSE would be buffered
        apply(*c, m_timeouts);
        c->set_write_timeout(std::chrono::seconds(30));
        return c;
    }

    /// Sets a client's timeouts; they apply from its next request on.
    static void apply(httplib::Client& c, const UpstreamTimeouts& t)
    {
        c.set_connection_timeout(std::chrono::duration_cast<std::chrono::microseconds>(t.connect));
        c.set_read_timeout(std::chrono::duration_cast<std::chrono::microseconds>(t.read));
    }
    const UpstreamTimeouts& timeouts() const { return m_timeouts; }

    void release(std::unique_ptr<httplib::Client> c)
    {
        std::lock_guard lock(m_mu);
        if (m_idle.size() < k_max_idle) {
            m_idle.push_back(std::move(c));
        }
    }

    const std::string& origin() const { return m_origin; }
    const std::string& prefix() const { return m_prefix; }

private:
    static constexpr std::size_t k_max_idle = 1024;
    std::string m_origin;
    std::string m_prefix;
    UpstreamTimeouts m_timeouts;
    std::mutex m_mu;
    std::vector<std::unique_ptr<httplib::Client>> m_idle;
};

namespace {

/// A pooled keep-alive connection the upstream closed while it sat idle fails on first
/// use, before any byte of an answer arrives; such a failure is retried once on a new
/// connection, as HTTP clients do. Connect timeouts and failures of new connections are not.
bool stale_connection_error(httplib::Error err)
{
    return err == httplib::Error::Read || err == httplib::Error::Write || err == httplib::Error::Connection;
}

httplib::Request make_request(const HostPool& pool, const providers::UpstreamRequest& req)
{
    httplib::Request r;
    r.method = req.method;
    r.path = pool.prefix() + req.path;
    for (const auto& [k, v] : req.headers) {
        r.headers.emplace(k, v);
    }
    r.headers.emplace("User-Agent", "aigw/" AIGW_VERSION);
    r.headers.emplace("Accept-Encoding", "identity");
    r.body = req.body;
    return r;
}

wire::Failure transport_failure(httplib::Error err, const HostPool& pool)
{
    wire::Failure f;
    const std::string where = redact_url(pool.origin());
    switch (err) {
    case httplib::Error::ConnectionTimeout:
        f.kind = wire::FailureKind::timeout;
        f.status = 504;
        f.message = "timed out connecting to upstream " + where;
        break;
    case httplib::Error::Connection:
        f.kind = wire::FailureKind::network;
        f.status = 502;
        f.message = "could not connect to upstream " + where + "; is it running and is the base URL right?";
        break;
    case httplib::Error::Read:
        f.kind = wire::FailureKind::network;
        f.status = 502;
        f.message = "the connection to upstream " + where + " broke or timed out while reading the answer";
        break;
    case httplib::Error::SSLConnection:
    case httplib::Error::SSLLoadingCerts:
    case httplib::Error::SSLServerVerification:
        f.kind = wire::FailureKind::network;
        f.status = 502;
        f.message = "TLS with upstream " + where + " failed (" + httplib::to_string(err) + ")";
        break;
    default:
        f.kind = wire::FailureKind::network;
        f.status = 502;
        f.message = "request to upstream " + where + " failed: " + httplib::to_string(err);
        break;
    }
    return f;
}

providers::HeaderList copy_headers(const httplib::Headers& h)
{
    providers::HeaderList out;
    out.reserve(h.size());
    for (const auto& [k, v] : h) {
        out.emplace_back(k, v);
    }
    return out;
}

}  // namespace

UpstreamClient::UpstreamClient(UpstreamTimeouts timeouts) : m_timeouts(timeouts) {}

UpstreamClient::~UpstreamClient()
{
    shutdown();
}

HostPool& UpstreamClient::pool_for(const std::string& base_url)
{
    {
        std::shared_lock lock(m_pools_mu);
        if (auto it = m_pools.find(base_url); it != m_pools.end()) {
            return *it->second;
        }
    }
    std::unique_lock lock(m_pools_mu);
    auto& slot = m_pools[base_url];
    if (!slot) {
        auto [origin, prefix] = split_base_url(base_url);
        slot = std::make_unique<HostPool>(std::move(origin), std::move(prefix), m_timeouts);
    }
    return *slot;
}

std::expected<HttpResponse, wire::Failure> UpstreamClient::send(const std::string& base_url,
                                                                const providers::UpstreamRequest& req,
                                                                std::optional<UpstreamTimeouts> timeouts)
{
    HostPool& pool = pool_for(base_url);
    if (pool.origin().empty()) {
        return std::unexpected(wire::internal_error("bad upstream base URL '" + redact_url(base_url) +
                                                    "'; it must start with http:// or https://"));
    }
    const UpstreamTimeouts t = timeouts.value_or(pool.timeouts());
    bool reused = false;
    auto client = pool.acquire(&reused);
    HostPool::apply(*client, t);
    httplib::Request r = make_request(pool, req);
    httplib::Response res;
    httplib::Error err = httplib::Error::Success;
    const auto started = std::chrono::steady_clock::now();
    bool ok = client->send(r, res, err);
    if (!ok && reused && stale_connection_error(err) && std::chrono::steady_clock::now() - started < t.read) {
        client = pool.fresh();
        HostPool::apply(*client, t);
        res = httplib::Response();
        err = httplib::Error::Success;
        ok = client->send(r, res, err);
    }
    if (!ok) {
        if (err == httplib::Error::Read && std::chrono::steady_clock::now() - started >= t.read) {
            return std::unexpected(wire::gateway_timeout("upstream " + redact_url(pool.origin()) +
                                                         " sent no answer within " + std::to_string(t.read.count()) +
                                                         " ms"));
        }
        return std::unexpected(transport_failure(err, pool));
    }
    HttpResponse out{res.status, copy_headers(res.headers), std::move(res.body)};
    pool.release(std::move(client));
    return out;
}

std::shared_ptr<UpstreamStream> UpstreamClient::open_stream(const std::string& base_url,
                                                            const providers::UpstreamRequest& req,
                                                            std::optional<UpstreamTimeouts> timeouts)
{
    auto stream = std::make_shared<UpstreamStream>();
    HostPool& pool = pool_for(base_url);
    if (pool.origin().empty()) {
        stream->m_failure = wire::internal_error("bad upstream base URL '" + redact_url(base_url) + "'");
        stream->m_done = true;
        return stream;
    }
    {
        std::lock_guard lock(m_workers_mu);
        ++m_workers;
    }
    const UpstreamTimeouts t = timeouts.value_or(pool.timeouts());
    std::thread([this, stream, &pool, t, r = make_request(pool, req)]() mutable {
        bool reused = false;
        auto client = pool.acquire(&reused);
        HostPool::apply(*client, t);
        auto attach = [&](httplib::Client* c) {
            std::lock_guard lock(stream->m_client_mu);
            stream->m_client = c;
            return !stream->m_cancelled.load();
        };
        r.response_handler = [&](const httplib::Response& res) {
            std::lock_guard lock(stream->m_mu);
            stream->m_status = res.status;
            stream->m_headers = copy_headers(res.headers);
            stream->m_have_status = true;
            stream->m_cv.notify_all();
            return !stream->m_cancelled.load();
        };
        r.content_receiver = [&](const char* data, size_t len, uint64_t, uint64_t) {
            if (stream->m_cancelled.load()) {
                return false;
            }
            std::lock_guard lock(stream->m_mu);
            stream->m_pending.append(data, len);
            stream->m_cv.notify_all();
            return true;
        };
        httplib::Response res;
        httplib::Error err = httplib::Error::Canceled;
        bool ok = attach(client.get()) && client->send(r, res, err);
        if (!ok && reused && stale_connection_error(err)) {
            bool nothing_arrived = false;
            {
                std::lock_guard lock(stream->m_mu);
                nothing_arrived = !stream->m_have_status && stream->m_pending.empty();
            }
            attach(nullptr);
            if (nothing_arrived && !stream->m_cancelled.load()) {
                client = pool.fresh();
                HostPool::apply(*client, t);
                res = httplib::Response();
                err = httplib::Error::Canceled;
                ok = attach(client.get()) && client->send(r, res, err);
            }
        }
        attach(nullptr);
        {
            std::lock_guard lock(stream->m_mu);
            if (!ok && !stream->m_cancelled.load()) {
                stream->m_failure = transport_failure(err, pool);
            }
            stream->m_done = true;
            stream->m_cv.notify_all();
        }
        if (ok && !stream->m_cancelled.load()) {
            pool.release(std::move(client));
        }
        client.reset();
        stream.reset();
        std::lock_guard lock(m_workers_mu);
        if (--m_workers == 0) {
            m_workers_cv.notify_all();
        }
    }).detach();
    return stream;
}

void UpstreamClient::shutdown()
{
    std::unique_lock lock(m_workers_mu);
    m_workers_cv.wait_for(lock, std::chrono::seconds(10), [&] { return m_workers == 0; });
}

void UpstreamStream::cancel()
{
    m_cancelled.store(true);
    std::lock_guard lock(m_client_mu);
    if (m_client != nullptr) {
        m_client->stop();  // shuts the socket down; safe while another thread is inside send()
    }
}

std::expected<int, wire::Failure> UpstreamStream::wait_status(std::chrono::steady_clock::time_point deadline)
{
    std::unique_lock lock(m_mu);
    if (!m_cv.wait_until(lock, deadline, [&] { return m_have_status || m_done; })) {
        lock.unlock();
        cancel();
        return std::unexpected(wire::gateway_timeout("the upstream sent no response headers in time"));
    }
    if (m_have_status) {
        return m_status;
    }
    if (m_failure) {
        return std::unexpected(*m_failure);
    }
    wire::Failure f;
    f.kind = wire::FailureKind::network;
    f.status = 502;
    f.message = "upstream closed the connection without an answer";
    return std::unexpected(f);
}

UpstreamStream::ReadResult UpstreamStream::read(std::string& out, std::chrono::milliseconds wait)
{
    std::unique_lock lock(m_mu);
    if (m_pending.empty() && !m_done) {
        m_cv.wait_for(lock, wait, [&] { return !m_pending.empty() || m_done; });
    }
    if (!m_pending.empty()) {
        out.append(m_pending);
        m_pending.clear();
        return ReadResult::data;
    }
    if (m_done) {
        return m_failure ? ReadResult::failed : ReadResult::end;
    }
    return ReadResult::waiting;
}

bool UpstreamStream::read_all(std::string& out, std::chrono::steady_clock::time_point deadline)
{
    while (true) {
        switch (read(out, std::chrono::milliseconds(250))) {
        case ReadResult::end: return true;
        case ReadResult::failed: return false;
        default: break;
        }
        if (std::chrono::steady_clock::now() >= deadline) {
            cancel();
            return false;
        }
    }
}

}  // namespace aigw::daemon::routing

#include "daemon/upstream/http_client.hpp"

#include "daemon/upstream/proxy.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <openssl/x509v3.h>
#include <sys/resource.h>

#include <atomic>
#include <cstdlib>
#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <unordered_map>
#include <vector>

namespace aigw::daemon::upstream {

namespace {

namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;
using boost::system::error_code;

constexpr auto k_tuple = asio::as_tuple(asio::use_awaitable);
constexpr std::uint32_t k_header_limit = 64 * 1024;
constexpr std::size_t k_conn_read_bytes = 4096;  ///< a connection's read buffer for a whole answer
/// A stream's read buffer to start with: its head and first events, not a whole answer.
/// Thousands of streams open at once each hold it until k_long_stream, so it is what
/// their setup costs in memory (5,000 streams: 10 MB here against 20 with 4 KiB).
constexpr std::size_t k_stream_read_bytes = 2048;
/// A stream still going after this long reads through the smallest buffer Beast uses (512
/// bytes): its events come apart in time, a few hundred bytes each, and thousands of open
/// streams would otherwise each keep a resident 4 KiB page. A short stream keeps the larger
/// buffer, as a fast upstream's whole answer often arrives in one read.
constexpr std::chrono::milliseconds k_long_stream{250};

// ---------------------------------------------------------------------------------------
// Failures. Every message names the redacted origin and says what to do.

wire::Failure network_failure(std::string message)
{
    wire::Failure f;
    f.kind = wire::FailureKind::network;
    f.status = 502;
    f.message = std::move(message);
    return f;
}

/// A parsed origin: "https://host:port" with the userinfo dropped.
struct Origin {
    bool tls = false;
    std::string host;  ///< without brackets for IPv6
    std::string port;
    std::string authority;  ///< Host header value: host[:port], port only when not the default
    std::string key;        ///< pool key: "https://host:port"
    std::string redacted;   ///< for messages
};

std::optional<Origin> parse_origin(std::string_view origin)
{
    Origin o;
    if (origin.starts_with("https://")) {
        o.tls = true;
        origin.remove_prefix(8);
    } else if (origin.starts_with("http://")) {
        origin.remove_prefix(7);
    } else {
        return std::nullopt;
    }
    if (auto at = origin.rfind('@'); at != std::string_view::npos) {
        origin.remove_prefix(at + 1);
    }
    std::string_view port;
    if (!origin.empty() && origin.front() == '[') {
        auto close = origin.find(']');
        if (close == std::string_view::npos) {
            return std::nullopt;
        }
        o.host = std::string(origin.substr(1, close - 1));
        if (close + 1 < origin.size() && origin[close + 1] == ':') {
            port = origin.substr(close + 2);
        }
    } else {
        auto colon = origin.find(':');
        o.host = std::string(origin.substr(0, colon));
        if (colon != std::string_view::npos) {
            port = origin.substr(colon + 1);
        }
    }
    if (o.host.empty()) {
        return std::nullopt;
    }
    const std::string default_port = o.tls ? "443" : "80";
    o.port = port.empty() ? default_port : std::string(port);
    const std::string host_part = o.host.find(':') != std::string::npos ? "[" + o.host + "]" : o.host;
    o.authority = o.port == default_port ? host_part : host_part + ":" + o.port;
    o.key = std::string(o.tls ? "https://" : "http://") + host_part + ":" + o.port;
    o.redacted = std::string(o.tls ? "https://" : "http://") + o.authority;
    return o;
}

bool is_ip_literal(const std::string& host)
{
    error_code ec;
    asio::ip::make_address(host, ec);
    return !ec;
}

// ---------------------------------------------------------------------------------------
// One connection: TCP, optionally TLS on top (directly or through a CONNECT tunnel).

/// The deadline of whatever is pending on a connection, kept in one timer that is moved only
/// when the deadline comes earlier. (beast::tcp_stream re-arms its timer for every read and
/// write: a timer-queue insert, a cancel and one more completion through the loop each time,
/// and a relayed stream reads once a chunk.) When it passes, the socket is closed, as
/// tcp_stream does; the pending operation fails and its caller tells a timeout by the clock.
/// Like tcp_stream's, a deadline holds for the operations started under it: callers clear it
/// after them (Connection::clear_deadline).
/// Shared with the timer's handler, which may run after the connection is gone.
struct Deadline {
    explicit Deadline(const asio::any_io_executor& ex) : timer(ex) {}
    asio::steady_timer timer;
    tcp::socket* socket = nullptr;  ///< null once the connection is gone
    Clock::time_point at = Clock::time_point::max();
    Clock::time_point armed_at = Clock::time_point::max();
};

void arm(const std::shared_ptr<Deadline>& d, Clock::time_point t)
{
    d->armed_at = t;
    d->timer.expires_at(t);
    d->timer.async_wait([d](const error_code& ec) {
        const auto now = Clock::now();
        if (ec || d->socket == nullptr || d->timer.expiry() > now) {
            return;  // moved earlier, or cancelled, or a newer wait is pending
        }
        d->armed_at = Clock::time_point::max();
        if (now >= d->at) {
            d->at = Clock::time_point::max();
            error_code ignored;
            d->socket->close(ignored);
        } else if (d->at != Clock::time_point::max()) {
            arm(d, d->at);  // the deadline moved later meanwhile
        }
    });
}

class Connection {
public:
    explicit Connection(const asio::any_io_executor& ex) : m_socket(ex), m_deadline(std::make_shared<Deadline>(ex))
    {
        m_deadline->socket = &m_socket;
    }
    ~Connection()
    {
        m_deadline->socket = nullptr;
        m_deadline->timer.cancel();
    }
    Connection(const Connection&) = delete;
    Connection& operator=(const Connection&) = delete;

    tcp::socket& socket() { return m_socket; }
    beast::flat_buffer& buffer() { return m_buffer; }
    bool tls() const { return m_tls.has_value(); }
    ssl::stream<tcp::socket&>& tls_stream() { return *m_tls; }
    void start_tls(ssl::context& ctx) { m_tls.emplace(m_socket, ctx); }

    /// The socket is closed at `t` unless a later call moves the deadline.
    void expires_at(Clock::time_point t)
    {
        m_deadline->at = t;
        if (t < m_deadline->armed_at) {
            arm(m_deadline, t);
        }
    }
    /// No deadline until the next expires_at(), as with tcp_stream, whose deadline holds only
    /// while an operation is pending: between reads (a relay waiting on a slow client) nothing
    /// may close the socket. The timer stays armed and finds nothing to enforce when it fires.
    void clear_deadline() { m_deadline->at = Clock::time_point::max(); }
    /// No deadline, and no pending wait: for an idle pooled connection, whose wait would keep
    /// its loop busy.
    void expires_never()
    {
        m_deadline->at = Clock::time_point::max();
        if (m_deadline->armed_at != Clock::time_point::max()) {
            m_deadline->armed_at = Clock::time_point::max();
            m_deadline->timer.cancel();
        }
    }

    /// Calls `f` with the stream that carries HTTP: the TLS stream or the TCP socket.
    template <class F>
    decltype(auto) with_stream(F&& f)
    {
        if (m_tls) {
            return f(*m_tls);
        }
        return f(m_socket);
    }

    void close()
    {
        error_code ignored;
        m_socket.shutdown(tcp::socket::shutdown_both, ignored);
        m_socket.close(ignored);
    }

    bool via_http_proxy = false;  ///< requests use the absolute-form target
    Clock::time_point idle_since{};

private:
    tcp::socket m_socket;
    std::optional<ssl::stream<tcp::socket&>> m_tls;  // after m_socket: destroyed first
    beast::flat_buffer m_buffer;
    std::shared_ptr<Deadline> m_deadline;
};

/// The idle connections one pool may keep per origin: max_idle_per_origin, but at most an
/// eighth of the descriptors the process may open, so that under a low limit idle upstream
/// connections cannot take the descriptors that clients and new connections need. Read
/// when a loop makes its pool, on its first request: after the server has raised the soft
/// limit to the hard one.
std::size_t idle_cap(std::size_t configured)
{
    rlimit limit{};
    if (getrlimit(RLIMIT_NOFILE, &limit) != 0 || limit.rlim_cur == RLIM_INFINITY) {
        return configured;
    }
    return std::min<std::size_t>(configured, static_cast<std::size_t>(limit.rlim_cur / 8));
}

// ---------------------------------------------------------------------------------------
// Idle keep-alive connections of one event loop (io_context), per origin. Only touched
// from that loop's thread, so it has no lock.

class ConnectionPool {
public:
    ConnectionPool(std::size_t max_idle, std::chrono::milliseconds ttl) : m_max_idle(max_idle), m_ttl(ttl) {}

    /// The most recently used idle connection to `key` still inside its TTL, or null.
    std::unique_ptr<Connection> take(const std::string& key)
    {
        sweep();
        auto it = m_idle.find(key);
        if (it == m_idle.end()) {
            return nullptr;
        }
        auto conn = std::move(it->second.back());
        it->second.pop_back();
        if (it->second.empty()) {
            m_idle.erase(it);
        }
        return conn;
    }

    /// `origin_text` ("https://api.openai.com") parsed, once per loop: base URLs come from
    /// the config, so there are a handful, and every request to one needs the same strings.
    /// Null when it is not a URL parse_origin() accepts.
    std::shared_ptr<const Origin> origin(std::string_view origin_text)
    {
        if (auto it = m_origins.find(origin_text); it != m_origins.end()) {
            return it->second;
        }
        auto parsed = parse_origin(origin_text);
        if (!parsed) {
            return nullptr;
        }
        if (m_origins.size() >= k_max_origins) {
            m_origins.clear();  // a config reloaded many times with new URLs: start again
        }
        auto shared = std::make_shared<const Origin>(std::move(*parsed));
        m_origins.emplace(std::string(origin_text), shared);
        return shared;
    }

    void put(const std::string& key, std::unique_ptr<Connection> conn)
    {
        if (m_max_idle == 0) {
            return;
        }
        sweep();
        auto& idle = m_idle[key];
        while (idle.size() >= m_max_idle) {
            idle.pop_front();
        }
        conn->idle_since = Clock::now();
        if (conn->buffer().size() == 0) {
            conn->buffer().shrink_to_fit();  // an idle connection holds no buffer; start() reserves one
        }
        conn->expires_never();
        idle.push_back(std::move(conn));
    }

private:
    /// Closes connections idle longer than the TTL, for every origin: there is no timer
    /// (it would keep the event loop's run() busy), so an origin that is no longer called
    /// loses its idle connections on the next request to any origin from this loop.
    void sweep()
    {
        const auto oldest_allowed = Clock::now() - m_ttl;
        for (auto it = m_idle.begin(); it != m_idle.end();) {
            auto& idle = it->second;
            while (!idle.empty() && idle.front()->idle_since <= oldest_allowed) {
                idle.pop_front();
            }
            it = idle.empty() ? m_idle.erase(it) : std::next(it);
        }
    }

    static constexpr std::size_t k_max_origins = 64;

    std::size_t m_max_idle;
    std::chrono::milliseconds m_ttl;
    std::unordered_map<std::string, std::deque<std::unique_ptr<Connection>>> m_idle;
    std::map<std::string, std::shared_ptr<const Origin>, std::less<>> m_origins;
};

/// A response body that the parser appends to whatever string `body()` points at when it
/// parses body bytes: read_body_some() points it at the caller's string for each read, so
/// the bytes go there with one copy and no buffer of their own is kept per connection.
struct AppendBody {
    using value_type = std::string*;

    class reader {
    public:
        template <bool isRequest, class Fields>
        reader(http::header<isRequest, Fields>&, value_type& target) : m_target(target)
        {}
        void init(const boost::optional<std::uint64_t>&, error_code& ec) { ec = {}; }
        template <class ConstBufferSequence>
        std::size_t put(const ConstBufferSequence& buffers, error_code& ec)
        {
            if (m_target == nullptr) {
                ec = asio::error::invalid_argument;  // a read with nowhere to put the body
                return 0;
            }
            ec = {};
            std::size_t n = 0;
            for (const auto b : beast::buffers_range_ref(buffers)) {
                m_target->append(static_cast<const char*>(b.data()), b.size());
                n += b.size();
            }
            return n;
        }
        void finish(error_code& ec) { ec = {}; }

    private:
        value_type& m_target;
    };
};

using Parser = http::response_parser<AppendBody>;

/// A request written and its response header read, on a connection that is now ours.
struct Exchange {
    std::unique_ptr<Connection> conn;
    std::unique_ptr<Parser> parser;
    std::shared_ptr<const Origin> origin;  ///< never null
    std::weak_ptr<ConnectionPool> pool;
};

providers::HeaderList copy_headers(const Parser& parser)
{
    providers::HeaderList out;
    for (const auto& field : parser.get().base()) {
        out.emplace_back(std::string(field.name_string()), std::string(field.value()));
    }
    return out;
}

/// Hands a fully read keep-alive connection back to its pool; anything else is closed.
void release(Exchange& ex)
{
    if (!ex.conn) {
        return;
    }
    auto pool = ex.pool.lock();
    if (pool && ex.parser && ex.parser->is_done() && ex.parser->get().keep_alive() && ex.conn->buffer().size() == 0) {
        pool->put(ex.origin->key, std::move(ex.conn));
    } else {
        ex.conn->close();
        ex.conn.reset();
    }
}

/// The step of read_body_some() that needs no socket: parses what the connection's buffer
/// holds, all of it that can be (a chunk's size line, its data, the next chunks), appending
/// body bytes to `out`. False when the caller must read the socket: nothing was appended,
/// the body goes on, and nothing failed. `before` is out's size when the read began.
bool parse_buffered(Exchange& ex, const std::string& out, std::size_t before, error_code& ec)
{
    Parser& parser = *ex.parser;
    beast::flat_buffer& buffer = ex.conn->buffer();
    while (buffer.size() > 0 && !parser.is_done()) {
        const std::size_t used = parser.put(buffer.data(), ec);
        buffer.consume(used);
        if (ec) {  // tested first: comparing with an enum costs a call, and ec is clear
            if (ec == http::error::need_more) {
                ec = {};  // the rest of a size line is still to come
            }
            break;
        }
        if (used == 0) {
            break;
        }
    }
    return ec || parser.is_done() || out.size() > before;
}

/// Room in the connection's buffer for the next socket read; sets `ec` when there is none.
std::optional<asio::mutable_buffer> read_space(Exchange& ex, error_code& ec)
{
    beast::flat_buffer& buffer = ex.conn->buffer();
    const std::size_t size = beast::read_size(buffer, 65536);
    if (size == 0) {
        ec = http::error::buffer_overflow;
        return std::nullopt;
    }
    return buffer.prepare(size);
}

/// Takes in what a socket read gave; false (with `ec` set, or the body ended by the close)
/// when the read loop stops.
bool took_read(Exchange& ex, error_code read_ec, std::size_t n, error_code& ec)
{
    ex.conn->buffer().commit(n);
    if (read_ec && read_ec == asio::error::eof) {
        // As Beast does: the end of a body delimited by the connection's close, else a cut.
        if (ex.parser->got_some()) {
            ex.parser->put_eof(ec);
        } else {
            ec = http::error::end_of_stream;
        }
        return false;
    }
    ec = read_ec;
    return !ec;
}

/// Reads the next body bytes of `ex` into `out` (growing it); returns the number of bytes
/// appended (0 only at the end of the body) or the error. Chunk headers are skipped.
///
/// What the connection's buffer holds is parsed first, and the socket is read only when
/// that gave no body bytes. Beast's http::async_read_some stops after a chunk's size line,
/// and the call for the data then goes through the loop's queue once more (a post, as it
/// reads nothing); its eager mode would wait for the next chunk's size line. One event of a
/// stream is one socket read here. (HttpBodyStream::read() has this loop inline: one
/// coroutine frame less an event.)
asio::awaitable<std::pair<error_code, std::size_t>> read_body_some(Exchange& ex, std::string& out)
{
    const std::size_t before = out.size();
    ex.parser->get().body() = &out;
    error_code ec;
    while (!parse_buffered(ex, out, before, ec)) {
        const auto space = read_space(ex, ec);
        if (!space) {
            break;
        }
        auto [read_ec, n] = co_await ex.conn->with_stream([&](auto& s) { return s.async_read_some(*space, k_tuple); });
        if (!took_read(ex, read_ec, n, ec)) {
            break;
        }
    }
    ex.parser->get().body() = nullptr;
    co_return std::pair{ec, out.size() - before};
}

std::string size_text(std::size_t bytes)
{
    if (bytes >= (1U << 20) && bytes % (1U << 20) == 0) {
        return std::to_string(bytes >> 20) + " MiB";
    }
    return std::to_string(bytes) + " bytes";
}

bool is_timeout(Clock::time_point deadline)
{
    return Clock::now() >= deadline;  // the connection's Deadline closed the socket
}

// ---------------------------------------------------------------------------------------

class HttpBodyStream final : public BodyStream {
public:
    explicit HttpBodyStream(Exchange ex) : m_ex(std::move(ex)), m_headers(copy_headers(*m_ex.parser))
    {
        if (m_ex.parser->is_done()) {
            release(m_ex);
        }
    }
    ~HttpBodyStream() override
    {
        if (m_ex.conn) {
            m_ex.conn->close();
        }
    }

    int status() const override { return static_cast<int>(m_ex.parser->get().result_int()); }
    const providers::HeaderList& headers() const override { return m_headers; }

    asio::awaitable<std::expected<bool, wire::Failure>> read(std::string& out, Clock::time_point deadline) override
    {
        if (m_cancelled) {
            co_return std::unexpected(cancelled_failure());
        }
        if (m_failure) {
            co_return std::unexpected(*m_failure);
        }
        if (!m_ex.conn) {
            co_return false;  // the body was read to the end
        }
        auto& buffer = m_ex.conn->buffer();
        // Between events the buffer holds a few bytes at most: the last chunk's CRLF (Beast
        // parses it with the next size line), perhaps the start of that line.
        if (buffer.size() <= 16 && buffer.capacity() > 1024 && !m_long && Clock::now() - m_opened >= k_long_stream) {
            m_long = true;
            buffer.shrink_to_fit();  // the next read grows it to hold 512 bytes more
        }
        m_ex.conn->expires_at(deadline);
        // read_body_some(), inline
        const std::size_t before = out.size();
        m_ex.parser->get().body() = &out;
        error_code ec;
        while (!parse_buffered(m_ex, out, before, ec)) {
            const auto space = read_space(m_ex, ec);
            if (!space) {
                break;
            }
            auto [read_ec, n] =
                co_await m_ex.conn->with_stream([&](auto& s) { return s.async_read_some(*space, k_tuple); });
            if (!took_read(m_ex, read_ec, n, ec)) {
                break;
            }
        }
        m_ex.parser->get().body() = nullptr;
        const std::size_t appended = out.size() - before;
        if (m_ex.conn) {
            m_ex.conn->clear_deadline();
        }
        if (m_cancelled) {
            co_return std::unexpected(cancelled_failure());
        }
        if (ec) {
            m_ex.conn->close();
            m_ex.conn.reset();
            if (is_timeout(deadline)) {
                m_failure = wire::gateway_timeout("upstream " + m_ex.origin->redacted +
                                                  " sent no more of its answer before the deadline");
            } else {
                m_failure = network_failure("the connection to upstream " + m_ex.origin->redacted +
                                            " broke while reading the answer (" + ec.message() +
                                            "); the request may be retried");
            }
            co_return std::unexpected(*m_failure);
        }
        if (m_ex.parser->is_done()) {
            release(m_ex);
        }
        co_return appended > 0;
    }

    void cancel() override
    {
        if (m_cancelled) {
            return;
        }
        m_cancelled = true;
        if (m_ex.conn) {
            m_ex.conn->close();  // a pending read completes with operation_aborted
        }
    }

private:
    wire::Failure cancelled_failure() const
    {
        return network_failure("the stream from upstream " + m_ex.origin->redacted + " was cancelled");
    }

    Exchange m_ex;
    providers::HeaderList m_headers;
    Clock::time_point m_opened = Clock::now();
    bool m_long = false;  ///< the read buffer was shrunk (k_long_stream)
    bool m_cancelled = false;
    std::optional<wire::Failure> m_failure;
};

// ---------------------------------------------------------------------------------------

class HttpClient final : public Transport {
public:
    explicit HttpClient(HttpClientOptions opts) : m_opts(std::move(opts))
    {
        if (!m_opts.ca_file.empty()) {
            tls_context();  // a bad CA bundle is a config error: say so at start, not at the first call
        }
        auto from_env = [](const char* upper, const char* lower_name) {
            const char* lower_value = std::getenv(lower_name);
            const char* upper_value = std::getenv(upper);
            return std::string(lower_value != nullptr ? lower_value : (upper_value != nullptr ? upper_value : ""));
        };
        // Lowercase first, as curl reads them.
        m_https_proxy = parse_proxy_url(m_opts.https_proxy.value_or(from_env("HTTPS_PROXY", "https_proxy")));
        m_http_proxy = parse_proxy_url(m_opts.http_proxy.value_or(from_env("HTTP_PROXY", "http_proxy")));
        m_no_proxy = m_opts.no_proxy.value_or(from_env("NO_PROXY", "no_proxy"));
    }

    asio::awaitable<std::expected<HttpResponse, wire::Failure>> send(const std::string& base_url,
                                                                     const providers::UpstreamRequest& req,
                                                                     Deadlines deadlines) override
    {
        auto ex = co_await start(base_url, req, deadlines, k_conn_read_bytes);
        if (!ex) {
            co_return std::unexpected(ex.error());
        }
        HttpResponse out;
        out.status = static_cast<int>(ex->parser->get().result_int());
        out.headers = copy_headers(*ex->parser);
        const std::size_t cap = m_opts.max_body_bytes;
        ex->conn->expires_at(deadlines.headers);
        while (!ex->parser->is_done()) {
            auto [ec, appended] = co_await read_body_some(*ex, out.body);
            if (!ec && out.body.size() > cap) {
                ec = http::error::body_limit;
            }
            if (ec) {
                ex->conn->close();
                if (ec == http::error::body_limit) {
                    co_return std::unexpected(network_failure("the answer from " + ex->origin->redacted +
                                                              " is larger than " + size_text(cap) +
                                                              "; ask for a shorter answer or raise the limit"));
                }
                if (is_timeout(deadlines.headers)) {
                    co_return std::unexpected(wire::gateway_timeout(
                        "upstream " + ex->origin->redacted + " did not send its whole answer before the deadline"));
                }
                co_return std::unexpected(network_failure("the connection to upstream " + ex->origin->redacted +
                                                          " broke while reading the answer (" + ec.message() + ")"));
            }
        }
        release(*ex);
        co_return out;
    }

    asio::awaitable<std::expected<std::shared_ptr<BodyStream>, wire::Failure>> open(
        const std::string& base_url, const providers::UpstreamRequest& req, Deadlines deadlines) override
    {
        auto ex = co_await start(base_url, req, deadlines, k_stream_read_bytes);
        if (!ex) {
            co_return std::unexpected(ex.error());
        }
        co_return std::make_shared<HttpBodyStream>(std::move(*ex));
    }

private:
    struct CacheEntry {
        std::uint64_t client_id;
        asio::execution_context* context;
        std::weak_ptr<ConnectionPool> pool;  // weak: a destroyed client's sockets die with it
    };
    /// This thread's pools, per client and event loop: found without a lock after the
    /// first call on a thread.
    static std::vector<CacheEntry>& thread_cache()
    {
        thread_local std::vector<CacheEntry> cache;
        return cache;
    }

    std::shared_ptr<ConnectionPool> pool_for(asio::execution_context* context)
    {
        auto& cache = thread_cache();
        for (const auto& e : cache) {
            if (e.client_id == m_id && e.context == context) {
                if (auto pool = e.pool.lock()) {
                    return pool;
                }
            }
        }
        std::erase_if(cache, [](const CacheEntry& e) { return e.pool.expired(); });
        std::shared_ptr<ConnectionPool> pool;
        {
            std::lock_guard lock(m_registry_mu);
            auto& slot = m_registry[context];
            if (!slot) {
                slot = std::make_shared<ConnectionPool>(idle_cap(m_opts.max_idle_per_origin), m_opts.idle_ttl);
            }
            pool = slot;
        }
        cache.push_back({m_id, context, pool});
        return pool;
    }

    const std::optional<ProxyEndpoint>& proxy_for(const Origin& origin) const
    {
        static const std::optional<ProxyEndpoint> k_direct;
        const auto& proxy = origin.tls ? m_https_proxy : m_http_proxy;
        if (!proxy || no_proxy_matches(m_no_proxy, origin.host)) {
            return k_direct;
        }
        return proxy;
    }

    /// The request as Beast writes it. The body is a view of req.body, which outlives the
    /// write: no copy of a request that is often 100 KB or more.
    http::request<http::span_body<const char>> make_request(const Origin& origin, const std::string& prefix,
                                                            const providers::UpstreamRequest& req,
                                                            bool absolute_form) const
    {
        http::request<http::span_body<const char>> r;
        r.version(11);
        const http::verb verb = http::string_to_verb(req.method);
        if (verb == http::verb::unknown) {
            r.method_string(req.method);
        } else {
            r.method(verb);
        }
        std::string target = prefix + req.path;
        if (target.empty() || target.front() != '/') {
            target.insert(target.begin(), '/');
        }
        if (absolute_form) {
            target = std::string(origin.tls ? "https://" : "http://") + origin.authority + target;
        }
        r.target(target);
        for (const auto& [name, value] : req.headers) {
            r.insert(name, value);
        }
        if (r.find(http::field::host) == r.end()) {
            r.set(http::field::host, origin.authority);
        }
        if (r.find(http::field::user_agent) == r.end()) {
            r.set(http::field::user_agent, "aigw/" AIGW_VERSION);
        }
        // We do not decompress: a compressed SSE stream would only arrive in lumps.
        if (r.find(http::field::accept_encoding) == r.end()) {
            r.set(http::field::accept_encoding, "identity");
        }
        if (absolute_form) {
            if (const auto& proxy = proxy_for(origin); proxy && !proxy->authorization.empty()) {
                r.set(http::field::proxy_authorization, proxy->authorization);
            }
        }
        r.body() = boost::span<const char>(req.body.data(), req.body.size());
        r.prepare_payload();
        return r;
    }

    /// A new connection to `origin`, directly or through its proxy, TLS done.
    asio::awaitable<std::expected<std::unique_ptr<Connection>, wire::Failure>> connect(const Origin& origin,
                                                                                       Clock::time_point deadline)
    {
        auto executor = co_await asio::this_coro::executor;
        auto conn = std::make_unique<Connection>(executor);
        const auto& proxy = proxy_for(origin);
        const std::string& host = proxy ? proxy->host : origin.host;
        const std::string& port = proxy ? proxy->port : origin.port;
        const std::string via = proxy ? " through the proxy " + proxy->redacted : std::string();

        // The resolver has no deadline of its own; a timer closes it when the deadline passes.
        tcp::resolver resolver(executor);
        asio::steady_timer resolve_timer(executor, deadline);
        resolve_timer.async_wait([&resolver](error_code ec) {
            if (!ec) {
                resolver.cancel();
            }
        });
        auto [resolve_ec, endpoints] = co_await resolver.async_resolve(host, port, k_tuple);
        resolve_timer.cancel();
        if (resolve_ec) {
            if (Clock::now() >= deadline) {
                co_return std::unexpected(wire::gateway_timeout("timed out resolving the address of " +
                                                                (proxy ? proxy->redacted : origin.redacted)));
            }
            co_return std::unexpected(network_failure(
                "could not resolve the host of " +
                (proxy ? "the proxy " + proxy->redacted : "upstream " + origin.redacted) + " (" + resolve_ec.message() +
                "); is the " + (proxy ? "proxy setting" : "base URL") + " right?"));
        }
        conn->expires_at(deadline);
        auto [connect_ec, endpoint] = co_await asio::async_connect(conn->socket(), endpoints, k_tuple);
        if (connect_ec) {
            if (is_timeout(deadline)) {
                co_return std::unexpected(
                    wire::gateway_timeout("timed out connecting to upstream " + origin.redacted + via));
            }
            if (proxy) {
                co_return std::unexpected(network_failure(
                    "could not connect to the proxy " + proxy->redacted + " for upstream " + origin.redacted + " (" +
                    connect_ec.message() + "); check HTTPS_PROXY / HTTP_PROXY / NO_PROXY"));
            }
            co_return std::unexpected(network_failure("could not connect to upstream " + origin.redacted + " (" +
                                                      connect_ec.message() +
                                                      "); is it running and is the base URL right?"));
        }
        conn->socket().set_option(tcp::no_delay(true));

        if (proxy && origin.tls) {
            if (auto tunnel = co_await open_tunnel(*conn, origin, *proxy, deadline); !tunnel) {
                co_return std::unexpected(tunnel.error());
            }
        } else if (proxy) {
            conn->via_http_proxy = true;
        }
        if (origin.tls) {
            if (auto handshake = co_await tls_handshake(*conn, origin, deadline); !handshake) {
                co_return std::unexpected(handshake.error());
            }
        }
        co_return conn;
    }

    asio::awaitable<std::expected<void, wire::Failure>> open_tunnel(Connection& conn, const Origin& origin,
                                                                    const ProxyEndpoint& proxy,
                                                                    Clock::time_point deadline)
    {
        const std::string authority =
            (origin.host.find(':') != std::string::npos ? "[" + origin.host + "]" : origin.host) + ":" + origin.port;
        http::request<http::empty_body> connect_req{http::verb::connect, authority, 11};
        connect_req.set(http::field::host, authority);
        connect_req.set(http::field::user_agent, "aigw/" AIGW_VERSION);
        if (!proxy.authorization.empty()) {
            connect_req.set(http::field::proxy_authorization, proxy.authorization);
        }
        auto [write_ec, written] = co_await http::async_write(conn.socket(), connect_req, k_tuple);
        http::response_parser<http::empty_body> parser;
        parser.skip(true);  // a 2xx answer to CONNECT has no body: the tunnel starts after the header
        error_code ec = write_ec;
        if (!ec) {
            std::tie(ec, written) = co_await http::async_read_header(conn.socket(), conn.buffer(), parser, k_tuple);
        }
        if (ec) {
            if (is_timeout(deadline)) {
                co_return std::unexpected(wire::gateway_timeout("timed out opening a tunnel to upstream " +
                                                                origin.redacted + " through the proxy " +
                                                                proxy.redacted));
            }
            co_return std::unexpected(network_failure("the proxy " + proxy.redacted +
                                                      " broke the connection to upstream " + origin.redacted + " (" +
                                                      ec.message() + ")"));
        }
        const unsigned status = parser.get().result_int();
        if (status / 100 != 2) {
            std::string hint =
                status == 407 ? "; check the credentials in HTTPS_PROXY" : "; check HTTPS_PROXY / NO_PROXY";
            co_return std::unexpected(network_failure("the proxy " + proxy.redacted + " refused to open a tunnel to " +
                                                      origin.redacted + " (status " + std::to_string(status) + ")" +
                                                      hint));
        }
        if (conn.buffer().size() != 0) {
            co_return std::unexpected(network_failure("the proxy " + proxy.redacted +
                                                      " sent bytes before the TLS handshake with " + origin.redacted));
        }
        co_return std::expected<void, wire::Failure>{};
    }

    asio::awaitable<std::expected<void, wire::Failure>> tls_handshake(Connection& conn, const Origin& origin,
                                                                      Clock::time_point deadline)
    {
        conn.start_tls(tls_context());
        SSL* ssl_handle = conn.tls_stream().native_handle();
        // OpenSSL checks the name during verification, so a mismatch gets its own verify
        // error text (what ssl::host_name_verification does, with a better message).
        if (is_ip_literal(origin.host)) {
            X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl_handle), origin.host.c_str());
        } else {
            SSL_set_tlsext_host_name(ssl_handle, origin.host.c_str());  // SNI is for names, not IPs
            SSL_set1_host(ssl_handle, origin.host.c_str());
        }
        conn.tls_stream().set_verify_mode(ssl::verify_peer);
        conn.expires_at(deadline);
        auto [ec] = co_await conn.tls_stream().async_handshake(ssl::stream_base::client, k_tuple);
        if (!ec) {
            co_return std::expected<void, wire::Failure>{};
        }
        if (is_timeout(deadline)) {
            co_return std::unexpected(
                wire::gateway_timeout("timed out in the TLS handshake with upstream " + origin.redacted));
        }
        const long verify = SSL_get_verify_result(ssl_handle);
        if (verify != X509_V_OK) {
            co_return std::unexpected(network_failure(
                "TLS certificate of " + origin.redacted +
                " could not be verified: " + X509_verify_cert_error_string(verify) +
                "; if it is signed by a private CA, add that CA to the system store or the client's CA file"));
        }
        co_return std::unexpected(
            network_failure("the TLS handshake with upstream " + origin.redacted + " failed (" + ec.message() + ")"));
    }

    /// Writes `req` and reads the response header, on a pooled connection when there is
    /// one, through a read buffer of at least `read_bytes` (Beast reads at most what the
    /// buffer holds, from 512 bytes: a small answer would take two or three reads, and
    /// trips through the loop, instead of one). A pooled connection that fails before any
    /// byte of the answer (the upstream closed it while it sat idle) is retried once on a
    /// new connection.
    asio::awaitable<std::expected<Exchange, wire::Failure>> start(const std::string& base_url,
                                                                  const providers::UpstreamRequest& req,
                                                                  Deadlines deadlines, std::size_t read_bytes)
    {
        auto [origin_text, prefix] = split_base_url(base_url);
        auto executor = co_await asio::this_coro::executor;
        auto pool = pool_for(&asio::query(executor, asio::execution::context));
        auto origin = pool->origin(origin_text);
        if (!origin) {
            co_return std::unexpected(wire::internal_error("bad upstream base URL '" + redact_url(base_url) +
                                                           "'; it must start with http:// or https://"));
        }

        for (int attempt = 0; attempt < 2; ++attempt) {
            std::unique_ptr<Connection> conn = attempt == 0 ? pool->take(origin->key) : nullptr;
            const bool reused = conn != nullptr;
            if (!conn) {
                auto fresh = co_await connect(*origin, deadlines.connect);
                if (!fresh) {
                    co_return std::unexpected(fresh.error());
                }
                conn = std::move(*fresh);
            }
            conn->buffer().reserve(read_bytes);  // a pooled connection holds none
            auto request = make_request(*origin, prefix, req, conn->via_http_proxy);
            conn->expires_at(deadlines.headers);
            auto [write_ec, written] =
                co_await conn->with_stream([&](auto& s) { return http::async_write(s, request, k_tuple); });
            auto parser = std::make_unique<Parser>();
            parser->header_limit(k_header_limit);
            parser->body_limit(boost::none);  // send() applies its own cap; streams have none
            if (request.method() == http::verb::head) {
                parser->skip(true);
            }
            error_code ec = write_ec;
            if (!ec) {
                std::tie(ec, written) = co_await conn->with_stream(
                    [&](auto& s) { return http::async_read_header(s, conn->buffer(), *parser, k_tuple); });
            }
            if (!ec) {
                conn->clear_deadline();
                co_return Exchange{std::move(conn), std::move(parser), origin, pool};
            }
            conn->close();
            const bool timed_out = is_timeout(deadlines.headers);
            if (reused && !timed_out && !parser->got_some() && ec != asio::error::operation_aborted) {
                continue;
            }
            if (timed_out) {
                co_return std::unexpected(
                    wire::gateway_timeout("upstream " + origin->redacted + " sent no answer before the deadline"));
            }
            if (ec == http::error::header_limit) {
                co_return std::unexpected(network_failure("the response headers from " + origin->redacted +
                                                          " are larger than " + std::to_string(k_header_limit >> 10) +
                                                          " KiB"));
            }
            co_return std::unexpected(network_failure("upstream " + origin->redacted +
                                                      " closed the connection without a complete answer (" +
                                                      ec.message() + "); is the base URL right?"));
        }
        co_return std::unexpected(wire::internal_error("unreachable: retry loop of the upstream client"));
    }

    static std::uint64_t next_id()
    {
        static std::atomic<std::uint64_t> counter{0};
        return ++counter;
    }

    /// Made on the first HTTPS connection: OpenSSL's setup touches about 3 MB of libcrypto,
    /// which a daemon that only talks to plain-HTTP or in-process upstreams never needs.
    ssl::context& tls_context()
    {
        std::call_once(m_tls_once, [this] {
            ssl::context ctx(ssl::context::tls_client);
            ctx.set_default_verify_paths();
            if (!m_opts.ca_file.empty()) {
                error_code ec;
                ctx.load_verify_file(m_opts.ca_file, ec);
                if (ec) {
                    throw std::runtime_error("could not load the CA bundle '" + m_opts.ca_file + "': " + ec.message() +
                                             "; it must be a PEM file");
                }
            }
            ctx.set_verify_mode(ssl::verify_peer);
            m_tls_ctx.emplace(std::move(ctx));
        });
        return *m_tls_ctx;
    }

    HttpClientOptions m_opts;
    std::once_flag m_tls_once;
    std::optional<ssl::context> m_tls_ctx;
    std::optional<ProxyEndpoint> m_https_proxy;
    std::optional<ProxyEndpoint> m_http_proxy;
    std::string m_no_proxy;
    const std::uint64_t m_id = next_id();  // never reused, unlike an address
    std::mutex m_registry_mu;
    std::unordered_map<asio::execution_context*, std::shared_ptr<ConnectionPool>> m_registry;
};

}  // namespace

std::unique_ptr<Transport> make_http_client(HttpClientOptions opts)
{
    return std::make_unique<HttpClient>(std::move(opts));
}

}  // namespace aigw::daemon::upstream

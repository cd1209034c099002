#include "daemon/http/server.hpp"

#include "daemon/http/parsing.hpp"
#include "daemon/http/utf8.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/write.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/buffers_suffix.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/string.hpp>
#include <boost/beast/http/basic_parser.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/status.hpp>
#include <nlohmann/json.hpp>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <charconv>
#include <cstring>
#include <iostream>
#include <memory>
#include <mutex>
#include <span>
#include <thread>
#include <type_traits>
#include <utility>

namespace aigw::daemon::http {

namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;
using error_code = boost::system::error_code;

namespace {

constexpr auto k_use = asio::as_tuple(asio::use_awaitable);
/// A connection over max_connections gets this long to send its request head before the 503.
constexpr std::chrono::milliseconds k_refusal_head_timeout{2'000};
/// After an error answer the rest of the request is read and dropped for this long (at most
/// k_linger_max_bytes), so closing does not reset the connection before the client read it.
constexpr std::chrono::milliseconds k_linger_timeout{500};
constexpr std::size_t k_linger_max_bytes = 1 << 20;
/// While a handler runs, the client-gone watcher reads ahead at most this much of a
/// pipelined next request; beyond it, it stops reading (and stops noticing a close).
constexpr std::size_t k_max_read_ahead = 64 << 10;
/// What a read between requests (the client-gone watcher's, an idle connection's) asks
/// for: the room the buffer has, from Beast's smallest read to k_watch_read_bytes. Such a
/// read never grows the buffer past what the request before needed, so thousands of
/// connections that each sent one small request hold 512 bytes each, not 4 KiB.
constexpr std::size_t k_min_read_bytes = 512;
constexpr std::size_t k_watch_read_bytes = 4096;
/// A stream still going after this long gives back its read buffer (let_go_of_read_buffer):
/// a short one keeps it, as doing so costs an epoll_ctl or two.
constexpr std::chrono::milliseconds k_long_stream{250};
/// An idle connection keeps a read buffer of at most this capacity.
constexpr std::size_t k_idle_buffer_capacity = 16 << 10;
/// Descriptors or memory ran out: accepting again at once would spin.
constexpr std::chrono::milliseconds k_accept_retry_delay{100};
constexpr std::size_t k_max_body_reserve = 1 << 20;

std::string seconds_text(std::chrono::milliseconds d)
{
    const auto ms = d.count();
    if (ms % 1000 == 0) {
        return std::to_string(ms / 1000) + " s";
    }
    return std::to_string(ms) + " ms";
}

bool is_http_error(const error_code& ec)
{
    return ec.category() == bhttp::make_error_code(bhttp::error::bad_method).category();
}

/// RFC 9110's tchar: a visible ASCII byte other than a delimiter. A table, as build_head()
/// asks it of every byte of every header name it writes.
constexpr std::array<bool, 256> k_token_char = [] {
    std::array<bool, 256> t{};
    for (std::size_t c = 0x21; c < 0x7F; ++c) {
        t[c] = std::string_view("\"(),/:;<=>?@[\\]{}").find(static_cast<char>(c)) == std::string_view::npos;
    }
    return t;
}();

bool is_token_char(char c)
{
    return k_token_char[static_cast<unsigned char>(c)];
}

/// Fills a Request straight from Beast's parser callbacks (no intermediate beast message).
class RequestParser final : public bhttp::basic_parser<true> {
public:
    explicit RequestParser(Request& req) : m_req(req) {}

private:
    void on_request_impl(bhttp::verb, beast::string_view method, beast::string_view target, int version,
                         error_code&) override
    {
        m_req.method.assign(method.data(), method.size());
        m_req.target.assign(target.data(), target.size());
        m_req.version = version < 11 ? 10 : 11;
    }
    void on_response_impl(int, beast::string_view, int, error_code& ec) override { ec = bhttp::error::bad_version; }
    void on_field_impl(bhttp::field, beast::string_view name, beast::string_view value, error_code&) override
    {
        m_req.headers.add(std::string(name.data(), name.size()), std::string(value.data(), value.size()));
    }
    void on_header_impl(error_code&) override {}
    void on_body_init_impl(const boost::optional<std::uint64_t>& length, error_code&) override
    {
        if (length) {
            m_req.body.reserve(static_cast<std::size_t>(std::min<std::uint64_t>(*length, k_max_body_reserve)));
        }
    }
    std::size_t on_body_impl(beast::string_view body, error_code&) override
    {
        m_req.body.append(body.data(), body.size());
        return body.size();
    }
    void on_chunk_header_impl(std::uint64_t, beast::string_view, error_code&) override {}
    std::size_t on_chunk_body_impl(std::uint64_t, beast::string_view body, error_code&) override
    {
        m_req.body.append(body.data(), body.size());
        return body.size();
    }
    void on_finish_impl(error_code&) override {}

    Request& m_req;
};

/// What a Loop needs of its connections, whatever their stream (plain TCP or TLS). Called
/// only when the server stops: the I/O path makes no virtual call.
class ConnectionBase {
public:
    /// stop(): an idle connection closes at once, the others after their current request.
    virtual void on_server_stop() = 0;
    /// The grace period is over: cancel whatever the coroutine awaits and close the socket.
    virtual void force_close() = 0;

    ConnectionBase* m_prev = nullptr;
    ConnectionBase* m_next = nullptr;

protected:
    ~ConnectionBase() = default;
};

/// One event loop: an io_context run by one thread, and the connections it owns.
struct Loop {
    asio::io_context ctx{1};
    std::optional<asio::executor_work_guard<asio::io_context::executor_type>> work{ctx.get_executor()};
    asio::steady_timer grace{ctx};
    ConnectionBase* head = nullptr;
    std::size_t count = 0;
    bool stopping = false;

    void link(ConnectionBase* c);
    void unlink(ConnectionBase* c);
    void begin_stop(std::chrono::milliseconds grace_period);
};

/// Everything the connections share (Server::Impl is private to Server).
struct Core {
    ServerOptions opts;
    Routes routes;
    Handler fallback;
    ErrorResponder errors;
    HostPolicy hosts;
    std::vector<std::unique_ptr<Loop>> loops;  // before the acceptor: destroyed after it
    std::optional<tcp::acceptor> acceptor;
    /// Loaded by bind() when opts.tls_cert is set: then every connection speaks TLS.
    /// reload_tls() swaps in a new one for the connections accepted after it; a connection
    /// keeps what it was accepted with (OpenSSL counts the references of each SSL_CTX).
    std::shared_ptr<asio::ssl::context> tls;
    mutable std::mutex tls_mu;  ///< guards the pointer `tls`, not the context
    std::shared_ptr<asio::ssl::context> current_tls() const
    {
        std::lock_guard lock(tls_mu);
        return tls;
    }
    std::atomic<std::size_t> open{0};
    std::atomic<std::uint64_t> tls_failures{0};
    std::atomic<std::size_t> active{0};
    std::atomic<std::uint64_t> refused{0};
    std::atomic<bool> stop_requested{false};
    std::size_t next_loop = 0;

    Core(ServerOptions o, Routes r, Handler f, ErrorResponder e)
        : opts(std::move(o)),
          routes(std::move(r)),
          fallback(std::move(f)),
          errors(std::move(e)),
          hosts(opts.host, opts.allowed_hosts)
    {}

    asio::awaitable<void> accept_loop();
    template <class C>
    void spawn_connection(std::shared_ptr<C> conn);
};

}  // namespace

struct Server::Impl : Core {
    using Core::Core;
};

namespace {

using TlsStream = asio::ssl::stream<tcp::socket>;

/// One client connection: its coroutine reads a request, runs the handler, answers, loops.
/// It is also the Responder of the request being handled. `Stream` is tcp::socket or
/// TlsStream; the TLS-only steps are `if constexpr`, so plain connections run the same code
/// as before TLS existed.
template <class Stream>
class Connection final : public ConnectionBase,
                         public Responder,
                         public std::enable_shared_from_this<Connection<Stream>> {
public:
    static constexpr bool k_tls = !std::is_same_v<Stream, tcp::socket>;

    Connection(Core& server, Loop& loop, Stream stream, bool refusing)
        : m_server(server),
          m_loop(loop),
          m_stream(std::move(stream)),
          m_timer(m_loop.ctx),
          m_watch_done(m_loop.ctx),
          m_refusing(refusing)
    {
        error_code ec;
        const auto ep = sock().remote_endpoint(ec);
        if (!ec) {
            m_peer = ep.address().is_v6() ? "[" + ep.address().to_string() + "]" : ep.address().to_string();
            m_peer += ':';
            m_peer += std::to_string(ep.port());
        }
    }

    asio::cancellation_slot cancel_slot() { return m_cancel.slot(); }
    asio::io_context& loop_context() { return m_loop.ctx; }

    static asio::awaitable<void> serve(std::shared_ptr<Connection> self) { co_await self->run(); }

    void on_server_stop() override
    {
        if (m_phase == Phase::idle || m_refusing) {
            error_code ec;
            sock().cancel(ec);
        }
    }

    void force_close() override
    {
        m_cancel.emit(asio::cancellation_type::terminal);
        error_code ec;
        sock().close(ec);
    }

    // Responder
    asio::awaitable<void> send(Response res) override;
    asio::awaitable<bool> begin_stream(Response head) override;
    asio::awaitable<bool> write(std::string_view bytes) override;
    bool write_now(std::string_view bytes) override;
    asio::awaitable<bool> end_stream(std::string_view last_bytes) override;
    bool started() const override { return m_started; }
    bool client_gone() const override { return m_client_gone; }
    void on_client_gone(std::function<void()> fn) override;

private:
    enum class Phase { idle, busy };
    enum class Framing { length, chunked, close };

    /// The TCP socket under the stream.
    tcp::socket& sock()
    {
        if constexpr (k_tls) {
            return m_stream.next_layer();
        } else {
            return m_stream;
        }
    }

    asio::awaitable<void> run();
    /// TLS: the handshake within handshake_timeout; false (counted in tls_failures) when it
    /// failed or the client sent plain HTTP, which gets a plain 400 saying to use https://.
    asio::awaitable<bool> handshake();
    asio::awaitable<void> refuse_plain_http();
    /// TLS: sends close_notify (and waits at most k_linger_timeout for the client's), once.
    asio::awaitable<void> close_tls();
    asio::awaitable<bool> serve_one();
    /// Reads a request's head and body into `req` and checks its Host; false when the
    /// connection is done (the error, if any, was answered). Its own coroutine, so the
    /// parser and the error paths are not in serve_one's frame, which a stream keeps for
    /// its whole life.
    asio::awaitable<bool> read_request(Request& req);
    asio::awaitable<void> refuse();
    asio::awaitable<void> answer_read_error(Request& req, const error_code& ec, bool in_body);
    asio::awaitable<void> send_error(const Request& req, const wire::Failure& f);
    asio::awaitable<void> linger_close();
    asio::awaitable<void> call_handler(const Handler& h, Request& req);
    /// After the handler: a 500 for a handler that threw (`failure`) or sent nothing, or the
    /// end of a stream it left open.
    asio::awaitable<void> after_handler(Request& req, const std::string& failure);
    /// Writes within write_timeout; false (and the client is gone) when that failed. A
    /// whole answer is still tried after the client half-closed (`even_after_eof`).
    /// `try_at_once`: false when the caller just tried (write_at_once()), so the socket is
    /// full or failed and the first write waits.
    template <class Buffers>
    asio::awaitable<bool> write_all(const Buffers& buffers, bool even_after_eof = false, bool try_at_once = true);
    /// Writes `parts` now if the socket takes all of them, without a coroutine of its own:
    /// plain TCP, and the usual case of a stream's write. True when it did; otherwise
    /// `written` bytes went and write_all() must do the rest (and report a failure).
    bool write_at_once(std::span<const asio::const_buffer> parts, std::size_t& written);
    /// The buffers of one write of a stream, in m_parts: the head if it has not gone out,
    /// `bytes` (as a chunk when chunked), and the last chunk when `last`.
    std::span<const asio::const_buffer> piece(std::string_view bytes, bool last);
    /// What write_at_once() left of `parts`, from byte `written` on.
    asio::awaitable<bool> write_rest(std::span<const asio::const_buffer> parts, std::size_t written);
    void begin_exchange(const Request& req, bool keep_alive);
    /// The exchange is over: hands its entry to ServerOptions::access_log, if any.
    void log_exchange(const Request& req);
    void build_head(int status, const Headers& headers, Framing framing, std::size_t length);
    void finish();

    // The deadline: one timer per connection; moving a deadline later costs no syscall.
    void set_deadline(std::chrono::milliseconds d);
    void clear_deadline() { m_deadline = Clock::time_point::max(); }
    void arm(Clock::time_point t);
    void on_timer(const error_code& ec);

    // The client-gone watcher: a read that runs while the handler does.
    void start_watch();
    void watch_read();
    /// A long stream gives back its empty read buffer; the watcher then waits for the client
    /// to send something before reading (plain TCP; a no-op under TLS).
    void let_go_of_read_buffer();
    void on_watch_ready(const error_code& ec);
    void watch_read_now();
    /// k_min_read_bytes to k_watch_read_bytes: what the buffer has room for.
    std::size_t between_requests_read_size() const
    {
        return std::clamp(m_buffer.capacity() - m_buffer.size(), k_min_read_bytes, k_watch_read_bytes);
    }
    void on_watch_read(const error_code& ec, std::size_t n);
    asio::awaitable<void> stop_watch();
    void notify_gone();

    Core& m_server;
    Loop& m_loop;
    Stream m_stream;
    bool m_tls_up = false;  ///< the handshake succeeded and no close_notify was sent yet
    beast::flat_buffer m_buffer;
    std::string m_peer;
    std::string m_head;  ///< the serialised response head, reused
    std::array<char, 24> m_chunk_line{};
    std::array<asio::const_buffer, 5> m_parts;  ///< a stream write's buffers: piece()
    /// write_now() could not finish m_parts (`m_pending_written` bytes went): write() does.
    std::span<const asio::const_buffer> m_pending_parts;
    std::size_t m_pending_written = 0;
    bool m_write_pending = false;
    asio::cancellation_signal m_cancel;

    asio::steady_timer m_timer;
    Clock::time_point m_deadline = Clock::time_point::max();
    Clock::time_point m_armed_at = Clock::time_point::max();
    bool m_timed_out = false;

    asio::steady_timer m_watch_done;
    asio::cancellation_signal m_watch_cancel;
    bool m_watching = false;
    bool m_watch_reading = false;  ///< a watcher's read into m_buffer is pending
    bool m_watch_to_wait = false;  ///< that read was cancelled to wait without a buffer
    bool m_watch_waits = false;    ///< the watcher waits for readability instead of reading
    bool m_watch_stopping = false;

    Phase m_phase = Phase::busy;
    bool m_refusing = false;
    bool m_closed = false;

    // The exchange in progress.
    unsigned m_version = 11;
    bool m_is_head = false;
    bool m_keep_alive = false;
    bool m_started = false;
    bool m_streaming = false;
    bool m_stream_ended = false;
    bool m_chunked = false;
    bool m_head_pending = false;  ///< begin_stream's head waits for the first write
    bool m_client_gone = false;
    bool m_write_failed = false;
    bool m_in_handler = false;
    std::uint64_t m_exchange = 0;
    std::function<void()> m_on_gone;
    // For the access log.
    Clock::time_point m_exchange_t0;
    int m_status = 0;
    std::string m_error_type;
    std::string m_error_message;
    bool m_logging = false;  ///< this exchange gathers an access entry (set by begin_exchange)
};

void Loop::link(ConnectionBase* c)
{
    c->m_next = head;
    if (head != nullptr) {
        head->m_prev = c;
    }
    head = c;
    ++count;
}

void Loop::unlink(ConnectionBase* c)
{
    if (c->m_prev != nullptr) {
        c->m_prev->m_next = c->m_next;
    } else {
        head = c->m_next;
    }
    if (c->m_next != nullptr) {
        c->m_next->m_prev = c->m_prev;
    }
    c->m_prev = c->m_next = nullptr;
    --count;
    if (stopping && count == 0) {
        grace.cancel();
    }
}

void Loop::begin_stop(std::chrono::milliseconds grace_period)
{
    stopping = true;
    work.reset();
    for (ConnectionBase* c = head; c != nullptr;) {
        ConnectionBase* next = c->m_next;
        c->on_server_stop();
        c = next;
    }
    if (count == 0) {
        return;
    }
    grace.expires_after(grace_period);
    grace.async_wait([this](const error_code& ec) {
        if (ec) {
            return;
        }
        for (ConnectionBase* c = head; c != nullptr;) {
            ConnectionBase* next = c->m_next;
            c->force_close();
            c = next;
        }
    });
}

// --- deadline ---------------------------------------------------------------------------

template <class Stream>
void Connection<Stream>::set_deadline(std::chrono::milliseconds d)
{
    m_timed_out = false;
    m_deadline = Clock::now() + d;
    if (m_deadline < m_armed_at) {
        arm(m_deadline);
    }
}

template <class Stream>
void Connection<Stream>::arm(Clock::time_point t)
{
    m_armed_at = t;
    m_timer.expires_at(t);
    m_timer.async_wait([self = this->shared_from_this()](const error_code& ec) { self->on_timer(ec); });
}

template <class Stream>
void Connection<Stream>::on_timer(const error_code& ec)
{
    if (ec || m_closed) {
        return;  // replaced by an earlier deadline, or the connection ended
    }
    const auto now = Clock::now();
    if (m_timer.expiry() > now) {
        return;  // a stale completion; a newer wait is pending
    }
    m_armed_at = Clock::time_point::max();
    if (now >= m_deadline) {
        m_deadline = Clock::time_point::max();
        m_timed_out = true;
        error_code ignored;
        sock().cancel(ignored);
    } else if (m_deadline != Clock::time_point::max()) {
        arm(m_deadline);
    }
}

// --- client-gone watcher -----------------------------------------------------------------

template <class Stream>
void Connection<Stream>::start_watch()
{
    m_watch_stopping = false;
    m_watch_waits = false;
    m_watching = true;
    watch_read();
}

template <class Stream>
void Connection<Stream>::watch_read()
{
    if (m_buffer.size() >= k_max_read_ahead) {
        m_watching = false;
        m_watch_done.cancel();
        return;
    }
    if constexpr (!k_tls) {
        if (!m_watch_waits) {
            // Read at once: an async_wait would cost an epoll_ctl each time (Asio re-arms).
            watch_read_now();
            return;
        }
        // A long stream: wait until the client sends something (a pipelined request, or
        // its close) and only then read, so it holds no read buffer meanwhile.
        sock().async_wait(tcp::socket::wait_read,
                          asio::bind_cancellation_slot(
                              m_watch_cancel.slot(),
                              [self = this->shared_from_this()](const error_code& ec) { self->on_watch_ready(ec); }));
        return;
    }
    watch_read_now();
}

template <class Stream>
void Connection<Stream>::let_go_of_read_buffer()
{
    if constexpr (!k_tls) {
        if (m_watch_waits || !m_watching || m_watch_stopping || m_buffer.size() != 0) {
            return;
        }
        m_watch_waits = true;
        if (m_watch_reading) {
            m_watch_to_wait = true;  // on_watch_read lets the buffer go and waits instead
            m_watch_cancel.emit(asio::cancellation_type::terminal);
        } else {
            m_buffer.shrink_to_fit();
        }
    }
}

template <class Stream>
void Connection<Stream>::on_watch_ready(const error_code& ec)
{
    if (ec || m_watch_stopping || m_closed) {
        on_watch_read(ec, 0);
        return;
    }
    watch_read_now();
}

template <class Stream>
void Connection<Stream>::watch_read_now()
{
    m_watch_reading = true;
    m_stream.async_read_some(
        m_buffer.prepare(between_requests_read_size()),
        asio::bind_cancellation_slot(
            m_watch_cancel.slot(),
            [self = this->shared_from_this()](const error_code& ec, std::size_t n) { self->on_watch_read(ec, n); }));
}

template <class Stream>
void Connection<Stream>::on_watch_read(const error_code& ec, std::size_t n)
{
    m_watch_reading = false;
    m_buffer.commit(n);  // a pipelined next request: kept for the next parse
    if (std::exchange(m_watch_to_wait, false) && ec == asio::error::operation_aborted && !m_watch_stopping &&
        !m_closed) {
        // let_go_of_read_buffer() stopped this read to watch without a buffer.
        if (m_buffer.size() == 0) {
            m_buffer.shrink_to_fit();
        }
        watch_read();
        return;
    }
    if (!ec && !m_watch_stopping && !m_closed) {
        watch_read();
        return;
    }
    m_watching = false;
    if (ec && !(ec == asio::error::operation_aborted && m_watch_stopping)) {
        // EOF, reset, or the socket was cancelled or closed under the handler (deadline, stop).
        m_client_gone = true;
        m_keep_alive = false;
        notify_gone();
    }
    m_watch_done.cancel();
}

template <class Stream>
asio::awaitable<void> Connection<Stream>::stop_watch()
{
    if (!m_watching) {
        co_return;
    }
    m_watch_stopping = true;
    m_watch_cancel.emit(asio::cancellation_type::terminal);
    while (m_watching) {
        m_watch_done.expires_at(Clock::time_point::max());
        co_await m_watch_done.async_wait(k_use);
    }
}

template <class Stream>
void Connection<Stream>::notify_gone()
{
    if (!m_in_handler || m_stream_ended || !m_on_gone) {
        return;
    }
    // Posted, so it never runs inside a Responder call; skipped when the handler is over.
    asio::post(m_loop.ctx, [self = this->shared_from_this(), exchange = m_exchange] {
        if (self->m_exchange != exchange || !self->m_in_handler || self->m_stream_ended || !self->m_on_gone) {
            return;
        }
        auto fn = std::move(self->m_on_gone);
        self->m_on_gone = nullptr;
        try {
            fn();
        } catch (const std::exception& e) {
            std::cerr << "aigwd: client-gone callback threw: " << e.what() << "\n";
        } catch (...) {
            std::cerr << "aigwd: client-gone callback threw\n";
        }
    });
}

template <class Stream>
void Connection<Stream>::on_client_gone(std::function<void()> fn)
{
    m_on_gone = std::move(fn);
    if (m_client_gone) {
        notify_gone();
    }
}

// --- the connection's coroutine ----------------------------------------------------------

template <class Stream>
asio::awaitable<void> Connection<Stream>::run()
{
    m_loop.link(this);
    if constexpr (!k_tls) {
        // write_all tries each write at once; without this, a full socket would block it.
        error_code ignored;
        sock().non_blocking(true, ignored);
    }
    try {
        bool ready = true;
        if constexpr (k_tls) {
            ready = co_await handshake();
        }
        if (!ready) {
            // a failed handshake, or plain HTTP on the TLS port (answered): nothing to serve
        } else if (m_refusing) {
            co_await refuse();
        } else {
            bool first = true;
            for (;;) {
                if (m_buffer.size() == 0) {
                    if (m_loop.stopping) {
                        break;
                    }
                    if (m_buffer.capacity() > k_idle_buffer_capacity) {
                        m_buffer.shrink_to_fit();
                    }
                    m_phase = Phase::idle;
                    set_deadline(first ? m_server.opts.header_timeout : m_server.opts.keep_alive_timeout);
                    error_code ec;
                    if (k_tls || m_buffer.capacity() >= k_min_read_bytes) {
                        // Wait by reading: a keep-alive client's next request is often there
                        // already, and then it costs one recv instead of re-arming epoll and
                        // a trip through the loop. (TLS must read anyway: OpenSSL may already
                        // hold the next request's bytes, which the socket no longer shows.)
                        auto [read_ec, n] =
                            co_await m_stream.async_read_some(m_buffer.prepare(between_requests_read_size()), k_use);
                        m_buffer.commit(n);
                        ec = n > 0 ? error_code() : read_ec;
                    } else {
                        // A connection without a buffer (new, or shrunk after a large
                        // request) waits without one: idle connections cost no memory.
                        std::tie(ec) = co_await sock().async_wait(tcp::socket::wait_read, k_use);
                    }
                    clear_deadline();
                    m_phase = Phase::busy;
                    if (ec) {
                        break;  // idle too long, stop(), or the socket failed: close quietly
                    }
                }
                first = false;
                if (!co_await serve_one()) {
                    break;
                }
            }
        }
        if constexpr (k_tls) {
            co_await close_tls();
        }
    } catch (...) {
        // Cancelled at the end of the grace period (or an I/O object failed): just close.
    }
    finish();
}

template <class Stream>
asio::awaitable<bool> Connection<Stream>::handshake()
{
    // Idle until the handshake is done: stop() closes a connection that sent no request yet.
    m_phase = Phase::idle;
    set_deadline(m_server.opts.handshake_timeout);
    auto [wait_ec] = co_await sock().async_wait(tcp::socket::wait_read, k_use);
    if (wait_ec) {
        clear_deadline();
        co_return false;
    }
    // A TLS client starts with a handshake record (0x16); a request line starts with a
    // letter. Peeking costs one syscall per connection and tells a person what is wrong.
    std::array<char, 1> first{};
    error_code peek_ec;
    const std::size_t peeked = sock().receive(asio::buffer(first), tcp::socket::message_peek, peek_ec);
    if (!peek_ec && peeked == 1 && first[0] >= 'A' && first[0] <= 'Z') {
        clear_deadline();
        ++m_server.tls_failures;
        co_await refuse_plain_http();
        co_return false;
    }
    auto [ec] = co_await m_stream.async_handshake(asio::ssl::stream_base::server, k_use);
    clear_deadline();
    m_phase = Phase::busy;
    if (ec) {
        // A scanner, a client that does not trust the certificate, or garbage: no log line
        // per attempt (that would let anyone fill the log), a counter instead.
        ++m_server.tls_failures;
        co_return false;
    }
    m_tls_up = true;
    co_return true;
}

template <class Stream>
asio::awaitable<void> Connection<Stream>::refuse_plain_http()
{
    const std::string body =
        wire::to_openai_error(wire::bad_request("this aigwd port speaks HTTPS only ([server] tls_cert is set): "
                                                "connect with https:// instead of http://"))
            .dump();
    const std::string res =
        "HTTP/1.1 400 Bad Request\r\nContent-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) +
        "\r\nConnection: close\r\n\r\n" + body;
    set_deadline(m_server.opts.write_timeout);
    auto [ec, n] = co_await asio::async_write(sock(), asio::buffer(res), k_use);
    clear_deadline();
    if (ec) {
        co_return;
    }
    // Read what the client sent (and drop it) before closing, so the close does not reset
    // the connection before the client read the answer.
    sock().shutdown(tcp::socket::shutdown_send, ec);
    set_deadline(k_linger_timeout);
    std::size_t drained = 0;
    std::array<char, 4096> sink{};
    while (!ec && drained < k_linger_max_bytes) {
        auto [read_ec, got] = co_await sock().async_read_some(asio::buffer(sink), k_use);
        ec = read_ec;
        drained += got;
    }
    clear_deadline();
}

template <class Stream>
asio::awaitable<void> Connection<Stream>::close_tls()
{
    if (!m_tls_up || m_write_failed || !sock().is_open()) {
        co_return;
    }
    m_tls_up = false;
    set_deadline(k_linger_timeout);
    co_await m_stream.async_shutdown(k_use);  // an error only means the client left first
    clear_deadline();
}

template <class Stream>
void Connection<Stream>::finish()
{
    m_closed = true;
    m_on_gone = nullptr;
    error_code ec;
    m_timer.cancel();
    m_watch_done.cancel();
    sock().shutdown(tcp::socket::shutdown_both, ec);
    sock().close(ec);
    m_loop.unlink(this);
    if (!m_refusing) {
        --m_server.open;
    }
}

template <class Stream>
void Connection<Stream>::begin_exchange(const Request& req, bool keep_alive)
{
    ++m_exchange;
    m_version = req.version;
    m_is_head = req.method == "HEAD";
    m_keep_alive = keep_alive;
    m_started = m_streaming = m_stream_ended = m_chunked = m_head_pending = false;
    m_client_gone = m_write_failed = false;
    m_in_handler = false;
    m_on_gone = nullptr;
    m_exchange_t0 = Clock::now();
    m_status = 0;
    m_error_type.clear();
    m_error_message.clear();
    m_logging = m_server.opts.access_log && (!m_server.opts.access_log_on || m_server.opts.access_log_on());
}

/// An error answer's type and message: every surface's error shape has error.message
/// (OpenAI, Anthropic, Gemini), and error.type (or Gemini's error.status).
void error_of(std::string_view body, std::string& type, std::string& message)
{
    constexpr std::size_t k_max_error_body = 64 << 10;
    if (body.empty() || body.size() > k_max_error_body || body.front() != '{') {
        return;
    }
    const auto doc = nlohmann::json::parse(body, nullptr, false);
    if (doc.is_discarded() || !doc.is_object()) {
        return;
    }
    const auto it = doc.find("error");
    if (it == doc.end() || !it->is_object()) {
        return;
    }
    auto text = [&](const char* name) -> std::string {
        const auto f = it->find(name);
        return f != it->end() && f->is_string() ? f->get<std::string>() : std::string();
    };
    message = text("message");
    type = text("type");
    if (type.empty()) {
        type = text("status");
    }
}

template <class Stream>
void Connection<Stream>::log_exchange(const Request& req)
{
    if (!m_logging) {
        return;
    }
    AccessEntry e;
    e.method = req.method;
    e.path = req.path;
    e.status = m_status;
    e.latency_ms = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - m_exchange_t0).count();
    e.error_type = m_error_type;
    e.error_message = m_error_message;
    e.note = req.access.get();
    try {
        m_server.opts.access_log(e);
    } catch (...) {
        // A log line is not worth a connection.
    }
}

/// Why a request found no handler: a bad session prefix, or no such endpoint.
wire::Failure route_failure(const std::expected<std::optional<SessionPrefix>, std::string>& prefix, const Request& req)
{
    if (!prefix) {
        return wire::bad_request(prefix.error());
    }
    return wire::Failure{.kind = wire::FailureKind::not_found,
                         .status = 404,
                         .message = "no such endpoint: " + req.method + " " + req.path};
}

template <class Stream>
asio::awaitable<bool> Connection<Stream>::serve_one()
{
    Request req;
    req.peer = m_peer;
    if (!co_await read_request(req)) {
        co_return false;
    }

    // /s/{session}/v1/...: the route of /v1/... with the session as x-aigw-session, for
    // agents whose base URL can be set but not their headers (aigw claude|codex|...).
    auto prefix = split_session_prefix(req.path);
    if (prefix && *prefix) {
        req.path = std::move((*prefix)->path);
        req.headers.set("x-aigw-session", std::move((*prefix)->session));
    }

    bool path_exists = false;
    const Handler* handler = m_server.routes.find(req.method, req.path, &path_exists);
    if (handler == nullptr && m_is_head) {
        handler = m_server.routes.find("GET", req.path, &path_exists);
    }
    if (handler == nullptr) {
        handler = &m_server.fallback;
    }
    if (prefix && *handler) {
        co_await call_handler(*handler, req);
    } else {
        co_await send_error(req, route_failure(prefix, req));
    }
    log_exchange(req);
    co_return m_keep_alive && !m_client_gone && !m_loop.stopping && sock().is_open();
}

template <class Stream>
asio::awaitable<bool> Connection<Stream>::read_request(Request& req)
{
    const auto& opts = m_server.opts;
    RequestParser parser(req);
    parser.header_limit(static_cast<std::uint32_t>(std::min<std::size_t>(opts.max_header_bytes, UINT32_MAX)));
    parser.body_limit(opts.max_body_bytes);

    set_deadline(opts.header_timeout);
    auto [ec, n] = co_await bhttp::async_read_header(m_stream, m_buffer, parser, k_use);
    clear_deadline();
    if (ec) {
        co_await answer_read_error(req, ec, false);
        co_return false;
    }
    const auto target = split_target(req.target);
    req.path = percent_decode(target.path, false);
    req.query = std::string(target.query);
    begin_exchange(req, parser.keep_alive() && !m_loop.stopping);
    if (m_logging) {
        req.access = std::make_shared<AccessNote>();
    }

    std::size_t host_fields = 0;
    std::string_view host;
    for (const auto& [name, value] : req.headers.items()) {
        if (beast::iequals(name, "host")) {
            ++host_fields;
            host = value;
        }
    }
    std::optional<wire::Failure> bad_host;
    if (host_fields > 1 || (host_fields == 0 && req.version == 11) || (host_fields == 1 && host_name(host).empty())) {
        bad_host = wire::bad_request(host_fields > 1 ? "the request has several Host headers; send one"
                                                     : "the request has no valid Host header (HTTP/1.1 requires one)");
    } else if (host_fields == 1 && !m_server.hosts.allows(host)) {
        bad_host = wire::Failure{.kind = wire::FailureKind::auth, .status = 403, .message = host_refused_message(host)};
    }
    if (bad_host) {
        m_keep_alive = false;
        co_await send_error(req, *bad_host);
        log_exchange(req);
        co_await linger_close();
        co_return false;
    }

    if (!parser.is_done()) {
        if (req.version == 11 && beast::iequals(req.header("Expect"), "100-continue")) {
            static constexpr std::string_view k_continue = "HTTP/1.1 100 Continue\r\n\r\n";
            if (!co_await write_all(asio::buffer(k_continue))) {
                co_return false;
            }
        }
        set_deadline(opts.body_timeout);
        auto [body_ec, body_n] = co_await bhttp::async_read(m_stream, m_buffer, parser, k_use);
        clear_deadline();
        if (body_ec) {
            co_await answer_read_error(req, body_ec, true);
            co_return false;
        }
    }
    co_return true;
}

template <class Stream>
asio::awaitable<void> Connection<Stream>::call_handler(const Handler& h, Request& req)
{
    ++m_server.active;
    m_in_handler = true;
    start_watch();
    std::string failure;
    try {
        co_await h(req, *this);
    } catch (const std::exception& e) {
        failure = e.what();
        if (failure.empty()) {
            failure = "exception";
        }
    } catch (...) {
        failure = "unknown exception";
    }
    m_in_handler = false;
    m_on_gone = nullptr;  // its captures may refer to the handler's frame, which is gone
    --m_server.active;
    co_await stop_watch();
    if (!failure.empty() || !m_started || (m_streaming && !m_stream_ended)) {
        co_await after_handler(req, failure);
    }
}

template <class Stream>
asio::awaitable<void> Connection<Stream>::after_handler(Request& req, const std::string& failure)
{
    if (!failure.empty()) {
        const std::string what = req.method + " " + req.path;
        std::cerr << "aigwd: the handler for " << what << " failed: " << failure << "\n";
        if (m_head_pending && !m_stream_ended) {
            // A stream whose head has not gone out yet: the client can still get a proper error.
            m_started = m_streaming = m_chunked = m_head_pending = false;
        }
        if (!m_started) {
            co_await send_error(req, wire::internal_error("internal error while handling " + what + ": " + failure));
        } else if (!m_stream_ended) {
            m_keep_alive = false;  // a cut stream: the client sees it end early
        }
    } else if (!m_started) {
        const std::string what = req.method + " " + req.path;
        std::cerr << "aigwd: the handler for " << what << " returned without answering\n";
        co_await send_error(req, wire::internal_error("internal error: the handler for " + what + " sent no answer"));
    } else if (m_streaming && !m_stream_ended) {
        co_await end_stream({});
    }
}

template <class Stream>
asio::awaitable<void> Connection<Stream>::answer_read_error(Request& req, const error_code& ec, bool in_body)
{
    const auto& opts = m_server.opts;
    const bool got_bytes = m_buffer.size() > 0 || !req.method.empty();
    std::optional<wire::Failure> f;
    if (m_timed_out) {
        if (got_bytes) {
            f = wire::Failure{.kind = wire::FailureKind::timeout,
                              .status = 408,
                              .message = "the request did not arrive within " +
                                         seconds_text(in_body ? opts.body_timeout : opts.header_timeout) +
                                         "; send it faster or check the network"};
        }
    } else if (ec == bhttp::error::header_limit) {
        f = wire::Failure{.kind = wire::FailureKind::bad_request,
                          .status = 431,
                          .message = "the request header is larger than the limit of " +
                                     std::to_string(opts.max_header_bytes) + " bytes"};
    } else if (ec == bhttp::error::body_limit) {
        f = wire::Failure{.kind = wire::FailureKind::bad_request,
                          .status = 413,
                          .message = "the request body is larger than the limit of " +
                                     std::to_string(opts.max_body_bytes) + " bytes (server max_body_bytes)"};
    } else if (is_http_error(ec) && ec != bhttp::error::end_of_stream && ec != bhttp::error::partial_message) {
        f = wire::bad_request("malformed HTTP request: " + ec.message());
    }
    if (!f) {
        co_return;  // the client left or the connection failed: nothing to answer
    }
    if (req.method.empty()) {
        const auto* data = static_cast<const char*>(m_buffer.data().data());
        auto line = sniff_request_line(std::string_view(data, m_buffer.size()));
        req.method = std::move(line.method);
        req.target = std::move(line.target);
        req.version = 11;
    }
    if (req.path.empty()) {
        req.path = percent_decode(split_target(req.target).path, false);
    }
    begin_exchange(req, false);
    co_await send_error(req, *f);
    log_exchange(req);
    co_await linger_close();
}

template <class Stream>
asio::awaitable<void> Connection<Stream>::refuse()
{
    Request req;
    req.peer = m_peer;
    RequestParser parser(req);
    parser.header_limit(static_cast<std::uint32_t>(std::min<std::size_t>(m_server.opts.max_header_bytes, UINT32_MAX)));
    set_deadline(k_refusal_head_timeout);
    auto [ec, n] = co_await bhttp::async_read_header(m_stream, m_buffer, parser, k_use);
    clear_deadline();
    if (ec && !m_timed_out && !is_http_error(ec)) {
        co_return;  // gone, or stop()
    }
    if (req.method.empty()) {
        const auto* data = static_cast<const char*>(m_buffer.data().data());
        auto line = sniff_request_line(std::string_view(data, m_buffer.size()));
        req.method = std::move(line.method);
        req.target = std::move(line.target);
    }
    req.path = percent_decode(split_target(req.target).path, false);
    begin_exchange(req, false);
    wire::Failure f{.kind = wire::FailureKind::rate_limited,
                    .status = 503,
                    .message = "aigwd is at its limit of " + std::to_string(m_server.opts.max_connections) +
                               " open connections; retry in a moment, or raise [server] max_connections",
                    .retry_after_s = 1.0};
    co_await send_error(req, f);
    log_exchange(req);
    co_await linger_close();
}

template <class Stream>
asio::awaitable<void> Connection<Stream>::send_error(const Request& req, const wire::Failure& f)
{
    Response res;
    bool made = false;
    if (m_server.errors) {
        try {
            res = m_server.errors(req, f);
            made = true;
        } catch (const std::exception& e) {
            std::cerr << "aigwd: the error responder threw: " << e.what() << "\n";
        } catch (...) {
            std::cerr << "aigwd: the error responder threw\n";
        }
    }
    if (!made) {
        res = Response{};
        res.status = f.status;
        res.set_content(wire::to_openai_error(f).dump());
    }
    co_await send(std::move(res));
}

template <class Stream>
asio::awaitable<void> Connection<Stream>::linger_close()
{
    if constexpr (k_tls) {
        co_await close_tls();  // close_notify first; the rest is drained as raw bytes
    }
    error_code ec;
    sock().shutdown(tcp::socket::shutdown_send, ec);
    if (ec) {
        co_return;
    }
    m_buffer.clear();
    set_deadline(k_linger_timeout);
    std::size_t drained = 0;
    while (drained < k_linger_max_bytes) {
        auto [read_ec, n] = co_await sock().async_read_some(m_buffer.prepare(8192), k_use);
        if (read_ec) {
            break;
        }
        drained += n;
    }
    clear_deadline();
}

// --- writing -----------------------------------------------------------------------------

template <class Stream>
template <class Buffers>
asio::awaitable<bool> Connection<Stream>::write_all(const Buffers& buffers, bool even_after_eof, bool try_at_once)
{
    if (m_write_failed || (m_client_gone && !even_after_eof)) {
        co_return false;
    }
    // The deadline restarts whenever the client takes some bytes: a slow reader of a large
    // answer is fine, one that takes nothing for write_timeout is not.
    beast::buffers_suffix<Buffers> rest(buffers);
    error_code ec;
    if constexpr (!k_tls) {
        // Most writes fit in the socket's buffer: try at once. An async write that completes
        // at once still goes through the loop's queue (one more epoll_wait and resume each).
        if (try_at_once && sock().non_blocking()) {
            const std::size_t n = sock().write_some(rest, ec);
            if (!ec) {
                rest.consume(n);
            } else if (ec == asio::error::would_block || ec == asio::error::try_again) {
                ec = {};  // full: wait for room below
            }
        }
    }
    while (!ec && beast::buffer_bytes(rest) > 0) {
        set_deadline(m_server.opts.write_timeout);
        auto [write_ec, n] = co_await m_stream.async_write_some(rest, k_use);
        if (write_ec) {
            ec = write_ec;
            break;
        }
        rest.consume(n);
    }
    clear_deadline();
    if (ec) {
        m_client_gone = m_write_failed = true;
        m_keep_alive = false;
        if (m_timed_out) {
            error_code ignored;
            sock().close(ignored);  // a client that takes nothing is cut off
        }
        notify_gone();
        co_return false;
    }
    co_return true;
}

template <class Stream>
void Connection<Stream>::build_head(int status, const Headers& headers, Framing framing, std::size_t length)
{
    if (beast::iequals(headers.get("Connection"), "close") || m_loop.stopping) {
        m_keep_alive = false;
    }
    m_head.clear();
    m_head += m_version == 10 ? "HTTP/1.0 " : "HTTP/1.1 ";
    std::array<char, 24> num{};
    auto [end, ec] = std::to_chars(num.data(), num.data() + num.size(), status);
    m_head.append(num.data(), end);
    m_head += ' ';
    const auto reason = bhttp::obsolete_reason(static_cast<bhttp::status>(status));
    m_head += reason.starts_with('<') ? std::string_view("Unknown") : std::string_view(reason.data(), reason.size());
    m_head += "\r\n";
    for (const auto& [name, value] : headers.items()) {
        // A lambda, not the function's address: all_of then inlines the table lookup.
        if (name.empty() || !std::all_of(name.begin(), name.end(), [](char c) { return is_token_char(c); }) ||
            beast::iequals(name, "Content-Length") || beast::iequals(name, "Transfer-Encoding") ||
            beast::iequals(name, "Connection")) {
            continue;
        }
        m_head += name;
        m_head += ": ";
        if (needs_sanitizing(value)) {
            m_head += sanitize_header_value(value);
        } else {
            m_head += value;
        }
        m_head += "\r\n";
    }
    if (framing == Framing::length) {
        if (status >= 200 && status != 204 && status != 304) {
            auto [len_end, len_ec] = std::to_chars(num.data(), num.data() + num.size(), length);
            m_head += "Content-Length: ";
            m_head.append(num.data(), len_end);
            m_head += "\r\n";
        }
    } else if (framing == Framing::chunked) {
        m_head += "Transfer-Encoding: chunked\r\n";
    }
    if (!m_keep_alive) {
        m_head += "Connection: close\r\n";
    } else if (m_version == 10) {
        m_head += "Connection: keep-alive\r\n";
    }
    m_head += "\r\n";
}

template <class Stream>
asio::awaitable<void> Connection<Stream>::send(Response res)
{
    if (m_started) {
        m_keep_alive = false;  // a second answer is a handler bug; it is dropped
        co_return;
    }
    m_started = true;
    m_stream_ended = true;
    m_status = res.status;
    if (res.status >= 400 && m_logging) {
        error_of(res.body, m_error_type, m_error_message);
    }
    build_head(res.status, res.headers, Framing::length, res.body.size());
    const bool no_body = m_is_head || res.status < 200 || res.status == 204 || res.status == 304;
    if (no_body || res.body.empty()) {
        co_await write_all(asio::buffer(m_head), true);
    } else {
        const std::array<asio::const_buffer, 2> parts{asio::buffer(m_head), asio::buffer(res.body)};
        co_await write_all(parts, true);
    }
}

template <class Stream>
asio::awaitable<bool> Connection<Stream>::begin_stream(Response head)
{
    if (m_started) {
        co_return !m_client_gone;
    }
    m_started = true;
    m_streaming = true;
    m_status = head.status;
    m_chunked = m_version == 11;
    if (!m_chunked) {
        m_keep_alive = false;  // HTTP/1.0: the end of the stream is the close
    }
    build_head(head.status, head.headers, m_chunked ? Framing::chunked : Framing::close, 0);
    // The head goes out with the first bytes of the stream: one write (and one wake-up of
    // the client) instead of two. write({}) sends it alone when the caller has nothing yet.
    m_head_pending = true;
    co_return !m_client_gone;
}

template <class Stream>
bool Connection<Stream>::write_at_once(std::span<const asio::const_buffer> parts, std::size_t& written)
{
    written = 0;
    if constexpr (k_tls) {
        return false;
    } else {
        if (m_write_failed || m_client_gone || !sock().non_blocking()) {
            return false;
        }
        error_code ec;
        written = sock().write_some(parts, ec);
        if (ec || written < beast::buffer_bytes(parts)) {
            return false;  // full, or failed: write_all() waits, or says so
        }
        clear_deadline();  // as write_all() ends
        return true;
    }
}

template <class Stream>
std::span<const asio::const_buffer> Connection<Stream>::piece(std::string_view bytes, bool last)
{
    static constexpr std::string_view k_crlf = "\r\n";
    static constexpr std::string_view k_last_chunk = "0\r\n\r\n";
    std::size_t n = 0;
    if (m_streaming && !m_watch_waits && Clock::now() - m_exchange_t0 >= k_long_stream) {
        let_go_of_read_buffer();
    }
    if (m_head_pending) {
        m_head_pending = false;
        m_parts[n++] = asio::buffer(m_head);
    }
    if (!bytes.empty() && !m_is_head) {
        if (m_chunked) {
            auto [end, ec] =
                std::to_chars(m_chunk_line.data(), m_chunk_line.data() + m_chunk_line.size() - 2, bytes.size(), 16);
            *end++ = '\r';
            *end++ = '\n';
            m_parts[n++] = asio::buffer(m_chunk_line.data(), static_cast<std::size_t>(end - m_chunk_line.data()));
            m_parts[n++] = asio::buffer(bytes.data(), bytes.size());
            m_parts[n++] = asio::buffer(k_crlf);
        } else {
            m_parts[n++] = asio::buffer(bytes.data(), bytes.size());
        }
    }
    if (last && m_chunked && !m_is_head) {
        m_parts[n++] = asio::buffer(k_last_chunk);
    }
    return {m_parts.data(), n};
}

template <class Stream>
asio::awaitable<bool> Connection<Stream>::write_rest(std::span<const asio::const_buffer> parts, std::size_t written)
{
    beast::buffers_suffix<std::span<const asio::const_buffer>> rest(parts);
    rest.consume(written);
    co_return co_await write_all(rest, false, false);
}

// A relayed stream writes once an event. The usual write is done at once, by write_now()
// without a coroutine or in write() itself; only a full socket (or TLS) goes through the
// coroutines of write_rest() and write_all().

template <class Stream>
bool Connection<Stream>::write_now(std::string_view bytes)
{
    if (!m_streaming || m_stream_ended || m_client_gone) {
        return false;  // write() says so
    }
    const auto parts = piece(bytes, false);
    std::size_t written = 0;
    if (parts.empty() || write_at_once(parts, written)) {
        return true;
    }
    m_pending_parts = parts;
    m_pending_written = written;
    m_write_pending = true;
    return false;
}

template <class Stream>
asio::awaitable<bool> Connection<Stream>::write(std::string_view bytes)
{
    const bool pending = std::exchange(m_write_pending, false);  // write_now() began these bytes
    if (!m_streaming || m_stream_ended || m_client_gone) {
        co_return false;
    }
    if (pending) {
        co_return co_await write_rest(m_pending_parts, m_pending_written);
    }
    const auto parts = piece(bytes, false);
    std::size_t written = 0;
    if (parts.empty() || write_at_once(parts, written)) {
        co_return true;
    }
    co_return co_await write_rest(parts, written);
}

template <class Stream>
asio::awaitable<bool> Connection<Stream>::end_stream(std::string_view last_bytes)
{
    if (!m_streaming || m_stream_ended) {
        co_return !m_client_gone;
    }
    m_stream_ended = true;
    if (m_client_gone) {
        co_return false;
    }
    const auto parts = piece(last_bytes, true);
    std::size_t written = 0;
    if (parts.empty() || write_at_once(parts, written)) {
        co_return true;
    }
    co_return co_await write_rest(parts, written);
}

}  // namespace

// --- the server --------------------------------------------------------------------------

asio::awaitable<void> Core::accept_loop()
{
    asio::steady_timer retry(loops.front()->ctx);
    for (;;) {
        Loop& target = *loops[next_loop++ % loops.size()];
        tcp::socket socket(target.ctx);
        auto [ec] = co_await acceptor->async_accept(socket, k_use);
        if (stop_requested.load() || !acceptor->is_open()) {
            co_return;
        }
        if (ec) {
            if (ec == asio::error::no_descriptors || ec == asio::error::no_buffer_space ||
                ec == asio::error::no_memory || ec.value() == ENFILE) {
                std::cerr << "aigwd: cannot accept a connection: " << ec.message()
                          << " (raise the open-files limit or lower max_connections)\n";
                retry.expires_after(k_accept_retry_delay);
                co_await retry.async_wait(k_use);
            }
            continue;
        }
        error_code ignored;
        socket.set_option(tcp::no_delay(true), ignored);
        const bool refusing = open.load() >= opts.max_connections;
        if (refusing) {
            ++refused;
        } else {
            ++open;
        }
        if (const auto ctx = current_tls()) {
            spawn_connection(
                std::make_shared<Connection<TlsStream>>(*this, target, TlsStream(std::move(socket), *ctx), refusing));
        } else {
            spawn_connection(std::make_shared<Connection<tcp::socket>>(*this, target, std::move(socket), refusing));
        }
    }
}

template <class C>
void Core::spawn_connection(std::shared_ptr<C> conn)
{
    auto slot = conn->cancel_slot();
    auto& ctx = conn->loop_context();
    // The completion handler keeps the connection (and so its cancellation signal, which
    // the slot points into) alive until co_spawn is done with the slot.
    asio::co_spawn(ctx, C::serve(conn),
                   asio::bind_cancellation_slot(slot, [keep = conn](const std::exception_ptr&) {}));
}

Server::Server(ServerOptions opts, Routes routes, Handler fallback, ErrorResponder errors)
    : m_impl(std::make_unique<Impl>(std::move(opts), std::move(routes), std::move(fallback), std::move(errors)))
{
    int threads = m_impl->opts.threads;
    if (threads <= 0) {
        threads = std::max(2, static_cast<int>(std::thread::hardware_concurrency()));
    }
    for (int i = 0; i < threads; ++i) {
        m_impl->loops.push_back(std::make_unique<Loop>());
    }
}

Server::~Server()
{
    // The acceptor and the connections' I/O objects go before their io_contexts.
    m_impl->acceptor.reset();
}

std::expected<int, std::string> Server::bind()
{
    auto& s = *m_impl;
    rlimit limit{};
    if (getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur < limit.rlim_max) {
        limit.rlim_cur = limit.rlim_max;
        setrlimit(RLIMIT_NOFILE, &limit);  // a failure leaves the soft limit: not fatal
    }
    const bool v6_text = s.opts.host.find(':') != std::string::npos;
    const std::string where = (v6_text ? "[" + s.opts.host + "]" : s.opts.host) + ":" + std::to_string(s.opts.port);
    const auto fail = [&](std::string why) {
        return std::unexpected("cannot listen on " + where + ": " + std::move(why));
    };
    if (s.acceptor) {
        return fail("already listening");
    }
    if (s.opts.port < 0 || s.opts.port > 65535) {
        return fail("the port must be between 0 and 65535 (pick another with --port)");
    }
    if (!s.opts.tls_cert.empty() || !s.opts.tls_key.empty()) {
        auto ctx = make_tls_context(s.opts.tls_cert, s.opts.tls_key);
        if (!ctx) {
            return fail(ctx.error());
        }
        s.tls = std::make_shared<asio::ssl::context>(std::move(*ctx));
    }
    error_code ec;
    auto address = asio::ip::make_address(s.opts.host, ec);
    if (ec) {
        asio::io_context resolve_ctx;
        tcp::resolver resolver(resolve_ctx);
        const auto results = resolver.resolve(s.opts.host, std::to_string(s.opts.port), ec);
        if (ec || results.empty()) {
            return fail("cannot resolve '" + s.opts.host + "' (set [server] host to an address such as 127.0.0.1)");
        }
        address = results.begin()->endpoint().address();
        for (const auto& r : results) {
            if (r.endpoint().address().is_v4()) {
                address = r.endpoint().address();  // "localhost" means 127.0.0.1 to most clients
                break;
            }
        }
    }
    const tcp::endpoint endpoint(address, static_cast<unsigned short>(s.opts.port));
    tcp::acceptor acceptor(s.loops.front()->ctx);
    if (acceptor.open(endpoint.protocol(), ec); ec) {
        return fail(ec.message());
    }
    acceptor.set_option(asio::socket_base::reuse_address(true), ec);
    if (acceptor.bind(endpoint, ec); ec) {
        if (ec == asio::error::address_in_use) {
            return fail("address in use (another aigwd? pick another with --port)");
        }
        if (ec == asio::error::access_denied) {
            return fail("permission denied (ports below 1024 need privileges; pick another with --port)");
        }
        if (ec == boost::system::errc::address_not_available) {
            return fail("no such address on this machine (check [server] host)");
        }
        return fail(ec.message());
    }
    if (acceptor.listen(asio::socket_base::max_listen_connections, ec); ec) {
        return fail(ec.message());
    }
    const int port = acceptor.local_endpoint(ec).port();
    if (ec) {
        return fail(ec.message());
    }
    s.acceptor.emplace(std::move(acceptor));
    return port;
}

void Server::run()
{
    auto& s = *m_impl;
    if (s.acceptor) {
        asio::co_spawn(s.loops.front()->ctx, s.accept_loop(), asio::detached);
    }
    const auto run_loop = [](Loop& loop) {
        for (;;) {
            try {
                loop.ctx.run();
                return;
            } catch (const std::exception& e) {
                std::cerr << "aigwd: event loop: " << e.what() << "\n";
            }
        }
    };
    std::vector<std::thread> threads;
    threads.reserve(s.loops.size() - 1);
    for (std::size_t i = 1; i < s.loops.size(); ++i) {
        threads.emplace_back(run_loop, std::ref(*s.loops[i]));
    }
    run_loop(*s.loops.front());
    for (auto& t : threads) {
        t.join();
    }
}

void Server::stop()
{
    auto& s = *m_impl;
    if (s.stop_requested.exchange(true)) {
        return;
    }
    asio::post(s.loops.front()->ctx, [&s] {
        if (s.acceptor) {
            error_code ec;
            s.acceptor->close(ec);
        }
    });
    for (auto& loop : s.loops) {
        asio::post(loop->ctx, [l = loop.get(), grace = s.opts.shutdown_grace] { l->begin_stop(grace); });
    }
}

std::expected<bool, std::string> Server::reload_tls()
{
    Impl& s = *m_impl;
    if (!s.current_tls()) {
        return false;
    }
    auto ctx = make_tls_context(s.opts.tls_cert, s.opts.tls_key);
    if (!ctx) {
        return std::unexpected(ctx.error());
    }
    auto next = std::make_shared<asio::ssl::context>(std::move(*ctx));
    std::lock_guard lock(s.tls_mu);
    s.tls = std::move(next);
    return true;
}

ServerStats Server::stats() const
{
    return ServerStats{.open_connections = m_impl->open.load(),
                       .active_requests = m_impl->active.load(),
                       .refused_connections = m_impl->refused.load(),
                       .tls_handshake_failures = m_impl->tls_failures.load()};
}

namespace {

/// OpenSSL's most recent error as text ("" when none), and the queue cleared.
std::string openssl_error()
{
    std::string out;
    while (const unsigned long e = ERR_get_error()) {
        std::array<char, 256> text{};
        ERR_error_string_n(e, text.data(), text.size());
        out = text.data();  // the last is the most specific
    }
    return out;
}

}  // namespace

std::expected<asio::ssl::context, std::string> make_tls_context(const std::filesystem::path& cert,
                                                                const std::filesystem::path& key)
{
    if (cert.empty() || key.empty()) {
        return std::unexpected(std::string("TLS needs both [server] tls_cert and tls_key"));
    }
    struct stat st {};
    if (::stat(key.c_str(), &st) != 0) {
        return std::unexpected("cannot read the TLS key " + key.string() + ": " + std::strerror(errno) +
                               " (check [server] tls_key)");
    }
    if ((st.st_mode & (S_IROTH | S_IWOTH)) != 0) {
        // Refused, not warned about: anyone on the machine could impersonate the gateway.
        return std::unexpected("the TLS key " + key.string() +
                               " can be read by every user on this machine; run 'chmod 600 " + key.string() +
                               "' (or 640 with a group aigwd's user is in)");
    }
    asio::ssl::context ctx(asio::ssl::context::tls_server);
    ctx.set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_sslv2 |
                    asio::ssl::context::no_sslv3 | asio::ssl::context::no_tlsv1 | asio::ssl::context::no_tlsv1_1 |
                    asio::ssl::context::single_dh_use);
    SSL_CTX_set_min_proto_version(ctx.native_handle(), TLS1_2_VERSION);
    // Idle keep-alive connections give their read/write buffers back (~34 KiB each).
    SSL_CTX_set_mode(ctx.native_handle(), SSL_MODE_RELEASE_BUFFERS);
    error_code ec;
    ERR_clear_error();
    if (ctx.use_certificate_chain_file(cert.string(), ec); ec) {
        const std::string why = openssl_error();
        return std::unexpected("cannot load the TLS certificate " + cert.string() + ": " +
                               (why.empty() ? ec.message() : why) +
                               " (tls_cert must be a PEM file: the certificate, then its chain)");
    }
    if (ctx.use_private_key_file(key.string(), asio::ssl::context::pem, ec); ec) {
        std::string why = openssl_error();  // asio usually took it already: then ec says it
        if (why.empty()) {
            why = ec.message();
        }
        if (why.find("key values mismatch") != std::string::npos) {
            return std::unexpected("the TLS key " + key.string() + " does not belong to the certificate " +
                                   cert.string());
        }
        return std::unexpected("cannot load the TLS key " + key.string() + ": " + why +
                               " (tls_key must be an unencrypted PEM private key)");
    }
    if (SSL_CTX_check_private_key(ctx.native_handle()) != 1) {
        openssl_error();
        return std::unexpected("the TLS key " + key.string() + " does not belong to the certificate " + cert.string());
    }
    return ctx;
}

}  // namespace aigw::daemon::http

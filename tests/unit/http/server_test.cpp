// The server over real loopback sockets: a Server on 127.0.0.1 port 0 in a background
// thread, raw POSIX clients (or Asio async clients for many connections). Waits are
// bounded by socket timeouts; nothing asserts how long something took except stop().

#include "daemon/http/server.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <future>
#include <optional>
#include <stdexcept>
#include <thread>

using namespace aigw::daemon::http;
using namespace std::chrono_literals;
namespace asio = boost::asio;

namespace {

constexpr auto k_use = asio::as_tuple(asio::use_awaitable);

Response text(int status, std::string body)
{
    Response r;
    r.status = status;
    r.set_content(std::move(body), "text/plain");
    return r;
}

/// Marks its answers so tests can tell them from a handler's.
Response error_answer(const Request& req, const aigw::wire::Failure& f)
{
    Response r;
    r.status = f.status;
    r.set_header("x-from", "error-responder");
    r.set_content(
        nlohmann::json{{"error", {{"message", f.message}, {"method", req.method}, {"path", req.path}}}}.dump());
    return r;
}

asio::awaitable<void> sleep_for(std::chrono::milliseconds d)
{
    asio::steady_timer t(co_await asio::this_coro::executor);
    t.expires_after(d);
    co_await t.async_wait(k_use);
}

Handler reply(std::string body)
{
    return [body](Request&, Responder& res) -> asio::awaitable<void> { co_await res.send(text(200, body)); };
}

ServerOptions quick_options()
{
    ServerOptions o;
    o.threads = 2;
    o.shutdown_grace = 1s;
    return o;
}

Routes common_routes()
{
    Routes r;
    r.add("GET", "/exact", reply("exact"));
    r.add("GET", "/pre/*", [](Request& req, Responder& res) -> asio::awaitable<void> {
        co_await res.send(text(200, "prefix:" + req.path));
    });
    r.add("GET", "/pre/special", reply("special"));
    r.add("POST", "/echo",
          [](Request& req, Responder& res) -> asio::awaitable<void> { co_await res.send(text(200, req.body)); });
    r.add("GET", "/info", [](Request& req, Responder& res) -> asio::awaitable<void> {
        co_await res.send(text(200, "q=" + req.query_param("q").value_or("-") + " peer=" + req.peer));
    });
    r.add("GET", "/slow/*", [](Request& req, Responder& res) -> asio::awaitable<void> {
        co_await sleep_for(150ms);
        co_await res.send(text(200, "slow:" + req.path));
    });
    r.add("GET", "/stream", [](Request&, Responder& res) -> asio::awaitable<void> {
        if (!co_await res.begin_stream(text(200, ""))) {
            co_return;
        }
        for (int i = 0; i < 3; ++i) {
            co_await res.write("part" + std::to_string(i) + ";");
        }
        co_await res.end_stream({});
    });
    r.add("GET", "/headers", [](Request&, Responder& res) -> asio::awaitable<void> {
        Response out = text(200, "h");
        out.headers.add("X-Evil", "a\r\nInjected: 1");
        // Names that are not RFC 9110 tokens are left out, whichever byte spoils them.
        out.headers.add("X-Bad:Name", "1");
        out.headers.add("X-Bad Name", "2");
        out.headers.add("X-Bad\x7fName", "3");
        out.headers.add("X-Bad\xc3\xa9", "4");
        out.headers.add("X-Bad{", "5");
        out.headers.add("X-Good!#$%&'*+-.^_`|~09azAZ", "6");
        co_await res.send(std::move(out));
    });
    return r;
}

struct TestServer {
    Server server;
    int port = 0;
    std::thread thread;

    explicit TestServer(Routes routes, ServerOptions opts = quick_options())
        : server(
              std::move(opts), std::move(routes),
              [](Request& req, Responder& res) -> asio::awaitable<void> {
                  co_await res.send(text(404, "no route for " + req.path));
              },
              error_answer)
    {
        auto bound = server.bind();
        const std::string why = bound ? std::string() : bound.error();
        REQUIRE_MESSAGE(bound.has_value(), why);
        port = *bound;
        thread = std::thread([this] { server.run(); });
    }
    ~TestServer()
    {
        server.stop();
        if (thread.joinable()) {
            thread.join();
        }
    }
};

struct RawResponse {
    std::string version;
    int status = 0;
    std::vector<std::pair<std::string, std::string>> headers;
    std::string body;

    std::string header(std::string_view name) const
    {
        for (const auto& [n, v] : headers) {
            if (n.size() == name.size() && std::equal(n.begin(), n.end(), name.begin(), [](char a, char b) {
                    return std::tolower(static_cast<unsigned char>(a)) == std::tolower(static_cast<unsigned char>(b));
                })) {
                return v;
            }
        }
        return {};
    }
    bool has(std::string_view name) const
    {
        return std::any_of(headers.begin(), headers.end(), [&](const auto& h) {
            return h.first.size() == name.size() &&
                   std::equal(h.first.begin(), h.first.end(), name.begin(), [](char a, char b) {
                       return std::tolower(static_cast<unsigned char>(a)) ==
                              std::tolower(static_cast<unsigned char>(b));
                   });
        });
    }
};

/// A blocking loopback client; every receive gives up after 10 s.
class Client {
public:
    explicit Client(int port, int rcvbuf = 0)
    {
        m_fd = ::socket(AF_INET, SOCK_STREAM, 0);
        REQUIRE(m_fd >= 0);
        if (rcvbuf > 0) {
            ::setsockopt(m_fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
        }
        timeval tv{.tv_sec = 10, .tv_usec = 0};
        ::setsockopt(m_fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        ::setsockopt(m_fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
        sockaddr_in addr{};
        addr.sin_family = AF_INET;
        addr.sin_port = htons(static_cast<std::uint16_t>(port));
        addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        REQUIRE(::connect(m_fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
    }
    ~Client() { close(); }
    Client(const Client&) = delete;
    Client& operator=(const Client&) = delete;

    int fd() const { return m_fd; }
    /// Everything received and not yet taken by response().
    const std::string& received() const { return m_in; }
    void close()
    {
        if (m_fd >= 0) {
            ::close(m_fd);
            m_fd = -1;
        }
    }

    bool send(std::string_view s)
    {
        while (!s.empty()) {
            const auto n = ::send(m_fd, s.data(), s.size(), MSG_NOSIGNAL);
            if (n <= 0) {
                return false;
            }
            s.remove_prefix(static_cast<std::size_t>(n));
        }
        return true;
    }

    /// Reads more bytes; false on EOF, error or timeout.
    bool fill()
    {
        char buf[65536];
        const auto n = ::recv(m_fd, buf, sizeof buf, 0);
        if (n <= 0) {
            return false;
        }
        m_in.append(buf, static_cast<std::size_t>(n));
        return true;
    }

    /// True when the server closed the connection (EOF or reset) after whatever it sent.
    bool wait_closed()
    {
        for (;;) {
            char buf[4096];
            const auto n = ::recv(m_fd, buf, sizeof buf, 0);
            if (n == 0) {
                return true;
            }
            if (n < 0) {
                return errno == ECONNRESET;
            }
            m_in.append(buf, static_cast<std::size_t>(n));
        }
    }

    /// One response; nullopt when it did not arrive whole.
    std::optional<RawResponse> response(bool head = false)
    {
        std::size_t end;
        while ((end = m_in.find("\r\n\r\n")) == std::string::npos) {
            if (!fill()) {
                return std::nullopt;
            }
        }
        RawResponse r;
        std::string_view head_text(m_in.data(), end);
        auto line_end = head_text.find("\r\n");
        std::string_view status_line = head_text.substr(0, line_end);
        r.version = std::string(status_line.substr(0, 8));
        r.status = std::stoi(std::string(status_line.substr(9, 3)));
        while (line_end != std::string_view::npos) {
            head_text.remove_prefix(line_end + 2);
            line_end = head_text.find("\r\n");
            const auto field = head_text.substr(0, line_end);
            const auto colon = field.find(':');
            if (colon != std::string_view::npos) {
                auto value = field.substr(colon + 1);
                while (!value.empty() && value.front() == ' ') {
                    value.remove_prefix(1);
                }
                r.headers.emplace_back(std::string(field.substr(0, colon)), std::string(value));
            }
        }
        m_in.erase(0, end + 4);
        if (head || r.status < 200 || r.status == 204 || r.status == 304) {
            return r;
        }
        if (r.header("Transfer-Encoding") == "chunked") {
            for (;;) {
                std::size_t eol;
                while ((eol = m_in.find("\r\n")) == std::string::npos) {
                    if (!fill()) {
                        return std::nullopt;
                    }
                }
                const std::size_t size = std::stoul(m_in.substr(0, eol), nullptr, 16);
                while (m_in.size() < eol + 2 + size + 2) {
                    if (!fill()) {
                        return std::nullopt;
                    }
                }
                r.body += m_in.substr(eol + 2, size);
                m_in.erase(0, eol + 2 + size + 2);
                if (size == 0) {
                    return r;
                }
            }
        }
        if (r.has("Content-Length")) {
            const std::size_t length = std::stoul(r.header("Content-Length"));
            while (m_in.size() < length) {
                if (!fill()) {
                    return std::nullopt;
                }
            }
            r.body = m_in.substr(0, length);
            m_in.erase(0, length);
            return r;
        }
        while (fill()) {
        }
        r.body = std::move(m_in);
        m_in.clear();
        return r;
    }

private:
    int m_fd = -1;
    std::string m_in;
};

std::string get(std::string_view target, std::string_view extra = {})
{
    return "GET " + std::string(target) + " HTTP/1.1\r\nHost: localhost\r\n" + std::string(extra) + "\r\n";
}

/// Polls `pred` for up to 10 s.
template <class Pred>
bool eventually(Pred pred)
{
    const auto until = std::chrono::steady_clock::now() + 10s;
    while (std::chrono::steady_clock::now() < until) {
        if (pred()) {
            return true;
        }
        std::this_thread::sleep_for(10ms);
    }
    return pred();
}

}  // namespace

TEST_CASE("requests are routed to exact and prefix handlers, the rest to the fallback, on one keep-alive connection")
{
    TestServer s(common_routes());
    Client c(s.port);
    const auto ask = [&](std::string_view target) {
        REQUIRE(c.send(get(target)));
        auto r = c.response();
        REQUIRE(r);
        return *r;
    };
    auto r = ask("/exact");
    CHECK(r.status == 200);
    CHECK(r.body == "exact");
    CHECK(r.header("Content-Length") == "5");
    CHECK(ask("/pre/abc").body == "prefix:/pre/abc");
    CHECK(ask("/pre/special").body == "special");
    r = ask("/nowhere");
    CHECK(r.status == 404);
    CHECK(r.body == "no route for /nowhere");
    CHECK(ask("/pre/a%20b%FF?x=1").body == "prefix:/pre/a b\xFF");
    r = ask("/info?q=a+b%21");
    CHECK(r.body.starts_with("q=a b! peer=127.0.0.1:"));
}

TEST_CASE("adding a route again replaces it, prefix routes too, so one surface can wrap another's")
{
    Routes routes = common_routes();
    const Handler* before = routes.find("GET", "/pre/abc");
    REQUIRE(before != nullptr);
    Handler inner = *before;
    routes.add("GET", "/pre/*", [inner](Request& req, Responder& res) -> asio::awaitable<void> {
        if (req.path == "/pre/wrapped") {
            co_await res.send(text(200, "wrapper"));
            co_return;
        }
        co_await inner(req, res);
    });
    TestServer s(std::move(routes));
    Client c(s.port);
    REQUIRE(c.send(get("/pre/wrapped")));
    auto r = c.response();
    REQUIRE(r);
    CHECK(r->body == "wrapper");
    REQUIRE(c.send(get("/pre/abc")));
    r = c.response();
    REQUIRE(r);
    CHECK(r->body == "prefix:/pre/abc");
}

TEST_CASE("HEAD gets the GET handler's headers and no body")
{
    TestServer s(common_routes());
    Client c(s.port);
    REQUIRE(c.send("HEAD /exact HTTP/1.1\r\nHost: localhost\r\n\r\n"));
    auto r = c.response(true);
    REQUIRE(r);
    CHECK(r->status == 200);
    CHECK(r->header("Content-Length") == "5");
    REQUIRE(c.send(get("/pre/x")));  // no stray body bytes precede the next answer
    r = c.response();
    REQUIRE(r);
    CHECK(r->body == "prefix:/pre/x");
}

TEST_CASE("response header values cannot inject fields")
{
    TestServer s(common_routes());
    Client c(s.port);
    REQUIRE(c.send(get("/headers")));
    auto r = c.response();
    REQUIRE(r);
    CHECK(r->header("X-Evil") == "a  Injected: 1");
    CHECK_FALSE(r->has("Injected"));
    CHECK(r->header("X-Good!#$%&'*+-.^_`|~09azAZ") == "6");
    for (const auto& field : r->headers) {
        CAPTURE(field.first);
        CHECK_FALSE(field.first.starts_with("X-Bad"));
    }
}

TEST_CASE("a declared 100 MiB body is refused with 413 before any of it is read")
{
    std::atomic<int> calls{0};
    Routes routes;
    routes.add("POST", "/upload", [&calls](Request&, Responder& res) -> asio::awaitable<void> {
        ++calls;
        co_await res.send(text(200, "took it"));
    });
    auto opts = quick_options();
    opts.max_body_bytes = 1 << 20;
    TestServer s(std::move(routes), opts);
    Client c(s.port);
    REQUIRE(c.send("POST /upload HTTP/1.1\r\nHost: localhost\r\nContent-Length: 104857600\r\n\r\n"));
    auto r = c.response();
    REQUIRE(r);
    CHECK(r->status == 413);
    CHECK(r->header("x-from") == "error-responder");
    CHECK(r->header("Connection") == "close");
    CHECK(r->body.find("\"path\":\"/upload\"") != std::string::npos);
    CHECK(c.wait_closed());
    CHECK(calls == 0);
}

TEST_CASE("an endless chunked body is refused with 413 once it passes max_body_bytes")
{
    std::atomic<int> calls{0};
    Routes routes;
    routes.add("POST", "/upload", [&calls](Request&, Responder& res) -> asio::awaitable<void> {
        ++calls;
        co_await res.send(text(200, "took it"));
    });
    auto opts = quick_options();
    opts.max_body_bytes = 64 << 10;
    TestServer s(std::move(routes), opts);
    Client c(s.port);
    REQUIRE(c.send("POST /upload HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n"));
    constexpr std::size_t k_cap = 512u << 20;
    std::atomic<std::size_t> sent{0};
    std::thread writer([&] {
        const std::string chunk = "1000\r\n" + std::string(4096, 'x') + "\r\n";
        while (sent < k_cap) {
            const auto n = ::send(c.fd(), chunk.data(), chunk.size(), MSG_NOSIGNAL);
            if (n <= 0) {
                return;  // the server closed: it never read the whole body
            }
            sent += static_cast<std::size_t>(n);
        }
    });
    auto r = c.response();
    writer.join();
    REQUIRE(r);
    CHECK(r->status == 413);
    CHECK(r->header("x-from") == "error-responder");
    CHECK(sent < k_cap);
    CHECK(calls == 0);
}

TEST_CASE("a header over max_header_bytes gets 431 naming the request's path")
{
    auto opts = quick_options();
    opts.max_header_bytes = 8 << 10;
    TestServer s(common_routes(), opts);
    Client c(s.port);
    REQUIRE(c.send(get("/exact", "X-Big: " + std::string(100 << 10, 'a') + "\r\n")));
    auto r = c.response();
    REQUIRE(r);
    CHECK(r->status == 431);
    CHECK(r->header("x-from") == "error-responder");
    CHECK(r->body.find("\"path\":\"/exact\"") != std::string::npos);
}

TEST_CASE("bad framing gets 400 and the connection closes")
{
    TestServer s(common_routes());
    SUBCASE("a Content-Length that is not a number")
    {
        Client c(s.port);
        REQUIRE(c.send("POST /echo HTTP/1.1\r\nHost: localhost\r\nContent-Length: abc\r\n\r\n"));
        auto r = c.response();
        REQUIRE(r);
        CHECK(r->status == 400);
        CHECK(r->header("x-from") == "error-responder");
        CHECK(c.wait_closed());
    }
    SUBCASE("a chunk size that is not hex")
    {
        Client c(s.port);
        REQUIRE(c.send("POST /echo HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"));
        auto r = c.response();
        REQUIRE(r);
        CHECK(r->status == 400);
        CHECK(c.wait_closed());
    }
}

TEST_CASE("a client that dribbles its request is cut off while another client is served")
{
    auto opts = quick_options();
    opts.header_timeout = 300ms;
    opts.body_timeout = 300ms;
    TestServer s(common_routes(), opts);
    const auto dribble = [&](std::string_view start, std::string_view rest) {
        Client slow(s.port);
        REQUIRE(slow.send(start));
        std::size_t i = 0;
        for (; i < rest.size(); ++i) {
            if (!slow.send(rest.substr(i, 1))) {
                break;
            }
            if (i == 1) {
                Client other(s.port);
                REQUIRE(other.send(get("/exact")));
                auto r = other.response();
                REQUIRE(r);
                CHECK(r->body == "exact");
            }
            pollfd p{.fd = slow.fd(), .events = POLLIN, .revents = 0};
            if (::poll(&p, 1, 100) > 0) {
                break;  // the server answered or closed
            }
        }
        CHECK(i < rest.size());
        auto r = slow.response();
        if (r) {
            CHECK(r->status == 408);
            CHECK(r->header("x-from") == "error-responder");
        }
        CHECK(slow.wait_closed());
    };
    SUBCASE("in the header")
    {
        dribble("GET /exact HTTP/1.1\r\n", "Host: localhost\r\nX-Padding: " + std::string(200, 'p') + "\r\n\r\n");
    }
    SUBCASE("in the body")
    {
        dribble("POST /echo HTTP/1.1\r\nHost: localhost\r\nContent-Length: 200\r\n\r\n", std::string(200, 'b'));
    }
}

TEST_CASE("an idle keep-alive connection is closed after keep_alive_timeout")
{
    auto opts = quick_options();
    opts.keep_alive_timeout = 200ms;
    TestServer s(common_routes(), opts);
    Client c(s.port);
    REQUIRE(c.send(get("/exact")));
    REQUIRE(c.response());
    CHECK(c.wait_closed());
}

TEST_CASE("three pipelined requests in one write get three answers in order")
{
    TestServer s(common_routes());
    Client c(s.port);
    REQUIRE(c.send(get("/slow/1") + get("/exact") + get("/pre/3")));
    auto a = c.response();
    auto b = c.response();
    auto d = c.response();
    REQUIRE(a);
    REQUIRE(b);
    REQUIRE(d);
    CHECK(a->body == "slow:/slow/1");
    CHECK(b->body == "exact");
    CHECK(d->body == "prefix:/pre/3");
}

namespace {

/// Pipelines GET /exact and a POST /echo behind the request in flight on `c`, then checks the
/// three answers arrive in order, the first with `first_body`.
void pipeline_two_and_check(Client& c, const std::string& first_body)
{
    REQUIRE(c.send(get("/exact") + "POST /echo HTTP/1.1\r\nHost: localhost\r\nContent-Length: 4\r\n\r\nbody"));
    auto a = c.response();
    auto b = c.response();
    auto d = c.response();
    REQUIRE(a);
    REQUIRE(b);
    REQUIRE(d);
    CHECK(a->body == first_body);
    CHECK(b->body == "exact");
    CHECK(d->body == "body");
}

}  // namespace

TEST_CASE("a request pipelined while a handler runs is kept and answered next")
{
    TestServer s(common_routes());
    Client c(s.port);
    REQUIRE(c.send(get("/slow/1")));
    std::this_thread::sleep_for(50ms);  // the handler is waiting; the server's watcher reads this
    pipeline_two_and_check(c, "slow:/slow/1");
}

TEST_CASE("requests pipelined while a stream runs, early or once it let go of its read buffer, are answered after it")
{
    Routes routes = common_routes();
    routes.add("GET", "/slow-stream", [](Request&, Responder& res) -> asio::awaitable<void> {
        if (!co_await res.begin_stream(text(200, ""))) {
            co_return;
        }
        for (int i = 0; i < 4; ++i) {
            co_await sleep_for(400ms);  // the client pipelines meanwhile
            co_await res.write("part" + std::to_string(i) + ";");
        }
        co_await res.end_stream({});
    });
    TestServer s(std::move(routes));
    // 1,400 ms: a write past 250 ms into the stream has made the watcher wait without a buffer.
    for (const auto delay : {0ms, 200ms, 1400ms}) {
        CAPTURE(delay.count());
        Client c(s.port);
        REQUIRE(c.send(get("/slow-stream")));
        std::this_thread::sleep_for(delay);
        pipeline_two_and_check(c, "part0;part1;part2;part3;");
    }
}

TEST_CASE("HTTP/1.0: Content-Length answers, close-delimited streams, and keep-alive only when asked")
{
    TestServer s(common_routes());
    SUBCASE("a whole answer has Content-Length and the connection closes")
    {
        Client c(s.port);
        REQUIRE(c.send("GET /exact HTTP/1.0\r\n\r\n"));
        auto r = c.response();
        REQUIRE(r);
        CHECK(r->version == "HTTP/1.0");
        CHECK(r->header("Content-Length") == "5");
        CHECK(r->body == "exact");
        CHECK(c.wait_closed());
    }
    SUBCASE("a stream is not chunked and ends with the close")
    {
        Client c(s.port);
        REQUIRE(c.send("GET /stream HTTP/1.0\r\n\r\n"));
        auto r = c.response();
        REQUIRE(r);
        CHECK_FALSE(r->has("Transfer-Encoding"));
        CHECK_FALSE(r->has("Content-Length"));
        CHECK(r->body == "part0;part1;part2;");
    }
    SUBCASE("Connection: keep-alive keeps it open")
    {
        Client c(s.port);
        REQUIRE(c.send("GET /exact HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"));
        auto r = c.response();
        REQUIRE(r);
        CHECK(r->header("Connection") == "keep-alive");
        REQUIRE(c.send("GET /pre/2 HTTP/1.0\r\n\r\n"));
        r = c.response();
        REQUIRE(r);
        CHECK(r->body == "prefix:/pre/2");
    }
    SUBCASE("HTTP/1.1 streams are chunked")
    {
        Client c(s.port);
        REQUIRE(c.send(get("/stream")));
        auto r = c.response();
        REQUIRE(r);
        CHECK(r->header("Transfer-Encoding") == "chunked");
        CHECK(r->body == "part0;part1;part2;");
    }
}

TEST_CASE("Expect: 100-continue gets 100 Continue before the body is sent")
{
    TestServer s(common_routes());
    Client c(s.port);
    REQUIRE(c.send("POST /echo HTTP/1.1\r\nHost: localhost\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n"));
    auto interim = c.response();
    REQUIRE(interim);
    CHECK(interim->status == 100);
    REQUIRE(c.send("hello"));
    auto r = c.response();
    REQUIRE(r);
    CHECK(r->status == 200);
    CHECK(r->body == "hello");
}

TEST_CASE("the Host header is checked against localhost names (DNS rebinding protection)")
{
    TestServer s(common_routes());
    const auto ask = [&](std::string request) {
        Client c(s.port);
        REQUIRE(c.send(request));
        auto r = c.response();
        REQUIRE(r);
        return *r;
    };
    auto r = ask("GET /exact HTTP/1.1\r\nHost: evil.example\r\n\r\n");
    CHECK(r.status == 403);
    CHECK(r.header("x-from") == "error-responder");
    CHECK(nlohmann::json::parse(r.body)["error"]["message"] ==
          "Host 'evil.example' is not allowed: aigwd answers only to localhost names (DNS rebinding protection). "
          "Add it to [server] allowed_hosts to allow it.");
    CHECK(ask("GET /exact HTTP/1.1\r\nHost: localhost:4141\r\n\r\n").status == 200);
    CHECK(ask("GET /exact HTTP/1.1\r\nHost: [::1]:4141\r\n\r\n").status == 200);
    CHECK(ask("GET /exact HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n").status == 200);
    r = ask("GET /exact HTTP/1.1\r\n\r\n");
    CHECK(r.status == 400);
    CHECK(r.header("x-from") == "error-responder");
    CHECK(ask("GET /exact HTTP/1.0\r\n\r\n").status == 200);

    auto opts = quick_options();
    opts.allowed_hosts = {"*"};
    TestServer open_server(common_routes(), opts);
    Client c(open_server.port);
    REQUIRE(c.send("GET /exact HTTP/1.1\r\nHost: evil.example\r\n\r\n"));
    auto allowed = c.response();
    REQUIRE(allowed);
    CHECK(allowed->status == 200);
}

TEST_CASE("past max_connections a new connection gets 503 from the ErrorResponder")
{
    auto opts = quick_options();
    opts.max_connections = 2;
    TestServer s(common_routes(), opts);
    auto a = std::make_unique<Client>(s.port);
    Client b(s.port);
    for (Client* c : {a.get(), &b}) {
        REQUIRE(c->send(get("/exact")));
        auto r = c->response();
        REQUIRE(r);
        CHECK(r->status == 200);
    }
    CHECK(s.server.stats().open_connections == 2);
    {
        Client third(s.port);
        REQUIRE(third.send(get("/exact")));
        auto r = third.response();
        REQUIRE(r);
        CHECK(r->status == 503);
        CHECK(r->header("x-from") == "error-responder");
        CHECK(r->body.find("\"path\":\"/exact\"") != std::string::npos);
        CHECK(third.wait_closed());
    }
    CHECK(s.server.stats().refused_connections == 1);
    a.reset();
    REQUIRE(eventually([&] { return s.server.stats().open_connections < 2; }));
    Client fourth(s.port);
    REQUIRE(fourth.send(get("/exact")));
    auto r = fourth.response();
    REQUIRE(r);
    CHECK(r->status == 200);
}

TEST_CASE("a handler that throws or answers nothing becomes a 500 and the server keeps serving")
{
    Routes routes = common_routes();
    routes.add("GET", "/throw", [](Request&, Responder&) -> asio::awaitable<void> {
        co_await sleep_for(1ms);
        throw std::runtime_error("boom");
    });
    routes.add("GET", "/throw-int", [](Request&, Responder&) -> asio::awaitable<void> {
        co_await sleep_for(1ms);
        throw 42;
    });
    routes.add("GET", "/silent", [](Request&, Responder&) -> asio::awaitable<void> { co_return; });
    routes.add("GET", "/throw-before-stream-bytes", [](Request&, Responder& res) -> asio::awaitable<void> {
        co_await res.begin_stream(text(200, ""));  // the head waits for the first bytes: none came
        co_await sleep_for(1ms);
        throw std::runtime_error("no first chunk");
    });
    routes.add("GET", "/throw-mid-stream", [](Request&, Responder& res) -> asio::awaitable<void> {
        co_await res.begin_stream(text(200, ""));
        co_await res.write("half");
        throw std::runtime_error("upstream vanished");
    });
    TestServer s(std::move(routes));
    Client c(s.port);
    for (const char* target : {"/throw", "/throw-int", "/silent", "/throw-before-stream-bytes"}) {
        CAPTURE(target);
        REQUIRE(c.send(get(target)));
        auto r = c.response();
        REQUIRE(r);
        CHECK(r->status == 500);
        CHECK(r->header("x-from") == "error-responder");
        CHECK(nlohmann::json::parse(r->body)["error"]["message"].get<std::string>().find(target) != std::string::npos);
        REQUIRE(c.send(get("/exact")));  // the same connection still works
        r = c.response();
        REQUIRE(r);
        CHECK(r->body == "exact");
    }
    {
        Client streamed(s.port);
        REQUIRE(streamed.send(get("/throw-mid-stream")));
        CHECK_FALSE(streamed.response());  // cut: no last chunk
    }
    Client fresh(s.port);
    REQUIRE(fresh.send(get("/exact")));
    auto r = fresh.response();
    REQUIRE(r);
    CHECK(r->body == "exact");
}

TEST_CASE("a stream's head goes out with its first bytes, and its last bytes with its end")
{
    // One write each, so the client is woken once for them: it receives each pair in one read.
    Routes routes;
    routes.add("GET", "/paced", [](Request&, Responder& res) -> asio::awaitable<void> {
        co_await res.begin_stream(text(200, ""));
        co_await sleep_for(100ms);
        co_await res.write("first");
        co_await sleep_for(100ms);
        co_await res.end_stream("last");
    });
    routes.add("GET", "/head-now", [](Request&, Responder& res) -> asio::awaitable<void> {
        co_await res.begin_stream(text(200, ""));
        co_await res.write({});  // the head alone, at once
        co_await sleep_for(100ms);
        co_await res.end_stream({});
    });
    TestServer s(std::move(routes));
    Client c(s.port);
    REQUIRE(c.send(get("/paced")));
    REQUIRE(c.fill());
    CHECK(c.received().starts_with("HTTP/1.1 200 OK\r\n"));
    CHECK(c.received().ends_with("\r\n\r\n5\r\nfirst\r\n"));
    REQUIRE(c.fill());
    CHECK(c.received().ends_with("\r\n5\r\nfirst\r\n4\r\nlast\r\n0\r\n\r\n"));
    auto r = c.response();
    REQUIRE(r);
    CHECK(r->body == "firstlast");

    Client early(s.port);
    REQUIRE(early.send(get("/head-now")));
    REQUIRE(early.fill());
    CHECK(early.received().starts_with("HTTP/1.1 200 OK\r\n"));
    CHECK(early.received().ends_with("\r\n\r\n"));
    r = early.response();
    REQUIRE(r);
    CHECK(r->body.empty());
}

TEST_CASE("a stream to a client that stops reading blocks in write() and then cuts the client off")
{
    struct Outcome {
        int chunks = 0;
        bool last_write = true;
        bool gone = false;
    };
    std::promise<Outcome> done;
    Routes routes;
    routes.add("GET", "/flood", [&done](Request&, Responder& res) -> asio::awaitable<void> {
        Outcome o;
        co_await res.begin_stream(text(200, ""));
        const std::string chunk(64 << 10, 'z');
        while (o.chunks < 4096) {  // 256 MiB if nothing pushed back
            o.last_write = co_await res.write(chunk);
            if (!o.last_write) {
                break;
            }
            ++o.chunks;
        }
        o.gone = res.client_gone();
        done.set_value(o);
    });
    auto opts = quick_options();
    opts.write_timeout = 500ms;
    TestServer s(std::move(routes), opts);
    Client c(s.port, 4096);
    REQUIRE(c.send(get("/flood")));
    auto f = done.get_future();
    REQUIRE(f.wait_for(30s) == std::future_status::ready);
    const auto o = f.get();
    CHECK_FALSE(o.last_write);
    CHECK(o.gone);
    CHECK(o.chunks < 256);  // at most 16 MiB went into socket buffers before write() stalled
}

TEST_CASE("a client closing mid-stream is noticed while the handler waits, and on_client_gone runs")
{
    struct Outcome {
        bool callback_ran = false;
        bool gone = false;
        bool write_after = true;
    };
    std::promise<Outcome> done;
    Routes routes;
    routes.add("GET", "/wait", [&done](Request&, Responder& res) -> asio::awaitable<void> {
        Outcome o;
        co_await res.begin_stream(text(200, ""));
        co_await res.write("first");
        asio::steady_timer upstream(co_await asio::this_coro::executor);
        upstream.expires_after(30s);
        res.on_client_gone([&] {
            o.callback_ran = true;
            upstream.cancel();
        });
        co_await upstream.async_wait(k_use);
        o.gone = res.client_gone();
        o.write_after = co_await res.write("late");
        done.set_value(o);
    });
    TestServer s(std::move(routes));
    {
        Client c(s.port);
        REQUIRE(c.send(get("/wait")));
        REQUIRE(c.fill());  // the head and the first chunk
    }
    auto f = done.get_future();
    REQUIRE(f.wait_for(10s) == std::future_status::ready);
    const auto o = f.get();
    CHECK(o.callback_ran);
    CHECK(o.gone);
    CHECK_FALSE(o.write_after);
}

TEST_CASE("a client closing a long stream is noticed after the stream let go of its read buffer")
{
    std::promise<bool> done;
    Routes routes;
    routes.add("GET", "/long", [&done](Request&, Responder& res) -> asio::awaitable<void> {
        co_await res.begin_stream(text(200, ""));
        co_await res.write("first");
        co_await sleep_for(1100ms);
        co_await res.write("second");  // past 250 ms: the watcher now waits for the client instead of reading
        asio::steady_timer upstream(co_await asio::this_coro::executor);
        upstream.expires_after(30s);
        res.on_client_gone([&] { upstream.cancel(); });
        co_await upstream.async_wait(k_use);
        done.set_value(res.client_gone());
    });
    TestServer s(std::move(routes));
    {
        Client c(s.port);
        REQUIRE(c.send(get("/long")));
        REQUIRE(c.fill());
        std::this_thread::sleep_for(1300ms);
    }
    auto f = done.get_future();
    REQUIRE(f.wait_for(10s) == std::future_status::ready);
    CHECK(f.get());
}

TEST_CASE("stop() closes idle keep-alive connections at once and run() returns")
{
    auto opts = quick_options();
    opts.keep_alive_timeout = 60s;
    opts.shutdown_grace = 10s;
    TestServer s(common_routes(), opts);
    Client c(s.port);
    REQUIRE(c.send(get("/exact")));
    REQUIRE(c.response());
    const auto start = std::chrono::steady_clock::now();
    s.server.stop();
    s.thread.join();
    CHECK(std::chrono::steady_clock::now() - start < 5s);  // not the 60 s keep-alive nor the 10 s grace
    CHECK(c.wait_closed());
}

TEST_CASE("stop() lets an in-flight request finish, then cancels what outlives the grace period")
{
    std::atomic<bool> slow_started{false};
    std::atomic<bool> stuck_started{false};
    Routes routes = common_routes();
    routes.add("GET", "/finishing", [&](Request&, Responder& res) -> asio::awaitable<void> {
        slow_started = true;
        co_await sleep_for(300ms);
        co_await res.send(text(200, "finished"));
    });
    routes.add("GET", "/stuck", [&](Request&, Responder& res) -> asio::awaitable<void> {
        co_await res.begin_stream(text(200, ""));
        stuck_started = true;
        asio::steady_timer t(co_await asio::this_coro::executor);
        t.expires_after(60s);
        co_await t.async_wait(asio::use_awaitable);  // cancelled at the end of the grace period
        co_await res.end_stream({});
    });
    auto opts = quick_options();
    opts.shutdown_grace = 1s;
    TestServer s(std::move(routes), opts);
    Client finishing(s.port);
    Client stuck(s.port);
    REQUIRE(finishing.send(get("/finishing")));
    REQUIRE(stuck.send(get("/stuck")));
    REQUIRE(eventually([&] { return slow_started && stuck_started; }));
    const auto start = std::chrono::steady_clock::now();
    s.server.stop();
    auto r = finishing.response();
    REQUIRE(r);
    CHECK(r->body == "finished");
    CHECK(r->header("Connection") == "close");
    s.thread.join();
    CHECK(std::chrono::steady_clock::now() - start < 10s);
    CHECK(stuck.wait_closed());
}

namespace {

asio::awaitable<void> stream_client(int port, int* completed)
{
    asio::ip::tcp::socket sock(co_await asio::this_coro::executor);
    auto [ec] =
        co_await sock.async_connect({asio::ip::make_address("127.0.0.1"), static_cast<unsigned short>(port)}, k_use);
    if (ec) {
        co_return;
    }
    static const std::string request = "GET /ticks HTTP/1.1\r\nHost: localhost\r\n\r\n";
    auto [write_ec, written] = co_await asio::async_write(sock, asio::buffer(request), k_use);
    if (write_ec) {
        co_return;
    }
    std::string in;
    char buf[4096];
    for (;;) {
        auto [read_ec, n] = co_await sock.async_read_some(asio::buffer(buf), k_use);
        if (read_ec) {
            co_return;
        }
        in.append(buf, n);
        if (in.ends_with("0\r\n\r\n")) {
            if (in.find("tick 4\n") != std::string::npos) {
                ++*completed;
            }
            co_return;
        }
    }
}

}  // namespace

TEST_CASE("2,000 concurrent streams fed by timers all complete")
{
    rlimit limit{};
    REQUIRE(getrlimit(RLIMIT_NOFILE, &limit) == 0);
    if (limit.rlim_cur < limit.rlim_max) {
        limit.rlim_cur = limit.rlim_max;
        setrlimit(RLIMIT_NOFILE, &limit);
    }
    REQUIRE(getrlimit(RLIMIT_NOFILE, &limit) == 0);
    REQUIRE_MESSAGE(limit.rlim_cur >= 4200, "the open-files limit is too low for 2,000 loopback connections");

    Routes routes;
    routes.add("GET", "/ticks", [](Request&, Responder& res) -> asio::awaitable<void> {
        if (!co_await res.begin_stream(text(200, ""))) {
            co_return;
        }
        for (int i = 0; i < 5; ++i) {
            co_await sleep_for(50ms);
            if (!co_await res.write("tick " + std::to_string(i) + "\n")) {
                co_return;
            }
        }
        co_await res.end_stream({});
    });
    TestServer s(std::move(routes));
    constexpr int k_clients = 2000;
    int completed = 0;
    asio::io_context ctx(1);
    for (int i = 0; i < k_clients; ++i) {
        asio::co_spawn(ctx, stream_client(s.port, &completed), asio::detached);
    }
    ctx.run_for(60s);
    CHECK(completed == k_clients);
    CHECK(eventually([&] { return s.server.stats().open_connections == 0; }));
}

TEST_CASE("bind() picks a free port for 0 and says what to do when the port is taken")
{
    TestServer first(common_routes());
    CHECK(first.port > 0);
    auto opts = quick_options();
    opts.port = first.port;
    Server second(opts, Routes{}, nullptr, error_answer);
    const auto bound = second.bind();
    REQUIRE_FALSE(bound.has_value());
    CHECK(bound.error() == "cannot listen on 127.0.0.1:" + std::to_string(first.port) +
                               ": address in use (another aigwd? pick another with --port)");
}

TEST_CASE("a client that half-closes after its request still gets the whole answer")
{
    TestServer s(common_routes());
    Client c(s.port);
    REQUIRE(c.send("GET /slow/x HTTP/1.0\r\n\r\n"));
    ::shutdown(c.fd(), SHUT_WR);
    auto r = c.response();
    REQUIRE(r);
    CHECK(r->body == "slow:/slow/x");
}

#pragma once
// In-process servers on 127.0.0.1 (port 0) for the upstream client's tests, written with
// plain Asio, and a runner that drives one test coroutine on an io_context with a bound.

#include "daemon/upstream/http_client.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <doctest/doctest.h>

#include <atomic>
#include <functional>
#include <optional>
#include <string>

namespace aigw::daemon::upstream::test {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;

inline constexpr auto k_tuple = asio::as_tuple(asio::use_awaitable);

/// Runs `body` on `ctx` until it finishes (at most 20 s, a bound, not a timing assert) and
/// rethrows what it threw. Call it in the same statement that creates the coroutine.
inline void run(asio::io_context& ctx, asio::awaitable<void> body)
{
    bool finished = false;
    std::exception_ptr error;
    asio::co_spawn(ctx, std::move(body), [&](std::exception_ptr e) {
        error = e;
        finished = true;
        ctx.stop();
    });
    ctx.restart();
    ctx.run_for(std::chrono::seconds(20));
    REQUIRE_MESSAGE(finished, "the test coroutine did not finish within 20 s");
    if (error) {
        std::rethrow_exception(error);
    }
}

/// A one-shot signal between the test and a server coroutine on the same io_context.
class Event {
public:
    explicit Event(asio::io_context& ctx) : m_timer(ctx, Clock::time_point::max()) {}
    void notify()
    {
        m_set = true;
        m_timer.cancel();
    }
    asio::awaitable<void> wait()
    {
        while (!m_set) {
            co_await m_timer.async_wait(k_tuple);
        }
    }

private:
    asio::steady_timer m_timer;
    bool m_set = false;
};

/// Accepts on 127.0.0.1:0 and runs `handler` for each connection; counts connections.
class TestServer {
public:
    using Handler = std::function<asio::awaitable<void>(tcp::socket)>;
    TestServer(asio::io_context& ctx, Handler handler)
        : m_acceptor(ctx, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0)), m_handler(std::move(handler))
    {
        asio::co_spawn(ctx, accept_loop(), asio::detached);
    }
    unsigned short port() const { return m_acceptor.local_endpoint().port(); }
    std::string url(const std::string& scheme = "http", const std::string& path = "") const
    {
        return scheme + "://127.0.0.1:" + std::to_string(port()) + path;
    }
    std::atomic<int> accepted{0};

private:
    asio::awaitable<void> accept_loop()
    {
        for (;;) {
            auto [ec, socket] = co_await m_acceptor.async_accept(k_tuple);
            if (ec) {
                co_return;
            }
            ++accepted;
            asio::co_spawn(m_acceptor.get_executor(), m_handler(std::move(socket)), asio::detached);
        }
    }

    tcp::acceptor m_acceptor;
    Handler m_handler;
};

template <class Stream>
asio::awaitable<std::optional<http::request<http::string_body>>> read_request(Stream& s, beast::flat_buffer& buffer)
{
    http::request<http::string_body> req;
    auto [ec, n] = co_await http::async_read(s, buffer, req, k_tuple);
    if (ec) {
        co_return std::nullopt;
    }
    co_return req;
}

template <class Stream>
asio::awaitable<bool> write_raw(Stream& s, std::string text)
{
    auto [ec, n] = co_await asio::async_write(s, asio::buffer(text), k_tuple);
    co_return !ec;
}

inline std::string chunk(const std::string& data)
{
    char size[32];
    std::snprintf(size, sizeof size, "%zx\r\n", data.size());
    return size + data + "\r\n";
}

inline HttpClientOptions direct_options()
{
    HttpClientOptions opts;
    opts.https_proxy = "";
    opts.http_proxy = "";
    opts.no_proxy = "";
    return opts;
}

inline Deadlines within(std::chrono::milliseconds ms)
{
    const auto at = Clock::now() + ms;
    return Deadlines{at, at};
}

inline providers::UpstreamRequest post(std::string path, std::string body = "{}")
{
    providers::UpstreamRequest req;
    req.method = "POST";
    req.path = std::move(path);
    req.headers = {{"Content-Type", "application/json"}};
    req.body = std::move(body);
    return req;
}

inline std::string fixture(const std::string& name)
{
    return std::string(AIGW_FIXTURES_DIR) + "/tls/" + name;
}

}  // namespace aigw::daemon::upstream::test

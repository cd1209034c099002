#include "tests/unit/upstream/test_support.hpp"

#include <sys/resource.h>

#include <thread>

using namespace aigw::daemon::upstream;
using namespace aigw::daemon::upstream::test;
using namespace std::chrono_literals;

namespace {

/// Answers every request on a connection with `response` until the client closes it.
TestServer::Handler answer_each_request(std::string response, std::vector<std::string>* targets = nullptr)
{
    return [response, targets](tcp::socket s) -> asio::awaitable<void> {
        beast::flat_buffer buffer;
        while (auto req = co_await read_request(s, buffer)) {
            if (targets != nullptr) {
                targets->push_back(std::string(req->target()));
            }
            if (!co_await write_raw(s, response)) {
                co_return;
            }
        }
    };
}

/// Opens `n` concurrent streams to `url` and reads each to its end, twice, one burst after
/// the other; every stream must deliver its one event.
void two_bursts_of_streams(asio::io_context& ctx, Transport& client, const std::string& url, int n)
{
    int done = 0;
    auto one = [&]() -> asio::awaitable<void> {
        auto stream = co_await client.open(url, post("/s"), within(10s));
        if (!stream) {
            FAIL_CHECK(stream.error().message);
            co_return;
        }
        std::string out;
        for (;;) {
            auto more = co_await (*stream)->read(out, Clock::now() + 10s);
            if (!more || !*more) {
                CHECK(more.has_value());
                break;
            }
        }
        CHECK(out == "data: x\n\n");
        ++done;
    };
    run(ctx, [&]() -> asio::awaitable<void> {
        asio::steady_timer poll(co_await asio::this_coro::executor);
        for (int round = 1; round <= 2; ++round) {
            for (int i = 0; i < n; ++i) {
                asio::co_spawn(ctx, one(), asio::detached);
            }
            while (done < round * n) {
                poll.expires_after(5ms);
                co_await poll.async_wait(asio::use_awaitable);
            }
        }
    }());
    CHECK(done == 2 * n);
}

const std::string k_one_event_stream =
    "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + chunk("data: x\n\n") + "0\r\n\r\n";

const std::string k_sse_head =
    "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n";

}  // namespace

TEST_CASE("send reads a Content-Length answer and sends path, Host, User-Agent and body")
{
    asio::io_context ctx;
    std::optional<http::request<http::string_body>> seen;
    TestServer server(ctx, [&](tcp::socket s) -> asio::awaitable<void> {
        beast::flat_buffer buffer;
        seen = co_await read_request(s, buffer);
        co_await write_raw(s, "HTTP/1.1 201 Created\r\nContent-Length: 5\r\nX-Thing: yes\r\n\r\nhello");
    });
    auto client = make_http_client(direct_options());
    run(ctx, [&]() -> asio::awaitable<void> {
        auto res =
            co_await client->send(server.url("http", "/v1/"), post("/chat/completions", R"({"a":1})"), within(5s));
        REQUIRE(res.has_value());
        CHECK(res->status == 201);
        CHECK(res->body == "hello");
        bool has_thing = false;
        for (const auto& [k, v] : res->headers) {
            has_thing = has_thing || (k == "X-Thing" && v == "yes");
        }
        CHECK(has_thing);
    }());
    REQUIRE(seen.has_value());
    CHECK(seen->method() == http::verb::post);
    CHECK(seen->target() == "/v1/chat/completions");
    CHECK((*seen)[http::field::host] == "127.0.0.1:" + std::to_string(server.port()));
    CHECK((*seen)[http::field::user_agent].starts_with("aigw/"));
    CHECK((*seen)[http::field::content_type] == "application/json");
    CHECK(seen->body() == R"({"a":1})");
}

TEST_CASE("send removes chunked framing from the body")
{
    asio::io_context ctx;
    TestServer server(ctx, answer_each_request("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + chunk("hel") +
                                               chunk("lo, ") + chunk("world") + "0\r\n\r\n"));
    auto client = make_http_client(direct_options());
    run(ctx, [&]() -> asio::awaitable<void> {
        auto res = co_await client->send(server.url(), post("/x"), within(5s));
        REQUIRE(res.has_value());
        CHECK(res->status == 200);
        CHECK(res->body == "hello, world");
    }());
}

TEST_CASE("large answers, sized and chunked, arrive byte for byte over many reads")
{
    std::string big;
    for (int i = 0; big.size() < (1u << 20); ++i) {
        big += std::to_string(i) + ",";  // no run repeats: a lost or doubled read shows
    }
    std::string chunked;
    for (std::size_t at = 0; at < big.size(); at += 7000) {
        chunked += chunk(big.substr(at, 7000));
    }
    std::string sized = "HTTP/1.1 200 OK\r\nContent-Length: ";
    sized.append(std::to_string(big.size())).append("\r\n\r\n").append(big);
    std::string framed = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
    framed.append(chunked).append("0\r\n\r\n");
    for (const std::string* response : {&sized, &framed}) {
        asio::io_context ctx;
        TestServer server(ctx, answer_each_request(*response));
        auto client = make_http_client(direct_options());
        run(ctx, [&]() -> asio::awaitable<void> {
            auto res = co_await client->send(server.url(), post("/x"), within(10s));
            REQUIRE(res.has_value());
            CHECK(res->body == big);
            // The same through a stream, read piece by piece.
            auto opened = co_await client->open(server.url(), post("/x"), within(10s));
            REQUIRE(opened.has_value());
            std::string streamed;
            int reads = 0;
            for (;;) {
                auto more = co_await (*opened)->read(streamed, Clock::now() + 10s);
                REQUIRE(more.has_value());
                if (!*more) {
                    break;
                }
                ++reads;
            }
            CHECK(streamed == big);
            CHECK(reads > 1);
        }());
    }
}

TEST_CASE("a stream past 250 ms reads on through a smaller buffer, byte for byte, and its connection is reused")
{
    // After 250 ms the client trades the connection's 4 KiB read buffer for a 512-byte one
    // (the CRLF that ends the last chunk is still in it); a pooled connection gets the large
    // one back. Neither may lose or double a byte.
    std::string big;
    for (int i = 0; big.size() < 20000; ++i) {
        big += std::to_string(i) + ",";
    }
    const std::string after_big = chunk(big);
    asio::io_context ctx;
    TestServer server(ctx, [&](tcp::socket s) -> asio::awaitable<void> {
        beast::flat_buffer buffer;
        if (!co_await read_request(s, buffer)) {
            co_return;
        }
        co_await write_raw(s, k_sse_head);
        co_await write_raw(s, chunk("one,"));
        asio::steady_timer pause(co_await asio::this_coro::executor);
        for (int i = 0; i < 3; ++i) {
            pause.expires_after(100ms);
            co_await pause.async_wait(asio::use_awaitable);
            // The last tick comes with the first digits of the next chunk's size: the buffer
            // holds them when it is traded, and they must survive.
            std::string tick = chunk("tick,");
            if (i == 2) {
                tick += after_big.substr(0, 2);
            }
            co_await write_raw(s, std::move(tick));
        }
        pause.expires_after(100ms);
        co_await pause.async_wait(asio::use_awaitable);
        // A chunk larger than the small buffer, its closing CRLF split from it.
        co_await write_raw(s, after_big.substr(2, after_big.size() - 3));
        pause.expires_after(20ms);
        co_await pause.async_wait(asio::use_awaitable);
        std::string rest = "\n" + chunk("two,") + "0\r\n\r\n";
        co_await write_raw(s, std::move(rest));
        const std::string sized = "HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(big.size()) + "\r\n\r\n" + big;
        while (co_await read_request(s, buffer)) {
            co_await write_raw(s, sized);
        }
    });
    auto client = make_http_client(direct_options());
    run(ctx, [&]() -> asio::awaitable<void> {
        auto stream = co_await client->open(server.url(), post("/stream"), within(5s));
        REQUIRE(stream.has_value());
        std::string out;
        for (;;) {
            auto more = co_await (*stream)->read(out, Clock::now() + 5s);
            REQUIRE_MESSAGE(more.has_value(), (more ? std::string() : more.error().message));
            if (!*more) {
                break;
            }
        }
        CHECK(out == "one,tick,tick,tick," + big + "two,");
        auto next = co_await client->send(server.url(), post("/x"), within(5s));
        REQUIRE(next.has_value());
        CHECK(next->body == big);
    }());
    CHECK(server.accepted == 1);
}

TEST_CASE("connections of 200 concurrent streams all go back to the pool")
{
    // A burst of concurrent streams to one provider is common (an eval, an agent's subtasks);
    // the next burst must find their connections instead of opening new ones.
    asio::io_context ctx;
    TestServer server(ctx, answer_each_request(k_one_event_stream));
    auto client = make_http_client(direct_options());
    two_bursts_of_streams(ctx, *client, server.url(), 200);
    CHECK(server.accepted == 200);
}

TEST_CASE("under a low descriptor limit the pool keeps at most an eighth of it")
{
    rlimit saved{};
    REQUIRE(getrlimit(RLIMIT_NOFILE, &saved) == 0);
    REQUIRE((saved.rlim_max == RLIM_INFINITY || saved.rlim_max >= 800));
    rlimit low = saved;
    low.rlim_cur = 800;  // room for both ends of 200 connections; the pool may keep 100
    REQUIRE(setrlimit(RLIMIT_NOFILE, &low) == 0);
    {
        asio::io_context ctx;
        TestServer server(ctx, answer_each_request(k_one_event_stream));
        auto client = make_http_client(direct_options());
        two_bursts_of_streams(ctx, *client, server.url(), 200);
        // 200 for the first burst; of those 100 were kept, so the second opened 100 more.
        CHECK(server.accepted == 300);
    }
    setrlimit(RLIMIT_NOFILE, &saved);
}

TEST_CASE("a close-delimited answer is read to the end and its connection is not reused")
{
    asio::io_context ctx;
    TestServer server(ctx, [](tcp::socket s) -> asio::awaitable<void> {
        beast::flat_buffer buffer;
        co_await read_request(s, buffer);
        co_await write_raw(s, "HTTP/1.1 200 OK\r\n\r\nuntil close");
        s.close();
    });
    auto client = make_http_client(direct_options());
    run(ctx, [&]() -> asio::awaitable<void> {
        for (int i = 0; i < 2; ++i) {
            auto res = co_await client->send(server.url(), post("/x"), within(5s));
            REQUIRE(res.has_value());
            CHECK(res->body == "until close");
        }
    }());
    CHECK(server.accepted == 2);
}

TEST_CASE("three sequential requests to one origin share one keep-alive connection")
{
    asio::io_context ctx;
    std::vector<std::string> targets;
    TestServer server(ctx, answer_each_request("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", &targets));
    auto client = make_http_client(direct_options());
    run(ctx, [&]() -> asio::awaitable<void> {
        for (int i = 0; i < 3; ++i) {
            auto res = co_await client->send(server.url(), post("/n" + std::to_string(i)), within(5s));
            REQUIRE(res.has_value());
            CHECK(res->body == "ok");
        }
    }());
    CHECK(server.accepted == 1);
    CHECK(targets == std::vector<std::string>{"/n0", "/n1", "/n2"});
}

TEST_CASE("requests to two origins in turn each reach their own, over one connection each")
{
    asio::io_context ctx;
    TestServer a(ctx, answer_each_request("HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\na"));
    TestServer b(ctx, answer_each_request("HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nb"));
    auto client = make_http_client(direct_options());
    std::string bodies;
    run(ctx, [&]() -> asio::awaitable<void> {
        for (int i = 0; i < 4; ++i) {
            // The same origin written two ways (a path prefix, a trailing slash) is one origin.
            const std::string url = i % 2 == 0 ? a.url() : b.url() + (i == 1 ? "/v1" : "/");
            auto res = co_await client->send(url, post("/x"), within(5s));
            REQUIRE(res.has_value());
            bodies += res->body;
        }
    }());
    CHECK(bodies == "abab");
    CHECK(a.accepted == 1);
    CHECK(b.accepted == 1);
}

TEST_CASE("max_idle_per_origin 0 keeps no connection")
{
    asio::io_context ctx;
    TestServer server(ctx, answer_each_request("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"));
    auto opts = direct_options();
    opts.max_idle_per_origin = 0;
    auto client = make_http_client(opts);
    run(ctx, [&]() -> asio::awaitable<void> {
        for (int i = 0; i < 2; ++i) {
            auto res = co_await client->send(server.url(), post("/x"), within(5s));
            REQUIRE(res.has_value());
        }
    }());
    CHECK(server.accepted == 2);
}

TEST_CASE("a pooled connection the upstream closed while idle is retried once on a new one")
{
    asio::io_context ctx;
    Event closed(ctx);
    TestServer server(ctx, [&](tcp::socket s) -> asio::awaitable<void> {
        beast::flat_buffer buffer;
        if (co_await read_request(s, buffer)) {
            // A keep-alive answer, then the server drops the connection anyway.
            co_await write_raw(s, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
        }
        s.close();
        closed.notify();
    });
    auto client = make_http_client(direct_options());
    run(ctx, [&]() -> asio::awaitable<void> {
        auto first = co_await client->send(server.url(), post("/x"), within(5s));
        REQUIRE(first.has_value());
        co_await closed.wait();
        auto second = co_await client->send(server.url(), post("/x"), within(5s));
        REQUIRE_MESSAGE(second.has_value(), (second ? std::string() : second.error().message));
        CHECK(second->body == "ok");
    }());
    CHECK(server.accepted == 2);
}

TEST_CASE("open returns after the header and read delivers each SSE chunk as it arrives")
{
    asio::io_context ctx;
    Event first_seen(ctx);
    TestServer server(ctx, [&](tcp::socket s) -> asio::awaitable<void> {
        beast::flat_buffer buffer;
        if (!co_await read_request(s, buffer)) {
            co_return;
        }
        co_await write_raw(s, k_sse_head);
        co_await write_raw(s, chunk("data: one\n\n"));
        // The second event is sent only after the client has seen the first: a client that
        // waited for a full buffer would hang here until its deadline.
        co_await first_seen.wait();
        co_await write_raw(s, chunk("data: two\n\n"));
        co_await write_raw(s, "0\r\n\r\n");
        while (co_await read_request(s, buffer)) {
            co_await write_raw(s, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
        }
    });
    auto client = make_http_client(direct_options());
    run(ctx, [&]() -> asio::awaitable<void> {
        auto stream = co_await client->open(server.url(), post("/stream"), within(5s));
        REQUIRE(stream.has_value());
        CHECK((*stream)->status() == 200);
        std::string out;
        while (out.find("\n\n") == std::string::npos) {
            auto more = co_await (*stream)->read(out, Clock::now() + 5s);
            REQUIRE_MESSAGE(more.has_value(), (more ? std::string() : more.error().message));
            REQUIRE(*more);
        }
        CHECK(out == "data: one\n\n");
        first_seen.notify();
        out.clear();
        while (out.find("\n\n") == std::string::npos) {
            auto more = co_await (*stream)->read(out, Clock::now() + 5s);
            REQUIRE_MESSAGE(more.has_value(), (more ? std::string() : more.error().message));
            REQUIRE(*more);
        }
        CHECK(out == "data: two\n\n");
        auto end = co_await (*stream)->read(out, Clock::now() + 5s);
        REQUIRE(end.has_value());
        CHECK_FALSE(*end);
        auto again = co_await (*stream)->read(out, Clock::now() + 5s);
        REQUIRE(again.has_value());
        CHECK_FALSE(*again);
        // The stream was read to the end, so its connection went back to the pool.
        auto next = co_await client->send(server.url(), post("/x"), within(5s));
        REQUIRE(next.has_value());
        CHECK(next->body == "ok");
    }());
    CHECK(server.accepted == 1);
}

TEST_CASE("events that arrived together come back from one read; framing split across writes is waited for")
{
    asio::io_context ctx;
    Event first_seen(ctx);
    const std::string last = chunk("data: d\n\n") + "0\r\n\r\n";
    TestServer server(ctx, [&](tcp::socket s) -> asio::awaitable<void> {
        beast::flat_buffer buffer;
        if (!co_await read_request(s, buffer)) {
            co_return;
        }
        // The head and three events in one write: they reach the client in one segment.
        const std::string first = k_sse_head + chunk("data: a\n\n") + chunk("data: b\n\n") + chunk("data: c\n\n");
        co_await write_raw(s, first);
        co_await first_seen.wait();
        // Then an event and the end one byte at a time, each its own write: a size line,
        // the data and the CRLFs come apart, and a read waits for what completes them.
        asio::steady_timer pause(s.get_executor());
        for (char c : last) {
            std::string byte(1, c);
            if (!co_await write_raw(s, std::move(byte))) {
                co_return;
            }
            pause.expires_after(1ms);
            co_await pause.async_wait(k_tuple);
        }
    });
    auto client = make_http_client(direct_options());
    run(ctx, [&]() -> asio::awaitable<void> {
        auto stream = co_await client->open(server.url(), post("/stream"), within(5s));
        REQUIRE(stream.has_value());
        std::string out;
        auto more = co_await (*stream)->read(out, Clock::now() + 5s);
        REQUIRE_MESSAGE(more.has_value(), (more ? std::string() : more.error().message));
        CHECK(*more);
        CHECK(out == "data: a\n\ndata: b\n\ndata: c\n\n");  // parsed from what was buffered, no wait
        first_seen.notify();
        out.clear();
        int reads = 0;
        for (;;) {
            auto r = co_await (*stream)->read(out, Clock::now() + 5s);
            REQUIRE_MESSAGE(r.has_value(), (r ? std::string() : r.error().message));
            if (!*r) {
                break;
            }
            ++reads;
        }
        CHECK(out == "data: d\n\n");
        CHECK(reads >= 1);
    }());
}

TEST_CASE("an upstream that never answers is a 504 timeout at the deadline")
{
    asio::io_context ctx;
    Event never(ctx);
    TestServer server(ctx, [&](tcp::socket s) -> asio::awaitable<void> {
        beast::flat_buffer buffer;
        co_await read_request(s, buffer);
        co_await never.wait();
    });
    auto client = make_http_client(direct_options());
    run(ctx, [&]() -> asio::awaitable<void> {
        auto res = co_await client->send(server.url(), post("/x"), within(200ms));
        REQUIRE_FALSE(res.has_value());
        CHECK(res.error().kind == aigw::wire::FailureKind::timeout);
        CHECK(res.error().status == 504);
        CHECK(res.error().message.find(server.url()) != std::string::npos);
        auto stream = co_await client->open(server.url(), post("/x"), within(200ms));
        REQUIRE_FALSE(stream.has_value());
        CHECK(stream.error().status == 504);
    }());
}

TEST_CASE("connection refused is a 502 network failure naming the origin without its userinfo")
{
    asio::io_context ctx;
    unsigned short port = 0;
    {
        tcp::acceptor probe(ctx, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
        port = probe.local_endpoint().port();
    }
    auto client = make_http_client(direct_options());
    run(ctx, [&]() -> asio::awaitable<void> {
        auto res = co_await client->send("http://user:secret@127.0.0.1:" + std::to_string(port) + "/v1", post("/x"),
                                         within(5s));
        REQUIRE_FALSE(res.has_value());
        CHECK(res.error().kind == aigw::wire::FailureKind::network);
        CHECK(res.error().status == 502);
        CHECK(res.error().message.find("http://127.0.0.1:" + std::to_string(port)) != std::string::npos);
        CHECK(res.error().message.find("secret") == std::string::npos);
    }());
}

TEST_CASE("a bad base URL is an internal failure that says what it must look like")
{
    asio::io_context ctx;
    auto client = make_http_client(direct_options());
    run(ctx, [&]() -> asio::awaitable<void> {
        auto res = co_await client->send("ftp://example.com", post("/x"), within(5s));
        REQUIRE_FALSE(res.has_value());
        CHECK(res.error().message.find("http://") != std::string::npos);
    }());
}

TEST_CASE("a read deadline passing in the middle of a body is a 504")
{
    asio::io_context ctx;
    Event never(ctx);
    TestServer server(ctx, [&](tcp::socket s) -> asio::awaitable<void> {
        beast::flat_buffer buffer;
        co_await read_request(s, buffer);
        co_await write_raw(s, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789");
        co_await never.wait();
    });
    auto client = make_http_client(direct_options());
    run(ctx, [&]() -> asio::awaitable<void> {
        auto stream = co_await client->open(server.url(), post("/x"), within(5s));
        REQUIRE(stream.has_value());
        std::string out;
        while (out.size() < 10) {
            auto more = co_await (*stream)->read(out, Clock::now() + 5s);
            REQUIRE(more.has_value());
            REQUIRE(*more);
        }
        CHECK(out == "0123456789");
        auto stalled = co_await (*stream)->read(out, Clock::now() + 200ms);
        REQUIRE_FALSE(stalled.has_value());
        CHECK(stalled.error().kind == aigw::wire::FailureKind::timeout);
        CHECK(stalled.error().status == 504);
    }());
}

TEST_CASE("a stream's read deadline moves later with each read, and holds at the last one set")
{
    // The connection keeps one timer and moves it only when a deadline comes earlier: a
    // deadline that moves later must neither cut the stream at the first one nor be lost.
    asio::io_context ctx;
    Event never(ctx);
    TestServer server(ctx, [&](tcp::socket s) -> asio::awaitable<void> {
        beast::flat_buffer buffer;
        co_await read_request(s, buffer);
        co_await write_raw(s, k_sse_head);
        asio::steady_timer gap(co_await asio::this_coro::executor);
        for (int i = 0; i < 6; ++i) {
            gap.expires_after(100ms);
            co_await gap.async_wait(asio::use_awaitable);
            co_await write_raw(s, chunk("data: " + std::to_string(i) + "\n\n"));
        }
        co_await never.wait();
    });
    auto client = make_http_client(direct_options());
    run(ctx, [&]() -> asio::awaitable<void> {
        auto stream = co_await client->open(server.url(), post("/x"), within(5s));
        REQUIRE(stream.has_value());
        std::string out;
        const auto first_deadline = Clock::now() + 250ms;
        auto deadline = first_deadline;
        while (out.size() < 6 * std::string("data: 0\n\n").size()) {
            auto more = co_await (*stream)->read(out, deadline);
            REQUIRE(more.has_value());
            REQUIRE(*more);
            deadline = Clock::now() + 250ms;
        }
        CHECK(Clock::now() > first_deadline);  // six events 100 ms apart outlived the first deadline
        CHECK(out == "data: 0\n\ndata: 1\n\ndata: 2\n\ndata: 3\n\ndata: 4\n\ndata: 5\n\n");
        auto stalled = co_await (*stream)->read(out, deadline);
        REQUIRE_FALSE(stalled.has_value());
        CHECK(stalled.error().kind == aigw::wire::FailureKind::timeout);
    }());
}

TEST_CASE("a read whose deadline is later than the one armed times out at its own")
{
    asio::io_context ctx;
    Event never(ctx);
    TestServer server(ctx, [&](tcp::socket s) -> asio::awaitable<void> {
        beast::flat_buffer buffer;
        co_await read_request(s, buffer);
        co_await write_raw(s, k_sse_head + chunk("data: 0\n\n"));
        co_await never.wait();
    });
    auto client = make_http_client(direct_options());
    run(ctx, [&]() -> asio::awaitable<void> {
        auto stream = co_await client->open(server.url(), post("/x"), within(5s));
        REQUIRE(stream.has_value());
        std::string out;
        auto first = co_await (*stream)->read(out, Clock::now() + 200ms);  // arms the timer at 200 ms
        REQUIRE(first.has_value());
        REQUIRE(*first);
        // The timer fires while this read waits, finds its deadline not reached, and must
        // wait again; if it did not, the read would never end.
        const auto last = Clock::now() + 400ms;
        auto stalled = co_await (*stream)->read(out, last);
        REQUIRE_FALSE(stalled.has_value());
        CHECK(stalled.error().kind == aigw::wire::FailureKind::timeout);
        CHECK(Clock::now() >= last);  // not at the earlier deadline
    }());
}

TEST_CASE("a read deadline that passes while no read waits does not cut the stream")
{
    // A relay writing to a slow client reads the upstream late; the deadline of the read
    // before must not close the connection meanwhile.
    asio::io_context ctx;
    Event second(ctx);
    Event never(ctx);
    TestServer server(ctx, [&](tcp::socket s) -> asio::awaitable<void> {
        beast::flat_buffer buffer;
        co_await read_request(s, buffer);
        co_await write_raw(s, k_sse_head + chunk("data: 0\n\n"));
        co_await second.wait();
        co_await write_raw(s, chunk("data: 1\n\n"));
        co_await never.wait();
    });
    auto client = make_http_client(direct_options());
    run(ctx, [&]() -> asio::awaitable<void> {
        auto stream = co_await client->open(server.url(), post("/x"), within(5s));
        REQUIRE(stream.has_value());
        std::string out;
        auto first = co_await (*stream)->read(out, Clock::now() + 100ms);
        REQUIRE(first.has_value());
        asio::steady_timer busy(co_await asio::this_coro::executor);
        busy.expires_after(300ms);  // the 100 ms deadline passes while nothing is read
        co_await busy.async_wait(asio::use_awaitable);
        second.notify();
        auto next = co_await (*stream)->read(out, Clock::now() + 5s);
        REQUIRE(next.has_value());
        CHECK(*next);
        CHECK(out == "data: 0\n\ndata: 1\n\n");
    }());
}

TEST_CASE("send's deadline covers the whole body")
{
    asio::io_context ctx;
    Event never(ctx);
    TestServer server(ctx, [&](tcp::socket s) -> asio::awaitable<void> {
        beast::flat_buffer buffer;
        co_await read_request(s, buffer);
        co_await write_raw(s, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789");
        co_await never.wait();
    });
    auto client = make_http_client(direct_options());
    run(ctx, [&]() -> asio::awaitable<void> {
        auto res = co_await client->send(server.url(), post("/x"), within(300ms));
        REQUIRE_FALSE(res.has_value());
        CHECK(res.error().status == 504);
    }());
}

TEST_CASE("cancel() completes a pending read with a failure and the connection is not reused")
{
    asio::io_context ctx;
    Event never(ctx);
    TestServer server(ctx, [&](tcp::socket s) -> asio::awaitable<void> {
        beast::flat_buffer buffer;
        co_await read_request(s, buffer);
        co_await write_raw(s, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n");
        co_await never.wait();
    });
    auto client = make_http_client(direct_options());
    run(ctx, [&]() -> asio::awaitable<void> {
        auto stream = co_await client->open(server.url(), post("/x"), within(5s));
        REQUIRE(stream.has_value());
        std::optional<std::expected<bool, aigw::wire::Failure>> result;
        Event read_done(ctx);
        std::string out;
        asio::co_spawn(
            ctx,
            [&]() -> asio::awaitable<void> {
                result = co_await (*stream)->read(out, Clock::now() + 30s);
                read_done.notify();
            },
            asio::detached);
        // Let the read start and suspend on the socket before cancelling it.
        for (int i = 0; i < 10; ++i) {
            co_await asio::post(ctx, asio::use_awaitable);
        }
        CHECK_FALSE(result.has_value());
        (*stream)->cancel();
        (*stream)->cancel();  // idempotent
        co_await read_done.wait();
        REQUIRE(result.has_value());
        REQUIRE_FALSE(result->has_value());
        CHECK(result->error().message.find("cancelled") != std::string::npos);
        auto after = co_await (*stream)->read(out, Clock::now() + 5s);
        CHECK_FALSE(after.has_value());
    }());
    CHECK(server.accepted == 1);
}

TEST_CASE("a non-streamed answer over max_body_bytes is a 502 that names the origin and the cap")
{
    asio::io_context ctx;
    TestServer server(ctx,
                      answer_each_request("HTTP/1.1 200 OK\r\nContent-Length: 5000\r\n\r\n" + std::string(5000, 'x')));
    auto opts = direct_options();
    opts.max_body_bytes = 1000;
    auto client = make_http_client(opts);
    run(ctx, [&]() -> asio::awaitable<void> {
        auto res = co_await client->send(server.url(), post("/x"), within(5s));
        REQUIRE_FALSE(res.has_value());
        CHECK(res.error().status == 502);
        CHECK(res.error().kind == aigw::wire::FailureKind::network);
        CHECK(res.error().message.find("larger than 1000 bytes") != std::string::npos);
        CHECK(res.error().message.find(server.url()) != std::string::npos);
    }());
}

TEST_CASE("response headers over 64 KiB are a 502")
{
    asio::io_context ctx;
    TestServer server(ctx, answer_each_request("HTTP/1.1 200 OK\r\nX-Big: " + std::string(70 * 1024, 'h') +
                                               "\r\nContent-Length: 2\r\n\r\nok"));
    auto client = make_http_client(direct_options());
    run(ctx, [&]() -> asio::awaitable<void> {
        auto res = co_await client->send(server.url(), post("/x"), within(5s));
        REQUIRE_FALSE(res.has_value());
        CHECK(res.error().status == 502);
        CHECK(res.error().message.find("headers") != std::string::npos);
    }());
}

TEST_CASE("a pooled connection idle longer than idle_ttl is closed, not reused")
{
    asio::io_context ctx;
    TestServer server(ctx, answer_each_request("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"));
    auto opts = direct_options();
    opts.idle_ttl = std::chrono::milliseconds(0);
    auto client = make_http_client(opts);
    run(ctx, [&]() -> asio::awaitable<void> {
        for (int i = 0; i < 2; ++i) {
            auto res = co_await client->send(server.url(), post("/x"), within(5s));
            REQUIRE(res.has_value());
        }
    }());
    CHECK(server.accepted == 2);
}

TEST_CASE("each event loop has its own pool: a connection is reused only on the loop that made it")
{
    // The server runs on its own thread and loop; the client is driven on two others.
    asio::io_context server_ctx;
    TestServer server(server_ctx, answer_each_request("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"));
    auto guard = asio::make_work_guard(server_ctx);
    std::thread server_thread([&] { server_ctx.run(); });
    struct Join {
        asio::io_context& ctx;
        std::thread& thread;
        ~Join()
        {
            ctx.stop();
            thread.join();
        }
    } join{server_ctx, server_thread};

    asio::io_context loop_a;
    asio::io_context loop_b;
    auto client = make_http_client(direct_options());
    auto one_request = [&]() -> asio::awaitable<void> {
        auto res = co_await client->send(server.url(), post("/x"), within(5s));
        REQUIRE_MESSAGE(res.has_value(), (res ? std::string() : res.error().message));
    };
    run(loop_a, one_request());
    CHECK(server.accepted == 1);
    run(loop_b, one_request());
    CHECK(server.accepted == 2);
    run(loop_a, one_request());
    run(loop_b, one_request());
    CHECK(server.accepted == 2);
}

TEST_CASE("a chunked answer over max_body_bytes is a 502 too")
{
    asio::io_context ctx;
    TestServer server(ctx,
                      answer_each_request("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" +
                                          chunk(std::string(800, 'x')) + chunk(std::string(800, 'y')) + "0\r\n\r\n"));
    auto opts = direct_options();
    opts.max_body_bytes = 1000;
    auto client = make_http_client(opts);
    run(ctx, [&]() -> asio::awaitable<void> {
        auto res = co_await client->send(server.url(), post("/x"), within(5s));
        REQUIRE_FALSE(res.has_value());
        CHECK(res.error().status == 502);
        CHECK(res.error().message.find("larger than 1000 bytes") != std::string::npos);
    }());
}

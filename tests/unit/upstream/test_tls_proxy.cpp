#include "tests/unit/upstream/test_support.hpp"

#include <memory>

using namespace aigw::daemon::upstream;
using namespace aigw::daemon::upstream::test;
using namespace std::chrono_literals;

namespace {

ssl::context server_tls(const std::string& cert)
{
    ssl::context ctx(ssl::context::tls_server);
    ctx.use_certificate_chain_file(fixture(cert + ".pem"));
    ctx.use_private_key_file(fixture(cert + ".key"), ssl::context::pem);
    return ctx;
}

/// An HTTPS server answering "secure" to every request on a connection; remembers the
/// SNI name the client sent.
TestServer::Handler tls_answer(ssl::context& tls, std::string* sni = nullptr)
{
    return [&tls, sni](tcp::socket s) -> asio::awaitable<void> {
        ssl::stream<tcp::socket> stream(std::move(s), tls);
        auto [ec] = co_await stream.async_handshake(ssl::stream_base::server, k_tuple);
        if (ec) {
            co_return;
        }
        if (const char* name = SSL_get_servername(stream.native_handle(), TLSEXT_NAMETYPE_host_name);
            sni != nullptr && name != nullptr) {
            *sni = name;
        }
        beast::flat_buffer buffer;
        while (co_await read_request(stream, buffer)) {
            if (!co_await write_raw(stream, "HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nsecure")) {
                co_return;
            }
        }
    };
}

asio::awaitable<void> pipe(std::shared_ptr<tcp::socket> from, std::shared_ptr<tcp::socket> to)
{
    std::array<char, 4096> data{};
    for (;;) {
        auto [ec, n] = co_await from->async_read_some(asio::buffer(data), k_tuple);
        if (ec) {
            break;
        }
        auto [write_ec, written] = co_await asio::async_write(*to, asio::buffer(data.data(), n), k_tuple);
        if (write_ec) {
            break;
        }
    }
    boost::system::error_code ignored;
    from->close(ignored);
    to->close(ignored);
}

/// A CONNECT proxy: counts tunnels, remembers the last target and Proxy-Authorization,
/// then pipes bytes both ways.
struct ConnectProxy {
    int connects = 0;
    std::string target;
    std::string authorization;

    TestServer::Handler handler()
    {
        return [this](tcp::socket s) -> asio::awaitable<void> {
            auto client = std::make_shared<tcp::socket>(std::move(s));
            beast::flat_buffer buffer;
            http::request_parser<http::empty_body> parser;
            auto [ec, n] = co_await http::async_read_header(*client, buffer, parser, k_tuple);
            if (ec || parser.get().method() != http::verb::connect) {
                co_await write_raw(*client, "HTTP/1.1 405 Method Not Allowed\r\nContent-Length: 0\r\n\r\n");
                co_return;
            }
            ++connects;
            target = std::string(parser.get().target());
            authorization = std::string(parser.get()[http::field::proxy_authorization]);
            auto colon = target.rfind(':');
            auto upstream = std::make_shared<tcp::socket>(client->get_executor());
            tcp::endpoint to(asio::ip::make_address(target.substr(0, colon)),
                             static_cast<unsigned short>(std::stoi(target.substr(colon + 1))));
            auto [connect_ec] = co_await upstream->async_connect(to, k_tuple);
            if (connect_ec) {
                co_await write_raw(*client, "HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n");
                co_return;
            }
            co_await write_raw(*client, "HTTP/1.1 200 Connection established\r\n\r\n");
            asio::co_spawn(client->get_executor(), pipe(upstream, client), asio::detached);
            co_await pipe(client, upstream);
        };
    }
};

}  // namespace

TEST_CASE("https with the test CA as ca_file succeeds and reuses the TLS connection")
{
    asio::io_context ctx;
    auto tls = server_tls("server");
    TestServer server(ctx, tls_answer(tls));
    auto opts = direct_options();
    opts.ca_file = fixture("ca.pem");
    auto client = make_http_client(opts);
    run(ctx, [&]() -> asio::awaitable<void> {
        for (int i = 0; i < 2; ++i) {
            auto res = co_await client->send(server.url("https", "/v1"), post("/x"), within(5s));
            REQUIRE_MESSAGE(res.has_value(), (res ? std::string() : res.error().message));
            CHECK(res->body == "secure");
        }
    }());
    CHECK(server.accepted == 1);
}

TEST_CASE("a ca_file that is not a PEM bundle is refused when the client is made, not at the first call")
{
    // The TLS context is made on the first HTTPS connection, except the extra CA bundle's
    // load, which stays at start so a bad one is a start-up error.
    auto opts = direct_options();
    opts.ca_file = fixture("no-such-ca.pem");
    try {
        auto client = make_http_client(opts);
        FAIL("made a client with a CA bundle that does not exist");
    } catch (const std::exception& e) {
        CHECK(std::string(e.what()).find("could not load the CA bundle") != std::string::npos);
    }
}

TEST_CASE("https without the CA fails as a 502 that names the origin")
{
    asio::io_context ctx;
    auto tls = server_tls("server");
    TestServer server(ctx, tls_answer(tls));
    auto client = make_http_client(direct_options());
    run(ctx, [&]() -> asio::awaitable<void> {
        auto res = co_await client->send(server.url("https"), post("/x"), within(5s));
        REQUIRE_FALSE(res.has_value());
        CHECK(res.error().status == 502);
        CHECK(res.error().kind == aigw::wire::FailureKind::network);
        CHECK(res.error().message.find("TLS certificate of " + server.url("https") + " could not be verified") !=
              std::string::npos);
    }());
}

TEST_CASE("https fails when the certificate is for another host name")
{
    asio::io_context ctx;
    auto tls = server_tls("other");
    TestServer server(ctx, tls_answer(tls));
    auto opts = direct_options();
    opts.ca_file = fixture("ca.pem");
    auto client = make_http_client(opts);
    run(ctx, [&]() -> asio::awaitable<void> {
        auto res = co_await client->send(server.url("https"), post("/x"), within(5s));
        REQUIRE_FALSE(res.has_value());
        CHECK(res.error().status == 502);
        INFO(res.error().message);
        CHECK(res.error().message.find("could not be verified") != std::string::npos);
        CHECK(res.error().message.find("mismatch") != std::string::npos);
    }());
}

TEST_CASE("https to a host name sends it as SNI and checks the certificate against it")
{
    asio::io_context ctx;
    auto tls = server_tls("server");
    std::string sni;
    TestServer server(ctx, tls_answer(tls, &sni));
    auto opts = direct_options();
    opts.ca_file = fixture("ca.pem");
    auto client = make_http_client(opts);
    run(ctx, [&]() -> asio::awaitable<void> {
        auto res = co_await client->send("https://localhost:" + std::to_string(server.port()), post("/x"), within(5s));
        REQUIRE_MESSAGE(res.has_value(), (res ? std::string() : res.error().message));
        CHECK(res->body == "secure");
    }());
    CHECK(sni == "localhost");
}

TEST_CASE("https to a host name fails when the certificate is for another name")
{
    asio::io_context ctx;
    auto tls = server_tls("other");
    TestServer server(ctx, tls_answer(tls));
    auto opts = direct_options();
    opts.ca_file = fixture("ca.pem");
    auto client = make_http_client(opts);
    run(ctx, [&]() -> asio::awaitable<void> {
        const std::string origin = "https://localhost:" + std::to_string(server.port());
        auto res = co_await client->send(origin, post("/x"), within(5s));
        REQUIRE_FALSE(res.has_value());
        INFO(res.error().message);
        CHECK(res.error().status == 502);
        CHECK(res.error().message.find("TLS certificate of " + origin + " could not be verified") != std::string::npos);
        CHECK(res.error().message.find("mismatch") != std::string::npos);
    }());
}

TEST_CASE("a missing ca_file is reported when the client is made")
{
    auto opts = direct_options();
    opts.ca_file = fixture("no-such-ca.pem");
    CHECK_THROWS_WITH_AS(make_http_client(opts), doctest::Contains("no-such-ca.pem"), std::runtime_error);
}

TEST_CASE("https through HTTPS_PROXY tunnels with CONNECT and sends the proxy credentials")
{
    asio::io_context ctx;
    auto tls = server_tls("server");
    TestServer server(ctx, tls_answer(tls));
    ConnectProxy proxy;
    TestServer proxy_server(ctx, proxy.handler());
    auto opts = direct_options();
    opts.ca_file = fixture("ca.pem");
    opts.https_proxy = "http://user:p%40ss@127.0.0.1:" + std::to_string(proxy_server.port());
    auto client = make_http_client(opts);
    run(ctx, [&]() -> asio::awaitable<void> {
        for (int i = 0; i < 2; ++i) {
            auto res = co_await client->send(server.url("https"), post("/x"), within(5s));
            REQUIRE_MESSAGE(res.has_value(), (res ? std::string() : res.error().message));
            CHECK(res->body == "secure");
        }
    }());
    CHECK(proxy.connects == 1);
    CHECK(proxy.target == "127.0.0.1:" + std::to_string(server.port()));
    CHECK(proxy.authorization == "Basic dXNlcjpwQHNz");
}

TEST_CASE("NO_PROXY sends an https request directly")
{
    asio::io_context ctx;
    auto tls = server_tls("server");
    TestServer server(ctx, tls_answer(tls));
    ConnectProxy proxy;
    TestServer proxy_server(ctx, proxy.handler());
    auto opts = direct_options();
    opts.ca_file = fixture("ca.pem");
    opts.https_proxy = "127.0.0.1:" + std::to_string(proxy_server.port());
    opts.no_proxy = "localhost, 127.0.0.1";
    auto client = make_http_client(opts);
    run(ctx, [&]() -> asio::awaitable<void> {
        auto res = co_await client->send(server.url("https"), post("/x"), within(5s));
        REQUIRE_MESSAGE(res.has_value(), (res ? std::string() : res.error().message));
    }());
    CHECK(proxy.connects == 0);
    CHECK(proxy_server.accepted == 0);
}

TEST_CASE("a proxy that refuses the tunnel is a 502 that names proxy and origin but no credentials")
{
    asio::io_context ctx;
    TestServer refusing(ctx, [](tcp::socket s) -> asio::awaitable<void> {
        beast::flat_buffer buffer;
        http::request_parser<http::empty_body> parser;
        co_await http::async_read_header(s, buffer, parser, k_tuple);
        co_await write_raw(s, "HTTP/1.1 407 Proxy Authentication Required\r\nContent-Length: 0\r\n\r\n");
    });
    auto opts = direct_options();
    opts.https_proxy = "http://user:hunter2@127.0.0.1:" + std::to_string(refusing.port());
    auto client = make_http_client(opts);
    run(ctx, [&]() -> asio::awaitable<void> {
        auto res = co_await client->send("https://api.example.invalid/v1", post("/x"), within(5s));
        REQUIRE_FALSE(res.has_value());
        CHECK(res.error().status == 502);
        CHECK(res.error().message.find("407") != std::string::npos);
        CHECK(res.error().message.find("https://api.example.invalid") != std::string::npos);
        CHECK(res.error().message.find("hunter2") == std::string::npos);
    }());
}

TEST_CASE("http through HTTP_PROXY uses the absolute-form target")
{
    asio::io_context ctx;
    std::optional<http::request<http::string_body>> seen;
    TestServer proxy_server(ctx, [&](tcp::socket s) -> asio::awaitable<void> {
        beast::flat_buffer buffer;
        seen = co_await read_request(s, buffer);
        co_await write_raw(s, "HTTP/1.1 200 OK\r\nContent-Length: 7\r\n\r\nproxied");
    });
    auto opts = direct_options();
    opts.http_proxy = "http://u:pw@127.0.0.1:" + std::to_string(proxy_server.port());
    auto client = make_http_client(opts);
    run(ctx, [&]() -> asio::awaitable<void> {
        auto res = co_await client->send("http://api.example.invalid:8080/v1", post("/chat"), within(5s));
        REQUIRE_MESSAGE(res.has_value(), (res ? std::string() : res.error().message));
        CHECK(res->body == "proxied");
    }());
    REQUIRE(seen.has_value());
    CHECK(seen->target() == "http://api.example.invalid:8080/v1/chat");
    CHECK((*seen)[http::field::host] == "api.example.invalid:8080");
    CHECK((*seen)[http::field::proxy_authorization] == "Basic dTpwdw==");
}

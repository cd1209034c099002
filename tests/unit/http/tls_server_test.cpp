// The server with ServerOptions::tls_cert/tls_key over real loopback sockets: a blocking
// OpenSSL client (receives give up after 10 s), certificates made with the openssl CLI.

#include "daemon/http/server.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <doctest/doctest.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <thread>

using namespace aigw::daemon::http;
using namespace std::chrono_literals;
namespace asio = boost::asio;
namespace fs = std::filesystem;

namespace {

struct CertFiles {
    fs::path dir;
    fs::path cert;
    fs::path key;
};

/// A self-signed certificate for localhost in a fresh temp dir, its key 0600.
CertFiles make_cert(const std::string& tag)
{
    CertFiles c;
    c.dir = fs::temp_directory_path() / ("aigw-tls-unit-" + tag + "-" + std::to_string(::getpid()));
    fs::create_directories(c.dir);
    c.cert = c.dir / "cert.pem";
    c.key = c.dir / "key.pem";
    const std::string cmd =
        "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 "
        "-subj /CN=localhost -keyout '" +
        c.key.string() + "' -out '" + c.cert.string() + "' 2>/dev/null";
    REQUIRE(std::system(cmd.c_str()) == 0);
    fs::permissions(c.key, fs::perms::owner_read | fs::perms::owner_write);
    return c;
}

Response text(std::string body)
{
    Response r;
    r.set_content(std::move(body), "text/plain");
    return r;
}

Routes routes()
{
    Routes r;
    r.add("GET", "/exact", [](Request&, Responder& out) -> asio::awaitable<void> { co_await out.send(text("exact")); });
    r.add("GET", "/pre/*",
          [](Request& req, Responder& out) -> asio::awaitable<void> { co_await out.send(text("prefix:" + req.path)); });
    r.add("GET", "/stream", [](Request&, Responder& out) -> asio::awaitable<void> {
        if (!co_await out.begin_stream(text(""))) {
            co_return;
        }
        for (int i = 0; i < 3; ++i) {
            co_await out.write("part" + std::to_string(i) + ";");
        }
        co_await out.end_stream({});
    });
    return r;
}

struct TlsServer {
    Server server;
    int port = 0;
    std::thread thread;

    explicit TlsServer(const CertFiles& c)
        : server(
              [&c] {
                  ServerOptions o;
                  o.threads = 2;
                  o.shutdown_grace = 1s;
                  o.keep_alive_timeout = 60s;
                  o.tls_cert = c.cert;
                  o.tls_key = c.key;
                  return o;
              }(),
              routes(), [](Request&, Responder& out) -> asio::awaitable<void> { co_await out.send(text("fallback")); },
              nullptr)
    {
        auto bound = server.bind();
        const std::string why = bound ? std::string() : bound.error();
        REQUIRE_MESSAGE(bound.has_value(), why);
        port = *bound;
        thread = std::thread([this] { server.run(); });
    }
    ~TlsServer()
    {
        server.stop();
        if (thread.joinable()) {
            thread.join();
        }
    }
};

/// A blocking TLS client that trusts `ca`.
class TlsClient {
public:
    TlsClient(int port, const fs::path& ca)
    {
        m_ctx = SSL_CTX_new(TLS_client_method());
        REQUIRE(m_ctx != nullptr);
        REQUIRE(SSL_CTX_load_verify_locations(m_ctx, ca.c_str(), nullptr) == 1);
        SSL_CTX_set_verify(m_ctx, SSL_VERIFY_PEER, nullptr);
        m_fd = ::socket(AF_INET, SOCK_STREAM, 0);
        REQUIRE(m_fd >= 0);
        timeval tv{.tv_sec = 10, .tv_usec = 0};
        ::setsockopt(m_fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        sockaddr_in addr{};
        addr.sin_family = AF_INET;
        addr.sin_port = htons(static_cast<std::uint16_t>(port));
        addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        REQUIRE(::connect(m_fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
        m_ssl = SSL_new(m_ctx);
        SSL_set_fd(m_ssl, m_fd);
        SSL_set_tlsext_host_name(m_ssl, "localhost");
        REQUIRE(SSL_connect(m_ssl) == 1);
    }
    ~TlsClient()
    {
        SSL_free(m_ssl);
        SSL_CTX_free(m_ctx);
        ::close(m_fd);
    }
    TlsClient(const TlsClient&) = delete;
    TlsClient& operator=(const TlsClient&) = delete;

    bool send(const std::string& bytes)
    {
        return SSL_write(m_ssl, bytes.data(), static_cast<int>(bytes.size())) == static_cast<int>(bytes.size());
    }
    /// Reads until `needle` has arrived (true) or the connection ends or 10 s pass (false).
    bool read_until(std::string_view needle)
    {
        while (m_got.find(needle) == std::string::npos) {
            std::array<char, 4096> buf{};
            const int n = SSL_read(m_ssl, buf.data(), static_cast<int>(buf.size()));
            if (n <= 0) {
                m_last_error = SSL_get_error(m_ssl, n);
                return false;
            }
            m_got.append(buf.data(), static_cast<std::size_t>(n));
        }
        return true;
    }
    const std::string& got() const { return m_got; }
    int last_error() const { return m_last_error; }

private:
    SSL_CTX* m_ctx = nullptr;
    SSL* m_ssl = nullptr;
    int m_fd = -1;
    std::string m_got;
    int m_last_error = 0;
};

std::string get(std::string_view path)
{
    return "GET " + std::string(path) + " HTTP/1.1\r\nHost: localhost\r\n\r\n";
}

}  // namespace

TEST_CASE("over TLS, three pipelined requests in one write get three answers in order")
{
    const auto c = make_cert("pipeline");
    TlsServer s(c);
    TlsClient client(s.port, c.cert);
    // One TLS record carries all three: after the first answer the next requests are already
    // decrypted or buffered inside OpenSSL, where the socket shows nothing to read.
    REQUIRE(client.send(get("/exact") + get("/pre/2") + get("/pre/3")));
    REQUIRE(client.read_until("prefix:/pre/3"));
    const auto& got = client.got();
    const auto a = got.find("exact");
    const auto b = got.find("prefix:/pre/2");
    CHECK(a < b);
    CHECK(b < got.find("prefix:/pre/3"));
    fs::remove_all(c.dir);
}

TEST_CASE("over TLS, a chunked stream arrives whole and the connection stays open for the next request")
{
    const auto c = make_cert("stream");
    TlsServer s(c);
    TlsClient client(s.port, c.cert);
    REQUIRE(client.send(get("/stream")));
    REQUIRE(client.read_until("0\r\n\r\n"));
    CHECK(client.got().find("Transfer-Encoding: chunked") != std::string::npos);
    CHECK(client.got().find("part0;") != std::string::npos);
    CHECK(client.got().find("part2;") != std::string::npos);
    REQUIRE(client.send(get("/exact")));
    CHECK(client.read_until("exact"));
    fs::remove_all(c.dir);
}

TEST_CASE("stop() closes an idle TLS keep-alive connection at once, with a TLS close_notify")
{
    const auto c = make_cert("stop");
    auto s = std::make_unique<TlsServer>(c);
    TlsClient client(s->port, c.cert);
    REQUIRE(client.send(get("/exact")));
    REQUIRE(client.read_until("exact"));
    const auto start = std::chrono::steady_clock::now();
    s->server.stop();
    s->thread.join();
    CHECK(std::chrono::steady_clock::now() - start < 5s);  // not the 60 s keep-alive
    CHECK_FALSE(client.read_until("never"));
    CHECK(client.last_error() == SSL_ERROR_ZERO_RETURN);  // closed cleanly, not cut
    s.reset();
    fs::remove_all(c.dir);
}

TEST_CASE("make_tls_context refuses a key every user can read, a missing file and a key of another certificate")
{
    const auto a = make_cert("ctx-a");
    const auto b = make_cert("ctx-b");
    CHECK(make_tls_context(a.cert, a.key).has_value());

    fs::permissions(a.key, fs::perms::others_read, fs::perm_options::add);
    auto readable = make_tls_context(a.cert, a.key);
    REQUIRE_FALSE(readable);
    CHECK(readable.error().find("chmod 600") != std::string::npos);
    fs::permissions(a.key, fs::perms::others_read, fs::perm_options::remove);

    auto missing = make_tls_context(a.dir / "nope.pem", a.key);
    REQUIRE_FALSE(missing);
    CHECK(missing.error().find("cannot load the TLS certificate") != std::string::npos);

    auto mismatch = make_tls_context(a.cert, b.key);
    REQUIRE_FALSE(mismatch);
    CHECK_MESSAGE(mismatch.error().find("does not belong") != std::string::npos, mismatch.error());
    fs::remove_all(a.dir);
    fs::remove_all(b.dir);
}

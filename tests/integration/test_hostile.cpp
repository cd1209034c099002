// A hostile client over real HTTP: every bad request gets its 4xx/5xx in the caller's shape,
// no input crashes the daemon, and the next normal request is served.

#include "tests/integration/harness.hpp"

#include <doctest/doctest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <thread>

using aigw::test::body_of;
using aigw::test::connect_to;
using aigw::test::Daemon;
using aigw::test::FakeUpstream;
using aigw::test::raw_request;
using aigw::test::read_until;
using aigw::test::send_all;
using aigw::test::status_of;
using nlohmann::json;

namespace {

/// The daemon still serves a normal request.
void still_serves(const Daemon& d)
{
    auto r = d.post("/v1/chat/completions",
                    {{"model", "mock/echo"}, {"messages", {{{"role", "user"}, {"content", "ok?"}}}}});
    REQUIRE(r);
    CHECK(r->status == 200);
}

long rss_kb(int pid)
{
    auto text = aigw::test::slurp("/proc/" + std::to_string(pid) + "/status");
    auto p = text.find("VmRSS:");
    return p == std::string::npos ? 0 : std::atol(text.c_str() + p + 6);
}

}  // namespace

TEST_CASE("invalid UTF-8 in a path is a 404 in OpenAI's shape, with or without a key, and the daemon goes on")
{
    FakeUpstream up;
    Daemon d(&up);
    for (const std::string path : {"/%FF", "/v1/%C3", "/aigw/v1/logs/%FF"}) {
        auto r = raw_request(
            d.port(), "GET " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer test-gateway-key\r\n\r\n",
            "}}");
        CHECK(status_of(r) == 404);
        auto body = json::parse(body_of(r), nullptr, false);
        CHECK_MESSAGE(body.contains("error"), r);
    }
    still_serves(d);
}

TEST_CASE("JSON nested 100,000 levels deep is a 400 on every surface, not a stack overflow")
{
    FakeUpstream up;
    Daemon d(&up);
    std::string deep = std::string(100'000, '[') + std::string(100'000, ']');
    std::string chat = R"({"model":"mock/echo","messages":[{"role":"user","content":)" + deep + "}]}";
    auto r = d.client().Post("/v1/chat/completions", chat, "application/json");
    REQUIRE(r);
    CHECK(r->status == 400);
    httplib::Headers h = {{"x-api-key", "test-gateway-key"}, {"anthropic-version", "2023-06-01"}};
    std::string msgs = R"({"model":"mock/echo","max_tokens":10,"metadata":)" + deep + R"(,"messages":[]})";
    r = d.client().Post("/v1/messages", h, msgs, "application/json");
    REQUIRE(r);
    CHECK(r->status == 400);
    CHECK(json::parse(r->body, nullptr, false).value("type", "") == "error");
    r = d.client().Post("/v1/embeddings", R"({"model":"mock/embed","input":)" + deep + "}", "application/json");
    REQUIRE(r);
    CHECK(r->status == 400);
    still_serves(d);
}

TEST_CASE("wrong types are 400s in the surface's shape, never a 500")
{
    FakeUpstream up;
    Daemon d(&up);
    const json bad_chats[] = {
        {{"model", "mock/echo"}, {"max_tokens", "x"}, {"messages", {{{"role", "user"}, {"content", "hi"}}}}},
        {{"model", "mock/echo"}, {"stream", "yes"}, {"messages", {{{"role", "user"}, {"content", "hi"}}}}},
        {{"model", "mock/echo"}, {"tools", {1}}, {"messages", {{{"role", "user"}, {"content", "hi"}}}}},
        {{"model", "mock/echo"}, {"messages", {{{"role", "user"}, {"content", {1}}}}}},
    };
    for (const auto& body : bad_chats) {
        auto r = d.post("/v1/chat/completions", body);
        REQUIRE(r);
        CHECK_MESSAGE(r->status == 400, std::string(body.dump() + " -> " + r->body));
        CHECK(json::parse(r->body, nullptr, false).contains("error"));
    }
    httplib::Headers h = {{"x-api-key", "test-gateway-key"}, {"anthropic-version", "2023-06-01"}};
    auto r = d.client().Post("/v1/messages", h,
                             R"({"model":"mock/echo","max_tokens":"x","messages":[{"role":"user","content":"hi"}]})",
                             "application/json");
    REQUIRE(r);
    CHECK(r->status == 400);
    CHECK(json::parse(r->body, nullptr, false).value("type", "") == "error");
    still_serves(d);
}

TEST_CASE("header values with invalid bytes (tag, fallback list) never break a response or the logs")
{
    FakeUpstream up;
    Daemon d(&up);
    std::string req =
        "POST /v1/chat/completions HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer test-gateway-key\r\n"
        "x-aigw-tag: \xff\xfe\r\nx-aigw-fallback: mock/\xff\r\nContent-Type: application/json\r\n";
    std::string body = R"({"model":"openai/nosuch-model-x","messages":[{"role":"user","content":"hi"}]})";
    req += "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
    auto r = raw_request(d.port(), req, "}}");
    CHECK(status_of(r) > 0);
    auto logs = d.get("/aigw/v1/logs?limit=5");
    REQUIRE(logs);
    CHECK(logs->status == 200);
    CHECK(json::parse(logs->body, nullptr, false).is_object());
    still_serves(d);
}

TEST_CASE("a Host that is not a localhost name is refused (DNS rebinding), localhost names pass")
{
    FakeUpstream up;
    Daemon d(&up);
    auto r = raw_request(d.port(), "GET /health HTTP/1.1\r\nHost: evil.example\r\n\r\n", "}");
    CHECK(status_of(r) == 403);
    CHECK(body_of(r).find("allowed_hosts") != std::string::npos);
    r = raw_request(d.port(), "GET /health HTTP/1.1\r\nHost: localhost:" + std::to_string(d.port()) + "\r\n\r\n", "}");
    CHECK(status_of(r) == 200);
}

TEST_CASE("/health and /ready answer a load balancer without a key; /ready says ready as JSON")
{
    FakeUpstream up;
    Daemon d(&up);
    auto r = raw_request(d.port(), "GET /ready HTTP/1.1\r\nHost: localhost\r\n\r\n", "}");
    CHECK(status_of(r) == 200);
    CHECK(json::parse(body_of(r), nullptr, false) == json{{"status", "ready"}});
    r = raw_request(d.port(), "GET /health HTTP/1.1\r\nHost: localhost\r\n\r\n", "}");
    CHECK(status_of(r) == 200);
    CHECK(json::parse(body_of(r), nullptr, false)["status"] == "ok");
    r = raw_request(d.port(), "GET /ready HTTP/1.1\r\nHost: evil.example\r\n\r\n", "}");
    CHECK(status_of(r) == 403);
}

TEST_CASE("a body over the limit is refused with 413 before it is read, chunked too; huge headers get 431")
{
    FakeUpstream up;
    Daemon d(&up);
    auto r = raw_request(d.port(),
                         "POST /v1/chat/completions HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
                         "Content-Length: 1073741824\r\n\r\n{",
                         "}}");
    CHECK(status_of(r) == 413);
    CHECK(json::parse(body_of(r), nullptr, false).contains("error"));

    int fd = connect_to(d.port());
    send_all(fd, "POST /v1/chat/completions HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n");
    const std::string piece = "100000\r\n" + std::string(0x100000, 'a') + "\r\n";  // 1 MiB chunks
    std::string answer;
    for (int i = 0; i < 200 && answer.empty(); ++i) {  // at most 200 MiB; refused long before
        send_all(fd, piece);
        pollfd p{fd, POLLIN, 0};
        if (::poll(&p, 1, 0) > 0) {
            answer = read_until(fd, "}}", 2000);
        }
    }
    if (answer.empty()) {
        answer = read_until(fd, "}}", 5000);
    }
    ::close(fd);
    CHECK(status_of(answer) == 413);

    r = raw_request(d.port(),
                    "GET /health HTTP/1.1\r\nHost: localhost\r\nX-Big: " + std::string(200'000, 'x') + "\r\n\r\n", "}");
    CHECK(status_of(r) == 431);
    still_serves(d);
}

TEST_CASE("a client that dribbles its request is cut off while others are served meanwhile")
{
    FakeUpstream up;
    Daemon d(&up, {.config_toml = "[server]\nheader_timeout_ms = 1500\n"});
    int slow = connect_to(d.port());
    send_all(slow, "POST /v1/chat/completions HTTP/1.1\r\n");
    for (int i = 0; i < 3; ++i) {
        send_all(slow, "X");
        still_serves(d);
        std::this_thread::sleep_for(std::chrono::milliseconds(300));
    }
    // Past the header deadline the connection is answered (408) or closed, never left hanging.
    auto rest = read_until(slow, {}, 8000);
    ::close(slow);
    CHECK((rest.empty() || status_of(rest) == 408));
    still_serves(d);
}

TEST_CASE("pipelined requests all get answers, in order; HTTP/1.0 gets Content-Length framing")
{
    FakeUpstream up;
    Daemon d(&up);
    int fd = connect_to(d.port());
    send_all(fd,
             "GET /health HTTP/1.1\r\nHost: localhost\r\n\r\nGET /health HTTP/1.1\r\nHost: localhost\r\n\r\n"
             "GET /nosuch HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
    auto all = read_until(fd, {}, 5000);
    ::close(fd);
    CHECK(all.find("HTTP/1.1 200") != std::string::npos);
    CHECK(all.find("HTTP/1.1 200", all.find("HTTP/1.1 200") + 1) != std::string::npos);
    CHECK(all.find("HTTP/1.1 404") > all.rfind("HTTP/1.1 200"));
    auto r10 = raw_request(d.port(), "GET /health HTTP/1.0\r\n\r\n", "}");
    CHECK(r10.starts_with("HTTP/1.0 200"));
    CHECK(r10.find("Content-Length:") != std::string::npos);
    CHECK(r10.find("chunked") == std::string::npos);
}

TEST_CASE("a handler that throws answers 500 in the surface's shape and the next request is served")
{
    FakeUpstream up;
    Daemon d(&up, {.env = {{"AIGW_TEST_HOOKS", "1"}}});
    auto r = d.post("/aigw/v1/debug/throw", json::object());
    REQUIRE(r);
    CHECK(r->status == 500);
    CHECK(json::parse(r->body, nullptr, false).contains("error"));
    still_serves(d);
    CHECK(aigw::test::slurp(d.log_file()).find("debug/throw") != std::string::npos);
}

namespace {

/// An upstream that answers every request with an endless SSE stream as fast as the socket
/// takes it, counting the bytes it managed to send.
class FireHose {
public:
    FireHose()
    {
        m_fd = ::socket(AF_INET, SOCK_STREAM, 0);
        int yes = 1;
        ::setsockopt(m_fd, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
        sockaddr_in addr{};
        addr.sin_family = AF_INET;
        addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        REQUIRE(::bind(m_fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
        REQUIRE(::listen(m_fd, 16) == 0);
        socklen_t len = sizeof addr;
        ::getsockname(m_fd, reinterpret_cast<sockaddr*>(&addr), &len);
        m_port = ntohs(addr.sin_port);
        m_thread = std::thread([this] { serve(); });
    }
    ~FireHose()
    {
        m_stop = true;
        ::shutdown(m_fd, SHUT_RDWR);
        ::close(m_fd);
        m_thread.join();
    }
    int port() const { return m_port; }
    std::size_t sent() const { return m_sent.load(); }

private:
    void serve()
    {
        int c = ::accept(m_fd, nullptr, nullptr);
        if (c < 0) {
            return;
        }
        read_until(c, "\r\n\r\n", 5000);
        send_all(c, "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nConnection: close\r\n\r\n");
        const std::string chunk =
            R"(data: {"id":"x","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"content":")" +
            std::string(900, 'z') + "\"},\"finish_reason\":null}]}\n\n";
        timeval tv{0, 200'000};
        ::setsockopt(c, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
        while (!m_stop && m_sent < (512u << 20)) {
            auto n = ::send(c, chunk.data(), chunk.size(), MSG_NOSIGNAL);
            if (n > 0) {
                m_sent += static_cast<std::size_t>(n);
            } else if (errno != EAGAIN && errno != EWOULDBLOCK) {
                break;
            }
        }
        ::close(c);
    }

    int m_fd = -1;
    int m_port = 0;
    std::thread m_thread;
    std::atomic<bool> m_stop{false};
    std::atomic<std::size_t> m_sent{0};
};

}  // namespace

TEST_CASE("a client that stops reading a stream slows the upstream read instead of growing the daemon")
{
    FireHose hose;
    FakeUpstream up;
    Daemon d(&up, {.env = {{"AIGW_OPENAI_BASE_URL", "http://127.0.0.1:" + std::to_string(hose.port()) + "/v1"}}});
    const long rss_before = rss_kb(d.process().pid());
    int fd = connect_to(d.port());
    int small = 4096;
    ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
    const std::string body =
        R"({"model":"openai/gpt-4o-mini","stream":true,"messages":[{"role":"user","content":"hi"}]})";
    send_all(fd,
             "POST /v1/chat/completions HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer test-gateway-key\r\n"
             "Content-Type: application/json\r\nContent-Length: " +
                 std::to_string(body.size()) + "\r\n\r\n" + body);
    // Never read. Give the relay time to fill every buffer it is allowed to fill.
    std::this_thread::sleep_for(std::chrono::seconds(3));
    const std::size_t sent = hose.sent();
    const long rss_after = rss_kb(d.process().pid());
    ::close(fd);
    MESSAGE("upstream sent " << sent / 1024 << " KiB; daemon RSS " << rss_before / 1024 << " -> " << rss_after / 1024
                             << " MiB");
    CHECK(sent < (64u << 20));                   // without backpressure it would be all 512 MiB
    CHECK(rss_after - rss_before < 100 * 1024);  // and not held in the daemon
    still_serves(d);
}

TEST_CASE("2,000 concurrent slow streams all complete (loopback, bounded in time)")
{
    rlimit rl{};
    ::getrlimit(RLIMIT_NOFILE, &rl);
    rl.rlim_cur = rl.rlim_max;
    ::setrlimit(RLIMIT_NOFILE, &rl);
    FakeUpstream up;
    Daemon d(&up);
    const int n = 2000;
    const std::string body =
        R"({"model":"mock/slow","stream":true,"messages":[{"role":"user","content":"one two three four"}]})";
    const std::string req =
        "POST /v1/chat/completions HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer test-gateway-key\r\n"
        "Content-Type: application/json\r\nConnection: close\r\nContent-Length: " +
        std::to_string(body.size()) + "\r\n\r\n" + body;
    std::vector<int> fds;
    std::vector<std::string> got(n);
    for (int i = 0; i < n; ++i) {
        int fd = connect_to(d.port());
        send_all(fd, req);
        fds.push_back(fd);
    }
    std::vector<pollfd> polls;
    for (int fd : fds) {
        polls.push_back({fd, POLLIN, 0});
    }
    int open_count = n;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    char buf[8192];
    while (open_count > 0 && std::chrono::steady_clock::now() < deadline) {
        if (::poll(polls.data(), polls.size(), 200) <= 0) {
            continue;
        }
        for (std::size_t i = 0; i < polls.size(); ++i) {
            if (polls[i].fd < 0 || !(polls[i].revents & (POLLIN | POLLHUP | POLLERR))) {
                continue;
            }
            auto k = ::recv(polls[i].fd, buf, sizeof buf, 0);
            if (k > 0) {
                got[i].append(buf, static_cast<std::size_t>(k));
            } else {
                ::close(polls[i].fd);
                polls[i].fd = -1;
                --open_count;
            }
        }
    }
    int complete = 0;
    for (auto& g : got) {
        complete += g.starts_with("HTTP/1.1 200") && g.find("data: [DONE]") != std::string::npos ? 1 : 0;
    }
    for (auto& p : polls) {
        if (p.fd >= 0) {
            ::close(p.fd);
        }
    }
    CHECK(complete == n);
    still_serves(d);
}

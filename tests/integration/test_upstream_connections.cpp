// The upstream connection pool against an upstream that drops idle keep-alive connections.

#include "tests/integration/harness.hpp"

#include <doctest/doctest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <thread>

using aigw::test::Daemon;
using nlohmann::json;

namespace {

/// A raw HTTP/1.1 upstream. Connection 1 answers its first request with keep-alive and then
/// drops the connection when the next request arrives, without answering: what a server
/// does when its idle timeout and our reuse cross. Later connections answer normally.
class DroppingUpstream {
public:
    DroppingUpstream()
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
    ~DroppingUpstream()
    {
        m_stop = true;
        ::shutdown(m_fd, SHUT_RDWR);
        ::close(m_fd);
        m_thread.join();
    }
    int port() const { return m_port; }
    int connections() const { return m_connections.load(); }

private:
    static bool read_request(int c)
    {
        std::string buf;
        char tmp[4096];
        while (true) {
            auto n = ::recv(c, tmp, sizeof tmp, 0);
            if (n <= 0) {
                return false;
            }
            buf.append(tmp, static_cast<std::size_t>(n));
            auto end = buf.find("\r\n\r\n");
            if (end == std::string::npos) {
                continue;
            }
            auto cl = buf.find("Content-Length: ");
            std::size_t body = cl == std::string::npos ? 0 : std::stoul(buf.substr(cl + 16));
            if (buf.size() >= end + 4 + body) {
                return true;
            }
        }
    }
    static void answer(int c)
    {
        const std::string body =
            R"({"id":"x","object":"chat.completion","created":1,"model":"m","choices":[{"index":0,"message":{"role":"assistant","content":"pooled ok"},"finish_reason":"stop"}],"usage":{"prompt_tokens":1,"completion_tokens":2,"total_tokens":3}})";
        std::string resp =
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: keep-alive\r\nContent-Length: " +
            std::to_string(body.size()) + "\r\n\r\n" + body;
        auto n = ::send(c, resp.data(), resp.size(), MSG_NOSIGNAL);
        (void)n;
    }
    void serve()
    {
        while (!m_stop) {
            int c = ::accept(m_fd, nullptr, nullptr);
            if (c < 0) {
                return;
            }
            const int nth = ++m_connections;
            std::thread([c, nth] {
                int served = 0;
                while (read_request(c)) {
                    if (nth == 1 && served == 1) {
                        // Drop with a reset, as a server that already closed the socket does.
                        linger lg{1, 0};
                        ::setsockopt(c, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
                        break;
                    }
                    answer(c);
                    ++served;
                }
                ::close(c);
            }).detach();
        }
    }

    int m_fd = -1;
    int m_port = 0;
    std::atomic<bool> m_stop{false};
    std::atomic<int> m_connections{0};
    std::thread m_thread;
};

json chat(bool stream)
{
    json body = {{"model", "openai/gpt-4o-mini"}, {"messages", json::array({{{"role", "user"}, {"content", "x"}}})}};
    if (stream) {
        body["stream"] = true;
    }
    return body;
}

}  // namespace

TEST_CASE("a pooled connection the upstream dropped is retried once on a new connection")
{
    DroppingUpstream up;
    Daemon d(nullptr, {.env = {{"OPENAI_API_KEY", "sk-x"},
                               {"AIGW_OPENAI_BASE_URL", "http://127.0.0.1:" + std::to_string(up.port()) + "/v1"}}});
    auto first = d.post("/v1/chat/completions", chat(false));
    REQUIRE(first);
    CHECK(first->status == 200);
    // Same pooled connection: the upstream drops it; the client still gets its answer.
    auto second = d.post("/v1/chat/completions", chat(false));
    REQUIRE(second);
    CHECK_MESSAGE(second->status == 200, second->body);
    CHECK(json::parse(second->body)["choices"][0]["message"]["content"] == "pooled ok");
    CHECK(up.connections() == 2);
}

// A slow-streaming upstream for the long-stream benchmark: every POST .../chat/completions
// answers with an SSE stream of N chunks, INTERVAL ms apart (defaults: 20 chunks, 100 ms: a
// 2 s answer), then a usage chunk and [DONE]; every POST .../messages, as Anthropic streams:
// message_start and content_block_start with the first of N text deltas, the rest INTERVAL
// ms apart, then content_block_stop, message_delta with the usage, and message_stop. Built on
// aigwd's own event-driven server, so thousands of concurrent streams cost it little.
//
// usage: slow-upstream [--port P] [--chunks N] [--interval-ms MS] [--threads T]
// Prints "listening <port>" once bound.

#include "daemon/http/server.hpp"

#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <csignal>
#include <iostream>
#include <thread>

namespace asio = boost::asio;
using namespace aigw::daemon;

int main(int argc, char** argv)
{
    http::ServerOptions opts;
    opts.port = 0;
    opts.threads = 1;
    opts.allowed_hosts = {"*"};
    int chunks = 20;
    int interval_ms = 100;
    for (int i = 1; i + 1 < argc; i += 2) {
        const std::string_view flag = argv[i];
        const int v = std::atoi(argv[i + 1]);
        if (flag == "--port") {
            opts.port = v;
        } else if (flag == "--chunks") {
            chunks = v;
        } else if (flag == "--interval-ms") {
            interval_ms = v;
        } else if (flag == "--threads") {
            opts.threads = v;
        } else {
            std::cerr << "usage: slow-upstream [--port P] [--chunks N] [--interval-ms MS] [--threads T]\n";
            return 2;
        }
    }
    auto stream = [chunks, interval_ms](http::Request&, http::Responder& out) -> asio::awaitable<void> {
        http::Response head;
        head.set_header("Content-Type", "text/event-stream");
        if (!co_await out.begin_stream(std::move(head))) {
            co_return;
        }
        asio::steady_timer timer(co_await asio::this_coro::executor);
        const std::string prefix =
            R"(data: {"id":"chatcmpl-slow","object":"chat.completion.chunk","created":1,"model":"slow","choices":[{"index":0,"delta":{)";
        for (int i = 0; i < chunks; ++i) {
            if (i > 0) {
                timer.expires_after(std::chrono::milliseconds(interval_ms));
                co_await timer.async_wait(asio::use_awaitable);
            }
            std::string line =
                prefix +
                (i == 0 ? R"("role":"assistant","content":"w0 ")" : R"("content":"w)" + std::to_string(i) + R"( ")") +
                "},\"finish_reason\":null}]}\n\n";
            if (!co_await out.write(line)) {
                co_return;
            }
        }
        co_await out.end_stream(
            prefix +
            R"(},"finish_reason":"stop"}]})"
            "\n\n"
            R"(data: {"id":"chatcmpl-slow","object":"chat.completion.chunk","created":1,"model":"slow","choices":[],"usage":{"prompt_tokens":10,"completion_tokens":20,"total_tokens":30}})"
            "\n\ndata: [DONE]\n\n");
    };
    auto messages = [chunks, interval_ms](http::Request&, http::Responder& out) -> asio::awaitable<void> {
        http::Response head;
        head.set_header("Content-Type", "text/event-stream");
        if (!co_await out.begin_stream(std::move(head))) {
            co_return;
        }
        asio::steady_timer timer(co_await asio::this_coro::executor);
        std::string events =
            "event: message_start\n"
            R"(data: {"type":"message_start","message":{"id":"msg_slow","type":"message","role":"assistant",)"
            R"("model":"slow","content":[],"stop_reason":null,"stop_sequence":null,)"
            R"("usage":{"input_tokens":10,"cache_creation_input_tokens":0,"cache_read_input_tokens":0,"output_tokens":1}}})"
            "\n\nevent: content_block_start\n"
            R"(data: {"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}})"
            "\n\n";
        for (int i = 0; i < chunks; ++i) {
            if (i > 0) {
                timer.expires_after(std::chrono::milliseconds(interval_ms));
                co_await timer.async_wait(asio::use_awaitable);
            }
            events +=
                "event: content_block_delta\n"
                R"(data: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"w)" +
                std::to_string(i) + " \"}}\n\n";
            if (!co_await out.write(events)) {
                co_return;
            }
            events.clear();
        }
        co_await out.end_stream(
            "event: content_block_stop\n"
            R"(data: {"type":"content_block_stop","index":0})"
            "\n\nevent: message_delta\n"
            R"(data: {"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},)"
            R"("usage":{"output_tokens":)" +
            std::to_string(chunks) +
            "}}\n\nevent: message_stop\n"
            R"(data: {"type":"message_stop"})"
            "\n\n");
    };
    http::Routes routes;
    routes.add("POST", "/v1/chat/completions", stream);
    routes.add("POST", "/chat/completions", stream);
    routes.add("POST", "/v1/messages", messages);
    routes.add("POST", "/messages", messages);
    http::Server server(
        opts, std::move(routes),
        [](http::Request&, http::Responder& out) -> asio::awaitable<void> {
            http::Response r;
            r.status = 404;
            r.set_content(R"({"error":{"message":"not found"}})");
            co_await out.send(std::move(r));
        },
        [](const http::Request&, const aigw::wire::Failure& f) {
            http::Response r;
            r.status = f.status;
            r.set_content(R"({"error":{"message":"error"}})");
            return r;
        });
    auto port = server.bind();
    if (!port) {
        std::cerr << "slow-upstream: " << port.error() << "\n";
        return 1;
    }
    std::cout << "listening " << *port << std::endl;
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &sigs, nullptr);
    std::thread waiter([&] {
        int sig = 0;
        sigwait(&sigs, &sig);
        server.stop();
    });
    server.run();
    pthread_kill(waiter.native_handle(), SIGTERM);
    waiter.join();
    return 0;
}

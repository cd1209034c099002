// fake-upstream [--host 127.0.0.1] [--port 0] [--threads 320]
// Prints "listening <port>" once the socket is bound, then serves until SIGTERM/SIGINT.

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <pthread.h>
#include <sys/socket.h>
#include <string>
#include <thread>
#include <unistd.h>

#include "tests/fake_upstream/control.hpp"
#include "tests/fake_upstream/faults.hpp"

namespace aigw::fake {

namespace {

/// httplib listens with a backlog of 5; 300 clients connecting at once (wrk) would overflow it
/// and wait for SYN retransmits. Linux lets listen() on a listening socket raise the backlog.
class FakeServer : public httplib::Server {
public:
    void raise_backlog(int backlog) { ::listen(svr_sock_, backlog); }
};

void usage(const char* argv0)
{
    std::fprintf(stderr,
                 "usage: %s [--host 127.0.0.1] [--port 0] [--threads 320]\n"
                 "Fake OpenAI / Anthropic / Gemini / Azure / Cohere / Bedrock upstream with fault injection; see "
                 "tests/fake_upstream/README.md.\n",
                 argv0);
}

int fake_upstream_main(int argc, char** argv)
{
    std::string host = "127.0.0.1";
    int port = 0;
    long threads = 320;
    for (int i = 1; i < argc; ++i) {
        std::string arg = argv[i];
        auto value = [&]() -> std::string {
            if (i + 1 >= argc) {
                std::fprintf(stderr, "fake-upstream: %s needs a value\n", arg.c_str());
                std::exit(2);
            }
            return argv[++i];
        };
        if (arg == "--host") {
            host = value();
        } else if (arg == "--port") {
            port = std::atoi(value().c_str());
        } else if (arg == "--threads") {
            threads = std::max(1L, std::atol(value().c_str()));
        } else if (arg == "-h" || arg == "--help") {
            usage(argv[0]);
            return 0;
        } else {
            std::fprintf(stderr, "fake-upstream: unknown argument '%s'\n", arg.c_str());
            usage(argv[0]);
            return 2;
        }
    }

    // Block the stop signals in every thread; one thread waits for them with sigwait.
    sigset_t stop_signals;
    sigemptyset(&stop_signals);
    sigaddset(&stop_signals, SIGTERM);
    sigaddset(&stop_signals, SIGINT);
    pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
    std::signal(SIGPIPE, SIG_IGN);

    FaultBook faults;
    RequestLog log;
    FakeState state{&faults, &log};

    FakeServer svr;
    svr.new_task_queue = [threads] { return new httplib::ThreadPool(static_cast<std::size_t>(threads)); };
    svr.set_keep_alive_max_count(1000000);
    svr.set_tcp_nodelay(true);
    // httplib calls this for every status >= 400; only fill in bodies for unrouted requests.
    // Routed provider requests are recorded by their handlers (see recorded()).
    svr.set_error_handler(
        httplib::Server::HandlerWithResponse([&log](const httplib::Request& req, httplib::Response& res) {
            if (!res.body.empty() || res.content_provider_) {
                return httplib::Server::HandlerResponse::Unhandled;
            }
            log.record(req);  // unrouted: recorded too, to show a client calling the wrong path
            json err = {{"error",
                         {{"message", "fake-upstream: no route for " + req.method + " " + req.path},
                          {"type", "invalid_request_error"},
                          {"param", nullptr},
                          {"code", "unknown_url"}}}};
            res.set_content(err.dump(), "application/json");
            return httplib::Server::HandlerResponse::Handled;
        }));
    svr.set_exception_handler([](const httplib::Request&, httplib::Response& res, std::exception_ptr ep) {
        std::string what = "unknown exception";
        try {
            std::rethrow_exception(ep);
        } catch (const std::exception& e) {
            what = e.what();
        } catch (...) {
        }
        res.status = 500;
        json err = {{"error", {{"message", "fake-upstream bug: " + what}, {"type", "server_error"}}}};
        res.set_content(err.dump(), "application/json");
    });

    register_control(svr, state);
    register_openai(svr, state);
    register_anthropic(svr, state);
    register_gemini(svr, state);
    register_azure(svr, state);
    register_cohere(svr, state);
    register_bedrock(svr, state);
    register_responses(svr, state);
    register_mistral(svr, state);

    int bound = port == 0 ? svr.bind_to_any_port(host) : (svr.bind_to_port(host, port) ? port : -1);
    if (bound <= 0) {
        std::fprintf(stderr, "fake-upstream: cannot listen on %s:%d: %s\n", host.c_str(), port, std::strerror(errno));
        return 1;
    }
    svr.raise_backlog(1024);
    std::printf("listening %d\n", bound);
    std::fflush(stdout);

    std::thread([&svr, stop_signals] {
        int sig = 0;
        sigwait(&stop_signals, &sig);
        g_stopping = true;
        svr.stop();
        // Give in-flight answers a moment, then leave without waiting for idle keep-alive
        // connections (httplib would hold them for their timeout).
        std::this_thread::sleep_for(std::chrono::milliseconds(200));
        std::fflush(stdout);
        _exit(0);
    }).detach();

    svr.listen_after_bind();
    std::fflush(stdout);
    _exit(0);
}

}  // namespace

}  // namespace aigw::fake

int main(int argc, char** argv)
{
    return aigw::fake::fake_upstream_main(argc, argv);
}

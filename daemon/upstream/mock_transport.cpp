#include "daemon/upstream/mock_transport.hpp"

#include "daemon/providers/mock/mock.hpp"
#include "shared/wire/json_text.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <atomic>

namespace aigw::daemon::upstream {

namespace {

std::int64_t unix_s()
{
    return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch())
        .count();
}

std::string next_id()
{
    static std::atomic<std::uint64_t> counter{0};
    return "mock" + std::to_string(unix_s()) + "-" + std::to_string(counter.fetch_add(1));
}

HttpResponse json_response(int status, std::string body)
{
    HttpResponse r;
    r.status = status;
    r.headers.emplace_back("Content-Type", status == 200 ? "application/json" : "application/json");
    r.body = std::move(body);
    return r;
}

HttpResponse bad_request(std::string message)
{
    return json_response(400, wire::dump_json(wire::to_openai_error(wire::bad_request(std::move(message)))));
}

/// The body of an SSE stream, one piece per read, `delay` apart.
class MockBodyStream final : public BodyStream {
public:
    MockBodyStream(std::vector<std::string> pieces, std::chrono::milliseconds delay)
        : m_pieces(std::move(pieces)), m_delay(delay)
    {
        m_headers.emplace_back("Content-Type", "text/event-stream");
    }
    int status() const override { return 200; }
    const providers::HeaderList& headers() const override { return m_headers; }

    asio::awaitable<std::expected<bool, wire::Failure>> read(std::string& out, Clock::time_point deadline) override
    {
        if (m_cancelled) {
            co_return std::unexpected(cancelled());
        }
        if (m_next == m_pieces.size()) {
            co_return false;
        }
        if (m_next > 0 && m_delay.count() > 0) {
            const auto wake = Clock::now() + m_delay;
            asio::steady_timer timer(co_await asio::this_coro::executor, std::min(wake, deadline));
            m_timer = &timer;
            co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
            m_timer = nullptr;
            if (m_cancelled) {
                co_return std::unexpected(cancelled());
            }
            if (deadline < wake) {
                co_return std::unexpected(
                    wire::gateway_timeout("the mock stream's next chunk is later than the deadline"));
            }
        }
        out += m_pieces[m_next++];
        co_return true;
    }

    void cancel() override
    {
        m_cancelled = true;
        if (m_timer != nullptr) {
            m_timer->cancel();
        }
    }

private:
    static wire::Failure cancelled()
    {
        wire::Failure f;
        f.kind = wire::FailureKind::network;
        f.status = 502;
        f.message = "the mock stream was cancelled";
        return f;
    }

    std::vector<std::string> m_pieces;
    std::chrono::milliseconds m_delay;
    providers::HeaderList m_headers;
    std::size_t m_next = 0;
    bool m_cancelled = false;
    asio::steady_timer* m_timer = nullptr;
};

class MockTransport final : public Transport {
public:
    asio::awaitable<std::expected<HttpResponse, wire::Failure>> send(const std::string&,
                                                                     const providers::UpstreamRequest& req,
                                                                     Deadlines) override
    {
        auto body = nlohmann::json::parse(req.body, nullptr, false);
        if (!body.is_object()) {
            co_return bad_request("the mock provider needs a JSON object body");
        }
        const std::string model = body.value("model", std::string("echo"));
        if (req.path == "/embeddings") {
            co_return json_response(200, wire::dump_json(providers::mock::embeddings(body, model).body));
        }
        if (req.path != "/chat/completions") {
            co_return json_response(404,
                                    wire::dump_json(wire::to_openai_error(wire::model_not_found("mock" + req.path))));
        }
        co_return json_response(200, wire::dump_json(providers::mock::complete(body, model, next_id(), unix_s()).body));
    }

    asio::awaitable<std::expected<std::shared_ptr<BodyStream>, wire::Failure>> open(
        const std::string& base_url, const providers::UpstreamRequest& req, Deadlines deadlines) override
    {
        auto body = nlohmann::json::parse(req.body, nullptr, false);
        const bool stream = body.is_object() && body.value("stream", false);
        if (!stream || req.path != "/chat/completions") {
            // A whole answer, read through the stream interface.
            auto whole = co_await send(base_url, req, deadlines);
            if (!whole) {
                co_return std::unexpected(std::move(whole.error()));
            }
            class Whole final : public BodyStream {
            public:
                explicit Whole(HttpResponse r) : m_r(std::move(r)) {}
                int status() const override { return m_r.status; }
                const providers::HeaderList& headers() const override { return m_r.headers; }
                asio::awaitable<std::expected<bool, wire::Failure>> read(std::string& out, Clock::time_point) override
                {
                    if (m_done) {
                        co_return false;
                    }
                    m_done = true;
                    out += m_r.body;
                    co_return true;
                }
                void cancel() override { m_done = true; }

            private:
                HttpResponse m_r;
                bool m_done = false;
            };
            co_return std::make_shared<Whole>(std::move(*whole));
        }
        const std::string model = body.value("model", std::string("echo"));
        std::vector<std::string> pieces;
        for (const auto& chunk : providers::mock::stream_chunks(body, model, next_id(), unix_s())) {
            pieces.push_back("data: " + wire::dump_json(chunk) + "\n\n");
        }
        pieces.emplace_back("data: [DONE]\n\n");
        co_return std::make_shared<MockBodyStream>(std::move(pieces), providers::mock::chunk_delay(model));
    }
};

}  // namespace

std::unique_ptr<Transport> make_mock_transport()
{
    return std::make_unique<MockTransport>();
}

}  // namespace aigw::daemon::upstream

// OpenTelemetry traces end to end: aigwd against the fake upstream, exporting to a fake OTLP
// collector (an in-process HTTP server keeping every POST /v1/traces body). One request
// gives one SERVER span (a child of the client's traceparent) and one CLIENT span per
// upstream attempt, whose id is the traceparent the upstream received. A collector that is
// down costs dropped spans, never request latency.
#include "tests/integration/harness.hpp"

#include <doctest/doctest.h>

#include <mutex>
#include <regex>
#include <thread>

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

using aigw::test::Daemon;
using aigw::test::DaemonOptions;
using aigw::test::FakeUpstream;
using aigw::test::metric;
using nlohmann::json;

namespace {

using Clock = std::chrono::steady_clock;

constexpr const char* k_client_trace = "4bf92f3577b34da6a3ce929d0e0e4736";
constexpr const char* k_client_span = "00f067aa0ba902b7";

/// A fake OTLP/HTTP collector on a free port: keeps every span it is sent.
class FakeCollector {
public:
    FakeCollector()
    {
        m_server.Post("/v1/traces", [this](const httplib::Request& req, httplib::Response& res) {
            json body = json::parse(req.body, nullptr, false);
            std::lock_guard lock(m_mu);
            m_headers.push_back(req.get_header_value("x-collector-token"));
            if (body.is_discarded()) {
                m_bad_bodies++;
                res.status = 400;
                return;
            }
            for (const auto& rs : body["resourceSpans"]) {
                for (const auto& ss : rs["scopeSpans"]) {
                    for (const auto& s : ss["spans"]) {
                        json span = s;
                        span["service"] = "";
                        for (const auto& a : rs["resource"]["attributes"]) {
                            if (a["key"] == "service.name") {
                                span["service"] = a["value"]["stringValue"];
                            }
                        }
                        m_spans.push_back(std::move(span));
                    }
                }
            }
            res.set_content("{}", "application/json");
        });
        m_port = m_server.bind_to_any_port("127.0.0.1");
        m_thread = std::thread([this] { m_server.listen_after_bind(); });
        for (int i = 0; i < 1000 && !m_server.is_running(); ++i) {
            std::this_thread::sleep_for(std::chrono::milliseconds(1));  // the socket already listens
        }
    }
    ~FakeCollector()
    {
        m_server.stop();
        m_thread.join();
    }
    std::string endpoint() const { return "http://127.0.0.1:" + std::to_string(m_port); }

    /// The spans of `trace_id` once at least `n` arrived (waits up to 10 s; the exporter
    /// batches every second).
    std::vector<json> spans_of(const std::string& trace_id, std::size_t n)
    {
        const auto until = Clock::now() + std::chrono::seconds(10);
        while (true) {
            std::vector<json> out;
            {
                std::lock_guard lock(m_mu);
                for (const auto& s : m_spans) {
                    if (s["traceId"] == trace_id) {
                        out.push_back(s);
                    }
                }
            }
            if (out.size() >= n || Clock::now() > until) {
                return out;
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(50));
        }
    }
    std::vector<std::string> headers()
    {
        std::lock_guard lock(m_mu);
        return m_headers;
    }
    int bad_bodies()
    {
        std::lock_guard lock(m_mu);
        return m_bad_bodies;
    }

private:
    httplib::Server m_server;
    int m_port = 0;
    std::thread m_thread;
    std::mutex m_mu;
    std::vector<json> m_spans;
    std::vector<std::string> m_headers;
    int m_bad_bodies = 0;
};

json attr(const json& span, const std::string& key)
{
    for (const auto& a : span["attributes"]) {
        if (a["key"] == key) {
            return a["value"];
        }
    }
    return nullptr;
}

std::vector<json> of_kind(const std::vector<json>& spans, int kind)
{
    std::vector<json> out;
    for (const auto& s : spans) {
        if (s["kind"] == kind) {
            out.push_back(s);
        }
    }
    return out;
}

httplib::Result chat(const Daemon& d, const std::string& model, const httplib::Headers& headers)
{
    auto c = d.client();
    c.set_read_timeout(std::chrono::seconds(30));
    const json body = {{"model", model},
                       {"max_tokens", 50},
                       {"messages", json::array({{{"role", "user"}, {"content", "hello there world"}}})}};
    return c.Post("/v1/chat/completions", headers, body.dump(), "application/json");
}

/// The traceparents of the provider requests the fake upstream received, oldest first.
std::vector<std::string> upstream_traceparents(FakeUpstream& up)
{
    std::vector<std::string> out;
    const json requests = up.requests();
    for (const auto& r : requests) {
        out.push_back(r["headers"].value("traceparent", ""));
    }
    return out;
}

std::string otel_config(const std::string& endpoint)
{
    return "[otel]\nendpoint = \"" + endpoint +
           "\"\nservice_name = \"aigw-test\"\nheaders = { x-collector-token = \"tok-123\" }\n";
}

}  // namespace

TEST_CASE("otel: one request gives a SERVER span under the client's traceparent and a CLIENT span upstream sees")
{
    FakeCollector collector;
    FakeUpstream up;
    Daemon d(&up, DaemonOptions{.config_toml = otel_config(collector.endpoint())});
    const std::string client_tp = std::string("00-") + k_client_trace + "-" + k_client_span + "-01";
    auto r = chat(d, "openai/gpt-4o-mini", {{"traceparent", client_tp}, {"tracestate", "vendor=abc"}});
    REQUIRE(r);
    REQUIRE(r->status == 200);
    const json answer = json::parse(r->body);
    const std::string request_id = r->get_header_value("x-request-id");

    const auto spans = collector.spans_of(k_client_trace, 2);
    const auto servers = of_kind(spans, 2);
    const auto clients = of_kind(spans, 3);
    REQUIRE(servers.size() == 1);
    REQUIRE(clients.size() == 1);
    const json& server = servers[0];
    const json& client = clients[0];
    CHECK(server["service"] == "aigw-test");
    CHECK(server["parentSpanId"] == k_client_span);
    CHECK(server["name"] == "chat openai/gpt-4o-mini");
    CHECK(server["traceState"] == "vendor=abc");
    CHECK(attr(server, "gen_ai.operation.name")["stringValue"] == "chat");
    CHECK(attr(server, "gen_ai.request.model")["stringValue"] == "openai/gpt-4o-mini");
    CHECK(attr(server, "gen_ai.provider.name")["stringValue"] == "openai");
    CHECK(attr(server, "gen_ai.request.max_tokens")["intValue"] == "50");
    CHECK(attr(server, "aigw.request_id")["stringValue"] == request_id);
    CHECK(attr(server, "aigw.key_id")["stringValue"] == "default");
    CHECK(attr(server, "http.response.status_code")["intValue"] == "200");
    // Token counts as the fake upstream reported them (and the client got them).
    CHECK(attr(server, "gen_ai.usage.input_tokens")["intValue"] ==
          std::to_string(answer["usage"]["prompt_tokens"].get<int>()));
    CHECK(attr(server, "gen_ai.usage.output_tokens")["intValue"] ==
          std::to_string(answer["usage"]["completion_tokens"].get<int>()));
    CHECK(attr(server, "gen_ai.usage.input_tokens")["intValue"] == "6");

    CHECK(client["parentSpanId"] == server["spanId"]);
    CHECK(client["name"] == "chat gpt-4o-mini");
    CHECK(attr(client, "gen_ai.request.model")["stringValue"] == "gpt-4o-mini");
    CHECK(attr(client, "gen_ai.response.model")["stringValue"] == "gpt-4o-mini");
    CHECK(attr(client, "gen_ai.usage.output_tokens")["intValue"] == "4");
    CHECK(attr(client, "server.address")["stringValue"] == "127.0.0.1");
    CHECK(attr(client, "aigw.attempt.outcome")["stringValue"] == "success");
    CHECK(std::stoll(client["startTimeUnixNano"].get<std::string>()) >=
          std::stoll(server["startTimeUnixNano"].get<std::string>()));
    CHECK(std::stoll(client["endTimeUnixNano"].get<std::string>()) <=
          std::stoll(server["endTimeUnixNano"].get<std::string>()));

    // The upstream saw the attempt's span as its parent, and the client's tracestate.
    const json requests = up.requests();
    REQUIRE(requests.size() == 1);
    CHECK(requests[0]["headers"].value("traceparent", "") ==
          std::string("00-") + k_client_trace + "-" + client["spanId"].get<std::string>() + "-01");
    CHECK(requests[0]["headers"].value("tracestate", "") == "vendor=abc");
    // The collector got the configured header; no body was malformed.
    const auto seen = collector.headers();
    REQUIRE_FALSE(seen.empty());
    CHECK(seen[0] == "tok-123");
    CHECK(collector.bad_bodies() == 0);

    // Counted once the collector's answer is back (it may lag the spans' arrival a little).
    double exported = 0;
    for (int i = 0; i < 50 && exported < 2; ++i) {
        auto m = d.get("/metrics");
        REQUIRE(m);
        exported = metric(m->body, "aigw_otel_spans_exported_total");
        if (exported < 2) {
            std::this_thread::sleep_for(std::chrono::milliseconds(50));
        }
    }
    CHECK(exported == 2);
}

TEST_CASE("otel: a retried request shows both attempts as sibling CLIENT spans, each sent upstream")
{
    FakeCollector collector;
    FakeUpstream up;
    Daemon d(&up, DaemonOptions{.config_toml = otel_config(collector.endpoint())});
    up.add_fault({{"kind", "500"}, {"count", 1}, {"model_contains", "gpt-4o-mini"}});
    const std::string client_tp = std::string("00-") + k_client_trace + "-" + k_client_span + "-01";
    auto r = chat(d, "openai/gpt-4o-mini", {{"traceparent", client_tp}});
    REQUIRE(r);
    REQUIRE(r->status == 200);
    CHECK(r->get_header_value("x-aigw-attempts") == "2");

    const auto spans = collector.spans_of(k_client_trace, 3);
    const auto servers = of_kind(spans, 2);
    const auto clients = of_kind(spans, 3);
    REQUIRE(servers.size() == 1);
    REQUIRE(clients.size() == 2);
    CHECK(attr(servers[0], "aigw.attempts")["intValue"] == "2");
    for (const auto& c : clients) {
        CHECK(c["parentSpanId"] == servers[0]["spanId"]);
    }
    CHECK(clients[0]["spanId"] != clients[1]["spanId"]);
    CHECK(clients[0]["status"]["code"] == 2);
    CHECK(attr(clients[0], "http.response.status_code")["intValue"] == "500");
    CHECK(attr(clients[0], "error.type")["stringValue"] == "upstream");
    CHECK(clients[1]["status"]["code"] == 0);
    CHECK(attr(clients[1], "aigw.attempt.outcome")["stringValue"] == "success");
    CHECK(attr(clients[1], "aigw.attempt.reason")["stringValue"].get<std::string>().starts_with("retry 1"));

    // Each attempt went upstream with its own span id.
    const auto tps = upstream_traceparents(up);
    REQUIRE(tps.size() == 2);
    CHECK(tps[0] == std::string("00-") + k_client_trace + "-" + clients[0]["spanId"].get<std::string>() + "-01");
    CHECK(tps[1] == std::string("00-") + k_client_trace + "-" + clients[1]["spanId"].get<std::string>() + "-01");
}

TEST_CASE("otel: without a client traceparent a new trace starts; a malformed one is ignored, not an error")
{
    FakeCollector collector;
    FakeUpstream up;
    Daemon d(&up, DaemonOptions{.config_toml = otel_config(collector.endpoint())});
    auto r =
        chat(d, "openai/gpt-4o-mini", {{"traceparent", "00-00000000000000000000000000000000-00f067aa0ba902b7-01"}});
    REQUIRE(r);
    CHECK(r->status == 200);
    const auto tps = upstream_traceparents(up);
    REQUIRE(tps.size() == 1);
    static const std::regex k_shape("00-([0-9a-f]{32})-([0-9a-f]{16})-01");
    std::smatch m;
    REQUIRE(std::regex_match(tps[0], m, k_shape));
    const std::string trace_id = m[1];
    CHECK(trace_id != "00000000000000000000000000000000");
    const auto spans = collector.spans_of(trace_id, 2);
    const auto servers = of_kind(spans, 2);
    REQUIRE(servers.size() == 1);
    CHECK_FALSE(servers[0].contains("parentSpanId"));  // a root span
    REQUIRE(of_kind(spans, 3).size() == 1);
    CHECK(of_kind(spans, 3)[0]["spanId"] == m[2].str());
}

TEST_CASE("otel: with export off a client's traceparent goes upstream unchanged")
{
    FakeUpstream up;
    Daemon d(&up);
    const std::string client_tp = std::string("00-") + k_client_trace + "-" + k_client_span + "-01";
    auto r = chat(d, "openai/gpt-4o-mini", {{"traceparent", client_tp}, {"tracestate", "a=1"}});
    REQUIRE(r);
    CHECK(r->status == 200);
    const json requests = up.requests();
    REQUIRE(requests.size() == 1);
    CHECK(requests[0]["headers"].value("traceparent", "") == client_tp);
    CHECK(requests[0]["headers"].value("tracestate", "") == "a=1");
    auto m = d.get("/metrics");
    REQUIRE(m);
    CHECK(m->body.find("aigw_otel_") == std::string::npos);  // no exporter, no series
}

TEST_CASE("otel: a collector that is down costs dropped spans in /metrics, never request latency")
{
    FakeUpstream up;
    const int dead_port = aigw::test::free_port();
    Daemon d(&up, DaemonOptions{.config_toml = otel_config("http://127.0.0.1:" + std::to_string(dead_port))});
    const auto t0 = Clock::now();
    for (int i = 0; i < 5; ++i) {
        auto r = chat(d, "openai/gpt-4o-mini", {});
        REQUIRE(r);
        CHECK(r->status == 200);
    }
    // Five local round trips; an exporter on the request path would add its retries to each.
    CHECK(Clock::now() - t0 < std::chrono::seconds(2));

    double dropped = 0;
    double errors = 0;
    const auto until = Clock::now() + std::chrono::seconds(10);
    while (Clock::now() < until) {
        auto m = d.get("/metrics");
        REQUIRE(m);
        dropped = metric(m->body, "aigw_otel_spans_dropped_total{reason=\"export_failed\"}");
        errors = metric(m->body, "aigw_otel_export_errors_total");
        if (dropped >= 10) {
            break;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    CHECK(dropped == 10);  // 5 requests x (SERVER + CLIENT)
    CHECK(errors >= 1);
    auto m = d.get("/metrics");
    REQUIRE(m);
    CHECK(metric(m->body, "aigw_otel_spans_exported_total") == 0);
}

TEST_CASE("otel: a collector that accepts connections and never answers does not slow requests")
{
    // A listening socket nobody accepts from: connects succeed, every POST waits for its timeout.
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    REQUIRE(fd >= 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
    REQUIRE(::listen(fd, 64) == 0);
    socklen_t len = sizeof addr;
    REQUIRE(::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0);
    const int port = ntohs(addr.sin_port);
    {
        FakeUpstream up;
        Daemon d(&up, DaemonOptions{.config_toml = otel_config("http://127.0.0.1:" + std::to_string(port))});
        // Let the first batch go out and hang (the exporter flushes every second).
        REQUIRE(chat(d, "openai/gpt-4o-mini", {}));
        std::this_thread::sleep_for(std::chrono::milliseconds(1500));
        const auto t0 = Clock::now();
        for (int i = 0; i < 5; ++i) {
            auto r = chat(d, "openai/gpt-4o-mini", {});
            REQUIRE(r);
            CHECK(r->status == 200);
        }
        // An export on the request path would wait 3 s (the POST timeout) per request.
        CHECK(Clock::now() - t0 < std::chrono::seconds(3));
        auto m = d.get("/metrics");
        REQUIRE(m);
        CHECK(metric(m->body, "aigw_otel_spans_exported_total") == 0);
        CHECK(metric(m->body, "aigw_otel_queue_spans") == 10);  // waiting behind the stuck POST
    }
    ::close(fd);
}

TEST_CASE("otel: a streamed request's CLIENT span lasts until the stream ends and carries its usage")
{
    FakeCollector collector;
    FakeUpstream up;
    Daemon d(&up, DaemonOptions{.config_toml = otel_config(collector.endpoint())});
    const std::string client_tp = std::string("00-") + k_client_trace + "-" + k_client_span + "-01";
    auto c = d.client();
    c.set_read_timeout(std::chrono::seconds(30));
    const json body = {{"model", "openai/gpt-4o-mini"},
                       {"stream", true},
                       {"stream_options", {{"include_usage", true}}},
                       {"messages", json::array({{{"role", "user"}, {"content", "hello there world"}}})}};
    auto r = c.Post("/v1/chat/completions", {{"traceparent", client_tp}}, body.dump(), "application/json");
    REQUIRE(r);
    REQUIRE(r->status == 200);
    const auto spans = collector.spans_of(k_client_trace, 2);
    const auto servers = of_kind(spans, 2);
    const auto clients = of_kind(spans, 3);
    REQUIRE(servers.size() == 1);
    REQUIRE(clients.size() == 1);
    CHECK(attr(servers[0], "aigw.stream")["boolValue"] == true);
    CHECK(attr(clients[0], "gen_ai.usage.input_tokens")["intValue"] == "6");
    CHECK(attr(clients[0], "gen_ai.usage.output_tokens")["intValue"] == "4");
    CHECK(clients[0]["endTimeUnixNano"] == servers[0]["endTimeUnixNano"]);
    const auto tps = upstream_traceparents(up);
    REQUIRE(tps.size() == 1);
    CHECK(tps[0] == std::string("00-") + k_client_trace + "-" + clients[0]["spanId"].get<std::string>() + "-01");
}

TEST_CASE("otel: gen_ai.response.finish_reasons says why the answer ended, streamed, translated or native")
{
    FakeCollector collector;
    FakeUpstream up;
    Daemon d(&up, DaemonOptions{.config_toml = otel_config(collector.endpoint())});
    // The fake upstream stops at max_tokens words ("length"), else at the end of its echo ("stop").
    struct Case {
        const char* name;
        const char* path;
        std::string model;
        bool stream;
        int max_tokens;
        const char* want;
    };
    const std::vector<Case> cases{
        {"chat, whole", "/v1/chat/completions", "openai/gpt-4o-mini", false, 50, "stop"},
        {"chat, cut by max_tokens", "/v1/chat/completions", "openai/gpt-4o-mini", false, 2, "length"},
        {"chat, streamed and cut", "/v1/chat/completions", "openai/gpt-4o-mini", true, 2, "length"},
        {"messages, native passthrough, cut", "/v1/messages", "anthropic/claude-haiku-4-5", false, 2, "length"},
        {"messages, native stream", "/v1/messages", "anthropic/claude-haiku-4-5", true, 50, "stop"},
    };
    int n = 0;
    for (const auto& c : cases) {
        CAPTURE(c.name);
        const std::string trace = "4bf92f3577b34da6a3ce929d0e0e000" + std::to_string(++n);  // 32 hex digits
        REQUIRE(trace.size() == 32);
        const std::string tp = std::string("00-") + trace + "-" + k_client_span + "-01";
        json body = {{"model", c.model},
                     {"max_tokens", c.max_tokens},
                     {"messages", json::array({{{"role", "user"}, {"content", "hello there wide world"}}})}};
        if (c.stream) {
            body["stream"] = true;
        }
        auto cli = d.client();
        cli.set_read_timeout(std::chrono::seconds(30));
        auto r = cli.Post(c.path, {{"traceparent", tp}, {"anthropic-version", "2023-06-01"}}, body.dump(),
                          "application/json");
        REQUIRE(r);
        REQUIRE(r->status == 200);
        const auto spans = collector.spans_of(trace, 2);
        const auto servers = of_kind(spans, 2);
        const auto clients = of_kind(spans, 3);
        REQUIRE(servers.size() == 1);
        REQUIRE(clients.size() == 1);
        const json want = {{"arrayValue", {{"values", json::array({{{"stringValue", c.want}}})}}}};
        CHECK(attr(servers[0], "gen_ai.response.finish_reasons") == want);
        CHECK(attr(clients[0], "gen_ai.response.finish_reasons") == want);
    }
}

TEST_CASE("otel: a request that got no answer has no gen_ai.response.finish_reasons")
{
    FakeCollector collector;
    FakeUpstream up;
    Daemon d(&up, DaemonOptions{.config_toml = otel_config(collector.endpoint()) +
                                               "[routing]\nretries = 0\nbackoff_initial_ms = 10\n"});
    up.add_fault({{"kind", "500"}, {"count", 5}});
    const std::string tp = std::string("00-") + k_client_trace + "-" + k_client_span + "-01";
    auto r = chat(d, "openai/gpt-4o-mini", {{"traceparent", tp}});
    REQUIRE(r);
    CHECK(r->status == 500);
    const auto spans = collector.spans_of(k_client_trace, 2);
    const auto servers = of_kind(spans, 2);
    REQUIRE(servers.size() == 1);
    CHECK(attr(servers[0], "gen_ai.response.finish_reasons").is_null());
    CHECK(attr(servers[0], "http.response.status_code")["intValue"] == "500");
}

// OpenTelemetry's pure parts: W3C traceparent parsing and formatting, the OTLP/HTTP JSON
// encoding, the spans of one request (GenAI conventions), and the exporter's queue over an
// injected POST (a collector that is down, slow or refusing).
#include "daemon/pipeline/trace_spans.hpp"
#include "daemon/telemetry/exporter.hpp"
#include "daemon/telemetry/otlp_json.hpp"
#include "daemon/telemetry/trace_context.hpp"

#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include <atomic>
#include <thread>

using namespace aigw::daemon;
using nlohmann::json;

namespace {

constexpr const char* k_valid = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

/// The value of attribute `key` of an OTLP JSON span, or null.
json attr(const json& span, const std::string& key)
{
    for (const auto& a : span["attributes"]) {
        if (a["key"] == key) {
            return a["value"];
        }
    }
    return nullptr;
}

/// A span with a name and time, nothing else.
telemetry::Span named(std::string name)
{
    telemetry::Span s;
    s.trace_id = telemetry::random_trace_id();
    s.span_id = telemetry::random_span_id();
    s.name = std::move(name);
    s.start_unix_ns = 1;
    s.end_unix_ns = 2;
    return s;
}

}  // namespace

TEST_CASE("a valid traceparent gives its trace id, parent id and flags, and formats back the same")
{
    auto tp = telemetry::parse_traceparent(k_valid);
    REQUIRE(tp);
    CHECK(telemetry::to_hex(tp->trace_id) == "4bf92f3577b34da6a3ce929d0e0e4736");
    CHECK(telemetry::to_hex(tp->parent_id) == "00f067aa0ba902b7");
    CHECK(tp->sampled());
    CHECK(telemetry::format_traceparent(tp->trace_id, tp->parent_id, tp->flags) == k_valid);
    auto unsampled = telemetry::parse_traceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00");
    REQUIRE(unsampled);
    CHECK_FALSE(unsampled->sampled());
    CHECK(telemetry::parse_traceparent(std::string(" ") + k_valid + " "));  // optional whitespace
}

TEST_CASE("a later traceparent version is read by its first four fields; version ff is invalid")
{
    CHECK(telemetry::parse_traceparent("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"));
    CHECK(telemetry::parse_traceparent("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra"));
    CHECK_FALSE(telemetry::parse_traceparent("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01x"));
    CHECK_FALSE(telemetry::parse_traceparent("ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"));
    // Version 00 has exactly 55 characters.
    CHECK_FALSE(telemetry::parse_traceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra"));
}

TEST_CASE("malformed traceparents are rejected: all-zero ids, wrong lengths, upper case, bad separators")
{
    for (const char* bad : {
             "", "00",
             "00-00000000000000000000000000000000-00f067aa0ba902b7-01",  // all-zero trace id
             "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",  // all-zero parent id
             "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",   // trace id one digit short
             "00-4bf92f3577b34da6a3ce929d0e0e47366-00f067aa0ba902b-01",  // lengths shifted
             "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-1",   // flags one digit
             "00-4BF92F3577B34DA6A3CE929D0E0E4736-00F067AA0BA902B7-01",  // upper case
             "00_4bf92f3577b34da6a3ce929d0e0e4736_00f067aa0ba902b7_01",  // separators
             "0x-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",  // version not hex
             "00-4bf92f3577b34da6a3ce929d0e0e47zz-00f067aa0ba902b7-01",  // not hex
         }) {
        CAPTURE(bad);
        CHECK_FALSE(telemetry::parse_traceparent(bad));
    }
}

TEST_CASE("new ids are random and never all zero; ratio sampling keeps all, none, or about the share")
{
    CHECK(telemetry::random_trace_id() != telemetry::random_trace_id());
    CHECK(telemetry::random_span_id() != telemetry::random_span_id());
    int kept = 0;
    for (int i = 0; i < 2000; ++i) {
        const auto id = telemetry::random_trace_id();
        CHECK(telemetry::sampled_by_ratio(id, 1.0));
        CHECK_FALSE(telemetry::sampled_by_ratio(id, 0.0));
        kept += telemetry::sampled_by_ratio(id, 0.25) ? 1 : 0;
    }
    CHECK(kept > 350);
    CHECK(kept < 650);
}

TEST_CASE("OTLP JSON: hex ids, times as strings, typed attribute values, kind and status as numbers")
{
    telemetry::Span s;
    s.trace_id = telemetry::parse_traceparent(k_valid)->trace_id;
    s.span_id = telemetry::parse_traceparent(k_valid)->parent_id;
    s.parent_span_id = telemetry::SpanId{1, 2, 3, 4, 5, 6, 7, 8};
    s.trace_state = "vendor=1";
    s.name = "chat gpt-4o-mini";
    s.kind = telemetry::SpanKind::client;
    s.start_unix_ns = 1'700'000'000'123'456'789;
    s.end_unix_ns = 1'700'000'001'000'000'000;
    s.status = telemetry::StatusCode::error;
    s.status_message = "upstream 500";
    s.set("gen_ai.request.model", "gpt-4o-mini");
    s.set("gen_ai.usage.input_tokens", std::int64_t{6});
    s.set("aigw.cost_usd", 0.25);
    s.set("aigw.cache_hit", false);
    s.set("gen_ai.response.finish_reasons", std::vector<std::string>{"stop"});
    telemetry::Resource r{.service_name = "my-gw", .service_version = "1.2.3"};
    const telemetry::Span spans[] = {s};
    const json j = json::parse(telemetry::encode_traces_json(r, spans));

    const json& rs = j["resourceSpans"][0];
    bool named_service = false;
    for (const auto& a : rs["resource"]["attributes"]) {
        named_service |= a["key"] == "service.name" && a["value"]["stringValue"] == "my-gw";
    }
    CHECK(named_service);
    const json& out = rs["scopeSpans"][0]["spans"][0];
    CHECK(rs["scopeSpans"][0]["scope"]["name"] == "aigw");
    CHECK(out["traceId"] == "4bf92f3577b34da6a3ce929d0e0e4736");
    CHECK(out["spanId"] == "00f067aa0ba902b7");
    CHECK(out["parentSpanId"] == "0102030405060708");
    CHECK(out["traceState"] == "vendor=1");
    CHECK(out["name"] == "chat gpt-4o-mini");
    CHECK(out["kind"] == 3);
    CHECK(out["startTimeUnixNano"] == "1700000000123456789");
    CHECK(out["endTimeUnixNano"] == "1700000001000000000");
    CHECK(out["status"]["code"] == 2);
    CHECK(out["status"]["message"] == "upstream 500");
    CHECK(attr(out, "gen_ai.request.model") == json{{"stringValue", "gpt-4o-mini"}});
    CHECK(attr(out, "gen_ai.usage.input_tokens") == json{{"intValue", "6"}});
    CHECK(attr(out, "aigw.cost_usd") == json{{"doubleValue", 0.25}});
    CHECK(attr(out, "aigw.cache_hit") == json{{"boolValue", false}});
    CHECK(attr(out, "gen_ai.response.finish_reasons")["arrayValue"]["values"][0]["stringValue"] == "stop");

    telemetry::Span root = named("root");
    const telemetry::Span roots[] = {root};
    const json rj = json::parse(telemetry::encode_traces_json(r, roots));
    CHECK_FALSE(rj["resourceSpans"][0]["scopeSpans"][0]["spans"][0].contains("parentSpanId"));
}

TEST_CASE("invalid UTF-8 in an attribute is replaced, not thrown")
{
    telemetry::Span s = named("x");
    s.set("aigw.error", std::string("bad \xff byte"));
    const telemetry::Span spans[] = {s};
    std::string body;
    CHECK_NOTHROW(body = telemetry::encode_traces_json({}, spans));
    CHECK(json::accept(body));
}

TEST_CASE("a request's spans: one SERVER child of the client's span, one CLIENT span per attempt")
{
    pipeline::Exchange ex;
    ex.surface = "openai.chat";
    ex.request_id = "req_1";
    ex.requested_model = "fast";
    ex.key_id = "vk_1";
    auto& t = ex.trace;
    t.on = t.sampled = true;
    t.flags = 1;
    const auto client = telemetry::parse_traceparent(k_valid);
    t.trace_id = client->trace_id;
    t.parent = client->parent_id;
    t.span_id = telemetry::random_span_id();
    t.start_unix_ns = 1000;
    t.max_tokens = 50;
    telemetry::AttemptTrace failed;
    failed.span_id = telemetry::random_span_id();
    failed.start_unix_ns = 1100;
    failed.end_unix_ns = 1200;
    failed.upstream_model = "gpt-4o-mini";
    failed.provider = "openai";
    failed.model_id = "openai/gpt-4o-mini";
    failed.base_url = "https://api.openai.com/v1";
    failed.status = 500;
    failed.outcome = "upstream";
    failed.error = "boom";
    telemetry::AttemptTrace served = failed;
    served.span_id = telemetry::random_span_id();
    served.start_unix_ns = 1300;
    served.end_unix_ns = 0;
    served.upstream_model = "gemini-2.5-flash";
    served.provider = "gemini";
    served.model_id = "gemini/gemini-2.5-flash";
    served.base_url = "http://127.0.0.1:9000";
    served.outcome = "success";
    served.reason = "fallback to gemini/gemini-2.5-flash after 500 upstream";
    t.attempts = {failed, served};

    pipeline::RequestOutcome out;
    out.status = 200;
    out.usage.input_tokens = 6;
    out.usage.output_tokens = 4;
    out.cost_usd = 0.001;
    out.end_unix_ns = 2000;
    const auto spans = pipeline::request_spans(ex, out);
    REQUIRE(spans.size() == 3);
    const json j = json::parse(telemetry::encode_traces_json({}, spans))["resourceSpans"][0]["scopeSpans"][0]["spans"];

    const json& server = j[0];
    CHECK(server["kind"] == 2);
    CHECK(server["name"] == "chat fast");
    CHECK(server["traceId"] == "4bf92f3577b34da6a3ce929d0e0e4736");
    CHECK(server["parentSpanId"] == "00f067aa0ba902b7");
    CHECK(attr(server, "gen_ai.request.model")["stringValue"] == "fast");
    CHECK(attr(server, "gen_ai.usage.input_tokens")["intValue"] == "6");
    CHECK(attr(server, "gen_ai.request.max_tokens")["intValue"] == "50");
    CHECK(attr(server, "aigw.key_id")["stringValue"] == "vk_1");
    CHECK(attr(server, "aigw.attempts")["intValue"] == "2");
    CHECK(server["status"]["code"] == 0);

    const json& first = j[1];
    CHECK(first["kind"] == 3);
    CHECK(first["parentSpanId"] == server["spanId"]);
    CHECK(first["name"] == "chat gpt-4o-mini");
    CHECK(first["status"]["code"] == 2);
    CHECK(first["endTimeUnixNano"] == "1200");
    CHECK(attr(first, "error.type")["stringValue"] == "upstream");
    CHECK(attr(first, "http.response.status_code")["intValue"] == "500");
    CHECK(attr(first, "server.address")["stringValue"] == "api.openai.com");
    CHECK(attr(first, "server.port")["intValue"] == "443");
    CHECK(attr(first, "gen_ai.usage.input_tokens").is_null());

    const json& second = j[2];
    CHECK(second["parentSpanId"] == server["spanId"]);
    CHECK(second["name"] == "chat gemini-2.5-flash");
    CHECK(second["endTimeUnixNano"] == "2000");
    CHECK(attr(second, "gen_ai.provider.name")["stringValue"] == "gcp.gemini");
    CHECK(attr(second, "gen_ai.response.model")["stringValue"] == "gemini-2.5-flash");
    CHECK(attr(second, "gen_ai.usage.output_tokens")["intValue"] == "4");
    CHECK(attr(second, "server.port")["intValue"] == "9000");
    CHECK(attr(second, "aigw.attempt.reason")["stringValue"] == served.reason);
    CHECK(second["status"]["code"] == 0);
}

TEST_CASE("operation names follow the surface")
{
    CHECK(pipeline::genai_operation("openai.chat") == "chat");
    CHECK(pipeline::genai_operation("anthropic.messages") == "chat");
    CHECK(pipeline::genai_operation("openai.embeddings") == "embeddings");
    CHECK(pipeline::genai_operation("openai.completions") == "text_completion");
    CHECK(pipeline::genai_operation("gemini.generate_content") == "generate_content");
    CHECK(pipeline::genai_operation("gemini.batch_embed_contents") == "embeddings");
    CHECK(pipeline::genai_provider("bedrock") == "aws.bedrock");
    CHECK(pipeline::genai_provider("anthropic") == "anthropic");
}

TEST_CASE("the exporter batches queued spans into POSTs of OTLP JSON and counts them")
{
    std::mutex mu;
    std::vector<std::string> bodies;
    telemetry::ExporterOptions o;
    o.flush_interval = std::chrono::milliseconds(20);
    o.max_batch = 3;
    telemetry::SpanExporter exporter(o, [&](const std::string& body, std::chrono::milliseconds) {
        std::lock_guard lock(mu);
        bodies.push_back(body);
        return std::expected<int, std::string>(200);
    });
    exporter.submit({named("a"), named("b"), named("c"), named("d")});
    exporter.shutdown(std::chrono::milliseconds(1000));
    const auto s = exporter.stats();
    CHECK(s.exported == 4);
    CHECK(s.export_errors == 0);
    REQUIRE(bodies.size() == 2);  // 3 + 1
    const json first = json::parse(bodies[0]);
    CHECK(first["resourceSpans"][0]["scopeSpans"][0]["spans"].size() == 3);
}

TEST_CASE("a collector that is down costs dropped spans and errors, after bounded retries")
{
    std::atomic<int> posts{0};
    telemetry::ExporterOptions o;
    o.flush_interval = std::chrono::milliseconds(10);
    o.retry_delay = std::chrono::milliseconds(1);
    o.max_tries = 2;
    telemetry::SpanExporter exporter(o, [&](const std::string&, std::chrono::milliseconds) {
        ++posts;
        return std::expected<int, std::string>(std::unexpected(std::string("connection refused")));
    });
    exporter.submit({named("a"), named("b")});
    for (int i = 0; i < 200 && exporter.stats().dropped[1] < 2; ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    const auto s = exporter.stats();
    CHECK(s.dropped[static_cast<std::size_t>(telemetry::DropReason::export_failed)] == 2);
    CHECK(s.export_errors == 2);
    CHECK(posts == 2);
    CHECK(s.exported == 0);
}

TEST_CASE("a 400 from the collector is not retried")
{
    std::atomic<int> posts{0};
    telemetry::ExporterOptions o;
    o.flush_interval = std::chrono::milliseconds(10);
    telemetry::SpanExporter exporter(o, [&](const std::string&, std::chrono::milliseconds) {
        ++posts;
        return std::expected<int, std::string>(400);
    });
    exporter.submit({named("a")});
    exporter.shutdown(std::chrono::milliseconds(1000));
    CHECK(posts == 1);
    CHECK(exporter.stats().export_errors == 1);
}

TEST_CASE("a full queue drops what does not fit at once, without waiting for a stuck collector")
{
    std::atomic<bool> release{false};
    telemetry::ExporterOptions o;
    o.max_queue = 2;
    o.max_batch = 1;
    o.flush_interval = std::chrono::milliseconds(5);
    telemetry::SpanExporter exporter(o, [&](const std::string&, std::chrono::milliseconds) {
        while (!release) {
            std::this_thread::sleep_for(std::chrono::milliseconds(1));
        }
        return std::expected<int, std::string>(200);
    });
    exporter.submit({named("first")});
    for (int i = 0; i < 200 && exporter.stats().queued > 0; ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(2));  // the worker took it and is stuck
    }
    const auto t0 = std::chrono::steady_clock::now();
    exporter.submit({named("a"), named("b"), named("c"), named("d")});
    CHECK(std::chrono::steady_clock::now() - t0 < std::chrono::milliseconds(50));
    CHECK(exporter.stats().dropped[static_cast<std::size_t>(telemetry::DropReason::queue_full)] == 2);
    release = true;
    exporter.shutdown(std::chrono::milliseconds(1000));
    CHECK(exporter.stats().exported == 3);
}

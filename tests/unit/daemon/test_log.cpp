// The daemon's log lines: JSON encoding (escaping, invalid UTF-8), access fields, the text
// form, and the capture of free-text stderr lines.

#include "daemon/app/log.hpp"

#include <doctest/doctest.h>

#include <nlohmann/json.hpp>

#include <string>
#include <vector>

using aigw::daemon::app::access_fields;
using aigw::daemon::app::json_log_line;
using aigw::daemon::app::Logger;
using aigw::daemon::app::rfc3339_utc_ms;
using aigw::daemon::app::text_access_line;
using aigw::daemon::http::AccessEntry;
using aigw::daemon::http::AccessNote;

namespace {

/// One line, ending in exactly one '\n', that parses as a JSON object.
nlohmann::json parse_one_line(const std::string& line)
{
    REQUIRE(!line.empty());
    CHECK(line.back() == '\n');
    CHECK(line.find('\n') == line.size() - 1);
    const auto doc = nlohmann::json::parse(line, nullptr, false);
    REQUIRE_FALSE(doc.is_discarded());
    REQUIRE(doc.is_object());
    return doc;
}

}  // namespace

TEST_CASE("log times are RFC 3339 UTC with milliseconds")
{
    CHECK(rfc3339_utc_ms(0) == "1970-01-01T00:00:00.000Z");
    CHECK(rfc3339_utc_ms(1'796'453'376'310) == "2026-12-05T06:49:36.310Z");
    CHECK(rfc3339_utc_ms(1'796'453'376'007) == "2026-12-05T06:49:36.007Z");
}

TEST_CASE("a JSON log line escapes quotes and control characters and survives invalid UTF-8")
{
    const std::string msg = std::string("say \"hi\"\\ then\nnew line\r\ttab \x01\x1f end ") + "\xff\xfe bad \xc3";
    const std::string line = json_log_line(1'796'453'376'310, "warn", msg, {{"route", "/v1/\x07x"}, {"n", 3}});
    const auto doc = parse_one_line(line);
    CHECK(doc["ts"] == "2026-12-05T06:49:36.310Z");
    CHECK(doc["level"] == "warn");
    CHECK(doc["n"] == 3);
    CHECK(doc["route"] == "/v1/\x07x");
    const std::string back = doc["msg"].get<std::string>();
    CHECK(back.starts_with("say \"hi\"\\ then\nnew line\r\ttab \x01\x1f end "));
    CHECK(back.find("\xef\xbf\xbd") != std::string::npos);  // U+FFFD for the invalid bytes
    CHECK(line.find("\\u0001") != std::string::npos);
    CHECK(line.find("\\n") != std::string::npos);
    // ts, level and msg come first and fields cannot replace them.
    CHECK(line.starts_with("{\"ts\":\"2026-12-05T06:49:36.310Z\",\"level\":\"warn\",\"msg\":"));
    const auto clash = parse_one_line(json_log_line(0, "info", "real", {{"msg", "fake"}, {"level", "x"}}));
    CHECK(clash["msg"] == "real");
    CHECK(clash["level"] == "info");
}

TEST_CASE("an access entry of a served request has the pipeline's fields, one of a refused one only the server's")
{
    AccessNote note;
    note.request_id = "req_0123";
    note.surface = "openai.chat";
    note.key_id = "default";
    note.requested_model = "fast";
    note.served_model = "openai/gpt-4o-mini";
    note.provider = "openai";
    note.recorded = true;
    note.stream = true;
    note.attempts = 2;
    note.ttft_ms = 42;
    note.input_tokens = 12;
    note.output_tokens = 34;
    note.cost_usd = 0.000123;
    AccessEntry served{
        .method = "POST", .path = "/v1/chat/completions", .status = 200, .latency_ms = 77, .note = &note};
    const auto f = access_fields(served);
    CHECK(f["request_id"] == "req_0123");
    CHECK(f["route"] == "/v1/chat/completions");
    CHECK(f["status"] == 200);
    CHECK(f["latency_ms"] == 77);
    CHECK(f["surface"] == "openai.chat");
    CHECK(f["key_id"] == "default");
    CHECK(f["requested_model"] == "fast");
    CHECK(f["model"] == "openai/gpt-4o-mini");
    CHECK(f["provider"] == "openai");
    CHECK(f["attempts"] == 2);
    CHECK(f["ttft_ms"] == 42);
    CHECK(f["cache"] == "miss");
    CHECK(f["tokens_in"] == 12);
    CHECK(f["tokens_out"] == 34);
    CHECK(f["cost_usd"].get<double>() == doctest::Approx(0.000123));
    CHECK_FALSE(f.contains("error"));

    AccessEntry refused{.method = "POST",
                        .path = "/v1/chat/completions",
                        .status = 413,
                        .latency_ms = 3,
                        .error_type = "invalid_request_error",
                        .error_message = "the request body is larger than the limit"};
    const auto r = access_fields(refused, "req_fallback");
    CHECK(r["request_id"] == "req_fallback");
    CHECK(r["status"] == 413);
    CHECK(r["error_type"] == "invalid_request_error");
    CHECK(r["error"] == "the request body is larger than the limit");
    CHECK_FALSE(r.contains("model"));
    CHECK_FALSE(r.contains("attempts"));

    AccessEntry gone{.method = "GET", .path = "/x", .status = 0};
    CHECK(access_fields(gone)["error"] == "the client went away before the answer");
}

TEST_CASE("a text access line is one printable line with status, route, latency, model and id")
{
    AccessNote note;
    note.request_id = "req_0123";
    note.served_model = "openai/gpt-4o-mini";
    note.provider = "openai";
    note.recorded = true;
    note.attempts = 1;
    note.key_id = "default";
    AccessEntry e{.method = "POST", .path = "/v1/chat/\ncompletions", .status = 502, .latency_ms = 9, .note = &note};
    note.error = "upstream said no";
    const std::string line = text_access_line(e);
    CHECK(line ==
          "aigwd: 502 POST /v1/chat/\\x0acompletions 9 ms model=openai/gpt-4o-mini cache=miss tokens=0/0 "
          "cost=$0.000000 key=default req_0123 error=\"upstream said no\"\n");
}

TEST_CASE("the logger writes JSON or text, skips access lines when requests is off, and maps stderr lines to levels")
{
    std::vector<std::string> lines;
    Logger log([&](std::string_view line) { lines.emplace_back(line); });
    AccessEntry e{.method = "GET", .path = "/nope", .status = 404, .latency_ms = 1};

    log.text_line("aigwd: warning: something odd");
    log.access(e);
    REQUIRE(lines.size() == 2);
    CHECK(lines[0] == "aigwd: warning: something odd\n");
    CHECK(lines[1].starts_with("aigwd: 404 GET /nope 1 ms req_"));

    lines.clear();
    log.configure(aigw::config::LogFormat::json, true);
    log.text_line("aigwd: warning: something odd");
    log.text_line("aigw ledger: pruning x failed: disk");
    log.text_line("aigwd 0.1.0 listening");
    log.access(e);
    REQUIRE(lines.size() == 4);
    const auto warn = parse_one_line(lines[0]);
    CHECK(warn["level"] == "warn");
    CHECK(warn["msg"] == "something odd");
    CHECK(parse_one_line(lines[1])["level"] == "error");
    CHECK(parse_one_line(lines[2])["level"] == "info");
    const auto access = parse_one_line(lines[3]);
    CHECK(access["msg"] == "request");
    CHECK(access["level"] == "warn");
    CHECK(access["status"] == 404);
    CHECK(access["request_id"].get<std::string>().starts_with("req_"));

    lines.clear();
    log.configure(aigw::config::LogFormat::json, false);
    log.access(e);
    CHECK(lines.empty());
}

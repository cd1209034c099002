// `aigw daemon logs` on a terminal: JSON log lines rendered as aligned columns.

#include "cli/daemon_log_view.hpp"
#include "cli/term.hpp"

#include <doctest/doctest.h>

#include <cstdlib>
#include <ctime>
#include <string>

using aigw::cli::daemon_log_header;
using aigw::cli::display_width;
using aigw::cli::parse_rfc3339_utc;
using aigw::cli::render_daemon_log_line;

TEST_CASE("RFC 3339 UTC times with milliseconds are read back")
{
    CHECK(parse_rfc3339_utc("1970-01-01T00:00:00.000Z") == 0);
    CHECK(parse_rfc3339_utc("2026-12-05T06:49:36.310Z") == 1'796'453'376'310);
    CHECK_FALSE(parse_rfc3339_utc("yesterday").has_value());
    CHECK_FALSE(parse_rfc3339_utc("2026-12-05T06:49:36.310+01:00").has_value());
}

TEST_CASE("JSON log lines render in aligned columns; other lines are left alone")
{
    // Times are shown in local time: pin it for the test, then put it back.
    const char* old_tz = std::getenv("TZ");
    const std::string saved = old_tz != nullptr ? old_tz : "";
    ::setenv("TZ", "UTC", 1);
    ::tzset();
    struct RestoreTz {
        bool had;
        std::string value;
        ~RestoreTz()
        {
            if (had) {
                ::setenv("TZ", value.c_str(), 1);
            } else {
                ::unsetenv("TZ");
            }
            ::tzset();
        }
    } restore{old_tz != nullptr, saved};
    const std::string access =
        R"({"ts":"2026-12-05T06:49:36.310Z","level":"info","msg":"request","request_id":"req_01a244f721329b9835d01d5c",)"
        R"("method":"POST","route":"/v1/chat/completions","status":200,"latency_ms":4,"model":"openai/gpt-4o-mini"})";
    const std::string failed =
        R"({"ts":"2026-12-05T06:49:37.000Z","level":"error","msg":"request","request_id":"req_01a244f721627fdfb88247e0",)"
        R"("route":"/v1/chat/completions","status":502,"latency_ms":1234,"requested_model":"openai/gpt-4o",)"
        R"("attempts":3,"error":"upstream\nfailed"})";
    const std::string note = R"({"ts":"2026-12-05T06:49:38.000Z","level":"warn","msg":"something odd"})";

    const auto a = render_daemon_log_line(access, false);
    const auto f = render_daemon_log_line(failed, false);
    const auto n = render_daemon_log_line(note, false);
    REQUIRE(a.has_value());
    REQUIRE(f.has_value());
    REQUIRE(n.has_value());
    INFO(*a);
    CHECK(a->starts_with("2026-12-05 06:49:36.310  info      200       4 ms  openai/gpt-4o-mini    "));
    CHECK(a->find("/v1/chat/completions") != std::string::npos);
    CHECK(a->ends_with("req_01a244f721329b9835d01d5c"));
    CHECK(f->find("attempts=3 upstream failed") != std::string::npos);  // the newline became a space
    CHECK(f->find('\n') == std::string::npos);
    CHECK(n->ends_with("something odd"));

    // Every column starts where the header's does.
    const std::string header = daemon_log_header(false);
    const auto route_at = header.find("ROUTE");
    CHECK(a->find("/v1/chat/completions") == route_at);
    CHECK(f->find("/v1/chat/completions") == route_at);
    const auto request_at = header.find("REQUEST");
    CHECK(a->find("req_") == request_at);
    CHECK(f->find("req_") == request_at);
    CHECK(f->find("attempts=3") == header.find("MESSAGE"));
    CHECK(n->find("something odd") == header.find("MESSAGE"));
    CHECK(a->find(" 200") + 4 == header.find("STATUS") + 6);  // right-aligned under STATUS

    // A long model is cut, not allowed to push the columns.
    std::string long_model = access;
    long_model.replace(long_model.find("openai/gpt-4o-mini"), 18, std::string(60, 'm'));
    const auto l = render_daemon_log_line(long_model, false);
    REQUIRE(l.has_value());
    CHECK(l->find("\u2026") != std::string::npos);
    CHECK(display_width(l->substr(0, l->find("/v1/chat/completions"))) == route_at);

    CHECK_FALSE(render_daemon_log_line("aigwd: warning: plain text", false).has_value());
    CHECK_FALSE(render_daemon_log_line("{not json", false).has_value());
    CHECK_FALSE(render_daemon_log_line(R"({"no":"ts"})", false).has_value());

    // Colour only when asked for.
    CHECK(render_daemon_log_line(failed, true)->find("\x1b[") != std::string::npos);
    CHECK(a->find("\x1b[") == std::string::npos);
    CHECK(display_width(*render_daemon_log_line(access, true)) == display_width(*a));
}

#include "daemon/http/parsing.hpp"
#include "daemon/http/server.hpp"
#include "daemon/http/utf8.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <doctest/doctest.h>

using namespace aigw::daemon::http;

TEST_CASE("utf8: well-formed text is valid, overlongs, surrogates and stray bytes are not")
{
    CHECK(is_valid_utf8("plain ascii"));
    CHECK(is_valid_utf8("caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80"));
    CHECK_FALSE(is_valid_utf8("\xC0\xAF"));          // overlong '/'
    CHECK_FALSE(is_valid_utf8("\xED\xA0\x80"));      // surrogate
    CHECK_FALSE(is_valid_utf8("\xF4\x90\x80\x80"));  // above U+10FFFF
    CHECK_FALSE(is_valid_utf8("abc\xE2\x82"));       // truncated
    CHECK_FALSE(is_valid_utf8("\xFF"));
}

TEST_CASE("header values lose control characters and invalid UTF-8")
{
    CHECK(sanitize_header_value("a\r\nSet-Cookie: x") == "a  Set-Cookie: x");
    CHECK(sanitize_header_value("tab\there\x7F") == "tab here ");
    CHECK(sanitize_header_value("caf\xC3\xA9") == "caf\xC3\xA9");
    CHECK(sanitize_header_value("bad\xFFz") == "bad\xEF\xBF\xBDz");
    CHECK(sanitize_header_value("Bearer sk-1 ~/x") == "Bearer sk-1 ~/x");
}

TEST_CASE("needs_sanitizing: control characters anywhere, and malformed UTF-8")
{
    CHECK_FALSE(needs_sanitizing("Bearer sk-1 ~/x"));
    CHECK_FALSE(needs_sanitizing(""));
    CHECK_FALSE(needs_sanitizing("caf\xC3\xA9"));  // well-formed UTF-8 goes out as it is
    CHECK(needs_sanitizing("a\r\nSet-Cookie: x"));
    CHECK(needs_sanitizing("tab\there"));
    CHECK(needs_sanitizing("del\x7F"));
    CHECK(needs_sanitizing(std::string_view("nul\0", 4)));
    CHECK(needs_sanitizing("bad\xFFz"));
    // A control character after well-formed non-ASCII text: the first non-ASCII byte
    // must not decide for the rest of the value.
    CHECK(needs_sanitizing("caf\xC3\xA9\r\nSet-Cookie: x"));
    for (std::string_view v : {"a\r\nb", "tab\there", "bad\xFFz", "caf\xC3\xA9\r\nx", "caf\xC3\xA9", "plain"}) {
        CHECK(needs_sanitizing(v) == (sanitize_header_value(v) != v));
    }
}

TEST_CASE("needs_sanitizing: every byte value at every position of a long value")
{
    // Values of 8 bytes and more are checked a word at a time: each byte, in each lane of
    // the word and in the tail, with printable neighbours on both sides of the boundary.
    for (std::size_t len : {7U, 8U, 9U, 16U, 23U, 40U}) {
        for (std::size_t pos = 0; pos < len; ++pos) {
            for (int b = 0; b < 256; ++b) {
                std::string v(len, 'x');
                v[pos] = static_cast<char>(b);
                const bool bad = b < 0x20 || b >= 0x7F;  // a lone byte >= 0x80 is malformed UTF-8
                CAPTURE(len);
                CAPTURE(pos);
                CAPTURE(b);
                REQUIRE(needs_sanitizing(v) == bad);
            }
        }
    }
    // Well-formed UTF-8 across a word boundary goes out as it is; a control after it does not.
    CHECK_FALSE(needs_sanitizing("abcdefg\xC3\xA9hijklmnop"));
    CHECK(needs_sanitizing("abcdefg\xC3\xA9hijklmn\x01p"));
    CHECK(needs_sanitizing("abcdefghijklmnopqrstuvw\x7F"));
}

TEST_CASE("Headers::set replaces every field of that name and sanitises; get is case-insensitive")
{
    Headers h;
    h.add("X-A", "1");
    h.add("x-a", "2");
    h.add("Other", "o");
    h.set("X-a", "line1\r\nInjected: yes");
    CHECK(h.items().size() == 2);
    CHECK(h.get("X-A") == "line1  Injected: yes");
    h.set("X-B", "bad\xFF");
    CHECK(h.get("x-b") == "bad\xEF\xBF\xBD");
    h.set("X-B", "caf\xC3\xA9\r\nInjected: yes");
    CHECK(h.get("x-b") == "caf\xC3\xA9  Injected: yes");
    h.set("X-B", "plain value");
    CHECK(h.get("x-b") == "plain value");
    CHECK(h.has("other"));
    h.remove("OTHER");
    CHECK_FALSE(h.has("Other"));
    CHECK(h.get("missing").empty());
}

TEST_CASE("percent-decoding keeps raw bytes and malformed escapes, '+' only in queries")
{
    CHECK(percent_decode("/a%20b", false) == "/a b");
    CHECK(percent_decode("/x%FF%fe", false) == "/x\xFF\xFE");
    CHECK(percent_decode("/bad%zz%4", false) == "/bad%zz%4");
    CHECK(percent_decode("a+b", false) == "a+b");
    CHECK(percent_decode("a+b%2B", true) == "a b+");
}

TEST_CASE("targets split into path and query in origin and absolute form")
{
    auto t = split_target("/v1/models?limit=2&x");
    CHECK(t.path == "/v1/models");
    CHECK(t.query == "limit=2&x");
    t = split_target("http://localhost:4141/v1/chat?a=1");
    CHECK(t.path == "/v1/chat");
    CHECK(t.query == "a=1");
    t = split_target("http://localhost:4141");
    CHECK(t.path == "/");
    CHECK(split_target("/plain").query.empty());
}

TEST_CASE("query_param decodes names and values, nullopt when absent")
{
    Request r;
    r.query = "q=hello+world%21&empty=&flag&x%20y=1";
    CHECK(r.query_param("q") == "hello world!");
    CHECK(r.query_param("empty") == "");
    CHECK(r.query_param("flag") == "");
    CHECK(r.query_param("x y") == "1");
    CHECK_FALSE(r.query_param("nope").has_value());
}

TEST_CASE("Host names: port and IPv6 brackets are stripped")
{
    CHECK(host_name("localhost:4141") == "localhost");
    CHECK(host_name("[::1]:4141") == "::1");
    CHECK(host_name("[::1]") == "::1");
    CHECK(host_name("::1") == "::1");
    CHECK(host_name("Example.COM.") == "Example.COM");
    CHECK(host_name("[::1").empty());
    CHECK(host_name("").empty());
}

TEST_CASE("the Host policy allows localhost names, the bound host and allowed_hosts only")
{
    const HostPolicy p("10.0.0.5", {"gw.internal", "[fd00::1]"});
    CHECK(p.allows("localhost"));
    CHECK(p.allows("LOCALHOST:4141"));
    CHECK(p.allows("127.0.0.1:80"));
    CHECK(p.allows("[::1]:4141"));
    CHECK(p.allows("10.0.0.5:4141"));
    CHECK(p.allows("GW.internal"));
    CHECK(p.allows("[fd00::1]:1"));
    CHECK_FALSE(p.allows("evil.example"));
    CHECK_FALSE(p.allows("localhost.evil.example"));
    CHECK_FALSE(p.allows(""));
    const HostPolicy any("127.0.0.1", {"*"});
    CHECK(any.allows("evil.example"));
    CHECK(host_refused_message("evil.example:80") ==
          "Host 'evil.example' is not allowed: aigwd answers only to localhost names (DNS rebinding protection). "
          "Add it to [server] allowed_hosts to allow it.");
}

TEST_CASE("the request line is sniffed from raw bytes")
{
    auto l = sniff_request_line("POST /v1/chat?x=1 HTTP/1.1\r\nHost: a\r\n");
    CHECK(l.method == "POST");
    CHECK(l.target == "/v1/chat?x=1");
    l = sniff_request_line("GET /partial");
    CHECK(l.method == "GET");
    CHECK(l.target == "/partial");
    CHECK(sniff_request_line("").method.empty());
}

TEST_CASE("session ids: short, of letters, digits and . _ : - only")
{
    CHECK(is_valid_session_id("claude-1767225600-3fa9"));
    CHECK(is_valid_session_id("d6caeff6-37d9-4b7b-b863-e46e24adebbb"));
    CHECK(is_valid_session_id("a.b_c:d"));
    CHECK(is_valid_session_id(std::string(k_max_session_length, 'x')));
    CHECK_FALSE(is_valid_session_id(""));
    CHECK_FALSE(is_valid_session_id(std::string(k_max_session_length + 1, 'x')));
    CHECK_FALSE(is_valid_session_id("has space"));
    CHECK_FALSE(is_valid_session_id("slash/inside"));
    CHECK_FALSE(is_valid_session_id("caf\xC3\xA9"));
    CHECK_FALSE(is_valid_session_id("new\nline"));
}

TEST_CASE("/s/{session}/... is split into the session and the path after it")
{
    auto p = split_session_prefix("/s/claude-1-ab/v1/messages");
    REQUIRE(p.has_value());
    REQUIRE(p->has_value());
    CHECK((*p)->session == "claude-1-ab");
    CHECK((*p)->path == "/v1/messages");
    p = split_session_prefix("/s/abc");
    REQUIRE(p.has_value());
    REQUIRE(p->has_value());
    CHECK((*p)->session == "abc");
    CHECK((*p)->path == "/");
    p = split_session_prefix("/s/abc/");
    REQUIRE((p && *p));
    CHECK((*p)->path == "/");
    // Not a session prefix: left alone.
    for (const char* path : {"/v1/messages", "/s", "/sessions/x", "/x/s/abc/v1"}) {
        CAPTURE(path);
        p = split_session_prefix(path);
        REQUIRE(p.has_value());
        CHECK_FALSE(p->has_value());
    }
    // A prefix with a session that is not an id: an error naming what is allowed.
    for (const char* path : {"/s//v1/messages", "/s/a b/v1", "/s/"}) {
        CAPTURE(path);
        p = split_session_prefix(path);
        REQUIRE_FALSE(p.has_value());
        CHECK(p.error().find("A-Z, a-z, 0-9") != std::string::npos);
    }
}

namespace {
Handler tagged(int* out, int tag)
{
    return [out, tag](Request&, Responder&) -> boost::asio::awaitable<void> {
        *out = tag;
        co_return;
    };
}
}  // namespace

TEST_CASE("routes: exact beats prefix, longer prefix beats shorter, other methods tell 405 from 404")
{
    int hit = 0;
    Routes r;
    r.add("GET", "/v1/*", tagged(&hit, 1));
    r.add("GET", "/v1/responses/*", tagged(&hit, 2));
    r.add("GET", "/v1/responses/special", tagged(&hit, 3));
    r.add("POST", "/v1/chat/completions", tagged(&hit, 4));

    bool exists = false;
    CHECK(r.find("GET", "/v1/responses/special", &exists) != nullptr);
    CHECK(exists);
    const auto tag_of = [&](std::string_view m, std::string_view p) {
        const Handler* h = r.find(m, p);
        REQUIRE(h != nullptr);
        Request req;
        hit = 0;
        // The handlers set `hit` before their first suspension; run them on a throwaway context.
        boost::asio::io_context ctx;
        struct Dummy final : Responder {
            boost::asio::awaitable<void> send(Response) override { co_return; }
            boost::asio::awaitable<bool> begin_stream(Response) override { co_return true; }
            boost::asio::awaitable<bool> write(std::string_view) override { co_return true; }
            boost::asio::awaitable<bool> end_stream(std::string_view) override { co_return true; }
            bool started() const override { return false; }
            bool client_gone() const override { return false; }
            void on_client_gone(std::function<void()>) override {}
        } dummy;
        boost::asio::co_spawn(ctx, (*h)(req, dummy), boost::asio::detached);
        ctx.run();
        return hit;
    };
    CHECK(tag_of("GET", "/v1/responses/special") == 3);
    CHECK(tag_of("GET", "/v1/responses/abc") == 2);
    CHECK(tag_of("GET", "/v1/models") == 1);
    CHECK(tag_of("POST", "/v1/chat/completions") == 4);

    exists = true;
    CHECK(r.find("GET", "/other", &exists) == nullptr);
    CHECK_FALSE(exists);
    CHECK(r.find("GET", "/v1/chat/completions", &exists) != nullptr);  // the GET prefix /v1/* covers it
    CHECK(r.find("DELETE", "/v1/chat/completions", &exists) == nullptr);
    CHECK(exists);
    CHECK(r.find("POST", "/v1/other", &exists) == nullptr);
    CHECK(exists);
}

#include "daemon/upstream/proxy.hpp"

#include <doctest/doctest.h>

using namespace aigw::daemon::upstream;

TEST_CASE("NO_PROXY matches exact hosts, domain suffixes with or without a dot, and *")
{
    CHECK(no_proxy_matches("*", "api.openai.com"));
    CHECK(no_proxy_matches("example.com", "example.com"));
    CHECK(no_proxy_matches("example.com", "api.example.com"));
    CHECK(no_proxy_matches(".example.com", "api.example.com"));
    CHECK(no_proxy_matches(".example.com", "example.com"));
    CHECK(no_proxy_matches("foo, example.com ,bar", "API.Example.COM"));
    CHECK(no_proxy_matches("127.0.0.1", "127.0.0.1"));
    CHECK(no_proxy_matches("localhost:8080", "localhost"));
    CHECK(no_proxy_matches("[::1]:443", "::1"));
    CHECK(no_proxy_matches("::1", "::1"));
}

TEST_CASE("NO_PROXY does not match other hosts or partial labels")
{
    CHECK_FALSE(no_proxy_matches("", "example.com"));
    CHECK_FALSE(no_proxy_matches("example.com", "badexample.com"));
    CHECK_FALSE(no_proxy_matches("example.com", "example.com.evil.net"));
    CHECK_FALSE(no_proxy_matches("127.0.0.1", "127.0.0.10"));
    CHECK_FALSE(no_proxy_matches("*.example.com", "other.org"));
    CHECK_FALSE(no_proxy_matches(" , ", "example.com"));
}

TEST_CASE("a proxy URL gives host, port, Basic credentials and a redacted form")
{
    auto p = parse_proxy_url("http://us%3Aer:p%40ss@proxy.local:3128/");
    REQUIRE(p.has_value());
    CHECK(p->host == "proxy.local");
    CHECK(p->port == "3128");
    CHECK(p->authorization == "Basic dXM6ZXI6cEBzcw==");
    CHECK(p->redacted == "http://proxy.local:3128");

    auto bare = parse_proxy_url("proxy.local");
    REQUIRE(bare.has_value());
    CHECK(bare->port == "1080");
    CHECK(bare->authorization.empty());

    CHECK_FALSE(parse_proxy_url("").has_value());
    CHECK_FALSE(parse_proxy_url("socks5://proxy:1080").has_value());
}

TEST_CASE("base64 pads to a multiple of four")
{
    CHECK(base64_encode("") == "");
    CHECK(base64_encode("f") == "Zg==");
    CHECK(base64_encode("fo") == "Zm8=");
    CHECK(base64_encode("foo") == "Zm9v");
    CHECK(base64_encode("user:pw") == "dXNlcjpwdw==");
}

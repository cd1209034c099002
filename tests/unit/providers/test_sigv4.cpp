// SigV4 signer against AWS's aws-sig-v4-test-suite (tests/fixtures/sigv4/<case>/<case>.*):
// the canonical request, the string to sign and the Authorization header must match exactly.

#include "daemon/providers/bedrock/sigv4.hpp"

#include <doctest/doctest.h>

#include <fstream>
#include <sstream>

namespace p = aigw::daemon::providers;
namespace sigv4 = aigw::daemon::providers::sigv4;

namespace {

constexpr std::time_t k_suite_time = 1440938160;  // 2015-08-30T12:36:00Z

std::string suite_dir()
{
    return std::string(AIGW_FIXTURES_DIR) + "/sigv4/";
}

std::optional<std::string> read(const std::string& path)
{
    std::ifstream in(path, std::ios::binary);
    if (!in.good()) {
        return std::nullopt;
    }
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

std::string fixture(const std::string& name, const std::string& ext)
{
    auto text = read(suite_dir() + name + "/" + name + "." + ext);
    REQUIRE_MESSAGE(text.has_value(), "missing fixture " << name << "." << ext);
    return *text;
}

p::AwsCredentials suite_credentials()
{
    return {"AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "", "us-east-1"};
}

/// Parses a suite .req file: "METHOD target HTTP/1.1", "Name:value" lines, blank line, body.
sigv4::Request parse_req(const std::string& text, std::string& body)
{
    sigv4::Request req;
    std::size_t eol = text.find('\n');
    std::string line = text.substr(0, eol);
    req.method = line.substr(0, line.find(' '));
    std::string target = line.substr(line.find(' ') + 1, line.rfind(' ') - line.find(' ') - 1);
    auto q = target.find('?');
    req.path = target.substr(0, q);
    if (q != std::string::npos) {
        req.query = target.substr(q + 1);
    }
    std::size_t pos = eol + 1;
    while (pos < text.size()) {
        std::size_t end = text.find('\n', pos);
        if (end == std::string::npos) {
            end = text.size();
        }
        std::string header = text.substr(pos, end - pos);
        pos = end + 1;
        if (header.empty()) {
            body = pos < text.size() ? text.substr(pos) : std::string();
            break;
        }
        auto colon = header.find(':');
        req.headers.emplace_back(header.substr(0, colon), header.substr(colon + 1));
    }
    return req;
}

sigv4::Signed sign_case(const std::string& name, p::AwsCredentials creds = suite_credentials())
{
    std::string body;
    sigv4::Request req = parse_req(fixture(name, "req"), body);
    req.payload = body;
    return sigv4::sign(req, creds, "us-east-1", "service", k_suite_time);
}

}  // namespace

TEST_CASE(
    "sigv4: every aws-sig-v4-test-suite case gives the suite's canonical request, string to sign and Authorization")
{
    const char* cases[] = {
        "get-vanilla",
        "get-vanilla-query",
        "get-vanilla-query-order-key-case",
        "get-vanilla-query-order-key",
        "get-vanilla-query-order-value",
        "get-vanilla-empty-query-key",
        "get-vanilla-query-unreserved",
        "get-vanilla-utf8-query",
        "get-unreserved",
        "get-utf8",
        "get-space",
        "get-slash",
        "get-slashes",
        "get-slash-dot-slash",
        "get-slash-pointless-dot",
        "get-relative",
        "get-relative-relative",
        "get-header-key-duplicate",
        "get-header-value-order",
        "get-header-value-trim",
        "post-vanilla",
        "post-vanilla-query",
        "post-header-key-case",
        "post-header-key-sort",
        "post-header-value-case",
        "post-x-www-form-urlencoded",
        "post-x-www-form-urlencoded-parameters",
        "post-sts-header-before",
    };
    for (const char* name : cases) {
        CAPTURE(name);
        auto s = sign_case(name);
        CHECK(s.canonical_request == fixture(name, "creq"));
        CHECK(s.string_to_sign == fixture(name, "sts"));
        CHECK(s.authorization == fixture(name, "authz"));
        CHECK(p::header_value(s.headers, "Authorization") == s.authorization);
    }
}

TEST_CASE("sigv4: a session token from the credentials is sent and signed (get-vanilla-with-session-token)")
{
    const std::string name = "get-vanilla-with-session-token";
    auto creds = suite_credentials();
    creds.session_token = fixture(name, "token");
    auto s = sign_case(name, creds);
    CHECK(s.authorization == fixture(name, "authz"));
    CHECK(p::header_value(s.headers, "X-Amz-Security-Token") == creds.session_token);
    CHECK(s.canonical_request.find("x-amz-security-token:" + creds.session_token + "\n") != std::string::npos);
}

TEST_CASE("sigv4: the signer adds X-Amz-Date and, on request, x-amz-content-sha256")
{
    // Built in one initializer: g++ 12 misreports assigning "/" here (-Wstringop-overflow).
    const sigv4::Request req{
        .method = "GET", .host = "example.amazonaws.com", .path = "/", .query = {}, .headers = {}, .payload = {}};
    auto s = sigv4::sign(req, suite_credentials(), "us-east-1", "service", k_suite_time);
    // Same as get-vanilla: the host and date the signer adds itself.
    CHECK(s.authorization == fixture("get-vanilla", "authz"));
    CHECK(p::header_value(s.headers, "X-Amz-Date") == "20150830T123600Z");
    CHECK(p::header_value(s.headers, "X-Amz-Security-Token").empty());
    CHECK(p::header_value(s.headers, "x-amz-content-sha256").empty());

    sigv4::Options with_hash;
    with_hash.content_sha256 = true;
    auto h = sigv4::sign(req, suite_credentials(), "us-east-1", "service", k_suite_time, with_hash);
    CHECK(p::header_value(h.headers, "x-amz-content-sha256") ==
          "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    CHECK(h.authorization.find("SignedHeaders=host;x-amz-content-sha256;x-amz-date,") != std::string::npos);
}

TEST_CASE("sigv4: sign_url splits host, path and query and drops the default port")
{
    auto s = sigv4::sign_url("GET", "https://example.amazonaws.com:443/?Param2=value2&Param1=value1", {}, "",
                             suite_credentials(), "us-east-1", "service", k_suite_time);
    CHECK(s.canonical_request == fixture("get-vanilla-query-order-key-case", "creq"));
    CHECK(s.authorization == fixture("get-vanilla-query-order-key-case", "authz"));
}

TEST_CASE("sigv4: an already percent-encoded path segment is encoded again in the canonical URI")
{
    CHECK(sigv4::canonical_uri("/model/anthropic.claude-3-haiku-20240307-v1%3A0/converse") ==
          "/model/anthropic.claude-3-haiku-20240307-v1%253A0/converse");
    sigv4::Options s3;
    s3.double_encode = false;
    s3.normalize_path = false;
    CHECK(sigv4::canonical_uri("/bucket/a%3Ab", s3) == "/bucket/a%3Ab");
    CHECK(sigv4::uri_encode("a:b/c d~", false) == "a%3Ab%2Fc%20d~");
    CHECK(sigv4::uri_encode("a:b/c", true) == "a%3Ab/c");
}

TEST_CASE("sigv4: the clock can be replaced and restored")
{
    auto saved = sigv4::clock();
    sigv4::clock() = [] { return k_suite_time; };
    CHECK(sigv4::now() == k_suite_time);
    CHECK(sigv4::amz_date(sigv4::now()) == "20150830T123600Z");
    sigv4::clock() = saved;
    CHECK(sigv4::now() > k_suite_time);
}

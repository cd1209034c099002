#pragma once
// AWS Signature Version 4 (header signing), as described in the IAM user guide
// ("Create a signed AWS API request") and checked against AWS's aws-sig-v4-test-suite.
//
// Paths: the request path is taken as it goes on the wire (already percent-encoded where
// needed, e.g. a Bedrock model id "v1:0" travels as "v1%3A0"). For every service except S3
// the canonical URI encodes each segment once more ("%3A" -> "%253A"), which is what AWS
// verifies; Options::double_encode = false is S3's single encoding.

#include "daemon/providers/adapter.hpp"

#include <ctime>
#include <functional>
#include <string>
#include <string_view>

namespace aigw::daemon::providers::sigv4 {

/// One request to sign.
struct Request {
    std::string method = "POST";
    std::string host;    ///< "bedrock-runtime.us-east-1.amazonaws.com" (":port" when not the default)
    std::string path;    ///< as sent on the wire, e.g. "/model/a.b-v1%3A0/converse"; "" means "/"
    std::string query;   ///< raw query string without '?', "" for none
    HeaderList headers;  ///< headers to sign besides host / x-amz-date / x-amz-security-token
    std::string_view payload;
};

struct Options {
    bool double_encode = true;    ///< every service but S3
    bool normalize_path = true;   ///< remove "." and ".." segments and empty segments (not S3)
    bool content_sha256 = false;  ///< also send and sign x-amz-content-sha256
};

/// The result of signing: the headers to add to the request, and the intermediate strings
/// (for tests and for debugging a SignatureDoesNotMatch; none of them holds the secret).
struct Signed {
    HeaderList headers;  ///< X-Amz-Date, [X-Amz-Security-Token], [x-amz-content-sha256], Authorization
    std::string canonical_request;
    std::string string_to_sign;
    std::string authorization;
};

/// Signs `req` for `service` in `region` at `timestamp` (seconds since the epoch, UTC).
/// The session token, when the credentials have one, is sent and signed as
/// X-Amz-Security-Token. A Host header in req.headers wins over req.host.
Signed sign(const Request& req, const AwsCredentials& credentials, std::string_view region, std::string_view service,
            std::time_t timestamp, const Options& options = {});

/// Signs a full URL ("https://host[:port]/path?query") with the given extra headers.
Signed sign_url(std::string_view method, std::string_view url, const HeaderList& headers, std::string_view payload,
                const AwsCredentials& credentials, std::string_view region, std::string_view service,
                std::time_t timestamp, const Options& options = {});

/// The clock the adapters sign with: std::time(nullptr) unless a test sets another.
/// Not thread-safe to change while requests are being signed; tests set it up front.
std::function<std::time_t()>& clock();
/// clock()() — the time to sign with now.
std::time_t now();

/// RFC 3986 percent-encoding of everything but A-Z a-z 0-9 - . _ ~ (and '/' when
/// `keep_slash`), upper-case hex, as SigV4 requires.
std::string uri_encode(std::string_view s, bool keep_slash);

/// The canonical URI for a wire path (see the top of this file).
std::string canonical_uri(std::string_view path, const Options& options = {});

/// The canonical query string: each name and value decoded then encoded, pairs sorted.
std::string canonical_query(std::string_view query);

/// "20150830T123600Z".
std::string amz_date(std::time_t timestamp);

/// Lower-case hex SHA-256 of `data`.
std::string sha256_hex(std::string_view data);

}  // namespace aigw::daemon::providers::sigv4

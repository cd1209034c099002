#include "daemon/providers/bedrock/sigv4.hpp"

#include "shared/wire/ascii.hpp"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <map>
#include <vector>

namespace aigw::daemon::providers::sigv4 {
namespace {

constexpr const char* k_algorithm = "AWS4-HMAC-SHA256";

std::string to_hex(const unsigned char* data, std::size_t n)
{
    static constexpr char k_digits[] = "0123456789abcdef";
    std::string out;
    out.reserve(n * 2);
    for (std::size_t i = 0; i < n; ++i) {
        out += k_digits[data[i] >> 4];
        out += k_digits[data[i] & 0x0f];
    }
    return out;
}

std::string hmac_sha256(std::string_view key, std::string_view data)
{
    std::array<unsigned char, EVP_MAX_MD_SIZE> out{};
    unsigned int len = 0;
    HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()), reinterpret_cast<const unsigned char*>(data.data()),
         data.size(), out.data(), &len);
    return std::string(reinterpret_cast<const char*>(out.data()), len);
}

/// Trims the value and collapses runs of spaces into one, as the canonical headers require.
std::string trim_collapse(std::string_view v)
{
    std::string out;
    bool space = false;
    for (char c : v) {
        if (c == ' ' || c == '\t' || c == '\r' || c == '\n') {
            space = !out.empty();
            continue;
        }
        if (space) {
            out += ' ';
            space = false;
        }
        out += c;
    }
    return out;
}

int hex_value(char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }
    return -1;
}

std::string percent_decode(std::string_view s)
{
    std::string out;
    out.reserve(s.size());
    for (std::size_t i = 0; i < s.size(); ++i) {
        if (s[i] == '%' && i + 2 < s.size()) {
            int hi = hex_value(s[i + 1]);
            int lo = hex_value(s[i + 2]);
            if (hi >= 0 && lo >= 0) {
                out += static_cast<char>(hi * 16 + lo);
                i += 2;
                continue;
            }
        }
        out += s[i];
    }
    return out;
}

}  // namespace

std::function<std::time_t()>& clock()
{
    static std::function<std::time_t()> k_clock = [] { return std::time(nullptr); };
    return k_clock;
}

std::time_t now()
{
    auto& c = clock();
    return c ? c() : std::time(nullptr);
}

std::string uri_encode(std::string_view s, bool keep_slash)
{
    static constexpr char k_digits[] = "0123456789ABCDEF";
    std::string out;
    out.reserve(s.size() * 3);
    for (char ch : s) {
        auto c = static_cast<unsigned char>(ch);
        if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~' || (keep_slash && c == '/')) {
            out += static_cast<char>(c);
        } else {
            out += '%';
            out += k_digits[c >> 4];
            out += k_digits[c & 0x0f];
        }
    }
    return out;
}

std::string canonical_uri(std::string_view path, const Options& options)
{
    if (path.empty()) {
        return "/";
    }
    if (!options.normalize_path) {
        return options.double_encode ? uri_encode(path, true) : std::string(path);
    }
    // Split into segments, drop empty and "." segments, resolve "..".
    std::vector<std::string_view> segments;
    std::size_t start = 0;
    while (start <= path.size()) {
        auto slash = path.find('/', start);
        std::string_view seg =
            path.substr(start, slash == std::string_view::npos ? std::string_view::npos : slash - start);
        if (seg == "..") {
            if (!segments.empty()) {
                segments.pop_back();
            }
        } else if (!seg.empty() && seg != ".") {
            segments.push_back(seg);
        }
        if (slash == std::string_view::npos) {
            break;
        }
        start = slash + 1;
    }
    bool trailing_slash = path.back() == '/' && !segments.empty();
    std::string out;
    for (auto seg : segments) {
        out += '/';
        out += options.double_encode ? uri_encode(seg, false) : std::string(seg);
    }
    if (out.empty() || trailing_slash) {
        out += '/';
    }
    return out;
}

std::string canonical_query(std::string_view query)
{
    std::vector<std::pair<std::string, std::string>> pairs;
    std::size_t start = 0;
    while (start < query.size()) {
        auto amp = query.find('&', start);
        std::string_view pair =
            query.substr(start, amp == std::string_view::npos ? std::string_view::npos : amp - start);
        if (!pair.empty()) {
            auto eq = pair.find('=');
            std::string_view name = pair.substr(0, eq);
            std::string_view value = eq == std::string_view::npos ? std::string_view{} : pair.substr(eq + 1);
            pairs.emplace_back(uri_encode(percent_decode(name), false), uri_encode(percent_decode(value), false));
        }
        if (amp == std::string_view::npos) {
            break;
        }
        start = amp + 1;
    }
    std::sort(pairs.begin(), pairs.end());
    std::string out;
    for (const auto& [k, v] : pairs) {
        if (!out.empty()) {
            out += '&';
        }
        out += k;
        out += '=';
        out += v;
    }
    return out;
}

std::string amz_date(std::time_t timestamp)
{
    std::tm tm{};
    gmtime_r(&timestamp, &tm);
    char buf[32];
    std::strftime(buf, sizeof buf, "%Y%m%dT%H%M%SZ", &tm);
    return buf;
}

std::string sha256_hex(std::string_view data)
{
    std::array<unsigned char, SHA256_DIGEST_LENGTH> digest{};
    SHA256(reinterpret_cast<const unsigned char*>(data.data()), data.size(), digest.data());
    return to_hex(digest.data(), digest.size());
}

Signed sign(const Request& req, const AwsCredentials& credentials, std::string_view region, std::string_view service,
            std::time_t timestamp, const Options& options)
{
    const std::string date_time = amz_date(timestamp);
    const std::string date = date_time.substr(0, 8);
    const std::string payload_hash = sha256_hex(req.payload);

    Signed out;
    out.headers.emplace_back("X-Amz-Date", date_time);
    if (!credentials.session_token.empty()) {
        out.headers.emplace_back("X-Amz-Security-Token", credentials.session_token);
    }
    if (options.content_sha256) {
        out.headers.emplace_back("x-amz-content-sha256", payload_hash);
    }

    // Canonical headers: lower-cased names, trimmed values, repeated names joined with ','
    // in their order, sorted by name. std::map keeps them sorted.
    std::map<std::string, std::string> canonical;
    auto add = [&](std::string_view name, std::string_view value) {
        std::string key = wire::ascii_lower(name);
        std::string v = trim_collapse(value);
        auto [it, inserted] = canonical.emplace(key, v);
        if (!inserted) {
            it->second += ',';
            it->second += v;
        }
    };
    bool have_host = false;
    for (const auto& [k, v] : req.headers) {
        std::string key = wire::ascii_lower(k);
        if (key == "authorization") {
            continue;
        }
        have_host = have_host || key == "host";
        add(k, v);
    }
    if (!have_host) {
        add("host", req.host);
    }
    for (const auto& [k, v] : out.headers) {
        if (!canonical.contains(wire::ascii_lower(k))) {
            add(k, v);
        }
    }

    std::string canonical_headers;
    std::string signed_headers;
    for (const auto& [k, v] : canonical) {
        canonical_headers += k + ":" + v + "\n";
        if (!signed_headers.empty()) {
            signed_headers += ';';
        }
        signed_headers += k;
    }

    out.canonical_request = req.method + "\n" + canonical_uri(req.path, options) + "\n" + canonical_query(req.query) +
                            "\n" + canonical_headers + "\n" + signed_headers + "\n" + payload_hash;

    const std::string scope = date + "/" + std::string(region) + "/" + std::string(service) + "/aws4_request";
    out.string_to_sign =
        std::string(k_algorithm) + "\n" + date_time + "\n" + scope + "\n" + sha256_hex(out.canonical_request);

    std::string key = hmac_sha256("AWS4" + credentials.secret_access_key, date);
    key = hmac_sha256(key, region);
    key = hmac_sha256(key, service);
    key = hmac_sha256(key, "aws4_request");
    std::string signature = hmac_sha256(key, out.string_to_sign);

    out.authorization = std::string(k_algorithm) + " Credential=" + credentials.access_key_id + "/" + scope +
                        ", SignedHeaders=" + signed_headers + ", Signature=" +
                        to_hex(reinterpret_cast<const unsigned char*>(signature.data()), signature.size());
    out.headers.emplace_back("Authorization", out.authorization);
    return out;
}

Signed sign_url(std::string_view method, std::string_view url, const HeaderList& headers, std::string_view payload,
                const AwsCredentials& credentials, std::string_view region, std::string_view service,
                std::time_t timestamp, const Options& options)
{
    Request req;
    req.method = std::string(method);
    std::string_view rest = url;
    if (auto scheme = rest.find("://"); scheme != std::string_view::npos) {
        std::string_view scheme_name = rest.substr(0, scheme);
        rest.remove_prefix(scheme + 3);
        auto path_start = rest.find_first_of("/?");
        std::string_view authority = rest.substr(0, path_start);
        if (auto at = authority.find('@'); at != std::string_view::npos) {
            authority.remove_prefix(at + 1);
        }
        // The default port is not part of the Host header.
        if ((scheme_name == "https" && authority.ends_with(":443")) ||
            (scheme_name == "http" && authority.ends_with(":80"))) {
            authority.remove_suffix(authority.size() - authority.rfind(':'));
        }
        req.host = std::string(authority);
        rest = path_start == std::string_view::npos ? std::string_view{} : rest.substr(path_start);
    }
    auto q = rest.find('?');
    req.path = std::string(rest.substr(0, q));
    if (q != std::string_view::npos) {
        req.query = std::string(rest.substr(q + 1));
    }
    req.headers = headers;
    req.payload = payload;
    return sign(req, credentials, region, service, timestamp, options);
}

}  // namespace aigw::daemon::providers::sigv4

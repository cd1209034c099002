#pragma once
// Proxy settings as curl reads them: HTTPS_PROXY / https_proxy for https URLs (a CONNECT
// tunnel), http_proxy / HTTP_PROXY for http URLs (absolute-form targets), NO_PROXY / no_proxy.

#include <optional>
#include <string>
#include <string_view>

namespace aigw::daemon::upstream {

/// True when `host` must be reached directly under the NO_PROXY value `no_proxy`: a comma
/// list of `*`, exact hosts or IPs, and domain suffixes with or without a leading dot
/// (`example.com` and `.example.com` both match `api.example.com`). Ports in entries are
/// ignored; matching is case-insensitive. CIDR ranges are not supported.
bool no_proxy_matches(std::string_view no_proxy, std::string_view host);

/// One proxy, parsed from `http://user:pass@host:port` (scheme optional, port 1080 when
/// missing, as curl does).
struct ProxyEndpoint {
    std::string host;
    std::string port;
    std::string authorization;  ///< "Basic ..." when the URL had userinfo; never logged
    std::string redacted;       ///< "http://host:port": safe for messages
};

/// The proxy parsed from `url`, or nullopt when it is empty or not an http:// proxy.
std::optional<ProxyEndpoint> parse_proxy_url(std::string_view url);

/// RFC 4648 base64 with padding.
std::string base64_encode(std::string_view in);

}  // namespace aigw::daemon::upstream

#pragma once
// The HTTP(S) transport: keep-alive connection pools per origin and per event-loop thread,
// TLS verified against the system store with SNI, HTTP(S)_PROXY / NO_PROXY as curl reads
// them, deadlines as timers. Never blocks an event loop (DNS included).

#include "daemon/upstream/transport.hpp"

namespace aigw::daemon::upstream {

struct HttpClientOptions {
    std::size_t max_body_bytes = 64 << 20;  ///< a non-streamed answer larger than this is a 502
    /// Pooled idle connections kept per origin and thread; at most RLIMIT_NOFILE / 8.
    std::size_t max_idle_per_origin = 1024;
    std::chrono::milliseconds idle_ttl{60'000};  ///< a pooled connection idle longer than this is closed
    std::string ca_file;                         ///< extra CA bundle (PEM) trusted besides the system store (tests)
    /// Proxy settings; empty means read HTTPS_PROXY/https_proxy, HTTP_PROXY/http_proxy,
    /// NO_PROXY/no_proxy from the environment at construction.
    std::optional<std::string> https_proxy;
    std::optional<std::string> http_proxy;
    std::optional<std::string> no_proxy;
};

/// A Transport for http:// and https:// base URLs.
std::unique_ptr<Transport> make_http_client(HttpClientOptions opts = {});

/// "https://host:port/v1" -> {"https://host:port", "/v1"}. Empty origin when unparsable.
std::pair<std::string, std::string> split_base_url(std::string_view base_url);
/// The URL with any userinfo and query removed: safe for logs and error messages.
std::string redact_url(std::string_view url);

}  // namespace aigw::daemon::upstream

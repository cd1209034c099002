#pragma once
// Small pure helpers of the request path: target splitting, percent-decoding, the Host
// check. No sockets; tested on their own.

#include <cstddef>
#include <expected>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace aigw::daemon::http {

/// `s` percent-decoded into raw bytes; '+' becomes a space when `plus_is_space` (query
/// strings). A malformed escape ("%zz", a trailing "%") is kept as it is.
std::string percent_decode(std::string_view s, bool plus_is_space);

struct TargetParts {
    std::string_view path;   ///< raw, still percent-encoded; "/" for an empty path
    std::string_view query;  ///< after '?', "" when none
};

/// Splits a request target in origin form ("/a?b") or absolute form ("http://h:1/a?b")
/// into path and query. "*" (OPTIONS) stays "*".
TargetParts split_target(std::string_view target);

/// The name part of a Host header value: the port removed, the brackets of an IPv6
/// literal removed ("[::1]:4141" → "::1"), a trailing dot removed. "" when malformed.
std::string_view host_name(std::string_view host_header);

/// Which Host names the server answers to (DNS rebinding protection).
class HostPolicy {
public:
    /// Allows localhost, 127.0.0.1, ::1, `bound_host` and `allowed` (names compare
    /// case-insensitively; "*" allows any).
    HostPolicy(std::string_view bound_host, const std::vector<std::string>& allowed);
    /// True when the name of `host_header` may be served.
    bool allows(std::string_view host_header) const;

private:
    bool m_any = false;
    std::vector<std::string> m_names;
};

/// The message of the 403 for a Host that is not allowed.
std::string host_refused_message(std::string_view host_header);

struct RequestLine {
    std::string method;
    std::string target;
};

/// Longest session id accepted in x-aigw-session or a /s/{session}/ path.
inline constexpr std::size_t k_max_session_length = 128;

/// True for a session id aigw records: 1 to k_max_session_length characters of
/// A-Z a-z 0-9 . _ : - (a UUID, "claude-1767225600-3fa9").
bool is_valid_session_id(std::string_view id);

/// The message of the 400 for a session id that is not valid; `where` names its source.
std::string invalid_session_message(std::string_view where);

struct SessionPrefix {
    std::string session;
    std::string path;  ///< what follows the prefix, from its '/' ("/" when nothing follows)
};

/// Splits "/s/{session}/rest" (a decoded path) into the session and "/rest", so that any
/// client whose base URL can be set can carry a session. nullopt when the path does not
/// start with "/s/"; an error message when the session is not a valid id.
std::expected<std::optional<SessionPrefix>, std::string> split_session_prefix(std::string_view path);

/// Method and target from the start of a raw request, for answering a request whose
/// header could not be parsed (431, 408). Empty fields when they are not there yet.
RequestLine sniff_request_line(std::string_view raw);

}  // namespace aigw::daemon::http

#pragma once
// UTF-8 validity and the sanitising of response header values.

#include <string>
#include <string_view>

namespace aigw::daemon::http {

/// True when `s` is well-formed UTF-8 (no overlong forms, surrogates or code points
/// above U+10FFFF).
bool is_valid_utf8(std::string_view s);

/// `s` made safe as a header value: control characters (CR, LF, TAB, DEL, ...) become
/// spaces and each byte of an invalid UTF-8 sequence becomes U+FFFD.
std::string sanitize_header_value(std::string_view s);

/// True when sanitize_header_value() would change `s`: it holds a control character, or
/// bytes that are not well-formed UTF-8.
bool needs_sanitizing(std::string_view s);

}  // namespace aigw::daemon::http

#pragma once
// ASCII case for protocol text: header names, host names, schemes, MIME types, enum values
// from config and requests. Bytes outside A-Z are left as they are, whatever the locale,
// so UTF-8 text passes through unchanged.

#include <string>
#include <string_view>

namespace aigw::wire {

/// `s` with A-Z lowered; every other byte as it is.
std::string ascii_lower(std::string_view s);

}  // namespace aigw::wire

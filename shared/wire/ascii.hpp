#pragma once
// ASCII case for protocol text: header names, host names, schemes, MIME types, enum values
// from config and requests. Bytes outside A-Z are left as they are, whatever the locale,
// so UTF-8 text passes through unchanged.

#include <string>
#include <string_view>

namespace aigw::wire {

/// `s` with A-Z lowered; every other byte as it is.
std::string ascii_lower(std::string_view s);

/// Whether `a` and `b` are equal with A-Z and a-z taken as the same (header names).
bool ascii_iequals(std::string_view a, std::string_view b);

}  // namespace aigw::wire

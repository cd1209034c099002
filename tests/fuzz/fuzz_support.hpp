#pragma once
// What the harnesses share. A harness never catches: an exception escaping a translator is
// a crash, which is the bug we are looking for (the daemon must not throw on foreign input).

#include "shared/wire/json_text.hpp"
#include "shared/wire/utf8.hpp"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <cstdlib>
#include <string_view>

namespace aigw::fuzz {

inline std::string_view as_text(const std::uint8_t* data, std::size_t size)
{
    return {reinterpret_cast<const char*>(data), size};
}

/// Fails loudly (a crash the driver saves) when a property that must hold does not.
inline void require(bool ok, const char* what)
{
    if (!ok) {
        __builtin_trap();
    }
    (void)what;
}

/// Everything the daemon sends must serialise with a plain dump() (valid UTF-8 throughout).
inline void require_serialisable(const nlohmann::json& value)
{
    std::string text = value.dump();  // throws (a crash here) on invalid UTF-8
    require(wire::is_valid_utf8(text), "dump produced invalid UTF-8");
}

}  // namespace aigw::fuzz

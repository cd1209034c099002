#pragma once
// The bytes of a JSON string that need no attention: printable ASCII other than the quote
// and the backslash. Readers and writers of JSON text pass over them in bulk and stop at the
// rest (the end of the string, an escape, a control byte, the start of a UTF-8 character).

#include <bit>
#include <cstdint>
#include <cstring>

namespace aigw::wire {

/// True for a byte a JSON string holds as itself, in reading and in writing alike.
constexpr bool json_plain_byte(unsigned char c)
{
    return c >= 0x20 && c < 0x80 && c != '"' && c != '\\';
}

/// The first byte in [p, end) that is not json_plain_byte(), or `end`. Eight bytes at a time
/// while eight are left: each test marks such bytes in their word's high bits; a borrow can
/// mark a byte after a marked one, never before, so the lowest mark is the first such byte.
/// The words are read little-endian; elsewhere the bytes are read one by one.
inline const char* skip_json_plain(const char* p, const char* end)
{
    if constexpr (std::endian::native == std::endian::little) {
        constexpr std::uint64_t ones = 0x0101010101010101;
        constexpr std::uint64_t high = 0x8080808080808080;
        while (end - p >= 8) {
            std::uint64_t w = 0;
            std::memcpy(&w, p, sizeof w);
            const std::uint64_t quote = w ^ (ones * '"');
            const std::uint64_t backslash = w ^ (ones * '\\');
            const std::uint64_t marks =
                ((w - ones * 0x20) & ~w) | ((quote - ones) & ~quote) | ((backslash - ones) & ~backslash) | w;
            if ((marks & high) != 0) {
                return p + std::countr_zero(marks & high) / 8;
            }
            p += 8;
        }
    }
    while (p != end && json_plain_byte(static_cast<unsigned char>(*p))) {
        ++p;
    }
    return p;
}

}  // namespace aigw::wire

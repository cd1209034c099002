#pragma once
// The bytes of a JSON string that need no attention: printable ASCII other than the quote
// and the backslash. Readers and writers of JSON text pass over them in bulk and stop at the
// rest (the end of the string, an escape, a control byte, the start of a UTF-8 character).
// Sixteen bytes at a time with SSE2 (every x86-64 has it), else eight in a 64-bit word.

#include <bit>
#include <cstdint>
#include <cstring>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace aigw::wire {

/// True for a byte a JSON string holds as itself, in reading and in writing alike.
constexpr bool json_plain_byte(unsigned char c)
{
    return c >= 0x20 && c < 0x80 && c != '"' && c != '\\';
}

/// The first byte in [p, end) that is not json_plain_byte(), or `end`. Sixteen bytes at a
/// time with SSE2, then eight while eight are left: each test marks such bytes in their word's
/// high bits; a borrow can mark a byte after a marked one, never before, so the lowest mark is
/// the first such byte. The words are read little-endian; elsewhere the bytes one by one.
inline const char* skip_json_plain(const char* p, const char* end)
{
#if defined(__SSE2__)
    const __m128i quote16 = _mm_set1_epi8('"');
    const __m128i backslash16 = _mm_set1_epi8('\\');
    const __m128i space16 = _mm_set1_epi8(0x20);
    while (end - p >= 16) {
        const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
        // Signed bytes: below a space is a control byte, or 0x80 and up (negative).
        const __m128i stops = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, quote16), _mm_cmpeq_epi8(v, backslash16)),
                                           _mm_cmplt_epi8(v, space16));
        if (const auto mask = static_cast<unsigned>(_mm_movemask_epi8(stops)); mask != 0) {
            return p + std::countr_zero(mask);
        }
        p += 16;
    }
#endif
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

/// The first '"' or '\\' in [p, end), or `end`: where a string in JSON text a parser has
/// already checked can stop, for a reader that only needs to pass over it.
inline const char* skip_to_quote_or_escape(const char* p, const char* end)
{
#if defined(__SSE2__)
    const __m128i quote16 = _mm_set1_epi8('"');
    const __m128i backslash16 = _mm_set1_epi8('\\');
    while (end - p >= 16) {
        const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
        const __m128i stops = _mm_or_si128(_mm_cmpeq_epi8(v, quote16), _mm_cmpeq_epi8(v, backslash16));
        if (const auto mask = static_cast<unsigned>(_mm_movemask_epi8(stops)); mask != 0) {
            return p + std::countr_zero(mask);
        }
        p += 16;
    }
#endif
    if constexpr (std::endian::native == std::endian::little) {
        constexpr std::uint64_t ones = 0x0101010101010101;
        constexpr std::uint64_t high = 0x8080808080808080;
        while (end - p >= 8) {
            std::uint64_t w = 0;
            std::memcpy(&w, p, sizeof w);
            const std::uint64_t quote = w ^ (ones * '"');
            const std::uint64_t backslash = w ^ (ones * '\\');
            const std::uint64_t marks = ((quote - ones) & ~quote) | ((backslash - ones) & ~backslash);
            if ((marks & high) != 0) {
                return p + std::countr_zero(marks & high) / 8;
            }
            p += 8;
        }
    }
    while (p != end && *p != '"' && *p != '\\') {
        ++p;
    }
    return p;
}

}  // namespace aigw::wire

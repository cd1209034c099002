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

namespace detail {

inline constexpr std::uint64_t k_ones = 0x0101010101010101;
inline constexpr std::uint64_t k_high = 0x8080808080808080;

/// The bytes of `w` equal to `c`, marked in their high bits; a borrow can mark a byte after
/// a marked one, never before, so the lowest mark is the first such byte.
constexpr std::uint64_t word_equal(std::uint64_t w, unsigned char c)
{
    const std::uint64_t x = w ^ (k_ones * c);
    return (x - k_ones) & ~x;
}

/// The first byte in [p, end) that `Stops` stops at, or `end`: sixteen bytes at a time with
/// SSE2 (Stops::block marks them in a byte mask), then eight while eight are left
/// (Stops::word marks them in the high bits of a little-endian word, lowest first), then
/// one by one (Stops::byte).
template <class Stops>
inline const char* first_stop(const char* p, const char* end)
{
#if defined(__SSE2__)
    while (end - p >= 16) {
        const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
        if (const auto mask = static_cast<unsigned>(_mm_movemask_epi8(Stops::block(v))); mask != 0) {
            return p + std::countr_zero(mask);
        }
        p += 16;
    }
#endif
    if constexpr (std::endian::native == std::endian::little) {
        while (end - p >= 8) {
            std::uint64_t w = 0;
            std::memcpy(&w, p, sizeof w);
            if (const std::uint64_t marks = Stops::word(w) & k_high; marks != 0) {
                return p + std::countr_zero(marks) / 8;
            }
            p += 8;
        }
    }
    while (p != end && !Stops::byte(static_cast<unsigned char>(*p))) {
        ++p;
    }
    return p;
}

/// What skip_json_plain() stops at: any byte that is not json_plain_byte().
struct NotPlain {
#if defined(__SSE2__)
    static __m128i block(__m128i v)
    {
        // Signed bytes: below a space is a control byte, or 0x80 and up (negative).
        return _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, _mm_set1_epi8('"')), _mm_cmpeq_epi8(v, _mm_set1_epi8('\\'))),
                            _mm_cmplt_epi8(v, _mm_set1_epi8(0x20)));
    }
#endif
    static constexpr std::uint64_t word(std::uint64_t w)
    {
        return ((w - k_ones * 0x20) & ~w) | word_equal(w, '"') | word_equal(w, '\\') | w;
    }
    static constexpr bool byte(unsigned char c)
    {
        return !json_plain_byte(c);
    }
};

/// What skip_to_quote_or_escape() stops at.
struct QuoteOrEscape {
#if defined(__SSE2__)
    static __m128i block(__m128i v)
    {
        return _mm_or_si128(_mm_cmpeq_epi8(v, _mm_set1_epi8('"')), _mm_cmpeq_epi8(v, _mm_set1_epi8('\\')));
    }
#endif
    static constexpr std::uint64_t word(std::uint64_t w)
    {
        return word_equal(w, '"') | word_equal(w, '\\');
    }
    static constexpr bool byte(unsigned char c)
    {
        return c == '"' || c == '\\';
    }
};

}  // namespace detail

/// The first byte in [p, end) that is not json_plain_byte(), or `end`; sixteen bytes at a
/// time with SSE2, else eight in a word (little-endian hosts), else one by one.
inline const char* skip_json_plain(const char* p, const char* end)
{
    return detail::first_stop<detail::NotPlain>(p, end);
}

/// The first '"' or '\\' in [p, end), or `end`: where a string in JSON text a parser has
/// already checked can stop, for a reader that only needs to pass over it.
inline const char* skip_to_quote_or_escape(const char* p, const char* end)
{
    return detail::first_stop<detail::QuoteOrEscape>(p, end);
}

}  // namespace aigw::wire

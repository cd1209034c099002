#include "daemon/http/utf8.hpp"

#include "shared/wire/json_bytes.hpp"

#include <cstddef>
#include <cstdint>

namespace aigw::daemon::http {

namespace {

constexpr std::string_view k_replacement = "\xEF\xBF\xBD";

/// Length of the well-formed sequence starting at s[i], 0 when it is not well-formed
/// (Unicode's table 3-7).
std::size_t sequence_length(std::string_view s, std::size_t i)
{
    const auto byte = [&](std::size_t k) { return static_cast<unsigned char>(s[k]); };
    const unsigned char b0 = byte(i);
    if (b0 < 0x80) {
        return 1;
    }
    std::size_t n = 0;
    unsigned char lo = 0x80;
    unsigned char hi = 0xBF;
    if (b0 >= 0xC2 && b0 <= 0xDF) {
        n = 2;
    } else if (b0 >= 0xE0 && b0 <= 0xEF) {
        n = 3;
        if (b0 == 0xE0) {
            lo = 0xA0;
        } else if (b0 == 0xED) {
            hi = 0x9F;
        }
    } else if (b0 >= 0xF0 && b0 <= 0xF4) {
        n = 4;
        if (b0 == 0xF0) {
            lo = 0x90;
        } else if (b0 == 0xF4) {
            hi = 0x8F;
        }
    } else {
        return 0;
    }
    if (i + n > s.size()) {
        return 0;
    }
    if (byte(i + 1) < lo || byte(i + 1) > hi) {
        return 0;
    }
    for (std::size_t k = 2; k < n; ++k) {
        if (byte(i + k) < 0x80 || byte(i + k) > 0xBF) {
            return 0;
        }
    }
    return n;
}

bool is_control(unsigned char c)
{
    return c < 0x20 || c == 0x7F;
}

}  // namespace

bool is_valid_utf8(std::string_view s)
{
    for (std::size_t i = 0; i < s.size();) {
        const std::size_t n = sequence_length(s, i);
        if (n == 0) {
            return false;
        }
        i += n;
    }
    return true;
}

namespace {

/// What needs_sanitizing() stops at first: a control byte, DEL, or a byte of 0x80 and up
/// (in the terms of wire::detail::first_stop, the bulk skip the JSON code uses).
struct NotPrintableAscii {
#if defined(__SSE2__)
    static __m128i block(__m128i v)
    {
        // Signed bytes: below a space is a control byte, or 0x80 and up (negative).
        return _mm_or_si128(_mm_cmplt_epi8(v, _mm_set1_epi8(0x20)), _mm_cmpeq_epi8(v, _mm_set1_epi8(0x7F)));
    }
#endif
    static constexpr std::uint64_t word(std::uint64_t w)
    {
        return ((w - wire::detail::k_ones * 0x20) & ~w) | wire::detail::word_equal(w, 0x7F) | w;
    }
    static constexpr bool byte(unsigned char c)
    {
        return c < 0x20 || c >= 0x7F;
    }
};

}  // namespace

bool needs_sanitizing(std::string_view s)
{
    // Most values are printable ASCII: passed sixteen bytes at a time, and the exact check
    // below starts at the first byte that is not.
    const char* const end = s.data() + s.size();
    const char* const stop = wire::detail::first_stop<NotPrintableAscii>(s.data(), end);
    if (stop == end) {
        return false;
    }
    const auto i = static_cast<std::size_t>(stop - s.data());
    bool non_ascii = false;
    for (const char c : s.substr(i)) {
        const auto u = static_cast<unsigned char>(c);
        if (is_control(u)) {
            return true;
        }
        non_ascii = non_ascii || u >= 0x80;
    }
    return non_ascii && !is_valid_utf8(s);
}

std::string sanitize_header_value(std::string_view s)
{
    std::string out;
    out.reserve(s.size());
    for (std::size_t i = 0; i < s.size();) {
        const auto c = static_cast<unsigned char>(s[i]);
        if (is_control(c)) {
            out += ' ';
            ++i;
            continue;
        }
        const std::size_t n = sequence_length(s, i);
        if (n == 0) {
            out += k_replacement;
            ++i;
            continue;
        }
        out.append(s.substr(i, n));
        i += n;
    }
    return out;
}

}  // namespace aigw::daemon::http

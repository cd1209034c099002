#include "shared/wire/utf8.hpp"

#include <algorithm>
#include <cstdint>

namespace aigw::wire {
namespace {

/// Length of the well-formed character starting at `pos`, or 0 when it is ill-formed; in that
/// case `bad_len` is the length of the maximal ill-formed subpart (at least 1).
std::size_t char_length(std::string_view s, std::size_t pos, std::size_t& bad_len)
{
    auto byte = [&](std::size_t i) { return static_cast<std::uint8_t>(s[i]); };
    const std::uint8_t b0 = byte(pos);
    bad_len = 1;
    if (b0 < 0x80) {
        return 1;
    }
    std::size_t need = 0;
    std::uint8_t lo = 0x80;
    std::uint8_t hi = 0xBF;
    if (b0 >= 0xC2 && b0 <= 0xDF) {
        need = 1;
    } else if (b0 == 0xE0) {
        need = 2;
        lo = 0xA0;
    } else if (b0 >= 0xE1 && b0 <= 0xEC) {
        need = 2;
    } else if (b0 == 0xED) {
        need = 2;
        hi = 0x9F;  // no surrogates
    } else if (b0 >= 0xEE && b0 <= 0xEF) {
        need = 2;
    } else if (b0 == 0xF0) {
        need = 3;
        lo = 0x90;
    } else if (b0 >= 0xF1 && b0 <= 0xF3) {
        need = 3;
    } else if (b0 == 0xF4) {
        need = 3;
        hi = 0x8F;  // nothing above U+10FFFF
    } else {
        return 0;  // continuation byte, C0/C1 (overlong) or F5..FF
    }
    for (std::size_t k = 1; k <= need; ++k) {
        if (pos + k >= s.size()) {
            bad_len = k;
            return 0;
        }
        const std::uint8_t b = byte(pos + k);
        const std::uint8_t min = k == 1 ? lo : 0x80;
        const std::uint8_t max = k == 1 ? hi : 0xBF;
        if (b < min || b > max) {
            bad_len = k;
            return 0;
        }
    }
    return need + 1;
}

constexpr std::string_view k_replacement = "\xEF\xBF\xBD";

}  // namespace

std::size_t detail::utf8_char_length_checked(std::string_view text, std::size_t pos)
{
    std::size_t bad = 0;
    return char_length(text, pos, bad);
}

bool is_valid_utf8(std::string_view text)
{
    std::size_t bad = 0;
    for (std::size_t i = 0; i < text.size();) {
        std::size_t n = char_length(text, i, bad);
        if (n == 0) {
            return false;
        }
        i += n;
    }
    return true;
}

std::string valid_utf8(std::string_view text)
{
    std::string out;
    out.reserve(text.size());
    std::size_t bad = 0;
    for (std::size_t i = 0; i < text.size();) {
        std::size_t n = char_length(text, i, bad);
        if (n == 0) {
            out += k_replacement;
            i += bad;
        } else {
            out.append(text.substr(i, n));
            i += n;
        }
    }
    return out;
}

std::size_t utf8_safe_cut(std::string_view text, std::size_t max)
{
    if (max >= text.size()) {
        return text.size();
    }
    auto is_continuation = [&](std::size_t i) { return (static_cast<std::uint8_t>(text[i]) & 0xC0) == 0x80; };
    std::size_t cut = max;
    for (int back = 0; back < 3 && cut > 0 && is_continuation(cut); ++back) {
        --cut;
    }
    if (is_continuation(cut)) {
        return max;  // a run of stray continuation bytes: not UTF-8, cut anywhere
    }
    // `cut` is a lead byte; keep its character only if it ends by `max`.
    std::size_t bad = 0;
    std::size_t n = char_length(text, cut, bad);
    if (n != 0 && cut + n <= max) {
        return cut + n;  // what follows is a stray continuation byte, not part of this character
    }
    return cut == max ? max : cut;
}

std::string utf8_prefix(std::string_view text, std::size_t max_bytes)
{
    return valid_utf8(text.substr(0, utf8_safe_cut(text, max_bytes)));
}

std::string header_safe(std::string_view text, std::size_t max_bytes)
{
    // The usual value (a model's id, a reason) is printable ASCII within the limit: as it is.
    if (text.size() <= max_bytes &&
        std::all_of(text.begin(), text.end(), [](char c) { return c >= 0x20 && c < 0x7F; })) {
        return std::string(text);
    }
    std::string clean;
    clean.reserve(text.size());
    for (char c : text) {
        auto u = static_cast<unsigned char>(c);
        if (u >= 0x20 && u != 0x7F) {
            clean.push_back(c);
        }
    }
    std::string out = valid_utf8(clean);
    out.resize(utf8_safe_cut(out, max_bytes));
    return out;
}

}  // namespace aigw::wire

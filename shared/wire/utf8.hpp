#pragma once
// UTF-8 hygiene for text that leaves the daemon or enters the ledger: upstream bytes, header
// values, cut strings. nlohmann::json throws on invalid UTF-8 when it serialises, so every
// string built from foreign bytes passes through here (or through wire::dump_json).

#include <cstddef>
#include <string>
#include <string_view>

namespace aigw::wire {

/// True when `text` is well-formed UTF-8 (no overlong forms, surrogates or code points
/// above U+10FFFF).
bool is_valid_utf8(std::string_view text);

namespace detail {
std::size_t utf8_char_length_checked(std::string_view text, std::size_t pos);
}

/// The length of the well-formed character that starts at `text[pos]` (1 for ASCII), or 0
/// when it is ill-formed or cut short by the end of `text`. `pos` must be inside `text`.
/// Inline for the common characters (ASCII, two bytes, three bytes outside the lead bytes
/// with narrower ranges); the rest are checked out of line.
inline std::size_t utf8_char_length(std::string_view text, std::size_t pos)
{
    const auto byte = [&](std::size_t i) { return static_cast<unsigned char>(text[i]); };
    const unsigned char b0 = byte(pos);
    if (b0 < 0x80) {
        return 1;
    }
    const std::size_t left = text.size() - pos;
    if (b0 >= 0xC2 && b0 <= 0xDF && left >= 2 && (byte(pos + 1) & 0xC0) == 0x80) {
        return 2;
    }
    if (b0 >= 0xE1 && b0 <= 0xEF && b0 != 0xED && left >= 3 && (byte(pos + 1) & 0xC0) == 0x80 &&
        (byte(pos + 2) & 0xC0) == 0x80) {
        return 3;
    }
    return detail::utf8_char_length_checked(text, pos);
}

/// `text` with every ill-formed sequence replaced by U+FFFD (one per maximal ill-formed
/// subpart, as WHATWG's decoder does). Well-formed input is returned unchanged. Never throws.
std::string valid_utf8(std::string_view text);

/// The largest length <= `max` at which `text` can be cut without splitting a character:
/// `max` itself when that is a character boundary (or `text.size()` when shorter), else the
/// start of the character that straddles it. Input that is not UTF-8 is cut at `max`.
std::size_t utf8_safe_cut(std::string_view text, std::size_t max);

/// At most `max_bytes` of `text`, cut on a character boundary and with ill-formed sequences
/// replaced: for quoting foreign bytes in a message ("got: <first 200 bytes>").
std::string utf8_prefix(std::string_view text, std::size_t max_bytes);

/// A value fit for an HTTP response header: valid UTF-8 with control characters (C0, DEL)
/// removed, cut to at most `max_bytes` on a character boundary.
std::string header_safe(std::string_view text, std::size_t max_bytes = 256);

}  // namespace aigw::wire

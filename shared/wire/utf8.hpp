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

/// The length of the well-formed character that starts at `text[pos]` (1 for ASCII), or 0
/// when it is ill-formed or cut short by the end of `text`. `pos` must be inside `text`.
std::size_t utf8_char_length(std::string_view text, std::size_t pos);

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

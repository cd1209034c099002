#pragma once
// JSON text in and out without exceptions: a depth guard in front of nlohmann's recursive
// parser, and serialisation that replaces invalid UTF-8 instead of throwing.

#include "shared/wire/error.hpp"

#include <nlohmann/json.hpp>

#include <cstddef>
#include <expected>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>

namespace aigw::wire {

/// Deepest nesting of arrays and objects a request body may have.
inline constexpr int k_max_json_depth = 128;

/// `value.dump()` with invalid UTF-8 in strings replaced by U+FFFD: never throws. Use it
/// instead of `.dump()` on anything that may hold foreign text (upstream bytes, headers,
/// client strings cut by us).
std::string dump_json(const nlohmann::json& value);

/// Appends what dump_json(value) returns to `out`, byte for byte, without building it apart.
/// Strings go over in runs rather than a byte at a time, which makes the text of a large
/// request several times quicker to write than nlohmann's serializer does.
void append_json(std::string& out, const nlohmann::json& value);

/// Appends `text` as a JSON string, quotes included, as append_json(out, json(text)) would.
void append_json_string(std::string& out, std::string_view text);

/// dump_json(object) with `object[key] = value` as if set first, written without copying
/// `object` (an agent's request is often hundreds of KB). `object` must be an object.
std::string dump_json_with(const nlohmann::json& object, std::string_view key, const nlohmann::json& value);

/// One change edit_members_text() makes to a top-level member.
struct MemberEdit {
    std::string_view key;
    std::optional<std::string_view> value;  ///< its new value (JSON text); nullopt leaves it out
};

/// The JSON object `text` with `edits` made, every member's bytes as they came (only the
/// whitespace between members goes): a client's body passed on with a few members changed,
/// without writing it anew. A member an edit names gets
/// the edit's value, or is left out; an edit with a value whose member is not there is added
/// last. nullopt, and the caller writes the parsed value instead, unless `text` is an object
/// with members, none named with an escape or named twice. `text` must be JSON a parser took:
/// this scans it, it does not validate it.
std::optional<std::string> edit_members_text(std::string_view text, std::initializer_list<MemberEdit> edits);

/// dump_json(value).size(), counted without writing the text: for estimates from the size
/// of a request's JSON, which must not cost a second copy of it.
std::size_t json_text_size(const nlohmann::json& value);

/// True when no array or object in `text` nests deeper than `max_depth`. A linear scan that
/// knows strings and escapes; it does not validate the JSON (the parser does that), so it
/// is safe to run before the parser on any bytes.
bool json_depth_ok(std::string_view text, int max_depth = k_max_json_depth);

/// A string escape as JSON allows it, starting at the backslash `text[pos]`.
struct JsonEscape {
    std::size_t length = 0;   ///< bytes it takes: 2, 6, or 12 for a surrogate pair; 0 when invalid
    std::size_t decoded = 0;  ///< UTF-8 bytes it stands for
};
/// The escape at `text[pos]` (a backslash), or length 0 when it is not one JSON allows: an
/// unknown letter, a \u without four hex digits, a lone surrogate, or cut short by the end.
JsonEscape json_escape_at(std::string_view text, std::size_t pos);

/// What nlohmann::json::parse(text) returns, read in one pass that copies strings in runs and
/// keeps to `max_depth` as it goes: several times quicker on a large request. Returns nullopt
/// for text it does not vouch for: not JSON, nested deeper than `max_depth`, or one of the
/// rare forms it leaves to nlohmann (a byte order mark, a number that underflows or
/// overflows a double, bytes after a NUL, where nlohmann stops reading). The parse_*
/// functions below try it first and ask nlohmann only then, for its verdict and its
/// message. Never throws.
std::optional<nlohmann::json> read_json(std::string_view text, int max_depth = k_max_json_depth);

/// What checked_string_member() found of a member.
struct CheckedMember {
    std::string_view value;  ///< its string value, as it is in the text (it has no escapes)
    bool is_string = false;  ///< false: the member is absent, or not a string
};
/// For a reader that needs one member of a small object and that it is JSON, not the value:
/// checks that `text` is a JSON object read_json() would read, without building it, and
/// gives the top-level member `name` (the last, when named twice), as the parsed object's
/// find() would. nullopt when the text does not pass, or when the check cannot tell without
/// decoding: a top-level name with an escape, an escaped string value of `name`. Then parse
/// it. Never throws.
std::optional<CheckedMember> checked_string_member(std::string_view text, std::string_view name,
                                                   int max_depth = k_max_json_depth);

/// Parses a request body. Returns the value, or a 400 bad_request Failure: "nesting deeper
/// than 128 levels" (checked before parsing, so a 100,000-deep body cannot overflow the
/// stack) or "could not parse JSON: <parser's reason>". Never throws.
std::expected<nlohmann::json, Failure> parse_json_body(std::string_view text, int max_depth = k_max_json_depth);

/// For translators that treat any unreadable text alike: the value, or a discarded value
/// (`is_discarded()`) when `text` is not JSON or nests deeper than `max_depth`. Never throws.
nlohmann::json parse_json_lenient(std::string_view text, int max_depth = k_max_json_depth);

/// Like parse_json_body, for an upstream's answer: the same guards, but the failure is
/// FailureKind::upstream (502) naming `what` ("the upstream's answer").
std::expected<nlohmann::json, Failure> parse_upstream_json(std::string_view text, std::string_view what,
                                                           int max_depth = k_max_json_depth);

}  // namespace aigw::wire

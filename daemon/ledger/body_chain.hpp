#pragma once
// How a logged request body is stored once per distinct prompt prefix. A conversation (the
// body's messages / contents / input array, with its system prompt in front when there is
// one) becomes a chain of content-addressed nodes: node k's hash covers node k-1's hash and
// item k's canonical JSON, so two requests that share their first k items share their first
// k nodes, and turn N of a conversation adds only its new items. What is left of the body
// (model, parameters, tools) is stored per request with placeholders where the chain goes.
//
// Pure: JSON in, JSON out; the ledger's writer does the SQL.

#include <array>
#include <cstdint>
#include <expected>
#include <string>
#include <string_view>
#include <vector>

namespace aigw::daemon::ledger {

using NodeHash = std::array<unsigned char, 32>;  ///< SHA-256

/// A body split into the chain's items and the rest.
struct SplitBody {
    /// "" when the body is not a conversation (not a JSON object with an array of objects
    /// under messages, contents or input): then it is stored whole. Otherwise the array's
    /// key, after "<system key>+" when the first item is that key's value
    /// ("system+messages", "systemInstruction+contents", "instructions+input").
    std::string layout;
    /// The body as compact JSON (key order kept) with 0 in place of the chain's keys.
    std::string rest;
    /// Each item's canonical JSON (compact, key order kept), oldest first.
    std::vector<std::string> items;
};

/// Splits `body`. A body that is not a conversation comes back with an empty layout.
SplitBody split_body(std::string_view body);

/// The body split_body() was given, from its rest, layout and items (JSON-equal to it, and
/// byte-for-byte equal when it was compact JSON), or an error when they do not fit.
std::expected<std::string, std::string> join_body(std::string_view rest, std::string_view layout,
                                                  const std::vector<std::string>& items);

/// The hash of a node holding `item` after the node hashed `parent` (all zero for the first).
NodeHash node_hash(const NodeHash& parent, std::string_view item);

/// The words worth searching in a body, item or answer: every string in it except
/// identifiers, roles, types and inline data (URLs, base64), joined by newlines. Text that
/// is not JSON is returned as is.
std::string searchable_text(std::string_view json_or_text);

}  // namespace aigw::daemon::ledger

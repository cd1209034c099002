#pragma once
// A value for a JSON Schema, made up without a model: what the mock provider answers for a
// json_schema response_format and for a tool call's arguments, so structured-output clients
// (generateObject, zod parsers, strict tool calling) pass offline.

#include <nlohmann/json.hpp>

#include <string_view>

namespace aigw::daemon::providers::mock {

/// A deterministic value that validates against `schema`, for the subset of JSON Schema
/// (draft 4 to 2020-12) that structured-output APIs accept: type (a list of types too, and
/// OpenAPI's `nullable`), const, enum (its first value), properties/required (every listed
/// property is filled, required ones first, within maxProperties), minProperties,
/// items/prefixItems with minItems/maxItems/uniqueItems, string formats (date-time, date,
/// time, email, uri, uuid, ipv4, ipv6, hostname, duration), minLength/maxLength (in code
/// points), a pattern (a few candidates are tried), minimum/maximum and their exclusive forms,
/// multipleOf, anyOf/oneOf (the first branch that is not just null), allOf (merged), and $ref
/// to "#", "#/$defs/..." or "#/definitions/..." (any local JSON pointer). `fill` is put in the
/// first free-form string property of the top-level object (none of format, pattern, enum or
/// const), cut to its maxLength. Schemas beyond that subset (if/then/else, not, patterns no
/// candidate matches, recursion deeper than 24) may get a value that does not validate.
/// Never throws.
nlohmann::json value_for_schema(const nlohmann::json& schema, std::string_view fill = {});

}  // namespace aigw::daemon::providers::mock

#pragma once
// Small pieces every adapter's translation uses: tolerant field access on provider JSON
// (absent or mistyped fields read as empty), the failure for a malformed upstream answer,
// data URLs, and the skeleton of an OpenAI chunk.

#include "shared/wire/error.hpp"
#include "shared/wire/json_text.hpp"
#include "shared/wire/usage.hpp"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace aigw::daemon::providers {

/// obj[key] when it is a string, else "".
std::string string_at(const nlohmann::json& obj, const char* key);
/// obj[key] when it is a number (floats truncated, clamped to int64's range, NaN as 0), else 0.
/// Never UB, never throws. Not for token counts: use wire::token_count_at.
std::int64_t int_at(const nlohmann::json& obj, const char* key);
/// A JSON number as int64 with int_at's rules; 0 for anything that is not a number.
std::int64_t json_to_int64(const nlohmann::json& value);
/// obj[key], or a null value when obj is not an object or lacks the key. Unlike
/// `obj.value(key, default)`, never throws on a non-object or a mistyped field.
const nlohmann::json& field_at(const nlohmann::json& obj, const char* key);
/// obj[key] when it is an array, else an empty array.
const nlohmann::json& array_at(const nlohmann::json& obj, const char* key);
/// obj[key] when it is a boolean, else `fallback`.
bool bool_at(const nlohmann::json& obj, const char* key, bool fallback = false);
/// obj[key] when it is an object, else an empty object.
const nlohmann::json& object_at(const nlohmann::json& obj, const char* key);

/// The upstream answered, but not in its documented shape: 502, upstream kind (retryable).
wire::Failure upstream_failure(std::string message);

struct DataUrl {
    std::string media_type;
    std::string data;  ///< still base64
};
/// "data:image/png;base64,AAAA" -> {image/png, AAAA}; nullopt for anything else.
std::optional<DataUrl> parse_data_url(std::string_view url);

/// Base64 of the little-endian float32s of a JSON number array: what OpenAI returns for
/// embeddings with encoding_format "base64" (the openai SDK's default).
std::string float32_base64(const nlohmann::json& values);

/// OpenAI's embeddings answer: {"object":"list","data","model","usage":{prompt_tokens,total_tokens}}.
nlohmann::json embeddings_list(nlohmann::json data, std::string_view model, std::int64_t input_tokens);

/// {"id","object":"chat.completion.chunk","created","model"}: the fields every chunk repeats.
nlohmann::json chunk_base(std::string_view id, std::string_view model, std::int64_t created);

}  // namespace aigw::daemon::providers

#pragma once
// Reads what the relay needs from an OpenAI chat.completion.chunk without building it, so
// a chunk that needs no change can go to an OpenAI client as the upstream's own bytes; and
// what the dispatcher needs from a whole chat.completion answer, for the same reason.

#include "shared/wire/usage.hpp"

#include <nlohmann/json.hpp>

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace aigw::daemon::pipeline {

/// What the relay tracks for one chunk: the same facts has_content() and the delivered-text
/// count read from a parsed chunk.
struct ChunkFacts {
    std::size_t content_chars = 0;  ///< bytes of choices[].delta.content
    bool has_content = false;       ///< text, reasoning, a refusal or a tool call
    std::vector<std::string> finish_reasons;
    /// The top-level `usage` object as nlohmann reads it (null when absent or null): the
    /// translator must record it (StreamTranslator::take_usage).
    nlohmann::json usage;
    bool usage_only = false;  ///< `choices` empty and `usage` an object: the stream's usage chunk
};

/// The facts of `data` (one SSE event's data) when it can be relayed verbatim: a complete JSON
/// object on one line, with no non-null top-level `error`, a top-level `usage` that is null or
/// an object, and nesting at most 64 deep. nullopt otherwise; such an event goes through the
/// translator, which decides what it is.
std::optional<ChunkFacts> scan_chunk(std::string_view data);

/// What the dispatcher reads of an OpenAI chat.completion it sends on as it came.
struct CompletionFacts {
    std::vector<std::string> finish_reasons;  ///< of choices[], in order
    /// What wire::usage_from_openai() makes of the `usage` object nlohmann would build (not
    /// reported when it is absent or null), read without building it.
    wire::Usage usage;
};

/// The facts of `body` (a 2xx answer) when the one-pass reader is sure of it: one JSON object
/// whose `choices` is an array and whose `usage`, if not null, is an object of objects,
/// strings, numbers, booleans and nulls; nesting at most 64 deep. nullopt otherwise: the
/// adapter's chat_response() reads it then, and says what is wrong with it.
std::optional<CompletionFacts> scan_completion(std::string_view body);

namespace detail {
/// What the one-pass reader scan_chunk() tries first makes of `data`: its facts (filled in),
/// refused (scan_chunk() says nullopt), or unsure, when scan_chunk_sax() decides. Apart for
/// the tests, which hold the two readers equal.
enum class Scan : unsigned char { facts, refused, unsure };
Scan scan_chunk_fast(std::string_view data, ChunkFacts& facts);
/// scan_chunk() through nlohmann's SAX parser alone.
std::optional<ChunkFacts> scan_chunk_sax(std::string_view data);
}  // namespace detail

}  // namespace aigw::daemon::pipeline

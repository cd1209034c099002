#pragma once
// The built-in offline provider: `mock/<any-name>` answers deterministically from the
// prompt, in process, with no network. It is what the demo uses when no key is set and
// what users point their own CI at.
//
// Behaviour (documented in the README):
// - The answer echoes the last user message: "Mock answer from mock/<name>: <text>".
// - With `tools`, a forced tool_choice is obeyed ("required": the tool the prompt names, else
//   the first); otherwise a user message naming one of the tools gets a call to that tool
//   (not right after a tool result). Arguments validate against the tool's parameters
//   (schema_value.hpp), the prompt text in the first free-form string.
// - With response_format json_schema, the answer is JSON that validates against the schema;
//   with json_object (or a schema that allows any object), {"answer": <echo>}.
// - An llm-rubric judge prompt (promptfoo's, aigw eval's: <Output>...</Output> and a rubric)
//   gets a JSON verdict {"reason", "pass", "score"}: it fails an empty output or one with the
//   word FAIL, and passes the rest.
// - Tokens are counted as ceil(chars / 4) per message (+3 per message), deterministic.
// - A model name containing "slow" waits 25 ms per streamed word (to watch streaming).
// - Embeddings are bag-of-words hash vectors: similar wording, similar vectors.

#include "daemon/providers/adapter.hpp"

#include <chrono>
#include <optional>

namespace aigw::daemon::providers::mock {

/// The complete answer for a canonical chat request.
ChatResult complete(const nlohmann::json& canonical, std::string_view model_name, std::string_view request_id,
                    std::int64_t created);

/// The same answer as a sequence of chat.completion.chunk objects, word by word (a word
/// longer than 24 bytes in pieces, each a whole number of UTF-8 characters), ending with the
/// finish chunk and a usage chunk (choices: []).
std::vector<nlohmann::json> stream_chunks(const nlohmann::json& canonical, std::string_view model_name,
                                          std::string_view request_id, std::int64_t created);

/// The verdict the mock gives when `canonical` is an llm-rubric judge prompt: the user message
/// holds <Output>...</Output> and <Rubric>...</Rubric> (or a system message asks for a rubric
/// verdict). {"reason", "pass": false, "score": 0} when the output is empty or has the word
/// FAIL, else pass with score 1. nullopt for any other prompt.
std::optional<nlohmann::json> judge_verdict(const nlohmann::json& canonical);

/// Delay between streamed chunks for this model name.
std::chrono::milliseconds chunk_delay(std::string_view model_name);

/// Embeddings: text_vector() of each input.
ChatResult embeddings(const nlohmann::json& canonical, std::string_view model_name);

/// A deterministic unit vector of 64 floats that preserves rough similarity: a signed
/// feature hash of the text's lower-cased words (stop words dropped) and their character
/// trigrams. "What is the capital of France?" and "what's the capital of france" get the
/// same vector; unrelated prompts are near orthogonal. Enough to exercise a semantic
/// cache offline; not a language model.
std::vector<double> text_vector(std::string_view text);

}  // namespace aigw::daemon::providers::mock

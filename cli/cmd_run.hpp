#pragma once
// Pieces of `aigw run` and `aigw chat` that are pure enough to test.

#include "shared/client/types.hpp"
#include "shared/config/config.hpp"

#include <nlohmann/json.hpp>

#include <optional>
#include <string>
#include <vector>

namespace aigw::cli {

/// The prompt from the argument words (joined by spaces) and piped stdin: either alone, or
/// both as "<args>\n\n<stdin>". Trailing newlines of stdin are dropped. Empty when neither.
std::string assemble_prompt(const std::vector<std::string>& args, const std::optional<std::string>& stdin_text);

struct DefaultModel {
    std::string model;
    std::string reason;  ///< shown on a terminal: why this model was picked
};

/// -m wins; else $AIGW_MODEL; else the config alias "default"; else the first of
/// openai/gpt-4o-mini, anthropic/claude-haiku-4-5, gemini/gemini-2.5-flash whose provider
/// has a key (env or keys file); else mock/echo.
DefaultModel pick_model(const std::string& flag, const config::Config& cfg, const config::Env& env);

/// {"model", "messages": [system?, user]} plus temperature / max_tokens when given.
nlohmann::json build_chat_request(const std::string& model, const std::string& system, const std::string& prompt,
                                  std::optional<double> temperature, std::optional<int> max_tokens);

/// build_chat_request with the earlier turns of a conversation (`history`: user/assistant
/// messages) between the system prompt and the new prompt.
nlohmann::json build_conversation_request(const std::string& model, const std::string& system,
                                          const nlohmann::json& history, const std::string& prompt,
                                          std::optional<double> temperature, std::optional<int> max_tokens);

/// A rough token count of the messages' text, for a warning before sending: a token per
/// four ASCII characters and one per other character (CJK text is about a token a character).
std::int64_t estimate_tokens(const nlohmann::json& messages);

/// The warning to print before sending `estimated` tokens to `model`, or "" when the
/// prompt fits its context window (or the catalog does not know the window).
std::string context_window_warning(const config::Config& cfg, const std::string& model, std::int64_t estimated);

/// What a terminal user should know about who answered: "answered from the cache" or
/// "answered by M after N attempts: REASON"; "" for a plain first-try answer.
std::string served_note(const client::ResponseMeta& meta);

}  // namespace aigw::cli

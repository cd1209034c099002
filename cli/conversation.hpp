#pragma once
// Continuity for `aigw run`: conversations stored as JSON in <data dir>/conversations
// (0700 dir, 0600 files), so `aigw run -c` continues the last one and `--cid ID` a named
// one; and run templates (model, system prompt, parameters, a prompt with {{input}}) as
// TOML files in <config dir>/templates/NAME.toml.

#include <nlohmann/json.hpp>

#include <expected>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

namespace aigw::cli {

struct Conversation {
    std::string id;
    std::string model;
    std::string system;
    nlohmann::json messages = nlohmann::json::array();  ///< user/assistant turns, no system
    std::int64_t updated_ms = 0;
};

/// Conversation ids are 1-64 of [A-Za-z0-9._-], not starting with '.'.
bool valid_conversation_id(std::string_view id);
/// "YYYYmmdd-HHMMSS-xxxx" (local time, random suffix).
std::string new_conversation_id();

class ConversationStore {
public:
    explicit ConversationStore(std::filesystem::path dir) : m_dir(std::move(dir)) {}
    /// nullopt when there is no conversation `id`; an error when its file is unreadable.
    std::expected<std::optional<Conversation>, std::string> load(const std::string& id) const;
    /// The id of the conversation saved last, if any.
    std::optional<std::string> last_id() const;
    /// Writes the conversation (atomically, 0600) and makes it the last one.
    std::expected<void, std::string> save(const Conversation& c) const;

private:
    std::filesystem::path m_dir;
};

struct RunTemplate {
    std::string model;
    std::string system;
    std::string prompt;  ///< "{{input}}" is replaced by the run's prompt; empty: the prompt alone
    std::optional<double> temperature;
    std::optional<int> max_tokens;
};

/// Template names are 1-64 of [A-Za-z0-9._-], not starting with '.'.
std::expected<RunTemplate, std::string> parse_template(std::string_view toml_text, std::string_view source);
std::expected<RunTemplate, std::string> load_template(const std::filesystem::path& dir, const std::string& name);
/// Writes <dir>/NAME.toml (0600).
std::expected<std::filesystem::path, std::string> save_template(const std::filesystem::path& dir,
                                                                const std::string& name, const RunTemplate& t);
/// The template's prompt with {{input}} replaced; the input alone when the template has none
/// (input appended after a blank line when the template prompt lacks {{input}}).
std::string apply_template_prompt(const RunTemplate& t, const std::string& input);

}  // namespace aigw::cli

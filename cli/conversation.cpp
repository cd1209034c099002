#include "cli/conversation.hpp"
#include "cli/term.hpp"

#include "shared/config/paths.hpp"

#include <toml++/toml.h>

#include <chrono>
#include <ctime>
#include <random>
#include <sstream>

namespace aigw::cli {

namespace {

bool valid_name(std::string_view id)
{
    if (id.empty() || id.size() > 64 || id.front() == '.') {
        return false;
    }
    return std::all_of(id.begin(), id.end(), [](char c) {
        return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '.' || c == '_' || c == '-';
    });
}

std::string toml_quote(const std::string& s)
{
    std::ostringstream out;
    out << toml::value<std::string>(s);
    return out.str();
}

}  // namespace

bool valid_conversation_id(std::string_view id)
{
    return valid_name(id);
}

std::string new_conversation_id()
{
    return time_stamped_id();
}

std::expected<std::optional<Conversation>, std::string> ConversationStore::load(const std::string& id) const
{
    if (!valid_conversation_id(id)) {
        return std::unexpected("'" + id + "' is not a conversation id (letters, digits, '.', '_' and '-', at most 64)");
    }
    const auto path = m_dir / (id + ".json");
    if (!std::filesystem::exists(path)) {
        return std::optional<Conversation>();
    }
    auto text = config::read_file(path);
    auto j = text ? nlohmann::json::parse(*text, nullptr, false) : nlohmann::json(nullptr);
    if (!text || j.is_discarded() || !j.is_object() || !j.value("messages", nlohmann::json()).is_array()) {
        return std::unexpected("cannot read conversation " + path.string() + "; delete it or use another --cid");
    }
    Conversation c;
    c.id = id;
    c.model = j.value("model", "");
    c.system = j.value("system", "");
    c.messages = j["messages"];
    c.updated_ms = j.value("updated_ms", std::int64_t{0});
    return c;
}

std::optional<std::string> ConversationStore::last_id() const
{
    auto text = config::read_file(m_dir / "last");
    if (!text) {
        return std::nullopt;
    }
    while (!text->empty() && (text->back() == '\n' || text->back() == ' ')) {
        text->pop_back();
    }
    return valid_conversation_id(*text) ? std::optional<std::string>(*text) : std::nullopt;
}

std::expected<void, std::string> ConversationStore::save(const Conversation& c) const
{
    if (!valid_conversation_id(c.id)) {
        return std::unexpected("'" + c.id + "' is not a conversation id");
    }
    nlohmann::json j = {{"id", c.id},
                        {"model", c.model},
                        {"system", c.system},
                        {"messages", c.messages},
                        {"updated_ms", std::chrono::duration_cast<std::chrono::milliseconds>(
                                           std::chrono::system_clock::now().time_since_epoch())
                                           .count()}};
    try {
        config::ensure_private_dir(m_dir);
        config::write_private_file(m_dir / (c.id + ".json"), j.dump(2) + "\n");
        config::write_private_file(m_dir / "last", c.id + "\n");
    } catch (const std::exception& e) {
        return std::unexpected(std::string("cannot save the conversation: ") + e.what());
    }
    return {};
}

std::expected<RunTemplate, std::string> parse_template(std::string_view toml_text, std::string_view source)
{
    toml::table tbl;
    try {
        tbl = toml::parse(toml_text, source);
    } catch (const toml::parse_error& e) {
        return std::unexpected(std::string(source) + ":" + std::to_string(e.source().begin.line) + ": " +
                               std::string(e.description()));
    }
    RunTemplate t;
    for (const auto& [key, node] : tbl) {
        const std::string k(key.str());
        const std::string where = std::string(source) + ":" + std::to_string(node.source().begin.line) + ": ";
        if (k == "model" || k == "system" || k == "prompt") {
            auto v = node.value<std::string>();
            if (!v) {
                return std::unexpected(where + k + " must be a string");
            }
            (k == "model" ? t.model : k == "system" ? t.system : t.prompt) = *v;
        } else if (k == "temperature") {
            auto v = node.value<double>();
            if (!v) {
                return std::unexpected(where + "temperature must be a number");
            }
            t.temperature = *v;
        } else if (k == "max_tokens") {
            auto v = node.value<std::int64_t>();
            if (!v || *v <= 0) {
                return std::unexpected(where + "max_tokens must be a positive integer");
            }
            t.max_tokens = static_cast<int>(*v);
        } else {
            return std::unexpected(where + "unknown key '" + k +
                                   "' (a template has model, system, prompt, temperature, max_tokens)");
        }
    }
    return t;
}

std::expected<RunTemplate, std::string> load_template(const std::filesystem::path& dir, const std::string& name)
{
    if (!valid_name(name)) {
        return std::unexpected("'" + name + "' is not a template name (letters, digits, '.', '_' and '-')");
    }
    const auto path = dir / (name + ".toml");
    auto text = config::read_file(path);
    if (!text) {
        return std::unexpected("no template '" + name + "' (" + path.string() +
                               "); save one with 'aigw run --save-template " + name + " -m MODEL -s SYSTEM'");
    }
    return parse_template(*text, path.string());
}

std::expected<std::filesystem::path, std::string> save_template(const std::filesystem::path& dir,
                                                                const std::string& name, const RunTemplate& t)
{
    if (!valid_name(name)) {
        return std::unexpected("'" + name + "' is not a template name (letters, digits, '.', '_' and '-')");
    }
    std::string text;
    if (!t.model.empty()) {
        text += "model = " + toml_quote(t.model) + "\n";
    }
    if (!t.system.empty()) {
        text += "system = " + toml_quote(t.system) + "\n";
    }
    if (!t.prompt.empty()) {
        text += "prompt = " + toml_quote(t.prompt) + "\n";
    }
    if (t.temperature) {
        std::ostringstream v;
        v << *t.temperature;
        text += "temperature = " + v.str() + (v.str().find('.') == std::string::npos ? ".0" : "") + "\n";
    }
    if (t.max_tokens) {
        text += "max_tokens = " + std::to_string(*t.max_tokens) + "\n";
    }
    const auto path = dir / (name + ".toml");
    try {
        std::filesystem::create_directories(dir);
        config::write_private_file(path, text);
    } catch (const std::exception& e) {
        return std::unexpected("cannot write " + path.string() + ": " + e.what());
    }
    return path;
}

std::string apply_template_prompt(const RunTemplate& t, const std::string& input)
{
    if (t.prompt.empty()) {
        return input;
    }
    const std::string marker = "{{input}}";
    std::string out = t.prompt;
    if (out.find(marker) == std::string::npos) {
        return input.empty() ? out : out + "\n\n" + input;
    }
    std::size_t pos = 0;
    while ((pos = out.find(marker, pos)) != std::string::npos) {
        out.replace(pos, marker.size(), input);
        pos += input.size();
    }
    return out;
}

}  // namespace aigw::cli

#include "daemon/ledger/body_chain.hpp"

#include <nlohmann/json.hpp>
#include <openssl/evp.h>

#include <algorithm>
#include <array>

namespace aigw::daemon::ledger {

namespace {

using ordered = nlohmann::ordered_json;

/// The conversation arrays a surface's body may hold, each with the keys whose value is
/// its system prompt (tried in order).
struct ConversationShape {
    std::string_view array_key;
    std::array<std::string_view, 2> system_keys;
};
constexpr std::array<ConversationShape, 3> k_shapes{{
    {"messages", {"system", ""}},                               // OpenAI chat, Anthropic messages
    {"contents", {"systemInstruction", "system_instruction"}},  // Gemini
    {"input", {"instructions", ""}},                            // OpenAI Responses
}};

/// Keys whose values are identifiers, roles, kinds or inline data, not words.
constexpr std::array<std::string_view, 20> k_unsearched_keys{
    "role",          "type",          "id",          "call_id",           "tool_call_id", "model",    "object",
    "signature",     "data",          "url",         "image_url",         "mime_type",    "mimeType", "media_type",
    "cache_control", "finish_reason", "stop_reason", "encrypted_content", "index",        "file_id"};

std::string dump(const ordered& j)
{
    // Strict: a string that is not UTF-8 throws, and the body is then stored whole.
    return j.dump();
}

bool is_conversation(const ordered& v)
{
    return v.is_array() && !v.empty() &&
           std::all_of(v.begin(), v.end(), [](const ordered& e) { return e.is_object(); });
}

void collect_text(const nlohmann::json& j, std::string& out)
{
    if (j.is_string()) {
        const auto& s = j.get_ref<const std::string&>();
        if (!s.empty() && !s.starts_with("data:")) {
            if (!out.empty()) {
                out.push_back('\n');
            }
            out += s;
        }
    } else if (j.is_array()) {
        for (const auto& e : j) {
            collect_text(e, out);
        }
    } else if (j.is_object()) {
        for (const auto& [k, v] : j.items()) {
            if (std::find(k_unsearched_keys.begin(), k_unsearched_keys.end(), k) == k_unsearched_keys.end()) {
                collect_text(v, out);
            }
        }
    }
}

}  // namespace

SplitBody split_body(std::string_view body)
{
    SplitBody out;
    try {
        ordered j = ordered::parse(body);
        if (!j.is_object()) {
            return out;
        }
        for (const auto& shape : k_shapes) {
            auto it = j.find(std::string(shape.array_key));
            if (it == j.end() || !is_conversation(*it)) {
                continue;
            }
            std::vector<std::string> items;
            std::string layout;
            for (const auto key : shape.system_keys) {
                if (key.empty()) {
                    continue;
                }
                auto sys = j.find(std::string(key));
                if (sys != j.end() && !sys->is_null()) {
                    items.push_back(dump(*sys));
                    *sys = 0;
                    layout = std::string(key) + "+";
                    break;
                }
            }
            layout += shape.array_key;
            for (const auto& item : *it) {
                items.push_back(dump(item));
            }
            *it = 0;
            out.rest = dump(j);
            out.items = std::move(items);
            out.layout = std::move(layout);
            return out;
        }
    } catch (const std::exception&) {
        // Not JSON, or not UTF-8: stored whole.
    }
    return SplitBody{};
}

std::expected<std::string, std::string> join_body(std::string_view rest, std::string_view layout,
                                                  const std::vector<std::string>& items)
{
    try {
        ordered j = ordered::parse(rest);
        if (!j.is_object()) {
            return std::unexpected("the stored body is not a JSON object");
        }
        std::string_view array_key = layout;
        std::size_t first = 0;
        if (const auto plus = layout.find('+'); plus != std::string_view::npos) {
            const std::string system_key(layout.substr(0, plus));
            array_key = layout.substr(plus + 1);
            if (items.empty() || !j.contains(system_key)) {
                return std::unexpected("the stored body has no place for its " + system_key);
            }
            j[system_key] = ordered::parse(items[0]);
            first = 1;
        }
        const std::string key(array_key);
        if (!j.contains(key)) {
            return std::unexpected("the stored body has no place for its " + key);
        }
        ordered arr = ordered::array();
        for (std::size_t i = first; i < items.size(); ++i) {
            arr.push_back(ordered::parse(items[i]));
        }
        j[key] = std::move(arr);
        return j.dump();
    } catch (const std::exception& e) {
        return std::unexpected(std::string("the stored body cannot be rebuilt: ") + e.what());
    }
}

NodeHash node_hash(const NodeHash& parent, std::string_view item)
{
    NodeHash out{};
    EVP_MD_CTX* ctx = EVP_MD_CTX_new();
    unsigned int len = 0;
    EVP_DigestInit_ex(ctx, EVP_sha256(), nullptr);
    EVP_DigestUpdate(ctx, parent.data(), parent.size());
    EVP_DigestUpdate(ctx, item.data(), item.size());
    EVP_DigestFinal_ex(ctx, out.data(), &len);
    EVP_MD_CTX_free(ctx);
    return out;
}

std::string searchable_text(std::string_view json_or_text)
{
    auto j = nlohmann::json::parse(json_or_text, nullptr, false);
    if (j.is_discarded()) {
        return std::string(json_or_text);
    }
    std::string out;
    collect_text(j, out);
    return out;
}

}  // namespace aigw::daemon::ledger

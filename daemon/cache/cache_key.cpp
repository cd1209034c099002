#include "daemon/cache/cache_key.hpp"
#include "shared/wire/json_text.hpp"

#include <openssl/sha.h>

#include <array>
#include <cmath>
#include <string_view>

namespace aigw::daemon::cache {

namespace {

/// Fields that say how or for whom to deliver an answer, not what the answer is.
constexpr std::array<std::string_view, 8> k_delivery_fields = {
    "stream", "stream_options", "user", "metadata", "store", "service_tier", "safety_identifier", "prompt_cache_key"};

bool is_delivery_field(std::string_view name)
{
    for (auto f : k_delivery_fields) {
        if (f == name) {
            return true;
        }
    }
    return false;
}

/// Integral floats become integers, recursively, so 1.0 and 1 hash alike.
void normalise_numbers(nlohmann::json& j)
{
    if (j.is_number_float()) {
        const double d = j.get<double>();
        constexpr double k_exact_limit = 9007199254740992.0;  // 2^53: integers exact in a double
        if (std::isfinite(d) && std::trunc(d) == d && std::fabs(d) < k_exact_limit) {
            j = static_cast<std::int64_t>(d);
        }
    } else if (j.is_structured()) {
        for (auto& item : j) {
            normalise_numbers(item);
        }
    }
}

}  // namespace

std::string sha256_hex(std::string_view data)
{
    std::array<unsigned char, SHA256_DIGEST_LENGTH> digest{};
    SHA256(reinterpret_cast<const unsigned char*>(data.data()), data.size(), digest.data());
    static constexpr char k_hex[] = "0123456789abcdef";
    std::string out;
    out.reserve(digest.size() * 2);
    for (unsigned char b : digest) {
        out.push_back(k_hex[b >> 4]);
        out.push_back(k_hex[b & 0xf]);
    }
    return out;
}

nlohmann::json request_meaning(const nlohmann::json& canonical, std::string_view model)
{
    nlohmann::json out = nlohmann::json::object();
    if (!canonical.is_object()) {
        return out;
    }
    for (auto it = canonical.begin(); it != canonical.end(); ++it) {
        if (!is_delivery_field(it.key())) {
            out[it.key()] = it.value();
        }
    }
    if (!model.empty()) {
        out["model"] = std::string(model);
    }
    normalise_numbers(out);
    return out;
}

std::string cache_key(const nlohmann::json& canonical, std::string_view model)
{
    return sha256_hex(wire::dump_json(request_meaning(canonical, model)));
}

std::string semantic_partition(const nlohmann::json& canonical, std::string_view model)
{
    nlohmann::json meaning = request_meaning(canonical, model);
    if (auto m = meaning.find("messages"); m != meaning.end() && m->is_array() && !m->empty()) {
        m->erase(m->size() - 1);
    }
    // A prefix keeps a partition hash from ever equalling an exact key.
    return sha256_hex("semantic:" + wire::dump_json(meaning));
}

std::optional<std::string> semantic_text(const nlohmann::json& canonical)
{
    auto msgs = canonical.find("messages");
    if (msgs == canonical.end() || !msgs->is_array() || msgs->empty()) {
        return std::nullopt;
    }
    const auto& last = msgs->back();
    // Comparing json values, not value<string>(): a non-string role must not throw.
    if (!last.is_object() || !last.contains("role") || last["role"] != "user") {
        return std::nullopt;
    }
    auto content = last.find("content");
    if (content == last.end()) {
        return std::nullopt;
    }
    std::string text;
    if (content->is_string()) {
        text = content->get<std::string>();
    } else if (content->is_array()) {
        for (const auto& part : *content) {
            if (!part.is_object()) {
                continue;
            }
            if (!part.contains("type") || part["type"] != "text") {
                return std::nullopt;  // an image or audio part: the text alone is not the question
            }
            if (auto t = part.find("text"); t != part.end() && t->is_string()) {
                if (!text.empty()) {
                    text += '\n';
                }
                text += t->get<std::string>();
            }
        }
    }
    if (text.find_first_not_of(" \t\r\n") == std::string::npos) {
        return std::nullopt;
    }
    return text;
}

}  // namespace aigw::daemon::cache

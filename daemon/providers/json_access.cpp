#include "daemon/providers/json_access.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

namespace aigw::daemon::providers {

using nlohmann::json;

std::string string_at(const json& obj, const char* key)
{
    if (!obj.is_object()) {
        return {};
    }
    auto it = obj.find(key);
    return (it != obj.end() && it->is_string()) ? it->get<std::string>() : std::string{};
}

std::int64_t int_at(const json& obj, const char* key)
{
    if (!obj.is_object()) {
        return 0;
    }
    auto it = obj.find(key);
    if (it == obj.end()) {
        return 0;
    }
    return json_to_int64(*it);
}

std::int64_t json_to_int64(const json& v)
{
    constexpr auto k_max = std::numeric_limits<std::int64_t>::max();
    if (v.is_number_unsigned()) {
        auto u = v.get<std::uint64_t>();
        return u > static_cast<std::uint64_t>(k_max) ? k_max : static_cast<std::int64_t>(u);
    }
    if (v.is_number_integer()) {
        return v.get<std::int64_t>();
    }
    if (v.is_number_float()) {
        double d = v.get<double>();
        if (std::isnan(d)) {
            return 0;
        }
        // 2^63 is exactly representable; anything at or beyond it would be UB to cast.
        if (d >= 9223372036854775808.0) {
            return k_max;
        }
        if (d <= -9223372036854775808.0) {
            return std::numeric_limits<std::int64_t>::min();
        }
        return static_cast<std::int64_t>(d);
    }
    return 0;
}

const json& field_at(const json& obj, const char* key)
{
    static const json k_null;
    if (!obj.is_object()) {
        return k_null;
    }
    auto it = obj.find(key);
    return it != obj.end() ? *it : k_null;
}

const json& array_at(const json& obj, const char* key)
{
    static const json k_empty = json::array();
    const json& v = field_at(obj, key);
    return v.is_array() ? v : k_empty;
}

bool bool_at(const json& obj, const char* key, bool fallback)
{
    const json& v = field_at(obj, key);
    return v.is_boolean() ? v.get<bool>() : fallback;
}

const json& object_at(const json& obj, const char* key)
{
    static const json k_empty = json::object();
    if (!obj.is_object()) {
        return k_empty;
    }
    auto it = obj.find(key);
    return (it != obj.end() && it->is_object()) ? *it : k_empty;
}

wire::Failure upstream_failure(std::string message)
{
    wire::Failure f;
    f.kind = wire::FailureKind::upstream;
    f.status = 502;
    f.message = std::move(message);
    return f;
}

std::optional<DataUrl> parse_data_url(std::string_view url)
{
    if (!url.starts_with("data:")) {
        return std::nullopt;
    }
    auto comma = url.find(',');
    if (comma == std::string_view::npos) {
        return std::nullopt;
    }
    std::string_view meta = url.substr(5, comma - 5);
    if (!meta.ends_with(";base64")) {
        return std::nullopt;
    }
    meta.remove_suffix(7);
    return DataUrl{std::string(meta), std::string(url.substr(comma + 1))};
}

std::string float32_base64(const json& v)
{
    static constexpr char k_b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    std::string bytes;
    bytes.reserve(v.size() * 4);
    for (const auto& x : v) {
        // A double beyond float's range is UB to narrow; such values are clamped.
        double d = x.is_number() ? x.get<double>() : 0.0;
        constexpr double k_float_max = std::numeric_limits<float>::max();
        float f = std::isnan(d) ? 0.0f : static_cast<float>(std::clamp(d, -k_float_max, k_float_max));
        std::uint32_t u = 0;
        std::memcpy(&u, &f, sizeof u);
        for (int i = 0; i < 4; ++i) {
            bytes.push_back(static_cast<char>((u >> (8 * i)) & 0xff));
        }
    }
    std::string out;
    out.reserve((bytes.size() + 2) / 3 * 4);
    for (std::size_t i = 0; i < bytes.size(); i += 3) {
        std::uint32_t n = static_cast<std::uint8_t>(bytes[i]) << 16;
        if (i + 1 < bytes.size()) {
            n |= static_cast<std::uint8_t>(bytes[i + 1]) << 8;
        }
        if (i + 2 < bytes.size()) {
            n |= static_cast<std::uint8_t>(bytes[i + 2]);
        }
        out.push_back(k_b64[(n >> 18) & 63]);
        out.push_back(k_b64[(n >> 12) & 63]);
        out.push_back(i + 1 < bytes.size() ? k_b64[(n >> 6) & 63] : '=');
        out.push_back(i + 2 < bytes.size() ? k_b64[n & 63] : '=');
    }
    return out;
}

json embeddings_list(json data, std::string_view model, std::int64_t input_tokens)
{
    return {{"object", "list"},
            {"data", std::move(data)},
            {"model", model},
            {"usage", {{"prompt_tokens", input_tokens}, {"total_tokens", input_tokens}}}};
}

json chunk_base(std::string_view id, std::string_view model, std::int64_t created)
{
    return {{"id", id}, {"object", "chat.completion.chunk"}, {"created", created}, {"model", model}};
}

}  // namespace aigw::daemon::providers

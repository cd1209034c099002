#include "daemon/providers/json_access.hpp"

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
    return (it != obj.end() && it->is_number()) ? it->get<std::int64_t>() : 0;
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

json chunk_base(std::string_view id, std::string_view model, std::int64_t created)
{
    return {{"id", id}, {"object", "chat.completion.chunk"}, {"created", created}, {"model", model}};
}

}  // namespace aigw::daemon::providers

#include "daemon/http/server.hpp"

#include <algorithm>

namespace aigw::daemon::http {

namespace {

/// Looks up the exact-route map without building a std::pair<std::string, std::string>
/// (the map's comparator is transparent).
struct RouteKey {
    std::string_view method;
    std::string_view path;

    friend bool operator<(const RouteKey& a, const std::pair<std::string, std::string>& b)
    {
        return std::pair(a.method, a.path) < std::pair<std::string_view, std::string_view>(b.first, b.second);
    }
    friend bool operator<(const std::pair<std::string, std::string>& a, const RouteKey& b)
    {
        return std::pair<std::string_view, std::string_view>(a.first, a.second) < std::pair(b.method, b.path);
    }
};

}  // namespace

void Routes::add(std::string method, std::string pattern, Handler h)
{
    if (!pattern.empty() && pattern.back() == '*') {
        pattern.pop_back();
        // Adding a route again replaces it, as for exact routes (a surface may wrap another's).
        auto same = std::find_if(m_prefix.begin(), m_prefix.end(),
                                 [&](const auto& p) { return std::get<0>(p) == method && std::get<1>(p) == pattern; });
        if (same != m_prefix.end()) {
            std::get<2>(*same) = std::move(h);
            return;
        }
        m_prefix.emplace_back(std::move(method), std::move(pattern), std::move(h));
        // Longest prefix first, so the first match is the best one.
        std::stable_sort(m_prefix.begin(), m_prefix.end(),
                         [](const auto& a, const auto& b) { return std::get<1>(a).size() > std::get<1>(b).size(); });
        return;
    }
    m_exact.insert_or_assign(std::pair(std::move(method), std::move(pattern)), std::move(h));
}

void Routes::wrap_all(const std::function<Handler(Handler)>& wrap)
{
    for (auto& [key, h] : m_exact) {
        h = wrap(std::move(h));
    }
    for (auto& route : m_prefix) {
        std::get<2>(route) = wrap(std::move(std::get<2>(route)));
    }
}

const Handler* Routes::find(std::string_view method, std::string_view path, bool* path_exists) const
{
    if (auto it = m_exact.find(RouteKey{method, path}); it != m_exact.end()) {
        if (path_exists != nullptr) {
            *path_exists = true;
        }
        return &it->second;
    }
    for (const auto& [m, prefix, h] : m_prefix) {
        if (m == method && path.starts_with(prefix)) {
            if (path_exists != nullptr) {
                *path_exists = true;
            }
            return &h;
        }
    }
    if (path_exists != nullptr) {
        *path_exists =
            std::any_of(m_exact.begin(), m_exact.end(), [path](const auto& e) { return e.first.second == path; }) ||
            std::any_of(m_prefix.begin(), m_prefix.end(),
                        [path](const auto& p) { return path.starts_with(std::get<1>(p)); });
    }
    return nullptr;
}

}  // namespace aigw::daemon::http

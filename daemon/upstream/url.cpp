#include "daemon/upstream/http_client.hpp"

namespace aigw::daemon::upstream {

std::pair<std::string, std::string> split_base_url(std::string_view base_url)
{
    auto scheme_end = base_url.find("://");
    if (scheme_end == std::string_view::npos) {
        return {};
    }
    auto path_start = base_url.find('/', scheme_end + 3);
    if (path_start == std::string_view::npos) {
        return {std::string(base_url), std::string()};
    }
    std::string path(base_url.substr(path_start));
    while (!path.empty() && path.back() == '/') {
        path.pop_back();
    }
    return {std::string(base_url.substr(0, path_start)), path};
}

std::string redact_url(std::string_view url)
{
    std::string out(url.substr(0, url.find('?')));
    auto scheme_end = out.find("://");
    if (scheme_end != std::string::npos) {
        auto at = out.find('@', scheme_end + 3);
        auto slash = out.find('/', scheme_end + 3);
        if (at != std::string::npos && (slash == std::string::npos || at < slash)) {
            out.erase(scheme_end + 3, at - scheme_end - 2);
        }
    }
    return out;
}

}  // namespace aigw::daemon::upstream

#include "daemon/upstream/proxy.hpp"

#include "shared/wire/ascii.hpp"

#include <cctype>

namespace aigw::daemon::upstream {

namespace {

std::string_view trim(std::string_view s)
{
    while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front())) != 0) {
        s.remove_prefix(1);
    }
    while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back())) != 0) {
        s.remove_suffix(1);
    }
    return s;
}

/// "[::1]:80" -> "::1", "host:80" -> "host", "::1" (more than one colon, no brackets) as is.
std::string_view strip_port(std::string_view entry)
{
    if (!entry.empty() && entry.front() == '[') {
        auto close = entry.find(']');
        return close == std::string_view::npos ? entry.substr(1) : entry.substr(1, close - 1);
    }
    auto colon = entry.find(':');
    if (colon != std::string_view::npos && entry.find(':', colon + 1) == std::string_view::npos) {
        return entry.substr(0, colon);
    }
    return entry;
}

int hex_value(char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }
    return -1;
}

std::string percent_decode(std::string_view s)
{
    std::string out;
    for (std::size_t i = 0; i < s.size(); ++i) {
        if (s[i] == '%' && i + 2 < s.size()) {
            int hi = hex_value(s[i + 1]);
            int lo = hex_value(s[i + 2]);
            if (hi >= 0 && lo >= 0) {
                out.push_back(static_cast<char>(hi * 16 + lo));
                i += 2;
                continue;
            }
        }
        out.push_back(s[i]);
    }
    return out;
}

}  // namespace

bool no_proxy_matches(std::string_view no_proxy, std::string_view host)
{
    std::string h = wire::ascii_lower(strip_port(trim(host)));
    while (!h.empty() && h.back() == '.') {
        h.pop_back();
    }
    if (h.empty()) {
        return false;
    }
    while (!no_proxy.empty()) {
        auto comma = no_proxy.find(',');
        std::string_view raw = trim(no_proxy.substr(0, comma));
        no_proxy = comma == std::string_view::npos ? std::string_view() : no_proxy.substr(comma + 1);
        if (raw == "*") {
            return true;
        }
        std::string entry = wire::ascii_lower(strip_port(raw));
        while (!entry.empty() && entry.front() == '.') {
            entry.erase(0, 1);
        }
        while (!entry.empty() && entry.back() == '.') {
            entry.pop_back();
        }
        if (entry.empty()) {
            continue;
        }
        if (h == entry) {
            return true;
        }
        if (h.size() > entry.size() && h.ends_with(entry) && h[h.size() - entry.size() - 1] == '.') {
            return true;
        }
    }
    return false;
}

std::optional<ProxyEndpoint> parse_proxy_url(std::string_view url)
{
    url = trim(url);
    if (url.empty()) {
        return std::nullopt;
    }
    if (auto scheme_end = url.find("://"); scheme_end != std::string_view::npos) {
        if (wire::ascii_lower(url.substr(0, scheme_end)) != "http") {
            return std::nullopt;
        }
        url.remove_prefix(scheme_end + 3);
    }
    url = url.substr(0, url.find('/'));
    ProxyEndpoint p;
    if (auto at = url.rfind('@'); at != std::string_view::npos) {
        std::string_view userinfo = url.substr(0, at);
        auto colon = userinfo.find(':');
        std::string user = percent_decode(userinfo.substr(0, colon));
        std::string pass = colon == std::string_view::npos ? std::string() : percent_decode(userinfo.substr(colon + 1));
        p.authorization = "Basic " + base64_encode(user + ":" + pass);
        url.remove_prefix(at + 1);
    }
    std::string_view port;
    if (!url.empty() && url.front() == '[') {
        auto close = url.find(']');
        if (close == std::string_view::npos) {
            return std::nullopt;
        }
        p.host = std::string(url.substr(1, close - 1));
        if (close + 1 < url.size() && url[close + 1] == ':') {
            port = url.substr(close + 2);
        }
    } else {
        auto colon = url.find(':');
        p.host = std::string(url.substr(0, colon));
        if (colon != std::string_view::npos) {
            port = url.substr(colon + 1);
        }
    }
    if (p.host.empty()) {
        return std::nullopt;
    }
    p.port = port.empty() ? "1080" : std::string(port);
    bool v6 = p.host.find(':') != std::string::npos;
    p.redacted = "http://" + (v6 ? "[" + p.host + "]" : p.host) + ":" + p.port;
    return p;
}

std::string base64_encode(std::string_view in)
{
    static constexpr char k_alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    std::string out;
    out.reserve((in.size() + 2) / 3 * 4);
    std::size_t i = 0;
    for (; i + 2 < in.size(); i += 3) {
        unsigned v = (static_cast<unsigned char>(in[i]) << 16) | (static_cast<unsigned char>(in[i + 1]) << 8) |
                     static_cast<unsigned char>(in[i + 2]);
        out.push_back(k_alphabet[(v >> 18) & 63]);
        out.push_back(k_alphabet[(v >> 12) & 63]);
        out.push_back(k_alphabet[(v >> 6) & 63]);
        out.push_back(k_alphabet[v & 63]);
    }
    if (i + 1 == in.size()) {
        unsigned v = static_cast<unsigned char>(in[i]) << 16;
        out.push_back(k_alphabet[(v >> 18) & 63]);
        out.push_back(k_alphabet[(v >> 12) & 63]);
        out += "==";
    } else if (i + 2 == in.size()) {
        unsigned v = (static_cast<unsigned char>(in[i]) << 16) | (static_cast<unsigned char>(in[i + 1]) << 8);
        out.push_back(k_alphabet[(v >> 18) & 63]);
        out.push_back(k_alphabet[(v >> 12) & 63]);
        out.push_back(k_alphabet[(v >> 6) & 63]);
        out.push_back('=');
    }
    return out;
}

}  // namespace aigw::daemon::upstream

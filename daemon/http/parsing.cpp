#include "daemon/http/parsing.hpp"

#include <boost/beast/core/string.hpp>

#include <algorithm>

namespace aigw::daemon::http {

namespace {

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

std::string_view strip_brackets_and_dot(std::string_view name)
{
    if (name.size() >= 2 && name.front() == '[' && name.back() == ']') {
        name = name.substr(1, name.size() - 2);
    }
    if (!name.empty() && name.back() == '.') {
        name.remove_suffix(1);
    }
    return name;
}

}  // namespace

std::string percent_decode(std::string_view s, bool plus_is_space)
{
    std::string out;
    out.reserve(s.size());
    for (std::size_t i = 0; i < s.size(); ++i) {
        const char c = s[i];
        if (c == '%' && i + 2 < s.size()) {
            const int hi = hex_value(s[i + 1]);
            const int lo = hex_value(s[i + 2]);
            if (hi >= 0 && lo >= 0) {
                out += static_cast<char>(hi * 16 + lo);
                i += 2;
                continue;
            }
        }
        out += (plus_is_space && c == '+') ? ' ' : c;
    }
    return out;
}

TargetParts split_target(std::string_view target)
{
    if (target.starts_with("http://") || target.starts_with("https://")) {
        const auto authority = target.find("//") + 2;
        const auto slash = target.find_first_of("/?", authority);
        target = slash == std::string_view::npos ? std::string_view{} : target.substr(slash);
    }
    TargetParts parts;
    const auto q = target.find('?');
    parts.path = target.substr(0, q);
    if (q != std::string_view::npos) {
        parts.query = target.substr(q + 1);
    }
    if (parts.path.empty()) {
        parts.path = "/";
    }
    return parts;
}

std::string_view host_name(std::string_view host_header)
{
    std::string_view h = host_header;
    while (!h.empty() && (h.front() == ' ' || h.front() == '\t')) {
        h.remove_prefix(1);
    }
    while (!h.empty() && (h.back() == ' ' || h.back() == '\t')) {
        h.remove_suffix(1);
    }
    if (h.empty()) {
        return {};
    }
    if (h.front() == '[') {
        const auto close = h.find(']');
        if (close == std::string_view::npos) {
            return {};
        }
        const auto rest = h.substr(close + 1);
        if (!rest.empty() && rest.front() != ':') {
            return {};
        }
        return h.substr(1, close - 1);
    }
    const auto colon = h.find(':');
    if (colon != std::string_view::npos && h.find(':', colon + 1) == std::string_view::npos) {
        h = h.substr(0, colon);  // name:port; several colons is a bare IPv6 literal
    }
    return strip_brackets_and_dot(h);
}

HostPolicy::HostPolicy(std::string_view bound_host, const std::vector<std::string>& allowed)
{
    m_names = {"localhost", "127.0.0.1", "::1"};
    const auto add = [this](std::string_view n) {
        n = strip_brackets_and_dot(n);
        if (!n.empty()) {
            m_names.emplace_back(n);
        }
    };
    add(bound_host);
    for (const auto& a : allowed) {
        if (a == "*") {
            m_any = true;
        }
        add(host_name(a));
    }
}

bool HostPolicy::allows(std::string_view host_header) const
{
    if (m_any) {
        return true;
    }
    const std::string_view name = host_name(host_header);
    if (name.empty()) {
        return false;
    }
    return std::any_of(m_names.begin(), m_names.end(),
                       [name](const std::string& n) { return boost::beast::iequals(n, name); });
}

std::string host_refused_message(std::string_view host_header)
{
    std::string_view name = host_name(host_header);
    if (name.empty()) {
        name = host_header;
    }
    if (name.size() > 200) {
        name = name.substr(0, 200);
    }
    std::string msg = "Host '";
    msg += name;
    msg +=
        "' is not allowed: aigwd answers only to localhost names (DNS rebinding protection). "
        "Add it to [server] allowed_hosts to allow it.";
    return msg;
}

RequestLine sniff_request_line(std::string_view raw)
{
    RequestLine line;
    const auto eol = raw.find('\n');
    std::string_view first = raw.substr(0, std::min(eol, std::size_t{8192}));
    const auto sp1 = first.find(' ');
    if (sp1 == std::string_view::npos) {
        return line;
    }
    line.method = std::string(first.substr(0, sp1));
    const auto rest = first.substr(sp1 + 1);
    line.target = std::string(rest.substr(0, rest.find(' ')));
    while (!line.target.empty() && (line.target.back() == '\r' || line.target.back() == '\n')) {
        line.target.pop_back();
    }
    return line;
}

bool is_valid_session_id(std::string_view id)
{
    return !id.empty() && id.size() <= k_max_session_length && std::all_of(id.begin(), id.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
               c == ':' || c == '-';
    });
}

std::string invalid_session_message(std::string_view where)
{
    return "the session in " + std::string(where) + " must be 1 to " + std::to_string(k_max_session_length) +
           " characters of A-Z, a-z, 0-9, '.', '_', ':' and '-'";
}

std::expected<std::optional<SessionPrefix>, std::string> split_session_prefix(std::string_view path)
{
    static constexpr std::string_view k_prefix = "/s/";
    if (!path.starts_with(k_prefix)) {
        return std::nullopt;
    }
    const std::string_view rest = path.substr(k_prefix.size());
    const std::size_t slash = rest.find('/');
    const std::string_view session = rest.substr(0, slash);
    if (!is_valid_session_id(session)) {
        return std::unexpected(invalid_session_message("the path /s/{session}/"));
    }
    SessionPrefix out;
    out.session = std::string(session);
    out.path = slash == std::string_view::npos ? "/" : std::string(rest.substr(slash));
    return out;
}

}  // namespace aigw::daemon::http

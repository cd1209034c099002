#include "daemon/http/message.hpp"

#include "daemon/http/parsing.hpp"
#include "daemon/http/utf8.hpp"

#include <boost/beast/core/string.hpp>

#include <algorithm>

namespace aigw::daemon::http {

namespace beast = boost::beast;

namespace {
/// Room for the fields of a typical answer or request at once: growing the vector one
/// field at a time moved every field it held three or four times.
constexpr std::size_t k_usual_fields = 12;
}  // namespace

void Headers::add(std::string name, std::string value)
{
    if (m_items.capacity() == 0) {
        m_items.reserve(k_usual_fields);
    }
    m_items.emplace_back(std::move(name), std::move(value));
}

void Headers::set(std::string name, std::string value)
{
    remove(name);
    if (needs_sanitizing(value)) {
        value = sanitize_header_value(value);
    }
    if (m_items.capacity() == 0) {
        m_items.reserve(k_usual_fields);
    }
    m_items.emplace_back(std::move(name), std::move(value));
}

void Headers::remove(std::string_view name)
{
    std::erase_if(m_items, [name](const Item& i) { return beast::iequals(i.first, name); });
}

bool Headers::has(std::string_view name) const
{
    return std::any_of(m_items.begin(), m_items.end(), [name](const Item& i) { return beast::iequals(i.first, name); });
}

std::string_view Headers::get(std::string_view name) const
{
    for (const auto& [n, v] : m_items) {
        if (beast::iequals(n, name)) {
            return v;
        }
    }
    return {};
}

std::optional<std::string> Request::query_param(std::string_view name) const
{
    std::string_view rest = query;
    while (!rest.empty()) {
        const auto amp = rest.find('&');
        const std::string_view pair = rest.substr(0, amp);
        rest = amp == std::string_view::npos ? std::string_view{} : rest.substr(amp + 1);
        if (pair.empty()) {
            continue;
        }
        const auto eq = pair.find('=');
        const std::string_view key = pair.substr(0, eq);
        if (percent_decode(key, true) != name) {
            continue;
        }
        return eq == std::string_view::npos ? std::string{} : percent_decode(pair.substr(eq + 1), true);
    }
    return std::nullopt;
}

void Response::set_content(std::string text, std::string_view content_type)
{
    body = std::move(text);
    headers.set("Content-Type", std::string(content_type));
}

}  // namespace aigw::daemon::http

#include "shared/wire/secrets.hpp"

#include <array>
#include <cctype>

namespace aigw::wire {
namespace {

constexpr std::string_view k_redacted = "[redacted]";
constexpr std::size_t k_min_secret = 8;
constexpr std::size_t k_min_key_body = 16;

bool is_key_char(char c)
{
    return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '-' || c == '_';
}

/// Length of the run of key characters starting at `pos`.
std::size_t key_run(std::string_view s, std::size_t pos)
{
    std::size_t n = 0;
    while (pos + n < s.size() && is_key_char(s[pos + n])) {
        ++n;
    }
    return n;
}

/// Redacts `prefix` + at least k_min_key_body key characters, where the prefix does not
/// continue a longer word.
std::string redact_shape(std::string_view text, std::string_view prefix, bool keep_prefix)
{
    std::string out;
    out.reserve(text.size());
    std::size_t i = 0;
    while (i < text.size()) {
        std::size_t at = text.find(prefix, i);
        if (at == std::string_view::npos) {
            break;
        }
        bool word_start = at == 0 || !is_key_char(text[at - 1]);
        std::size_t body = key_run(text, at + prefix.size());
        if (word_start && body >= k_min_key_body) {
            out.append(text.substr(i, at - i));
            if (keep_prefix) {
                out.append(prefix);
            }
            out.append(k_redacted);
            i = at + prefix.size() + body;
        } else {
            out.append(text.substr(i, at + prefix.size() - i));
            i = at + prefix.size();
        }
    }
    out.append(text.substr(std::min(i, text.size())));
    return out;
}

/// "Bearer <token>" (any case of "bearer") -> "Bearer [redacted]".
std::string redact_bearer(std::string_view text)
{
    std::string out;
    out.reserve(text.size());
    constexpr std::string_view k_word = "bearer ";
    std::size_t i = 0;
    while (i < text.size()) {
        std::size_t at = std::string_view::npos;
        for (std::size_t j = i; j + k_word.size() <= text.size(); ++j) {
            bool match = true;
            for (std::size_t k = 0; k < k_word.size() && match; ++k) {
                match = std::tolower(static_cast<unsigned char>(text[j + k])) == k_word[k];
            }
            if (match) {
                at = j;
                break;
            }
        }
        if (at == std::string_view::npos) {
            break;
        }
        std::size_t start = at + k_word.size();
        std::size_t n = 0;
        while (start + n < text.size() &&
               (is_key_char(text[start + n]) || text[start + n] == '.' || text[start + n] == '~' ||
                text[start + n] == '+' || text[start + n] == '/' || text[start + n] == '=')) {
            ++n;
        }
        out.append(text.substr(i, start - i));
        if (n >= k_min_secret) {
            out.append(k_redacted);
        } else {
            out.append(text.substr(start, n));
        }
        i = start + n;
    }
    out.append(text.substr(std::min(i, text.size())));
    return out;
}

}  // namespace

std::string scrub_secrets(std::string_view text, const std::vector<std::string>& secrets)
{
    std::string out(text);
    for (const auto& secret : secrets) {
        if (secret.size() < k_min_secret) {
            continue;
        }
        std::size_t pos = 0;
        while ((pos = out.find(secret, pos)) != std::string::npos) {
            out.replace(pos, secret.size(), k_redacted);
            pos += k_redacted.size();
        }
    }
    out = redact_bearer(out);
    // sk-ant- first: its body would also match the plain sk- shape, with the same result.
    constexpr std::array<std::string_view, 5> k_prefixes = {"sk-ant-", "sk-", "AIza", "AKIA", "ASIA"};
    for (auto prefix : k_prefixes) {
        out = redact_shape(out, prefix, false);
    }
    return out;
}

}  // namespace aigw::wire

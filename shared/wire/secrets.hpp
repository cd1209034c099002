#pragma once
// Keeping credentials out of what the daemon says: upstream error text can echo the key it
// was sent (some proxies do), and that text reaches clients, logs and the ledger.

#include <string>
#include <string_view>
#include <vector>

namespace aigw::wire {

/// `text` with every occurrence of each secret (those of 8 bytes or more; shorter ones
/// would redact ordinary words) replaced by "[redacted]", and with common key shapes
/// redacted even when not listed: `sk-...` / `sk-ant-...` (OpenAI, Anthropic), `AIza...`
/// (Google), `AKIA...` / `ASIA...` (AWS access key ids) and the token after `Bearer `.
/// A key shape needs at least 16 key characters ([A-Za-z0-9_-]) so "sk-learn" survives.
std::string scrub_secrets(std::string_view text, const std::vector<std::string>& secrets);

}  // namespace aigw::wire

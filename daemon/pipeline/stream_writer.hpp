#pragma once
// Serialises canonical chat.completion.chunk objects into one surface's stream format.

#include "shared/wire/error.hpp"
#include "shared/wire/usage.hpp"

#include <nlohmann/json.hpp>

#include <cstddef>
#include <string>
#include <string_view>

namespace aigw::daemon::pipeline {

class StreamWriter {
public:
    virtual ~StreamWriter() = default;
    /// Appends the bytes for one canonical chunk (may append nothing).
    virtual void chunk(const nlohmann::json& chunk, std::string& out) = 0;
    /// Appends the terminal bytes after a complete stream.
    virtual void done(const wire::Usage& usage, double cost_usd, std::string& out) = 0;
    /// Appends an error event; the stream ends right after it.
    virtual void error(const wire::Failure& f, std::string& out) = 0;
    /// True when a chat.completion.chunk may be given as its JSON text (verbatim()) and goes
    /// out unchanged: only OpenAI's own chunk stream, with nothing (a cache) recording it.
    virtual bool writes_verbatim() const { return false; }
    /// Appends the bytes for one chunk given as the JSON text of an object with no error in
    /// it, on one line; `usage_only`: the stream's usage chunk (empty `choices`, a `usage`
    /// object). Called only when writes_verbatim().
    virtual void verbatim(std::string_view, bool, std::string&) {}
};

/// OpenAI's chat.completion.chunk stream: `data: {...}`, `data: [DONE]`; the usage-only
/// chunk only when the client asked for it; errors as `data: {"error":{...}}`.
class OpenAiStreamWriter final : public StreamWriter {
public:
    explicit OpenAiStreamWriter(bool include_usage) : m_include_usage(include_usage) {}
    void chunk(const nlohmann::json& chunk, std::string& out) override;
    void done(const wire::Usage& usage, double cost_usd, std::string& out) override;
    void error(const wire::Failure& f, std::string& out) override;
    bool writes_verbatim() const override { return true; }
    void verbatim(std::string_view chunk, bool usage_only, std::string& out) override;

private:
    bool m_include_usage;
};

/// A chunk with empty `choices` and a `usage` object (the stream's usage chunk).
bool is_usage_only(const nlohmann::json& chunk);
/// A chunk that carries text, reasoning or a tool call (role-only and empty ones don't).
bool has_content(const nlohmann::json& chunk);
/// The bytes of delta content in a chunk (to estimate the usage of a stream cut short).
std::size_t content_chars(const nlohmann::json& chunk);

/// "0.0000150" style: fixed point, trailing zeros trimmed.
std::string format_cost(double usd);

}  // namespace aigw::daemon::pipeline

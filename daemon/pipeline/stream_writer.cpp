#include "daemon/pipeline/stream_writer.hpp"

#include "shared/wire/sse.hpp"
#include "shared/wire/json_text.hpp"

#include <charconv>
#include <limits>

namespace aigw::daemon::pipeline {

bool is_usage_only(const nlohmann::json& chunk)
{
    auto c = chunk.find("choices");
    auto u = chunk.find("usage");
    return c != chunk.end() && c->is_array() && c->empty() && u != chunk.end() && u->is_object();
}

namespace {

/// Calls `f` with each object `delta` under the chunk's `choices`, until `f` returns true;
/// returns whether it did.
template <class F>
bool any_delta(const nlohmann::json& chunk, F&& f)
{
    auto c = chunk.find("choices");
    if (c == chunk.end() || !c->is_array()) {
        return false;
    }
    for (const auto& choice : *c) {
        if (!choice.is_object()) {
            continue;
        }
        auto d = choice.find("delta");
        if (d != choice.end() && d->is_object() && f(*d)) {
            return true;
        }
    }
    return false;
}

}  // namespace

bool has_content(const nlohmann::json& chunk)
{
    return any_delta(chunk, [](const nlohmann::json& d) {
        for (const char* field : {"content", "reasoning_content", "refusal"}) {
            auto f = d.find(field);
            if (f != d.end() && f->is_string() && !f->get_ref<const std::string&>().empty()) {
                return true;
            }
        }
        return d.contains("tool_calls");
    });
}

std::size_t content_chars(const nlohmann::json& chunk)
{
    std::size_t n = 0;
    any_delta(chunk, [&n](const nlohmann::json& d) {
        if (auto t = d.find("content"); t != d.end() && t->is_string()) {
            n += t->get_ref<const std::string&>().size();
        }
        return false;
    });
    return n;
}

std::string format_cost(double usd)
{
    // As printf's "%.10f" writes it (to_chars with a precision is specified so), without
    // the locale lookup and format parsing: this runs on every answered request.
    // Room for any double: 309 integer digits, sign, point and 10 decimals (inf and nan are
    // shorter), so to_chars cannot run out of space.
    char buf[std::numeric_limits<double>::max_exponent10 + 16];
    char* end = std::to_chars(buf, buf + sizeof buf, usd, std::chars_format::fixed, 10).ptr;
    std::string s(buf, end);
    while (s.size() > 1 && s.back() == '0') {
        s.pop_back();
    }
    if (s.back() == '.') {
        s.pop_back();
    }
    return s;
}

void OpenAiStreamWriter::chunk(const nlohmann::json& chunk, std::string& out)
{
    if (!m_include_usage && is_usage_only(chunk)) {
        return;
    }
    out += "data: ";
    out += wire::dump_json(chunk);
    out += "\n\n";
}

void OpenAiStreamWriter::verbatim(std::string_view chunk, bool usage_only, std::string& out)
{
    if (usage_only && !m_include_usage) {
        return;  // as chunk() does
    }
    out += "data: ";
    out += chunk;
    out += "\n\n";
}

void OpenAiStreamWriter::done(const wire::Usage&, double cost_usd, std::string& out)
{
    // The cost is not known when the headers go out; an SSE comment carries it at the end
    // for clients that want it (SDKs ignore comments).
    out += ": x-aigw-cost-usd=";
    out += format_cost(cost_usd);
    out += "\n\ndata: [DONE]\n\n";
}

void OpenAiStreamWriter::error(const wire::Failure& f, std::string& out)
{
    out += wire::sse_data(wire::dump_json(wire::to_openai_error(f)));
}

}  // namespace aigw::daemon::pipeline

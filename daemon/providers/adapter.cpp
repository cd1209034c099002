#include "daemon/providers/adapter.hpp"

#include "shared/wire/ascii.hpp"
#include "shared/wire/json_text.hpp"
#include "shared/wire/utf8.hpp"

#include <algorithm>
#include <charconv>
#include <ctime>

namespace aigw::daemon::providers {

namespace {
/// The message and type of an error body in OpenAI, Anthropic or Google shape.
void read_error_body(std::string_view body, wire::Failure& f)
{
    auto doc = wire::parse_json_lenient(body);
    if (doc.is_discarded() || !doc.is_object()) {
        if (!body.empty() && body.size() < 500) {
            f.message = wire::valid_utf8(body);  // raw upstream bytes: may not be UTF-8
        }
        return;
    }
    auto inner = doc.find("error");
    if (inner != doc.end() && inner->is_string()) {
        f.message = inner->get<std::string>();
        return;
    }
    const nlohmann::json& err = (inner != doc.end() && inner->is_object()) ? *inner : doc;
    auto str = [&](const char* key) -> std::string {
        auto it = err.find(key);
        return (it != err.end() && it->is_string()) ? it->get<std::string>() : std::string();
    };
    f.message = str("message");
    f.type = str("type");
    if (f.type.empty()) {
        f.type = str("status");  // Google: "RESOURCE_EXHAUSTED"
    }
    f.code = str("code");
    f.param = str("param");
}
}  // namespace

std::string header_value(const HeaderList& headers, std::string_view name)
{
    for (const auto& [k, v] : headers) {
        if (wire::ascii_iequals(k, name)) {
            return v;
        }
    }
    return {};
}

namespace {

/// OpenAI's reset durations: "1s", "6m0s", "20ms", "1h2m3.5s".
std::optional<double> parse_go_duration(std::string_view s)
{
    double total = 0;
    bool any = false;
    while (!s.empty()) {
        double v = 0;
        auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
        if (ec != std::errc{} || v < 0) {
            return std::nullopt;
        }
        s.remove_prefix(static_cast<std::size_t>(p - s.data()));
        if (s.starts_with("ms")) {
            total += v / 1000.0;
            s.remove_prefix(2);
        } else if (s.starts_with("s")) {
            total += v;
            s.remove_prefix(1);
        } else if (s.starts_with("m")) {
            total += v * 60;
            s.remove_prefix(1);
        } else if (s.starts_with("h")) {
            total += v * 3600;
            s.remove_prefix(1);
        } else {
            return std::nullopt;
        }
        any = true;
    }
    return any ? std::optional<double>(total) : std::nullopt;
}

/// Anthropic's resets are RFC 3339 times: "2026-11-21T13:30:05Z". Seconds from now.
std::optional<double> seconds_until_rfc3339(const std::string& s)
{
    std::tm tm{};
    const char* rest = strptime(s.c_str(), "%Y-%m-%dT%H:%M:%S", &tm);
    if (rest == nullptr) {
        return std::nullopt;
    }
    const auto when = timegm(&tm);
    const auto now = std::time(nullptr);
    return when > now ? static_cast<double>(when - now) : 0.0;
}

/// When no Retry-After came: the reset of the limit that ran out (OpenAI/Groq
/// x-ratelimit-*, Anthropic anthropic-ratelimit-*), else the latest reset given.
std::optional<double> rate_limit_reset_seconds(const HeaderList& headers)
{
    std::optional<double> exhausted;
    std::optional<double> latest;
    auto consider = [&](std::optional<double> reset, const std::string& remaining) {
        if (!reset) {
            return;
        }
        latest = std::max(latest.value_or(0), *reset);
        if (remaining == "0") {
            exhausted = std::max(exhausted.value_or(0), *reset);
        }
    };
    auto name = [](std::string_view a, std::string_view b, std::string_view c = {}) {
        std::string n(a);
        n.append(b).append(c);
        return n;
    };
    for (std::string_view kind : {"requests", "tokens"}) {
        consider(parse_go_duration(header_value(headers, name("x-ratelimit-reset-", kind))),
                 header_value(headers, name("x-ratelimit-remaining-", kind)));
    }
    for (std::string_view kind : {"requests", "tokens", "input-tokens", "output-tokens"}) {
        if (auto v = header_value(headers, name("anthropic-ratelimit-", kind, "-reset")); !v.empty()) {
            consider(seconds_until_rfc3339(v), header_value(headers, name("anthropic-ratelimit-", kind, "-remaining")));
        }
    }
    return exhausted ? exhausted : latest;
}

std::optional<double> raw_retry_after_seconds(const HeaderList& headers)
{
    if (auto ms = header_value(headers, "retry-after-ms"); !ms.empty()) {
        double v = 0;
        auto [p, ec] = std::from_chars(ms.data(), ms.data() + ms.size(), v);
        if (ec == std::errc{} && v >= 0) {
            return v / 1000.0;
        }
    }
    auto ra = header_value(headers, "retry-after");
    if (ra.empty()) {
        return std::nullopt;
    }
    double v = 0;
    auto [p, ec] = std::from_chars(ra.data(), ra.data() + ra.size(), v);
    if (ec == std::errc{} && p == ra.data() + ra.size() && v >= 0) {
        return v;
    }
    // HTTP-date, e.g. "Wed, 21 Oct 2015 07:28:00 GMT".
    std::tm tm{};
    if (strptime(ra.c_str(), "%a, %d %b %Y %H:%M:%S GMT", &tm) != nullptr) {
        auto when = timegm(&tm);
        auto now = std::time(nullptr);
        return when > now ? static_cast<double>(when - now) : 0.0;
    }
    return std::nullopt;
}

}  // namespace

std::optional<double> retry_after_seconds(const HeaderList& headers)
{
    if (auto ra = raw_retry_after_seconds(headers)) {
        return wire::clamp_retry_after(*ra);
    }
    return std::nullopt;
}

std::optional<double> rate_limit_wait_seconds(const HeaderList& headers)
{
    if (auto ra = retry_after_seconds(headers)) {
        return ra;
    }
    if (auto reset = rate_limit_reset_seconds(headers)) {
        return wire::clamp_retry_after(*reset);
    }
    return std::nullopt;
}

wire::Failure Adapter::classify_error(int status, std::string_view body, const HeaderList& headers) const
{
    wire::Failure f;
    f.status = status;
    if (status == 429) {
        f.kind = wire::FailureKind::rate_limited;
        f.retry_after_s = rate_limit_wait_seconds(headers);
    } else if (status == 401 || status == 403) {
        f.kind = wire::FailureKind::auth;
    } else if (status == 404) {
        f.kind = wire::FailureKind::not_found;
    } else if (status == 408) {
        f.kind = wire::FailureKind::timeout;
    } else if (status >= 500) {
        f.kind = wire::FailureKind::upstream;
        f.retry_after_s = retry_after_seconds(headers);
    } else {
        f.kind = wire::FailureKind::bad_request;
    }
    read_error_body(body, f);
    if (f.message.empty()) {
        f.message = "upstream returned HTTP " + std::to_string(status) + " with no error message";
    }
    return f;
}

std::expected<UpstreamRequest, wire::Failure> Adapter::embeddings_request(const nlohmann::json&,
                                                                          const Target& target) const
{
    return std::unexpected(wire::bad_request("provider '" +
                                                 (target.provider ? target.provider->name : std::string("?")) +
                                                 "' does not serve embeddings through aigw",
                                             "model"));
}

std::expected<ChatResult, wire::Failure> Adapter::embeddings_response(std::string_view, const Target&) const
{
    return std::unexpected(wire::internal_error("embeddings are not supported by this provider adapter"));
}

bool Adapter::serves_responses(const Target&, std::string_view) const
{
    return false;
}

std::expected<UpstreamRequest, wire::Failure> Adapter::responses_request(const nlohmann::json&, const Target& target,
                                                                         std::string_view) const
{
    return std::unexpected(wire::internal_error(
        "provider '" + (target.provider ? target.provider->name : std::string("?")) + "' has no native Responses API"));
}

bool Adapter::serves_completions(const Target&) const
{
    return false;
}

std::expected<UpstreamRequest, wire::Failure> Adapter::completions_request(nlohmann::json, const Target& target) const
{
    return std::unexpected(wire::internal_error(
        "provider '" + (target.provider ? target.provider->name : std::string("?")) + "' has no completions endpoint"));
}

bool Adapter::completions_answer_is_chat(const Target&) const
{
    return false;
}

namespace {
/// The longest SSE line an upstream may send before its stream is treated as malformed: an
/// endless line must not make the daemon hold an endless buffer.
constexpr std::size_t k_max_sse_line_bytes = 16u << 20;

class SseDecoder final : public StreamDecoder {
public:
    std::expected<void, wire::Failure> feed(std::string_view bytes, std::vector<wire::SseEvent>& out) override
    {
        m_reader.feed(bytes, out);
        if (m_reader.pending() > k_max_sse_line_bytes) {
            wire::Failure f;
            f.kind = wire::FailureKind::upstream;
            f.status = 502;
            f.message = "the upstream sent a stream line longer than 16 MiB; the stream was cut";
            return std::unexpected(std::move(f));
        }
        return {};
    }
    void finish(std::vector<wire::SseEvent>& out) override { m_reader.finish(out); }

private:
    wire::SseReader m_reader;
};
}  // namespace

std::unique_ptr<StreamDecoder> make_sse_decoder()
{
    return std::make_unique<SseDecoder>();
}

namespace {

/// The providers: one row per wire format, each adapter in its own folder
/// (providers/<name>/). A new wire format is a folder, a WireFormat value and a row here.
struct Registered {
    config::WireFormat wire;
    const Adapter& (*adapter)();
};
constexpr Registered k_registry[] = {
    {config::WireFormat::openai, openai_adapter},   {config::WireFormat::anthropic, anthropic_adapter},
    {config::WireFormat::gemini, gemini_adapter},   {config::WireFormat::azure, azure_adapter},
    {config::WireFormat::bedrock, bedrock_adapter}, {config::WireFormat::cohere, cohere_adapter},
    {config::WireFormat::mock, mock_adapter},
};

}  // namespace

const Adapter* adapter_for(config::WireFormat wire)
{
    for (const Registered& r : k_registry) {
        if (r.wire == wire) {
            return &r.adapter();
        }
    }
    return nullptr;
}

}  // namespace aigw::daemon::providers

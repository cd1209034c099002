// GET /metrics end to end: aigwd against the fake upstream, scraped before and after a few
// requests; a small parser of the Prometheus text format (0.0.4) reads both scrapes, checks
// the format itself and the deltas the requests must have left.
#include "tests/integration/harness.hpp"

#include <doctest/doctest.h>

#include <charconv>
#include <cmath>
#include <set>

using aigw::test::Daemon;
using aigw::test::DaemonOptions;
using aigw::test::FakeUpstream;
using nlohmann::json;

namespace {

constexpr const char* k_metrics_token = "metrics-token-0123456789abcdef";

/// One scrape: sample value by series ("name{a=\"x\",b=\"y\"}", labels sorted by name and
/// unescaped), and each family's TYPE.
struct Scrape {
    std::map<std::string, double> samples;
    std::map<std::string, std::string> types;

    /// The value of a series; 0 when absent (a counter not yet seen is 0).
    double value(const std::string& name, std::map<std::string, std::string> labels = {}) const
    {
        auto it = samples.find(series_id(name, labels));
        return it == samples.end() ? 0 : it->second;
    }
    bool has(const std::string& name, std::map<std::string, std::string> labels = {}) const
    {
        return samples.contains(series_id(name, labels));
    }
    static std::string series_id(const std::string& name, const std::map<std::string, std::string>& labels)
    {
        std::string id = name + "{";
        for (const auto& [k, v] : labels) {
            id += k + "=\"" + v + "\",";
        }
        return id + "}";
    }
};

/// The family a sample belongs to: its name without a histogram suffix when the family is a histogram.
std::string family_of(const std::string& name, const std::map<std::string, std::string>& types)
{
    for (const char* suffix : {"_bucket", "_sum", "_count"}) {
        if (name.ends_with(suffix)) {
            const std::string base = name.substr(0, name.size() - std::strlen(suffix));
            if (auto t = types.find(base); t != types.end() && t->second == "histogram") {
                return base;
            }
        }
    }
    return name;
}

/// Parses a scrape, failing the test on anything the text format does not allow: a sample
/// before its family's TYPE, a bad name, an unterminated or badly escaped label value, a
/// duplicate series, a value that is not a number.
Scrape parse_prometheus(const std::string& text)
{
    Scrape s;
    std::size_t pos = 0;
    int line_no = 0;
    auto is_name_char = [](char c, bool first) {
        return std::isalpha(static_cast<unsigned char>(c)) || c == '_' || c == ':' ||
               (!first && std::isdigit(static_cast<unsigned char>(c)));
    };
    while (pos < text.size()) {
        const auto nl = text.find('\n', pos);
        REQUIRE_MESSAGE(nl != std::string::npos, "the last line has no newline");
        const std::string line = text.substr(pos, nl - pos);
        pos = nl + 1;
        ++line_no;
        INFO("line " << line_no << ": " << line);
        if (line.empty()) {
            continue;
        }
        if (line.starts_with("# TYPE ")) {
            std::istringstream in(line.substr(7));
            std::string name;
            std::string type;
            in >> name >> type;
            REQUIRE((type == "counter" || type == "gauge" || type == "histogram"));
            REQUIRE_MESSAGE(!s.types.contains(name), "two TYPE lines for " << name);
            s.types[name] = type;
            continue;
        }
        if (line.starts_with("#")) {
            continue;
        }
        std::size_t i = 0;
        std::string name;
        while (i < line.size() && is_name_char(line[i], name.empty())) {
            name += line[i++];
        }
        REQUIRE(!name.empty());
        std::map<std::string, std::string> labels;
        if (i < line.size() && line[i] == '{') {
            ++i;
            while (i < line.size() && line[i] != '}') {
                std::string key;
                while (i < line.size() && is_name_char(line[i], key.empty())) {
                    key += line[i++];
                }
                REQUIRE(!key.empty());
                REQUIRE(line.substr(i, 2) == "=\"");
                i += 2;
                std::string value;
                bool closed = false;
                while (i < line.size()) {
                    const char c = line[i++];
                    if (c == '"') {
                        closed = true;
                        break;
                    }
                    if (c == '\\') {
                        REQUIRE(i < line.size());
                        const char e = line[i++];
                        REQUIRE_MESSAGE((e == '\\' || e == '"' || e == 'n'), "bad escape \\" << e);
                        value += e == 'n' ? '\n' : e;
                    } else {
                        value += c;
                    }
                }
                REQUIRE(closed);
                REQUIRE_MESSAGE(!labels.contains(key), "label " << key << " twice");
                labels[key] = value;
                if (i < line.size() && line[i] == ',') {
                    ++i;
                }
            }
            REQUIRE(i < line.size());
            ++i;  // '}'
        }
        REQUIRE(i < line.size());
        REQUIRE(line[i] == ' ');
        const std::string number = line.substr(i + 1);
        double v = 0;
        if (number == "+Inf") {
            v = INFINITY;
        } else if (number == "-Inf") {
            v = -INFINITY;
        } else if (number == "NaN") {
            v = NAN;
        } else {
            auto [end, ec] = std::from_chars(number.data(), number.data() + number.size(), v);
            REQUIRE_MESSAGE((ec == std::errc{} && end == number.data() + number.size()), "bad value " << number);
        }
        const std::string family = family_of(name, s.types);
        REQUIRE_MESSAGE(s.types.contains(family), "sample before the TYPE of " << family);
        CHECK_MESSAGE(family.starts_with("aigw_"), family << " has no aigw_ prefix");
        const std::string id = Scrape::series_id(name, labels);
        REQUIRE_MESSAGE(!s.samples.contains(id), "series twice: " << id);
        s.samples[id] = v;
    }
    return s;
}

/// Every histogram's buckets grow with `le` and end with +Inf equal to _count.
void check_histograms(const Scrape& s)
{
    for (const auto& [family, type] : s.types) {
        if (type != "histogram") {
            continue;
        }
        // series without `le` -> (le, count) in bound order
        std::map<std::string, std::vector<std::pair<double, double>>> buckets;
        for (const auto& [id, v] : s.samples) {
            if (!id.starts_with(family + "_bucket{")) {
                continue;
            }
            const auto le_at = id.find("le=\"");
            REQUIRE(le_at != std::string::npos);
            const auto le_end = id.find('"', le_at + 4);
            const std::string le = id.substr(le_at + 4, le_end - le_at - 4);
            const std::size_t open = family.size() + std::strlen("_bucket{");
            const std::string rest = id.substr(open, le_at - open) + id.substr(le_end + 2);
            buckets[rest].emplace_back(le == "+Inf" ? INFINITY : std::stod(le), v);
        }
        for (auto& [rest, bs] : buckets) {
            INFO(family << " " << rest);
            std::sort(bs.begin(), bs.end());
            REQUIRE(std::isinf(bs.back().first));
            for (std::size_t i = 1; i < bs.size(); ++i) {
                CHECK(bs[i].second >= bs[i - 1].second);
            }
            CHECK(s.samples.at(family + "_count{" + rest) == bs.back().second);
        }
    }
}

httplib::Result scrape(const Daemon& d, const std::string& key = "test-gateway-key")
{
    auto c = d.client(key);
    return c.Get("/metrics");
}

Scrape scrape_ok(const Daemon& d, const std::string& key = "test-gateway-key")
{
    auto r = scrape(d, key);
    REQUIRE(r);
    REQUIRE(r->status == 200);
    CHECK(r->get_header_value("Content-Type") == "text/plain; version=0.0.4; charset=utf-8");
    Scrape s = parse_prometheus(r->body);
    check_histograms(s);
    return s;
}

json chat(const std::string& model, const std::string& prompt, bool stream = false)
{
    json body = {{"model", model}, {"messages", json::array({{{"role", "user"}, {"content", prompt}}})}};
    if (stream) {
        body["stream"] = true;
        body["stream_options"] = {{"include_usage", true}};
    }
    return body;
}

/// The usage and the cost of a streamed answer: its last usage chunk and its cost comment.
std::pair<json, double> stream_usage(const std::string& body)
{
    json usage;
    for (const auto& line : aigw::test::sse_data_lines(body)) {
        auto chunk = json::parse(line, nullptr, false);
        if (chunk.is_object() && chunk.contains("usage") && chunk["usage"].is_object()) {
            usage = chunk["usage"];
        }
    }
    double cost = -1;
    const std::string marker = ": x-aigw-cost-usd=";
    if (auto at = body.find(marker); at != std::string::npos) {
        cost = std::stod(body.substr(at + marker.size(), body.find('\n', at) - at - marker.size()));
    }
    return {usage, cost};
}

std::int64_t tokens(const json& usage, const char* field, const char* details = nullptr, const char* sub = nullptr)
{
    if (details != nullptr) {
        auto d = usage.find(details);
        return d == usage.end() || !d->is_object() ? 0 : d->value(sub, std::int64_t{0});
    }
    return usage.value(field, std::int64_t{0});
}

}  // namespace

TEST_CASE("/metrics answers the gateway key and the metrics token, and nobody else")
{
    FakeUpstream up;
    Daemon d(&up, {.config_toml = std::string("[server]\nmetrics_token = \"") + k_metrics_token + "\"\n"});
    auto none = scrape(d, "");
    REQUIRE(none);
    CHECK(none->status == 401);
    auto wrong = scrape(d, "metrics-token-0123456789abcdeX");
    REQUIRE(wrong);
    CHECK(wrong->status == 401);
    CHECK(wrong->body.find(k_metrics_token) == std::string::npos);
    scrape_ok(d);
    scrape_ok(d, k_metrics_token);
    // The metrics token opens /metrics only, not the admin API nor the model endpoints.
    auto status = d.get("/aigw/v1/status", k_metrics_token);
    REQUIRE(status);
    CHECK(status->status == 401);
    auto chat_with_token = d.post("/v1/chat/completions", chat("openai/gpt-4o-mini", "hi"), k_metrics_token);
    REQUIRE(chat_with_token);
    CHECK(chat_with_token->status == 401);
}

TEST_CASE(
    "one answered, one cached, one failed, one streamed and one refused request move /metrics by "
    "exactly what they did")
{
    FakeUpstream up;
    Daemon d(&up, {.config_toml = std::string("[server]\nmetrics_token = \"") + k_metrics_token +
                                  "\"\n[cache]\nenabled = true\n[routing]\nretries = 0\nauto_fallback = false\n"
                                  "[models.\"openai/gpt-4o\"]\nrpm = 1\n"});
    up.add_fault({{"kind", "500"}, {"count", 1}, {"model_contains", "gpt-4.1"}});
    const std::map<std::string, std::string> mini = {
        {"provider", "openai"}, {"model", "openai/gpt-4o-mini"}, {"key", "default"}};
    const std::map<std::string, std::string> mini_model = {{"provider", "openai"}, {"model", "openai/gpt-4o-mini"}};
    const std::map<std::string, std::string> failing = {
        {"provider", "openai"}, {"model", "openai/gpt-4.1"}, {"key", "default"}};

    const Scrape before = scrape_ok(d);

    // Answered by the upstream.
    json body = chat("openai/gpt-4o-mini", "count the tokens of this prompt please");
    body["reasoning_effort"] = "low";
    auto answered = d.post("/v1/chat/completions", body);
    REQUIRE(answered);
    REQUIRE(answered->status == 200);
    CHECK(answered->get_header_value("x-aigw-cache") == "MISS");
    const json usage = json::parse(answered->body)["usage"];
    const double cost = std::stod(answered->get_header_value("x-aigw-cost-usd"));
    CHECK(cost > 0);
    // The same again: a cache hit.
    auto hit = d.post("/v1/chat/completions", body);
    REQUIRE(hit);
    REQUIRE(hit->status == 200);
    REQUIRE(hit->get_header_value("x-aigw-cache") == "HIT");
    const double saved = std::stod(hit->get_header_value("x-aigw-cache-saved-usd"));
    CHECK(saved > 0);
    // A failing upstream: 500, no retry, no fallback.
    auto failed = d.post("/v1/chat/completions", chat("openai/gpt-4.1", "this one fails"));
    REQUIRE(failed);
    CHECK(failed->status == 500);
    // A stream, for the time to first token.
    auto streamed = d.post("/v1/chat/completions", chat("openai/gpt-4o-mini", "stream me a few words", true));
    REQUIRE(streamed);
    REQUIRE(streamed->status == 200);
    const auto [stream_usage_json, stream_cost] = stream_usage(streamed->body);
    REQUIRE(stream_usage_json.is_object());
    CHECK(stream_cost > 0);
    // rpm = 1 on gpt-4o: the second request is refused by the limiter.
    auto first_4o = d.post("/v1/chat/completions", chat("openai/gpt-4o", "one"));
    REQUIRE(first_4o);
    CHECK(first_4o->status == 200);
    auto refused = d.post("/v1/chat/completions", chat("openai/gpt-4o", "two"));
    REQUIRE(refused);
    CHECK(refused->status == 429);

    const Scrape after = scrape_ok(d, k_metrics_token);
    auto delta = [&](const std::string& name, const std::map<std::string, std::string>& labels) {
        return after.value(name, labels) - before.value(name, labels);
    };
    auto with = [](std::map<std::string, std::string> labels, const std::string& k, const std::string& v) {
        labels[k] = v;
        return labels;
    };

    // gpt-4o-mini: the answer, the hit and the stream.
    CHECK(delta("aigw_requests_total", mini) == 3);
    CHECK(delta("aigw_request_errors_total", mini) == 0);
    const auto in = tokens(usage, "prompt_tokens") + tokens(stream_usage_json, "prompt_tokens");
    const auto out = tokens(usage, "completion_tokens") + tokens(stream_usage_json, "completion_tokens");
    const auto cached = tokens(usage, "", "prompt_tokens_details", "cached_tokens") +
                        tokens(stream_usage_json, "", "prompt_tokens_details", "cached_tokens");
    const auto reasoning = tokens(usage, "", "completion_tokens_details", "reasoning_tokens") +
                           tokens(stream_usage_json, "", "completion_tokens_details", "reasoning_tokens");
    CHECK(in > 0);
    CHECK(reasoning > 0);  // reasoning_effort made the fake think
    CHECK(delta("aigw_tokens_total", with(mini, "type", "input")) == in);
    CHECK(delta("aigw_tokens_total", with(mini, "type", "output")) == out);
    CHECK(delta("aigw_tokens_total", with(mini, "type", "cached")) == cached);
    CHECK(delta("aigw_tokens_total", with(mini, "type", "reasoning")) == reasoning);
    CHECK(delta("aigw_cost_usd_total", mini) == doctest::Approx(cost + stream_cost).epsilon(1e-3));
    CHECK(delta("aigw_request_duration_seconds_count", mini_model) == 3);
    CHECK(delta("aigw_request_duration_seconds_bucket", with(mini_model, "le", "+Inf")) == 3);
    CHECK(delta("aigw_time_to_first_token_seconds_count", mini_model) == 1);
    CHECK(delta("aigw_upstream_attempts_total", with(mini_model, "outcome", "success")) == 2);

    // gpt-4.1: one request, one error, one failed attempt; one failure leaves its circuit closed.
    const std::map<std::string, std::string> failing_model = {{"provider", "openai"}, {"model", "openai/gpt-4.1"}};
    CHECK(delta("aigw_requests_total", failing) == 1);
    CHECK(delta("aigw_request_errors_total", failing) == 1);
    CHECK(delta("aigw_upstream_attempts_total", with(failing_model, "outcome", "upstream")) == 1);
    CHECK(delta("aigw_upstream_attempts_total", with(failing_model, "outcome", "success")) == 0);
    CHECK(after.value("aigw_circuit_state", with(failing_model, "state", "closed")) == 1);
    CHECK(after.value("aigw_circuit_state", with(failing_model, "state", "open")) == 0);

    // The cache and the limiter.
    CHECK(delta("aigw_cache_hits_total", {}) == 1);
    CHECK(delta("aigw_cache_savings_usd_total", {}) == doctest::Approx(saved).epsilon(1e-3));
    CHECK(delta("aigw_limiter_refusals_total", {{"key", "default"}, {"reason", "rate_limit_exceeded"}}) == 1);

    // Gauges: nothing streams now; the ledger and the server are reported.
    CHECK(after.value("aigw_open_streams") == 0);
    CHECK(after.has("aigw_ledger_queue_depth"));
    CHECK(after.value("aigw_ledger_lag_seconds") >= 0);
    CHECK(after.value("aigw_open_connections") >= 1);
    CHECK(after.value("aigw_active_requests") >= 1);  // the scrape itself
    // The gateway key never shows up in a scrape.
    auto raw = scrape(d);
    REQUIRE(raw);
    CHECK(raw->body.find("test-gateway-key") == std::string::npos);
    CHECK(raw->body.find("sk-test-openai") == std::string::npos);
}

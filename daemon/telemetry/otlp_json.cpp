#include "daemon/telemetry/otlp_json.hpp"
#include "shared/wire/json_text.hpp"

#include <nlohmann/json.hpp>

namespace aigw::daemon::telemetry {

namespace {

using nlohmann::json;

json any_value(const Attribute& a)
{
    return std::visit(
        [](const auto& v) -> json {
            using T = std::decay_t<decltype(v)>;
            if constexpr (std::is_same_v<T, std::string>) {
                return {{"stringValue", v}};
            } else if constexpr (std::is_same_v<T, std::int64_t>) {
                return {{"intValue", std::to_string(v)}};  // int64 is a string in proto3's JSON mapping
            } else if constexpr (std::is_same_v<T, double>) {
                return {{"doubleValue", v}};
            } else if constexpr (std::is_same_v<T, bool>) {
                return {{"boolValue", v}};
            } else {
                json values = json::array();
                for (const auto& s : v) {
                    values.push_back({{"stringValue", s}});
                }
                return {{"arrayValue", {{"values", std::move(values)}}}};
            }
        },
        a.value);
}

json key_value(std::string key, json value)
{
    return {{"key", std::move(key)}, {"value", std::move(value)}};
}

}  // namespace

std::string encode_traces_json(const Resource& resource, std::span<const Span> spans)
{
    json resource_attrs = json::array({key_value("service.name", {{"stringValue", resource.service_name}}),
                                       key_value("telemetry.sdk.name", {{"stringValue", "aigw"}}),
                                       key_value("telemetry.sdk.language", {{"stringValue", "cpp"}})});
    if (!resource.service_version.empty()) {
        resource_attrs.push_back(key_value("service.version", {{"stringValue", resource.service_version}}));
    }
    json out_spans = json::array();
    for (const Span& s : spans) {
        json attrs = json::array();
        for (const auto& a : s.attributes) {
            attrs.push_back(key_value(a.key, any_value(a)));
        }
        json j = {{"traceId", to_hex(s.trace_id)},
                  {"spanId", to_hex(s.span_id)},
                  {"name", s.name},
                  {"kind", static_cast<int>(s.kind)},
                  {"startTimeUnixNano", std::to_string(s.start_unix_ns)},
                  {"endTimeUnixNano", std::to_string(s.end_unix_ns)},
                  {"attributes", std::move(attrs)},
                  {"flags", static_cast<int>(s.flags)}};
        if (s.parent_span_id) {
            j["parentSpanId"] = to_hex(*s.parent_span_id);
        }
        if (!s.trace_state.empty()) {
            j["traceState"] = s.trace_state;
        }
        json status = {{"code", static_cast<int>(s.status)}};
        if (!s.status_message.empty()) {
            status["message"] = s.status_message;
        }
        j["status"] = std::move(status);
        out_spans.push_back(std::move(j));
    }
    json scope = {{"scope", {{"name", "aigw"}, {"version", resource.service_version}}},
                  {"spans", std::move(out_spans)}};
    json req = {{"resourceSpans", json::array({{{"resource", {{"attributes", std::move(resource_attrs)}}},
                                                {"scopeSpans", json::array({std::move(scope)})}}})}};
    // Attribute values come from upstream answers: replace invalid UTF-8 instead of throwing.
    return wire::dump_json(req);
}

}  // namespace aigw::daemon::telemetry

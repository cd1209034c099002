#include "tests/fake_upstream/control.hpp"

#include <utility>

#include "tests/fake_upstream/faults.hpp"

namespace aigw::fake {

void RequestLog::record(const httplib::Request& req)
{
    Entry e;
    e.method = req.method;
    e.path = req.path;
    auto q = req.target.find('?');
    if (q != std::string::npos) {
        e.query = req.target.substr(q + 1);
    }
    e.raw_path = req.target.substr(0, q);
    e.headers.reserve(req.headers.size());
    for (const auto& [name, value] : req.headers) {
        // httplib adds the socket's addresses to the header map; they were not sent.
        std::string key = lower(name);
        if (key == "remote_addr" || key == "remote_port" || key == "local_addr" || key == "local_port") {
            continue;
        }
        // httplib's header map sorts case-insensitively, so repeats of one name are adjacent.
        if (!e.headers.empty() && e.headers.back().first == key) {
            e.headers.back().second += ", " + value;
        } else {
            e.headers.emplace_back(std::move(key), value);
        }
    }
    e.body = req.body;
    std::lock_guard lock(m_mutex);
    if (m_entries.size() >= k_capacity) {
        m_entries.pop_front();
    }
    m_entries.push_back(std::move(e));
    m_count.fetch_add(1, std::memory_order_relaxed);
}

void RequestLog::clear()
{
    std::lock_guard lock(m_mutex);
    m_entries.clear();
    m_count = 0;
}

json RequestLog::to_json() const
{
    std::lock_guard lock(m_mutex);
    json out = json::array();
    for (const auto& e : m_entries) {
        json headers = json::object();
        for (const auto& [k, v] : e.headers) {
            headers[k] = v;
        }
        out.push_back({{"method", e.method},
                       {"path", e.path},
                       {"raw_path", e.raw_path},
                       {"query", e.query},
                       {"headers", std::move(headers)},
                       {"body", e.body}});
    }
    return out;
}

namespace {

void control_error(httplib::Response& res, std::string message)
{
    send_json(res, 400, json{{"error", std::move(message)}}.dump());
}

/// Parses one rule of POST /_control/faults; returns an error message or "" on success.
std::string parse_rule(const json& j, FaultRule& rule)
{
    if (!j.is_object()) {
        return "each fault must be a JSON object";
    }
    auto kind = j.find("kind");
    if (kind == j.end() || !kind->is_string()) {
        return "\"kind\" is required: one of 400 401 403 404 429 500 502 503 504 529 slow cut malformed "
               "stream-error hang drip";
    }
    auto fault = parse_fault_kind(kind->get<std::string>());
    if (!fault) {
        return "unknown fault kind \"" + kind->get<std::string>() + "\"";
    }
    rule.fault = *fault;
    rule.path_contains = j.value("path_contains", "");
    rule.model_contains = j.value("model_contains", "");
    rule.key_contains = j.value("key_contains", "");
    rule.remaining = j.value("count", 1L);
    rule.fault.retry_after_s = j.value("retry_after", -1);
    rule.fault.delay_ms = j.value("delay_ms", -1L);
    if (rule.remaining <= 0) {
        return "\"count\" must be at least 1";
    }
    return {};
}

}  // namespace

httplib::Server::Handler recorded(FakeState& state, ProviderHandler handler)
{
    return [&state, handler = std::move(handler)](const httplib::Request& req, httplib::Response& res) {
        state.log->record(req);
        handler(state, req, res);
    };
}

void register_control(httplib::Server& svr, FakeState& state)
{
    svr.Post("/_control/faults", [&state](const httplib::Request& req, httplib::Response& res) {
        json body = json::parse(req.body, nullptr, false);
        if (body.is_discarded()) {
            control_error(res, "body is not JSON");
            return;
        }
        std::vector<FaultRule> rules;
        for (const auto& j : body.is_array() ? body : json::array({body})) {
            FaultRule rule;
            std::string err;
            try {
                err = parse_rule(j, rule);
            } catch (const json::exception& e) {
                err = std::string("bad field type: ") + e.what();
            }
            if (!err.empty()) {
                control_error(res, err);
                return;
            }
            rules.push_back(std::move(rule));
        }
        for (auto& r : rules) {
            state.faults->add(std::move(r));
        }
        send_json(res, 200, json{{"ok", true}, {"faults", state.faults->describe()}}.dump());
    });
    svr.Get("/_control/faults", [&state](const httplib::Request&, httplib::Response& res) {
        send_json(res, 200, json{{"faults", state.faults->describe()}}.dump());
    });
    svr.Delete("/_control/faults", [&state](const httplib::Request&, httplib::Response& res) {
        state.faults->clear();
        send_json(res, 200, R"({"ok":true})");
    });
    svr.Get("/_control/requests", [&state](const httplib::Request&, httplib::Response& res) {
        send_json(res, 200, state.log->to_json().dump());
    });
    svr.Delete("/_control/requests", [&state](const httplib::Request&, httplib::Response& res) {
        state.log->clear();
        send_json(res, 200, R"({"ok":true})");
    });
    svr.Get("/_control/stats", [&state](const httplib::Request&, httplib::Response& res) {
        send_json(res, 200, json{{"requests", state.log->count()}, {"open_streams", open_streams()}}.dump());
    });
}

}  // namespace aigw::fake

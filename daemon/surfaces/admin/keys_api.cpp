// The admin API for virtual keys (gateway key only):
//   POST /aigw/v1/keys                  create; the answer carries the secret, once
//   GET  /aigw/v1/keys                  list (never a secret or a hash)
//   GET  /aigw/v1/keys/{id|name}        one key, with what it spent this UTC day and month
//   POST /aigw/v1/keys/{id|name}/revoke revoke (the key stays listed)

#include "daemon/surfaces/admin/admin_api.hpp"

namespace aigw::daemon::surfaces {

namespace {

std::string key_status(const limits::VirtualKey& k, std::int64_t now_ms)
{
    if (k.revoked()) {
        return "revoked";
    }
    return k.expired(now_ms) ? "expired" : "active";
}

nlohmann::json key_json(const limits::VirtualKey& k, const limits::Spend& spend, std::int64_t now_ms)
{
    nlohmann::json j = {
        {"id", k.id},
        {"name", k.name},
        {"status", key_status(k, now_ms)},
        {"rpm", k.rpm},
        {"tpm", k.tpm},
        {"budget_usd", k.budget ? nlohmann::json(k.budget->usd) : nlohmann::json()},
        {"budget_period", k.budget ? nlohmann::json(limits::to_string(k.budget->period)) : nlohmann::json()},
        {"models", k.models},
        {"expires_ms", k.expires_ms},
        {"revoked_ms", k.revoked_ms},
        {"created_ms", k.created_ms},
        {"spent_day_usd", spend.day_usd},
        {"spent_month_usd", spend.month_usd}};
    return j;
}

wire::Failure key_failure(const limits::KeyError& e)
{
    wire::Failure f;
    f.status = e.status;
    f.message = e.message;
    f.kind = e.status == 404   ? wire::FailureKind::not_found
             : e.status >= 500 ? wire::FailureKind::internal
                               : wire::FailureKind::bad_request;
    return f;
}

/// The create request: {name, rpm, tpm, budget_usd, budget_period, models, expires_ms}.
std::expected<limits::KeySpec, wire::Failure> spec_from(const std::string& text)
{
    auto body = nlohmann::json::parse(text, nullptr, false);
    if (!body.is_object()) {
        return std::unexpected(wire::bad_request("the body must be a JSON object with at least \"name\""));
    }
    limits::KeySpec spec;
    try {
        spec.name = body.value("name", "");
        spec.rpm = body.value("rpm", std::int64_t{0});
        spec.tpm = body.value("tpm", std::int64_t{0});
        spec.expires_ms = body.value("expires_ms", std::int64_t{0});
        if (auto m = body.find("models"); m != body.end() && !m->is_null()) {
            spec.models = m->get<std::vector<std::string>>();
        }
        if (auto b = body.find("budget_usd"); b != body.end() && !b->is_null()) {
            limits::KeyBudget budget;
            budget.usd = b->get<double>();
            const std::string period = body.value("budget_period", "day");
            if (!limits::parse_period(period, budget.period)) {
                return std::unexpected(
                    wire::bad_request("budget_period must be \"day\" or \"month\"", "budget_period"));
            }
            spec.budget = budget;
        }
    } catch (const nlohmann::json::exception& e) {
        return std::unexpected(wire::bad_request(std::string("a field has the wrong type: ") + e.what()));
    }
    return spec;
}

}  // namespace

void AdminApi::install_keys_routes()
{
    add("POST", "/aigw/v1/keys", [this](const http::Request& req, http::Response& res) {
        auto spec = spec_from(req.body);
        if (!spec) {
            fail(res, spec.error());
            return;
        }
        auto created = m_keys->create(std::move(*spec));
        if (!created) {
            fail(res, key_failure(created.error()));
            return;
        }
        auto j = key_json(created->key, {}, m_clock.now_ms());
        j["key"] = created->secret;  // the one time it is shown
        res.set_header("Cache-Control", "no-store");
        res.set_content(j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace), "application/json");
    });

    add("GET", "/aigw/v1/keys", [this](const http::Request&, http::Response& res) {
        const auto now = m_clock.now_ms();
        nlohmann::json arr = nlohmann::json::array();
        for (const auto& k : m_keys->list()) {
            arr.push_back(key_json(k, m_limiter->spend(k.id), now));
        }
        res.set_content(
            nlohmann::json({{"keys", std::move(arr)}}).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace),
            "application/json");
    });

    add("GET", "/aigw/v1/keys/*", [this](const http::Request& req, http::Response& res) {
        const std::string id = req.path.substr(std::string_view("/aigw/v1/keys/").size());
        auto k = m_keys->find(id);
        if (!k) {
            fail(res, key_failure({404, "no virtual key with id or name '" + id + "'; see 'aigw keys list'"}));
            return;
        }
        res.set_content(key_json(*k, m_limiter->spend(k->id), m_clock.now_ms())
                            .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace),
                        "application/json");
    });

    add("POST", "/aigw/v1/keys/*", [this](const http::Request& req, http::Response& res) {
        std::string id = req.path.substr(std::string_view("/aigw/v1/keys/").size());
        if (!id.ends_with("/revoke")) {
            fail(res, key_failure({404, "POST /aigw/v1/keys/{id}/revoke revokes a key; nothing else is posted there"}));
            return;
        }
        id.resize(id.size() - std::string_view("/revoke").size());
        auto k = m_keys->revoke(id);
        if (!k) {
            fail(res, key_failure(k.error()));
            return;
        }
        res.set_content(key_json(*k, m_limiter->spend(k->id), m_clock.now_ms())
                            .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace),
                        "application/json");
    });
}

}  // namespace aigw::daemon::surfaces

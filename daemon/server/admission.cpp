// Virtual keys and limits on the request path: who is calling (authorize), and whether
// this request may start (admit). Both work from memory only; see daemon/limits/.

#include "daemon/server/gateway.hpp"

#include <httplib.h>

namespace aigw::daemon::server {

namespace {

constexpr const char* k_admin_key_id = "default";

std::string utc_date_time(std::int64_t unix_ms)
{
    const std::time_t t = static_cast<std::time_t>(unix_ms / 1000);
    std::tm tm{};
    gmtime_r(&t, &tm);
    char buf[32];
    std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M UTC", &tm);
    return buf;
}

}  // namespace

bool Gateway::authorize(const httplib::Request& req, httplib::Response& res, bool anthropic_shape, Exchange& ex) const
{
    const std::string presented = presented_key(req);
    if (is_gateway_key(presented)) {
        ex.key_id = k_admin_key_id;
        return true;
    }
    if (presented.starts_with(limits::k_virtual_key_prefix)) {
        const auto found = m_keys->authenticate(presented);
        switch (found.verdict) {
        case limits::KeyStore::Verdict::ok:
            ex.key_id = found.key->id;
            return true;
        case limits::KeyStore::Verdict::revoked:
            send_failure(res,
                         wire::unauthorized("The key '" + found.key->name + "' (" + found.key->id + ") was revoked on " +
                                            utc_date_time(found.key->revoked_ms) +
                                            ". Ask the gateway's admin for a new key."),
                         anthropic_shape);
            return false;
        case limits::KeyStore::Verdict::expired:
            send_failure(res,
                         wire::unauthorized("The key '" + found.key->name + "' (" + found.key->id + ") expired on " +
                                            utc_date_time(found.key->expires_ms) +
                                            ". Ask the gateway's admin for a new key."),
                         anthropic_shape);
            return false;
        case limits::KeyStore::Verdict::unknown:
            break;
        }
    }
    return authorize(req, res, anthropic_shape);  // fills the usual 401
}

std::optional<wire::Failure> Gateway::admit(Exchange& ex, const nlohmann::json& body)
{
    std::shared_ptr<const limits::VirtualKey> key;
    if (ex.key_id != k_admin_key_id) {
        key = m_keys->by_id(ex.key_id);
    }
    // Limits and patterns are about the model that will serve: "gpt-4o" is openai/gpt-4o.
    auto resolved = config::resolve_model(m_cfg, ex.requested_model);
    const std::string model_id = resolved ? resolved->id : ex.requested_model;
    std::int64_t estimate = 0;
    if (m_limiter->counts_tokens(key.get(), model_id)) {
        estimate = limits::estimate_tokens(body);
    }
    return m_limiter->admit(key.get(), ex.key_id, model_id, ex.requested_model, estimate, ex.reservation);
}

bool Gateway::model_visible(const Exchange& ex, std::string_view model_id) const
{
    if (ex.key_id == k_admin_key_id) {
        return true;
    }
    auto key = m_keys->by_id(ex.key_id);
    if (!key) {
        return true;
    }
    auto resolved = config::resolve_model(m_cfg, model_id);
    return key->allows(resolved ? std::string_view(resolved->id) : model_id, model_id);
}

}  // namespace aigw::daemon::server

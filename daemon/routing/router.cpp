#include "daemon/routing/router.hpp"

namespace aigw::daemon::routing {

Router::Router(const config::Config& cfg, config::Env env) : m_cfg(cfg), m_env(std::move(env))
{
    reload_keys();
}

void Router::reload_keys()
{
    std::map<std::string, std::string, std::less<>> keys;
    for (const auto& [name, spec] : m_cfg.providers) {
        if (spec.key_env.empty() && spec.wire == config::WireFormat::mock) {
            continue;
        }
        auto key = config::provider_key(m_cfg, spec, m_env);
        if (!key.empty()) {
            keys.emplace(name, std::move(key));
        }
    }
    auto env_or = [&](std::initializer_list<const char*> names) {
        for (const char* n : names) {
            if (auto v = m_env(n); v && !v->empty()) {
                return *v;
            }
        }
        return std::string();
    };
    providers::AwsCredentials aws{env_or({"AWS_ACCESS_KEY_ID"}), env_or({"AWS_SECRET_ACCESS_KEY"}),
                                  env_or({"AWS_SESSION_TOKEN"}), env_or({"AWS_REGION", "AWS_DEFAULT_REGION"})};
    std::unique_lock lock(m_mu);
    m_keys = std::move(keys);
    m_aws = std::move(aws);
}

bool Router::key_present(const config::ProviderSpec& p) const
{
    if (!p.key_required) {
        return true;
    }
    std::shared_lock lock(m_mu);
    return m_keys.contains(p.name);
}

std::expected<Route, wire::Failure> Router::route(std::string_view requested) const
{
    auto resolved = config::resolve_model(m_cfg, requested);
    if (!resolved) {
        return std::unexpected(std::move(resolved.error()));
    }
    Route r;
    r.resolved = std::move(*resolved);
    const config::ProviderSpec& spec = *r.resolved.provider;
    r.target.provider = &spec;
    r.target.model = r.resolved.model;
    r.target.base_url = spec.base_url;
    if (r.resolved.info != nullptr) {
        r.price = r.resolved.info->price;
        r.target.default_max_tokens = r.resolved.info->max_output_tokens;
    }
    if (spec.wire == config::WireFormat::mock) {
        r.price = config::Price{};  // mock answers are free, and priced as such
        return r;
    }
    r.adapter = providers::adapter_for(spec.wire);
    if (r.adapter == nullptr) {
        return std::unexpected(wire::bad_request("provider '" + spec.name + "' uses the " +
                                                 std::string(config::to_string(spec.wire)) +
                                                 " wire format, which this build of aigw does not speak yet"));
    }
    {
        std::shared_lock lock(m_mu);
        if (auto it = m_keys.find(spec.name); it != m_keys.end()) {
            r.target.api_key = it->second;
        }
        if (spec.wire == config::WireFormat::bedrock) {
            r.target.aws = m_aws;
            if (auto region = spec.options.find("region"); region != spec.options.end()) {
                r.target.aws.region = region->second;
            }
            if (r.target.aws.region.empty()) {
                r.target.aws.region = "us-east-1";
            }
            r.target.base_url = providers::bedrock_base_url(r.target);
        }
    }
    if (r.target.api_key.empty() && spec.key_required) {
        wire::Failure f = wire::unauthorized(
            "no API key for provider '" + spec.name + "': set " + (spec.key_env.empty() ? std::string("its key") : spec.key_env) +
            " in the daemon's environment or run 'aigw keys set " + spec.name + "'");
        f.code = "missing_provider_key";
        return std::unexpected(std::move(f));
    }
    return r;
}

}  // namespace aigw::daemon::routing

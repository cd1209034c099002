#pragma once
// Model resolution into a concrete route: provider, adapter, key, base URL and price.
// Provider keys are read once at start-up and on reload, never per request.

#include "daemon/providers/adapter.hpp"
#include "shared/config/config.hpp"

#include <mutex>
#include <shared_mutex>

namespace aigw::daemon::routing {

struct Route {
    config::ResolvedModel resolved;
    providers::Target target;
    const providers::Adapter* adapter = nullptr;  ///< nullptr for the in-process mock
    std::optional<config::Price> price;           ///< nullopt: unpriced (cost 0, flagged)
    bool is_mock() const { return adapter == nullptr; }
};

class Router {
public:
    Router(const config::Config& cfg, config::Env env);

    /// Resolves a requested model string. 404 model_not_found for unknown providers and
    /// bare names; 401 with a what-to-do message when the provider needs a key and has none.
    std::expected<Route, wire::Failure> route(std::string_view requested) const;

    /// Re-reads provider keys (environment and the provider-keys file).
    void reload_keys();
    bool key_present(const config::ProviderSpec& p) const;
    const config::Config& config() const { return m_cfg; }

private:
    const config::Config& m_cfg;
    config::Env m_env;
    mutable std::shared_mutex m_mu;
    std::map<std::string, std::string, std::less<>> m_keys;  ///< provider -> key (never logged)
    providers::AwsCredentials m_aws;                         ///< for Bedrock (never logged)
};

}  // namespace aigw::daemon::routing

#pragma once
// Model resolution into concrete routes, and a request's attempt plan: A/B variant,
// load-balanced deployments, fallbacks (per request, per model, automatic). Provider keys
// are read once at start-up and on reload, never per request; which key a route uses comes
// from the KeyBoard (round-robin over keys that are neither cooling down nor bad).

#include "daemon/providers/adapter.hpp"
#include "daemon/routing/health.hpp"
#include "shared/config/config.hpp"
#include "shared/config/live_config.hpp"

#include <mutex>
#include <shared_mutex>

namespace aigw::daemon::routing {

struct Route {
    config::ResolvedModel resolved;
    providers::Target target;
    const providers::Adapter* adapter = nullptr;  ///< never null for a route the router returned
    std::optional<config::Price> price;           ///< nullopt: unpriced (cost 0, flagged)
    int key_index = -1;                           ///< which of the provider's keys (-1: none)
    int key_count = 0;
};

/// What shapes a request's plan besides configuration.
struct PlanRequest {
    std::string_view requested;
    std::string_view fallback_header;  ///< x-aigw-fallback: "a/m1, b/m2" (and/or "auto")
    std::string_view user;             ///< the body's `user`: keeps A/B variants sticky
    bool needs_tools = false;
    bool needs_vision = false;
    std::int64_t min_context = 0;  ///< estimated prompt + answer tokens
};

/// One model to try, and why it is in the plan.
struct Candidate {
    std::string model;   ///< as written in config / headers ("provider/model" or alias)
    std::string origin;  ///< "requested", "deployment", "fallback", "header fallback", "auto fallback"
};

struct Plan {
    std::string variant;  ///< the A/B variant chosen, when the name splits
    std::vector<Candidate> candidates;
};

class Router {
public:
    /// A router over one fixed config (tests, tools).
    Router(const config::Config& cfg, config::Env env, SteadyClock clock = nullptr);
    /// A router that follows `live` (the daemon): each call reads its current generation.
    /// Circuit breaker settings are taken from the first one.
    Router(const config::LiveConfig& live, config::Env env, SteadyClock clock = nullptr);

    /// The ordered models to try for a request (at least one).
    Plan plan(const PlanRequest& req) const;

    /// Resolves a model string into a route with a usable key. 404 model_not_found for
    /// unknown providers and bare names; 401 with a what-to-do message when the provider
    /// needs a key and has none; a rate_limited failure when every key is resting after
    /// 429s for this model. `exclude_keys`: keys this request already failed with.
    std::expected<Route, wire::Failure> route(std::string_view requested,
                                              const std::vector<int>& exclude_keys = {}) const;

    /// Re-reads provider keys (environment and the provider-keys file) and forgets key marks.
    /// Call after publishing a new config generation too: providers and key files may differ.
    void reload_keys();
    bool key_present(const config::ProviderSpec& p) const;
    /// Number of keys per provider that has any (for status).
    std::map<std::string, int, std::less<>> key_counts() const;
    const config::Config& config() const { return m_live != nullptr ? m_live->current() : *m_fixed; }

    HealthBoard& health() const { return m_health; }
    KeyBoard& keys() const { return m_keyboard; }

private:
    const config::ModelRouting* routing_for(std::string_view name) const;
    void order_deployments(const config::ModelRouting& r, std::vector<Candidate>& out) const;
    void add_auto_fallbacks(const PlanRequest& req, std::vector<Candidate>& out) const;
    /// Every key of `provider` is resting after 429s for `model` (or this request already failed with it).
    wire::Failure keys_resting(const std::string& provider, const std::string& model, int count) const;

    const config::Config* m_fixed = nullptr;
    const config::LiveConfig* m_live = nullptr;
    config::Env m_env;
    mutable std::shared_mutex m_mu;
    std::map<std::string, std::vector<std::string>, std::less<>> m_keys;  ///< provider -> keys (never logged)
    providers::AwsCredentials m_aws;                                      ///< for Bedrock (never logged)
    mutable HealthBoard m_health;
    mutable KeyBoard m_keyboard;
};

/// Splits "a/m1, b/m2" into trimmed, non-empty names.
std::vector<std::string> split_model_list(std::string_view text);

}  // namespace aigw::daemon::routing

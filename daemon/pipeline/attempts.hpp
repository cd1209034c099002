#pragma once
// Runs one request over its plan: the A/B variant, load-balanced deployments, fallbacks.
// For each candidate: resolve a route with a usable key, admit it (the caller's key may
// use that model, within its limits), ask its circuit breaker, run the attempt; after a
// failure the attempt policy (routing/attempt_policy.hpp) says what comes next. Time and
// waiting come from an AttemptEnv, so the loop runs in virtual time in the unit tests.

#include "daemon/pipeline/exchange.hpp"
#include "daemon/routing/attempt_policy.hpp"

#include <boost/asio/awaitable.hpp>

#include <expected>
#include <functional>

namespace aigw::daemon::pipeline {

namespace asio = boost::asio;
using Clock = std::chrono::steady_clock;

struct AttemptEnv {
    std::function<Clock::time_point()> now;
    std::function<asio::awaitable<void>(std::chrono::milliseconds)> sleep;  ///< a timer, never a blocking sleep
    std::function<double()> jitter;                                         ///< uniform in [0, 1)
};

/// The steady clock, an Asio timer on the caller's executor, and a per-thread PRNG.
AttemptEnv real_attempt_env();

/// One attempt on the route; its failure is judged by the attempt policy.
using AttemptFn = std::function<asio::awaitable<std::expected<void, wire::Failure>>(const routing::Route&)>;
/// Whether the caller may use this route's model now: nullopt admits (and reserves); a
/// failure skips the candidate (it is named in the ledger and x-aigw-fallback-reason).
using AdmitFn = std::function<asio::awaitable<std::optional<wire::Failure>>(const routing::Route&)>;

/// What the router needs to know of the request itself.
routing::PlanRequest plan_request(const Exchange& ex, const nlohmann::json& canonical);

/// Runs `attempt` over the plan for `canonical` until one succeeds. Leaves ex.route on the
/// route that served (or failed last), notes every earlier failed attempt in ex for the
/// ledger, and returns the last failure when nothing served.
asio::awaitable<std::expected<void, wire::Failure>> run_attempts(const routing::Router& router,
                                                                 const config::RoutingSettings& rs, Exchange& ex,
                                                                 const nlohmann::json& canonical, AttemptFn attempt,
                                                                 AdmitFn admit, AttemptEnv env);

}  // namespace aigw::daemon::pipeline

#pragma once
// Health of each deployment ("provider/model") and of each provider key: a rolling window of
// outcomes (p95 latency, error rate, 429s, timeouts), a circuit breaker per deployment, and
// key states (cooling down after a 429, bad after a 401/403). State lives across requests;
// the clock is injected so tests move time instead of sleeping.

#include "shared/wire/error.hpp"

#include <array>
#include <chrono>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace aigw::daemon::routing {

using SteadyClock = std::function<std::chrono::steady_clock::time_point()>;

struct HealthSettings {
    int failures_to_open = 5;                    ///< consecutive failures that open the circuit
    std::chrono::milliseconds cooldown{30'000};  ///< open -> half-open after this
    std::chrono::milliseconds window{300'000};   ///< rolling window for the score
    std::size_t max_samples = 2000;              ///< per deployment, oldest dropped first
};

enum class CircuitState { closed, open, half_open };
std::string_view to_string(CircuitState s);

/// What one attempt did, for the health window.
struct Outcome {
    bool ok = false;
    std::optional<wire::FailureKind> failure;  ///< set when !ok
    std::chrono::milliseconds latency{0};
};

/// Attempt outcomes counted since start: index 0 is a success, 1 + FailureKind a failure
/// of that kind (for /metrics' aigw_upstream_attempts_total{outcome=...}).
inline constexpr std::size_t k_attempt_outcomes = 1 + static_cast<std::size_t>(wire::FailureKind::internal) + 1;
/// "success", or the FailureKind's name ("rate_limited", "timeout", ...).
std::string_view attempt_outcome_name(std::size_t index);

/// A deployment's state as `aigw status` shows it.
struct DeploymentHealth {
    std::string id;
    CircuitState state = CircuitState::closed;
    double score = 100;             ///< 100 x share of successful attempts in the window
    std::int64_t requests = 0;      ///< attempts in the window
    std::int64_t errors = 0;        ///< 5xx, network and malformed answers in the window
    std::int64_t rate_limited = 0;  ///< 429s in the window
    std::int64_t timeouts = 0;
    double error_rate = 0;        ///< (errors + rate_limited + timeouts) / requests
    std::int64_t p95_ms = -1;     ///< -1: no successful attempt in the window
    double latency_ewma_ms = -1;  ///< smoothed latency of successes, for lowest-latency
    int inflight = 0;
    int consecutive_failures = 0;
    std::int64_t retry_in_ms = 0;   ///< open: time until the half-open trial
    bool opened_elsewhere = false;  ///< open because another instance of the cluster opened it
    /// Attempts finished since start, by outcome (see k_attempt_outcomes); never reset.
    std::array<std::int64_t, k_attempt_outcomes> attempts_total{};
};

class HealthBoard {
public:
    explicit HealthBoard(HealthSettings settings, SteadyClock clock = nullptr);

    /// Whether an attempt on `id` may start now. Closed: yes. Open: no until the cooldown
    /// passed, then the circuit half-opens and exactly one caller gets the trial. Half-open
    /// with the trial in flight: no. On yes the attempt counts as in flight until finish().
    bool try_start(const std::string& id);
    /// Ends an attempt begun with try_start(): records the outcome and moves the breaker
    /// (a success closes it; a counted failure in half-open, or the Nth in a row, opens it).
    /// A failure that is the caller's fault (bad_request) or a key problem (auth) does not
    /// count against the deployment.
    void finish(const std::string& id, const Outcome& outcome);

    DeploymentHealth snapshot(const std::string& id) const;
    std::vector<DeploymentHealth> all() const;

    /// Called (outside the board's lock, on the caller's thread: it must not block) when a
    /// circuit opens, with how long it stays open, and when a success closes an open or
    /// half-open one (`open_for` 0). For sharing breakers across a cluster; set before use.
    using TransitionHook = std::function<void(const std::string& id, std::chrono::milliseconds open_for)>;
    void on_transition(TransitionHook hook);
    /// Circuits other instances opened, with the time each stays open; replaces the last set.
    /// A deployment in it whose own breaker is closed is skipped by try_start() until then;
    /// one whose own breaker is open or half-open keeps its own probe logic.
    void set_opened_elsewhere(const std::map<std::string, std::chrono::milliseconds, std::less<>>& open);
    /// In-flight attempts and smoothed latency, for load balancing (cheap: no window scan).
    int inflight(const std::string& id) const;
    double latency_ewma_ms(const std::string& id) const;  ///< -1 when unknown

private:
    struct Sample {
        std::chrono::steady_clock::time_point at;
        std::int64_t latency_ms;
        bool ok;
        std::optional<wire::FailureKind> failure;
    };
    struct Entry {
        CircuitState state = CircuitState::closed;
        std::chrono::steady_clock::time_point opened_at{};
        bool trial_in_flight = false;
        int consecutive_failures = 0;
        int inflight = 0;
        double ewma_ms = -1;
        std::deque<Sample> samples;
        std::array<std::int64_t, k_attempt_outcomes> attempts_total{};
    };
    std::chrono::steady_clock::time_point now() const;
    DeploymentHealth snapshot_locked(const std::string& id, const Entry& e) const;
    /// finish() under the lock; sets `transition` when the circuit opened (for how long) or closed (0).
    void finish_locked(const std::string& id, const Outcome& outcome,
                       std::optional<std::chrono::milliseconds>& transition);

    bool open_elsewhere_locked(const std::string& id, std::chrono::steady_clock::time_point t) const;

    HealthSettings m_settings;
    SteadyClock m_clock;
    mutable std::mutex m_mu;
    std::map<std::string, Entry, std::less<>> m_entries;
    std::map<std::string, std::chrono::steady_clock::time_point, std::less<>> m_elsewhere;  ///< id -> open until
    TransitionHook m_hook;
};

/// State of one provider key, by provider and position in its key list (never the key).
struct KeyHealth {
    std::string provider;
    int index = 0;     ///< 0-based position in the provider's key list
    bool bad = false;  ///< 401/403 from the provider: not used again until reload
    std::string bad_reason;
    std::int64_t cooldown_ms = 0;             ///< > 0: resting after a 429 (for some model), this much longer
    std::vector<std::string> cooling_models;  ///< providers limit per key and model
};

/// Which keys of a provider may be used now. Cooldowns and bad marks persist across
/// requests; a reload of the keys clears them.
class KeyBoard {
public:
    explicit KeyBoard(SteadyClock clock = nullptr);

    /// The next usable key of `provider` among `count` keys, round-robin, skipping cooling
    /// keys and `exclude` (the keys this request already failed with), and bad keys while a
    /// good one is left. nullopt when none is usable now.
    /// Cooldowns are per model: providers rate-limit each key per model.
    std::optional<int> pick(const std::string& provider, std::string_view model, int count,
                            const std::vector<int>& exclude = {});
    /// Rests a key for `model`; calls the rest hook unless `from_cluster` (a rest another
    /// instance published).
    void cool_down(const std::string& provider, std::string_view model, int index, std::chrono::milliseconds how_long,
                   bool from_cluster = false);
    /// Called (outside the lock; must not block) when a key starts resting, for the cluster.
    using RestHook = std::function<void(const std::string& provider, int index, const std::string& model,
                                        std::chrono::milliseconds how_long)>;
    void on_rest(RestHook hook);
    /// How long until a key of `provider` is usable for `model` again (0: one is now).
    std::chrono::milliseconds soonest(const std::string& provider, std::string_view model, int count) const;
    void mark_bad(const std::string& provider, int index, std::string reason);
    /// Forgets every mark (after the keys were reloaded).
    void reset();
    std::vector<KeyHealth> all(const std::map<std::string, int, std::less<>>& key_counts) const;

private:
    struct State {
        bool bad = false;
        std::string reason;
        std::map<std::string, std::chrono::steady_clock::time_point, std::less<>> cool_until;  ///< by model
    };
    static bool cooling(const State& s, std::string_view model, std::chrono::steady_clock::time_point t);
    std::chrono::steady_clock::time_point now() const;

    SteadyClock m_clock;
    mutable std::mutex m_mu;
    std::map<std::pair<std::string, int>, State> m_states;
    std::map<std::string, unsigned, std::less<>> m_next;  ///< round-robin cursor per provider
    RestHook m_hook;
};

}  // namespace aigw::daemon::routing

#include "daemon/routing/health.hpp"

#include <algorithm>
#include <cmath>

namespace aigw::daemon::routing {

namespace {

constexpr double k_ewma_alpha = 0.2;

/// Failures that say something about the deployment (not the caller, not one key).
bool counts_against_deployment(wire::FailureKind k)
{
    switch (k) {
        case wire::FailureKind::rate_limited:
        case wire::FailureKind::timeout:
        case wire::FailureKind::upstream:
        case wire::FailureKind::network:
            return true;
        default:
            return false;
    }
}

std::int64_t ms_between(std::chrono::steady_clock::time_point a, std::chrono::steady_clock::time_point b)
{
    return std::chrono::duration_cast<std::chrono::milliseconds>(b - a).count();
}

}  // namespace

std::string_view to_string(CircuitState s)
{
    switch (s) {
        case CircuitState::closed:
            return "closed";
        case CircuitState::open:
            return "open";
        case CircuitState::half_open:
            return "half-open";
    }
    return "closed";
}

std::string_view attempt_outcome_name(std::size_t index)
{
    return index == 0 || index >= k_attempt_outcomes ? std::string_view("success")
                                                     : wire::to_string(static_cast<wire::FailureKind>(index - 1));
}

HealthBoard::HealthBoard(HealthSettings settings, SteadyClock clock) : m_settings(settings), m_clock(std::move(clock))
{}

std::chrono::steady_clock::time_point HealthBoard::now() const
{
    return m_clock ? m_clock() : std::chrono::steady_clock::now();
}

void HealthBoard::on_transition(TransitionHook hook)
{
    std::lock_guard lock(m_mu);
    m_hook = std::move(hook);
}

void HealthBoard::set_opened_elsewhere(const std::map<std::string, std::chrono::milliseconds, std::less<>>& open)
{
    const auto t = now();
    std::lock_guard lock(m_mu);
    m_elsewhere.clear();
    for (const auto& [id, left] : open) {
        if (left.count() > 0) {
            m_elsewhere.emplace(id, t + left);
        }
    }
}

bool HealthBoard::open_elsewhere_locked(const std::string& id, std::chrono::steady_clock::time_point t) const
{
    auto it = m_elsewhere.find(id);
    return it != m_elsewhere.end() && it->second > t;
}

bool HealthBoard::try_start(const std::string& id)
{
    std::lock_guard lock(m_mu);
    Entry& e = m_entries[id];
    switch (e.state) {
        case CircuitState::closed:
            // Opened on another instance: skipped here until it expires there (or its
            // opener's trial closes it); the opener alone probes.
            if (open_elsewhere_locked(id, now())) {
                return false;
            }
            break;
        case CircuitState::open:
            if (now() - e.opened_at < m_settings.cooldown) {
                return false;
            }
            e.state = CircuitState::half_open;
            e.trial_in_flight = true;
            break;
        case CircuitState::half_open:
            if (e.trial_in_flight) {
                return false;
            }
            e.trial_in_flight = true;
            break;
    }
    ++e.inflight;
    return true;
}

void HealthBoard::finish(const std::string& id, const Outcome& outcome)
{
    TransitionHook hook;
    std::optional<std::chrono::milliseconds> transition;  ///< opened for this long (0: closed)
    {
        std::lock_guard lock(m_mu);
        finish_locked(id, outcome, transition);
        if (transition) {
            hook = m_hook;
        }
    }
    if (hook) {
        hook(id, *transition);
    }
}

void HealthBoard::finish_locked(const std::string& id, const Outcome& outcome,
                                std::optional<std::chrono::milliseconds>& transition)
{
    Entry& e = m_entries[id];
    const auto t = now();
    e.inflight = std::max(0, e.inflight - 1);
    ++e.attempts_total[outcome.ok
                           ? 0
                           : 1 + static_cast<std::size_t>(outcome.failure.value_or(wire::FailureKind::internal))];
    const bool counted = !outcome.ok && outcome.failure && counts_against_deployment(*outcome.failure);
    if (outcome.ok || counted) {
        e.samples.push_back(Sample{t, outcome.latency.count(), outcome.ok, outcome.failure});
        while (e.samples.size() > m_settings.max_samples) {
            e.samples.pop_front();
        }
    }
    if (outcome.ok) {
        const double ms = static_cast<double>(outcome.latency.count());
        e.ewma_ms = e.ewma_ms < 0 ? ms : k_ewma_alpha * ms + (1 - k_ewma_alpha) * e.ewma_ms;
        e.consecutive_failures = 0;
        if (e.state != CircuitState::closed) {
            transition = std::chrono::milliseconds(0);
            m_elsewhere.erase(id);  // our own shared entry, deleted now; the next poll agrees
        }
        e.state = CircuitState::closed;
        e.trial_in_flight = false;
        return;
    }
    if (!counted) {
        if (e.state == CircuitState::half_open) {
            e.trial_in_flight = false;  // the trial proved nothing; the next caller tries again
        }
        return;
    }
    ++e.consecutive_failures;
    if (e.state == CircuitState::half_open || e.consecutive_failures >= m_settings.failures_to_open) {
        if (e.state != CircuitState::open) {
            transition = m_settings.cooldown;
        }
        e.state = CircuitState::open;
        e.opened_at = t;
        e.trial_in_flight = false;
    }
}

DeploymentHealth HealthBoard::snapshot_locked(const std::string& id, const Entry& e) const
{
    DeploymentHealth h;
    h.id = id;
    h.state = e.state;
    h.inflight = e.inflight;
    h.consecutive_failures = e.consecutive_failures;
    h.latency_ewma_ms = e.ewma_ms;
    h.attempts_total = e.attempts_total;
    const auto t = now();
    if (e.state == CircuitState::open) {
        h.retry_in_ms = std::max<std::int64_t>(
            0, std::chrono::duration_cast<std::chrono::milliseconds>(m_settings.cooldown - (t - e.opened_at)).count());
    } else if (e.state == CircuitState::closed && open_elsewhere_locked(id, t)) {
        h.state = CircuitState::open;
        h.opened_elsewhere = true;
        h.retry_in_ms = std::chrono::duration_cast<std::chrono::milliseconds>(m_elsewhere.find(id)->second - t).count();
    }
    std::vector<std::int64_t> latencies;
    for (const auto& s : e.samples) {
        if (ms_between(s.at, t) > m_settings.window.count()) {
            continue;
        }
        ++h.requests;
        if (s.ok) {
            latencies.push_back(s.latency_ms);
        } else if (*s.failure == wire::FailureKind::rate_limited) {
            ++h.rate_limited;
        } else if (*s.failure == wire::FailureKind::timeout) {
            ++h.timeouts;
        } else {
            ++h.errors;
        }
    }
    if (!latencies.empty()) {
        // Nearest-rank p95.
        std::sort(latencies.begin(), latencies.end());
        auto rank = static_cast<std::size_t>(std::ceil(0.95 * static_cast<double>(latencies.size())));
        h.p95_ms = latencies[std::max<std::size_t>(rank, 1) - 1];
    }
    if (h.requests > 0) {
        h.error_rate = static_cast<double>(h.errors + h.rate_limited + h.timeouts) / static_cast<double>(h.requests);
    }
    h.score = h.state == CircuitState::open ? 0 : std::round(100 * (1 - h.error_rate));
    return h;
}

DeploymentHealth HealthBoard::snapshot(const std::string& id) const
{
    std::lock_guard lock(m_mu);
    auto it = m_entries.find(id);
    return it == m_entries.end() ? snapshot_locked(id, Entry{}) : snapshot_locked(id, it->second);
}

std::vector<DeploymentHealth> HealthBoard::all() const
{
    std::lock_guard lock(m_mu);
    std::vector<DeploymentHealth> out;
    out.reserve(m_entries.size());
    for (const auto& [id, e] : m_entries) {
        out.push_back(snapshot_locked(id, e));
    }
    const auto t = now();
    for (const auto& [id, until] : m_elsewhere) {
        if (until > t && !m_entries.contains(id)) {
            out.push_back(snapshot_locked(id, Entry{}));
        }
    }
    return out;
}

int HealthBoard::inflight(const std::string& id) const
{
    std::lock_guard lock(m_mu);
    auto it = m_entries.find(id);
    return it == m_entries.end() ? 0 : it->second.inflight;
}

double HealthBoard::latency_ewma_ms(const std::string& id) const
{
    std::lock_guard lock(m_mu);
    auto it = m_entries.find(id);
    return it == m_entries.end() ? -1 : it->second.ewma_ms;
}

KeyBoard::KeyBoard(SteadyClock clock) : m_clock(std::move(clock))
{}

std::chrono::steady_clock::time_point KeyBoard::now() const
{
    return m_clock ? m_clock() : std::chrono::steady_clock::now();
}

bool KeyBoard::cooling(const State& s, std::string_view model, std::chrono::steady_clock::time_point t)
{
    auto it = s.cool_until.find(model);
    return it != s.cool_until.end() && it->second > t;
}

std::optional<int> KeyBoard::pick(const std::string& provider, std::string_view model, int count,
                                  const std::vector<int>& exclude)
{
    if (count <= 0) {
        return std::nullopt;
    }
    std::lock_guard lock(m_mu);
    const auto t = now();
    unsigned& cursor = m_next[provider];
    // A bad key is used only when no good one is left: the provider, not aigw, then says
    // what is wrong (a single key marked bad by one stray 401 must not take a provider down).
    for (bool allow_bad : {false, true}) {
        for (int i = 0; i < count; ++i) {
            const int idx = static_cast<int>((cursor + static_cast<unsigned>(i)) % static_cast<unsigned>(count));
            if (std::find(exclude.begin(), exclude.end(), idx) != exclude.end()) {
                continue;
            }
            auto it = m_states.find({provider, idx});
            if (it != m_states.end() && ((it->second.bad && !allow_bad) || cooling(it->second, model, t))) {
                continue;
            }
            cursor = static_cast<unsigned>(idx + 1);
            return idx;
        }
    }
    return std::nullopt;
}

void KeyBoard::on_rest(RestHook hook)
{
    std::lock_guard lock(m_mu);
    m_hook = std::move(hook);
}

void KeyBoard::cool_down(const std::string& provider, std::string_view model, int index,
                         std::chrono::milliseconds how_long, bool from_cluster)
{
    RestHook hook;
    {
        std::lock_guard lock(m_mu);
        State& s = m_states[{provider, index}];
        auto& until = s.cool_until[std::string(model)];
        until = std::max(until, now() + how_long);
        if (!from_cluster) {
            hook = m_hook;
        }
    }
    if (hook) {
        hook(provider, index, std::string(model), how_long);
    }
}

std::chrono::milliseconds KeyBoard::soonest(const std::string& provider, std::string_view model, int count) const
{
    std::lock_guard lock(m_mu);
    const auto t = now();
    auto best = std::chrono::milliseconds::max();
    for (int i = 0; i < count; ++i) {
        auto it = m_states.find({provider, i});
        if (it == m_states.end() || !cooling(it->second, model, t)) {
            return std::chrono::milliseconds(0);
        }
        best = std::min(
            best, std::chrono::duration_cast<std::chrono::milliseconds>(it->second.cool_until.find(model)->second - t));
    }
    return count > 0 ? best : std::chrono::milliseconds(0);
}

void KeyBoard::mark_bad(const std::string& provider, int index, std::string reason)
{
    std::lock_guard lock(m_mu);
    State& s = m_states[{provider, index}];
    s.bad = true;
    s.reason = std::move(reason);
}

void KeyBoard::reset()
{
    std::lock_guard lock(m_mu);
    m_states.clear();
}

std::vector<KeyHealth> KeyBoard::all(const std::map<std::string, int, std::less<>>& key_counts) const
{
    std::lock_guard lock(m_mu);
    const auto t = now();
    std::vector<KeyHealth> out;
    for (const auto& [provider, count] : key_counts) {
        for (int i = 0; i < count; ++i) {
            KeyHealth k{provider, i};
            if (auto it = m_states.find({provider, i}); it != m_states.end()) {
                k.bad = it->second.bad;
                k.bad_reason = it->second.reason;
                for (const auto& [model, until] : it->second.cool_until) {
                    if (until > t) {
                        k.cooling_models.push_back(model);
                        k.cooldown_ms = std::max<std::int64_t>(
                            k.cooldown_ms, std::chrono::duration_cast<std::chrono::milliseconds>(until - t).count());
                    }
                }
            }
            out.push_back(std::move(k));
        }
    }
    return out;
}

}  // namespace aigw::daemon::routing

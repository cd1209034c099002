#include "daemon/routing/router.hpp"

#include <algorithm>
#include <cmath>
#include <random>

namespace aigw::daemon::routing {

namespace {

double unit_random()
{
    thread_local std::mt19937_64 rng{std::random_device{}()};
    return std::uniform_real_distribution<double>(0.0, 1.0)(rng);
}

/// A stable number in [0, 1) for a sticky choice (the same user always lands in the same
/// variant, across restarts).
double unit_hash(std::string_view text)
{
    std::uint64_t h = 1469598103934665603ULL;
    for (unsigned char c : text) {
        h ^= c;
        h *= 1099511628211ULL;
    }
    // FNV's top bits barely move for short, similar strings ("u1", "u2"): mix them (splitmix64).
    h ^= h >> 30;
    h *= 0xbf58476d1ce4e5b9ULL;
    h ^= h >> 27;
    h *= 0x94d049bb133111ebULL;
    h ^= h >> 31;
    return static_cast<double>(h >> 11) / static_cast<double>(1ULL << 53);
}

/// Picks one entry by weight with `u` in [0, 1).
std::size_t pick_weighted(const std::vector<config::WeightedModel>& items, double u)
{
    double total = 0;
    for (const auto& w : items) {
        total += w.weight;
    }
    double x = u * total;
    for (std::size_t i = 0; i < items.size(); ++i) {
        if (x < items[i].weight) {
            return i;
        }
        x -= items[i].weight;
    }
    return items.size() - 1;
}

std::string trim(std::string_view s)
{
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) {
        s.remove_prefix(1);
    }
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) {
        s.remove_suffix(1);
    }
    return std::string(s);
}

/// Price per 1M tokens in + out, for ordering automatic fallbacks by tier.
double blended_price(const config::ModelInfo* m)
{
    return m != nullptr && m->price ? m->price->input + m->price->output : 0;
}

}  // namespace

std::vector<std::string> split_model_list(std::string_view text)
{
    std::vector<std::string> out;
    while (!text.empty()) {
        auto comma = text.find(',');
        auto item = trim(text.substr(0, comma));
        if (!item.empty()) {
            out.push_back(std::move(item));
        }
        if (comma == std::string_view::npos) {
            break;
        }
        text.remove_prefix(comma + 1);
    }
    return out;
}

Router::Router(const config::LiveConfig& live, config::Env env, SteadyClock clock)
    : Router(live.current(), std::move(env), std::move(clock))
{
    m_fixed = nullptr;
    m_live = &live;
}

Router::Router(const config::Config& cfg, config::Env env, SteadyClock clock)
    : m_fixed(&cfg),
      m_env(std::move(env)),
      m_health(HealthSettings{cfg.routing.circuit_failures, std::chrono::milliseconds(cfg.routing.circuit_cooldown_ms),
                              std::chrono::milliseconds(cfg.routing.health_window_ms)},
               clock),
      m_keyboard(clock)
{
    reload_keys();
}

void Router::reload_keys()
{
    std::map<std::string, std::vector<std::string>, std::less<>> keys;
    for (const auto& [name, spec] : config().providers) {
        if (spec.key_env.empty() && spec.wire == config::WireFormat::mock) {
            continue;
        }
        // Several keys of one provider: comma-separated, rotated round-robin and on 429.
        auto list = split_model_list(config::provider_key(config(), spec, m_env));
        if (!list.empty()) {
            keys.emplace(name, std::move(list));
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
    m_keyboard.reset();
}

bool Router::key_present(const config::ProviderSpec& p) const
{
    if (!p.key_required) {
        return true;
    }
    std::shared_lock lock(m_mu);
    return m_keys.contains(p.name);
}

std::map<std::string, int, std::less<>> Router::key_counts() const
{
    std::shared_lock lock(m_mu);
    std::map<std::string, int, std::less<>> out;
    for (const auto& [name, list] : m_keys) {
        out.emplace(name, static_cast<int>(list.size()));
    }
    return out;
}

const config::ModelRouting* Router::routing_for(std::string_view name) const
{
    for (int depth = 0; depth < 16; ++depth) {
        if (auto it = config().model_routing.find(name); it != config().model_routing.end()) {
            return &it->second;
        }
        auto alias = config().aliases.find(name);
        if (alias == config().aliases.end()) {
            return nullptr;
        }
        name = alias->second;
    }
    return nullptr;
}

void Router::order_deployments(const config::ModelRouting& r, std::vector<Candidate>& out) const
{
    auto pool = r.deployments;
    const auto strategy = r.strategy.value_or(config().routing.strategy);
    if (strategy == config::BalanceStrategy::weighted) {
        // Weighted sampling without replacement: the first pick carries the traffic share,
        // the rest are the order of retreat.
        while (!pool.empty()) {
            auto i = pick_weighted(pool, unit_random());
            out.push_back({std::move(pool[i].model), "deployment"});
            pool.erase(pool.begin() + static_cast<std::ptrdiff_t>(i));
        }
        return;
    }
    std::shuffle(pool.begin(), pool.end(), std::mt19937_64{static_cast<std::uint64_t>(unit_random() * 1e18)});
    auto id_of = [&](const std::string& model) {
        auto resolved = config::resolve_model(config(), model);
        return resolved ? resolved->id : model;
    };
    if (strategy == config::BalanceStrategy::least_busy) {
        std::stable_sort(pool.begin(), pool.end(), [&](const auto& a, const auto& b) {
            return m_health.inflight(id_of(a.model)) < m_health.inflight(id_of(b.model));
        });
    } else {
        // Unknown latency sorts first, so a new deployment gets measured.
        std::stable_sort(pool.begin(), pool.end(), [&](const auto& a, const auto& b) {
            return m_health.latency_ewma_ms(id_of(a.model)) < m_health.latency_ewma_ms(id_of(b.model));
        });
    }
    for (auto& d : pool) {
        out.push_back({std::move(d.model), "deployment"});
    }
}

void Router::add_auto_fallbacks(const PlanRequest& req, std::vector<Candidate>& out) const
{
    constexpr std::size_t k_max_auto = 3;
    auto primary = config::resolve_model(config(), out.front().model);
    const double primary_price = primary ? blended_price(primary->info) : 0;
    std::vector<const config::ModelInfo*> matches;
    for (const auto* m : config().catalog.all()) {
        if (m->mode != "chat" || (req.needs_tools && !m->tools) || (req.needs_vision && !m->vision) ||
            (req.min_context > 0 && m->context_window > 0 && m->context_window < req.min_context)) {
            continue;
        }
        // Only providers with a key of their own: a keyless local server (ollama) may not run.
        auto p = config().providers.find(m->provider);
        if (p == config().providers.end() || p->second.wire == config::WireFormat::mock || !p->second.key_required ||
            !key_present(p->second)) {
            continue;
        }
        if (primary && m->id == primary->id) {
            continue;
        }
        matches.push_back(m);
    }
    // Closest price tier first: a fallback for a small model should be small, too.
    auto distance = [&](const config::ModelInfo* m) {
        const double a = std::max(primary_price, 0.01);
        const double b = std::max(blended_price(m), 0.01);
        return std::abs(std::log(a / b));
    };
    std::stable_sort(matches.begin(), matches.end(),
                     [&](const auto* a, const auto* b) { return distance(a) < distance(b); });
    std::size_t added = 0;
    for (const auto* m : matches) {
        if (added == k_max_auto) {
            break;
        }
        out.push_back({m->id, "auto fallback"});
        ++added;
    }
}

Plan Router::plan(const PlanRequest& req) const
{
    Plan plan;
    std::string name(req.requested);
    const config::ModelRouting* logical = routing_for(name);
    if (logical != nullptr && !logical->split.empty()) {
        const double u = req.user.empty() ? unit_random() : unit_hash(req.user);
        plan.variant = logical->split[pick_weighted(logical->split, u)].model;
        name = plan.variant;
    }
    const config::ModelRouting* routing = routing_for(name);
    if (routing != nullptr && !routing->deployments.empty()) {
        order_deployments(*routing, plan.candidates);
    } else {
        plan.candidates.push_back({name, "requested"});
    }

    bool auto_fallback = config().routing.auto_fallback;
    auto header = split_model_list(req.fallback_header);
    bool header_lists_models = false;
    bool no_fallback = false;
    for (auto& m : header) {
        if (m == "auto") {
            auto_fallback = true;
        } else if (m == "none") {
            no_fallback = true;
            auto_fallback = false;
        } else {
            plan.candidates.push_back({std::move(m), "header fallback"});
            header_lists_models = true;
        }
    }
    // A request's own list replaces the configured one; otherwise the variant's fallbacks,
    // then the logical name's.
    if (!header_lists_models && !no_fallback) {
        for (const auto* r : {routing, logical}) {
            if (r != nullptr) {
                for (const auto& m : r->fallback) {
                    plan.candidates.push_back({m, "fallback"});
                }
            }
            if (routing == logical) {
                break;
            }
        }
    }
    if (auto_fallback) {
        add_auto_fallbacks(req, plan.candidates);
    }
    // The same model twice gains nothing.
    std::vector<Candidate> unique;
    for (auto& c : plan.candidates) {
        if (std::none_of(unique.begin(), unique.end(), [&](const Candidate& u) { return u.model == c.model; })) {
            unique.push_back(std::move(c));
        }
    }
    plan.candidates = std::move(unique);
    return plan;
}

std::expected<Route, wire::Failure> Router::route(std::string_view requested,
                                                  const std::vector<int>& exclude_keys) const
{
    auto resolved = config::resolve_model(config(), requested);
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
    r.adapter = providers::adapter_for(spec.wire);
    if (spec.wire == config::WireFormat::mock) {
        r.price = config::Price{};  // mock answers are free, and priced as such
        if (r.target.base_url.empty()) {
            r.target.base_url = "mock:";
        }
        return r;
    }
    if (r.adapter == nullptr) {
        return std::unexpected(wire::bad_request("provider '" + spec.name + "' uses the " +
                                                 std::string(config::to_string(spec.wire)) +
                                                 " wire format, which this build of aigw does not speak yet"));
    }
    {
        std::shared_lock lock(m_mu);
        if (auto it = m_keys.find(spec.name); it != m_keys.end()) {
            r.key_count = static_cast<int>(it->second.size());
            auto idx = m_keyboard.pick(spec.name, r.resolved.model, r.key_count, exclude_keys);
            if (!idx) {
                return std::unexpected(keys_resting(spec.name, r.resolved.model, r.key_count));
            }
            r.key_index = *idx;
            r.target.api_key = it->second[static_cast<std::size_t>(*idx)];
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
        wire::Failure f = wire::unauthorized("no API key for provider '" + spec.name + "': set " +
                                             (spec.key_env.empty() ? std::string("its key") : spec.key_env) +
                                             " in the daemon's environment or run 'aigw keys set " + spec.name + "'");
        f.code = "missing_provider_key";
        return std::unexpected(std::move(f));
    }
    return r;
}

wire::Failure Router::keys_resting(const std::string& provider, const std::string& model, int count) const
{
    const auto wait = m_keyboard.soonest(provider, model, count);
    wire::Failure f;
    f.kind = wire::FailureKind::rate_limited;
    f.status = 429;
    f.message = std::string("the provider '") + provider + "' rate-limited " +
                (count == 1 ? std::string("the key") : "all " + std::to_string(count) + " keys") + " for " + model +
                "; try again in " + std::to_string((wait.count() + 999) / 1000) + " s";
    f.code = "rate_limit_exceeded";
    f.retry_after_s = static_cast<double>(wait.count()) / 1000.0;
    return f;
}

}  // namespace aigw::daemon::routing

#include "daemon/limits/limiter.hpp"

#include "daemon/ledger/ledger.hpp"

#include <chrono>
#include <cmath>
#include <cstdio>
#include <iostream>

namespace aigw::daemon::limits {

namespace {

constexpr const char* k_admin_key_id = "default";
constexpr std::int64_t k_ms_per_day = 86'400'000;  ///< shared budget keys outlive their period by this

/// "$0.0123", "$5.00": enough digits to see a small spend move.
std::string usd(double v)
{
    char buf[64];
    if (std::fabs(v) >= 1.0 || v == 0.0) {
        std::snprintf(buf, sizeof buf, "$%.2f", v);
        return buf;
    }
    std::snprintf(buf, sizeof buf, "$%.6f", v);
    std::string s(buf);
    while (s.back() == '0' && s.size() > 5) {
        s.pop_back();
    }
    return s;
}

/// "2025-01-02" (UTC) of a unix ms instant.
std::string utc_date(std::int64_t unix_ms)
{
    const std::chrono::sys_days day{std::chrono::days{period_index(Period::day, unix_ms)}};
    const std::chrono::year_month_day ymd{day};
    char buf[32];
    std::snprintf(buf, sizeof buf, "%04d-%02u-%02u", static_cast<int>(ymd.year()), static_cast<unsigned>(ymd.month()),
                  static_cast<unsigned>(ymd.day()));
    return buf;
}

std::string_view adjective(Period p)
{
    return p == Period::day ? "daily" : "monthly";
}

std::string who_is(const VirtualKey& key)
{
    return "key '" + key.name + "' (" + key.id + ")";
}

void add_string_chars(const nlohmann::json& j, std::int64_t& chars)
{
    if (j.is_string()) {
        chars += static_cast<std::int64_t>(j.get_ref<const std::string&>().size());
    } else if (j.is_array() || j.is_object()) {
        for (const auto& v : j) {
            add_string_chars(v, chars);
        }
    }
}

wire::Failure budget_failure(std::string message, std::int64_t now_ms, Period p)
{
    const std::int64_t next = period_start_ms(p, period_index(p, now_ms) + 1);
    wire::Failure f;
    f.kind = wire::FailureKind::bad_request;  // our own refusal: never retried or fallen back from
    f.status = 402;
    f.type = "insufficient_quota";
    f.code = "budget_exceeded";
    f.message = std::move(message) + " It resets at " + utc_date(next) + " 00:00 UTC.";
    f.retry_after_s = static_cast<double>(next - now_ms) / 1000.0;
    return f;
}

std::string estimate_note(double estimate_usd, double committed)
{
    if (estimate_usd <= 0 || committed < 0) {
        return std::string();
    }
    return " This request could cost up to " + usd(estimate_usd) +
           " (its prompt plus max_tokens at the model's prices); a smaller max_tokens may fit.";
}

/// The 402 for `key`'s budget of `limit` per `p`, of which `committed` is spent or held.
wire::Failure key_budget_failure(const VirtualKey& key, Period p, double limit, double committed, double estimate_usd,
                                 std::int64_t now_ms)
{
    return budget_failure(
        "Budget reached: " + who_is(key) + " has spent or holds for requests in flight " + usd(committed) + " of its " +
            usd(limit) + " " + std::string(adjective(p)) + " budget (UTC " + std::string(to_string(p)) + ")." +
            estimate_note(estimate_usd, committed) + " Ask the gateway's admin for a larger budget or a new key.",
        now_ms, p);
}

/// The 402 for the gateway's [budget] of `limit` per `p`, of which `committed` is spent or held.
wire::Failure gateway_budget_failure(Period p, double limit, double committed, double estimate_usd, std::int64_t now_ms)
{
    return budget_failure("Budget reached: the gateway's " + std::string(adjective(p)) + " budget of " + usd(limit) +
                              " is spent or held by requests in flight (" + usd(committed) + " this UTC " +
                              std::string(to_string(p)) + ")." + estimate_note(estimate_usd, committed) +
                              " Raise [budget] " + (p == Period::day ? "daily_usd" : "monthly_usd") +
                              " in the aigw config to go on.",
                          now_ms, p);
}

/// Starts `s` afresh when `now_ms` is in a later day or month than its sums.
void roll_spend(Spend& s, std::int64_t now_ms)
{
    if (const auto d = period_index(Period::day, now_ms); s.day != d) {
        s.day = d;
        s.day_usd = 0;
    }
    if (const auto m = period_index(Period::month, now_ms); s.month != m) {
        s.month = m;
        s.month_usd = 0;
    }
}

/// The request's max output tokens, or the default reserve when it sets none.
std::int64_t max_output_tokens(const nlohmann::json& body)
{
    if (body.is_object()) {
        for (const char* field : {"max_completion_tokens", "max_tokens", "max_output_tokens"}) {
            auto it = body.find(field);
            if (it == body.end()) {
                continue;
            }
            if (it->is_number_unsigned() || it->is_number_integer()) {
                auto n = it->get<std::int64_t>();
                if (n > 0) {
                    return std::min<std::int64_t>(n, 100'000'000);
                }
            }
        }
    }
    return k_default_reserved_output_tokens;
}

wire::Failure rate_limited(std::int64_t wait_ms, const std::string& what)
{
    wire::Failure f;
    f.kind = wire::FailureKind::rate_limited;
    f.status = 429;
    f.code = "rate_limit_exceeded";
    f.retry_after_s = static_cast<double>(wait_ms) / 1000.0;
    f.message = "Rate limit reached: " + what + ". Retry after " + std::to_string((wait_ms + 999) / 1000) + " s.";
    return f;
}

}  // namespace

wire::Failure rate_limit_failure(std::int64_t wait_ms, const RateNeed& need)
{
    return rate_limited(std::max<std::int64_t>(wait_ms, 1),
                        need.who + " allows " + std::to_string(need.per_minute) + " " + need.unit + " per minute");
}

CostEstimate estimate_cost(const nlohmann::json& body, const config::ResolvedModel& resolved)
{
    if (resolved.provider != nullptr && resolved.provider->wire == config::WireFormat::mock) {
        return CostEstimate{.priced = true, .usd = 0};
    }
    if (resolved.info == nullptr || !resolved.info->price) {
        return CostEstimate{.priced = false, .usd = 0};
    }
    const config::Price& p = *resolved.info->price;
    std::int64_t chars = 0;
    if (body.is_object()) {
        for (const char* field : {"messages", "system", "input", "prompt", "tools", "contents"}) {
            if (auto it = body.find(field); it != body.end()) {
                add_string_chars(*it, chars);
            }
        }
    }
    wire::Usage u;
    u.input_tokens = (chars + 3) / 4;
    u.output_tokens = max_output_tokens(body);
    return CostEstimate{.priced = true, .usd = config::cost_usd(p, u)};
}

std::int64_t estimate_tokens(const nlohmann::json& body)
{
    if (!body.is_object()) {
        return 0;
    }
    std::int64_t chars = 0;
    for (const char* field : {"messages", "system", "input", "prompt", "tools", "contents"}) {
        if (auto it = body.find(field); it != body.end()) {
            add_string_chars(*it, chars);
        }
    }
    std::int64_t tokens = (chars + 3) / 4;
    for (const char* field : {"max_tokens", "max_completion_tokens", "max_output_tokens"}) {
        if (auto it = body.find(field); it != body.end() && it->is_number_integer() && it->get<std::int64_t>() > 0) {
            tokens += it->get<std::int64_t>();
            break;
        }
    }
    return tokens;
}

Limiter::Limiter(const config::LiveConfig& live, const KeyStore* keys, const Clock& clock, LogSink log)
    : Limiter(live.current(), keys, clock, std::move(log))
{
    m_fixed = nullptr;
    m_live = &live;
}

Limiter::Limiter(const config::Config& cfg, const KeyStore* keys, const Clock& clock, LogSink log)
    : m_fixed(&cfg), m_keys(keys), m_clock(clock), m_log(std::move(log))
{
    if (!m_log) {
        m_log = [](const std::string& line) { std::cerr << line << "\n"; };
    }
    const auto now = m_clock.now_ms();
    for (const auto& [model, policy] : cfg.model_policies) {
        if (policy.rpm > 0 || policy.tpm > 0) {
            m_model_buckets.emplace(model, make_buckets(policy.rpm, policy.tpm, now));
        }
        if (policy.tpm > 0) {
            m_tpm_models.insert(model);
        }
    }
}

Limiter::Buckets Limiter::make_buckets(std::int64_t rpm, std::int64_t tpm, std::int64_t now_ms) const
{
    Buckets b;
    if (rpm > 0) {
        b.rpm.emplace(rpm, now_ms);
    }
    if (tpm > 0) {
        b.tpm.emplace(tpm, now_ms);
    }
    return b;
}

std::expected<void, std::string> Limiter::seed(const ledger::Ledger& ledger)
{
    const auto now = m_clock.now_ms();
    ledger::CostQuery q;
    q.group_by = "key";
    q.since_ms = period_start_ms(Period::month, period_index(Period::month, now));
    auto month = ledger.cost(q);
    if (!month) {
        return std::unexpected(month.error());
    }
    q.since_ms = period_start_ms(Period::day, period_index(Period::day, now));
    auto day = ledger.cost(q);
    if (!day) {
        return std::unexpected(day.error());
    }
    std::lock_guard lock(m_mu);
    for (const auto& g : *month) {
        double today = 0;
        for (const auto& d : *day) {
            if (d.key == g.key) {
                today = d.cost_usd;
            }
        }
        m_budgets.seed(g.key, today, g.cost_usd, now);
    }
    return {};
}

std::optional<wire::Failure> Limiter::check_budgets(const VirtualKey* key, std::string_view key_id, std::int64_t now_ms,
                                                    double estimate_usd) const
{
    // Costs held by requests in flight count as spent, plus this request's own estimate.
    auto held = [&](const Spend* h, Period p) {
        if (h == nullptr) {
            return 0.0;
        }
        return p == Period::day ? (h->day == period_index(Period::day, now_ms) ? h->day_usd : 0.0)
                                : (h->month == period_index(Period::month, now_ms) ? h->month_usd : 0.0);
    };
    auto over = [&](double committed, double limit) {
        return estimate_usd > 0 ? committed + estimate_usd > limit : committed >= limit;
    };
    auto held_key_it = m_held_by_key.find(key_id);
    const Spend* held_key = held_key_it == m_held_by_key.end() ? nullptr : &held_key_it->second;
    // A request that would start past a budget is refused; one that starts under it runs
    // to its end (its cost is not known before), so a budget can be passed by what is in
    // flight when it is reached.
    if (key != nullptr && key->budget) {
        const double spent = m_budgets.spent(key_id, key->budget->period, now_ms);
        const double committed = spent + held(held_key, key->budget->period);
        if (over(committed, key->budget->usd)) {
            return key_budget_failure(*key, key->budget->period, key->budget->usd, committed, estimate_usd, now_ms);
        }
    }
    for (Period p : {Period::day, Period::month}) {
        const double limit = p == Period::day ? cfg().budget.daily_usd : cfg().budget.monthly_usd;
        if (limit <= 0) {
            continue;
        }
        const double spent = m_budgets.spent_total(p, now_ms) + held(&m_held_total, p);
        if (over(spent, limit)) {
            return gateway_budget_failure(p, limit, spent, estimate_usd, now_ms);
        }
    }
    return std::nullopt;
}

wire::Failure Limiter::shared_budget_failure(const VirtualKey* key, const BudgetNeed& need, double committed_usd,
                                             double estimate_usd) const
{
    const auto now = m_clock.now_ms();
    if (!need.gateway && key != nullptr) {
        return key_budget_failure(*key, need.period, need.limit_usd, committed_usd, estimate_usd, now);
    }
    return gateway_budget_failure(need.period, need.limit_usd, committed_usd, estimate_usd, now);
}

std::optional<wire::Failure> Limiter::hold_local_budgets(const VirtualKey* key, std::string_view key_id,
                                                         Reservation& out)
{
    const auto now = m_clock.now_ms();
    std::lock_guard lock(m_mu);
    const double hold = out.cost_usd;
    out.shared_budget = false;
    out.shared_budgets.clear();
    out.hold_id.clear();
    out.cost_usd = 0;
    if (auto f = check_budgets(key, key_id, now, hold)) {
        return f;
    }
    hold_locked(key_id, hold, now, out);
    return std::nullopt;
}

void Limiter::hold_locked(std::string_view key_id, double hold, std::int64_t now, Reservation& out)
{
    if (hold <= 0) {
        return;
    }
    for (Spend* held : {&m_held_by_key[std::string(key_id)], &m_held_total}) {
        roll_spend(*held, now);
        held->day_usd += hold;
        held->month_usd += hold;
    }
    out.cost_usd = hold;
    out.day = period_index(Period::day, now);
    out.month = period_index(Period::month, now);
}

void Limiter::on_shared_spend(std::string_view key_id, const Reservation& reservation, const std::vector<double>& spent)
{
    const auto now = m_clock.now_ms();
    std::shared_ptr<const VirtualKey> key;
    if (m_keys != nullptr && key_id != k_admin_key_id) {
        key = m_keys->by_id(key_id);
    }
    std::lock_guard lock(m_mu);
    for (std::size_t i = 0; i < spent.size() && i < reservation.shared_budgets.size(); ++i) {
        const BudgetNeed& need = reservation.shared_budgets[i];
        if (spent[i] < 0) {
            continue;
        }
        if (need.gateway) {
            alert_if_needed("the gateway has", "total", spent[i], need.limit_usd, need.period, now);
        } else if (key) {
            alert_if_needed(who_is(*key) + " has", "key:" + key->id, spent[i], need.limit_usd, need.period, now);
        }
    }
}

bool Limiter::counts_tokens(const VirtualKey* key, std::string_view model_id) const
{
    return (key != nullptr && key->tpm > 0) || m_tpm_models.contains(model_id);
}

std::optional<wire::Failure> Limiter::admit(const VirtualKey* key, std::string_view key_id, std::string_view model_id,
                                            std::string_view requested_model, std::int64_t estimated_tokens,
                                            Reservation& out)
{
    if (auto f = check_allowed(key, model_id, requested_model)) {
        return f;
    }
    out = Reservation{};
    const bool nothing_applies = key == nullptr && cfg().budget.daily_usd <= 0 && cfg().budget.monthly_usd <= 0 &&
                                 !m_model_buckets.contains(model_id);
    if (nothing_applies) {
        return std::nullopt;  // the common case: the admin key, no limits configured; no lock
    }
    const auto now = m_clock.now_ms();
    std::lock_guard lock(m_mu);
    return admit_locked(key, key_id, model_id, estimated_tokens, nullptr, now, out);
}

std::optional<wire::Failure> Limiter::admit(const VirtualKey* key, std::string_view key_id, std::string_view model_id,
                                            std::string_view requested_model, std::int64_t estimated_tokens,
                                            const CostEstimate& cost, Reservation& out)
{
    if (auto f = check_allowed(key, model_id, requested_model)) {
        return f;
    }
    out = Reservation{};
    const bool nothing_applies = !budget_applies(key) && !m_model_buckets.contains(model_id) &&
                                 (key == nullptr || (key->rpm <= 0 && key->tpm <= 0));
    if (nothing_applies) {
        return std::nullopt;
    }
    const auto now = m_clock.now_ms();
    std::lock_guard lock(m_mu);
    return admit_locked(key, key_id, model_id, estimated_tokens, &cost, now, out);
}

bool Limiter::budget_applies(const VirtualKey* key) const
{
    return (key != nullptr && key->budget) || cfg().budget.daily_usd > 0 || cfg().budget.monthly_usd > 0;
}

std::optional<wire::Failure> Limiter::admit_locked(const VirtualKey* key, std::string_view key_id,
                                                   std::string_view model_id, std::int64_t estimated_tokens,
                                                   const CostEstimate* cost, std::int64_t now, Reservation& out,
                                                   std::vector<RateNeed>* rates, std::vector<BudgetNeed>* budgets)
{
    const bool budgeted = budget_applies(key);
    if (cost != nullptr && budgeted && !cost->priced && !cfg().limits.allow_unpriced) {
        wire::Failure f = budget_failure("The model '" + std::string(model_id) +
                                             "' has no price in the catalog, so its spend cannot be counted against "
                                             "the budget that applies to this request. Add its prices under "
                                             "[models.\"" +
                                             std::string(model_id) +
                                             "\"] (input, output) or set [limits] allow_unpriced = true in the aigw "
                                             "config.",
                                         now, Period::day);
        f.code = "model_unpriced";
        f.retry_after_s.reset();
        if (auto pos = f.message.find(" It resets at"); pos != std::string::npos) {
            f.message.erase(pos);
        }
        return f;
    }
    const double hold = cost != nullptr && cost->priced && budgeted ? std::max(0.0, cost->usd) : 0.0;
    const bool shared_budget = budgets != nullptr && budgeted;
    if (shared_budget) {
        // The caller holds `hold` in Redis against each of these, all or none.
        auto need = [&](std::string scope, Period p, double limit, double seed, bool gateway) {
            const auto index = period_index(p, now);
            budgets->push_back(BudgetNeed{.key = scope + ":" + std::string(to_string(p)) + ":" + std::to_string(index),
                                          .limit_usd = limit,
                                          .seed_usd = seed,
                                          .expire_at_ms = period_start_ms(p, index + 1) + k_ms_per_day,
                                          .gateway = gateway,
                                          .period = p});
        };
        if (key != nullptr && key->budget) {
            need("key:" + std::string(key_id), key->budget->period, key->budget->usd,
                 m_budgets.spent(key_id, key->budget->period, now), false);
        }
        for (Period p : {Period::day, Period::month}) {
            const double limit = p == Period::day ? cfg().budget.daily_usd : cfg().budget.monthly_usd;
            if (limit > 0) {
                need("total", p, limit, m_budgets.spent_total(p, now), true);
            }
        }
    } else if (auto f = check_budgets(key, key_id, now, hold)) {
        return f;
    }

    if (rates != nullptr) {
        // Shared buckets: say which apply; the caller takes them all or none in Redis.
        const double tokens = static_cast<double>(std::max<std::int64_t>(estimated_tokens, 1));
        auto need = [&](const char* scope, std::string_view id, const char* kind, std::int64_t per_minute,
                        double amount, std::string who, const char* unit) {
            rates->push_back(RateNeed{.bucket = std::string(scope) + ":" + std::string(id) + ":" + kind,
                                      .per_minute = per_minute,
                                      .amount = amount,
                                      .who = std::move(who),
                                      .unit = unit});
        };
        if (key != nullptr && key->rpm > 0) {
            need("key", key_id, "rpm", key->rpm, 1, "the " + who_is(*key), "requests");
        }
        if (key != nullptr && key->tpm > 0) {
            need("key", key_id, "tpm", key->tpm, tokens, "the " + who_is(*key), "tokens");
            out.tokens = static_cast<std::int64_t>(tokens);
        }
        if (auto it = m_model_buckets.find(model_id); it != m_model_buckets.end()) {
            if (it->second.rpm) {
                need("model", model_id, "rpm", it->second.rpm->per_minute(), 1, "the model " + std::string(model_id),
                     "requests");
            }
            if (it->second.tpm) {
                need("model", model_id, "tpm", it->second.tpm->per_minute(), tokens,
                     "the model " + std::string(model_id), "tokens");
                out.tokens = static_cast<std::int64_t>(tokens);
            }
            out.model = std::string(model_id);
        }
    } else if (auto f = take_buckets_locked(key, key_id, model_id, estimated_tokens, now, out)) {
        return f;
    }
    if (shared_budget) {
        out.shared_budget = true;
        out.cost_usd = hold;
        out.day = period_index(Period::day, now);
        out.month = period_index(Period::month, now);
    } else {
        hold_locked(key_id, hold, now, out);
    }
    return std::nullopt;
}

std::optional<wire::Failure> Limiter::take_buckets_locked(const VirtualKey* key, std::string_view key_id,
                                                          std::string_view model_id, std::int64_t estimated_tokens,
                                                          std::int64_t now, Reservation& out)
{
    Buckets* key_buckets = nullptr;
    if (key != nullptr && (key->rpm > 0 || key->tpm > 0)) {
        auto it = m_key_buckets.find(key_id);
        if (it == m_key_buckets.end()) {
            it = m_key_buckets.emplace(std::string(key_id), make_buckets(key->rpm, key->tpm, now)).first;
        }
        key_buckets = &it->second;
    }
    Buckets* model_buckets = nullptr;
    if (auto it = m_model_buckets.find(model_id); it != m_model_buckets.end()) {
        model_buckets = &it->second;
    }

    // Every limit that applies must let the request through; it waits for the slowest.
    const double tokens = static_cast<double>(std::max<std::int64_t>(estimated_tokens, 1));
    Blocked worst;
    auto consider = [&](std::optional<TokenBucket>& bucket, double n, const std::string& who, const char* unit) {
        if (!bucket) {
            return;
        }
        const auto wait = bucket->wait_ms(n, now);
        if (wait > worst.wait_ms) {
            worst = Blocked{wait, who + " allows " + std::to_string(bucket->per_minute()) + " " + unit + " per minute"};
        }
    };
    if (key_buckets != nullptr) {
        consider(key_buckets->rpm, 1, "the " + who_is(*key), "requests");
        consider(key_buckets->tpm, tokens, "the " + who_is(*key), "tokens");
    }
    if (model_buckets != nullptr) {
        consider(model_buckets->rpm, 1, "the model " + std::string(model_id), "requests");
        consider(model_buckets->tpm, tokens, "the model " + std::string(model_id), "tokens");
    }
    if (worst.wait_ms > 0) {
        return rate_limited(worst.wait_ms, worst.message);
    }

    for (Buckets* b : {key_buckets, model_buckets}) {
        if (b == nullptr) {
            continue;
        }
        if (b->rpm) {
            b->rpm->take(1, now);
        }
        if (b->tpm) {
            b->tpm->take(tokens, now);
            out.tokens = static_cast<std::int64_t>(tokens);
        }
    }
    out.model = model_buckets != nullptr ? std::string(model_id) : std::string();
    return std::nullopt;
}

std::optional<wire::Failure> Limiter::admit_shared(const VirtualKey* key, std::string_view key_id,
                                                   std::string_view model_id, std::string_view requested_model,
                                                   std::int64_t estimated_tokens, const CostEstimate& cost,
                                                   Reservation& out, std::vector<RateNeed>& rates,
                                                   std::vector<BudgetNeed>* budgets)
{
    if (auto f = check_allowed(key, model_id, requested_model)) {
        return f;
    }
    out = Reservation{};
    const bool nothing_applies = !budget_applies(key) && !m_model_buckets.contains(model_id) &&
                                 (key == nullptr || (key->rpm <= 0 && key->tpm <= 0));
    if (nothing_applies) {
        return std::nullopt;
    }
    const auto now = m_clock.now_ms();
    std::lock_guard lock(m_mu);
    return admit_locked(key, key_id, model_id, estimated_tokens, &cost, now, out, &rates, budgets);
}

std::optional<wire::Failure> Limiter::take_local_rates(const VirtualKey* key, std::string_view key_id,
                                                       std::string_view model_id, std::int64_t estimated_tokens,
                                                       Reservation& out)
{
    const auto now = m_clock.now_ms();
    std::lock_guard lock(m_mu);
    out.tokens = 0;
    out.shared_rates = false;
    out.shared_tpm.clear();
    return take_buckets_locked(key, key_id, model_id, estimated_tokens, now, out);
}

std::optional<wire::Failure> Limiter::check_allowed(const VirtualKey* key, std::string_view model_id,
                                                    std::string_view requested_model) const
{
    if (key != nullptr && !key->allows(model_id, requested_model)) {
        std::string allowed;
        for (const auto& p : key->models) {
            allowed += (allowed.empty() ? "" : ", ") + p;
        }
        wire::Failure f;
        f.kind = wire::FailureKind::auth;
        f.status = 403;
        f.code = "permission_denied";
        f.param = "model";
        f.message = "The " + who_is(*key) + " may not use the model '" + std::string(requested_model) +
                    "'. It may use: " + allowed + ".";
        return f;
    }

    return std::nullopt;
}

void Limiter::release(std::string_view key_id, const Reservation& reservation)
{
    if (reservation.cost_usd <= 0) {
        return;
    }
    std::lock_guard lock(m_mu);
    release_locked(key_id, reservation);
}

void Limiter::release_locked(std::string_view key_id, const Reservation& reservation)
{
    if (reservation.cost_usd <= 0 || reservation.shared_budget) {
        return;
    }
    auto give_back = [&](Spend& held) {
        // A hold from an earlier period was already dropped when the period rolled over.
        if (held.day == reservation.day) {
            held.day_usd = std::max(0.0, held.day_usd - reservation.cost_usd);
        }
        if (held.month == reservation.month) {
            held.month_usd = std::max(0.0, held.month_usd - reservation.cost_usd);
        }
    };
    if (auto it = m_held_by_key.find(key_id); it != m_held_by_key.end()) {
        give_back(it->second);
    }
    give_back(m_held_total);
}

void Limiter::on_recorded(std::string_view key_id, const Reservation& reservation, std::int64_t used_tokens,
                          double cost_usd, bool final_row)
{
    if (reservation.tokens <= 0 && cost_usd <= 0 && reservation.cost_usd <= 0) {
        return;  // nothing to settle (mock models, refusals): no lock on the common path
    }
    const auto now = m_clock.now_ms();
    std::shared_ptr<const VirtualKey> key;
    if (m_keys != nullptr && key_id != k_admin_key_id) {
        key = m_keys->by_id(key_id);
    }
    std::lock_guard lock(m_mu);
    if (final_row && reservation.tokens > 0 && !reservation.shared_rates) {
        const double correction = static_cast<double>(reservation.tokens - used_tokens);
        if (auto it = m_key_buckets.find(key_id); it != m_key_buckets.end() && it->second.tpm) {
            it->second.tpm->give(correction, now);
        }
        if (auto it = m_model_buckets.find(reservation.model); it != m_model_buckets.end() && it->second.tpm) {
            it->second.tpm->give(correction, now);
        }
    }
    if (final_row) {
        release_locked(key_id, reservation);  // the real cost replaces the estimate
    }
    if (cost_usd <= 0) {
        return;
    }
    m_budgets.add(key_id, cost_usd, now);
    if (reservation.shared_budget) {
        return;  // the alerts follow the cluster's spend (on_shared_spend)
    }
    if (key && key->budget) {
        const std::string id = "key:" + key->id;
        alert_if_needed(who_is(*key) + " has", id, m_budgets.spent(key_id, key->budget->period, now), key->budget->usd,
                        key->budget->period, now);
    }
    for (Period p : {Period::day, Period::month}) {
        const double limit = p == Period::day ? cfg().budget.daily_usd : cfg().budget.monthly_usd;
        if (limit > 0) {
            alert_if_needed("the gateway has", "total", m_budgets.spent_total(p, now), limit, p, now);
        }
    }
}

void Limiter::alert_if_needed(const std::string& who, const std::string& alert_id, double spent, double limit, Period p,
                              std::int64_t now_ms)
{
    const auto period = period_index(p, now_ms);
    const std::string suffix = ":" + std::string(to_string(p));
    auto once = [&](const std::string& id) {
        auto [it, inserted] = m_alerted.try_emplace(id, period);
        if (!inserted && it->second == period) {
            return false;
        }
        it->second = period;
        return true;
    };
    const std::string budget = usd(limit) + " " + std::string(adjective(p)) + " budget";
    if (spent >= limit) {
        if (once(alert_id + suffix + ":reached")) {
            m_log("aigwd: budget reached: " + who + " spent " + usd(spent) + " of its " + budget + " (UTC " +
                  std::string(to_string(p)) + " of " + utc_date(now_ms) + "); new requests are refused until " +
                  utc_date(period_start_ms(p, period + 1)) + " 00:00 UTC");
        }
        once(alert_id + suffix);  // no "alert" line after "reached" in the same period
        return;
    }
    const double fraction = cfg().budget.alert_at;
    if (fraction > 0 && spent >= fraction * limit && once(alert_id + suffix)) {
        m_log("aigwd: budget alert: " + who + " spent " + usd(spent) + " of its " + budget + " (" +
              std::to_string(static_cast<int>(std::floor(100.0 * spent / limit))) + "%, alert at " +
              std::to_string(static_cast<int>(std::lround(100.0 * fraction))) + "%)");
    }
}

Spend Limiter::spend(std::string_view key_id) const
{
    const auto now = m_clock.now_ms();
    std::lock_guard lock(m_mu);
    Spend s;
    s.day = period_index(Period::day, now);
    s.month = period_index(Period::month, now);
    s.day_usd = m_budgets.spent(key_id, Period::day, now);
    s.month_usd = m_budgets.spent(key_id, Period::month, now);
    return s;
}

}  // namespace aigw::daemon::limits

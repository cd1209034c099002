#pragma once
// Admission control for model requests: per-key and per-model rate limits (requests and
// tokens per minute, token buckets) and budgets (per key, and overall per UTC day and
// month). One lock covers every bucket, so a request takes from all the buckets that apply
// to it or from none, and N parallel clients never get more than a limit through.
//
// Tokens per minute are admitted on an estimate (prompt characters / 4 + max_tokens) and
// corrected with the real usage when the request's ledger row is recorded, as LiteLLM and
// Portkey do: the estimate is taken up front, the difference given back (or taken) later.

#include "daemon/limits/budget.hpp"
#include "daemon/limits/clock.hpp"
#include "daemon/limits/key_store.hpp"
#include "daemon/limits/token_bucket.hpp"
#include "shared/config/config.hpp"
#include "shared/config/live_config.hpp"
#include "shared/wire/error.hpp"

#include <functional>
#include <map>
#include <set>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace aigw::daemon::ledger {
class Ledger;
}

namespace aigw::daemon::limits {

/// Tokens a request may use: characters of its prompt-like fields / 4, plus max_tokens
/// (or max_completion_tokens / max_output_tokens) when given.
std::int64_t estimate_tokens(const nlohmann::json& body);

/// Output tokens assumed for the cost reservation when a request sets no max_tokens.
inline constexpr std::int64_t k_default_reserved_output_tokens = 4096;

/// What a request may cost, worked out before it is sent (see estimate_cost).
struct CostEstimate {
    bool priced = true;  ///< false: the model has no price, its spend cannot be counted
    double usd = 0;      ///< prompt estimate at the input price + max output at the output price
};

/// The most `body` can cost on `resolved`: prompt characters / 4 at the input price plus
/// max_tokens (max_completion_tokens, max_output_tokens; k_default_reserved_output_tokens
/// when none is set) at the output price, both at the long-context tier when the prompt
/// estimate passes its threshold. The mock provider is free (priced, $0); a model without
/// a catalog price is `priced = false`. Pure.
CostEstimate estimate_cost(const nlohmann::json& body, const config::ResolvedModel& resolved);

/// A rate-limit bucket a request must take from, when the buckets are shared by several
/// instances (in Redis) instead of held here.
struct RateNeed {
    std::string bucket;           ///< "key:<key id>:rpm", "key:<key id>:tpm", "model:<model id>:rpm", ...
    std::int64_t per_minute = 0;  ///< the limit (the bucket's capacity, refilled per minute)
    double amount = 0;            ///< 1 request, or the estimated tokens
    std::string who;              ///< "the key 'ci' (vk_...)", "the model openai/gpt-4o": for the 429
    std::string unit;             ///< "requests" or "tokens"
};

/// The 429 for a request that must wait `wait_ms` for the bucket of `need`.
wire::Failure rate_limit_failure(std::int64_t wait_ms, const RateNeed& need);

/// A budget a request must be held against, when budgets are shared by several instances
/// (in Redis) instead of held here.
struct BudgetNeed {
    std::string key;                ///< "key:<key id>:day:<day index>", "total:month:<month index>", ...
    double limit_usd = 0;           ///< the budget
    double seed_usd = 0;            ///< what this instance's ledger has for the period (seeds Redis once)
    std::int64_t expire_at_ms = 0;  ///< the period's end plus a day: then Redis forgets it
    bool gateway = false;           ///< [budget] daily_usd / monthly_usd, not the key's
    Period period = Period::day;
};

/// What admission took, to settle when the request is recorded.
struct Reservation {
    std::string model;        ///< model id whose limits applied ("" when none)
    std::int64_t tokens = 0;  ///< estimated tokens taken from the TPM buckets
    double cost_usd = 0;      ///< estimated cost held against the key's and the global budgets
    std::int64_t day = -1;    ///< UTC day index the cost was held in
    std::int64_t month = -1;  ///< UTC month index the cost was held in
    /// The rate buckets were taken in Redis, not here: on_recorded leaves the local TPM
    /// buckets alone, and the caller sends the correction to `shared_tpm`.
    bool shared_rates = false;
    std::vector<RateNeed> shared_tpm;  ///< the TPM buckets taken in Redis
    /// The cost was held in Redis (under `hold_id` in `shared_budgets`), not here: release
    /// and on_recorded leave the local holds alone, and the caller settles it there.
    bool shared_budget = false;
    std::vector<BudgetNeed> shared_budgets;
    std::string hold_id;
};

using LogSink = std::function<void(const std::string& line)>;

class Limiter {
public:
    /// `keys` may be null (no virtual keys). `log` gets budget alerts (default: stderr).
    Limiter(const config::Config& cfg, const KeyStore* keys, const Clock& clock, LogSink log = {});
    /// Follows `live` for budgets; per-model rate limits stay those of its first generation.
    Limiter(const config::LiveConfig& live, const KeyStore* keys, const Clock& clock, LogSink log = {});

    /// Sets the running totals from the ledger's rows of this UTC day and month.
    std::expected<void, std::string> seed(const ledger::Ledger& ledger);

    /// Whether admitting a request of `key` to `model_id` needs its token estimate (a TPM
    /// limit applies). Lock-free: the set of limited models is fixed at construction.
    bool counts_tokens(const VirtualKey* key, std::string_view model_id) const;

    /// Decides whether a request may start. `key` is the caller's virtual key, or null for
    /// the admin key (`key_id` "default"), which has no key limits but is held to the
    /// per-model limits and the overall budget. `model_id` is the resolved "provider/model"
    /// (or the requested name when it does not resolve). On success the buckets were taken
    /// from and `out` says what to settle; otherwise the failure to answer with: 403 model
    /// not allowed, 402 budget spent, 429 rate limited (with retry_after_s).
    std::optional<wire::Failure> admit(const VirtualKey* key, std::string_view key_id, std::string_view model_id,
                                       std::string_view requested_model, std::int64_t estimated_tokens,
                                       Reservation& out);

    /// admit() that also holds the request's estimated cost against every budget that
    /// applies (the key's, the global day and month), atomically with the budget check: it
    /// is refused (402) when spent + costs held by requests in flight + this estimate would
    /// pass a budget, so N parallel requests cannot overshoot it together. With a budget in
    /// force, an unpriced model (`cost.priced == false`) is refused (402) unless [limits]
    /// allow_unpriced = true. `out.cost_usd` is what on_recorded (final row) or release()
    /// gives back. The bound that remains: a request may cost more than its estimate (a
    /// prompt longer than chars/4 in tokens, tools' hidden tokens), by that difference.
    std::optional<wire::Failure> admit(const VirtualKey* key, std::string_view key_id, std::string_view model_id,
                                       std::string_view requested_model, std::int64_t estimated_tokens,
                                       const CostEstimate& cost, Reservation& out);

    /// admit(cost) for shared rate limits: the allow-list and the budgets (with the cost
    /// hold) are decided here, but the rate buckets that apply are not taken; they are
    /// appended to `rates` for the caller to take all-or-none elsewhere (Redis), and
    /// `out.tokens` / `out.model` are set as if they were. When the caller cannot take them
    /// (refused, or Redis down and the request refused), it must release(out).
    ///
    /// With `budgets` (budgets shared too), the budgets are not checked nor held here
    /// either: those that apply are appended to `budgets` for the caller to hold in Redis
    /// (all or none, spent + held + out.cost_usd each), and `out.shared_budget` is set.
    std::optional<wire::Failure> admit_shared(const VirtualKey* key, std::string_view key_id, std::string_view model_id,
                                              std::string_view requested_model, std::int64_t estimated_tokens,
                                              const CostEstimate& cost, Reservation& out, std::vector<RateNeed>& rates,
                                              std::vector<BudgetNeed>* budgets = nullptr);

    /// The 402 for a request whose estimate `out.cost_usd` does not fit `need`, which has
    /// `committed_usd` spent or held across the cluster.
    wire::Failure shared_budget_failure(const VirtualKey* key, const BudgetNeed& need, double committed_usd,
                                        double estimate_usd) const;

    /// Checks and holds the budgets admit_shared() left out against this instance's own
    /// tracker (Redis is unreachable and [cluster] redis_down = "local"): the 402 when one
    /// does not fit. Clears `out.shared_budget`.
    std::optional<wire::Failure> hold_local_budgets(const VirtualKey* key, std::string_view key_id, Reservation& out);

    /// The cluster's spend after a shared settle (`spent[i]` for `reservation.shared_budgets[i]`,
    /// negative: unknown): logs the budget alerts as on_recorded does for local budgets.
    void on_shared_spend(std::string_view key_id, const Reservation& reservation, const std::vector<double>& spent);

    /// Takes the rate buckets admit_shared() left out from this instance's own buckets
    /// (Redis is unreachable and [cluster] redis_down = "local"): all or none; the 429 when
    /// one of them must wait.
    std::optional<wire::Failure> take_local_rates(const VirtualKey* key, std::string_view key_id,
                                                  std::string_view model_id, std::int64_t estimated_tokens,
                                                  Reservation& out);

    /// Gives back what a request held when it ends without a final ledger row (it must be
    /// called exactly once per admitted request that never reaches on_recorded(final_row)).
    void release(std::string_view key_id, const Reservation& reservation);

    /// A ledger row was recorded: adds its cost to the budgets (logging an alert when a
    /// budget passes its alert fraction, once per period) and, on the request's final row,
    /// corrects the TPM buckets by (used - reserved) and replaces the cost held at admission
    /// by the real cost.
    void on_recorded(std::string_view key_id, const Reservation& reservation, std::int64_t used_tokens, double cost_usd,
                     bool final_row = true);

    /// What `key_id` spent this UTC day and month.
    Spend spend(std::string_view key_id) const;

private:
    struct Buckets {
        std::optional<TokenBucket> rpm;
        std::optional<TokenBucket> tpm;
    };
    struct Blocked {
        std::int64_t wait_ms = 0;
        std::string message;
    };
    Buckets make_buckets(std::int64_t rpm, std::int64_t tpm, std::int64_t now_ms) const;
    std::optional<wire::Failure> check_budgets(const VirtualKey* key, std::string_view key_id, std::int64_t now_ms,
                                               double estimate_usd = 0) const;
    std::optional<wire::Failure> admit_locked(const VirtualKey* key, std::string_view key_id, std::string_view model_id,
                                              std::int64_t estimated_tokens, const CostEstimate* cost, std::int64_t now,
                                              Reservation& out, std::vector<RateNeed>* rates = nullptr,
                                              std::vector<BudgetNeed>* budgets = nullptr);
    std::optional<wire::Failure> take_buckets_locked(const VirtualKey* key, std::string_view key_id,
                                                     std::string_view model_id, std::int64_t estimated_tokens,
                                                     std::int64_t now, Reservation& out);
    void release_locked(std::string_view key_id, const Reservation& reservation);
    void hold_locked(std::string_view key_id, double hold, std::int64_t now, Reservation& out);
    bool budget_applies(const VirtualKey* key) const;
    std::optional<wire::Failure> check_allowed(const VirtualKey* key, std::string_view model_id,
                                               std::string_view requested_model) const;
    void alert_if_needed(const std::string& who, const std::string& alert_id, double spent, double limit, Period p,
                         std::int64_t now_ms);

    const config::Config& cfg() const { return m_live != nullptr ? m_live->current() : *m_fixed; }

    const config::Config* m_fixed = nullptr;
    const config::LiveConfig* m_live = nullptr;
    const KeyStore* m_keys;
    const Clock& m_clock;
    LogSink m_log;

    mutable std::mutex m_mu;
    std::map<std::string, Buckets, std::less<>> m_key_buckets;    ///< by key id, made on first use
    std::map<std::string, Buckets, std::less<>> m_model_buckets;  ///< by model id, from [models."..."]; keys fixed
    std::set<std::string, std::less<>> m_tpm_models;              ///< models with a tpm limit (read without the lock)
    BudgetTracker m_budgets;
    /// Costs held by admitted requests not yet settled, per key and overall; `day`/`month`
    /// say which period the sums belong to (a new period starts from 0).
    std::map<std::string, Spend, std::less<>> m_held_by_key;
    Spend m_held_total;
    std::map<std::string, std::int64_t, std::less<>> m_alerted;  ///< alert id -> period index alerted
};

}  // namespace aigw::daemon::limits

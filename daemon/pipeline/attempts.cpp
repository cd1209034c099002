#include "daemon/pipeline/attempts.hpp"

#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <random>

namespace aigw::daemon::pipeline {

namespace {

std::string ms_text(std::chrono::milliseconds ms)
{
    return std::to_string(ms.count()) + " ms";
}

std::string describe(const wire::Failure& f, const std::string& where)
{
    std::string s = std::to_string(f.status) + " " + std::string(wire::to_string(f.kind));
    if (!where.empty()) {
        s += " from " + where;
    }
    return s;
}

wire::Failure circuit_open_failure(const std::string& id, std::int64_t retry_in_ms)
{
    wire::Failure f;
    f.kind = wire::FailureKind::upstream;
    f.status = 503;
    f.code = "circuit_open";
    f.message = id +
                " is failing and aigw stopped sending it requests for now (circuit open); it gets a trial "
                "request in " +
                std::to_string((retry_in_ms + 999) / 1000) +
                " s. Add a fallback (x-aigw-fallback header or fallback = [...] in the config) to be served meanwhile.";
    f.retry_after_s = static_cast<double>(retry_in_ms) / 1000.0;
    return f;
}

/// A steady-clock time of the request as Unix nanoseconds, from when it began.
std::int64_t unix_ns_at(const Exchange& ex, Clock::time_point t)
{
    return ex.trace.start_unix_ns + std::chrono::duration_cast<std::chrono::nanoseconds>(t - ex.t0).count();
}

}  // namespace

AttemptEnv real_attempt_env()
{
    AttemptEnv env;
    env.now = [] { return Clock::now(); };
    env.sleep = [](std::chrono::milliseconds d) -> asio::awaitable<void> {
        asio::steady_timer timer(co_await asio::this_coro::executor, d);
        co_await timer.async_wait(asio::use_awaitable);
    };
    env.jitter = [] {
        thread_local std::mt19937_64 rng{std::random_device{}()};
        return std::uniform_real_distribution<double>(0.0, 1.0)(rng);
    };
    return env;
}

routing::PlanRequest plan_request(const Exchange& ex, const nlohmann::json& canonical)
{
    routing::PlanRequest pr;
    pr.requested = ex.requested_model;
    pr.fallback_header = ex.fallback_header;
    if (auto u = canonical.find("user"); u != canonical.end() && u->is_string()) {
        pr.user = u->get_ref<const std::string&>();
    }
    if (auto t = canonical.find("tools"); t != canonical.end() && t->is_array() && !t->empty()) {
        pr.needs_tools = true;
    }
    std::size_t chars = 0;
    if (auto m = canonical.find("messages"); m != canonical.end() && m->is_array()) {
        for (const auto& msg : *m) {
            if (!msg.is_object()) {
                continue;
            }
            auto c = msg.find("content");
            if (c == msg.end()) {
                continue;
            }
            if (c->is_string()) {
                chars += c->get_ref<const std::string&>().size();
            } else if (c->is_array()) {
                for (const auto& part : *c) {
                    if (!part.is_object()) {
                        continue;
                    }
                    auto type = part.find("type");
                    // Compared as text: `*type == "image"` would build a json of the literal.
                    std::string_view kind;
                    if (type != part.end() && type->is_string()) {
                        kind = type->get_ref<const std::string&>();
                    }
                    const bool image = kind == "image_url" || kind == "image" || kind == "input_image";
                    if (image) {
                        pr.needs_vision = true;
                    } else if (auto text = part.find("text"); text != part.end() && text->is_string()) {
                        chars += text->get_ref<const std::string&>().size();
                    }
                }
            }
        }
    }
    // Roughly four characters a token; the answer needs room too.
    pr.min_context = static_cast<std::int64_t>(chars / 4);
    for (const char* k : {"max_completion_tokens", "max_tokens"}) {
        if (auto mt = canonical.find(k); mt != canonical.end() && mt->is_number_integer()) {
            pr.min_context += std::clamp<std::int64_t>(mt->get<std::int64_t>(), 0, 1'000'000'000);
            break;
        }
    }
    return pr;
}

asio::awaitable<std::expected<void, wire::Failure>> run_attempts(const routing::Router& router,
                                                                 const config::RoutingSettings& rs, Exchange& ex,
                                                                 const nlohmann::json& canonical, AttemptFn attempt,
                                                                 AdmitFn admit, AttemptEnv env)
{
    if (ex.header_error) {
        co_return std::unexpected(*ex.header_error);
    }
    const auto policy = routing::AttemptPolicySettings::from(rs, ex.max_retries);
    const routing::Plan plan = router.plan(plan_request(ex, canonical));
    ex.variant = plan.variant;

    std::optional<wire::Failure> last;
    std::optional<wire::Failure> first_refusal;  ///< admission refused a candidate: said when nothing served
    std::optional<AttemptNote> last_note;        ///< the latest failed attempt, not yet known to be final
    std::string reason;                          ///< why the next attempt happens
    auto note_failure = [&](AttemptNote note) {
        if (last_note) {
            ex.failed_attempts.push_back(std::move(*last_note));
        }
        last_note = std::move(note);
    };

    for (std::size_t ci = 0; ci < plan.candidates.size(); ++ci) {
        const routing::Candidate& cand = plan.candidates[ci];
        const bool more_candidates = ci + 1 < plan.candidates.size();
        std::vector<int> failed_keys;
        int retries = 0;
        bool admitted = false;
        bool stop = false;
        std::optional<wire::Failure> refused_here;  ///< admission refused this candidate
        while (true) {
            const auto now = env.now();
            if (now >= ex.deadline) {
                last = wire::gateway_timeout("the request ran out of time (" + ms_text(ex.timeouts.total) +
                                             ", x-aigw-timeout-ms or [upstream] total_timeout_ms) after " +
                                             std::to_string(ex.failed_attempts.size() + (last_note ? 1 : 0)) +
                                             " attempt(s)");
                stop = true;
                break;
            }
            auto route = router.route(cand.model, failed_keys);
            if (!route) {
                // Nothing was sent: no row, no health. Resting keys are waited for like a 429;
                // anything else (unknown model, no key) is this candidate's problem: next one.
                if (route.error().kind != wire::FailureKind::rate_limited) {
                    last = std::move(route.error());
                    break;
                }
                const wire::Failure f = std::move(route.error());
                last = f;
                auto d = routing::decide_after_failure(
                    policy, f,
                    routing::AttemptState{-1, 0, 0, retries, more_candidates,
                                          std::chrono::duration_cast<std::chrono::milliseconds>(ex.deadline - now)},
                    env.jitter());
                if (d.step == routing::Step::retry) {
                    co_await env.sleep(d.delay);
                    ++retries;
                    reason = "retry " + std::to_string(retries) + " after " + describe(f, cand.model);
                    continue;
                }
                break;
            }
            if (!admitted && admit) {
                // The caller's key, limits and budgets are checked against the model that
                // will really be called, once per candidate.
                if (auto refused = co_await admit(*route)) {
                    if (!first_refusal) {
                        first_refusal = refused;
                    }
                    refused_here = refused;
                    if (!last_note) {
                        last = std::move(*refused);  // a real attempt's failure says more than a refusal
                    }
                    break;
                }
                admitted = true;
            }
            if (!router.health().try_start(route->resolved.id)) {
                // An open circuit is skipped at once: failing fast is its whole point.
                last =
                    circuit_open_failure(route->resolved.id, router.health().snapshot(route->resolved.id).retry_in_ms);
                break;
            }
            ex.route = std::move(*route);
            const auto started = env.now();
            if (ex.trace.on) {
                // A CLIENT span per attempt; its id goes upstream in this attempt's traceparent.
                telemetry::AttemptTrace at;
                at.span_id = telemetry::random_span_id();
                at.start_unix_ns = unix_ns_at(ex, started);
                at.model_id = ex.route.resolved.id;
                at.provider = ex.route.resolved.provider != nullptr ? ex.route.resolved.provider->name : "";
                at.upstream_model = ex.route.resolved.model;
                at.base_url = ex.route.target.base_url;
                at.reason = reason;
                ex.trace.attempts.push_back(std::move(at));
            }
            auto r = co_await attempt(ex.route);
            const auto latency = std::chrono::duration_cast<std::chrono::milliseconds>(env.now() - started);
            if (ex.trace.on && !ex.trace.attempts.empty()) {
                auto& at = ex.trace.attempts.back();
                if (r) {
                    at.outcome = "success";
                } else {
                    at.end_unix_ns = std::max(at.start_unix_ns + 1, unix_ns_at(ex, env.now()));
                    at.status = r.error().status;
                    at.outcome = std::string(wire::to_string(r.error().kind));
                    at.error = r.error().message.substr(0, 500);
                }
            }
            routing::Outcome o;
            o.ok = r.has_value();
            o.latency = latency;
            if (!r) {
                o.failure = r.error().kind;
            }
            router.health().finish(ex.route.resolved.id, o);
            if (r) {
                if (last_note) {
                    ex.failed_attempts.push_back(std::move(*last_note));
                }
                ex.attempt_reason = reason;
                co_return std::expected<void, wire::Failure>{};
            }
            wire::Failure f = std::move(r.error());
            note_failure(AttemptNote{ex.route.resolved.id, ex.route.resolved.provider->name, f.status, f.message,
                                     reason, latency.count()});
            const int key = ex.route.key_index;
            const auto& provider = ex.route.resolved.provider->name;
            const bool key_refused = f.kind == wire::FailureKind::auth && (f.status == 401 || f.status == 403);
            const bool key_limited = f.kind == wire::FailureKind::rate_limited && ex.route.key_count > 1;
            if (key >= 0 && (key_refused || key_limited)) {
                failed_keys.push_back(key);
            }
            const auto d = routing::decide_after_failure(
                policy, f,
                routing::AttemptState{key, ex.route.key_count, static_cast<int>(failed_keys.size()), retries,
                                      more_candidates,
                                      std::chrono::duration_cast<std::chrono::milliseconds>(ex.deadline - env.now())},
                env.jitter());
            if (d.mark_key_bad) {
                router.keys().mark_bad(provider, key,
                                       "HTTP " + std::to_string(f.status) + ": " + f.message.substr(0, 200));
            }
            if (d.rest_key) {
                router.keys().cool_down(provider, ex.route.resolved.model, key, *d.rest_key);
            }
            if (d.reset_failed_keys) {
                failed_keys.clear();
            }
            last = f;
            if (d.step == routing::Step::next_key) {
                reason = key_refused
                             ? "provider key " + std::to_string(key + 1) + " of " + provider + " was rejected (" +
                                   std::to_string(f.status) + ")"
                             : "429 on provider key " + std::to_string(key + 1) + " of " + provider + "; next key";
                continue;
            }
            if (d.step == routing::Step::retry) {
                co_await env.sleep(d.delay);
                ++retries;
                reason = "retry " + std::to_string(retries) + " after " + describe(f, ex.route.resolved.id);
                continue;
            }
            if (key_refused) {
                reason = "provider key " + std::to_string(key + 1) + " of " + provider + " was rejected (" +
                         std::to_string(f.status) + ")";
            }
            stop = d.step == routing::Step::stop;
            break;
        }
        if (stop) {
            break;
        }
        if (more_candidates && (last || refused_here)) {
            reason = "fallback to " + plan.candidates[ci + 1].model + " after " +
                     describe(refused_here ? *refused_here : *last, cand.model) + (refused_here ? " (refused)" : "");
        }
    }
    if (last_note) {
        ex.attempt_reason = last_note->reason;  // the final row is the last failed attempt
    } else if (first_refusal) {
        co_return std::unexpected(std::move(*first_refusal));  // nothing was sent: the refusal is the answer
    }
    co_return std::unexpected(last ? std::move(*last) : wire::internal_error("no model to try"));
}

}  // namespace aigw::daemon::pipeline

#include "tests/fake_upstream/faults.hpp"

#include <algorithm>
#include <memory>
#include <utility>

namespace aigw::fake {

namespace {

constexpr long k_default_slow_ms = 1500;
constexpr long k_default_hang_ms = 30000;
constexpr long k_default_drip_ms = 100;

Fault status_fault(int status)
{
    Fault f;
    f.kind = FaultKind::status;
    f.status = status;
    return f;
}

}  // namespace

std::optional<Fault> parse_fault_kind(std::string_view kind)
{
    if (kind == "400" || kind == "401" || kind == "403" || kind == "404" || kind == "429" || kind == "500" ||
        kind == "502" || kind == "503" || kind == "504" || kind == "529") {
        return status_fault(std::stoi(std::string(kind)));
    }
    Fault f;
    if (kind == "slow") {
        f.kind = FaultKind::slow;
    } else if (kind == "cut") {
        f.kind = FaultKind::cut;
    } else if (kind == "malformed") {
        f.kind = FaultKind::malformed;
    } else if (kind == "stream-error") {
        f.kind = FaultKind::stream_error;
    } else if (kind == "hang") {
        f.kind = FaultKind::hang;
    } else if (kind == "drip") {
        f.kind = FaultKind::drip;
    } else {
        return std::nullopt;
    }
    return f;
}

Fault fault_from_model(std::string_view model)
{
    auto at = model.find("fault-");
    if (at == std::string_view::npos) {
        return {};
    }
    std::string_view rest = model.substr(at + 6);
    // The kind runs to the end of the model string or to the next separator other than '-'
    // inside "stream-error"; try the known kinds as prefixes.
    static const char* const k_kinds[] = {"stream-error", "malformed", "slow", "cut", "hang", "drip", "400", "401",
                                          "403",          "404",       "429",  "500", "502",  "503",  "504", "529"};
    for (const char* kind : k_kinds) {
        std::string_view k(kind);
        if (rest.substr(0, k.size()) == k) {
            return *parse_fault_kind(k);
        }
    }
    return {};
}

void FaultBook::add(FaultRule rule)
{
    std::lock_guard lock(m_mutex);
    m_rules.push_back(std::move(rule));
    m_rule_count = m_rules.size();
}

void FaultBook::clear()
{
    std::lock_guard lock(m_mutex);
    m_rules.clear();
    m_rule_count = 0;
}

json FaultBook::describe() const
{
    std::lock_guard lock(m_mutex);
    json out = json::array();
    for (const auto& r : m_rules) {
        out.push_back({{"path_contains", r.path_contains},
                       {"model_contains", r.model_contains},
                       {"key_contains", r.key_contains},
                       {"remaining", r.remaining}});
    }
    return out;
}

Fault FaultBook::pick(std::string_view path, std::string_view model, std::string_view key)
{
    if (m_rule_count.load(std::memory_order_relaxed) != 0) {
        std::lock_guard lock(m_mutex);
        for (auto it = m_rules.begin(); it != m_rules.end(); ++it) {
            if (!it->path_contains.empty() && path.find(it->path_contains) == std::string_view::npos) {
                continue;
            }
            if (!it->model_contains.empty() && model.find(it->model_contains) == std::string_view::npos) {
                continue;
            }
            if (!it->key_contains.empty() && key.find(it->key_contains) == std::string_view::npos) {
                continue;
            }
            Fault f = it->fault;
            if (--it->remaining <= 0) {
                m_rules.erase(it);
                m_rule_count = m_rules.size();
            }
            return f;
        }
    }
    return fault_from_model(model);
}

void send_error(httplib::Response& res, const Dialect& dialect, int status, std::string_view message, int retry_after_s)
{
    if (retry_after_s >= 0) {
        res.set_header("Retry-After", std::to_string(retry_after_s));
    }
    dialect.error_headers(res, status);
    send_json(res, status, dialect.error_body(status, message));
}

bool apply_fault_before_answer(httplib::Response& res, const Dialect& dialect, const Fault& fault, bool stream)
{
    switch (fault.kind) {
        case FaultKind::none:
            return false;
        case FaultKind::slow:
            interruptible_sleep(fault.delay_ms >= 0 ? fault.delay_ms : k_default_slow_ms);
            return false;
        case FaultKind::hang:
            interruptible_sleep(fault.delay_ms >= 0 ? fault.delay_ms : k_default_hang_ms);
            send_error(res, dialect, 504, "fake-upstream: gave up hanging");
            return true;
        default:
            break;
    }
    if (fault.kind != FaultKind::drip && fault.delay_ms > 0) {
        interruptible_sleep(fault.delay_ms);
    }
    if (fault.kind == FaultKind::status) {
        int retry_after = fault.retry_after_s;
        if (retry_after < 0 && fault.status == 429) {
            retry_after = 1;
        }
        send_error(res, dialect, fault.status, {}, retry_after);
        return true;
    }
    if (fault.kind == FaultKind::malformed && !stream) {
        send_json(res, 200, dialect.malformed_body());
        return true;
    }
    return false;
}

void send_answer_body(httplib::Response& res, const Dialect& dialect, const Fault& fault, std::string body)
{
    if (fault.kind == FaultKind::stream_error) {
        send_json(res, 200, dialect.error_body(500, {}));
        return;
    }
    if (fault.kind != FaultKind::cut) {
        send_json(res, 200, std::move(body));
        return;
    }
    // Promise more bytes than we send, send half, then make httplib drop the connection.
    res.status = 200;
    auto shared = std::make_shared<std::string>(std::move(body));
    std::size_t promised = shared->size() + 64;
    res.set_content_provider(promised, "application/json",
                             [shared](std::size_t offset, std::size_t, httplib::DataSink& sink) {
                                 if (offset == 0) {
                                     sink.write(shared->data(), shared->size() / 2);
                                     return true;
                                 }
                                 return false;
                             });
}

namespace {
std::atomic<int> g_open_streams{0};
}

int open_streams()
{
    return g_open_streams.load();
}

void send_answer_stream(httplib::Response& res, const Dialect& dialect, const Fault& fault,
                        std::vector<std::string> frames, const char* content_type)
{
    bool cut = false;
    long gap_ms = 0;
    if (fault.kind == FaultKind::stream_error) {
        frames.assign(1, dialect.stream_error_frame());
    } else if (fault.kind == FaultKind::malformed) {
        frames.insert(frames.begin() + (frames.empty() ? 0 : 1), dialect.malformed_frame());
    } else if (fault.kind == FaultKind::cut) {
        cut = true;
        // Never include the last frame: whatever the answer's length, the end must be missing.
        std::size_t keep = std::min(dialect.frames_before_cut(), frames.empty() ? 0 : frames.size() - 1);
        frames.resize(keep);
    } else if (fault.kind == FaultKind::drip) {
        gap_ms = fault.delay_ms >= 0 ? fault.delay_ms : k_default_drip_ms;
    }
    res.status = 200;
    res.set_header("Cache-Control", "no-cache");
    auto shared = std::make_shared<std::vector<std::string>>(std::move(frames));
    g_open_streams.fetch_add(1);
    res.set_chunked_content_provider(
        content_type,
        [shared, cut, gap_ms](std::size_t, httplib::DataSink& sink) {
            bool first = true;
            for (const auto& frame : *shared) {
                if (!first && gap_ms > 0 && !interruptible_sleep(gap_ms)) {
                    return false;
                }
                first = false;
                if (!sink.write(frame.data(), frame.size())) {
                    return false;
                }
            }
            if (cut) {
                return false;  // no terminating chunk: the client sees the connection drop
            }
            sink.done();
            return true;
        },
        [](bool) { g_open_streams.fetch_sub(1); });
}

}  // namespace aigw::fake

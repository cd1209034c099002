#pragma once

// Fault injection shared by the three wire formats: which request gets a fault (a counted
// rule from the control API, else a `fault-*` word in the model name) and how each kind of
// fault is produced on the wire. Providers only say how they spell an error (`Dialect`).

#include <cstddef>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "tests/fake_upstream/fake_upstream.hpp"

namespace aigw::fake {

enum class FaultKind { none, status, slow, cut, malformed, stream_error, hang, drip };

struct Fault {
    FaultKind kind = FaultKind::none;
    int status = 0;          // for FaultKind::status: 400, 401, 429, 500, 503, 529
    int retry_after_s = -1;  // Retry-After header; 429 defaults to 1, others send none
    long delay_ms = -1;      // slow: wait before the first byte (default 1500); hang: give up
                             // after (default 30000); drip: between frames (default 100);
                             // any other kind: wait this long first
};

/// Streams being written right now (a client that goes away ends its stream at the next frame).
int open_streams();

/// Parses a control-API kind ("429", "slow", "stream-error", ...); nullopt when unknown.
std::optional<Fault> parse_fault_kind(std::string_view kind);

/// The fault named in a model string ("gpt-4o-fault-429" -> 429), or none.
Fault fault_from_model(std::string_view model);

struct FaultRule {
    std::string path_contains;   // empty matches every path
    std::string model_contains;  // empty matches every model
    std::string key_contains;    // empty matches every key (Authorization, x-api-key, api-key)
    Fault fault;
    long remaining = 1;
};

/// Counted fault rules set through POST /_control/faults. Thread-safe.
class FaultBook {
public:
    void add(FaultRule rule);
    void clear();
    json describe() const;

    /// The fault for this request: the first matching counted rule (which is used up by one),
    /// else the one named in the model string, else none.
    Fault pick(std::string_view path, std::string_view model, std::string_view key = {});

private:
    mutable std::mutex m_mutex;
    std::vector<FaultRule> m_rules;
    std::atomic<std::size_t> m_rule_count{0};  // lets pick() skip the lock when there are none
};

/// How one provider spells errors and stream frames.
class Dialect {
public:
    virtual ~Dialect() = default;
    /// The provider's error body for `status`; a default message when `message` is empty.
    virtual std::string error_body(int status, std::string_view message) const = 0;
    /// The first (and only) frame of a stream-error stream, framing included.
    virtual std::string stream_error_frame() const = 0;
    /// A truncated JSON body for a non-stream malformed answer.
    virtual std::string malformed_body() const = 0;
    /// An SSE data line whose JSON is truncated, framing included.
    virtual std::string malformed_frame() const = 0;
    /// How many frames a cut stream sends before the connection drops.
    virtual std::size_t frames_before_cut() const = 0;
    /// Extra headers of an error answer (Bedrock's x-amzn-ErrorType); none by default.
    virtual void error_headers(httplib::Response&, int /*status*/) const {}
};

/// Sends the provider's error body with `status` (and Retry-After when retry_after_s >= 0).
void send_error(httplib::Response& res, const Dialect& dialect, int status, std::string_view message = {},
                int retry_after_s = -1);

/// Applies what a fault does before any answer exists: waits (slow, delay_ms), answers with
/// an error status, hangs, or sends a malformed non-stream body. Returns true when the
/// response is complete and the handler must not answer.
bool apply_fault_before_answer(httplib::Response& res, const Dialect& dialect, const Fault& fault, bool stream);

/// Sends a complete non-stream JSON answer, honouring cut (Content-Length larger than the
/// bytes sent, then the connection closes) and stream-error (200 with an error body).
void send_answer_body(httplib::Response& res, const Dialect& dialect, const Fault& fault, std::string body);

/// Sends stream frames (each one complete with its framing), honouring cut, malformed,
/// stream-error and drip.
void send_answer_stream(httplib::Response& res, const Dialect& dialect, const Fault& fault,
                        std::vector<std::string> frames, const char* content_type = "text/event-stream");

}  // namespace aigw::fake

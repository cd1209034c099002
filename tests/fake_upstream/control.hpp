#pragma once

// The control API (/_control/...) and the log of received requests behind it.

#include <atomic>
#include <cstdint>
#include <deque>
#include <utility>
#include <vector>
#include <mutex>
#include <string>

#include "tests/fake_upstream/fake_upstream.hpp"

namespace aigw::fake {

/// The last k_capacity provider requests (control requests are not recorded). Recording is one
/// short critical section per request: the entry is built outside the lock and moved in.
class RequestLog {
public:
    static constexpr std::size_t k_capacity = 1000;

    void record(const httplib::Request& req);
    void clear();
    /// [{method, path, raw_path, query, headers:{lower-case name: value}, body}], oldest first.
    json to_json() const;
    /// Requests recorded since the start or the last clear().
    std::uint64_t count() const { return m_count.load(std::memory_order_relaxed); }

private:
    struct Entry {
        std::string method;
        std::string path;      // decoded by httplib ("%3A" -> ":")
        std::string raw_path;  // as sent, before percent-decoding
        std::string query;
        std::vector<std::pair<std::string, std::string>> headers;
        std::string body;
    };
    mutable std::mutex m_mutex;
    std::deque<Entry> m_entries;
    std::atomic<std::uint64_t> m_count{0};
};

}  // namespace aigw::fake

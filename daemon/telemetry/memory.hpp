#pragma once
// What aigwd's memory is: the bytes its allocations hold now, and its resident set. For
// /metrics, and for tests that check a request's memory is let go (a stream that lasts
// minutes must not hold what the client sent).

#include <cstdint>
#include <optional>

namespace aigw::daemon::telemetry {

/// Bytes held by live allocations, from whichever allocator aigwd runs on: jemalloc's
/// stats.allocated, AddressSanitizer's count (which leaves out freed memory it quarantines),
/// or glibc's mallinfo2. nullopt when none of them answers.
std::optional<std::uint64_t> heap_allocated_bytes();

/// The resident set size (VmRSS), nullopt when /proc cannot say.
std::optional<std::uint64_t> resident_bytes();

}  // namespace aigw::daemon::telemetry

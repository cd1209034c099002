#pragma once
// Latency histograms for the rollups: counts of final attempts' latencies in fixed
// log-spaced buckets, eight per doubling. Bucket 0 holds latencies <= 0 ms; bucket b >= 1
// holds [2^((b-1)/8), 2^(b/8)) ms, so a bucket is 9.05% wide and a percentile read from the
// buckets (the bucket's geometric middle, clamped to the whole milliseconds it can hold) is
// within 4.5% of the exact nearest-rank value (exact for latencies up to 10 ms, where a
// bucket holds one whole millisecond or none).
//
// Stored as a BLOB of (bucket byte, LEB128 count) pairs in bucket order; histograms add.

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

namespace SQLite {
class Database;
}

namespace aigw::daemon::ledger {

constexpr int k_latency_buckets = 256;
using LatencyCounts = std::array<std::uint64_t, k_latency_buckets>;

/// The bucket a latency in ms falls in.
int latency_bucket(std::int64_t latency_ms);

/// Adds the histogram encoded in `blob` to `counts`; malformed trailing bytes are ignored.
void add_encoded(LatencyCounts& counts, std::string_view blob);

/// The blob form of `counts` (empty when every count is 0).
std::string encode(const LatencyCounts& counts);

/// Nearest-rank percentile (0 < p <= 100) estimated from the buckets; 0 when empty.
std::int64_t percentile_ms(const LatencyCounts& counts, double p);

/// Registers on `db`: aigw_latency_hist(latency_ms) (aggregate: the histogram of the
/// non-NULL values), aigw_hist_merge(hist) (aggregate: the sum of histograms) and
/// aigw_hist_add(a, b) (scalar: a + b). Throws SQLite::Exception on failure.
void register_hist_functions(SQLite::Database& db);

}  // namespace aigw::daemon::ledger

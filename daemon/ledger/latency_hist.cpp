#include "daemon/ledger/latency_hist.hpp"

#include <SQLiteCpp/SQLiteCpp.h>
#include <sqlite3.h>

#include <algorithm>
#include <cmath>

namespace aigw::daemon::ledger {

namespace {

constexpr int k_buckets_per_doubling = 8;

double bucket_lower(int bucket)
{
    return std::exp2(static_cast<double>(bucket - 1) / k_buckets_per_doubling);
}

/// The aggregate's state lives in SQLite's zeroed aggregate context.
LatencyCounts* counts_of(sqlite3_context* ctx, bool create)
{
    return static_cast<LatencyCounts*>(sqlite3_aggregate_context(ctx, create ? sizeof(LatencyCounts) : 0));
}

void result_blob(sqlite3_context* ctx, const LatencyCounts* counts)
{
    if (counts == nullptr) {
        sqlite3_result_null(ctx);
        return;
    }
    const std::string blob = encode(*counts);
    sqlite3_result_blob(ctx, blob.data(), static_cast<int>(blob.size()), SQLITE_TRANSIENT);
}

std::string_view blob_of(sqlite3_value* value)
{
    if (sqlite3_value_type(value) != SQLITE_BLOB) {
        return {};
    }
    const auto* data = static_cast<const char*>(sqlite3_value_blob(value));
    return {data, static_cast<std::size_t>(sqlite3_value_bytes(value))};
}

void latency_step(sqlite3_context* ctx, int, sqlite3_value** argv)
{
    LatencyCounts* counts = counts_of(ctx, true);
    if (counts == nullptr) {
        sqlite3_result_error_nomem(ctx);
        return;
    }
    if (sqlite3_value_type(argv[0]) == SQLITE_NULL) {
        return;
    }
    ++(*counts)[static_cast<std::size_t>(latency_bucket(sqlite3_value_int64(argv[0])))];
}

void merge_step(sqlite3_context* ctx, int, sqlite3_value** argv)
{
    LatencyCounts* counts = counts_of(ctx, true);
    if (counts == nullptr) {
        sqlite3_result_error_nomem(ctx);
        return;
    }
    add_encoded(*counts, blob_of(argv[0]));
}

void hist_final(sqlite3_context* ctx)
{
    result_blob(ctx, counts_of(ctx, false));
}

void hist_add(sqlite3_context* ctx, int, sqlite3_value** argv)
{
    LatencyCounts counts{};
    add_encoded(counts, blob_of(argv[0]));
    add_encoded(counts, blob_of(argv[1]));
    result_blob(ctx, &counts);
}

}  // namespace

int latency_bucket(std::int64_t latency_ms)
{
    if (latency_ms <= 0) {
        return 0;
    }
    const auto b =
        1 + static_cast<int>(std::floor(k_buckets_per_doubling * std::log2(static_cast<double>(latency_ms))));
    return std::clamp(b, 1, k_latency_buckets - 1);
}

void add_encoded(LatencyCounts& counts, std::string_view blob)
{
    std::size_t i = 0;
    while (i < blob.size()) {
        const auto bucket = static_cast<unsigned char>(blob[i++]);
        std::uint64_t count = 0;
        int shift = 0;
        bool done = false;
        while (i < blob.size() && shift < 64) {
            const auto byte = static_cast<unsigned char>(blob[i++]);
            count |= static_cast<std::uint64_t>(byte & 0x7f) << shift;
            shift += 7;
            if ((byte & 0x80) == 0) {
                done = true;
                break;
            }
        }
        if (!done) {
            return;
        }
        counts[bucket] += count;
    }
}

std::string encode(const LatencyCounts& counts)
{
    std::string out;
    for (std::size_t b = 0; b < counts.size(); ++b) {
        std::uint64_t count = counts[b];
        if (count == 0) {
            continue;
        }
        out.push_back(static_cast<char>(b));
        do {
            auto byte = static_cast<unsigned char>(count & 0x7f);
            count >>= 7;
            if (count != 0) {
                byte |= 0x80;
            }
            out.push_back(static_cast<char>(byte));
        } while (count != 0);
    }
    return out;
}

std::int64_t percentile_ms(const LatencyCounts& counts, double p)
{
    std::uint64_t total = 0;
    for (const auto c : counts) {
        total += c;
    }
    if (total == 0) {
        return 0;
    }
    // Nearest rank: the smallest value whose rank reaches p% of the count.
    const auto rank =
        std::max<std::uint64_t>(1, static_cast<std::uint64_t>(std::ceil(p / 100.0 * static_cast<double>(total))));
    std::uint64_t seen = 0;
    for (int b = 0; b < k_latency_buckets; ++b) {
        seen += counts[static_cast<std::size_t>(b)];
        if (seen < rank) {
            continue;
        }
        if (b == 0) {
            return 0;
        }
        const double lo = bucket_lower(b);
        const double hi = bucket_lower(b + 1);
        const auto first = static_cast<std::int64_t>(std::ceil(lo));
        const auto last = std::max(first, static_cast<std::int64_t>(std::ceil(hi)) - 1);
        return std::clamp(static_cast<std::int64_t>(std::llround(std::sqrt(lo * hi))), first, last);
    }
    return 0;
}

void register_hist_functions(SQLite::Database& db)
{
    db.createFunction("aigw_latency_hist", 1, true, nullptr, nullptr, &latency_step, &hist_final, nullptr);
    db.createFunction("aigw_hist_merge", 1, true, nullptr, nullptr, &merge_step, &hist_final, nullptr);
    db.createFunction("aigw_hist_add", 2, true, nullptr, &hist_add, nullptr, nullptr, nullptr);
}

}  // namespace aigw::daemon::ledger

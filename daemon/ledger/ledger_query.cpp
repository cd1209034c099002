#include "daemon/ledger/ledger_query.hpp"

#include "daemon/ledger/latency_hist.hpp"

#include <algorithm>
#include <array>

namespace aigw::daemon::ledger {

namespace {

struct Grouping {
    std::string_view name;
    std::string_view sqlite;
    std::string_view postgres;
};

constexpr std::array<Grouping, 8> k_groupings{{
    {"model", "served_model", "served_model"},
    {"provider", "provider", "provider"},
    {"key", "key_id", "key_id"},
    {"day", "date(ts_ms / 1000, 'unixepoch')", "to_char(to_timestamp(ts_ms / 1000) AT TIME ZONE 'UTC', 'YYYY-MM-DD')"},
    {"variant", "variant", "variant"},
    {"tag", "tag", "tag"},
    {"surface", "surface", "surface"},
    {"session", "session", "session"},
}};

/// Builds WHERE terms, numbering placeholders in the dialect's way.
class Terms {
public:
    explicit Terms(SqlDialect dialect) : m_dialect(dialect) {}

    /// Adds `sql`, in which each '?' stands for the next of `values`.
    template <typename... Values>
    void add(std::string_view sql, Values... values)
    {
        std::array<SqlParam, sizeof...(Values)> params{SqlParam(values)...};
        std::string term;
        std::size_t next = 0;
        for (char c : sql) {
            if (c == '?' && next < params.size()) {
                m_where.params.push_back(std::move(params[next++]));
                term += m_dialect == SqlDialect::sqlite ? ":p" : "$";
                term += std::to_string(m_where.params.size());
            } else {
                term.push_back(c);
            }
        }
        m_where.sql += m_where.sql.empty() ? "WHERE " : "AND ";
        m_where.sql += term;
        m_where.sql += ' ';
    }

    SqlWhere take() { return std::move(m_where); }

private:
    SqlDialect m_dialect;
    SqlWhere m_where;
};

}  // namespace

const std::vector<std::string_view>& group_by_names()
{
    static const std::vector<std::string_view> names = [] {
        std::vector<std::string_view> out;
        for (const auto& g : k_groupings) {
            out.push_back(g.name);
        }
        return out;
    }();
    return names;
}

std::optional<std::string> check_group_by(std::string_view group_by)
{
    if (group_expression(group_by, SqlDialect::sqlite)) {
        return std::nullopt;
    }
    std::string msg = "unknown group_by '" + std::string(group_by) + "'; use one of: ";
    for (std::size_t i = 0; i < k_groupings.size(); ++i) {
        msg += (i ? ", " : "") + std::string(k_groupings[i].name);
    }
    return msg;
}

std::optional<std::string_view> group_expression(std::string_view group_by, SqlDialect dialect)
{
    for (const auto& g : k_groupings) {
        if (g.name == group_by) {
            return dialect == SqlDialect::sqlite ? g.sqlite : g.postgres;
        }
    }
    return std::nullopt;
}

void order_groups(std::vector<CostGroup>& groups)
{
    std::stable_sort(groups.begin(), groups.end(), [](const CostGroup& a, const CostGroup& b) {
        if (a.cost_usd != b.cost_usd) {
            return a.cost_usd > b.cost_usd;
        }
        return a.key < b.key;
    });
}

CostGroup total_of(const std::vector<CostGroup>& groups)
{
    CostGroup total;
    total.key = "total";
    double latency_sum = 0;
    LatencyCounts latencies{};
    for (const auto& g : groups) {
        total.requests += g.requests;
        total.errors += g.errors;
        total.input_tokens += g.input_tokens;
        total.cached_tokens += g.cached_tokens;
        total.output_tokens += g.output_tokens;
        total.cost_usd += g.cost_usd;
        total.saved_usd += g.saved_usd;
        total.cache_hits += g.cache_hits;
        latency_sum += g.avg_latency_ms * static_cast<double>(g.requests);
        add_encoded(latencies, g.latency_hist);
    }
    total.avg_latency_ms = total.requests > 0 ? latency_sum / static_cast<double>(total.requests) : 0;
    total.p95_latency_ms = percentile_ms(latencies, 95);
    total.latency_hist = encode(latencies);
    return total;
}

CostReport make_report(std::vector<CostGroup> groups)
{
    order_groups(groups);
    CostReport report;
    report.total = total_of(groups);
    report.groups = std::move(groups);
    return report;
}

SqlWhere entries_where(const EntryFilter& f, SqlDialect dialect, std::string_view cursor)
{
    Terms t(dialect);
    if (!f.all_attempts && f.request_id.empty()) {
        t.add("r.final_attempt = 1");
    }
    if (f.after_row_id) {
        t.add(std::string(cursor) + " > ?", *f.after_row_id);
    }
    if (!f.request_id.empty()) {
        t.add("r.request_id = ?", f.request_id);
    }
    // tag <> '' and session <> '' (true of any value asked for) let the planner use the
    // partial indexes on tag and session, as status >= 400 below does.
    if (!f.tag.empty()) {
        t.add("r.tag = ? AND r.tag <> ''", f.tag);
    }
    if (!f.key_id.empty()) {
        t.add("r.key_id = ?", f.key_id);
    }
    if (!f.session.empty()) {
        t.add("r.session = ? AND r.session <> ''", f.session);
    }
    if (!f.model.empty()) {
        t.add("r.served_model = ?", f.model);
    }
    if (f.status > 0) {
        t.add("r.status = ?", std::int64_t{f.status});
    }
    if (f.status_class > 0) {
        t.add("r.status >= ? AND r.status < ?", std::int64_t{f.status_class} * 100,
              std::int64_t{f.status_class} * 100 + 100);
    }
    // Stated even with an exact error status: a partial index on errors is used only when
    // the query repeats its condition.
    if (f.errors_only || f.status >= 400 || f.status_class >= 4) {
        t.add("r.status >= 400");
    }
    if (f.since_ms > 0) {
        t.add("r.ts_ms >= ?", f.since_ms);
    }
    if (f.until_ms > 0) {
        t.add("r.ts_ms < ?", f.until_ms);
    }
    return t.take();
}

bool newest_first(const EntryFilter& f)
{
    return !f.after_row_id;
}

std::string entries_order(const EntryFilter& f, std::string_view cursor)
{
    std::string sql = "ORDER BY " + std::string(cursor) + (newest_first(f) ? " DESC" : " ASC");
    if (f.limit > 0) {
        sql += " LIMIT " + std::to_string(f.limit);
    }
    return sql;
}

std::expected<CostReport, std::string> SqliteLedgerReader::cost_report(const CostQuery& q) const
{
    auto groups = m_ledger.cost(q);
    if (!groups) {
        return std::unexpected(groups.error());
    }
    return make_report(std::move(*groups));
}

std::expected<std::vector<LedgerEntry>, std::string> SqliteLedgerReader::entries(const EntryFilter& f) const
{
    return m_ledger.entries(f);
}

}  // namespace aigw::daemon::ledger

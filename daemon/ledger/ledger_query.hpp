#pragma once
// What `aigw cost` and `aigw logs` ask of a ledger, and the one place their answers are
// defined, for both places rows live: an instance's SQLite ledger (ledger.hpp) and the
// team's PostgreSQL ledger ([cluster] postgres_url, daemon/cluster/pg_ledger.hpp).
//
// Both backends implement LedgerReader with the SQL built here (the filters of logs, the
// groupings of cost) and finish their answers here (ordering, totals, p95 from the latency
// buckets), so a question gets the same answer from either. The integration test
// test_ledger_backends.cpp asks both the same questions over the same rows.

#include "daemon/ledger/ledger.hpp"

#include <cstdint>
#include <expected>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace aigw::daemon::ledger {

/// A cost report: its groups (cost descending, then key) and their total.
struct CostReport {
    std::vector<CostGroup> groups;
    CostGroup total;  ///< key "total"
};

/// The questions both backends answer.
class LedgerReader {
public:
    virtual ~LedgerReader() = default;
    /// Errors: an unknown group_by (check_group_by first), or the store cannot be read.
    virtual std::expected<CostReport, std::string> cost_report(const CostQuery& q) const = 0;
    /// Rows matching `f`, oldest first: with a cursor, the first `limit` rows after it;
    /// without one, the newest `limit` rows. LedgerEntry::row_id is the backend's cursor.
    virtual std::expected<std::vector<LedgerEntry>, std::string> entries(const EntryFilter& f) const = 0;
};

/// An instance's own SQLite ledger as a LedgerReader.
class SqliteLedgerReader final : public LedgerReader {
public:
    explicit SqliteLedgerReader(const Ledger& ledger) : m_ledger(ledger) {}
    std::expected<CostReport, std::string> cost_report(const CostQuery& q) const override;
    std::expected<std::vector<LedgerEntry>, std::string> entries(const EntryFilter& f) const override;

private:
    const Ledger& m_ledger;
};

/// The groupings of cost(): model, provider, key, day, variant, tag, surface, session.
const std::vector<std::string_view>& group_by_names();
/// nullopt when `group_by` is one of them, else the error to give the caller.
std::optional<std::string> check_group_by(std::string_view group_by);

/// Orders groups as reports show them: cost descending, then key (byte order).
void order_groups(std::vector<CostGroup>& groups);
/// The total of `groups` (key "total"): sums, the requests-weighted mean latency, and the
/// p95 of their latency histograms added up.
CostGroup total_of(const std::vector<CostGroup>& groups);
/// Orders `groups` and adds their total.
CostReport make_report(std::vector<CostGroup> groups);

enum class SqlDialect { sqlite, postgres };

/// A parameter of built SQL, in placeholder order.
using SqlParam = std::variant<std::int64_t, std::string>;

/// The WHERE clause of an entries() query.
struct SqlWhere {
    std::string sql;  ///< "WHERE ... " (with a trailing space), or "" when nothing filters
    std::vector<SqlParam> params;
};

/// The WHERE clause of `f` over a requests table aliased `r` whose cursor column is
/// `cursor` ("r.id", "r.seq"). Placeholders are :p1, :p2, ... (SQLite) or $1, $2, ...
/// (PostgreSQL); every value is a parameter, never SQL text.
SqlWhere entries_where(const EntryFilter& f, SqlDialect dialect, std::string_view cursor);
/// "ORDER BY <cursor> DESC|ASC[ LIMIT n]": newest first without a cursor (the caller then
/// reverses the rows: newest_first()), oldest first after one.
std::string entries_order(const EntryFilter& f, std::string_view cursor);
/// Whether entries_order() read newest first (the rows are to be reversed).
bool newest_first(const EntryFilter& f);

/// The SQL expression of a grouping over requests columns (nullopt: unknown).
std::optional<std::string_view> group_expression(std::string_view group_by, SqlDialect dialect);

}  // namespace aigw::daemon::ledger

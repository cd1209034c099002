#pragma once
// How `aigw logs` prints ledger rows: a table, fixed-width lines for -f, JSON, and the
// detail view of one request. Pure (no sockets), so tests feed it rows.

#include "cli/term.hpp"
#include "shared/client/types.hpp"

#include <nlohmann/json.hpp>

#include <expected>
#include <string>
#include <string_view>
#include <vector>

namespace aigw::cli {

nlohmann::json log_row_json(const client::LogRow& r);

/// TIME, REQUEST, MODEL, STATUS, IN TOK, OUT TOK, COST USD, LAT ms, NOTE (cache hit,
/// attempts, tag, error): the same columns as log_line_header().
Table log_table(const std::vector<client::LogRow>& rows, bool colour);
std::string log_line_header(bool colour);
/// One row in the fixed column widths of log_line_header().
std::string log_line(const client::LogRow& r, bool colour);

/// The rows as CSV with a header line; times in ISO 8601 local time, money unrounded to 6 decimals.
std::string log_csv(const std::vector<client::LogRow>& rows);

/// Search results (`aigw logs -q`): TIME, REQUEST, MODEL, STATUS, COST USD, MATCH (the
/// snippet on one line, matched words in brackets).
Table search_table(const std::vector<client::LogRow>& rows, bool colour);
/// Search results as CSV: log_csv's columns plus `snippet`.
std::string search_csv(const std::vector<client::LogRow>& rows);

/// `--status` of `aigw logs`: "200" (one status), "4xx" (a class), "error" / "errors"
/// (>= 400). Sets the query's status, status_class or errors; or says what is accepted.
std::expected<void, std::string> parse_status_filter(std::string_view text, client::LogQuery& q);

/// Every attempt of one request: models, status, timing, tokens, cost, fallback reasons,
/// errors, and the bodies when they were stored (JSON pretty-printed).
std::string request_details(const std::vector<client::LogRow>& attempts, bool colour);

}  // namespace aigw::cli

// `aigw logs -q` output and `--status` parsing: pure, fed with rows.

#include "cli/logs_format.hpp"

#include <doctest/doctest.h>

#include <sstream>

using aigw::cli::parse_status_filter;
using aigw::client::LogQuery;
using aigw::client::LogRow;

namespace {

LogRow hit(std::string id, std::string snippet)
{
    LogRow r;
    r.ts_ms = 1'735'689'600'000;
    r.request_id = std::move(id);
    r.served_model = "openai/gpt-4o-mini";
    r.status = 200;
    r.cost_usd = 0.0012;
    r.error = "line one\nline two";
    r.snippet = std::move(snippet);
    return r;
}

}  // namespace

TEST_CASE("--status takes a status, a class or error, and refuses anything else")
{
    LogQuery q;
    REQUIRE(parse_status_filter("429", q).has_value());
    CHECK(q.status == 429);
    q = {};
    REQUIRE(parse_status_filter("4xx", q).has_value());
    CHECK(q.status_class == 4);
    CHECK(q.status == 0);
    q = {};
    REQUIRE(parse_status_filter("error", q).has_value());
    CHECK(q.errors);
    for (const char* bad : {"", "teapot", "4x", "600", "99", "2000", "6xx"}) {
        CAPTURE(bad);
        LogQuery untouched;
        auto r = parse_status_filter(bad, untouched);
        REQUIRE_FALSE(r.has_value());
        CHECK(r.error().find("4xx") != std::string::npos);
        CHECK(untouched.status == 0);
        CHECK(untouched.status_class == 0);
        CHECK_FALSE(untouched.errors);
    }
}

TEST_CASE("search results print the snippet on one line, and CSV adds a snippet column")
{
    const std::vector<LogRow> rows{hit("req_a", "the [refund]\npolicy"), hit("req_b", "a \"quoted\", [refund]")};
    std::ostringstream out;
    aigw::cli::search_table(rows, false).print(out, false);
    const std::string table = out.str();
    CHECK(table.find("MATCH") != std::string::npos);
    CHECK(table.find("the [refund] policy") != std::string::npos);  // newline flattened
    CHECK(table.find("req_b") != std::string::npos);

    const std::string csv = aigw::cli::search_csv(rows);
    std::istringstream lines(csv);
    std::string header;
    std::getline(lines, header);
    CHECK(header.ends_with(",error,snippet"));
    CHECK(csv.find("\"line one\nline two\",the [refund] policy\n") != std::string::npos);
    CHECK(csv.find(",\"a \"\"quoted\"\", [refund]\"\n") != std::string::npos);
}

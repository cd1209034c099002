// The CLI's pure pieces: prompt assembly, model choice, tables, times, key masking.

#include "cli/cmd_cost.hpp"
#include "cli/cmd_keys.hpp"
#include "cli/cmd_run.hpp"
#include "cli/term.hpp"

#include <doctest/doctest.h>
#include <toml++/toml.h>

#include <map>
#include <sstream>

using namespace aigw::cli;

namespace {

aigw::config::Env env_of(std::map<std::string, std::string> vars)
{
    return [vars = std::move(vars)](std::string_view name) -> std::optional<std::string> {
        auto it = vars.find(std::string(name));
        return it == vars.end() ? std::nullopt : std::optional<std::string>(it->second);
    };
}

aigw::config::Config config_from(std::string_view toml)
{
    auto cfg = aigw::config::parse_config(toml, "test.toml");
    REQUIRE(cfg.has_value());
    cfg->data_dir = "/nonexistent/aigw-test";
    return *cfg;
}

std::vector<std::string> lines_of(const std::string& text)
{
    std::vector<std::string> out;
    std::istringstream in(text);
    for (std::string l; std::getline(in, l);) {
        out.push_back(l);
    }
    return out;
}

}  // namespace

TEST_CASE("the prompt comes from the arguments, from stdin, or both with args first")
{
    CHECK(assemble_prompt({"hello", "world"}, std::nullopt) == "hello world");
    CHECK(assemble_prompt({}, std::string("from stdin\n")) == "from stdin");
    CHECK(assemble_prompt({"summarise", "this:"}, std::string("line 1\nline 2\n\n")) ==
          "summarise this:\n\nline 1\nline 2");
    CHECK(assemble_prompt({"only args"}, std::string("")) == "only args");
    CHECK(assemble_prompt({"only args"}, std::string("  \n\n")) == "only args");
    CHECK(assemble_prompt({}, std::nullopt).empty());
}

TEST_CASE("the default model: flag, AIGW_MODEL, alias 'default', first keyed provider, else mock")
{
    const auto plain = config_from("");
    CHECK(pick_model("x/y", plain, env_of({{"AIGW_MODEL", "a/b"}})).model == "x/y");
    CHECK(pick_model("", plain, env_of({{"AIGW_MODEL", "a/b"}})).model == "a/b");
    CHECK(pick_model("", plain, env_of({})).model == "mock/echo");
    CHECK(pick_model("", plain, env_of({{"GEMINI_API_KEY", "g"}})).model == "gemini/gemini-2.5-flash");
    CHECK(pick_model("", plain, env_of({{"GEMINI_API_KEY", "g"}, {"ANTHROPIC_API_KEY", "a"}})).model ==
          "anthropic/claude-haiku-4-5");
    CHECK(pick_model("", plain, env_of({{"OPENAI_API_KEY", "o"}, {"ANTHROPIC_API_KEY", "a"}})).model ==
          "openai/gpt-4o-mini");
    const auto aliased = config_from("[aliases]\ndefault = \"mock/echo\"\n");
    CHECK(pick_model("", aliased, env_of({{"OPENAI_API_KEY", "o"}})).model == "default");
}

TEST_CASE("the chat request carries system, user, temperature and max_tokens only when given")
{
    auto r = build_chat_request("m/x", "", "hi", std::nullopt, std::nullopt);
    CHECK(r["messages"].size() == 1);
    CHECK_FALSE(r.contains("temperature"));
    r = build_chat_request("m/x", "be brief", "hi", 0.5, 10);
    CHECK(r["messages"][0]["role"] == "system");
    CHECK(r["messages"][1]["content"] == "hi");
    CHECK(r["temperature"] == 0.5);
    CHECK(r["max_tokens"] == 10);
}

TEST_CASE("table columns line up by display width, numbers right-aligned, no trailing spaces")
{
    Table t({"MODEL", "REQUESTS", "COST USD"}, {Align::left, Align::right, Align::right});
    t.add_row({"openai/gpt-4o-mini", "3", "0.0012"});
    t.add_row({"模型", "12,345", "10.50"});
    t.add_row({"caf\xc3\xa9", paint("7", Colour::red, true), "0.00"});
    t.add_rule();
    t.add_row({"TOTAL", "12,355", "10.50"});
    std::ostringstream out;
    t.print(out);
    const auto lines = lines_of(out.str());
    REQUIRE(lines.size() == 6);
    for (const auto& l : lines) {
        CHECK(display_width(l) == display_width(lines[0]));
        CHECK(l.back() != ' ');
    }
    CHECK(lines[0] == "MODEL               REQUESTS  COST USD");
    CHECK(lines[1] == "openai/gpt-4o-mini         3    0.0012");
    CHECK(lines[2] == "模型                  12,345     10.50");
    CHECK(lines[4] == std::string(38, '-'));
}

TEST_CASE("a table as CSV: snake_case headers, no colour, quoted cells, no rules")
{
    Table t({"MODEL", "TTFT P50 ms", "$IN/1M", ""});
    t.add_row({"a,b", paint("7", Colour::red, true), "say \"hi\"", "x"});
    t.add_rule();
    t.add_row({"TOTAL", "8", "", ""});
    std::ostringstream out;
    t.print_csv(out);
    CHECK(out.str() == "model,ttft_p50_ms,usd_in_1m,column4\n\"a,b\",7,\"say \"\"hi\"\"\",x\nTOTAL,8,,\n");
}

TEST_CASE("a table too wide for the terminal leaves out its droppable columns, in order, before it cuts a number")
{
    Table t({"MODEL", "A", "B", "C"}, {Align::left, Align::right, Align::right, Align::right});
    t.add_row({"model-name", "123456789012", "223456789012", "323456789012"});
    t.keep_whole(0);
    t.drop_when_narrow(2);
    t.drop_when_narrow(1);
    auto printed = [&](std::size_t width) {
        t.set_max_width(width);
        std::ostringstream out;
        t.print(out);
        return lines_of(out.str());
    };
    CHECK(printed(52).size() == 2);  // fits: nothing left out
    const auto narrow = printed(50);
    REQUIRE(narrow.size() == 3);
    CHECK(narrow[1] == "model-name  123456789012  323456789012");
    CHECK(narrow[2] == "hidden to fit 50 columns: B (--csv shows all)");
    const auto narrower = printed(26);
    REQUIRE(narrower.size() >= 3);
    CHECK(narrower[1] == "model-name  323456789012");
    CHECK(narrower[2] == "hidden to fit 26 columns:");
    CHECK(narrower[3] == "B, A (--csv shows all)");
}

TEST_CASE("display width ignores colour codes and counts wide characters twice")
{
    CHECK(display_width("abc") == 3);
    CHECK(display_width("\x1b[31mabc\x1b[0m") == 3);
    CHECK(display_width("日本") == 4);
    CHECK(display_width("e\xcc\x81") == 1);  // e + combining acute
}

TEST_CASE("numbers are formatted for people")
{
    CHECK(human_tokens(128000) == "128k");
    CHECK(human_tokens(200000) == "200k");
    CHECK(human_tokens(1048576) == "1M");
    CHECK(human_tokens(1000000) == "1M");
    CHECK(human_tokens(2000000) == "2M");
    CHECK(human_tokens(32768) == "32k");
    CHECK(human_tokens(131072) == "128k");
    CHECK(human_tokens(8192) == "8k");
    CHECK(human_tokens(1500) == "1.5k");
    CHECK(human_tokens(0) == "-");
    CHECK(group_thousands(0) == "0");
    CHECK(group_thousands(1234567) == "1,234,567");
    CHECK(group_thousands(123) == "123");
    CHECK(format_usd(0) == "$0.000000");
    CHECK(format_usd(0.00001) == "$0.000010");
    CHECK(format_usd(0.0012) == "$0.001200");
    CHECK(format_usd(0.25) == "$0.250000");
    CHECK(format_usd(12.5) == "$12.500000");
    CHECK(format_usd(-3) == "-$3.000000");
    CHECK(format_usd(-0.0000001) == "$0.000000");
    CHECK(format_price(0.15) == "0.15");
    CHECK(format_price(2.5) == "2.50");
    CHECK(format_price(0.075) == "0.075");
    CHECK(csv_escape("a,b") == "\"a,b\"");
    CHECK(csv_escape("say \"hi\"") == "\"say \"\"hi\"\"\"");
}

TEST_CASE("bytes read as KiB to TiB, and TOML strings are quoted so TOML reads them back")
{
    CHECK(human_bytes(512) == "512 B");
    CHECK(human_bytes(1536) == "1.5 KiB");
    CHECK(human_bytes(50LL << 20) == "50 MiB");
    CHECK(human_bytes(3LL << 40) == "3.0 TiB");
    CHECK(ascii_lower("ICONTAINS-Any Ü") == "icontains-any Ü");

    // `aigw config show` prints values as TOML and Codex parses `-c key=value` as TOML.
    for (const std::string& value : std::vector<std::string>{"plain", "say \"hi\"", "C:\\dir\\", "two\nlines\ttab",
                                                             std::string("nul\x01\x7f", 5), "caf\xc3\xa9"}) {
        CAPTURE(value);
        const std::string doc = "k = " + toml_string(value) + "\n";
#if TOML_EXCEPTIONS
        const toml::table t = toml::parse(doc);
#else
        auto parsed = toml::parse(doc);
        REQUIRE(parsed);
        const toml::table t = std::move(parsed).table();
#endif
        CHECK(t["k"].value<std::string>() == value);
    }
}

TEST_CASE("--since and --until accept today, Nd, Nh, dates and epoch ms")
{
    using namespace std::chrono;
    const auto now = system_clock::now();
    const std::int64_t now_ms = duration_cast<milliseconds>(now.time_since_epoch()).count();
    const std::int64_t midnight = local_midnight_ms(now);
    CHECK(midnight <= now_ms);
    CHECK(now_ms - midnight < 25 * 3600 * 1000LL);

    CHECK(*parse_time_spec("today", TimeEdge::since, now) == midnight);
    CHECK(*parse_time_spec("now", TimeEdge::until, now) == now_ms);
    CHECK(*parse_time_spec("7d", TimeEdge::since, now) == now_ms - 7 * 86400 * 1000LL);
    CHECK(*parse_time_spec("30d", TimeEdge::since, now) == now_ms - 30 * 86400 * 1000LL);
    CHECK(*parse_time_spec("12h", TimeEdge::since, now) == now_ms - 12 * 3600 * 1000LL);
    const auto yesterday = *parse_time_spec("yesterday", TimeEdge::since, now);
    CHECK(midnight - yesterday >= 23 * 3600 * 1000LL);
    CHECK(midnight - yesterday <= 25 * 3600 * 1000LL);
    CHECK(*parse_time_spec("1700000000000", TimeEdge::since, now) == 1700000000000LL);

    const auto start = parse_time_spec("2024-03-01", TimeEdge::since, now);
    const auto end = parse_time_spec("2024-03-01", TimeEdge::until, now);
    REQUIRE(start.has_value());
    REQUIRE(end.has_value());
    CHECK(*end - *start == 86400 * 1000LL);  // no DST change on that day anywhere common
    CHECK(*start == local_midnight_ms(system_clock::time_point(milliseconds(*start + 3600 * 1000LL))));

    for (const char* bad : {"", "tomorrow", "7x", "-3d", "2024-13-01", "2024-1-1", "d"}) {
        auto r = parse_time_spec(bad, TimeEdge::since, now);
        CHECK_MESSAGE(!r.has_value(), bad);
        if (!r) {
            CHECK(r.error().find("YYYY-MM-DD") != std::string::npos);
        }
    }
}

TEST_CASE("cost CSV has a header, one line per group and a total")
{
    aigw::client::CostReport r;
    r.groups.push_back({"openai/gpt-4o-mini", 3, 0, 10, 2, 5, 0.0012, 0, 123.4});
    r.total = {"total", 3, 0, 10, 2, 5, 0.0012, 0, 123.4};
    const auto lines = lines_of(cost_csv(r, "model"));
    REQUIRE(lines.size() == 3);
    CHECK(lines[0] ==
          "model,requests,errors,input_tokens,cached_tokens,output_tokens,cost_usd,cache_hits,avg_latency_ms,p95_"
          "latency_ms");
    CHECK(lines[1] == "openai/gpt-4o-mini,3,0,10,2,5,0.001200,0,123.4,0");
    CHECK(lines[2].rfind("total,", 0) == 0);
}

TEST_CASE("keys are masked to a short prefix and the last four characters")
{
    CHECK(mask_key("sk-proj-abcdefghijklmnop1234") == "sk-...1234");
    CHECK(mask_key("sk-ant-api03-xxxxxxxxxxxxabcd") == "sk-...abcd");
    CHECK(mask_key("AIzaSyD-xxxxxxxxxxxxxxxxwxyz") == "...wxyz");
    CHECK(mask_key("gsk_0123456789abcdef") == "...cdef");
    CHECK(mask_key("short-key") == "****");
    CHECK(mask_key("") == "****");
}

TEST_CASE("keys create --budget takes USD per day or per month")
{
    auto day = parse_budget("5/day");
    REQUIRE(day.has_value());
    CHECK(day->usd == doctest::Approx(5.0));
    CHECK(day->period == "day");
    auto month = parse_budget("$12.5/month");
    REQUIRE(month.has_value());
    CHECK(month->usd == doctest::Approx(12.5));
    CHECK(month->period == "month");
    CHECK(parse_budget("3/d")->period == "day");
    CHECK(parse_budget("3/monthly")->period == "month");
    for (const char* bad : {"5", "5/week", "0/day", "-1/day", "x/day", "/day"}) {
        auto r = parse_budget(bad);
        REQUIRE_FALSE(r.has_value());
        CHECK(r.error().find("5/day") != std::string::npos);
    }
}

TEST_CASE("keys create --expires takes a date (through that day), days or hours from now")
{
    const auto now = std::chrono::system_clock::time_point(std::chrono::milliseconds(1'738'281'600'000));
    CHECK(*parse_expiry("30d", now) == 1'738'281'600'000 + 30 * 86'400'000LL);
    CHECK(*parse_expiry("12h", now) == 1'738'281'600'000 + 12 * 3'600'000LL);
    CHECK(*parse_expiry("1900000000000", now) == 1'900'000'000'000);
    // A date means the end of that local day: the next local midnight.
    CHECK(*parse_expiry("2025-03-01", now) == *parse_time_spec("2025-03-01", TimeEdge::until, now));
    CHECK(*parse_expiry("2025-03-01", now) > *parse_time_spec("2025-03-01", TimeEdge::since, now));
    for (const char* bad : {"soon", "0d", "2025-13-01", "-5h"}) {
        CHECK_FALSE(parse_expiry(bad, now).has_value());
    }
}

// aigw's own voice: suggestions for typos, usage errors with exit code 2, and a config
// check that finds every problem at once.

#include "cli/app.hpp"
#include "cli/bench.hpp"
#include "cli/cmd_cost.hpp"
#include "cli/config_view.hpp"
#include "cli/line_editor.hpp"
#include "cli/suggest.hpp"
#include "cli/term.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <fstream>
#include <map>
#include <sstream>

#include <unistd.h>

using namespace aigw::cli;

namespace {

aigw::config::Env env_of(std::map<std::string, std::string> vars)
{
    return [vars = std::move(vars)](std::string_view name) -> std::optional<std::string> {
        auto it = vars.find(std::string(name));
        return it == vars.end() ? std::nullopt : std::optional<std::string>(it->second);
    };
}

const ConfigValue* find_value(const std::vector<ConfigValue>& values, std::string_view key)
{
    auto it = std::find_if(values.begin(), values.end(), [&](const ConfigValue& v) { return v.key == key; });
    return it == values.end() ? nullptr : &*it;
}

/// Parses `args` as aigw would; returns the exit code of a parse failure, or -1 when it parsed.
int parse_exit(std::vector<std::string> args)
{
    CLI::App app;
    Context ctx;
    build_app(app, ctx);
    std::reverse(args.begin(), args.end());
    try {
        app.parse(args);
    } catch (const CLI::ParseError& e) {
        return report_parse_error(app, e);
    }
    return -1;
}

}  // namespace

TEST_CASE("edit distance counts inserts, deletes and substitutions")
{
    CHECK(edit_distance("", "") == 0);
    CHECK(edit_distance("rn", "run") == 1);
    CHECK(edit_distance("contians", "contains") == 2);
    CHECK(edit_distance("kitten", "sitting") == 3);
    CHECK(edit_distance("abc", "") == 3);
}

TEST_CASE("a typo gets the closest command; something unrelated gets no suggestion")
{
    const std::vector<std::string> commands = {"run", "chat", "models", "cost", "logs", "daemon"};
    CHECK(suggest("rn", commands) == "run");
    CHECK(suggest("modles", commands) == "models");
    CHECK(suggest("daemno", commands) == "daemon");
    CHECK_FALSE(suggest("xyzzy", commands).has_value());
    // One letter is not a typo of a three-letter word.
    CHECK_FALSE(suggest("r", commands).has_value());
}

TEST_CASE("every usage error exits 2: unknown command, unknown option, missing argument, bad value")
{
    CHECK(parse_exit({"rn"}) == k_exit_usage);
    CHECK(parse_exit({"run", "--modle", "x", "hi"}) == k_exit_usage);
    CHECK(parse_exit({"daemon", "stpo"}) == k_exit_usage);
    CHECK(parse_exit({"completions"}) == k_exit_usage);
    CHECK(parse_exit({"completions", "tcsh"}) == k_exit_usage);
    CHECK(parse_exit({"eval", "-c", "zero"}) == k_exit_usage);
    CHECK(parse_exit({"--help"}) == 0);
}

TEST_CASE("global flags are accepted after the subcommand")
{
    CHECK(parse_exit({"models", "--no-spawn"}) == -1);
    CHECK(parse_exit({"daemon", "status", "--no-spawn", "--data-dir", "/tmp/x"}) == -1);
}

TEST_CASE("config check collects every error with its line, and keeps the values it could read")
{
    std::vector<std::string> errors;
    const std::string toml = R"([routing]
retries = "one"
strategy = "fastest"
circuit_failures = 3

[server]
port = 99999
colour = "blue"
)";
    const auto dir = std::filesystem::temp_directory_path() / ("aigw-cfgcheck-" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir);
    std::ofstream(dir / "config.toml") << toml;
    const auto env = env_of({{"AIGW_CONFIG", (dir / "config.toml").string()}, {"HOME", dir.string()}});
    const auto check = aigw::config::check_config(env);
    const std::string file = (dir / "config.toml").string();
    REQUIRE(check.errors.size() == 3);
    CHECK(check.errors[0].starts_with(file + ":7: [server] port must be an integer between 0 and 65535"));
    CHECK(check.errors[1].starts_with(file + ":2: [routing] retries must be an integer"));
    CHECK(check.errors[2].starts_with(file + ":3: [routing] strategy must be"));
    REQUIRE(check.config.warnings.size() == 1);
    CHECK(check.config.warnings[0] == file + ":8: unknown key 'colour' in [server]");
    CHECK(check.config.routing.circuit_failures == 3);
    // The strict loader stops at the first problem, as the daemon does.
    CHECK_FALSE(aigw::config::load_config(env).has_value());
    std::filesystem::remove_all(dir);
}

TEST_CASE("a TOML syntax error is one problem with its line; the defaults still apply")
{
    const auto dir = std::filesystem::temp_directory_path() / ("aigw-cfgsyntax-" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir);
    std::ofstream(dir / "config.toml") << "[server]\nport = = 1\n";
    const auto check =
        aigw::config::check_config(env_of({{"AIGW_CONFIG", (dir / "config.toml").string()}, {"HOME", dir.string()}}));
    REQUIRE(check.errors.size() == 1);
    CHECK(check.errors[0].starts_with((dir / "config.toml").string() + ":2:"));
    CHECK(check.config.port == aigw::config::k_default_port);
    std::filesystem::remove_all(dir);
}

TEST_CASE("config show says where each value came from and masks keys")
{
    const std::string toml = "[routing]\nretries = 4\n[aliases]\nfast = \"groq/llama-3.3-70b-versatile\"\n";
    auto cfg = aigw::config::parse_config(toml, "config.toml");
    REQUIRE(cfg.has_value());
    cfg->data_dir = "/nonexistent/aigw-show";
    const auto env = env_of({{"AIGW_DATA_DIR", "/nonexistent/aigw-show"},
                             {"OPENAI_API_KEY", "sk-proj-abcdefghijklmnop1234"},
                             {"AIGW_GROQ_BASE_URL", "http://127.0.0.1:9/v1"}});
    const auto values = effective_config(*cfg, toml, env, false);
    REQUIRE(find_value(values, "routing.retries") != nullptr);
    CHECK(find_value(values, "routing.retries")->value == "4");
    CHECK(find_value(values, "routing.retries")->source == "file");
    CHECK(find_value(values, "routing.backoff_max_ms")->source == "default");
    CHECK(find_value(values, "aliases.fast")->source == "file");
    CHECK(find_value(values, "data_dir")->source == "env (AIGW_DATA_DIR)");
    CHECK(find_value(values, "providers.groq.base_url")->source == "env (AIGW_GROQ_BASE_URL)");
    const auto* key = find_value(values, "providers.openai.api_key");
    REQUIRE(key != nullptr);
    CHECK(key->value == "sk-...1234");
    CHECK(key->source == "env (OPENAI_API_KEY)");
    CHECK(effective_config(*cfg, toml, env, true)[0].source == "default");
    CHECK(find_value(effective_config(*cfg, toml, env, true), "data_dir")->source == "flag (--data-dir)");
}

TEST_CASE("config show lists [otel] with its collector headers masked")
{
    const std::string toml =
        "[otel]\nendpoint = \"http://127.0.0.1:4318\"\nheaders = { authorization = \"Bearer collector-secret-9876\" "
        "}\n";
    auto cfg = aigw::config::parse_config(toml, "config.toml");
    REQUIRE(cfg.has_value());
    const auto values = effective_config(*cfg, toml, env_of({}), false);
    REQUIRE(find_value(values, "otel.endpoint") != nullptr);
    CHECK(find_value(values, "otel.endpoint")->value == "\"http://127.0.0.1:4318\"");
    CHECK(find_value(values, "otel.endpoint")->source == "file");
    const auto* header = find_value(values, "otel.headers.authorization");
    REQUIRE(header != nullptr);
    CHECK(header->value.find("collector-secret") == std::string::npos);
    CHECK(header->source == "file");
}

TEST_CASE("config show lists [cluster] with the passwords in its URLs masked")
{
    const std::string toml =
        "[cluster]\nredis_url = \"redis://:redis-secret-1@10.0.0.5:6379/1\"\n"
        "postgres_url = \"postgresql://aigw:pg-secret-2@10.0.0.6/aigw\"\n";
    auto cfg = aigw::config::parse_config(toml, "config.toml");
    REQUIRE(cfg.has_value());
    const auto values = effective_config(*cfg, toml, env_of({}), false);
    const auto* redis = find_value(values, "cluster.redis_url");
    const auto* pg = find_value(values, "cluster.postgres_url");
    REQUIRE(redis != nullptr);
    REQUIRE(pg != nullptr);
    CHECK(redis->value == "\"redis://:****@10.0.0.5:6379/1\"");
    CHECK(pg->value == "\"postgresql://aigw:****@10.0.0.6/aigw\"");
    CHECK(redis->source == "file");
    REQUIRE(find_value(values, "cluster.redis_down") != nullptr);
    CHECK(find_value(values, "cluster.redis_down")->value == "\"local\"");
}

TEST_CASE("a table wider than the terminal gives up columns from its widest column, never wrapping a row")
{
    CHECK(fit_widths({10, 40, 8}, 0) == std::vector<std::size_t>{10, 40, 8});
    CHECK(fit_widths({10, 40, 8}, 100) == std::vector<std::size_t>{10, 40, 8});
    CHECK(fit_widths({10, 40, 8}, 40) == std::vector<std::size_t>{10, 18, 8});
    // Nothing shrinks below 3 columns, even when the row still does not fit.
    CHECK(fit_widths({5, 5}, 4) == std::vector<std::size_t>{3, 3});

    Table t({"MODEL", "NOTE"});
    t.set_max_width(24);
    t.add_row({"openai/gpt-4o-mini", "a note much longer than the terminal is wide"});
    std::ostringstream out;
    t.print(out);
    std::istringstream lines(out.str());
    for (std::string line; std::getline(lines, line);) {
        CHECK(display_width(line) <= 24);
    }
    CHECK(out.str().find("…") != std::string::npos);
}

TEST_CASE("a cut cell ends in an ellipsis and keeps whole characters")
{
    CHECK(truncate_to_width("short", 10) == "short");
    CHECK(truncate_to_width("abcdefghij", 5) == "abcd…");
    CHECK(truncate_to_width("日本語テキスト", 5) == "日本…");
    CHECK(truncate_to_width("\x1b[31mredredred\x1b[0m", 4) == "red…");
}

TEST_CASE("bench groups errors by message without their request ids")
{
    CHECK(error_group_key("error 404 from mock: no such model (model_not_found) (x-request-id abc123)") ==
          "error 404 from mock: no such model (model_not_found)");
    CHECK(error_group_key("timeout (x-request-id r1)\n  raise --timeout") == "timeout");
    std::vector<BenchSample> samples(3);
    for (std::size_t i = 0; i < samples.size(); ++i) {
        samples[i].model = 0;
        samples[i].ok = false;
        samples[i].error = "error 404 model_not_found (x-request-id id" + std::to_string(i) + ")";
    }
    const auto stats = summarize("mock/nosuch", 0, samples);
    REQUIRE(stats.error_counts.size() == 1);
    CHECK(stats.error_counts[0].first == "error 404 model_not_found");
    CHECK(stats.error_counts[0].second == 3);
}

TEST_CASE("bench fails when a model failed every call, when interrupted, or on any error when asked")
{
    BenchStats good;
    good.calls = 4;
    good.errors = 1;
    BenchStats dead;
    dead.calls = 2;
    dead.errors = 2;
    CHECK(bench_exit_code({good}, false, false) == 0);
    CHECK(bench_exit_code({good}, false, true) == 1);
    CHECK(bench_exit_code({good, dead}, false, false) == 1);
    CHECK(bench_exit_code({good}, true, false) == 1);
}

TEST_CASE("cost by day shows every day of the range, the quiet ones too")
{
    aigw::client::CostGroup busy;
    busy.key = "2026-03-03";
    busy.requests = 5;
    // 2026-03-01T00:00Z .. 2026-03-05T00:00Z
    const std::int64_t since = 1772323200000;
    const std::int64_t until = since + 4 * 86400000LL;
    const auto days = fill_days(with_range_days({busy}, since, until));
    REQUIRE(days.size() == 4);
    CHECK(days[0].key == "2026-03-01");
    CHECK(days[0].requests == 0);
    CHECK(days[2].key == "2026-03-03");
    CHECK(days[2].requests == 5);
    CHECK(days[3].key == "2026-03-04");
}

TEST_CASE("money has one format, micro-dollars, from zero to thousands")
{
    CHECK(format_usd(0) == "$0.000000");
    CHECK(format_usd(0.00001) == "$0.000010");
    CHECK(format_usd(1234.5) == "$1234.500000");
}

TEST_CASE("model output cannot drive the terminal: control characters become visible, newlines and tabs stay")
{
    CHECK(make_printable("plain text, ünïcode 日本") == "plain text, ünïcode 日本");
    CHECK(make_printable("a\tb\nc") == "a\tb\nc");
    CHECK(make_printable("\x1b[2J\x1b]0;pwned\x07") == "^[[2J^[]0;pwned^G");
    CHECK(make_printable("over\rwrite\x7f") == "over^Mwrite^?");
    CHECK(make_printable("csi \xc2\x9b"
                         "31m") == "csi \\u009b31m");
    CHECK(make_printable("\x1b").find('\x1b') == std::string::npos);
}

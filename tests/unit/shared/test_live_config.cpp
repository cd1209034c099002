// What a reload tells apart: which keys of the file changed, and which of them wait for a
// restart; and that a config generation stays valid after the next one is published.

#include "shared/config/live_config.hpp"

#include <doctest/doctest.h>

using aigw::config::changed_keys;
using aigw::config::Config;
using aigw::config::LiveConfig;
using aigw::config::needs_restart;

TEST_CASE("changed_keys lists changed, added and removed keys by their dotted path")
{
    const std::string before =
        "[server]\nport = 4141\n[providers.openai]\nbase_url = \"http://a/v1\"\n"
        "[aliases]\nfast = \"openai/gpt-4o-mini\"\n";
    const std::string after =
        "[server]\nport = 4141\n[providers.openai]\nbase_url = \"http://b/v1\"\n"
        "[routing]\nretries = 3\n";
    CHECK(changed_keys(before, after) ==
          std::vector<std::string>{"providers.openai.base_url", "routing.retries", "aliases.fast"});
    CHECK(changed_keys(before, before).empty());
}

TEST_CASE("changed_keys quotes keys that are not bare and treats arrays and inline tables as one value")
{
    const std::string before = "[models.\"openai/gpt-4o\"]\nrpm = 10\nfallback = [\"a/b\"]\n";
    const std::string after = "[models.\"openai/gpt-4o\"]\nrpm = 20\nfallback = [\"a/b\", \"c/d\"]\n";
    CHECK(changed_keys(before, after) ==
          std::vector<std::string>{"models.\"openai/gpt-4o\".fallback", "models.\"openai/gpt-4o\".rpm"});
    // Formatting alone is no change.
    CHECK(changed_keys("[server]\nport=1\n", "[server]\n  port = 1  # same\n").empty());
}

TEST_CASE("changed_keys reads text that does not parse as an empty file")
{
    CHECK(changed_keys("[server\nport = 1", "[server]\nport = 1\n") == std::vector<std::string>{"server.port"});
}

TEST_CASE("needs_restart: the socket, the data dir, sizes fixed at open and breaker settings wait for a restart")
{
    CHECK(needs_restart("server.port"));
    CHECK(needs_restart("server.host"));
    CHECK(needs_restart("data_dir"));
    CHECK(needs_restart("ledger.retention_days"));
    CHECK(needs_restart("cache.max_mb"));
    CHECK(needs_restart("routing.circuit_failures"));
    CHECK(needs_restart("models.\"openai/gpt-4o\".rpm"));
    CHECK_FALSE(needs_restart("providers.openai.base_url"));
    CHECK_FALSE(needs_restart("aliases.fast"));
    CHECK_FALSE(needs_restart("routing.retries"));
    CHECK_FALSE(needs_restart("budget.daily_usd"));
    CHECK_FALSE(needs_restart("upstream.total_timeout_ms"));
    CHECK_FALSE(needs_restart("models.\"openai/gpt-4o\".fallback"));
}

TEST_CASE("LiveConfig: a reference to an older generation stays valid after a publish")
{
    Config first;
    first.port = 1;
    LiveConfig live(std::move(first));
    const Config& old = live.current();
    Config second;
    second.port = 2;
    live.publish(std::move(second));
    CHECK(live.current().port == 2);
    CHECK(old.port == 1);
    CHECK(live.generations() == 2);
}

// The [cache] section and the per-model cache policy keys of [models."p/m"].

#include "shared/config/config.hpp"

#include <doctest/doctest.h>

using aigw::config::parse_config;

TEST_CASE("[cache] is off by default with a one-hour TTL, 256 MB and no semantic model")
{
    auto cfg = parse_config("", "config.toml");
    REQUIRE(cfg.has_value());
    CHECK_FALSE(cfg->cache.enabled);
    CHECK(cfg->cache.ttl_s == 3600);
    CHECK(cfg->cache.max_mb == 256);
    CHECK(cfg->cache.max_entry_kb == 1024);
    CHECK(cfg->cache.semantic_threshold == doctest::Approx(0.92));
    CHECK(cfg->cache.embedding_model.empty());
    CHECK(cfg->model_cache.empty());
}

TEST_CASE("[cache] keys are read, and a bad threshold or TTL names its line")
{
    auto cfg = parse_config(R"(
[cache]
enabled = true
ttl_s = 60
max_mb = 8
max_entry_kb = 64
semantic_threshold = 0.95
embedding_model = "mock/embed"
semantic_max_entries = 500
)",
                            "config.toml");
    REQUIRE_MESSAGE(cfg.has_value(), (cfg ? "" : cfg.error()));
    CHECK(cfg->cache.enabled);
    CHECK(cfg->cache.ttl_s == 60);
    CHECK(cfg->cache.max_mb == 8);
    CHECK(cfg->cache.max_entry_kb == 64);
    CHECK(cfg->cache.semantic_threshold == doctest::Approx(0.95));
    CHECK(cfg->cache.embedding_model == "mock/embed");
    CHECK(cfg->cache.semantic_max_entries == 500);
    CHECK(cfg->warnings.empty());

    auto bad = parse_config("[cache]\nsemantic_threshold = 1.5\n", "config.toml");
    REQUIRE_FALSE(bad.has_value());
    CHECK(bad.error().find("config.toml:2") != std::string::npos);
    CHECK(bad.error().find("semantic_threshold") != std::string::npos);
    auto zero_ttl = parse_config("[cache]\nttl_s = 0\n", "config.toml");
    REQUIRE_FALSE(zero_ttl.has_value());
    CHECK(zero_ttl.error().find("ttl_s") != std::string::npos);
    auto unknown = parse_config("[cache]\nsize = 3\n", "config.toml");
    REQUIRE(unknown.has_value());
    CHECK(unknown->warnings.size() == 1);
}

TEST_CASE("a model's cache, cache_ttl_s and semantic keys become its cache policy, not catalog fields")
{
    auto cfg = parse_config(R"(
[models."openai/gpt-4o"]
cache = true
cache_ttl_s = 600
semantic = true

[models."openai/my-finetune"]
cache = false

[models."openai/gpt-4o-mini"]
input = 1
cache_ttl_s = 30
)",
                            "config.toml");
    REQUIRE_MESSAGE(cfg.has_value(), (cfg ? "" : cfg.error()));
    CHECK(cfg->warnings.empty());
    const auto& p = cfg->model_cache.at("openai/gpt-4o");
    CHECK(p.cache == true);
    CHECK(p.ttl_s == 600);
    CHECK(p.semantic);
    CHECK(cfg->model_cache.at("openai/my-finetune").cache == false);
    // A cache-only table adds no catalog entry: an unknown model stays unpriced.
    CHECK(cfg->catalog.find("openai/my-finetune") == nullptr);
    CHECK(cfg->model_cache.at("openai/gpt-4o-mini").ttl_s == 30);
    REQUIRE(cfg->catalog.find("openai/gpt-4o-mini") != nullptr);
    CHECK(cfg->catalog.find("openai/gpt-4o-mini")->price->input == doctest::Approx(1.0));
}

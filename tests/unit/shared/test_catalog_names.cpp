// Names the catalog does not list verbatim but that are priced models: dated snapshots,
// case and spacing variants, doubled slashes.

#include "shared/config/catalog.hpp"
#include "shared/config/config.hpp"

#include <doctest/doctest.h>

using namespace aigw::config;

namespace {
const Config& default_config()
{
    static const Config cfg = *parse_config("", "config.toml");
    return cfg;
}
}  // namespace

TEST_CASE("normalise_model_id trims, collapses slashes and lower-cases")
{
    CHECK(normalise_model_id("OpenAI//GPT-4o ") == "openai/gpt-4o");
    CHECK(normalise_model_id("  gemini/gemini-2.5-flash\t") == "gemini/gemini-2.5-flash");
}

TEST_CASE("strip_snapshot_suffix removes one dated or channel suffix")
{
    CHECK(strip_snapshot_suffix("gpt-4o-2024-08-06") == "gpt-4o");
    CHECK(strip_snapshot_suffix("claude-sonnet-4-5-20250929") == "claude-sonnet-4-5");
    CHECK(strip_snapshot_suffix("gemini-2.5-flash-001") == "gemini-2.5-flash");
    CHECK(strip_snapshot_suffix("gemini-2.5-flash-preview-05-20") == "gemini-2.5-flash");
    CHECK(strip_snapshot_suffix("claude-sonnet-4-5@20250929") == "claude-sonnet-4-5");
    CHECK(strip_snapshot_suffix("gpt-4-0613") == "gpt-4");
    CHECK_FALSE(strip_snapshot_suffix("llama3-70b-8192").has_value());  // a context size, not a date
    CHECK_FALSE(strip_snapshot_suffix("gpt-4o").has_value());
}

TEST_CASE("dated snapshots are priced as their family unless the catalog lists them")
{
    const Catalog& c = default_config().catalog;
    const ModelInfo* family = c.find("openai/gpt-4o");
    REQUIRE(family != nullptr);
    CHECK(c.find("openai/gpt-4o-2024-08-06") == nullptr);
    CHECK(c.find_priced("openai/gpt-4o-2024-08-06") == family);
    // Listed snapshots keep their own entry.
    const ModelInfo* listed = c.find("anthropic/claude-sonnet-4-5-20250929");
    REQUIRE(listed != nullptr);
    CHECK(c.find_priced("anthropic/claude-sonnet-4-5-20250929") == listed);
    CHECK(c.find_priced("gemini/gemini-2.5-flash-001") == c.find("gemini/gemini-2.5-flash"));
    CHECK(c.find_priced("gemini/gemini-2.5-flash-preview-05-20") == c.find("gemini/gemini-2.5-flash"));
    CHECK(c.find_priced("openai/no-such-model") == nullptr);
}

TEST_CASE("case, spacing and doubled slashes resolve to the priced model")
{
    for (const char* name : {"openai/GPT-4o", "openai/gpt-4o ", "openai//gpt-4o", "OpenAI/gpt-4o", " openai/gpt-4o"}) {
        CAPTURE(name);
        auto r = resolve_model(default_config(), name);
        REQUIRE(r.has_value());
        REQUIRE(r->info != nullptr);
        CHECK(r->info->id == "openai/gpt-4o");
        CHECK(r->id == "openai/gpt-4o");
        CHECK(r->info->price.has_value());
    }
}

TEST_CASE("a dated snapshot is called by its own name and priced as its family")
{
    auto r = resolve_model(default_config(), "openai/gpt-4o-2024-08-06");
    REQUIRE(r.has_value());
    CHECK(r->model == "gpt-4o-2024-08-06");
    REQUIRE(r->info != nullptr);
    CHECK(r->info->id == "openai/gpt-4o");
    auto bare = resolve_model(default_config(), "gpt-4o-2024-08-06");
    REQUIRE(bare.has_value());
    CHECK(bare->provider->name == "openai");
    CHECK(bare->model == "gpt-4o-2024-08-06");
    REQUIRE(bare->info != nullptr);
    CHECK(bare->info->id == "openai/gpt-4o");
}

TEST_CASE("a model name with control characters or inner spaces is a 400")
{
    for (const char* name : {"openai/gpt-4o\r\nx: y", "openai/gpt 4o", "openai/gpt-4o\x01"}) {
        auto r = resolve_model(default_config(), name);
        REQUIRE_FALSE(r.has_value());
        CHECK(r.error().status == 400);
    }
}

TEST_CASE("[limits] allow_unpriced is read and defaults to false")
{
    CHECK_FALSE(default_config().limits.allow_unpriced);
    auto cfg = parse_config("[limits]\nallow_unpriced = true\n", "config.toml");
    REQUIRE(cfg.has_value());
    CHECK(cfg->limits.allow_unpriced);
    CHECK_FALSE(parse_config("[limits]\nallow_unpriced = \"yes\"\n", "config.toml").has_value());
}

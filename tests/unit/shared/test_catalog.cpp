// The model catalog: cost arithmetic, parsing, the built-in table, bare-name lookup.

#include "shared/config/catalog.hpp"

#include <doctest/doctest.h>

#include <set>

using aigw::config::Catalog;
using aigw::config::cost_usd;
using aigw::config::ModelInfo;
using aigw::config::Price;
using aigw::wire::Usage;

namespace {

Price gpt4o_price()
{
    Price p;
    p.input = 2.5;
    p.cached_input = 1.25;
    p.output = 10;
    return p;
}

Price claude_sonnet_price()
{
    Price p;
    p.input = 3;
    p.cached_input = 0.3;
    p.cache_write = 3.75;
    p.cache_write_1h = 6;
    p.output = 15;
    p.long_context_threshold = 200'000;
    p.long_input = 6;
    p.long_cached_input = 0.6;
    p.long_cache_write = 7.5;
    p.long_cache_write_1h = 12;
    p.long_output = 22.5;
    return p;
}

Catalog parse_ok(const nlohmann::json& doc)
{
    auto c = Catalog::parse(doc);
    REQUIRE_MESSAGE(c.has_value(), (c ? "" : c.error()));
    return *c;
}

}  // namespace

TEST_CASE("cost of plain input and output tokens is priced per million")
{
    Usage u;
    u.input_tokens = 1'000'000;
    u.output_tokens = 500'000;
    CHECK(cost_usd(gpt4o_price(), u) == doctest::Approx(2.5 + 5.0));
}

TEST_CASE("cached input tokens are priced at the cache-read rate and not counted again as input")
{
    Usage u;
    u.input_tokens = 10'000;  // includes the 8000 cached
    u.cached_tokens = 8'000;
    u.output_tokens = 1'000;
    const double expected = (2'000 * 2.5 + 8'000 * 1.25 + 1'000 * 10.0) / 1e6;
    CHECK(cost_usd(gpt4o_price(), u) == doctest::Approx(expected));
}

TEST_CASE("5-minute and 1-hour cache writes use their own prices")
{
    Usage u;
    u.input_tokens = 100'000;
    u.cached_tokens = 20'000;
    u.cache_write_tokens = 30'000;
    u.cache_write_1h_tokens = 40'000;
    u.output_tokens = 2'000;
    const double expected = (10'000 * 3.0 + 20'000 * 0.3 + 30'000 * 3.75 + 40'000 * 6.0 + 2'000 * 15.0) / 1e6;
    CHECK(cost_usd(claude_sonnet_price(), u) == doctest::Approx(expected));
}

TEST_CASE("unset cache write prices fall back: 1h to 5m, 5m to input")
{
    Price p;
    p.input = 2;
    p.output = 4;
    Usage u;
    u.input_tokens = 3'000;
    u.cache_write_tokens = 1'000;
    u.cache_write_1h_tokens = 1'000;
    CHECK(cost_usd(p, u) == doctest::Approx(3'000 * 2.0 / 1e6));
    p.cache_write = 2.5;
    CHECK(cost_usd(p, u) == doctest::Approx((1'000 * 2.0 + 2'000 * 2.5) / 1e6));
}

TEST_CASE("prompts above the long-context threshold pay the long-context prices for every token")
{
    const Price p = claude_sonnet_price();
    Usage at_threshold;
    at_threshold.input_tokens = 200'000;
    at_threshold.output_tokens = 1'000;
    CHECK(cost_usd(p, at_threshold) == doctest::Approx((200'000 * 3.0 + 1'000 * 15.0) / 1e6));

    Usage above = at_threshold;
    above.input_tokens = 200'001;
    above.cached_tokens = 100'000;
    above.cache_write_tokens = 1;
    CHECK(cost_usd(p, above) == doctest::Approx((100'000 * 6.0 + 100'000 * 0.6 + 1 * 7.5 + 1'000 * 22.5) / 1e6));
}

TEST_CASE("a long-context price left at 0 falls back to the normal price")
{
    Price p = gpt4o_price();
    p.long_context_threshold = 1'000;
    p.long_input = 5;  // long output and cached input unset
    Usage u;
    u.input_tokens = 2'000;
    u.cached_tokens = 1'000;
    u.output_tokens = 1'000;
    CHECK(cost_usd(p, u) == doctest::Approx((1'000 * 5.0 + 1'000 * 1.25 + 1'000 * 10.0) / 1e6));
}

TEST_CASE("reasoning tokens are inside output tokens and are not charged twice")
{
    Usage u;
    u.input_tokens = 1'000;
    u.output_tokens = 5'000;
    u.reasoning_tokens = 4'000;
    Usage without = u;
    without.reasoning_tokens = 0;
    CHECK(cost_usd(gpt4o_price(), u) == doctest::Approx(cost_usd(gpt4o_price(), without)));
    CHECK(cost_usd(gpt4o_price(), u) == doctest::Approx((1'000 * 2.5 + 5'000 * 10.0) / 1e6));
}

TEST_CASE("cache counts larger than the prompt never make the uncached input negative")
{
    Usage u;
    u.input_tokens = 100;
    u.cached_tokens = 150;
    CHECK(cost_usd(gpt4o_price(), u) == doctest::Approx(150 * 1.25 / 1e6));
}

TEST_CASE("catalog parse errors name the bad entry and field")
{
    auto bad_price = Catalog::parse(nlohmann::json::parse(R"({"models": {
        "openai/gpt-4o": {"price": {"input": 2.5, "output": 10}},
        "acme/broken": {"price": {"input": "cheap"}}}})"));
    REQUIRE_FALSE(bad_price.has_value());
    CHECK(bad_price.error().find("acme/broken") != std::string::npos);
    CHECK(bad_price.error().find("price.input") != std::string::npos);

    auto typo = Catalog::parse(nlohmann::json::parse(R"({"models": {"acme/x": {"price": {"ouput": 1}}}})"));
    REQUIRE_FALSE(typo.has_value());
    CHECK(typo.error().find("price.ouput") != std::string::npos);

    auto no_provider = Catalog::parse(nlohmann::json::parse(R"({"models": {"gpt-4o": {}}})"));
    REQUIRE_FALSE(no_provider.has_value());
    CHECK(no_provider.error().find("'gpt-4o'") != std::string::npos);

    auto bad_mode = Catalog::parse(nlohmann::json::parse(R"({"models": {"a/b": {"mode": "image"}}})"));
    REQUIRE_FALSE(bad_mode.has_value());
    CHECK(bad_mode.error().find("mode") != std::string::npos);

    auto bad_ctx = Catalog::parse(nlohmann::json::parse(R"({"models": {"a/b": {"context_window": -1}}})"));
    REQUIRE_FALSE(bad_ctx.has_value());
    CHECK(bad_ctx.error().find("context_window") != std::string::npos);

    CHECK_FALSE(Catalog::parse(nlohmann::json::parse(R"({"version": 2, "models": {}})")).has_value());
    CHECK_FALSE(Catalog::parse(nlohmann::json::parse(R"([1, 2])")).has_value());
}

TEST_CASE("a catalog entry keeps the slashes of hosted model names after the provider")
{
    auto c = parse_ok(nlohmann::json::parse(R"({"models": {"openrouter/openai/gpt-4o-mini": {
        "context_window": 128000, "tools": true, "json": true,
        "price": {"input": 0.15, "cached_input": 0.075, "output": 0.6,
                  "long_context": {"threshold": 100000, "input": 0.3}}}}})"));
    const ModelInfo* m = c.find("openrouter/openai/gpt-4o-mini");
    REQUIRE(m != nullptr);
    CHECK(m->provider == "openrouter");
    CHECK(m->name == "openai/gpt-4o-mini");
    CHECK(m->mode == "chat");
    CHECK(m->tools);
    CHECK(m->json_mode);
    CHECK_FALSE(m->vision);
    REQUIRE(m->price.has_value());
    CHECK(m->price->output == doctest::Approx(0.6));
    CHECK(m->price->long_context_threshold == 100'000);
    CHECK(m->price->long_input == doctest::Approx(0.3));
}

TEST_CASE("an entry without a price is unpriced, not free")
{
    auto c = parse_ok(nlohmann::json::parse(R"({"models": {"vllm/qwen": {"context_window": 32768}}})"));
    REQUIRE(c.find("vllm/qwen") != nullptr);
    CHECK_FALSE(c.find("vllm/qwen")->price.has_value());
}

TEST_CASE("to_json and model_from_json round-trip an entry")
{
    const ModelInfo* m = Catalog::builtin().find("anthropic/claude-sonnet-4-5");
    REQUIRE(m != nullptr);
    auto back = aigw::config::model_from_json(m->id, aigw::config::to_json(*m));
    REQUIRE(back.has_value());
    CHECK(back->context_window == m->context_window);
    CHECK(back->reasoning == m->reasoning);
    REQUIRE(back->price.has_value());
    CHECK(*back->price == *m->price);
}

TEST_CASE("the built-in catalog parses and prices every model it lists")
{
    const Catalog& c = Catalog::builtin();
    CHECK(c.size() >= 60);
    std::set<std::string> providers;
    for (const ModelInfo* m : c.all()) {
        CAPTURE(m->id);
        providers.insert(m->provider);
        CHECK(m->id == m->provider + "/" + m->name);
        REQUIRE(m->price.has_value());
        CHECK(m->context_window > 0);
        if (m->mode == "chat") {
            CHECK(m->max_output_tokens > 0);
            // Local models are free; every hosted chat model costs something.
            if (m->provider != "ollama") {
                CHECK(m->price->input > 0);
                CHECK(m->price->output > 0);
            }
        } else {
            CHECK(m->mode == "embedding");
        }
        CHECK(m->provider != "mock");
    }
    for (const char* p : {"openai", "anthropic", "gemini", "groq", "together", "fireworks", "deepseek", "mistral",
                          "xai", "openrouter", "cerebras", "moonshot", "perplexity", "ollama"}) {
        CAPTURE(p);
        CHECK(providers.contains(p));
    }
}

TEST_CASE("built-in Anthropic prices follow the cache multipliers")
{
    for (const ModelInfo* m : Catalog::builtin().all()) {
        if (m->provider != "anthropic") {
            continue;
        }
        CAPTURE(m->id);
        const Price& p = *m->price;
        CHECK(p.cached_input == doctest::Approx(p.input * 0.1));
        CHECK(p.cache_write == doctest::Approx(p.input * 1.25));
        CHECK(p.cache_write_1h == doctest::Approx(p.input * 2));
    }
    const Price& sonnet = *Catalog::builtin().find("anthropic/claude-sonnet-4-5")->price;
    CHECK(sonnet.long_context_threshold == 200'000);
    CHECK(sonnet.long_input == doctest::Approx(6));
    CHECK(sonnet.long_output == doctest::Approx(22.5));
    const Price& gemini_pro = *Catalog::builtin().find("gemini/gemini-2.5-pro")->price;
    CHECK(gemini_pro.long_context_threshold == 200'000);
    CHECK(gemini_pro.long_input > gemini_pro.input);
}

TEST_CASE("the catalog's own example entry: openai/gpt-4o-mini")
{
    const ModelInfo* m = Catalog::builtin().find("openai/gpt-4o-mini");
    REQUIRE(m != nullptr);
    CHECK(m->context_window == 128'000);
    CHECK(m->max_output_tokens == 16'384);
    CHECK(m->price->input == doctest::Approx(0.15));
    CHECK(m->price->cached_input == doctest::Approx(0.075));
    CHECK(m->price->output == doctest::Approx(0.6));
    CHECK(Catalog::builtin().find("openai/text-embedding-3-small")->mode == "embedding");
}

TEST_CASE("find_bare prefers the model's first-party provider")
{
    const Catalog& c = Catalog::builtin();
    REQUIRE(c.find_bare("gpt-4o") != nullptr);
    CHECK(c.find_bare("gpt-4o")->id == "openai/gpt-4o");
    CHECK(c.find_bare("claude-sonnet-4-5")->id == "anthropic/claude-sonnet-4-5");
    CHECK(c.find_bare("gemini-2.5-flash")->id == "gemini/gemini-2.5-flash");
    CHECK(c.find_bare("deepseek-chat")->id == "deepseek/deepseek-chat");
    CHECK(c.find_bare("llama-3.3-70b-versatile")->id == "groq/llama-3.3-70b-versatile");
    CHECK(c.find_bare("no-such-model") == nullptr);
    // Names are matched whole: "openai/gpt-4o" is the name OpenRouter gives gpt-4o.
    REQUIRE(c.find_bare("openai/gpt-4o") != nullptr);
    CHECK(c.find_bare("openai/gpt-4o")->id == "openrouter/openai/gpt-4o");
}

TEST_CASE("find_bare ranks openai > anthropic > gemini > mistral > deepseek > xai > others")
{
    auto c = parse_ok(nlohmann::json::parse(R"({"models": {
        "zeta/shared": {}, "groq/shared": {}, "xai/shared": {}, "deepseek/shared": {},
        "mistral/shared": {}, "gemini/shared": {}, "anthropic/shared": {}, "openai/shared": {},
        "openrouter/only-here": {}, "groq/only-here": {}}})"));
    CHECK(c.find_bare("shared")->provider == "openai");
    const char* order[] = {"openai", "anthropic", "gemini", "mistral", "deepseek", "xai"};
    Catalog shrinking = c;
    for (const char* p : order) {
        Catalog next;
        for (const ModelInfo* m : shrinking.all()) {
            if (m->provider != p) {
                next.upsert(*m);
            }
        }
        CAPTURE(p);
        CHECK(shrinking.find_bare("shared")->provider == p);
        shrinking = next;
    }
    // Among the rest: resellers before aggregators, then id order.
    CHECK(shrinking.find_bare("shared")->provider == "groq");
    CHECK(c.find_bare("only-here")->provider == "groq");
}

TEST_CASE("merge patches only the fields the extra entry names, and adds new models")
{
    Catalog base = Catalog::builtin();
    auto extra = parse_ok(nlohmann::json::parse(R"({"models": {
        "openai/gpt-4o": {"price": {"input": 2.0}, "context_window": 64000},
        "vllm/qwen": {"price": {"input": 0, "cached_input": 0, "output": 0}}}})"));
    base.merge(extra);
    const ModelInfo* m = base.find("openai/gpt-4o");
    REQUIRE(m != nullptr);
    CHECK(m->price->input == doctest::Approx(2.0));
    CHECK(m->price->output == doctest::Approx(10.0));        // kept
    CHECK(m->price->cached_input == doctest::Approx(1.25));  // kept
    CHECK(m->context_window == 64'000);
    CHECK(m->vision);  // kept
    REQUIRE(base.find("vllm/qwen") != nullptr);
    CHECK(base.find("vllm/qwen")->price->output == 0);
    CHECK(base.size() == Catalog::builtin().size() + 1);
}

TEST_CASE("upsert replaces a model whole and fills provider and name from the id")
{
    Catalog c;
    ModelInfo m;
    m.id = "acme/model/v1";
    m.context_window = 10;
    c.upsert(m);
    REQUIRE(c.find("acme/model/v1") != nullptr);
    CHECK(c.find("acme/model/v1")->provider == "acme");
    CHECK(c.find("acme/model/v1")->name == "model/v1");
    CHECK(c.find_bare("model/v1") != nullptr);
}

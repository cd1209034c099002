// Model resolution (provider/model, aliases, bare names) and provider key lookup.

#include "shared/config/config.hpp"

#include <doctest/doctest.h>

#include <cstdlib>
#include <map>

namespace fs = std::filesystem;
using aigw::config::Config;
using aigw::config::resolve_model;

namespace {

Config config_from(std::string_view text)
{
    auto cfg = aigw::config::parse_config(text, "config.toml");
    REQUIRE_MESSAGE(cfg.has_value(), (cfg ? "" : cfg.error()));
    return *cfg;
}

const Config& default_config()
{
    static const Config cfg = *aigw::config::parse_config("", "config.toml");
    return cfg;
}

aigw::config::Env fake_env(std::map<std::string, std::string> vars)
{
    return [vars = std::move(vars)](std::string_view name) -> std::optional<std::string> {
        auto it = vars.find(std::string(name));
        return it == vars.end() ? std::nullopt : std::optional<std::string>(it->second);
    };
}

void check_not_found(const std::expected<aigw::config::ResolvedModel, aigw::wire::Failure>& r,
                     std::string_view requested)
{
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().status == 404);
    CHECK(r.error().kind == aigw::wire::FailureKind::not_found);
    CHECK(r.error().code == "model_not_found");
    CHECK(r.error().message.find(std::string(requested)) != std::string::npos);
}

}  // namespace

TEST_CASE("provider/model resolves to that provider with the catalog entry")
{
    auto r = resolve_model(default_config(), "openai/gpt-4o-mini");
    REQUIRE(r.has_value());
    REQUIRE(r->provider != nullptr);
    CHECK(r->provider->name == "openai");
    CHECK(r->model == "gpt-4o-mini");
    CHECK(r->id == "openai/gpt-4o-mini");
    REQUIRE(r->info != nullptr);
    CHECK(r->info->id == "openai/gpt-4o-mini");
}

TEST_CASE("an unknown model of a known provider resolves unpriced")
{
    auto r = resolve_model(default_config(), "ollama/my-finetune:latest");
    REQUIRE(r.has_value());
    CHECK(r->provider->name == "ollama");
    CHECK(r->model == "my-finetune:latest");
    CHECK(r->info == nullptr);

    auto mock = resolve_model(default_config(), "mock/echo");
    REQUIRE(mock.has_value());
    CHECK(mock->provider->wire == aigw::config::WireFormat::mock);
    CHECK(mock->model == "echo");
    CHECK(mock->info == nullptr);
}

TEST_CASE("the model part after the provider may itself contain slashes")
{
    auto r = resolve_model(default_config(), "openrouter/openai/gpt-4o-mini");
    REQUIRE(r.has_value());
    CHECK(r->provider->name == "openrouter");
    CHECK(r->model == "openai/gpt-4o-mini");
    CHECK(r->id == "openrouter/openai/gpt-4o-mini");
    REQUIRE(r->info != nullptr);
    CHECK(r->info->provider == "openrouter");

    auto groq = resolve_model(default_config(), "groq/openai/gpt-oss-120b");
    REQUIRE(groq.has_value());
    CHECK(groq->model == "openai/gpt-oss-120b");
    REQUIRE(groq->info != nullptr);
}

TEST_CASE("a slashed name whose prefix is not a provider is looked up as a hosted model name")
{
    auto r = resolve_model(default_config(), "meta-llama/llama-4-scout-17b-16e-instruct");
    REQUIRE(r.has_value());
    CHECK(r->provider->name == "groq");
    CHECK(r->model == "meta-llama/llama-4-scout-17b-16e-instruct");
    CHECK(r->id == "groq/meta-llama/llama-4-scout-17b-16e-instruct");
    REQUIRE(r->info != nullptr);

    check_not_found(resolve_model(default_config(), "acme/model-x"), "acme/model-x");
}

TEST_CASE("a bare name resolves through the catalog to its first-party provider")
{
    auto gpt = resolve_model(default_config(), "gpt-4o");
    REQUIRE(gpt.has_value());
    CHECK(gpt->provider->name == "openai");
    CHECK(gpt->model == "gpt-4o");
    CHECK(gpt->id == "openai/gpt-4o");
    CHECK(gpt->info == default_config().catalog.find("openai/gpt-4o"));

    auto claude = resolve_model(default_config(), "claude-sonnet-4-5");
    REQUIRE(claude.has_value());
    CHECK(claude->provider->name == "anthropic");
    CHECK(claude->provider->wire == aigw::config::WireFormat::anthropic);
}

TEST_CASE("an unknown bare name of no family is 404 model_not_found in the OpenAI error shape")
{
    auto r = resolve_model(default_config(), "nosuch-17");
    check_not_found(r, "nosuch-17");
    CHECK(r.error().param == "model");
    auto body = aigw::wire::to_openai_error(r.error());
    CHECK(body["error"]["code"] == "model_not_found");
    CHECK(body["error"]["type"] == "invalid_request_error");
}

TEST_CASE("a provider prefix with nothing after it is not a model")
{
    check_not_found(resolve_model(default_config(), "openai/"), "openai/");
}

TEST_CASE("an empty model is a 400 naming the model parameter")
{
    auto r = resolve_model(default_config(), "");
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().status == 400);
    CHECK(r.error().kind == aigw::wire::FailureKind::bad_request);
    CHECK(r.error().param == "model");
    CHECK(r.error().message == "you must provide a model parameter");
}

TEST_CASE("aliases resolve to their target, through chains and onto bare names")
{
    Config cfg = config_from(R"(
[aliases]
fast = "groq/llama-3.3-70b-versatile"
quick = "fast"
smart = "claude-sonnet-4-5"
gpt-4o = "openrouter/openai/gpt-4o"
broken = "nowhere/model"
)");
    auto fast = resolve_model(cfg, "fast");
    REQUIRE(fast.has_value());
    CHECK(fast->provider->name == "groq");
    CHECK(fast->model == "llama-3.3-70b-versatile");
    CHECK(fast->id == "groq/llama-3.3-70b-versatile");
    REQUIRE(fast->info != nullptr);

    auto quick = resolve_model(cfg, "quick");
    REQUIRE(quick.has_value());
    CHECK(quick->id == "groq/llama-3.3-70b-versatile");

    auto smart = resolve_model(cfg, "smart");
    REQUIRE(smart.has_value());
    CHECK(smart->id == "anthropic/claude-sonnet-4-5");

    // An alias may shadow a catalog name.
    auto shadow = resolve_model(cfg, "gpt-4o");
    REQUIRE(shadow.has_value());
    CHECK(shadow->provider->name == "openrouter");

    check_not_found(resolve_model(cfg, "broken"), "broken");
}

TEST_CASE("models of a custom provider resolve with their configured prices")
{
    Config cfg = config_from(R"(
[providers.vllm]
base_url = "http://127.0.0.1:8000/v1"
[models."vllm/Qwen/Qwen2.5-Coder-32B"]
input = 0.1
output = 0.2
)");
    auto r = resolve_model(cfg, "vllm/Qwen/Qwen2.5-Coder-32B");
    REQUIRE(r.has_value());
    CHECK(r->provider->name == "vllm");
    CHECK(r->provider->base_url == "http://127.0.0.1:8000/v1");
    CHECK(r->model == "Qwen/Qwen2.5-Coder-32B");
    REQUIRE(r->info != nullptr);
    CHECK(r->info->price->output == doctest::Approx(0.2));

    // Its bare name resolves too, since only vllm lists it.
    auto bare = resolve_model(cfg, "Qwen/Qwen2.5-Coder-32B");
    REQUIRE(bare.has_value());
    CHECK(bare->provider->name == "vllm");
}

TEST_CASE("provider_key prefers the environment, then the provider-keys file")
{
    std::string templ = (fs::temp_directory_path() / "aigw-keys-test-XXXXXX").string();
    REQUIRE(::mkdtemp(templ.data()) != nullptr);
    const fs::path dir = templ;
    Config cfg = default_config();
    cfg.data_dir = dir;
    const auto& openai = cfg.providers.at("openai");
    const auto& groq = cfg.providers.at("groq");
    const auto& ollama = cfg.providers.at("ollama");

    CHECK(aigw::config::provider_key(cfg, openai, fake_env({})).empty());  // no file yet

    aigw::config::write_private_file(aigw::config::provider_keys_file(dir),
                                     R"({"openai": "sk-file", "groq": "gsk-file", "ollama": 3})");
    CHECK(aigw::config::provider_key(cfg, openai, fake_env({})) == "sk-file");
    CHECK(aigw::config::provider_key(cfg, openai, fake_env({{"OPENAI_API_KEY", "sk-env"}})) == "sk-env");
    CHECK(aigw::config::provider_key(cfg, openai, fake_env({{"OPENAI_API_KEY", ""}})) == "sk-file");
    CHECK(aigw::config::provider_key(cfg, groq, fake_env({{"OPENAI_API_KEY", "sk-env"}})) == "gsk-file");
    CHECK(aigw::config::provider_key(cfg, ollama, fake_env({})).empty());  // not a string

    // Read on every call: a key set later is seen.
    aigw::config::write_private_file(aigw::config::provider_keys_file(dir), R"({"openai": "sk-new"})");
    CHECK(aigw::config::provider_key(cfg, openai, fake_env({})) == "sk-new");

    aigw::config::write_private_file(aigw::config::provider_keys_file(dir), "not json");
    CHECK(aigw::config::provider_key(cfg, openai, fake_env({})).empty());

    std::error_code ec;
    fs::remove_all(dir, ec);
}

TEST_CASE("a bare name the catalog does not know goes to its family's provider, unpriced")
{
    auto cfg = default_config();
    auto gpt = resolve_model(cfg, "gpt-17");
    REQUIRE(gpt.has_value());
    CHECK(gpt->provider->name == "openai");
    CHECK(gpt->id == "openai/gpt-17");
    CHECK(gpt->model == "gpt-17");
    CHECK(gpt->info == nullptr);
    auto claude = resolve_model(cfg, "claude-opus-9-9");
    REQUIRE(claude.has_value());
    CHECK(claude->provider->name == "anthropic");
    auto o7 = resolve_model(cfg, "o7-mini");
    REQUIRE(o7.has_value());
    CHECK(o7->provider->name == "openai");
    auto gemini = resolve_model(cfg, "Gemini-9-Pro");
    REQUIRE(gemini.has_value());
    CHECK(gemini->provider->name == "gemini");
    CHECK(gemini->model == "Gemini-9-Pro");  // the case goes upstream as sent
    check_not_found(resolve_model(cfg, "gptx"), "gptx");
}

TEST_CASE("Claude Code's bracketed context suffix is not part of the model name")
{
    auto r = resolve_model(default_config(), "claude-opus-9-9[1m]");
    REQUIRE(r.has_value());
    CHECK(r->provider->name == "anthropic");
    CHECK(r->model == "claude-opus-9-9");
    auto slashed = resolve_model(default_config(), "anthropic/claude-opus-9-9[1m]");
    REQUIRE(slashed.has_value());
    CHECK(slashed->model == "claude-opus-9-9");
}

TEST_CASE("[model_families] overrides, adds and turns off families")
{
    auto cfg = aigw::config::parse_config(R"([model_families]
"gpt-*" = "groq"
"qwen*" = "together"
"claude-*" = ""
)",
                                          "test.toml");
    REQUIRE(cfg.has_value());
    auto gpt = resolve_model(*cfg, "gpt-17");
    REQUIRE(gpt.has_value());
    CHECK(gpt->provider->name == "groq");
    auto qwen = resolve_model(*cfg, "qwen3-coder");
    REQUIRE(qwen.has_value());
    CHECK(qwen->provider->name == "together");
    check_not_found(resolve_model(*cfg, "claude-opus-9-9"), "claude-opus-9-9");
    // The longest prefix wins over a shorter built-in one.
    auto longer = aigw::config::parse_config("[model_families]\n\"gpt-oss*\" = \"groq\"\n", "test.toml");
    REQUIRE(longer.has_value());
    CHECK(resolve_model(*longer, "gpt-oss-999")->provider->name == "groq");
    CHECK(resolve_model(*longer, "gpt-17")->provider->name == "openai");

    auto bad = aigw::config::parse_config("[model_families]\n\"foo-*\" = \"nosuch\"\n", "test.toml");
    REQUIRE_FALSE(bad.has_value());
    CHECK(bad.error().find("test.toml:2") != std::string::npos);
    CHECK(bad.error().find("nosuch") != std::string::npos);
}

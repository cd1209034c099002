// Config file parsing, environment overrides, paths and private files.

#include "shared/config/config.hpp"
#include "shared/config/live_config.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <map>

#include <sys/stat.h>
#include <unistd.h>

namespace fs = std::filesystem;
using aigw::config::Config;
using aigw::config::Env;
using aigw::config::parse_config;
using aigw::config::WireFormat;

namespace {

Env fake_env(std::map<std::string, std::string> vars)
{
    return [vars = std::move(vars)](std::string_view name) -> std::optional<std::string> {
        auto it = vars.find(std::string(name));
        if (it == vars.end()) {
            return std::nullopt;
        }
        return it->second;
    };
}

Config parse_ok(std::string_view text)
{
    auto cfg = parse_config(text, "config.toml");
    REQUIRE_MESSAGE(cfg.has_value(), (cfg ? "" : cfg.error()));
    return *cfg;
}

std::string parse_error(std::string_view text)
{
    auto cfg = parse_config(text, "config.toml");
    REQUIRE_FALSE(cfg.has_value());
    return cfg.error();
}

/// A fresh directory under $TMPDIR, removed at the end of the test.
struct TempDir {
    fs::path path;
    TempDir()
    {
        std::string templ = (fs::temp_directory_path() / "aigw-config-test-XXXXXX").string();
        REQUIRE(::mkdtemp(templ.data()) != nullptr);
        path = templ;
    }
    ~TempDir()
    {
        std::error_code ec;
        fs::remove_all(path, ec);
    }
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;
};

unsigned mode_of(const fs::path& p)
{
    struct stat st {};
    REQUIRE(::stat(p.c_str(), &st) == 0);
    return st.st_mode & 07777;
}

void write_text(const fs::path& p, std::string_view text)
{
    std::ofstream out(p, std::ios::binary);
    out << text;
}

}  // namespace

TEST_CASE("an empty config gives the documented defaults and every preset provider")
{
    Config cfg = parse_ok("");
    CHECK(cfg.host == "127.0.0.1");
    CHECK(cfg.port == 4141);
    CHECK(cfg.threads == 0);
    CHECK(cfg.keep_alive_max == 10000);
    CHECK(cfg.connect_timeout_ms == 10'000);
    CHECK(cfg.read_timeout_ms == 600'000);
    CHECK(cfg.retention_days == 90);
    CHECK_FALSE(cfg.log_bodies);
    CHECK(cfg.warnings.empty());
    CHECK(cfg.aliases.empty());
    CHECK(cfg.providers.size() == aigw::config::builtin_providers().size());
    CHECK(cfg.providers.at("openai").base_url == "https://api.openai.com/v1");
    CHECK(cfg.catalog.size() == aigw::config::Catalog::builtin().size());
}

TEST_CASE("every section of the config file is read")
{
    Config cfg = parse_ok(R"(
[server]
host = "0.0.0.0"
port = 5151
threads = 8
keep_alive_max = 50

[upstream]
connect_timeout_ms = 2000
read_timeout_ms = 30000

[ledger]
retention_days = 7
log_bodies = true

[providers.ollama]
base_url = "http://gpu-box:11434/v1/"

[providers.vllm]
type = "openai"
base_url = "http://127.0.0.1:8000/v1"
api_key_env = "VLLM_API_KEY"

[providers.lmstudio]
base_url = "http://127.0.0.1:1234/v1"

[aliases]
fast = "groq/llama-3.3-70b-versatile"

[models."openai/gpt-4o"]
input = 2
cached_input = 1.0
output = 8
context_window = 64000

[models."vllm/qwen2.5-coder"]
input = 0
cached_input = 0
output = 0
context_window = 32768
tools = true
)");
    CHECK(cfg.warnings.empty());
    CHECK(cfg.host == "0.0.0.0");
    CHECK(cfg.port == 5151);
    CHECK(cfg.threads == 8);
    CHECK(cfg.keep_alive_max == 50);
    CHECK(cfg.connect_timeout_ms == 2000);
    CHECK(cfg.read_timeout_ms == 30000);
    CHECK(cfg.retention_days == 7);
    CHECK(cfg.log_bodies);

    // Preset override keeps the rest of the preset; the trailing slash is stripped.
    const auto& ollama = cfg.providers.at("ollama");
    CHECK(ollama.base_url == "http://gpu-box:11434/v1");
    CHECK(ollama.wire == WireFormat::openai);
    CHECK_FALSE(ollama.key_required);

    const auto& vllm = cfg.providers.at("vllm");
    CHECK(vllm.name == "vllm");
    CHECK(vllm.wire == WireFormat::openai);
    CHECK(vllm.base_url == "http://127.0.0.1:8000/v1");
    CHECK(vllm.key_env == "VLLM_API_KEY");
    CHECK(vllm.key_required);

    const auto& lmstudio = cfg.providers.at("lmstudio");
    CHECK(lmstudio.key_env.empty());
    CHECK_FALSE(lmstudio.key_required);

    CHECK(cfg.aliases.at("fast") == "groq/llama-3.3-70b-versatile");

    const auto* gpt4o = cfg.catalog.find("openai/gpt-4o");
    REQUIRE(gpt4o != nullptr);
    CHECK(gpt4o->price->input == doctest::Approx(2.0));
    CHECK(gpt4o->price->output == doctest::Approx(8.0));
    CHECK(gpt4o->context_window == 64000);
    CHECK(gpt4o->max_output_tokens == 16384);  // kept from the built-in catalog
    const auto* qwen = cfg.catalog.find("vllm/qwen2.5-coder");
    REQUIRE(qwen != nullptr);
    CHECK(qwen->tools);
    CHECK(qwen->price->output == 0);
}

TEST_CASE("a custom provider can speak the anthropic or gemini wire format")
{
    Config cfg = parse_ok(R"(
[providers.claude-proxy]
type = "anthropic"
base_url = "https://proxy.example/v1"
api_key_env = "PROXY_KEY"
)");
    CHECK(cfg.providers.at("claude-proxy").wire == WireFormat::anthropic);
    CHECK(parse_error("[providers.x]\ntype = \"soap\"\nbase_url = \"http://h\"\n").find("config.toml:2:") == 0);
}

TEST_CASE("the option keys adapters read (api_version, region, ...) become provider options, not warnings")
{
    Config cfg = parse_ok(R"(
[providers.azure]
base_url = "https://res.openai.azure.com/openai"
api_version = "2025-04-01-preview"

[providers.bedrock]
region = "eu-west-1"

[providers.azure-eu]
type = "azure"
base_url = "https://res-eu.openai.azure.com/openai"
api_version = "v1"
api_key_env = "AZURE_EU_KEY"
)");
    CHECK(cfg.warnings.empty());
    const auto& azure = cfg.providers.at("azure");
    CHECK(azure.wire == WireFormat::azure);
    CHECK(azure.base_url == "https://res.openai.azure.com/openai");
    CHECK(azure.options.at("api_version") == "2025-04-01-preview");
    CHECK(azure.key_env == "AZURE_OPENAI_API_KEY");
    CHECK(cfg.providers.at("bedrock").options.at("region") == "eu-west-1");
    const auto& eu = cfg.providers.at("azure-eu");
    CHECK(eu.wire == WireFormat::azure);
    CHECK(eu.options.at("api_version") == "v1");
    CHECK_FALSE(eu.options.contains("base_url"));  // known keys are not options
    CHECK_FALSE(eu.options.contains("type"));

    // A non-string unknown key is still only a warning.
    Config odd = parse_ok("[providers.cohere]\ntimeout = 5\n");
    REQUIRE(odd.warnings.size() == 1);
    CHECK(odd.warnings[0] == "config.toml:2: unknown key 'timeout' in [providers.cohere]");
    CHECK(odd.providers.at("cohere").options.empty());

    // Any other key, a typo of base_url included, is an unknown key (a warning), not an option.
    Config typo = parse_ok("[providers.openai]\nbase_urll = \"http://x\"\n");
    REQUIRE(typo.warnings.size() == 1);
    CHECK(typo.warnings[0] == "config.toml:2: unknown key 'base_urll' in [providers.openai]");
    CHECK(typo.providers.at("openai").options.empty());
}

TEST_CASE("a custom provider can speak the azure, cohere or bedrock wire format")
{
    Config cfg = parse_ok("[providers.co]\ntype = \"cohere\"\nbase_url = \"https://proxy.example/v2\"\n");
    CHECK(cfg.providers.at("co").wire == WireFormat::cohere);
    std::string err = parse_error("[providers.x]\ntype = \"soap\"\nbase_url = \"http://h\"\n");
    CHECK(err.find("\"azure\"") != std::string::npos);
    CHECK(err.find("\"soap\"") != std::string::npos);
}

TEST_CASE("AZURE_OPENAI_ENDPOINT gives the azure provider its endpoint when nothing else does")
{
    TempDir tmp;
    const fs::path config = tmp.path / "config.toml";
    std::map<std::string, std::string> vars = {
        {"AIGW_CONFIG", config.string()},
        {"AIGW_DATA_DIR", (tmp.path / "data").string()},
        {"AZURE_OPENAI_ENDPOINT", "https://res.openai.azure.com/"},
    };
    auto cfg = aigw::config::load_config(fake_env(vars));
    REQUIRE(cfg.has_value());
    CHECK(cfg->providers.at("azure").base_url == "https://res.openai.azure.com/openai");

    // Already ending in /openai: kept as is.
    vars["AZURE_OPENAI_ENDPOINT"] = "https://res.openai.azure.com/openai";
    cfg = aigw::config::load_config(fake_env(vars));
    REQUIRE(cfg.has_value());
    CHECK(cfg->providers.at("azure").base_url == "https://res.openai.azure.com/openai");

    // The config file wins over Azure's shared variable...
    write_text(config, "[providers.azure]\nbase_url = \"https://file.openai.azure.com/openai\"\n");
    cfg = aigw::config::load_config(fake_env(vars));
    REQUIRE(cfg.has_value());
    CHECK(cfg->providers.at("azure").base_url == "https://file.openai.azure.com/openai");

    // ...and AIGW_AZURE_BASE_URL wins over both.
    vars["AIGW_AZURE_BASE_URL"] = "http://127.0.0.1:9000/openai/";
    cfg = aigw::config::load_config(fake_env(vars));
    REQUIRE(cfg.has_value());
    CHECK(cfg->providers.at("azure").base_url == "http://127.0.0.1:9000/openai");
}

TEST_CASE("a custom provider without base_url is an error naming the section")
{
    std::string err = parse_error("\n[providers.vllm]\ntype = \"openai\"\n");
    CHECK(err.find("config.toml:2") == 0);
    CHECK(err.find("[providers.vllm]") != std::string::npos);
    CHECK(err.find("base_url") != std::string::npos);
    CHECK(parse_error("[providers.vllm]\nbase_url = \"127.0.0.1:8000\"\n").find("http://") != std::string::npos);
}

TEST_CASE("an unknown key is a warning naming the file, line and section, not an error")
{
    Config cfg = parse_ok("[server]\nport = 4242\n\nfoo = 1\n[ledger]\nretain = 3\n[weird]\nx = 1\n");
    CHECK(cfg.port == 4242);
    REQUIRE(cfg.warnings.size() == 3);
    auto has = [&cfg](std::string_view w) {
        return std::find(cfg.warnings.begin(), cfg.warnings.end(), w) != cfg.warnings.end();
    };
    CHECK(has("config.toml:4: unknown key 'foo' in [server]"));
    CHECK(has("config.toml:6: unknown key 'retain' in [ledger]"));
    CHECK(has("config.toml:7: unknown section [weird]"));

    Config model_cfg = parse_ok("[models.\"openai/gpt-4o\"]\ninput = 1\nprice_in = 2\n");
    REQUIRE(model_cfg.warnings.size() == 1);
    CHECK(model_cfg.warnings[0] == "config.toml:3: unknown key 'price_in' in [models.\"openai/gpt-4o\"]");
}

TEST_CASE("a value of the wrong type is an error naming the file and line")
{
    std::string err = parse_error("[server]\nhost = \"::1\"\nport = \"x\"\n");
    CHECK(err.find("config.toml:3:") == 0);
    CHECK(err.find("port") != std::string::npos);
    CHECK(err.find("string") != std::string::npos);

    CHECK(parse_error("[server]\nport = 70000\n").find("config.toml:2:") == 0);
    CHECK(parse_error("[ledger]\nlog_bodies = 1\n").find("config.toml:2:") == 0);
    CHECK(parse_error("[upstream]\n\nread_timeout_ms = 0\n").find("config.toml:3:") == 0);
    CHECK(parse_error("server = 1\n").find("config.toml:1:") == 0);
    CHECK(parse_error("[aliases]\nfast = 3\n").find("config.toml:2:") == 0);
    CHECK(parse_error("[models.\"openai/gpt-4o\"]\n\ninput = \"cheap\"\n").find("config.toml:3:") == 0);
    CHECK(parse_error("[models.\"openai/gpt-4o\"]\ninput = -1\n").find("config.toml:2:") == 0);
    CHECK(parse_error("[models.gpt-4o]\ninput = 1\n").find("provider/model") != std::string::npos);
}

TEST_CASE("a TOML syntax error names the file, line and column")
{
    std::string err = parse_error("[server]\nport = = 3\n");
    CHECK(err.find("config.toml:2:") == 0);
}

TEST_CASE("an alias that loops is an error")
{
    std::string err = parse_error("[aliases]\na = \"b\"\nb = \"a\"\n");
    CHECK(err.find("loops") != std::string::npos);
    CHECK(err.find("config.toml:") == 0);
}

TEST_CASE("a model override for an unknown provider is a warning")
{
    Config cfg = parse_ok("[models.\"nowhere/m\"]\ninput = 1\noutput = 1\n");
    REQUIRE(cfg.warnings.size() == 1);
    CHECK(cfg.warnings[0].find("nowhere") != std::string::npos);
}

TEST_CASE("load_config reads the file named by AIGW_CONFIG and applies the environment")
{
    TempDir tmp;
    const fs::path config = tmp.path / "custom.toml";
    write_text(config, "[server]\nport = 6000\n[providers.vllm]\nbase_url = \"http://10.0.0.1:8000/v1\"\n");
    auto env = fake_env({
        {"AIGW_CONFIG", config.string()},
        {"AIGW_DATA_DIR", (tmp.path / "data").string()},
        {"AIGW_OPENAI_BASE_URL", "http://127.0.0.1:9000/v1/"},
        {"AIGW_VLLM_BASE_URL", "http://127.0.0.1:9001/v1"},
        {"AIGW_ANTHROPIC_BASE_URL", ""},  // empty: ignored
    });
    auto cfg = aigw::config::load_config(env);
    REQUIRE_MESSAGE(cfg.has_value(), (cfg ? "" : cfg.error()));
    CHECK(cfg->config_path == config);
    CHECK(cfg->port == 6000);
    CHECK(cfg->data_dir == tmp.path / "data");
    CHECK(cfg->providers.at("openai").base_url == "http://127.0.0.1:9000/v1");
    CHECK(cfg->providers.at("vllm").base_url == "http://127.0.0.1:9001/v1");
    CHECK(cfg->providers.at("anthropic").base_url == "https://api.anthropic.com/v1");
    CHECK_FALSE(fs::exists(tmp.path / "data"));  // loading never creates anything

    // --data-dir wins over the environment.
    auto overridden = aigw::config::load_config(env, tmp.path / "flag");
    REQUIRE(overridden.has_value());
    CHECK(overridden->data_dir == tmp.path / "flag");
}

TEST_CASE("load_config without a config file is the zero-config case and creates nothing")
{
    TempDir tmp;
    auto env = fake_env({{"HOME", tmp.path.string()}});
    auto cfg = aigw::config::load_config(env);
    REQUIRE(cfg.has_value());
    CHECK(cfg->config_path == tmp.path / ".config" / "aigw" / "config.toml");
    CHECK(cfg->data_dir == tmp.path / ".local" / "share" / "aigw");
    CHECK(cfg->port == 4141);
    CHECK(fs::is_empty(tmp.path));
}

TEST_CASE("load_config reports a bad file with its path and line")
{
    TempDir tmp;
    const fs::path config = tmp.path / "config.toml";
    write_text(config, "[server]\nport = \"x\"\n");
    auto cfg = aigw::config::load_config(fake_env({{"AIGW_CONFIG", config.string()}, {"HOME", tmp.path.string()}}));
    REQUIRE_FALSE(cfg.has_value());
    CHECK(cfg.error().find(config.string() + ":2:") == 0);
}

TEST_CASE("data_dir in the config file is used when neither flag nor env sets one")
{
    TempDir tmp;
    const fs::path config = tmp.path / "config.toml";
    write_text(config, "data_dir = \"state\"\n");
    auto cfg = aigw::config::load_config(fake_env({{"AIGW_CONFIG", config.string()}, {"HOME", tmp.path.string()}}));
    REQUIRE(cfg.has_value());
    CHECK(cfg->data_dir == tmp.path / "state");

    write_text(config, "data_dir = \"~/aigw-data\"\n");
    cfg = aigw::config::load_config(fake_env({{"AIGW_CONFIG", config.string()}, {"HOME", "/home/u"}}));
    REQUIRE(cfg.has_value());
    CHECK(cfg->data_dir == fs::path("/home/u/aigw-data"));
}

TEST_CASE("default paths follow AIGW_*, then XDG, then HOME")
{
    using aigw::config::default_config_path;
    using aigw::config::default_data_dir;
    auto home_only = fake_env({{"HOME", "/home/u"}});
    CHECK(default_data_dir(home_only) == fs::path("/home/u/.local/share/aigw"));
    CHECK(default_config_path(home_only) == fs::path("/home/u/.config/aigw/config.toml"));

    auto xdg = fake_env({{"HOME", "/home/u"}, {"XDG_DATA_HOME", "/xdg/data"}, {"XDG_CONFIG_HOME", "/xdg/config"}});
    CHECK(default_data_dir(xdg) == fs::path("/xdg/data/aigw"));
    CHECK(default_config_path(xdg) == fs::path("/xdg/config/aigw/config.toml"));

    // Relative XDG paths are invalid per the spec and ignored.
    auto relative_xdg = fake_env({{"HOME", "/home/u"}, {"XDG_DATA_HOME", "rel"}});
    CHECK(default_data_dir(relative_xdg) == fs::path("/home/u/.local/share/aigw"));

    auto explicit_env = fake_env({{"HOME", "/home/u"},
                                  {"XDG_DATA_HOME", "/xdg/data"},
                                  {"AIGW_DATA_DIR", "/srv/aigw"},
                                  {"AIGW_CONFIG", "/etc/aigw.toml"}});
    CHECK(default_data_dir(explicit_env) == fs::path("/srv/aigw"));
    CHECK(default_config_path(explicit_env) == fs::path("/etc/aigw.toml"));

    CHECK(aigw::config::state_file("/d") == fs::path("/d/aigwd.json"));
    CHECK(aigw::config::provider_keys_file("/d") == fs::path("/d/provider-keys.json"));
}

TEST_CASE("process_env reads the real environment")
{
    ::setenv("AIGW_TEST_CONFIG_VAR", "value", 1);
    auto env = aigw::config::process_env();
    CHECK(env("AIGW_TEST_CONFIG_VAR") == std::optional<std::string>("value"));
    ::unsetenv("AIGW_TEST_CONFIG_VAR");
    CHECK_FALSE(env("AIGW_TEST_CONFIG_VAR").has_value());
}

TEST_CASE("write_private_file writes atomically with mode 0600 and replaces old content")
{
    TempDir tmp;
    const fs::path file = tmp.path / "gateway.key";
    aigw::config::write_private_file(file, "first");
    CHECK(mode_of(file) == 0600);
    CHECK(aigw::config::read_file(file) == std::optional<std::string>("first"));

    fs::permissions(file,
                    fs::perms::owner_read | fs::perms::owner_write | fs::perms::group_read | fs::perms::others_read);
    aigw::config::write_private_file(file, std::string("second\0with nul", 15));
    CHECK(mode_of(file) == 0600);
    CHECK(aigw::config::read_file(file) == std::optional<std::string>(std::string("second\0with nul", 15)));
    // No temporary file is left behind.
    CHECK(std::distance(fs::directory_iterator(tmp.path), fs::directory_iterator()) == 1);

    CHECK_THROWS(aigw::config::write_private_file(tmp.path / "missing-dir" / "f", "x"));
}

TEST_CASE("ensure_private_dir creates parents and makes the leaf 0700")
{
    TempDir tmp;
    const fs::path dir = tmp.path / "a" / "b";
    aigw::config::ensure_private_dir(dir);
    CHECK(fs::is_directory(dir));
    CHECK(mode_of(dir) == 0700);
    fs::permissions(dir, fs::perms::all);
    aigw::config::ensure_private_dir(dir);  // existing: tightened again
    CHECK(mode_of(dir) == 0700);
}

TEST_CASE("read_file returns nullopt for missing files and directories")
{
    TempDir tmp;
    CHECK_FALSE(aigw::config::read_file(tmp.path / "nope").has_value());
    CHECK_FALSE(aigw::config::read_file(tmp.path).has_value());
    write_text(tmp.path / "empty", "");
    CHECK(aigw::config::read_file(tmp.path / "empty") == std::optional<std::string>(""));
}

TEST_CASE("base_url_env_name upper-cases and replaces non-alphanumerics")
{
    CHECK(aigw::config::base_url_env_name("openai") == "AIGW_OPENAI_BASE_URL");
    CHECK(aigw::config::base_url_env_name("open-router") == "AIGW_OPEN_ROUTER_BASE_URL");
    CHECK(aigw::config::base_url_env_name("lm.studio2") == "AIGW_LM_STUDIO2_BASE_URL");
}

TEST_CASE("the preset providers have their real endpoints and key variables")
{
    std::map<std::string, aigw::config::ProviderSpec> by_name;
    for (const auto& p : aigw::config::builtin_providers()) {
        CHECK_FALSE(p.base_url.ends_with("/"));
        CHECK_FALSE(p.display_name.empty());
        by_name[p.name] = p;
    }
    CHECK(by_name.size() == 18);
    CHECK(by_name.at("groq").base_url == "https://api.groq.com/openai/v1");
    CHECK(by_name.at("groq").key_env == "GROQ_API_KEY");
    CHECK(by_name.at("perplexity").base_url == "https://api.perplexity.ai");
    CHECK(by_name.at("anthropic").wire == WireFormat::anthropic);
    CHECK(by_name.at("gemini").wire == WireFormat::gemini);
    CHECK(by_name.at("gemini").key_env == "GEMINI_API_KEY");
    CHECK(by_name.at("ollama").key_env.empty());
    CHECK_FALSE(by_name.at("ollama").key_required);
    CHECK(by_name.at("azure").wire == WireFormat::azure);
    CHECK(by_name.at("azure").base_url.empty());  // per resource: the user must configure it
    CHECK(by_name.at("azure").key_env == "AZURE_OPENAI_API_KEY");
    CHECK(by_name.at("cohere").wire == WireFormat::cohere);
    CHECK(by_name.at("cohere").base_url == "https://api.cohere.com/v2");
    CHECK(by_name.at("cohere").key_env == "COHERE_API_KEY");
    CHECK(by_name.at("bedrock").wire == WireFormat::bedrock);
    CHECK(by_name.at("bedrock").base_url.empty());  // computed from the region
    CHECK(by_name.at("bedrock").key_env == "AWS_ACCESS_KEY_ID");
    CHECK(by_name.at("mock").wire == WireFormat::mock);
    CHECK(by_name.at("mock").base_url.empty());
    CHECK_FALSE(by_name.at("mock").key_required);
    for (auto w : {WireFormat::openai, WireFormat::anthropic, WireFormat::gemini, WireFormat::azure,
                   WireFormat::bedrock, WireFormat::cohere, WireFormat::mock}) {
        CHECK(aigw::config::wire_format_from_string(aigw::config::to_string(w)) == w);
    }
    CHECK_FALSE(aigw::config::wire_format_from_string("soap").has_value());
}

TEST_CASE("per-model rpm/tpm and the [budget] section are read; limits alone leave the catalog entry as it is")
{
    const Config base = parse_ok("");
    const Config cfg = parse_ok(R"(
[models."openai/gpt-4o"]
rpm = 100
tpm = 50000
[models."openai/gpt-4o-mini"]
output = 0.7
rpm = 5
[models."mock/echo"]
rpm = 2
[budget]
daily_usd = 5
monthly_usd = 50.5
alert_at = 0.9
)");
    CHECK(cfg.warnings.empty());
    CHECK(cfg.model_policies.at("openai/gpt-4o").rpm == 100);
    CHECK(cfg.model_policies.at("openai/gpt-4o").tpm == 50000);
    CHECK(cfg.model_policies.at("openai/gpt-4o-mini").rpm == 5);
    CHECK(cfg.model_policies.at("mock/echo").rpm == 2);
    CHECK(cfg.budget.daily_usd == doctest::Approx(5.0));
    CHECK(cfg.budget.monthly_usd == doctest::Approx(50.5));
    CHECK(cfg.budget.alert_at == doctest::Approx(0.9));
    // Prices still come from the catalog (and the one override), and mock/echo gets no entry.
    CHECK(cfg.catalog.find("openai/gpt-4o")->price->input == base.catalog.find("openai/gpt-4o")->price->input);
    CHECK(cfg.catalog.find("openai/gpt-4o-mini")->price->output == doctest::Approx(0.7));
    CHECK(cfg.catalog.find("mock/echo") == nullptr);
}

TEST_CASE("limits and budgets of the wrong type or range are errors naming the line")
{
    CHECK(parse_error("[models.\"openai/gpt-4o\"]\nrpm = -1\n").find("config.toml:2") != std::string::npos);
    CHECK(parse_error("[models.\"openai/gpt-4o\"]\ntpm = \"lots\"\n").find("tpm") != std::string::npos);
    CHECK(parse_error("[budget]\ndaily_usd = \"5\"\n").find("daily_usd") != std::string::npos);
    CHECK(parse_error("[budget]\nalert_at = 1.5\n").find("alert_at") != std::string::npos);
    const Config cfg = parse_ok("[budget]\nweekly_usd = 3\n");
    REQUIRE(cfg.warnings.size() == 1);
    CHECK(cfg.warnings[0].find("weekly_usd") != std::string::npos);
}

TEST_CASE("[server] metrics_token is read, and a token too short to be a secret is an error")
{
    CHECK(parse_ok("").metrics_token.empty());
    CHECK(parse_ok("[server]\nmetrics_token = \"0123456789abcdef0123\"\n").metrics_token == "0123456789abcdef0123");
    const std::string err = parse_error("[server]\nmetrics_token = \"short\"\n");
    CHECK(err.find("metrics_token") != std::string::npos);
    CHECK(err.find("16 characters") != std::string::npos);
    CHECK(parse_error("[server]\nmetrics_token = 42\n").find("must be a string") != std::string::npos);
}

TEST_CASE("[log] format and requests are read, checked with file:line, and AIGW_LOG_FORMAT beats the file")
{
    const Config defaults = parse_ok("");
    CHECK(defaults.log_format == aigw::config::LogFormat::text);
    CHECK_FALSE(defaults.access_log_on());  // text: off unless asked
    CHECK(parse_ok("[log]\nformat = \"json\"\n").access_log_on());
    CHECK(parse_ok("[log]\nrequests = true\n").access_log_on());

    const Config json = parse_ok("[log]\nformat = \"json\"\nrequests = false\n");
    CHECK(json.log_format == aigw::config::LogFormat::json);
    CHECK_FALSE(json.access_log_on());
    CHECK(json.warnings.empty());

    const std::string bad = parse_error("\n[log]\nformat = \"yaml\"\n");
    CHECK(bad.find("config.toml:3") != std::string::npos);
    CHECK(bad.find("\"text\" or \"json\"") != std::string::npos);
    CHECK(parse_error("[log]\nrequests = \"yes\"\n").find("config.toml:2") != std::string::npos);

    const Config typo = parse_ok("[log]\nformt = \"json\"\n");
    REQUIRE(typo.warnings.size() == 1);
    CHECK(typo.warnings[0].find("unknown key 'formt' in [log]") != std::string::npos);

    TempDir tmp;
    const fs::path config = tmp.path / "config.toml";
    write_text(config, "[log]\nformat = \"text\"\n");
    std::map<std::string, std::string> vars = {
        {"AIGW_CONFIG", config.string()}, {"AIGW_DATA_DIR", (tmp.path / "data").string()}, {"AIGW_LOG_FORMAT", "JSON"}};
    auto cfg = aigw::config::load_config(fake_env(vars));
    REQUIRE(cfg.has_value());
    CHECK(cfg->log_format == aigw::config::LogFormat::json);
    vars["AIGW_LOG_FORMAT"] = "xml";
    cfg = aigw::config::load_config(fake_env(vars));
    REQUIRE_FALSE(cfg.has_value());
    CHECK(cfg.error().find("AIGW_LOG_FORMAT") != std::string::npos);

    // A reload applies [log] at once: the logger reads it per line.
    CHECK_FALSE(aigw::config::needs_restart("log.format"));
    CHECK_FALSE(aigw::config::needs_restart("log.requests"));
}

TEST_CASE("[otel] reads endpoint, headers, service name and sample ratio; traces go to {endpoint}/v1/traces")
{
    Config cfg = parse_ok(
        "[otel]\nendpoint = \"http://127.0.0.1:4318/\"\nservice_name = \"gw-eu\"\nsample_ratio = 0.5\n"
        "headers = { authorization = \"Bearer abc\", \"x-tenant\" = \"t1\" }\n");
    CHECK(cfg.otel.endpoint == "http://127.0.0.1:4318");
    CHECK(cfg.otel.traces_url() == "http://127.0.0.1:4318/v1/traces");
    CHECK(cfg.otel.service_name == "gw-eu");
    CHECK(cfg.otel.sample_ratio == 0.5);
    CHECK(cfg.otel.headers.at("authorization") == "Bearer abc");
    CHECK(cfg.otel.headers.at("x-tenant") == "t1");
    CHECK(parse_ok("").otel.traces_url().empty());  // no endpoint: nothing exported
    CHECK(parse_ok("[otel]\ntraces_endpoint = \"https://c.example/custom\"\n").otel.traces_url() ==
          "https://c.example/custom");
}

TEST_CASE("[otel] errors name the file and line; unknown keys are warnings")
{
    CHECK(
        parse_error("[otel]\nendpoint = \"127.0.0.1:4318\"\n").find("config.toml:2: [otel] endpoint must be an http") !=
        std::string::npos);
    CHECK(parse_error("[otel]\n\nsample_ratio = 2\n").find("config.toml:3:") != std::string::npos);
    CHECK(parse_error("[otel]\nheaders = \"x\"\n").find("must be a table of strings") != std::string::npos);
    CHECK(parse_error("[otel]\nheaders = { \"bad name\" = \"v\" }\n").find("not a valid HTTP header") !=
          std::string::npos);
    Config cfg = parse_ok("[otel]\nendpont = \"http://x\"\n");
    REQUIRE(cfg.warnings.size() == 1);
    CHECK(cfg.warnings[0].find("unknown key 'endpont' in [otel]") != std::string::npos);
}

TEST_CASE("the OTEL_* variables fill in what [otel] leaves out, as the OTel SDKs read them")
{
    TempDir tmp;
    const fs::path config = tmp.path / "config.toml";
    std::map<std::string, std::string> vars = {
        {"AIGW_CONFIG", config.string()},
        {"AIGW_DATA_DIR", (tmp.path / "data").string()},
        {"OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318/"},
        {"OTEL_EXPORTER_OTLP_HEADERS", "api-key=s%3Dcret, x-team = ml"},
        {"OTEL_SERVICE_NAME", "gw-env"},
    };
    auto cfg = aigw::config::load_config(fake_env(vars));
    REQUIRE(cfg.has_value());
    CHECK(cfg->otel.traces_url() == "http://collector:4318/v1/traces");
    CHECK(cfg->otel.headers.at("api-key") == "s=cret");
    CHECK(cfg->otel.headers.at("x-team") == "ml");
    CHECK(cfg->otel.service_name == "gw-env");

    // The traces variable is a whole URL, used as is.
    vars["OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"] = "http://collector:4318/custom/traces";
    cfg = aigw::config::load_config(fake_env(vars));
    REQUIRE(cfg.has_value());
    CHECK(cfg->otel.traces_url() == "http://collector:4318/custom/traces");

    // The file wins over the shared variables.
    write_text(config, "[otel]\nendpoint = \"http://file:4318\"\nheaders = { api-key = \"file\" }\n");
    cfg = aigw::config::load_config(fake_env(vars));
    REQUIRE(cfg.has_value());
    CHECK(cfg->otel.traces_url() == "http://file:4318/v1/traces");
    CHECK(cfg->otel.headers.at("api-key") == "file");

    // OTEL_SDK_DISABLED turns export off whatever else says.
    vars["OTEL_SDK_DISABLED"] = "true";
    cfg = aigw::config::load_config(fake_env(vars));
    REQUIRE(cfg.has_value());
    CHECK(cfg->otel.traces_url().empty());
}

TEST_CASE("[cluster] redis_url, postgres_url and redis_down are read and checked with file:line")
{
    const Config local = parse_ok("");
    CHECK(local.cluster.redis_url.empty());
    CHECK(local.cluster.postgres_url.empty());
    CHECK(local.cluster.redis_down == aigw::config::ClusterConfig::RedisDown::local);

    const Config team = parse_ok(
        "[cluster]\nredis_url = \"redis://:pw@10.0.0.5:6379/1\"\n"
        "postgres_url = \"postgresql://aigw@10.0.0.6/aigw\"\nredis_down = \"refuse\"\n");
    CHECK(team.cluster.redis_url == "redis://:pw@10.0.0.5:6379/1");
    CHECK(team.cluster.postgres_url == "postgresql://aigw@10.0.0.6/aigw");
    CHECK(team.cluster.redis_down == aigw::config::ClusterConfig::RedisDown::refuse);
    CHECK(team.warnings.empty());

    CHECK(parse_error("[cluster]\n\nredis_url = \"http://x\"\n").find("config.toml:3") != std::string::npos);
    CHECK(parse_error("[cluster]\nredis_down = \"maybe\"\n").find("\"local\" or \"refuse\"") != std::string::npos);
    CHECK(parse_error("[cluster]\npostgres_url = \"mysql://x\"\n").find("postgresql://") != std::string::npos);
    const Config typo = parse_ok("[cluster]\nredis_ur = \"redis://x\"\n");
    REQUIRE(typo.warnings.size() == 1);
    CHECK(typo.warnings[0].find("unknown key 'redis_ur' in [cluster]") != std::string::npos);
}

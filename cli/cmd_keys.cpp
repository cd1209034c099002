// aigw keys: provider keys (set|unset, stored 0600 in the data dir, never from argv) and
// the gateway's virtual keys (create|show|revoke, through the daemon's admin API). `list`
// shows both: the provider keys from this machine, the virtual keys from the daemon.

#include "cli/cmd_keys.hpp"

#include "cli/app.hpp"
#include "cli/cmd_cost.hpp"
#include "cli/term.hpp"

#include <charconv>
#include <ctime>
#include <iostream>
#include <memory>

namespace aigw::cli {

std::string mask_key(std::string_view key)
{
    if (key.size() < 12) {
        return "****";
    }
    std::string prefix;
    if (auto dash = key.find('-'); dash != std::string_view::npos && dash <= 4) {
        prefix = std::string(key.substr(0, dash + 1));
    }
    return prefix + "..." + std::string(key.substr(key.size() - 4));
}

namespace {

std::optional<double> parse_number(std::string_view s)
{
    double v = 0;
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec != std::errc() || p != s.data() + s.size()) {
        return std::nullopt;
    }
    return v;
}

}  // namespace

std::expected<BudgetSpec, std::string> parse_budget(std::string_view text)
{
    const std::string bad =
        "'" + std::string(text) + "' is not a budget; use USD/day or USD/month, e.g. 5/day or 50/month";
    const auto slash = text.find('/');
    if (slash == std::string_view::npos) {
        return std::unexpected(bad);
    }
    std::string_view amount = text.substr(0, slash);
    const std::string_view period = text.substr(slash + 1);
    if (amount.starts_with('$')) {
        amount.remove_prefix(1);
    }
    auto usd = parse_number(amount);
    if (!usd || !(*usd > 0)) {
        return std::unexpected(bad);
    }
    if (period == "day" || period == "d" || period == "daily") {
        return BudgetSpec{*usd, "day"};
    }
    if (period == "month" || period == "mo" || period == "monthly") {
        return BudgetSpec{*usd, "month"};
    }
    return std::unexpected(bad);
}

std::expected<std::int64_t, std::string> parse_expiry(std::string_view text, std::chrono::system_clock::time_point now)
{
    const std::string bad =
        "'" + std::string(text) + "' is not an expiry; use YYYY-MM-DD, 30d, 12h or epoch milliseconds";
    const auto now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count();
    if (text.size() >= 2 && (text.back() == 'd' || text.back() == 'h')) {
        std::int64_t n = 0;
        const auto digits = text.substr(0, text.size() - 1);
        auto [p, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), n);
        if (ec != std::errc() || p != digits.data() + digits.size() || n <= 0) {
            return std::unexpected(bad);
        }
        return now_ms + n * (text.back() == 'd' ? 86'400'000 : 3'600'000);
    }
    if (text.size() == 10 && text[4] == '-' && text[7] == '-') {
        // The key works through the whole named day: it expires at the next local midnight.
        auto end = parse_time_spec(text, TimeEdge::until, now);
        if (!end) {
            return std::unexpected(bad);
        }
        return *end;
    }
    std::int64_t ms = 0;
    auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), ms);
    if (ec == std::errc() && p == text.data() + text.size() && ms > 0) {
        return ms;
    }
    return std::unexpected(bad);
}

namespace {

struct KeysOptions {
    std::string provider;
    bool json = false;
    bool csv = false;
    bool names = false;  ///< `keys list --names`: the providers that take a key, for completion
    // virtual keys
    std::string id_or_name;
    std::string name;
    std::int64_t rpm = 0;
    std::int64_t tpm = 0;
    std::string budget;
    std::vector<std::string> models;
    std::string expires;
};

nlohmann::json read_keys_file(const std::filesystem::path& path)
{
    auto text = config::read_file(path);
    if (!text) {
        return nlohmann::json::object();
    }
    auto doc = nlohmann::json::parse(*text, nullptr, false);
    if (!doc.is_object()) {
        throw std::runtime_error(path.string() + " is not a JSON object; fix or delete it, then run this again");
    }
    return doc;
}

const config::ProviderSpec* find_provider(Context& ctx, const std::string& name)
{
    const auto& providers = ctx.config().providers;
    auto it = providers.find(name);
    return it == providers.end() ? nullptr : &it->second;
}

std::string provider_names(Context& ctx)
{
    std::string out;
    for (const auto& [name, spec] : ctx.config().providers) {
        if (spec.key_required) {
            out += (out.empty() ? "" : ", ") + name;
        }
    }
    return out;
}

// Tells a running daemon to re-read the keys; never starts one for this.
void reload_if_running(Context& ctx)
{
    client::ConnectOptions o = ctx.connect_options();
    o.allow_spawn = false;
    auto found = client::locate_daemon(o);
    if (!found) {
        return;
    }
    client::DaemonClient c(found->endpoint, client::gateway_key(ctx.env, o.data_dir));
    if (auto r = c.reload(); !r) {
        // The daemon re-reads the keys even when its config file has errors.
        std::cerr << "aigw: warning: aigwd did not reload its config: " << client::describe(r.error())
                  << "\n  the keys were re-read if it answered; fix the config and run 'aigw daemon reload'\n";
    } else {
        std::cerr << "aigwd reloaded\n";
    }
}

int run_set(Context& ctx, const KeysOptions& o)
{
    const auto* spec = find_provider(ctx, o.provider);
    if (spec == nullptr) {
        return fail("unknown provider '" + o.provider + "'; known: " + provider_names(ctx));
    }
    auto key = read_secret("API key for " + o.provider + " (input hidden): ");
    if (!key || key->empty()) {
        return fail("no key read; type or paste it when asked, or pipe it: echo \"$KEY\" | aigw keys set " +
                    o.provider);
    }
    const auto dir = ctx.data_dir();
    config::ensure_private_dir(dir);
    const auto path = config::provider_keys_file(dir);
    nlohmann::json doc = read_keys_file(path);
    doc[o.provider] = *key;
    config::write_private_file(path, doc.dump(2) + "\n");
    std::cerr << "stored the " << o.provider << " key (" << mask_key(*key) << ") in " << path.string() << '\n';
    if (!spec->key_env.empty()) {
        if (auto env_key = ctx.env(spec->key_env); env_key && !env_key->empty()) {
            std::cerr << "aigw: note: " << spec->key_env << " is set in the environment and takes precedence\n";
        }
    }
    reload_if_running(ctx);
    return 0;
}

int run_unset(Context& ctx, const KeysOptions& o)
{
    const auto path = config::provider_keys_file(ctx.data_dir());
    nlohmann::json doc = read_keys_file(path);
    if (!doc.contains(o.provider)) {
        std::cerr << "no stored key for " << o.provider << " in " << path.string() << '\n';
        return 0;
    }
    doc.erase(o.provider);
    config::write_private_file(path, doc.dump(2) + "\n");
    std::cerr << "removed the " << o.provider << " key from " << path.string() << '\n';
    if (const auto* spec = find_provider(ctx, o.provider); spec != nullptr && !spec->key_env.empty()) {
        if (auto env_key = ctx.env(spec->key_env); env_key && !env_key->empty()) {
            std::cerr << "aigw: note: " << spec->key_env << " is still set in the environment\n";
        }
    }
    reload_if_running(ctx);
    return 0;
}

std::string date_of(std::int64_t ms)
{
    return ms <= 0 ? std::string("never") : format_local_time(ms, "%Y-%m-%d %H:%M");
}

std::string budget_of(const client::VirtualKeyInfo& k)
{
    return k.budget_usd ? format_usd(*k.budget_usd) + "/" + k.budget_period : std::string("-");
}

/// What counts against the key's budget: this UTC day or month (today when it has none).
double spent_of(const client::VirtualKeyInfo& k)
{
    return k.budget_period == "month" ? k.spent_month_usd : k.spent_day_usd;
}

std::string limit_of(std::int64_t n)
{
    return n > 0 ? group_thousands(n) : std::string("-");
}

std::string models_of(const client::VirtualKeyInfo& k)
{
    std::string out;
    for (const auto& m : k.models) {
        out += (out.empty() ? "" : ",") + m;
    }
    return out.empty() ? std::string("*") : out;
}

/// The provider keys: which are set and where they come from (this machine, no daemon).
nlohmann::json provider_keys(Context& ctx, Table& t, bool colour)
{
    const auto path = config::provider_keys_file(ctx.data_dir());
    const nlohmann::json doc = read_keys_file(path);
    nlohmann::json out = nlohmann::json::array();
    for (const auto& [name, spec] : ctx.config().providers) {
        if (!spec.key_required && spec.key_env.empty()) {
            continue;  // ollama, mock: nothing to set
        }
        std::string source = "none";
        std::string key;
        if (!spec.key_env.empty()) {
            if (auto v = ctx.env(spec.key_env); v && !v->empty()) {
                source = "env";
                key = *v;
            }
        }
        if (key.empty()) {
            if (auto it = doc.find(name); it != doc.end() && it->is_string() && !it->get<std::string>().empty()) {
                source = "file";
                key = it->get<std::string>();
            }
        }
        const std::string masked = key.empty() ? std::string("-") : mask_key(key);
        out.push_back({{"provider", name},
                       {"source", source},
                       {"env", spec.key_env},
                       {"key", key.empty() ? nlohmann::json() : nlohmann::json(masked)}});
        std::string shown_source = source == "env" ? "env " + spec.key_env : source;
        t.add_row({name, source == "none" ? paint(shown_source, Colour::dim, colour) : shown_source, masked});
    }
    return out;
}

void print_virtual_keys(const std::vector<client::VirtualKeyInfo>& keys, bool colour)
{
    Table t({"ID", "NAME", "STATUS", "RPM", "TPM", "BUDGET", "SPENT", "MODELS", "EXPIRES"},
            {Align::left, Align::left, Align::left, Align::right, Align::right, Align::right, Align::right, Align::left,
             Align::left});
    for (const auto& k : keys) {
        const std::string status =
            k.status == "active" ? paint(k.status, Colour::green, colour) : paint(k.status, Colour::dim, colour);
        t.add_row({k.id, k.name, status, limit_of(k.rpm), limit_of(k.tpm), budget_of(k), format_usd(spent_of(k)),
                   models_of(k), date_of(k.expires_ms)});
    }
    t.print(std::cout, colour);
}

// `keys list`: both kinds. The provider table comes from this machine; the virtual keys from
// the daemon (started if needed). When the daemon cannot be asked, the provider keys are
// still printed, with a warning and exit code 1.
int run_list(Context& ctx, const KeysOptions& o)
{
    if (o.names) {
        // The shells complete `keys set` from this: built-in and config-defined providers,
        // without asking (or starting) the daemon.
        for (const auto& [name, spec] : ctx.config().providers) {
            if (spec.key_required || !spec.key_env.empty()) {
                std::cout << name << '\n';
            }
        }
        return 0;
    }
    const bool colour = colour_enabled(1);
    Table providers({"PROVIDER", "SOURCE", "KEY"});
    const nlohmann::json provider_json = provider_keys(ctx, providers, colour);
    std::optional<client::ClientError> error;
    std::vector<client::VirtualKeyInfo> keys;
    if (auto c = ctx.client(); !c) {
        error = c.error();
    } else if (auto listed = (*c)->list_keys(); !listed) {
        error = listed.error();
    } else {
        keys = std::move(*listed);
    }
    if (o.csv) {
        // One CSV for both kinds, a `kind` column apart; empty cells where a kind has no value.
        Table t({"KIND", "NAME", "ID", "STATUS", "SOURCE", "KEY", "RPM", "TPM", "BUDGET USD", "BUDGET PERIOD",
                 "SPENT USD", "MODELS", "EXPIRES"});
        for (const auto& p : provider_json) {
            const std::string source = p.value("source", "none");
            t.add_row({"provider", p.value("provider", ""), "", source == "none" ? "unset" : "set",
                       source == "env" ? "env " + p.value("env", "") : source,
                       p["key"].is_string() ? p["key"].get<std::string>() : ""});
        }
        for (const auto& k : keys) {
            auto number = [](std::int64_t n) { return n > 0 ? std::to_string(n) : std::string(); };
            t.add_row({"virtual", k.name, k.id, k.status, "", "", number(k.rpm), number(k.tpm),
                       k.budget_usd ? format_fixed(*k.budget_usd, 6) : "", k.budget_usd ? k.budget_period : "",
                       format_fixed(spent_of(k), 6), models_of(k), k.expires_ms > 0 ? date_of(k.expires_ms) : ""});
        }
        t.print_csv(std::cout);
    } else if (o.json) {
        nlohmann::json virtual_json = nlohmann::json::array();
        for (const auto& k : keys) {
            virtual_json.push_back(k.raw);
        }
        std::cout << nlohmann::json{{"keys", provider_json},
                                    {"file", config::provider_keys_file(ctx.data_dir()).string()},
                                    {"virtual_keys", error ? nlohmann::json() : virtual_json}}
                         .dump(2)
                  << '\n';
    } else {
        std::cout << paint("Provider keys", Colour::bold, colour) << '\n';
        providers.print(std::cout, colour);
        std::cout << '\n' << paint("Virtual keys", Colour::bold, colour) << '\n';
        if (!error && keys.empty()) {
            std::cout << "none; create one with 'aigw keys create --name NAME'\n";
        } else if (!error) {
            print_virtual_keys(keys, colour);
        }
    }
    if (error) {
        std::cerr << "aigw: cannot list the virtual keys: " << client::describe(*error) << '\n';
        return k_exit_error;
    }
    return 0;
}

int run_create(Context& ctx, const KeysOptions& o)
{
    client::NewVirtualKey spec;
    spec.name = o.name;
    spec.rpm = o.rpm;
    spec.tpm = o.tpm;
    spec.models = o.models;
    if (!o.budget.empty()) {
        auto b = parse_budget(o.budget);
        if (!b) {
            std::cerr << "aigw keys create: --budget " << b.error() << '\n';
            return k_exit_usage;
        }
        spec.budget_usd = b->usd;
        spec.budget_period = b->period;
    }
    if (!o.expires.empty()) {
        auto e = parse_expiry(o.expires, std::chrono::system_clock::now());
        if (!e) {
            std::cerr << "aigw keys create: --expires " << e.error() << '\n';
            return k_exit_usage;
        }
        spec.expires_ms = *e;
    }
    auto c = ctx.client();
    if (!c) {
        return fail(c.error());
    }
    auto created = (*c)->create_key(spec);
    if (!created) {
        return fail(created.error());
    }
    const auto& k = created->info;
    if (o.json) {
        nlohmann::json j = k.raw;
        j["key"] = created->secret;
        std::cout << j.dump(2) << '\n';
    } else {
        // stdout is the key alone, so KEY=$(aigw keys create --name ci) works.
        std::cout << created->secret << '\n';
    }
    std::cerr << "created virtual key '" << k.name << "' (" << k.id << "): rpm " << limit_of(k.rpm) << ", tpm "
              << limit_of(k.tpm) << ", budget " << budget_of(k) << ", models " << models_of(k) << ", expires "
              << date_of(k.expires_ms) << "\n"
              << "the key is shown only this once; only its hash is stored\n";
    return 0;
}

int run_show(Context& ctx, const KeysOptions& o)
{
    auto c = ctx.client();
    if (!c) {
        return fail(c.error());
    }
    auto k = (*c)->show_key(o.id_or_name);
    if (!k) {
        auto e = k.error();
        if (e.status == 404 && e.hint.empty()) {
            e.hint = "'aigw keys list' shows the virtual keys";
        }
        return fail(e);
    }
    if (o.json) {
        std::cout << k->raw.dump(2) << '\n';
        return 0;
    }
    const bool colour = colour_enabled(1);
    Table t({"FIELD", "VALUE"});
    t.add_row({"id", k->id});
    t.add_row({"name", k->name});
    t.add_row({"status", k->status});
    t.add_row({"rpm", limit_of(k->rpm)});
    t.add_row({"tpm", limit_of(k->tpm)});
    t.add_row({"budget", budget_of(*k)});
    t.add_row({"spent today (UTC)", format_usd(k->spent_day_usd)});
    t.add_row({"spent this month (UTC)", format_usd(k->spent_month_usd)});
    t.add_row({"models", models_of(*k)});
    t.add_row({"created", date_of(k->created_ms)});
    t.add_row({"expires", date_of(k->expires_ms)});
    if (k->revoked_ms > 0) {
        t.add_row({"revoked", date_of(k->revoked_ms)});
    }
    t.print(std::cout, colour);
    return 0;
}

int run_revoke(Context& ctx, const KeysOptions& o)
{
    auto c = ctx.client();
    if (!c) {
        return fail(c.error());
    }
    auto k = (*c)->revoke_key(o.id_or_name);
    if (!k) {
        auto e = k.error();
        if (e.status == 404 && e.hint.empty()) {
            e.hint = "'aigw keys list' shows the virtual keys";
        }
        return fail(e);
    }
    if (o.json) {
        std::cout << k->raw.dump(2) << '\n';
    } else {
        std::cout << "revoked " << k->id << " (" << k->name << ")\n";
    }
    return 0;
}

}  // namespace

void add_keys_command(CLI::App& app, Context& ctx)
{
    auto o = std::make_shared<KeysOptions>();
    auto* cmd = app.add_subcommand("keys", "Manage provider API keys and the gateway's virtual keys");
    cmd->require_subcommand(1);
    auto* set = cmd->add_subcommand("set", "Store a provider key, read from the terminal (hidden) or stdin");
    set->add_option("provider", o->provider, "Provider name, e.g. openai")->required();
    set->callback([&ctx, o] { ctx.action = [&ctx, o] { return run_set(ctx, *o); }; });
    auto* list = cmd->add_subcommand("list", "Show the provider keys (and where they come from) and the virtual keys");
    auto* list_json = list->add_flag("--json", o->json, "Print JSON");
    auto* list_csv =
        list->add_flag("--csv", o->csv, "Print CSV, both kinds in one table (a kind column)")->excludes(list_json);
    list->add_flag("--names", o->names, "Print only the names of the providers that take a key (for shell completion)")
        ->excludes(list_json)
        ->excludes(list_csv);
    list->callback([&ctx, o] { ctx.action = [&ctx, o] { return run_list(ctx, *o); }; });
    auto* unset = cmd->add_subcommand("unset", "Remove a stored provider key");
    unset->add_option("provider", o->provider, "Provider name")->required();
    unset->callback([&ctx, o] { ctx.action = [&ctx, o] { return run_unset(ctx, *o); }; });

    auto* create = cmd->add_subcommand("create", "Create a virtual key with its own limits; prints it once");
    create->add_option("--name", o->name, "Name of the key (letters, digits, . _ -)")->required();
    create->add_option("--rpm", o->rpm, "Requests per minute (default: no limit)")->check(CLI::NonNegativeNumber);
    create->add_option("--tpm", o->tpm, "Tokens per minute (default: no limit)")->check(CLI::NonNegativeNumber);
    create->add_option("--budget", o->budget, "Spend limit: USD/day or USD/month (UTC), e.g. 5/day");
    create->add_option("--models", o->models,
                       "Allowed models, glob patterns, e.g. 'openai/*' mock/echo (default: all)");
    create->add_option("--expires", o->expires, "Expiry: YYYY-MM-DD (through that day), 30d, 12h");
    create->add_flag("--json", o->json, "Print {id, name, key, ...} as JSON");
    create->callback([&ctx, o] { ctx.action = [&ctx, o] { return run_create(ctx, *o); }; });
    auto* show = cmd->add_subcommand("show", "Show a virtual key, its limits and its spend");
    show->add_option("key", o->id_or_name, "Key id (vk_...) or name")->required();
    show->add_flag("--json", o->json, "Print JSON");
    show->callback([&ctx, o] { ctx.action = [&ctx, o] { return run_show(ctx, *o); }; });
    auto* revoke = cmd->add_subcommand("revoke", "Revoke a virtual key (it answers 401 from now on)");
    revoke->add_option("key", o->id_or_name, "Key id (vk_...) or name")->required();
    revoke->add_flag("--json", o->json, "Print JSON");
    revoke->callback([&ctx, o] { ctx.action = [&ctx, o] { return run_revoke(ctx, *o); }; });
}

}  // namespace aigw::cli

// aigw models: the catalog as the daemon sees it, with prices and whether a key is set,
// the model used when none is given, and the config's aliases and logical models.

#include "cli/app.hpp"
#include "cli/cmd_run.hpp"
#include "cli/term.hpp"

#include <algorithm>
#include <iostream>
#include <memory>
#include <set>

namespace aigw::cli {
namespace {

using std::chrono::milliseconds;

struct ModelsOptions {
    bool json = false;
    bool csv = false;
    bool names = false;
    bool all = false;
};

bool shown_by_default(const client::ModelRow& m)
{
    if (m.provider == "mock") {
        return true;
    }
    return (m.mode == "chat" || m.mode == "embedding") && m.key_present;
}

/// One model name a line, for shell completion: the running daemon's models (never starts
/// one), else the catalog; aliases and logical models of the config either way.
int print_names(Context& ctx)
{
    std::set<std::string> names;
    client::ConnectOptions co = ctx.connect_options();
    co.allow_spawn = false;
    if (auto found = client::locate_daemon(co)) {
        client::DaemonClient c(found->endpoint, client::gateway_key(ctx.env, co.data_dir));
        if (auto rows = c.models()) {
            for (const auto& m : *rows) {
                names.insert(m.id);
            }
        }
    }
    const auto& cfg = ctx.config();
    if (names.empty()) {
        for (const auto* m : cfg.catalog.all()) {
            names.insert(m->id);
        }
    }
    for (const auto& [name, target] : cfg.aliases) {
        names.insert(name);
    }
    for (const auto& [name, routing] : cfg.model_routing) {
        names.insert(name);
    }
    for (const auto& n : names) {
        std::cout << n << '\n';
    }
    return 0;
}

/// Providers that need no key (ollama, a local server) whose server does not answer: their
/// models cannot be used, so they are not shown as having a key.
std::set<std::string, std::less<>> silent_keyless_providers(client::DaemonClient& c,
                                                            const std::vector<client::ModelRow>& rows)
{
    std::set<std::string, std::less<>> out;
    auto st = c.status();
    if (!st) {
        return out;
    }
    for (const auto& p : st->providers) {
        const bool listed =
            std::any_of(rows.begin(), rows.end(), [&](const auto& m) { return m.provider == p.name && m.key_present; });
        if (listed && !p.key_required && p.wire != "mock" && !p.base_url.empty() &&
            !client::server_answers(p.base_url, milliseconds(1000))) {
            out.insert(p.name);
        }
    }
    return out;
}

/// The name a model string ends at: "fast" -> "groq/llama-3.3-70b-versatile" through
/// aliases; itself when it is a logical model or does not resolve.
std::string resolved_id(const config::Config& cfg, const std::string& name)
{
    if (cfg.model_routing.contains(name) && !cfg.model_routing.at(name).deployments.empty()) {
        return name;
    }
    auto r = config::resolve_model(cfg, name);
    return r ? r->id : name;
}

std::string join(const std::vector<config::WeightedModel>& models)
{
    std::string out;
    for (const auto& m : models) {
        out += (out.empty() ? "" : ", ") + m.model;
        if (m.weight != 1) {
            out += " (" + format_fixed(m.weight, m.weight == static_cast<int>(m.weight) ? 0 : 2) + ")";
        }
    }
    return out;
}

std::string join(const std::vector<std::string>& names)
{
    std::string out;
    for (const auto& n : names) {
        out += (out.empty() ? "" : ", ") + n;
    }
    return out;
}

int run_models(Context& ctx, const ModelsOptions& o)
{
    if (o.names) {
        return print_names(ctx);
    }
    auto client = ctx.client();
    if (!client) {
        return fail(client.error());
    }
    auto rows = (*client)->models();
    if (!rows) {
        return fail(rows.error());
    }
    const auto silent = silent_keyless_providers(**client, *rows);
    for (auto& m : *rows) {
        if (silent.contains(m.provider)) {
            m.key_present = false;
            m.raw["key_present"] = false;
            m.raw["reachable"] = false;
        }
    }
    const auto& cfg = ctx.config();
    const DefaultModel def = pick_model("", cfg, ctx.env);
    const std::string def_id = resolved_id(cfg, def.model);
    std::vector<client::ModelRow> shown;
    for (auto& m : *rows) {
        if (o.all || shown_by_default(m)) {
            shown.push_back(std::move(m));
        }
    }
    std::sort(shown.begin(), shown.end(),
              [](const auto& a, const auto& b) { return std::tie(a.provider, a.id) < std::tie(b.provider, b.id); });
    if (o.json) {
        nlohmann::json out = {{"models", nlohmann::json::array()},
                              {"default", {{"model", def.model}, {"resolves_to", def_id}, {"reason", def.reason}}},
                              {"aliases", nlohmann::json::array()},
                              {"logical_models", nlohmann::json::array()}};
        for (const auto& m : shown) {
            nlohmann::json row = m.raw;
            row["default"] = m.id == def_id;
            out["models"].push_back(std::move(row));
        }
        for (const auto& [name, target] : cfg.aliases) {
            out["aliases"].push_back({{"name", name}, {"target", target}, {"resolves_to", resolved_id(cfg, target)}});
        }
        for (const auto& [name, r] : cfg.model_routing) {
            if (name.find('/') != std::string::npos) {
                continue;  // routing of a provider/model, not a logical model
            }
            nlohmann::json deployments = nlohmann::json::array();
            for (const auto& d : r.deployments) {
                deployments.push_back({{"model", d.model}, {"weight", d.weight}});
            }
            nlohmann::json split = nlohmann::json::array();
            for (const auto& d : r.split) {
                split.push_back({{"model", d.model}, {"weight", d.weight}});
            }
            out["logical_models"].push_back({{"name", name},
                                             {"deployments", std::move(deployments)},
                                             {"split", std::move(split)},
                                             {"fallback", r.fallback}});
        }
        std::cout << out.dump(2) << '\n';
        return 0;
    }
    if (o.csv) {
        // Numbers as numbers (prices per 1M tokens, empty when unknown); one row per model.
        std::cout << "model,provider,context_window,input_usd_per_1m,output_usd_per_1m,cached_input_usd_per_1m,key,"
                     "default\n";
        for (const auto& m : shown) {
            auto price = [&](double v) { return m.price ? nlohmann::json(v).dump() : std::string(); };
            const std::string key = silent.contains(m.provider) ? "no server" : (m.key_present ? "yes" : "no");
            std::cout << csv_escape(m.id) << ',' << csv_escape(m.provider) << ','
                      << (m.context_window > 0 ? std::to_string(m.context_window) : std::string()) << ','
                      << price(m.price ? m.price->input : 0) << ',' << price(m.price ? m.price->output : 0) << ','
                      << price(m.price ? m.price->cached_input : 0) << ',' << key << ','
                      << (m.id == def_id ? "true" : "false") << '\n';
        }
        return 0;
    }
    const bool colour = colour_enabled(1);
    Table t({"MODEL", "PROVIDER", "CONTEXT", "$IN/1M", "$OUT/1M", "$CACHED/1M", "KEY"},
            {Align::left, Align::left, Align::right, Align::right, Align::right, Align::right, Align::left});
    // A cut model id is useless (dated snapshots differ at the end): on a narrow terminal
    // the provider (already the id's prefix), the cached price and the context go first.
    t.keep_whole(0);
    for (const std::size_t c : {1, 5, 2}) {
        t.drop_when_narrow(c);
    }
    for (const auto& m : shown) {
        auto price = [&](double v) { return m.price ? format_price(v) : std::string("-"); };
        std::string key = m.key_present ? paint("yes", Colour::green, colour) : paint("no", Colour::red, colour);
        if (silent.contains(m.provider)) {
            key = paint("no server", Colour::red, colour);
        }
        t.add_row({m.id == def_id ? m.id + " (default)" : m.id, m.provider, human_tokens(m.context_window),
                   price(m.price ? m.price->input : 0), price(m.price ? m.price->output : 0),
                   price(m.price ? m.price->cached_input : 0), key});
    }
    t.print(std::cout, colour);
    std::cout << "\ndefault model: " << (def.model == def_id ? def.model : def.model + " -> " + def_id);
    if (!def.reason.empty()) {
        std::cout << " (" << def.reason << ")";
    }
    std::cout << '\n';
    if (!cfg.aliases.empty()) {
        std::cout << "\naliases\n";
        Table a({"ALIAS", "MODEL"});
        for (const auto& [name, target] : cfg.aliases) {
            const std::string id = resolved_id(cfg, target);
            a.add_row({name, id == target ? target : target + " -> " + id});
        }
        a.print(std::cout, colour);
    }
    bool any_logical = false;
    Table l({"LOGICAL MODEL", "DEPLOYMENTS", "SPLIT", "FALLBACK"});
    for (const auto& [name, r] : cfg.model_routing) {
        if (name.find('/') != std::string::npos) {
            continue;
        }
        any_logical = true;
        l.add_row({name, r.deployments.empty() ? "-" : join(r.deployments), r.split.empty() ? "-" : join(r.split),
                   r.fallback.empty() ? "-" : join(r.fallback)});
    }
    if (any_logical) {
        std::cout << "\nlogical models\n";
        l.print(std::cout, colour);
    }
    if (!o.all && is_tty(1)) {
        const std::size_t hidden = rows->size() - shown.size();
        if (hidden > 0) {
            std::cerr << paint(std::to_string(hidden) + " more without a key or of other modes: aigw models --all",
                               Colour::dim, colour_enabled(2))
                      << '\n';
        }
    }
    return 0;
}

}  // namespace

void add_models_command(CLI::App& app, Context& ctx)
{
    auto o = std::make_shared<ModelsOptions>();
    auto* cmd = app.add_subcommand("models", "List models with context size, prices per 1M tokens and key status");
    auto* json_flag = cmd->add_flag("--json", o->json, "Print JSON instead of a table");
    cmd->add_flag("--csv", o->csv, "Print CSV (the models table)")->excludes(json_flag);
    cmd->add_flag("--all", o->all, "Include models whose provider has no key, and every mode");
    cmd->add_flag("--names", o->names, "Print only the model names, one a line (for shell completion)");
    cmd->callback([&ctx, o] {
        ctx.config_optional = o->names;
        ctx.action = [&ctx, o] { return run_models(ctx, *o); };
    });
}

}  // namespace aigw::cli

// aigw models: the catalog as the daemon sees it, with prices and whether a key is set.

#include "cli/app.hpp"
#include "cli/term.hpp"

#include <algorithm>
#include <iostream>
#include <memory>
#include <set>

namespace aigw::cli {
namespace {

struct ModelsOptions {
    bool json = false;
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
    std::vector<client::ModelRow> shown;
    for (auto& m : *rows) {
        if (o.all || shown_by_default(m)) {
            shown.push_back(std::move(m));
        }
    }
    std::sort(shown.begin(), shown.end(),
              [](const auto& a, const auto& b) { return std::tie(a.provider, a.id) < std::tie(b.provider, b.id); });
    if (o.json) {
        nlohmann::json out = {{"models", nlohmann::json::array()}};
        for (const auto& m : shown) {
            out["models"].push_back(m.raw);
        }
        std::cout << out.dump(2) << '\n';
        return 0;
    }
    const bool colour = colour_enabled(1);
    Table t({"MODEL", "PROVIDER", "CONTEXT", "$IN/1M", "$OUT/1M", "$CACHED/1M", "KEY"},
            {Align::left, Align::left, Align::right, Align::right, Align::right, Align::right, Align::left});
    for (const auto& m : shown) {
        auto price = [&](double v) { return m.price ? format_price(v) : std::string("-"); };
        t.add_row({m.id, m.provider, human_tokens(m.context_window), price(m.price ? m.price->input : 0),
                   price(m.price ? m.price->output : 0), price(m.price ? m.price->cached_input : 0),
                   m.key_present ? paint("yes", Colour::green, colour) : paint("no", Colour::red, colour)});
    }
    t.print(std::cout, colour);
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
    cmd->add_flag("--json", o->json, "Print JSON instead of a table");
    cmd->add_flag("--all", o->all, "Include models whose provider has no key, and every mode");
    cmd->add_flag("--names", o->names, "Print only the model names, one a line (for shell completion)");
    cmd->callback([&ctx, o] {
        ctx.config_optional = o->names;
        ctx.action = [&ctx, o] { return run_models(ctx, *o); };
    });
}

}  // namespace aigw::cli

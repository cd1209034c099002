// aigw keys set|list|unset: provider keys stored 0600 in the data dir (never from argv).

#include "cli/cmd_keys.hpp"

#include "cli/app.hpp"
#include "cli/term.hpp"

#include <iostream>
#include <memory>

namespace aigw::cli {

std::string mask_key(std::string_view key) {
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

struct KeysOptions {
    std::string provider;
    bool json = false;
};

nlohmann::json read_keys_file(const std::filesystem::path& path) {
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

const config::ProviderSpec* find_provider(Context& ctx, const std::string& name) {
    const auto& providers = ctx.config().providers;
    auto it = providers.find(name);
    return it == providers.end() ? nullptr : &it->second;
}

std::string provider_names(Context& ctx) {
    std::string out;
    for (const auto& [name, spec] : ctx.config().providers) {
        if (spec.key_required) {
            out += (out.empty() ? "" : ", ") + name;
        }
    }
    return out;
}

// Tells a running daemon to re-read the keys; never starts one for this.
void reload_if_running(Context& ctx) {
    client::ConnectOptions o = ctx.connect_options();
    o.allow_spawn = false;
    auto found = client::locate_daemon(o);
    if (!found) {
        return;
    }
    client::DaemonClient c(found->endpoint, client::gateway_key(ctx.env, o.data_dir));
    if (auto r = c.reload(); !r) {
        std::cerr << "aigw: warning: the daemon did not reload: " << client::describe(r.error())
                  << "\n  restart it with 'aigw daemon stop && aigw daemon start'\n";
    } else {
        std::cerr << "aigwd reloaded\n";
    }
}

int run_set(Context& ctx, const KeysOptions& o) {
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

int run_unset(Context& ctx, const KeysOptions& o) {
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

int run_list(Context& ctx, const KeysOptions& o) {
    const auto path = config::provider_keys_file(ctx.data_dir());
    const nlohmann::json doc = read_keys_file(path);
    const bool colour = colour_enabled(1);
    Table t({"PROVIDER", "SOURCE", "KEY"});
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
        out.push_back({{"provider", name}, {"source", source}, {"env", spec.key_env},
                       {"key", key.empty() ? nlohmann::json() : nlohmann::json(masked)}});
        std::string shown_source = source == "env" ? "env " + spec.key_env : source;
        t.add_row({name, source == "none" ? paint(shown_source, Colour::dim, colour) : shown_source, masked});
    }
    if (o.json) {
        std::cout << nlohmann::json{{"keys", out}, {"file", path.string()}}.dump(2) << '\n';
        return 0;
    }
    t.print(std::cout, colour);
    return 0;
}

}  // namespace

void add_keys_command(CLI::App& app, Context& ctx) {
    auto o = std::make_shared<KeysOptions>();
    auto* cmd = app.add_subcommand("keys", "Manage provider API keys (stored 0600 in the data dir)");
    cmd->require_subcommand(1);
    auto* set = cmd->add_subcommand("set", "Store a provider key, read from the terminal (hidden) or stdin");
    set->add_option("provider", o->provider, "Provider name, e.g. openai")->required();
    set->callback([&ctx, o] { ctx.action = [&ctx, o] { return run_set(ctx, *o); }; });
    auto* list = cmd->add_subcommand("list", "Show which providers have a key and where it comes from");
    list->add_flag("--json", o->json, "Print JSON");
    list->callback([&ctx, o] { ctx.action = [&ctx, o] { return run_list(ctx, *o); }; });
    auto* unset = cmd->add_subcommand("unset", "Remove a stored provider key");
    unset->add_option("provider", o->provider, "Provider name")->required();
    unset->callback([&ctx, o] { ctx.action = [&ctx, o] { return run_unset(ctx, *o); }; });
}

}  // namespace aigw::cli

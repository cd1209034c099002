// aigw cache stats|clear: what the daemon's response cache holds and has saved, and emptying it.

#include "cli/app.hpp"
#include "cli/term.hpp"

#include <iostream>
#include <memory>
#include <sstream>

namespace aigw::cli {
namespace {

struct CacheOptions {
    bool json = false;
};

int run_stats(Context& ctx, const CacheOptions& o)
{
    auto client = ctx.client();
    if (!client) {
        return fail(client.error());
    }
    auto s = (*client)->cache_stats();
    if (!s) {
        return fail(s.error());
    }
    if (o.json) {
        std::cout << s->raw.dump(2) << '\n';
        return 0;
    }
    const bool colour = colour_enabled(1);
    Table t({"", ""});
    t.add_row({"default", s->enabled
                              ? paint("on", Colour::green, colour)
                              : std::string("off (per request: x-aigw-cache: on; for all: [cache] enabled = true)")});
    t.add_row(
        {"entries", group_thousands(s->entries) +
                        (s->semantic_entries > 0 ? " (" + group_thousands(s->semantic_entries) + " semantic)" : "")});
    t.add_row({"size", human_bytes(s->bytes) + " of " + human_bytes(s->max_bytes)});
    t.add_row({"ttl", std::to_string(s->ttl_s) + " s"});
    t.add_row({"hits", group_thousands(s->hits) +
                           (s->semantic_hits > 0 ? " (" + group_thousands(s->semantic_hits) + " semantic)" : "")});
    t.add_row({"misses", group_thousands(s->misses)});
    t.add_row({"hit rate", s->hits + s->misses > 0 ? format_fixed(s->hit_rate * 100, 1) + "%" : std::string("-")});
    t.add_row({"saved", format_usd(s->saved_usd)});
    t.add_row({"evictions", group_thousands(s->evictions)});
    t.add_row({"expired", group_thousands(s->expirations)});
    t.add_row({"too large", group_thousands(s->too_large)});
    t.add_row({"semantic", s->embedding_model.empty()
                               ? std::string("off (set [cache] embedding_model)")
                               : s->embedding_model + ", similarity >= " + format_fixed(s->semantic_threshold, 2)});
    // No header line for a key/value listing.
    std::ostringstream os;
    t.print(os, false);
    const std::string text = os.str();
    std::cout << text.substr(text.find('\n') + 1);
    if (is_tty(2)) {
        std::cerr << paint("hits, misses and saved count since the daemon started", Colour::dim, colour_enabled(2))
                  << '\n';
    }
    return 0;
}

int run_clear(Context& ctx, const CacheOptions& o)
{
    auto client = ctx.client();
    if (!client) {
        return fail(client.error());
    }
    auto n = (*client)->cache_clear();
    if (!n) {
        return fail(n.error());
    }
    if (o.json) {
        std::cout << nlohmann::json({{"cleared", *n}}).dump(2) << '\n';
    } else {
        std::cout << "cleared " << group_thousands(*n) << (*n == 1 ? " entry\n" : " entries\n");
    }
    return 0;
}

}  // namespace

void add_cache_command(CLI::App& app, Context& ctx)
{
    auto o = std::make_shared<CacheOptions>();
    auto* cmd = app.add_subcommand("cache", "Show or clear the daemon's response cache");
    cmd->require_subcommand(1);
    auto* stats = cmd->add_subcommand("stats", "Entries, size, hits, misses and what the hits saved");
    stats->add_flag("--json", o->json, "Print JSON");
    stats->callback([&ctx, o] { ctx.action = [&ctx, o] { return run_stats(ctx, *o); }; });
    auto* clear = cmd->add_subcommand("clear", "Remove every cached answer (memory and disk)");
    clear->add_flag("--json", o->json, "Print JSON");
    clear->callback([&ctx, o] { ctx.action = [&ctx, o] { return run_clear(ctx, *o); }; });
}

}  // namespace aigw::cli

// aigw run: one prompt in, one answer out (streamed to stdout as it arrives).

#include "cli/cmd_run.hpp"

#include "cli/app.hpp"
#include "cli/conversation.hpp"
#include "cli/term.hpp"

#include <cstdio>
#include <iostream>
#include <iterator>
#include <memory>

namespace aigw::cli {

std::string assemble_prompt(const std::vector<std::string>& args, const std::optional<std::string>& stdin_text)
{
    std::string from_args;
    for (const auto& a : args) {
        if (!from_args.empty()) {
            from_args += ' ';
        }
        from_args += a;
    }
    std::string piped = stdin_text.value_or("");
    while (!piped.empty() && (piped.back() == '\n' || piped.back() == '\r')) {
        piped.pop_back();
    }
    if (piped.find_first_not_of(" \t\r\n") == std::string::npos) {
        piped.clear();
    }
    if (piped.empty()) {
        return from_args;
    }
    if (from_args.empty()) {
        return piped;
    }
    return from_args + "\n\n" + piped;
}

DefaultModel pick_model(const std::string& flag, const config::Config& cfg, const config::Env& env)
{
    if (!flag.empty()) {
        return {flag, ""};
    }
    if (auto m = env("AIGW_MODEL"); m && !m->empty()) {
        return {*m, "from AIGW_MODEL"};
    }
    if (cfg.aliases.contains("default")) {
        return {"default", "the \"default\" alias in " + cfg.config_path.string()};
    }
    for (std::string_view id : {"openai/gpt-4o-mini", "anthropic/claude-haiku-4-5", "gemini/gemini-2.5-flash"}) {
        const std::string provider(id.substr(0, id.find('/')));
        auto it = cfg.providers.find(provider);
        if (it != cfg.providers.end() && !config::provider_key(cfg, it->second, env).empty()) {
            return {std::string(id), "the " + provider + " key is set"};
        }
    }
    return {"mock/echo", "no provider key is set; set one with 'aigw keys set openai' or pass -m"};
}

nlohmann::json build_chat_request(const std::string& model, const std::string& system, const std::string& prompt,
                                  std::optional<double> temperature, std::optional<int> max_tokens)
{
    nlohmann::json messages = nlohmann::json::array();
    if (!system.empty()) {
        messages.push_back({{"role", "system"}, {"content", system}});
    }
    messages.push_back({{"role", "user"}, {"content", prompt}});
    nlohmann::json req = {{"model", model}, {"messages", std::move(messages)}};
    if (temperature) {
        req["temperature"] = *temperature;
    }
    if (max_tokens) {
        req["max_tokens"] = *max_tokens;
    }
    return req;
}

nlohmann::json build_conversation_request(const std::string& model, const std::string& system,
                                          const nlohmann::json& history, const std::string& prompt,
                                          std::optional<double> temperature, std::optional<int> max_tokens)
{
    nlohmann::json req = build_chat_request(model, system, prompt, temperature, max_tokens);
    auto& messages = req["messages"];
    const auto at = messages.begin() + (system.empty() ? 0 : 1);
    if (history.is_array()) {
        messages.insert(at, history.begin(), history.end());
    }
    return req;
}

std::int64_t estimate_tokens(const nlohmann::json& messages)
{
    std::int64_t ascii = 0;
    std::int64_t other = 0;
    auto count = [&](const std::string& text) {
        for (const char ch : text) {
            const auto b = static_cast<unsigned char>(ch);
            if (b < 0x80) {
                ++ascii;
            } else if ((b & 0xC0) != 0x80) {
                ++other;  // the first byte of a multi-byte character
            }
        }
    };
    if (!messages.is_array()) {
        return 0;
    }
    for (const auto& m : messages) {
        const auto content = m.find("content");
        if (content == m.end()) {
            continue;
        }
        if (content->is_string()) {
            count(content->get_ref<const std::string&>());
        } else if (content->is_array()) {
            for (const auto& part : *content) {
                if (part.is_object() && part.value("type", "") == "text" && part.contains("text") &&
                    part["text"].is_string()) {
                    count(part["text"].get_ref<const std::string&>());
                }
            }
        }
    }
    return (ascii + 3) / 4 + other;
}

std::string context_window_warning(const config::Config& cfg, const std::string& model, std::int64_t estimated)
{
    auto resolved = config::resolve_model(cfg, model);
    if (!resolved || resolved->info == nullptr || resolved->info->context_window <= 0 ||
        estimated <= resolved->info->context_window) {
        return "";
    }
    return "the prompt is about " + group_thousands(estimated) + " tokens, more than the " +
           human_tokens(resolved->info->context_window) + "-token context window of " + resolved->id +
           "; the provider will likely refuse it or cut it. Shorten it, or pick a model with a larger window "
           "('aigw models' shows CONTEXT)";
}

std::string served_note(const client::ResponseMeta& meta)
{
    if (meta.cache == "HIT") {
        return "answered from the cache (no model was called; no cost)";
    }
    if (meta.attempts.empty() || meta.attempts == "1") {
        return "";
    }
    std::string note = "answered by " + (meta.model.empty() ? std::string("the gateway") : meta.model) + " after " +
                       meta.attempts + " attempts";
    if (!meta.fallback_reason.empty()) {
        note += ": " + meta.fallback_reason;
    }
    return note;
}

namespace {

struct RunOptions {
    std::vector<std::string> prompt;
    std::string model;
    std::string system;
    bool no_stream = false;
    bool json = false;
    std::optional<double> temperature;
    std::optional<int> max_tokens;
    bool continue_last = false;
    std::string cid;
    std::string template_name;
    std::string save_template_name;
    bool no_save = false;
};

std::filesystem::path templates_dir(Context& ctx)
{
    const auto& cfg = ctx.config();
    const auto dir = cfg.config_path.has_parent_path() ? cfg.config_path.parent_path() : std::filesystem::path(".");
    return dir / "templates";
}

int save_run_template(Context& ctx, const RunOptions& o)
{
    RunTemplate t;
    t.model = o.model;
    t.system = o.system;
    t.temperature = o.temperature;
    t.max_tokens = o.max_tokens;
    t.prompt = assemble_prompt(o.prompt, std::nullopt);
    auto path = save_template(templates_dir(ctx), o.save_template_name, t);
    if (!path) {
        return fail(path.error());
    }
    std::cerr << "saved template " << o.save_template_name << " to " << path->string() << "; use it with 'aigw run -t "
              << o.save_template_name << " ...'\n";
    return 0;
}

// Writes to stdout unbuffered; false when stdout is gone (closed pipe).
bool write_out(std::string_view text)
{
    if (text.empty()) {
        return true;
    }
    if (std::fwrite(text.data(), 1, text.size(), stdout) != text.size()) {
        return false;
    }
    return std::fflush(stdout) == 0;
}

int run_run(Context& ctx, const RunOptions& o)
{
    if (!o.save_template_name.empty()) {
        return save_run_template(ctx, o);
    }
    RunTemplate tmpl;
    if (!o.template_name.empty()) {
        auto t = load_template(templates_dir(ctx), o.template_name);
        if (!t) {
            std::cerr << "aigw run: " << t.error() << '\n';
            return k_exit_usage;
        }
        tmpl = std::move(*t);
    }
    // The conversation this run continues (-c, --cid), or a new one.
    const ConversationStore store(ctx.data_dir() / "conversations");
    Conversation conv;
    if (o.continue_last || !o.cid.empty()) {
        std::string id = o.cid;
        if (id.empty()) {
            auto last = store.last_id();
            if (!last) {
                std::cerr << "aigw run: no conversation to continue yet; run 'aigw run \"...\"' first, or name one "
                             "with --cid\n";
                return k_exit_usage;
            }
            id = *last;
        }
        auto loaded = store.load(id);
        if (!loaded) {
            std::cerr << "aigw run: " << loaded.error() << '\n';
            return k_exit_usage;
        }
        if (*loaded) {
            conv = std::move(**loaded);
        }
        conv.id = id;
    } else {
        conv.id = new_conversation_id();
    }

    std::optional<std::string> piped;
    if (!is_tty(0)) {
        piped = std::string(std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>());
    }
    const std::string prompt = apply_template_prompt(tmpl, assemble_prompt(o.prompt, piped));
    if (prompt.empty()) {
        std::cerr << "aigw run: no prompt; pass it as arguments (aigw run \"hello\") or pipe it on stdin\n";
        return k_exit_usage;
    }
    // -m, then the template's model, then the conversation's, then the default.
    const std::string wanted = !o.model.empty() ? o.model : !tmpl.model.empty() ? tmpl.model : conv.model;
    const DefaultModel model = pick_model(wanted, ctx.config(), ctx.env);
    if (!model.reason.empty() && is_tty(2)) {
        std::cerr << paint("using " + model.model + " (" + model.reason + ")", Colour::dim, colour_enabled(2)) << '\n';
    }
    const std::string system = !o.system.empty() ? o.system : !tmpl.system.empty() ? tmpl.system : conv.system;
    const nlohmann::json req = build_conversation_request(model.model, system, conv.messages, prompt,
                                                          o.temperature ? o.temperature : tmpl.temperature,
                                                          o.max_tokens ? o.max_tokens : tmpl.max_tokens);
    if (const std::string warning = context_window_warning(ctx.config(), model.model, estimate_tokens(req["messages"]));
        !warning.empty()) {
        std::cerr << paint("aigw run: warning: " + warning, Colour::yellow, colour_enabled(2)) << '\n';
    }
    auto client = ctx.client();
    if (!client) {
        return fail(client.error());
    }
    // Who answered, when it was not simply the model asked for (terminal only: stderr of a
    // script stays quiet).
    auto note_served = [](const client::ResponseMeta& meta) {
        if (const std::string note = served_note(meta); !note.empty() && is_tty(2)) {
            std::cerr << paint("aigw: " + note, Colour::dim, colour_enabled(2)) << '\n';
        }
    };
    // Remembers the turn once the whole answer is in.
    auto remember = [&](const std::string& answer) {
        if (o.no_save) {
            return;
        }
        conv.model = model.model;
        conv.system = system;
        conv.messages.push_back({{"role", "user"}, {"content", prompt}});
        conv.messages.push_back({{"role", "assistant"}, {"content", answer}});
        if (auto saved = store.save(conv); !saved) {
            std::cerr << "aigw run: " << saved.error() << '\n';
        }
    };

    std::string last;
    if (o.json || o.no_stream) {
        auto res = (*client)->chat(req);
        if (!res) {
            return fail(res.error());
        }
        remember(res->content);
        if (o.json) {
            std::cout << res->body.dump(2) << '\n';
            return 0;
        }
        last = res->content;
        write_out(res->content);
        if (last.empty() || last.back() != '\n') {
            write_out("\n");
            last = "\n";
        }
        note_served(res->meta);
        if (res->finish_reason == "length") {
            std::cerr << "aigw: the answer was cut at the token limit (finish_reason length)\n";
        }
    } else {
        bool stdout_gone = false;
        auto res = (*client)->chat_stream(req, [&](const nlohmann::json& chunk) {
            const auto& choices = chunk.value("choices", nlohmann::json::array());
            if (!choices.is_array() || choices.empty()) {
                return true;
            }
            const auto delta = choices[0].value("delta", nlohmann::json::object());
            if (auto c = delta.find("content"); c != delta.end() && c->is_string()) {
                const auto& text = c->get_ref<const std::string&>();
                if (!text.empty()) {
                    last = text;
                }
                if (!write_out(text)) {
                    stdout_gone = true;
                    return false;
                }
            }
            return true;
        });
        if (stdout_gone) {
            return 0;
        }
        if (!res) {
            if (!last.empty()) {
                write_out("\n");
            }
            return fail(res.error());
        }
        remember(res->content);
        if (last.empty() || last.back() != '\n') {
            write_out("\n");  // the note goes under the answer, not after its last word
            last = "\n";
        }
        note_served(res->meta);
        if (res->finish_reason == "length") {
            std::cerr << "aigw: the answer was cut at the token limit (finish_reason length)\n";
        }
    }
    if (last.empty() || last.back() != '\n') {
        write_out("\n");
    }
    return 0;
}

}  // namespace

void add_run_command(CLI::App& app, Context& ctx)
{
    auto o = std::make_shared<RunOptions>();
    auto* cmd = app.add_subcommand("run", "Send one prompt and print the answer (stdin is read when piped)");
    cmd->add_option("prompt", o->prompt, "The prompt (words are joined with spaces)");
    cmd->add_option("-m,--model", o->model, "Model: provider/model or an alias (default: see 'aigw models')");
    cmd->add_option("-s,--system", o->system, "System prompt");
    cmd->add_flag("--no-stream", o->no_stream, "Wait for the whole answer instead of streaming it");
    cmd->add_flag("--json", o->json, "Print the whole response JSON (implies --no-stream)");
    cmd->add_option("--temperature", o->temperature, "Sampling temperature")->check(CLI::Range(0.0, 2.0));
    cmd->add_option("--max-tokens", o->max_tokens, "Maximum tokens in the answer")->check(CLI::PositiveNumber);
    auto* cont = cmd->add_flag("--continue", o->continue_last, "Continue the last conversation");
    // -c is concurrency elsewhere (bench, eval); the old short spelling still works, unlisted.
    auto* cont_short = cmd->add_flag("-c", o->continue_last, "Same as --continue")->group("");
    cmd->add_option("--cid", o->cid, "Continue (or start) the conversation with this id")
        ->excludes(cont)
        ->excludes(cont_short);
    cmd->add_option("-t,--template", o->template_name,
                    "Use a saved template (model, system prompt, parameters, prompt)");
    cmd->add_option("--save-template", o->save_template_name,
                    "Save -m, -s, --temperature, --max-tokens and the prompt (with {{input}}) as a template, and exit");
    cmd->add_flag("--no-save", o->no_save, "Do not store this exchange as a conversation");
    cmd->callback([&ctx, o] { ctx.action = [&ctx, o] { return run_run(ctx, *o); }; });
}

}  // namespace aigw::cli

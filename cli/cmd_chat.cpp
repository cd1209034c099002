// aigw chat: an interactive conversation, streamed, with the history kept on our side.

#include "cli/app.hpp"
#include "cli/cmd_run.hpp"
#include "cli/line_editor.hpp"
#include "cli/suggest.hpp"
#include "cli/term.hpp"

#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <iostream>
#include <memory>
#include <poll.h>
#include <unistd.h>

namespace aigw::cli {
namespace {

std::atomic<bool> g_chat_interrupted{false};

void on_sigint(int)
{
    g_chat_interrupted.store(true);
}

/// Installs the SIGINT handler without SA_RESTART so a blocked read returns EINTR.
class SigintGuard {
public:
    SigintGuard()
    {
        struct sigaction sa {};
        sa.sa_handler = on_sigint;
        sigemptyset(&sa.sa_mask);
        sa.sa_flags = 0;
        ::sigaction(SIGINT, &sa, &m_old);
    }
    ~SigintGuard() { ::sigaction(SIGINT, &m_old, nullptr); }
    SigintGuard(const SigintGuard&) = delete;
    SigintGuard& operator=(const SigintGuard&) = delete;

private:
    struct sigaction m_old {};
};

/// Reads lines from a file descriptor with read(2), so Ctrl-C interrupts the wait.
class LineReader {
public:
    enum class Result { line, eof, interrupted };

    explicit LineReader(int fd) : m_fd(fd) {}

    Result read_line(std::string& line)
    {
        for (;;) {
            if (auto nl = m_buf.find('\n'); nl != std::string::npos) {
                line = m_buf.substr(0, nl);
                m_buf.erase(0, nl + 1);
                if (!line.empty() && line.back() == '\r') {
                    line.pop_back();
                }
                return Result::line;
            }
            if (m_eof) {
                if (m_buf.empty()) {
                    return Result::eof;
                }
                line = std::move(m_buf);
                m_buf.clear();
                return Result::line;
            }
            char chunk[4096];
            const ssize_t n = ::read(m_fd, chunk, sizeof chunk);
            if (n < 0 && errno == EINTR) {
                if (g_chat_interrupted.exchange(false)) {
                    m_buf.clear();
                    return Result::interrupted;
                }
                continue;
            }
            if (n <= 0) {
                m_eof = true;
                continue;
            }
            m_buf.append(chunk, static_cast<std::size_t>(n));
        }
    }

    /// True when another line is already waiting (a multi-line paste), checked briefly.
    bool more_pending(int wait_ms)
    {
        if (m_buf.find('\n') != std::string::npos) {
            return true;
        }
        if (m_eof) {
            return false;
        }
        pollfd p{m_fd, POLLIN, 0};
        return ::poll(&p, 1, wait_ms) > 0 && (p.revents & POLLIN) != 0;
    }

private:
    int m_fd;
    std::string m_buf;
    bool m_eof = false;
};

struct ChatOptions {
    std::string model;
    std::string system;
};

void print_help()
{
    std::cerr << "  /model NAME   switch model (the conversation is kept)\n"
                 "  /model        show the current model\n"
                 "  /clear        forget the conversation\n"
                 "  /exit         quit (or Ctrl-D)\n"
                 "  /help         this help\n"
                 "  Ctrl-C stops the answer being written; pasted lines are sent as one message.\n";
}

nlohmann::json fresh_history(const std::string& system)
{
    nlohmann::json h = nlohmann::json::array();
    if (!system.empty()) {
        h.push_back({{"role", "system"}, {"content", system}});
    }
    return h;
}

std::string trim(const std::string& s)
{
    const auto b = s.find_first_not_of(" \t\r\n");
    const auto e = s.find_last_not_of(" \t\r\n");
    return b == std::string::npos ? std::string() : s.substr(b, e - b + 1);
}

/// "fast (groq/llama-3.3-70b-versatile)" for an alias, the id itself otherwise; an error
/// naming the closest known model when the name resolves to nothing.
std::expected<std::string, std::string> describe_model(const config::Config& cfg, const std::string& name)
{
    auto resolved = config::resolve_model(cfg, name);
    if (!resolved) {
        std::vector<std::string> known;
        for (const auto* m : cfg.catalog.all()) {
            known.push_back(m->id);
            known.push_back(m->name);
        }
        for (const auto& [alias, target] : cfg.aliases) {
            known.push_back(alias);
        }
        std::string msg = "unknown model '" + name + "'";
        if (auto s = suggest(name, known)) {
            msg += "; did you mean '" + *s + "'?";
        } else {
            msg += "; 'aigw models' lists them";
        }
        return std::unexpected(msg);
    }
    if (resolved->id == name) {
        return name;
    }
    return name + " (" + resolved->id + ")";
}

int run_chat(Context& ctx, const ChatOptions& o)
{
    const bool tty = is_tty(0);
    const bool colour = colour_enabled(2);
    std::string model = pick_model(o.model, ctx.config(), ctx.env).model;
    const auto shown = describe_model(ctx.config(), model);

    auto client = ctx.client();
    if (!client) {
        return fail(client.error());
    }
    SigintGuard guard;
    LineReader reader(0);
    // On a terminal, libedit edits the line (arrows never reach the model) and keeps history.
    std::unique_ptr<LineEditor> editor;
    if (tty) {
        editor = std::make_unique<LineEditor>(ctx.data_dir() / "chat_history");
    }
    nlohmann::json history = fresh_history(o.system);

    if (tty) {
        std::cerr << paint("chatting with " + shown.value_or(model) + "; /help for commands, Ctrl-D to quit",
                           Colour::dim, colour)
                  << '\n';
    }
    for (;;) {
        g_chat_interrupted.store(false);
        std::string line;
        LineReader::Result r = LineReader::Result::line;
        if (editor) {
            if (editor->read_line("you> ", line) == LineEditor::Result::eof) {
                r = g_chat_interrupted.exchange(false) ? LineReader::Result::interrupted : LineReader::Result::eof;
            }
        } else {
            r = reader.read_line(line);
        }
        if (r == LineReader::Result::interrupted) {
            if (tty) {
                std::cerr << "\n" << paint("(use /exit or Ctrl-D to quit)", Colour::dim, colour) << '\n';
            }
            continue;
        }
        if (r == LineReader::Result::eof) {
            if (tty) {
                std::cerr << '\n';
            }
            break;
        }
        // A paste of several lines arrives at once: send it as one message.
        if (tty && !editor) {
            std::string more;
            while (reader.more_pending(15) && reader.read_line(more) == LineReader::Result::line) {
                line += "\n" + more;
            }
        }
        const std::string text = trim(line);
        if (text.empty()) {
            continue;
        }
        if (text.front() == '/' && text.find('\n') == std::string::npos) {
            const auto space = text.find(' ');
            const std::string cmd = text.substr(0, space);
            const std::string arg = space == std::string::npos ? std::string() : trim(text.substr(space + 1));
            if (cmd == "/exit" || cmd == "/quit") {
                break;
            }
            if (cmd == "/help") {
                print_help();
            } else if (cmd == "/clear") {
                history = fresh_history(o.system);
                std::cerr << paint("(conversation cleared)", Colour::dim, colour) << '\n';
            } else if (cmd == "/model") {
                const auto checked = describe_model(ctx.config(), arg.empty() ? model : arg);
                if (!checked) {
                    std::cerr << "aigw: " << checked.error() << "; still using " << model << '\n';
                } else {
                    if (!arg.empty()) {
                        model = arg;
                    }
                    std::cerr << paint("(model: " + *checked + ")", Colour::dim, colour) << '\n';
                }
            } else {
                std::cerr << "aigw: unknown command " << cmd << "; /help lists them\n";
            }
            continue;
        }

        history.push_back({{"role", "user"}, {"content", text}});
        nlohmann::json req = {{"model", model}, {"messages", history}};
        bool wrote_any = false;
        char last = '\n';
        g_chat_interrupted.store(false);
        auto res = (*client)->chat_stream(
            req,
            [&](const nlohmann::json& chunk) {
                const auto& choices = chunk.value("choices", nlohmann::json::array());
                if (choices.is_array() && !choices.empty()) {
                    const auto delta = choices[0].value("delta", nlohmann::json::object());
                    if (auto c = delta.find("content"); c != delta.end() && c->is_string()) {
                        const auto& t = c->get_ref<const std::string&>();
                        if (!t.empty()) {
                            // A model's output must not drive the terminal (escape sequences).
                            const std::string safe = is_tty(1) ? make_printable(t) : t;
                            std::fwrite(safe.data(), 1, safe.size(), stdout);
                            std::fflush(stdout);
                            wrote_any = true;
                            last = t.back();
                        }
                    }
                }
                return !g_chat_interrupted.load();
            },
            &g_chat_interrupted);
        if (wrote_any && last != '\n') {
            std::fputc('\n', stdout);
            std::fflush(stdout);
        }
        if (!res) {
            history.erase(history.size() - 1);  // the question was not answered: forget it
            std::cerr << "aigw: " << client::describe(res.error()) << '\n';
            continue;
        }
        if (res->cancelled) {
            std::cerr << paint("(stopped)", Colour::dim, colour) << '\n';
        }
        if (!res->content.empty()) {
            history.push_back({{"role", "assistant"}, {"content", res->content}});
        } else if (res->cancelled) {
            history.erase(history.size() - 1);
        }
        g_chat_interrupted.store(false);
    }
    return 0;
}

}  // namespace

void add_chat_command(CLI::App& app, Context& ctx)
{
    auto o = std::make_shared<ChatOptions>();
    auto* cmd = app.add_subcommand("chat", "Interactive chat (reads lines from stdin; /help inside for commands)");
    cmd->add_option("-m,--model", o->model, "Model: provider/model or an alias");
    cmd->add_option("-s,--system", o->system, "System prompt");
    cmd->callback([&ctx, o] { ctx.action = [&ctx, o] { return run_chat(ctx, *o); }; });
}

}  // namespace aigw::cli

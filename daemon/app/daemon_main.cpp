#include "daemon/app/daemon_main.hpp"

#include "daemon/app/gateway.hpp"
#include "daemon/app/log.hpp"
#include "daemon/ledger/ledger.hpp"

#include <openssl/crypto.h>

#include <csignal>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <pthread.h>
#include <sys/stat.h>
#include <thread>
#include <unistd.h>

namespace aigw::daemon {

namespace {

constexpr const char* k_usage =
    "usage: aigwd [--port PORT] [--host HOST] [--data-dir DIR] [--config FILE]\n"
    "\n"
    "Runs the aigw gateway in the foreground. Clients authenticate with the gateway key\n"
    "(AIGW_API_KEY, or gateway.key in the data dir, created on first start).\n"
    "  --port PORT      listen port (default 4141; 0 picks a free one)\n"
    "  --host HOST      listen address (default 127.0.0.1); beyond loopback, [server] needs\n"
    "                   tls_cert, tls_key and require_virtual_keys = true\n"
    "  (--port and --host override [server] listen, or host and port, of the config file)\n"
    "  --data-dir DIR   ledger, keys and state (default $XDG_DATA_HOME/aigw)\n"
    "  --config FILE    config file (default $XDG_CONFIG_HOME/aigw/config.toml)\n"
    "  --version        print the version and exit\n";

std::int64_t unix_ms()
{
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
        .count();
}

}  // namespace

int daemon_main(int argc, char** argv)
{
    // Every line aigwd writes to stderr goes through its one logger (line-atomic; JSON with
    // [log] format = "json"). AIGW_LOG_FORMAT counts before the config is read, so even a
    // config error is a JSON line in a JSON log.
    app::Logger& log = app::daemon_log();
    // OpenSSL sets itself up (config, providers, its exit cleanup) here, on the main thread
    // before any other exists. Left to its first user, a key's RAND_bytes on a blocking-pool
    // thread, that thread's OpenSSL state outlived the cleanup and leaked (LeakSanitizer).
    OPENSSL_init_crypto(OPENSSL_INIT_LOAD_CONFIG, nullptr);
    ledger::keep_statement_journals_in_memory();  // before any database is opened
    ledger::skip_sqlite_memory_statistics();
    if (const char* f = std::getenv("AIGW_LOG_FORMAT")) {
        log.configure(config::log_format_from_string(f).value_or(config::LogFormat::text), true);
    }
    log.capture_stderr();
    std::optional<int> port;
    std::string host;
    std::filesystem::path data_dir;
    std::optional<std::string> config_file;
    for (int i = 1; i < argc; ++i) {
        std::string_view a = argv[i];
        auto value = [&](std::string_view flag) -> std::optional<std::string> {
            if (a.starts_with(flag) && a.size() > flag.size() && a[flag.size()] == '=') {
                return std::string(a.substr(flag.size() + 1));
            }
            if (a == flag && i + 1 < argc) {
                return std::string(argv[++i]);
            }
            return std::nullopt;
        };
        if (a == "--help" || a == "-h") {
            std::cout << k_usage;
            return 0;
        }
        if (a == "--version") {
            std::cout << "aigwd " << AIGW_VERSION << "\n";
            return 0;
        }
        if (auto v = value("--port")) {
            try {
                port = std::stoi(*v);
            } catch (...) {
                std::cerr << "aigwd: --port needs a number, got '" << *v << "'\n";
                return 2;
            }
        } else if (auto h = value("--host")) {
            host = *h;
        } else if (auto d = value("--data-dir")) {
            data_dir = *d;
        } else if (auto c = value("--config")) {
            config_file = *c;
        } else {
            std::cerr << "aigwd: unknown argument '" << a << "'\n" << k_usage;
            return 2;
        }
    }

    // Everything aigwd writes (ledger, caches, SQLite's side files, keys, its log) may hold
    // keys, prompts or answers: nobody else may read it, whatever the caller's umask. The
    // files are also created 0600 one by one; this covers what SQLite creates on its own.
    ::umask(077);

    config::Env env = config::process_env();
    if (config_file) {
        // --config wins over AIGW_CONFIG and XDG paths.
        env = [base = env, file = *config_file](std::string_view name) -> std::optional<std::string> {
            if (name == "AIGW_CONFIG") {
                return file;
            }
            return base(name);
        };
    }
    auto cfg = config::load_config(env, data_dir);
    if (!cfg) {
        std::cerr << "aigwd: " << cfg.error() << "\n";
        return 1;
    }
    log.configure(cfg->log_format, cfg->access_log_on());
    for (const auto& w : cfg->warnings) {
        std::cerr << "aigwd: warning: " << w << "\n";
    }
    if (port) {
        cfg->port = *port;
    }
    if (!host.empty()) {
        cfg->host = host;
    }
    // Beyond loopback only with TLS and virtual keys; --host counts like [server] listen.
    if (auto refusal = config::listen_refusal(*cfg)) {
        std::cerr << "aigwd: " << *refusal << "\n";
        return 1;
    }

    // Signals are handled by one thread with sigwait; every other thread blocks them.
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGHUP);  // reload the config file, as `aigw daemon reload` and `systemctl reload` do
    pthread_sigmask(SIG_BLOCK, &sigs, nullptr);
    std::signal(SIGPIPE, SIG_IGN);

    auto gw = app::Gateway::create(std::move(*cfg), env);
    if (!gw) {
        std::cerr << "aigwd: " << gw.error() << "\n";
        return 1;
    }
    auto bound = (*gw)->bind();
    if (!bound) {
        std::cerr << "aigwd: " << bound.error() << "\n";
        return 1;
    }
    const auto& conf = (*gw)->config();
    const auto state_path = config::state_file(conf.data_dir);
    nlohmann::json state = {{"pid", ::getpid()},       {"host", conf.host},
                            {"port", *bound},          {"tls", !conf.tls_cert.empty()},
                            {"version", AIGW_VERSION}, {"started_ms", unix_ms()}};
    try {
        config::write_private_file(state_path, state.dump() + "\n");
    } catch (const std::exception& e) {
        std::cerr << "aigwd: cannot write the state file " << state_path << ": " << e.what() << "\n";
        return 1;
    }
    const bool v6 = conf.host.find(':') != std::string::npos;
    const std::string listening =
        std::string("aigwd ") + AIGW_VERSION + " listening on " + (conf.tls_cert.empty() ? "http://" : "https://") +
        (v6 ? "[" : "") + conf.host + (v6 ? "]" : "") + ":" + std::to_string(*bound) + " (data dir " +
        conf.data_dir.string() + ")" + (conf.require_virtual_keys ? "; model endpoints need virtual keys" : "");
    if (log.format() == config::LogFormat::json) {
        log.log("info", listening,
                {{"version", AIGW_VERSION}, {"host", conf.host}, {"port", *bound}, {"pid", ::getpid()}});
    } else {
        std::cerr << listening << "\n";  // as before: the line people and scripts look for
    }

    std::thread signal_thread([&gw, sigs] {
        for (;;) {
            int sig = 0;
            sigwait(&sigs, &sig);
            if (sig == SIGHUP) {
                auto r = (*gw)->reload();
                if (!r) {
                    std::cerr << "aigwd: SIGHUP: the config file has errors; nothing changed:\n" << r.error() << "\n";
                    continue;
                }
                std::string waits;
                for (const auto& k : r->needs_restart) {
                    waits += (waits.empty() ? "" : ", ") + k;
                }
                std::cerr << "aigwd: SIGHUP: config reloaded (" << r->applied.size() << " applied"
                          << (waits.empty() ? std::string() : "; waiting for a restart: " + waits) << ")\n";
                continue;
            }
            std::cerr << "aigwd: " << (sig == SIGINT ? "SIGINT" : "SIGTERM") << ", shutting down\n";
            (*gw)->stop();
            return;
        }
    });
    (*gw)->serve();
    (*gw)->stop();      // also when serve() returned on its own
    (*gw)->shutdown();  // every request has ended: drain the ledger
    // Wake the signal thread if it is still waiting (serve() ended without a signal).
    pthread_kill(signal_thread.native_handle(), SIGTERM);
    signal_thread.join();

    // Remove the state file only if it is still ours (another daemon may have replaced it).
    if (auto text = config::read_file(state_path)) {
        auto doc = nlohmann::json::parse(*text, nullptr, false);
        if (!doc.is_discarded() && doc.value("pid", 0) == ::getpid()) {
            std::error_code ec;
            std::filesystem::remove(state_path, ec);
        }
    }
    std::cerr << "aigwd: stopped; ledger flushed\n";
    return 0;
}

}  // namespace aigw::daemon

// A team gateway: aigwd serving HTTPS ([server] tls_cert, tls_key) and refusing to listen
// beyond loopback without TLS and required virtual keys. Certificates are made at test
// time with the openssl CLI; clients are cpp-httplib's SSLClient, curl and aigw.

#include "tests/integration/harness.hpp"

#include <doctest/doctest.h>

#include <csignal>
#include <thread>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <memory>
#include <thread>

using aigw::test::cli_env;
using aigw::test::Daemon;
using aigw::test::DaemonOptions;
using aigw::test::make_temp_dir;
using aigw::test::run_command;
using aigw::test::slurp;
using nlohmann::json;
namespace fs = std::filesystem;

namespace {

struct Certificate {
    fs::path dir;
    fs::path cert;
    fs::path key;
};

/// A self-signed P-256 certificate for localhost and 127.0.0.1, its key 0600.
Certificate make_certificate()
{
    Certificate c;
    c.dir = make_temp_dir("tls");
    c.cert = c.dir / "cert.pem";
    c.key = c.dir / "key.pem";
    auto r =
        run_command({"/usr/bin/openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                     "-nodes", "-days", "1", "-subj", "/CN=localhost", "-addext",
                     "subjectAltName=DNS:localhost,IP:127.0.0.1", "-keyout", c.key.string(), "-out", c.cert.string()},
                    {});
    REQUIRE_MESSAGE(r.exit_code == 0, r.err);
    fs::permissions(c.key, fs::perms::owner_read | fs::perms::owner_write);
    return c;
}

std::string tls_config(const Certificate& c, std::string_view extra = "")
{
    return "[server]\ntls_cert = \"" + c.cert.string() + "\"\ntls_key = \"" + c.key.string() + "\"\n" +
           std::string(extra);
}

/// An HTTPS client for `d` that trusts `c` (SSLClient can be neither copied nor moved).
std::unique_ptr<httplib::SSLClient> https_client(const Daemon& d, const Certificate& c,
                                                 const std::string& key = "test-gateway-key")
{
    auto cli = std::make_unique<httplib::SSLClient>("localhost", d.port());
    cli->set_ca_cert_path(c.cert.string());
    cli->enable_server_certificate_verification(true);
    cli->set_read_timeout(30, 0);
    cli->set_connection_timeout(5, 0);
    if (!key.empty()) {
        cli->set_default_headers({{"Authorization", "Bearer " + key}});
    }
    return cli;
}

json chat(const std::string& text, bool stream = false)
{
    return {{"model", "mock/echo"}, {"stream", stream}, {"messages", {{{"role", "user"}, {"content", text}}}}};
}

/// aigwd started by hand (the harness requires a daemon that starts): its exit code and stderr.
aigw::test::CommandResult run_aigwd(const std::string& config_toml, std::vector<std::string> extra_args = {})
{
    const fs::path dir = make_temp_dir("aigwd-refusal");
    {
        std::ofstream(dir / "config.toml") << config_toml;
    }
    std::vector<std::string> argv = {AIGWD_PATH, "--port", "0", "--data-dir", dir.string()};
    argv.insert(argv.end(), extra_args.begin(), extra_args.end());
    return run_command(argv,
                       {{"AIGW_API_KEY", "test-gateway-key"},
                        {"AIGW_CONFIG", (dir / "config.toml").string()},
                        {"XDG_CONFIG_HOME", (dir / "xdg-config").string()},
                        {"XDG_DATA_HOME", (dir / "xdg-data").string()}},
                       {}, 10000);
}

/// Connects to 127.0.0.1:port, sends `bytes`, and reads until the daemon closes; false when
/// it is still open after `wait`.
bool send_and_wait_for_close(int port, const std::string& bytes, std::chrono::milliseconds wait, std::string& got)
{
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    REQUIRE(fd >= 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<std::uint16_t>(port));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
    REQUIRE(::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(bytes.size()));
    timeval tv{};
    tv.tv_sec = static_cast<time_t>(wait.count() / 1000);
    tv.tv_usec = static_cast<suseconds_t>((wait.count() % 1000) * 1000);
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    bool closed = false;
    std::array<char, 4096> buf{};
    for (;;) {
        const ssize_t n = ::recv(fd, buf.data(), buf.size(), 0);
        if (n > 0) {
            got.append(buf.data(), static_cast<std::size_t>(n));
            continue;
        }
        closed = n == 0 || errno == ECONNRESET;
        break;
    }
    ::close(fd);
    return closed;
}

}  // namespace

TEST_CASE("with tls_cert and tls_key on loopback, chat and streaming work over HTTPS")
{
    const auto c = make_certificate();
    Daemon d(nullptr, DaemonOptions{.config_toml = tls_config(c)});
    auto state = json::parse(slurp(d.data_dir() / "aigwd.json"));
    CHECK(state["tls"] == true);

    auto cli = https_client(d, c);
    auto res = cli->Post("/v1/chat/completions", chat("hello over tls").dump(), "application/json");
    REQUIRE_MESSAGE(res, httplib::to_string(res.error()));
    CHECK(res->status == 200);
    auto body = json::parse(res->body);
    CHECK(body["choices"][0]["message"]["content"].get<std::string>().find("hello over tls") != std::string::npos);
    CHECK(res->get_header_value("x-aigw-provider") == "mock");

    // Keep-alive: a second request on the same TLS connection.
    auto again = cli->Get("/health");
    REQUIRE(again);
    CHECK(again->status == 200);

    auto streamed = cli->Post("/v1/chat/completions", chat("streamed over tls", true).dump(), "application/json");
    REQUIRE_MESSAGE(streamed, httplib::to_string(streamed.error()));
    CHECK(streamed->status == 200);
    const auto events = aigw::test::sse_data_lines(streamed->body);
    REQUIRE(events.size() >= 2);
    CHECK(events.back() == "[DONE]");
    std::string text;
    for (std::size_t i = 0; i + 1 < events.size(); ++i) {
        auto e = json::parse(events[i]);
        const auto& choices = e["choices"];
        if (!choices.empty() && choices[0]["delta"].contains("content") && choices[0]["delta"]["content"].is_string()) {
            text += choices[0]["delta"]["content"].get<std::string>();
        }
    }
    CHECK(text.find("streamed over tls") != std::string::npos);

    // curl, verifying the certificate, like any other HTTPS client.
    auto curl = run_command(
        {"/usr/bin/curl", "-sS", "--fail-with-body", "--cacert", c.cert.string(), "-H",
         "Authorization: Bearer test-gateway-key", "-H", "Content-Type: application/json", "-d",
         chat("hello from curl").dump(), "https://localhost:" + std::to_string(d.port()) + "/v1/chat/completions"},
        {});
    CHECK_MESSAGE(curl.exit_code == 0, curl.err);
    CHECK(curl.out.find("hello from curl") != std::string::npos);
    CHECK(slurp(d.log_file()).find("listening on https://127.0.0.1:") != std::string::npos);
}

TEST_CASE("plain HTTP to the TLS port gets a 400 saying to use https://, and the daemon goes on")
{
    const auto c = make_certificate();
    Daemon d(nullptr, DaemonOptions{.config_toml = tls_config(c)});
    httplib::Client plain("127.0.0.1", d.port());
    plain.set_read_timeout(5, 0);
    auto res = plain.Get("/health");
    REQUIRE_MESSAGE(res, httplib::to_string(res.error()));
    CHECK(res->status == 400);
    CHECK(res->body.find("https://") != std::string::npos);
    CHECK(json::parse(res->body)["error"]["type"] == "invalid_request_error");

    auto tls = https_client(d, c)->Get("/health");
    REQUIRE(tls);
    CHECK(tls->status == 200);
    CHECK(d.process().alive());
}

TEST_CASE("a garbage handshake and a client that distrusts the certificate only close their own connection")
{
    const auto c = make_certificate();
    Daemon d(nullptr, DaemonOptions{.config_toml = tls_config(c)});
    // A TLS record header (handshake, TLS 1.0) followed by junk.
    std::string junk("\x16\x03\x01\x00\x40", 5);
    for (int i = 0; i < 64; ++i) {
        junk += static_cast<char>((i * 37 + 11) & 0xff);
    }
    std::string got;
    CHECK(send_and_wait_for_close(d.port(), junk, std::chrono::milliseconds(5000), got));
    got.clear();
    CHECK(send_and_wait_for_close(d.port(), std::string("\x00\x01\x02\xff\xfe", 5), std::chrono::milliseconds(5000),
                                  got));
    CHECK(got.find("HTTP/1.1") == std::string::npos);  // not an HTTP answer: just closed

    // A client without the CA refuses the certificate; the daemon just drops that connection.
    httplib::SSLClient distrusting("localhost", d.port());
    distrusting.enable_server_certificate_verification(true);
    distrusting.set_ca_cert_path((c.dir / "no-such-ca.pem").string());
    auto refused = distrusting.Get("/health");
    CHECK_FALSE(refused);

    auto ok = https_client(d, c)->Post("/v1/chat/completions", chat("still serving").dump(), "application/json");
    REQUIRE(ok);
    CHECK(ok->status == 200);
    CHECK(d.process().alive());

    // Each of the three refused connections is counted for /metrics.
    auto metrics = https_client(d, c)->Get("/metrics");
    REQUIRE(metrics);
    REQUIRE(metrics->status == 200);
    const auto at = metrics->body.find("\naigw_tls_handshake_failures_total ");
    REQUIRE(at != std::string::npos);
    CHECK(std::stod(metrics->body.substr(at + 35)) >= 3);
}

TEST_CASE("SIGHUP re-reads a renewed certificate for new connections; a broken one leaves the current one serving")
{
    const auto c = make_certificate();
    Daemon d(nullptr, DaemonOptions{.config_toml = tls_config(c)});
    // The first certificate, kept aside: a client that trusts only it.
    Certificate first = c;
    first.cert = c.dir / "first.pem";
    fs::copy_file(c.cert, first.cert);
    REQUIRE(https_client(d, first)->Get("/health"));

    // Renewal: a new key and certificate written over the same files, then SIGHUP (what
    // `systemctl reload` sends).
    const auto renewed = make_certificate();
    fs::copy_file(renewed.cert, c.cert, fs::copy_options::overwrite_existing);
    fs::copy_file(renewed.key, c.key, fs::copy_options::overwrite_existing);
    REQUIRE(::kill(d.process().pid(), SIGHUP) == 0);
    bool switched = false;
    for (int i = 0; i < 100 && !switched; ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
        switched = static_cast<bool>(https_client(d, renewed)->Get("/health"));
    }
    CHECK(switched);
    CHECK_FALSE(https_client(d, first)->Get("/health"));  // the old certificate is no longer served
    CHECK(slurp(d.log_file()).find("tls certificate (re-read)") != std::string::npos);

    // A broken renewal (a key that does not match): a warning, and the renewed one serves on.
    fs::copy_file(first.cert, c.cert, fs::copy_options::overwrite_existing);
    auto reload = https_client(d, renewed)->Post("/aigw/v1/reload", "", "application/json");
    REQUIRE(reload);
    CHECK(reload->status == 200);
    CHECK(reload->body.find("not reloaded") != std::string::npos);
    auto still = https_client(d, renewed)->Get("/health");
    REQUIRE(still);
    CHECK(still->status == 200);
    CHECK(d.process().alive());
}

TEST_CASE("listening beyond loopback without TLS is refused, naming tls_cert and tls_key")
{
    auto r = run_aigwd("[server]\nlisten = \"0.0.0.0:0\"\n");
    CHECK(r.exit_code == 1);
    CHECK(r.err.find("refusing to listen on 0.0.0.0") != std::string::npos);
    CHECK(r.err.find("tls_cert = ") != std::string::npos);
    CHECK(r.err.find("tls_key = ") != std::string::npos);
    CHECK(r.err.find("require_virtual_keys = true") != std::string::npos);

    // --host counts like the config file.
    auto flag = run_aigwd("", {"--host", "0.0.0.0"});
    CHECK(flag.exit_code == 1);
    CHECK(flag.err.find("tls_cert = ") != std::string::npos);
}

TEST_CASE("listening beyond loopback with TLS but without required virtual keys is refused, naming that setting")
{
    const auto c = make_certificate();
    auto r = run_aigwd(tls_config(c, "listen = \"0.0.0.0:0\"\n"));
    CHECK(r.exit_code == 1);
    CHECK(r.err.find("without required virtual keys") != std::string::npos);
    CHECK(r.err.find("require_virtual_keys = true") != std::string::npos);
    CHECK(r.err.find("tls_cert = ") == std::string::npos);
}

TEST_CASE("a TLS key every user can read, a missing file or a half TLS config stop the start")
{
    const auto c = make_certificate();
    fs::permissions(c.key, fs::perms::others_read, fs::perm_options::add);
    auto open_key = run_aigwd(tls_config(c));
    CHECK(open_key.exit_code == 1);
    CHECK(open_key.err.find("chmod 600 " + c.key.string()) != std::string::npos);
    fs::permissions(c.key, fs::perms::others_read, fs::perm_options::remove);

    auto missing = run_aigwd("[server]\ntls_cert = \"" + (c.dir / "nope.pem").string() + "\"\ntls_key = \"" +
                             c.key.string() + "\"\n");
    CHECK(missing.exit_code == 1);
    CHECK(missing.err.find("cannot load the TLS certificate") != std::string::npos);

    auto half = run_aigwd("[server]\ntls_cert = \"" + c.cert.string() + "\"\n");
    CHECK(half.exit_code == 1);
    CHECK(half.err.find("tls_cert is set without tls_key") != std::string::npos);
}

TEST_CASE("a team gateway on 0.0.0.0 with TLS and required virtual keys: the gateway key is admin-only")
{
    const auto c = make_certificate();
    Daemon d(nullptr,
             DaemonOptions{.config_toml = tls_config(c, "listen = \"0.0.0.0:0\"\nrequire_virtual_keys = true\n")});

    // The gateway key is refused on model endpoints, in each surface's shape.
    auto admin_chat = https_client(d, c)->Post("/v1/chat/completions", chat("x").dump(), "application/json");
    REQUIRE(admin_chat);
    CHECK(admin_chat->status == 403);
    CHECK(admin_chat->body.find("require_virtual_keys") != std::string::npos);
    auto admin_msg = https_client(d, c)->Post(
        "/v1/messages", json({{"model", "mock/echo"}, {"max_tokens", 5}, {"messages", chat("x")["messages"]}}).dump(),
        "application/json");
    REQUIRE(admin_msg);
    CHECK(admin_msg->status == 403);
    CHECK(json::parse(admin_msg->body)["type"] == "error");
    // Anonymous: 401, as always.
    auto anonymous = https_client(d, c, "")->Post("/v1/chat/completions", chat("x").dump(), "application/json");
    REQUIRE(anonymous);
    CHECK(anonymous->status == 401);
    // The load balancer's probes need no key.
    auto health = https_client(d, c, "")->Get("/health");
    REQUIRE(health);
    CHECK(health->status == 200);
    auto ready = https_client(d, c, "")->Get("/ready");
    REQUIRE(ready);
    CHECK(ready->status == 200);

    // The CLI over HTTPS (AIGW_HOST + AIGW_CA_CERT) still uses the gateway key for the admin API.
    auto env = cli_env(d);
    env["AIGW_HOST"] = "https://localhost:" + std::to_string(d.port());
    auto no_ca = run_command({AIGW_PATH, "--data-dir", d.data_dir().string(), "keys", "create", "--name", "x"}, env);
    CHECK(no_ca.exit_code != 0);
    CHECK(no_ca.err.find("AIGW_CA_CERT") != std::string::npos);
    env["AIGW_CA_CERT"] = c.cert.string();
    auto created = run_command(
        {AIGW_PATH, "--data-dir", d.data_dir().string(), "keys", "create", "--json", "--name", "team"}, env);
    REQUIRE_MESSAGE(created.exit_code == 0, created.err);
    const std::string vk = json::parse(created.out)["key"].get<std::string>();

    auto team_chat = https_client(d, c, vk)->Post("/v1/chat/completions", chat("team call").dump(), "application/json");
    REQUIRE(team_chat);
    CHECK(team_chat->status == 200);
    CHECK(team_chat->body.find("team call") != std::string::npos);
    auto team_admin = https_client(d, c, vk)->Get("/aigw/v1/status");
    REQUIRE(team_admin);
    CHECK(team_admin->status == 403);
    // (The line is written right after the state file the harness waits for.)
    CHECK(slurp(d.log_file()).find("listening on https://0.0.0.0:") != std::string::npos);
}

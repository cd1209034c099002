// [server] listen, tls_cert, tls_key, require_virtual_keys, and the rule that listening
// beyond loopback needs TLS and virtual keys.

#include "shared/config/config.hpp"

#include <doctest/doctest.h>

using aigw::config::is_loopback_host;
using aigw::config::listen_refusal;
using aigw::config::parse_config;
using aigw::config::parse_listen;

TEST_CASE("listen takes host:port, [IPv6]:port and :port")
{
    auto v4 = parse_listen("0.0.0.0:4141");
    REQUIRE(v4);
    CHECK(v4->first == "0.0.0.0");
    CHECK(v4->second == 4141);
    auto v6 = parse_listen("[::]:8443");
    REQUIRE(v6);
    CHECK(v6->first == "::");
    CHECK(v6->second == 8443);
    auto any = parse_listen(":9000");
    REQUIRE(any);
    CHECK(any->first == "0.0.0.0");
    auto name = parse_listen("gateway.internal:4141");
    REQUIRE(name);
    CHECK(name->first == "gateway.internal");
}

TEST_CASE("a malformed listen says what is wrong")
{
    CHECK(parse_listen("0.0.0.0").error().find("needs a port") != std::string::npos);
    CHECK(parse_listen("0.0.0.0:http").error().find("between 0 and 65535") != std::string::npos);
    CHECK(parse_listen("0.0.0.0:70000").error().find("between 0 and 65535") != std::string::npos);
    CHECK(parse_listen("::1:4141").error().find("[::1]:4141") != std::string::npos);
    CHECK(parse_listen("[nope]:4141").error().find("not an IPv6 address") != std::string::npos);
    CHECK(parse_listen("[::1]4141").error().find("[IPv6 address]:port") != std::string::npos);
}

TEST_CASE("loopback is localhost, 127.0.0.0/8 and ::1; everything else is reachable from outside")
{
    CHECK(is_loopback_host("127.0.0.1"));
    CHECK(is_loopback_host("127.1.2.3"));
    CHECK(is_loopback_host("localhost"));
    CHECK(is_loopback_host("::1"));
    CHECK(is_loopback_host("[::1]"));
    CHECK_FALSE(is_loopback_host("0.0.0.0"));
    CHECK_FALSE(is_loopback_host("::"));
    CHECK_FALSE(is_loopback_host("10.0.0.5"));
    CHECK_FALSE(is_loopback_host("gateway.internal"));
    CHECK_FALSE(is_loopback_host("128.0.0.1"));
}

TEST_CASE("[server] listen, tls_cert, tls_key and require_virtual_keys are read")
{
    auto cfg = parse_config(
        "[server]\nlisten = \"[::]:4443\"\ntls_cert = \"c.pem\"\ntls_key = \"k.pem\"\n"
        "require_virtual_keys = true\n",
        "config.toml");
    REQUIRE(cfg);
    CHECK(cfg->host == "::");
    CHECK(cfg->port == 4443);
    CHECK(cfg->tls_cert == "c.pem");
    CHECK(cfg->tls_key == "k.pem");
    CHECK(cfg->require_virtual_keys);
    CHECK(cfg->warnings.empty());
}

TEST_CASE("listen together with host or port is an error naming the line")
{
    auto cfg = parse_config("[server]\nport = 4000\nlisten = \"0.0.0.0:4141\"\n", "config.toml");
    REQUIRE_FALSE(cfg);
    CHECK(cfg.error().find("config.toml:3") != std::string::npos);
    CHECK(cfg.error().find("keep only listen") != std::string::npos);
    auto bad = parse_config("[server]\nlisten = \"0.0.0.0\"\n", "config.toml");
    REQUIRE_FALSE(bad);
    CHECK(bad.error().find("needs a port") != std::string::npos);
}

TEST_CASE("beyond loopback, start-up is refused until TLS and required virtual keys are configured")
{
    aigw::config::Config cfg;
    cfg.config_path = "/etc/aigw/config.toml";
    CHECK_FALSE(listen_refusal(cfg));  // 127.0.0.1, plain HTTP: as always

    cfg.host = "0.0.0.0";
    auto both = listen_refusal(cfg);
    REQUIRE(both);
    CHECK(both->find("tls_cert") != std::string::npos);
    CHECK(both->find("tls_key") != std::string::npos);
    CHECK(both->find("require_virtual_keys = true") != std::string::npos);
    CHECK(both->find("/etc/aigw/config.toml") != std::string::npos);

    cfg.tls_cert = "/c.pem";
    cfg.tls_key = "/k.pem";
    auto keys = listen_refusal(cfg);
    REQUIRE(keys);
    CHECK(keys->find("require_virtual_keys = true") != std::string::npos);
    CHECK(keys->find("tls_cert =") == std::string::npos);

    cfg.require_virtual_keys = true;
    CHECK_FALSE(listen_refusal(cfg));

    cfg.tls_cert.clear();
    cfg.tls_key.clear();
    auto tls = listen_refusal(cfg);
    REQUIRE(tls);
    CHECK(tls->find("tls_cert =") != std::string::npos);
    CHECK(tls->find("require_virtual_keys = true") == std::string::npos);
}

TEST_CASE("a certificate without its key (or the reverse) is refused even on loopback")
{
    aigw::config::Config cfg;
    cfg.tls_cert = "/c.pem";
    auto r = listen_refusal(cfg);
    REQUIRE(r);
    CHECK(r->find("tls_cert is set without tls_key") != std::string::npos);
    cfg.tls_cert.clear();
    cfg.tls_key = "/k.pem";
    REQUIRE(listen_refusal(cfg));
    CHECK(listen_refusal(cfg)->find("tls_key is set without tls_cert") != std::string::npos);
}

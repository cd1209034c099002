// RESP2: commands encoded as Redis reads them; replies parsed from partial buffers.

#include "daemon/cluster/resp.hpp"

#include <doctest/doctest.h>

using aigw::daemon::cluster::encode_command;
using aigw::daemon::cluster::parse_reply;
using aigw::daemon::cluster::RespValue;

TEST_CASE("a command is an array of binary-safe bulk strings")
{
    CHECK(encode_command({"SET", "k", "v"}) == "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n");
    static constexpr char k_wire[] = "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$6\r\na\r\nb\0c\r\n";
    CHECK(encode_command({"SET", "k", std::string("a\r\nb\0c", 6)}) == std::string(k_wire, sizeof k_wire - 1));
    CHECK(encode_command({}) == "*0\r\n");
}

TEST_CASE("every reply type parses, and a partial reply asks for more at every cut")
{
    const std::string wire = "*5\r\n+OK\r\n-ERR no\r\n:-42\r\n$5\r\nhe\r\nl\r\n*2\r\n$-1\r\n*0\r\n";
    for (std::size_t cut = 0; cut < wire.size(); ++cut) {
        std::size_t consumed = 0;
        auto r = parse_reply(std::string_view(wire).substr(0, cut), consumed);
        REQUIRE_MESSAGE(r.has_value(), cut);
        CHECK_MESSAGE(!r->has_value(), cut);
    }
    std::size_t consumed = 0;
    auto r = parse_reply(wire + "+NEXT\r\n", consumed);
    REQUIRE(r.has_value());
    REQUIRE(r->has_value());
    CHECK(consumed == wire.size());
    const RespValue& v = **r;
    REQUIRE(v.type == RespValue::Type::array);
    REQUIRE(v.items.size() == 5);
    CHECK(v.items[0].type == RespValue::Type::simple);
    CHECK(v.items[0].text == "OK");
    CHECK(v.items[1].is_error());
    CHECK(v.items[1].text == "ERR no");
    CHECK(v.items[2].integer == -42);
    CHECK(v.items[3].text == "he\r\nl");
    REQUIRE(v.items[4].items.size() == 2);
    CHECK(v.items[4].items[0].is_nil());
    CHECK(v.items[4].items[1].type == RespValue::Type::array);
}

TEST_CASE("bytes that are not RESP are an error, not a crash or a huge allocation")
{
    std::size_t consumed = 0;
    CHECK_FALSE(parse_reply("?what\r\n", consumed).has_value());
    CHECK_FALSE(parse_reply(":12x\r\n", consumed).has_value());
    CHECK_FALSE(parse_reply("$-2\r\n", consumed).has_value());
    CHECK_FALSE(parse_reply("$99999999999\r\n", consumed).has_value());
    CHECK_FALSE(parse_reply("*99999999999\r\n", consumed).has_value());
    CHECK_FALSE(parse_reply("$3\r\nabcXY", consumed).has_value());
    std::string deep;
    for (int i = 0; i < 40; ++i) {
        deep += "*1\r\n";
    }
    CHECK_FALSE(parse_reply(deep + ":1\r\n", consumed).has_value());
    CHECK_FALSE(parse_reply("+" + std::string(70 * 1024, 'x'), consumed).has_value());
}

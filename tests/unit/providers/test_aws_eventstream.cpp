// AWS event-stream framing (application/vnd.amazon.eventstream): CRCs, headers of every
// type, messages split at any byte, and the SseEvent each message becomes.

#include "daemon/providers/bedrock/aws_eventstream.hpp"

#include <doctest/doctest.h>

#include <nlohmann/json.hpp>

namespace es = aigw::daemon::providers::aws_eventstream;
namespace wire = aigw::wire;
using nlohmann::json;

namespace {

void put_u32(std::string& out, std::uint32_t v)
{
    for (int shift = 24; shift >= 0; shift -= 8) {
        out += static_cast<char>((v >> shift) & 0xff);
    }
}

/// Builds a frame from a raw headers block (for header types encode() does not write).
std::string frame(const std::string& headers, const std::string& payload)
{
    std::string out;
    put_u32(out, static_cast<std::uint32_t>(16 + headers.size() + payload.size()));
    put_u32(out, static_cast<std::uint32_t>(headers.size()));
    put_u32(out, es::crc32(out));
    out += headers;
    out += payload;
    put_u32(out, es::crc32(out));
    return out;
}

std::string string_header(const std::string& name, const std::string& value)
{
    std::string h;
    h += static_cast<char>(name.size());
    h += name;
    h += static_cast<char>(7);
    h += static_cast<char>(value.size() >> 8);
    h += static_cast<char>(value.size() & 0xff);
    h += value;
    return h;
}

std::string event(const std::string& type, const std::string& payload)
{
    return es::encode({{":event-type", type}, {":content-type", "application/json"}, {":message-type", "event"}},
                      payload);
}

}  // namespace

TEST_CASE("eventstream: crc32 is the IEEE CRC-32 zlib computes")
{
    CHECK(es::crc32("") == 0U);
    CHECK(es::crc32("123456789") == 0xCBF43926U);
    CHECK(es::crc32("456789", es::crc32("123")) == 0xCBF43926U);
}

TEST_CASE("eventstream: a message with an empty payload and no headers decodes (AWS's empty-message vector)")
{
    // From AWS's event-stream encoding test vectors: 16 bytes, prelude CRC 0x05c248eb.
    const std::string bytes("\x00\x00\x00\x10\x00\x00\x00\x00\x05\xc2\x48\xeb\x7d\x98\xc8\xff", 16);
    es::Decoder d;
    std::vector<es::Message> out;
    REQUIRE(d.feed(bytes, out).has_value());
    REQUIRE(out.size() == 1);
    CHECK(out[0].headers.empty());
    CHECK(out[0].payload.empty());
    CHECK(es::encode({}, "") == bytes);
}

TEST_CASE("eventstream: messages decode whole, back to back, and split at every byte")
{
    std::string stream = event("messageStart", R"({"role":"assistant"})") +
                         event("contentBlockDelta", R"({"contentBlockIndex":0,"delta":{"text":"Hi"}})") +
                         event("messageStop", R"({"stopReason":"end_turn"})");
    for (std::size_t step : {stream.size(), std::size_t{1}, std::size_t{7}}) {
        CAPTURE(step);
        es::Decoder d;
        std::vector<es::Message> out;
        for (std::size_t i = 0; i < stream.size(); i += step) {
            REQUIRE(d.feed(std::string_view(stream).substr(i, step), out).has_value());
        }
        REQUIRE(out.size() == 3);
        CHECK(out[0].headers.at(":event-type") == "messageStart");
        CHECK(out[1].payload == R"({"contentBlockIndex":0,"delta":{"text":"Hi"}})");
        CHECK(out[2].headers.at(":message-type") == "event");
        CHECK(d.pending() == 0);
    }
}

TEST_CASE("eventstream: headers of every type are skipped correctly, strings kept")
{
    std::string h;
    h += string_header(":event-type", "metadata");
    h += std::string(
        "\x04"
        "true"
        "\x00",
        6);  // bool true, no value
    h += std::string(
        "\x05"
        "false"
        "\x01",
        7);  // bool false
    h += std::string(
        "\x01"
        "b"
        "\x02\x7f",
        4);  // byte
    h += std::string(
        "\x01"
        "s"
        "\x03\x01\x02",
        5);  // short
    h += std::string(
        "\x01"
        "i"
        "\x04\x00\x00\x00\x01",
        7);  // int
    h += std::string(
        "\x01"
        "l"
        "\x05\x00\x00\x00\x00\x00\x00\x00\x01",
        11);  // long
    h += std::string(
        "\x03"
        "bin"
        "\x06\x00\x03\x01\x02\x03",
        10);  // byte array
    h += std::string(
        "\x02"
        "ts"
        "\x08\x00\x00\x01\x00\x00\x00\x00\x00",
        12);  // timestamp
    h.append(
        "\x01"
        "u"
        "\x09",
        3);  // uuid
    h.append(16, '\x42');
    h += string_header(":message-type", "event");
    es::Decoder d;
    std::vector<es::Message> out;
    REQUIRE(d.feed(frame(h, "{}"), out).has_value());
    REQUIRE(out.size() == 1);
    CHECK(out[0].headers.size() == 2);
    CHECK(out[0].headers.at(":event-type") == "metadata");
    CHECK(out[0].headers.at(":message-type") == "event");
    CHECK(out[0].payload == "{}");
}

TEST_CASE("eventstream: a bad prelude CRC or message CRC is a Failure, and the decoder stays failed")
{
    std::string good = event("messageStart", R"({"role":"assistant"})");
    SUBCASE("message CRC")
    {
        std::string bad = good;
        bad[bad.size() - 1] = static_cast<char>(bad.back() ^ 0x01);
        es::Decoder d;
        std::vector<es::Message> out;
        auto r = d.feed(bad, out);
        REQUIRE_FALSE(r.has_value());
        CHECK(r.error().kind == wire::FailureKind::upstream);
        CHECK(r.error().message.find("CRC") != std::string::npos);
        CHECK(out.empty());
        CHECK_FALSE(d.feed(good, out).has_value());
    }
    SUBCASE("prelude CRC")
    {
        std::string bad = good;
        bad[9] = static_cast<char>(bad[9] ^ 0x10);
        es::Decoder d;
        std::vector<es::Message> out;
        CHECK_FALSE(d.feed(bad.substr(0, 12), out).has_value());
    }
    SUBCASE("payload corrupted")
    {
        std::string bad = good;
        bad[bad.size() - 6] = 'X';
        es::Decoder d;
        std::vector<es::Message> out;
        CHECK_FALSE(d.feed(bad, out).has_value());
    }
}

TEST_CASE("eventstream: an impossible length is a Failure, not a wait for 4 GiB")
{
    std::string prelude;
    put_u32(prelude, 0xFFFFFFF0U);
    put_u32(prelude, 0);
    put_u32(prelude, es::crc32(prelude));
    es::Decoder d;
    std::vector<es::Message> out;
    CHECK_FALSE(d.feed(prelude, out).has_value());
}

TEST_CASE("eventstream: events, exceptions and errors become SseEvents")
{
    es::Message m;
    m.headers = {{":event-type", "contentBlockDelta"}, {":message-type", "event"}};
    m.payload = R"({"delta":{"text":"x"}})";
    auto ev = es::to_event(m);
    CHECK(ev.event == "contentBlockDelta");
    CHECK(ev.data == m.payload);

    es::Message ex;
    ex.headers = {{":exception-type", "throttlingException"}, {":message-type", "exception"}};
    ex.payload = R"({"message":"Too many requests, please wait before trying again."})";
    auto exev = es::to_event(ex);
    CHECK(exev.event == "error");
    auto data = json::parse(exev.data);
    CHECK(data["__type"] == "throttlingException");
    CHECK(data["message"] == "Too many requests, please wait before trying again.");

    es::Message err;
    err.headers = {{":error-code", "InternalFailure"}, {":error-message", "boom"}, {":message-type", "error"}};
    auto errev = es::to_event(err);
    CHECK(errev.event == "error");
    CHECK(json::parse(errev.data)["__type"] == "InternalFailure");
    CHECK(json::parse(errev.data)["message"] == "boom");
}

TEST_CASE("eventstream: the StreamDecoder yields one SseEvent per message")
{
    auto dec = es::make_decoder();
    std::string stream = event("messageStart", R"({"role":"assistant"})") + event("messageStop", "{}");
    std::vector<wire::SseEvent> out;
    for (char c : stream) {
        REQUIRE(dec->feed(std::string_view(&c, 1), out).has_value());
    }
    dec->finish(out);
    REQUIRE(out.size() == 2);
    CHECK(out[0].event == "messageStart");
    CHECK(out[1].event == "messageStop");
}

#include "shared/wire/sse.hpp"

#include <doctest/doctest.h>

using aigw::wire::SseEvent;
using aigw::wire::SseReader;

namespace {
std::vector<SseEvent> parse_in_pieces(std::string_view text, std::size_t piece)
{
    SseReader reader;
    std::vector<SseEvent> out;
    for (std::size_t i = 0; i < text.size(); i += piece) {
        reader.feed(text.substr(i, piece), out);
    }
    reader.finish(out);
    return out;
}
}  // namespace

TEST_CASE("SSE events split at any byte boundary parse the same")
{
    const std::string_view text =
        "event: message_start\ndata: {\"a\":1}\n\n: keep-alive comment\n\ndata: one\ndata: two\n\n"
        "data: [DONE]\n\n";
    for (std::size_t piece : {1u, 2u, 3u, 7u, 1000u}) {
        auto events = parse_in_pieces(text, piece);
        REQUIRE(events.size() == 3);
        CHECK(events[0].event == "message_start");
        CHECK(events[0].data == "{\"a\":1}");
        CHECK(events[1].event.empty());
        CHECK(events[1].data == "one\ntwo");
        CHECK(events[2].data == "[DONE]");
    }
}

TEST_CASE("CRLF framing (Gemini) is one line ending, also when CR and LF arrive apart")
{
    const std::string_view text = "data: {\"x\":1}\r\n\r\ndata: {\"x\":2}\r\n\r\n";
    for (std::size_t piece : {1u, 5u, 1000u}) {
        auto events = parse_in_pieces(text, piece);
        REQUIRE(events.size() == 2);
        CHECK(events[0].data == "{\"x\":1}");
        CHECK(events[1].data == "{\"x\":2}");
    }
}

TEST_CASE("bare CR ends lines too")
{
    auto events = parse_in_pieces("data: a\r\rdata: b\r\r", 1);
    REQUIRE(events.size() == 2);
    CHECK(events[1].data == "b");
}

TEST_CASE("only one leading space after the colon is dropped; no colon means an empty value")
{
    auto events = parse_in_pieces("data:  two spaces\nevent\ndata:x\n\n", 4);
    REQUIRE(events.size() == 1);
    CHECK(events[0].data == " two spaces\nx");
    CHECK(events[0].event.empty());
}

TEST_CASE("an event without a trailing blank line is delivered by finish()")
{
    SseReader reader;
    std::vector<SseEvent> out;
    reader.feed("data: tail", out);
    CHECK(out.empty());
    CHECK(reader.finish(out));
    REQUIRE(out.size() == 1);
    CHECK(out[0].data == "tail");
}

TEST_CASE("an event with no data lines is not dispatched")
{
    auto events = parse_in_pieces("event: ping\n\ndata: x\n\n", 3);
    REQUIRE(events.size() == 1);
    CHECK(events[0].data == "x");
}

TEST_CASE("writer output round-trips through the reader, multi-line data included")
{
    std::string text = aigw::wire::sse_event("content_block_delta", "line1\nline2") + aigw::wire::sse_data("[DONE]");
    CHECK(text == "event: content_block_delta\ndata: line1\ndata: line2\n\ndata: [DONE]\n\n");
    auto events = parse_in_pieces(text, 2);
    REQUIRE(events.size() == 2);
    CHECK(events[0].event == "content_block_delta");
    CHECK(events[0].data == "line1\nline2");
    CHECK(events[1].data == "[DONE]");
}

TEST_CASE("random line endings, fields and splits: whole lines and lines cut across feeds parse alike")
{
    // Lines lying whole in one feed are read in place; a line cut by a feed's end is
    // gathered first. Both ways must give the same events, whatever the bytes.
    constexpr std::string_view alphabet = "data:event:id: x\r\n\n\n";
    std::uint32_t seed = 12345;
    auto next = [&seed] {
        seed = seed * 1664525u + 1013904223u;
        return seed >> 8;
    };
    for (int round = 0; round < 500; ++round) {
        std::string text;
        const std::size_t length = next() % 200;
        for (std::size_t i = 0; i < length; ++i) {
            text += alphabet[next() % alphabet.size()];
        }
        const auto whole = parse_in_pieces(text, text.size() + 1);
        for (std::size_t piece : {std::size_t{1}, std::size_t{2}, std::size_t{1 + next() % 16}}) {
            const auto split = parse_in_pieces(text, piece);
            REQUIRE(split.size() == whole.size());
            for (std::size_t e = 0; e < whole.size(); ++e) {
                CHECK(split[e].event == whole[e].event);
                CHECK(split[e].data == whole[e].data);
                CHECK(split[e].id == whole[e].id);
            }
        }
    }
}

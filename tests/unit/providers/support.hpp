#pragma once
// What the provider tests share: reading fixtures and running a recorded SSE stream
// through an adapter's translator the way the daemon's pipeline does.

#include "daemon/providers/adapter.hpp"
#include "shared/wire/sse.hpp"

#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

namespace aigw::test {

/// tests/fixtures/<provider>/<name>, whole (fails the test when missing).
inline std::string read_fixture(std::string_view provider, std::string_view name)
{
    std::ifstream in(std::filesystem::path(AIGW_FIXTURES_DIR) / provider / name, std::ios::binary);
    REQUIRE_MESSAGE(in.good(), "missing fixture " << provider << "/" << name);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

struct StreamRun {
    std::vector<nlohmann::json> chunks;
    std::optional<wire::Failure> failure;
    bool finished = false;
    wire::Usage usage;
};

/// Feeds `bytes` to an SSE reader in pieces of `step` bytes (so events and CRLF pairs split
/// anywhere), finishes the reader at the end as the pipeline does, and hands every event to
/// `translator` until the first failure.
inline StreamRun run_sse(daemon::providers::StreamTranslator& translator, std::string_view bytes, std::size_t step)
{
    wire::SseReader reader;
    std::vector<wire::SseEvent> events;
    for (std::size_t i = 0; i < bytes.size(); i += step) {
        reader.feed(bytes.substr(i, step), events);
    }
    reader.finish(events);
    StreamRun run;
    for (const auto& ev : events) {
        auto r = translator.on_event(ev, run.chunks);
        if (!r) {
            run.failure = r.error();
            break;
        }
    }
    run.finished = translator.finished();
    run.usage = translator.usage();
    return run;
}

/// Whether an OpenAI chunk carries content, as the relay's has_content() reads it.
inline bool chunk_has_content(const nlohmann::json& chunk)
{
    if (!chunk.contains("choices") || !chunk["choices"].is_array()) {
        return false;
    }
    for (const auto& choice : chunk["choices"]) {
        const nlohmann::json& d = choice.contains("delta") ? choice["delta"] : nlohmann::json::object();
        for (const char* field : {"content", "reasoning_content", "refusal"}) {
            if (d.contains(field) && d[field].is_string() && !d[field].get<std::string>().empty()) {
                return true;
            }
        }
        if (d.contains("tool_calls")) {
            return true;
        }
    }
    return false;
}

/// The finish reasons of `chunks`, in order.
inline std::vector<std::string> finish_reasons(const std::vector<nlohmann::json>& chunks)
{
    std::vector<std::string> out;
    for (const auto& c : chunks) {
        for (const auto& choice : c.value("choices", nlohmann::json::array())) {
            if (choice.contains("finish_reason") && choice["finish_reason"].is_string()) {
                out.push_back(choice["finish_reason"]);
            }
        }
    }
    return out;
}

/// Feeds the events of `bytes` to a translator and to a passthrough tap, one by one, and
/// checks that the tap reads what the relay uses of the translator's reading: the same
/// failure, usage and end after each event, the answer beginning at the same event, the same
/// finish reasons, and no more than `max_chunks` chunks in all.
inline void check_tap_reads_as_translator(daemon::providers::StreamTranslator& translator,
                                          daemon::providers::StreamTranslator& tap, std::vector<wire::SseEvent> events,
                                          std::size_t max_chunks)
{
    std::vector<nlohmann::json> translated;
    std::vector<nlohmann::json> tapped;
    bool translator_began = false;
    bool tap_began = false;
    for (const auto& ev : events) {
        CAPTURE(ev.data);
        const std::size_t translated_before = translated.size();
        const std::size_t tapped_before = tapped.size();
        auto a = translator.on_event(ev, translated);
        auto b = tap.on_event(ev, tapped);
        REQUIRE(a.has_value() == b.has_value());
        if (!a) {
            CHECK(a.error().status == b.error().status);
            CHECK(a.error().kind == b.error().kind);
            CHECK(a.error().message == b.error().message);
            break;
        }
        for (std::size_t i = translated_before; i < translated.size(); ++i) {
            translator_began = translator_began || chunk_has_content(translated[i]);
        }
        for (std::size_t i = tapped_before; i < tapped.size(); ++i) {
            tap_began = tap_began || chunk_has_content(tapped[i]);
        }
        CHECK(translator_began == tap_began);  // the answer begins at the same event
        CHECK(tap.usage() == translator.usage());
        CHECK(tap.finished() == translator.finished());
    }
    CHECK(finish_reasons(tapped) == finish_reasons(translated));
    CHECK(tapped.size() <= max_chunks);
}

/// The SSE events of `bytes`, as the pipeline's reader splits them.
inline std::vector<wire::SseEvent> sse_events(std::string_view bytes)
{
    wire::SseReader reader;
    std::vector<wire::SseEvent> events;
    reader.feed(bytes, events);
    reader.finish(events);
    return events;
}

}  // namespace aigw::test

#pragma once
// What the provider tests share: reading fixtures and running a recorded SSE stream
// through an adapter's translator the way the daemon's pipeline does.

#include "daemon/providers/adapter.hpp"

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

}  // namespace aigw::test

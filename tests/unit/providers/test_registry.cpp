// The provider registry: every wire format a config can name has exactly one adapter.
#include "daemon/providers/adapter.hpp"
#include "shared/config/providers.hpp"

#include <doctest/doctest.h>

#include <set>

namespace p = aigw::daemon::providers;
using aigw::config::WireFormat;

TEST_CASE("every wire format a config can name resolves to its own adapter")
{
    std::set<const p::Adapter*> seen;
    for (const char* name : {"openai", "anthropic", "gemini", "azure", "bedrock", "cohere", "mock"}) {
        CAPTURE(name);
        const auto wire = aigw::config::wire_format_from_string(name);
        REQUIRE(wire.has_value());
        const p::Adapter* adapter = p::adapter_for(*wire);
        REQUIRE(adapter != nullptr);
        CHECK(seen.insert(adapter).second);
    }
    CHECK(p::adapter_for(WireFormat::openai) == &p::openai_adapter());
    CHECK(p::adapter_for(WireFormat::anthropic) == &p::anthropic_adapter());
    CHECK(p::adapter_for(WireFormat::mock) == &p::mock_adapter());
}

TEST_CASE("a translator that passes chunks through reads their usage in take_usage() as on_event() does")
{
    // The relay sends such a translator's chunks to an OpenAI client as text and hands it only
    // a chunk's `usage`: the ledger's counts and the refusal of impossible ones must not
    // depend on which way a chunk went.
    aigw::config::ProviderSpec spec;
    spec.name = "x";
    p::Target target{.provider = &spec, .model = "m", .api_key = "k", .base_url = "http://127.0.0.1:9/v1"};
    int passing = 0;
    for (const char* name : {"openai", "anthropic", "gemini", "azure", "bedrock", "cohere", "mock"}) {
        CAPTURE(name);
        const p::Adapter* adapter = p::adapter_for(*aigw::config::wire_format_from_string(name));
        REQUIRE(adapter != nullptr);
        if (!adapter->chat_stream(target)->passes_chunks_through()) {
            continue;
        }
        ++passing;
        for (const char* usage :
             {R"({"prompt_tokens":7,"completion_tokens":5,"prompt_tokens_details":{"cached_tokens":2},)"
              R"("completion_tokens_details":{"reasoning_tokens":3}})",
              R"({"prompt_tokens":-1,"completion_tokens":5})", R"({"prompt_tokens":1.5})"}) {
            CAPTURE(usage);
            auto by_event = adapter->chat_stream(target);
            std::vector<nlohmann::json> out;
            const auto evented = by_event->on_event(
                aigw::wire::SseEvent{.data = std::string(R"({"choices":[],"usage":)") + usage + "}"}, out);
            auto by_usage = adapter->chat_stream(target);
            const auto taken = by_usage->take_usage(nlohmann::json::parse(usage));
            REQUIRE(evented.has_value() == taken.has_value());
            const auto a = by_event->usage();
            const auto b = by_usage->usage();
            CHECK(a.input_tokens == b.input_tokens);
            CHECK(a.output_tokens == b.output_tokens);
            CHECK(a.cached_tokens == b.cached_tokens);
            CHECK(a.reasoning_tokens == b.reasoning_tokens);
            CHECK(a.reported == b.reported);
            if (taken) {  // the one possible usage above: its counts, not merely the same ones
                CHECK(b.input_tokens == 7);
                CHECK(b.output_tokens == 5);
                CHECK(b.cached_tokens == 2);
                CHECK(b.reasoning_tokens == 3);
            }
        }
    }
    CHECK(passing >= 2);  // openai and mock: a test that checks nothing would pass too
}

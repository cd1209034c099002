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

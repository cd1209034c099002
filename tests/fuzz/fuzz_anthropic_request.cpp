// The Anthropic surface's request path: body -> parse_json_body -> validate_messages_request
// -> anthropic_request_to_canonical -> validate_chat_request -> cache key. The translator is
// also given bodies that failed validation: it must refuse them cleanly, not throw.
#include "tests/fuzz/fuzz_support.hpp"

#include "daemon/cache/cache_key.hpp"
#include "daemon/providers/anthropic/anthropic_surface.hpp"
#include "daemon/providers/validate.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
    using namespace aigw;
    namespace p = daemon::providers;
    auto body = wire::parse_json_body(fuzz::as_text(data, size));
    if (!body) {
        fuzz::require_serialisable(wire::to_anthropic_error(body.error()));
        return 0;
    }
    auto invalid = p::validate_messages_request(*body);
    if (invalid) {
        fuzz::require_serialisable(wire::to_anthropic_error(*invalid));
    }
    auto canonical = p::anthropic_request_to_canonical(*body);
    if (!canonical) {
        fuzz::require_serialisable(wire::to_anthropic_error(canonical.error()));
        return 0;
    }
    fuzz::require_serialisable(*canonical);
    (void)p::validate_chat_request(*canonical);
    (void)daemon::cache::cache_key(*canonical, "mock/echo");
    return 0;
}

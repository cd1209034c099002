// The OpenAI surface's request path: parse_json_body -> validate_chat_request; a valid body
// goes on to the cache key and the mock provider (complete and stream), whose text must
// stay valid UTF-8 however it is cut. Embeddings validation and the mock's embeddings too.
#include "tests/fuzz/fuzz_support.hpp"

#include "daemon/cache/cache_key.hpp"
#include "daemon/providers/anthropic/anthropic_surface.hpp"
#include "daemon/providers/mock/mock.hpp"
#include "daemon/providers/validate.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
    using namespace aigw;
    namespace p = daemon::providers;
    auto body = wire::parse_json_body(fuzz::as_text(data, size));
    if (!body) {
        fuzz::require_serialisable(wire::to_openai_error(body.error()));
        return 0;
    }
    if (auto bad = p::validate_embeddings_request(*body); !bad) {
        fuzz::require_serialisable(p::mock::embeddings(*body, "mock/echo").body);
    }
    if (auto bad = p::validate_chat_request(*body)) {
        fuzz::require_serialisable(wire::to_openai_error(*bad));
        return 0;
    }
    (void)daemon::cache::cache_key(*body);
    (void)daemon::cache::semantic_partition(*body);
    (void)daemon::cache::semantic_text(*body);
    auto answer = p::mock::complete(*body, "echo", "req-1", 0);
    fuzz::require_serialisable(answer.body);
    p::AnthropicStreamWriter writer("mock/echo");
    for (const auto& chunk : p::mock::stream_chunks(*body, "echo", "req-1", 0)) {
        fuzz::require_serialisable(chunk);
        for (const auto& ev : writer.on_chunk(chunk)) {
            fuzz::require(wire::is_valid_utf8(ev), "writer event not UTF-8");
        }
    }
    (void)writer.finish();
    return 0;
}

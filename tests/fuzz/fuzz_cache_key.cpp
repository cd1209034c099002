// The response cache's key: any JSON value (not only valid requests) hashes without throwing.
#include "tests/fuzz/fuzz_support.hpp"

#include "daemon/cache/cache_key.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
    using namespace aigw;
    auto body = wire::parse_json_body(fuzz::as_text(data, size));
    if (!body) {
        return 0;
    }
    auto key = daemon::cache::cache_key(*body, size % 2 == 0 ? "" : "openai/gpt-4o");
    fuzz::require(key.size() == 64, "key is not a SHA-256 hex");
    (void)daemon::cache::semantic_partition(*body);
    (void)daemon::cache::semantic_text(*body);
    fuzz::require_serialisable(daemon::cache::request_meaning(*body));
    return 0;
}

// The config loader from TOML text: any bytes give a Config or an error string, and the
// models it names resolve (or are refused) without throwing.
#include "tests/fuzz/fuzz_support.hpp"

#include "shared/config/config.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
    using namespace aigw;
    auto cfg = config::parse_config(fuzz::as_text(data, size), "fuzz.toml");
    if (!cfg) {
        return 0;
    }
    for (const char* model : {"openai/gpt-4o", "fast", "gpt-4o", "mock/echo", "auto", "OpenAI//GPT-4o "}) {
        auto r = config::resolve_model(*cfg, model);
        if (!r) {
            fuzz::require_serialisable(wire::to_openai_error(r.error()));
        }
    }
    return 0;
}

// Chunk scanner: the one-pass reader the relay tries first must say what nlohmann's SAX
// reader says about any input it is sure of (refused, or the same facts).
#include "tests/fuzz/fuzz_support.hpp"

#include "daemon/pipeline/chunk_scan.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
    using namespace aigw::daemon::pipeline;
    const auto text = aigw::fuzz::as_text(data, size);
    ChunkFacts fast;
    const auto verdict = detail::scan_chunk_fast(text, fast);
    if (verdict == detail::Scan::unsure) {
        return 0;
    }
    const auto sax = detail::scan_chunk_sax(text);
    aigw::fuzz::require(sax.has_value() == (verdict == detail::Scan::facts), "the readers disagree on refusal");
    if (sax) {
        aigw::fuzz::require(fast.content_chars == sax->content_chars, "content_chars differ");
        aigw::fuzz::require(fast.has_content == sax->has_content, "has_content differs");
        aigw::fuzz::require(fast.finish_reasons == sax->finish_reasons, "finish_reasons differ");
    }
    return 0;
}

// Chunk scanner: the one-pass reader the relay tries first must say what nlohmann's SAX
// reader says about any input it is sure of (refused, or the same facts); and the one-pass
// answer reader must read what OpenAI's chat_response() reads of any answer it is sure of.
#include "tests/fuzz/fuzz_support.hpp"

#include "daemon/pipeline/chunk_scan.hpp"
#include "daemon/providers/adapter.hpp"
#include "shared/wire/json_text.hpp"
#include "shared/wire/usage.hpp"

namespace {

void check_chunk(std::string_view text)
{
    using namespace aigw::daemon::pipeline;
    ChunkFacts fast;
    const auto verdict = detail::scan_chunk_fast(text, fast);
    if (verdict == detail::Scan::unsure) {
        return;
    }
    const auto sax = detail::scan_chunk_sax(text);
    aigw::fuzz::require(sax.has_value() == (verdict == detail::Scan::facts), "the readers disagree on refusal");
    if (sax) {
        aigw::fuzz::require(fast.content_chars == sax->content_chars, "content_chars differ");
        aigw::fuzz::require(fast.has_content == sax->has_content, "has_content differs");
        aigw::fuzz::require(fast.finish_reasons == sax->finish_reasons, "finish_reasons differ");
        aigw::fuzz::require(fast.usage.dump() == sax->usage.dump(), "usage differs");
        aigw::fuzz::require(fast.usage_only == sax->usage_only, "usage_only differs");
    }
}

void check_completion(std::string_view text)
{
    const auto fast = aigw::daemon::pipeline::scan_completion(text);
    if (!fast) {
        return;
    }
    const auto doc = aigw::wire::parse_json_lenient(text);
    aigw::fuzz::require(doc.is_object(), "the answer reader vouched for a body that is not an object");
    const auto u = doc.find("usage");
    const nlohmann::json usage = u != doc.end() ? *u : nlohmann::json();
    const auto read = fast->usage;
    aigw::fuzz::require(read == aigw::wire::usage_from_openai(usage), "usage differs");
    const auto slow = aigw::daemon::providers::openai_adapter().chat_response(text, {});
    aigw::fuzz::require(slow ? slow->usage == read : aigw::wire::check_usage(read).has_value(),
                        "chat_response() reads the usage differently");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
    const auto text = aigw::fuzz::as_text(data, size);
    check_chunk(text);
    check_completion(text);
    return 0;
}

// AWS event-stream decoder: any bytes, any split; framing errors are Failures, never throws.
#include "tests/fuzz/fuzz_support.hpp"

#include "daemon/providers/bedrock/aws_eventstream.hpp"

#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
    using namespace aigw;
    namespace es = daemon::providers::aws_eventstream;
    auto text = fuzz::as_text(data, size);
    std::size_t step = size == 0 ? 1 : 1 + data[0] % 64;
    es::Decoder decoder;
    std::vector<es::Message> messages;
    for (std::size_t i = 0; i < text.size(); i += step) {
        if (!decoder.feed(text.substr(i, step), messages)) {
            break;
        }
    }
    for (const auto& m : messages) {
        auto ev = es::to_event(m);
        (void)ev;
    }
    // The same bytes with valid CRCs: reframe the input as a payload so the header and
    // payload paths are reached past the checksums.
    std::string framed = es::encode({{":event-type", "contentBlockDelta"}, {":message-type", "event"}}, text);
    auto sse = es::make_decoder();
    std::vector<wire::SseEvent> events;
    (void)sse->feed(framed, events);
    sse->finish(events);
    return 0;
}

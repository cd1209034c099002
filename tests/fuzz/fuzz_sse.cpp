// SSE reader: any bytes, any split; the reader never throws and its buffer stays bounded by
// the bytes fed.
#include "tests/fuzz/fuzz_support.hpp"

#include "shared/wire/sse.hpp"

#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
    using namespace aigw;
    auto text = fuzz::as_text(data, size);
    std::size_t step = size == 0 ? 1 : 1 + data[0] % 17;
    wire::SseReader reader;
    std::vector<wire::SseEvent> events;
    for (std::size_t i = 0; i < text.size(); i += step) {
        reader.feed(text.substr(i, step), events);
        fuzz::require(reader.pending() <= size, "pending larger than input");
    }
    reader.finish(events);
    for (const auto& ev : events) {
        fuzz::require(ev.data.size() <= size, "event larger than input");
        (void)wire::sse_event(ev.event, ev.data);
    }
    return 0;
}

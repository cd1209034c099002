// One provider's answer translators, built once per wire format (AIGW_FUZZ_WIRE): the
// non-streamed chat_response and embeddings_response on the input as a body, then the input
// as an upstream stream through the provider's decoder and stream translator, and every
// canonical chunk on through the Anthropic surface's stream writer (what /v1/messages
// relays). Every output must serialise; failures must render as both error shapes.
#include "tests/fuzz/fuzz_support.hpp"

#include "daemon/providers/adapter.hpp"
#include "daemon/providers/anthropic/anthropic_surface.hpp"
#include "shared/config/providers.hpp"

#include <vector>

namespace {

using namespace aigw;
namespace p = daemon::providers;

const p::Target& target()
{
    static const p::Target t = [] {
        p::Target x;
        for (const auto& spec : config::builtin_providers()) {
            if (spec.wire == config::WireFormat::AIGW_FUZZ_WIRE) {
                x.provider = &spec;
                x.base_url = spec.base_url;
                break;
            }
        }
        x.model = "fuzz-model";
        x.api_key = "sk-fuzz-0000000000000000";
        x.default_max_tokens = 1024;
        x.aws = {"AKIDEXAMPLE", "secret", "", "us-east-1"};
        return x;
    }();
    return t;
}

void check_failure(const wire::Failure& f)
{
    fuzz::require_serialisable(wire::to_openai_error(f));
    fuzz::require_serialisable(wire::to_anthropic_error(f));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
    auto text = fuzz::as_text(data, size);
    const p::Adapter* adapter = p::adapter_for(config::WireFormat::AIGW_FUZZ_WIRE);
    fuzz::require(adapter != nullptr, "no adapter");

    if (auto r = adapter->chat_response(text, target())) {
        fuzz::require_serialisable(r->body);
        fuzz::require(!wire::check_usage(r->usage).has_value(), "impossible usage accepted");
        fuzz::require_serialisable(p::canonical_response_to_anthropic(r->body, "m"));
    } else {
        check_failure(r.error());
    }
    if (auto r = adapter->embeddings_response(text, target())) {
        fuzz::require_serialisable(r->body);
    } else {
        check_failure(r.error());
    }
    check_failure(
        adapter->classify_error(400 + (size % 200), text, {{"retry-after", std::string(text.substr(0, 20))}}));

    auto decoder = adapter->stream_decoder();
    auto translator = adapter->chat_stream(target());
    p::AnthropicStreamWriter writer("m");
    std::vector<wire::SseEvent> events;
    std::size_t step = size == 0 ? 1 : 1 + data[0] % 29;
    bool ok = true;
    for (std::size_t i = 0; i < text.size() && ok; i += step) {
        if (auto fed = decoder->feed(text.substr(i, step), events); !fed) {
            check_failure(fed.error());
            ok = false;
        }
    }
    if (ok) {
        decoder->finish(events);
    }
    std::vector<nlohmann::json> chunks;
    for (const auto& ev : events) {
        auto r = translator->on_event(ev, chunks);
        if (!r) {
            check_failure(r.error());
            (void)p::AnthropicStreamWriter::error_event(r.error());
            break;
        }
    }
    for (const auto& chunk : chunks) {
        fuzz::require_serialisable(chunk);
        for (const auto& ev : writer.on_chunk(chunk)) {
            fuzz::require(wire::is_valid_utf8(ev), "writer event not UTF-8");
        }
    }
    (void)writer.finish();
    (void)translator->usage();

    // A native stream's tap reads what the translator reads of the same events: the same
    // failure at the same event, the same usage and end after each.
    constexpr config::WireFormat wire_format = config::WireFormat::AIGW_FUZZ_WIRE;
    std::unique_ptr<p::StreamTranslator> tap;
    if constexpr (wire_format == config::WireFormat::anthropic) {
        tap = p::anthropic_passthrough_tap();
    } else if constexpr (wire_format == config::WireFormat::gemini) {
        tap = p::gemini_passthrough_tap();
    }
    if (tap) {
        auto reference = adapter->chat_stream(target());
        std::vector<nlohmann::json> translated;
        std::vector<nlohmann::json> tapped;
        for (const auto& ev : events) {
            auto a = reference->on_event(ev, translated);
            auto b = tap->on_event(ev, tapped);
            fuzz::require(a.has_value() == b.has_value(), "the tap and the translator disagree on a failure");
            if (!a) {
                fuzz::require(a.error().status == b.error().status && a.error().message == b.error().message,
                              "the tap failed otherwise");
                break;
            }
            fuzz::require(tap->usage() == reference->usage(), "the tap read other usage");
            fuzz::require(tap->finished() == reference->finished(), "the tap ended otherwise");
        }
        fuzz::require(tapped.size() <= 1 + translated.size(), "the tap built chunks of its own");
    }
    return 0;
}

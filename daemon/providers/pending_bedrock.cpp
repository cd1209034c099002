// Placeholder for the Bedrock adapter being written (bedrock.cpp replaces this one).
// Routes to a clear 501 rather than a crash.
#include "daemon/providers/adapter.hpp"

namespace aigw::daemon::providers {
namespace {
class PendingAdapter final : public Adapter {
public:
    std::expected<UpstreamRequest, wire::Failure> chat_request(const nlohmann::json&, const Target&, bool) const override
    {
        wire::Failure f = wire::bad_request("the bedrock adapter is not available in this build");
        f.status = 501;
        return std::unexpected(f);
    }
    std::expected<ChatResult, wire::Failure> chat_response(std::string_view, const Target&) const override
    {
        return std::unexpected(wire::internal_error("unreachable"));
    }
    std::unique_ptr<StreamTranslator> chat_stream(const Target&) const override { return nullptr; }
};
}  // namespace
const Adapter& bedrock_adapter()
{
    static const PendingAdapter k_adapter;
    return k_adapter;
}
}  // namespace aigw::daemon::providers

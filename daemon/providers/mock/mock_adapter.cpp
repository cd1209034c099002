// The mock provider's adapter: OpenAI's wire format over the in-process mock transport
// (daemon/upstream/mock_transport.cpp). Requests carry the canonical body as is.

#include "daemon/providers/adapter.hpp"
#include "shared/wire/json_text.hpp"

namespace aigw::daemon::providers {

namespace {

class MockAdapter final : public Adapter {
public:
    std::expected<UpstreamRequest, wire::Failure> chat_request(const nlohmann::json& canonical, const Target& target,
                                                               bool stream) const override
    {
        nlohmann::json body = canonical;
        body["model"] = target.model;
        body["stream"] = stream;
        return request("/chat/completions", body);
    }
    std::expected<ChatResult, wire::Failure> chat_response(std::string_view body, const Target& target) const override
    {
        return openai_adapter().chat_response(body, target);
    }
    bool chat_response_is_openai() const override { return true; }
    std::unique_ptr<StreamTranslator> chat_stream(const Target& target) const override
    {
        return openai_adapter().chat_stream(target);
    }
    std::expected<UpstreamRequest, wire::Failure> embeddings_request(const nlohmann::json& canonical,
                                                                     const Target& target) const override
    {
        nlohmann::json body = canonical;
        body["model"] = target.model;
        body.erase("encoding_format");  // floats; the surface encodes base64 itself
        return request("/embeddings", body);
    }
    std::expected<ChatResult, wire::Failure> embeddings_response(std::string_view body,
                                                                 const Target& target) const override
    {
        return openai_adapter().embeddings_response(body, target);
    }

private:
    static UpstreamRequest request(std::string path, const nlohmann::json& body)
    {
        UpstreamRequest up;
        up.path = std::move(path);
        up.headers.emplace_back("Content-Type", "application/json");
        up.body = wire::dump_json(body);
        return up;
    }
};

}  // namespace

const Adapter& mock_adapter()
{
    static const MockAdapter a;
    return a;
}

}  // namespace aigw::daemon::providers

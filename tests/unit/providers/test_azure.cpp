// Azure OpenAI adapter: OpenAI's format behind Azure's deployment URLs and api-key header,
// against fixtures shaped like the examples in Microsoft's Azure OpenAI REST reference
// (tests/fixtures/azure).

#include "daemon/providers/adapter.hpp"
#include "shared/wire/sse.hpp"

#include "tests/unit/providers/support.hpp"

#include <doctest/doctest.h>

#include <fstream>
#include <sstream>

using nlohmann::json;
namespace p = aigw::daemon::providers;
namespace wire = aigw::wire;

namespace {

std::string fixture(const std::string& name)
{
    return aigw::test::read_fixture("azure", name);
}

aigw::config::ProviderSpec azure_spec(std::string api_version = {})
{
    aigw::config::ProviderSpec spec;
    spec.name = "azure";
    spec.wire = aigw::config::WireFormat::azure;
    spec.key_env = "AZURE_OPENAI_API_KEY";
    if (!api_version.empty()) {
        spec.options["api_version"] = std::move(api_version);
    }
    return spec;
}

p::Target target(const aigw::config::ProviderSpec& spec, std::string base_url = "https://myres.openai.azure.com/openai")
{
    p::Target t;
    t.provider = &spec;
    t.model = "gpt4o-prod";
    t.api_key = "azure-test-key";
    t.base_url = std::move(base_url);
    return t;
}

json hello()
{
    return {{"model", "azure/gpt4o-prod"}, {"messages", json::array({{{"role", "user"}, {"content", "Hi"}}})}};
}

}  // namespace

TEST_CASE("azure chat goes to the deployment's URL with the GA api-version and an api-key header")
{
    const auto spec = azure_spec();
    auto req = p::azure_adapter().chat_request(hello(), target(spec), false);
    REQUIRE(req.has_value());
    CHECK(req->method == "POST");
    CHECK(req->path == "/deployments/gpt4o-prod/chat/completions?api-version=2024-10-21");
    CHECK(p::header_value(req->headers, "api-key") == "azure-test-key");
    CHECK(p::header_value(req->headers, "Authorization").empty());
    CHECK(p::header_value(req->headers, "Content-Type") == "application/json");
    json body = json::parse(req->body);
    CHECK(body["messages"] == hello()["messages"]);
    CHECK_FALSE(body.contains("stream"));
}

TEST_CASE("azure streaming asks for usage in the stream, like OpenAI")
{
    const auto spec = azure_spec();
    auto req = p::azure_adapter().chat_request(hello(), target(spec), true);
    REQUIRE(req.has_value());
    json body = json::parse(req->body);
    CHECK(body["stream"] == true);
    CHECK(body["stream_options"]["include_usage"] == true);
}

TEST_CASE("azure api_version comes from the provider's options")
{
    const auto spec = azure_spec("2025-04-01-preview");
    auto req = p::azure_adapter().chat_request(hello(), target(spec), false);
    REQUIRE(req.has_value());
    CHECK(req->path == "/deployments/gpt4o-prod/chat/completions?api-version=2025-04-01-preview");
}

TEST_CASE("azure api_version v1 uses the version-less v1 path with the deployment as the model")
{
    const auto spec = azure_spec("v1");
    auto req = p::azure_adapter().chat_request(hello(), target(spec), false);
    REQUIRE(req.has_value());
    CHECK(req->path == "/v1/chat/completions");
    CHECK(json::parse(req->body)["model"] == "gpt4o-prod");
    CHECK(p::header_value(req->headers, "api-key") == "azure-test-key");

    // A base URL that already ends in /v1 is not given a second one.
    auto again =
        p::azure_adapter().chat_request(hello(), target(spec, "https://myres.openai.azure.com/openai/v1"), false);
    REQUIRE(again.has_value());
    CHECK(again->path == "/chat/completions");

    const auto preview = azure_spec("preview");
    auto pv = p::azure_adapter().chat_request(hello(), target(preview), false);
    REQUIRE(pv.has_value());
    CHECK(pv->path == "/v1/chat/completions?api-version=preview");
}

TEST_CASE("azure with the bare resource URL adds the /openai segment itself")
{
    const auto spec = azure_spec();
    auto req = p::azure_adapter().chat_request(hello(), target(spec, "https://myres.openai.azure.com"), false);
    REQUIRE(req.has_value());
    CHECK(req->path == "/openai/deployments/gpt4o-prod/chat/completions?api-version=2024-10-21");
}

TEST_CASE("azure deployment names are escaped in the path")
{
    const auto spec = azure_spec();
    auto t = target(spec);
    t.model = "my deploy/x";
    auto req = p::azure_adapter().chat_request(hello(), t, false);
    REQUIRE(req.has_value());
    CHECK(req->path == "/deployments/my%20deploy%2Fx/chat/completions?api-version=2024-10-21");
}

TEST_CASE("azure without an endpoint is a 400 telling the user what to set")
{
    const auto spec = azure_spec();
    auto req = p::azure_adapter().chat_request(hello(), target(spec, ""), false);
    REQUIRE_FALSE(req.has_value());
    CHECK(req.error().kind == wire::FailureKind::bad_request);
    CHECK(req.error().status == 400);
    CHECK(req.error().message.find("AZURE_OPENAI_ENDPOINT") != std::string::npos);
    CHECK(req.error().message.find("[providers.azure]") != std::string::npos);
    CHECK(req.error().message.find("base_url") != std::string::npos);

    auto emb = p::azure_adapter().embeddings_request({{"input", "x"}}, target(spec, ""));
    REQUIRE_FALSE(emb.has_value());
    CHECK(emb.error().status == 400);
}

TEST_CASE("azure embeddings go to the deployment's embeddings URL")
{
    const auto spec = azure_spec();
    auto t = target(spec);
    t.model = "embed-small";
    auto req = p::azure_adapter().embeddings_request({{"model", "azure/embed-small"}, {"input", "hello"}}, t);
    REQUIRE(req.has_value());
    CHECK(req->path == "/deployments/embed-small/embeddings?api-version=2024-10-21");
    CHECK(p::header_value(req->headers, "api-key") == "azure-test-key");
    CHECK(json::parse(req->body)["input"] == "hello");

    const auto v1 = azure_spec("v1");
    auto req1 = p::azure_adapter().embeddings_request({{"input", "hello"}}, target(v1));
    REQUIRE(req1.has_value());
    CHECK(req1->path == "/v1/embeddings");

    auto resp = p::azure_adapter().embeddings_response(
        R"({"object":"list","data":[{"object":"embedding","index":0,"embedding":[0.1,0.2]}],"model":"text-embedding-3-small","usage":{"prompt_tokens":1,"total_tokens":1}})",
        t);
    REQUIRE(resp.has_value());
    CHECK(resp->usage.input_tokens == 1);
}

TEST_CASE("an azure response passes through with its usage")
{
    const auto spec = azure_spec();
    auto r = p::azure_adapter().chat_response(fixture("response_text.json"), target(spec));
    REQUIRE(r.has_value());
    CHECK(r->body["choices"][0]["message"]["content"] == "Hello! How can I help you today?");
    CHECK(r->usage.input_tokens == 19);
    CHECK(r->usage.output_tokens == 9);
}

TEST_CASE("an azure answer cut by the content filter keeps finish_reason content_filter")
{
    const auto spec = azure_spec();
    auto r = p::azure_adapter().chat_response(fixture("response_content_filter.json"), target(spec));
    REQUIRE(r.has_value());
    CHECK(r->body["choices"][0]["finish_reason"] == "content_filter");
    CHECK(r->usage.output_tokens == 12);
}

TEST_CASE("azure's content filter 400 is a bad request that says what was flagged and what to do")
{
    auto f = p::azure_adapter().classify_error(400, fixture("error_content_filter.json"), {});
    CHECK(f.kind == wire::FailureKind::bad_request);
    CHECK(f.status == 400);
    CHECK(f.code == "content_filter");
    CHECK_FALSE(wire::is_retryable(f.kind));
    CHECK(f.message.find("content filter") != std::string::npos);
    CHECK(f.message.find("violence") != std::string::npos);
    CHECK(f.message.find("hate") == std::string::npos);
    CHECK(f.message.find("Rephrase") != std::string::npos);
}

TEST_CASE("azure errors: a missing deployment is not found, 429 waits for retry-after-ms")
{
    auto nf = p::azure_adapter().classify_error(404, fixture("error_deployment_not_found.json"), {});
    CHECK(nf.kind == wire::FailureKind::not_found);
    CHECK(nf.message.find("deployment") != std::string::npos);

    auto rl = p::azure_adapter().classify_error(429, fixture("error_rate_limit.json"),
                                                {{"retry-after-ms", "6000"}, {"retry-after", "6"}});
    CHECK(rl.kind == wire::FailureKind::rate_limited);
    REQUIRE(rl.retry_after_s.has_value());
    CHECK(*rl.retry_after_s == doctest::Approx(6.0));
}

TEST_CASE("an azure stream drops the prompt-filter chunk and keeps content, finish and usage")
{
    const auto spec = azure_spec();
    auto translator = p::azure_adapter().chat_stream(target(spec));
    REQUIRE(translator != nullptr);
    wire::SseReader reader;
    std::vector<wire::SseEvent> events;
    const std::string data = fixture("stream_filtered.sse");
    for (std::size_t i = 0; i < data.size(); i += 7) {
        reader.feed(std::string_view(data).substr(i, 7), events);
    }
    reader.finish(events);
    std::vector<json> chunks;
    for (const auto& ev : events) {
        REQUIRE(translator->on_event(ev, chunks).has_value());
    }
    CHECK(translator->finished());
    REQUIRE(chunks.size() == 5);  // role, "Hello", " there!", finish, usage
    std::string text;
    for (const auto& c : chunks) {
        CHECK(c["object"] == "chat.completion.chunk");
        CHECK_FALSE(c.contains("prompt_filter_results"));
        if (!c["choices"].empty() && c["choices"][0]["delta"].contains("content")) {
            text += c["choices"][0]["delta"]["content"].get<std::string>();
        }
    }
    CHECK(text == "Hello there!");
    CHECK(chunks[3]["choices"][0]["finish_reason"] == "stop");
    CHECK(chunks[4]["choices"].empty());
    CHECK(chunks[4]["usage"]["prompt_tokens"] == 19);
    CHECK(translator->usage().output_tokens == 3);
}

TEST_CASE("the azure wire format has its adapter")
{
    CHECK(p::adapter_for(aigw::config::WireFormat::azure) == &p::azure_adapter());
}

TEST_CASE("azure serves /v1/responses natively on the v1 API: deployment in model, api-key, no dated api-version")
{
    const json body = {{"model", "azure/gpt4o-prod"},
                       {"input", "hi"},
                       {"include", json::array({"reasoning.encrypted_content"})},
                       {"tools", json::array({{{"type", "custom"}, {"name", "apply_patch"}}})}};
    for (const char* version : {"", "2024-10-21", "v1"}) {
        const auto spec = azure_spec(version);
        CHECK(p::azure_adapter().serves_responses(target(spec), ""));
        CHECK_FALSE(p::azure_adapter().serves_responses(target(spec), "/compact"));
        CHECK_FALSE(p::azure_adapter().serves_responses(target(spec), "/input_tokens"));
        auto req = p::azure_adapter().responses_request(body, target(spec), "");
        REQUIRE(req.has_value());
        CHECK(req->method == "POST");
        CHECK(req->path == "/v1/responses");  // base URL .../openai
        CHECK(p::header_value(req->headers, "api-key") == "azure-test-key");
        CHECK(p::header_value(req->headers, "Authorization").empty());
        json sent = json::parse(req->body);
        CHECK(sent["model"] == "gpt4o-prod");
        json expected = body;
        expected["model"] = "gpt4o-prod";
        CHECK(sent == expected);  // nothing else changed
    }
    const auto preview = azure_spec("preview");
    CHECK(p::azure_adapter().responses_request(body, target(preview), "")->path == "/v1/responses?api-version=preview");
    const auto plain = azure_spec();
    CHECK(p::azure_adapter().responses_request(body, target(plain, "https://myres.openai.azure.com"), "")->path ==
          "/openai/v1/responses");
    CHECK(p::azure_adapter()
              .responses_request(body, target(plain, "https://myres.openai.azure.com/openai/v1"), "")
              ->path == "/responses");
    auto missing = p::azure_adapter().responses_request(body, target(plain, ""), "");
    REQUIRE_FALSE(missing.has_value());
    CHECK(missing.error().code == "azure_endpoint_missing");
}

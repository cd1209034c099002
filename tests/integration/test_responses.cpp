// POST /v1/responses end to end: native passthrough to Azure, the 400 for OpenAI's built-in
// tools off OpenAI, the event appended to a cut native stream, and the response cache.

#include "tests/integration/harness.hpp"

#include <doctest/doctest.h>

using aigw::test::Daemon;
using aigw::test::DaemonOptions;
using aigw::test::FakeUpstream;
using aigw::test::sse_data_lines;
using nlohmann::json;

namespace {

constexpr const char* k_azure_key = "azure-test-SECRET-7890";

DaemonOptions with_azure(const FakeUpstream& up, std::string config_toml = {})
{
    DaemonOptions opts;
    opts.env["AZURE_OPENAI_API_KEY"] = k_azure_key;
    opts.env["AIGW_AZURE_BASE_URL"] = up.base() + "/openai";
    opts.config_toml = std::move(config_toml);
    return opts;
}

httplib::Result post(const Daemon& d, const json& body, httplib::Headers extra = {})
{
    auto c = d.client();
    return c.Post("/v1/responses", extra, body.dump(), "application/json");
}

/// The upstream requests whose path contains `part`.
std::vector<json> upstream_requests(FakeUpstream& up, const std::string& part)
{
    std::vector<json> out;
    for (const auto& r : up.requests()) {
        if (r["path"].get<std::string>().find(part) != std::string::npos) {
            out.push_back(r);
        }
    }
    return out;
}

/// The data of every event of a Responses stream.
std::vector<json> stream_events(const std::string& body)
{
    std::vector<json> out;
    for (const auto& line : sse_data_lines(body)) {
        out.push_back(json::parse(line));
    }
    return out;
}

/// A request only the native path can carry as is: a custom tool, include values, reasoning.
json native_only_request(bool stream)
{
    json body = {{"model", "azure/gpt-4o-mini"},
                 {"input", "hello from the azure test"},
                 {"reasoning", {{"effort", "low"}, {"summary", "auto"}}},
                 {"include", json::array({"reasoning.encrypted_content"})},
                 {"tools", json::array({{{"type", "custom"}, {"name", "apply_patch"}, {"description", "edit"}}})},
                 {"metadata", {{"case", "azure-native"}}}};
    if (stream) {
        body["stream"] = true;
    }
    return body;
}

}  // namespace

TEST_CASE("Azure gets the client's Responses body natively on its v1 path with api-key auth, plain and streamed")
{
    FakeUpstream up;
    Daemon d(&up, with_azure(up));
    for (bool stream : {false, true}) {
        CAPTURE(stream);
        up.clear_requests();
        const json body = native_only_request(stream);
        auto r = post(d, body);
        REQUIRE(r);
        REQUIRE_MESSAGE(r->status == 200, r->body);
        CHECK(r->get_header_value("x-aigw-provider") == "azure");

        auto sent = upstream_requests(up, "/responses");
        REQUIRE(sent.size() == 1);
        CHECK(sent[0]["path"] == "/openai/v1/responses");
        CHECK(sent[0]["query"] == "");  // the v1 API takes no api-version
        CHECK(sent[0]["headers"]["api-key"] == k_azure_key);
        CHECK_FALSE(sent[0]["headers"].contains("authorization"));
        json expected = body;
        expected["model"] = "gpt-4o-mini";  // the deployment; nothing else changed
        CHECK(json::parse(sent[0]["body"].get<std::string>()) == expected);
        CHECK(upstream_requests(up, "/chat/completions").empty());

        json response;
        if (stream) {
            auto events = stream_events(r->body);
            REQUIRE(!events.empty());
            CHECK(events.front()["type"] == "response.created");
            CHECK(events.back()["type"] == "response.completed");
            response = events.back()["response"];
        } else {
            response = json::parse(r->body);
        }
        // The upstream's own reasoning item, with its encrypted_content: the translated path
        // would have made "aigw:v1:..." of it.
        REQUIRE(response["output"].is_array());
        CHECK(response["output"][0]["type"] == "reasoning");
        CHECK(response["output"][0]["encrypted_content"].get<std::string>().starts_with("fake-encrypted:"));
        CHECK(response["usage"]["input_tokens"].get<int>() > 0);
    }
}

TEST_CASE("A built-in tool sent to a provider that cannot run it is a 400 naming the tool type and the provider")
{
    FakeUpstream up;
    Daemon d(&up, with_azure(up));
    for (const char* type : {"web_search", "web_search_preview", "file_search", "code_interpreter",
                             "computer_use_preview", "image_generation", "mcp"}) {
        CAPTURE(type);
        for (bool stream : {false, true}) {
            json body = {{"model", "anthropic/claude-haiku-4-5"},
                         {"input", "look it up"},
                         {"stream", stream},
                         {"tools", json::array({{{"type", type}}})}};
            auto r = post(d, body);
            REQUIRE(r);
            CHECK(r->status == 400);
            auto err = json::parse(r->body)["error"];
            CHECK(err["type"] == "invalid_request_error");
            CHECK(err["param"] == "tools");
            const std::string msg = err["message"];
            CHECK(msg.find(std::string("tool type '") + type + "'") != std::string::npos);
            CHECK(msg.find("provider 'anthropic'") != std::string::npos);
        }
    }
    CHECK(upstream_requests(up, "/messages").empty());  // nothing was sent with the tool dropped

    // Azure runs OpenAI's tools itself: the same request passes through.
    json body = {{"model", "azure/gpt-4o-mini"},
                 {"input", "look it up"},
                 {"tools", json::array({{{"type", "web_search_preview"}}})}};
    auto r = post(d, body);
    REQUIRE(r);
    CHECK(r->status == 200);
}

TEST_CASE("A native stream cut after its first byte ends with an error event numbered after the last upstream event")
{
    FakeUpstream up;
    Daemon d(&up, with_azure(up));
    for (const char* model : {"openai/gpt-4o-mini-fault-cut", "azure/dep-fault-cut"}) {
        CAPTURE(model);
        auto r = post(d, {{"model", model}, {"input", "one two three four five six"}, {"stream", true}});
        REQUIRE(r);
        REQUIRE(r->status == 200);
        auto events = stream_events(r->body);
        REQUIRE(events.size() >= 2);
        const json& last = events.back();
        CHECK(last["type"] == "error");
        const json& before = events[events.size() - 2];
        REQUIRE(before.contains("sequence_number"));
        CHECK(last["sequence_number"] == before["sequence_number"].get<std::int64_t>() + 1);
    }
}

TEST_CASE(
    "/v1/responses answers from the cache: one upstream call, a new stored response per hit, plain and "
    "streamed, native and translated")
{
    FakeUpstream up;
    Daemon d(&up, with_azure(up, "[cache]\nenabled = true\n"));
    for (const char* model : {"openai/gpt-4o-mini", "azure/gpt-4o-mini", "anthropic/claude-haiku-4-5"}) {
        CAPTURE(model);
        up.clear_requests();
        json body = {{"model", model}, {"input", std::string("cache me on ") + model}};
        auto first = post(d, body);
        REQUIRE(first);
        REQUIRE_MESSAGE(first->status == 200, first->body);
        CHECK(first->get_header_value("x-aigw-cache") == "MISS");
        auto second = post(d, body);
        REQUIRE(second);
        REQUIRE(second->status == 200);
        CHECK(second->get_header_value("x-aigw-cache") == "HIT");
        CHECK(second->get_header_value("x-aigw-cost-usd") == "0");
        json a = json::parse(first->body);
        json b = json::parse(second->body);
        CHECK(a["id"] != b["id"]);
        CHECK(a["output"].back()["content"][0]["text"] == b["output"].back()["content"][0]["text"]);

        // Streamed: replayed as the event sequence, numbered from 0.
        body["stream"] = true;
        auto streamed = post(d, body);
        REQUIRE(streamed);
        CHECK(streamed->get_header_value("x-aigw-cache") == "HIT");
        auto events = stream_events(streamed->body);
        REQUIRE(events.size() >= 4);
        for (std::size_t i = 0; i < events.size(); ++i) {
            CHECK(events[i]["sequence_number"] == i);
        }
        CHECK(events.back()["type"] == "response.completed");
        std::string text;
        for (const auto& e : events) {
            if (e["type"] == "response.output_text.delta") {
                text += e["delta"].get<std::string>();
            }
        }
        CHECK(text == a["output"].back()["content"][0]["text"]);

        // The hit was stored as its own response: it can be continued.
        auto next = post(d, {{"model", model}, {"input", "and then?"}, {"previous_response_id", b["id"]}});
        REQUIRE(next);
        CHECK_MESSAGE(next->status == 200, next->body);
        auto got = d.get("/v1/responses/" + b["id"].get<std::string>());
        REQUIRE(got);
        CHECK(got->status == 200);

        int calls = 0;
        for (const auto& r : up.requests()) {
            const std::string path = r["path"];
            if (path.find("/responses") != std::string::npos || path.find("/messages") != std::string::npos) {
                ++calls;
            }
        }
        CHECK(calls == 2);  // the first request and the continuation
    }
}

// Wrong types in a request body are 400s naming the field, never a type_error (500).

#include "daemon/providers/adapter.hpp"
#include "daemon/providers/anthropic/anthropic_surface.hpp"
#include "daemon/providers/validate.hpp"

#include <doctest/doctest.h>

using nlohmann::json;
namespace p = aigw::daemon::providers;

namespace {

json chat(json extra)
{
    json body = {{"model", "mock/echo"}, {"messages", {{{"role", "user"}, {"content", "hi"}}}}};
    for (auto& [k, v] : extra.items()) {
        body[k] = v;
    }
    return body;
}

json messages(json extra)
{
    json body = {{"model", "anthropic/claude-sonnet-4-5"},
                 {"max_tokens", 100},
                 {"messages", {{{"role", "user"}, {"content", "hi"}}}}};
    for (auto& [k, v] : extra.items()) {
        body[k] = v;
    }
    return body;
}

struct Case {
    const char* what;
    json body;
    const char* param;
};

}  // namespace

TEST_CASE("a well-formed chat request passes validation")
{
    CHECK_FALSE(p::validate_chat_request(chat({{"stream", true},
                                               {"max_tokens", 5},
                                               {"temperature", 0.2},
                                               {"tools", {{{"type", "function"}, {"function", {{"name", "f"}}}}}},
                                               {"stop", {"\n"}},
                                               {"n", 1},
                                               {"max_completion_tokens", nullptr}}))
                    .has_value());
    json parts = chat({});
    parts["messages"][0]["content"] = {{{"type", "text"}, {"text", "hi"}}};
    CHECK_FALSE(p::validate_chat_request(parts).has_value());
    json null_content = chat({});
    null_content["messages"].push_back({{"role", "assistant"}, {"content", nullptr}});
    CHECK_FALSE(p::validate_chat_request(null_content).has_value());
}

TEST_CASE("every wrong type in a chat request is a 400 naming the field")
{
    json content_ints = chat({});
    content_ints["messages"][0]["content"] = {1};
    json role_int = chat({});
    role_int["messages"][0]["role"] = 5;
    json message_int = chat({});
    message_int["messages"] = {5};
    const Case cases[] = {
        {"max_tokens string", chat({{"max_tokens", "x"}}), "max_tokens"},
        {"max_tokens zero", chat({{"max_tokens", 0}}), "max_tokens"},
        {"max_tokens fraction", chat({{"max_tokens", 1.5}}), "max_tokens"},
        {"max_tokens huge", chat({{"max_tokens", 1e300}}), "max_tokens"},
        {"max_completion_tokens bool", chat({{"max_completion_tokens", true}}), "max_completion_tokens"},
        {"stream string", chat({{"stream", "yes"}}), "stream"},
        {"tools of ints", chat({{"tools", {1}}}), "tools[0]"},
        {"tools object", chat({{"tools", {{"type", "function"}}}}), "tools"},
        {"tool without type", chat({{"tools", {{{"function", {{"name", "f"}}}}}}}), "tools[0].type"},
        {"content [1]", content_ints, "messages[0].content[0]"},
        {"role int", role_int, "messages[0].role"},
        {"message int", message_int, "messages[0]"},
        {"temperature string", chat({{"temperature", "hot"}}), "temperature"},
        {"top_p array", chat({{"top_p", {1}}}), "top_p"},
        {"n string", chat({{"n", "2"}}), "n"},
        {"stop int", chat({{"stop", 5}}), "stop"},
        {"stop array of ints", chat({{"stop", {1, 2}}}), "stop"},
        {"model int", chat({{"model", 5}}), "model"},
        {"tool_choice int", chat({{"tool_choice", 1}}), "tool_choice"},
    };
    for (const auto& c : cases) {
        CAPTURE(c.what);
        auto f = p::validate_chat_request(c.body);
        REQUIRE(f.has_value());
        CHECK(f->status == 400);
        CHECK(f->kind == aigw::wire::FailureKind::bad_request);
        CHECK(f->param == c.param);
        CHECK(f->message.find(c.param) == 0);
    }
    auto f = p::validate_chat_request(chat({{"max_tokens", "x"}}));
    CHECK(f->message.find("max_tokens: must be an integer") == 0);
}

TEST_CASE("every wrong type in a Messages request is a 400, and the translator refuses it too")
{
    json content_ints = messages({});
    content_ints["messages"][0]["content"] = {1};
    json is_error_string = messages({});
    is_error_string["messages"][0]["content"] = {
        {{"type", "tool_result"}, {"tool_use_id", "t"}, {"content", "x"}, {"is_error", "x"}}};
    const Case cases[] = {
        {"max_tokens string", messages({{"max_tokens", "x"}}), "max_tokens"},
        {"stream string", messages({{"stream", "yes"}}), "stream"},
        {"tools of ints", messages({{"tools", {1}}}), "tools[0]"},
        {"content [1]", content_ints, "messages[0].content[0]"},
        {"system int", messages({{"system", 5}}), "system"},
        {"stop_sequences string", messages({{"stop_sequences", "END"}}), "stop_sequences"},
        {"thinking budget string", messages({{"thinking", {{"type", "enabled"}, {"budget_tokens", "x"}}}}),
         "thinking.budget_tokens"},
        {"metadata.user_id int", messages({{"metadata", {{"user_id", 5}}}}), "metadata.user_id"},
        {"tool_choice string", messages({{"tool_choice", "auto"}}), "tool_choice"},
    };
    for (const auto& c : cases) {
        CAPTURE(c.what);
        auto f = p::validate_messages_request(c.body);
        REQUIRE(f.has_value());
        CHECK(f->status == 400);
        CHECK(f->param == c.param);
        auto translated = p::anthropic_request_to_canonical(c.body);
        REQUIRE_FALSE(translated.has_value());
        CHECK(translated.error().status == 400);
    }
    // A mistyped field the validator tolerates never throws in the translator either.
    CHECK_NOTHROW((void)p::anthropic_request_to_canonical(is_error_string));
}

TEST_CASE("of several wrong fields, the one named first in the validator's order is reported")
{
    // The body's members come in key order (max_tokens before stream); the validator's
    // order puts stream first, as it always has.
    auto f = p::validate_chat_request(chat({{"max_tokens", 0}, {"stream", "yes"}, {"user", 5}}));
    REQUIRE(f.has_value());
    CHECK(f->param == "stream");
    f = p::validate_chat_request(chat({{"user", 5}, {"top_p", "x"}, {"seed", 1.5}}));
    REQUIRE(f.has_value());
    CHECK(f->param == "seed");
    CHECK(f->message == "seed: must be an integer (got a number with a fraction).");
    f = p::validate_messages_request(messages({{"tool_choice", "auto"}, {"top_k", -1}, {"stream", 1}}));
    REQUIRE(f.has_value());
    CHECK(f->param == "top_k");
    CHECK(f->message == "top_k: must be an integer >= 0 (got an integer).");
    // Null is "not given" for every optional field.
    CHECK_FALSE(
        p::validate_chat_request(chat({{"stream", nullptr}, {"seed", nullptr}, {"stop", nullptr}})).has_value());
}

TEST_CASE("embeddings requests: input must be text or tokens")
{
    CHECK_FALSE(p::validate_embeddings_request({{"model", "m"}, {"input", "hi"}}).has_value());
    CHECK_FALSE(p::validate_embeddings_request({{"model", "m"}, {"input", {"a", "b"}}}).has_value());
    CHECK_FALSE(p::validate_embeddings_request({{"model", "m"}, {"input", {1, 2, 3}}}).has_value());
    CHECK_FALSE(p::validate_embeddings_request({{"model", "m"}, {"input", {{1, 2}, {3}}}}).has_value());
    for (const json& bad :
         {json{{"model", "m"}}, json{{"model", "m"}, {"input", 5}}, json{{"model", "m"}, {"input", json::array()}},
          json{{"model", "m"}, {"input", {"a", 1}}}, json{{"model", "m"}, {"input", "x"}, {"dimensions", "8"}},
          json{{"model", "m"}, {"input", "x"}, {"encoding_format", "hex"}}}) {
        CAPTURE(bad.dump());
        auto f = p::validate_embeddings_request(bad);
        REQUIRE(f.has_value());
        CHECK(f->status == 400);
    }
}

TEST_CASE("provider request builders answer 400 for mistyped canonical fields, never throw")
{
    p::Target t;
    t.model = "m";
    t.api_key = "k";
    t.base_url = "http://127.0.0.1:1";
    t.default_max_tokens = 1024;
    t.aws = {"AKIDEXAMPLE", "secret", "", "us-east-1"};
    for (const p::Adapter* a :
         {&p::anthropic_adapter(), &p::gemini_adapter(), &p::bedrock_adapter(), &p::cohere_adapter()}) {
        for (const json& extra :
             {json{{"max_tokens", "x"}}, json{{"n", 1e300}}, json{{"tools", {1}}}, json{{"temperature", "hot"}}}) {
            CAPTURE(extra.dump());
            std::expected<p::UpstreamRequest, aigw::wire::Failure> r = std::unexpected(aigw::wire::Failure{});
            CHECK_NOTHROW(r = a->chat_request(chat(extra), t, false));
            REQUIRE_FALSE(r.has_value());
            CHECK(r.error().status == 400);
        }
    }
}

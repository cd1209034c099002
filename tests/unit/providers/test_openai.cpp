// OpenAI's own adapter: the request goes out as the client's, with the model renamed and the
// stream fields set as the attempt needs them.

#include "daemon/providers/adapter.hpp"

#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

using nlohmann::json;
namespace p = aigw::daemon::providers;

namespace {

p::Target target()
{
    p::Target t;
    t.model = "gpt-4o-mini-2024-07-18";
    t.api_key = "sk-test";
    t.base_url = "https://api.openai.com/v1";
    return t;
}

json request()
{
    return json::parse(R"({"model":"openai/gpt-4o-mini","stream":true,
        "stream_options":{"include_usage":false,"include_obfuscation":false},
        "messages":[{"role":"system","content":"Be brief. \"Quoted\" \u00e9 \ud83d\ude00"},
                    {"role":"user","content":[{"type":"text","text":"hi"}]}],
        "tools":[{"type":"function","function":{"name":"f","parameters":{"type":"object","properties":{}}}}],
        "temperature":0.25,"max_tokens":100,"user":null,"zz":{"nested":[1,2.5,true,null]}})");
}

}  // namespace

TEST_CASE("a streamed chat request keeps every field, renames the model and always asks for usage")
{
    const json in = request();
    auto req = p::openai_adapter().chat_request(in, target(), true);
    REQUIRE(req.has_value());
    CHECK(req->path == "/chat/completions");
    CHECK(p::header_value(req->headers, "Authorization") == "Bearer sk-test");
    const json sent = json::parse(req->body);
    json expected = in;
    expected["model"] = "gpt-4o-mini-2024-07-18";
    expected["stream_options"]["include_usage"] = true;  // the client's other option is kept
    CHECK(sent == expected);
}

TEST_CASE("a plain chat request has no stream fields, whatever the client sent")
{
    const json in = request();
    auto req = p::openai_adapter().chat_request(in, target(), false);
    REQUIRE(req.has_value());
    const json sent = json::parse(req->body);
    json expected = in;
    expected["model"] = "gpt-4o-mini-2024-07-18";
    expected.erase("stream");
    expected.erase("stream_options");
    CHECK(sent == expected);

    // A stream request without stream_options (or with a non-object one) gets them.
    json bare = {{"model", "m"}, {"messages", json::array({{{"role", "user"}, {"content", "x"}}})}};
    auto streamed = p::openai_adapter().chat_request(bare, target(), true);
    REQUIRE(streamed.has_value());
    const json s = json::parse(streamed->body);
    CHECK(s["stream"] == true);
    CHECK(s["stream_options"] == json{{"include_usage", true}});
    CHECK(s["model"] == "gpt-4o-mini-2024-07-18");
    CHECK(s["messages"] == bare["messages"]);
}

TEST_CASE("a request sent from the client's own text is the request written anew")
{
    // The client's text, spaced and escaped as a client may write it, in its own member order.
    const std::string texts[] = {
        R"({ "stream": true, "model": "openai/gpt-4o-mini", "messages": [{"role": "user", "content": "h\u00e9 \"q\""}],)"
        R"( "stream_options": {"include_obfuscation": false}, "temperature": 0.25 })",
        R"({"model":"m","messages":[{"role":"user","content":"x"}],"stream":false})",
        R"({"messages":[{"role":"user","content":"x"}],"model":"m","stream_options":7})",
        R"({"model":"m","messages":[]})",
    };
    for (const auto& text : texts) {
        const json canonical = json::parse(text);
        for (const bool stream : {false, true}) {
            CAPTURE(text);
            CAPTURE(stream);
            auto from_text = p::openai_adapter().chat_request_from_text(canonical, text, target(), stream);
            auto written = p::openai_adapter().chat_request(canonical, target(), stream);
            REQUIRE(from_text.has_value());
            REQUIRE(written.has_value());
            CHECK(json::parse(from_text->body) == json::parse(written->body));
            CHECK(from_text->body != written->body);  // the client's own bytes, not a rewrite
            CHECK(from_text->path == written->path);
            CHECK(from_text->headers == written->headers);
        }
    }
    // Text it cannot vouch for (a member named twice) is written anew.
    const std::string twice = R"({"model":"m","model":"n","messages":[]})";
    auto req = p::openai_adapter().chat_request_from_text(json::parse(twice), twice, target(), false);
    REQUIRE(req.has_value());
    CHECK(req->body == p::openai_adapter().chat_request(json::parse(twice), target(), false)->body);
}

TEST_CASE("invalid UTF-8 in a request is replaced, not a throw")
{
    json in = {{"model", "m"}, {"messages", json::array({{{"role", "user"}, {"content", std::string("a\xff")}}})}};
    auto req = p::openai_adapter().chat_request(in, target(), false);
    REQUIRE(req.has_value());
    const json sent = json::parse(req->body);
    CHECK(sent["messages"][0]["content"] == "a\xEF\xBF\xBD");
}

// The inbound Responses surface's translators: Responses request -> canonical, canonical
// answer and chunks -> Responses response object and SSE events, and the passthrough tap.

#include "daemon/providers/json_access.hpp"
#include "daemon/providers/openai/responses_surface.hpp"
#include "shared/wire/sse.hpp"

#include "tests/unit/providers/support.hpp"

#include <doctest/doctest.h>

#include <sstream>

using nlohmann::json;
namespace p = aigw::daemon::providers;
namespace wire = aigw::wire;

namespace {

json fixture_json(const std::string& name)
{
    return json::parse(aigw::test::read_fixture("responses", name));
}

std::vector<json> fixture_chunks(const std::string& name)
{
    std::istringstream in(aigw::test::read_fixture("responses", name));
    std::vector<json> chunks;
    for (std::string line; std::getline(in, line);) {
        if (!line.empty()) {
            chunks.push_back(json::parse(line));
        }
    }
    return chunks;
}

/// Parses the writer's frames back into (event name, data) pairs.
std::vector<std::pair<std::string, json>> parse_events(const std::vector<std::string>& frames)
{
    wire::SseReader reader;
    std::vector<wire::SseEvent> events;
    for (const auto& f : frames) {
        reader.feed(f, events);
    }
    std::vector<std::pair<std::string, json>> out;
    for (const auto& e : events) {
        json data = json::parse(e.data);
        CHECK(data["type"] == e.event);  // the event name is repeated in data.type
        out.emplace_back(e.event, std::move(data));
    }
    return out;
}

void append(std::vector<std::string>& all, std::vector<std::string> more)
{
    for (auto& m : more) {
        all.push_back(std::move(m));
    }
}

json chunk(json delta, json finish = nullptr)
{
    return {
        {"id", "chatcmpl-1"},
        {"object", "chat.completion.chunk"},
        {"choices", json::array({{{"index", 0}, {"delta", std::move(delta)}, {"finish_reason", std::move(finish)}}})}};
}

json usage_chunk()
{
    return {{"id", "chatcmpl-1"},
            {"object", "chat.completion.chunk"},
            {"choices", json::array()},
            {"usage",
             {{"prompt_tokens", 120},
              {"completion_tokens", 40},
              {"total_tokens", 160},
              {"prompt_tokens_details", {{"cached_tokens", 100}}},
              {"completion_tokens_details", {{"reasoning_tokens", 12}}}}}};
}

p::ResponsesContext context(json request)
{
    p::ResponsesContext ctx;
    ctx.response_id = "resp_test1";
    ctx.created_at = 1741290958;
    ctx.model = "claude-sonnet-4-5";
    ctx.request = std::move(request);
    return ctx;
}

std::string error_param(const std::expected<json, wire::Failure>& r)
{
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().kind == wire::FailureKind::bad_request);
    CHECK(r.error().status == 400);
    return r.error().param;
}

}  // namespace

TEST_CASE("Responses: a Codex CLI request becomes a canonical chat request")
{
    auto canonical = p::responses_request_to_canonical(fixture_json("request_codex.json"));
    REQUIRE(canonical.has_value());
    const json& c = *canonical;
    CHECK(c["model"] == "anthropic/claude-sonnet-4-5");
    CHECK(c["stream"] == true);
    CHECK(c["stream_options"]["include_usage"] == true);
    CHECK(c["reasoning_effort"] == "medium");
    CHECK(c["tool_choice"] == "auto");
    CHECK(c["parallel_tool_calls"] == false);
    CHECK_FALSE(c.contains("store"));
    CHECK_FALSE(c.contains("include"));
    CHECK_FALSE(c.contains("prompt_cache_key"));

    const json& m = c["messages"];
    REQUIRE(m.size() == 10);
    CHECK(m[0]["role"] == "system");  // instructions first
    CHECK(m[0]["content"].get<std::string>().starts_with("You are Codex"));
    CHECK(m[1]["role"] == "system");  // the developer message
    CHECK(m[2]["role"] == "user");
    CHECK(m[3] == json{{"role", "user"}, {"content", "List the files, then add a README."}});

    // reasoning + function_call make one assistant turn carrying the signed thinking block.
    CHECK(m[4]["role"] == "assistant");
    CHECK(m[4]["content"].is_null());
    CHECK(m[4]["reasoning_content"] == "**Listing files**\n\nI will run ls first.");
    REQUIRE(m[4]["thinking_blocks"].size() == 1);
    CHECK(m[4]["thinking_blocks"][0]["signature"] == "EqQBCkYIBxgCKkBsig0123==");
    CHECK(m[4]["thinking_blocks"][0]["thinking"] == "The user wants the files listed; I will run ls.");
    CHECK(m[4]["tool_calls"][0]["id"] == "toolu_01ShellCall");
    CHECK(m[4]["tool_calls"][0]["function"]["name"] == "shell");
    CHECK(json::parse(m[4]["tool_calls"][0]["function"]["arguments"].get<std::string>())["workdir"] == "/tmp/work");
    CHECK(m[5] == json{{"role", "tool"}, {"tool_call_id", "toolu_01ShellCall"}, {"content", "main.rs\nCargo.toml\n"}});

    // The custom apply_patch call travels as a function call with one string argument.
    CHECK(m[6]["tool_calls"][0]["id"] == "toolu_02Patch");
    CHECK(json::parse(m[6]["tool_calls"][0]["function"]["arguments"].get<std::string>()) ==
          json{{"input", "*** Begin Patch\n*** Add File: README.md\n+hello\n*** End Patch\n"}});
    CHECK(m[7]["role"] == "tool");
    CHECK(m[7]["tool_call_id"] == "toolu_02Patch");
    CHECK(m[8] == json{{"role", "assistant"}, {"content", "Done: README.md added."}});
    CHECK(m[9]["content"] == "Thanks. Now show me the weather in Paris.");

    const json& tools = c["tools"];
    REQUIRE(tools.size() == 3);
    CHECK(tools[0]["type"] == "function");
    CHECK(tools[0]["function"]["name"] == "shell");
    CHECK(tools[0]["function"]["strict"] == false);
    CHECK(tools[0]["function"]["parameters"]["required"] == json::array({"command"}));
    CHECK(tools[1]["function"]["name"] == "apply_patch");
    CHECK(tools[1]["function"]["parameters"]["properties"]["input"]["type"] == "string");
    CHECK(tools[1]["function"]["parameters"]["required"] == json::array({"input"}));
    CHECK(tools[1]["function"]["description"].get<std::string>().find("lark grammar") != std::string::npos);
    CHECK(tools[1]["function"]["description"].get<std::string>().find("*** Begin Patch") != std::string::npos);
}

TEST_CASE("Responses: a Vercel AI SDK request becomes a canonical chat request")
{
    auto canonical = p::responses_request_to_canonical(fixture_json("request_vercel_ai_sdk.json"));
    REQUIRE(canonical.has_value());
    const json& c = *canonical;
    CHECK(c["temperature"] == 0);
    CHECK(c["top_p"] == 0.9);
    CHECK(c["max_completion_tokens"] == 256);
    CHECK(c["user"] == "user-123");
    CHECK_FALSE(c.contains("stream"));
    CHECK_FALSE(c.contains("metadata"));  // echoed in the response, never sent to the provider
    CHECK(c["tool_choice"] == json{{"type", "function"}, {"function", {{"name", "get_weather"}}}});
    CHECK(c["tools"][0]["function"]["strict"] == true);
    CHECK(c["response_format"] == json{{"type", "json_schema"},
                                       {"json_schema",
                                        {{"name", "answer"},
                                         {"description", "The answer"},
                                         {"strict", true},
                                         {"schema",
                                          {{"type", "object"},
                                           {"properties", {{"summary", {{"type", "string"}}}}},
                                           {"required", json::array({"summary"})},
                                           {"additionalProperties", false}}}}}});

    const json& m = c["messages"];
    REQUIRE(m.size() == 4);
    CHECK(m[0] == json{{"role", "system"}, {"content", "You answer with JSON."}});
    CHECK(m[1]["content"][0] ==
          json{{"type", "text"}, {"text", "What is in this picture, and what is the weather there?"}});
    CHECK(m[1]["content"][1] ==
          json{{"type", "image_url"},
               {"image_url", {{"url", "data:image/png;base64,iVBORw0KGgo="}, {"detail", "auto"}}}});
    CHECK(m[1]["content"][2] ==
          json{{"type", "file"},
               {"file", {{"file_data", "data:application/pdf;base64,JVBERi0xLjQK"}, {"filename", "notes.pdf"}}}});
    // An assistant message followed by its function call: one assistant turn.
    CHECK(m[2]["content"] == "Let me check the weather.");
    CHECK(m[2]["tool_calls"][0]["id"] == "call_1__thought__c2lnbmF0dXJl");  // Gemini's signature rides in the id
    CHECK(m[3] == json{{"role", "tool"},
                       {"tool_call_id", "call_1__thought__c2lnbmF0dXJl"},
                       {"content", "{\"temperature\":21}"}});
}

TEST_CASE("Responses: an openai SDK request with a string input, instructions and previous items")
{
    std::vector<json> previous = {
        {{"type", "message"}, {"role", "user"}, {"content", json::array({{{"type", "input_text"}, {"text", "Hi"}}})}},
        {{"id", "msg_old"},
         {"type", "message"},
         {"role", "assistant"},
         {"status", "completed"},
         {"content", json::array({{{"type", "output_text"}, {"text", "Ahoy!"}, {"annotations", json::array()}}})}}};
    auto canonical = p::responses_request_to_canonical(fixture_json("request_openai_sdk.json"), previous);
    REQUIRE(canonical.has_value());
    const json& c = *canonical;
    CHECK(c["messages"] == json::array({{{"role", "system"}, {"content", "Talk like a pirate."}},
                                        {{"role", "user"}, {"content", "Hi"}},
                                        {{"role", "assistant"}, {"content", "Ahoy!"}},
                                        {{"role", "user"}, {"content", "Are semicolons optional in JavaScript?"}}}));
    CHECK(c["max_completion_tokens"] == 100);
    CHECK(c["temperature"] == 0.7);
    CHECK(c["user"] == "hash-42");  // safety_identifier when there is no user
    CHECK(c["reasoning_effort"] == "low");
}

TEST_CASE("Responses: an item_reference is resolved from the previous items or the lookup, else a 400")
{
    json body = {{"model", "m"},
                 {"input", json::array({{{"type", "item_reference"}, {"id", "msg_stored"}},
                                        {{"role", "user"}, {"content", "next"}}})}};
    p::ResponsesItemLookup lookup = [](std::string_view id) -> std::optional<json> {
        if (id == "msg_stored") {
            return json{{"type", "message"}, {"role", "assistant"}, {"content", "stored answer"}};
        }
        return std::nullopt;
    };
    auto c = p::responses_request_to_canonical(body, {}, lookup);
    REQUIRE(c.has_value());
    CHECK((*c)["messages"][0] == json{{"role", "assistant"}, {"content", "stored answer"}});

    body["input"][0]["id"] = "msg_missing";
    CHECK(error_param(p::responses_request_to_canonical(body, {}, lookup)) == "input[0].id");
}

TEST_CASE("Responses: built-in tools are a 400 naming the tool type")
{
    for (const char* type : {"web_search", "file_search", "code_interpreter", "computer_use_preview",
                             "image_generation", "mcp", "local_shell"}) {
        json body = {{"model", "m"}, {"input", "hi"}, {"tools", json::array({{{"type", type}}})}};
        auto r = p::responses_request_to_canonical(body);
        CHECK(error_param(r) == "tools");
        CHECK(r.error().message.find(std::string("tool type '") + type +
                                     "' is not supported by aigw for non-OpenAI models") != std::string::npos);
    }
}

TEST_CASE("Responses: wrong types are a 400 naming the field, never an exception")
{
    struct Case {
        json patch;
        std::string param;
    };
    std::vector<Case> cases = {
        {{{"input", 42}}, "input"},
        {{{"input", json::array({"not an item"})}}, "input[0]"},
        {{{"input", json::array({{{"role", "user"}, {"content", 7}}})}}, "input[0].content"},
        {{{"input", json::array({{{"role", "robot"}, {"content", "x"}}})}}, "input[0].role"},
        {{{"input", json::array({{{"type", "function_call"}, {"name", "f"}, {"arguments", "{}"}}})}},
         "input[0].call_id"},
        {{{"input",
           json::array({{{"type", "function_call"}, {"call_id", "c"}, {"name", "f"}, {"arguments", json::object()}}})}},
         "input[0].arguments"},
        {{{"input",
           json::array({{{"role", "user"}, {"content", json::array({{{"type", "input_text"}, {"text", 1}}})}}})}},
         "input[0].content[0].text"},
        {{{"instructions", json::array()}}, "instructions"},
        {{{"temperature", "hot"}}, "temperature"},
        {{{"max_output_tokens", -5}}, "max_output_tokens"},
        {{{"stream", "yes"}}, "stream"},
        {{{"tools", json::object()}}, "tools"},
        {{{"tools", json::array({{{"type", "function"}}})}}, "tools[0].name"},
        {{{"tool_choice", 3}}, "tool_choice"},
        {{{"text", {{"format", {{"type", "json_schema"}, {"name", "x"}}}}}}, "text.format.schema"},
        {{{"reasoning", "high"}}, "reasoning"},
        {{{"metadata", "x"}}, "metadata"},
        {{{"include", json::array({1})}}, "include"},
        {{{"model", 5}}, "model"},
    };
    for (const auto& tc : cases) {
        json body = {{"model", "m"}, {"input", "hi"}};
        body.update(tc.patch);
        CAPTURE(body.dump());
        CHECK(error_param(p::responses_request_to_canonical(body)) == tc.param);
    }
    CHECK_FALSE(p::responses_request_to_canonical(json::array()).has_value());
}

TEST_CASE("Responses: fields only OpenAI can honour are a 400; harmless ones are accepted")
{
    for (const auto& [key, value] : std::vector<std::pair<std::string, json>>{{"background", true},
                                                                              {"conversation", "conv_1"},
                                                                              {"prompt", {{"id", "pmpt_1"}}},
                                                                              {"max_tool_calls", 3},
                                                                              {"top_logprobs", 5},
                                                                              {"truncation", "auto"},
                                                                              {"brand_new_field", 1}}) {
        json body = {{"model", "m"}, {"input", "hi"}, {key, value}};
        CHECK(error_param(p::responses_request_to_canonical(body)) == key);
    }
    json ok = {{"model", "m"},
               {"input", "hi"},
               {"store", false},
               {"prompt_cache_key", "k"},
               {"include", json::array({"reasoning.encrypted_content"})},
               {"truncation", "disabled"},
               {"service_tier", "auto"},
               {"background", false},
               {"top_logprobs", 0},
               {"previous_response_id", "resp_1"}};
    CHECK(p::responses_request_to_canonical(ok).has_value());
}

TEST_CASE("Responses: file ids and file urls are a 400 naming the part")
{
    json body = {
        {"model", "m"},
        {"input", json::array({{{"role", "user"},
                                {"content", json::array({{{"type", "input_image"}, {"file_id", "file-1"}}})}}})}};
    CHECK(error_param(p::responses_request_to_canonical(body)) == "input[0].content[0].file_id");
    body["input"][0]["content"][0] = {{"type", "input_file"}, {"file_url", "https://example.com/a.pdf"}};
    CHECK(error_param(p::responses_request_to_canonical(body)) == "input[0].content[0].file_url");
}

TEST_CASE("Responses: a canonical answer becomes a response object with usage and echoed fields")
{
    json request = fixture_json("request_codex.json");
    json completion = {
        {"id", "chatcmpl-9"},
        {"object", "chat.completion"},
        {"choices",
         json::array(
             {{{"index", 0},
               {"finish_reason", "tool_calls"},
               {"message",
                {{"role", "assistant"},
                 {"content", "I will look."},
                 {"reasoning_content", "Need the weather."},
                 {"thinking_blocks",
                  json::array({{{"type", "thinking"}, {"thinking", "Need the weather."}, {"signature", "sig1"}}})},
                 {"tool_calls",
                  json::array(
                      {{{"id", "toolu_1"},
                        {"type", "function"},
                        {"function", {{"name", "shell"}, {"arguments", "{\"command\":[\"ls\"]}"}}}},
                       {{"id", "toolu_2"},
                        {"type", "function"},
                        {"function",
                         {{"name", "apply_patch"}, {"arguments", "{\"input\":\"*** Begin Patch\\n\"}"}}}}})}}}}})},
        {"usage", usage_chunk()["usage"]}};
    json r = p::canonical_response_to_responses(completion, context(request));
    CHECK(r["id"] == "resp_test1");
    CHECK(r["object"] == "response");
    CHECK(r["created_at"] == 1741290958);
    CHECK(r["status"] == "completed");
    CHECK(r["model"] == "claude-sonnet-4-5");
    CHECK(r["error"].is_null());
    CHECK(r["incomplete_details"].is_null());
    CHECK_FALSE(r.contains("output_text"));
    CHECK(r["usage"] == json{{"input_tokens", 120},
                             {"input_tokens_details", {{"cached_tokens", 100}}},
                             {"output_tokens", 40},
                             {"output_tokens_details", {{"reasoning_tokens", 12}}},
                             {"total_tokens", 160}});
    // Echoed from the request.
    CHECK(r["instructions"] == request["instructions"]);
    CHECK(r["tools"] == request["tools"]);
    CHECK(r["tool_choice"] == "auto");
    CHECK(r["parallel_tool_calls"] == false);
    CHECK(r["store"] == false);
    CHECK(r["reasoning"] == json{{"effort", "medium"}, {"summary", "auto"}});
    CHECK(r["temperature"] == 1.0);
    CHECK(r["previous_response_id"].is_null());

    const json& out = r["output"];
    REQUIRE(out.size() == 4);
    CHECK(out[0]["type"] == "reasoning");
    CHECK(out[0]["summary"] == json::array({{{"type", "summary_text"}, {"text", "Need the weather."}}}));
    auto fields = p::decode_reasoning_opaque(out[0]["encrypted_content"].get<std::string>());
    REQUIRE(fields.has_value());
    CHECK((*fields)["thinking_blocks"][0]["signature"] == "sig1");
    CHECK(out[1]["type"] == "message");
    CHECK(out[1]["role"] == "assistant");
    CHECK(out[1]["status"] == "completed");
    CHECK(out[1]["content"][0]["type"] == "output_text");
    CHECK(out[1]["content"][0]["text"] == "I will look.");
    CHECK(out[1]["content"][0]["annotations"] == json::array());
    CHECK(out[2]["type"] == "function_call");
    CHECK(out[2]["id"].get<std::string>().starts_with("fc_"));
    CHECK(out[2]["call_id"] == "toolu_1");
    CHECK(out[2]["name"] == "shell");
    CHECK(out[2]["arguments"] == "{\"command\":[\"ls\"]}");
    CHECK(out[3]["type"] == "custom_tool_call");
    CHECK(out[3]["call_id"] == "toolu_2");
    CHECK(out[3]["input"] == "*** Begin Patch\n");
    // Item ids are distinct.
    CHECK(out[0]["id"] != out[1]["id"]);
    CHECK(out[2]["id"] != out[3]["id"]);
}

TEST_CASE("Responses: finish_reason length makes the response incomplete with reason max_output_tokens")
{
    json completion = {{"choices", json::array({{{"index", 0},
                                                 {"finish_reason", "length"},
                                                 {"message", {{"role", "assistant"}, {"content", "cut sh"}}}}})}};
    json r = p::canonical_response_to_responses(completion, context({{"max_output_tokens", 2}}));
    CHECK(r["status"] == "incomplete");
    CHECK(r["incomplete_details"] == json{{"reason", "max_output_tokens"}});
    CHECK(r["max_output_tokens"] == 2);
    CHECK(r["output"][0]["status"] == "incomplete");
}

TEST_CASE("Responses: reasoning round-trips: a reasoning item sent back reaches canonical with its opaque value")
{
    json blocks = json::array({{{"type", "thinking"}, {"thinking", "hmm"}, {"signature", "S1"}},
                               {{"type", "redacted_thinking"}, {"data", "R2"}}});
    json completion = {
        {"choices",
         json::array({{{"index", 0},
                       {"finish_reason", "tool_calls"},
                       {"message",
                        {{"role", "assistant"},
                         {"content", nullptr},
                         {"reasoning_content", "hmm"},
                         {"thinking_blocks", blocks},
                         {"tool_calls", json::array({{{"id", "toolu_9"},
                                                      {"type", "function"},
                                                      {"function", {{"name", "f"}, {"arguments", "{}"}}}}})}}}}})}};
    json answer = p::canonical_response_to_responses(completion, context(json::object()));

    // The next turn, as Codex sends it: the previous output items, then the tool output.
    json input = answer["output"];
    input.push_back({{"type", "function_call_output"}, {"call_id", "toolu_9"}, {"output", "ok"}});
    auto next = p::responses_request_to_canonical({{"model", "m"}, {"input", input}});
    REQUIRE(next.has_value());
    const json& m = (*next)["messages"];
    REQUIRE(m.size() == 2);
    CHECK(m[0]["thinking_blocks"] == blocks);
    CHECK(m[0]["tool_calls"][0]["id"] == "toolu_9");
    CHECK(m[1]["tool_call_id"] == "toolu_9");

    // Someone else's encrypted_content (OpenAI's) is left out, not passed to another model.
    CHECK_FALSE(p::decode_reasoning_opaque("gAAAAABo_openai_ciphertext").has_value());
    auto foreign = p::responses_request_to_canonical(
        {{"model", "m"},
         {"input", json::array({{{"type", "reasoning"}, {"summary", json::array()}, {"encrypted_content", "gAAAAABo"}},
                                {{"role", "user"}, {"content", "hi"}}})}});
    REQUIRE(foreign.has_value());
    CHECK_FALSE((*foreign)["messages"][0].contains("thinking_blocks"));
}

TEST_CASE("Responses: a custom tool round-trips as custom_tool_call and comes back as a function call")
{
    json request = {
        {"model", "m"},
        {"input", "patch it"},
        {"tools", json::array({{{"type", "custom"}, {"name", "apply_patch"}, {"description", "edit files"}}})}};
    auto canonical = p::responses_request_to_canonical(request);
    REQUIRE(canonical.has_value());
    CHECK((*canonical)["tools"][0]["function"]["name"] == "apply_patch");

    json completion = {
        {"choices",
         json::array({{{"index", 0},
                       {"finish_reason", "tool_calls"},
                       {"message",
                        {{"role", "assistant"},
                         {"content", nullptr},
                         {"tool_calls",
                          json::array({{{"id", "call_7"},
                                        {"type", "function"},
                                        {"function",
                                         {{"name", "apply_patch"},
                                          {"arguments", "{\"input\":\"*** Begin Patch\\n*** End Patch\"}"}}}}})}}}}})}};
    json answer = p::canonical_response_to_responses(completion, context(request));
    REQUIRE(answer["output"].size() == 1);
    const json& call = answer["output"][0];
    CHECK(call["type"] == "custom_tool_call");
    CHECK(call["input"] == "*** Begin Patch\n*** End Patch");

    json input = json::array({call, {{"type", "custom_tool_call_output"}, {"call_id", "call_7"}, {"output", "Done"}}});
    auto next = p::responses_request_to_canonical({{"model", "m"}, {"input", input}, {"tools", request["tools"]}});
    REQUIRE(next.has_value());
    const json& m = (*next)["messages"];
    CHECK(json::parse(m[0]["tool_calls"][0]["function"]["arguments"].get<std::string>())["input"] ==
          "*** Begin Patch\n*** End Patch");
    CHECK(m[1] == json{{"role", "tool"}, {"tool_call_id", "call_7"}, {"content", "Done"}});
}

TEST_CASE("Responses: namespace tools (Codex's agents, MCP servers) flatten to functions and split back")
{
    json ns_tool = {{"type", "namespace"},
                    {"name", "multi_agent_v1"},
                    {"description", "sub-agents"},
                    {"tools", json::array({{{"type", "function"},
                                            {"name", "close_agent"},
                                            {"description", "close one"},
                                            {"parameters", {{"type", "object"}, {"properties", json::object()}}}}})}};
    json request = {{"model", "m"}, {"input", "close it"}, {"tools", json::array({ns_tool})}};
    auto canonical = p::responses_request_to_canonical(request);
    REQUIRE(canonical.has_value());
    REQUIRE((*canonical)["tools"].size() == 1);
    CHECK((*canonical)["tools"][0]["function"]["name"] == "multi_agent_v1__close_agent");

    json completion = {
        {"choices",
         json::array(
             {{{"index", 0},
               {"finish_reason", "tool_calls"},
               {"message",
                {{"role", "assistant"},
                 {"content", nullptr},
                 {"tool_calls",
                  json::array({{{"id", "call_9"},
                                {"type", "function"},
                                {"function", {{"name", "multi_agent_v1__close_agent"}, {"arguments", "{}"}}}}})}}}}})}};
    json answer = p::canonical_response_to_responses(completion, context(request));
    REQUIRE(answer["output"].size() == 1);
    const json& call = answer["output"][0];
    CHECK(call["type"] == "function_call");
    CHECK(call["name"] == "close_agent");
    CHECK(call["namespace"] == "multi_agent_v1");

    // Sent back with its namespace, the call reaches the provider under the flat name again.
    json input = json::array({call, {{"type", "function_call_output"}, {"call_id", "call_9"}, {"output", "closed"}}});
    auto next = p::responses_request_to_canonical({{"model", "m"}, {"input", input}, {"tools", request["tools"]}});
    REQUIRE(next.has_value());
    CHECK((*next)["messages"][0]["tool_calls"][0]["function"]["name"] == "multi_agent_v1__close_agent");

    // Streamed: the item and the arguments.done event carry the short name and the namespace.
    p::ResponsesStreamWriter writer(context(request));
    std::string frames;
    for (auto& f : writer.on_chunk(
             {{"choices", json::array({{{"index", 0},
                                        {"delta",
                                         {{"tool_calls", json::array({{{"index", 0},
                                                                       {"id", "call_9"},
                                                                       {"function",
                                                                        {{"name", "multi_agent_v1__close_agent"},
                                                                         {"arguments", "{}"}}}}})}}}}})}})) {
        frames += f;
    }
    for (auto& f : writer.on_chunk(
             {{"choices",
               json::array({{{"index", 0}, {"delta", json::object()}, {"finish_reason", "tool_calls"}}})}})) {
        frames += f;
    }
    for (auto& f : writer.finish()) {
        frames += f;
    }
    const json& item = writer.response()["output"][0];
    CHECK(item["name"] == "close_agent");
    CHECK(item["namespace"] == "multi_agent_v1");
    CHECK(frames.find("\"name\":\"close_agent\"") != std::string::npos);
    CHECK(frames.find("multi_agent_v1__close_agent") == std::string::npos);
}

TEST_CASE("Responses: a canonical stream with reasoning, text and parallel tool calls becomes the documented events")
{
    json request = fixture_json("request_codex.json");
    request["tools"].push_back({{"type", "function"}, {"name", "get_weather"}, {"parameters", json::object()}});
    p::ResponsesStreamWriter writer(context(request));
    std::vector<std::string> frames;
    for (const auto& c : fixture_chunks("stream_reasoning_tools.jsonl")) {
        append(frames, writer.on_chunk(c));
    }
    append(frames, writer.finish());
    CHECK(writer.finish().empty());
    CHECK(writer.on_chunk(chunk({{"content", "late"}})).empty());
    auto events = parse_events(frames);

    // Expected order and output_index, from the fixture.
    std::istringstream expected(aigw::test::read_fixture("responses", "stream_reasoning_tools.events"));
    std::vector<std::pair<std::string, std::string>> want;
    for (std::string line; std::getline(expected, line);) {
        if (line.empty() || line[0] == '#') {
            continue;
        }
        auto space = line.find(' ');
        want.emplace_back(line.substr(0, space), line.substr(space + 1));
    }
    REQUIRE(events.size() == want.size());
    for (std::size_t i = 0; i < events.size(); ++i) {
        CAPTURE(i);
        CHECK(events[i].first == want[i].first);
        const json& d = events[i].second;
        CHECK(d["sequence_number"] == static_cast<std::int64_t>(i));
        if (want[i].second == "-") {
            CHECK_FALSE(d.contains("output_index"));
        } else {
            CHECK(d["output_index"] == std::stoi(want[i].second));
        }
    }

    // item_id agrees with the item announced at that output_index; content_index is 0.
    std::map<int, std::string> ids;
    for (const auto& [name, d] : events) {
        if (name == "response.output_item.added") {
            ids[d["output_index"].get<int>()] = d["item"]["id"].get<std::string>();
        } else if (d.contains("item_id")) {
            CHECK(d["item_id"] == ids.at(d["output_index"].get<int>()));
        }
        if (d.contains("content_index")) {
            CHECK(d["content_index"] == 0);
        }
    }
    CHECK(ids.size() == 4);

    CHECK(events[0].second["response"]["status"] == "in_progress");
    CHECK(events[0].second["response"]["output"] == json::array());
    CHECK(events[6].second["text"] == "The user asks for the weather.");
    CHECK(events[13].second["text"] == "Checking now.");
    CHECK(events[20].second["arguments"] == "{\"location\":\"Paris\"}");
    CHECK(events[20].second["name"] == "get_weather");
    CHECK(events[22].second["delta"] == "*** Begin Patch\n");
    CHECK(events[23].second["input"] == "*** Begin Patch\n");
    // The reasoning item's done event carries the signed block, text and signature together.
    auto fields = p::decode_reasoning_opaque(events[8].second["item"]["encrypted_content"].get<std::string>());
    REQUIRE(fields.has_value());
    CHECK((*fields)["thinking_blocks"] ==
          json::array(
              {{{"type", "thinking"}, {"thinking", "The user asks for the weather."}, {"signature", "sigABC=="}}}));

    // The final response is what the non-stream translator makes of the same answer.
    const json& final_response = events.back().second["response"];
    json completion = {
        {"choices",
         json::array(
             {{{"index", 0},
               {"finish_reason", "tool_calls"},
               {"message",
                {{"role", "assistant"},
                 {"content", "Checking now."},
                 {"reasoning_content", "The user asks for the weather."},
                 {"thinking_blocks", (*fields)["thinking_blocks"]},
                 {"tool_calls",
                  json::array(
                      {{{"id", "toolu_A"},
                        {"type", "function"},
                        {"function", {{"name", "get_weather"}, {"arguments", "{\"location\":\"Paris\"}"}}}},
                       {{"id", "toolu_B"},
                        {"type", "function"},
                        {"function",
                         {{"name", "apply_patch"}, {"arguments", "{\"input\":\"*** Begin Patch\\n\"}"}}}}})}}}}})},
        {"usage", usage_chunk()["usage"]}};
    CHECK(final_response == p::canonical_response_to_responses(completion, context(request)));
    CHECK(final_response == writer.response());
    CHECK(final_response["usage"]["output_tokens_details"]["reasoning_tokens"] == 12);
    CHECK(final_response["usage"]["input_tokens_details"]["cached_tokens"] == 100);
}

TEST_CASE("Responses: a stream cut by max tokens ends with response.incomplete")
{
    p::ResponsesStreamWriter writer(context(json::object()));
    std::vector<std::string> frames;
    append(frames, writer.on_chunk(chunk({{"content", "cut"}})));
    append(frames, writer.on_chunk(chunk(json::object(), "length")));
    append(frames, writer.finish());
    auto events = parse_events(frames);
    CHECK(events.back().first == "response.incomplete");
    CHECK(events.back().second["response"]["incomplete_details"]["reason"] == "max_output_tokens");
    CHECK(events.back().second["response"]["output"][0]["status"] == "incomplete");
}

TEST_CASE("Responses: a failure mid-stream ends with response.failed, never response.completed")
{
    p::ResponsesStreamWriter writer(context(json::object()));
    std::vector<std::string> frames;
    append(frames, writer.on_chunk(chunk({{"content", "partial"}})));
    wire::Failure f;
    f.kind = wire::FailureKind::upstream;
    f.status = 502;
    f.message = "anthropic: overloaded";
    append(frames, writer.error(f));
    CHECK(writer.finish().empty());
    CHECK(writer.error(f).empty());
    auto events = parse_events(frames);
    CHECK(events.back().first == "response.failed");
    const json& r = events.back().second["response"];
    CHECK(r["status"] == "failed");
    CHECK(r["error"] == json{{"code", "server_error"}, {"message", "anthropic: overloaded"}});
    CHECK(r["output"][0]["content"][0]["text"] == "partial");
    CHECK(r["output"][0]["status"] == "incomplete");  // its .done events never came
    for (const auto& e : events) {
        CHECK(e.first != "response.completed");
    }
    CHECK(events.back().second["sequence_number"] == static_cast<std::int64_t>(events.size() - 1));

    auto standalone = parse_events({p::ResponsesStreamWriter::error_event(wire::bad_request("bad thing", "input"), 7)});
    REQUIRE(standalone.size() == 1);
    CHECK(standalone[0].second["code"] == "invalid_prompt");
    CHECK(standalone[0].second["param"] == "input");
    CHECK(standalone[0].second["sequence_number"] == 7);
}

TEST_CASE("Responses: invalid UTF-8 in streamed text does not throw")
{
    p::ResponsesStreamWriter writer(context(json::object()));
    std::vector<std::string> frames;
    CHECK_NOTHROW(append(frames, writer.on_chunk(chunk({{"content", std::string("bad \xff\xfe byte")}}))));
    CHECK_NOTHROW(append(frames, writer.finish()));
    CHECK(parse_events(frames).back().first == "response.completed");
}

TEST_CASE("Responses: the passthrough tap reads usage from response.completed of a native stream")
{
    p::ResponsesStreamTap tap;
    auto run = aigw::test::run_sse(tap, aigw::test::read_fixture("responses", "openai_stream.sse"), 7);
    CHECK_FALSE(run.failure.has_value());
    CHECK(run.finished);
    // One marker chunk when the first output item starts (the relay stops holding back).
    REQUIRE(run.chunks.size() == 1);
    CHECK(run.chunks[0]["choices"][0]["delta"].contains("content"));
    CHECK(run.usage.reported);
    CHECK(run.usage.input_tokens == 37);
    CHECK(run.usage.cached_tokens == 5);
    CHECK(run.usage.output_tokens == 11);
    CHECK(run.usage.reasoning_tokens == 2);
    CHECK(tap.final_response()["status"] == "completed");
    auto items = p::responses_output_items(tap.final_response());
    REQUIRE(items.size() == 1);
    CHECK(items[0]["content"][0]["text"] == "Hi");
}

TEST_CASE("Responses: the passthrough tap turns response.failed into a Failure")
{
    p::ResponsesStreamTap tap;
    auto run = aigw::test::run_sse(tap, aigw::test::read_fixture("responses", "openai_stream_failed.sse"), 5);
    REQUIRE(run.failure.has_value());
    CHECK(run.failure->kind == wire::FailureKind::upstream);
    CHECK(run.failure->code == "server_error");
    CHECK(run.failure->message == "The model failed to generate a response.");

    p::ResponsesStreamTap tap2;
    std::vector<json> out;
    auto r = tap2.on_event(
        {"error", R"({"type":"error","code":"rate_limit_exceeded","message":"slow down","param":null})", ""}, out);
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().kind == wire::FailureKind::rate_limited);
}

TEST_CASE("Responses: responses_usage reads a native response and refuses what is not one")
{
    json response = {{"object", "response"},
                     {"usage",
                      {{"input_tokens", 10},
                       {"input_tokens_details", {{"cached_tokens", 4}}},
                       {"output_tokens", 6},
                       {"output_tokens_details", {{"reasoning_tokens", 3}}},
                       {"total_tokens", 16}}}};
    auto u = p::responses_usage(response);
    REQUIRE(u.has_value());
    CHECK(u->input_tokens == 10);
    CHECK(u->cached_tokens == 4);
    CHECK(u->output_tokens == 6);
    CHECK(u->reasoning_tokens == 3);
    CHECK(u->reported);
    auto none = p::responses_usage({{"object", "response"}});
    REQUIRE(none.has_value());
    CHECK_FALSE(none->reported);
    CHECK_FALSE(p::responses_usage(json::array()).has_value());
    CHECK_FALSE(p::responses_usage({{"object", "chat.completion"}}).has_value());
}

TEST_CASE("Responses: the Codex, Vercel AI SDK and openai SDK requests translate to their recorded canonical forms")
{
    for (const char* client : {"codex", "vercel_ai_sdk", "openai_sdk"}) {
        CAPTURE(client);
        auto canonical = p::responses_request_to_canonical(fixture_json(std::string("request_") + client + ".json"));
        REQUIRE(canonical.has_value());
        CHECK(*canonical == fixture_json(std::string("canonical_") + client + ".json"));
    }
}

TEST_CASE("Responses: OpenAI is native; an OpenAI-compatible provider only when configured responses = \"native\"")
{
    aigw::config::ProviderSpec openai;
    openai.name = "openai";
    aigw::config::ProviderSpec groq;
    groq.name = "groq";
    p::Target t;
    t.provider = &openai;
    t.model = "gpt-4o-mini";
    t.api_key = "sk-test";
    CHECK(p::openai_adapter().serves_responses(t, ""));
    CHECK(p::openai_adapter().serves_responses(t, "/compact"));
    auto req = p::openai_adapter().responses_request({{"model", "openai/gpt-4o-mini"}, {"input", "hi"}}, t, "/compact");
    REQUIRE(req.has_value());
    CHECK(req->path == "/responses/compact");
    CHECK(p::header_value(req->headers, "Authorization") == "Bearer sk-test");
    CHECK(json::parse(req->body) == json{{"model", "gpt-4o-mini"}, {"input", "hi"}});

    t.provider = &groq;
    CHECK_FALSE(p::openai_adapter().serves_responses(t, ""));
    groq.options["responses"] = "native";
    CHECK(p::openai_adapter().serves_responses(t, ""));
    CHECK_FALSE(p::anthropic_adapter().serves_responses(t, ""));
}

TEST_CASE("Responses: a built-in tool off OpenAI is a 400 naming the tool type and the provider")
{
    for (const char* type : {"web_search", "web_search_preview", "file_search", "code_interpreter",
                             "computer_use_preview", "image_generation", "mcp"}) {
        json body = {{"model", "m"}, {"input", "hi"}, {"tools", json::array({{{"type", type}}})}};
        auto r = p::responses_request_to_canonical(body);
        REQUIRE_FALSE(r.has_value());
        wire::Failure f = p::translation_failure_for(r.error(), "anthropic");
        CHECK(f.status == 400);
        CHECK(f.kind == wire::FailureKind::bad_request);
        CHECK(f.param == "tools");
        CHECK(f.message.find("provider 'anthropic'") != std::string::npos);
        CHECK(f.message.find(std::string("tool type '") + type + "'") != std::string::npos);
    }
}

TEST_CASE("Responses: the passthrough tap numbers an appended event after the last upstream one")
{
    p::ResponsesStreamTap tap;
    CHECK(tap.next_sequence_number() == 0);
    std::vector<json> out;
    REQUIRE(
        tap.on_event({"response.created", R"({"type":"response.created","sequence_number":0,"response":{}})", ""}, out)
            .has_value());
    REQUIRE(tap.on_event({"response.output_text.delta",
                          R"({"type":"response.output_text.delta","sequence_number":4,"delta":"Hi"})", ""},
                         out)
                .has_value());
    CHECK(tap.next_sequence_number() == 5);
    auto frame = p::ResponsesStreamWriter::error_event(p::upstream_failure("cut"), tap.next_sequence_number());
    auto events = parse_events({frame});
    REQUIRE(events.size() == 1);
    CHECK(events[0].second["sequence_number"] == 5);
}

TEST_CASE("Responses: a cached response becomes a new one: new id and item ids, this request's echoes")
{
    json cached = {{"id", "resp_abc123"},
                   {"object", "response"},
                   {"created_at", 100},
                   {"status", "completed"},
                   {"metadata", {{"run", "first"}}},
                   {"store", true},
                   {"previous_response_id", nullptr},
                   {"user", "alice"},
                   {"output", json::array({{{"id", "msg_abc123_0"}, {"type", "message"}, {"role", "assistant"}},
                                           {{"id", "fc_openai_own"}, {"type", "function_call"}}})}};
    CHECK(p::responses_cacheable(cached));
    json request = {{"model", "m"}, {"input", "hi"}, {"store", false}, {"metadata", {{"run", "second"}}}};
    json fresh = p::responses_from_cache(cached, "resp_new999", 200, request);
    CHECK(fresh["id"] == "resp_new999");
    CHECK(fresh["created_at"] == 200);
    CHECK(fresh["output"][0]["id"] == "msg_new999_0");
    CHECK(fresh["output"][1]["id"] == "fc_openai_own");  // the provider's own ids are kept
    CHECK(fresh["metadata"] == json{{"run", "second"}});
    CHECK(fresh["store"] == false);
    CHECK(fresh["user"].is_null());

    json failed = cached;
    failed["status"] = "failed";
    CHECK_FALSE(p::responses_cacheable(failed));
    CHECK_FALSE(p::responses_cacheable(json{{"object", "chat.completion"}}));
}

TEST_CASE("Responses: a cached response replays as the documented event sequence, numbered from 0")
{
    json response = {
        {"id", "resp_r1"},
        {"object", "response"},
        {"created_at", 1},
        {"status", "completed"},
        {"usage", {{"input_tokens", 3}, {"output_tokens", 2}, {"total_tokens", 5}}},
        {"output",
         json::array({{{"id", "rs_1"},
                       {"type", "reasoning"},
                       {"summary", json::array({{{"type", "summary_text"}, {"text", "thinking"}}})},
                       {"encrypted_content", "opaque"}},
                      {{"id", "msg_1"},
                       {"type", "message"},
                       {"status", "completed"},
                       {"role", "assistant"},
                       {"content",
                        json::array({{{"type", "output_text"}, {"text", "Hello"}, {"annotations", json::array()}}})}},
                      {{"id", "fc_1"},
                       {"type", "function_call"},
                       {"status", "completed"},
                       {"call_id", "call_1"},
                       {"name", "get_weather"},
                       {"arguments", R"({"city":"Paris"})"}}})}};
    auto events = parse_events(p::responses_replay_events(response));
    std::vector<std::string> types;
    for (std::size_t i = 0; i < events.size(); ++i) {
        types.push_back(events[i].first);
        CHECK(events[i].second["sequence_number"] == i);
    }
    const std::vector<std::string> expected = {"response.created",
                                               "response.in_progress",
                                               "response.output_item.added",
                                               "response.reasoning_summary_part.added",
                                               "response.reasoning_summary_text.delta",
                                               "response.reasoning_summary_text.done",
                                               "response.reasoning_summary_part.done",
                                               "response.output_item.done",
                                               "response.output_item.added",
                                               "response.content_part.added",
                                               "response.output_text.delta",
                                               "response.output_text.done",
                                               "response.content_part.done",
                                               "response.output_item.done",
                                               "response.output_item.added",
                                               "response.function_call_arguments.delta",
                                               "response.function_call_arguments.done",
                                               "response.output_item.done",
                                               "response.completed"};
    CHECK(types == expected);
    CHECK(events[0].second["response"]["status"] == "in_progress");
    CHECK(events[0].second["response"]["output"].empty());
    CHECK(events[2].second["item"].contains("encrypted_content") == false);
    CHECK(events[10].second["delta"] == "Hello");
    CHECK(events[10].second["item_id"] == "msg_1");
    CHECK(events[10].second["output_index"] == 1);
    CHECK(events[9].second["part"]["text"] == "");
    CHECK(events[15].second["delta"] == R"({"city":"Paris"})");
    CHECK(events.back().second["response"] == response);

    response["status"] = "incomplete";
    CHECK(parse_events(p::responses_replay_events(response)).back().first == "response.incomplete");
}

// Azure OpenAI's wire format: OpenAI's bodies behind Azure's URLs, `api-key` auth and
// Azure's error shape. Answers are OpenAI's plus content-filter results (openai.cpp renders
// them). Routes (base URL http://127.0.0.1:PORT/openai):
//   POST /openai/deployments/{deployment}/chat/completions?api-version=...
//   POST /openai/deployments/{deployment}/embeddings?api-version=...
//   POST /openai/v1/chat/completions, /openai/v1/embeddings (the version-less v1 API: the
//        deployment is the body's `model`; `api-key` or `Authorization: Bearer`)

#include "tests/fake_upstream/faults.hpp"

namespace aigw::fake {

namespace {

/// Azure's errors: {"error":{"code","message"}} for its own (auth, routing, throttling), and
/// OpenAI's {"error":{"message","type","param","code"}} for what the model service rejects.
class AzureDialect final : public Dialect {
public:
    std::string error_body(int status, std::string_view message) const override
    {
        std::string text(message);
        switch (status) {
            case 401:
                return azure_error("401", text.empty() ? "Access denied due to invalid subscription key or wrong API "
                                                         "endpoint. Make sure to provide a valid key for an active "
                                                         "subscription and use a correct regional API endpoint for "
                                                         "your resource."
                                                       : text);
            case 404:
                return azure_error("DeploymentNotFound",
                                   text.empty() ? "The API deployment for this resource does not exist. If you created "
                                                  "the deployment within the last 5 minutes, please wait a moment and "
                                                  "try again."
                                                : text);
            case 429:
                return azure_error("429", text.empty() ? "Requests to the ChatCompletions_Create Operation under Azure "
                                                         "OpenAI API version 2024-10-21 have exceeded token rate limit "
                                                         "of your current OpenAI S0 pricing tier. Please retry after 1 "
                                                         "second. (fake-upstream)"
                                                       : text);
            default:
                break;
        }
        std::string type = status >= 500 ? "server_error" : "invalid_request_error";
        if (text.empty()) {
            text = status >= 500 ? "The server had an error while processing your request. Sorry about that!"
                                 : "Invalid request (fake-upstream fault " + std::to_string(status) + ").";
        }
        return json{{"error", {{"message", text}, {"type", type}, {"param", nullptr}, {"code", nullptr}}}}.dump();
    }
    std::string stream_error_frame() const override { return "data: " + error_body(500, {}) + "\n\n"; }
    std::string malformed_body() const override { return R"({"choices": [)"; }
    std::string malformed_frame() const override { return "data: {\"choices\": [\n\n"; }
    std::size_t frames_before_cut() const override { return 5; }  // filter chunk + role + 3 content

private:
    static std::string azure_error(std::string_view code, std::string_view message)
    {
        return json{{"error", {{"code", code}, {"message", message}}}}.dump();
    }
};

const AzureDialect k_dialect;

std::string header(const httplib::Request& req, const char* name)
{
    return req.get_header_value(name);
}

bool has_api_key(const httplib::Request& req)
{
    return header(req, "api-key").find_first_not_of(' ') != std::string::npos;
}

bool has_bearer(const httplib::Request& req)
{
    std::string auth = header(req, "Authorization");
    return auth.size() > 7 && lower(auth.substr(0, 7)) == "bearer " &&
           auth.find_first_not_of(' ', 7) != std::string::npos;
}

/// Checks what every deployment route needs; answers and returns false when one is missing.
bool deployment_preflight(const httplib::Request& req, httplib::Response& res)
{
    if (!has_api_key(req)) {
        send_error(res, k_dialect, 401);
        return false;
    }
    if (req.get_param_value("api-version").empty()) {
        // What Azure answers to a request without ?api-version=.
        send_json(res, 404, json{{"error", {{"code", "404"}, {"message", "Resource not found"}}}}.dump());
        return false;
    }
    return true;
}

void deployment_chat(FakeState& state, const httplib::Request& req, httplib::Response& res)
{
    if (deployment_preflight(req, res)) {
        serve_openai_chat(state, req, res, k_dialect, req.matches[1].str());
    }
}

void deployment_embeddings(FakeState& state, const httplib::Request& req, httplib::Response& res)
{
    if (deployment_preflight(req, res)) {
        serve_openai_embeddings(state, req, res, k_dialect, req.matches[1].str());
    }
}

/// The v1 API: the deployment is the body's model.
std::string v1_model(const httplib::Request& req, httplib::Response& res)
{
    if (!has_api_key(req) && !has_bearer(req)) {
        send_error(res, k_dialect, 401);
        return {};
    }
    json body = json::parse(req.body, nullptr, false);
    std::string model = body.is_object() ? body.value("model", "") : std::string();
    if (model.empty()) {
        send_error(res, k_dialect, 400, "you must provide a model parameter");
    }
    return model;
}

void v1_chat(FakeState& state, const httplib::Request& req, httplib::Response& res)
{
    std::string model = v1_model(req, res);
    if (!model.empty()) {
        serve_openai_chat(state, req, res, k_dialect, model);
    }
}

void v1_embeddings(FakeState& state, const httplib::Request& req, httplib::Response& res)
{
    std::string model = v1_model(req, res);
    if (!model.empty()) {
        serve_openai_embeddings(state, req, res, k_dialect, model);
    }
}

}  // namespace

void register_azure(httplib::Server& svr, FakeState& state)
{
    svr.Post(R"(/openai/deployments/([^/]+)/chat/completions)", recorded(state, deployment_chat));
    svr.Post(R"(/openai/deployments/([^/]+)/embeddings)", recorded(state, deployment_embeddings));
    svr.Post(R"(/openai/v1/chat/completions)", recorded(state, v1_chat));
    svr.Post(R"(/openai/v1/embeddings)", recorded(state, v1_embeddings));
}

}  // namespace aigw::fake

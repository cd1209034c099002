#include "shared/client/daemon_client.hpp"

#include <httplib.h>

#include <condition_variable>
#include <mutex>
#include <thread>

namespace aigw::client {
namespace {

std::unique_ptr<httplib::Client> make_http(const Endpoint& ep, const ClientTimeouts& t)
{
    auto cli = std::make_unique<httplib::Client>(ep.url);
    if (!ep.ca_cert.empty() && ep.url.starts_with("https://")) {
        cli->set_ca_cert_path(ep.ca_cert);
    }
    auto secs = [](std::chrono::milliseconds ms) { return static_cast<time_t>(ms.count() / 1000); };
    auto usecs = [](std::chrono::milliseconds ms) { return static_cast<time_t>((ms.count() % 1000) * 1000); };
    cli->set_connection_timeout(secs(t.connect), usecs(t.connect));
    cli->set_read_timeout(secs(t.read), usecs(t.read));
    cli->set_write_timeout(secs(t.connect) + 5, 0);
    cli->set_keep_alive(false);
    return cli;
}

ClientError transport_error(const Endpoint& ep, httplib::Error err)
{
    ClientError e;
    e.kind = ClientErrorKind::connect;
    switch (err) {
        case httplib::Error::Connection:
            e.message = "could not connect to aigwd at " + ep.url;
            e.hint = "start it with 'aigw daemon start' (or check AIGW_HOST)";
            break;
        case httplib::Error::Read:
            e.message = "aigwd at " + ep.url + " closed the connection or timed out while answering";
            e.hint = "see 'aigw daemon logs'";
            break;
        case httplib::Error::Canceled:
            e.kind = ClientErrorKind::cancelled;
            e.message = "request cancelled";
            break;
        case httplib::Error::SSLConnection:
        case httplib::Error::SSLServerVerification:
            e.message = "no TLS connection to aigwd at " + ep.url + ": " + httplib::to_string(err);
            e.hint = ep.url.starts_with("https://")
                         ? "use the name its certificate is for in AIGW_HOST (https://NAME:PORT), and for a private "
                           "CA or a self-signed certificate set AIGW_CA_CERT to its PEM file"
                         : "the daemon speaks HTTPS: set AIGW_HOST=https://NAME:PORT";
            break;
        default:
            e.message = "request to aigwd at " + ep.url + " failed: " + httplib::to_string(err);
            break;
    }
    return e;
}

ResponseMeta meta_from(const httplib::Headers& h)
{
    auto get = [&](const char* k) {
        auto it = h.find(k);
        return it == h.end() ? std::string() : it->second;
    };
    ResponseMeta m;
    m.request_id = get("x-request-id");
    m.provider = get("x-aigw-provider");
    m.model = get("x-aigw-model");
    m.cache = get("x-aigw-cache");
    m.attempts = get("x-aigw-attempts");
    m.fallback_reason = get("x-aigw-fallback-reason");
    if (auto c = get("x-aigw-cost-usd"); !c.empty()) {
        try {
            m.cost_usd = std::stod(c);
        } catch (const std::exception&) {
            // A malformed cost header is not worth failing the answer for.
        }
    }
    return m;
}

ClientError http_error(int status, const std::string& body, const httplib::Headers& headers,
                       const std::string& requested_model)
{
    ClientError e = error_from_response(status, body);
    ResponseMeta m = meta_from(headers);
    e.request_id = m.request_id;
    e.provider = m.provider;
    e.model = !m.model.empty() ? m.model : requested_model;
    return e;
}

std::expected<nlohmann::json, ClientError> parse_body(const std::string& body, const char* what)
{
    nlohmann::json j = nlohmann::json::parse(body, nullptr, false);
    if (j.is_discarded()) {
        ClientError e;
        e.kind = ClientErrorKind::protocol;
        e.message = std::string("aigwd answered ") + what + " with something that is not JSON: " + body.substr(0, 200);
        return std::unexpected(e);
    }
    return j;
}

std::string requested_model_of(const nlohmann::json& req)
{
    auto it = req.find("model");
    return (it != req.end() && it->is_string()) ? it->get<std::string>() : std::string();
}

// g++ 12's std::expected has no and_then yet.
template <typename T>
std::expected<T, ClientError> then_parse(std::expected<nlohmann::json, ClientError> j,
                                         std::expected<T, ClientError> (*parse)(const nlohmann::json&))
{
    if (!j) {
        return std::unexpected(j.error());
    }
    return parse(*j);
}

double elapsed_ms(std::chrono::steady_clock::time_point t0)
{
    return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

// True when a chunk's delta carries part of the answer (text, reasoning or a tool call).
bool delta_has_output(const nlohmann::json& chunk)
{
    auto choices = chunk.find("choices");
    if (choices == chunk.end() || !choices->is_array() || choices->empty()) {
        return false;
    }
    auto delta = (*choices)[0].find("delta");
    if (delta == (*choices)[0].end() || !delta->is_object()) {
        return false;
    }
    for (const char* key : {"content", "reasoning_content"}) {
        if (auto c = delta->find(key);
            c != delta->end() && c->is_string() && !c->get_ref<const std::string&>().empty()) {
            return true;
        }
    }
    auto tc = delta->find("tool_calls");
    return tc != delta->end() && tc->is_array() && !tc->empty();
}

// Assembles streamed tool_calls deltas (by index) into complete calls in `calls`.
void merge_tool_call_deltas(const nlohmann::json& chunk, nlohmann::json& calls)
{
    auto choices = chunk.find("choices");
    if (choices == chunk.end() || !choices->is_array() || choices->empty()) {
        return;
    }
    const auto& choice = (*choices)[0];
    auto delta = choice.find("delta");
    if (delta == choice.end() || !delta->is_object()) {
        return;
    }
    auto tcs = delta->find("tool_calls");
    if (tcs == delta->end() || !tcs->is_array()) {
        return;
    }
    if (!calls.is_array()) {
        calls = nlohmann::json::array();
    }
    for (const auto& d : *tcs) {
        const auto index = d.value("index", static_cast<std::size_t>(calls.size()));
        while (calls.size() <= index) {
            calls.push_back({{"id", ""}, {"type", "function"}, {"function", {{"name", ""}, {"arguments", ""}}}});
        }
        auto& call = calls[index];
        if (auto id = d.find("id"); id != d.end() && id->is_string()) {
            call["id"] = *id;
        }
        if (auto f = d.find("function"); f != d.end() && f->is_object()) {
            if (auto n = f->find("name"); n != f->end() && n->is_string()) {
                call["function"]["name"] = call["function"]["name"].get<std::string>() + n->get<std::string>();
            }
            if (auto a = f->find("arguments"); a != f->end() && a->is_string()) {
                call["function"]["arguments"] =
                    call["function"]["arguments"].get<std::string>() + a->get<std::string>();
            }
        }
    }
}

}  // namespace

std::optional<Endpoint> parse_endpoint(std::string_view text)
{
    std::string s(text);
    while (!s.empty() && (s.back() == '/' || s.back() == ' ' || s.back() == '\n')) {
        s.pop_back();
    }
    if (s.empty()) {
        return std::nullopt;
    }
    std::string scheme = "http";
    if (auto p = s.find("://"); p != std::string::npos) {
        scheme = s.substr(0, p);
        s = s.substr(p + 3);
        if (scheme != "http" && scheme != "https") {
            return std::nullopt;
        }
    }
    if (s.find('/') != std::string::npos || s.empty()) {
        return std::nullopt;
    }
    // "[::1]:4141", "host:4141" or "host".
    std::string host = s;
    std::string port = "4141";
    if (s.front() == '[') {
        const auto rb = s.find(']');
        if (rb == std::string::npos) {
            return std::nullopt;
        }
        host = s.substr(0, rb + 1);
        const std::string rest = s.substr(rb + 1);
        if (!rest.empty()) {
            if (rest.front() != ':') {
                return std::nullopt;
            }
            port = rest.substr(1);
        }
    } else if (const auto colon = s.find(':'); colon != std::string::npos) {
        if (s.find(':', colon + 1) != std::string::npos) {
            return std::nullopt;  // a bare IPv6 address needs brackets
        }
        host = s.substr(0, colon);
        port = s.substr(colon + 1);
    }
    if (host.empty() || port.empty() || port.find_first_not_of("0123456789") != std::string::npos || port.size() > 5) {
        return std::nullopt;
    }
    return Endpoint{scheme + "://" + host + ":" + port, {}};
}

DaemonClient::DaemonClient(Endpoint endpoint, std::string gateway_key, ClientTimeouts timeouts)
    : m_endpoint(std::move(endpoint)), m_key(std::move(gateway_key)), m_timeouts(timeouts)
{}

void DaemonClient::set_header(std::string name, std::string value)
{
    for (auto& [k, v] : m_extra_headers) {
        if (k == name) {
            v = std::move(value);
            return;
        }
    }
    m_extra_headers.emplace_back(std::move(name), std::move(value));
}

std::expected<Health, ClientError> DaemonClient::health() const
{
    ClientTimeouts t{std::chrono::milliseconds(1000), std::chrono::milliseconds(2000)};
    auto cli = make_http(m_endpoint, t);
    auto res = cli->Get("/health");
    if (!res) {
        return std::unexpected(transport_error(m_endpoint, res.error()));
    }
    if (res->status != 200) {
        return std::unexpected(http_error(res->status, res->body, res->headers, ""));
    }
    auto j = parse_body(res->body, "/health");
    if (!j) {
        return std::unexpected(j.error());
    }
    return parse_health(*j);
}

std::expected<nlohmann::json, ClientError> DaemonClient::get_json(const std::string& path) const
{
    auto cli = make_http(m_endpoint, m_timeouts);
    httplib::Headers h{{"Authorization", "Bearer " + m_key}};
    auto res = cli->Get(path, h);
    if (!res) {
        return std::unexpected(transport_error(m_endpoint, res.error()));
    }
    if (res->status != 200) {
        return std::unexpected(http_error(res->status, res->body, res->headers, ""));
    }
    return parse_body(res->body, path.c_str());
}

std::expected<nlohmann::json, ClientError> DaemonClient::post_json(const std::string& path,
                                                                   const nlohmann::json& body) const
{
    auto cli = make_http(m_endpoint, m_timeouts);
    httplib::Headers h{{"Authorization", "Bearer " + m_key}};
    h.insert(m_extra_headers.begin(), m_extra_headers.end());
    auto res = cli->Post(path, h, body.dump(), "application/json");
    if (!res) {
        return std::unexpected(transport_error(m_endpoint, res.error()));
    }
    if (res->status != 200) {
        return std::unexpected(http_error(res->status, res->body, res->headers, ""));
    }
    if (res->body.empty()) {
        return nlohmann::json::object();
    }
    return parse_body(res->body, path.c_str());
}

std::expected<std::vector<ModelRow>, ClientError> DaemonClient::models() const
{
    return then_parse(get_json("/aigw/v1/models"), &parse_models);
}

std::expected<CostReport, ClientError> DaemonClient::cost(const CostQuery& q) const
{
    std::string path = "/aigw/v1/cost?by=" + httplib::detail::encode_query_param(q.by);
    if (q.since_ms) {
        path += "&since_ms=" + std::to_string(*q.since_ms);
    }
    if (q.until_ms) {
        path += "&until_ms=" + std::to_string(*q.until_ms);
    }
    return then_parse(get_json(path), &parse_cost);
}

std::expected<std::vector<LogRow>, ClientError> DaemonClient::logs(int limit) const
{
    return then_parse(get_json("/aigw/v1/logs?limit=" + std::to_string(limit)), &parse_logs);
}

std::expected<std::vector<LogRow>, ClientError> DaemonClient::logs(const LogQuery& q) const
{
    std::string path = "/aigw/v1/logs?with_ids=1&limit=" + std::to_string(q.limit);
    if (q.after_row_id) {
        path += "&after_row_id=" + std::to_string(*q.after_row_id);
    }
    if (!q.tag.empty()) {
        path += "&tag=" + httplib::detail::encode_query_param(q.tag);
    }
    if (!q.session.empty()) {
        path += "&session=" + httplib::detail::encode_query_param(q.session);
    }
    if (q.all_attempts) {
        path += "&all_attempts=1";
    }
    if (!q.query.empty()) {
        path += "&q=" + httplib::detail::encode_query_param(q.query);
    }
    if (!q.key.empty()) {
        path += "&key=" + httplib::detail::encode_query_param(q.key);
    }
    if (!q.model.empty()) {
        path += "&model=" + httplib::detail::encode_query_param(q.model);
    }
    if (q.status > 0) {
        path += "&status=" + std::to_string(q.status);
    }
    if (q.status_class > 0) {
        path += "&status_class=" + std::to_string(q.status_class);
    }
    if (q.errors) {
        path += "&errors=1";
    }
    if (q.since_ms) {
        path += "&since_ms=" + std::to_string(*q.since_ms);
    }
    return then_parse(get_json(path), &parse_logs);
}

std::expected<std::vector<LogRow>, ClientError> DaemonClient::log_attempts(const std::string& request_id) const
{
    return then_parse(get_json("/aigw/v1/logs/" + httplib::detail::encode_query_param(request_id)),
                      &parse_log_attempts);
}

std::expected<nlohmann::json, ClientError> DaemonClient::embeddings(const nlohmann::json& request) const
{
    auto r = post_json("/v1/embeddings", request);
    if (!r) {
        ClientError e = r.error();
        if (e.model.empty()) {
            e.model = requested_model_of(request);
        }
        return std::unexpected(e);
    }
    return r;
}

std::expected<Status, ClientError> DaemonClient::status() const
{
    return then_parse(get_json("/aigw/v1/status"), &parse_status);
}

std::expected<ReloadReport, ClientError> DaemonClient::reload() const
{
    auto r = post_json("/aigw/v1/reload", nlohmann::json::object());
    if (!r) {
        return std::unexpected(r.error());
    }
    ReloadReport out;
    auto strings = [&](const char* name, std::vector<std::string>& into) {
        if (auto it = r->find(name); it != r->end() && it->is_array()) {
            for (const auto& s : *it) {
                if (s.is_string()) {
                    into.push_back(s.get<std::string>());
                }
            }
        }
    };
    strings("applied", out.applied);
    strings("needs_restart", out.needs_restart);
    strings("warnings", out.warnings);
    return out;
}

std::expected<void, ClientError> DaemonClient::shutdown() const
{
    auto r = post_json("/aigw/v1/shutdown", nlohmann::json::object());
    if (!r) {
        return std::unexpected(r.error());
    }
    return {};
}

std::expected<CreatedVirtualKey, ClientError> DaemonClient::create_key(const NewVirtualKey& spec) const
{
    nlohmann::json body = {{"name", spec.name},
                           {"rpm", spec.rpm},
                           {"tpm", spec.tpm},
                           {"models", spec.models},
                           {"expires_ms", spec.expires_ms}};
    if (spec.budget_usd) {
        body["budget_usd"] = *spec.budget_usd;
        body["budget_period"] = spec.budget_period;
    }
    auto j = post_json("/aigw/v1/keys", body);
    if (!j) {
        return std::unexpected(j.error());
    }
    auto info = parse_virtual_key(*j);
    if (!info) {
        return std::unexpected(info.error());
    }
    CreatedVirtualKey out;
    out.secret = j->value("key", "");
    info->raw.erase("key");  // the secret stays out of anything that might be printed later
    out.info = std::move(*info);
    return out;
}

std::expected<std::vector<VirtualKeyInfo>, ClientError> DaemonClient::list_keys() const
{
    return then_parse(get_json("/aigw/v1/keys"), &parse_virtual_keys);
}

std::expected<VirtualKeyInfo, ClientError> DaemonClient::show_key(const std::string& id_or_name) const
{
    return then_parse(get_json("/aigw/v1/keys/" + httplib::detail::encode_query_param(id_or_name)), &parse_virtual_key);
}

std::expected<VirtualKeyInfo, ClientError> DaemonClient::revoke_key(const std::string& id_or_name) const
{
    return then_parse(post_json("/aigw/v1/keys/" + httplib::detail::encode_query_param(id_or_name) + "/revoke",
                                nlohmann::json::object()),
                      &parse_virtual_key);
}

std::expected<CacheStats, ClientError> DaemonClient::cache_stats() const
{
    return then_parse(get_json("/aigw/v1/cache"), &parse_cache_stats);
}

std::expected<std::int64_t, ClientError> DaemonClient::cache_clear() const
{
    auto r = post_json("/aigw/v1/cache/clear", nlohmann::json::object());
    if (!r) {
        return std::unexpected(r.error());
    }
    auto n = r->find("cleared");
    if (n == r->end() || !n->is_number_integer()) {
        ClientError e;
        e.kind = ClientErrorKind::protocol;
        e.message = "unexpected answer from aigwd to cache clear: " + r->dump();
        return std::unexpected(e);
    }
    return n->get<std::int64_t>();
}

std::expected<ChatResult, ClientError> DaemonClient::chat(nlohmann::json request) const
{
    request["stream"] = false;
    const std::string model = requested_model_of(request);
    auto cli = make_http(m_endpoint, m_timeouts);
    httplib::Headers h{{"Authorization", "Bearer " + m_key}};
    h.insert(m_extra_headers.begin(), m_extra_headers.end());
    const auto t0 = std::chrono::steady_clock::now();
    auto res = cli->Post("/v1/chat/completions", h, request.dump(), "application/json");
    const double latency_ms = elapsed_ms(t0);
    if (!res) {
        return std::unexpected(transport_error(m_endpoint, res.error()));
    }
    if (res->status != 200) {
        return std::unexpected(http_error(res->status, res->body, res->headers, model));
    }
    auto j = parse_body(res->body, "the chat request");
    if (!j) {
        return std::unexpected(j.error());
    }
    ChatResult out;
    out.meta = meta_from(res->headers);
    out.body = *j;
    out.latency_ms = latency_ms;
    try {
        const auto& choice = out.body.at("choices").at(0);
        const auto& content = choice.at("message").value("content", nlohmann::json());
        if (content.is_string()) {
            out.content = content.get<std::string>();
        }
        if (auto tc = choice.at("message").find("tool_calls"); tc != choice.at("message").end() && tc->is_array()) {
            out.tool_calls = *tc;
        }
        if (auto f = choice.find("finish_reason"); f != choice.end() && f->is_string()) {
            out.finish_reason = f->get<std::string>();
        }
    } catch (const nlohmann::json::exception&) {
        // No choices: content stays empty; the caller still has the body.
    }
    if (auto u = out.body.find("usage"); u != out.body.end()) {
        out.usage = *u;
    }
    return out;
}

std::expected<ChatResult, ClientError> DaemonClient::chat_stream(nlohmann::json request, const ChunkCallback& on_chunk,
                                                                 const std::atomic<bool>* cancel) const
{
    request["stream"] = true;
    const std::string model = requested_model_of(request);
    auto cli = make_http(m_endpoint, m_timeouts);

    auto is_cancelled = [cancel] { return cancel != nullptr && cancel->load(); };
    const auto t0 = std::chrono::steady_clock::now();
    std::optional<double> ttft_ms;
    nlohmann::json tool_calls;
    ChatStreamDecoder decoder([&](const nlohmann::json& chunk) {
        if (is_cancelled()) {
            return false;
        }
        if (!ttft_ms && delta_has_output(chunk)) {
            ttft_ms = elapsed_ms(t0);
        }
        merge_tool_call_deltas(chunk, tool_calls);
        return on_chunk ? on_chunk(chunk) : true;
    });

    int status = 0;
    httplib::Headers headers;
    std::string error_body;

    httplib::Request req;
    req.method = "POST";
    req.path = "/v1/chat/completions";
    req.headers = {{"Authorization", "Bearer " + m_key}, {"Accept", "text/event-stream"}};
    req.headers.insert(m_extra_headers.begin(), m_extra_headers.end());
    req.body = request.dump();
    req.set_header("Content-Type", "application/json");
    req.response_handler = [&](const httplib::Response& r) {
        status = r.status;
        headers = r.headers;
        return true;
    };
    req.content_receiver = [&](const char* data, size_t n, uint64_t, uint64_t) {
        if (status != 200) {
            if (error_body.size() < 64 * 1024) {
                error_body.append(data, n);
            }
            return true;
        }
        if (is_cancelled()) {
            return false;
        }
        // After [DONE] the rest of the response is read, not cut: closing early makes the
        // daemon see a client that left mid-stream.
        return decoder.feed(std::string_view(data, n)) || decoder.done();
    };

    // The request runs on a worker so that `cancel` can abort it while it waits for bytes.
    std::optional<httplib::Result> result;
    {
        std::mutex mu;
        std::condition_variable cv;
        bool finished = false;
        std::thread worker([&] {
            auto r = cli->send(req);
            std::lock_guard lock(mu);
            result.emplace(std::move(r));
            finished = true;
            cv.notify_all();
        });
        std::unique_lock lock(mu);
        bool stop_sent = false;
        while (!cv.wait_for(lock, std::chrono::milliseconds(20), [&] { return finished; })) {
            if (!stop_sent && is_cancelled()) {
                cli->stop();
                stop_sent = true;
            }
        }
        lock.unlock();
        worker.join();
    }

    ChatResult out;
    out.meta = meta_from(headers);
    const bool had_error_event = decoder.error().has_value();
    if (decoder.stopped() || (is_cancelled() && !decoder.done() && !decoder.error())) {
        out.cancelled = true;
    } else if (status == 0) {
        return std::unexpected(transport_error(m_endpoint, result->error()));
    } else if (status != 200) {
        return std::unexpected(http_error(status, error_body, headers, model));
    } else if (auto f = decoder.finish(); !f) {
        // An error event, or the connection ended (or timed out) before [DONE].
        ClientError e = f.error();
        e.request_id = out.meta.request_id;
        e.provider = out.meta.provider;
        if (e.model.empty()) {
            e.model = !out.meta.model.empty() ? out.meta.model : model;
        }
        if (!*result && !had_error_event) {
            e.message += " (" + httplib::to_string(result->error()) + ")";
        }
        return std::unexpected(e);
    }
    out.content = decoder.content();
    out.finish_reason = decoder.finish_reason();
    out.usage = decoder.usage();
    out.tool_calls = std::move(tool_calls);
    out.latency_ms = elapsed_ms(t0);
    out.ttft_ms = ttft_ms;
    if (out.meta.model.empty()) {
        out.meta.model = decoder.model();
    }
    return out;
}

std::expected<void, ClientError> DaemonClient::get_stream(const std::string& path,
                                                          const std::function<bool(std::string_view)>& sink) const
{
    auto cli = make_http(m_endpoint, m_timeouts);
    httplib::Headers h{{"Authorization", "Bearer " + m_key}};
    std::string error_body;
    int status = 0;
    auto res = cli->Get(
        path, h,
        [&](const httplib::Response& r) {
            status = r.status;
            return true;
        },
        [&](const char* data, std::size_t n) {
            if (status != 200) {
                error_body.append(data, n);
                return error_body.size() < 65536;
            }
            return sink(std::string_view(data, n));
        });
    if (!res) {
        if (res.error() == httplib::Error::Canceled && status == 200) {
            return {};  // the sink stopped
        }
        return std::unexpected(transport_error(m_endpoint, res.error()));
    }
    if (res->status != 200) {
        return std::unexpected(http_error(res->status, error_body, res->headers, ""));
    }
    return {};
}

bool server_answers(const std::string& base_url, std::chrono::milliseconds timeout)
{
    const auto scheme = base_url.find("://");
    if (scheme == std::string::npos) {
        return false;
    }
    const auto slash = base_url.find('/', scheme + 3);
    const std::string origin = base_url.substr(0, slash);
    const std::string path = (slash == std::string::npos ? std::string() : base_url.substr(slash)) + "/models";
    httplib::Client cli(origin);
    if (!cli.is_valid()) {
        return false;
    }
    const auto secs = static_cast<time_t>(timeout.count() / 1000);
    const auto usecs = static_cast<time_t>((timeout.count() % 1000) * 1000);
    cli.set_connection_timeout(secs, usecs);
    cli.set_read_timeout(secs, usecs);
    cli.set_write_timeout(secs, usecs);
    return static_cast<bool>(cli.Get(path));
}

}  // namespace aigw::client

#pragma once
// Typed client for aigwd's HTTP API. One DaemonClient per endpoint; calls are blocking.

#include "shared/client/chat_stream.hpp"
#include "shared/client/types.hpp"

#include <atomic>
#include <chrono>
#include <expected>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace aigw::client {

/// Where a daemon listens: "http://127.0.0.1:4141".
struct Endpoint {
    std::string url;
    /// https:// only: a PEM file of CA certificates to trust besides the system's
    /// ($AIGW_CA_CERT, for a gateway with a private CA or a self-signed certificate).
    std::string ca_cert;
};

/// "http://h:p", "https://h:p", "h:p" or "h" (port 4141) -> Endpoint; nullopt when malformed.
std::optional<Endpoint> parse_endpoint(std::string_view text);

struct ClientTimeouts {
    std::chrono::milliseconds connect{3000};
    std::chrono::milliseconds read{600'000};  ///< answers and streams can be slow
};

class DaemonClient {
public:
    DaemonClient(Endpoint endpoint, std::string gateway_key, ClientTimeouts timeouts = {});

    const Endpoint& endpoint() const { return m_endpoint; }

    /// GET /health (no auth, short timeouts).
    std::expected<Health, ClientError> health() const;
    std::expected<std::vector<ModelRow>, ClientError> models() const;
    std::expected<CostReport, ClientError> cost(const CostQuery& q) const;
    std::expected<std::vector<LogRow>, ClientError> logs(int limit) const;
    std::expected<std::vector<LogRow>, ClientError> logs(const LogQuery& q) const;
    /// Every attempt of one request (GET /aigw/v1/logs/{id}); http 404 when unknown.
    std::expected<std::vector<LogRow>, ClientError> log_attempts(const std::string& request_id) const;
    std::expected<Status, ClientError> status() const;
    /// POST /aigw/v1/reload: the daemon reads its config file again. An error (with every
    /// problem of the file) leaves the daemon's config as it was.
    std::expected<ReloadReport, ClientError> reload() const;
    std::expected<void, ClientError> shutdown() const;
    /// GET /aigw/v1/cache.
    std::expected<CacheStats, ClientError> cache_stats() const;
    /// POST /aigw/v1/cache/clear: removes every entry; returns how many there were.
    std::expected<std::int64_t, ClientError> cache_clear() const;

    /// Virtual keys (admin API). create_key's answer carries the secret, the only time.
    std::expected<CreatedVirtualKey, ClientError> create_key(const NewVirtualKey& spec) const;
    std::expected<std::vector<VirtualKeyInfo>, ClientError> list_keys() const;
    /// By id or name; 404 when there is none.
    std::expected<VirtualKeyInfo, ClientError> show_key(const std::string& id_or_name) const;
    std::expected<VirtualKeyInfo, ClientError> revoke_key(const std::string& id_or_name) const;

    /// POST /v1/chat/completions without streaming ("stream" is forced to false).
    std::expected<ChatResult, ClientError> chat(nlohmann::json request) const;
    /// POST /v1/chat/completions with "stream": true. `on_chunk` sees every chunk and may
    /// return false to stop; when `cancel` becomes true the request is aborted even while
    /// waiting for the first byte. A stopped stream is not an error: the result has
    /// cancelled = true and the partial content.
    std::expected<ChatResult, ClientError> chat_stream(nlohmann::json request, const ChunkCallback& on_chunk,
                                                       const std::atomic<bool>* cancel = nullptr) const;

    /// POST /v1/embeddings; the OpenAI embeddings list.
    std::expected<nlohmann::json, ClientError> embeddings(const nlohmann::json& request) const;

    /// A header sent with every later request of this client (e.g. x-aigw-tag for a bench
    /// run). Not thread-safe against concurrent requests: set it before sharing the client.
    void set_header(std::string name, std::string value);

    /// GET with auth returning the parsed JSON body (for endpoints without a typed method).
    std::expected<nlohmann::json, ClientError> get_json(const std::string& path) const;
    std::expected<nlohmann::json, ClientError> post_json(const std::string& path, const nlohmann::json& body) const;

    /// GET with auth, handing the body to `sink` piece by piece as it arrives (e.g.
    /// /aigw/v1/ledger/export); `sink` returns false to stop. A non-200 answer is an error
    /// (its body is not passed to `sink`).
    std::expected<void, ClientError> get_stream(const std::string& path,
                                                const std::function<bool(std::string_view)>& sink) const;

private:
    Endpoint m_endpoint;
    std::string m_key;
    ClientTimeouts m_timeouts;
    std::vector<std::pair<std::string, std::string>> m_extra_headers;
};

/// Whether an HTTP server answers at `base_url` ("http://127.0.0.1:11434/v1"): GET
/// base_url + "/models" gets any HTTP status within `timeout`. For providers that need no
/// key (ollama, local servers), where an answer is what makes the provider usable.
bool server_answers(const std::string& base_url, std::chrono::milliseconds timeout);

}  // namespace aigw::client

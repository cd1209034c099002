#pragma once
// Stored Responses (/v1/responses with `store`, OpenAI's default): the response object, the
// request's input items, and the whole conversation up to and including this response, so
// that `previous_response_id` works for every provider, not only OpenAI. One SQLite file
// (responses.db in the data dir, 0600, WAL), separate from the ledger: it holds prompts and
// answers, which the ledger does not unless log_bodies is on.
//
// A stored response belongs to the key that made it: only that key (or the gateway key)
// can read, continue or delete it. Responses older than the retention window are deleted
// when the store opens and once an hour after.
//
// Calls are synchronous and short (one indexed row), made from the event loops; a mutex
// serialises them.

#include <SQLiteCpp/Database.h>
#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdint>
#include <expected>
#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace aigw::daemon::ledger {

struct StoredResponse {
    std::string id;
    std::string key_id;
    std::int64_t created_ms = 0;
    nlohmann::json response;                   ///< the response object as returned
    std::vector<nlohmann::json> input_items;   ///< this request's input, as items
    std::vector<nlohmann::json> conversation;  ///< previous conversation + input + output
};

class ResponseStore {
public:
    /// Opens (creating) the store at `path`; `retention_days` 0 keeps responses forever.
    static std::expected<std::unique_ptr<ResponseStore>, std::string> open(const std::filesystem::path& path,
                                                                           int retention_days);

    /// Stores (or replaces) a response.
    std::expected<void, std::string> put(const StoredResponse& r);
    /// The response `id` when it exists and `key_id` may see it (`admin` sees every one).
    std::optional<StoredResponse> get(const std::string& id, const std::string& key_id, bool admin);
    /// A stored input or output item by its id (for item_reference), when `key_id` may see it.
    std::optional<nlohmann::json> find_item(const std::string& item_id, const std::string& key_id, bool admin);
    /// Deletes the response; false when it did not exist for this key.
    bool remove(const std::string& id, const std::string& key_id, bool admin);
    /// Deletes responses created before `cutoff_ms`; returns how many.
    std::int64_t prune(std::int64_t cutoff_ms);

private:
    ResponseStore(std::filesystem::path path, std::unique_ptr<SQLite::Database> db, int retention_days);
    void prune_if_due();  ///< with m_mu held (or before the store is shared)
    std::int64_t prune_locked(std::int64_t cutoff_ms);

    std::filesystem::path m_path;
    std::unique_ptr<SQLite::Database> m_db;
    int m_retention_days = 0;
    std::chrono::steady_clock::time_point m_next_prune;
    std::mutex m_mu;
};

}  // namespace aigw::daemon::ledger

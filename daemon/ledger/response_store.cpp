#include "daemon/ledger/response_store.hpp"

#include "daemon/ledger/ledger.hpp"
#include "daemon/ledger/migrations.hpp"
#include "shared/wire/json_text.hpp"

#include <SQLiteCpp/Statement.h>
#include <SQLiteCpp/Transaction.h>

namespace aigw::daemon::ledger {

namespace {

constexpr std::int64_t k_ms_per_day = 86'400'000;
constexpr auto k_prune_interval = std::chrono::hours(1);

constexpr Migration k_response_migrations[] = {
    {1, "stored responses", R"sql(
CREATE TABLE responses (
    id            TEXT PRIMARY KEY,
    key_id        TEXT NOT NULL,
    created_ms    INTEGER NOT NULL,
    response      TEXT NOT NULL,
    input_items   TEXT NOT NULL,
    conversation  TEXT NOT NULL
);
CREATE INDEX responses_created ON responses(created_ms);
)sql"},
    {2, "stored items by id (item_reference)", R"sql(
CREATE TABLE response_items (
    item_id       TEXT PRIMARY KEY,
    response_id   TEXT NOT NULL,
    key_id        TEXT NOT NULL,
    item          TEXT NOT NULL
);
CREATE INDEX response_items_response ON response_items(response_id);
)sql"},
};

std::int64_t now_ms()
{
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
        .count();
}

/// JSON text; invalid UTF-8 is replaced, never thrown on.
std::string text_of(const nlohmann::json& value)
{
    return wire::dump_json(value);
}

std::vector<nlohmann::json> items_of(const std::string& text)
{
    std::vector<nlohmann::json> out;
    auto doc = nlohmann::json::parse(text, nullptr, false);
    if (doc.is_array()) {
        for (auto& item : doc) {
            out.push_back(std::move(item));
        }
    }
    return out;
}

}  // namespace

std::expected<std::unique_ptr<ResponseStore>, std::string> ResponseStore::open(const std::filesystem::path& path,
                                                                               int retention_days)
{
    try {
        make_private(path);
        auto db = std::make_unique<SQLite::Database>(path, SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE, 5000);
        db->exec("PRAGMA journal_mode=WAL");
        db->exec("PRAGMA synchronous=NORMAL");
        if (auto applied = apply_migrations(*db, k_response_migrations, "the response store"); !applied) {
            return std::unexpected(applied.error());
        }
        make_private(path);  // -wal and -shm exist now
        std::unique_ptr<ResponseStore> store(new ResponseStore(path, std::move(db), retention_days));
        store->prune_if_due();
        return store;
    } catch (const std::exception& e) {
        return std::unexpected("cannot open " + path.string() + ": " + e.what());
    }
}

ResponseStore::ResponseStore(std::filesystem::path path, std::unique_ptr<SQLite::Database> db, int retention_days)
    : m_path(std::move(path)), m_db(std::move(db)), m_retention_days(retention_days)
{}

void ResponseStore::prune_if_due()
{
    if (m_retention_days <= 0 || std::chrono::steady_clock::now() < m_next_prune) {
        return;
    }
    m_next_prune = std::chrono::steady_clock::now() + k_prune_interval;
    prune_locked(now_ms() - static_cast<std::int64_t>(m_retention_days) * k_ms_per_day);
}

std::expected<void, std::string> ResponseStore::put(const StoredResponse& r)
{
    std::lock_guard lock(m_mu);
    try {
        SQLite::Statement st(*m_db,
                             "INSERT OR REPLACE INTO responses (id, key_id, created_ms, response, input_items, "
                             "conversation) VALUES (?, ?, ?, ?, ?, ?)");
        st.bind(1, r.id);
        st.bind(2, r.key_id);
        st.bind(3, r.created_ms);
        st.bind(4, text_of(r.response));
        st.bind(5, text_of(nlohmann::json(r.input_items)));
        st.bind(6, text_of(nlohmann::json(r.conversation)));
        SQLite::Transaction tx(*m_db);
        st.exec();
        // Every item with an id, so a later request can name it in an item_reference.
        SQLite::Statement item_st(*m_db,
                                  "INSERT OR REPLACE INTO response_items (item_id, response_id, key_id, item) "
                                  "VALUES (?, ?, ?, ?)");
        auto add_items = [&](const auto& items) {
            for (const auto& item : items) {
                if (item.is_object() && item.contains("id") && item["id"].is_string()) {
                    item_st.bind(1, item["id"].template get<std::string>());
                    item_st.bind(2, r.id);
                    item_st.bind(3, r.key_id);
                    item_st.bind(4, text_of(item));
                    item_st.exec();
                    item_st.reset();
                }
            }
        };
        add_items(r.input_items);
        if (auto out = r.response.find("output"); out != r.response.end() && out->is_array()) {
            add_items(*out);
        }
        tx.commit();
    } catch (const std::exception& e) {
        return std::unexpected(std::string("cannot store the response: ") + e.what());
    }
    return {};
}

std::optional<StoredResponse> ResponseStore::get(const std::string& id, const std::string& key_id, bool admin)
{
    std::lock_guard lock(m_mu);
    prune_if_due();
    try {
        SQLite::Statement st(*m_db,
                             "SELECT key_id, created_ms, response, input_items, conversation FROM responses "
                             "WHERE id = ?");
        st.bind(1, id);
        if (!st.executeStep()) {
            return std::nullopt;
        }
        StoredResponse r;
        r.id = id;
        r.key_id = st.getColumn(0).getString();
        if (!admin && r.key_id != key_id) {
            return std::nullopt;  // another key's response: as if it did not exist
        }
        r.created_ms = st.getColumn(1).getInt64();
        r.response = nlohmann::json::parse(st.getColumn(2).getString(), nullptr, false);
        r.input_items = items_of(st.getColumn(3).getString());
        r.conversation = items_of(st.getColumn(4).getString());
        return r;
    } catch (const std::exception&) {
        return std::nullopt;
    }
}

std::optional<nlohmann::json> ResponseStore::find_item(const std::string& item_id, const std::string& key_id,
                                                       bool admin)
{
    std::lock_guard lock(m_mu);
    try {
        SQLite::Statement st(*m_db, "SELECT key_id, item FROM response_items WHERE item_id = ?");
        st.bind(1, item_id);
        if (!st.executeStep() || (!admin && st.getColumn(0).getString() != key_id)) {
            return std::nullopt;
        }
        auto item = nlohmann::json::parse(st.getColumn(1).getString(), nullptr, false);
        if (item.is_discarded()) {
            return std::nullopt;
        }
        return item;
    } catch (const std::exception&) {
        return std::nullopt;
    }
}

bool ResponseStore::remove(const std::string& id, const std::string& key_id, bool admin)
{
    std::lock_guard lock(m_mu);
    try {
        SQLite::Statement st(
            *m_db, admin ? "DELETE FROM responses WHERE id = ?" : "DELETE FROM responses WHERE id = ? AND key_id = ?");
        st.bind(1, id);
        if (!admin) {
            st.bind(2, key_id);
        }
        const bool removed = st.exec() > 0;
        if (removed) {
            SQLite::Statement items(*m_db, "DELETE FROM response_items WHERE response_id = ?");
            items.bind(1, id);
            items.exec();
        }
        return removed;
    } catch (const std::exception&) {
        return false;
    }
}

std::int64_t ResponseStore::prune(std::int64_t cutoff_ms)
{
    std::lock_guard lock(m_mu);
    return prune_locked(cutoff_ms);
}

std::int64_t ResponseStore::prune_locked(std::int64_t cutoff_ms)
{
    try {
        SQLite::Statement items(*m_db,
                                "DELETE FROM response_items WHERE response_id IN "
                                "(SELECT id FROM responses WHERE created_ms < ?)");
        items.bind(1, cutoff_ms);
        items.exec();
        SQLite::Statement st(*m_db, "DELETE FROM responses WHERE created_ms < ?");
        st.bind(1, cutoff_ms);
        return st.exec();
    } catch (const std::exception&) {
        return 0;
    }
}

}  // namespace aigw::daemon::ledger

#pragma once
// The ledger's schema as numbered migrations, recorded in `schema_migrations`. A migration
// is never edited once released: a schema change is a new entry at the end of the list.

#include <expected>
#include <span>
#include <string>
#include <string_view>

namespace SQLite {
class Database;
}

namespace aigw::daemon::ledger {

struct Migration {
    int version = 0;        ///< 1-based, contiguous
    std::string_view name;  ///< short description stored with the version
    std::string_view sql;   ///< one or more statements, run in one transaction
};

/// Every migration this build knows, in order.
std::span<const Migration> ledger_migrations();

/// Applies the migrations `db` is missing, each in its own transaction, and returns the
/// resulting schema version; or an error when the database was written by a newer aigw
/// (its version is above what this build knows) or a migration fails.
std::expected<int, std::string> apply_migrations(SQLite::Database& db);

/// The same for another database with its own list (the virtual key store); `what` names
/// the database in errors ("the key store").
std::expected<int, std::string> apply_migrations(SQLite::Database& db, std::span<const Migration> migrations,
                                                 std::string_view what);

}  // namespace aigw::daemon::ledger

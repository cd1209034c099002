#pragma once
// Where aigw keeps things. Every lookup takes an Env so tests never touch the real home.

#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

namespace aigw::config {

/// Environment lookup; the real one wraps getenv, tests pass a map.
using Env = std::function<std::optional<std::string>(std::string_view name)>;
Env process_env();

/// $AIGW_DATA_DIR, else $XDG_DATA_HOME/aigw, else $HOME/.local/share/aigw.
std::filesystem::path default_data_dir(const Env& env);
/// $AIGW_CONFIG, else $XDG_CONFIG_HOME/aigw/config.toml, else $HOME/.config/aigw/config.toml.
std::filesystem::path default_config_path(const Env& env);

/// Creates `dir` (and parents) with mode 0700 if missing.
void ensure_private_dir(const std::filesystem::path& dir);
/// Writes `content` to `path` atomically with mode 0600 (temp file + rename).
void write_private_file(const std::filesystem::path& path, std::string_view content);
/// Whole file, or nullopt when it cannot be read.
std::optional<std::string> read_file(const std::filesystem::path& path);

/// Files inside the data dir.
inline std::filesystem::path state_file(const std::filesystem::path& data_dir)
{
    return data_dir / "aigwd.json";
}
inline std::filesystem::path gateway_key_file(const std::filesystem::path& data_dir)
{
    return data_dir / "gateway.key";
}
inline std::filesystem::path provider_keys_file(const std::filesystem::path& data_dir)
{
    return data_dir / "provider-keys.json";
}
inline std::filesystem::path ledger_file(const std::filesystem::path& data_dir)
{
    return data_dir / "ledger.db";
}
inline std::filesystem::path keys_file(const std::filesystem::path& data_dir)
{
    return data_dir / "keys.db";
}
inline std::filesystem::path daemon_log_file(const std::filesystem::path& data_dir)
{
    return data_dir / "aigwd.log";
}

}  // namespace aigw::config

#pragma once
// `aigw config show`: the effective config as key, value and where the value came from.

#include "shared/config/config.hpp"

#include <string>
#include <string_view>
#include <vector>

namespace aigw::cli {

/// One effective setting: "routing.retries" = "2" from "default" | "file" | "env" | "flag".
struct ConfigValue {
    std::string key;
    std::string value;   ///< as TOML would spell it; secrets masked
    std::string source;  ///< "default", "file", "env (AIGW_DATA_DIR)", "flag (--data-dir)", ...
};

/// Every scalar setting of `cfg` with its source. `file_text` is the config file's text
/// ("" when absent or unreadable); a key written there counts as "file" unless the
/// environment or --data-dir overrode it. Provider keys are masked.
std::vector<ConfigValue> effective_config(const config::Config& cfg, std::string_view file_text, const config::Env& env,
                                          bool data_dir_flag);

}  // namespace aigw::cli

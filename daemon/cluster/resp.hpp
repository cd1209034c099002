#pragma once
// RESP2, the Redis wire protocol: commands go out as arrays of bulk strings, replies come
// back as one of five types. Pure code: an encoder and an incremental parser that reads
// a reply from the bytes received so far (or says it needs more).

#include <cstdint>
#include <expected>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace aigw::daemon::cluster {

struct RespValue {
    enum class Type { simple, error, integer, bulk, nil, array };
    Type type = Type::nil;
    std::string text;              ///< simple, error, bulk
    std::int64_t integer = 0;      ///< integer
    std::vector<RespValue> items;  ///< array

    bool is_error() const { return type == Type::error; }
    bool is_nil() const { return type == Type::nil; }
};

/// `*N\r\n$len\r\narg\r\n...`: a command as Redis reads it (binary-safe arguments).
std::string encode_command(const std::vector<std::string>& args);

/// The replies Redis sends are bounded by what we ask for; these bound what a broken or
/// hostile peer can make the parser allocate.
inline constexpr std::size_t k_max_bulk_bytes = 64u << 20;
inline constexpr std::int64_t k_max_array_items = 1 << 20;
inline constexpr int k_max_depth = 16;

/// Reads one reply from the front of `buf`. Returns the value and sets `consumed`; or
/// nullopt when `buf` holds only part of a reply (read more and call again with the whole
/// buffer); or an error message when the bytes are not RESP (the connection is unusable).
std::expected<std::optional<RespValue>, std::string> parse_reply(std::string_view buf, std::size_t& consumed);

}  // namespace aigw::daemon::cluster

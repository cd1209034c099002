#pragma once
// What makes two chat requests "the same question" for the response cache: the canonical
// request's meaning (model, messages, tools, sampling parameters, ...) and nothing that
// only says how or for whom to deliver the answer (stream, user, metadata, request ids).

#include <nlohmann/json.hpp>

#include <optional>
#include <string>

namespace aigw::daemon::cache {

/// The canonical request reduced to the fields that change the answer: every field except
/// the delivery ones (stream, stream_options, user, metadata, store, service_tier,
/// safety_identifier, prompt_cache_key), with integral floats written as integers (1.0 and
/// 1 mean the same temperature). Objects keep nlohmann's sorted key order, so the JSON text
/// does not depend on the order the client wrote its keys in. A non-empty `model` replaces
/// the request's (the gateway keys on the served "provider/model", so aliases share entries).
nlohmann::json request_meaning(const nlohmann::json& canonical, std::string_view model = {});

/// Lower-case hex SHA-256 of request_meaning(canonical, model) as compact JSON. Pure.
std::string cache_key(const nlohmann::json& canonical, std::string_view model = {});

/// The semantic cache's partition: a hash of the meaning without the last message, so only
/// requests with the same model, parameters and earlier conversation can match each other.
std::string semantic_partition(const nlohmann::json& canonical, std::string_view model = {});

/// The text the semantic cache embeds: the last message's text when it is a user message
/// with text (string content or text parts); nullopt otherwise (tool results, images only).
std::optional<std::string> semantic_text(const nlohmann::json& canonical);

/// Lower-case hex SHA-256 of `data`.
std::string sha256_hex(std::string_view data);

}  // namespace aigw::daemon::cache

#include "daemon/cache/replay.hpp"

#include <map>

namespace aigw::daemon::cache {

namespace {

nlohmann::json chunk_head(const nlohmann::json& completion)
{
    nlohmann::json c = {{"id", completion.value("id", "")},
                        {"object", "chat.completion.chunk"},
                        {"created", completion.value("created", static_cast<std::int64_t>(0))},
                        {"model", completion.value("model", "")}};
    if (auto fp = completion.find("system_fingerprint"); fp != completion.end() && fp->is_string()) {
        c["system_fingerprint"] = *fp;
    }
    return c;
}

bool non_empty_string(const nlohmann::json& obj, const char* field)
{
    auto f = obj.find(field);
    return f != obj.end() && f->is_string() && !f->get_ref<const std::string&>().empty();
}

void append_string(nlohmann::json& target, const char* field, const nlohmann::json& piece)
{
    if (!piece.is_string()) {
        return;
    }
    auto& slot = target[field];
    if (slot.is_string()) {
        slot.get_ref<std::string&>() += piece.get_ref<const std::string&>();
    } else {
        slot = piece;
    }
}

}  // namespace

std::vector<nlohmann::json> replay_chunks(const nlohmann::json& completion)
{
    std::vector<nlohmann::json> out;
    const nlohmann::json head = chunk_head(completion);
    auto chunk = [&](std::int64_t index, nlohmann::json delta, nlohmann::json finish = nullptr,
                     nlohmann::json logprobs = nullptr) {
        nlohmann::json c = head;
        c["choices"] = nlohmann::json::array({{{"index", index},
                                               {"delta", std::move(delta)},
                                               {"logprobs", std::move(logprobs)},
                                               {"finish_reason", std::move(finish)}}});
        out.push_back(std::move(c));
    };

    if (auto choices = completion.find("choices"); choices != completion.end() && choices->is_array()) {
        for (std::size_t i = 0; i < choices->size(); ++i) {
            const auto& choice = (*choices)[i];
            const std::int64_t index = choice.value("index", static_cast<std::int64_t>(i));
            const nlohmann::json message = choice.value("message", nlohmann::json::object());
            chunk(index, {{"role", message.value("role", "assistant")}, {"content", ""}, {"refusal", nullptr}});
            if (non_empty_string(message, "reasoning_content")) {
                chunk(index, {{"reasoning_content", message["reasoning_content"]}});
            }
            if (non_empty_string(message, "content")) {
                chunk(index, {{"content", message["content"]}}, nullptr, choice.value("logprobs", nlohmann::json()));
            }
            if (non_empty_string(message, "refusal")) {
                chunk(index, {{"refusal", message["refusal"]}});
            }
            if (auto calls = message.find("tool_calls"); calls != message.end() && calls->is_array()) {
                for (std::size_t j = 0; j < calls->size(); ++j) {
                    const auto& call = (*calls)[j];
                    const nlohmann::json fn = call.value("function", nlohmann::json::object());
                    nlohmann::json piece = {
                        {"index", j},
                        {"id", call.value("id", "")},
                        {"type", call.value("type", "function")},
                        {"function", {{"name", fn.value("name", "")}, {"arguments", fn.value("arguments", "")}}}};
                    chunk(index, {{"tool_calls", nlohmann::json::array({std::move(piece)})}});
                }
            }
            chunk(index, nlohmann::json::object(), choice.value("finish_reason", nlohmann::json("stop")));
        }
    }
    if (auto usage = completion.find("usage"); usage != completion.end() && usage->is_object()) {
        nlohmann::json c = head;
        c["choices"] = nlohmann::json::array();
        c["usage"] = *usage;
        out.push_back(std::move(c));
    }
    return out;
}

std::expected<nlohmann::json, std::string> assemble_completion(const std::vector<nlohmann::json>& chunks)
{
    nlohmann::json out = {{"id", ""}, {"object", "chat.completion"}, {"created", 0}, {"model", ""}};
    struct ChoiceState {
        nlohmann::json message = {{"role", "assistant"}, {"content", nullptr}};
        std::map<std::int64_t, nlohmann::json> calls;  ///< tool calls by their delta index
        nlohmann::json finish_reason;
    };
    std::map<std::int64_t, ChoiceState> choices;
    bool have_head = false;

    for (const auto& c : chunks) {
        if (!c.is_object()) {
            continue;
        }
        // Azure's content-filter chunk has an empty id and model: not the head.
        if (!have_head && non_empty_string(c, "id")) {
            out["id"] = c["id"];
            out["created"] = c.value("created", static_cast<std::int64_t>(0));
            out["model"] = c.value("model", "");
            if (auto fp = c.find("system_fingerprint"); fp != c.end() && fp->is_string()) {
                out["system_fingerprint"] = *fp;
            }
            have_head = true;
        }
        if (auto u = c.find("usage"); u != c.end() && u->is_object()) {
            out["usage"] = *u;
        }
        auto cs = c.find("choices");
        if (cs == c.end() || !cs->is_array()) {
            continue;
        }
        for (const auto& choice : *cs) {
            if (!choice.is_object()) {
                continue;
            }
            auto& st = choices[choice.value("index", static_cast<std::int64_t>(0))];
            if (auto d = choice.find("delta"); d != choice.end() && d->is_object()) {
                if (auto role = d->find("role"); role != d->end() && role->is_string()) {
                    st.message["role"] = *role;
                }
                for (const char* field : {"content", "reasoning_content", "refusal"}) {
                    if (auto f = d->find(field); f != d->end()) {
                        append_string(st.message, field, *f);
                    }
                }
                if (auto calls = d->find("tool_calls"); calls != d->end() && calls->is_array()) {
                    for (const auto& piece : *calls) {
                        auto& call = st.calls[piece.value("index", static_cast<std::int64_t>(0))];
                        if (call.is_null()) {
                            call = {{"id", ""}, {"type", "function"}, {"function", {{"name", ""}, {"arguments", ""}}}};
                        }
                        if (non_empty_string(piece, "id")) {
                            call["id"] = piece["id"];
                        }
                        if (non_empty_string(piece, "type")) {
                            call["type"] = piece["type"];
                        }
                        if (auto fn = piece.find("function"); fn != piece.end() && fn->is_object()) {
                            for (const char* field : {"name", "arguments"}) {
                                if (auto f = fn->find(field); f != fn->end()) {
                                    append_string(call["function"], field, *f);
                                }
                            }
                        }
                    }
                }
            }
            if (auto f = choice.find("finish_reason"); f != choice.end() && f->is_string()) {
                st.finish_reason = *f;
            }
        }
    }

    if (choices.empty()) {
        return std::unexpected("the stream had no choices");
    }
    nlohmann::json arr = nlohmann::json::array();
    for (auto& [index, st] : choices) {
        if (!st.finish_reason.is_string()) {
            return std::unexpected("choice " + std::to_string(index) + " has no finish_reason");
        }
        if (!st.calls.empty()) {
            nlohmann::json calls = nlohmann::json::array();
            for (auto& [_, call] : st.calls) {
                calls.push_back(std::move(call));
            }
            st.message["tool_calls"] = std::move(calls);
            if (!non_empty_string(st.message, "content")) {
                st.message["content"] = nullptr;  // the role chunk's "" is not an answer text
            }
        }
        if (st.message.contains("reasoning_content") && !non_empty_string(st.message, "reasoning_content")) {
            st.message.erase("reasoning_content");
        }
        if (!st.message.contains("refusal")) {
            st.message["refusal"] = nullptr;
        }
        arr.push_back({{"index", index},
                       {"message", std::move(st.message)},
                       {"logprobs", nullptr},
                       {"finish_reason", std::move(st.finish_reason)}});
    }
    out["choices"] = std::move(arr);
    return out;
}

}  // namespace aigw::daemon::cache

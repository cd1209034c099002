// JSON text in and out: the one-pass reader must vouch only for text nlohmann takes, and
// read it to the same value (types and the bits of every double); the writer must write
// what nlohmann's dump writes, for the value read and for the bytes taken as one string; its
// size counted without writing is that text's, and an object written with a member set is the
// object set and written, or (when the scan vouches for the text) the text with members edited;
// a member checked without a parse is the parsed object's.
#include "tests/fuzz/fuzz_support.hpp"
#include "tests/json_same.hpp"

namespace {

std::string nlohmann_dump(const nlohmann::json& v)
{
    return v.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
    const auto text = aigw::fuzz::as_text(data, size);
    const auto fast = aigw::wire::read_json(text);
    if (aigw::wire::json_depth_ok(text)) {
        const auto slow = nlohmann::json::parse(text, nullptr, false);
        if (fast) {
            aigw::fuzz::require(!slow.is_discarded(), "read_json vouched for text nlohmann refuses");
            aigw::fuzz::require(aigw::test::same_json(*fast, slow), "read_json read another value");
        }
        if (!slow.is_discarded()) {
            const std::string written = aigw::wire::dump_json(slow);
            aigw::fuzz::require(written == nlohmann_dump(slow), "the writer wrote other text");
            aigw::fuzz::require(aigw::wire::json_text_size(slow) == written.size(), "the text's size was miscounted");
            if (slow.is_object()) {
                auto set = slow;
                set["model"] = std::string(text.substr(0, 8));
                aigw::fuzz::require(aigw::wire::dump_json_with(slow, "model", set["model"]) == nlohmann_dump(set),
                                    "a member was set otherwise");
                const std::string model = nlohmann_dump(set["model"]);
                if (const auto edited = aigw::wire::edit_members_text(text, {{"model", model}, {"stream", {}}})) {
                    set.erase("stream");
                    // As the object set and written reads back (the model's bytes, cut from
                    // the input, may not be UTF-8; the writer replaces them).
                    const auto back = nlohmann::json::parse(*edited, nullptr, false);
                    const auto expected = nlohmann::json::parse(nlohmann_dump(set), nullptr, false);
                    aigw::fuzz::require(!back.is_discarded() && back == expected, "the members were edited otherwise");
                }
            }
        }
    } else {
        aigw::fuzz::require(!fast, "read_json vouched for text nested too deep");
    }
    // The check of one member without a parse vouches only for objects the reader reads,
    // and names the member's string value as the parsed object holds it.
    if (const auto checked = aigw::wire::checked_string_member(text, "type")) {
        aigw::fuzz::require(fast.has_value() && fast->is_object(), "checked_string_member vouched for a non-object");
        const auto it = fast->find("type");
        const bool is_string = it != fast->end() && it->is_string();
        aigw::fuzz::require(checked->is_string == is_string, "checked_string_member misread the member's kind");
        if (is_string) {
            aigw::fuzz::require(checked->value == it->get_ref<const std::string&>(),
                                "checked_string_member misread the member's value");
        }
    }
    std::string out = "x";
    aigw::wire::append_json_string(out, text);
    aigw::fuzz::require(out == "x" + nlohmann_dump(nlohmann::json(std::string(text))),
                        "a string was written otherwise");
    return 0;
}

#pragma once
// For the tests and the fuzzing harness that hold a JSON reader or writer against nlohmann.

#include <nlohmann/json.hpp>

#include <cstring>

namespace aigw::test {

/// Equal as nlohmann's `==` is, and of the same type all the way down (an unsigned 1 is not
/// a signed 1), with doubles compared bit for bit (-0.0 is not 0.0).
inline bool same_json(const nlohmann::json& a, const nlohmann::json& b)
{
    if (a.type() != b.type()) {
        return false;
    }
    if (a.is_object()) {
        const auto& x = a.get_ref<const nlohmann::json::object_t&>();
        const auto& y = b.get_ref<const nlohmann::json::object_t&>();
        if (x.size() != y.size()) {
            return false;
        }
        for (auto i = x.begin(), j = y.begin(); i != x.end(); ++i, ++j) {
            if (i->first != j->first || !same_json(i->second, j->second)) {
                return false;
            }
        }
        return true;
    }
    if (a.is_array()) {
        if (a.size() != b.size()) {
            return false;
        }
        for (std::size_t i = 0; i < a.size(); ++i) {
            if (!same_json(a[i], b[i])) {
                return false;
            }
        }
        return true;
    }
    if (a.is_number_float()) {
        const double x = a.get<double>();
        const double y = b.get<double>();
        return std::memcmp(&x, &y, sizeof x) == 0;
    }
    return a == b;
}

}  // namespace aigw::test

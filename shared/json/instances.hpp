#pragma once
// nlohmann::json compiled once. Every translation unit that uses a json value used to compile
// its own copy of basic_json's members, parser, lexer and serializer: under the test build's
// sanitizers that was half of each object file's code and about a quarter of the build. The
// explicit instantiation declarations below tell the compiler that instances.cpp holds them;
// it still inlines what it would inline, so an optimized build runs the same code. Every
// target that includes this (through aigw_shared's precompiled header) links aigw_json.
//
// iter_impl<json> is left out: its converting members from the const iterator do not compile
// when instantiated as a whole.
#include <nlohmann/json.hpp>
#include <string>

#ifdef AIGW_JSON_INSTANTIATE
#define AIGW_JSON_EXTERN
#else
#define AIGW_JSON_EXTERN extern
#endif

AIGW_JSON_EXTERN template class nlohmann::basic_json<>;
AIGW_JSON_EXTERN template class nlohmann::detail::iter_impl<const nlohmann::json>;
AIGW_JSON_EXTERN template class nlohmann::detail::serializer<nlohmann::json>;
AIGW_JSON_EXTERN template class nlohmann::detail::json_sax_dom_parser<nlohmann::json>;
AIGW_JSON_EXTERN template class nlohmann::detail::json_sax_dom_callback_parser<nlohmann::json>;
AIGW_JSON_EXTERN template class nlohmann::detail::parser<nlohmann::json,
                                                         nlohmann::detail::iterator_input_adapter<const char*>>;
AIGW_JSON_EXTERN template class nlohmann::detail::lexer<nlohmann::json,
                                                        nlohmann::detail::iterator_input_adapter<const char*>>;
AIGW_JSON_EXTERN template class nlohmann::detail::parser<
    nlohmann::json, nlohmann::detail::iterator_input_adapter<std::string::const_iterator>>;
AIGW_JSON_EXTERN template class nlohmann::detail::lexer<
    nlohmann::json, nlohmann::detail::iterator_input_adapter<std::string::const_iterator>>;

#undef AIGW_JSON_EXTERN

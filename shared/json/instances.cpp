// The one copy of nlohmann::json's members that every other translation unit links to (see
// instances.hpp). Built without the precompiled header, which declares them extern.
#define AIGW_JSON_INSTANTIATE
#include "shared/json/instances.hpp"

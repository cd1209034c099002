# Warnings and sanitizer flags live in interface targets; every aigw target links them.
add_library(aigw_flags INTERFACE)
target_compile_options(aigw_flags INTERFACE
  -Wall -Wextra -Wpedantic -Wshadow -Wnon-virtual-dtor -Wcast-align
  -Woverloaded-virtual -Wimplicit-fallthrough
  # g++ 12 flags designated initializers that leave members to their default member
  # initializers ({.env = ...}); that is the idiom we want, so the warning is off.
  -Wno-missing-field-initializers
  $<$<BOOL:${AIGW_WERROR}>:-Werror>)
# g++ 12's optimiser warns falsely in a release build: every coroutine frame Asio allocates
# with its class operator new is freed by a "mismatched" operator delete (the same class's
# sized delete), about twenty times; and std::string concatenations inlined at -O3 are said
# to write out of bounds, past the maximum object size or overlapping (libstdc++ 12, GCC bugs
# 105651 and 105329), four times. The tests build unoptimised (these warnings need the
# optimiser) and run under AddressSanitizer, which catches a real mismatch or overflow.
if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU" AND CMAKE_CXX_COMPILER_VERSION VERSION_LESS 13)
  target_compile_options(aigw_flags INTERFACE -Wno-mismatched-new-delete -Wno-array-bounds -Wno-stringop-overflow
                                              -Wno-restrict)
endif()
target_include_directories(aigw_flags INTERFACE ${PROJECT_SOURCE_DIR} ${PROJECT_BINARY_DIR}/generated)
target_compile_definitions(aigw_flags INTERFACE AIGW_VERSION="${PROJECT_VERSION}")

if(AIGW_SANITIZE)
  target_compile_options(aigw_flags INTERFACE -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined)
  target_link_options(aigw_flags INTERFACE -fsanitize=address,undefined)
endif()

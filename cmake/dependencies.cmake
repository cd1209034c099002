# Every dependency comes from Debian's packages (see packaging/install-deps.sh).
find_package(PkgConfig REQUIRED)
find_package(Threads REQUIRED)
find_package(nlohmann_json 3.10 REQUIRED)
find_package(SQLiteCpp REQUIRED)
find_package(CLI11 REQUIRED)
find_package(tomlplusplus REQUIRED)
find_package(yaml-cpp 0.7 REQUIRED)  # aigw eval's promptfoo configs (CLI only)
find_package(OpenSSL REQUIRED)
pkg_check_modules(HTTPLIB REQUIRED IMPORTED_TARGET cpp-httplib)
# Line editing in `aigw chat` (CLI only). BSD-licensed.
pkg_check_modules(LIBEDIT REQUIRED IMPORTED_TARGET libedit)
# The shared team ledger in PostgreSQL (daemon/cluster/pg_ledger only): Debian's libpq-dev.
pkg_check_modules(LIBPQ REQUIRED IMPORTED_TARGET libpq)

# Debian builds cpp-httplib as a shared library with OpenSSL, zlib and brotli support; its
# pkg-config file carries the matching CPPHTTPLIB_* definitions so our view of the classes
# matches the library's.
add_library(aigw_httplib INTERFACE)
target_link_libraries(aigw_httplib INTERFACE PkgConfig::HTTPLIB OpenSSL::SSL OpenSSL::Crypto Threads::Threads)
# The header warns under -Wshadow etc.; treat it as a system header.
get_target_property(_httplib_inc PkgConfig::HTTPLIB INTERFACE_INCLUDE_DIRECTORIES)
if(_httplib_inc)
  target_include_directories(aigw_httplib SYSTEM INTERFACE ${_httplib_inc})
endif()

# The daemon's network layer: Boost.Asio + Boost.Beast (header-only) with C++20 coroutines.
find_package(Boost 1.81 REQUIRED CONFIG)
add_library(aigw_asio INTERFACE)
target_link_libraries(aigw_asio INTERFACE Boost::headers OpenSSL::SSL OpenSSL::Crypto Threads::Threads)
# Beast's headers warn under our flags; treat them as system headers. Separate compilation
# of Asio/Beast is not used: every TU that needs them includes them.
# BOOST_ASIO_RECYCLING_ALLOCATOR_CACHE_SIZE: Asio keeps freed handler memory (an operation's
# state, a posted function) per thread for reuse, two blocks of each kind by default; a
# relayed chunk has more operations than that in flight.
# BOOST_ASIO_DISABLE_AWAITABLE_FRAME_RECYCLING: coroutine frames come from malloc (jemalloc's
# thread cache) instead of that cache. The cache hands out the first freed block that is big
# enough, so a frame that lives as long as a connection or a stream often sat in a larger
# block freed by a short-lived one: 5,000 idle connections held 3 MB more heap and 5,000
# streams 8 MB more, and searching its slots cost more instructions than jemalloc does.
# (BOOST_BEAST_USE_STD_STRING_VIEW is not set: in 1.81 it changes nothing and prints a
# deprecation note for every file that includes Beast.)
target_compile_definitions(aigw_asio INTERFACE BOOST_ASIO_NO_DEPRECATED BOOST_ASIO_RECYCLING_ALLOCATOR_CACHE_SIZE=8
                                               BOOST_ASIO_DISABLE_AWAITABLE_FRAME_RECYCLING)

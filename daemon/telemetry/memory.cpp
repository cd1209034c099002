#include "daemon/telemetry/memory.hpp"

#include <malloc.h>

#include <cstddef>
#include <cstdlib>
#include <fstream>
#include <string>

#if defined(__SANITIZE_ADDRESS__)
#define AIGW_ASAN_HEAP 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define AIGW_ASAN_HEAP 1
#endif
#endif

#if defined(AIGW_ASAN_HEAP)
// From the sanitizers' allocator interface (sanitizer/allocator_interface.h, which g++ does
// not ship).
extern "C" std::size_t __sanitizer_get_current_allocated_bytes();
#endif

// jemalloc's control interface, when aigwd is linked with it (AIGW_MALLOC); weak, so a build
// on glibc malloc links without it and finds it null.
extern "C" int mallctl(const char* name, void* oldp, std::size_t* oldlenp, void* newp, std::size_t newlen)
    __attribute__((weak));

namespace aigw::daemon::telemetry {

std::optional<std::uint64_t> heap_allocated_bytes()
{
#if defined(AIGW_ASAN_HEAP)
    return static_cast<std::uint64_t>(__sanitizer_get_current_allocated_bytes());
#else
    if (mallctl != nullptr) {
        // jemalloc refreshes its statistics when the epoch is written.
        std::uint64_t epoch = 1;
        std::size_t len = sizeof epoch;
        mallctl("epoch", &epoch, &len, &epoch, len);
        std::size_t allocated = 0;
        len = sizeof allocated;
        if (mallctl("stats.allocated", &allocated, &len, nullptr, 0) == 0) {
            return static_cast<std::uint64_t>(allocated);
        }
        return std::nullopt;
    }
    const struct mallinfo2 info = mallinfo2();
    return static_cast<std::uint64_t>(info.uordblks + info.hblkhd);
#endif
}

std::optional<std::uint64_t> resident_bytes()
{
    std::ifstream status("/proc/self/status");
    std::string line;
    while (std::getline(status, line)) {
        if (line.starts_with("VmRSS:")) {
            return static_cast<std::uint64_t>(std::strtoull(line.c_str() + 6, nullptr, 10)) * 1024;
        }
    }
    return std::nullopt;
}

}  // namespace aigw::daemon::telemetry

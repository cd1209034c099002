// A small stand-in for libFuzzer's driver, for compilers that cannot build the code base with
// -fsanitize=fuzzer (clang 14 lacks C++23 std::expected with libstdc++ 12). It accepts the
// libFuzzer flags run.sh uses (-max_total_time=, -runs=, -seed=, -artifact_prefix=,
// -max_len=) and corpus directories or files, replays every corpus input, then mutates them
// for the time given. Coverage comes from g++'s -fsanitize-coverage=trace-pc: an input that
// reaches a new edge joins the pool. A crash (ASan/UBSan report, abort, signal) writes the
// input to <artifact_prefix>crash-<hash> before the process dies.
//
// This file itself is compiled without coverage instrumentation.

#include <algorithm>
#include <array>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include <fcntl.h>
#include <unistd.h>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size);
extern "C" void __sanitizer_set_death_callback(void (*callback)());

namespace {

constexpr std::size_t k_map_size = 1 << 16;
std::array<std::uint8_t, k_map_size> g_edges{};
std::array<std::uint8_t, k_map_size> g_seen{};
std::uintptr_t g_prev_pc = 0;

std::string g_artifact_prefix = "./";
const std::uint8_t* g_current = nullptr;
std::size_t g_current_size = 0;

std::uint64_t fnv1a(const std::uint8_t* data, std::size_t size)
{
    std::uint64_t h = 1469598103934665603ull;
    for (std::size_t i = 0; i < size; ++i) {
        h = (h ^ data[i]) * 1099511628211ull;
    }
    return h;
}

/// Async-signal-safe: open/write/close only, path built in a fixed buffer.
void save_current_input()
{
    static bool saved = false;
    if (saved || g_current == nullptr) {
        return;
    }
    saved = true;
    char path[4096];
    std::uint64_t h = fnv1a(g_current, g_current_size);
    char hex[17];
    for (int i = 15; i >= 0; --i) {
        hex[i] = "0123456789abcdef"[h & 15];
        h >>= 4;
    }
    hex[16] = '\0';
    std::snprintf(path, sizeof path, "%scrash-%s", g_artifact_prefix.c_str(), hex);
    int fd = ::open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd >= 0) {
        std::size_t done = 0;
        while (done < g_current_size) {
            ssize_t n = ::write(fd, g_current + done, g_current_size - done);
            if (n <= 0) {
                break;
            }
            done += static_cast<std::size_t>(n);
        }
        ::close(fd);
        const char msg[] = "\n==fuzz driver== crashing input saved as ";
        [[maybe_unused]] auto r1 = ::write(2, msg, sizeof msg - 1);
        [[maybe_unused]] auto r2 = ::write(2, path, std::strlen(path));
        [[maybe_unused]] auto r3 = ::write(2, "\n", 1);
    }
}

void on_signal(int sig)
{
    save_current_input();
    std::signal(sig, SIG_DFL);
    std::raise(sig);
}

std::string read_file(const std::filesystem::path& p)
{
    std::ifstream in(p, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

int run_one(const std::string& input)
{
    g_current = reinterpret_cast<const std::uint8_t*>(input.data());
    g_current_size = input.size();
    g_prev_pc = 0;
    std::fill(g_edges.begin(), g_edges.end(), 0);
    LLVMFuzzerTestOneInput(g_current, g_current_size);
    int fresh = 0;
    for (std::size_t i = 0; i < k_map_size; ++i) {
        if (g_edges[i] != 0 && g_seen[i] == 0) {
            g_seen[i] = 1;
            ++fresh;
        }
    }
    g_current = nullptr;
    return fresh;
}

/// Fragments that reach the interesting corners of JSON, SSE and UTF-8 handling.
const std::vector<std::string>& dictionary()
{
    static const std::vector<std::string> k_words = {
        "{",
        "}",
        "[",
        "]",
        "\"",
        ":",
        ",",
        "null",
        "true",
        "false",
        "0",
        "-1",
        "1e300",
        "-5",
        "1.5",
        "18446744073709551616",
        "\"x\"",
        "[5]",
        "{}",
        "[]",
        "\\u0000",
        "\\ud800",
        "\xff",
        "\xc3",
        "\xe2\x82",
        "\xf0\x9f\x98",
        "\r\n",
        "\n\n",
        "data: ",
        "event: ",
        "data: [DONE]\n\n",
        "\"choices\":",
        "\"delta\":",
        "\"usage\":",
        "\"tool_calls\":",
        "\"content\":",
        "\"messages\":",
        "\"type\":",
        "\"text\":",
        "\"index\":",
        "\"function\":",
        "\"arguments\":",
        "\"role\":",
        "\"max_tokens\":",
        "\"stream\":",
        "\"input_tokens\":",
        "\"output_tokens\":",
        "\"prompt_tokens\":",
        "\"candidates\":",
        "\"parts\":",
        "\"usageMetadata\":",
        "\"promptTokenCount\":",
        "\"model\":",
        "\"tools\":",
        "[[[[[[[[[[[[[[[[",
        "=",
        "[",
        "\"\"\"",
        "'''",
        "\x00\x00\x00\x10",
        ":event-type",
    };
    return k_words;
}

std::string mutate(std::string s, const std::vector<std::string>& pool, std::mt19937_64& rng)
{
    auto pick = [&](std::size_t n) { return n == 0 ? std::size_t{0} : static_cast<std::size_t>(rng() % n); };
    int ops = 1 + static_cast<int>(rng() % 4);
    for (int op = 0; op < ops; ++op) {
        std::size_t pos = pick(s.size() + 1);
        switch (rng() % 8) {
            case 0:
                if (!s.empty()) {
                    s[pick(s.size())] ^= static_cast<char>(1u << (rng() % 8));
                }
                break;
            case 1:
                if (!s.empty()) {
                    s[pick(s.size())] = static_cast<char>(rng() & 0xff);
                }
                break;
            case 2: {
                const auto& w = dictionary()[pick(dictionary().size())];
                s.insert(pos, w);
                break;
            }
            case 3:
                if (!s.empty()) {
                    s.erase(pos == s.size() ? pos - 1 : pos, 1 + pick(std::min<std::size_t>(16, s.size() - pos + 1)));
                }
                break;
            case 4:
                if (!s.empty() && pos < s.size()) {
                    std::size_t len = 1 + pick(std::min<std::size_t>(64, s.size() - pos));
                    s.insert(pick(s.size() + 1), s.substr(pos, len));
                }
                break;
            case 5:
                if (!pool.empty()) {
                    const std::string& other = pool[pick(pool.size())];
                    std::size_t from = pick(other.size() + 1);
                    s = s.substr(0, pos) + other.substr(from, pick(other.size() - from + 1));
                }
                break;
            case 6:
                s.resize(pos);
                break;
            default: {
                // Replace a number-looking run with an extreme one.
                static const std::array<const char*, 6> k_numbers = {"1e300",  "-5", "\"x\"", "9223372036854775808",
                                                                     "-1e309", "0.5"};
                std::size_t start = s.find_first_of("0123456789", pos);
                if (start != std::string::npos) {
                    std::size_t end = s.find_first_not_of("0123456789.eE+-", start);
                    s.replace(start, (end == std::string::npos ? s.size() : end) - start,
                              k_numbers[pick(k_numbers.size())]);
                }
                break;
            }
        }
    }
    return s;
}

}  // namespace

extern "C" void __sanitizer_cov_trace_pc()
{
    auto pc = reinterpret_cast<std::uintptr_t>(__builtin_return_address(0));
    g_edges[(pc ^ g_prev_pc) & (k_map_size - 1)] = 1;
    g_prev_pc = pc >> 1;
}

int main(int argc, char** argv)
{
    double max_seconds = 0;
    long max_runs = -1;
    std::uint64_t seed = 1;
    std::size_t max_len = 64 * 1024;
    std::vector<std::filesystem::path> inputs;
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        auto value = [&](const char* flag) -> const char* {
            std::size_t n = std::strlen(flag);
            return a.compare(0, n, flag) == 0 ? argv[i] + n : nullptr;
        };
        if (auto v = value("-max_total_time=")) {
            max_seconds = std::atof(v);
        } else if (auto r = value("-runs=")) {
            max_runs = std::atol(r);
        } else if (auto sd = value("-seed=")) {
            seed = std::strtoull(sd, nullptr, 10);
        } else if (auto ap = value("-artifact_prefix=")) {
            g_artifact_prefix = ap;
        } else if (auto ml = value("-max_len=")) {
            max_len = std::strtoull(ml, nullptr, 10);
        } else if (!a.empty() && a[0] == '-') {
            std::fprintf(stderr, "fuzz driver: ignoring flag %s\n", a.c_str());
        } else {
            inputs.emplace_back(a);
        }
    }
    __sanitizer_set_death_callback(save_current_input);
    std::signal(SIGABRT, on_signal);
    std::signal(SIGSEGV, on_signal);
    std::signal(SIGBUS, on_signal);
    std::signal(SIGFPE, on_signal);
    std::signal(SIGILL, on_signal);

    std::vector<std::string> pool;
    bool only_files = !inputs.empty();
    for (const auto& p : inputs) {
        if (std::filesystem::is_directory(p)) {
            only_files = false;
            for (const auto& e : std::filesystem::recursive_directory_iterator(p)) {
                if (e.is_regular_file()) {
                    pool.push_back(read_file(e.path()));
                }
            }
        } else if (std::filesystem::is_regular_file(p)) {
            pool.push_back(read_file(p));
        }
    }
    std::size_t replayed = pool.size();
    for (const auto& input : pool) {
        run_one(input);
    }
    std::fprintf(stderr, "fuzz driver: replayed %zu inputs\n", replayed);
    if (only_files || (max_seconds <= 0 && max_runs < 0)) {
        return 0;
    }
    if (pool.empty()) {
        pool.emplace_back();
    }
    std::mt19937_64 rng(seed);
    auto start = std::chrono::steady_clock::now();
    long runs = 0;
    while (true) {
        if (max_runs >= 0 && runs >= max_runs) {
            break;
        }
        if ((runs & 63) == 0 && max_seconds > 0 &&
            std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count() > max_seconds) {
            break;
        }
        std::string input = mutate(pool[rng() % pool.size()], pool, rng);
        if (input.size() > max_len) {
            input.resize(max_len);
        }
        if (run_one(input) > 0) {
            pool.push_back(std::move(input));
        }
        ++runs;
    }
    std::fprintf(stderr, "fuzz driver: %ld runs, pool %zu (%zu new), no crash\n", runs, pool.size(),
                 pool.size() - replayed);
    return 0;
}

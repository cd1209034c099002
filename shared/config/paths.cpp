#include "shared/config/paths.hpp"

#include <cerrno>
#include <cstdlib>
#include <fstream>
#include <random>
#include <sstream>
#include <system_error>

#include <fcntl.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

namespace aigw::config {

namespace fs = std::filesystem;

Env process_env()
{
    return [](std::string_view name) -> std::optional<std::string> {
        const char* v = std::getenv(std::string(name).c_str());
        if (v == nullptr) {
            return std::nullopt;
        }
        return std::string(v);
    };
}

namespace {

/// The variable's value when set and non-empty.
std::optional<std::string> non_empty(const Env& env, std::string_view name)
{
    auto v = env(name);
    if (v && !v->empty()) {
        return v;
    }
    return std::nullopt;
}

/// An XDG base directory variable: per the spec, relative paths are invalid and ignored.
std::optional<fs::path> xdg_dir(const Env& env, std::string_view name)
{
    auto v = non_empty(env, name);
    if (v && fs::path(*v).is_absolute()) {
        return fs::path(*v);
    }
    return std::nullopt;
}

fs::path home_dir(const Env& env)
{
    if (auto home = non_empty(env, "HOME")) {
        return *home;
    }
    // No $HOME (e.g. started from a bare service manager): ask the password database.
    if (const passwd* pw = getpwuid(getuid()); pw != nullptr && pw->pw_dir != nullptr) {
        return pw->pw_dir;
    }
    return fs::current_path();
}

[[noreturn]] void throw_errno(int err, const std::string& what, const fs::path& path)
{
    throw std::system_error(err, std::generic_category(), what + " '" + path.string() + "'");
}

}  // namespace

fs::path default_data_dir(const Env& env)
{
    if (auto dir = non_empty(env, "AIGW_DATA_DIR")) {
        return *dir;
    }
    if (auto xdg = xdg_dir(env, "XDG_DATA_HOME")) {
        return *xdg / "aigw";
    }
    return home_dir(env) / ".local" / "share" / "aigw";
}

fs::path default_config_path(const Env& env)
{
    if (auto path = non_empty(env, "AIGW_CONFIG")) {
        return *path;
    }
    if (auto xdg = xdg_dir(env, "XDG_CONFIG_HOME")) {
        return *xdg / "aigw" / "config.toml";
    }
    return home_dir(env) / ".config" / "aigw" / "config.toml";
}

void ensure_private_dir(const fs::path& dir)
{
    std::error_code ec;
    fs::create_directories(dir, ec);
    if (ec) {
        throw std::system_error(ec, "cannot create directory '" + dir.string() + "'");
    }
    // Tighten the leaf even when it already existed: it holds keys and the ledger.
    if (::chmod(dir.c_str(), 0700) != 0) {
        throw_errno(errno, "cannot set mode 0700 on", dir);
    }
}

void write_private_file(const fs::path& path, std::string_view content)
{
    fs::path dir = path.parent_path();
    if (dir.empty()) {
        dir = ".";
    }
    // A unique name in the same directory so the final rename is atomic.
    std::random_device rd;
    fs::path tmp;
    int fd = -1;
    for (int attempt = 0; attempt < 16 && fd < 0; ++attempt) {
        std::ostringstream name;
        name << "." << path.filename().string() << ".tmp." << ::getpid() << "." << std::hex << rd();
        tmp = dir / name.str();
        fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        if (fd < 0 && errno != EEXIST) {
            throw_errno(errno, "cannot create", tmp);
        }
    }
    if (fd < 0) {
        throw_errno(EEXIST, "cannot create a temporary file next to", path);
    }

    auto fail = [&](const std::string& what) {
        int err = errno;
        ::close(fd);
        ::unlink(tmp.c_str());
        throw_errno(err, what, path);
    };
    // The umask could have cleared owner bits; the mode must be exactly 0600.
    if (::fchmod(fd, 0600) != 0) {
        fail("cannot set mode 0600 on");
    }
    const char* p = content.data();
    std::size_t left = content.size();
    while (left > 0) {
        ssize_t n = ::write(fd, p, left);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            fail("cannot write");
        }
        p += n;
        left -= static_cast<std::size_t>(n);
    }
    if (::fsync(fd) != 0) {
        fail("cannot fsync");
    }
    if (::close(fd) != 0) {
        int err = errno;
        ::unlink(tmp.c_str());
        throw_errno(err, "cannot close", path);
    }
    if (::rename(tmp.c_str(), path.c_str()) != 0) {
        int err = errno;
        ::unlink(tmp.c_str());
        throw_errno(err, "cannot rename temporary file onto", path);
    }
    // Persist the rename itself; failure here is not worth failing the write for.
    if (int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC); dfd >= 0) {
        ::fsync(dfd);
        ::close(dfd);
    }
}

std::optional<std::string> read_file(const fs::path& path)
{
    std::error_code ec;
    if (!fs::is_regular_file(path, ec)) {
        return std::nullopt;
    }
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        return std::nullopt;
    }
    std::ostringstream buf;
    buf << in.rdbuf();
    if (in.bad()) {
        return std::nullopt;
    }
    return buf.str();
}

}  // namespace aigw::config

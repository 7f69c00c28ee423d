// SPDX-License-Identifier: GPL-2.0-only OR MIT
#include "tool.hpp"

#include "remapmeta/check.hpp"
#include "remapmeta/dump.hpp"
#include "remapmeta/errors.hpp"

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <fcntl.h>
#include <filesystem>
#include <fmt/format.h>
#include <fstream>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

namespace remaptool {

std::atomic<bool> cancel_requested{false};

namespace {

std::string g_name = "remap-tool";
std::string g_usage;

class UsageError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

extern "C" void on_sigint(int) {
    cancel_requested.store(true);
    std::signal(SIGINT, SIG_DFL); // a second ^C kills at once
}

std::string read_line(const std::filesystem::path& p) {
    std::ifstream in(p);
    std::string s;
    std::getline(in, s);
    return s;
}

int print_usage_error(const std::string& message) {
    std::fprintf(stderr, "%s: %s\nUsage: %s\nTry '%s --help' for more information.\n",
                 g_name.c_str(), message.c_str(), g_usage.c_str(), g_name.c_str());
    return exit_usage;
}

} // namespace

const std::string& tool_name() {
    return g_name;
}

std::string version_string() {
    return fmt::format("{} (dm-remap) {}", g_name, DMREMAP_VERSION);
}

void error(const std::string& message) {
    std::fflush(stdout); // keep the order of stdout and stderr on a terminal
    std::fprintf(stderr, "%s: %s\n", g_name.c_str(), message.c_str());
}

void note(const std::string& message) {
    error(message);
}

void usage_error(const std::string& message) {
    throw UsageError(message);
}

int run(const std::string& name, const std::string& usage, CLI::App& app, int argc, char** argv,
        const std::function<int()>& body) {
    g_name = name;
    g_usage = usage;
    app.set_version_flag("-V,--version", version_string());
    try {
        app.parse(argc, argv);
    } catch (const CLI::CallForHelp& e) {
        return app.exit(e);
    } catch (const CLI::CallForAllHelp& e) {
        return app.exit(e);
    } catch (const CLI::CallForVersion&) {
        std::printf("%s\n", version_string().c_str());
        return exit_clean;
    } catch (const CLI::ParseError& e) {
        return print_usage_error(e.what());
    }

    struct sigaction sa {};
    sa.sa_handler = on_sigint;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, nullptr);

    using namespace remapmeta;
    try {
        return body();
    } catch (const UsageError& e) {
        return print_usage_error(e.what());
    } catch (const Cancelled&) {
        error("cancelled (SIGINT); nothing more was written. Run the command again to finish");
        return exit_cancelled;
    } catch (const LegacyV3Error&) {
        error("the device holds legacy dm-remap v3 metadata and this operation needs v4; "
              "migrate the device to v4 first (remap-check and remap-dump read v3 as it is)");
        return exit_operational;
    } catch (const NotMetadataError& e) {
        error(e.what());
        return exit_operational;
    } catch (const DumpError& e) {
        error(fmt::format("invalid dump: {}; fix the file or dump the metadata again with "
                          "`remap-dump --format json`",
                          e.what()));
        return exit_operational;
    } catch (const MetadataError& e) {
        error(fmt::format("{}", e.what()));
        return exit_problems_left;
    } catch (const DeviceError& e) {
        error(e.what());
        return exit_operational;
    } catch (const IoError& e) {
        error(fmt::format("{}; check the device (dmesg, smartctl) or work on an image copy",
                          e.what()));
        return exit_operational;
    } catch (const std::exception& e) {
        error(e.what());
        return exit_operational;
    }
}

void ensure_not_in_use(const std::string& path) {
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0 || !S_ISBLK(st.st_mode))
        return;
    namespace fs = std::filesystem;
    std::error_code ec;
    const fs::path sys =
        fs::path("/sys/dev/block") / fmt::format("{}:{}", major(st.st_rdev), minor(st.st_rdev));
    const fs::path holders = sys / "holders";
    if (!fs::is_directory(holders, ec))
        return;
    for (const auto& h : fs::directory_iterator(holders, ec)) {
        const std::string holder = h.path().filename().string();
        std::string dm = read_line(fs::path("/sys/block") / holder / "dm" / "name");
        if (dm.empty()) // not device-mapper: a partition table, md, ...
            throw remapmeta::DeviceError(
                remapmeta::DeviceErrorKind::busy, path,
                fmt::format("{} is in use by {} (stop that first, or run on an image copy)", path,
                            holder));
        // remapctl removes only dm-remap devices (UUID prefix REMAP-).
        const bool remap =
            read_line(fs::path("/sys/block") / holder / "dm" / "uuid").starts_with("REMAP-");
        throw remapmeta::DeviceError(
            remapmeta::DeviceErrorKind::busy, path,
            fmt::format("{} is in use by dm device '{}' (remove it with `{} {}` or run on an "
                        "image copy)",
                        path, dm, remap ? "remapctl remove" : "dmsetup remove", dm));
    }
}

remapmeta::Device open_device(const std::string& path, bool write) {
    ensure_not_in_use(path);
    struct stat st {};
    const bool blk = ::stat(path.c_str(), &st) == 0 && S_ISBLK(st.st_mode);
    return remapmeta::Device::open(path, {.write = write, .exclusive = true, .direct = blk});
}

void create_image(const std::string& path, uint64_t bytes) {
    int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0)
        throw remapmeta::IoError("create", path, std::nullopt, errno);
    if (::ftruncate(fd, static_cast<off_t>(bytes)) != 0) {
        int err = errno;
        ::close(fd);
        ::unlink(path.c_str());
        throw remapmeta::IoError("truncate", path, std::nullopt, err);
    }
    ::close(fd);
}

Progress::Progress(std::string label, bool enabled)
    : label_(std::move(label))
    , enabled_(enabled && ::isatty(STDERR_FILENO))
    , start_(std::chrono::steady_clock::now())
    , last_(start_) {}

Progress::~Progress() {
    if (shown_)
        std::fprintf(stderr, "\r\033[K");
}

void Progress::update(uint64_t done, uint64_t total) {
    if (!enabled_ || total == 0)
        return;
    using namespace std::chrono_literals;
    const auto now = std::chrono::steady_clock::now();
    // Only long work gets a bar, and it is redrawn at most 10 times a second.
    if (now - start_ < 500ms || (shown_ && now - last_ < 100ms && done != total))
        return;
    last_ = now;
    shown_ = true;
    constexpr int width = 40;
    const int filled = static_cast<int>(done * width / total);
    std::fprintf(stderr, "\r%s [%s%s] %3d%%", label_.c_str(), std::string(filled, '#').c_str(),
                 std::string(width - filled, '.').c_str(), static_cast<int>(done * 100 / total));
    std::fflush(stderr);
}

} // namespace remaptool

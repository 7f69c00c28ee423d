// SPDX-License-Identifier: GPL-2.0-only OR MIT
//
// The small framework every remap-* tool shares: e2fsck exit codes, the
// error → message + exit code mapping, --version, the usage error path, the
// in-use check, SIGINT cancellation and the progress bar.
#pragma once

#include "remapmeta/device.hpp"

#include <CLI/CLI.hpp>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <string>

namespace remaptool {

// e2fsck's exit codes (see the EXIT STATUS section of each man page).
enum Exit : int {
    exit_clean = 0,
    exit_fixed = 1,
    exit_problems_left = 4,
    exit_operational = 8,
    exit_usage = 16,
    exit_cancelled = 32,
};

// Raised by SIGINT; long work polls it and throws remapmeta::Cancelled.
extern std::atomic<bool> cancel_requested;

// The program's name, as used to prefix every message ("remap-check").
const std::string& tool_name();

// "remap-check (dm-remap) 0.1.0".
std::string version_string();

// Parses the command line and runs `body`, turning every exception into a
// one-line message on stderr and an exit code. `usage` is the synopsis
// printed after a usage error ("remap-check [OPTIONS] DEVICE").
int run(const std::string& name, const std::string& usage, CLI::App& app, int argc, char** argv,
        const std::function<int()>& body);

// Prints "<tool>: <message>" on stderr.
void error(const std::string& message);
void note(const std::string& message);

// Throws a usage error (exit 16) with `message`.
[[noreturn]] void usage_error(const std::string& message);

// Refuses a block device that a dm device holds, naming it. Regular files pass.
void ensure_not_in_use(const std::string& path);

// Opens a device or image for the tools: the in-use check, O_EXCL (flock on
// files), O_DIRECT on block devices so that the kernel's writes are seen.
remapmeta::Device open_device(const std::string& path, bool write);

// Creates `path` as a sparse image of `bytes` (it must not exist).
void create_image(const std::string& path, uint64_t bytes);

// A progress bar on stderr, shown only when stderr is a terminal and the
// work has lasted long enough to be worth watching.
class Progress {
public:
    Progress(std::string label, bool enabled);
    ~Progress();
    Progress(const Progress&) = delete;
    Progress& operator=(const Progress&) = delete;
    void update(uint64_t done, uint64_t total);

private:
    std::string label_;
    bool enabled_;
    bool shown_ = false;
    std::chrono::steady_clock::time_point start_;
    std::chrono::steady_clock::time_point last_;
};

} // namespace remaptool

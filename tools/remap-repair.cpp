// SPDX-License-Identifier: GPL-2.0-only OR MIT
//
// remap-repair: salvages damaged dm-remap metadata into a new image (or, with
// --in-place and a backup, over the input), and restores JSON dumps. Repair is
// salvage → the restore emitter, the same path as --restore.
#include "common/tool.hpp"
#include "remapmeta/check.hpp"
#include "remapmeta/dump.hpp"
#include "remapmeta/errors.hpp"

#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fmt/format.h>
#include <fstream>
#include <sstream>
#include <sys/stat.h>

using namespace remapmeta;
using namespace remaptool;

namespace {

struct Options {
    std::string input;
    std::string output;
    std::string restore;
    std::string backup;
    bool in_place = false;
    bool quiet = false;
};

bool same_file(const std::string& a, const std::string& b) {
    struct stat sa {
    }, sb{};
    if (::stat(a.c_str(), &sa) != 0 || ::stat(b.c_str(), &sb) != 0)
        return false;
    if (S_ISBLK(sa.st_mode) && S_ISBLK(sb.st_mode))
        return sa.st_rdev == sb.st_rdev;
    return sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

// Opens the output, creating a sparse image of `bytes` when it does not exist.
Device open_output(const std::string& path, uint64_t bytes, bool quiet) {
    std::error_code ec;
    if (!std::filesystem::exists(path, ec)) {
        create_image(path, bytes);
        if (!quiet)
            note(fmt::format("created {} ({} bytes, sparse)", path, bytes));
    }
    return open_device(path, true);
}

// Verifies what was written as remap-check would.
void verify(Device& dev, const std::string& path) {
    ScanResult r = scan(dev);
    if (!r.findings.empty())
        throw Error(fmt::format("{}: the written metadata does not check clean ({}); this is a "
                                "bug in remap-repair, please report it with the input image",
                                path, r.findings.front().message));
}

// Copies both superblocks and both tables into a sparse image of the
// device's size, at their own offsets, so remap-check and remap-dump can read it.
std::string save_backup(Device& dev, const ScanResult& r, std::string path) {
    if (path.empty()) {
        char stamp[32];
        std::time_t now = std::time(nullptr);
        std::tm tm{};
        localtime_r(&now, &tm);
        std::strftime(stamp, sizeof stamp, "%Y%m%dT%H%M%S", &tm);
        path = fmt::format("remap-repair-backup-{}-{}.img",
                           std::filesystem::path(dev.path()).filename().string(), stamp);
    }
    create_image(path, dev.size_bytes());
    Device out = Device::open(path, {.write = true});
    auto copy = [&](uint64_t first_block, uint64_t blocks) {
        constexpr uint64_t batch = 256;
        AlignedBuffer buf(batch * RM4_BLOCK_SIZE);
        for (uint64_t b = 0; b < blocks; b += batch) {
            const uint64_t n = std::min<uint64_t>(batch, blocks - b);
            auto span = buf.span().first(n * RM4_BLOCK_SIZE);
            const uint64_t off = (first_block + b) * RM4_BLOCK_SIZE;
            try {
                dev.read(off, span);
            } catch (const IoError&) {
                // Keep what can be read, block by block.
                for (uint64_t i = 0; i < n; i++) {
                    auto one = span.subspan(i * RM4_BLOCK_SIZE, RM4_BLOCK_SIZE);
                    try {
                        dev.read(off + i * RM4_BLOCK_SIZE, one);
                    } catch (const IoError&) {
                        std::fill(one.begin(), one.end(), std::byte{0});
                    }
                }
            }
            out.write(off, span);
        }
    };
    copy(0, 2);
    if (r.geometry_ok) {
        copy(r.sb.table_a_start, r.sb.table_blocks);
        copy(r.sb.table_b_start, r.sb.table_blocks);
    }
    out.flush();
    return path;
}

void report(const SalvageResult& s, bool quiet) {
    for (const auto& a : s.actions)
        note(fmt::format("slot {}{}: {}", a.slot,
                         a.main_block ? fmt::format(" (main block {})", *a.main_block) : "",
                         a.what));
    for (const auto& l : s.lost)
        note("not salvaged: " + l);
    if (!quiet && s.actions.empty() && s.lost.empty())
        note("every entry was salvaged");
}

int restore_dump(const Options& o) {
    std::ifstream in(o.restore, std::ios::binary);
    if (!in)
        throw IoError("open", o.restore, std::nullopt, errno);
    std::stringstream ss;
    ss << in.rdbuf();
    const std::string text = ss.str();
    Metadata m;
    try {
        m = parse_dump(text);
    } catch (const DumpError& e) {
        throw DumpError(e.path(), fmt::format("{}: {}", o.restore,
                                              e.path().empty() ? std::string(e.what())
                                                               : std::string(e.what())));
    }
    Device dev = open_output(o.output, m.sb.spare_sectors * 512, o.quiet);
    RestoreEmitter(dev).emit(m);
    verify(dev, o.output);
    if (!o.quiet)
        note(fmt::format("restored {} entries from {} to {}", m.used_slots(), o.restore, o.output));
    return exit_clean;
}

int repair(const Options& o) {
    if (!o.in_place && same_file(o.input, o.output))
        usage_error("the output is the input; use --in-place to repair it over itself (a backup "
                    "of the metadata is saved first)");
    Device in = open_device(o.input, o.in_place);
    ScanOptions so;
    so.cancel = &cancel_requested;
    Progress progress("remap-repair: reading", !o.quiet);
    so.progress = [&](uint64_t d, uint64_t t) { progress.update(d, t); };
    ScanResult r = scan(in, so);
    progress.update(1, 1);
    SalvageResult s = salvage(r);
    report(s, o.quiet);
    const bool had_problems = !r.findings.empty();

    if (o.in_place) {
        const std::string where = save_backup(in, r, o.backup);
        note(fmt::format("saved the metadata region of {} (superblocks and both tables) to {}; "
                         "to undo, copy it back with `remap-repair --restore` of a dump of it, "
                         "or dd its blocks",
                         o.input, where));
        RestoreEmitter(in).emit(s.model);
        verify(in, o.input);
        if (!o.quiet)
            note(fmt::format("repaired {} in place: {} entries", o.input, s.model.used_slots()));
    } else {
        Device out = open_output(o.output, in.size_bytes(), o.quiet);
        RestoreEmitter(out).emit(s.model);
        verify(out, o.output);
        if (!o.quiet)
            note(fmt::format("wrote repaired metadata for {} entries to {}; the pool data stays "
                             "on {}",
                             s.model.used_slots(), o.output, o.input));
    }
    return had_problems ? exit_fixed : exit_clean;
}

} // namespace

int main(int argc, char** argv) {
    Options o;
    CLI::App app{"Repair dm-remap metadata: salvage the damaged input into a new image, or "
                 "restore a JSON dump."};
    app.add_option("-i,--input", o.input, "damaged spare device or image");
    app.add_option("-o,--output", o.output, "where to write the repaired or restored metadata");
    app.add_flag("--in-place", o.in_place,
                 "repair the input over itself, after saving a backup of its metadata region");
    app.add_option("--backup", o.backup, "with --in-place: where to save the backup");
    app.add_option("--restore", o.restore, "restore this JSON dump (from remap-dump) to -o");
    app.add_flag("-q,--quiet", o.quiet, "print only errors and what could not be salvaged");
    return run("remap-repair",
               "remap-repair -i INPUT -o OUTPUT | -i INPUT --in-place [--backup FILE] | "
               "--restore DUMP -o OUTPUT",
               app, argc, argv, [&] {
                   if (!o.restore.empty()) {
                       if (!o.input.empty() || o.in_place)
                           usage_error("--restore takes -o only, not -i or --in-place");
                       if (o.output.empty())
                           usage_error("--restore needs -o OUTPUT");
                       return restore_dump(o);
                   }
                   if (o.input.empty())
                       usage_error("-i INPUT is required (or --restore DUMP)");
                   if (o.in_place && !o.output.empty())
                       usage_error("--in-place and -o exclude each other");
                   if (!o.in_place && o.output.empty())
                       usage_error("-o OUTPUT is required (remap-repair never writes its input "
                                   "unless --in-place is given)");
                   if (!o.backup.empty() && !o.in_place)
                       usage_error("--backup goes with --in-place");
                   return repair(o);
               });
}

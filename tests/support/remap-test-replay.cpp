// SPDX-License-Identifier: GPL-2.0-only OR MIT
//
// Power-cut replayer for the VM scenario power-cut: reads the log that the
// kernel's dm-log-writes target recorded (the on-disk format of
// Documentation/admin-guide/device-mapper/log-writes.rst, parsed here from
// scratch) and rebuilds, at many crash points, the state the logged device
// could be in after a power cut there. For each crash point it writes that
// state to an image file and runs a check command.
//
//   remap-test-replay --log FILE --image FILE --check CMD [options]
//   remap-test-replay --log FILE --image FILE --main DEV --spare DEV
//       --journal FILE --seed S [--tool-every N] [options]
//
// The log. dm-log-writes logs a write when it completes, except that a
// write without FUA stays in the device's volatile cache until a flush: it
// is logged just before the first flush that was issued after it completed.
// A FUA write is logged when it completes; a flush is logged when it
// completes, after the writes it made durable; a mark when the message
// arrives. So, at a cut after log entry i:
//   - every write before the last flush entry at or before i is durable;
//   - every FUA write at or before i is durable;
//   - every other write at or before i (completed, not yet flushed) may or
//     may not have reached the medium, independently of the others: a
//     volatile cache may drop any of them and write the rest in any order.
//     (Two cached writes of one sector: the cache holds the newer one, so a
//     kept older one never lands after a kept newer one; keeping a subset
//     and applying it in log order covers every order of distinct sectors.)
// One order the log cannot give: a cached write is logged at the next
// flush, so it lands in the log after a FUA write that was issued after it
// completed. If both wrote one sector, the replay puts the older data on
// top. The workload never does that (it flushes before such a FUA write);
// dm-remap's own FUA writes (commits) go to blocks no cached write touches
// without a flush in between.
//
// Crash points (in log order, only after the mark --start-mark):
//   flush   right after each flush entry: the state is exact;
//   fua     right after each FUA write, with every unflushed write dropped;
//   random  after a random entry, with a random subset of the unflushed
//           writes kept (each with probability 1/2);
//   end     the whole log, every write applied.
// --max-flush-fua N keeps N of the flush/FUA points, evenly spread;
// --random N adds N random points.
//
// The check command runs under /bin/sh with these variables:
//   CRASH_POINT   log entry index of the cut (entries before it are in)
//   CRASH_KIND    flush, fua, random or end
//   CRASH_ACKED   the largest N of a mark "ack<N>" before the cut, or 0:
//                 the workload sends that mark after it saw acknowledgement
//                 number N, so every acknowledgement up to N happened
//                 before the cut
//   CRASH_DROPPED unflushed writes dropped at this point
// Its exit status decides: non-zero counts as a failure.
//
// The built-in check (--main, --spare: devices over the image, e.g. the
// same tables over a loop device on it; --journal and --seed: the
// workload's) does at each point, in this process (forking tools for each
// of a thousand points is slow in an emulated VM):
//   1. the check of remap-check (libremapmeta's scan()) on the spare: no
//      finding, or only the old copies an interrupted commit leaves, which
//      the format allows and the target rewrites when it activates:
//      table-copy-stale (also a copy B still zeroed, its block's first
//      commit cut between copy A and copy B) and superblock-copy-stale;
//   2. the kernel target activates over main and spare (libdevmapper);
//   3. every write acknowledged before the cut (acknowledgements up to
//      CRASH_ACKED) reads back exactly through it (verify_journal());
//   4. after the target is removed, the check finds nothing at all;
//   5. at every --tool-every-th point (default 10), the first and the last,
//      the remap-check tool itself (from PATH) exits 0 on the spare.
// --check CMD, if given too, runs after that.
//
// Exit status: 0 when every check passed, 1 when one failed, 2 for a bad
// log or bad arguments.
#include "journal.hpp"
#include "remapmeta/check.hpp"
#include "remapmeta/device.hpp"

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <fmt/core.h>
#include <libdevmapper.h>
#include <memory>
#include <random>
#include <stdexcept>
#include <string>
#include <string_view>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <vector>

namespace {

// The log format (little-endian). Byte 0 of the log: the super.
constexpr uint64_t kLogMagic = 0x6a736677736872ULL;
constexpr uint64_t kLogVersion = 1;
// Entry flags.
constexpr uint64_t kFlush = 1U << 0;
constexpr uint64_t kFua = 1U << 1;
constexpr uint64_t kDiscard = 1U << 2;
constexpr uint64_t kMark = 1U << 3;

uint64_t le64(const uint8_t* p) {
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}
uint32_t le32(const uint8_t* p) {
    return static_cast<uint32_t>(p[0]) | static_cast<uint32_t>(p[1]) << 8 |
           static_cast<uint32_t>(p[2]) << 16 | static_cast<uint32_t>(p[3]) << 24;
}

struct Entry {
    uint64_t offset = 0; // byte offset on the logged device
    uint64_t length = 0; // bytes
    uint64_t flags = 0;
    uint64_t data = 0; // byte offset of the data in the log
    std::string mark;
};

[[noreturn]] void fail(const std::string& msg) {
    throw std::runtime_error(msg);
}

std::vector<uint8_t> read_file(const std::string& path) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        fail(fmt::format("cannot open {}: {}", path, std::strerror(errno)));
    struct stat st {};
    if (fstat(fd, &st) != 0)
        fail(fmt::format("cannot stat {}: {}", path, std::strerror(errno)));
    std::vector<uint8_t> buf;
    // A block device: its size through lseek.
    off_t size = st.st_size;
    if (S_ISBLK(st.st_mode))
        size = lseek(fd, 0, SEEK_END);
    buf.resize(static_cast<size_t>(size));
    size_t done = 0;
    while (done < buf.size()) {
        const ssize_t n = pread(fd, buf.data() + done, buf.size() - done, static_cast<off_t>(done));
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            fail(fmt::format("cannot read {}: {}", path, n < 0 ? std::strerror(errno) : "short"));
        done += static_cast<size_t>(n);
    }
    ::close(fd);
    return buf;
}

std::vector<Entry> parse_log(const std::vector<uint8_t>& log) {
    if (log.size() < 512)
        fail("the log is shorter than its super block");
    const uint8_t* s = log.data();
    if (le64(s) != kLogMagic)
        fail("not a dm-log-writes log (bad magic)");
    if (le64(s + 8) != kLogVersion)
        fail(fmt::format("dm-log-writes log version {} (this reads version 1)", le64(s + 8)));
    const uint64_t nr = le64(s + 16);
    const uint32_t ss = le32(s + 24);
    if (ss < 512 || ss > 65536 || (ss & (ss - 1)) != 0)
        fail(fmt::format("bad log sector size {}", ss));
    std::vector<Entry> out;
    out.reserve(static_cast<size_t>(std::min<uint64_t>(nr, 1U << 24)));
    uint64_t pos = ss; // the first entry follows the super's block
    for (uint64_t i = 0; i < nr; i++) {
        if (pos + ss > log.size())
            fail(fmt::format("entry {} of {} lies beyond the end of the log", i, nr));
        const uint8_t* e = log.data() + pos;
        Entry en;
        en.offset = le64(e) * ss;
        en.length = le64(e + 8) * ss;
        en.flags = le64(e + 16);
        const uint64_t data_len = le64(e + 24);
        pos += ss;
        if (en.flags & kMark) {
            if (data_len > ss - 32)
                fail(fmt::format("entry {}: mark of {} bytes", i, data_len));
            en.mark.assign(reinterpret_cast<const char*>(e + 32), static_cast<size_t>(data_len));
            en.length = 0;
        } else if (en.flags & kDiscard) {
            // A discard has no data in the log.
        } else {
            en.data = pos;
            if (pos + en.length > log.size())
                fail(fmt::format("entry {}: data lies beyond the end of the log", i));
            pos += en.length;
        }
        out.push_back(std::move(en));
    }
    return out;
}

struct Options {
    std::string log, image, check, start_mark;
    std::string main, spare, journal;
    uint64_t journal_seed = 0;
    size_t tool_every = 10;
    size_t max_flush_fua = SIZE_MAX;
    size_t random = 0;
    uint64_t seed = 1;
    bool keep_going = false;
};

void usage() {
    fmt::print(stderr, "usage: remap-test-replay --log FILE --image FILE --check CMD\n"
                       "         [--start-mark NAME] [--max-flush-fua N] [--random N] [--seed S]\n"
                       "         [--keep-going]\n"
                       "       remap-test-replay --log FILE --image FILE --main DEV --spare DEV\n"
                       "         --journal FILE --seed S [--tool-every N] [--check CMD] [...]\n");
}

struct Point {
    size_t index; // cut after entry index - 1
    std::string kind;
};

void write_image(int fd, const std::vector<uint8_t>& img) {
    size_t done = 0;
    while (done < img.size()) {
        const ssize_t n =
            pwrite(fd, img.data() + done, img.size() - done, static_cast<off_t>(done));
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            fail(fmt::format("cannot write the image: {}", std::strerror(errno)));
        done += static_cast<size_t>(n);
    }
}

// The built-in check (see the top of the file).
class Checker {
public:
    explicit Checker(const Options& o)
        : o_(o) {
        main_sectors_ = remapmeta::Device::open(o.main).sectors();
    }
    size_t stale_points = 0, tool_runs = 0;
    std::string last_summary;

    // Returns an empty string when the point passes, else why it failed.
    std::string check(size_t point_no, uint64_t acked, bool last) {
        std::string why = scan_spare(true);
        if (!why.empty())
            return "before activation: " + why;
        const std::string name = "replay-r";
        const std::string params = fmt::format("{} {}", o_.main, o_.spare);
        dm_task* t = dm_task_create(DM_DEVICE_CREATE);
        if (!t)
            fail("dm_task_create failed");
        bool ok = dm_task_set_name(t, name.c_str()) &&
                  dm_task_add_target(t, 0, main_sectors_, "remap", params.c_str()) &&
                  dm_task_run(t);
        dm_info info{};
        if (ok)
            ok = dm_task_get_info(t, &info) && info.exists;
        dm_task_destroy(t);
        if (!ok) {
            remove(name); // a half-created device
            return "the target does not activate (see the kernel log)";
        }
        const std::string node = fmt::format("/dev/dm-{}", info.minor);
        std::string summary;
        const int vrc =
            remaptest::verify_journal(node, o_.journal, o_.journal_seed, acked, &summary);
        if (!remove(name))
            return "cannot remove the target";
        if (vrc != 0)
            return "acknowledged data lost: " + summary;
        last_summary = summary;
        why = scan_spare(false);
        if (!why.empty())
            return "after the target ran: " + why;
        if (point_no == 0 || last || (o_.tool_every && point_no % o_.tool_every == 0)) {
            tool_runs++;
            const int rc = std::system(fmt::format("remap-check -n -q {}", o_.spare).c_str());
            if (rc != 0)
                return fmt::format("the remap-check tool exits {} after the target ran",
                                   WIFEXITED(rc) ? WEXITSTATUS(rc) : rc);
        }
        return {};
    }

private:
    const Options& o_;
    uint64_t main_sectors_ = 0;

    std::string scan_spare(bool allow_stale) {
        remapmeta::Device d = remapmeta::Device::open(o_.spare, {.direct = true});
        const remapmeta::ScanResult r = remapmeta::scan(d);
        bool stale = false;
        for (const auto& f : r.findings) {
            const bool old_copy = f.code == "table-copy-stale" || f.code == "superblock-copy-stale";
            if (allow_stale && old_copy) {
                stale = true;
                continue;
            }
            return fmt::format("remap-check finds {}: {}", f.code, f.message);
        }
        stale_points += stale;
        return {};
    }

    static bool remove(const std::string& name) {
        for (int i = 0; i < 20; i++) {
            dm_task* t = dm_task_create(DM_DEVICE_REMOVE);
            if (!t)
                fail("dm_task_create failed");
            const bool ok = dm_task_set_name(t, name.c_str()) && dm_task_run(t);
            dm_task_destroy(t);
            if (ok) {
                dm_task_update_nodes();
                return true;
            }
            usleep(100000);
        }
        return false;
    }
};

int run(const Options& o) {
    const std::vector<uint8_t> log = read_file(o.log);
    const std::vector<Entry> entries = parse_log(log);

    const int img_fd = ::open(o.image.c_str(), O_RDWR | O_CLOEXEC);
    if (img_fd < 0)
        fail(fmt::format("cannot open {}: {}", o.image, std::strerror(errno)));
    struct stat st {};
    if (fstat(img_fd, &st) != 0 || !S_ISREG(st.st_mode))
        fail(fmt::format("{} must be a regular file of the logged device's size", o.image));
    std::vector<uint8_t> base(static_cast<size_t>(st.st_size), 0);
    std::unique_ptr<Checker> checker;
    if (!o.main.empty())
        checker = std::make_unique<Checker>(o);

    // Where checks may start, and the candidate points.
    size_t start = 0;
    if (!o.start_mark.empty()) {
        start = SIZE_MAX;
        for (size_t i = 0; i < entries.size(); i++)
            if ((entries[i].flags & kMark) && entries[i].mark == o.start_mark) {
                start = i + 1;
                break;
            }
        if (start == SIZE_MAX)
            fail(fmt::format("no mark '{}' in the log", o.start_mark));
    }
    size_t n_flush = 0, n_fua = 0, n_write = 0, n_mark = 0, n_discard = 0;
    // Flush and FUA points. A point with no write since the previous one
    // is the same state: dm-remap's flush reaches every target of a table,
    // so main's table of many segments sends log-writes a burst of them.
    std::vector<Point> ff;
    bool written = true;
    for (size_t i = 0; i < entries.size(); i++) {
        const Entry& e = entries[i];
        if (e.flags & kMark) {
            n_mark++;
            continue;
        }
        if (e.flags & kDiscard)
            n_discard++;
        else if (e.length)
            n_write++;
        if (e.length || (e.flags & kDiscard))
            written = true;
        if (e.flags & kFlush)
            n_flush++;
        if (e.flags & kFua)
            n_fua++;
        if (i >= start && (e.flags & (kFlush | kFua)) && written) {
            ff.push_back({i + 1, (e.flags & kFlush) && !e.length ? "flush" : "fua"});
            written = false;
        }
    }
    fmt::print("replay: {} entries: {} writes, {} flushes, {} FUA, {} discards, {} marks; "
               "{} flush/FUA points after the start\n",
               entries.size(), n_write, n_flush, n_fua, n_discard, n_mark, ff.size());
    if (n_flush == 0)
        fail("the log holds no flush: the device under log-writes has no volatile "
             "write cache, so the log cannot tell durable writes from cached ones");

    std::vector<Point> points;
    if (ff.size() <= o.max_flush_fua) {
        points = ff;
    } else if (o.max_flush_fua > 0) {
        for (size_t k = 0; k < o.max_flush_fua; k++)
            points.push_back(ff[k * ff.size() / o.max_flush_fua]);
    }
    std::mt19937_64 rng(o.seed);
    if (start < entries.size())
        for (size_t k = 0; k < o.random; k++) {
            std::uniform_int_distribution<size_t> d(start + 1, entries.size());
            points.push_back({d(rng), "random"});
        }
    points.push_back({entries.size(), "end"});
    std::stable_sort(points.begin(), points.end(),
                     [](const Point& a, const Point& b) { return a.index < b.index; });

    // Walk the log once. base: every entry before the last flush applied.
    // pending: the entries since then (writes, FUA or not).
    std::vector<size_t> pending;
    uint64_t acked = 0;
    size_t next = 0, failures = 0, done = 0;
    std::vector<uint8_t> img;
    auto apply = [&](std::vector<uint8_t>& dst, const Entry& e) {
        if (e.offset + e.length > dst.size())
            fail(fmt::format("a logged write at byte {} (+{}) lies beyond the image ({} bytes)",
                             e.offset, e.length, dst.size()));
        if (e.flags & kDiscard)
            std::fill_n(dst.begin() + static_cast<std::ptrdiff_t>(e.offset), e.length, 0);
        else
            std::memcpy(dst.data() + e.offset, log.data() + e.data, e.length);
    };
    for (size_t i = 0; i <= entries.size() && next < points.size(); i++) {
        // Cut after entry i - 1: run every point at index i.
        while (next < points.size() && points[next].index == i) {
            const Point& p = points[next++];
            img = base;
            size_t dropped = 0;
            for (size_t j : pending) {
                const Entry& e = entries[j];
                bool keep = true;
                if (!(e.flags & kFua)) {
                    if (p.kind == "fua")
                        keep = false;
                    else if (p.kind == "random")
                        keep = (rng() & 1) != 0;
                }
                if (keep)
                    apply(img, e);
                else
                    dropped++;
            }
            write_image(img_fd, img);
            if (fsync(img_fd) != 0)
                fail(fmt::format("fsync {}: {}", o.image, std::strerror(errno)));
            std::string why;
            if (checker)
                why = checker->check(done, acked, next == points.size());
            if (why.empty() && !o.check.empty()) {
                const std::string env =
                    fmt::format("CRASH_POINT={} CRASH_KIND={} CRASH_ACKED={} CRASH_DROPPED={} ", i,
                                p.kind, acked, dropped);
                const int rc = std::system((env + o.check).c_str());
                if (rc != 0)
                    why = fmt::format("{} exited {}", o.check, rc);
            }
            done++;
            if (!why.empty()) {
                failures++;
                fmt::print("replay: FAIL at entry {} ({}, acked {}, {} dropped): {}\n", i, p.kind,
                           acked, dropped, why);
                if (!o.keep_going)
                    break;
            }
        }
        if (failures && !o.keep_going)
            break;
        if (i == entries.size())
            break;
        const Entry& e = entries[i];
        if (e.flags & kMark) {
            if (e.mark.starts_with("ack"))
                acked = std::max<uint64_t>(acked, std::strtoull(e.mark.c_str() + 3, nullptr, 10));
            continue;
        }
        if (e.flags & kFlush) {
            // Everything logged before a flush is durable; a flush with
            // data writes its data after the flush.
            for (size_t j : pending)
                apply(base, entries[j]);
            pending.clear();
        }
        if (e.length || (e.flags & kDiscard))
            pending.push_back(i);
    }
    ::close(img_fd);
    if (checker)
        fmt::print("replay: {} points had stale copies before activation; the remap-check tool "
                   "ran at {} points; last: {}\n",
                   checker->stale_points, checker->tool_runs, checker->last_summary);
    fmt::print("replay: {} crash points checked, {} failed\n", done, failures);
    return failures ? 1 : 0;
}

} // namespace

int main(int argc, char** argv) {
    Options o;
    try {
        for (int i = 1; i < argc; i++) {
            const std::string_view a = argv[i];
            auto val = [&]() -> std::string {
                if (i + 1 >= argc)
                    fail(fmt::format("{} needs a value", a));
                return argv[++i];
            };
            if (a == "--log")
                o.log = val();
            else if (a == "--image")
                o.image = val();
            else if (a == "--check")
                o.check = val();
            else if (a == "--start-mark")
                o.start_mark = val();
            else if (a == "--max-flush-fua")
                o.max_flush_fua = std::stoull(val());
            else if (a == "--random")
                o.random = std::stoull(val());
            else if (a == "--seed")
                o.seed = std::stoull(val());
            else if (a == "--main")
                o.main = val();
            else if (a == "--spare")
                o.spare = val();
            else if (a == "--journal")
                o.journal = val();
            else if (a == "--tool-every")
                o.tool_every = std::stoull(val());
            else if (a == "--keep-going")
                o.keep_going = true;
            else {
                usage();
                return 2;
            }
        }
        o.journal_seed = o.seed; // the workload's seed, and the random points'
        const bool builtin = !o.main.empty() || !o.spare.empty() || !o.journal.empty();
        if (builtin && (o.main.empty() || o.spare.empty() || o.journal.empty()))
            fail("--main, --spare and --journal go together");
        if (o.log.empty() || o.image.empty() || (o.check.empty() && !builtin)) {
            usage();
            return 2;
        }
        return run(o);
    } catch (const std::exception& e) {
        fmt::print(stderr, "remap-test-replay: {}\n", e.what());
        return 2;
    }
}

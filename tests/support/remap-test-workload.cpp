// SPDX-License-Identifier: GPL-2.0-only OR MIT
//
// The workload of the power-cut and hard-kill tests: writes to a block
// device (a dm-remap device whose main has bad sectors), journals every
// write and every acknowledgement, and later verifies, against the journal,
// that every acknowledged write reads back exactly.
//
//   remap-test-workload write --dev DEV --journal FILE --seed S --ops N
//       --units FIRST:COUNT --unit BYTES [--bad U,U,...] [--mark-dev NAME]
//       [--partial-ok 1] [--whole-only 1] [--keep-going 1]
//   remap-test-workload verify --dev DEV --journal FILE [--acked N]
//
// Acknowledged. The device is opened with O_DIRECT. A write is
// acknowledged when
//   - it was a FUA write (pwritev2 with RWF_DSYNC) and it returned success;
//   - or it returned success, and later an fdatasync() of the device that
//     was called after the write returned, returned success.
// The writer is single-threaded, so an fdatasync acknowledges every write
// that succeeded before it. Acknowledgements are numbered 1, 2, ... in the
// order they happen. The journal is written with write(2) on an O_APPEND
// file descriptor, a line per event, before the next I/O:
//   W <seq> <offset> <length>   write <seq> is about to be issued
//   C <seq>                     write <seq> returned success
//   E <seq> <errno>             write <seq> failed (never acknowledged)
//   F <seq> <ack>               acknowledgement <ack>: FUA write <seq>
//   S <seq> <ack>               acknowledgement <ack>: an fdatasync after
//                               write <seq> returned; it acknowledges every
//                               C write up to <seq>
//   X <seq> <errno>             an fdatasync after write <seq> failed (with
//                               --keep-going 1; else the writer stops):
//                               it acknowledges nothing
// With --mark-dev, after journaling acknowledgement <ack> the writer sends
// the message "mark ack<ack>" to that dm-log-writes device, so the log shows
// where each acknowledgement happened (see remap-test-replay).
//
// Data. Every 512-byte sector written by write <seq> holds its own device
// sector number and <seq> in its first 16 bytes, then bytes derived from
// (seed, sector, seq): a sector read back names the write it came from,
// and is checked byte for byte against that write's data.
//
// What the writer does, op after op, over units FIRST..FIRST+COUNT-1: a
// whole-unit write (half of the time a unit from --bad, whose write fails
// on the main device and moves to the spare), a multi-unit write of 2..16
// units, or a sub-unit write of whole sectors into a unit that is not bad
// or was already written whole (so the rest of the unit can be read; with
// --partial-ok 1 into any unit: the bad units fail writes only). One
// write in five is a FUA write; the others are followed by an fdatasync
// after 1..8 writes. A FUA write that overlaps a write not yet followed by
// an fdatasync gets one first: dm-log-writes logs a cached write only at
// the next flush, after a later FUA write of the same sector, so its log
// could not tell which of the two the medium holds. --whole-only 1: no
// sub-unit writes (so no write needs to read from main). Failed writes are
// journaled and the writer goes on; a failed fdatasync stops it, unless
// --keep-going 1.
//
// verify. --acked N: only acknowledgements 1..N count (default: all in the
// journal). For each sector that an acknowledged write covered, the sector
// must read back, and hold the data of that write or of a later write of it
// (issued after the acknowledged one; it may have landed). Sectors never
// acknowledged are not read. Exit status 0: all good, 1: a mismatch or a
// read error, 2: bad arguments or journal.
#include "journal.hpp"

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <fmt/core.h>
#include <fstream>
#include <libdevmapper.h>
#include <map>
#include <random>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <sys/uio.h>
#include <unistd.h>
#include <unordered_map>
#include <vector>

namespace {

using namespace remaptest;

struct Journal {
    int fd = -1;
    void open(const std::string& path) {
        fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
        if (fd < 0)
            fail(fmt::format("cannot open {}: {}", path, std::strerror(errno)));
    }
    void line(const std::string& s) {
        const std::string l = s + "\n";
        if (::write(fd, l.data(), l.size()) != static_cast<ssize_t>(l.size()))
            fail(fmt::format("cannot write the journal: {}", std::strerror(errno)));
    }
};

void send_mark(const std::string& dev, uint64_t ack) {
    dm_task* t = dm_task_create(DM_DEVICE_TARGET_MSG);
    if (!t)
        fail("dm_task_create failed");
    const std::string msg = fmt::format("mark ack{}", ack);
    const bool ok = dm_task_set_name(t, dev.c_str()) && dm_task_set_sector(t, 0) &&
                    dm_task_set_message(t, msg.c_str()) && dm_task_run(t);
    dm_task_destroy(t);
    if (!ok)
        fail(fmt::format("cannot send '{}' to {}", msg, dev));
}

struct WriteArgs {
    std::string dev, journal, mark_dev;
    uint64_t seed = 1, ops = 100, first = 0, count = 0, unit = 4096;
    bool partial_ok = false, whole_only = false, keep_going = false;
    std::vector<uint64_t> bad;
};

int do_write(const WriteArgs& a) {
    if (a.count == 0 || a.unit < kSector || a.unit % kSector)
        fail("--units FIRST:COUNT and --unit BYTES (a multiple of 512) are required");
    const int fd = ::open(a.dev.c_str(), O_RDWR | O_DIRECT | O_CLOEXEC);
    if (fd < 0)
        fail(fmt::format("cannot open {}: {}", a.dev, std::strerror(errno)));
    Journal j;
    j.open(a.journal);
    std::mt19937_64 rng(a.seed);
    auto below = [&](uint64_t n) { return std::uniform_int_distribution<uint64_t>(0, n - 1)(rng); };
    std::vector<bool> is_bad(a.count, false), whole(a.count, false);
    std::vector<uint64_t> bad_in;
    for (uint64_t u : a.bad)
        if (u >= a.first && u < a.first + a.count) {
            is_bad[u - a.first] = true;
            bad_in.push_back(u);
        }
    const uint64_t max_len = 16 * a.unit;
    uint8_t* buf = aligned(max_len);
    uint64_t seq = 0, ack = 0, unsynced = 0, sync_every = 1 + below(8);
    std::vector<std::pair<uint64_t, uint64_t>> unsynced_ranges; // completed, not flushed
    auto overlaps_unsynced = [&](uint64_t off, uint64_t len) {
        return std::any_of(unsynced_ranges.begin(), unsynced_ranges.end(), [&](const auto& r) {
            return r.first < off + len && off < r.first + r.second;
        });
    };
    uint64_t n_ok = 0, n_err = 0, n_fua = 0, n_sync = 0;
    auto acknowledge = [&](char kind, uint64_t s) {
        ack++;
        j.line(fmt::format("{} {} {}", kind, s, ack));
        if (!a.mark_dev.empty())
            send_mark(a.mark_dev, ack);
    };
    for (uint64_t op = 0; op < a.ops; op++) {
        uint64_t u = 0, units = 1, off = 0, len = 0;
        const uint64_t r = below(100);
        if (r < 60) {
            u = (!bad_in.empty() && below(2)) ? bad_in[below(bad_in.size())] - a.first
                                              : below(a.count);
            off = (a.first + u) * a.unit;
            len = a.unit;
        } else if (r < 80 || a.whole_only) {
            units = 2 + below(std::min<uint64_t>(15, a.count - 1));
            units = std::min(units, a.count);
            u = below(a.count - units + 1);
            off = (a.first + u) * a.unit;
            len = units * a.unit;
        } else {
            // Sub-unit: whole sectors of a unit whose rest can be read.
            u = below(a.count);
            if ((is_bad[u] && !whole[u] && !a.partial_ok) || a.unit == kSector) {
                op--;
                continue;
            }
            const uint64_t spu = a.unit / kSector;
            const uint64_t first_s = below(spu);
            const uint64_t n_s = 1 + below(spu - first_s);
            off = (a.first + u) * a.unit + first_s * kSector;
            len = n_s * kSector;
        }
        seq++;
        for (uint64_t s = 0; s < len / kSector; s++)
            fill_sector(buf + s * kSector, a.seed, off / kSector + s, seq);
        const bool fua = below(5) == 0;
        if (fua && overlaps_unsynced(off, len)) {
            // dm-log-writes logs a cached write at the next flush, after a
            // FUA write of the same sector that came later: the log could
            // not tell which one the medium holds. Flush it first.
            if (fdatasync(fd) == 0) {
                n_sync++;
                acknowledge('S', seq - 1);
                unsynced = 0;
                unsynced_ranges.clear();
            } else if (!a.keep_going) {
                fail(fmt::format("fdatasync {}: {}", a.dev, std::strerror(errno)));
            }
        }
        j.line(fmt::format("W {} {} {}", seq, off, len));
        iovec iov{buf, static_cast<size_t>(len)};
        const ssize_t n = pwritev2(fd, &iov, 1, static_cast<off_t>(off), fua ? RWF_DSYNC : 0);
        if (n != static_cast<ssize_t>(len)) {
            const int err = n < 0 ? errno : EIO;
            j.line(fmt::format("E {} {}", seq, err));
            n_err++;
            continue;
        }
        n_ok++;
        if (len >= a.unit && off % a.unit == 0)
            for (uint64_t k = 0; k < len / a.unit; k++)
                whole[off / a.unit - a.first + k] = true;
        if (fua) {
            n_fua++;
            acknowledge('F', seq);
            continue;
        }
        j.line(fmt::format("C {}", seq));
        unsynced_ranges.emplace_back(off, len);
        if (++unsynced >= sync_every) {
            unsynced = 0;
            unsynced_ranges.clear();
            sync_every = 1 + below(8);
            if (fdatasync(fd) != 0) {
                if (!a.keep_going)
                    fail(fmt::format("fdatasync {}: {}", a.dev, std::strerror(errno)));
                j.line(fmt::format("X {} {}", seq, errno));
                n_err++;
                continue;
            }
            n_sync++;
            acknowledge('S', seq);
        }
    }
    if (unsynced) {
        if (fdatasync(fd) == 0) {
            n_sync++;
            acknowledge('S', seq);
        } else if (!a.keep_going) {
            fail(fmt::format("fdatasync {}: {}", a.dev, std::strerror(errno)));
        }
    }
    free(buf);
    ::close(fd);
    fmt::print("workload: {} writes ({} failed), {} FUA, {} fdatasync, {} acknowledgements\n",
               n_ok + n_err, n_err, n_fua, n_sync, ack);
    return 0;
}

void usage() {
    fmt::print(stderr,
               "usage: remap-test-workload write --dev DEV --journal FILE --seed S --ops N\n"
               "           --units FIRST:COUNT --unit BYTES [--bad U,...] [--mark-dev "
               "NAME]\n           [--partial-ok 1] [--whole-only 1] [--keep-going 1]\n"
               "       remap-test-workload verify --dev DEV --journal FILE --seed S "
               "[--acked N]\n");
}

} // namespace

int main(int argc, char** argv) {
    if (argc < 2) {
        usage();
        return 2;
    }
    try {
        const std::string_view mode = argv[1];
        WriteArgs a;
        uint64_t acked = UINT64_MAX;
        for (int i = 2; i < argc; i++) {
            const std::string_view k = argv[i];
            if (i + 1 >= argc)
                fail(fmt::format("{} needs a value", k));
            const std::string v = argv[++i];
            if (k == "--dev")
                a.dev = v;
            else if (k == "--journal")
                a.journal = v;
            else if (k == "--mark-dev")
                a.mark_dev = v;
            else if (k == "--seed")
                a.seed = std::stoull(v);
            else if (k == "--ops")
                a.ops = std::stoull(v);
            else if (k == "--unit")
                a.unit = std::stoull(v);
            else if (k == "--partial-ok")
                a.partial_ok = v == "1";
            else if (k == "--whole-only")
                a.whole_only = v == "1";
            else if (k == "--keep-going")
                a.keep_going = v == "1";
            else if (k == "--acked")
                acked = std::stoull(v);
            else if (k == "--units") {
                const auto c = v.find(':');
                if (c == std::string::npos)
                    fail("--units needs FIRST:COUNT");
                a.first = std::stoull(v.substr(0, c));
                a.count = std::stoull(v.substr(c + 1));
            } else if (k == "--bad") {
                std::istringstream bs(v);
                std::string t;
                while (std::getline(bs, t, ','))
                    if (!t.empty())
                        a.bad.push_back(std::stoull(t));
            } else {
                usage();
                return 2;
            }
        }
        if (a.dev.empty() || a.journal.empty()) {
            usage();
            return 2;
        }
        if (mode == "write")
            return do_write(a);
        if (mode == "verify")
            return verify_journal(a.dev, a.journal, a.seed, acked);
        usage();
        return 2;
    } catch (const std::exception& e) {
        fmt::print(stderr, "remap-test-workload: {}\n", e.what());
        return 2;
    }
}

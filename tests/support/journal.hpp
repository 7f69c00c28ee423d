// SPDX-License-Identifier: GPL-2.0-only OR MIT
//
// The workload journal of remap-test-workload (see there for the format and
// the meaning of "acknowledged"), shared with remap-test-replay: the data a
// write puts in each sector, and verify_journal(), which checks that every
// acknowledged write reads back exactly from a device.
#pragma once

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <fmt/core.h>
#include <fstream>
#include <map>
#include <sstream>
#include <stdexcept>
#include <string>
#include <unistd.h>
#include <unordered_map>
#include <vector>

namespace remaptest {

inline constexpr uint64_t kSector = 512;

[[noreturn]] inline void fail(const std::string& msg) {
    throw std::runtime_error(msg);
}

inline uint64_t mix(uint64_t x) {
    x += 0x9e3779b97f4a7c15ULL;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

inline void put64(uint8_t* p, uint64_t v) {
    for (int i = 0; i < 8; i++)
        p[i] = static_cast<uint8_t>(v >> (8 * i));
}
inline uint64_t get64(const uint8_t* p) {
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

// The 512 bytes write <seq> puts in device sector <sector>.
inline void fill_sector(uint8_t* p, uint64_t seed, uint64_t sector, uint64_t seq) {
    put64(p, sector);
    put64(p + 8, seq);
    uint64_t x = mix(seed ^ mix(sector ^ mix(seq)));
    for (size_t i = 16; i < kSector; i += 8) {
        x = mix(x);
        put64(p + i, x);
    }
}

inline uint8_t* aligned(size_t bytes) {
    void* p = nullptr;
    if (posix_memalign(&p, 4096, bytes) != 0)
        fail("out of memory");
    return static_cast<uint8_t*>(p);
}

struct Write {
    uint64_t off, len;
    bool ok = false, acked = false;
};

// Returns 0 when every acknowledged sector (acknowledgements 1..acked_upto)
// reads back, 1 otherwise. Prints each failure; prints the summary line too,
// or stores it in *summary when summary is not null.
inline int verify_journal(const std::string& dev, const std::string& journal, uint64_t seed,
                          uint64_t acked_upto, std::string* summary = nullptr) {
    std::ifstream in(journal);
    if (!in)
        fail(fmt::format("cannot open {}", journal));
    std::map<uint64_t, Write> writes;
    std::string line;
    uint64_t last_ack = 0;
    while (std::getline(in, line)) {
        std::istringstream ls(line);
        char kind = 0;
        uint64_t x = 0, y = 0, z = 0;
        ls >> kind >> x;
        if (!ls)
            continue; // a line cut short by a kill
        if (kind == 'W') {
            ls >> y >> z;
            if (ls)
                writes[x] = Write{y, z};
        } else if (kind == 'C') {
            if (writes.count(x))
                writes[x].ok = true;
        } else if (kind == 'F' || kind == 'S') {
            ls >> y;
            if (!ls || y > acked_upto)
                continue;
            last_ack = std::max(last_ack, y);
            if (kind == 'F') {
                if (writes.count(x))
                    writes[x].ok = writes[x].acked = true;
            } else {
                for (auto it = writes.begin(); it != writes.end() && it->first <= x; ++it)
                    if (it->second.ok)
                        it->second.acked = true;
            }
        }
    }
    // Per sector: the acknowledged write that must be there at least, and
    // every write of it (issued in seq order).
    std::unordered_map<uint64_t, uint64_t> floor;            // sector -> acked seq
    std::unordered_map<uint64_t, std::vector<uint64_t>> all; // sector -> seqs
    for (const auto& [seq, w] : writes)
        for (uint64_t s = w.off / kSector; s < (w.off + w.len) / kSector; s++) {
            all[s].push_back(seq);
            if (w.acked)
                floor[s] = seq;
        }
    std::vector<uint64_t> sectors;
    for (const auto& [s, q] : floor)
        sectors.push_back(s);
    std::sort(sectors.begin(), sectors.end());

    const int fd = ::open(dev.c_str(), O_RDONLY | O_DIRECT | O_CLOEXEC);
    if (fd < 0)
        fail(fmt::format("cannot open {}: {}", dev, std::strerror(errno)));
    constexpr uint64_t kRun = 128; // sectors per read (64 KiB)
    uint8_t* buf = aligned(kRun * kSector);
    uint8_t* want = aligned(kSector);
    uint64_t bad = 0, newer = 0;
    for (size_t i = 0; i < sectors.size();) {
        // A run of 4 KiB blocks that each hold an acknowledged sector (no
        // other block is read: it may be a bad unit nothing was ever
        // acknowledged in), at most kRun sectors.
        const uint64_t s0 = sectors[i] & ~7ULL;
        uint64_t s1 = s0 + 8;
        size_t k = i;
        while (k < sectors.size() && sectors[k] < s1) {
            k++;
            if (k < sectors.size() && sectors[k] >= s1 && sectors[k] < s1 + 8 &&
                s1 + 8 - s0 <= kRun)
                s1 += 8;
        }
        const uint64_t len = (s1 - s0) * kSector;
        const ssize_t n = pread(fd, buf, len, static_cast<off_t>(s0 * kSector));
        if (n != static_cast<ssize_t>(len)) {
            fmt::print("verify: FAIL: read of sectors {}..{} failed ({}); acknowledged "
                       "writes lie there\n",
                       s0, s1 - 1, n < 0 ? std::strerror(errno) : "short read");
            bad += k - i;
            i = k;
            continue;
        }
        for (; i < k; i++) {
            const uint64_t s = sectors[i];
            const uint8_t* got = buf + (s - s0) * kSector;
            const uint64_t got_seq = get64(got + 8);
            const uint64_t min_seq = floor[s];
            const auto& seqs = all[s];
            const bool known = get64(got) == s && got_seq >= min_seq &&
                               std::binary_search(seqs.begin(), seqs.end(), got_seq);
            bool ok = false;
            if (known) {
                fill_sector(want, seed, s, got_seq);
                ok = std::memcmp(want, got, kSector) == 0;
            }
            if (!ok) {
                if (bad < 10)
                    fmt::print("verify: FAIL: sector {} (byte {}): acknowledged write {} is "
                               "lost; the sector holds {}\n",
                               s, s * kSector, min_seq,
                               known ? fmt::format("write {} with wrong bytes", got_seq)
                               : get64(got) == s
                                   ? fmt::format("write {} (older or unknown)", got_seq)
                                   : std::string("data of no write of this sector"));
                bad++;
            } else if (got_seq > min_seq) {
                newer++;
            }
        }
    }
    free(buf);
    free(want);
    ::close(fd);
    const std::string text =
        fmt::format("verify: {} acknowledged sectors (acknowledgements up to {}): {} bad, {} "
                    "hold a newer write",
                    sectors.size(), last_ack, bad, newer);
    if (summary)
        *summary = text;
    else
        fmt::print("{}\n", text);
    return bad ? 1 : 0;
}

} // namespace remaptest

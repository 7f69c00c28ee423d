// SPDX-License-Identifier: GPL-2.0-only OR MIT
//
// The stress test's workload (tests/vm/scenarios/stress.sh): writer and
// reader threads on a block device, every byte checked against a model.
//
//   remap-test-stress DEVICE [--writers W] [--readers R] [--seconds S]
//       [--block-size 512|4096] [--blocks N] [--seed S] [--failing F:N,...]
//       [--hot-blocks H --hot-period S --hot-file FILE] [--state FILE]
//   remap-test-stress DEVICE --verify-only --state FILE
//
// Blocks. The device is cut into blocks of --block-size bytes (smaller
// than the remap unit, so writes cover part of a unit). Block b belongs to
// writer b % W, so the blocks of one unit are written by different threads.
// Every write of block b has a generation, 1, 2, ... (0: never written, the
// block reads as zeroes), and its contents follow from (seed, writer, b,
// generation): sector 0 starts with a header (magic, writer, block size,
// block, generation, seed, checksum), each other 512-byte sector with
// (block, generation), the rest is generated. The checksum covers the
// whole block but its own field.
//
// Writers. Each writer picks one of its blocks (half of the time in the
// hot window, else anywhere), stores generation g+1 as issued, writes the
// block with O_DIRECT pwrite, and on success stores it as acknowledged
// (std::atomic arrays, release). A write that fails with EIO is allowed
// only on the blocks of --failing (block ranges FIRST:COUNT); it is counted
// and the block's failed generation remembered. Any other error fails.
//
// Readers. Each reader picks a block (hot half of the time), loads its
// acknowledged generation a, reads the block with O_DIRECT and checks it:
// self-consistent (checksum, block number, writer, seed, every byte as
// generated) and NOT STALE: its generation g has a <= g <= issued (loaded
// after the read). A read error fails.
//
// Hot window. With --hot-blocks H, a window of H blocks (aligned to H)
// moves to a new random place every --hot-period seconds; with --hot-file
// its current place is written there as "FIRST_BLOCK COUNT", so the
// scenario can send remap messages for the units writers are busy with.
//
// End. After --seconds the threads stop, the device is fsync()ed and every
// block is read back: it must hold its last acknowledged generation, or,
// when its last write failed with EIO, that failed generation. --state
// FILE saves the model (block size, seed, writers, blocks, and per written
// block the acknowledged and the failed generation), and --verify-only
// --state FILE checks a device against it again, e.g. after a reload.
//
// Exit status: 0 all good, 1 a stale read, a corrupt block, a mismatch or
// an I/O error that is not allowed, 2 bad arguments or setup errors.
#include <CLI/CLI.hpp>
#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <fmt/core.h>
#include <fstream>
#include <memory>
#include <mutex>
#include <random>
#include <sstream>
#include <stdexcept>
#include <string>
#include <sys/stat.h>
#include <thread>
#include <unistd.h>
#include <vector>

namespace {

constexpr uint64_t kSector = 512;
constexpr uint64_t kMagic = 0x3153525453524d44ULL; // "DMRSTRS1"
constexpr size_t kChecksumWord = 5;                // header word with the checksum
constexpr int kMaxReports = 20;

[[noreturn]] void fail(const std::string& msg) {
    throw std::runtime_error(msg);
}

uint64_t mix(uint64_t x) {
    x += 0x9e3779b97f4a7c15ULL;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

void put64(uint8_t* p, uint64_t v) {
    std::memcpy(p, &v, 8);
}
uint64_t get64(const uint8_t* p) {
    uint64_t v;
    std::memcpy(&v, p, 8);
    return v;
}

struct AlignedBuf {
    uint8_t* p = nullptr;
    explicit AlignedBuf(size_t bytes) {
        void* q = nullptr;
        if (posix_memalign(&q, 4096, bytes) != 0)
            fail("out of memory");
        p = static_cast<uint8_t*>(q);
        std::memset(p, 0, bytes);
    }
    ~AlignedBuf() { free(p); }
    AlignedBuf(const AlignedBuf&) = delete;
    AlignedBuf& operator=(const AlignedBuf&) = delete;
};

struct Geometry {
    uint64_t bs = 4096, blocks = 0, seed = 1;
    uint32_t writers = 4;
    uint32_t owner(uint64_t b) const { return static_cast<uint32_t>(b % writers); }
};

uint64_t checksum(const uint8_t* p, uint64_t bs) {
    uint64_t h = 0x6a09e667f3bcc908ULL;
    for (uint64_t i = 0; i < bs / 8; i++)
        if (i != kChecksumWord)
            h = mix(h ^ get64(p + 8 * i));
    return h;
}

// The contents of generation gen of block b (gen >= 1).
void fill_block(uint8_t* p, const Geometry& g, uint64_t b, uint64_t gen) {
    uint64_t x = mix(g.seed ^ mix(b ^ mix(gen)));
    for (uint64_t i = 0; i < g.bs / 8; i++) {
        x = mix(x);
        put64(p + 8 * i, x);
    }
    for (uint64_t s = 1; s < g.bs / kSector; s++) {
        put64(p + s * kSector, b);
        put64(p + s * kSector + 8, gen);
    }
    put64(p, kMagic);
    put64(p + 8, (static_cast<uint64_t>(g.owner(b)) << 32) | g.bs);
    put64(p + 16, b);
    put64(p + 24, gen);
    put64(p + 32, g.seed);
    put64(p + 8 * kChecksumWord, checksum(p, g.bs));
}

bool all_zero(const uint8_t* p, uint64_t n) {
    return std::all_of(p, p + n, [](uint8_t c) { return c == 0; });
}

// What a block read holds: its generation (0: zeroes), or why it is not a
// consistent image of one of block b's generations.
struct Parsed {
    bool ok = false;
    uint64_t gen = 0;
    std::string why;
};

Parsed parse_block(const uint8_t* p, const Geometry& g, uint64_t b, uint8_t* scratch) {
    Parsed r;
    if (all_zero(p, g.bs)) {
        r.ok = true;
        return r;
    }
    if (get64(p) != kMagic) {
        r.why = "no magic";
        return r;
    }
    r.gen = get64(p + 24);
    if (get64(p + 8 * kChecksumWord) != checksum(p, g.bs)) {
        r.why = "bad checksum";
        return r;
    }
    if (get64(p + 16) != b) {
        r.why = fmt::format("holds block {}", get64(p + 16));
        return r;
    }
    if (get64(p + 8) != ((static_cast<uint64_t>(g.owner(b)) << 32) | g.bs) ||
        get64(p + 32) != g.seed) {
        r.why = "wrong writer, block size or seed";
        return r;
    }
    if (r.gen == 0) {
        r.why = "generation 0 in a header";
        return r;
    }
    fill_block(scratch, g, b, r.gen);
    if (std::memcmp(scratch, p, g.bs) != 0) {
        r.why = "contents differ from the generator's";
        return r;
    }
    r.ok = true;
    return r;
}

// Per 512-byte sector: the generation it names ("0" for zeroes, "?" for
// neither), for diagnostics.
std::string sector_gens(const uint8_t* p, const Geometry& g, uint64_t b) {
    std::string s;
    for (uint64_t k = 0; k < g.bs / kSector; k++) {
        const uint8_t* q = p + k * kSector;
        if (!s.empty())
            s += ' ';
        if (all_zero(q, kSector))
            s += '0';
        else if (k == 0 && get64(q) == kMagic && get64(q + 16) == b)
            s += std::to_string(get64(q + 24));
        else if (k != 0 && get64(q) == b)
            s += std::to_string(get64(q + 8));
        else
            s += '?';
    }
    return s;
}

// The model: per block the issued, the acknowledged and the failed
// generation (0: none; failed is set while the block's last write failed).
struct Model {
    std::unique_ptr<std::atomic<uint64_t>[]> issued, acked, failed;
    explicit Model(uint64_t n)
        : issued(new std::atomic<uint64_t>[n])
        , acked(new std::atomic<uint64_t>[n])
        , failed(new std::atomic<uint64_t>[n]) {
        for (uint64_t i = 0; i < n; i++) {
            issued[i].store(0);
            acked[i].store(0);
            failed[i].store(0);
        }
    }
};

struct Ranges {
    std::vector<std::pair<uint64_t, uint64_t>> r; // [first, first + count)
    bool contains(uint64_t b) const {
        return std::any_of(r.begin(), r.end(),
                           [&](const auto& x) { return b >= x.first && b < x.second; });
    }
};

Ranges parse_ranges(const std::string& spec) {
    Ranges out;
    std::istringstream in(spec);
    std::string t;
    while (std::getline(in, t, ',')) {
        if (t.empty())
            continue;
        const auto c = t.find(':');
        if (c == std::string::npos)
            fail(fmt::format("--failing: '{}' is not FIRST:COUNT", t));
        const uint64_t first = std::stoull(t.substr(0, c));
        out.r.emplace_back(first, first + std::stoull(t.substr(c + 1)));
    }
    return out;
}

struct Counts {
    uint64_t writes = 0, write_eio = 0, reads = 0, stale = 0, corrupt = 0, io_errors = 0;
};

std::mutex report_mu;
int reports = 0;
template <typename... Args> void report(fmt::format_string<Args...> f, Args&&... args) {
    std::lock_guard<std::mutex> l(report_mu);
    if (reports++ < kMaxReports)
        fmt::print(stderr, "stress: {}\n", fmt::format(f, std::forward<Args>(args)...));
}

struct Hot {
    std::atomic<uint64_t> first{0};
    uint64_t count = 0;
};

uint64_t pick_block(std::mt19937_64& rng, const Geometry& g, const Hot& hot) {
    if (hot.count && (rng() & 1)) {
        const uint64_t first = hot.first.load(std::memory_order_relaxed);
        const uint64_t b = first + rng() % hot.count;
        if (b < g.blocks)
            return b;
    }
    return rng() % g.blocks;
}

// A block of writer w: the first of w's blocks at or after b (wrapping).
uint64_t own(uint64_t b, uint32_t w, const Geometry& g) {
    b += (w + g.writers - g.owner(b)) % g.writers;
    if (b >= g.blocks)
        b = w;
    return b;
}

void writer(int fd, uint32_t w, const Geometry& g, Model& m, const Ranges& failing, const Hot& hot,
            const std::atomic<bool>& stop, Counts& c) {
    std::mt19937_64 rng(mix(g.seed ^ (0x1000 + w)));
    AlignedBuf buf(g.bs);
    while (!stop.load(std::memory_order_relaxed)) {
        const uint64_t b = own(pick_block(rng, g, hot), w, g);
        if (b >= g.blocks)
            continue;
        const uint64_t gen = m.issued[b].load(std::memory_order_relaxed) + 1;
        fill_block(buf.p, g, b, gen);
        m.issued[b].store(gen, std::memory_order_release);
        const ssize_t n = pwrite(fd, buf.p, g.bs, static_cast<off_t>(b * g.bs));
        const int err = errno;
        c.writes++;
        if (n == static_cast<ssize_t>(g.bs)) {
            m.failed[b].store(0, std::memory_order_relaxed);
            m.acked[b].store(gen, std::memory_order_release);
        } else if (n < 0 && err == EIO && failing.contains(b)) {
            c.write_eio++;
            m.failed[b].store(gen, std::memory_order_relaxed);
        } else {
            c.io_errors++;
            m.failed[b].store(gen, std::memory_order_relaxed);
            report("writer {}: write of block {} (generation {}) failed: {}", w, b, gen,
                   n < 0 ? std::strerror(err) : fmt::format("short write ({} bytes)", n));
        }
    }
}

void reader(int fd, uint32_t r, const Geometry& g, Model& m, const Hot& hot,
            const std::atomic<bool>& stop, Counts& c) {
    std::mt19937_64 rng(mix(g.seed ^ (0x2000 + r)));
    AlignedBuf buf(g.bs), scratch(g.bs);
    while (!stop.load(std::memory_order_relaxed)) {
        const uint64_t b = pick_block(rng, g, hot);
        const uint64_t a = m.acked[b].load(std::memory_order_acquire);
        const ssize_t n = pread(fd, buf.p, g.bs, static_cast<off_t>(b * g.bs));
        const int err = errno;
        const uint64_t hi = m.issued[b].load(std::memory_order_acquire);
        c.reads++;
        if (n != static_cast<ssize_t>(g.bs)) {
            c.io_errors++;
            report("reader {}: read of block {} failed: {}", r, b,
                   n < 0 ? std::strerror(err) : fmt::format("short read ({} bytes)", n));
            continue;
        }
        const Parsed p = parse_block(buf.p, g, b, scratch.p);
        if (!p.ok) {
            c.corrupt++;
            report("reader {}: block {} (byte {}) is corrupt: {}; acknowledged {}, issued {}; "
                   "sectors: {}",
                   r, b, b * g.bs, p.why, a, hi, sector_gens(buf.p, g, b));
        } else if (p.gen < a) {
            c.stale++;
            report("reader {}: STALE block {} (byte {}): generation {}, but {} was acknowledged "
                   "before the read (issued {}); sectors: {}",
                   r, b, b * g.bs, p.gen, a, hi, sector_gens(buf.p, g, b));
        } else if (p.gen > hi) {
            c.corrupt++;
            report("reader {}: block {} holds generation {}, never issued (issued {})", r, b, p.gen,
                   hi);
        }
    }
}

// Reads every block back and compares it with the model. Returns the
// number of mismatches (read errors included).
uint64_t verify_all(int fd, const Geometry& g, const std::vector<uint64_t>& acked,
                    const std::vector<uint64_t>& failed, uint64_t& checked) {
    constexpr uint64_t kChunk = 1 << 20;
    const uint64_t per = std::max<uint64_t>(1, kChunk / g.bs);
    AlignedBuf buf(per * g.bs), want(g.bs);
    uint64_t bad = 0;
    for (uint64_t b0 = 0; b0 < g.blocks; b0 += per) {
        const uint64_t nb = std::min(per, g.blocks - b0);
        const ssize_t n = pread(fd, buf.p, nb * g.bs, static_cast<off_t>(b0 * g.bs));
        if (n != static_cast<ssize_t>(nb * g.bs)) {
            const int err = errno;
            bad += nb;
            report("verify: read of blocks {}..{} failed: {}", b0, b0 + nb - 1,
                   n < 0 ? std::strerror(err) : fmt::format("short read ({} bytes)", n));
            continue;
        }
        for (uint64_t i = 0; i < nb; i++) {
            const uint64_t b = b0 + i;
            const uint8_t* p = buf.p + i * g.bs;
            checked++;
            auto is_gen = [&](uint64_t gen) {
                if (gen == 0)
                    return all_zero(p, g.bs);
                fill_block(want.p, g, b, gen);
                return std::memcmp(want.p, p, g.bs) == 0;
            };
            if (is_gen(acked[b]) || (failed[b] && is_gen(failed[b])))
                continue;
            bad++;
            report("verify: MISMATCH block {} (byte {}): expected generation {}{}; sectors: {}", b,
                   b * g.bs, acked[b],
                   failed[b] ? fmt::format(" or {} (its write failed)", failed[b]) : "",
                   sector_gens(p, g, b));
        }
    }
    return bad;
}

void save_state(const std::string& path, const Geometry& g, const std::vector<uint64_t>& acked,
                const std::vector<uint64_t>& failed) {
    const std::string tmp = path + ".tmp";
    {
        std::ofstream out(tmp);
        out << fmt::format("remap-test-stress 1 block_size {} blocks {} seed {} writers {}\n", g.bs,
                           g.blocks, g.seed, g.writers);
        for (uint64_t b = 0; b < g.blocks; b++)
            if (acked[b] || failed[b])
                out << b << ' ' << acked[b] << ' ' << failed[b] << '\n';
        if (!out.flush())
            fail(fmt::format("cannot write {}", tmp));
    }
    if (rename(tmp.c_str(), path.c_str()) != 0)
        fail(fmt::format("cannot rename {} to {}: {}", tmp, path, std::strerror(errno)));
}

void load_state(const std::string& path, Geometry& g, std::vector<uint64_t>& acked,
                std::vector<uint64_t>& failed) {
    std::ifstream in(path);
    if (!in)
        fail(fmt::format("cannot open {}", path));
    std::string magic, k1, k2, k3, k4;
    int version = 0;
    in >> magic >> version >> k1 >> g.bs >> k2 >> g.blocks >> k3 >> g.seed >> k4 >> g.writers;
    if (!in || magic != "remap-test-stress" || version != 1 || k1 != "block_size" ||
        k2 != "blocks" || k3 != "seed" || k4 != "writers" || g.writers == 0)
        fail(fmt::format("{} is not a remap-test-stress state file", path));
    acked.assign(g.blocks, 0);
    failed.assign(g.blocks, 0);
    uint64_t b, a, f;
    while (in >> b >> a >> f) {
        if (b >= g.blocks)
            fail(fmt::format("{}: block {} out of range", path, b));
        acked[b] = a;
        failed[b] = f;
    }
    if (!in.eof())
        fail(fmt::format("{}: bad line", path));
}

void write_hot_file(const std::string& path, uint64_t first, uint64_t count) {
    if (path.empty())
        return;
    const std::string tmp = path + ".tmp";
    {
        std::ofstream out(tmp);
        out << first << ' ' << count << '\n';
    }
    std::rename(tmp.c_str(), path.c_str());
}

struct Options {
    std::string device, state, failing, hot_file;
    uint32_t writers = 4, readers = 2;
    double seconds = 60, hot_period = 2;
    uint64_t bs = 4096, blocks = 0, seed = 1, hot_blocks = 0;
    bool verify_only = false;
};

int run(const Options& o) {
    const int fd = ::open(o.device.c_str(), O_RDWR | O_DIRECT | O_CLOEXEC);
    if (fd < 0)
        fail(fmt::format("cannot open {}: {}", o.device, std::strerror(errno)));
    const off_t dev_bytes = lseek(fd, 0, SEEK_END);
    if (dev_bytes <= 0)
        fail(fmt::format("cannot get the size of {}", o.device));
    Geometry g;
    std::vector<uint64_t> acked, failed;
    Counts total;
    const auto t0 = std::chrono::steady_clock::now();
    if (o.verify_only) {
        if (o.state.empty())
            fail("--verify-only needs --state FILE");
        load_state(o.state, g, acked, failed);
    } else {
        g.bs = o.bs;
        g.seed = o.seed;
        g.writers = o.writers;
        if (g.bs < kSector || g.bs % kSector || g.bs % 8)
            fail("--block-size must be a multiple of 512");
        if (g.writers == 0)
            fail("--writers must be at least 1");
        g.blocks = o.blocks ? o.blocks : static_cast<uint64_t>(dev_bytes) / g.bs;
        if (g.blocks == 0 || g.blocks * g.bs > static_cast<uint64_t>(dev_bytes))
            fail(fmt::format("--blocks {} of {} bytes do not fit in {} ({} bytes)", g.blocks, g.bs,
                             o.device, dev_bytes));
        const Ranges failing = parse_ranges(o.failing);
        Model m(g.blocks);
        Hot hot;
        hot.count = std::min(o.hot_blocks, g.blocks);
        std::mt19937_64 hot_rng(mix(g.seed ^ 0x3000));
        auto move_hot = [&] {
            if (!hot.count)
                return;
            const uint64_t first = hot_rng() % (g.blocks / hot.count) * hot.count;
            hot.first.store(first, std::memory_order_relaxed);
            write_hot_file(o.hot_file, first, hot.count);
        };
        move_hot();
        std::atomic<bool> stop{false};
        std::vector<Counts> wc(o.writers), rc(o.readers);
        std::vector<std::thread> threads;
        for (uint32_t w = 0; w < o.writers; w++)
            threads.emplace_back(writer, fd, w, std::cref(g), std::ref(m), std::cref(failing),
                                 std::cref(hot), std::cref(stop), std::ref(wc[w]));
        for (uint32_t r = 0; r < o.readers; r++)
            threads.emplace_back(reader, fd, r, std::cref(g), std::ref(m), std::cref(hot),
                                 std::cref(stop), std::ref(rc[r]));
        const auto end = t0 + std::chrono::duration<double>(o.seconds);
        auto next_hot = t0 + std::chrono::duration<double>(o.hot_period);
        while (std::chrono::steady_clock::now() < end) {
            std::this_thread::sleep_for(std::chrono::milliseconds(50));
            if (std::chrono::steady_clock::now() >= next_hot) {
                move_hot();
                next_hot += std::chrono::duration<double>(o.hot_period);
            }
        }
        stop = true;
        for (auto& t : threads)
            t.join();
        for (const auto* v : {&wc, &rc})
            for (const Counts& c : *v) {
                total.writes += c.writes;
                total.write_eio += c.write_eio;
                total.reads += c.reads;
                total.stale += c.stale;
                total.corrupt += c.corrupt;
                total.io_errors += c.io_errors;
            }
        if (fsync(fd) != 0) {
            total.io_errors++;
            report("fsync {}: {}", o.device, std::strerror(errno));
        }
        acked.resize(g.blocks);
        failed.resize(g.blocks);
        for (uint64_t b = 0; b < g.blocks; b++) {
            acked[b] = m.acked[b].load();
            failed[b] = m.failed[b].load();
        }
        if (!o.state.empty())
            save_state(o.state, g, acked, failed);
    }
    if (g.blocks * g.bs > static_cast<uint64_t>(dev_bytes))
        fail(fmt::format("{} is smaller than the model ({} blocks of {} bytes)", o.device, g.blocks,
                         g.bs));
    const auto t1 = std::chrono::steady_clock::now();
    uint64_t checked = 0;
    const uint64_t mismatches = verify_all(fd, g, acked, failed, checked);
    ::close(fd);
    const auto t2 = std::chrono::steady_clock::now();
    const uint64_t written = static_cast<uint64_t>(
        std::count_if(acked.begin(), acked.end(), [](uint64_t a) { return a != 0; }));
    const double run_s = std::chrono::duration<double>(t1 - t0).count();
    const double verify_s = std::chrono::duration<double>(t2 - t1).count();
    if (o.verify_only)
        fmt::print("stress: verify-only: {} blocks of {} bytes ({} written) checked in {:.1f} s, "
                   "{} mismatches\n",
                   checked, g.bs, written, verify_s, mismatches);
    else
        fmt::print("stress: {} s, {} writers, {} readers, {} blocks of {} bytes: writes={} "
                   "write_eio={} reads={} stale={} corrupt={} io_errors={} blocks_written={} "
                   "mismatches={} (verify {:.1f} s)\n",
                   static_cast<uint64_t>(run_s), o.writers, o.readers, g.blocks, g.bs, total.writes,
                   total.write_eio, total.reads, total.stale, total.corrupt, total.io_errors,
                   written, mismatches, verify_s);
    const bool bad = mismatches || total.stale || total.corrupt || total.io_errors;
    return bad ? 1 : 0;
}

} // namespace

int main(int argc, char** argv) {
    Options o;
    CLI::App app{"Stress a block device with writer and reader threads and check every block "
                 "against a model: no stale read, no lost write"};
    app.add_option("DEVICE", o.device, "block device (opened with O_DIRECT)")->required();
    app.add_option("--writers", o.writers, "writer threads (block b belongs to writer b % W)")
        ->capture_default_str();
    app.add_option("--readers", o.readers, "reader threads")->capture_default_str();
    app.add_option("--seconds", o.seconds, "how long the threads run")->capture_default_str();
    app.add_option("--block-size", o.bs, "bytes per block and per I/O (512 or 4096)")
        ->capture_default_str();
    app.add_option("--blocks", o.blocks, "blocks used from the start (default: the whole device)");
    app.add_option("--seed", o.seed, "seed of the data and of the choices")->capture_default_str();
    app.add_option("--failing", o.failing,
                   "block ranges FIRST:COUNT,... where a write may fail with EIO");
    app.add_option("--hot-blocks", o.hot_blocks,
                   "size of the hot window that gets half of the I/O (0: none)")
        ->capture_default_str();
    app.add_option("--hot-period", o.hot_period, "seconds before the hot window moves")
        ->capture_default_str();
    app.add_option("--hot-file", o.hot_file, "where to write the hot window: FIRST_BLOCK COUNT");
    app.add_option("--state", o.state, "model file: written at the end, read by --verify-only");
    app.add_flag("--verify-only", o.verify_only, "only verify DEVICE against the model of --state");
    CLI11_PARSE(app, argc, argv);
    try {
        return run(o);
    } catch (const std::exception& e) {
        fmt::print(stderr, "remap-test-stress: {}\n", e.what());
        return 2;
    }
}

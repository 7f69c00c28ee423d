// SPDX-License-Identifier: GPL-2.0-only OR MIT
//
// Microbenchmark of the remap lookup (kernel/lookup/rm_lookup.c), the same
// C that the module's map() runs. Not a test: it reports figures.
//
//   lookup-bench                      ns per lookup for 0, 16K and 1M entries, hit and miss;
//                                     the cost of recording one change; sorting
//   lookup-bench --count N E hit|miss [view|view-delta]
//                                     only N lookups on a table of E entries (for callgrind:
//                                     instructions per lookup = (Ir(N) - Ir(0)) / N); with
//                                     `view`, the map path's rm_view_first_in() over the
//                                     table alone (no recent changes), with `view-delta`
//                                     over the table and a full delta in front of it
#include "rm_format.h"
#include "rm_lookup.h"

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <vector>

namespace {

constexpr uint64_t main_units = 1ull << 28; // a 1 TiB main device at 4 KiB units

struct Table {
    std::vector<uint64_t> mem;
    rm_lookup lk{};
    std::vector<uint64_t> keys; // present keys, in random order
};

Table make_table(uint64_t n) {
    Table t;
    std::mt19937_64 rng(42);
    std::vector<rm_lookup_entry> e;
    e.reserve(n);
    while (e.size() < n) {
        const uint64_t k = rng() % main_units;
        e.push_back(
            {k, static_cast<uint32_t>(e.size()), rm_lookup_pack(e.size(), RM4_STATE_REMAPPED)});
    }
    std::sort(e.begin(), e.end(), [](auto& a, auto& b) { return a.main < b.main; });
    e.erase(std::unique(e.begin(), e.end(), [](auto& a, auto& b) { return a.main == b.main; }),
            e.end());
    t.mem.resize(rm_lookup_bytes(e.size(), main_units) / 8 + 1);
    rm_lookup_init(&t.lk, t.mem.data(), e.size(), main_units);
    std::copy(e.begin(), e.end(), t.lk.e);
    rm_lookup_index(&t.lk);
    for (const auto& x : e)
        t.keys.push_back(x.main);
    std::shuffle(t.keys.begin(), t.keys.end(), rng);
    return t;
}

// Keys to look up: present ones (hit) or absent ones (miss).
std::vector<uint64_t> probe_keys(const Table& t, bool hit, size_t count) {
    std::vector<uint64_t> keys;
    std::mt19937_64 rng(7);
    while (keys.size() < count) {
        if (hit && !t.keys.empty()) {
            keys.push_back(t.keys[keys.size() % t.keys.size()]);
        } else {
            const uint64_t k = rng() % main_units;
            if (!rm_lookup_find(&t.lk, k))
                keys.push_back(k);
        }
    }
    return keys;
}

uint64_t run(const Table& t, const std::vector<uint64_t>& keys) {
    uint64_t found = 0;
    for (const uint64_t k : keys)
        found += rm_lookup_find(&t.lk, k) != nullptr;
    return found;
}

// A delta of `n` changes to units the table does not hold, as the module
// has just before a fold (n = rm_lookup_delta_limit()).
struct Delta {
    std::vector<uint64_t> mem;
    rm_lookup lk{};
};

std::vector<rm_lookup_entry> new_changes(const Table& t, uint64_t n, uint32_t seed) {
    std::mt19937_64 rng(seed);
    std::vector<rm_lookup_entry> c;
    while (c.size() < n) {
        const uint64_t k = rng() % main_units;
        if (!rm_lookup_find(&t.lk, k))
            c.push_back({k, 1u << 29, rm_lookup_pack(c.size(), RM4_STATE_REMAPPED)});
    }
    std::sort(c.begin(), c.end(), [](auto& a, auto& b) { return a.main < b.main; });
    c.erase(std::unique(c.begin(), c.end(), [](auto& a, auto& b) { return a.main == b.main; }),
            c.end());
    return c;
}

void merge_into(const rm_lookup* old, const std::vector<rm_lookup_entry>& c, bool delta,
                Delta& out) {
    const uint64_t n = delta ? rm_lookup_delta_count(old, c.data(), c.size())
                             : rm_lookup_merge_count(old, c.data(), c.size());
    out.mem.assign(rm_lookup_bytes(n, main_units) / 8 + 1, 0);
    rm_lookup_init(&out.lk, out.mem.data(), n, main_units);
    if (delta)
        rm_lookup_delta_merge(old, c.data(), c.size(), &out.lk);
    else
        rm_lookup_merge(old, c.data(), c.size(), &out.lk);
}

Delta make_delta(const Table& t, uint64_t n) {
    Delta d;
    merge_into(nullptr, new_changes(t, n, 99), true, d);
    return d;
}

// What map() asks for a one-unit bio: rm_view_first_in().
uint64_t run_view(const rm_lookup_view& v, const std::vector<uint64_t>& keys) {
    uint64_t found = 0;
    rm_lookup_entry e;
    __u64 run = 0;
    for (const uint64_t k : keys)
        found += static_cast<uint64_t>(rm_view_first_in(&v, k, k, RM4_STATE_REMAPPED, &e, &run));
    return found;
}

template <typename F> double best_ns(F&& f, int rounds = 5) {
    double best = 1e18;
    for (int round = 0; round < rounds; ++round) {
        const auto t0 = std::chrono::steady_clock::now();
        f();
        const auto t1 = std::chrono::steady_clock::now();
        best = std::min(best, std::chrono::duration<double, std::nano>(t1 - t0).count());
    }
    return best;
}

// The lookups map() makes, through the view: the table alone (no recent
// changes) and with a full delta in front of it.
void view_figures() {
    std::printf("\n| entries | delta entries | hit ns/lookup | miss ns/lookup |\n"
                "|---:|---:|---:|---:|\n");
    for (const uint64_t n : {16384ull, 1048576ull}) {
        const Table t = make_table(n);
        const Delta d = make_delta(t, rm_lookup_delta_limit(t.lk.nr));
        for (const bool with_delta : {false, true}) {
            const rm_lookup_view v{&t.lk, with_delta ? &d.lk : nullptr};
            double ns[2];
            for (int hit = 1; hit >= 0; --hit) {
                const auto keys = probe_keys(t, hit, 1 << 20);
                uint64_t found = 0;
                ns[hit] =
                    best_ns([&] { found = run_view(v, keys); }) / static_cast<double>(keys.size());
                if (found > keys.size())
                    std::exit(1);
            }
            std::printf("| %llu | %llu | %.1f | %.1f |\n", static_cast<unsigned long long>(n),
                        static_cast<unsigned long long>(with_delta ? d.lk.nr : 0), ns[1], ns[0]);
        }
    }
}

// Recording one change: before the delta, every commit rebuilt the whole
// table; now it rebuilds the delta (at worst full), and the table once per
// rm_lookup_delta_limit() changes (the fold).
void change_figures() {
    std::printf("\n| entries | rebuild of the table (per change before) | delta limit | delta "
                "copy, full delta | fold | per change now (copy + fold / limit) |\n"
                "|---:|---:|---:|---:|---:|---:|\n");
    for (const uint64_t n : {16384ull, 1048576ull}) {
        const Table t = make_table(n);
        const uint64_t limit = rm_lookup_delta_limit(t.lk.nr);
        const Delta d = make_delta(t, limit - 1);
        const auto one = new_changes(t, 1, 5);
        const std::vector<rm_lookup_entry> folded(d.lk.e, d.lk.e + d.lk.nr);
        Delta out;
        const double rebuild = best_ns([&] { merge_into(&t.lk, one, false, out); });
        const double copy = best_ns([&] { merge_into(&d.lk, one, true, out); });
        const double fold = best_ns([&] { merge_into(&t.lk, folded, false, out); });
        std::printf("| %llu | %.1f µs | %llu | %.1f µs | %.1f µs | %.1f µs |\n",
                    static_cast<unsigned long long>(n), rebuild / 1e3,
                    static_cast<unsigned long long>(limit), copy / 1e3, fold / 1e3,
                    (copy + fold / static_cast<double>(limit)) / 1e3);
    }
}

// Activation turns the loaded entries, in table (random) order, into the
// lookup: before, a sort (a heapsort, later a radix sort with 16 MiB of
// scratch memory), a copy into the lookup and rm_lookup_index(); now
// rm_lookup_build(). The heapsort is still here (rm_lookup_build() sorts
// its largest buckets with it). Best of 3 rounds, a million entries spread
// at random over main_units, and in runs of 256 consecutive units (the VM
// bench's table) over a 16 GiB device.
void sort_figures() {
    std::printf(
        "\n| about 1048576 entries, from table order to a lookup | random, 1 TiB | 4096 runs "
        "of 256, 16 GiB |\n|---|---:|---:|\n");
    const uint64_t runs = 4096, runs_units = 1ull << 22;
    std::mt19937_64 rng(3);
    std::vector<rm_lookup_entry> random_in, runs_in;
    const Table t = make_table(1048576); // distinct units
    for (const uint64_t k : t.keys)      // in random order
        random_in.push_back(*rm_lookup_find(&t.lk, k));
    const uint64_t period = (runs_units * 15 / 16) / runs;
    for (uint64_t r = 0; r < runs; r++)
        for (uint64_t u = 0; u < 256; u++)
            runs_in.push_back({r * period + u, static_cast<uint32_t>(runs_in.size()),
                               rm_lookup_pack(runs_in.size(), RM4_STATE_REMAPPED)});
    std::shuffle(runs_in.begin(), runs_in.end(), rng);

    const char* names[] = {"heapsort, copy, rm_lookup_index", "rm_lookup_build"};
    for (int how = 0; how < 2; how++) {
        double ms[2];
        for (int which = 0; which < 2; which++) {
            const auto& in = which ? runs_in : random_in;
            const uint64_t units = which ? runs_units : main_units;
            const uint64_t n = in.size();
            std::vector<uint64_t> mem(rm_lookup_bytes(n, units) / 8 + 1);
            double best = 1e12;
            for (int round = 0; round < 3; ++round) {
                auto e = in;
                rm_lookup lk{};
                rm_lookup_init(&lk, mem.data(), n, units);
                const auto t0 = std::chrono::steady_clock::now();
                __u64 dup = 0;
                if (how == 1) {
                    if (rm_lookup_build(&lk, e.data(), &dup))
                        std::exit(1);
                } else {
                    rm_lookup_sort(e.data(), n);
                    std::memcpy(lk.e, e.data(), n * sizeof(e[0]));
                    rm_lookup_index(&lk);
                }
                const auto t1 = std::chrono::steady_clock::now();
                best = std::min(best, std::chrono::duration<double, std::milli>(t1 - t0).count());
            }
            ms[which] = best;
        }
        std::printf("| %s | %.1f ms | %.1f ms |\n", names[how], ms[0], ms[1]);
    }
}

} // namespace

int main(int argc, char** argv) {
    if ((argc == 5 || (argc == 6 && (std::strcmp(argv[5], "view") == 0 ||
                                     std::strcmp(argv[5], "view-delta") == 0))) &&
        std::strcmp(argv[1], "--count") == 0) {
        const size_t count = std::strtoull(argv[2], nullptr, 10);
        const Table t = make_table(std::strtoull(argv[3], nullptr, 10));
        // The same keys whatever the count, so that only the lookups differ.
        const auto keys = probe_keys(t, std::strcmp(argv[4], "hit") == 0, 100000);
        const std::vector<uint64_t> used(
            keys.begin(), keys.begin() + static_cast<long>(std::min(count, keys.size())));
        if (argc == 6) {
            const bool with_delta = std::strcmp(argv[5], "view-delta") == 0;
            const Delta d = make_delta(t, with_delta ? rm_lookup_delta_limit(t.lk.nr) : 0);
            const rm_lookup_view v{&t.lk, with_delta ? &d.lk : nullptr};
            std::printf("%llu\n", static_cast<unsigned long long>(run_view(v, used)));
        } else {
            std::printf("%llu\n", static_cast<unsigned long long>(run(t, used)));
        }
        return 0;
    }
    std::printf(
        "| entries | bytes/entry | hit ns/lookup | miss ns/lookup |\n|---:|---:|---:|---:|\n");
    for (const uint64_t n : {0ull, 16384ull, 1048576ull}) {
        const Table t = make_table(n);
        double ns[2];
        for (int hit = 1; hit >= 0; --hit) {
            const auto keys = probe_keys(t, hit, 1 << 20);
            double best = 1e9;
            for (int round = 0; round < 5; ++round) {
                const auto t0 = std::chrono::steady_clock::now();
                const uint64_t found = run(t, keys);
                const auto t1 = std::chrono::steady_clock::now();
                if (found != (hit && n ? keys.size() : 0))
                    return 1;
                best = std::min(best, std::chrono::duration<double, std::nano>(t1 - t0).count() /
                                          static_cast<double>(keys.size()));
            }
            ns[hit] = best;
        }
        const double bpe = n ? static_cast<double>(rm_lookup_bytes(t.lk.nr, main_units)) /
                                   static_cast<double>(t.lk.nr)
                             : 0.0;
        std::printf("| %llu | %.1f | %.1f | %.1f |\n", static_cast<unsigned long long>(n), bpe,
                    ns[1], ns[0]);
    }
    view_figures();
    change_figures();
    sort_figures();
    return 0;
}

// SPDX-License-Identifier: GPL-2.0-only OR MIT
//
// Microbenchmark of the remap lookup (kernel/lookup/rm_lookup.c), the same
// C that the module's map() runs. Not a test: it reports figures.
//
//   lookup-bench                      ns per lookup for 0, 16K and 1M entries, hit and miss
//   lookup-bench --count N E hit|miss only N lookups on a table of E entries (for callgrind:
//                                     instructions per lookup = (Ir(N) - Ir(0)) / N)
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

// Activation sorts the loaded entries: the heapsort against the radix
// sort the module uses, on a million entries in table (random) order, best
// of 3 rounds.
void sort_figures() {
    std::printf("\n| sort of 1048576 entries | ms |\n|---|---:|\n");
    std::mt19937_64 rng(3);
    std::vector<rm_lookup_entry> in(1048576);
    for (size_t i = 0; i < in.size(); i++)
        in[i] = {rng() % main_units, static_cast<uint32_t>(i),
                 rm_lookup_pack(i, RM4_STATE_REMAPPED)};
    std::vector<uint64_t> scratch(rm_lookup_radix_scratch(in.size()) / 8 + 1);
    for (const bool radix : {false, true}) {
        double best = 1e12;
        for (int round = 0; round < 3; ++round) {
            auto e = in;
            const auto t0 = std::chrono::steady_clock::now();
            if (radix)
                rm_lookup_radix_sort(e.data(), e.size(), main_units, scratch.data());
            else
                rm_lookup_sort(e.data(), e.size());
            const auto t1 = std::chrono::steady_clock::now();
            best = std::min(best, std::chrono::duration<double, std::milli>(t1 - t0).count());
        }
        std::printf("| %s | %.1f |\n", radix ? "rm_lookup_radix_sort" : "rm_lookup_sort (heapsort)",
                    best);
    }
}

} // namespace

int main(int argc, char** argv) {
    if (argc == 5 && std::strcmp(argv[1], "--count") == 0) {
        const size_t count = std::strtoull(argv[2], nullptr, 10);
        const Table t = make_table(std::strtoull(argv[3], nullptr, 10));
        // The same keys whatever the count, so that only the lookups differ.
        const auto keys = probe_keys(t, std::strcmp(argv[4], "hit") == 0, 100000);
        const std::vector<uint64_t> used(
            keys.begin(), keys.begin() + static_cast<long>(std::min(count, keys.size())));
        std::printf("%llu\n", static_cast<unsigned long long>(run(t, used)));
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
    sort_figures();
    return 0;
}

// SPDX-License-Identifier: GPL-2.0-only OR MIT
//
// The remap lookup (kernel/lookup/rm_lookup.c), the same C the module's
// map() runs, checked against std::map on random, clustered and edge-case
// tables.
#include "rm_format.h"
#include "rm_lookup.h"

#include <algorithm>
#include <cstdint>
#include <gtest/gtest.h>
#include <map>
#include <random>
#include <vector>

namespace {

struct Lookup {
    std::vector<uint64_t> mem; // 8-byte aligned backing store
    rm_lookup lk{};

    Lookup(std::vector<rm_lookup_entry> entries, uint64_t main_units) {
        mem.resize(rm_lookup_bytes(entries.size(), main_units) / 8 + 1);
        rm_lookup_init(&lk, mem.data(), entries.size(), main_units);
        rm_lookup_sort(entries.data(), entries.size());
        std::copy(entries.begin(), entries.end(), lk.e);
        rm_lookup_index(&lk);
    }
};

rm_lookup_entry entry(uint64_t main, uint32_t spare, uint64_t slot,
                      unsigned state = RM4_STATE_REMAPPED) {
    return {main, spare, rm_lookup_pack(slot, state)};
}

// Random distinct keys; `cluster` packs them into a few dense runs.
std::map<uint64_t, rm_lookup_entry> random_table(size_t n, uint64_t units, bool cluster,
                                                 uint32_t seed) {
    std::mt19937_64 rng(seed);
    std::map<uint64_t, rm_lookup_entry> m;
    uint64_t base = 0;
    while (m.size() < n) {
        uint64_t k;
        if (cluster) {
            if (m.size() % 1000 == 0)
                base = rng() % (units - 5000);
            k = base + rng() % 5000;
        } else {
            k = rng() % units;
        }
        m.emplace(k, entry(k, static_cast<uint32_t>(m.size()), m.size()));
    }
    return m;
}

void check_against(const Lookup& l, const std::map<uint64_t, rm_lookup_entry>& m, uint64_t units,
                   uint32_t seed) {
    ASSERT_EQ(l.lk.nr, m.size());
    for (const auto& [k, e] : m) {
        const rm_lookup_entry* hit = rm_lookup_find(&l.lk, k);
        ASSERT_NE(hit, nullptr) << "unit " << k;
        EXPECT_EQ(hit->spare, e.spare);
        EXPECT_EQ(hit->slot_state, e.slot_state);
    }
    std::vector<uint64_t> keys;
    for (const auto& [k, e] : m)
        keys.push_back(k);
    std::mt19937_64 rng(seed);
    for (int i = 0; i < 20000; ++i) {
        const uint64_t k = rng() % units;
        const auto it = std::lower_bound(keys.begin(), keys.end(), k);
        const auto want = static_cast<uint64_t>(it - keys.begin());
        ASSERT_EQ(rm_lookup_lower_bound(&l.lk, k), want) << "unit " << k;
        EXPECT_EQ(rm_lookup_find(&l.lk, k) != nullptr, it != keys.end() && *it == k);
    }
}

TEST(Lookup, EmptyTableFindsNothing) {
    Lookup l({}, 1000);
    EXPECT_EQ(rm_lookup_find(&l.lk, 0), nullptr);
    EXPECT_EQ(rm_lookup_lower_bound(&l.lk, 999), 0u);
}

TEST(Lookup, PackKeepsSlotAndState) {
    const rm_lookup_entry e = entry(7, 3, RM_LOOKUP_SLOT_MASK, RM4_STATE_PENDING);
    EXPECT_EQ(rm_lookup_slot(&e), RM_LOOKUP_SLOT_MASK);
    EXPECT_EQ(rm_lookup_state(&e), RM4_STATE_PENDING);
    EXPECT_NE(e.slot_state, 0u) << "0 means 'remove' to rm_lookup_merge";
}

TEST(Lookup, RandomTablesMatchStdMap) {
    for (const uint64_t units : {1000ull, 1ull << 20, 1ull << 40}) {
        for (const size_t n : {1ul, 2ul, 17ul, 999ul, 50000ul}) {
            if (n > units / 2)
                continue;
            const auto m = random_table(n, units, false, static_cast<uint32_t>(n + units));
            std::vector<rm_lookup_entry> v;
            for (const auto& [k, e] : m)
                v.push_back(e);
            std::shuffle(v.begin(), v.end(), std::mt19937(1));
            Lookup l(v, units);
            SCOPED_TRACE(testing::Message() << "units=" << units << " n=" << n);
            check_against(l, m, units, 7);
        }
    }
}

TEST(Lookup, ClusteredKeysStillFound) {
    const uint64_t units = 1ull << 30;
    const auto m = random_table(20000, units, true, 3);
    std::vector<rm_lookup_entry> v;
    for (const auto& [k, e] : m)
        v.push_back(e);
    Lookup l(v, units);
    check_against(l, m, units, 9);
}

TEST(Lookup, LastUnitAndUnitZero) {
    const uint64_t units = 12345;
    Lookup l({entry(0, 1, 0), entry(units - 1, 2, 1)}, units);
    ASSERT_NE(rm_lookup_find(&l.lk, 0), nullptr);
    ASSERT_NE(rm_lookup_find(&l.lk, units - 1), nullptr);
    EXPECT_EQ(rm_lookup_find(&l.lk, units - 1)->spare, 2u);
    EXPECT_EQ(rm_lookup_lower_bound(&l.lk, 1), 1u);
    EXPECT_EQ(rm_lookup_lower_bound(&l.lk, units), 2u) << "past the end";
}

TEST(Lookup, MergeInsertsReplacesAndRemoves) {
    const uint64_t units = 1 << 20;
    auto m = random_table(5000, units, false, 11);
    std::vector<rm_lookup_entry> v;
    for (const auto& [k, e] : m)
        v.push_back(e);
    Lookup old(v, units);

    // Changes: remove every 10th, replace every 7th, insert new ones.
    std::map<uint64_t, rm_lookup_entry> changes;
    size_t i = 0;
    for (const auto& [k, e] : m) {
        if (i % 10 == 0)
            changes[k] = {k, 0, 0};
        else if (i % 7 == 0)
            changes[k] = entry(k, 999999, 42, RM4_STATE_PENDING);
        ++i;
    }
    std::mt19937_64 rng(5);
    while (changes.size() < 1500) {
        const uint64_t k = rng() % units;
        if (!m.contains(k))
            changes[k] = entry(k, 123, 77);
    }
    std::vector<rm_lookup_entry> cv;
    for (const auto& [k, c] : changes) {
        cv.push_back(c);
        if (c.slot_state == 0)
            m.erase(k);
        else
            m[k] = c;
    }

    const uint64_t count = rm_lookup_merge_count(&old.lk, cv.data(), cv.size());
    ASSERT_EQ(count, m.size());
    std::vector<uint64_t> mem(rm_lookup_bytes(count, units) / 8 + 1);
    Lookup out({}, units);
    rm_lookup_init(&out.lk, mem.data(), count, units);
    rm_lookup_merge(&old.lk, cv.data(), cv.size(), &out.lk);
    check_against(out, m, units, 13);
}

TEST(Lookup, MergeIntoEmpty) {
    const rm_lookup_entry add[] = {entry(3, 1, 0), entry(9, 2, 1)};
    ASSERT_EQ(rm_lookup_merge_count(nullptr, add, 2), 2u);
    std::vector<uint64_t> mem(rm_lookup_bytes(2, 100) / 8 + 1);
    rm_lookup lk{};
    rm_lookup_init(&lk, mem.data(), 2, 100);
    rm_lookup_merge(nullptr, add, 2, &lk);
    EXPECT_NE(rm_lookup_find(&lk, 3), nullptr);
    EXPECT_NE(rm_lookup_find(&lk, 9), nullptr);
    EXPECT_EQ(rm_lookup_find(&lk, 4), nullptr);
}

// Issue 9's goal is at most 24 bytes of kernel memory per remap.
// The radix sort the module's activation uses gives what the heapsort
// gives, over key spaces that take one to five passes (an odd count ends in
// the scratch array and is copied back), random and clustered keys.
TEST(Lookup, RadixSortMatchesHeapsort) {
    for (const uint64_t units : {2ull, 1000ull, 1ull << 22, 1ull << 33, 1ull << 55}) {
        for (const size_t n : {0ul, 1ul, 2ul, 3ul, 999ul, 70000ul}) {
            if (n > units)
                continue;
            for (const bool cluster : {false, true}) {
                if (cluster && units < 10000)
                    continue;
                const auto m =
                    random_table(n, units, cluster, static_cast<uint32_t>(n * 3 + units));
                std::vector<rm_lookup_entry> v;
                for (const auto& [k, e] : m)
                    v.push_back(e);
                std::shuffle(v.begin(), v.end(), std::mt19937(5));
                auto heap = v;
                rm_lookup_sort(heap.data(), heap.size());
                std::vector<uint64_t> scratch(rm_lookup_radix_scratch(v.size()) / 8 + 1);
                rm_lookup_radix_sort(v.data(), v.size(), units, scratch.data());
                SCOPED_TRACE(testing::Message()
                             << "units=" << units << " n=" << n << " cluster=" << cluster);
                ASSERT_EQ(v.size(), heap.size());
                for (size_t i = 0; i < v.size(); i++) {
                    ASSERT_EQ(v[i].main, heap[i].main) << i;
                    ASSERT_EQ(v[i].spare, heap[i].spare) << i;
                    ASSERT_EQ(v[i].slot_state, heap[i].slot_state) << i;
                }
            }
        }
    }
}

TEST(Lookup, MemoryPerEntryIsAtMostTwentyBytes) {
    for (const uint64_t n : {16384ull, 1048576ull})
        EXPECT_LE(static_cast<double>(rm_lookup_bytes(n, 1ull << 32)) / static_cast<double>(n),
                  20.0)
            << n << " entries";
}

} // namespace

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

// Applies changes by unit to m (slot_state 0 removes) and returns them
// sorted, as rm_lookup_merge() takes them.
std::vector<rm_lookup_entry> apply_changes(const std::map<uint64_t, rm_lookup_entry>& changes,
                                           std::map<uint64_t, rm_lookup_entry>& m) {
    std::vector<rm_lookup_entry> cv;
    for (const auto& [k, c] : changes) {
        cv.push_back(c);
        if (c.slot_state == 0)
            m.erase(k);
        else
            m[k] = c;
    }
    return cv;
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
    const std::vector<rm_lookup_entry> cv = apply_changes(changes, m);

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

// A base and a delta in front of it, as the module keeps them: batches of
// random changes (new remaps, pending units, replacements, removals of
// entries in the base, in the delta and of units in neither) go into the
// delta, which is folded into a new base when it reaches the limit. After
// every batch, every unit's entry and random range queries agree with a
// std::map that took the same changes.
struct View {
    uint64_t units;
    std::vector<uint64_t> base_mem, delta_mem;
    rm_lookup base{}, delta{};
    bool has_base = false;

    explicit View(uint64_t u)
        : units(u) {
        rm_lookup_init(&delta, delta_mem_for(0), 0, units);
        rm_lookup_index(&delta);
    }
    uint64_t* delta_mem_for(uint64_t n) {
        delta_mem.assign(rm_lookup_bytes(n, units) / 8 + 1, 0);
        return delta_mem.data();
    }
    // As the module makes it: an empty delta is NULL (the base alone).
    rm_lookup_view view() const {
        return {has_base ? &base : nullptr, delta.nr ? &delta : nullptr};
    }

    void apply(const std::vector<rm_lookup_entry>& changes) {
        const uint64_t n = rm_lookup_delta_count(&delta, changes.data(), changes.size());
        std::vector<uint64_t> mem(rm_lookup_bytes(n, units) / 8 + 1);
        rm_lookup out{};
        rm_lookup_init(&out, mem.data(), n, units);
        rm_lookup_delta_merge(&delta, changes.data(), changes.size(), &out);
        delta_mem = std::move(mem); // the buffer moves with it
        delta = out;
    }
    void fold() {
        const rm_lookup* old = has_base ? &base : nullptr;
        const uint64_t n = rm_lookup_merge_count(old, delta.e, delta.nr);
        std::vector<uint64_t> mem(rm_lookup_bytes(n, units) / 8 + 1);
        rm_lookup out{};
        rm_lookup_init(&out, mem.data(), n, units);
        rm_lookup_merge(old, delta.e, delta.nr, &out);
        base_mem = std::move(mem);
        base = out;
        has_base = true;
        rm_lookup_init(&delta, delta_mem_for(0), 0, units);
        rm_lookup_index(&delta);
    }
};

void check_view(const View& v, const std::map<uint64_t, rm_lookup_entry>& m,
                const std::vector<uint64_t>& probe, std::mt19937_64& rng) {
    const rm_lookup_view view = v.view();
    for (const uint64_t k : probe) {
        const rm_lookup_entry* hit = rm_view_find(&view, k);
        const auto it = m.find(k);
        ASSERT_EQ(hit != nullptr, it != m.end()) << "unit " << k;
        if (hit) {
            EXPECT_EQ(hit->spare, it->second.spare) << "unit " << k;
            EXPECT_EQ(hit->slot_state, it->second.slot_state) << "unit " << k;
        }
    }
    // Positions, as the list message counts them.
    ASSERT_EQ(rm_view_count(&view), m.size());
    uint64_t pos = 0;
    for (auto it = m.begin(); it != m.end(); ++it, ++pos) {
        __u64 unit = 0;
        ASSERT_EQ(rm_view_unit_at(&view, pos, &unit), 1) << "position " << pos;
        ASSERT_EQ(unit, it->first) << "position " << pos;
    }
    __u64 unit = 0;
    EXPECT_EQ(rm_view_unit_at(&view, m.size(), &unit), 0) << "past the end";
    EXPECT_EQ(rm_view_unit_at(&view, UINT64_MAX, &unit), 0) << "far past the end";
    // A walk from a random unit sees the map's entries from there, in order.
    rm_view_walk w;
    const uint64_t from = rng() % v.units;
    rm_view_walk_start(&w, &view, from);
    for (auto it = m.lower_bound(from); it != m.end(); ++it) {
        const rm_lookup_entry* e = rm_view_walk_next(&w);
        ASSERT_NE(e, nullptr);
        ASSERT_EQ(e->main, it->first);
        ASSERT_EQ(e->slot_state, it->second.slot_state);
    }
    EXPECT_EQ(rm_view_walk_next(&w), nullptr);
    for (int q = 0; q < 2000; ++q) {
        const uint64_t first = rng() % v.units;
        const uint64_t last = std::min(v.units - 1, first + rng() % 64);
        rm_lookup_entry e{};
        __u64 run = 0;
        const int got = rm_view_first_in(&view, first, last, RM4_STATE_REMAPPED, &e, &run);
        auto it = m.lower_bound(first);
        if (it == m.end() || it->first > last) {
            ASSERT_EQ(got, 0) << "range " << first << ".." << last;
            continue;
        }
        ASSERT_EQ(got, 1) << "range " << first << ".." << last;
        EXPECT_EQ(e.main, it->first);
        EXPECT_EQ(e.slot_state, it->second.slot_state);
        uint64_t want = 1;
        const rm_lookup_entry x = it->second;
        if (rm_lookup_state(&x) == RM4_STATE_REMAPPED)
            for (++it; it != m.end() && it->first == x.main + want && it->first <= last &&
                       it->second.spare == x.spare + want &&
                       rm_lookup_state(&it->second) == RM4_STATE_REMAPPED;
                 ++it)
                ++want;
        EXPECT_EQ(run, want) << "range " << first << ".." << last;
    }
}

TEST(LookupView, DeltaInFrontOfBaseMatchesStdMap) {
    const uint64_t units = 4096; // small, so that changes hit each other often
    std::mt19937_64 rng(21);
    std::map<uint64_t, rm_lookup_entry> m;
    View v(units);
    std::vector<uint64_t> probe(units);
    for (uint64_t k = 0; k < units; ++k)
        probe[k] = k;
    uint32_t next_spare = 0;
    for (int batch = 0; batch < 300; ++batch) {
        std::map<uint64_t, rm_lookup_entry> changes;
        const int n = 1 + static_cast<int>(rng() % 40);
        for (int i = 0; i < n; ++i) {
            const uint64_t k = rng() % units;
            switch (rng() % 5) {
            case 0:
            case 1: // remaps in runs of consecutive units and spare blocks
                for (uint64_t r = 0, len = 1 + rng() % 6; r < len && k + r < units; ++r)
                    changes[k + r] = entry(k + r, next_spare++, k + r);
                break;
            case 2:
                changes[k] = entry(k, RM_LOOKUP_NO_SPARE, k, RM4_STATE_PENDING);
                break;
            default: // a removal, whether or not the unit has an entry
                changes[k] = {k, 0, 0};
            }
        }
        const std::vector<rm_lookup_entry> cv = apply_changes(changes, m);
        v.apply(cv);
        if (v.delta.nr >= rm_lookup_delta_limit(v.has_base ? v.base.nr : 0) || rng() % 17 == 0)
            v.fold();
        SCOPED_TRACE(testing::Message() << "batch " << batch << " base "
                                        << (v.has_base ? v.base.nr : 0) << " delta " << v.delta.nr);
        check_view(v, m, probe, rng);
        if (HasFatalFailure())
            return;
    }
    v.fold();
    EXPECT_EQ(v.base.nr, m.size()) << "a fold leaves no removal behind";
}

TEST(LookupView, DeltaLimitBalancesTheCopies) {
    EXPECT_EQ(rm_lookup_delta_limit(0), 64u);
    EXPECT_EQ(rm_lookup_delta_limit(1 << 20), 2048u); // 2048^2 >= 2 * 2^20
    EXPECT_EQ(rm_lookup_delta_limit(1ull << 40), 65536u);
}

// rm_lookup_build(), which activation uses, gives what a sort and
// rm_lookup_index() give: the same entries and the same index, from input
// in random, sorted or reverse order, over buckets of one to thousands of
// entries (consecutive units on a large device: the heapsort path).
TEST(Lookup, BuildMatchesSortAndIndex) {
    for (const uint64_t units : {1ull, 2ull, 1000ull, 1ull << 22, 1ull << 33}) {
        for (const size_t n : {0ul, 1ul, 2ul, 3ul, 999ul, 70000ul}) {
            if (n > units)
                continue;
            for (const int layout : {0, 1, 2, 3}) { // random, clustered, one run, sorted
                if ((layout == 1 && units < 10000) || (layout == 2 && n < 2))
                    continue;
                std::vector<rm_lookup_entry> v;
                if (layout == 2) {
                    for (size_t i = 0; i < n; i++)
                        v.push_back(entry(units - n + i, static_cast<uint32_t>(i), i));
                } else {
                    for (const auto& [k, e] :
                         random_table(n, units, layout == 1, static_cast<uint32_t>(n + units)))
                        v.push_back(e);
                }
                if (layout < 2)
                    std::shuffle(v.begin(), v.end(), std::mt19937(7));
                for (const bool reverse : {false, true}) {
                    auto in = v;
                    if (reverse)
                        std::reverse(in.begin(), in.end());
                    const Lookup want(in, units);
                    std::vector<uint64_t> mem(rm_lookup_bytes(n, units) / 8 + 1);
                    rm_lookup got{};
                    rm_lookup_init(&got, mem.data(), n, units);
                    __u64 dup = 0;
                    SCOPED_TRACE(testing::Message() << "units=" << units << " n=" << n << " layout="
                                                    << layout << " reverse=" << reverse);
                    ASSERT_EQ(rm_lookup_build(&got, in.data(), &dup), 0);
                    for (size_t i = 0; i < n; i++) {
                        ASSERT_EQ(got.e[i].main, want.lk.e[i].main) << i;
                        ASSERT_EQ(got.e[i].spare, want.lk.e[i].spare) << i;
                        ASSERT_EQ(got.e[i].slot_state, want.lk.e[i].slot_state) << i;
                    }
                    for (uint64_t b = 0; b <= got.nr_buckets; b++)
                        ASSERT_EQ(got.bucket[b], want.lk.bucket[b]) << "bucket " << b;
                }
            }
        }
    }
}

// Two entries for one unit, and a unit beyond the index (far past the
// device: never written out of bounds), are refused with the unit named,
// wherever they fall in the input and in their bucket.
TEST(Lookup, BuildRefusesDuplicatesAndStrayUnits) {
    const uint64_t units = 1ull << 20;
    for (const size_t n : {2ul, 40ul, 5000ul}) {
        std::vector<rm_lookup_entry> v;
        for (size_t i = 0; i < n; i++)
            v.push_back(entry(1000 + i, static_cast<uint32_t>(i), i));
        for (const size_t at : {size_t{0}, n / 2, n - 1}) {
            auto in = v;
            in[at].main = 1000 + (at + 1) % n; // a second entry for that unit
            std::vector<uint64_t> mem(rm_lookup_bytes(n, units) / 8 + 1);
            rm_lookup lk{};
            rm_lookup_init(&lk, mem.data(), n, units);
            __u64 dup = 0;
            EXPECT_EQ(rm_lookup_build(&lk, in.data(), &dup), -1) << "n=" << n << " at=" << at;
            EXPECT_EQ(dup, in[at].main);
            in = v;
            in[at].main = (1ull << 40) + at; // far past the end of the main device
            EXPECT_EQ(rm_lookup_build(&lk, in.data(), &dup), -2) << "n=" << n << " at=" << at;
            EXPECT_EQ(dup, (1ull << 40) + at);
        }
    }
}

// Issue 9's goal is at most 24 bytes of kernel memory per remap.
TEST(Lookup, MemoryPerEntryIsAtMostTwentyBytes) {
    for (const uint64_t n : {16384ull, 1048576ull})
        EXPECT_LE(static_cast<double>(rm_lookup_bytes(n, 1ull << 32)) / static_cast<double>(n),
                  20.0)
            << n << " entries";
}

} // namespace

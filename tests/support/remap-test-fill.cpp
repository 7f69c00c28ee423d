// SPDX-License-Identifier: GPL-2.0-only OR MIT
//
// A test-only tool for the benchmarks: formats a spare and fills its table
// with many remapped entries at once, which remap events or remapctl would
// take hours to produce in a VM. Nothing else.
//
//   remap-test-fill plan MAIN_SECTORS SPARE_SECTORS [UNIT_BYTES]
//       prints the layout a format would use (pool_start in sectors, ...)
//       without touching any device.
//   remap-test-fill fill MAIN SPARE UNIT_BYTES COUNT RUN PERIOD [FIRST]
//       formats SPARE for MAIN, then writes COUNT remapped entries: runs of
//       RUN consecutive main units, one run every PERIOD units from unit
//       FIRST (default 0). Entry i of the table maps main unit
//       FIRST + (i / RUN) * PERIOD + i % RUN. The runs are taken in a
//       shuffled order (fixed seed), as remaps arrive over time: a run's
//       slots and spare blocks are consecutive, as the target allocates
//       them for one failed write, but the runs lie anywhere in the table
//       and the pool.
#include "remapmeta/device.hpp"
#include "remapmeta/errors.hpp"
#include "remapmeta/format.hpp"
#include "remapmeta/layout.hpp"
#include "remapmeta/metadata.hpp"

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <exception>
#include <fmt/core.h>
#include <numeric>
#include <random>
#include <string>
#include <vector>

namespace {

using namespace remapmeta;

constexpr uint64_t chunk_blocks = 256; // 1 MiB per write

uint64_t number(const char* what, const char* s) {
    char* end = nullptr;
    errno = 0;
    const unsigned long long v = std::strtoull(s, &end, 0);
    if (errno || end == s || *end)
        throw ParameterError(what, fmt::format("{} must be a number, not '{}'", what, s));
    return v;
}

void print_layout(const Superblock& sb) {
    fmt::print("unit_bytes={} pool_start={} pool_blocks={} table_blocks={} capacity={}\n",
               sb.unit_bytes, sb.pool_start, sb.pool_blocks, sb.table_blocks,
               sb.table_blocks * RM4_ENTRIES_PER_BLOCK);
}

int plan(int argc, char** argv) {
    FormatParams p;
    p.main_sectors = number("MAIN_SECTORS", argv[2]);
    p.spare_sectors = number("SPARE_SECTORS", argv[3]);
    p.main_identity = "test";
    if (argc == 5)
        p.unit_bytes = static_cast<uint32_t>(number("UNIT_BYTES", argv[4]));
    print_layout(plan_layout(p));
    return 0;
}

int fill(int argc, char** argv) {
    Device main = Device::open(argv[2]);
    Device spare = Device::open(argv[3], {.write = true, .exclusive = true, .direct = true});
    const auto unit = static_cast<uint32_t>(number("UNIT_BYTES", argv[4]));
    const uint64_t count = number("COUNT", argv[5]);
    const uint64_t run = number("RUN", argv[6]);
    const uint64_t period = number("PERIOD", argv[7]);
    const uint64_t first = argc == 9 ? number("FIRST", argv[8]) : 0;
    if (run == 0 || period < run)
        throw ParameterError("RUN", "RUN must be at least 1 and at most PERIOD");

    FormatParams p;
    p.main_sectors = main.sectors();
    p.main_logical_block_size = main.logical_block_size();
    p.main_physical_block_size = main.physical_block_size();
    p.main_identity = "test";
    p.spare_sectors = spare.sectors();
    p.spare_logical_block_size = spare.logical_block_size();
    p.spare_physical_block_size = spare.physical_block_size();
    p.unit_bytes = unit;
    const Superblock sb = plan_layout(p);
    if (count > sb.pool_blocks)
        throw ParameterError("COUNT", fmt::format("{} remaps need {} pool blocks; the spare has {}",
                                                  count, count, sb.pool_blocks));
    format(spare, sb);

    Metadata m = Metadata::empty(sb);
    const uint64_t runs = (count + run - 1) / run;
    std::vector<uint64_t> order(runs);
    std::iota(order.begin(), order.end(), uint64_t{0});
    std::mt19937_64 rng(9);
    std::shuffle(order.begin(), order.end(), rng);
    // Run r goes to slots and spare blocks order[r] * run onwards. A short
    // last run leaves a gap, which is fine: free slots and blocks are valid.
    const uint64_t now = 1'700'000'000;
    for (uint64_t i = 0; i < count; i++) {
        const uint64_t r = i / run;
        const uint64_t u = first + r * period + i % run;
        const uint64_t slot = order[r] * run + i % run;
        m.set_entry(slot, make_remapped(u, slot, now, 1));
    }

    // Both copies, block by block, in 1 MiB writes; one seq for all.
    const uint64_t seq = m.max_seq + 1;
    AlignedBuffer buf(chunk_blocks * RM4_BLOCK_SIZE);
    for (Copy c : {Copy::a, Copy::b}) {
        for (uint64_t k = 0; k < sb.table_blocks; k += chunk_blocks) {
            const uint64_t n = std::min<uint64_t>(chunk_blocks, sb.table_blocks - k);
            for (uint64_t j = 0; j < n; j++)
                encode_table_block(m, k + j, seq, c,
                                   BlockSpan(buf.data() + j * RM4_BLOCK_SIZE, RM4_BLOCK_SIZE));
            spare.write(table_blocknr(sb, k, c) * RM4_BLOCK_SIZE,
                        buf.span().first(n * RM4_BLOCK_SIZE));
        }
        spare.flush();
    }
    print_layout(sb);
    fmt::print("entries={} last_unit={}\n", count,
               count ? first + (count - 1) / run * period + (count - 1) % run : 0);
    return 0;
}

} // namespace

int main(int argc, char** argv) {
    const std::string cmd = argc > 1 ? argv[1] : "";
    try {
        if (cmd == "plan" && (argc == 4 || argc == 5))
            return plan(argc, argv);
        if (cmd == "fill" && (argc == 8 || argc == 9))
            return fill(argc, argv);
    } catch (const std::exception& e) {
        fmt::print(stderr, "remap-test-fill: {}\n", e.what());
        return 8;
    }
    fmt::print(stderr,
               "usage: remap-test-fill plan MAIN_SECTORS SPARE_SECTORS [UNIT_BYTES]\n"
               "       remap-test-fill fill MAIN SPARE UNIT_BYTES COUNT RUN PERIOD [FIRST]\n");
    return 16;
}

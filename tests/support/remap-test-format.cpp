// SPDX-License-Identifier: GPL-2.0-only OR MIT
//
// A test-only formatter for the VM scenarios: formats a spare for a main
// device with libremapmeta, nothing else. Users format with `remapctl format`,
// which probes the devices and asks before it writes.
//
//   remap-test-format <main> <spare> [unit_bytes]
#include "remapmeta/device.hpp"
#include "remapmeta/errors.hpp"
#include "remapmeta/layout.hpp"
#include "remapmeta/metadata.hpp"

#include <cstdlib>
#include <exception>
#include <fmt/core.h>
#include <string>

int main(int argc, char** argv) {
    if (argc < 3 || argc > 4) {
        fmt::print(stderr, "usage: remap-test-format <main> <spare> [unit_bytes]\n");
        return 16;
    }
    try {
        using namespace remapmeta;
        Device main = Device::open(argv[1]);
        Device spare = Device::open(argv[2], {.write = true, .exclusive = true});
        FormatParams p;
        p.main_sectors = main.sectors();
        p.main_logical_block_size = main.logical_block_size();
        p.main_physical_block_size = main.physical_block_size();
        p.main_identity = "test";
        p.spare_sectors = spare.sectors();
        p.spare_logical_block_size = spare.logical_block_size();
        p.spare_physical_block_size = spare.physical_block_size();
        if (argc == 4)
            p.unit_bytes = static_cast<uint32_t>(std::stoul(argv[3]));
        const Superblock sb = plan_layout(p);
        format(spare, sb);
        fmt::print("unit_bytes={} pool_start={} pool_blocks={} capacity={}\n", sb.unit_bytes,
                   sb.pool_start, sb.pool_blocks, sb.table_blocks * RM4_ENTRIES_PER_BLOCK);
        return 0;
    } catch (const std::exception& e) {
        fmt::print(stderr, "remap-test-format: {}\n", e.what());
        return 8;
    }
}

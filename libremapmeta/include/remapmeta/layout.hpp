// SPDX-License-Identifier: GPL-2.0-only OR MIT
//
// Where a new format puts things on the spare: superblocks at blocks 0 and 1,
// table A from block 2, table B right after it, then the pool.
#pragma once

#include "remapmeta/format.hpp"

#include <array>
#include <cstdint>
#include <optional>
#include <string>

namespace remapmeta {

// "remapmeta <version>", cut to the 16 bytes the superblock's creator field holds.
std::string default_creator();

struct FormatParams {
    uint64_t main_sectors = 0;
    uint32_t main_logical_block_size = 512;
    uint32_t main_physical_block_size = 4096;
    std::string main_identity; // WWN, serial or model; printable ASCII, at most 128 bytes
    uint64_t spare_sectors = 0;
    uint32_t spare_logical_block_size = 512;
    uint32_t spare_physical_block_size = 4096;
    uint32_t unit_bytes = 0;                 // 0: the default, max(main physical block size, 4096)
    std::optional<Uuid> uuid;                // default: a random one
    std::optional<uint64_t> format_time;     // default: now
    std::string creator = default_creator(); // printable ASCII, at most 16 bytes
};

// The unit a format uses for `p` (p.unit_bytes or the default); not validated.
uint32_t effective_unit(const FormatParams& p) noexcept;

// Smallest spare, in bytes, that holds both superblocks, two table blocks per
// copy and one pool unit.
uint64_t minimum_spare_bytes(uint32_t unit_bytes, uint32_t spare_physical_block_size) noexcept;

// Table entries a format provides for a pool of `pool_blocks` units:
// pool_blocks + max(126, pool_blocks / 8), rounded up to whole table blocks.
uint64_t required_table_blocks(uint64_t pool_blocks) noexcept;

// Plans a new format. The result has seq 1, blocknr 0 (copy A) and passes
// rm4_sb_check_geometry for p.spare_sectors. Throws ParameterError for
// invalid parameters and DeviceError(too_small) for a spare that is too small.
Superblock plan_layout(const FormatParams& p);

} // namespace remapmeta

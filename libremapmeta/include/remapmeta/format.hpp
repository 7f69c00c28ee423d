// SPDX-License-Identifier: GPL-2.0-only OR MIT
//
// C++ helpers over the v4 format defined in kernel/format/rm_format.h. The
// encoding, decoding and validation themselves stay in the C code that the
// kernel module also compiles; this header only adds names, strings and
// comparisons.
#pragma once

#include "rm_format.h"

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace remapmeta {

using Superblock = rm4_superblock;
using Entry = rm4_entry;
using Uuid = std::array<uint8_t, RM4_UUID_LEN>;

inline constexpr std::size_t block_size = RM4_BLOCK_SIZE;
inline constexpr uint64_t entries_per_block = RM4_ENTRIES_PER_BLOCK;
inline constexpr uint64_t no_block = RM4_NONE;

// One 4 KiB metadata block.
using BlockSpan = std::span<std::byte, RM4_BLOCK_SIZE>;
using ConstBlockSpan = std::span<const std::byte, RM4_BLOCK_SIZE>;

// Which of the two copies of a metadata block.
enum class Copy : uint8_t { a = 0, b = 1 };

inline constexpr char copy_name(Copy c) noexcept {
    return c == Copy::a ? 'A' : 'B';
}

// "0f1e2d3c-...": lower-case canonical form of a 16-byte UUID.
std::string uuid_to_string(const uint8_t* uuid);
// Parses the canonical 36-character form (either case); throws ParameterError.
Uuid parse_uuid(std::string_view text);
// A random RFC 4122 version 4 UUID from getrandom(2).
Uuid generate_uuid();

// "free", "remapped", "pending", "bad-spare"; "unknown" for anything else.
std::string_view state_name(uint8_t state) noexcept;

// What lives at metadata block `blocknr` under `sb`: "superblock A",
// "table B block 3", "pool", "unused".
std::string block_role(const Superblock& sb, uint64_t blocknr);

// Metadata block number of table block `k` in copy `c`.
inline uint64_t table_blocknr(const Superblock& sb, uint64_t k, Copy c) noexcept {
    return (c == Copy::a ? sb.table_a_start : sb.table_b_start) + k;
}

inline uint64_t superblock_blocknr(Copy c) noexcept {
    return c == Copy::a ? RM4_SB_A_BLOCK : RM4_SB_B_BLOCK;
}

// Field-by-field equality (the C struct has padding, so no memcmp).
bool entries_equal(const Entry& a, const Entry& b) noexcept;

// Names of the superblock fields that differ. `blocknr` (which copy) and
// `seq` (which write) are compared only when asked for.
std::vector<std::string> superblock_differences(const Superblock& a, const Superblock& b,
                                                bool compare_location_and_seq = false);

// Validates an entry against a superblock with the format's own rm4_entry_decode.
rm4_status validate_entry(const Superblock& sb, const Entry& e, rm4_problem* prob = nullptr);

// Constructors for entries in each state.
Entry make_remapped(uint64_t main_block, uint64_t spare_block, uint64_t event_time,
                    uint32_t error_count = 0, uint8_t flags = 0) noexcept;
Entry make_pending(uint64_t main_block, uint64_t spare_block, uint64_t event_time,
                   uint32_t error_count = 1, uint8_t flags = 0) noexcept;
Entry make_bad_spare(uint64_t spare_block, uint64_t event_time, uint32_t error_count = 1) noexcept;

} // namespace remapmeta

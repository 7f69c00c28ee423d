// SPDX-License-Identifier: GPL-2.0-only OR MIT
//
// The metadata of one spare device in memory, and the I/O that loads,
// formats and commits it with the v4 commit protocol (docs/format-v4.md).
#pragma once

#include "remapmeta/device.hpp"
#include "remapmeta/format.hpp"

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace remapmeta {

struct Metadata {
    Superblock sb{};
    std::vector<Entry> slots; // one per table slot: size() == capacity
    uint64_t max_seq = 0;     // largest sequence number on the device

    // The model of a freshly formatted device: every slot free.
    static Metadata empty(const Superblock& sb);

    uint64_t capacity() const noexcept { return slots.size(); }
    uint64_t table_block_count() const noexcept { return sb.table_blocks; }
    static uint64_t block_of_slot(uint64_t slot) noexcept { return slot / entries_per_block; }
    // The 126 slots stored in table block k.
    std::span<Entry> entries_in_block(uint64_t k);
    std::span<const Entry> entries_in_block(uint64_t k) const;

    // First free slot at or after `from`, if any.
    std::optional<uint64_t> find_free_slot(uint64_t from = 0) const noexcept;
    // Non-free slots.
    uint64_t used_slots() const noexcept;
    // Validates `e` against the superblock (rm4_entry_decode) and stores it.
    // Returns the table block to commit. Throws MetadataError.
    uint64_t set_entry(uint64_t slot, const Entry& e);
    // Frees a slot; returns the table block to commit.
    uint64_t clear_entry(uint64_t slot);
};

enum class Severity { fatal, non_fatal };

std::string_view to_string(Severity s) noexcept;

// One problem found while loading: what and where.
struct Finding {
    Severity severity;
    uint64_t block;      // the metadata block concerned (the damaged copy, when one)
    std::string field;   // the on-disk field, or empty
    std::string message; // a whole sentence, starting with the block and its role
    rm4_status status = RM4_OK;
    std::optional<uint64_t> slot; // for entry findings
};

// How one copy of a metadata block looked.
struct CopyStatus {
    rm4_status status = RM4_E_ZERO; // validator result; RM4_E_CRC when unreadable
    bool read_error = false;        // the copy could not be read at all
    uint64_t seq = 0;               // only meaningful when valid()
    bool valid() const noexcept { return status == RM4_OK && !read_error; }
    bool never_written() const noexcept { return status == RM4_E_ZERO && !read_error; }
};

// Where the loaded image of a block came from.
enum class BlockSource : uint8_t {
    copy_a, // copy A was used
    copy_b, // copy B was used
    empty,  // no valid copy, but at least one never written: only free slots
    lost,   // both copies damaged: the block's entries are lost (fatal)
};

std::string_view to_string(BlockSource s) noexcept;

struct BlockCopies {
    CopyStatus a;
    CopyStatus b;
    BlockSource source = BlockSource::empty;

    // The copies do not both hold the chosen image: a rewrite of the bad
    // (stale, damaged or missing) copy would restore redundancy.
    bool needs_rewrite = false;
};

struct LoadReport {
    int superblock_copy = -1;       // 0: superblock A was used, 1: B
    BlockCopies superblock;         // both superblock copies
    std::vector<BlockCopies> table; // per table block k
    std::vector<Finding> findings;  // everything worth telling, graded
    uint64_t blocks_read = 0;       // metadata blocks read (both copies)
    bool read_only = false;         // unknown ro_compat bits: read-only use only

    bool has_fatal() const noexcept;
    std::size_t count(Severity s) const noexcept;
    // Some block was served by one copy only (damaged, stale or never-written twin).
    bool repaired_by_other_copy() const noexcept;
    // Findings about `block`.
    std::vector<const Finding*> findings_for(uint64_t block) const;
};

// Reads and validates the metadata on `dev`.
//
// Throws LegacyV3Error for v3 metadata, MetadataError when no superblock is
// valid (naming both reasons), when a superblock comes from a newer format,
// or when the layout does not fit the device, DeviceError for a device too
// small to hold a superblock pair, IoError when reading fails outside the
// metadata blocks' own damage (an unreadable copy is a finding).
//
// Damage that the second copy repairs is reported as non_fatal findings.
// With `report` == nullptr the first fatal finding is thrown as a
// MetadataError; with a report, fatal findings are returned in it (lost
// table blocks and invalid entries read as free slots) and the caller must
// check has_fatal() before it writes.
Metadata load(Device& dev, LoadReport* report = nullptr);

// Writes a new format: zeroes both superblocks and both table copies, then
// writes superblock A, makes it durable, then B. `sb` as from plan_layout.
void format(Device& dev, const Superblock& sb);

// Encodes table block k of copy `copy` from the model with sequence `seq`.
void encode_table_block(const Metadata& m, uint64_t k, uint64_t seq, Copy copy, BlockSpan out);

// Commits table block k: seq = ++max_seq, write copy A, flush, write copy B, flush.
void commit_table_block(Device& dev, Metadata& m, uint64_t k);

// Commits the superblock (flags, scan cursor) with the same protocol.
void write_superblocks(Device& dev, Metadata& m);

} // namespace remapmeta

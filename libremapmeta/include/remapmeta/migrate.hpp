// SPDX-License-Identifier: GPL-2.0-only OR MIT
//
// In-place migration of a legacy dm-remap 3.x spare (v3 metadata) to v4.
//
// v3 remapped 512-byte sectors. The default 512-byte remap unit keeps every
// mapping 1:1: v3's spare area becomes (part of) the v4 pool, so no spare
// data moves. A larger unit gets a new pool after every sector v3 uses, each
// remapped unit filled there from the spare and main (pending where main
// cannot be read). The v4 table copies go outside v3's metadata area and
// every sector v3 uses; after a flush, one single-sector write of block 0
// replaces the v3 header with v4 superblock A. Until that write the device
// is valid v3, after it valid v4 (superblock B, written last, is redundancy
// only). See docs/migration.md.
#pragma once

#include "remapmeta/device.hpp"
#include "remapmeta/format.hpp"
#include "remapmeta/v3.hpp"

#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace remapmeta::migrate {

struct Options {
    std::optional<uint64_t> spare_start; // v3 spare area, when the user knows it
    std::optional<uint64_t> spare_len;
    // 0: the safe default, 512 (every mapping stays 1:1). Larger: each
    // remapped unit is filled from the spare and main; unreadable: pending.
    uint32_t unit_bytes = 0;
    std::string main_identity;
    // Testing aid: stop (throw Interrupted) right after this many device
    // writes, as a crash would. std::nullopt: never.
    std::optional<uint64_t> stop_after_writes;
};

// The migration stopped on purpose after `writes` writes (the test hook).
class Interrupted : public std::runtime_error {
public:
    explicit Interrupted(uint64_t writes);
    uint64_t writes() const noexcept { return writes_; }

private:
    uint64_t writes_;
};

// The migration refuses: the reason is the message.
class Refused : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

struct Move {
    uint64_t from_sector;
    uint64_t to_sector;
};

// A larger unit: one remapped main unit and where its v3 sectors come from.
struct UnitCopy {
    uint64_t main_block = 0;
    uint64_t spare_block = 0;                              // in the new pool
    std::vector<std::pair<uint64_t, uint64_t>> from_spare; // offset in unit, v3 spare sector
};

struct Plan {
    v3::Image image;          // the v3 facts found
    uint64_t spare_start = 0; // the v3 spare area used
    uint64_t spare_len = 0;
    bool spare_area_inferred = false;
    uint32_t unit_bytes = 512;
    bool unit_defaulted = true;
    Superblock sb{};             // where v4 metadata goes
    std::vector<Entry> entries;  // slot i of the v4 table
    std::vector<Move> moves;     // spare sectors that must move (none at 512)
    std::vector<UnitCopy> units; // larger units: what fills each pool unit
    std::vector<std::string> notes;
};

// Reads v3 from `spare`, checks it against `main`, and plans v4. Writes
// nothing. Throws Refused with the reason.
Plan plan(Device& spare, Device& main, const Options& opt);

// The plan as text, for --dry-run and before a migration.
std::string describe(const Plan& p);

enum class Outcome { migrated, already_v4, repaired_v4 };

// Executes: plan(), then the writes. A rerun after an interruption either
// finds v3 (and migrates again from scratch) or v4 (and restores superblock
// B when it is missing). Throws Refused, Interrupted, or library errors.
Outcome run(Device& spare, Device& main, const Options& opt, Plan* out_plan = nullptr);

} // namespace remapmeta::migrate

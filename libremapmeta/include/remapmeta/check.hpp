// SPDX-License-Identifier: GPL-2.0-only OR MIT
//
// The checker behind remap-check, remap-dump --repair and remap-repair: one
// pass over both superblocks and both table copies that keeps going after
// the first fault and grades every finding, then the salvage that turns what
// was read into a consistent model.
#pragma once

#include "remapmeta/device.hpp"
#include "remapmeta/errors.hpp"
#include "remapmeta/format.hpp"
#include "remapmeta/metadata.hpp"

#include <atomic>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace remapmeta {

// Thrown when the cancel flag is raised while work is under way.
class Cancelled : public Error {
public:
    Cancelled()
        : Error("cancelled") {}
};

// Not dm-remap metadata at all (no v4 or v3 magic anywhere it should be).
class NotMetadataError : public Error {
public:
    using Error::Error;
};

// A graded finding with a stable code for JSON output.
struct CheckFinding {
    Severity severity = Severity::non_fatal;
    std::string code;    // stable key, e.g. "table-copy-damaged", "duplicate-main"
    uint64_t block = 0;  // the metadata block concerned
    std::string field;   // on-disk field, or empty
    std::string message; // a whole sentence
    std::optional<uint64_t> slot;
    std::optional<uint64_t> main_block;
    bool fixable_in_place = false; // a rewrite from the good copy fixes it
};

struct ScanOptions {
    bool superblock_only = false;
    // Called with (done, total) table blocks; may be empty.
    std::function<void(uint64_t, uint64_t)> progress;
    const std::atomic<bool>* cancel = nullptr;
};

// Per table block: what each copy looked like and which one was used.
struct ScanBlock {
    rm4_status a = RM4_E_ZERO;
    rm4_status b = RM4_E_ZERO;
    int chosen = -1;       // 0: A, 1: B, -1: none
    bool salvaged = false; // chosen copy passed its CRC but failed a header field
    bool lost = false;
    bool needs_rewrite = false;
    uint64_t seq = 0;
};

struct ScanResult {
    Superblock sb{};
    int superblock_copy = -1;
    bool superblock_needs_rewrite = false;
    bool geometry_ok = false;
    uint64_t max_seq = 0;
    std::vector<Entry> slots; // valid entries as read; invalid ones read as free
    std::vector<ScanBlock> blocks;
    std::vector<CheckFinding> findings;
    uint64_t blocks_read = 0;

    bool has_fatal() const noexcept;
    std::size_t count(Severity s) const noexcept;
    bool needs_check() const noexcept { return sb.flags & RM4_SB_NEEDS_CHECK; }
};

// Reads and checks everything. Throws LegacyV3Error for v3 metadata,
// NotMetadataError when the device holds no dm-remap metadata, DeviceError
// and IoError for operational failures, Cancelled on cancel.
ScanResult scan(Device& dev, const ScanOptions& options = {});

// Rewrites stale or damaged copies from the good one (superblock and table
// blocks marked needs_rewrite and not lost). Returns the number of blocks
// written. Refuses (ParameterError) when the scan has fatal findings.
std::size_t fix_copies_in_place(Device& dev, ScanResult& result);

// Clears needs_check with the superblock commit protocol.
void clear_needs_check(Device& dev, ScanResult& result);

// An entry the salvage dropped or changed, by main block.
struct SalvageAction {
    uint64_t slot = 0;
    std::optional<uint64_t> main_block;
    std::optional<uint64_t> spare_block;
    std::string what; // "dropped: ...", "quarantined as pending: ..."
};

struct SalvageResult {
    Metadata model; // consistent: passes every invariant
    std::vector<SalvageAction> actions;
    std::vector<std::string> lost; // what could not be salvaged
};

// Builds a consistent model from a scan: entries from the better copy,
// invalid entries dropped, duplicate main blocks and doubly used spare
// blocks quarantined as pending (never served stale), needs_check cleared.
// Throws MetadataError when no superblock or layout can be trusted.
SalvageResult salvage(const ScanResult& result);

// Checks a model for every cross-entry invariant; returns findings (empty when consistent).
std::vector<CheckFinding> check_model(const Metadata& m);

} // namespace remapmeta

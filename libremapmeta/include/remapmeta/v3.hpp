// SPDX-License-Identifier: GPL-2.0-only OR MIT
//
// Read-only reader for legacy dm-remap 3.x metadata (see the legacy-v3
// format notes): header, entries, checksum verification and every
// structural rule. The tools check and dump v3; they never write it.
#pragma once

#include "remapmeta/check.hpp"
#include "remapmeta/device.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace remapmeta::v3 {

inline constexpr uint32_t max_entries = 252;
inline constexpr uint64_t metadata_sectors = 16; // header + entries: sectors 0-15
inline constexpr std::size_t header_bytes = 4096;
inline constexpr std::size_t struct_bytes = 4104; // the 3.x in-memory header struct

struct Header {
    std::string magic;
    uint32_t version = 0;
    uint32_t checksum = 0;
    uint64_t creation_time = 0;
    uint64_t last_update_time = 0;
    uint32_t entry_count = 0;
    uint32_t max_entries = 0;
    uint64_t main_device_size = 0;
    uint64_t spare_device_size = 0;
    uint32_t state = 0;
    uint32_t generation = 0;
    uint64_t total_remaps_created = 0;
};

struct Entry {
    uint64_t main_sector = 0;
    uint64_t spare_sector = 0;
};

struct Image {
    Header header;
    std::vector<Entry> entries;
    bool checksum_verified = false;
    std::string verdict; // "valid" or "invalid:<reason>"
    std::vector<CheckFinding> findings;
    // The spare area: given by the user, or inferred from the entries.
    std::optional<uint64_t> spare_start;
    std::optional<uint64_t> spare_len;
    bool spare_area_inferred = false;

    bool valid() const noexcept { return verdict == "valid"; }
};

// The kernel's crc32_le(seed, ...): reflected 0xEDB88320, no inversions.
uint32_t crc32_le(uint32_t seed, const void* buf, std::size_t len) noexcept;

// True when block 0 of `dev` starts with the v3 magic.
bool is_v3(Device& dev);

// Reads and checks a v3 image. Throws NotMetadataError when `dev` is too
// small or holds no v3 magic, IoError on read failure.
Image read(Device& dev, std::optional<uint64_t> spare_start = std::nullopt,
           std::optional<uint64_t> spare_len = std::nullopt);

// The state field's name: clean, dirty, writing, error, or "unknown".
std::string_view state_name(uint32_t state) noexcept;

} // namespace remapmeta::v3

// SPDX-License-Identifier: GPL-2.0-only OR MIT
//
// What is on a device and which disk it is: libblkid's signatures (plus
// dm-remap's own magics, which libblkid does not know), and the identity
// (WWN, serial, model) from sysfs and the udev database, recorded in the
// superblock's fingerprint so a spare is never attached to the wrong disk.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace remapmeta::probe {

// One signature found on a device.
struct Signature {
    std::string type;  // "ext4", "LVM2_member", "gpt", "dm-remap-v4", ...
    std::string usage; // "filesystem", "raid", "crypto", "partition table", "dm-remap", ...
    std::string label; // may be empty
    std::string uuid;  // may be empty
    uint64_t offset = 0;

    // "ext4 filesystem, label 'data'"; "gpt partition table"; "dm-remap v4 metadata".
    std::string describe() const;
};

// Every signature libblkid finds (superblocks and partition tables, all of
// them, as wipefs lists them), and "DMREMAP4"/"DMREMAP3" at byte 0. Throws
// IoError or DeviceError when the device cannot be read.
std::vector<Signature> signatures(const std::string& path);

// Erases the magic of every signature libblkid finds through `fd` (as
// `wipefs --all` does) and syncs; returns how many were erased. `fd` is open
// for writing; O_DIRECT is lifted for the duration (libblkid's I/O is not aligned).
int wipe_signatures(int fd, const std::string& path);

// The same for the first bytes of a device: dm-remap's own magics only.
std::optional<Signature> remap_magic(const std::string& path);

// A block device's numbers, or nothing for anything else.
struct DevNum {
    uint32_t major = 0;
    uint32_t minor = 0;
    std::string str() const; // "253:0"
};
std::optional<DevNum> devnum(const std::string& path);

// The identity of the disk under a block device, for the fingerprint:
// "wwn:<...>", "serial:<...>", "dm-uuid:<...>" or "model:<...>", printable
// ASCII, at most 128 bytes; empty when nothing identifies it (loop, null_blk,
// plain dm devices, image files).
std::string identity(const std::string& path);

// A readable path for a block device number: "/dev/vda", "/dev/mapper/x",
// or "major:minor" when sysfs does not say.
std::string device_path(const DevNum& d);
// The same from "major:minor" text (as in a table line); other text is returned as it is.
std::string device_path(const std::string& majmin);

} // namespace remapmeta::probe

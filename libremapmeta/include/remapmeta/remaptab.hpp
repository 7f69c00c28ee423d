// SPDX-License-Identifier: GPL-2.0-only OR MIT
//
// /etc/remaptab, the boot-time list of dm-remap devices (remaptab(5)), in the
// manner of /etc/crypttab: one line per device,
//
//   NAME  MAIN  SPARE  [OPTIONS]
//
// with MAIN and SPARE an absolute path (/dev/disk/by-id/...), PARTUUID=<uuid>
// or, for the spare only, UUID=<format UUID> (the v4 superblock's). The
// parser here checks every field; resolve() finds the block devices a
// specification names by scanning sysfs, since libblkid knows no dm-remap
// prober and udev makes no /dev/disk/by-uuid link for a spare.
#pragma once

#include "remapmeta/errors.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace remapmeta::remaptab {

inline constexpr const char* default_path = "/etc/remaptab";

// A remaptab line that cannot be used. what() is "FILE:LINE: problem; next step".
class ParseError : public Error {
public:
    ParseError(const std::string& file, unsigned line, const std::string& problem);
    const std::string& file() const noexcept { return file_; }
    unsigned line() const noexcept { return line_; }

private:
    std::string file_;
    unsigned line_;
};

// How a line names a device.
struct DeviceSpec {
    enum class Kind { path, uuid, partuuid };
    Kind kind = Kind::path;
    std::string value; // the path, or the UUID in lower case
    // As written in remaptab: "/dev/vdb", "UUID=...", "PARTUUID=...".
    std::string text() const;
};

struct Entry {
    std::string name; // the dm device name
    DeviceSpec main;
    DeviceSpec spare;
    std::optional<unsigned> retries; // retries=N
    bool noauto = false;             // not activated by `activate --all` or at boot
    bool nofail = false;             // a failure does not fail `activate --all` or the boot
    unsigned device_timeout = 90;    // x-systemd.device-timeout=, seconds
    std::string file;
    unsigned line = 0;
};

// Parses a whole remaptab. `file` names it in error messages. Throws
// ParseError at the first bad line.
std::vector<Entry> parse(std::string_view text, const std::string& file);

// Reads and parses `path`. A missing file is an empty remaptab when
// `missing_ok`; otherwise IoError.
std::vector<Entry> load(const std::string& path, bool missing_ok);

// The block devices (as /dev/<kernel name> paths) a specification names:
//  - a path: itself, when it exists (a symlink is followed by the caller);
//  - PARTUUID=: every partition whose partition table entry has that UUID;
//  - UUID=: every block device whose first or second 4 KiB block is a
//    dm-remap v4 metadata block of that format UUID. dm-remap devices
//    themselves are skipped (they show the main's content).
// Devices that cannot be read are skipped. `sys` is the sysfs mount point.
std::vector<std::string> candidates(const DeviceSpec& spec, const std::string& sys = "/sys");

// The one device a specification names. When several match (a multipath
// disk and its paths, a linear copy of a spare), those held by another
// device are dropped; if more than one is left, or none matched, throws
// DeviceError (not_found, or busy for an ambiguous name) saying which.
std::string resolve(const DeviceSpec& spec, const std::string& role,
                    const std::string& sys = "/sys");

// systemd's unit name escaping: `systemd-escape` (instance) and
// `systemd-escape --path` (path).
std::string escape_unit(std::string_view s);
std::string escape_unit_path(std::string_view path);

} // namespace remapmeta::remaptab

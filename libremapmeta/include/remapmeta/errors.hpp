// SPDX-License-Identifier: GPL-2.0-only OR MIT
//
// The exceptions libremapmeta throws. Every message says what went wrong and
// where (device, byte offset, metadata block, field) and, where the user can
// act, what to do next. Tools turn these into exit codes at their boundary.
#pragma once

#include "rm_format.h"

#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

namespace remapmeta {

// Base of everything the library throws.
class Error : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

// A caller passed a value the library cannot use (a unit that is not a power
// of two, an identity that is too long, a malformed UUID...).
class ParameterError : public Error {
public:
    ParameterError(std::string parameter, const std::string& message);
    const std::string& parameter() const noexcept { return parameter_; }

private:
    std::string parameter_;
};

// A system call on a device failed: "read /dev/sdb at byte 8192: Input/output error".
class IoError : public Error {
public:
    // `err` is the errno value; the reason is strerror(err).
    IoError(std::string operation, std::string path, std::optional<uint64_t> offset, int err);
    // A failure with its own reason (err may be 0, e.g. an unexpected end of file).
    IoError(std::string operation, std::string path, std::optional<uint64_t> offset, int err,
            std::string_view reason);

    const std::string& operation() const noexcept { return operation_; }
    const std::string& path() const noexcept { return path_; }
    std::optional<uint64_t> offset() const noexcept { return offset_; }
    // errno of the failed call, 0 when the failure did not come from errno.
    int error_code() const noexcept { return errno_; }

private:
    std::string operation_;
    std::string path_;
    std::optional<uint64_t> offset_;
    int errno_;
};

enum class DeviceErrorKind {
    not_found,         // no such file or device
    busy,              // in use: mounted, held by a dm device, locked
    permission,        // permission denied
    read_only,         // write access requested on a read-only device
    too_small,         // cannot hold what was asked for
    not_block_or_file, // neither a block device nor a regular file
    unsupported,       // a property the format cannot work with
};

std::string_view to_string(DeviceErrorKind kind) noexcept;

// A device cannot be used as asked. The message names a next step.
class DeviceError : public Error {
public:
    // `message` is the whole sentence, normally starting with the path.
    DeviceError(DeviceErrorKind kind, std::string path, const std::string& message);

    DeviceErrorKind kind() const noexcept { return kind_; }
    const std::string& path() const noexcept { return path_; }

private:
    DeviceErrorKind kind_;
    std::string path_;
};

// Metadata that fails validation:
// "block 0 (superblock A): field 'unit_bytes' = 3000: invalid field value".
class MetadataError : public Error {
public:
    // The standard message: built from the location, the field and the status.
    // `role` names the block ("superblock A", "table B block 3"); `field` may be empty.
    MetadataError(rm4_status status, std::optional<uint64_t> block, std::string_view role,
                  std::string field, uint64_t value);
    // The same data with a message of the caller's making.
    MetadataError(rm4_status status, std::optional<uint64_t> block, std::string field,
                  uint64_t value, const std::string& message);

    rm4_status status() const noexcept { return status_; }
    std::optional<uint64_t> block() const noexcept { return block_; }
    const std::string& field() const noexcept { return field_; }
    uint64_t value() const noexcept { return value_; }

    // The text the standard constructor uses, for building longer messages.
    static std::string describe(rm4_status status, std::optional<uint64_t> block,
                                std::string_view role, std::string_view field, uint64_t value);

private:
    rm4_status status_;
    std::optional<uint64_t> block_;
    std::string field_;
    uint64_t value_;
};

// Block 0 holds legacy dm-remap v3 metadata. Not damage: it needs migrating.
class LegacyV3Error : public MetadataError {
public:
    LegacyV3Error();
};

} // namespace remapmeta

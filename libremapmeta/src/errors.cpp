// SPDX-License-Identifier: GPL-2.0-only OR MIT
#include "remapmeta/errors.hpp"

#include <cstring>
#include <fmt/format.h>

namespace remapmeta {

namespace {

std::string errno_text(int err) {
    // strerror_r's GNU variant returns the text (maybe not in `buf`).
    char buf[256];
    return ::strerror_r(err, buf, sizeof(buf));
}

std::string io_message(std::string_view operation, std::string_view path,
                       std::optional<uint64_t> offset, std::string_view reason) {
    if (offset)
        return fmt::format("{} {} at byte {}: {}", operation, path, *offset, reason);
    return fmt::format("{} {}: {}", operation, path, reason);
}

// Fields whose rm4_problem value is a placeholder, not the offending value.
bool value_is_meaningful(std::string_view field) {
    for (std::string_view f :
         {"magic", "uuid", "main_identity", "creator", "reserved", "padding", "block"})
        if (field == f)
            return false;
    return true;
}

} // namespace

ParameterError::ParameterError(std::string parameter, const std::string& message)
    : Error(message)
    , parameter_(std::move(parameter)) {}

IoError::IoError(std::string operation, std::string path, std::optional<uint64_t> offset, int err)
    : IoError(std::move(operation), std::move(path), offset, err, errno_text(err)) {}

IoError::IoError(std::string operation, std::string path, std::optional<uint64_t> offset, int err,
                 std::string_view reason)
    : Error(io_message(operation, path, offset, reason))
    , operation_(std::move(operation))
    , path_(std::move(path))
    , offset_(offset)
    , errno_(err) {}

std::string_view to_string(DeviceErrorKind kind) noexcept {
    switch (kind) {
    case DeviceErrorKind::not_found:
        return "not-found";
    case DeviceErrorKind::busy:
        return "busy";
    case DeviceErrorKind::permission:
        return "permission";
    case DeviceErrorKind::read_only:
        return "read-only";
    case DeviceErrorKind::too_small:
        return "too-small";
    case DeviceErrorKind::not_block_or_file:
        return "not-block-or-file";
    case DeviceErrorKind::unsupported:
        return "unsupported";
    }
    return "unknown";
}

DeviceError::DeviceError(DeviceErrorKind kind, std::string path, const std::string& message)
    : Error(message)
    , kind_(kind)
    , path_(std::move(path)) {}

std::string MetadataError::describe(rm4_status status, std::optional<uint64_t> block,
                                    std::string_view role, std::string_view field, uint64_t value) {
    std::string text;
    if (block) {
        text = role.empty() ? fmt::format("block {}", *block)
                            : fmt::format("block {} ({})", *block, role);
    } else if (!role.empty()) {
        text = std::string(role);
    }
    if (!field.empty() && field != "block") {
        if (!text.empty())
            text += ": ";
        if (field == "crc")
            text += fmt::format("field 'crc' = {:#010x}", value);
        else if (value == RM4_NONE)
            text += fmt::format("field '{}' = none", field);
        else if (value_is_meaningful(field))
            text += fmt::format("field '{}' = {}", field, value);
        else
            text += fmt::format("field '{}'", field);
    }
    if (!text.empty())
        text += ": ";
    text += rm4_status_str(status);
    if (status == RM4_E_VERSION)
        text += fmt::format(" (this software supports version {})", RM4_VERSION_MAJOR);
    return text;
}

MetadataError::MetadataError(rm4_status status, std::optional<uint64_t> block,
                             std::string_view role, std::string field, uint64_t value)
    : MetadataError(status, block, field, value, describe(status, block, role, field, value)) {}

MetadataError::MetadataError(rm4_status status, std::optional<uint64_t> block, std::string field,
                             uint64_t value, const std::string& message)
    : Error(message)
    , status_(status)
    , block_(block)
    , field_(std::move(field))
    , value_(value) {}

LegacyV3Error::LegacyV3Error()
    : MetadataError(RM4_E_V3, RM4_SB_A_BLOCK, "magic", 0,
                    "block 0 (superblock A): legacy dm-remap v3 metadata (magic DMREMAP3); "
                    "migrate it to format v4 with `remapctl migrate`") {}

} // namespace remapmeta

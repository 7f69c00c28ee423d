// SPDX-License-Identifier: GPL-2.0-only OR MIT
//
// Device-mapper control through libdevmapper, as remapctl needs it: create
// with a table and a UUID, remove, info, list, status and table, target
// messages, and waiting for events. Every task is an RAII object; every
// change syncs with udev through a cookie (dm_task_set_cookie + dm_udev_wait)
// and, when udev is not running, turns the sync off instead of hanging and
// makes the /dev/mapper nodes itself.
#pragma once

#include "remapmeta/errors.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace remapmeta::dm {

// A device-mapper ioctl failed. what() is a whole sentence: the operation,
// the device, the reason (errno, libdevmapper's message and, when the kernel
// logged one, its own reason from the kernel log).
class DmError : public Error {
public:
    DmError(const std::string& message, int err, std::string kernel_reason);
    // errno of the ioctl (EEXIST, ENXIO, EBUSY, EACCES...), 0 when unknown.
    int error_code() const noexcept { return errno_; }
    // The kernel's own reason ("remap: Spare device is not formatted ..."), or empty.
    const std::string& kernel_reason() const noexcept { return kernel_reason_; }

private:
    int errno_;
    std::string kernel_reason_;
};

// Installs the log capture and the udev policy. Call once before anything else.
void init();

// udev is running (its control socket exists): sync with it through cookies.
bool udev_running();

// /proc/misc lists device-mapper (the dm-mod module is loaded or built in).
bool driver_available();

// The version of a loaded target ("1.0.0"), or nothing when it is not loaded.
std::optional<std::string> target_version(const std::string& target);

struct Target {
    uint64_t start = 0;
    uint64_t length = 0;
    std::string type;
    std::string params;
};

struct Info {
    std::string name;
    std::string uuid;
    uint32_t major = 0;
    uint32_t minor = 0;
    int32_t open_count = 0;
    uint32_t event_nr = 0;
    uint32_t target_count = 0;
    bool suspended = false;
    bool live_table = false;
    bool read_only = false;
};

// Every dm device's name.
std::vector<std::string> list_names();

// Info on `name`, or nothing when no such device exists.
std::optional<Info> info(const std::string& name);

// The live table's targets with their STATUSTYPE_INFO or STATUSTYPE_TABLE text.
std::vector<Target> status(const std::string& name);
std::vector<Target> table(const std::string& name);

// Creates and activates `name` with `targets`; the node is /dev/mapper/<name>.
void create(const std::string& name, const std::string& uuid, const std::vector<Target>& targets);

enum class RemoveMode {
    normal,   // retry briefly while something (udev's blkid) holds it open
    deferred, // remove at the last close
};
void remove(const std::string& name, RemoveMode mode);

// Loads `targets` as the inactive table and swaps it in (suspend + resume).
void replace_table(const std::string& name, const std::vector<Target>& targets);

// Sends a message to sector 0's target and returns its answer (maybe empty).
std::string message(const std::string& name, const std::string& text);

// Blocks until the device's event counter differs from `event_nr`; returns the
// new counter. Throws DmError when the device goes away.
uint32_t wait_event(const std::string& name, uint32_t event_nr);

// "/dev/mapper/<name>".
std::string node_path(const std::string& name);

} // namespace remapmeta::dm

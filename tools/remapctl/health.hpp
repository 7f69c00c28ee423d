// SPDX-License-Identifier: GPL-2.0-only OR MIT
//
// remapctl health: the health report of a dm-remap device, online (NAME: the
// live status plus the history read from its spare) or offline (--spare:
// the metadata alone). See remapctl(8), "HEALTH".
#pragma once

#include "remapmeta/health.hpp"
#include "remapmeta/status.hpp"

#include <optional>
#include <string>

namespace remapctl {

// What remapctl found about a live device.
struct LiveDevice {
    std::string name;
    std::string spare_path;
    remapmeta::TargetStatus status;
};

struct HealthOptions {
    std::string name;
    std::string spare;
    bool json = false;
};

// Exit codes of `health`: the grade (0 ok, 1 warn, 2 critical), as
// monitoring plugins use them; errors keep remapctl's codes.
int grade_exit(remapmeta::Grade g) noexcept;

// The health of a device from its spare's metadata, with the live status
// (when given) taking precedence for the counts and the mode. Throws
// remapmeta errors when the spare cannot be read.
remapmeta::HealthReport device_health(const std::string& spare_path,
                                      const std::optional<remapmeta::TargetStatus>& live,
                                      uint64_t now);

// Prints the report (human or JSON) and returns grade_exit().
int print_health(const HealthOptions& o, const std::string& source,
                 const remapmeta::HealthReport& h,
                 const std::optional<remapmeta::TargetStatus>& live,
                 const std::string& history_note);

} // namespace remapctl

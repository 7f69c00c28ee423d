// SPDX-License-Identifier: GPL-2.0-only OR MIT
//
// remapctl activate and deactivate: the devices of /etc/remaptab
// (remaptab(5)) brought up and down through remapctl's own create and
// remove, with the stable names resolved to block devices first.
#pragma once

#include "remapmeta/remaptab.hpp"

#include <functional>
#include <optional>
#include <string>

namespace remapctl {

struct ActivateOptions {
    std::string name; // one entry, or empty with all
    bool all = false; // every entry (activate: but noauto ones)
    std::string remaptab = remapmeta::remaptab::default_path;
    unsigned wait = 0; // activate: seconds to wait for the devices to appear
};

// remapctl's own actions, each returning its exit code and printing its
// own messages and errors.
struct Actions {
    std::function<void()> require_dm;
    std::function<int(const std::string& name, const std::string& main, const std::string& spare,
                      std::optional<unsigned> retries)>
        create;
    std::function<int(const std::string& name)> remove;
};

int activate(const ActivateOptions& o, const Actions& a);
int deactivate(const ActivateOptions& o, const Actions& a);

} // namespace remapctl

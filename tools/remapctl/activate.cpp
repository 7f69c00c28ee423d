// SPDX-License-Identifier: GPL-2.0-only OR MIT
#include "activate.hpp"

#include "common/tool.hpp"
#include "remapmeta/dm.hpp"
#include "remapmeta/probe.hpp"
#include "remapmeta/status.hpp"

#include <chrono>
#include <cstdio>
#include <fmt/format.h>
#include <thread>

namespace remapctl {

namespace {

using namespace remapmeta;
using remaptool::error;

// remapctl's exit codes (remapctl(8), EXIT STATUS) that these actions return themselves.
constexpr int exit_ok = 0;
constexpr int exit_not_found = 2;
constexpr int exit_busy = 5;
constexpr int exit_operational = 8;
constexpr int exit_usage = 16;

struct Failed {
    int code;
};

[[noreturn]] void fail(int code, const std::string& message) {
    error(message);
    throw Failed{code};
}

std::string where(const remaptab::Entry& e) {
    return fmt::format("{} ({}:{})", e.name, e.file, e.line);
}

std::vector<remaptab::Entry> load(const ActivateOptions& o) {
    try {
        return remaptab::load(o.remaptab, o.all);
    } catch (const remaptab::ParseError& e) {
        fail(exit_usage, fmt::format("{}; see remaptab(5)", e.what()));
    } catch (const IoError& e) {
        fail(e.error_code() == ENOENT ? exit_not_found : exit_operational,
             fmt::format("{}; remapctl reads its entries from there (remaptab(5)), "
                         "or from --remaptab FILE",
                         e.what()));
    }
}

const remaptab::Entry& find(const std::vector<remaptab::Entry>& tab, const ActivateOptions& o) {
    for (const auto& e : tab)
        if (e.name == o.name)
            return e;
    std::string names;
    for (const auto& e : tab)
        names += (names.empty() ? "" : ", ") + e.name;
    fail(exit_not_found,
         fmt::format("{} has no entry named '{}' ({}); add a line 'NAME MAIN SPARE [OPTIONS]' "
                     "(remaptab(5)), or use `remapctl create` for a device outside it",
                     o.remaptab, o.name, names.empty() ? "it has none" : "its entries: " + names));
}

// The devices of the running dm device `name`, when there is one.
struct Running {
    bool remap = false;
    std::string main; // major:minor
    std::string spare;
};

std::optional<Running> running(const std::string& name) {
    try {
        if (!dm::info(name))
            return std::nullopt;
        Running r;
        const auto t = dm::table(name);
        if (t.size() == 1 && t[0].type == target_name) {
            const auto p = parse_table_params(t[0].params);
            r.remap = true;
            r.main = p.main;
            r.spare = p.spare;
        }
        return r;
    } catch (const Error& e) {
        fail(exit_operational, fmt::format("{}: {}", name, e.what()));
    }
}

std::string devno(const std::string& path) {
    const auto d = probe::devnum(path);
    return d ? d->str() : "";
}

// Both devices of `e`, waiting up to `wait` seconds for them to appear.
std::pair<std::string, std::string> resolve(const remaptab::Entry& e, unsigned wait) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(wait);
    bool told = false;
    for (;;) {
        try {
            return {remaptab::resolve(e.main, "main"), remaptab::resolve(e.spare, "spare")};
        } catch (const DeviceError& x) {
            if (x.kind() != DeviceErrorKind::not_found ||
                std::chrono::steady_clock::now() >= deadline)
                fail(x.kind() == DeviceErrorKind::not_found ? exit_not_found : exit_busy,
                     fmt::format("{}: {}", where(e), x.what()));
            if (!told)
                std::printf("%s: waiting up to %u s for its devices to appear\n", e.name.c_str(),
                            wait);
            told = true;
            std::fflush(stdout);
            std::this_thread::sleep_for(std::chrono::milliseconds(250));
        }
    }
}

int activate_one(const remaptab::Entry& e, const ActivateOptions& o, const Actions& a) {
    if (const auto r = running(e.name)) {
        if (!r->remap)
            fail(exit_busy, fmt::format("{}: a dm device of that name exists and is not a "
                                        "dm-remap device; rename the remaptab entry or remove "
                                        "that device (`dmsetup info {}`)",
                                        where(e), e.name));
        const auto [main, spare] = resolve(e, 0);
        if (devno(main) != r->main || devno(spare) != r->spare)
            fail(exit_busy,
                 fmt::format("{}: already active, but over main {} and spare {}, not {} and {} "
                             "as remaptab says; deactivate it first (`remapctl deactivate {}`)",
                             where(e), probe::device_path(r->main), probe::device_path(r->spare),
                             main, spare, e.name));
        std::printf("%s: already active\n", e.name.c_str());
        return exit_ok;
    }
    const auto [main, spare] = resolve(e, o.wait);
    std::printf("%s: main %s%s, spare %s%s\n", e.name.c_str(), main.c_str(),
                e.main.kind == remaptab::DeviceSpec::Kind::path
                    ? ""
                    : fmt::format(" ({})", e.main.text()).c_str(),
                spare.c_str(),
                e.spare.kind == remaptab::DeviceSpec::Kind::path
                    ? ""
                    : fmt::format(" ({})", e.spare.text()).c_str());
    std::fflush(stdout);
    return a.create(e.name, main, spare, e.retries);
}

int deactivate_one(const remaptab::Entry& e, const Actions& a) {
    const auto r = running(e.name);
    if (!r) {
        std::printf("%s: not active\n", e.name.c_str());
        return exit_ok;
    }
    if (!r->remap)
        fail(exit_busy, fmt::format("{}: the dm device of that name is not a dm-remap device; "
                                    "remapctl leaves it alone (`dmsetup info {}`)",
                                    where(e), e.name));
    return a.remove(e.name);
}

// Runs `one` on one entry or on all, returning the first failure's code;
// a nofail entry's failure is reported and passed over.
template <typename F> int each(const std::vector<remaptab::Entry>& tab, bool reverse, F one) {
    int rc = exit_ok;
    for (std::size_t i = 0; i < tab.size(); i++) {
        const auto& e = tab[reverse ? tab.size() - 1 - i : i];
        int code = exit_ok;
        try {
            code = one(e);
        } catch (const Failed& f) {
            code = f.code;
        }
        if (code == exit_ok)
            continue;
        if (e.nofail) {
            std::printf("%s: failed (exit %d); nofail, so carrying on\n", e.name.c_str(), code);
            continue;
        }
        if (rc == exit_ok)
            rc = code;
    }
    return rc;
}

void check_selection(const ActivateOptions& o, const char* action) {
    if (o.all == !o.name.empty())
        remaptool::usage_error(
            fmt::format("give either NAME (one remaptab entry) or --all to {}", action));
}

} // namespace

int activate(const ActivateOptions& o, const Actions& a) {
    check_selection(o, "activate");
    try {
        const auto tab = load(o);
        if (!o.all) {
            const auto& e = find(tab, o);
            a.require_dm();
            return activate_one(e, o, a);
        }
        std::vector<remaptab::Entry> wanted;
        for (const auto& e : tab)
            if (!e.noauto)
                wanted.push_back(e);
        if (wanted.empty()) {
            std::printf("%s: no devices to activate\n", o.remaptab.c_str());
            return exit_ok;
        }
        a.require_dm();
        return each(wanted, false, [&](const remaptab::Entry& e) { return activate_one(e, o, a); });
    } catch (const Failed& f) {
        return f.code;
    }
}

int deactivate(const ActivateOptions& o, const Actions& a) {
    check_selection(o, "deactivate");
    try {
        const auto tab = load(o);
        if (!o.all) {
            const auto& e = find(tab, o);
            a.require_dm();
            return deactivate_one(e, a);
        }
        if (tab.empty()) {
            std::printf("%s: no devices to deactivate\n", o.remaptab.c_str());
            return exit_ok;
        }
        a.require_dm();
        // In reverse order: a later entry may stand on an earlier one.
        return each(tab, true, [&](const remaptab::Entry& e) { return deactivate_one(e, a); });
    } catch (const Failed& f) {
        return f.code;
    }
}

} // namespace remapctl

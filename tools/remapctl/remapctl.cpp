// SPDX-License-Identifier: GPL-2.0-only OR MIT
//
// remapctl: the admin CLI of dm-remap, in the manner of cryptsetup and
// dmsetup: `remapctl <action> [options] <args>`. It formats spares (after
// probing them with libblkid and asking), activates and removes dm-remap
// devices through libdevmapper, reports their status (human, JSON,
// Prometheus), talks to the target through its messages and follows its
// state with `monitor`. See remapctl(8).
#include "activate.hpp"
#include "common/tool.hpp"
#include "health.hpp"
#include "output.hpp"
#include "remapmeta/check.hpp"
#include "remapmeta/dm.hpp"
#include "remapmeta/errors.hpp"
#include "remapmeta/layout.hpp"
#include "remapmeta/metadata.hpp"
#include "remapmeta/migrate.hpp"
#include "remapmeta/probe.hpp"
#include "remapmeta/status.hpp"
#include "remapmeta/v3.hpp"

#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <csignal>
#include <cstdio>
#include <ctime>
#include <fmt/format.h>
#include <iostream>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <pthread.h>
#include <sys/stat.h>
#include <thread>
#include <unistd.h>

using namespace remapmeta;
using namespace remaptool;
using json = nlohmann::ordered_json;

namespace {

// remapctl's exit codes (remapctl(8), EXIT STATUS). 8, 16 and 32 are the
// tools' shared ones; the others name what a script most needs to tell apart.
enum CtlExit : int {
    exit_ok = 0,
    exit_pending = 1,     // remap: the unit was unreadable and is now pending
    exit_not_found = 2,   // no such dm-remap device, block device or file
    exit_permission = 3,  // not root
    exit_metadata = 4,    // spare not formatted, legacy v3, damaged, needs_check
    exit_busy = 5,        // name taken, device open, device in use
    exit_refused = 6,     // a signature on the spare, wrong pair, not confirmed
    exit_unavailable = 7, // device-mapper or the remap target not loaded
};

class CtlError : public std::runtime_error {
public:
    CtlError(int code, const std::string& message)
        : std::runtime_error(message)
        , code_(code) {}
    int code() const noexcept { return code_; }

private:
    int code_;
};

[[noreturn]] void fail(int code, const std::string& message) {
    throw CtlError(code, message);
}

// ---- device-mapper preconditions --------------------------------------------

void require_dm() {
    if (!dm::driver_available())
        fail(exit_unavailable, "device-mapper is not available (no 'device-mapper' in "
                               "/proc/misc); load it with `modprobe dm-mod`");
    if (::access("/dev/mapper/control", R_OK | W_OK) != 0 && (errno == EACCES || errno == EPERM))
        fail(exit_permission, "permission denied on /dev/mapper/control: device-mapper needs "
                              "root (CAP_SYS_ADMIN); run remapctl as root, e.g. with sudo");
    dm::init();
}

bool remap_target_loaded() {
    return dm::target_version(std::string(target_name)).has_value();
}

[[noreturn]] void target_missing() {
    fail(exit_unavailable, "the dm-remap target is not loaded (no 'remap' in the device-mapper "
                           "target list, as `dmsetup targets` shows it); load it with "
                           "`modprobe dm-remap`");
}

// Turns a failed ioctl into an exit code and a next step.
[[noreturn]] void dm_failed(const dm::DmError& e, const std::string& name) {
    switch (e.error_code()) {
    case EACCES:
    case EPERM:
        fail(exit_permission, fmt::format("{}; device-mapper needs root (CAP_SYS_ADMIN): run "
                                          "remapctl as root",
                                          e.what()));
    case ENXIO:
    case ENODEV:
    case ENOENT:
        fail(exit_not_found,
             fmt::format("{}; `remapctl list` shows the dm-remap devices", e.what()));
    case EBUSY:
        fail(exit_busy, fmt::format("{}; something holds it open (see `lsblk {}`, `fuser -vm "
                                    "{}`)",
                                    e.what(), dm::node_path(name), dm::node_path(name)));
    default:
        fail(exit_operational, e.what());
    }
}

// ---- dm-remap devices -------------------------------------------------------

struct RemapDevice {
    dm::Info info;
    uint64_t length = 0; // sectors
    TableParams params;  // devices as major:minor
    TargetStatus status;
    std::string main_path;
    std::string spare_path;
};

// The remap target of `name`'s table, or nothing when it is another kind of device.
std::optional<dm::Target> remap_target_of(const std::vector<dm::Target>& targets) {
    if (targets.size() == 1 && targets[0].type == target_name)
        return targets[0];
    return std::nullopt;
}

RemapDevice load_device(const std::string& name) {
    try {
        auto i = dm::info(name);
        if (!i)
            fail(exit_not_found, fmt::format("no dm device named '{}'; `remapctl list` shows "
                                             "the dm-remap devices",
                                             name));
        RemapDevice d;
        d.info = *i;
        const auto table = dm::table(name);
        const auto t = remap_target_of(table);
        if (!t)
            fail(exit_not_found,
                 fmt::format("dm device '{}' is not a dm-remap device (its table is {}); "
                             "manage it with dmsetup",
                             name,
                             table.empty() ? std::string("empty")
                                           : fmt::format("'{}'{}", table[0].type,
                                                         table.size() > 1 ? " and more" : "")));
        d.length = t->length;
        d.params = parse_table_params(t->params);
        const auto st = remap_target_of(dm::status(name));
        if (!st)
            fail(exit_operational, fmt::format("dm device '{}' changed while it was read; run "
                                               "the command again",
                                               name));
        d.status = parse_status(st->params);
        d.main_path = probe::device_path(d.params.main);
        d.spare_path = probe::device_path(d.params.spare);
        return d;
    } catch (const dm::DmError& e) {
        dm_failed(e, name);
    } catch (const StatusError& e) {
        fail(exit_operational,
             fmt::format("dm device '{}': {}; is the dm-remap module from another release "
                         "than remapctl? (`modinfo dm-remap`, `remapctl --version`)",
                         name, e.what()));
    }
}

std::vector<RemapDevice> all_devices() {
    std::vector<RemapDevice> out;
    try {
        for (const auto& n : dm::list_names()) {
            std::vector<dm::Target> t;
            try {
                t = dm::table(n);
            } catch (const dm::DmError&) {
                continue; // removed meanwhile
            }
            if (!remap_target_of(t))
                continue;
            try {
                out.push_back(load_device(n));
            } catch (const CtlError& e) {
                if (e.code() != exit_not_found)
                    throw;
            }
        }
    } catch (const dm::DmError& e) {
        dm_failed(e, "");
    }
    return out;
}

std::string message(const std::string& name, const std::string& text) {
    try {
        return dm::message(name, text);
    } catch (const dm::DmError& e) {
        dm_failed(e, name);
    }
}

uint64_t unit_sectors(const TargetStatus& s) {
    return std::max<uint64_t>(1, s.unit_bytes / 512);
}

uint64_t main_units(const RemapDevice& d) {
    const uint64_t us = unit_sectors(d.status);
    return (d.length + us - 1) / us;
}

// BLOCK or --sector S, as a unit of the device (checked against its size).
uint64_t pick_unit(const RemapDevice& d, const std::optional<uint64_t>& block,
                   const std::optional<uint64_t>& sector) {
    if (block.has_value() == sector.has_value())
        usage_error("give either a BLOCK (a unit number) or --sector S");
    uint64_t unit = 0;
    if (sector) {
        if (*sector >= d.length)
            usage_error(fmt::format("sector {} is beyond the end of '{}' ({} sectors)", *sector,
                                    d.info.name, d.length));
        unit = *sector / unit_sectors(d.status);
    } else {
        unit = *block;
    }
    if (unit >= main_units(d))
        usage_error(fmt::format("block {} is beyond the last unit of '{}' ({}; units of {} "
                                "bytes)",
                                unit, d.info.name, main_units(d) - 1, d.status.unit_bytes));
    return unit;
}

void print_json(const json& j) {
    std::cout << j.dump(2) << '\n';
}

// ---- format -----------------------------------------------------------------

struct FormatOptions {
    std::string main;
    std::string spare;
    std::optional<uint32_t> block_size;
    bool force = false;
    bool batch = false;
    bool json = false;
};

bool same_device(const std::string& a, const std::string& b) {
    struct stat sa {
    }, sb{};
    if (::stat(a.c_str(), &sa) != 0 || ::stat(b.c_str(), &sb) != 0)
        return false;
    if (S_ISBLK(sa.st_mode) && S_ISBLK(sb.st_mode))
        return sa.st_rdev == sb.st_rdev;
    return sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

void must_exist(const std::string& path, const char* role) {
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) {
        if (errno == EACCES)
            fail(exit_permission, fmt::format("{} device {}: permission denied; run remapctl as "
                                              "root",
                                              role, path));
        fail(exit_not_found, fmt::format("{} device {} does not exist; check the path (`lsblk` "
                                         "lists block devices)",
                                         role, path));
    }
}

// Asks for a typed YES on the terminal; false when the answer is anything else.
bool confirm(const std::string& what) {
    std::fprintf(stderr,
                 "\nWARNING!\n========\n%s\n\nAre you sure? (Type 'YES' in capital "
                 "letters): ",
                 what.c_str());
    std::fflush(stderr);
    std::string answer;
    if (!std::getline(std::cin, answer))
        return false;
    return answer == "YES";
}

int do_format(const FormatOptions& o) {
    must_exist(o.main, "main");
    must_exist(o.spare, "spare");
    if (same_device(o.main, o.spare))
        usage_error(fmt::format("--main and --spare are the same device ({})", o.spare));

    const auto sigs = probe::signatures(o.spare);
    if (!sigs.empty() && !o.force) {
        std::string found;
        for (std::size_t i = 0; i < sigs.size(); i++)
            found += (i ? ", and " : "") + sigs[i].describe();
        std::string next = "check that it is the right device, or pass --force to overwrite it";
        if (sigs[0].type == "dm-remap-v4")
            next = fmt::format("it is already a dm-remap spare: activate it with `remapctl "
                               "create NAME --main {} --spare {}`, or pass --force to "
                               "re-format it (which forgets every remap)",
                               o.main, o.spare);
        else if (sigs[0].type == "dm-remap-v3")
            next = fmt::format("save it first (`remap-dump --format json {}`); pass --force to "
                               "overwrite it (which forgets every v3 remap)",
                               o.spare);
        fail(exit_refused, fmt::format("{} is not empty (found: {}); formatting would destroy "
                                       "it: {}",
                                       o.spare, found, next));
    }

    Device main = Device::open(o.main);
    Device spare = open_device(o.spare, true);
    FormatParams p;
    p.main_sectors = main.sectors();
    p.main_logical_block_size = main.logical_block_size();
    p.main_physical_block_size = main.physical_block_size();
    p.main_identity = probe::identity(o.main);
    p.spare_sectors = spare.sectors();
    p.spare_logical_block_size = spare.logical_block_size();
    p.spare_physical_block_size = spare.physical_block_size();
    p.creator = fmt::format("remapctl {}", DMREMAP_VERSION).substr(0, RM4_CREATOR_LEN);
    if (o.block_size)
        p.unit_bytes = *o.block_size;
    Superblock sb{};
    try {
        sb = plan_layout(p);
    } catch (const ParameterError& e) {
        usage_error(fmt::format("--block-size {}: {}", o.block_size.value_or(0), e.what()));
    }

    if (!o.batch) {
        if (!::isatty(STDIN_FILENO))
            fail(exit_refused, fmt::format("standard input is not a terminal, so remapctl cannot "
                                           "ask before it overwrites {}; pass --batch to format "
                                           "from a script",
                                           o.spare));
        std::string what = fmt::format("This will overwrite data on {} irrevocably: it becomes "
                                       "the dm-remap spare of {}.",
                                       o.spare, o.main);
        for (const auto& s : sigs)
            what += fmt::format("\n{} holds {}, which will be erased.", o.spare, s.describe());
        if (!confirm(what))
            fail(exit_refused, fmt::format("not confirmed; nothing was written to {}", o.spare));
    }

    int wiped = 0;
    if (!sigs.empty() && spare.is_block_device())
        wiped = probe::wipe_signatures(spare.fd(), o.spare);
    format(spare, sb);

    const std::string uuid = uuid_to_string(sb.uuid);
    const uint64_t capacity = sb.table_blocks * RM4_ENTRIES_PER_BLOCK;
    if (o.json) {
        print_json({{"spare", o.spare},
                    {"main", o.main},
                    {"uuid", uuid},
                    {"unit_bytes", sb.unit_bytes},
                    {"spare_blocks", sb.pool_blocks},
                    {"table_capacity", capacity},
                    {"main_sectors", sb.main_sectors},
                    {"main_identity", p.main_identity},
                    {"signatures_erased", wiped}});
        return exit_ok;
    }
    std::printf("%s: formatted as the dm-remap spare of %s\n", o.spare.c_str(), o.main.c_str());
    std::printf("  format UUID:  %s\n  unit:         %u bytes\n  spare blocks: %llu\n"
                "  table slots:  %llu\n  main:         %llu sectors, identity %s\n",
                uuid.c_str(), sb.unit_bytes, static_cast<unsigned long long>(sb.pool_blocks),
                static_cast<unsigned long long>(capacity),
                static_cast<unsigned long long>(sb.main_sectors),
                p.main_identity.empty() ? "unknown" : ("'" + p.main_identity + "'").c_str());
    std::printf("Activate it with: remapctl create NAME --main %s --spare %s\n", o.main.c_str(),
                o.spare.c_str());
    return exit_ok;
}

// ---- create -----------------------------------------------------------------

struct MigrateOptions {
    std::string main;
    std::string spare;
    std::optional<uint64_t> spare_start;
    std::optional<uint64_t> spare_len;
    std::optional<uint32_t> block_size;
    bool dry_run = false;
    bool batch = false;
};

// Converts legacy v3 metadata on the spare to v4 in place (docs/migration.md).
int do_migrate(const MigrateOptions& o) {
    must_exist(o.main, "main");
    must_exist(o.spare, "spare");
    if (same_device(o.main, o.spare))
        usage_error(fmt::format("--main and --spare are the same device ({})", o.spare));
    if (o.spare_start.has_value() != o.spare_len.has_value())
        usage_error("--spare-start and --spare-len go together: give both or neither");

    migrate::Options mo;
    mo.spare_start = o.spare_start;
    mo.spare_len = o.spare_len;
    mo.unit_bytes = o.block_size.value_or(0);
    mo.main_identity = probe::identity(o.main);
    // Testing aid: stop after this many writes to the spare, as a crash would.
    if (const char* stop = std::getenv("REMAPCTL_MIGRATE_STOP_AFTER_WRITES"))
        mo.stop_after_writes = std::stoull(stop);

    // Both devices exclusively: refuses devices that are mounted or held.
    Device main = open_device(o.main, false);
    Device spare = open_device(o.spare, !o.dry_run);
    try {
        if (!v3::is_v3(spare)) {
            if (o.dry_run) {
                std::printf("%s holds no legacy v3 metadata; nothing to migrate\n",
                            o.spare.c_str());
                return exit_ok;
            }
        } else {
            const auto plan = migrate::plan(spare, main, mo);
            std::printf("%s", migrate::describe(plan).c_str());
            if (o.dry_run) {
                std::printf("dry run: nothing was written\n");
                return exit_ok;
            }
            if (!o.batch) {
                if (!::isatty(STDIN_FILENO))
                    fail(exit_refused,
                         fmt::format("standard input is not a terminal, so remapctl cannot ask "
                                     "before it converts {}; pass --batch from a script",
                                     o.spare));
                if (!confirm(fmt::format("This converts the v3 metadata on {} to v4 in place. "
                                         "Kernels with dm-remap 3.x cannot use it afterwards.",
                                         o.spare)))
                    fail(exit_refused,
                         fmt::format("not confirmed; nothing was written to {}", o.spare));
            }
        }
        switch (migrate::run(spare, main, mo)) {
        case migrate::Outcome::migrated:
            std::printf("migrated %s to v4; activate it with `remapctl create NAME --main %s "
                        "--spare %s`\n",
                        o.spare.c_str(), o.main.c_str(), o.spare.c_str());
            break;
        case migrate::Outcome::already_v4:
            std::printf("%s already holds v4 metadata; nothing to do\n", o.spare.c_str());
            break;
        case migrate::Outcome::repaired_v4:
            std::printf("%s already holds v4 metadata; superblock B restored (an earlier "
                        "migration stopped after the switch)\n",
                        o.spare.c_str());
            break;
        }
    } catch (const migrate::Refused& e) {
        fail(exit_refused, fmt::format("migrate refused: {}", e.what()));
    } catch (const migrate::Interrupted& e) {
        fail(exit_operational, e.what());
    }
    return exit_ok;
}

struct CreateOptions {
    std::string name;
    std::string main;
    std::string spare;
    std::optional<unsigned> retries;
    bool json = false;
    std::optional<unsigned> scan_rate = std::nullopt; // MiB/s: scan from the start
    std::optional<unsigned> slow_ms = std::nullopt;
};

// The spare's superblock, checked: formatted, v4, clean, not needs_check.
Superblock checked_superblock(const CreateOptions& o) {
    Device spare = Device::open(o.spare, {.direct = true});
    if (v3::is_v3(spare))
        fail(exit_metadata, fmt::format("{} holds legacy dm-remap v3 metadata; the v4 target "
                                        "cannot use it until it is migrated (inspect it with "
                                        "`remap-check {}`)",
                                        o.spare, o.spare));
    ScanResult r;
    try {
        ScanOptions so;
        so.superblock_only = true;
        r = scan(spare, so);
    } catch (const NotMetadataError&) {
        fail(exit_metadata, fmt::format("{} is not formatted for dm-remap (no v4 superblock); "
                                        "format it with `remapctl format --main {} --spare {}`",
                                        o.spare, o.main, o.spare));
    } catch (const MetadataError& e) {
        fail(exit_metadata,
             fmt::format("{}: {}; run `remap-check {}`", o.spare, e.what(), o.spare));
    }
    if (r.superblock_copy < 0 || r.has_fatal()) {
        std::string first = r.findings.empty() ? "no valid superblock" : r.findings[0].message;
        fail(exit_metadata, fmt::format("{}: the metadata is damaged ({}); run `remap-check {}` "
                                        "for the whole picture",
                                        o.spare, first, o.spare));
    }
    if (r.needs_check())
        fail(exit_metadata,
             fmt::format("{}: the metadata is flagged needs_check (a metadata write failed "
                         "while it was active); run `remap-check {}`, which clears the flag "
                         "when the metadata is clean",
                         o.spare, o.spare));
    return r.sb;
}

void check_fingerprint(const CreateOptions& o, const Superblock& sb) {
    Device main = Device::open(o.main);
    const std::string id = probe::identity(o.main);
    const std::string stored = sb.main_identity;
    std::vector<std::string> diffs;
    if (main.sectors() != sb.main_sectors)
        diffs.push_back(
            fmt::format("size {} sectors, the spare expects {}", main.sectors(), sb.main_sectors));
    if (main.logical_block_size() != sb.main_logical_block_size)
        diffs.push_back(fmt::format("logical block size {}, the spare expects {}",
                                    main.logical_block_size(), sb.main_logical_block_size));
    if (main.physical_block_size() != sb.main_physical_block_size)
        diffs.push_back(fmt::format("physical block size {}, the spare expects {}",
                                    main.physical_block_size(), sb.main_physical_block_size));
    // The identity is compared only when both are known: the same disk seen
    // through a stack that hides its serial is not a different disk.
    if (!id.empty() && !stored.empty() && id != stored)
        diffs.push_back(fmt::format("identity '{}', the spare expects '{}'", id, stored));
    if (diffs.empty())
        return;
    std::string list;
    for (std::size_t i = 0; i < diffs.size(); i++)
        list += (i ? "; " : "") + diffs[i];
    fail(exit_refused,
         fmt::format("{} belongs to another main device (fingerprint mismatch): {} has {}; "
                     "check --main, or format the spare for this disk with `remapctl format "
                     "--main {} --spare {} --force` (which forgets its remaps)",
                     o.spare, o.main, list, o.main, o.spare));
}

int do_create(const CreateOptions& o) {
    require_dm();
    if (o.retries && *o.retries > max_retries)
        usage_error(fmt::format("--retries {} is out of range (0 to {})", *o.retries, max_retries));
    if (o.scan_rate && *o.scan_rate > max_scan_rate)
        usage_error(fmt::format("--scan-rate {} is out of range (0 to {} MiB/s)", *o.scan_rate,
                                max_scan_rate));
    if (o.slow_ms && (*o.slow_ms < 1 || *o.slow_ms > max_slow_ms))
        usage_error(fmt::format("--slow-ms {} is out of range (1 to {})", *o.slow_ms, max_slow_ms));
    try {
        if (dm::info(o.name))
            fail(exit_busy, fmt::format("a dm device named '{}' already exists; pick another "
                                        "name, or remove it first (`remapctl remove {}`)",
                                        o.name, o.name));
    } catch (const dm::DmError& e) {
        dm_failed(e, o.name);
    }
    must_exist(o.main, "main");
    must_exist(o.spare, "spare");
    const auto main_num = probe::devnum(o.main);
    const auto spare_num = probe::devnum(o.spare);
    if (!main_num)
        fail(exit_not_found, fmt::format("main device {} is not a block device; for an image "
                                         "file, attach it with `losetup --find --show FILE`",
                                         o.main));
    if (!spare_num)
        fail(exit_not_found, fmt::format("spare device {} is not a block device; for an image "
                                         "file, attach it with `losetup --find --show FILE`",
                                         o.spare));
    if (same_device(o.main, o.spare))
        usage_error(fmt::format("--main and --spare are the same device ({})", o.spare));
    ensure_not_in_use(o.main);
    ensure_not_in_use(o.spare);

    const Superblock sb = checked_superblock(o);
    check_fingerprint(o, sb);

    TableParams params{main_num->str(), spare_num->str(), o.retries};
    params.scan_rate = o.scan_rate;
    params.slow_ms = o.slow_ms;
    const std::string uuid = "REMAP-" + uuid_to_string(sb.uuid);
    const bool target_was_loaded = remap_target_loaded();
    try {
        dm::create(o.name, uuid,
                   {{0, sb.main_sectors, std::string(target_name), format_table_params(params)}});
    } catch (const dm::DmError& e) {
        // The kernel loads dm-remap on demand when it can; only now is its absence sure.
        if (!target_was_loaded && !remap_target_loaded())
            target_missing();
        if (e.error_code() == EEXIST) {
            if (dm::info(o.name))
                fail(exit_busy, fmt::format("a dm device named '{}' already exists; pick another "
                                            "name",
                                            o.name));
            fail(exit_busy, fmt::format("the spare's format UUID is in use: {} is already "
                                        "active as another dm device (dm UUID {}); see "
                                        "`remapctl list`",
                                        o.spare, uuid));
        }
        if (e.error_code() == EBUSY)
            fail(exit_busy, fmt::format("{}; {} or {} is in use (mounted, or held by another "
                                        "device)",
                                        e.what(), o.main, o.spare));
        if (e.kernel_reason().find("needs_check") != std::string::npos)
            fail(exit_metadata, fmt::format("{}; run `remap-check {}`", e.what(), o.spare));
        if (e.kernel_reason().empty())
            fail(exit_operational,
                 fmt::format("{}; the kernel log (`dmesg | tail`) says why", e.what()));
        dm_failed(e, o.name);
    }
    const std::string path = dm::node_path(o.name);
    if (o.json)
        print_json({{"name", o.name},
                    {"path", path},
                    {"uuid", uuid},
                    {"main", o.main},
                    {"spare", o.spare},
                    {"table", format_table_line(sb.main_sectors, params)}});
    else
        std::printf("%s\n", path.c_str());
    return exit_ok;
}

// ---- remove -----------------------------------------------------------------

struct RemoveOptions {
    std::string name;
    bool force = false;
    bool deferred = false;
    bool json = false;
};

int do_remove(const RemoveOptions& o) {
    require_dm();
    RemapDevice d = load_device(o.name);
    // udev's probes open a new device for a moment: give them a second.
    for (int i = 0; i < 10 && d.info.open_count > 0; i++) {
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
        if (auto i2 = dm::info(o.name))
            d.info = *i2;
    }
    std::string how = "removed";
    try {
        if (d.info.open_count > 0 && !o.force && !o.deferred)
            fail(exit_busy,
                 fmt::format("dm device '{}' is open ({} user(s)): unmount it or stop what "
                             "holds it (`lsblk {}`, `fuser -vm {}`), or pass --deferred to "
                             "remove it at the last close",
                             o.name, d.info.open_count, dm::node_path(o.name),
                             dm::node_path(o.name)));
        if (d.info.open_count > 0 && o.force) {
            // As `dmsetup remove --force`: I/O fails from now on, and the
            // remap target's destructor runs (its commits are all durable).
            dm::replace_table(o.name, {{0, d.length, "error", ""}});
            dm::remove(o.name, dm::RemoveMode::deferred);
            how = "replaced with an error table; removed at the last close";
        } else if (d.info.open_count > 0) {
            dm::remove(o.name, dm::RemoveMode::deferred);
            how = "removed at the last close (deferred)";
        } else {
            dm::remove(o.name, dm::RemoveMode::normal);
        }
    } catch (const dm::DmError& e) {
        dm_failed(e, o.name);
    }
    if (o.json)
        print_json({{"name", o.name}, {"result", how}});
    else
        std::printf("%s: %s\n", o.name.c_str(), how.c_str());
    return exit_ok;
}

// ---- list and status ----------------------------------------------------------

// The background scan: status fields 17 to 23, and slow_ms from the table.
json scan_json(const RemapDevice& d) {
    if (!d.status.scan)
        return nullptr;
    const ScanStatus& s = *d.status.scan;
    return {{"state", s.state},
            {"rate_mib_s", s.rate},
            {"slow_ms", d.params.slow_ms ? json(*d.params.slow_ms) : json(nullptr)},
            {"pass", s.pass},
            {"cursor", s.cursor},
            {"progress", s.progress},
            {"bad", s.bad},
            {"weak", s.weak}};
}

json device_json(const RemapDevice& d) {
    json st;
    st["mode"] = d.status.mode;
    for (const auto& f : numeric_fields(d.status))
        st[std::string(f.name)] = f.value;
    return {{"name", d.info.name},
            {"path", dm::node_path(d.info.name)},
            {"uuid", d.info.uuid},
            {"open_count", d.info.open_count},
            {"suspended", d.info.suspended},
            {"sectors", d.length},
            {"main", {{"path", d.main_path}, {"devno", d.params.main}}},
            {"spare", {{"path", d.spare_path}, {"devno", d.params.spare}}},
            {"retry_limit", d.params.retries ? json(*d.params.retries) : json(nullptr)},
            {"mode", d.status.mode},
            {"remapped", d.status.remapped()},
            {"pending", d.status.pending},
            {"spare_used_percent", std::round(d.status.spare_used_percent() * 100.0) / 100.0},
            {"scan", scan_json(d)},
            {"status", st}};
}

std::string percent(double p) {
    return fmt::format("{:.1f}%", p);
}

struct ListOptions {
    bool json = false;
};

int do_list(const ListOptions& o) {
    require_dm();
    const auto devs = all_devices();
    if (o.json) {
        json a = json::array();
        for (const auto& d : devs)
            a.push_back(device_json(d));
        print_json(a);
        return exit_ok;
    }
    if (devs.empty()) {
        std::printf("No dm-remap devices.\n");
        return exit_ok;
    }
    std::vector<std::vector<std::string>> rows{
        {"NAME", "MAIN", "SPARE", "REMAPS", "PENDING", "SPARE USED", "MODE"}};
    for (const auto& d : devs)
        rows.push_back({d.info.name, d.main_path, d.spare_path, std::to_string(d.status.remapped()),
                        std::to_string(d.status.pending), percent(d.status.spare_used_percent()),
                        d.status.mode});
    std::printf("%s", output::table(rows, {false, false, false, true, true, true, false}).c_str());
    return exit_ok;
}

struct StatusOptions {
    std::vector<std::string> names;
    std::string format = "human";
    bool json = false;
};

void print_human(const RemapDevice& d) {
    const TargetStatus& s = d.status;
    std::printf("%s: %s\n", d.info.name.c_str(), dm::node_path(d.info.name).c_str());
    std::printf("  mode:        %s%s\n", s.mode.c_str(), output::mode_note(s.mode).c_str());
    std::printf("  main:        %s (%s)\n", d.main_path.c_str(), d.params.main.c_str());
    std::printf("  spare:       %s (%s)\n", d.spare_path.c_str(), d.params.spare.c_str());
    std::printf("  size:        %llu sectors, units of %u bytes\n",
                static_cast<unsigned long long>(d.length), s.unit_bytes);
    std::printf("  remapped:    %llu unit(s)\n", static_cast<unsigned long long>(s.remapped()));
    std::printf("  pending:     %llu unit(s)%s\n", static_cast<unsigned long long>(s.pending),
                s.pending ? " (unreadable until rewritten)" : "");
    std::printf("  spare pool:  %llu of %llu blocks used (%s), %llu bad\n",
                static_cast<unsigned long long>(s.spare_used),
                static_cast<unsigned long long>(s.spare_total),
                percent(s.spare_used_percent()).c_str(),
                static_cast<unsigned long long>(s.spare_bad));
    std::printf("  table:       %llu of %llu slots used\n",
                static_cast<unsigned long long>(s.entries),
                static_cast<unsigned long long>(s.capacity));
    std::printf("  I/O:         %llu reads, %llu writes, %llu served by the spare\n",
                static_cast<unsigned long long>(s.reads), static_cast<unsigned long long>(s.writes),
                static_cast<unsigned long long>(s.remapped_ios));
    std::printf("  errors:      %llu on main, %llu on spare, %llu retries (limit %s)\n",
                static_cast<unsigned long long>(s.main_errors),
                static_cast<unsigned long long>(s.spare_errors),
                static_cast<unsigned long long>(s.retries),
                d.params.retries ? std::to_string(*d.params.retries).c_str() : "default");
    std::printf("  metadata:    v%u, commit %llu, open count %d\n", s.version,
                static_cast<unsigned long long>(s.seq), d.info.open_count);
    if (s.scan)
        std::printf("  scan:        %s, %u MiB/s, pass %llu at %u%%; this pass found %llu bad "
                    "and %llu weak unit(s)\n",
                    s.scan->state.c_str(), s.scan->rate,
                    static_cast<unsigned long long>(s.scan->pass), s.scan->progress,
                    static_cast<unsigned long long>(s.scan->bad),
                    static_cast<unsigned long long>(s.scan->weak));
}

int do_status(StatusOptions o) {
    if (o.json) {
        if (o.format != "human" && o.format != "json")
            usage_error("--json and --format " + o.format + " exclude each other");
        o.format = "json";
    }
    if (o.names.empty() && o.format != "prometheus")
        usage_error("status needs a NAME (all devices at once only with --format prometheus; "
                    "`remapctl list` lists them)");
    if (o.names.size() > 1 && o.format == "json")
        usage_error("status --json takes one NAME; `remapctl list --json` reports them all");
    require_dm();
    std::vector<RemapDevice> devs;
    if (o.names.empty())
        devs = all_devices();
    else
        for (const auto& n : o.names)
            devs.push_back(load_device(n));
    if (o.format == "prometheus") {
        std::vector<PrometheusDevice> p;
        const auto now = static_cast<uint64_t>(std::time(nullptr));
        for (const auto& d : devs) {
            p.push_back({d.info.name, d.main_path, d.spare_path, d.status});
            // The health metrics need the history on the spare; best effort.
            try {
                p.back().health = remapctl::device_health(d.spare_path, d.status, now);
            } catch (const Error& e) {
                note(fmt::format("{}: no health metrics: {}", d.info.name, e.what()));
            }
        }
        std::fputs(prometheus_text(p).c_str(), stdout);
    } else if (o.format == "json") {
        print_json(device_json(devs.at(0)));
    } else {
        for (std::size_t i = 0; i < devs.size(); i++) {
            if (i)
                std::printf("\n");
            print_human(devs[i]);
        }
    }
    return exit_ok;
}

// ---- remap, query, stats --------------------------------------------------------

struct UnitOptions {
    std::string name;
    std::optional<uint64_t> block;
    std::optional<uint64_t> sector;
    bool json = false;
};

std::string sectors_of(const RemapDevice& d, uint64_t unit) {
    const uint64_t us = unit_sectors(d.status);
    const uint64_t first = unit * us;
    const uint64_t last = std::min(first + us, d.length) - 1;
    return fmt::format("sectors {}-{}", first, last);
}

int do_query(const UnitOptions& o) {
    require_dm();
    const RemapDevice d = load_device(o.name);
    const uint64_t unit = pick_unit(d, o.block, o.sector);
    UnitInfo u;
    try {
        u = parse_query_answer(message(o.name, fmt::format("query {}", unit)));
    } catch (const StatusError& e) {
        fail(exit_operational, e.what());
    }
    if (o.json) {
        print_json({{"name", o.name},
                    {"unit", u.unit},
                    {"first_sector", u.unit * unit_sectors(d.status)},
                    {"state", to_string(u.state)},
                    {"spare_block", u.spare_block ? json(*u.spare_block) : json(nullptr)}});
        return exit_ok;
    }
    std::string what;
    switch (u.state) {
    case UnitState::ok:
        what = "ok (served by the main device)";
        break;
    case UnitState::remapped:
        what = fmt::format("remapped to spare block {}", u.spare_block.value_or(0));
        break;
    case UnitState::pending:
        what = "pending: unreadable, its contents are lost; reads fail until the whole unit is "
               "rewritten";
        break;
    }
    std::printf("%s: unit %llu (%s): %s\n", o.name.c_str(), static_cast<unsigned long long>(unit),
                sectors_of(d, unit).c_str(), what.c_str());
    return exit_ok;
}

int do_remap(const UnitOptions& o) {
    require_dm();
    const RemapDevice d = load_device(o.name);
    const uint64_t unit = pick_unit(d, o.block, o.sector);
    if (d.status.mode != "ok")
        fail(exit_refused,
             fmt::format("'{}' is in mode {}: it makes no new remaps{}; see "
                         "`remapctl status {}`",
                         o.name, d.status.mode, output::mode_note(d.status.mode), o.name));
    std::string answer;
    try {
        answer = dm::message(o.name, fmt::format("remap {}", unit));
    } catch (const dm::DmError& e) {
        if (e.error_code() == EBUSY)
            fail(exit_busy, fmt::format("unit {} of '{}' is pending (its contents were lost): "
                                        "rewrite the whole unit ({}) to recover it",
                                        unit, o.name, sectors_of(d, unit)));
        dm_failed(e, o.name);
    }
    RemapAnswer r;
    try {
        r = parse_remap_answer(answer);
    } catch (const StatusError& e) {
        fail(exit_operational, e.what());
    }
    if (o.json) {
        print_json({{"name", o.name},
                    {"unit", r.unit},
                    {"result", to_string(r.outcome)},
                    {"spare_block", r.spare_block ? json(*r.spare_block) : json(nullptr)}});
    } else if (r.outcome == RemapOutcome::remapped) {
        std::printf("%s: unit %llu (%s) remapped to spare block %llu\n", o.name.c_str(),
                    static_cast<unsigned long long>(r.unit), sectors_of(d, r.unit).c_str(),
                    static_cast<unsigned long long>(r.spare_block.value_or(0)));
    } else if (r.outcome == RemapOutcome::already_remapped) {
        std::printf("%s: unit %llu (%s) was already remapped\n", o.name.c_str(),
                    static_cast<unsigned long long>(r.unit), sectors_of(d, r.unit).c_str());
    } else if (r.outcome == RemapOutcome::queued) {
        std::printf("%s: unit %llu (%s): the remap is still running (the main device is slow "
                    "to read it); `remapctl query %s %llu` shows the result\n",
                    o.name.c_str(), static_cast<unsigned long long>(r.unit),
                    sectors_of(d, r.unit).c_str(), o.name.c_str(),
                    static_cast<unsigned long long>(r.unit));
    } else {
        error(fmt::format("{}: unit {} ({}) could not be read and is now pending: its contents "
                          "are lost; reads fail until the whole unit is rewritten",
                          o.name, r.unit, sectors_of(d, r.unit)));
    }
    return r.outcome == RemapOutcome::pending ? exit_pending : exit_ok;
}

struct StatsOptions {
    std::string name;
    bool clear = false;
    bool json = false;
};

int do_stats(const StatsOptions& o) {
    require_dm();
    (void)load_device(o.name);
    std::vector<std::pair<std::string, uint64_t>> stats;
    try {
        stats = parse_stats_answer(message(o.name, "stats"));
    } catch (const StatusError& e) {
        fail(exit_operational, e.what());
    }
    if (o.clear)
        (void)message(o.name, "clear_stats");
    if (o.json) {
        json j;
        j["name"] = o.name;
        json s;
        for (const auto& [k, v] : stats)
            s[k] = v;
        j["stats"] = s;
        j["cleared"] = o.clear;
        print_json(j);
        return exit_ok;
    }
    for (const auto& [k, v] : stats)
        std::printf("%-14s %llu\n", (k + ":").c_str(), static_cast<unsigned long long>(v));
    if (o.clear)
        std::printf("(counters cleared)\n");
    return exit_ok;
}

// ---- monitor ------------------------------------------------------------------

struct MonitorOptions {
    std::vector<std::string> names;
    bool json = false;
    unsigned interval_ms = 250;
    bool once = false;
};

// What monitor remembers of one device between looks.
struct Watched {
    std::string name;
    uint32_t event_nr = 0;
    TargetStatus status;
    std::map<uint64_t, UnitInfo> units; // the remap table, by unit
    bool gone = false;
};

std::map<uint64_t, UnitInfo> read_units(const std::string& name) {
    std::map<uint64_t, UnitInfo> out;
    constexpr uint64_t page = 4096; // the kernel's RM_LIST_MAX
    for (uint64_t from = 0;; from += page) {
        const auto part = parse_list_answer(message(name, fmt::format("list {} {}", from, page)));
        for (const auto& u : part)
            out[u.unit] = u;
        if (part.size() < page)
            break;
    }
    return out;
}

class Reporter {
public:
    explicit Reporter(bool as_json)
        : json_(as_json) {}

    void emit(const std::string& device, const std::string& event, json fields,
              const std::string& text) {
        const auto now = std::chrono::system_clock::now();
        const std::time_t t = std::chrono::system_clock::to_time_t(now);
        const auto ms =
            std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()) % 1000;
        std::tm tm{};
        char stamp[64];
        if (json_) {
            gmtime_r(&t, &tm);
            std::strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);
            json j{{"time", fmt::format("{}.{:03}Z", stamp, ms.count())},
                   {"device", device},
                   {"event", event}};
            for (auto& [k, v] : fields.items())
                j[k] = v;
            std::printf("%s\n", j.dump().c_str());
        } else {
            localtime_r(&t, &tm);
            std::strftime(stamp, sizeof(stamp), "%Y-%m-%d %H:%M:%S", &tm);
            std::printf("%s.%03d %s: %s\n", stamp, static_cast<int>(ms.count()), device.c_str(),
                        text.c_str());
        }
        std::fflush(stdout);
    }

private:
    bool json_;
};

// Compares two looks at a device and reports every change of state.
// The background scan: findings, finished passes, start and stop.
void report_scan(Reporter& rep, const std::string& name, const TargetStatus& was,
                 const TargetStatus& now) {
    if (!now.scan || !was.scan)
        return;
    const ScanStatus &a = *was.scan, &b = *now.scan;
    if (b.pass == a.pass && (b.bad > a.bad || b.weak > a.weak))
        rep.emit(name, "scan-found",
                 {{"pass", b.pass},
                  {"bad", b.bad},
                  {"weak", b.weak},
                  {"new_bad", b.bad - std::min(a.bad, b.bad)},
                  {"new_weak", b.weak - std::min(a.weak, b.weak)}},
                 fmt::format("scan pass {} found {} more bad unit(s) (now pending) and {} more "
                             "weak unit(s) (remapped); {} and {} in this pass",
                             b.pass, b.bad - std::min(a.bad, b.bad),
                             b.weak - std::min(a.weak, b.weak), b.bad, b.weak));
    if (b.pass > a.pass)
        rep.emit(name, "scan-pass", {{"pass", b.pass}},
                 fmt::format("scan pass {} complete", b.pass));
    if (b.state != a.state)
        rep.emit(name, "scan-state", {{"from", a.state}, {"to", b.state}},
                 fmt::format("scan {} -> {}", a.state, b.state));
}

void report_changes(Reporter& rep, Watched& w, const TargetStatus& now,
                    const std::map<uint64_t, UnitInfo>* units) {
    const TargetStatus& was = w.status;
    if (now.mode != was.mode)
        rep.emit(w.name, "mode", {{"from", was.mode}, {"to", now.mode}},
                 fmt::format("mode {} -> {}{}", was.mode, now.mode, output::mode_note(now.mode)));
    if (units) {
        const uint64_t us = unit_sectors(now);
        for (const auto& [unit, u] : *units) {
            auto old = w.units.find(unit);
            const bool changed = old == w.units.end() || old->second.state != u.state ||
                                 old->second.spare_block != u.spare_block;
            if (!changed)
                continue;
            if (u.state == UnitState::remapped)
                rep.emit(w.name, "remap",
                         {{"unit", unit},
                          {"sector", unit * us},
                          {"spare_block", u.spare_block ? json(*u.spare_block) : json(nullptr)},
                          {"was", old == w.units.end() ? "ok" : to_string(old->second.state)}},
                         fmt::format("unit {} (sector {}) remapped to spare block {}", unit,
                                     unit * us, u.spare_block.value_or(0)));
            else
                rep.emit(w.name, "pending", {{"unit", unit}, {"sector", unit * us}},
                         fmt::format("unit {} (sector {}) is pending: unreadable, reads fail "
                                     "until it is rewritten",
                                     unit, unit * us));
        }
        for (const auto& [unit, u] : w.units)
            if (!units->contains(unit))
                rep.emit(w.name, "recovered", {{"unit", unit}, {"sector", unit * us}},
                         fmt::format("unit {} (sector {}) recovered: rewritten, served by the "
                                     "main device again",
                                     unit, unit * us));
        w.units = *units;
    }
    if (now.spare_bad > was.spare_bad)
        rep.emit(w.name, "spare-bad",
                 {{"new", now.spare_bad - was.spare_bad}, {"spare_bad", now.spare_bad}},
                 fmt::format("{} spare block(s) failed ({} bad in all)",
                             now.spare_bad - was.spare_bad, now.spare_bad));
    if (now.main_errors > was.main_errors || now.spare_errors > was.spare_errors)
        rep.emit(w.name, "io-errors",
                 {{"main_errors", now.main_errors}, {"spare_errors", now.spare_errors}},
                 fmt::format("I/O errors: {} on main (+{}), {} on spare (+{})", now.main_errors,
                             now.main_errors - std::min(now.main_errors, was.main_errors),
                             now.spare_errors,
                             now.spare_errors - std::min(now.spare_errors, was.spare_errors)));
    if (now.spare_total && now.spare_used == now.spare_total && was.spare_used < was.spare_total)
        rep.emit(w.name, "spare-full", {{"spare_total", now.spare_total}},
                 "the spare pool is full: new failures cannot be remapped");
    report_scan(rep, w.name, was, now);
    w.status = now;
}

int do_monitor(const MonitorOptions& o) {
    require_dm();
    Reporter rep(o.json);
    std::vector<Watched> watched;
    for (const auto& n : o.names) {
        RemapDevice d = load_device(n);
        Watched w;
        w.name = n;
        w.event_nr = d.info.event_nr;
        w.status = d.status;
        w.units = read_units(n);
        rep.emit(n, "watch",
                 {{"mode", d.status.mode},
                  {"remapped", d.status.remapped()},
                  {"pending", d.status.pending},
                  {"spare_used", d.status.spare_used},
                  {"spare_total", d.status.spare_total}},
                 fmt::format("watching: mode {}, {} remapped, {} pending, {} of {} spare blocks "
                             "used",
                             d.status.mode, d.status.remapped(), d.status.pending,
                             d.status.spare_used, d.status.spare_total));
        watched.push_back(std::move(w));
    }
    if (o.once)
        return exit_ok;

    // One thread per device blocks in DM_DEVICE_WAITEVENT and wakes the main
    // loop on each dm event (the target raises one on every mode change).
    // New remaps raise none, so the main loop also looks every interval.
    std::mutex mu;
    std::condition_variable cv;
    bool woken = false;
    sigset_t block, old;
    sigemptyset(&block);
    sigaddset(&block, SIGINT);
    sigaddset(&block, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &block, &old);
    for (const auto& w : watched) {
        std::thread([&mu, &cv, &woken, name = w.name, nr = w.event_nr]() mutable {
            for (;;) {
                try {
                    nr = dm::wait_event(name, nr);
                } catch (const Error&) {
                    // Gone (or interrupted): the main loop notices on its next look.
                    std::this_thread::sleep_for(std::chrono::milliseconds(500));
                    try {
                        if (!dm::info(name))
                            return;
                    } catch (const Error&) {
                        return;
                    }
                }
                {
                    std::lock_guard lock(mu);
                    woken = true;
                }
                cv.notify_one();
            }
        }).detach();
    }
    pthread_sigmask(SIG_SETMASK, &old, nullptr);
    struct sigaction sa {};
    sa.sa_handler = [](int) { cancel_requested.store(true); };
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, nullptr);

    std::size_t alive = watched.size();
    while (alive && !cancel_requested.load()) {
        {
            std::unique_lock lock(mu);
            cv.wait_for(lock, std::chrono::milliseconds(o.interval_ms), [&] { return woken; });
            woken = false;
        }
        for (auto& w : watched) {
            if (w.gone)
                continue;
            try {
                const auto info = dm::info(w.name);
                const auto st = info ? remap_target_of(dm::status(w.name)) : std::nullopt;
                if (!st) {
                    w.gone = true;
                    alive--;
                    rep.emit(w.name, "removed", json::object(), "removed; no longer watched");
                    continue;
                }
                const TargetStatus now = parse_status(st->params);
                w.event_nr = info->event_nr;
                const bool table_changed =
                    now.entries != w.status.entries || now.spare_used != w.status.spare_used ||
                    now.pending != w.status.pending || now.seq != w.status.seq;
                std::map<uint64_t, UnitInfo> units;
                if (table_changed)
                    units = read_units(w.name);
                report_changes(rep, w, now, table_changed ? &units : nullptr);
            } catch (const dm::DmError& e) {
                if (dm::info(w.name))
                    throw;
                w.gone = true;
                alive--;
                rep.emit(w.name, "removed", json::object(), "removed; no longer watched");
            }
        }
    }
    // The waiting threads are blocked in the kernel: leave without unwinding them.
    std::fflush(stdout);
    std::fflush(stderr);
    std::_Exit(exit_ok);
}

// ---- health and scan ------------------------------------------------------------

// "key=value ..." with numbers or words as values (the scan status answer).
std::vector<std::pair<std::string, json>> parse_stats_answer_words(const std::string& answer) {
    std::vector<std::pair<std::string, json>> out;
    std::size_t i = 0;
    while (i < answer.size()) {
        while (i < answer.size() && std::isspace(static_cast<unsigned char>(answer[i])))
            i++;
        std::size_t j = i;
        while (j < answer.size() && !std::isspace(static_cast<unsigned char>(answer[j])))
            j++;
        const std::string tok = answer.substr(i, j - i);
        i = j;
        const auto eq = tok.find('=');
        if (tok.empty() || eq == std::string::npos)
            continue;
        const std::string v = tok.substr(eq + 1);
        const bool num = !v.empty() && v.find_first_not_of("0123456789") == std::string::npos;
        out.emplace_back(tok.substr(0, eq), num ? json(std::stoull(v)) : json(v));
    }
    return out;
}

int do_health(const remapctl::HealthOptions& o) {
    if (o.name.empty() == o.spare.empty())
        usage_error("health needs either a NAME (a live device) or --spare DEV (offline)");
    const auto now = static_cast<uint64_t>(std::time(nullptr));
    auto metadata_failed = [](const std::string& spare, const Error& e) {
        fail(exit_metadata, fmt::format("cannot read the metadata on {}: {}; run `remap-check "
                                        "{}`",
                                        spare, e.what(), spare));
    };
    if (!o.spare.empty()) {
        must_exist(o.spare, "spare");
        try {
            const HealthReport h = remapctl::device_health(o.spare, std::nullopt, now);
            return remapctl::print_health(o, "offline", h, std::nullopt, {});
        } catch (const MetadataError& e) {
            metadata_failed(o.spare, e);
        }
    }
    require_dm();
    const RemapDevice d = load_device(o.name);
    std::string note_text;
    HealthReport h;
    try {
        h = remapctl::device_health(d.spare_path, d.status, now);
    } catch (const Error& e) {
        // The live counts still grade the device; only the history is missing.
        note_text =
            fmt::format("no history: cannot read the metadata on {} ({})", d.spare_path, e.what());
        HealthInput in;
        in.now = now;
        in.mode = d.status.mode;
        in.spare_total = d.status.spare_total;
        in.spare_used = d.status.spare_used;
        in.capacity = d.status.capacity;
        in.slots_used = d.status.entries + d.status.spare_bad;
        in.pending = d.status.pending;
        if (d.status.scan)
            in.scan_state = d.status.scan->state;
        h = assess(in);
    }
    return remapctl::print_health(o, "online", h, d.status, note_text);
}

struct ScanCmdOptions {
    std::string action;
    std::string name;
    std::optional<unsigned> rate;
    bool json = false;
};

int do_scan(const ScanCmdOptions& o) {
    if (o.rate && o.action != "start")
        usage_error("--rate goes with `scan start` only");
    if (o.rate && (*o.rate < 1 || *o.rate > max_scan_rate))
        usage_error(
            fmt::format("--rate {} is out of range (1 to {} MiB/s)", *o.rate, max_scan_rate));
    require_dm();
    RemapDevice d = load_device(o.name);
    if (!d.status.scan)
        fail(exit_unavailable, fmt::format("the dm-remap module of '{}' has no background scan; "
                                           "load a newer dm-remap module",
                                           o.name));
    if (o.action == "start")
        message(o.name, o.rate ? fmt::format("scan start {}", *o.rate) : "scan start");
    else if (o.action == "stop")
        message(o.name, "scan stop");
    const std::string answer = message(o.name, "scan status");
    json j = json::object();
    for (const auto& [k, v] : parse_stats_answer_words(answer))
        j[k] = v;
    if (o.json) {
        j["name"] = o.name;
        print_json(j);
    } else {
        std::printf("%s: scan %s\n", o.name.c_str(), answer.c_str());
    }
    return exit_ok;
}

// ---- main ---------------------------------------------------------------------

// Runs an action, turning remapctl's own failures into exit codes.
int guarded(const std::function<int()>& action) {
    try {
        return action();
    } catch (const CtlError& e) {
        error(e.what());
        return e.code();
    } catch (const dm::DmError& e) {
        try {
            dm_failed(e, "");
        } catch (const CtlError& c) {
            error(c.what());
            return c.code();
        }
    } catch (const DeviceError& e) {
        error(e.what());
        switch (e.kind()) {
        case DeviceErrorKind::not_found:
            return exit_not_found;
        case DeviceErrorKind::permission:
            return exit_permission;
        case DeviceErrorKind::busy:
            return exit_busy;
        default:
            return exit_operational;
        }
    } catch (const IoError& e) {
        if (e.error_code() == EACCES || e.error_code() == EPERM) {
            error(fmt::format("{}; run remapctl as root", e.what()));
            return exit_permission;
        }
        if (e.error_code() == EBUSY) {
            error(fmt::format("{}; the device is in use (mounted, or held by a dm device)",
                              e.what()));
            return exit_busy;
        }
        if (e.error_code() == ENOENT || e.error_code() == ENXIO || e.error_code() == ENODEV) {
            error(e.what());
            return exit_not_found;
        }
        throw;
    }
    return exit_operational;
}

} // namespace

int main(int argc, char** argv) {
    CLI::App app{"remapctl: set up and manage dm-remap devices, which serve the failing blocks "
                 "of a main disk from a spare disk.\nExit status: 0 success, 1 remap left the "
                 "unit pending, 2 not found, 3 permission denied, 4 metadata problem, 5 busy or "
                 "name taken, 6 refused (signature, wrong pair, not confirmed), 7 module not "
                 "loaded, 8 other error, 16 usage error. See remapctl(8)."};
    app.require_subcommand(1, 1);
    app.fallthrough(false);

    FormatOptions fo;
    auto* fmt_cmd = app.add_subcommand(
        "format", "Write new dm-remap metadata to a spare device, for a main device. Refuses a "
                  "spare that holds a filesystem or any other signature unless --force; asks "
                  "for a typed YES on a terminal unless --batch.");
    fmt_cmd->add_option("--main", fo.main, "the main (failing or to-be-protected) disk")
        ->required();
    fmt_cmd->add_option("--spare", fo.spare, "the spare device that receives the metadata")
        ->required();
    fmt_cmd->add_option("--block-size", fo.block_size,
                        "the remap unit in bytes: a power of two, 512 to 65536 (default: the "
                        "main device's physical block size, at least 4096)");
    fmt_cmd->add_flag("--force", fo.force, "format even over a signature found on the spare");
    fmt_cmd->add_flag("--batch", fo.batch, "do not ask for confirmation (for scripts)");
    fmt_cmd->add_flag("--json", fo.json, "print the result as JSON");

    MigrateOptions mgo;
    auto* migrate_cmd = app.add_subcommand(
        "migrate", "Convert the legacy dm-remap 3.x (v3) metadata on a spare to v4 in place, "
                   "crash-safely, keeping every remapped sector. --dry-run prints the plan.");
    migrate_cmd->add_option("--main", mgo.main, "the main device the v3 spare belongs to")
        ->required();
    migrate_cmd->add_option("--spare", mgo.spare, "the spare device holding v3 metadata")
        ->required();
    migrate_cmd->add_option("--spare-start", mgo.spare_start,
                            "first sector of the v3 spare area (the 3.x table line's "
                            "spare_start; default: inferred from the entries)");
    migrate_cmd->add_option("--spare-len", mgo.spare_len,
                            "sectors in the v3 spare area (the 3.x table line's spare_len)");
    migrate_cmd->add_option("--block-size", mgo.block_size,
                            "the v4 remap unit in bytes: a power of two, 512 to 65536 (default "
                            "512, which keeps every v3 mapping 1:1; a larger unit is filled from "
                            "the spare and main, and is pending where main cannot be read)");
    migrate_cmd->add_flag("--dry-run", mgo.dry_run, "print the plan and write nothing");
    migrate_cmd->add_flag("--batch", mgo.batch, "do not ask for confirmation (for scripts)");

    CreateOptions co;
    auto* create_cmd = app.add_subcommand(
        "create", "Activate a dm-remap device NAME over a main device and its formatted spare.");
    create_cmd->add_option("NAME", co.name, "the dm device name (/dev/mapper/NAME)")->required();
    create_cmd->add_option("--main", co.main, "the main device")->required();
    create_cmd->add_option("--spare", co.spare, "the spare device, formatted for --main")
        ->required();
    create_cmd->add_option("--retries", co.retries,
                           "retries of a failed I/O on main before it is remapped (0 to 100; "
                           "default: the target's, 3)");
    create_cmd->add_flag("--json", co.json, "print the result as JSON");
    create_cmd->add_option("--scan-rate", co.scan_rate,
                           "run the background scan from the start, at this many MiB/s (0 to "
                           "4096; 0 or absent: off until `remapctl scan start`)");
    create_cmd->add_option("--slow-ms", co.slow_ms,
                           "a scan read slower than this many milliseconds marks its unit weak "
                           "(1 to 600000; default 1000)");

    RemoveOptions ro;
    auto* remove_cmd = app.add_subcommand("remove", "Deactivate the dm-remap device NAME.");
    remove_cmd->add_option("NAME", ro.name, "the dm device name")->required();
    auto* deferred = remove_cmd->add_flag("--deferred", ro.deferred,
                                          "when NAME is open, remove it at its last close instead");
    auto* force = remove_cmd->add_flag(
        "--force", ro.force,
        "when NAME is open, replace its table with one that fails all I/O, then remove it at "
        "its last close");
    deferred->excludes(force);
    remove_cmd->add_flag("--json", ro.json, "print the result as JSON");

    ListOptions lo;
    auto* list_cmd = app.add_subcommand("list", "List every dm-remap device.");
    list_cmd->add_flag("--json", lo.json, "print a JSON array");

    StatusOptions so;
    auto* status_cmd = app.add_subcommand(
        "status", "Show the state of dm-remap device NAME (every device with --format "
                  "prometheus and no NAME).");
    status_cmd->add_option("NAME", so.names, "the dm device name(s)");
    status_cmd->add_option("--format", so.format, "human (default), json or prometheus")
        ->check(CLI::IsMember({"human", "json", "prometheus"}));
    status_cmd->add_flag("--json", so.json, "the same as --format json");

    UnitOptions rmo;
    auto* remap_cmd = app.add_subcommand(
        "remap", "Move one unit of NAME to the spare now (a proactive remap), by unit number or "
                 "sector.");
    remap_cmd->add_option("NAME", rmo.name, "the dm device name")->required();
    remap_cmd->add_option("BLOCK", rmo.block, "the unit number");
    remap_cmd->add_option("--sector", rmo.sector, "a 512-byte sector inside the unit");
    remap_cmd->add_flag("--json", rmo.json, "print the result as JSON");

    UnitOptions qo;
    auto* query_cmd =
        app.add_subcommand("query", "Show whether one unit of NAME is remapped or pending.");
    query_cmd->add_option("NAME", qo.name, "the dm device name")->required();
    query_cmd->add_option("BLOCK", qo.block, "the unit number");
    query_cmd->add_option("--sector", qo.sector, "a 512-byte sector inside the unit");
    query_cmd->add_flag("--json", qo.json, "print the result as JSON");

    StatsOptions sto;
    auto* stats_cmd = app.add_subcommand("stats", "Show the I/O counters of NAME.");
    stats_cmd->add_option("NAME", sto.name, "the dm device name")->required();
    stats_cmd->add_flag("--clear", sto.clear, "clear the counters after printing them");
    stats_cmd->add_flag("--json", sto.json, "print the result as JSON");

    MonitorOptions mo;
    auto* monitor_cmd = app.add_subcommand(
        "monitor", "Follow dm-remap devices and print each change of state (a new remap, a "
                   "pending unit, a mode change, spare exhaustion) until interrupted.");
    monitor_cmd->add_option("NAME", mo.names, "the dm device name(s)")->required();
    monitor_cmd->add_flag("--json", mo.json, "print one JSON object per line");
    monitor_cmd
        ->add_option("--interval", mo.interval_ms,
                     "milliseconds between status looks (default 250)")
        ->check(CLI::Range(10u, 60000u));
    monitor_cmd->add_flag("--once", mo.once, "print the initial state and exit");

    remapctl::HealthOptions ho;
    auto* health_cmd = app.add_subcommand(
        "health", "Grade the health of dm-remap device NAME (online) or of the spare DEV "
                  "(offline, from its metadata alone): spare use, pending units, remaps per "
                  "day, the projected date of spare exhaustion with its method and confidence. "
                  "Exits 0 ok, 1 warn, 2 critical.");
    health_cmd->add_option("NAME", ho.name, "the dm device name");
    health_cmd->add_option("--spare", ho.spare, "a spare device or image, read offline");
    health_cmd->add_flag("--json", ho.json, "print the report as JSON");

    ScanCmdOptions sco;
    auto* scan_cmd = app.add_subcommand(
        "scan", "Start, stop or show the background scan of NAME, which reads the main device "
                "at a bounded rate and remaps weak units before they fail.");
    scan_cmd->add_option("ACTION", sco.action, "start, stop or status")
        ->required()
        ->check(CLI::IsMember({"start", "stop", "status"}));
    scan_cmd->add_option("NAME", sco.name, "the dm device name")->required();
    scan_cmd->add_option("--rate", sco.rate, "with start: the rate in MiB/s (1 to 4096)");
    scan_cmd->add_flag("--json", sco.json, "print the scan status as JSON");

    // activate and deactivate: the devices of /etc/remaptab (activate.cpp).
    remapctl::ActivateOptions ao;
    auto* activate_cmd = app.add_subcommand(
        "activate", "Activate the remaptab entry NAME, or with --all every entry without noauto, "
                    "resolving UUID=, PARTUUID= and paths to block devices. An active entry is "
                    "left as it is.");
    activate_cmd->add_option("NAME", ao.name, "the remaptab entry (the dm device name)");
    activate_cmd->add_flag("--all", ao.all, "every entry without the noauto option");
    activate_cmd->add_option("--remaptab", ao.remaptab, "read FILE instead of /etc/remaptab");
    activate_cmd->add_option("--wait", ao.wait,
                             "seconds to wait for the devices to appear (default 0)");
    remapctl::ActivateOptions dao;
    auto* deactivate_cmd = app.add_subcommand(
        "deactivate", "Deactivate the remaptab entry NAME, or with --all every active entry "
                      "(in reverse order). An inactive entry is left as it is.");
    deactivate_cmd->add_option("NAME", dao.name, "the remaptab entry (the dm device name)");
    deactivate_cmd->add_flag("--all", dao.all, "every entry of remaptab");
    deactivate_cmd->add_option("--remaptab", dao.remaptab, "read FILE instead of /etc/remaptab");
    const remapctl::Actions actions{
        [] { require_dm(); },
        [](const std::string& name, const std::string& main, const std::string& spare,
           std::optional<unsigned> retries) {
            return guarded([&] { return do_create({name, main, spare, retries, false}); });
        },
        [](const std::string& name) {
            return guarded([&] { return do_remove({name, false, false, false}); });
        }};

    return run("remapctl",
               "remapctl {format|migrate|create|remove|list|status|remap|query|stats|monitor|"
               "health|scan|activate|deactivate} "
               "[OPTIONS] [ARGS]",
               app, argc, argv, [&] {
                   return guarded([&] {
                       if (*fmt_cmd)
                           return do_format(fo);
                       if (*create_cmd)
                           return do_create(co);
                       if (*migrate_cmd)
                           return do_migrate(mgo);
                       if (*remove_cmd)
                           return do_remove(ro);
                       if (*list_cmd)
                           return do_list(lo);
                       if (*status_cmd)
                           return do_status(so);
                       if (*remap_cmd)
                           return do_remap(rmo);
                       if (*query_cmd)
                           return do_query(qo);
                       if (*stats_cmd)
                           return do_stats(sto);
                       if (*monitor_cmd)
                           return do_monitor(mo);
                       if (*health_cmd)
                           return do_health(ho);
                       if (*scan_cmd)
                           return do_scan(sco);
                       if (*activate_cmd)
                           return remapctl::activate(ao, actions);
                       if (*deactivate_cmd)
                           return remapctl::deactivate(dao, actions);
                       usage_error("no action given");
                   });
               });
}

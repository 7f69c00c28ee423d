// SPDX-License-Identifier: GPL-2.0-only OR MIT
//
// The remap target's text interface, parsed and built in one place: the
// table line (what remapctl create loads), the status INFO line, and the
// answers to the target's messages (query, remap, list, stats). Also the
// Prometheus exposition of a status. Pure text, no I/O, so the unit tests
// cover every path.
#pragma once

#include "remapmeta/errors.hpp"
#include "remapmeta/health.hpp"

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace remapmeta {

// A status line, table line or message answer that does not parse. The
// message names the field and the text, and suggests checking the module.
class StatusError : public Error {
public:
    using Error::Error;
};

inline constexpr std::string_view target_name = "remap";
inline constexpr unsigned max_retries = 100;    // the kernel's RM_MAX_RETRIES
inline constexpr unsigned max_scan_rate = 4096; // MiB/s, the kernel's RM_SCAN_MAX_RATE
inline constexpr unsigned max_slow_ms = 600000; // the kernel's RM_SCAN_MAX_SLOW_MS

// ---- Table line ---------------------------------------------------------------

// The constructor arguments: <main_dev> <spare_dev> [<#features> <feature>...].
struct TableParams {
    std::string main;  // a path or major:minor
    std::string spare; // a path or major:minor
    std::optional<unsigned> retries;
    std::optional<unsigned> scan_rate = std::nullopt; // MiB/s; 0: not started at resume
    std::optional<unsigned> slow_ms = std::nullopt;   // a scan read slower than this is weak
};

// "<main> <spare>", then "<#features>" and "retries <n>", "scan_rate <n>",
// "slow_ms <n>" for those set. Throws ParameterError for an empty or
// space-holding device or a value out of range.
std::string format_table_params(const TableParams& p);
// "0 <len> remap <params>": the whole line, as `dmsetup create --table` takes it.
std::string format_table_line(uint64_t len_sectors, const TableParams& p);
// Parses the STATUSTYPE_TABLE text (the kernel prints devices as major:minor).
TableParams parse_table_params(std::string_view params);

// ---- Status line --------------------------------------------------------------

// The background scan's status fields 17 to 23 (docs/dm-remap.rst, "Status").
struct ScanStatus {
    std::string state;     // off, running, paused or halted (scan status says why)
    uint32_t rate = 0;     // MiB/s
    uint64_t pass = 0;     // completed passes
    uint64_t cursor = 0;   // next unit to read
    uint32_t progress = 0; // percent of this pass
    uint64_t bad = 0;      // units found unreadable this pass (now pending)
    uint64_t weak = 0;     // units found slow or needing a retry this pass (remapped)
};

// The status INFO fields, in the kernel's order (docs/dm-remap.rst, "Status").
struct TargetStatus {
    uint32_t version = 0;     // metadata format major version
    std::string mode;         // ok, degraded, spare-exhausted, metadata-failed
    uint32_t unit_bytes = 0;  // remap unit
    uint64_t seq = 0;         // largest commit sequence number
    uint64_t entries = 0;     // remapped + pending units
    uint64_t capacity = 0;    // table slots
    uint64_t spare_used = 0;  // pool blocks used: remapped + bad
    uint64_t spare_total = 0; // pool blocks
    uint64_t spare_bad = 0;   // pool blocks that failed
    uint64_t pending = 0;     // units whose contents are lost until rewritten
    uint64_t reads = 0;
    uint64_t writes = 0;
    uint64_t remapped_ios = 0;
    uint64_t main_errors = 0;
    uint64_t spare_errors = 0;
    uint64_t retries = 0;
    std::optional<ScanStatus> scan; // fields 17 to 23; none from an older module
    std::size_t extra_fields = 0;   // fields a newer module appended (ignored)

    // Units served from the spare.
    uint64_t remapped() const noexcept {
        return spare_used >= spare_bad ? spare_used - spare_bad : 0;
    }
    // Pool blocks in use, in percent (0 for an empty pool).
    double spare_used_percent() const noexcept;
};

// The modes this version knows, in order of severity.
std::span<const std::string_view> known_modes() noexcept;

// One numeric status field: its name (the kernel's and the JSON key) and value.
struct StatusField {
    std::string_view name;
    uint64_t value;
};
// The numeric fields of `s` in the kernel's order (mode excluded).
std::vector<StatusField> numeric_fields(const TargetStatus& s);

// Parses the INFO text after "<start> <len> remap". The scan fields 17 to 23
// are read when all seven are there (an older module has only 16 fields);
// fields a newer module appends after them are counted and ignored; fewer
// than 16 fields, a non-number or an unknown-looking mode or scan state
// throw StatusError.
TargetStatus parse_status(std::string_view params);

// ---- Message answers ----------------------------------------------------------

enum class UnitState { ok, remapped, pending };
std::string_view to_string(UnitState s) noexcept;

struct UnitInfo {
    uint64_t unit = 0;
    UnitState state = UnitState::ok;
    std::optional<uint64_t> spare_block;
};

// "<unit> ok", "<unit> remapped <spare>", "<unit> pending [<spare>]".
UnitInfo parse_query_answer(std::string_view answer);

// queued: the remap still runs on the target's worker (a slow main device);
// query shows its result later.
enum class RemapOutcome { remapped, already_remapped, pending, queued };
std::string_view to_string(RemapOutcome o) noexcept;

struct RemapAnswer {
    RemapOutcome outcome = RemapOutcome::remapped;
    uint64_t unit = 0;
    std::optional<uint64_t> spare_block;
};

// "remapped <unit> <spare>", "already-remapped <unit>", "pending <unit>".
RemapAnswer parse_remap_answer(std::string_view answer);

// Lines of "<unit> <spare>|- <state>".
std::vector<UnitInfo> parse_list_answer(std::string_view answer);

// "key=value ..." (stats); unknown keys are kept, in order.
std::vector<std::pair<std::string, uint64_t>> parse_stats_answer(std::string_view answer);

// ---- Prometheus -----------------------------------------------------------------

struct PrometheusDevice {
    std::string name;  // the dm name: the `device` label
    std::string main;  // main device path, for dm_remap_info
    std::string spare; // spare device path, for dm_remap_info
    TargetStatus status;
    std::optional<HealthReport> health = std::nullopt; // when the spare's metadata was read
};

// The text exposition format (as node_exporter's textfile collector reads
// it): HELP and TYPE once per metric, one sample per device. The scan
// metrics (dm_remap_scan_*) cover the devices whose status has the scan
// fields, the health metrics (dm_remap_health_*) those with a health report;
// a metric no device has is left out.
std::string prometheus_text(std::span<const PrometheusDevice> devices);

// Escapes a label value: backslash, double quote and newline.
std::string prometheus_label_escape(std::string_view value);

} // namespace remapmeta

// SPDX-License-Identifier: GPL-2.0-only OR MIT
//
// remapctl health: report, JSON and exit code (see health.hpp).
#include "health.hpp"

#include "remapmeta/device.hpp"
#include "remapmeta/metadata.hpp"

#include <cmath>
#include <cstdio>
#include <fmt/format.h>
#include <iostream>
#include <nlohmann/json.hpp>
#include <sys/stat.h>

using json = nlohmann::ordered_json;
using namespace remapmeta;

namespace remapctl {

int grade_exit(Grade g) noexcept {
    return static_cast<int>(g); // ok 0, warn 1, critical 2
}

HealthReport device_health(const std::string& spare_path, const std::optional<TargetStatus>& live,
                           uint64_t now) {
    // Read-only and shared: a live device keeps its spare open exclusively
    // for writing, and each metadata block is written whole, so a read sees
    // every block either before or after a commit.
    struct stat st {};
    const bool blk = ::stat(spare_path.c_str(), &st) == 0 && S_ISBLK(st.st_mode);
    Device dev = Device::open(spare_path, {.write = false, .exclusive = false, .direct = blk});
    LoadReport report;
    const Metadata m = load(dev, live ? &report : nullptr);
    HealthInput in = health_input(m, now);
    if (live) {
        in.mode = live->mode;
        in.spare_total = live->spare_total;
        in.spare_used = live->spare_used;
        in.capacity = live->capacity;
        in.slots_used = live->entries + live->spare_bad;
        in.pending = live->pending;
        if (live->scan)
            in.scan_state = live->scan->state;
    }
    return assess(in);
}

namespace {

json projection_json(const Projection& p) {
    return {{"method", p.method},
            {"model", p.trend ? "trend" : (p.events_in_window ? "mean" : "none")},
            {"rate_per_day", std::round(p.rate_per_day * 1000) / 1000},
            {"trend_per_day", std::round(p.trend_per_day * 1000) / 1000},
            {"window_days", p.window_days},
            {"events_in_window", p.events_in_window},
            {"active_days", p.active_days},
            {"exhaustion_date", p.exhaustion ? json(iso_date(*p.exhaustion)) : json(nullptr)},
            {"exhaustion_time", p.exhaustion ? json(*p.exhaustion) : json(nullptr)},
            {"days_left", p.exhaustion ? json(std::round(p.days_left * 10) / 10) : json(nullptr)},
            {"confidence", to_string(p.confidence)},
            {"confidence_reason", p.confidence_reason}};
}

json scan_json(const std::optional<TargetStatus>& live) {
    if (!live || !live->scan)
        return nullptr;
    const ScanStatus& s = *live->scan;
    return {{"state", s.state},   {"rate_mib_s", s.rate},   {"pass", s.pass},
            {"cursor", s.cursor}, {"progress", s.progress}, {"bad", s.bad},
            {"weak", s.weak}};
}

} // namespace

int print_health(const HealthOptions& o, const std::string& source, const HealthReport& h,
                 const std::optional<TargetStatus>& live, const std::string& history_note) {
    const Projection& p = h.projection;
    uint64_t total = 0, max = 0;
    for (uint64_t v : h.per_day) {
        total += v;
        max = std::max(max, v);
    }
    const std::string who = o.name.empty() ? o.spare : o.name;
    if (o.json) {
        json j = {{"name", o.name.empty() ? json(nullptr) : json(o.name)},
                  {"spare", o.spare.empty() ? json(nullptr) : json(o.spare)},
                  {"source", source},
                  {"grade", to_string(h.grade)},
                  {"reason", h.reason},
                  {"mode", live ? json(live->mode) : json(nullptr)},
                  {"spare_total", h.spare_total},
                  {"spare_used", h.spare_used},
                  {"spare_free", h.spare_free},
                  {"spare_used_percent", std::round(h.spare_used_percent * 100) / 100},
                  {"table_slots_free", h.slots_free},
                  {"pending", h.pending},
                  {"proactive", h.proactive},
                  {"per_day", h.per_day},
                  {"sparkline", sparkline(h.per_day)},
                  {"projection", projection_json(p)},
                  {"scan", scan_json(live)},
                  {"history_note", history_note.empty() ? json(nullptr) : json(history_note)},
                  {"thresholds",
                   {{"warn_used_percent", warn_used_percent},
                    {"critical_used_percent", critical_used_percent},
                    {"warn_days_left", warn_days_left},
                    {"critical_days_left", critical_days_left}}}};
        std::cout << j.dump(2) << '\n';
        return grade_exit(h.grade);
    }
    std::string grade(to_string(h.grade));
    for (char& c : grade)
        c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    std::printf("%s: %s: %s\n", who.c_str(), grade.c_str(), h.reason.c_str());
    std::printf("  spare:       %llu of %llu blocks used (%.1f%%), %llu free; %llu table slots "
                "free\n",
                static_cast<unsigned long long>(h.spare_used),
                static_cast<unsigned long long>(h.spare_total), h.spare_used_percent,
                static_cast<unsigned long long>(h.spare_free),
                static_cast<unsigned long long>(h.slots_free));
    std::printf("  pending:     %llu unit(s)%s\n", static_cast<unsigned long long>(h.pending),
                h.pending ? " (data lost until rewritten)" : "");
    std::printf("  proactive:   %llu remap(s) made while the unit still read\n",
                static_cast<unsigned long long>(h.proactive));
    std::printf("  remaps/day:  [%s] the last %zu days, oldest first: %llu in all, at most "
                "%llu a day\n",
                sparkline(h.per_day).c_str(), h.per_day.size(),
                static_cast<unsigned long long>(total), static_cast<unsigned long long>(max));
    if (p.exhaustion)
        std::printf("  projection:  the spare runs out around %s (in %.0f days); confidence "
                    "%s (%s)\n",
                    iso_date(*p.exhaustion).c_str(), p.days_left,
                    std::string(to_string(p.confidence)).c_str(), p.confidence_reason.c_str());
    else
        std::printf("  projection:  no exhaustion projected; confidence %s (%s)\n",
                    std::string(to_string(p.confidence)).c_str(), p.confidence_reason.c_str());
    std::printf("  method:      %s\n", p.method.c_str());
    if (live && live->scan)
        std::printf("  scan:        %s, pass %llu at %u%%, %u MiB/s; this pass found %llu bad "
                    "and %llu weak unit(s)\n",
                    live->scan->state.c_str(), static_cast<unsigned long long>(live->scan->pass),
                    live->scan->progress, live->scan->rate,
                    static_cast<unsigned long long>(live->scan->bad),
                    static_cast<unsigned long long>(live->scan->weak));
    if (!history_note.empty())
        std::printf("  note:        %s\n", history_note.c_str());
    return grade_exit(h.grade);
}

} // namespace remapctl

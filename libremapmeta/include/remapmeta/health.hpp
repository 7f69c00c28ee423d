// SPDX-License-Identifier: GPL-2.0-only OR MIT
//
// The health of a dm-remap device from its remap history: spare use, the
// daily rate of new spare use, a projection of the date the spare runs out
// that states its method and confidence, and a grade (ok, warn, critical)
// with a one-line reason. Pure computation over numbers and timestamps, so
// the unit tests feed it synthetic histories with known answers.
// remapctl(8), "HEALTH", documents the method and the thresholds.
#pragma once

#include "remapmeta/metadata.hpp"

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace remapmeta {

inline constexpr uint64_t seconds_per_day = 86400;
inline constexpr unsigned health_window_days = 30; // the history the projection reads

struct HealthInput {
    uint64_t now = 0;         // Unix seconds
    uint64_t spare_total = 0; // pool blocks
    uint64_t spare_used = 0;  // remapped + bad + pending that hold a block
    uint64_t capacity = 0;    // table slots
    uint64_t slots_used = 0;  // remapped + pending + bad spare entries
    uint64_t pending = 0;
    uint64_t proactive = 0;  // remaps made while the unit still read
    std::string mode = "ok"; // the target's mode; "ok" offline
    std::string scan_state;  // the background scan's state; empty offline
    // When each spare block or table slot was taken: the event_time of the
    // remapped, pending and bad-spare entries (0: unknown, ignored).
    std::vector<uint64_t> events;
};

// Builds the input from metadata read off a spare (offline, or read-only
// while the device is live).
HealthInput health_input(const Metadata& m, uint64_t now);

enum class Grade { ok, warn, critical };
std::string_view to_string(Grade g) noexcept;

enum class Confidence { none, low, medium, high };
std::string_view to_string(Confidence c) noexcept;

struct Projection {
    std::string method;                 // e.g. "mean of the daily counts over the last 30 days"
    double rate_per_day = 0;            // current rate of new spare use
    double trend_per_day = 0;           // change of that rate per day (trend model only)
    bool trend = false;                 // the rising-rate model was used
    unsigned window_days = 0;           // days of history read
    uint64_t events_in_window = 0;      // events inside the window
    unsigned active_days = 0;           // days of the window with at least one event
    std::optional<uint64_t> exhaustion; // Unix seconds; none when the rate is 0
    double days_left = 0;               // until exhaustion (when there is one)
    Confidence confidence = Confidence::none;
    std::string confidence_reason;
};

struct HealthReport {
    uint64_t spare_total = 0;
    uint64_t spare_used = 0;
    uint64_t spare_free = 0;
    double spare_used_percent = 0;
    uint64_t slots_free = 0;
    uint64_t pending = 0;
    uint64_t proactive = 0;
    std::vector<uint64_t> per_day; // the last window_days days, oldest first; back = today
    Projection projection;
    Grade grade = Grade::ok;
    std::string reason;
};

// The thresholds of the grade (remapctl(8), "HEALTH").
inline constexpr double warn_used_percent = 75;
inline constexpr double critical_used_percent = 95;
inline constexpr double warn_days_left = 90;
inline constexpr double critical_days_left = 14;

// Counts the events per day over the `days` days that end at `now` (oldest first).
std::vector<uint64_t> events_per_day(std::span<const uint64_t> events, uint64_t now, unsigned days);
// The projection of spare exhaustion from the events (see the method notes in health.cpp).
Projection project(std::span<const uint64_t> events, uint64_t now, uint64_t free_blocks);
HealthReport assess(const HealthInput& in);

// A sparkline of the counts, one character per count, with the Unicode
// block elements: ▁ for zero, ▂ to █ for 1 up to the largest count.
std::string sparkline(std::span<const uint64_t> counts);

// "2026-11-25" (UTC).
std::string iso_date(uint64_t unix_seconds);

} // namespace remapmeta

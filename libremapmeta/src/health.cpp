// SPDX-License-Identifier: GPL-2.0-only OR MIT
//
// Method of the projection (also in remapctl(8), "HEALTH"):
//
// An event is a spare block or table slot being taken: the event_time of a
// remapped, pending or bad-spare entry. The window is the last 30 days, or
// the days since the first event when that is shorter (at least one day).
// Its events are counted per day (day 0 the oldest, the last day ends now).
//
// - No event in the window: nothing to fit; no exhaustion date.
// - A rising rate: with at least 7 days and 3 active days, a least-squares
//   line through the daily counts. When its slope is positive, it explains
//   the counts well (R² at least 0.5) and its value today is above the
//   mean, the rate is taken to keep rising along that line: the date is
//   where the cumulative use r·t + b·t²/2 reaches the free blocks (r the
//   line's value today, b its slope).
// - Otherwise, the mean of the daily counts is the rate, and the date is
//   free blocks / rate days away.
//
// Confidence: low with fewer than 3 events, fewer than 2 active days (a
// single burst is not a trend) or fewer than 7 days; high with at least 14
// days, events on at least half of them, and for the trend R² at least 0.8;
// medium otherwise.
#include "remapmeta/health.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <ctime>
#include <fmt/format.h>

namespace remapmeta {

std::string_view to_string(Grade g) noexcept {
    switch (g) {
    case Grade::ok:
        return "ok";
    case Grade::warn:
        return "warn";
    case Grade::critical:
        return "critical";
    }
    return "unknown";
}

std::string_view to_string(Confidence c) noexcept {
    switch (c) {
    case Confidence::none:
        return "none";
    case Confidence::low:
        return "low";
    case Confidence::medium:
        return "medium";
    case Confidence::high:
        return "high";
    }
    return "unknown";
}

HealthInput health_input(const Metadata& m, uint64_t now) {
    HealthInput in;
    in.now = now;
    in.spare_total = m.sb.pool_blocks;
    in.capacity = m.capacity();
    for (const Entry& e : m.slots) {
        if (e.state == RM4_STATE_FREE)
            continue;
        in.slots_used++;
        if (e.spare_block != RM4_NONE)
            in.spare_used++;
        if (e.state == RM4_STATE_PENDING)
            in.pending++;
        if (e.state == RM4_STATE_REMAPPED && (e.flags & RM4_ENTRY_PROACTIVE))
            in.proactive++;
        if (e.event_time)
            in.events.push_back(e.event_time);
    }
    return in;
}

std::vector<uint64_t> events_per_day(std::span<const uint64_t> events, uint64_t now,
                                     unsigned days) {
    std::vector<uint64_t> out(days, 0);
    if (!days)
        return out;
    for (uint64_t t : events) {
        if (!t)
            continue;
        const uint64_t age = t >= now ? 0 : now - t; // a clock ahead of ours: today
        const uint64_t back = age / seconds_per_day;
        if (back < days)
            out[days - 1 - back]++;
    }
    return out;
}

namespace {

struct Fit {
    double slope = 0;
    double intercept = 0;
    double r2 = 0;
};

Fit least_squares(const std::vector<uint64_t>& c) {
    const double n = static_cast<double>(c.size());
    double sx = 0, sy = 0;
    for (std::size_t i = 0; i < c.size(); i++) {
        sx += static_cast<double>(i);
        sy += static_cast<double>(c[i]);
    }
    const double mx = sx / n, my = sy / n;
    double sxx = 0, sxy = 0, syy = 0;
    for (std::size_t i = 0; i < c.size(); i++) {
        const double dx = static_cast<double>(i) - mx, dy = static_cast<double>(c[i]) - my;
        sxx += dx * dx;
        sxy += dx * dy;
        syy += dy * dy;
    }
    Fit f;
    if (sxx == 0)
        return f;
    f.slope = sxy / sxx;
    f.intercept = my - f.slope * mx;
    f.r2 = syy == 0 ? 0 : (sxy * sxy) / (sxx * syy);
    return f;
}

} // namespace

Projection project(std::span<const uint64_t> events, uint64_t now, uint64_t free_blocks) {
    Projection p;
    uint64_t first = 0;
    for (uint64_t t : events)
        if (t && (!first || t < first))
            first = t;
    unsigned days = health_window_days;
    if (first && first < now) {
        const uint64_t span = (now - first + seconds_per_day - 1) / seconds_per_day;
        days = static_cast<unsigned>(std::clamp<uint64_t>(span, 1, health_window_days));
    } else if (first) {
        days = 1;
    }
    const auto c = events_per_day(events, now, days);
    p.window_days = days;
    for (uint64_t v : c) {
        p.events_in_window += v;
        p.active_days += v ? 1 : 0;
    }
    if (!p.events_in_window) {
        p.method = fmt::format("no spare block taken in the last {} days: nothing to fit", days);
        p.confidence = Confidence::none;
        p.confidence_reason = "no events";
        return p;
    }
    const double mean = static_cast<double>(p.events_in_window) / days;
    double r2 = 0;
    if (days >= 7 && p.active_days >= 3) {
        const Fit f = least_squares(c);
        const double today = f.intercept + f.slope * (days - 1);
        if (f.slope > 0 && f.r2 >= 0.5 && today > mean) {
            p.trend = true;
            p.rate_per_day = today;
            p.trend_per_day = f.slope;
            r2 = f.r2;
        }
    }
    if (p.trend) {
        p.method = fmt::format("least-squares line through the daily counts of the last {} "
                               "days (R² {:.2f}): {:.2f} a day now, rising by {:.2f} a day "
                               "each day",
                               days, r2, p.rate_per_day, p.trend_per_day);
        const double r = p.rate_per_day, b = p.trend_per_day;
        p.days_left = (-r + std::sqrt(r * r + 2 * b * static_cast<double>(free_blocks))) / b;
    } else {
        p.rate_per_day = mean;
        p.method = fmt::format("mean of the daily counts over the last {} days: {} events, "
                               "{:.2f} a day",
                               days, p.events_in_window, mean);
        p.days_left = static_cast<double>(free_blocks) / mean;
    }
    // Past about 1000 years a date means nothing (and overflows time_t maths).
    if (p.days_left < 365000)
        p.exhaustion =
            now + static_cast<uint64_t>(p.days_left * static_cast<double>(seconds_per_day));

    if (p.events_in_window < 3 || p.active_days < 2) {
        p.confidence = Confidence::low;
        p.confidence_reason = p.active_days < 2
                                  ? fmt::format("all {} events fell on one day: a burst, not a "
                                                "trend",
                                                p.events_in_window)
                                  : fmt::format("only {} events", p.events_in_window);
    } else if (days < 7) {
        p.confidence = Confidence::low;
        p.confidence_reason = fmt::format("only {} days of history", days);
    } else if (days >= 14 && p.active_days * 2 >= days && (!p.trend || r2 >= 0.8)) {
        p.confidence = Confidence::high;
        p.confidence_reason =
            fmt::format("{} events on {} of {} days", p.events_in_window, p.active_days, days);
    } else {
        p.confidence = Confidence::medium;
        p.confidence_reason =
            fmt::format("{} events on {} of {} days{}", p.events_in_window, p.active_days, days,
                        p.trend && r2 < 0.8 ? fmt::format(", trend R² {:.2f}", r2) : "");
    }
    return p;
}

HealthReport assess(const HealthInput& in) {
    HealthReport h;
    h.spare_total = in.spare_total;
    h.spare_used = std::min(in.spare_used, in.spare_total);
    h.spare_free = in.spare_total - h.spare_used;
    h.spare_used_percent = in.spare_total ? 100.0 * static_cast<double>(h.spare_used) /
                                                static_cast<double>(in.spare_total)
                                          : 0;
    h.slots_free = in.capacity > in.slots_used ? in.capacity - in.slots_used : 0;
    h.pending = in.pending;
    h.proactive = in.proactive;
    h.per_day = events_per_day(in.events, in.now, health_window_days);
    // The spare runs out at the first of its blocks or its table slots.
    h.projection = project(in.events, in.now, std::min(h.spare_free, h.slots_free));
    const Projection& p = h.projection;
    const double slots_free_percent =
        in.capacity ? 100.0 * static_cast<double>(h.slots_free) / static_cast<double>(in.capacity)
                    : 0;
    const std::string when =
        p.exhaustion ? fmt::format("the spare runs out around {} ({:.0f} days, {} confidence)",
                                   iso_date(*p.exhaustion), p.days_left, to_string(p.confidence))
                     : std::string("no exhaustion projected");

    if (in.mode != "ok") {
        h.grade = Grade::critical;
        h.reason = fmt::format("mode {}: the device makes no new remaps; see remapctl(8)", in.mode);
    } else if (in.pending) {
        h.grade = Grade::critical;
        h.reason =
            fmt::format("{} pending unit{}: data lost until rewritten; restore the files "
                        "that hold {}",
                        in.pending, in.pending == 1 ? "" : "s", in.pending == 1 ? "it" : "them");
    } else if (h.spare_used_percent >= critical_used_percent ||
               slots_free_percent <= 100 - critical_used_percent) {
        h.grade = Grade::critical;
        h.reason = fmt::format("spare {:.1f}% used ({} blocks and {} table slots free): replace "
                               "the main disk",
                               h.spare_used_percent, h.spare_free, h.slots_free);
    } else if (p.exhaustion && p.days_left <= critical_days_left &&
               p.confidence >= Confidence::medium) {
        h.grade = Grade::critical;
        h.reason = when + ": replace the main disk";
    } else if (h.spare_used_percent >= warn_used_percent ||
               slots_free_percent <= 100 - warn_used_percent) {
        h.grade = Grade::warn;
        h.reason = fmt::format("spare {:.1f}% used; {}", h.spare_used_percent, when);
    } else if (p.exhaustion && p.days_left <= warn_days_left) {
        h.grade = Grade::warn;
        h.reason = when;
    } else if (in.scan_state == "halted") {
        h.grade = Grade::warn;
        h.reason = fmt::format("the background scan halted on its own (`remapctl scan status` "
                               "says why); {}",
                               when);
    } else {
        h.grade = Grade::ok;
        h.reason =
            fmt::format("spare {:.1f}% used, no pending units; {}", h.spare_used_percent, when);
    }
    return h;
}

std::string sparkline(std::span<const uint64_t> counts) {
    static constexpr std::array<std::string_view, 8> bars = {"▁", "▂", "▃", "▄",
                                                             "▅", "▆", "▇", "█"};
    uint64_t max = 0;
    for (uint64_t v : counts)
        max = std::max(max, v);
    std::string out;
    for (uint64_t v : counts) {
        // Zero is the lowest bar; 1..max map onto the seven above it.
        const uint64_t i = v ? 1 + (v * 7 - 1) / max : 0;
        out += bars[std::min<uint64_t>(i, 7)];
    }
    return out;
}

std::string iso_date(uint64_t unix_seconds) {
    const auto t = static_cast<std::time_t>(unix_seconds);
    std::tm tm{};
    gmtime_r(&t, &tm);
    return fmt::format("{:04}-{:02}-{:02}", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday);
}

} // namespace remapmeta

// SPDX-License-Identifier: GPL-2.0-only OR MIT
//
// remapctl health's arithmetic on synthetic histories with known answers: a
// constant rate, an accelerating rate, no events, a single burst; the grade
// thresholds; the sparkline; and the input built from metadata.
#include "remapmeta/health.hpp"
#include "remapmeta/layout.hpp"

#include <cmath>
#include <gtest/gtest.h>

namespace {

using namespace remapmeta;

constexpr uint64_t now = 1'800'000'000; // 2027-01-15T08:00:00Z
constexpr uint64_t day = seconds_per_day;

// `per_day[i]` events on the day that ends `per_day.size() - i - 1` days before now.
std::vector<uint64_t> history(const std::vector<uint64_t>& per_day) {
    std::vector<uint64_t> ev;
    const uint64_t n = per_day.size();
    for (uint64_t i = 0; i < n; i++)
        for (uint64_t k = 0; k < per_day[i]; k++)
            ev.push_back(now - (n - 1 - i) * day - 3600 - k);
    return ev;
}

TEST(HealthProjection, ConstantRate) {
    const auto ev = history(std::vector<uint64_t>(30, 2)); // 2 a day for 30 days
    const Projection p = project(ev, now, 100);
    EXPECT_FALSE(p.trend);
    EXPECT_EQ(p.window_days, 30u);
    EXPECT_EQ(p.events_in_window, 60u);
    EXPECT_DOUBLE_EQ(p.rate_per_day, 2.0);
    EXPECT_DOUBLE_EQ(p.days_left, 50.0);
    ASSERT_TRUE(p.exhaustion);
    EXPECT_EQ(*p.exhaustion, now + 50 * day);
    EXPECT_EQ(iso_date(*p.exhaustion), "2027-03-06");
    EXPECT_EQ(p.confidence, Confidence::high);
    EXPECT_NE(p.method.find("mean of the daily counts over the last 30 days"), std::string::npos)
        << p.method;
}

TEST(HealthProjection, AcceleratingRate) {
    std::vector<uint64_t> c;
    for (uint64_t i = 1; i <= 30; i++)
        c.push_back(i); // 1, 2, ..., 30 a day
    const Projection p = project(history(c), now, 1000);
    ASSERT_TRUE(p.trend);
    EXPECT_NEAR(p.rate_per_day, 30.0, 1e-9);
    EXPECT_NEAR(p.trend_per_day, 1.0, 1e-9);
    // 30 t + t²/2 = 1000: t = -30 + sqrt(900 + 2000).
    EXPECT_NEAR(p.days_left, -30 + std::sqrt(2900.0), 1e-9);
    EXPECT_LT(p.days_left, 1000.0 / (465.0 / 30)); // sooner than the mean rate says
    EXPECT_EQ(p.confidence, Confidence::high);
    EXPECT_NE(p.method.find("least-squares line"), std::string::npos) << p.method;
    EXPECT_NE(p.method.find("R² 1.00"), std::string::npos) << p.method;
}

TEST(HealthProjection, NoEvents) {
    const Projection p = project({}, now, 500);
    EXPECT_FALSE(p.exhaustion);
    EXPECT_EQ(p.events_in_window, 0u);
    EXPECT_DOUBLE_EQ(p.rate_per_day, 0.0);
    EXPECT_EQ(p.confidence, Confidence::none);
    EXPECT_NE(p.method.find("nothing to fit"), std::string::npos) << p.method;
    HealthInput in;
    in.now = now;
    in.spare_total = 500;
    in.capacity = 600;
    const HealthReport h = assess(in);
    EXPECT_EQ(h.grade, Grade::ok);
    EXPECT_NE(h.reason.find("no exhaustion projected"), std::string::npos) << h.reason;
}

TEST(HealthProjection, SingleBurst) {
    // 20 events within one hour, 10 days ago; nothing since.
    std::vector<uint64_t> ev;
    for (uint64_t k = 0; k < 20; k++)
        ev.push_back(now - 10 * day + 3600 + k * 60);
    const Projection p = project(ev, now, 100);
    EXPECT_FALSE(p.trend);
    EXPECT_EQ(p.window_days, 10u);
    EXPECT_EQ(p.active_days, 1u);
    EXPECT_DOUBLE_EQ(p.rate_per_day, 2.0); // the burst spread over the 10 days since
    EXPECT_DOUBLE_EQ(p.days_left, 50.0);
    EXPECT_EQ(p.confidence, Confidence::low);
    EXPECT_NE(p.confidence_reason.find("burst"), std::string::npos) << p.confidence_reason;
}

TEST(HealthProjection, ShortHistoryIsLowConfidence) {
    const Projection p = project(history({3, 4, 3}), now, 100);
    EXPECT_EQ(p.window_days, 3u);
    EXPECT_EQ(p.confidence, Confidence::low);
}

TEST(HealthProjection, OldEventsLeaveTheWindow) {
    std::vector<uint64_t> ev = {now - 100 * day, now - 90 * day};
    const Projection p = project(ev, now, 100);
    EXPECT_EQ(p.window_days, 30u);
    EXPECT_FALSE(p.exhaustion);
}

HealthInput input(uint64_t total, uint64_t used, std::vector<uint64_t> events = {}) {
    HealthInput in;
    in.now = now;
    in.spare_total = total;
    in.spare_used = used;
    in.capacity = total * 2;
    in.slots_used = used;
    in.events = std::move(events);
    return in;
}

TEST(HealthGrade, Thresholds) {
    EXPECT_EQ(assess(input(100, 10)).grade, Grade::ok);
    EXPECT_EQ(assess(input(100, 75)).grade, Grade::warn);
    EXPECT_EQ(assess(input(100, 95)).grade, Grade::critical);
    HealthInput in = input(100, 1);
    in.pending = 2;
    const HealthReport h = assess(in);
    EXPECT_EQ(h.grade, Grade::critical);
    EXPECT_NE(h.reason.find("2 pending units"), std::string::npos) << h.reason;
    in = input(100, 1);
    in.mode = "spare-exhausted";
    EXPECT_EQ(assess(in).grade, Grade::critical);
    // 2 a day with 50 free: 25 days left, high confidence: warn.
    EXPECT_EQ(assess(input(100, 50, history(std::vector<uint64_t>(30, 2)))).grade, Grade::warn);
    // 2 a day with 20 free: 10 days left, high confidence: critical.
    const HealthReport d = assess(input(200, 180, history(std::vector<uint64_t>(30, 2))));
    EXPECT_EQ(d.grade, Grade::critical) << d.reason;
    EXPECT_NE(d.reason.find("runs out around"), std::string::npos) << d.reason;
    // Table slots run out too.
    in = input(1000, 10);
    in.capacity = 100;
    in.slots_used = 96;
    EXPECT_EQ(assess(in).grade, Grade::critical);
}

TEST(HealthGrade, HaltedScanWarns) {
    HealthInput in = input(100, 1);
    in.scan_state = "halted";
    const HealthReport h = assess(in);
    EXPECT_EQ(h.grade, Grade::warn);
    EXPECT_NE(h.reason.find("scan halted"), std::string::npos) << h.reason;
    in.scan_state = "running";
    EXPECT_EQ(assess(in).grade, Grade::ok);
}

TEST(HealthGrade, PerDayHistory) {
    const HealthReport h = assess(input(100, 3, history({1, 0, 2})));
    ASSERT_EQ(h.per_day.size(), health_window_days);
    EXPECT_EQ(h.per_day[27], 1u);
    EXPECT_EQ(h.per_day[28], 0u);
    EXPECT_EQ(h.per_day[29], 2u);
}

TEST(Sparkline, ScalesToTheLargest) {
    const std::vector<uint64_t> c = {0, 1, 2, 4, 8};
    EXPECT_EQ(sparkline(c), "▁▂▃▅█");
    const std::vector<uint64_t> flat = {3, 3};
    EXPECT_EQ(sparkline(flat), "██");
    EXPECT_EQ(sparkline(std::vector<uint64_t>{}), "");
}

TEST(HealthInputFromMetadata, CountsEntriesAndEvents) {
    FormatParams fp;
    fp.main_sectors = 1 << 20;
    fp.main_logical_block_size = 512;
    fp.main_physical_block_size = 4096;
    fp.spare_sectors = 1 << 16;
    fp.spare_logical_block_size = 512;
    fp.spare_physical_block_size = 4096;
    Metadata m = Metadata::empty(plan_layout(fp));
    m.set_entry(0, make_remapped(10, 0, now - day, 1, RM4_ENTRY_PROACTIVE));
    m.set_entry(1, make_remapped(11, 1, now - 2 * day));
    m.set_entry(2, make_pending(12, RM4_NONE, now));
    m.set_entry(3, make_bad_spare(2, now));
    const HealthInput in = health_input(m, now);
    EXPECT_EQ(in.spare_total, m.sb.pool_blocks);
    EXPECT_EQ(in.spare_used, 3u);
    EXPECT_EQ(in.slots_used, 4u);
    EXPECT_EQ(in.pending, 1u);
    EXPECT_EQ(in.proactive, 1u);
    EXPECT_EQ(in.events.size(), 4u);
    const HealthReport h = assess(in);
    EXPECT_EQ(h.grade, Grade::critical); // a pending unit
    EXPECT_EQ(h.per_day.back(), 2u);
}

} // namespace

// SPDX-License-Identifier: GPL-2.0-only OR MIT
//
// remapctl migrate's library: the plan, the migration of every legacy-v3
// fixture, the refusals, and a crash after every single write.
#include "helpers.hpp"
#include "remapmeta/errors.hpp"
#include "remapmeta/metadata.hpp"
#include "remapmeta/migrate.hpp"
#include "remapmeta/v3.hpp"

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <map>
#include <set>

namespace {

using namespace remapmeta;
using namespace testutil;

const std::string fixtures = REMAPMETA_SOURCE_DIR "/tests/fixtures/legacy-v3/";

migrate::Options stop_after(uint64_t k) {
    migrate::Options o;
    o.stop_after_writes = k;
    return o;
}
migrate::Options area(uint64_t start, uint64_t len) {
    migrate::Options o;
    o.spare_start = start;
    o.spare_len = len;
    return o;
}
migrate::Options unit(uint32_t bytes) {
    migrate::Options o;
    o.unit_bytes = bytes;
    return o;
}

struct Pair {
    std::string spare, main;
};

// Copies the fixture's spare image and makes a main image of the size v3
// recorded (the main's contents do not matter to a 512-byte migration).
Pair prepare(const TempDir& dir, const std::string& name) {
    Pair p{dir.file(name + ".spare.img"), dir.file(name + ".main.img")};
    std::filesystem::copy_file(fixtures + name + ".spare.img", p.spare,
                               std::filesystem::copy_options::overwrite_existing);
    auto dev = Device::open(p.spare);
    uint64_t main_sectors = 2048;
    try {
        main_sectors = v3::read(dev).header.main_device_size;
    } catch (...) {
    }
    make_image(p.main, main_sectors * 512);
    return p;
}

std::map<uint64_t, uint64_t> v3_map(const std::string& spare) {
    auto dev = Device::open(spare);
    auto img = v3::read(dev);
    std::map<uint64_t, uint64_t> m;
    for (const auto& e : img.entries)
        m[e.main_sector] = e.spare_sector;
    return m;
}

// main sector -> absolute spare sector under v4, with no fatal findings.
std::map<uint64_t, uint64_t> v4_map(const std::string& spare) {
    auto dev = Device::open(spare);
    LoadReport rep;
    Metadata m = load(dev, &rep);
    EXPECT_FALSE(rep.has_fatal()) << describe(rep);
    EXPECT_EQ(m.sb.unit_bytes, 512u);
    std::map<uint64_t, uint64_t> out;
    for (const auto& e : m.slots) {
        if (e.state == RM4_STATE_FREE)
            continue;
        EXPECT_EQ(e.state, RM4_STATE_REMAPPED);
        EXPECT_TRUE(e.flags & RM4_ENTRY_MIGRATED);
        out[e.main_block] = m.sb.pool_start + e.spare_block;
    }
    return out;
}

// Device is v3 (valid, same map) or v4 (clean, same map).
void expect_v3_or_v4(const std::string& spare, const std::map<uint64_t, uint64_t>& want,
                     const std::string& where) {
    SCOPED_TRACE(where);
    auto dev = Device::open(spare);
    if (v3::is_v3(dev)) {
        auto img = v3::read(dev);
        EXPECT_TRUE(img.valid()) << img.verdict;
        EXPECT_EQ(v3_map(spare), want);
    } else {
        EXPECT_EQ(v4_map(spare), want);
    }
}

class MigrateFixture : public testing::TestWithParam<std::string> {};

TEST_P(MigrateFixture, MigratesEveryMappingOneToOne) {
    TempDir dir;
    auto p = prepare(dir, GetParam());
    const auto want = v3_map(p.spare);
    const auto spare_before = read_file(p.spare);
    {
        auto spare = Device::open(p.spare, {.write = true, .exclusive = true});
        auto main = Device::open(p.main, {.exclusive = true});
        migrate::Plan plan;
        EXPECT_EQ(migrate::run(spare, main, {}, &plan), migrate::Outcome::migrated);
        EXPECT_TRUE(plan.moves.empty());
        EXPECT_EQ(plan.unit_bytes, 512u);
        EXPECT_TRUE(plan.unit_defaulted);
    }
    EXPECT_EQ(v4_map(p.spare), want);
    // No data sector v3 used was touched: each still holds its tag.
    const auto after = read_file(p.spare);
    for (const auto& [main_sector, spare_sector] : want) {
        const auto off = spare_sector * 512;
        ASSERT_TRUE(
            std::equal(after.begin() + off, after.begin() + off + 512, spare_before.begin() + off));
        const std::string tag(reinterpret_cast<const char*>(after.data() + off), 64);
        EXPECT_EQ(tag.rfind(fmt::format("spare-holds-main:{}:{}", GetParam(), main_sector), 0), 0u)
            << tag;
    }
    // A rerun finds v4 and does nothing.
    auto spare = Device::open(p.spare, {.write = true});
    auto main = Device::open(p.main);
    EXPECT_EQ(migrate::run(spare, main, {}), migrate::Outcome::already_v4);
}

TEST_P(MigrateFixture, DryRunPlanWritesNothing) {
    TempDir dir;
    auto p = prepare(dir, GetParam());
    const auto before = read_file(p.spare);
    auto spare = Device::open(p.spare);
    auto main = Device::open(p.main);
    auto plan = migrate::plan(spare, main, {});
    const auto text = migrate::describe(plan);
    EXPECT_NE(text.find("remap unit: 512 bytes (the default"), std::string::npos) << text;
    EXPECT_NE(text.find("spare sectors to move: none"), std::string::npos) << text;
    EXPECT_NE(text.find("table A: blocks"), std::string::npos) << text;
    EXPECT_EQ(read_file(p.spare), before);
}

// Crash after write k, for every k: the device checks as v3 or v4, and a
// rerun completes the migration.
TEST_P(MigrateFixture, InterruptAfterEveryWrite) {
    TempDir dir;
    const auto orig = prepare(dir, GetParam());
    const auto want = v3_map(orig.spare);
    uint64_t k = 1;
    for (;; ++k) {
        ASSERT_LT(k, 10000u);
        auto p = prepare(dir, GetParam());
        bool interrupted = false;
        {
            auto spare = Device::open(p.spare, {.write = true, .exclusive = true});
            auto main = Device::open(p.main);
            try {
                migrate::run(spare, main, stop_after(k));
            } catch (const migrate::Interrupted& e) {
                interrupted = true;
                EXPECT_EQ(e.writes(), k);
            }
        }
        expect_v3_or_v4(p.spare, want, fmt::format("after write {}", k));
        {
            auto spare = Device::open(p.spare, {.write = true, .exclusive = true});
            auto main = Device::open(p.main);
            migrate::run(spare, main, {});
        }
        EXPECT_EQ(v4_map(p.spare), want) << "rerun after write " << k;
        auto dev = Device::open(p.spare);
        LoadReport rep;
        load(dev, &rep);
        EXPECT_EQ(rep.findings.size(), 0u) << "after write " << k << ": " << describe(rep);
        if (!interrupted)
            break;
    }
    EXPECT_GE(k, 4u); // at least table A, table B, superblock A, superblock B
}

INSTANTIATE_TEST_SUITE_P(LegacyV3, MigrateFixture,
                         testing::Values("empty", "basic", "full", "stale-checksum"),
                         [](const auto& param) {
                             std::string s = param.param;
                             std::replace(s.begin(), s.end(), '-', '_');
                             return s;
                         });

class MigrateInvalid : public testing::TestWithParam<std::pair<std::string, std::string>> {};

TEST_P(MigrateInvalid, RefusesWithTheReason) {
    TempDir dir;
    auto p = prepare(dir, GetParam().first);
    const auto before = read_file(p.spare);
    auto spare = Device::open(p.spare, {.write = true});
    auto main = Device::open(p.main);
    try {
        migrate::run(spare, main, {});
        FAIL() << "not refused";
    } catch (const migrate::Refused& e) {
        EXPECT_NE(std::string(e.what()).find("invalid"), std::string::npos) << e.what();
        EXPECT_NE(std::string(e.what()).find(GetParam().second), std::string::npos) << e.what();
    }
    EXPECT_EQ(read_file(p.spare), before);
}

INSTANTIATE_TEST_SUITE_P(LegacyV3, MigrateInvalid,
                         testing::Values(std::pair{"count-over-max", "entry-count"},
                                         std::pair{"duplicate-main", "main"},
                                         std::pair{"spare-out-of-range", "spare"}),
                         [](const auto& param) {
                             std::string s = param.param.first;
                             std::replace(s.begin(), s.end(), '-', '_');
                             return s;
                         });

TEST(Migrate, RefusesAMainOfAnotherSize) {
    TempDir dir;
    auto p = prepare(dir, "basic");
    make_image(p.main, 4096 * 512);
    auto spare = Device::open(p.spare, {.write = true});
    auto main = Device::open(p.main);
    EXPECT_THROW(
        {
            try {
                migrate::plan(spare, main, {});
            } catch (const migrate::Refused& e) {
                EXPECT_NE(std::string(e.what()).find("main device size does not match"),
                          std::string::npos);
                throw;
            }
        },
        migrate::Refused);
}

TEST(Migrate, RefusesASpareTooSmallForV4) {
    TempDir dir;
    auto p = prepare(dir, "full");
    // Entries in sectors 32-283; cut the spare right after them (and record
    // that size in the v3 header): no room is left for two table copies.
    {
        auto bytes = read_file(p.spare);
        bytes.resize(284 * 512);
        put_le(bytes, 48, 8, 284);
        write_file(p.spare, bytes);
    }
    auto spare = Device::open(p.spare);
    auto main = Device::open(p.main);
    try {
        migrate::plan(spare, main, {});
        FAIL() << "not refused";
    } catch (const migrate::Refused& e) {
        EXPECT_NE(std::string(e.what()).find("too small for v4"), std::string::npos) << e.what();
    }
}

TEST(Migrate, PoolShrinksToLeaveRoomForTheTables) {
    TempDir dir;
    auto p = prepare(dir, "basic");
    auto spare = Device::open(p.spare);
    auto main = Device::open(p.main);
    auto plan = migrate::plan(spare, main, area(60, spare.sectors() - 60));
    EXPECT_EQ(plan.sb.pool_start, 60u);
    EXPECT_GE(plan.sb.pool_start + plan.sb.pool_blocks, 69u);
    EXPECT_NE(migrate::describe(plan).find("the table copies need the room"), std::string::npos);
}

TEST(Migrate, RefusesAnEntryOutsideTheGivenArea) {
    TempDir dir;
    auto p = prepare(dir, "basic");
    auto spare = Device::open(p.spare);
    auto main = Device::open(p.main);
    EXPECT_THROW(migrate::plan(spare, main, area(100, 100)), migrate::Refused);
}

TEST(Migrate, RefusesAnInvalidUnit) {
    TempDir dir;
    auto p = prepare(dir, "basic");
    auto spare = Device::open(p.spare);
    auto main = Device::open(p.main);
    EXPECT_THROW(migrate::plan(spare, main, unit(3000)), migrate::Refused);
}

// Main sector s holds "m<s>" at its start.
void tag_main(const std::string& path) {
    auto bytes = read_file(path);
    for (std::size_t s = 0; s < bytes.size() / 512; ++s) {
        const auto t = fmt::format("m{}", s);
        std::memcpy(bytes.data() + s * 512, t.data(), t.size());
    }
    write_file(path, bytes);
}

// A 4 KiB unit: each remapped unit is filled from the spare (the v3
// sectors) and main (the rest); an unreadable main sector makes it pending.
TEST(Migrate, LargerUnitFillsEachUnitOrMarksItPending) {
    TempDir dir;
    auto p = prepare(dir, "basic");
    tag_main(p.main);
    const auto want = v3_map(p.spare);
    const auto spare_before = read_file(p.spare);
    {
        auto spare = Device::open(p.spare, {.write = true});
        auto main = Device::open(p.main);
        // Unit 268 / 8 = 33 has sector 269 unreadable on main.
        main.simulate_read_error(269 * 512, 512);
        migrate::Plan plan;
        EXPECT_EQ(migrate::run(spare, main, unit(4096), &plan), migrate::Outcome::migrated);
        EXPECT_EQ(plan.moves.size(), want.size());
    }
    auto dev = Device::open(p.spare);
    LoadReport rep;
    Metadata m = load(dev, &rep);
    ASSERT_FALSE(rep.has_fatal()) << describe(rep);
    EXPECT_EQ(m.sb.unit_bytes, 4096u);
    const auto after = read_file(p.spare);
    std::size_t seen = 0;
    for (const auto& e : m.slots) {
        if (e.state == RM4_STATE_FREE)
            continue;
        ++seen;
        EXPECT_TRUE(e.flags & RM4_ENTRY_MIGRATED);
        EXPECT_EQ(e.state, e.main_block == 33 ? RM4_STATE_PENDING : RM4_STATE_REMAPPED);
        const uint64_t base = m.sb.pool_start + e.spare_block * 8;
        for (uint64_t off = 0; off < 8; ++off) {
            const uint64_t ms = e.main_block * 8 + off;
            const std::string got(reinterpret_cast<const char*>(after.data() + (base + off) * 512),
                                  40);
            if (auto it = want.find(ms); it != want.end()) {
                EXPECT_TRUE(std::equal(after.begin() + (base + off) * 512,
                                       after.begin() + (base + off + 1) * 512,
                                       spare_before.begin() + it->second * 512))
                    << "sector " << ms;
            } else if (ms != 269) {
                EXPECT_EQ(got.rfind(fmt::format("m{}", ms), 0), 0u) << "sector " << ms;
            }
        }
    }
    EXPECT_EQ(seen, want.size());
}

TEST(Migrate, LargerUnitInterruptAfterEveryWrite) {
    TempDir dir;
    const auto orig = prepare(dir, "stale-checksum");
    const auto want = v3_map(orig.spare);
    uint64_t k = 1;
    for (;; ++k) {
        ASSERT_LT(k, 10000u);
        auto p = prepare(dir, "stale-checksum");
        bool interrupted = false;
        {
            auto spare = Device::open(p.spare, {.write = true});
            auto main = Device::open(p.main);
            auto o = unit(4096);
            o.stop_after_writes = k;
            try {
                migrate::run(spare, main, o);
            } catch (const migrate::Interrupted&) {
                interrupted = true;
            }
        }
        {
            SCOPED_TRACE(fmt::format("after write {}", k));
            auto dev = Device::open(p.spare);
            if (v3::is_v3(dev)) {
                EXPECT_TRUE(v3::read(dev).valid());
                EXPECT_EQ(v3_map(p.spare), want);
            } else {
                LoadReport rep;
                Metadata m = load(dev, &rep);
                EXPECT_FALSE(rep.has_fatal()) << describe(rep);
                EXPECT_EQ(m.used_slots(), std::set<uint64_t>([&] {
                                              std::set<uint64_t> u;
                                              for (const auto& [ms, ss] : want)
                                                  u.insert(ms / 8);
                                              return u;
                                          }())
                                              .size());
            }
        }
        {
            auto spare = Device::open(p.spare, {.write = true});
            auto main = Device::open(p.main);
            migrate::run(spare, main, unit(4096));
        }
        auto dev = Device::open(p.spare);
        LoadReport rep;
        load(dev, &rep);
        EXPECT_EQ(rep.findings.size(), 0u) << "after write " << k << ": " << describe(rep);
        if (!interrupted)
            break;
    }
    EXPECT_GE(k, 4u);
}

} // namespace

// SPDX-License-Identifier: GPL-2.0-only OR MIT
//
// plan_layout: unit choice, table sizing (the fixpoint), geometry validity
// over a range of spare sizes, and refusals. No I/O.
#include "helpers.hpp"
#include "remapmeta/errors.hpp"

namespace {

using namespace remapmeta;
using testutil::test_params;

constexpr uint64_t KiB = 1024;
constexpr uint64_t MiB = 1024 * KiB;
constexpr uint64_t GiB = 1024 * MiB;

// Everything a planned layout must satisfy.
void expect_valid_plan(const FormatParams& p, const Superblock& sb) {
    SCOPED_TRACE(fmt::format("spare {} sectors, unit {}", p.spare_sectors, sb.unit_bytes));
    rm4_problem prob{};
    ASSERT_EQ(rm4_sb_check_geometry(&sb, p.spare_sectors, &prob), RM4_OK)
        << prob.field << " = " << prob.value;
    EXPECT_EQ(sb.blocknr, 0u);
    EXPECT_EQ(sb.seq, 1u);
    EXPECT_EQ(sb.spare_sectors, p.spare_sectors);
    EXPECT_EQ(sb.table_a_start, 2u);
    EXPECT_EQ(sb.table_b_start, 2 + sb.table_blocks);
    EXPECT_GE(sb.pool_blocks, 1u);

    const uint64_t align =
        std::max<uint64_t>({sb.unit_bytes, p.spare_physical_block_size, RM4_BLOCK_SIZE});
    const uint64_t pool_start_bytes = sb.pool_start * 512;
    EXPECT_EQ(pool_start_bytes % align, 0u);
    EXPECT_GE(pool_start_bytes, (2 + 2 * sb.table_blocks) * RM4_BLOCK_SIZE);
    EXPECT_LT(pool_start_bytes, (2 + 2 * sb.table_blocks) * RM4_BLOCK_SIZE + align);
    // The pool takes everything after it, in whole units.
    EXPECT_EQ(sb.pool_blocks, (p.spare_sectors * 512 - pool_start_bytes) / sb.unit_bytes);

    // Capacity: pool + max(126, pool / 8), in whole blocks, and no more
    // than needed (one block less would not hold its own, bigger, pool).
    const uint64_t capacity = rm4_table_capacity(&sb);
    EXPECT_GE(capacity, sb.pool_blocks + std::max<uint64_t>(126, sb.pool_blocks / 8));
    EXPECT_GE(sb.table_blocks, required_table_blocks(sb.pool_blocks));
    if (sb.table_blocks > 2) {
        const uint64_t smaller = sb.table_blocks - 1;
        const uint64_t start = (2 + 2 * smaller) * RM4_BLOCK_SIZE;
        const uint64_t start_aligned = (start + align - 1) / align * align;
        const uint64_t pool = (p.spare_sectors * 512 - start_aligned) / sb.unit_bytes;
        EXPECT_GT(required_table_blocks(pool), smaller) << "the table could be smaller";
    }

    // It encodes to a superblock that decodes.
    std::array<std::byte, RM4_BLOCK_SIZE> b{};
    rm4_sb_encode(&sb, b.data());
    Superblock out{};
    ASSERT_EQ(rm4_sb_decode(b.data(), 0, &out, &prob), RM4_OK) << prob.field;
    EXPECT_TRUE(superblock_differences(sb, out, true).empty());
}

TEST(Layout, DefaultUnitIsMainPhysicalBlockSizeAtLeast4K) {
    for (auto [pbs, unit] : std::vector<std::pair<uint32_t, uint32_t>>{
             {512, 4096}, {4096, 4096}, {8192, 8192}, {16384, 16384}, {65536, 65536}}) {
        FormatParams p = test_params(64 * MiB);
        p.main_physical_block_size = pbs;
        const Superblock sb = plan_layout(p);
        EXPECT_EQ(sb.unit_bytes, unit) << "main pbs " << pbs;
        expect_valid_plan(p, sb);
    }
}

TEST(Layout, ExplicitUnitsFrom512To64K) {
    for (uint32_t unit = 512; unit <= 65536; unit *= 2) {
        FormatParams p = test_params(256 * MiB, unit);
        const Superblock sb = plan_layout(p);
        EXPECT_EQ(sb.unit_bytes, unit);
        expect_valid_plan(p, sb);
    }
}

TEST(Layout, RecordsTheFingerprintAndFormatIdentity) {
    FormatParams p = test_params(64 * MiB);
    p.main_sectors = 123456789;
    p.main_logical_block_size = 4096;
    p.main_physical_block_size = 4096;
    p.main_identity = std::string(128, 'W');
    const Superblock sb = plan_layout(p);
    EXPECT_EQ(sb.main_sectors, 123456789u);
    EXPECT_EQ(sb.main_logical_block_size, 4096u);
    EXPECT_EQ(sb.main_physical_block_size, 4096u);
    EXPECT_EQ(std::string(sb.main_identity), std::string(128, 'W'));
    EXPECT_EQ(std::string(sb.creator), "unit-tests");
    EXPECT_EQ(sb.format_time, testutil::test_time);
    EXPECT_EQ(std::memcmp(sb.uuid, testutil::test_uuid().data(), 16), 0);
    EXPECT_EQ(sb.version_major, RM4_VERSION_MAJOR);
    EXPECT_EQ(sb.version_minor, RM4_VERSION_MINOR);
    EXPECT_EQ(sb.flags | sb.incompat | sb.ro_compat | sb.compat, 0u);
    EXPECT_EQ(sb.scan_cursor | sb.scan_pass, 0u);
}

TEST(Layout, DefaultsGenerateUuidTimeAndCreator) {
    FormatParams p = test_params(64 * MiB);
    p.uuid.reset();
    p.format_time.reset();
    p.creator = default_creator();
    const auto before = static_cast<uint64_t>(std::time(nullptr));
    const Superblock a = plan_layout(p);
    const Superblock b = plan_layout(p);
    EXPECT_NE(std::memcmp(a.uuid, b.uuid, 16), 0);
    EXPECT_EQ(a.uuid[6] >> 4, 4);
    EXPECT_GE(a.format_time, before);
    EXPECT_LE(a.format_time, static_cast<uint64_t>(std::time(nullptr)));
    EXPECT_LE(default_creator().size(), RM4_CREATOR_LEN);
    EXPECT_EQ(default_creator().rfind("remapmeta ", 0), 0u);
    EXPECT_EQ(std::string(a.creator), default_creator());
}

TEST(Layout, GeometryHoldsFrom64KiBTo64GiB) {
    for (uint32_t unit : {512u, 4096u, 65536u}) {
        for (uint64_t size = 64 * KiB; size <= 64 * GiB; size *= 2) {
            // Exact powers of two, and awkward sizes just above and below.
            for (uint64_t bytes : {size, size + 512, size + 4096 + 1536, size - 512}) {
                FormatParams p = test_params(bytes, unit);
                if (bytes < minimum_spare_bytes(unit, p.spare_physical_block_size)) {
                    EXPECT_THROW(plan_layout(p), DeviceError);
                    continue;
                }
                expect_valid_plan(p, plan_layout(p));
            }
        }
    }
}

TEST(Layout, EveryFeasibleSizeNearTheMinimumHasAPool) {
    for (uint32_t unit : {512u, 4096u, 16384u}) {
        const uint64_t min = minimum_spare_bytes(unit, 4096);
        for (uint64_t bytes = min; bytes < min + 2 * MiB; bytes += 512)
            expect_valid_plan(test_params(bytes, unit), plan_layout(test_params(bytes, unit)));
    }
}

TEST(Layout, LargePhysicalBlocksAlignThePool) {
    FormatParams p = test_params(64 * MiB, 4096);
    p.spare_physical_block_size = 65536;
    const Superblock sb = plan_layout(p);
    EXPECT_EQ(sb.pool_start * 512 % 65536, 0u);
    expect_valid_plan(p, sb);
}

TEST(Layout, TooSmallSpareIsRefusedWithTheMinimumSize) {
    const uint64_t min = minimum_spare_bytes(4096, 4096);
    // Two superblocks, 2 table blocks per copy, one unit: 7 blocks at 4 KiB.
    EXPECT_EQ(min, 7 * 4096u);
    for (uint64_t bytes : {uint64_t{0}, uint64_t{512}, 16 * KiB, min - 512}) {
        try {
            plan_layout(test_params(bytes, 4096));
            ADD_FAILURE() << bytes << " bytes accepted";
        } catch (const DeviceError& e) {
            EXPECT_EQ(e.kind(), DeviceErrorKind::too_small);
            EXPECT_NE(std::string(e.what()).find(std::to_string(min)), std::string::npos)
                << e.what();
        }
    }
    EXPECT_NO_THROW(plan_layout(test_params(min, 4096)));
    // A 64 KiB unit needs more.
    EXPECT_EQ(minimum_spare_bytes(65536, 4096), 2 * 65536u);
    EXPECT_THROW(plan_layout(test_params(100 * KiB, 65536)), DeviceError);
}

TEST(Layout, MillionEntryTables) {
    // docs/format-v4.md: at 4 KiB units a 4.5 GiB spare gives more than 1,048,576 entries.
    const FormatParams p = test_params(4 * GiB + 512 * MiB);
    const Superblock sb = plan_layout(p);
    EXPECT_GT(rm4_table_capacity(&sb), 1048576u);
    expect_valid_plan(p, sb);
    // A 512-byte unit gets there with a much smaller spare.
    const FormatParams small = test_params(544 * MiB, 512);
    const Superblock sb2 = plan_layout(small);
    EXPECT_GE(rm4_table_capacity(&sb2), 1048576u);
    expect_valid_plan(small, sb2);
}

TEST(Layout, RefusesInvalidUnits) {
    for (uint32_t unit : {256u, 1000u, 3000u, 4097u, 131072u, 1u << 31}) {
        try {
            plan_layout(test_params(64 * MiB, unit));
            ADD_FAILURE() << "unit " << unit << " accepted";
        } catch (const ParameterError& e) {
            EXPECT_EQ(e.parameter(), "unit_bytes");
            EXPECT_NE(std::string(e.what()).find(std::to_string(unit)), std::string::npos);
        }
    }
    // Smaller than a logical block of either device.
    FormatParams p = test_params(64 * MiB, 2048);
    p.main_logical_block_size = 4096;
    EXPECT_THROW(plan_layout(p), ParameterError);
    p = test_params(64 * MiB, 2048);
    p.spare_logical_block_size = 4096;
    EXPECT_THROW(plan_layout(p), ParameterError);
    // A default unit above 64 KiB (main pbs 128 KiB).
    p = test_params(64 * MiB);
    p.main_physical_block_size = 131072;
    EXPECT_THROW(plan_layout(p), ParameterError);
}

TEST(Layout, RefusesInvalidDevicesAndStrings) {
    auto refused = [](void (*edit)(FormatParams&), const char* parameter) {
        FormatParams p = test_params(64 * MiB);
        edit(p);
        try {
            plan_layout(p);
            ADD_FAILURE() << parameter << " accepted";
        } catch (const ParameterError& e) {
            EXPECT_EQ(e.parameter(), parameter) << e.what();
        }
    };
    refused([](FormatParams& p) { p.main_sectors = 0; }, "main_sectors");
    refused([](FormatParams& p) { p.main_logical_block_size = 1000; }, "main_logical_block_size");
    refused([](FormatParams& p) { p.main_physical_block_size = 256; }, "main_physical_block_size");
    refused([](FormatParams& p) { p.spare_logical_block_size = 8192; }, "spare_logical_block_size");
    refused([](FormatParams& p) { p.spare_physical_block_size = 3000; },
            "spare_physical_block_size");
    refused([](FormatParams& p) { p.main_identity = std::string(129, 'x'); }, "main_identity");
    refused([](FormatParams& p) { p.main_identity = "serial\t1"; }, "main_identity");
    refused([](FormatParams& p) { p.main_identity = "caf\xc3\xa9"; }, "main_identity");
    refused([](FormatParams& p) { p.creator = std::string(17, 'c'); }, "creator");
    refused([](FormatParams& p) { p.uuid = Uuid{}; }, "uuid");
}

} // namespace

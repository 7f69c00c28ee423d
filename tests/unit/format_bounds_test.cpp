// SPDX-License-Identifier: GPL-2.0-only OR MIT
//
// Regression tests for bounds bugs once found in kernel/format/rm_format.c:
// huge sizes must not overflow, and a bad unit must not divide by zero.
#include "helpers.hpp"

namespace {

using namespace remapmeta;

Superblock valid_superblock() {
    return plan_layout(testutil::test_params(64 << 20));
}

// rm4_sb_decode accepts any non-zero main_sectors, but rm4_main_units()
// computes (main_sectors + unit_sectors - 1) / unit_sectors in 64 bits: near
// UINT64_MAX the sum wraps and the device appears to have 0 units, so every
// entry with a main block is then rejected as "beyond the device".
TEST(FormatBounds, MainUnitsOverflowForHugeMainSectors) {
    Superblock sb = valid_superblock();
    sb.main_sectors = UINT64_MAX;
    std::array<std::byte, RM4_BLOCK_SIZE> b{};
    rm4_sb_encode(&sb, b.data());
    Superblock out{};
    if (rm4_sb_decode(b.data(), 0, &out, nullptr) != RM4_OK)
        return; // rejecting such a superblock is a fix too
    const uint64_t unit_sectors = out.unit_bytes / 512;
    EXPECT_GE(rm4_main_units(&out), out.main_sectors / unit_sectors);
    EXPECT_EQ(validate_entry(out, make_remapped(5, 0, 0)), RM4_OK);
}

// rm4_sb_check_geometry divides by unit_bytes >> 9 before anything checks
// it: a superblock that did not come from rm4_sb_decode (a planned layout, a
// repair tool's candidate) with unit_bytes < 512 crashes it with SIGFPE (in
// the kernel, an oops) instead of returning RM4_E_FIELD or RM4_E_GEOMETRY.
TEST(FormatBounds, GeometryCheckDividesByZeroForUnitBelow512) {
    GTEST_FLAG_SET(death_test_style, "threadsafe");
    Superblock sb = valid_superblock();
    sb.unit_bytes = 256;
    EXPECT_EXIT(
        {
            rm4_problem prob{};
            const rm4_status s = rm4_sb_check_geometry(&sb, sb.spare_sectors, &prob);
            std::exit(s == RM4_OK ? 1 : 0);
        },
        testing::ExitedWithCode(0), "")
        << "rm4_sb_check_geometry must return an error, not crash";
}

// A block whose seq is at or above RM4_SEQ_LIMIT can only be corruption with
// a valid CRC. Were it accepted, the next commit would stamp seq + 1, which
// wraps to 0 at UINT64_MAX and makes the new copy look older than the stale
// one. Both block types refuse it, naming the field.
TEST(FormatBounds, SequenceAtTheLimitIsRefused) {
    Superblock sb = valid_superblock();
    std::array<std::byte, RM4_BLOCK_SIZE> b{};
    Superblock out{};
    rm4_problem prob{};
    for (const uint64_t seq : {uint64_t{RM4_SEQ_LIMIT}, UINT64_MAX}) {
        sb.seq = seq;
        rm4_sb_encode(&sb, b.data());
        EXPECT_EQ(rm4_sb_decode(b.data(), 0, &out, &prob), RM4_E_FIELD) << seq;
        EXPECT_STREQ(prob.field, "seq");
    }
    sb.seq = RM4_SEQ_LIMIT - 1;
    rm4_sb_encode(&sb, b.data());
    EXPECT_EQ(rm4_sb_decode(b.data(), 0, &out, nullptr), RM4_OK);
    EXPECT_EQ(out.seq, RM4_SEQ_LIMIT - 1);

    std::array<std::byte, RM4_BLOCK_SIZE> t{};
    rm4_table_prepare(t.data(), sb.table_a_start, 0, RM4_SEQ_LIMIT, sb.uuid);
    EXPECT_EQ(rm4_table_check(t.data(), sb.table_a_start, 0, sb.uuid, &prob), RM4_E_FIELD);
    EXPECT_STREQ(prob.field, "seq");
}

} // namespace

// SPDX-License-Identifier: GPL-2.0-only OR MIT
//
// The redundancy promise of docs/format-v4.md: losing or damaging any single
// metadata block leaves the other copy. For every byte of every metadata
// block (both superblocks, every table block of both copies, written or
// never written), flip it, load, and require that the damage is reported
// against that block and that the loaded model is exactly the original.
#include "helpers.hpp"
#include "remapmeta/errors.hpp"

#include <chrono>

namespace {

using namespace remapmeta;

TEST(ByteFlip, EveryByteOfEveryMetadataBlockIsDetectedAndRepaired) {
    testutil::TempDir dir;
    const auto path = dir.file("spare.img");
    const Superblock sb = testutil::format_image(path, 2 << 20);
    ASSERT_GE(sb.table_blocks, 4u);

    Device dev = Device::open(path, {.write = true});
    {
        // Entries in blocks 0, 1 and 3 of every state; blocks 2 and the
        // last stay never written. The superblock is rewritten once too.
        Metadata m = Metadata::empty(sb);
        m.set_entry(0, make_remapped(10, 0, 1, 1));
        m.set_entry(125, make_pending(11, RM4_NONE, 2, 2));
        m.set_entry(126, make_pending(12, 1, 3, 3, RM4_ENTRY_PROACTIVE));
        m.set_entry(200, make_bad_spare(2, 4, 4));
        m.set_entry(3 * 126 + 17, make_remapped(13, 3, 5, 0, RM4_ENTRY_MIGRATED));
        for (uint64_t k : {0, 1, 3})
            commit_table_block(dev, m, k);
        m.sb.scan_cursor = 77;
        write_superblocks(dev, m);
    }
    LoadReport clean;
    const Metadata original = load(dev, &clean);
    ASSERT_TRUE(clean.findings.empty()) << testutil::describe(clean);
    ASSERT_EQ(original.used_slots(), 5u);
    ASSERT_EQ(original.sb.scan_cursor, 77u);

    std::vector<uint64_t> blocks = {RM4_SB_A_BLOCK, RM4_SB_B_BLOCK};
    for (uint64_t k = 0; k < sb.table_blocks; k++) {
        blocks.push_back(sb.table_a_start + k);
        blocks.push_back(sb.table_b_start + k);
    }

    const auto start = std::chrono::steady_clock::now();
    uint64_t flips = 0, failures = 0;
    auto fail = [&](uint64_t block, std::size_t offset, const std::string& why) {
        if (failures++ < 20)
            ADD_FAILURE() << fmt::format("block {} ({}) byte {}: {}", block, block_role(sb, block),
                                         offset, why);
    };
    for (uint64_t block : blocks) {
        for (std::size_t offset = 0; offset < RM4_BLOCK_SIZE; offset++) {
            const uint64_t at = block * RM4_BLOCK_SIZE + offset;
            std::byte byte[1];
            dev.read(at, byte);
            const std::byte flipped[1] = {byte[0] ^ std::byte{0xff}};
            dev.write(at, flipped);
            flips++;

            LoadReport report;
            try {
                const Metadata got = load(dev, &report);
                if (report.findings_for(block).empty())
                    fail(block, offset, "not detected\n" + testutil::describe(report));
                else if (report.has_fatal())
                    fail(block, offset, "reported as fatal\n" + testutil::describe(report));
                else if (auto same = testutil::same_metadata(original, got); !same)
                    fail(block, offset, same.message());
                else if (block == RM4_SB_A_BLOCK && report.superblock_copy != 1)
                    fail(block, offset, "superblock A damaged but still used");
            } catch (const Error& e) {
                // Only legitimate when no good second copy exists: never for one flip.
                fail(block, offset, std::string("load threw: ") + e.what());
            }
            dev.write(at, byte);
        }
    }
    const auto elapsed = std::chrono::duration_cast<std::chrono::milliseconds>(
        std::chrono::steady_clock::now() - start);
    EXPECT_EQ(failures, 0u) << "of " << flips << " flips";
    EXPECT_EQ(flips, blocks.size() * RM4_BLOCK_SIZE);
    RecordProperty("flips", static_cast<int>(flips));
    RecordProperty("milliseconds", static_cast<int>(elapsed.count()));

    // The image is back to its original state.
    LoadReport after;
    EXPECT_TRUE(testutil::same_metadata(original, load(dev, &after)));
    EXPECT_TRUE(after.findings.empty()) << testutil::describe(after);
}

} // namespace

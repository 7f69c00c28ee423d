// SPDX-License-Identifier: GPL-2.0-only OR MIT
//
// Format, load and commit on image files, including interrupted commits,
// damaged copies and inputs that are not v4 metadata at all.
#include "helpers.hpp"
#include "remapmeta/errors.hpp"

#include <random>

namespace {

using namespace remapmeta;
using testutil::TempDir;

constexpr uint64_t MiB = 1 << 20;

class MetadataIo : public ::testing::Test {
protected:
    void SetUp() override {
        path_ = dir_.file("spare.img");
        sb_ = testutil::format_image(path_, 8 * MiB);
        ASSERT_GE(sb_.table_blocks, 6u);
    }

    Device open_rw() { return Device::open(path_, {.write = true}); }

    // A model with entries in table blocks 0, 1 and 4, committed.
    Metadata commit_sample(Device& dev) {
        Metadata m = Metadata::empty(sb_);
        const uint64_t slots[] = {0, 1, 125, 126, 200, 4 * 126 + 7};
        uint64_t spare = 0;
        for (uint64_t slot : slots)
            m.set_entry(slot, make_remapped(1000 + slot, spare++, testutil::test_time + slot, 1));
        m.set_entry(127, make_pending(5, RM4_NONE, testutil::test_time, 3));
        m.set_entry(128, make_bad_spare(spare++, testutil::test_time, 9));
        for (uint64_t k : {0, 1, 4})
            commit_table_block(dev, m, k);
        return m;
    }

    Metadata load_clean(Device& dev) {
        LoadReport report;
        Metadata m = load(dev, &report);
        EXPECT_TRUE(report.findings.empty()) << testutil::describe(report);
        return m;
    }

    TempDir dir_;
    std::string path_;
    Superblock sb_{};
};

TEST_F(MetadataIo, FormatThenLoadIsEqual) {
    Device dev = Device::open(path_);
    LoadReport report;
    const Metadata m = load(dev, &report);
    EXPECT_TRUE(report.findings.empty()) << testutil::describe(report);
    EXPECT_TRUE(testutil::same_metadata(Metadata::empty(sb_), m));
    EXPECT_EQ(m.sb.seq, 1u);
    EXPECT_EQ(m.max_seq, 1u);
    EXPECT_EQ(m.capacity(), sb_.table_blocks * 126);
    EXPECT_EQ(m.used_slots(), 0u);
    EXPECT_EQ(report.superblock_copy, 0);
    EXPECT_EQ(report.blocks_read, 2 + 2 * sb_.table_blocks);
    EXPECT_FALSE(report.read_only);
    EXPECT_FALSE(report.repaired_by_other_copy());
    ASSERT_EQ(report.table.size(), sb_.table_blocks);
    for (const auto& bc : report.table) {
        EXPECT_EQ(bc.source, BlockSource::empty);
        EXPECT_TRUE(bc.a.never_written() && bc.b.never_written());
    }
}

TEST_F(MetadataIo, FormatWritesBothSuperblocksAndZeroesTheTables) {
    // Fill the image with garbage first: format must leave nothing of it in metadata.
    {
        Device dev = open_rw();
        std::vector<std::byte> junk(dev.size_bytes(), std::byte{0xa5});
        dev.write(0, junk);
        format(dev, sb_);
    }
    Device dev = Device::open(path_);
    for (uint64_t c : {0, 1}) {
        auto block = testutil::read_block(dev, c);
        Superblock out{};
        ASSERT_EQ(rm4_sb_decode(block.data(), c, &out, nullptr), RM4_OK) << "copy " << c;
        EXPECT_EQ(out.seq, 1u);
        EXPECT_TRUE(superblock_differences(sb_, out).empty());
    }
    for (uint64_t b = sb_.table_a_start; b < sb_.table_b_start + sb_.table_blocks; b++) {
        auto block = testutil::read_block(dev, b);
        ASSERT_TRUE(rm4_is_zero(block.data(), block.size())) << "block " << b;
    }
    EXPECT_TRUE(testutil::same_metadata(Metadata::empty(sb_), load_clean(dev)));
}

TEST_F(MetadataIo, CommitsAcrossSeveralTableBlocksLoadBack) {
    Device dev = open_rw();
    const Metadata m = commit_sample(dev);
    EXPECT_EQ(m.max_seq, 4u); // format 1, then three commits
    const Metadata loaded = load_clean(dev);
    EXPECT_TRUE(testutil::same_metadata(m, loaded, false));
    EXPECT_EQ(loaded.max_seq, 4u);
    EXPECT_EQ(loaded.used_slots(), 8u);
    EXPECT_EQ(loaded.slots[127].state, RM4_STATE_PENDING);
    EXPECT_EQ(loaded.slots[128].state, RM4_STATE_BAD_SPARE);

    // Both copies of a committed block carry the same seq and entries.
    for (uint64_t k : {0, 1, 4}) {
        auto a = testutil::read_block(dev, sb_.table_a_start + k);
        auto b = testutil::read_block(dev, sb_.table_b_start + k);
        EXPECT_EQ(rm4_block_seq(a.data()), rm4_block_seq(b.data()));
        EXPECT_TRUE(std::equal(a.begin() + 48, a.end(), b.begin() + 48));
    }
    // Untouched blocks were not written.
    auto untouched = testutil::read_block(dev, sb_.table_a_start + 2);
    EXPECT_TRUE(rm4_is_zero(untouched.data(), untouched.size()));
}

TEST_F(MetadataIo, SequenceNumbersKeepGrowingAcrossLoads) {
    Device dev = open_rw();
    Metadata m = commit_sample(dev);
    Metadata again = load_clean(dev);
    again.set_entry(300, make_remapped(77, 50, 1));
    commit_table_block(dev, again, Metadata::block_of_slot(300));
    EXPECT_EQ(again.max_seq, m.max_seq + 1);
    again.clear_entry(0);
    commit_table_block(dev, again, 0);
    const Metadata loaded = load_clean(dev);
    EXPECT_EQ(loaded.max_seq, m.max_seq + 2);
    EXPECT_EQ(loaded.slots[0].state, RM4_STATE_FREE);
    EXPECT_EQ(loaded.slots[300], make_remapped(77, 50, 1));
}

TEST_F(MetadataIo, SuperblockUpdatesUseTheSameProtocol) {
    Device dev = open_rw();
    Metadata m = commit_sample(dev);
    m.sb.flags |= RM4_SB_NEEDS_CHECK;
    m.sb.scan_cursor = 1234;
    m.sb.scan_pass = 2;
    write_superblocks(dev, m);
    EXPECT_EQ(m.sb.seq, 5u);
    EXPECT_EQ(m.max_seq, 5u);
    const Metadata loaded = load_clean(dev);
    EXPECT_TRUE(testutil::same_metadata(m, loaded));
    EXPECT_EQ(loaded.sb.flags, RM4_SB_NEEDS_CHECK);
    EXPECT_EQ(loaded.sb.scan_cursor, 1234u);
    auto b = testutil::read_block(dev, 1);
    Superblock sb_b{};
    ASSERT_EQ(rm4_sb_decode(b.data(), 1, &sb_b, nullptr), RM4_OK);
    EXPECT_EQ(sb_b.seq, 5u);
    EXPECT_EQ(sb_b.scan_cursor, 1234u);
}

// A crash between the write to A and the write to B.
TEST_F(MetadataIo, StaleCopyBPicksTheNewerA) {
    Device dev = open_rw();
    Metadata m = commit_sample(dev);
    m.set_entry(130, make_remapped(4242, 77, 5));
    std::vector<std::byte> block(RM4_BLOCK_SIZE);
    encode_table_block(m, 1, ++m.max_seq, Copy::a, BlockSpan(block.data(), RM4_BLOCK_SIZE));
    testutil::write_block(dev, sb_.table_a_start + 1, block); // A only

    LoadReport report;
    const Metadata loaded = load(dev, &report);
    EXPECT_TRUE(testutil::same_metadata(m, loaded));
    EXPECT_EQ(loaded.slots[130], make_remapped(4242, 77, 5));
    ASSERT_EQ(report.findings.size(), 1u) << testutil::describe(report);
    const Finding& f = report.findings[0];
    EXPECT_EQ(f.severity, Severity::non_fatal);
    EXPECT_EQ(f.block, sb_.table_b_start + 1);
    EXPECT_NE(f.message.find("stale"), std::string::npos) << f.message;
    EXPECT_NE(f.message.find("table B block 1"), std::string::npos) << f.message;
    EXPECT_EQ(report.table[1].source, BlockSource::copy_a);
    EXPECT_TRUE(report.table[1].needs_rewrite);
    EXPECT_EQ(report.table[1].a.seq, 5u); // the interrupted commit
    EXPECT_EQ(report.table[1].b.seq, 3u); // block 1's previous commit
    EXPECT_TRUE(report.repaired_by_other_copy());

    // The next commit of that block heals it.
    Metadata next = loaded;
    commit_table_block(dev, next, 1);
    EXPECT_TRUE(testutil::same_metadata(next, load_clean(dev)));
}

// A copy B newer than A cannot come from the protocol, but if A is found
// stale (say, restored from an old image), B still wins by its seq.
TEST_F(MetadataIo, StaleCopyAPicksTheNewerB) {
    Device dev = open_rw();
    Metadata m = commit_sample(dev);
    const auto old_a = testutil::read_block(dev, sb_.table_a_start + 0);
    m.set_entry(3, make_pending(9, RM4_NONE, 3));
    commit_table_block(dev, m, 0);
    testutil::write_block(dev, sb_.table_a_start + 0, old_a);

    LoadReport report;
    const Metadata loaded = load(dev, &report);
    EXPECT_TRUE(testutil::same_metadata(m, loaded));
    ASSERT_EQ(report.findings.size(), 1u) << testutil::describe(report);
    EXPECT_EQ(report.findings[0].block, sb_.table_a_start + 0);
    EXPECT_EQ(report.table[0].source, BlockSource::copy_b);
}

TEST_F(MetadataIo, FirstCommitInterruptedBetweenAAndB) {
    Device dev = open_rw();
    Metadata m = Metadata::empty(sb_);
    m.set_entry(5 * 126, make_remapped(1, 1, 1));
    std::vector<std::byte> block(RM4_BLOCK_SIZE);
    encode_table_block(m, 5, ++m.max_seq, Copy::a, BlockSpan(block.data(), RM4_BLOCK_SIZE));
    testutil::write_block(dev, sb_.table_a_start + 5, block);

    LoadReport report;
    const Metadata loaded = load(dev, &report);
    EXPECT_TRUE(testutil::same_metadata(m, loaded));
    ASSERT_EQ(report.findings.size(), 1u) << testutil::describe(report);
    EXPECT_EQ(report.findings[0].block, sb_.table_b_start + 5);
    EXPECT_EQ(report.findings[0].severity, Severity::non_fatal);
    EXPECT_EQ(report.findings[0].status, RM4_E_ZERO);
}

// A crash during the write to A: A is torn, B holds the previous commit.
TEST_F(MetadataIo, TornCopyAFallsBackToB) {
    Device dev = open_rw();
    const Metadata before = commit_sample(dev);
    Metadata after = before;
    after.set_entry(126 + 50, make_remapped(50, 60, 70));
    std::vector<std::byte> block(RM4_BLOCK_SIZE);
    encode_table_block(after, 1, after.max_seq + 1, Copy::a,
                       BlockSpan(block.data(), RM4_BLOCK_SIZE));
    // The first half made it, the rest is garbage.
    std::mt19937 rng(1);
    for (std::size_t i = 2048; i < block.size(); i++)
        block[i] = static_cast<std::byte>(rng());
    testutil::write_block(dev, sb_.table_a_start + 1, block);

    LoadReport report;
    const Metadata loaded = load(dev, &report);
    EXPECT_TRUE(testutil::same_metadata(before, loaded));
    ASSERT_EQ(report.findings.size(), 1u) << testutil::describe(report);
    EXPECT_EQ(report.findings[0].block, sb_.table_a_start + 1);
    EXPECT_EQ(report.findings[0].status, RM4_E_CRC);
    EXPECT_EQ(report.findings[0].severity, Severity::non_fatal);
    EXPECT_EQ(report.table[1].source, BlockSource::copy_b);
    EXPECT_FALSE(report.has_fatal());
}

TEST_F(MetadataIo, BothCopiesDamagedIsFatal) {
    Device dev = open_rw();
    const Metadata m = commit_sample(dev);
    for (uint64_t b : {sb_.table_a_start + 4, sb_.table_b_start + 4}) {
        auto block = testutil::read_block(dev, b);
        block[1000] ^= std::byte{0x10};
        testutil::write_block(dev, b, block);
    }
    LoadReport report;
    const Metadata loaded = load(dev, &report);
    EXPECT_TRUE(report.has_fatal());
    ASSERT_EQ(report.count(Severity::fatal), 1u) << testutil::describe(report);
    const auto fatal = std::find_if(report.findings.begin(), report.findings.end(),
                                    [](const Finding& f) { return f.severity == Severity::fatal; });
    EXPECT_EQ(fatal->block, sb_.table_a_start + 4);
    EXPECT_NE(fatal->message.find("lost"), std::string::npos) << fatal->message;
    EXPECT_EQ(report.table[4].source, BlockSource::lost);
    // Everything else is intact; the lost block reads as free.
    Metadata expected = m;
    for (auto& e : expected.entries_in_block(4))
        e = Entry{};
    EXPECT_TRUE(testutil::same_metadata(expected, loaded, false));
    // Without a report the fatal finding is thrown.
    try {
        load(dev);
        FAIL() << "load without a report accepted a lost table block";
    } catch (const MetadataError& e) {
        EXPECT_EQ(e.block(), sb_.table_a_start + 4);
        EXPECT_EQ(e.status(), RM4_E_CRC);
    }
}

TEST_F(MetadataIo, DamagedCopyOfANeverWrittenBlockReadsAsEmpty) {
    Device dev = open_rw();
    const Metadata m = commit_sample(dev);
    auto block = testutil::read_block(dev, sb_.table_b_start + 3);
    block[77] = std::byte{0x42};
    testutil::write_block(dev, sb_.table_b_start + 3, block);
    LoadReport report;
    const Metadata loaded = load(dev, &report);
    EXPECT_TRUE(testutil::same_metadata(m, loaded));
    ASSERT_EQ(report.findings.size(), 1u) << testutil::describe(report);
    EXPECT_EQ(report.findings[0].severity, Severity::non_fatal);
    EXPECT_EQ(report.findings[0].block, sb_.table_b_start + 3);
    EXPECT_EQ(report.table[3].source, BlockSource::empty);
    EXPECT_TRUE(report.table[3].needs_rewrite);
}

TEST_F(MetadataIo, ZeroedCopyABesideAWrittenDamagedCopyBIsLost) {
    // A drive that returns zeroes for a lost sector of copy A, and copy B
    // damaged too: the block held committed entries, so it is lost, never
    // read as empty (the kernel refuses it as well).
    Device dev = open_rw();
    commit_sample(dev);
    testutil::write_block(dev, sb_.table_a_start + 1,
                          std::vector<std::byte>(RM4_BLOCK_SIZE, std::byte{0}));
    auto block = testutil::read_block(dev, sb_.table_b_start + 1);
    block[200] ^= std::byte{0x01};
    testutil::write_block(dev, sb_.table_b_start + 1, block);
    LoadReport report;
    load(dev, &report);
    ASSERT_EQ(report.count(Severity::fatal), 1u) << testutil::describe(report);
    EXPECT_EQ(report.table[1].source, BlockSource::lost);
}

TEST_F(MetadataIo, InvalidEntryInAValidBlockIsFatalWithItsSlot) {
    Device dev = open_rw();
    Metadata m = commit_sample(dev);
    // A writer bug: a remapped entry whose spare lies beyond the pool, with a valid CRC.
    m.slots[126 + 9] = make_remapped(3, sb_.pool_blocks + 5, 1);
    std::vector<std::byte> block(RM4_BLOCK_SIZE);
    for (Copy c : {Copy::a, Copy::b}) {
        encode_table_block(m, 1, m.max_seq + 1, c, BlockSpan(block.data(), RM4_BLOCK_SIZE));
        testutil::write_block(dev, table_blocknr(sb_, 1, c), block);
    }
    LoadReport report;
    const Metadata loaded = load(dev, &report);
    ASSERT_EQ(report.count(Severity::fatal), 1u) << testutil::describe(report);
    EXPECT_EQ(report.findings[0].slot, 126u + 9);
    EXPECT_EQ(report.findings[0].field, "spare_block");
    EXPECT_EQ(report.findings[0].block, sb_.table_a_start + 1);
    EXPECT_EQ(loaded.slots[126 + 9].state, RM4_STATE_FREE);
    EXPECT_EQ(loaded.slots[126].state, RM4_STATE_REMAPPED); // its neighbours survive
    EXPECT_THROW(load(dev), MetadataError);
}

TEST_F(MetadataIo, CommitRefusesAnInvalidModel) {
    Device dev = open_rw();
    Metadata m = commit_sample(dev);
    const uint64_t seq = m.max_seq;
    m.slots[126 * 2] = make_remapped(1, RM4_NONE, 0); // remapped without spare
    EXPECT_THROW(commit_table_block(dev, m, 2), MetadataError);
    EXPECT_EQ(m.max_seq, seq);
    auto a = testutil::read_block(dev, sb_.table_a_start + 2);
    EXPECT_TRUE(rm4_is_zero(a.data(), a.size())); // nothing written
    EXPECT_THROW(commit_table_block(dev, m, sb_.table_blocks), ParameterError);
}

TEST_F(MetadataIo, SetEntryValidates) {
    Metadata m = Metadata::empty(sb_);
    EXPECT_EQ(m.find_free_slot(), 0u);
    EXPECT_EQ(m.set_entry(130, make_remapped(1, 2, 3)), 1u);
    try {
        m.set_entry(5, make_remapped(1, sb_.pool_blocks, 3));
        FAIL();
    } catch (const MetadataError& e) {
        EXPECT_EQ(e.field(), "spare_block");
        EXPECT_NE(std::string(e.what()).find("slot 5"), std::string::npos) << e.what();
    }
    EXPECT_THROW(m.set_entry(m.capacity(), make_remapped(1, 2, 3)), ParameterError);
    Entry dirty_free{};
    dirty_free.main_block = 3;
    EXPECT_THROW(m.set_entry(6, dirty_free), MetadataError);
    for (uint64_t i = 0; i < 130; i++)
        m.set_entry(i, make_pending(i, RM4_NONE, 0));
    EXPECT_EQ(m.find_free_slot(), 131u);
    EXPECT_EQ(m.find_free_slot(200), 200u);
    EXPECT_EQ(m.entries_in_block(1)[4], make_remapped(1, 2, 3));
}

TEST_F(MetadataIo, StaleSuperblockBPicksTheNewerA) {
    Device dev = open_rw();
    Metadata m = commit_sample(dev);
    Superblock sb = m.sb;
    sb.seq = ++m.max_seq;
    sb.scan_cursor = 99;
    sb.blocknr = 0;
    std::vector<std::byte> block(RM4_BLOCK_SIZE);
    rm4_sb_encode(&sb, block.data());
    testutil::write_block(dev, 0, block);

    LoadReport report;
    const Metadata loaded = load(dev, &report);
    EXPECT_EQ(loaded.sb.scan_cursor, 99u);
    EXPECT_EQ(loaded.max_seq, sb.seq);
    EXPECT_EQ(report.superblock_copy, 0);
    ASSERT_EQ(report.findings.size(), 1u) << testutil::describe(report);
    EXPECT_EQ(report.findings[0].block, 1u);
    EXPECT_NE(report.findings[0].message.find("stale"), std::string::npos);
    EXPECT_TRUE(report.superblock.needs_rewrite);
}

TEST_F(MetadataIo, DamagedSuperblockAUsesB) {
    Device dev = open_rw();
    const Metadata m = commit_sample(dev);
    auto block = testutil::read_block(dev, 0);
    block[200] ^= std::byte{1};
    testutil::write_block(dev, 0, block);
    LoadReport report;
    const Metadata loaded = load(dev, &report);
    EXPECT_TRUE(testutil::same_metadata(m, loaded));
    EXPECT_EQ(report.superblock_copy, 1);
    EXPECT_EQ(loaded.sb.blocknr, 1u);
    ASSERT_EQ(report.findings.size(), 1u) << testutil::describe(report);
    EXPECT_EQ(report.findings[0].block, 0u);
    EXPECT_EQ(report.findings[0].status, RM4_E_CRC);
    // Rewriting the superblocks heals it.
    Metadata next = loaded;
    write_superblocks(dev, next);
    EXPECT_EQ(load_clean(dev).sb.seq, next.sb.seq);
}

TEST_F(MetadataIo, BothSuperblocksInvalidNamesBothReasons) {
    Device dev = open_rw();
    auto a = testutil::read_block(dev, 0);
    a[5] = std::byte{'x'};
    testutil::write_block(dev, 0, a);
    auto b = testutil::read_block(dev, 1);
    b[600] = std::byte{1};
    testutil::write_block(dev, 1, b);
    try {
        load(dev);
        FAIL();
    } catch (const LegacyV3Error&) {
        FAIL() << "not v3";
    } catch (const MetadataError& e) {
        const std::string what = e.what();
        EXPECT_EQ(e.status(), RM4_E_MAGIC);
        EXPECT_NE(what.find("block 0 (superblock A): field 'magic'"), std::string::npos) << what;
        EXPECT_NE(what.find("block 1 (superblock B): field 'padding'"), std::string::npos) << what;
    }
}

TEST_F(MetadataIo, LegacyV3IsReportedAsSuchEvenNextToAValidB) {
    Device dev = open_rw();
    std::vector<std::byte> v3(RM4_BLOCK_SIZE);
    std::memcpy(v3.data(), "DMREMAP3", 8);
    v3[8] = std::byte{0x12}; // some v3 header content
    testutil::write_block(dev, 0, v3);
    try {
        load(dev);
        FAIL();
    } catch (const LegacyV3Error& e) {
        EXPECT_EQ(e.status(), RM4_E_V3);
        EXPECT_NE(std::string(e.what()).find("remapctl migrate"), std::string::npos);
    }
    // A v3 spare (header at sector 0, the rest zero or v3 data) as well.
    TempDir dir;
    const auto path = dir.file("v3.img");
    testutil::make_image(path, 1 * MiB);
    {
        Device v = Device::open(path, {.write = true});
        testutil::write_block(v, 0, v3);
    }
    Device v = Device::open(path);
    EXPECT_THROW(load(v), LegacyV3Error);
}

TEST_F(MetadataIo, NewerVersionIsRefusedEvenWithAnOlderValidCopy) {
    Device dev = open_rw();
    Superblock newer = sb_;
    newer.version_major = 5;
    newer.seq = 7;
    std::vector<std::byte> block(RM4_BLOCK_SIZE);
    rm4_sb_encode(&newer, block.data());
    testutil::write_block(dev, 0, block);
    try {
        load(dev);
        FAIL();
    } catch (const MetadataError& e) {
        EXPECT_EQ(e.status(), RM4_E_VERSION);
        EXPECT_NE(std::string(e.what()).find("version_major' = 5"), std::string::npos) << e.what();
    }
}

TEST_F(MetadataIo, UnknownRoCompatMeansReadOnly) {
    Device dev = open_rw();
    Metadata m = commit_sample(dev);
    m.sb.ro_compat = 1u << 3;
    std::vector<std::byte> block(RM4_BLOCK_SIZE);
    for (uint64_t c : {0, 1}) {
        Superblock s = m.sb;
        s.blocknr = c;
        s.seq = m.max_seq + 1;
        rm4_sb_encode(&s, block.data());
        testutil::write_block(dev, c, block);
    }
    LoadReport report;
    Metadata loaded = load(dev, &report);
    EXPECT_TRUE(report.read_only);
    ASSERT_EQ(report.findings.size(), 1u) << testutil::describe(report);
    EXPECT_EQ(report.findings[0].severity, Severity::non_fatal);
    EXPECT_EQ(report.findings[0].field, "ro_compat");
    EXPECT_THROW(commit_table_block(dev, loaded, 0), MetadataError);
    EXPECT_THROW(write_superblocks(dev, loaded), MetadataError);
}

TEST_F(MetadataIo, LayoutBeyondTheDeviceIsRefused) {
    // The spare shrank (or this is another, smaller device with a copy of the metadata).
    const auto data = testutil::read_file(path_);
    const auto small = dir_.file("small.img");
    testutil::write_file(small, std::span(data).first(4 * MiB));
    Device dev = Device::open(small);
    try {
        load(dev);
        FAIL();
    } catch (const MetadataError& e) {
        EXPECT_EQ(e.status(), RM4_E_GEOMETRY);
        EXPECT_NE(std::string(e.what()).find("8192 sectors"), std::string::npos) << e.what();
    }
    // format() refuses such a layout too.
    Device w = Device::open(small, {.write = true});
    EXPECT_THROW(format(w, sb_), MetadataError);
}

TEST_F(MetadataIo, UnreadableCopiesAreFindingsNotFailures) {
    Device dev = open_rw();
    const Metadata m = commit_sample(dev);
    Device flaky = Device::open(path_);
    flaky.simulate_read_error((sb_.table_a_start + 1) * RM4_BLOCK_SIZE + 512, 512);
    flaky.simulate_read_error(RM4_BLOCK_SIZE, 512); // superblock B
    LoadReport report;
    const Metadata loaded = load(flaky, &report);
    EXPECT_TRUE(testutil::same_metadata(m, loaded));
    EXPECT_EQ(report.findings.size(), 2u) << testutil::describe(report);
    EXPECT_TRUE(report.superblock.b.read_error);
    EXPECT_TRUE(report.table[1].a.read_error);
    EXPECT_EQ(report.table[1].source, BlockSource::copy_b);
    EXPECT_FALSE(report.table[0].a.read_error); // the rest of the chunk was read
    EXPECT_FALSE(report.table[2].a.read_error);
    EXPECT_FALSE(report.has_fatal());
    const auto f = report.findings_for(sb_.table_a_start + 1);
    ASSERT_EQ(f.size(), 1u);
    EXPECT_NE(f[0]->message.find("Input/output error"), std::string::npos) << f[0]->message;
}

TEST_F(MetadataIo, DirectIoEndToEnd) {
    Device dev = Device::open(path_, {.write = true, .exclusive = true, .direct = true});
    format(dev, sb_);
    Metadata m = Metadata::empty(sb_);
    m.set_entry(400, make_remapped(12, 13, 14));
    commit_table_block(dev, m, Metadata::block_of_slot(400));
    write_superblocks(dev, m);
    EXPECT_TRUE(testutil::same_metadata(m, load_clean(dev)));
}

// Inputs that are not v4 metadata: typed errors, never a crash.
TEST(MetadataGarbage, RandomEmptyAndTinyImages) {
    TempDir dir;
    auto expect_metadata_error = [&](const std::string& name, std::vector<std::byte> data,
                                     rm4_status status) {
        SCOPED_TRACE(name);
        const auto path = dir.file(name);
        testutil::write_file(path, data);
        Device dev = Device::open(path);
        try {
            load(dev);
            FAIL() << "loaded";
        } catch (const MetadataError& e) {
            EXPECT_EQ(e.status(), status) << e.what();
        }
    };
    std::mt19937 rng(1234);
    std::vector<std::byte> random(2 * MiB);
    for (auto& b : random)
        b = static_cast<std::byte>(rng());
    expect_metadata_error("random", random, RM4_E_MAGIC);
    expect_metadata_error("zeroes", std::vector<std::byte>(64 * 1024), RM4_E_ZERO);
    // Random after a valid magic: the CRC catches it.
    std::memcpy(random.data(), "DMREMAP4", 8);
    std::memcpy(random.data() + 4096, "DMREMAP4", 8);
    expect_metadata_error("magic then random", random, RM4_E_CRC);

    for (std::size_t size : {0u, 1u, 4096u, 8191u}) {
        const auto path = dir.file(fmt::format("tiny-{}", size));
        testutil::write_file(path, std::vector<std::byte>(size, std::byte{0x5a}));
        Device dev = Device::open(path);
        try {
            load(dev);
            FAIL() << size << " bytes loaded";
        } catch (const DeviceError& e) {
            EXPECT_EQ(e.kind(), DeviceErrorKind::too_small) << e.what();
        }
    }
}

// Superblocks whose layout is valid on its own but points outside the device.
TEST(MetadataGarbage, ValidSuperblockWithAHugeLayout) {
    TempDir dir;
    const auto path = dir.file("img");
    testutil::make_image(path, 1 * MiB);
    Superblock sb = plan_layout(testutil::test_params(64ull << 30));
    std::vector<std::byte> block(RM4_BLOCK_SIZE);
    {
        Device dev = Device::open(path, {.write = true});
        for (uint64_t c : {0, 1}) {
            sb.blocknr = c;
            rm4_sb_encode(&sb, block.data());
            testutil::write_block(dev, c, block);
        }
    }
    Device dev = Device::open(path);
    EXPECT_THROW(load(dev), MetadataError);
}

} // namespace

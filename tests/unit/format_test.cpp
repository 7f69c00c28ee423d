// SPDX-License-Identifier: GPL-2.0-only OR MIT
//
// The v4 format itself: golden byte layouts, encode/decode round trips, and
// every validator rejection with its status and field.
#include "helpers.hpp"
#include "remapmeta/errors.hpp"

#include <array>
#include <cstdlib>
#include <fstream>
#include <sstream>

#ifndef REMAPMETA_GOLDEN_DIR
#error "REMAPMETA_GOLDEN_DIR must point at tests/unit/golden"
#endif

namespace {

using namespace remapmeta;
using testutil::get_le;
using testutil::put_le;
using testutil::reference_crc32c;
using testutil::restamp_crc;

using Block = std::array<std::byte, RM4_BLOCK_SIZE>;

// ---- Fixtures with distinctive values ----------------------------------------

// Every field a different, recognisable value, so a swapped or shifted field
// shows in the golden dump. Valid for rm4_sb_decode at block 1.
Superblock golden_superblock() {
    Superblock sb{};
    sb.blocknr = 1;
    sb.seq = 0x0123456789abcdefull;
    const Uuid u = testutil::test_uuid();
    std::copy(u.begin(), u.end(), sb.uuid);
    sb.version_major = RM4_VERSION_MAJOR;
    sb.version_minor = 3;
    sb.incompat = 0;
    sb.ro_compat = 0x40000000; // unknown: allowed, read-only
    sb.compat = 0x00020001;
    sb.flags = RM4_SB_NEEDS_CHECK;
    sb.unit_bytes = 8192;
    sb.spare_sectors = 0x0000001122334455ull;
    sb.pool_start = 0x2000;
    sb.pool_blocks = 0x0abcdef0;
    sb.table_a_start = 2;
    sb.table_b_start = 0x3e9;
    sb.table_blocks = 0x3e7;
    sb.format_time = testutil::test_time;
    sb.main_sectors = 0x00000fedcba98760ull;
    sb.main_logical_block_size = 512;
    sb.main_physical_block_size = 4096;
    std::strcpy(sb.main_identity, "WWN-0x5000c500a1b2c3d4 SERIAL=ZA1B2C3D");
    sb.scan_cursor = 0x77665544;
    sb.scan_pass = 3;
    std::strcpy(sb.creator, "golden-test 1.0");
    return sb;
}

constexpr uint64_t golden_table_k = 3;

// Table B block 3 of golden_superblock()'s layout, entries in every state.
Block golden_table_block(const Superblock& sb) {
    Block b{};
    const Entry e[] = {
        make_remapped(0x1000, 0x10, 1700000100, 2),
        make_pending(0x2000, RM4_NONE, 1700000200, 5),
        make_pending(0x2001, 0x11, 1700000300, 1, RM4_ENTRY_PROACTIVE),
        make_bad_spare(0x12, 1700000400, 7),
        make_remapped(0x3000, 0x13, 1700000500, 0, RM4_ENTRY_PROACTIVE | RM4_ENTRY_MIGRATED),
    };
    for (unsigned i = 0; i < std::size(e); i++)
        rm4_entry_encode(b.data(), i, &e[i]);
    const Entry last =
        make_remapped(0x0102030405ull, 0x0abcdeef, 1700000600, 0xdeadbeef, RM4_ENTRY_MIGRATED);
    rm4_entry_encode(b.data(), RM4_ENTRIES_PER_BLOCK - 1, &last);
    rm4_table_prepare(b.data(), sb.table_b_start + golden_table_k,
                      golden_table_k * RM4_ENTRIES_PER_BLOCK, 0x0fedcba987654321ull, sb.uuid);
    return b;
}

// ---- Hex dumps -------------------------------------------------------------------

std::string hex_dump(std::span<const std::byte> data) {
    std::string out;
    for (std::size_t off = 0; off < data.size(); off += 16) {
        out += fmt::format("{:08x}:", off);
        for (std::size_t i = off; i < off + 16 && i < data.size(); i++)
            out += fmt::format(" {:02x}", static_cast<unsigned>(data[i]));
        out += '\n';
    }
    return out;
}

std::vector<std::byte> parse_hex_dump(const std::string& text) {
    std::vector<std::byte> out;
    std::istringstream in(text);
    std::string line;
    while (std::getline(in, line)) {
        const auto colon = line.find(':');
        if (line.empty() || line[0] == '#' || colon == std::string::npos)
            continue;
        if (std::stoul(line.substr(0, colon), nullptr, 16) != out.size())
            throw std::runtime_error("hex dump offset out of sequence: " + line);
        std::istringstream bytes(line.substr(colon + 1));
        std::string tok;
        while (bytes >> tok)
            out.push_back(static_cast<std::byte>(std::stoul(tok, nullptr, 16)));
    }
    return out;
}

// Compares `actual` with the committed golden file, or rewrites the file
// when REMAPMETA_UPDATE_GOLDEN=1 (review the diff before committing it).
void check_golden(const std::string& name, std::span<const std::byte> actual) {
    const std::string path = std::string(REMAPMETA_GOLDEN_DIR) + "/" + name;
    const char* update = std::getenv("REMAPMETA_UPDATE_GOLDEN");
    if (update && std::string(update) == "1") {
        std::ofstream(path) << "# " << name << ": golden bytes of tests/unit/format_test.cpp's "
                            << "fixture; regenerate with REMAPMETA_UPDATE_GOLDEN=1\n"
                            << hex_dump(actual);
        GTEST_SKIP() << "rewrote " << path;
    }
    std::ifstream in(path);
    ASSERT_TRUE(in) << "missing golden file " << path
                    << " (generate it with REMAPMETA_UPDATE_GOLDEN=1)";
    std::stringstream text;
    text << in.rdbuf();
    const std::vector<std::byte> expected = parse_hex_dump(text.str());
    ASSERT_EQ(expected.size(), actual.size()) << name;
    for (std::size_t i = 0; i < expected.size(); i++)
        ASSERT_EQ(expected[i], actual[i]) << name << ": first difference at byte " << i;
}

// ---- Goldens ---------------------------------------------------------------------

TEST(Golden, SuperblockBytes) {
    Block b{};
    const Superblock sb = golden_superblock();
    rm4_sb_encode(&sb, b.data());
    check_golden("superblock.hex", b);
}

TEST(Golden, TableBlockBytes) {
    const Block b = golden_table_block(golden_superblock());
    check_golden("table_block.hex", b);
}

// The goldens are not self-referential: the fields sit where the spec says.
TEST(Golden, SuperblockFieldsAtSpecifiedOffsets) {
    Block b{};
    const Superblock sb = golden_superblock();
    rm4_sb_encode(&sb, b.data());
    EXPECT_EQ(std::memcmp(b.data(), "DMREMAP4", 8), 0);
    EXPECT_EQ(get_le(b, 12, 2), RM4_TYPE_SUPERBLOCK);
    EXPECT_EQ(get_le(b, 14, 2), 0u);
    EXPECT_EQ(get_le(b, 16, 8), 1u);
    EXPECT_EQ(get_le(b, 24, 8), 0x0123456789abcdefull);
    EXPECT_EQ(std::memcmp(b.data() + 32, testutil::test_uuid().data(), 16), 0);
    EXPECT_EQ(get_le(b, 48, 4), 4u);
    EXPECT_EQ(get_le(b, 52, 4), 3u);
    EXPECT_EQ(get_le(b, 60, 4), 0x40000000u);
    EXPECT_EQ(get_le(b, 64, 4), 0x00020001u);
    EXPECT_EQ(get_le(b, 68, 4), RM4_SB_NEEDS_CHECK);
    EXPECT_EQ(get_le(b, 72, 4), 8192u);
    EXPECT_EQ(static_cast<uint8_t>(b[72]), 0x00);
    EXPECT_EQ(static_cast<uint8_t>(b[73]), 0x20); // little-endian 8192
    EXPECT_EQ(get_le(b, 80, 8), 0x0000001122334455ull);
    EXPECT_EQ(get_le(b, 88, 8), 0x2000u);
    EXPECT_EQ(get_le(b, 96, 8), 0x0abcdef0u);
    EXPECT_EQ(get_le(b, 104, 8), 2u);
    EXPECT_EQ(get_le(b, 112, 8), 0x3e9u);
    EXPECT_EQ(get_le(b, 120, 8), 0x3e7u);
    EXPECT_EQ(get_le(b, 128, 8), testutil::test_time);
    EXPECT_EQ(get_le(b, 136, 8), 0x00000fedcba98760ull);
    EXPECT_EQ(get_le(b, 144, 4), 512u);
    EXPECT_EQ(get_le(b, 148, 4), 4096u);
    EXPECT_EQ(std::string(reinterpret_cast<const char*>(b.data()) + 152),
              "WWN-0x5000c500a1b2c3d4 SERIAL=ZA1B2C3D");
    EXPECT_EQ(get_le(b, 280, 8), 0x77665544u);
    EXPECT_EQ(get_le(b, 288, 8), 3u);
    EXPECT_EQ(std::string(reinterpret_cast<const char*>(b.data()) + 296), "golden-test 1.0");
    // The CRC covers the first 512 bytes with its own field as zero.
    Block copy = b;
    put_le(copy, 8, 4, 0);
    EXPECT_EQ(get_le(b, 8, 4), reference_crc32c(std::span(copy).first(512)));
    // Reserved tail of the content and the whole padding are zero.
    for (std::size_t i = 312; i < RM4_BLOCK_SIZE; i++)
        ASSERT_EQ(b[i], std::byte{0}) << "byte " << i;
}

TEST(Golden, TableFieldsAtSpecifiedOffsets) {
    const Superblock sb = golden_superblock();
    const Block b = golden_table_block(sb);
    EXPECT_EQ(std::memcmp(b.data(), "DMREMAP4", 8), 0);
    EXPECT_EQ(get_le(b, 12, 2), RM4_TYPE_TABLE);
    EXPECT_EQ(get_le(b, 16, 8), sb.table_b_start + golden_table_k);
    EXPECT_EQ(get_le(b, 24, 8), 0x0fedcba987654321ull);
    EXPECT_EQ(get_le(b, 48, 8), golden_table_k * 126);
    EXPECT_EQ(get_le(b, 56, 4), 6u); // used
    EXPECT_EQ(get_le(b, 60, 4), 0u);
    // Entry 0 at byte 64: remapped 0x1000 -> 0x10.
    EXPECT_EQ(get_le(b, 64 + 0, 8), 0x1000u);
    EXPECT_EQ(get_le(b, 64 + 8, 8), 0x10u);
    EXPECT_EQ(get_le(b, 64 + 16, 8), 1700000100u);
    EXPECT_EQ(get_le(b, 64 + 24, 4), 2u);
    EXPECT_EQ(get_le(b, 64 + 28, 1), RM4_STATE_REMAPPED);
    // Entry 1: pending, no spare: all-ones.
    EXPECT_EQ(get_le(b, 96 + 8, 8), RM4_NONE);
    EXPECT_EQ(get_le(b, 96 + 28, 1), RM4_STATE_PENDING);
    // Entry 3: bad spare, no main.
    EXPECT_EQ(get_le(b, 64 + 3 * 32, 8), RM4_NONE);
    EXPECT_EQ(get_le(b, 64 + 3 * 32 + 28, 1), RM4_STATE_BAD_SPARE);
    // Entry 4: both flags.
    EXPECT_EQ(get_le(b, 64 + 4 * 32 + 29, 1), RM4_ENTRY_PROACTIVE | RM4_ENTRY_MIGRATED);
    // Entry 5 is free: 32 zero bytes.
    for (std::size_t i = 64 + 5 * 32; i < 64 + 6 * 32; i++)
        EXPECT_EQ(b[i], std::byte{0});
    // The last entry ends the block.
    EXPECT_EQ(get_le(b, 4064, 8), 0x0102030405ull);
    EXPECT_EQ(get_le(b, 4064 + 24, 4), 0xdeadbeefu);
    EXPECT_EQ(get_le(b, 4095 - 3, 1), RM4_STATE_REMAPPED);
    // CRC over all 4096 bytes.
    Block copy = b;
    put_le(copy, 8, 4, 0);
    EXPECT_EQ(get_le(b, 8, 4), reference_crc32c(copy));
}

// ---- Round trips -----------------------------------------------------------------

TEST(SuperblockCodec, RoundTripsEveryField) {
    const Superblock sb = golden_superblock();
    Block b{};
    rm4_sb_encode(&sb, b.data());
    Superblock out{};
    rm4_problem prob{};
    ASSERT_EQ(rm4_sb_decode(b.data(), 1, &out, &prob), RM4_OK) << prob.field;
    EXPECT_TRUE(superblock_differences(sb, out, true).empty())
        << fmt::format("{}", fmt::join(superblock_differences(sb, out, true), ", "));
}

TEST(SuperblockCodec, RoundTripsFullLengthStrings) {
    Superblock sb = golden_superblock();
    std::memset(sb.main_identity, 'x', RM4_IDENTITY_LEN);
    sb.main_identity[RM4_IDENTITY_LEN] = '\0';
    std::memset(sb.creator, '~', RM4_CREATOR_LEN);
    sb.creator[RM4_CREATOR_LEN] = '\0';
    Block b{};
    rm4_sb_encode(&sb, b.data());
    Superblock out{};
    ASSERT_EQ(rm4_sb_decode(b.data(), 1, &out, nullptr), RM4_OK);
    EXPECT_EQ(std::string(out.main_identity), std::string(RM4_IDENTITY_LEN, 'x'));
    EXPECT_EQ(std::string(out.creator), std::string(RM4_CREATOR_LEN, '~'));
}

TEST(EntryCodec, RoundTripsEveryStateAndFlag) {
    const Superblock sb = golden_superblock();
    const uint8_t flag_sets[] = {0, RM4_ENTRY_PROACTIVE, RM4_ENTRY_MIGRATED,
                                 RM4_ENTRY_PROACTIVE | RM4_ENTRY_MIGRATED};
    std::vector<Entry> entries{Entry{}};
    for (uint8_t flags : flag_sets) {
        entries.push_back(make_remapped(7, 9, 1700000000, 3, flags));
        entries.push_back(make_pending(8, RM4_NONE, 1700000001, 1, flags));
        entries.push_back(make_pending(8, sb.pool_blocks - 1, 1700000002, 2, flags));
        Entry bad = make_bad_spare(0, 1700000003, 4);
        bad.flags = flags;
        entries.push_back(bad);
    }
    entries.push_back(
        make_remapped(rm4_main_units(&sb) - 1, sb.pool_blocks - 1, UINT64_MAX, UINT32_MAX));
    ASSERT_LE(entries.size(), RM4_ENTRIES_PER_BLOCK);

    Block b{};
    for (unsigned i = 0; i < entries.size(); i++)
        rm4_entry_encode(b.data(), i, &entries[i]);
    rm4_table_prepare(b.data(), 7, 5 * 126, 99, sb.uuid);
    rm4_problem prob{};
    ASSERT_EQ(rm4_table_check(b.data(), 7, 5 * 126, sb.uuid, &prob), RM4_OK) << prob.field;
    EXPECT_EQ(get_le(b, 56, 4), entries.size() - 1); // used: all but the free one
    EXPECT_EQ(rm4_block_seq(b.data()), 99u);
    for (unsigned i = 0; i < RM4_ENTRIES_PER_BLOCK; i++) {
        Entry out{};
        ASSERT_EQ(rm4_entry_decode(b.data(), i, &sb, &out, &prob), RM4_OK)
            << "entry " << i << ": " << prob.field;
        const Entry expected = i < entries.size() ? entries[i] : Entry{};
        EXPECT_EQ(out, expected) << "entry " << i;
    }
}

TEST(EntryCodec, FreeEntryEncodesToZeroes) {
    Block b{};
    std::memset(b.data(), 0xaa, b.size());
    Entry e{};
    rm4_entry_encode(b.data(), 2, &e);
    for (std::size_t i = 64 + 2 * 32; i < 64 + 3 * 32; i++)
        EXPECT_EQ(b[i], std::byte{0});
}

// ---- Superblock rejections -----------------------------------------------------------

struct SbCase {
    const char* name;
    void (*edit)(Superblock&, Block&); // called after encoding; may edit either
    rm4_status status;
    const char* field;
};

Block encoded(const Superblock& sb) {
    Block b{};
    rm4_sb_encode(&sb, b.data());
    return b;
}

void expect_sb_rejected(const SbCase& c) {
    SCOPED_TRACE(c.name);
    Superblock sb = golden_superblock();
    sb.blocknr = 0;
    Block b = encoded(sb);
    c.edit(sb, b);
    Superblock out{};
    rm4_problem prob{};
    EXPECT_EQ(rm4_sb_decode(b.data(), 0, &out, &prob), c.status);
    EXPECT_STREQ(prob.field, c.field);
}

TEST(SuperblockCodec, RejectsEachInvalidCase) {
    const SbCase cases[] = {
        {"all zero", [](Superblock&, Block& b) { b.fill(std::byte{0}); }, RM4_E_ZERO, "block"},
        {"bad magic", [](Superblock&, Block& b) { b[3] = std::byte{'X'}; }, RM4_E_MAGIC, "magic"},
        {"v3 magic", [](Superblock&, Block& b) { std::memcpy(b.data(), "DMREMAP3", 8); }, RM4_E_V3,
         "magic"},
        {"crc", [](Superblock&, Block& b) { b[100] ^= std::byte{1}; }, RM4_E_CRC, "crc"},
        {"crc field", [](Superblock&, Block& b) { b[9] ^= std::byte{0x80}; }, RM4_E_CRC, "crc"},
        {"type",
         [](Superblock&, Block& b) {
             put_le(b, 12, 2, RM4_TYPE_TABLE);
             restamp_crc(b, 512);
         },
         RM4_E_TYPE, "type"},
        {"blocknr",
         [](Superblock& sb, Block& b) {
             sb.blocknr = 1;
             b = encoded(sb);
         },
         RM4_E_BLOCKNR, "blocknr"},
        {"newer version_major",
         [](Superblock& sb, Block& b) {
             sb.version_major = 5;
             b = encoded(sb);
         },
         RM4_E_VERSION, "version_major"},
        {"older version_major",
         [](Superblock& sb, Block& b) {
             sb.version_major = 3;
             b = encoded(sb);
         },
         RM4_E_VERSION, "version_major"},
        {"unknown incompat bit",
         [](Superblock& sb, Block& b) {
             sb.incompat = 1u << 7;
             b = encoded(sb);
         },
         RM4_E_INCOMPAT, "incompat"},
        {"zero uuid",
         [](Superblock& sb, Block& b) {
             std::memset(sb.uuid, 0, sizeof(sb.uuid));
             b = encoded(sb);
         },
         RM4_E_FIELD, "uuid"},
        {"unknown flag",
         [](Superblock& sb, Block& b) {
             sb.flags = 1u << 5;
             b = encoded(sb);
         },
         RM4_E_FIELD, "flags"},
        {"unit 3000",
         [](Superblock& sb, Block& b) {
             sb.unit_bytes = 3000;
             b = encoded(sb);
         },
         RM4_E_FIELD, "unit_bytes"},
        {"unit 256",
         [](Superblock& sb, Block& b) {
             sb.unit_bytes = 256;
             b = encoded(sb);
         },
         RM4_E_FIELD, "unit_bytes"},
        {"unit 128 KiB",
         [](Superblock& sb, Block& b) {
             sb.unit_bytes = 131072;
             b = encoded(sb);
         },
         RM4_E_FIELD, "unit_bytes"},
        {"unit below main logical block size",
         [](Superblock& sb, Block& b) {
             sb.unit_bytes = 1024;
             sb.main_logical_block_size = 4096;
             b = encoded(sb);
         },
         RM4_E_FIELD, "unit_bytes"},
        {"zero main_sectors",
         [](Superblock& sb, Block& b) {
             sb.main_sectors = 0;
             b = encoded(sb);
         },
         RM4_E_FIELD, "main_sectors"},
        {"main logical block size 1000",
         [](Superblock& sb, Block& b) {
             sb.main_logical_block_size = 1000;
             b = encoded(sb);
         },
         RM4_E_FIELD, "main_logical_block_size"},
        {"main physical below logical",
         [](Superblock& sb, Block& b) {
             sb.main_logical_block_size = 4096;
             sb.main_physical_block_size = 512;
             b = encoded(sb);
         },
         RM4_E_FIELD, "main_physical_block_size"},
        {"identity with a control character",
         [](Superblock& sb, Block& b) {
             sb.main_identity[3] = '\n';
             b = encoded(sb);
         },
         RM4_E_FIELD, "main_identity"},
        {"identity with bytes after its NUL",
         [](Superblock&, Block& b) {
             b[152 + 100] = std::byte{'z'};
             restamp_crc(b, 512);
         },
         RM4_E_FIELD, "main_identity"},
        {"creator not ASCII",
         [](Superblock& sb, Block& b) {
             sb.creator[0] = static_cast<char>(0xc3);
             b = encoded(sb);
         },
         RM4_E_FIELD, "creator"},
        {"reserved0",
         [](Superblock&, Block& b) {
             b[14] = std::byte{1};
             restamp_crc(b, 512);
         },
         RM4_E_FIELD, "reserved"},
        {"reserved1",
         [](Superblock&, Block& b) {
             b[76] = std::byte{1};
             restamp_crc(b, 512);
         },
         RM4_E_FIELD, "reserved"},
        {"reserved2",
         [](Superblock&, Block& b) {
             b[511] = std::byte{1};
             restamp_crc(b, 512);
         },
         RM4_E_FIELD, "reserved"},
        {"non-zero padding after byte 512", [](Superblock&, Block& b) { b[512] = std::byte{1}; },
         RM4_E_FIELD, "padding"},
        {"non-zero last byte", [](Superblock&, Block& b) { b[4095] = std::byte{0x80}; },
         RM4_E_FIELD, "padding"},
    };
    for (const auto& c : cases)
        expect_sb_rejected(c);
}

TEST(SuperblockCodec, AcceptsUnknownRoCompatAndCompatBits) {
    Superblock sb = golden_superblock();
    sb.blocknr = 0;
    sb.ro_compat = 0x80000001u;
    sb.compat = 0xffffffffu;
    Block b = encoded(sb);
    Superblock out{};
    EXPECT_EQ(rm4_sb_decode(b.data(), 0, &out, nullptr), RM4_OK);
    EXPECT_EQ(out.ro_compat, 0x80000001u);
}

// ---- Table and entry rejections ----------------------------------------------------------

TEST(TableCodec, PrepareThenCheckAcceptsAndLocatesTheBlock) {
    const Superblock sb = golden_superblock();
    Block b = golden_table_block(sb);
    const uint64_t blocknr = sb.table_b_start + golden_table_k;
    const uint64_t first = golden_table_k * 126;
    rm4_problem prob{};
    EXPECT_EQ(rm4_table_check(b.data(), blocknr, first, sb.uuid, &prob), RM4_OK);
    EXPECT_EQ(rm4_table_check(b.data(), blocknr + 1, first, sb.uuid, &prob), RM4_E_BLOCKNR);
    EXPECT_STREQ(prob.field, "blocknr");
    EXPECT_EQ(prob.value, blocknr);
    EXPECT_EQ(rm4_table_check(b.data(), blocknr, first + 126, sb.uuid, &prob), RM4_E_FIELD);
    EXPECT_STREQ(prob.field, "first_slot");
    Uuid other = testutil::test_uuid();
    other[15] ^= 1;
    EXPECT_EQ(rm4_table_check(b.data(), blocknr, first, other.data(), &prob), RM4_E_UUID);
    EXPECT_STREQ(prob.field, "uuid");
    // A superblock is not a table block, even with a valid CRC of its own.
    Block s = encoded(sb);
    EXPECT_EQ(rm4_table_check(s.data(), 1, 0, sb.uuid, &prob), RM4_E_CRC);
    restamp_crc(s, RM4_BLOCK_SIZE);
    EXPECT_EQ(rm4_table_check(s.data(), 1, 0, sb.uuid, &prob), RM4_E_TYPE);
    EXPECT_STREQ(prob.field, "type");
}

TEST(TableCodec, RejectsHeaderDamage) {
    const Superblock sb = golden_superblock();
    const uint64_t blocknr = sb.table_b_start + golden_table_k;
    const uint64_t first = golden_table_k * 126;
    struct Case {
        const char* name;
        void (*edit)(Block&);
        rm4_status status;
        const char* field;
    } cases[] = {
        {"zero", [](Block& b) { b.fill(std::byte{0}); }, RM4_E_ZERO, "block"},
        {"magic", [](Block& b) { b[0] = std::byte{'d'}; }, RM4_E_MAGIC, "magic"},
        {"crc", [](Block& b) { b[4000] ^= std::byte{4}; }, RM4_E_CRC, "crc"},
        {"used count",
         [](Block& b) {
             put_le(b, 56, 4, 5);
             restamp_crc(b, RM4_BLOCK_SIZE);
         },
         RM4_E_FIELD, "used"},
        {"reserved",
         [](Block& b) {
             b[60] = std::byte{1};
             restamp_crc(b, RM4_BLOCK_SIZE);
         },
         RM4_E_FIELD, "reserved"},
        {"reserved0",
         [](Block& b) {
             b[15] = std::byte{1};
             restamp_crc(b, RM4_BLOCK_SIZE);
         },
         RM4_E_FIELD, "reserved"},
    };
    for (const auto& c : cases) {
        SCOPED_TRACE(c.name);
        Block b = golden_table_block(sb);
        c.edit(b);
        rm4_problem prob{};
        EXPECT_EQ(rm4_table_check(b.data(), blocknr, first, sb.uuid, &prob), c.status);
        EXPECT_STREQ(prob.field, c.field);
    }
}

TEST(EntryCodec, RejectsEachInvalidEntry) {
    Superblock sb = golden_superblock();
    sb.main_sectors = 1000 * (sb.unit_bytes / 512); // exactly 1000 units
    sb.pool_blocks = 50;
    ASSERT_EQ(rm4_main_units(&sb), 1000u);
    struct Case {
        const char* name;
        Entry e;
        rm4_status status;
        const char* field;
    };
    Entry free_nonzero{};
    free_nonzero.error_count = 1;
    Entry free_time{};
    free_time.event_time = 5;
    Entry bad_state = make_remapped(1, 1, 0);
    bad_state.state = 4;
    Entry bad_flags = make_remapped(1, 1, 0);
    bad_flags.flags = 0x04;
    Entry bad_spare_with_main = make_bad_spare(1, 0);
    bad_spare_with_main.main_block = 5;
    const Case cases[] = {
        {"free entry with an error count", free_nonzero, RM4_E_FIELD, "free_entry"},
        {"free entry with a time", free_time, RM4_E_FIELD, "free_entry"},
        {"unknown state", bad_state, RM4_E_FIELD, "state"},
        {"unknown flag", bad_flags, RM4_E_FIELD, "flags"},
        {"remapped without spare", make_remapped(1, RM4_NONE, 0), RM4_E_FIELD, "spare_block"},
        {"remapped without main", make_remapped(RM4_NONE, 1, 0), RM4_E_FIELD, "main_block"},
        {"pending without main", make_pending(RM4_NONE, RM4_NONE, 0), RM4_E_FIELD, "main_block"},
        {"bad spare with a main", bad_spare_with_main, RM4_E_FIELD, "main_block"},
        {"bad spare without spare", make_bad_spare(RM4_NONE, 0), RM4_E_FIELD, "spare_block"},
        {"main beyond the device", make_remapped(1000, 1, 0), RM4_E_FIELD, "main_block"},
        {"main far beyond", make_pending(RM4_NONE - 1, RM4_NONE, 0), RM4_E_FIELD, "main_block"},
        {"spare beyond the pool", make_remapped(1, 50, 0), RM4_E_FIELD, "spare_block"},
        {"pending spare beyond the pool", make_pending(1, 51, 0), RM4_E_FIELD, "spare_block"},
    };
    for (const auto& c : cases) {
        SCOPED_TRACE(c.name);
        Block b{};
        // Raw encoding: rm4_entry_encode would zero a FREE entry.
        auto* de = reinterpret_cast<rm4_disk_entry*>(b.data() + 64 + 32 * 9);
        de->main_block = c.e.main_block;
        de->spare_block = c.e.spare_block;
        de->event_time = c.e.event_time;
        de->error_count = c.e.error_count;
        de->state = c.e.state;
        de->flags = c.e.flags;
        Entry out{};
        rm4_problem prob{};
        EXPECT_EQ(rm4_entry_decode(b.data(), 9, &sb, &out, &prob), c.status);
        EXPECT_STREQ(prob.field, c.field);
        // The library's validator agrees (it runs the same C code).
        EXPECT_EQ(validate_entry(sb, c.e), c.status);
    }
    // The reserved bytes of an entry.
    Block b{};
    const Entry ok = make_remapped(1, 1, 0);
    rm4_entry_encode(b.data(), 0, &ok);
    b[64 + 30] = std::byte{1};
    Entry out{};
    rm4_problem prob{};
    EXPECT_EQ(rm4_entry_decode(b.data(), 0, &sb, &out, &prob), RM4_E_FIELD);
    EXPECT_STREQ(prob.field, "reserved");
}

TEST(EntryCodec, BoundaryEntriesAreAccepted) {
    Superblock sb = golden_superblock();
    sb.main_sectors = 1000 * (sb.unit_bytes / 512) - 1; // last unit partial: still 1000
    sb.pool_blocks = 50;
    EXPECT_EQ(validate_entry(sb, make_remapped(999, 49, 0)), RM4_OK);
    EXPECT_EQ(validate_entry(sb, make_pending(999, RM4_NONE, 0)), RM4_OK);
    EXPECT_EQ(validate_entry(sb, make_bad_spare(49, 0)), RM4_OK);
    EXPECT_EQ(validate_entry(sb, Entry{}), RM4_OK);
    Entry dirty_free{};
    dirty_free.error_count = 3;
    rm4_problem prob{};
    EXPECT_EQ(validate_entry(sb, dirty_free, &prob), RM4_E_FIELD);
    EXPECT_STREQ(prob.field, "free_entry");
}

TEST(PickCopy, HigherValidSeqWinsAndATakesTies) {
    EXPECT_EQ(rm4_pick_copy(RM4_OK, 5, RM4_OK, 5), 0);
    EXPECT_EQ(rm4_pick_copy(RM4_OK, 6, RM4_OK, 5), 0);
    EXPECT_EQ(rm4_pick_copy(RM4_OK, 5, RM4_OK, 6), 1);
    EXPECT_EQ(rm4_pick_copy(RM4_E_CRC, 9, RM4_OK, 1), 1);
    EXPECT_EQ(rm4_pick_copy(RM4_OK, 1, RM4_E_ZERO, 0), 0);
    EXPECT_EQ(rm4_pick_copy(RM4_E_ZERO, 0, RM4_E_ZERO, 0), -1);
    EXPECT_EQ(rm4_pick_copy(RM4_E_CRC, 0, RM4_E_MAGIC, 0), -1);
}

// ---- C++ helpers -------------------------------------------------------------------

TEST(FormatHelpers, UuidRoundTrip) {
    const Uuid u = testutil::test_uuid();
    EXPECT_EQ(uuid_to_string(u.data()), "d04e5a11-7c2b-4f93-a608-1de237c590fa");
    EXPECT_EQ(parse_uuid("d04e5a11-7c2b-4f93-a608-1de237c590fa"), u);
    EXPECT_EQ(parse_uuid("D04E5A11-7C2B-4F93-A608-1DE237C590FA"), u);
    for (const char* bad :
         {"", "d04e5a11", "d04e5a11-7c2b-4f93-a608-1de237c590f",
          "d04e5a11-7c2b-4f93-a608-1de237c590fab", "d04e5a117c2b-4f93-a608-1de237c590fa0",
          "g04e5a11-7c2b-4f93-a608-1de237c590fa"})
        EXPECT_THROW(parse_uuid(bad), ParameterError) << bad;
}

TEST(FormatHelpers, GeneratedUuidsAreVersion4AndDistinct) {
    const Uuid a = generate_uuid();
    const Uuid b = generate_uuid();
    EXPECT_NE(a, b);
    for (const Uuid& u : {a, b}) {
        EXPECT_EQ(u[6] >> 4, 4);
        EXPECT_EQ(u[8] & 0xc0, 0x80);
        EXPECT_EQ(parse_uuid(uuid_to_string(u.data())), u);
    }
}

TEST(FormatHelpers, StateNames) {
    EXPECT_EQ(state_name(RM4_STATE_FREE), "free");
    EXPECT_EQ(state_name(RM4_STATE_REMAPPED), "remapped");
    EXPECT_EQ(state_name(RM4_STATE_PENDING), "pending");
    EXPECT_EQ(state_name(RM4_STATE_BAD_SPARE), "bad-spare");
    EXPECT_EQ(state_name(4), "unknown");
}

TEST(FormatHelpers, BlockRoles) {
    Superblock sb{};
    sb.unit_bytes = 4096;
    sb.table_a_start = 2;
    sb.table_b_start = 7;
    sb.table_blocks = 5;
    sb.pool_start = 12 * 8;
    sb.pool_blocks = 10;
    EXPECT_EQ(block_role(sb, 0), "superblock A");
    EXPECT_EQ(block_role(sb, 1), "superblock B");
    EXPECT_EQ(block_role(sb, 2), "table A block 0");
    EXPECT_EQ(block_role(sb, 5), "table A block 3");
    EXPECT_EQ(block_role(sb, 6), "table A block 4");
    EXPECT_EQ(block_role(sb, 7), "table B block 0");
    EXPECT_EQ(block_role(sb, 11), "table B block 4");
    EXPECT_EQ(block_role(sb, 12), "pool");
    EXPECT_EQ(block_role(sb, 21), "pool");
    EXPECT_EQ(block_role(sb, 22), "unused");
}

TEST(Errors, MessagesSayWhatAndWhere) {
    MetadataError m(RM4_E_FIELD, 0, "superblock A", "unit_bytes", 3000);
    EXPECT_STREQ(m.what(),
                 "block 0 (superblock A): field 'unit_bytes' = 3000: invalid field value");
    EXPECT_EQ(m.status(), RM4_E_FIELD);
    EXPECT_EQ(m.block(), 0u);
    EXPECT_EQ(m.field(), "unit_bytes");
    EXPECT_EQ(m.value(), 3000u);

    MetadataError crc(RM4_E_CRC, 5, "table A block 3", "crc", 0xdeadbeef);
    EXPECT_STREQ(crc.what(), "block 5 (table A block 3): field 'crc' = 0xdeadbeef: checksum "
                             "mismatch (torn or corrupt block)");
    MetadataError ver(RM4_E_VERSION, 1, "superblock B", "version_major", 5);
    EXPECT_NE(std::string(ver.what()).find("= 5"), std::string::npos);
    EXPECT_NE(std::string(ver.what()).find("supports version 4"), std::string::npos);
    MetadataError pad(RM4_E_FIELD, 0, "superblock A", "padding", 0);
    EXPECT_STREQ(pad.what(), "block 0 (superblock A): field 'padding': invalid field value");

    IoError io("read", "/dev/sdb", 8192, EIO);
    EXPECT_STREQ(io.what(), "read /dev/sdb at byte 8192: Input/output error");
    EXPECT_EQ(io.error_code(), EIO);
    EXPECT_EQ(io.offset(), 8192u);

    LegacyV3Error v3;
    EXPECT_EQ(v3.status(), RM4_E_V3);
    EXPECT_NE(std::string(v3.what()).find("legacy dm-remap v3 metadata"), std::string::npos);
    EXPECT_NE(std::string(v3.what()).find("remapctl migrate"), std::string::npos);
    const MetadataError& as_base = v3; // a MetadataError, and an Error
    EXPECT_EQ(as_base.block(), 0u);
}

} // namespace

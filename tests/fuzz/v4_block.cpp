// SPDX-License-Identifier: GPL-2.0-only OR MIT
//
// libFuzzer target: the v4 block parser, kernel/format/rm_format.c, the very
// C code the kernel module compiles. Input: one mode byte, an 8-byte spare
// size, a superblock and a table block (zero-padded). Mode bit 0 restamps
// the superblock's CRC and bit 1 the table block's, so that mutated fields
// reach the field validation instead of stopping at the checksum.
//
// Properties beyond "no crash, no sanitizer report":
//   - a rejection names a field;
//   - a superblock or table block that decodes re-encodes to the same bytes;
//   - a geometry that passes lies inside the device and does not overlap.
#include "fuzz_common.hpp"

#include <cstring>
#include <memory>

namespace {

void check_geometry(const rm4_superblock& sb, uint64_t spare_sectors) {
    using u128 = unsigned __int128;
    const u128 dev = spare_sectors;
    const u128 unit = sb.unit_bytes >> 9;
    const u128 ta = u128{sb.table_a_start} * RM4_BLOCK_SECTORS;
    const u128 tb = u128{sb.table_b_start} * RM4_BLOCK_SECTORS;
    const u128 tlen = u128{sb.table_blocks} * RM4_BLOCK_SECTORS;
    const u128 ps = sb.pool_start;
    const u128 plen = u128{sb.pool_blocks} * unit;
    const u128 sbs = 2 * RM4_BLOCK_SECTORS;
    auto overlap = [](u128 a, u128 alen, u128 b, u128 blen) {
        return alen && blen && a < b + blen && b < a + alen;
    };
    FUZZ_CHECK(sb.spare_sectors <= spare_sectors);
    FUZZ_CHECK(ta + tlen <= dev && tb + tlen <= dev && ps + plen <= dev);
    FUZZ_CHECK(tlen > 0);
    FUZZ_CHECK(!overlap(ta, tlen, 0, sbs) && !overlap(tb, tlen, 0, sbs));
    FUZZ_CHECK(!overlap(ta, tlen, tb, tlen));
    FUZZ_CHECK(!overlap(ps, plen, 0, sbs) && !overlap(ps, plen, ta, tlen) &&
               !overlap(ps, plen, tb, tlen));
    FUZZ_CHECK(u128{sb.table_blocks} * RM4_ENTRIES_PER_BLOCK >= sb.pool_blocks);
}

// A valid superblock to check entries against when the fuzzed one is not.
rm4_superblock fallback_superblock() {
    rm4_superblock sb{};
    sb.version_major = RM4_VERSION_MAJOR;
    sb.unit_bytes = 4096;
    sb.main_sectors = 1 << 21;
    sb.spare_sectors = 1 << 16;
    sb.pool_start = 64;
    sb.pool_blocks = 1000;
    sb.table_a_start = 2;
    sb.table_b_start = 4;
    sb.table_blocks = 2;
    sb.main_logical_block_size = 512;
    sb.main_physical_block_size = 4096;
    sb.uuid[0] = 1;
    return sb;
}

void superblock(const unsigned char* block, uint64_t blocknr, uint64_t spare_sectors,
                rm4_superblock& sb, bool& valid) {
    rm4_problem prob{};
    const rm4_status s = rm4_sb_decode(block, blocknr, &sb, &prob);
    FUZZ_CHECK(rm4_status_str(s) != nullptr);
    if (s != RM4_OK) {
        FUZZ_CHECK(prob.status == s && prob.field != nullptr);
        return;
    }
    // What decodes re-encodes to the same 4 KiB.
    auto out = std::make_unique<unsigned char[]>(RM4_BLOCK_SIZE);
    rm4_sb_encode(&sb, out.get());
    FUZZ_CHECK(std::memcmp(out.get(), block, RM4_BLOCK_SIZE) == 0);
    FUZZ_CHECK(std::strlen(sb.main_identity) <= RM4_IDENTITY_LEN);
    FUZZ_CHECK(std::strlen(sb.creator) <= RM4_CREATOR_LEN);

    for (uint64_t dev : {spare_sectors, uint64_t{sb.spare_sectors}}) {
        rm4_problem gp{};
        if (rm4_sb_check_geometry(&sb, dev, &gp) == RM4_OK) {
            check_geometry(sb, dev);
            valid = true;
        } else {
            FUZZ_CHECK(gp.field != nullptr);
        }
    }
    const uint64_t units = rm4_main_units(&sb);
    FUZZ_CHECK(units >= 1 && units * (sb.unit_bytes >> 9) >= sb.main_sectors);
}

void table(const unsigned char* block, const rm4_superblock& sb) {
    // The block's own claims, so that the location checks can pass.
    const uint64_t blocknr = fuzz::get_le(block + 16, 8);
    const uint64_t first_slot = fuzz::get_le(block + 48, 8);
    rm4_problem prob{};
    const rm4_status s = rm4_table_check(block, blocknr, first_slot, block + 32, &prob);
    if (s != RM4_OK) {
        FUZZ_CHECK(prob.status == s && prob.field != nullptr);
        return;
    }
    FUZZ_CHECK(rm4_block_seq(block) == fuzz::get_le(block + 24, 8));
    auto out = std::make_unique<unsigned char[]>(RM4_BLOCK_SIZE);
    std::memcpy(out.get(), block, RM4_BLOCK_SIZE);
    bool all_valid = true;
    for (unsigned i = 0; i < RM4_ENTRIES_PER_BLOCK; i++) {
        rm4_entry e{};
        rm4_problem ep{};
        const rm4_status es = rm4_entry_decode(block, i, &sb, &e, &ep);
        if (es != RM4_OK) {
            FUZZ_CHECK(ep.field != nullptr);
            all_valid = false;
            continue;
        }
        FUZZ_CHECK(e.state <= RM4_STATE_MAX);
        if (e.state != RM4_STATE_FREE && e.main_block != RM4_NONE)
            FUZZ_CHECK(e.main_block < rm4_main_units(&sb));
        if (e.state != RM4_STATE_FREE && e.spare_block != RM4_NONE)
            FUZZ_CHECK(e.spare_block < sb.pool_blocks);
        rm4_entry_encode(out.get(), i, &e);
    }
    if (!all_valid)
        return;
    // Valid entries re-encode to the same block.
    rm4_table_prepare(out.get(), blocknr, first_slot, rm4_block_seq(block), block + 32);
    FUZZ_CHECK(std::memcmp(out.get(), block, RM4_BLOCK_SIZE) == 0);
}

} // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
    rm_crc32c_init();
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size < 9)
        return 0;
    const unsigned mode = data[0];
    const uint64_t spare_sectors = fuzz::get_le(data + 1, 8);
    data += 9;
    size -= 9;

    // Heap blocks of exactly 4 KiB: ASan sees any read past a block.
    auto sbuf = std::make_unique<unsigned char[]>(RM4_BLOCK_SIZE);
    auto tbuf = std::make_unique<unsigned char[]>(RM4_BLOCK_SIZE);
    std::memset(sbuf.get(), 0, RM4_BLOCK_SIZE);
    std::memset(tbuf.get(), 0, RM4_BLOCK_SIZE);
    std::memcpy(sbuf.get(), data, std::min<size_t>(size, RM4_BLOCK_SIZE));
    if (size > RM4_BLOCK_SIZE)
        std::memcpy(tbuf.get(), data + RM4_BLOCK_SIZE,
                    std::min<size_t>(size - RM4_BLOCK_SIZE, RM4_BLOCK_SIZE));
    if (mode & 1)
        fuzz::restamp_v4(sbuf.get(), RM4_SB_CHECKED_BYTES);
    if (mode & 2)
        fuzz::restamp_v4(tbuf.get(), RM4_BLOCK_SIZE);

    rm4_superblock sb{};
    bool valid = false;
    superblock(sbuf.get(), (mode >> 2) & 1, spare_sectors, sb, valid);
    table(tbuf.get(), valid ? sb : fallback_superblock());

    // Copy selection: a valid copy always wins over an invalid one.
    const auto sa = static_cast<rm4_status>((mode >> 3) % (RM4_E_V3 + 1));
    const auto sbst = static_cast<rm4_status>((mode >> 5) % (RM4_E_V3 + 1));
    const int pick = rm4_pick_copy(sa, spare_sectors, sbst, ~spare_sectors);
    FUZZ_CHECK(pick >= -1 && pick <= 1);
    FUZZ_CHECK((pick < 0) == (sa != RM4_OK && sbst != RM4_OK));
    return 0;
}

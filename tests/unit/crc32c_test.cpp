// SPDX-License-Identifier: GPL-2.0-only OR MIT
//
// CRC32C as the kernel and the library compute it (kernel/format/rm_crc32c.c).
#include "helpers.hpp"

#include <random>

namespace {

using testutil::reference_crc32c;

uint32_t one_shot(const void* data, std::size_t len) {
    return rm_crc32c_final(rm_crc32c(RM_CRC32C_INIT, data, len));
}

TEST(Crc32c, StandardCheckValue) {
    const char text[] = "123456789";
    EXPECT_EQ(one_shot(text, 9), 0xE3069283u);
}

TEST(Crc32c, EmptyInputIsZero) {
    EXPECT_EQ(one_shot("", 0), 0u);
}

// RFC 3720 (iSCSI) appendix B.4 test vectors.
TEST(Crc32c, Rfc3720Vectors) {
    std::vector<uint8_t> buf(32, 0x00);
    EXPECT_EQ(one_shot(buf.data(), buf.size()), 0x8A9136AAu);
    std::fill(buf.begin(), buf.end(), 0xff);
    EXPECT_EQ(one_shot(buf.data(), buf.size()), 0x62A8AB43u);
    for (std::size_t i = 0; i < buf.size(); i++)
        buf[i] = static_cast<uint8_t>(i);
    EXPECT_EQ(one_shot(buf.data(), buf.size()), 0x46DD794Eu);
    for (std::size_t i = 0; i < buf.size(); i++)
        buf[i] = static_cast<uint8_t>(31 - i);
    EXPECT_EQ(one_shot(buf.data(), buf.size()), 0x113FDB5Cu);
}

TEST(Crc32c, IncrementalEqualsOneShotAtEverySplit) {
    std::mt19937 rng(42);
    std::vector<std::byte> data(1031); // odd length: exercises the byte tail
    for (auto& b : data)
        b = static_cast<std::byte>(rng());
    const uint32_t whole = one_shot(data.data(), data.size());
    for (std::size_t split = 0; split <= data.size(); split++) {
        uint32_t crc = rm_crc32c(RM_CRC32C_INIT, data.data(), split);
        crc = rm_crc32c(crc, data.data() + split, data.size() - split);
        ASSERT_EQ(rm_crc32c_final(crc), whole) << "split at " << split;
    }
    // Three pieces, unaligned starts.
    uint32_t crc = rm_crc32c(RM_CRC32C_INIT, data.data(), 3);
    crc = rm_crc32c(crc, data.data() + 3, 517);
    crc = rm_crc32c(crc, data.data() + 520, data.size() - 520);
    EXPECT_EQ(rm_crc32c_final(crc), whole);
}

TEST(Crc32c, MatchesBitwiseReferenceOnRandomBuffers) {
    std::mt19937 rng(7);
    for (std::size_t len : {1u, 7u, 8u, 9u, 63u, 512u, 4096u}) {
        std::vector<std::byte> data(len);
        for (auto& b : data)
            b = static_cast<std::byte>(rng());
        EXPECT_EQ(one_shot(data.data(), data.size()), reference_crc32c(data)) << "len " << len;
    }
}

} // namespace

// SPDX-License-Identifier: GPL-2.0-only OR MIT
//
// Pins the bugs the fuzzers (tests/fuzz/) found. Each crashing input is also
// kept in tests/fuzz/corpus/<target>/crash-*, which every fuzz run replays.
#include "remapmeta/device.hpp"
#include "remapmeta/dump.hpp"
#include "remapmeta/errors.hpp"
#include "remapmeta/status.hpp"

#include <cstdio>
#include <fstream>
#include <gtest/gtest.h>
#include <iterator>
#include <string>

namespace {

using namespace remapmeta;

std::string corpus_file(const std::string& name) {
    std::ifstream f(std::string(REMAPMETA_SOURCE_DIR) + "/tests/fuzz/corpus/" + name,
                    std::ios::binary);
    EXPECT_TRUE(f) << name;
    return {std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>()};
}

// fuzz-restore: a number no double holds made nlohmann::json throw
// out_of_range, which escaped parse_dump instead of a DumpError.
TEST(FuzzRegress, DumpNumberOverflowIsADumpError) {
    EXPECT_THROW(parse_dump(corpus_file("restore/crash-number-overflow.json")), DumpError);
    EXPECT_THROW(parse_dump(R"({"format_version": 1e400})"), DumpError);
    try {
        parse_dump(R"({"format_version": 1, "metadata_version": 4e999})");
        FAIL() << "no DumpError";
    } catch (const DumpError& e) {
        EXPECT_NE(std::string(e.what()).find("not valid JSON"), std::string::npos) << e.what();
    }
}

// fuzz-restore: a dump with unknown ro_compat features parsed, and restore
// zeroed the spare's metadata before write_superblocks refused to write
// them: the old metadata was gone. Now it refuses before touching the spare.
TEST(FuzzRegress, RestoreWithUnknownRoCompatRefusesBeforeWriting) {
    const Metadata m = parse_dump(corpus_file("restore/crash-ro-compat-restore.json"));
    ASSERT_NE(m.sb.ro_compat & ~RM4_RO_COMPAT_SUPPORTED, 0u);
    const std::string path = ::testing::TempDir() + "/fuzz-regress-ro-compat.img";
    {
        std::ofstream f(path, std::ios::binary | std::ios::trunc);
        const std::string old(m.sb.spare_sectors * 512, '\x5a'); // the spare's old contents
        f << old;
    }
    Device dev = Device::open(path, {.write = true});
    EXPECT_THROW(RestoreEmitter(dev).emit(m), MetadataError);
    AlignedBuffer buf(dev.size_bytes());
    dev.read(0, buf.span());
    for (std::size_t i = 0; i < buf.size(); i++)
        ASSERT_EQ(buf.data()[i], std::byte{0x5a}) << "byte " << i << " was written";
    std::remove(path.c_str());
}

// fuzz-status: a table line whose device held control characters parsed,
// but format_table_params refused to write it back.
TEST(FuzzRegress, TableLineDeviceWithControlCharacterIsRefused) {
    const std::string input = corpus_file("status/crash-control-char-device");
    ASSERT_FALSE(input.empty());
    EXPECT_THROW(parse_table_params(input.substr(1)), StatusError); // byte 0 selects the parser
    EXPECT_THROW(parse_table_params(std::string("253:0 7:\x01") + "1"), StatusError);
    EXPECT_THROW(parse_table_params(std::string("253:\0"
                                                "0 7:1",
                                                10)),
                 StatusError);
    EXPECT_EQ(parse_table_params("253:0 7:1").spare, "7:1");
}

// Review of the same parser: a retries count past 32 bits was truncated
// (4294967297 read as 1) instead of refused.
TEST(FuzzRegress, TableLineRetriesPast32BitsIsRefused) {
    EXPECT_THROW(parse_table_params("253:0 7:1 2 retries 4294967297"), StatusError);
    EXPECT_EQ(parse_table_params("253:0 7:1 2 retries 4294967295").retries, 4294967295u);
}

// Likewise scan_rate and slow_ms were cast to 32 bits unchecked: 4294967297
// read as 1. Outside the kernel's ranges they are refused.
TEST(FuzzRegress, TableLineScanFeaturesOutOfRangeAreRefused) {
    EXPECT_THROW(parse_table_params("253:0 7:1 2 scan_rate 4294967297"), StatusError);
    EXPECT_THROW(parse_table_params("253:0 7:1 2 scan_rate 4097"), StatusError);
    EXPECT_EQ(parse_table_params("253:0 7:1 2 scan_rate 4096").scan_rate, 4096u);
    EXPECT_EQ(parse_table_params("253:0 7:1 2 scan_rate 0").scan_rate, 0u);
    EXPECT_THROW(parse_table_params("253:0 7:1 2 slow_ms 0"), StatusError);
    EXPECT_THROW(parse_table_params("253:0 7:1 2 slow_ms 600001"), StatusError);
    EXPECT_THROW(parse_table_params("253:0 7:1 2 slow_ms 4294967297"), StatusError);
    EXPECT_EQ(parse_table_params("253:0 7:1 2 slow_ms 1").slow_ms, 1u);
}

} // namespace

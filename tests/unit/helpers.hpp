// SPDX-License-Identifier: GPL-2.0-only OR MIT
//
// Shared helpers for the unit tests: temporary directories, image files, a
// reference CRC32C, and comparisons that print what differs.
#pragma once

#include "remapmeta/device.hpp"
#include "remapmeta/format.hpp"
#include "remapmeta/layout.hpp"
#include "remapmeta/metadata.hpp"

#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <ostream>
#include <span>
#include <string>
#include <vector>

// gtest prints and compares entries with these (test code only).
inline bool operator==(const rm4_entry& a, const rm4_entry& b) {
    return remapmeta::entries_equal(a, b);
}

inline void PrintTo(const rm4_entry& e, std::ostream* os) {
    *os << fmt::format("{{{} main={:#x} spare={:#x} time={} errors={} flags={:#x}}}",
                       remapmeta::state_name(e.state), e.main_block, e.spare_block, e.event_time,
                       e.error_count, e.flags);
}

namespace testutil {

using namespace remapmeta;

// A fresh directory per test, removed with everything in it.
class TempDir {
public:
    TempDir();
    ~TempDir();
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;

    const std::filesystem::path& path() const { return path_; }
    std::string file(const std::string& name) const { return (path_ / name).string(); }

private:
    std::filesystem::path path_;
};

// Creates (or truncates) a sparse file of `bytes` bytes.
void make_image(const std::string& path, uint64_t bytes);
// Writes `data` as the whole content of `path`.
void write_file(const std::string& path, std::span<const std::byte> data);
std::vector<std::byte> read_file(const std::string& path);

// Raw block I/O on an image, bypassing the library's protocol.
std::vector<std::byte> read_block(Device& dev, uint64_t blocknr);
void write_block(Device& dev, uint64_t blocknr, std::span<const std::byte> data);

// Bitwise CRC32C, independent of kernel/format/rm_crc32c.c.
uint32_t reference_crc32c(std::span<const std::byte> data);
// Recomputes the header CRC of a block over `checked_len` bytes, as a writer
// that stamps a hand-edited block would.
void restamp_crc(std::span<std::byte> block, std::size_t checked_len);

// Little-endian access at a byte offset.
uint64_t get_le(std::span<const std::byte> buf, std::size_t offset, std::size_t width);
void put_le(std::span<std::byte> buf, std::size_t offset, std::size_t width, uint64_t value);

// A fixed UUID and time, so images and goldens are reproducible.
Uuid test_uuid();
inline constexpr uint64_t test_time = 1700000000;

// Parameters for a spare of `spare_bytes` attached to a 1 GiB main device.
FormatParams test_params(uint64_t spare_bytes, uint32_t unit_bytes = 0);

// Creates an image of `spare_bytes`, formats it and returns the plan.
Superblock format_image(const std::string& path, uint64_t spare_bytes, uint32_t unit_bytes = 0);

// Compares two models: superblock fields (not blocknr, and seq only when
// asked), max_seq, and every slot.
testing::AssertionResult same_metadata(const Metadata& expected, const Metadata& actual,
                                       bool compare_seq = true);

// All findings, one per line, for failure messages.
std::string describe(const LoadReport& report);

} // namespace testutil

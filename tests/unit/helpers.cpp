// SPDX-License-Identifier: GPL-2.0-only OR MIT
#include "helpers.hpp"

#include <cerrno>
#include <cstdlib>
#include <fcntl.h>
#include <sstream>
#include <stdexcept>
#include <system_error>
#include <unistd.h>

namespace testutil {

TempDir::TempDir() {
    const char* base = std::getenv("TMPDIR");
    std::string tmpl = fmt::format("{}/remapmeta-test-XXXXXX", base && *base ? base : "/tmp");
    if (!::mkdtemp(tmpl.data()))
        throw std::system_error(errno, std::generic_category(), "mkdtemp " + tmpl);
    path_ = tmpl;
}

TempDir::~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
}

void make_image(const std::string& path, uint64_t bytes) {
    int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        throw std::system_error(errno, std::generic_category(), "create " + path);
    int rc = ::ftruncate(fd, static_cast<off_t>(bytes));
    int err = errno;
    ::close(fd);
    if (rc != 0)
        throw std::system_error(err, std::generic_category(), "ftruncate " + path);
}

void write_file(const std::string& path, std::span<const std::byte> data) {
    make_image(path, data.size());
    if (data.empty())
        return;
    Device dev = Device::open(path, {.write = true});
    dev.write(0, data);
}

std::vector<std::byte> read_file(const std::string& path) {
    Device dev = Device::open(path);
    std::vector<std::byte> out(dev.size_bytes());
    dev.read(0, out);
    return out;
}

std::vector<std::byte> read_block(Device& dev, uint64_t blocknr) {
    std::vector<std::byte> out(RM4_BLOCK_SIZE);
    dev.read(blocknr * RM4_BLOCK_SIZE, out);
    return out;
}

void write_block(Device& dev, uint64_t blocknr, std::span<const std::byte> data) {
    if (data.size() != RM4_BLOCK_SIZE)
        throw std::invalid_argument("write_block needs 4096 bytes");
    dev.write(blocknr * RM4_BLOCK_SIZE, data);
}

uint32_t reference_crc32c(std::span<const std::byte> data) {
    uint32_t crc = 0xffffffffu;
    for (std::byte b : data) {
        crc ^= static_cast<uint8_t>(b);
        for (int i = 0; i < 8; i++)
            crc = (crc >> 1) ^ (0x82f63b78u & (0u - (crc & 1u)));
    }
    return crc ^ 0xffffffffu;
}

void restamp_crc(std::span<std::byte> block, std::size_t checked_len) {
    put_le(block, 8, 4, 0);
    put_le(block, 8, 4, reference_crc32c(block.first(checked_len)));
}

uint64_t get_le(std::span<const std::byte> buf, std::size_t offset, std::size_t width) {
    uint64_t v = 0;
    for (std::size_t i = 0; i < width; i++)
        v |= static_cast<uint64_t>(buf[offset + i]) << (8 * i);
    return v;
}

void put_le(std::span<std::byte> buf, std::size_t offset, std::size_t width, uint64_t value) {
    for (std::size_t i = 0; i < width; i++)
        buf[offset + i] = static_cast<std::byte>(value >> (8 * i));
}

Uuid test_uuid() {
    return {0xd0, 0x4e, 0x5a, 0x11, 0x7c, 0x2b, 0x4f, 0x93,
            0xa6, 0x08, 0x1d, 0xe2, 0x37, 0xc5, 0x90, 0xfa};
}

FormatParams test_params(uint64_t spare_bytes, uint32_t unit_bytes) {
    FormatParams p;
    p.main_sectors = (1ull << 30) / 512;
    p.main_logical_block_size = 512;
    p.main_physical_block_size = 4096;
    p.main_identity = "WWN-0x5000c500a1b2c3d4";
    p.spare_sectors = spare_bytes / 512;
    p.spare_logical_block_size = 512;
    p.spare_physical_block_size = 4096;
    p.unit_bytes = unit_bytes;
    p.uuid = test_uuid();
    p.format_time = test_time;
    p.creator = "unit-tests";
    return p;
}

Superblock format_image(const std::string& path, uint64_t spare_bytes, uint32_t unit_bytes) {
    make_image(path, spare_bytes);
    Superblock sb = plan_layout(test_params(spare_bytes, unit_bytes));
    Device dev = Device::open(path, {.write = true});
    format(dev, sb);
    return sb;
}

testing::AssertionResult same_metadata(const Metadata& expected, const Metadata& actual,
                                       bool compare_seq) {
    auto diff = superblock_differences(expected.sb, actual.sb);
    if (compare_seq && expected.sb.seq != actual.sb.seq)
        diff.emplace_back("seq");
    if (!diff.empty())
        return testing::AssertionFailure()
               << "superblock fields differ: " << fmt::format("{}", fmt::join(diff, ", "));
    if (compare_seq && expected.max_seq != actual.max_seq)
        return testing::AssertionFailure()
               << "max_seq " << expected.max_seq << " != " << actual.max_seq;
    if (expected.slots.size() != actual.slots.size())
        return testing::AssertionFailure()
               << "slot count " << expected.slots.size() << " != " << actual.slots.size();
    for (std::size_t i = 0; i < expected.slots.size(); i++) {
        if (!entries_equal(expected.slots[i], actual.slots[i])) {
            std::ostringstream a, b;
            PrintTo(expected.slots[i], &a);
            PrintTo(actual.slots[i], &b);
            return testing::AssertionFailure()
                   << "slot " << i << " differs: expected " << a.str() << ", got " << b.str();
        }
    }
    return testing::AssertionSuccess();
}

std::string describe(const LoadReport& report) {
    std::string out;
    for (const auto& f : report.findings)
        out += fmt::format("  [{}] block {}: {}\n", to_string(f.severity), f.block, f.message);
    return out.empty() ? "  (no findings)\n" : out;
}

} // namespace testutil

// SPDX-License-Identifier: GPL-2.0-only OR MIT
//
// Device on image files: opening, sizes, full reads and writes, errors.
// Block devices need root and a VM; the VM scenarios cover them.
#include "helpers.hpp"
#include "remapmeta/errors.hpp"

#include <numeric>

namespace {

using namespace remapmeta;
using testutil::TempDir;

std::vector<std::byte> pattern(std::size_t n, unsigned seed) {
    std::vector<std::byte> v(n);
    for (std::size_t i = 0; i < n; i++)
        v[i] = static_cast<std::byte>((i * 31 + seed) & 0xff);
    return v;
}

TEST(Device, OpensAnImageFileWithFileGeometry) {
    TempDir dir;
    const auto path = dir.file("img");
    testutil::make_image(path, 1 << 20);
    Device dev = Device::open(path);
    EXPECT_EQ(dev.path(), path);
    EXPECT_EQ(dev.size_bytes(), 1u << 20);
    EXPECT_EQ(dev.sectors(), 2048u);
    EXPECT_EQ(dev.logical_block_size(), 512u);
    EXPECT_EQ(dev.physical_block_size(), 4096u);
    EXPECT_FALSE(dev.is_block_device());
    EXPECT_FALSE(dev.is_writable());
    EXPECT_GE(dev.fd(), 0);
}

TEST(Device, WriteThenReadBack) {
    TempDir dir;
    const auto path = dir.file("img");
    testutil::make_image(path, 64 * 1024);
    Device dev = Device::open(path, {.write = true});
    const auto data = pattern(10000, 3);
    dev.write(1234, data);
    dev.flush();
    std::vector<std::byte> back(data.size());
    dev.read(1234, back);
    EXPECT_EQ(back, data);
    // Another open sees it.
    Device again = Device::open(path);
    std::fill(back.begin(), back.end(), std::byte{0});
    again.read(1234, back);
    EXPECT_EQ(back, data);
}

TEST(Device, DirectIoWithAlignedAndUnalignedBuffers) {
    TempDir dir;
    const auto path = dir.file("img");
    testutil::make_image(path, 1 << 20);
    Device dev = Device::open(path, {.write = true, .direct = true});
    const auto data = pattern(3 * 4096, 9);
    AlignedBuffer aligned(data.size());
    std::memcpy(aligned.data(), data.data(), data.size());
    dev.write(8192, aligned.span());
    dev.flush();
    // An unaligned buffer is bounced through an aligned one.
    std::vector<std::byte> unaligned_storage(data.size() + 1);
    std::span<std::byte> unaligned(unaligned_storage.data() + 1, data.size());
    dev.read(8192, unaligned);
    EXPECT_TRUE(std::equal(unaligned.begin(), unaligned.end(), data.begin()));
    dev.write(65536, std::span<const std::byte>(unaligned));
    AlignedBuffer back(data.size());
    dev.read(65536, back.span());
    EXPECT_EQ(std::memcmp(back.data(), data.data(), data.size()), 0);
    if (dev.is_direct()) {
        // Direct I/O must be sector-aligned in offset and length.
        std::vector<std::byte> odd(100);
        EXPECT_THROW(dev.read(1, odd), IoError);
    }
}

TEST(Device, DirectOpenWorksOnTmpfs) {
    // /dev/shm is tmpfs, which refused O_DIRECT before Linux 6.6: the open
    // must fall back rather than fail.
    if (!std::filesystem::is_directory("/dev/shm"))
        GTEST_SKIP() << "no /dev/shm";
    const std::string path = fmt::format("/dev/shm/remapmeta-test-{}", ::getpid());
    struct Remove {
        const std::string& path;
        ~Remove() { std::filesystem::remove(path); }
    } remove{path};
    testutil::make_image(path, 65536);
    Device dev = Device::open(path, {.write = true, .direct = true});
    const auto data = pattern(4096, 1);
    dev.write(4096, data);
    std::vector<std::byte> back(4096);
    dev.read(4096, back);
    EXPECT_EQ(back, data);
}

TEST(Device, ZeroClearsExactlyTheRange) {
    TempDir dir;
    const auto path = dir.file("img");
    testutil::make_image(path, 4 << 20);
    Device dev = Device::open(path, {.write = true});
    const auto data = pattern(4 << 20, 5);
    dev.write(0, data);
    const uint64_t off = 4096 + 512, len = (2 << 20) + 1024; // spans several 1 MiB chunks
    dev.zero(off, len);
    std::vector<std::byte> back(data.size());
    dev.read(0, back);
    for (std::size_t i = 0; i < back.size(); i++) {
        const bool zeroed = i >= off && i < off + len;
        ASSERT_EQ(back[i], zeroed ? std::byte{0} : data[i]) << "byte " << i;
    }
}

TEST(Device, ShortReadAtEndIsAnIoError) {
    TempDir dir;
    const auto path = dir.file("img");
    testutil::make_image(path, 10000);
    Device dev = Device::open(path);
    std::vector<std::byte> buf(4096);
    try {
        dev.read(8192, buf);
        FAIL() << "read past the end succeeded";
    } catch (const IoError& e) {
        EXPECT_EQ(e.operation(), "read");
        EXPECT_EQ(e.offset(), 8192u);
        EXPECT_NE(std::string(e.what()).find(path), std::string::npos);
        EXPECT_NE(std::string(e.what()).find("past the end"), std::string::npos) << e.what();
    }
    // The file shrinks behind the device's back: pread returns 0.
    ASSERT_EQ(::truncate(path.c_str(), 4096), 0);
    try {
        dev.read(4096, buf);
        FAIL() << "read of a truncated file succeeded";
    } catch (const IoError& e) {
        EXPECT_NE(std::string(e.what()).find("unexpected end of file"), std::string::npos)
            << e.what();
    }
    EXPECT_THROW(dev.read(UINT64_MAX - 10, buf), IoError); // no overflow
}

TEST(Device, WritesStayInsideTheDevice) {
    TempDir dir;
    const auto path = dir.file("img");
    testutil::make_image(path, 8192);
    Device dev = Device::open(path, {.write = true});
    std::vector<std::byte> buf(4096);
    EXPECT_THROW(dev.write(8192, buf), IoError);
    EXPECT_THROW(dev.zero(4096, 8192), IoError);
    EXPECT_EQ(std::filesystem::file_size(path), 8192u); // the image did not grow
}

TEST(Device, ReadOnlyDeviceRefusesWrites) {
    TempDir dir;
    const auto path = dir.file("img");
    testutil::make_image(path, 8192);
    Device dev = Device::open(path);
    std::vector<std::byte> buf(512);
    EXPECT_THROW(dev.write(0, buf), IoError);
    EXPECT_THROW(dev.zero(0, 512), IoError);
}

TEST(Device, OpenErrorsAreTyped) {
    TempDir dir;
    try {
        Device::open(dir.file("missing"));
        FAIL();
    } catch (const DeviceError& e) {
        EXPECT_EQ(e.kind(), DeviceErrorKind::not_found);
        EXPECT_EQ(e.path(), dir.file("missing"));
        EXPECT_NE(std::string(e.what()).find("lsblk"), std::string::npos) << e.what();
    }
    try {
        Device::open(dir.path().string());
        FAIL();
    } catch (const DeviceError& e) {
        EXPECT_EQ(e.kind(), DeviceErrorKind::not_block_or_file);
    }
    try {
        Device::open("/dev/null");
        FAIL();
    } catch (const DeviceError& e) {
        EXPECT_EQ(e.kind(), DeviceErrorKind::not_block_or_file) << e.what();
    }
    if (::geteuid() != 0) {
        const auto path = dir.file("ro");
        testutil::make_image(path, 4096);
        ::chmod(path.c_str(), 0400);
        try {
            Device::open(path, {.write = true});
            FAIL();
        } catch (const DeviceError& e) {
            EXPECT_EQ(e.kind(), DeviceErrorKind::permission);
        }
    }
}

TEST(Device, ExclusiveOpenOfAFileIsRefusedWhileHeld) {
    TempDir dir;
    const auto path = dir.file("img");
    testutil::make_image(path, 8192);
    {
        Device first = Device::open(path, {.write = true, .exclusive = true});
        try {
            Device::open(path, {.write = true, .exclusive = true});
            FAIL() << "second exclusive open succeeded";
        } catch (const DeviceError& e) {
            EXPECT_EQ(e.kind(), DeviceErrorKind::busy);
            EXPECT_NE(std::string(e.what()).find("in use"), std::string::npos);
        }
        EXPECT_NO_THROW(Device::open(path)); // shared opens are fine
    }
    EXPECT_NO_THROW(Device::open(path, {.write = true, .exclusive = true}));
}

TEST(Device, MoveTransfersOwnership) {
    TempDir dir;
    const auto path = dir.file("img");
    testutil::make_image(path, 8192);
    Device a = Device::open(path, {.write = true});
    const int fd = a.fd();
    Device b = std::move(a);
    EXPECT_EQ(b.fd(), fd);
    EXPECT_EQ(a.fd(), -1); // NOLINT(bugprone-use-after-move): checking the moved-from state
    EXPECT_EQ(b.size_bytes(), 8192u);
    Device c = Device::open(path);
    c = std::move(b);
    EXPECT_EQ(c.fd(), fd);
    EXPECT_TRUE(c.is_writable());
    std::vector<std::byte> buf(16);
    EXPECT_NO_THROW(c.read(0, buf));
}

TEST(Device, SimulatedReadErrors) {
    TempDir dir;
    const auto path = dir.file("img");
    testutil::make_image(path, 65536);
    Device dev = Device::open(path);
    dev.simulate_read_error(8192, 4096);
    std::vector<std::byte> buf(4096);
    EXPECT_NO_THROW(dev.read(4096, buf));
    EXPECT_NO_THROW(dev.read(12288, buf));
    try {
        dev.read(0, std::span(buf).first(4096));
        dev.read(10000, std::span(buf).first(100));
        FAIL();
    } catch (const IoError& e) {
        EXPECT_EQ(e.error_code(), EIO);
        EXPECT_EQ(e.offset(), 10000u);
        EXPECT_EQ(std::string(e.what()),
                  fmt::format("read {} at byte 10000: Input/output error", path));
    }
}

TEST(AlignedBuffer, IsAlignedAndZeroed) {
    AlignedBuffer b(10000);
    EXPECT_EQ(reinterpret_cast<uintptr_t>(b.data()) % 4096, 0u);
    EXPECT_EQ(b.size(), 10000u);
    EXPECT_TRUE(std::all_of(b.span().begin(), b.span().end(),
                            [](std::byte x) { return x == std::byte{0}; }));
    const std::byte* data = b.data();
    AlignedBuffer moved = std::move(b);
    EXPECT_EQ(moved.size(), 10000u);
    EXPECT_EQ(moved.data(), data);
    EXPECT_EQ(b.size(), 0u); // NOLINT(bugprone-use-after-move): the moved-from state
    EXPECT_TRUE(b.span().empty());
    AlignedBuffer empty;
    EXPECT_EQ(empty.size(), 0u);
    EXPECT_TRUE(empty.span().empty());
}

} // namespace

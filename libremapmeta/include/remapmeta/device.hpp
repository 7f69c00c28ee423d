// SPDX-License-Identifier: GPL-2.0-only OR MIT
//
// A block device or an image file, opened once and owned by one object.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <utility>
#include <vector>

namespace remapmeta {

// Heap memory aligned to 4096 bytes and zero-filled, as O_DIRECT needs.
class AlignedBuffer {
public:
    static constexpr std::size_t alignment = 4096;

    AlignedBuffer() = default;
    explicit AlignedBuffer(std::size_t size);
    AlignedBuffer(AlignedBuffer&& other) noexcept
        : data_(std::move(other.data_))
        , size_(std::exchange(other.size_, 0)) {}
    AlignedBuffer& operator=(AlignedBuffer&& other) noexcept {
        data_ = std::move(other.data_);
        size_ = std::exchange(other.size_, 0);
        return *this;
    }

    std::size_t size() const noexcept { return size_; }
    std::byte* data() noexcept { return data_.get(); }
    const std::byte* data() const noexcept { return data_.get(); }
    std::span<std::byte> span() noexcept { return {data_.get(), size_}; }
    std::span<const std::byte> span() const noexcept { return {data_.get(), size_}; }
    // `len` bytes from `offset` (both must lie inside the buffer).
    std::span<std::byte> subspan(std::size_t offset, std::size_t len) {
        return span().subspan(offset, len);
    }
    void fill_zero() noexcept;

private:
    struct Free {
        void operator()(std::byte* p) const noexcept;
    };
    std::unique_ptr<std::byte, Free> data_;
    std::size_t size_ = 0;
};

struct OpenOptions {
    bool write = false;
    // Block devices: O_EXCL, fails when mounted or held by another device.
    // Regular files: an exclusive flock(2), fails when another process holds one.
    bool exclusive = false;
    // O_DIRECT; silently dropped for files on filesystems that refuse it.
    bool direct = false;
};

class Device {
public:
    // Opens a block device or a regular file; throws DeviceError or IoError.
    static Device open(const std::string& path, OpenOptions options = {});

    Device(Device&& other) noexcept;
    Device& operator=(Device&& other) noexcept;
    Device(const Device&) = delete;
    Device& operator=(const Device&) = delete;
    ~Device();

    const std::string& path() const noexcept { return path_; }
    uint64_t size_bytes() const noexcept { return size_bytes_; }
    uint64_t sectors() const noexcept { return size_bytes_ >> 9; } // 512-byte sectors
    uint32_t logical_block_size() const noexcept { return logical_block_size_; }
    uint32_t physical_block_size() const noexcept { return physical_block_size_; }
    bool is_block_device() const noexcept { return block_device_; }
    bool is_writable() const noexcept { return writable_; }
    bool is_direct() const noexcept { return direct_; }
    int fd() const noexcept { return fd_; }

    // Reads exactly buf.size() bytes at `offset`; a short read is an IoError.
    void read(uint64_t offset, std::span<std::byte> buf);
    // Writes exactly buf.size() bytes at `offset`, inside the device's size.
    void write(uint64_t offset, std::span<const std::byte> buf);
    // Makes completed writes durable: fdatasync, which also flushes the drive's cache.
    void flush();
    // Zeroes `len` bytes at `offset` (BLKZEROOUT on block devices).
    void zero(uint64_t offset, uint64_t len);

    // Testing aid: reads overlapping [offset, offset + len) fail with EIO
    // from now on, as a bad sector on the spare would.
    void simulate_read_error(uint64_t offset, uint64_t len);

private:
    Device() = default;
    void close() noexcept;
    void check_range(const char* operation, uint64_t offset, uint64_t len) const;
    void check_direct_alignment(const char* operation, uint64_t offset, uint64_t len) const;

    int fd_ = -1;
    std::string path_;
    uint64_t size_bytes_ = 0;
    uint32_t logical_block_size_ = 512;
    uint32_t physical_block_size_ = 4096;
    bool block_device_ = false;
    bool writable_ = false;
    bool direct_ = false;
    std::vector<std::pair<uint64_t, uint64_t>> simulated_bad_ranges_;
};

} // namespace remapmeta

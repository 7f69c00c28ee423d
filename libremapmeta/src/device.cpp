// SPDX-License-Identifier: GPL-2.0-only OR MIT
#include "remapmeta/device.hpp"

#include "remapmeta/errors.hpp"

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <fmt/format.h>
#include <linux/fs.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace remapmeta {

namespace {

constexpr std::size_t chunk_bytes = 1 << 20;

[[noreturn]] void throw_open_error(const std::string& path, int err, bool write) {
    using K = DeviceErrorKind;
    switch (err) {
    case ENOENT:
    case ENOTDIR:
        throw DeviceError(K::not_found, path,
                          fmt::format("{}: no such device or file; check the path "
                                      "(lsblk lists the block devices)",
                                      path));
    case ENXIO:
    case ENODEV:
        throw DeviceError(K::not_found, path,
                          fmt::format("{}: the device is not present; check that the disk is "
                                      "attached (lsblk lists the block devices)",
                                      path));
    case EACCES:
    case EPERM:
        throw DeviceError(K::permission, path,
                          fmt::format("{}: permission denied{}; run as root or check the "
                                      "device's permissions",
                                      path, write ? " for writing" : ""));
    case EROFS:
        throw DeviceError(K::read_only, path,
                          fmt::format("{}: the device is read-only; make it writable "
                                      "(blockdev --setrw, or a read-write mount) and retry",
                                      path));
    case EBUSY:
        throw DeviceError(K::busy, path,
                          fmt::format("{} is in use (mounted, or held by another device such as "
                                      "a dm device); unmount it or remove the holder "
                                      "(see lsblk and dmsetup ls) and retry",
                                      path));
    default:
        throw IoError("open", path, std::nullopt, err);
    }
}

} // namespace

// ---- AlignedBuffer ----------------------------------------------------------

void AlignedBuffer::Free::operator()(std::byte* p) const noexcept {
    std::free(p);
}

AlignedBuffer::AlignedBuffer(std::size_t size)
    : size_(size) {
    if (size == 0)
        return;
    const std::size_t rounded = (size + alignment - 1) / alignment * alignment;
    void* p = std::aligned_alloc(alignment, rounded);
    if (!p)
        throw std::bad_alloc();
    data_.reset(static_cast<std::byte*>(p));
    fill_zero();
}

void AlignedBuffer::fill_zero() noexcept {
    if (size_)
        std::memset(data_.get(), 0, size_);
}

// ---- Device -------------------------------------------------------------------

Device Device::open(const std::string& path, OpenOptions options) {
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0)
        throw_open_error(path, errno, options.write);
    if (!S_ISBLK(st.st_mode) && !S_ISREG(st.st_mode))
        throw DeviceError(DeviceErrorKind::not_block_or_file, path,
                          fmt::format("{}: not a block device or a regular file; give the path "
                                      "of a disk, a partition or an image file",
                                      path));

    Device dev;
    dev.path_ = path;
    dev.block_device_ = S_ISBLK(st.st_mode);
    dev.writable_ = options.write;

    int flags = (options.write ? O_RDWR : O_RDONLY) | O_CLOEXEC;
    if (dev.block_device_ && options.exclusive)
        flags |= O_EXCL;
    dev.direct_ = options.direct;
    dev.fd_ = ::open(path.c_str(), flags | (dev.direct_ ? O_DIRECT : 0));
    if (dev.fd_ < 0 && errno == EINVAL && dev.direct_ && !dev.block_device_) {
        // Some filesystems (tmpfs before Linux 6.6) refuse O_DIRECT: buffered
        // I/O plus fdatasync is as durable for an image file.
        dev.direct_ = false;
        dev.fd_ = ::open(path.c_str(), flags);
    }
    if (dev.fd_ < 0)
        throw_open_error(path, errno, options.write);

    // The path may have changed between stat and open: trust the fd.
    if (::fstat(dev.fd_, &st) != 0)
        throw IoError("stat", path, std::nullopt, errno);
    if (S_ISBLK(st.st_mode) != dev.block_device_ || (!dev.block_device_ && !S_ISREG(st.st_mode)))
        throw DeviceError(DeviceErrorKind::not_block_or_file, path,
                          fmt::format("{}: changed type while being opened; retry", path));

    if (dev.block_device_) {
        uint64_t size = 0;
        int lbs = 0;
        unsigned int pbs = 0;
        if (::ioctl(dev.fd_, BLKGETSIZE64, &size) != 0)
            throw IoError("BLKGETSIZE64", path, std::nullopt, errno);
        if (::ioctl(dev.fd_, BLKSSZGET, &lbs) != 0)
            throw IoError("BLKSSZGET", path, std::nullopt, errno);
        if (::ioctl(dev.fd_, BLKPBSZGET, &pbs) != 0)
            throw IoError("BLKPBSZGET", path, std::nullopt, errno);
        dev.size_bytes_ = size;
        dev.logical_block_size_ = static_cast<uint32_t>(lbs);
        dev.physical_block_size_ = std::max(pbs, static_cast<unsigned int>(lbs));
    } else {
        if (options.exclusive && ::flock(dev.fd_, LOCK_EX | LOCK_NB) != 0) {
            if (errno == EWOULDBLOCK)
                throw DeviceError(DeviceErrorKind::busy, path,
                                  fmt::format("{} is in use (another process holds a lock on "
                                              "it); stop that process and retry",
                                              path));
            throw IoError("flock", path, std::nullopt, errno);
        }
        dev.size_bytes_ = static_cast<uint64_t>(st.st_size);
        dev.logical_block_size_ = 512;
        dev.physical_block_size_ = 4096;
    }
    return dev;
}

Device::Device(Device&& other) noexcept
    : fd_(std::exchange(other.fd_, -1))
    , path_(std::move(other.path_))
    , size_bytes_(other.size_bytes_)
    , logical_block_size_(other.logical_block_size_)
    , physical_block_size_(other.physical_block_size_)
    , block_device_(other.block_device_)
    , writable_(other.writable_)
    , direct_(other.direct_)
    , simulated_bad_ranges_(std::move(other.simulated_bad_ranges_)) {}

Device& Device::operator=(Device&& other) noexcept {
    if (this != &other) {
        close();
        fd_ = std::exchange(other.fd_, -1);
        path_ = std::move(other.path_);
        size_bytes_ = other.size_bytes_;
        logical_block_size_ = other.logical_block_size_;
        physical_block_size_ = other.physical_block_size_;
        block_device_ = other.block_device_;
        writable_ = other.writable_;
        direct_ = other.direct_;
        simulated_bad_ranges_ = std::move(other.simulated_bad_ranges_);
    }
    return *this;
}

Device::~Device() {
    close();
}

void Device::close() noexcept {
    if (fd_ >= 0)
        ::close(fd_); // nothing useful to do on failure: flush() reports write errors
    fd_ = -1;
}

void Device::check_range(const char* operation, uint64_t offset, uint64_t len) const {
    if (offset > size_bytes_ || len > size_bytes_ - offset)
        throw IoError(
            operation, path_, offset, 0,
            fmt::format("{} bytes run past the end of the device ({} bytes)", len, size_bytes_));
}

void Device::check_direct_alignment(const char* operation, uint64_t offset, uint64_t len) const {
    if (direct_ && (offset % logical_block_size_ || len % logical_block_size_))
        throw IoError(operation, path_, offset, EINVAL,
                      fmt::format("direct I/O of {} bytes is not aligned to the logical block "
                                  "size ({} bytes)",
                                  len, logical_block_size_));
}

void Device::read(uint64_t offset, std::span<std::byte> buf) {
    check_range("read", offset, buf.size());
    check_direct_alignment("read", offset, buf.size());
    for (const auto& [bad_offset, bad_len] : simulated_bad_ranges_)
        if (offset < bad_offset + bad_len && bad_offset < offset + buf.size())
            throw IoError("read", path_, std::max(offset, bad_offset), EIO);

    const bool bounce =
        direct_ && reinterpret_cast<uintptr_t>(buf.data()) % AlignedBuffer::alignment;
    AlignedBuffer tmp(bounce ? std::min(buf.size(), chunk_bytes) : 0);
    std::size_t done = 0;
    while (done < buf.size()) {
        std::size_t want = buf.size() - done;
        std::byte* dst = buf.data() + done;
        if (bounce) {
            want = std::min(want, tmp.size());
            dst = tmp.data();
        }
        ssize_t n = ::pread(fd_, dst, want, static_cast<off_t>(offset + done));
        if (n < 0) {
            if (errno == EINTR)
                continue;
            throw IoError("read", path_, offset + done, errno);
        }
        if (n == 0)
            throw IoError("read", path_, offset + done, 0, "unexpected end of file");
        if (bounce)
            std::memcpy(buf.data() + done, tmp.data(), static_cast<std::size_t>(n));
        done += static_cast<std::size_t>(n);
    }
}

void Device::write(uint64_t offset, std::span<const std::byte> buf) {
    if (!writable_)
        throw IoError("write", path_, offset, EBADF, "the device was opened read-only");
    check_range("write", offset, buf.size());
    check_direct_alignment("write", offset, buf.size());

    const bool bounce =
        direct_ && reinterpret_cast<uintptr_t>(buf.data()) % AlignedBuffer::alignment;
    AlignedBuffer tmp(bounce ? std::min(buf.size(), chunk_bytes) : 0);
    std::size_t done = 0;
    while (done < buf.size()) {
        std::size_t want = buf.size() - done;
        const std::byte* src = buf.data() + done;
        if (bounce) {
            want = std::min(want, tmp.size());
            std::memcpy(tmp.data(), src, want);
            src = tmp.data();
        }
        ssize_t n = ::pwrite(fd_, src, want, static_cast<off_t>(offset + done));
        if (n < 0) {
            if (errno == EINTR)
                continue;
            throw IoError("write", path_, offset + done, errno);
        }
        if (n == 0)
            throw IoError("write", path_, offset + done, ENOSPC);
        done += static_cast<std::size_t>(n);
    }
}

void Device::flush() {
    if (::fdatasync(fd_) != 0)
        throw IoError("flush", path_, std::nullopt, errno);
}

void Device::zero(uint64_t offset, uint64_t len) {
    if (!writable_)
        throw IoError("zero", path_, offset, EBADF, "the device was opened read-only");
    check_range("zero", offset, len);
    if (len == 0)
        return;
    if (block_device_) {
        uint64_t range[2] = {offset, len};
        if (::ioctl(fd_, BLKZEROOUT, range) != 0)
            throw IoError("zero", path_, offset, errno);
        return;
    }
    AlignedBuffer zeroes(static_cast<std::size_t>(std::min<uint64_t>(len, chunk_bytes)));
    for (uint64_t done = 0; done < len;) {
        const std::size_t n = static_cast<std::size_t>(std::min<uint64_t>(len - done, chunk_bytes));
        write(offset + done, zeroes.span().first(n));
        done += n;
    }
}

void Device::simulate_read_error(uint64_t offset, uint64_t len) {
    simulated_bad_ranges_.emplace_back(offset, len);
}

} // namespace remapmeta

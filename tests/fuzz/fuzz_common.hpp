// SPDX-License-Identifier: GPL-2.0-only OR MIT
//
// Shared helpers of the libFuzzer targets: an in-memory "device" (a memfd the
// library opens by its /proc path, so the real Device code runs), CRC
// restamping so that fuzzed fields get past the checksum, and a property check
// that aborts, which libFuzzer reports as a crash with the input saved.
#pragma once

#include "remapmeta/device.hpp"
#include "rm_format.h"

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <span>
#include <string>
#include <sys/mman.h>
#include <unistd.h>

namespace fuzz {

// A property the code under test must keep: violated, the input is a bug.
#define FUZZ_CHECK(cond)                                                                           \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            std::fprintf(stderr, "%s:%d: property violated: %s\n", __FILE__, __LINE__, #cond);     \
            std::abort();                                                                          \
        }                                                                                          \
    } while (0)

inline uint64_t get_le(const unsigned char* p, int width) {
    uint64_t v = 0;
    for (int i = 0; i < width; i++)
        v |= static_cast<uint64_t>(p[i]) << (8 * i);
    return v;
}

inline void put_le(unsigned char* p, int width, uint64_t v) {
    for (int i = 0; i < width; i++)
        p[i] = static_cast<unsigned char>(v >> (8 * i));
}

// Stamps a valid CRC32C over the first `len` bytes of a v4 block, as the
// writers do (the crc field counts as zero).
inline void restamp_v4(unsigned char* block, std::size_t len) {
    put_le(block + 8, 4, 0);
    put_le(block + 8, 4, rm_crc32c_final(rm_crc32c(RM_CRC32C_INIT, block, len)));
}

// Restamps a block that claims to be v4 metadata, by its own type field: a
// superblock's CRC covers 512 bytes, a table block's all 4096.
inline void restamp_if_v4(unsigned char* block) {
    if (std::memcmp(block, RM4_MAGIC, RM4_MAGIC_LEN) != 0)
        return;
    const uint64_t type = get_le(block + 12, 2);
    restamp_v4(block, type == RM4_TYPE_SUPERBLOCK ? RM4_SB_CHECKED_BYTES : RM4_BLOCK_SIZE);
}

// An image file in memory, opened through the library's Device.
class MemImage {
public:
    MemImage() {
        fd_ = memfd_create("dm-remap-fuzz", MFD_CLOEXEC);
        if (fd_ < 0) {
            std::perror("memfd_create");
            std::abort();
        }
        path_ = "/proc/self/fd/" + std::to_string(fd_);
    }
    MemImage(const MemImage&) = delete;
    MemImage& operator=(const MemImage&) = delete;
    ~MemImage() { ::close(fd_); }

    // Replaces the contents with `data`, zero-padded to `size` bytes.
    void set(std::span<const unsigned char> data, std::size_t size) {
        if (::ftruncate(fd_, 0) != 0 || ::ftruncate(fd_, static_cast<off_t>(size)) != 0) {
            std::perror("ftruncate");
            std::abort();
        }
        const std::size_t n = data.size() < size ? data.size() : size;
        if (n && ::pwrite(fd_, data.data(), n, 0) != static_cast<ssize_t>(n)) {
            std::perror("pwrite");
            std::abort();
        }
    }
    remapmeta::Device open(bool write = false) const {
        return remapmeta::Device::open(path_, {.write = write});
    }
    const std::string& path() const noexcept { return path_; }

private:
    int fd_ = -1;
    std::string path_;
};

} // namespace fuzz

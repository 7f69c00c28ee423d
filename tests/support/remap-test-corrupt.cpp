// SPDX-License-Identifier: GPL-2.0-only OR MIT
//
// A test-only metadata corrupter for the bad-input VM scenario: writes
// little-endian values into metadata blocks of a spare and, unless told
// otherwise, restamps each edited block's CRC32C so that the kernel's field
// validation is reached (a superblock's CRC covers 512 bytes, a table
// block's 4096; the block's own type field decides).
//
//   remap-test-corrupt [--keep-crc] [--from IMAGE] SPARE [EDIT...]
//
// EDIT is BLOCK:OFFSET:WIDTH:VALUE, WIDTH 1, 2, 4 or 8 bytes, VALUE decimal
// or 0x-hex up to 2^64-1. --from first copies IMAGE over the start of SPARE
// (the pristine metadata, so that each input starts from the same state).
// --keep-crc leaves the old CRC: a bad CRC behind valid-looking fields.
#include "rm_format.h"

#include <array>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <string>
#include <string_view>
#include <unistd.h>
#include <vector>

namespace {

struct Edit {
    uint64_t block, offset, width, value;
};

bool parse_u64(const std::string& s, uint64_t& v) {
    errno = 0;
    char* end = nullptr;
    const unsigned long long x = std::strtoull(s.c_str(), &end, 0);
    if (errno || s.empty() || *end || s[0] == '-')
        return false;
    v = x;
    return true;
}

bool parse_edit(std::string_view arg, Edit& e) {
    uint64_t* fields[] = {&e.block, &e.offset, &e.width, &e.value};
    for (int i = 0; i < 4; i++) {
        const auto colon = arg.find(':');
        if ((colon == std::string_view::npos) != (i == 3))
            return false;
        if (!parse_u64(std::string(arg.substr(0, colon)), *fields[i]))
            return false;
        arg = colon == std::string_view::npos ? std::string_view{} : arg.substr(colon + 1);
    }
    return (e.width == 1 || e.width == 2 || e.width == 4 || e.width == 8) &&
           e.offset + e.width <= RM4_BLOCK_SIZE && e.block < (1ull << 40);
}

int usage() {
    std::fprintf(stderr, "usage: remap-test-corrupt [--keep-crc] [--from IMAGE] SPARE "
                         "BLOCK:OFFSET:WIDTH:VALUE...\n");
    return 16;
}

bool copy_image(const char* from, int fd) {
    const int in = open(from, O_RDONLY);
    if (in < 0) {
        std::perror(from);
        return false;
    }
    std::vector<char> buf(1 << 20);
    off_t off = 0;
    for (;;) {
        const ssize_t n = read(in, buf.data(), buf.size());
        if (n < 0 || (n > 0 && pwrite(fd, buf.data(), static_cast<size_t>(n), off) != n)) {
            std::perror("copy");
            close(in);
            return false;
        }
        if (n == 0)
            break;
        off += n;
    }
    close(in);
    return true;
}

} // namespace

int main(int argc, char** argv) {
    bool keep_crc = false;
    const char* from = nullptr;
    int i = 1;
    for (; i < argc && argv[i][0] == '-'; i++) {
        const std::string_view a = argv[i];
        if (a == "--keep-crc")
            keep_crc = true;
        else if (a == "--from" && i + 1 < argc)
            from = argv[++i];
        else
            return usage();
    }
    if (argc - i < 1)
        return usage();
    const char* spare = argv[i++];
    std::vector<Edit> edits;
    for (; i < argc; i++) {
        Edit e{};
        if (!parse_edit(argv[i], e))
            return usage();
        edits.push_back(e);
    }

    const int fd = open(spare, O_RDWR);
    if (fd < 0) {
        std::perror(spare);
        return 8;
    }
    if (from && !copy_image(from, fd))
        return 8;
    rm_crc32c_init();
    for (const Edit& e : edits) {
        alignas(8) std::array<unsigned char, RM4_BLOCK_SIZE> buf{};
        const auto off = static_cast<off_t>(e.block * RM4_BLOCK_SIZE);
        if (pread(fd, buf.data(), buf.size(), off) != static_cast<ssize_t>(buf.size())) {
            std::perror("pread");
            return 8;
        }
        for (uint64_t b = 0; b < e.width; b++)
            buf[e.offset + b] = static_cast<unsigned char>(e.value >> (8 * b));
        if (!keep_crc) {
            const bool superblock = buf[12] == RM4_TYPE_SUPERBLOCK && buf[13] == 0;
            std::memset(buf.data() + 8, 0, 4);
            const uint32_t crc = rm_crc32c_final(rm_crc32c(
                RM_CRC32C_INIT, buf.data(), superblock ? RM4_SB_CHECKED_BYTES : RM4_BLOCK_SIZE));
            for (int b = 0; b < 4; b++)
                buf[8 + b] = static_cast<unsigned char>(crc >> (8 * b));
        }
        if (pwrite(fd, buf.data(), buf.size(), off) != static_cast<ssize_t>(buf.size())) {
            std::perror("pwrite");
            return 8;
        }
    }
    return fsync(fd) == 0 ? 0 : 8;
}

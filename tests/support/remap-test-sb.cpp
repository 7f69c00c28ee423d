// SPDX-License-Identifier: GPL-2.0-only OR MIT
//
// A test-only superblock editor for the VM scenarios: sets one field in both
// superblock copies and stamps them with a valid CRC, to exercise refusals
// that valid metadata cannot reach (needs_check, newer versions, unknown
// feature bits).
//
//   remap-test-sb <spare> needs_check|version_major|incompat|ro_compat <value>
#include "rm_format.h"

#include <array>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fcntl.h>
#include <string_view>
#include <unistd.h>

int main(int argc, char** argv) {
    if (argc != 4) {
        std::fprintf(stderr, "usage: remap-test-sb <spare> <field> <value>\n");
        return 16;
    }
    const int fd = open(argv[1], O_RDWR);
    if (fd < 0) {
        std::perror(argv[1]);
        return 8;
    }
    const std::string_view field = argv[2];
    const auto value = static_cast<uint32_t>(std::strtoul(argv[3], nullptr, 0));
    for (uint64_t blk = RM4_SB_A_BLOCK; blk <= RM4_SB_B_BLOCK; ++blk) {
        alignas(8) std::array<unsigned char, RM4_BLOCK_SIZE> buf{};
        const auto off = static_cast<off_t>(blk * RM4_BLOCK_SIZE);
        if (pread(fd, buf.data(), buf.size(), off) != static_cast<ssize_t>(buf.size())) {
            std::perror("pread");
            return 8;
        }
        rm4_superblock sb{};
        rm4_problem prob{};
        const rm4_status st = rm4_sb_decode(buf.data(), blk, &sb, &prob);
        // Decode fills every field before it rejects a version or feature.
        if (st != RM4_OK && st != RM4_E_VERSION && st != RM4_E_INCOMPAT) {
            std::fprintf(stderr, "superblock %llu: %s\n", static_cast<unsigned long long>(blk),
                         rm4_status_str(st));
            return 8;
        }
        if (field == "needs_check")
            sb.flags = value ? (sb.flags | RM4_SB_NEEDS_CHECK) : (sb.flags & ~RM4_SB_NEEDS_CHECK);
        else if (field == "version_major")
            sb.version_major = value;
        else if (field == "incompat")
            sb.incompat = value;
        else if (field == "ro_compat")
            sb.ro_compat = value;
        else {
            std::fprintf(stderr, "unknown field '%s'\n", argv[2]);
            return 16;
        }
        rm4_sb_encode(&sb, buf.data());
        if (pwrite(fd, buf.data(), buf.size(), off) != static_cast<ssize_t>(buf.size())) {
            std::perror("pwrite");
            return 8;
        }
    }
    return fsync(fd) == 0 ? 0 : 8;
}

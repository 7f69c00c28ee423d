// SPDX-License-Identifier: GPL-2.0-only OR MIT
//
// Test and benchmark generator: writes a v4 spare image with N remaps and,
// optionally, one kind of damage. Not installed.
//
//   remap-mkimage [--entries N] [--unit BYTES] [--damage KIND] IMAGE
//   remap-mkimage --list-damage
#include "remapmeta/dump.hpp"
#include "remapmeta/errors.hpp"
#include "remapmeta/layout.hpp"
#include "remapmeta/metadata.hpp"

#include <CLI/CLI.hpp>
#include <cstring>
#include <fcntl.h>
#include <fmt/format.h>
#include <unistd.h>

using namespace remapmeta;

namespace {

const std::vector<std::string> kinds = {
    "torn-copy",       "both-copies",   "bad-checksum", "wrong-location", "duplicate-main",
    "duplicate-spare", "beyond-device", "bad-counters", "needs-check",    "unfinished-first-commit",
    "zeroed-copy-a"};

void create(const std::string& path, uint64_t bytes) {
    int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0 || ::ftruncate(fd, static_cast<off_t>(bytes)) != 0)
        throw std::runtime_error("cannot create " + path);
    ::close(fd);
}

std::vector<std::byte> read_block(Device& dev, uint64_t b) {
    std::vector<std::byte> buf(RM4_BLOCK_SIZE);
    dev.read(b * RM4_BLOCK_SIZE, buf);
    return buf;
}

void put_le(std::vector<std::byte>& buf, std::size_t off, int width, uint64_t v) {
    for (int i = 0; i < width; i++)
        buf[off + i] = static_cast<std::byte>(v >> (8 * i));
}

// Stamps the CRC of a hand-edited block, as a buggy writer would.
void restamp(std::vector<std::byte>& buf, std::size_t len) {
    put_le(buf, 8, 4, 0);
    put_le(buf, 8, 4, rm_crc32c_final(rm_crc32c(RM_CRC32C_INIT, buf.data(), len)));
}

} // namespace

int main(int argc, char** argv) {
    uint64_t entries = 300;
    uint32_t unit = 4096;
    std::string damage, path;
    bool list = false;
    CLI::App app{"Make a dm-remap v4 test image, healthy or with one kind of damage"};
    app.add_option("--entries", entries, "remapped entries (plus pending and bad-spare ones)");
    app.add_option("--unit", unit, "remap unit in bytes");
    app.add_option("--damage", damage, "kind of damage")->check(CLI::IsMember(kinds));
    app.add_flag("--list-damage", list, "list the kinds of damage");
    app.add_option("IMAGE", path, "image to create");
    CLI11_PARSE(app, argc, argv);
    if (list) {
        for (const auto& k : kinds)
            fmt::print("{}\n", k);
        return 0;
    }
    if (path.empty()) {
        fmt::print(stderr, "remap-mkimage: IMAGE is required\n");
        return 16;
    }
    try {
        const uint64_t want_pool = entries + 16;
        FormatParams p;
        p.unit_bytes = unit;
        p.main_logical_block_size = 512;
        p.main_physical_block_size = 512;
        p.main_sectors = std::max<uint64_t>((3 * entries + 64) * unit / 512, 1u << 21);
        p.main_identity = "WWN-0x5000c500a1b2c3d4";
        p.uuid = Uuid{0xd0, 0x4e, 0x5a, 0x11, 0x7c, 0x2b, 0x4f, 0x93,
                      0xa6, 0x08, 0x1d, 0xe2, 0x37, 0xc5, 0x90, 0xfa};
        p.format_time = 1700000000;
        p.creator = "remap-mkimage";
        uint64_t bytes = want_pool * unit + 2 * RM4_BLOCK_SIZE +
                         2 * required_table_blocks(want_pool) * RM4_BLOCK_SIZE + 65536;
        Superblock sb{};
        for (;;) {
            p.spare_sectors = bytes / 512;
            sb = plan_layout(p);
            if (sb.pool_blocks >= want_pool)
                break;
            bytes += (want_pool - sb.pool_blocks + 8) * unit;
        }
        create(path, bytes);
        Metadata m = Metadata::empty(sb);
        uint64_t slot = 0;
        for (uint64_t i = 0; i < entries; i++) {
            const uint64_t t = 1700000000 + i;
            if (i % 97 == 5)
                m.slots[slot++] = make_pending(3 * i + 1, RM4_NONE, t, 2);
            else
                m.slots[slot++] =
                    make_remapped(3 * i + 1, i, t, 1, i % 5 == 0 ? RM4_ENTRY_PROACTIVE : 0);
        }
        m.slots[slot++] = make_bad_spare(entries, 1700000000, 3);
        m.slots[slot++] = make_bad_spare(entries + 1, 1700000000, 3);
        Device dev = Device::open(path, {.write = true});
        RestoreEmitter(dev).emit(m);
        m.max_seq = m.sb.seq; // after restore: superblock seq 2, tables seq 1

        auto block_pair = [&](uint64_t k) {
            return std::pair{table_blocknr(m.sb, k, Copy::a), table_blocknr(m.sb, k, Copy::b)};
        };
        if (damage == "torn-copy") {
            // Half of table A block 0 is new, half old: the CRC fails.
            auto b = read_block(dev, block_pair(0).first);
            for (std::size_t i = 2048; i < RM4_BLOCK_SIZE; i++)
                b[i] = std::byte{0x5a};
            dev.write(block_pair(0).first * RM4_BLOCK_SIZE, b);
        } else if (damage == "both-copies") {
            for (uint64_t blk : {block_pair(1).first, block_pair(1).second}) {
                auto b = read_block(dev, blk);
                b[100] ^= std::byte{0xff};
                dev.write(blk * RM4_BLOCK_SIZE, b);
            }
        } else if (damage == "unfinished-first-commit" || damage == "zeroed-copy-a") {
            // Copy B still zeroed: the first commit of table block 0 was cut
            // between its two writes (copy A is written first). Copy A
            // zeroed beside a valid B is no such state: damage.
            const bool b = damage == "unfinished-first-commit";
            const std::vector<std::byte> zero(RM4_BLOCK_SIZE);
            dev.write((b ? block_pair(0).second : block_pair(0).first) * RM4_BLOCK_SIZE, zero);
        } else if (damage == "bad-checksum") {
            auto b = read_block(dev, RM4_SB_B_BLOCK);
            b[200] ^= std::byte{0x01};
            dev.write(RM4_SB_B_BLOCK * RM4_BLOCK_SIZE, b);
        } else if (damage == "wrong-location") {
            auto b = read_block(dev, block_pair(0).second);
            put_le(b, 16, 8, block_pair(0).second + 7);
            restamp(b, RM4_BLOCK_SIZE);
            dev.write(block_pair(0).second * RM4_BLOCK_SIZE, b);
        } else if (damage == "duplicate-main" || damage == "duplicate-spare") {
            Entry& e = m.slots[130];
            if (damage == "duplicate-main")
                e.main_block = m.slots[3].main_block;
            else
                e.spare_block = m.slots[3].spare_block;
            commit_table_block(dev, m, 1);
        } else if (damage == "beyond-device" || damage == "bad-counters") {
            const uint64_t k = damage == "beyond-device" ? 1 : 0;
            for (uint64_t blk : {block_pair(k).first, block_pair(k).second}) {
                auto b = read_block(dev, blk);
                if (damage == "beyond-device") // slot 130: main block past the device
                    put_le(b, 64 + 4 * 32, 8, rm4_main_units(&m.sb) + 5);
                else // used counter off by three
                    put_le(b, 56, 4, RM4_ENTRIES_PER_BLOCK - 3);
                restamp(b, RM4_BLOCK_SIZE);
                dev.write(blk * RM4_BLOCK_SIZE, b);
            }
        } else if (damage == "needs-check") {
            m.sb.flags |= RM4_SB_NEEDS_CHECK;
            write_superblocks(dev, m);
        }
        dev.flush();
    } catch (const std::exception& e) {
        fmt::print(stderr, "remap-mkimage: {}\n", e.what());
        return 8;
    }
    return 0;
}

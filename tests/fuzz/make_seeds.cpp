// SPDX-License-Identifier: GPL-2.0-only OR MIT
//
// Writes the v4 seed corpus of the fuzz targets from real images made with
// the library's own format and commit code: small spares holding entries in
// every state, a fresh format, a needs_check flag, and the damage a crash or
// a bad sector leaves (a torn copy, a stale copy, a lost superblock copy),
// as images (v4-load), block pairs (v4-block) and JSON dumps (restore).
//
//   fuzz-make-seeds CORPUS_DIR     (writes CORPUS_DIR/{v4-load,v4-block,restore}/)
//
// The v3 and status seeds come from tests/fixtures/legacy-v3 and from real
// status lines; tests/fuzz/make-corpus.sh writes those.
#include "fuzz_common.hpp"
#include "remapmeta/dump.hpp"
#include "remapmeta/layout.hpp"
#include "remapmeta/metadata.hpp"

#include <filesystem>
#include <fmt/format.h>
#include <fstream>
#include <vector>

using namespace remapmeta;
namespace fs = std::filesystem;

namespace {

void write_file(const fs::path& p, const std::vector<unsigned char>& bytes) {
    std::ofstream f(p, std::ios::binary | std::ios::trunc);
    f.write(reinterpret_cast<const char*>(bytes.data()),
            static_cast<std::streamsize>(bytes.size()));
    if (!f)
        throw std::runtime_error("cannot write " + p.string());
}

std::vector<unsigned char> read_all(const std::string& path) {
    std::ifstream f(path, std::ios::binary);
    return {std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>()};
}

struct Image {
    std::string name;
    Metadata m;
    std::vector<unsigned char> bytes;
};

Metadata make_model(uint64_t spare_bytes, uint32_t unit, uint64_t entries) {
    FormatParams p;
    p.unit_bytes = unit;
    p.main_logical_block_size = 512;
    p.main_physical_block_size = unit >= 4096 ? 4096 : 512;
    p.main_sectors = 4096 + 7; // a partial last unit
    p.main_identity = "WWN-0x5000c500a1b2c3d4";
    p.spare_sectors = spare_bytes / 512;
    p.uuid = Uuid{0xd0, 0x4e, 0x5a, 0x11, 0x7c, 0x2b, 0x4f, 0x93,
                  0xa6, 0x08, 0x1d, 0xe2, 0x37, 0xc5, 0x90, 0xfa};
    p.format_time = 1700000000;
    p.creator = "fuzz-make-seeds";
    Metadata m = Metadata::empty(plan_layout(p));
    const uint64_t units = rm4_main_units(&m.sb);
    uint64_t slot = 0, spare = 0;
    for (uint64_t i = 0; i < entries && spare + 2 < m.sb.pool_blocks; i++) {
        const uint64_t t = 1700000000 + i;
        const uint64_t main = (7 * i + 1) % units;
        switch (i % 5) {
        case 0:
        case 1:
            m.slots[slot++] = make_remapped(main, spare++, t, 1, i % 2 ? RM4_ENTRY_PROACTIVE : 0);
            break;
        case 2:
            m.slots[slot++] = make_pending(main, RM4_NONE, t, 3);
            break;
        case 3:
            m.slots[slot++] = make_pending(main, spare++, t, 2, RM4_ENTRY_MIGRATED);
            break;
        case 4:
            m.slots[slot++] = make_bad_spare(spare++, t, 4);
            break;
        }
        if (i == 3)
            slot = RM4_ENTRIES_PER_BLOCK < m.slots.size() ? RM4_ENTRIES_PER_BLOCK : slot;
    }
    return m;
}

Image restore(const std::string& name, Metadata m, fuzz::MemImage& mem) {
    mem.set({}, m.sb.spare_sectors * 512);
    Device dev = mem.open(true);
    RestoreEmitter(dev).emit(m);
    return {name, m, read_all(mem.path())};
}

std::vector<unsigned char> block(const Image& img, uint64_t b) {
    const auto* p = img.bytes.data() + b * RM4_BLOCK_SIZE;
    return {p, p + RM4_BLOCK_SIZE};
}

void put_block(Image& img, uint64_t b, const std::vector<unsigned char>& blk) {
    std::copy(blk.begin(), blk.end(), img.bytes.begin() + static_cast<long>(b * RM4_BLOCK_SIZE));
}

} // namespace

int main(int argc, char** argv) {
    if (argc != 2) {
        fmt::print(stderr, "usage: fuzz-make-seeds CORPUS_DIR\n");
        return 16;
    }
    rm_crc32c_init();
    const fs::path out = argv[1];
    for (const char* d : {"v4-load", "v4-block", "restore"})
        fs::create_directories(out / d);

    fuzz::MemImage mem;
    std::vector<Image> images;
    images.push_back(restore("healthy-512", make_model(48 << 10, 512, 12), mem));
    images.push_back(restore("healthy-4k", make_model(96 << 10, 4096, 9), mem));
    images.push_back(restore("fresh", make_model(32 << 10, 512, 0), mem));
    {
        Metadata m = make_model(48 << 10, 512, 6);
        m.sb.flags |= RM4_SB_NEEDS_CHECK;
        images.push_back(restore("needs-check", m, mem));
    }
    const Image base = images[0]; // a copy: images grows below
    const uint64_t ta = base.m.sb.table_a_start, tb = base.m.sb.table_b_start;
    {
        Image img = base; // a write torn halfway through table A block 0
        auto b = block(img, ta);
        std::fill(b.begin() + 2048, b.end(), 0x5a);
        put_block(img, ta, b);
        img.name = "torn-copy";
        images.push_back(img);
    }
    {
        Image img = base; // crash between the two writes of a commit: A newer than B
        Metadata m = img.m;
        m.slots[1] = make_pending(m.slots[1].main_block, m.slots[1].spare_block, 1700000100, 5);
        m.max_seq = 5;
        AlignedBuffer buf(RM4_BLOCK_SIZE);
        const BlockSpan bs(buf.data(), RM4_BLOCK_SIZE);
        encode_table_block(m, 0, 6, Copy::a, bs);
        const auto* p = reinterpret_cast<const unsigned char*>(buf.data());
        put_block(img, ta, {p, p + RM4_BLOCK_SIZE});
        img.name = "stale-copy";
        images.push_back(img);
    }
    {
        Image img = base; // superblock A unreadable garbage, B intact
        auto b = block(img, 0);
        std::fill(b.begin() + 40, b.begin() + 200, 0xff);
        put_block(img, 0, b);
        img.name = "superblock-a-damaged";
        images.push_back(img);
    }
    {
        Image img = base; // valid CRC, insane field: a main block past the device
        auto b = block(img, tb);
        fuzz::put_le(b.data() + 64, 8, rm4_main_units(&img.m.sb) + 5);
        fuzz::restamp_v4(b.data(), RM4_BLOCK_SIZE);
        put_block(img, tb, b);
        auto a = block(img, ta);
        fuzz::put_le(a.data() + 64, 8, rm4_main_units(&img.m.sb) + 5);
        fuzz::restamp_v4(a.data(), RM4_BLOCK_SIZE);
        put_block(img, ta, a);
        img.name = "insane-entry";
        images.push_back(img);
    }

    int n = 0;
    for (const Image& img : images) {
        for (unsigned char mode : {0, 2}) {
            // Trailing zero blocks are left out: fuzz-v4-load pads the
            // image to the spare size superblock A records.
            std::size_t len = img.bytes.size();
            while (len >= RM4_BLOCK_SIZE &&
                   rm4_is_zero(img.bytes.data() + len - RM4_BLOCK_SIZE, RM4_BLOCK_SIZE))
                len -= RM4_BLOCK_SIZE;
            std::vector<unsigned char> in{mode};
            in.insert(in.end(), img.bytes.begin(), img.bytes.begin() + static_cast<long>(len));
            write_file(out / "v4-load" / fmt::format("{}-mode{}", img.name, mode), in);
        }
        for (uint64_t sbn : {0, 1}) {
            const uint64_t tblk = sbn ? img.m.sb.table_b_start : img.m.sb.table_a_start;
            std::vector<unsigned char> in{static_cast<unsigned char>(sbn << 2)};
            in.resize(9);
            fuzz::put_le(in.data() + 1, 8, img.m.sb.spare_sectors);
            const auto s = block(img, sbn), t = block(img, tblk);
            in.insert(in.end(), s.begin(), s.end());
            in.insert(in.end(), t.begin(), t.end());
            write_file(out / "v4-block" / fmt::format("{}-sb{}", img.name, sbn), in);
        }
        if (n++ < 4) { // the damaged images hold the same model as healthy-512
            const std::string json = dump_json(img.m);
            write_file(out / "restore" / fmt::format("{}.json", img.name),
                       {json.begin(), json.end()});
        }
    }
    fmt::print("fuzz-make-seeds: {} images into {}\n", n, out.string());
    return 0;
}

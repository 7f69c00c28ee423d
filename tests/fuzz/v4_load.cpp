// SPDX-License-Identifier: GPL-2.0-only OR MIT
//
// libFuzzer target: the library's v4 metadata load path over a spare image
// made of fuzzed blocks: load() with and without a report (what remapctl
// and the tools use), scan() and salvage() (remap-check, remap-repair).
// Input: one mode byte, then the image (zero-padded to whole 4 KiB blocks,
// at least 4 blocks, at most 1 MiB). Mode bit 0 restamps the CRC of every
// block that carries the v4 magic, so that fuzzed fields reach validation.
// Unless mode bit 1 is set, the image is zero-padded to the spare size that
// block 0 records (up to 1 MiB), so the seeds need not carry the empty pool;
// with bit 1 the device is as long as the input: a truncated spare.
//
// Properties beyond "no crash, no sanitizer report": only the library's own
// exceptions escape; a clean load dumps to JSON that parses back to the same
// entries; salvage always yields a model that passes every invariant.
#include "fuzz_common.hpp"
#include "remapmeta/check.hpp"
#include "remapmeta/dump.hpp"
#include "remapmeta/errors.hpp"
#include "remapmeta/metadata.hpp"

#include <vector>

using namespace remapmeta;

namespace {

constexpr std::size_t min_blocks = 4;
constexpr std::size_t max_bytes = 1u << 20;

void same_entries(const Metadata& a, const Metadata& b) {
    FUZZ_CHECK(a.slots.size() == b.slots.size());
    for (std::size_t i = 0; i < a.slots.size(); i++)
        FUZZ_CHECK(entries_equal(a.slots[i], b.slots[i]));
}

void try_load(Device& dev) {
    LoadReport rep;
    Metadata m;
    try {
        m = load(dev, &rep);
    } catch (const Error&) {
        return;
    }
    FUZZ_CHECK(m.slots.size() == rm4_table_capacity(&m.sb));
    FUZZ_CHECK(rep.table.size() == m.sb.table_blocks);
    for (const auto& f : rep.findings)
        FUZZ_CHECK(!f.message.empty());
    bool threw = false;
    try {
        Metadata again = load(dev);
        same_entries(m, again);
    } catch (const MetadataError&) {
        threw = true;
    }
    FUZZ_CHECK(threw == rep.has_fatal());
    if (rep.has_fatal() || !check_model(m).empty())
        return;
    // A consistent model dumps to JSON that restores to the same entries.
    Metadata parsed = parse_dump(dump_json(m));
    same_entries(m, parsed);
}

void try_scan(Device& dev) {
    ScanResult r;
    try {
        r = scan(dev);
    } catch (const Error&) {
        return;
    }
    for (const auto& f : r.findings)
        FUZZ_CHECK(!f.code.empty() && !f.message.empty());
    SalvageResult s;
    try {
        s = salvage(r);
    } catch (const MetadataError&) {
        return;
    }
    const auto problems = check_model(s.model);
    FUZZ_CHECK(problems.empty());
    FUZZ_CHECK(s.model.slots.size() == rm4_table_capacity(&s.model.sb));
}

} // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
    rm_crc32c_init();
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size < 1)
        return 0;
    const unsigned mode = data[0];
    data++;
    size--;
    if (size > max_bytes)
        size = max_bytes;
    std::size_t bytes = size;
    if (!(mode & 2) && size >= 88) {
        const uint64_t recorded = fuzz::get_le(data + 80, 8); // superblock A's spare_sectors
        if (recorded <= max_bytes / 512 && recorded * 512 > bytes)
            bytes = recorded * 512;
    }
    std::size_t blocks = (bytes + RM4_BLOCK_SIZE - 1) / RM4_BLOCK_SIZE;
    if (blocks < min_blocks)
        blocks = min_blocks;
    std::vector<unsigned char> image(blocks * RM4_BLOCK_SIZE, 0);
    std::memcpy(image.data(), data, size);
    if (mode & 1)
        for (std::size_t b = 0; b < blocks; b++)
            fuzz::restamp_if_v4(image.data() + b * RM4_BLOCK_SIZE);

    static fuzz::MemImage mem;
    mem.set(image, image.size());
    Device dev = mem.open();
    try_load(dev);
    try_scan(dev);
    return 0;
}

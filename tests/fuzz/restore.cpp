// SPDX-License-Identifier: GPL-2.0-only OR MIT
//
// libFuzzer target: the JSON dump parser behind `remap-repair --restore`
// (parse_dump), then the restore writer. Input: the JSON text.
//
// Properties beyond "no crash, no sanitizer report": only DumpError (or
// another library error) escapes; a dump that parses dumps again to JSON
// that parses to the same model; restored onto an image of the size it
// names (when that is small), it loads back to the same entries.
#include "fuzz_common.hpp"
#include "remapmeta/dump.hpp"
#include "remapmeta/errors.hpp"
#include "remapmeta/metadata.hpp"

#include <string_view>

using namespace remapmeta;

namespace {

constexpr uint64_t max_restore_bytes = 4u << 20;

void same_model(const Metadata& a, const Metadata& b) {
    FUZZ_CHECK(superblock_differences(a.sb, b.sb).empty());
    FUZZ_CHECK(a.slots.size() == b.slots.size());
    for (std::size_t i = 0; i < a.slots.size(); i++)
        FUZZ_CHECK(entries_equal(a.slots[i], b.slots[i]));
}

} // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
    rm_crc32c_init();
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    Metadata m;
    try {
        m = parse_dump(text);
    } catch (const Error&) {
        return 0;
    }
    FUZZ_CHECK(m.slots.size() == rm4_table_capacity(&m.sb));
    const Metadata again = parse_dump(dump_json(m));
    same_model(m, again);

    if (m.sb.spare_sectors * 512 > max_restore_bytes)
        return 0;
    static fuzz::MemImage mem;
    mem.set({}, m.sb.spare_sectors * 512);
    Device dev = mem.open(true);
    try {
        RestoreEmitter(dev).emit(m);
    } catch (const Error&) {
        // A refusal comes before anything is written: the image is still zero.
        AlignedBuffer buf(RM4_BLOCK_SIZE);
        for (uint64_t off = 0; off + RM4_BLOCK_SIZE <= dev.size_bytes(); off += RM4_BLOCK_SIZE) {
            dev.read(off, buf.span());
            FUZZ_CHECK(rm4_is_zero(buf.data(), RM4_BLOCK_SIZE));
        }
        return 0;
    }
    const Metadata loaded = load(dev);
    FUZZ_CHECK(loaded.slots.size() == m.slots.size());
    for (std::size_t i = 0; i < m.slots.size(); i++)
        FUZZ_CHECK(entries_equal(m.slots[i], loaded.slots[i]));
    return 0;
}

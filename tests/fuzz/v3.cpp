// SPDX-License-Identifier: GPL-2.0-only OR MIT
//
// libFuzzer target: the legacy v3 reader (libremapmeta/src/v3.cpp) over a
// fuzzed metadata area. Input: one mode byte, two 8-byte values for the
// spare area, then the image (zero-padded to the 8 KiB metadata area; longer
// inputs make a larger device). Mode bit 0 restamps the v3 checksum so that
// the structural rules are reached with a verified checksum; bit 1 passes
// the spare area.
//
// Properties beyond "no crash, no sanitizer report": only the library's own
// exceptions escape; the verdict is "valid" exactly when no fatal finding
// was made; every finding names its code; at most 252 entries are read.
#include "remapmeta/v3.hpp"

#include "fuzz_common.hpp"
#include "remapmeta/errors.hpp"

#include <algorithm>
#include <array>
#include <optional>
#include <vector>

using namespace remapmeta;

namespace {

constexpr std::size_t area = v3::metadata_sectors * 512;
constexpr std::size_t max_bytes = 64u << 10;

// The checksum as the 3.x writer computed it, over entry_count entries.
void restamp_v3(unsigned char* d) {
    uint32_t n = static_cast<uint32_t>(fuzz::get_le(d + 32, 4));
    n = std::min<uint32_t>(n, v3::max_entries);
    std::array<unsigned char, v3::struct_bytes> hdr{};
    std::memcpy(hdr.data(), d, v3::header_bytes);
    std::memset(hdr.data() + 12, 0, 4);
    uint32_t crc = v3::crc32_le(0, hdr.data() + 4, v3::struct_bytes - 4);
    crc = v3::crc32_le(crc, d + v3::header_bytes, 16u * n);
    fuzz::put_le(d + 12, 4, crc);
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size < 17)
        return 0;
    const unsigned mode = data[0];
    const uint64_t start = fuzz::get_le(data + 1, 8);
    const uint64_t len = fuzz::get_le(data + 9, 8);
    data += 17;
    size = std::min(size - 17, max_bytes);
    std::vector<unsigned char> image(std::max(size, area), 0);
    std::memcpy(image.data(), data, size);
    if (mode & 1)
        restamp_v3(image.data());

    static fuzz::MemImage mem;
    mem.set(image, image.size());
    Device dev = mem.open();
    bool magic = false;
    try {
        magic = v3::is_v3(dev);
    } catch (const Error&) {
    }
    v3::Image img;
    try {
        img = (mode & 2) ? v3::read(dev, start, len) : v3::read(dev);
    } catch (const NotMetadataError&) {
        FUZZ_CHECK(!magic);
        return 0;
    }
    FUZZ_CHECK(magic);
    FUZZ_CHECK(img.entries.size() <= v3::max_entries);
    const bool fatal =
        std::any_of(img.findings.begin(), img.findings.end(),
                    [](const CheckFinding& f) { return f.severity == Severity::fatal; });
    FUZZ_CHECK(img.valid() == !fatal);
    for (const auto& f : img.findings)
        FUZZ_CHECK(!f.code.empty() && !f.message.empty());
    if (img.spare_start && img.spare_len)
        FUZZ_CHECK(*img.spare_len > 0 || (mode & 2));
    FUZZ_CHECK(!v3::state_name(img.header.state).empty());
    return 0;
}

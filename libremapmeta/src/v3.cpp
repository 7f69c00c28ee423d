// SPDX-License-Identifier: GPL-2.0-only OR MIT
#include "remapmeta/v3.hpp"

#include "remapmeta/errors.hpp"

#include <algorithm>
#include <array>
#include <cstring>
#include <fmt/format.h>

namespace remapmeta::v3 {

namespace {

constexpr std::array<uint32_t, 256> make_table() {
    std::array<uint32_t, 256> t{};
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int j = 0; j < 8; j++)
            c = (c >> 1) ^ (0xedb88320u & (0u - (c & 1u)));
        t[i] = c;
    }
    return t;
}
constexpr auto crc_table = make_table();

uint64_t le(const std::byte* p, int width) {
    uint64_t v = 0;
    for (int i = 0; i < width; i++)
        v |= static_cast<uint64_t>(p[i]) << (8 * i);
    return v;
}

} // namespace

uint32_t crc32_le(uint32_t crc, const void* buf, std::size_t len) noexcept {
    const auto* p = static_cast<const unsigned char*>(buf);
    while (len--)
        crc = (crc >> 8) ^ crc_table[(crc ^ *p++) & 0xff];
    return crc;
}

std::string_view state_name(uint32_t state) noexcept {
    switch (state) {
    case 0:
        return "clean";
    case 1:
        return "dirty";
    case 2:
        return "writing";
    case 3:
        return "error";
    }
    return "unknown";
}

bool is_v3(Device& dev) {
    if (dev.size_bytes() < 512)
        return false;
    AlignedBuffer b(512);
    dev.read(0, b.span());
    return !std::memcmp(b.data(), RM3_MAGIC, RM4_MAGIC_LEN);
}

Image read(Device& dev, std::optional<uint64_t> spare_start, std::optional<uint64_t> spare_len) {
    const std::size_t area = metadata_sectors * 512;
    if (dev.size_bytes() < area)
        throw NotMetadataError(fmt::format("{}: {} bytes is too small to hold dm-remap v3 metadata "
                                           "({} bytes); is this the spare device?",
                                           dev.path(), dev.size_bytes(), area));
    AlignedBuffer buf(area);
    dev.read(0, buf.span());
    const std::byte* d = buf.data();
    if (std::memcmp(d, RM3_MAGIC, RM4_MAGIC_LEN))
        throw NotMetadataError(fmt::format(
            "{}: no dm-remap v3 metadata (block 0 does not start with DMREMAP3)", dev.path()));

    Image img;
    Header& h = img.header;
    h.magic.assign(reinterpret_cast<const char*>(d), 8);
    h.version = static_cast<uint32_t>(le(d + 8, 4));
    h.checksum = static_cast<uint32_t>(le(d + 12, 4));
    h.creation_time = le(d + 16, 8);
    h.last_update_time = le(d + 24, 8);
    h.entry_count = static_cast<uint32_t>(le(d + 32, 4));
    h.max_entries = static_cast<uint32_t>(le(d + 36, 4));
    h.main_device_size = le(d + 40, 8);
    h.spare_device_size = le(d + 48, 8);
    h.state = static_cast<uint32_t>(le(d + 56, 4));
    h.generation = static_cast<uint32_t>(le(d + 60, 4));
    h.total_remaps_created = le(d + 64, 8);

    std::vector<std::string> reasons; // verdict reasons, in rule order
    auto fail = [&](const std::string& reason, std::string code, std::string field,
                    std::string message, std::optional<uint64_t> index = std::nullopt,
                    std::optional<uint64_t> main = std::nullopt) {
        if (std::find(reasons.begin(), reasons.end(), reason) == reasons.end())
            reasons.push_back(reason);
        CheckFinding f;
        f.severity = Severity::fatal;
        f.code = std::move(code);
        f.block = 0;
        f.field = std::move(field);
        f.message = std::move(message);
        f.slot = index;
        f.main_block = main;
        img.findings.push_back(std::move(f));
    };

    if (h.version != 1)
        fail("version", "v3-version", "version",
             fmt::format("v3 header: version is {}, expected 1", h.version));

    // Entries: entry_count of them; a count beyond the 252 the area holds is
    // itself an error, and then the entries are read up to the first empty
    // one (a valid entry is never all zero: its spare sector is >= 16).
    uint32_t n = h.entry_count;
    if (h.entry_count > max_entries || h.entry_count > h.max_entries) {
        fail("entry-count", "v3-entry-count", "entry_count",
             fmt::format("v3 header: entry_count {} exceeds {} (max_entries {}, the area holds "
                         "{})",
                         h.entry_count, std::min<uint32_t>(max_entries, h.max_entries),
                         h.max_entries, max_entries));
        n = 0;
        while (n < max_entries && !rm4_is_zero(d + header_bytes + 16u * n, 16))
            n++;
    }
    for (uint32_t i = 0; i < n; i++)
        img.entries.push_back(
            {le(d + header_bytes + 16u * i, 8), le(d + header_bytes + 16u * i + 8, 8)});

    // Checksum: bytes 4..4103 of the header struct (field zeroed; bytes
    // 4096..4103 are the struct's zero tail, not entry 0), then the entries.
    {
        std::array<unsigned char, struct_bytes> hdr{};
        std::memcpy(hdr.data(), d, header_bytes);
        std::memset(hdr.data() + 12, 0, 4);
        uint32_t crc = crc32_le(0, hdr.data() + 4, struct_bytes - 4);
        crc = crc32_le(crc, d + header_bytes, 16u * n);
        img.checksum_verified = crc == h.checksum;
    }

    for (uint32_t i = 0; i < n; i++) {
        const Entry& e = img.entries[i];
        if (e.main_sector >= h.main_device_size)
            fail("main-out-of-range", "v3-main-out-of-range", "main_sector",
                 fmt::format("entry {}: main sector {} is beyond the main device ({} sectors)", i,
                             e.main_sector, h.main_device_size),
                 i, e.main_sector);
        if (e.spare_sector >= h.spare_device_size)
            fail("spare-out-of-range", "v3-spare-out-of-range", "spare_sector",
                 fmt::format("entry {} (main sector {}): spare sector {} is beyond the spare "
                             "device ({} sectors)",
                             i, e.main_sector, e.spare_sector, h.spare_device_size),
                 i, e.main_sector);
        else if (e.spare_sector < metadata_sectors)
            fail("spare-in-metadata", "v3-spare-in-metadata", "spare_sector",
                 fmt::format("entry {} (main sector {}): spare sector {} lies in the metadata "
                             "area (sectors 0-15)",
                             i, e.main_sector, e.spare_sector),
                 i, e.main_sector);
        else if (spare_start && spare_len &&
                 (e.spare_sector < *spare_start || e.spare_sector - *spare_start >= *spare_len))
            fail("outside-spare-area", "v3-outside-spare-area", "spare_sector",
                 fmt::format("entry {} (main sector {}): spare sector {} is outside the spare "
                             "area [{}, {})",
                             i, e.main_sector, e.spare_sector, *spare_start,
                             *spare_start + *spare_len),
                 i, e.main_sector);
    }
    auto dup = [&](bool by_main) {
        std::vector<std::pair<uint64_t, uint32_t>> keys;
        for (uint32_t i = 0; i < n; i++)
            keys.emplace_back(by_main ? img.entries[i].main_sector : img.entries[i].spare_sector,
                              i);
        std::sort(keys.begin(), keys.end());
        for (std::size_t i = 1; i < keys.size(); i++)
            if (keys[i].first == keys[i - 1].first)
                fail(by_main ? "duplicate-main" : "duplicate-spare",
                     by_main ? "v3-duplicate-main" : "v3-duplicate-spare",
                     by_main ? "main_sector" : "spare_sector",
                     fmt::format("entries {} and {} share {} sector {}", keys[i - 1].second,
                                 keys[i].second, by_main ? "main" : "spare", keys[i].first),
                     keys[i].second, img.entries[keys[i].second].main_sector);
    };
    dup(true);
    dup(false);

    if (!img.checksum_verified) {
        CheckFinding f;
        f.severity = Severity::non_fatal;
        f.code = "v3-checksum-unverified";
        f.field = "checksum";
        f.message = fmt::format("v3 header: checksum {:#010x} does not verify; images updated "
                                "more than once carry a checksum no reader can reproduce, so "
                                "this alone is not damage (warning)",
                                h.checksum);
        img.findings.push_back(std::move(f));
    }

    if (spare_start && spare_len) {
        img.spare_start = spare_start;
        img.spare_len = spare_len;
    } else if (!img.entries.empty()) {
        uint64_t lo = UINT64_MAX, hi = 0;
        for (const auto& e : img.entries) {
            lo = std::min(lo, e.spare_sector);
            hi = std::max(hi, e.spare_sector);
        }
        lo = std::max<uint64_t>(lo, metadata_sectors);
        if (hi >= lo) {
            img.spare_start = lo;
            img.spare_len = hi - lo + 1;
            img.spare_area_inferred = true;
        }
    }
    img.verdict = reasons.empty() ? "valid" : "invalid:" + reasons.front();
    return img;
}

} // namespace remapmeta::v3

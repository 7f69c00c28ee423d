// SPDX-License-Identifier: GPL-2.0-only OR MIT
#include "remapmeta/layout.hpp"

#include "remapmeta/errors.hpp"

#include <algorithm>
#include <ctime>
#include <fmt/format.h>

#ifndef REMAPMETA_VERSION
#error "REMAPMETA_VERSION must be defined by the build"
#endif

namespace remapmeta {

namespace {

// Metadata blocks before the pool with `table_blocks` per copy.
constexpr uint64_t metadata_blocks(uint64_t table_blocks) {
    return RM4_SB_B_BLOCK + 1 + 2 * table_blocks;
}

constexpr uint64_t align_up(uint64_t v, uint64_t align) {
    return (v + align - 1) / align * align;
}

constexpr bool is_pow2(uint64_t v) {
    return v && !(v & (v - 1));
}

uint64_t pool_alignment(uint32_t unit, uint32_t spare_pbs) {
    return std::max<uint64_t>({unit, spare_pbs, RM4_BLOCK_SIZE});
}

void check_ascii(std::string_view name, std::string_view value, std::size_t max_len) {
    if (value.size() > max_len)
        throw ParameterError(std::string(name),
                             fmt::format("{} '{}' is {} bytes long; at most {} fit", name, value,
                                         value.size(), max_len));
    for (char c : value)
        if (c < 0x20 || c > 0x7e)
            throw ParameterError(std::string(name),
                                 fmt::format("{} must be printable ASCII (found byte {:#04x})",
                                             name, static_cast<unsigned char>(c)));
}

void check_block_sizes(std::string_view device, uint32_t lbs, uint32_t pbs, uint32_t max_lbs) {
    if (!is_pow2(lbs) || lbs < 512 || lbs > max_lbs)
        throw ParameterError(fmt::format("{}_logical_block_size", device),
                             fmt::format("{} logical block size {} is not supported (a power of "
                                         "two from 512 to {})",
                                         device, lbs, max_lbs));
    if (!is_pow2(pbs) || pbs < lbs || pbs > (1u << 20))
        throw ParameterError(fmt::format("{}_physical_block_size", device),
                             fmt::format("{} physical block size {} is not supported (a power of "
                                         "two, at least the logical block size {})",
                                         device, pbs, lbs));
}

} // namespace

std::string default_creator() {
    std::string s = "remapmeta " REMAPMETA_VERSION;
    s.resize(std::min<std::size_t>(s.size(), RM4_CREATOR_LEN));
    return s;
}

uint32_t effective_unit(const FormatParams& p) noexcept {
    return p.unit_bytes ? p.unit_bytes : std::max(p.main_physical_block_size, RM4_UNIT_DEFAULT_MIN);
}

uint64_t minimum_spare_bytes(uint32_t unit_bytes, uint32_t spare_physical_block_size) noexcept {
    const uint64_t align = pool_alignment(unit_bytes, spare_physical_block_size);
    return align_up(metadata_blocks(2) * RM4_BLOCK_SIZE, align) + unit_bytes;
}

uint64_t required_table_blocks(uint64_t pool_blocks) noexcept {
    const uint64_t entries =
        pool_blocks + std::max<uint64_t>(RM4_ENTRIES_PER_BLOCK, pool_blocks / 8);
    return (entries + RM4_ENTRIES_PER_BLOCK - 1) / RM4_ENTRIES_PER_BLOCK;
}

Superblock plan_layout(const FormatParams& p) {
    if (p.main_sectors == 0)
        throw ParameterError("main_sectors", "the main device is empty (0 sectors)");
    check_block_sizes("main", p.main_logical_block_size, p.main_physical_block_size, RM4_UNIT_MAX);
    // Metadata is read and written in 4 KiB blocks.
    check_block_sizes("spare", p.spare_logical_block_size, p.spare_physical_block_size,
                      RM4_BLOCK_SIZE);
    check_ascii("main_identity", p.main_identity, RM4_IDENTITY_LEN);
    check_ascii("creator", p.creator, RM4_CREATOR_LEN);

    const uint32_t unit = effective_unit(p);
    if (!is_pow2(unit) || unit < RM4_UNIT_MIN || unit > RM4_UNIT_MAX)
        throw ParameterError("unit_bytes",
                             fmt::format("remap unit of {} bytes: must be a power of two from {} "
                                         "to {}",
                                         unit, RM4_UNIT_MIN, RM4_UNIT_MAX));
    if (unit < p.main_logical_block_size || unit < p.spare_logical_block_size)
        throw ParameterError(
            "unit_bytes",
            fmt::format("remap unit of {} bytes is smaller than a logical block "
                        "(main {} bytes, spare {} bytes); choose at least {}",
                        unit, p.main_logical_block_size, p.spare_logical_block_size,
                        std::max(p.main_logical_block_size, p.spare_logical_block_size)));

    const Uuid uuid = p.uuid ? *p.uuid : generate_uuid();
    if (std::all_of(uuid.begin(), uuid.end(), [](uint8_t b) { return b == 0; }))
        throw ParameterError("uuid", "the format UUID must not be all zeroes");

    const uint64_t spare_bytes = p.spare_sectors * 512;
    const uint64_t min_bytes = minimum_spare_bytes(unit, p.spare_physical_block_size);
    if (spare_bytes < min_bytes)
        throw DeviceError(DeviceErrorKind::too_small, "",
                          fmt::format("the spare device is too small: {} bytes; at least {} bytes "
                                      "({} sectors) are needed with a {}-byte remap unit",
                                      spare_bytes, min_bytes, (min_bytes + 511) / 512, unit));

    const uint64_t align = pool_alignment(unit, p.spare_physical_block_size);
    auto pool_start_bytes = [&](uint64_t t) {
        return align_up(metadata_blocks(t) * RM4_BLOCK_SIZE, align);
    };
    auto pool_blocks_for = [&](uint64_t t) -> uint64_t {
        const uint64_t start = pool_start_bytes(t);
        return start >= spare_bytes ? 0 : (spare_bytes - start) / unit;
    };
    // Bigger tables leave a smaller pool that needs smaller tables. The
    // number of blocks a table with t blocks needs never grows with t, so
    // the smallest t that satisfies itself (and so the biggest pool) is
    // found by bisection between 2 and what the tables need at t = 2.
    auto fits = [&](uint64_t t) { return t >= required_table_blocks(pool_blocks_for(t)); };
    uint64_t lo = 2;
    uint64_t hi = std::max<uint64_t>(2, required_table_blocks(pool_blocks_for(2)));
    while (lo < hi) {
        const uint64_t mid = lo + (hi - lo) / 2;
        if (fits(mid))
            hi = mid;
        else
            lo = mid + 1;
    }
    const uint64_t table_blocks = lo;
    const uint64_t pool_blocks = pool_blocks_for(table_blocks);
    if (pool_blocks == 0)
        throw DeviceError(DeviceErrorKind::too_small, "",
                          fmt::format("the spare device is too small: {} bytes leave no room for "
                                      "a pool; at least {} bytes are needed",
                                      spare_bytes, min_bytes));

    Superblock sb{};
    sb.blocknr = RM4_SB_A_BLOCK;
    sb.seq = 1;
    std::copy(uuid.begin(), uuid.end(), sb.uuid);
    sb.version_major = RM4_VERSION_MAJOR;
    sb.version_minor = RM4_VERSION_MINOR;
    sb.unit_bytes = unit;
    sb.spare_sectors = p.spare_sectors;
    sb.pool_start = pool_start_bytes(table_blocks) / 512;
    sb.pool_blocks = pool_blocks;
    sb.table_a_start = RM4_SB_B_BLOCK + 1;
    sb.table_b_start = sb.table_a_start + table_blocks;
    sb.table_blocks = table_blocks;
    sb.format_time = p.format_time ? *p.format_time : static_cast<uint64_t>(std::time(nullptr));
    sb.main_sectors = p.main_sectors;
    sb.main_logical_block_size = p.main_logical_block_size;
    sb.main_physical_block_size = p.main_physical_block_size;
    std::copy(p.main_identity.begin(), p.main_identity.end(), sb.main_identity);
    std::copy(p.creator.begin(), p.creator.end(), sb.creator);

    rm4_problem prob{};
    if (rm4_sb_check_geometry(&sb, p.spare_sectors, &prob) != RM4_OK)
        throw MetadataError(prob.status, std::nullopt, "planned layout", prob.field, prob.value);
    return sb;
}

} // namespace remapmeta

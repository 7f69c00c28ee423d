// SPDX-License-Identifier: GPL-2.0-only OR MIT
#include "remapmeta/format.hpp"

#include "remapmeta/errors.hpp"

#include <cerrno>
#include <cstring>
#include <fmt/format.h>
#include <sys/random.h>

namespace remapmeta {

std::string uuid_to_string(const uint8_t* u) {
    return fmt::format("{:02x}{:02x}{:02x}{:02x}-{:02x}{:02x}-{:02x}{:02x}-{:02x}{:02x}-"
                       "{:02x}{:02x}{:02x}{:02x}{:02x}{:02x}",
                       u[0], u[1], u[2], u[3], u[4], u[5], u[6], u[7], u[8], u[9], u[10], u[11],
                       u[12], u[13], u[14], u[15]);
}

Uuid parse_uuid(std::string_view text) {
    auto fail = [&]() {
        return ParameterError("uuid", fmt::format("'{}' is not a UUID (expected the form "
                                                  "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx)",
                                                  text));
    };
    auto hex = [](char c) -> int {
        if (c >= '0' && c <= '9')
            return c - '0';
        if (c >= 'a' && c <= 'f')
            return c - 'a' + 10;
        if (c >= 'A' && c <= 'F')
            return c - 'A' + 10;
        return -1;
    };
    if (text.size() != 36)
        throw fail();
    Uuid out{};
    std::size_t n = 0;
    for (std::size_t i = 0; i < text.size();) {
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (text[i] != '-')
                throw fail();
            i++;
            continue;
        }
        int hi = hex(text[i]);
        int lo = hex(text[i + 1]);
        if (hi < 0 || lo < 0)
            throw fail();
        out[n++] = static_cast<uint8_t>(hi << 4 | lo);
        i += 2;
    }
    return out;
}

Uuid generate_uuid() {
    Uuid u{};
    std::size_t got = 0;
    while (got < u.size()) {
        ssize_t n = ::getrandom(u.data() + got, u.size() - got, 0);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            throw IoError("getrandom", "uuid", std::nullopt, errno);
        }
        got += static_cast<std::size_t>(n);
    }
    u[6] = static_cast<uint8_t>((u[6] & 0x0f) | 0x40); // version 4
    u[8] = static_cast<uint8_t>((u[8] & 0x3f) | 0x80); // variant RFC 4122
    return u;
}

std::string_view state_name(uint8_t state) noexcept {
    switch (state) {
    case RM4_STATE_FREE:
        return "free";
    case RM4_STATE_REMAPPED:
        return "remapped";
    case RM4_STATE_PENDING:
        return "pending";
    case RM4_STATE_BAD_SPARE:
        return "bad-spare";
    default:
        return "unknown";
    }
}

std::string block_role(const Superblock& sb, uint64_t blocknr) {
    if (blocknr == RM4_SB_A_BLOCK)
        return "superblock A";
    if (blocknr == RM4_SB_B_BLOCK)
        return "superblock B";
    if (blocknr >= sb.table_a_start && blocknr - sb.table_a_start < sb.table_blocks)
        return fmt::format("table A block {}", blocknr - sb.table_a_start);
    if (blocknr >= sb.table_b_start && blocknr - sb.table_b_start < sb.table_blocks)
        return fmt::format("table B block {}", blocknr - sb.table_b_start);
    const uint64_t unit_sectors = sb.unit_bytes >> 9;
    const uint64_t first_sector = blocknr * RM4_BLOCK_SECTORS;
    if (unit_sectors && sb.pool_blocks && first_sector + RM4_BLOCK_SECTORS > sb.pool_start &&
        first_sector < sb.pool_start + sb.pool_blocks * unit_sectors)
        return "pool";
    return "unused";
}

bool entries_equal(const Entry& a, const Entry& b) noexcept {
    return a.main_block == b.main_block && a.spare_block == b.spare_block &&
           a.event_time == b.event_time && a.error_count == b.error_count && a.state == b.state &&
           a.flags == b.flags;
}

std::vector<std::string> superblock_differences(const Superblock& a, const Superblock& b,
                                                bool compare_location_and_seq) {
    std::vector<std::string> out;
    auto cmp = [&](const char* name, auto x, auto y) {
        if (x != y)
            out.emplace_back(name);
    };
#define RM_CMP(field) cmp(#field, a.field, b.field)
    if (compare_location_and_seq) {
        RM_CMP(blocknr);
        RM_CMP(seq);
    }
    if (std::memcmp(a.uuid, b.uuid, sizeof(a.uuid)) != 0)
        out.emplace_back("uuid");
    RM_CMP(version_major);
    RM_CMP(version_minor);
    RM_CMP(incompat);
    RM_CMP(ro_compat);
    RM_CMP(compat);
    RM_CMP(flags);
    RM_CMP(unit_bytes);
    RM_CMP(spare_sectors);
    RM_CMP(pool_start);
    RM_CMP(pool_blocks);
    RM_CMP(table_a_start);
    RM_CMP(table_b_start);
    RM_CMP(table_blocks);
    RM_CMP(format_time);
    RM_CMP(main_sectors);
    RM_CMP(main_logical_block_size);
    RM_CMP(main_physical_block_size);
    cmp("main_identity", std::string_view(a.main_identity), std::string_view(b.main_identity));
    RM_CMP(scan_cursor);
    RM_CMP(scan_pass);
    cmp("creator", std::string_view(a.creator), std::string_view(b.creator));
#undef RM_CMP
    return out;
}

rm4_status validate_entry(const Superblock& sb, const Entry& e, rm4_problem* prob) {
    // Encode into a scratch table block and decode it back: the one
    // validation the kernel also runs. Only entry 0 is written and read, so
    // the rest of the block is left uninitialised (this runs per set_entry).
    alignas(8) std::array<std::byte, RM4_BLOCK_SIZE> scratch;
    rm4_entry_encode(scratch.data(), 0, &e);
    Entry decoded{};
    rm4_status s = rm4_entry_decode(scratch.data(), 0, &sb, &decoded, prob);
    if (s == RM4_OK && !entries_equal(decoded, e)) {
        // Only a FREE entry with non-zero fields changes on encoding.
        if (prob)
            *prob = {RM4_E_FIELD, "free_entry", 0};
        return RM4_E_FIELD;
    }
    return s;
}

Entry make_remapped(uint64_t main_block, uint64_t spare_block, uint64_t event_time,
                    uint32_t error_count, uint8_t flags) noexcept {
    Entry e{};
    e.main_block = main_block;
    e.spare_block = spare_block;
    e.event_time = event_time;
    e.error_count = error_count;
    e.state = RM4_STATE_REMAPPED;
    e.flags = flags;
    return e;
}

Entry make_pending(uint64_t main_block, uint64_t spare_block, uint64_t event_time,
                   uint32_t error_count, uint8_t flags) noexcept {
    Entry e = make_remapped(main_block, spare_block, event_time, error_count, flags);
    e.state = RM4_STATE_PENDING;
    return e;
}

Entry make_bad_spare(uint64_t spare_block, uint64_t event_time, uint32_t error_count) noexcept {
    Entry e = make_remapped(RM4_NONE, spare_block, event_time, error_count, 0);
    e.state = RM4_STATE_BAD_SPARE;
    return e;
}

} // namespace remapmeta

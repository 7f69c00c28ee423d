// SPDX-License-Identifier: GPL-2.0-only OR MIT
#include "remapmeta/migrate.hpp"

#include "remapmeta/errors.hpp"
#include "remapmeta/layout.hpp"
#include "remapmeta/metadata.hpp"

#include <algorithm>
#include <cstring>
#include <fmt/format.h>
#include <map>

namespace remapmeta::migrate {

Interrupted::Interrupted(uint64_t writes)
    : std::runtime_error(fmt::format("migration interrupted after write {} (test hook)", writes))
    , writes_(writes) {}

namespace {

constexpr uint64_t sectors_per_block = RM4_BLOCK_SIZE / 512;

uint64_t div_up(uint64_t a, uint64_t b) {
    return (a + b - 1) / b;
}

// Places table copies for a pool [pool_start, pool_start + pool) of 512-byte
// units: in the gap between v3's metadata area and the pool when both fit
// there, else right after the pool. False when neither fits.
bool place_tables(uint64_t spare_sectors, uint64_t pool_start, uint64_t pool, Superblock& sb,
                  uint64_t unit_sectors = 1, bool allow_gap = true) {
    const uint64_t t = required_table_blocks(pool);
    const uint64_t gap_first = 2; // blocks 0-1: the superblocks (v3's metadata area)
    const uint64_t gap_end = pool_start / sectors_per_block;
    if (allow_gap && gap_end >= gap_first && gap_end - gap_first >= 2 * t) {
        sb.table_a_start = gap_first;
        sb.table_b_start = gap_first + t;
        sb.table_blocks = t;
        return true;
    }
    const uint64_t after = div_up(pool_start + pool * unit_sectors, sectors_per_block);
    const uint64_t total = spare_sectors / sectors_per_block;
    if (after <= total && total - after >= 2 * t) {
        sb.table_a_start = after;
        sb.table_b_start = after + t;
        sb.table_blocks = t;
        return true;
    }
    return false;
}

// Every write of the migration goes through here, so the test hook can
// stop after any one of them.
class Writer {
public:
    Writer(Device& dev, std::optional<uint64_t> stop)
        : dev_(dev)
        , stop_(stop) {}
    void write(uint64_t offset, std::span<const std::byte> buf) {
        dev_.write(offset, buf);
        ++count_;
        if (stop_ && count_ >= *stop_)
            throw Interrupted(count_);
    }
    void flush() { dev_.flush(); }

private:
    Device& dev_;
    std::optional<uint64_t> stop_;
    uint64_t count_ = 0;
};

} // namespace

Plan plan(Device& spare, Device& main, const Options& opt) {
    Plan p;
    if (opt.spare_start.has_value() != opt.spare_len.has_value())
        throw Refused("--spare-start and --spare-len go together: give both or neither");
    if (!v3::is_v3(spare))
        throw Refused(
            fmt::format("{}: no legacy v3 metadata (magic DMREMAP3) at sector 0", spare.path()));
    p.image = v3::read(spare, opt.spare_start, opt.spare_len);
    if (!p.image.valid()) {
        const std::string code = p.image.verdict.substr(std::strlen("invalid:"));
        std::string why;
        for (const auto& f : p.image.findings)
            if (f.severity == Severity::fatal) {
                why = f.message;
                break;
            }
        throw Refused(fmt::format("{}: the v3 image is invalid: {}{}{}", spare.path(), code,
                                  why.empty() ? "" : ": ", why));
    }
    const auto& h = p.image.header;
    if (h.main_device_size != main.sectors())
        throw Refused(fmt::format(
            "the main device size does not match: {} has {} sectors, the v3 metadata records {}",
            main.path(), main.sectors(), h.main_device_size));
    if (h.spare_device_size > spare.sectors())
        throw Refused(fmt::format(
            "the spare device is smaller than v3 recorded: {} has {} sectors, v3 recorded {}",
            spare.path(), spare.sectors(), h.spare_device_size));

    {
        // The switch writes only sector 0: the rest of block 0 must already
        // be the zero padding a v4 superblock has.
        AlignedBuffer b(RM4_BLOCK_SIZE);
        spare.read(0, b.span());
        if (!std::all_of(b.data() + 512, b.data() + RM4_BLOCK_SIZE,
                         [](std::byte x) { return x == std::byte{0}; }))
            throw Refused(fmt::format("{}: bytes 512-4095 of the v3 header are not zero, so one "
                                      "sector write cannot switch it to v4",
                                      spare.path()));
    }
    p.unit_bytes = opt.unit_bytes ? opt.unit_bytes : 512;
    p.unit_defaulted = opt.unit_bytes == 0;
    const uint32_t unit = p.unit_bytes;
    if (unit < 512 || unit > RM4_UNIT_MAX || (unit & (unit - 1)) != 0)
        throw Refused(fmt::format("a remap unit of {} bytes: must be a power of two from 512 to {}",
                                  unit, RM4_UNIT_MAX));
    if (main.logical_block_size() > unit || spare.logical_block_size() > unit)
        throw Refused(
            fmt::format("a {}-byte unit is smaller than a logical block of the devices", unit));
    const uint64_t u = unit / 512;

    const uint64_t spare_sectors = spare.sectors();
    // The v3 spare area: given, inferred from the entries, or (no entries)
    // everything after the metadata area.
    uint64_t area_start = v3::metadata_sectors, area_end = spare_sectors;
    uint64_t used_end = area_start + 1; // the pool must reach at least this sector
    if (p.image.spare_start) {
        area_start = *p.image.spare_start;
        used_end = area_start + *p.image.spare_len;
        area_end = opt.spare_start ? used_end : spare_sectors;
        p.spare_area_inferred = p.image.spare_area_inferred;
    } else {
        p.spare_area_inferred = true;
    }
    if (opt.spare_start) {
        if (*opt.spare_start < v3::metadata_sectors)
            throw Refused(fmt::format(
                "--spare-start {} overlaps the v3 metadata area (sectors 0-15)", *opt.spare_start));
        if (*opt.spare_len == 0 || *opt.spare_start + *opt.spare_len > spare_sectors)
            throw Refused("the given spare area does not lie inside the spare device");
        used_end = area_start; // only the entries must be covered
        for (const auto& e : p.image.entries)
            used_end = std::max(used_end, e.spare_sector + 1);
        used_end = std::max(used_end, area_start + 1);
    }
    p.spare_start = area_start;
    p.spare_len = p.image.spare_start ? *p.image.spare_len : (area_end - area_start);

    // 512: the pool starts at the v3 area and keeps every sector in place.
    // Larger: each remapped main unit gets a fresh pool unit after every
    // sector v3 uses, filled before the switch; tables go after the pool.
    uint64_t pool_start = area_start, min_pool = used_end - area_start,
             max_pool = area_end - area_start;
    const bool allow_gap = u == 1;
    if (u > 1) {
        std::map<uint64_t, UnitCopy> groups;
        uint64_t v3_end = v3::metadata_sectors;
        for (const auto& e : p.image.entries) {
            auto& g = groups[e.main_sector / u];
            g.main_block = e.main_sector / u;
            g.from_spare.emplace_back(e.main_sector % u, e.spare_sector);
            v3_end = std::max(v3_end, e.spare_sector + 1);
        }
        pool_start = div_up(std::max(v3_end, area_end == spare_sectors ? v3_end : area_end),
                            std::max<uint64_t>(u, sectors_per_block)) *
                     std::max<uint64_t>(u, sectors_per_block);
        if (pool_start >= spare_sectors)
            throw Refused("the spare is too small for v4: no room after the v3 data for a pool "
                          "of larger units");
        min_pool = std::max<uint64_t>(groups.size(), 1);
        max_pool = (spare_sectors - pool_start) / u;
        uint64_t i = 0;
        for (auto& [mb, g] : groups) {
            g.spare_block = i++;
            for (const auto& [off, from] : g.from_spare)
                p.moves.push_back({from, pool_start + g.spare_block * u + off});
            p.units.push_back(g);
        }
    }

    // Largest pool [pool_start, pool_start + P units) with both table copies outside it.
    Superblock geom{};
    if (min_pool > max_pool ||
        !place_tables(spare_sectors, pool_start, min_pool, geom, u, allow_gap))
        throw Refused(fmt::format(
            "the spare is too small for v4: a pool of {} units from sector {} leaves no room for "
            "two table copies of {} blocks",
            min_pool, pool_start, required_table_blocks(min_pool)));
    uint64_t lo = min_pool, hi = max_pool;
    while (lo < hi) {
        const uint64_t mid = lo + (hi - lo + 1) / 2;
        Superblock s{};
        if (place_tables(spare_sectors, pool_start, mid, s, u, allow_gap))
            lo = mid;
        else
            hi = mid - 1;
    }
    const uint64_t pool = lo;
    place_tables(spare_sectors, pool_start, pool, geom, u, allow_gap);

    FormatParams fp;
    fp.main_sectors = main.sectors();
    fp.main_logical_block_size = main.logical_block_size();
    fp.main_physical_block_size = main.physical_block_size();
    fp.main_identity = opt.main_identity;
    fp.spare_sectors = spare_sectors;
    fp.spare_logical_block_size = spare.logical_block_size();
    fp.spare_physical_block_size = spare.physical_block_size();
    fp.unit_bytes = unit;
    Superblock sb{};
    try {
        sb = plan_layout(fp);
    } catch (const DeviceError&) {
        // plan_layout's own minimum assumes its default placement; the
        // migration places everything itself below.
        fp.spare_sectors = std::max<uint64_t>(spare_sectors, 1ull << 20);
        sb = plan_layout(fp);
        sb.spare_sectors = spare_sectors;
    }
    sb.pool_start = pool_start;
    sb.pool_blocks = pool;
    sb.table_a_start = geom.table_a_start;
    sb.table_b_start = geom.table_b_start;
    sb.table_blocks = geom.table_blocks;
    sb.blocknr = RM4_SB_A_BLOCK;
    sb.seq = 2; // the table blocks carry seq 1
    rm4_problem prob{};
    if (rm4_sb_check_geometry(&sb, spare_sectors, &prob) != RM4_OK)
        throw Refused(fmt::format("the spare is too small for v4: the planned layout fails the "
                                  "geometry check at field '{}' = {}",
                                  prob.field ? prob.field : "?", prob.value));
    p.sb = sb;

    if (u == 1)
        for (const auto& e : p.image.entries)
            p.entries.push_back(make_remapped(e.main_sector, e.spare_sector - area_start,
                                              h.last_update_time, 0, RM4_ENTRY_MIGRATED));
    else
        for (const auto& g : p.units)
            p.entries.push_back(make_remapped(g.main_block, g.spare_block, h.last_update_time, 0,
                                              RM4_ENTRY_MIGRATED));
    for (const auto& e : p.entries) {
        if (validate_entry(sb, e, &prob) != RM4_OK)
            throw Refused(fmt::format("entry main {} spare {} does not fit the v4 layout",
                                      e.main_block, e.spare_block));
    }
    if (u > 1)
        p.notes.push_back(fmt::format(
            "each of the {} remapped {}-byte units is filled before the switch: its v3 sectors "
            "from the spare, its other sectors from main; a unit whose main sectors cannot be "
            "read becomes pending (reads fail, nothing is invented)",
            p.units.size(), unit));
    if (u == 1 && pool < max_pool)
        p.notes.push_back(fmt::format(
            "the pool ends at sector {}, before the end of the available area at sector {}: "
            "the table copies need the room; every v3 entry lies inside the pool",
            area_start + pool - 1, area_end - 1));
    if (!p.image.checksum_verified)
        p.notes.push_back("the v3 checksum does not verify; images updated more than once carry "
                          "a checksum no reader can reproduce, and every structural rule holds");
    return p;
}

std::string describe(const Plan& p) {
    const auto& h = p.image.header;
    std::string s;
    s += "v3 metadata found:\n";
    s += fmt::format("  version {}, state {}, generation {}, {} of {} entries, checksum {}\n",
                     h.version, v3::state_name(h.state), h.generation, h.entry_count, h.max_entries,
                     p.image.checksum_verified ? "verified" : "not reproducible");
    s += fmt::format("  main device size {} sectors, spare device size {} sectors\n",
                     h.main_device_size, h.spare_device_size);
    s += fmt::format("  spare area: sectors {}-{} ({} sectors){}\n", p.spare_start,
                     p.spare_start + p.spare_len - 1, p.spare_len,
                     p.spare_area_inferred ? ", inferred: the smallest range holding every entry, "
                                             "clear of the metadata area (sectors 0-15)"
                                           : ", as given");
    s += "v4 layout:\n";
    s += fmt::format("  superblock A: block 0 (replaces the v3 header in one 512-byte write)\n");
    s += fmt::format("  superblock B: block 1 (over the v3 entries, written after the switch)\n");
    s += fmt::format("  table A: blocks {}-{}, table B: blocks {}-{} ({} entries each)\n",
                     p.sb.table_a_start, p.sb.table_a_start + p.sb.table_blocks - 1,
                     p.sb.table_b_start, p.sb.table_b_start + p.sb.table_blocks - 1,
                     p.sb.table_blocks * RM4_ENTRIES_PER_BLOCK);
    s += fmt::format("  pool: sectors {}-{} ({} units of {} bytes)\n", p.sb.pool_start,
                     p.sb.pool_start + p.sb.pool_blocks * (p.unit_bytes / 512) - 1,
                     p.sb.pool_blocks, p.unit_bytes);
    s += fmt::format(
        "  remap unit: {} bytes{}\n", p.unit_bytes,
        p.unit_defaulted ? " (the default: the safe choice, every v3 mapping stays 1:1)" : "");
    s += fmt::format("  entries: {} migrated{} (flag migrated)\n", p.entries.size(),
                     p.unit_bytes == 512 ? " 1:1" : ", one per remapped unit");
    if (p.moves.empty())
        s += "spare sectors to move: none\n";
    else
        for (const auto& m : p.moves)
            s += fmt::format("  move spare sector {} to {}\n", m.from_sector, m.to_sector);
    for (const auto& n : p.notes)
        s += "note: " + n + "\n";
    return s;
}

Outcome run(Device& spare, Device& main, const Options& opt, Plan* out_plan) {
    Writer w(spare, opt.stop_after_writes);
    if (!v3::is_v3(spare)) {
        // A rerun after the switch: v4 is already valid; restore B if needed.
        LoadReport rep;
        Metadata m;
        try {
            m = load(spare, &rep);
        } catch (const Error& e) {
            throw Refused(
                fmt::format("{}: neither v3 nor valid v4 metadata: {}", spare.path(), e.what()));
        }
        if (rep.has_fatal())
            throw Refused(
                fmt::format("{}: v4 metadata with fatal findings; run remap-check", spare.path()));
        if (!rep.superblock.needs_rewrite)
            return Outcome::already_v4;
        AlignedBuffer buf(RM4_BLOCK_SIZE);
        // Superblock B as a copy of A: same image, same seq.
        Superblock sb = m.sb;
        sb.blocknr = RM4_SB_B_BLOCK;
        rm4_sb_encode(&sb, buf.data());
        w.write(uint64_t(RM4_SB_B_BLOCK) * RM4_BLOCK_SIZE, buf.span());
        w.flush();
        return Outcome::repaired_v4;
    }

    Plan p = plan(spare, main, opt);
    if (out_plan)
        *out_plan = p;

    // 1. Larger units: fill each pool unit (spare sectors v3 used, the rest
    // from main). Pool units lie after every sector v3 uses.
    const uint64_t u = p.unit_bytes / 512;
    if (u > 1) {
        AlignedBuffer unit_buf(p.unit_bytes);
        for (std::size_t i = 0; i < p.units.size(); ++i) {
            const auto& g = p.units[i];
            unit_buf.fill_zero();
            bool lost = false;
            for (uint64_t off = 0; off < u; ++off) {
                auto dst = unit_buf.subspan(off * 512, 512);
                auto it = std::find_if(g.from_spare.begin(), g.from_spare.end(),
                                       [&](const auto& x) { return x.first == off; });
                if (it != g.from_spare.end()) {
                    spare.read(it->second * 512, dst);
                    continue;
                }
                try {
                    main.read((g.main_block * u + off) * 512, dst);
                } catch (const IoError&) {
                    lost = true;
                }
            }
            if (lost)
                p.entries[i] = make_pending(g.main_block, g.spare_block,
                                            p.image.header.last_update_time, 1, RM4_ENTRY_MIGRATED);
            w.write((p.sb.pool_start + g.spare_block * u) * 512, unit_buf.span());
        }
        if (out_plan)
            *out_plan = p;
    }

    // 2. Both table copies, outside v3's metadata and every sector v3 uses.
    Metadata m = Metadata::empty(p.sb);
    for (std::size_t i = 0; i < p.entries.size(); ++i)
        m.set_entry(i, p.entries[i]);
    AlignedBuffer buf(RM4_BLOCK_SIZE);
    const BlockSpan block(buf.data(), RM4_BLOCK_SIZE);
    for (Copy c : {Copy::a, Copy::b}) {
        for (uint64_t k = 0; k < p.sb.table_blocks; ++k) {
            encode_table_block(m, k, 1, c, block);
            w.write(table_blocknr(p.sb, k, c) * RM4_BLOCK_SIZE, buf.span());
        }
    }
    // Everything the switch depends on is durable before it.
    w.flush();

    // 2. The switch: superblock A's 512 bytes of content over the v3 header.
    // Bytes 512-4095 of block 0 are v3's zero reserved area already.
    Superblock sb = p.sb;
    sb.blocknr = RM4_SB_A_BLOCK;
    buf.fill_zero();
    rm4_sb_encode(&sb, buf.data());
    w.write(0, buf.subspan(0, 512));
    w.flush();

    // 3. Redundancy: superblock B over block 1 (v3's entries, no longer needed).
    sb.blocknr = RM4_SB_B_BLOCK;
    buf.fill_zero();
    rm4_sb_encode(&sb, buf.data());
    w.write(uint64_t(RM4_SB_B_BLOCK) * RM4_BLOCK_SIZE, buf.span());
    w.flush();
    return Outcome::migrated;
}

} // namespace remapmeta::migrate

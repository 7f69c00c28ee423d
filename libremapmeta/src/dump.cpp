// SPDX-License-Identifier: GPL-2.0-only OR MIT
#include "remapmeta/dump.hpp"

#include "remapmeta/check.hpp"
#include "remapmeta/errors.hpp"

#include <algorithm>
#include <cstring>
#include <ctime>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

namespace remapmeta {

namespace {

// JSON string literal for printable ASCII (what the format allows) and,
// defensively, anything else as \u escapes.
std::string jstr(std::string_view s) {
    std::string out = "\"";
    for (char ch : s) {
        const auto c = static_cast<unsigned char>(ch);
        if (c == '"' || c == '\\') {
            out += '\\';
            out += ch;
        } else if (c < 0x20 || c > 0x7e) {
            out += fmt::format("\\u{:04x}", c);
        } else {
            out += ch;
        }
    }
    return out + "\"";
}

std::string jblock(uint64_t v) {
    return v == RM4_NONE ? std::string("null") : fmt::format("{}", v);
}

std::string flag_list(uint8_t flags) {
    std::string out = "[";
    if (flags & RM4_ENTRY_PROACTIVE)
        out += "\"proactive\"";
    if (flags & RM4_ENTRY_MIGRATED)
        out += (out.size() > 1 ? ", " : "") + std::string("\"migrated\"");
    return out + "]";
}

struct Counts {
    uint64_t remapped = 0, pending = 0, bad_spare = 0, used_spare = 0;
};

Counts count(const Metadata& m) {
    Counts c;
    for (const Entry& e : m.slots) {
        c.remapped += e.state == RM4_STATE_REMAPPED;
        c.pending += e.state == RM4_STATE_PENDING;
        c.bad_spare += e.state == RM4_STATE_BAD_SPARE;
        c.used_spare += e.state != RM4_STATE_FREE && e.spare_block != RM4_NONE;
    }
    return c;
}

std::string utc(uint64_t t) {
    std::time_t tt = static_cast<std::time_t>(t);
    std::tm tm{};
    if (!gmtime_r(&tt, &tm))
        return fmt::format("{}", t);
    char buf[32];
    std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%SZ", &tm);
    return buf;
}

class StreamEmitter : public Emitter {
public:
    StreamEmitter(bool json, std::FILE* out)
        : json_(json)
        , out_(out) {}

    void emit(const Metadata& m) override {
        if (json_) {
            const std::string s = dump_json(m);
            std::fwrite(s.data(), 1, s.size(), out_);
        } else {
            text(m);
        }
    }
    void emit_v3(const v3::Image& img) override { json_ ? json_v3(img) : text_v3(img); }

private:
    void text(const Metadata& m) {
        const Superblock& sb = m.sb;
        const Counts c = count(m);
        fmt::print(out_, "dm-remap metadata, format v{}.{}\n", sb.version_major, sb.version_minor);
        fmt::print(out_, "  uuid            {}\n", uuid_to_string(sb.uuid));
        fmt::print(out_, "  created         {} by '{}'\n", utc(sb.format_time), sb.creator);
        fmt::print(out_, "  flags           {}\n",
                   sb.flags & RM4_SB_NEEDS_CHECK ? "needs_check" : "(none)");
        fmt::print(out_, "  features        incompat {:#x}, ro_compat {:#x}, compat {:#x}\n",
                   sb.incompat, sb.ro_compat, sb.compat);
        fmt::print(out_, "  unit            {} bytes\n", sb.unit_bytes);
        fmt::print(out_, "  spare           {} sectors; pool at sector {}, {} blocks\n",
                   sb.spare_sectors, sb.pool_start, sb.pool_blocks);
        fmt::print(out_,
                   "  tables          A at block {}, B at block {}, {} blocks each ({} "
                   "slots)\n",
                   sb.table_a_start, sb.table_b_start, sb.table_blocks, m.capacity());
        fmt::print(out_, "  scan            cursor {} (units), {} passes\n", sb.scan_cursor,
                   sb.scan_pass);
        fmt::print(out_, "fingerprint (main device)\n");
        fmt::print(out_, "  size            {} sectors ({} units)\n", sb.main_sectors,
                   rm4_main_units(&sb));
        fmt::print(out_, "  block sizes     logical {}, physical {}\n", sb.main_logical_block_size,
                   sb.main_physical_block_size);
        fmt::print(out_, "  identity        '{}'\n", sb.main_identity);
        fmt::print(out_,
                   "entries           {} remapped, {} pending, {} bad spare; {} of {} pool "
                   "blocks free\n",
                   c.remapped, c.pending, c.bad_spare, sb.pool_blocks - c.used_spare,
                   sb.pool_blocks);
        if (c.remapped + c.pending + c.bad_spare == 0)
            return;
        fmt::print(out_, "\n{:>10}  {:<9}  {:>14}  {:>12}  {:<20}  {:>6}  {}\n", "slot", "state",
                   "main_block", "spare_block", "event_time", "errors", "flags");
        for (uint64_t i = 0; i < m.slots.size(); i++) {
            const Entry& e = m.slots[i];
            if (e.state == RM4_STATE_FREE)
                continue;
            std::string flags;
            if (e.flags & RM4_ENTRY_PROACTIVE)
                flags += "proactive";
            if (e.flags & RM4_ENTRY_MIGRATED)
                flags += flags.empty() ? "migrated" : ",migrated";
            fmt::print(out_, "{:>10}  {:<9}  {:>14}  {:>12}  {:<20}  {:>6}  {}\n", i,
                       state_name(e.state),
                       e.main_block == RM4_NONE ? "-" : fmt::format("{}", e.main_block),
                       e.spare_block == RM4_NONE ? "-" : fmt::format("{}", e.spare_block),
                       utc(e.event_time), e.error_count, flags.empty() ? "-" : flags);
        }
    }

    void text_v3(const v3::Image& img) {
        const v3::Header& h = img.header;
        fmt::print(out_, "LEGACY dm-remap v3 metadata (read-only; migrate it to v4)\n");
        fmt::print(out_, "  version           {}\n", h.version);
        fmt::print(out_, "  checksum          {:#010x} ({})\n", h.checksum,
                   img.checksum_verified ? "verified" : "does not verify");
        fmt::print(out_, "  created           {}\n", utc(h.creation_time));
        fmt::print(out_, "  last update       {}\n", utc(h.last_update_time));
        fmt::print(out_, "  entries           {} (max_entries {})\n", h.entry_count, h.max_entries);
        fmt::print(out_, "  main device       {} sectors\n", h.main_device_size);
        fmt::print(out_, "  spare device      {} sectors\n", h.spare_device_size);
        fmt::print(out_, "  state             {} ({})\n", h.state, v3::state_name(h.state));
        fmt::print(out_, "  generation        {}\n", h.generation);
        fmt::print(out_, "  remaps created    {}\n", h.total_remaps_created);
        if (img.spare_start)
            fmt::print(out_, "  spare area        sectors {} to {}{}\n", *img.spare_start,
                       *img.spare_start + *img.spare_len - 1,
                       img.spare_area_inferred ? " (inferred from the entries)" : "");
        fmt::print(out_, "  verdict           {}\n", img.verdict);
        if (img.entries.empty())
            return;
        fmt::print(out_, "\n{:>5}  {:>14}  {:>14}\n", "index", "main_sector", "spare_sector");
        for (std::size_t i = 0; i < img.entries.size(); i++)
            fmt::print(out_, "{:>5}  {:>14}  {:>14}\n", i, img.entries[i].main_sector,
                       img.entries[i].spare_sector);
    }

    void json_v3(const v3::Image& img) {
        const v3::Header& h = img.header;
        std::string s = fmt::format("{{\n  \"format_version\": {},\n  \"metadata_version\": 3,\n",
                                    dump_format_version);
        s += fmt::format(
            "  \"header\": {{\n    \"magic\": {},\n    \"version\": {},\n    \"checksum\": {},\n"
            "    \"creation_time\": {},\n    \"last_update_time\": {},\n    \"entry_count\": {},\n"
            "    \"max_entries\": {},\n    \"main_device_size\": {},\n"
            "    \"spare_device_size\": {},\n    \"state\": {},\n    \"generation\": {},\n"
            "    \"total_remaps_created\": {}\n  }},\n",
            jstr(h.magic), h.version, h.checksum, h.creation_time, h.last_update_time,
            h.entry_count, h.max_entries, h.main_device_size, h.spare_device_size, h.state,
            h.generation, h.total_remaps_created);
        s += fmt::format("  \"checksum_verified\": {},\n", img.checksum_verified);
        s += fmt::format("  \"spare_start\": {},\n  \"spare_len\": {},\n",
                         img.spare_start ? fmt::format("{}", *img.spare_start) : "null",
                         img.spare_len ? fmt::format("{}", *img.spare_len) : "null");
        s += fmt::format("  \"spare_area_inferred\": {},\n", img.spare_area_inferred);
        s += fmt::format("  \"verdict\": {},\n  \"entries\": [", jstr(img.verdict));
        for (std::size_t i = 0; i < img.entries.size(); i++)
            s += fmt::format("{}\n    {{\"main_sector\": {}, \"spare_sector\": {}}}", i ? "," : "",
                             img.entries[i].main_sector, img.entries[i].spare_sector);
        s += img.entries.empty() ? "]\n}\n" : "\n  ]\n}\n";
        std::fwrite(s.data(), 1, s.size(), out_);
    }

    bool json_;
    std::FILE* out_;
};

// ---- JSON parsing with paths ------------------------------------------------

using json = nlohmann::json;

const json& member(const json& obj, const std::string& path, const char* key) {
    auto it = obj.find(key);
    if (it == obj.end())
        throw DumpError(path, fmt::format("missing key \"{}\"", key));
    return *it;
}

uint64_t get_u64(const json& obj, const std::string& path, const char* key,
                 uint64_t max = UINT64_MAX) {
    const json& v = member(obj, path, key);
    const std::string p = path + "." + key;
    if (!v.is_number_unsigned() && !(v.is_number_integer() && v.get<int64_t>() >= 0))
        throw DumpError(p, fmt::format("{} is not a non-negative integer", v.dump()));
    const uint64_t x = v.get<uint64_t>();
    if (x > max)
        throw DumpError(p, fmt::format("{} is out of range (at most {})", x, max));
    return x;
}

uint32_t get_u32(const json& obj, const std::string& path, const char* key) {
    return static_cast<uint32_t>(get_u64(obj, path, key, UINT32_MAX));
}

std::string get_str(const json& obj, const std::string& path, const char* key, std::size_t max) {
    const json& v = member(obj, path, key);
    const std::string p = path + "." + key;
    if (!v.is_string())
        throw DumpError(p, fmt::format("{} is not a string", v.dump()));
    std::string s = v.get<std::string>();
    if (s.size() > max)
        throw DumpError(p, fmt::format("is {} bytes long (at most {})", s.size(), max));
    for (char c : s)
        if (static_cast<unsigned char>(c) < 0x20 || static_cast<unsigned char>(c) > 0x7e)
            throw DumpError(p, "holds a character that is not printable ASCII");
    return s;
}

bool get_bool(const json& obj, const std::string& path, const char* key) {
    const json& v = member(obj, path, key);
    if (!v.is_boolean())
        throw DumpError(path + "." + key, fmt::format("{} is not true or false", v.dump()));
    return v.get<bool>();
}

} // namespace

std::unique_ptr<Emitter> make_stream_emitter(std::string_view format, std::FILE* out) {
    if (format != "text" && format != "json")
        throw ParameterError("format",
                             fmt::format("unknown dump format '{}' (use text or json)", format));
    return std::make_unique<StreamEmitter>(format == "json", out);
}

std::string dump_json(const Metadata& m) {
    const Superblock& sb = m.sb;
    const Counts c = count(m);
    std::string s;
    s.reserve(256 + m.used_slots() * 140);
    s += fmt::format("{{\n  \"format_version\": {},\n  \"metadata_version\": 4,\n",
                     dump_format_version);
    s += fmt::format(
        "  \"superblock\": {{\n    \"uuid\": \"{}\",\n    \"version_major\": {},\n"
        "    \"version_minor\": {},\n    \"incompat\": {},\n    \"ro_compat\": {},\n"
        "    \"compat\": {},\n    \"needs_check\": {},\n    \"unit_bytes\": {},\n"
        "    \"spare_sectors\": {},\n    \"pool_start\": {},\n    \"pool_blocks\": {},\n"
        "    \"table_a_start\": {},\n    \"table_b_start\": {},\n    \"table_blocks\": {},\n"
        "    \"format_time\": {},\n    \"scan_cursor\": {},\n    \"scan_pass\": {},\n"
        "    \"creator\": {}\n  }},\n",
        uuid_to_string(sb.uuid), sb.version_major, sb.version_minor, sb.incompat, sb.ro_compat,
        sb.compat, (sb.flags & RM4_SB_NEEDS_CHECK) != 0, sb.unit_bytes, sb.spare_sectors,
        sb.pool_start, sb.pool_blocks, sb.table_a_start, sb.table_b_start, sb.table_blocks,
        sb.format_time, sb.scan_cursor, sb.scan_pass, jstr(sb.creator));
    s += fmt::format("  \"fingerprint\": {{\n    \"main_sectors\": {},\n"
                     "    \"main_logical_block_size\": {},\n"
                     "    \"main_physical_block_size\": {},\n    \"main_identity\": {}\n  }},\n",
                     sb.main_sectors, sb.main_logical_block_size, sb.main_physical_block_size,
                     jstr(sb.main_identity));
    s += fmt::format("  \"summary\": {{\n    \"table_capacity\": {},\n    \"main_units\": {},\n"
                     "    \"remapped\": {},\n    \"pending\": {},\n    \"bad_spare\": {},\n"
                     "    \"free_pool_blocks\": {}\n  }},\n",
                     m.capacity(), rm4_main_units(&sb), c.remapped, c.pending, c.bad_spare,
                     sb.pool_blocks - c.used_spare);
    s += "  \"entries\": [";
    bool first = true;
    std::vector<uint64_t> bad, pending;
    for (uint64_t i = 0; i < m.slots.size(); i++) {
        const Entry& e = m.slots[i];
        if (e.state == RM4_STATE_FREE)
            continue;
        if (e.state == RM4_STATE_BAD_SPARE)
            bad.push_back(e.spare_block);
        if (e.state == RM4_STATE_PENDING)
            pending.push_back(e.main_block);
        fmt::format_to(std::back_inserter(s),
                       "{}\n    {{\"slot\": {}, \"state\": \"{}\", \"main_block\": {}, "
                       "\"spare_block\": {}, \"event_time\": {}, \"error_count\": {}, "
                       "\"flags\": {}}}",
                       first ? "" : ",", i, state_name(e.state), jblock(e.main_block),
                       jblock(e.spare_block), e.event_time, e.error_count, flag_list(e.flags));
        first = false;
    }
    s += first ? "],\n" : "\n  ],\n";
    std::sort(bad.begin(), bad.end());
    std::sort(pending.begin(), pending.end());
    s += fmt::format("  \"bad_spare_blocks\": [{}],\n", fmt::join(bad, ", "));
    s += fmt::format("  \"pending_units\": [{}]\n}}\n", fmt::join(pending, ", "));
    return s;
}

Metadata parse_dump(std::string_view text) {
    json j;
    try {
        j = json::parse(text.begin(), text.end());
    } catch (const json::exception& e) {
        // parse_error, and out_of_range for a number no double holds (1e400).
        throw DumpError("", fmt::format("not valid JSON: {}", e.what()));
    }
    if (!j.is_object())
        throw DumpError("", "the dump is not a JSON object");
    const uint64_t fv = get_u64(j, "", "format_version");
    if (fv != static_cast<uint64_t>(dump_format_version))
        throw DumpError("format_version", fmt::format("{} is not supported (this software reads "
                                                      "version {})",
                                                      fv, dump_format_version));
    const uint64_t mv = get_u64(j, "", "metadata_version");
    if (mv == 3)
        throw DumpError("metadata_version", "3: a legacy v3 dump cannot be restored; migrate "
                                            "the v3 device to v4 instead");
    if (mv != 4)
        throw DumpError("metadata_version", fmt::format("{} is not 4", mv));

    Metadata m;
    Superblock& sb = m.sb;
    const json& js = member(j, "", "superblock");
    const std::string sp = "superblock";
    if (!js.is_object())
        throw DumpError(sp, "is not an object");
    const std::string uuid = get_str(js, sp, "uuid", 36);
    try {
        const Uuid u = parse_uuid(uuid);
        std::memcpy(sb.uuid, u.data(), u.size());
    } catch (const ParameterError& e) {
        throw DumpError(sp + ".uuid", e.what());
    }
    sb.version_major = get_u32(js, sp, "version_major");
    sb.version_minor = get_u32(js, sp, "version_minor");
    sb.incompat = get_u32(js, sp, "incompat");
    sb.ro_compat = get_u32(js, sp, "ro_compat");
    sb.compat = get_u32(js, sp, "compat");
    sb.flags = get_bool(js, sp, "needs_check") ? RM4_SB_NEEDS_CHECK : 0;
    sb.unit_bytes = get_u32(js, sp, "unit_bytes");
    sb.spare_sectors = get_u64(js, sp, "spare_sectors");
    sb.pool_start = get_u64(js, sp, "pool_start");
    sb.pool_blocks = get_u64(js, sp, "pool_blocks");
    sb.table_a_start = get_u64(js, sp, "table_a_start");
    sb.table_b_start = get_u64(js, sp, "table_b_start");
    sb.table_blocks = get_u64(js, sp, "table_blocks");
    sb.format_time = get_u64(js, sp, "format_time");
    sb.scan_cursor = get_u64(js, sp, "scan_cursor");
    sb.scan_pass = get_u64(js, sp, "scan_pass");
    const std::string creator = get_str(js, sp, "creator", RM4_CREATOR_LEN);
    std::memcpy(sb.creator, creator.c_str(), creator.size() + 1);
    const json& jf = member(j, "", "fingerprint");
    const std::string fp = "fingerprint";
    if (!jf.is_object())
        throw DumpError(fp, "is not an object");
    sb.main_sectors = get_u64(jf, fp, "main_sectors");
    sb.main_logical_block_size = get_u32(jf, fp, "main_logical_block_size");
    sb.main_physical_block_size = get_u32(jf, fp, "main_physical_block_size");
    const std::string identity = get_str(jf, fp, "main_identity", RM4_IDENTITY_LEN);
    std::memcpy(sb.main_identity, identity.c_str(), identity.size() + 1);
    sb.seq = 1;

    // The superblock must pass the format's own validation.
    {
        AlignedBuffer buf(RM4_BLOCK_SIZE);
        rm4_sb_encode(&sb, buf.data());
        Superblock check{};
        rm4_problem p{};
        const rm4_status s = rm4_sb_decode(buf.data(), 0, &check, &p);
        if (s != RM4_OK) {
            const std::string field = p.field ? p.field : "";
            const bool in_fp = field.starts_with("main_");
            throw DumpError((in_fp ? fp : sp) + (field.empty() ? "" : "." + field),
                            fmt::format("{}: {}", p.value, rm4_status_str(s)));
        }
        if (rm4_sb_check_geometry(&sb, sb.spare_sectors, &p) != RM4_OK)
            throw DumpError(sp + "." + (p.field ? p.field : ""),
                            fmt::format("{}: {} (spare_sectors is {})", p.value,
                                        rm4_status_str(p.status), sb.spare_sectors));
    }

    m.slots.assign(rm4_table_capacity(&sb), Entry{});
    const json& je = member(j, "", "entries");
    if (!je.is_array())
        throw DumpError("entries", "is not an array");
    std::vector<char> seen(m.slots.size(), 0);
    for (std::size_t i = 0; i < je.size(); i++) {
        const std::string p = fmt::format("entries[{}]", i);
        const json& x = je[i];
        if (!x.is_object())
            throw DumpError(p, "is not an object");
        const uint64_t slot = get_u64(x, p, "slot");
        if (slot >= m.slots.size())
            throw DumpError(p + ".slot", fmt::format("{} is beyond the table (the table has {} "
                                                     "slots)",
                                                     slot, m.slots.size()));
        if (seen[slot])
            throw DumpError(p + ".slot", fmt::format("{} appears twice", slot));
        seen[slot] = 1;
        Entry e{};
        const std::string state = get_str(x, p, "state", 16);
        if (state == "remapped")
            e.state = RM4_STATE_REMAPPED;
        else if (state == "pending")
            e.state = RM4_STATE_PENDING;
        else if (state == "bad-spare")
            e.state = RM4_STATE_BAD_SPARE;
        else
            throw DumpError(p + ".state",
                            fmt::format("\"{}\" is not remapped, pending or bad-spare", state));
        auto block = [&](const char* key) -> uint64_t {
            const json& v = member(x, p, key);
            return v.is_null() ? RM4_NONE : get_u64(x, p, key, RM4_NONE - 1);
        };
        e.main_block = block("main_block");
        e.spare_block = block("spare_block");
        e.event_time = get_u64(x, p, "event_time");
        e.error_count = get_u32(x, p, "error_count");
        const json& fl = member(x, p, "flags");
        if (!fl.is_array())
            throw DumpError(p + ".flags", "is not an array");
        for (std::size_t f = 0; f < fl.size(); f++) {
            const std::string fpth = fmt::format("{}.flags[{}]", p, f);
            if (!fl[f].is_string())
                throw DumpError(fpth, "is not a string");
            const std::string name = fl[f].get<std::string>();
            if (name == "proactive")
                e.flags |= RM4_ENTRY_PROACTIVE;
            else if (name == "migrated")
                e.flags |= RM4_ENTRY_MIGRATED;
            else
                throw DumpError(fpth, fmt::format("\"{}\" is not proactive or migrated", name));
        }
        if (e.spare_block != RM4_NONE && e.spare_block >= sb.pool_blocks)
            throw DumpError(p + ".spare_block", fmt::format("{} is beyond the pool (pool has {} "
                                                            "blocks)",
                                                            e.spare_block, sb.pool_blocks));
        if (e.main_block != RM4_NONE && e.main_block >= rm4_main_units(&sb))
            throw DumpError(p + ".main_block",
                            fmt::format("{} is beyond the main device ({} units)", e.main_block,
                                        rm4_main_units(&sb)));
        rm4_problem pr{};
        if (validate_entry(sb, e, &pr) != RM4_OK)
            throw DumpError(p + "." + (pr.field ? pr.field : "state"),
                            fmt::format("{} is not valid for a {} entry ({})",
                                        pr.value == RM4_NONE ? std::string("null")
                                                             : fmt::format("{}", pr.value),
                                        state, rm4_status_str(pr.status)));
        m.slots[slot] = e;
    }
    // Cross-entry invariants, named by the JSON path of the offending entry.
    auto problems = check_model(m);
    if (!problems.empty()) {
        const auto& f = problems.front();
        std::size_t idx = 0;
        for (std::size_t i = 0; i < je.size(); i++)
            if (je[i]["slot"].get<uint64_t>() == *f.slot)
                idx = i;
        throw DumpError(fmt::format("entries[{}].{}", idx, f.field), f.message);
    }
    m.max_seq = 1;
    return m;
}

void RestoreEmitter::emit(const Metadata& m_in) {
    Metadata m = m_in;
    // Refuse before anything is zeroed: write_superblocks would refuse these
    // features only after the old metadata is gone.
    if (m.sb.ro_compat & ~RM4_RO_COMPAT_SUPPORTED)
        throw MetadataError(RM4_E_INCOMPAT, std::nullopt, "ro_compat", m.sb.ro_compat,
                            fmt::format("refusing to restore: the dump has unknown read-only "
                                        "features {:#x}, which this software may not write; "
                                        "restore it with the dm-remap version that made it",
                                        m.sb.ro_compat & ~RM4_RO_COMPAT_SUPPORTED));
    rm4_problem p{};
    if (rm4_sb_check_geometry(&m.sb, dev_.sectors(), &p) != RM4_OK)
        throw DeviceError(DeviceErrorKind::too_small, dev_.path(),
                          fmt::format("{}: cannot hold this metadata: {} (the device has {} "
                                      "sectors, the metadata needs {}); restore onto the spare "
                                      "device it came from or one at least as large",
                                      dev_.path(), rm4_status_str(p.status), dev_.sectors(),
                                      m.sb.spare_sectors));
    constexpr uint64_t table_seq = 1;
    dev_.zero(0, 2 * RM4_BLOCK_SIZE);
    dev_.flush();
    dev_.zero(m.sb.table_a_start * RM4_BLOCK_SIZE, m.sb.table_blocks * RM4_BLOCK_SIZE);
    dev_.zero(m.sb.table_b_start * RM4_BLOCK_SIZE, m.sb.table_blocks * RM4_BLOCK_SIZE);
    // Batch the table blocks: 1 MiB writes, copy A then copy B.
    constexpr uint64_t batch = 256;
    AlignedBuffer buf(batch * RM4_BLOCK_SIZE);
    for (Copy c : {Copy::a, Copy::b}) {
        for (uint64_t first = 0; first < m.sb.table_blocks; first += batch) {
            const uint64_t n = std::min<uint64_t>(batch, m.sb.table_blocks - first);
            bool any = false;
            for (uint64_t i = 0; i < n; i++) {
                const auto entries = m.entries_in_block(first + i);
                BlockSpan out(buf.data() + i * RM4_BLOCK_SIZE, RM4_BLOCK_SIZE);
                if (std::all_of(entries.begin(), entries.end(),
                                [](const Entry& e) { return e.state == RM4_STATE_FREE; })) {
                    std::memset(out.data(), 0, RM4_BLOCK_SIZE); // never written
                    continue;
                }
                any = true;
                encode_table_block(m, first + i, table_seq, c, out);
            }
            if (any)
                dev_.write(table_blocknr(m.sb, first, c) * RM4_BLOCK_SIZE,
                           buf.span().first(n * RM4_BLOCK_SIZE));
        }
        dev_.flush();
    }
    m.max_seq = table_seq;
    write_superblocks(dev_, m);
}

void RestoreEmitter::emit_v3(const v3::Image&) {
    throw ParameterError("restore", "legacy v3 metadata cannot be written; migrate the device "
                                    "to v4 instead");
}

} // namespace remapmeta

// SPDX-License-Identifier: GPL-2.0-only OR MIT
#include "remapmeta/metadata.hpp"

#include "remapmeta/errors.hpp"

#include <algorithm>
#include <cstring>
#include <fmt/format.h>
#include <unordered_map>

namespace remapmeta {

namespace {

// Table copies are read 1 MiB at a time.
constexpr uint64_t chunk_blocks = (1u << 20) / RM4_BLOCK_SIZE;

uint64_t byte_offset(uint64_t blocknr) {
    return blocknr * RM4_BLOCK_SIZE;
}

BlockSpan block_at(std::span<std::byte> buf, std::size_t index) {
    return BlockSpan(buf.data() + index * RM4_BLOCK_SIZE, RM4_BLOCK_SIZE);
}

struct ReadFailure {
    std::size_t index; // block within the request
    std::string message;
};

// Reads `count` consecutive metadata blocks from `first` into `buf`. After an
// I/O error it retries block by block, so that one bad sector costs one copy
// of one block: unreadable blocks are zero-filled and returned.
std::vector<ReadFailure> read_blocks(Device& dev, uint64_t first, std::size_t count,
                                     std::span<std::byte> buf) {
    std::vector<ReadFailure> failed;
    try {
        dev.read(byte_offset(first), buf.first(count * RM4_BLOCK_SIZE));
        return failed;
    } catch (const IoError& e) {
        if (count == 1) {
            std::memset(buf.data(), 0, RM4_BLOCK_SIZE);
            failed.push_back({0, e.what()});
            return failed;
        }
    }
    for (std::size_t i = 0; i < count; i++) {
        auto block = block_at(buf, i);
        try {
            dev.read(byte_offset(first + i), block);
        } catch (const IoError& e) {
            std::memset(block.data(), 0, block.size());
            failed.push_back({i, e.what()});
        }
    }
    return failed;
}

// The status rm4_pick_copy sees: an unreadable copy is invalid.
rm4_status pick_status(const CopyStatus& c) {
    return c.read_error ? RM4_E_CRC : c.status;
}

int pick(const CopyStatus& a, const CopyStatus& b) {
    return rm4_pick_copy(pick_status(a), a.seq, pick_status(b), b.seq);
}

CopyStatus& copy_of(BlockCopies& bc, int c) {
    return c == 0 ? bc.a : bc.b;
}

char copy_letter(int c) {
    return c == 0 ? 'A' : 'B';
}

// "block 5 (table A block 3): checksum mismatch (torn or corrupt block)".
std::string copy_reason(uint64_t blocknr, const std::string& role, const CopyStatus& cs,
                        const rm4_problem& prob, const std::string& read_message) {
    if (cs.read_error)
        return fmt::format("block {} ({}): unreadable: {}", blocknr, role, read_message);
    return MetadataError::describe(cs.status, blocknr, role, prob.field ? prob.field : "",
                                   prob.value);
}

void check_model_writable(const Metadata& m, const char* what) {
    if (m.sb.ro_compat & ~RM4_RO_COMPAT_SUPPORTED)
        throw MetadataError(RM4_E_INCOMPAT, std::nullopt, "ro_compat", m.sb.ro_compat,
                            fmt::format("refusing to {}: the superblock has unknown read-only "
                                        "features {:#x}, so this software may only read it",
                                        what, m.sb.ro_compat & ~RM4_RO_COMPAT_SUPPORTED));
}

void check_table_block_index(const Metadata& m, uint64_t k) {
    if (k >= m.sb.table_blocks || m.slots.size() != m.sb.table_blocks * RM4_ENTRIES_PER_BLOCK)
        throw ParameterError("table block",
                             fmt::format("table block {} does not exist (the table has {} "
                                         "blocks and the model {} slots)",
                                         k, m.sb.table_blocks, m.slots.size()));
}

// Validates an encoded table block as a reader would, before it is written.
void verify_table_block(const Metadata& m, uint64_t k, Copy copy, ConstBlockSpan buf) {
    const uint64_t blocknr = table_blocknr(m.sb, k, copy);
    const std::string role = block_role(m.sb, blocknr);
    rm4_problem prob{};
    rm4_status s =
        rm4_table_check(buf.data(), blocknr, k * RM4_ENTRIES_PER_BLOCK, m.sb.uuid, &prob);
    if (s != RM4_OK)
        throw MetadataError(s, blocknr, "refusing to write " + role, prob.field, prob.value);
    for (unsigned i = 0; i < RM4_ENTRIES_PER_BLOCK; i++) {
        Entry e{};
        s = rm4_entry_decode(buf.data(), i, &m.sb, &e, &prob);
        if (s != RM4_OK)
            throw MetadataError(
                s, blocknr, prob.field, prob.value,
                fmt::format("refusing to write {}: slot {}: {}", role,
                            k * RM4_ENTRIES_PER_BLOCK + i,
                            MetadataError::describe(s, std::nullopt, "", prob.field, prob.value)));
    }
}

// Encodes superblock copy `copy` of `sb` and validates it as a reader would.
void encode_superblock(const Superblock& sb, Copy copy, BlockSpan out) {
    Superblock s = sb;
    s.blocknr = superblock_blocknr(copy);
    rm4_sb_encode(&s, out.data());
    Superblock check{};
    rm4_problem prob{};
    rm4_status st = rm4_sb_decode(out.data(), s.blocknr, &check, &prob);
    if (st != RM4_OK)
        throw MetadataError(st, s.blocknr, block_role(sb, s.blocknr) + ", refusing to write it",
                            prob.field, prob.value);
}

class Loader {
public:
    Loader(Device& dev, LoadReport& rep)
        : dev_(dev)
        , rep_(rep) {}

    Metadata run();

private:
    void load_superblock();
    void load_tables();
    void table_block(uint64_t k, ConstBlockSpan a, ConstBlockSpan b);
    void add(Severity sev, uint64_t block, const char* field, rm4_status status,
             std::string message, std::optional<uint64_t> slot = std::nullopt) {
        rep_.findings.push_back({sev, block, field ? field : "", std::move(message), status, slot});
    }

    Device& dev_;
    LoadReport& rep_;
    Metadata m_;
    std::unordered_map<uint64_t, std::string> read_errors_; // by block number
};

Metadata Loader::run() {
    load_superblock();
    load_tables();
    return std::move(m_);
}

void Loader::load_superblock() {
    if (dev_.size_bytes() < 2 * RM4_BLOCK_SIZE)
        throw DeviceError(DeviceErrorKind::too_small, dev_.path(),
                          fmt::format("{}: {} bytes cannot hold dm-remap metadata (at least {} "
                                      "bytes); is this the spare device?",
                                      dev_.path(), dev_.size_bytes(), 2 * RM4_BLOCK_SIZE));

    AlignedBuffer buf(2 * RM4_BLOCK_SIZE);
    auto failed = read_blocks(dev_, RM4_SB_A_BLOCK, 2, buf.span());
    rep_.blocks_read += 2;

    Superblock cand[2]{};
    rm4_problem prob[2]{};
    std::string read_message[2];
    for (const auto& f : failed) {
        copy_of(rep_.superblock, static_cast<int>(f.index)).read_error = true;
        read_message[f.index] = f.message;
    }
    for (int c = 0; c < 2; c++) {
        CopyStatus& cs = copy_of(rep_.superblock, c);
        if (cs.read_error) {
            cs.status = RM4_E_CRC;
            continue;
        }
        cs.status = rm4_sb_decode(block_at(buf.span(), static_cast<std::size_t>(c)).data(),
                                  static_cast<uint64_t>(c), &cand[c], &prob[c]);
        if (cs.status == RM4_OK)
            cs.seq = cand[c].seq;
    }
    const CopyStatus& a = rep_.superblock.a;
    const CopyStatus& b = rep_.superblock.b;
    auto reason = [&](int c) {
        const uint64_t blocknr = static_cast<uint64_t>(c);
        return copy_reason(blocknr, c == 0 ? "superblock A" : "superblock B",
                           copy_of(rep_.superblock, c), prob[c], read_message[c]);
    };

    // v3 at block 0 is legacy metadata to migrate, never damage.
    if (!a.read_error && a.status == RM4_E_V3)
        throw LegacyV3Error();
    // A superblock that passed its checksum but is from a newer format: this
    // software must not pick the other copy and write over the upgrade.
    for (int c = 0; c < 2; c++) {
        const CopyStatus& cs = copy_of(rep_.superblock, c);
        if (!cs.read_error && (cs.status == RM4_E_VERSION || cs.status == RM4_E_INCOMPAT))
            throw MetadataError(cs.status, static_cast<uint64_t>(c), prob[c].field, prob[c].value,
                                reason(c) + "; upgrade dm-remap to use this spare");
    }

    const int chosen = pick(a, b);
    if (chosen < 0) {
        if (a.never_written() && b.never_written())
            throw MetadataError(RM4_E_ZERO, RM4_SB_A_BLOCK, "block", 0,
                                "no dm-remap metadata: both superblock copies (blocks 0 and 1) "
                                "are zeroed; format the spare with `remapctl format`");
        const int primary = a.never_written() ? 1 : 0; // the more telling reason
        throw MetadataError(
            pick_status(copy_of(rep_.superblock, primary)), static_cast<uint64_t>(primary),
            prob[primary].field ? prob[primary].field : "", prob[primary].value,
            fmt::format("no valid dm-remap v4 superblock: {}; {}", reason(0), reason(1)));
    }
    const int other = 1 - chosen;
    const uint64_t other_block = static_cast<uint64_t>(other);
    m_.sb = cand[chosen];
    rep_.superblock_copy = chosen;
    rep_.superblock.source = chosen == 0 ? BlockSource::copy_a : BlockSource::copy_b;

    const CopyStatus& oc = copy_of(rep_.superblock, other);
    const std::string using_text =
        fmt::format("using superblock {} (seq {})", copy_letter(chosen), m_.sb.seq);
    if (!oc.valid()) {
        rep_.superblock.needs_rewrite = true;
        add(Severity::non_fatal, other_block, prob[other].field, pick_status(oc),
            fmt::format("{}; {}", reason(other), using_text));
    } else if (oc.seq != m_.sb.seq) {
        rep_.superblock.needs_rewrite = true;
        add(Severity::non_fatal, other_block, "seq", RM4_OK,
            fmt::format("block {} (superblock {}): stale copy (seq {}): an update was "
                        "interrupted between its two writes; {}",
                        other_block, copy_letter(other), oc.seq, using_text));
    } else if (auto diff = superblock_differences(cand[0], cand[1]); !diff.empty()) {
        rep_.superblock.needs_rewrite = true;
        add(Severity::non_fatal, other_block, diff.front().c_str(), RM4_OK,
            fmt::format("block {} (superblock {}): differs from the other copy at the same seq "
                        "{} (fields: {}); {}",
                        other_block, copy_letter(other), oc.seq, fmt::join(diff, ", "),
                        using_text));
    }

    if (m_.sb.ro_compat & ~RM4_RO_COMPAT_SUPPORTED) {
        rep_.read_only = true;
        add(Severity::non_fatal, m_.sb.blocknr, "ro_compat", RM4_OK,
            fmt::format("block {} ({}): field 'ro_compat' = {:#x}: unknown read-only "
                        "features; this software may read the metadata but not change it",
                        m_.sb.blocknr, block_role(m_.sb, m_.sb.blocknr), m_.sb.ro_compat));
    }

    rm4_problem gp{};
    if (rm4_sb_check_geometry(&m_.sb, dev_.sectors(), &gp) != RM4_OK)
        throw MetadataError(gp.status, m_.sb.blocknr, gp.field, gp.value,
                            fmt::format("{} (the spare device has {} sectors)",
                                        MetadataError::describe(gp.status, m_.sb.blocknr,
                                                                block_role(m_.sb, m_.sb.blocknr),
                                                                gp.field, gp.value),
                                        dev_.sectors()));

    m_.max_seq = std::max(a.valid() ? a.seq : 0, b.valid() ? b.seq : 0);
}

void Loader::load_tables() {
    const Superblock& sb = m_.sb;
    const uint64_t blocks = sb.table_blocks;
    m_.slots.assign(blocks * RM4_ENTRIES_PER_BLOCK, Entry{});
    rep_.table.assign(blocks, BlockCopies{});

    const std::size_t chunk = static_cast<std::size_t>(std::min(blocks, chunk_blocks));
    AlignedBuffer abuf(chunk * RM4_BLOCK_SIZE);
    AlignedBuffer bbuf(chunk * RM4_BLOCK_SIZE);
    for (uint64_t first = 0; first < blocks; first += chunk) {
        const std::size_t n = static_cast<std::size_t>(std::min<uint64_t>(chunk, blocks - first));
        const uint64_t start[2] = {sb.table_a_start + first, sb.table_b_start + first};
        AlignedBuffer* bufs[2] = {&abuf, &bbuf};
        for (int c = 0; c < 2; c++) {
            for (auto& f : read_blocks(dev_, start[c], n, bufs[c]->span())) {
                copy_of(rep_.table[first + f.index], c).read_error = true;
                read_errors_[start[c] + f.index] = std::move(f.message);
            }
        }
        rep_.blocks_read += 2 * n;
        for (std::size_t i = 0; i < n; i++)
            table_block(first + i, block_at(abuf.span(), i), block_at(bbuf.span(), i));
    }
}

void Loader::table_block(uint64_t k, ConstBlockSpan a, ConstBlockSpan b) {
    const Superblock& sb = m_.sb;
    BlockCopies& bc = rep_.table[k];
    const uint64_t first_slot = k * RM4_ENTRIES_PER_BLOCK;
    const uint64_t blocknr[2] = {sb.table_a_start + k, sb.table_b_start + k};
    const std::byte* data[2] = {a.data(), b.data()};
    rm4_problem prob[2]{};

    for (int c = 0; c < 2; c++) {
        CopyStatus& cs = copy_of(bc, c);
        if (cs.read_error) {
            cs.status = RM4_E_CRC;
            continue;
        }
        cs.status = rm4_table_check(data[c], blocknr[c], first_slot, sb.uuid, &prob[c]);
        if (cs.status == RM4_OK) {
            cs.seq = rm4_block_seq(data[c]);
            m_.max_seq = std::max(m_.max_seq, cs.seq);
        }
    }
    if (bc.a.never_written() && bc.b.never_written()) {
        bc.source = BlockSource::empty; // never written: free slots only
        return;
    }

    auto reason = [&](int c) {
        auto it = read_errors_.find(blocknr[c]);
        return copy_reason(blocknr[c], fmt::format("table {} block {}", copy_letter(c), k),
                           copy_of(bc, c), prob[c], it == read_errors_.end() ? "" : it->second);
    };

    const int chosen = pick(bc.a, bc.b);
    if (chosen < 0) {
        bc.needs_rewrite = true;
        const bool unused_b_damaged =
            bc.a.never_written() && (bc.b.status == RM4_E_MAGIC || bc.b.read_error);
        if (bc.b.never_written() || unused_b_damaged) {
            // Copy B never written beside a damaged A: commits write A
            // first, so this is a first commit torn before it finished.
            // Or a zeroed A beside a B without magic: damage to a block
            // never used. Either way the last committed state is "no
            // entries" (an unreadable B counts as unused too: a bad region of
            // copy B must not make every unused block fatal). A zeroed A
            // beside a B that was written (its magic holds) hides
            // committed entries (a drive that returns zeroes for a lost
            // sector): lost, as the kernel says too.
            const int damaged = unused_b_damaged ? 1 : 0;
            bc.source = BlockSource::empty;
            add(Severity::non_fatal, blocknr[damaged], prob[damaged].field,
                pick_status(copy_of(bc, damaged)),
                fmt::format("{}; table {} block {} was never written, so the block holds no "
                            "committed entries: reading it as empty",
                            reason(damaged), copy_letter(1 - damaged), k));
            return;
        }
        bc.source = BlockSource::lost;
        add(Severity::fatal, blocknr[0], prob[0].field, pick_status(bc.a),
            fmt::format("table block {} is damaged in both copies: {}; {}; the entries of slots "
                        "{} to {} are lost",
                        k, reason(0), reason(1), first_slot,
                        first_slot + RM4_ENTRIES_PER_BLOCK - 1));
        return;
    }

    bc.source = chosen == 0 ? BlockSource::copy_a : BlockSource::copy_b;
    const std::byte* image = data[chosen];
    Entry* slots = m_.slots.data() + first_slot;
    for (unsigned i = 0; i < RM4_ENTRIES_PER_BLOCK; i++) {
        rm4_problem ep{};
        Entry e{};
        rm4_status s = rm4_entry_decode(image, i, &sb, &e, &ep);
        if (s == RM4_OK) {
            slots[i] = e;
            continue;
        }
        add(Severity::fatal, blocknr[chosen], ep.field, s,
            fmt::format("block {} (table {} block {}): slot {} ({}): {}; the slot is read as "
                        "free",
                        blocknr[chosen], copy_letter(chosen), k, first_slot + i,
                        state_name(e.state),
                        MetadataError::describe(s, std::nullopt, "", ep.field, ep.value)),
            first_slot + i);
    }

    const int other = 1 - chosen;
    const CopyStatus& oc = copy_of(bc, other);
    const uint64_t seq = copy_of(bc, chosen).seq;
    const std::string using_text =
        fmt::format("using table {} block {} (seq {})", copy_letter(chosen), k, seq);
    if (!oc.valid()) {
        bc.needs_rewrite = true;
        add(Severity::non_fatal, blocknr[other], prob[other].field, pick_status(oc),
            fmt::format("{}; {}", reason(other), using_text));
    } else if (oc.seq != seq) {
        bc.needs_rewrite = true;
        add(Severity::non_fatal, blocknr[other], "seq", RM4_OK,
            fmt::format("block {} (table {} block {}): stale copy (seq {}): a commit was "
                        "interrupted between its two writes; {}",
                        blocknr[other], copy_letter(other), k, oc.seq, using_text));
    } else if (std::memcmp(data[0] + sizeof(rm4_disk_header), data[1] + sizeof(rm4_disk_header),
                           RM4_BLOCK_SIZE - sizeof(rm4_disk_header)) != 0) {
        // Same seq must mean the same image (only the location differs).
        bc.needs_rewrite = true;
        add(Severity::non_fatal, blocknr[other], "entries", RM4_OK,
            fmt::format("block {} (table {} block {}): differs from the other copy at the same "
                        "seq {}; {}",
                        blocknr[other], copy_letter(other), k, seq, using_text));
    }
}

} // namespace

// ---- Metadata -------------------------------------------------------------------

Metadata Metadata::empty(const Superblock& sb) {
    Metadata m;
    m.sb = sb;
    m.slots.assign(rm4_table_capacity(&sb), Entry{});
    m.max_seq = sb.seq;
    return m;
}

std::span<Entry> Metadata::entries_in_block(uint64_t k) {
    return std::span<Entry>(slots).subspan(k * entries_per_block, entries_per_block);
}

std::span<const Entry> Metadata::entries_in_block(uint64_t k) const {
    return std::span<const Entry>(slots).subspan(k * entries_per_block, entries_per_block);
}

std::optional<uint64_t> Metadata::find_free_slot(uint64_t from) const noexcept {
    for (uint64_t i = from; i < slots.size(); i++)
        if (slots[i].state == RM4_STATE_FREE)
            return i;
    return std::nullopt;
}

uint64_t Metadata::used_slots() const noexcept {
    return static_cast<uint64_t>(std::count_if(
        slots.begin(), slots.end(), [](const Entry& e) { return e.state != RM4_STATE_FREE; }));
}

uint64_t Metadata::set_entry(uint64_t slot, const Entry& e) {
    if (slot >= slots.size())
        throw ParameterError("slot", fmt::format("slot {} does not exist (the table has {} slots)",
                                                 slot, slots.size()));
    rm4_problem prob{};
    rm4_status s = validate_entry(sb, e, &prob);
    if (s != RM4_OK)
        throw MetadataError(
            s, std::nullopt, prob.field, prob.value,
            fmt::format("slot {} ({}): {}", slot, state_name(e.state),
                        MetadataError::describe(s, std::nullopt, "", prob.field, prob.value)));
    slots[slot] = e;
    return block_of_slot(slot);
}

uint64_t Metadata::clear_entry(uint64_t slot) {
    return set_entry(slot, Entry{});
}

// ---- LoadReport ------------------------------------------------------------------

std::string_view to_string(Severity s) noexcept {
    return s == Severity::fatal ? "fatal" : "non-fatal";
}

std::string_view to_string(BlockSource s) noexcept {
    switch (s) {
    case BlockSource::copy_a:
        return "copy A";
    case BlockSource::copy_b:
        return "copy B";
    case BlockSource::empty:
        return "empty";
    case BlockSource::lost:
        return "lost";
    }
    return "unknown";
}

bool LoadReport::has_fatal() const noexcept {
    return count(Severity::fatal) != 0;
}

std::size_t LoadReport::count(Severity s) const noexcept {
    return static_cast<std::size_t>(std::count_if(
        findings.begin(), findings.end(), [s](const Finding& f) { return f.severity == s; }));
}

bool LoadReport::repaired_by_other_copy() const noexcept {
    if (superblock.needs_rewrite)
        return true;
    return std::any_of(table.begin(), table.end(), [](const BlockCopies& bc) {
        return bc.needs_rewrite && bc.source != BlockSource::lost;
    });
}

std::vector<const Finding*> LoadReport::findings_for(uint64_t block) const {
    std::vector<const Finding*> out;
    for (const auto& f : findings)
        if (f.block == block)
            out.push_back(&f);
    return out;
}

// ---- I/O ---------------------------------------------------------------------------

Metadata load(Device& dev, LoadReport* report) {
    LoadReport local;
    LoadReport& rep = report ? *report : local;
    rep = LoadReport{};
    Metadata m = Loader(dev, rep).run();
    if (!report) {
        for (const auto& f : rep.findings)
            if (f.severity == Severity::fatal)
                throw MetadataError(f.status, f.block, f.field, 0, f.message);
    }
    return m;
}

void encode_table_block(const Metadata& m, uint64_t k, uint64_t seq, Copy copy, BlockSpan out) {
    check_table_block_index(m, k);
    std::memset(out.data(), 0, out.size());
    const auto entries = m.entries_in_block(k);
    for (unsigned i = 0; i < RM4_ENTRIES_PER_BLOCK; i++)
        rm4_entry_encode(out.data(), i, &entries[i]);
    rm4_table_prepare(out.data(), table_blocknr(m.sb, k, copy), k * RM4_ENTRIES_PER_BLOCK, seq,
                      m.sb.uuid);
}

void commit_table_block(Device& dev, Metadata& m, uint64_t k) {
    check_model_writable(m, "commit a table block");
    check_table_block_index(m, k);
    AlignedBuffer buf(RM4_BLOCK_SIZE);
    const BlockSpan block(buf.data(), RM4_BLOCK_SIZE);
    const uint64_t seq = m.max_seq + 1;

    encode_table_block(m, k, seq, Copy::a, block);
    verify_table_block(m, k, Copy::a, block);
    m.max_seq = seq;
    dev.write(byte_offset(table_blocknr(m.sb, k, Copy::a)), block);
    dev.flush();
    encode_table_block(m, k, seq, Copy::b, block);
    dev.write(byte_offset(table_blocknr(m.sb, k, Copy::b)), block);
    dev.flush();
}

void write_superblocks(Device& dev, Metadata& m) {
    check_model_writable(m, "write the superblock");
    AlignedBuffer buf(RM4_BLOCK_SIZE);
    const BlockSpan block(buf.data(), RM4_BLOCK_SIZE);
    Superblock sb = m.sb;
    sb.seq = m.max_seq + 1;

    encode_superblock(sb, Copy::a, block);
    m.max_seq = sb.seq;
    m.sb.seq = sb.seq;
    m.sb.blocknr = RM4_SB_A_BLOCK;
    dev.write(byte_offset(RM4_SB_A_BLOCK), block);
    dev.flush();
    encode_superblock(sb, Copy::b, block);
    dev.write(byte_offset(RM4_SB_B_BLOCK), block);
    dev.flush();
}

void format(Device& dev, const Superblock& sb_in) {
    Superblock sb = sb_in;
    sb.blocknr = RM4_SB_A_BLOCK;
    if (sb.ro_compat & ~RM4_RO_COMPAT_SUPPORTED)
        throw MetadataError(RM4_E_INCOMPAT, std::nullopt, "planned layout", "ro_compat",
                            sb.ro_compat);
    rm4_problem prob{};
    if (rm4_sb_check_geometry(&sb, dev.sectors(), &prob) != RM4_OK)
        throw MetadataError(
            prob.status, std::nullopt, prob.field, prob.value,
            fmt::format("{} (the spare device has {} sectors)",
                        MetadataError::describe(prob.status, std::nullopt, "planned layout",
                                                prob.field, prob.value),
                        dev.sectors()));
    AlignedBuffer buf(RM4_BLOCK_SIZE);
    const BlockSpan block(buf.data(), RM4_BLOCK_SIZE);
    encode_superblock(sb, Copy::a, block); // validates before anything is destroyed

    // Invalidate any old superblocks first: a crash later in the format
    // must not leave an older format's superblock (maybe with a higher seq
    // than the new one's) next to zeroed tables.
    dev.zero(byte_offset(RM4_SB_A_BLOCK), 2 * RM4_BLOCK_SIZE);
    dev.flush();
    dev.zero(byte_offset(sb.table_a_start), sb.table_blocks * RM4_BLOCK_SIZE);
    dev.zero(byte_offset(sb.table_b_start), sb.table_blocks * RM4_BLOCK_SIZE);
    dev.flush();

    dev.write(byte_offset(RM4_SB_A_BLOCK), block);
    dev.flush();
    encode_superblock(sb, Copy::b, block);
    dev.write(byte_offset(RM4_SB_B_BLOCK), block);
    dev.flush();
}

} // namespace remapmeta

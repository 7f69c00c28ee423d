// SPDX-License-Identifier: GPL-2.0-only OR MIT
#include "remapmeta/check.hpp"

#include "remapmeta/errors.hpp"

#include <algorithm>
#include <cstring>
#include <fmt/format.h>

namespace remapmeta {

namespace {

// Table copies are read 4 MiB at a time: large enough to stream, small
// enough to stay in cache while both copies of a chunk are compared.
constexpr std::size_t chunk_blocks = (4u << 20) / RM4_BLOCK_SIZE;

uint64_t byte_offset(uint64_t blocknr) {
    return blocknr * RM4_BLOCK_SIZE;
}

std::string copy_role(Copy c, uint64_t k) {
    return fmt::format("table {} block {}", copy_name(c), k);
}

std::string describe_problem(rm4_status s, uint64_t blocknr, std::string_view role,
                             const rm4_problem& p) {
    return MetadataError::describe(s, blocknr, role, p.field ? p.field : "", p.value);
}

// Reads `count` blocks; a failed bulk read is retried block by block, and an
// unreadable block is returned zero-filled with its flag set.
void read_blocks(Device& dev, uint64_t first, std::size_t count, std::byte* buf,
                 std::vector<char>& unreadable) {
    unreadable.assign(count, 0);
    try {
        dev.read(byte_offset(first), std::span<std::byte>(buf, count * RM4_BLOCK_SIZE));
        return;
    } catch (const IoError&) {
    }
    for (std::size_t i = 0; i < count; i++) {
        std::byte* b = buf + i * RM4_BLOCK_SIZE;
        try {
            dev.read(byte_offset(first + i), std::span<std::byte>(b, RM4_BLOCK_SIZE));
        } catch (const IoError&) {
            std::memset(b, 0, RM4_BLOCK_SIZE);
            unreadable[i] = 1;
        }
    }
}

bool valid_or_salvageable(rm4_status s) {
    return s == RM4_OK || s == RM4_E_FIELD;
}

// LSD radix sort of 64-bit keys, 16 bits a pass, skipping the passes above
// the largest key: no per-element allocation, linear time.
void radix_sort(std::vector<uint64_t>& v) {
    if (v.size() < 2)
        return;
    uint64_t max = *std::max_element(v.begin(), v.end());
    std::vector<uint64_t> tmp(v.size());
    std::vector<uint32_t> count(1u << 16);
    for (unsigned shift = 0; shift < 64 && (max >> shift) != 0; shift += 16) {
        std::fill(count.begin(), count.end(), 0);
        for (uint64_t x : v)
            count[(x >> shift) & 0xffff]++;
        uint32_t sum = 0;
        for (auto& c : count) {
            uint32_t n = c;
            c = sum;
            sum += n;
        }
        for (uint64_t x : v)
            tmp[count[(x >> shift) & 0xffff]++] = x;
        v.swap(tmp);
    }
}

// Cross-entry invariants: no main block in two entries, no spare block in two
// entries. Fast path: a radix-sorted key list and a bitmap; the slow path
// that names every offender runs only when something is wrong.
void cross_check(const Superblock& sb, const std::vector<Entry>& slots,
                 std::vector<CheckFinding>& out, uint64_t block_of_slot_base_a) {
    std::vector<uint64_t> mains;
    mains.reserve(1024);
    std::vector<uint64_t> spare_bits((sb.pool_blocks + 63) / 64);
    bool spare_dup = false;
    for (const Entry& e : slots) {
        if (e.state == RM4_STATE_FREE)
            continue;
        if (e.main_block != RM4_NONE)
            mains.push_back(e.main_block);
        if (e.spare_block != RM4_NONE && e.spare_block < sb.pool_blocks) {
            uint64_t& w = spare_bits[e.spare_block >> 6];
            const uint64_t bit = 1ull << (e.spare_block & 63);
            spare_dup |= (w & bit) != 0;
            w |= bit;
        }
    }
    radix_sort(mains);
    bool main_dup = std::adjacent_find(mains.begin(), mains.end()) != mains.end();
    if (!main_dup && !spare_dup)
        return;

    auto table_block = [&](uint64_t slot) {
        return block_of_slot_base_a + slot / RM4_ENTRIES_PER_BLOCK;
    };
    struct Key {
        uint64_t key;
        uint64_t slot;
    };
    auto report = [&](bool by_main) {
        std::vector<Key> keys;
        for (uint64_t i = 0; i < slots.size(); i++) {
            const Entry& e = slots[i];
            const uint64_t k = by_main ? e.main_block : e.spare_block;
            if (e.state != RM4_STATE_FREE && k != RM4_NONE)
                keys.push_back({k, i});
        }
        std::sort(keys.begin(), keys.end(), [](const Key& a, const Key& b) {
            return a.key != b.key ? a.key < b.key : a.slot < b.slot;
        });
        for (std::size_t i = 1; i < keys.size(); i++) {
            if (keys[i].key != keys[i - 1].key)
                continue;
            const Entry& first = slots[keys[i - 1].slot];
            const Entry& e = slots[keys[i].slot];
            // Report each extra entry against the first one of its group.
            std::size_t f = i - 1;
            while (f > 0 && keys[f - 1].key == keys[i].key)
                f--;
            const uint64_t first_slot = keys[f].slot;
            CheckFinding cf;
            cf.severity = Severity::fatal;
            cf.block = table_block(keys[i].slot);
            cf.slot = keys[i].slot;
            if (e.main_block != RM4_NONE)
                cf.main_block = e.main_block;
            if (by_main) {
                cf.code = "duplicate-main";
                cf.field = "main_block";
                cf.message = fmt::format(
                    "main block {} is in two entries: slot {} ({}, spare block {}) and slot {} "
                    "({}, spare block {})",
                    e.main_block, first_slot, state_name(slots[first_slot].state),
                    slots[first_slot].spare_block == RM4_NONE
                        ? std::string("none")
                        : std::to_string(slots[first_slot].spare_block),
                    keys[i].slot, state_name(e.state),
                    e.spare_block == RM4_NONE ? std::string("none")
                                              : std::to_string(e.spare_block));
            } else {
                const bool bad = first.state == RM4_STATE_BAD_SPARE ||
                                 e.state == RM4_STATE_BAD_SPARE ||
                                 slots[first_slot].state == RM4_STATE_BAD_SPARE;
                cf.code = bad ? "spare-bad-and-used" : "duplicate-spare";
                cf.field = "spare_block";
                cf.message = fmt::format(
                    "spare block {} is used twice: slot {} ({}{}) and slot {} ({}{}){}",
                    e.spare_block, first_slot, state_name(slots[first_slot].state),
                    slots[first_slot].main_block == RM4_NONE
                        ? std::string()
                        : fmt::format(", main block {}", slots[first_slot].main_block),
                    keys[i].slot, state_name(e.state),
                    e.main_block == RM4_NONE ? std::string()
                                             : fmt::format(", main block {}", e.main_block),
                    bad ? "; a bad spare block is also in use" : "");
            }
            out.push_back(std::move(cf));
        }
    };
    if (main_dup)
        report(true);
    if (spare_dup)
        report(false);
}

class Scanner {
public:
    Scanner(Device& dev, const ScanOptions& opt)
        : dev_(dev)
        , opt_(opt) {}

    ScanResult run();

private:
    void add(Severity sev, std::string code, uint64_t block, std::string field, std::string message,
             bool fixable = false, std::optional<uint64_t> slot = std::nullopt,
             std::optional<uint64_t> main_block = std::nullopt) {
        CheckFinding f;
        f.severity = sev;
        f.code = std::move(code);
        f.block = block;
        f.field = std::move(field);
        f.message = std::move(message);
        f.fixable_in_place = fixable;
        f.slot = slot;
        f.main_block = main_block;
        r_.findings.push_back(std::move(f));
    }
    bool superblocks();
    void tables();
    void table_block(uint64_t k, const std::byte* a, bool a_unreadable, const std::byte* b,
                     bool b_unreadable);
    void check_cancel() const {
        if (opt_.cancel && opt_.cancel->load(std::memory_order_relaxed))
            throw Cancelled();
    }

    Device& dev_;
    const ScanOptions& opt_;
    ScanResult r_;
};

ScanResult Scanner::run() {
    if (superblocks() && !opt_.superblock_only) {
        tables();
        cross_check(r_.sb, r_.slots, r_.findings, r_.sb.table_a_start);
    }
    // Fatal findings first, then by block: a stable order for output.
    std::stable_sort(r_.findings.begin(), r_.findings.end(),
                     [](const CheckFinding& a, const CheckFinding& b) {
                         if (a.severity != b.severity)
                             return a.severity == Severity::fatal;
                         return a.block < b.block;
                     });
    return std::move(r_);
}

bool Scanner::superblocks() {
    const uint64_t size = dev_.size_bytes();
    if (size < 2 * RM4_BLOCK_SIZE) {
        if (size >= RM4_MAGIC_LEN) {
            char magic[RM4_MAGIC_LEN];
            AlignedBuffer b(RM4_BLOCK_SIZE);
            const std::size_t n = std::min<uint64_t>(size, RM4_BLOCK_SIZE) & ~511ull;
            if (n >= 512) {
                dev_.read(0, b.span().first(n));
                std::memcpy(magic, b.data(), RM4_MAGIC_LEN);
                if (!std::memcmp(magic, RM3_MAGIC, RM4_MAGIC_LEN))
                    throw LegacyV3Error();
            }
        }
        throw NotMetadataError(
            fmt::format("{}: {} bytes is too small to hold dm-remap metadata (at least {} "
                        "bytes); is this the spare device?",
                        dev_.path(), size, 2 * RM4_BLOCK_SIZE));
    }
    AlignedBuffer buf(2 * RM4_BLOCK_SIZE);
    std::vector<char> unreadable;
    read_blocks(dev_, 0, 2, buf.data(), unreadable);
    r_.blocks_read += 2;

    Superblock cand[2]{};
    rm4_problem prob[2]{};
    rm4_status st[2];
    for (int c = 0; c < 2; c++) {
        st[c] = unreadable[c] ? RM4_E_CRC
                              : rm4_sb_decode(buf.data() + c * RM4_BLOCK_SIZE,
                                              static_cast<uint64_t>(c), &cand[c], &prob[c]);
        if (unreadable[c]) {
            prob[c].field = "block";
            prob[c].value = 0;
        }
    }
    if (st[0] == RM4_E_V3)
        throw LegacyV3Error();
    auto has_magic = [&](int c) {
        return !unreadable[c] &&
               !std::memcmp(buf.data() + c * RM4_BLOCK_SIZE, RM4_MAGIC, RM4_MAGIC_LEN);
    };
    if (!has_magic(0) && !has_magic(1) && !unreadable[0] && !unreadable[1])
        throw NotMetadataError(fmt::format(
            "{}: no dm-remap metadata (neither block 0 nor block 1 starts with the "
            "magic DMREMAP4 or DMREMAP3){}; is this the spare device?",
            dev_.path(),
            rm4_is_zero(buf.data(), 2 * RM4_BLOCK_SIZE) ? " (both blocks are zero)" : ""));

    auto reason = [&](int c) {
        if (unreadable[c])
            return fmt::format("block {} (superblock {}): unreadable (I/O error)", c,
                               c == 0 ? 'A' : 'B');
        return describe_problem(st[c], static_cast<uint64_t>(c),
                                c == 0 ? "superblock A" : "superblock B", prob[c]);
    };
    for (int c = 0; c < 2; c++) {
        if (st[c] == RM4_E_VERSION || st[c] == RM4_E_INCOMPAT) {
            add(Severity::fatal, "superblock-version", static_cast<uint64_t>(c),
                prob[c].field ? prob[c].field : "",
                reason(c) + "; upgrade dm-remap to check this spare");
            return false;
        }
    }
    const int chosen = rm4_pick_copy(st[0], cand[0].seq, st[1], cand[1].seq);
    if (chosen < 0) {
        add(Severity::fatal, "no-superblock", 0, prob[0].field ? prob[0].field : "",
            fmt::format("no valid superblock: {}; {}", reason(0), reason(1)));
        return false;
    }
    const int other = 1 - chosen;
    r_.sb = cand[chosen];
    r_.superblock_copy = chosen;
    r_.max_seq = r_.sb.seq;
    const std::string using_text =
        fmt::format("using superblock {} (seq {})", chosen == 0 ? 'A' : 'B', r_.sb.seq);
    const uint64_t ob = static_cast<uint64_t>(other);
    if (st[other] != RM4_OK) {
        r_.superblock_needs_rewrite = true;
        add(Severity::non_fatal, "superblock-copy-damaged", ob,
            prob[other].field ? prob[other].field : "",
            fmt::format("{}; {}", reason(other), using_text), true);
    } else {
        r_.max_seq = std::max<uint64_t>(r_.max_seq, cand[other].seq);
        if (cand[other].seq != r_.sb.seq) {
            r_.superblock_needs_rewrite = true;
            add(Severity::non_fatal, "superblock-copy-stale", ob, "seq",
                fmt::format("block {} (superblock {}): stale copy (seq {}): an update was "
                            "interrupted between its two writes; {}",
                            ob, other == 0 ? 'A' : 'B', cand[other].seq, using_text),
                true);
        } else if (auto diff = superblock_differences(cand[0], cand[1]); !diff.empty()) {
            r_.superblock_needs_rewrite = true;
            add(Severity::non_fatal, "superblock-copies-differ", ob, diff.front(),
                fmt::format("block {} (superblock {}): differs from the other copy at the same "
                            "seq {} (fields: {}); {}",
                            ob, other == 0 ? 'A' : 'B', r_.sb.seq, fmt::join(diff, ", "),
                            using_text),
                true);
        }
    }
    if (r_.sb.flags & RM4_SB_NEEDS_CHECK)
        add(Severity::non_fatal, "needs-check", r_.sb.blocknr, "flags",
            fmt::format("block {} (superblock {}): the needs_check flag is set: the kernel saw "
                        "metadata trouble and asks for a check",
                        r_.sb.blocknr, chosen == 0 ? 'A' : 'B'));

    rm4_problem gp{};
    if (rm4_sb_check_geometry(&r_.sb, dev_.sectors(), &gp) != RM4_OK) {
        add(Severity::fatal, "geometry", r_.sb.blocknr, gp.field ? gp.field : "",
            fmt::format("{} (the spare device has {} sectors); the table cannot be located",
                        describe_problem(gp.status, r_.sb.blocknr,
                                         chosen == 0 ? "superblock A" : "superblock B", gp),
                        dev_.sectors()));
        return false;
    }
    r_.geometry_ok = true;
    return true;
}

void Scanner::tables() {
    const Superblock& sb = r_.sb;
    const uint64_t blocks = sb.table_blocks;
    r_.slots.assign(blocks * RM4_ENTRIES_PER_BLOCK, Entry{});
    r_.blocks.assign(blocks, ScanBlock{});
    const std::size_t chunk = static_cast<std::size_t>(std::min<uint64_t>(blocks, chunk_blocks));
    AlignedBuffer abuf(chunk * RM4_BLOCK_SIZE);
    AlignedBuffer bbuf(chunk * RM4_BLOCK_SIZE);
    std::vector<char> ua, ub;
    for (uint64_t first = 0; first < blocks; first += chunk) {
        check_cancel();
        const std::size_t n = static_cast<std::size_t>(std::min<uint64_t>(chunk, blocks - first));
        read_blocks(dev_, sb.table_a_start + first, n, abuf.data(), ua);
        read_blocks(dev_, sb.table_b_start + first, n, bbuf.data(), ub);
        r_.blocks_read += 2 * n;
        for (std::size_t i = 0; i < n; i++)
            table_block(first + i, abuf.data() + i * RM4_BLOCK_SIZE, ua[i],
                        bbuf.data() + i * RM4_BLOCK_SIZE, ub[i]);
        if (opt_.progress)
            opt_.progress(first + n, blocks);
    }
}

void Scanner::table_block(uint64_t k, const std::byte* a, bool a_unreadable, const std::byte* b,
                          bool b_unreadable) {
    const Superblock& sb = r_.sb;
    ScanBlock& sbk = r_.blocks[k];
    const uint64_t first_slot = k * RM4_ENTRIES_PER_BLOCK;
    const uint64_t blocknr[2] = {sb.table_a_start + k, sb.table_b_start + k};
    const std::byte* data[2] = {a, b};
    const bool unreadable[2] = {a_unreadable, b_unreadable};
    rm4_status st[2];
    rm4_problem prob[2]{};
    uint64_t seq[2] = {0, 0};
    for (int c = 0; c < 2; c++) {
        if (unreadable[c]) {
            st[c] = RM4_E_CRC;
            prob[c].field = "block";
        } else {
            st[c] = rm4_table_check(data[c], blocknr[c], first_slot, sb.uuid, &prob[c]);
        }
        if (valid_or_salvageable(st[c]) && !unreadable[c])
            seq[c] = rm4_block_seq(data[c]);
        if (st[c] == RM4_OK)
            r_.max_seq = std::max(r_.max_seq, seq[c]);
    }
    sbk.a = st[0];
    sbk.b = st[1];
    const bool zero[2] = {st[0] == RM4_E_ZERO && !unreadable[0],
                          st[1] == RM4_E_ZERO && !unreadable[1]};
    if (zero[0] && zero[1])
        return; // never written: free slots only

    auto reason = [&](int c) {
        if (unreadable[c])
            return fmt::format("block {} ({}): unreadable (I/O error)", blocknr[c],
                               copy_role(c == 0 ? Copy::a : Copy::b, k));
        return describe_problem(st[c], blocknr[c], copy_role(c == 0 ? Copy::a : Copy::b, k),
                                prob[c]);
    };

    int chosen = rm4_pick_copy(st[0], seq[0], st[1], seq[1]);
    if (chosen < 0) {
        sbk.needs_rewrite = true;
        const bool salv[2] = {!unreadable[0] && st[0] == RM4_E_FIELD,
                              !unreadable[1] && st[1] == RM4_E_FIELD};
        if (salv[0] || salv[1]) {
            // The checksum holds but a header field (used, first_slot,
            // reserved) is wrong: the entries themselves can be trusted.
            chosen = rm4_pick_copy(salv[0] ? RM4_OK : RM4_E_CRC, seq[0],
                                   salv[1] ? RM4_OK : RM4_E_CRC, seq[1]);
            sbk.salvaged = true;
            add(Severity::fatal, "table-block-header", blocknr[chosen],
                prob[chosen].field ? prob[chosen].field : "",
                fmt::format("table block {} has no valid copy: {}; {}; its entries pass their "
                            "checks and can be salvaged from copy {} by remap-repair",
                            k, reason(0), reason(1), chosen == 0 ? 'A' : 'B'));
        } else if (zero[1] || (zero[0] && (st[1] == RM4_E_MAGIC || unreadable[1]))) {
            // B never written beside a bad A is a cut first commit (A is
            // written first); a zeroed A beside a B without magic, or
            // unreadable, is damage to an unused block. A zeroed A beside
            // a B that was written hides entries: lost (below).
            const int damaged = zero[1] ? 0 : 1;
            add(Severity::non_fatal, "table-copy-damaged", blocknr[damaged],
                prob[damaged].field ? prob[damaged].field : "",
                fmt::format("{}; table {} block {} was never written, so the block holds no "
                            "committed entries: reading it as empty",
                            reason(damaged), damaged == 0 ? 'B' : 'A', k),
                true);
            return;
        } else {
            sbk.lost = true;
            add(Severity::fatal, "table-block-lost", blocknr[0], prob[0].field ? prob[0].field : "",
                fmt::format("table block {} is damaged in both copies: {}; {}; the entries of "
                            "slots {} to {} are lost",
                            k, reason(0), reason(1), first_slot,
                            first_slot + RM4_ENTRIES_PER_BLOCK - 1));
            return;
        }
    }
    sbk.chosen = chosen;
    sbk.seq = seq[chosen];

    const std::byte* image = data[chosen];
    Entry* slots = r_.slots.data() + first_slot;
    for (unsigned i = 0; i < RM4_ENTRIES_PER_BLOCK; i++) {
        rm4_problem ep{};
        Entry e{};
        const rm4_status s = rm4_entry_decode(image, i, &sb, &e, &ep);
        if (s == RM4_OK) {
            slots[i] = e;
            continue;
        }
        add(Severity::fatal, "entry-invalid", blocknr[chosen], ep.field ? ep.field : "",
            fmt::format(
                "block {} ({}): slot {} ({}{}): {}", blocknr[chosen],
                copy_role(chosen == 0 ? Copy::a : Copy::b, k), first_slot + i, state_name(e.state),
                e.main_block == RM4_NONE ? std::string()
                                         : fmt::format(", main block {}", e.main_block),
                MetadataError::describe(s, std::nullopt, "", ep.field ? ep.field : "", ep.value)),
            false, first_slot + i,
            e.main_block == RM4_NONE ? std::nullopt : std::optional<uint64_t>(e.main_block));
    }
    if (sbk.salvaged)
        return;

    const int other = 1 - chosen;
    const std::string using_text =
        fmt::format("using table {} block {} (seq {})", chosen == 0 ? 'A' : 'B', k, seq[chosen]);
    if (zero[other] && other == 1) {
        // Copy A is written first: a zeroed copy B beside a valid copy A is
        // the block's first commit, cut between its two writes.
        sbk.needs_rewrite = true;
        add(Severity::non_fatal, "table-copy-stale", blocknr[other], "seq",
            fmt::format("block {} ({}): never written: the block's first commit was interrupted "
                        "between its two writes; {}",
                        blocknr[other], copy_role(Copy::b, k), using_text),
            true);
    } else if (st[other] != RM4_OK || unreadable[other]) {
        sbk.needs_rewrite = true;
        add(Severity::non_fatal, "table-copy-damaged", blocknr[other],
            prob[other].field ? prob[other].field : "",
            fmt::format("{}; {}", reason(other), using_text), true);
    } else if (seq[other] != seq[chosen]) {
        sbk.needs_rewrite = true;
        add(Severity::non_fatal, "table-copy-stale", blocknr[other], "seq",
            fmt::format("block {} ({}): stale copy (seq {}): a commit was interrupted between "
                        "its two writes; {}",
                        blocknr[other], copy_role(other == 0 ? Copy::a : Copy::b, k), seq[other],
                        using_text),
            true);
    } else if (std::memcmp(data[0] + sizeof(rm4_disk_header), data[1] + sizeof(rm4_disk_header),
                           RM4_BLOCK_SIZE - sizeof(rm4_disk_header)) != 0) {
        sbk.needs_rewrite = true;
        add(Severity::non_fatal, "table-copies-differ", blocknr[other], "entries",
            fmt::format("block {} ({}): differs from the other copy at the same seq {}; {}",
                        blocknr[other], copy_role(other == 0 ? Copy::a : Copy::b, k), seq[chosen],
                        using_text),
            true);
    }
}

} // namespace

bool ScanResult::has_fatal() const noexcept {
    return count(Severity::fatal) != 0;
}

std::size_t ScanResult::count(Severity s) const noexcept {
    return static_cast<std::size_t>(std::count_if(
        findings.begin(), findings.end(), [s](const CheckFinding& f) { return f.severity == s; }));
}

ScanResult scan(Device& dev, const ScanOptions& options) {
    return Scanner(dev, options).run();
}

std::size_t fix_copies_in_place(Device& dev, ScanResult& r) {
    if (r.has_fatal() || r.superblock_copy < 0)
        throw ParameterError("fix", "refusing to fix copies in place: the check found fatal "
                                    "problems; use remap-repair");
    if (r.sb.ro_compat & ~RM4_RO_COMPAT_SUPPORTED)
        throw ParameterError("fix", "refusing to write: the superblock has unknown read-only "
                                    "features; upgrade dm-remap");
    std::size_t written = 0;
    AlignedBuffer buf(RM4_BLOCK_SIZE);
    const BlockSpan block(buf.data(), RM4_BLOCK_SIZE);
    for (uint64_t k = 0; k < r.blocks.size(); k++) {
        ScanBlock& b = r.blocks[k];
        if (!b.needs_rewrite || b.lost || b.salvaged)
            continue;
        if (b.chosen < 0) {
            // Never committed: the damaged copy becomes zero like its twin.
            for (Copy c : {Copy::a, Copy::b})
                dev.zero(byte_offset(table_blocknr(r.sb, k, c)), RM4_BLOCK_SIZE);
        } else {
            const Copy from = b.chosen == 0 ? Copy::a : Copy::b;
            const Copy to = b.chosen == 0 ? Copy::b : Copy::a;
            dev.read(byte_offset(table_blocknr(r.sb, k, from)), block);
            rm4_table_prepare(block.data(), table_blocknr(r.sb, k, to), k * RM4_ENTRIES_PER_BLOCK,
                              b.seq, r.sb.uuid);
            rm4_problem p{};
            if (rm4_table_check(block.data(), table_blocknr(r.sb, k, to), k * RM4_ENTRIES_PER_BLOCK,
                                r.sb.uuid, &p) != RM4_OK)
                throw MetadataError(p.status, table_blocknr(r.sb, k, to),
                                    "refusing to write " + copy_role(to, k), p.field ? p.field : "",
                                    p.value);
            dev.write(byte_offset(table_blocknr(r.sb, k, to)), block);
        }
        dev.flush();
        b.needs_rewrite = false;
        written++;
    }
    if (r.superblock_needs_rewrite) {
        Superblock s = r.sb;
        s.blocknr = r.superblock_copy == 0 ? RM4_SB_B_BLOCK : RM4_SB_A_BLOCK;
        rm4_sb_encode(&s, block.data());
        Superblock check{};
        rm4_problem p{};
        if (rm4_sb_decode(block.data(), s.blocknr, &check, &p) != RM4_OK)
            throw MetadataError(p.status, s.blocknr, "refusing to write the superblock",
                                p.field ? p.field : "", p.value);
        dev.write(byte_offset(s.blocknr), block);
        dev.flush();
        r.superblock_needs_rewrite = false;
        written++;
    }
    std::erase_if(r.findings, [](const CheckFinding& f) { return f.fixable_in_place; });
    return written;
}

void clear_needs_check(Device& dev, ScanResult& r) {
    Metadata m;
    m.sb = r.sb;
    m.sb.flags &= ~RM4_SB_NEEDS_CHECK;
    m.max_seq = r.max_seq;
    write_superblocks(dev, m);
    r.sb = m.sb;
    r.max_seq = m.max_seq;
    r.superblock_needs_rewrite = false;
    std::erase_if(r.findings, [](const CheckFinding& f) { return f.code == "needs-check"; });
}

std::vector<CheckFinding> check_model(const Metadata& m) {
    std::vector<CheckFinding> out;
    for (uint64_t i = 0; i < m.slots.size(); i++) {
        rm4_problem p{};
        const rm4_status s = validate_entry(m.sb, m.slots[i], &p);
        if (s != RM4_OK) {
            CheckFinding f;
            f.severity = Severity::fatal;
            f.code = "entry-invalid";
            f.field = p.field ? p.field : "";
            f.slot = i;
            f.block = m.sb.table_a_start + i / RM4_ENTRIES_PER_BLOCK;
            f.message = fmt::format("slot {}: {}", i,
                                    MetadataError::describe(s, std::nullopt, "", f.field, p.value));
            out.push_back(std::move(f));
        }
    }
    cross_check(m.sb, m.slots, out, m.sb.table_a_start);
    return out;
}

SalvageResult salvage(const ScanResult& r) {
    if (r.superblock_copy < 0 || !r.geometry_ok) {
        const CheckFinding* f = r.findings.empty() ? nullptr : &r.findings.front();
        throw MetadataError(RM4_E_FIELD, f ? std::optional<uint64_t>(f->block) : std::nullopt,
                            f ? f->field : std::string(), 0,
                            fmt::format("cannot salvage: {}; no superblock or layout can be "
                                        "trusted, so the table cannot be found. Restore a "
                                        "saved dump with `remap-repair --restore`",
                                        f ? f->message : "no valid superblock"));
    }
    SalvageResult out;
    Metadata& m = out.model;
    m.sb = r.sb;
    m.sb.flags &= ~RM4_SB_NEEDS_CHECK;
    m.max_seq = r.max_seq;
    m.slots = r.slots;

    for (const auto& f : r.findings) {
        if (f.code == "table-block-lost")
            out.lost.push_back(f.message);
        else if (f.code == "entry-invalid")
            out.actions.push_back({*f.slot, f.main_block, std::nullopt, "dropped: " + f.message});
    }

    auto fmt_opt = [](uint64_t v) {
        return v == RM4_NONE ? std::string("none") : fmt::format("{}", v);
    };
    // Duplicate main blocks: which spare block holds the current data is
    // unknown, so the unit becomes pending (reads fail, never stale) and
    // keeps the newest entry's spare block for manual recovery.
    {
        struct Key {
            uint64_t key, slot;
        };
        std::vector<Key> keys;
        for (uint64_t i = 0; i < m.slots.size(); i++)
            if (m.slots[i].state != RM4_STATE_FREE && m.slots[i].main_block != RM4_NONE)
                keys.push_back({m.slots[i].main_block, i});
        std::sort(keys.begin(), keys.end(), [](const Key& a, const Key& b) {
            return a.key != b.key ? a.key < b.key : a.slot < b.slot;
        });
        for (std::size_t i = 0; i < keys.size();) {
            std::size_t j = i + 1;
            while (j < keys.size() && keys[j].key == keys[i].key)
                j++;
            if (j - i > 1) {
                std::size_t keep = i;
                for (std::size_t x = i; x < j; x++)
                    if (m.slots[keys[x].slot].event_time >= m.slots[keys[keep].slot].event_time)
                        keep = x;
                for (std::size_t x = i; x < j; x++) {
                    Entry& e = m.slots[keys[x].slot];
                    if (x == keep) {
                        out.actions.push_back(
                            {keys[x].slot, e.main_block, e.spare_block,
                             fmt::format("quarantined as pending: main block {} was in {} "
                                         "entries; it keeps spare block {} (the newest) but "
                                         "reads fail until the unit is rewritten",
                                         e.main_block, j - i, fmt_opt(e.spare_block))});
                        e.state = RM4_STATE_PENDING;
                    } else {
                        out.actions.push_back(
                            {keys[x].slot, e.main_block, e.spare_block,
                             fmt::format("dropped: duplicate entry for main block {} (spare "
                                         "block {}, {})",
                                         e.main_block, fmt_opt(e.spare_block),
                                         state_name(e.state))});
                        e = Entry{};
                    }
                }
            }
            i = j;
        }
    }
    // Spare blocks used twice: a bad spare stays bad and the others lose the
    // block; otherwise the newest keeps it, as pending.
    {
        struct Key {
            uint64_t key, slot;
        };
        std::vector<Key> keys;
        for (uint64_t i = 0; i < m.slots.size(); i++)
            if (m.slots[i].state != RM4_STATE_FREE && m.slots[i].spare_block != RM4_NONE)
                keys.push_back({m.slots[i].spare_block, i});
        std::sort(keys.begin(), keys.end(), [](const Key& a, const Key& b) {
            return a.key != b.key ? a.key < b.key : a.slot < b.slot;
        });
        for (std::size_t i = 0; i < keys.size();) {
            std::size_t j = i + 1;
            while (j < keys.size() && keys[j].key == keys[i].key)
                j++;
            if (j - i > 1) {
                std::optional<std::size_t> keep;
                for (std::size_t x = i; x < j; x++)
                    if (m.slots[keys[x].slot].state == RM4_STATE_BAD_SPARE) {
                        keep = x;
                        break;
                    }
                const bool bad = keep.has_value();
                if (!keep) {
                    keep = i;
                    for (std::size_t x = i; x < j; x++)
                        if (m.slots[keys[x].slot].event_time >=
                            m.slots[keys[*keep].slot].event_time)
                            keep = x;
                }
                for (std::size_t x = i; x < j; x++) {
                    Entry& e = m.slots[keys[x].slot];
                    const uint64_t spare = e.spare_block;
                    if (x == *keep) {
                        if (!bad) {
                            out.actions.push_back(
                                {keys[x].slot, e.main_block, spare,
                                 fmt::format("quarantined as pending: main block {} shared "
                                             "spare block {} with another entry; it keeps the "
                                             "block (the newest) but reads fail until the unit "
                                             "is rewritten",
                                             fmt_opt(e.main_block), spare)});
                            e.state = RM4_STATE_PENDING;
                        }
                        continue;
                    }
                    if (e.state == RM4_STATE_BAD_SPARE) {
                        out.actions.push_back({keys[x].slot, std::nullopt, spare,
                                               fmt::format("dropped: duplicate bad-spare "
                                                           "entry for spare block {}",
                                                           spare)});
                        e = Entry{};
                        continue;
                    }
                    out.actions.push_back(
                        {keys[x].slot, e.main_block, spare,
                         fmt::format("quarantined as pending: main block {} used spare block "
                                     "{}, which {}; the unit loses the block and reads fail "
                                     "until it is rewritten",
                                     e.main_block, spare,
                                     bad ? "is marked bad" : "another, newer entry uses")});
                    e.state = RM4_STATE_PENDING;
                    e.spare_block = RM4_NONE;
                }
            }
            i = j;
        }
    }
    std::sort(out.actions.begin(), out.actions.end(),
              [](const SalvageAction& a, const SalvageAction& b) { return a.slot < b.slot; });
    return out;
}

} // namespace remapmeta

// SPDX-License-Identifier: GPL-2.0-only OR MIT
//
// remap-check: checks dm-remap metadata (v4, and legacy v3 read-only) and
// reports every finding, graded; optionally fixes what is safe in place.
#include "common/tool.hpp"
#include "remapmeta/check.hpp"
#include "remapmeta/errors.hpp"
#include "remapmeta/v3.hpp"

#include <cstdio>
#include <fmt/format.h>

using namespace remapmeta;
using namespace remaptool;

namespace {

struct Options {
    std::string device;
    bool quiet = false;
    bool json = false;
    bool superblock_only = false;
    bool clear_needs_check = false;
    bool no = false;
    bool yes = false;
    bool preen = false;
    std::optional<uint64_t> spare_start;
    std::optional<uint64_t> spare_len;
};

std::string jstr(std::string_view s) {
    std::string out = "\"";
    for (char ch : s) {
        const auto c = static_cast<unsigned char>(ch);
        if (c == '"' || c == '\\')
            out += {'\\', ch};
        else if (c < 0x20 || c > 0x7e)
            out += fmt::format("\\u{:04x}", c);
        else
            out += ch;
    }
    return out + "\"";
}

std::string opt_num(const std::optional<uint64_t>& v) {
    return v ? fmt::format("{}", *v) : std::string("null");
}

std::string verdict_name(int code) {
    switch (code) {
    case exit_clean:
        return "clean";
    case exit_fixed:
        return "fixed";
    default:
        return "problems-left";
    }
}

void print_json(const Options& o, int metadata_version, const std::vector<CheckFinding>& findings,
                int code, std::size_t written, const std::string& extra) {
    std::string s =
        fmt::format("{{\n  \"tool\": \"remap-check\",\n  \"format_version\": 1,\n"
                    "  \"device\": {},\n  \"metadata_version\": {},\n"
                    "  \"mode\": \"{}\",\n  \"superblock_only\": {},\n",
                    jstr(o.device), metadata_version,
                    o.yes ? "yes" : (o.preen ? "preen" : "read-only"), o.superblock_only);
    s += extra;
    std::size_t fatal = 0;
    s += "  \"findings\": [";
    for (std::size_t i = 0; i < findings.size(); i++) {
        const CheckFinding& f = findings[i];
        fatal += f.severity == Severity::fatal;
        s += fmt::format("{}\n    {{\"severity\": \"{}\", \"code\": \"{}\", \"block\": {}, "
                         "\"field\": {}, \"slot\": {}, \"main_block\": {}, "
                         "\"fixable_in_place\": {}, \"message\": {}}}",
                         i ? "," : "", to_string(f.severity), f.code, f.block, jstr(f.field),
                         opt_num(f.slot), opt_num(f.main_block), f.fixable_in_place,
                         jstr(f.message));
    }
    s += findings.empty() ? "],\n" : "\n  ],\n";
    s += fmt::format(
        "  \"summary\": {{\"fatal\": {}, \"non_fatal\": {}, \"blocks_written\": {}}},\n", fatal,
        findings.size() - fatal, written);
    s += fmt::format("  \"verdict\": \"{}\",\n  \"exit_code\": {}\n}}\n", verdict_name(code), code);
    std::fwrite(s.data(), 1, s.size(), stdout);
}

void print_findings(const std::vector<CheckFinding>& findings) {
    for (const auto& f : findings)
        std::printf("[%s] %s\n", std::string(to_string(f.severity)).c_str(), f.message.c_str());
}

int check_v3(const Options& o, Device& dev) {
    const v3::Image img = v3::read(dev, o.spare_start, o.spare_len);
    const int code = img.valid() ? exit_clean : exit_problems_left;
    if (o.json) {
        print_json(o, 3, img.findings, code, 0,
                   fmt::format("  \"v3\": {{\"verdict\": \"{}\", \"checksum_verified\": {}, "
                               "\"entry_count\": {}, \"entries_read\": {}}},\n",
                               img.verdict, img.checksum_verified, img.header.entry_count,
                               img.entries.size()));
        return code;
    }
    if (o.quiet)
        return code;
    std::printf("%s: legacy dm-remap v3 metadata (checked read-only; v3 is never written)\n",
                o.device.c_str());
    if (o.yes || o.preen || o.clear_needs_check)
        note("v3 metadata is checked read-only: -y, -p and --clear-needs-check do not apply");
    print_findings(img.findings);
    std::printf("checksum: %s; entries: %zu; verdict: %s\n",
                img.checksum_verified ? "verified" : "does not verify (warning only)",
                img.entries.size(), img.verdict.c_str());
    if (!img.valid())
        note(fmt::format("{}: the v3 metadata breaks the rules above; it cannot be migrated as "
                         "it is. Save it (remap-dump --format json {}) before any change",
                         o.device, o.device));
    return code;
}

int check(const Options& o) {
    const bool write = o.yes || o.preen || o.clear_needs_check;
    Device dev = open_device(o.device, write);
    if (v3::is_v3(dev))
        return check_v3(o, dev);

    Progress progress("remap-check: checking", !o.quiet && !o.json);
    ScanOptions so;
    so.superblock_only = o.superblock_only;
    so.cancel = &cancel_requested;
    so.progress = [&](uint64_t d, uint64_t t) { progress.update(d, t); };
    ScanResult r = scan(dev, so);
    progress.update(1, 1);

    std::size_t written = 0;
    bool fixed = false;
    std::vector<CheckFinding> before = r.findings;
    if ((o.yes || o.preen) && !r.has_fatal() && r.superblock_copy >= 0) {
        written = fix_copies_in_place(dev, r);
        fixed = written > 0;
    }
    bool cleared = false;
    const bool only_needs_check =
        r.superblock_copy >= 0 && !r.findings.empty() &&
        std::all_of(r.findings.begin(), r.findings.end(),
                    [](const CheckFinding& f) { return f.code == "needs-check"; });
    if (only_needs_check && (o.clear_needs_check || o.yes || o.preen) && !o.superblock_only) {
        clear_needs_check(dev, r);
        cleared = true;
        fixed = true;
        written += 2;
    }
    const int code = !r.findings.empty() ? exit_problems_left : (fixed ? exit_fixed : exit_clean);

    if (o.json) {
        print_json(o, 4, before, code, written, "");
        return code;
    }
    if (o.quiet)
        return code;
    print_findings(before);
    const std::size_t fatal = r.count(Severity::fatal);
    const std::size_t fixable = static_cast<std::size_t>(
        std::count_if(r.findings.begin(), r.findings.end(),
                      [](const CheckFinding& f) { return f.fixable_in_place; }));
    const std::string what = o.superblock_only ? "superblocks" : "metadata";
    if (before.empty()) {
        std::printf("%s: %s clean (%s, %llu table slots in use)%s\n", o.device.c_str(),
                    what.c_str(), o.superblock_only ? "superblocks only" : "full check",
                    static_cast<unsigned long long>(
                        std::count_if(r.slots.begin(), r.slots.end(),
                                      [](const Entry& e) { return e.state != RM4_STATE_FREE; })),
                    write ? "" : "; read-only check, nothing written");
        return code;
    }
    std::printf("%s: %zu fatal, %zu non-fatal finding(s)%s\n", o.device.c_str(),
                static_cast<std::size_t>(std::count_if(
                    before.begin(), before.end(),
                    [](const CheckFinding& f) { return f.severity == Severity::fatal; })),
                static_cast<std::size_t>(std::count_if(
                    before.begin(), before.end(),
                    [](const CheckFinding& f) { return f.severity == Severity::non_fatal; })),
                write ? "" : "; read-only check (-n), nothing was written");
    if (written)
        std::printf("%s: fixed in place: %zu block(s) rewritten%s\n", o.device.c_str(), written,
                    cleared ? " (needs_check cleared)" : "");
    if (fatal)
        note(fmt::format("{}: fatal problems left; run `remap-repair -i {} -o NEW` to salvage "
                         "into a new image (or --in-place, which saves a backup first)",
                         o.device, o.device));
    else if (fixable)
        note(fmt::format("{}: {} problem(s) can be fixed in place by rewriting from the good "
                         "copy: run `remap-check -y {}`",
                         o.device, fixable, o.device));
    else if (!r.findings.empty())
        note(fmt::format("{}: the needs_check flag is set; the metadata is otherwise clean: run "
                         "`remap-check --clear-needs-check {}`{}",
                         o.device, o.device, o.superblock_only ? " (a full check)" : ""));
    return code;
}

} // namespace

int main(int argc, char** argv) {
    Options o;
    CLI::App app{"Check dm-remap metadata on a spare device or image and report every problem, "
                 "graded fatal or non-fatal.\nExit status: 0 clean, 1 problems fixed, 4 problems "
                 "left, 8 operational error, 16 usage error, 32 cancelled."};
    app.add_option("DEVICE", o.device, "spare device or image file")->required();
    app.add_flag("-q,--quiet", o.quiet, "print nothing; the exit status tells the result");
    app.add_flag("--json", o.json, "print the findings as JSON on stdout");
    app.add_flag("--super-block-only", o.superblock_only,
                 "quick check: the superblocks and layout only");
    app.add_flag("--clear-needs-check", o.clear_needs_check,
                 "clear the needs_check flag when the check is otherwise clean");
    auto* n = app.add_flag("-n,--no", o.no, "read-only: fix nothing (the default)");
    auto* y = app.add_flag("-y,--yes", o.yes,
                           "fix what is safe in place: rewrite damaged or stale copies from the "
                           "good copy, clear needs_check when clean");
    auto* p =
        app.add_flag("-p,--preen", o.preen, "fix what is safe in place without asking (as -y)");
    n->excludes(y)->excludes(p);
    y->excludes(p);
    app.add_option("--spare-start", o.spare_start, "v3 only: first sector of the spare area");
    app.add_option("--spare-len", o.spare_len, "v3 only: sectors in the spare area");
    return run("remap-check",
               "remap-check [-n|-y|-p] [-q] [--json] [--super-block-only] "
               "[--clear-needs-check] DEVICE",
               app, argc, argv, [&] {
                   if (o.quiet && o.json)
                       usage_error("--quiet and --json exclude each other");
                   if (o.spare_start.has_value() != o.spare_len.has_value())
                       usage_error("--spare-start and --spare-len go together");
                   return check(o);
               });
}

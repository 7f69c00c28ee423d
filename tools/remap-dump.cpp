// SPDX-License-Identifier: GPL-2.0-only OR MIT
//
// remap-dump: dumps dm-remap metadata as text or as the canonical JSON
// (docs/dump-format.md); --repair dumps what can be salvaged.
#include "common/tool.hpp"
#include "remapmeta/check.hpp"
#include "remapmeta/dump.hpp"
#include "remapmeta/errors.hpp"
#include "remapmeta/v3.hpp"

#include <cstdio>
#include <fmt/format.h>
#include <memory>

using namespace remapmeta;
using namespace remaptool;

namespace {

struct Options {
    std::string device;
    std::string format = "text";
    std::string output;
    bool repair = false;
    bool quiet = false;
};

struct FileCloser {
    void operator()(std::FILE* f) const noexcept {
        if (f)
            std::fclose(f);
    }
};

int dump(const Options& o) {
    Device dev = open_device(o.device, false);
    std::unique_ptr<std::FILE, FileCloser> file;
    std::FILE* out = stdout;
    auto open_output = [&] {
        if (o.output.empty())
            return;
        file.reset(std::fopen(o.output.c_str(), "w"));
        if (!file)
            throw IoError("open", o.output, std::nullopt, errno);
        out = file.get();
    };
    auto finish = [&] {
        if (std::fflush(out) != 0 || std::ferror(out))
            throw IoError("write", o.output.empty() ? "stdout" : o.output, std::nullopt, errno);
        if (file && std::fclose(file.release()) != 0)
            throw IoError("close", o.output, std::nullopt, errno);
    };
    auto emitter_for = [&] { return make_stream_emitter(o.format, out); };

    if (v3::is_v3(dev)) {
        const v3::Image img = v3::read(dev);
        open_output();
        emitter_for()->emit_v3(img);
        finish();
        if (!img.valid() && !o.quiet)
            note(fmt::format("{}: legacy v3 metadata, verdict {}; run remap-check {} for the "
                             "details",
                             o.device, img.verdict, o.device));
        return exit_clean;
    }

    Progress progress("remap-dump: reading", !o.quiet);
    ScanOptions so;
    so.cancel = &cancel_requested;
    so.progress = [&](uint64_t d, uint64_t t) { progress.update(d, t); };
    ScanResult r = scan(dev, so);
    progress.update(1, 1);

    Metadata m;
    if (o.repair) {
        SalvageResult s = salvage(r);
        for (const auto& a : s.actions)
            note(fmt::format("slot {}{}: {}", a.slot,
                             a.main_block ? fmt::format(" (main block {})", *a.main_block) : "",
                             a.what));
        for (const auto& l : s.lost)
            note("not salvaged: " + l);
        if (!o.quiet && s.actions.empty() && s.lost.empty())
            note("nothing needed salvaging: the dump holds every entry");
        m = std::move(s.model);
    } else {
        if (r.has_fatal()) {
            const CheckFinding& f = r.findings.front();
            throw MetadataError(RM4_E_FIELD, f.block, f.field, 0,
                                fmt::format("{}: the metadata is damaged ({} fatal problem(s); "
                                            "first: {}); run `remap-check {}` for the list, or "
                                            "`remap-dump --repair {}` to dump what can be "
                                            "salvaged",
                                            o.device, r.count(Severity::fatal), f.message, o.device,
                                            o.device));
        }
        if (!o.quiet && !r.findings.empty())
            note(fmt::format("{}: {} non-fatal finding(s) (damaged or stale copies); dumping from "
                             "the good copies; run `remap-check {}` for details",
                             o.device, r.findings.size(), o.device));
        m.sb = r.sb;
        m.slots = std::move(r.slots);
        m.max_seq = r.max_seq;
    }
    open_output();
    emitter_for()->emit(m);
    finish();
    return exit_clean;
}

} // namespace

int main(int argc, char** argv) {
    Options o;
    CLI::App app{"Dump dm-remap metadata (superblock, fingerprint, every entry, bad spare blocks, "
                 "pending units) as text or JSON."};
    app.add_option("DEVICE", o.device, "spare device or image file")->required();
    app.add_option("-f,--format", o.format, "output format: text (default) or json")
        ->check(CLI::IsMember({"text", "json"}));
    app.add_option("-o,--output", o.output, "write the dump to FILE instead of stdout");
    app.add_flag("--repair", o.repair,
                 "dump what can be salvaged from damaged metadata; say on stderr what cannot");
    app.add_flag("-q,--quiet", o.quiet, "no notes on stderr (errors are still printed)");
    return run("remap-dump", "remap-dump [-f text|json] [-o FILE] [--repair] DEVICE", app, argc,
               argv, [&] { return dump(o); });
}

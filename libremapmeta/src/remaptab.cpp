// SPDX-License-Identifier: GPL-2.0-only OR MIT
#include "remapmeta/remaptab.hpp"

#include "remapmeta/device.hpp"
#include "remapmeta/format.hpp"
#include "remapmeta/status.hpp"
#include "rm_format.h"

#include <algorithm>
#include <blkid/blkid.h>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fmt/format.h>
#include <fstream>
#include <memory>
#include <set>
#include <sstream>

namespace remapmeta::remaptab {

namespace fs = std::filesystem;

ParseError::ParseError(const std::string& file, unsigned line, const std::string& problem)
    : Error(fmt::format("{}:{}: {}", file, line, problem))
    , file_(file)
    , line_(line) {}

std::string DeviceSpec::text() const {
    switch (kind) {
    case Kind::uuid:
        return "UUID=" + value;
    case Kind::partuuid:
        return "PARTUUID=" + value;
    case Kind::path:
        break;
    }
    return value;
}

namespace {

constexpr std::size_t dm_name_max = 127; // DM_NAME_LEN less the NUL

bool is_hex(char c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

std::string lower(std::string s) {
    for (char& c : s)
        if (c >= 'A' && c <= 'Z')
            c = static_cast<char>(c - 'A' + 'a');
    return s;
}

std::vector<std::string> split(std::string_view s, char sep) {
    std::vector<std::string> out;
    std::size_t start = 0;
    for (;;) {
        const auto pos = s.find(sep, start);
        out.emplace_back(s.substr(start, pos - start));
        if (pos == std::string_view::npos)
            return out;
        start = pos + 1;
    }
}

std::vector<std::string> fields_of(std::string_view line) {
    std::vector<std::string> out;
    std::size_t i = 0;
    while (i < line.size()) {
        while (i < line.size() && (line[i] == ' ' || line[i] == '\t'))
            i++;
        if (i >= line.size())
            break;
        const std::size_t start = i;
        while (i < line.size() && line[i] != ' ' && line[i] != '\t')
            i++;
        out.emplace_back(line.substr(start, i - start));
    }
    return out;
}

void check_name(const std::string& name, const std::string& file, unsigned line) {
    if (name.size() > dm_name_max)
        throw ParseError(file, line,
                         fmt::format("name '{}...' is {} bytes long; device-mapper names have at "
                                     "most {}",
                                     name.substr(0, 16), name.size(), dm_name_max));
    if (name == "." || name == ".." || name == "control")
        throw ParseError(file, line,
                         fmt::format("name '{}' cannot be a dm device name (it would be "
                                     "/dev/mapper/{}); pick another",
                                     name, name));
    for (char c : name)
        if (c == '/' || c < 0x21 || c > 0x7e)
            throw ParseError(file, line,
                             fmt::format("name '{}' holds '{}'; a dm device name is printable "
                                         "ASCII without '/'",
                                         name, c == '/' ? std::string("/") : "a control byte"));
}

DeviceSpec parse_spec(const std::string& text, const char* role, const std::string& file,
                      unsigned line) {
    DeviceSpec s;
    const auto eq = text.find('=');
    if (text.starts_with("/")) {
        s.kind = DeviceSpec::Kind::path;
        s.value = text;
        return s;
    }
    if (eq == std::string::npos)
        throw ParseError(file, line,
                         fmt::format("{} '{}' is not an absolute path, UUID= or PARTUUID=; name "
                                     "the device by /dev/disk/by-id/..., PARTUUID=... or (the "
                                     "spare) UUID=<format UUID>",
                                     role, text));
    const std::string key = text.substr(0, eq);
    const std::string value = text.substr(eq + 1);
    if (key == "UUID") {
        if (std::string(role) == "main")
            throw ParseError(
                file, line,
                fmt::format("main '{}': UUID= is not accepted for the main device: the UUID of "
                            "what is on it belongs to the dm-remap device too, and its remapped "
                            "blocks may be stale on the raw disk; name the main by "
                            "/dev/disk/by-id/..., PARTUUID=... or a path",
                            text));
        try {
            s.value = uuid_to_string(parse_uuid(value).data());
        } catch (const ParameterError&) {
            throw ParseError(file, line,
                             fmt::format("spare '{}': '{}' is not a UUID (36 characters, "
                                         "8-4-4-4-12 hex digits); `remap-dump SPARE` shows the "
                                         "format UUID",
                                         text, value));
        }
        s.kind = DeviceSpec::Kind::uuid;
        return s;
    }
    if (key == "PARTUUID") {
        // GPT: a UUID; MBR: the disk signature and the partition number (1234abcd-01).
        const bool ok =
            !value.empty() && value.size() <= 36 &&
            std::all_of(value.begin(), value.end(), [](char c) { return is_hex(c) || c == '-'; }) &&
            is_hex(value.front()) && is_hex(value.back());
        if (!ok)
            throw ParseError(file, line,
                             fmt::format("{} '{}': '{}' is not a partition UUID; `blkid -s "
                                         "PARTUUID DEVICE` shows it",
                                         role, text, value));
        s.kind = DeviceSpec::Kind::partuuid;
        s.value = lower(value);
        return s;
    }
    throw ParseError(file, line,
                     fmt::format("{} '{}': {}= is not supported; use /dev/disk/by-id/..., "
                                 "PARTUUID=... or (the spare) UUID=...",
                                 role, text, key));
}

unsigned parse_number(const std::string& text, unsigned max, const std::string& what,
                      const std::string& file, unsigned line) {
    const bool digits =
        !text.empty() && text.size() <= 9 &&
        std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; });
    if (!digits || std::stoul(text) > max)
        throw ParseError(
            file, line,
            fmt::format("option {}: '{}' is not a number from 0 to {}", what, text, max));
    return static_cast<unsigned>(std::stoul(text));
}

void parse_options(Entry& e, const std::string& text) {
    if (text == "-" || text == "defaults" || text == "none")
        return;
    std::set<std::string> seen;
    for (const auto& opt : split(text, ',')) {
        if (opt.empty())
            throw ParseError(e.file, e.line,
                             fmt::format("options '{}' have an empty item (two commas, or a "
                                         "comma at an end)",
                                         text));
        const auto eq = opt.find('=');
        const std::string key = opt.substr(0, eq);
        const std::string value = eq == std::string::npos ? "" : opt.substr(eq + 1);
        if (!seen.insert(key).second)
            throw ParseError(e.file, e.line, fmt::format("option {} is given twice", key));
        const bool has_value = eq != std::string::npos;
        if (key == "noauto" || key == "nofail") {
            if (has_value)
                throw ParseError(e.file, e.line, fmt::format("option {} takes no value", key));
            (key == "noauto" ? e.noauto : e.nofail) = true;
        } else if (key == "retries") {
            if (!has_value)
                throw ParseError(
                    e.file, e.line,
                    fmt::format("option retries needs a value: retries=N (0 to {})", max_retries));
            e.retries = parse_number(value, max_retries, "retries", e.file, e.line);
        } else if (key == "x-systemd.device-timeout") {
            std::string v = value;
            unsigned scale = 1;
            if (v.ends_with("min")) {
                v.resize(v.size() - 3);
                scale = 60;
            } else if (v.ends_with("s")) {
                v.resize(v.size() - 1);
            }
            if (!has_value)
                throw ParseError(e.file, e.line,
                                 "option x-systemd.device-timeout needs a value: seconds, "
                                 "or Ns, or Nmin");
            e.device_timeout = parse_number(v, 86400 / scale, key, e.file, e.line) * scale;
        } else {
            throw ParseError(e.file, e.line,
                             fmt::format("unknown option '{}'; the options are retries=N, "
                                         "noauto, nofail and x-systemd.device-timeout=SECONDS",
                                         opt));
        }
    }
}

} // namespace

std::vector<Entry> parse(std::string_view text, const std::string& file) {
    std::vector<Entry> out;
    std::set<std::string> names;
    unsigned lineno = 0;
    for (const auto& raw : split(text, '\n')) {
        lineno++;
        std::string_view line = raw;
        if (!line.empty() && line.back() == '\r')
            line.remove_suffix(1);
        const auto first = line.find_first_not_of(" \t");
        if (first == std::string_view::npos || line[first] == '#')
            continue;
        const auto f = fields_of(line);
        if (f.size() < 3)
            throw ParseError(file, lineno,
                             fmt::format("{} field{}; a line is NAME MAIN SPARE [OPTIONS]",
                                         f.size(), f.size() == 1 ? "" : "s"));
        if (f.size() > 4)
            throw ParseError(file, lineno,
                             fmt::format("{} fields; a line is NAME MAIN SPARE [OPTIONS] "
                                         "(options are one comma-separated field, without "
                                         "spaces)",
                                         f.size()));
        Entry e;
        e.file = file;
        e.line = lineno;
        e.name = f[0];
        check_name(e.name, file, lineno);
        if (!names.insert(e.name).second)
            throw ParseError(file, lineno,
                             fmt::format("name '{}' is used by an earlier line too; every "
                                         "device needs its own name",
                                         e.name));
        e.main = parse_spec(f[1], "main", file, lineno);
        e.spare = parse_spec(f[2], "spare", file, lineno);
        if (e.main.kind == e.spare.kind && e.main.value == e.spare.value)
            throw ParseError(file, lineno,
                             fmt::format("main and spare are the same ({})", e.main.text()));
        if (f.size() == 4)
            parse_options(e, f[3]);
        out.push_back(std::move(e));
    }
    return out;
}

std::vector<Entry> load(const std::string& path, bool missing_ok) {
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        const int err = errno ? errno : ENOENT;
        if (err == ENOENT && missing_ok)
            return {};
        throw IoError("read", path, std::nullopt, err);
    }
    std::ostringstream ss;
    ss << in.rdbuf();
    return parse(ss.str(), path);
}

// ---- resolution ---------------------------------------------------------------

namespace {

std::string first_line(const fs::path& p) {
    std::ifstream in(p);
    std::string s;
    std::getline(in, s);
    return s;
}

struct BlockDev {
    std::string name; // kernel name: "vdb", "sda1", "dm-0"
    fs::path sys;     // /sys/class/block/<name>
    std::string node; // /dev/<DEVNAME>
};

std::vector<BlockDev> block_devices(const std::string& sys) {
    std::vector<BlockDev> out;
    std::error_code ec;
    for (const auto& d : fs::directory_iterator(fs::path(sys) / "class" / "block", ec)) {
        BlockDev b;
        b.name = d.path().filename().string();
        b.sys = d.path();
        b.node = "/dev/" + b.name;
        std::ifstream in(b.sys / "uevent");
        std::string line;
        while (std::getline(in, line))
            if (line.starts_with("DEVNAME="))
                b.node = "/dev/" + line.substr(8);
        // Empty devices (an unbound loop, a drive without a medium) hold nothing.
        if (first_line(b.sys / "size") == "0")
            continue;
        out.push_back(std::move(b));
    }
    std::sort(out.begin(), out.end(),
              [](const BlockDev& a, const BlockDev& b) { return a.name < b.name; });
    return out;
}

bool held(const fs::path& sysdir) {
    std::error_code ec;
    return !fs::is_empty(sysdir / "holders", ec) && !ec;
}

// The format UUID of a dm-remap v4 superblock in block 0 or 1 (magic, type
// and UUID; the CRC is for `remapctl create` to judge, with a clear message).
std::optional<std::string> spare_uuid(const std::string& node) {
    try {
        Device dev = Device::open(node, {.direct = true});
        if (dev.size_bytes() < 2 * RM4_BLOCK_SIZE)
            return std::nullopt;
        AlignedBuffer b(2 * RM4_BLOCK_SIZE);
        dev.read(0, b.span());
        for (std::size_t k = 0; k < 2; k++) {
            const auto* h = reinterpret_cast<const rm4_disk_header*>(b.data() + k * RM4_BLOCK_SIZE);
            uint16_t type = 0;
            std::memcpy(&type, &h->type, sizeof type); // little-endian hosts only, as the tools
            if (std::memcmp(h->magic, RM4_MAGIC, RM4_MAGIC_LEN) == 0 && type == RM4_TYPE_SUPERBLOCK)
                return uuid_to_string(h->uuid);
        }
    } catch (const Error&) {
    }
    return std::nullopt;
}

struct ProbeFree {
    void operator()(blkid_struct_probe* p) const noexcept { blkid_free_probe(p); }
};

std::string part_entry_uuid(const std::string& node) {
    std::unique_ptr<blkid_struct_probe, ProbeFree> pr(blkid_new_probe_from_filename(node.c_str()));
    if (!pr)
        return {};
    blkid_probe_enable_superblocks(pr.get(), 0);
    blkid_probe_enable_partitions(pr.get(), 1);
    blkid_probe_set_partitions_flags(pr.get(), BLKID_PARTS_ENTRY_DETAILS);
    if (blkid_do_safeprobe(pr.get()) != 0)
        return {};
    const char* v = nullptr;
    if (blkid_probe_lookup_value(pr.get(), "PART_ENTRY_UUID", &v, nullptr) != 0 || !v)
        return {};
    return lower(v);
}

} // namespace

namespace {

// The matching devices; a path is returned as it is, without a sysfs entry.
std::vector<BlockDev> matches(const DeviceSpec& spec, const std::string& sys) {
    std::vector<BlockDev> out;
    if (spec.kind == DeviceSpec::Kind::path) {
        std::error_code ec;
        if (fs::exists(spec.value, ec))
            out.push_back({spec.value, {}, spec.value});
        return out;
    }
    for (auto& b : block_devices(sys)) {
        if (spec.kind == DeviceSpec::Kind::partuuid) {
            std::error_code ec;
            if (fs::exists(b.sys / "partition", ec) && part_entry_uuid(b.node) == spec.value)
                out.push_back(std::move(b));
            continue;
        }
        // A dm-remap device shows its main's content, never its spare's.
        if (first_line(b.sys / "dm" / "uuid").starts_with("REMAP-"))
            continue;
        if (spare_uuid(b.node) == spec.value)
            out.push_back(std::move(b));
    }
    return out;
}

} // namespace

std::vector<std::string> candidates(const DeviceSpec& spec, const std::string& sys) {
    std::vector<std::string> out;
    for (const auto& b : matches(spec, sys))
        out.push_back(b.node);
    return out;
}

std::string resolve(const DeviceSpec& spec, const std::string& role, const std::string& sys) {
    const auto found = matches(spec, sys);
    if (found.empty()) {
        std::string how = "is the disk attached? (`lsblk` lists the block devices)";
        if (spec.kind == DeviceSpec::Kind::uuid)
            how = "no block device holds a dm-remap spare of that format UUID; is the disk "
                  "attached? (`lsblk`; `remap-dump DEVICE` shows a spare's UUID)";
        else if (spec.kind == DeviceSpec::Kind::partuuid)
            how = "no partition has that UUID; is the disk attached? (`lsblk -o "
                  "NAME,PARTUUID`)";
        throw DeviceError(DeviceErrorKind::not_found, spec.value,
                          fmt::format("{} {} not found: {}", role, spec.text(), how));
    }
    if (found.size() > 1) {
        std::vector<std::string> free;
        for (const auto& f : found)
            if (!held(f.sys))
                free.push_back(f.node);
        if (free.size() == 1)
            return free[0];
        std::string list;
        for (std::size_t i = 0; i < found.size(); i++)
            list += (i ? ", " : "") + found[i].node;
        throw DeviceError(DeviceErrorKind::busy, spec.value,
                          fmt::format("{} {} is ambiguous: {} all match; name the device by "
                                      "path in remaptab (/dev/disk/by-id/...)",
                                      role, spec.text(), list));
    }
    return found[0].node;
}

// ---- systemd unit names -----------------------------------------------------------

namespace {

std::string escape_chars(std::string_view s) {
    std::string out;
    for (std::size_t i = 0; i < s.size(); i++) {
        const char c = s[i];
        const bool plain = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                           (c >= '0' && c <= '9') || c == ':' || c == '_' || (c == '.' && i > 0);
        if (c == '/')
            out += '-';
        else if (plain)
            out += c;
        else
            out += fmt::format("\\x{:02x}", static_cast<unsigned char>(c));
    }
    return out;
}

} // namespace

std::string escape_unit(std::string_view s) {
    return escape_chars(s);
}

std::string escape_unit_path(std::string_view path) {
    // As systemd-escape --path: simplified (no duplicate or outer slashes), "/" is "-".
    std::string simple;
    for (char c : path) {
        if (c == '/' && (simple.empty() || simple.back() == '/'))
            continue;
        simple += c;
    }
    while (!simple.empty() && simple.back() == '/')
        simple.pop_back();
    if (simple.empty())
        return "-";
    return escape_chars(simple);
}

} // namespace remapmeta::remaptab

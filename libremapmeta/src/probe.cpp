// SPDX-License-Identifier: GPL-2.0-only OR MIT
#include "remapmeta/probe.hpp"

#include "remapmeta/device.hpp"
#include "remapmeta/errors.hpp"
#include "remapmeta/format.hpp"
#include "rm_format.h"

#include <blkid/blkid.h>
#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <filesystem>
#include <fmt/format.h>
#include <fstream>
#include <memory>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

namespace remapmeta::probe {

namespace fs = std::filesystem;

namespace {

constexpr std::string_view v3_magic = "DMREMAP3";

std::string read_first_line(const fs::path& p) {
    std::ifstream in(p);
    std::string s;
    std::getline(in, s);
    return s;
}

// Printable ASCII, outer white space trimmed, inner runs of it kept.
std::string clean(std::string_view s) {
    std::string out;
    for (char c : s)
        if (c >= 0x20 && c <= 0x7e)
            out += c;
    const auto b = out.find_first_not_of(' ');
    if (b == std::string::npos)
        return {};
    const auto e = out.find_last_not_of(' ');
    return out.substr(b, e - b + 1);
}

// A value from the udev database ("E:ID_WWN=0x5000c500a1b2c3d4").
std::string udev_property(const DevNum& d, std::string_view key) {
    std::ifstream in(fmt::format("/run/udev/data/b{}:{}", d.major, d.minor));
    std::string line;
    const std::string prefix = fmt::format("E:{}=", key);
    while (std::getline(in, line))
        if (line.starts_with(prefix))
            return clean(std::string_view(line).substr(prefix.size()));
    return {};
}

std::string lookup(blkid_probe pr, const char* name) {
    const char* v = nullptr;
    std::size_t len = 0;
    if (blkid_probe_lookup_value(pr, name, &v, &len) == 0 && v)
        return std::string(v, strnlen(v, len));
    return {};
}

struct ProbeFree {
    void operator()(blkid_struct_probe* p) const noexcept { blkid_free_probe(p); }
};

} // namespace

std::string Signature::describe() const {
    std::string what;
    if (usage == "dm-remap")
        what = type == "dm-remap-v3" ? "legacy dm-remap v3 metadata" : "dm-remap v4 metadata";
    else if (usage == "partition table")
        what = fmt::format("{} partition table", type);
    else if (usage == "filesystem")
        what = fmt::format("{} filesystem", type);
    else if (type == "LVM2_member")
        what = "LVM2 physical volume";
    else if (usage == "raid")
        what = fmt::format("{} RAID member", type);
    else if (usage == "crypto")
        what = fmt::format("{} encrypted volume", type);
    else if (type == "swap")
        what = "swap area";
    else
        what = fmt::format("{} signature", type);
    if (!label.empty())
        what += fmt::format(", label '{}'", label);
    else if (!uuid.empty() && usage == "dm-remap")
        what += fmt::format(", format UUID {}", uuid);
    return what;
}

std::optional<Signature> remap_magic(const std::string& path) {
    Device dev = Device::open(path);
    if (dev.size_bytes() < RM4_BLOCK_SIZE)
        return std::nullopt;
    AlignedBuffer b(RM4_BLOCK_SIZE);
    dev.read(0, b.span());
    const std::string_view head(reinterpret_cast<const char*>(b.data()), RM4_MAGIC_LEN);
    Signature s;
    s.usage = "dm-remap";
    if (head == std::string_view(RM4_MAGIC, RM4_MAGIC_LEN)) {
        s.type = "dm-remap-v4";
        s.uuid = uuid_to_string(reinterpret_cast<const uint8_t*>(b.data()) + 32);
        return s;
    }
    if (head == v3_magic) {
        s.type = "dm-remap-v3";
        return s;
    }
    return std::nullopt;
}

std::vector<Signature> signatures(const std::string& path) {
    std::vector<Signature> out;
    if (auto own = remap_magic(path))
        out.push_back(*own);

    std::unique_ptr<blkid_struct_probe, ProbeFree> pr(blkid_new_probe_from_filename(path.c_str()));
    if (!pr)
        throw IoError("probe", path, std::nullopt, errno ? errno : EIO,
                      "libblkid cannot open it for probing");
    blkid_probe_enable_superblocks(pr.get(), 1);
    blkid_probe_set_superblocks_flags(pr.get(), BLKID_SUBLKS_LABEL | BLKID_SUBLKS_UUID |
                                                    BLKID_SUBLKS_TYPE | BLKID_SUBLKS_USAGE |
                                                    BLKID_SUBLKS_MAGIC | BLKID_SUBLKS_BADCSUM);
    blkid_probe_enable_partitions(pr.get(), 1);
    blkid_probe_set_partitions_flags(pr.get(), BLKID_PARTS_MAGIC | BLKID_PARTS_FORCE_GPT);
    // Every signature, not only the first (as wipefs lists them).
    for (int i = 0; i < 64; i++) {
        const int rc = blkid_do_probe(pr.get());
        if (rc != 0)
            break;
        Signature s;
        s.type = lookup(pr.get(), "TYPE");
        if (!s.type.empty()) {
            s.usage = lookup(pr.get(), "USAGE");
            s.label = lookup(pr.get(), "LABEL");
            s.uuid = lookup(pr.get(), "UUID");
            s.offset = std::strtoull(lookup(pr.get(), "SBMAGIC_OFFSET").c_str(), nullptr, 10);
        } else {
            s.type = lookup(pr.get(), "PTTYPE");
            if (s.type.empty())
                continue;
            s.usage = "partition table";
            s.uuid = lookup(pr.get(), "PTUUID");
            s.offset = std::strtoull(lookup(pr.get(), "PTMAGIC_OFFSET").c_str(), nullptr, 10);
        }
        out.push_back(std::move(s));
    }
    return out;
}

int wipe_signatures(int fd, const std::string& path) {
    const int flags = ::fcntl(fd, F_GETFL);
    if (flags < 0)
        throw IoError("fcntl", path, std::nullopt, errno);
    if ((flags & O_DIRECT) && ::fcntl(fd, F_SETFL, flags & ~O_DIRECT) != 0)
        throw IoError("fcntl", path, std::nullopt, errno);
    std::unique_ptr<blkid_struct_probe, ProbeFree> pr(blkid_new_probe());
    int wiped = 0;
    int err = 0;
    if (!pr || blkid_probe_set_device(pr.get(), fd, 0, 0) != 0) {
        err = errno ? errno : ENOMEM;
    } else {
        blkid_probe_enable_superblocks(pr.get(), 1);
        blkid_probe_set_superblocks_flags(pr.get(), BLKID_SUBLKS_MAGIC | BLKID_SUBLKS_BADCSUM);
        blkid_probe_enable_partitions(pr.get(), 1);
        blkid_probe_set_partitions_flags(pr.get(), BLKID_PARTS_MAGIC | BLKID_PARTS_FORCE_GPT);
        for (int i = 0; i < 64 && blkid_do_probe(pr.get()) == 0; i++) {
            if (blkid_do_wipe(pr.get(), 0) != 0) {
                err = errno ? errno : EIO;
                break;
            }
            wiped++;
        }
        if (!err && ::fsync(fd) != 0)
            err = errno;
    }
    if (flags & O_DIRECT)
        (void)::fcntl(fd, F_SETFL, flags);
    if (err)
        throw IoError("erase signatures on", path, std::nullopt, err);
    return wiped;
}

std::string DevNum::str() const {
    return fmt::format("{}:{}", major, minor);
}

std::optional<DevNum> devnum(const std::string& path) {
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0 || !S_ISBLK(st.st_mode))
        return std::nullopt;
    return DevNum{::major(st.st_rdev), ::minor(st.st_rdev)};
}

std::string identity(const std::string& path) {
    const auto d = devnum(path);
    if (!d)
        return {};
    std::error_code ec;
    fs::path dir = fs::canonical(fs::path("/sys/dev/block") / d->str(), ec);
    if (ec)
        return {};
    DevNum disk = *d;
    if (fs::exists(dir / "partition", ec)) { // a partition: the disk identifies it
        dir = dir.parent_path();
        const std::string dev = read_first_line(dir / "dev");
        unsigned ma = 0, mi = 0;
        if (std::sscanf(dev.c_str(), "%u:%u", &ma, &mi) == 2)
            disk = DevNum{ma, mi};
    }
    auto attr = [&](std::initializer_list<const char*> names) {
        for (const char* n : names) {
            std::string v = clean(read_first_line(dir / n));
            if (!v.empty())
                return v;
        }
        return std::string();
    };
    std::string v;
    std::string kind;
    if (!(v = attr({"wwid", "device/wwid"})).empty())
        kind = "wwn";
    else if (!(v = udev_property(disk, "ID_WWN")).empty())
        kind = "wwn";
    else if (!(v = attr({"serial", "device/serial"})).empty())
        kind = "serial";
    else if (!(v = udev_property(disk, "ID_SERIAL_SHORT")).empty() ||
             !(v = udev_property(disk, "ID_SERIAL")).empty())
        kind = "serial";
    else if (!(v = attr({"dm/uuid"})).empty())
        kind = "dm-uuid";
    else if (!(v = attr({"device/model"})).empty())
        kind = "model";
    else
        return {};
    std::string id = fmt::format("{}:{}", kind, v);
    if (id.size() > RM4_IDENTITY_LEN)
        id.resize(RM4_IDENTITY_LEN);
    return id;
}

std::string device_path(const DevNum& d) {
    const fs::path sys = fs::path("/sys/dev/block") / d.str();
    const std::string dm_name = read_first_line(sys / "dm" / "name");
    if (!dm_name.empty())
        return "/dev/mapper/" + dm_name;
    std::ifstream in(sys / "uevent");
    std::string line;
    while (std::getline(in, line))
        if (line.starts_with("DEVNAME="))
            return "/dev/" + line.substr(8);
    return d.str();
}

std::string device_path(const std::string& majmin) {
    unsigned ma = 0, mi = 0;
    char extra = 0;
    if (std::sscanf(majmin.c_str(), "%u:%u%c", &ma, &mi, &extra) != 2)
        return majmin;
    return device_path(DevNum{ma, mi});
}

} // namespace remapmeta::probe

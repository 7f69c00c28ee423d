// SPDX-License-Identifier: GPL-2.0-only OR MIT
//
// /etc/remaptab: the lines remaptab(5) allows, every kind of bad line with
// its file:line message, resolution of UUID= against image files through a
// fake sysfs, and systemd's unit name escaping.
#include "remapmeta/device.hpp"
#include "remapmeta/format.hpp"
#include "remapmeta/layout.hpp"
#include "remapmeta/metadata.hpp"
#include "remapmeta/remaptab.hpp"

#include <filesystem>
#include <fstream>
#include <gtest/gtest.h>
#include <unistd.h>

namespace {

using namespace remapmeta;
using remaptab::DeviceSpec;

// The message of the ParseError that parsing `text` throws ("" when none).
std::string error_of(const std::string& text) {
    try {
        remaptab::parse(text, "/etc/remaptab");
    } catch (const remaptab::ParseError& e) {
        return e.what();
    }
    return "";
}

TEST(Remaptab, EveryFormOfALine) {
    const auto t = remaptab::parse("# comment\n"
                                   "\n"
                                   "   \t\n"
                                   "data /dev/disk/by-id/wwn-0x5000c5 "
                                   "UUID=0F1E2D3C-4B5A-6978-8796-A5B4C3D2E1F0\n"
                                   "  # indented comment\n"
                                   "logs\tPARTUUID=1234ABCD-01\t/dev/vdc\tretries=5,nofail\r\n"
                                   "cold /dev/vdd PARTUUID=6f2c9a0e-1d4b-4a8e-9f3c-0123456789ab "
                                   "noauto,x-systemd.device-timeout=2min\n"
                                   "plain /dev/vde /dev/vdf -\n",
                                   "/etc/remaptab");
    ASSERT_EQ(t.size(), 4u);
    EXPECT_EQ(t[0].name, "data");
    EXPECT_EQ(t[0].line, 4u);
    EXPECT_EQ(t[0].file, "/etc/remaptab");
    EXPECT_EQ(t[0].main.kind, DeviceSpec::Kind::path);
    EXPECT_EQ(t[0].main.value, "/dev/disk/by-id/wwn-0x5000c5");
    EXPECT_EQ(t[0].spare.kind, DeviceSpec::Kind::uuid);
    EXPECT_EQ(t[0].spare.text(), "UUID=0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0");
    EXPECT_FALSE(t[0].retries.has_value());
    EXPECT_FALSE(t[0].noauto);
    EXPECT_FALSE(t[0].nofail);
    EXPECT_EQ(t[0].device_timeout, 90u);

    EXPECT_EQ(t[1].name, "logs");
    EXPECT_EQ(t[1].line, 6u);
    EXPECT_EQ(t[1].main.kind, DeviceSpec::Kind::partuuid);
    EXPECT_EQ(t[1].main.text(), "PARTUUID=1234abcd-01");
    EXPECT_EQ(t[1].retries, 5u);
    EXPECT_TRUE(t[1].nofail);
    EXPECT_FALSE(t[1].noauto);

    EXPECT_TRUE(t[2].noauto);
    EXPECT_EQ(t[2].device_timeout, 120u);
    EXPECT_EQ(t[2].spare.kind, DeviceSpec::Kind::partuuid);

    EXPECT_EQ(t[3].spare.text(), "/dev/vdf");
}

TEST(Remaptab, EmptyFileIsNoDevices) {
    EXPECT_TRUE(remaptab::parse("", "f").empty());
    EXPECT_TRUE(remaptab::parse("# nothing\n\n", "f").empty());
}

TEST(Remaptab, BadLinesNameFileLineAndProblem) {
    struct Case {
        std::string text;
        std::string expect;
    };
    const std::vector<Case> cases = {
        {"data /dev/vdb\n", "/etc/remaptab:1: 2 fields; a line is NAME MAIN SPARE [OPTIONS]"},
        {"# c\ndata\n", "/etc/remaptab:2: 1 field;"},
        {"d /dev/a /dev/b nofail, noauto\n", "/etc/remaptab:1: 5 fields;"},
        {"d vdb /dev/vdc\n", "main 'vdb' is not an absolute path, UUID= or PARTUUID="},
        {"d /dev/vdb vdc\n", "spare 'vdc' is not an absolute path"},
        {"d UUID=0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0 /dev/vdc\n",
         "main 'UUID=0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0': UUID= is not accepted for the main"},
        {"d /dev/vdb UUID=0f1e2d3c\n", "spare 'UUID=0f1e2d3c': '0f1e2d3c' is not a UUID"},
        {"d /dev/vdb UUID=\n", "is not a UUID"},
        {"d /dev/vdb LABEL=spare\n", "spare 'LABEL=spare': LABEL= is not supported"},
        {"d PARTUUID=xyz /dev/vdc\n", "main 'PARTUUID=xyz': 'xyz' is not a partition UUID"},
        {"d PARTUUID= /dev/vdc\n", "is not a partition UUID"},
        {"d /dev/vdb /dev/vdb\n", "main and spare are the same (/dev/vdb)"},
        {"a/b /dev/vdb /dev/vdc\n", "name 'a/b' holds '/'"},
        {".. /dev/vdb /dev/vdc\n", "name '..' cannot be a dm device name"},
        {"control /dev/vdb /dev/vdc\n", "name 'control' cannot be a dm device name"},
        {std::string(128, 'n') + " /dev/vdb /dev/vdc\n", "is 128 bytes long"},
        {"d /dev/a /dev/b\nd /dev/c /dev/e\n",
         "/etc/remaptab:2: name 'd' is used by an earlier line too"},
        {"d /dev/a /dev/b discard\n", "unknown option 'discard'; the options are retries=N"},
        {"d /dev/a /dev/b retries\n", "option retries needs a value"},
        {"d /dev/a /dev/b retries=101\n", "option retries: '101' is not a number from 0 to 100"},
        {"d /dev/a /dev/b retries=-1\n", "'-1' is not a number"},
        {"d /dev/a /dev/b retries=1e3\n", "'1e3' is not a number"},
        {"d /dev/a /dev/b nofail=yes\n", "option nofail takes no value"},
        {"d /dev/a /dev/b nofail,nofail\n", "option nofail is given twice"},
        {"d /dev/a /dev/b nofail,,noauto\n", "have an empty item"},
        {"d /dev/a /dev/b nofail,\n", "have an empty item"},
        {"d /dev/a /dev/b x-systemd.device-timeout=soon\n",
         "option x-systemd.device-timeout: 'soon' is not a number"},
        {"d /dev/a /dev/b x-systemd.device-timeout\n", "needs a value"},
    };
    for (const auto& c : cases) {
        const std::string e = error_of(c.text);
        EXPECT_NE(e.find(c.expect), std::string::npos)
            << "line: " << c.text << "error: " << (e.empty() ? "(none)" : e);
        EXPECT_TRUE(e.starts_with("/etc/remaptab:")) << e;
    }
}

TEST(Remaptab, LoadMissingFile) {
    EXPECT_TRUE(remaptab::load("/nonexistent/remaptab", true).empty());
    EXPECT_THROW(remaptab::load("/nonexistent/remaptab", false), IoError);
}

TEST(Remaptab, LoadNamesTheFile) {
    const std::string path =
        (std::filesystem::temp_directory_path() / ("remaptab-" + std::to_string(::getpid())))
            .string();
    std::ofstream(path) << "ok /dev/a /dev/b\nbad /dev/a\n";
    try {
        remaptab::load(path, false);
        ADD_FAILURE() << "no error";
    } catch (const remaptab::ParseError& e) {
        EXPECT_EQ(e.file(), path);
        EXPECT_EQ(e.line(), 2u);
        EXPECT_TRUE(std::string(e.what()).starts_with(path + ":2: 2 fields"));
    }
    std::filesystem::remove(path);
}

// A fake /sys/class/block whose DEVNAMEs point at image files: UUID=
// resolution reads the superblock through them.
class Resolve : public ::testing::Test {
protected:
    void SetUp() override {
        dir_ =
            std::filesystem::temp_directory_path() / ("remaptab-sys-" + std::to_string(::getpid()));
        std::filesystem::create_directories(dir_ / "class" / "block");
    }
    void TearDown() override { std::filesystem::remove_all(dir_); }

    // A block device "name" backed by `image` (DEVNAME is relative to /dev,
    // so it climbs back to the root).
    void add(const std::string& name, const std::string& image, bool holder = false) {
        const auto d = dir_ / "class" / "block" / name;
        std::filesystem::create_directories(d / "holders");
        std::ofstream(d / "uevent") << "MAJOR=7\nDEVNAME=../" << image.substr(1) << "\n";
        std::ofstream(d / "size") << "2048\n";
        if (holder)
            std::ofstream(d / "holders" / "dm-9") << "";
    }

    // A formatted spare image; returns its format UUID.
    std::string spare(const std::string& path) {
        std::ofstream(path).close();
        std::filesystem::resize_file(path, 4 << 20);
        Device dev = Device::open(path, {.write = true});
        FormatParams p;
        p.main_sectors = 1 << 16;
        p.spare_sectors = dev.sectors();
        const Superblock sb = plan_layout(p);
        format(dev, sb);
        return uuid_to_string(sb.uuid);
    }

    std::filesystem::path dir_;
};

TEST_F(Resolve, SpareByFormatUuid) {
    const std::string a = (dir_ / "a.img").string(), b = (dir_ / "b.img").string();
    const std::string ua = spare(a);
    spare(b);
    const std::string plain = (dir_ / "plain.img").string();
    std::ofstream(plain).close();
    std::filesystem::resize_file(plain, 1 << 20);
    add("loop0", a);
    add("loop1", b);
    add("loop2", plain);
    DeviceSpec s{DeviceSpec::Kind::uuid, ua};
    const auto c = remaptab::candidates(s, dir_.string());
    ASSERT_EQ(c.size(), 1u);
    EXPECT_TRUE(std::filesystem::equivalent(c[0], a));
    EXPECT_TRUE(std::filesystem::equivalent(remaptab::resolve(s, "spare", dir_.string()), a));

    DeviceSpec none{DeviceSpec::Kind::uuid, "00000000-0000-4000-8000-000000000000"};
    try {
        remaptab::resolve(none, "spare", dir_.string());
        ADD_FAILURE() << "no error";
    } catch (const DeviceError& e) {
        EXPECT_EQ(e.kind(), DeviceErrorKind::not_found);
        EXPECT_NE(std::string(e.what()).find("spare UUID=00000000-0000-4000-8000-000000000000 "
                                             "not found"),
                  std::string::npos)
            << e.what();
    }
}

TEST_F(Resolve, AmbiguousUnlessOneIsFree) {
    const std::string a = (dir_ / "a.img").string();
    const std::string u = spare(a);
    add("sda", a, true); // a path of a multipath disk: held
    add("sdb", a, true);
    add("dm-0", a);
    DeviceSpec s{DeviceSpec::Kind::uuid, u};
    EXPECT_EQ(remaptab::candidates(s, dir_.string()).size(), 3u);
    EXPECT_NE(remaptab::resolve(s, "spare", dir_.string()).find("a.img"), std::string::npos);

    add("dm-1", a); // a second free copy: ambiguous
    try {
        remaptab::resolve(s, "spare", dir_.string());
        ADD_FAILURE() << "no error";
    } catch (const DeviceError& e) {
        EXPECT_EQ(e.kind(), DeviceErrorKind::busy);
        EXPECT_NE(std::string(e.what()).find("is ambiguous"), std::string::npos) << e.what();
    }
}

TEST_F(Resolve, RemapDevicesAreSkipped) {
    const std::string a = (dir_ / "a.img").string();
    const std::string u = spare(a);
    add("dm-3", a);
    std::filesystem::create_directories(dir_ / "class" / "block" / "dm-3" / "dm");
    std::ofstream(dir_ / "class" / "block" / "dm-3" / "dm" / "uuid") << "REMAP-" << u << "\n";
    EXPECT_TRUE(remaptab::candidates({DeviceSpec::Kind::uuid, u}, dir_.string()).empty());
}

TEST(Remaptab, Paths) {
    EXPECT_EQ(remaptab::candidates({DeviceSpec::Kind::path, "/nonexistent/x"}).size(), 0u);
    EXPECT_EQ(remaptab::candidates({DeviceSpec::Kind::path, "/dev/null"}).size(), 1u);
}

TEST(Remaptab, UnitNameEscaping) {
    // The values systemd-escape prints.
    EXPECT_EQ(remaptab::escape_unit("data"), "data");
    EXPECT_EQ(remaptab::escape_unit("my-data"), "my\\x2ddata");
    EXPECT_EQ(remaptab::escape_unit(".x y"), "\\x2ex\\x20y");
    EXPECT_EQ(remaptab::escape_unit("a.b_c:d"), "a.b_c:d");
    EXPECT_EQ(remaptab::escape_unit_path("/dev/disk/by-id/wwn-0x5000"),
              "dev-disk-by\\x2did-wwn\\x2d0x5000");
    EXPECT_EQ(remaptab::escape_unit_path("//dev//vdb/"), "dev-vdb");
    EXPECT_EQ(remaptab::escape_unit_path("/"), "-");
}

} // namespace

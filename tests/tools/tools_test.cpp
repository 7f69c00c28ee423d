// SPDX-License-Identifier: GPL-2.0-only OR MIT
//
// End-to-end tests of remap-check, remap-dump and remap-repair (ctest label
// "tools"): the damage matrix, the legacy v3 fixtures, dump → restore → dump
// round trips, in-place repair and dump validation. The tools run as
// processes, as a sysadmin would run them.
#include "remapmeta/check.hpp"
#include "remapmeta/dump.hpp"
#include "remapmeta/v3.hpp"

#include <cstdlib>
#include <filesystem>
#include <fmt/format.h>
#include <fstream>
#include <gtest/gtest.h>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <sys/wait.h>
#include <unistd.h>

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

const std::string tools = REMAP_TOOLS_DIR;
const std::string mkimage = REMAP_MKIMAGE;
const std::string fixtures = REMAP_FIXTURES_DIR;

std::string slurp(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

struct Result {
    int code = -1;
    bool signalled = false;
    std::string out, err;
};

class ToolTest : public testing::Test {
protected:
    void SetUp() override {
        char tmpl[] = "/tmp/remap-tools-test-XXXXXX";
        ASSERT_NE(::mkdtemp(tmpl), nullptr);
        dir_ = tmpl;
    }
    void TearDown() override { fs::remove_all(dir_); }

    std::string file(const std::string& name) const { return (dir_ / name).string(); }

    Result run(const std::string& cmd) {
        const std::string o = file("stdout"), e = file("stderr");
        const int st = std::system((cmd + " >" + o + " 2>" + e).c_str());
        Result r;
        r.signalled = WIFSIGNALED(st);
        r.code = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
        r.out = slurp(o);
        r.err = slurp(e);
        return r;
    }
    Result tool(const std::string& name, const std::string& args) {
        return run(tools + "/" + name + " " + args);
    }
    std::string make(const std::string& name, const std::string& damage = "",
                     uint64_t entries = 300) {
        const std::string path = file(name);
        Result r = run(fmt::format("{} --entries {} {} {}", mkimage, entries,
                                   damage.empty() ? "" : "--damage " + damage, path));
        EXPECT_EQ(r.code, 0) << r.err;
        return path;
    }
    // The entries of a v4 image by main block, from remap-dump's JSON.
    std::map<uint64_t, json> entries_by_main(const std::string& image, bool repair = false) {
        Result r =
            tool("remap-dump", fmt::format("-f json {} {}", repair ? "--repair" : "", image));
        EXPECT_EQ(r.code, 0) << r.err;
        std::map<uint64_t, json> out;
        const json dump = json::parse(r.out);
        for (const auto& e : dump["entries"]) {
            if (e["main_block"].is_null())
                out[~0ull - e["spare_block"].get<uint64_t>()] = e; // bad spare: key by spare
            else
                out[e["main_block"].get<uint64_t>()] = e;
        }
        return out;
    }

    fs::path dir_;
};

struct DamageCase {
    const char* kind;
    const char* severity; // the worst severity check must report
    const char* code;     // the finding code
    int check_exit;       // read-only check
    int yes_exit;         // remap-check -y
};

// Every kind of damage the generator makes.
const DamageCase damage_cases[] = {
    {"torn-copy", "non-fatal", "table-copy-damaged", 4, 1},
    {"both-copies", "fatal", "table-block-lost", 4, 4},
    {"bad-checksum", "non-fatal", "superblock-copy-damaged", 4, 1},
    {"wrong-location", "non-fatal", "table-copy-damaged", 4, 1},
    {"duplicate-main", "fatal", "duplicate-main", 4, 4},
    {"duplicate-spare", "fatal", "duplicate-spare", 4, 4},
    {"beyond-device", "fatal", "entry-invalid", 4, 4},
    {"bad-counters", "fatal", "table-block-header", 4, 4},
    {"needs-check", "non-fatal", "needs-check", 4, 1},
    {"unfinished-first-commit", "non-fatal", "table-copy-stale", 4, 1},
    {"zeroed-copy-a", "non-fatal", "table-copy-damaged", 4, 1},
};

class Damage : public ToolTest, public testing::WithParamInterface<DamageCase> {};

TEST_P(Damage, CheckReportsRepairFixesRemapsSurvive) {
    const DamageCase& c = GetParam();
    const std::string good = make("good.img");
    const std::string bad = make("bad.img", c.kind);
    const auto before = entries_by_main(good);

    // 1. remap-check reports it, graded, with the exit code.
    Result r = tool("remap-check", "--json " + bad);
    ASSERT_FALSE(r.signalled);
    EXPECT_EQ(r.code, c.check_exit) << r.out << r.err;
    const json j = json::parse(r.out);
    bool found = false;
    for (const auto& f : j["findings"])
        if (f["code"] == c.code && f["severity"] == c.severity)
            found = true;
    EXPECT_TRUE(found) << "no " << c.severity << " finding " << c.code << " in " << r.out;
    EXPECT_EQ(j["exit_code"], c.check_exit);
    EXPECT_EQ(tool("remap-check", "-q " + bad).code, c.check_exit);
    EXPECT_EQ(tool("remap-check", "-q " + bad).out, "");

    // Read-only by default: the image is unchanged.
    const std::string bytes = slurp(bad);
    tool("remap-check", bad);
    EXPECT_EQ(slurp(bad), bytes);

    // remap-check -y fixes what is safe in place, and only that.
    fs::copy_file(bad, file("y.img"));
    r = tool("remap-check", "-y " + file("y.img"));
    EXPECT_EQ(r.code, c.yes_exit) << r.out << r.err;
    if (c.yes_exit == 1) {
        EXPECT_EQ(tool("remap-check", file("y.img")).code, 0);
    }

    // 2. remap-repair fixes it: the output checks clean.
    r = tool("remap-repair", fmt::format("-i {} -o {}", bad, file("out.img")));
    EXPECT_EQ(r.code, 1) << r.err;
    r = tool("remap-check", file("out.img"));
    EXPECT_EQ(r.code, 0) << r.out << r.err;

    // 3. Every remap that had one intact copy survives, unchanged, except
    // the entries the damage itself made inconsistent (quarantined as pending).
    const auto after = entries_by_main(file("out.img"));
    const std::string kind = c.kind;
    for (const auto& [key, e] : before) {
        const uint64_t slot = e["slot"];
        const bool lost_block = kind == "both-copies" && slot / 126 == 1;
        const bool touched =
            (kind == "duplicate-main" || kind == "duplicate-spare" || kind == "beyond-device") &&
            (slot == 3 || slot == 130);
        if (lost_block || touched)
            continue;
        auto it = after.find(key);
        ASSERT_NE(it, after.end()) << "entry lost: " << e.dump();
        EXPECT_EQ(it->second, e);
    }
    if (kind == "both-copies") {
        EXPECT_EQ(after.size(), before.size() - 126);
    }
    if (kind == "duplicate-main") {
        // The doubly claimed unit is quarantined: reads fail, never stale.
        EXPECT_EQ(after.at(10)["state"], "pending");
    }
    if (kind == "duplicate-spare") {
        EXPECT_EQ(after.at(10)["state"], "pending");
        EXPECT_EQ(after.at(391)["state"], "pending");
    }
    // remap-dump --repair shows the same salvage.
    EXPECT_EQ(entries_by_main(bad, true), after);
}

INSTANTIATE_TEST_SUITE_P(Kinds, Damage, testing::ValuesIn(damage_cases),
                         [](const auto& param_info) {
                             std::string n = param_info.param.kind;
                             std::replace(n.begin(), n.end(), '-', '_');
                             return n;
                         });

TEST_F(ToolTest, DumpRestoreDumpIsByteIdentical) {
    const std::string img = make("a.img", "", 1000);
    Result a = tool("remap-dump", "-f json -o " + file("a.json") + " " + img);
    ASSERT_EQ(a.code, 0) << a.err;
    Result r =
        tool("remap-repair", fmt::format("--restore {} -o {}", file("a.json"), file("b.img")));
    ASSERT_EQ(r.code, 0) << r.err;
    EXPECT_EQ(tool("remap-check", file("b.img")).code, 0);
    ASSERT_EQ(tool("remap-dump", "-f json -o " + file("b.json") + " " + file("b.img")).code, 0);
    EXPECT_EQ(slurp(file("a.json")), slurp(file("b.json")));
    // And again through the text dump.
    EXPECT_EQ(tool("remap-dump", img).out, tool("remap-dump", file("b.img")).out);
}

TEST_F(ToolTest, InPlaceRepairSavesABackupFirst) {
    const std::string img = make("d.img", "duplicate-main");
    const std::string original = slurp(img);
    Result r =
        tool("remap-repair", fmt::format("-i {} --in-place --backup {}", img, file("backup.img")));
    EXPECT_EQ(r.code, 1) << r.err;
    EXPECT_NE(r.err.find(file("backup.img")), std::string::npos) << r.err;
    EXPECT_EQ(tool("remap-check", img).code, 0);
    // The backup holds the old metadata: check still sees the damage there.
    EXPECT_EQ(tool("remap-check", file("backup.img")).code, 4);
    EXPECT_NE(slurp(img), original);
}

TEST_F(ToolTest, RepairNeverWritesItsInputByDefault) {
    const std::string img = make("d.img", "torn-copy");
    Result r = tool("remap-repair", "-i " + img);
    EXPECT_EQ(r.code, 16);
    r = tool("remap-repair", fmt::format("-i {} -o {}", img, img));
    EXPECT_EQ(r.code, 16);
    EXPECT_NE(r.err.find("--in-place"), std::string::npos) << r.err;
}

TEST_F(ToolTest, ClearNeedsCheckOnlyWhenClean) {
    const std::string img = make("n.img", "needs-check");
    EXPECT_EQ(tool("remap-check", "--clear-needs-check " + img).code, 1);
    EXPECT_EQ(tool("remap-check", img).code, 0);
    const std::string both = make("both.img", "both-copies");
    EXPECT_EQ(tool("remap-check", "--clear-needs-check " + both).code, 4);
}

TEST_F(ToolTest, SuperBlockOnlyIgnoresTables) {
    const std::string img = make("t.img", "both-copies");
    EXPECT_EQ(tool("remap-check", "--super-block-only " + img).code, 0);
    const std::string sb = make("s.img", "bad-checksum");
    EXPECT_EQ(tool("remap-check", "--super-block-only " + sb).code, 4);
}

TEST_F(ToolTest, RestoreRejectsInvalidDumpsNamingThePath) {
    const std::string img = make("a.img");
    ASSERT_EQ(tool("remap-dump", "-f json -o " + file("a.json") + " " + img).code, 0);
    json j = json::parse(slurp(file("a.json")));
    struct Bad {
        std::function<void(json&)> edit;
        std::string expect;
    };
    const std::vector<Bad> bad = {
        {[](json& d) { d["entries"][17]["spare_block"] = 9999; },
         "entries[17].spare_block: 9999 is beyond the pool (pool has"},
        {[](json& d) { d["entries"][2]["state"] = "weird"; }, "entries[2].state"},
        {[](json& d) { d["entries"][5]["main_block"] = d["entries"][4]["main_block"]; },
         "entries[5].main_block"},
        {[](json& d) { d["superblock"].erase("unit_bytes"); }, "superblock: missing key"},
        {[](json& d) { d["superblock"]["unit_bytes"] = 3000; }, "superblock.unit_bytes"},
        {[](json& d) { d["format_version"] = 99; }, "format_version"},
        {[](json& d) { d["entries"][0]["slot"] = "x"; }, "entries[0].slot"},
    };
    for (const auto& b : bad) {
        json d = j;
        b.edit(d);
        std::ofstream(file("bad.json")) << d.dump(2);
        Result r = tool("remap-repair",
                        fmt::format("--restore {} -o {}", file("bad.json"), file("x.img")));
        EXPECT_EQ(r.code, 8) << r.err;
        EXPECT_NE(r.err.find(b.expect), std::string::npos) << r.err;
        EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
    }
    std::ofstream(file("trunc.json")) << slurp(file("a.json")).substr(0, 100);
    Result r =
        tool("remap-repair", fmt::format("--restore {} -o {}", file("trunc.json"), file("y.img")));
    EXPECT_EQ(r.code, 8);
    EXPECT_NE(r.err.find("not valid JSON"), std::string::npos) << r.err;
}

// ---- Legacy v3 fixtures -------------------------------------------------------

class V3Fixture : public ToolTest, public testing::WithParamInterface<std::string> {};

TEST_P(V3Fixture, MatchesExpectJson) {
    const std::string name = GetParam();
    const std::string spare = fixtures + "/legacy-v3/" + name + ".spare.img";
    const json expect = json::parse(slurp(fixtures + "/legacy-v3/" + name + ".expect.json"));

    // The library reader.
    remapmeta::Device dev = remapmeta::Device::open(spare);
    const auto img = remapmeta::v3::read(dev, expect["spare_start"].get<uint64_t>(),
                                         expect["spare_len"].get<uint64_t>());
    EXPECT_EQ(img.verdict, expect["verdict"]);
    EXPECT_EQ(img.checksum_verified, expect["checksum_verifies_with_zeroed_field"]);

    // The tools: check's verdict and exit code, dump's header and entries.
    Result r = tool("remap-check", "--json " + spare);
    const bool valid = expect["verdict"] == "valid";
    EXPECT_EQ(r.code, valid ? 0 : 4) << r.out << r.err;
    const json cj = json::parse(r.out);
    EXPECT_EQ(cj["metadata_version"], 3);
    EXPECT_EQ(cj["v3"]["verdict"], expect["verdict"]);
    EXPECT_EQ(cj["v3"]["checksum_verified"], expect["checksum_verifies_with_zeroed_field"]);

    r = tool("remap-dump", "-f json " + spare);
    ASSERT_EQ(r.code, 0) << r.err;
    const json dj = json::parse(r.out);
    EXPECT_EQ(dj["metadata_version"], 3);
    EXPECT_EQ(dj["header"], expect["header"]);
    EXPECT_EQ(dj["entries"], expect["entries"]);
    EXPECT_EQ(dj["checksum_verified"], expect["checksum_verifies_with_zeroed_field"]);
    r = tool("remap-dump", spare);
    EXPECT_NE(r.out.find("LEGACY dm-remap v3"), std::string::npos);

    // v4-only paths refuse v3 with one line and exit 8.
    r = tool("remap-repair", fmt::format("-i {} -o {}", spare, file("out.img")));
    EXPECT_EQ(r.code, 8);
    EXPECT_NE(r.err.find("v3"), std::string::npos);
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
    EXPECT_FALSE(fs::exists(file("out.img")));
}

INSTANTIATE_TEST_SUITE_P(LegacyV3, V3Fixture,
                         testing::Values("empty", "basic", "full", "stale-checksum",
                                         "count-over-max", "duplicate-main", "spare-out-of-range"),
                         [](const auto& param_info) {
                             std::string n = param_info.param;
                             std::replace(n.begin(), n.end(), '-', '_');
                             return n;
                         });

} // namespace

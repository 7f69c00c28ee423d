// SPDX-License-Identifier: GPL-2.0-only OR MIT
//
// docs/format-v4.md against rm_format.h: every row of each layout table must
// match the header's offsets and sizes, and the tables must tile the structs,
// so the specification cannot drift from the code.
#include "helpers.hpp"

#include <cstddef>
#include <fstream>
#include <map>
#include <sstream>

#ifndef REMAPMETA_SOURCE_DIR
#error "REMAPMETA_SOURCE_DIR must point at the source tree"
#endif

namespace {

struct Field {
    std::string name;
    std::size_t offset;
    std::size_t size;
};

struct Row {
    std::size_t offset;
    std::size_t size;
    std::string name;
    int line;
};

#define RM_FIELD(T, m)                                                                             \
    Field {                                                                                        \
#m, offsetof(T, m), sizeof(static_cast <T*>(nullptr)->m)                                   \
    }

const std::map<std::string, std::pair<std::size_t, std::vector<Field>>>& structs() {
    static const std::map<std::string, std::pair<std::size_t, std::vector<Field>>> s = {
        {"rm4_disk_header",
         {sizeof(rm4_disk_header),
          {RM_FIELD(rm4_disk_header, magic), RM_FIELD(rm4_disk_header, crc),
           RM_FIELD(rm4_disk_header, type), RM_FIELD(rm4_disk_header, reserved0),
           RM_FIELD(rm4_disk_header, blocknr), RM_FIELD(rm4_disk_header, seq),
           RM_FIELD(rm4_disk_header, uuid)}}},
        {"rm4_disk_superblock",
         {sizeof(rm4_disk_superblock),
          {RM_FIELD(rm4_disk_superblock, hdr),
           RM_FIELD(rm4_disk_superblock, version_major),
           RM_FIELD(rm4_disk_superblock, version_minor),
           RM_FIELD(rm4_disk_superblock, incompat),
           RM_FIELD(rm4_disk_superblock, ro_compat),
           RM_FIELD(rm4_disk_superblock, compat),
           RM_FIELD(rm4_disk_superblock, flags),
           RM_FIELD(rm4_disk_superblock, unit_bytes),
           RM_FIELD(rm4_disk_superblock, reserved1),
           RM_FIELD(rm4_disk_superblock, spare_sectors),
           RM_FIELD(rm4_disk_superblock, pool_start),
           RM_FIELD(rm4_disk_superblock, pool_blocks),
           RM_FIELD(rm4_disk_superblock, table_a_start),
           RM_FIELD(rm4_disk_superblock, table_b_start),
           RM_FIELD(rm4_disk_superblock, table_blocks),
           RM_FIELD(rm4_disk_superblock, format_time),
           RM_FIELD(rm4_disk_superblock, main_sectors),
           RM_FIELD(rm4_disk_superblock, main_logical_block_size),
           RM_FIELD(rm4_disk_superblock, main_physical_block_size),
           RM_FIELD(rm4_disk_superblock, main_identity),
           RM_FIELD(rm4_disk_superblock, scan_cursor),
           RM_FIELD(rm4_disk_superblock, scan_pass),
           RM_FIELD(rm4_disk_superblock, creator),
           RM_FIELD(rm4_disk_superblock, reserved2)}}},
        {"rm4_disk_table_block",
         {sizeof(rm4_disk_table_block),
          {RM_FIELD(rm4_disk_table_block, hdr), RM_FIELD(rm4_disk_table_block, first_slot),
           RM_FIELD(rm4_disk_table_block, used), RM_FIELD(rm4_disk_table_block, reserved),
           RM_FIELD(rm4_disk_table_block, entries)}}},
        {"rm4_disk_entry",
         {sizeof(rm4_disk_entry),
          {RM_FIELD(rm4_disk_entry, main_block), RM_FIELD(rm4_disk_entry, spare_block),
           RM_FIELD(rm4_disk_entry, event_time), RM_FIELD(rm4_disk_entry, error_count),
           RM_FIELD(rm4_disk_entry, state), RM_FIELD(rm4_disk_entry, flags),
           RM_FIELD(rm4_disk_entry, reserved)}}},
    };
    return s;
}

std::string trim(std::string s) {
    const auto b = s.find_first_not_of(" \t`");
    const auto e = s.find_last_not_of(" \t`");
    return b == std::string::npos ? "" : s.substr(b, e - b + 1);
}

std::vector<std::string> cells(const std::string& line) {
    std::vector<std::string> out;
    std::stringstream ss(line);
    std::string cell;
    std::getline(ss, cell, '|'); // before the first bar
    while (std::getline(ss, cell, '|'))
        out.push_back(trim(cell));
    return out;
}

std::vector<std::string> doc_lines() {
    std::ifstream in(std::string(REMAPMETA_SOURCE_DIR) + "/docs/format-v4.md");
    std::vector<std::string> lines;
    for (std::string l; std::getline(in, l);)
        lines.push_back(l);
    return lines;
}

// Layout tables, by struct name, from "<!-- layout: NAME -->" markers.
std::map<std::string, std::vector<Row>> doc_layouts() {
    const auto lines = doc_lines();
    std::map<std::string, std::vector<Row>> out;
    const std::string marker = "<!-- layout: ";
    for (std::size_t i = 0; i < lines.size(); i++) {
        if (lines[i].rfind(marker, 0) != 0)
            continue;
        const std::string name =
            trim(lines[i].substr(marker.size(), lines[i].find("-->") - marker.size()));
        auto& rows = out[name];
        std::size_t j = i + 1;
        while (j < lines.size() && lines[j].rfind("|", 0) != 0)
            j++;
        for (j += 2; j < lines.size() && lines[j].rfind("|", 0) == 0; j++) { // skip header
            auto c = cells(lines[j]);
            if (c.size() < 3)
                continue;
            rows.push_back({std::stoul(c[0]), std::stoul(c[1]), c[2], static_cast<int>(j + 1)});
        }
    }
    return out;
}

TEST(FormatDoc, DocumentIsReadable) {
    const auto lines = doc_lines();
    ASSERT_FALSE(lines.empty()) << "cannot read docs/format-v4.md";
}

TEST(FormatDoc, LayoutTablesMatchTheHeader) {
    const auto layouts = doc_layouts();
    for (const auto& [name, spec] : structs()) {
        SCOPED_TRACE(name);
        auto it = layouts.find(name);
        ASSERT_NE(it, layouts.end()) << "docs/format-v4.md has no layout table for " << name;
        const auto& rows = it->second;
        const auto& [struct_size, fields] = spec;
        ASSERT_EQ(rows.size(), fields.size()) << "rows in the document vs fields in the header";
        std::size_t next = 0;
        for (std::size_t i = 0; i < rows.size(); i++) {
            SCOPED_TRACE(fmt::format("docs/format-v4.md line {}", rows[i].line));
            EXPECT_EQ(rows[i].name, fields[i].name);
            EXPECT_EQ(rows[i].offset, fields[i].offset) << fields[i].name;
            EXPECT_EQ(rows[i].size, fields[i].size) << fields[i].name;
            EXPECT_EQ(rows[i].offset, next) << "gap or overlap before " << rows[i].name;
            next = rows[i].offset + rows[i].size;
        }
        EXPECT_EQ(next, struct_size) << "the table does not cover the whole struct";
    }
    for (const auto& [name, rows] : layouts)
        EXPECT_TRUE(structs().count(name)) << "document describes unknown struct " << name;
}

TEST(FormatDoc, EntryStateTableMatchesTheHeader) {
    const auto lines = doc_lines();
    std::map<std::string, long> states;
    for (std::size_t i = 0; i < lines.size(); i++) {
        if (lines[i].rfind("| State | Value |", 0) != 0)
            continue;
        for (std::size_t j = i + 2; j < lines.size() && lines[j].rfind("|", 0) == 0; j++) {
            auto c = cells(lines[j]);
            states[c.at(0)] = std::stol(c.at(1));
        }
    }
    ASSERT_EQ(states.size(), 4u);
    for (const auto& [name, value] : states)
        EXPECT_EQ(remapmeta::state_name(static_cast<uint8_t>(value)), name);
}

TEST(FormatDoc, CrcCheckValueMatches) {
    bool found = false;
    for (const auto& l : doc_lines())
        found = found || l.find("0xE3069283") != std::string::npos;
    EXPECT_TRUE(found);
    EXPECT_EQ(rm_crc32c_final(rm_crc32c(RM_CRC32C_INIT, "123456789", 9)), 0xE3069283u);
}

} // namespace

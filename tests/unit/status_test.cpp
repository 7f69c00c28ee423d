// SPDX-License-Identifier: GPL-2.0-only OR MIT
//
// The remap target's text interface as remapctl reads and writes it: table
// lines, the status INFO line (including a newer module's extra fields, and
// malformed lines), the message answers, and the Prometheus exposition,
// checked by a strict parser of the text format.
#include "remapmeta/status.hpp"

#include <algorithm>
#include <fmt/format.h>
#include <gtest/gtest-spi.h>
#include <gtest/gtest.h>
#include <map>
#include <regex>
#include <set>
#include <sstream>

namespace {

using namespace remapmeta;

// ---- Table line ---------------------------------------------------------------

TEST(TableLine, Plain) {
    EXPECT_EQ(format_table_line(2048, {"253:0", "7:1", std::nullopt}), "0 2048 remap 253:0 7:1");
    EXPECT_EQ(format_table_params({"/dev/vda", "/dev/vdb", std::nullopt}), "/dev/vda /dev/vdb");
}

TEST(TableLine, RetriesFeature) {
    EXPECT_EQ(format_table_line(8, {"253:0", "7:1", 5u}), "0 8 remap 253:0 7:1 2 retries 5");
    EXPECT_EQ(format_table_line(8, {"253:0", "7:1", 0u}), "0 8 remap 253:0 7:1 2 retries 0");
    EXPECT_EQ(format_table_line(8, {"253:0", "7:1", 100u}), "0 8 remap 253:0 7:1 2 retries 100");
}

TEST(TableLine, Refusals) {
    EXPECT_THROW(format_table_line(8, {"253:0", "7:1", 101u}), ParameterError);
    EXPECT_THROW(format_table_line(0, {"253:0", "7:1", std::nullopt}), ParameterError);
    EXPECT_THROW(format_table_line(8, {"", "7:1", std::nullopt}), ParameterError);
    EXPECT_THROW(format_table_line(8, {"/dev/my disk", "7:1", std::nullopt}), ParameterError);
    EXPECT_THROW(format_table_line(8, {"253:0", "7:1\n", std::nullopt}), ParameterError);
}

TEST(TableLine, ParseWhatTheKernelPrints) {
    TableParams p = parse_table_params("253:0 7:1");
    EXPECT_EQ(p.main, "253:0");
    EXPECT_EQ(p.spare, "7:1");
    EXPECT_FALSE(p.retries);
    p = parse_table_params("253:0 7:1 2 retries 7");
    EXPECT_EQ(p.retries, 7u);
    // Round trip.
    const TableParams q{"8:16", "8:32", 3u};
    p = parse_table_params(format_table_params(q));
    EXPECT_EQ(p.main, q.main);
    EXPECT_EQ(p.spare, q.spare);
    EXPECT_EQ(p.retries, q.retries);
}

TEST(TableLine, ParseRejectsMalformed) {
    EXPECT_THROW(parse_table_params(""), StatusError);
    EXPECT_THROW(parse_table_params("253:0"), StatusError);
    EXPECT_THROW(parse_table_params("253:0 7:1 3 retries 5"), StatusError);
    EXPECT_THROW(parse_table_params("253:0 7:1 x retries 5"), StatusError);
    EXPECT_THROW(parse_table_params("253:0 7:1 2 retries five"), StatusError);
}

// ---- Status line --------------------------------------------------------------

constexpr const char* sample = "4 ok 4096 9 5 4032 5 3800 1 0 100 200 3 4 0 12";

TEST(Status, ParsesEveryFieldInOrder) {
    const TargetStatus s = parse_status(sample);
    EXPECT_EQ(s.version, 4u);
    EXPECT_EQ(s.mode, "ok");
    EXPECT_EQ(s.unit_bytes, 4096u);
    EXPECT_EQ(s.seq, 9u);
    EXPECT_EQ(s.entries, 5u);
    EXPECT_EQ(s.capacity, 4032u);
    EXPECT_EQ(s.spare_used, 5u);
    EXPECT_EQ(s.spare_total, 3800u);
    EXPECT_EQ(s.spare_bad, 1u);
    EXPECT_EQ(s.pending, 0u);
    EXPECT_EQ(s.reads, 100u);
    EXPECT_EQ(s.writes, 200u);
    EXPECT_EQ(s.remapped_ios, 3u);
    EXPECT_EQ(s.main_errors, 4u);
    EXPECT_EQ(s.spare_errors, 0u);
    EXPECT_EQ(s.retries, 12u);
    EXPECT_EQ(s.extra_fields, 0u);
    EXPECT_EQ(s.remapped(), 4u);
    EXPECT_NEAR(s.spare_used_percent(), 100.0 * 5 / 3800, 1e-9);
}

TEST(Status, EveryModeAndLargeCounters) {
    for (auto m : known_modes()) {
        const std::string line = fmt::format("4 {} 512 1 0 126 0 10 0 0 18446744073709551615 0 0 "
                                             "0 0 0",
                                             m);
        const TargetStatus s = parse_status(line);
        EXPECT_EQ(s.mode, m);
        EXPECT_EQ(s.reads, UINT64_MAX);
    }
}

TEST(Status, NewerModuleExtraFieldsAreIgnored) {
    const TargetStatus s = parse_status(std::string(sample) + " 77 scan=12 future-field");
    EXPECT_EQ(s.retries, 12u);
    EXPECT_EQ(s.extra_fields, 3u);
    // An unknown mode of a newer module is kept as it is.
    EXPECT_EQ(parse_status("4 scrubbing 4096 9 5 4032 5 3800 1 0 100 200 3 4 0 12").mode,
              "scrubbing");
}

TEST(Status, ScanFields) {
    const TargetStatus s = parse_status(std::string(sample) + " running 4 2 1234 15 3 1");
    ASSERT_TRUE(s.scan);
    EXPECT_EQ(s.scan->state, "running");
    EXPECT_EQ(s.scan->rate, 4u);
    EXPECT_EQ(s.scan->pass, 2u);
    EXPECT_EQ(s.scan->cursor, 1234u);
    EXPECT_EQ(s.scan->progress, 15u);
    EXPECT_EQ(s.scan->bad, 3u);
    EXPECT_EQ(s.scan->weak, 1u);
    EXPECT_EQ(s.extra_fields, 0u);
    // A module without the scan has none; a newer one's extra fields are ignored.
    EXPECT_FALSE(parse_status(sample).scan);
    const TargetStatus n = parse_status(std::string(sample) + " off 4 0 0 0 0 0 x 9");
    ASSERT_TRUE(n.scan);
    EXPECT_EQ(n.scan->state, "off");
    EXPECT_EQ(n.extra_fields, 2u);
    EXPECT_THROW(parse_status(std::string(sample) + " running 4 2 x 15 3 1"), StatusError);
    EXPECT_THROW(parse_status(std::string(sample) + " 7 4 2 1 15 3 1"), StatusError);
    EXPECT_THROW(parse_status(std::string(sample) + " off 4 2 1 101 3 1"), StatusError);
}

TEST(TableLine, ScanFeatures) {
    TableParams p{"253:0", "7:1", std::nullopt};
    p.scan_rate = 8;
    EXPECT_EQ(format_table_params(p), "253:0 7:1 2 scan_rate 8");
    p.retries = 5;
    p.slow_ms = 200;
    EXPECT_EQ(format_table_params(p), "253:0 7:1 6 retries 5 scan_rate 8 slow_ms 200");
    const TableParams q = parse_table_params("253:0 7:1 6 retries 5 scan_rate 8 slow_ms 200");
    EXPECT_EQ(q.retries, 5u);
    EXPECT_EQ(q.scan_rate, 8u);
    EXPECT_EQ(q.slow_ms, 200u);
    p.slow_ms = 0;
    EXPECT_THROW(format_table_params(p), ParameterError);
    p.slow_ms = std::nullopt;
    p.scan_rate = 4097;
    EXPECT_THROW(format_table_params(p), ParameterError);
}

TEST(Status, WhiteSpaceIsFlexible) {
    const TargetStatus s = parse_status("  4\tok 4096 9 5 4032 5 3800 1 0 100 200 3 4 0 12\n");
    EXPECT_EQ(s.retries, 12u);
}

void expect_rejected(const std::string& line, const std::string& names) {
    try {
        (void)parse_status(line);
        ADD_FAILURE() << "accepted: '" << line << "'";
    } catch (const StatusError& e) {
        EXPECT_NE(std::string(e.what()).find(names), std::string::npos)
            << "message '" << e.what() << "' does not name " << names;
        EXPECT_NE(std::string(e.what()).find("remap status line"), std::string::npos) << e.what();
    }
}

TEST(Status, MalformedLinesAreRejectedClearly) {
    expect_rejected("", "0 fields, expected at least 16");
    expect_rejected("4 ok 4096 9 5 4032 5 3800 1 0 100 200 3 4 0",
                    "15 fields, expected at least 16");
    expect_rejected("four ok 4096 9 5 4032 5 3800 1 0 100 200 3 4 0 12", "field 'version'");
    expect_rejected("4 ok 4096 9 5 4032 5 3800 1 0 -1 200 3 4 0 12", "field 'reads'");
    expect_rejected("4 ok 4096 9 5 4032 5 3800 1 0 1e3 200 3 4 0 12", "field 'reads'");
    expect_rejected("4 ok 4096 9 5 4032 5 3800 1 0 100 200 3 4 0 18446744073709551616",
                    "field 'retries'");
    expect_rejected("4 ok 4096 9 5 4032 5 3800 1 0 100 200 3 4 0 0x1", "field 'retries'");
    expect_rejected("4 OK! 4096 9 5 4032 5 3800 1 0 100 200 3 4 0 12", "field 'mode'");
    expect_rejected("4 17 4096 9 5 4032 5 3800 1 0 100 200 3 4 0 12", "field 'mode'");
    expect_rejected("4 ok 4294967296 9 5 4032 5 3800 1 0 100 200 3 4 0 12", "unit_bytes");
    // A status of another target.
    expect_rejected("0 8 linear 253:0 0", "fields");
}

TEST(Status, NumericFieldsFollowTheKernelOrder) {
    const auto f = numeric_fields(parse_status(sample));
    const std::vector<std::string> want = {
        "version",    "unit_bytes",   "seq",         "entries",      "capacity",
        "spare_used", "spare_total",  "spare_bad",   "pending",      "reads",
        "writes",     "remapped_ios", "main_errors", "spare_errors", "retries"};
    ASSERT_EQ(f.size(), want.size());
    for (std::size_t i = 0; i < f.size(); i++)
        EXPECT_EQ(f[i].name, want[i]);
}

// ---- Message answers ----------------------------------------------------------

TEST(Messages, Query) {
    UnitInfo u = parse_query_answer("7 ok");
    EXPECT_EQ(u.unit, 7u);
    EXPECT_EQ(u.state, UnitState::ok);
    EXPECT_FALSE(u.spare_block);
    u = parse_query_answer("2500 remapped 3");
    EXPECT_EQ(u.state, UnitState::remapped);
    EXPECT_EQ(u.spare_block, 3u);
    u = parse_query_answer("9 pending");
    EXPECT_EQ(u.state, UnitState::pending);
    EXPECT_THROW(parse_query_answer(""), StatusError);
    EXPECT_THROW(parse_query_answer("7 fine"), StatusError);
    EXPECT_THROW(parse_query_answer("7 ok 3"), StatusError);
    EXPECT_THROW(parse_query_answer("x ok"), StatusError);
}

TEST(Messages, Remap) {
    RemapAnswer r = parse_remap_answer("remapped 10 0");
    EXPECT_EQ(r.outcome, RemapOutcome::remapped);
    EXPECT_EQ(r.unit, 10u);
    EXPECT_EQ(r.spare_block, 0u);
    r = parse_remap_answer("already-remapped 10");
    EXPECT_EQ(r.outcome, RemapOutcome::already_remapped);
    r = parse_remap_answer("pending 11");
    EXPECT_EQ(r.outcome, RemapOutcome::pending);
    EXPECT_EQ(r.unit, 11u);
    r = parse_remap_answer("queued 12");
    EXPECT_EQ(r.outcome, RemapOutcome::queued);
    EXPECT_EQ(r.unit, 12u);
    EXPECT_THROW(parse_remap_answer("queued"), StatusError);
    EXPECT_THROW(parse_remap_answer("remapped 10"), StatusError);
    EXPECT_THROW(parse_remap_answer("done"), StatusError);
}

TEST(Messages, List) {
    const auto l = parse_list_answer("125 0 remapped\n2500 1 remapped\n9 - pending\n");
    ASSERT_EQ(l.size(), 3u);
    EXPECT_EQ(l[0].unit, 125u);
    EXPECT_EQ(l[1].spare_block, 1u);
    EXPECT_EQ(l[2].state, UnitState::pending);
    EXPECT_FALSE(l[2].spare_block);
    EXPECT_TRUE(parse_list_answer("").empty());
    EXPECT_THROW(parse_list_answer("1 2\n"), StatusError);
    EXPECT_THROW(parse_list_answer("1 2 ok\n"), StatusError);
}

TEST(Messages, Stats) {
    const auto s = parse_stats_answer(
        "reads=1 writes=2 remapped_ios=3 main_errors=4 spare_errors=5 retries=6 future=7");
    ASSERT_EQ(s.size(), 7u);
    EXPECT_EQ(s[0].first, "reads");
    EXPECT_EQ(s[5].second, 6u);
    EXPECT_EQ(s[6].first, "future");
    EXPECT_THROW(parse_stats_answer(""), StatusError);
    EXPECT_THROW(parse_stats_answer("reads"), StatusError);
    EXPECT_THROW(parse_stats_answer("reads=x"), StatusError);
}

// ---- Prometheus -----------------------------------------------------------------

// A strict reader of the text exposition format 0.0.4: every line is a HELP,
// a TYPE or a sample; names and labels follow the grammar; values parse;
// TYPE comes once per metric, before its samples, which are contiguous; no
// sample repeats a name and label set.
struct Sample {
    std::string name;
    std::map<std::string, std::string> labels;
    std::string value;
};

struct Exposition {
    std::map<std::string, std::string> types;
    std::map<std::string, std::string> help;
    std::vector<Sample> samples;
};

const std::regex metric_name_re("[a-zA-Z_:][a-zA-Z0-9_:]*");
const std::regex label_name_re("[a-zA-Z_][a-zA-Z0-9_]*");
const std::regex value_re(R"([+-]?([0-9]+(\.[0-9]*)?([eE][+-]?[0-9]+)?|Inf|NaN))");

Exposition parse_exposition(const std::string& text) {
    Exposition e;
    EXPECT_TRUE(text.empty() || text.back() == '\n') << "the text must end with a newline";
    std::istringstream in(text);
    std::string line;
    std::string current; // metric whose samples are being read
    std::set<std::string> finished;
    std::set<std::string> seen;
    int n = 0;
    while (std::getline(in, line)) {
        n++;
        SCOPED_TRACE(fmt::format("line {}: '{}'", n, line));
        EXPECT_FALSE(line.empty()) << "empty line";
        if (line.starts_with("# HELP ") || line.starts_with("# TYPE ")) {
            const bool is_type = line[2] == 'T';
            const std::string rest = line.substr(7);
            const auto sp = rest.find(' ');
            EXPECT_NE(sp, std::string::npos) << "no text after the metric name";
            const std::string name = rest.substr(0, sp);
            const std::string arg = sp == std::string::npos ? "" : rest.substr(sp + 1);
            EXPECT_TRUE(std::regex_match(name, metric_name_re)) << "bad metric name " << name;
            EXPECT_FALSE(finished.contains(name)) << name << " comes back after other metrics";
            if (is_type) {
                EXPECT_FALSE(e.types.contains(name)) << "second TYPE for " << name;
                EXPECT_TRUE(arg == "counter" || arg == "gauge" || arg == "untyped" ||
                            arg == "histogram" || arg == "summary")
                    << "bad type " << arg;
                for (const auto& s : e.samples)
                    EXPECT_NE(s.name, name) << "TYPE after samples of " << name;
                e.types[name] = arg;
            } else {
                EXPECT_FALSE(e.help.contains(name)) << "second HELP for " << name;
                EXPECT_FALSE(arg.empty()) << "empty HELP";
                e.help[name] = arg;
            }
            if (name != current && !current.empty())
                finished.insert(current);
            current = name;
            continue;
        }
        EXPECT_NE(line[0], '#') << "a comment that is neither HELP nor TYPE";
        // name{labels} value
        Sample s;
        std::size_t i = 0;
        while (i < line.size() && line[i] != '{' && line[i] != ' ')
            i++;
        s.name = line.substr(0, i);
        EXPECT_TRUE(std::regex_match(s.name, metric_name_re)) << "bad metric name " << s.name;
        if (i < line.size() && line[i] == '{') {
            i++;
            while (i < line.size() && line[i] != '}') {
                std::size_t eq = line.find('=', i);
                EXPECT_NE(eq, std::string::npos);
                if (eq == std::string::npos)
                    return e;
                const std::string lname = line.substr(i, eq - i);
                EXPECT_TRUE(std::regex_match(lname, label_name_re)) << "bad label " << lname;
                EXPECT_FALSE(lname.starts_with("__")) << "reserved label " << lname;
                i = eq + 1;
                EXPECT_EQ(line[i], '"') << "label value not quoted";
                i++;
                std::string value;
                bool closed = false;
                while (i < line.size()) {
                    const char c = line[i++];
                    if (c == '\\') {
                        EXPECT_LT(i, line.size());
                        const char x = line[i++];
                        EXPECT_TRUE(x == '\\' || x == '"' || x == 'n') << "bad escape \\" << x;
                        value += x == 'n' ? '\n' : x;
                    } else if (c == '"') {
                        closed = true;
                        break;
                    } else {
                        value += c;
                    }
                }
                EXPECT_TRUE(closed) << "unterminated label value";
                EXPECT_FALSE(s.labels.contains(lname)) << "label twice: " << lname;
                s.labels[lname] = value;
                if (i < line.size() && line[i] == ',')
                    i++;
            }
            EXPECT_EQ(i < line.size() ? line[i] : '\0', '}') << "unterminated label set";
            i++;
        }
        EXPECT_EQ(i < line.size() ? line[i] : '\0', ' ') << "no space before the value";
        const std::string rest = i < line.size() ? line.substr(i + 1) : "";
        const auto sp = rest.find(' ');
        s.value = rest.substr(0, sp);
        EXPECT_TRUE(std::regex_match(s.value, value_re)) << "bad value '" << s.value << "'";
        if (sp != std::string::npos) {
            EXPECT_TRUE(std::regex_match(rest.substr(sp + 1), std::regex("-?[0-9]+")))
                << "bad timestamp";
        }
        EXPECT_FALSE(finished.contains(s.name)) << s.name << " samples are not contiguous";
        if (s.name != current && !current.empty())
            finished.insert(current);
        current = s.name;
        std::string key = s.name;
        for (const auto& [k, v] : s.labels)
            key += "\x1f" + k + "=" + v;
        EXPECT_FALSE(seen.contains(key)) << "duplicate sample";
        seen.insert(key);
        e.samples.push_back(std::move(s));
    }
    return e;
}

std::vector<PrometheusDevice> two_devices() {
    PrometheusDevice a{"r0", "/dev/vda", "/dev/vdb", parse_status(sample)};
    PrometheusDevice b{"weird \"name\" \\ x", "/dev/mapper/m", "/dev/loop0",
                       parse_status("4 spare-exhausted 512 77 10 126 10 10 0 0 1 2 3 4 5 6")};
    return {a, b};
}

TEST(Prometheus, StrictlyValidExposition) {
    const auto devs = two_devices();
    const std::string text = prometheus_text(devs);
    const Exposition e = parse_exposition(text);
    ASSERT_FALSE(e.samples.empty()) << text;
    for (const auto& s : e.samples) {
        SCOPED_TRACE(s.name);
        EXPECT_TRUE(s.name.starts_with("dm_remap_"));
        EXPECT_TRUE(e.types.contains(s.name)) << "sample without TYPE";
        EXPECT_TRUE(e.help.contains(s.name)) << "sample without HELP";
        ASSERT_TRUE(s.labels.contains("device"));
        const std::string& t = e.types.at(s.name);
        // Counters, and only counters, end in _total.
        EXPECT_EQ(t == "counter", s.name.ends_with("_total")) << t;
        EXPECT_TRUE(t == "counter" || t == "gauge");
    }
    for (const auto& type : e.types) {
        const std::string& name = type.first; // clang 14 cannot capture a structured binding
        EXPECT_TRUE(std::any_of(e.samples.begin(), e.samples.end(),
                                [&](const Sample& s) { return s.name == name; }))
            << "TYPE without samples: " << name;
    }
}

TEST(Prometheus, ValuesAndLabels) {
    const auto devs = two_devices();
    const Exposition e = parse_exposition(prometheus_text(devs));
    auto value = [&](const std::string& name, const std::string& device,
                     std::map<std::string, std::string> extra = {}) {
        for (const auto& s : e.samples) {
            if (s.name != name || s.labels.at("device") != device)
                continue;
            bool match = true;
            for (const auto& [k, v] : extra)
                match = match && s.labels.contains(k) && s.labels.at(k) == v;
            if (match)
                return s.value;
        }
        return std::string("missing");
    };
    EXPECT_EQ(value("dm_remap_reads_total", "r0"), "100");
    EXPECT_EQ(value("dm_remap_writes_total", "r0"), "200");
    EXPECT_EQ(value("dm_remap_remapped_ios_total", "r0"), "3");
    EXPECT_EQ(value("dm_remap_main_errors_total", "r0"), "4");
    EXPECT_EQ(value("dm_remap_spare_errors_total", "r0"), "0");
    EXPECT_EQ(value("dm_remap_retries_total", "r0"), "12");
    EXPECT_EQ(value("dm_remap_remapped_units", "r0"), "4");
    EXPECT_EQ(value("dm_remap_pending_units", "r0"), "0");
    EXPECT_EQ(value("dm_remap_spare_blocks", "r0"), "3800");
    EXPECT_EQ(value("dm_remap_spare_blocks_used", "r0"), "5");
    EXPECT_EQ(value("dm_remap_spare_blocks_bad", "r0"), "1");
    EXPECT_EQ(value("dm_remap_table_entries", "r0"), "5");
    EXPECT_EQ(value("dm_remap_table_capacity", "r0"), "4032");
    EXPECT_EQ(value("dm_remap_unit_bytes", "r0"), "4096");
    EXPECT_EQ(value("dm_remap_metadata_seq", "r0"), "9");
    EXPECT_EQ(value("dm_remap_mode", "r0", {{"mode", "ok"}}), "1");
    EXPECT_EQ(value("dm_remap_mode", "r0", {{"mode", "degraded"}}), "0");
    EXPECT_EQ(value("dm_remap_info", "r0", {{"main", "/dev/vda"}, {"spare", "/dev/vdb"}}), "1");
    // The escaped name reads back as it was.
    const std::string weird = "weird \"name\" \\ x";
    EXPECT_EQ(value("dm_remap_mode", weird, {{"mode", "spare-exhausted"}}), "1");
    EXPECT_EQ(value("dm_remap_mode", weird, {{"mode", "ok"}}), "0");
    EXPECT_EQ(value("dm_remap_reads_total", weird), "1");
}

TEST(Prometheus, UnknownModeOfANewerModule) {
    std::vector<PrometheusDevice> d{
        {"r", "a", "b", parse_status("4 scrubbing 4096 9 5 4032 5 3800 1 0 1 2 3 4 0 12")}};
    const Exposition e = parse_exposition(prometheus_text(d));
    int ones = 0;
    for (const auto& s : e.samples)
        if (s.name == "dm_remap_mode" && s.value == "1") {
            ones++;
            EXPECT_EQ(s.labels.at("mode"), "scrubbing");
        }
    EXPECT_EQ(ones, 1);
}

TEST(Prometheus, NoDevicesIsStillValid) {
    const Exposition e = parse_exposition(prometheus_text({}));
    EXPECT_TRUE(e.samples.empty());
}

// Everything the strict reader reports about `text`, as one string.
std::string reader_failures(const std::string& text) {
    ::testing::TestPartResultArray results;
    {
        ::testing::ScopedFakeTestPartResultReporter reporter(
            ::testing::ScopedFakeTestPartResultReporter::INTERCEPT_ONLY_CURRENT_THREAD, &results);
        (void)parse_exposition(text);
    }
    std::string all;
    for (int i = 0; i < results.size(); i++)
        all += std::string(results.GetTestPartResult(i).message()) + "\n";
    return all;
}

// The strict reader itself fails on the mistakes it is there to catch.
TEST(Prometheus, StrictReaderCatchesMistakes) {
    const std::pair<std::string, std::string> cases[] = {
        {"m{device=\"a} 1\n", "unterminated"},
        {"m{device=\"a\"} x\n", "bad value"},
        {"1m 1\n", "bad metric name"},
        {"m{de-vice=\"a\"} 1\n", "bad label"},
        {"m{device=\"a\\q\"} 1\n", "bad escape"},
        {"# TYPE m gauge\n# TYPE m gauge\nm 1\n", "second TYPE"},
        {"# TYPE m gauges\nm 1\n", "bad type"},
        {"m 1\nn 1\nm 2\n", "not contiguous"},
        {"m{a=\"1\"} 1\nm{a=\"1\"} 2\n", "duplicate"},
        {"m 1", "newline"},
        {"# random comment\nm 1\n", "neither HELP"},
    };
    for (const auto& [text, expected] : cases) {
        const std::string failures = reader_failures(text);
        EXPECT_NE(failures.find(expected), std::string::npos)
            << "'" << text << "': expected '" << expected << "', got: " << failures;
    }
    EXPECT_EQ(reader_failures("# HELP m h\n# TYPE m gauge\nm{a=\"1\"} 2\n"), "");
}

TEST(Prometheus, LabelEscape) {
    EXPECT_EQ(prometheus_label_escape("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    EXPECT_EQ(prometheus_label_escape("plain"), "plain");
}

TEST(Prometheus, ScanAndHealthMetrics) {
    PrometheusDevice a{"r0", "/dev/vda", "/dev/vdb",
                       parse_status(std::string(sample) + " running 4 2 1234 15 3 1")};
    HealthInput in;
    in.now = 1'800'000'000;
    in.spare_total = 100;
    for (uint64_t i = 0; i < 30; i++)
        in.events.push_back(in.now - i * seconds_per_day - 60);
    in.spare_used = 30;
    in.slots_used = 30;
    in.capacity = 200;
    a.health = assess(in);
    PrometheusDevice b{"r1", "/dev/vdc", "/dev/vdd", parse_status(sample)}; // an older module
    const std::vector<PrometheusDevice> d{a, b};
    const std::string text = prometheus_text(d);
    EXPECT_NE(text.find("dm_remap_scan_running{device=\"r0\"} 1\n"), std::string::npos) << text;
    EXPECT_NE(text.find("dm_remap_scan_rate_bytes_per_second{device=\"r0\"} 4194304\n"),
              std::string::npos);
    EXPECT_NE(text.find("dm_remap_scan_progress_ratio{device=\"r0\"} 0.15\n"), std::string::npos);
    EXPECT_NE(text.find("dm_remap_scan_passes_total{device=\"r0\"} 2\n"), std::string::npos);
    EXPECT_NE(text.find("dm_remap_scan_bad_units{device=\"r0\"} 3\n"), std::string::npos);
    EXPECT_NE(text.find("dm_remap_scan_weak_units{device=\"r0\"} 1\n"), std::string::npos);
    EXPECT_NE(text.find("dm_remap_health_grade{device=\"r0\"} 1\n"), std::string::npos) << text;
    EXPECT_NE(text.find("dm_remap_health_spare_use_per_day{device=\"r0\"} 1\n"), std::string::npos);
    EXPECT_NE(text.find(fmt::format("dm_remap_health_exhaustion_timestamp_seconds{{device=\"r0\"}} "
                                    "{}\n",
                                    in.now + 70 * seconds_per_day)),
              std::string::npos)
        << text;
    EXPECT_NE(text.find("dm_remap_health_projection_confidence{device=\"r0\"} 3\n"),
              std::string::npos);
    EXPECT_EQ(text.find("dm_remap_scan_running{device=\"r1\"}"), std::string::npos);
    const Exposition e = parse_exposition(text); // strictly valid
    EXPECT_FALSE(e.samples.empty());
    // No device with a scan or a health report: no such family at all.
    const std::vector<PrometheusDevice> old{b};
    EXPECT_EQ(prometheus_text(old).find("dm_remap_scan_"), std::string::npos);
    EXPECT_EQ(prometheus_text(old).find("dm_remap_health_"), std::string::npos);
}

} // namespace

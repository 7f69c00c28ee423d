// SPDX-License-Identifier: GPL-2.0-only OR MIT
#include "remapmeta/status.hpp"

#include <array>
#include <charconv>
#include <fmt/format.h>

namespace remapmeta {

namespace {

constexpr std::array<std::string_view, 4> modes = {"ok", "degraded", "spare-exhausted",
                                                   "metadata-failed"};

constexpr std::size_t status_field_count = 16;
constexpr std::size_t scan_field_count = 7; // fields 17 to 23

std::vector<std::string_view> split(std::string_view s) {
    std::vector<std::string_view> out;
    std::size_t i = 0;
    while (i < s.size()) {
        while (i < s.size() && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r'))
            i++;
        const std::size_t start = i;
        while (i < s.size() && s[i] != ' ' && s[i] != '\t' && s[i] != '\n' && s[i] != '\r')
            i++;
        if (i > start)
            out.push_back(s.substr(start, i - start));
    }
    return out;
}

std::string quote(std::string_view text) {
    constexpr std::size_t max = 200;
    if (text.size() > max)
        return fmt::format("'{}...'", text.substr(0, max));
    return fmt::format("'{}'", text);
}

// A decimal number, digits only (no sign, no spaces), without overflow.
std::optional<uint64_t> to_u64(std::string_view t) {
    if (t.empty())
        return std::nullopt;
    for (char c : t)
        if (c < '0' || c > '9')
            return std::nullopt;
    uint64_t v = 0;
    auto [p, ec] = std::from_chars(t.data(), t.data() + t.size(), v);
    if (ec != std::errc{} || p != t.data() + t.size())
        return std::nullopt;
    return v;
}

uint64_t number(std::string_view what, std::string_view field, std::string_view token,
                std::string_view text) {
    auto v = to_u64(token);
    if (!v)
        throw StatusError(fmt::format("{}: field '{}' is {}, not a number, in {}", what, field,
                                      quote(token), quote(text)));
    return *v;
}

bool is_mode_token(std::string_view t) {
    if (t.empty() || t.size() > 64)
        return false;
    for (char c : t)
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_'))
            return false;
    return t[0] >= 'a' && t[0] <= 'z';
}

bool plain_device(std::string_view d) {
    if (d.empty())
        return false;
    for (char c : d)
        if (c == ' ' || c == '\t' || c == '\n' || static_cast<unsigned char>(c) < 0x20)
            return false;
    return true;
}

} // namespace

// ---- Table line ---------------------------------------------------------------

std::string format_table_params(const TableParams& p) {
    if (!plain_device(p.main))
        throw ParameterError("main", fmt::format("main device {} cannot go in a table line "
                                                 "(empty, or holds white space)",
                                                 quote(p.main)));
    if (!plain_device(p.spare))
        throw ParameterError("spare", fmt::format("spare device {} cannot go in a table line "
                                                  "(empty, or holds white space)",
                                                  quote(p.spare)));
    if (p.retries && *p.retries > max_retries)
        throw ParameterError("retries", fmt::format("retries {} is out of range (0 to {})",
                                                    *p.retries, max_retries));
    if (p.scan_rate && *p.scan_rate > max_scan_rate)
        throw ParameterError("scan-rate",
                             fmt::format("scan rate {} MiB/s is out of range (0 to {})",
                                         *p.scan_rate, max_scan_rate));
    if (p.slow_ms && (*p.slow_ms < 1 || *p.slow_ms > max_slow_ms))
        throw ParameterError("slow-ms", fmt::format("slow_ms {} is out of range (1 to {})",
                                                    *p.slow_ms, max_slow_ms));
    std::string s = fmt::format("{} {}", p.main, p.spare);
    std::string features;
    unsigned n = 0;
    for (const auto& [name, value] :
         {std::pair{"retries", p.retries}, std::pair{"scan_rate", p.scan_rate},
          std::pair{"slow_ms", p.slow_ms}})
        if (value) {
            features += fmt::format(" {} {}", name, *value);
            n += 2;
        }
    if (n)
        s += fmt::format(" {}{}", n, features);
    return s;
}

std::string format_table_line(uint64_t len_sectors, const TableParams& p) {
    if (len_sectors == 0)
        throw ParameterError("length", "a table line needs a length of at least one sector");
    return fmt::format("0 {} {} {}", len_sectors, target_name, format_table_params(p));
}

TableParams parse_table_params(std::string_view params) {
    const auto t = split(params);
    const std::string what = "remap table line";
    if (t.size() < 2)
        throw StatusError(fmt::format("{}: expected '<main> <spare> [<#features> <feature>...]', "
                                      "got {}",
                                      what, quote(params)));
    for (std::size_t i = 0; i < 2; i++)
        if (!plain_device(t[i]))
            throw StatusError(fmt::format("{}: {} device {} holds a control character", what,
                                          i ? "spare" : "main", quote(t[i])));
    TableParams p;
    p.main = std::string(t[0]);
    p.spare = std::string(t[1]);
    if (t.size() == 2)
        return p;
    const uint64_t n = number(what, "#features", t[2], params);
    if (n != t.size() - 3)
        throw StatusError(fmt::format("{}: {} feature arguments announced, {} present in {}", what,
                                      n, t.size() - 3, quote(params)));
    for (std::size_t i = 3; i < t.size(); i++) {
        if (t[i] == "retries" && i + 1 < t.size()) {
            const uint64_t r = number(what, "retries", t[i + 1], params);
            if (r > UINT32_MAX)
                throw StatusError(
                    fmt::format("{}: retries {} is out of range in {}", what, r, quote(params)));
            p.retries = static_cast<unsigned>(r);
            i++;
            continue;
        }
        // The kernel's ranges: a value outside them is not a table it took.
        if (t[i] == "scan_rate" && i + 1 < t.size()) {
            const uint64_t r = number(what, "scan_rate", t[i + 1], params);
            if (r > max_scan_rate)
                throw StatusError(fmt::format("{}: scan_rate {} is out of range (0 to {}) in {}",
                                              what, r, max_scan_rate, quote(params)));
            p.scan_rate = static_cast<unsigned>(r);
            i++;
            continue;
        }
        if (t[i] == "slow_ms" && i + 1 < t.size()) {
            const uint64_t ms = number(what, "slow_ms", t[i + 1], params);
            if (ms < 1 || ms > max_slow_ms)
                throw StatusError(fmt::format("{}: slow_ms {} is out of range (1 to {}) in {}",
                                              what, ms, max_slow_ms, quote(params)));
            p.slow_ms = static_cast<unsigned>(ms);
            i++;
            continue;
        }
        // A feature of a newer module: ignored, like extra status fields.
    }
    return p;
}

// ---- Status line --------------------------------------------------------------

double TargetStatus::spare_used_percent() const noexcept {
    if (spare_total == 0)
        return 0.0;
    return 100.0 * static_cast<double>(spare_used) / static_cast<double>(spare_total);
}

std::span<const std::string_view> known_modes() noexcept {
    return modes;
}

std::vector<StatusField> numeric_fields(const TargetStatus& s) {
    return {
        {"version", s.version},
        {"unit_bytes", s.unit_bytes},
        {"seq", s.seq},
        {"entries", s.entries},
        {"capacity", s.capacity},
        {"spare_used", s.spare_used},
        {"spare_total", s.spare_total},
        {"spare_bad", s.spare_bad},
        {"pending", s.pending},
        {"reads", s.reads},
        {"writes", s.writes},
        {"remapped_ios", s.remapped_ios},
        {"main_errors", s.main_errors},
        {"spare_errors", s.spare_errors},
        {"retries", s.retries},
    };
}

TargetStatus parse_status(std::string_view params) {
    const auto t = split(params);
    const std::string what = "remap status line";
    if (t.size() < status_field_count)
        throw StatusError(fmt::format("{}: {} fields, expected at least {} (version mode "
                                      "unit_bytes seq entries capacity spare_used spare_total "
                                      "spare_bad pending reads writes remapped_ios main_errors "
                                      "spare_errors retries), in {}; is the dm-remap module "
                                      "older than this remapctl?",
                                      what, t.size(), status_field_count, quote(params)));
    TargetStatus s;
    auto num = [&](std::size_t i, std::string_view field) {
        return number(what, field, t[i], params);
    };
    const uint64_t version = num(0, "version");
    const uint64_t unit = num(2, "unit_bytes");
    if (version > UINT32_MAX)
        throw StatusError(
            fmt::format("{}: version {} is out of range in {}", what, version, quote(params)));
    if (unit > UINT32_MAX)
        throw StatusError(
            fmt::format("{}: unit_bytes {} is out of range in {}", what, unit, quote(params)));
    s.version = static_cast<uint32_t>(version);
    if (!is_mode_token(t[1]))
        throw StatusError(fmt::format("{}: field 'mode' is {}, not a mode name, in {}", what,
                                      quote(t[1]), quote(params)));
    s.mode = std::string(t[1]);
    s.unit_bytes = static_cast<uint32_t>(unit);
    s.seq = num(3, "seq");
    s.entries = num(4, "entries");
    s.capacity = num(5, "capacity");
    s.spare_used = num(6, "spare_used");
    s.spare_total = num(7, "spare_total");
    s.spare_bad = num(8, "spare_bad");
    s.pending = num(9, "pending");
    s.reads = num(10, "reads");
    s.writes = num(11, "writes");
    s.remapped_ios = num(12, "remapped_ios");
    s.main_errors = num(13, "main_errors");
    s.spare_errors = num(14, "spare_errors");
    s.retries = num(15, "retries");
    s.extra_fields = t.size() - status_field_count;
    if (t.size() >= status_field_count + scan_field_count) {
        ScanStatus sc;
        if (!is_mode_token(t[16]))
            throw StatusError(fmt::format("{}: field 'scan_state' is {}, not a state name, in {}",
                                          what, quote(t[16]), quote(params)));
        sc.state = std::string(t[16]);
        const uint64_t rate = num(17, "scan_rate");
        sc.pass = num(18, "scan_pass");
        sc.cursor = num(19, "scan_cursor");
        const uint64_t progress = num(20, "scan_progress");
        sc.bad = num(21, "scan_bad");
        sc.weak = num(22, "scan_weak");
        if (rate > UINT32_MAX || progress > 100)
            throw StatusError(fmt::format("{}: scan_rate {} or scan_progress {} is out of range "
                                          "in {}",
                                          what, rate, progress, quote(params)));
        sc.rate = static_cast<uint32_t>(rate);
        sc.progress = static_cast<uint32_t>(progress);
        s.scan = sc;
        s.extra_fields -= scan_field_count;
    }
    return s;
}

// ---- Message answers ----------------------------------------------------------

std::string_view to_string(UnitState s) noexcept {
    switch (s) {
    case UnitState::ok:
        return "ok";
    case UnitState::remapped:
        return "remapped";
    case UnitState::pending:
        return "pending";
    }
    return "unknown";
}

std::string_view to_string(RemapOutcome o) noexcept {
    switch (o) {
    case RemapOutcome::remapped:
        return "remapped";
    case RemapOutcome::already_remapped:
        return "already-remapped";
    case RemapOutcome::pending:
        return "pending";
    case RemapOutcome::queued:
        return "queued";
    }
    return "unknown";
}

namespace {

std::optional<UnitState> unit_state(std::string_view t) {
    if (t == "ok")
        return UnitState::ok;
    if (t == "remapped")
        return UnitState::remapped;
    if (t == "pending")
        return UnitState::pending;
    return std::nullopt;
}

} // namespace

UnitInfo parse_query_answer(std::string_view answer) {
    const auto t = split(answer);
    const std::string what = "answer to 'query'";
    if (t.size() < 2 || t.size() > 3)
        throw StatusError(
            fmt::format("{}: expected '<unit> <state> [<spare>]', got {}", what, quote(answer)));
    UnitInfo u;
    u.unit = number(what, "unit", t[0], answer);
    auto st = unit_state(t[1]);
    if (!st || (*st == UnitState::ok && t.size() == 3))
        throw StatusError(
            fmt::format("{}: unknown state {} in {}", what, quote(t[1]), quote(answer)));
    u.state = *st;
    if (t.size() == 3)
        u.spare_block = number(what, "spare", t[2], answer);
    return u;
}

RemapAnswer parse_remap_answer(std::string_view answer) {
    const auto t = split(answer);
    const std::string what = "answer to 'remap'";
    RemapAnswer r;
    if (t.size() == 3 && t[0] == "remapped") {
        r.outcome = RemapOutcome::remapped;
        r.unit = number(what, "unit", t[1], answer);
        r.spare_block = number(what, "spare", t[2], answer);
        return r;
    }
    if (t.size() == 2 && (t[0] == "already-remapped" || t[0] == "pending" || t[0] == "queued")) {
        r.outcome = t[0] == "pending"  ? RemapOutcome::pending
                    : t[0] == "queued" ? RemapOutcome::queued
                                       : RemapOutcome::already_remapped;
        r.unit = number(what, "unit", t[1], answer);
        return r;
    }
    throw StatusError(fmt::format("{}: expected 'remapped <unit> <spare>', 'already-remapped "
                                  "<unit>', 'pending <unit>' or 'queued <unit>', got {}",
                                  what, quote(answer)));
}

std::vector<UnitInfo> parse_list_answer(std::string_view answer) {
    const std::string what = "answer to 'list'";
    std::vector<UnitInfo> out;
    std::size_t pos = 0;
    while (pos < answer.size()) {
        std::size_t nl = answer.find('\n', pos);
        if (nl == std::string_view::npos)
            nl = answer.size();
        const std::string_view line = answer.substr(pos, nl - pos);
        pos = nl + 1;
        const auto t = split(line);
        if (t.empty())
            continue;
        if (t.size() != 3)
            throw StatusError(
                fmt::format("{}: expected '<unit> <spare>|- <state>', got {}", what, quote(line)));
        UnitInfo u;
        u.unit = number(what, "unit", t[0], line);
        if (t[1] != "-")
            u.spare_block = number(what, "spare", t[1], line);
        auto st = unit_state(t[2]);
        if (!st || *st == UnitState::ok)
            throw StatusError(
                fmt::format("{}: unknown state {} in {}", what, quote(t[2]), quote(line)));
        u.state = *st;
        out.push_back(u);
    }
    return out;
}

std::vector<std::pair<std::string, uint64_t>> parse_stats_answer(std::string_view answer) {
    const std::string what = "answer to 'stats'";
    std::vector<std::pair<std::string, uint64_t>> out;
    for (auto tok : split(answer)) {
        const auto eq = tok.find('=');
        if (eq == std::string_view::npos || eq == 0)
            throw StatusError(fmt::format("{}: expected key=value, got {} in {}", what, quote(tok),
                                          quote(answer)));
        out.emplace_back(std::string(tok.substr(0, eq)),
                         number(what, tok.substr(0, eq), tok.substr(eq + 1), answer));
    }
    if (out.empty())
        throw StatusError(fmt::format("{}: empty answer", what));
    return out;
}

// ---- Prometheus -----------------------------------------------------------------

std::string prometheus_label_escape(std::string_view value) {
    std::string out;
    out.reserve(value.size());
    for (char c : value) {
        if (c == '\\')
            out += "\\\\";
        else if (c == '"')
            out += "\\\"";
        else if (c == '\n')
            out += "\\n";
        else
            out += c;
    }
    return out;
}

namespace {

struct Metric {
    std::string_view name;
    std::string_view type;
    std::string_view help;
    uint64_t (*value)(const TargetStatus&);
};

constexpr Metric metrics[] = {
    {"dm_remap_reads_total", "counter", "Reads submitted to the dm-remap device.",
     [](const TargetStatus& s) { return s.reads; }},
    {"dm_remap_writes_total", "counter", "Writes submitted to the dm-remap device.",
     [](const TargetStatus& s) { return s.writes; }},
    {"dm_remap_remapped_ios_total", "counter", "I/Os served (wholly or in part) by the spare.",
     [](const TargetStatus& s) { return s.remapped_ios; }},
    {"dm_remap_main_errors_total", "counter", "I/O errors returned by the main device.",
     [](const TargetStatus& s) { return s.main_errors; }},
    {"dm_remap_spare_errors_total", "counter", "I/O errors returned by the spare device.",
     [](const TargetStatus& s) { return s.spare_errors; }},
    {"dm_remap_retries_total", "counter", "Retries of failed I/O on the main device.",
     [](const TargetStatus& s) { return s.retries; }},
    {"dm_remap_remapped_units", "gauge", "Units of the main device served from the spare.",
     [](const TargetStatus& s) { return s.remapped(); }},
    {"dm_remap_pending_units", "gauge",
     "Units whose contents were lost (reads fail until they are rewritten).",
     [](const TargetStatus& s) { return s.pending; }},
    {"dm_remap_spare_blocks", "gauge", "Blocks in the spare pool.",
     [](const TargetStatus& s) { return s.spare_total; }},
    {"dm_remap_spare_blocks_used", "gauge", "Spare pool blocks in use (remapped or bad).",
     [](const TargetStatus& s) { return s.spare_used; }},
    {"dm_remap_spare_blocks_bad", "gauge", "Spare pool blocks that failed themselves.",
     [](const TargetStatus& s) { return s.spare_bad; }},
    {"dm_remap_table_entries", "gauge", "Remap table slots in use (remapped and pending units).",
     [](const TargetStatus& s) { return s.entries; }},
    {"dm_remap_table_capacity", "gauge", "Remap table slots.",
     [](const TargetStatus& s) { return s.capacity; }},
    {"dm_remap_unit_bytes", "gauge", "Remap unit in bytes.",
     [](const TargetStatus& s) { return uint64_t{s.unit_bytes}; }},
    {"dm_remap_metadata_seq", "gauge", "Largest metadata commit sequence number.",
     [](const TargetStatus& s) { return s.seq; }},
};

} // namespace

std::string prometheus_text(std::span<const PrometheusDevice> devices) {
    std::string out;
    auto label = [](const PrometheusDevice& d) {
        return fmt::format("device=\"{}\"", prometheus_label_escape(d.name));
    };
    out += "# HELP dm_remap_info Static facts about a dm-remap device (value always 1).\n"
           "# TYPE dm_remap_info gauge\n";
    for (const auto& d : devices)
        out += fmt::format("dm_remap_info{{{},main=\"{}\",spare=\"{}\",metadata_version=\"{}\"}} "
                           "1\n",
                           label(d), prometheus_label_escape(d.main),
                           prometheus_label_escape(d.spare), d.status.version);
    out += "# HELP dm_remap_mode The device's mode: 1 for the current one, 0 for the others.\n"
           "# TYPE dm_remap_mode gauge\n";
    for (const auto& d : devices) {
        bool known = false;
        for (auto m : modes) {
            known = known || m == d.status.mode;
            out += fmt::format("dm_remap_mode{{{},mode=\"{}\"}} {}\n", label(d), m,
                               m == d.status.mode ? 1 : 0);
        }
        if (!known) // a mode of a newer module
            out += fmt::format("dm_remap_mode{{{},mode=\"{}\"}} 1\n", label(d),
                               prometheus_label_escape(d.status.mode));
    }
    for (const Metric& m : metrics) {
        out += fmt::format("# HELP {} {}\n# TYPE {} {}\n", m.name, m.help, m.name, m.type);
        for (const auto& d : devices)
            out += fmt::format("{}{{{}}} {}\n", m.name, label(d), m.value(d.status));
    }
    // Optional families: a device without the data has no sample.
    auto family = [&](std::string_view name, std::string_view type, std::string_view help,
                      auto value) {
        std::string samples;
        for (const auto& d : devices)
            if (auto v = value(d))
                samples += fmt::format("{}{{{}}} {}\n", name, label(d), *v);
        if (!samples.empty())
            out += fmt::format("# HELP {} {}\n# TYPE {} {}\n", name, help, name, type) + samples;
    };
    using Opt = std::optional<std::string>;
    auto scan = [](auto f) {
        return [f](const PrometheusDevice& d) -> Opt {
            return d.status.scan ? Opt(f(*d.status.scan)) : std::nullopt;
        };
    };
    auto health = [](auto f) {
        return [f](const PrometheusDevice& d) -> Opt {
            return d.health ? f(*d.health) : std::nullopt;
        };
    };
    family(
        "dm_remap_scan_running", "gauge",
        "1 while the background scan runs, 0 when it is off or paused.",
        scan([](const ScanStatus& s) { return fmt::format("{}", s.state == "running" ? 1 : 0); }));
    family("dm_remap_scan_rate_bytes_per_second", "gauge", "The background scan's rate limit.",
           scan([](const ScanStatus& s) { return fmt::format("{}", uint64_t{s.rate} << 20); }));
    family("dm_remap_scan_passes_total", "counter", "Complete passes of the background scan.",
           scan([](const ScanStatus& s) { return fmt::format("{}", s.pass); }));
    family("dm_remap_scan_progress_ratio", "gauge", "How far the current scan pass is (0 to 1).",
           scan([](const ScanStatus& s) { return fmt::format("{}", s.progress / 100.0); }));
    family("dm_remap_scan_bad_units", "gauge",
           "Units the current scan pass found unreadable (now pending).",
           scan([](const ScanStatus& s) { return fmt::format("{}", s.bad); }));
    family("dm_remap_scan_weak_units", "gauge",
           "Units the current scan pass found slow or needing a retry (remapped proactively).",
           scan([](const ScanStatus& s) { return fmt::format("{}", s.weak); }));
    family("dm_remap_health_grade", "gauge", "remapctl health's grade: 0 ok, 1 warn, 2 critical.",
           health([](const HealthReport& h) {
               return Opt(fmt::format("{}", static_cast<int>(h.grade)));
           }));
    family("dm_remap_health_spare_use_per_day", "gauge",
           "Spare blocks or table slots taken per day, as the projection estimates it now.",
           health([](const HealthReport& h) {
               return Opt(fmt::format("{}", h.projection.rate_per_day));
           }));
    family("dm_remap_health_exhaustion_timestamp_seconds", "gauge",
           "When the spare is projected to run out (Unix seconds); absent when no date is "
           "projected.",
           health([](const HealthReport& h) {
               return h.projection.exhaustion ? Opt(fmt::format("{}", *h.projection.exhaustion))
                                              : std::nullopt;
           }));
    family("dm_remap_health_projection_confidence", "gauge",
           "Confidence of that projection: 0 none, 1 low, 2 medium, 3 high.",
           health([](const HealthReport& h) {
               return Opt(fmt::format("{}", static_cast<int>(h.projection.confidence)));
           }));
    return out;
}

} // namespace remapmeta

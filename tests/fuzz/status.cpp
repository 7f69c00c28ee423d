// SPDX-License-Identifier: GPL-2.0-only OR MIT
//
// libFuzzer target: the parsers of the target's text interface
// (libremapmeta/src/status.cpp): the status line, the table line and the
// answers to the query, remap, list and stats messages, plus the Prometheus
// exposition of whatever status parses. remapctl reads all of them from the
// kernel; a newer or broken module must never crash it. Input: one selector
// byte, then the text.
//
// Properties beyond "no crash, no sanitizer report": only StatusError
// escapes; what parses formats back to text that parses to the same values.
#include "remapmeta/status.hpp"

#include "fuzz_common.hpp"
#include "remapmeta/errors.hpp"

#include <fmt/format.h>
#include <string_view>

using namespace remapmeta;

namespace {

void status_line(std::string_view text) {
    TargetStatus s;
    try {
        s = parse_status(text);
    } catch (const StatusError&) {
        return;
    }
    std::string line = fmt::format("{} {}", s.version, s.mode);
    for (const auto& f : numeric_fields(s))
        if (f.name != "version")
            line += fmt::format(" {}", f.value);
    const TargetStatus again = parse_status(line);
    FUZZ_CHECK(again.mode == s.mode && again.extra_fields == 0);
    const auto a = numeric_fields(s);
    const auto b = numeric_fields(again);
    FUZZ_CHECK(a.size() == b.size());
    for (std::size_t i = 0; i < a.size(); i++)
        FUZZ_CHECK(a[i].name == b[i].name && a[i].value == b[i].value);
    FUZZ_CHECK(s.remapped() <= s.spare_used);
    const double pct = s.spare_used_percent();
    FUZZ_CHECK(pct >= 0.0);
    const PrometheusDevice dev{std::string(text.substr(0, 32)), "/dev/main", "/dev/spare", s};
    const std::string prom = prometheus_text({&dev, 1});
    FUZZ_CHECK(!prom.empty() && prom.back() == '\n');
}

void table_line(std::string_view text) {
    TableParams p;
    try {
        p = parse_table_params(text);
    } catch (const StatusError&) {
        return;
    }
    std::string formatted;
    try {
        formatted = format_table_params(p);
    } catch (const ParameterError& e) {
        // A feature value out of the module's range may be refused; a
        // device that parsed may not.
        FUZZ_CHECK(e.parameter() != "main" && e.parameter() != "spare");
        return;
    }
    const TableParams again = parse_table_params(formatted);
    FUZZ_CHECK(again.main == p.main && again.spare == p.spare && again.retries == p.retries);
}

void answers(std::string_view text) {
    try {
        const UnitInfo u = parse_query_answer(text);
        FUZZ_CHECK(!to_string(u.state).empty());
    } catch (const StatusError&) {
    }
    try {
        const RemapAnswer r = parse_remap_answer(text);
        FUZZ_CHECK(!to_string(r.outcome).empty());
    } catch (const StatusError&) {
    }
    try {
        for (const auto& u : parse_list_answer(text))
            FUZZ_CHECK(u.state != UnitState::ok);
    } catch (const StatusError&) {
    }
    try {
        FUZZ_CHECK(!parse_stats_answer(text).empty());
    } catch (const StatusError&) {
    }
    const std::string esc = prometheus_label_escape(text);
    FUZZ_CHECK(esc.find('\n') == std::string::npos);
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size < 1)
        return 0;
    const unsigned selector = data[0] % 3;
    const std::string_view text(reinterpret_cast<const char*>(data + 1), size - 1);
    if (selector == 0)
        status_line(text);
    else if (selector == 1)
        table_line(text);
    else
        answers(text);
    return 0;
}

// SPDX-License-Identifier: GPL-2.0-only OR MIT
//
// Small text helpers for remapctl's human output.
#pragma once

#include <algorithm>
#include <string>
#include <string_view>
#include <vector>

namespace output {

// Columns padded to their widest cell; `right[i]` right-aligns column i.
inline std::string table(const std::vector<std::vector<std::string>>& rows,
                         const std::vector<bool>& right) {
    std::vector<std::size_t> width;
    for (const auto& r : rows)
        for (std::size_t i = 0; i < r.size(); i++) {
            if (width.size() <= i)
                width.push_back(0);
            width[i] = std::max(width[i], r[i].size());
        }
    std::string out;
    for (const auto& r : rows) {
        std::string line;
        for (std::size_t i = 0; i < r.size(); i++) {
            const std::string pad(width[i] - r[i].size(), ' ');
            const bool last = i + 1 == r.size();
            if (i < right.size() && right[i])
                line += pad + r[i];
            else
                line += last ? r[i] : r[i] + pad;
            if (!last)
                line += "  ";
        }
        out += line + "\n";
    }
    return out;
}

// What a mode means for the administrator, as a parenthesis (empty for ok).
inline std::string mode_note(std::string_view mode) {
    if (mode == "ok")
        return {};
    if (mode == "degraded")
        return " (a metadata commit reached one copy only; run remap-check on the spare after "
               "removing the device)";
    if (mode == "spare-exhausted")
        return " (no free spare block or table slot: new failures are not remapped; add a "
               "bigger spare)";
    if (mode == "metadata-failed")
        return " (a metadata commit failed: no new remaps; remove the device and run "
               "remap-check on the spare)";
    return " (a mode this remapctl does not know)";
}

} // namespace output

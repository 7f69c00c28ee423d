// SPDX-License-Identifier: GPL-2.0-only OR MIT
//
// Dumps: emitters behind one interface (text for people, JSON as the
// canonical, restorable format described in docs/dump-format.md), the JSON
// parser that restore uses, and the restore writer.
#pragma once

#include "remapmeta/device.hpp"
#include "remapmeta/metadata.hpp"
#include "remapmeta/v3.hpp"

#include <cstdio>
#include <memory>
#include <string>
#include <string_view>

namespace remapmeta {

// Version of the JSON dump format (the "format_version" key).
inline constexpr int dump_format_version = 1;

// Receives a model and writes it somewhere: a stream, or a device.
class Emitter {
public:
    virtual ~Emitter() = default;
    virtual void emit(const Metadata& m) = 0;
    virtual void emit_v3(const v3::Image& img) = 0;
};

// "text" or "json" onto `out` (not owned).
std::unique_ptr<Emitter> make_stream_emitter(std::string_view format, std::FILE* out);

// The canonical JSON dump of a model, as text.
std::string dump_json(const Metadata& m);

// A malformed or semantically invalid dump; the message names the JSON path.
class DumpError : public Error {
public:
    DumpError(std::string path, const std::string& message)
        : Error(path.empty() ? message : path + ": " + message)
        , path_(std::move(path)) {}
    const std::string& path() const noexcept { return path_; }

private:
    std::string path_;
};

// Parses a JSON dump into a model and checks every invariant a checker
// would. Throws DumpError.
Metadata parse_dump(std::string_view json_text);

// The emitter that writes metadata: zeroes the superblocks and both table
// copies, writes every table block in use (A then B), then the superblocks.
// The device must be at least as large as the superblock's spare_sectors.
class RestoreEmitter : public Emitter {
public:
    explicit RestoreEmitter(Device& dev)
        : dev_(dev) {}
    void emit(const Metadata& m) override;
    void emit_v3(const v3::Image& img) override;

private:
    Device& dev_;
};

} // namespace remapmeta

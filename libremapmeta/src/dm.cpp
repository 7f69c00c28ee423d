// SPDX-License-Identifier: GPL-2.0-only OR MIT
#include "remapmeta/dm.hpp"

#include <cerrno>
#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <fcntl.h>
#include <fmt/format.h>
#include <fstream>
#include <libdevmapper.h>
#include <memory>
#include <sys/stat.h>
#include <unistd.h>

namespace remapmeta::dm {

namespace {

// libdevmapper's log levels (libdm/misc/dm-logging.h, not in the public header).
constexpr int log_level_mask = 0x0f;
constexpr int log_err = 3;

// The last error libdevmapper logged on this thread: folded into DmError
// instead of going to stderr on its own, so every failure is one message.
thread_local std::string t_last_log;

extern "C" void log_capture(int level, const char* /*file*/, int /*line*/, int /*dm_errno*/,
                            const char* f, ...) __attribute__((format(printf, 5, 6)));

extern "C" void log_capture(int level, const char* /*file*/, int /*line*/, int /*dm_errno*/,
                            const char* f, ...) {
    if ((level & log_level_mask) > log_err)
        return;
    char buf[512];
    va_list ap;
    va_start(ap, f);
    std::vsnprintf(buf, sizeof(buf), f, ap);
    va_end(ap);
    t_last_log = buf;
    if (std::getenv("REMAPCTL_DEBUG"))
        std::fprintf(stderr, "libdevmapper: %s\n", buf);
}

std::string errno_text(int err) {
    char buf[256];
    return ::strerror_r(err, buf, sizeof(buf));
}

struct TaskFree {
    void operator()(dm_task* t) const noexcept { dm_task_destroy(t); }
};
using Task = std::unique_ptr<dm_task, TaskFree>;

// Reads the kernel log records written after construction: the kernel says
// why a table was refused (ti->error) only there, never through the ioctl.
class KernelLog {
public:
    KernelLog() {
        fd_ = ::open("/dev/kmsg", O_RDONLY | O_NONBLOCK | O_CLOEXEC);
        if (fd_ >= 0)
            ::lseek(fd_, 0, SEEK_END);
    }
    ~KernelLog() {
        if (fd_ >= 0)
            ::close(fd_);
    }
    KernelLog(const KernelLog&) = delete;
    KernelLog& operator=(const KernelLog&) = delete;

    // The most telling new device-mapper line: the target's own refusal
    // ("device-mapper: table: 253:2: remap: <reason> (-EINVAL)") first.
    std::string reason() {
        if (fd_ < 0)
            return {};
        std::string best, fallback;
        char rec[8192];
        for (;;) {
            const ssize_t n = ::read(fd_, rec, sizeof(rec) - 1);
            if (n < 0 && errno == EPIPE) // overwritten records: keep reading
                continue;
            if (n <= 0)
                break;
            std::string_view r(rec, static_cast<std::size_t>(n));
            const auto semi = r.find(';');
            if (semi == std::string_view::npos)
                continue;
            std::string_view text = r.substr(semi + 1);
            text = text.substr(0, text.find('\n'));
            if (text.find("device-mapper:") == std::string_view::npos)
                continue;
            if (best.empty() && text.find(" remap: ") != std::string_view::npos)
                best = std::string(text);
            if (fallback.empty())
                fallback = std::string(text);
        }
        return best.empty() ? fallback : best;
    }

private:
    int fd_ = -1;
};

Task new_task(int type, const std::string& name) {
    t_last_log.clear();
    Task t(dm_task_create(type));
    if (!t)
        throw DmError("cannot create a device-mapper task (out of memory?)", ENOMEM, {});
    if (!name.empty() && !dm_task_set_name(t.get(), name.c_str()))
        throw DmError(fmt::format("invalid device-mapper name '{}'", name), EINVAL, {});
    return t;
}

[[noreturn]] void fail(const std::string& what, dm_task* t, KernelLog* klog = nullptr) {
    int err = t ? dm_task_get_errno(t) : 0;
    std::string reason;
    if (err)
        reason = errno_text(err);
    if (!t_last_log.empty() && t_last_log.find(reason) == std::string::npos)
        reason = reason.empty() ? t_last_log : fmt::format("{} ({})", reason, t_last_log);
    if (reason.empty())
        reason = "unknown error";
    std::string kernel = klog ? klog->reason() : std::string();
    std::string msg = fmt::format("{}: {}", what, reason);
    if (!kernel.empty())
        msg += fmt::format("; kernel: {}", kernel);
    throw DmError(msg, err, kernel);
}

// The udev sync of one change: cookie in, dm_udev_wait out, whatever happens.
class UdevCookie {
public:
    explicit UdevCookie(dm_task* t) {
        if (!dm_task_set_cookie(t, &cookie_, 0))
            throw DmError("cannot set up the udev cookie", 0, {});
        armed_ = true;
    }
    ~UdevCookie() { wait(); }
    UdevCookie(const UdevCookie&) = delete;
    UdevCookie& operator=(const UdevCookie&) = delete;
    void wait() {
        if (armed_) {
            armed_ = false;
            (void)dm_udev_wait(cookie_);
        }
    }

private:
    uint32_t cookie_ = 0;
    bool armed_ = false;
};

void add_targets(dm_task* t, const std::vector<Target>& targets) {
    for (const auto& tg : targets)
        if (!dm_task_add_target(t, tg.start, tg.length, tg.type.c_str(), tg.params.c_str()))
            throw DmError("cannot add a target to the table (out of memory?)", ENOMEM, {});
}

std::vector<Target> targets_of(dm_task* t) {
    std::vector<Target> out;
    void* next = nullptr;
    do {
        uint64_t start = 0, length = 0;
        char* type = nullptr;
        char* params = nullptr;
        next = dm_get_next_target(t, next, &start, &length, &type, &params);
        if (type)
            out.push_back({start, length, type, params ? params : ""});
    } while (next);
    return out;
}

std::vector<Target> get_targets(int type, const std::string& name, const char* what) {
    Task t = new_task(type, name);
    dm_task_no_open_count(t.get());
    if (!dm_task_run(t.get()))
        fail(fmt::format("cannot read the {} of dm device '{}'", what, name), t.get());
    dm_info dmi{};
    if (!dm_task_get_info(t.get(), &dmi) || !dmi.exists)
        throw DmError(fmt::format("dm device '{}' does not exist", name), ENXIO, {});
    return targets_of(t.get());
}

// Makes /dev/mapper/<name> when nobody else did (no udev).
void ensure_node(const std::string& name) {
    dm_task_update_nodes();
    struct stat st {};
    if (::stat(node_path(name).c_str(), &st) != 0)
        (void)dm_mknodes(name.c_str());
}

} // namespace

DmError::DmError(const std::string& message, int err, std::string kernel_reason)
    : Error(message)
    , errno_(err)
    , kernel_reason_(std::move(kernel_reason)) {}

bool udev_running() {
    return ::access("/run/udev/control", F_OK) == 0;
}

void init() {
    dm_log_with_errno_init(log_capture);
    // Without udev nothing would ever answer the cookie: turn the sync off
    // (libdevmapper then makes the nodes itself) instead of hanging.
    if (!udev_running())
        dm_udev_set_sync_support(0);
}

bool driver_available() {
    std::ifstream in("/proc/misc");
    std::string line;
    while (std::getline(in, line))
        if (line.find("device-mapper") != std::string::npos)
            return true;
    return false;
}

std::optional<std::string> target_version(const std::string& target) {
    Task t = new_task(DM_DEVICE_LIST_VERSIONS, "");
    if (!dm_task_run(t.get()))
        fail("cannot list the device-mapper targets", t.get());
    dm_versions* v = dm_task_get_versions(t.get());
    if (!v)
        return std::nullopt;
    dm_versions* last = nullptr;
    do {
        last = v;
        if (target == v->name)
            return fmt::format("{}.{}.{}", v->version[0], v->version[1], v->version[2]);
        v = reinterpret_cast<dm_versions*>(reinterpret_cast<char*>(v) + v->next);
    } while (last != v);
    return std::nullopt;
}

std::vector<std::string> list_names() {
    Task t = new_task(DM_DEVICE_LIST, "");
    if (!dm_task_run(t.get()))
        fail("cannot list the dm devices", t.get());
    std::vector<std::string> out;
    dm_names* n = dm_task_get_names(t.get());
    if (!n || !n->dev)
        return out;
    unsigned next = 0;
    do {
        n = reinterpret_cast<dm_names*>(reinterpret_cast<char*>(n) + next);
        out.emplace_back(n->name);
        next = n->next;
    } while (next);
    return out;
}

std::optional<Info> info(const std::string& name) {
    Task t = new_task(DM_DEVICE_INFO, name);
    if (!dm_task_run(t.get()))
        fail(fmt::format("cannot get information on dm device '{}'", name), t.get());
    dm_info dmi{};
    if (!dm_task_get_info(t.get(), &dmi))
        fail(fmt::format("cannot get information on dm device '{}'", name), t.get());
    if (!dmi.exists)
        return std::nullopt;
    Info i;
    i.name = name;
    const char* uuid = dm_task_get_uuid(t.get());
    i.uuid = uuid ? uuid : "";
    i.major = dmi.major;
    i.minor = dmi.minor;
    i.open_count = dmi.open_count;
    i.event_nr = dmi.event_nr;
    i.target_count = static_cast<uint32_t>(dmi.target_count);
    i.suspended = dmi.suspended;
    i.live_table = dmi.live_table;
    i.read_only = dmi.read_only;
    return i;
}

std::vector<Target> status(const std::string& name) {
    return get_targets(DM_DEVICE_STATUS, name, "status");
}

std::vector<Target> table(const std::string& name) {
    return get_targets(DM_DEVICE_TABLE, name, "table");
}

void create(const std::string& name, const std::string& uuid, const std::vector<Target>& targets) {
    KernelLog klog;
    Task t = new_task(DM_DEVICE_CREATE, name);
    if (!uuid.empty() && !dm_task_set_uuid(t.get(), uuid.c_str()))
        throw DmError(fmt::format("invalid dm UUID '{}'", uuid), EINVAL, {});
    add_targets(t.get(), targets);
    {
        UdevCookie cookie(t.get());
        if (!dm_task_run(t.get()))
            fail(fmt::format("cannot create dm device '{}'", name), t.get(), &klog);
    }
    ensure_node(name);
}

void remove(const std::string& name, RemoveMode mode) {
    KernelLog klog;
    Task t = new_task(DM_DEVICE_REMOVE, name);
    if (mode == RemoveMode::deferred)
        dm_task_deferred_remove(t.get());
    else
        dm_task_retry_remove(t.get());
    {
        UdevCookie cookie(t.get());
        if (!dm_task_run(t.get()))
            fail(fmt::format("cannot remove dm device '{}'", name), t.get(), &klog);
    }
    dm_task_update_nodes();
}

void replace_table(const std::string& name, const std::vector<Target>& targets) {
    KernelLog klog;
    {
        Task t = new_task(DM_DEVICE_RELOAD, name);
        add_targets(t.get(), targets);
        if (!dm_task_run(t.get()))
            fail(fmt::format("cannot load a new table into dm device '{}'", name), t.get(), &klog);
    }
    Task t = new_task(DM_DEVICE_RESUME, name);
    UdevCookie cookie(t.get());
    if (!dm_task_run(t.get()))
        fail(fmt::format("cannot switch dm device '{}' to its new table", name), t.get(), &klog);
}

std::string message(const std::string& name, const std::string& text) {
    KernelLog klog;
    Task t = new_task(DM_DEVICE_TARGET_MSG, name);
    if (!dm_task_set_sector(t.get(), 0) || !dm_task_set_message(t.get(), text.c_str()))
        throw DmError("cannot build a target message (out of memory?)", ENOMEM, {});
    if (!dm_task_run(t.get()))
        fail(fmt::format("dm device '{}' refused message '{}'", name, text), t.get(), &klog);
    const char* r = dm_task_get_message_response(t.get());
    return r ? r : "";
}

uint32_t wait_event(const std::string& name, uint32_t event_nr) {
    Task t = new_task(DM_DEVICE_WAITEVENT, name);
    if (!dm_task_set_event_nr(t.get(), event_nr))
        throw DmError("cannot set the event number", EINVAL, {});
    dm_task_no_open_count(t.get());
    if (!dm_task_run(t.get()))
        fail(fmt::format("cannot wait for events on dm device '{}'", name), t.get());
    dm_info dmi{};
    if (!dm_task_get_info(t.get(), &dmi) || !dmi.exists)
        throw DmError(fmt::format("dm device '{}' went away", name), ENXIO, {});
    return dmi.event_nr;
}

std::string node_path(const std::string& name) {
    return "/dev/mapper/" + name;
}

} // namespace remapmeta::dm

#!/bin/bash
# A pending entry cleared by a late write (review F8): a full-unit write in
# flight on main while a failing read records its unit pending (the race of
# pending-race) clears the entry when it completes, but only once the write
# is durable on main: main's volatile cache must be flushed (or the unit
# rewritten with FUA) before the write is acknowledged. Otherwise a power
# cut leaves the unit "normal" on the spare while main lost the write.
#
# main sits on dm-log-writes over a loop device (which has a volatile
# cache): the log records a write without FUA only at the next flush, so
# the log must hold the write to the unit, and a flush (or a FUA rewrite of
# the unit) after it, before the mark logged after the acknowledgement.
set -euo pipefail
# shellcheck source=tests/vm/lib.sh
. "$DMREMAP_SRC/tests/vm/lib.sh"

U=4096
load_module
[[ -d /sys/module/dm_delay ]] || modprobe dm-delay || die "modprobe dm-delay failed"
[[ -d /sys/module/dm_log_writes ]] || modprobe dm-log-writes || die "modprobe dm-log-writes failed"
data="$(make_loop 16)"
logdev="$(make_loop 64)"
total=$(sectors "$data")
random_file /tmp/data 16
write_at "$data" 0 /tmp/data
lw="$(dm_create lf-lw "0 $total log-writes $data $logdev")"
# Reads through rbad (healthy for now), writes straight to lw, 3 s late.
rbad="$(bad_disk lf-rbad "$lw")"
main="$(dm_create lf-main "0 $total delay $rbad 0 0 $lw 0 3000")"
spare="$(make_loop 8)"
format_spare "$main" "$spare" $U
dev="$(dm_create lf-r "0 $total remap $main $spare")"
dmsetup message lf-lw 0 mark start || die "cannot mark the log"

set_bad lf-rbad "$lw" 800:8 # unit 100 fails reads
head -c $U /dev/urandom >/tmp/unit100
dd if=/tmp/unit100 of="$dev" bs=$U seek=100 count=1 oflag=direct conv=notrunc status=none &
writer=$!
sleep 0.5
io_fails "Input/output error" if="$dev" of=/dev/null bs=$U skip=100 count=1 iflag=direct
assert_eq "100 pending" "$(remap_list lf-r | xargs)" "table while the write is in flight"
wait "$writer" || die "the full-unit write failed"
dmsetup message lf-lw 0 mark acked || die "cannot mark the log"
assert_eq "" "$(remap_list lf-r | xargs)" "table after the full-unit write completed"
set_bad lf-rbad "$lw"
assert_dev_matches "$dev" $((100 * U)) /tmp/unit100

dm_remove lf-r
dm_remove lf-main
dm_remove lf-rbad
dm_remove lf-lw # logs the writes still unflushed, and the super block
logf="$(losetup -n -O BACK-FILE "$logdev")"
python3 - "$logf" $((800 * 512)) $U <<'PY' || die "main's log: the late write was not made durable before its acknowledgement"
import struct, sys
log = open(sys.argv[1], "rb").read()
lo, n = int(sys.argv[2]), int(sys.argv[3])
FLUSH, FUA, DISCARD, MARK = 1, 2, 4, 8
magic, ver, nr, ss = struct.unpack_from("<QQQI", log, 0)
assert magic == 0x6A736677736872, "not a dm-log-writes log"
pos, ents = ss, []
for i in range(nr):
    sec, cnt, flags, dlen = struct.unpack_from("<QQQQ", log, pos)
    mark = log[pos + 32:pos + 32 + dlen].decode() if flags & MARK else None
    pos += ss
    if not flags & (MARK | DISCARD):
        pos += cnt * ss
    ents.append((sec * ss, cnt * ss, flags, mark))
marks = {m: i for i, (_, _, f, m) in enumerate(ents) if f & MARK}
start, acked = marks["start"], marks["acked"]
def hits(e):
    off, length, flags, _ = e
    return length and off < lo + n and lo < off + length
names = lambda f: "|".join(k for k, b in (("flush", FLUSH), ("fua", FUA), ("discard", DISCARD), ("mark", MARK)) if f & b) or "-"
for i, e in enumerate(ents[start:], start):
    if hits(e) or e[2] & (FLUSH | MARK):
        print(f"  log {i}: offset {e[0]} len {e[1]} {names(e[2])} {e[3] or ''}", file=sys.stderr)
w = [i for i in range(start, acked) if hits(ents[i]) and not ents[i][2] & DISCARD]
if not w:
    later = [i for i in range(acked, len(ents)) if hits(ents[i])]
    print(f"no write to the unit before the acknowledgement (mark 'acked' at {acked}); "
          f"logged later at {later}: it sat in main's cache, never flushed", file=sys.stderr)
    sys.exit(1)
first = w[0]
ok = [i for i in range(first, acked)
      if (ents[i][2] & FLUSH and i > first) or (ents[i][2] & FUA and hits(ents[i]))]
if not ok:
    print(f"the write to the unit (log {first}) has no flush or FUA rewrite after it before the acknowledgement ({acked})", file=sys.stderr)
    sys.exit(1)
print(f"write at log {first}, made durable at log {ok[0]}, acknowledged before {acked}", file=sys.stderr)
PY
log "fault-late-flush OK"

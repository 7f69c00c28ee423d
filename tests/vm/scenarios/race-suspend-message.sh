#!/bin/bash
# vm-smp: 4
# F9: a `remap` message that passed its live check just before the device's
# postsuspend must not write the spare once `dmsetup suspend` completed.
# dm's suspend waits for messages that hold the live table (SRCU) before
# postsuspend, so the message has to come in during postsuspend itself:
# the worker is kept busy by an idle-time fold of the lookup (64 remaps
# make the delta due for a fold; lookup_alloc holds the fold's allocation),
# so postsuspend waits in its flush of the worker; then the message comes,
# passes the live check and is held by the message point until the suspend
# completed. While the device stays suspended the spare's bytes must not
# change; after the resume the device is intact.
set -euo pipefail
# shellcheck source=tests/vm/lib.sh
. "$DMREMAP_SRC/tests/vm/lib.sh"

hang_safe # no_oops, wait_pid and t (lib.sh)

spare_sum() { dd if="$1" bs=1M iflag=direct status=none | sha256sum | cut -d' ' -f1; }

V=2000
load_module testing
base="$(make_nullb qbase 16 memory_backed)"
total=$(sectors "$base")
random_file /tmp/data 16
write_at "$base" 0 /tmp/data
main="$(fault_disk qmain "$base")"
spare="$(make_loop 8)"
format_spare "$main" "$spare" 4096
dev="$(dm_create q "0 $total remap $main $spare 2 retries 0")"

# 63 remaps (units 1000-1062), from failed writes of their own data: the
# lookup's delta stays below its fold limit (64 on a small table).
set_faults qmain "$base" "8000:504:w"
log "failed writes of units 1000-1062: 63 remaps"
dd if=/tmp/data of="$dev" bs=$((63 * 4096)) skip=$((1000 * 4096)) seek=$((1000 * 4096)) count=1 iflag=skip_bytes oflag=direct,seek_bytes conv=notrunc status=none </dev/null >/dev/null 2>/tmp/dd.err ||
	die "the failed writes were not remapped: $(cat /tmp/dd.err)"
assert_eq 63 "$(remap_status q entries)" "entries after the failed writes"
# lookup_alloc holds the remap's lookup update 2 s, then the fold 10 s.
tp_arm lookup_alloc "delay=2000 count=1"
log "remap 1063: the 64th entry of the delta; then the worker folds when idle"
dmsetup message q 0 remap 1063 >/tmp/msg0 2>&1 </dev/null 3>&- &
m0=$!
tp_wait lookup_alloc 1 10
tp_arm lookup_alloc "delay=10000 count=1"
wait_pid "$m0" 30 || die "remap 1063 failed: $(cat /tmp/msg0)"
tp_wait lookup_alloc 2 10
log "the worker is folding; suspending"
tp_arm message "delay=12000 unit=$V count=1"
dmsetup suspend --noudevsync q >/dev/null 2>/tmp/suspend.err </dev/null 3>&- &
susp=$!
for ((i = 0; i < 100; i++)); do
	grep -q postsuspend "/proc/$susp/stack" 2>/dev/null && break
	kill -0 "$susp" 2>/dev/null || die "the suspend completed before the message could race it (the fold did not hold postsuspend)"
	sleep 0.05
done
grep -q postsuspend "/proc/$susp/stack" 2>/dev/null || die "the suspend never reached postsuspend: $(cat /proc/$susp/stack 2>&1 | xargs)"
log "suspend is in postsuspend (flushing the worker); remap message for $V"
dmsetup message q 0 remap $V >/tmp/msg 2>&1 </dev/null 3>&- &
msg=$!
tp_wait message 1 10
wait_pid "$susp" 30 || die "suspend failed: $(cat /tmp/suspend.err)"
dmsetup info q | grep -q SUSPENDED || die "q is not suspended after dmsetup suspend: $(dmsetup info q | xargs)"
before="$(spare_sum "$spare")"
log "suspended; spare sha256 $before; waiting for the held message"
rc=0
wait_pid "$msg" 30 || rc=$?
log "remap $V answered (exit $rc): $(xargs </tmp/msg)"
sleep 1
after="$(spare_sum "$spare")"
[[ $before == "$after" ]] ||
	die "the spare changed while the device was suspended (sha256 $before -> $after; the message answered '$(xargs </tmp/msg)')"
dmsetup info q | grep -q SUSPENDED || die "q is no longer suspended"

dmsetup resume --noudevsync q || die "resume failed"
remap_list q >/tmp/list
n=$(grep -c ' remapped$' /tmp/list || true)
log "after the resume: $n remapped units"
for ((u = 1000; u < 1064; u++)); do
	grep -qx "$u remapped" /tmp/list || die "unit $u is missing from the table after the resume"
done
# The remapped units and their neighbours read back (1 MiB from unit 960).
dd if=/tmp/data of=/tmp/region bs=4096 skip=960 count=256 status=none
assert_dev_matches "$dev" $((960 * 4096)) /tmp/region
no_oops "the end"
dm_remove q
log "race-suspend-message OK"

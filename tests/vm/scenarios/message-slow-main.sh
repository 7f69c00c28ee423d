#!/bin/bash
# F16: a `remap` message on a slow main device (dm-delay: reads take 8 s)
# must not block for the whole copy: it returns within 7 s, answering
# `queued U` when the remap still runs after 5 s, and `query U` later shows
# `U remapped S`. A suspend and resume issued while the remap runs complete
# (they may wait for it), nothing stays in D state, and the remapped unit
# reads back.
set -euo pipefail
# shellcheck source=tests/vm/lib.sh
. "$DMREMAP_SRC/tests/vm/lib.sh"

hang_safe # no_oops, wait_pid and t (lib.sh)

now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

U=100
load_module
[[ -d /sys/module/dm_delay ]] || modprobe dm-delay || die "modprobe dm-delay failed"
base="$(make_nullb dbase 16 memory_backed)"
total=$(sectors "$base")
random_file /tmp/data 16
write_at "$base" 0 /tmp/data
# Reads of main take 8 s; writes go straight to base.
main="$(dm_create dmain "0 $total delay $base 0 8000 $base 0 0")"
spare="$(make_loop 8)"
format_spare "$main" "$spare" 4096
dev="$(dm_create m "0 $total remap $main $spare")"

log "remap message for unit $U (its copy reads main: 8 s)"
start=$(now)
rc=0
t 30 dmsetup message m 0 remap $U >/tmp/msg 2>&1 || rc=$?
took=$(since "$start")
log "message answered after $took s (exit $rc): $(xargs </tmp/msg)"
awk -v t="$took" 'BEGIN { exit !(t < 7) }' ||
	die "the remap message took $took s on a main device with 8 s reads; expected an answer within 7 s ('queued $U' after 5 s), got '$(xargs </tmp/msg)'"
((rc == 0)) || die "the remap message failed: $(cat /tmp/msg)"
grep -qx "queued $U" /tmp/msg || die "expected 'queued $U' from a remap still running after 5 s, got '$(xargs </tmp/msg)'"

log "suspend and resume while the remap runs"
start=$(now)
t 60 dmsetup suspend --noudevsync m || die "suspend during the remap failed"
t 60 dmsetup resume --noudevsync m || die "resume after the remap failed"
log "suspend+resume took $(since "$start") s"
no_oops "suspend and resume"

ans=""
for ((i = 0; i < 300; i++)); do
	ans="$(t 30 dmsetup message m 0 query $U 2>&1)" || die "query $U failed: $ans"
	[[ $ans =~ ^$U\ remapped\ [0-9]+$ ]] && break
	sleep 0.1
done
[[ $ans =~ ^$U\ remapped\ [0-9]+$ ]] || die "query $U: expected '$U remapped <block>', got '$ans'"
log "query: $ans"
assert_eq "$U remapped" "$(remap_list m | xargs)" "table"
# The unit is served by the spare now: no 8 s read.
dd if=/tmp/data of=/tmp/unit bs=4096 skip=$U count=1 status=none
start=$(now)
assert_dev_matches "$dev" $((U * 4096)) /tmp/unit
log "unit $U read back in $(since "$start") s"
d="$(ps -eo stat=,pid=,comm= | awk '$1 ~ /^D/' | xargs)"
[[ -z $d ]] || die "processes in D state: $d"
no_oops "the end"
t 60 dmsetup remove --noudevsync m || die "remove failed"
log "message-slow-main OK"

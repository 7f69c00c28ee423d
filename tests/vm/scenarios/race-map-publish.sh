#!/bin/bash
# vm-smp: 4
# F1: a write W to unit U is mapped while a remap of U is in progress. The
# test build's worker_busy point holds the busy window open, map_busy holds W
# between map()'s busy snapshot (it saw U busy) and its busy check under the
# lock, until the remap was published and U unbusied. W must then not be
# sent to main with the pre-publish lookup and acknowledged there: it must
# read back byte for byte once it completed, and after a table reload.
# Case 1: a proactive remap (`remap` message), 4 KiB units.
# Case 2: a remap triggered by a failed 512 B write W0 to the first sector of
# a 16 KiB unit, W being a 4 KiB write to another part of the same unit.
set -euo pipefail
# shellcheck source=tests/vm/lib.sh
. "$DMREMAP_SRC/tests/vm/lib.sh"

# reload NAME TABLE: load TABLE as the inactive table, suspend, resume.
reload() {
	dmsetup load "$1" --table "$2" || die "dmsetup load $1 failed"
	dmsetup suspend --noudevsync "$1" || die "dmsetup suspend $1 failed"
	dmsetup resume --noudevsync "$1" || die "dmsetup resume $1 failed"
}

load_module testing
random_file /tmp/data 16

# CASES (--env CASES="2") runs only some of the cases.
CASES=${CASES:-1 2}
if [[ " $CASES " == *" 1 "* ]]; then
# --- case 1: proactive remap ---------------------------------------------------
base="$(make_nullb mbase 16 memory_backed)"
total=$(sectors "$base")
write_at "$base" 0 /tmp/data
spare="$(make_loop 8)"
format_spare "$base" "$spare" 4096
table="0 $total remap $base $spare"
dev="$(dm_create r "$table")"
U=100
head -c 4096 /dev/urandom >/tmp/w1

tp_arm worker_busy "delay=3000 unit=$U count=1"
tp_arm map_busy "delay=6000 unit=$U count=1"
log "case 1: remap message for unit $U, held busy 3 s by worker_busy"
dmsetup message r 0 remap $U >/tmp/msg1 2>&1 </dev/null &
msg=$!
tp_wait worker_busy 1
log "case 1: writing unit $U while it is busy (map_busy holds it 6 s)"
dd if=/tmp/w1 of="$dev" bs=4096 seek=$U count=1 oflag=direct conv=notrunc status=none >/dev/null 2>/tmp/dd1 </dev/null &
writer=$!
tp_wait map_busy 1
wait "$msg" || die "remap message failed: $(cat /tmp/msg1)"
log "case 1: message answered: $(cat /tmp/msg1)"
wait "$writer" || die "the write racing the remap failed: $(cat /tmp/dd1)"
assert_eq "$U remapped" "$(remap_list r | xargs)" "case 1: table after the remap"
cp /tmp/data /tmp/want1
dd if=/tmp/w1 of=/tmp/want1 bs=4096 seek=$U conv=notrunc status=none
log "case 1: reading back unit $U (acknowledged write W)"
assert_dev_matches "$dev" $((U * 4096)) /tmp/w1
assert_dev_matches "$dev" 0 /tmp/want1
reload r "$table"
log "case 1: reading back after a reload"
assert_dev_matches "$dev" 0 /tmp/want1
dm_remove r
log "case 1 OK: the write that raced the remap's publish reads back"
fi

if [[ " $CASES " == *" 2 "* ]]; then

# --- case 2: a failed write remaps a 16 KiB unit ---------------------------------
base2="$(make_nullb mbase2 16 memory_backed)"
total2=$(sectors "$base2")
write_at "$base2" 0 /tmp/data
main2="$(fault_disk fmain "$base2")"
spare2="$(make_loop 8)"
format_spare "$main2" "$spare2" 16384
table2="0 $total2 remap $main2 $spare2 2 retries 1"
dev2="$(dm_create r2 "$table2")"
U=50           # sectors 1600..1631
S0=$((U * 32)) # W0: its first sector, which fails writes on main
S1=$((S0 + 8)) # W: 4 KiB at its second 4 KiB
set_faults fmain "$base2" "$S0:1:w"
head -c 512 /dev/urandom >/tmp/w0
head -c 4096 /dev/urandom >/tmp/w2

tp_arm worker_busy "delay=3000 unit=$U count=1"
tp_arm map_busy "delay=6000 unit=$U count=1"
log "case 2: 512 B write to sector $S0 (fails on main), unit $U held busy 3 s"
dd if=/tmp/w0 of="$dev2" bs=512 seek=$S0 count=1 oflag=direct conv=notrunc status=none >/dev/null 2>/tmp/dd0 </dev/null &
w0=$!
tp_wait worker_busy 1
log "case 2: 4 KiB write to sector $S1 of the busy unit (map_busy holds it 6 s)"
dd if=/tmp/w2 of="$dev2" bs=512 seek=$S1 count=8 oflag=direct conv=notrunc status=none >/dev/null 2>/tmp/dd2 </dev/null &
writer=$!
tp_wait map_busy 1
wait "$w0" || die "the failing write W0 was not remapped: $(cat /tmp/dd0)"
wait "$writer" || die "the write racing the remap failed: $(cat /tmp/dd2)"
assert_eq "$U remapped" "$(remap_list r2 | xargs)" "case 2: table after the failed write"
cp /tmp/data /tmp/want2
dd if=/tmp/w0 of=/tmp/want2 bs=512 seek=$S0 conv=notrunc status=none
dd if=/tmp/w2 of=/tmp/want2 bs=512 seek=$S1 conv=notrunc status=none
log "case 2: reading back W (sector $S1) and W0 (sector $S0)"
assert_dev_matches "$dev2" $((S1 * 512)) /tmp/w2
assert_dev_matches "$dev2" $((S0 * 512)) /tmp/w0
assert_dev_matches "$dev2" 0 /tmp/want2
reload r2 "$table2"
log "case 2: reading back after a reload"
assert_dev_matches "$dev2" 0 /tmp/want2
dm_remove r2
log "case 2 OK"
fi
log "race-map-publish OK"

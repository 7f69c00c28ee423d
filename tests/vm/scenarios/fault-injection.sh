#!/bin/bash
# Fault injection (docs/reliability.md): faults the other scenarios do not
# cover, each ending in its documented mode (docs/dm-remap.rst, "Modes"),
# with bounded waits (a hang fails the run) and no lost acknowledged write.
# The spare's metadata faults are `error` segments (every I/O fails; a
# dm-flakey error_writes segment would fail every flush of the device too).
#   1. table copy B fails: a remap commits copy A only; the write succeeds,
#      mode degraded, needs_check set; after the spare heals, remap-check -y
#      restores copy B and the data is all there;
#   2. table copy A fails: the commit fails, the write fails with EIO, mode
#      metadata-failed, the unit fenced (I/O fails); other units still work;
#      needs_check set;
#   3. every metadata block fails (both table copies and both superblocks):
#      metadata-failed, and needs_check cannot be written;
#   4. table copy B unreadable at activation: the resume must rewrite it,
#      cannot, and fails with the documented reason; both copies
#      unreadable: the constructor refuses;
#   5. the spare vanishes (its table replaced by `error`) while a journaling
#      writer remaps heavily and more of main goes bad: no hang,
#      metadata-failed, spare_errors counted; once it is back every
#      acknowledged write reads back;
#   6. the main vanishes the same way: writes keep succeeding by moving to
#      the spare until it is full (spare-exhausted), then fail; once main is
#      back every acknowledged write reads back;
#   7. table reloads, suspends and resumes while the writer remaps heavily:
#      mode ok, every acknowledged write reads back;
#   8. a bad sector in table copy A and one in copy B, in different blocks
#      of one load I/O: the constructor loads every block from the copy it
#      can read.
# CASES selects some of them, e.g. CASES="5 6".
# Errors on spare data blocks are in spare-failure, a full spare in
# spare-exhaustion, reloads with changing faults in suspend-reload.
set -euo pipefail
# shellcheck source=tests/vm/lib.sh
. "$DMREMAP_SRC/tests/vm/lib.sh"

T="$DMREMAP_BUILD/tests/support"
U=4096 # unit bytes; 8 sectors
W=30   # seconds: the bound on every wait for the target
load_module
mbase="$(make_loop 16)"
total=$(sectors "$mbase")
units=$((total / 8))
sbase="$(make_loop 8)"
random_file /tmp/data 16
unit_of() { dd if=/tmp/data of="$2" bs=$U skip="$1" count=1 status=none; }
for u in 0 100 200 300 400; do unit_of $u /tmp/u$u; done
faults=0
# want N: case N is selected (CASES, default all: "1 2 3 4 5 6 7 8").
want() { [[ " ${CASES:-1 2 3 4 5 6 7 8} " == *" $1 "* ]]; }

# fresh SPARE_MB SPEC...: a fresh main (fault disk over mbase, with SPEC
# faults) and spare (fault disk over the first SPARE_MB MiB of sbase,
# zeroed, healthy) formatted for it; sets main, spare, ta, tb, tn (table A
# and B start blocks and blocks per copy).
fresh() {
	local mb=$1
	shift
	dm_remove fi-r
	dm_remove fi-main
	dm_remove fi-spare
	dm_remove fi-sparebase
	dd if=/dev/zero of="$sbase" bs=1M count=8 oflag=direct status=none
	main="$(fault_disk fi-main "$mbase" "$@")"
	dm_create fi-sparebase "0 $((mb * 2048)) linear $sbase 0" >/dev/null
	spare="$(fault_disk fi-spare /dev/mapper/fi-sparebase)"
	format_spare "$main" "$spare" $U
	ta=$(dump_get "$spare" 'd["superblock"]["table_a_start"]')
	tb=$(dump_get "$spare" 'd["superblock"]["table_b_start"]')
	tn=$(dump_get "$spare" 'd["superblock"]["table_blocks"]')
}
spare_faults() { set_faults fi-spare /dev/mapper/fi-sparebase "$@"; }
create() {
	timeout $W dmsetup create fi-r --noudevsync --table "0 $total remap $main $spare" ||
		die "cannot create fi-r: $(dmesg | tail -2)"
	_lib_track dm fi-r
	dmsetup mknodes fi-r
	dev=/dev/mapper/fi-r
}
remove() { timeout $W dmsetup remove --noudevsync fi-r || die "dmsetup remove fi-r failed or hung"; }
mode() { remap_status fi-r mode; }
# refused WHY: creating the target fails and the kernel log says WHY.
refused() {
	if timeout $W dmsetup create fi-r --noudevsync --table "0 $total remap $main $spare" 2>/dev/null; then
		die "the target activated; expected a refusal: $1"
	fi
	dmsetup remove --noudevsync fi-r 2>/dev/null || true
	dmesg | tail -5 | grep -qF "$1" || die "no '$1' in the kernel log: $(dmesg | tail -3)"
}
# check_rc EXPECTED ARGS...: remap-check ARGS exits EXPECTED.
check_rc() {
	local want=$1 rc=0
	shift
	remap-check "$@" >/tmp/check.out 2>&1 || rc=$?
	((rc == want)) || {
		cat /tmp/check.out
		die "remap-check $* exited $rc, expected $want"
	}
}
# write_expect_eio UNIT FILE: an O_DIRECT write of FILE to UNIT fails.
write_expect_eio() {
	io_fails "Input/output error" if="$2" of="$dev" bs=$U seek="$1" count=1 oflag=direct conv=notrunc
}

# --- 1. table copy B fails ------------------------------------------
if want 1; then
fresh 8 800:8 1600:8
create
write_at "$dev" $((100 * U)) /tmp/u100
spare_faults "$((tb * 8)):$((tn * 8))"
write_at "$dev" $((200 * U)) /tmp/u200 # copy A takes the commit: acknowledged
assert_eq degraded "$(mode)" "mode after a failed copy-B write"
assert_eq "200 remapped 1" "$(dmsetup message fi-r 0 query 200)" "query 200"
assert_dev_matches "$dev" $((200 * U)) /tmp/u200
write_at "$dev" 0 /tmp/u0 # healthy units still work
assert_dev_matches "$dev" 0 /tmp/u0
remove
refused "needs_check is set"
spare_faults # the spare heals
check_rc 4 -n "$spare"
check_rc 1 -y "$spare"
check_rc 0 -n "$spare"
create
assert_eq ok "$(mode)" "mode after remap-check -y"
for u in 0 100 200; do assert_dev_matches "$dev" $((u * U)) /tmp/u$u; done
remove
faults=$((faults + 1))
log "1. copy B fails writes: degraded, the write acknowledged and kept"
fi

# --- 2. table copy A fails ------------------------------------------
if want 2; then
fresh 8 800:8 1600:8 2400:8
create
write_at "$dev" $((100 * U)) /tmp/u100
spare_faults "$((ta * 8)):$((tn * 8))"
write_expect_eio 200 /tmp/u200
assert_eq metadata-failed "$(mode)" "mode after a failed copy-A write"
# The failed commit may or may not have landed: its unit is fenced (all I/O
# fails) until the spare is checked and the table loaded again.
assert_eq "200 pending 1" "$(dmsetup message fi-r 0 query 200)" "query 200 (commit failed)"
io_fails "Input/output error" if="$dev" of=/dev/null bs=$U skip=200 count=1 iflag=direct
write_expect_eio 300 /tmp/u300 # no new remaps in this mode
write_at "$dev" 0 /tmp/u0      # healthy and remapped units still work
write_at "$dev" $((100 * U)) /tmp/u100
assert_dev_matches "$dev" 0 /tmp/u0
assert_dev_matches "$dev" $((100 * U)) /tmp/u100
remove
refused "needs_check is set"
spare_faults
check_rc 1 -y "$spare"
check_rc 0 -n "$spare"
create
assert_eq "100 remapped" "$(remap_list fi-r | xargs)" "table after metadata-failed"
assert_dev_matches "$dev" $((100 * U)) /tmp/u100
assert_dev_matches "$dev" 0 /tmp/u0
remove
faults=$((faults + 1))
log "2. copy A fails writes: metadata-failed, the write refused, nothing lost"
fi

# --- 3. every metadata block fails ----------------------------------
if want 3; then
fresh 8 800:8 1600:8
create
write_at "$dev" $((100 * U)) /tmp/u100
last=$(((tb > ta ? tb : ta) * 8 + tn * 8))
spare_faults "0:$last"
write_expect_eio 200 /tmp/u200
assert_eq metadata-failed "$(mode)" "mode when no metadata block can be written"
assert_dev_matches "$dev" $((100 * U)) /tmp/u100
remove
spare_faults
# needs_check could not be written: the spare is clean and activates.
check_rc 0 -n "$spare"
create
assert_eq "100 remapped" "$(remap_list fi-r | xargs)" "table after the failed commits"
assert_dev_matches "$dev" $((100 * U)) /tmp/u100
remove
faults=$((faults + 1))
log "3. no metadata block writable: metadata-failed, nothing lost"
fi

# --- 4. unreadable table copies at activation ------------------------------
if want 4; then
fresh 8 800:8
create
write_at "$dev" $((100 * U)) /tmp/u100
remove
spare_faults "$((tb * 8)):$((tn * 8))"
refused "Cannot rewrite a damaged metadata copy: the spare device fails writes"
spare_faults "$((ta * 8)):$((tn * 8))" "$((tb * 8)):$((tn * 8))"
refused "Metadata is corrupt beyond what its two copies cover"
# The log says the copies could not be read, not that they hold bad bytes.
dmesg | tail -5 | grep -qF "copy A unreadable (I/O error) (read), copy B unreadable (I/O error) (read)" ||
	die "the kernel log does not name the copies unreadable: $(dmesg | tail -3)"
spare_faults
check_rc 0 -n "$spare"
create
assert_dev_matches "$dev" $((100 * U)) /tmp/u100
remove
faults=$((faults + 2))
log "4. unreadable copies: the resume and the constructor refuse, nothing lost"
fi

# --- 5-7: a journaling writer that remaps heavily --------------------------
# bad_specs N: BAD, N random units, and specs, their `error` segments.
bad_specs() {
	BAD="$(python3 -c "import random; print(' '.join(map(str, sorted(random.Random($RANDOM).sample(range($units), $1)))))")"
	local u
	specs=()
	for u in $BAD; do specs+=("$((u * 8)):8"); done
}
# writer NAME OPS [ARGS...]: starts the workload in the background ($wpid).
writer() {
	local name=$1 ops=$2
	shift 2
	: >"/tmp/$name.journal"
	"$T/remap-test-workload" write --dev "$dev" --journal "/tmp/$name.journal" --seed 7 \
		--ops "$ops" --units "0:$units" --unit $U --bad "${BAD// /,}" "$@" >"/tmp/$name.out" 2>&1 &
	wpid=$!
}
# writer_wait: waits (bounded) for the writer; it may fail.
writer_wait() {
	local t
	for ((t = 0; t < W * 10; t++)); do
		kill -0 "$wpid" 2>/dev/null || break
		sleep 0.1
	done
	kill -0 "$wpid" 2>/dev/null && die "the writer hangs: $(cat "/tmp/$wname.out")"
	wait "$wpid" || true
}
# verify NAME: every write acknowledged in NAME's journal reads back.
verify() {
	"$T/remap-test-workload" verify --dev "$dev" --journal "/tmp/$1.journal" --seed 7 ||
		die "$1: acknowledged writes lost"
}
acks() { grep -c '^[FS] ' "/tmp/$1.journal" || true; }

# 5. The spare vanishes.
if want 5; then
bad_specs 200
fresh 8 "${specs[@]}"
create
wname="spare-gone"
writer $wname 100000000 --keep-going 1
sleep 1
before=$(remap_status fi-r entries)
timeout $W dmsetup load fi-spare --table "0 $(sectors "$spare") error" || die "load error table"
timeout $W dmsetup suspend --noudevsync fi-spare || die "suspend fi-spare hung"
timeout $W dmsetup resume --noudevsync fi-spare || die "resume fi-spare hung"
# More of main goes bad meanwhile, so that remaps, and commits, are tried.
first_bad=("${specs[@]}")
bad_specs 300
printf '%s\n' "${first_bad[@]}" "${specs[@]}" | sort -u -t: -k1,1n >/tmp/specs
mapfile -t all_bad </tmp/specs
set_faults fi-main "$mbase" "${all_bad[@]}"
sleep 3
kill -9 "$wpid" 2>/dev/null || true
writer_wait
log "5. writer: $(tail -3 "/tmp/$wname.journal" | xargs); status $(dmsetup status fi-r | cut -d' ' -f4-)"
((before > 0)) || die "no remaps before the spare vanished"
assert_eq metadata-failed "$(mode)" "mode with the spare gone"
(($(remap_status fi-r spare_errors) > 0)) || die "no spare errors counted"
log "5. spare gone after $before remaps: $(dmsetup status fi-r | cut -d' ' -f4-13), $(acks $wname) acknowledgements"
remove
spare_faults
set_faults fi-main "$mbase" "${first_bad[@]}"
rc=0
remap-check -y "$spare" >/tmp/check.out 2>&1 || rc=$?
((rc <= 1)) || die "remap-check -y exited $rc: $(cat /tmp/check.out)"
check_rc 0 -n "$spare"
create
verify $wname
remove
faults=$((faults + 1))
fi

# 6. The main vanishes; a 1 MiB spare fills up.
if want 6; then
bad_specs 40
fresh 1 "${specs[@]}"
create
wname="main-gone"
writer $wname 100000000 --keep-going 1 --whole-only 1
sleep 2
timeout $W dmsetup load fi-main --table "0 $total error" || die "load error table"
timeout $W dmsetup suspend --noudevsync fi-main || die "suspend fi-main hung"
timeout $W dmsetup resume --noudevsync fi-main || die "resume fi-main hung"
gone=$(acks $wname)
for ((t = 0; t < W * 10; t++)); do
	[[ $(mode) == spare-exhausted ]] && break
	sleep 0.1
done
assert_eq spare-exhausted "$(mode)" "mode with main gone"
sleep 1
kill -9 "$wpid" 2>/dev/null || true
writer_wait
log "6. main gone: $(($(acks $wname) - gone)) more acknowledgements by remapping, then $(dmsetup status fi-r | cut -d' ' -f4-13)"
(($(acks $wname) > gone)) || die "no write acknowledged after main vanished"
set_faults fi-main "$mbase" "${specs[@]}" # main is back
verify $wname
remove
create # spare-exhausted does not set needs_check
verify $wname
remove
faults=$((faults + 1))
fi

# 7. Reloads while remapping.
if want 7; then
bad_specs 200
fresh 8 "${specs[@]}"
create
wname=reload
writer $wname 400
for i in 1 2 3 4 5 6; do
	sleep 0.5
	if ((i % 2)); then
		timeout $W dmsetup reload fi-r --table "0 $total remap $main $spare" || die "reload $i"
	fi
	timeout $W dmsetup suspend --noudevsync fi-r || die "suspend $i hung"
	timeout $W dmsetup resume --noudevsync fi-r || die "resume $i hung"
done
writer_wait
grep -qF "(0 failed)" "/tmp/$wname.out" || die "writes failed: $(cat "/tmp/$wname.out")"
assert_eq ok "$(mode)" "mode after the reloads"
log "7. six suspends, three reloads: $(remap_status fi-r entries) remaps, $(acks $wname) acknowledgements"
verify $wname
remove
create
verify $wname
remove
faults=$((faults + 1))
fi

# 8. One bad sector in each table copy, in different blocks that one load
#    I/O reads: every block still has a readable copy, so the constructor
#    loads the table (each block from the copy it can read); the resume
#    then fails only because the bad copy cannot be rewritten (case 4).
if want 8; then
fresh 8 800:8 1600:8
create
write_at "$dev" $((100 * U)) /tmp/u100
write_at "$dev" $((200 * U)) /tmp/u200
remove
((tn >= 2)) || die "the table has only $tn block(s)"
spare_faults "$((ta * 8 + 3)):1" "$(((tb + 1) * 8)):1"
dmsetup create fi-r --noudevsync --notable || die "cannot create an empty fi-r"
_lib_track dm fi-r
timeout $W dmsetup load fi-r --table "0 $total remap $main $spare" ||
	die "the constructor refuses a table whose every block has a readable copy: $(dmesg | tail -2)"
remove
spare_faults
check_rc 0 -n "$spare"
create
assert_eq "100 remapped 200 remapped" "$(remap_list fi-r | xargs)" "table after the bad sectors healed"
assert_dev_matches "$dev" $((100 * U)) /tmp/u100
assert_dev_matches "$dev" $((200 * U)) /tmp/u200
remove
faults=$((faults + 1))
log "8. a bad sector in each table copy: the constructor loads each block from the copy it can read"
fi

log "fault-injection OK: $faults faults injected, 0 failures"

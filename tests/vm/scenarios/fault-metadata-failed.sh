#!/bin/bash
# metadata-failed mode (a commit failed: the spare's table copy A is an
# `error` segment), review F7 and F12:
#   1. a read of a unit that stays unreadable fails with EIO, records
#      nothing, and the kernel log does not claim its contents are lost
#      (nothing was recorded; the next read retries main); after main heals
#      the unit reads its old bytes;
#   2. a read that fails on main once and succeeds on the worker's retry
#      succeeds with the right bytes; a write likewise, and it reads back.
#      (main is dm-delay over a bad disk: the retry waits in dm-delay while
#      the bad range heals);
#   3. those retried I/Os write nothing to the spare (no superblock
#      rewrite per I/O).
# Failures are collected, so one run shows every broken case.
set -euo pipefail
# shellcheck source=tests/vm/lib.sh
. "$DMREMAP_SRC/tests/vm/lib.sh"

U=4096 # unit bytes; 8 sectors
W=30   # seconds: the bound on every wait
load_module
[[ -d /sys/module/dm_delay ]] || modprobe dm-delay || die "modprobe dm-delay failed"
mbase="$(make_nullb mfbase 16 memory_backed)"
total=$(sectors "$mbase")
random_file /tmp/data 16
write_at "$mbase" 0 /tmp/data
unit_of() { dd if=/tmp/data of="$2" bs=$U skip="$1" count=1 status=none; }
mbad="$(bad_disk mf-bad "$mbase")"
main="$(dm_create mf-main "0 $total delay $mbad 0 0")"
# set_delay MS: every I/O to main waits MS ms in dm-delay.
set_delay() {
	dmsetup load mf-main --table "0 $total delay $mbad 0 $1" || die "cannot load mf-main"
	dmsetup suspend --noudevsync mf-main && dmsetup resume --noudevsync mf-main ||
		die "cannot switch mf-main to a delay of $1 ms"
}
sbase="$(make_loop 8)"
spare="$(fault_disk mf-spare "$sbase")"
format_spare "$main" "$spare" $U
read -r ta tn <<<"$(dump_get "$spare" '[d["superblock"][k] for k in ("table_a_start", "table_blocks")]' | xargs)"
dev="$(dm_create mf-r "0 $total remap $main $spare")"
failures=()
soft_fail() {
	log "FAIL: $*"
	failures+=("$*")
}
# spare_writes: write requests completed by the spare device (its stat).
spare_writes() {
	local m
	m=$(dmsetup info -c --noheadings -o minor mf-spare | tr -d ' ')
	awk '{print $5}' "/sys/block/dm-$m/stat"
}
# unit_is UNIT FILE: the target's unit UNIT reads FILE's bytes.
unit_is() {
	rm -f /tmp/unit_is
	dd if="$dev" of=/tmp/unit_is bs=$U skip="$1" count=1 iflag=direct status=none 2>/dev/null || return 1
	cmp -s "$2" /tmp/unit_is
}

# Into metadata-failed: copy A fails, a remap message's commit fails.
set_faults mf-spare "$sbase" "$((ta * 8)):$((tn * 8))"
if timeout $W dmsetup message mf-r 0 remap 50 2>/dev/null; then
	die "the remap message succeeded although table copy A fails"
fi
assert_eq metadata-failed "$(remap_status mf-r mode)" "mode after the failed commit"
# The failed commit's unit may stay fenced as pending: counts from here.
entries=$(remap_status mf-r entries)
pending=$(remap_status mf-r pending)
log "metadata-failed: $(dmsetup status mf-r | cut -d' ' -f4-)"

# --- 1. a read that keeps failing (F12) ------------------------------------
set_bad mf-bad "$mbase" 2400:8 # unit 300
marks=$(dmesg | grep -c "contents are lost" || true)
io_fails "Input/output error" if="$dev" of=/dev/null bs=$U skip=300 count=1 iflag=direct
now=$(dmesg | grep -c "contents are lost" || true)
((now == marks)) ||
	soft_fail "1. the failed read logged 'contents are lost' in metadata-failed mode (nothing is recorded): $(dmesg | grep "contents are lost" | tail -1)"
assert_eq "$pending" "$(remap_status mf-r pending)" "pending after the failed read"
assert_eq "$entries" "$(remap_status mf-r entries)" "entries after the failed read"
set_bad mf-bad "$mbase"
unit_of 300 /tmp/u300
unit_is 300 /tmp/u300 || soft_fail "1. unit 300 does not read its old bytes after main healed"
log "1. a failing read in metadata-failed mode: EIO, nothing recorded"

# --- 2. I/O that fails once and succeeds on the retry (F7) -----------------
# retried_io KIND UNIT: a read (into /tmp/r) or a write (of /tmp/w) of UNIT
# that fails on main; while the worker's retry waits in dm-delay, main
# heals. Sets io_rc, and spare_delta (spare writes during the I/O).
retried_io() {
	local kind=$1 u=$2 r0 w0 pid t
	set_bad mf-bad "$mbase" "$((u * 8)):8"
	set_delay 1500
	r0=$(remap_status mf-r retries)
	w0=$(spare_writes)
	if [[ $kind == read ]]; then
		dd if="$dev" of=/tmp/r bs=$U skip="$u" count=1 iflag=direct status=none 2>/tmp/io.err &
	else
		dd if=/tmp/w of="$dev" bs=$U seek="$u" count=1 oflag=direct conv=notrunc status=none 2>/tmp/io.err &
	fi
	pid=$!
	for ((t = 0; t < W * 10; t++)); do
		(($(remap_status mf-r retries) > r0)) && break
		sleep 0.1
	done
	(($(remap_status mf-r retries) > r0)) || die "2. the worker did not retry the $kind of unit $u in $W s"
	set_bad mf-bad "$mbase" # heals while the retry waits in dm-delay
	io_rc=0
	wait "$pid" || io_rc=$?
	set_delay 0
	spare_delta=$(($(spare_writes) - w0))
	log "2. $kind of unit $u: exit $io_rc $(cat /tmp/io.err), $(($(remap_status mf-r retries) - r0)) retries, $spare_delta spare writes"
}
retried_io read 400
if ((io_rc != 0)); then
	soft_fail "2. a read whose retry succeeded failed in metadata-failed mode: $(cat /tmp/io.err)"
else
	unit_of 400 /tmp/u400
	cmp -s /tmp/r /tmp/u400 || soft_fail "2. the retried read returned other bytes than unit 400's"
fi
((spare_delta == 0)) || soft_fail "3. the retried read wrote the spare $spare_delta times (expected 0)"
dd if=/dev/urandom of=/tmp/w bs=$U count=1 status=none
retried_io write 500
if ((io_rc != 0)); then
	soft_fail "2. a write whose retry succeeded failed in metadata-failed mode: $(cat /tmp/io.err)"
fi
unit_is 500 /tmp/w || soft_fail "2. unit 500 does not read the retried write's bytes"
((spare_delta == 0)) || soft_fail "3. the retried write wrote the spare $spare_delta times (expected 0)"
assert_eq "$pending" "$(remap_status mf-r pending)" "pending after the retried I/O"
assert_eq "$entries" "$(remap_status mf-r entries)" "entries after the retried I/O"
assert_eq metadata-failed "$(remap_status mf-r mode)" "mode at the end"
dm_remove mf-r

((${#failures[@]} == 0)) || die "${#failures[@]} failure(s): $(printf '%s; ' "${failures[@]}")"
log "fault-metadata-failed OK"

#!/bin/bash
# Commits that fail halfway or after the commit (review F3): an entry that
# is durable on the spare must be what the running table serves, or an
# acknowledged write to its unit lands on main and the next activation
# maps the unit to the spare's older copy.
#   a. a two-unit write fails on main; its remaps need two table blocks:
#      block 0 (125 of 126 entries, from remap-test-fill) commits, block 1
#      cannot be read (both copies are `error` segments). The write fails;
#      a later acknowledged full-unit write W' to the first unit must be
#      there after remap-check -y and a new activation;
#   b. the lookup allocation after a `remap` message fails (test point
#      lookup_alloc, ENOMEM): the message fails, and nothing may be durable
#      that the table does not serve: W' to that unit is there after a reload.
# Failures are collected, so one run shows every broken case.
set -euo pipefail
# shellcheck source=tests/vm/lib.sh
. "$DMREMAP_SRC/tests/vm/lib.sh"

U=4096 # unit bytes; 8 sectors
W=30   # seconds: the bound on every wait for the target
load_module testing
mbase="$(make_nullb bcbase 16 memory_backed)"
total=$(sectors "$mbase")
random_file /tmp/data 16
write_at "$mbase" 0 /tmp/data
unit_of() { dd if=/tmp/data of="$2" bs=$U skip="$1" count=1 status=none; }
failures=()
soft_fail() {
	log "FAIL: $*"
	failures+=("$*")
}
# unit_is DEV UNIT FILE: DEV's unit UNIT reads FILE's bytes.
unit_is() {
	local tmp=/tmp/unit_is.$$
	rm -f "$tmp"
	dd if="$1" of="$tmp" bs=$U skip="$2" count=1 iflag=direct status=none 2>/dev/null || return 1
	cmp -s "$3" "$tmp"
}
# repair_spare SPARE: remap-check -y exits 0 or 1 (fixed), then -n finds nothing.
repair_spare() {
	local rc=0
	remap-check -y "$1" >/tmp/check.out 2>&1 || rc=$?
	((rc <= 1)) || die "remap-check -y $1 exited $rc: $(cat /tmp/check.out)"
	rc=0
	remap-check -n "$1" >/tmp/check.out 2>&1 || rc=$?
	((rc == 0)) || die "remap-check -n $1 exited $rc after -y: $(cat /tmp/check.out)"
}

# --- a. a batch whose second table block cannot be read -------------------
sbase="$(make_loop 8)"
main="$(fault_disk bc-main "$mbase")"
spare="$(fault_disk bc-spare "$sbase")"
# Block 0: 125 of its 126 slots (units 2000-2124), written offline.
"$DMREMAP_BUILD/tests/support/remap-test-fill" fill "$main" "$spare" $U 125 125 1000000 2000 >/dev/null ||
	die "remap-test-fill failed"
# One remap-dump (python is slow to start in the VM): the table's layout,
# and the first and last slot and the number of the filled entries.
read -r ta tb tn smin smax scount <<<"$(dump_get "$spare" \
	'[d["superblock"][k] for k in ("table_a_start", "table_b_start", "table_blocks")] + [min(e["slot"] for e in d["entries"]), max(e["slot"] for e in d["entries"]), len(d["entries"])]' | xargs)"
assert_eq "0 124 125" "$smin $smax $scount" "slots of the filled table (first, last, count)"
((tn >= 2)) || die "the table has only $tn block(s)"
table="0 $total remap $main $spare"
dev="$(dm_create bc-r "$table")"
assert_eq 125 "$(remap_status bc-r entries)" "entries of the filled spare"
dmsetup message bc-r 0 query 2124 | grep -q '^2124 remapped ' || die "unit 2124 is not remapped"
# Table block 1 unreadable in both copies, units 1000 and 1001 fail writes.
set_faults bc-spare "$sbase" "$(((ta + 1) * 8)):8" "$(((tb + 1) * 8)):8"
set_faults bc-main "$mbase" 8000:16:w
dd if=/dev/urandom of=/tmp/w bs=$U count=2 status=none
io_fails "Input/output error" if=/tmp/w of="$dev" bs=$((2 * U)) seek=500 count=1 oflag=direct conv=notrunc
log "a. the two-unit write failed: mode $(remap_status bc-r mode), entries $(remap_status bc-r entries)"
# main heals; W' rewrites unit 1000 whole and is acknowledged.
set_faults bc-main "$mbase"
dd if=/dev/urandom of=/tmp/w1 bs=$U count=1 status=none
write_at "$dev" $((1000 * U)) /tmp/w1
unit_is "$dev" 1000 /tmp/w1 || soft_fail "a. unit 1000 does not read W' right after it was acknowledged"
log "a. unit 1000 rewritten (acknowledged); table now: $(dmsetup message bc-r 0 query 1000), $(dmsetup message bc-r 0 query 1001)"
if dd if="$dev" of=/dev/null bs=$U skip=1001 count=1 iflag=direct status=none 2>/dev/null; then
	log "a. unit 1001 reads"
else
	log "a. unit 1001 fails to read"
fi
dm_remove bc-r
set_faults bc-spare "$sbase"
repair_spare "$spare"
dev="$(dm_create bc-r "$table")"
log "a. after remap-check -y and a new activation: $(dmsetup message bc-r 0 query 1000)"
unit_is "$dev" 1000 /tmp/w1 ||
	soft_fail "a. unit 1000 after the reload: expected the acknowledged W', got other bytes ($(dmsetup message bc-r 0 query 1000)): W' lost"
unit_of 1001 /tmp/u1001
unit_is "$dev" 1001 /tmp/u1001 ||
	soft_fail "a. unit 1001 after the reload: expected its old bytes (its remap never committed), got other bytes"
dm_remove bc-r
log "a. done"

# --- b. the lookup allocation after a remap message fails ------------------
sbase2="$(make_loop 8)"
main2="$(fault_disk bc-main2 "$mbase")"
format_spare "$main2" "$sbase2" $U
table2="0 $total remap $main2 $sbase2"
dev="$(dm_create bc-r2 "$table2")"
tp_arm lookup_alloc "error=-12 count=1"
if out="$(timeout $W dmsetup message bc-r2 0 remap 300 2>&1)"; then
	soft_fail "b. the remap message succeeded although the lookup allocation failed: '$out'"
fi
assert_eq 1 "$(tp_hits lookup_alloc)" "lookup_alloc hits"
log "b. remap message with a failed allocation: '$out'; mode $(remap_status bc-r2 mode), $(dmsetup message bc-r2 0 query 300)"
dd if=/dev/urandom of=/tmp/w2 bs=$U count=1 status=none
write_at "$dev" $((300 * U)) /tmp/w2
unit_is "$dev" 300 /tmp/w2 || soft_fail "b. unit 300 does not read W' right after it was acknowledged"
dm_remove bc-r2
if dmsetup create bc-r2 --noudevsync --table "$table2" 2>/tmp/err; then
	_lib_track dm bc-r2
	dmsetup mknodes bc-r2 || true
else
	log "b. the reload is refused ($(dmesg | tail -1)); remap-check -y"
	repair_spare "$sbase2"
	dev="$(dm_create bc-r2 "$table2")"
fi
log "b. after the reload: $(dmsetup message bc-r2 0 query 300)"
unit_is "$dev" 300 /tmp/w2 ||
	soft_fail "b. unit 300 after the reload: expected the acknowledged W', got other bytes ($(dmsetup message bc-r2 0 query 300)): W' lost"
dm_remove bc-r2

((${#failures[@]} == 0)) || die "${#failures[@]} failure(s): $(printf '%s; ' "${failures[@]}")"
log "fault-batch-commit OK"

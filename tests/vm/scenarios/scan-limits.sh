#!/bin/bash
# The scan's limits on what it records (a 1 MiB spare: 378 table slots, 248
# spare blocks; 400 unreadable units on main): a pass records at most 256
# pending units, then halts (pending-limit); "scan start" lifts that, and
# the scan records until an eighth of the table is left (table-reserve);
# a write that fails on main still finds a slot and a block in the reserve.
set -euo pipefail
# shellcheck source=tests/vm/lib.sh
. "$DMREMAP_SRC/tests/vm/lib.sh"

# wait_halted NAME: waits up to 120 s for the scan of NAME to halt.
wait_halted() {
	for _ in $(seq 1200); do
		[[ $(remap_status "$1" scan_state) == halted ]] && return 0
		sleep 0.1
	done
	die "the scan of $1 did not halt: $(dmsetup message "$1" 0 scan status)"
}

load_module
base="$(make_nullb lbase 32 memory_backed)"
total=$(sectors "$base")
# Units 1000 to 1399 fail every I/O.
main="$(bad_disk lmain "$base" 8000:3200)"
spare="$(make_loop 1)"
out="$("$DMREMAP_BUILD/tests/support/remap-test-format" "$main" "$spare" 4096)" ||
	die "formatting $spare failed"
capacity=$(sed -n 's/.*capacity=\([0-9]*\).*/\1/p' <<<"$out")
log "format: $out"
reserve=$((capacity / 8))
((capacity - reserve > 256 && capacity - reserve < 400)) ||
	die "capacity $capacity does not suit this test (reserve $reserve)"
dev="$(dm_create l "0 $total remap $main $spare")"

dmsetup message l 0 scan start 64
wait_halted l
status="$(dmsetup message l 0 scan status)"
log "scan status: $status"
[[ $status == *"reason=pending-limit"* && $status == *" bad=256 "* ]] ||
	die "expected a pending-limit halt after 256 units: $status"
assert_eq 256 "$(remap_status l pending)" "pending at the pass limit"
assert_eq ok "$(remap_status l mode)" "mode at the pass limit"

dmsetup message l 0 scan start
wait_halted l
status="$(dmsetup message l 0 scan status)"
log "scan status: $status"
[[ $status == *"reason=table-reserve"* ]] || die "expected a table-reserve halt: $status"
assert_eq $((capacity - reserve)) "$(remap_status l pending)" "pending at the table reserve"
assert_eq ok "$(remap_status l mode)" "mode at the table reserve"

# A write to a unit the scan did not reach is remapped, from the reserve.
random_file /tmp/unit 1
head -c 4096 /tmp/unit >/tmp/unit1399
dd if=/tmp/unit1399 of="$dev" bs=4096 seek=1399 count=1 oflag=direct conv=notrunc status=none ||
	die "a failed write could not be remapped with the reserve"
assert_dev_matches "$dev" $((1399 * 4096)) /tmp/unit1399
remap_list l | grep -qx "1399 remapped" || die "unit 1399 not remapped: $(remap_list l | tail -3)"
dm_remove l
log "scan-limits OK"

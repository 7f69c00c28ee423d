#!/bin/bash
# The background scan finds every bad unit (error segments in the main
# device), records each as pending, persistently, and raises a dm event.
# Also: scan start/stop/status, refused scan messages and feature
# arguments, and the scan fields of the status line.
set -euo pipefail
# shellcheck source=tests/vm/lib.sh
. "$DMREMAP_SRC/tests/vm/lib.sh"

load_module
base="$(make_nullb sbase 32 memory_backed)"
total=$(sectors "$base")
# Units 100, 1000-1001 and 7000 (4 KiB units) are unreadable.
main="$(bad_disk smain "$base" 800:8 8000:16 56000:8)"
spare="$(make_loop 8)"
format_spare "$main" "$spare" 4096
dev="$(dm_create s "0 $total remap $main $spare")"

assert_eq off "$(remap_status s scan_state)" "scan state of a new device"
assert_eq 0 "$(remap_status s scan_pass)" "scan pass of a new device"

# Refused messages leave the scan alone.
for bad in "scan" "scan go" "scan start 0" "scan start 4097" "scan start x" \
	"scan start 1 2" "scan stop now" "scan status 1"; do
	# shellcheck disable=SC2086
	if dmsetup message s 0 $bad 2>/dev/null; then
		die "message '$bad' was accepted"
	fi
done
assert_eq off "$(remap_status s scan_state)" "scan state after refused messages"

# Refused feature arguments.
for feat in "2 scan_rate 5000" "2 slow_ms 0" "2 slow_ms 600001" "1 scan_rate" \
	"2 scan_rate x" "8 retries 1 scan_rate 1 slow_ms 5 retries 2"; do
	if dmsetup create sbad --noudevsync --table "0 $total remap $main $spare $feat" 2>/dev/null; then
		dmsetup remove sbad
		die "feature arguments '$feat' were accepted"
	fi
done

event="$(dmsetup info -c --noheadings -o events s)"
dmsetup message s 0 scan start 8
assert_eq running "$(remap_status s scan_state)" "scan state after scan start"
assert_eq 8 "$(remap_status s scan_rate)" "scan rate after scan start 8"
for _ in $(seq 600); do
	(($(remap_status s scan_pass) >= 1)) && break
	sleep 0.1
done
(($(remap_status s scan_pass) >= 1)) || die "the scan did not finish a pass: $(dmsetup status s)"
dmsetup message s 0 scan stop
assert_eq off "$(remap_status s scan_state)" "scan state after scan stop"
status="$(dmsetup message s 0 scan status)"
log "scan status: $status"
[[ $status == *"state=off"* && $status == *"last_bad=4"* && $status == *"last_weak=0"* ]] ||
	die "scan status after one pass: $status"
assert_eq "100 pending 1000 pending 1001 pending 7000 pending" "$(remap_list s | xargs)" "table after the scan"
assert_eq 4 "$(remap_status s pending)" "pending after the scan"
(($(dmsetup info -c --noheadings -o events s) > event)) || die "no dm event for the scan's findings"
# The highest rate (its pacing once divided by zero).
c=$(remap_status s scan_cursor)
dmsetup message s 0 scan start 4096
sleep 1
dmsetup message s 0 scan stop
[[ $(remap_status s scan_cursor) != "$c" || $(remap_status s scan_pass) -ge 2 ]] ||
	die "the scan did not move at 4096 MiB/s"
dmsetup message s 0 scan start 8
dmsetup message s 0 scan stop

# Persisted: the pending units and the completed pass survive a new table.
dm_remove s
dev="$(dm_create s "0 $total remap $main $spare 4 scan_rate 2 slow_ms 500")"
assert_eq "0 $total remap $(dmsetup table s | awk '{print $4, $5}') 4 scan_rate 2 slow_ms 500" \
	"$(dmsetup table s)" "table line with scan features"
assert_eq "100 pending 1000 pending 1001 pending 7000 pending" "$(remap_list s | xargs)" "table after re-creation"
(($(remap_status s scan_pass) >= 1)) || die "scan pass not persisted: $(dmsetup status s)"
# The feature starts the scan at resume, at its rate.
assert_eq running "$(remap_status s scan_state)" "scan state with scan_rate 2"
assert_eq 2 "$(remap_status s scan_rate)" "scan rate from the table"
dmsetup message s 0 scan status | grep -q 'slow_ms=500' || die "slow_ms not applied"
# A pending unit still fails reads: nothing was invented.
io_fails "Input/output error" if="$dev" of=/dev/null bs=4096 skip=1000 count=1 iflag=direct
dm_remove s
log "scan-bad OK"

#!/bin/bash
# The main device becomes unreachable while the background scan runs (its
# table replaced by `error`, then restored): the scan records nothing,
# halts with the reason in `scan status` and a dm event, and the device
# reads byte for byte afterwards; `scan start` continues it. Also: a scan
# cursor that cannot be saved (the spare's superblocks fail writes) halts
# the scan but leaves the mode `ok`; the table line starts the scan again
# at every resume; the scan covers only the table's length.
set -euo pipefail
# shellcheck source=tests/vm/lib.sh
. "$DMREMAP_SRC/tests/vm/lib.sh"

load_module
base="$(make_nullb obase 32 memory_backed)"
total=$(sectors "$base")
main="$(dm_create omain "0 $total linear $base 0")"
sbase="$(make_loop 8)"
spare="$(fault_disk ospare "$sbase")"
format_spare "$main" "$spare" 4096
dev="$(dm_create o "0 $total remap $main $spare")"
random_file /tmp/data 32
write_at "$dev" 0 /tmp/data

# switch_main TABLE: main's new table, live (suspend, load, resume).
switch_main() {
	dmsetup load omain --table "$1" || die "cannot load '$1' for omain"
	if ! dmsetup suspend --noudevsync omain || ! dmsetup resume --noudevsync omain; then
		die "cannot switch omain to '$1'"
	fi
}

# --- an outage of main during the scan ---
event="$(dmsetup info -c --noheadings -o events o)"
dmsetup message o 0 scan start 16
sleep 1
assert_eq running "$(remap_status o scan_state)" "scan state before the outage"
switch_main "0 $total error"
for _ in $(seq 300); do
	[[ $(remap_status o scan_state) == halted ]] && break
	sleep 0.1
done
status="$(dmsetup message o 0 scan status)"
log "scan status during the outage: $status"
assert_eq halted "$(remap_status o scan_state)" "scan state during the outage"
[[ $status == *"reason=main-unreachable"* ]] || die "no reason in the scan status: $status"
(($(dmsetup info -c --noheadings -o events o) > event)) || die "no dm event for the halted scan"
sleep 2 # a halted scan stays halted
switch_main "0 $total linear $base 0"

assert_eq 0 "$(remap_status o pending)" "pending after the outage"
assert_eq 0 "$(remap_status o entries)" "table entries after the outage"
assert_eq ok "$(remap_status o mode)" "mode after the outage"
assert_eq halted "$(remap_status o scan_state)" "scan state after the outage"
assert_dev_matches "$dev" 0 /tmp/data

# scan start continues it; a whole pass over the healthy device finds nothing.
pass=$(remap_status o scan_pass)
dmsetup message o 0 scan start 64
assert_eq running "$(remap_status o scan_state)" "scan state after scan start"
for _ in $(seq 600); do
	(($(remap_status o scan_pass) > pass)) && break
	sleep 0.1
done
(($(remap_status o scan_pass) > pass)) || die "the scan did not finish a pass: $(dmsetup status o)"
assert_eq 0 "$(remap_status o entries)" "table entries after a pass"
assert_eq 0 "$(remap_status o scan_bad)" "scan_bad after a pass"

# --- a cursor that cannot be saved: the scan halts, the mode stays ok ---
dmsetup message o 0 scan start 1
sleep 1
set_faults ospare "$sbase" 0:16:w
dmsetup message o 0 scan stop
assert_eq ok "$(remap_status o mode)" "mode after a failed cursor save"
dmesg | grep -q "scan: cannot save the cursor" || die "no kernel message for the failed save"
dmsetup message o 0 scan start
assert_eq running "$(remap_status o scan_state)" "scan state after a failed save and scan start"
set_faults ospare "$sbase"
# A remap still works: the table is intact.
dmsetup message o 0 remap 7 >/dev/null || die "remap after a failed cursor save"
assert_eq "7 remapped" "$(remap_list o | xargs)" "table after remap"
assert_dev_matches "$dev" 0 /tmp/data
dm_remove o
remap-check "$spare" >/tmp/check.out 2>&1 || die "remap-check after a failed cursor save: $(cat /tmp/check.out)"

# --- the table line is the configuration; the scan covers only <len> ---
half=$((total / 2))
dev="$(dm_create o "0 $half remap $main $spare 2 scan_rate 64")"
assert_eq running "$(remap_status o scan_state)" "scan state from the table"
dmsetup message o 0 scan stop
assert_eq off "$(remap_status o scan_state)" "scan state after scan stop"
if ! dmsetup suspend --noudevsync o || ! dmsetup resume --noudevsync o; then
	die "cannot suspend and resume o"
fi
assert_eq running "$(remap_status o scan_state)" "scan state after a resume (scan_rate in the table)"
units=$(dmsetup message o 0 scan status | sed -n 's/.*units=\([0-9]*\).*/\1/p')
assert_eq $((half / 8)) "$units" "units the scan covers (the table's length)"
dm_remove o
log "scan-outage OK"

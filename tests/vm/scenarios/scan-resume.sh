#!/bin/bash
# The scan cursor persists: a suspend, a reload and a re-creation resume the
# scan where it stopped, and after a crash (the spare copied while the scan
# runs, as a power cut would leave it) the scan resumes from the cursor it
# saved last (every 30 s), not from zero.
set -euo pipefail
# shellcheck source=tests/vm/lib.sh
. "$DMREMAP_SRC/tests/vm/lib.sh"

load_module
base="$(make_nullb cbase 64 memory_backed)"
total=$(sectors "$base")
spare="$(make_loop 8)"
format_spare "$base" "$spare" 4096
table="0 $total remap $base $spare 2 scan_rate 1"
dm_create c "$table" >/dev/null
start=$SECONDS

sleep 3
c1=$(remap_status c scan_cursor)
((c1 > 0)) || die "the scan did not move in 3 s: $(dmsetup status c)"
dmsetup suspend --noudevsync c
assert_eq paused "$(remap_status c scan_state)" "scan state while suspended"
c2=$(remap_status c scan_cursor)
((c2 >= c1)) || die "cursor went back on suspend: $c1 -> $c2"
dmsetup resume --noudevsync c
c3=$(remap_status c scan_cursor)
((c3 >= c2)) || die "cursor went back on resume: $c2 -> $c3"

# A reload: the new table reads the cursor the old one saved at suspend.
sleep 1
dmsetup reload c --table "$table"
dmsetup suspend --noudevsync c
c4=$(remap_status c scan_cursor)
dmsetup resume --noudevsync c
c5=$(remap_status c scan_cursor)
((c5 >= c4 && c4 > c3)) || die "cursor across a reload: $c3 before, $c4 at suspend, $c5 after"
log "cursor: $c1 $c2 $c3 $c4 $c5"

# A crash: copy the spare while the scan runs, after a periodic save.
while ((SECONDS - start < 42)); do sleep 1; done
copy=$(mktemp /tmp/spare-copy.XXXXXX)
cp "$(losetup -n -O BACK-FILE "$spare")" "$copy"
c6=$(remap_status c scan_cursor)
dm_remove c
saved=$(dump_get "$spare" 'd["superblock"]["scan_cursor"]')
((saved >= c6)) || die "cursor saved at removal $saved < $c6"
crash_spare=$(losetup --find --show "$copy")
_lib_track loop "$crash_spare"
crashed=$(dump_get "$crash_spare" 'd["superblock"]["scan_cursor"]')
log "cursor at the copy: $c6; in the copy: $crashed; saved at removal: $saved"
((crashed > c5 && crashed <= c6)) || die "cursor in the crashed copy $crashed is not past $c5 and up to $c6"
dm_create c2 "0 $total remap $base $crash_spare 2 scan_rate 1" >/dev/null
c7=$(remap_status c2 scan_cursor)
((c7 >= crashed)) || die "after the crash the scan restarted at $c7, before its saved cursor $crashed"
sleep 2
c8=$(remap_status c2 scan_cursor)
((c8 > c7)) || die "the scan does not move after the crash: $c7 -> $c8"
dm_remove c2
log "scan-resume OK"

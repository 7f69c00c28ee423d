#!/bin/bash
# F6: a new table's resume-time re-read finds metadata of another geometry.
# The spare is a dm-linear device `gsp`; the new table's constructor read
# 4 KiB-unit metadata (and sized its unit buffer for it), then the old table
# committed (so a re-read is due), and while the old table was suspended gsp
# was pointed at a second device formatted for the same main device with
# 64 KiB units (what a reformat with format_spare ... 65536 leaves). The
# resume must be refused with a clear error, never oops. Then a failed write
# (the I/O that uses the unit buffer) shows no memory corruption: after the
# refused resume on a table built on the 64 KiB metadata, otherwise on the
# table that (wrongly) resumed.
set -euo pipefail
# shellcheck source=tests/vm/lib.sh
. "$DMREMAP_SRC/tests/vm/lib.sh"

hang_safe # no_oops, wait_pid and t (lib.sh)

load_module
base="$(make_nullb gbase 16 memory_backed)"
total=$(sectors "$base")
random_file /tmp/data 16
write_at "$base" 0 /tmp/data
main="$(fault_disk gmain "$base")"
loop1="$(make_loop 8)"
loop2="$(make_loop 8)"
ssz=$(sectors "$loop1")
gsp="$(dm_create gsp "0 $ssz linear $loop1 0")"
format_spare "$main" "$gsp" 4096
table="0 $total remap $main $gsp"
dev="$(dm_create g "$table")"
dmsetup load g --table "$table" || die "dmsetup load failed"
out="$(dmsetup message g 0 remap 7)" || die "remap 7 failed"
log "old table after the new table's constructor: $out"
dmsetup suspend --noudevsync g || die "suspend of g failed"

# The same main device, 64 KiB units, on loop2; gsp now points there.
format_spare "$main" "$loop2" 65536
dmsetup load gsp --table "0 $ssz linear $loop2 0" || die "cannot load gsp"
dmsetup suspend --noudevsync gsp && dmsetup resume --noudevsync gsp || die "cannot switch gsp"
log "spare now holds 64 KiB-unit metadata; resuming the new table"
rc=0
t 60 dmsetup resume --noudevsync g 2>/tmp/resume.err || rc=$?
no_oops "resume"
log "resume exited $rc: $(xargs </tmp/resume.err)"
dmesg | grep -E 'device-mapper: remap' | tail -3 >&2 || true
t 30 dmsetup status g >/tmp/status 2>&1 || die "status after the resume failed: $(cat /tmp/status)"
no_oops "status after the resume"
log "status: $(cat /tmp/status)"
resumed=0
((rc != 0)) || resumed=1
if ((resumed == 0)); then
	# Refused: a fresh table on the 64 KiB metadata is what serves I/O now.
	t 60 dmsetup load g --table "$table" || die "cannot load a table on the 64 KiB metadata"
	t 60 dmsetup resume --noudevsync g || die "cannot resume a fresh table on the 64 KiB metadata"
	assert_eq 65536 "$(remap_status g unit)" "unit of the fresh table"
fi

# A failed 4 KiB write in the middle of a 64 KiB unit (unit 2, 40 KiB in):
# the worker reads the rest of the unit into its unit buffer and remaps it.
S=$((2 * 128 + 80))
set_faults gmain "$base" "$S:8:w"
head -c 4096 /dev/urandom >/tmp/w
log "failed write at sector $S (unit 2 of 64 KiB)"
rc=0
t 20 dd if=/tmp/w of="$dev" bs=4096 seek=$((S / 8)) count=1 oflag=direct conv=notrunc status=none 2>/tmp/dd.err || rc=$?
no_oops "the failed write"
((resumed == 0)) || die "the resume with another unit size (64 KiB instead of 4 KiB) was accepted (resume exited 0: $(xargs </tmp/resume.err)); the failed write then exited $rc"
((rc == 0)) || die "the failed write was not remapped: $(cat /tmp/dd.err)"
assert_eq "2 remapped" "$(remap_list g | xargs)" "table after the failed write"
cp /tmp/data /tmp/want
dd if=/tmp/w of=/tmp/want bs=4096 seek=$((S / 8)) conv=notrunc status=none
assert_dev_matches "$dev" 0 /tmp/want
set_faults gmain "$base"
t 30 dmsetup remove --noudevsync g || die "remove failed"
no_oops "remove"
log "race-reload-geometry OK"

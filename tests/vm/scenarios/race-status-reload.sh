#!/bin/bash
# vm-smp: 4
# F5: `dmsetup status` runs concurrently with a new table's resume-time
# metadata re-read, which replaces the metadata (md->pool among it).
# Case 1: status while load_sb holds the re-read after the superblock (the
# pool bitmap is not built yet) must not oops, and the resume completes.
# Case 2 (deterministic): the re-read fails. The old table's commit loses
# copy B (the spare's table copy B region fails writes) after the new
# table's constructor, so it sets needs_check; the new table's resume then
# fails the re-read. `dmsetup status` must still work, and a reload and
# `dmsetup remove` must not hang.
set -euo pipefail
# shellcheck source=tests/vm/lib.sh
. "$DMREMAP_SRC/tests/vm/lib.sh"

hang_safe # no_oops, wait_pid and t (lib.sh)

load_module testing
random_file /tmp/data 16
CASES=${CASES:-1 2}

if [[ " $CASES " == *" 1 "* ]]; then
base="$(make_nullb sbase 16 memory_backed)"
total=$(sectors "$base")
write_at "$base" 0 /tmp/data
spare="$(make_loop 8)"
format_spare "$base" "$spare" 4096
table="0 $total remap $base $spare"
dev="$(dm_create s "$table")"
dmsetup load s --table "$table" || die "dmsetup load failed"
# The old table commits after the new table's read: a re-read is due.
out="$(dmsetup message s 0 remap 100)" || die "remap 100 failed"
log "case 1: old table after the new table's constructor: $out"
dmsetup suspend --noudevsync s || die "suspend failed"
tp_arm load_sb "delay=5000 count=1"
log "case 1: resuming the new table; its re-read is held 5 s after the superblock"
dmsetup resume --noudevsync s >/dev/null 2>/tmp/resume.err </dev/null 3>&- &
resumer=$!
tp_wait load_sb 1
for i in 1 2 3; do
	rc=0
	t 30 dmsetup status s >/tmp/status 2>&1 || rc=$?
	no_oops "case 1: dmsetup status during the re-read"
	((rc == 0)) || die "case 1: dmsetup status during the re-read failed ($rc): $(cat /tmp/status)"
	log "case 1: status during the re-read: $(cat /tmp/status)"
	sleep 0.5
done
wait_pid "$resumer" 60 || die "case 1: resume failed: $(cat /tmp/resume.err)"
assert_eq "100 remapped" "$(remap_list s | xargs)" "case 1: table after the resume"
t 30 dmsetup status s >/tmp/status || die "case 1: status after the resume failed"
no_oops "case 1: status after the resume"
t 30 dmsetup remove s || die "case 1: remove failed"
log "case 1 OK"
fi

if [[ " $CASES " == *" 2 "* ]]; then
base2="$(make_nullb sbase2 16 memory_backed)"
total2=$(sectors "$base2")
write_at "$base2" 0 /tmp/data
loop2="$(make_loop 8)"
fspare="$(fault_disk fspare "$loop2")"
format_spare "$base2" "$fspare" 4096
tb=$(dump_get "$fspare" 'd["superblock"]["table_b_start"]')
nb=$(dump_get "$fspare" 'd["superblock"]["table_blocks"]')
log "case 2: table copy B is blocks $tb..$((tb + nb - 1))"
table2="0 $total2 remap $base2 $fspare"
dev2="$(dm_create s2 "$table2")"
dmsetup load s2 --table "$table2" || die "dmsetup load failed"
# After the new table's read: copy B fails writes, the old table commits.
set_faults fspare "$loop2" "$((tb * 8)):$((nb * 8)):w"
rc=0
dmsetup message s2 0 remap 100 >/tmp/msg 2>&1 || rc=$?
log "case 2: old table's remap with copy B failing (exit $rc): $(xargs </tmp/msg); mode $(remap_status s2 mode)"
dmsetup suspend --noudevsync s2 || die "suspend failed"
rc=0
t 60 dmsetup resume --noudevsync s2 2>/tmp/resume.err || rc=$?
no_oops "case 2: resume"
((rc != 0)) || die "case 2: the new table resumed although its re-read must find needs_check set"
log "case 2: resume refused as expected: $(xargs </tmp/resume.err)"
for i in 1 2; do
	rc=0
	t 30 dmsetup status s2 >/tmp/status 2>&1 || rc=$?
	no_oops "case 2: dmsetup status after the failed re-read"
	((rc == 0)) || die "case 2: dmsetup status after the failed re-read failed ($rc): $(cat /tmp/status)"
	log "case 2: status after the failed re-read: $(cat /tmp/status)"
done
t 30 dmsetup table s2 >/dev/null || die "case 2: dmsetup table failed"
# A reload (the same table) and a remove must not hang.
t 60 dmsetup load s2 --table "$table2" 2>/tmp/load.err || log "case 2: reload refused: $(xargs </tmp/load.err)"
no_oops "case 2: reload"
t 30 dmsetup status s2 >/dev/null 2>&1 || true
no_oops "case 2: status after the reload"
t 60 dmsetup remove --noudevsync s2 || die "case 2: dmsetup remove failed"
no_oops "case 2: remove"
[[ ! -e /dev/mapper/s2 ]] || die "case 2: /dev/mapper/s2 still exists after remove"
log "case 2 OK"
fi
log "race-status-reload OK"

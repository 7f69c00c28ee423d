#!/bin/bash
# vm-smp: 4
# F4: a `remap` message reaches a new table while it is in preresume (the
# preresume point holds it after it took the spare) with a re-read due: the
# old table remapped X, and wrote X, after the new table's constructor read
# the metadata. Whatever the message answers (an error, or a remap applied to
# fresh metadata), X must survive intact: its entry in the table, its spare
# block and its acknowledged data; no two entries share a spare block.
set -euo pipefail
# shellcheck source=tests/vm/lib.sh
. "$DMREMAP_SRC/tests/vm/lib.sh"

X=100 Z=200

load_module testing
base="$(make_nullb pbase 16 memory_backed)"
total=$(sectors "$base")
random_file /tmp/data 16
write_at "$base" 0 /tmp/data
spare="$(make_loop 8)"
format_spare "$base" "$spare" 4096
table="0 $total remap $base $spare"
dev="$(dm_create p "$table")"

log "loading a new table (its constructor reads the metadata now)"
dmsetup load p --table "$table" || die "dmsetup load failed"
log "old table: remap X=$X and write it"
out="$(dmsetup message p 0 remap $X)" || die "remap $X failed"
log "remap $X: $out"
head -c 4096 /dev/urandom >/tmp/x
write_at "$dev" $((X * 4096)) /tmp/x
assert_dev_matches "$dev" $((X * 4096)) /tmp/x

dmsetup suspend --noudevsync p || die "suspend failed"
tp_arm preresume "delay=5000 count=1"
log "resuming the new table; preresume is held 5 s after it took the spare"
dmsetup resume --noudevsync p >/dev/null 2>/tmp/resume.err </dev/null &
resumer=$!
tp_wait preresume 1
log "remap message for Z=$Z while the new table is in preresume"
rc=0
dmsetup message p 0 remap $Z >/tmp/msg 2>&1 || rc=$?
log "remap $Z answered (exit $rc): $(xargs </tmp/msg)"
wait "$resumer" || die "resume of the new table failed: $(cat /tmp/resume.err)"

remap_list p >/tmp/list
log "table after the resume: $(xargs </tmp/list)"
grep -qx "$X remapped" /tmp/list || die "unit $X (remapped by the old table) is missing from the table after the resume: $(xargs </tmp/list)"
log "reading back unit $X"
assert_dev_matches "$dev" $((X * 4096)) /tmp/x
if ((rc == 0)); then
	grep -qx "$Z remapped" /tmp/list || die "the message answered '$(xargs </tmp/msg)' but unit $Z is not remapped: $(xargs </tmp/list)"
fi
# Z (remapped now if the message failed) holds main's data; X still its own.
dmsetup message p 0 remap $Z >/dev/null 2>&1 || true
dd if=/tmp/data of=/tmp/z bs=4096 skip=$Z count=1 status=none
assert_dev_matches "$dev" $((Z * 4096)) /tmp/z
assert_dev_matches "$dev" $((X * 4096)) /tmp/x
dm_remove p

blocks="$(dump_get "$spare" '[e["spare_block"] for e in d["entries"] if e["main_block"] in ('$X', '$Z')]' | xargs)"
log "spare blocks of X and Z: $blocks"
[[ $(wc -w <<<"$blocks") == 2 ]] || die "expected entries for units $X and $Z on the spare, found spare blocks '$blocks'"
read -r b1 b2 <<<"$blocks"
[[ $b1 != "$b2" ]] || die "units $X and $Z share spare block $b1"
dev="$(dm_create p "$table")"
assert_dev_matches "$dev" $((X * 4096)) /tmp/x
assert_dev_matches "$dev" $((Z * 4096)) /tmp/z
dm_remove p
log "race-preresume-message OK"

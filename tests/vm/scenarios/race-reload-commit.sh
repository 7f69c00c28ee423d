#!/bin/bash
# vm-smp: 4
# F2: a new table's constructor (`dmsetup load`) reads the remap table while
# the old, live table commits. The spare is filled offline (remap-test-fill)
# so that table chunk 0 (blocks 0-255, 32256 slots) has exactly one free
# slot, its last. load_chunk holds the constructor after it read chunk 0;
# meanwhile the old table remaps X (slot 32255, block 255: chunk 0, already
# read), a write lands on X's spare block, and the old table remaps Y (slot
# 32256, block 256: chunk 1, not read yet). The constructor then sees Y's
# commit, the largest seq on the spare. After `dmsetup resume` of the new
# table, X must be in the table and its acknowledged data must read back;
# a later remap must not reuse X's slot or spare block (checked in the dump
# of the spare after the device is gone).
set -euo pipefail
# shellcheck source=tests/vm/lib.sh
. "$DMREMAP_SRC/tests/vm/lib.sh"

B=512 # unit bytes: small units make 32256+ entries cheap
FILL=32255
X=40000 Y=40001 Z=40002

load_module testing
base="$(make_nullb cbase 32 memory_backed)"
total=$(sectors "$base")
random_file /tmp/data 32
write_at "$base" 0 /tmp/data
spare="$(make_loop 24)"
log "filling the spare with $FILL remapped entries (slots 0-$((FILL - 1)))"
"$DMREMAP_BUILD/tests/support/remap-test-fill" fill "$base" "$spare" $B $FILL 1 1 >/tmp/fill.out ||
	die "remap-test-fill failed: $(cat /tmp/fill.out)"
log "fill: $(xargs </tmp/fill.out)"
table="0 $total remap $base $spare"
dev="$(dm_create c "$table")"
assert_eq $FILL "$(remap_status c entries)" "entries after activation"

tp_arm load_chunk "delay=8000 unit=0 count=1"
log "loading a new table; its constructor is held 8 s after table chunk 0"
dmsetup load c --table "$table" >/dev/null 2>/tmp/load.err </dev/null &
loader=$!
tp_wait load_chunk 1
log "old table: remap X=$X (slot $FILL, chunk 0), write it, remap Y=$Y (chunk 1)"
out="$(dmsetup message c 0 remap $X)" || die "remap $X failed"
log "remap $X: $out"
head -c $B /dev/urandom >/tmp/x
dd if=/tmp/x of="$dev" bs=$B seek=$X count=1 oflag=direct conv=notrunc status=none ||
	die "write to unit $X failed"
assert_dev_matches "$dev" $((X * B)) /tmp/x
out="$(dmsetup message c 0 remap $Y)" || die "remap $Y failed"
log "remap $Y: $out"
wait "$loader" || die "dmsetup load failed: $(cat /tmp/load.err)"
((FILL + 2 == $(remap_status c entries))) || die "old table: expected $((FILL + 2)) entries, got $(remap_status c entries)"

log "switching to the new table"
dmsetup suspend --noudevsync c || die "suspend failed"
dmsetup resume --noudevsync c || die "resume of the new table failed"
dmsetup message c 0 list $((FILL - 1)) 8 >/tmp/list || die "list failed"
log "table after the resume: $(awk '{print $1 "/" $NF}' /tmp/list | xargs)"
grep -q "^$X .* remapped\$" /tmp/list ||
	die "unit $X (committed by the old table during the new table's read) is missing from the new table: $(xargs </tmp/list)"
grep -q "^$Y .* remapped\$" /tmp/list || die "unit $Y is missing from the new table: $(xargs </tmp/list)"
assert_eq $((FILL + 2)) "$(remap_status c entries)" "entries after the resume"
log "reading back unit $X"
assert_dev_matches "$dev" $((X * B)) /tmp/x

log "a later remap, Z=$Z"
out="$(dmsetup message c 0 remap $Z)" || die "remap $Z failed"
log "remap $Z: $out"
assert_dev_matches "$dev" $((X * B)) /tmp/x
dm_remove c

# Every entry kept its own slot and spare block.
remap-dump -f json "$spare" >/tmp/dump.json || die "remap-dump failed"
python3 - "$X" "$Y" "$Z" $((FILL + 3)) <<'PY' || die "the spare's table after the reload is wrong (see above)"
import json, sys
x, y, z, want = map(int, sys.argv[1:])
d = json.load(open("/tmp/dump.json"))
es = [e for e in d["entries"] if e.get("state") == "remapped"]
by = {e["main_block"]: e for e in es}
bad = []
for u in (x, y, z):
    if u not in by:
        bad.append(f"unit {u} has no remapped entry")
if len(es) != want:
    bad.append(f"{len(es)} remapped entries, expected {want}")
blocks = [e["spare_block"] for e in es]
if len(set(blocks)) != len(blocks):
    bad.append("a spare block is used twice")
if "slot" in (es[0] if es else {}):
    slots = [e["slot"] for e in es]
    if len(set(slots)) != len(slots):
        bad.append("a slot is used twice")
for u in (x, y, z):
    if u in by:
        print(f"unit {u}: " + " ".join(f"{k}={by[u][k]}" for k in by[u] if k in ("slot", "spare_block", "state")), file=sys.stderr)
if bad:
    print("FAIL: " + "; ".join(bad), file=sys.stderr)
    sys.exit(1)
PY
# X's data is still X's after recreating the device.
dev="$(dm_create c "$table")"
assert_dev_matches "$dev" $((X * B)) /tmp/x
dm_remove c
log "race-reload-commit OK"

#!/bin/bash
# A write in flight on main while a failing read records its unit pending
# (dm-delay holds main's writes for 3 s; the reads come from a device whose
# unit fails): a full-unit write that then completes clears the pending
# entry, so the acknowledged data reads back byte for byte; a partial write
# fails (the rest of the unit is still lost) and the unit stays pending.
set -euo pipefail
# shellcheck source=tests/vm/lib.sh
. "$DMREMAP_SRC/tests/vm/lib.sh"

load_module
[[ -d /sys/module/dm_delay ]] || modprobe dm-delay || die "modprobe dm-delay failed"
base="$(make_nullb pbase 16 memory_backed)"
total=$(sectors "$base")
random_file /tmp/data 16
write_at "$base" 0 /tmp/data
# Reads through rbad (healthy for now), writes straight to base, 3 s late.
rbad="$(bad_disk rbad "$base")"
main="$(dm_create pmain "0 $total delay $rbad 0 0 $base 0 3000")"
spare="$(make_loop 8)"
format_spare "$main" "$spare" 4096
dev="$(dm_create p "0 $total remap $main $spare")"
assert_dev_matches "$dev" 0 /tmp/data

# Units 100 and 200 now fail reads (not writes: those go to base).
set_bad rbad "$base" 800:8 1600:8
random_file /tmp/unit 1
head -c 4096 /tmp/unit >/tmp/unit100
head -c 512 /tmp/unit >/tmp/part200

# A full-unit write to unit 100, then a read that fails and marks it pending.
dd if=/tmp/unit100 of="$dev" bs=4096 seek=100 count=1 oflag=direct conv=notrunc status=none &
writer=$!
sleep 0.5
io_fails "Input/output error" if="$dev" of=/dev/null bs=4096 skip=100 count=1 iflag=direct
assert_eq "100 pending" "$(remap_list p | xargs)" "table while the write is in flight"
wait "$writer" || die "the full-unit write failed"
assert_eq "" "$(remap_list p | xargs)" "table after the full-unit write completed"
assert_eq 0 "$(remap_status p pending)" "pending after the full-unit write"

# A partial write to unit 200 (its second sector), the same race.
dd if=/tmp/part200 of="$dev" bs=512 seek=1601 count=1 oflag=direct conv=notrunc status=none &
writer=$!
sleep 0.5
io_fails "Input/output error" if="$dev" of=/dev/null bs=4096 skip=200 count=1 iflag=direct
if wait "$writer"; then
	die "a partial write to a unit that became pending succeeded"
fi
assert_eq "200 pending" "$(remap_list p | xargs)" "table after the partial write"

# main heals: unit 100 holds the acknowledged write; the rest is intact.
set_bad rbad "$base"
dd if=/tmp/data of=/tmp/want bs=4096 count=100 status=none
cat /tmp/unit100 >>/tmp/want
dd if=/tmp/data bs=4096 skip=101 count=99 status=none >>/tmp/want
assert_dev_matches "$dev" 0 /tmp/want
io_fails "Input/output error" if="$dev" of=/dev/null bs=4096 skip=200 count=1 iflag=direct
dm_remove p
log "pending-race OK"

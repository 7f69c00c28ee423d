#!/bin/bash
# A read held back because its unit is being remapped, then failed because
# the unit ended pending: it must fail with EIO as a plain read of a pending
# unit does, and nothing else (it is no main error, no second failure for
# the worker). dm-delay holds main's reads for 1 s, so the worker's retries
# of the first failed read keep the unit busy for about 3 s.
set -euo pipefail
# shellcheck source=tests/vm/lib.sh
. "$DMREMAP_SRC/tests/vm/lib.sh"

load_module
[[ -d /sys/module/dm_delay ]] || modprobe dm-delay || die "modprobe dm-delay failed"
base="$(make_nullb kbase 16 memory_backed)"
total=$(sectors "$base")
random_file /tmp/data 16
write_at "$base" 0 /tmp/data
# Reads from rbad, 1 s late; writes straight to base.
rbad="$(bad_disk rbad "$base")"
main="$(dm_create kmain "0 $total delay $rbad 0 1000 $base 0 0")"
spare="$(make_loop 8)"
format_spare "$main" "$spare" 4096
dev="$(dm_create k "0 $total remap $main $spare 2 retries 3")"
set_bad rbad "$base" 800:8

# The first read fails after 1 s; the worker then retries it (1 s each).
dd if="$dev" of=/dev/null bs=4096 skip=100 count=1 iflag=direct status=none 2>/tmp/err1 &
first=$!
sleep 2
assert_eq 1 "$(remap_status k main_errors)" "main errors while the unit is retried"
io_fails "Input/output error" if="$dev" of=/dev/null bs=4096 skip=100 count=1 iflag=direct
if wait "$first"; then
	die "the first read of a failing unit succeeded"
fi
grep -q "Input/output error" /tmp/err1 || die "first read: $(cat /tmp/err1)"
assert_eq "100 pending" "$(remap_list k | xargs)" "table after both reads"
assert_eq 1 "$(remap_status k main_errors)" "main errors after both reads"
assert_eq 1 "$(remap_status k pending)" "pending units"

# The rest of the device is intact.
set_bad rbad "$base"
dd if=/tmp/data of=/tmp/want bs=4096 count=100 status=none
assert_dev_matches "$dev" 0 /tmp/want
dm_remove k
log "deferred-kill OK"

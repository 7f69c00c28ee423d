#!/bin/bash
# The spare's pool fails every write (an `error` segment over the whole
# pool, the metadata healthy), review F11: one write that fails on main
# tries a few spare blocks, not the whole pool. It fails with EIO and marks
# at most 4 spare blocks bad (status spare_bad), and the blocks it marked
# are on the spare's table after the device is removed.
set -euo pipefail
# shellcheck source=tests/vm/lib.sh
. "$DMREMAP_SRC/tests/vm/lib.sh"

U=4096
W=30
load_module
mbase="$(make_nullb fsbase 16 memory_backed)"
total=$(sectors "$mbase")
random_file /tmp/data 16
write_at "$mbase" 0 /tmp/data
main="$(bad_disk fs-main "$mbase" 800:8)" # unit 100 fails
sbase="$(make_loop 4)"
spare="$(bad_disk fs-spare "$sbase")"
format_spare "$main" "$spare" $U
read -r pool_start pool_blocks <<<"$(dump_get "$spare" '[d["superblock"][k] for k in ("pool_start", "pool_blocks")]' | xargs)"
log "pool: $pool_blocks blocks at sector $pool_start"
((pool_blocks > 16)) || die "pool too small for this test: $pool_blocks"
dev="$(dm_create fs-r "0 $total remap $main $spare")"
set_bad fs-spare "$sbase" "$pool_start:$((pool_blocks * 8))"

head -c $U /dev/urandom >/tmp/w
t0=$SECONDS
if timeout $W dd if=/tmp/w of="$dev" bs=$U seek=100 count=1 oflag=direct conv=notrunc status=none 2>/tmp/err; then
	die "the write to a bad unit succeeded although every spare block fails writes"
fi
grep -q "Input/output error" /tmp/err || die "the write failed with '$(cat /tmp/err)', expected EIO"
bad=$(remap_status fs-r spare_bad)
log "write failed in $((SECONDS - t0)) s: $(dmsetup status fs-r | cut -d' ' -f4-)"
((bad <= 4)) || die "one failed write marked $bad spare blocks bad (expected at most 4 of $pool_blocks)"
assert_eq "100 ok" "$(dmsetup message fs-r 0 query 100)" "query 100"
dm_remove fs-r
set_bad fs-spare "$sbase"
assert_eq "$bad" "$(dump_get "$spare" 'len(d["bad_spare_blocks"])')" "bad blocks on the spare's table"
log "fault-spare-writes OK: $bad spare blocks marked bad"

#!/bin/bash
# The README's demo: a dm-remap device over a main and a spare disk, data
# written through it and read back verified. Run it with scripts/demo.
set -euo pipefail
# shellcheck source=tests/vm/lib.sh
. "$DMREMAP_SRC/tests/vm/lib.sh"

say() { printf '\n==> %s\n' "$*"; }

say "Kernel $(uname -r); loading dm-remap.ko built for it"
load_module
dmsetup targets | grep '^remap '

say "A 64 MiB main disk (memory-backed null_blk) and a 16 MiB spare (loop)"
main="$(make_nullb rmain 64 memory_backed)"
spare="$(make_loop 16)"
echo "main=$main spare=$spare"

say "Creating /dev/mapper/demo: 0 $(sectors "$main") remap $main $spare"
dev="$(dm_create demo "0 $(sectors "$main") remap $main $spare")"
dmsetup table demo

say "Writing 16 MiB of random data through $dev, then reading it back"
random_file /tmp/demo.data 16
write_at "$dev" 0 /tmp/demo.data
assert_dev_matches "$dev" 0 /tmp/demo.data
sha256sum /tmp/demo.data | cut -c1-16
echo "read back byte-exact"

dm_remove demo
remove_loop "$spare"
remove_nullb rmain
unload_module
say "Demo finished"

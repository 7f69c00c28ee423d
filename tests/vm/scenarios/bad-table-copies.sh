#!/bin/bash
# Table blocks with one copy all zeroes (review F13). The commit protocol
# writes copy A before copy B, so an interrupted first commit of a block
# leaves (A torn, B zero): nothing committed is lost, the block is empty.
# The opposite, (A zero, B corrupt), never comes from the protocol: a
# committed block lost copy A (a drive returning zeroes) and copy B is
# damaged too. Its entries are gone, and the activation must refuse the
# spare ("corrupt"), not load the units as normal (their stale main
# copies).
#   1. copy A of block 0 zeroed, one byte of copy B flipped: refused;
#   2. a fresh spare whose block 0 copy A holds garbage, copy B zero (the
#      interrupted first commit): it activates, empty.
set -euo pipefail
# shellcheck source=tests/vm/lib.sh
. "$DMREMAP_SRC/tests/vm/lib.sh"

U=4096
B=4096 # metadata block bytes
load_module
main="$(make_nullb btbase 16 memory_backed)"
total=$(sectors "$main")
spare="$(make_loop 8)"
format_spare "$main" "$spare" $U
read -r ta tb <<<"$(dump_get "$spare" '[d["superblock"][k] for k in ("table_a_start", "table_b_start")]' | xargs)"
table="0 $total remap $main $spare"
dm_create bt-r "$table" >/dev/null
for u in 100 200 300; do
	dmsetup message bt-r 0 remap $u >/dev/null || die "remap message for unit $u failed"
done
assert_eq "100 remapped 200 remapped 300 remapped" "$(remap_list bt-r | xargs)" "table after the remaps"
dm_remove bt-r

# 1. Copy A of block 0 zeroed, copy B corrupt.
dd if=/dev/zero of="$spare" bs=$B seek="$ta" count=1 oflag=direct conv=notrunc status=none
dd if="$spare" of=/tmp/blk bs=$B skip="$tb" count=1 iflag=direct status=none
python3 -c 'import sys; b = bytearray(open(sys.argv[1], "rb").read()); b[100] ^= 0xff; open(sys.argv[1], "wb").write(b)' /tmp/blk
dd if=/tmp/blk of="$spare" bs=$B seek="$tb" count=1 oflag=direct conv=notrunc status=none
if dmsetup create bt-r --noudevsync --table "$table" 2>/tmp/err; then
	_lib_track dm bt-r
	dmsetup mknodes bt-r || true
	die "the target activated with table block 0 copy A zero and copy B corrupt (expected a refusal: metadata corrupt); its table: '$(remap_list bt-r | xargs)' (3 remaps lost), kernel: $(dmesg | grep 'table block' | tail -1)"
fi
dmsetup remove --noudevsync bt-r 2>/dev/null || true
dmesg | tail -5 | grep -qi "corrupt" || die "no 'corrupt' in the kernel log: $(dmesg | tail -3)"
log "1. copy A zero, copy B corrupt: refused ($(dmesg | grep -i corrupt | tail -1))"

# 2. The interrupted first commit: copy A garbage, copy B zero.
dd if=/dev/zero of="$spare" bs=1M count=8 oflag=direct status=none
format_spare "$main" "$spare" $U
dd if=/dev/urandom of="$spare" bs=$B seek="$ta" count=1 oflag=direct conv=notrunc status=none
dev="$(dm_create bt-r "$table")"
assert_eq "" "$(remap_list bt-r | xargs)" "table of the spare with a torn first commit"
assert_eq ok "$(remap_status bt-r mode)" "mode"
dm_remove bt-r
log "bad-table-copies OK"

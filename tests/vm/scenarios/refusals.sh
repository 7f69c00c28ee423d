#!/bin/bash
# The constructor refuses, with a message a sysadmin understands, an
# unformatted spare, a spare formatted for another main device, a spare
# whose superblocks are both corrupt, one whose table block is corrupt in
# both copies, needs_check set, and bad table lines.
set -euo pipefail
# shellcheck source=tests/vm/lib.sh
. "$DMREMAP_SRC/tests/vm/lib.sh"

load_module
main="$(make_nullb rmain 32 memory_backed)"
other="$(make_nullb rother 48 memory_backed)"
spare="$(make_loop 8)"
total=$(sectors "$main")

# refused TABLE MESSAGE: creation fails and the kernel says MESSAGE.
refused() {
	if dmsetup create r --noudevsync --table "$1" 2>/tmp/err; then
		dm_remove r
		die "table '$1' was accepted"
	fi
	dmesg | tail -5 | grep -qF "$2" || die "no '$2' in dmesg for '$1': $(dmesg | tail -3)"
	log "refused: $2"
}

refused "0 $total remap $main $spare" "Spare device is not formatted for dm-remap"
format_spare "$other" "$spare"
refused "0 $total remap $main $spare" "Spare device belongs to another main device (fingerprint mismatch)"
format_spare "$main" "$spare"
refused "0 $((total + 8)) remap $main $spare" "Target length exceeds the main device size"
refused "0 $total remap $main $main" "Main and spare are the same device"
refused "0 $total remap $main" "Not enough arguments"
refused "0 $total remap $main $spare 2 retries 1000" "Invalid retries"
refused "0 $total remap $main $spare 1 bogus" "Unknown or incomplete feature argument"
refused "0 $total remap $main $spare 0 junk" "Too many arguments"
refused "0 $total remap $main $spare 99999999999999999999" "Invalid number of feature arguments"
refused "0 $total remap $main /dev/does-not-exist" "Spare device lookup failed"

sb_set() { "$DMREMAP_BUILD/tests/support/remap-test-sb" "$spare" "$@" || die "remap-test-sb $*"; }
sb_set needs_check 1
refused "0 $total remap $main $spare" "needs_check is set"
sb_set needs_check 0
sb_set version_major 5
refused "0 $total remap $main $spare" "Metadata format version is not supported by this module"
sb_set version_major 4
sb_set incompat 4
refused "0 $total remap $main $spare" "Metadata uses incompatible features"
sb_set incompat 0
sb_set ro_compat 1
refused "0 $total remap $main $spare" "Metadata uses read-only features"

# A table block corrupt in both copies: one remap, then both copies garbled.
format_spare "$main" "$spare"
dev="$(dm_create r "0 $total remap $main $spare")"
dmsetup message r 0 remap 10 | grep -q '^remapped 10 ' || die "proactive remap of unit 10"
dm_remove r
ta=$(remap-dump -f json "$spare" | sed -n 's/.*"table_a_start": \([0-9]*\).*/\1/p')
tb=$(remap-dump -f json "$spare" | sed -n 's/.*"table_b_start": \([0-9]*\).*/\1/p')
[[ -n $ta && -n $tb ]] || die "no table locations in the dump"
for b in "$ta" "$tb"; do
	dd if=/dev/urandom of="$spare" bs=4096 seek="$b" count=1 conv=notrunc status=none
done
refused "0 $total remap $main $spare" "Metadata is corrupt beyond what its two copies cover"

# Both superblocks corrupt behind an intact magic: damage, not a stranger.
for b in 0 1; do
	dd if=/dev/urandom of="$spare" bs=1 seek=$((b * 4096 + 100)) count=64 conv=notrunc status=none
done
refused "0 $total remap $main $spare" "Both metadata superblocks are corrupt"
# Random bytes everywhere: not dm-remap metadata at all.
dd if=/dev/urandom of="$spare" bs=4096 count=2 conv=notrunc status=none
refused "0 $total remap $main $spare" "Spare device is not formatted for dm-remap"
log "refusals OK"

#!/bin/bash
# The background scan finds slow units (a dm-delay segment over a sub-range
# of the main device), copies them to the spare while they still read, and
# remaps them flagged proactive: the device reads back byte for byte, the
# remapped units from the spare, and the dump shows the flag.
set -euo pipefail
# shellcheck source=tests/vm/lib.sh
. "$DMREMAP_SRC/tests/vm/lib.sh"

load_module
[[ -d /sys/module/dm_delay ]] || modprobe dm-delay || die "modprobe dm-delay failed"
base="$(make_nullb wbase 16 memory_backed)"
total=$(sectors "$base")
spare="$(make_loop 8)"
# A plain linear main first, to write the data while it is fast.
main="$(dm_create wmain "0 $total linear $base 0")"
format_spare "$main" "$spare" 4096
dev="$(dm_create w "0 $total remap $main $spare")"
random_file /tmp/data 16
write_at "$dev" 0 /tmp/data
dm_remove w

# Units 300 and 301 (sectors 2400-2415) now read in 1.5 s.
dmsetup load wmain <<EOT || die "cannot load the delay table"
0 2400 linear $base 0
2400 16 delay $base 2400 1500 $base 2400 0
2416 $((total - 2416)) linear $base 2416
EOT
if ! dmsetup suspend --noudevsync wmain || ! dmsetup resume --noudevsync wmain; then
	die "cannot switch wmain to the delay table"
fi

dev="$(dm_create w "0 $total remap $main $spare 4 scan_rate 64 slow_ms 500")"
for _ in $(seq 900); do
	(($(remap_status w scan_pass) >= 1)) && break
	sleep 0.1
done
(($(remap_status w scan_pass) >= 1)) || die "the scan did not finish a pass: $(dmsetup status w)"
dmsetup message w 0 scan stop
log "scan status: $(dmsetup message w 0 scan status)"
dmsetup message w 0 scan status | grep -q 'last_weak=2$' || die "scan did not report 2 weak units"
assert_eq "300 remapped 301 remapped" "$(remap_list w | xargs)" "table after the scan"
assert_eq 0 "$(remap_status w pending)" "pending after the scan"

# The data is intact, the remapped units served from the spare.
assert_dev_matches "$dev" 0 /tmp/data
dm_remove w

# On the spare: the entries carry the proactive flag and the right bytes.
assert_eq "300 301" "$(dump_get "$spare" '[e["main_block"] for e in d["entries"] if "proactive" in e["flags"]]' | xargs)" \
	"proactive entries in the dump"
ps=$(dump_get "$spare" 'd["superblock"]["pool_start"]')
for u in 300 301; do
	blk=$(dump_get "$spare" "[e['spare_block'] for e in d['entries'] if e['main_block'] == $u][0]")
	dd if=/tmp/data of=/tmp/want bs=4096 skip="$u" count=1 status=none
	assert_dev_matches "$spare" $(((ps + blk * 8) * 512)) /tmp/want
done
(($(dump_get "$spare" 'd["superblock"]["scan_pass"]') >= 1)) || die "scan pass not persisted"
log "scan-weak OK"

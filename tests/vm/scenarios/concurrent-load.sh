#!/bin/bash
# Concurrent fio jobs (O_DIRECT, libaio, crc32c verify) over the target while
# main's faults change under them and units move to the spare: no write
# fails and every block verifies.
#   Phase 1: five jobs with 4 KiB, 64 KiB, 1 KiB (sub-unit), mixed and
#   unaligned 12 KiB blocks, verified while and after writing, three runs
#   with different data; the faults
#   fail writes only (reads keep the old data), so every block stays readable
#   and sub-unit writes can fill the rest of their unit from main.
#   Phase 2: the whole-unit jobs again, three runs, with faults that fail
#   reads too (error segments); nothing is read until main heals, then fio
#   verifies the last run.
# Then the device is recreated and every job's data verified again.
set -euo pipefail
# shellcheck source=tests/vm/lib.sh
. "$DMREMAP_SRC/tests/vm/lib.sh"

MiB=$((1024 * 1024))
load_module
base="$(make_nullb rbase 64 memory_backed)"
total=$(sectors "$base")
main="$(fault_disk rmain "$base")"
spare="$(make_loop 16)"
format_spare "$main" "$spare" 4096
table="0 $total remap $main $spare"
dev="$(dm_create r "$table")"
: >/tmp/faulted # units that had a failing sector, one a line

# Jobs: regions of the first 48 MiB.
cat >/tmp/phase1.fio <<EOF
[global]
filename=$dev
direct=1
ioengine=libaio
verify=crc32c
verify_fatal=1
do_verify=1
[p1-4k]
rw=randwrite
bs=4k
offset=0
size=8M
iodepth=8
verify_backlog=512
[p1-64k]
rw=randwrite
bs=64k
offset=8M
size=16M
iodepth=4
[p1-1k]
rw=randwrite
bs=1k
offset=24M
size=2M
iodepth=4
verify_backlog=256
[p1-mixed]
rw=randwrite
bssplit=4k/50:16k/30:128k/20
offset=26M
size=6M
iodepth=8
[p1-unaligned]
rw=write
bs=12k
offset=$((32 * MiB + 512))
size=12M
iodepth=4
EOF
cat >/tmp/phase2.fio <<EOF
[global]
filename=$dev
direct=1
ioengine=libaio
verify=crc32c
verify_fatal=1
do_verify=0
[p2-4k]
rw=randwrite
bs=4k
offset=0
size=8M
iodepth=16
[p2-64k]
rw=randwrite
bs=64k
offset=8M
size=16M
iodepth=8
EOF
sed 's/^do_verify=0$/do_verify=1/' /tmp/phase2.fio >/tmp/phase2-verify.fio

# The fault changer: in the background, every ~0.2 s until stop_faults,
# six new random ranges of 1..24 sectors in the first SPAN MiB, one in each
# sixth (so they never overlap), failing writes only (w) or every I/O (rw).
# Their units go to /tmp/faulted.
start_faults() { # w|rw SPAN_MIB
	rm -f /tmp/stop-faults
	(
		RANDOM=$((7 + $2))
		span=$(($2 * MiB / 512 / 6))
		while [[ ! -e /tmp/stop-faults ]]; do
			faults=()
			for i in 0 1 2 3 4 5; do
				s=$((i * span + (RANDOM * 32768 + RANDOM) % (span - 24)))
				l=$((1 + RANDOM % 24))
				if [[ $1 == w ]]; then faults+=("$s:$l:w"); else faults+=("$s:$l"); fi
				seq $((s / 8)) $(((s + l - 1) / 8)) >>/tmp/faulted
			done
			t0=$EPOCHREALTIME
			set_faults rmain "$base" "${faults[@]}"
			echo "$t0 $EPOCHREALTIME" >>/tmp/fault-changes
			sleep 0.2
		done
	) &
	faulter=$!
}
stop_faults() { # and heal main
	touch /tmp/stop-faults
	wait "$faulter" || die "the fault changer failed"
	set_faults rmain "$base"
	awk '{n++; t += $2 - $1} END {printf "%d fault changes so far, %.2f s each\n", n, t / n}' /tmp/fault-changes >&2
}
# On any exit, stop the fault changer first (it would run forever) and
# resume main if a failure left it suspended.
trap 'touch /tmp/stop-faults; wait; dmsetup resume --noudevsync rmain; _lib_cleanup' EXIT

# run_fio NAME JOBFILE [FIO_ARG...]: runs fio; fails if fio does.
run_fio() {
	local name=$1 jobs=$2 t0=$SECONDS
	shift 2
	if ! fio --output="/tmp/$name.out" "$@" "$jobs"; then
		cat "/tmp/$name.out" >&2
		die "fio $name failed"
	fi
	grep -E '^ *(write|read):|err=' "/tmp/$name.out" | sed 's/^/    /' >&2
	log "fio $name done in $((SECONDS - t0)) s, entries $(remap_status r entries)"
}
: >/tmp/fault-changes

# Phase 1: write-only faults, three runs with new data each time.
start_faults w 48
for seed in 1 2 3; do
	run_fio "phase1-$seed" /tmp/phase1.fio --randseed=$seed
done
stop_faults
assert_eq 0 "$(remap_status r pending)" "pending after phase 1"
p1=$(remap_status r entries)

# Phase 2: faults on reads and writes over the first 24 MiB; three write
# runs, then main heals and fio verifies the last run's data.
start_faults rw 24
for seed in 1 2 3; do
	run_fio "phase2-write-$seed" /tmp/phase2.fio --randseed=$seed
done
stop_faults
run_fio phase2-verify /tmp/phase2-verify.fio --randseed=3 --verify_only
p2=$(remap_status r entries)
dmsetup status r
assert_eq ok "$(remap_status r mode)" "mode"
assert_eq 0 "$(remap_status r pending)" "pending after phase 2"
assert_eq 0 "$(remap_status r spare_errors)" "spare errors"

# Every remap is explained by a fault, and both phases made some.
dmsetup message r 0 list >/tmp/list
awk '$3 != "remapped" {exit 1}' /tmp/list || die "entries that are not remaps: $(grep -v remapped /tmp/list)"
sort -u /tmp/faulted >/tmp/faulted.s
awk '{print $1}' /tmp/list | sort >/tmp/remapped.s
unexplained="$(comm -23 /tmp/remapped.s /tmp/faulted.s | xargs)"
[[ -z $unexplained ]] || die "units remapped without a fault: $unexplained"
log "remaps: $p1 in phase 1, $((p2 - p1)) in phase 2"
((p1 >= 8)) || die "only $p1 remaps in phase 1"
((p2 - p1 >= 4)) || die "only $((p2 - p1)) remaps in phase 2"

# After recreating the device: same remaps, all data still verifies
# (phase 2 rewrote the first 24 MiB; phase 1's other jobs kept theirs).
dm_remove r
dev="$(dm_create r "$table")"
dmsetup message r 0 list | cmp - /tmp/list || die "remap list changed after recreate"
run_fio recheck-phase2 /tmp/phase2-verify.fio --randseed=3 --verify_only
run_fio recheck-phase1 /tmp/phase1.fio --randseed=3 --verify_only --section=p1-1k --section=p1-mixed --section=p1-unaligned
dm_remove r
log "concurrent-load OK"

#!/bin/bash
# Power cuts, replayed from a dm-log-writes log (docs/reliability.md).
#
# One log-writes device sits over one backing disk (a loop device: it has a
# volatile write cache, so flushes reach the log), and dm-linear carves the
# main and the spare out of it, main's bad sectors as `error` segments (or
# dm-flakey error_writes segments) in main's table. So one log orders every
# write to both devices. The spare is formatted, the mark "start" logged,
# then remap-test-workload writes through dm-remap, journals every
# acknowledgement and logs a mark "ack<N>" after each one. Many writes hit
# bad units: heavy remapping.
#
# Then remap-test-replay rebuilds the backing disk at crash points: after
# every flush and FUA write (unflushed writes dropped) and at random points
# (a random subset of the unflushed writes kept). At each point, over a
# loop device on the rebuilt image with the same main/spare tables, it
# asserts (see tests/support/remap-test-replay.cpp):
#   1. remap-check's check of the spare finds nothing, or only stale copies
#      (an interrupted commit, which the format allows);
#   2. the kernel target activates over the rebuilt main and spare;
#   3. every write acknowledged before the cut reads back exactly (byte
#      compare against the workload's journal);
#   4. after the target is removed, the check finds nothing (activation
#      rewrote any stale copy), and every tenth point the remap-check tool
#      exits 0.
# Two workloads: 4 KiB units and 16 KiB units (sub-unit writes into good
# and remapped units).
#
# Per workload, CI replays 30 flush/FUA points (evenly spread) and 8
# random ones; DMREMAP_FULL=1 a longer workload, 500 and 100 (over 1,000
# points per kernel, about 10 to 20 minutes). POINTS and RANDOM_POINTS override
# the bounds, OPS the workload length, SEED the seed (it is logged),
# WORKLOADS a subset of "w4k w16k".
set -euo pipefail
# shellcheck source=tests/vm/lib.sh
. "$DMREMAP_SRC/tests/vm/lib.sh"

T="$DMREMAP_BUILD/tests/support"
if [[ ${DMREMAP_FULL:-0} == 1 ]]; then
	OPS=${OPS:-600} POINTS=${POINTS:-500} RANDOM_POINTS=${RANDOM_POINTS:-100}
else
	OPS=${OPS:-120} POINTS=${POINTS:-30} RANDOM_POINTS=${RANDOM_POINTS:-8}
fi
SEED=${SEED:-$((RANDOM * 32768 + RANDOM))}
log "seed $SEED, $OPS writes, up to $POINTS flush/FUA points and $RANDOM_POINTS random points per workload"
load_module
modprobe dm-log-writes || die "modprobe dm-log-writes failed"
modprobe dm-flakey || die "modprobe dm-flakey failed"

MAIN_MB=4
SPARE_MB=2
main_s=$((MAIN_MB * 2048))
spare_s=$((SPARE_MB * 2048))
total_points=0

# main_table BASE UNIT_SECTORS KIND: main's table over BASE (a device of
# main_s sectors), with the units in $BAD failing: KIND error = every I/O of
# one sector or of the whole unit fails, w = writes of the whole unit fail.
main_table() {
	local base=$1 us=$2 kind=$3 specs=() u
	[[ $(sectors "$base") == "$main_s" ]] || die "$base is not $main_s sectors"
	for u in $BAD; do
		if [[ $kind == w ]]; then
			specs+=("$((u * us)):$us:w")
		elif ((u % 2)); then
			specs+=("$((u * us + u % us)):1")
		else
			specs+=("$((u * us)):$us")
		fi
	done
	_fault_table "$base" "${specs[@]}"
}

# workload NAME UNIT_BYTES KIND: one workload and its replay.
workload() {
	local name=$1 unit=$2 kind=$3 us=$(($2 / 512)) units data log lw
	units=$((main_s / us))
	# One unit in four is bad.
	BAD="$(python3 -c "import random; r = random.Random($SEED + $unit); print(' '.join(map(str, sorted(r.sample(range($units), $units // 4)))))")"
	log "$name: $units units of $unit bytes, $(wc -w <<<"$BAD") bad ($kind)"

	data="$(make_loop $((MAIN_MB + SPARE_MB)))"
	log="$(make_loop 512)"
	lw="$(dm_create pc-lw "0 $((main_s + spare_s)) log-writes $data $log")"
	# dm-linear over lw: main (with its faults) and spare.
	dm_create pc-mainbase "0 $main_s linear $lw 0" >/dev/null
	main_table /dev/mapper/pc-mainbase "$us" "$kind" | dmsetup create pc-main --noudevsync ||
		die "cannot create pc-main"
	_lib_track dm pc-main
	dm_create pc-spare "0 $spare_s linear $lw $main_s" >/dev/null
	dmsetup mknodes pc-main
	format_spare /dev/mapper/pc-main /dev/mapper/pc-spare "$unit"
	dmsetup message pc-lw 0 mark start

	local dev journal=/tmp/$name.journal
	: >"$journal"
	dev="$(dm_create pc-r "0 $main_s remap /dev/mapper/pc-main /dev/mapper/pc-spare")"
	local wargs=(--dev "$dev" --journal "$journal" --seed "$SEED" --ops "$OPS"
		--units "0:$units" --unit "$unit" --bad "${BAD// /,}" --mark-dev pc-lw)
	"$T/remap-test-workload" write "${wargs[@]}" || die "$name: the workload failed"
	local entries
	entries=$(remap_status pc-r entries)
	log "$name: $entries remaps, status: $(dmsetup status pc-r | cut -d' ' -f4-)"
	# A third of the writes hit a bad unit, until most bad units moved.
	local nbad
	nbad=$(wc -w <<<"$BAD")
	((entries * 5 >= OPS || entries * 4 >= nbad * 3)) ||
		die "$name: only $entries remaps for $OPS writes and $nbad bad units: not heavy remapping"
	[[ $(remap_status pc-r mode) == ok ]] || die "$name: mode $(remap_status pc-r mode)"
	dm_remove pc-r
	dm_remove pc-main
	dm_remove pc-spare
	dm_remove pc-mainbase
	local st
	st="$(dmsetup status pc-lw)"
	[[ $st != *logging_disabled* ]] || die "$name: dm-log-writes stopped logging: $st"
	dm_remove pc-lw # logs the writes still unflushed and an end mark
	local logf imgf
	logf="$(losetup -n -O BACK-FILE "$log")"
	imgf=/tmp/$name.img
	truncate -s $(((MAIN_MB + SPARE_MB) * 1024 * 1024)) "$imgf"

	# The replay devices: the same tables over a loop on the image.
	local rloop
	rloop="$(losetup --find --show "$imgf")" || die "losetup $imgf failed"
	_lib_track loop "$rloop"
	dm_create rp-mainbase "0 $main_s linear $rloop 0" >/dev/null
	main_table /dev/mapper/rp-mainbase "$us" "$kind" | dmsetup create rp-main --noudevsync ||
		die "cannot create rp-main"
	_lib_track dm rp-main
	dmsetup mknodes rp-main
	dm_create rp-spare "0 $spare_s linear $rloop $main_s" >/dev/null
	local t0=$SECONDS out
	out="$("$T/remap-test-replay" --log "$logf" --image "$imgf" \
		--main /dev/mapper/rp-main --spare /dev/mapper/rp-spare --journal "$journal" \
		--start-mark start --max-flush-fua "$POINTS" --random "$RANDOM_POINTS" \
		--seed "$SEED")" || {
		echo "$out"
		dmesg | tail -20
		# Keep what it takes to look into it: the journal, the log, the
		# image at the failed point (after the target ran over it).
		cp "$journal" "$logf" "$imgf" "$RESULTS/" || true
		die "$name: crash points failed (seed $SEED; journal, log and image in $RESULTS)"
	}
	echo "$out"
	local n
	n=$(awk '/crash points checked/ {print $2}' <<<"$out")
	[[ -n $n ]] || die "$name: no summary from the replayer"
	log "$name: $n crash points in $((SECONDS - t0)) s"
	total_points=$((total_points + n))
	dm_remove rp-main
	dm_remove rp-mainbase
	dm_remove rp-spare
	losetup -d "$rloop"
	rm -f "$imgf"
	remove_loop "$log"
	remove_loop "$data"
}

for w in ${WORKLOADS:-w4k w16k}; do
	case $w in
	w4k) workload w4k 4096 error ;;
	w16k) workload w16k 16384 error ;;
	*) die "unknown workload $w (w4k, w16k)" ;;
	esac
done
log "power-cut OK: $total_points crash points, 0 failures"
echo "crash-points $total_points" >"$RESULTS/power-cut.count"

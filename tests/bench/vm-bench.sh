#!/bin/bash
# The VM benchmark of dm-remap against dm-linear, run by scripts/bench (not a
# test scenario: it reports figures and fails only when it cannot run).
#
# One boot. For each table size it fills the spare with remap-test-fill and
# runs fio, in alternating rounds, on the raw main device, dm-linear over it,
# dm-remap over it and a second dm-linear over it (the control: two identical
# devices differ by the noise alone) for I/O that touches no remapped unit,
# then on dm-linear over the spare's pool and dm-remap (I/O to remapped units
# only). Then, with the tail of main failing writes, it measures remap events
# one at a time and in a storm. Everything lands in $RESULTS for scripts/bench
# to read.
#
# Devices (null_blk): main is 16 GiB, memory_backed=0 (no data, pure
# overhead). The spare is dm-linear over two null_blks: the metadata region
# is memory_backed=1 (its contents matter), the pool memory_backed=0.
#
# Table layout at N remaps: runs of 256 units (1 MiB), N / 256 of them, one
# every PERIOD units over the first 15/16 of main; the last 1/16 (1 GiB) has
# none and is where the remap events happen. fio's strided zones
# (zonerange=1M, zoneskip=PERIOD-1M) aim I/O at the remapped runs (offset 0)
# or at the clean run right after each (offset 1M).
#
# Environment (all optional): BENCH_MODE (paired, alternating or icount,
# see fio_alternating), BENCH_SIZES ("0 16384 1048576"), BENCH_ROUNDS (4),
# BENCH_RUNTIME (seconds per device and round, 5), BENCH_WORKLOADS (all five),
# BENCH_EVENTS (remap events timed one by one, 256), BENCH_STORM (seconds of
# the remap storm, 10), BENCH_MAIN_MB (16384) and BENCH_SPARE_MB (4800, room
# for 1,048,576 remaps and about 150,000 more for the events and the storm),
# smaller for a quick run.
set -euo pipefail
# shellcheck source=tests/vm/lib.sh
. "$DMREMAP_SRC/tests/vm/lib.sh"

SIZES=${BENCH_SIZES:-0 16384 1048576}
MODE=${BENCH_MODE:-paired}
ROUNDS=${BENCH_ROUNDS:-4}
RUNTIME=${BENCH_RUNTIME:-5}
WORKLOADS=${BENCH_WORKLOADS:-r4k1 r4k32 w4k32 r1m w1m}
EVENTS=${BENCH_EVENTS:-256}
STORM=${BENCH_STORM:-10}

UNIT=4096
RUN=256 # units per remapped run: 1 MiB
MAIN_MB=${BENCH_MAIN_MB:-16384}
SPARE_MB=${BENCH_SPARE_MB:-4800} # a pool of 1,207,240 units plus both tables
MiB=$((1024 * 1024))
FILL="$DMREMAP_BUILD/tests/support/remap-test-fill"
OUT=$RESULTS/bench
mkdir -p "$OUT"

ms() { date +%s%N | awk '{ printf "%.1f", $1 / 1e6 }'; }
kv() { echo "$1=$2" >>"$OUT/values.txt"; } # KEY VALUE
stat_writes() { awk '{ print $5 }' "/sys/block/$1/stat"; }

# QEMU backs guest RAM on first touch, which the first big allocation in
# the guest pays for (an activation with 1M remaps took 4 s, the next 1 s):
# touch most of it once, through tmpfs, before measuring anything (not for
# a quick run: BENCH_TOUCH=0).
[[ ${BENCH_TOUCH:-1} == 0 ]] || dd if=/dev/zero of=/tmp/.touch bs=1M count=$(($(awk '/MemTotal/ { print $2 }' /proc/meminfo) / 2560)) \
	status=none 2>/dev/null || true
rm -f /tmp/.touch

# --- devices -------------------------------------------------------------------

load_module
main=$(make_nullb bmain "$MAIN_MB")
main_sect=$(sectors "$main")
main_units=$((main_sect * 512 / UNIT))
spare_sect=$((SPARE_MB * 2048))
layout=$("$FILL" plan "$main_sect" "$spare_sect" $UNIT)
pool_start=$(sed -n 's/.*pool_start=\([0-9]*\).*/\1/p' <<<"$layout")
pool_blocks=$(sed -n 's/.*pool_blocks=\([0-9]*\).*/\1/p' <<<"$layout")
meta=$(make_nullb bmeta $(((pool_start + 2047) / 2048)) memory_backed)
pool=$(make_nullb bpool $(((spare_sect - pool_start + 2047) / 2048)))
spare=$(dm_create bspare "0 $pool_start linear $meta 0
$pool_start $((spare_sect - pool_start)) linear $pool 0")
lin=$(dm_create blin "0 $main_sect linear $main 0")
# A second, identical dm-linear: linear2 / linear is the harness's own noise.
lin2=$(dm_create blin2 "0 $main_sect linear $main 0")
tail_unit=$((main_units * 15 / 16))
log "main $main ($main_units units), spare $spare: $layout"
{
	echo "kernel=$(uname -r)"
	echo "guest_cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)"
	echo "guest_cpus=$(nproc)"
	echo "guest_mem_kb=$(awk '/MemTotal/ { print $2 }' /proc/meminfo)"
	echo "fio=$(fio --version)"
	echo "main_units=$main_units"
	echo "pool_blocks=$pool_blocks"
	echo "rounds=$ROUNDS"
	echo "runtime=$RUNTIME"
	echo "mode=$MODE"
} >"$OUT/info.txt"

# fio_run OUT DEV ARGS...: one fio job, JSON to OUT.
fio_run() {
	local out=$1 dev=$2
	shift 2
	mkdir -p "$(dirname "$out")"
	fio --name=bench --filename="$dev" --direct=1 --ioengine=libaio \
		--randrepeat=1 --norandommap --output-format=json --output="$out" "$@" >/dev/null ||
		die "fio on $dev failed ($*)"
}

workload_args() { # WORKLOAD
	case $1 in
	r4k1) echo "--rw=randread --bs=4k --iodepth=1" ;;
	r4k32) echo "--rw=randread --bs=4k --iodepth=32" ;;
	w4k32) echo "--rw=randwrite --bs=4k --iodepth=32" ;;
	r1m) echo "--rw=read --bs=1M --iodepth=4" ;;
	w1m) echo "--rw=write --bs=1M --iodepth=4" ;;
	*) die "unknown workload $1" ;;
	esac
}

# fio_alternating OUT WORKLOAD LABEL|DEV|ARGS...: one fio run, JSON to OUT,
# with a job per device and round, named LABEL.r; ARGS are fio options
# (--name=value) for that device. MODE=alternating: the jobs take turns
# (stonewall), round r runs every device for RUNTIME seconds, one after the
# other, in an order rotated by r; MODE=icount too (QEMU counts guest time
# in instructions, so a device's throughput is its inverse cost per I/O,
# whatever else runs on the host). MODE=paired: a round runs all devices at
# the same time, so that whatever slows the VM (other VMs on the host) slows
# them alike, and the ratio of their throughputs is the ratio of their
# costs per I/O on the CPU they share.
fio_alternating() {
	local out=$1 w=$2
	shift 2
	local specs=("$@") n=$# r i label dev args
	mkdir -p "$(dirname "$out")"
	{
		printf '[global]\nioengine=libaio\ndirect=1\nrandrepeat=1\nnorandommap\n'
		printf 'time_based\nruntime=%s\n' "$RUNTIME"
		workload_args "$w" | tr ' ' '\n' | sed 's/^--//'
		for ((r = 0; r < ROUNDS; r++)); do
			for ((i = 0; i < n; i++)); do
				IFS='|' read -r label dev args <<<"${specs[(i + r) % n]}"
				printf '[%s.%d]\nfilename=%s\n' "$label" "$r" "$dev"
				# paired: a round's devices run at the same time; a new
				# round waits for the last one to end.
				[[ $MODE != paired || $i == 0 ]] && echo stonewall
				[[ -n $args ]] && tr ' ' '\n' <<<"$args" | sed 's/^--//'
			done
		done
	} >/tmp/bench.fio
	cp /tmp/bench.fio "${out%.json}.fio"
	fio --output-format=json --output="$out" /tmp/bench.fio >/dev/null ||
		die "fio $w failed (job file ${out%.json}.fio)"
}

# activate N MAIN: creates bremap over MAIN and the spare, timing the table
# load (constructor: the metadata read) and the resume (preresume) apart,
# with kernel memory before and after.
activate() {
	local n=$1 dev=$2 tag=$3 t0 t1 t2 t3 t4 t5
	sync
	echo 2 >/proc/sys/vm/drop_caches
	cat /proc/meminfo >"$OUT/meminfo-$tag-before.txt"
	cat /proc/slabinfo >"$OUT/slabinfo-$tag-before.txt"
	dmsetup create bremap --notable --noudevsync || die "dmsetup create bremap"
	_lib_track dm bremap
	t0=$(ms)
	dmsetup load bremap --table "0 $main_sect remap $dev $spare" || die "loading the remap table"
	t1=$(ms)
	dmsetup resume --noudevsync bremap || die "resuming bremap"
	t2=$(ms)
	cat /proc/meminfo >"$OUT/meminfo-$tag-after.txt"
	cat /proc/slabinfo >"$OUT/slabinfo-$tag-after.txt"
	dmsetup mknodes bremap
	[[ -b /dev/mapper/bremap ]] || die "no /dev/mapper/bremap"
	assert_eq "$n" "$(remap_status bremap entries)" "entries after activation"
	# The same for dm-linear over main: what any table load and resume cost.
	dmsetup create bref --notable --noudevsync || die "dmsetup create bref"
	_lib_track dm bref
	t3=$(ms)
	dmsetup load bref --table "0 $main_sect linear $main 0" || die "loading bref"
	t4=$(ms)
	dmsetup resume --noudevsync bref || die "resuming bref"
	t5=$(ms)
	dm_remove bref
	kv "activate.$tag.linear_load_ms" "$(awk -v a="$t3" -v b="$t4" 'BEGIN { print b - a }')"
	kv "activate.$tag.linear_resume_ms" "$(awk -v a="$t4" -v b="$t5" 'BEGIN { print b - a }')"
	kv "activate.$tag.load_ms" "$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')"
	kv "activate.$tag.resume_ms" "$(awk -v a="$t1" -v b="$t2" 'BEGIN { print b - a }')"
	log "activated with $n remaps: load $(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }') ms, resume $(awk -v a="$t1" -v b="$t2" 'BEGIN { print b - a }') ms"
}

# --- per table size --------------------------------------------------------------

for n in $SIZES; do
	runs=$((n / RUN))
	((n % RUN == 0)) || die "table size $n is not a multiple of $RUN"
	period=$((runs ? tail_unit / runs : 0))
	((runs == 0 || period >= 2 * RUN)) || die "table size $n does not fit"
	log "== $n remaps: $runs runs, one every $period units"
	"$FILL" fill "$main" "$spare" $UNIT "$n" $RUN $((period ? period : RUN)) >"$OUT/fill-$n.txt" ||
		die "filling the spare with $n remaps failed"
	activate "$n" "$main" "$n"

	# Where the I/O goes: clean units, and (n > 0) remapped units only.
	if ((n)); then
		span=$((runs * period * UNIT))
		zones="--zonemode=strided --zonerange=1M --zonesize=1M --zoneskip=$((period * UNIT - MiB))"
		clean_args="$zones --offset=1M --size=$((span - MiB))"
		remapped_args="$zones --offset=0 --size=$span"
		linsp=$(dm_create blinsp "0 $((n * UNIT / 512)) linear $spare $pool_start")
	else
		clean_args="--size=$((tail_unit * UNIT))"
	fi

	for w in $WORKLOADS; do
		log "$n remaps: $w"
		fio_alternating "$OUT/fio/$n/clean/$w.json" "$w" "raw|$main|$clean_args" \
			"linear|$lin|$clean_args" "remap|/dev/mapper/bremap|$clean_args" \
			"linear2|$lin2|$clean_args"
		((n)) || continue
		fio_alternating "$OUT/fio/$n/remapped/$w.json" "$w" "linear-spare|$linsp|" \
			"remap|/dev/mapper/bremap|$remapped_args"
	done
	((n)) && dm_remove blinsp
	assert_eq "$n" "$(remap_status bremap entries)" "entries after the I/O runs"
	dm_remove bremap

	# --- remap events: the tail of main fails writes ----------------------------
	tail_sect=$((tail_unit * UNIT / 512))
	bad=$(dm_create bbad "0 $tail_sect linear $main 0
$tail_sect $((main_sect - tail_sect)) error")
	activate "$n" "$bad" "$n-bad"
	mb=$(basename "$meta")
	pb=$(basename "$pool")
	w0=$(stat_writes "$mb") p0=$(stat_writes "$pb")
	fio_run "$OUT/events/$n/one.json" /dev/mapper/bremap --rw=write --bs=4k --iodepth=1 \
		--offset=$((tail_unit * UNIT)) --size=$((EVENTS * UNIT))
	w1=$(stat_writes "$mb") p1=$(stat_writes "$pb")
	assert_eq "$((n + EVENTS))" "$(remap_status bremap entries)" "entries after $EVENTS remap events"
	kv "events.$n.count" "$EVENTS"
	kv "events.$n.meta_writes" $((w1 - w0))
	kv "events.$n.pool_writes" $((p1 - p0))
	log "$EVENTS remap events: $((w1 - w0)) metadata writes, $((p1 - p0)) pool writes"

	e0=$(remap_status bremap entries)
	w0=$(stat_writes "$mb")
	fio_run "$OUT/events/$n/storm.json" /dev/mapper/bremap --rw=randwrite --bs=4k --iodepth=32 \
		--offset=$(((tail_unit + EVENTS) * UNIT)) \
		--size=$(((main_units - tail_unit - EVENTS) * UNIT)) --time_based --runtime="$STORM"
	w1=$(stat_writes "$mb")
	e1=$(remap_status bremap entries)
	kv "storm.$n.remaps" $((e1 - e0))
	kv "storm.$n.meta_writes" $((w1 - w0))
	log "storm: $((e1 - e0)) remaps, $((w1 - w0)) metadata writes in ${STORM}s"
	dm_remove bremap
	dm_remove bbad
done
log "bench done"

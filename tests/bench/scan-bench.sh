#!/bin/bash
# The foreground cost of the background scan, run by scripts/bench-scan (not
# a test scenario: it reports figures and fails only when it cannot run).
#
# One boot. A dm-remap device over a null_blk main (no data: what is timed
# is dm-remap, the scan's reads and the CPU they take) and a loop spare.
# One long fio run does random 4 KiB reads on the device (libaio, O_DIRECT)
# while this script switches the scan off and on every BENCH_WINDOW seconds,
# in pairs of windows whose order alternates (off-on, on-off, ...) so that
# slow drifts of the shared host cancel out. The foreground rate of each
# window is the target's own read counter (one bio per fio read) over the
# window minus its first half second; the scan's rate is its cursor over the
# same span. Then, without foreground I/O, the scan runs at its default rate
# (the rate it keeps when idle) and unthrottled (4096 MiB/s): the VM is
# CPU-bound, so its rate under fio divided by its unthrottled rate is the
# share of the CPU it took from fio, a figure the noise of the shared host
# hardly moves. Everything lands in $RESULTS/results.txt for
# scripts/bench-scan.
#
# Environment (all optional): BENCH_PAIRS (20), BENCH_WINDOW (seconds, 3),
# BENCH_RATE (MiB/s; empty: the target's default), BENCH_IODEPTH (16),
# BENCH_MAIN_MB (8192).
set -euo pipefail
# shellcheck source=tests/vm/lib.sh
. "$DMREMAP_SRC/tests/vm/lib.sh"

PAIRS=${BENCH_PAIRS:-20}
WINDOW=${BENCH_WINDOW:-3}
RATE=${BENCH_RATE:-}
IODEPTH=${BENCH_IODEPTH:-16}
MAIN_MB=${BENCH_MAIN_MB:-8192}
out=$RESULTS/results.txt
: >"$out"

load_module
main="$(make_nullb bmain "$MAIN_MB")"
spare="$(make_loop 16)"
format_spare "$main" "$spare" 4096
dm_create sb "0 $(sectors "$main") remap $main $spare" >/dev/null
dev=/dev/mapper/sb

now() { date +%s%N; }
# sample: "<ns> <reads> <scan cursor>" from one status line.
sample() {
	local f
	read -r -a f <<<"$(dmsetup status sb)"
	echo "$(now) ${f[13]} ${f[22]}"
}
scan() {
	# shellcheck disable=SC2086 # an empty RATE means the default
	if [[ $1 == on ]]; then dmsetup message sb 0 scan start $RATE; else dmsetup message sb 0 scan stop; fi
}
# window STATE: one window in STATE; appends "window STATE iops scan_bytes_per_s".
window() {
	local a b
	scan "$1"
	sleep 0.5
	read -r -a a <<<"$(sample)"
	sleep "$(echo "$WINDOW - 0.5" | bc)"
	read -r -a b <<<"$(sample)"
	echo "window $1 $(((b[1] - a[1]) * 1000000000 / (b[0] - a[0]))) $(((b[2] - a[2]) * 4096 * 1000000000 / (b[0] - a[0])))" >>"$out"
}

# fio runs until it is killed after the last window.
secs=3600
fio --name=fg --filename="$dev" --direct=1 --ioengine=libaio --rw=randread --bs=4k \
	--iodepth="$IODEPTH" --runtime="$secs" --time_based --norandommap \
	--output-format=json >"$RESULTS/fio.json" 2>"$RESULTS/fio.err" &
fio_pid=$!
r0=$(remap_status sb reads)
until (($(remap_status sb reads) > r0 + 1000)); do sleep 0.1; done
sleep 2 # fio's ramp
for p in $(seq "$PAIRS"); do
	if ((p % 2)); then
		window off
		window on
	else
		window on
		window off
	fi
	log "pair $p: $(tail -2 "$out" | xargs)"
done
scan off
kill "$fio_pid" 2>/dev/null || true
wait "$fio_pid" 2>/dev/null || true

# The scan alone: its rate without foreground I/O, at its rate and unthrottled.
alone() {
	local a b
	sleep 1
	read -r -a a <<<"$(sample)"
	sleep 5
	read -r -a b <<<"$(sample)"
	echo "$1 $(remap_status sb scan_rate) $(((b[2] - a[2]) * 4096 * 1000000000 / (b[0] - a[0])))" >>"$out"
}
scan on
alone idle
dmsetup message sb 0 scan start 4096
alone unthrottled
scan off
dm_remove sb
cat "$out"

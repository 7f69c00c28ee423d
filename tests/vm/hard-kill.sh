#!/usr/bin/env bash
# Hard kills: kill -9 QEMU while dm-remap remaps, boot again over the same
# disk images, check the data and the metadata.
#   tests/vm/hard-kill.sh [--build-dir DIR] [--kills N] [--keep] [-v] KERNEL
# Boot r (r = 1..N) runs tests/vm/scenarios/hard-kill.sh with PHASE=run: it
# checks what boot r-1 left (remap-check, activation, every write
# acknowledged in boot r-1's journal read back byte for byte), adds bad
# units to main and writes through the target until this script kills QEMU
# with SIGKILL, at a random moment 1 to 8 s after the writes started. Boot
# N+1 (PHASE=check) checks the last kill. The images are attached with
# cache=writethrough: a write QEMU acknowledged is in the image file, so
# an acknowledged write that is missing is dm-remap's fault.
# --kills defaults to 2, or 30 with DMREMAP_FULL=1. SEED=N picks the bad
# units and workloads of an earlier run (the kill moments stay random). The
# images live in <build>/vm-hard-kill/KERNEL/ and are deleted after a pass
# unless --keep.
# Exit status: non-zero if a check failed or a boot failed otherwise.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
build="${DMREMAP_BUILD_DIR:-$root/build}"
keep=0
opts=()
if [[ ${DMREMAP_FULL:-0} == 1 ]]; then kills=30; else kills=2; fi
usage() {
	sed -n '2,17s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"
	exit "${1:-0}"
}
while (($#)); do
	case "$1" in
	--build-dir)
		[[ $# -ge 2 ]] || usage 2
		build="$2"
		shift 2
		;;
	--kills)
		[[ $# -ge 2 && $2 =~ ^[1-9][0-9]*$ ]] || usage 2
		kills="$2"
		shift 2
		;;
	--keep) keep=1 && shift ;;
	-v | --verbose) opts+=(-v) && shift ;;
	-h | --help) usage ;;
	-*) echo "hard-kill.sh: unknown option $1" >&2 && usage 2 ;;
	*) break ;;
	esac
done
[[ $# -eq 1 && $1 != *,* && $1 != all ]] || usage 2
k="$1"

mkdir -p "$build"
build="$(cd "$build" && pwd)"
dir="$build/vm-hard-kill/$k"
res="$build/vm-results/$k/hard-kill"
rm -rf "$dir"
mkdir -p "$dir"
truncate -s 16M "$dir/main.img"
truncate -s 8M "$dir/spare.img"
seed=${SEED:-$((RANDOM * 32768 + RANDOM))}
say() { echo "hard-kill.sh: $*" >&2; }

qemu_args=""
for img in main spare; do
	qemu_args+="-drive file=$dir/$img.img,format=raw,if=virtio,cache=writethrough "
done
qemu_args+="-pidfile $dir/qemu.pid"
# boot PHASE ROUND: one VM; its output goes to $dir/boot-ROUND.log.
boot() {
	local env=(--env "PHASE=$1" --env "ROUND=$2" --env "SEED0=$seed")
	(($2 > 1)) && env+=(--env "PREV_JOURNAL=$dir/journal.$(($2 - 1))")
	local rc=0
	DMREMAP_VM_QEMU_ARGS="$qemu_args" "$root/scripts/vm/run" --build-dir "$build" --keep \
		--kernel "$k" --timeout 300 "${opts[@]}" "${env[@]}" hard-kill >"$dir/boot-$2.log" 2>&1 ||
		rc=$?
	cp "$res/scenario.log" "$dir/scenario-$2.log" 2>/dev/null || true
	return $rc
}
# fail_boot R WHY: the end of boot R's logs, then exit 1.
fail_boot() {
	tail -30 "$dir/boot-$1.log" >&2
	[[ -f $dir/scenario-$1.log ]] && tail -30 "$dir/scenario-$1.log" >&2
	say "FAIL: $2 (seed $seed; logs in $dir)"
	exit 1
}

say "$kills kills on $k, seed $seed, images in $dir"
killed=0
for ((r = 1; r <= kills; r++)); do
	rm -f "$dir/qemu.pid"
	rm -rf "$res" # the last boot's "writing" must not count
	boot run "$r" &
	vm=$!
	# Wait for the writes to start (the scenario creates $res/writing).
	for ((t = 0; t < 1200; t++)); do
		[[ -f $res/writing ]] && break
		kill -0 "$vm" 2>/dev/null || break
		sleep 0.25
	done
	if [[ ! -f $res/writing ]]; then
		wait "$vm" || true
		fail_boot "$r" "boot $r never started writing"
	fi
	delay=$((1000 + RANDOM % 7000))
	sleep "$((delay / 1000)).$(printf %03d $((delay % 1000)))"
	pid="$(cat "$dir/qemu.pid" 2>/dev/null || true)"
	[[ $pid =~ ^[0-9]+$ ]] || fail_boot "$r" "no QEMU pid in $dir/qemu.pid"
	kill -9 "$pid"
	wait "$vm" || true # scripts/vm/run reports the killed VM as failed
	killed=$((killed + 1))
	[[ -f $res/journal ]] || fail_boot "$r" "boot $r left no journal"
	[[ ! -f $res/exit-code ]] || fail_boot "$r" "boot $r ended before the kill"
	cp "$res/journal" "$dir/journal.$r"
	say "kill $r: after ${delay} ms of writes, $(grep -c '^[FS] ' "$dir/journal.$r") acknowledgements in the journal"
done

boot check $((kills + 1)) || fail_boot $((kills + 1)) "the check after kill $kills failed"
# The checks of kills 1..N-1 ran in boots 2..N: each must have passed its
# step 1 before it started writing.
for ((r = 2; r <= kills + 1; r++)); do
	grep -q "round $((r - 1)): verify: .* 0 bad" "$dir/scenario-$r.log" ||
		fail_boot "$r" "boot $r did not verify kill $((r - 1))"
done
grep -h "round [0-9]*: verify: \|stale copies" "$dir"/scenario-*.log >&2 || true
((keep)) || rm -rf "$dir" "$res"
say "PASS $k: $killed kills survived, 0 failures"

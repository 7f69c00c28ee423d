#!/usr/bin/env bash
# Reboot persistence: two VM boots over the same disk images.
#   tests/vm/reboot.sh [--build-dir DIR] [--keep] [-v] KERNEL1 [KERNEL2]
# Boot 1 (KERNEL1) runs tests/vm/scenarios/reboot-persistence.sh with
# PHASE=1: it formats the spare and writes data through a main with bad
# sectors. Boot 2 (KERNEL2, default KERNEL1) runs it with PHASE=2 over the
# same images: the remaps and the data must have survived. The images live
# in <build>/vm-reboot/KERNEL1-KERNEL2/ and are deleted after a pass unless
# --keep is given. Exit status: non-zero if either boot failed.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
build="${DMREMAP_BUILD_DIR:-$root/build}"
keep=0
opts=()
usage() {
	sed -n '2,9s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"
	exit "${1:-0}"
}
while (($#)); do
	case "$1" in
	--build-dir)
		[[ $# -ge 2 ]] || usage 2
		build="$2"
		shift 2
		;;
	--keep) keep=1 opts+=(--keep) && shift ;;
	-v | --verbose) opts+=(-v) && shift ;;
	-h | --help) usage ;;
	-*) echo "reboot.sh: unknown option $1" >&2 && usage 2 ;;
	*) break ;;
	esac
done
[[ $# -ge 1 && $# -le 2 ]] || usage 2
k1="$1" k2="${2:-$1}"
[[ $k1 != *,* && $k1 != all && $k2 != *,* && $k2 != all ]] ||
	{ echo "reboot.sh: give one kernel per boot" >&2 && exit 2; }

mkdir -p "$build"
build="$(cd "$build" && pwd)"
dir="$build/vm-reboot/$k1-$k2"
rm -rf "$dir"
mkdir -p "$dir"
truncate -s 64M "$dir/main.img"
truncate -s 16M "$dir/spare.img"

run=("$root/scripts/vm/run" --build-dir "$build" --disk "$dir/main.img" --disk "$dir/spare.img" "${opts[@]}")
echo "reboot.sh: boot 1 on $k1 (PHASE=1), images in $dir" >&2
"${run[@]}" --kernel "$k1" --env PHASE=1 reboot-persistence
echo "reboot.sh: boot 2 on $k2 (PHASE=2) over the same images" >&2
"${run[@]}" --kernel "$k2" --env PHASE=2 reboot-persistence
((keep)) || rm -rf "$dir"
echo "reboot.sh: PASS $k1 -> $k2"

#!/usr/bin/env bash
# Builds dm-remap.ko with DKMS (kernel/dkms.conf) for each Debian kernel, in a
# private DKMS tree so nothing lands in the host's /var/lib/dkms, and checks
# that each module's vermagic names the kernel it was built for.
#
#   tests/install/dkms-build.sh SOURCE_DIR VERSION KERNEL...   (KERNEL: 6.1, 6.12, 7.3, ...)
#
# Needs Debian's dkms (scripts/install-deps); the kernel headers come from
# scripts/vm/kernels, fetched on demand. For the 7.x kernels, whose headers
# need a newer userland than bookworm's, dkms runs in the kernel's build root
# (scripts/vm/common.sh: buildroot_run; it has its suite's dkms), on the same
# private tree. With DMREMAP_DKMS_OUT set, each
# module is kept as $DMREMAP_DKMS_OUT/<KERNEL>/dm-remap.ko (the VM scenario
# dkms-module loads it).
set -euo pipefail

[[ $# -ge 3 ]] || {
	echo "usage: $0 SOURCE_DIR VERSION KERNEL..." >&2
	exit 2
}
src=$1 version=$2
shift 2
command -v dkms >/dev/null || { echo "dkms is not installed (scripts/install-deps)" >&2; exit 1; }
# shellcheck source=scripts/vm/common.sh
PROG=dkms-build . "$src/scripts/vm/common.sh"

conf_version=$(sed -n 's/^PACKAGE_VERSION="\(.*\)"$/\1/p' "$src/kernel/dkms.conf")
[[ $conf_version == "$version" ]] || {
	echo "FAIL: kernel/dkms.conf PACKAGE_VERSION '$conf_version' is not the project version $version" >&2
	exit 1
}

work=$(mktemp -d /tmp/dmremap-dkms.XXXXXX)
trap 'rm -rf "$work"' EXIT
# dkms add <name>/<version> expects the source at <sourcetree>/<name>-<version>.
mkdir -p "$work/src" "$work/tree" "$work/inst"
cp -a "$src/kernel/." "$work/src/dm-remap-$version/"
rm -f "$work/src/dm-remap-$version/CMakeLists.txt"
trees=(--dkmstree "$work/tree" --sourcetree "$work/src" --installtree "$work/inst")

dkms add -m dm-remap -v "$version" "${trees[@]}" >"$work/add.log" 2>&1 || {
	cat "$work/add.log" >&2; exit 1
}
fail=0
for series in "$@"; do
	kernels=$src/scripts/vm/kernels
	kdir=$("$kernels" path "$series" kdir 2>/dev/null) || {
		"$kernels" fetch "$series" >&2
		kdir=$("$kernels" path "$series" kdir)
	}
	kver=$("$kernels" path "$series" kver)
	run=()
	if needs_buildroot "$series"; then
		run=(buildroot_run "$("$kernels" path "$series" buildroot)" --bind "$work" --)
	fi
	if ! "${run[@]}" dkms build -m dm-remap -v "$version" -k "$kver" --kernelsourcedir "$kdir" \
		"${trees[@]}" >"$work/build-$series.log" 2>&1; then
		cat "$work/build-$series.log" >&2
		find "$work/tree" -name make.log -exec tail -n 30 {} + >&2 || true
		echo "FAIL: dkms build for $kver" >&2
		fail=1
		continue
	fi
	ko=$(find "$work/tree/dm-remap/$version/$kver" -name 'dm-remap.ko*' | head -n 1)
	[[ -n $ko ]] || { echo "FAIL: no dm-remap.ko from dkms for $kver" >&2; fail=1; continue; }
	vermagic=$(modinfo -F vermagic "$ko")
	if [[ ${vermagic%% *} == "$kver" ]]; then
		echo "$kver: $(basename "$ko") vermagic '$vermagic'"
		if [[ -n ${DMREMAP_DKMS_OUT:-} ]]; then
			mkdir -p "$DMREMAP_DKMS_OUT/$series"
			cp "$ko" "$DMREMAP_DKMS_OUT/$series/dm-remap.ko.tmp"
			mv "$DMREMAP_DKMS_OUT/$series/dm-remap.ko.tmp" "$DMREMAP_DKMS_OUT/$series/dm-remap.ko"
		fi
	else
		echo "FAIL: $ko vermagic '$vermagic' is not for $kver" >&2
		fail=1
	fi
done
exit "$fail"

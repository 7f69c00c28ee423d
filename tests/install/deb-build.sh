#!/usr/bin/env bash
# Builds the Debian packages from a copy of the source tree, as a
# distribution build would, and checks them:
#
#   tests/install/deb-build.sh SOURCE_DIR VERSION
#
# The tree (the files git knows, committed or not) is copied to a temporary
# directory, where `dpkg-buildpackage -us -uc -b` must succeed; then lintian
# must report no errors on the result, and both packages must hold their
# key files. The copy is removed afterwards; the source tree is not touched.
# Needs dpkg-dev, debhelper, dh-dkms and lintian (scripts/install-deps).
set -euo pipefail

[[ $# -eq 2 ]] || {
	echo "usage: $0 SOURCE_DIR VERSION" >&2
	exit 2
}
src=$1 version=$2
# About 10 minutes (a whole optimised build of the tools, on 2 busy cores):
# the full suite only (scripts/test --full).
if [[ ${DMREMAP_FULL:-0} != 1 ]]; then
	echo "deb-build.sh: skipped; the package build runs under DMREMAP_FULL=1 (scripts/test --full)"
	exit 77
fi
work=$(mktemp -d /tmp/dmremap-deb.XXXXXX)
trap 'rm -rf "$work"' EXIT
tree=$work/dm-remap-$version
mkdir "$tree"
fail=0
bad() {
	echo "FAIL: $*" >&2
	fail=1
}

# The tree as git sees it: no build directories, no stale packaging output.
git -C "$src" ls-files -z --cached --others --exclude-standard |
	tar -C "$src" --null -T - --ignore-failed-read -cf - 2>/dev/null | tar -C "$tree" -xf -
[[ -f $tree/debian/control ]] || { echo "FAIL: no debian/control in the copy of $src" >&2 && exit 1; }

start=$(date +%s)
if ! (cd "$tree" && DEB_BUILD_OPTIONS="parallel=$(nproc)" dpkg-buildpackage -us -uc -b) \
	>"$work/build.log" 2>&1; then
	tail -n 60 "$work/build.log" >&2
	echo "FAIL: dpkg-buildpackage -us -uc -b failed (whole log above, last 60 lines)" >&2
	exit 1
fi
echo "dpkg-buildpackage: $(($(date +%s) - start)) s"

changes=$(echo "$work"/dm-remap_"$version"_*.changes)
[[ -f $changes ]] || { echo "FAIL: no .changes file in $work" >&2 && exit 1; }
tools_deb=$(echo "$work"/dm-remap-tools_"$version"_*.deb)
dkms_deb=$work/dm-remap-dkms_${version}_all.deb

# lintian: no errors (warnings and below are listed, not fatal).
lintian --fail-on error --no-tag-display-limit "$changes" >"$work/lintian.log" 2>&1 || {
	cat "$work/lintian.log" >&2
	bad "lintian reports errors"
}
grep -E '^(E|W): ' "$work/lintian.log" || true
echo "lintian: $(grep -c '^E: ' "$work/lintian.log" || true) errors, $(grep -c '^W: ' "$work/lintian.log" || true) warnings"

# contains DEB PATH [MODE]: DEB holds PATH (./ prefixed), with MODE when given.
contains() {
	local line
	line=$(dpkg-deb -c "$1" | awk -v p="./$2" '$6 == p || $6 == p "/"' | head -1)
	[[ -n $line ]] || { bad "${1##*/} lacks /$2" && return 0; }
	[[ -z ${3:-} || $line == "$3"* ]] || bad "${1##*/}: /$2 is ${line%% *}, want $3"
}
for t in remapctl remap-check remap-dump remap-repair; do
	contains "$tools_deb" "usr/sbin/$t" -rwxr-xr-x
	contains "$tools_deb" "usr/share/man/man8/$t.8.gz"
done
contains "$tools_deb" "usr/share/man/man5/remaptab.5.gz"
contains "$tools_deb" "usr/share/man/man7/dm-remap.7.gz"
contains "$tools_deb" "usr/lib/$(dpkg-architecture -qDEB_HOST_MULTIARCH)/libremapmeta.so.$version"
contains "$tools_deb" "lib/systemd/system-generators/dm-remap-generator" -rwxr-xr-x
contains "$tools_deb" "usr/share/bash-completion/completions/remapctl"
contains "$tools_deb" "usr/share/zsh/vendor-completions/_remapctl"
contains "$tools_deb" "usr/share/fish/vendor_completions.d/remapctl.fish"
contains "$tools_deb" "usr/share/doc/dm-remap-tools/copyright"
for f in dkms.conf Kbuild dm-remap-target.c format/rm_format.c lookup/rm_lookup.c; do
	contains "$dkms_deb" "usr/src/dm-remap-$version/$f"
done
contains "$dkms_deb" "usr/src/dm-remap-$version/compat-probe.sh" -rwxr-xr-x
dpkg-deb -f "$dkms_deb" Depends | grep -q dkms || bad "dm-remap-dkms does not depend on dkms"
dpkg-deb -I "$dkms_deb" postinst >/dev/null 2>&1 || bad "dm-remap-dkms has no postinst (dh_dkms)"
dpkg-deb -f "$tools_deb" Depends | grep -q libdevmapper || bad "dm-remap-tools: no shlibs Depends"

((fail == 0)) || exit 1
echo "packages OK: ${tools_deb##*/} ${dkms_deb##*/}"
